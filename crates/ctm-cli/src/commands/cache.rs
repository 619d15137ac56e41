//! `ctm cache`: prompt caching per day.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::Cell;
use ctm_analytics::cache::CacheFigures;
use ctm_analytics::{cache_report, CacheReport};

use super::cells::{self, csv_usd, totals_row};
use crate::cli::ReportArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, short, total_cell, usd};

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = cache_report(&store, &opts.query())?;
    opts.warn_if_pruned(&store, false)?;
    super::render(args, &r, print_csv, print_table)
}

fn print_table(r: &CacheReport, narrow: bool) -> Result<()> {
    if r.days.is_empty() {
        println!("No usage in the store for this period ({}).", r.timezone);
        return Ok(());
    }
    let fmt: fn(u64) -> String = if narrow { short } else { int };
    let mut t = output::table(
        &[
            "Date",
            "Cache Write",
            "Cache Read",
            "Hit Rate",
            "Saved (USD)",
            "Cost (USD)",
        ],
        1,
    );
    let line = |label: Cell, f: &CacheFigures| {
        vec![
            label,
            Cell::new(fmt(f.cache_creation_tokens)),
            Cell::new(fmt(f.cache_read_tokens)),
            Cell::new(cells::share(f.hit_rate)),
            Cell::new(cells::signed_usd(f.cache_savings_usd)),
            Cell::new(usd(f.total_cost, true)),
        ]
    };
    for d in &r.days {
        t.add_row(line(Cell::new(&d.date), &d.figures));
    }
    t.add_row(totals_row(line(total_cell("Total"), &r.totals)));
    output::print_table(&t)?;
    println!(
        "Saved: what the cached tokens would have cost as plain input, minus what they cost ({}).",
        r.timezone
    );
    Ok(())
}

fn print_csv(r: &CacheReport) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
        "date",
        "responses",
        "inputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "hitRate",
        "cacheSavingsUsd",
        "totalCost",
    ])?;
    for d in &r.days {
        let f = &d.figures;
        w.write_record([
            d.date.clone(),
            f.responses.to_string(),
            f.input_tokens.to_string(),
            f.cache_creation_tokens.to_string(),
            f.cache_read_tokens.to_string(),
            format!("{:.6}", f.hit_rate),
            csv_usd(f.cache_savings_usd),
            csv_usd(f.total_cost),
        ])?;
    }
    w.flush()?;
    Ok(())
}
