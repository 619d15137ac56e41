//! `ctm project`: usage per project path.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{project_report, ProjectReport};

use super::cells::{self, csv_usd};
use crate::cli::ReportArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{int, num, text, Csv, Out, ReportTable, RowStyle};

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = project_report(&store, &opts.query())?;
    opts.warn_if_pruned(&store, false)?;
    super::render(args, &r, print_csv, |r, out| {
        if r.projects.is_empty() {
            out.line(super::nothing_to_show(ctx, &store, &opts)?)?;
            return Ok(());
        }
        print_table(r, out)
    })
}

/// Projects in order of last activity: the project, that time and its cost always show.
pub(super) fn print_table(r: &ProjectReport, out: &mut Out) -> Result<()> {
    let mut t = ReportTable::new(vec![
        text("Project", 0),
        text("Last Activity", 0),
        num("Sessions", 3),
        num("Responses", 2),
        num("Total Tokens", 1),
        num("Cost (USD)", 0),
    ]);
    for p in &r.projects {
        let cost = t.cost(p.total_cost, p.responses, p.unpriced_responses);
        t.row(vec![
            cells::short_path(&p.project_path),
            cells::minute(&p.last_activity),
            int(p.sessions),
            int(p.responses),
            int(p.total_tokens),
            cost,
        ]);
    }
    let s = &r.totals;
    let cost = t.cost(s.total_cost, s.responses, s.unpriced_responses);
    t.styled(
        RowStyle::Total,
        vec![
            "Total".to_owned(),
            String::new(),
            String::new(),
            int(s.responses),
            int(s.total_tokens),
            cost,
        ],
    );
    t.note_unpriced(s.unpriced_responses, &r.unpriced_models);
    out.report(&t)?;
    Ok(())
}

pub(super) fn print_csv(r: &ProjectReport, w: &mut Csv) -> std::io::Result<()> {
    w.record([
        "projectPath",
        "sessions",
        "responses",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
        "modelsUsed",
        "firstActivity",
        "lastActivity",
        "unpricedResponses",
    ])?;
    for p in &r.projects {
        w.record([
            p.project_path.clone(),
            p.sessions.to_string(),
            p.responses.to_string(),
            p.input_tokens.to_string(),
            p.output_tokens.to_string(),
            p.cache_creation_tokens.to_string(),
            p.cache_read_tokens.to_string(),
            p.total_tokens.to_string(),
            csv_usd(p.total_cost),
            p.models_used.join(" "),
            p.first_activity.clone(),
            p.last_activity.clone(),
            p.unpriced_responses.to_string(),
        ])?;
    }
    Ok(())
}
