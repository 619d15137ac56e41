//! The follower on a temporary data root and store: it ingests at start, after a
//! transcript grows, on request, and takes stats-cache snapshots; dropping it stops it.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use ctm_follow::{FollowEvent, FollowOptions, Follower};
use ctm_pricing::PriceTable;

/// Long enough for a loaded 2-core machine; events normally arrive in well under a second.
const PATIENCE: Duration = Duration::from_secs(20);

fn line(msg: &str, ts: &str, output: u64) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"s1","cwd":"/home/u/proj","isSidechain":false,"timestamp":"{ts}","requestId":"r-{msg}","uuid":"u-{msg}","message":{{"id":"{msg}","model":"claude-sonnet-4-5-20250929","role":"assistant","content":[],"usage":{{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{output}}}}}}}"#
    ) + "\n"
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The next ingest that added responses, skipping unchanged runs and other events.
fn next_added(rx: &Receiver<FollowEvent>) -> u64 {
    let until = Instant::now() + PATIENCE;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(FollowEvent::Ingested(r)) if r.responses_added > 0 => return r.responses_added,
            Ok(_) => continue,
            Err(e) => panic!("no ingest with new responses within {PATIENCE:?}: {e}"),
        }
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    transcript: std::path::PathBuf,
    opts: FollowOptions,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-home-u-proj");
    std::fs::create_dir_all(&project).unwrap();
    let transcript = project.join("s1.jsonl");
    append(&transcript, &line("m1", "2026-11-30T10:00:00Z", 5));
    let mut opts = FollowOptions::new(
        dir.path().join("ctm.db"),
        vec![root.clone()],
        PriceTable::embedded(),
    );
    opts.debounce = Duration::from_millis(50);
    // The watch must do the work in these tests, not the safety-net rescan.
    opts.rescan_every = Duration::from_secs(3600);
    opts.snapshot_every = Some(Duration::from_secs(3600));
    Setup {
        _dir: dir,
        root,
        transcript,
        opts,
    }
}

fn start(opts: FollowOptions) -> (Follower, Receiver<FollowEvent>) {
    let (tx, rx) = mpsc::channel();
    let follower = Follower::start(opts, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    (follower, rx)
}

#[test]
fn ingests_at_start_and_after_a_transcript_grows() {
    let s = setup();
    let (_follower, rx) = start(s.opts.clone());
    assert_eq!(next_added(&rx), 1);
    append(&s.transcript, &line("m2", "2026-11-30T10:01:00Z", 7));
    assert_eq!(next_added(&rx), 1);
    // A new session file in a new project folder is seen too (recursive watch).
    let other = s.root.join("projects/-home-u-other");
    std::fs::create_dir_all(&other).unwrap();
    append(
        &other.join("s2.jsonl"),
        &line("m3", "2026-11-30T10:02:00Z", 9),
    );
    assert_eq!(next_added(&rx), 1);
}

#[test]
fn refresh_now_ingests_without_events() {
    let s = setup();
    let (follower, rx) = start(s.opts.clone());
    assert_eq!(next_added(&rx), 1);
    follower.refresh_now();
    let until = Instant::now() + PATIENCE;
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(FollowEvent::Ingested(r)) => {
                assert!(r.unchanged, "nothing was new: {r:?}");
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("refresh_now gave no ingest: {e}"),
        }
    }
}

#[test]
fn takes_a_snapshot_when_the_stats_cache_exists() {
    let s = setup();
    std::fs::write(
        s.root.join("stats-cache.json"),
        r#"{"version":2,"lastComputedDate":"2026-11-29","dailyActivity":[],"dailyModelTokens":[],"modelUsage":{"claude-sonnet-4-5-20250929":{"inputTokens":100,"outputTokens":50,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0}},"totalSessions":1,"totalMessages":2}"#,
    )
    .unwrap();
    let (_follower, rx) = start(s.opts.clone());
    let until = Instant::now() + PATIENCE;
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(FollowEvent::Snapshots(taken)) => {
                assert_eq!(taken.len(), 1);
                assert_eq!(taken[0].root, s.root);
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("no snapshot: {e}"),
        }
    }
}

#[test]
fn a_store_that_is_not_a_store_is_refused_at_start() {
    let s = setup();
    std::fs::write(&s.opts.db_path, b"not sqlite at all, just text").unwrap();
    let err = match Follower::start(s.opts.clone(), |_| {}) {
        Ok(_) => panic!("started on a garbage store"),
        Err(e) => e.to_string(),
    };
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn dropping_the_follower_stops_it() {
    let s = setup();
    let (follower, rx) = start(s.opts.clone());
    assert_eq!(next_added(&rx), 1);
    drop(follower);
    // The thread is joined and its sender dropped: the channel disconnects.
    let until = Instant::now() + PATIENCE;
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(_) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the follower did not stop"),
        }
    }
}
