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
        "the README's total for the fixture"
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

    // A new response in a transcript: the page shows it without a reload.
    let loaded = driver.script("return document.body.dataset.loaded");
    append_response(&root, 7);
    driver.wait_for(
        "the appended response",
        "return Number(document.getElementById('month-responses').dataset.value) === 905",
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
