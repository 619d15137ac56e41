//! The page in headless Chromium (Debian's `chromium` and `chromium-driver`; `.ci/run`
//! installs them), driven over WebDriver on loopback: the numbers and charts it shows
//! are the API's, it updates itself when a transcript grows, and screenshots of both
//! themes are saved under the target directory for a person to look at.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::serve::{append_response, fixture_copy, http, Served};
use super::support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Attempts of 100 ms when waiting for the page: a bound, not a timing assertion.
const WAIT_STEPS: u32 = 300;

struct Driver {
    child: Child,
    addr: SocketAddr,
    session: String,
}

impl Driver {
    fn start(profile: &Path) -> Driver {
        // A free loopback port for chromedriver (it cannot report one it chose itself).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut driver = Driver {
            child,
            addr,
            session: String::new(),
        };
        let ready = (0..WAIT_STEPS).any(|_| {
            let up = std::net::TcpStream::connect(addr).is_ok()
                && driver.call("GET", "/status", None)["value"]["ready"] == true;
            if !up {
                std::thread::sleep(Duration::from_millis(100));
            }
            up
        });
        assert!(ready, "chromedriver did not start");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", "--window-size=1400,2300",
                    format!("--user-data-dir={}", profile.display()),
                ],
                // Downloads (the export form) land beside the profile, unasked.
                "prefs": {
                    "download.default_directory": profile.join("downloads").display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let v = driver.call("POST", "/session", Some(caps));
        driver.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        driver
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let r = http(self.addr, method, path, &[], body.as_deref());
        r.json()
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let v = self.call(method, &format!("/session/{}{path}", self.session), body);
        // A WebDriver error is {"error": ..., "message": ...} (the page's values have no message).
        let failed = v["value"].get("error").is_some() && v["value"].get("message").is_some();
        assert!(!failed, "{path}: {v}");
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    fn script(&self, js: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": js, "args": [] })),
        )
    }

    /// Runs `js` until it returns something truthy; panics after the bound.
    fn wait_for(&self, what: &str, js: &str) -> Value {
        for _ in 0..WAIT_STEPS {
            let v = self.script(js);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the page never showed {what}");
    }

    /// The browser window's size in CSS pixels (a phone: 390 x 844).
    fn resize(&self, width: u32, height: u32) {
        self.session_call(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// Loads `url` and waits for the page's first render (not for the live stream).
    fn open(&self, url: &str) {
        self.goto(url);
        self.wait_for("its first render", "return document.body.dataset.loaded");
    }

    fn screenshot(&self, file: &Path) {
        let v = self.session_call("GET", "/screenshot", None);
        let png = base64_decode(v.as_str().unwrap());
        assert_eq!(&png[1..4], b"PNG");
        std::fs::write(file, png).unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                self.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                None,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for b in text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
    {
        let v = ALPHABET.iter().position(|a| *a == b).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Where screenshots go: kept after the test, under target/tmp.
fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Everything the page shows that the test checks, read from the DOM.
const READ_PAGE: &str = r#"
const num = (id) => Number(document.getElementById(id).dataset.value);
const all = (sel, f) => Array.from(document.querySelectorAll(sel)).map(f);
return {
  todayCost: num('today-cost'), weekTokens: num('week-tokens'), monthResponses: num('month-responses'),
  monthCostText: document.getElementById('month-cost').textContent,
  rangeCost: num('range-cost'), sessions: num('sessions-count'),
  days: all('#chart-daily g.day', (g) => [g.dataset.date, Number(g.dataset.total), Number(g.dataset.cost)]),
  cells: all('#chart-heatmap rect.cell', (r) => [r.dataset.weekday, Number(r.dataset.hour), Number(r.dataset.responses)]),
  slices: all('#chart-models path.slice', (p) => [p.dataset.model, Number(p.dataset.cost)]),
  hits: all('#chart-cache circle.hit', (c) => [c.dataset.date, Number(c.dataset.hit)]),
  topDays: all('#top-days tbody tr', (r) => r.dataset.date),
  rows: all('#sessions tbody tr', (r) => r.dataset.session),
  gauge: document.getElementById('gauge-percent') ? Number(document.getElementById('gauge-percent').dataset.value) : null,
  official: document.getElementById('gauge-official') ? Number(document.getElementById('gauge-official').dataset.value) : null,
  officialText: document.getElementById('official-limits').textContent,
  downloads: all('#downloads button', (b) => b.getAttribute('formaction')),
  error: document.getElementById('error').textContent,
};
"#;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

#[test]
fn the_page_shows_the_api_figures_and_updates_itself_on_new_data() {
    let browser = [CHROMIUM, CHROMEDRIVER]
        .iter()
        .all(|b| Path::new(b).exists());
    if skip_without(
        "Chromium or chromedriver",
        browser,
        "apt-get install -y chromium chromium-driver",
    ) {
        return;
    }
    let env = Env::new();
    let root = fixture_copy(&env);
    // Claude's official figures, as the statusline hook keeps them.
    let hook =
        super::statusline::statusline(&env, &root, super::statusline::HOOK_WITH_LIMITS.as_bytes());
    assert!(hook.status.success());
    let server = Served::start(&env, &root, &[]);
    let driver = Driver::start(&env.path().join("chromium-profile"));
    let base = format!("http://{}", server.addr);
    driver.goto(&format!("{base}/?tz=UTC&range=all&theme=light"));
    driver.wait_for(
        "its first render and the live stream",
        "return document.body.dataset.loaded && document.body.dataset.live",
    );
    let page = driver.script(READ_PAGE);
    assert_eq!(page["error"], "", "{page}");

    let summary = server.json("/api/summary?tz=UTC");
    let daily = server.json("/api/daily?tz=UTC");
    assert!(close(
        page["todayCost"].as_f64().unwrap(),
        summary["today"]["totalCost"].as_f64().unwrap()
    ));
    assert_eq!(page["weekTokens"], summary["thisWeek"]["totalTokens"]);
    assert_eq!(page["monthResponses"], summary["thisMonth"]["responses"]);
    assert_eq!(
        page["monthCostText"], "$51.74",
        "the fixture's total in docs/reports.md"
    );
    assert!(close(
        page["rangeCost"].as_f64().unwrap(),
        daily["totals"]["totalCost"].as_f64().unwrap()
    ));
    // The daily chart: one bar group per day, each the API's total and cost.
    let want_days: Vec<Value> = daily["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| json!([d["date"], d["totalTokens"], d["totalCost"]]))
        .collect();
    assert_eq!(page["days"], Value::Array(want_days));
    // The heatmap: all 168 cells, each the API's count.
    let hourly = server.json("/api/hourly?tz=UTC");
    let want_cells: Vec<Value> = hourly["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["weekday"], c["hour"], c["responses"]]))
        .collect();
    assert_eq!(page["cells"], Value::Array(want_cells));
    // Model share: a slice per model, most expensive first.
    let models = server.json("/api/models?tz=UTC");
    let want_slices: Vec<Value> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!([m["model"], m["totalCost"]]))
        .collect();
    assert_eq!(page["slices"], Value::Array(want_slices));
    let cache = server.json("/api/cache?tz=UTC");
    let want_hits: Vec<Value> = cache["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| json!([d["date"], d["hitRate"]]))
        .collect();
    assert_eq!(page["hits"], Value::Array(want_hits));
    let top = server.json("/api/top?tz=UTC&limit=5");
    let want_top: Vec<Value> = top["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].clone())
        .collect();
    assert_eq!(page["topDays"], Value::Array(want_top));
    let sessions = server.json("/api/sessions?tz=UTC&limit=15");
    assert_eq!(page["sessions"], sessions["total"]);
    let want_rows: Vec<Value> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].clone())
        .collect();
    assert_eq!(page["rows"], Value::Array(want_rows));
    let block = &summary["currentBlock"];
    let want_gauge =
        block["totalTokens"].as_f64().unwrap() / summary["tokenLimit"].as_f64().unwrap();
    assert!(close(page["gauge"].as_f64().unwrap(), want_gauge), "{page}");
    assert_eq!(
        page["official"].as_f64(),
        summary["officialLimits"]["fiveHour"]["usedPercentage"].as_f64()
    );
    let text = page["officialText"].as_str().unwrap();
    assert!(
        text.contains("5-hour 37% used") && text.contains("7-day 13% used"),
        "{text}"
    );
    // The gauge says what each ring is, its unit and its limit.
    let labels = driver.script(
        "return [document.getElementById('gauge-legend').textContent, document.getElementById('gauge-unit').textContent, document.getElementById('block-text').textContent]",
    );
    let legend = labels[0].as_str().unwrap();
    assert!(
        legend.contains("This block, used")
            && legend.contains("Inner ring: Claude's official 5-hour usage, 37%"),
        "{legend}"
    );
    assert!(
        labels[1].as_str().unwrap().ends_with("tokens (all kinds)"),
        "{labels}"
    );
    let limit = summary["tokenLimit"].as_u64().unwrap();
    assert!(
        labels[2].as_str().unwrap().contains(&format!(
            "Limit: {} tokens, the largest finished block",
            fmt_int(limit)
        )),
        "{labels}"
    );
    // The token scale leaves cache reads out unless asked: each bar's drawn height is
    // its tokens without them, then with them.
    let drawn = |js_total: &str| -> Vec<(u64, u64)> {
        let v = driver.script(&format!(
            "return Array.from(document.querySelectorAll('#chart-daily g.day')).map((g) => [Number(g.dataset.shown), {js_total}])"
        ));
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
            .collect()
    };
    let without: Vec<(u64, u64)> = daily["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let total = d["totalTokens"].as_u64().unwrap();
            (total - d["cacheReadTokens"].as_u64().unwrap(), total)
        })
        .collect();
    assert_eq!(drawn("Number(g.dataset.total)"), without);
    driver.script("document.querySelector('[data-cache-reads=\"1\"]').click(); return true");
    driver.wait_for(
        "the bars with cache reads",
        "return document.querySelector('[data-cache-reads=\"1\"]').classList.contains('active')",
    );
    let with: Vec<(u64, u64)> = without.iter().map(|&(_, t)| (t, t)).collect();
    assert_eq!(drawn("Number(g.dataset.total)"), with);
    driver.script("document.querySelector('[data-cache-reads=\"0\"]').click(); return true");
    driver.wait_for(
        "the bars without cache reads again",
        "return document.querySelector('[data-cache-reads=\"0\"]').classList.contains('active')",
    );
    // The download links fetch the export of the range on screen.
    let links = page["downloads"].as_array().unwrap();
    assert_eq!(links.len(), 3, "{page}");
    for link in links {
        let link = link.as_str().unwrap();
        assert!(
            link.starts_with("/api/exports?") && link.contains("tz=UTC"),
            "{link}"
        );
        // As the browser submits the form: a POST from the page's own origin.
        let origin = format!("http://{}", server.addr);
        let r = http(
            server.addr,
            "POST",
            link,
            &[
                ("Origin", &origin),
                ("Sec-Fetch-Site", "same-origin"),
                ("Content-Length", "0"),
            ],
            None,
        );
        assert_eq!(r.status, 200, "{link}: {}", r.text());
        assert!(r
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment"));
    }
    // The real browser's form POST (same-origin) creates an export: recorded, downloaded.
    let before = server.json("/api/exports/history")["exports"]
        .as_array()
        .unwrap()
        .len();
    driver.script("document.querySelector('#downloads button').click(); return true");
    let recorded = (0..WAIT_STEPS).find_map(|_| {
        let history = server.json("/api/exports/history");
        let rows = history["exports"].as_array().unwrap().clone();
        if rows.len() > before {
            return Some(rows[before].clone());
        }
        std::thread::sleep(Duration::from_millis(100));
        None
    });
    let recorded = recorded.expect("the browser's export reached the server");
    assert_eq!(recorded["status"], "completed", "{recorded}");
    assert_eq!(recorded["format"], "csv", "{recorded}");
    let shots = shots_dir();
    driver.screenshot(&shots.join("dashboard-light.png"));
    // The README's picture (docs/dashboard.png is this file): the top of the page.
    driver.resize(1280, 1100);
    driver.script("window.scrollTo(0, 0); return true");
    driver.screenshot(&shots.join("dashboard-readme.png"));
    driver.resize(1400, 2300);

    // A new response in a transcript: the page shows it without a reload.
    let loaded = driver.script("return document.body.dataset.loaded");
    append_response(&root, 7);
    // Rendered figures come before the end of a load (which sets `loaded`): wait for both.
    driver.wait_for(
        "the appended response",
        &format!(
            "return Number(document.getElementById('month-responses').dataset.value) === 905 && document.body.dataset.loaded !== {loaded}"
        ),
    );
    assert_ne!(
        driver.script("return document.body.dataset.loaded"),
        loaded,
        "the page reloaded its data in place"
    );
    let after = driver.script(READ_PAGE);
    let daily = server.json("/api/daily?tz=UTC");
    assert_eq!(daily["totals"]["responses"], 905);
    let last = daily["daily"].as_array().unwrap().last().unwrap();
    assert_eq!(
        after["days"].as_array().unwrap().last().unwrap(),
        &json!([last["date"], last["totalTokens"], last["totalCost"]])
    );
    assert_eq!(after["sessions"], 10, "the appended line is a new session");

    // Drill down into the most expensive session, in the dark theme.
    driver.script("document.getElementById('theme').click(); return true");
    driver.wait_for(
        "the dark theme",
        "return document.documentElement.dataset.theme === 'dark'",
    );
    driver.script("document.querySelector('#top-sessions tbody tr').click(); return true");
    let id = top["sessions"][0]["sessionId"].as_str().unwrap();
    driver.wait_for(
        "the session's timeline",
        &format!("const p = document.getElementById('session-detail'); return !p.hidden && p.dataset.session === '{id}' && document.querySelectorAll('#chart-session rect.response').length"),
    );
    let drawn =
        driver.script("return document.querySelectorAll('#chart-session rect.response').length");
    let detail = server.json(&format!("/api/sessions/{id}?tz=UTC"));
    assert_eq!(drawn, detail["session"]["responses"]);
    driver.script("document.getElementById('session-detail').scrollIntoView(); return true");
    driver.screenshot(&shots.join("dashboard-dark-session.png"));
}

fn fmt_int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn browser_present() -> bool {
    let browser = [CHROMIUM, CHROMEDRIVER]
        .iter()
        .all(|b| Path::new(b).exists());
    !skip_without(
        "Chromium or chromedriver",
        browser,
        "apt-get install -y chromium chromium-driver",
    )
}

/// `ctm serve` on `root` (or on no data root at all) with `now` as the clock.
fn serve_at(env: &Env, root: Option<&Path>, now: &str) -> Served {
    let mut cmd = env.ctm();
    match root {
        Some(r) => cmd.arg("--claude-dir").arg(r),
        None => cmd
            .arg("--claude-dir")
            .arg(env.path().join("no-claude-here")),
    };
    cmd.env("CTM_NOW", now)
        .args(["serve", "--bind", "127.0.0.1:0"]);
    Served::spawn(cmd)
}

/// The page at its edges: ranges of months drawn per week and per month, an empty store,
/// a phone with and without an active block, and a session too long for one page. Each
/// state is checked against the API and saved as a screenshot.
#[test]
fn the_page_at_its_edges() {
    if !browser_present() {
        return;
    }
    let shots = shots_dir();
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(&profile.path().join("chromium"));

    // Ten months of generated usage: "All" per month, 90 days per week.
    let env = Env::new();
    let root = env.path().join("generated");
    ctm_testdata::generate(&root, &ctm_testdata::GenConfig::small(3)).unwrap();
    let server = serve_at(&env, Some(&root), "2026-11-15T12:00:00Z");
    let base = format!("http://{}", server.addr);
    let bars = |unit: &str| -> Value {
        driver.script(&format!(
            "return {{ unit: document.querySelector('#chart-daily svg').dataset.unit, dots: document.querySelectorAll('#chart-daily circle').length, \
              bars: Array.from(document.querySelectorAll('#chart-daily g.{unit}')).map((g) => [g.dataset.date, Number(g.dataset.total), Number(g.dataset.cost)]) }}"
        ))
    };
    driver.open(&format!("{base}/?tz=UTC&range=all&theme=light&live=0"));
    let page = bars("month");
    assert_eq!(page["unit"], "month", "{page}");
    let monthly = server.json("/api/monthly?tz=UTC");
    let want: Vec<Value> = monthly["monthly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!([m["month"], m["totalTokens"], m["totalCost"]]))
        .collect();
    assert!(want.len() >= 8, "{monthly}");
    // Months without usage are drawn as zeros between the API's months.
    let drawn: Vec<Value> = page["bars"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b[1] != 0 || b[2] != 0.0)
        .cloned()
        .collect();
    assert_eq!(drawn, want);
    // The generated history has a model without a price: the marked costs are explained.
    let note = driver.script(
        "const n = document.getElementById('unpriced-note'); return n.hidden ? '' : n.textContent",
    );
    assert!(
        note.as_str()
            .unwrap()
            .starts_with("* leaves out the responses of models without a price ("),
        "{note}"
    );
    driver.screenshot(&shots.join("dashboard-all-by-month.png"));

    driver.script("document.querySelector('[data-range=\"90\"]').click(); return true");
    driver.wait_for(
        "the weekly bars",
        "return document.querySelector('#chart-daily svg').dataset.unit === 'week'",
    );
    let page = bars("week");
    let weekly = server.json("/api/weekly?tz=UTC&since=2026-08-18&until=2026-11-15");
    let want: Vec<Value> = weekly["weekly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| json!([w["week"], w["totalTokens"], w["totalCost"]]))
        .collect();
    let drawn: Vec<Value> = page["bars"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b[1] != 0 || b[2] != 0.0)
        .cloned()
        .collect();
    assert_eq!(drawn, want);
    let n = page["bars"].as_array().unwrap().len();
    assert!((13..=14).contains(&n), "90 days are 13 or 14 weeks: {n}");
    assert_eq!(page["dots"].as_u64(), Some(n as u64), "a dot per week");
    driver.screenshot(&shots.join("dashboard-90-days-by-week.png"));
    drop(server);

    // An empty store: the page says no data was found, and where ctm looked.
    let empty = Env::new();
    let server = serve_at(&empty, None, "2026-11-15T12:00:00Z");
    driver.open(&format!(
        "http://{}/?tz=UTC&range=30&theme=light&live=0",
        server.addr
    ));
    let notice = driver.wait_for(
        "the empty-store notice",
        "const e = document.getElementById('empty'); return !e.hidden && e.textContent",
    );
    let notice = notice.as_str().unwrap();
    let looked = empty.path().join("no-claude-here");
    assert!(
        notice.contains("No Claude Code data found")
            && notice.contains(&looked.display().to_string()),
        "{notice}"
    );
    assert_eq!(
        driver.script("return document.body.dataset.empty"),
        "no-data"
    );
    driver.screenshot(&shots.join("dashboard-empty-store.png"));
    drop(server);

    // A phone, with no active block: two lines, not a gauge a third of the screen high.
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = serve_at(&env, Some(&root), "2026-02-14T09:00:00Z");
    driver.resize(390, 844);
    driver.open(&format!(
        "http://{}/?tz=UTC&range=7&theme=light&live=0",
        server.addr
    ));
    let idle = driver.script(
        "const g = document.getElementById('chart-gauge'); return { h: g.getBoundingClientRect().height, text: g.textContent, block: document.getElementById('block-text').textContent, inner: window.innerWidth, scroll: document.documentElement.scrollWidth }",
    );
    assert!(idle["h"].as_f64().unwrap() < 80.0, "{idle}");
    assert!(
        idle["text"].as_str().unwrap().contains("No active block"),
        "{idle}"
    );
    let block = idle["block"].as_str().unwrap();
    assert!(
        block.contains("Last block 2026-02-12 20:00 to 01:00")
            && block.contains("Last usage 2026-02-12 21:03"),
        "{idle}"
    );
    assert!(
        idle["scroll"].as_f64().unwrap() <= idle["inner"].as_f64().unwrap() + 1.0,
        "the page is wider than the phone: {idle}"
    );
    driver.script("document.getElementById('chart-gauge').scrollIntoView(); return true");
    driver.screenshot(&shots.join("dashboard-phone-idle.png"));
    drop(server);

    // The same phone during a block: the gauge stays within a fifth of the screen.
    let server = serve_at(&env, Some(&root), "2026-02-12T21:30:00Z");
    driver.open(&format!(
        "http://{}/?tz=UTC&range=7&theme=dark&live=0",
        server.addr
    ));
    let h = driver
        .script("return document.querySelector('#chart-gauge svg').getBoundingClientRect().height");
    assert!(h.as_f64().unwrap() <= 844.0 / 5.0, "gauge {h} px high");
    driver.script("document.getElementById('chart-gauge').scrollIntoView(); return true");
    driver.screenshot(&shots.join("dashboard-phone-block.png"));

    // A session of 221 responses: 50 a page.
    driver.resize(1400, 2300);
    driver.open(&format!(
        "http://{}/?tz=UTC&range=all&theme=light&live=0",
        server.addr
    ));
    driver.script(
        "document.querySelector('#sessions tr[data-session^=\"ae4a77f8\"]').click(); return true",
    );
    driver.wait_for(
        "the session's first page",
        "return document.getElementById('detail-page').dataset.total === '221'",
    );
    let page = |what: &str| -> Value {
        driver.wait_for(
            what,
            "return { rows: document.querySelectorAll('#detail-responses tbody tr').length, text: document.getElementById('detail-page').textContent, first: document.querySelector('#detail-responses tbody td').textContent }",
        )
    };
    let first = page("page 1");
    assert_eq!(first["rows"], 50);
    assert_eq!(first["text"], "1–50 of 221 responses");
    let detail = server.json("/api/sessions/ae4a77f8?tz=UTC");
    let time =
        |i: usize| detail["responses"][i]["timestamp"].as_str().unwrap()[..19].replace('T', " ");
    assert_eq!(first["first"].as_str().unwrap(), time(0));
    for _ in 0..4 {
        driver.script("document.getElementById('detail-next').click(); return true");
    }
    let last = page("the last page");
    assert_eq!(last["rows"], 21, "{last}");
    assert_eq!(last["text"], "201–221 of 221 responses");
    assert_eq!(last["first"].as_str().unwrap(), time(200));
    assert_eq!(
        driver.script("return document.getElementById('detail-next').disabled"),
        true
    );
    driver.script("document.getElementById('session-detail').scrollIntoView(); return true");
    driver.screenshot(&shots.join("dashboard-session-paged.png"));
}

/// `ctm serve --team`: the People panel is `/api/users`, picking a person shows only
/// theirs, and one machine's panels are left out.
#[test]
fn the_team_page_shows_each_person_and_filters_by_one() {
    let browser = [CHROMIUM, CHROMEDRIVER]
        .iter()
        .all(|b| Path::new(b).exists());
    if skip_without(
        "Chromium or chromedriver",
        browser,
        "apt-get install -y chromium chromium-driver",
    ) {
        return;
    }
    let db = match ctm_test_postgres::shared() {
        Ok(s) => s.database(),
        Err(e) => {
            ctm_test_postgres::skip(&e);
            return;
        }
    };
    let env = Env::new();
    let bob_root = env.path().join("bob");
    ctm_testdata::generate(&bob_root, &ctm_testdata::GenConfig::small(91)).unwrap();
    for (who, root) in [("alice", fixture_root()), ("bob", bob_root)] {
        let person = Env::new();
        run(person
            .ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["team", "push", "--url", &db.url, "--user", who]));
    }
    let mut cmd = env.ctm();
    cmd.args([
        "--no-ingest",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--team",
        &db.url,
    ])
    .env("CTM_NOW", "2026-02-12T21:30:00Z");
    let server = Served::spawn(cmd);
    let driver = Driver::start(&env.path().join("chromium-profile"));
    let base = format!("http://{}", server.addr);
    driver.open(&format!("{base}/?tz=UTC&range=all&theme=light&live=0"));
    let read = r#"
const num = (id) => Number(document.getElementById(id).dataset.value);
const all = (sel, f) => Array.from(document.querySelectorAll(sel)).map(f);
const shown = (sel) => all(sel, (e) => getComputedStyle(e).display !== 'none');
return {
  team: document.body.classList.contains('team'),
  loaded: Number(document.body.dataset.loaded),
  people: all('#people tbody tr', (r) => [r.dataset.user, Number(r.dataset.cost), Number(r.dataset.responses)]),
  rangeCost: num('range-cost'), monthResponses: num('month-responses'),
  sessionUsers: all('#sessions tbody tr', (r) => r.dataset.user),
  localPanels: shown('.local-only'), personFilter: shown('label.team-only'),
  error: document.getElementById('error').textContent,
};"#;
    let page = driver.script(read);
    assert_eq!(page["error"], "", "{page}");
    assert_eq!(page["team"], true);
    assert!(
        page["localPanels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s == false),
        "{page}"
    );
    assert_eq!(page["personFilter"], json!([true]));
    let users = server.json("/api/users?tz=UTC");
    let want: Vec<Value> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| json!([u["user"], u["totalCost"], u["responses"]]))
        .collect();
    assert_eq!(page["people"], Value::Array(want));
    let everyone = server.json("/api/daily?tz=UTC");
    assert!(close(
        page["rangeCost"].as_f64().unwrap(),
        everyone["totals"]["totalCost"].as_f64().unwrap()
    ));
    driver.screenshot(&shots_dir().join("team.png"));
    // Bob only: a click on his row.
    let before = page["loaded"].as_u64().unwrap();
    driver.script("document.querySelector('#people tr[data-user=\"bob\"]').click(); return true;");
    driver.wait_for(
        "bob's figures",
        &format!("return Number(document.body.dataset.loaded) > {before} && document.getElementById('user').value === 'bob'"),
    );
    let page = driver.script(read);
    let bob = server.json("/api/daily?tz=UTC&user=bob");
    assert!(
        close(
            page["rangeCost"].as_f64().unwrap(),
            bob["totals"]["totalCost"].as_f64().unwrap()
        ),
        "{page}"
    );
    let users = page["sessionUsers"].as_array().unwrap();
    assert!(
        !users.is_empty() && users.iter().all(|u| u == "bob"),
        "{page}"
    );
    driver.screenshot(&shots_dir().join("team-bob.png"));
}
