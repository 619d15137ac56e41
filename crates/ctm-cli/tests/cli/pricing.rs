//! Prices through the real binary: a generated December 2026 history priced in full
//! against the generator's independent computation, `pricing update` from a file, from
//! the real LiteLLM file and from a LiteLLM file served on loopback, `reset`, `check`
//! against Claude Code's own figures, the drift hint, and bad tables refused.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use ctm_testdata::{generate, Expected, GenConfig};
use serde_json::{json, Value};

use super::support::*;

/// Relative difference, in percent.
fn pct_off(got: f64, want: f64) -> f64 {
    ((got - want) / want).abs() * 100.0
}

fn december(env: &Env, seed: u64) -> (PathBuf, Expected) {
    let root = env.path().join(format!("dec-{seed}"));
    let exp = generate(&root, &GenConfig::december_2026(seed, 2_500_000)).unwrap();
    (root, exp)
}

/// Serves `body` to every request on a loopback port (a thread that lives as long as
/// the test process); returns the URL of `/prices.json`.
fn serve(body: Vec<u8>, status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://127.0.0.1:{port}/prices.json")
}

/// One assistant line with the usage fields of today's Claude Code.
#[allow(clippy::too_many_arguments)]
fn line(
    session: &str,
    msg: &str,
    ts: &str,
    model: &str,
    input: u64,
    output: u64,
    cache_read: u64,
    extra_usage: &str,
) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"{session}","cwd":"/home/u/proj","isSidechain":false,"timestamp":"{ts}","requestId":"r-{msg}","uuid":"u-{msg}","version":"2.1.293","message":{{"id":"{msg}","model":"{model}","role":"assistant","content":[{{"type":"text","text":"x"}}],"usage":{{"input_tokens":{input},"cache_creation_input_tokens":0,"cache_read_input_tokens":{cache_read},"output_tokens":{output}{extra_usage}}}}}}}"#
    )
}

fn cost_state(session: &str, total: f64, models: &[(&str, u64, f64)]) -> String {
    let usage: Vec<String> = models
        .iter()
        .map(|(m, input, usd)| {
            format!(
                r#""{m}":{{"inputTokens":{input},"outputTokens":0,"thinkingTokens":0,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":{usd}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"type":"cost-state","sessionId":"{session}","totalCostUSD":{total},"totalAPIDuration":1000,"totalToolDuration":10,"totalLinesAdded":1,"totalLinesRemoved":0,"modelUsage":{{{}}},"hasUnknownModelCost":false}}"#,
        usage.join(",")
    )
}

fn write_session(root: &Path, session: &str, lines: &[String]) {
    let dir = root.join("projects/-home-u-proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{session}.jsonl")),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

fn ctm_in(env: &Env, root: &Path) -> std::process::Command {
    let mut c = env.ctm();
    c.arg("--claude-dir")
        .arg(root)
        .env("CTM_NOW", "2026-12-06T12:00:00Z");
    c
}

fn total_cost(env: &Env, root: &Path) -> (f64, u64) {
    let v = json(ctm_in(env, root).args(["daily", "--json"]));
    (
        v["totals"]["totalCost"].as_f64().unwrap(),
        v["totals"]["unpricedResponses"].as_u64().unwrap(),
    )
}

fn db_check_is_clean(env: &Env) {
    let out = run(env.ctm().args(["db", "check"]));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok:"));
}

// ---- the December 2026 history --------------------------------------------------------

#[test]
fn a_december_2026_history_is_priced_in_full_within_0_05_percent() {
    let env = Env::new();
    let (root, exp) = december(&env, 11);
    let ingest = json(ctm_in(&env, &root).args(["ingest", "--json"]));
    // Today's line types are recognised: only the generator's planted bad lines skip.
    let skipped: u64 = ingest["skipped"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(skipped, exp.bad_lines.values().sum::<u64>());
    assert!(ingest["costStateLines"].as_u64().unwrap() >= exp.cost.claude_code.len() as u64);

    let (total, unpriced) = total_cost(&env, &root);
    assert_eq!(
        unpriced, exp.cost.unpriced_responses,
        "only the generator's mystery model"
    );
    assert!(
        pct_off(total, exp.cost.total_usd) < 0.05,
        "total {total} vs {}",
        exp.cost.total_usd
    );
    let models = json(ctm_in(&env, &root).args(["--no-ingest", "models", "--json"]));
    let mut seen = 0;
    for m in models["models"].as_array().unwrap() {
        let name = m["model"].as_str().unwrap();
        let Some(want) = exp.cost.by_model.get(name) else {
            assert_eq!(m["totalCost"].as_f64().unwrap(), 0.0, "{name}");
            continue;
        };
        let got = m["totalCost"].as_f64().unwrap();
        assert!(pct_off(got, *want) < 0.05, "{name}: {got} vs {want}");
        seen += 1;
    }
    assert_eq!(seen, exp.cost.by_model.len());
    let sessions = json(ctm_in(&env, &root).args(["--no-ingest", "session", "--json"]));
    for s in sessions["sessions"].as_array().unwrap() {
        let id = s["sessionId"].as_str().unwrap();
        let want = exp.cost.by_session.get(id).copied().unwrap_or(0.0);
        let got = s["totalCost"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= want * 0.0005 + 1e-9,
            "session {id}: {got} vs {want}"
        );
    }
    db_check_is_clean(&env);
}

#[test]
fn pricing_check_flags_exactly_the_planted_drifts() {
    let env = Env::new();
    let (root, exp) = december(&env, 12);
    let out = ctm_in(&env, &root)
        .args(["pricing", "check", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a session disagrees: exit 1");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["checked", "disagreeing", "sessions"]);
    let sessions = v["sessions"].as_array().unwrap();
    for s in sessions {
        let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "agrees",
                "claudeCodeCostUsd",
                "ctmCostUsd",
                "differencePct",
                "differenceUsd",
                "models",
                "sessionId",
                "source"
            ]
        );
        assert_eq!(s["source"], "cost-state");
        assert!(s["models"].as_array().unwrap().iter().all(Value::is_string));
    }
    let flagged: Vec<&str> = sessions
        .iter()
        .filter(|s| s["agrees"] == false)
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    let planted: Vec<&str> = exp
        .cost
        .claude_code
        .iter()
        .filter(|(_, f)| f.drifted)
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(planted.len() >= 3);
    assert_eq!(flagged, planted);
    assert_eq!(v["checked"], exp.cost.claude_code.len());
    assert_eq!(v["disagreeing"], planted.len());
    for s in sessions {
        let id = s["sessionId"].as_str().unwrap();
        assert!(
            (s["claudeCodeCostUsd"].as_f64().unwrap() - exp.cost.claude_code[id].cost_usd).abs()
                < 1e-9
        );
    }
    // The table names each drifted session and a likely cause.
    let out = ctm_in(&env, &root)
        .args(["--no-ingest", "pricing", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for id in &planted {
        assert!(text.contains(id), "{id} in {text}");
    }
    assert!(text.contains("Likely causes"), "{text}");
}

#[test]
fn pricing_check_agrees_within_one_percent_and_exits_0() {
    let env = Env::new();
    let root = env.root("root");
    let mut none = ctm_in(&env, &root);
    let out = none.args(["pricing", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No session has a cost figure"));
    // 1000 input + 1000 output of Opus 5.5 = $0.024; Claude Code says 0.5% more.
    write_session(
        &root,
        "s1",
        &[
            line(
                "s1",
                "m1",
                "2026-12-01T10:00:00Z",
                "claude-opus-5-5",
                1000,
                1000,
                0,
                "",
            ),
            cost_state(
                "s1",
                0.024 * 1.005,
                &[("claude-opus-5-5[1m]", 1000, 0.024 * 1.005)],
            ),
        ],
    );
    let out = ctm_in(&env, &root)
        .args(["pricing", "check", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["checked"], 1);
    assert_eq!(v["disagreeing"], 0);
    let s = &v["sessions"][0];
    assert_eq!(s["agrees"], true);
    assert_eq!(s["models"], json!(["claude-opus-5-5"]));
    assert!((s["ctmCostUsd"].as_f64().unwrap() - 0.024).abs() < 1e-12);
}

#[test]
fn the_statusline_keeps_claude_codes_cost_for_pricing_check() {
    let env = Env::new();
    let root = env.root("root");
    write_session(
        &root,
        "s1",
        &[line(
            "s1",
            "m1",
            "2026-12-01T10:00:00Z",
            "claude-sonnet-5-5",
            1000,
            1000,
            0,
            "",
        )],
    );
    // $0.012 by the table; the statusline says $0.05.
    let mut sl = ctm_in(&env, &root);
    sl.arg("statusline")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = sl.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"session_id":"s1","model":{"id":"claude-sonnet-5-5[1m]"},"cost":{"total_cost_usd":0.05}}"#)
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let out = ctm_in(&env, &root)
        .args(["--no-ingest", "pricing", "check", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["sessions"][0];
    assert_eq!(s["source"], "statusline");
    assert_eq!(s["claudeCodeCostUsd"], 0.05);
    assert_eq!(s["agrees"], false);
    assert_eq!(s["models"], json!(["claude-sonnet-5-5"]));
}

#[test]
fn the_stderr_hint_suggests_an_update_when_many_sessions_of_a_model_disagree() {
    let env = Env::new();
    let root = env.root("root");
    // Three Fable 5.2 sessions that Claude Code bills 30% higher, one Opus 5.5 that agrees.
    for i in 0..3 {
        let s = format!("f{i}");
        write_session(
            &root,
            &s,
            &[
                line(
                    &s,
                    &format!("m{i}"),
                    "2026-12-01T10:00:00Z",
                    "claude-fable-5-2",
                    10_000,
                    1000,
                    0,
                    "",
                ),
                // 10000 x 8 + 1000 x 40 = $0.12 by the table.
                cost_state(&s, 0.156, &[("claude-fable-5-2", 10_000, 0.156)]),
            ],
        );
    }
    write_session(
        &root,
        "ok",
        &[
            line(
                "ok",
                "mo",
                "2026-12-01T10:00:00Z",
                "claude-opus-5-5",
                1000,
                1000,
                0,
                "",
            ),
            cost_state("ok", 0.024, &[("claude-opus-5-5", 1000, 0.024)]),
        ],
    );
    let out = run(ctm_in(&env, &root).args(["daily", "--json"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("ctm pricing update").count(), 1, "{err}");
    assert!(
        err.contains("3 of 3 sessions that used claude-fable-5-2"),
        "{err}"
    );
    // JSON on stdout stays clean.
    serde_json::from_slice::<Value>(&out.stdout).unwrap();
    // Two sessions are not "many": no hint.
    let env2 = Env::new();
    let root2 = env2.root("root");
    for i in 0..2 {
        let s = format!("f{i}");
        write_session(
            &root2,
            &s,
            &[
                line(
                    &s,
                    &format!("m{i}"),
                    "2026-12-01T10:00:00Z",
                    "claude-fable-5-2",
                    10_000,
                    1000,
                    0,
                    "",
                ),
                cost_state(&s, 0.156, &[("claude-fable-5-2", 10_000, 0.156)]),
            ],
        );
    }
    let out = run(ctm_in(&env2, &root2).args(["daily"]));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("pricing update"));
}

// ---- today's lines --------------------------------------------------------------------

#[test]
fn todays_line_types_are_not_bad_lines_and_the_nested_cache_sum_counts() {
    let env = Env::new();
    let root = env.root("root");
    let nested = r#","cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"speed":"standard","inference_geo":"","output_tokens_details":{"thinking_tokens":3}"#;
    write_session(
        &root,
        "s1",
        &[
            r#"{"type":"queue-operation","operation":"enqueue","timestamp":"2026-12-01T09:59:00.000Z","sessionId":"s1","content":"go"}"#.to_owned(),
            r#"{"type":"atis-latch","sessionId":"s1","timestamp":"2026-12-01T09:59:01.000Z","latched":true}"#.to_owned(),
            r#"{"parentUuid":null,"isSidechain":false,"type":"attachment","attachment":{"type":"hook_additional_context","content":["x"],"usage":{"contextTokens":4}},"uuid":"a1","timestamp":"2026-12-01T09:59:02.000Z","sessionId":"s1","cwd":"/home/u/proj"}"#.to_owned(),
            line("s1", "m1", "2026-12-01T10:00:00Z", "claude-haiku-5-5", 100, 10, 0, nested),
            r#"{"type":"system","subtype":"compact_boundary","content":"Conversation compacted","compactMetadata":{"trigger":"auto","preTokens":187000,"postTokens":21000},"timestamp":"2026-12-01T10:01:00.000Z","uuid":"c1","sessionId":"s1"}"#.to_owned(),
            r#"{"type":"last-prompt","lastPrompt":"bye","sessionId":"s1"}"#.to_owned(),
            cost_state("s1", 0.00061, &[("claude-haiku-5-5", 100, 0.00061)]),
        ],
    );
    let r = json(ctm_in(&env, &root).args(["ingest", "--json"]));
    assert_eq!(r["skipped"], json!({}), "{r}");
    assert_eq!(r["costStateLines"], 1);
    let v = json(ctm_in(&env, &root).args(["--no-ingest", "daily", "--json"]));
    // The flat field is 0; the breakdown's 3000 writes count.
    assert_eq!(v["totals"]["cacheCreationTokens"], 3000);
    // 100 x 0.1 + 10 x 0.5 + 1000 x 0.125 + 2000 x 0.2 = 540 per 1e6.
    assert!((v["totals"]["totalCost"].as_f64().unwrap() - 0.000_54).abs() < 1e-12);
}

// ---- ctm pricing --------------------------------------------------------------------

#[test]
fn pricing_shows_the_rates_in_force_today_with_dated_and_banded_rates() {
    let env = Env::new();
    let root = env.root("root");
    let text =
        String::from_utf8(run(ctm_in(&env, &root).env("COLUMNS", "220").arg("pricing")).stdout)
            .unwrap();
    assert!(
        text.contains("Price table builtin-2026-12-06 (as of 2026-12-06), embedded"),
        "{text}"
    );
    assert!(
        text.contains("cache read 0.2 -> 0.1 from 2026-10-07"),
        "{text}"
    );
    assert!(
        text.contains("prompt > 100,000: 0.5 / 2.5 / 0.625 / 1 / 0.05"),
        "{text}"
    );
    assert!(text.contains("fast x2 2026-05-28 to 2026-11-30"), "{text}");
    let rates = |now: &str| {
        let v = json(ctm_in(&env, &root).env("CTM_NOW", now).args([
            "--no-ingest",
            "pricing",
            "--json",
        ]));
        let m = v["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "claude-sonnet-5-5")
            .unwrap()
            .clone();
        (v, m)
    };
    let (v, sonnet) = rates("2026-10-06T23:00:00Z");
    assert_eq!(v["version"], "builtin-2026-12-06");
    assert_eq!(v["asOf"], "2026-12-06");
    assert_eq!(v["origin"], "embedded");
    assert_eq!(sonnet["today"]["cacheRead"], 0.2);
    assert_eq!(sonnet["dated"][0]["from"], "2026-10-07");
    let (_, sonnet) = rates("2026-10-07T00:00:00Z");
    assert_eq!(sonnet["today"]["cacheRead"], 0.1);
    let (v, _) = rates("2026-12-06T00:00:00Z");
    let opus48 = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "claude-opus-4-8")
        .unwrap();
    assert_eq!(
        opus48["fastMultiplierToday"],
        Value::Null,
        "fast mode ended 2026-11-30"
    );
    assert_eq!(opus48["fast"][0]["until"], "2026-11-30");
}

// ---- update and reset ---------------------------------------------------------------

/// A LiteLLM-format file pricing a model the embedded table lacks, and disagreeing with
/// a curated row.
fn litellm_file() -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers"},
        "claude-opus-6": {
            "litellm_provider": "anthropic", "mode": "chat",
            "input_cost_per_token": 6e-06, "output_cost_per_token": 3e-05,
            "cache_creation_input_token_cost": 7.5e-06, "cache_creation_input_token_cost_above_1hr": 1.2e-05,
            "cache_read_input_token_cost": 3e-07, "input_cost_per_token_batches": 3e-06,
            "provider_specific_entry": {"us": 1.1, "fast": 2},
            "search_context_cost_per_query": {"search_context_size_low": 0.01, "search_context_size_medium": 0.01, "search_context_size_high": 0.01},
            "supports_vision": true, "max_input_tokens": 1000000
        },
        "claude-sonnet-5-5": {
            "litellm_provider": "anthropic", "mode": "chat",
            "input_cost_per_token": 2e-06, "output_cost_per_token": 1e-05,
            "cache_creation_input_token_cost": 2.5e-06, "cache_creation_input_token_cost_above_1hr": 4e-06,
            "cache_read_input_token_cost": 1e-07
        },
        "bedrock/anthropic.claude-opus-6-v1:0": {
            "litellm_provider": "bedrock", "mode": "chat",
            "input_cost_per_token": 9e-06, "output_cost_per_token": 4e-05
        }
    }))
    .unwrap()
}

#[test]
fn a_litellm_file_on_loopback_prices_a_model_the_table_lacks_and_reprices_history() {
    let env = Env::new();
    let root = env.root("root");
    // 1000 input + 1000 output of claude-opus-6, and of Sonnet 5.5 before its cut.
    write_session(
        &root,
        "s1",
        &[
            line(
                "s1",
                "m1",
                "2026-12-01T10:00:00Z",
                "claude-opus-6",
                1000,
                1000,
                0,
                "",
            ),
            line(
                "s1",
                "m2",
                "2026-10-01T10:00:00Z",
                "claude-sonnet-5-5",
                0,
                0,
                1_000_000,
                "",
            ),
        ],
    );
    let (before, unpriced) = total_cost(&env, &root);
    assert_eq!(unpriced, 1);
    assert!(
        (before - 0.2).abs() < 1e-12,
        "Sonnet 5.5's read before the cut: {before}"
    );

    let url = serve(litellm_file(), "200 OK");
    let out = run(ctm_in(&env, &root).args(["pricing", "update", "--from", &url]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Models added: claude-opus-6."), "{said}");
    assert!(
        said.contains("Kept ctm's curated rows where LiteLLM differs"),
        "{said}"
    );
    assert!(
        said.contains("claude-sonnet-5-5 (dated or banded rules)"),
        "{said}"
    );
    // 1000 x 6 + 1000 x 30 = $0.036 more; responses repriced: the Opus 6 one changed cost.
    assert!(
        said.contains("Repriced 2 responses: 1 changed cost; total $0.20 -> $0.24 (+$0.04)"),
        "{said}"
    );

    // History is repriced, Sonnet 5.5's dated read kept ($0.20 before the cut).
    let (after, unpriced) = total_cost(&env, &root);
    assert_eq!(unpriced, 0);
    assert!((after - 0.236).abs() < 1e-12, "{after}");
    db_check_is_clean(&env);

    // Kept in the store: a later process (the server is not asked again) prices new
    // responses of the model with it.
    let v = json(ctm_in(&env, &root).args(["--no-ingest", "pricing", "--json"]));
    assert_eq!(v["origin"], "stored");
    assert_eq!(v["updatedFrom"]["format"], "litellm");
    assert_eq!(v["updatedFrom"]["source"], url);
    assert!(v["version"]
        .as_str()
        .unwrap()
        .starts_with("table-2026-12-06-"));
    assert!(v["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "claude-opus-6"));
    write_session(
        &root,
        "s2",
        &[line(
            "s2",
            "m3",
            "2026-12-02T10:00:00Z",
            "claude-opus-6",
            1000,
            0,
            0,
            "",
        )],
    );
    let (later, unpriced) = total_cost(&env, &root);
    assert_eq!(unpriced, 0);
    assert!((later - (0.236 + 0.006)).abs() < 1e-12, "{later}");
    db_check_is_clean(&env);

    // With no --from, `[pricing] update_url` in the config is where it reads.
    let cfg = env.path().join("config.toml");
    std::fs::write(&cfg, format!("[pricing]\nupdate_url = \"{url}\"\n")).unwrap();
    let v = json(
        ctm_in(&env, &root)
            .env("CTM_CONFIG", &cfg)
            .args(["pricing", "update", "--json"]),
    );
    assert_eq!(v["source"], url);
    assert_eq!(v["format"], "litellm");
    assert_eq!(v["modelsAdded"], json!([]), "already in force");
    assert_eq!(v["repriced"]["costChanged"], 0);
}

#[test]
fn the_real_litellm_file_is_merged_under_the_curated_table() {
    let env = Env::new();
    let root = env.root("root");
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ctm-pricing/tests/data/litellm-1.110.2-claude.json");
    let v = json(
        ctm_in(&env, &root)
            .arg("pricing")
            .arg("update")
            .arg("--from")
            .arg(&file)
            .arg("--json"),
    );
    assert_eq!(v["format"], "litellm");
    assert_eq!(v["entriesRead"], 22);
    assert_eq!(v["modelsAdded"], json!(["claude-mythos-preview"]));
    assert_eq!(v["modelsRemoved"], json!([]));
    assert_eq!(v["ratesChanged"], json!([]), "no curated rate replaced");
    let kept: Vec<&str> = v["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["model"].as_str().unwrap())
        .collect();
    for m in ["claude-sonnet-5-5", "claude-opus-4-8", "claude-opus-4-6"] {
        assert!(kept.contains(&m), "{m} in {kept:?}");
    }
    // Fable 5.2, which LiteLLM lacks, is still priced.
    let p = json(ctm_in(&env, &root).args(["--no-ingest", "pricing", "--json"]));
    assert!(p["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "claude-fable-5-2"));
}

/// A table in ctm's format: the embedded one with Opus 5.5's input at $3.
fn own_table(env: &Env) -> PathBuf {
    let embedded = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ctm-pricing/prices.toml"),
    )
    .unwrap();
    let changed = embedded.replacen(
        "id = \"claude-opus-5-5\"\ninput = 4.0",
        "id = \"claude-opus-5-5\"\ninput = 3.0",
        1,
    );
    assert_ne!(changed, embedded);
    let path = env.path().join("mine.toml");
    std::fs::write(&path, changed).unwrap();
    path
}

#[test]
fn a_table_in_ctms_format_replaces_the_one_in_force_and_reset_brings_back_the_embedded() {
    let env = Env::new();
    let root = env.root("root");
    write_session(
        &root,
        "s1",
        &[line(
            "s1",
            "m1",
            "2026-12-01T10:00:00Z",
            "claude-opus-5-5",
            1_000_000,
            0,
            0,
            "",
        )],
    );
    assert!((total_cost(&env, &root).0 - 4.0).abs() < 1e-12);
    let table = own_table(&env);
    let out = run(ctm_in(&env, &root)
        .arg("pricing")
        .arg("update")
        .arg("--from")
        .arg(&table));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("claude-opus-5-5 input: 4.0 -> 3.0"), "{said}");
    assert!(said.contains("total $4.00 -> $3.00 (-$1.00)"), "{said}");
    assert!((total_cost(&env, &root).0 - 3.0).abs() < 1e-12);
    db_check_is_clean(&env);

    let v = json(ctm_in(&env, &root).args(["pricing", "reset", "--json"]));
    assert_eq!(v["version"], "builtin-2026-12-06");
    assert_eq!(v["ratesChanged"][0]["what"], "input");
    assert!((v["differenceUsd"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    assert!((total_cost(&env, &root).0 - 4.0).abs() < 1e-12);
    db_check_is_clean(&env);
    let out = run(ctm_in(&env, &root).args(["pricing", "reset"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already in force"));
}

#[test]
fn a_bad_table_changes_nothing_and_exits_2() {
    let env = Env::new();
    let root = env.root("root");
    write_session(
        &root,
        "s1",
        &[line(
            "s1",
            "m1",
            "2026-12-01T10:00:00Z",
            "claude-opus-5-5",
            1_000_000,
            0,
            0,
            "",
        )],
    );
    run(ctm_in(&env, &root).arg("ingest"));
    let good = own_table(&env);
    let good_text = std::fs::read_to_string(&good).unwrap();
    let entry = |fields: &str| {
        format!(
            r#"{{"claude-opus-6": {{"litellm_provider": "anthropic", "mode": "chat", {fields}}}}}"#
        )
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "broken.toml",
            "as_of = \"2026-12-06\"\n[[models]\n".into(),
            "invalid TOML at line 2",
        ),
        (
            "huge.toml",
            good_text.replacen("input = 3.0", "input = 1e308", 1),
            "claude-opus-5-5).input = 1e308 is above the ceiling",
        ),
        (
            "unknown.toml",
            good_text.replacen("input = 3.0", "input = 3.0\ninptu = 3", 1),
            "unknown key models[6] (claude-opus-5-5).inptu",
        ),
        (
            "negative.json",
            entry(r#""input_cost_per_token": -1e-6, "output_cost_per_token": 1e-5"#),
            "claude-opus-6.input_cost_per_token = -1 is negative",
        ),
        (
            "huge.json",
            entry(r#""input_cost_per_token": 1e300, "output_cost_per_token": 1e-5"#),
            "claude-opus-6.input_cost_per_token = 1e306 is above the ceiling",
        ),
        (
            "unknown.json",
            entry(
                r#""input_cost_per_token": 1e-6, "output_cost_per_token": 1e-5, "input_cost_per_token_cache_hit": 2e-6"#,
            ),
            "unknown price field",
        ),
        (
            "cut.json",
            "{\"claude-opus-6\": {\"input_cost".into(),
            "not a LiteLLM price file",
        ),
    ];
    for (name, text, want) in cases {
        let path = env.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = ctm_in(&env, &root)
            .arg("pricing")
            .arg("update")
            .arg("--from")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            err.contains(want) && err.contains("nothing was changed"),
            "{name}: {err}"
        );
        let v = json(ctm_in(&env, &root).args(["--no-ingest", "pricing", "--json"]));
        assert_eq!(v["version"], "builtin-2026-12-06", "{name}");
        assert!((total_cost(&env, &root).0 - 4.0).abs() < 1e-12, "{name}");
    }
    // A server answering 404, and plain HTTP to another host, change nothing either.
    let url = serve(b"not here".to_vec(), "404 Not Found");
    let out = ctm_in(&env, &root)
        .args(["pricing", "update", "--from", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
    let out = ctm_in(&env, &root)
        .args([
            "pricing",
            "update",
            "--from",
            "http://example.com/prices.json",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only to a loopback address"));
    let v = json(ctm_in(&env, &root).args(["--no-ingest", "pricing", "--json"]));
    assert_eq!(v["version"], "builtin-2026-12-06");
}

#[test]
fn absurd_price_override_is_refused_when_the_config_is_loaded() {
    // Issue 18, item 7: 1e308 is finite, but a cost made of it overflowed to infinity
    // and every command then failed on a NOT NULL constraint.
    let env = Env::new();
    let root = env.root("root");
    write_session(
        &root,
        "s1",
        &[line(
            "s1",
            "m1",
            "2026-12-01T10:00:00Z",
            "claude-opus-5-5",
            1000,
            0,
            0,
            "",
        )],
    );
    let cfg = env.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[pricing.models.\"claude-opus-5-5\"]\ninput = 1e308\n",
    )
    .unwrap();
    let out = ctm_in(&env, &root)
        .env("CTM_CONFIG", &cfg)
        .arg("daily")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("pricing.models.\"claude-opus-5-5\".input = 1e308 is above the ceiling of 10000 USD per million tokens"),
        "{err}"
    );
    // Nothing was stored with it: without the override the store is sound.
    let (total, _) = total_cost(&env, &root);
    assert!((total - 0.004).abs() < 1e-12);
}
