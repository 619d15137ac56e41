//! `ctm live`: the one-shot snapshot (text and JSON, and what a pipe gets), and the
//! full-screen monitor in a real terminal (tmux).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::support::*;

const NOW: &str = "2026-02-12T21:30:00Z";

#[test]
fn once_prints_the_screen_as_text_and_json_and_a_pipe_gets_the_same() {
    let env = Env::new();
    let run = |args: &[&str]| {
        let out = run(env
            .ctm()
            .env("CTM_NOW", NOW)
            .env("COLUMNS", "120")
            .arg("--claude-dir")
            .arg(fixture_root())
            .args(["live", "--timezone", "UTC", "--plan", "max5"])
            .args(args));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["--once"]);
    // stdout is a pipe here: without --once the command must not take over a terminal.
    assert_eq!(run(&[]), text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "ctm live · plan max5 (estimate) · 2026-02-12 21:30 UTC"
    );
    assert!(
        text.contains("Current 5-hour block (estimate, max5 limits)"),
        "{text}"
    );
    assert!(text.contains("23,544 / 88,000"), "{text}");
    assert!(text.contains("$8.56 / $35.00"), "{text}");
    assert!(text.contains("Official limits (Claude)"), "{text}");
    assert!(!text.contains('\u{1b}'), "no escape codes in a snapshot");

    let v: serde_json::Value = serde_json::from_str(&run(&["--json"])).unwrap();
    assert_eq!(v["plan"]["plan"], "max5");
    assert_eq!(v["plan"]["source"], "estimate");
    let block = &v["block"];
    assert_eq!(block["block"]["startTime"], "2026-02-12T20:00:00.000+00:00");
    assert_eq!(block["meters"][0]["kind"], "tokens");
    assert_eq!(block["meters"][0]["used"], 23_544.0);
    assert_eq!(block["meters"][0]["source"], "estimate");
    assert_eq!(
        block["inputOutputTokensPerMinuteLastHour"]
            .as_array()
            .unwrap()
            .len(),
        60
    );
    // The tokens meter, its rate and its projection are in one unit, and the rate is the
    // block's burn rate (the same function `ctm blocks` uses).
    let tokens = &block["meters"][0];
    assert_eq!(tokens["unit"], "input+output tokens");
    assert_eq!(
        tokens["perMinute"],
        block["block"]["burnRate"]["inputOutputTokensPerMinute"]
    );
    let projected = tokens["used"].as_f64().unwrap()
        + tokens["perMinute"].as_f64().unwrap() * block["remainingMinutes"].as_f64().unwrap();
    assert!((tokens["projectedAtReset"].as_f64().unwrap() - projected).abs() < 1e-6);
    let blocks =
        json(
            env.ctm()
                .env("CTM_NOW", NOW)
                .args(["--no-ingest", "blocks", "--active", "--json"]),
        );
    assert_eq!(blocks["blocks"][0]["burnRate"], block["block"]["burnRate"]);
    assert_eq!(
        v["today"]["totalCost"]
            .as_f64()
            .map(|c| (c * 100.0).round()),
        Some(2680.0)
    );
    assert_eq!(v["thisWeek"]["responses"], 904);
    assert_eq!(v["recentSessions"].as_array().unwrap().len(), 5);
    assert!(v["official"]["fiveHour"].is_null());
}

/// tmux on a private socket inside the test's folder, killed when the test ends however
/// it ends.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).args(["-f", "/dev/null"]);
        c
    }

    fn capture(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "live"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        let o = self
            .cmd()
            .args(["display-message", "-p", "-t", "live", format])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    }

    /// Polls the pane until `pred` holds, for at most `limit` (a bound, not a timing).
    fn wait_for(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if pred(&self.capture()) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// Starts `ctm live` on `root` in a 120x40 tmux pane named `live`, with `extra_env`
/// (`NAME=value ...`). After ctm exits, the shell prints `CTM-EXIT-<code>`, whether the
/// terminal is back in canonical mode with echo (raw mode undone), and `CTM-DONE`.
fn start_live(env: &Env, root: &Path, extra_env: &str) -> Tmux {
    start_live_at(env, root, NOW, extra_env)
}

/// [`start_live`] with the clock at `now`.
fn start_live_at(env: &Env, root: &Path, now: &str, extra_env: &str) -> Tmux {
    // A socket per clock: a test may start a second monitor after the first.
    let tmux = Tmux {
        socket: env
            .path()
            .join(format!("tmux-{}.sock", now.replace([':', '-'], ""))),
    };
    let script = format!(
        "env -i HOME={home} PATH=/usr/bin:/bin TERM=xterm-256color TZ=UTC CTM_NOW={now} CTM_DB={db} {extra_env} \
         {ctm} --claude-dir {root} live --timezone UTC --refresh 1; \
         echo CTM-EXIT-$?; stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | tr '\\n' ' '; echo CTM-DONE; sleep 30",
        home = env.path().join("home").display(),
        db = env.db().display(),
        ctm = env!("CARGO_BIN_EXE_ctm"),
        root = root.display(),
    );
    let started = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-s",
            "live",
            "-x",
            "120",
            "-y",
            "40",
            &script,
        ])
        .status()
        .unwrap();
    assert!(started.success());
    tmux
}

/// Waits for ctm to end in the pane started by [`start_live`], and checks it exited with
/// `code` and left the terminal as it found it: canonical mode with echo (raw mode
/// undone) and the alternate screen left. Returns the pane's text.
fn assert_terminal_given_back(tmux: &Tmux, code: u8) -> String {
    let exited = tmux.wait_for(Duration::from_secs(20), |s| s.contains("CTM-DONE"));
    let pane = tmux.capture();
    assert!(exited.is_some(), "ctm did not end:\n{pane}");
    assert!(pane.contains(&format!("CTM-EXIT-{code}")), "{pane}");
    assert!(
        pane.contains("icanon echo CTM-DONE"),
        "raw mode left on:\n{pane}"
    );
    assert!(
        !pane.contains("ctm live ·"),
        "the alternate screen was not left:\n{pane}"
    );
    assert_eq!(tmux.display("#{alternate_on}"), "0");
    pane
}

/// A data root with one transcript holding one response of 1,100 tokens.
fn one_response_root(env: &Env) -> (PathBuf, PathBuf) {
    let root = env.root("claude");
    let transcript: PathBuf = root.join("projects/-home-u-proj/sess-live.jsonl");
    std::fs::create_dir_all(transcript.parent().unwrap()).unwrap();
    append(
        &transcript,
        &assistant_line(
            "sess-live",
            "msg_1",
            "req_1",
            "2026-02-12T21:00:00.000Z",
            "claude-opus-4-6",
            100,
            1_000,
        ),
    );
    (root, transcript)
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn append(path: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

#[test]
fn the_monitor_follows_a_transcript_in_a_real_terminal_and_quits_with_q() {
    if skip_without("tmux", tmux_available(), "apt-get install -y tmux") {
        return;
    }
    let env = Env::new();
    let (root, transcript) = one_response_root(&env);
    let tmux = start_live(&env, &root, "");

    // The first screen: one response of 1,100 input+output tokens, labelled so, its burn
    // rate in the same unit and its cache tokens on their own line.
    let first = tmux.wait_for(Duration::from_secs(20), |s| {
        s.contains("1,100 / 19,000 in+out")
            && s.contains("in+out tokens/min")
            && s.contains("Cache ")
    });
    assert!(first.is_some(), "no first screen:\n{}", tmux.capture());
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "1",
        "the monitor uses the alternate screen"
    );

    // Claude Code writes a response: the screen follows without a key press.
    append(
        &transcript,
        &assistant_line(
            "sess-live",
            "msg_2",
            "req_2",
            "2026-02-12T21:20:00.000Z",
            "claude-opus-4-6",
            200,
            5_000,
        ),
    );
    let changed = tmux.wait_for(Duration::from_secs(10), |s| s.contains("6,300 / 19,000"));
    let took = changed.unwrap_or_else(|| panic!("the screen did not follow:\n{}", tmux.capture()));
    eprintln!("ctm live showed the appended response after {took:?}");

    // p cycles the plan.
    tmux.cmd()
        .args(["send-keys", "-t", "live", "p"])
        .status()
        .unwrap();
    assert!(
        tmux.wait_for(Duration::from_secs(5), |s| s.contains("6,300 / 88,000"))
            .is_some(),
        "p did not switch to max5:\n{}",
        tmux.capture()
    );

    // A narrower terminal gets the one-column layout at once.
    tmux.cmd()
        .args(["resize-window", "-t", "live", "-x", "72", "-y", "45"])
        .status()
        .unwrap();
    assert!(
        tmux.wait_for(Duration::from_secs(5), |s| s.contains("   q p r")
            && s.contains("┌ Totals"))
            .is_some(),
        "no narrow layout after the resize:\n{}",
        tmux.capture()
    );

    // q quits and gives the terminal back.
    tmux.cmd()
        .args(["send-keys", "-t", "live", "q"])
        .status()
        .unwrap();
    assert_terminal_given_back(&tmux, 0);
}

/// The monitor when nothing is burning: an hour after the last response the burn rate is
/// 0 and says since when; the next day there is no active block, and the screen says when
/// the last block was and when usage last happened.
#[test]
fn the_monitor_shows_an_idle_hour_and_a_finished_block_in_a_real_terminal() {
    if skip_without("tmux", tmux_available(), "apt-get install -y tmux") {
        return;
    }
    let env = Env::new();
    let (root, _) = one_response_root(&env);
    // The response at 21:00 opened a block until 02:00; at 22:30 it is an hour and a half old.
    let tmux = start_live_at(&env, &root, "2026-02-12T22:30:00Z", "");
    let idle = tmux.wait_for(Duration::from_secs(20), |s| {
        s.contains("0: no response since 21:00") && s.contains("at reset 1,100")
    });
    assert!(idle.is_some(), "no idle burn rate:\n{}", tmux.capture());
    assert!(tmux.capture().contains("limit not before reset"));
    tmux.cmd()
        .args(["send-keys", "-t", "live", "q"])
        .status()
        .unwrap();
    assert_terminal_given_back(&tmux, 0);
    drop(tmux);

    let tmux = start_live_at(&env, &root, "2026-02-13T09:00:00Z", "");
    let none = tmux.wait_for(Duration::from_secs(20), |s| {
        s.contains("No active block")
            && s.contains("Last usage 2026-02-12 21:00 (12h 00m ago)")
            && s.contains("Last block 2026-02-12 21:00 to 02-13 02:00")
    });
    assert!(none.is_some(), "no idle screen:\n{}", tmux.capture());
    tmux.cmd()
        .args(["send-keys", "-t", "live", "q"])
        .status()
        .unwrap();
    assert_terminal_given_back(&tmux, 0);
}

/// A panic inside the monitor (injected after its first draw, debug builds only) still
/// gives the terminal back: raw mode off, the alternate screen left, the panic message
/// readable, and exit code 101.
#[test]
fn a_panic_in_the_monitor_gives_the_terminal_back() {
    if skip_without("tmux", tmux_available(), "apt-get install -y tmux") {
        return;
    }
    let env = Env::new();
    let (root, _) = one_response_root(&env);
    let tmux = start_live(&env, &root, "CTM_TEST_PANIC=live-after-draw");
    let pane = assert_terminal_given_back(&tmux, 101);
    assert!(pane.contains("injected after a draw"), "{pane}");
}

/// With `[team]` configured, the monitor pushes what its ingests add to the team
/// database (on a thread of its own), and quits as usual.
#[test]
fn the_monitor_pushes_to_the_team_database_as_it_follows() {
    if skip_without("tmux", tmux_available(), "apt-get install -y tmux") {
        return;
    }
    let db = match ctm_test_postgres::shared() {
        Ok(s) => s.database(),
        Err(e) => {
            ctm_test_postgres::skip(&e);
            return;
        }
    };
    let env = Env::new();
    let (root, transcript) = one_response_root(&env);
    let config = env.path().join("home/.config/ctm/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "[team]\nurl = \"{}\"\nuser = \"alice\"\nmachine = \"tmux\"\n",
            db.url
        ),
    )
    .unwrap();
    let pushed = || -> i64 {
        db.client()
            .query_one(
                "SELECT CASE WHEN to_regclass('ctm.rollup') IS NULL THEN 0 ELSE \
                 (SELECT coalesce(sum(responses), 0)::bigint FROM ctm.rollup) END",
                &[],
            )
            .map_or(0, |r| r.get(0))
    };
    let tmux = start_live(&env, &root, "CTM_TEST_PUSH_INTERVAL_MS=200");
    let wait = |n: i64| {
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while pushed() != n {
            assert!(
                std::time::Instant::now() < until,
                "the team database never had {n} responses:\n{}",
                tmux.capture()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait(1);
    append(
        &transcript,
        &assistant_line(
            "sess-live",
            "msg_2",
            "req_2",
            "2026-02-12T21:20:00.000Z",
            "claude-opus-4-6",
            200,
            5_000,
        ),
    );
    wait(2);
    tmux.cmd()
        .args(["send-keys", "-t", "live", "q"])
        .status()
        .unwrap();
    assert_terminal_given_back(&tmux, 0);
}
