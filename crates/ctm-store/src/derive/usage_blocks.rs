//! `usage_blocks` (seed 000, with ctm's figures added by migration 8): the 5-hour
//! blocks of every billed response, kept in every ingest's transaction so `ctm blocks`
//! and the live views read them instead of the facts.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use ctm_aggregate::{
    aggregate_blocks, slot_of, BlockAggregate, BlockChain, Names, SlotRow, Sums, BLOCK_MS,
};
use rusqlite::{params, Connection, Transaction};

use super::quarter_usage;
use crate::horizon::Horizon;
use ctm_model::utc;

use crate::StoreError;

/// What `ctm blocks` shows of a block, its texts resolved: from the rollup, or read back
/// from its row.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockFigures {
    pub start_ms: i64,
    pub first_ts: i64,
    pub last_ts: i64,
    /// As the row keeps them: the cache writes as one figure (in
    /// `cache_write_5m_tokens`), no web searches or savings.
    pub sums: Sums,
    pub sessions: u64,
    pub models: Vec<String>,
}

impl BlockFigures {
    pub fn of(b: &BlockAggregate, names: &Names) -> BlockFigures {
        let s = &b.sums;
        BlockFigures {
            start_ms: b.start_ms,
            first_ts: b.first_ts,
            last_ts: b.last_ts,
            sums: Sums {
                responses: s.responses,
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cache_write_5m_tokens: s.cache_creation_tokens(),
                cache_read_tokens: s.cache_read_tokens,
                cost_nanos: s.cost_nanos,
                unpriced_responses: s.unpriced_responses,
                ..Sums::default()
            },
            sessions: b.sessions.len() as u64,
            models: names.model_labels(&b.models).into_iter().collect(),
        }
    }

    pub fn end_ms(&self) -> i64 {
        self.start_ms + BLOCK_MS
    }

    /// Active while now is inside the block and its last response is under 5 h old.
    pub fn is_active(&self, now_ms: i64) -> bool {
        now_ms < self.end_ms() && now_ms - self.last_ts < BLOCK_MS
    }

    fn status(&self, now_ms: i64) -> &'static str {
        if self.is_active(now_ms) {
            "active"
        } else {
            "completed"
        }
    }
}

/// The columns [`read_figures`] reads, after `start_time` and `session_count`.
const FIGURE_COLUMNS: &str = "first_ts, last_ts, responses, input_tokens, output_tokens, \
     cache_creation_tokens, cache_read_tokens, cost_usd, unpriced_responses, models";

fn write(tx: &Transaction, blocks: &[BlockFigures], now_ms: i64) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO usage_blocks (block_id, start_time, end_time, total_tokens, session_count, status, \
         {FIGURE_COLUMNS}) VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))?;
    for b in blocks {
        let s = &b.sums;
        stmt.execute(params![
            utc::format(b.start_ms),
            utc::format(b.end_ms()),
            s.total_tokens(),
            b.sessions,
            b.status(now_ms),
            b.first_ts,
            b.last_ts,
            s.responses,
            s.input_tokens,
            s.output_tokens,
            s.cache_creation_tokens(),
            s.cache_read_tokens,
            s.cost_usd(),
            s.unpriced_responses,
            serde_json::to_string(&b.models).expect("a list of names serialises"),
        ])?;
    }
    Ok(())
}

/// Deletes the blocks starting in `[from_ms, to_ms)` (`None`: to the end).
fn delete(tx: &Transaction, from_ms: i64, to_ms: Option<i64>) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM usage_blocks WHERE start_time >= ?1 AND start_time < ?2")?
        .execute([
            utc::format(from_ms),
            // "~" sorts after every stored time.
            to_ms.map_or_else(|| "~".to_owned(), utc::format),
        ])?;
    Ok(())
}

/// The columns of a stored block that its figures do not hold.
#[derive(Debug, Clone, PartialEq)]
struct Own {
    block_id: String,
    end_time: String,
    total_tokens: i64,
    status: String,
}

/// Every stored block that starts at or after `from_ms`, oldest first, with its own
/// columns; `None` when a row lacks its figures (written before migration 8 and kept
/// since).
fn stored_with_status(
    conn: &Connection,
    from_ms: i64,
) -> Result<Option<Vec<(BlockFigures, Own)>>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT start_time, session_count, {FIGURE_COLUMNS}, status, block_id, end_time, total_tokens \
         FROM usage_blocks WHERE start_time >= ?1 ORDER BY start_time"
    ))?;
    let mut rows = stmt.query([utc::format(from_ms)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let Some(first_ts) = r.get::<_, Option<i64>>(2)? else {
            return Ok(None);
        };
        let start: String = r.get(0)?;
        let models: String = r.get(11)?;
        let models = serde_json::from_str(&models).map_err(|e| {
            StoreError::Invalid(format!("usage_blocks {start} models {models:?}: {e}"))
        })?;
        let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
        let figures = BlockFigures {
            start_ms: crate::parse_stored_time("usage_blocks start_time", &start)?,
            first_ts,
            last_ts: r.get(3)?,
            sums: Sums {
                responses: n(4)?,
                input_tokens: n(5)?,
                output_tokens: n(6)?,
                cache_write_5m_tokens: n(7)?,
                cache_read_tokens: n(8)?,
                // A REAL written from nano-dollars reads back exactly below $4.5M.
                cost_nanos: ctm_aggregate::nanos_of_usd(r.get(9)?),
                unpriced_responses: n(10)?,
                ..Sums::default()
            },
            sessions: n(1)?,
            models,
        };
        let own = Own {
            status: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
            block_id: r.get(13)?,
            end_time: r.get(14)?,
            total_tokens: r.get::<_, Option<i64>>(15)?.unwrap_or(0),
        };
        out.push((figures, own));
    }
    Ok(Some(out))
}

/// Every stored block that starts at or after `from_ms`, oldest first; `None` when a
/// row lacks its figures (written before migration 8 and kept since).
pub fn stored(conn: &Connection, from_ms: i64) -> Result<Option<Vec<BlockFigures>>, StoreError> {
    Ok(stored_with_status(conn, from_ms)?.map(|v| v.into_iter().map(|(b, _)| b).collect()))
}

/// Where the latest block starting at or before `at_ms` starts.
pub fn latest_start(conn: &Connection, at_ms: i64) -> Result<Option<i64>, StoreError> {
    use rusqlite::OptionalExtension;
    let start: Option<String> = conn
        .prepare_cached(
            "SELECT start_time FROM usage_blocks WHERE start_time <= ?1 ORDER BY start_time DESC LIMIT 1",
        )?
        .query_row([utc::format(at_ms)], |r| r.get(0))
        .optional()?;
    start
        .map(|s| crate::parse_stored_time("usage_blocks start_time", &s))
        .transpose()
}

/// Marks blocks whose time is over as completed.
pub fn close_finished(tx: &Transaction, now_ms: i64) -> Result<(), StoreError> {
    // Inside a block every response is under 5 h old, so its end is the only deadline.
    tx.execute(
        "UPDATE usage_blocks SET status = 'completed' WHERE status = 'active' AND end_time <= ?1",
        [utc::format(now_ms)],
    )?;
    Ok(())
}

/// The blocks of `rows` that are derived (not kept history), as stored.
pub fn derived_blocks(
    rows: &[SlotRow],
    horizon: Option<&Horizon>,
    names: &Names,
) -> Vec<BlockFigures> {
    let (horizon_ms, from_ms) =
        horizon.map_or((i64::MIN, i64::MIN), |h| (h.horizon_ms, h.blocks_from_ms));
    let rows: Vec<SlotRow> = rows
        .iter()
        .filter(|r| r.first_ts >= from_ms)
        .copied()
        .collect();
    aggregate_blocks(&rows, horizon_ms)
        .iter()
        .map(|b| BlockFigures::of(b, names))
        .collect()
}

/// Writes every derived block again from the rollup, streamed in slot order: each
/// block is written as soon as the next one opens.
pub fn rebuild_from_rollup(
    tx: &Transaction,
    horizon: Option<&Horizon>,
    names: &Names,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (horizon_ms, from_ms) =
        horizon.map_or((i64::MIN, i64::MIN), |h| (h.horizon_ms, h.blocks_from_ms));
    delete(tx, horizon_ms, None)?;
    let mut chain = BlockChain::new(horizon_ms);
    quarter_usage::visit_from(tx, i64::MIN, |row| {
        if row.first_ts >= from_ms {
            if let Some(b) = chain.push(&row) {
                write(tx, &[BlockFigures::of(&b, names)], now_ms)?;
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    let rest: Vec<BlockFigures> = chain
        .finish()
        .map(|b| BlockFigures::of(&b, names))
        .collect();
    write(tx, &rest, now_ms)
}

/// Recomputes the blocks the touched slots can change.
///
/// A block's start depends only on earlier responses, so the chain of blocks before a
/// touched slot stands. From the stored block that holds the slot's first instant,
/// blocks are recomputed from the rollup until the new chain opens a block, in a later
/// slot, where a stored block starts with the same first response: from there on the
/// responses and so the blocks are as stored, until the next touched slot. Kept blocks
/// (started before the prune horizon) are never recomputed.
pub fn refresh(
    tx: &Transaction,
    touched: &BTreeSet<i64>,
    now_ms: i64,
    horizon: Option<&Horizon>,
    names: &Names,
) -> Result<(), StoreError> {
    let Some(&first) = touched.first() else {
        return Ok(());
    };
    let (horizon_ms, blocks_from_ms) =
        horizon.map_or((i64::MIN, i64::MIN), |h| (h.horizon_ms, h.blocks_from_ms));
    let mut from_slot = first;
    loop {
        let from_ts = quarter_usage::slot_start(from_slot);
        let restart_ms = restart_of(tx, from_ts, horizon_ms)?;
        // The rows of the recomputed blocks, and where the new chain met the stored one.
        let start_at = restart_ms.max(blocks_from_ms);
        let mut rows: Vec<SlotRow> = Vec::new();
        let mut rejoined: Option<(i64, i64)> = None;
        let mut open: Option<BlockAggregate> = None;
        let mut group: Vec<SlotRow> = Vec::new();
        let mut stored_opens = tx
            .prepare_cached("SELECT 1 FROM usage_blocks WHERE start_time = ?1 AND first_ts = ?2")?;
        // Takes one slot's rows into the chain; breaks where it rejoins the stored chain.
        let mut take = |group: &mut Vec<SlotRow>| -> Result<ControlFlow<()>, StoreError> {
            let Some(first_ts) = group.iter().map(|r| r.first_ts).min() else {
                return Ok(ControlFlow::Continue(()));
            };
            let slot = group[0].key.slot;
            match &mut open {
                Some(b) if !b.ends_before(first_ts) => {
                    b.last_ts = b
                        .last_ts
                        .max(group.iter().map(|r| r.last_ts).max().unwrap_or(first_ts));
                }
                _ => {
                    let block = BlockAggregate::opened_at(first_ts, horizon_ms);
                    // Only past the touched slot: the block holding it is recomputed. The
                    // same start is not enough: a block opened by a later response of
                    // the same hour holds other responses than the stored one.
                    if open.is_some()
                        && slot > from_slot
                        && stored_opens.exists(params![utc::format(block.start_ms), first_ts])?
                    {
                        rejoined = Some((block.start_ms, slot));
                        return Ok(ControlFlow::Break(()));
                    }
                    let last = group.iter().map(|r| r.last_ts).max().unwrap_or(first_ts);
                    let mut block = block;
                    block.last_ts = last;
                    open = Some(block);
                }
            }
            rows.append(group);
            Ok(ControlFlow::Continue(()))
        };
        let mut stopped = false;
        quarter_usage::visit_from(tx, slot_of(start_at), |row| {
            if row.first_ts < start_at {
                return Ok(ControlFlow::Continue(()));
            }
            if group.first().is_some_and(|g| g.key.slot != row.key.slot) {
                if take(&mut group)?.is_break() {
                    stopped = true;
                    return Ok(ControlFlow::Break(()));
                }
                group.clear();
            }
            group.push(row);
            Ok(ControlFlow::Continue(()))
        })?;
        if !stopped {
            let _ = take(&mut group)?;
        }
        let blocks: Vec<BlockFigures> = aggregate_blocks(&rows, horizon_ms)
            .iter()
            .map(|b| BlockFigures::of(b, names))
            .collect();
        delete(tx, restart_ms, rejoined.map(|(start, _)| start))?;
        write(tx, &blocks, now_ms)?;
        // Every touched slot up to the one that opened the rejoined block was recomputed.
        let next = rejoined.and_then(|(_, slot)| touched.range(slot.max(from_slot + 1)..).next());
        match next {
            Some(&next) => from_slot = next,
            None => return Ok(()),
        }
    }
}

/// Where to recompute blocks from for a touched instant: the stored block holding it,
/// or an earlier one while the block before reaches the restart instant (a block takes
/// responses up to 5 h after its start, inclusive, and a block opened in the next hour
/// starts on that hour: its last response, or the touched one, may lie at that very
/// instant). The horizon when no stored block starts before the instant.
fn restart_of(tx: &Transaction, from_ts: i64, horizon_ms: i64) -> Result<i64, StoreError> {
    let mut restart_ms = horizon_ms;
    let mut stmt = tx.prepare_cached(
        "SELECT start_time, last_ts FROM usage_blocks WHERE start_time <= ?1 \
         AND start_time >= ?2 ORDER BY start_time DESC",
    )?;
    let mut rows = stmt.query([utc::format(from_ts), utc::format(horizon_ms)])?;
    let mut first = true;
    while let Some(r) = rows.next()? {
        let start = crate::parse_stored_time("usage_blocks start_time", &r.get::<_, String>(0)?)?;
        let last: Option<i64> = r.get(1)?;
        let reaches = last.is_none_or(|last| last >= restart_ms) || from_ts - start <= BLOCK_MS;
        if !first && !reaches {
            break;
        }
        restart_ms = start;
        first = false;
    }
    Ok(restart_ms)
}

/// Lists how the stored blocks from the horizon on differ from `expected`.
pub fn check(
    conn: &Connection,
    expected: &[BlockFigures],
    horizon: Option<&Horizon>,
    now_ms: i64,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    let Some(stored) = stored_with_status(conn, horizon.map_or(i64::MIN, |h| h.horizon_ms))? else {
        diffs
            .push("usage_blocks: a block derived since the prune horizon lacks its figures".into());
        return Ok(());
    };
    if stored.len() != expected.len() {
        diffs.push(format!(
            "usage_blocks: {} rows, facts make {} blocks",
            stored.len(),
            expected.len()
        ));
    }
    let stored: BTreeMap<i64, (BlockFigures, Own)> = stored
        .into_iter()
        .map(|(b, o)| (b.start_ms, (b, o)))
        .collect();
    for want in expected {
        let id = utc::format(want.start_ms);
        let own = |status: &str| Own {
            block_id: id.clone(),
            end_time: utc::format(want.end_ms()),
            total_tokens: want.sums.total_tokens() as i64,
            status: status.to_owned(),
        };
        match stored.get(&want.start_ms) {
            None => diffs.push(format!("usage_blocks: {id} is missing")),
            Some((row, o)) if row != want || *o != own(&o.status) => diffs.push(format!(
                "usage_blocks {id}: {row:?} {o:?}, facts say {want:?}"
            )),
            // A block stored as active whose time has passed is only waiting for the
            // next ingest.
            Some((_, o)) if o.status == "completed" && want.is_active(now_ms) => diffs.push(
                format!("usage_blocks {id}: completed, but it is still active"),
            ),
            Some(_) => {}
        }
    }
    Ok(())
}
