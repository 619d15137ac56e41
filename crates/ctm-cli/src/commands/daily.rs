//! `ctm daily`: usage and cost per day.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{Cell, Color};
use ctm_analytics::{daily_report, DailyQuery, DailyReport};

use crate::cli::DailyArgs;
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, short, total_cell, usd, Format, NARROW};

pub fn run(ctx: &Context, args: &DailyArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let mut store = ctx.open_store()?;
    ctx.ingest(&mut store)?;
    let report = daily_report(
        store.conn(),
        &DailyQuery {
            zone: opts.zone,
            since: opts.since,
            until: opts.until,
            order: opts.order,
            filter: opts.filter,
        },
    )?;
    match Format::of(args.report.json, args.report.csv) {
        Format::Json => output::print_json(&report)?,
        Format::Csv => print_csv(&report, args.breakdown)?,
        Format::Table => print_table(&report, args.breakdown, output::width() < NARROW)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(r: &DailyReport, breakdown: bool, narrow: bool) -> Result<()> {
    if r.daily.is_empty() {
        println!("No usage in the store for this period ({}).", r.timezone);
        return Ok(());
    }
    let (mut t, fmt): (_, fn(u64) -> String) = if narrow {
        (
            output::table(
                &["Date", "Input", "Output", "Cache w/r", "Total", "Cost"],
                1,
            ),
            short,
        )
    } else {
        (
            output::table(
                &[
                    "Date",
                    "Models",
                    "Input",
                    "Output",
                    "Cache Create",
                    "Cache Read",
                    "Total Tokens",
                    "Cost (USD)",
                ],
                2,
            ),
            int,
        )
    };
    let row = |label: Cell,
               models: String,
               i: u64,
               o: u64,
               cw: u64,
               cr: u64,
               total: u64,
               cost: String|
     -> Vec<Cell> {
        if narrow {
            vec![
                label,
                Cell::new(fmt(i)),
                Cell::new(fmt(o)),
                Cell::new(format!("{}/{}", fmt(cw), fmt(cr))),
                Cell::new(fmt(total)),
                Cell::new(cost),
            ]
        } else {
            vec![
                label,
                Cell::new(models),
                Cell::new(fmt(i)),
                Cell::new(fmt(o)),
                Cell::new(fmt(cw)),
                Cell::new(fmt(cr)),
                Cell::new(fmt(total)),
                Cell::new(cost),
            ]
        }
    };
    for d in &r.daily {
        t.add_row(row(
            Cell::new(&d.date),
            d.models_used
                .iter()
                .map(|m| short_model(m))
                .collect::<Vec<_>>()
                .join(", "),
            d.input_tokens,
            d.output_tokens,
            d.cache_creation_tokens,
            d.cache_read_tokens,
            d.total_tokens,
            usd(d.total_cost, d.unpriced_responses == 0),
        ));
        if breakdown {
            for m in &d.model_breakdowns {
                t.add_row(row(
                    Cell::new(format!("  └ {}", short_model(&m.model_name))).fg(Color::DarkGrey),
                    String::new(),
                    m.input_tokens,
                    m.output_tokens,
                    m.cache_creation_tokens,
                    m.cache_read_tokens,
                    m.input_tokens
                        + m.output_tokens
                        + m.cache_creation_tokens
                        + m.cache_read_tokens,
                    usd(m.cost, m.priced),
                ));
            }
        }
    }
    let s = &r.totals;
    let mut totals = row(
        total_cell("Total"),
        String::new(),
        s.input_tokens,
        s.output_tokens,
        s.cache_creation_tokens,
        s.cache_read_tokens,
        s.total_tokens,
        usd(s.total_cost, s.unpriced_responses == 0),
    );
    for c in totals.iter_mut().skip(1) {
        *c = c.clone().fg(Color::Yellow);
    }
    t.add_row(totals);
    output::print_table(&t)?;
    if !r.unpriced_models.is_empty() {
        println!(
            "* leaves out {} responses of models without a price ({}): their tokens are counted, their cost is unknown.",
            int(s.unpriced_responses),
            r.unpriced_models.join(", ")
        );
    }
    Ok(())
}

/// "claude-sonnet-4-5-20250929" -> "sonnet-4-5" for table cells (JSON keeps full names).
pub(crate) fn short_model(m: &str) -> String {
    let m = m.strip_prefix("claude-").unwrap_or(m);
    match m.rsplit_once('-') {
        Some((head, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_owned()
        }
        _ => m.to_owned(),
    }
}

fn print_csv(r: &DailyReport, breakdown: bool) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
        "date",
        "model",
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
        "responses",
        "unpricedResponses",
    ])?;
    for d in &r.daily {
        w.write_record([
            d.date.clone(),
            d.models_used.join(" "),
            d.input_tokens.to_string(),
            d.output_tokens.to_string(),
            d.cache_creation_tokens.to_string(),
            d.cache_read_tokens.to_string(),
            d.total_tokens.to_string(),
            format!("{:.6}", d.total_cost),
            d.responses.to_string(),
            d.unpriced_responses.to_string(),
        ])?;
        if breakdown {
            for m in &d.model_breakdowns {
                w.write_record([
                    d.date.clone(),
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
                    format!("{:.6}", m.cost),
                    m.responses.to_string(),
                    if m.priced {
                        "0".into()
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

#[cfg(test)]
mod tests {
    use super::short_model;

    #[test]
    fn model_names_are_shortened_for_tables() {
        assert_eq!(short_model("claude-sonnet-4-5-20250929"), "sonnet-4-5");
        assert_eq!(short_model("claude-opus-4-6"), "opus-4-6");
        assert_eq!(short_model("unknown"), "unknown");
    }
}
