//! `ctm daily`: usage and cost per day.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{daily_report, Usage};

use super::periods::{print_csv, print_table};
use crate::cli::DailyArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, Format};

pub fn run(ctx: &Context, args: &DailyArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    let r = daily_report(&store, &opts.query())?;
    opts.warn_if_pruned(&store, true)?;
    let rows: Vec<(&str, &Usage)> = r
        .daily
        .iter()
        .map(|d| (d.date.as_str(), &d.usage))
        .collect();
    match Format::of(args.report.json, args.report.csv) {
        Format::Json => output::print_json(&r)?,
        Format::Csv => print_csv("date", &rows, args.breakdown)?,
        Format::Table => print_table(
            "Date",
            &rows,
            &r.totals,
            &r.unpriced_models,
            &r.timezone,
            args.breakdown,
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
