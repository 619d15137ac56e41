//! The terminal and the event loop.
//!
//! The main thread blocks on one channel fed by the follower (ingests, warnings), a
//! thread reading terminal events, and a timeout of `refresh`: there is no polling loop,
//! so an idle monitor wakes once per refresh. The view is recomputed when the store
//! changed, the plan changed, or a refresh passed (the clock moves); a resize only
//! redraws. The terminal is restored on every exit path, and on panic by ratatui's hook.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ctm_analytics::live::{live_view_with_limits, plan_limits, PlanLimits};
use ctm_analytics::{LiveQuery, LiveView, Plan, Zone};
use ctm_follow::{AfterIngest, FollowEvent, FollowOptions, Follower};
use ctm_pricing::PriceTable;
use ctm_store::{OpenOptions, Store};
use jiff::civil::Weekday;

use crate::screen::Screen;

/// Sessions listed under the block.
pub const RECENT_SESSIONS: usize = 5;

pub struct LiveOptions {
    pub db_path: PathBuf,
    /// The data roots that exist (followed unless `no_ingest`).
    pub roots: Vec<PathBuf>,
    pub prices: PriceTable,
    pub zone: Zone,
    pub plan: Plan,
    /// How often the view is recomputed without news from the follower.
    pub refresh: Duration,
    /// A fixed "now" (UTC epoch ms, from `CTM_NOW`); the real clock otherwise.
    pub pinned_now_ms: Option<i64>,
    /// Answer from the store as it is, never ingesting.
    pub no_ingest: bool,
    /// Told of every ingest on the follower's thread (the automatic team push).
    pub after_ingest: Option<AfterIngest>,
}

impl LiveOptions {
    pub fn query(&self, plan: Plan) -> LiveQuery {
        LiveQuery {
            zone: self.zone.clone(),
            now_ms: self.pinned_now_ms.unwrap_or_else(ctm_store::now_ms),
            plan,
            recent_sessions: RECENT_SESSIONS,
            start_of_week: Weekday::Monday,
        }
    }
}

enum AppEvent {
    Key(KeyEvent),
    Resize,
    Follow(FollowEvent),
}

/// Runs the monitor until `q`, Esc or Ctrl-C.
pub fn run(opts: LiveOptions) -> Result<()> {
    let reader = Store::open(&opts.db_path, &OpenOptions::default())?;
    let (tx, rx) = mpsc::channel::<AppEvent>();
    let follower = if opts.no_ingest {
        None
    } else {
        let follow_tx = tx.clone();
        let mut follow = FollowOptions::new(
            opts.db_path.clone(),
            opts.roots.clone(),
            opts.prices.clone(),
        );
        follow.after_ingest = opts.after_ingest.clone();
        Some(Follower::start(follow, move |e| {
            let _ = follow_tx.send(AppEvent::Follow(e));
        })?)
    };
    let mut terminal = ratatui::try_init().context("cannot take over the terminal")?;
    spawn_input(tx);
    let result = event_loop(&mut terminal, &reader, &opts, follower.as_ref(), &rx);
    // Restore before the follower's thread is joined, so the shell comes back at once.
    let restored = ratatui::try_restore();
    drop(follower);
    result?;
    restored.context("cannot restore the terminal")?;
    Ok(())
}

/// Terminal events go to the channel from their own thread (it blocks in `read`).
fn spawn_input(tx: Sender<AppEvent>) {
    std::thread::spawn(move || loop {
        let e = match event::read() {
            Ok(Event::Key(k)) => AppEvent::Key(k),
            Ok(Event::Resize(..)) => AppEvent::Resize,
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.send(e).is_err() {
            return;
        }
    });
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    reader: &Store,
    opts: &LiveOptions,
    follower: Option<&Follower>,
    rx: &mpsc::Receiver<AppEvent>,
) -> Result<()> {
    let mut plan = opts.plan;
    let mut status = if opts.no_ingest {
        "not following (--no-ingest): showing the store as it is".to_owned()
    } else {
        format!("following {} data root(s)", opts.roots.len())
    };
    let mut limits = Limits::default();
    let mut view: LiveView = limits.view(reader, opts, plan, false)?;
    loop {
        terminal.draw(|f| {
            f.render_widget(
                Screen {
                    view: &view,
                    status: &status,
                    interactive: true,
                },
                f.area(),
            )
        })?;
        panic_if_asked();
        let mut store_changed = false;
        let recompute = match rx.recv_timeout(opts.refresh) {
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
            Ok(AppEvent::Resize) => false,
            Ok(AppEvent::Key(k)) if k.kind == KeyEventKind::Press => match k.code {
                KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
                KeyCode::Char('p') => {
                    plan = plan.next();
                    true
                }
                KeyCode::Char('r') => {
                    match follower {
                        Some(f) => {
                            f.refresh_now();
                            status = "refreshing...".into();
                        }
                        None => status = "not following (--no-ingest)".into(),
                    }
                    true
                }
                _ => false,
            },
            Ok(AppEvent::Key(_)) => false,
            Ok(AppEvent::Follow(FollowEvent::Ingested(r))) => {
                status = format!(
                    "{} ingest {}: {}",
                    clock(),
                    if r.unchanged {
                        "found nothing new"
                    } else {
                        "done"
                    },
                    if r.unchanged {
                        format!("{} files watched", r.files_seen)
                    } else {
                        format!(
                            "+{} responses, {} updated",
                            r.responses_added, r.responses_updated
                        )
                    }
                );
                store_changed = !r.unchanged;
                store_changed
            }
            Ok(AppEvent::Follow(FollowEvent::Snapshots(s))) => {
                status = format!("{} recorded {} stats-cache snapshot(s)", clock(), s.len());
                false
            }
            Ok(AppEvent::Follow(FollowEvent::Warning(w))) => {
                status = format!("{} warning: {w}", clock());
                false
            }
        };
        if recompute {
            match limits.view(reader, opts, plan, store_changed) {
                Ok(v) => view = v,
                Err(e) => status = format!("{} cannot read the store: {e}", clock()),
            }
        }
    }
}

/// Fault injection for the test that the terminal is given back on a panic: debug
/// builds only (the tests' binary), never in a release.
fn panic_if_asked() {
    #[cfg(debug_assertions)]
    if std::env::var_os("CTM_TEST_PANIC").is_some_and(|v| v == "live-after-draw") {
        panic!("CTM_TEST_PANIC: injected after a draw");
    }
}

/// The plan's limits, kept between redraws: `custom` reads every block of the store, so it
/// is computed again only when the plan or the store changed, or ten minutes passed (a
/// block may have finished meanwhile).
#[derive(Default)]
struct Limits {
    kept: Option<(PlanLimits, Instant)>,
}

const LIMITS_MAX_AGE: Duration = Duration::from_secs(600);

impl Limits {
    fn view(
        &mut self,
        reader: &Store,
        opts: &LiveOptions,
        plan: Plan,
        store_changed: bool,
    ) -> Result<LiveView> {
        let q = opts.query(plan);
        let fresh = match &self.kept {
            Some((l, at)) => l.plan == plan && !store_changed && at.elapsed() < LIMITS_MAX_AGE,
            None => false,
        };
        if !fresh {
            self.kept = Some((plan_limits(reader, plan, q.now_ms)?, Instant::now()));
        }
        let limits = self
            .kept
            .as_ref()
            .map(|(l, _)| l.clone())
            .expect("just set");
        Ok(live_view_with_limits(reader, &q, limits)?)
    }
}

/// The wall-clock time for the status line.
fn clock() -> String {
    jiff::Zoned::now().strftime("%H:%M:%S").to_string()
}
