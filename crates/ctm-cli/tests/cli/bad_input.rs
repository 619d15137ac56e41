use std::io::Write;

use super::support::*;

#[test]
fn bad_lines_are_counted_by_reason_and_never_counted_as_usage() {
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let good = assistant_line(
        "s",
        "m1",
        "r1",
        "2026-03-01T10:00:00Z",
        "claude-opus-4-6",
        7,
        3,
    );
    let mut bytes: Vec<u8> = Vec::new();
    bytes.extend_from_slice(b"\xEF\xBB\xBF"); // a byte-order mark
    bytes.extend_from_slice(format!("{good}\r\n").as_bytes()); // CRLF
    for bad in [
        "not json at all".to_owned(),
        "null".into(),
        "[1,2,3]".into(),
        "42".into(),
        r#"{"type":"assistant","message":{"usage":{"input_tokens":1"#.into(),
        good.replace(r#""output_tokens":3"#, r#""output_tokens":-4"#).replace("m1", "m2"),
        good.replace(r#""output_tokens":3"#, r#""output_tokens":1000000000000"#).replace("m1", "m3"),
        good.replace(r#""output_tokens":3"#, r#""output_tokens":"3""#).replace("m1", "m4"),
        good.replace("2026-03-01T10:00:00Z", "not a time").replace("m1", "m5"),
        good.replace(r#","timestamp":"2026-03-01T10:00:00Z""#, "").replace("m1", "m6"),
        r#"{"type":"assistant","sessionId":null,"timestamp":"2026-03-01T11:00:00Z","message":{"id":"m7","model":null,"usage":{"input_tokens":null,"output_tokens":2}}}"#.into(),
        String::new(),
    ] {
        bytes.extend_from_slice(bad.as_bytes());
        bytes.push(b'\n');
    }
    let mut utf8 = good.replace("m1", "m8").into_bytes();
    let at = utf8.len() - 30;
    utf8[at] = 0xFF;
    bytes.extend_from_slice(&utf8);
    bytes.push(b'\n');
    std::fs::write(dir.join("s.jsonl"), &bytes).unwrap();
    std::fs::write(dir.join("empty.jsonl"), b"").unwrap();
    // A 30 MB single line.
    let mut big = std::fs::File::create(dir.join("big.jsonl")).unwrap();
    write!(
        big,
        r#"{{"type":"user","message":{{"content":"{}"}}}}"#,
        "y".repeat(30 << 20)
    )
    .unwrap();
    writeln!(big).unwrap();
    writeln!(
        big,
        "{}",
        assistant_line(
            "s",
            "m9",
            "r9",
            "2026-03-01T12:00:00Z",
            "claude-opus-4-6",
            1,
            1
        )
    )
    .unwrap();
    drop(big);

    let r = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["ingest", "--json"]),
    );
    assert_eq!(
        r["skipped"],
        serde_json::json!({"not_json": 2, "not_object": 3, "invalid_usage": 3, "bad_timestamp": 2, "invalid_utf8": 1}),
        "{r}"
    );
    // m1, m7 (null fields are zero) and m9.
    assert_eq!(r["responsesAdded"], 3);
    let v = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["daily", "--json"]),
    );
    assert_eq!(v["totals"]["inputTokens"], 8);
    assert_eq!(v["totals"]["outputTokens"], 6);
}

#[test]
fn symlink_loops_and_unreadable_entries_do_not_stop_a_run() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("s.jsonl"),
        assistant_line(
            "s",
            "m1",
            "r1",
            "2026-03-01T10:00:00Z",
            "claude-opus-4-6",
            1,
            1,
        ) + "\n",
    )
    .unwrap();
    symlink(root.join("projects"), dir.join("loop")).unwrap();
    symlink("self.jsonl", dir.join("self.jsonl")).unwrap();
    let locked = root.join("projects/locked");
    std::fs::create_dir_all(&locked).unwrap();
    std::fs::write(locked.join("x.jsonl"), "{}\n").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let r = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["ingest", "--json"]),
    );
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(r["responsesAdded"], 1);
    assert!(r["symlinkLoops"].as_u64().unwrap() >= 1, "{r}");
    // Root reads anything, so the permission error only shows for other users.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert_eq!(r["problems"].as_array().unwrap().len(), 1, "{r}");
    }
}

#[test]
fn a_store_that_is_not_ours_is_refused_in_one_line() {
    let env = Env::new();
    std::fs::write(env.db(), vec![b'z'; 10_000]).unwrap();
    let out = env.ctm().arg("daily").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a runtime error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("is not an SQLite database") && err.contains(&env.db().display().to_string()),
        "{err}"
    );
    assert_eq!(
        std::fs::read(env.db()).unwrap(),
        vec![b'z'; 10_000],
        "nothing was written to it"
    );
}

#[test]
fn a_store_from_a_newer_ctm_is_refused_in_one_line() {
    let env = Env::new();
    run(env.ctm().arg("ingest"));
    rusqlite::Connection::open(env.db())
        .unwrap()
        .execute(
            "UPDATE system_config SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let out = env.ctm().arg("daily").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a runtime error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("newer than this ctm") && err.contains("upgrade ctm"),
        "{err}"
    );
}
