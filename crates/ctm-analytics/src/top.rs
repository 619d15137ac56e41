//! `ctm top`: the most expensive days (seed 004, query 6.4) and sessions.

use ctm_store::Store;
use serde::Serialize;

use crate::daily::DailyRow;
use crate::days::period_rows;
use crate::query::ReportQuery;
use crate::sessions::{costliest_sessions, SessionRow};
use crate::AnalyticsError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopReport {
    /// Most expensive first.
    pub days: Vec<DailyRow>,
    /// Most expensive first.
    pub sessions: Vec<SessionRow>,
    pub limit: usize,
    pub timezone: String,
}

pub fn top_report(
    store: &Store,
    q: &ReportQuery,
    limit: usize,
) -> Result<TopReport, AnalyticsError> {
    let mut days: Vec<DailyRow> = period_rows(store, q, |d| d.to_string())?
        .rows
        .into_iter()
        .map(|(date, usage)| DailyRow { date, usage })
        .collect();
    days.sort_by(|a, b| {
        b.usage
            .total_cost
            .total_cmp(&a.usage.total_cost)
            .then_with(|| a.date.cmp(&b.date))
    });
    days.truncate(limit);
    let sessions = costliest_sessions(store, q, limit)?;
    Ok(TopReport {
        days,
        sessions,
        limit,
        timezone: q.zone.label(),
    })
}
