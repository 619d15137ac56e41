use std::os::unix::fs::PermissionsExt;

use super::support::*;

#[test]
fn real_fixture_gives_the_documented_totals_and_a_clean_check() {
    let env = Env::new();
    let v = json(env.ctm().args(["--claude-dir"]).arg(fixture_root()).args([
        "daily",
        "--json",
        "--timezone",
        "UTC",
    ]));
    assert_eq!(daily_totals(&v), FIXTURE_TOTALS);
    assert_eq!(v["daily"].as_array().unwrap().len(), 3);
    assert_eq!(v["daily"][0]["date"], "2026-02-10");
    // ccusage's field names.
    for k in [
        "date",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
        "modelsUsed",
        "modelBreakdowns",
    ] {
        assert!(v["daily"][0].get(k).is_some(), "daily[0].{k} missing");
    }
    assert!(v["daily"][0]["modelBreakdowns"][0]
        .get("modelName")
        .is_some());
    run(env.ctm().args(["db", "check"]));
    let mode = std::fs::metadata(env.db()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the store is private");
}

#[test]
fn claude_config_dir_is_a_list_and_the_same_responses_count_once() {
    let env = Env::new();
    let copy = env.path().join("copy");
    copy_tree(&fixture_root(), &copy);
    let list = format!(
        "{},{}",
        fixture_root().display(),
        copy.join("projects").display()
    );
    let v = json(
        env.ctm()
            .env("CLAUDE_CONFIG_DIR", list)
            .args(["daily", "--json"]),
    );
    assert_eq!(daily_totals(&v), FIXTURE_TOTALS);
}

#[test]
fn second_run_reads_nothing_and_reports_match() {
    let env = Env::new();
    let first = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(fixture_root())
            .args(["ingest", "--json"]),
    );
    assert_eq!(first["responsesAdded"], 904);
    assert_eq!(first["filesRead"], 20);
    let second = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(fixture_root())
            .args(["ingest", "--json"]),
    );
    assert_eq!(second["unchanged"], true);
    assert_eq!(second["filesRead"], 0);
    assert_eq!(second["bytesRead"], 0);
}

#[test]
fn no_data_says_where_it_looked_and_exits_zero() {
    let env = Env::new();
    let out = run(env.ctm().arg("daily"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no Claude Code data found"), "{err}");
    assert!(
        err.contains("~/.claude") && err.contains("--claude-dir"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.contains("No usage: no Claude Code data found (looked in ~/.config/claude, ~/.claude)"),
        "{out}"
    );
    // `ctm` alone is the daily report.
    let alone = run(&mut env.ctm());
    assert!(String::from_utf8_lossy(&alone.stdout).contains("No usage"));
    // Every report says why it is empty, JSON stays valid, and no store is created as a
    // side effect.
    for report in [
        "weekly", "session", "project", "models", "hourly", "top", "trend", "cache", "blocks",
    ] {
        let text = String::from_utf8(run(env.ctm().arg(report)).stdout).unwrap();
        assert!(
            text.contains("no Claude Code data found"),
            "{report}: {text}"
        );
        let v = json(env.ctm().args([report, "--json"]));
        assert!(v.is_object(), "{report}");
    }
    let o = run(env.ctm().args(["--no-ingest", "daily"]));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no store at"));
    assert!(!env.db().exists(), "a report created the store");
    assert!(!env.path().join("home/.local").exists());
}

/// A store with history but nothing in the range asked: the report says what it looked
/// for and when the last usage was; `blocks --recent` when the last block was; `trend`
/// when activity last happened.
#[test]
fn empty_reports_say_when_the_last_usage_was() {
    let env = Env::new();
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
    let at = |now: &str, args: &[&str]| -> String {
        String::from_utf8(
            run(env
                .ctm()
                .env("CTM_NOW", now)
                .args(["--no-ingest", "--color", "never"])
                .args(args)
                .args(["--timezone", "UTC"]))
            .stdout,
        )
        .unwrap()
    };
    let later = "2026-03-20T00:00:00Z";
    let daily = at(later, &["daily", "--since", "2026-03-01"]);
    assert_eq!(
        daily.trim(),
        "No usage since 2026-03-01 (UTC); the last usage in the store was on 2026-02-12 at 21:03."
    );
    let session = at(later, &["session", "--model", "gpt"]);
    assert!(
        session.contains("No usage matching --model gpt (UTC)")
            && session.contains("2026-02-12 at 21:03"),
        "{session}"
    );
    let recent = at(later, &["blocks", "--recent"]);
    assert_eq!(
        recent.trim(),
        "No block in the last 3 days (UTC); the last block started 2026-02-12 20:00 and its last response was at 2026-02-12 21:03."
    );
    let active = at(later, &["blocks", "--active"]);
    assert!(
        active.starts_with(
            "No active block at 2026-03-20 00:00 (UTC); the last block started 2026-02-12 20:00"
        ),
        "{active}"
    );
    let trend = at(later, &["trend"]);
    assert!(trend.contains("2026-03-14 to 2026-03-20 (UTC)"), "{trend}");
    assert!(
        trend.contains(
            "No usage in these 7 days; the last usage in the store was on 2026-02-12 at 21:03."
        ),
        "{trend}"
    );
}

#[test]
fn history_survives_deleted_transcripts() {
    let env = Env::new();
    let root = env.path().join("root");
    copy_tree(&fixture_root(), &root);
    run(env.ctm().arg("--claude-dir").arg(&root).arg("ingest"));
    // Claude Code's cleanup deletes half the transcripts.
    let files = walk(&root.join("projects"));
    for f in files.iter().step_by(2) {
        std::fs::remove_file(f).unwrap();
    }
    let report = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["ingest", "--json"]),
    );
    assert_eq!(report["filesMissing"], files.len().div_ceil(2) as u64);
    let v = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["daily", "--json"]),
    );
    assert_eq!(daily_totals(&v), FIXTURE_TOTALS);
    run(env.ctm().args(["db", "check"]));
}

#[test]
fn a_growing_transcript_is_read_from_its_cursor_and_a_half_line_waits() {
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/-home-u-proj");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s1.jsonl");
    let l1 = assistant_line(
        "s1",
        "msg_1",
        "req_1",
        "2026-03-01T10:00:00.000Z",
        "claude-sonnet-4-5-20250929",
        10,
        2,
    );
    let l1_final = assistant_line(
        "s1",
        "msg_1",
        "req_1",
        "2026-03-01T10:00:01.000Z",
        "claude-sonnet-4-5-20250929",
        10,
        500,
    );
    let l2 = assistant_line(
        "s1",
        "msg_2",
        "req_2",
        "2026-03-01T10:05:00.000Z",
        "claude-sonnet-4-5-20250929",
        20,
        30,
    );
    let (head, tail) = l2.split_at(50);
    std::fs::write(&path, format!("{l1}\n{head}")).unwrap();
    let r = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["ingest", "--json"]),
    );
    assert_eq!(r["responsesAdded"], 1);
    assert_eq!(
        r["skipped"],
        serde_json::json!({}),
        "a half-written line is not a bad line"
    );

    // The rest of the line, and the final streaming line of msg_1, arrive.
    let mut content = std::fs::read_to_string(&path).unwrap();
    content.push_str(&format!("{tail}\n{l1_final}\n"));
    std::fs::write(&path, content).unwrap();
    let r = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["ingest", "--json"]),
    );
    assert_eq!(r["responsesAdded"], 1);
    assert_eq!(r["responsesUpdated"], 1);
    let v = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["daily", "--json"]),
    );
    assert_eq!(daily_totals(&v), (2, 30, 530, 0, 0));
    // Sonnet 4.5: (30 x 3 + 530 x 15) / 1e6.
    let cost = v["totals"]["totalCost"].as_f64().unwrap();
    assert!((cost - 0.00804).abs() < 1e-12, "{cost}");
    run(env.ctm().args(["db", "check"]));
}

#[test]
fn a_replaced_file_is_read_again_without_double_counting() {
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.jsonl");
    let a = assistant_line(
        "s",
        "msg_a",
        "req_a",
        "2026-03-01T10:00:00.000Z",
        "claude-opus-4-6",
        1,
        10,
    );
    let b = assistant_line(
        "s",
        "msg_b",
        "req_b",
        "2026-03-01T11:00:00.000Z",
        "claude-opus-4-6",
        1,
        20,
    );
    std::fs::write(&path, format!("{a}\n{b}\n")).unwrap();
    run(env.ctm().arg("--claude-dir").arg(&root).arg("ingest"));
    // Rewritten shorter with other content first: read from the start.
    std::fs::write(&path, format!("{b}\n")).unwrap();
    let r = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["ingest", "--json"]),
    );
    assert_eq!(r["filesRestarted"], 1);
    assert_eq!(r["responsesAdded"], 0);
    let v = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["daily", "--json"]),
    );
    assert_eq!(
        daily_totals(&v).0,
        2,
        "msg_a stays in history, msg_b counts once"
    );
}

#[test]
fn unknown_models_are_counted_and_flagged_unpriced() {
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("s.jsonl"),
        format!(
            "{}\n{}\n",
            assistant_line(
                "s",
                "m1",
                "r1",
                "2026-03-01T10:00:00Z",
                "claude-mystery-9",
                100,
                50
            ),
            assistant_line(
                "s",
                "m2",
                "r2",
                "2026-03-01T10:01:00Z",
                "claude-opus-4-6",
                100,
                50
            )
        ),
    )
    .unwrap();
    let r = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["ingest", "--json"]),
    );
    assert_eq!(
        r["unpricedModels"],
        serde_json::json!({"claude-mystery-9": 1})
    );
    let v = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["daily", "--json"]),
    );
    assert_eq!(v["totals"]["inputTokens"], 200);
    assert_eq!(v["totals"]["unpricedResponses"], 1);
    assert_eq!(v["unpricedModels"], serde_json::json!(["claude-mystery-9"]));
    let table = run(env.ctm().arg("--claude-dir").arg(&root).arg("daily"));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("$0.00*")
            && text
                .contains("* leaves out 1 response of models without a price (claude-mystery-9)")
            && text.contains("cost is unknown"),
        "{text}"
    );
    // The JSON keeps the number beside the flag, so scripts that sum keep working.
    assert_eq!(v["daily"][0]["priced"], false);
    assert_eq!(v["totals"]["priced"], false);
    assert!(v["daily"][0]["totalCost"].as_f64().unwrap() > 0.0);
    // A model with no price at all: "-", not $0.00, and explained.
    let models = run(env.ctm().arg("--claude-dir").arg(&root).arg("models"));
    let models = String::from_utf8_lossy(&models.stdout);
    let row = models
        .lines()
        .find(|l| l.contains("mystery-9"))
        .unwrap_or_else(|| panic!("{models}"));
    assert!(
        row.contains("┆          - ┆") && !row.contains("$0.00"),
        "{models}"
    );
    assert!(
        models.contains("- is entirely") || models.contains("- is a cost"),
        "{models}"
    );
    let pricing = String::from_utf8_lossy(
        &run(env.ctm().arg("--claude-dir").arg(&root).arg("pricing")).stdout,
    )
    .into_owned();
    assert!(
        pricing.contains("claude-mystery-9 (1 responses)"),
        "{pricing}"
    );

    // The user prices it; repricing updates the stored costs.
    let cfg = env.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[pricing.models.\"claude-mystery-9\"]\ninput = 1.0\noutput = 2.0\n",
    )
    .unwrap();
    let out = run(env.ctm().env("CTM_CONFIG", &cfg).args(["db", "reprice"]));
    // Both rows change: one gets a price, both get the new table's version.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Repriced 2 responses") && said.contains("2 changed"),
        "{said}"
    );
    let v = json(
        env.ctm()
            .env("CTM_CONFIG", &cfg)
            .args(["--no-ingest", "daily", "--json"]),
    );
    assert_eq!(v["totals"]["unpricedResponses"], 0);
    // 100 x $1 + 50 x $2, and 100 x $5 + 50 x $25, per million.
    let cost = v["totals"]["totalCost"].as_f64().unwrap();
    assert!((cost - (0.0002 + 0.00175)).abs() < 1e-12, "{cost}");
}

#[test]
fn days_follow_the_time_zone() {
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("s.jsonl"),
        format!(
            "{}\n{}\n",
            assistant_line(
                "s",
                "m1",
                "r1",
                "2026-03-01T23:30:00Z",
                "claude-opus-4-6",
                1,
                1
            ),
            // The same instant form with an offset: 2026-03-02T00:30Z.
            assistant_line(
                "s",
                "m2",
                "r2",
                "2026-03-02T09:30:00+09:00",
                "claude-opus-4-6",
                1,
                1
            )
        ),
    )
    .unwrap();
    let dates = |tz: &str| -> Vec<String> {
        let v = json(env.ctm().arg("--claude-dir").arg(&root).args([
            "daily",
            "--json",
            "--timezone",
            tz,
        ]));
        v["daily"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| format!("{}={}", d["date"].as_str().unwrap(), d["responses"]))
            .collect()
    };
    assert_eq!(dates("UTC"), ["2026-03-01=1", "2026-03-02=1"]);
    assert_eq!(dates("Asia/Tokyo"), ["2026-03-02=2"]);
    assert_eq!(dates("America/New_York"), ["2026-03-01=2"]);
    let err = env
        .ctm()
        .arg("--claude-dir")
        .arg(&root)
        .args(["daily", "--timezone", "Mars/Olympus"])
        .output()
        .unwrap();
    assert_eq!(err.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&err.stderr).contains("unknown time zone"));
}

#[test]
fn db_migrate_to_a_version_then_to_the_latest() {
    let env = Env::new();
    let out = run(env.ctm().args(["db", "migrate", "--to", "1"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied migration 1"));
    let status = json(env.ctm().args(["db", "status", "--json"]));
    assert_eq!(
        status["schemaVersion"], 1,
        "status inspects without migrating"
    );
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let has_enhanced: bool = conn
        .prepare(
            "SELECT 1 FROM pragma_table_info('claude_sessions') WHERE name = 'efficiency_score'",
        )
        .unwrap()
        .exists([])
        .unwrap();
    assert!(
        !has_enhanced,
        "version 1 is claude_sessions before seed 000's enhancements"
    );
    drop(conn);
    let out = run(env.ctm().args(["db", "migrate"]));
    let said = String::from_utf8_lossy(&out.stdout);
    let latest = ctm_store::SCHEMA_VERSION;
    assert!(
        said.contains("applied migration 2")
            && said.contains(&format!("applied migration {latest}: ")),
        "{said}"
    );
    assert_eq!(
        json(env.ctm().args(["db", "status", "--json"]))["schemaVersion"],
        latest
    );
    let bad = env
        .ctm()
        .args(["db", "migrate", "--to", &(latest + 1).to_string()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a schema version"));
}

#[test]
fn db_check_finds_a_tampered_derived_table_and_rebuild_repairs_it() {
    let env = Env::new();
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.execute(
        "UPDATE daily_usage_summary SET output_tokens = output_tokens + 1 WHERE rowid = 1",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE claude_sessions SET total_cost = total_cost * 2 WHERE rowid = 1",
        [],
    )
    .unwrap();
    conn.execute("DELETE FROM usage_blocks WHERE rowid = 1", [])
        .unwrap();
    drop(conn);
    let out = env.ctm().args(["db", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    for table in ["daily_usage_summary", "claude_sessions", "usage_blocks"] {
        assert!(said.contains(table), "{table} not reported: {said}");
    }
    run(env.ctm().args(["db", "rebuild"]));
    run(env.ctm().args(["db", "check"]));
}

/// A run stats folders instead of listing them while they are unchanged (their
/// listings are kept in the store); a transcript added to a folder changes the folder's
/// mtime, so that folder alone is listed again and the new file is found. A run where
/// nothing changed checks the last walk's stat list instead of walking, while it holds.
#[test]
fn unchanged_folders_are_not_listed_again_and_a_new_transcript_is_found() {
    let env = Env::new();
    let root = env.path().join("root");
    copy_tree(&fixture_root(), &root);
    let projects = root.join("projects");
    // Folder times well in the past, as on a user's disk: a listing taken moments
    // after a folder changed is not trusted (file system clocks tick coarsely).
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut folders = vec![projects.clone()];
    folders.extend(
        walk(&projects)
            .iter()
            .flat_map(|f| f.ancestors().skip(1).map(|a| a.to_path_buf()))
            .filter(|a| a.starts_with(&projects)),
    );
    folders.sort();
    folders.dedup();
    for d in &folders {
        std::fs::File::open(d)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_modified(past))
            .unwrap();
    }
    let ingest = || {
        json(
            env.ctm()
                .arg("--claude-dir")
                .arg(&root)
                .args(["ingest", "--json"]),
        )
    };
    let first = ingest();
    let listed = first["foldersListed"].as_u64().unwrap();
    assert!(listed >= folders.len() as u64, "{first}");
    assert_eq!(first["foldersReused"], 0);

    let second = ingest();
    assert_eq!(second["unchanged"], true);
    assert_eq!(second["foldersListed"], 0, "{second}");
    assert_eq!(second["foldersReused"], listed);
    assert_eq!(
        second["statListHeld"], true,
        "the first run's stats all held"
    );
    assert_eq!(second["filesSeen"], first["filesSeen"]);

    // A new session in the first project folder.
    let project = std::fs::read_dir(&projects)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .min()
        .unwrap();
    let line = assistant_line(
        "new-session",
        "msg_new",
        "req_new",
        "2026-02-11T10:00:00.000Z",
        "claude-sonnet-4-5-20250929",
        10,
        20,
    );
    std::fs::write(project.join("new-session.jsonl"), line + "\n").unwrap();
    let third = ingest();
    assert_eq!(third["statListHeld"], false, "{third}");
    assert_eq!(third["filesRead"], 1, "{third}");
    assert_eq!(third["responsesAdded"], 1);
    assert_eq!(third["foldersListed"], 1, "only the folder that changed");
    assert_eq!(third["foldersReused"], listed - 1);

    // The folder just listed is within the racy window, so no stat list was recorded.
    let fourth = ingest();
    assert_eq!(fourth["unchanged"], true);
    assert_eq!(fourth["statListHeld"], false, "{fourth}");

    // Once the folder's time is old, it is listed again and trusted; a run that writes
    // then records the list, which holds until a transcript merely grows (its folder
    // untouched).
    std::fs::File::open(&project)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_modified(past))
        .unwrap();
    let fifth = ingest();
    assert_eq!(fifth["statListHeld"], false, "{fifth}");
    let append = |message: &str, minute: u32| {
        let line = assistant_line(
            "new-session",
            message,
            &format!("req_{message}"),
            &format!("2026-02-11T10:{minute:02}:00.000Z"),
            "claude-sonnet-4-5-20250929",
            1,
            2,
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(project.join("new-session.jsonl"))
            .unwrap();
        std::io::Write::write_all(&mut file, (line + "\n").as_bytes()).unwrap();
    };
    append("msg_grown1", 5);
    let sixth = ingest();
    assert_eq!(
        (
            sixth["filesRead"].as_u64(),
            sixth["responsesAdded"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let seventh = ingest();
    assert_eq!(seventh["statListHeld"], true, "{seventh}");
    append("msg_grown2", 6);
    let eighth = ingest();
    assert_eq!(eighth["statListHeld"], false, "{eighth}");
    assert_eq!(
        eighth["statListGrown"], true,
        "only a transcript grew: no walk"
    );
    assert_eq!(eighth["unchanged"], false);
    assert_eq!(eighth["filesRead"], 1);
    assert_eq!(eighth["responsesAdded"], 1);
    assert_eq!(eighth["foldersListed"], 0);
    assert_eq!(ingest()["statListHeld"], true);
}
