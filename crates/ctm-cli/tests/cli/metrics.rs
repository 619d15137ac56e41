//! `GET /metrics` of the real `ctm serve`: checked by Debian's promtool, added up against
//! the fixture's totals and the reports, scraped by a real Prometheus that then answers
//! every query of the Grafana dashboard in `docs/`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::serve::{fixture_copy, request, Served};
use super::statusline::{statusline, HOOK_WITH_LIMITS};
use super::support::*;

/// One sample: its labels and value.
type Samples = Vec<(BTreeMap<String, String>, f64)>;

/// The samples of each metric in an exposition text (the test's own small reader:
/// `name{k="v",...} value`, the escapes the format allows).
fn parse(text: &str) -> BTreeMap<String, Samples> {
    let mut out: BTreeMap<String, Samples> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let mut labels = BTreeMap::new();
                let mut chars = rest
                    .strip_suffix('}')
                    .expect("closing brace")
                    .chars()
                    .peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert_eq!(chars.next(), Some('"'));
                    let mut v = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => match chars.next() {
                                Some('n') => v.push('\n'),
                                Some(e) => v.push(e),
                                None => panic!("dangling escape"),
                            },
                            '"' => break,
                            c => v.push(c),
                        }
                    }
                    labels.insert(key.trim_start_matches(',').to_owned(), v);
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                }
                (name, labels)
            }
        };
        out.entry(name.to_owned())
            .or_default()
            .push((labels, value.parse().expect("a number")));
    }
    out
}

fn sum_where(m: &BTreeMap<String, Samples>, name: &str, label: Option<(&str, &str)>) -> f64 {
    m.get(name)
        .into_iter()
        .flatten()
        .filter(|(l, _)| label.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v)))
        .map(|(_, v)| v)
        .sum()
}

fn scrape(server: &Served) -> (String, BTreeMap<String, Samples>) {
    let r = server.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    let parsed = parse(&text);
    (text, parsed)
}

/// `promtool check metrics` on the text: it must pass, with no lint problem either.
fn promtool_accepts(text: &str) {
    let present = Command::new("promtool").arg("--version").output().is_ok();
    if skip_without("promtool", present, "apt-get install prometheus") {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tokens_by_type(m: &BTreeMap<String, Samples>) -> (u64, u64, u64, u64, u64) {
    let t = |ty| sum_where(m, "ctm_tokens_total", Some(("type", ty))) as u64;
    (
        sum_where(m, "ctm_responses_total", None) as u64,
        t("input"),
        t("output"),
        t("cache_creation"),
        t("cache_read"),
    )
}

#[test]
fn metrics_pass_promtool_and_add_up_to_the_reports() {
    let env = Env::new();
    let root = fixture_copy(&env);
    // Claude's official limits, as the statusline hook reports them (resets after NOW).
    let o = statusline(&env, &root, HOOK_WITH_LIMITS.as_bytes());
    assert!(o.status.success());
    let server = Served::start(&env, &root, &[]);
    let (text, m) = scrape(&server);
    promtool_accepts(&text);

    // Sums by type are the fixture's totals; cost is the daily report's.
    assert_eq!(tokens_by_type(&m), FIXTURE_TOTALS);
    let daily = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["daily", "--json"]),
    );
    let cost = sum_where(&m, "ctm_cost_usd_total", None);
    assert!(
        (cost - daily["totals"]["totalCost"].as_f64().unwrap()).abs() < 1e-9,
        "{cost}"
    );
    // Per model, as `ctm models` splits them; every (model, project) pair once.
    let models = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["models", "--json"]),
    );
    for row in models["models"].as_array().unwrap() {
        let model = row["model"].as_str().unwrap();
        assert_eq!(
            sum_where(&m, "ctm_responses_total", Some(("model", model))) as u64,
            row["responses"].as_u64().unwrap(),
            "{model}"
        );
    }
    let pairs: Vec<_> = m["ctm_cost_usd_total"]
        .iter()
        .map(|(l, _)| (l["model"].clone(), l["project"].clone()))
        .collect();
    let mut unique = pairs.clone();
    unique.dedup();
    assert_eq!(pairs, unique);
    assert_eq!(m["ctm_store_responses"][0].1 as u64, FIXTURE_TOTALS.0);
    assert_eq!(m["ctm_unpriced_responses"][0].1, 0.0);

    // The active block's gauges are `ctm blocks --active`'s figures.
    let blocks = json(
        env.ctm()
            .env("CTM_NOW", "2026-02-12T21:30:00Z")
            .arg("--claude-dir")
            .arg(&root)
            .args(["blocks", "--json", "--active"]),
    );
    let b = &blocks["blocks"][0];
    assert_eq!(
        m["ctm_block_tokens"][0].1 as u64,
        b["totalTokens"].as_u64().unwrap()
    );
    // serde_json reads JSON numbers to within an ulp; the text format is Rust's exact one.
    let close = |a: f64, b: &Value| (a - b.as_f64().unwrap()).abs() <= 1e-12 * a.abs();
    assert!(close(m["ctm_block_cost_usd"][0].1, &b["costUSD"]));
    assert!(close(
        m["ctm_block_burn_rate_tokens_per_minute"][0].1,
        &b["burnRate"]["tokensPerMinute"]
    ));
    let end: jiff::Timestamp = b["endTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        m["ctm_block_ends_timestamp_seconds"][0].1,
        end.as_second() as f64
    );

    // Official limits: ratio and reset per window, as the hook said.
    let window = |name: &str, w: &str| {
        m[name]
            .iter()
            .find(|(l, _)| l["window"] == w)
            .unwrap_or_else(|| panic!("{name}{{window={w}}}"))
            .1
    };
    assert_eq!(window("ctm_rate_limit_used_ratio", "five_hour"), 0.37);
    assert_eq!(window("ctm_rate_limit_used_ratio", "seven_day"), 0.125);
    assert_eq!(
        window("ctm_rate_limit_resets_timestamp_seconds", "five_hour"),
        1_770_944_400.0
    );
    assert!(m.contains_key("ctm_ingest_duration_seconds"));

    // Counters only grow as responses are added (the follower reads the new line).
    let project = root.join("projects").join("-home-u-proj");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("s-new.jsonl"),
        assistant_line(
            "s-new",
            "msg_new",
            "req_new",
            "2026-02-12T21:20:00Z",
            "claude-opus-4-6",
            1000,
            500,
        ) + "\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let (_, after) = scrape(&server);
        if sum_where(&after, "ctm_responses_total", None) as u64 == FIXTURE_TOTALS.0 + 1 {
            break after;
        }
        assert!(
            Instant::now() < deadline,
            "the new response never showed in /metrics"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for name in [
        "ctm_tokens_total",
        "ctm_cost_usd_total",
        "ctm_responses_total",
    ] {
        for (labels, before) in &m[name] {
            let now = after[name]
                .iter()
                .find(|(l, _)| l == labels)
                .map(|(_, v)| *v);
            assert!(
                now.is_some_and(|v| v >= *before),
                "{name}{labels:?}: {before} -> {now:?}"
            );
        }
    }
    let added = |ty| {
        sum_where(&after, "ctm_tokens_total", Some(("type", ty)))
            - sum_where(&m, "ctm_tokens_total", Some(("type", ty)))
    };
    assert_eq!((added("input"), added("output")), (1000.0, 500.0));
    assert_eq!(
        sum_where(
            &after,
            "ctm_tokens_total",
            Some(("project", "/home/u/proj"))
        ),
        1500.0
    );
}

#[test]
fn a_prune_of_facts_lowers_no_counter() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    let (_, before) = scrape(&server);
    // The fixture's days are 2026-02-10..12: this deletes 2026-02-10's responses.
    let pruned = json(env.ctm().env("CTM_NOW", "2026-02-13T10:00:00Z").args([
        "db",
        "prune",
        "--facts-older-than",
        "2",
        "--json",
    ]));
    let gone = pruned["facts"]["responses"].as_u64().unwrap();
    assert!(gone > 0, "{pruned}");
    let (text, after) = scrape(&server);
    promtool_accepts(&text);
    for name in [
        "ctm_tokens_total",
        "ctm_cost_usd_total",
        "ctm_responses_total",
    ] {
        assert_eq!(after[name], before[name], "{name} after the prune");
    }
    assert_eq!(
        after["ctm_store_responses"][0].1 as u64,
        FIXTURE_TOTALS.0 - gone
    );
}

#[test]
fn projects_past_the_top_n_are_summed_as_other() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let all = Served::start(&env, &root, &[]);
    let (_, full) = scrape(&all);
    drop(all);
    let server = Served::start(&env, &root, &["--metrics-top-projects", "2"]);
    let (text, m) = scrape(&server);
    promtool_accepts(&text);
    let projects: std::collections::BTreeSet<&str> = m["ctm_tokens_total"]
        .iter()
        .map(|(l, _)| l["project"].as_str())
        .collect();
    assert_eq!(projects.len(), 3, "{projects:?}");
    assert!(projects.contains("other"));
    // The two named are the costliest; nothing is lost in the fold.
    let mut by_cost: Vec<(&str, f64)> = Vec::new();
    for (l, v) in &full["ctm_cost_usd_total"] {
        match by_cost.iter_mut().find(|(p, _)| *p == l["project"]) {
            Some(e) => e.1 += v,
            None => by_cost.push((&l["project"], *v)),
        }
    }
    by_cost.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (p, _) in &by_cost[..2] {
        assert!(projects.contains(p), "{p} is among the top 2");
    }
    assert_eq!(tokens_by_type(&m), FIXTURE_TOTALS);
    assert_eq!(tokens_by_type(&m), tokens_by_type(&full));
    let out = env
        .ctm()
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--metrics-top-projects",
            "5000",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn metrics_need_what_the_api_needs() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let open = Served::start(&env, &root, &[]);
    let port = open.addr.port();
    let r = request(
        open.addr,
        "/metrics",
        &[("Host", &format!("evil.example:{port}"))],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = request(open.addr, "/metrics?x=1", &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    let token = "metrics-token-0123456789";
    let guarded = Served::start(&env, &root, &["--token", token]);
    assert_eq!(guarded.get("/metrics").status, 401);
    let r = request(
        guarded.addr,
        "/metrics",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains("# TYPE ctm_tokens_total counter"));
}

/// A free loopback port (bound, then released for the program that takes it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET` on Prometheus' HTTP API.
fn prometheus_api(addr: SocketAddr, path_and_query: &str) -> Value {
    let r = request(addr, path_and_query, &[]);
    assert_eq!(r.status, 200, "{path_and_query}: {}", r.text());
    r.json()
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The dashboard's PromQL with Grafana's variables as a query of "everything" gives them.
fn with_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__range", "5m")
        .replace("$project", ".*")
        .replace("$model", ".*")
}

#[test]
fn a_real_prometheus_scrapes_ctm_and_answers_every_dashboard_query() {
    let present = Command::new("prometheus").arg("--version").output().is_ok();
    if skip_without("prometheus", present, "apt-get install prometheus") {
        return;
    }
    let env = Env::new();
    let root = fixture_copy(&env);
    assert!(statusline(&env, &root, HOOK_WITH_LIMITS.as_bytes())
        .status
        .success());
    let ctm = Served::start(&env, &root, &[]);
    let config = env.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ctm\n    static_configs:\n      - targets: ['{}']\n",
            ctm.addr
        ),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                env.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Enough scrapes for a rate over 30 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = std::net::TcpStream::connect(addr).is_ok() && {
            let v = prometheus_api(
                addr,
                &format!(
                    "/api/v1/query?query={}",
                    encode("count_over_time(ctm_store_responses[1m])")
                ),
            );
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 4)
        };
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped ctm four times"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let target = prometheus_api(addr, "/api/v1/targets");
    assert_eq!(
        target["data"]["activeTargets"][0]["health"], "up",
        "{target}"
    );

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/grafana-dashboard.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = with_variables(t["expr"].as_str().unwrap());
            let v = prometheus_api(addr, &format!("/api/v1/query?query={}", encode(&expr)));
            assert_eq!(v["status"], "success", "{expr}: {v}");
            let result = v["data"]["result"].as_array().unwrap();
            assert!(
                !result.is_empty(),
                "{} ({expr}) has no data",
                panel["title"]
            );
            checked += 1;
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        let Some(q) = var["query"]["query"].as_str() else {
            continue;
        };
        // label_values(metric, label): Prometheus' label values API.
        let (metric, label) = q
            .trim_start_matches("label_values(")
            .trim_end_matches(')')
            .split_once(", ")
            .unwrap();
        let v = prometheus_api(
            addr,
            &format!("/api/v1/label/{label}/values?match[]={}", encode(metric)),
        );
        assert!(!v["data"].as_array().unwrap().is_empty(), "{q}");
        checked += 1;
    }
    assert!(checked > 20, "{checked}");
    // Grafana's sums by type agree with the fixture too.
    let v = prometheus_api(
        addr,
        &format!(
            "/api/v1/query?query={}",
            encode("sum by (type) (ctm_tokens_total)")
        ),
    );
    let by_type: BTreeMap<String, u64> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["type"].as_str().unwrap().to_owned(),
                r["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        (
            by_type["input"],
            by_type["output"],
            by_type["cache_creation"],
            by_type["cache_read"]
        ),
        (
            FIXTURE_TOTALS.1,
            FIXTURE_TOTALS.2,
            FIXTURE_TOTALS.3,
            FIXTURE_TOTALS.4
        )
    );
}
