//! `ctm daily`: one row per day in the report's zone.

use ctm_store::Store;
use serde::Serialize;

use crate::days::{model_days, period_rows_of, ModelDay};
use crate::query::ReportQuery;
pub use crate::usage::{ModelBreakdown, Totals, Usage};
use crate::AnalyticsError;

/// The daily report takes the shared options.
pub type DailyQuery = ReportQuery;

/// One day: ccusage's daily row (`date` and the usage fields, flattened).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyRow {
    pub date: String,
    #[serde(flatten)]
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyReport {
    pub daily: Vec<DailyRow>,
    pub totals: Totals,
    pub timezone: String,
    /// Models without a price in this report: their tokens count, their cost is unknown.
    pub unpriced_models: Vec<String>,
}

/// Builds the daily report: from the store's daily tables when they are kept in the
/// report's zone and nothing is filtered, else from the facts.
pub fn daily_report(store: &Store, q: &DailyQuery) -> Result<DailyReport, AnalyticsError> {
    Ok(daily_report_of(model_days(store, q)?, q))
}

/// The daily report of per-model days read elsewhere (the team database's).
pub fn daily_report_of(days: Vec<ModelDay>, q: &DailyQuery) -> DailyReport {
    let p = period_rows_of(days, q, |d| d.to_string());
    DailyReport {
        daily: p
            .rows
            .into_iter()
            .map(|(date, usage)| DailyRow { date, usage })
            .collect(),
        totals: p.totals,
        timezone: q.zone.label(),
        unpriced_models: p.unpriced_models,
    }
}
