//! `ctm trend`: the last N days, days without usage included (seed 004, query 6.1).

use std::collections::BTreeMap;

use ctm_store::Store;
use jiff::civil::Date;
use jiff::ToSpan;
use serde::Serialize;

use crate::days::period_rows;
use crate::query::ReportQuery;
use crate::usage::{Totals, Usage};
use crate::AnalyticsError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendRow {
    pub date: String,
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
    /// cache read / (cache write + cache read); 0 on a day without caching.
    pub cache_hit_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendReport {
    /// Every day from `from` to `to`.
    pub days: Vec<TrendRow>,
    pub from: String,
    pub to: String,
    pub totals: Totals,
    pub cache_hit_rate: f64,
    pub timezone: String,
}

/// The `days` days ending on `--until`, else on `today`; `--since` moves the start.
pub fn trend_report(
    store: &Store,
    q: &ReportQuery,
    days: u32,
    today: Date,
) -> Result<TrendReport, AnalyticsError> {
    if days == 0 {
        return Err(AnalyticsError::Invalid("--days must be at least 1".into()));
    }
    let to = q.until.unwrap_or(today);
    let from = q
        .since
        .unwrap_or_else(|| to.saturating_sub(i64::from(days - 1).days()));
    let window = ReportQuery {
        since: Some(from),
        until: Some(to),
        order: crate::Order::Asc,
        ..q.clone()
    };
    let p = period_rows(store, &window, |d| d.to_string())?;
    let mut with_usage: BTreeMap<String, Usage> = p.rows.into_iter().collect();
    let mut rows = Vec::new();
    let mut day = from;
    while day <= to {
        let key = day.to_string();
        let usage = with_usage.remove(&key).unwrap_or_default();
        rows.push(trend_row(key, &usage));
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    q.arrange(&mut rows);
    Ok(TrendReport {
        days: rows,
        from: from.to_string(),
        to: to.to_string(),
        cache_hit_rate: p.totals.hit_rate(),
        totals: p.totals,
        timezone: q.zone.label(),
    })
}

fn trend_row(date: String, u: &Usage) -> TrendRow {
    TrendRow {
        date,
        responses: u.responses,
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_creation_tokens: u.cache_creation_tokens,
        cache_read_tokens: u.cache_read_tokens,
        total_tokens: u.total_tokens,
        total_cost: u.total_cost,
        cache_hit_rate: u.hit_rate(),
    }
}
