//! `ctm top`: the most expensive days and sessions.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::Cell;
use ctm_analytics::{top_report, TopReport};

use super::cells::{self, csv_usd};
use crate::cli::TopArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, short, usd};

pub fn run(ctx: &Context, args: &TopArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    let r = top_report(&store, &opts.query(), args.limit as usize)?;
    opts.warn_if_pruned(&store, false)?;
    super::render(&args.report, &r, print_csv, print_table)
}

fn print_table(r: &TopReport, narrow: bool) -> Result<()> {
    if r.days.is_empty() {
        println!("No usage in the store for this period ({}).", r.timezone);
        return Ok(());
    }
    let fmt: fn(u64) -> String = if narrow { short } else { int };
    println!("Most expensive days ({})", r.timezone);
    let mut t = if narrow {
        output::table(&["#", "Date", "Tokens", "Cost"], 2)
    } else {
        output::table(
            &[
                "#",
                "Date",
                "Models",
                "Responses",
                "Total Tokens",
                "Cost (USD)",
            ],
            3,
        )
    };
    for (i, day) in r.days.iter().enumerate() {
        let d = &day.usage;
        let mut row = vec![Cell::new(i + 1), Cell::new(&day.date)];
        if !narrow {
            row.push(Cell::new(cells::models(&d.models_used)));
            row.push(Cell::new(int(d.responses)));
        }
        row.push(Cell::new(fmt(d.total_tokens)));
        row.push(Cell::new(usd(d.total_cost, d.unpriced_responses == 0)));
        t.add_row(row);
    }
    output::print_table(&t)?;
    println!("Most expensive sessions");
    let mut t = if narrow {
        output::table(&["#", "Session", "Tokens", "Cost"], 2)
    } else {
        output::table(
            &[
                "#",
                "Session",
                "Project",
                "Last Activity",
                "Responses",
                "Total Tokens",
                "Cost (USD)",
            ],
            4,
        )
    };
    for (i, s) in r.sessions.iter().enumerate() {
        let mut row = vec![Cell::new(i + 1), Cell::new(cells::short_id(&s.session_id))];
        if !narrow {
            row.push(Cell::new(cells::short_path(
                s.project_path.as_deref().unwrap_or("unknown"),
            )));
            row.push(Cell::new(cells::minute(&s.last_activity)));
            row.push(Cell::new(int(s.responses)));
        }
        row.push(Cell::new(fmt(s.total_tokens)));
        row.push(Cell::new(usd(s.total_cost, s.unpriced_responses == 0)));
        t.add_row(row);
    }
    output::print_table(&t)?;
    Ok(())
}

/// One table: `kind` is `day` or `session`, `id` the date or the session id.
fn print_csv(r: &TopReport) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
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
        w.write_record([
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
        w.write_record([
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
    w.flush()?;
    Ok(())
}
