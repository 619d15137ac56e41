//! `ctm snapshot` and `ctm stats` on hand-written stats-cache.json files.

use std::path::{Path, PathBuf};

use super::support::*;

/// The reference's version 5 example, with `messages` on its one day.
pub fn v5(messages: u64) -> String {
    format!(
        r#"{{"version":5,"lastComputedDate":"2026-04-25","dailyActivity":[{{"date":"2026-04-25","messageCount":{messages},"sessionCount":1,"toolCallCount":2}}],
"dailyModelTokens":[{{"date":"2026-04-25","tokensByModel":{{"claude-opus-4-6":1000}}}}],"modelUsage":{{"claude-opus-4-6":{{"inputTokens":100,
"outputTokens":900,"cacheReadInputTokens":40000,"cacheCreationInputTokens":2000,"webSearchRequests":0,"costUSD":0,"contextWindow":0,
"maxOutputTokens":0}}}},"totalSessions":5,"totalMessages":50,"longestSession":{{"sessionId":"abc","duration":3600000,"messageCount":7,
"timestamp":"2026-04-25T12:00:00Z"}},"firstSessionDate":"2026-04-01T00:00:00Z","hourCounts":{{"12":4}},"dailyModelTokensVersion":5}}"#
    )
}

/// A version 2 file: no dailyModelTokensVersion, sparse fields, a dated model name.
const V2: &str = r#"{"version":2,"lastComputedDate":"2026-04-20","dailyActivity":[{"date":"2026-04-10","messageCount":4,"sessionCount":1,"toolCallCount":1},
{"date":"2026-04-15","messageCount":6}],"dailyModelTokens":[{"date":"2026-04-10","tokensByModel":{"claude-opus-4-5-20251101":700}},
{"date":"2026-04-25","tokensByModel":{"claude-opus-4-5-20251101":50}}],
"modelUsage":{"claude-opus-4-5-20251101":{"inputTokens":1000000,"outputTokens":1000000},"claude-mystery-9":{"inputTokens":5}},
"totalSessions":2,"longestSession":null}"#;

fn root_with(env: &Env, text: &str) -> PathBuf {
    let root = env.root("claude");
    std::fs::write(root.join("stats-cache.json"), text).unwrap();
    root
}

fn snapshot(env: &Env, root: &Path) -> String {
    let out = run(env.ctm().arg("--claude-dir").arg(root).arg("snapshot"));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn count(env: &Env, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn snapshots_cmd_records_a_version_5_file_only_when_it_changes() {
    let env = Env::new();
    let root = root_with(&env, &v5(10));
    let out = snapshot(&env, &root);
    assert!(out.starts_with("snapshot 1 taken: "), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    // 100*5 + 900*25 + 2000*6.25 + 40000*0.5 = 55,500 per million = $0.0555.
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let (input, read, cost, rate, raw): (i64, i64, f64, f64, String) = conn
        .query_row(
            "SELECT total_input_tokens, total_cache_read_tokens, total_cost_usd, cache_hit_rate, raw_json \
             FROM stats_snapshots",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!((input, read), (100, 40_000));
    assert!((cost - 0.0555).abs() < 1e-9, "{cost}");
    assert!((rate - 40_000.0 / 42_000.0).abs() < 1e-9);
    assert_eq!(raw, v5(10));

    let again = snapshot(&env, &root);
    assert_eq!(
        again.trim_end(),
        format!(
            "unchanged since snapshot 1: {}",
            root.join("stats-cache.json").display()
        )
    );
    assert_eq!(count(&env, "stats_snapshots"), 1);

    std::fs::write(root.join("stats-cache.json"), v5(11)).unwrap();
    let v = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["snapshot", "--json"]),
    );
    assert_eq!(v[0]["status"], "taken", "{v}");
    assert_eq!(v[0]["id"], 2);
    assert_eq!(count(&env, "stats_snapshots"), 2);
    assert_eq!(count(&env, "model_usage_logs"), 2);
}

#[test]
fn snapshots_cmd_records_a_version_2_file_with_normalised_names() {
    let env = Env::new();
    let root = root_with(&env, V2);
    let out = snapshot(&env, &root);
    assert!(
        out.starts_with("snapshot 1 taken: ") && out.contains("version 2"),
        "{out}"
    );
    assert!(out.contains("no price for claude-mystery-9"), "{out}");
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let rows: Vec<(String, String, f64)> = conn
        .prepare("SELECT model_name, model_display_name, cost_usd FROM model_usage_logs ORDER BY model_name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, "claude-mystery-9");
    assert_eq!(rows[0].2, 0.0);
    // Opus 4.5: a million input at $5 plus a million output at $25.
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_str()),
        ("claude-opus-4-5", "claude-opus-4-5-20251101")
    );
    assert!((rows[1].2 - 30.0).abs() < 1e-9, "{}", rows[1].2);
}

#[test]
fn snapshots_cmd_skips_unreadable_files_with_one_line() {
    let truncated = v5(10)[..120].to_owned();
    for (text, reason) in [
        (truncated.as_str(), "truncated"),
        ("{\"version\":5,\"modelUsage\":{\"a\":[1,2]}}", "not valid"),
        ("this is not json", "not valid"),
        (r#"{"version":9,"modelUsage":{}}"#, "unknown version 9"),
        ("", "huge"),
    ] {
        let env = Env::new();
        let root = root_with(&env, text);
        if reason == "huge" {
            // Sparse: 51 MB on paper, nothing on disk.
            std::fs::File::options()
                .write(true)
                .open(root.join("stats-cache.json"))
                .unwrap()
                .set_len(51 << 20)
                .unwrap();
        }
        // A second root with a good file: recorded all the same.
        let good = env.path().join("good");
        std::fs::create_dir_all(good.join("projects")).unwrap();
        std::fs::write(good.join("stats-cache.json"), v5(3)).unwrap();
        let out = env
            .ctm()
            .arg("--claude-dir")
            .arg(&root)
            .arg("--claude-dir")
            .arg(&good)
            .arg("snapshot")
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(out.stderr.is_empty());
        let want = format!("skipped {}: ", root.join("stats-cache.json").display());
        let skipped: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("skipped"))
            .collect();
        let reason = if reason == "huge" {
            "larger than 50 MB"
        } else {
            reason
        };
        assert_eq!(skipped.len(), 1, "{stdout}");
        assert!(
            skipped[0].starts_with(&want) && skipped[0].contains(reason),
            "{stdout}"
        );
        assert_eq!(stdout.lines().count(), 2, "{stdout}");
        assert_eq!(
            count(&env, "stats_snapshots"),
            1,
            "the good root's snapshot"
        );
        assert_eq!(count(&env, "model_usage_logs"), 1);
    }
}

#[test]
fn snapshots_cmd_stats_lists_days_before_the_first_fact() {
    let env = Env::new();
    let root = env.root("claude");
    let none = run(env.ctm().arg("--claude-dir").arg(&root).arg("stats"));
    assert!(String::from_utf8_lossy(&none.stdout).contains("run `ctm snapshot`"));

    // The store's first fact is on 2026-04-12: Claude Code's days before it are shown.
    let project = root.join("projects/-home-u-proj");
    std::fs::create_dir_all(&project).unwrap();
    let line = assistant_line(
        "s1",
        "msg_1",
        "req_1",
        "2026-04-12T10:00:00.000Z",
        "claude-opus-4-5-20251101",
        10,
        20,
    );
    std::fs::write(project.join("s1.jsonl"), format!("{line}\n")).unwrap();
    std::fs::write(root.join("stats-cache.json"), V2).unwrap();
    snapshot(&env, &root);

    let out = run(env.ctm().arg("--claude-dir").arg(&root).arg("stats"));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("from Claude Code's stats-cache (transcripts already deleted)"),
        "{text}"
    );
    assert!(text.contains("Tokens (input+output)"), "{text}");
    assert!(text.contains("2026-04-10"), "{text}");
    // 04-15 and 04-25 are after the first fact: the store has them.
    assert!(
        !text.contains("2026-04-15") && !text.contains("2026-04-25"),
        "{text}"
    );

    let v = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["stats", "--json"]),
    );
    assert_eq!(v["firstFactDate"], "2026-04-12");
    assert_eq!(v["tokensMeaning"], "input+output");
    let days: Vec<&str> = v["earlierDays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2026-04-10"]);
    assert_eq!(v["earlierDays"][0]["tokens"], 700);
    assert_eq!(v["earlierDays"][0]["messageCount"], 4);
    let opus = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "claude-opus-4-5")
        .unwrap();
    assert_eq!(opus["claudeCode"]["input"], 1_000_000);
    assert_eq!(opus["ctm"]["input"], 10);
    assert_eq!(opus["difference"]["output"], 20 - 1_000_000);

    // A version 5 file labels its daily tokens as including cache.
    std::fs::write(
        root.join("stats-cache.json"),
        v5(10).replace("2026-04-25", "2026-04-01"),
    )
    .unwrap();
    snapshot(&env, &root);
    let v = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["stats", "--json"]),
    );
    assert_eq!(v["tokensMeaning"], "incl. cache");
    assert_eq!(v["earlierDays"][0]["date"], "2026-04-01");
}
