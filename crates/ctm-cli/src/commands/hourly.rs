//! `ctm hourly`: a weekday x hour heatmap of responses.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::hourly::WEEKDAYS;
use ctm_analytics::{hourly_report, HourlyReport};

use super::cells::{self, csv_usd};
use crate::cli::ReportArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, num, text, Csv, Out, ReportTable, RowStyle};

/// From this width an hour gets its own two columns; below, 3-hour buckets.
const HOUR_COLUMNS_FROM: u16 = 100;

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = hourly_report(&store, &opts.query())?;
    opts.warn_if_pruned(&store, false)?;
    super::render(args, &r, print_csv, |r, out| {
        if r.totals.responses == 0 {
            out.line(super::nothing_to_show(ctx, &store, &opts)?)?;
            return Ok(());
        }
        print_table(r, out, output::width() < HOUR_COLUMNS_FROM)
    })
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

fn print_table(r: &HourlyReport, out: &mut Out, narrow: bool) -> Result<()> {
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
    let mut t = ReportTable::new(vec![
        text("Day", 0),
        text(hour_ruler(per_column, width), 0),
        num("Responses", 0),
        num("Total Tokens", 2),
        num("Cost (USD)", 1),
    ]);
    for (d, day) in r.cells.chunks(24).enumerate() {
        let responses: u64 = day.iter().map(|c| c.responses).sum();
        let tokens: u64 = day.iter().map(|c| c.tokens).sum();
        let cost: f64 = day.iter().map(|c| c.cost).sum();
        // Per weekday the unpriced responses are not known; the total row marks them.
        t.row(vec![
            WEEKDAYS[d].to_owned(),
            strip(&days[d], max, width),
            int(responses),
            int(tokens),
            output::usd(cost, true),
        ]);
    }
    let by_hour: Vec<u64> = r.by_hour.iter().map(|h| h.responses).collect();
    let all = columns(&by_hour, per_column);
    let all_max = all.iter().copied().max().unwrap_or(0);
    let s = &r.totals;
    let cost = t.cost(s.total_cost, s.responses, s.unpriced_responses);
    t.styled(
        RowStyle::Total,
        vec![
            "All".to_owned(),
            strip(&all, all_max, width),
            int(s.responses),
            int(s.total_tokens),
            cost,
        ],
    );
    t.note_unpriced(s.unpriced_responses, &[]);
    out.line(format_args!(
        "Responses per {} and weekday ({}); █ = {} responses{}.",
        if narrow { "3 hours" } else { "hour" },
        r.timezone,
        int(max),
        if narrow { " in 3 hours" } else { " in an hour" },
    ))?;
    out.report(&t)?;
    if let Some(busiest) = r.cells.iter().max_by_key(|c| c.responses) {
        out.line(format_args!(
            "Busiest hour: {} {:02}:00 with {} responses.",
            busiest.weekday,
            busiest.hour,
            int(busiest.responses)
        ))?;
    }
    Ok(())
}

fn print_csv(r: &HourlyReport, w: &mut Csv) -> std::io::Result<()> {
    w.record(["weekday", "hour", "responses", "tokens", "cost"])?;
    for c in &r.cells {
        w.record([
            c.weekday.clone(),
            c.hour.to_string(),
            c.responses.to_string(),
            c.tokens.to_string(),
            csv_usd(c.cost),
        ])?;
    }
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
