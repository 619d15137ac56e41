//! A store that cannot be used says so in one line naming the file and what to do; exit
//! codes say whether the command line (2) or the run (1) failed; a store that is not the
//! user's own is refused; a killed restore leaves nothing behind.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use super::support::*;

/// Runs and returns (exit code, the one stderr line), checking there is exactly one.
fn one_error_line(cmd: &mut Command) -> (i32, String) {
    let out: Output = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("ctm: error: "), "{err}");
    assert!(!err.contains("Error code"), "no raw SQLite text: {err}");
    (out.status.code().unwrap(), err)
}

fn ingest_fixture(env: &Env) {
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
}

/// Whether this machine lets a test run a command in its own mount namespace (to mount
/// a tiny or read-only file system), as root or in a user namespace.
fn mount_namespaces_work() -> bool {
    let works = Command::new("unshare")
        .args(["-rm", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    !skip_without(
        "unshare -rm (a mount namespace)",
        works,
        "allow unprivileged user namespaces or run as root",
    )
}

/// `ctm ARGS` in a mount namespace where `script` (sh) ran first.
fn ctm_after_mounting(env: &Env, script: &str) -> Command {
    let sh = format!("{script} && exec \"$0\" \"$@\"");
    env.ctm_under(&["unshare", "-rm", "sh", "-c", &sh])
}

#[test]
fn usage_errors_exit_2_and_runtime_errors_exit_1_in_one_line() {
    let env = Env::new();
    for args in [
        &["daily", "--since", "yesterday"][..],
        &["daily", "--timezone", "Mars/Olympus"],
        &["daily", "--since", "2026-03-02", "--until", "2026-03-01"],
        &["db", "migrate", "--to", "9999"],
        &["live", "--once", "--timezone", "Nowhere/Nope"],
        &["serve", "--bind", "0.0.0.0:0"],
    ] {
        let (code, err) = one_error_line(env.ctm().arg("--no-ingest").args(args));
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    // clap's own usage errors exit 2 as well.
    let out = env
        .ctm()
        .args(["daily", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    for (args, says) in [
        (
            &["db", "restore", "/nonexistent/backup.db"][..],
            "cannot restore",
        ),
        (
            &["--no-ingest", "db", "backup", "/nonexistent/b.db"],
            "to back up",
        ),
        (&["session", "no-such-session"], "no session starts with"),
    ] {
        let (code, err) =
            one_error_line(env.ctm().arg("--claude-dir").arg(fixture_root()).args(args));
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(says), "{err}");
    }
}

/// The red team's store errors printed SQLite's text three times ("unable to open
/// database file: ...: unable to open database file: ... Error code 14"). Each is one
/// line naming the file and the remedy.
#[test]
fn store_errors_are_one_line_naming_the_file_and_the_remedy() {
    let env = Env::new();
    ingest_fixture(&env);
    let folder = env.path().join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    let (code, err) = one_error_line(env.ctm().arg("--db").arg(&folder).arg("daily"));
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{} is a folder", folder.display())) && err.contains("--db"),
        "{err}"
    );

    // The first half of a store: damaged beyond what a rebuild can mend.
    let truncated = env.path().join("truncated.db");
    let whole = std::fs::read(env.db()).unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    std::fs::set_permissions(&truncated, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, err) = one_error_line(
        env.ctm()
            .arg("--db")
            .arg(&truncated)
            .args(["--no-ingest", "daily"]),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{} is damaged", truncated.display()))
            && err.contains("ctm db restore"),
        "{err}"
    );
}

/// A garbage page in `file_cursors` (the facts' neighbour, which no rebuild recomputes):
/// `ctm db check` reports the damage and advises a restore, never a rebuild.
#[test]
fn db_check_advises_restore_for_damage_a_rebuild_cannot_repair() {
    let env = Env::new();
    ingest_fixture(&env);
    let (root_page, page_size): (u64, u64) = {
        let c = rusqlite::Connection::open(env.db()).unwrap();
        let root = c
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'file_cursors'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let size = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        (root, size)
    };
    let mut bytes = std::fs::read(env.db()).unwrap();
    let at = ((root_page - 1) * page_size) as usize;
    for (i, b) in bytes[at..at + page_size as usize].iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    std::fs::write(env.db(), &bytes).unwrap();
    let out = env
        .ctm()
        .args(["--no-ingest", "db", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("integrity check"), "{said}");
    let last = said.trim_end().lines().last().unwrap();
    assert!(
        last.contains("ctm db restore") && last.contains("cannot repair"),
        "{said}"
    );
    // The reports that do not read the damaged page still answer.
    run(env.ctm().args(["--no-ingest", "daily", "--json"]));
}

/// A full disk, a read-only disk and a folder SQLite cannot create its side files in:
/// one line each; `--no-ingest` still answers from the store as it is.
#[test]
fn a_store_that_cannot_be_written_says_why_and_still_answers_no_ingest_reports() {
    if !mount_namespaces_work() {
        return;
    }
    let env = Env::new();
    // A full disk: a 600 KiB file system cannot hold the fixture's store.
    let full = env.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let db = full.join("ctm.db");
    let (code, err) = one_error_line(
        ctm_after_mounting(
            &env,
            &format!("mount -t tmpfs -o size=600k tmpfs {}", full.display()),
        )
        .arg("--db")
        .arg(&db)
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("daily"),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("the disk holding {} is full", db.display()))
            && err.contains("free some space"),
        "{err}"
    );

    // A store whose folder is mounted read-only, with new data to write.
    let root = env.root("root");
    std::fs::create_dir_all(root.join("projects/p")).unwrap();
    let line = |msg: &str| {
        assistant_line(
            "s",
            msg,
            "r",
            "2026-03-01T10:00:00Z",
            "claude-opus-4-6",
            5,
            7,
        )
    };
    std::fs::write(root.join("projects/p/a.jsonl"), format!("{}\n", line("m1"))).unwrap();
    let kept = env.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    let db = kept.join("ctm.db");
    run(env
        .ctm()
        .arg("--db")
        .arg(&db)
        .arg("--claude-dir")
        .arg(&root)
        .arg("ingest"));
    std::fs::write(
        root.join("projects/p/a.jsonl"),
        format!("{}\n{}\n", line("m1"), line("m2")),
    )
    .unwrap();
    let read_only = format!("mount --bind -o ro {0} {0}", kept.display());
    let (code, err) = one_error_line(
        ctm_after_mounting(&env, &read_only)
            .arg("--db")
            .arg(&db)
            .arg("--claude-dir")
            .arg(&root)
            .arg("daily"),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{} cannot be written", db.display())) && err.contains("--no-ingest"),
        "{err}"
    );
    let out = run(ctm_after_mounting(&env, &read_only)
        .arg("--db")
        .arg(&db)
        .args(["--no-ingest", "daily", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["responses"], 1, "the store as it is");
    assert!(!kept.join("ctm.db-wal").exists() && !kept.join("ctm.db-shm").exists());
}

/// What the red team found: ctm adopted a 0666 store another user had created in a
/// shared folder. The default store must be the user's own and private; a store named
/// with --db may be anyone's, but never writable by others.
#[test]
fn a_store_that_is_not_private_is_refused_unless_named_and_not_writable_by_others() {
    let env = Env::new();
    let default_db = env.path().join("home/.local/share/ctm/ctm.db");
    let at_default = || {
        let mut c = env.ctm();
        c.env_remove("CTM_DB")
            .args(["--no-ingest", "daily", "--json"]);
        c
    };
    run(env.ctm().env_remove("CTM_DB").arg("ingest"));
    run(&mut at_default());
    assert!(default_db.exists());
    let chmod = |mode| {
        std::fs::set_permissions(&default_db, std::fs::Permissions::from_mode(mode)).unwrap()
    };

    chmod(0o644);
    let (code, err) = one_error_line(&mut at_default());
    assert_eq!(code, 1);
    assert!(
        err.contains("can be read by other users (mode 0644)") && err.contains("chmod 600"),
        "{err}"
    );
    let named = || {
        let mut c = env.ctm();
        c.env_remove("CTM_DB").arg("--db").arg(&default_db).args([
            "--no-ingest",
            "daily",
            "--json",
        ]);
        c
    };
    run(&mut named());

    chmod(0o666);
    for mut cmd in [at_default(), named()] {
        let (code, err) = one_error_line(&mut cmd);
        assert_eq!(code, 1);
        assert!(
            err.contains("can be written by other users (mode 0666)"),
            "{err}"
        );
    }
    chmod(0o600);
    run(&mut at_default());

    // Another user's store (only root can make one here).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&default_db, Some(65534), Some(65534)).unwrap();
        let (code, err) = one_error_line(&mut at_default());
        assert_eq!(code, 1);
        assert!(err.contains("belongs to another user (uid 65534)"), "{err}");
        chmod(0o644);
        run(&mut named());
    }
}

/// `ctm db restore` killed mid-way left `.ctm.db.restore-PID-N` files (and SQLite's
/// journal beside them) for good. The next run removes what no live process holds.
#[test]
fn a_restore_killed_midway_leaves_no_temporary_files_after_the_next_run() {
    let env = Env::new();
    ingest_fixture(&env);
    let backup = env.path().join("backup.db");
    run(env.ctm().args(["db", "backup"]).arg(&backup));
    // Kill restores at several instants; whatever each left must be gone after the next run.
    for delay_ms in [0, 2, 5, 10, 20, 40] {
        let mut child = env
            .ctm()
            .args(["db", "restore"])
            .arg(&backup)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    // What a kill between the copy and the rename leaves, for certain.
    let stale = env.path().join(".ctm.db.restore-4194304-0");
    std::fs::copy(&backup, &stale).unwrap();
    std::fs::write(env.path().join(".ctm.db.restore-4194304-0-journal"), b"x").unwrap();
    run(env.ctm().args(["--no-ingest", "db", "status"]));
    let left: Vec<String> = std::fs::read_dir(env.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".restore-"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
    run(env.ctm().args(["db", "restore"]).arg(&backup));
    run(env.ctm().args(["db", "check"]));
    assert!(Path::new(&env.db()).exists());
}
