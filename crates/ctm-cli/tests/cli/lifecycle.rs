//! Keeping the store: settings, backup and restore.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use ctm_testdata::{generate, GenConfig};

use super::support::*;

/// Runs and expects the one-line failure (exit 1, a runtime error) the brief asks of
/// every refusal.
fn fails(cmd: &mut std::process::Command) -> String {
    let out: Output = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("ctm: error: "), "{err}");
    err
}

fn ingest_fixture(env: &Env) {
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
}

/// Totals of the store at `db`, as it is.
fn totals_of(env: &Env, db: &Path) -> (u64, u64, u64, u64, u64) {
    daily_totals(&json(env.ctm().arg("--db").arg(db).args([
        "--no-ingest",
        "daily",
        "--json",
        "--timezone",
        "UTC",
    ])))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn config_lists_gets_and_sets_checked_values() {
    let env = Env::new();
    let list = json(env.ctm().args(["config", "list", "--json"]));
    let keys: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    for k in ["data_retention_days", "schema_version", "timezone"] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    let table = run(env.ctm().args(["config", "list"]));
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains("Description") && table.contains("number (read-only)"));

    run(env
        .ctm()
        .args(["config", "set", "data_retention_days", "30"]));
    let got = run(env.ctm().args(["config", "get", "data_retention_days"]));
    assert_eq!(String::from_utf8(got.stdout).unwrap(), "30\n");

    let db = env.db().display().to_string();
    let e = fails(
        env.ctm()
            .args(["config", "set", "data_retention_days", "-3"]),
    );
    assert!(e.contains(&db) && e.contains("whole number"), "{e}");
    let e = fails(env.ctm().args(["config", "set", "colour", "red"]));
    assert!(e.contains("known keys: data_retention_days"), "{e}");
    let e = fails(env.ctm().args(["config", "get", "colour"]));
    assert!(e.contains("known keys"), "{e}");
    for key in ["schema_version", "last_sync_time"] {
        let e = fails(env.ctm().args(["config", "set", key, "7"]));
        assert!(e.contains("read-only"), "{e}");
    }
    let e = fails(env.ctm().args(["config", "set", "timezone", "Moon/Base"]));
    assert!(e.contains("IANA"), "{e}");
}

#[test]
fn setting_the_timezone_rebuilds_the_daily_tables_in_it() {
    let env = Env::new();
    ingest_fixture(&env);
    let out = run(env.ctm().args(["config", "set", "timezone", "Asia/Tokyo"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Rebuilt"));
    let status = json(env.ctm().args(["db", "status", "--json"]));
    assert_eq!(status["timezone"], "Asia/Tokyo");
    run(env.ctm().args(["db", "check"]));
    // The stored days are Tokyo's: the same as a Tokyo report computed from the facts.
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let stored: Vec<String> = conn
        .prepare("SELECT date FROM daily_aggregates ORDER BY date")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let tokyo =
        json(
            env.ctm()
                .args(["--no-ingest", "daily", "--json", "--timezone", "Asia/Tokyo"]),
        );
    let days: Vec<String> = tokyo["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, days);
}

#[test]
fn backup_while_an_ingest_runs_is_a_whole_store_from_before_or_after() {
    let env = Env::new();
    let gen = env.path().join("gen");
    generate(&gen, &GenConfig::with_bytes(7, 20_000_000)).unwrap();
    ingest_fixture(&env);
    let before = totals_of(&env, &env.db());

    let mut child = env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("--claude-dir")
        .arg(&gen)
        .arg("ingest")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut backups = Vec::new();
    loop {
        let running = child.try_wait().unwrap().is_none();
        let file = env.path().join(format!("backup-{}.db", backups.len()));
        run(env.ctm().args(["db", "backup"]).arg(&file));
        backups.push(file);
        if !running {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
    let after = totals_of(&env, &env.db());
    assert_ne!(before, after);
    for file in &backups {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
        run(env.ctm().arg("--db").arg(file).args(["db", "check"]));
        let t = totals_of(&env, file);
        assert!(t == before || t == after, "{}: {t:?}", file.display());
    }
    assert_eq!(totals_of(&env, backups.last().unwrap()), after);

    // An existing file is replaced only with --force.
    let first = &backups[0];
    let e = fails(env.ctm().args(["db", "backup"]).arg(first));
    assert!(
        e.contains(&first.display().to_string()) && e.contains("--force"),
        "{e}"
    );
    run(env.ctm().args(["db", "backup", "--force"]).arg(first));
    assert_eq!(totals_of(&env, first), after);
}

#[test]
fn restore_brings_back_a_deleted_store_and_keeps_a_replaced_one() {
    let env = Env::new();
    ingest_fixture(&env);
    let backup = env.path().join("keep.db");
    run(env.ctm().args(["db", "backup"]).arg(&backup));

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.db().display()));
    }
    run(env.ctm().args(["db", "restore"]).arg(&backup));
    assert_eq!(totals_of(&env, &env.db()), FIXTURE_TOTALS);
    run(env.ctm().args(["db", "check"]));

    // Over an existing (here: empty) store, which is kept beside it.
    let empty = Env::new();
    run(empty.ctm().args(["db", "migrate"]));
    let out = run(empty.ctm().args(["db", "restore"]).arg(&backup));
    assert!(String::from_utf8_lossy(&out.stdout).contains("before-restore-"));
    assert_eq!(totals_of(&empty, &empty.db()), FIXTURE_TOTALS);
    let kept: Vec<PathBuf> = files_in(empty.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".before-restore-"))
        .collect();
    // The store and its side files, moved together.
    assert!(kept[0].to_string_lossy().ends_with('Z'), "{kept:?}");
    let stem = kept[0].to_string_lossy().into_owned();
    assert!(
        kept.iter().all(|p| p.to_string_lossy().starts_with(&stem)),
        "{kept:?}"
    );
    let old = kept[0].clone();
    let responses: i64 = rusqlite::Connection::open(&old)
        .unwrap()
        .query_row("SELECT count(*) FROM responses", [], |r| r.get(0))
        .unwrap();
    assert_eq!(responses, 0, "the replaced store is the old one");
    let mode = std::fs::metadata(empty.db()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // An older store is migrated on the way in.
    let older = Env::new();
    run(older.ctm().args(["db", "migrate", "--to", "2"]));
    let old_copy = env.path().join("v2.db");
    std::fs::copy(older.db(), &old_copy).unwrap();
    run(env.ctm().args(["db", "restore"]).arg(&old_copy));
    let status = json(env.ctm().args(["db", "status", "--json"]));
    assert_eq!(status["schemaVersion"], status["latestSchemaVersion"]);
    run(env.ctm().args(["db", "check"]));
}

#[test]
fn restore_refuses_what_is_not_a_usable_store_and_changes_nothing() {
    let env = Env::new();
    ingest_fixture(&env);
    let dir = env.path().join("candidates");
    std::fs::create_dir(&dir).unwrap();
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 10_000]).unwrap();
    let empty = dir.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let foreign = dir.join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('hi');")
        .unwrap();
    let newer = dir.join("newer.db");
    run(env.ctm().args(["db", "backup"]).arg(&newer));
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute(
            "UPDATE system_config SET value = '999' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let missing = dir.join("missing.db");
    // The first half of a real backup: its pages point past the end of the file.
    let truncated = dir.join("truncated.db");
    let whole = std::fs::read(&newer).unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();

    let store_before = std::fs::read(env.db()).unwrap();
    let listing = files_in(env.path());
    for (file, says) in [
        (&garbage, "not an SQLite database"),
        (&empty, "the file is empty"),
        (&foreign, "not a ctm store"),
        (&newer, "newer than this ctm"),
        (&missing, "No such file"),
        (&truncated, "malformed"),
    ] {
        let e = fails(env.ctm().args(["db", "restore"]).arg(file));
        // The message names the file being restored, not the store or --db.
        assert!(
            e.starts_with(&format!("ctm: error: cannot restore {}: ", file.display())),
            "{e}"
        );
        assert!(e.contains(says) && !e.contains("--db"), "{e}");
        assert_eq!(files_in(env.path()), listing, "after {}", file.display());
        assert!(std::fs::read(env.db()).unwrap() == store_before);
    }
    assert_eq!(totals_of(&env, &env.db()), FIXTURE_TOTALS);
}

fn export_history(env: &Env) -> Vec<serde_json::Value> {
    json(env.ctm().args(["export", "--history", "--json"]))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn exports_in_both_formats_and_levels_record_their_real_size() {
    let env = Env::new();
    ingest_fixture(&env);
    let out = env.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut expected = Vec::new();
    for (format, level, rows) in [
        ("csv", "response", 904),
        ("json", "response", 904),
        ("csv", "daily", 3),
        ("json", "session", 0),
    ] {
        let file = out.join(format!("{level}.{format}"));
        run(env
            .ctm()
            .args([
                "--no-ingest",
                "export",
                "--format",
                format,
                "--level",
                level,
                "--timezone",
                "UTC",
                "-o",
            ])
            .arg(&file));
        let text = std::fs::read_to_string(&file).unwrap();
        let count = if format == "csv" {
            text.lines().count() - 1
        } else {
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        };
        if rows > 0 {
            assert_eq!(count, rows, "{level}.{format}");
        }
        if level == "response" && format == "csv" {
            assert!(text.starts_with("time,"), "{}", &text[..80]);
            assert!(!text.contains("\"text\""), "no transcript text");
        }
        expected.push((file, count as u64, text.len() as u64));
    }
    // With a range.
    let ranged = out.join("ranged.json");
    run(env
        .ctm()
        .args([
            "--no-ingest",
            "export",
            "--format",
            "json",
            "--since",
            "2026-02-11",
            "--until",
            "2026-02-11",
            "-o",
        ])
        .arg(&ranged));
    let history = export_history(&env);
    assert_eq!(history.len(), expected.len() + 1);
    for (h, (file, count, size)) in history.iter().zip(&expected) {
        assert_eq!(h["status"], "completed");
        assert_eq!(h["filePath"], file.display().to_string().as_str());
        assert_eq!(h["recordCount"], *count);
        assert_eq!(h["fileSize"], *size);
        assert_eq!(h["fileSize"], std::fs::metadata(file).unwrap().len());
    }
    let last = history.last().unwrap();
    assert_eq!(last["dateRangeStart"], "2026-02-11");
    assert_eq!(last["dateRangeEnd"], "2026-02-11");
    assert_eq!(last["fileSize"], std::fs::metadata(&ranged).unwrap().len());
    let table = String::from_utf8(
        run(env
            .ctm()
            .env("COLUMNS", "400")
            .args(["export", "--history"]))
        .stdout,
    )
    .unwrap();
    assert!(table.contains("completed") && table.contains("ranged.json"));
}

#[test]
fn failed_exports_are_refused_in_one_line_and_recorded() {
    let env = Env::new();
    ingest_fixture(&env);
    let existing = env.path().join("existing.csv");
    std::fs::write(&existing, "keep me").unwrap();
    let missing = env.path().join("no/such/folder/out.csv");
    let locked = env.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    // A folder where the destination is a folder: the temporary file is written in full,
    // then the rename fails, so this checks the clean-up after a late failure.
    let folders = env.path().join("folders");
    let a_folder = folders.join("taken.csv");
    std::fs::create_dir_all(&a_folder).unwrap();
    let mut cases: Vec<(PathBuf, &[&str], &str)> = vec![
        (existing.clone(), &[], "--force"),
        (missing, &[], "exists and is writable"),
        // Its "folder" is a file (ENOTDIR): a write failure even for root.
        (existing.join("out.csv"), &[], "exists and is writable"),
        (a_folder.clone(), &["--force"], "Is a directory"),
    ];
    // Root writes through a read-only mode, so that case only means something for a user;
    // sysfs refuses new files to root too.
    if unsafe { libc::geteuid() } != 0 {
        cases.push((locked.join("out.csv"), &[], "exists and is writable"));
    }
    if Path::new("/sys/kernel").is_dir() {
        cases.push((
            PathBuf::from("/sys/ctm-export-test.csv"),
            &[],
            "exists and is writable",
        ));
    }
    let folders_listing = files_in(&folders);
    let root_listing = files_in(env.path());
    for (file, extra, says) in &cases {
        let e = fails(
            env.ctm()
                .args(["--no-ingest", "export", "--format", "csv"])
                .args(*extra)
                .arg("-o")
                .arg(file),
        );
        assert!(
            e.contains(&file.display().to_string()) && e.contains(says),
            "{e}"
        );
    }
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    assert!(files_in(&locked).is_empty(), "no temporary file left");
    assert_eq!(
        files_in(&folders),
        folders_listing,
        "no temporary file left"
    );
    assert!(files_in(&a_folder).is_empty());
    assert_eq!(files_in(env.path()), root_listing);
    assert!(!Path::new("/sys/ctm-export-test.csv").exists());
    let history = export_history(&env);
    assert_eq!(history.len(), cases.len());
    for (h, (file, _, says)) in history.iter().zip(&cases) {
        assert_eq!(h["status"], "failed");
        assert_eq!(h["filePath"], file.display().to_string().as_str());
        assert_eq!(h["recordCount"], 0);
        assert!(h["fileSize"].is_null(), "{h}");
        let msg = h["errorMessage"].as_str().unwrap();
        assert!(
            !msg.contains('\n') && msg.contains(&file.display().to_string()) && msg.contains(says),
            "{msg}"
        );
    }
    // --force replaces it, and that is recorded too.
    run(env
        .ctm()
        .args(["--no-ingest", "export", "--format", "csv", "--force", "-o"])
        .arg(&existing));
    let last = export_history(&env).pop().unwrap();
    assert_eq!(last["status"], "completed");
    assert_eq!(
        last["fileSize"],
        std::fs::metadata(&existing).unwrap().len()
    );
}

#[test]
fn prune_drops_old_snapshots_and_exports_and_a_dry_run_drops_nothing() {
    let env = Env::new();
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.execute_batch(
        "INSERT INTO stats_snapshots (captured_at) VALUES (datetime('now', '-120 days')), (datetime('now', '-1 days'));
         INSERT INTO model_usage_logs (snapshot_id, model_name) SELECT id, 'claude-opus-4-6' FROM stats_snapshots;
         INSERT INTO export_history (exported_at, format) VALUES (datetime('now', '-45 days'), 'csv');",
    )
    .unwrap();
    drop(conn);
    let dry = json(env.ctm().args(["db", "prune", "--dry-run", "--json"]));
    assert_eq!(dry["pruned"]["snapshots"], 1);
    assert_eq!(dry["pruned"]["exportHistory"], 1);
    let count = |table: &str| -> i64 {
        rusqlite::Connection::open(env.db())
            .unwrap()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        (count("stats_snapshots"), count("export_history")),
        (2, 1),
        "a dry run drops nothing"
    );
    let out = run(env.ctm().args(["db", "prune"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Dropped 1 stats-cache snapshots"));
    assert_eq!(
        (
            count("stats_snapshots"),
            count("model_usage_logs"),
            count("export_history")
        ),
        (1, 1, 0)
    );
    assert_eq!(
        daily_totals(&json(env.ctm().args(["--no-ingest", "daily", "--json"]))),
        FIXTURE_TOTALS,
        "facts are kept"
    );
    run(env.ctm().args(["db", "check"]));
}

#[test]
fn a_store_locked_by_another_process_is_refused_in_one_line_and_kept() {
    let env = Env::new();
    ingest_fixture(&env);
    let backup = env.path().join("backup.db");
    run(env.ctm().args(["db", "backup"]).arg(&backup));
    let root = env.root("more");
    std::fs::create_dir_all(root.join("projects/p")).unwrap();
    std::fs::write(
        root.join("projects/p/s-locked.jsonl"),
        assistant_line(
            "s-locked",
            "msg_locked",
            "req_locked",
            "2026-02-12T12:00:00.000Z",
            "claude-opus-4-6",
            3,
            5,
        ) + "\n",
    )
    .unwrap();
    let retention = || {
        String::from_utf8(run(env.ctm().args(["config", "get", "data_retention_days"])).stdout)
            .unwrap()
    };
    let retention_before = retention();

    // Another process (this test) holds the store's write lock.
    let holder = rusqlite::Connection::open(env.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let listing = files_in(env.path());
    for args in [
        vec!["--claude-dir", root.to_str().unwrap(), "ingest"],
        vec!["config", "set", "data_retention_days", "7"],
        vec!["db", "restore", backup.to_str().unwrap()],
    ] {
        let e = fails(env.ctm().env("CTM_BUSY_TIMEOUT_MS", "200").args(&args));
        assert!(
            e.contains("locked by another process") && e.contains(&env.db().display().to_string()),
            "{args:?}: {e}"
        );
        assert_eq!(files_in(env.path()), listing, "{args:?} left files behind");
    }
    // The flag does the same as the variable.
    let e = fails(env.ctm().args([
        "--busy-timeout",
        "100",
        "config",
        "set",
        "data_retention_days",
        "7",
    ]));
    assert!(e.contains("waited 100 ms"), "{e}");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);

    // Nothing was lost or half done; once free, the same commands work.
    assert_eq!(retention(), retention_before);
    assert_eq!(totals_of(&env, &env.db()), FIXTURE_TOTALS);
    run(env.ctm().args(["db", "check"]));
    let r = json(
        env.ctm()
            .args(["--claude-dir"])
            .arg(&root)
            .args(["ingest", "--json"]),
    );
    assert_eq!(r["responsesAdded"], 1);
    run(env
        .ctm()
        .args(["config", "set", "data_retention_days", "7"]));
    assert_eq!(retention().trim(), "7");
}

#[test]
fn a_hand_filled_version_1_session_row_survives_the_upgrade() {
    let env = Env::new();
    run(env.ctm().args(["db", "migrate", "--to", "1"]));
    let v1_columns =
        "session_id, session_start, session_end, input_tokens, output_tokens, total_tokens, \
                      total_cost, created_at, updated_at";
    let read = |conn: &rusqlite::Connection| -> Vec<rusqlite::types::Value> {
        conn.query_row(
            &format!("SELECT {v1_columns} FROM claude_sessions WHERE session_id = 'by-hand'"),
            [],
            |r| (0..9).map(|i| r.get(i)).collect(),
        )
        .unwrap()
    };
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.execute(
        &format!(
            "INSERT INTO claude_sessions ({v1_columns}) VALUES ('by-hand', '2025-06-01 10:00:00', \
             '2025-06-01 11:30:00', 1234, 5678, 6912, 0.42, '2025-06-01 11:31:00', '2025-06-01 11:32:00')"
        ),
        [],
    )
    .unwrap();
    let before = read(&conn);
    drop(conn);

    // Any command migrates; this one also ingests the fixture into the upgraded store.
    ingest_fixture(&env);
    let status = json(env.ctm().args(["db", "status", "--json"]));
    assert_eq!(status["schemaVersion"], status["latestSchemaVersion"]);
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    assert_eq!(read(&conn), before, "the row is unchanged");
    let (model, messages): (String, i64) = conn
        .query_row(
            "SELECT model_name, message_count FROM claude_sessions WHERE session_id = 'by-hand'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (model.as_str(), messages),
        ("claude-sonnet-4-20250514", 0),
        "seed 000's defaults"
    );
    assert_eq!(totals_of(&env, &env.db()), FIXTURE_TOTALS);
    // The session report reads claude_sessions: the row has no responses behind it, so
    // it is neither a session there nor part of the totals.
    let sessions = json(env.ctm().args(["--no-ingest", "session", "--json"]));
    assert!(!sessions.to_string().contains("by-hand"));
    assert_eq!(daily_totals(&sessions), FIXTURE_TOTALS);
    let top = json(
        env.ctm()
            .args(["--no-ingest", "top", "--limit", "1000", "--json"]),
    );
    assert!(!top["sessions"].to_string().contains("by-hand"));
    assert_eq!(
        top["sessions"].as_array().unwrap().len(),
        sessions["sessions"].as_array().unwrap().len()
    );
    run(env.ctm().args(["db", "check"]));
    run(env.ctm().args(["db", "rebuild"]));
    assert_eq!(read(&conn), before, "a rebuild leaves it alone too");
}
