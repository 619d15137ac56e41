//! `ctm session`: one row per Claude Code session, and one session response by response.

use std::collections::{BTreeMap, BTreeSet};

use ctm_store::derive::{
    self, FactReader, FactRow, ModelResponses, SessionAggregate, Sums, FACT_COLUMNS,
};
use ctm_store::snapshot_readers::in_one_snapshot;
use rusqlite::Connection;
use serde::Serialize;

use crate::query::{self, ReportQuery};
use crate::usage::Totals;
use crate::{AnalyticsError, Zone};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    pub session_id: String,
    pub project_path: Option<String>,
    /// RFC 3339 in the report's zone.
    pub first_activity: String,
    pub last_activity: String,
    pub duration_minutes: f64,
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
    pub models_used: Vec<String>,
    /// The model with the most tokens.
    pub main_model: Option<String>,
    /// cache read / (input + cache write + cache read).
    pub efficiency_score: f64,
    pub unpriced_responses: u64,
    /// False when `unpricedResponses` is not 0: `totalCost` leaves them out.
    pub priced: bool,
    /// UTC epoch ms of the first and last response, for ordering.
    #[serde(skip)]
    pub first_ms: i64,
    #[serde(skip)]
    pub last_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionReport {
    pub sessions: Vec<SessionRow>,
    pub totals: Totals,
    pub timezone: String,
    pub unpriced_models: Vec<String>,
}

/// One response of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseRow {
    pub timestamp: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub cost: f64,
    /// The session's cost up to and including this response.
    pub cumulative_cost: f64,
    pub priced: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetail {
    pub session: SessionRow,
    pub responses: Vec<ResponseRow>,
    pub timezone: String,
}

/// Sessions of the query's facts (their responses inside its days and filters), by
/// last activity. Without days, filters or pruned history, `claude_sessions` holds each
/// session's sums exactly as the facts give them, so they are read from there.
pub fn session_report(conn: &Connection, q: &ReportQuery) -> Result<SessionReport, AnalyticsError> {
    let aggregates = if reads_session_table(conn, q)? {
        stored_sessions(conn)?
    } else {
        let facts = query::facts(conn, q)?;
        derive::aggregate_sessions(&facts).into_values().collect()
    };
    let mut all = Sums::default();
    let mut unpriced_models = BTreeSet::new();
    for a in &aggregates {
        all.add(&a.sums);
        unpriced_models.extend(
            a.models
                .iter()
                .filter(|(_, n)| n.unpriced > 0)
                .map(|(m, _)| m.clone()),
        );
    }
    let mut sessions = rows_of_sessions(aggregates, &q.zone);
    q.arrange(&mut sessions);
    Ok(SessionReport {
        sessions,
        totals: Totals::from(&all),
        timezone: q.zone.label(),
        unpriced_models: unpriced_models.into_iter().collect(),
    })
}

/// The `limit` sessions of the query that cost most, most expensive first (ties by id).
/// From `claude_sessions` (see [`session_report`]) only those sessions are read and
/// their models looked up, a seek each, instead of every session's.
pub fn costliest_sessions(
    conn: &Connection,
    q: &ReportQuery,
    limit: usize,
) -> Result<Vec<SessionRow>, AnalyticsError> {
    if !reads_session_table(conn, q)? {
        let mut sessions = session_report(conn, q)?.sessions;
        sessions.sort_by(|a, b| {
            costliest_first((a.total_cost, &a.session_id), (b.total_cost, &b.session_id))
        });
        sessions.truncate(limit);
        return Ok(sessions);
    }
    in_one_snapshot(conn, |conn| stored_costliest(conn, q, limit))
}

/// [`costliest_sessions`] from `claude_sessions` and `session_models`, read in one
/// snapshot (a session's row and its models from the same commit).
fn stored_costliest(
    conn: &Connection,
    q: &ReportQuery,
    limit: usize,
) -> Result<Vec<SessionRow>, AnalyticsError> {
    // SQLite orders the sessions as `costliest_first` does (costs are never NaN or -0,
    // ids compare byte by byte), so only those looked at are decoded.
    let mut by_cost = conn.prepare_cached(&format!(
        "SELECT {} FROM claude_sessions WHERE session_id IS NOT NULL \
         ORDER BY coalesce(total_cost, 0.0) DESC, session_id",
        derive::SESSION_ROW_COLUMNS
    ))?;
    let mut candidates = by_cost.query([])?;
    let mut sessions = Vec::with_capacity(limit);
    while sessions.len() < limit {
        let Some(row) = candidates.next()? else { break };
        let models = derive::stored_session_models(conn, &row.get::<_, String>(0)?)?;
        // A session without billed responses is not shown, nor decoded (see
        // `stored_sessions`).
        if models.is_empty() {
            continue;
        }
        let mut a = derive::session_from_row(row)?;
        a.models = models;
        a.sums.unpriced_responses = unpriced(&a.models);
        sessions.push(session_row(a, &q.zone));
    }
    Ok(sessions)
}

/// Orders (cost, session id) most expensive first, ties by id.
fn costliest_first(a: (f64, &str), b: (f64, &str)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1))
}

/// Rows for the sessions of these facts, ordered by last activity.
pub(crate) fn session_rows(facts: &[FactRow], zone: &Zone) -> Vec<SessionRow> {
    rows_of_sessions(
        derive::aggregate_sessions(facts).into_values().collect(),
        zone,
    )
}

/// Rows, ordered by last activity. Every aggregate has billed responses, so models:
/// one from the facts gets a model per fact, and [`stored_sessions`] leaves out the rows
/// that have none.
fn rows_of_sessions(aggregates: Vec<SessionAggregate>, zone: &Zone) -> Vec<SessionRow> {
    let mut rows: Vec<SessionRow> = aggregates
        .into_iter()
        .map(|a| session_row(a, zone))
        .collect();
    rows.sort_by(|a, b| {
        a.last_ms
            .cmp(&b.last_ms)
            .then_with(|| a.session_id.cmp(&b.session_id))
    });
    rows
}

/// `claude_sessions` equals a recompute from the facts (`ctm db check`) except for
/// history kept after a prune, and it has no per-day or per-project split.
fn reads_session_table(conn: &Connection, q: &ReportQuery) -> Result<bool, AnalyticsError> {
    Ok(q.filter.is_empty()
        && q.since.is_none()
        && q.until.is_none()
        && query::pruned_before(conn, q, false)?.is_none())
}

/// Every `claude_sessions` row that has `session_models` rows, with them: the sessions
/// with billed responses (rows of sessions the store knew before ctm, or whose
/// responses all turned out to be replays, have none, and are neither rows nor totals).
fn stored_sessions(conn: &Connection) -> Result<Vec<SessionAggregate>, AnalyticsError> {
    // One commit for both tables: an ingest landing between the two reads would leave
    // a new session without models (and out of the report) or models without a row.
    in_one_snapshot(conn, stored_sessions_now)
}

fn stored_sessions_now(conn: &Connection) -> Result<Vec<SessionAggregate>, AnalyticsError> {
    let mut models = derive::stored_models_by_session(conn)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM claude_sessions WHERE session_id IS NOT NULL",
        derive::SESSION_ROW_COLUMNS
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        // A row without models has no billed responses: one the store kept from before
        // ctm (whose times need not even be RFC 3339), or whose responses all turned out
        // to be replays. It is no session of the report, so it is not decoded.
        let Some(session_models) = models.remove(&r.get::<_, String>(0)?) else {
            continue;
        };
        let mut a = derive::session_from_row(r)?;
        a.models = session_models;
        // claude_sessions has no unpriced count; the models have it.
        a.sums.unpriced_responses = unpriced(&a.models);
        out.push(a);
    }
    Ok(out)
}

fn unpriced(models: &BTreeMap<String, ModelResponses>) -> u64 {
    models.values().map(|n| n.unpriced).sum()
}

fn session_row(a: SessionAggregate, zone: &Zone) -> SessionRow {
    let s = &a.sums;
    SessionRow {
        project_path: a.project_path.clone(),
        first_activity: zone.rfc3339(a.first_ts),
        last_activity: zone.rfc3339(a.last_ts),
        duration_minutes: (a.last_ts - a.first_ts) as f64 / 60_000.0,
        responses: s.responses,
        input_tokens: s.input_tokens,
        output_tokens: s.output_tokens,
        cache_creation_tokens: s.cache_creation_tokens(),
        cache_read_tokens: s.cache_read_tokens,
        total_tokens: s.total_tokens(),
        total_cost: s.cost_usd,
        models_used: a.models.into_keys().collect(),
        main_model: a.main_model.clone(),
        efficiency_score: s.efficiency_score(),
        unpriced_responses: s.unpriced_responses,
        priced: s.unpriced_responses == 0,
        first_ms: a.first_ts,
        last_ms: a.last_ts,
        session_id: a.session_id,
    }
}

/// One session, response by response. `id` may be a unique prefix of the session id.
pub fn session_detail(
    conn: &Connection,
    q: &ReportQuery,
    id: &str,
) -> Result<SessionDetail, AnalyticsError> {
    let id = resolve_session(conn, id)?;
    let (lo, hi) = q.bounds()?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FACT_COLUMNS} FROM billed_responses WHERE session_id = ?1 ORDER BY ts"
    ))?;
    let mut facts = FactReader::default().read_all(&mut stmt, [&id])?;
    facts.retain(|f| f.ts >= lo && f.ts < hi && q.filter.matches(f));
    let Some(session) = session_rows(&facts, &q.zone).pop() else {
        return Err(AnalyticsError::NotFound(format!(
            "session {id} has no responses in this period or filter"
        )));
    };
    let mut cumulative = 0.0;
    let mut responses: Vec<ResponseRow> = facts
        .iter()
        .map(|f| {
            let s = &f.sums;
            cumulative += s.cost_usd;
            ResponseRow {
                timestamp: q.zone.rfc3339(f.ts),
                model: derive::model_label(f.model.as_deref()).to_owned(),
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cache_creation_tokens: s.cache_creation_tokens(),
                cache_read_tokens: s.cache_read_tokens,
                total_tokens: s.total_tokens(),
                cost: s.cost_usd,
                cumulative_cost: cumulative,
                priced: s.unpriced_responses == 0,
            }
        })
        .collect();
    q.arrange(&mut responses);
    Ok(SessionDetail {
        session,
        responses,
        timezone: q.zone.label(),
    })
}

/// One session by its exact id, with the context its latest response sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionNow {
    pub session: SessionRow,
    /// Input + cache write + cache read tokens of the latest response: the context it sent.
    pub last_context_tokens: u64,
}

/// The session `id` (exactly: an index seek, for the statusline), if it has responses.
pub fn session_now(
    conn: &Connection,
    id: &str,
    zone: &Zone,
) -> Result<Option<SessionNow>, AnalyticsError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FACT_COLUMNS} FROM billed_responses WHERE session_id = ?1 ORDER BY ts"
    ))?;
    let facts = FactReader::default().read_all(&mut stmt, [id])?;
    let last_context_tokens = facts.last().map_or(0, |f| {
        f.sums.input_tokens + f.sums.cache_creation_tokens() + f.sums.cache_read_tokens
    });
    Ok(session_rows(&facts, zone).pop().map(|session| SessionNow {
        session,
        last_context_tokens,
    }))
}

/// The one billed session whose id is `id` or starts with it.
fn resolve_session(conn: &Connection, id: &str) -> Result<String, AnalyticsError> {
    if id.is_empty() {
        return Err(AnalyticsError::Invalid("the session id is empty".into()));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT session_id FROM billed_responses \
         WHERE substr(session_id, 1, length(?1)) = ?1 ORDER BY session_id LIMIT 6",
    )?;
    let found: Vec<String> = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    match found.as_slice() {
        [] => Err(AnalyticsError::NotFound(format!(
            "no session starts with {id:?}; `ctm session` lists them"
        ))),
        [one] => Ok(one.clone()),
        _ if found.iter().any(|f| f == id) => Ok(id.to_owned()),
        _ => Err(AnalyticsError::Invalid(format!(
            "{id:?} matches several sessions ({}{}); give more of the id",
            found[..found.len().min(5)].join(", "),
            if found.len() > 5 { ", ..." } else { "" }
        ))),
    }
}
