//! Issue 18's web cases on the real `ctm serve`: cross-site writes, exports that are
//! streamed and bounded, connections that never finish their headers, clients without
//! the token, the Host check and the API's headers. At the suite's scale: the limits
//! that depend on the file descriptor limit are exercised by lowering that limit.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use ctm_testdata::{generate, GenConfig};

use super::serve::{fixture_copy, http, request, Served};
use super::support::*;

const TOKEN: &str = "t0ken-for-the-test-0123456789";

/// `ctm serve` on `root` whose process may open at most `files` files, with the header
/// timeout shortened to `header_ms` (debug builds read it; the default is 10 s).
fn serve_limited(
    env: &Env,
    root: &std::path::Path,
    files: u64,
    header_ms: u64,
    extra: &[&str],
) -> Served {
    let mut cmd = env.ctm();
    cmd.arg("--claude-dir")
        .arg(root)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .env("CTM_NOW", "2026-02-12T21:30:00Z")
        .env("CTM_TEST_HEADER_TIMEOUT_MS", header_ms.to_string());
    let limit = libc::rlimit {
        rlim_cur: files,
        rlim_max: files,
    };
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    Served::spawn(cmd)
}

/// Lets this test process open `n` more sockets.
fn allow_open_files(n: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < n {
            limit.rlim_cur = n.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        assert!(limit.rlim_cur >= n, "this test needs {n} open files");
    }
}

/// One full request on a new connection, with how long the answer took.
fn timed(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, Duration) {
    let started = Instant::now();
    let r = request(addr, path, headers);
    (r.status, started.elapsed())
}

/// Whether the server closed `s` (a read returns end of file or a reset) within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn export_history(server: &Served) -> Vec<serde_json::Value> {
    server.json("/api/exports/history")["exports"]
        .as_array()
        .unwrap()
        .clone()
}

/// Keeps what the server can push to a reader that does not read small.
fn small_receive_buffer(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 4096;
    // SAFETY: the option value is a live c_int of the size given.
    let done = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(done, 0);
}

/// Any page the user visits could make the dashboard write (`GET /api/exports` recorded
/// an export): an export is now a POST, refused when a browser says another site sent
/// it, and every API answer says not to sniff or keep it.
#[test]
fn exports_are_posted_and_refused_cross_site() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    let path = "/api/exports?format=csv&level=daily&tz=UTC";
    let get = server.get(path);
    assert_eq!(get.status, 405, "{}", get.text());
    assert_eq!(get.header("allow"), Some("POST"));
    assert!(get.json()["error"].as_str().unwrap().contains("POST"));
    let origin = format!("http://{}", server.addr);
    for headers in [
        &[
            ("Sec-Fetch-Site", "cross-site"),
            ("Origin", "http://evil.example"),
        ][..],
        &[("Sec-Fetch-Site", "same-site")],
        &[("Origin", "http://evil.example")],
        &[("Origin", "null")],
    ] {
        let mut h = headers.to_vec();
        h.push(("Content-Length", "0"));
        let r = http(server.addr, "POST", path, &h, None);
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text());
        assert_eq!(r.header("connection"), Some("close"));
    }
    // A cross-site login attempt is refused before the code is even looked at.
    let r = request(
        server.addr,
        "/login?code=x",
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(r.status, 403);
    assert!(export_history(&server).is_empty(), "nothing was written");

    let same = [
        ("Origin", origin.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
        ("Content-Length", "0"),
    ];
    let r = http(server.addr, "POST", path, &same, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("transfer-encoding"), Some("chunked"), "streamed");
    assert_eq!(r.text().lines().count(), 4, "a header and three days");
    // A program (no Origin, no Sec-Fetch-Site) may export too.
    assert_eq!(server.post(path).status, 200);
    assert_eq!(export_history(&server).len(), 2);

    for p in ["/api/health", "/api/daily?tz=UTC"] {
        let r = server.get(p);
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{p}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{p}");
    }
    let page = server.get("/");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
}

/// 100 concurrent exports took the server to 1.9 GB. Exports are streamed (each holds a
/// few chunks), at most two run at once (others get 503 at once), and an export whose
/// reader leaves ends and is recorded as failed.
#[test]
fn concurrent_exports_are_bounded_and_a_reader_that_leaves_ends_its_export() {
    let env = Env::new();
    let root = env.path().join("root");
    // Enough responses that an export outgrows what the connection can buffer (the
    // server's send buffer grows to about a megabyte on a loaded machine, with hyper's
    // and the export channel's): about 3 MB of JSON; 30 MB of history (800 KB of export)
    // once fitted, and a "stalled" export ended.
    generate(&root, &GenConfig::with_bytes(7, 120_000_000)).unwrap();
    let server = Served::start(&env, &root, &[]);
    let path = "/api/exports?format=json&level=response&tz=UTC";
    let post = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
        server.addr
    );
    // Two exports whose readers read only the status line.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        small_receive_buffer(&s);
        s.write_all(post.as_bytes()).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200", "{}", String::from_utf8_lossy(&head));
        stalled.push(s);
    }
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..20 {
        let r = server.post(path);
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(r.header("retry-after").is_some());
        refused += 1;
    }
    assert_eq!(refused, 20);
    // Well under the 60 s a stalled export may wait: generous for a loaded CI machine.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "refused at once"
    );
    // Reports still answer meanwhile.
    assert_eq!(server.get("/api/daily?tz=UTC").status, 200);
    // The readers leave: their exports end, and another may run, whole.
    drop(stalled);
    // Before the 60 s stall limit, so it is the readers leaving that ended them.
    let deadline = Instant::now() + Duration::from_secs(50);
    let whole = loop {
        let r = server.post(path);
        if r.status == 200 {
            break r;
        }
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(Instant::now() < deadline, "the stalled exports never ended");
        std::thread::sleep(Duration::from_millis(100));
    };
    let rows = whole.json().as_array().unwrap().len();
    assert!(whole.body.len() > 512 << 10, "{} bytes", whole.body.len());
    let history = export_history(&server);
    let completed: Vec<_> = history
        .iter()
        .filter(|r| r["status"] == "completed")
        .collect();
    let failed: Vec<_> = history.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(completed.len(), 1, "{history:?}");
    assert_eq!(completed[0]["recordCount"], rows as u64);
    assert_eq!(completed[0]["fileSize"], whole.body.len() as u64);
    assert_eq!(failed.len(), 2, "{history:?}");
    for f in failed {
        assert!(
            f["errorMessage"]
                .as_str()
                .unwrap()
                .contains("the download stopped"),
            "{f}"
        );
    }
}

/// 1,100 half-open connections starved the server (probes timed out) and each stayed
/// open 45 s. Scaled down: a server limited to 256 files (so it keeps at most 64
/// connections) and 300 connections that never finish their headers. Probes are answered
/// at once, the half-open connections are closed (evicted, or at the header timeout),
/// and so is an idle kept-alive connection.
#[test]
fn half_open_connections_cannot_starve_the_server() {
    allow_open_files(1024);
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = serve_limited(&env, &root, 256, 1500, &[]);
    let partial = format!("GET /api/health HTTP/1.1\r\nHost: {}\r\n", server.addr);
    let mut half_open: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(partial.as_bytes()).unwrap();
            s
        })
        .collect();
    for _ in 0..5 {
        let (status, took) = timed(server.addr, "/api/health", &[]);
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(2), "a probe took {took:?}");
    }
    // Every half-open connection is closed, the last ones by the header timeout.
    let deadline = Instant::now() + Duration::from_secs(6);
    for (i, s) in half_open.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_within(s, left.max(Duration::from_millis(10))),
            "connection {i} is still open"
        );
    }
    drop(half_open);
    // An idle kept-alive connection is closed after the same time.
    let mut kept = TcpStream::connect(server.addr).unwrap();
    write!(
        kept,
        "GET /api/health HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let idle = Instant::now();
    assert!(closed_within(&mut kept, Duration::from_secs(5)));
    assert!(
        idle.elapsed() < Duration::from_secs(4),
        "{:?}",
        idle.elapsed()
    );
    assert_eq!(timed(server.addr, "/api/health", &[]).0, 200);
}

/// In token mode, clients without the token cannot keep connections (their refusals
/// close them) nor guess it (after a burst of wrong tokens: 429). The scheme is
/// case-insensitive, and a token must be at least 16 characters, not all one.
#[test]
fn without_the_token_clients_keep_nothing_open_and_wrong_tokens_are_slowed() {
    allow_open_files(1024);
    let env = Env::new();
    let root = fixture_copy(&env);
    for weak in ["0123456789abcde", "aaaaaaaaaaaaaaaaaaaaaaaa"] {
        let out = env
            .ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["serve", "--bind", "127.0.0.1:0", "--token", weak])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{weak}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("at least 16 characters, not all the same"),
            "{err}"
        );
    }
    let server = serve_limited(&env, &root, 256, 1500, &["--token", TOKEN]);
    let bearer = format!("bearer {TOKEN}");
    assert_eq!(
        timed(server.addr, "/api/health", &[("Authorization", &bearer)]).0,
        200,
        "the scheme in any case"
    );
    // 300 clients without a token, each on a kept-alive connection: each refusal closes.
    let ask = format!("GET /api/daily HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    let mut refused: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(ask.as_bytes()).unwrap();
            s
        })
        .collect();
    let (status, took) = timed(server.addr, "/api/health", &[("Authorization", &bearer)]);
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(2), "{took:?}");
    for s in &mut refused {
        assert!(closed_within(s, Duration::from_secs(5)));
    }
    // Wrong tokens: a burst of 401s, then 429 (for the right token too) until it waits.
    for i in 0..10 {
        let r = request(
            server.addr,
            "/api/health",
            &[("Authorization", "Bearer not-the-token-0123456789")],
        );
        assert_eq!(r.status, 401, "try {i}");
        assert_eq!(r.header("connection"), Some("close"));
    }
    let slowed = request(
        server.addr,
        "/api/health",
        &[("Authorization", "Bearer not-the-token-0123456789")],
    );
    assert_eq!(slowed.status, 429, "{}", slowed.text());
    let wait: u64 = slowed.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(
        request(server.addr, "/login?code=guess", &[]).status,
        429,
        "login codes are tries too"
    );
    std::thread::sleep(Duration::from_secs(wait + 1));
    assert_eq!(
        timed(server.addr, "/api/health", &[("Authorization", &bearer)]).0,
        200
    );
}

/// The Host check parsed `127.0.0.1:x@evil.example` and `[::1]evil` as loopback names.
#[test]
fn the_host_check_parses_the_whole_host() {
    let env = Env::new();
    let root = fixture_copy(&env);
    let server = Served::start(&env, &root, &[]);
    let port = server.addr.port();
    for host in [
        "127.0.0.1:x@evil.example".to_owned(),
        "[::1]evil".to_owned(),
        format!("[::1]:{port}evil"),
        format!("localhost:{port}@evil.example"),
    ] {
        let r = request(server.addr, "/api/health", &[("Host", &host)]);
        assert_eq!(r.status, 403, "{host}: {}", r.text());
    }
    for host in [format!("[::1]:{port}"), format!("LocalHost:{port}")] {
        let r = request(server.addr, "/api/health", &[("Host", &host)]);
        assert_eq!(r.status, 200, "{host}: {}", r.text());
    }
}
