//! `--project` and `--model`: which responses a report keeps.

/// Case-insensitive substrings of a response's project path (its cwd) and model. A
/// response without the field never matches a set filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    project: Option<String>,
    model: Option<String>,
}

impl Filter {
    /// Empty strings filter nothing.
    pub fn new(project: Option<&str>, model: Option<&str>) -> Filter {
        let needle = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_lowercase);
        Filter {
            project: needle(project),
            model: needle(model),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.project.is_none() && self.model.is_none()
    }

    /// " matching --project X --model Y", or nothing without filters.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.project {
            parts.push(format!("--project {p}"));
        }
        if let Some(m) = &self.model {
            parts.push(format!("--model {m}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" matching {}", parts.join(" "))
        }
    }

    /// Whether the project part of the filter is set.
    pub fn filters_projects(&self) -> bool {
        self.project.is_some()
    }

    /// Whether the model part of the filter is set.
    pub fn filters_models(&self) -> bool {
        self.model.is_some()
    }

    pub fn matches_project(&self, path: Option<&str>) -> bool {
        contains(path, self.project.as_deref())
    }

    pub fn matches_model(&self, model: Option<&str>) -> bool {
        contains(model, self.model.as_deref())
    }

    pub fn matches(&self, project: Option<&str>, model: Option<&str>) -> bool {
        self.matches_project(project) && self.matches_model(model)
    }
}

fn contains(value: Option<&str>, needle: Option<&str>) -> bool {
    match needle {
        None => true,
        Some(n) => value.is_some_and(|v| v.to_lowercase().contains(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_case_insensitive_substrings() {
        let f = Filter::new(Some("Alpha"), Some("OPUS"));
        assert!(f.matches(Some("/work/alpha"), Some("claude-opus-4-6")));
        assert!(!f.matches(Some("/work/beta"), Some("claude-opus-4-6")));
        assert!(!f.matches(None, Some("claude-opus-4-6")));
        assert!(!f.matches(Some("/work/alpha"), None));
        assert!(Filter::new(Some(""), None).is_empty());
        assert!(Filter::default().matches(None, None));
        assert!(Filter::new(Some("été"), None).matches_project(Some("/w/ÉTÉ-app")));
    }
}
