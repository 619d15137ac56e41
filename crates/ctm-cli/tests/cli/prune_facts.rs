//! `ctm db prune --facts-older-than`: old responses go, the days, sessions and blocks made
//! of them stay as history, and nothing brings the deleted responses back.

use std::path::{Path, PathBuf};

use super::support::*;

/// The fixture's days are 2026-02-10..12 (UTC); with this "now", `--facts-older-than 2`
/// keeps 2026-02-11 on and deletes 2026-02-10.
const NOW: &str = "2026-02-13T10:00:00Z";
const FIRST_KEPT: &str = "2026-02-11";

fn report(env: &Env, args: &[&str]) -> serde_json::Value {
    json(env.ctm().arg("--no-ingest").args(args).args(["--json"]))
}

fn responses_in_store(env: &Env) -> u64 {
    json(env.ctm().args(["db", "status", "--json"]))["responses"]
        .as_u64()
        .unwrap()
}

/// A transcript of the root holding responses from before `FIRST_KEPT`.
fn transcript_with_old_responses(root: &Path) -> PathBuf {
    walk(root)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("\"usage\"") && l.contains("\"timestamp\":\"2026-02-10T"))
        })
        .expect("the fixture has responses on 2026-02-10")
}

#[test]
fn pruned_facts_keep_their_days_and_are_never_added_back() {
    let env = Env::new();
    let root = env.path().join("data");
    copy_tree(&fixture_root(), &root);
    let ingest = |env: &Env| {
        json(
            env.ctm()
                .arg("--claude-dir")
                .arg(&root)
                .args(["ingest", "--json"]),
        )
    };
    ingest(&env);
    let daily_before = report(&env, &["daily", "--timezone", "UTC"]);
    let monthly_before = report(&env, &["monthly", "--timezone", "UTC"]);
    let kept_part = report(&env, &["daily", "--timezone", "UTC", "--since", FIRST_KEPT]);
    let all_rows: i64 = rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row("SELECT count(*) FROM responses", [], |r| r.get(0))
        .unwrap();
    let store_before = std::fs::read(env.db()).unwrap();

    // A dry run counts and changes nothing.
    let dry = json(env.ctm().env("CTM_NOW", NOW).args([
        "db",
        "prune",
        "--facts-older-than",
        "2",
        "--dry-run",
        "--json",
    ]));
    let doomed = dry["facts"]["responses"].as_u64().unwrap();
    assert!(doomed > 0, "{dry}");
    assert_eq!(dry["facts"]["firstDayKept"], FIRST_KEPT);
    assert_eq!(std::fs::read(env.db()).unwrap(), store_before);
    assert_eq!(responses_in_store(&env), FIXTURE_TOTALS.0);

    let done = json(env.ctm().env("CTM_NOW", NOW).args([
        "db",
        "prune",
        "--facts-older-than",
        "2",
        "--json",
    ]));
    assert_eq!(done["facts"]["responses"].as_u64().unwrap(), doomed);
    let status = json(env.ctm().args(["db", "status", "--json"]));
    assert_eq!(status["factsPrunedBefore"], "2026-02-11T00:00:00.000Z");
    assert_eq!(status["firstResponse"].as_str().unwrap()[..10], *FIRST_KEPT);
    let all_rows_after: i64 = rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row("SELECT count(*) FROM responses", [], |r| r.get(0))
        .unwrap();
    assert_eq!(all_rows_after, all_rows - doomed as i64);
    assert_eq!(
        responses_in_store(&env),
        kept_part["totals"]["responses"].as_u64().unwrap(),
        "only the responses of the kept days are left"
    );

    // Reports in the store's zone still show the pruned day, from the kept aggregates.
    let check_totals = |env: &Env| {
        assert_eq!(report(env, &["daily", "--timezone", "UTC"]), daily_before);
        assert_eq!(
            report(env, &["monthly", "--timezone", "UTC"]),
            monthly_before
        );
    };
    check_totals(&env);
    assert_eq!(daily_totals(&daily_before), FIXTURE_TOTALS);
    run(env.ctm().args(["db", "check"]));
    run(env.ctm().args(["db", "rebuild"]));
    run(env.ctm().args(["db", "check"]));
    check_totals(&env);

    // Reports made from single responses say they lack the pruned days; JSON stays clean.
    let out = run(env.ctm().args(["--no-ingest", "session", "--json"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: responses before 2026-02-11 were pruned"),
        "{err}"
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
    let out = run(env
        .ctm()
        .args(["--no-ingest", "daily", "--timezone", "UTC"]));
    assert!(out.stderr.is_empty(), "the daily tables have those days");
    let other_zone = run(env
        .ctm()
        .args(["--no-ingest", "daily", "--timezone", "Asia/Tokyo"]));
    assert!(String::from_utf8_lossy(&other_zone.stderr).contains("were pruned"));
    let later_only = run(env
        .ctm()
        .args(["--no-ingest", "session", "--since", "2026-02-12"]));
    assert!(
        later_only.stderr.is_empty(),
        "a range after the horizon is whole"
    );
    // Reports that may read derived rows show only what the facts still hold: reaching
    // before the horizon they compute from the facts, and equal the same report from the
    // horizon on (where the daily tables and claude_sessions equal the facts).
    for name in ["models", "cache", "session", "project", "hourly"] {
        let from_horizon = report(&env, &[name, "--since", "2026-02-11"]);
        assert_eq!(report(&env, &[name]), from_horizon, "{name}");
    }

    // The daily tables before the horizon cannot be rebuilt in another zone.
    let out = env
        .ctm()
        .args(["config", "set", "timezone", "Asia/Tokyo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );
    check_totals(&env);

    // The transcript is rewritten (a new inode: read again from 0) with one new response.
    let file = transcript_with_old_responses(&root);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&assistant_line(
        "s-new",
        "msg_after_prune",
        "req_after_prune",
        "2026-02-12T23:30:00.000Z",
        "claude-opus-4-6",
        7,
        11,
    ));
    text.push('\n');
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let r = ingest(&env);
    assert_eq!(r["responsesAdded"], 1, "{r}");
    assert!(r["responsesBeforeHorizon"].as_u64().unwrap() > 0, "{r}");
    let after = daily_totals(&report(&env, &["daily", "--timezone", "UTC"]));
    let before = FIXTURE_TOTALS;
    assert_eq!(
        after,
        (
            before.0 + 1,
            before.1 + 7,
            before.2 + 11,
            before.3,
            before.4
        )
    );
    let days_after = report(&env, &["daily", "--timezone", "UTC"]);
    assert_eq!(
        days_after["daily"][0], daily_before["daily"][0],
        "the pruned day is unchanged"
    );
    run(env.ctm().args(["db", "check"]));

    // A second, earlier horizon changes nothing; a later one prunes further.
    let again = json(env.ctm().env("CTM_NOW", NOW).args([
        "db",
        "prune",
        "--facts-older-than",
        "5",
        "--json",
    ]));
    assert_eq!(again["facts"]["responses"], 0);
    assert_eq!(again["facts"]["firstDayKept"], FIRST_KEPT);
    let snapshot = report(&env, &["daily", "--timezone", "UTC"]);
    json(
        env.ctm()
            .env("CTM_NOW", NOW)
            .args(["db", "prune", "--facts-older-than", "1", "--json"]),
    );
    assert_eq!(report(&env, &["daily", "--timezone", "UTC"]), snapshot);
    run(env.ctm().args(["db", "check"]));
}

#[test]
fn facts_older_than_takes_whole_days() {
    let env = Env::new();
    let out = env
        .ctm()
        .args(["db", "prune", "--facts-older-than", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'0'") && err.contains("--facts-older-than"),
        "{err}"
    );
    assert!(!env.db().exists(), "refused before the store is opened");
}
