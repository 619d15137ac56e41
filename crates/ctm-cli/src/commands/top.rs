//! `ctm top`: the most expensive days and sessions.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{top_report, TopReport};

use super::cells::{self, csv_usd};
use crate::cli::TopArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{int, num, text, words, Csv, Out, ReportTable};

pub fn run(ctx: &Context, args: &TopArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    let r = top_report(&store, &opts.query(), args.limit as usize)?;
    opts.warn_if_pruned(&store, false)?;
    super::render(&args.report, &r, print_csv, |r, out| {
        if r.days.is_empty() {
            out.line(super::nothing_to_show(ctx, &store, &opts)?)?;
            return Ok(());
        }
        print_table(r, out)
    })
}

/// Two tables ranked by cost: the rank, what is ranked and its cost always show.
fn print_table(r: &TopReport, out: &mut Out) -> Result<()> {
    let mut t = ReportTable::new(vec![
        num("#", 0),
        text("Date", 0),
        words("Models", 3),
        num("Responses", 2),
        num("Total Tokens", 1),
        num("Cost (USD)", 0),
    ]);
    let mut unpriced = 0;
    for (i, day) in r.days.iter().enumerate() {
        let d = &day.usage;
        unpriced += d.unpriced_responses;
        let cost = t.cost(d.total_cost, d.responses, d.unpriced_responses);
        t.row(vec![
            (i + 1).to_string(),
            day.date.clone(),
            cells::models(&d.models_used),
            int(d.responses),
            int(d.total_tokens),
            cost,
        ]);
    }
    t.note_unpriced(unpriced, &[]);
    out.line(format_args!("Most expensive days ({})", r.timezone))?;
    out.report(&t)?;
    let mut t = ReportTable::new(vec![
        num("#", 0),
        text("Session", 0),
        text("Project", 2),
        text("Last Activity", 4),
        num("Responses", 3),
        num("Total Tokens", 1),
        num("Cost (USD)", 0),
    ]);
    let mut unpriced = 0;
    for (i, s) in r.sessions.iter().enumerate() {
        unpriced += s.unpriced_responses;
        let cost = t.cost(s.total_cost, s.responses, s.unpriced_responses);
        t.row(vec![
            (i + 1).to_string(),
            cells::short_id(&s.session_id),
            cells::short_path(s.project_path.as_deref().unwrap_or("unknown")),
            cells::minute(&s.last_activity),
            int(s.responses),
            int(s.total_tokens),
            cost,
        ]);
    }
    t.note_unpriced(unpriced, &[]);
    out.line("Most expensive sessions")?;
    out.report(&t)?;
    Ok(())
}

/// One table: `kind` is `day` or `session`, `id` the date or the session id.
fn print_csv(r: &TopReport, w: &mut Csv) -> std::io::Result<()> {
    w.record([
        "kind",
        "rank",
        "id",
        "totalCost",
        "totalTokens",
        "responses",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
    ])?;
    for (i, day) in r.days.iter().enumerate() {
        let d = &day.usage;
        w.record([
            "day".to_owned(),
            (i + 1).to_string(),
            day.date.clone(),
            csv_usd(d.total_cost),
            d.total_tokens.to_string(),
            d.responses.to_string(),
            d.input_tokens.to_string(),
            d.output_tokens.to_string(),
            d.cache_creation_tokens.to_string(),
            d.cache_read_tokens.to_string(),
        ])?;
    }
    for (i, s) in r.sessions.iter().enumerate() {
        w.record([
            "session".to_owned(),
            (i + 1).to_string(),
            s.session_id.clone(),
            csv_usd(s.total_cost),
            s.total_tokens.to_string(),
            s.responses.to_string(),
            s.input_tokens.to_string(),
            s.output_tokens.to_string(),
            s.cache_creation_tokens.to_string(),
            s.cache_read_tokens.to_string(),
        ])?;
    }
    Ok(())
}
