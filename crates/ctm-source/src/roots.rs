//! Which folders hold Claude Code data ("data roots").

use std::path::{Path, PathBuf};

/// Where the data roots came from, so a user told "no data" knows what was searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootsFrom {
    /// `--claude-dir` flags.
    Flags,
    /// The `CLAUDE_CONFIG_DIR` environment variable.
    Env,
    /// The default locations under the home directory.
    Defaults,
}

/// The candidate data roots, in order, with no duplicates.
#[derive(Debug, Clone)]
pub struct RootCandidates {
    pub from: RootsFrom,
    pub paths: Vec<PathBuf>,
}

/// Resolves the candidate roots: explicit flags win, then `CLAUDE_CONFIG_DIR` (a
/// comma-separated list), then `$XDG_CONFIG_HOME/claude` (or `~/.config/claude`) and
/// `~/.claude`. A path naming a `projects` folder means its parent.
///
/// Pure: the caller passes the environment in, so tests never look at the real home.
pub fn candidates(
    flags: &[PathBuf],
    claude_config_dir: Option<&str>,
    home: Option<&Path>,
    xdg_config_home: Option<&Path>,
) -> RootCandidates {
    let (from, raw): (RootsFrom, Vec<PathBuf>) = if !flags.is_empty() {
        (RootsFrom::Flags, flags.to_vec())
    } else if let Some(list) = claude_config_dir.filter(|v| !v.trim().is_empty()) {
        let paths = list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| expand_tilde(p, home))
            .collect();
        (RootsFrom::Env, paths)
    } else {
        let mut paths = Vec::new();
        match (xdg_config_home, home) {
            (Some(xdg), _) if xdg.is_absolute() => paths.push(xdg.join("claude")),
            (_, Some(home)) => paths.push(home.join(".config").join("claude")),
            _ => {}
        }
        if let Some(home) = home {
            paths.push(home.join(".claude"));
        }
        (RootsFrom::Defaults, paths)
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for p in raw {
        let p = if p.file_name().is_some_and(|n| n == "projects") {
            p.parent().map(Path::to_path_buf).unwrap_or(p)
        } else {
            p
        };
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    RootCandidates { from, paths }
}

fn expand_tilde(p: &str, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(p),
    }
}

/// The candidates that really are data roots (they hold a `projects/` folder), each
/// in its canonical form, once.
///
/// Cursors are keyed by the transcript's path, which starts with its root: a root
/// spelled two ways (`./root/../root` and `/abs/root`, or through a link) would give
/// every transcript a second cursor and read it all again. Canonical paths are
/// absolute, with `.`, `..` and links resolved, so one folder has one spelling.
pub fn existing(candidates: &RootCandidates) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for p in &candidates.paths {
        if !p.join("projects").is_dir() {
            continue;
        }
        let canonical = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        if !roots.contains(&canonical) {
            roots.push(canonical);
        }
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_env_and_defaults() {
        let c = candidates(
            &[PathBuf::from("/a"), PathBuf::from("/b/projects")],
            Some("/env"),
            Some(Path::new("/home/u")),
            None,
        );
        assert_eq!(c.from, RootsFrom::Flags);
        assert_eq!(c.paths, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    }

    #[test]
    fn env_is_a_comma_separated_list() {
        let c = candidates(
            &[],
            Some("/x, ~/y ,/x,/z/projects"),
            Some(Path::new("/home/u")),
            None,
        );
        assert_eq!(c.from, RootsFrom::Env);
        assert_eq!(
            c.paths,
            vec![
                PathBuf::from("/x"),
                PathBuf::from("/home/u/y"),
                PathBuf::from("/z")
            ]
        );
    }

    #[test]
    fn defaults_are_config_then_dot_claude() {
        let c = candidates(&[], None, Some(Path::new("/home/u")), None);
        assert_eq!(c.from, RootsFrom::Defaults);
        assert_eq!(
            c.paths,
            vec![
                PathBuf::from("/home/u/.config/claude"),
                PathBuf::from("/home/u/.claude")
            ]
        );
        let c = candidates(
            &[],
            Some("  "),
            Some(Path::new("/home/u")),
            Some(Path::new("/cfg")),
        );
        assert_eq!(c.paths[0], PathBuf::from("/cfg/claude"));
    }

    /// The red team's case: `./root/../root` and the absolute path are one root, and
    /// a root reached through a link is its target.
    #[test]
    fn one_root_spelled_two_ways_is_one_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("projects")).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&root, &link).unwrap();
        let canonical = std::fs::canonicalize(&root).unwrap();
        let c = candidates(
            &[root.join("../root"), root.clone(), link],
            None,
            None,
            None,
        );
        assert_eq!(c.paths.len(), 3, "candidates are kept as given");
        assert_eq!(existing(&c), vec![canonical]);
    }
}
