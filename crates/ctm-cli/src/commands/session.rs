//! `ctm session`: usage per session, or one session response by response.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{session_detail, session_report, SessionDetail, SessionReport, SessionRow};

use super::cells::{self, csv_usd};
use crate::cli::SessionArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{int, num, text, usd, Csv, Out, ReportTable, RowStyle};

pub fn run(ctx: &Context, args: &SessionArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    opts.warn_if_pruned(&store, false)?;
    match &args.id {
        None => {
            let r = session_report(&store, &opts.query())?;
            super::render_listing(
                &args.report,
                r,
                |r| &mut r.sessions,
                print_list_csv,
                |r, out| {
                    if r.sessions.is_empty() {
                        out.line(super::nothing_to_show(ctx, &store, &opts)?)?;
                        return Ok(());
                    }
                    print_list(r, out)
                },
            )
        }
        Some(id) => {
            let d = session_detail(&store, &opts.query(), id)?;
            super::render(&args.report, &d, print_detail_csv, print_detail)
        }
    }
}

/// The session, when it was last active (the order) and its cost always show.
fn print_list(r: &SessionReport, out: &mut Out) -> Result<()> {
    let mut t = ReportTable::new(vec![
        text("Session", 0),
        text("Project", 2),
        text("Last Activity", 0),
        text("Duration", 5),
        text("Main Model", 4),
        num("Responses", 3),
        num("Total Tokens", 1),
        num("Cost (USD)", 0),
        num("Eff.", 6),
    ]);
    for s in &r.sessions {
        let cost = t.cost(s.total_cost, s.responses, s.unpriced_responses);
        t.row(vec![
            cells::short_id(&s.session_id),
            cells::folder(s.project_path.as_deref()),
            cells::minute(&s.last_activity),
            cells::duration(s.duration_minutes),
            s.main_model
                .as_deref()
                .map_or_else(String::new, cells::short_model),
            int(s.responses),
            int(s.total_tokens),
            cost,
            format!("{:.0}%", s.efficiency_score * 100.0),
        ]);
    }
    let s = &r.totals;
    let cost = t.cost(s.total_cost, s.responses, s.unpriced_responses);
    t.styled(
        RowStyle::Total,
        vec![
            format!("Total ({})", r.sessions.len()),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            int(s.responses),
            int(s.total_tokens),
            cost,
            String::new(),
        ],
    );
    t.note_unpriced(s.unpriced_responses, &r.unpriced_models);
    out.report(&t)?;
    Ok(())
}

fn print_detail(d: &SessionDetail, out: &mut Out) -> Result<()> {
    let s = &d.session;
    out.line(format_args!("Session {}", s.session_id))?;
    out.line(format_args!(
        "  project {}, {} to {} ({}, {})",
        s.project_path.as_deref().unwrap_or("unknown"),
        cells::minute(&s.first_activity),
        cells::minute(&s.last_activity),
        cells::duration(s.duration_minutes),
        d.timezone
    ))?;
    let mut t = ReportTable::new(vec![
        text("Time", 0),
        text("Model", 1),
        num("Input", 3),
        num("Output", 2),
        num("Cache Write", 5),
        num("Cache Read", 4),
        num("Cost (USD)", 0),
        num("Cumulative", 2),
    ]);
    let total = t.cost(s.total_cost, s.responses, s.unpriced_responses);
    out.line(format_args!(
        "  {} responses, {} tokens, {total}; main model {}; cache efficiency {}",
        int(s.responses),
        int(s.total_tokens),
        s.main_model
            .as_deref()
            .map_or_else(|| "unknown".to_owned(), cells::short_model),
        cells::share(s.efficiency_score)
    ))?;
    for r in &d.responses {
        let cost = t.cost(r.cost, 1, u64::from(!r.priced));
        t.row(vec![
            cells::second(&r.timestamp),
            cells::short_model(&r.model),
            int(r.input_tokens),
            int(r.output_tokens),
            int(r.cache_creation_tokens),
            int(r.cache_read_tokens),
            cost,
            usd(r.cumulative_cost, true),
        ]);
    }
    t.note_unpriced(s.unpriced_responses, &[]);
    out.report(&t)?;
    Ok(())
}

pub(super) const ROW_HEADER: [&str; 16] = [
    "sessionId",
    "projectPath",
    "firstActivity",
    "lastActivity",
    "durationMinutes",
    "responses",
    "inputTokens",
    "outputTokens",
    "cacheCreationTokens",
    "cacheReadTokens",
    "totalTokens",
    "totalCost",
    "modelsUsed",
    "mainModel",
    "efficiencyScore",
    "unpricedResponses",
];

pub(super) fn row_record(s: &SessionRow) -> [String; 16] {
    [
        s.session_id.clone(),
        s.project_path.clone().unwrap_or_default(),
        s.first_activity.clone(),
        s.last_activity.clone(),
        format!("{:.3}", s.duration_minutes),
        s.responses.to_string(),
        s.input_tokens.to_string(),
        s.output_tokens.to_string(),
        s.cache_creation_tokens.to_string(),
        s.cache_read_tokens.to_string(),
        s.total_tokens.to_string(),
        csv_usd(s.total_cost),
        s.models_used.join(" "),
        s.main_model.clone().unwrap_or_default(),
        format!("{:.6}", s.efficiency_score),
        s.unpriced_responses.to_string(),
    ]
}

fn print_list_csv(r: &SessionReport, w: &mut Csv) -> std::io::Result<()> {
    w.record(ROW_HEADER)?;
    for s in &r.sessions {
        w.record(row_record(s))?;
    }
    Ok(())
}

fn print_detail_csv(d: &SessionDetail, w: &mut Csv) -> std::io::Result<()> {
    w.record([
        "timestamp",
        "model",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "cost",
        "cumulativeCost",
        "priced",
    ])?;
    for r in &d.responses {
        w.record([
            r.timestamp.clone(),
            r.model.clone(),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
            r.cache_creation_tokens.to_string(),
            r.cache_read_tokens.to_string(),
            r.total_tokens.to_string(),
            csv_usd(r.cost),
            csv_usd(r.cumulative_cost),
            r.priced.to_string(),
        ])?;
    }
    Ok(())
}
