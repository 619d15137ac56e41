//! `ctm live`: everything the live monitor and its `--once` snapshot show, as one value
//! computed from the store under a given clock.
//!
//! It is assembled from the other reports (the active block with its burn rate and
//! projection, the daily totals, the sessions, the model rows, the official figures);
//! what it adds is the plan's limits and, for each, the share used, the projection at the
//! block's end and when the limit will be reached. Plan limits are community estimates
//! (Anthropic publishes none); only [`OfficialLimits`] are Claude's own figures.

use jiff::civil::{Date, Weekday};
use jiff::ToSpan;
use serde::Serialize;

use ctm_aggregate::{Fact, Filter};
use ctm_store::derive::usage_blocks::BlockFigures;
use ctm_store::Store;

use crate::blocks::{blocks_of_rows, latest_block, stored_blocks_equal_to_facts, BlockRow};
use crate::burn::{self, Amount, BurnRate};
use crate::models::{model_rows, ModelRow};
use crate::official::{official_limits, OfficialLimits};
use crate::periods::week_start;
use crate::query::ReportQuery;
use crate::sessions::{session_report, SessionRow};
use crate::usage::Totals;
use crate::{daily_report, AnalyticsError, Order, Zone};

/// A subscription plan, for the limits the block is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Pro,
    Max5,
    Max20,
    /// The 90th percentile of the user's own past blocks.
    Custom,
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Pro, Plan::Max5, Plan::Max20, Plan::Custom];

    pub fn name(self) -> &'static str {
        match self {
            Plan::Pro => "pro",
            Plan::Max5 => "max5",
            Plan::Max20 => "max20",
            Plan::Custom => "custom",
        }
    }

    /// The next plan, for a key that cycles through them.
    pub fn next(self) -> Plan {
        let i = Plan::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Plan::ALL[(i + 1) % Plan::ALL.len()]
    }

    /// Community estimates per 5-hour block (Claude-Code-Usage-Monitor's figures):
    /// input + output tokens, cost, messages. `None` for custom.
    fn published(self) -> Option<(u64, f64, u64)> {
        match self {
            Plan::Pro => Some((19_000, 18.0, 250)),
            Plan::Max5 => Some((88_000, 35.0, 1_000)),
            Plan::Max20 => Some((220_000, 140.0, 2_000)),
            Plan::Custom => None,
        }
    }
}

/// What the block is measured against.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanLimits {
    pub plan: Plan,
    /// Input + output tokens per block (cache tokens do not count, as in the estimates).
    pub tokens: u64,
    #[serde(rename = "costUSD")]
    pub cost_usd: f64,
    /// Responses per block.
    pub messages: u64,
    /// Where the figures come from, in words.
    pub basis: String,
    /// Always `"estimate"`.
    pub source: &'static str,
}

/// Share of a limit at which a meter turns from ok to elevated, and to high.
pub const ELEVATED_SHARE: f64 = 0.5;
pub const HIGH_SHARE: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MeterLevel {
    /// Below 50 %.
    Ok,
    /// 50 % to 80 %.
    Elevated,
    /// 80 % and above.
    High,
}

impl MeterLevel {
    pub fn of(share: f64) -> MeterLevel {
        if share >= HIGH_SHARE {
            MeterLevel::High
        } else if share >= ELEVATED_SHARE {
            MeterLevel::Elevated
        } else {
            MeterLevel::Ok
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MeterKind {
    Tokens,
    Cost,
    Messages,
}

impl MeterKind {
    /// What the meter counts, in words: the same unit for its limit, rate and projection.
    pub fn unit(self) -> &'static str {
        match self {
            MeterKind::Tokens => "input+output tokens",
            MeterKind::Cost => "USD",
            MeterKind::Messages => "responses",
        }
    }

    fn amount(self) -> Amount {
        match self {
            MeterKind::Tokens => Amount::InputOutputTokens,
            MeterKind::Cost => Amount::Cost,
            MeterKind::Messages => Amount::Responses,
        }
    }
}

/// One figure of the block against the plan's limit; its used amount, limit, rate and
/// projection are all in `unit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meter {
    pub kind: MeterKind,
    pub unit: &'static str,
    pub used: f64,
    pub limit: f64,
    /// used / limit, 0 to 1 (more when over).
    pub share: f64,
    pub level: MeterLevel,
    /// Per minute, at the block's burn rate ([`crate::burn`]).
    pub per_minute: f64,
    /// Used plus the rate times the minutes left ([`crate::burn::project`]).
    pub projected_at_reset: f64,
    /// When the limit was reached (dated by the response that crossed it) or will be at
    /// the current rate, if before the reset; never while the rate is 0.
    pub limit_reached_at: Option<String>,
    #[serde(skip)]
    pub limit_reached_ms: Option<i64>,
    /// Always `"estimate"`.
    pub source: &'static str,
}

/// The active block as the monitor shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveBlock {
    /// `ctm blocks`' row of the block: times, tokens, cost, burn rate, projection.
    pub block: BlockRow,
    pub elapsed_minutes: f64,
    pub remaining_minutes: f64,
    /// Tokens (input+output, the plans' unit), cost and messages against the plan.
    pub meters: Vec<Meter>,
    /// Input+output tokens per minute over the last hour, oldest first (60 values): the
    /// tokens meter's unit.
    pub input_output_tokens_per_minute_last_hour: Vec<u64>,
    /// `ctm models`' rows for the block.
    pub models: Vec<ModelRow>,
}

/// Everything the monitor shows at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveView {
    pub now: String,
    pub timezone: String,
    pub plan: PlanLimits,
    /// None when no block is active.
    pub block: Option<LiveBlock>,
    /// When no block is active: the latest finished block (`ctm blocks`' row; its
    /// `actualEndTime` is when usage last happened), if any.
    pub last_block: Option<BlockRow>,
    pub today: PeriodTotals,
    pub this_week: PeriodTotals,
    /// The latest sessions with responses today or yesterday, newest first.
    pub recent_sessions: Vec<SessionRow>,
    /// Claude's own figures (from the statusline hook), when ever seen.
    pub official: OfficialLimits,
    #[serde(skip)]
    pub now_ms: i64,
}

/// A period's totals with its first day.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodTotals {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone)]
pub struct LiveQuery {
    pub zone: Zone,
    pub now_ms: i64,
    pub plan: Plan,
    pub recent_sessions: usize,
    pub start_of_week: Weekday,
}

/// The live view at `q.now_ms`.
pub fn live_view(store: &Store, q: &LiveQuery) -> Result<LiveView, AnalyticsError> {
    let plan = plan_limits(store, q.plan, q.now_ms)?;
    live_view_with_limits(store, q, plan)
}

/// The live view against limits already computed: `custom` limits read every block, so a
/// front end that redraws often computes them once per change of the store.
pub fn live_view_with_limits(
    store: &Store,
    q: &LiveQuery,
    plan: PlanLimits,
) -> Result<LiveView, AnalyticsError> {
    let latest = latest_block(store, q.now_ms, &q.zone)?;
    let (block, last_block) = match latest {
        Some(a) if a.row.is_active => (
            Some(live_block(
                a.row,
                &a.facts,
                model_rows(&a.facts, &a.names),
                &plan,
                q.now_ms,
                &q.zone,
            )),
            None,
        ),
        other => (None, other.map(|a| a.row)),
    };
    let today = q.zone.zoned(q.now_ms).date();
    let day_totals = |from: Date| -> Result<PeriodTotals, AnalyticsError> {
        let r = daily_report(store, &days(&q.zone, from, today))?;
        Ok(PeriodTotals {
            from: from.to_string(),
            to: today.to_string(),
            totals: r.totals,
        })
    };
    // Two days, not a week: the list is redrawn every refresh and a week of facts on a
    // heavy user's store costs tens of ms.
    let recent_from = today.saturating_sub(1.days());
    let mut sessions_q = days(&q.zone, recent_from, today);
    sessions_q.order = Order::Desc;
    let mut recent_sessions = session_report(store, &sessions_q)?.sessions;
    recent_sessions.retain(|s| s.first_ms <= q.now_ms);
    recent_sessions.truncate(q.recent_sessions);
    Ok(LiveView {
        now: q.zone.rfc3339(q.now_ms),
        timezone: q.zone.label(),
        plan,
        block,
        last_block,
        today: day_totals(today)?,
        this_week: day_totals(week_start(today, q.start_of_week))?,
        recent_sessions,
        official: official_limits(store, q.now_ms, &q.zone)?,
        now_ms: q.now_ms,
    })
}

fn days(zone: &Zone, from: Date, to: Date) -> ReportQuery {
    let mut r = ReportQuery::in_zone(zone.clone());
    r.since = Some(from);
    r.until = Some(to);
    r
}

fn live_block(
    row: BlockRow,
    facts: &[Fact],
    models: Vec<ModelRow>,
    plan: &PlanLimits,
    now_ms: i64,
    zone: &Zone,
) -> LiveBlock {
    let minute = 60_000.0;
    let remaining = ((row.end_ms - now_ms) as f64 / minute).max(0.0);
    let elapsed = ((now_ms - row.start_ms) as f64 / minute).max(0.0);
    let rate = row
        .burn_rate
        .clone()
        .expect("a block row always has a burn rate");
    let meters = [
        (MeterKind::Tokens, plan.tokens as f64),
        (MeterKind::Cost, plan.cost_usd),
        (MeterKind::Messages, plan.messages as f64),
    ]
    .into_iter()
    .map(|(kind, limit)| meter(kind, facts, limit, &rate, now_ms, remaining, zone))
    .collect();
    let mut per_minute = vec![0u64; 60];
    let hour_ago = now_ms - 3_600_000;
    for f in facts.iter().filter(|f| f.ts > hour_ago && f.ts <= now_ms) {
        let slot = ((f.ts - hour_ago - 1) / 60_000).clamp(0, 59) as usize;
        per_minute[slot] += f.sums.input_tokens + f.sums.output_tokens;
    }
    LiveBlock {
        models,
        block: row,
        elapsed_minutes: elapsed,
        remaining_minutes: remaining,
        meters,
        input_output_tokens_per_minute_last_hour: per_minute,
    }
}

/// A figure of the block against its limit, at the block's burn rate ([`crate::burn`]);
/// a limit already passed is dated by the response that crossed it.
fn meter(
    kind: MeterKind,
    facts: &[Fact],
    limit: f64,
    rate: &BurnRate,
    now_ms: i64,
    minutes_left: f64,
    zone: &Zone,
) -> Meter {
    let amount = kind.amount();
    let mut used = 0.0;
    let mut crossed = None;
    for f in facts.iter().filter(|f| f.ts <= now_ms) {
        used += amount.of(&f.sums);
        if crossed.is_none() && limit > 0.0 && used >= limit {
            crossed = Some(f.ts);
        }
    }
    let per_minute = rate.per_minute(amount);
    let reached =
        crossed.or_else(|| burn::limit_reached_ms(used, limit, per_minute, now_ms, minutes_left));
    let share = if limit > 0.0 { used / limit } else { 0.0 };
    Meter {
        kind,
        unit: kind.unit(),
        used,
        limit,
        share,
        level: MeterLevel::of(share),
        per_minute,
        projected_at_reset: burn::project(used, per_minute, minutes_left),
        limit_reached_at: reached.map(|ms| zone.rfc3339(ms)),
        limit_reached_ms: reached,
        source: "estimate",
    }
}

/// Share of a standard plan's token limit at which a past block counts as having come
/// near a limit (Claude-Code-Usage-Monitor's rule for `custom`).
const NEAR_LIMIT_SHARE: f64 = 0.95;

/// The plan's limits per block; `custom` is computed from the store's finished blocks.
pub fn plan_limits(store: &Store, plan: Plan, now_ms: i64) -> Result<PlanLimits, AnalyticsError> {
    if let Some((tokens, cost_usd, messages)) = plan.published() {
        return Ok(PlanLimits {
            plan,
            tokens,
            cost_usd,
            messages,
            basis: format!("{} plan, community estimate", plan.name()),
            source: "estimate",
        });
    }
    // Custom: every finished block, then those that came near a standard plan's limit.
    let blocks = match stored_blocks_equal_to_facts(store, Some(now_ms))? {
        Some(blocks) => blocks,
        None => blocks_of_rows(
            store,
            &store.usage_rows(i64::MIN, now_ms.saturating_add(1), &Filter::default(), None)?,
        )?,
    };
    let past: Vec<BlockFigures> = blocks
        .into_iter()
        .filter(|b| !b.is_active(now_ms))
        .collect();
    let plan_tokens = |b: &BlockFigures| b.sums.input_tokens + b.sums.output_tokens;
    let standard: Vec<u64> = Plan::ALL
        .iter()
        .filter_map(|p| p.published().map(|l| l.0))
        .collect();
    let near: Vec<&BlockFigures> = past
        .iter()
        .filter(|b| {
            standard
                .iter()
                .any(|&l| plan_tokens(b) as f64 >= NEAR_LIMIT_SHARE * l as f64)
        })
        .collect();
    let (chosen, which) = if near.is_empty() {
        (past.iter().collect::<Vec<_>>(), "past blocks")
    } else {
        (near, "past blocks near a limit")
    };
    if chosen.is_empty() {
        let (tokens, cost_usd, messages) = Plan::Pro.published().expect("pro has limits");
        return Ok(PlanLimits {
            plan,
            tokens,
            cost_usd,
            messages,
            basis: "custom: no finished block yet, pro's estimate".into(),
            source: "estimate",
        });
    }
    let p90 = |mut v: Vec<f64>| percentile(&mut v, 0.9);
    Ok(PlanLimits {
        plan,
        tokens: p90(chosen.iter().map(|b| plan_tokens(b) as f64).collect()).round() as u64,
        cost_usd: p90(chosen.iter().map(|b| b.sums.cost_usd()).collect()),
        messages: p90(chosen.iter().map(|b| b.sums.responses as f64).collect()).round() as u64,
        basis: format!("custom: 90th percentile of {} {which}", chosen.len()),
        source: "estimate",
    })
}

/// The `p` quantile (0 to 1) by linear interpolation between closest ranks.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = p.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_aggregate::{aggregate_blocks, nanos_of_usd, Names, SlotRow, Sums};

    const MIN: i64 = 60_000;
    /// 2026-03-07T23:00Z, an hour boundary.
    const T0: i64 = 1_772_924_400_000;

    fn fact(ts: i64, input: u64, output: u64, cost: f64) -> Fact {
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
                cost_nanos: nanos_of_usd(cost),
                ..Sums::default()
            },
        }
    }

    fn block_of(facts: &[Fact]) -> BlockFigures {
        let rows: Vec<SlotRow> = facts.iter().map(SlotRow::of_fact).collect();
        BlockFigures::of(&aggregate_blocks(&rows, i64::MIN)[0], &Names::default())
    }

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&mut [], 0.9), 0.0);
        assert_eq!(percentile(&mut [5.0], 0.9), 5.0);
        // Ranks 0..9 of 10..100: the 0.9 quantile sits at rank 8.1.
        let mut v: Vec<f64> = (1..=10).rev().map(|i| i as f64 * 10.0).collect();
        assert!((percentile(&mut v, 0.9) - 91.0).abs() < 1e-9);
    }

    #[test]
    fn meter_levels_turn_at_50_and_80_percent() {
        assert_eq!(MeterLevel::of(0.499), MeterLevel::Ok);
        assert_eq!(MeterLevel::of(0.5), MeterLevel::Elevated);
        assert_eq!(MeterLevel::of(0.799), MeterLevel::Elevated);
        assert_eq!(MeterLevel::of(0.8), MeterLevel::High);
        assert_eq!(Plan::Pro.next(), Plan::Max5);
        assert_eq!(Plan::Custom.next(), Plan::Pro);
    }

    #[test]
    fn a_meter_projects_and_dates_the_limit_in_its_own_unit() {
        let zone = Zone::utc();
        // 1,000 input+output tokens at 23:10 and 1,000 at 23:30, plus cache reads that
        // the plans' unit leaves out.
        let mut facts = vec![
            fact(T0 + 10 * MIN, 400, 600, 1.0),
            fact(T0 + 30 * MIN, 500, 500, 1.0),
        ];
        facts[1].sums.cache_read_tokens = 1_000_000;
        let b = block_of(&facts);
        // At 23:40 the window is the 40 minutes since the block's start: 50 a minute.
        let now = T0 + 40 * MIN;
        let rate = burn::burn_rate(&b, &facts, now);
        assert_eq!(rate.input_output_tokens_per_minute, 50.0);
        let left = 260.0;
        let m = meter(MeterKind::Tokens, &facts, 10_000.0, &rate, now, left, &zone);
        assert_eq!((m.used, m.share, m.level), (2_000.0, 0.2, MeterLevel::Ok));
        assert_eq!(m.unit, "input+output tokens");
        assert_eq!(m.per_minute, 50.0);
        // 260 minutes left: 2,000 + 13,000.
        assert_eq!(m.projected_at_reset, 15_000.0);
        // 8,000 to go at 50 a minute: 160 minutes after now, 02:20.
        assert_eq!(m.limit_reached_ms, Some(now + 160 * MIN));
        assert_eq!(
            m.limit_reached_at.as_deref(),
            Some("2026-03-08T02:20:00.000+00:00")
        );
        // A limit beyond the reset is not reached in this block.
        let far = meter(MeterKind::Tokens, &facts, 1e9, &rate, now, left, &zone);
        assert_eq!(far.limit_reached_ms, None);
        // A limit already passed is dated by the response that crossed it.
        let low = meter(MeterKind::Tokens, &facts, 1_500.0, &rate, now, left, &zone);
        assert_eq!(
            (low.limit_reached_ms, low.level),
            (Some(T0 + 30 * MIN), MeterLevel::High)
        );
        // An hour and more after the last response: rate 0, the projection is what was
        // used, and no limit time slides along with the clock.
        let idle_now = T0 + 91 * MIN;
        let idle = burn::burn_rate(&b, &facts, idle_now);
        let m = meter(
            MeterKind::Tokens,
            &facts,
            10_000.0,
            &idle,
            idle_now,
            209.0,
            &zone,
        );
        assert_eq!(
            (m.per_minute, m.projected_at_reset, m.limit_reached_ms),
            (0.0, 2_000.0, None)
        );
    }
}
