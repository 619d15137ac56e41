//! `ctm daily`: usage and cost per day.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{daily_report, Usage};

use super::periods::{self, PeriodRows};
use crate::cli::DailyArgs;
use crate::commands::ReportOptions;
use crate::context::Context;

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
    let shown = PeriodRows {
        period: "Date",
        rows: &rows,
        totals: &r.totals,
        unpriced_models: &r.unpriced_models,
        breakdown: args.breakdown,
    };
    periods::render(ctx, &store, &opts, &args.report, &r, &shown)
}
