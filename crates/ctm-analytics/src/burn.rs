//! The burn rate and the projection: one rule for every front end (`ctm blocks`, `ctm
//! live`, the statusline, the dashboard). `docs/definitions.md` says it in words:
//!
//! - An **active block** burns what its responses of the trailing 60 minutes used (only
//!   those since the block's start, when it started less than an hour ago), divided by
//!   that window, and never by less than 5 minutes: a burst of responses is spread over
//!   at least 5 minutes instead of read as its instantaneous pace. With no response for
//!   60 minutes the rate is 0.
//! - Its **projection** is what it used plus the rate times the minutes left until the
//!   block's end, so it is never more than the current rate can add by then, and equals
//!   what was used once the rate is 0. Only an active block has one.
//! - A **finished block**'s rate is its average over its active span, from its first to
//!   its last response, again at least 5 minutes.

use ctm_aggregate::{Fact, Sums};
use ctm_store::derive::usage_blocks::BlockFigures;
use serde::Serialize;

const MINUTE_MS: i64 = 60_000;
/// The trailing window an active block's rate is measured over.
pub const WINDOW_MS: i64 = 60 * MINUTE_MS;
/// No rate is measured over less than this: a burst is not a pace.
pub const MIN_WINDOW_MS: i64 = 5 * MINUTE_MS;

/// What a rate is measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RateBasis {
    /// An active block: the last 60 minutes.
    TrailingHour,
    /// An active block that started less than an hour ago: since its start.
    SinceBlockStart,
    /// A finished block: from its first to its last response.
    ActiveSpan,
}

/// Tokens, cost and responses per unit of time, each in its own named unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRate {
    /// All four kinds of tokens (input, output, cache write, cache read) per minute, as
    /// ccusage's `tokensPerMinute`.
    pub tokens_per_minute: f64,
    /// Input + output tokens per minute: the unit of the plans' token limits.
    pub input_output_tokens_per_minute: f64,
    pub cost_per_hour: f64,
    pub responses_per_hour: f64,
    pub basis: RateBasis,
    /// The window's length (at least 5).
    pub window_minutes: f64,
    /// The window's start (UTC epoch ms).
    #[serde(skip)]
    pub window_start_ms: i64,
}

impl BurnRate {
    /// Per minute, of the amount a meter counts.
    pub fn per_minute(&self, amount: Amount) -> f64 {
        match amount {
            Amount::Tokens => self.tokens_per_minute,
            Amount::InputOutputTokens => self.input_output_tokens_per_minute,
            Amount::Cost => self.cost_per_hour / 60.0,
            Amount::Responses => self.responses_per_hour / 60.0,
        }
    }

    /// No response in the window: nothing is burning.
    pub fn is_idle(&self) -> bool {
        self.responses_per_hour == 0.0
    }
}

/// The amounts a rate and a projection are given for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// All four kinds.
    Tokens,
    /// Input + output.
    InputOutputTokens,
    Cost,
    Responses,
}

impl Amount {
    pub fn of(self, s: &Sums) -> f64 {
        match self {
            Amount::Tokens => s.total_tokens() as f64,
            Amount::InputOutputTokens => (s.input_tokens + s.output_tokens) as f64,
            Amount::Cost => s.cost_usd(),
            Amount::Responses => s.responses as f64,
        }
    }
}

/// Where the active block ends up at its current rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    /// All four kinds.
    pub total_tokens: u64,
    /// Input + output.
    pub input_output_tokens: u64,
    pub total_cost: f64,
    pub remaining_minutes: u64,
}

/// The block's burn rate at `now_ms`. `facts` are the block's responses (oldest first);
/// an active block needs at least those of its trailing hour, a finished one none (its
/// sums say everything).
pub fn burn_rate(b: &BlockFigures, facts: &[Fact], now_ms: i64) -> BurnRate {
    if !b.is_active(now_ms) {
        let span = b.last_ts - b.first_ts;
        return rate(&b.sums, span, RateBasis::ActiveSpan, b.first_ts);
    }
    let hour_ago = now_ms - WINDOW_MS;
    let (from, basis) = if b.start_ms > hour_ago {
        (b.start_ms, RateBasis::SinceBlockStart)
    } else {
        (hour_ago, RateBasis::TrailingHour)
    };
    let mut sums = Sums::default();
    for f in facts {
        // The trailing hour excludes its first instant: a response exactly 60 minutes
        // ago has left it.
        let inside = f.ts >= b.start_ms && f.ts > hour_ago && f.ts <= now_ms;
        if inside {
            sums.add(&f.sums);
        }
    }
    rate(&sums, now_ms - from, basis, from)
}

fn rate(s: &Sums, span_ms: i64, basis: RateBasis, from_ms: i64) -> BurnRate {
    let minutes = span_ms.max(MIN_WINDOW_MS) as f64 / MINUTE_MS as f64;
    let per_minute = |a: Amount| a.of(s) / minutes;
    BurnRate {
        tokens_per_minute: per_minute(Amount::Tokens),
        input_output_tokens_per_minute: per_minute(Amount::InputOutputTokens),
        cost_per_hour: per_minute(Amount::Cost) * 60.0,
        responses_per_hour: per_minute(Amount::Responses) * 60.0,
        basis,
        window_minutes: minutes,
        window_start_ms: from_ms,
    }
}

/// Minutes from `now_ms` to the block's end (0 past it).
pub fn minutes_left(b: &BlockFigures, now_ms: i64) -> f64 {
    ((b.end_ms() - now_ms) as f64 / MINUTE_MS as f64).max(0.0)
}

/// `used` plus `per_minute` for the minutes left: the one projection formula.
pub fn project(used: f64, per_minute: f64, minutes_left: f64) -> f64 {
    used + per_minute.max(0.0) * minutes_left.max(0.0)
}

/// The active block's projection at its end; none for a finished block.
pub fn projection(b: &BlockFigures, rate: &BurnRate, now_ms: i64) -> Option<Projection> {
    if !b.is_active(now_ms) {
        return None;
    }
    let left = minutes_left(b, now_ms);
    let at_end = |a: Amount| project(a.of(&b.sums), rate.per_minute(a), left);
    Some(Projection {
        total_tokens: at_end(Amount::Tokens).round() as u64,
        input_output_tokens: at_end(Amount::InputOutputTokens).round() as u64,
        total_cost: at_end(Amount::Cost),
        remaining_minutes: left.round() as u64,
    })
}

/// When `used` reaches `limit` at `per_minute`, if before the block's end (`minutes_left`
/// from now): never while the rate is 0.
pub fn limit_reached_ms(
    used: f64,
    limit: f64,
    per_minute: f64,
    now_ms: i64,
    minutes_left: f64,
) -> Option<i64> {
    if limit <= used || per_minute <= 0.0 {
        return None;
    }
    let to_go = (limit - used) / per_minute;
    (to_go <= minutes_left).then(|| now_ms + (to_go * MINUTE_MS as f64).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_aggregate::{aggregate_blocks, nanos_of_usd, Names, SlotRow};

    const S: i64 = 1_000;
    const MIN: i64 = 60 * S;
    const H: i64 = 60 * MIN;
    /// 2026-03-07T23:00Z, an hour boundary: blocks of facts from here start here.
    const T0: i64 = 1_772_924_400_000;

    fn fact(ts: i64, input: u64, output: u64, cache_read: u64, cost: f64) -> Fact {
        Fact {
            id: ts,
            ts,
            session: 1,
            project: 0,
            model: 1,
            sums: Sums {
                responses: 1,
                input_tokens: input,
                output_tokens: output,
                cache_read_tokens: cache_read,
                cost_nanos: nanos_of_usd(cost),
                ..Sums::default()
            },
        }
    }

    fn block(facts: &[Fact]) -> BlockFigures {
        let rows: Vec<SlotRow> = facts.iter().map(SlotRow::of_fact).collect();
        let mut blocks = aggregate_blocks(&rows, i64::MIN);
        assert_eq!(blocks.len(), 1, "one block");
        BlockFigures::of(&blocks.pop().unwrap(), &Names::default())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    /// The burst: 11 responses within 15 seconds, 40 minutes into a block.
    fn burst() -> Vec<Fact> {
        (0..11)
            .map(|i| fact(T0 + 40 * MIN + i * 1_500, 100, 900, 100_000, 0.02))
            .collect()
    }

    #[test]
    fn a_burst_is_spread_over_the_window_not_read_as_its_instant_pace() {
        let facts = burst();
        let b = block(&facts);
        // 15 s after the burst began, the block is 40 minutes old: the window is the
        // 40 minutes since its start (a burst alone is never read over 15 s).
        let now = T0 + 40 * MIN + 15 * S;
        let r = burn_rate(&b, &facts, now);
        let window = 40.0 + 0.25;
        assert_eq!(r.basis, RateBasis::SinceBlockStart);
        assert!(close(r.window_minutes, window));
        assert!(close(r.tokens_per_minute, 11.0 * 101_000.0 / window));
        assert!(close(r.input_output_tokens_per_minute, 11_000.0 / window));
        assert!(close(r.cost_per_hour, 0.22 / window * 60.0));
        // The projection adds exactly the rate times the minutes left, no more.
        let p = projection(&b, &r, now).unwrap();
        let left = (5 * H - (40 * MIN + 15 * S)) as f64 / MIN as f64;
        assert_eq!(p.remaining_minutes, left.round() as u64);
        assert_eq!(
            p.total_tokens,
            (1_111_000.0 + r.tokens_per_minute * left).round() as u64
        );
        assert_eq!(
            p.input_output_tokens,
            (11_000.0 + r.input_output_tokens_per_minute * left).round() as u64
        );
        assert!(close(p.total_cost, 0.22 + r.cost_per_hour / 60.0 * left));
        // Read over the burst's own 15 s, the same responses would project over a
        // billion tokens by the reset.
        assert!(p.total_tokens < 10_000_000, "{p:?}");
    }

    #[test]
    fn a_burst_at_the_start_of_a_block_is_read_over_five_minutes_at_least() {
        let facts: Vec<Fact> = (0..11)
            .map(|i| fact(T0 + i * 1_500, 100, 900, 0, 0.02))
            .collect();
        let b = block(&facts);
        let now = T0 + 15 * S;
        let r = burn_rate(&b, &facts, now);
        assert_eq!(r.basis, RateBasis::SinceBlockStart);
        assert_eq!(r.window_minutes, 5.0);
        assert!(close(r.input_output_tokens_per_minute, 11_000.0 / 5.0));
        assert!(close(r.cost_per_hour, 0.22 * 12.0));
    }

    #[test]
    fn the_rate_is_the_trailing_hour_once_the_block_is_older() {
        // One response at 23:10 (2.5 hours before now) and two in the last hour.
        let facts = [
            fact(T0 + 10 * MIN, 1_000, 0, 0, 1.0),
            fact(T0 + 110 * MIN, 600, 0, 0, 0.6),
            fact(T0 + 150 * MIN, 600, 0, 0, 0.6),
        ];
        let b = block(&facts);
        let now = T0 + 160 * MIN;
        let r = burn_rate(&b, &facts, now);
        assert_eq!(r.basis, RateBasis::TrailingHour);
        assert_eq!(r.window_start_ms, now - H);
        assert_eq!(r.window_minutes, 60.0);
        assert!(close(r.input_output_tokens_per_minute, 1_200.0 / 60.0));
        assert!(close(r.cost_per_hour, 1.2));
        assert!(close(r.responses_per_hour, 2.0));
        // Responses after now are not counted (a pinned clock in tests).
        let mut later = facts.to_vec();
        later.push(fact(now + MIN, 1_000_000, 0, 0, 100.0));
        assert_eq!(burn_rate(&b, &later, now), r);
    }

    #[test]
    fn an_idle_hour_means_rate_zero_and_a_projection_of_what_was_spent() {
        let facts = burst();
        let b = block(&facts);
        let last = facts.last().unwrap().ts;
        // 59 minutes after the last response the burst still counts...
        let r = burn_rate(&b, &facts, last + 59 * MIN);
        assert!(r.tokens_per_minute > 0.0);
        // ...and an hour after it nothing does.
        let now = last + H;
        let r = burn_rate(&b, &facts, now);
        assert!(r.is_idle());
        assert_eq!(
            (r.tokens_per_minute, r.input_output_tokens_per_minute),
            (0.0, 0.0)
        );
        assert_eq!((r.cost_per_hour, r.responses_per_hour), (0.0, 0.0));
        let p = projection(&b, &r, now).unwrap();
        assert_eq!(p.total_tokens, b.sums.total_tokens());
        assert_eq!(p.input_output_tokens, 11_000);
        assert!(close(p.total_cost, b.sums.cost_usd()));
        // Idle, a limit is never "reached at" a time that slides with the clock.
        assert_eq!(limit_reached_ms(11_000.0, 19_000.0, 0.0, now, 100.0), None);
    }

    #[test]
    fn a_finished_block_shows_its_average_over_its_active_span() {
        // The issue's $0.19 block: a burst of 15 s. Read over 5 minutes, $2.28/h, not
        // $183/h; no projection.
        let facts: Vec<Fact> = (0..11)
            .map(|i| fact(T0 + i * 1_500, 100, 900, 0, 0.19 / 11.0))
            .collect();
        let b = block(&facts);
        let now = T0 + 6 * H;
        let r = burn_rate(&b, &[], now);
        assert_eq!(r.basis, RateBasis::ActiveSpan);
        assert_eq!(r.window_minutes, 5.0);
        // The block's cost is its responses' whole nano-dollars (0.19 / 11 each is not).
        assert!(close(r.cost_per_hour, b.sums.cost_usd() * 12.0));
        assert!((r.cost_per_hour - 0.19 * 12.0).abs() < 1e-6);
        assert_eq!(projection(&b, &r, now), None);
        // A longer finished block: its sums over first to last response.
        let facts = [
            fact(T0 + 10 * MIN, 1_000, 1_000, 0, 1.0),
            fact(T0 + 130 * MIN, 1_000, 1_000, 0, 1.0),
        ];
        let b = block(&facts);
        let r = burn_rate(&b, &[], T0 + 10 * H);
        assert_eq!(r.window_minutes, 120.0);
        assert!(close(r.input_output_tokens_per_minute, 4_000.0 / 120.0));
        assert!(close(r.cost_per_hour, 1.0));
    }

    #[test]
    fn a_limit_is_dated_only_within_the_block() {
        let now = T0;
        // 8,000 to go at 100 a minute: 80 minutes from now.
        assert_eq!(
            limit_reached_ms(2_000.0, 10_000.0, 100.0, now, 260.0),
            Some(now + 80 * MIN)
        );
        assert_eq!(limit_reached_ms(2_000.0, 1e9, 100.0, now, 260.0), None);
        assert_eq!(
            limit_reached_ms(12_000.0, 10_000.0, 100.0, now, 260.0),
            None
        );
        assert_eq!(project(10.0, 2.0, 5.0), 20.0);
        assert_eq!(project(10.0, 2.0, -5.0), 10.0);
    }
}
