//! The reports through the real binary: every format on the real fixture, totals that
//! match the fixture's, blocks against an independent computation, hand-built data whose
//! expected figures are worked out below in three zones, and snapshots of every table.

use std::path::Path;

use serde_json::Value;

use super::support::*;

const ZONES: [&str; 3] = ["UTC", "America/New_York", "Asia/Tokyo"];
const H: i64 = 3_600_000;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn int_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn rows<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array in {v}"))
}

/// A store holding the real fixture; reports then run with `--no-ingest`.
fn fixture_env() -> Env {
    let env = Env::new();
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
    env
}

/// `ctm --no-ingest ARGS --json`.
fn report(env: &Env, args: &[&str]) -> Value {
    json(env.ctm().arg("--no-ingest").args(args).arg("--json"))
}

/// `ctm --no-ingest ARGS`, stdout.
fn text(env: &Env, args: &[&str]) -> String {
    String::from_utf8(run(env.ctm().arg("--no-ingest").args(args)).stdout).unwrap()
}

/// `ctm --no-ingest ARGS`, expected to fail: with exit code 2 when the arguments cannot
/// work (usage), 1 when running found a problem; stderr.
fn failure(env: &Env, args: &[&str]) -> String {
    let out = env.ctm().arg("--no-ingest").args(args).output().unwrap();
    let usage = args.iter().any(|a| a.starts_with("--"));
    assert_eq!(
        out.status.code(),
        Some(if usage { 2 } else { 1 }),
        "{args:?} should fail"
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Every report with the arguments that make it answer on the fixture.
const REPORTS: [&[&str]; 12] = [
    &["weekly"],
    &["weekly", "--start-of-week", "sunday"],
    &["monthly"],
    &["session"],
    &["session", "258c7280"],
    &["project"],
    &["models"],
    &["hourly"],
    &["top", "--limit", "3"],
    &["trend", "--until", "2026-02-12"],
    &["cache"],
    &["blocks"],
];

#[test]
fn fixture_every_report_answers_as_table_json_and_csv() {
    let env = fixture_env();
    for args in REPORTS {
        let args: Vec<&str> = args.iter().copied().chain(["--timezone", "UTC"]).collect();
        let table = text(&env, &args);
        assert!(
            table.contains('┌') && table.contains('┘'),
            "{args:?}: {table}"
        );
        let v = report(&env, &args);
        assert!(v.is_object(), "{args:?}: {v}");
        let csv_args: Vec<&str> = args.iter().copied().chain(["--csv"]).collect();
        let csv_text =
            String::from_utf8(run(env.ctm().arg("--no-ingest").args(&csv_args)).stdout).unwrap();
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        let width = reader.headers().unwrap().len();
        assert!(width > 2, "{args:?}: {csv_text}");
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert!(!records.is_empty(), "{args:?}: no CSV rows");
        assert!(records.iter().all(|r| r.len() == width), "{args:?}");
    }
}

#[test]
fn fixture_report_totals_equal_the_fixture_totals() {
    let env = fixture_env();
    let utc = ["--timezone", "UTC"];
    let totals_of = |args: &[&str]| {
        let args: Vec<&str> = args.iter().chain(&utc).copied().collect();
        daily_totals(&report(&env, &args))
    };
    for args in [
        &["session"][..],
        &["project"],
        &["models"],
        &["monthly"],
        &["weekly"],
        &["weekly", "--start-of-week", "wednesday"],
        &["hourly"],
        &["trend", "--until", "2026-02-12", "--days", "5"],
    ] {
        assert_eq!(totals_of(args), FIXTURE_TOTALS, "{args:?}");
    }
    // Rows add up to the totals.
    let weekly = report(&env, &["weekly", "--timezone", "America/Los_Angeles"]);
    let responses: u64 = rows(&weekly, "weekly")
        .iter()
        .map(|w| int_of(&w["responses"]))
        .sum();
    assert_eq!(responses, FIXTURE_TOTALS.0);
    let sessions = report(&env, &["session", "--timezone", "UTC"]);
    assert_eq!(rows(&sessions, "sessions").len(), 9);
    let projects = report(&env, &["project", "--timezone", "UTC"]);
    let sessions_in_projects: u64 = rows(&projects, "projects")
        .iter()
        .map(|p| int_of(&p["sessions"]))
        .sum();
    // One session ran in two folders (a project and its assets/ subfolder).
    assert_eq!(sessions_in_projects, 10);

    // The cache report carries no output column: the other four sums and the responses.
    let cache = report(&env, &["cache", "--timezone", "UTC"]);
    let t = &cache["totals"];
    let (n, input, _, write, read) = FIXTURE_TOTALS;
    assert_eq!(
        [
            t["responses"].as_u64(),
            t["inputTokens"].as_u64(),
            t["cacheCreationTokens"].as_u64(),
            t["cacheReadTokens"].as_u64()
        ],
        [Some(n), Some(input), Some(write), Some(read)]
    );
    let saved: f64 = rows(&cache, "days")
        .iter()
        .map(|d| num(&d["cacheSavingsUsd"]))
        .sum();
    assert!(close(saved, num(&t["cacheSavingsUsd"])));

    // Blocks and top days cover everything too.
    let blocks = report(&env, &["blocks", "--timezone", "UTC"]);
    let entries: u64 = rows(&blocks, "blocks")
        .iter()
        .map(|b| int_of(&b["entries"]))
        .sum();
    assert_eq!(entries, FIXTURE_TOTALS.0);
    let top = report(&env, &["top", "--limit", "50", "--timezone", "UTC"]);
    let top_days: u64 = rows(&top, "days")
        .iter()
        .map(|d| int_of(&d["responses"]))
        .sum();
    let top_sessions: u64 = rows(&top, "sessions")
        .iter()
        .map(|s| int_of(&s["responses"]))
        .sum();
    assert_eq!((top_days, top_sessions), (904, 904));

    // The model shares add up to one.
    let models = report(&env, &["models", "--timezone", "UTC"]);
    let (tokens, cost) = rows(&models, "models").iter().fold((0.0, 0.0), |a, m| {
        (a.0 + num(&m["tokenShare"]), a.1 + num(&m["costShare"]))
    });
    assert!(close(tokens, 1.0) && close(cost, 1.0), "{tokens} {cost}");
}

/// The block rule of claude-code-data.md, written again from the facts in the store.
#[test]
fn fixture_blocks_match_an_independent_computation() {
    let env = fixture_env();
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let facts: Vec<(i64, u64)> = conn
        .prepare(
            "SELECT ts, input_tokens + output_tokens + cache_write_5m_tokens + cache_write_1h_tokens \
             + cache_read_tokens FROM billed_responses ORDER BY ts",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // (start, first response, last response, responses, tokens)
    let mut expected: Vec<(i64, i64, i64, u64, u64)> = Vec::new();
    for (ts, tokens) in facts {
        match expected.last_mut() {
            Some(b) if ts - b.0 <= 5 * H && ts - b.2 <= 5 * H => {
                b.2 = ts;
                b.3 += 1;
                b.4 += tokens;
            }
            _ => expected.push((ts - ts.rem_euclid(H), ts, ts, 1, tokens)),
        }
    }
    let iso = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    };
    let mut lines = Vec::new();
    for (i, b) in expected.iter().enumerate() {
        // ccusage's gap: more than 5 h of silence, from 5 h after the last response.
        if let Some(prev) = i.checked_sub(1).map(|p| expected[p]) {
            if b.1 - prev.2 > 5 * H {
                lines.push(format!("gap-{}", iso(prev.2 + 5 * H)));
            }
        }
        lines.push(format!("{} {} {}", iso(b.0), b.3, b.4));
    }
    assert_eq!(lines.len(), 6, "four blocks and two gaps: {lines:?}");
    for zone in ["UTC", "Asia/Tokyo"] {
        let v = report(&env, &["blocks", "--timezone", zone]);
        let got: Vec<String> = rows(&v, "blocks")
            .iter()
            .map(|b| {
                if b["isGap"] == true {
                    b["id"].as_str().unwrap().to_owned()
                } else {
                    format!(
                        "{} {} {}",
                        b["id"].as_str().unwrap(),
                        b["entries"],
                        b["totalTokens"]
                    )
                }
            })
            .collect();
        assert_eq!(got, lines, "{zone}");
        assert!(
            rows(&v, "blocks").iter().all(|b| b["isActive"] == false),
            "nothing is active months later"
        );
    }
    // A gap ends at the next block's first response.
    let v = report(&env, &["blocks", "--timezone", "UTC"]);
    let first_gap = &rows(&v, "blocks")[1];
    assert_eq!(first_gap["endTime"], "2026-02-11T20:36:47.925+00:00");
    let tokyo = report(&env, &["blocks", "--timezone", "Asia/Tokyo"]);
    assert_eq!(
        rows(&tokyo, "blocks")[0]["startTime"],
        "2026-02-11T06:00:00.000+09:00"
    );
}

// --- Hand-built data -------------------------------------------------------------------
//
// Prices per million tokens: opus-4-6 input 5, output 25, cache write 6.25, read 0.50;
// haiku-4-5 input 1, output 5, cache write 1.25, read 0.10. Savings = what the cached
// tokens would cost as input minus what they cost: opus -1.25 per written and +4.5 per
// read token, haiku -0.25 and +0.9 (per million).
//
//      instant (UTC)          session  project      model  in    out   write  read    cost     saved
// R1  2026-03-07T23:30Z      s-alpha  /work/alpha  opus   1000  2000  10000  100000  0.1675   0.4375
// R2  2026-03-08T00:30Z      s-alpha  /work/alpha  opus   1000  4000      0  110000  0.16     0.495
// R3  2026-03-08T07:30Z (*)  s-beta   /work/beta   haiku  2000  1000  20000       0  0.032   -0.005
// R4  2026-03-08T09:00Z      s-beta   /work/beta   opus    500  1000      0   50000  0.0525   0.225
// R7  2026-04-01T02:00Z      s-delta  /work/beta   haiku  1000     0      0       0  0.001    0
// R5  2026-11-01T05:30Z      s-gamma  /work/alpha  opus    100   100      0       0  0.003    0
// R6  2026-11-01T06:30Z      s-gamma  /work/alpha  opus    100   100      0       0  0.003    0
// (*) written as 2026-03-08T16:30:00+09:00. A "usage limit reached" notice at 09:30Z says
// the limit resets at 12:00Z (1772971200).
//
// New York: R1 18:30 and R2 19:30 EST on Sat 03-07; the clocks jump at 07:00Z, so R3 is
// 03:30 and R4 05:00 EDT on Sun 03-08; R7 is 22:00 EDT on Tue 03-31; R5 and R6 are both
// 01:30 on Sun 11-01, before (EDT) and after (EST) the clocks go back.
// Tokyo: R1-R4 on Sun 03-08 (08:30, 09:30, 16:30, 18:00); R7 11:00 Wed 04-01; R5 and R6
// 14:30 and 15:30 on Sun 11-01.

fn usage_line(
    session: &str,
    cwd: &str,
    msg: &str,
    ts: &str,
    model: &str,
    [input, output, write, read]: [u64; 4],
) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"{session}","cwd":"{cwd}","isSidechain":false,"timestamp":"{ts}","requestId":"req_{msg}","uuid":"u_{msg}","message":{{"id":"{msg}","model":"{model}","role":"assistant","content":[{{"type":"text","text":"x"}}],"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{write},"cache_read_input_tokens":{read},"cache_creation":{{"ephemeral_5m_input_tokens":{write},"ephemeral_1h_input_tokens":0}},"output_tokens":{output}}}}}}}"#
    )
}

fn write_session(root: &Path, folder: &str, session: &str, lines: &[String]) {
    let dir = root.join("projects").join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{session}.jsonl")),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

const OPUS: &str = "claude-opus-4-6";
const HAIKU: &str = "claude-haiku-4-5-20251001";

fn hand_built_env() -> Env {
    let env = Env::new();
    let root = env.root("root");
    let alpha = "/work/alpha";
    let beta = "/work/beta";
    write_session(
        &root,
        "-work-alpha",
        "s-alpha",
        &[
            usage_line(
                "s-alpha",
                alpha,
                "m1",
                "2026-03-07T23:30:00.000Z",
                OPUS,
                [1000, 2000, 10_000, 100_000],
            ),
            usage_line(
                "s-alpha",
                alpha,
                "m2",
                "2026-03-08T00:30:00.000Z",
                OPUS,
                [1000, 4000, 0, 110_000],
            ),
        ],
    );
    write_session(
        &root,
        "-work-beta",
        "s-beta",
        &[
            usage_line("s-beta", beta, "m3", "2026-03-08T16:30:00+09:00", HAIKU, [2000, 1000, 20_000, 0]),
            r#"{"type":"assistant","sessionId":"s-beta","cwd":"/work/beta","timestamp":"2026-03-08T09:30:00Z","isApiErrorMessage":true,"message":{"id":"x","model":"<synthetic>","content":[{"type":"text","text":"Claude AI usage limit reached|1772971200"}],"usage":{"input_tokens":0,"output_tokens":0}}}"#.to_owned(),
            usage_line("s-beta", beta, "m4", "2026-03-08T09:00:00.000Z", OPUS, [500, 1000, 0, 50_000]),
        ],
    );
    write_session(
        &root,
        "-work-beta",
        "s-delta",
        &[usage_line(
            "s-delta",
            beta,
            "m7",
            "2026-04-01T02:00:00.000Z",
            HAIKU,
            [1000, 0, 0, 0],
        )],
    );
    write_session(
        &root,
        "-work-alpha",
        "s-gamma",
        &[
            usage_line(
                "s-gamma",
                alpha,
                "m5",
                "2026-11-01T05:30:00.000Z",
                OPUS,
                [100, 100, 0, 0],
            ),
            usage_line(
                "s-gamma",
                alpha,
                "m6",
                "2026-11-01T06:30:00.000Z",
                OPUS,
                [100, 100, 0, 0],
            ),
        ],
    );
    let r = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["ingest", "--json"]),
    );
    assert_eq!(r["responsesAdded"], 7);
    env
}

/// (key, responses, cost) of each row.
fn keyed(v: &Value, array: &str, key: &str, cost: &str) -> Vec<(String, u64, f64)> {
    rows(v, array)
        .iter()
        .map(|r| {
            (
                r[key].as_str().unwrap().to_owned(),
                int_of(&r["responses"]),
                num(&r[cost]),
            )
        })
        .collect()
}

fn assert_rows(got: &[(String, u64, f64)], want: &[Want], what: &str) {
    let same = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| g.0 == w.0 && g.1 == w.1 && close(g.2, w.2));
    assert!(same, "{what}: got {got:?}, want {want:?}");
}

/// (key, responses, cost) of a row as a test expects it.
type Want = (&'static str, u64, f64);
/// A zone and what it expects.
type InZone<T> = (&'static str, T);

/// (weekday, hour, responses).
type BusyHour = (&'static str, u64, u64);
/// (date, cache write, cache read, saved).
type CacheDay = (&'static str, u64, u64, f64);

const ALL: (u64, u64, u64, u64, u64) = (7, 5700, 8200, 30_000, 260_000);
const ALL_COST: f64 = 0.419;

#[test]
fn weeks_and_months_in_three_zones() {
    let env = hand_built_env();
    let expect: [InZone<[&[Want]; 3]>; 3] = [
        (
            "UTC",
            [
                &[
                    ("2026-03-02", 4, 0.412),
                    ("2026-03-30", 1, 0.001),
                    ("2026-10-26", 2, 0.006),
                ],
                &[
                    ("2026-03-01", 1, 0.1675),
                    ("2026-03-08", 3, 0.2445),
                    ("2026-03-29", 1, 0.001),
                    ("2026-11-01", 2, 0.006),
                ],
                &[
                    ("2026-03", 4, 0.412),
                    ("2026-04", 1, 0.001),
                    ("2026-11", 2, 0.006),
                ],
            ],
        ),
        (
            "America/New_York",
            [
                &[
                    ("2026-03-02", 4, 0.412),
                    ("2026-03-30", 1, 0.001),
                    ("2026-10-26", 2, 0.006),
                ],
                &[
                    ("2026-03-01", 2, 0.3275),
                    ("2026-03-08", 2, 0.0845),
                    ("2026-03-29", 1, 0.001),
                    ("2026-11-01", 2, 0.006),
                ],
                // R7 is still March 31 in New York.
                &[("2026-03", 5, 0.413), ("2026-11", 2, 0.006)],
            ],
        ),
        (
            "Asia/Tokyo",
            [
                &[
                    ("2026-03-02", 4, 0.412),
                    ("2026-03-30", 1, 0.001),
                    ("2026-10-26", 2, 0.006),
                ],
                &[
                    ("2026-03-08", 4, 0.412),
                    ("2026-03-29", 1, 0.001),
                    ("2026-11-01", 2, 0.006),
                ],
                &[
                    ("2026-03", 4, 0.412),
                    ("2026-04", 1, 0.001),
                    ("2026-11", 2, 0.006),
                ],
            ],
        ),
    ];
    for (zone, [monday, sunday, months]) in expect {
        let v = report(&env, &["weekly", "--timezone", zone]);
        assert_eq!(v["startOfWeek"], "monday");
        assert_rows(&keyed(&v, "weekly", "week", "totalCost"), monday, zone);
        assert_eq!(daily_totals(&v), ALL);
        assert!(close(num(&v["totals"]["totalCost"]), ALL_COST));
        let v = report(
            &env,
            &["weekly", "--start-of-week", "sunday", "--timezone", zone],
        );
        assert_rows(&keyed(&v, "weekly", "week", "totalCost"), sunday, zone);
        let v = report(&env, &["monthly", "--timezone", zone]);
        assert_rows(&keyed(&v, "monthly", "month", "totalCost"), months, zone);
        assert_eq!(daily_totals(&v), ALL);
    }
    // The same row shape as daily.
    let v = report(&env, &["monthly", "--timezone", "UTC"]);
    let march = &rows(&v, "monthly")[0];
    assert_eq!(march["modelsUsed"], serde_json::json!([HAIKU, OPUS]));
    assert_eq!(march["totalTokens"], 113_000 + 115_000 + 23_000 + 51_500);
    assert_eq!(march["modelBreakdowns"][0]["modelName"], OPUS);
    // Newest first.
    let v = report(&env, &["weekly", "--order", "desc", "--timezone", "UTC"]);
    assert_eq!(rows(&v, "weekly")[0]["week"], "2026-10-26");
    // --since/--until pick local days before grouping.
    let v = report(
        &env,
        &[
            "weekly",
            "--since",
            "2026-03-08",
            "--until",
            "20260401",
            "--timezone",
            "America/New_York",
        ],
    );
    assert_rows(
        &keyed(&v, "weekly", "week", "totalCost"),
        &[("2026-03-02", 2, 0.0845), ("2026-03-30", 1, 0.001)],
        "range",
    );
}

#[test]
fn filters_select_projects_and_models_in_every_report() {
    let env = hand_built_env();
    // Daily accepts the filters too, computed from the facts.
    let v = report(&env, &["daily", "--project", "BETA", "--timezone", "UTC"]);
    assert_rows(
        &keyed(&v, "daily", "date", "totalCost"),
        &[("2026-03-08", 2, 0.0845), ("2026-04-01", 1, 0.001)],
        "daily --project",
    );
    let v = report(&env, &["daily", "--model", "haiku", "--timezone", "UTC"]);
    assert_rows(
        &keyed(&v, "daily", "date", "totalCost"),
        &[("2026-03-08", 1, 0.032), ("2026-04-01", 1, 0.001)],
        "daily --model",
    );
    let alpha = (4, 2200, 6200, 10_000, 210_000);
    for args in [
        &["weekly"][..],
        &["monthly"],
        &["session"],
        &["project"],
        &["models"],
        &["hourly"],
    ] {
        let args: Vec<&str> = args
            .iter()
            .copied()
            .chain(["--project", "alpha", "--timezone", "Asia/Tokyo"])
            .collect();
        assert_eq!(daily_totals(&report(&env, &args)), alpha, "{args:?}");
    }
    let v = report(
        &env,
        &[
            "models",
            "--model",
            "opus",
            "--project",
            "beta",
            "--timezone",
            "UTC",
        ],
    );
    assert_eq!(rows(&v, "models").len(), 1);
    assert_eq!(v["totals"]["responses"], 1, "R4 only");
    let v = report(&env, &["cache", "--model", "opus", "--timezone", "UTC"]);
    assert_eq!(v["totals"]["responses"], 5);
    assert!(close(
        num(&v["totals"]["cacheSavingsUsd"]),
        0.4375 + 0.495 + 0.225
    ));
    let v = report(&env, &["blocks", "--project", "alpha", "--timezone", "UTC"]);
    let ids: Vec<&str> = rows(&v, "blocks")
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "2026-03-07T23:00:00.000Z",
            "gap-2026-03-08T05:30:00.000Z",
            "2026-11-01T05:00:00.000Z"
        ]
    );
    let v = report(
        &env,
        &["daily", "--project", "nowhere", "--timezone", "UTC"],
    );
    assert_eq!(rows(&v, "daily").len(), 0);
}

#[test]
fn sessions_in_three_zones() {
    let env = hand_built_env();
    // (zone, alpha first/last, gamma first/last)
    let expect = [
        (
            "UTC",
            [
                "2026-03-07T23:30:00.000+00:00",
                "2026-03-08T00:30:00.000+00:00",
            ],
            [
                "2026-11-01T05:30:00.000+00:00",
                "2026-11-01T06:30:00.000+00:00",
            ],
        ),
        (
            "America/New_York",
            [
                "2026-03-07T18:30:00.000-05:00",
                "2026-03-07T19:30:00.000-05:00",
            ],
            // The same wall-clock time twice: the hour the clocks go back.
            [
                "2026-11-01T01:30:00.000-04:00",
                "2026-11-01T01:30:00.000-05:00",
            ],
        ),
        (
            "Asia/Tokyo",
            [
                "2026-03-08T08:30:00.000+09:00",
                "2026-03-08T09:30:00.000+09:00",
            ],
            [
                "2026-11-01T14:30:00.000+09:00",
                "2026-11-01T15:30:00.000+09:00",
            ],
        ),
    ];
    for (zone, alpha, gamma) in expect {
        let v = report(&env, &["session", "--timezone", zone]);
        assert_eq!(daily_totals(&v), ALL, "{zone}");
        let s = rows(&v, "sessions");
        let ids: Vec<&str> = s.iter().map(|s| s["sessionId"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            ["s-alpha", "s-beta", "s-delta", "s-gamma"],
            "by last activity"
        );
        let span = |s: &Value| [s["firstActivity"].clone(), s["lastActivity"].clone()];
        assert_eq!(span(&s[0]), alpha.map(Value::from), "{zone}");
        assert_eq!(span(&s[3]), gamma.map(Value::from), "{zone}");
        assert_eq!(s[0]["durationMinutes"], 60.0);
        assert_eq!(s[3]["durationMinutes"], 60.0);
        assert_eq!(s[1]["durationMinutes"], 90.0);
    }
    let v = report(&env, &["session", "--timezone", "UTC"]);
    let alpha = &rows(&v, "sessions")[0];
    assert_eq!(alpha["projectPath"], "/work/alpha");
    assert_eq!(alpha["responses"], 2);
    assert_eq!(alpha["totalTokens"], 228_000);
    assert!(close(num(&alpha["totalCost"]), 0.3275));
    assert!(close(num(&alpha["efficiencyScore"]), 210_000.0 / 222_000.0));
    assert_eq!(alpha["mainModel"], OPUS);
    let beta = &rows(&v, "sessions")[1];
    // Haiku wrote 23,000 tokens, opus 51,500.
    assert_eq!(beta["modelsUsed"], serde_json::json!([HAIKU, OPUS]));
    assert_eq!(beta["mainModel"], OPUS);

    // A session crossing midnight is cut by --since in the report's zone.
    let v = report(
        &env,
        &[
            "session",
            "--since",
            "2026-03-08",
            "--until",
            "2026-03-08",
            "--timezone",
            "UTC",
        ],
    );
    let s = rows(&v, "sessions");
    assert_eq!(
        (s[0]["sessionId"].as_str(), s[0]["responses"].as_u64()),
        (Some("s-alpha"), Some(1))
    );
    let v = report(
        &env,
        &[
            "session",
            "--since",
            "2026-03-08",
            "--until",
            "2026-03-08",
            "--timezone",
            "America/New_York",
        ],
    );
    let ids: Vec<&str> = rows(&v, "sessions")
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s-beta"]);

    // One session response by response, by a unique prefix.
    let d = report(&env, &["session", "s-b", "--timezone", "Asia/Tokyo"]);
    assert_eq!(d["session"]["sessionId"], "s-beta");
    let r = rows(&d, "responses");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["timestamp"], "2026-03-08T16:30:00.000+09:00");
    assert_eq!(r[0]["model"], HAIKU);
    assert!(close(num(&r[0]["cumulativeCost"]), 0.032));
    assert!(close(num(&r[1]["cumulativeCost"]), 0.0845));
    let d = report(
        &env,
        &["session", "s-beta", "--order", "desc", "--timezone", "UTC"],
    );
    assert_eq!(
        rows(&d, "responses")[0]["timestamp"],
        "2026-03-08T09:00:00.000+00:00"
    );
    let table = text(&env, &["session", "s-alpha", "--timezone", "UTC"]);
    assert!(
        table.contains("2026-03-07 23:30:00") && table.contains("2026-03-08 00:30:00"),
        "{table}"
    );
    let err = failure(&env, &["session", "s-"]);
    assert!(
        err.contains("matches several sessions") && err.contains("s-alpha"),
        "{err}"
    );
    let err = failure(&env, &["session", "nope"]);
    assert!(err.contains("no session starts with"), "{err}");
}

#[test]
fn projects_and_models_in_three_zones() {
    let env = hand_built_env();
    for zone in ZONES {
        let v = report(&env, &["project", "--timezone", zone]);
        assert_eq!(daily_totals(&v), ALL);
        let p = rows(&v, "projects");
        // Ordered by last activity: beta's is April 1, alpha's November 1.
        let got: Vec<(&str, u64, u64, u64)> = p
            .iter()
            .map(|p| {
                (
                    p["projectPath"].as_str().unwrap(),
                    int_of(&p["sessions"]),
                    int_of(&p["responses"]),
                    int_of(&p["totalTokens"]),
                )
            })
            .collect();
        assert_eq!(
            got,
            [("/work/beta", 2, 3, 75_500), ("/work/alpha", 2, 4, 228_400)],
            "{zone}"
        );
        assert!(close(num(&p[0]["totalCost"]), 0.0855));
        assert!(close(num(&p[1]["totalCost"]), 0.3335));

        let v = report(&env, &["models", "--timezone", zone]);
        let m = rows(&v, "models");
        assert_eq!(m[0]["model"], OPUS, "most expensive first");
        assert_eq!(
            (m[0]["responses"].as_u64(), m[1]["responses"].as_u64()),
            (Some(5), Some(2))
        );
        assert_eq!(m[0]["totalTokens"], 279_900);
        assert!(close(num(&m[0]["tokenShare"]), 279_900.0 / 303_900.0));
        assert!(close(num(&m[0]["costShare"]), 0.386 / 0.419));
        assert!(close(num(&m[1]["costShare"]), 0.033 / 0.419));
        assert!(close(num(&m[0]["cacheHitRate"]), 260_000.0 / 270_000.0));
        assert_eq!(m[1]["cacheHitRate"], 0.0);
    }
}

#[test]
fn hourly_in_three_zones() {
    let env = hand_built_env();
    let expect: [InZone<&[BusyHour]>; 3] = [
        (
            "UTC",
            &[
                ("Wed", 2, 1),
                ("Sat", 23, 1),
                ("Sun", 0, 1),
                ("Sun", 5, 1),
                ("Sun", 6, 1),
                ("Sun", 7, 1),
                ("Sun", 9, 1),
            ],
        ),
        // R5 and R6: both 01:30 on the Sunday the clocks go back.
        (
            "America/New_York",
            &[
                ("Tue", 22, 1),
                ("Sat", 18, 1),
                ("Sat", 19, 1),
                ("Sun", 1, 2),
                ("Sun", 3, 1),
                ("Sun", 5, 1),
            ],
        ),
        (
            "Asia/Tokyo",
            &[
                ("Wed", 11, 1),
                ("Sun", 8, 1),
                ("Sun", 9, 1),
                ("Sun", 14, 1),
                ("Sun", 15, 1),
                ("Sun", 16, 1),
                ("Sun", 18, 1),
            ],
        ),
    ];
    for (zone, want) in expect {
        let v = report(&env, &["hourly", "--timezone", zone]);
        let cells = rows(&v, "cells");
        assert_eq!(cells.len(), 168);
        assert_eq!(
            (&cells[0]["weekday"], &cells[0]["hour"]),
            (&Value::from("Mon"), &Value::from(0))
        );
        let busy: Vec<(&str, u64, u64)> = cells
            .iter()
            .filter(|c| c["responses"] != 0)
            .map(|c| {
                (
                    c["weekday"].as_str().unwrap(),
                    int_of(&c["hour"]),
                    int_of(&c["responses"]),
                )
            })
            .collect();
        assert_eq!(busy, want, "{zone}");
        let by_hour = rows(&v, "byHour");
        assert_eq!(by_hour.len(), 24);
        assert_eq!(
            by_hour.iter().map(|h| int_of(&h["responses"])).sum::<u64>(),
            7
        );
        assert_eq!(v["timezone"], zone);
    }
    let v = report(&env, &["hourly", "--timezone", "America/New_York"]);
    let one_am = &rows(&v, "byHour")[1];
    assert_eq!(
        (one_am["responses"].as_u64(), one_am["tokens"].as_u64()),
        (Some(2), Some(400))
    );
    assert!(close(num(&one_am["cost"]), 0.006));
    // The table: Sunday's 01:00 is the busiest cell (full block), narrow tables use
    // 3-hour buckets.
    let wide = text(&env, &["hourly", "--timezone", "America/New_York"]);
    let sunday = wide.lines().find(|l| l.contains("Sun")).unwrap();
    // 01:00 holds 2 responses (the maximum), 03:00 and 05:00 one each.
    assert!(sunday.contains("  ██  ▒▒  ▒▒  "), "{wide}");
    let narrow = String::from_utf8(
        run(env.ctm().env("COLUMNS", "80").args([
            "--no-ingest",
            "hourly",
            "--timezone",
            "America/New_York",
        ]))
        .stdout,
    )
    .unwrap();
    assert!(
        narrow.contains("3 hours") && narrow.contains("0  3  6  9  12"),
        "{narrow}"
    );
}

#[test]
fn top_in_three_zones() {
    let env = hand_built_env();
    let expect: [(&str, [(&str, f64); 2]); 3] = [
        ("UTC", [("2026-03-08", 0.2445), ("2026-03-07", 0.1675)]),
        (
            "America/New_York",
            [("2026-03-07", 0.3275), ("2026-03-08", 0.0845)],
        ),
        ("Asia/Tokyo", [("2026-03-08", 0.412), ("2026-11-01", 0.006)]),
    ];
    for (zone, days) in expect {
        let v = report(&env, &["top", "--limit", "2", "--timezone", zone]);
        let got: Vec<(&str, f64)> = rows(&v, "days")
            .iter()
            .map(|d| (d["date"].as_str().unwrap(), num(&d["totalCost"])))
            .collect();
        assert!(
            got.len() == 2
                && got
                    .iter()
                    .zip(&days)
                    .all(|(g, w)| g.0 == w.0 && close(g.1, w.1)),
            "{zone}: {got:?}"
        );
        let sessions: Vec<&str> = rows(&v, "sessions")
            .iter()
            .map(|s| s["sessionId"].as_str().unwrap())
            .collect();
        assert_eq!(sessions, ["s-alpha", "s-beta"]);
        assert_eq!(v["limit"], 2);
    }
    let err = failure(&env, &["top", "--limit", "0"]);
    assert!(err.contains("--limit"), "{err}");
}

#[test]
fn trend_in_three_zones() {
    let env = hand_built_env();
    // Noon UTC on March 9: still March 9 in New York (08:00) and in Tokyo (21:00).
    let now = "2026-03-09T12:00:00Z";
    let expect: [InZone<&[Want]>; 3] = [
        (
            "UTC",
            &[("2026-03-07", 1, 0.1675), ("2026-03-08", 3, 0.2445)],
        ),
        (
            "America/New_York",
            &[("2026-03-07", 2, 0.3275), ("2026-03-08", 2, 0.0845)],
        ),
        ("Asia/Tokyo", &[("2026-03-08", 4, 0.412)]),
    ];
    for (zone, busy) in expect {
        let v = json(env.ctm().env("CTM_NOW", now).args([
            "--no-ingest",
            "trend",
            "--json",
            "--timezone",
            zone,
        ]));
        let days = keyed(&v, "days", "date", "totalCost");
        let dates: Vec<&str> = days.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(
            dates,
            [
                "2026-03-03",
                "2026-03-04",
                "2026-03-05",
                "2026-03-06",
                "2026-03-07",
                "2026-03-08",
                "2026-03-09"
            ],
            "{zone}: seven days ending today, zero days included"
        );
        let with_usage: Vec<(String, u64, f64)> = days.into_iter().filter(|d| d.1 > 0).collect();
        assert_rows(&with_usage, busy, zone);
        assert_eq!(
            (v["from"].as_str(), v["to"].as_str()),
            (Some("2026-03-03"), Some("2026-03-09"))
        );
        assert_eq!(v["totals"]["responses"], 4);
    }
    // Hit rate of 2026-03-08 in UTC: R2-R4 wrote 20,000 and read 160,000.
    let v = json(env.ctm().env("CTM_NOW", now).args([
        "--no-ingest",
        "trend",
        "--json",
        "--days",
        "2",
        "--timezone",
        "UTC",
    ]));
    let d = rows(&v, "days");
    assert_eq!(d.len(), 2);
    assert!(close(num(&d[0]["cacheHitRate"]), 160_000.0 / 180_000.0));
    assert_eq!(d[1]["totalCost"], 0.0);
    // The table's sparkline: the costliest day is a full block, days without cost the floor.
    let table = String::from_utf8(
        run(env.ctm().env("CTM_NOW", now).args([
            "--no-ingest",
            "trend",
            "--timezone",
            "America/New_York",
        ]))
        .stdout,
    )
    .unwrap();
    // March 7 ($0.3275) is the top; March 8 ($0.0845) is 0.258 of it: round(1.8) = step 3 of 8.
    assert!(table.contains("▁▁▁▁█▃▁"), "{table}");
    // --until moves the window.
    let v = report(
        &env,
        &[
            "trend",
            "--until",
            "2026-04-01",
            "--days",
            "3",
            "--timezone",
            "America/New_York",
        ],
    );
    let busy: Vec<(String, u64, f64)> = keyed(&v, "days", "date", "totalCost")
        .into_iter()
        .filter(|d| d.1 > 0)
        .collect();
    assert_rows(&busy, &[("2026-03-31", 1, 0.001)], "until");
    let err = failure(&env, &["trend", "--days", "0"]);
    assert!(err.contains("--days"), "{err}");
}

#[test]
fn cache_in_three_zones() {
    let env = hand_built_env();
    // (date, write, read, saved)
    let expect: [InZone<&[CacheDay]>; 3] = [
        (
            "UTC",
            &[
                ("2026-03-07", 10_000, 100_000, 0.4375),
                ("2026-03-08", 20_000, 160_000, 0.715),
                ("2026-04-01", 0, 0, 0.0),
                ("2026-11-01", 0, 0, 0.0),
            ],
        ),
        (
            "America/New_York",
            &[
                ("2026-03-07", 10_000, 210_000, 0.9325),
                ("2026-03-08", 20_000, 50_000, 0.22),
                ("2026-03-31", 0, 0, 0.0),
                ("2026-11-01", 0, 0, 0.0),
            ],
        ),
        (
            "Asia/Tokyo",
            &[
                ("2026-03-08", 30_000, 260_000, 1.1525),
                ("2026-04-01", 0, 0, 0.0),
                ("2026-11-01", 0, 0, 0.0),
            ],
        ),
    ];
    for (zone, want) in expect {
        let v = report(&env, &["cache", "--timezone", zone]);
        let days = rows(&v, "days");
        assert_eq!(days.len(), want.len(), "{zone}");
        for (d, w) in days.iter().zip(want) {
            assert_eq!(d["date"], w.0);
            assert_eq!(
                (
                    int_of(&d["cacheCreationTokens"]),
                    int_of(&d["cacheReadTokens"])
                ),
                (w.1, w.2),
                "{zone} {}",
                w.0
            );
            assert!(
                close(num(&d["cacheSavingsUsd"]), w.3),
                "{zone} {}: {}",
                w.0,
                d["cacheSavingsUsd"]
            );
            let hit = if w.1 + w.2 == 0 {
                0.0
            } else {
                w.2 as f64 / (w.1 + w.2) as f64
            };
            assert!(close(num(&d["hitRate"]), hit));
        }
        let t = &v["totals"];
        assert!(close(num(&t["cacheSavingsUsd"]), 1.1525));
        assert!(close(num(&t["hitRate"]), 260_000.0 / 290_000.0));
        assert!(close(num(&t["totalCost"]), ALL_COST));
    }
    // R3's day saved a negative amount on its own: writes cost more than input.
    let v = report(&env, &["cache", "--model", "haiku", "--timezone", "UTC"]);
    assert!(close(num(&rows(&v, "days")[0]["cacheSavingsUsd"]), -0.005));
    let table = text(&env, &["cache", "--model", "haiku", "--timezone", "UTC"]);
    assert!(table.contains("-$0.01"), "{table}");
}

#[test]
fn blocks_in_three_zones() {
    let env = hand_built_env();
    let ids = [
        "2026-03-07T23:00:00.000Z",
        "gap-2026-03-08T05:30:00.000Z",
        "2026-03-08T07:00:00.000Z",
        "gap-2026-03-08T14:00:00.000Z",
        "2026-04-01T02:00:00.000Z",
        "gap-2026-04-01T07:00:00.000Z",
        "2026-11-01T05:00:00.000Z",
    ];
    // The last block's start and end in each zone: it ends after New York's clocks went back.
    let last = [
        (
            "UTC",
            "2026-11-01T05:00:00.000+00:00",
            "2026-11-01T10:00:00.000+00:00",
        ),
        (
            "America/New_York",
            "2026-11-01T01:00:00.000-04:00",
            "2026-11-01T05:00:00.000-05:00",
        ),
        (
            "Asia/Tokyo",
            "2026-11-01T14:00:00.000+09:00",
            "2026-11-01T19:00:00.000+09:00",
        ),
    ];
    for (zone, start, end) in last {
        let v = report(&env, &["blocks", "--timezone", zone]);
        let b = rows(&v, "blocks");
        let got: Vec<&str> = b.iter().map(|b| b["id"].as_str().unwrap()).collect();
        assert_eq!(
            got, ids,
            "{zone}: block boundaries never depend on the zone"
        );
        assert_eq!(
            (b[6]["startTime"].as_str(), b[6]["endTime"].as_str()),
            (Some(start), Some(end))
        );
        assert!(
            b.iter().all(|b| b["isActive"] == false),
            "November 22 is long after"
        );

        let first = &b[0];
        assert_eq!(
            (first["entries"].as_u64(), first["totalTokens"].as_u64()),
            (Some(2), Some(228_000))
        );
        assert_eq!(
            first["tokenCounts"],
            serde_json::json!({"inputTokens": 2000, "outputTokens": 6000, "cacheCreationInputTokens": 10000, "cacheReadInputTokens": 210000})
        );
        assert!(close(num(&first["costUSD"]), 0.3275));
        // 228,000 tokens and $0.3275 over the 60 minutes from 23:30 to 00:30.
        assert!(close(num(&first["burnRate"]["tokensPerMinute"]), 3800.0));
        assert!(close(num(&first["burnRate"]["costPerHour"]), 0.3275));
        assert_eq!(first["projection"], Value::Null);
        let gap = &b[1];
        assert_eq!(
            (gap["isGap"].as_bool(), gap["entries"].as_u64()),
            (Some(true), Some(0))
        );
        assert_eq!(gap["burnRate"], Value::Null);
        let second = &b[2];
        assert!(close(
            num(&second["burnRate"]["tokensPerMinute"]),
            74_500.0 / 90.0
        ));
        assert!(close(
            num(&second["burnRate"]["costPerHour"]),
            0.0845 / 90.0 * 60.0
        ));
        // One response: its block's average over the 5 minutes a rate is never under.
        assert_eq!(b[4]["burnRate"]["windowMinutes"], 5.0);
        assert_eq!(b[4]["burnRate"]["basis"], "activeSpan");
        assert!(close(
            num(&b[4]["burnRate"]["tokensPerMinute"]),
            num(&b[4]["totalTokens"]) / 5.0
        ));
        assert_eq!(first.get("usageLimitResetTime"), None);
    }
    let v = report(&env, &["blocks", "--timezone", "Asia/Tokyo"]);
    assert_eq!(
        rows(&v, "blocks")[2]["usageLimitResetTime"],
        "2026-03-08T21:00:00.000+09:00"
    );

    // --since/--until keep what starts on those local days: 23:00Z on March 7 is March 8
    // in Tokyo.
    let day = |zone: &str| -> Vec<String> {
        let v = report(
            &env,
            &[
                "blocks",
                "--since",
                "2026-03-08",
                "--until",
                "2026-03-08",
                "--timezone",
                zone,
            ],
        );
        rows(&v, "blocks")
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(day("UTC"), ids[1..4]);
    assert_eq!(day("Asia/Tokyo"), ids[0..4]);
    assert_eq!(day("America/New_York"), ids[1..4]);
    let v = report(&env, &["blocks", "--order", "desc", "--timezone", "UTC"]);
    assert_eq!(rows(&v, "blocks")[0]["id"], ids[6]);
}

#[test]
fn active_block_burn_rate_projection_and_token_limit() {
    let env = hand_built_env();
    // 07:00Z on November 1: the block of R5 (05:30) and R6 (06:30) runs until 10:00.
    let at = |args: &[&str]| {
        let mut c = env.ctm();
        c.env("CTM_NOW", "2026-11-01T07:00:00Z")
            .arg("--no-ingest")
            .args(args);
        c
    };
    let v = json(at(&["blocks", "--json", "--timezone", "America/New_York"]).arg("--active"));
    let b = rows(&v, "blocks");
    assert_eq!(b.len(), 1);
    let active = &b[0];
    assert_eq!(
        (active["id"].as_str(), active["isActive"].as_bool()),
        (Some("2026-11-01T05:00:00.000Z"), Some(true))
    );
    // The trailing hour (06:00 to 07:00) holds R6 alone: 200 tokens and $0.003.
    assert_eq!(active["burnRate"]["basis"], "trailingHour");
    assert_eq!(active["burnRate"]["windowMinutes"], 60.0);
    assert!(close(
        num(&active["burnRate"]["tokensPerMinute"]),
        200.0 / 60.0
    ));
    assert!(close(num(&active["burnRate"]["costPerHour"]), 0.003));
    // 180 minutes left: 400 + 200/60 x 180 tokens, $0.006 + $0.003 x 3.
    assert_eq!(active["projection"]["remainingMinutes"], 180);
    assert_eq!(active["projection"]["totalTokens"], 1000);
    assert_eq!(active["projection"]["inputOutputTokens"], 1000);
    assert!(close(num(&active["projection"]["totalCost"]), 0.015));
    assert_eq!(v["now"], "2026-11-01T02:00:00.000-05:00");
    assert_eq!(v["warnings"], serde_json::json!([]));

    // An hour after R6 with nothing since: the rate is 0 and the projection is what was
    // used, however much of the block is left.
    for now in ["2026-11-01T07:30:00Z", "2026-11-01T09:59:00Z"] {
        let v = json(env.ctm().env("CTM_NOW", now).args([
            "--no-ingest",
            "blocks",
            "--json",
            "--active",
            "--timezone",
            "UTC",
        ]));
        let idle = &rows(&v, "blocks")[0];
        assert_eq!(idle["burnRate"]["tokensPerMinute"], 0.0, "{now}");
        assert_eq!(idle["burnRate"]["costPerHour"], 0.0, "{now}");
        assert_eq!(idle["projection"]["totalTokens"], 400, "{now}");
        assert!(close(num(&idle["projection"]["totalCost"]), 0.006), "{now}");
    }

    // --recent: the last three days, so the gap that started in April is left out.
    let v = json(&mut at(&[
        "blocks",
        "--json",
        "--recent",
        "--timezone",
        "UTC",
    ]));
    assert_eq!(rows(&v, "blocks").len(), 1);

    // Limits: the projection is 1,000 tokens.
    let limit = |n: &str| {
        json(&mut at(&[
            "blocks",
            "--json",
            "--active",
            "--timezone",
            "UTC",
            "--token-limit",
            n,
        ]))
    };
    let v = limit("1250");
    assert_eq!(v["tokenLimit"], 1250);
    assert_eq!(
        rows(&v, "blocks")[0]["tokenLimitStatus"],
        serde_json::json!({"limit": 1250, "projectedUsage": 1000, "percentUsed": 80.0, "status": "warning"})
    );
    assert_eq!(
        v["warnings"],
        serde_json::json!([{"blockId": "2026-11-01T05:00:00.000Z", "level": "warning", "basis": "projected", "tokens": 1000, "limit": 1250, "percent": 80.0}])
    );
    let v = limit("1000");
    assert_eq!(
        (
            v["warnings"][0]["level"].as_str(),
            v["warnings"][0]["basis"].as_str()
        ),
        (Some("exceeds"), Some("projected"))
    );
    let v = limit("500");
    // 400 used is 80%: the used tokens already warn, and the projection exceeds.
    assert_eq!(v["warnings"][0]["basis"], "projected");
    assert_eq!(v["warnings"][0]["percent"], 200.0);
    let table = String::from_utf8(
        run(&mut at(&[
            "blocks",
            "--active",
            "--timezone",
            "UTC",
            "--token-limit",
            "400",
        ]))
        .stdout,
    )
    .unwrap();
    assert!(
        table.contains(
            "limit exceeded: the active block has used 100.0% of the 400-token limit (400 tokens)."
        ),
        "{table}"
    );
    let v = limit("1300");
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert_eq!(rows(&v, "blocks")[0]["tokenLimitStatus"]["status"], "ok");
    // max: the largest finished block, 228,000 tokens.
    let v = limit("max");
    assert_eq!(v["tokenLimit"], 228_000);
    assert_eq!(v["warnings"], serde_json::json!([]));

    // The table says it below the blocks.
    let table = String::from_utf8(
        run(&mut at(&[
            "blocks",
            "--timezone",
            "UTC",
            "--token-limit",
            "1000",
        ]))
        .stdout,
    )
    .unwrap();
    assert!(
        table.contains("Active block: 2026-11-01 05:00 to 2026-11-01 10:00"),
        "{table}"
    );
    let table = table.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        table.contains("Burn rate over the last 60 minutes: 3 tokens/min, $0.00/h. At this rate the block ends at 1,000 tokens, $0.02"),
        "{table}"
    );
    assert!(
        table.contains(
            "warning: at this rate the active block reaches 100.0% of the 1,000-token limit (1,000 tokens) by its end."
        ),
        "{table}"
    );
    assert!(table.contains("40.0%"), "the % of limit column: {table}");

    // Before the clocks go back: the notice in March, and no active block at all.
    let v = json(env.ctm().env("CTM_NOW", "2026-03-08T09:45:00Z").args([
        "--no-ingest",
        "blocks",
        "--json",
        "--active",
        "--timezone",
        "UTC",
    ]));
    let b = &rows(&v, "blocks")[0];
    assert_eq!(b["id"], "2026-03-08T07:00:00.000Z");
    assert_eq!(b["usageLimitResetTime"], "2026-03-08T12:00:00.000+00:00");
    let out = text(&env, &["blocks", "--active", "--timezone", "UTC"]);
    assert!(out.contains("No active block"), "{out}");

    let err = failure(&env, &["blocks", "--token-limit", "lots"]);
    assert!(err.contains("neither a positive number"), "{err}");
    let err = String::from_utf8(
        env.ctm()
            .env("CTM_NOW", "yesterday")
            .args(["--no-ingest", "blocks"])
            .output()
            .unwrap()
            .stderr,
    )
    .unwrap();
    assert!(err.contains("CTM_NOW"), "{err}");
}

// --- Snapshots ---------------------------------------------------------------------------

/// Every table at 80, 110 and 160 columns, on the real fixture. "Now" is 21:30 UTC on the
/// fixture's last day, inside its last block. Each table fits its width, keeps its
/// identifying columns and its sort key, and never breaks a word.
#[test]
fn snapshots_of_every_table_at_three_widths() {
    let env = fixture_env();
    let cases: [(&str, &[&str], &[&str]); 15] = [
        ("daily", &["daily"], &["Date", "Cost"]),
        (
            "daily_breakdown",
            &["daily", "--breakdown"],
            &["Date", "Cost"],
        ),
        ("weekly", &["weekly"], &["Week", "Cost"]),
        ("monthly", &["monthly"], &["Month", "Cost"]),
        (
            "session",
            &["session"],
            &["Session", "Last Activity", "Cost"],
        ),
        (
            "session_detail",
            &["session", "d6e0bada"],
            &["Time", "Cost"],
        ),
        (
            "project",
            &["project"],
            &["Project", "Last Activity", "Cost"],
        ),
        ("models", &["models"], &["Model", "Cost"]),
        ("hourly", &["hourly"], &["Day", "Responses"]),
        (
            "top",
            &["top", "--limit", "5"],
            &["Date", "Session", "Cost"],
        ),
        ("trend", &["trend"], &["Date", "Cost", "Cost Trend"]),
        ("cache", &["cache"], &["Date", "Hit Rate", "Saved"]),
        ("blocks", &["blocks"], &["Block Start", "Status", "Cost"]),
        (
            "blocks_active_limit",
            &["blocks", "--active", "--token-limit", "max"],
            &["Block Start", "Status", "Cost"],
        ),
        (
            "blocks_recent_limit",
            &["blocks", "--recent", "--token-limit", "20000000"],
            &["Block Start", "Status", "Cost"],
        ),
    ];
    for (name, args, kept) in cases {
        for columns in [80, 110, 160] {
            let out = run(env
                .ctm()
                .env("COLUMNS", columns.to_string())
                .env("NO_COLOR", "1")
                .env("CTM_NOW", "2026-02-12T21:30:00Z")
                .arg("--no-ingest")
                .args(args)
                .args(["--timezone", "UTC"]));
            let stdout = String::from_utf8(out.stdout).unwrap();
            assert_fits(&stdout, columns, name);
            for header in kept {
                assert!(
                    stdout.contains(header),
                    "{name} at {columns}: {header} must stay\n{stdout}"
                );
            }
            insta::assert_snapshot!(format!("{name}_{columns}"), stdout);
        }
    }
}

/// Every line of the table within `columns`, and every row of a table one line: no
/// cell wrapped (these reports have no column that may).
fn assert_fits(text: &str, columns: usize, name: &str) {
    for line in text.lines() {
        let table_line = line.starts_with('│') || line.starts_with('┌');
        if table_line {
            assert!(
                line.chars().count() <= columns,
                "{name} at {columns}: a line is {} wide\n{text}",
                line.chars().count()
            );
        }
        // A wrapped row starts a line with an empty first cell.
        assert!(
            !line.starts_with("│  ") || line.starts_with("│   └"),
            "{name} at {columns}: a row wrapped\n{text}"
        );
    }
}

/// `pricing` and `config list` at 80 columns: model names and keys whole, the table
/// within 80 columns.
#[test]
fn pricing_and_settings_fit_80_columns_without_breaking_a_name() {
    let env = fixture_env();
    let at80 = |args: &[&str]| {
        String::from_utf8(run(env.ctm().env("COLUMNS", "80").arg("--no-ingest").args(args)).stdout)
            .unwrap()
    };
    let pricing = at80(&["pricing"]);
    let table = ctm_pricing_ids(&env);
    for id in &table {
        assert!(
            pricing.lines().any(|l| l.contains(&format!("│ {id} "))),
            "{id} is broken or missing\n{pricing}"
        );
    }
    let config = at80(&["config", "list"]);
    for key in [
        "data_retention_days",
        "snapshot_interval_minutes",
        "schema_version",
        "timezone",
    ] {
        assert!(
            config.lines().any(|l| l.contains(&format!("│ {key} "))),
            "{key} is broken\n{config}"
        );
    }
    for text in [&pricing, &config] {
        for line in text.lines().filter(|l| l.starts_with('│')) {
            assert!(line.chars().count() <= 80, "{line}\n{text}");
        }
    }
}

/// The model ids of the price table, from `ctm pricing --json`.
fn ctm_pricing_ids(env: &Env) -> Vec<String> {
    let v = json(env.ctm().args(["--no-ingest", "pricing", "--json"]));
    rows(&v, "models")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}
