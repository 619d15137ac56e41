//! Rollup rows split into 5-hour blocks.

use std::collections::BTreeSet;

use crate::slot::{Id, SlotRow, NONE};
use crate::sums::Sums;

/// Five hours, the length of a usage block.
pub const BLOCK_MS: i64 = 5 * 3600 * 1000;

const HOUR_MS: i64 = 3600 * 1000;

/// A 5-hour block (the rule in claude-code-data.md): it starts at its first response
/// floored to the UTC hour; a response more than 5 h after the block's start or after
/// the previous response starts a new block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockAggregate {
    pub start_ms: i64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub sums: Sums,
    pub sessions: BTreeSet<Id>,
    /// Its models ([`NONE`] for responses without one).
    pub models: BTreeSet<Id>,
}

impl BlockAggregate {
    pub fn end_ms(&self) -> i64 {
        self.start_ms + BLOCK_MS
    }

    /// Active while now is inside the block and its last response is under 5 h old.
    pub fn is_active(&self, now_ms: i64) -> bool {
        now_ms < self.end_ms() && now_ms - self.last_ts < BLOCK_MS
    }

    /// Whether a response at `ts` (not before any in the block) opens the next block.
    pub fn ends_before(&self, ts: i64) -> bool {
        ts - self.start_ms > BLOCK_MS || ts - self.last_ts > BLOCK_MS
    }

    /// A block opened at `first_ts`: on the UTC hour, and never before `floor_ms` (the
    /// prune horizon: a block after it never reaches back into kept history).
    pub fn opened_at(first_ts: i64, floor_ms: i64) -> BlockAggregate {
        BlockAggregate {
            start_ms: (first_ts.div_euclid(HOUR_MS) * HOUR_MS).max(floor_ms),
            first_ts,
            last_ts: first_ts,
            sums: Sums::default(),
            sessions: BTreeSet::new(),
            models: BTreeSet::new(),
        }
    }

    fn add(&mut self, row: &SlotRow) {
        self.last_ts = self.last_ts.max(row.last_ts);
        self.sums.add(&row.sums);
        if row.key.session != NONE {
            self.sessions.insert(row.key.session);
        }
        self.models.insert(row.key.model);
    }
}

/// Splits rows into blocks that start no earlier than `floor_ms` (`i64::MIN`: no floor).
///
/// The rows of one slot go to one block: a block's end (five hours after a UTC hour, or
/// after a quarter-aligned horizon) is the first millisecond of a quarter, which a slot
/// holds alone, and within a slot responses are less than 15 minutes apart. So the
/// blocks of rows are the blocks of the responses they sum.
pub fn aggregate_blocks(rows: &[SlotRow], floor_ms: i64) -> Vec<BlockAggregate> {
    let mut sorted: Vec<&SlotRow> = rows.iter().collect();
    if !sorted.is_sorted_by_key(|r| r.key.slot) {
        sorted.sort_by_key(|r| r.key.slot);
    }
    let mut chain = BlockChain::new(floor_ms);
    let mut blocks: Vec<BlockAggregate> = Vec::new();
    for row in sorted {
        blocks.extend(chain.push(row));
    }
    blocks.extend(chain.finish());
    blocks
}

/// [`aggregate_blocks`] one row at a time, for rows streamed in slot order: only the
/// open block and the rows of the current slot are held, and each block is handed back
/// as soon as the next one opens.
#[derive(Debug)]
pub struct BlockChain {
    floor_ms: i64,
    open: Option<BlockAggregate>,
    slot: Vec<SlotRow>,
}

impl BlockChain {
    pub fn new(floor_ms: i64) -> BlockChain {
        BlockChain {
            floor_ms,
            open: None,
            slot: Vec::new(),
        }
    }

    /// The next row (rows come in slot order); the block it completed, if any.
    pub fn push(&mut self, row: &SlotRow) -> Option<BlockAggregate> {
        let done = match self.slot.first() {
            Some(first) if first.key.slot != row.key.slot => self.close_slot(),
            _ => None,
        };
        self.slot.push(*row);
        done
    }

    /// The blocks still held, once every row was pushed, oldest first: the last slot
    /// may complete one and open another.
    pub fn finish(mut self) -> impl Iterator<Item = BlockAggregate> {
        let done = self.close_slot();
        done.into_iter().chain(self.open)
    }

    /// Adds the current slot's rows to the open block, or to a new one when they cannot
    /// join it (handing back the one that ends).
    fn close_slot(&mut self) -> Option<BlockAggregate> {
        let first_ts = self.slot.iter().map(|r| r.first_ts).min()?;
        let mut done = None;
        if self.open.as_ref().is_none_or(|b| b.ends_before(first_ts)) {
            done = self
                .open
                .replace(BlockAggregate::opened_at(first_ts, self.floor_ms));
        }
        let block = self.open.as_mut().expect("a block is open");
        for row in self.slot.drain(..) {
            block.add(&row);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slot::{rollup, Fact};

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn fact(ts: i64, session: Id) -> Fact {
        Fact {
            id: ts,
            ts,
            session,
            project: NONE,
            model: 1,
            sums: Sums {
                responses: 1,
                output_tokens: 1,
                ..Sums::default()
            },
        }
    }

    fn per_fact(facts: &[Fact]) -> Vec<SlotRow> {
        facts.iter().map(SlotRow::of_fact).collect()
    }

    #[test]
    fn blocks_follow_the_five_hour_rule() {
        let t0 = 1_767_225_600_000 + 30 * M; // 2026-01-01T00:30Z
        let facts = [
            fact(t0, 1),
            fact(t0 + 4 * H, 1),          // inside the first block
            fact(t0 + 4 * H + 40 * M, 1), // 5h10m after 00:00: new block at 05:00
            fact(t0 + 11 * H, 2),         // 6h20m gap: new block at 11:00
        ];
        let blocks = aggregate_blocks(&per_fact(&facts), i64::MIN);
        let starts: Vec<i64> = blocks.iter().map(|b| b.start_ms - t0 + 30 * M).collect();
        assert_eq!(starts, vec![0, 5 * H, 11 * H]);
        assert_eq!(blocks[0].sums.responses, 2);
        assert!(blocks[2].is_active(t0 + 12 * H));
        assert!(!blocks[2].is_active(t0 + 17 * H));
    }

    /// A response at exactly five hours after the block's start stays in it; a
    /// millisecond later opens the next: the same from the rollup as from each response.
    #[test]
    fn the_first_millisecond_of_a_quarter_keeps_its_block() {
        let start = 1_767_225_600_000; // on the hour
        for second in [0, 1] {
            let facts = [
                fact(start + 10 * M, 1),
                fact(start + 4 * H + 50 * M, 1),
                fact(start + 5 * H + second, 2),
                fact(start + 5 * H + 9 * M, 3),
            ];
            let rows: Vec<SlotRow> = rollup(&facts).into_values().collect();
            let from_rows = aggregate_blocks(&rows, i64::MIN);
            let from_facts = aggregate_blocks(&per_fact(&facts), i64::MIN);
            assert_eq!(from_rows, from_facts);
            assert_eq!(from_rows.len(), 2);
            assert_eq!(from_rows[0].sums.responses, 3 - second as u64);
        }
    }
}
