//! Issue 18's red-team cases on the real binary, at a scale the suite can afford: each
//! test is named for what it protects.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use super::support::*;

fn line(session: &str, msg: &str, ts: &str, output: u64) -> String {
    assistant_line(session, msg, "r", ts, "claude-opus-4-6", 10, output)
}

fn ingest(env: &Env, root: &Path) -> serde_json::Value {
    json(
        env.ctm()
            .arg("--claude-dir")
            .arg(root)
            .args(["ingest", "--json"]),
    )
}

fn responses(env: &Env) -> u64 {
    json(env.ctm().args(["--no-ingest", "daily", "--json"]))["totals"]["responses"]
        .as_u64()
        .unwrap()
}

/// A transcript line dated year -1 (or 10000) once made every session, top, blocks and
/// db command fail for good. It is now a counted skip of its own kind, and every command
/// goes on working.
#[test]
fn a_year_outside_0000_to_9999_is_a_counted_skip_and_every_command_still_works() {
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let text = [
        line("s1", "m1", "2026-01-01T00:00:00Z", 2),
        line("s1", "m2", "-000001-06-01T00:00:00Z", 2),
        line("s2", "m3", "+010000-06-01T00:00:00Z", 2),
        line("s3", "m4", "0000-01-01T00:00:00Z", 2),
    ]
    .join("\n");
    std::fs::write(dir.join("s.jsonl"), format!("{text}\n")).unwrap();
    let r = ingest(&env, &root);
    assert_eq!(r["skipped"]["timestamp_out_of_range"], 2, "{r}");
    assert_eq!(r["responsesAdded"], 2, "{r}");
    for args in [
        &["session", "--json"][..],
        &["top", "--json"],
        &["blocks", "--json"],
        &["db", "check"],
        &["daily", "--json"],
    ] {
        run(env.ctm().arg("--claude-dir").arg(&root).args(args));
    }
    let sessions = json(env.ctm().args(["--no-ingest", "session", "--json"]));
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2);
    run(env.ctm().args(["db", "prune", "--facts-older-than", "1"]));
    run(env.ctm().args(["--no-ingest", "session", "--json"]));
    run(env.ctm().args(["db", "check"]));
}

/// A transcript rewritten in place (same inode, same first 4 KiB, its tail replaced by
/// as many bytes or more) is read again from the start: nothing it held is lost, and the
/// store ends up as a fresh ingest of both versions would.
#[test]
fn a_transcript_rewritten_in_place_loses_no_response() {
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.jsonl");
    // A first line longer than the 4 KiB head fingerprint.
    let head = format!(
        r#"{{"type":"user","sessionId":"s","message":{{"content":"{}"}}}}"#,
        "h".repeat(6000)
    );
    let write_in_place = |text: &str| {
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    let v1 = format!(
        "{head}\n{}\n{}\n",
        line("s", "a1", "2026-01-01T00:00:00Z", 11),
        line("s", "a2", "2026-01-01T00:01:00Z", 12)
    );
    std::fs::write(&path, &v1).unwrap();
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let inode = ino(&path);
    ingest(&env, &root);
    assert_eq!(responses(&env), 2);

    // The same size: two other responses in the same bytes.
    let v2 = format!(
        "{head}\n{}\n{}\n",
        line("s", "b1", "2026-01-01T00:02:00Z", 13),
        line("s", "b2", "2026-01-01T00:03:00Z", 14)
    );
    assert_eq!(v1.len(), v2.len());
    write_in_place(&v2);
    let r = ingest(&env, &root);
    assert_eq!(r["filesRestarted"], 1, "{r}");
    assert_eq!(responses(&env), 4, "the rewritten responses are counted");

    // Longer, the old offset now inside a line.
    let v3 = format!(
        "{head}\n{}\n{}\n{}\n",
        line("s", "c1", "2026-01-01T00:04:00Z", 15),
        line("s", "c2", "2026-01-01T00:05:00Z", 16),
        line("s", "c3", "2026-01-01T00:06:00Z", 17)
    );
    write_in_place(&v3);
    assert_eq!(ino(&path), inode, "rewritten in place");
    let r = ingest(&env, &root);
    assert_eq!(r["filesRestarted"], 1, "{r}");
    assert_eq!(
        r["skipped"],
        serde_json::json!({}),
        "no line read mid-way: {r}"
    );
    assert_eq!(responses(&env), 7);

    // Appended to: resumed, not read again.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(f, "{}", line("s", "d1", "2026-01-01T00:07:00Z", 18)).unwrap();
    drop(f);
    let r = ingest(&env, &root);
    assert_eq!(r["filesRestarted"], 0, "{r}");
    assert!(r["bytesRead"].as_u64().unwrap() < 1000, "{r}");
    assert_eq!(responses(&env), 8);
    run(env.ctm().args(["db", "check"]));
}

/// Runs `ctm ARGS` and returns its standard output and its peak resident memory in KiB,
/// measured by GNU time. Not by wait4 here: a child spawned from this (large, busy) test
/// process is charged the test process's own peak when it execs (the kernel keeps the
/// larger of the old and new memory's high-water marks), while GNU time is a small
/// process whose child starts from its own small copy.
fn peak_rss_of(env: &Env, args: &[&str]) -> Option<(String, u64)> {
    let time = Path::new("/usr/bin/time");
    if skip_without("GNU time", time.exists(), "apt-get install time") {
        return None;
    }
    let report = env.path().join("time.out");
    let report_arg = report.to_str().unwrap();
    let out = env
        .ctm_under(&["/usr/bin/time", "-f", "%M", "-o", report_arg])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let kib = std::fs::read_to_string(&report).unwrap();
    let kib = kib.lines().last().unwrap().trim().parse().unwrap();
    Some((String::from_utf8(out.stdout).unwrap(), kib))
}

/// A file that never ends its line (the red team's was 2 GiB of NULs and took 2.1 GB of
/// memory) is skipped past the 64 MiB line cap as `line_too_long`, with bounded memory;
/// reading resynchronises at the next newline, and the long line is never read again.
#[test]
fn a_line_that_never_ends_is_skipped_in_bounded_memory() {
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.jsonl");
    let first = format!("{}\n", line("s", "m1", "2026-01-01T00:00:00Z", 3));
    std::fs::write(&path, &first).unwrap();
    // 512 MiB of NULs with no newline, sparse: no disk, the reader still reads them all.
    let big = 512 << 20;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(big)
        .unwrap();
    let root_arg = root.to_str().unwrap();
    let Some((out, peak_kib)) = peak_rss_of(&env, &["--claude-dir", root_arg, "ingest", "--json"])
    else {
        return;
    };
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["skipped"]["line_too_long"], 1, "{r}");
    assert_eq!(r["responsesAdded"], 1, "{r}");
    assert_eq!(r["bytesRead"], big, "read to the end: {r}");
    assert!(
        peak_kib < 100 << 10,
        "peak memory {} MiB for a {} MiB line",
        peak_kib >> 10,
        big >> 20
    );
    // The line ends at last, and another follows: only the new bytes are read.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    write!(
        f,
        "tail of the long line\n{}\n",
        line("s", "m2", "2026-01-01T00:01:00Z", 4)
    )
    .unwrap();
    drop(f);
    let r = ingest(&env, &root);
    assert_eq!(r["filesRestarted"], 0, "{r}");
    assert_eq!(r["responsesAdded"], 1, "{r}");
    assert_eq!(r["skipped"], serde_json::json!({}), "counted once: {r}");
    assert!(r["bytesRead"].as_u64().unwrap() < 1000, "{r}");
    assert_eq!(responses(&env), 2);
}

/// `./root/../root` and the absolute path are one root: the second spelling finds
/// nothing new. Two files whose names differ only in bytes that are not UTF-8 have a
/// cursor each, so neither is read again on every run.
#[test]
fn one_root_spelled_two_ways_and_non_utf8_names_keep_one_cursor_each() {
    let env = Env::new();
    let root = env.root("root");
    let dir = root.join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, msg) in [(&b"a\xff.jsonl"[..], "m1"), (&b"a\xfe.jsonl"[..], "m2")] {
        let p = dir.join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(
            p,
            format!("{}\n", line("s", msg, "2026-01-01T00:00:00Z", 3)),
        )
        .unwrap();
    }
    let r = ingest(&env, &root);
    assert_eq!(r["filesRead"], 2, "{r}");
    assert_eq!(r["responsesAdded"], 2, "{r}");
    let r = ingest(&env, &root);
    assert_eq!(r["filesRead"], 0, "nothing read again: {r}");
    assert_eq!(r["unchanged"], true, "{r}");

    let other_spelling = root.join("../root");
    let relative = Command::new(env!("CARGO_BIN_EXE_ctm"))
        .current_dir(env.path())
        .env_clear()
        .env("HOME", env.path().join("home"))
        .env("CTM_DB", env.db())
        .args(["--claude-dir", "./root/../root", "ingest", "--json"])
        .output()
        .unwrap();
    assert!(relative.status.success(), "{relative:?}");
    let r: serde_json::Value = serde_json::from_slice(&relative.stdout).unwrap();
    assert_eq!(r["filesRead"], 0, "{r}");
    assert_eq!(r["unchanged"], true, "{r}");
    let r = ingest(&env, &other_spelling);
    assert_eq!(r["filesRead"], 0, "{r}");
    let status = json(env.ctm().args(["db", "status", "--json"]));
    assert_eq!(status["filesTracked"], 2, "{status}");
    assert_eq!(status["filesGone"], 0, "{status}");
}
