//! Derived rows for the reports that otherwise pass over every billed response
//! (migration 8): `hourly_usage` (sums per local day and hour, for `ctm hourly`),
//! `project_usage` (sums per local day, project and session, for `ctm project`), both in
//! the store's zone, and the figures `ctm blocks` shows of each `usage_blocks` row.
//!
//! A report builds its figures from these buckets whether it reads them here or
//! computes them from the facts with the same `aggregate_*` function, and adds them in
//! the same order, so both give the same digits. An hour's and a project day's cost is
//! the facts' sum in row (id) order, like a day's and a block's, so an ingest that only
//! inserted responses adds them to the stored rows ([`append_to_day`]).
//!
//! Kept history (see [`Kept`]): rows of days before the prune horizon are never
//! rewritten or checked; blocks follow `derive`'s rule.

use std::collections::BTreeMap;

use jiff::{civil::Date, tz::TimeZone};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::derive::{self, model_label, BlockAggregate, FactRow, Kept, Sums};
use crate::StoreError;
use ctm_model::utc;

/// The figures the reports show of a sum, as these tables keep them: the two cache
/// write kinds as one, no web searches or cache savings.
fn reported(s: &Sums) -> Sums {
    Sums {
        responses: s.responses,
        input_tokens: s.input_tokens,
        output_tokens: s.output_tokens,
        cache_write_5m_tokens: s.cache_creation_tokens(),
        cache_write_1h_tokens: 0,
        cache_read_tokens: s.cache_read_tokens,
        web_search_requests: 0,
        cost_usd: s.cost_usd,
        cache_savings_usd: 0.0,
        unpriced_responses: s.unpriced_responses,
    }
}

fn parse_date(table: &str, s: &str) -> Result<Date, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Invalid(format!("{table} date {s:?}: {e}")))
}

/// Inclusive `[since, until]` local days as the tables' date keys.
fn date_keys(since: Option<Date>, until: Option<Date>) -> (String, String) {
    (
        since.map_or_else(|| "0000-00-00".to_owned(), |d| d.to_string()),
        until.map_or_else(|| "9999-99-99".to_owned(), |d| d.to_string()),
    )
}

// ---- hourly_usage ----

/// A local day and hour of day (0..23; a repeated hour at a DST change is one bucket).
pub type HourKey = (Date, u8);

/// Sums per local day and hour of facts, added in row order (see
/// [`derive::aggregate_days`]).
pub fn aggregate_hours(facts: &[FactRow], tz: &TimeZone) -> BTreeMap<HourKey, Sums> {
    let mut out: BTreeMap<HourKey, Sums> = BTreeMap::new();
    add_hours(&mut out, &derive::in_row_order(facts), tz);
    out
}

/// Adds facts, in the order given, to the hours they fall in.
fn add_hours(hours: &mut BTreeMap<HourKey, Sums>, facts: &[&FactRow], tz: &TimeZone) {
    for f in facts {
        let at = derive::local_time(f.ts, tz);
        hours
            .entry((at.date(), at.hour() as u8))
            .or_default()
            .add(&reported(&f.sums));
    }
}

fn write_hours<'a>(
    tx: &Transaction,
    hours: impl IntoIterator<Item = (&'a HourKey, &'a Sums)>,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO hourly_usage (date, hour, responses, input_tokens, output_tokens, \
         cache_creation_tokens, cache_read_tokens, cost_usd, unpriced_responses) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for ((date, hour), s) in hours {
        stmt.execute(params![
            date.to_string(),
            hour,
            s.responses,
            s.input_tokens,
            s.output_tokens,
            s.cache_creation_tokens(),
            s.cache_read_tokens,
            s.cost_usd,
            s.unpriced_responses
        ])?;
    }
    Ok(())
}

/// The stored hours of the local days `[since, until]`.
pub fn stored_hours(
    conn: &Connection,
    since: Option<Date>,
    until: Option<Date>,
) -> Result<BTreeMap<HourKey, Sums>, StoreError> {
    let (lo, hi) = date_keys(since, until);
    let mut stmt = conn.prepare_cached(
        "SELECT date, hour, responses, input_tokens, output_tokens, cache_creation_tokens, \
         cache_read_tokens, cost_usd, unpriced_responses FROM hourly_usage \
         WHERE date >= ?1 AND date <= ?2",
    )?;
    let mut rows = stmt.query([lo, hi])?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let date = parse_date("hourly_usage", &r.get::<_, String>(0)?)?;
        let sums = stored_sums(r, 2)?;
        out.insert((date, r.get(1)?), sums);
    }
    Ok(out)
}

/// The seven sum columns every report row stores, in their stored order (responses,
/// input, output, cache writes, cache reads, cost, unpriced responses) from column `at`.
fn stored_sums(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Sums> {
    Ok(Sums {
        responses: r.get(at)?,
        input_tokens: r.get(at + 1)?,
        output_tokens: r.get(at + 2)?,
        cache_write_5m_tokens: r.get(at + 3)?,
        cache_read_tokens: r.get(at + 4)?,
        cost_usd: r.get(at + 5)?,
        unpriced_responses: r.get(at + 6)?,
        ..Sums::default()
    })
}

// ---- project_usage ----

/// A local day, a project (its report label) and a session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProjectDayKey {
    pub project: String,
    pub date: Date,
    /// `None` for responses without a session id.
    pub session: Option<String>,
}

/// One project's responses of one session on one local day.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectDay {
    pub first_ts: i64,
    pub last_ts: i64,
    pub sums: Sums,
    /// Model label -> how many of its responses had no price.
    pub models: BTreeMap<String, u64>,
}

/// The label `ctm project` shows for a response's project path.
pub fn project_label(path: Option<&str>) -> &str {
    path.unwrap_or("unknown")
}

/// Facts per local day, project and session, added in row order (see
/// [`derive::aggregate_days`]).
pub fn aggregate_project_days(
    facts: &[FactRow],
    tz: &TimeZone,
) -> BTreeMap<ProjectDayKey, ProjectDay> {
    let mut out: BTreeMap<ProjectDayKey, ProjectDay> = BTreeMap::new();
    add_project_days(&mut out, &derive::in_row_order(facts), tz);
    out
}

/// Adds facts, in the order given, to their project days.
fn add_project_days(
    out: &mut BTreeMap<ProjectDayKey, ProjectDay>,
    facts: &[&FactRow],
    tz: &TimeZone,
) {
    for f in facts {
        let key = ProjectDayKey {
            project: project_label(f.project_path.as_deref()).to_owned(),
            date: derive::local_time(f.ts, tz).date(),
            session: f.session_id.as_deref().map(str::to_owned),
        };
        let p = out.entry(key).or_insert_with(|| ProjectDay {
            first_ts: f.ts,
            last_ts: f.ts,
            sums: Sums::default(),
            models: BTreeMap::new(),
        });
        p.first_ts = p.first_ts.min(f.ts);
        p.last_ts = p.last_ts.max(f.ts);
        p.sums.add(&reported(&f.sums));
        *p.models
            .entry(model_label(f.model.as_deref()).to_owned())
            .or_default() += f.sums.unpriced_responses;
    }
}

fn write_project_days<'a>(
    tx: &Transaction,
    rows: impl IntoIterator<Item = (&'a ProjectDayKey, &'a ProjectDay)>,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO project_usage (date, project_path, session_id, first_ts, last_ts, responses, \
         input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, \
         unpriced_responses, models) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (k, p) in rows {
        let s = &p.sums;
        let models = serde_json::to_string(&p.models).expect("a map of counts serialises");
        stmt.execute(params![
            k.date.to_string(),
            k.project,
            k.session,
            p.first_ts,
            p.last_ts,
            s.responses,
            s.input_tokens,
            s.output_tokens,
            s.cache_creation_tokens(),
            s.cache_read_tokens,
            s.cost_usd,
            s.unpriced_responses,
            models
        ])?;
    }
    Ok(())
}

/// The stored rows of the local days `[since, until]`.
pub fn stored_project_days(
    conn: &Connection,
    since: Option<Date>,
    until: Option<Date>,
) -> Result<BTreeMap<ProjectDayKey, ProjectDay>, StoreError> {
    let (lo, hi) = date_keys(since, until);
    let mut stmt = conn.prepare_cached(
        "SELECT date, project_path, session_id, first_ts, last_ts, responses, input_tokens, \
         output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, unpriced_responses, \
         models FROM project_usage WHERE date >= ?1 AND date <= ?2",
    )?;
    let mut rows = stmt.query([lo, hi])?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let date = parse_date("project_usage", &r.get::<_, String>(0)?)?;
        let models: String = r.get(12)?;
        let models = serde_json::from_str(&models).map_err(|e| {
            StoreError::Invalid(format!("project_usage {date} models {models:?}: {e}"))
        })?;
        out.insert(
            ProjectDayKey {
                project: r.get(1)?,
                date,
                session: r.get(2)?,
            },
            ProjectDay {
                first_ts: r.get(3)?,
                last_ts: r.get(4)?,
                sums: stored_sums(r, 5)?,
                models,
            },
        );
    }
    Ok(out)
}

// ---- usage_blocks figures ----

/// What `ctm blocks` shows of a block: from the facts, or from its `usage_blocks` row.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockFigures {
    pub start_ms: i64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub sums: Sums,
    pub sessions: u64,
    pub models: Vec<String>,
}

impl BlockFigures {
    pub fn of(b: &BlockAggregate) -> BlockFigures {
        BlockFigures {
            start_ms: b.start_ms,
            first_ts: b.first_ts,
            last_ts: b.last_ts,
            sums: reported(&b.sums),
            sessions: b.sessions.len() as u64,
            models: b.models.iter().cloned().collect(),
        }
    }

    pub fn end_ms(&self) -> i64 {
        self.start_ms + derive::BLOCK_MS
    }

    /// [`BlockAggregate::is_active`].
    pub fn is_active(&self, now_ms: i64) -> bool {
        now_ms < self.end_ms() && now_ms - self.last_ts < derive::BLOCK_MS
    }
}

/// The columns [`block_figures_params`] fills, after `usage_blocks`' own.
pub(crate) const BLOCK_FIGURE_COLUMNS: &str = "first_ts, last_ts, responses, input_tokens, \
     output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, unpriced_responses, models";

pub(crate) fn block_figures_params(b: &BlockAggregate) -> [rusqlite::types::Value; 10] {
    use rusqlite::types::Value;
    let s = &b.sums;
    let models: Vec<&str> = b.models.iter().map(String::as_str).collect();
    [
        Value::Integer(b.first_ts),
        Value::Integer(b.last_ts),
        Value::Integer(s.responses as i64),
        Value::Integer(s.input_tokens as i64),
        Value::Integer(s.output_tokens as i64),
        Value::Integer(s.cache_creation_tokens() as i64),
        Value::Integer(s.cache_read_tokens as i64),
        Value::Real(s.cost_usd),
        Value::Integer(s.unpriced_responses as i64),
        Value::Text(serde_json::to_string(&models).expect("a list of names serialises")),
    ]
}

/// Every stored block that starts at or after `from_ms`, oldest first; `None` when a
/// row lacks its figures (written before migration 8 and kept since).
pub fn stored_blocks(
    conn: &Connection,
    from_ms: i64,
) -> Result<Option<Vec<BlockFigures>>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT start_time, session_count, {BLOCK_FIGURE_COLUMNS} FROM usage_blocks \
         WHERE start_time >= ?1 ORDER BY start_time"
    ))?;
    let mut rows = stmt.query([utc::format(from_ms)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let Some(first_ts) = r.get::<_, Option<i64>>(2)? else {
            return Ok(None);
        };
        let start: String = r.get(0)?;
        let start_ms = derive::parse_stored_time("usage_blocks start_time", &start)?;
        let models: String = r.get(11)?;
        let models = serde_json::from_str(&models).map_err(|e| {
            StoreError::Invalid(format!("usage_blocks {start} models {models:?}: {e}"))
        })?;
        out.push(BlockFigures {
            start_ms,
            first_ts,
            last_ts: r.get(3)?,
            sums: stored_sums(r, 4)?,
            sessions: r.get(1)?,
            models,
        });
    }
    Ok(Some(out))
}

// ---- keeping the tables ----

/// The first local day whose rows are derived (not kept history).
fn first_derived_day(kept: Option<&Kept>) -> Option<Date> {
    kept.map(|k| k.first_day)
}

fn derived(date: Date, kept: Option<&Kept>) -> bool {
    first_derived_day(kept).is_none_or(|first| date >= first)
}

/// Recomputes both tables' rows of one local day from that day's facts (oldest first),
/// which `derive`'s refresh of the day has just read: a project row is a day's, so no
/// session needs reading as a whole, and a response that moved touches its old and its
/// new day. Kept days are never refreshed (the caller skips them).
pub(crate) fn refresh_day(
    tx: &Transaction,
    date: Date,
    facts: &[FactRow],
    tz: &TimeZone,
) -> Result<(), StoreError> {
    let key = date.to_string();
    tx.prepare_cached("DELETE FROM hourly_usage WHERE date = ?1")?
        .execute([&key])?;
    write_hours(tx, &aggregate_hours(facts, tz))?;
    tx.prepare_cached("DELETE FROM project_usage WHERE date = ?1")?
        .execute([&key])?;
    write_project_days(tx, &aggregate_project_days(facts, tz))?;
    Ok(())
}

/// Adds `new` (facts of `date` inserted after every older fact of the day, in row
/// order) to the day's stored hour and project rows: the same rows, to the last digit,
/// as [`refresh_day`] over all of the day's facts, when none of its older facts changed.
/// Only the rows the new facts fall in are read and rewritten.
pub(crate) fn append_to_day(
    tx: &Transaction,
    date: Date,
    new: &[&FactRow],
    tz: &TimeZone,
) -> Result<(), StoreError> {
    let key = date.to_string();
    let local_hours: Vec<u8> = new
        .iter()
        .map(|f| derive::local_time(f.ts, tz).hour() as u8)
        .collect();

    let mut hours: BTreeMap<HourKey, Sums> = BTreeMap::new();
    let mut read = tx.prepare_cached(
        "SELECT responses, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, \
         cost_usd, unpriced_responses FROM hourly_usage WHERE date = ?1 AND hour = ?2",
    )?;
    for &hour in &local_hours {
        if let std::collections::btree_map::Entry::Vacant(e) = hours.entry((date, hour)) {
            let stored = read
                .query_row(params![key, hour], |r| stored_sums(r, 0))
                .optional()?;
            e.insert(stored.unwrap_or_default());
        }
    }
    add_hours(&mut hours, new, tz);
    let mut delete = tx.prepare_cached("DELETE FROM hourly_usage WHERE date = ?1 AND hour = ?2")?;
    for (_, hour) in hours.keys() {
        delete.execute(params![key, hour])?;
    }
    write_hours(tx, &hours)?;

    let mut projects: BTreeMap<ProjectDayKey, ProjectDay> = BTreeMap::new();
    let mut read = tx.prepare_cached(
        "SELECT first_ts, last_ts, responses, input_tokens, output_tokens, cache_creation_tokens, \
         cache_read_tokens, cost_usd, unpriced_responses, models FROM project_usage \
         WHERE date = ?1 AND project_path = ?2 AND session_id IS ?3",
    )?;
    for f in new {
        let k = ProjectDayKey {
            project: project_label(f.project_path.as_deref()).to_owned(),
            date,
            session: f.session_id.as_deref().map(str::to_owned),
        };
        if projects.contains_key(&k) {
            continue;
        }
        let mut rows = read.query(params![key, k.project, k.session])?;
        if let Some(r) = rows.next()? {
            let models: String = r.get(9)?;
            let models = serde_json::from_str(&models).map_err(|e| {
                StoreError::Invalid(format!("project_usage {date} models {models:?}: {e}"))
            })?;
            let stored = ProjectDay {
                first_ts: r.get(0)?,
                last_ts: r.get(1)?,
                sums: stored_sums(r, 2)?,
                models,
            };
            projects.insert(k, stored);
        }
    }
    add_project_days(&mut projects, new, tz);
    let mut delete = tx.prepare_cached(
        "DELETE FROM project_usage WHERE date = ?1 AND project_path = ?2 AND session_id IS ?3",
    )?;
    for k in projects.keys() {
        delete.execute(params![key, k.project, k.session])?;
    }
    write_project_days(tx, &projects)?;
    Ok(())
}

/// Recomputes both tables from every fact (oldest first), keeping the kept history.
pub(crate) fn rebuild(
    tx: &Transaction,
    facts: &[FactRow],
    tz: &TimeZone,
    kept: Option<&Kept>,
) -> Result<(), StoreError> {
    let first = first_derived_day(kept).map_or_else(String::new, |d| d.to_string());
    tx.execute("DELETE FROM hourly_usage WHERE date >= ?1", [&first])?;
    tx.execute("DELETE FROM project_usage WHERE date >= ?1", [&first])?;
    let hours = aggregate_hours(facts, tz);
    write_hours(tx, hours.iter().filter(|((d, _), _)| derived(*d, kept)))?;
    let projects = aggregate_project_days(facts, tz);
    write_project_days(tx, projects.iter().filter(|(k, _)| derived(k.date, kept)))?;
    Ok(())
}

/// Lists how both tables differ from the facts (oldest first), kept history aside.
pub(crate) fn check(
    conn: &Connection,
    facts: &[FactRow],
    tz: &TimeZone,
    kept: Option<&Kept>,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    let since = first_derived_day(kept);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0);
    let same = |a: &Sums, b: &Sums| {
        Sums {
            cost_usd: 0.0,
            ..a.clone()
        } == Sums {
            cost_usd: 0.0,
            ..b.clone()
        } && close(a.cost_usd, b.cost_usd)
    };

    let mut stored = stored_hours(conn, since, None)?;
    for ((date, hour), s) in aggregate_hours(facts, tz) {
        if !derived(date, kept) {
            continue;
        }
        match stored.remove(&(date, hour)) {
            None => diffs.push(format!("hourly_usage: {date} {hour}h is missing")),
            Some(row) if !same(&row, &s) => diffs.push(format!(
                "hourly_usage {date} {hour}h: {row:?}, facts say {s:?}"
            )),
            Some(_) => {}
        }
    }
    for (date, hour) in stored.keys() {
        diffs.push(format!("hourly_usage: {date} {hour}h has no facts"));
    }

    let mut stored = stored_project_days(conn, since, None)?;
    for (k, p) in aggregate_project_days(facts, tz) {
        if !derived(k.date, kept) {
            continue;
        }
        let what = || format!("{} {} {:?}", k.date, k.project, k.session);
        match stored.remove(&k) {
            None => diffs.push(format!("project_usage: {} is missing", what())),
            Some(row)
                if !same(&row.sums, &p.sums)
                    || (row.first_ts, row.last_ts, &row.models)
                        != (p.first_ts, p.last_ts, &p.models) =>
            {
                diffs.push(format!(
                    "project_usage {}: stored row differs from the facts",
                    what()
                ));
            }
            Some(_) => {}
        }
    }
    for k in stored.keys() {
        diffs.push(format!(
            "project_usage: {} {} {:?} has no facts",
            k.date, k.project, k.session
        ));
    }
    Ok(())
}

/// Lists how the stored blocks' figures differ from the blocks the facts make (the
/// blocks `derive::check` compares, in the same order).
pub(crate) fn check_blocks(
    conn: &Connection,
    blocks: &[BlockAggregate],
    from_ms: i64,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    let Some(stored) = stored_blocks(conn, from_ms)? else {
        diffs
            .push("usage_blocks: a block derived since the prune horizon lacks its figures".into());
        return Ok(());
    };
    for (b, row) in blocks.iter().zip(&stored) {
        let expected = BlockFigures::of(b);
        let mut row_cost_aside = row.clone();
        row_cost_aside.sums.cost_usd = expected.sums.cost_usd;
        let close = (row.sums.cost_usd - expected.sums.cost_usd).abs()
            <= 1e-6 * row.sums.cost_usd.abs().max(1.0);
        if row_cost_aside != expected || !close {
            diffs.push(format!(
                "usage_blocks {}: figures differ from the facts",
                utc::format(b.start_ms)
            ));
        }
    }
    Ok(())
}
