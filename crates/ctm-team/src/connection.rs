//! Reaching the team database: its URL, the password, and TLS.
//!
//! The URL is a PostgreSQL URL (`postgresql://user@host:port/db?sslmode=...`) with
//! libpq's meaning for the parts ctm handles itself: `sslmode` (`disable`, `prefer`, the
//! default, `require`, `verify-ca`, `verify-full`) and `sslrootcert` (a PEM file, or
//! `system` for the system's roots; by default `~/.postgresql/root.crt` when it exists,
//! else the system's roots). `require` encrypts without checking the certificate, as
//! libpq does; `verify-ca` checks it was signed by a trusted root; `verify-full` checks
//! that and that it names the host. The password comes from the URL, else `PGPASSWORD`,
//! else the password file (`PGPASSFILE` or `~/.pgpass`, as libpq reads it), and is never
//! printed: the URL ctm shows ([`TeamUrl::shown`]) has none.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::Client;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{describe, TeamError};

/// How the connection uses TLS (`sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A parsed team database URL.
#[derive(Clone)]
pub struct TeamUrl {
    config: postgres::Config,
    /// The URL set `connect_timeout` itself.
    own_connect_timeout: bool,
    tls: TlsMode,
    root_cert: RootCert,
    shown: String,
    place: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RootCert {
    /// `sslrootcert` unset: `~/.postgresql/root.crt` when it exists, else the system's.
    Default,
    System,
    File(PathBuf),
}

impl std::fmt::Debug for TeamUrl {
    // Never the config itself: it holds the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamUrl")
            .field("shown", &self.shown)
            .field("tls", &self.tls)
            .finish()
    }
}

/// How long a connection attempt waits, unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an automatic push waits for a connection (see [`TeamUrl::quick`]).
pub const QUICK_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long sent data may stay unacknowledged before the connection counts as lost
/// (a server that vanished without closing it), unless the URL says (`tcp_user_timeout`).
const UNACKNOWLEDGED_TIMEOUT: Duration = Duration::from_secs(30);

impl TeamUrl {
    /// Parses a URL and finds its password (URL, `PGPASSWORD`, password file).
    pub fn parse(url: &str) -> Result<TeamUrl, TeamError> {
        TeamUrl::parse_with(url, &PasswordSources::from_env())
    }

    fn parse_with(url: &str, passwords: &PasswordSources) -> Result<TeamUrl, TeamError> {
        let bad = |why: String| {
            TeamError::Config(format!(
                "the team URL is not usable ({why}); write it as postgresql://USER@HOST:PORT/DATABASE?sslmode=verify-full"
            ))
        };
        let url = url.trim();
        if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
            return Err(bad("it must start with postgresql://".into()));
        }
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut tls = TlsMode::Prefer;
        let mut root_cert = RootCert::Default;
        let mut passed = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "sslmode" => {
                    tls = match v {
                        "disable" => TlsMode::Disable,
                        "allow" | "prefer" => TlsMode::Prefer,
                        "require" => TlsMode::Require,
                        "verify-ca" => TlsMode::VerifyCa,
                        "verify-full" => TlsMode::VerifyFull,
                        other => {
                            return Err(bad(format!(
                                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                            )))
                        }
                    }
                }
                "sslrootcert" => {
                    let v = percent_decode(v).map_err(bad)?;
                    root_cert = if v == "system" {
                        RootCert::System
                    } else {
                        RootCert::File(PathBuf::from(v))
                    };
                }
                _ => passed.push(pair),
            }
        }
        let rebuilt = if passed.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", passed.join("&"))
        };
        // tokio-postgres' own errors never repeat the URL, so none can show the password.
        let mut config = postgres::Config::from_str(&rebuilt).map_err(|e| bad(describe(&e)))?;
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        if config.get_hosts().is_empty() {
            return Err(bad("it names no host".into()));
        }
        if config.get_application_name().is_none() {
            config.application_name("ctm");
        }
        let own_connect_timeout = config.get_connect_timeout().is_some();
        if !own_connect_timeout {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(UNACKNOWLEDGED_TIMEOUT);
        }
        let user = config.get_user().map(str::to_owned).unwrap_or_else(os_user);
        let db = config.get_dbname().unwrap_or(&user).to_owned();
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .zip(ports(&config))
            .map(|(h, port)| match h {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}:{port}", dir.display()),
            })
            .collect();
        let place = format!("{}/{db}", hosts.join(","));
        let shown = format!("postgresql://{user}@{place}");
        if config.get_password().is_none() {
            if let Some(pw) = passwords.find(&config, &user, &db) {
                config.password(pw);
            }
        }
        Ok(TeamUrl {
            config,
            own_connect_timeout,
            tls,
            root_cert,
            shown,
            place,
        })
    }

    /// For a push nobody waits for (after `ctm ingest`'s answer): a server that does not
    /// answer is given up after [`QUICK_CONNECT_TIMEOUT`], unless the URL says otherwise.
    pub fn quick(mut self) -> TeamUrl {
        if !self.own_connect_timeout {
            self.config.connect_timeout(QUICK_CONNECT_TIMEOUT);
        }
        self
    }

    /// The URL as ctm prints it: user, hosts, ports and database, never a password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `host:port/database`, what a push mark is kept for.
    pub fn place(&self) -> &str {
        &self.place
    }

    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// Opens a connection.
    pub fn connect(&self) -> Result<Client, TeamError> {
        let failed = |reason: String| TeamError::Connect {
            shown: self.shown.clone(),
            reason,
        };
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config().map_err(failed)?);
        self.config.connect(tls).map_err(|e| failed(describe(&e)))
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, String> {
        // ring rather than aws-lc-rs (deprecated for lacking post-quantum key exchange,
        // which PostgreSQL servers do not offer yet): it builds without cmake or a C++
        // toolchain.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.tls {
            TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => {
                Arc::new(EncryptOnly { provider })
            }
            TlsMode::VerifyCa | TlsMode::VerifyFull => {
                let roots = self.roots()?;
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| e.to_string())?;
                if self.tls == TlsMode::VerifyCa {
                    Arc::new(AnyName { webpki })
                } else {
                    webpki
                }
            }
        };
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let home_root = home().map(|h| h.join(".postgresql/root.crt"));
        let file = match &self.root_cert {
            RootCert::File(p) => Some(p.clone()),
            RootCert::Default => home_root.filter(|p| p.is_file()),
            RootCert::System => None,
        };
        let mut roots = RootCertStore::empty();
        match file {
            Some(path) => {
                let pem = std::fs::read(&path).map_err(|e| {
                    format!("cannot read the root certificate {}: {e}", path.display())
                })?;
                let certs = pem_certificates(&pem);
                if certs.is_empty() {
                    return Err(format!("{} holds no PEM certificate", path.display()));
                }
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for c in found.certs {
                    let _ = roots.add(c);
                }
                if roots.is_empty() {
                    return Err(
                        "no root certificates found on this system; name one with sslrootcert=PATH in the URL"
                            .into(),
                    );
                }
            }
        }
        Ok(roots)
    }
}

/// `sslmode=require` (and `prefer`): the connection is encrypted, and the certificate is
/// not checked, as libpq does. The handshake's signatures are still checked, so the
/// other end holds the certificate's key.
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `sslmode=verify-ca`: the certificate must chain to a trusted root; the name in it is
/// not compared with the host.
#[derive(Debug)]
struct AnyName {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The certificates of a PEM file.
fn pem_certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// Each host's port: one port for all hosts, or one each; 5432 by default.
fn ports(config: &postgres::Config) -> Vec<u16> {
    let hosts = config.get_hosts().len();
    match config.get_ports() {
        [] => vec![5432; hosts],
        [one] => vec![*one; hosts],
        many => many.to_vec(),
    }
}

/// Where a password can come from when the URL has none.
struct PasswordSources {
    env: Option<String>,
    file: Option<PathBuf>,
}

impl PasswordSources {
    fn from_env() -> PasswordSources {
        PasswordSources {
            env: std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
            file: std::env::var_os("PGPASSFILE")
                .map(PathBuf::from)
                .or_else(|| home().map(|h| h.join(".pgpass"))),
        }
    }

    fn find(&self, config: &postgres::Config, user: &str, db: &str) -> Option<String> {
        if let Some(pw) = &self.env {
            return Some(pw.clone());
        }
        let file = self.file.as_deref()?;
        let text = read_password_file(file)?;
        let (host, port) = match (config.get_hosts().first(), ports(config).first()) {
            (Some(Host::Tcp(h)), Some(p)) => (h.clone(), *p),
            // libpq matches a socket connection to the default directory as localhost.
            (Some(Host::Unix(_)), Some(p)) => ("localhost".to_owned(), *p),
            _ => return None,
        };
        password_file_match(&text, &host, port, db, user)
    }
}

/// The password file's text, unless it is readable by others (libpq ignores it then,
/// and so does ctm, with the same warning).
fn read_password_file(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "ctm: warning: password file {} has group or world access; it is ignored (chmod 0600 it)",
            path.display()
        );
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The first line of a password file (`host:port:database:user:password`, `*` matches
/// anything, `\:` and `\\` escape) that matches.
fn password_file_match(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_escaped(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |field: &str, value: &str| field == "*" || field == value;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], db)
            && matches(&fields[3], user)
        {
            // A password may itself hold colons.
            return Some(fields[4..].join(":"));
        }
    }
    None
}

fn split_escaped(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.last_mut().expect("never empty").push(n);
                }
            }
            ':' => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8"))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// The name of the user running this process (`USER`, else the password database).
pub fn os_user() -> String {
    if let Some(u) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return u;
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; it is read at once.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            if let Ok(name) = std::ffi::CStr::from_ptr((*pw).pw_name).to_str() {
                return name.to_owned();
            }
        }
    }
    "unknown".to_owned()
}

/// This machine's host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and the last byte stays 0.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if ok && !name.is_empty() => name.to_owned(),
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_passwords() -> PasswordSources {
        PasswordSources {
            env: None,
            file: None,
        }
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        let u = TeamUrl::parse_with(
            "postgresql://alice:s3cret%21@db.example.com:6543/team?sslmode=verify-full&connect_timeout=3",
            &no_passwords(),
        )
        .unwrap();
        assert_eq!(u.shown(), "postgresql://alice@db.example.com:6543/team");
        assert_eq!(u.place(), "db.example.com:6543/team");
        assert_eq!(u.tls_mode(), TlsMode::VerifyFull);
        assert!(!format!("{u:?}").contains("s3cret"));
        assert_eq!(u.config.get_password(), Some(&b"s3cret!"[..]));
        assert_eq!(
            u.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
    }

    #[test]
    fn every_libpq_sslmode_is_understood_and_others_refused() {
        for (mode, want) in [
            ("disable", TlsMode::Disable),
            ("prefer", TlsMode::Prefer),
            ("require", TlsMode::Require),
            ("verify-ca", TlsMode::VerifyCa),
            ("verify-full", TlsMode::VerifyFull),
        ] {
            let u =
                TeamUrl::parse_with(&format!("postgres://h/db?sslmode={mode}"), &no_passwords())
                    .unwrap();
            assert_eq!(u.tls_mode(), want);
        }
        let err = TeamUrl::parse_with("postgres://h/db?sslmode=maybe", &no_passwords())
            .unwrap_err()
            .to_string();
        assert!(err.contains("sslmode=maybe"), "{err}");
        let err = TeamUrl::parse_with("mysql://h/db", &no_passwords())
            .unwrap_err()
            .to_string();
        assert!(err.contains("postgresql://"), "{err}");
    }

    #[test]
    fn the_password_comes_from_the_environment_then_the_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:*:nope\ndb.example.com:*:team:alice:pa\\:ss:word\n*:*:*:*:fallback\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let from_file = PasswordSources {
            env: None,
            file: Some(file.clone()),
        };
        let u = TeamUrl::parse_with("postgresql://alice@db.example.com/team", &from_file).unwrap();
        assert_eq!(u.config.get_password(), Some(&b"pa:ss:word"[..]));
        let u = TeamUrl::parse_with("postgresql://bob@elsewhere/x", &from_file).unwrap();
        assert_eq!(u.config.get_password(), Some(&b"fallback"[..]));
        // The URL's own password wins; PGPASSWORD comes before the file.
        let u =
            TeamUrl::parse_with("postgresql://alice:own@db.example.com/team", &from_file).unwrap();
        assert_eq!(u.config.get_password(), Some(&b"own"[..]));
        let env = PasswordSources {
            env: Some("from-env".into()),
            file: Some(file.clone()),
        };
        let u = TeamUrl::parse_with("postgresql://alice@db.example.com/team", &env).unwrap();
        assert_eq!(u.config.get_password(), Some(&b"from-env"[..]));
        // A file others can read is ignored, as libpq does.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let u = TeamUrl::parse_with("postgresql://alice@db.example.com/team", &from_file).unwrap();
        assert_eq!(u.config.get_password(), None);
    }

    #[test]
    fn an_automatic_push_waits_less_for_a_connection_unless_the_url_says() {
        let u = TeamUrl::parse_with("postgres://h/db", &no_passwords()).unwrap();
        assert_eq!(u.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let u = u.quick();
        assert_eq!(u.config.get_connect_timeout(), Some(&QUICK_CONNECT_TIMEOUT));
        let own = TeamUrl::parse_with("postgres://h/db?connect_timeout=7", &no_passwords())
            .unwrap()
            .quick();
        assert_eq!(
            own.config.get_connect_timeout(),
            Some(&Duration::from_secs(7))
        );
    }

    #[test]
    fn host_and_user_names_are_found() {
        assert!(!host_name().is_empty());
        assert!(!os_user().is_empty());
    }
}
