//! Fast builders for the pieces of a line: filler text, ids, timestamps.
//! Everything appends to a `String`; no per-line JSON values are built.

use crate::rng::Rng;

/// Prose words. Every entry is already valid inside a JSON string
/// (the `\\n` items are JSON escapes), so filler needs no escaping.
static PROSE: [&str; 64] = [
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "on",
    "this",
    "we",
    "should",
    "can",
    "file",
    "test",
    "function",
    "error",
    "value",
    "check",
    "update",
    "need",
    "let",
    "me",
    "now",
    "first",
    "then",
    "read",
    "change",
    "run",
    "config",
    "module",
    "query",
    "session",
    "token",
    "cache",
    "index",
    "build",
    "fix",
    "issue",
    "because",
    "looks",
    "right",
    "next",
    "step",
    "handler",
    "parser",
    "\\n",
    "\\n\\n",
    "—",
    "café",
    "naïve",
    "→",
    "✓",
    "résumé",
    "日本語",
    "Straße",
    "`cargo`",
    "`src/lib.rs`",
    "**Note**:",
    "- item",
    "1.",
];

/// Code-ish tokens for tool results and file contents.
static CODE: [&str; 64] = [
    "fn",
    "let",
    "mut",
    "self",
    "=>",
    "->",
    "{",
    "}",
    "(",
    ")",
    "&str",
    "Vec<u8>",
    "Ok(())",
    "\\n",
    "\\n    ",
    "\\n        ",
    "\\t",
    "\\\"id\\\"",
    "//",
    "if",
    "else",
    "match",
    "return",
    "0x1f",
    "42",
    "1024",
    "i64",
    "u32",
    "pub",
    "struct",
    "impl",
    "use",
    "crate::",
    "Result<()>",
    "?;",
    "=",
    "==",
    "!=",
    "+",
    "*",
    "[0]",
    ".iter()",
    ".map(|x|",
    "x)",
    ".collect()",
    "None",
    "Some(v)",
    "String",
    "async",
    "await",
    "const",
    "true",
    "false",
    "null",
    "<div>",
    "</div>",
    "SELECT",
    "FROM",
    "WHERE",
    "ts",
    "│",
    "└─",
    "warning:",
    "error[E0308]:",
];

pub(crate) fn prose(rng: &mut Rng, buf: &mut String, n: usize) {
    fill(rng, buf, n, &PROSE);
}

pub(crate) fn code(rng: &mut Rng, buf: &mut String, n: usize) {
    fill(rng, buf, n, &CODE);
}

pub(crate) fn prose_between(rng: &mut Rng, buf: &mut String, lo: u64, hi: u64) {
    let n = rng.range(lo, hi) as usize;
    fill(rng, buf, n, &PROSE);
}

pub(crate) fn code_between(rng: &mut Rng, buf: &mut String, lo: u64, hi: u64) {
    let n = rng.range(lo, hi) as usize;
    fill(rng, buf, n, &CODE);
}

fn fill(rng: &mut Rng, buf: &mut String, n: usize, vocab: &[&str; 64]) {
    let start = buf.len();
    buf.reserve(n + 16);
    // The first word is capitalised-free and never an escape, so text never
    // starts with a dangling backslash sequence issue.
    buf.push_str("ok");
    while buf.len() - start < n {
        let mut r = rng.next_u64();
        for _ in 0..10 {
            buf.push(' ');
            buf.push_str(vocab[(r & 63) as usize]);
            r >>= 6;
        }
    }
}

pub(crate) fn push_u64(buf: &mut String, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    buf.push_str(std::str::from_utf8(&tmp[i..]).unwrap_or("0"));
}

pub(crate) fn push_i64(buf: &mut String, v: i64) {
    if v < 0 {
        buf.push('-');
    }
    push_u64(buf, v.unsigned_abs());
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub(crate) fn push_uuid(rng: &mut Rng, buf: &mut String) {
    let a = rng.next_u64();
    let b = rng.next_u64();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            buf.push('-');
        }
        buf.push(HEX[(byte >> 4) as usize] as char);
        buf.push(HEX[(byte & 15) as usize] as char);
    }
}

pub(crate) fn uuid(rng: &mut Rng) -> String {
    let mut s = String::with_capacity(36);
    push_uuid(rng, &mut s);
    s
}

pub(crate) fn push_hex(rng: &mut Rng, buf: &mut String, n: usize) {
    for _ in 0..n {
        buf.push(HEX[rng.below(16) as usize] as char);
    }
}

pub(crate) fn push_b62(rng: &mut Rng, buf: &mut String, n: usize) {
    for _ in 0..n {
        buf.push(B62[rng.below(62) as usize] as char);
    }
}

pub(crate) fn prefixed_id(rng: &mut Rng, prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    push_b62(rng, &mut s, n);
    s
}

pub(crate) fn msg_id(rng: &mut Rng) -> String {
    prefixed_id(rng, "msg_01", 22)
}

pub(crate) fn req_id(rng: &mut Rng) -> String {
    prefixed_id(rng, "req_011C", 20)
}

pub(crate) fn tool_id(rng: &mut Rng) -> String {
    prefixed_id(rng, "toolu_01", 22)
}

/// Escapes a string for use inside JSON quotes (for paths, which may hold
/// spaces or non-ASCII letters but are written verbatim otherwise).
pub(crate) fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Claude Code's directory name for a cwd: every char outside [A-Za-z0-9]
/// becomes '-' (its JS regex works on UTF-16 units; our names are all BMP).
pub(crate) fn encode_cwd(cwd: &str) -> String {
    cwd.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

// ---- time ----

pub(crate) const DAY_MS: i64 = 86_400_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const MIN_MS: i64 = 60_000;

/// (year, month, day) for days since 1970-01-01 (Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m as u32, d as u32)
}

pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn push_2(buf: &mut String, v: u32) {
    buf.push((b'0' + (v / 10) as u8) as char);
    buf.push((b'0' + (v % 10) as u8) as char);
}

pub(crate) fn push_date(buf: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    push_i64(buf, y);
    buf.push('-');
    push_2(buf, m);
    buf.push('-');
    push_2(buf, d);
}

pub(crate) fn date_string(days: i64) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, days);
    s
}

/// RFC 3339 with milliseconds: `...Z` when `offset_min` is None, otherwise the
/// same instant written in local time with a `+HH:MM` suffix.
pub(crate) fn push_ts(buf: &mut String, ms: i64, offset_min: Option<i32>) {
    let local = ms + offset_min.unwrap_or(0) as i64 * MIN_MS;
    let days = local.div_euclid(DAY_MS);
    let rem = local.rem_euclid(DAY_MS);
    push_date(buf, days);
    buf.push('T');
    push_2(buf, (rem / HOUR_MS) as u32);
    buf.push(':');
    push_2(buf, (rem / MIN_MS % 60) as u32);
    buf.push(':');
    push_2(buf, (rem / 1000 % 60) as u32);
    buf.push('.');
    let milli = (rem % 1000) as u32;
    buf.push((b'0' + (milli / 100) as u8) as char);
    push_2(buf, milli % 100);
    match offset_min {
        None => buf.push('Z'),
        Some(off) => {
            buf.push(if off < 0 { '-' } else { '+' });
            let a = off.unsigned_abs();
            push_2(buf, a / 60);
            buf.push(':');
            push_2(buf, a % 60);
        }
    }
}

pub(crate) fn ts_string(ms: i64, offset_min: Option<i32>) -> String {
    let mut s = String::with_capacity(29);
    push_ts(&mut s, ms, offset_min);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_jiff() {
        let mut rng = Rng::new(3);
        for _ in 0..2000 {
            let ms = rng.range(0, 4_000_000_000_000) as i64;
            for off in [None, Some(540), Some(330), Some(-300)] {
                let s = ts_string(ms, off);
                let t: jiff::Timestamp = s.parse().unwrap();
                assert_eq!(t.as_millisecond(), ms, "{s}");
            }
            let days = ms.div_euclid(DAY_MS);
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(ts_string(0, None), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            ts_string(1_767_225_600_123, Some(540)),
            "2026-01-01T09:00:00.123+09:00"
        );
    }

    #[test]
    fn filler_is_json_safe() {
        let mut rng = Rng::new(9);
        let mut s = String::from("\"");
        prose(&mut rng, &mut s, 5000);
        code(&mut rng, &mut s, 5000);
        s.push('"');
        let v: String = serde_json::from_str(&s).unwrap();
        assert!(v.len() > 9000);
    }

    #[test]
    fn encodes_cwd() {
        assert_eq!(
            encode_cwd("/home/dev/projects/my app"),
            "-home-dev-projects-my-app"
        );
        assert_eq!(encode_cwd("/home/dev/café"), "-home-dev-caf-");
    }
}
