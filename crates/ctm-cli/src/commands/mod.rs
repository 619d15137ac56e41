//! One module per subcommand, each with its own `run`.

mod blocks;
mod cache;
mod cells;
mod config;
mod daily;
mod db;
mod export;
mod hourly;
mod ingest;
mod live;
mod mcp;
mod models;
mod periods;
mod pricing;
mod project;
mod serve;
mod session;
mod setup;
mod snapshot;
mod statusline;
mod team;
mod team_reports;
mod top;
mod trend;

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{Filter, Order, QueryText, ReportQuery, Zone};
use jiff::civil::Date;
use jiff::Timestamp;

use crate::cli::{Cli, Command, DailyArgs, OrderArg, ReportArgs};
use crate::context::{tilde, Context};
use crate::errors::usage;
use crate::output::{self, Csv, Format, Out};

pub fn run(cli: Cli) -> Result<ExitCode> {
    output::set_color(cli.global.color_choice());
    let ctx = Context::new(&cli.global)?;
    dispatch(&ctx, cli.command).map_err(|e| ctx.explain(e))
}

fn dispatch(ctx: &Context, command: Option<Command>) -> Result<ExitCode> {
    match command {
        None => daily::run(ctx, &DailyArgs::default()),
        Some(Command::Daily(args)) => daily::run(ctx, &args),
        Some(Command::Ingest(args)) => ingest::run(ctx, &args),
        Some(Command::Pricing(args)) => pricing::run(ctx, &args),
        Some(Command::Db(args)) => db::run(ctx, &args.command),
        Some(Command::Weekly(args)) => periods::run_weekly(ctx, &args),
        Some(Command::Monthly(args)) => periods::run_monthly(ctx, &args),
        Some(Command::Session(args)) => session::run(ctx, &args),
        Some(Command::Project(args)) => project::run(ctx, &args),
        Some(Command::Models(args)) => models::run(ctx, &args),
        Some(Command::Hourly(args)) => hourly::run(ctx, &args),
        Some(Command::Top(args)) => top::run(ctx, &args),
        Some(Command::Trend(args)) => trend::run(ctx, &args),
        Some(Command::Cache(args)) => cache::run(ctx, &args),
        Some(Command::Blocks(args)) => blocks::run(ctx, &args),
        Some(Command::Config(args)) => config::run(ctx, &args.command),
        Some(Command::Export(args)) => export::run(ctx, &args),
        Some(Command::Snapshot(args)) => snapshot::run_snapshot(ctx, &args),
        Some(Command::Stats(args)) => snapshot::run_stats(ctx, &args),
        Some(Command::Live(args)) => live::run(ctx, &args),
        Some(Command::Statusline(args)) => statusline::run(ctx, &args),
        Some(Command::Serve(args)) => serve::run(ctx, &args),
        Some(Command::Team(args)) => team::run(ctx, &args),
        Some(Command::Completions(args)) => setup::completions(&args),
        Some(Command::Man(args)) => setup::man(&args),
        Some(Command::Mcp(args)) => mcp::run(ctx, &args),
    }
}

/// The report options every report shares, checked.
pub struct ReportOptions {
    pub zone: Zone,
    pub since: Option<Date>,
    pub until: Option<Date>,
    pub order: Order,
    /// `--project` and `--model`.
    pub filter: Filter,
    /// The current time, or `CTM_NOW` (for tests).
    pub now: Timestamp,
}

impl ReportOptions {
    /// The shared part of every report's query.
    pub fn query(&self) -> ReportQuery {
        ReportQuery {
            zone: self.zone.clone(),
            since: self.since,
            until: self.until,
            order: self.order,
            filter: self.filter.clone(),
        }
    }

    /// Says on stderr (one line, JSON on stdout stays clean) when the report reaches
    /// before the prune horizon and is computed from single responses, so its earlier
    /// days are missing rather than zero. `per_day`: the report is made of per-day sums,
    /// which the store's daily tables keep.
    pub fn warn_if_pruned(&self, store: &ctm_store::Store, per_day: bool) -> Result<()> {
        if let Some(day) = ctm_analytics::query::pruned_before(store, &self.query(), per_day)? {
            eprintln!(
                "ctm: warning: responses before {day} were pruned (ctm db prune --facts-older-than); \
                 this report counts only what came after. Daily, weekly, monthly and trend in the \
                 store's zone without --project/--model still show the earlier days."
            );
        }
        Ok(())
    }

    /// Today in the report's zone.
    pub fn today(&self) -> Date {
        self.now.to_zoned(self.zone.tz.clone()).date()
    }

    pub fn from_args(a: &ReportArgs) -> Result<ReportOptions> {
        let q = ReportQuery::parse(&QueryText {
            timezone: a.timezone.as_deref(),
            since: a.since.as_deref(),
            until: a.until.as_deref(),
            order: match a.order {
                OrderArg::Asc => Order::Asc,
                OrderArg::Desc => Order::Desc,
            },
            project: a.project.as_deref(),
            model: a.model.as_deref(),
        })
        // A bad zone, day or range is the caller's to fix: a usage error.
        .map_err(|e| usage(e.to_string()))?;
        Ok(ReportOptions {
            zone: q.zone,
            since: q.since,
            until: q.until,
            order: q.order,
            filter: q.filter,
            now: now()?,
        })
    }
}

/// The one place the current time is read: `CTM_NOW` (RFC 3339) replaces it in tests.
pub(crate) fn now() -> Result<Timestamp> {
    Ok(fixed_now()?.unwrap_or_else(Timestamp::now))
}

/// `CTM_NOW`, if set.
fn fixed_now() -> Result<Option<Timestamp>> {
    match std::env::var("CTM_NOW") {
        Ok(s) if !s.is_empty() => s.parse().map(Some).map_err(|_| {
            usage(format!(
                "CTM_NOW {s:?} is not an RFC 3339 time such as 2026-02-12T15:00:00Z"
            ))
        }),
        _ => Ok(None),
    }
}

/// Prints a report value as its options ask: JSON, CSV, or a table, through the one
/// output path.
fn render<R: serde::Serialize>(
    args: &ReportArgs,
    report: &R,
    csv: impl FnOnce(&R, &mut Csv) -> std::io::Result<()>,
    table: impl FnOnce(&R, &mut Out) -> Result<()>,
) -> Result<ExitCode> {
    let mut out = output::out();
    match Format::of(args.json, args.csv) {
        Format::Json => out.json(report)?,
        Format::Csv => {
            let mut w = out.csv();
            csv(report, &mut w)?;
            w.finish()?;
        }
        Format::Table => table(report, &mut out)?,
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// [`render`] for a report whose first field is a list of rows that can be long (every
/// session of a team is tens of thousands): its JSON rows are rendered on every core, and
/// the report, as many allocations as it has texts, is left for the process's exit to
/// free at once rather than one by one (this is a command's last step).
fn render_listing<R: serde::Serialize, T: serde::Serialize + Sync>(
    args: &ReportArgs,
    mut report: R,
    rows: impl FnOnce(&mut R) -> &mut Vec<T>,
    csv: impl FnOnce(&R, &mut Csv) -> std::io::Result<()>,
    table: impl FnOnce(&R, &mut Out) -> Result<()>,
) -> Result<ExitCode> {
    let code = match Format::of(args.json, args.csv) {
        Format::Json => {
            let listed = std::mem::take(rows(&mut report));
            let mut out = output::out();
            out.json_listing(&report, &listed)?;
            out.finish()?;
            std::mem::forget(listed);
            ExitCode::SUCCESS
        }
        _ => render(args, &report, csv, table)?,
    };
    std::mem::forget(report);
    Ok(code)
}

/// Why a report has no rows, in one line: no Claude Code data where ctm looked, or
/// nothing in the range and filters asked, with the day of the last usage.
pub fn nothing_to_show(
    ctx: &Context,
    store: &ctm_store::Store,
    opts: &ReportOptions,
) -> Result<String> {
    let Some(last_ms) = ctm_analytics::query::last_response_ms(store)? else {
        if ctm_source::existing(&ctx.roots).is_empty() {
            let looked: Vec<String> = ctx.roots.paths.iter().map(|p| tilde(p)).collect();
            return Ok(format!(
                "No usage: no Claude Code data found (looked in {}). Point ctm at the folder that \
                 holds projects/ with --claude-dir DIR or CLAUDE_CONFIG_DIR=DIR.",
                if looked.is_empty() {
                    "nothing".to_owned()
                } else {
                    looked.join(", ")
                }
            ));
        }
        return Ok("No usage yet: Claude Code's transcripts hold no responses.".into());
    };
    let range = match (opts.since, opts.until) {
        (Some(s), Some(u)) if s == u => format!(" on {s}"),
        (Some(s), Some(u)) => format!(" from {s} to {u}"),
        (Some(s), None) => format!(" since {s}"),
        (None, Some(u)) => format!(" until {u}"),
        (None, None) => String::new(),
    };
    let filters = opts.filter.describe();
    let last = opts.zone.zoned(last_ms);
    Ok(format!(
        "No usage{range}{filters} ({}); the last usage in the store was on {} at {}.",
        opts.zone.label(),
        last.date(),
        last.strftime("%H:%M")
    ))
}
