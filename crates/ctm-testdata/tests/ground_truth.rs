//! Checks the generator against an independent, deliberately naive re-count
//! of the files it wrote (serde_json::Value per line, the rules spelled out
//! once more here).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ctm_testdata::reference::{self, Billable};
use ctm_testdata::{generate, grow, CostTruth, Expected, GenConfig, Lineup, Totals, BAD_KINDS};
use serde_json::Value;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn jsonl_files(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    walk(&root.join("projects"), &mut all);
    all.into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect()
}

#[derive(Clone, Debug)]
struct Seen {
    input: u64,
    output: u64,
    cc: u64,
    cc5: u64,
    cc1: u64,
    cr: u64,
    web: u64,
    ts: i64,
    session: String,
    cwd: String,
    model: String,
    all_sidechain: bool,
    in_files: Vec<PathBuf>,
    only_echo: bool,
    first_line_output: u64,
    fast: bool,
    us: bool,
}

const MAX_TOKENS: u64 = 10_000_000_000;

/// None when the usage object is invalid (negative, absurd or non-numeric). The last two
/// are `speed == "fast"` and `inference_geo == "us"` as 0 or 1.
fn usage_fields(u: &Value) -> Option<[u64; 9]> {
    let get = |v: &Value, k: &str| -> Option<u64> {
        match v.get(k) {
            None => Some(0),
            Some(x) => x.as_u64().filter(|n| *n <= MAX_TOKENS),
        }
    };
    let input = get(u, "input_tokens")?;
    let output = get(u, "output_tokens")?;
    let mut cc = get(u, "cache_creation_input_tokens")?;
    let cr = get(u, "cache_read_input_tokens")?;
    let (cc5, cc1) = match u.get("cache_creation") {
        Some(b) => (
            get(b, "ephemeral_5m_input_tokens")?,
            get(b, "ephemeral_1h_input_tokens")?,
        ),
        None => (cc, 0),
    };
    // Older Claude Code wrote 0 beside a breakdown that holds the writes: its sum counts.
    if cc == 0 {
        cc = cc5 + cc1;
    }
    let web = match u.get("server_tool_use") {
        Some(s) => get(s, "web_search_requests")?,
        None => 0,
    };
    let fast = u64::from(u.get("speed").and_then(Value::as_str) == Some("fast"));
    let us = u64::from(u.get("inference_geo").and_then(Value::as_str) == Some("us"));
    Some([input, output, cc, cc5, cc1, cr, web, fast, us])
}

struct Recount {
    exp: Expected,
    keys: HashMap<(String, String), Seen>,
}

#[allow(clippy::too_many_arguments)]
fn record(
    keys: &mut HashMap<(String, String), Seen>,
    key: (String, String),
    f: [u64; 9],
    ts: i64,
    session: &str,
    cwd: &str,
    model: &str,
    sidechain: bool,
    file: &Path,
    echo: bool,
) {
    let [input, output, cc, cc5, cc1, cr, web, fast, us] = f;
    let (fast, us) = (fast == 1, us == 1);
    match keys.get_mut(&key) {
        None => {
            keys.insert(
                key,
                Seen {
                    input,
                    output,
                    cc,
                    cc5,
                    cc1,
                    cr,
                    web,
                    ts,
                    session: session.to_string(),
                    cwd: cwd.to_string(),
                    model: model.to_string(),
                    all_sidechain: sidechain,
                    in_files: vec![file.to_path_buf()],
                    only_echo: echo,
                    first_line_output: output,
                    fast,
                    us,
                },
            );
        }
        Some(s) => {
            // Every line of a response repeats the same non-output figures.
            assert_eq!(
                (s.input, s.cc, s.cc5, s.cc1, s.cr, s.web),
                (input, cc, cc5, cc1, cr, web),
                "{key:?}"
            );
            assert_eq!(s.session, session, "{key:?}");
            assert_eq!(s.cwd, cwd, "{key:?}");
            assert_eq!(s.model, model, "{key:?}");
            assert_eq!((s.fast, s.us), (fast, us), "{key:?}");
            s.output = s.output.max(output);
            s.ts = s.ts.min(ts);
            s.all_sidechain &= sidechain;
            s.only_echo &= echo;
            if !s.in_files.iter().any(|p| p == file) {
                s.in_files.push(file.to_path_buf());
            }
        }
    }
}

fn ts_ms(v: &Value) -> i64 {
    let s = v.as_str().expect("timestamp string");
    s.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .as_millisecond()
}

fn recount(root: &Path, seed: u64, zones: &[String]) -> Recount {
    let mut exp = Expected {
        seed,
        files: 0,
        bytes: 0,
        lines: 0,
        totals: Totals::default(),
        by_model: BTreeMap::new(),
        by_session: BTreeMap::new(),
        by_project: BTreeMap::new(),
        by_day: zones.iter().map(|z| (z.clone(), BTreeMap::new())).collect(),
        bad_lines: BAD_KINDS.iter().map(|k| (k.to_string(), 0)).collect(),
        sidechain_replays: 0,
        synthetic_errors: 0,
        limit_resets: Vec::new(),
        zones: zones.to_vec(),
        cost: CostTruth::default(),
    };
    let mut keys: HashMap<(String, String), Seen> = HashMap::new();
    let bad = |exp: &mut Expected, k: &str| *exp.bad_lines.get_mut(k).unwrap() += 1;
    for file in jsonl_files(root) {
        let data = std::fs::read(&file).unwrap();
        exp.files += 1;
        exp.bytes += data.len() as u64;
        exp.lines += data.iter().filter(|&&b| b == b'\n').count() as u64;
        let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&data);
        for raw in body.split(|&b| b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            let Ok(text) = std::str::from_utf8(raw) else {
                bad(&mut exp, "invalidUtf8");
                continue;
            };
            let Ok(v) = serde_json::from_str::<Value>(text) else {
                bad(&mut exp, "notJson");
                continue;
            };
            if !v.is_object() {
                bad(&mut exp, "notObject");
                continue;
            }
            let sidechain = v["isSidechain"].as_bool().unwrap_or(false);
            let session = v["sessionId"].as_str().unwrap_or("").to_string();
            let cwd = v["cwd"].as_str().unwrap_or("").to_string();
            match v["type"].as_str() {
                Some("assistant") => {
                    let msg = &v["message"];
                    if msg["model"] == "<synthetic>" {
                        assert_eq!(v["isApiErrorMessage"], true);
                        exp.synthetic_errors += 1;
                        let t = msg["content"][0]["text"].as_str().unwrap();
                        if let Some((_, epoch)) = t.split_once("limit reached|") {
                            exp.limit_resets.push(epoch.parse().unwrap());
                        }
                        continue;
                    }
                    let Some(u) = msg.get("usage") else { continue };
                    let Some(f) = usage_fields(u) else {
                        bad(&mut exp, "invalidUsage");
                        continue;
                    };
                    let key = match msg["id"].as_str() {
                        Some(id) => (
                            id.to_string(),
                            v["requestId"].as_str().unwrap_or("").to_string(),
                        ),
                        None => (
                            format!("uuid:{}", v["uuid"].as_str().unwrap()),
                            String::new(),
                        ),
                    };
                    let model = msg["model"].as_str().unwrap();
                    let ts = ts_ms(&v["timestamp"]);
                    record(
                        &mut keys, key, f, ts, &session, &cwd, model, sidechain, &file, false,
                    );
                }
                Some("cost-state") => {
                    // The latest figure of a session: cumulative, so the largest.
                    let usd = v["totalCostUSD"].as_f64().expect("a cost");
                    let e = exp.cost.claude_code.entry(session.clone()).or_default();
                    e.cost_usd = e.cost_usd.max(usd);
                }
                Some("progress") if v["data"]["type"] == "agent_progress" => {
                    let inner = &v["data"]["message"];
                    if inner["type"] != "assistant" {
                        continue;
                    }
                    let msg = &inner["message"];
                    let Some(u) = msg.get("usage") else { continue };
                    let f = usage_fields(u).expect("echo usage valid");
                    let key = (
                        msg["id"].as_str().unwrap().to_string(),
                        inner["requestId"].as_str().unwrap().to_string(),
                    );
                    // Inner and outer timestamps are the same instant.
                    let ts = ts_ms(&inner["timestamp"]);
                    assert_eq!(ts, ts_ms(&v["timestamp"]));
                    let model = msg["model"].as_str().unwrap();
                    record(
                        &mut keys, key, f, ts, &session, &cwd, model, sidechain, &file, true,
                    );
                }
                _ => {}
            }
        }
    }
    exp.limit_resets.sort_unstable();

    // Sidechain replays: an id already used earlier, under a new requestId.
    let mut by_id: HashMap<&str, Vec<(&str, i64)>> = HashMap::new();
    for ((id, req), s) in &keys {
        by_id
            .entry(id.as_str())
            .or_default()
            .push((req.as_str(), s.ts));
    }
    let mut replays = Vec::new();
    for ((id, req), s) in &keys {
        if s.all_sidechain
            && by_id[id.as_str()]
                .iter()
                .any(|(r, t)| r != req && *t < s.ts)
        {
            replays.push((id.clone(), req.clone()));
        }
    }
    exp.sidechain_replays = replays.len() as u64;
    for k in &replays {
        keys.remove(k);
    }

    let tzs: Vec<(String, jiff::tz::TimeZone)> = zones
        .iter()
        .map(|z| (z.clone(), jiff::tz::TimeZone::get(z).unwrap()))
        .collect();
    for s in keys.values() {
        let t = Totals {
            responses: 1,
            input_tokens: s.input,
            output_tokens: s.output,
            cache_creation_tokens: s.cc,
            cache_creation_5m_tokens: s.cc5,
            cache_creation_1h_tokens: s.cc1,
            cache_read_tokens: s.cr,
            web_search_requests: s.web,
        };
        exp.totals.add(&t);
        let priced = reference::price(&Billable {
            model: &s.model,
            ts_ms: s.ts,
            input: s.input,
            output: s.output,
            cache_5m: s.cc5,
            cache_1h: s.cc1,
            cache_read: s.cr,
            web_searches: s.web,
            fast: s.fast,
            us: s.us,
        });
        match priced {
            Some(c) => {
                exp.cost.total_usd += c;
                *exp.cost.by_model.entry(s.model.clone()).or_default() += c;
                *exp.cost.by_session.entry(s.session.clone()).or_default() += c;
            }
            None => exp.cost.unpriced_responses += 1,
        }
        exp.by_model.entry(s.model.clone()).or_default().add(&t);
        exp.by_session.entry(s.session.clone()).or_default().add(&t);
        exp.by_project.entry(s.cwd.clone()).or_default().add(&t);
        let ts = jiff::Timestamp::from_millisecond(s.ts).unwrap();
        for (name, tz) in &tzs {
            let day = ts.to_zoned(tz.clone()).date().to_string();
            exp.by_day
                .get_mut(name)
                .unwrap()
                .entry(day)
                .or_default()
                .add(&t);
        }
    }
    Recount { exp, keys }
}

fn assert_same(got: &Expected, want: &Expected) {
    assert_eq!(got.files, want.files, "files");
    assert_eq!(got.bytes, want.bytes, "bytes");
    assert_eq!(got.lines, want.lines, "lines");
    assert_eq!(got.bad_lines, want.bad_lines, "bad lines");
    assert_eq!(got.synthetic_errors, want.synthetic_errors, "synthetic");
    assert_eq!(got.limit_resets, want.limit_resets, "limit resets");
    assert_eq!(got.sidechain_replays, want.sidechain_replays, "replays");
    assert_eq!(got.totals, want.totals, "totals");
    assert_eq!(got.by_model, want.by_model, "by model");
    assert_eq!(got.by_project, want.by_project, "by project");
    assert_eq!(got.by_session, want.by_session, "by session");
    for z in &want.zones {
        assert_eq!(got.by_day[z], want.by_day[z], "by day in {z}");
    }
    // Costs are sums of floats in another order: equal to a billionth.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let (g, w) = (&got.cost, &want.cost);
    assert!(
        close(g.total_usd, w.total_usd),
        "cost {} vs {}",
        g.total_usd,
        w.total_usd
    );
    assert_eq!(g.unpriced_responses, w.unpriced_responses, "unpriced");
    for (name, a, b) in [
        ("model", &g.by_model, &w.by_model),
        ("session", &g.by_session, &w.by_session),
    ] {
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "cost by {name}"
        );
        for (k, v) in a {
            assert!(close(*v, b[k]), "cost of {name} {k}: {v} vs {}", b[k]);
        }
    }
    // (serde_json may read a float back one unit in the last place off.)
    assert_eq!(
        g.claude_code.keys().collect::<Vec<_>>(),
        w.claude_code.keys().collect::<Vec<_>>(),
        "sessions with Claude Code's figure"
    );
    for (k, v) in &g.claude_code {
        assert!(
            close(v.cost_usd, w.claude_code[k].cost_usd),
            "Claude Code's figure for {k}"
        );
    }
    let mut got = got.clone();
    got.cost = want.cost.clone();
    assert_eq!(&got, want);
}

fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = Vec::new();
    walk(root, &mut all);
    all.into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p.strip_prefix(root).unwrap().to_path_buf(), data)
        })
        .collect()
}

#[test]
fn same_seed_same_tree() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let ea = generate(a.path(), &GenConfig::small(7)).unwrap();
    let eb = generate(b.path(), &GenConfig::small(7)).unwrap();
    let ec = generate(c.path(), &GenConfig::small(8)).unwrap();
    assert_eq!(ea, eb);
    let (ta, tb, tc) = (tree(a.path()), tree(b.path()), tree(c.path()));
    assert!(ta.len() > 20);
    assert!(ta == tb, "same seed must give a byte-identical tree");
    assert!(ta != tc, "another seed must give another tree");
    assert_ne!(ea.totals, ec.totals);
}

#[test]
fn refuses_non_empty_dir() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("x"), "x").unwrap();
    let err = generate(d.path(), &GenConfig::small(1)).unwrap_err();
    assert!(err.to_string().contains("non-empty"), "{err}");
}

#[test]
fn ground_truth_matches_naive_recount() {
    for seed in 1..=8 {
        let d = tempfile::tempdir().unwrap();
        let cfg = GenConfig::small(seed);
        let exp = generate(d.path(), &cfg).unwrap();
        assert_same(&Expected::load(d.path()).unwrap(), &exp);
        let rc = recount(d.path(), seed, &cfg.zones);
        assert_same(&rc.exp, &exp);
        assert!(exp.totals.responses > 50, "{}", exp.totals.responses);
        let size = exp.bytes as f64 / cfg.target_bytes as f64;
        assert!((0.9..1.1).contains(&size), "size ratio {size}");
        coverage(d.path(), &exp, &rc);
    }
}

/// Every trap the rules describe appears in even a small corpus.
fn coverage(root: &Path, exp: &Expected, rc: &Recount) {
    for k in BAD_KINDS {
        assert!(exp.bad_lines[k] > 0, "no bad line of kind {k}");
    }
    assert!(exp.sidechain_replays > 0);
    assert!(exp.synthetic_errors > 0 && !exp.limit_resets.is_empty());
    assert!(exp.by_model.contains_key("claude-mystery-9"));
    for m in ["claude-opus-4-6", "claude-haiku-4-5-20251001"] {
        assert!(exp.by_model.contains_key(m), "{m}");
    }
    assert!(exp.totals.web_search_requests > 0);
    assert!(exp.totals.cache_creation_1h_tokens > 0);
    assert!(exp.by_project.contains_key("/home/dev/projects/my app"));
    assert!(exp.by_project.contains_key("/home/dev/projects/café-api"));
    assert!(exp.by_project.contains_key("/home/dev/projects/my-app"));

    let keys = &rc.keys;
    assert!(keys.values().any(|s| s.only_echo), "echo-only response");
    assert!(
        keys.values().any(|s| !s.only_echo && s.in_files.len() > 1),
        "copied response"
    );
    assert!(
        keys.values().any(|s| s.input + s.cc + s.cr > 200_000),
        "long context"
    );
    assert!(
        keys.keys().any(|(id, _)| id.starts_with("uuid:")),
        "no-id line"
    );
    assert!(
        keys.values().any(|s| s.output > s.first_line_output),
        "final line counts"
    );
    assert!(
        keys.values().any(|s| s.output <= 13),
        "response without final line"
    );
    // Lines without the breakdown object and responses in several sessions' files.
    let mut resumed = false;
    for s in keys.values() {
        let stems: Vec<_> = s
            .in_files
            .iter()
            .filter(|p| !p.to_string_lossy().contains("agent-"))
            .collect();
        resumed |= stems.len() > 1;
    }
    assert!(resumed, "resumed session copies");

    let files = jsonl_files(root);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut bom = false;
    let mut crlf = false;
    let mut empty = false;
    let mut offset = false;
    let mut no_breakdown = false;
    for p in &files {
        let d = std::fs::read(p).unwrap();
        bom |= d.starts_with(b"\xEF\xBB\xBF");
        crlf |= d.windows(2).any(|w| w == b"\r\n");
        empty |= d.is_empty();
        offset |= String::from_utf8_lossy(&d).contains("+09:00\"");
        no_breakdown |= d.split(|&b| b == b'\n').any(|l| {
            let l = String::from_utf8_lossy(l);
            l.contains("\"type\":\"assistant\"")
                && l.contains("\"cache_read_input_tokens\"")
                && !l.contains("ephemeral_5m")
                && !l.contains("<synthetic>")
        });
    }
    assert!(
        bom && crlf && empty && offset,
        "bom {bom} crlf {crlf} empty {empty} offset {offset}"
    );
    assert!(no_breakdown, "usage without the cache_creation breakdown");
    assert!(names.iter().any(|n| n.contains("/subagents/agent-a")));
    assert!(
        names
            .iter()
            .any(|n| n.contains("/subagents/agent-acompact-"))
            || exp.bytes < 5_000_000
    );
    assert!(
        names.iter().any(|n| {
            let parent = Path::new(n).parent().unwrap();
            n.contains("/agent-")
                && !n.contains("/subagents/")
                && parent.parent().unwrap().ends_with("projects")
        }),
        "old-style flat subagent file"
    );
    let mut all = Vec::new();
    walk(&root.join("projects"), &mut all);
    assert!(all.iter().any(|p| p.ends_with("sessions-index.json")));
    assert!(all
        .iter()
        .any(|p| p.to_string_lossy().contains("/tool-results/")));
    // Some sessions cross midnight UTC.
    let mut days: HashMap<&str, Vec<String>> = HashMap::new();
    for s in keys.values() {
        let d = jiff::Timestamp::from_millisecond(s.ts).unwrap().to_string()[..10].to_string();
        let v = days.entry(s.session.as_str()).or_default();
        if !v.contains(&d) {
            v.push(d);
        }
    }
    assert!(
        days.values().any(|v| v.len() > 1),
        "a session crossing midnight UTC"
    );
}

#[test]
fn ground_truth_on_default_config_and_huge_file() {
    let d = tempfile::tempdir().unwrap();
    let cfg = GenConfig::default();
    let exp = generate(d.path(), &cfg).unwrap();
    let rc = recount(d.path(), cfg.seed, &cfg.zones);
    assert_same(&rc.exp, &exp);
    coverage(d.path(), &exp, &rc);
    let names: Vec<String> = jsonl_files(d.path())
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert!(names
        .iter()
        .any(|n| n.contains("/subagents/agent-acompact-")));

    let d = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        huge_file_bytes: Some(3_000_000),
        ..GenConfig::small(4)
    };
    let exp = generate(d.path(), &cfg).unwrap();
    assert_same(&recount(d.path(), cfg.seed, &cfg.zones).exp, &exp);
    let biggest = jsonl_files(d.path())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .max()
        .unwrap();
    assert!((3_000_000..3_300_000).contains(&biggest), "{biggest}");
}

/// A dense root holds about twice the responses of a default one of the same size, and
/// its expected totals are still what a recount finds.
#[test]
fn density_packs_more_responses_into_the_same_bytes() {
    let d = tempfile::tempdir().unwrap();
    let plain = generate(d.path(), &GenConfig::with_bytes(5, 6_000_000)).unwrap();
    let d = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        density: 3.5,
        ..GenConfig::with_bytes(5, 6_000_000)
    };
    let dense = generate(d.path(), &cfg).unwrap();
    assert_same(&recount(d.path(), cfg.seed, &cfg.zones).exp, &dense);
    let per_mb = |e: &Expected| e.totals.responses as f64 / e.bytes as f64 * 1e6;
    let ratio = per_mb(&dense) / per_mb(&plain);
    assert!((1.6..2.4).contains(&ratio), "{ratio}");
}

#[test]
fn dst_days_are_covered() {
    let d = tempfile::tempdir().unwrap();
    let exp = generate(d.path(), &GenConfig::small(5)).unwrap();
    let ny = &exp.by_day["America/New_York"];
    assert!(ny.contains_key("2026-03-08") || ny.contains_key("2026-03-07"));
    assert!(ny.contains_key("2026-11-01") || ny.contains_key("2026-10-31"));
}

#[test]
fn size_mix_for_50mb() {
    let d = tempfile::tempdir().unwrap();
    let target = 50_000_000;
    let exp = generate(d.path(), &GenConfig::with_bytes(11, target)).unwrap();
    let mut sizes: Vec<u64> = jsonl_files(d.path())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .collect();
    sizes.sort_unstable();
    let total: u64 = sizes.iter().sum();
    assert_eq!(total, exp.bytes);
    let ratio = total as f64 / target as f64;
    assert!((0.9..=1.1).contains(&ratio), "total {total}");
    let median = sizes[sizes.len() / 2];
    assert!((50_000..=200_000).contains(&median), "median {median}");
}

#[test]
fn grow_appends_exactly_what_it_reports() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let cfg = GenConfig::small(3);
    let before = generate(root, &cfg).unwrap();
    let old: BTreeMap<PathBuf, Vec<u8>> = jsonl_files(root)
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    let each = 30_000;
    let after = grow(root, 5, each, 42).unwrap();
    assert_same(&Expected::load(root).unwrap(), &after);

    let mut changed = 0;
    let mut added_bytes = 0;
    let mut added_lines = 0;
    for (p, data) in &old {
        let now = std::fs::read(p).unwrap();
        assert!(now.starts_with(data), "{} lost its prefix", p.display());
        if now.len() > data.len() {
            changed += 1;
            let tail = &now[data.len()..];
            assert!(tail.len() as u64 >= each);
            assert!((tail.len() as u64) < 3 * each + 60_000, "{}", tail.len());
            assert!(tail.ends_with(b"\n"));
            added_bytes += tail.len() as u64;
            added_lines += tail.iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    assert_eq!(changed, 5);
    assert_eq!(jsonl_files(root).len(), old.len());
    assert_eq!(after.files, before.files);
    assert_eq!(after.bytes, before.bytes + added_bytes);
    assert_eq!(after.lines, before.lines + added_lines);
    assert!(after.totals.responses > before.totals.responses);

    let rc = recount(root, cfg.seed, &cfg.zones);
    assert_same(&rc.exp, &after);

    // Growing again with another seed keeps everything consistent.
    let again = grow(root, 3, 10_000, 43).unwrap();
    assert_same(&recount(root, cfg.seed, &cfg.zones).exp, &again);
}

#[test]
fn december_ground_truth_matches_naive_recount_and_covers_every_rule() {
    for seed in 1..=5 {
        let d = tempfile::tempdir().unwrap();
        let cfg = GenConfig::december_2026(seed, 3_000_000);
        assert_eq!(cfg.lineup, Lineup::Dec2026);
        let exp = generate(d.path(), &cfg).unwrap();
        let rc = recount(d.path(), seed, &cfg.zones);
        assert_same(&rc.exp, &exp);
        let keys = &rc.keys;
        // Every model of the reference's lineup, each priced.
        for m in [
            "claude-opus-5-5",
            "claude-sonnet-5-5",
            "claude-haiku-5-5",
            "claude-fable-5-2",
            "claude-mythos-5-2",
            "claude-fable-5-1",
            "claude-opus-5",
            "claude-sonnet-5",
            "claude-opus-4-8",
        ] {
            assert!(exp.cost.by_model.get(m).is_some_and(|c| *c > 0.0), "{m}");
        }
        let at = |d: &str| {
            format!("{d}T00:00:00Z")
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_millisecond()
        };
        let any = |f: &dyn Fn(&Seen) -> bool| keys.values().any(f);
        // Haiku 5.5 exactly at, and one above, its band.
        let prompt = |s: &Seen| s.input + s.cc + s.cr;
        assert!(any(
            &|s| s.model == "claude-haiku-5-5" && prompt(s) == 100_000
        ));
        assert!(any(
            &|s| s.model == "claude-haiku-5-5" && prompt(s) == 100_001
        ));
        assert!(any(
            &|s| s.model == "claude-haiku-5-5" && prompt(s) > 100_001
        ));
        // Sonnet 5.5 on both sides of its cut; Opus 4.8 fast on both sides of its end.
        let cut = at("2026-10-07");
        assert!(any(&|s| s.model == "claude-sonnet-5-5"
            && s.cr > 0
            && s.ts < cut));
        assert!(any(&|s| s.model == "claude-sonnet-5-5"
            && s.cr > 0
            && s.ts >= cut));
        let end = at("2026-11-30");
        assert!(any(&|s| s.model == "claude-opus-4-8"
            && s.fast
            && s.ts < end));
        assert!(any(&|s| s.model == "claude-opus-4-8"
            && s.fast
            && s.ts >= end));
        // Fast and US together, and US alone.
        assert!(any(&|s| s.fast && s.us));
        assert!(any(&|s| !s.fast && s.us));
        assert!(exp.totals.web_search_requests > 0);
        // Claude Code's figures, a few of them planted drifts.
        let drifted = exp.cost.claude_code.values().filter(|f| f.drifted).count();
        assert!(drifted >= 3, "{drifted} drifts");
        assert!(exp.cost.claude_code.len() >= drifted + 10);
        // Today's line types, and the flat-zero cache field.
        let text: String = jsonl_files(d.path())
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
            .collect();
        for kind in [
            "\"type\":\"queue-operation\"",
            "\"type\":\"attachment\"",
            "\"type\":\"atis-latch\"",
            "\"type\":\"last-prompt\"",
            "\"type\":\"cost-state\"",
            "\"subtype\":\"compact_boundary\"",
            "\"postTokens\"",
            "[1m]\":{\"inputTokens\"",
            "\"cache_creation_input_tokens\":0,",
        ] {
            assert!(text.contains(kind), "{kind}");
        }
    }
}
