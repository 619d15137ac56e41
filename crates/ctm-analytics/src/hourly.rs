//! `ctm hourly`: activity by local hour of day and weekday (seed 004, query 6.3).

use std::collections::BTreeMap;

use ctm_aggregate::{aggregate_hours, HourKey, Sums};
use ctm_store::Store;
use serde::Serialize;

use crate::query::{self, ReportQuery};
use crate::usage::Totals;
use crate::AnalyticsError;

pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// One weekday and hour. `tokens` counts all four kinds (input, output, cache write, read).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourCell {
    /// `Mon` .. `Sun`.
    pub weekday: String,
    /// 0 .. 23, local.
    pub hour: u8,
    pub responses: u64,
    pub tokens: u64,
    pub cost: f64,
}

/// One hour over all weekdays.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourTotal {
    pub hour: u8,
    pub responses: u64,
    pub tokens: u64,
    pub cost: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourlyReport {
    /// All 168 cells, Monday 0:00 to Sunday 23:00.
    pub cells: Vec<HourCell>,
    /// 24 entries, 0:00 to 23:00.
    pub by_hour: Vec<HourTotal>,
    pub totals: Totals,
    pub timezone: String,
}

/// Sums per local day and hour, from the rollup rows of the query (in any zone).
pub fn hourly_report(store: &Store, q: &ReportQuery) -> Result<HourlyReport, AnalyticsError> {
    let hours = aggregate_hours(&query::rows(store, q)?, &q.zone.tz);
    let grid = week_grid(&hours);
    let mut cells = Vec::with_capacity(7 * 24);
    let mut hour_sums = [Sums::default(); 24];
    for (day, hours) in grid.iter().enumerate() {
        for (hour, s) in hours.iter().enumerate() {
            cells.push(HourCell {
                weekday: WEEKDAYS[day].to_owned(),
                hour: hour as u8,
                responses: s.responses,
                tokens: s.total_tokens(),
                cost: s.cost_usd(),
            });
            hour_sums[hour].add(s);
        }
    }
    let by_hour: Vec<HourTotal> = hour_sums
        .iter()
        .enumerate()
        .map(|(hour, s)| HourTotal {
            hour: hour as u8,
            responses: s.responses,
            tokens: s.total_tokens(),
            cost: s.cost_usd(),
        })
        .collect();
    let mut all = Sums::default();
    for s in hours.values() {
        all.add(s);
    }
    Ok(HourlyReport {
        cells,
        by_hour,
        totals: Totals::from(&all),
        timezone: q.zone.label(),
    })
}

/// Sums per local weekday (Monday first) and hour, adding the days in order.
pub fn week_grid(hours: &BTreeMap<HourKey, Sums>) -> [[Sums; 24]; 7] {
    let mut grid: [[Sums; 24]; 7] = Default::default();
    for ((date, hour), s) in hours {
        let day = date.weekday().to_monday_zero_offset() as usize;
        grid[day][*hour as usize].add(s);
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Zone;
    use ctm_aggregate::{Fact, SlotRow};

    fn grid_of(facts: &[Fact], zone: &Zone) -> [[Sums; 24]; 7] {
        let rows: Vec<SlotRow> = facts.iter().map(SlotRow::of_fact).collect();
        week_grid(&aggregate_hours(&rows, &zone.tz))
    }

    fn at(ts: i64) -> Fact {
        Fact {
            id: ts,
            ts,
            session: 0,
            project: 0,
            model: 0,
            sums: Sums {
                responses: 1,
                output_tokens: 10,
                ..Sums::default()
            },
        }
    }

    #[test]
    fn cells_are_local_weekday_and_hour() {
        // 2026-11-01T05:30Z and 06:30Z: both 01:30 on Sunday in New York, before and
        // after the clocks go back; 14:30 and 15:30 on Sunday in Tokyo.
        let first = 1_793_511_000_000;
        let facts = [at(first), at(first + 3_600_000)];
        let ny = grid_of(&facts, &Zone::resolve(Some("America/New_York")).unwrap());
        assert_eq!(ny[6][1].responses, 2);
        assert_eq!(ny[6][1].output_tokens, 20);
        let tokyo = grid_of(&facts, &Zone::resolve(Some("Asia/Tokyo")).unwrap());
        assert_eq!((tokyo[6][14].responses, tokyo[6][15].responses), (1, 1));
        let utc = grid_of(&facts, &Zone::utc());
        assert_eq!((utc[6][5].responses, utc[6][6].responses), (1, 1));
        let all: u64 = utc.iter().flatten().map(|s| s.responses).sum();
        assert_eq!(all, 2);
    }
}
