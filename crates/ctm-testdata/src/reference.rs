//! An independent price computation, written straight from the project's reference
//! (`shared/reference/pricing.md`, prices as of 2026-12-06, rules R1-R9), for the ground
//! truth of generated roots. It shares no code or data with `ctm-pricing`: a test that
//! compares ctm's totals with it checks ctm's table and its rules, not ctm against itself.
//!
//! Kept deliberately plain: one match on the model name, the rules spelled out in order.

use std::sync::OnceLock;

/// One response as the reference prices it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Billable<'a> {
    pub model: &'a str,
    /// UTC epoch milliseconds (the earliest line of the response).
    pub ts_ms: i64,
    pub input: u64,
    pub output: u64,
    pub cache_5m: u64,
    pub cache_1h: u64,
    pub cache_read: u64,
    pub web_searches: u64,
    /// `usage.speed == "fast"`.
    pub fast: bool,
    /// `usage.inference_geo == "us"`.
    pub us: bool,
}

/// USD per MTok: input, output, 5-minute write, 1-hour write, cache read.
type Five = [f64; 5];

struct Spec {
    base: Five,
    /// (from, cache read): a dated cut of the cache-read rate (R2, R9).
    read_cut: Option<(&'static str, f64)>,
    /// (threshold, rates, until): prompt strictly above the threshold bills the whole
    /// request at these rates, while before `until` (R4, R5).
    band: Option<(u64, Five, Option<&'static str>)>,
    /// (from, until, multiplier) while fast mode was offered (R6).
    fast: &'static [(Option<&'static str>, Option<&'static str>, f64)],
    /// Data residency 1.1x from Opus 4.6 on (R7).
    us: bool,
}

const OPUS_45: Five = [5.0, 25.0, 6.25, 10.0, 0.50];
const OPUS_4: Five = [15.0, 75.0, 18.75, 30.0, 1.50];
const SONNET_4: Five = [3.0, 15.0, 3.75, 6.0, 0.30];
const SONNET_LONG: Five = [6.0, 22.5, 7.5, 12.0, 0.60];

fn spec(model: &str) -> Option<Spec> {
    let plain = |base: Five, us: bool| Spec {
        base,
        read_cut: None,
        band: None,
        fast: &[],
        us,
    };
    let s = match model {
        "claude-fable-5-2" | "claude-mythos-5-2" => Spec {
            fast: &[(Some("2026-11-09"), None, 2.0)],
            ..plain([8.0, 40.0, 10.0, 16.0, 0.20], true)
        },
        "claude-fable-5-1" | "claude-mythos-5-1" => plain([10.0, 50.0, 12.5, 20.0, 0.25], true),
        "claude-fable-5" | "claude-mythos-5" => plain([10.0, 50.0, 12.5, 20.0, 1.00], true),
        "claude-opus-5-5" => Spec {
            fast: &[(Some("2026-09-22"), None, 2.0)],
            ..plain([4.0, 20.0, 5.0, 8.0, 0.20], true)
        },
        "claude-opus-5" => Spec {
            fast: &[(Some("2026-07-24"), None, 2.0)],
            ..plain(OPUS_45, true)
        },
        "claude-opus-4-8" => Spec {
            fast: &[(Some("2026-05-28"), Some("2026-11-30"), 2.0)],
            ..plain(OPUS_45, true)
        },
        "claude-opus-4-7" => Spec {
            fast: &[(Some("2026-04-16"), Some("2026-07-24"), 6.0)],
            ..plain(OPUS_45, true)
        },
        "claude-opus-4-6" => Spec {
            band: Some((200_000, [10.0, 37.5, 12.5, 20.0, 1.0], Some("2026-03-13"))),
            // 6x, at half price during the launch promotion until 2026-02-16.
            fast: &[
                (Some("2026-02-05"), Some("2026-02-16"), 3.0),
                (Some("2026-02-16"), None, 6.0),
            ],
            ..plain(OPUS_45, true)
        },
        "claude-opus-4-5" => plain(OPUS_45, false),
        "claude-opus-4-1" | "claude-opus-4" | "claude-opus-4-0" | "claude-3-opus" => {
            plain(OPUS_4, false)
        }
        "claude-sonnet-5-5" => Spec {
            read_cut: Some(("2026-10-07", 0.10)),
            ..plain([2.0, 10.0, 2.5, 4.0, 0.20], true)
        },
        "claude-sonnet-5" => plain([2.0, 10.0, 2.5, 4.0, 0.20], true),
        "claude-sonnet-4-6" => Spec {
            band: Some((200_000, SONNET_LONG, Some("2026-03-13"))),
            ..plain(SONNET_4, true)
        },
        "claude-sonnet-4-5" => Spec {
            band: Some((200_000, SONNET_LONG, Some("2026-04-30"))),
            ..plain(SONNET_4, false)
        },
        "claude-sonnet-4" | "claude-sonnet-4-0" => Spec {
            band: Some((200_000, SONNET_LONG, None)),
            ..plain(SONNET_4, false)
        },
        "claude-3-7-sonnet" | "claude-3-5-sonnet" => plain(SONNET_4, false),
        "claude-haiku-5-5" => Spec {
            band: Some((100_000, [0.50, 2.50, 0.625, 1.00, 0.05], None)),
            ..plain([0.10, 0.50, 0.125, 0.20, 0.01], true)
        },
        "claude-haiku-4-5" => plain([1.0, 5.0, 1.25, 2.0, 0.10], false),
        "claude-3-5-haiku" => plain([0.80, 4.0, 1.0, 1.60, 0.08], false),
        "claude-3-haiku" => plain([0.25, 1.25, 0.30, 0.50, 0.03], false),
        _ => return None,
    };
    Some(s)
}

/// 00:00 UTC of a date (R9), memoised.
fn midnight(date: &str) -> i64 {
    static CACHE: OnceLock<std::sync::Mutex<Vec<(&'static str, i64)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut c = cache.lock().expect("not poisoned");
    if let Some(&(_, ms)) = c.iter().find(|(d, _)| *d == date) {
        return ms;
    }
    let ms = format!("{date}T00:00:00Z")
        .parse::<jiff::Timestamp>()
        .expect("a valid date")
        .as_millisecond();
    c.push((Box::leak(date.to_owned().into_boxed_str()), ms));
    ms
}

/// The model name without a trailing `-YYYYMMDD` (dated ids price as their base).
fn base_name(model: &str) -> &str {
    match model.rsplit_once('-') {
        Some((head, tail)) if tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => model,
    }
}

/// Whether fast mode is offered for `model` at `ts_ms`.
pub fn fast_offered(model: &str, ts_ms: i64) -> bool {
    fast_multiplier(model, ts_ms).is_some()
}

fn fast_multiplier(model: &str, ts_ms: i64) -> Option<f64> {
    let s = spec(base_name(model))?;
    s.fast
        .iter()
        .find(|(from, until, _)| {
            from.map_or(true, |f| ts_ms >= midnight(f))
                && until.map_or(true, |u| ts_ms < midnight(u))
        })
        .map(|f| f.2)
}

/// Whether `model` has data residency pricing.
pub fn us_offered(model: &str) -> bool {
    spec(base_name(model)).is_some_and(|s| s.us)
}

/// The cost of one response in USD, or `None` for a model the reference has no price
/// for.
pub fn price(b: &Billable) -> Option<f64> {
    let s = spec(base_name(b.model))?;
    // R1: the tokens at the rates in force at the response's time.
    let mut rates = s.base;
    if let Some((from, read)) = s.read_cut {
        if b.ts_ms >= midnight(from) {
            rates[4] = read;
        }
    }
    // R4/R5: the prompt is input + cache writes + cache reads, strictly above.
    let prompt = b.input + b.cache_5m + b.cache_1h + b.cache_read;
    if let Some((above, band, until)) = s.band {
        if prompt > above && until.map_or(true, |u| b.ts_ms < midnight(u)) {
            rates = band;
        }
    }
    let tokens = (b.input as f64 * rates[0]
        + b.output as f64 * rates[1]
        + b.cache_5m as f64 * rates[2]
        + b.cache_1h as f64 * rates[3]
        + b.cache_read as f64 * rates[4])
        / 1_000_000.0;
    // R6/R7: fast while offered, US from Opus 4.6 on; they stack.
    let fast = if b.fast {
        fast_multiplier(b.model, b.ts_ms).unwrap_or(1.0)
    } else {
        1.0
    };
    let us = if b.us && s.us { 1.1 } else { 1.0 };
    // R8: $10 per 1,000 searches, never multiplied.
    Some(tokens * fast * us + b.web_searches as f64 * 0.01)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(model: &str, utc: &str) -> Billable<'static> {
        Billable {
            model: Box::leak(model.to_owned().into_boxed_str()),
            ts_ms: utc.parse::<jiff::Timestamp>().unwrap().as_millisecond(),
            ..Billable::default()
        }
    }

    #[test]
    fn the_reference_rules_by_hand() {
        // Haiku 5.5 at 100,000 and 100,001 prompt tokens.
        let low = Billable {
            input: 100_000,
            output: 1000,
            ..at("claude-haiku-5-5", "2026-12-01T00:00:00Z")
        };
        assert!((price(&low).unwrap() - (0.01 + 0.0005)).abs() < 1e-12);
        let high = Billable {
            input: 100_001,
            ..low
        };
        assert!((price(&high).unwrap() - (0.050_000_5 + 0.0025)).abs() < 1e-12);
        // Sonnet 5.5's read cut at midnight UTC.
        let read = |utc| Billable {
            cache_read: 1_000_000,
            ..at("claude-sonnet-5-5", utc)
        };
        assert!((price(&read("2026-10-06T23:59:59Z")).unwrap() - 0.2).abs() < 1e-12);
        assert!((price(&read("2026-10-07T00:00:00Z")).unwrap() - 0.1).abs() < 1e-12);
        // Opus 5.5 fast and US with two searches: 0.024 x 2.2 + 0.02.
        let b = Billable {
            input: 1000,
            output: 1000,
            fast: true,
            us: true,
            web_searches: 2,
            ..at("claude-opus-5-5", "2026-12-01T00:00:00Z")
        };
        assert!((price(&b).unwrap() - (0.0528 + 0.02)).abs() < 1e-12);
        // Opus 4.8 fast after 2026-11-30 is standard.
        let b = Billable {
            input: 1000,
            fast: true,
            ..at("claude-opus-4-8-20260528", "2026-11-30T00:00:01Z")
        };
        assert!((price(&b).unwrap() - 0.005).abs() < 1e-12);
        assert!(price(&at("claude-mystery-9", "2026-12-01T00:00:00Z")).is_none());
    }
}
