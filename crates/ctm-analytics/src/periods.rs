//! `ctm weekly` and `ctm monthly`: daily's rows grouped into weeks and months of the
//! report's zone.

use ctm_store::Store;
use jiff::civil::{Date, Weekday};
use jiff::ToSpan;
use serde::Serialize;

use crate::days::{model_days, period_rows_of, ModelDay};
use crate::query::ReportQuery;
use crate::usage::{Totals, Usage};
use crate::AnalyticsError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyRow {
    /// The week's first day, `YYYY-MM-DD`.
    pub week: String,
    #[serde(flatten)]
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyReport {
    pub weekly: Vec<WeeklyRow>,
    pub totals: Totals,
    pub timezone: String,
    /// `monday`, `sunday`, ...
    pub start_of_week: String,
    pub unpriced_models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyRow {
    /// `YYYY-MM`.
    pub month: String,
    #[serde(flatten)]
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyReport {
    pub monthly: Vec<MonthlyRow>,
    pub totals: Totals,
    pub timezone: String,
    pub unpriced_models: Vec<String>,
}

/// The first day of the week holding `d`, weeks starting on `first`.
pub fn week_start(d: Date, first: Weekday) -> Date {
    let back = (d.weekday().to_monday_zero_offset() - first.to_monday_zero_offset()).rem_euclid(7);
    d.saturating_sub(i64::from(back).days())
}

/// `YYYY-MM` of a day.
pub fn month_of(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

pub fn weekly_report(
    store: &Store,
    q: &ReportQuery,
    first: Weekday,
) -> Result<WeeklyReport, AnalyticsError> {
    Ok(weekly_report_of(model_days(store, q)?, q, first))
}

/// The weekly report of per-model days read elsewhere (the team database's).
pub fn weekly_report_of(days: Vec<ModelDay>, q: &ReportQuery, first: Weekday) -> WeeklyReport {
    let p = period_rows_of(days, q, |d| week_start(d, first).to_string());
    WeeklyReport {
        weekly: p
            .rows
            .into_iter()
            .map(|(week, usage)| WeeklyRow { week, usage })
            .collect(),
        totals: p.totals,
        timezone: q.zone.label(),
        start_of_week: format!("{first:?}").to_lowercase(),
        unpriced_models: p.unpriced_models,
    }
}

pub fn monthly_report(store: &Store, q: &ReportQuery) -> Result<MonthlyReport, AnalyticsError> {
    Ok(monthly_report_of(model_days(store, q)?, q))
}

/// The monthly report of per-model days read elsewhere (the team database's).
pub fn monthly_report_of(days: Vec<ModelDay>, q: &ReportQuery) -> MonthlyReport {
    let p = period_rows_of(days, q, month_of);
    MonthlyReport {
        monthly: p
            .rows
            .into_iter()
            .map(|(month, usage)| MonthlyRow { month, usage })
            .collect(),
        totals: p.totals,
        timezone: q.zone.label(),
        unpriced_models: p.unpriced_models,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_the_chosen_day() {
        // 2026-03-07 is a Saturday, 2026-03-08 a Sunday.
        let sat = Date::constant(2026, 3, 7);
        let sun = Date::constant(2026, 3, 8);
        assert_eq!(week_start(sat, Weekday::Monday), Date::constant(2026, 3, 2));
        assert_eq!(week_start(sun, Weekday::Monday), Date::constant(2026, 3, 2));
        assert_eq!(week_start(sat, Weekday::Sunday), Date::constant(2026, 3, 1));
        assert_eq!(week_start(sun, Weekday::Sunday), sun);
        assert_eq!(week_start(sun, Weekday::Saturday), sat);
        // A week may start in the previous month and year.
        assert_eq!(
            week_start(Date::constant(2026, 1, 1), Weekday::Monday),
            Date::constant(2025, 12, 29)
        );
    }

    #[test]
    fn months_are_year_and_month() {
        assert_eq!(month_of(Date::constant(2026, 3, 31)), "2026-03");
        assert_eq!(month_of(Date::constant(2026, 11, 1)), "2026-11");
    }
}
