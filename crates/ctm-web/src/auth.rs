//! Who may talk to the server: anyone on loopback without a token; with a token (required
//! for any other address) only requests carrying it, as `Authorization: Bearer TOKEN` or
//! as the cookie a one-time login link sets.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;
use crate::AppState;

/// The cookie that carries the token in a browser.
pub const COOKIE: &str = "ctm_token";

/// Loopback needs nothing; any other address needs a token. The error is one line.
pub fn check_bind(bind: SocketAddr, token: Option<&str>) -> Result<(), String> {
    if let Some(t) = token {
        if t.len() < 16
            || t.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ';')
        {
            return Err(
                "the token must be at least 16 characters, without spaces or semicolons".into(),
            );
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

pub(crate) struct Auth {
    token: Option<String>,
    /// The code of the login link, until it is used once.
    login_code: Mutex<Option<String>>,
    code: Option<String>,
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
        })
    }

    /// The login link's code (whether or not it was used since).
    pub fn login_code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "))
            .any(|t| same(t.trim(), token));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
            .any(|t| same(t, token));
        bearer || cookie
    }

    /// Uses up the login code: true the first time the right code is shown.
    fn redeem(&self, code: &str) -> bool {
        let mut slot = self.login_code.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_deref() {
            Some(c) if same(c, code) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }
}

/// Compares without stopping at the first different byte.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses requests without the token (when there is one) and, on a server without a
/// token, requests that do not name it by a loopback name; the login link passes.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.auth.token.is_none() && !names_loopback(request.headers()) {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            message: "this server answers only to localhost, 127.0.0.1 or [::1] (it has no token); open it by one of those names".into(),
            parameter: None,
        }
        .into_response();
    }
    if request.uri().path() == "/login" || state.auth.allows(request.headers()) {
        return next.run(request).await;
    }
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: "this server needs its token: send Authorization: Bearer TOKEN, or open the login link ctm serve printed".into(),
        parameter: None,
    }
    .into_response()
}

/// `GET /login?code=CODE`: the first visit with the printed code sets the token cookie.
pub(crate) fn login(state: &AppState, code: Option<&str>) -> Response {
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
        _ => ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "this login link was already used or is wrong; restart ctm serve for a new one, or send the token as a Bearer header".into(),
            parameter: Some("code".into()),
        }
        .into_response(),
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
        assert!(check_bind("0.0.0.0:7878".parse().unwrap(), Some("short")).is_err());
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
        ] {
            assert!(!names_loopback(&host(bad)), "{bad}");
        }
        assert!(names_loopback(&HeaderMap::new()));
    }

    #[test]
    fn the_token_passes_as_bearer_or_cookie_and_the_code_works_once() {
        let auth = Auth::new(Some("0123456789abcdef0123".into())).unwrap();
        let headers = |name, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, value.parse().unwrap());
            h
        };
        assert!(!auth.allows(&HeaderMap::new()));
        assert!(auth.allows(&headers(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef0123"
        )));
        assert!(!auth.allows(&headers(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef0124"
        )));
        assert!(auth.allows(&headers(
            header::COOKIE,
            "a=b; ctm_token=0123456789abcdef0123"
        )));
        assert!(!auth.allows(&headers(header::COOKIE, "ctm_token=0123456789abcdef012")));
        let code = auth.login_code().unwrap().to_owned();
        assert_eq!(code.len(), 32);
        assert!(!auth.redeem("wrong"));
        assert!(auth.redeem(&code));
        assert!(!auth.redeem(&code));
        assert!(Auth::new(None).unwrap().allows(&HeaderMap::new()));
    }
}
