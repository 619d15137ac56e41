//! Who may talk to the server: anyone on loopback without a token; with a token (required
//! for any other address) only requests carrying it, as `Authorization: Bearer TOKEN` or
//! as the cookie a one-time login link sets.
//!
//! - The token is compared in time that depends only on what the client sent, never on
//!   the token's length or on where the two first differ.
//! - Wrong tokens (and wrong login codes) are counted per client address: after a burst
//!   of [`WRONG_TOKEN_BURST`] the client gets 429 until it has waited one second per
//!   further try. A request without any token is not counted (a browser before login).
//! - An answer refusing a request (401, 403, 429) closes its connection, so a client
//!   without the token cannot keep connections open.
//! - Without a token, a request must name the server by a loopback name in `Host`
//!   (parsed whole: `127.0.0.1:x@evil.example` and `[::1]evil` are not loopback names).
//! - A request with a side effect (an export, the login) is refused when a browser says
//!   another site sent it (`Sec-Fetch-Site`, else `Origin`).

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

/// The cookie that carries the token in a browser.
pub const COOKIE: &str = "ctm_token";

/// The shortest token accepted, in characters.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Wrong tokens a client may send before it is slowed down.
pub const WRONG_TOKEN_BURST: u32 = 10;

/// Once slowed, one more try per this long.
pub const WRONG_TOKEN_REFILL: Duration = Duration::from_secs(1);

/// Client addresses whose wrong tries are remembered at most (the oldest are forgotten).
const REMEMBERED_CLIENTS: usize = 4096;

/// Loopback needs nothing; any other address needs a token, and a token must be worth
/// its name. The error is one line.
pub fn check_bind(bind: SocketAddr, token: Option<&str>) -> Result<(), String> {
    if let Some(t) = token {
        let mut chars = t.chars();
        let first = chars.clone().next();
        if t.chars().count() < MIN_TOKEN_CHARS
            || chars.all(|c| Some(c) == first)
            || t.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ';')
        {
            return Err(format!(
                "the token must be at least {MIN_TOKEN_CHARS} characters, not all the same one, \
                 without spaces or semicolons"
            ));
        }
    }
    if bind.ip().is_loopback() || token.is_some() {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {bind} without a token: anyone who can reach it would see your usage; \
         pass --token TOKEN (or set [serve] token in the config file), or bind 127.0.0.1"
    ))
}

/// What a request's credentials are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials {
    Right,
    /// A token was sent, and it is not the token.
    Wrong,
    /// No token at all.
    Missing,
}

pub(crate) struct Auth {
    token: Option<String>,
    /// The code of the login link, until it is used once.
    login_code: Mutex<Option<String>>,
    code: Option<String>,
    wrong: Mutex<WrongTries>,
}

impl Auth {
    pub fn new(token: Option<String>) -> Result<Auth> {
        let code = match token {
            Some(_) => Some(random_hex(16)?),
            None => None,
        };
        Ok(Auth {
            token,
            login_code: Mutex::new(code.clone()),
            code,
            wrong: Mutex::new(WrongTries::default()),
        })
    }

    /// The login link's code (whether or not it was used since).
    pub fn login_code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    fn credentials(&self, headers: &HeaderMap) -> Credentials {
        let Some(token) = &self.token else {
            return Credentials::Right;
        };
        let bearers = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(bearer);
        let cookies = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='));
        let mut sent = false;
        let mut right = false;
        for given in bearers.chain(cookies) {
            sent = true;
            // Every one is compared: which one matched takes no less time.
            right |= same(given.as_bytes(), token.as_bytes());
        }
        match (right, sent) {
            (true, _) => Credentials::Right,
            (false, true) => Credentials::Wrong,
            (false, false) => Credentials::Missing,
        }
    }

    /// Uses up the login code: true the first time the right code is shown.
    fn redeem(&self, code: &str) -> bool {
        let mut slot = self.login_code.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_deref() {
            Some(c) if same(code.as_bytes(), c.as_bytes()) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }

    /// How long `client` must wait before its next try, if it tried too often.
    fn slowed(&self, client: IpAddr) -> Option<Duration> {
        self.wrong
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .wait(client, Instant::now())
    }

    fn wrong_try(&self, client: IpAddr) {
        self.wrong
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(client, Instant::now());
    }
}

/// The token of an `Authorization` value whose scheme is Bearer, in any case.
fn bearer(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, token) = value.split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Compares a value a client sent with a secret in time that depends only on the
/// client's value: every byte of it is compared (with the secret repeated), never
/// stopping early, and the lengths are compared without a branch.
fn same(given: &[u8], secret: &[u8]) -> bool {
    if secret.is_empty() {
        return false;
    }
    let mut diff = u8::from(given.len() != secret.len());
    for (i, g) in given.iter().enumerate() {
        diff |= g ^ secret[i % secret.len()];
    }
    std::hint::black_box(diff) == 0
}

/// Wrong tries per client: a bucket of [`WRONG_TOKEN_BURST`] tries, refilled one per
/// [`WRONG_TOKEN_REFILL`].
#[derive(Default)]
struct WrongTries {
    clients: HashMap<IpAddr, Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    /// Tries used, as of `at`.
    used: f64,
    at: Instant,
}

impl WrongTries {
    /// A client is one address; an IPv6 one its /64 (one machine can have many).
    fn key(client: IpAddr) -> IpAddr {
        match client {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        }
    }

    fn used(&self, key: IpAddr, now: Instant) -> f64 {
        self.clients.get(&key).map_or(0.0, |b| {
            let refilled =
                now.duration_since(b.at).as_secs_f64() / WRONG_TOKEN_REFILL.as_secs_f64();
            (b.used - refilled).max(0.0)
        })
    }

    fn wait(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let over = self.used(Self::key(client), now) + 1.0 - f64::from(WRONG_TOKEN_BURST);
        (over > 0.0).then(|| WRONG_TOKEN_REFILL.mul_f64(over))
    }

    fn add(&mut self, client: IpAddr, now: Instant) {
        let key = Self::key(client);
        let used = self.used(key, now) + 1.0;
        if self.clients.len() >= REMEMBERED_CLIENTS && !self.clients.contains_key(&key) {
            // Forget those whose tries have run out of memory anyway, else the oldest.
            self.clients
                .retain(|_, b| now.duration_since(b.at) < WRONG_TOKEN_REFILL * WRONG_TOKEN_BURST);
            if self.clients.len() >= REMEMBERED_CLIENTS {
                if let Some(oldest) = self
                    .clients
                    .iter()
                    .min_by_key(|(_, b)| b.at)
                    .map(|(k, _)| *k)
                {
                    self.clients.remove(&oldest);
                }
            }
        }
        self.clients.insert(key, Bucket { used, at: now });
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("cannot read /dev/urandom for the login code")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// True when the request names this machine by a loopback name (`localhost`,
/// `127.0.0.1`, `[::1]`, any port), or names nothing (HTTP/1.0).
///
/// Without a token, a loopback server must not answer a page that reached it through
/// DNS rebinding (an attacker's name re-pointed at 127.0.0.1): the browser then sends the
/// attacker's name as Host, so answering only loopback names keeps other sites out.
fn names_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        return true;
    };
    host.to_str()
        .ok()
        .and_then(host_name)
        .is_some_and(|name| match name {
            HostName::Ip(ip) => ip.is_loopback(),
            HostName::Name(n) => n.eq_ignore_ascii_case("localhost"),
        })
}

/// The host of a `Host` value (RFC 9110: `uri-host [ ":" port ]`), when it is one.
#[derive(Debug, PartialEq)]
enum HostName<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

fn host_name(host: &str) -> Option<HostName<'_>> {
    let port_ok = |port: &str| {
        port.is_empty()
            || port.strip_prefix(':').is_some_and(|p| {
                !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
            })
    };
    if let Some(rest) = host.strip_prefix('[') {
        let (inside, port) = rest.split_once(']')?;
        let ip: Ipv6Addr = inside.parse().ok()?;
        return port_ok(port).then_some(HostName::Ip(IpAddr::V6(ip)));
    }
    let (name, port) = match host.find(':') {
        Some(i) => host.split_at(i),
        None => (host, ""),
    };
    if !port_ok(port) || name.is_empty() {
        return None;
    }
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return Some(HostName::Ip(IpAddr::V4(ip)));
    }
    // A registered name: letters, digits, '-' and '.', nothing that could hide another
    // host (`@`, `/`, `\`, `%`).
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        .then_some(HostName::Name(name))
}

/// An error answer that also closes its connection: a client refused keeps nothing open.
fn refusal(status: StatusCode, message: &str, parameter: Option<&str>) -> Response {
    let mut answer = ApiError {
        status,
        message: message.into(),
        parameter: parameter.map(str::to_owned),
    }
    .into_response();
    answer
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}

fn too_many(wait: Duration) -> Response {
    let mut answer = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        "too many wrong tokens from this address; wait, then send the right one",
        None,
    );
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    answer
}

/// The client's address, as the accept loop recorded it (unspecified when the router
/// is called without it).
pub(crate) struct Client(pub IpAddr);

impl Client {
    fn of(extensions: &axum::http::Extensions) -> Client {
        Client(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        )
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Client, Self::Rejection> {
        Ok(Client::of(&parts.extensions))
    }
}

/// Refuses requests without the token (when there is one) and, on a server without a
/// token, requests that do not name it by a loopback name; the login link passes (it
/// checks its own code).
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.auth.token.is_none() {
        if !names_loopback(request.headers()) {
            return refusal(
                StatusCode::FORBIDDEN,
                "this server answers only to localhost, 127.0.0.1 or [::1] (it has no token); open it by one of those names",
                None,
            );
        }
        return next.run(request).await;
    }
    let Client(from) = Client::of(request.extensions());
    if let Some(wait) = state.auth.slowed(from) {
        return too_many(wait);
    }
    if request.uri().path() == "/login" {
        return next.run(request).await;
    }
    match state.auth.credentials(request.headers()) {
        Credentials::Right => next.run(request).await,
        credentials => {
            if credentials == Credentials::Wrong {
                state.auth.wrong_try(from);
            }
            refusal(
                StatusCode::UNAUTHORIZED,
                "this server needs its token: send Authorization: Bearer TOKEN, or open the login link ctm serve printed",
                None,
            )
        }
    }
}

/// Refuses a request a browser says another site sent: `Sec-Fetch-Site` other than
/// `same-origin` or `none` (typed or bookmarked), else an `Origin` that is not this
/// server as the request names it. Requests from programs (curl, scripts) carry neither
/// and pass: they are not a page the user merely visited. For the routes with a side
/// effect only; reading is harmless (a page elsewhere cannot read the answers: no CORS).
pub(crate) async fn same_origin_only(request: Request, next: Next) -> Response {
    let h = request.headers();
    let text = |name| h.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let cross = match text("sec-fetch-site") {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => match text(header::ORIGIN.as_str()) {
            None => false,
            Some(origin) => {
                let host = text(header::HOST.as_str()).unwrap_or_default();
                origin.strip_prefix("http://") != Some(host) || host.is_empty()
            }
        },
    };
    if cross {
        return refusal(
            StatusCode::FORBIDDEN,
            "refused: another site sent this request (Sec-Fetch-Site or Origin); use the dashboard itself",
            None,
        );
    }
    next.run(request).await
}

/// `GET /login?code=CODE`: the first visit with the printed code sets the token cookie.
/// A wrong code counts as a wrong token.
pub(crate) fn login(state: &AppState, code: Option<&str>, from: IpAddr) -> Response {
    match (&state.auth.token, code) {
        (Some(token), Some(code)) if state.auth.redeem(code) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_owned()),
                (
                    header::SET_COOKIE,
                    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"),
                ),
            ],
        )
            .into_response(),
        (None, _) => ApiError::not_found("this server has no token, so no login").into_response(),
        (Some(_), code) => {
            if code.is_some() {
                state.auth.wrong_try(from);
            }
            refusal(
                StatusCode::UNAUTHORIZED,
                "this login link was already used or is wrong; restart ctm serve for a new one, or send the token as a Bearer header",
                Some("code"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_go_without_a_token() {
        let token = Some("0123456789abcdef0123");
        assert!(check_bind("127.0.0.1:7878".parse().unwrap(), None).is_ok());
        assert!(check_bind("[::1]:7878".parse().unwrap(), None).is_ok());
        let open = check_bind("0.0.0.0:7878".parse().unwrap(), None).unwrap_err();
        assert!(open.contains("--token") && !open.contains('\n'), "{open}");
        assert!(check_bind("192.168.1.5:80".parse().unwrap(), None).is_err());
        assert!(check_bind("0.0.0.0:7878".parse().unwrap(), token).is_ok());
    }

    #[test]
    fn a_token_is_at_least_16_characters_and_not_all_one() {
        let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
        for bad in [
            "short",
            "0123456789abcde",
            "aaaaaaaaaaaaaaaaaaaa",
            "éééééééééééééééééé",
            "0123456789abcdef 01",
            "0123456789abcdef;01",
        ] {
            let e = check_bind(bind, Some(bad)).unwrap_err();
            assert!(e.contains("at least 16 characters"), "{bad}: {e}");
        }
        // Characters, not bytes: 16 accented letters are 32 bytes and pass.
        assert!(check_bind(bind, Some("éàèùâêîôûëïüÿçœæ")).is_ok());
        assert!(check_bind(bind, Some("aaaaaaaaaaaaaaab")).is_ok());
    }

    #[test]
    fn without_a_token_only_loopback_names_are_answered() {
        let host = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, value.parse().unwrap());
            h
        };
        for ok in [
            "127.0.0.1:7878",
            "127.0.0.1",
            "localhost:7878",
            "LOCALHOST",
            "[::1]:7878",
            "[::1]",
            "127.1.2.3:80",
        ] {
            assert!(names_loopback(&host(ok)), "{ok}");
        }
        for bad in [
            "evil.example:7878",
            "evil.example",
            "localhost.evil.example",
            "192.168.1.5:7878",
            "[2001:db8::1]:7878",
            "",
            // The red team's: a port that is not one hides another host.
            "127.0.0.1:x@evil.example",
            "[::1]evil",
            "[::1]:80evil",
            "127.0.0.1:80:81",
            "localhost@evil.example",
            "127.0.0.1@evil.example",
            "::1",
            "127.0.0.1:",
            "127.0.0.1:123456",
        ] {
            assert!(!names_loopback(&host(bad)), "{bad}");
        }
        assert!(names_loopback(&HeaderMap::new()));
    }

    #[test]
    fn the_token_passes_as_bearer_in_any_case_or_cookie_and_the_code_works_once() {
        let auth = Auth::new(Some("0123456789abcdef0123".into())).unwrap();
        let headers = |name, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, value.parse().unwrap());
            h
        };
        assert_eq!(auth.credentials(&HeaderMap::new()), Credentials::Missing);
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                auth.credentials(&headers(
                    header::AUTHORIZATION,
                    &format!("{scheme} 0123456789abcdef0123")
                )),
                Credentials::Right,
                "{scheme}"
            );
        }
        for wrong in [
            "Bearer 0123456789abcdef0124",
            "Bearer 0123456789abcdef012",
            "Bearer 0123456789abcdef01230123456789abcdef0123",
            "Basic 0123456789abcdef0123",
        ] {
            let c = auth.credentials(&headers(header::AUTHORIZATION, wrong));
            assert_ne!(c, Credentials::Right, "{wrong}");
        }
        assert_eq!(
            auth.credentials(&headers(
                header::COOKIE,
                "a=b; ctm_token=0123456789abcdef0123"
            )),
            Credentials::Right
        );
        assert_eq!(
            auth.credentials(&headers(header::COOKIE, "ctm_token=0123456789abcdef012")),
            Credentials::Wrong
        );
        let code = auth.login_code().unwrap().to_owned();
        assert_eq!(code.len(), 32);
        assert!(!auth.redeem("wrong"));
        assert!(auth.redeem(&code));
        assert!(!auth.redeem(&code));
        assert_eq!(
            Auth::new(None).unwrap().credentials(&HeaderMap::new()),
            Credentials::Right
        );
    }

    #[test]
    fn the_comparison_is_exact_whatever_the_lengths() {
        let secret = b"0123456789abcdef";
        assert!(same(secret, secret));
        assert!(!same(b"", secret));
        assert!(
            !same(b"0123456789abcdef0123456789abcdef", secret),
            "repeated"
        );
        assert!(!same(b"0123456789abcde", secret));
        assert!(!same(b"0123456789abcdeF", secret));
        assert!(!same(secret, b""));
    }

    #[test]
    fn wrong_tries_are_slowed_after_a_burst_and_per_client() {
        let mut tries = WrongTries::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..WRONG_TOKEN_BURST - 1 {
            assert_eq!(tries.wait(a, t0), None);
            tries.add(a, t0);
        }
        assert_eq!(tries.wait(a, t0), None, "the last try of the burst");
        tries.add(a, t0);
        let wait = tries.wait(a, t0).expect("slowed");
        assert!(
            wait > Duration::ZERO && wait <= WRONG_TOKEN_REFILL,
            "{wait:?}"
        );
        assert_eq!(tries.wait(b, t0), None, "another client is not slowed");
        assert_eq!(
            tries.wait(a, t0 + WRONG_TOKEN_REFILL),
            None,
            "one more try later"
        );
        // An IPv6 client is its /64.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        for _ in 0..WRONG_TOKEN_BURST {
            tries.add(v6a, t0);
        }
        assert!(tries.wait(v6b, t0).is_some());
    }
}
