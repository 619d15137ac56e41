//! `ctm blocks`: the 5-hour usage windows, the active one, and the token limit.

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::blocks::{latest_block, LimitBasis, LimitLevel, LimitWarning};
use ctm_analytics::burn::RateBasis;
use ctm_analytics::{
    blocks_report, BlockRow, BlocksQuery, BlocksReport, OfficialLimits, TokenLimit,
};

use super::cells::{self, csv_usd};
use crate::cli::{BlocksArgs, TokenLimitArg};
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, num, text, usd, words, Csv, Out, ReportTable, RowStyle};

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
    super::render(&args.report, &r, print_csv, |r, out| {
        if r.blocks.is_empty() {
            let why = match latest_block(&store, q.now_ms, &opts.zone)? {
                Some(last) if args.active || args.recent => {
                    let what = if args.active {
                        format!("No active block at {}", cells::minute(&r.now))
                    } else {
                        "No block in the last 3 days".to_owned()
                    };
                    format!(
                        "{what} ({}); the last block started {} and its last response was at {}.",
                        r.timezone,
                        cells::minute(&last.row.start_time),
                        cells::minute(last.row.actual_end_time.as_deref().unwrap_or("")),
                    )
                }
                _ => super::nothing_to_show(ctx, &store, &opts)?,
            };
            out.line(why)?;
            return Ok(());
        }
        print_table(r, args, out)
    })
}

/// The blocks in time order: the start, the status and the cost always show, then the
/// tokens, the limit's share, the burn rate and the models as the width allows.
fn print_table(r: &BlocksReport, args: &BlocksArgs, out: &mut Out) -> Result<()> {
    let limit = r.token_limit;
    let mut columns = vec![
        text("Block Start", 0),
        text("Status", 0),
        words("Models", 4),
        num("Total Tokens", 1),
    ];
    if limit.is_some() {
        columns.push(num("% Limit", 1));
    }
    columns.extend([num("Cost (USD)", 0), num("Burn ($/h)", 2)]);
    let mut t = ReportTable::new(columns);
    let mut unpriced = 0;
    for b in &r.blocks {
        let mut row = vec![cells::minute(&b.start_time), status(b)];
        if b.is_gap {
            t.styled(RowStyle::Dim, row);
            continue;
        }
        unpriced += b.unpriced_responses;
        row.push(cells::models(&b.models));
        row.push(int(b.total_tokens));
        if let Some(limit) = limit {
            row.push(format!(
                "{:.1}%",
                b.total_tokens as f64 * 100.0 / limit as f64
            ));
        }
        row.push(t.cost(b.cost_usd, b.entries, b.unpriced_responses));
        row.push(
            b.burn_rate
                .as_ref()
                .map_or_else(String::new, |rate| usd(rate.cost_per_hour, true)),
        );
        t.styled(
            if b.is_active {
                RowStyle::Active
            } else {
                RowStyle::Plain
            },
            row,
        );
    }
    t.note_unpriced(unpriced, &[]);
    out.line(format_args!(
        "5-hour blocks ({}, now {})",
        r.timezone,
        cells::minute(&r.now)
    ))?;
    out.report(&t)?;
    if let Some(b) = r.blocks.iter().find(|b| b.is_active) {
        print_active(b, out)?;
    }
    if let Some(limit) = limit {
        let from = if matches!(args.token_limit, Some(TokenLimitArg::Max)) {
            " (the largest finished block)"
        } else {
            ""
        };
        out.line(format_args!("Token limit: {} tokens{from}.", int(limit)))?;
    } else if matches!(args.token_limit, Some(TokenLimitArg::Max)) {
        out.line("Token limit: none, there is no finished block to take the largest of.")?;
    }
    for w in &r.warnings {
        out.line(warning_text(w))?;
    }
    if let Some(line) = official_text(&r.official) {
        out.line(line)?;
    }
    out.wrapped(
        "Tokens count all four kinds (input, output, cache write, cache read), in the limit and \
         the projection too. Burn: an active block's last 60 minutes, a finished block's average \
         from its first to its last response (both over 5 minutes at least).",
        output::width(),
    )?;
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

fn print_active(b: &BlockRow, out: &mut Out) -> Result<()> {
    let complete = b.unpriced_responses == 0;
    let w = output::width();
    out.wrapped(
        &format!(
            "Active block: {} to {}, {} responses, {} tokens, {}.",
            cells::minute(&b.start_time),
            cells::minute(&b.end_time),
            int(b.entries),
            int(b.total_tokens),
            usd(b.cost_usd, complete)
        ),
        w,
    )?;
    if let (Some(rate), Some(p)) = (&b.burn_rate, &b.projection) {
        let left = cells::duration(p.remaining_minutes as f64);
        if rate.is_idle() {
            out.wrapped(
                &format!(
                    "Burn rate: 0, no response in the last 60 minutes; the block ends at what \
                     it used ({left} left)."
                ),
                w,
            )?;
        } else {
            let over = match rate.basis {
                RateBasis::TrailingHour => "the last 60 minutes".to_owned(),
                _ => format!(
                    "the {} since the block started",
                    cells::duration(rate.window_minutes)
                ),
            };
            out.wrapped(
                &format!(
                    "Burn rate over {over}: {} tokens/min, {}/h. At this rate the block ends at \
                     {} tokens, {} ({left} left).",
                    int(rate.tokens_per_minute.round() as u64),
                    usd(rate.cost_per_hour, true),
                    int(p.total_tokens),
                    usd(p.total_cost, complete),
                ),
                w,
            )?;
        }
    }
    if let Some(reset) = &b.usage_limit_reset_time {
        out.line(format_args!(
            "Usage limit reached; it resets at {}.",
            cells::minute(reset)
        ))?;
    }
    Ok(())
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

fn print_csv(r: &BlocksReport, w: &mut Csv) -> std::io::Result<()> {
    w.record([
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
        w.record([
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
    Ok(())
}
