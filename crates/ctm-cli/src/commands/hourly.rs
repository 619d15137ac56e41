//! `ctm hourly`: a weekday x hour heatmap of responses.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::Cell;
use ctm_analytics::hourly::WEEKDAYS;
use ctm_analytics::{hourly_report, HourlyReport};

use super::cells::{self, csv_usd, totals_row};
use crate::cli::ReportArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, total_cell, usd};

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = hourly_report(&store, &opts.query())?;
    opts.warn_if_pruned(&store, false)?;
    super::render(args, &r, print_csv, print_table)
}

/// Hours per column and characters per column: each hour twice wide, or 3-hour buckets.
fn layout(narrow: bool) -> (usize, usize) {
    if narrow {
        (3, 3)
    } else {
        (1, 2)
    }
}

/// Responses of one weekday (or of all, for `by_hour`) per column.
fn columns(per_hour: &[u64], hours_per_column: usize) -> Vec<u64> {
    per_hour
        .chunks(hours_per_column)
        .map(|c| c.iter().sum())
        .collect()
}

fn strip(values: &[u64], max: u64, width: usize) -> String {
    values
        .iter()
        .flat_map(|&v| std::iter::repeat_n(cells::shade(v, max), width))
        .collect()
}

/// "0     3     6 ..." with a label over every 3 hours.
fn hour_ruler(hours_per_column: usize, width: usize) -> String {
    let step = 3 / hours_per_column;
    (0..24 / hours_per_column)
        .step_by(step)
        .map(|c| format!("{:<w$}", c * hours_per_column, w = step * width))
        .collect()
}

fn print_table(r: &HourlyReport, narrow: bool) -> Result<()> {
    if r.totals.responses == 0 {
        println!("No usage in the store for this period ({}).", r.timezone);
        return Ok(());
    }
    let (per_column, width) = layout(narrow);
    let days: Vec<Vec<u64>> = r
        .cells
        .chunks(24)
        .map(|day| {
            let hours: Vec<u64> = day.iter().map(|c| c.responses).collect();
            columns(&hours, per_column)
        })
        .collect();
    let max = days.iter().flatten().copied().max().unwrap_or(0);
    let ruler = hour_ruler(per_column, width);
    let mut t = if narrow {
        output::table(&["Day", &ruler, "Responses", "Cost"], 2)
    } else {
        output::table(
            &["Day", &ruler, "Responses", "Total Tokens", "Cost (USD)"],
            2,
        )
    };
    for (d, day) in r.cells.chunks(24).enumerate() {
        let responses: u64 = day.iter().map(|c| c.responses).sum();
        let tokens: u64 = day.iter().map(|c| c.tokens).sum();
        let cost: f64 = day.iter().map(|c| c.cost).sum();
        let mut row = vec![
            Cell::new(WEEKDAYS[d]),
            Cell::new(strip(&days[d], max, width)),
            Cell::new(int(responses)),
        ];
        if !narrow {
            row.push(Cell::new(int(tokens)));
        }
        row.push(Cell::new(usd(cost, true)));
        t.add_row(row);
    }
    let by_hour: Vec<u64> = r.by_hour.iter().map(|h| h.responses).collect();
    let all = columns(&by_hour, per_column);
    let all_max = all.iter().copied().max().unwrap_or(0);
    let s = &r.totals;
    let mut row = vec![
        total_cell("All"),
        Cell::new(strip(&all, all_max, width)),
        Cell::new(int(s.responses)),
    ];
    if !narrow {
        row.push(Cell::new(int(s.total_tokens)));
    }
    row.push(Cell::new(usd(s.total_cost, s.unpriced_responses == 0)));
    t.add_row(totals_row(row));
    println!(
        "Responses per {} and weekday ({}); █ = {} responses{}.",
        if narrow { "3 hours" } else { "hour" },
        r.timezone,
        int(max),
        if narrow { " in 3 hours" } else { " in an hour" },
    );
    output::print_table(&t)?;
    if let Some(busiest) = r.cells.iter().max_by_key(|c| c.responses) {
        println!(
            "Busiest hour: {} {:02}:00 with {} responses.",
            busiest.weekday,
            busiest.hour,
            int(busiest.responses)
        );
    }
    Ok(())
}

fn print_csv(r: &HourlyReport) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record(["weekday", "hour", "responses", "tokens", "cost"])?;
    for c in &r.cells {
        w.write_record([
            c.weekday.clone(),
            c.hour.to_string(),
            c.responses.to_string(),
            c.tokens.to_string(),
            csv_usd(c.cost),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_tables_use_three_hour_buckets() {
        let mut hours = vec![0u64; 24];
        hours[0] = 1;
        hours[2] = 1;
        hours[23] = 4;
        assert_eq!(columns(&hours, 3), [2, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(columns(&hours, 1).len(), 24);
        assert_eq!(strip(&[2, 0, 4], 4, 3), "▒▒▒   ███");
        assert_eq!(hour_ruler(3, 3), "0  3  6  9  12 15 18 21 ");
        assert_eq!(hour_ruler(1, 2).len(), 48);
        assert!(hour_ruler(1, 2).starts_with("0     3     6"));
    }
}
