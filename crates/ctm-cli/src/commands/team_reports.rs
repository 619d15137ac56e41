//! `ctm team daily|weekly|monthly|users|projects|models|sessions`: the team database's
//! reports (`ctm_team::reports`), rendered as the local reports are. They read the team
//! database only: the local store is not brought up to date first (a push does that).

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{daily_report_of, model_report_of, monthly_report_of, weekly_report_of, Usage};
use ctm_team::reports::{Reader, TeamQuery, TeamSessionReport, UsersReport};
use ctm_team::TeamUrl;

use super::cells::{self, csv_usd};
use super::periods::{self, PeriodRows};
use super::ReportOptions;
use crate::cli::{TeamDailyArgs, TeamReportArgs, TeamWeeklyArgs};
use crate::context::Context;
use crate::output::{int, num, text, words, Csv, Out, ReportTable, RowStyle};

/// The report's query, and the reading machine's prices under `--reprice`.
struct Asked {
    query: TeamQuery,
    prices: Option<ctm_pricing::PriceTable>,
}

impl Asked {
    fn of(ctx: &Context, args: &TeamReportArgs) -> Result<Asked> {
        let opts = ReportOptions::from_args(&args.report)?;
        Ok(Asked {
            query: TeamQuery {
                report: opts.query(),
                user: args.user.clone(),
            },
            prices: if args.reprice {
                Some(reading_prices(ctx)?)
            } else {
                None
            },
        })
    }

    /// Runs a read with or without repricing.
    fn read<T>(
        &self,
        url: &TeamUrl,
        f: impl FnOnce(
            &mut Reader,
            &TeamQuery,
            Option<ctm_team::reports::Reprice>,
        ) -> Result<T, ctm_team::TeamError>,
    ) -> Result<T> {
        let mut reader = Reader::open(url)?;
        Ok(f(&mut reader, &self.query, self.prices.as_ref())?)
    }
}

/// Daily, weekly and monthly as the local reports render them.
fn render_periods<R: serde::Serialize>(
    args: &crate::cli::ReportArgs,
    report: &R,
    shown: &PeriodRows,
) -> Result<ExitCode> {
    let key = shown.period.to_lowercase();
    super::render(
        args,
        report,
        |_, w| periods::print_csv(w, &key, shown.rows, shown.breakdown),
        |_, out| {
            if shown.rows.is_empty() {
                out.line(NOTHING)?;
                return Ok(());
            }
            out.report(&periods::table(shown))?;
            Ok(())
        },
    )
}

/// This machine's price table in force: the one `ctm pricing update` kept in its store
/// (read as it is, never created), else the embedded one, with the config's overrides.
fn reading_prices(ctx: &Context) -> Result<ctm_pricing::PriceTable> {
    if !ctx.db_path.exists() {
        return ctx.prices();
    }
    let store = ctx.open_store_with(&ctm_store::OpenOptions {
        read_only: true,
        ..ctx.open_options()
    })?;
    ctx.prices_in_force(store.conn())
}

/// What an empty team report says.
const NOTHING: &str = "No usage in the team database for this range and these filters.";

pub fn daily(ctx: &Context, url: &TeamUrl, args: &TeamDailyArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, &args.team)?;
    let days = asked.read(url, |r, q, p| r.model_days(q, p))?;
    let r = daily_report_of(days, &asked.query.report);
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
    render_periods(&args.team.report, &r, &shown)
}

pub fn weekly(ctx: &Context, url: &TeamUrl, args: &TeamWeeklyArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, &args.team)?;
    let days = asked.read(url, |r, q, p| r.model_days(q, p))?;
    let r = weekly_report_of(
        days,
        &asked.query.report,
        periods::weekday(args.start_of_week),
    );
    let rows: Vec<(&str, &Usage)> = r
        .weekly
        .iter()
        .map(|w| (w.week.as_str(), &w.usage))
        .collect();
    let shown = PeriodRows {
        period: "Week",
        rows: &rows,
        totals: &r.totals,
        unpriced_models: &r.unpriced_models,
        breakdown: false,
    };
    render_periods(&args.team.report, &r, &shown)
}

pub fn monthly(ctx: &Context, url: &TeamUrl, args: &TeamReportArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, args)?;
    let days = asked.read(url, |r, q, p| r.model_days(q, p))?;
    let r = monthly_report_of(days, &asked.query.report);
    let rows: Vec<(&str, &Usage)> = r
        .monthly
        .iter()
        .map(|m| (m.month.as_str(), &m.usage))
        .collect();
    let shown = PeriodRows {
        period: "Month",
        rows: &rows,
        totals: &r.totals,
        unpriced_models: &r.unpriced_models,
        breakdown: false,
    };
    render_periods(&args.report, &r, &shown)
}

pub fn models(ctx: &Context, url: &TeamUrl, args: &TeamReportArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, args)?;
    let days = asked.read(url, |r, q, p| r.model_days(q, p))?;
    let r = model_report_of(days, &asked.query.report);
    super::render(&args.report, &r, super::models::print_csv, |r, out| {
        if r.models.is_empty() {
            out.line(NOTHING)?;
            return Ok(());
        }
        super::models::print_table(r, out)
    })
}

pub fn projects(ctx: &Context, url: &TeamUrl, args: &TeamReportArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, args)?;
    let r = asked.read(url, |r, q, p| r.projects(q, p))?;
    super::render(&args.report, &r, super::project::print_csv, |r, out| {
        if r.projects.is_empty() {
            out.line(NOTHING)?;
            return Ok(());
        }
        super::project::print_table(r, out)
    })
}

pub fn sessions(ctx: &Context, url: &TeamUrl, args: &TeamReportArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, args)?;
    let r = asked.read(url, |r, q, p| r.sessions(q, p))?;
    super::render_listing(
        &args.report,
        r,
        |r| &mut r.sessions,
        print_sessions_csv,
        print_sessions,
    )
}

pub fn users(ctx: &Context, url: &TeamUrl, args: &TeamReportArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, args)?;
    let r = asked.read(url, |r, q, p| r.users(q, p))?;
    super::render(&args.report, &r, print_users_csv, print_users)
}

/// Each person, costliest first: the name and cost always show.
fn print_users(r: &UsersReport, out: &mut Out) -> Result<()> {
    if r.users.is_empty() {
        out.line(NOTHING)?;
        return Ok(());
    }
    let mut t = ReportTable::new(vec![
        text("User", 0),
        words("Machines", 3),
        text("Last Activity", 2),
        num("Responses", 4),
        num("Total Tokens", 1),
        num("Cost (USD)", 0),
    ]);
    for u in &r.users {
        let cost = t.cost(u.total_cost, u.responses, u.unpriced_responses);
        t.row(vec![
            u.user.clone(),
            u.machines.join(", "),
            cells::minute(&u.last_activity),
            int(u.responses),
            int(u.total_tokens),
            cost,
        ]);
    }
    let s = &r.totals;
    let cost = t.cost(s.total_cost, s.responses, s.unpriced_responses);
    t.styled(
        RowStyle::Total,
        vec![
            format!("Total ({})", r.users.len()),
            String::new(),
            String::new(),
            int(s.responses),
            int(s.total_tokens),
            cost,
        ],
    );
    t.note_unpriced(s.unpriced_responses, &[]);
    out.report(&t)?;
    Ok(())
}

fn print_users_csv(r: &UsersReport, w: &mut Csv) -> std::io::Result<()> {
    w.record([
        "user",
        "machines",
        "responses",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
        "lastActivity",
    ])?;
    for u in &r.users {
        w.record([
            u.user.clone(),
            u.machines.join(" "),
            u.responses.to_string(),
            u.input_tokens.to_string(),
            u.output_tokens.to_string(),
            u.cache_creation_tokens.to_string(),
            u.cache_read_tokens.to_string(),
            u.total_tokens.to_string(),
            csv_usd(u.total_cost),
            u.last_activity.clone(),
        ])?;
    }
    Ok(())
}

/// The local session list with whose each session is.
fn print_sessions(r: &TeamSessionReport, out: &mut Out) -> Result<()> {
    if r.sessions.is_empty() {
        out.line(NOTHING)?;
        return Ok(());
    }
    let mut t = ReportTable::new(vec![
        text("User", 0),
        text("Session", 0),
        text("Project", 3),
        text("Last Activity", 1),
        text("Main Model", 5),
        num("Responses", 4),
        num("Total Tokens", 2),
        num("Cost (USD)", 0),
    ]);
    for row in &r.sessions {
        let s = &row.session;
        let cost = t.cost(s.total_cost, s.responses, s.unpriced_responses);
        t.row(vec![
            row.user.clone(),
            cells::short_id(&s.session_id),
            cells::folder(s.project_path.as_deref()),
            cells::minute(&s.last_activity),
            s.main_model
                .as_deref()
                .map_or_else(String::new, cells::short_model),
            int(s.responses),
            int(s.total_tokens),
            cost,
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
        ],
    );
    t.note_unpriced(s.unpriced_responses, &r.unpriced_models);
    out.report(&t)?;
    Ok(())
}

fn print_sessions_csv(r: &TeamSessionReport, w: &mut Csv) -> std::io::Result<()> {
    let mut header = vec!["user"];
    header.extend(super::session::ROW_HEADER);
    w.record(&header)?;
    for row in &r.sessions {
        let mut record = vec![row.user.clone()];
        record.extend(super::session::row_record(&row.session));
        w.record(&record)?;
    }
    Ok(())
}
