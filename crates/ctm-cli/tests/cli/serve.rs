//! `ctm serve` as a user runs it: the real binary on 127.0.0.1:0 (never any other
//! address), asked over plain HTTP/1.1 by a small client on a std TcpStream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ctm_testdata::{generate, GenConfig};
use serde_json::Value;

use super::support::*;

/// Any read on a socket gives up after this (a hung server fails the test, never blocks it).
const READ_LIMIT: Duration = Duration::from_secs(60);

/// A running `ctm serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    /// The rest of the start-up lines (the login link, when there is a token).
    pub lines: Vec<String>,
}

impl Served {
    /// `ctm serve --bind 127.0.0.1:0` on `root` with `extra` arguments; waits for the
    /// "listening" line and reads the address from it.
    pub fn start(env: &Env, root: &Path, extra: &[&str]) -> Served {
        let mut cmd = env.ctm();
        cmd.arg("--claude-dir")
            .arg(root)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(extra)
            .env("CTM_NOW", "2026-02-12T21:30:00Z");
        Served::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Served {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let Some(addr) = first
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|w| w.trim_end_matches('/').parse::<SocketAddr>().ok())
        else {
            let _ = child.kill();
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("ctm serve did not start: {first:?} {err}");
        };
        assert!(addr.ip().is_loopback(), "{addr}");
        let mut lines = Vec::new();
        if extra_line_expected(&first) {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            lines.push(l);
        }
        // The rest of stdout is not read: keep the pipe open without blocking the child.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        Served { child, addr, lines }
    }

    pub fn get(&self, path: &str) -> Reply {
        request(self.addr, path, &[])
    }

    /// A POST without a body, as a program sends it (no Origin, no Sec-Fetch-Site).
    pub fn post(&self, path: &str) -> Reply {
        http(self.addr, "POST", path, &[("Content-Length", "0")], None)
    }

    /// A 200 JSON answer.
    pub fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.json()
    }
}

/// The login link follows the listening line when a token is set; the server says so.
fn extra_line_expected(first: &str) -> bool {
    first.contains("token required")
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One GET with `Connection: close`; the path is sent exactly as given (no normalising).
pub fn request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    http(addr, "GET", path, headers, None)
}

/// One request with `Connection: close` and an optional JSON body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    assert!(addr.ip().is_loopback(), "tests only talk to loopback");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(READ_LIMIT)).unwrap();
    // The caller may name another Host (the DNS-rebinding test); else the address.
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).unwrap();
    parse_reply(&read_reply(&mut s))
}

/// Reads one whole reply: by Content-Length, to the last chunk, or to the end (a peer
/// may keep the connection open despite `Connection: close`).
fn read_reply(s: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let body = &raw[end + 4..];
            let done = match length {
                Some(n) => body.len() >= n,
                None if head.contains("transfer-encoding: chunked") => body.ends_with(b"0\r\n\r\n"),
                None => false,
            };
            if done {
                return raw;
            }
        }
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            // A signal (a browser test's child exiting) can interrupt the read: read again.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("reading the reply: {e}"),
        };
        if n == 0 {
            return raw;
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

/// The fixture copied into the env (so tests may append to it).
pub fn fixture_copy(env: &Env) -> std::path::PathBuf {
    let root = env.path().join("root");
    copy_tree(&fixture_root(), &root);
    root
}

#[test]
fn api_daily_is_the_json_of_ctm_daily() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    let cases: [(&str, &[&str]); 5] = [
        ("tz=UTC", &["--timezone", "UTC"]),
        ("tz=Asia/Tokyo", &["--timezone", "Asia/Tokyo"]),
        (
            "tz=America/New_York&since=20260211&until=2026-02-12&order=desc",
            &[
                "--timezone",
                "America/New_York",
                "--since",
                "20260211",
                "--until",
                "2026-02-12",
                "--order",
                "desc",
            ],
        ),
        (
            "tz=UTC&model=opus",
            &["--timezone", "UTC", "--model", "opus"],
        ),
        ("", &[]),
    ];
    for (query, args) in cases {
        let api = server.json(&format!("/api/daily?{query}"));
        let cli = json(
            env.ctm()
                .args(["--no-ingest", "daily", "--json"])
                .args(args),
        );
        assert_eq!(api, cli, "/api/daily?{query}");
    }
    assert_eq!(daily_totals(&server.json("/api/daily")), FIXTURE_TOTALS);
    // The other reports are the CLI's values too.
    for (route, cmd) in [
        ("weekly", "weekly"),
        ("monthly", "monthly"),
        ("projects", "project"),
        ("models", "models"),
        ("hourly", "hourly"),
        ("cache", "cache"),
        ("top", "top"),
    ] {
        let api = server.json(&format!("/api/{route}?tz=Asia/Kolkata"));
        let cli =
            json(
                env.ctm()
                    .args(["--no-ingest", cmd, "--json", "--timezone", "Asia/Kolkata"]),
            );
        assert_eq!(api, cli, "/api/{route}");
    }
    let api = server.json("/api/blocks?tz=UTC&token_limit=max");
    let cli = json(
        env.ctm()
            .args([
                "--no-ingest",
                "blocks",
                "--json",
                "--timezone",
                "UTC",
                "--token-limit",
                "max",
            ])
            .env("CTM_NOW", "2026-02-12T21:30:00Z"),
    );
    assert_eq!(api, cli, "/api/blocks");
    let api = server.json("/api/sessions/d6e0?tz=UTC");
    let cli = json(env.ctm().args([
        "--no-ingest",
        "session",
        "d6e0",
        "--json",
        "--timezone",
        "UTC",
    ]));
    assert_eq!(api, cli, "/api/sessions/d6e0");
}

#[test]
fn api_figures_equal_the_generator_ground_truth() {
    let env = Env::new();
    let root = env.path().join("gen");
    let expected = generate(&root, &GenConfig::small(29)).unwrap();
    let server = Served::start(&env, &root, &[]);
    for zone in ["UTC", "Asia/Tokyo", "America/New_York"] {
        let daily = server.json(&format!("/api/daily?tz={zone}"));
        let got: Vec<(String, u64, u64, u64, u64, u64)> = daily["daily"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let n = |k: &str| d[k].as_u64().unwrap();
                (
                    d["date"].as_str().unwrap().to_owned(),
                    n("responses"),
                    n("inputTokens"),
                    n("outputTokens"),
                    n("cacheCreationTokens"),
                    n("cacheReadTokens"),
                )
            })
            .collect();
        let want: Vec<(String, u64, u64, u64, u64, u64)> = expected.by_day[zone]
            .iter()
            .map(|(d, t)| {
                (
                    d.clone(),
                    t.responses,
                    t.input_tokens,
                    t.output_tokens,
                    t.cache_creation_tokens,
                    t.cache_read_tokens,
                )
            })
            .collect();
        assert_eq!(got, want, "{zone}");
        for route in ["weekly", "monthly"] {
            let v = server.json(&format!("/api/{route}?tz={zone}"));
            assert_eq!(daily_totals(&v), daily_totals(&daily), "{route} {zone}");
            let cost = |r: &Value| r["totals"]["totalCost"].as_f64().unwrap();
            // The same responses summed in another grouping: equal up to rounding.
            assert!((cost(&v) - cost(&daily)).abs() < 1e-6, "{route} {zone}");
        }
    }
    let t = &expected.totals;
    let want = (
        t.responses,
        t.input_tokens,
        t.output_tokens,
        t.cache_creation_tokens,
        t.cache_read_tokens,
    );
    assert_eq!(daily_totals(&server.json("/api/daily?tz=UTC")), want);
    // Sessions: every page together is every session once, and the count is the generator's.
    let all = server.json("/api/sessions?tz=UTC&limit=1000");
    let total = all["total"].as_u64().unwrap() as usize;
    assert_eq!(total, expected.by_session.len());
    let mut paged = Vec::new();
    let mut offset = 0;
    while offset < total {
        let page = server.json(&format!("/api/sessions?tz=UTC&limit=7&offset={offset}"));
        assert_eq!(page["total"].as_u64().unwrap() as usize, total);
        paged.extend(page["sessions"].as_array().unwrap().iter().cloned());
        offset += 7;
    }
    assert_eq!(&Value::Array(paged), &all["sessions"]);
    let by_cost = server.json("/api/sessions?sort=cost&order=desc&limit=1000");
    let costs: Vec<f64> = by_cost["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["totalCost"].as_f64().unwrap())
        .collect();
    assert!(costs.windows(2).all(|w| w[0] >= w[1]), "{costs:?}");
    for (id, t) in &expected.by_session {
        let s = server.json(&format!("/api/sessions/{id}?tz=UTC"));
        assert_eq!(
            s["session"]["responses"].as_u64().unwrap(),
            t.responses,
            "{id}"
        );
        assert_eq!(
            s["responses"].as_array().unwrap().len() as u64,
            t.responses,
            "{id}"
        );
        let n = |k: &str| s["session"][k].as_u64().unwrap();
        assert_eq!(
            (n("inputTokens"), n("outputTokens"), n("cacheReadTokens")),
            (t.input_tokens, t.output_tokens, t.cache_read_tokens),
            "{id}"
        );
    }
}

#[test]
fn bad_parameters_are_400_naming_the_parameter_and_unknown_paths_404() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    for (path, param) in [
        ("/api/daily?since=2026-13-01", "since"),
        ("/api/daily?until=tomorrow", "until"),
        ("/api/daily?since=2026-02-12&until=2026-02-10", "since"),
        ("/api/weekly?tz=Mars/Olympus", "tz"),
        ("/api/weekly?start_of_week=someday", "start_of_week"),
        ("/api/monthly?order=sideways", "order"),
        ("/api/monthly?colour=red", "colour"),
        ("/api/daily?tz=UTC&tz=UTC", "tz"),
        ("/api/sessions?limit=0", "limit"),
        ("/api/sessions?limit=abc", "limit"),
        ("/api/sessions?offset=-1", "offset"),
        ("/api/sessions?sort=price", "sort"),
        ("/api/sessions?date=2026-02-10&since=2026-02-10", "date"),
        ("/api/top?limit=99999", "limit"),
        ("/api/blocks?token_limit=lots", "token_limit"),
        ("/api/blocks?active=maybe", "active"),
        ("POST /api/exports", "format"),
        ("POST /api/exports?format=xml", "format"),
        ("POST /api/exports?format=csv&level=line", "level"),
        ("/api/health?verbose=1", "verbose"),
        ("/events?x=1", "x"),
    ] {
        let r = match path.strip_prefix("POST ") {
            Some(p) => http(server.addr, "POST", p, &[], None),
            None => server.get(path),
        };
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let v = r.json();
        assert_eq!(v["parameter"], param, "{path}: {v}");
        let message = v["error"].as_str().unwrap();
        assert!(
            message.contains(param) && !message.contains('\n'),
            "{path}: {message}"
        );
    }
    // A prefix of several sessions (the fixture has 491e126e and 4d5611e5).
    let r = server.get("/api/sessions/4");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["parameter"], "id");
    for path in [
        "/api/nothing",
        "/api/daily/extra",
        "/index.html",
        "/assets/app.js",
        "/api/sessions/no-such-session",
        "/api/sessions/d6e0?since=2026-02-12",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{path}");
    }
}

#[test]
fn no_request_path_reaches_a_file() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let secret = env.path().join("secret.txt");
    std::fs::write(&secret, "do-not-serve-this").unwrap();
    let server = Served::start(&env, &root, &[]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    let abs = secret.display().to_string();
    for path in [
        "/../secret.txt".to_owned(),
        "/../../../../etc/passwd".to_owned(),
        "/%2e%2e/%2e%2e/etc/passwd".to_owned(),
        "/app.js/../../../etc/passwd".to_owned(),
        "/..%2f..%2f..%2fetc%2fpasswd".to_owned(),
        "//etc/passwd".to_owned(),
        format!("/{abs}"),
        format!("/%2F{}", abs.trim_start_matches('/')),
        "/api/sessions/..%2F..%2Fetc%2Fpasswd".to_owned(),
        "/api/../../etc/passwd".to_owned(),
        "/.%2e/Cargo.toml".to_owned(),
    ] {
        let r = request(server.addr, &path, &[]);
        assert!(
            r.status == 404 || r.status == 400,
            "{path}: {} {}",
            r.status,
            r.text()
        );
        let body = r.text();
        assert!(
            !body.contains("root:")
                && !body.contains("do-not-serve-this")
                && !body.contains("[package]"),
            "{path}: {body}"
        );
    }
}

#[test]
fn a_non_loopback_bind_without_a_token_is_refused_in_one_line() {
    let env = Env::new();
    let root = env.root("root");
    for bind in ["0.0.0.0:0", "[::]:0", "192.0.2.1:7878"] {
        let out = env
            .ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["serve", "--bind", bind])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bind}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--token") && err.contains("refusing"), "{err}");
        assert!(out.stdout.is_empty(), "{bind} printed {:?}", out.stdout);
    }
    // A token that is too short is refused even on loopback.
    let out = env
        .ctm()
        .arg("--claude-dir")
        .arg(&root)
        .args(["serve", "--bind", "127.0.0.1:0", "--token", "short"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn without_a_token_only_loopback_host_names_are_answered() {
    // A page that reached 127.0.0.1 through DNS rebinding sends its own name as Host.
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    let port = server.addr.port();
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let r = request(server.addr, "/api/health", &[("Host", &host)]);
        assert_eq!(r.status, 200, "{host}: {}", r.text());
    }
    for host in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
    ] {
        for path in ["/", "/api/daily", "/events"] {
            let r = request(server.addr, path, &[("Host", &host)]);
            assert_eq!(r.status, 403, "{host}{path}: {}", r.text());
            assert!(r.json()["error"].as_str().unwrap().contains("localhost"));
        }
    }
    // With a token, the token is the guard, whatever name the client used.
    let token = "0123456789abcdef0123";
    let guarded = Served::start(&env, &root, &["--token", token]);
    let bearer = format!("Bearer {token}");
    let r = request(
        guarded.addr,
        "/api/health",
        &[("Host", "ctm.example:7878"), ("Authorization", &bearer)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(guarded.addr, "/api/health", &[("Host", "ctm.example:7878")]);
    assert_eq!(r.status, 401, "{}", r.text());
}

#[test]
fn with_a_token_only_bearer_or_the_login_cookie_pass() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let token = "t0ken-for-the-test-0123456789";
    let server = Served::start(&env, &root, &["--token", token]);
    let link = server.lines.first().expect("the login link line").clone();
    let path = link
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("http://{}", server.addr)))
        .expect("a link to this server")
        .to_owned();
    assert!(path.starts_with("/login?code="), "{link}");
    for p in ["/", "/api/daily", "/events", "/app.js", "/nothing"] {
        assert_eq!(server.get(p).status, 401, "{p}");
    }
    let bearer = format!("Bearer {token}");
    let ok = request(
        server.addr,
        "/api/daily?tz=UTC",
        &[("Authorization", &bearer)],
    );
    assert_eq!(ok.status, 200);
    assert_eq!(daily_totals(&ok.json()), FIXTURE_TOTALS);
    let wrong = request(
        server.addr,
        "/api/daily",
        &[("Authorization", "Bearer t0ken-for-the-test-0123456780")],
    );
    assert_eq!(wrong.status, 401);
    // The link sets the cookie once; the cookie then opens everything.
    let login = server.get(&path);
    assert_eq!(login.status, 303, "{}", login.text());
    let cookie = login.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(server.get(&path).status, 401, "the link works once");
    let page = request(server.addr, "/", &[("Cookie", &pair)]);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<html"));
    let api = request(server.addr, "/api/health", &[("Cookie", &pair)]);
    assert_eq!(api.status, 200);
    let bad_cookie = request(server.addr, "/api/health", &[("Cookie", "ctm_token=nope")]);
    assert_eq!(bad_cookie.status, 401);
}

#[test]
fn exports_download_and_are_recorded() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    let csv = server.post("/api/exports?format=csv&level=daily&tz=UTC");
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .contains("ctm-daily-all-all.csv"));
    let text = csv.text();
    assert!(text.starts_with("date,"), "{text}");
    assert_eq!(text.lines().count(), 4, "a header and three days");
    let js = server.post("/api/exports?format=json&level=session&tz=UTC&since=2026-02-11");
    assert_eq!(js.status, 200);
    assert_eq!(
        js.json().as_array().unwrap().len(),
        5,
        "sessions active from 2026-02-11"
    );
    // The same rows as `ctm export` writes.
    let file = env.path().join("out.json");
    run(env
        .ctm()
        .args([
            "--no-ingest",
            "export",
            "--format",
            "json",
            "--level",
            "session",
            "--timezone",
            "UTC",
            "--since",
            "2026-02-11",
            "-o",
        ])
        .arg(&file));
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(js.json(), written);
    let history = server.json("/api/exports/history");
    let rows = history["exports"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{history}");
    assert_eq!(rows[0]["format"], "csv");
    assert_eq!(rows[0]["recordCount"], 3);
    assert_eq!(rows[0]["fileSize"].as_u64().unwrap(), csv.body.len() as u64);
    assert_eq!(rows[1]["dateRangeStart"], "2026-02-11");
    assert_eq!(rows[1]["status"], "completed");
}

#[test]
fn summary_is_today_week_month_and_the_active_block() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    let s = server.json("/api/summary?tz=UTC");
    let today = server.json("/api/daily?tz=UTC&since=2026-02-12&until=2026-02-12");
    assert_eq!(s["today"]["totalCost"], today["totals"]["totalCost"]);
    assert_eq!(s["today"]["responses"], 551);
    let week = server.json("/api/daily?tz=UTC&since=2026-02-09&until=2026-02-12");
    assert_eq!(s["thisWeek"]["totalTokens"], week["totals"]["totalTokens"]);
    assert_eq!(s["thisMonth"]["responses"], 904);
    let active = server.json("/api/blocks?tz=UTC&active=true&token_limit=max");
    assert_eq!(s["currentBlock"], active["blocks"][0]);
    assert_eq!(s["tokenLimit"], active["tokenLimit"]);
    assert!(s["currentBlock"]["projection"].is_object());
    // Nothing reported Claude's own figures yet.
    assert_eq!(
        s["officialLimits"],
        serde_json::json!({"fiveHour": null, "sevenDay": null})
    );
    let health = server.json("/api/health");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["billedResponses"], 904);
}

/// An open `/events` stream, read line by line.
pub struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    /// Opens the stream and waits for its `hello`.
    pub fn open(addr: SocketAddr) -> EventStream {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(READ_LIMIT)).unwrap();
        write!(
            s,
            "GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut es = EventStream {
            reader: BufReader::new(s),
        };
        let mut status = String::new();
        es.reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        es.next_event("hello");
        es
    }

    /// Reads until an event of this name arrives (each read bounded by READ_LIMIT);
    /// returns its data.
    pub fn next_event(&mut self, name: &str) -> String {
        let mut current = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "the event stream ended before {name}");
            let line = line.trim_end();
            if let Some(ev) = line
                .strip_prefix("event: ")
                .or_else(|| line.strip_prefix("event:"))
            {
                current = ev.trim().to_owned();
            } else if let Some(data) = line
                .strip_prefix("data: ")
                .or_else(|| line.strip_prefix("data:"))
            {
                if current == name {
                    return data.trim().to_owned();
                }
            }
        }
    }
}

/// A transcript of the root to append to, and a new response line for it.
pub fn append_response(root: &Path, n: u64) {
    let file = walk(&root.join("projects"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let line = assistant_line(
        "serve-test-session",
        &format!("msg_serve_{n}"),
        &format!("req_serve_{n}"),
        "2026-02-12T21:20:00.000Z",
        "claude-opus-4-6",
        1000 + n,
        10,
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    // One write: the follower never sees half a line (which would be a second run).
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

#[test]
fn events_tell_every_open_client_about_new_data_and_closed_clients_cost_nothing() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    let mut kept: Vec<EventStream> = (0..3).map(|_| EventStream::open(server.addr)).collect();
    let gone: Vec<EventStream> = (0..4).map(|_| EventStream::open(server.addr)).collect();
    assert_eq!(server.json("/api/health")["eventClients"], 7);
    drop(gone);
    append_response(&root, 1);
    for es in &mut kept {
        let data: Value = serde_json::from_str(&es.next_event("ingested")).unwrap();
        assert_eq!(data["responsesAdded"], 1, "{data}");
    }
    let daily = server.json("/api/daily?tz=UTC");
    assert_eq!(daily["totals"]["responses"], 905);
    // A dropped client is noticed at the next message it cannot take: wait for it (each
    // step bounded), then only the open streams are left.
    append_response(&root, 2);
    for es in &mut kept {
        es.next_event("ingested");
    }
    let mut clients = 0;
    for _ in 0..300 {
        clients = server.json("/api/health")["eventClients"].as_u64().unwrap();
        if clients == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(clients, 3);
    assert_eq!(server.json("/api/daily?tz=UTC")["totals"]["responses"], 906);
    let health = server.json("/api/health");
    assert!(
        health["ingest"]["runsWithNewData"].as_u64().unwrap() >= 2,
        "{health}"
    );
}

#[test]
fn under_load_every_answer_is_right_and_nothing_is_corrupted() {
    const POLLERS: usize = 50;
    const REQUESTS_EACH: usize = 12;
    const STREAMS: usize = 5;
    const APPENDS: u64 = 5;
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    let addr = server.addr;
    let mut streams: Vec<EventStream> = (0..STREAMS).map(|_| EventStream::open(addr)).collect();
    let routes = [
        "/api/daily?tz=UTC",
        "/api/summary?tz=UTC",
        "/api/sessions?tz=UTC&limit=5",
        "/api/models?tz=UTC",
        "/api/hourly?tz=UTC",
        "/api/blocks?tz=UTC",
    ];
    let pollers: Vec<_> = (0..POLLERS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut last = 0;
                for j in 0..REQUESTS_EACH {
                    let route = routes[(i + j) % routes.len()];
                    let r = request(addr, route, &[]);
                    assert_eq!(r.status, 200, "{route}: {}", r.text());
                    let v = r.json();
                    if route.starts_with("/api/daily") {
                        // The store only grows, one whole response at a time.
                        let n = v["totals"]["responses"].as_u64().unwrap();
                        assert!(
                            (904..=904 + APPENDS).contains(&n) && n >= last,
                            "{n} after {last}"
                        );
                        let sum: u64 = v["daily"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|d| d["responses"].as_u64().unwrap())
                            .sum();
                        assert_eq!(sum, n);
                        last = n;
                    }
                }
            })
        })
        .collect();
    for n in 1..=APPENDS {
        append_response(&root, 100 + n);
        // Each append is seen by every stream before the next one (so none is coalesced
        // away and every client gets each message).
        for es in &mut streams {
            es.next_event("ingested");
        }
    }
    for p in pollers {
        p.join().unwrap();
    }
    let daily = server.json("/api/daily?tz=UTC");
    assert_eq!(daily["totals"]["responses"], 904 + APPENDS);
    let (_, input, ..) = daily_totals(&daily);
    assert_eq!(
        input,
        FIXTURE_TOTALS.1 + (1..=APPENDS).map(|n| 1000 + 100 + n).sum::<u64>()
    );
    drop(server);
    run(env.ctm().args(["--no-ingest", "db", "check"]));
}

/// The header of an answer that lacks pruned responses.
const PRUNED: &str = "ctm-pruned-before";

#[test]
fn after_a_prune_answers_say_which_days_they_lack_as_the_cli_does() {
    let env = Env::new();
    let root = fixture_copy(&env);
    run(env.ctm().arg("--claude-dir").arg(&root).arg("ingest"));
    // With this "now", 2026-02-10 goes and 2026-02-11 on stay.
    run(env.ctm().env("CTM_NOW", "2026-02-13T10:00:00Z").args([
        "db",
        "prune",
        "--facts-older-than",
        "2",
    ]));
    let server = Served::start(&env, &root, &["--no-ingest"]);
    // The daily tables keep the pruned days: the store's zone without filters is whole.
    let daily = server.get("/api/daily?tz=UTC");
    assert_eq!(daily.header(PRUNED), None);
    assert_eq!(daily_totals(&daily.json()), FIXTURE_TOTALS);
    for path in [
        "/api/models?tz=UTC",
        "/api/daily?tz=UTC&model=opus",
        "/api/daily?tz=Asia/Tokyo",
        "/api/sessions?tz=UTC",
        "POST /api/exports?format=json&tz=UTC",
    ] {
        let r = match path.strip_prefix("POST ") {
            Some(p) => server.post(p),
            None => server.get(path),
        };
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header(PRUNED), Some("2026-02-11"), "{path}");
    }
    assert_eq!(
        server
            .get("/api/models?tz=UTC&since=2026-02-11")
            .header(PRUNED),
        None,
        "a query after the horizon lacks nothing"
    );
    let api = server.json("/api/models?tz=UTC");
    let cli = json(
        env.ctm()
            .args(["--no-ingest", "models", "--json", "--timezone", "UTC"]),
    );
    assert_eq!(api, cli);
}

#[test]
fn the_token_may_come_from_the_config_file() {
    let env = Env::new();
    let root = env.root("root");
    let config = env.path().join("config.toml");
    std::fs::write(&config, "[serve]\ntoken = \"from-the-config-file-0123\"\n").unwrap();
    let mut cmd = env.ctm();
    cmd.arg("--claude-dir")
        .arg(&root)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--bind", "127.0.0.1:0"]);
    let server = Served::spawn(cmd);
    assert!(
        server.lines[0].contains("/login?code="),
        "{:?}",
        server.lines
    );
    assert_eq!(server.get("/api/health").status, 401);
    let ok = request(
        server.addr,
        "/api/health",
        &[("Authorization", "Bearer from-the-config-file-0123")],
    );
    assert_eq!(ok.status, 200);
    // A token that is not a string is refused in one line.
    std::fs::write(&config, "[serve]\ntoken = 12\n").unwrap();
    let out = env
        .ctm()
        .arg("--claude-dir")
        .arg(&root)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad config file is a runtime error"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[serve] token must be a string"), "{err}");
}

#[test]
fn serve_records_stats_cache_snapshots_while_it_follows() {
    let env = Env::new();
    let root = fixture_copy(&env);
    std::fs::write(root.join("stats-cache.json"), super::snapshots_cmd::v5(11)).unwrap();
    let server = Served::start(&env, &root, &[]);
    // The follower takes the first snapshot once it has started: wait for it (bounded).
    let mut list = Vec::new();
    for _ in 0..200 {
        list = server.json("/api/snapshots")["snapshots"]
            .as_array()
            .unwrap()
            .clone();
        if !list.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["totals"]["input"], 100);
    assert_eq!(list[0]["totals"]["output"], 900);
    assert_eq!(list[0]["totals"]["cacheRead"], 40_000);
    assert_eq!(list[0]["totals"]["cacheWrite"], 2_000);
    assert!(list[0]["totalCostUsd"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_official_limits_statusline_kept_are_in_the_summary_and_the_blocks() {
    use super::statusline::{statusline, HOOK_WITH_LIMITS};
    let env = Env::new();
    let root = fixture_copy(&env);
    assert!(statusline(&env, &root, HOOK_WITH_LIMITS.as_bytes())
        .status
        .success());
    let server = Served::start(&env, &root, &[]);
    let s = server.json("/api/summary?tz=UTC");
    let five = &s["officialLimits"]["fiveHour"];
    assert_eq!(five["usedPercentage"], 37.0);
    assert_eq!(five["source"], "official");
    assert_eq!(five["resetsAt"], "2026-02-13T01:00:00.000+00:00");
    assert_eq!(five["expired"], false);
    assert_eq!(s["officialLimits"]["sevenDay"]["usedPercentage"], 12.5);
    let blocks = server.json("/api/blocks?tz=UTC&active=true");
    assert_eq!(blocks["official"], s["officialLimits"]);
    let cli = json(env.ctm().env("CTM_NOW", "2026-02-12T21:30:00Z").args([
        "--no-ingest",
        "blocks",
        "--active",
        "--json",
        "--timezone",
        "UTC",
    ]));
    assert_eq!(blocks, cli);
}
