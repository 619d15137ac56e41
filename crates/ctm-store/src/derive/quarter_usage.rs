//! `quarter_usage`: the rollup, billed responses summed per slot, session, project and
//! model (see [`ctm_aggregate::SlotRow`]). Every other derived table and every report
//! is computed from its rows; [`rows_between`] gives them for any range in any zone,
//! with the responses themselves where a zone splits a quarter or the range starts or
//! ends inside one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;

use ctm_aggregate::{
    quarter_of_slot, rollup, slot_of, split_ranges, Fact, SlotKey, SlotRow, Sums, QUARTER_MS,
};
use jiff::tz::TimeZone;
use rusqlite::{params, Connection, Transaction};

use crate::fact_reader::{self, FactReader, Keep};
use crate::StoreError;

/// The table's columns, in the order [`read_row`] reads them.
const COLUMNS: &str = "slot, session, project, model, first_ts, last_ts, responses, input_tokens, \
     output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, \
     web_search_requests, cost_nanos, savings_nanos, unpriced_responses";

fn read_row(r: &rusqlite::Row) -> rusqlite::Result<SlotRow> {
    let count = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(SlotRow {
        key: SlotKey {
            slot: r.get(0)?,
            session: r.get(1)?,
            project: r.get(2)?,
            model: r.get(3)?,
        },
        first_ts: r.get(4)?,
        last_ts: r.get(5)?,
        sums: Sums {
            responses: count(6)?,
            input_tokens: count(7)?,
            output_tokens: count(8)?,
            cache_write_5m_tokens: count(9)?,
            cache_write_1h_tokens: count(10)?,
            cache_read_tokens: count(11)?,
            web_search_requests: count(12)?,
            cost_nanos: r.get(13)?,
            savings_nanos: r.get(14)?,
            unpriced_responses: count(15)?,
        },
    })
}

/// Adds rows to the stored ones of their keys (inserting the keys that have none).
fn add_rows<'a>(
    tx: &Transaction,
    rows: impl IntoIterator<Item = &'a SlotRow>,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO quarter_usage ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
         ?11, ?12, ?13, ?14, ?15, ?16) ON CONFLICT(slot, session, project, model) DO UPDATE SET \
         first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts), \
         responses = responses + excluded.responses, \
         input_tokens = input_tokens + excluded.input_tokens, \
         output_tokens = output_tokens + excluded.output_tokens, \
         cache_write_5m_tokens = cache_write_5m_tokens + excluded.cache_write_5m_tokens, \
         cache_write_1h_tokens = cache_write_1h_tokens + excluded.cache_write_1h_tokens, \
         cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, \
         web_search_requests = web_search_requests + excluded.web_search_requests, \
         cost_nanos = cost_nanos + excluded.cost_nanos, \
         savings_nanos = savings_nanos + excluded.savings_nanos, \
         unpriced_responses = unpriced_responses + excluded.unpriced_responses"
    ))?;
    for row in rows {
        let (k, s) = (&row.key, &row.sums);
        stmt.execute(params![
            k.slot,
            k.session,
            k.project,
            k.model,
            row.first_ts,
            row.last_ts,
            s.responses,
            s.input_tokens,
            s.output_tokens,
            s.cache_write_5m_tokens,
            s.cache_write_1h_tokens,
            s.cache_read_tokens,
            s.web_search_requests,
            s.cost_nanos,
            s.savings_nanos,
            s.unpriced_responses,
        ])?;
    }
    Ok(())
}

/// In-memory rows of the rollup held by a writer before they are written: added to, and
/// where a response is taken back (a later sighting changed it, a replay stopped being
/// billed), subtracted from while every row is here, else recomputed from the facts.
const FLUSH_ROWS: usize = 1 << 13;

/// What one write changes in the rollup.
#[derive(Debug)]
pub struct Changes {
    rows: HashMap<SlotKey, SlotRow>,
    /// The table was empty and nothing was written to it yet: `rows` is all of it, so a
    /// response taken back is subtracted here.
    complete: bool,
    /// Keys whose rows are computed again from their facts (with the fact table's
    /// indexes in place).
    recompute: BTreeSet<SlotKey>,
}

impl Changes {
    pub fn new(complete: bool) -> Changes {
        Changes {
            rows: HashMap::new(),
            complete,
            recompute: BTreeSet::new(),
        }
    }

    pub fn add(&mut self, f: &Fact) {
        let row = SlotRow::of_fact(f);
        self.rows
            .entry(row.key)
            .and_modify(|r| r.add(&row))
            .or_insert(row);
    }

    pub fn remove(&mut self, f: &Fact) {
        let key = f.key();
        if self.complete {
            if let Some(row) = self.rows.get_mut(&key) {
                row.sums.subtract(&f.sums);
                if row.sums.responses == 0 {
                    self.rows.remove(&key);
                } else if f.ts == row.first_ts || f.ts == row.last_ts {
                    // Which response is now the first or last is in the facts.
                    self.recompute.insert(key);
                }
                return;
            }
        }
        self.recompute.insert(key);
    }

    /// A response that stays in its row at the same instant, with other sums: which
    /// responses are the row's first and last does not change.
    pub fn replace(&mut self, before: &Fact, after: &Fact) {
        if before.sums == after.sums {
            return;
        }
        if self.complete {
            if let Some(row) = self.rows.get_mut(&before.key()) {
                row.sums.subtract(&before.sums);
                row.sums.add(&after.sums);
                return;
            }
        }
        self.remove(before);
        self.add(after);
    }

    /// Writes the rows held when they grow past a bound, so memory stays flat however
    /// large the write.
    pub fn flush_if_full(&mut self, tx: &Transaction) -> Result<(), StoreError> {
        if self.rows.len() >= FLUSH_ROWS {
            self.write_rows(tx)?;
            self.complete = false;
        }
        Ok(())
    }

    fn write_rows(&mut self, tx: &Transaction) -> Result<(), StoreError> {
        let mut rows: Vec<SlotRow> = self.rows.drain().map(|(_, r)| r).collect();
        // In key order: into an empty table, every insert appends.
        rows.sort_unstable_by_key(|r| r.key);
        add_rows(tx, &rows)
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.recompute.is_empty()
    }

    /// Writes the changes: held rows added to the stored ones, recomputed keys from their
    /// facts. The fact table's indexes must be in place.
    pub fn apply(mut self, tx: &Transaction) -> Result<(), StoreError> {
        for key in &self.recompute {
            self.rows.remove(key);
        }
        self.write_rows(tx)?;
        let reader = FactReader::new(tx)?;
        for key in &self.recompute {
            recompute(tx, &reader, key)?;
        }
        Ok(())
    }
}

/// `[lo, hi)` of the instants of a slot.
fn slot_span(slot: i64) -> (i64, i64) {
    let start = quarter_of_slot(slot).saturating_mul(QUARTER_MS);
    if slot.rem_euclid(2) == 0 {
        (start, start.saturating_add(1))
    } else {
        (start.saturating_add(1), start.saturating_add(QUARTER_MS))
    }
}

/// One key's row computed again from its facts (gone when none is billed).
fn recompute(tx: &Transaction, reader: &FactReader, key: &SlotKey) -> Result<(), StoreError> {
    let (lo, hi) = slot_span(key.slot);
    let facts = reader.billed(
        tx,
        "ts >= ?1 AND ts < ?2 AND session = ?3 AND project = ?4 AND model = ?5",
        params![lo, hi, key.session, key.project, key.model],
        &Keep::all(),
    )?;
    tx.prepare_cached(
        "DELETE FROM quarter_usage WHERE slot = ?1 AND session = ?2 AND project = ?3 AND model = ?4",
    )?
    .execute(params![key.slot, key.session, key.project, key.model])?;
    add_rows(tx, rollup(&facts).values())
}

/// Writes the whole table again from every billed fact, streamed in time order: a
/// slot's rows are written once the facts have passed it, so only one slot's are held.
pub fn rebuild(tx: &Transaction) -> Result<(), StoreError> {
    tx.execute("DELETE FROM quarter_usage", [])?;
    let mut slot: BTreeMap<SlotKey, SlotRow> = BTreeMap::new();
    FactReader::new(tx)?.visit_billed(tx, "1 ORDER BY ts, id", [], &Keep::all(), |f| {
        let row = SlotRow::of_fact(&f);
        if slot.keys().next().is_some_and(|k| k.slot != row.key.slot) {
            add_rows(tx, slot.values())?;
            slot.clear();
        }
        slot.entry(row.key)
            .and_modify(|r| r.add(&row))
            .or_insert(row);
        Ok::<_, StoreError>(())
    })?;
    add_rows(tx, slot.values())
}

/// Every stored row, in key order.
pub fn stored(conn: &Connection) -> Result<BTreeMap<SlotKey, SlotRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM quarter_usage"))?;
    let mut rows = stmt.query([])?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let row = read_row(r)?;
        out.insert(row.key, row);
    }
    Ok(out)
}

/// Lists how the stored rows differ from the rows `expected` (the facts' rollup).
pub fn check(
    conn: &Connection,
    expected: &BTreeMap<SlotKey, SlotRow>,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    let mut stored = stored(conn)?;
    for (key, want) in expected {
        match stored.remove(key) {
            None => diffs.push(format!("quarter_usage: {key:?} is missing")),
            Some(row) if row != *want => diffs.push(format!(
                "quarter_usage {key:?}: {row:?}, facts say {want:?}"
            )),
            Some(_) => {}
        }
    }
    for key in stored.keys() {
        diffs.push(format!("quarter_usage: {key:?} has no facts"));
    }
    Ok(())
}

/// The instants of the earliest and the latest response the rollup holds.
pub fn span(conn: &Connection) -> Result<Option<(i64, i64)>, StoreError> {
    let (lo, hi): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT (SELECT min(first_ts) FROM quarter_usage WHERE slot = (SELECT min(slot) FROM quarter_usage)), \
             (SELECT max(last_ts) FROM quarter_usage WHERE slot = (SELECT max(slot) FROM quarter_usage))",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(lo.zip(hi))
}

/// Every session's rows, one session at a time (in slot order, with the session's id
/// text: `None` for rows without a session), so that only one session's rows are held.
pub fn visit_by_session(
    conn: &Connection,
    mut visit: impl FnMut(Option<String>, &[SlotRow]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("q.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {columns}, s.session_id FROM quarter_usage q LEFT JOIN sessions s ON s.id = q.session \
         ORDER BY q.session, q.slot"
    ))?;
    let mut rows = stmt.query([])?;
    let mut held: Vec<SlotRow> = Vec::new();
    let mut id: Option<String> = None;
    while let Some(r) = rows.next()? {
        let row = read_row(r)?;
        if held
            .first()
            .is_some_and(|h| h.key.session != row.key.session)
        {
            visit(id.take(), &held)?;
            held.clear();
        }
        if held.is_empty() {
            id = r.get(16)?;
        }
        held.push(row);
    }
    if !held.is_empty() {
        visit(id, &held)?;
    }
    Ok(())
}

/// A session's rows, in slot order.
pub fn rows_of_session(conn: &Connection, session: i64) -> Result<Vec<SlotRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM quarter_usage WHERE session = ?1 ORDER BY slot"
    ))?;
    let rows = stmt
        .query_map([session], read_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Rows from slot `from` on, in slot order, until `visit` breaks.
pub fn visit_from(
    conn: &Connection,
    from: i64,
    mut visit: impl FnMut(SlotRow) -> Result<ControlFlow<()>, StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM quarter_usage WHERE slot >= ?1 ORDER BY slot"
    ))?;
    let mut rows = stmt.query([from])?;
    while let Some(r) = rows.next()? {
        if visit(read_row(r)?)?.is_break() {
            break;
        }
    }
    Ok(())
}

/// The instants (UTC epoch ms) of the earliest and the latest stored response, billed or
/// not; `None` for an empty store.
fn fact_span(conn: &Connection) -> Result<Option<(i64, i64)>, StoreError> {
    // Two subqueries: SQLite reads a lone min() or max() from the index's edge.
    let (lo, hi): (Option<i64>, Option<i64>) = conn
        .prepare_cached("SELECT (SELECT min(ts) FROM facts), (SELECT max(ts) FROM facts)")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(lo.zip(hi))
}

/// The rows of the billed responses with `lo <= ts < hi` that `keep` keeps, exactly:
/// rollup rows for the quarters wholly inside the range (and whole in `tz`, when the
/// rows will be grouped by local day or hour), and a row per response for the rest
/// (the ends of a range that starts or ends inside a quarter, a quarter the zone splits).
/// In slot order.
pub fn rows_between(
    conn: &Connection,
    lo: i64,
    hi: i64,
    keep: &Keep,
    tz: Option<&TimeZone>,
) -> Result<Vec<SlotRow>, StoreError> {
    let Some((first, last)) = fact_span(conn)? else {
        return Ok(Vec::new());
    };
    let (lo, hi) = (lo.max(first), hi.min(last.saturating_add(1)));
    if lo >= hi {
        return Ok(Vec::new());
    }
    // Quarters wholly inside [lo, hi).
    let (q_lo, q_hi) = (div_ceil(lo, QUARTER_MS), hi.div_euclid(QUARTER_MS));
    let mut by_fact: Vec<(i64, i64)> = Vec::new();
    if q_lo >= q_hi {
        by_fact.push((lo, hi));
    } else {
        let (a, b) = (q_lo * QUARTER_MS, q_hi * QUARTER_MS);
        if lo < a {
            by_fact.push((lo, a));
        }
        if let Some(tz) = tz {
            // Widened to whole quarters, which the rollup then leaves out.
            for (s, e) in split_ranges(tz, a, b) {
                let s = s.div_euclid(QUARTER_MS) * QUARTER_MS;
                let e = div_ceil(e, QUARTER_MS).saturating_mul(QUARTER_MS).min(b);
                match by_fact.last_mut() {
                    Some(last) if last.1 >= s => last.1 = last.1.max(e),
                    _ => by_fact.push((s, e)),
                }
            }
        }
        if b < hi {
            by_fact.push((b, hi));
        }
    }
    let mut out = Vec::new();
    if q_lo < q_hi {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM quarter_usage WHERE slot >= ?1 AND slot < ?2"
        ))?;
        let mut rows = stmt.query([2 * q_lo, 2 * q_hi])?;
        let skip = &by_fact;
        while let Some(r) = rows.next()? {
            let (project, model): (i64, i64) = (r.get(2)?, r.get(3)?);
            if !keep.keeps(project, model) {
                continue;
            }
            let row = read_row(r)?;
            let start = quarter_of_slot(row.key.slot) * QUARTER_MS;
            if skip.iter().any(|(s, e)| *s <= start && start < *e) {
                continue;
            }
            out.push(row);
        }
    }
    for (s, e) in by_fact {
        out.extend(
            fact_reader::billed_between(conn, s, e, keep)?
                .iter()
                .map(SlotRow::of_fact),
        );
    }
    out.sort_by_key(|r| r.key.slot);
    Ok(out)
}

fn div_ceil(a: i64, b: i64) -> i64 {
    let d = a.div_euclid(b);
    if a.rem_euclid(b) == 0 {
        d
    } else {
        d + 1
    }
}

/// The earliest instant of a slot (for a refresh: where its responses are).
pub fn slot_start(slot: i64) -> i64 {
    slot_span(slot).0
}

/// The slot of every instant in `[lo, hi)`: `[slot_of(lo), slot_of(hi))`.
pub fn slots_between(lo: i64, hi: i64) -> (i64, i64) {
    (slot_of(lo), slot_of(hi))
}
