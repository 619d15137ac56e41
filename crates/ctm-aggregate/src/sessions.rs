//! Rollup rows grouped by session.

use std::collections::BTreeMap;

use crate::names::Names;
use crate::slot::{Id, SlotRow, NONE};
use crate::sums::Sums;

/// A session's billed responses of one model, and how many of them had no price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelResponses {
    pub responses: u64,
    pub unpriced: u64,
}

impl ModelResponses {
    pub fn add(&mut self, s: &Sums) {
        self.responses += s.responses;
        self.unpriced += s.unpriced_responses;
    }
}

/// One session: `claude_sessions`' figures and `session_models`' rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionAggregate {
    pub session: Id,
    pub first_ts: i64,
    pub last_ts: i64,
    /// The project of its earliest response that names one (ties: the first path in
    /// text order); [`NONE`] when none does.
    pub project: Id,
    /// The model with the most tokens (ties: the first name in text order); [`NONE`]
    /// when no response names one.
    pub main_model: Id,
    pub sums: Sums,
    /// Its billed responses per model ([`NONE`] for responses without one).
    pub models: BTreeMap<Id, ModelResponses>,
}

/// What a session is built from before its main model is chosen.
struct Building {
    agg: SessionAggregate,
    /// When its project's earliest response was.
    project_ts: i64,
    /// Tokens per named model.
    tokens: BTreeMap<Id, u64>,
}

/// Groups rows by session (rows without one are no session). `names` must hold the
/// texts of the rows' projects and models: ties are broken by text.
pub fn aggregate_sessions(rows: &[SlotRow], names: &Names) -> BTreeMap<Id, SessionAggregate> {
    let mut out: BTreeMap<Id, Building> = BTreeMap::new();
    for row in rows {
        let k = row.key;
        if k.session == NONE {
            continue;
        }
        let b = out.entry(k.session).or_insert_with(|| Building {
            agg: SessionAggregate {
                session: k.session,
                first_ts: row.first_ts,
                last_ts: row.last_ts,
                project: NONE,
                main_model: NONE,
                sums: Sums::default(),
                models: BTreeMap::new(),
            },
            project_ts: i64::MAX,
            tokens: BTreeMap::new(),
        });
        let a = &mut b.agg;
        a.first_ts = a.first_ts.min(row.first_ts);
        a.last_ts = a.last_ts.max(row.last_ts);
        a.sums.add(&row.sums);
        a.models.entry(k.model).or_default().add(&row.sums);
        if k.project != NONE {
            let earlier = row.first_ts < b.project_ts
                || (row.first_ts == b.project_ts
                    && names.project(k.project) < names.project(a.project));
            if earlier {
                a.project = k.project;
                b.project_ts = row.first_ts;
            }
        }
        if k.model != NONE {
            *b.tokens.entry(k.model).or_default() += row.sums.total_tokens();
        }
    }
    out.into_iter()
        .map(|(id, b)| {
            let mut agg = b.agg;
            agg.main_model = b
                .tokens
                .into_iter()
                .max_by(|a, b| {
                    a.1.cmp(&b.1)
                        .then_with(|| names.model(b.0).cmp(&names.model(a.0)))
                })
                .map_or(NONE, |(m, _)| m);
            (id, agg)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slot::{rollup, Fact};

    fn names() -> Names {
        let mut n = Names::default();
        n.models.insert(1, "haiku".into());
        n.models.insert(2, "opus".into());
        n.models.insert(3, "abc".into());
        n.projects.insert(1, "/b".into());
        n.projects.insert(2, "/a".into());
        n
    }

    fn fact(ts: i64, project: Id, model: Id, output: u64) -> Fact {
        Fact {
            id: ts,
            ts,
            session: 7,
            project,
            model,
            sums: Sums {
                responses: 1,
                output_tokens: output,
                ..Sums::default()
            },
        }
    }

    #[test]
    fn main_model_has_the_most_tokens_and_project_the_earliest_response() {
        let facts = [
            fact(5_000, 1, 1, 1),
            fact(1_000, NONE, 1, 1),
            fact(2_000, 1, 2, 5_000),
            fact(2_000, 2, NONE, 1),
        ];
        let rows: Vec<SlotRow> = rollup(&facts).into_values().collect();
        let s = &aggregate_sessions(&rows, &names())[&7];
        assert_eq!(s.main_model, 2);
        assert_eq!(s.sums.responses, 4);
        assert_eq!((s.first_ts, s.last_ts), (1_000, 5_000));
        // Both named projects first appear at 2,000 ms: "/a" comes first.
        assert_eq!(s.project, 2);
        assert_eq!(s.models[&NONE].responses, 1);
        // A tie in tokens goes to the first name.
        let tie = [fact(0, 1, 2, 10), fact(1, 1, 3, 10)];
        let rows: Vec<SlotRow> = rollup(&tie).into_values().collect();
        assert_eq!(aggregate_sessions(&rows, &names())[&7].main_model, 3);
    }
}
