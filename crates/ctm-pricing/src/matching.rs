//! Model-name normalization, and the rule that decides whether a name that merely starts
//! with a known id is that model: the match must end at a separator and what follows
//! must not be another version number, so `claude-opus-5` never swallows
//! `claude-opus-5-5` (that is an exact name of its own) nor `claude-opus-5-7` (unknown).

/// Canonical spelling of a model name as it appears in logs or provider APIs.
///
/// Lowercases; drops a trailing bracket tag (`[1m]`), everything up to the last `/`
/// (`anthropic/`, `bedrock/...`), a dotted provider prefix (`us.anthropic.`,
/// `anthropic.`), a Bedrock version suffix (`-v1:0`, `:0`); turns `@20250514` into
/// `-20250514`. Allocates exactly once.
pub fn normalize_model(raw: &str) -> String {
    let s = strip_decorations(raw);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        out.push(if c == '@' {
            '-'
        } else {
            c.to_ascii_lowercase()
        });
    }
    out
}

fn strip_decorations(raw: &str) -> &str {
    let mut s = raw.trim();
    if s.ends_with(']') {
        if let Some(open) = s.rfind('[') {
            s = s[..open].trim_end();
        }
    }
    if let Some(slash) = s.rfind('/') {
        s = &s[slash + 1..];
    }
    if let Some(end) = provider_prefix_end(s) {
        s = &s[end..];
    }
    strip_version_suffix(s)
}

/// End of a `region.anthropic.` / `anthropic.` prefix: plain dotted labels followed by
/// `anthropic.`, so any region Bedrock adds later is covered too.
fn provider_prefix_end(s: &str) -> Option<usize> {
    const PROVIDER: &[u8] = b"anthropic.";
    let b = s.as_bytes();
    let mut start = 0;
    loop {
        let rest = &b[start..];
        if rest.len() >= PROVIDER.len() && rest[..PROVIDER.len()].eq_ignore_ascii_case(PROVIDER) {
            return Some(start + PROVIDER.len());
        }
        let label = rest.iter().position(|&c| c == b'.')?;
        if label == 0 || !rest[..label].iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        start += label + 1;
    }
}

/// Drops `:N` and, only together with it, a `-vN` before it: `claude-3-5-sonnet-v2`
/// alone is a real alias and must survive.
fn strip_version_suffix(s: &str) -> &str {
    let Some(colon) = s.rfind(':') else {
        return s;
    };
    if !all_digits(&s[colon + 1..]) {
        return s;
    }
    let head = &s[..colon];
    if let Some(dash) = head.rfind('-') {
        let tail = &head[dash + 1..];
        if (tail.starts_with('v') || tail.starts_with('V')) && all_digits(&tail[1..]) {
            return &head[..dash];
        }
    }
    head
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// `name` without a trailing `-YYYYMMDD`, if it has one.
pub(crate) fn strip_date(name: &str) -> Option<&str> {
    let cut = name.len().checked_sub(9)?;
    let (head, tail) = name.split_at_checked(cut)?;
    (tail.as_bytes()[0] == b'-' && all_digits(&tail[1..])).then_some(head)
}

/// For the part of a name after a known id: `None` when the id does not end at a
/// separator there (`claude-opus-50` after `claude-opus-5`), `Some(true)` when the next
/// segment is a version number of one or two digits (`-7`: another model), else
/// `Some(false)` (`-thinking`, `-preview`, `-1m`: the same model).
pub(crate) fn version_remainder(rest: &str) -> Option<bool> {
    let mut chars = rest.chars();
    if !matches!(chars.next(), Some('-' | '_' | '.' | ':')) {
        return None;
    }
    let after = chars.as_str();
    let segment = after.split(['-', '_', '.', ':']).next().unwrap_or_default();
    if segment.is_empty() {
        return None;
    }
    Some(segment.len() <= 2 && all_digits(segment))
}

/// `name` without a trailing `-latest`, if it has one.
pub(crate) fn strip_latest(name: &str) -> Option<&str> {
    name.strip_suffix("-latest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_trims() {
        assert_eq!(normalize_model("  Claude-Opus-4-6 "), "claude-opus-4-6");
    }

    #[test]
    fn drops_bracket_tag() {
        assert_eq!(normalize_model("claude-opus-4-6[1m]"), "claude-opus-4-6");
        assert_eq!(
            normalize_model("claude-sonnet-4-5 [1M]"),
            "claude-sonnet-4-5"
        );
    }

    #[test]
    fn drops_path_prefix() {
        assert_eq!(
            normalize_model("anthropic/claude-sonnet-4-5"),
            "claude-sonnet-4-5"
        );
        assert_eq!(
            normalize_model("bedrock/us-east-1/anthropic.claude-3-haiku-20240307-v1:0"),
            "claude-3-haiku-20240307"
        );
    }

    #[test]
    fn drops_dotted_provider_prefix() {
        for p in [
            "us.anthropic.",
            "eu.anthropic.",
            "apac.anthropic.",
            "global.anthropic.",
            "anthropic.",
            "US.Anthropic.",
        ] {
            assert_eq!(
                normalize_model(&format!("{p}claude-opus-4-1")),
                "claude-opus-4-1",
                "{p}"
            );
        }
    }

    #[test]
    fn drops_version_suffix() {
        assert_eq!(
            normalize_model("us.anthropic.claude-sonnet-4-20250514-v1:0"),
            "claude-sonnet-4-20250514"
        );
        assert_eq!(
            normalize_model("anthropic.claude-3-5-sonnet-20241022-v2:0"),
            "claude-3-5-sonnet-20241022"
        );
        assert_eq!(normalize_model("claude-haiku-4-5:0"), "claude-haiku-4-5");
        // "-v2" without ":N" is part of the name.
        assert_eq!(
            normalize_model("claude-3-5-sonnet-v2"),
            "claude-3-5-sonnet-v2"
        );
    }

    #[test]
    fn at_date_becomes_dash_date() {
        assert_eq!(
            normalize_model("claude-sonnet-4@20250514"),
            "claude-sonnet-4-20250514"
        );
        assert_eq!(
            normalize_model("claude-3-5-sonnet-v2@20241022"),
            "claude-3-5-sonnet-v2-20241022"
        );
    }

    #[test]
    fn leaves_odd_names_alone() {
        assert_eq!(normalize_model("<synthetic>"), "<synthetic>");
        assert_eq!(normalize_model(""), "");
        assert_eq!(normalize_model("claude-x.y"), "claude-x.y");
    }

    #[test]
    fn normal_form_is_a_fixpoint() {
        for raw in [
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "claude-3-5-sonnet-v2@20241022",
            "Anthropic/Claude-Opus-4-6[1m]",
        ] {
            let once = normalize_model(raw);
            assert_eq!(normalize_model(&once), once);
        }
    }

    #[test]
    fn strips_date_only_when_eight_digits() {
        assert_eq!(strip_date("claude-opus-4-20250514"), Some("claude-opus-4"));
        assert_eq!(strip_date("claude-opus-4-2025051"), None);
        assert_eq!(strip_date("claude-opus-4-6"), None);
        assert_eq!(strip_date("x20250514"), None);
        assert_eq!(strip_date("-20250514"), Some(""));
        assert_eq!(strip_date("é-2025"), None);
    }

    #[test]
    fn what_follows_a_known_id() {
        assert_eq!(version_remainder("-5"), Some(true));
        assert_eq!(version_remainder("-10-x"), Some(true));
        assert_eq!(version_remainder("-thinking"), Some(false));
        assert_eq!(version_remainder("-1m"), Some(false));
        assert_eq!(version_remainder("-20261001"), Some(false));
        assert_eq!(version_remainder("0"), None);
        assert_eq!(version_remainder("-"), None);
        assert_eq!(version_remainder(""), None);
    }

    #[test]
    fn strips_latest() {
        assert_eq!(
            strip_latest("claude-3-5-haiku-latest"),
            Some("claude-3-5-haiku")
        );
        assert_eq!(strip_latest("claude-3-5-haiku"), None);
    }
}
