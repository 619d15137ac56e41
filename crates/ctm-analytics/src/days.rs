//! Per-day, per-model sums in the report's zone, and rows grouped from them (a day, a
//! week, a month). From the store's daily tables when they can answer (kept in the
//! report's zone, nothing filtered), else from the rollup.

use std::collections::BTreeMap;

use ctm_aggregate::{aggregate_days, Sums};
use ctm_store::Store;
use jiff::civil::Date;

use crate::query::{self, ReportQuery};
use crate::usage::{unpriced_in_rows, Totals, Usage};
use crate::AnalyticsError;

/// Per-model sums of one local day.
pub type ModelDay = (Date, BTreeMap<String, Sums>);

/// The query's days that have usage, oldest first.
pub(crate) fn model_days(store: &Store, q: &ReportQuery) -> Result<Vec<ModelDay>, AnalyticsError> {
    model_days_from(store, q, q.reads_daily_tables(store)?)
}

/// The query's days that have usage, oldest first, as the facts give them: a report
/// made from responses reads the daily tables only where they hold the same (see
/// [`ReportQuery::daily_tables_equal_facts`]).
pub(crate) fn model_days_equal_to_facts(
    store: &Store,
    q: &ReportQuery,
) -> Result<Vec<ModelDay>, AnalyticsError> {
    model_days_from(store, q, q.daily_tables_equal_facts(store)?)
}

fn model_days_from(
    store: &Store,
    q: &ReportQuery,
    from_tables: bool,
) -> Result<Vec<ModelDay>, AnalyticsError> {
    if from_tables {
        q.bounds()?;
        return Ok(store
            .stored_days(q.since, q.until)?
            .into_iter()
            .map(|d| (d.date, d.models))
            .collect());
    }
    let rows = query::rows(store, q)?;
    let names = store.names(&[])?;
    Ok(aggregate_days(&rows, &q.zone.tz)
        .into_values()
        .map(|d| (d.date, names.by_model_label(&d.models)))
        .collect())
}

/// Each day's sums (with cache savings), oldest first: from the store's daily tables
/// when they hold exactly what the facts would give, else from the rollup. Both hold the
/// same integer sums, so the report built from them is the same.
pub(crate) fn day_sums(
    store: &Store,
    q: &ReportQuery,
) -> Result<Vec<(Date, Sums)>, AnalyticsError> {
    if q.daily_tables_equal_facts(store)? {
        q.bounds()?;
        return Ok(store
            .stored_days(q.since, q.until)?
            .into_iter()
            .map(|d| {
                let mut sums = Sums::default();
                for s in d.models.values() {
                    sums.add(s);
                }
                sums.savings_nanos = d.savings_nanos;
                (d.date, sums)
            })
            .collect());
    }
    let rows = query::rows(store, q)?;
    Ok(aggregate_days(&rows, &q.zone.tz)
        .into_values()
        .map(|d| (d.date, d.sums))
        .collect())
}

pub(crate) struct PeriodRows {
    pub rows: Vec<(String, Usage)>,
    pub totals: Totals,
    pub unpriced_models: Vec<String>,
}

/// The query's days grouped by `period` (whose keys sort in time order), in the
/// query's order.
pub(crate) fn period_rows(
    store: &Store,
    q: &ReportQuery,
    period: impl Fn(Date) -> String,
) -> Result<PeriodRows, AnalyticsError> {
    Ok(period_rows_of(model_days(store, q)?, q, period))
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
