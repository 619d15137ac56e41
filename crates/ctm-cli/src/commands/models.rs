//! `ctm models`: each model's share of tokens and cost.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{model_report, ModelReport};

use super::cells::{self, csv_usd};
use crate::cli::ReportArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{int, num, text, Csv, Out, ReportTable, RowStyle};

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = model_report(&store, &opts.query())?;
    opts.warn_if_pruned(&store, false)?;
    super::render(args, &r, print_csv, |r, out| {
        if r.models.is_empty() {
            out.line(super::nothing_to_show(ctx, &store, &opts)?)?;
            return Ok(());
        }
        print_table(r, out)
    })
}

/// Models, most expensive first: the model and its cost always show.
pub(super) fn print_table(r: &ModelReport, out: &mut Out) -> Result<()> {
    let mut t = ReportTable::new(vec![
        text("Model", 0),
        num("Responses", 4),
        num("Total Tokens", 2),
        num("Tokens %", 3),
        num("Cost (USD)", 0),
        num("Cost %", 1),
        num("Cache Hit", 5),
    ]);
    for m in &r.models {
        let unpriced = if m.priced { 0 } else { m.responses };
        let cost = t.cost(m.total_cost, m.responses, unpriced);
        t.row(vec![
            cells::short_model(&m.model),
            int(m.responses),
            int(m.total_tokens),
            cells::share(m.token_share),
            cost,
            if m.priced {
                cells::share(m.cost_share)
            } else {
                "-".to_owned()
            },
            cells::share(m.cache_hit_rate),
        ]);
    }
    let s = &r.totals;
    let cost = t.cost(s.total_cost, s.responses, s.unpriced_responses);
    t.styled(
        RowStyle::Total,
        vec![
            "Total".to_owned(),
            int(s.responses),
            int(s.total_tokens),
            cells::share(1.0),
            cost,
            cells::share(if s.total_cost > 0.0 { 1.0 } else { 0.0 }),
            cells::share(s.hit_rate()),
        ],
    );
    let unpriced: Vec<String> = r
        .models
        .iter()
        .filter(|m| !m.priced)
        .map(|m| m.model.clone())
        .collect();
    t.note_unpriced(s.unpriced_responses, &unpriced);
    out.report(&t)?;
    Ok(())
}

pub(super) fn print_csv(r: &ModelReport, w: &mut Csv) -> std::io::Result<()> {
    w.record([
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
        w.record([
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
    Ok(())
}
