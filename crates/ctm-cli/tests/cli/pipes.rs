//! Every command whose reader goes away (`ctm hourly | true`, `ctm session --csv | head
//! -2`) ends quietly with exit code 0: no panic, no error line. One output path for all.

use std::io::Read;
use std::process::{Output, Stdio};

use super::support::*;

/// Runs `ctm ARGS` with stdout a pipe whose reader is gone before anything is written.
fn reader_gone(env: &Env, args: &[&str]) -> Output {
    let mut child = env
        .ctm()
        .env("CTM_NOW", "2026-02-12T21:30:00Z")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// Runs `ctm ARGS`, reads the first `keep` bytes of its output, then goes away.
fn reader_leaves_after(env: &Env, args: &[&str], keep: usize) -> (Output, usize) {
    let mut child = env
        .ctm()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = vec![0u8; keep];
    let mut stdout = child.stdout.take().unwrap();
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    (child.wait_with_output().unwrap(), keep)
}

fn assert_quiet(args: &[&str], out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "ctm {args:?} with its reader gone: {:?}\n{err}",
        out.status
    );
    assert!(
        !err.contains("panicked") && !err.contains("error") && !err.contains("Broken pipe"),
        "ctm {args:?} said something with its reader gone:\n{err}"
    );
}

/// Every report in every format, and every other command that prints.
#[test]
fn every_command_ends_quietly_when_its_reader_goes_away() {
    let env = Env::new();
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
    let reports: [&[&str]; 12] = [
        &["daily"],
        &["weekly"],
        &["monthly"],
        &["session"],
        &["session", "d6e0bada"],
        &["project"],
        &["models"],
        &["hourly"],
        &["top"],
        &["trend"],
        &["cache"],
        &["blocks"],
    ];
    let mut commands: Vec<Vec<&str>> = Vec::new();
    for report in reports {
        for format in [&[][..], &["--json"], &["--csv"], &["-j"]] {
            let mut c = vec!["--no-ingest"];
            c.extend(report);
            c.extend(format);
            commands.push(c);
        }
    }
    let others: [&[&str]; 26] = [
        &[],
        &["daily", "--breakdown"],
        &["blocks", "--active", "--token-limit", "max"],
        &["--no-ingest", "pricing"],
        &["--no-ingest", "pricing", "--json"],
        &["config", "list"],
        &["config", "list", "--json"],
        &["config", "get", "timezone"],
        &["db", "status"],
        &["db", "status", "--json"],
        &["db", "check"],
        &["--no-ingest", "stats"],
        &["--no-ingest", "live", "--once"],
        &["--no-ingest", "live", "--json"],
        &["ingest"],
        &["ingest", "--json"],
        &["--no-ingest", "export", "--format", "csv", "-o", "-"],
        &["--no-ingest", "export", "--format", "json", "-o", "-"],
        &["export", "--history"],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["man"],
        &["statusline", "--install"],
        &["--help"],
        &["daily", "--help"],
        &["--version"],
    ];
    commands.extend(others.iter().map(|c| c.to_vec()));
    for args in &commands {
        let out = reader_gone(&env, args);
        assert_quiet(args, &out);
    }
}

/// The reader takes the first lines and leaves while ctm is still writing (the output is
/// larger than a pipe holds): `ctm session --csv | head -2`, `ctm export -o - | head`.
#[test]
fn a_reader_that_leaves_midway_ends_the_command_quietly() {
    let env = Env::new();
    let root = env.path().join("root");
    ctm_testdata::generate(&root, &ctm_testdata::GenConfig::with_bytes(5, 20_000_000)).unwrap();
    run(env.ctm().arg("--claude-dir").arg(&root).arg("ingest"));
    for args in [
        &["--no-ingest", "export", "--format", "json", "-o", "-"][..],
        &["--no-ingest", "export", "--format", "csv", "-o", "-"],
        &["--no-ingest", "blocks", "--json"],
    ] {
        let full = run(env.ctm().args(args)).stdout.len();
        assert!(
            full > 96 << 10,
            "{args:?}: {full} bytes fit a pipe; the test needs more"
        );
        let (out, _) = reader_leaves_after(&env, args, 200);
        assert_quiet(args, &out);
    }
}
