//! The router and the JSON API. Every answer is an analytics report value serialised as
//! the CLI's `--json` prints it; every error is `{"error": "...", "parameter": ...}`.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{middleware, Json, Router};
use ctm_analytics::export::{self, ExportFormat, ExportLevel};
use ctm_analytics::{
    blocks_report, cache_report, daily_report, hourly_report, model_report, monthly_report,
    project_report, session_detail, session_report, summary_report, top_report, weekly_report,
    AnalyticsError, BlocksQuery, MetricsQuery, Order, ReportQuery, TokenLimit,
};
use ctm_store::exports::ExportRecord;
use ctm_store::Store;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::Params;
use crate::sessions_page::Paging;
use crate::{assets, auth, team, AppState};

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The query parameters of each API route: whether it takes the report ones
/// ([`crate::params::REPORT`]), and its own. The handlers check requests against it and a
/// test checks it against the OpenAPI file.
pub const QUERY: &[(&str, bool, &[&str])] = &[
    ("/login", false, &["code"]),
    ("/events", false, &[]),
    ("/api/health", false, &[]),
    ("/metrics", false, &[]),
    (
        "/api/summary",
        false,
        &["tz", "project", "model", "start_of_week", "user"],
    ),
    ("/api/daily", true, &["user"]),
    ("/api/weekly", true, &["start_of_week", "user"]),
    ("/api/monthly", true, &["user"]),
    (
        "/api/sessions",
        true,
        &["date", "sort", "limit", "offset", "user"],
    ),
    ("/api/sessions/{id}", true, &[]),
    ("/api/projects", true, &["user"]),
    ("/api/models", true, &["user"]),
    ("/api/users", true, &["user"]),
    ("/api/hourly", true, &[]),
    ("/api/top", true, &["limit"]),
    ("/api/cache", true, &[]),
    ("/api/blocks", true, &["token_limit", "active", "recent"]),
    ("/api/snapshots", false, &[]),
    ("/api/exports", true, &["format", "level"]),
    ("/api/exports/history", false, &[]),
];

/// The route's parameters, checked against [`QUERY`].
fn params(q: Pairs, route: &str) -> Result<Params, ApiError> {
    let (report, extra) = QUERY
        .iter()
        .find(|(path, ..)| *path == route)
        .map_or((false, &[][..]), |(_, report, extra)| (*report, *extra));
    let Query(pairs) = q.map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!("the query string cannot be read: {e}"),
        parameter: None,
    })?;
    Params::check(pairs, report, extra)
}

/// Runs a read on a blocking thread with a pooled connection.
async fn read<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let reader = st.reader.clone();
    tokio::task::spawn_blocking(move || reader.with(f))
        .await
        .map_err(|e| ApiError::internal(format!("a request's worker stopped: {e}")))?
}

/// The header that says responses before a day were pruned (`ctm db prune
/// --facts-older-than`) and the answer counts only what came after: what the CLI says on
/// stderr for the same report.
pub const PRUNED_HEADER: &str = "ctm-pruned-before";

/// A report answer: the value as JSON, with [`PRUNED_HEADER`] when the query reaches
/// before the store's pruning horizon. `per_day`: the report may read the daily tables,
/// which keep the pruned days.
async fn report<T: Serialize + Send + 'static>(
    st: &AppState,
    rq: ReportQuery,
    per_day: bool,
    build: impl FnOnce(&ctm_store::Store, &ReportQuery) -> Result<T, AnalyticsError> + Send + 'static,
) -> Result<Response, ApiError> {
    read(st, move |s| {
        let pruned = ctm_analytics::query::pruned_before(s, &rq, per_day)?;
        let mut answer = Json(build(s, &rq)?).into_response();
        if let Some(day) = pruned {
            if let Ok(v) = HeaderValue::from_str(&day.to_string()) {
                answer.headers_mut().insert(PRUNED_HEADER, v);
            }
        }
        Ok(answer)
    })
    .await
}

/// Every route: the page, the login link, the API and the event stream. The OpenAPI file
/// documents exactly these paths (a test checks both ways).
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/", get(|| async { assets::page("/") })),
        ("/app.js", get(|| async { assets::page("/app.js") })),
        ("/app.css", get(|| async { assets::page("/app.css") })),
        (
            "/login",
            get(login).route_layer(middleware::from_fn(auth::same_origin_only)),
        ),
        ("/events", get(events)),
        ("/api/health", get(health)),
        ("/metrics", get(metrics)),
        ("/api/summary", get(summary)),
        ("/api/daily", get(daily)),
        ("/api/weekly", get(weekly)),
        ("/api/monthly", get(monthly)),
        ("/api/sessions", get(sessions)),
        ("/api/sessions/{id}", get(session)),
        ("/api/projects", get(projects)),
        ("/api/models", get(models)),
        ("/api/users", get(users)),
        ("/api/hourly", get(hourly)),
        ("/api/top", get(top)),
        ("/api/cache", get(cache)),
        ("/api/blocks", get(blocks)),
        ("/api/snapshots", get(snapshots)),
        (
            "/api/exports",
            post(exports)
                .route_layer(middleware::from_fn(auth::same_origin_only))
                .fallback(exports_not_posted),
        ),
        ("/api/exports/history", get(export_history)),
    ]
}

/// In team mode, the routes made of one machine's data say they are not here.
async fn only_team_routes(req: axum::extract::Request, next: middleware::Next) -> Response {
    let path = req.uri().path();
    let known = routes().iter().any(|(p, _)| route_matches(p, path));
    if known && !team::ROUTES.contains(&path) {
        return ApiError::not_found(format!(
            "{path} is not available over the team database (ctm serve --team): it needs one \
             machine's own store"
        ))
        .into_response();
    }
    next.run(req).await
}

/// Whether a request path is a route's (`{id}` matching one segment).
fn route_matches(route: &str, path: &str) -> bool {
    let (r, p): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
    r.len() == p.len()
        && r.iter()
            .zip(&p)
            .all(|(a, b)| a == b || (a.starts_with('{') && !b.is_empty()))
}

pub fn router(state: AppState) -> Router {
    let mut r = Router::new();
    for (path, route) in routes() {
        r = r.route(path, route);
    }
    let r = r.fallback(|uri: axum::http::Uri| async move {
        ApiError::not_found(format!("no such path: {}", uri.path()))
    });
    // Inside the token check: a team dashboard's missing routes are only told to those
    // who may ask.
    let r = if state.team.is_some() {
        r.layer(middleware::from_fn(only_team_routes))
    } else {
        r
    };
    r.layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ))
    .layer(middleware::map_response(hardened))
    .with_state(state)
}

/// Every answer: no MIME sniffing, no framing by another page, no referrer; the API's
/// answers (and the login's) never cached, since they are the user's usage.
async fn hardened(uri: axum::http::Uri, mut answer: Response) -> Response {
    let h = answer.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    let path = uri.path();
    if path.starts_with("/api/") || path == "/login" || path == "/events" {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    answer
}

async fn login(State(st): State<AppState>, auth::Client(from): auth::Client, q: Pairs) -> Response {
    match params(q, "/login") {
        Ok(p) => auth::login(&st, p.get("code"), from),
        Err(e) => e.into_response(),
    }
}

async fn events(State(st): State<AppState>, q: Pairs) -> Response {
    match params(q, "/events") {
        Ok(_) => st.notifier.stream().into_response(),
        Err(e) => e.into_response(),
    }
}

async fn health(State(st): State<AppState>, q: Pairs) -> Result<Json<Value>, ApiError> {
    params(q, "/api/health")?;
    if st.team.is_some() {
        return team::health(&st).await;
    }
    let ingest = st.notifier.status();
    let clients = st.notifier.clients();
    let roots = st.data_roots.clone();
    read(&st, move |s| {
        let responses = s.totals().map_err(ApiError::from_store)?.responses;
        Ok(Json(json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "schemaVersion": s.schema_version()?,
            "billedResponses": responses,
            "ingest": ingest,
            "eventClients": clients,
            "dataRoots": *roots,
        })))
    })
    .await
}

/// Prometheus' scrape: every figure from derived rows and indexes, none by passing over
/// every response.
async fn metrics(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
    params(q, "/metrics")?;
    let query = MetricsQuery {
        now_ms: st.now().as_millisecond(),
        top_projects: st.metrics_top_projects,
    };
    let ingest_seconds = st
        .notifier
        .status()
        .last_ingest_ms
        .map(|ms| ms as f64 / 1000.0);
    let m = read(&st, move |s| Ok(ctm_analytics::metrics(s, &query)?)).await?;
    Ok((
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(&m, ingest_seconds),
    )
        .into_response())
}

async fn summary(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
    let p = params(q, "/api/summary")?;
    let rq = p.report_query(&st.default_zone)?;
    let first = p.start_of_week()?;
    if st.team.is_some() {
        return team::summary(&st, &p, rq, first).await;
    }
    team::refuse_user(&p)?;
    let now = st.now();
    report(&st, rq, true, move |conn, rq| {
        summary_report(conn, rq, now, first)
    })
    .await
}

/// The report routes that take only the shared parameters.
macro_rules! report_route {
    ($name:ident, $route:literal, $report:path, $per_day:expr) => {
        async fn $name(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
            let rq = params(q, $route)?.report_query(&st.default_zone)?;
            report(&st, rq, $per_day, |conn, rq| $report(conn, rq)).await
        }
    };
}

/// The report routes a team database answers too (with `user`).
macro_rules! team_report_route {
    ($name:ident, $route:literal, $report:path, $per_day:expr, $team:expr) => {
        async fn $name(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
            let p = params(q, $route)?;
            let rq = p.report_query(&st.default_zone)?;
            if st.team.is_some() {
                return $team(&st, &p, rq).await;
            }
            team::refuse_user(&p)?;
            report(&st, rq, $per_day, |conn, rq| $report(conn, rq)).await
        }
    };
}

team_report_route!(daily, "/api/daily", daily_report, true, |st, p, rq| {
    team::days(st, p, rq, team::Days::Daily)
});
team_report_route!(
    monthly,
    "/api/monthly",
    monthly_report,
    true,
    |st, p, rq| { team::days(st, p, rq, team::Days::Monthly) }
);
team_report_route!(
    projects,
    "/api/projects",
    project_report,
    false,
    team::projects
);
team_report_route!(models, "/api/models", model_report, false, |st, p, rq| {
    team::days(st, p, rq, team::Days::Models)
});
report_route!(hourly, "/api/hourly", hourly_report, false);
report_route!(cache, "/api/cache", cache_report, false);

/// `/api/users`: each person (team mode only).
async fn users(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
    let p = params(q, "/api/users")?;
    let rq = p.report_query(&st.default_zone)?;
    if st.team.is_none() {
        return Err(team::not_team());
    }
    team::users(&st, &p, rq).await
}

async fn weekly(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
    let p = params(q, "/api/weekly")?;
    let rq = p.report_query(&st.default_zone)?;
    let first = p.start_of_week()?;
    if st.team.is_some() {
        return team::days(&st, &p, rq, team::Days::Weekly(first)).await;
    }
    team::refuse_user(&p)?;
    report(&st, rq, true, move |conn, rq| {
        weekly_report(conn, rq, first)
    })
    .await
}

async fn top(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
    let p = params(q, "/api/top")?;
    let rq = p.report_query(&st.default_zone)?;
    let limit = p.number("limit", 10, 1, 1000)? as usize;
    report(&st, rq, false, move |conn, rq| top_report(conn, rq, limit)).await
}

async fn blocks(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
    let p = params(q, "/api/blocks")?;
    let token_limit = match p.get("token_limit") {
        None | Some("") => None,
        Some("max") => Some(TokenLimit::LargestPastBlock),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n > 0 => Some(TokenLimit::Tokens(n)),
            _ => {
                return Err(ApiError::param(
                    "token_limit",
                    format!("token_limit {s:?} is neither a positive number of tokens nor max"),
                ))
            }
        },
    };
    let rq = p.report_query(&st.default_zone)?;
    let (now_ms, active_only, recent_only) = (
        st.now().as_millisecond(),
        p.flag("active")?,
        p.flag("recent")?,
    );
    report(&st, rq, false, move |conn, rq| {
        blocks_report(
            conn,
            &BlocksQuery {
                report: rq.clone(),
                now_ms,
                token_limit,
                active_only,
                recent_only,
            },
        )
    })
    .await
}

/// Sort keys of `/api/sessions`.
const SESSION_SORTS: [&str; 6] = [
    "lastActivity",
    "firstActivity",
    "cost",
    "tokens",
    "responses",
    "duration",
];

async fn sessions(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
    let p = params(q, "/api/sessions")?;
    let mut rq = p.report_query(&st.default_zone)?;
    if let Some(d) = p.get("date").filter(|d| !d.is_empty()) {
        if rq.since.is_some() || rq.until.is_some() {
            return Err(ApiError::param(
                "date",
                "date is one day; give either date or since/until".into(),
            ));
        }
        let day = ctm_analytics::parse_date(d).ok_or_else(|| {
            ApiError::param(
                "date",
                format!("date {d:?} is not a date; use YYYY-MM-DD or YYYYMMDD"),
            )
        })?;
        (rq.since, rq.until) = (Some(day), Some(day));
    }
    let paging = Paging {
        sort: p.choice("sort", &SESSION_SORTS, "lastActivity")?,
        order: p.order()?.unwrap_or(Order::Desc),
        limit: p.number("limit", 50, 1, 1000)?,
        offset: p.number("offset", 0, 0, u64::from(u32::MAX))?,
    };
    rq.order = Order::Asc;
    if st.team.is_some() {
        return team::sessions(&st, &p, rq, paging).await;
    }
    team::refuse_user(&p)?;
    report(&st, rq, false, move |conn, rq| {
        let r = session_report(conn, rq)?;
        Ok(paging.of(r.sessions, |s| s, r.totals, r.timezone, r.unpriced_models))
    })
    .await
}

async fn session(
    State(st): State<AppState>,
    Path(id): Path<String>,
    q: Pairs,
) -> Result<Response, ApiError> {
    let rq = params(q, "/api/sessions/{id}")?.report_query(&st.default_zone)?;
    report(&st, rq, false, move |conn, rq| {
        session_detail(conn, rq, &id)
    })
    .await
    .map_err(|mut e| {
        // The parameters were checked already: a 400 here is about the id (a prefix
        // of several sessions).
        if e.status == StatusCode::BAD_REQUEST && e.parameter.is_none() {
            e.parameter = Some("id".into());
        }
        e
    })
}

async fn snapshots(State(st): State<AppState>, q: Pairs) -> Result<Json<Value>, ApiError> {
    params(q, "/api/snapshots")?;
    read(&st, |s| {
        let list = ctm_store::snapshots::list(s.conn())?;
        Ok(Json(json!({ "snapshots": list })))
    })
    .await
}

async fn export_history(State(st): State<AppState>, q: Pairs) -> Result<Json<Value>, ApiError> {
    params(q, "/api/exports/history")?;
    read(&st, |s| {
        let list = ctm_store::exports::history(s.conn())?;
        Ok(Json(json!({ "exports": list })))
    })
    .await
}

/// Exports that may run at once; one more is refused with 503 until one ends. Each
/// holds a store connection and a blocking thread for as long as its download lasts.
pub const MAX_EXPORTS: usize = 2;

/// Bytes an export hands to the connection at a time; at most [`EXPORT_CHUNKS_AHEAD`]
/// wait for a slow reader, so an export holds well under a MiB whatever its size.
const EXPORT_CHUNK: usize = 64 << 10;
const EXPORT_CHUNKS_AHEAD: usize = 4;

/// A download whose reader takes no chunk for this long is ended (recorded as failed):
/// it holds one of the [`MAX_EXPORTS`] slots and a read transaction of the store.
const EXPORT_STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `GET /api/exports`: an export is created (and recorded), so it is a POST.
async fn exports_not_posted() -> Response {
    let mut answer = ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: "an export is recorded in export_history, so it is created with POST /api/exports (the same query parameters)".into(),
        parameter: None,
    }
    .into_response();
    answer
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    answer
}

/// `POST /api/exports`: a CSV or JSON download of the rows `ctm export` writes, recorded
/// in `export_history` like every `ctm export`. The rows are encoded as they are read
/// and streamed to the client (the response level straight from the fact table), so an
/// export of any size holds a few chunks of memory; at most [`MAX_EXPORTS`] run at once.
async fn exports(State(st): State<AppState>, q: Pairs) -> Result<Response, ApiError> {
    let p = params(q, "/api/exports")?;
    let rq = p.report_query(&st.default_zone)?;
    rq.bounds()?;
    let format = match p.choice("format", &["csv", "json"], "")? {
        "csv" => ExportFormat::Csv,
        "json" => ExportFormat::Json,
        _ => {
            return Err(ApiError::param(
                "format",
                "format is required: csv or json".into(),
            ))
        }
    };
    let level = match p.choice("level", &["response", "session", "daily"], "response")? {
        "session" => ExportLevel::Session,
        "daily" => ExportLevel::Daily,
        _ => ExportLevel::Response,
    };
    let Ok(permit) = st.exports.clone().try_acquire_owned() else {
        let mut busy = ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!(
                "{MAX_EXPORTS} exports are already running; try again when one has finished"
            ),
            parameter: None,
        }
        .into_response();
        busy.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        return Ok(busy);
    };
    let range = |d: Option<jiff::civil::Date>| d.map_or_else(|| "all".into(), |d| d.to_string());
    let name = format!(
        "ctm-{}-{}-{}.{}",
        level.name(),
        range(rq.since),
        range(rq.until),
        format.name()
    );
    let file_name = name.clone();
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let (chunks, body) = tokio::sync::mpsc::channel(EXPORT_CHUNKS_AHEAD);
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failed_seen = failed.clone();
    let reader = st.reader.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut head = Some(head_tx);
        let done = reader.with(|s| {
            let pruned = ctm_analytics::query::pruned_before(s, &rq, level == ExportLevel::Daily)?;
            if let Some(head) = head.take() {
                let _ = head.send(Ok(pruned));
            }
            let mut out = ChunkWriter::new(chunks, runtime, failed);
            let written = export::write(s, &rq, level, format, &mut out)
                .map_err(|e| e.to_string())
                .and_then(|rows| out.finish().map(|()| rows).map_err(|e| e.to_string()));
            let mut rec = ExportRecord {
                id: 0,
                exported_at: String::new(),
                format: format.name().into(),
                date_range_start: rq.since.map(|d| d.to_string()),
                date_range_end: rq.until.map(|d| d.to_string()),
                file_path: Some(format!("download:{file_name}")),
                record_count: 0,
                file_size: Some(out.sent),
                status: "completed".into(),
                error_message: None,
            };
            match written {
                Ok(rows) => rec.record_count = rows,
                Err(e) => {
                    // The client's body ends short (the connection is cut), never as
                    // if it were whole.
                    out.fail(&e);
                    rec.status = "failed".into();
                    rec.error_message = Some(e);
                }
            }
            // Recorded whatever happened, failures included.
            let tx = s.write()?;
            ctm_store::exports::record(&tx, &rec)?;
            tx.commit().map_err(|e| ApiError::from_store(e.into()))?;
            Ok(())
        });
        if let (Err(e), Some(head)) = (done, head) {
            let _ = head.send(Err(e));
        }
    });
    let pruned = head_rx
        .await
        .map_err(|_| ApiError::internal("the export's worker stopped".into()))??;
    let content_type = match format {
        ExportFormat::Csv => "text/csv; charset=utf-8",
        ExportFormat::Json => "application/json",
    };
    // The chunks, then: nothing more when the export was whole, else an error, so the
    // connection is cut rather than the body ended as if it were whole.
    let stream = futures_util::stream::unfold(Some(body), move |body| {
        let failed = failed_seen.clone();
        async move {
            let mut body = body?;
            match body.recv().await {
                Some(chunk) => Some((chunk, Some(body))),
                None if failed.load(std::sync::atomic::Ordering::Acquire) => {
                    Some((Err(std::io::Error::other("the export failed")), None))
                }
                None => None,
            }
        }
    });
    let mut answer = (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    if let Some(v) = pruned.and_then(|d| HeaderValue::from_str(&d.to_string()).ok()) {
        answer.headers_mut().insert(PRUNED_HEADER, v);
    }
    Ok(answer)
}

/// Writes an export into the response's channel in [`EXPORT_CHUNK`]s, waiting while the
/// client is behind (up to [`EXPORT_STALL_LIMIT`]); a client that went away makes the
/// next write fail.
struct ChunkWriter {
    chunks: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    /// To wait for room in the channel, with a timeout, from the blocking thread.
    runtime: tokio::runtime::Handle,
    /// Set when the export failed: the body then ends with an error.
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    buffer: Vec<u8>,
    /// Bytes handed to the connection.
    sent: u64,
}

impl ChunkWriter {
    fn new(
        chunks: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
        runtime: tokio::runtime::Handle,
        failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        ChunkWriter {
            chunks,
            runtime,
            failed,
            buffer: Vec::with_capacity(EXPORT_CHUNK),
            sent: 0,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(EXPORT_CHUNK),
        ));
        let len = chunk.len() as u64;
        let sent = self
            .runtime
            .block_on(self.chunks.send_timeout(Ok(chunk), EXPORT_STALL_LIMIT));
        let why = match sent {
            Ok(()) => {
                self.sent += len;
                return Ok(());
            }
            Err(tokio::sync::mpsc::error::SendTimeoutError::Closed(_)) => "stopped",
            Err(tokio::sync::mpsc::error::SendTimeoutError::Timeout(_)) => {
                "stalled (its reader took nothing for 60 s)"
            }
        };
        Err(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            format!("the download {why} after {} bytes", self.sent),
        ))
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.send()
    }

    /// Ends the body with an error, so the client sees a cut download (never waits: the
    /// reader may be the one that stalled).
    fn fail(&mut self, why: &str) {
        self.buffer.clear();
        self.failed
            .store(true, std::sync::atomic::Ordering::Release);
        let _ = self
            .chunks
            .try_send(Err(std::io::Error::other(why.to_owned())));
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= EXPORT_CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// Each path under `paths:` in openapi.yaml with its query parameters (inline
    /// `{ name: X, in: query` or a `$ref` to `#/components/parameters/X`, named as the
    /// parameter it describes).
    fn documented() -> BTreeMap<String, BTreeSet<String>> {
        let spec = include_str!("../openapi.yaml");
        let mut in_paths = false;
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut current = None;
        for line in spec.lines() {
            if !line.starts_with(' ') && !line.is_empty() {
                in_paths = line.trim_end() == "paths:";
                continue;
            }
            if !in_paths {
                continue;
            }
            if let Some(path) = line.strip_prefix("  /").and_then(|k| k.strip_suffix(':')) {
                let path = format!("/{path}");
                out.insert(path.clone(), BTreeSet::new());
                current = Some(path);
                continue;
            }
            let Some(path) = &current else { continue };
            let name = if let Some(rest) = line.split("$ref: \"#/components/parameters/").nth(1) {
                rest.split('"').next()
            } else if line.contains("in: query") {
                line.split("name: ")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
            } else {
                None
            };
            if let Some(n) = name {
                out.get_mut(path).unwrap().insert(n.trim().to_owned());
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_a_route() {
        let routed: BTreeSet<String> = routes().into_iter().map(|(p, _)| p.to_owned()).collect();
        let documented: BTreeSet<String> = documented().into_keys().collect();
        assert!(!documented.is_empty());
        assert_eq!(routed, documented);
    }

    #[test]
    fn every_route_documents_exactly_the_query_parameters_it_accepts() {
        let documented = documented();
        for (path, _) in routes() {
            // The page's own parameters are read by its script, not by the server.
            if ["/", "/app.js", "/app.css"].contains(&path) {
                continue;
            }
            let (_, report, extra) = QUERY
                .iter()
                .find(|(p, ..)| *p == path)
                .unwrap_or_else(|| panic!("{path} is not in QUERY"));
            let mut accepted: BTreeSet<String> = extra.iter().map(|s| s.to_string()).collect();
            if *report {
                accepted.extend(crate::params::REPORT.iter().map(|s| s.to_string()));
            }
            assert_eq!(documented[path], accepted, "{path}");
        }
    }
}
