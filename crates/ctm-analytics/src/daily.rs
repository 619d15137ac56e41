//! `ctm daily`: one row per day in the report's zone.

use rusqlite::Connection;
use serde::Serialize;

use crate::days::period_rows;
use crate::query::ReportQuery;
pub use crate::usage::{ModelBreakdown, Totals, Usage};
use crate::AnalyticsError;

/// The daily report takes the shared options.
pub type DailyQuery = ReportQuery;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyRow {
    pub date: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
    pub models_used: Vec<String>,
    pub model_breakdowns: Vec<ModelBreakdown>,
    pub responses: u64,
    /// Responses whose model has no price; when non-zero `totalCost` is incomplete.
    pub unpriced_responses: u64,
}

impl DailyRow {
    pub fn new(date: String, u: Usage) -> DailyRow {
        DailyRow {
            date,
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_creation_tokens: u.cache_creation_tokens,
            cache_read_tokens: u.cache_read_tokens,
            total_tokens: u.total_tokens,
            total_cost: u.total_cost,
            models_used: u.models_used,
            model_breakdowns: u.model_breakdowns,
            responses: u.responses,
            unpriced_responses: u.unpriced_responses,
        }
    }
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
pub fn daily_report(conn: &Connection, q: &DailyQuery) -> Result<DailyReport, AnalyticsError> {
    let p = period_rows(conn, q, |d| d.to_string())?;
    Ok(DailyReport {
        daily: p
            .rows
            .into_iter()
            .map(|(date, u)| DailyRow::new(date, u))
            .collect(),
        totals: p.totals,
        timezone: q.zone.label(),
        unpriced_models: p.unpriced_models,
    })
}
