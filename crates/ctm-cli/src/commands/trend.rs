//! `ctm trend`: the last days, with a sparkline of their cost.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use comfy_table::Cell;
use ctm_analytics::{trend_report, TrendReport};

use super::cells::{self, csv_usd, totals_row};
use crate::cli::TrendArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, short, total_cell, usd, Format, NARROW};

pub fn run(ctx: &Context, args: &TrendArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    let r = trend_report(&store, &opts.query(), args.days, opts.today())?;
    opts.warn_if_pruned(&store, true)?;
    match Format::of(args.report.json, args.report.csv) {
        Format::Json => output::print_json(&r)?,
        Format::Csv => print_csv(&r)?,
        Format::Table => print_table(&r, output::width() < NARROW)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(r: &TrendReport, narrow: bool) -> Result<()> {
    let fmt: fn(u64) -> String = if narrow { short } else { int };
    // The sparkline reads oldest to newest whatever the row order.
    let mut oldest_first: Vec<(&str, f64)> = r
        .days
        .iter()
        .map(|d| (d.date.as_str(), d.total_cost))
        .collect();
    oldest_first.sort_by(|a, b| a.0.cmp(b.0));
    let costs: Vec<f64> = oldest_first.iter().map(|d| d.1).collect();
    let spark = cells::sparkline(&costs);
    let spark_of: BTreeMap<&str, char> = oldest_first
        .iter()
        .map(|d| d.0)
        .zip(spark.chars())
        .collect();
    let mut t = output::table(
        &[
            "Date",
            "Responses",
            "Total Tokens",
            "Cost (USD)",
            "Cache Hit",
            "Cost Trend",
        ],
        1,
    );
    if let Some(c) = t.column_mut(5) {
        c.set_cell_alignment(comfy_table::CellAlignment::Left);
    }
    for d in &r.days {
        t.add_row(vec![
            Cell::new(&d.date),
            Cell::new(int(d.responses)),
            Cell::new(fmt(d.total_tokens)),
            Cell::new(usd(d.total_cost, true)),
            Cell::new(cells::share(d.cache_hit_rate)),
            Cell::new(spark_of.get(d.date.as_str()).copied().unwrap_or(' ')),
        ]);
    }
    let s = &r.totals;
    t.add_row(totals_row(vec![
        total_cell(format!("{} days", r.days.len())),
        Cell::new(int(s.responses)),
        Cell::new(fmt(s.total_tokens)),
        Cell::new(usd(s.total_cost, s.unpriced_responses == 0)),
        Cell::new(cells::share(r.cache_hit_rate)),
        Cell::new(&spark),
    ]));
    println!("{} to {} ({})", r.from, r.to, r.timezone);
    output::print_table(&t)?;
    Ok(())
}

fn print_csv(r: &TrendReport) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
        "date",
        "responses",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
        "cacheHitRate",
    ])?;
    for d in &r.days {
        w.write_record([
            d.date.clone(),
            d.responses.to_string(),
            d.input_tokens.to_string(),
            d.output_tokens.to_string(),
            d.cache_creation_tokens.to_string(),
            d.cache_read_tokens.to_string(),
            d.total_tokens.to_string(),
            csv_usd(d.total_cost),
            format!("{:.6}", d.cache_hit_rate),
        ])?;
    }
    w.flush()?;
    Ok(())
}
