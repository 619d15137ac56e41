//! `ctm project`: usage per project path.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::Cell;
use ctm_analytics::{project_report, ProjectReport};

use super::cells::{self, csv_usd, totals_row};
use crate::cli::ReportArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, short, total_cell, usd};

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = project_report(store.conn(), &opts.query())?;
    opts.warn_if_pruned(&store, false)?;
    super::render(args, &r, print_csv, print_table)
}

pub(super) fn print_table(r: &ProjectReport, narrow: bool) -> Result<()> {
    if r.projects.is_empty() {
        println!("No usage in the store for this period ({}).", r.timezone);
        return Ok(());
    }
    let fmt: fn(u64) -> String = if narrow { short } else { int };
    let mut headers = vec!["Project"];
    if !narrow {
        headers.push("Last Activity");
    }
    headers.extend(["Sessions", "Responses", "Total Tokens", "Cost (USD)"]);
    let mut t = output::table(&headers, if narrow { 1 } else { 2 });
    for p in &r.projects {
        let name = if narrow {
            cells::folder(Some(&p.project_path))
        } else {
            cells::short_path(&p.project_path)
        };
        let mut row = vec![Cell::new(name)];
        if !narrow {
            row.push(Cell::new(cells::minute(&p.last_activity)));
        }
        row.extend([
            Cell::new(int(p.sessions)),
            Cell::new(int(p.responses)),
            Cell::new(fmt(p.total_tokens)),
            Cell::new(usd(p.total_cost, p.unpriced_responses == 0)),
        ]);
        t.add_row(row);
    }
    let s = &r.totals;
    let mut row = vec![total_cell("Total")];
    if !narrow {
        row.push(Cell::new(""));
    }
    row.extend([
        Cell::new(""),
        Cell::new(int(s.responses)),
        Cell::new(fmt(s.total_tokens)),
        Cell::new(usd(s.total_cost, s.unpriced_responses == 0)),
    ]);
    t.add_row(totals_row(row));
    output::print_table(&t)?;
    Ok(())
}

pub(super) fn print_csv(r: &ProjectReport) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
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
        w.write_record([
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
    w.flush()?;
    Ok(())
}
