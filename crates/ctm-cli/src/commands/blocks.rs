//! `ctm blocks`: the 5-hour usage windows, the active one, and the token limit.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{Cell, Color};
use ctm_analytics::blocks::{LimitBasis, LimitLevel, LimitWarning};
use ctm_analytics::{
    blocks_report, BlockRow, BlocksQuery, BlocksReport, OfficialLimits, TokenLimit,
};

use super::cells::{self, csv_usd};
use crate::cli::{BlocksArgs, TokenLimitArg};
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, short, usd, Format, NARROW};

pub fn run(ctx: &Context, args: &BlocksArgs) -> Result<ExitCode> {
    let opts = ReportOptions::from_args(&args.report)?;
    let store = ctx.report_store()?;
    let q = BlocksQuery {
        report: opts.query(),
        now_ms: opts.now.as_millisecond(),
        token_limit: args.token_limit.map(|l| match l {
            TokenLimitArg::Tokens(n) => TokenLimit::Tokens(n),
            TokenLimitArg::Max => TokenLimit::LargestPastBlock,
        }),
        active_only: args.active,
        recent_only: args.recent,
    };
    let r = blocks_report(&store, &q)?;
    opts.warn_if_pruned(&store, false)?;
    match Format::of(args.report.json, args.report.csv) {
        Format::Json => output::print_json(&r)?,
        Format::Csv => print_csv(&r)?,
        Format::Table => print_table(&r, args, output::width() < NARROW)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(r: &BlocksReport, args: &BlocksArgs, narrow: bool) -> Result<()> {
    if r.blocks.is_empty() {
        if args.active {
            println!(
                "No active block at {} ({}).",
                cells::minute(&r.now),
                r.timezone
            );
        } else {
            println!("No usage in the store for this period ({}).", r.timezone);
        }
        return Ok(());
    }
    let fmt: fn(u64) -> String = if narrow { short } else { int };
    let limit = r.token_limit;
    // Responses are in the JSON; the table keeps what fits 120 columns with a limit.
    let mut headers = vec!["Block Start", "Status"];
    if !narrow {
        headers.push("Models");
    }
    headers.push("Total Tokens");
    if limit.is_some() {
        headers.push("% Limit");
    }
    headers.push("Cost (USD)");
    if !narrow {
        headers.push("Burn ($/h)");
    }
    let mut t = output::table(&headers, if narrow { 2 } else { 3 });
    for b in &r.blocks {
        let mut row = vec![
            Cell::new(cells::minute(&b.start_time)),
            Cell::new(status(b)),
        ];
        if b.is_gap {
            row.resize(headers.len(), Cell::new(""));
            t.add_row(row.into_iter().map(|c| c.fg(Color::DarkGrey)));
            continue;
        }
        if !narrow {
            row.push(Cell::new(cells::models(&b.models)));
        }
        row.push(Cell::new(fmt(b.total_tokens)));
        if let Some(limit) = limit {
            row.push(Cell::new(format!(
                "{:.1}%",
                b.total_tokens as f64 * 100.0 / limit as f64
            )));
        }
        row.push(Cell::new(usd(b.cost_usd, b.unpriced_responses == 0)));
        if !narrow {
            row.push(Cell::new(
                b.burn_rate
                    .as_ref()
                    .map_or_else(String::new, |rate| usd(rate.cost_per_hour, true)),
            ));
        }
        let row: Vec<Cell> = if b.is_active {
            row.into_iter().map(|c| c.fg(Color::Green)).collect()
        } else {
            row
        };
        t.add_row(row);
    }
    println!(
        "5-hour blocks ({}, now {})",
        r.timezone,
        cells::minute(&r.now)
    );
    output::print_table(&t)?;
    if let Some(b) = r.blocks.iter().find(|b| b.is_active) {
        print_active(b);
    }
    if let Some(limit) = limit {
        let from = if matches!(args.token_limit, Some(TokenLimitArg::Max)) {
            " (the largest finished block)"
        } else {
            ""
        };
        println!("Token limit: {} tokens{from}.", int(limit));
    } else if matches!(args.token_limit, Some(TokenLimitArg::Max)) {
        println!("Token limit: none, there is no finished block to take the largest of.");
    }
    for w in &r.warnings {
        println!("{}", warning_text(w));
    }
    if let Some(line) = official_text(&r.official) {
        println!("{line}");
    }
    Ok(())
}

/// Claude's own figures, labelled as such (everything else here is an estimate).
fn official_text(o: &OfficialLimits) -> Option<String> {
    let parts: Vec<String> = [("5-hour", &o.five_hour), ("7-day", &o.seven_day)]
        .into_iter()
        .filter_map(|(name, l)| {
            let l = l.as_ref()?;
            let when = match (&l.resets_at, l.expired) {
                (_, true) => ", window over since".to_owned(),
                (Some(r), false) => format!(", resets {}", cells::minute(r)),
                (None, false) => String::new(),
            };
            Some(format!("{name} {:.0}% used{when}", l.used_percentage))
        })
        .collect();
    (!parts.is_empty()).then(|| format!("Official (Claude): {}.", parts.join("; ")))
}

/// "active, 2h 10m left", "gap, 7h 00m", or how long the block was in use.
fn status(b: &BlockRow) -> String {
    let minutes = |from: i64, to: i64| cells::duration((to - from) as f64 / 60_000.0);
    if b.is_gap {
        return format!("gap, {}", minutes(b.start_ms, b.end_ms));
    }
    let mut s = if b.is_active {
        match &b.projection {
            Some(p) => format!(
                "active, {} left",
                cells::duration(p.remaining_minutes as f64)
            ),
            None => "active".to_owned(),
        }
    } else {
        // How long the block was in use: from its start to its last response.
        minutes(b.start_ms, b.actual_end_ms.unwrap_or(b.start_ms))
    };
    if let Some(reset) = &b.usage_limit_reset_time {
        s.push_str(&format!("; limit reset {}", cells::minute(reset)));
    }
    s
}

fn print_active(b: &BlockRow) {
    println!(
        "Active block: {} to {}, {} responses, {} tokens, {}.",
        cells::minute(&b.start_time),
        cells::minute(&b.end_time),
        int(b.entries),
        int(b.total_tokens),
        usd(b.cost_usd, b.unpriced_responses == 0)
    );
    match (&b.burn_rate, &b.projection) {
        (Some(rate), Some(p)) => println!(
            "Burn rate: {} tokens/min, {}/h. At this rate the block ends at {} tokens, {} ({} left).",
            int(rate.tokens_per_minute.round() as u64),
            usd(rate.cost_per_hour, true),
            int(p.total_tokens),
            usd(p.total_cost, b.unpriced_responses == 0),
            cells::duration(p.remaining_minutes as f64)
        ),
        _ => println!("Burn rate: not measurable yet (one response so far)."),
    }
    if let Some(reset) = &b.usage_limit_reset_time {
        println!(
            "Usage limit reached; it resets at {}.",
            cells::minute(reset)
        );
    }
}

fn warning_text(w: &LimitWarning) -> String {
    let limit = format!(
        "the {}-token limit ({} tokens)",
        int(w.limit),
        int(w.tokens)
    );
    match (w.basis, w.level) {
        (LimitBasis::Current, LimitLevel::Exceeds) => {
            format!(
                "limit exceeded: the active block has used {:.1}% of {limit}.",
                w.percent
            )
        }
        (LimitBasis::Current, _) => {
            format!(
                "warning: the active block has used {:.1}% of {limit}.",
                w.percent
            )
        }
        (LimitBasis::Projected, _) => format!(
            "warning: at this rate the active block reaches {:.1}% of {limit} by its end.",
            w.percent
        ),
    }
}

fn print_csv(r: &BlocksReport) -> Result<()> {
    let mut w = output::csv_writer();
    w.write_record([
        "id",
        "startTime",
        "endTime",
        "actualEndTime",
        "isActive",
        "isGap",
        "entries",
        "inputTokens",
        "outputTokens",
        "cacheCreationInputTokens",
        "cacheReadInputTokens",
        "totalTokens",
        "costUSD",
        "models",
        "tokensPerMinute",
        "costPerHour",
        "projectedTokens",
        "projectedCost",
        "remainingMinutes",
        "usageLimitResetTime",
    ])?;
    for b in &r.blocks {
        let c = &b.token_counts;
        let rate = b.burn_rate.as_ref();
        let p = b.projection.as_ref();
        w.write_record([
            b.id.clone(),
            b.start_time.clone(),
            b.end_time.clone(),
            b.actual_end_time.clone().unwrap_or_default(),
            b.is_active.to_string(),
            b.is_gap.to_string(),
            b.entries.to_string(),
            c.input_tokens.to_string(),
            c.output_tokens.to_string(),
            c.cache_creation_input_tokens.to_string(),
            c.cache_read_input_tokens.to_string(),
            b.total_tokens.to_string(),
            csv_usd(b.cost_usd),
            b.models.join(" "),
            rate.map_or_else(String::new, |r| format!("{:.3}", r.tokens_per_minute)),
            rate.map_or_else(String::new, |r| csv_usd(r.cost_per_hour)),
            p.map_or_else(String::new, |p| p.total_tokens.to_string()),
            p.map_or_else(String::new, |p| csv_usd(p.total_cost)),
            p.map_or_else(String::new, |p| p.remaining_minutes.to_string()),
            b.usage_limit_reset_time.clone().unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
