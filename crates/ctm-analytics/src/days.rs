//! Per-day, per-model sums in the report's zone, and rows grouped from them (a day, a
//! week, a month). From the store's daily tables when they can answer (kept in the
//! report's zone, nothing filtered), else from the facts.

use std::collections::BTreeMap;

use ctm_store::derive::{self, Sums};
use jiff::civil::Date;
use rusqlite::Connection;

use crate::query::{self, ReportQuery};
use crate::usage::{unpriced_in_rows, Totals, Usage};
use crate::AnalyticsError;

/// Per-model sums of one local day.
pub type ModelDay = (Date, BTreeMap<String, Sums>);

/// The query's days that have usage, oldest first.
pub(crate) fn model_days(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<Vec<ModelDay>, AnalyticsError> {
    model_days_from(conn, q, q.reads_daily_tables(conn)?)
}

/// The query's days that have usage, oldest first, as the facts give them: a report
/// made from responses reads the daily tables only where they hold the same (see
/// [`ReportQuery::daily_tables_equal_facts`]).
pub(crate) fn model_days_equal_to_facts(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<Vec<ModelDay>, AnalyticsError> {
    model_days_from(conn, q, q.daily_tables_equal_facts(conn)?)
}

fn model_days_from(
    conn: &Connection,
    q: &ReportQuery,
    from_tables: bool,
) -> Result<Vec<ModelDay>, AnalyticsError> {
    if from_tables {
        q.bounds()?;
        return from_daily_aggregates(conn, q);
    }
    let facts = query::facts(conn, q)?;
    Ok(derive::aggregate_days(&facts, &q.zone.tz)
        .into_values()
        .map(|d| (d.date, d.models))
        .collect())
}

/// Rows keyed by a day's period, their totals, and the models they could not price.
/// Each day's sums (with cache savings), oldest first: from the store's daily tables
/// when they hold exactly what the facts would give, else from the facts. Both hold the
/// same per-day sums (a day's stored cost is the facts' sum in row order), so the
/// report built from them is the same.
pub(crate) fn day_sums(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<Vec<(Date, Sums)>, AnalyticsError> {
    if q.daily_tables_equal_facts(conn)? {
        q.bounds()?;
        return stored_day_sums(conn, q);
    }
    let facts = query::facts(conn, q)?;
    Ok(derive::aggregate_days(&facts, &q.zone.tz)
        .into_values()
        .map(|d| (d.date, d.sums))
        .collect())
}

fn stored_day_sums(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<Vec<(Date, Sums)>, AnalyticsError> {
    let (since, until) = date_range(q);
    let mut stmt = conn.prepare_cached(
        "SELECT a.date, a.model_breakdown, a.total_cost_usd, c.cache_savings_usd \
         FROM daily_aggregates a LEFT JOIN cache_analytics c ON c.date = a.date \
         WHERE a.date >= ?1 AND a.date <= ?2 ORDER BY a.date",
    )?;
    let mut rows = stmt.query([since, until])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (date, models) = stored_model_day(r)?;
        let Some(savings) = r.get::<_, Option<f64>>(3)? else {
            return Err(AnalyticsError::Invalid(format!(
                "cache_analytics has no row for {date}; `ctm db check` lists what differs"
            )));
        };
        let mut sums = Sums::default();
        for s in models.values() {
            sums.add(s);
        }
        // The day's own sums in row order, not the sum of its models' sums.
        sums.cost_usd = r.get(2)?;
        sums.cache_savings_usd = savings;
        out.push((date, sums));
    }
    Ok(out)
}

/// `--since`/`--until` as the daily tables' date keys.
fn date_range(q: &ReportQuery) -> (String, String) {
    let since = q
        .since
        .map_or_else(|| "0000-00-00".to_owned(), |d| d.to_string());
    let until = q
        .until
        .map_or_else(|| "9999-99-99".to_owned(), |d| d.to_string());
    (since, until)
}

/// A `daily_aggregates` row's date and model breakdown (columns 0 and 1).
fn stored_model_day(r: &rusqlite::Row) -> Result<ModelDay, AnalyticsError> {
    let date: String = r.get(0)?;
    let json: Option<String> = r.get(1)?;
    let date: Date = date
        .parse()
        .map_err(|e| AnalyticsError::Invalid(format!("daily_aggregates date {date:?}: {e}")))?;
    let breakdown = derive::parse_breakdown(json.as_deref().unwrap_or("{}"))
        .map_err(|e| AnalyticsError::Invalid(format!("daily_aggregates {date} {e}")))?;
    Ok((date, breakdown))
}

pub(crate) struct PeriodRows {
    pub rows: Vec<(String, Usage)>,
    pub totals: Totals,
    pub unpriced_models: Vec<String>,
}

/// The query's days grouped by `period` (whose keys sort in time order), in the
/// query's order.
pub(crate) fn period_rows(
    conn: &Connection,
    q: &ReportQuery,
    period: impl Fn(Date) -> String,
) -> Result<PeriodRows, AnalyticsError> {
    Ok(period_rows_of(model_days(conn, q)?, q, period))
}

/// [`period_rows`] of days read elsewhere (the team database's).
pub(crate) fn period_rows_of(
    days: Vec<ModelDay>,
    q: &ReportQuery,
    period: impl Fn(Date) -> String,
) -> PeriodRows {
    let rows = group(days, period);
    let mut rows: Vec<(String, Usage)> = rows
        .iter()
        .map(|(key, models)| (key.clone(), Usage::from_models(models)))
        .collect();
    q.arrange(&mut rows);
    let mut totals = Totals::default();
    for (_, u) in &rows {
        totals.add(u);
    }
    let unpriced_models = unpriced_in_rows(rows.iter().map(|(_, u)| u));
    PeriodRows {
        rows,
        totals,
        unpriced_models,
    }
}

/// Merges days into periods, model by model.
fn group(
    days: Vec<ModelDay>,
    period: impl Fn(Date) -> String,
) -> BTreeMap<String, BTreeMap<String, Sums>> {
    let mut out: BTreeMap<String, BTreeMap<String, Sums>> = BTreeMap::new();
    for (date, models) in days {
        let row = out.entry(period(date)).or_default();
        for (model, sums) in models {
            row.entry(model).or_default().add(&sums);
        }
    }
    out
}

/// Reads the materialised days back into per-model sums.
fn from_daily_aggregates(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<Vec<ModelDay>, AnalyticsError> {
    let (since, until) = date_range(q);
    let mut stmt = conn.prepare_cached(
        "SELECT date, model_breakdown FROM daily_aggregates WHERE date >= ?1 AND date <= ?2 ORDER BY date",
    )?;
    let mut rows = stmt.query([since, until])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(stored_model_day(r)?);
    }
    Ok(out)
}
