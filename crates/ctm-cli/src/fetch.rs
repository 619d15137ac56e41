//! Fetching a price file for `ctm pricing update`: the only network access ctm makes
//! (reports never touch the network). HTTPS with a timeout and a size cap; plain HTTP
//! only to a loopback address (a local mirror, a test server).

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

/// Where `ctm pricing update` reads by default: LiteLLM's published price file
/// (overridable with `[pricing] update_url` in the config).
pub const DEFAULT_UPDATE_URL: &str =
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json";

/// The whole request, connection to last byte (the file is about 3.5 MB).
const TIMEOUT: Duration = Duration::from_secs(60);
/// A price file larger than this is not one.
pub const MAX_BYTES: u64 = 64 << 20;

/// Whether `--from` names a URL rather than a file.
pub fn is_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `true` for https, `false` for http to a loopback host; an error for anything else.
fn checked(url: &str) -> Result<bool> {
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("{url} is not a URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        bail!("{url}: a URL with credentials is refused; put the file somewhere public or pass it with --from FILE");
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    if host.is_empty() {
        bail!("{url} names no host");
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(true),
        "http" => {
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                bail!("{url}: plain http:// is allowed only to a loopback address (127.0.0.1, ::1, localhost); use https://");
            }
            Ok(false)
        }
        other => bail!("{url}: {other}:// is not supported; use https://"),
    }
}

/// The body of `url` as text.
pub fn fetch(url: &str) -> Result<String> {
    let https = checked(url)?;
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("ctm/", env!("CARGO_PKG_VERSION")))
        .https_only(https)
        // A loopback server is asked directly: never through a proxy, never redirected
        // elsewhere.
        .max_redirects(if https { 5 } else { 0 });
    if !https {
        config = config.proxy(None);
    }
    let agent: ureq::Agent = config.build().into();
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("cannot fetch {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("cannot fetch {url}: the server answered {status}");
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_string()
        .with_context(|| {
            format!(
                "cannot read {url} (a text file of at most {} MiB)",
                MAX_BYTES >> 20
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        for ok in [
            "https://raw.githubusercontent.com/BerriAI/litellm/main/x.json",
            "HTTPS://example.com:8443/p",
            "http://127.0.0.1:8080/p.json",
            "http://127.8.9.10/p.json",
            "http://localhost:3000/",
            "http://[::1]:9000/p",
        ] {
            assert!(checked(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://example.com/p.json", "loopback"),
            ("http://10.0.0.1/p.json", "loopback"),
            ("http://127.0.0.1.evil.example/p", "loopback"),
            ("http://localhost@evil.example/p", "credentials"),
            ("ftp://example.com/p", "not supported"),
            ("https:///p", "no host"),
        ] {
            let e = checked(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(is_url("https://x") && is_url("HTTP://x") && !is_url("./prices.toml"));
    }
}
