//! `ctm models`: each model's share of tokens and cost.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::Cell;
use ctm_analytics::{model_report, ModelReport};

use super::cells::{self, csv_usd, totals_row};
use crate::cli::ReportArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, short, total_cell, usd};

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = model_report(store.conn(), &opts.query())?;
    opts.warn_if_pruned(&store, false)?;
    super::render(args, &r, print_csv, print_table)
}

pub(super) fn print_table(r: &ModelReport, narrow: bool) -> Result<()> {
    if r.models.is_empty() {
        println!("No usage in the store for this period ({}).", r.timezone);
        return Ok(());
    }
    let fmt: fn(u64) -> String = if narrow { short } else { int };
    let mut t = if narrow {
        output::table(
            &[
                "Model", "Resp.", "Tokens", "Tok. %", "Cost", "Cost %", "Hit",
            ],
            1,
        )
    } else {
        output::table(
            &[
                "Model",
                "Responses",
                "Total Tokens",
                "Tokens %",
                "Cost (USD)",
                "Cost %",
                "Cache Hit",
            ],
            1,
        )
    };
    for m in &r.models {
        t.add_row(vec![
            Cell::new(cells::short_model(&m.model)),
            Cell::new(int(m.responses)),
            Cell::new(fmt(m.total_tokens)),
            Cell::new(cells::share(m.token_share)),
            Cell::new(usd(m.total_cost, m.priced)),
            Cell::new(cells::share(m.cost_share)),
            Cell::new(cells::share(m.cache_hit_rate)),
        ]);
    }
    let s = &r.totals;
    t.add_row(totals_row(vec![
        total_cell("Total"),
        Cell::new(int(s.responses)),
        Cell::new(fmt(s.total_tokens)),
        Cell::new(cells::share(1.0)),
        Cell::new(usd(s.total_cost, s.unpriced_responses == 0)),
        Cell::new(cells::share(if s.total_cost > 0.0 { 1.0 } else { 0.0 })),
        Cell::new(cells::share(s.hit_rate())),
    ]));
    output::print_table(&t)?;
    Ok(())
}

pub(super) fn print_csv(r: &ModelReport) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
        "model",
        "responses",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "tokenShare",
        "totalCost",
        "costShare",
        "cacheHitRate",
        "priced",
    ])?;
    for m in &r.models {
        w.write_record([
            m.model.clone(),
            m.responses.to_string(),
            m.input_tokens.to_string(),
            m.output_tokens.to_string(),
            m.cache_creation_tokens.to_string(),
            m.cache_read_tokens.to_string(),
            m.total_tokens.to_string(),
            format!("{:.6}", m.token_share),
            csv_usd(m.total_cost),
            format!("{:.6}", m.cost_share),
            format!("{:.6}", m.cache_hit_rate),
            m.priced.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
