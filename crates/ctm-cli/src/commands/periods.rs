//! `ctm weekly` and `ctm monthly`: daily's table with a week or a month per row.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{monthly_report, weekly_report, Totals, Usage};
use ctm_store::Store;
use jiff::civil::Weekday;

use super::cells::{self, csv_usd};
use crate::cli::{ReportArgs, WeekdayArg, WeeklyArgs};
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{int, num, text, words, Csv, ReportTable, RowStyle};

pub fn run_weekly(ctx: &Context, args: &WeeklyArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    let first = weekday(args.start_of_week);
    let r = weekly_report(&store, &opts.query(), first)?;
    opts.warn_if_pruned(&store, true)?;
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
    render(ctx, &store, &opts, &args.report, &r, &shown)
}

pub fn run_monthly(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(args)?;
    let store = ctx.report_store()?;
    let r = monthly_report(&store, &opts.query())?;
    opts.warn_if_pruned(&store, true)?;
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
    render(ctx, &store, &opts, args, &r, &shown)
}

/// What the daily, weekly and monthly tables show.
pub(super) struct PeriodRows<'a> {
    /// The first column's header.
    pub period: &'static str,
    pub rows: &'a [(&'a str, &'a Usage)],
    pub totals: &'a Totals,
    pub unpriced_models: &'a [String],
    /// A row per model under each period.
    pub breakdown: bool,
}

/// Prints daily, weekly or monthly as the options ask.
pub(super) fn render<R: serde::Serialize>(
    ctx: &Context,
    store: &Store,
    opts: &ReportOptions,
    args: &ReportArgs,
    report: &R,
    shown: &PeriodRows,
) -> Result<ExitCode> {
    let key = shown.period.to_lowercase();
    super::render(
        args,
        report,
        |_, w| print_csv(w, &key, shown.rows, shown.breakdown),
        |_, out| {
            if shown.rows.is_empty() {
                out.line(super::nothing_to_show(ctx, store, opts)?)?;
                return Ok(());
            }
            out.report(&table(shown))?;
            Ok(())
        },
    )
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
/// under each when asked. The period and its cost always show; then the total, output,
/// input, models, cache read and cache write tokens, as the width allows.
pub(super) fn table(p: &PeriodRows) -> ReportTable {
    let mut t = ReportTable::new(vec![
        text(p.period, 0),
        words("Models", 4),
        num("Input", 3),
        num("Output", 2),
        num("Cache Create", 6),
        num("Cache Read", 5),
        num("Total Tokens", 1),
        num("Cost (USD)", 0),
    ]);
    let figures = |f: [u64; 4]| -> Vec<String> {
        let [i, o, cw, cr] = f;
        vec![int(i), int(o), int(cw), int(cr), int(i + o + cw + cr)]
    };
    for (label, u) in p.rows {
        let mut row = vec![label.to_string(), cells::models(&u.models_used)];
        row.extend(figures([
            u.input_tokens,
            u.output_tokens,
            u.cache_creation_tokens,
            u.cache_read_tokens,
        ]));
        row.push(t.cost(u.total_cost, u.responses, u.unpriced_responses));
        t.row(row);
        if p.breakdown {
            for m in &u.model_breakdowns {
                let mut row = vec![
                    format!("  └ {}", cells::short_model(&m.model_name)),
                    String::new(),
                ];
                row.extend(figures([
                    m.input_tokens,
                    m.output_tokens,
                    m.cache_creation_tokens,
                    m.cache_read_tokens,
                ]));
                let unpriced = if m.priced { 0 } else { m.responses };
                row.push(t.cost(m.cost, m.responses, unpriced));
                t.styled(RowStyle::Dim, row);
            }
        }
    }
    let s = p.totals;
    let mut row = vec!["Total".to_owned(), String::new()];
    row.extend(figures([
        s.input_tokens,
        s.output_tokens,
        s.cache_creation_tokens,
        s.cache_read_tokens,
    ]));
    row.push(t.cost(s.total_cost, s.responses, s.unpriced_responses));
    t.styled(RowStyle::Total, row);
    t.note_unpriced(s.unpriced_responses, p.unpriced_models);
    t
}

/// CSV of daily, weekly and monthly; with `breakdown`, a row per model follows each period.
pub(super) fn print_csv(
    w: &mut Csv,
    period: &str,
    rows: &[(&str, &Usage)],
    breakdown: bool,
) -> std::io::Result<()> {
    w.record([
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
        w.record([
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
                w.record([
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
    Ok(())
}
