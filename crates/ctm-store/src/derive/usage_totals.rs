//! `usage_totals`: all-time usage per project and model, the billed facts' sums plus
//! what prunes of facts took with them (`pruned_usage`). `/metrics` reads its few rows
//! for counters that never fall, however many responses the store holds.
//!
//! A write adds what it changed (each billed response added, taken back or changed, as
//! the fact writer reports it to [`super::Touched`]); a rebuild groups the rollup.
//! `pruned_usage` is not derived (its facts are gone): a prune adds to it, in its
//! transaction, the rollup rows it is about to delete ([`keep_pruned`]), and nothing
//! else writes it.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use ctm_aggregate::{slot_of, sums_by_project_and_model, Fact, Id, SlotRow, Sums};
use rusqlite::{params, Connection, Transaction};

use super::quarter_usage;
use crate::StoreError;

/// (project, model) ids.
pub type Key = (Id, Id);

/// The columns after the key, in [`Sums`] order ([`read_sums`], [`upsert`]).
const SUMS: [&str; 10] = [
    "responses",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "web_search_requests",
    "cost_nanos",
    "savings_nanos",
    "unpriced_responses",
];

fn read_sums(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Sums> {
    let count = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(at + i)?.max(0) as u64) };
    Ok(Sums {
        responses: count(0)?,
        input_tokens: count(1)?,
        output_tokens: count(2)?,
        cache_write_5m_tokens: count(3)?,
        cache_write_1h_tokens: count(4)?,
        cache_read_tokens: count(5)?,
        web_search_requests: count(6)?,
        cost_nanos: r.get(at + 7)?,
        savings_nanos: r.get(at + 8)?,
        unpriced_responses: count(9)?,
    })
}

/// `added - taken`, field by field, as SQLite integers.
fn net(added: &Sums, taken: &Sums) -> [i64; 10] {
    let d = |a: u64, t: u64| a as i64 - t as i64;
    [
        d(added.responses, taken.responses),
        d(added.input_tokens, taken.input_tokens),
        d(added.output_tokens, taken.output_tokens),
        d(added.cache_write_5m_tokens, taken.cache_write_5m_tokens),
        d(added.cache_write_1h_tokens, taken.cache_write_1h_tokens),
        d(added.cache_read_tokens, taken.cache_read_tokens),
        d(added.web_search_requests, taken.web_search_requests),
        added.cost_nanos - taken.cost_nanos,
        added.savings_nanos - taken.savings_nanos,
        d(added.unpriced_responses, taken.unpriced_responses),
    ]
}

/// Adds `delta` to `table`'s row of `key` (inserting it), then deletes the row if no
/// response is left in it.
fn upsert(tx: &Transaction, table: &str, key: Key, delta: [i64; 10]) -> Result<(), StoreError> {
    let columns = SUMS.join(", ");
    let added = SUMS.map(|c| format!("{c} = {c} + excluded.{c}")).join(", ");
    let mut values = vec![&key.0 as &dyn rusqlite::ToSql, &key.1];
    values.extend(delta.iter().map(|v| v as &dyn rusqlite::ToSql));
    tx.prepare_cached(&format!(
        "INSERT INTO {table} (project, model, {columns}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
         ?9, ?10, ?11, ?12) ON CONFLICT(project, model) DO UPDATE SET {added}"
    ))?
    .execute(values.as_slice())?;
    tx.prepare_cached(&format!(
        "DELETE FROM {table} WHERE project = ?1 AND model = ?2 AND responses = 0"
    ))?
    .execute(params![key.0, key.1])?;
    Ok(())
}

/// What one write changed, per project and model: kept apart as what was added and what
/// was taken back, so each stays a sum of whole responses.
#[derive(Debug, Default)]
pub struct Changes {
    added: HashMap<Key, Sums>,
    taken: HashMap<Key, Sums>,
}

impl Changes {
    pub fn add(&mut self, f: &Fact) {
        self.added
            .entry((f.project, f.model))
            .or_default()
            .add(&f.sums);
    }

    pub fn remove(&mut self, f: &Fact) {
        self.taken
            .entry((f.project, f.model))
            .or_default()
            .add(&f.sums);
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.taken.is_empty()
    }

    /// Adds the changes to the stored rows.
    pub fn apply(self, tx: &Transaction) -> Result<(), StoreError> {
        let mut keys: Vec<Key> = self
            .added
            .keys()
            .chain(self.taken.keys())
            .copied()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let none = Sums::default();
        for key in keys {
            let added = self.added.get(&key).unwrap_or(&none);
            let taken = self.taken.get(&key).unwrap_or(&none);
            if added != taken {
                upsert(tx, "usage_totals", key, net(added, taken))?;
            }
        }
        Ok(())
    }
}

/// The rows these rollup rows (all of the facts) and the pruned usage amount to.
pub fn rows_of(rows: &[SlotRow], pruned: &BTreeMap<Key, Sums>) -> BTreeMap<Key, Sums> {
    let mut out = sums_by_project_and_model(rows);
    for (key, sums) in pruned {
        out.entry(*key).or_default().add(sums);
    }
    out
}

/// Writes the whole table again from the rollup's rows (streamed: what is held is a
/// row per project and model) and the pruned usage.
pub fn rebuild(tx: &Transaction) -> Result<(), StoreError> {
    let mut totals = pruned(tx)?;
    quarter_usage::visit_from(tx, i64::MIN, |row| {
        add_row(&mut totals, &row);
        Ok(ControlFlow::Continue(()))
    })?;
    tx.execute("DELETE FROM usage_totals", [])?;
    for (key, sums) in totals {
        upsert(tx, "usage_totals", key, net(&sums, &Sums::default()))?;
    }
    Ok(())
}

/// Adds the billed responses before `horizon_ms` (a quarter's start, so whole rollup rows)
/// to `pruned_usage`: called by the prune that deletes them, in its transaction, with the
/// rollup exact.
pub fn keep_pruned(tx: &Transaction, horizon_ms: i64) -> Result<(), StoreError> {
    let end = slot_of(horizon_ms);
    let mut gone = BTreeMap::new();
    quarter_usage::visit_from(tx, i64::MIN, |row| {
        if row.key.slot >= end {
            return Ok(ControlFlow::Break(()));
        }
        add_row(&mut gone, &row);
        Ok(ControlFlow::Continue(()))
    })?;
    for (key, sums) in gone {
        upsert(tx, "pruned_usage", key, net(&sums, &Sums::default()))?;
    }
    Ok(())
}

fn add_row(totals: &mut BTreeMap<Key, Sums>, row: &SlotRow) {
    totals
        .entry((row.key.project, row.key.model))
        .or_default()
        .add(&row.sums);
}

fn read_table(conn: &Connection, table: &str) -> Result<BTreeMap<Key, Sums>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT project, model, {} FROM {table}",
        SUMS.join(", ")
    ))?;
    let rows = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), read_sums(r, 2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every stored row: all-time usage per project and model.
pub fn stored(conn: &Connection) -> Result<BTreeMap<Key, Sums>, StoreError> {
    read_table(conn, "usage_totals")
}

/// What prunes of facts took, per project and model.
pub fn pruned(conn: &Connection) -> Result<BTreeMap<Key, Sums>, StoreError> {
    read_table(conn, "pruned_usage")
}

/// Lists how the stored rows differ from `expected`.
pub fn check(
    conn: &Connection,
    expected: &BTreeMap<Key, Sums>,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    let stored: BTreeMap<String, (Key, Sums)> = stored(conn)?
        .into_iter()
        .map(|(k, s)| (format!("{k:?}"), (k, s)))
        .collect();
    let expected: Vec<(Key, Sums)> = expected.iter().map(|(k, s)| (*k, *s)).collect();
    super::compare(
        "usage_totals",
        stored,
        &expected,
        |(k, _)| format!("{k:?}"),
        diffs,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_aggregate::SlotKey;

    fn row(project: Id, model: Id, tokens: u64, cost_nanos: i64) -> SlotRow {
        SlotRow {
            key: SlotKey {
                slot: 0,
                session: 1,
                project,
                model,
            },
            first_ts: 0,
            last_ts: 0,
            sums: Sums {
                responses: 1,
                input_tokens: tokens,
                cost_nanos,
                ..Sums::default()
            },
        }
    }

    #[test]
    fn totals_group_by_project_and_model_and_add_what_was_pruned() {
        let rows = [row(1, 2, 10, 5), row(1, 2, 1, 1), row(0, 2, 7, 0)];
        let pruned = BTreeMap::from([
            ((1, 2), row(1, 2, 100, 50).sums),
            ((3, 0), row(3, 0, 4, 0).sums),
        ]);
        let totals = rows_of(&rows, &pruned);
        assert_eq!(totals.len(), 3);
        assert_eq!(totals[&(1, 2)].responses, 3);
        assert_eq!(totals[&(1, 2)].input_tokens, 111);
        assert_eq!(totals[&(1, 2)].cost_nanos, 56);
        assert_eq!(totals[&(0, 2)].input_tokens, 7);
        assert_eq!(totals[&(3, 0)].input_tokens, 4);
    }

    #[test]
    fn net_changes_are_the_difference_field_by_field() {
        let a = row(1, 1, 10, 9).sums;
        let mut b = row(1, 1, 3, 12).sums;
        b.unpriced_responses = 1;
        assert_eq!(net(&a, &b), [0, 7, 0, 0, 0, 0, 0, -3, 0, -1]);
    }
}
