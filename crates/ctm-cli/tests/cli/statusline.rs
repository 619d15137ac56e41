//! `ctm statusline`: one line for any stdin, official limits kept once, concurrent calls,
//! and `--install [--write]` on a temporary Claude folder.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::support::*;

/// `CTM_NOW` for every call: the fixture's last block (20:00 to 01:00 UTC) is active.
const NOW: &str = "2026-02-12T21:30:00Z";

pub const HOOK_WITH_LIMITS: &str = r#"{"session_id":"4d5611e5-2d1b-4f4e-a9e5-7d3c8e9a1b2c","transcript_path":"/x.jsonl",
  "cwd":"/home/u/proj","model":{"id":"claude-opus-4-6","display_name":"Opus 4.6"},
  "workspace":{"current_dir":"/home/u/proj","project_dir":"/home/u/proj"},"version":"2.1.90",
  "cost":{"total_cost_usd":1.25},"context_window":{"used_percentage":23.4,"context_window_size":200000},
  "rate_limits":{"five_hour":{"used_percentage":37,"resets_at":1770944400},
                 "seven_day":{"used_percentage":12.5,"resets_at":1771400000}}}"#;

pub fn statusline(env: &Env, root: &Path, input: &[u8]) -> Output {
    let mut child = env
        .ctm()
        .env("CTM_NOW", NOW)
        .arg("--claude-dir")
        .arg(root)
        .arg("statusline")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        // A huge input may be cut off by ctm closing its end: that is its answer.
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Exactly one line on stdout, exit 0 or 1, no panic.
fn one_line(o: &Output) -> String {
    let out = stdout(o);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    assert_eq!(out.matches('\n').count(), 1, "one line: {out:?}");
    assert!(out.ends_with('\n'));
    out.trim_end().to_owned()
}

fn samples(env: &Env) -> Vec<(String, f64, i64, i64)> {
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let mut stmt = conn
        .prepare("SELECT limit_window, used_percentage, resets_at, sightings FROM rate_limit_samples ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn every_bad_stdin_gets_a_short_fallback_line() {
    let env = Env::new();
    let root = env.root("claude");
    let huge = {
        let mut v = br#"{"model":{"display_name":""#.to_vec();
        v.extend(std::iter::repeat_n(b'x', 2 << 20));
        v.extend(br#""}}"#);
        v
    };
    let cases: [(&str, &[u8]); 6] = [
        ("empty", b""),
        ("blank", b"  \n\t"),
        ("not JSON", b"model: opus"),
        ("truncated", br#"{"model":{"display_name":"Opus"#),
        ("not an object", b"[1,2,3]"),
        ("huge", &huge),
    ];
    for (name, input) in cases {
        let o = statusline(&env, &root, input);
        let line = one_line(&o);
        assert_eq!(o.status.code(), Some(1), "{name}");
        assert_eq!(line, "ctm: no status (bad hook input)", "{name}");
        assert!(!o.stderr.is_empty(), "{name}: the reason goes to stderr");
    }
    // Wrong types inside an object are ignored field by field: a line without them.
    let o = statusline(
        &env,
        &root,
        br#"{"model":7,"session_id":[1],"context_window":"full","rate_limits":{"five_hour":{"used_percentage":"37%","resets_at":"soon"},"seven_day":null}}"#,
    );
    let line = one_line(&o);
    assert_eq!(o.status.code(), Some(0), "{line}");
    assert!(
        line.starts_with("Claude | today $0.00 | no active block"),
        "{line}"
    );
    assert!(
        !line.contains("official") && !line.contains("ctx"),
        "{line}"
    );
    assert!(
        samples(&env).is_empty(),
        "nothing recorded from bad figures"
    );
}

#[test]
fn a_hook_with_rate_limits_records_them_once_and_shows_them_official() {
    let env = Env::new();
    let o = statusline(&env, &fixture_root(), HOOK_WITH_LIMITS.as_bytes());
    let line = one_line(&o);
    assert_eq!(o.status.code(), Some(0));
    // The fixture's active block: $8.56 at 21:30, 3h 30m before its 01:00 reset.
    assert_eq!(
        line,
        "Opus 4.6 | session $0.00 | today $26.80 | block $8.56 (3h 30m left) | $4.72/h | ctx 23% | 5h 37% (official)"
    );
    // The same figures on the next prompts only extend the rows.
    for _ in 0..2 {
        one_line(&statusline(
            &env,
            &fixture_root(),
            HOOK_WITH_LIMITS.as_bytes(),
        ));
    }
    assert_eq!(
        samples(&env),
        vec![
            ("five_hour".into(), 37.0, 1_770_944_400, 3),
            ("seven_day".into(), 12.5, 1_771_400_000, 3)
        ]
    );
    // A changed figure is a new row.
    let moved = HOOK_WITH_LIMITS.replace(r#""used_percentage":37"#, r#""used_percentage":41.5"#);
    let line = one_line(&statusline(&env, &fixture_root(), moved.as_bytes()));
    assert!(line.ends_with("5h 42% (official)"), "{line}");
    assert_eq!(samples(&env).len(), 3);

    // ctm blocks shows them, labelled official.
    let v = json(
        env.ctm()
            .env("CTM_NOW", NOW)
            .arg("--claude-dir")
            .arg(fixture_root())
            .args(["blocks", "--active", "--json", "--timezone", "UTC"]),
    );
    let five = &v["official"]["fiveHour"];
    assert_eq!(five["usedPercentage"], 41.5);
    assert_eq!(five["source"], "official");
    assert_eq!(five["resetsAt"], "2026-02-13T01:00:00.000+00:00");
    assert_eq!(five["expired"], false);
    assert_eq!(v["official"]["sevenDay"]["usedPercentage"], 12.5);
    let table = run(env
        .ctm()
        .env("CTM_NOW", NOW)
        .arg("--claude-dir")
        .arg(fixture_root())
        .args(["blocks", "--active", "--timezone", "UTC"]));
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("Official (Claude): 5-hour 42% used, resets 2026-02-13 01:00; 7-day 12% used, resets 2026-02-18 07:33."),
        "{text}"
    );
}

#[test]
fn a_hook_without_rate_limits_uses_the_session_and_the_last_kept_figure() {
    let env = Env::new();
    // A real session of the fixture, no context figure: context from its last response.
    let hook =
        r#"{"session_id":"4d5611e5-1ef5-4d59-8c53-6ba7ebcc4cd3","model":{"id":"claude-opus-4-6"}}"#;
    let sessions = json(env.ctm().arg("--claude-dir").arg(fixture_root()).args([
        "session",
        "--json",
        "--timezone",
        "UTC",
    ]));
    let session = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sessionId"].as_str().unwrap().starts_with("4d5611e5"))
        .unwrap()
        .clone();
    let id = session["sessionId"].as_str().unwrap();
    let hook = hook.replace("4d5611e5-1ef5-4d59-8c53-6ba7ebcc4cd3", id);
    let line = one_line(&statusline(&env, &fixture_root(), hook.as_bytes()));
    let cost = format!("session ${:.2}", session["totalCost"].as_f64().unwrap());
    assert!(
        line.starts_with(&format!(
            "claude-opus-4-6 | {cost} | today $26.80 | block $8.56"
        )),
        "{line}"
    );
    assert!(
        line.contains(" | ctx "),
        "context from the transcript usage: {line}"
    );
    assert!(!line.contains("official"), "{line}");

    // Once a figure was kept, a hook without one shows it while its window lasts.
    one_line(&statusline(
        &env,
        &fixture_root(),
        HOOK_WITH_LIMITS.as_bytes(),
    ));
    let line = one_line(&statusline(&env, &fixture_root(), hook.as_bytes()));
    assert!(line.ends_with("5h 37% (official)"), "{line}");
}

#[test]
fn simultaneous_calls_never_pile_up_or_double_count() {
    let env = Env::new();
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut c = env
                .ctm()
                .env("CTM_NOW", NOW)
                .arg("--claude-dir")
                .arg(fixture_root())
                .arg("statusline")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin
                .take()
                .unwrap()
                .write_all(HOOK_WITH_LIMITS.as_bytes())
                .unwrap();
            c
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        let line = one_line(&o);
        // Each answers: the full line, or from the store as another call left it.
        assert!(line.starts_with("Opus 4.6 | "), "{line}");
        assert!(line.contains("5h 37% (official)"), "{line}");
    }
    // Every response counted once, and one row per window however the calls interleaved.
    let v = json(env.ctm().arg("--claude-dir").arg(fixture_root()).args([
        "daily",
        "--json",
        "--timezone",
        "UTC",
    ]));
    assert_eq!(daily_totals(&v), FIXTURE_TOTALS);
    let s = samples(&env);
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s.iter().all(|r| r.3 >= 1 && r.3 <= 6), "{s:?}");
}

fn install(env: &Env, claude: &Path, write: bool) -> Output {
    let mut c: Command = env.ctm();
    c.env("CLAUDE_CONFIG_DIR", claude)
        .args(["statusline", "--install"]);
    if write {
        c.arg("--write");
    }
    c.output().unwrap()
}

#[test]
fn install_prints_the_snippet_and_write_edits_settings_after_a_backup() {
    let env = Env::new();
    let claude = env.path().join("claude-config");
    std::fs::create_dir_all(&claude).unwrap();

    let o = install(&env, &claude, false);
    assert!(o.status.success());
    let snippet: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(snippet["statusLine"]["type"], "command");
    let command = snippet["statusLine"]["command"].as_str().unwrap();
    assert!(command.ends_with(" statusline"), "{command}");
    assert!(
        !claude.join("settings.json").exists(),
        "--install alone writes nothing"
    );

    // An existing file keeps its other keys, in order, and is backed up first.
    let original = "{\n  \"model\": \"opus\",\n  \"hooks\": {\"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"say done\"}]}]},\n  \"cleanupPeriodDays\": 99999\n}\n";
    let settings = claude.join("settings.json");
    std::fs::write(&settings, original).unwrap();
    let o = install(&env, &claude, true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let backups: Vec<_> = std::fs::read_dir(&claude)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("settings.json.ctm-backup-")
        })
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), original);
    let text = std::fs::read_to_string(&settings).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["model"], "opus");
    assert_eq!(v["cleanupPeriodDays"], 99999);
    assert_eq!(v["hooks"]["Stop"][0]["hooks"][0]["command"], "say done");
    assert_eq!(v["statusLine"], snippet["statusLine"]);
    let order: Vec<usize> = [
        "\"model\"",
        "\"hooks\"",
        "\"cleanupPeriodDays\"",
        "\"statusLine\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");

    // Again: nothing to do, no second backup.
    let o = install(&env, &claude, true);
    assert!(o.status.success());
    assert!(stdout(&o).contains("already"), "{}", stdout(&o));
    assert_eq!(std::fs::read_dir(&claude).unwrap().count(), 2);

    // A settings file that is not a JSON object is left alone.
    std::fs::write(&settings, "{ not json").unwrap();
    let o = install(&env, &claude, true);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was changed"));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{ not json");

    // No file yet: created.
    let fresh = env.path().join("fresh-claude");
    let o = install(&env, &fresh, true);
    assert!(o.status.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fresh.join("settings.json")).unwrap())
            .unwrap();
    assert_eq!(v["statusLine"], snippet["statusLine"]);

    // --write alone is refused by the parser.
    let o = env.ctm().args(["statusline", "--write"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_store_that_cannot_be_opened_still_gets_the_hooks_own_figures() {
    let env = Env::new();
    std::fs::write(env.db(), vec![b'x'; 8192]).unwrap();
    let o = statusline(&env, &fixture_root(), HOOK_WITH_LIMITS.as_bytes());
    let line = one_line(&o);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        line,
        "Opus 4.6 | ctx 23% | 5h 37% (official) | ctm: store unavailable"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an SQLite database"));
    assert_eq!(
        std::fs::read(env.db()).unwrap(),
        vec![b'x'; 8192],
        "left alone"
    );
}

/// The installed command keeps the store, data roots and config file the install was run
/// with: Claude Code runs it without the shell's flags.
#[test]
fn install_keeps_the_db_claude_dir_and_config_it_was_run_with() {
    let env = Env::new();
    let claude = env.path().join("claude config");
    std::fs::create_dir_all(&claude).unwrap();
    let config = env.path().join("ctm.toml");
    let o = env
        .ctm()
        .env_remove("CTM_DB")
        .arg("--db")
        .arg(env.path().join("other.db"))
        .arg("--claude-dir")
        .arg(&claude)
        .arg("--config")
        .arg(&config)
        .args(["statusline", "--install", "--write"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(claude.join("settings.json")).unwrap())
            .unwrap();
    let command = v["statusLine"]["command"].as_str().unwrap();
    let want = format!(
        " --db {} --claude-dir '{}' --config {} statusline",
        env.path().join("other.db").display(),
        claude.display(),
        config.display()
    );
    assert!(command.ends_with(&want), "{command}\nwant ...{want}");
    // The command runs as Claude Code runs it: through a shell, without our variables.
    let o = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env_clear()
        .env("HOME", env.path().join("home"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = o;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"model":{"display_name":"Opus"}}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Opus | today $0.00"));
    assert!(
        env.path().join("other.db").exists(),
        "the named store was used"
    );
}

/// Someone else's statusLine is replaced only with --force, and the user is told what
/// it was either way.
#[test]
fn install_never_replaces_another_statusline_without_force() {
    let env = Env::new();
    let claude = env.path().join("claude-config");
    std::fs::create_dir_all(&claude).unwrap();
    let settings = claude.join("settings.json");
    let theirs = "{\n  \"statusLine\": {\"type\": \"command\", \"command\": \"~/bin/my-status.sh\"},\n  \"model\": \"opus\"\n}\n";
    std::fs::write(&settings, theirs).unwrap();
    let o = install(&env, &claude, true);
    assert!(!o.status.success(), "refused without a terminal to ask on");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("already has a statusLine")
            && err.contains("~/bin/my-status.sh")
            && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        theirs,
        "untouched"
    );
    let o = env
        .ctm()
        .env("CLAUDE_CONFIG_DIR", &claude)
        .args(["statusline", "--install", "--write", "--force"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = stdout(&o);
    assert!(
        said.contains("Replaced the statusLine") && said.contains("~/bin/my-status.sh"),
        "{said}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert!(v["statusLine"]["command"]
        .as_str()
        .unwrap()
        .ends_with(" statusline"));
    assert_eq!(v["model"], "opus");
    // --force without --write is refused by the parser.
    let o = env
        .ctm()
        .args(["statusline", "--install", "--force"])
        .output()
        .unwrap();
    assert!(!o.status.success());
}
