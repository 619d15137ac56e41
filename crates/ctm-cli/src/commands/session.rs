//! `ctm session`: usage per session, or one session response by response.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::Cell;
use ctm_analytics::{session_detail, session_report, SessionDetail, SessionReport, SessionRow};

use super::cells::{self, csv_usd, totals_row};
use crate::cli::SessionArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, short, total_cell, usd, Format, NARROW};

pub fn run(ctx: &Context, args: &SessionArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    let format = Format::of(args.report.json, args.report.csv);
    let narrow = output::width() < NARROW;
    opts.warn_if_pruned(&store, false)?;
    match &args.id {
        None => {
            let r = session_report(store.conn(), &opts.query())?;
            match format {
                Format::Json => output::print_json(&r)?,
                Format::Csv => print_list_csv(&r)?,
                Format::Table => print_list(&r, narrow)?,
            }
        }
        Some(id) => {
            let d = session_detail(store.conn(), &opts.query(), id)?;
            match format {
                Format::Json => output::print_json(&d)?,
                Format::Csv => print_detail_csv(&d)?,
                Format::Table => print_detail(&d, narrow)?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_list(r: &SessionReport, narrow: bool) -> Result<()> {
    if r.sessions.is_empty() {
        println!("No sessions in the store for this period ({}).", r.timezone);
        return Ok(());
    }
    let mut t = if narrow {
        output::table(&["Session", "Last Activity", "Tokens", "Cost"], 2)
    } else {
        output::table(
            &[
                "Session",
                "Project",
                "Last Activity",
                "Duration",
                "Main Model",
                "Responses",
                "Tokens",
                "Cost (USD)",
                "Eff.",
            ],
            5,
        )
    };
    for s in &r.sessions {
        let cost = usd(s.total_cost, s.unpriced_responses == 0);
        let last = cells::minute(&s.last_activity);
        t.add_row(if narrow {
            vec![
                Cell::new(cells::short_id(&s.session_id)),
                Cell::new(last),
                Cell::new(short(s.total_tokens)),
                Cell::new(cost),
            ]
        } else {
            vec![
                Cell::new(cells::short_id(&s.session_id)),
                Cell::new(cells::folder(s.project_path.as_deref())),
                Cell::new(last),
                Cell::new(cells::duration(s.duration_minutes)),
                Cell::new(
                    s.main_model
                        .as_deref()
                        .map_or_else(String::new, cells::short_model),
                ),
                Cell::new(int(s.responses)),
                Cell::new(int(s.total_tokens)),
                Cell::new(cost),
                Cell::new(format!("{:.0}%", s.efficiency_score * 100.0)),
            ]
        });
    }
    let s = &r.totals;
    let cost = usd(s.total_cost, s.unpriced_responses == 0);
    let label = total_cell(format!("Total ({})", r.sessions.len()));
    t.add_row(totals_row(if narrow {
        vec![
            label,
            Cell::new(""),
            Cell::new(short(s.total_tokens)),
            Cell::new(cost),
        ]
    } else {
        vec![
            label,
            Cell::new(""),
            Cell::new(""),
            Cell::new(""),
            Cell::new(""),
            Cell::new(int(s.responses)),
            Cell::new(int(s.total_tokens)),
            Cell::new(cost),
            Cell::new(""),
        ]
    }));
    output::print_table(&t)?;
    Ok(())
}

fn print_detail(d: &SessionDetail, narrow: bool) -> Result<()> {
    let s = &d.session;
    println!("Session {}", s.session_id);
    println!(
        "  project {}, {} to {} ({}, {})",
        s.project_path.as_deref().unwrap_or("unknown"),
        cells::minute(&s.first_activity),
        cells::minute(&s.last_activity),
        cells::duration(s.duration_minutes),
        d.timezone
    );
    println!(
        "  {} responses, {} tokens, {}; main model {}; cache efficiency {}",
        int(s.responses),
        int(s.total_tokens),
        usd(s.total_cost, s.unpriced_responses == 0),
        s.main_model
            .as_deref()
            .map_or_else(|| "unknown".to_owned(), cells::short_model),
        cells::share(s.efficiency_score)
    );
    let mut t = if narrow {
        output::table(&["Time", "Model", "Tokens", "Cost", "Cumulative"], 2)
    } else {
        output::table(
            &[
                "Time",
                "Model",
                "Input",
                "Output",
                "Cache Write",
                "Cache Read",
                "Cost (USD)",
                "Cumulative",
            ],
            2,
        )
    };
    for r in &d.responses {
        let time = cells::second(&r.timestamp);
        let model = cells::short_model(&r.model);
        let cost = usd(r.cost, r.priced);
        let cumulative = usd(r.cumulative_cost, true);
        t.add_row(if narrow {
            vec![
                Cell::new(time),
                Cell::new(model),
                Cell::new(short(r.total_tokens)),
                Cell::new(cost),
                Cell::new(cumulative),
            ]
        } else {
            vec![
                Cell::new(time),
                Cell::new(model),
                Cell::new(int(r.input_tokens)),
                Cell::new(int(r.output_tokens)),
                Cell::new(int(r.cache_creation_tokens)),
                Cell::new(int(r.cache_read_tokens)),
                Cell::new(cost),
                Cell::new(cumulative),
            ]
        });
    }
    output::print_table(&t)?;
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

fn print_list_csv(r: &SessionReport) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record(ROW_HEADER)?;
    for s in &r.sessions {
        w.write_record(row_record(s))?;
    }
    w.flush()?;
    Ok(())
}

fn print_detail_csv(d: &SessionDetail) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
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
        w.write_record([
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
    w.flush()?;
    Ok(())
}
