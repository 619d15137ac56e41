//! `ctm weekly` and `ctm monthly`: daily's table with a week or a month per row.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{Cell, Color};
use ctm_analytics::{monthly_report, weekly_report, Totals, Usage};
use jiff::civil::Weekday;

use super::cells::{self, csv_usd, totals_row};
use crate::cli::{ReportArgs, WeekdayArg, WeeklyArgs};
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, short, total_cell, usd, Format, NARROW};

pub fn run_weekly(ctx: &Context, args: &WeeklyArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    let first = weekday(args.start_of_week);
    let r = weekly_report(store.conn(), &opts.query(), first)?;
    opts.warn_if_pruned(&store, true)?;
    let rows: Vec<(&str, &Usage)> = r
        .weekly
        .iter()
        .map(|w| (w.week.as_str(), &w.usage))
        .collect();
    match Format::of(args.report.json, args.report.csv) {
        Format::Json => output::print_json(&r)?,
        Format::Csv => print_csv("week", &rows, false)?,
        Format::Table => print_table(
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

pub fn run_monthly(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = monthly_report(store.conn(), &opts.query())?;
    opts.warn_if_pruned(&store, true)?;
    let rows: Vec<(&str, &Usage)> = r
        .monthly
        .iter()
        .map(|m| (m.month.as_str(), &m.usage))
        .collect();
    match Format::of(args.json, args.csv) {
        Format::Json => output::print_json(&r)?,
        Format::Csv => print_csv("month", &rows, false)?,
        Format::Table => print_table(
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

pub(super) fn weekday(d: WeekdayArg) -> Weekday {
    match d {
        WeekdayArg::Monday => Weekday::Monday,
        WeekdayArg::Tuesday => Weekday::Tuesday,
        WeekdayArg::Wednesday => Weekday::Wednesday,
        WeekdayArg::Thursday => Weekday::Thursday,
        WeekdayArg::Friday => Weekday::Friday,
        WeekdayArg::Saturday => Weekday::Saturday,
        WeekdayArg::Sunday => Weekday::Sunday,
    }
}

/// The table of daily, weekly and monthly: one row per period, with a row per model
/// under each when `breakdown` is set.
pub(super) fn print_table(
    period: &str,
    rows: &[(&str, &Usage)],
    totals: &Totals,
    unpriced_models: &[String],
    timezone: &str,
    breakdown: bool,
) -> Result<()> {
    if rows.is_empty() {
        println!("No usage in the store for this period ({timezone}).");
        return Ok(());
    }
    let narrow = output::width() < NARROW;
    let mut t = if narrow {
        output::table(
            &[period, "Input", "Output", "Cache w/r", "Total", "Cost"],
            1,
        )
    } else {
        output::table(
            &[
                period,
                "Models",
                "Input",
                "Output",
                "Cache Create",
                "Cache Read",
                "Total Tokens",
                "Cost (USD)",
            ],
            2,
        )
    };
    let line = |label: Cell, models: String, f: [u64; 5], cost: String| -> Vec<Cell> {
        let [i, o, cw, cr, total] = f;
        if narrow {
            vec![
                label,
                Cell::new(short(i)),
                Cell::new(short(o)),
                Cell::new(format!("{}/{}", short(cw), short(cr))),
                Cell::new(short(total)),
                Cell::new(cost),
            ]
        } else {
            vec![
                label,
                Cell::new(models),
                Cell::new(int(i)),
                Cell::new(int(o)),
                Cell::new(int(cw)),
                Cell::new(int(cr)),
                Cell::new(int(total)),
                Cell::new(cost),
            ]
        }
    };
    for (label, u) in rows {
        t.add_row(line(
            Cell::new(label),
            cells::models(&u.models_used),
            [
                u.input_tokens,
                u.output_tokens,
                u.cache_creation_tokens,
                u.cache_read_tokens,
                u.total_tokens,
            ],
            usd(u.total_cost, u.unpriced_responses == 0),
        ));
        if breakdown {
            for m in &u.model_breakdowns {
                t.add_row(line(
                    Cell::new(format!("  └ {}", cells::short_model(&m.model_name)))
                        .fg(Color::DarkGrey),
                    String::new(),
                    [
                        m.input_tokens,
                        m.output_tokens,
                        m.cache_creation_tokens,
                        m.cache_read_tokens,
                        m.input_tokens
                            + m.output_tokens
                            + m.cache_creation_tokens
                            + m.cache_read_tokens,
                    ],
                    usd(m.cost, m.priced),
                ));
            }
        }
    }
    let s = totals;
    t.add_row(totals_row(line(
        total_cell("Total"),
        String::new(),
        [
            s.input_tokens,
            s.output_tokens,
            s.cache_creation_tokens,
            s.cache_read_tokens,
            s.total_tokens,
        ],
        usd(s.total_cost, s.unpriced_responses == 0),
    )));
    output::print_table(&t)?;
    if !unpriced_models.is_empty() {
        println!(
            "* leaves out {} responses of models without a price ({}): their tokens are counted, their cost is unknown.",
            int(s.unpriced_responses),
            unpriced_models.join(", ")
        );
    }
    Ok(())
}

/// CSV of daily, weekly and monthly; with `breakdown`, a row per model follows each period.
pub(super) fn print_csv(period: &str, rows: &[(&str, &Usage)], breakdown: bool) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
        period,
        "models",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
        "responses",
        "unpricedResponses",
    ])?;
    for (label, u) in rows {
        w.write_record([
            label.to_string(),
            u.models_used.join(" "),
            u.input_tokens.to_string(),
            u.output_tokens.to_string(),
            u.cache_creation_tokens.to_string(),
            u.cache_read_tokens.to_string(),
            u.total_tokens.to_string(),
            csv_usd(u.total_cost),
            u.responses.to_string(),
            u.unpriced_responses.to_string(),
        ])?;
        if breakdown {
            for m in &u.model_breakdowns {
                w.write_record([
                    label.to_string(),
                    m.model_name.clone(),
                    m.input_tokens.to_string(),
                    m.output_tokens.to_string(),
                    m.cache_creation_tokens.to_string(),
                    m.cache_read_tokens.to_string(),
                    (m.input_tokens
                        + m.output_tokens
                        + m.cache_creation_tokens
                        + m.cache_read_tokens)
                        .to_string(),
                    csv_usd(m.cost),
                    m.responses.to_string(),
                    if m.priced {
                        "0".to_owned()
                    } else {
                        m.responses.to_string()
                    },
                ])?;
            }
        }
    }
    w.flush()?;
    Ok(())
}
