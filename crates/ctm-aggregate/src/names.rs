//! The texts behind dimension ids, where an order or a label needs them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::slot::{Id, NONE};
use crate::sums::Sums;

/// The label of a missing model or project in reports.
pub const UNKNOWN: &str = "unknown";

/// Session ids, project paths and model names by id (only those a caller loaded).
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub sessions: HashMap<Id, Arc<str>>,
    pub projects: HashMap<Id, Arc<str>>,
    pub models: HashMap<Id, Arc<str>>,
}

impl Names {
    pub fn session(&self, id: Id) -> Option<&str> {
        text(&self.sessions, id)
    }

    pub fn project(&self, id: Id) -> Option<&str> {
        text(&self.projects, id)
    }

    pub fn model(&self, id: Id) -> Option<&str> {
        text(&self.models, id)
    }

    /// The name a model is reported under (`unknown` for none).
    pub fn model_label(&self, id: Id) -> &str {
        self.model(id).unwrap_or(UNKNOWN)
    }

    /// The label `ctm project` shows for a project (`unknown` for none).
    pub fn project_label(&self, id: Id) -> &str {
        self.project(id).unwrap_or(UNKNOWN)
    }

    /// Sums per model id as sums per model label (two ids with the same label, a model
    /// named `unknown` and none, are one).
    pub fn by_model_label(&self, models: &BTreeMap<Id, Sums>) -> BTreeMap<String, Sums> {
        let mut out: BTreeMap<String, Sums> = BTreeMap::new();
        for (id, s) in models {
            let label = self.model_label(*id);
            match out.get_mut(label) {
                Some(o) => o.add(s),
                None => {
                    out.insert(label.to_owned(), *s);
                }
            }
        }
        out
    }

    /// Model ids as their sorted labels.
    pub fn model_labels<'a>(&self, ids: impl IntoIterator<Item = &'a Id>) -> BTreeSet<String> {
        ids.into_iter()
            .map(|id| self.model_label(*id).to_owned())
            .collect()
    }
}

fn text(map: &HashMap<Id, Arc<str>>, id: Id) -> Option<&str> {
    if id == NONE {
        return None;
    }
    map.get(&id).map(|t| &**t)
}
