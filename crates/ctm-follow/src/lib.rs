//! Keeps the store following Claude Code's data roots while a long-running front end
//! (`ctm live`, `ctm serve`) is open.
//!
//! One background thread owns a write connection and does every ingest, so runs never
//! overlap within the process (other `ctm` processes are kept out by the store's write
//! lock). It ingests:
//! - at once when started;
//! - after file-system events under the roots' `projects/` folders, coalesced for a
//!   debounce (Claude Code appends a line per streamed message: one run per burst);
//! - every `rescan_every` (2 minutes) even without events, because a watch can miss
//!   what a network file system or a replaced folder does; every `poll_every` (5 s)
//!   instead while some root could not be watched (inotify's limit reached);
//! - when the front end asks ([`Follower::refresh_now`]).
//!
//! It also records `stats-cache.json` snapshots every `snapshot_interval_minutes`
//! (`system_config`, read again at each snapshot so `ctm config set` takes effect).
//!
//! Nothing here knows about terminals or HTTP: results go to a callback.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use ctm_ingest::{ingest, take_snapshots, taken, IngestReport, SnapshotResult};
use ctm_pricing::PriceTable;
use ctm_store::{config, OpenOptions, Store};
use notify::{EventKind, RecursiveMode, Watcher};

/// How to follow.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    pub db_path: PathBuf,
    /// The data roots that exist.
    pub roots: Vec<PathBuf>,
    pub prices: PriceTable,
    /// File events are coalesced this long before an ingest.
    pub debounce: Duration,
    /// An ingest runs at least this often, events or not (the safety net: on a large
    /// history each nothing-changed run costs a stat per transcript, so an idle monitor
    /// stays well under 1% of a core).
    pub rescan_every: Duration,
    /// How often to ingest instead while some root could not be watched.
    pub poll_every: Duration,
    /// Between `stats-cache.json` snapshots; `None` reads `snapshot_interval_minutes`
    /// from the store (0 or less turns snapshots off).
    pub snapshot_every: Option<Duration>,
    /// Told of every ingest, on the follower's thread (the front end's hook: the
    /// automatic push to a team database).
    pub after_ingest: Option<AfterIngest>,
}

/// A hook told of every ingest's report on the follower's thread. It must return at
/// once (work that takes long belongs on its own thread); the one-line warnings it
/// returns reach the front end as [`FollowEvent::Warning`].
#[derive(Clone)]
pub struct AfterIngest(pub Arc<IngestHook>);

/// The function an [`AfterIngest`] holds.
pub type IngestHook = dyn Fn(&IngestReport) -> Vec<String> + Send + Sync;

impl std::fmt::Debug for AfterIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterIngest")
    }
}

impl FollowOptions {
    pub fn new(db_path: PathBuf, roots: Vec<PathBuf>, prices: PriceTable) -> FollowOptions {
        FollowOptions {
            db_path,
            roots,
            prices,
            debounce: Duration::from_millis(300),
            rescan_every: Duration::from_secs(120),
            poll_every: Duration::from_secs(5),
            snapshot_every: None,
            after_ingest: None,
        }
    }
}

/// What the follower tells the front end.
#[derive(Debug)]
pub enum FollowEvent {
    /// An ingest run finished; `report.unchanged` is true when nothing was new.
    Ingested(Box<IngestReport>),
    /// `stats-cache.json` snapshots were recorded (only those actually taken).
    Snapshots(Vec<SnapshotResult>),
    /// A one-line problem (the store busy, a root that cannot be watched); following
    /// goes on and the next run tries again.
    Warning(String),
}

enum Msg {
    Changed,
    Refresh,
    Stop,
}

/// A running follower; dropping it stops the watcher and joins the thread.
pub struct Follower {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Follower {
    /// Opens the store (failing here, in one line, when it cannot be opened) and starts
    /// following; the first ingest runs at once on the follower's thread. `on_event` is
    /// called on that thread: keep it quick (send to a channel).
    pub fn start(
        opts: FollowOptions,
        on_event: impl Fn(FollowEvent) + Send + 'static,
    ) -> Result<Follower> {
        let store = Store::open(&opts.db_path, &OpenOptions::default())?;
        let (tx, rx) = mpsc::channel();
        let events = tx.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Errors are not fatal: the periodic rescan covers whatever was missed.
            if let Ok(event) = res {
                if matters(&event.kind) {
                    let _ = events.send(Msg::Changed);
                }
            }
        })
        .context("cannot start watching files")?;
        let thread = std::thread::Builder::new()
            .name("ctm-follow".into())
            .spawn(move || {
                Loop {
                    store,
                    opts,
                    watcher,
                    watched: Vec::new(),
                    unwatched: false,
                    on_event: Box::new(on_event),
                }
                .run(rx)
            })
            .context("cannot start the follower thread")?;
        Ok(Follower {
            tx,
            thread: Some(thread),
        })
    }

    /// Asks for an ingest now; returns at once.
    pub fn refresh_now(&self) {
        let _ = self.tx.send(Msg::Refresh);
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads and metadata-only changes never add usage.
fn matters(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    )
}

struct Loop {
    store: Store,
    opts: FollowOptions,
    watcher: notify::RecommendedWatcher,
    /// The folders watched so far (a root's `projects/` may appear later).
    watched: Vec<PathBuf>,
    /// Some root could not be watched at the last attempt: poll instead.
    unwatched: bool,
    on_event: Box<dyn Fn(FollowEvent) + Send>,
}

impl Loop {
    fn run(mut self, rx: Receiver<Msg>) {
        self.watch_roots();
        self.ingest();
        let mut next_rescan = Instant::now() + self.rescan_every();
        let mut next_snapshot = Instant::now();
        loop {
            let now = Instant::now();
            let deadline = next_snapshot.min(next_rescan);
            match rx.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Msg::Refresh) => {}
                Ok(Msg::Changed) => {
                    if !self.settle(&rx) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if Instant::now() >= next_snapshot {
                        // When snapshots are off, the setting is read again a rescan later.
                        let wait = self.snapshot().unwrap_or(self.opts.rescan_every);
                        next_snapshot = Instant::now() + wait;
                    }
                    if Instant::now() < next_rescan {
                        continue;
                    }
                    self.watch_roots();
                }
            }
            self.ingest();
            next_rescan = Instant::now() + self.rescan_every();
        }
    }

    fn rescan_every(&self) -> Duration {
        if self.unwatched {
            self.opts.poll_every.min(self.opts.rescan_every)
        } else {
            self.opts.rescan_every
        }
    }

    /// Waits out the debounce after a change, absorbing further changes. The window is
    /// fixed, not extended by each event, so a transcript written continuously still gets
    /// an ingest every debounce. False when asked to stop.
    fn settle(&self, rx: &Receiver<Msg>) -> bool {
        let until = Instant::now() + self.opts.debounce;
        loop {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(Msg::Changed) => continue,
                Ok(Msg::Refresh) | Err(RecvTimeoutError::Timeout) => return true,
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    fn emit(&self, event: FollowEvent) {
        (self.on_event)(event);
    }

    /// Watches each root's `projects/` recursively once it exists (Claude Code creates it
    /// with the first session), else the root itself for its creation.
    fn watch_roots(&mut self) {
        let mut unwatched = false;
        for root in self.opts.roots.clone() {
            let projects = root.join("projects");
            let (target, mode) = if projects.is_dir() {
                (projects, RecursiveMode::Recursive)
            } else {
                (root.clone(), RecursiveMode::NonRecursive)
            };
            if self.watched.contains(&target) {
                continue;
            }
            if target.starts_with(&root) && target != root {
                // Upgrading from watching the bare root to its projects/ folder.
                if self.watched.contains(&root) {
                    let _ = self.watcher.unwatch(&root);
                    self.watched.retain(|w| w != &root);
                }
            }
            match self.watcher.watch(&target, mode) {
                Ok(()) => self.watched.push(target),
                Err(e) => {
                    unwatched = true;
                    self.emit(FollowEvent::Warning(format!(
                        "cannot watch {} ({}); changes are picked up every {} s instead",
                        target.display(),
                        one_line(&e.to_string()),
                        self.opts
                            .poll_every
                            .min(self.opts.rescan_every)
                            .as_secs_f64()
                    )))
                }
            }
        }
        self.unwatched = unwatched;
    }

    fn ingest(&mut self) {
        match ingest(&mut self.store, &self.opts.prices, &self.opts.roots, None) {
            Ok(report) => {
                let warnings = match &self.opts.after_ingest {
                    Some(hook) => (hook.0)(&report),
                    None => Vec::new(),
                };
                self.emit(FollowEvent::Ingested(Box::new(report)));
                for w in warnings {
                    self.emit(FollowEvent::Warning(w));
                }
            }
            Err(e) => self.emit(FollowEvent::Warning(format!(
                "ingest failed, will retry: {}",
                one_line(&e.to_string())
            ))),
        }
    }

    /// Takes the due snapshots; returns the wait until the next one (None: turned off,
    /// nothing taken).
    fn snapshot(&mut self) -> Option<Duration> {
        let every = match self.opts.snapshot_every {
            Some(every) => Some(every),
            None => interval_from_store(&self.store),
        }?;
        match take_snapshots(&mut self.store, &self.opts.prices, &self.opts.roots) {
            Ok(results) => {
                let taken: Vec<SnapshotResult> = results.into_iter().filter(taken).collect();
                if !taken.is_empty() {
                    self.emit(FollowEvent::Snapshots(taken));
                }
            }
            Err(e) => self.emit(FollowEvent::Warning(format!(
                "stats-cache snapshot failed, will retry: {}",
                one_line(&e.to_string())
            ))),
        }
        Some(every)
    }
}

/// `snapshot_interval_minutes`, or None when it is 0, negative or unreadable.
fn interval_from_store(store: &Store) -> Option<Duration> {
    let minutes: f64 = config::get(store.conn(), "snapshot_interval_minutes")
        .ok()??
        .trim()
        .parse()
        .ok()?;
    (minutes.is_finite() && minutes > 0.0).then(|| Duration::from_secs_f64(minutes * 60.0))
}

fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}
