//! The derived tables: everything computed from the fact table and nothing else, so
//! they can always be rebuilt and checked. One module per table, each with its write,
//! its read-back and its check; this module decides what to refresh.
//!
//! `quarter_usage` (the rollup) is kept from the facts a write changed, in that write's
//! transaction; every other table is computed from rollup rows: the day tables of the
//! store's zone (`daily_usage_summary`, `daily_aggregates`, `cache_analytics`) per
//! touched day, `claude_sessions` and `session_models` per touched session, and
//! `usage_blocks` from the block holding the earliest touched slot until the chain of
//! blocks meets the stored one again. Sums are integers, so a refresh writes the very
//! rows a rebuild writes.
//!
//! [`check`] rolls the facts up again, compares the rollup, and compares every other
//! table with the rows the same code derives from the facts.
//!
//! After `ctm db prune --facts-older-than` deleted the facts before a horizon, the rows
//! derived from them are history ([`Horizon`]): days before the horizon, sessions that
//! started before it and blocks that started before it are never rewritten or checked
//! again, since the facts they were made of are gone.
//!
//! Definitions (also in docs/definitions.md, so a user can recompute them by hand):
//! - `hit_rate` = cache read / (cache write + cache read), per day.
//! - `efficiency_score` = cache read / (input + cache write + cache read), per session:
//!   the share of everything the session sent that was served from cache.
//! - `cache_savings_usd` = what the cached tokens would have cost as plain input, minus
//!   what they cost (writes cost more than input, reads much less), summed from facts.

pub mod cache_analytics;
pub mod claude_sessions;
pub mod daily_aggregates;
pub mod daily_usage_summary;
pub mod quarter_usage;
pub mod session_models;
pub mod usage_blocks;

use std::collections::{BTreeMap, BTreeSet};

use ctm_aggregate::{
    aggregate_days, aggregate_sessions, local_time, slot_of, DayAggregate, Fact, Id, Names,
    SessionAggregate, SlotRow, NONE,
};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rusqlite::{Connection, Transaction};

use crate::dims::{self, load_names, Which};
use crate::fact_reader::{self, Keep};
use crate::horizon::{keeps_day, Horizon};
use crate::{config, now_ms, StoreError};

use claude_sessions::SessionFigures;

/// What a write changed: the rollup's changes, and which slots and sessions the other
/// tables must refresh.
#[derive(Debug)]
pub struct Touched {
    rollup: quarter_usage::Changes,
    /// A first ingest: every derived row is rebuilt from the rollup (so no slot or
    /// session is remembered).
    all: bool,
    slots: BTreeSet<i64>,
    sessions: BTreeSet<Id>,
}

impl Touched {
    /// `all`: a first ingest; `rollup_complete`: the rollup is empty, so the writer's
    /// rows are all of it.
    pub fn new(all: bool, rollup_complete: bool) -> Touched {
        Touched {
            rollup: quarter_usage::Changes::new(rollup_complete),
            all,
            slots: BTreeSet::new(),
            sessions: BTreeSet::new(),
        }
    }

    /// A billed response written.
    pub fn add(&mut self, f: &Fact) {
        self.rollup.add(f);
        self.note(f);
    }

    /// A billed response taken back (changed, or no longer billed).
    pub fn remove(&mut self, f: &Fact) {
        self.rollup.remove(f);
        self.note(f);
    }

    /// A billed response changed from `before` to `after`.
    pub fn replace(&mut self, before: &Fact, after: &Fact) {
        if before.ts == after.ts && before.key() == after.key() {
            self.rollup.replace(before, after);
            self.note(after);
        } else {
            self.remove(before);
            self.add(after);
        }
    }

    /// A response changed where it is not billed: its slot and session refresh.
    pub fn note(&mut self, f: &Fact) {
        if self.all {
            return;
        }
        self.slots.insert(slot_of(f.ts));
        if f.session != NONE {
            self.sessions.insert(f.session);
        }
    }

    pub(crate) fn flush_if_full(&mut self, tx: &Transaction) -> Result<(), StoreError> {
        self.rollup.flush_if_full(tx)
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.rollup.is_empty() && self.slots.is_empty() && self.sessions.is_empty()
    }
}

/// Writes what `touched` changed: the rollup, then the rows derived from it.
pub fn refresh(tx: &Transaction, touched: Touched, now_ms: i64) -> Result<(), StoreError> {
    let Touched {
        rollup,
        all,
        slots,
        sessions,
    } = touched;
    rollup.apply(tx)?;
    if all {
        return rebuild_from_rollup(tx, now_ms);
    }
    if slots.is_empty() && sessions.is_empty() {
        return Ok(());
    }
    let tz = config::store_zone(tx)?;
    let horizon = Horizon::of(tx)?;
    let names = load_names(
        tx,
        Which {
            sessions: Some(&sessions.iter().copied().collect::<Vec<_>>()),
            projects: true,
            models: true,
        },
    )?;
    // A slot's first and last instant: a slot a zone splits may lie on two days.
    let mut days = BTreeSet::new();
    for &slot in &slots {
        let (lo, hi) = slot_bounds(slot);
        days.insert(local_time(lo, &tz).date());
        days.insert(local_time(hi - 1, &tz).date());
    }
    for date in days {
        if !keeps_day(horizon.as_ref(), date) {
            refresh_day(tx, date, &tz, &names)?;
        }
    }
    for &session in &sessions {
        refresh_session(tx, session, horizon.as_ref(), &names)?;
    }
    usage_blocks::refresh(tx, &slots, now_ms, horizon.as_ref(), &names)
}

/// `[lo, hi)` of a slot's instants.
fn slot_bounds(slot: i64) -> (i64, i64) {
    let lo = quarter_usage::slot_start(slot);
    let hi = quarter_usage::slot_start(slot + 1);
    (lo, hi)
}

/// One local day's three rows, from the rollup rows of that day.
fn refresh_day(
    tx: &Transaction,
    date: Date,
    tz: &TimeZone,
    names: &Names,
) -> Result<(), StoreError> {
    let (lo, hi) = day_bounds(date, tz)?;
    let rows = quarter_usage::rows_between(tx, lo, hi, &Keep::all(), Some(tz))?;
    let key = date.to_string();
    match aggregate_days(&rows, tz).remove(&date) {
        Some(day) => write_day(tx, &day, names),
        None => {
            daily_usage_summary::delete(tx, &key, false)?;
            daily_aggregates::delete(tx, &key, false)?;
            cache_analytics::delete(tx, &key, false)
        }
    }
}

fn write_day(tx: &Transaction, day: &DayAggregate, names: &Names) -> Result<(), StoreError> {
    daily_usage_summary::write(tx, &daily_usage_summary::Row::of(day, names))?;
    daily_aggregates::write(tx, &daily_aggregates::Row::of(day, names))?;
    cache_analytics::write(tx, &cache_analytics::Row::of(day))
}

/// One session's rows, from its rollup rows (kept history aside).
fn refresh_session(
    tx: &Transaction,
    session: Id,
    horizon: Option<&Horizon>,
    names: &Names,
) -> Result<(), StoreError> {
    let Some(id) = names.session(session) else {
        return Ok(());
    };
    if let Some(h) = horizon {
        if h.keeps_session(claude_sessions::stored_start(tx, id)?.as_deref()) {
            return Ok(());
        }
    }
    let rows = quarter_usage::rows_of_session(tx, session)?;
    match aggregate_sessions(&rows, names).get(&session) {
        Some(a) => write_session(tx, a, names),
        // Every response of the session turned out to be a replay: nothing is billed.
        None => {
            claude_sessions::zero(tx, id)?;
            session_models::delete(tx, id)
        }
    }
}

fn write_session(tx: &Transaction, a: &SessionAggregate, names: &Names) -> Result<(), StoreError> {
    let Some(f) = SessionFigures::of(a, names) else {
        return Ok(());
    };
    claude_sessions::write(tx, &claude_sessions::Row::of(&f))?;
    session_models::write(tx, &f.session_id, &f.models)
}

/// Recomputes every derived table from the facts (all but the kept history, see
/// [`Horizon`]): the rollup, then everything else from it.
pub fn rebuild_all(tx: &Transaction) -> Result<(), StoreError> {
    quarter_usage::rebuild(tx)?;
    rebuild_from_rollup(tx, now_ms())
}

/// Every table but the rollup, from the rollup.
fn rebuild_from_rollup(tx: &Transaction, now_ms: i64) -> Result<(), StoreError> {
    let horizon = Horizon::of(tx)?;
    let tz = config::store_zone(tx)?;
    let first_day = horizon
        .as_ref()
        .map_or_else(String::new, |h| h.first_day.to_string());
    daily_usage_summary::delete(tx, &first_day, true)?;
    daily_aggregates::delete(tx, &first_day, true)?;
    cache_analytics::delete(tx, &first_day, true)?;
    session_models::delete_all_but_kept(
        tx,
        &horizon
            .as_ref()
            .map_or_else(String::new, |h| ctm_model::utc::format(h.horizon_ms)),
    )?;
    // Projects and models are few; a session's name comes with its rows.
    let mut names = load_names(
        tx,
        Which {
            sessions: None,
            projects: true,
            models: true,
        },
    )?;
    // Rows are streamed, never all held: memory stays flat however long the history.
    // Days, a week of the store's local days at a time (each day whole in one part).
    if let Some((first, last)) = quarter_usage::span(tx)? {
        let mut day = local_time(first, &tz).date();
        let last_day = local_time(last, &tz).date();
        while day <= last_day {
            let next = day
                .checked_add(jiff::Span::new().days(7))
                .map_err(|e| StoreError::Invalid(format!("date after {day}: {e}")))?;
            let (lo, _) = day_bounds(day, &tz)?;
            let hi = if next > last_day {
                i64::MAX
            } else {
                day_bounds(next, &tz)?.0
            };
            let rows = quarter_usage::rows_between(tx, lo, hi, &Keep::all(), Some(&tz))?;
            for d in aggregate_days(&rows, &tz).values() {
                if !keeps_day(horizon.as_ref(), d.date) {
                    write_day(tx, d, &names)?;
                }
            }
            day = next;
        }
    }
    // Sessions, one at a time.
    quarter_usage::visit_by_session(tx, |session_id, rows| {
        let Some(id) = session_id else {
            return Ok(());
        };
        if let Some(h) = &horizon {
            if h.keeps_session(claude_sessions::stored_start(tx, &id)?.as_deref()) {
                return Ok(());
            }
        }
        let session = rows[0].key.session;
        names.sessions.insert(session, id.into());
        for a in aggregate_sessions(rows, &names).values() {
            write_session(tx, a, &names)?;
        }
        names.sessions.remove(&session);
        Ok(())
    })?;
    usage_blocks::rebuild_from_rollup(tx, horizon.as_ref(), &names, now_ms)
}

/// Marks blocks whose time is over as completed.
pub fn close_finished_blocks(tx: &Transaction, now_ms: i64) -> Result<(), StoreError> {
    usage_blocks::close_finished(tx, now_ms)
}

/// Recomputes every derived table from the facts, in memory, with the code that writes
/// them, and lists how the stored ones differ. History kept after a prune (see
/// [`Horizon`]) is not compared: its facts are gone.
pub fn check(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut diffs = Vec::new();
    let facts = fact_reader::billed_all(conn)?;
    let tz = config::store_zone(conn)?;
    let horizon = Horizon::of(conn)?;

    quarter_usage::check(conn, &ctm_aggregate::rollup(&facts), &mut diffs)?;

    // Everything else from each response on its own: what the rollup must amount to.
    let rows: Vec<SlotRow> = facts.iter().map(SlotRow::of_fact).collect();
    drop(facts);
    let sessions: Vec<Id> = rows
        .iter()
        .map(|r| r.key.session)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let names = load_names(
        conn,
        Which {
            sessions: Some(&sessions),
            projects: true,
            models: true,
        },
    )?;

    let first_day = horizon
        .as_ref()
        .map_or_else(String::new, |h| h.first_day.to_string());
    let days: Vec<DayAggregate> = aggregate_days(&rows, &tz)
        .into_values()
        .filter(|d| !keeps_day(horizon.as_ref(), d.date))
        .collect();
    daily_usage_summary::check(
        conn,
        &days
            .iter()
            .map(|d| daily_usage_summary::Row::of(d, &names))
            .collect::<Vec<_>>(),
        &first_day,
        &mut diffs,
    )?;
    daily_aggregates::check(
        conn,
        &days
            .iter()
            .map(|d| daily_aggregates::Row::of(d, &names))
            .collect::<Vec<_>>(),
        &first_day,
        &mut diffs,
    )?;
    cache_analytics::check(
        conn,
        &days
            .iter()
            .map(cache_analytics::Row::of)
            .collect::<Vec<_>>(),
        &first_day,
        &mut diffs,
    )?;

    // Sessions with facts; rows without are sessions the store knew before ctm (kept,
    // never derived).
    let stored_starts: BTreeMap<String, Option<String>> = claude_sessions::stored(conn)?
        .into_values()
        .map(|r| (r.session_id, r.session_start))
        .collect();
    let kept = |id: &str| {
        horizon.as_ref().is_some_and(|h| {
            stored_starts
                .get(id)
                .is_some_and(|start| h.keeps_session(start.as_deref()))
        })
    };
    let figures: Vec<SessionFigures> = aggregate_sessions(&rows, &names)
        .values()
        .filter_map(|a| SessionFigures::of(a, &names))
        .collect();
    claude_sessions::check(
        conn,
        &figures
            .iter()
            .map(claude_sessions::Row::of)
            .collect::<Vec<_>>(),
        &|row| kept(&row.session_id),
        &mut diffs,
    )?;
    session_models::check(
        conn,
        &figures
            .iter()
            .map(|f| (f.session_id.clone(), f.models.clone()))
            .collect(),
        &kept,
        &mut diffs,
    )?;

    let blocks = usage_blocks::derived_blocks(&rows, horizon.as_ref(), &names);
    usage_blocks::check(conn, &blocks, horizon.as_ref(), now_ms(), &mut diffs)?;
    Ok(diffs)
}

/// Lists how stored rows (by key) differ from `expected`: missing, different, extra.
fn compare<R: PartialEq + std::fmt::Debug>(
    table: &str,
    mut stored: BTreeMap<String, R>,
    expected: &[R],
    key: impl Fn(&R) -> String,
    diffs: &mut Vec<String>,
) {
    for want in expected {
        let k = key(want);
        match stored.remove(&k) {
            None => diffs.push(format!("{table}: {k} is missing")),
            Some(row) if row != *want => {
                diffs.push(format!("{table} {k}: {row:?}, facts say {want:?}"))
            }
            Some(_) => {}
        }
    }
    for k in stored.keys() {
        diffs.push(format!("{table}: {k} has no facts"));
    }
}

/// `[start, end)` of a local day in UTC epoch ms.
pub fn day_bounds(date: Date, tz: &TimeZone) -> Result<(i64, i64), StoreError> {
    ctm_aggregate::day_bounds(date, tz)
        .ok_or_else(|| StoreError::Invalid(format!("date {date} is out of range")))
}

/// The ids of the dimension texts a filter keeps (see [`Keep`]).
pub fn keep_of(conn: &Connection, filter: &ctm_aggregate::Filter) -> Result<Keep, StoreError> {
    let ids = |dim,
               set: bool,
               m: &dyn Fn(&str) -> bool|
     -> Result<Option<std::collections::HashSet<Id>>, StoreError> {
        if !set {
            return Ok(None);
        }
        Ok(Some(dims::ids_where(conn, dim, m)?.into_iter().collect()))
    };
    Ok(Keep {
        projects: ids(dims::Dim::Project, filter.filters_projects(), &|p| {
            filter.matches_project(Some(p))
        })?,
        models: ids(dims::Dim::Model, filter.filters_models(), &|m| {
            filter.matches_model(Some(m))
        })?,
    })
}
