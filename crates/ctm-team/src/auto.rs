//! The automatic push of the long-running front ends (`ctm live`, `ctm serve`): after an
//! ingest that changed responses, a push on a thread of its own, so neither the screen
//! nor the follower's next ingest waits for the network.
//!
//! Requests are coalesced, and pushes are at least [`AutoPush::MIN_INTERVAL`] apart (a
//! transcript being written is ingested every few hundred milliseconds). A failed push
//! leaves the mark where it was, so the next push sends the same responses again; it is
//! reported once (and again every [`AutoPush::REMIND_EVERY`] while pushes keep failing),
//! as a warning the front end collects with [`AutoPush::take_warnings`].

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ctm_store::{OpenOptions, Store};

use crate::connection::TeamUrl;
use crate::push::{push, PushOptions, PushReport};

/// A background pusher.
pub struct AutoPush {
    tx: Option<Sender<()>>,
    warnings: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl AutoPush {
    /// Pushes are at least this far apart.
    pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
    /// While pushes keep failing, the warning comes again this often.
    pub const REMIND_EVERY: Duration = Duration::from_secs(600);

    /// Starts the thread; it pushes once at start (what an earlier failure left unsent).
    pub fn start(
        db_path: PathBuf,
        store: OpenOptions,
        url: TeamUrl,
        opts: PushOptions,
    ) -> AutoPush {
        AutoPush::start_with(db_path, store, url, opts, AutoPush::MIN_INTERVAL, |_| {})
    }

    /// [`AutoPush::start`] with another interval, and told of each push that worked.
    pub fn start_with(
        db_path: PathBuf,
        store: OpenOptions,
        url: TeamUrl,
        opts: PushOptions,
        interval: Duration,
        on_pushed: impl Fn(&PushReport) + Send + 'static,
    ) -> AutoPush {
        let (tx, rx) = mpsc::channel();
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let state = Pusher {
            db_path,
            store_options: store,
            url,
            opts,
            interval,
            warnings: warnings.clone(),
            last_warned: None,
        };
        let thread = std::thread::Builder::new()
            .name("ctm-team-push".into())
            .spawn(move || state.run(rx, on_pushed))
            .ok();
        let _ = tx.send(());
        AutoPush {
            tx: Some(tx),
            warnings,
            thread,
        }
    }

    /// Asks for a push (returns at once).
    pub fn request(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(());
        }
    }

    /// The warnings since the last call.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for AutoPush {
    fn drop(&mut self) {
        // Closing the channel ends the thread between two pushes (a push under way
        // finishes or fails first: either leaves both sides consistent).
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Pusher {
    db_path: PathBuf,
    store_options: OpenOptions,
    url: TeamUrl,
    opts: PushOptions,
    interval: Duration,
    warnings: Arc<Mutex<Vec<String>>>,
    last_warned: Option<Instant>,
}

impl Pusher {
    fn run(mut self, rx: Receiver<()>, on_pushed: impl Fn(&PushReport)) {
        let mut last_push: Option<Instant> = None;
        while rx.recv().is_ok() {
            // Wait out the interval, absorbing requests that come meanwhile.
            if let Some(at) = last_push {
                let until = at + self.interval;
                loop {
                    match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                        Ok(()) => continue,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
            while rx.try_recv().is_ok() {}
            last_push = Some(Instant::now());
            match self.push_once() {
                Ok(report) => {
                    self.last_warned = None;
                    on_pushed(&report);
                }
                Err(e) => self.warn(&e),
            }
        }
    }

    fn push_once(&self) -> Result<PushReport, String> {
        let mut store =
            Store::open(&self.db_path, &self.store_options).map_err(|e| e.to_string())?;
        push(&mut store, &self.url, &self.opts, None).map_err(|e| e.to_string())
    }

    fn warn(&mut self, error: &str) {
        let now = Instant::now();
        let due = self
            .last_warned
            .map_or(true, |at| now.duration_since(at) >= AutoPush::REMIND_EVERY);
        if due {
            self.last_warned = Some(now);
            self.warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!(
                    "team push failed, will retry after the next ingest: {}",
                    error.replace('\n', " ")
                ));
        }
    }
}
