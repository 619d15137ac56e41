//! Rollup rows grouped by project.

use std::collections::{BTreeMap, BTreeSet};

use crate::slot::{Id, SlotRow, NONE};
use crate::sums::Sums;

/// One project's responses.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectAggregate {
    pub sums: Sums,
    /// Its sessions: a set, so a session counts once however many rows it has.
    pub sessions: BTreeSet<Id>,
    /// Its models ([`NONE`] for responses without one), with how many had no price.
    pub models: BTreeMap<Id, u64>,
    pub first_ts: i64,
    pub last_ts: i64,
}

/// Groups rows by project ([`NONE`] for responses without one).
pub fn aggregate_projects(rows: &[SlotRow]) -> BTreeMap<Id, ProjectAggregate> {
    let mut out: BTreeMap<Id, ProjectAggregate> = BTreeMap::new();
    for row in rows {
        let p = out
            .entry(row.key.project)
            .or_insert_with(|| ProjectAggregate {
                sums: Sums::default(),
                sessions: BTreeSet::new(),
                models: BTreeMap::new(),
                first_ts: row.first_ts,
                last_ts: row.last_ts,
            });
        p.sums.add(&row.sums);
        if row.key.session != NONE {
            p.sessions.insert(row.key.session);
        }
        *p.models.entry(row.key.model).or_default() += row.sums.unpriced_responses;
        p.first_ts = p.first_ts.min(row.first_ts);
        p.last_ts = p.last_ts.max(row.last_ts);
    }
    out
}
