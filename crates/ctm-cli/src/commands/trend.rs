//! `ctm trend`: the last days, with a sparkline of their cost.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{trend_report, TrendReport};

use super::cells::{self, csv_usd};
use crate::cli::TrendArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{int, num, text, usd, Csv, Out, ReportTable, RowStyle};

pub fn run(ctx: &Context, args: &TrendArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    let r = trend_report(&store, &opts.query(), args.days, opts.today())?;
    opts.warn_if_pruned(&store, true)?;
    super::render(&args.report, &r, print_csv, |r, out| {
        let last = ctm_analytics::query::last_response_ms(&store)?;
        if last.is_some() {
            print_table(r, out)?;
        }
        if r.totals.responses == 0 {
            // Days without usage are rows too: say when there last was some.
            let why = match last {
                Some(ms) => {
                    let last = opts.zone.zoned(ms);
                    format!(
                        "No usage in these {} days{}; the last usage in the store was on {} at {}.",
                        r.days.len(),
                        opts.filter.describe(),
                        last.date(),
                        last.strftime("%H:%M")
                    )
                }
                None => super::nothing_to_show(ctx, &store, &opts)?,
            };
            out.line(why)?;
        }
        Ok(())
    })
}

/// The days oldest or newest first: the date, the cost and its sparkline always show.
fn print_table(r: &TrendReport, out: &mut Out) -> Result<()> {
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
    let mut t = ReportTable::new(vec![
        text("Date", 0),
        num("Responses", 2),
        num("Total Tokens", 1),
        num("Cost (USD)", 0),
        num("Cache Hit", 3),
        text("Cost Trend", 0),
    ]);
    for d in &r.days {
        t.row(vec![
            d.date.clone(),
            int(d.responses),
            int(d.total_tokens),
            usd(d.total_cost, true),
            cells::share(d.cache_hit_rate),
            spark_of
                .get(d.date.as_str())
                .copied()
                .unwrap_or(' ')
                .to_string(),
        ]);
    }
    let s = &r.totals;
    let cost = t.cost(s.total_cost, s.responses, s.unpriced_responses);
    t.styled(
        RowStyle::Total,
        vec![
            format!("{} days", r.days.len()),
            int(s.responses),
            int(s.total_tokens),
            cost,
            cells::share(r.cache_hit_rate),
            spark.clone(),
        ],
    );
    t.note_unpriced(s.unpriced_responses, &[]);
    out.line(format_args!("{} to {} ({})", r.from, r.to, r.timezone))?;
    out.report(&t)?;
    Ok(())
}

fn print_csv(r: &TrendReport, w: &mut Csv) -> std::io::Result<()> {
    w.record([
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
        w.record([
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
    Ok(())
}
