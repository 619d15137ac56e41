//! `ctm serve`: a local web dashboard and its JSON API, served from the store.
//!
//! The only crate that links an async runtime (tokio) and an HTTP server (axum): the core
//! crates never do. Every API answer is one of `ctm_analytics`' report values, serialised
//! as the CLI's `--json` does, read on a blocking thread from a small pool of read
//! connections (WAL: readers never wait for the ingest). The page and its script are
//! compiled into the binary; nothing on the file system is ever served.
//!
//! - [`error`]: the one error answer every route gives.
//! - [`params`]: query parameters, checked (a bad one is a 400 naming it).
//! - [`api`]: the router and one handler per route.
//! - [`auth`]: the bind rule (a non-loopback address needs a token), the token check and
//!   its rate limit, the Host check, and the refusal of cross-site requests with a side
//!   effect.
//! - [`conn`]: the accept loop: header-read timeout, a cap on open connections.
//! - [`assets`]: the embedded page.
//! - [`events`]: `GET /events`, Server-Sent Events fed by the follower.
//! - [`metrics`]: `GET /metrics`, the store's figures for Prometheus.
//! - [`team`]: `ctm serve --team`, the routes a team database answers.

pub mod api;
pub mod assets;
pub mod auth;
pub mod conn;
pub mod error;
pub mod events;
pub mod metrics;
pub mod params;
mod pool;
pub mod sessions_page;
pub mod team;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context as _, Result};
use ctm_analytics::Zone;
use ctm_follow::{FollowEvent, Follower};
use ctm_store::OpenOptions;
use jiff::Timestamp;
use tokio::sync::oneshot;

pub use ctm_follow::FollowOptions;
pub use events::Notifier;

/// The default address: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:7878";

/// What `ctm serve` was asked.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: SocketAddr,
    /// Required for any non-loopback address; when set, every request must carry it.
    pub token: Option<String>,
    pub db_path: PathBuf,
    /// How the store is opened (the busy timeout an export's write waits at most).
    pub store_options: OpenOptions,
    /// The zone of a request without `tz` (the system's unless told).
    pub default_zone: Zone,
    /// A fixed "now" (`CTM_NOW`, for tests); else the clock.
    pub fixed_now: Option<Timestamp>,
    /// Keep the store following the data roots while serving (`None`: serve the store
    /// as it is).
    pub follow: Option<FollowOptions>,
    /// Projects with their own label in `/metrics`; the others are `other`.
    pub metrics_top_projects: usize,
    /// What a connection may cost (header timeout, open connections).
    pub limits: conn::Limits,
    /// Where ctm looked for Claude Code's data, for a page that has none to show.
    pub data_roots: DataRoots,
    /// Serve this team database instead of the store (`ctm serve --team URL`).
    pub team: Option<ctm_team::TeamUrl>,
}

/// The folders ctm looked in for Claude Code's `projects/`, and those that have one, as
/// the user would write them (`~/.claude`). `/api/health` carries them so an empty page
/// can say where it looked.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataRoots {
    pub looked_in: Vec<String>,
    pub found: Vec<String>,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) reader: Arc<pool::Reader>,
    pub(crate) default_zone: Zone,
    pub(crate) fixed_now: Option<Timestamp>,
    pub(crate) notifier: Notifier,
    pub(crate) auth: Arc<auth::Auth>,
    pub(crate) metrics_top_projects: usize,
    /// One permit per export that may run at once (see [`api::MAX_EXPORTS`]).
    pub(crate) exports: Arc<tokio::sync::Semaphore>,
    pub(crate) data_roots: Arc<DataRoots>,
    /// The team database, in team mode.
    pub(crate) team: Option<Arc<team::TeamSource>>,
}

impl AppState {
    pub(crate) fn now(&self) -> Timestamp {
        self.fixed_now.unwrap_or_else(Timestamp::now)
    }
}

/// A running server: its runtime lives on its own thread until the server is dropped.
pub struct Server {
    addr: SocketAddr,
    login_link: Option<String>,
    notifier: Notifier,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    follower: Option<Follower>,
}

impl Server {
    /// Checks the bind rule, opens (and migrates) the store, binds, and starts serving.
    /// Returns once the socket is bound, so `addr()` is the real port (for `:0`).
    pub fn start(cfg: ServeConfig) -> Result<Server> {
        auth::check_bind(cfg.bind, cfg.token.as_deref()).map_err(anyhow::Error::msg)?;
        let reader = Arc::new(pool::Reader::open(&cfg.db_path, cfg.store_options.clone())?);
        let auth = Arc::new(auth::Auth::new(cfg.token.clone())?);
        let notifier = Notifier::new();
        let state = AppState {
            reader,
            default_zone: cfg.default_zone.clone(),
            fixed_now: cfg.fixed_now,
            notifier: notifier.clone(),
            auth: auth.clone(),
            metrics_top_projects: cfg.metrics_top_projects,
            exports: Arc::new(tokio::sync::Semaphore::new(api::MAX_EXPORTS)),
            data_roots: Arc::new(cfg.data_roots.clone()),
            team: match cfg.team.clone() {
                Some(url) => Some(Arc::new(team::TeamSource::open(url)?)),
                None => None,
            },
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // Each blocking task holds one SQLite read connection at most.
            .max_blocking_threads(16)
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start the server's runtime")?;
        let listener = runtime
            .block_on(async { conn::listen(cfg.bind) })
            .with_context(|| format!("cannot listen on {}", cfg.bind))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = api::router(state);
        let limits = cfg.limits;
        let thread = std::thread::Builder::new()
            .name("ctm-serve".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = conn::serve(listener, app, limits) => {}
                        _ = rx => {}
                    }
                });
                // Not graceful: open /events streams never end by themselves.
                runtime.shutdown_background();
            })?;
        let login_link = auth
            .login_code()
            .map(|code| format!("http://{addr}/login?code={code}"));
        let mut server = Server {
            addr,
            login_link,
            notifier,
            shutdown: Some(tx),
            thread: Some(thread),
            follower: None,
        };
        if let Some(opts) = cfg.follow {
            let notifier = server.notifier.clone();
            server.follower = Some(Follower::start(opts, move |event| {
                bridge(&notifier, event)
            })?);
        }
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// With a token: the one-time link that sets the token's cookie in a browser.
    pub fn login_link(&self) -> Option<&str> {
        self.login_link.as_deref()
    }

    /// The handle that tells `/events` clients about new data.
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// Blocks until the server stops (it runs until the process is ended).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The follower's news, on its thread, to every `/events` client.
fn bridge(notifier: &Notifier, event: FollowEvent) {
    match event {
        FollowEvent::Ingested(r) => {
            notifier.ingest_took(r.elapsed_ms);
            if !r.unchanged {
                notifier.ingested(r.responses_added, r.responses_updated, r.files_read)
            }
        }
        FollowEvent::Snapshots(taken) => notifier.snapshots(taken.len()),
        FollowEvent::Warning(w) => notifier.warning(&w),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The follower first: it stops between two runs, never inside one.
        drop(self.follower.take());
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
