//! The rollup: billed responses summed per slot, session, project and model.
//!
//! A slot is a UTC quarter-hour cut in two: its first millisecond, then the rest. A local
//! day or hour in any zone whose offsets are whole quarter-hours starts on a quarter
//! (its first millisecond belongs to it), and a 5-hour block, which starts on a UTC hour,
//! ends just after one (a response at exactly five hours after the start is still in
//! it): both are unions of whole slots, so grouping slot rows gives the very sums that
//! grouping the responses gives.

use std::collections::BTreeMap;

use crate::sums::Sums;

/// A dimension row's id (a session, project or model); [`NONE`] for a response without
/// that text.
pub type Id = i64;

/// The id of "no text": dimension ids start at 1.
pub const NONE: Id = 0;

/// Fifteen minutes, the length of a quarter.
pub const QUARTER_MS: i64 = 15 * 60 * 1000;

/// The slot of an instant (UTC epoch ms): `2q` for the first millisecond of quarter `q`,
/// `2q + 1` for the rest of it. Slots sort in time order.
pub fn slot_of(ts: i64) -> i64 {
    let q = ts.div_euclid(QUARTER_MS);
    2 * q + i64::from(ts.rem_euclid(QUARTER_MS) != 0)
}

/// The quarter (its number: start / 15 minutes) a slot belongs to.
pub fn quarter_of_slot(slot: i64) -> i64 {
    slot.div_euclid(2)
}

/// The slots `[lo, hi)` of the quarters `[first, end)`.
pub fn slots_of_quarters(first: i64, end: i64) -> (i64, i64) {
    (first.saturating_mul(2), end.saturating_mul(2))
}

/// What a rollup row is summed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotKey {
    pub slot: i64,
    pub session: Id,
    pub project: Id,
    pub model: Id,
}

/// One rollup row: the billed responses of one slot, session, project and model. Also
/// what a single response is when it stands for itself (`first_ts == last_ts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRow {
    pub key: SlotKey,
    /// The earliest and latest response (UTC epoch ms).
    pub first_ts: i64,
    pub last_ts: i64,
    pub sums: Sums,
}

impl SlotRow {
    pub fn of_fact(f: &Fact) -> SlotRow {
        SlotRow {
            key: f.key(),
            first_ts: f.ts,
            last_ts: f.ts,
            sums: f.sums,
        }
    }

    /// Adds another row of the same key (or a response of it).
    pub fn add(&mut self, o: &SlotRow) {
        self.first_ts = self.first_ts.min(o.first_ts);
        self.last_ts = self.last_ts.max(o.last_ts);
        self.sums.add(&o.sums);
    }
}

/// One billed response as the aggregates see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fact {
    /// Its row id in the fact table.
    pub id: i64,
    pub ts: i64,
    pub session: Id,
    pub project: Id,
    pub model: Id,
    /// Its own figures: `responses` is 1.
    pub sums: Sums,
}

impl Fact {
    pub fn key(&self) -> SlotKey {
        SlotKey {
            slot: slot_of(self.ts),
            session: self.session,
            project: self.project,
            model: self.model,
        }
    }
}

/// The rollup rows of these facts.
pub fn rollup<'a>(facts: impl IntoIterator<Item = &'a Fact>) -> BTreeMap<SlotKey, SlotRow> {
    let mut rows: BTreeMap<SlotKey, SlotRow> = BTreeMap::new();
    for f in facts {
        let row = SlotRow::of_fact(f);
        rows.entry(row.key)
            .and_modify(|r| r.add(&row))
            .or_insert(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_has_its_first_millisecond_and_the_rest() {
        let q = 1_767_225_600_000 / QUARTER_MS; // 2026-01-01T00:00Z
        let at = q * QUARTER_MS;
        assert_eq!(slot_of(at), 2 * q);
        assert_eq!(slot_of(at + 1), 2 * q + 1);
        assert_eq!(slot_of(at + QUARTER_MS - 1), 2 * q + 1);
        assert_eq!(slot_of(at + QUARTER_MS), 2 * q + 2);
        assert_eq!(quarter_of_slot(2 * q + 1), q);
        // Before 1970 too.
        assert_eq!(slot_of(-1), -1);
        assert_eq!(slot_of(-QUARTER_MS), -2);
        assert_eq!(quarter_of_slot(-1), -1);
        assert_eq!(slots_of_quarters(q, q + 2), (2 * q, 2 * q + 4));
    }
}
