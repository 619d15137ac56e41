//! `ctm team daily|weekly|monthly|users|projects|models|sessions`: the team database's
//! reports (`ctm_team::reports`), rendered as the local reports are. They read the team
//! database only: the local store is not brought up to date first (a push does that).

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::Cell;
use ctm_analytics::{daily_report_of, model_report_of, monthly_report_of, weekly_report_of, Usage};
use ctm_team::reports::{Reader, TeamQuery, TeamSessionReport, UsersReport};
use ctm_team::responses::{nanos, Price};
use ctm_team::TeamUrl;

use super::cells::{self, csv_usd, totals_row};
use super::{periods, ReportOptions};
use crate::cli::{TeamDailyArgs, TeamReportArgs, TeamWeeklyArgs};
use crate::context::Context;
use crate::output::{self, int, short, total_cell, usd, Format};

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
                Some(ctx.prices()?)
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
        let out = match &self.prices {
            None => f(&mut reader, &self.query, None)?,
            Some(table) => {
                let price = |r: &ctm_model::Response| -> Price {
                    let p = ctm_ingest::price_response(table, r);
                    Price {
                        cost_nanos: nanos(p.cost_usd),
                        priced: p.priced,
                        price_model: p.price_model,
                        price_version: p.price_version,
                        long_context: p.long_context,
                        multiplier: p.multiplier,
                        cache_savings_nanos: nanos(p.cache_savings_usd),
                    }
                };
                f(&mut reader, &self.query, Some(&price))?
            }
        };
        Ok(out)
    }
}

pub fn daily(ctx: &Context, url: &TeamUrl, args: &TeamDailyArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, &args.team)?;
    let days = asked.read(url, |r, q, p| r.model_days(q, p))?;
    let r = daily_report_of(days, &asked.query.report);
    let rows: Vec<(&str, &Usage)> = r
        .daily
        .iter()
        .map(|d| (d.date.as_str(), &d.usage))
        .collect();
    let report = &args.team.report;
    match Format::of(report.json, report.csv) {
        Format::Json => output::print_json(&r)?,
        Format::Csv => periods::print_csv("date", &rows, args.breakdown)?,
        Format::Table => periods::print_table(
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
    let report = &args.team.report;
    match Format::of(report.json, report.csv) {
        Format::Json => output::print_json(&r)?,
        Format::Csv => periods::print_csv("week", &rows, false)?,
        Format::Table => periods::print_table(
            "Week",
            &rows,
            &r.totals,
            &r.unpriced_models,
            &r.timezone,
            false,
        )?,
    }
    Ok(ExitCode::SUCCESS)
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
    match Format::of(args.report.json, args.report.csv) {
        Format::Json => output::print_json(&r)?,
        Format::Csv => periods::print_csv("month", &rows, false)?,
        Format::Table => periods::print_table(
            "Month",
            &rows,
            &r.totals,
            &r.unpriced_models,
            &r.timezone,
            false,
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn models(ctx: &Context, url: &TeamUrl, args: &TeamReportArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, args)?;
    let days = asked.read(url, |r, q, p| r.model_days(q, p))?;
    let r = model_report_of(days, &asked.query.report);
    super::render(
        &args.report,
        &r,
        super::models::print_csv,
        super::models::print_table,
    )
}

pub fn projects(ctx: &Context, url: &TeamUrl, args: &TeamReportArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, args)?;
    let r = asked.read(url, |r, q, p| r.projects(q, p))?;
    super::render(
        &args.report,
        &r,
        super::project::print_csv,
        super::project::print_table,
    )
}

pub fn sessions(ctx: &Context, url: &TeamUrl, args: &TeamReportArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, args)?;
    let r = asked.read(url, |r, q, p| r.sessions(q, p))?;
    super::render(&args.report, &r, print_sessions_csv, print_sessions)
}

pub fn users(ctx: &Context, url: &TeamUrl, args: &TeamReportArgs) -> Result<ExitCode> {
    let asked = Asked::of(ctx, args)?;
    let r = asked.read(url, |r, q, p| r.users(q, p))?;
    super::render(&args.report, &r, print_users_csv, print_users)
}

fn print_users(r: &UsersReport, narrow: bool) -> Result<()> {
    if r.users.is_empty() {
        println!("No usage in the team database for this period.");
        return Ok(());
    }
    let fmt: fn(u64) -> String = if narrow { short } else { int };
    let mut headers = vec!["User", "Machines"];
    if !narrow {
        headers.push("Last Activity");
    }
    headers.extend(["Responses", "Total Tokens", "Cost (USD)"]);
    let mut t = output::table(&headers, if narrow { 2 } else { 3 });
    for u in &r.users {
        let mut row = vec![Cell::new(&u.user), Cell::new(u.machines.join(", "))];
        if !narrow {
            row.push(Cell::new(cells::minute(&u.last_activity)));
        }
        row.extend([
            Cell::new(int(u.responses)),
            Cell::new(fmt(u.total_tokens)),
            Cell::new(usd(u.total_cost, true)),
        ]);
        t.add_row(row);
    }
    let s = &r.totals;
    let mut row = vec![total_cell("Total"), Cell::new("")];
    if !narrow {
        row.push(Cell::new(""));
    }
    row.extend([
        Cell::new(int(s.responses)),
        Cell::new(fmt(s.total_tokens)),
        Cell::new(usd(s.total_cost, s.unpriced_responses == 0)),
    ]);
    t.add_row(totals_row(row));
    output::print_table(&t)?;
    Ok(())
}

fn print_users_csv(r: &UsersReport) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
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
        w.write_record([
            u.user.clone(),
            u.machines.join(";"),
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
    w.flush()?;
    Ok(())
}

fn print_sessions(r: &TeamSessionReport, narrow: bool) -> Result<()> {
    if r.sessions.is_empty() {
        println!(
            "No sessions in the team database for this period ({}).",
            r.timezone
        );
        return Ok(());
    }
    let mut t = if narrow {
        output::table(&["User", "Session", "Last Activity", "Tokens", "Cost"], 3)
    } else {
        output::table(
            &[
                "User",
                "Session",
                "Project",
                "Last Activity",
                "Main Model",
                "Responses",
                "Tokens",
                "Cost (USD)",
            ],
            5,
        )
    };
    for row in &r.sessions {
        let s = &row.session;
        let cost = usd(s.total_cost, s.unpriced_responses == 0);
        let last = cells::minute(&s.last_activity);
        t.add_row(if narrow {
            vec![
                Cell::new(&row.user),
                Cell::new(cells::short_id(&s.session_id)),
                Cell::new(last),
                Cell::new(short(s.total_tokens)),
                Cell::new(cost),
            ]
        } else {
            vec![
                Cell::new(&row.user),
                Cell::new(cells::short_id(&s.session_id)),
                Cell::new(cells::folder(s.project_path.as_deref())),
                Cell::new(last),
                Cell::new(s.main_model.as_deref().unwrap_or("-")),
                Cell::new(int(s.responses)),
                Cell::new(int(s.total_tokens)),
                Cell::new(cost),
            ]
        });
    }
    let s = &r.totals;
    let mut row = vec![total_cell("Total"), Cell::new(""), Cell::new("")];
    if !narrow {
        row.extend([Cell::new(""), Cell::new(""), Cell::new(int(s.responses))]);
    }
    row.extend([
        Cell::new(if narrow {
            short(s.total_tokens)
        } else {
            int(s.total_tokens)
        }),
        Cell::new(usd(s.total_cost, s.unpriced_responses == 0)),
    ]);
    t.add_row(totals_row(row));
    output::print_table(&t)?;
    Ok(())
}

fn print_sessions_csv(r: &TeamSessionReport) -> Result<()> {
    let mut w = output::csv_writer();
    let mut header = vec!["user"];
    header.extend(super::session::ROW_HEADER);
    w.write_record(&header)?;
    for row in &r.sessions {
        let mut record = vec![row.user.clone()];
        record.extend(super::session::row_record(&row.session));
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}
