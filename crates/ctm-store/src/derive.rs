//! The derived tables: everything seed 000 and seed 004 aggregate, computed from the
//! fact table and nothing else, so they can always be rebuilt and checked.
//!
//! Ingest calls [`refresh`] in its own transaction with the sessions and instants it
//! touched; only those sessions, days (in the store's zone) and the blocks from the
//! first touched one on are recomputed. [`rebuild_all`] recomputes everything;
//! [`check`] recomputes into memory and lists every difference.
//!
//! After `ctm db prune --facts-older-than` deleted the facts before a horizon, the rows
//! derived from them are history ([`Kept`]): days before the horizon, sessions that
//! started before it and blocks that started before it are never rewritten or checked
//! again, since the facts they were made of are gone.
//!
//! Definitions (also in docs/definitions.md, so a user can recompute them by hand):
//! - `hit_rate` = cache read / (cache write + cache read), per day.
//! - `efficiency_score` = cache read / (input + cache write + cache read), per session:
//!   the share of everything the session sent that was served from cache.
//! - `cache_savings_usd` = what the cached tokens would have cost as plain input, minus
//!   what they cost (writes cost more than input, reads much less), summed from facts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::{civil::Date, tz::TimeZone, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

use ctm_model::{utc, TextPool};

use crate::{snapshot_readers, StoreError};

/// Five hours, the length of a usage block.
pub const BLOCK_MS: i64 = 5 * 3600 * 1000;

/// What an ingest changed, for a targeted refresh.
#[derive(Debug, Default, Clone)]
pub struct Touched {
    pub sessions: BTreeSet<String>,
    /// UTC epoch ms of every response inserted, changed or reclassified (old and new).
    pub instants: BTreeSet<i64>,
    /// UTC epoch ms of every stored response changed or reclassified (old and new
    /// instant): a day holding one is recomputed from its facts.
    pub rewritten: BTreeSet<i64>,
    /// Sessions of those responses: they are recomputed from their facts.
    pub rewritten_sessions: BTreeSet<String>,
    /// Every fact with a larger id was inserted by this write, and every other change
    /// is in `rewritten`: a touched day without a rewritten instant only gained these
    /// rows, so they are added to its stored sums; the same for a touched session not in
    /// `rewritten_sessions`. `None`: recompute every touched day and session.
    pub inserted_after: Option<i64>,
}

impl Touched {
    /// A response inserted (see `inserted_after`).
    pub fn add(&mut self, session: Option<&str>, ts: i64) {
        if let Some(s) = session {
            if !self.sessions.contains(s) {
                self.sessions.insert(s.to_owned());
            }
        }
        self.instants.insert(ts);
    }

    /// A stored response changed or reclassified at `ts`.
    pub fn add_rewritten(&mut self, session: Option<&str>, ts: i64) {
        self.add(session, ts);
        self.rewritten.insert(ts);
        if let Some(s) = session {
            if !self.rewritten_sessions.contains(s) {
                self.rewritten_sessions.insert(s.to_owned());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.instants.is_empty()
    }
}

/// Token and cost sums: the unit every aggregate is made of.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sums {
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_write_5m_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub cache_read_tokens: u64,
    pub web_search_requests: u64,
    pub cost_usd: f64,
    pub cache_savings_usd: f64,
    /// Responses whose model has no price: their tokens count, their cost is unknown.
    pub unpriced_responses: u64,
}

impl Sums {
    pub fn cache_creation_tokens(&self) -> u64 {
        self.cache_write_5m_tokens + self.cache_write_1h_tokens
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_tokens()
            + self.cache_read_tokens
    }

    /// cache read / (cache write + cache read); 0 when nothing was cached.
    pub fn hit_rate(&self) -> f64 {
        ratio(
            self.cache_read_tokens,
            self.cache_creation_tokens() + self.cache_read_tokens,
        )
    }

    /// cache read / (input + cache write + cache read); 0 when nothing was sent.
    pub fn efficiency_score(&self) -> f64 {
        ratio(
            self.cache_read_tokens,
            self.input_tokens + self.cache_creation_tokens() + self.cache_read_tokens,
        )
    }

    pub fn add(&mut self, o: &Sums) {
        self.responses += o.responses;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_write_5m_tokens += o.cache_write_5m_tokens;
        self.cache_write_1h_tokens += o.cache_write_1h_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.web_search_requests += o.web_search_requests;
        self.cost_usd += o.cost_usd;
        self.cache_savings_usd += o.cache_savings_usd;
        self.unpriced_responses += o.unpriced_responses;
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// One billed response, as the aggregates need it.
#[derive(Debug, Clone)]
pub struct FactRow {
    /// The row id: facts are added to a day's sums in this order (see [`aggregate_days`]).
    pub id: i64,
    pub ts: i64,
    /// Shared among the facts of one load: a history has a few thousand sessions and a
    /// few dozen projects and models across hundreds of thousands of facts.
    pub session_id: Option<Arc<str>>,
    pub project_path: Option<Arc<str>>,
    pub model: Option<Arc<str>>,
    pub sums: Sums,
}

/// The columns [`FactReader::read`] reads, in order.
pub const FACT_COLUMNS: &str = "ts, session_id, project_path, model, input_tokens, output_tokens, \
     cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, web_search_requests, \
     cost_usd, cache_savings_usd, priced, id";

/// Reads facts from rows of [`FACT_COLUMNS`], sharing each distinct session, project and
/// model among them: one allocation per distinct text instead of three per fact.
#[derive(Default)]
pub struct FactReader {
    texts: TextPool,
}

impl FactReader {
    pub fn read(&mut self, r: &rusqlite::Row) -> rusqlite::Result<FactRow> {
        self.read_with(r, text_or_null(r, 2)?, text_or_null(r, 3)?)
    }

    /// [`FactReader::read`], given the row's project path and model already borrowed.
    fn read_with(
        &mut self,
        r: &rusqlite::Row,
        project_path: Option<&str>,
        model: Option<&str>,
    ) -> rusqlite::Result<FactRow> {
        let priced: bool = r.get(12)?;
        Ok(FactRow {
            id: r.get(13)?,
            ts: r.get(0)?,
            session_id: self.share(text_or_null(r, 1)?),
            project_path: self.share(project_path),
            model: self.share(model),
            sums: Sums {
                responses: 1,
                input_tokens: r.get(4)?,
                output_tokens: r.get(5)?,
                cache_write_5m_tokens: r.get(6)?,
                cache_write_1h_tokens: r.get(7)?,
                cache_read_tokens: r.get(8)?,
                web_search_requests: r.get(9)?,
                cost_usd: r.get(10)?,
                cache_savings_usd: r.get(11)?,
                unpriced_responses: u64::from(!priced),
            },
        })
    }

    fn share(&mut self, text: Option<&str>) -> Option<Arc<str>> {
        self.texts.share(text)
    }

    /// Every fact a statement of [`FACT_COLUMNS`] returns.
    pub fn read_all(
        &mut self,
        stmt: &mut rusqlite::Statement,
        params: impl rusqlite::Params,
    ) -> rusqlite::Result<Vec<FactRow>> {
        let mut rows = stmt.query(params)?;
        let mut facts = Vec::new();
        while let Some(row) = rows.next()? {
            facts.push(self.read(row)?);
        }
        Ok(facts)
    }
}

/// Billed facts with `lo <= ts < hi`, oldest first.
pub fn facts_between(conn: &Connection, lo: i64, hi: i64) -> Result<Vec<FactRow>, StoreError> {
    facts_between_where(conn, lo, hi, |_, _| true)
}

/// Billed facts with `lo <= ts < hi` whose project path and model `keep` accepts, oldest
/// first, ties in row order. `keep` sees the two values borrowed from the row, so a fact
/// it refuses costs no copy: a filtered report passes over every fact but keeps few.
pub fn facts_between_where<K>(
    conn: &Connection,
    lo: i64,
    hi: i64,
    keep: K,
) -> Result<Vec<FactRow>, StoreError>
where
    K: FnMut(Option<&str>, Option<&str>) -> bool + Clone + Send + Sync,
{
    facts_between_split(conn, lo, hi, keep, FactSplit::default())
}

/// How a pass over the facts is split over cores.
#[derive(Debug, Clone, Copy)]
pub struct FactSplit {
    /// Connections reading a part each (1: read on the caller's).
    pub readers: usize,
    /// Fewer facts than this are read on one connection.
    pub min_facts: i64,
}

impl Default for FactSplit {
    fn default() -> Self {
        FactSplit {
            readers: snapshot_readers::reader_count(),
            // Opening a connection costs about what reading this many facts does.
            min_facts: 16_384,
        }
    }
}

/// [`facts_between_where`], split as told (tests compare the splits).
pub fn facts_between_split<K>(
    conn: &Connection,
    lo: i64,
    hi: i64,
    keep: K,
    split: FactSplit,
) -> Result<Vec<FactRow>, StoreError>
where
    K: FnMut(Option<&str>, Option<&str>) -> bool + Clone + Send + Sync,
{
    let ranges = id_ranges(conn, split)?;
    let every_fact = lo == i64::MIN && hi == i64::MAX;
    if !every_fact && facts_in(conn, lo, hi, ranges.span / 4)? < ranges.span / 4 {
        // A part of the history: the ts index finds its facts, a table lookup each.
        let sql = format!(
            "SELECT {FACT_COLUMNS} FROM billed_responses WHERE ts >= ?1 AND ts < ?2 \
             ORDER BY ts, id"
        );
        return read_facts(conn, &sql, [lo, hi], keep, 0);
    }
    // Most of it: passes over the table in row order (`+ts` keeps SQLite off the ts
    // index), split over cores, and a sort in memory beat a walk of the index with a
    // table lookup per row. The sort is stable, so ties stay in row order.
    let sql = format!(
        "SELECT {FACT_COLUMNS} FROM billed_responses \
         WHERE id BETWEEN ?1 AND ?2 AND +ts >= ?3 AND +ts < ?4 ORDER BY id"
    );
    // Each part is sorted on its own core; the sort of their concatenation then only
    // merges them (it finds the sorted runs), and is stable: ties stay in row order.
    let read_sorted = |c: &Connection, (first, last): (i64, i64), keep: K| {
        let room = ranges.rows_between(first, last);
        let mut part = read_facts(c, &sql, [first, last, lo, hi], keep, room)?;
        part.sort_by_key(|f| f.ts);
        Ok(part)
    };
    let parts = ranges.parts.len();
    match snapshot_readers::read_in_parts(conn, parts, |c, part| {
        read_sorted(c, ranges.parts[part], keep.clone())
    })? {
        Some(parts) => {
            let mut parts = parts.into_iter();
            let mut facts = parts.next().unwrap_or_default();
            for mut part in parts {
                facts.append(&mut part);
            }
            facts.sort_by_key(|f| f.ts);
            Ok(facts)
        }
        None => read_sorted(conn, (i64::MIN, i64::MAX), keep),
    }
}

/// Billed facts with `lo <= ts < hi` whose project path and model `keep` accepts,
/// oldest first (ties in row order), handed to `visit` one at a time as the ts index
/// yields them: memory stays flat whatever the range (an export streams this way).
/// One statement, so one committed state.
pub fn for_each_fact_between<E: From<rusqlite::Error>>(
    conn: &Connection,
    lo: i64,
    hi: i64,
    mut keep: impl FnMut(Option<&str>, Option<&str>) -> bool,
    mut visit: impl FnMut(FactRow) -> Result<(), E>,
) -> Result<(), E> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FACT_COLUMNS} FROM billed_responses WHERE ts >= ?1 AND ts < ?2 ORDER BY ts, id"
    ))?;
    let mut rows = stmt.query([lo, hi])?;
    let mut reader = FactReader::default();
    while let Some(row) = rows.next()? {
        let (project_path, model) = (text_or_null(row, 2)?, text_or_null(row, 3)?);
        if keep(project_path, model) {
            visit(reader.read_with(row, project_path, model)?)?;
        }
    }
    Ok(())
}

/// How many billed and replayed facts have `lo <= ts < hi`, up to `enough`: counted in
/// the ts index, which it walks no further than that.
fn facts_in(conn: &Connection, lo: i64, hi: i64, enough: i64) -> Result<i64, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT count(*) FROM (SELECT 1 FROM responses WHERE ts >= ?1 AND ts < ?2 LIMIT ?3)",
    )?;
    Ok(stmt.query_row([lo, hi, enough], |r| r.get(0))?)
}

/// The facts a statement of [`FACT_COLUMNS`] returns that `keep` accepts, in its order.
fn read_facts(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    mut keep: impl FnMut(Option<&str>, Option<&str>) -> bool,
    room: usize,
) -> Result<Vec<FactRow>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut reader = FactReader::default();
    // Room for every row asked for, so the facts are never moved as they grow; room a
    // filter leaves empty is never touched, so it costs address space, not memory.
    let mut facts = Vec::with_capacity(room);
    while let Some(row) = rows.next()? {
        let (project_path, model) = (text_or_null(row, 2)?, text_or_null(row, 3)?);
        if keep(project_path, model) {
            facts.push(reader.read_with(row, project_path, model)?);
        }
    }
    Ok(facts)
}

/// The fact table's row ids, split for [`snapshot_readers::read_in_parts`].
struct IdRanges {
    /// Inclusive ranges of about equal size covering every id; one for a small table.
    /// They come from the ids now but cover every id whatever is committed later, so
    /// only their balance depends on the moment.
    parts: Vec<(i64, i64)>,
    /// The smallest and largest id.
    ids: (i64, i64),
    /// Largest id - smallest + 1: about the number of rows.
    span: i64,
}

impl IdRanges {
    /// At most how many rows ids `first..=last` hold now.
    fn rows_between(&self, first: i64, last: i64) -> usize {
        let (first, last) = (first.max(self.ids.0), last.min(self.ids.1));
        usize::try_from(last.saturating_sub(first).saturating_add(1)).unwrap_or(0)
    }
}

fn id_ranges(conn: &Connection, split: FactSplit) -> Result<IdRanges, StoreError> {
    // Two subqueries: SQLite reads a lone min() or max() from the b-tree's edge, but
    // scans the table for both in one query.
    let mut stmt = conn.prepare_cached(
        "SELECT (SELECT min(id) FROM responses), (SELECT max(id) FROM responses)",
    )?;
    let (first, last): (Option<i64>, Option<i64>) =
        stmt.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let ids = match (first, last) {
        (Some(f), Some(l)) => (f, l),
        _ => (0, -1),
    };
    let (first, span) = (ids.0, ids.1.saturating_sub(ids.0).saturating_add(1));
    let parts = split.readers;
    if parts < 2 || span < split.min_facts {
        return Ok(IdRanges {
            parts: vec![(i64::MIN, i64::MAX)],
            ids,
            span,
        });
    }
    // Each part ends just before the next starts, the first from the smallest id an
    // i64 holds and the last to the largest: together they cover every id exactly once,
    // also where a start saturates (a part is then empty).
    let (n, step) = (parts as i64, span / parts as i64);
    let start = |i: i64| match i {
        0 => i64::MIN,
        _ => first.saturating_add(i * step),
    };
    let parts = (0..n)
        .map(|i| {
            let end = if i == n - 1 {
                i64::MAX
            } else {
                start(i + 1) - 1
            };
            (start(i), end)
        })
        .collect();
    Ok(IdRanges { parts, ids, span })
}

/// A fact's shared text as an aggregate keeps it.
fn owned(text: &Option<Arc<str>>) -> Option<String> {
    text.as_deref().map(str::to_owned)
}

/// A text column borrowed from its row.
fn text_or_null<'r>(row: &'r rusqlite::Row, i: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(i)?.as_str_or_null().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The name a model is reported under.
pub fn model_label(model: Option<&str>) -> &str {
    model.unwrap_or("unknown")
}

/// One day in one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct DayAggregate {
    pub date: Date,
    pub sums: Sums,
    pub sessions: BTreeSet<String>,
    pub models: BTreeMap<String, Sums>,
    /// Responses per local hour of the day.
    pub hourly: [u64; 24],
}

impl DayAggregate {
    pub fn new(date: Date) -> Self {
        DayAggregate {
            date,
            sums: Sums::default(),
            sessions: BTreeSet::new(),
            models: BTreeMap::new(),
            hourly: [0; 24],
        }
    }

    pub fn add(&mut self, f: &FactRow, local_hour: usize) {
        self.add_counted(f, local_hour, true);
    }

    /// [`DayAggregate::add`], told whether the fact's session may be new to the day
    /// (false: it is the session just added).
    fn add_counted(&mut self, f: &FactRow, local_hour: usize, session_may_be_new: bool) {
        self.sums.add(&f.sums);
        if let (Some(s), true) = (&f.session_id, session_may_be_new) {
            if !self.sessions.contains(&**s) {
                self.sessions.insert(s.to_string());
            }
        }
        let label = model_label(f.model.as_deref());
        match self.models.get_mut(label) {
            Some(m) => m.add(&f.sums),
            None => {
                self.models.insert(label.to_owned(), f.sums.clone());
            }
        }
        self.hourly[local_hour] += 1;
    }

    /// `models_used`: the day's models, sorted, comma-separated.
    pub fn models_used(&self) -> String {
        self.models.keys().cloned().collect::<Vec<_>>().join(",")
    }

    /// `model_breakdown` JSON: seed 004's `{"model": {"tokens", "cost"}}` plus the split.
    pub fn model_breakdown_json(&self) -> String {
        let map: BTreeMap<&str, serde_json::Value> = self
            .models
            .iter()
            .map(|(m, s)| {
                (
                    m.as_str(),
                    serde_json::json!({
                        "tokens": s.total_tokens(),
                        "cost": s.cost_usd,
                        "responses": s.responses,
                        "inputTokens": s.input_tokens,
                        "outputTokens": s.output_tokens,
                        "cacheCreationTokens": s.cache_creation_tokens(),
                        "cacheReadTokens": s.cache_read_tokens,
                        "unpricedResponses": s.unpriced_responses,
                    }),
                )
            })
            .collect();
        serde_json::to_string(&map).expect("a map of numbers serialises")
    }

    /// `hourly_distribution` JSON: `{"0": n, ..., "23": n}` in hour order.
    pub fn hourly_json(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(24 * 8);
        for (h, n) in self.hourly.iter().enumerate() {
            let sep = if h == 0 { '{' } else { ',' };
            write!(out, "{sep}\"{h}\":{n}").expect("writing to a String cannot fail");
        }
        out.push('}');
        out
    }
}

/// Facts in row (id) order, the order a day's, hour's, project day's and session's sums
/// add them in (see [`aggregate_days`]).
pub fn in_row_order(facts: &[FactRow]) -> Vec<&FactRow> {
    let mut ordered: Vec<&FactRow> = facts.iter().collect();
    if !ordered.is_sorted_by_key(|f| f.id) {
        ordered.sort_by_key(|f| f.id);
    }
    ordered
}

/// Groups facts by local day in `tz`.
///
/// A day adds its facts in row order (id), not time order: a later ingest inserts rows
/// with larger ids, so adding them to the stored sums gives the same floating-point
/// costs, to the last digit, as adding every fact again (see [`refresh`]). A first
/// ingest inserts in time order, so there both orders are the same.
pub fn aggregate_days(facts: &[FactRow], tz: &TimeZone) -> BTreeMap<Date, DayAggregate> {
    let mut days: BTreeMap<Date, DayAggregate> = BTreeMap::new();
    // Facts in row order mostly come day after day and session after session: the
    // day being added to is held out of the map, and a session just added is not
    // looked up again.
    let mut current: Option<DayAggregate> = None;
    let mut last_session: Option<&Arc<str>> = None;
    for f in in_row_order(facts) {
        let local = local_time(f.ts, tz);
        let date = local.date();
        let day = match &mut current {
            Some(day) if day.date == date => day,
            _ => {
                if let Some(done) = current.take() {
                    days.insert(done.date, done);
                }
                last_session = None;
                current.insert(
                    days.remove(&date)
                        .unwrap_or_else(|| DayAggregate::new(date)),
                )
            }
        };
        let new_session = match (&f.session_id, last_session) {
            (Some(s), Some(last)) => !Arc::ptr_eq(s, last),
            (Some(_), None) => true,
            (None, _) => false,
        };
        day.add_counted(f, local.hour() as usize, new_session);
        if f.session_id.is_some() {
            last_session = f.session_id.as_ref();
        }
    }
    if let Some(done) = current {
        days.insert(done.date, done);
    }
    days
}

/// `[start, end)` of a local day in UTC epoch ms.
pub fn day_bounds(date: Date, tz: &TimeZone) -> Result<(i64, i64), StoreError> {
    let start = date.to_zoned(tz.clone()).and_then(|z| z.start_of_day());
    let end = date
        .tomorrow()
        .and_then(|d| d.to_zoned(tz.clone()))
        .and_then(|z| z.start_of_day());
    match (start, end) {
        (Ok(s), Ok(e)) => Ok((
            s.timestamp().as_millisecond(),
            e.timestamp().as_millisecond(),
        )),
        _ => Err(StoreError::Invalid(format!("date {date} is out of range"))),
    }
}

/// The zone the daily tables are kept in (`system_config.timezone`).
pub fn store_zone(conn: &Connection) -> Result<TimeZone, StoreError> {
    let name: Option<String> = conn
        .query_row(
            "SELECT value FROM system_config WHERE key = 'timezone'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let name = name.unwrap_or_else(|| "UTC".into());
    if name == "UTC" {
        // The same zone without a look-up in the bundled database (a few million
        // instructions, once per run).
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(&name)
        .map_err(|e| StoreError::Invalid(format!("system_config timezone {name:?}: {e}")))
}

/// Session totals for `claude_sessions`, and its models for `session_models`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionAggregate {
    pub session_id: String,
    pub first_ts: i64,
    pub last_ts: i64,
    pub project_path: Option<String>,
    pub main_model: Option<String>,
    pub sums: Sums,
    /// Its billed responses per model, named as reports name them ([`model_label`]).
    pub models: BTreeMap<String, ModelResponses>,
}

/// A session's billed responses of one model, and how many of them had no price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelResponses {
    pub responses: u64,
    pub unpriced: u64,
}

impl ModelResponses {
    fn add(&mut self, s: &Sums) {
        self.responses += s.responses;
        self.unpriced += s.unpriced_responses;
    }
}

impl SessionAggregate {
    /// Adds one fact (the caller keeps row order).
    fn add(&mut self, f: &FactRow) {
        self.first_ts = self.first_ts.min(f.ts);
        self.last_ts = self.last_ts.max(f.ts);
        if self.project_path.is_none() {
            self.project_path = owned(&f.project_path);
        }
        self.sums.add(&f.sums);
        self.model_entry(model_label(f.model.as_deref()))
            .add(&f.sums);
    }

    /// Looked up before inserting: a session's facts are many, its models few.
    fn model_entry(&mut self, label: &str) -> &mut ModelResponses {
        if !self.models.contains_key(label) {
            self.models
                .insert(label.to_owned(), ModelResponses::default());
        }
        self.models.get_mut(label).expect("inserted above")
    }
}

/// Aggregates facts by session, adding them in row order like [`aggregate_days`] (so
/// the project is the first one named in row order).
pub fn aggregate_sessions(facts: &[FactRow]) -> BTreeMap<String, SessionAggregate> {
    // Per session: its sums, and its tokens per model.
    type Building = (SessionAggregate, BTreeMap<Arc<str>, u64>);
    let mut out: BTreeMap<Arc<str>, Building> = BTreeMap::new();
    for f in in_row_order(facts) {
        let Some(id) = &f.session_id else { continue };
        let (agg, models) = out.entry(id.clone()).or_insert_with(|| {
            (
                SessionAggregate {
                    session_id: id.to_string(),
                    first_ts: f.ts,
                    last_ts: f.ts,
                    project_path: owned(&f.project_path),
                    main_model: None,
                    sums: Sums::default(),
                    models: BTreeMap::new(),
                },
                BTreeMap::new(),
            )
        });
        agg.add(f);
        if let Some(m) = &f.model {
            *models.entry(m.clone()).or_default() += f.sums.total_tokens();
        }
    }
    out.into_iter()
        .map(|(k, (mut agg, models))| {
            // The main model: most tokens; ties go to the alphabetically first name.
            agg.main_model = models
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                .map(|(m, _)| m.to_string());
            (k.to_string(), agg)
        })
        .collect()
}

/// A 5-hour block (the rule in claude-code-data.md): starts at its first response
/// floored to the UTC hour; a response more than 5 h after the block start or after the
/// previous response starts a new block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockAggregate {
    pub start_ms: i64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub sums: Sums,
    pub sessions: BTreeSet<String>,
    pub models: BTreeSet<String>,
}

impl BlockAggregate {
    pub fn end_ms(&self) -> i64 {
        self.start_ms + BLOCK_MS
    }

    /// Active while now is inside the block and its last response is under 5 h old.
    pub fn is_active(&self, now_ms: i64) -> bool {
        now_ms < self.end_ms() && now_ms - self.last_ts < BLOCK_MS
    }
}

impl BlockAggregate {
    /// A block opened by the fact at `ts`: it starts on the UTC hour, and never before
    /// `floor_ms` (the prune horizon: a block after it never reaches back into kept history).
    fn opened_by(f: &FactRow, floor_ms: i64) -> BlockAggregate {
        BlockAggregate {
            start_ms: (f.ts.div_euclid(3_600_000) * 3_600_000).max(floor_ms),
            first_ts: f.ts,
            last_ts: f.ts,
            sums: Sums::default(),
            sessions: BTreeSet::new(),
            models: BTreeSet::new(),
        }
    }

    /// Whether a fact at `ts` (not earlier than any fact in the block) opens the next block.
    fn ends_before(&self, ts: i64) -> bool {
        ts - self.start_ms > BLOCK_MS || ts - self.last_ts > BLOCK_MS
    }

    /// Adds one of the block's facts; the block's facts are added in row order (see
    /// [`aggregate_blocks`]), so this leaves `first_ts` and `last_ts` alone.
    fn add(&mut self, f: &FactRow) {
        self.sums.add(&f.sums);
        if let Some(s) = &f.session_id {
            if !self.sessions.contains(&**s) {
                self.sessions.insert(s.to_string());
            }
        }
        self.models
            .insert(model_label(f.model.as_deref()).to_owned());
    }
}

/// Splits facts (oldest first) into blocks.
///
/// Which facts make a block follows time order; a block then adds its facts in row (id)
/// order, like a day (see [`aggregate_days`]): a later ingest's rows inside a stored
/// block's span have larger ids, so adding them to the stored sums gives the same
/// floating-point cost, to the last digit, as adding every fact again (see [`refresh`]).
pub fn aggregate_blocks(facts: &[FactRow]) -> Vec<BlockAggregate> {
    aggregate_blocks_from(facts, i64::MIN)
}

/// Splits facts (oldest first) into blocks that start no earlier than `floor_ms` (the
/// prune horizon: a block after it never reaches back into kept history).
fn aggregate_blocks_from(facts: &[FactRow], floor_ms: i64) -> Vec<BlockAggregate> {
    chain_blocks(&facts.iter().collect::<Vec<_>>(), floor_ms)
}

/// [`aggregate_blocks_from`] of facts given by reference.
fn chain_blocks(facts: &[&FactRow], floor_ms: i64) -> Vec<BlockAggregate> {
    let mut blocks: Vec<BlockAggregate> = Vec::new();
    let mut rest = facts;
    while let Some(first) = rest.first() {
        let mut block = BlockAggregate::opened_by(first, floor_ms);
        let mut len = 1;
        for f in &rest[1..] {
            if block.ends_before(f.ts) {
                break;
            }
            block.last_ts = f.ts;
            len += 1;
        }
        let mut in_row_order = rest[..len].to_vec();
        if !in_row_order.is_sorted_by_key(|f| f.id) {
            in_row_order.sort_by_key(|f| f.id);
        }
        for f in in_row_order {
            block.add(f);
        }
        blocks.push(block);
        rest = &rest[len..];
    }
    blocks
}

/// The history `ctm db prune --facts-older-than` left: the facts before `horizon_ms`
/// are gone, so the rows derived from them are kept as they were.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// Start of a day in the store's zone; every fact before it was deleted.
    pub horizon_ms: i64,
    /// That day: daily rows before it are kept.
    pub first_day: Date,
    /// Blocks are recomputed from facts at or after this instant: the end of the last
    /// kept block when it reaches past the horizon (its later facts stay counted in it).
    pub blocks_from_ms: i64,
}

impl Kept {
    /// What the store keeps, if facts were ever pruned.
    pub fn of(conn: &Connection) -> Result<Option<Kept>, StoreError> {
        let Some(horizon_ms) = crate::retention::facts_horizon(conn)? else {
            return Ok(None);
        };
        let first_day = Timestamp::from_millisecond(horizon_ms)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(store_zone(conn)?)
            .date();
        let last_kept_block: Option<String> = conn
            .query_row(
                "SELECT start_time FROM usage_blocks WHERE start_time < ?1 ORDER BY start_time DESC LIMIT 1",
                [utc::format(horizon_ms)],
                |r| r.get(0),
            )
            .optional()?;
        let blocks_from_ms = match last_kept_block {
            // A response belongs to a block while it is at most 5 h after the start.
            Some(s) => {
                (parse_stored_time("usage_blocks start_time", &s)? + BLOCK_MS + 1).max(horizon_ms)
            }
            None => horizon_ms,
        };
        Ok(Some(Kept {
            horizon_ms,
            first_day,
            blocks_from_ms,
        }))
    }

    /// A stored session row that started before the horizon is history.
    fn keeps_session(&self, session_start: Option<&str>) -> bool {
        session_start.is_some_and(|s| s < utc::format(self.horizon_ms).as_str())
    }
}

/// A stored time read back ([`utc::parse`]), or an error naming where it was.
pub(crate) fn parse_stored_time(what: &str, s: &str) -> Result<i64, StoreError> {
    utc::parse(s).ok_or_else(|| {
        StoreError::Invalid(format!(
            "{what} {s:?} is not a time ctm writes; `ctm db check` lists what differs"
        ))
    })
}

/// The stored `session_start` of a session, if it has a row.
fn stored_session_start(conn: &Connection, session: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT session_start FROM claude_sessions WHERE session_id = ?1")?
        .query_row([session], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

fn local_date(ts: i64, tz: &TimeZone) -> Date {
    local_time(ts, tz).date()
}

/// The wall-clock time in `tz` at UTC epoch ms `ts` (the epoch for an instant out of
/// range). Without a `Zoned`, which would clone the zone for every fact.
pub fn local_time(ts: i64, tz: &TimeZone) -> jiff::civil::DateTime {
    tz.to_datetime(Timestamp::from_millisecond(ts).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Recomputes what `touched` affects.
pub fn refresh(tx: &Transaction, touched: &Touched, now_ms: i64) -> Result<(), StoreError> {
    if touched.is_empty() {
        return Ok(());
    }
    let tz = store_zone(tx)?;
    let kept = Kept::of(tx)?;
    // The new facts, read once (in row order) for the sessions, days and blocks they
    // are added to.
    let new = match touched.inserted_after {
        Some(after) => facts_inserted_after(tx, after)?,
        None => Vec::new(),
    };
    let mut new_by_session: BTreeMap<&str, Vec<&FactRow>> = BTreeMap::new();
    let mut new_by_day: BTreeMap<Date, Vec<&FactRow>> = BTreeMap::new();
    for f in &new {
        if let Some(s) = &f.session_id {
            new_by_session.entry(s).or_default().push(f);
        }
        new_by_day.entry(local_date(f.ts, &tz)).or_default().push(f);
    }
    for session in &touched.sessions {
        if let Some(k) = &kept {
            if k.keeps_session(stored_session_start(tx, session)?.as_deref()) {
                continue;
            }
        }
        let appended = match touched.inserted_after {
            Some(after) if !touched.rewritten_sessions.contains(session) => {
                let new = new_by_session.get(session.as_str());
                append_to_session(tx, session, after, new.map_or(&[], Vec::as_slice))?
            }
            _ => false,
        };
        if !appended {
            refresh_session(tx, session)?;
        }
    }
    let days: BTreeSet<Date> = touched
        .instants
        .iter()
        .map(|&ts| local_date(ts, &tz))
        .collect();
    let rewritten: BTreeSet<Date> = touched
        .rewritten
        .iter()
        .map(|&ts| local_date(ts, &tz))
        .collect();
    for date in days {
        if kept.as_ref().is_some_and(|k| date < k.first_day) {
            continue;
        }
        let appended = match touched.inserted_after {
            Some(after) if !rewritten.contains(&date) => {
                let new = new_by_day.get(&date);
                append_to_day(tx, date, &tz, after, new.map_or(&[], Vec::as_slice))?
            }
            _ => false,
        };
        if !appended {
            refresh_day(tx, date, &tz)?;
        }
    }
    let recompute = append_to_blocks(tx, touched, &new, now_ms, kept.as_ref())?;
    refresh_blocks(tx, &recompute, now_ms, kept.as_ref())?;
    Ok(())
}

/// The billed facts with an id above `after` (those one write inserted), in row order.
fn facts_inserted_after(tx: &Transaction, after: i64) -> Result<Vec<FactRow>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {FACT_COLUMNS} FROM billed_responses WHERE id > ?1 ORDER BY id"
    ))?;
    Ok(FactReader::default().read_all(&mut stmt, [after])?)
}

/// Where a stored block starts and the span of its responses (`None` on a row without
/// its figures, kept from before migration 8).
struct StoredSpan {
    start: String,
    start_ms: i64,
    span: Option<(i64, i64)>,
}

/// Adds new facts to the blocks where that changes no other block, and returns the
/// instants whose blocks must be recomputed instead ([`refresh_blocks`], run after this,
/// which rewrites any block it passes from the facts): every changed or reclassified
/// response's, and every new fact's that this cannot place.
///
/// A new fact inside a stored block's span (from its first to its last response)
/// changes no boundary: every gap it splits was at most 5 h, and the block's start and
/// last response stay. New facts in the gap after a block extend it or open new blocks;
/// that stays local when the next stored block's first response still opens a block
/// (its start and everything after are then as stored). Which facts a block held is
/// known (every billed fact in its span), and as a block adds its facts in row order and
/// new rows have larger ids, stored sums + new facts in row order is the very sum a
/// recompute makes. A block or gap next to a changed response is recomputed, as are
/// new facts in kept history (see [`Kept`]).
fn append_to_blocks(
    tx: &Transaction,
    touched: &Touched,
    new: &[FactRow],
    now_ms: i64,
    kept: Option<&Kept>,
) -> Result<BTreeSet<i64>, StoreError> {
    let Some(after) = touched.inserted_after else {
        return Ok(touched.instants.clone());
    };
    // Time order (ties by row id), the order a chain of blocks is made in.
    let mut new: Vec<&FactRow> = new.iter().collect();
    new.sort_by_key(|f| (f.ts, f.id));
    let (Some(lo), Some(hi)) = (new.first().map(|f| f.ts), new.last().map(|f| f.ts)) else {
        return Ok(touched.instants.clone());
    };
    let (horizon_ms, blocks_from_ms) =
        kept.map_or((i64::MIN, i64::MIN), |k| (k.horizon_ms, k.blocks_from_ms));
    // Every stored block that can hold or precede a new fact (a block starts at most
    // 5 h before its last response), and the first one after them all.
    let from = lo.saturating_sub(BLOCK_MS);
    let mut spans: Vec<StoredSpan> = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT start_time, first_ts, last_ts FROM usage_blocks WHERE start_time >= ?1 \
             ORDER BY start_time",
        )?;
        let mut rows = stmt.query([utc::format(from)])?;
        while let Some(r) = rows.next()? {
            let start: String = r.get(0)?;
            let start_ms = parse_stored_time("usage_blocks start_time", &start)?;
            let first: Option<i64> = r.get(1)?;
            let last: Option<i64> = r.get(2)?;
            spans.push(StoredSpan {
                start,
                start_ms,
                span: first.zip(last),
            });
            if start_ms > hi {
                break;
            }
        }
    }
    // Position p of an instant: after the p stored blocks (of `spans`) that start at or
    // before it. Position p holds block p - 1's span and the gap after it.
    let position = |ts: i64| spans.partition_point(|s| s.start_ms <= ts);
    let dirty: BTreeSet<usize> = touched.rewritten.iter().map(|&ts| position(ts)).collect();
    let mut recompute = touched.rewritten.clone();
    // Per stored block: the new facts it takes and its new last response.
    let mut grown: Vec<(usize, Vec<&FactRow>, i64)> = Vec::new();
    let mut opened: Vec<BlockAggregate> = Vec::new();
    let mut rest = new.as_slice();
    while let Some(first) = rest.first() {
        let p = position(first.ts);
        let len = rest.partition_point(|f| position(f.ts) == p);
        let (here, later) = rest.split_at(len);
        rest = later;
        let prev = p.checked_sub(1).map(|i| &spans[i]);
        let prev_span = prev.and_then(|b| b.span);
        let placeable = !dirty.contains(&p)
            && first.ts >= blocks_from_ms
            && match (prev, prev_span) {
                (None, _) => true,
                (Some(_), None) => false,
                // Not kept, and no fact between the block's start and its first response.
                (Some(_), Some((first_ts, _))) => {
                    first_ts >= blocks_from_ms && first.ts >= first_ts
                }
            };
        if !placeable {
            recompute.extend(here.iter().map(|f| f.ts));
            continue;
        }
        let inside = prev_span.map_or(0, |(_, last)| here.partition_point(|f| f.ts <= last));
        let (inside, gap) = here.split_at(inside);
        // The gap: extend the previous block while the rule allows, then open blocks.
        let mut end = prev.zip(prev_span).map(|(b, (_, last))| (b.start_ms, last));
        let mut extended = 0;
        if let Some((start, last)) = &mut end {
            for f in gap {
                if f.ts - *start > BLOCK_MS || f.ts - *last > BLOCK_MS {
                    break;
                }
                *last = f.ts;
                extended += 1;
            }
        }
        let prev_end = end;
        let gap_blocks = chain_blocks(&gap[extended..], horizon_ms);
        if let Some(b) = gap_blocks.last() {
            end = Some((b.start_ms, b.last_ts));
        }
        // The next stored block must still open where and with what it did.
        let next_opens = gap.is_empty()
            || match spans.get(p) {
                None => true,
                Some(next) => {
                    !dirty.contains(&(p + 1))
                        && next.span.is_some_and(|(first_ts, _)| {
                            end.is_none_or(|(start, last)| {
                                first_ts - start > BLOCK_MS || first_ts - last > BLOCK_MS
                            })
                        })
                }
            };
        if !next_opens {
            recompute.extend(here.iter().map(|f| f.ts));
            continue;
        }
        if let Some((_, last)) = prev_end {
            let mut facts: Vec<&FactRow> = inside.iter().chain(&gap[..extended]).copied().collect();
            if !facts.is_empty() {
                facts.sort_by_key(|f| f.id);
                grown.push((p - 1, facts, last));
            }
        }
        opened.extend(gap_blocks);
    }
    for (i, facts, last_ts) in grown {
        append_to_block(tx, &spans[i], last_ts, &facts, after, now_ms)?;
    }
    write_blocks(tx, &opened, now_ms)?;
    Ok(recompute)
}

/// Adds `new` (in row order; the block's older facts, all in its stored span, have ids
/// up to `after`) to a stored block, whose last response is now at `last_ts`.
fn append_to_block(
    tx: &Transaction,
    block: &StoredSpan,
    last_ts: i64,
    new: &[&FactRow],
    after: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    let start = block.start.as_str();
    let (first_ts, stored_last_ts) = block.span.expect("only a block with a span grows");
    let (mut sessions, mut sums, models) = tx
        .prepare_cached(
            "SELECT session_count, responses, input_tokens, output_tokens, cache_creation_tokens, \
             cache_read_tokens, cost_usd, unpriced_responses, models FROM usage_blocks WHERE start_time = ?1",
        )?
        .query_row([start], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Sums {
                    responses: r.get(1)?,
                    input_tokens: r.get(2)?,
                    output_tokens: r.get(3)?,
                    cache_write_5m_tokens: r.get(4)?,
                    cache_read_tokens: r.get(5)?,
                    cost_usd: r.get(6)?,
                    unpriced_responses: r.get(7)?,
                    ..Sums::default()
                },
                r.get::<_, String>(8)?,
            ))
        })?;
    let mut models: BTreeSet<String> = serde_json::from_str(&models)
        .map_err(|e| StoreError::Invalid(format!("usage_blocks {start} models {models:?}: {e}")))?;
    let mut had_session = tx.prepare_cached(
        "SELECT 1 FROM responses WHERE session_id = ?1 AND ts >= ?2 AND ts <= ?3 AND id <= ?4 \
         AND replay_of IS NULL LIMIT 1",
    )?;
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for f in new {
        // The cache writes as one figure, as the row keeps them.
        let s = &f.sums;
        sums.add(&Sums {
            cache_write_5m_tokens: s.cache_creation_tokens(),
            cache_write_1h_tokens: 0,
            web_search_requests: 0,
            cache_savings_usd: 0.0,
            ..s.clone()
        });
        if let Some(session) = f.session_id.as_deref() {
            if seen.insert(session)
                && !had_session.exists(params![session, first_ts, stored_last_ts, after])?
            {
                sessions += 1;
            }
        }
        let label = model_label(f.model.as_deref());
        if !models.contains(label) {
            models.insert(label.to_owned());
        }
    }
    let block = BlockAggregate {
        start_ms: block.start_ms,
        first_ts,
        last_ts,
        sums: Sums::default(),
        sessions: BTreeSet::new(),
        models: BTreeSet::new(),
    };
    let status = if block.is_active(now_ms) {
        "active"
    } else {
        "completed"
    };
    let models: Vec<&str> = models.iter().map(String::as_str).collect();
    tx.prepare_cached(
        "UPDATE usage_blocks SET total_tokens = ?2, session_count = ?3, status = ?4, responses = ?5, \
         input_tokens = ?6, output_tokens = ?7, cache_creation_tokens = ?8, cache_read_tokens = ?9, \
         cost_usd = ?10, unpriced_responses = ?11, models = ?12, last_ts = ?13 WHERE start_time = ?1",
    )?
    .execute(params![
        start,
        sums.total_tokens(),
        sessions,
        status,
        sums.responses,
        sums.input_tokens,
        sums.output_tokens,
        sums.cache_creation_tokens(),
        sums.cache_read_tokens,
        sums.cost_usd,
        sums.unpriced_responses,
        serde_json::to_string(&models).expect("a list of names serialises"),
        last_ts,
    ])?;
    Ok(())
}

/// Recomputes every derived table from the facts (all but the kept history, see [`Kept`]).
pub fn rebuild_all(tx: &Transaction) -> Result<(), StoreError> {
    let kept = Kept::of(tx)?;
    let (first_day, horizon_ms, blocks_from_ms) = match &kept {
        Some(k) => (k.first_day.to_string(), k.horizon_ms, k.blocks_from_ms),
        None => (String::new(), i64::MIN, i64::MIN),
    };
    for table in ["daily_usage_summary", "daily_aggregates", "cache_analytics"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE date >= ?1"),
            [&first_day],
        )?;
    }
    tx.execute(
        "DELETE FROM usage_blocks WHERE start_time >= ?1",
        [utc::format(horizon_ms)],
    )?;
    // Every session's models but those of kept sessions (see `Kept::keeps_session`),
    // at once rather than a seek per session.
    tx.execute(
        "DELETE FROM session_models WHERE session_id NOT IN (SELECT session_id FROM claude_sessions \
         WHERE session_start IS NOT NULL AND session_start < ?1 AND session_id IS NOT NULL)",
        [kept.as_ref().map_or(String::new(), |k| utc::format(k.horizon_ms))],
    )?;
    let facts = facts_between(tx, i64::MIN, i64::MAX)?;
    for agg in aggregate_sessions(&facts).values() {
        if let Some(k) = &kept {
            if k.keeps_session(stored_session_start(tx, &agg.session_id)?.as_deref()) {
                continue;
            }
        }
        write_session_row(tx, agg)?;
        insert_session_models(tx, agg)?;
    }
    let tz = store_zone(tx)?;
    for day in aggregate_days(&facts, &tz).values() {
        if kept.as_ref().is_some_and(|k| day.date < k.first_day) {
            continue;
        }
        write_day(tx, day, day.sessions.len())?;
    }
    crate::report_rows::rebuild(tx, &facts, &tz, kept.as_ref())?;
    let block_facts: Vec<FactRow> = facts
        .into_iter()
        .filter(|f| f.ts >= blocks_from_ms)
        .collect();
    write_blocks(
        tx,
        &aggregate_blocks_from(&block_facts, horizon_ms),
        now_ms(),
    )?;
    Ok(())
}

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// Adds the facts inserted after row `after` to a session's stored row, in row order:
/// the same row, to the last digit, as [`aggregate_sessions`] over all of its facts,
/// provided none of its older facts changed. Returns false, having written nothing,
/// when the row cannot be extended that way: no stored row or no older billed fact
/// (a row from before ctm), or a new fact of another model than the stored main one
/// (the main model could change, which needs every model's tokens).
fn append_to_session(
    tx: &Transaction,
    session: &str,
    after: i64,
    new: &[&FactRow],
) -> Result<bool, StoreError> {
    if new.is_empty() {
        // Only unbilled rows (replays) were added: the session is as stored.
        return Ok(true);
    }
    let had_facts = tx
        .prepare_cached(
            "SELECT 1 FROM responses WHERE session_id = ?1 AND id <= ?2 AND replay_of IS NULL LIMIT 1",
        )?
        .exists(params![session, after])?;
    if !had_facts {
        return Ok(false);
    }
    let Some(mut agg) = stored_session(tx, session)? else {
        return Ok(false);
    };
    if new
        .iter()
        .any(|f| f.model.is_some() && f.model.as_deref() != agg.main_model.as_deref())
    {
        return Ok(false);
    }
    agg.models = stored_session_models(tx, session)?;
    for f in new {
        agg.add(f);
    }
    write_session(tx, &agg)?;
    Ok(true)
}

/// The `claude_sessions` columns [`session_from_row`] reads, in order.
pub const SESSION_ROW_COLUMNS: &str =
    "session_id, session_start, session_end, input_tokens, output_tokens, \
     total_cost, cache_creation_tokens, cache_read_tokens, message_count, model_name, project_name";

/// A stored `claude_sessions` row as a [`SessionAggregate`]: only what the row holds
/// (the cache writes as one figure, in `cache_write_5m_tokens`, and no models: they are
/// in `session_models`), missing counts as 0.
pub fn session_from_row(r: &rusqlite::Row) -> Result<SessionAggregate, StoreError> {
    let session_id: String = r.get(0)?;
    let ms = |i: usize| -> Result<i64, StoreError> {
        let t: Option<String> = r.get(i)?;
        t.as_deref().and_then(utc::parse).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "claude_sessions {session_id}: time {t:?} is not RFC 3339; `ctm db check` lists what differs"
                ))
            })
    };
    let count =
        |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, Option<u64>>(i)?.unwrap_or(0)) };
    Ok(SessionAggregate {
        first_ts: ms(1)?,
        last_ts: ms(2)?,
        project_path: r.get(10)?,
        main_model: r.get(9)?,
        sums: Sums {
            responses: count(8)?,
            input_tokens: count(3)?,
            output_tokens: count(4)?,
            cache_write_5m_tokens: count(6)?,
            cache_read_tokens: count(7)?,
            cost_usd: r.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
            ..Sums::default()
        },
        models: BTreeMap::new(),
        session_id,
    })
}

/// A session's stored row, `None` when it has none or an unreadable one.
fn stored_session(tx: &Transaction, session: &str) -> Result<Option<SessionAggregate>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {SESSION_ROW_COLUMNS} FROM claude_sessions WHERE session_id = ?1"
    ))?;
    let mut rows = stmt.query([session])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    match session_from_row(row) {
        Ok(agg) => Ok(Some(agg)),
        // Recomputed from the facts instead, which rewrites the row.
        Err(StoreError::Invalid(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A session's stored `session_models` rows.
pub fn stored_session_models(
    conn: &Connection,
    session: &str,
) -> Result<BTreeMap<String, ModelResponses>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT model, responses, unpriced_responses FROM session_models WHERE session_id = ?1",
    )?;
    let mut rows = stmt.query([session])?;
    let mut models = BTreeMap::new();
    while let Some(r) = rows.next()? {
        models.insert(r.get(0)?, model_responses(r, 1)?);
    }
    Ok(models)
}

/// Every session's stored `session_models` rows, in one pass over the table.
pub fn stored_models_by_session(
    conn: &Connection,
) -> Result<BTreeMap<String, BTreeMap<String, ModelResponses>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT session_id, model, responses, unpriced_responses FROM session_models",
    )?;
    let mut rows = stmt.query([])?;
    let mut models: BTreeMap<String, BTreeMap<String, ModelResponses>> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        models
            .entry(r.get(0)?)
            .or_default()
            .insert(r.get(1)?, model_responses(r, 2)?);
    }
    Ok(models)
}

/// The billed and unpriced responses in columns `at` and `at + 1`.
fn model_responses(r: &rusqlite::Row, at: usize) -> rusqlite::Result<ModelResponses> {
    Ok(ModelResponses {
        responses: r.get(at)?,
        unpriced: r.get(at + 1)?,
    })
}

fn refresh_session(tx: &Transaction, session: &str) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {FACT_COLUMNS} FROM billed_responses WHERE session_id = ?1 ORDER BY ts"
    ))?;
    let facts = FactReader::default().read_all(&mut stmt, [session])?;
    match aggregate_sessions(&facts).get(session) {
        Some(agg) => write_session(tx, agg),
        // Every response of the session turned out to be a replay: nothing is billed.
        None => {
            tx.execute(
                "UPDATE claude_sessions SET input_tokens = 0, output_tokens = 0, total_tokens = 0, total_cost = 0, \
                 cache_creation_tokens = 0, cache_read_tokens = 0, message_count = 0, efficiency_score = 0, \
                 updated_at = CURRENT_TIMESTAMP WHERE session_id = ?1",
                [session],
            )?;
            delete_session_models(tx, session)
        }
    }
}

/// Writes a session's `claude_sessions` row and replaces its `session_models` rows.
fn write_session(tx: &Transaction, a: &SessionAggregate) -> Result<(), StoreError> {
    write_session_row(tx, a)?;
    delete_session_models(tx, &a.session_id)?;
    insert_session_models(tx, a)
}

fn delete_session_models(tx: &Transaction, session: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM session_models WHERE session_id = ?1")?
        .execute([session])?;
    Ok(())
}

fn insert_session_models(tx: &Transaction, a: &SessionAggregate) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO session_models (session_id, model, responses, unpriced_responses) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (model, n) in &a.models {
        insert.execute(params![a.session_id, model, n.responses, n.unpriced])?;
    }
    Ok(())
}

fn write_session_row(tx: &Transaction, a: &SessionAggregate) -> Result<(), StoreError> {
    let values = params![
        a.session_id,
        utc::format(a.first_ts),
        utc::format(a.last_ts),
        a.sums.input_tokens,
        a.sums.output_tokens,
        a.sums.total_tokens(),
        a.sums.cost_usd,
        a.sums.cache_creation_tokens(),
        a.sums.cache_read_tokens,
        a.main_model,
        a.project_path,
        a.sums.responses,
        a.sums.efficiency_score(),
    ];
    // UPDATE first: a pre-ctm claude_sessions may lack the UNIQUE constraint ON CONFLICT needs.
    let updated = tx
        .prepare_cached(
            "UPDATE claude_sessions SET session_start = ?2, session_end = ?3, input_tokens = ?4, output_tokens = ?5, \
             total_tokens = ?6, total_cost = ?7, cache_creation_tokens = ?8, cache_read_tokens = ?9, model_name = ?10, \
             project_name = ?11, message_count = ?12, efficiency_score = ?13, updated_at = CURRENT_TIMESTAMP \
             WHERE session_id = ?1",
        )?
        .execute(values)?;
    if updated == 0 {
        tx.prepare_cached(
            "INSERT INTO claude_sessions (session_id, session_start, session_end, input_tokens, output_tokens, \
             total_tokens, total_cost, cache_creation_tokens, cache_read_tokens, model_name, project_name, \
             message_count, efficiency_score, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        )?
        .execute(values)?;
    }
    Ok(())
}

fn refresh_day(tx: &Transaction, date: Date, tz: &TimeZone) -> Result<(), StoreError> {
    let (lo, hi) = day_bounds(date, tz)?;
    let facts = facts_between(tx, lo, hi)?;
    // The day's rows of the report tables come from the same read (a second read of
    // every touched day cost growth at 1 GB about 35 ms).
    crate::report_rows::refresh_day(tx, date, &facts, tz)?;
    match aggregate_days(&facts, tz).remove(&date) {
        Some(day) => write_day(tx, &day, day.sessions.len()),
        None => {
            let d = date.to_string();
            tx.execute("DELETE FROM daily_usage_summary WHERE date = ?1", [&d])?;
            tx.execute("DELETE FROM daily_aggregates WHERE date = ?1", [&d])?;
            tx.execute("DELETE FROM cache_analytics WHERE date = ?1", [&d])?;
            Ok(())
        }
    }
}

/// Adds the facts inserted after row `after` to a day's stored rows, in row order: the
/// same sums, to the last digit, as [`aggregate_days`] over all of the day's facts,
/// provided no older fact of the day changed. Returns false, having written nothing,
/// when the day has no older billed fact or no complete stored rows to add to (it is
/// then recomputed).
fn append_to_day(
    tx: &Transaction,
    date: Date,
    tz: &TimeZone,
    after: i64,
    new: &[&FactRow],
) -> Result<bool, StoreError> {
    let (lo, hi) = day_bounds(date, tz)?;
    if new.is_empty() {
        // Only unbilled rows (replays) were added: the day is as stored.
        return Ok(true);
    }
    // A stored row without older facts is not theirs to add to.
    let had_facts = tx
        .prepare_cached(
            "SELECT 1 FROM responses WHERE ts >= ?1 AND ts < ?2 AND id <= ?3 AND replay_of IS NULL LIMIT 1",
        )?
        .exists([lo, hi, after])?;
    if !had_facts {
        return Ok(false);
    }
    let Some((mut day, mut session_count)) = stored_day(tx, date)? else {
        return Ok(false);
    };
    let mut had_session = tx.prepare_cached(
        "SELECT 1 FROM responses WHERE session_id = ?1 AND ts >= ?2 AND ts < ?3 AND id <= ?4 \
         AND replay_of IS NULL LIMIT 1",
    )?;
    for f in new {
        let local = local_time(f.ts, tz);
        if let Some(s) = &f.session_id {
            if !day.sessions.contains(&**s) && !had_session.exists(params![s, lo, hi, after])? {
                session_count += 1;
            }
        }
        day.add(f, local.hour() as usize);
    }
    write_day(tx, &day, session_count)?;
    crate::report_rows::append_to_day(tx, date, new, tz)?;
    Ok(true)
}

/// A day's stored rows as a [`DayAggregate`] whose `sessions` is empty, and its session
/// count; `None` when a row is missing or unreadable. Only what the rows hold is filled
/// in: the cache writes of each model sit in `cache_write_5m_tokens`, and web searches
/// are not kept, which is all [`write_day`] needs.
fn stored_day(tx: &Transaction, date: Date) -> Result<Option<(DayAggregate, usize)>, StoreError> {
    let row = tx
        .prepare_cached(
            "SELECT a.total_cost_usd, a.session_count, a.model_breakdown, a.hourly_distribution, \
             c.cache_savings_usd FROM daily_aggregates a \
             JOIN cache_analytics c ON c.date = a.date \
             JOIN daily_usage_summary u ON u.date = a.date WHERE a.date = ?1",
        )?
        .query_row([date.to_string()], |r| {
            Ok((
                r.get::<_, Option<f64>>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<f64>>(4)?,
            ))
        })
        .optional()?;
    let Some((Some(cost), Some(sessions), Some(breakdown), Some(hourly), Some(savings))) = row
    else {
        return Ok(None);
    };
    let (Ok(models), Some(hourly)) = (parse_breakdown(&breakdown), parse_hourly(&hourly)) else {
        return Ok(None);
    };
    let mut day = DayAggregate::new(date);
    for m in models.values() {
        day.sums.add(m);
    }
    // The day's own sums in row order, not the sum of its models' sums.
    day.sums.cost_usd = cost;
    day.sums.cache_savings_usd = savings;
    day.models = models;
    day.hourly = hourly;
    Ok(Some((day, usize::try_from(sessions).unwrap_or(0))))
}

/// A stored `model_breakdown`: each model's sums as [`DayAggregate::model_breakdown_json`]
/// wrote them (the cache writes as one figure, in `cache_write_5m_tokens`). Costs are
/// read from their shortest round-trip text with Rust's exact float parser, so they
/// come back bit for bit and a refresh can add to them.
pub fn parse_breakdown(json: &str) -> Result<BTreeMap<String, Sums>, StoreError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Stored<'a> {
        #[serde(borrow)]
        cost: &'a serde_json::value::RawValue,
        responses: u64,
        input_tokens: u64,
        output_tokens: u64,
        cache_creation_tokens: u64,
        cache_read_tokens: u64,
        // Rows written before unpriced responses were counted lack it.
        #[serde(default)]
        unpriced_responses: u64,
    }
    let invalid = |e: String| StoreError::Invalid(format!("model_breakdown: {e}"));
    let stored: BTreeMap<String, Stored> =
        serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
    stored
        .into_iter()
        .map(|(model, m)| {
            let cost: f64 = m
                .cost
                .get()
                .parse()
                .map_err(|_| invalid(format!("{model}: cost {} is not a number", m.cost)))?;
            Ok((
                model,
                Sums {
                    responses: m.responses,
                    input_tokens: m.input_tokens,
                    output_tokens: m.output_tokens,
                    cache_write_5m_tokens: m.cache_creation_tokens,
                    cache_read_tokens: m.cache_read_tokens,
                    cost_usd: cost,
                    unpriced_responses: m.unpriced_responses,
                    ..Sums::default()
                },
            ))
        })
        .collect()
}

/// A stored `hourly_distribution` (`{"0": n, ..., "23": n}`).
fn parse_hourly(json: &str) -> Option<[u64; 24]> {
    let stored: BTreeMap<String, u64> = serde_json::from_str(json).ok()?;
    let mut hourly = [0; 24];
    for (hour, n) in stored {
        *hourly.get_mut(hour.parse::<usize>().ok()?)? = n;
    }
    Some(hourly)
}

/// Writes a day's three rows; `session_count` is how many sessions the day has in all.
fn write_day(tx: &Transaction, day: &DayAggregate, session_count: usize) -> Result<(), StoreError> {
    let s = &day.sums;
    let date = day.date.to_string();
    tx.prepare_cached(
        "INSERT INTO daily_usage_summary (date, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, \
         total_tokens, cost_usd, session_count, models_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT(date) DO UPDATE SET input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, \
         cache_creation_tokens = excluded.cache_creation_tokens, cache_read_tokens = excluded.cache_read_tokens, \
         total_tokens = excluded.total_tokens, cost_usd = excluded.cost_usd, session_count = excluded.session_count, \
         models_used = excluded.models_used, updated_at = CURRENT_TIMESTAMP",
    )?
    .execute(params![
        date,
        s.input_tokens,
        s.output_tokens,
        s.cache_creation_tokens(),
        s.cache_read_tokens,
        s.total_tokens(),
        s.cost_usd,
        session_count,
        day.models_used()
    ])?;
    tx.prepare_cached(
        "INSERT INTO daily_aggregates (date, total_input_tokens, total_output_tokens, total_cache_read_tokens, \
         total_cache_write_tokens, total_cost_usd, avg_cache_hit_rate, session_count, model_breakdown, \
         hourly_distribution) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT(date) DO UPDATE SET total_input_tokens = excluded.total_input_tokens, \
         total_output_tokens = excluded.total_output_tokens, total_cache_read_tokens = excluded.total_cache_read_tokens, \
         total_cache_write_tokens = excluded.total_cache_write_tokens, total_cost_usd = excluded.total_cost_usd, \
         avg_cache_hit_rate = excluded.avg_cache_hit_rate, session_count = excluded.session_count, \
         model_breakdown = excluded.model_breakdown, hourly_distribution = excluded.hourly_distribution, \
         updated_at = datetime('now')",
    )?
    .execute(params![
        date,
        s.input_tokens,
        s.output_tokens,
        s.cache_read_tokens,
        s.cache_creation_tokens(),
        s.cost_usd,
        s.hit_rate(),
        session_count,
        day.model_breakdown_json(),
        day.hourly_json()
    ])?;
    tx.prepare_cached(
        "INSERT INTO cache_analytics (date, total_cache_tokens, cache_hit_tokens, cache_savings_usd, hit_rate) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(date) DO UPDATE SET total_cache_tokens = excluded.total_cache_tokens, \
         cache_hit_tokens = excluded.cache_hit_tokens, cache_savings_usd = excluded.cache_savings_usd, \
         hit_rate = excluded.hit_rate",
    )?
    .execute(params![
        date,
        s.cache_creation_tokens() + s.cache_read_tokens,
        s.cache_read_tokens,
        s.cache_savings_usd,
        s.hit_rate()
    ])?;
    Ok(())
}

/// Recomputes the blocks the touched instants can change.
///
/// A block's start depends only on earlier facts, so the chain of blocks before a touched
/// instant stands. From the stored block that holds it, blocks are recomputed until the
/// new chain opens a block where a stored block starts: from there on the facts and so
/// the blocks are as stored, until the next touched instant. Growth spread over many old
/// sessions thus reads a few blocks' facts each, not every fact since the earliest one.
/// Kept blocks (started before the prune horizon) are never recomputed.
fn refresh_blocks(
    tx: &Transaction,
    instants: &BTreeSet<i64>,
    now_ms: i64,
    kept: Option<&Kept>,
) -> Result<(), StoreError> {
    let Some(&first) = instants.first() else {
        return Ok(());
    };
    let (horizon_ms, blocks_from_ms) =
        kept.map_or((i64::MIN, i64::MIN), |k| (k.horizon_ms, k.blocks_from_ms));
    let mut from_ts = first;
    loop {
        // The stored block holding `from_ts`; or an earlier one while the block before
        // reaches the restart instant (a block takes responses up to 5 h after its start,
        // inclusive, and a block opened in the next hour starts on that hour): its last
        // response, or the touched one, may lie at that very instant.
        let mut restart_ms = horizon_ms;
        {
            let mut stmt = tx.prepare_cached(
                "SELECT start_time, last_ts FROM usage_blocks WHERE start_time <= ?1 \
                 AND start_time >= ?2 ORDER BY start_time DESC",
            )?;
            let mut rows = stmt.query([utc::format(from_ts), utc::format(horizon_ms)])?;
            let mut first = true;
            while let Some(r) = rows.next()? {
                let start = parse_stored_time("usage_blocks start_time", &r.get::<_, String>(0)?)?;
                let last: Option<i64> = r.get(1)?;
                let reaches =
                    last.is_none_or(|last| last >= restart_ms) || from_ts - start <= BLOCK_MS;
                if !first && !reaches {
                    break;
                }
                restart_ms = start;
                first = false;
            }
        }
        // The facts of the recomputed blocks, and where the new chain met the stored
        // one, if it did before the last fact.
        let mut facts: Vec<FactRow> = Vec::new();
        let mut rejoined: Option<i64> = None;
        {
            let mut read = tx.prepare_cached(&format!(
                "SELECT {FACT_COLUMNS} FROM billed_responses WHERE ts >= ?1 ORDER BY ts"
            ))?;
            // The same start is not enough: a block opened by a later fact of the same
            // hour holds other facts than the stored one (its first fact may now close
            // the block before), so the chains meet only where the first fact is the same.
            let mut stored = tx.prepare_cached(
                "SELECT 1 FROM usage_blocks WHERE start_time = ?1 AND first_ts = ?2",
            )?;
            // A recomputed block may start (floored to the hour) before the end of the
            // last kept block; the facts up to that end still belong to the kept one.
            let mut rows = read.query([restart_ms.max(blocks_from_ms)])?;
            let mut open: Option<BlockAggregate> = None;
            let mut reader = FactReader::default();
            while let Some(row) = rows.next()? {
                let f = reader.read(row)?;
                match &mut open {
                    Some(b) if !b.ends_before(f.ts) => b.last_ts = f.ts,
                    _ => {
                        let block = BlockAggregate::opened_by(&f, horizon_ms);
                        // Only past the touched instant: the block holding it is recomputed.
                        if open.is_some()
                            && f.ts > from_ts
                            && stored.exists(params![utc::format(block.start_ms), f.ts])?
                        {
                            rejoined = Some(block.start_ms);
                            break;
                        }
                        open = Some(block);
                    }
                }
                facts.push(f);
            }
        }
        let blocks = aggregate_blocks_from(&facts, horizon_ms);
        tx.prepare_cached("DELETE FROM usage_blocks WHERE start_time >= ?1 AND start_time < ?2")?
            .execute(
                // "~" sorts after every RFC 3339 time: no rejoin, delete to the end.
                [
                    utc::format(restart_ms),
                    rejoined.map_or_else(|| "~".to_owned(), utc::format),
                ],
            )?;
        write_blocks(tx, &blocks, now_ms)?;
        // Every instant up to the one that opened the rejoined block was recomputed.
        match rejoined.and_then(|at| instants.range(at.max(from_ts.saturating_add(1))..).next()) {
            Some(&next) => from_ts = next,
            None => return Ok(()),
        }
    }
}

fn write_blocks(
    tx: &Transaction,
    blocks: &[BlockAggregate],
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO usage_blocks (block_id, start_time, end_time, total_tokens, session_count, status, \
         {}) VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        crate::report_rows::BLOCK_FIGURE_COLUMNS
    ))?;
    for b in blocks {
        let status = if b.is_active(now_ms) {
            "active"
        } else {
            "completed"
        };
        use rusqlite::types::Value;
        let own = [
            Value::Text(utc::format(b.start_ms)),
            Value::Text(utc::format(b.end_ms())),
            Value::Integer(b.sums.total_tokens() as i64),
            Value::Integer(b.sessions.len() as i64),
            Value::Text(status.to_owned()),
        ];
        stmt.execute(rusqlite::params_from_iter(
            own.into_iter()
                .chain(crate::report_rows::block_figures_params(b)),
        ))?;
    }
    Ok(())
}

/// Marks blocks whose time is over as completed.
pub fn close_finished_blocks(tx: &Transaction, now_ms: i64) -> Result<(), StoreError> {
    // Inside a block every response is under 5 h old, so its end is the only deadline.
    tx.execute(
        "UPDATE usage_blocks SET status = 'completed' WHERE status = 'active' AND end_time <= ?1",
        [utc::format(now_ms)],
    )?;
    Ok(())
}

/// Recomputes every derived table in memory and lists how the stored one differs.
/// History kept after a prune (see [`Kept`]) is not compared: its facts are gone.
pub fn check(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut diffs = Vec::new();
    let facts = facts_between(conn, i64::MIN, i64::MAX)?;
    let tz = store_zone(conn)?;
    let kept = Kept::of(conn)?;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0);

    // claude_sessions: every session with facts must match; rows without facts are
    // sessions the store knew before ctm (kept, never derived).
    let sessions = aggregate_sessions(&facts);
    let mut stmt = conn.prepare(
        "SELECT session_id, session_start, session_end, input_tokens, output_tokens, total_tokens, total_cost, \
         cache_creation_tokens, cache_read_tokens, model_name, project_name, message_count, efficiency_score \
         FROM claude_sessions",
    )?;
    let mut stored = BTreeMap::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: Option<String> = r.get(0)?;
        let Some(id) = id else { continue };
        let row = (
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
            [
                r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                r.get::<_, Option<i64>>(5)?.unwrap_or(0),
                r.get::<_, Option<i64>>(7)?.unwrap_or(0),
                r.get::<_, Option<i64>>(8)?.unwrap_or(0),
                r.get::<_, Option<i64>>(11)?.unwrap_or(0),
            ],
            r.get::<_, Option<f64>>(6)?.unwrap_or(0.0),
            r.get::<_, Option<String>>(9)?,
            r.get::<_, Option<String>>(10)?,
            r.get::<_, Option<f64>>(12)?.unwrap_or(0.0),
        );
        stored.insert(id, row);
    }
    for (id, a) in &sessions {
        if let (Some(k), Some((start, ..))) = (&kept, stored.get(id)) {
            if k.keeps_session(start.as_deref()) {
                continue;
            }
        }
        let s = &a.sums;
        let expected_counts = [
            s.input_tokens,
            s.output_tokens,
            s.total_tokens(),
            s.cache_creation_tokens(),
            s.cache_read_tokens,
            s.responses,
        ]
        .map(|v| v as i64);
        match stored.get(id) {
            None => diffs.push(format!("claude_sessions: session {id} is missing")),
            Some((start, end, counts, cost, model, project, eff)) => {
                if start.as_deref() != Some(utc::format(a.first_ts).as_str())
                    || end.as_deref() != Some(utc::format(a.last_ts).as_str())
                {
                    diffs.push(format!(
                        "claude_sessions {id}: start/end {start:?}/{end:?}, facts say {}/{}",
                        utc::format(a.first_ts),
                        utc::format(a.last_ts)
                    ));
                }
                if *counts != expected_counts {
                    diffs.push(format!(
                        "claude_sessions {id}: counts {counts:?}, facts say {expected_counts:?}"
                    ));
                }
                if !close(*cost, s.cost_usd) || !close(*eff, s.efficiency_score()) {
                    diffs.push(format!(
                        "claude_sessions {id}: cost/efficiency {cost}/{eff}, facts say {}/{}",
                        s.cost_usd,
                        s.efficiency_score()
                    ));
                }
                if *model != a.main_model || *project != a.project_path {
                    diffs.push(format!("claude_sessions {id}: model/project {model:?}/{project:?}, facts say {:?}/{:?}", a.main_model, a.project_path));
                }
            }
        }
    }

    // session_models: the models of every session with facts, and none of a session
    // without (but a kept one's).
    let mut stored_models = stored_models_by_session(conn)?;
    let kept_session = |id: &str| {
        kept.as_ref().is_some_and(|k| {
            stored
                .get(id)
                .is_some_and(|(start, ..)| k.keeps_session(start.as_deref()))
        })
    };
    for (id, a) in &sessions {
        let models = stored_models.remove(id).unwrap_or_default();
        if !kept_session(id) && models != a.models {
            diffs.push(format!(
                "session_models {id}: {models:?}, facts say {:?}",
                a.models
            ));
        }
    }
    for (id, models) in stored_models {
        if !kept_session(&id) {
            diffs.push(format!(
                "session_models {id}: {models:?}, but the session has no billed responses"
            ));
        }
    }

    // Daily tables, in the store's zone.
    let days = aggregate_days(&facts, &tz);
    let mut stored_days: BTreeMap<String, (Vec<i64>, f64, String)> = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT date, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, total_tokens, \
         session_count, cost_usd, models_used FROM daily_usage_summary",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let counts = (1..=6)
            .map(|i| r.get::<_, i64>(i))
            .collect::<Result<Vec<_>, _>>()?;
        stored_days.insert(r.get(0)?, (counts, r.get(7)?, r.get(8)?));
    }
    let mut stored_aggs: BTreeMap<String, (Vec<i64>, f64, f64, String, String)> = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT date, total_input_tokens, total_output_tokens, total_cache_write_tokens, total_cache_read_tokens, \
         session_count, total_cost_usd, avg_cache_hit_rate, model_breakdown, hourly_distribution FROM daily_aggregates",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let counts = (1..=5)
            .map(|i| r.get::<_, i64>(i))
            .collect::<Result<Vec<_>, _>>()?;
        stored_aggs.insert(
            r.get(0)?,
            (
                counts,
                r.get(6)?,
                r.get(7)?,
                r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            ),
        );
    }
    let mut stored_cache: BTreeMap<String, (i64, i64, f64, f64)> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT date, total_cache_tokens, cache_hit_tokens, cache_savings_usd, hit_rate FROM cache_analytics")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        stored_cache.insert(r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?));
    }
    if let Some(k) = &kept {
        let first = k.first_day.to_string();
        stored_days.retain(|d, _| *d >= first);
        stored_aggs.retain(|d, _| *d >= first);
        stored_cache.retain(|d, _| *d >= first);
    }
    for (date, d) in &days {
        let key = date.to_string();
        let s = &d.sums;
        let summary_counts = vec![
            s.input_tokens,
            s.output_tokens,
            s.cache_creation_tokens(),
            s.cache_read_tokens,
            s.total_tokens(),
            d.sessions.len() as u64,
        ]
        .into_iter()
        .map(|v| v as i64)
        .collect::<Vec<_>>();
        match stored_days.remove(&key) {
            None => diffs.push(format!("daily_usage_summary: {key} is missing")),
            Some((counts, cost, models)) => {
                if counts != summary_counts || !close(cost, s.cost_usd) || models != d.models_used()
                {
                    diffs.push(format!(
                        "daily_usage_summary {key}: {counts:?} ${cost} [{models}], facts say {summary_counts:?} ${} [{}]",
                        s.cost_usd,
                        d.models_used()
                    ));
                }
            }
        }
        let agg_counts = [
            s.input_tokens,
            s.output_tokens,
            s.cache_creation_tokens(),
            s.cache_read_tokens,
            d.sessions.len() as u64,
        ]
        .into_iter()
        .map(|v| v as i64)
        .collect::<Vec<_>>();
        match stored_aggs.remove(&key) {
            None => diffs.push(format!("daily_aggregates: {key} is missing")),
            Some((counts, cost, hit, breakdown, hourly)) => {
                let breakdown_matches = serde_json::from_str::<serde_json::Value>(&breakdown).ok()
                    == serde_json::from_str::<serde_json::Value>(&d.model_breakdown_json()).ok();
                if counts != agg_counts
                    || !close(cost, s.cost_usd)
                    || !close(hit, s.hit_rate())
                    || hourly != d.hourly_json()
                    || !breakdown_matches
                {
                    diffs.push(format!(
                        "daily_aggregates {key}: stored row differs from the facts"
                    ));
                }
            }
        }
        match stored_cache.remove(&key) {
            None => diffs.push(format!("cache_analytics: {key} is missing")),
            Some((total, hits, savings, hit)) => {
                if total as u64 != s.cache_creation_tokens() + s.cache_read_tokens
                    || hits as u64 != s.cache_read_tokens
                    || !close(savings, s.cache_savings_usd)
                    || !close(hit, s.hit_rate())
                {
                    diffs.push(format!(
                        "cache_analytics {key}: stored row differs from the facts"
                    ));
                }
            }
        }
    }
    for key in stored_days.keys() {
        diffs.push(format!("daily_usage_summary: {key} has no facts"));
    }
    for key in stored_aggs.keys() {
        diffs.push(format!("daily_aggregates: {key} has no facts"));
    }
    for key in stored_cache.keys() {
        diffs.push(format!("cache_analytics: {key} has no facts"));
    }
    crate::report_rows::check(conn, &facts, &tz, kept.as_ref(), &mut diffs)?;

    // Blocks.
    let (horizon_ms, blocks_from_ms) = kept
        .as_ref()
        .map_or((i64::MIN, i64::MIN), |k| (k.horizon_ms, k.blocks_from_ms));
    let block_facts: Vec<FactRow> = facts
        .into_iter()
        .filter(|f| f.ts >= blocks_from_ms)
        .collect();
    let blocks = aggregate_blocks_from(&block_facts, horizon_ms);
    let mut stmt = conn.prepare(
        "SELECT block_id, start_time, end_time, total_tokens, session_count, status FROM usage_blocks \
         WHERE start_time >= ?1 ORDER BY start_time",
    )?;
    let stored_blocks: Vec<(String, String, String, i64, i64, String)> = stmt
        .query_map([utc::format(horizon_ms)], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    if stored_blocks.len() != blocks.len() {
        diffs.push(format!(
            "usage_blocks: {} rows, facts make {} blocks",
            stored_blocks.len(),
            blocks.len()
        ));
    }
    let now = now_ms();
    for (b, (id, start, end, tokens, sessions, status)) in blocks.iter().zip(&stored_blocks) {
        let expected = (
            utc::format(b.start_ms),
            utc::format(b.end_ms()),
            b.sums.total_tokens() as i64,
            b.sessions.len() as i64,
        );
        if (id.clone(), end.clone(), *tokens, *sessions) != expected || start != id {
            diffs.push(format!("usage_blocks {id}: ({end}, {tokens} tokens, {sessions} sessions), facts say {expected:?}"));
        }
        // A block stored as active whose time has passed is only waiting for the next ingest.
        if status == "completed" && b.is_active(now) {
            diffs.push(format!(
                "usage_blocks {id}: completed, but it is still active"
            ));
        }
    }
    crate::report_rows::check_blocks(conn, &blocks, horizon_ms, &mut diffs)?;
    Ok(diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(ts: i64, session: &str, model: &str, output: u64) -> FactRow {
        FactRow {
            id: ts,
            ts,
            session_id: Some(session.into()),
            project_path: Some("/p".into()),
            model: Some(model.into()),
            sums: Sums {
                responses: 1,
                input_tokens: 10,
                output_tokens: output,
                cache_write_5m_tokens: 100,
                cache_read_tokens: 900,
                cost_usd: 0.5,
                ..Sums::default()
            },
        }
    }

    const H: i64 = 3_600_000;

    #[test]
    fn blocks_follow_the_five_hour_rule() {
        let t0 = 1_767_225_600_000 + 30 * 60_000; // 2026-01-01T00:30Z
        let facts = vec![
            fact(t0, "a", "m", 1),
            fact(t0 + 4 * H, "a", "m", 1), // inside the first block
            fact(t0 + 4 * H + 40 * 60_000, "a", "m", 1), // 5h10m after 00:00: new block at 05:00
            fact(t0 + 11 * H, "b", "m", 1), // 6h20m gap: new block at 11:00
        ];
        let blocks = aggregate_blocks(&facts);
        let starts: Vec<String> = blocks.iter().map(|b| utc::format(b.start_ms)).collect();
        assert_eq!(
            starts,
            vec![
                "2026-01-01T00:00:00.000Z",
                "2026-01-01T05:00:00.000Z",
                "2026-01-01T11:00:00.000Z"
            ]
        );
        assert_eq!(blocks[0].sums.responses, 2);
        assert!(blocks[2].is_active(t0 + 12 * H));
        assert!(!blocks[2].is_active(t0 + 17 * H));
    }

    #[test]
    fn days_follow_the_zone_including_dst() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 2026-03-08 is 23 hours long in New York.
        let (lo, hi) = day_bounds(Date::constant(2026, 3, 8), &ny).unwrap();
        assert_eq!(hi - lo, 23 * H);
        // 03:30Z on Jan 2 is still Jan 1 in New York, and Jan 2 at 12:30 in Tokyo.
        let ts = 1_767_225_600_000 + 24 * H + 3 * H + 30 * 60_000;
        let days = aggregate_days(&[fact(ts, "a", "m", 1)], &ny);
        assert_eq!(days.keys().next().unwrap().to_string(), "2026-01-01");
        let tokyo = aggregate_days(
            &[fact(ts, "a", "m", 1)],
            &TimeZone::get("Asia/Tokyo").unwrap(),
        );
        let day = tokyo.values().next().unwrap();
        assert_eq!(day.date.to_string(), "2026-01-02");
        assert_eq!(day.hourly[12], 1);
    }

    /// Days that come back in row order (1, 2, 1), sessions that alternate, one session
    /// text shared by most facts (also across a change of day) and copied for one, a
    /// fact without a session: the same days as adding each fact to its day one by one.
    #[test]
    fn days_equal_each_fact_added_to_its_day() {
        let t0 = 1_767_225_600_000; // 2026-01-01T00:00Z
        let shared: Arc<str> = "s1".into();
        let mut facts = Vec::new();
        for (i, (day, session)) in [
            (0, "s1"),
            (0, "s1"),
            (0, "s2"),
            (0, "s1"),
            (1, "s1"),
            (1, ""),
            (0, "s3"),
            (0, "s1"),
            (1, "s2"),
            (1, "s2"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut f = fact(t0 + day * 24 * H + i as i64 * H, session, "m", i as u64);
            f.id = i as i64;
            f.session_id = match session {
                "" => None,
                "s1" if i != 1 => Some(shared.clone()),
                s => Some(s.into()),
            };
            f.sums.cost_usd = 0.1 * (i + 1) as f64;
            facts.push(f);
        }
        let mut one_by_one: BTreeMap<Date, DayAggregate> = BTreeMap::new();
        for f in &facts {
            let local = local_time(f.ts, &TimeZone::UTC);
            one_by_one
                .entry(local.date())
                .or_insert_with(|| DayAggregate::new(local.date()))
                .add(f, local.hour() as usize);
        }
        let days = aggregate_days(&facts, &TimeZone::UTC);
        assert_eq!(days, one_by_one);
        let sessions: Vec<usize> = days.values().map(|d| d.sessions.len()).collect();
        assert_eq!(sessions, [3, 2]);
    }

    #[test]
    fn hourly_json_lists_every_hour_in_order() {
        let mut day = DayAggregate::new(Date::constant(2026, 1, 1));
        day.hourly[0] = 3;
        day.hourly[23] = 12;
        let json = day.hourly_json();
        assert!(json.starts_with("{\"0\":3,\"1\":0,\"2\":0,"), "{json}");
        assert!(json.ends_with(",\"22\":0,\"23\":12}"), "{json}");
        assert_eq!(parse_hourly(&day.hourly_json()), Some(day.hourly));
    }

    #[test]
    fn sums_define_hit_rate_and_efficiency() {
        let s = fact(0, "a", "m", 1).sums;
        assert_eq!(s.hit_rate(), 900.0 / 1000.0);
        assert_eq!(s.efficiency_score(), 900.0 / 1010.0);
        assert_eq!(Sums::default().hit_rate(), 0.0);
    }

    #[test]
    fn main_model_has_the_most_tokens() {
        let facts = vec![
            fact(0, "a", "haiku", 1),
            fact(1, "a", "haiku", 1),
            fact(2, "a", "opus", 5000),
        ];
        let s = aggregate_sessions(&facts);
        assert_eq!(s["a"].main_model.as_deref(), Some("opus"));
        assert_eq!(s["a"].sums.responses, 3);
    }
}
