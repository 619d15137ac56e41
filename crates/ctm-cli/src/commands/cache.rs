//! `ctm cache`: prompt caching per day.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::cache::CacheFigures;
use ctm_analytics::{cache_report, CacheReport};

use super::cells::{self, csv_usd};
use crate::cli::ReportArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{int, num, text, usd, Csv, Out, ReportTable, RowStyle};

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = cache_report(&store, &opts.query())?;
    opts.warn_if_pruned(&store, false)?;
    super::render(args, &r, print_csv, |r, out| {
        if r.days.is_empty() {
            out.line(super::nothing_to_show(ctx, &store, &opts)?)?;
            return Ok(());
        }
        print_table(r, out)
    })
}

/// Per day: the date, hit rate and money saved always show.
fn print_table(r: &CacheReport, out: &mut Out) -> Result<()> {
    let mut t = ReportTable::new(vec![
        text("Date", 0),
        num("Cache Write", 2),
        num("Cache Read", 1),
        num("Hit Rate", 0),
        num("Saved (USD)", 0),
        num("Cost (USD)", 3),
    ]);
    let line = |f: &CacheFigures| {
        vec![
            int(f.cache_creation_tokens),
            int(f.cache_read_tokens),
            cells::share(f.hit_rate),
            cells::signed_usd(f.cache_savings_usd),
            usd(f.total_cost, true),
        ]
    };
    for d in &r.days {
        let mut row = vec![d.date.clone()];
        row.extend(line(&d.figures));
        t.row(row);
    }
    let mut row = vec!["Total".to_owned()];
    row.extend(line(&r.totals));
    t.styled(RowStyle::Total, row);
    t.notes.push(format!(
        "Saved: what the cached tokens would have cost as plain input, minus what they cost ({}).",
        r.timezone
    ));
    out.report(&t)?;
    Ok(())
}

fn print_csv(r: &CacheReport, w: &mut Csv) -> std::io::Result<()> {
    w.record([
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
        w.record([
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
    Ok(())
}
