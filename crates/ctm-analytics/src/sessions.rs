//! `ctm session`: one row per Claude Code session, and one session response by response.

use std::collections::BTreeSet;

use ctm_aggregate::{aggregate_sessions, usd_of_nanos, Fact, Id, SlotRow, Sums};
use ctm_store::derive::claude_sessions::SessionFigures;
use ctm_store::Store;
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

/// Sessions of the query's responses (inside its days and filters), by last activity.
/// Without days, filters or pruned history, `claude_sessions` holds each session's sums
/// exactly as the facts give them, so they are read from there; else they come from the
/// rollup rows of the query.
pub fn session_report(store: &Store, q: &ReportQuery) -> Result<SessionReport, AnalyticsError> {
    let sessions = if reads_session_table(store, q)? {
        store.stored_sessions()?
    } else {
        sessions_of_rows(store, &query::rows(store, q)?)?
    };
    let mut all = Sums::default();
    let mut unpriced_models = BTreeSet::new();
    for f in &sessions {
        all.add(&f.sums);
        unpriced_models.extend(
            f.models
                .iter()
                .filter(|(_, n)| n.unpriced > 0)
                .map(|(m, _)| m.clone()),
        );
    }
    let mut rows = rows_of_sessions(sessions, &q.zone);
    q.arrange(&mut rows);
    Ok(SessionReport {
        sessions: rows,
        totals: Totals::from(&all),
        timezone: q.zone.label(),
        unpriced_models: unpriced_models.into_iter().collect(),
    })
}

/// The sessions of rollup rows, their texts resolved.
fn sessions_of_rows(
    store: &Store,
    rows: &[SlotRow],
) -> Result<Vec<SessionFigures>, AnalyticsError> {
    let ids: Vec<Id> = rows
        .iter()
        .map(|r| r.key.session)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let names = store.names(&ids)?;
    Ok(aggregate_sessions(rows, &names)
        .values()
        .filter_map(|a| SessionFigures::of(a, &names))
        .collect())
}

/// The `limit` sessions of the query that cost most, most expensive first (ties by id).
/// From `claude_sessions` (see [`session_report`]) only those sessions are read and
/// their models looked up, a seek each, instead of every session's.
pub fn costliest_sessions(
    store: &Store,
    q: &ReportQuery,
    limit: usize,
) -> Result<Vec<SessionRow>, AnalyticsError> {
    if !reads_session_table(store, q)? {
        let mut sessions = session_report(store, q)?.sessions;
        sessions.sort_by(|a, b| {
            b.total_cost
                .total_cmp(&a.total_cost)
                .then_with(|| a.session_id.cmp(&b.session_id))
        });
        sessions.truncate(limit);
        return Ok(sessions);
    }
    Ok(store
        .costliest_sessions(limit)?
        .into_iter()
        .map(|f| session_row_of(f, &q.zone))
        .collect())
}

/// Rows, ordered by last activity.
fn rows_of_sessions(sessions: Vec<SessionFigures>, zone: &Zone) -> Vec<SessionRow> {
    let mut rows: Vec<SessionRow> = sessions
        .into_iter()
        .map(|f| session_row_of(f, zone))
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
fn reads_session_table(store: &Store, q: &ReportQuery) -> Result<bool, AnalyticsError> {
    Ok(q.filter.is_empty()
        && q.since.is_none()
        && q.until.is_none()
        && query::pruned_before(store, q, false)?.is_none())
}

/// A session's row from its figures, in `zone`: the one builder of the rows of this
/// store's session report and of the team database's.
pub fn session_row_of(f: SessionFigures, zone: &Zone) -> SessionRow {
    let s = &f.sums;
    SessionRow {
        project_path: f.project_path.clone(),
        first_activity: zone.rfc3339(f.first_ts),
        last_activity: zone.rfc3339(f.last_ts),
        duration_minutes: (f.last_ts - f.first_ts) as f64 / 60_000.0,
        responses: s.responses,
        input_tokens: s.input_tokens,
        output_tokens: s.output_tokens,
        cache_creation_tokens: s.cache_creation_tokens(),
        cache_read_tokens: s.cache_read_tokens,
        total_tokens: s.total_tokens(),
        total_cost: s.cost_usd(),
        models_used: f.models.into_keys().collect(),
        main_model: f.main_model.clone(),
        efficiency_score: s.efficiency_score(),
        unpriced_responses: s.unpriced_responses,
        priced: s.unpriced_responses == 0,
        first_ms: f.first_ts,
        last_ms: f.last_ts,
        session_id: f.session_id,
    }
}

/// One session, response by response. `id` may be a unique prefix of the session id.
pub fn session_detail(
    store: &Store,
    q: &ReportQuery,
    id: &str,
) -> Result<SessionDetail, AnalyticsError> {
    let id = resolve_session(store, id)?;
    let (lo, hi) = q.bounds()?;
    let (session, mut facts) = store.session_facts(&id)?.unwrap_or_default();
    let names = store.names(&[session])?;
    facts.retain(|f| {
        f.ts >= lo
            && f.ts < hi
            && q.filter
                .matches(names.project(f.project), names.model(f.model))
    });
    let rows: Vec<SlotRow> = facts.iter().map(SlotRow::of_fact).collect();
    let Some(a) = aggregate_sessions(&rows, &names).remove(&session) else {
        return Err(AnalyticsError::NotFound(format!(
            "session {id} has no responses in this period or filter"
        )));
    };
    let figures = SessionFigures::of(&a, &names)
        .ok_or_else(|| AnalyticsError::NotFound(format!("session {id} is not in the store")))?;
    let mut cumulative = 0;
    let mut responses: Vec<ResponseRow> = facts
        .iter()
        .map(|f: &Fact| {
            let s = &f.sums;
            cumulative += s.cost_nanos;
            ResponseRow {
                timestamp: q.zone.rfc3339(f.ts),
                model: names.model_label(f.model).to_owned(),
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cache_creation_tokens: s.cache_creation_tokens(),
                cache_read_tokens: s.cache_read_tokens,
                total_tokens: s.total_tokens(),
                cost: s.cost_usd(),
                cumulative_cost: usd_of_nanos(cumulative),
                priced: s.unpriced_responses == 0,
            }
        })
        .collect();
    q.arrange(&mut responses);
    Ok(SessionDetail {
        session: session_row_of(figures, &q.zone),
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

/// The session `id` (exactly, for the statusline), if it has responses: from its rollup
/// rows and its latest response, whatever its length.
pub fn session_now(
    store: &Store,
    id: &str,
    zone: &Zone,
) -> Result<Option<SessionNow>, AnalyticsError> {
    let Some(session) = store.session_id(id)? else {
        return Ok(None);
    };
    let rows = store.session_rows(session)?;
    let names = store.names(&[session])?;
    let Some(figures) = aggregate_sessions(&rows, &names)
        .remove(&session)
        .and_then(|a| SessionFigures::of(&a, &names))
    else {
        return Ok(None);
    };
    let last_context_tokens = store.last_fact_of_session(session)?.map_or(0, |f| {
        f.sums.input_tokens + f.sums.cache_creation_tokens() + f.sums.cache_read_tokens
    });
    Ok(Some(SessionNow {
        session: session_row_of(figures, zone),
        last_context_tokens,
    }))
}

/// The one billed session whose id is `id` or starts with it.
fn resolve_session(store: &Store, id: &str) -> Result<String, AnalyticsError> {
    if id.is_empty() {
        return Err(AnalyticsError::Invalid("the session id is empty".into()));
    }
    let found = store.sessions_starting_with(id)?;
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
