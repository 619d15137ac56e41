use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::support::*;

/// A data root holding `copies` copies of the real fixture under different project
/// folders: several times the bytes, the same 904 responses.
fn big_root(env: &Env, copies: usize) -> PathBuf {
    let root = env.root("big");
    for i in 0..copies {
        let dest = root.join(format!("copy{i}"));
        copy_tree(&fixture_root(), &dest);
        std::fs::rename(
            dest.join("projects"),
            root.join(format!("projects/copy{i}")),
        )
        .unwrap();
        std::fs::remove_dir_all(&dest).unwrap();
    }
    root
}

fn daily(env: &Env, root: &Path) -> serde_json::Value {
    json(
        env.ctm()
            .arg("--claude-dir")
            .arg(root)
            .args(["daily", "--json", "--timezone", "UTC"]),
    )
}

#[test]
fn kill_minus_9_at_any_moment_leaves_a_store_the_next_run_completes() {
    let env = Env::new();
    let root = big_root(&env, 4);
    for delay_ms in [5u64, 40, 120, 250, 500] {
        let _ = std::fs::remove_file(env.db());
        let _ = std::fs::remove_file(env.db().with_extension("db-wal"));
        let _ = std::fs::remove_file(env.db().with_extension("db-shm"));
        let mut child = env
            .ctm()
            .arg("--claude-dir")
            .arg(&root)
            .arg("ingest")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let v = daily(&env, &root);
        assert_eq!(
            daily_totals(&v),
            FIXTURE_TOTALS,
            "after a kill at {delay_ms} ms"
        );
        run(env.ctm().args(["db", "check"]));
    }
}

#[test]
fn several_processes_at_once_neither_fail_nor_double_count() {
    let env = Env::new();
    let root = big_root(&env, 3);
    let spawn = |args: &[&str]| -> std::process::Child {
        let mut c: Command = env.ctm();
        c.arg("--claude-dir")
            .arg(&root)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let children: Vec<_> = (0..6)
        .map(|i| match i % 3 {
            0 => spawn(&["ingest", "--json"]),
            1 => spawn(&["daily", "--json", "--timezone", "UTC"]),
            _ => spawn(&["daily", "--csv"]),
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "process {i} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if i % 3 == 1 {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            // Each report reflects all data present when it started.
            assert_eq!(daily_totals(&v), FIXTURE_TOTALS, "process {i}");
        }
    }
    assert_eq!(daily_totals(&daily(&env, &root)), FIXTURE_TOTALS);
    run(env.ctm().args(["db", "check"]));
}
