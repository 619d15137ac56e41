//! A real PostgreSQL server for tests and benchmarks, never a mock.
//!
//! [`shared`] is the server the tests of one process share: the one `CTM_TEST_PG_URL`
//! names (a URL whose role may create databases), else a throwaway cluster started once
//! from the installed PostgreSQL binaries (`initdb` and `pg_ctl`, run as the `postgres`
//! user when the tests run as root, as PostgreSQL refuses to run as root), with trust
//! authentication on a free loopback port, in a folder under the temporary directory.
//! Each test takes its own [`Database`], dropped when the test ends. A test that stops
//! and starts the server, or needs TLS, starts its own [`Cluster`].
//!
//! A cluster is stopped and removed when dropped (also while a test panics) and, since a
//! shared cluster lives in a static that is never dropped, by a watcher process that
//! outlives the test process: when that process ends in any way (the end of the run, an
//! abort, `kill -9`), the watcher stops the server and removes its folder.
//!
//! Without a server (no URL, no binaries) [`shared`] and [`Cluster::start`] say why;
//! tests then call [`skip`], which fails under CI (`.ci/run` installs PostgreSQL, so
//! there a missing server is a broken setup, never a quiet skip).

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable naming an existing server to test against.
pub const URL_VAR: &str = "CTM_TEST_PG_URL";

/// Whether this run is CI's (`CI` set and not false), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Says loudly that a test did not run because no PostgreSQL is available, and returns
/// true; under CI it fails the test instead.
pub fn skip(why: &str) -> bool {
    let msg = format!(
        "no PostgreSQL server ({why}), so this test did NOT run; set {URL_VAR} or install \
         the postgresql package (.ci/run does)"
    );
    assert!(!in_ci(), "{msg}");
    // Past the test harness's capture, so the skip is seen.
    let _ = writeln!(std::io::stderr(), "\n\n*** SKIPPED: {msg} ***\n");
    true
}

/// A server tests can create databases on.
pub enum Server {
    /// The one `CTM_TEST_PG_URL` names.
    External { admin_url: String },
    /// A throwaway cluster this process started.
    Cluster(Cluster),
}

static SHARED: OnceLock<Result<Server, String>> = OnceLock::new();

/// The server this process's tests share, started on first use; `Err` says why there is
/// none.
pub fn shared() -> Result<&'static Server, String> {
    SHARED
        .get_or_init(|| match std::env::var(URL_VAR) {
            Ok(url) if !url.is_empty() => Ok(Server::External { admin_url: url }),
            _ => Cluster::start(&ClusterOptions::default()).map(Server::Cluster),
        })
        .as_ref()
        .map_err(Clone::clone)
}

impl Server {
    /// A URL with the rights to create databases and roles.
    pub fn admin_url(&self) -> String {
        match self {
            Server::External { admin_url } => admin_url.clone(),
            Server::Cluster(c) => c.admin_url(),
        }
    }

    /// A new empty database, dropped when the value is.
    pub fn database(&self) -> Database {
        Database::create(&self.admin_url())
    }
}

/// One test's database.
pub struct Database {
    /// Connects as the admin role to this database.
    pub url: String,
    pub name: String,
    admin_url: String,
}

impl Database {
    /// Creates a new database on the server `admin_url` points at.
    pub fn create(admin_url: &str) -> Database {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ctm_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = connect(admin_url);
        // Two statements: CREATE DATABASE cannot run inside the implicit transaction of a
        // multi-statement query.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("cannot create database {name}: {}", describe(&e)));
        }
        Database {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_owned(),
        }
    }

    /// A URL to this database as another role (created by the test), without a password.
    pub fn url_as(&self, role: &str) -> String {
        with_user(&self.url, role)
    }

    /// A client connected as the admin role.
    pub fn client(&self) -> postgres::Client {
        connect(&self.url)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {}", describe(&e)))
}

/// A client error with the server's message, which `Display` leaves out.
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{e}: {}", db.message()),
        None => e.to_string(),
    }
}

/// `url` with its database (the URL's path) replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|j| start + j))
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `url` with its user (and any password) replaced by `user`.
pub fn with_user(url: &str, user: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let host_start = match rest.find('@') {
        Some(at) if rest[..at].find('/').is_none() => at + 1,
        _ => 0,
    };
    format!("{}{user}@{}", &url[..start], &rest[host_start..])
}

/// How a cluster is set up.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Serve TLS with a certificate for `localhost` signed by a throwaway CA
    /// ([`Cluster::ca_cert`]), and refuse TCP connections without it; needs the `openssl`
    /// program.
    pub tls: bool,
    /// Roles other than `postgres` log in over TCP with their password (SCRAM).
    pub passwords: bool,
    /// Write as a real server does (fsync, full page writes), for benchmarks; tests
    /// leave it off (an immediate stop still keeps what the OS was given).
    pub durable: bool,
}

/// A PostgreSQL cluster of its own: initialised, started, stopped and removed by this
/// process.
pub struct Cluster {
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    options: ClusterOptions,
    watcher: Option<Child>,
}

impl Cluster {
    /// The folder holding `initdb` and `pg_ctl`: PostgreSQL 15's first, else any
    /// version's, else `pg_config --bindir`.
    pub fn binaries() -> Option<PathBuf> {
        let has = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
        let preferred = PathBuf::from("/usr/lib/postgresql/15/bin");
        if has(&preferred) {
            return Some(preferred);
        }
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|d| has(d))
            .collect();
        versions.sort();
        if let Some(d) = versions.pop() {
            return Some(d);
        }
        let out = Command::new("pg_config").arg("--bindir").output().ok()?;
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        has(&d).then_some(d)
    }

    /// Initialises and starts a cluster, or says why it cannot.
    pub fn start(options: &ClusterOptions) -> Result<Cluster, String> {
        Cluster::start_in(&std::env::temp_dir(), options)
    }

    /// [`Cluster::start`] in a folder under `parent` (a benchmark's data folder, where
    /// there is room).
    pub fn start_in(parent: &Path, options: &ClusterOptions) -> Result<Cluster, String> {
        let bin = Cluster::binaries()
            .ok_or("no initdb/pg_ctl found under /usr/lib/postgresql or by pg_config")?;
        // SAFETY: geteuid has no preconditions.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let dir = parent.join(format!(
            "ctm-pg-{}-{}",
            std::process::id(),
            NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // The postgres user must reach its data folder and socket.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let data = dir.join("data");
        let mut cluster = Cluster {
            dir,
            data,
            bin,
            port: 0,
            as_postgres,
            options: options.clone(),
            watcher: None,
        };
        cluster.watch();
        if as_postgres {
            cluster.chown_to_postgres(&cluster.dir)?;
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&cluster.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        if options.tls {
            cluster.make_certificates()?;
        }
        cluster.write_hba()?;
        // A port that was free a moment ago may be taken by the time the server binds it.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.start_again() {
                Ok(()) => return Ok(cluster),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Starts the (stopped) server again on its port.
    pub fn start_again(&self) -> Result<(), String> {
        let mut settings = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            path_str(&self.dir)
        );
        if !self.options.durable {
            settings.push_str(" -c fsync=off -c full_page_writes=off");
        }
        if self.options.tls {
            settings.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                path_str(&self.dir.join("server.crt")),
                path_str(&self.dir.join("server.key"))
            ));
        }
        self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data),
                "-o",
                &settings,
                "-l",
                path_str(&self.dir.join("server.log")),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map_err(|e| format!("{e}\n{}", self.log_tail()))?;
        // Accepting connections, not only started.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match postgres::Client::connect(&self.admin_url(), postgres::NoTls) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("the server does not answer: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`): open
    /// transactions are lost, committed ones kept.
    pub fn stop_now(&self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", path_str(&self.data), "-m", "immediate", "-w", "stop"],
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's URL to the `postgres` database (over the Unix socket, which
    /// needs neither TLS nor a password).
    pub fn admin_url(&self) -> String {
        format!(
            "postgresql://postgres@{}:{}/postgres",
            path_str(&self.dir).replace('/', "%2F"),
            self.port
        )
    }

    /// A URL to database `db` over TCP on 127.0.0.1 as `user` (no password), with
    /// `params` as its query string.
    pub fn tcp_url(&self, user: &str, db: &str, params: &str) -> String {
        let mut url = format!("postgresql://{user}@127.0.0.1:{}/{db}", self.port);
        if !params.is_empty() {
            url.push('?');
            url.push_str(params);
        }
        url
    }

    /// Who may connect how: the Unix socket trusts everyone; TCP trusts everyone, or
    /// asks roles but `postgres` for their password, and with TLS refuses plain
    /// connections.
    fn write_hba(&self) -> Result<(), String> {
        let host = if self.options.tls { "hostssl" } else { "host" };
        let mut hba = String::from("local all all trust\n");
        if self.options.passwords {
            hba.push_str(&format!("{host} all postgres 127.0.0.1/32 trust\n"));
            hba.push_str(&format!("{host} all all 127.0.0.1/32 scram-sha-256\n"));
        } else {
            hba.push_str(&format!("{host} all all 127.0.0.1/32 trust\n"));
        }
        if self.options.tls {
            hba.push_str("hostnossl all all 127.0.0.1/32 reject\n");
        }
        let path = self.data.join("pg_hba.conf");
        // The data folder is the postgres user's; root may write into it.
        std::fs::write(&path, hba).map_err(|e| format!("{}: {e}", path.display()))?;
        if self.as_postgres {
            self.chown_to_postgres(&path)?;
        }
        Ok(())
    }

    /// The CA that signed the server's certificate (with [`ClusterOptions::tls`]).
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.options.tls.then(|| self.dir.join("ca.crt"))
    }

    /// The server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Runs one of the server's programs, as the postgres user when we are root.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn chown_to_postgres(&self, path: &Path) -> Result<(), String> {
        let status = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(path)
            .status()
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("chown postgres {} failed", path.display()))
        }
    }

    /// A CA and a server certificate for `localhost` signed by it, with the `openssl`
    /// program (installed with PostgreSQL's own packages).
    fn make_certificates(&self) -> Result<(), String> {
        std::fs::write(
            self.dir.join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=ctm test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run openssl: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "openssl {} failed: {}",
                    args[0],
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        let key = self.dir.join("server.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        if self.as_postgres {
            self.chown_to_postgres(&key)?;
        }
        Ok(())
    }

    /// Starts the process that stops the server and removes its folder once this
    /// process has ended, however it ended. It runs in its own session, so a Ctrl-C to
    /// the test run's process group does not end it first.
    fn watch(&mut self) {
        let script = r#"
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            if [ "$2" = 1 ]; then
                runuser -u postgres -- "$3/pg_ctl" -D "$4" -m immediate -w stop
            else
                "$3/pg_ctl" -D "$4" -m immediate -w stop
            fi
            rm -rf "$5"
        "#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg("ctm-pg-watcher")
            .arg(std::process::id().to_string())
            .arg(if self.as_postgres { "1" } else { "0" })
            .arg(&self.bin)
            .arg(&self.data)
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe and touches nothing of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        self.watcher = cmd.spawn().ok();
    }
}

static NEXT_CLUSTER: AtomicU32 = AtomicU32::new(0);

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_now();
        let _ = std::fs::remove_dir_all(&self.dir);
        // The watcher has nothing left to do; it is not waited for (it polls once a
        // second) and ends on its own when this process does.
        if let Some(mut w) = self.watcher.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_another_database_or_user() {
        assert_eq!(
            with_database("postgresql://postgres@127.0.0.1:5/postgres", "t1"),
            "postgresql://postgres@127.0.0.1:5/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
        assert_eq!(
            with_user("postgres://u:p@h:1/db", "reader"),
            "postgres://reader@h:1/db"
        );
        assert_eq!(
            with_user("postgres://h:1/db", "reader"),
            "postgres://reader@h:1/db"
        );
    }

    #[test]
    fn a_cluster_starts_serves_a_database_and_goes_away() {
        let cluster = match Cluster::start(&ClusterOptions::default()) {
            Ok(c) => c,
            Err(e) => {
                skip(&e);
                return;
            }
        };
        let dir = cluster.dir.clone();
        let db = Database::create(&cluster.admin_url());
        let one: i32 = db.client().query_one("SELECT 1", &[]).unwrap().get(0);
        assert_eq!(one, 1);
        drop(db);
        cluster.stop_now();
        assert!(postgres::Client::connect(&cluster.admin_url(), postgres::NoTls).is_err());
        cluster.start_again().unwrap();
        assert!(postgres::Client::connect(&cluster.admin_url(), postgres::NoTls).is_ok());
        drop(cluster);
        assert!(!dir.exists());
    }
}
