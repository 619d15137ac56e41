//! The dashboard's overview: today, this week, this month, the current 5-hour block and
//! Claude's official limits, each one of the existing values (daily's totals, blocks'
//! active block, `official_limits`).

use ctm_store::Store;
use jiff::civil::{Date, Weekday};
use jiff::Timestamp;
use serde::Serialize;

use crate::blocks::{blocks_report, latest_block, BlockRow, BlocksQuery, TokenLimit};
use crate::daily::daily_report;
use crate::official::{official_limits, OfficialLimits};
use crate::periods::week_start;
use crate::query::{last_response_ms, ReportQuery};
use crate::usage::Totals;
use crate::AnalyticsError;

/// The totals of a range of local days.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodTotals {
    /// First and last local day, `YYYY-MM-DD`.
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub totals: Totals,
    /// cache read / (cache write + cache read).
    pub cache_hit_rate: f64,
    pub unpriced_models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryReport {
    pub today: PeriodTotals,
    pub this_week: PeriodTotals,
    pub this_month: PeriodTotals,
    /// The active block (with burn rate and projection), if one is running now.
    pub current_block: Option<BlockRow>,
    /// When no block is active: the latest one (finished), if any, so an idle page can
    /// say when the last block was.
    pub last_block: Option<BlockRow>,
    /// The latest response in the store (any filter aside), RFC 3339; null when the
    /// store holds none.
    pub last_response: Option<String>,
    /// The token limit the block is measured against: the largest finished block (an
    /// estimate).
    pub token_limit: Option<u64>,
    /// Claude's own 5-hour and 7-day figures as its statusline last reported them (each
    /// null until `ctm statusline` has seen one).
    pub official_limits: OfficialLimits,
    pub now: String,
    pub timezone: String,
}

/// The overview at `now`, in the query's zone and filters (its since/until are ignored:
/// the periods are fixed by `now`).
pub fn summary_report(
    store: &Store,
    q: &ReportQuery,
    now: Timestamp,
    start_of_week: Weekday,
) -> Result<SummaryReport, AnalyticsError> {
    let today = now.to_zoned(q.zone.tz.clone()).date();
    let period = |from: Date| -> Result<PeriodTotals, AnalyticsError> {
        let r = daily_report(
            store,
            &ReportQuery {
                since: Some(from),
                until: Some(today),
                ..q.clone()
            },
        )?;
        Ok(PeriodTotals {
            from: from.to_string(),
            to: today.to_string(),
            cache_hit_rate: r.totals.hit_rate(),
            totals: r.totals,
            unpriced_models: r.unpriced_models,
        })
    };
    let blocks = blocks_report(
        store,
        &BlocksQuery {
            report: ReportQuery {
                since: None,
                until: None,
                ..q.clone()
            },
            now_ms: now.as_millisecond(),
            token_limit: Some(TokenLimit::LargestPastBlock),
            active_only: true,
            recent_only: false,
        },
    )?;
    let current_block = blocks.blocks.into_iter().next();
    let last_block = match current_block {
        Some(_) => None,
        None => latest_block(store, now.as_millisecond(), &q.zone)?.map(|b| b.row),
    };
    Ok(SummaryReport {
        today: period(today)?,
        this_week: period(week_start(today, start_of_week))?,
        this_month: period(today.first_of_month())?,
        current_block,
        last_block,
        last_response: last_response_ms(store)?.map(|ms| q.zone.rfc3339(ms)),
        token_limit: blocks.token_limit,
        official_limits: official_limits(store, now.as_millisecond(), &q.zone)?,
        now: blocks.now,
        timezone: q.zone.label(),
    })
}
