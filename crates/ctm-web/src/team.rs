//! `ctm serve --team URL`: the dashboard over a team database (crate `ctm-team`).
//!
//! The routes the team database can answer (the overview, the period reports, models,
//! projects, sessions, and `/api/users`, the per-person panel) read it with the team
//! reports, each on a blocking thread with a pooled connection; every one takes `user`,
//! the person filter. The routes made of a single machine's data (the 5-hour blocks,
//! hourly activity, cache, top, a session's responses, snapshots, exports) answer 404
//! saying so, and the page leaves their panels out. The same token, bind and Host rules
//! apply as for the local store.

use std::sync::Mutex;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ctm_analytics::{
    daily_report_of, model_report_of, monthly_report_of, weekly_report_of, ReportQuery,
};
use ctm_team::reports::{Reader, TeamQuery};
use ctm_team::{TeamError, TeamUrl};
use jiff::civil::{Date, Weekday};
use serde_json::json;

use crate::error::ApiError;
use crate::params::Params;
use crate::AppState;

/// Connections kept open for the next request (more are opened under load).
const KEPT: usize = 4;

/// The team database and its idle connections.
pub struct TeamSource {
    url: TeamUrl,
    idle: Mutex<Vec<Reader>>,
}

impl TeamSource {
    /// Connects once, so a database that cannot be read stops `ctm serve` at start.
    pub fn open(url: TeamUrl) -> Result<TeamSource, TeamError> {
        let first = Reader::open(&url)?;
        Ok(TeamSource {
            url,
            idle: Mutex::new(vec![first]),
        })
    }

    pub fn shown(&self) -> &str {
        self.url.shown()
    }

    /// Runs `f` with a connection; one that failed is not kept (it may be broken).
    fn with<T>(&self, f: impl FnOnce(&mut Reader) -> Result<T, TeamError>) -> Result<T, ApiError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut reader = match pooled {
            Some(r) => r,
            None => Reader::open(&self.url).map_err(api_error)?,
        };
        let out = f(&mut reader);
        if out.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < KEPT {
                idle.push(reader);
            }
        }
        out.map_err(api_error)
    }
}

/// A team error as an answer: the question's fault is a 400, the database's a 503.
fn api_error(e: TeamError) -> ApiError {
    let status = match e {
        TeamError::Invalid(_) | TeamError::Config(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError {
        status,
        message: e.to_string(),
        parameter: None,
    }
}

/// Runs a team read on a blocking thread.
async fn read<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&mut Reader) -> Result<T, TeamError> + Send + 'static,
) -> Result<T, ApiError> {
    let team = st.team.clone().expect("team routes run in team mode");
    tokio::task::spawn_blocking(move || team.with(f))
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("a request's worker stopped: {e}"),
            parameter: None,
        })?
}

/// The routes a team database answers (with their parameters from `api::QUERY`).
pub const ROUTES: &[&str] = &[
    "/",
    "/app.js",
    "/app.css",
    "/login",
    "/events",
    "/api/health",
    "/api/summary",
    "/api/daily",
    "/api/weekly",
    "/api/monthly",
    "/api/sessions",
    "/api/projects",
    "/api/models",
    "/api/users",
];

fn query(p: &Params, rq: ReportQuery) -> TeamQuery {
    TeamQuery {
        report: rq,
        user: p.get("user").filter(|u| !u.is_empty()).map(str::to_owned),
    }
}

pub async fn health(st: &AppState) -> Result<Json<serde_json::Value>, ApiError> {
    let ingest = st.notifier.status();
    let clients = st.notifier.clients();
    let roots = st.data_roots.clone();
    let shown = st.team.as_ref().map(|t| t.shown().to_owned());
    let (_, responses) = read(st, |r| r.overview(None)).await?;
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "mode": "team",
        "teamDatabase": shown,
        "schemaVersion": ctm_team::schema::SCHEMA_VERSION,
        "billedResponses": responses,
        "ingest": ingest,
        "eventClients": clients,
        "dataRoots": *roots,
    })))
}

/// The overview: today, this week and this month of the team (or one person); no
/// 5-hour block or official limits, which belong to one machine.
pub async fn summary(
    st: &AppState,
    p: &Params,
    rq: ReportQuery,
    first: Weekday,
) -> Result<Response, ApiError> {
    let q = query(p, rq);
    let now = st.now();
    let answer = read(st, move |r| {
        let today = now.to_zoned(q.report.zone.tz.clone()).date();
        let mut period = |from: Date| -> Result<ctm_analytics::PeriodTotals, TeamError> {
            let mut pq = q.clone();
            pq.report.since = Some(from);
            pq.report.until = Some(today);
            let d = daily_report_of(r.model_days(&pq, None)?, &pq.report);
            Ok(ctm_analytics::PeriodTotals {
                from: from.to_string(),
                to: today.to_string(),
                cache_hit_rate: d.totals.hit_rate(),
                totals: d.totals,
                unpriced_models: d.unpriced_models,
            })
        };
        let today_totals = period(today)?;
        let week = period(ctm_analytics::periods::week_start(today, first))?;
        let month = period(today.first_of_month())?;
        let (last, _) = r.overview(q.user.as_deref())?;
        Ok(ctm_analytics::SummaryReport {
            today: today_totals,
            this_week: week,
            this_month: month,
            current_block: None,
            last_block: None,
            last_response: last.map(|ms| q.report.zone.rfc3339(ms)),
            token_limit: None,
            official_limits: ctm_analytics::OfficialLimits {
                five_hour: None,
                seven_day: None,
            },
            now: q.report.zone.rfc3339(now.as_millisecond()),
            timezone: q.report.zone.label(),
        })
    })
    .await?;
    Ok(Json(answer).into_response())
}

/// The reports made of local days: daily, weekly, monthly and models.
#[derive(Debug, Clone, Copy)]
pub enum Days {
    Daily,
    Weekly(Weekday),
    Monthly,
    Models,
}

pub async fn days(
    st: &AppState,
    p: &Params,
    rq: ReportQuery,
    kind: Days,
) -> Result<Response, ApiError> {
    let q = query(p, rq);
    read(st, move |r| {
        let days = r.model_days(&q, None)?;
        let rq = &q.report;
        Ok(match kind {
            Days::Daily => Json(daily_report_of(days, rq)).into_response(),
            Days::Weekly(first) => Json(weekly_report_of(days, rq, first)).into_response(),
            Days::Monthly => Json(monthly_report_of(days, rq)).into_response(),
            Days::Models => Json(model_report_of(days, rq)).into_response(),
        })
    })
    .await
}

pub async fn projects(st: &AppState, p: &Params, rq: ReportQuery) -> Result<Response, ApiError> {
    let q = query(p, rq);
    let r = read(st, move |r| r.projects(&q, None)).await?;
    Ok(Json(r).into_response())
}

/// `/api/users`: the per-person panel.
pub async fn users(st: &AppState, p: &Params, rq: ReportQuery) -> Result<Response, ApiError> {
    let q = query(p, rq);
    let r = read(st, move |r| r.users(&q, None)).await?;
    Ok(Json(r).into_response())
}

/// One page of the team's sessions, as `/api/sessions` pages the local ones, each row
/// with its person.
pub async fn sessions(
    st: &AppState,
    p: &Params,
    rq: ReportQuery,
    page: crate::sessions_page::Paging,
) -> Result<Response, ApiError> {
    let q = query(p, rq);
    let r = read(st, move |r| r.sessions(&q, None)).await?;
    Ok(Json(page.of(
        r.sessions,
        |row| &row.session,
        r.totals,
        r.timezone,
        r.unpriced_models,
    ))
    .into_response())
}

/// What `/api/users` answers outside team mode.
pub fn not_team() -> ApiError {
    ApiError::not_found("/api/users is the team dashboard's (ctm serve --team URL)")
}

/// `user` outside team mode: there is one person.
pub fn refuse_user(p: &Params) -> Result<(), ApiError> {
    match p.get("user") {
        Some(u) if !u.is_empty() => Err(ApiError::param(
            "user",
            "user filters a team dashboard (ctm serve --team URL); this one serves one store"
                .into(),
        )),
        _ => Ok(()),
    }
}
