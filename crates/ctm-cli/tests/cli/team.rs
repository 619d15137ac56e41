//! `ctm team` against a real PostgreSQL (`CTM_TEST_PG_URL`, else a throwaway cluster):
//! team reports equal to the local reports, people and shared dotfiles, re-pushes, kill -9
//! at random instants, the server stopped mid-push, a newer schema, a read-only role, TLS,
//! passwords, the automatic push, forget and hashed paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ctm_test_postgres::{shared, skip, Cluster, ClusterOptions, Database};
use ctm_testdata::{generate, Expected, GenConfig};
use serde_json::Value;

use super::support::*;

/// A fresh database on the shared server, or `None` (the test is skipped, loudly, and
/// fails under CI).
fn team_db() -> Option<Database> {
    match shared() {
        Ok(s) => Some(s.database()),
        Err(e) => {
            skip(&e);
            None
        }
    }
}

/// A cluster of the test's own (to stop, or with TLS or passwords).
fn own_cluster(opts: ClusterOptions) -> Option<Cluster> {
    match Cluster::start(&opts) {
        Ok(c) => Some(c),
        Err(e) => {
            skip(&e);
            None
        }
    }
}

/// `ctm` on one data root, with this machine's store.
fn ctm_on(env: &Env, root: &Path) -> Command {
    let mut c = env.ctm();
    c.arg("--claude-dir").arg(root);
    c
}

fn push(env: &Env, root: &Path, url: &str, user: &str, machine: &str) -> Value {
    json(ctm_on(env, root).args([
        "team",
        "push",
        "--url",
        url,
        "--user",
        user,
        "--machine",
        machine,
        "--json",
    ]))
}

fn team(env: &Env, url: &str, args: &[&str]) -> Value {
    json(
        env.ctm()
            .args(["team"])
            .args(args)
            .args(["--url", url, "--json"]),
    )
}

fn fails(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "expected a failure:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A generated root (a person's history).
fn generated(env: &Env, seed: u64) -> (PathBuf, Expected) {
    let root = env.path().join(format!("gen-{seed}"));
    let expected = generate(&root, &GenConfig::small(seed)).unwrap();
    (root, expected)
}

/// The team sessions report without its `user` fields: the local report's shape.
fn without_users(mut v: Value) -> Value {
    for s in v["sessions"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("user");
    }
    v
}

/// (responses, input, output, cache creation, cache read) per day of a daily report.
fn per_day(v: &Value) -> Vec<(String, [u64; 5])> {
    v["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let n = |k: &str| d[k].as_u64().unwrap();
            (
                d["date"].as_str().unwrap().to_owned(),
                [
                    n("responses"),
                    n("inputTokens"),
                    n("outputTokens"),
                    n("cacheCreationTokens"),
                    n("cacheReadTokens"),
                ],
            )
        })
        .collect()
}

fn expected_per_day(e: &Expected, zone: &str) -> Vec<(String, [u64; 5])> {
    e.by_day[zone]
        .iter()
        .map(|(d, t)| {
            (
                d.clone(),
                [
                    t.responses,
                    t.input_tokens,
                    t.output_tokens,
                    t.cache_creation_tokens,
                    t.cache_read_tokens,
                ],
            )
        })
        .collect()
}

/// The first place two JSON values differ (`None`: equal), with its path.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                first_difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} != {b}")),
    }
}

fn assert_same(team: &Value, local: &Value, what: &str) {
    if let Some(d) = first_difference(team, local, "") {
        panic!("{what}: the team report differs from the local one at {d}");
    }
}

fn assert_rollups_hold(url: &str) {
    let env = Env::new();
    run(env.ctm().args(["team", "check", "--url", url]));
}

#[test]
fn team_reports_equal_the_local_reports_in_every_zone() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    let root = env.root("mixed");
    copy_tree(&fixture_root(), &root);
    let (gen_root, _) = generated(&env, 21);
    copy_tree(&gen_root.join("projects"), &root.join("projects"));
    push(&env, &root, &db.url, "alice", "laptop");
    let local = |args: &[&str]| json(ctm_on(&env, &root).args(args).arg("--json"));
    for zone in [
        "UTC",
        "America/New_York",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Pacific/Chatham",
    ] {
        for (team_report, local_report) in [
            ("daily", "daily"),
            ("weekly", "weekly"),
            ("monthly", "monthly"),
            ("models", "models"),
            ("projects", "project"),
        ] {
            for extra in [
                &[][..],
                &["--since", "2026-02-11", "--until", "2026-02-12"][..],
                &["--project", "SPOTTER", "--order", "desc"][..],
                &["--model", "opus"][..],
            ] {
                let mut args = vec![team_report, "--timezone", zone];
                args.extend(extra);
                let t = team(&env, &db.url, &args);
                let mut args = vec![local_report, "--timezone", zone];
                args.extend(extra);
                assert_same(
                    &t,
                    &local(&args),
                    &format!("team {team_report} in {zone} {extra:?}"),
                );
            }
        }
        let t = without_users(team(&env, &db.url, &["sessions", "--timezone", zone]));
        assert_same(
            &t,
            &local(&["session", "--timezone", zone]),
            &format!("sessions in {zone}"),
        );
        let t = without_users(team(
            &env,
            &db.url,
            &[
                "sessions",
                "--timezone",
                zone,
                "--project",
                "worktrees",
                "--since",
                "2026-02-11",
            ],
        ));
        assert_same(
            &t,
            &local(&[
                "session",
                "--timezone",
                zone,
                "--project",
                "worktrees",
                "--since",
                "2026-02-11",
            ]),
            &format!("filtered sessions in {zone}"),
        );
        // One person: the users report is the daily report's totals.
        let users = team(&env, &db.url, &["users", "--timezone", zone]);
        let daily = local(&["daily", "--timezone", zone]);
        assert_same(
            &users["totals"],
            &daily["totals"],
            &format!("users in {zone}"),
        );
    }
}

#[test]
fn team_users_json_is_the_documented_shape() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    push(&env, &fixture_root(), &db.url, "alice", "laptop");
    let v = team(&env, &db.url, &["users", "--timezone", "UTC"]);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["totals", "users"]);
    let user = &v["users"][0];
    let mut keys: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut want = vec![
        "user",
        "machines",
        "responses",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
        "lastActivity",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(user["user"], "alice");
    assert_eq!(user["machines"], serde_json::json!(["laptop"]));
    assert_eq!(user["responses"], 904);
    assert_eq!(user["lastActivity"], "2026-02-12T21:03:34.112+00:00");
    assert_eq!(v["totals"]["responses"], 904);
}

#[test]
fn two_people_and_a_shared_dotfiles_machine_each_count_once_and_push_again_changes_nothing() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    let (alice_root, alice) = generated(&env, 31);
    let (bob_root, bob) = generated(&env, 32);
    let laptop = Env::new();
    let desktop = Env::new();
    let bobs = Env::new();
    let first = push(&laptop, &alice_root, &db.url, "alice", "laptop");
    assert_eq!(first["full"], true);
    // The same ~/.claude synced to a second machine: nothing new.
    let second = push(&desktop, &alice_root, &db.url, "alice", "desktop");
    assert_eq!(second["added"], 0);
    push(&bobs, &bob_root, &db.url, "bob", "box");
    // Again, from every machine: nothing to send.
    for (e, root, user, machine) in [
        (&laptop, &alice_root, "alice", "laptop"),
        (&desktop, &alice_root, "alice", "desktop"),
        (&bobs, &bob_root, "bob", "box"),
    ] {
        let again = push(e, root, &db.url, user, machine);
        assert_eq!(again["sent"], 0, "{user}@{machine}");
    }
    assert_rollups_hold(&db.url);
    for zone in ["UTC", "Asia/Kolkata", "America/New_York"] {
        for (user, e) in [("alice", &alice), ("bob", &bob)] {
            let v = team(
                &env,
                &db.url,
                &["daily", "--user", user, "--timezone", zone],
            );
            assert_eq!(per_day(&v), expected_per_day(e, zone), "{user} in {zone}");
        }
    }
    let users = team(&env, &db.url, &["users"]);
    let names: Vec<(&str, Vec<&str>)> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user"].as_str().unwrap(),
                u["machines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        vec![("alice", vec!["desktop", "laptop"]), ("bob", vec!["box"])]
    );
    assert_eq!(
        users["totals"]["responses"].as_u64().unwrap(),
        alice.totals.responses + bob.totals.responses
    );
    // An unknown person is one clear line.
    let out = fails(
        env.ctm()
            .args(["team", "daily", "--user", "carol", "--url", &db.url]),
    );
    assert!(
        stderr(&out).contains("no user \"carol\""),
        "{}",
        stderr(&out)
    );
}

/// Local figures: the daily report's per-day rows in UTC.
fn local_days(env: &Env, root: &Path) -> Vec<(String, [u64; 5])> {
    per_day(&json(ctm_on(env, root).args([
        "daily",
        "--json",
        "--timezone",
        "UTC",
    ])))
}

fn team_days(url: &str, user: &str) -> Vec<(String, [u64; 5])> {
    let env = Env::new();
    per_day(&team(
        &env,
        url,
        &["daily", "--user", user, "--timezone", "UTC"],
    ))
}

#[test]
fn kill_minus_9_at_random_instants_of_a_push_never_counts_twice() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    let (root, expected) = generated(&env, 41);
    run(ctm_on(&env, &root).arg("ingest"));
    // A pseudo-random but repeatable set of instants, from the first milliseconds to
    // well into the push.
    let mut seed = 0x5eed_u64;
    for round in 0..8 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(20 + (seed >> 33) % 1500);
        let mut child = ctm_on(&env, &root)
            .args([
                "team",
                "push",
                "--url",
                &db.url,
                "--user",
                "alice",
                "--machine",
                "m",
            ])
            .args(["--batch-size", "25", "--no-ingest"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever was committed is consistent, and never more than this machine has.
        assert_rollups_hold(&db.url);
        let env2 = Env::new();
        let users = team(&env2, &db.url, &["users"]);
        let sent = users["totals"]["responses"].as_u64().unwrap();
        assert!(
            sent <= expected.totals.responses,
            "round {round}: {sent} > {}",
            expected.totals.responses
        );
    }
    let last = push(&env, &root, &db.url, "alice", "m");
    assert_eq!(
        last["added"].as_u64().unwrap()
            + last["unchanged"].as_u64().unwrap()
            + last["changed"].as_u64().unwrap(),
        last["sent"].as_u64().unwrap()
    );
    assert_eq!(
        team_days(&db.url, "alice"),
        expected_per_day(&expected, "UTC")
    );
    assert_eq!(team_days(&db.url, "alice"), local_days(&env, &root));
    let again = push(&env, &root, &db.url, "alice", "m");
    assert_eq!(again["sent"], 0);
}

#[test]
fn a_server_stopped_mid_push_leaves_both_sides_consistent_and_the_next_push_completes() {
    let Some(cluster) = own_cluster(ClusterOptions::default()) else {
        return;
    };
    let db = Database::create(&cluster.admin_url());
    let url = cluster.tcp_url("postgres", &db.name, "");
    let env = Env::new();
    let (root, expected) = generated(&env, 51);
    run(ctm_on(&env, &root).arg("ingest"));
    let child = ctm_on(&env, &root)
        .args([
            "team",
            "push",
            "--url",
            &url,
            "--user",
            "alice",
            "--machine",
            "m",
        ])
        .args(["--batch-size", "5", "--no-ingest"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped once some batches are in and others not.
    let mut admin = db.client();
    wait_for(
        || {
            admin
                .query_one("SELECT count(*) FROM ctm.responses", &[])
                .is_ok_and(|r| r.get::<_, i64>(0) > 0)
        },
        "the first batches",
    );
    drop(admin);
    cluster.stop_now();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the push should have failed");
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("ctm: error: "), "{err}");
    cluster.start_again().unwrap();
    assert_rollups_hold(&url);
    push(&env, &root, &url, "alice", "m");
    assert_rollups_hold(&url);
    assert_eq!(team_days(&url, "alice"), expected_per_day(&expected, "UTC"));
    drop(db);
}

#[test]
fn a_newer_server_schema_is_refused_in_one_line() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    push(&env, &fixture_root(), &db.url, "alice", "laptop");
    db.client()
        .batch_execute("UPDATE ctm.schema_info SET version = 99")
        .unwrap();
    for args in [
        &["team", "push", "--url", &db.url][..],
        &["team", "daily", "--url", &db.url][..],
        &["team", "init", "--url", &db.url][..],
    ] {
        let out = fails(ctm_on(&env, &fixture_root()).args(args));
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        let supported = ctm_team::schema::SCHEMA_VERSION;
        assert!(
            err.contains(&format!(
                "schema version 99, newer than this ctm supports ({supported}); upgrade ctm"
            )),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_read_only_role_runs_every_team_report_but_cannot_push() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    push(&env, &fixture_root(), &db.url, "alice", "laptop");
    let role = format!("reader_{}", db.name);
    db.client()
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; \
             GRANT CONNECT ON DATABASE {db} TO {role}; GRANT USAGE ON SCHEMA ctm TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA ctm TO {role};",
            db = db.name
        ))
        .unwrap();
    let reader = db.url_as(&role);
    for report in [
        "daily", "weekly", "monthly", "users", "projects", "models", "sessions",
    ] {
        let v = team(&env, &reader, &[report, "--timezone", "UTC"]);
        assert_eq!(v["totals"]["responses"], 904, "{report}");
    }
    let v = team(&env, &reader, &["daily", "--reprice", "--timezone", "UTC"]);
    assert_eq!(v["totals"]["responses"], 904);
    run(env.ctm().args(["team", "check", "--url", &reader]));
    let out = fails(
        ctm_on(&Env::new(), &fixture_root())
            .args(["team", "push", "--url", &reader, "--user", "mallory"]),
    );
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("permission denied"), "{err}");
    db.client()
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .unwrap();
}

#[test]
fn tls_require_and_verify_full_and_a_wrong_certificate_refused() {
    let Some(cluster) = own_cluster(ClusterOptions {
        tls: true,
        ..ClusterOptions::default()
    }) else {
        return;
    };
    let db = Database::create(&cluster.admin_url());
    let ca = cluster.ca_cert().unwrap();
    let ca = ca.to_str().unwrap();
    let env = Env::new();
    // The server refuses connections without TLS.
    let plain = cluster.tcp_url("postgres", &db.name, "sslmode=disable");
    let out = fails(env.ctm().args(["team", "init", "--url", &plain]));
    assert!(stderr(&out).contains("no encryption"), "{}", stderr(&out));
    // require: encrypted, the certificate not checked.
    let require = cluster.tcp_url("postgres", &db.name, "sslmode=require");
    run(env.ctm().args(["team", "init", "--url", &require]));
    // verify-full: the certificate must come from the CA and name the host.
    let full = format!(
        "postgresql://postgres@localhost:{}/{}?sslmode=verify-full&sslrootcert={ca}&hostaddr=127.0.0.1",
        cluster.port(),
        db.name
    );
    push(&env, &fixture_root(), &full, "alice", "laptop");
    let named_by_ip = cluster.tcp_url(
        "postgres",
        &db.name,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let out = fails(env.ctm().args(["team", "daily", "--url", &named_by_ip]));
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    // verify-ca does not compare the name.
    let ca_only = cluster.tcp_url(
        "postgres",
        &db.name,
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    assert_eq!(team(&env, &ca_only, &["users"])["totals"]["responses"], 904);
    // Another CA: refused.
    let other = env.path().join("other-ca.pem");
    std::fs::write(&other, include_str!("team_other_ca.pem")).unwrap();
    let wrong = format!(
        "postgresql://postgres@localhost:{}/{}?sslmode=verify-full&sslrootcert={}&hostaddr=127.0.0.1",
        cluster.port(),
        db.name,
        other.display()
    );
    let out = fails(env.ctm().args(["team", "daily", "--url", &wrong]));
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    drop(db);
}

#[test]
fn passwords_come_from_the_url_pgpassword_or_pgpass_and_are_never_printed() {
    let Some(cluster) = own_cluster(ClusterOptions {
        passwords: true,
        ..ClusterOptions::default()
    }) else {
        return;
    };
    let db = Database::create(&cluster.admin_url());
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE alice LOGIN PASSWORD 'correct-horse-42'; GRANT ALL ON DATABASE {} TO alice; \
             ALTER DATABASE {} OWNER TO alice;",
            db.name, db.name
        ))
        .unwrap();
    let env = Env::new();
    let bare = cluster.tcp_url("alice", &db.name, "");
    // No password anywhere: refused.
    let out = fails(env.ctm().args(["team", "init", "--url", &bare]));
    assert!(stderr(&out).contains("password"), "{}", stderr(&out));
    // In the URL.
    let with = format!(
        "postgresql://alice:correct-horse-42@127.0.0.1:{}/{}",
        cluster.port(),
        db.name
    );
    let out = run(env.ctm().args(["team", "init", "--url", &with]));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("correct-horse"));
    // PGPASSWORD.
    run(env
        .ctm()
        .env("PGPASSWORD", "correct-horse-42")
        .args(["team", "init", "--url", &bare]));
    // ~/.pgpass (0600), as libpq reads it.
    let pgpass = env.path().join("home/.pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "127.0.0.1:{}:{}:alice:correct-horse-42\n",
            cluster.port(),
            db.name
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    push(&env, &fixture_root(), &bare, "alice", "laptop");
    // A wrong password: one line, and no password in it.
    let wrong = format!(
        "postgresql://alice:wrong-battery-7@127.0.0.1:{}/{}",
        cluster.port(),
        db.name
    );
    let out = fails(env.ctm().args(["team", "daily", "--url", &wrong]));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        !err.contains("wrong-battery") && !err.contains("correct-horse"),
        "{err}"
    );
    drop(db);
}

/// A config file with `[team]` pointing at `url`.
fn team_config(env: &Env, url: &str, extra: &str) -> PathBuf {
    let path = env.path().join("config.toml");
    std::fs::write(
        &path,
        format!("[team]\nurl = \"{url}\"\nuser = \"alice\"\nmachine = \"laptop\"\n{extra}"),
    )
    .unwrap();
    path
}

#[test]
fn ingest_pushes_by_itself_and_a_server_away_is_one_warning_then_a_retry() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    let root = env.root("r");
    copy_tree(&fixture_root(), &root);
    // The team database away (nothing listens on the port): the ingest succeeds, with one
    // warning line.
    let away = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "postgresql://postgres@127.0.0.1:{}/x",
            l.local_addr().unwrap().port()
        )
    };
    let config = team_config(&env, &away, "");
    let out = run(ctm_on(&env, &root)
        .arg("--config")
        .arg(&config)
        .arg("ingest"));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("ctm: warning: team push failed"), "{err}");
    // Back: the next ingest (nothing new to read) sends what was left unsent.
    let config = team_config(&env, &db.url, "");
    let out = run(ctm_on(&env, &root)
        .arg("--config")
        .arg(&config)
        .arg("ingest"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("team:       904 responses pushed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(team(&env, &db.url, &["users"])["totals"]["responses"], 904);
    // Nothing changed: no push.
    let out = run(ctm_on(&env, &root)
        .arg("--config")
        .arg(&config)
        .arg("ingest"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("team:"));
    assert_eq!(stderr(&out), "");
    // auto_push = false: never.
    append_response(&root, 1);
    let config = team_config(&env, &away, "auto_push = false\n");
    let out = run(ctm_on(&env, &root)
        .arg("--config")
        .arg(&config)
        .arg("ingest"));
    assert_eq!(stderr(&out), "");
}

/// Appends one new response to the fixture copy's first transcript.
fn append_response(root: &Path, n: u64) {
    let transcript = walk(&root.join("projects"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let line = assistant_line(
        "team-session",
        &format!("msg_team_{n}"),
        "req_team",
        "2026-02-12T22:00:00.000Z",
        "claude-opus-4-6",
        10,
        20,
    );
    let mut text = std::fs::read_to_string(&transcript).unwrap();
    text.push_str(&line);
    text.push('\n');
    std::fs::write(&transcript, text).unwrap();
}

#[test]
fn serve_pushes_after_ingests_that_changed_responses() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    let root = env.root("r");
    copy_tree(&fixture_root(), &root);
    let config = team_config(&env, &db.url, "");
    let mut cmd = ctm_on(&env, &root);
    cmd.arg("--config")
        .arg(&config)
        .env("CTM_TEST_PUSH_INTERVAL_MS", "200")
        .args(["serve", "--bind", "127.0.0.1:0"]);
    let served = super::serve::Served::spawn(cmd);
    // The schema appears with the first push.
    let responses = || {
        let out = env
            .ctm()
            .args(["team", "users", "--json", "--url", &db.url])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["totals"]["responses"].as_u64())
    };
    wait_for(|| responses() == Some(904), "the push at start");
    append_response(&root, 2);
    wait_for(
        || responses() == Some(905),
        "the push after the new response",
    );
    drop(served);
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn forget_removes_a_person_and_their_paths() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    let (bob_root, bob) = generated(&env, 61);
    push(&Env::new(), &fixture_root(), &db.url, "alice", "laptop");
    push(&Env::new(), &bob_root, &db.url, "bob", "box");
    let out = run(env
        .ctm()
        .args(["team", "forget", "--user", "alice", "--url", &db.url]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("904 responses removed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_rollups_hold(&db.url);
    let users = team(&env, &db.url, &["users"]);
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
    assert_eq!(
        users["totals"]["responses"].as_u64().unwrap(),
        bob.totals.responses
    );
    let left: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM ctm.projects WHERE path LIKE '%spotter%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "alice's paths are gone");
    let out = fails(
        env.ctm()
            .args(["team", "forget", "--user", "alice", "--url", &db.url]),
    );
    assert!(
        stderr(&out).contains("no user \"alice\""),
        "{}",
        stderr(&out)
    );
    // Pushing again is a new machine to the database: the whole history goes back.
    let again = push(&Env::new(), &fixture_root(), &db.url, "alice", "laptop");
    assert_eq!(again["added"], 904);
}

#[test]
fn hashed_project_paths_never_leave_the_machine() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    let config = team_config(
        &env,
        &db.url,
        "hash_project_paths = true\nproject_path_salt = \"our team secret\"\n",
    );
    run(ctm_on(&env, &fixture_root())
        .arg("--config")
        .arg(&config)
        .args(["team", "push", "--url", &db.url]));
    let mut c = db.client();
    let texts: Vec<String> = c
        .query(
            "SELECT coalesce(path, '') FROM ctm.projects UNION ALL \
             SELECT concat_ws(' ', key, speed, service_tier, inference_geo, agent_id, cc_version, price_model) \
             FROM ctm.responses",
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!texts.is_empty());
    assert!(
        texts
            .iter()
            .all(|t| !t.contains("/home/") && !t.contains("spotter")),
        "a path left the machine"
    );
    let projects = team(&env, &db.url, &["projects"]);
    for p in projects["projects"].as_array().unwrap() {
        assert!(
            p["projectPath"]
                .as_str()
                .unwrap()
                .starts_with("hmac-sha256:"),
            "{p}"
        );
    }
    assert_eq!(projects["totals"]["responses"], 904);
    // Without a salt, hashing is refused rather than done badly.
    let config = team_config(&env, &db.url, "hash_project_paths = true\n");
    let out = fails(
        ctm_on(&env, &fixture_root())
            .arg("--config")
            .arg(&config)
            .args(["team", "push"]),
    );
    assert!(
        stderr(&out).contains("project_path_salt"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_team_answers_from_the_team_database_with_a_person_filter() {
    use super::serve::Served;
    let Some(db) = team_db() else { return };
    let env = Env::new();
    let (bob_root, _) = generated(&env, 71);
    push(&Env::new(), &fixture_root(), &db.url, "alice", "laptop");
    push(&Env::new(), &bob_root, &db.url, "bob", "box");
    let mut cmd = env.ctm();
    cmd.args([
        "--no-ingest",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--team",
        &db.url,
    ]);
    let served = Served::spawn(cmd);
    let health = served.json("/api/health");
    assert_eq!(health["mode"], "team");
    let same = |route: &str, args: &[&str]| {
        assert_same(&served.json(route), &team(&env, &db.url, args), route);
    };
    same("/api/daily?tz=UTC", &["daily", "--timezone", "UTC"]);
    same(
        "/api/daily?tz=Asia/Kolkata&user=bob",
        &["daily", "--timezone", "Asia/Kolkata", "--user", "bob"],
    );
    same(
        "/api/weekly?tz=UTC&start_of_week=sunday",
        &["weekly", "--timezone", "UTC", "--start-of-week", "sunday"],
    );
    same(
        "/api/monthly?tz=UTC&model=opus",
        &["monthly", "--timezone", "UTC", "--model", "opus"],
    );
    same(
        "/api/models?tz=Asia/Tokyo",
        &["models", "--timezone", "Asia/Tokyo"],
    );
    same(
        "/api/projects?tz=UTC&user=alice",
        &["projects", "--timezone", "UTC", "--user", "alice"],
    );
    same(
        "/api/users?tz=UTC&since=2026-02-11",
        &["users", "--timezone", "UTC", "--since", "2026-02-11"],
    );
    let page = served.json("/api/sessions?tz=UTC&user=alice&limit=1000&sort=cost");
    let report = team(
        &env,
        &db.url,
        &["sessions", "--timezone", "UTC", "--user", "alice"],
    );
    assert_eq!(page["total"], report["sessions"].as_array().unwrap().len());
    assert!(page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["user"] == "alice"));
    assert_eq!(page["totals"], report["totals"]);
    let summary = served.json("/api/summary?tz=UTC&user=alice");
    assert_eq!(summary["lastResponse"], "2026-02-12T21:03:34.112+00:00");
    assert!(summary["currentBlock"].is_null());
    // One machine's panels are not here, and say so.
    for route in [
        "/api/hourly",
        "/api/blocks",
        "/api/top",
        "/api/cache",
        "/api/snapshots",
        "/api/sessions/abc",
    ] {
        let r = served.get(route);
        assert_eq!(r.status, 404, "{route}");
        assert!(r.text().contains("team database"), "{route}: {}", r.text());
    }
    assert_eq!(served.get("/api/daily?user=carol").status, 400);
    drop(served);
    // The local dashboard has one person: no user filter, no /api/users.
    let local = Served::start(&env, &fixture_root(), &[]);
    assert_eq!(local.get("/api/daily?user=alice").status, 400);
    assert_eq!(local.get("/api/users").status, 404);
}

#[test]
fn serve_team_runs_as_a_read_only_role_and_behind_a_token() {
    use super::serve::{request, Served};
    let Some(db) = team_db() else { return };
    let env = Env::new();
    push(&Env::new(), &fixture_root(), &db.url, "alice", "laptop");
    let role = format!("viewer_{}", db.name);
    db.client()
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; \
             GRANT CONNECT ON DATABASE {db} TO {role}; GRANT USAGE ON SCHEMA ctm TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA ctm TO {role};",
            db = db.name
        ))
        .unwrap();
    let mut cmd = env.ctm();
    cmd.args([
        "--no-ingest",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--token",
        "a-team-token-of-24-chars",
        "--team",
    ])
    .arg(db.url_as(&role));
    let served = Served::spawn(cmd);
    assert_eq!(served.get("/api/users").status, 401);
    let r = request(
        served.addr,
        "/api/users?tz=UTC",
        &[("Authorization", "Bearer a-team-token-of-24-chars")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["totals"]["responses"], 904);
    drop(served);
    db.client()
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .unwrap();
}

#[test]
fn responses_pruned_locally_stay_in_the_team_database_and_pushes_say_what_they_sent() {
    let Some(db) = team_db() else { return };
    let env = Env::new();
    let root = env.root("r");
    copy_tree(&fixture_root(), &root);
    let out = run(ctm_on(&env, &root).args([
        "team",
        "push",
        "--url",
        &db.url,
        "--user",
        "alice",
        "--machine",
        "laptop",
    ]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Pushed 904 responses (the whole history) to postgresql://")
            && said.contains("as alice@laptop")
            && said.contains("904 new, 0 changed, 0 it already had"),
        "{said}"
    );
    let before = team(&env, &db.url, &["daily", "--timezone", "UTC"]);
    run(ctm_on(&env, &root)
        .env("CTM_NOW", "2026-02-12T21:30:00Z")
        .args(["db", "prune", "--facts-older-than", "1"]));
    // A new response after the prune: it goes; the pruned ones stay on the server.
    append_response(&root, 3);
    let out = run(ctm_on(&env, &root).args([
        "team",
        "push",
        "--url",
        &db.url,
        "--user",
        "alice",
        "--machine",
        "laptop",
    ]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Pushed 1 response to") && said.contains("1 new"),
        "{said}"
    );
    let after = team(&env, &db.url, &["daily", "--timezone", "UTC"]);
    assert_eq!(
        after["totals"]["responses"].as_u64().unwrap(),
        before["totals"]["responses"].as_u64().unwrap() + 1
    );
    let out = run(ctm_on(&env, &root).args([
        "team",
        "push",
        "--url",
        &db.url,
        "--user",
        "alice",
        "--machine",
        "laptop",
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Nothing to push: "));
}

#[test]
fn reprice_prices_every_response_with_the_reading_machines_table() {
    let Some(db) = team_db() else { return };
    let pusher = Env::new();
    let root = pusher.root("mixed");
    copy_tree(&fixture_root(), &root);
    let (gen_root, _) = generated(&pusher, 34);
    copy_tree(&gen_root.join("projects"), &root.join("projects"));
    push(&pusher, &root, &db.url, "alice", "laptop");
    // The reading machine's tables: Opus 4.6 at other whole rates (each row priced from
    // its sums), then at rates that are not whole nano-dollars per token (every response
    // priced one by one).
    for (what, table) in [
        (
            "whole rates",
            "input = 7.0\noutput = 30.0\ncache_read = 0.7\ncache_write_5m = 9.0\n",
        ),
        (
            "fractional rates",
            "input = 7.0000003\noutput = 30.00000071\ncache_read = 0.7000001\ncache_write_5m = 9.0\n",
        ),
    ] {
        let reader = Env::new();
        let config = reader.path().join("config.toml");
        std::fs::write(
            &config,
            format!("[pricing.models.\"claude-opus-4-6\"]\n{table}"),
        )
        .unwrap();
        let as_pushed = team(&reader, &db.url, &["daily", "--timezone", "UTC"]);
        let repriced = |args: &[&str]| {
            json(
                reader
                    .ctm()
                    .arg("--config")
                    .arg(&config)
                    .arg("team")
                    .args(args)
                    .args(["--reprice", "--json", "--url", &db.url]),
            )
        };
        // What this machine's own store says with that table, to the last digit.
        let local = |args: &[&str]| {
            json(
                reader
                    .ctm()
                    .arg("--config")
                    .arg(&config)
                    .arg("--claude-dir")
                    .arg(&root)
                    .args(args)
                    .arg("--json"),
            )
        };
        let daily = repriced(&["daily", "--timezone", "UTC"]);
        let cost = |v: &Value| v["totals"]["totalCost"].as_f64().unwrap();
        assert!(
            (cost(&daily) - cost(&as_pushed)).abs() > 1.0,
            "{what}: the table changed nothing"
        );
        assert_same(
            &daily,
            &local(&["daily", "--timezone", "UTC"]),
            &format!("daily --reprice, {what}"),
        );
        assert_same(
            &repriced(&["daily", "--timezone", "Asia/Kolkata", "--since", "2026-02-11"]),
            &local(&["daily", "--timezone", "Asia/Kolkata", "--since", "2026-02-11"]),
            &format!("daily --reprice in Kolkata, {what}"),
        );
        assert_same(
            &repriced(&["projects", "--model", "opus"]),
            &local(&["project", "--model", "opus"]),
            &format!("projects --reprice, {what}"),
        );
        assert_same(
            &without_users(repriced(&["sessions", "--timezone", "UTC"])),
            &local(&["session", "--timezone", "UTC"]),
            &format!("sessions --reprice, {what}"),
        );
    }
}

#[test]
fn a_missing_or_unusable_url_is_a_usage_error_and_a_server_away_a_runtime_one() {
    let env = Env::new();
    for args in [
        &["team", "daily"][..],
        &["team", "push", "--url", "mysql://h/db"][..],
        &["team", "users", "--url", "postgresql://h/db?sslmode=maybe"][..],
    ] {
        let out = fails(env.ctm().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    let away = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "postgresql://u:never-shown@127.0.0.1:{}/x",
            l.local_addr().unwrap().port()
        )
    };
    let out = fails(env.ctm().args(["team", "users", "--url", &away]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "ctm: error: cannot connect to the team database at postgresql://u@127.0.0.1:"
        ),
        "{err}"
    );
    assert!(!err.contains("never-shown"), "{err}");
}

/// What the hidden checks do: three people's histories into a fresh database, one push
/// killed mid-way and repeated, then each person's days in the team database equal their
/// own store's, every figure of every day.
#[test]
fn three_people_one_push_killed_and_repeated_each_persons_days_equal_their_own() {
    let Some(db) = team_db() else { return };
    let people: Vec<(&str, Env, PathBuf)> = ["ana", "ben", "cai"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let env = Env::new();
            let (root, _) = generated(&env, 101 + i as u64);
            (name, env, root)
        })
        .collect();
    for (name, env, root) in &people {
        if *name == "ben" {
            run(ctm_on(env, root).arg("ingest"));
            let mut child = ctm_on(env, root)
                .args([
                    "team",
                    "push",
                    "--url",
                    &db.url,
                    "--user",
                    name,
                    "--batch-size",
                    "10",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut admin = db.client();
            wait_for(
                || {
                    admin
                        .query_one(
                            "SELECT count(*) FROM ctm.responses r JOIN ctm.machines m ON m.id = r.machine_id \
                             JOIN ctm.people p ON p.id = m.person_id WHERE p.name = 'ben'",
                            &[],
                        )
                        .is_ok_and(|r| r.get::<_, i64>(0) > 0)
                },
                "ben's first batches",
            );
            child.kill().unwrap();
            child.wait().unwrap();
        }
        push(env, root, &db.url, name, "m");
    }
    assert_rollups_hold(&db.url);
    let reader = Env::new();
    for zone in ["UTC", "Asia/Kolkata"] {
        for (name, env, root) in &people {
            let theirs = json(ctm_on(env, root).args(["daily", "--json", "--timezone", zone]));
            let team_days = team(
                &reader,
                &db.url,
                &["daily", "--user", name, "--timezone", zone],
            );
            assert_same(&team_days, &theirs, &format!("{name} in {zone}"));
        }
    }
}
