//! The short text beside each tool's value, for clients that show text: the headline
//! figures and a few rows, written with the same helpers as the CLI's tables. The value
//! (`structuredContent`) holds everything.

use std::fmt::Write as _;

use ctm_analytics::blocks::{BlockRow, BlocksReport, LimitBasis, LimitLevel};
use ctm_analytics::pricing::{PricingReport, Unpriced};
use ctm_analytics::text::{duration, int, short_model, usd};
use ctm_analytics::{
    DailyReport, OfficialLimits, SessionDetail, SessionReport, SessionRow, Totals,
};

use crate::answer::UsageSummary;

/// Rows listed before the text says how many more the value holds.
const MAX_ROWS: usize = 12;

fn cost(t: &Totals) -> String {
    usd(t.total_cost, t.unpriced_responses == 0)
}

fn totals(t: &Totals) -> String {
    format!(
        "{}, {} tokens ({} in, {} out, {} cache write, {} cache read), {} responses",
        cost(t),
        int(t.total_tokens),
        int(t.input_tokens),
        int(t.output_tokens),
        int(t.cache_creation_tokens),
        int(t.cache_read_tokens),
        int(t.responses)
    )
}

fn more(out: &mut String, shown: usize, all: usize, what: &str) {
    if all > shown {
        let _ = write!(
            out,
            "\n... {} more {what} in the structured result",
            all - shown
        );
    }
}

fn unpriced(out: &mut String, models: &[String]) {
    if !models.is_empty() {
        let _ = write!(
            out,
            "\n* Models without a price (tokens counted, cost unknown): {}",
            models.join(", ")
        );
    }
}

pub fn daily(r: &DailyReport, breakdown: bool) -> String {
    // The latest days are listed, whichever order the report is in.
    let newest_first = r.daily.len() > 1 && r.daily[0].date > r.daily[r.daily.len() - 1].date;
    let (oldest, newest) = match newest_first {
        true => (r.daily.last(), r.daily.first()),
        false => (r.daily.first(), r.daily.last()),
    };
    let mut out = match (oldest, newest) {
        (Some(first), Some(last)) => format!(
            "Usage {} to {} ({}): {}.",
            first.date,
            last.date,
            r.timezone,
            totals(&r.totals)
        ),
        _ => format!("No usage in the store for these days ({}).", r.timezone),
    };
    let skip = if newest_first {
        0
    } else {
        r.daily.len().saturating_sub(MAX_ROWS)
    };
    for d in r.daily.iter().skip(skip).take(MAX_ROWS) {
        let u = &d.usage;
        let _ = write!(
            out,
            "\n{}: {}, {} tokens",
            d.date,
            usd(u.total_cost, u.unpriced_responses == 0),
            int(u.total_tokens)
        );
        if breakdown {
            for m in &u.model_breakdowns {
                let _ = write!(
                    out,
                    "\n  {}: {}, {} tokens",
                    short_model(&m.model_name),
                    usd(m.cost, m.priced),
                    int(m.input_tokens
                        + m.output_tokens
                        + m.cache_creation_tokens
                        + m.cache_read_tokens)
                );
            }
        }
    }
    more(&mut out, MAX_ROWS, r.daily.len(), "earlier days");
    unpriced(&mut out, &r.unpriced_models);
    out
}

fn session_line(s: &SessionRow) -> String {
    format!(
        "{} {}: {}, {} tokens, {} responses, {} to {}{}",
        s.session_id,
        s.project_path.as_deref().unwrap_or("(no project)"),
        usd(s.total_cost, s.unpriced_responses == 0),
        int(s.total_tokens),
        int(s.responses),
        s.first_activity,
        s.last_activity,
        s.main_model
            .as_deref()
            .map(|m| format!(", mostly {}", short_model(m)))
            .unwrap_or_default()
    )
}

pub fn sessions(r: &SessionReport, matching: usize) -> String {
    let mut out = if matching == 0 {
        format!("No sessions in the store for this period ({}).", r.timezone)
    } else {
        format!(
            "{} sessions ({}): {}.",
            int(matching as u64),
            r.timezone,
            totals(&r.totals)
        )
    };
    for s in r.sessions.iter().take(MAX_ROWS) {
        let _ = write!(out, "\n{}", session_line(s));
    }
    more(
        &mut out,
        MAX_ROWS.min(r.sessions.len()),
        matching,
        "sessions",
    );
    unpriced(&mut out, &r.unpriced_models);
    out
}

pub fn session(d: &SessionDetail, responses: usize) -> String {
    let s = &d.session;
    let mut out = format!(
        "Session {} ({}).\nCache efficiency {:.0}%; {} responses in all.",
        session_line(s),
        d.timezone,
        s.efficiency_score * 100.0,
        int(responses as u64)
    );
    if let Some(last) = d.responses.last() {
        let _ = write!(
            out,
            "\nLast listed response {}: {} ({}), cumulative {}.",
            last.timestamp,
            usd(last.cost, last.priced),
            short_model(&last.model),
            usd(last.cumulative_cost, true)
        );
    }
    out
}

fn block_line(b: &BlockRow) -> String {
    let mut line = format!(
        "{} to {}: {}, {} tokens, {} responses",
        b.start_time,
        b.end_time,
        usd(b.cost_usd, b.unpriced_responses == 0),
        int(b.total_tokens),
        int(b.entries)
    );
    if let Some(rate) = &b.burn_rate {
        let _ = write!(
            line,
            ", burning {} tokens/min ({}/h)",
            int(rate.tokens_per_minute.round() as u64),
            usd(rate.cost_per_hour, true)
        );
    }
    line
}

fn active_block(out: &mut String, b: &BlockRow) {
    let _ = write!(out, "\nActive block {}.", block_line(b));
    if let Some(p) = &b.projection {
        let _ = write!(
            out,
            "\nProjected by its end (estimate): {} tokens, {}; {} left.",
            int(p.total_tokens),
            usd(p.total_cost, b.unpriced_responses == 0),
            duration(p.remaining_minutes as f64)
        );
    }
    if let Some(s) = &b.token_limit_status {
        let _ = write!(
            out,
            "\nToken limit {} (estimate): {:.0}% projected, {}.",
            int(s.limit),
            s.percent_used,
            level(s.status)
        );
    }
}

fn level(l: LimitLevel) -> &'static str {
    match l {
        LimitLevel::Ok => "under 80%",
        LimitLevel::Warning => "80% or more",
        LimitLevel::Exceeds => "at or over the limit",
    }
}

fn official(out: &mut String, o: &OfficialLimits) {
    for l in [&o.five_hour, &o.seven_day].into_iter().flatten() {
        let window = match l.window.key() {
            "five_hour" => "5-hour",
            _ => "7-day",
        };
        let _ = write!(
            out,
            "\nOfficial {window} usage: {:.0}%{}{}.",
            l.used_percentage,
            l.resets_at
                .as_deref()
                .map(|r| format!(", resets {r}"))
                .unwrap_or_default(),
            if l.expired {
                " (that window is over)"
            } else {
                ""
            }
        );
    }
}

pub fn blocks(r: &BlocksReport, active_only: bool) -> String {
    let blocks: Vec<&BlockRow> = r.blocks.iter().filter(|b| !b.is_gap).collect();
    let mut out = match blocks.iter().find(|b| b.is_active) {
        Some(_) => format!("5-hour blocks at {} ({}).", r.now, r.timezone),
        None => format!("No active 5-hour block at {} ({}).", r.now, r.timezone),
    };
    if let Some(b) = blocks.iter().find(|b| b.is_active) {
        active_block(&mut out, b);
    }
    if !active_only {
        let past: Vec<&&BlockRow> = blocks.iter().filter(|b| !b.is_active).collect();
        for b in past.iter().rev().take(MAX_ROWS) {
            let _ = write!(out, "\n{}", block_line(b));
        }
        more(&mut out, MAX_ROWS, past.len(), "blocks");
    }
    for w in &r.warnings {
        let _ = write!(
            out,
            "\nWarning ({}): {} tokens {} are {:.0}% of the {} token limit.",
            level(w.level),
            int(w.tokens),
            match w.basis {
                LimitBasis::Current => "used",
                LimitBasis::Projected => "projected",
            },
            w.percent,
            int(w.limit)
        );
    }
    official(&mut out, &r.official);
    out
}

pub fn summary(s: &UsageSummary) -> String {
    let o = &s.overview;
    let period = |name: &str, p: &ctm_analytics::PeriodTotals| {
        format!(
            "\n{name} ({} to {}): {}, {} tokens, {} responses.",
            p.from,
            p.to,
            cost(&p.totals),
            int(p.totals.total_tokens),
            int(p.totals.responses)
        )
    };
    let mut out = format!("Usage at {} ({}).", o.now, o.timezone);
    out.push_str(&period("Today", &o.today));
    out.push_str(&period("This week", &o.this_week));
    out.push_str(&period("This month", &o.this_month));
    match &o.current_block {
        Some(b) => active_block(&mut out, b),
        None => out.push_str("\nNo active 5-hour block."),
    }
    official(&mut out, &o.official_limits);
    if let Some(c) = &s.current_session {
        match &c.usage {
            Some(u) => {
                let _ = write!(
                    out,
                    "\nThis session ({}): {}, {} tokens, {} responses; last context {} tokens.",
                    c.session_id,
                    usd(u.total_cost, u.unpriced_responses == 0),
                    int(u.total_tokens),
                    int(u.responses),
                    int(c.last_context_tokens)
                );
            }
            None => {
                let _ = write!(
                    out,
                    "\nThis session ({}) has no response in the store yet.",
                    c.session_id
                );
            }
        }
    }
    if let Some(models) = unpriced_list(&s.unpriced_models_in_store) {
        let _ = write!(
            out,
            "\n* Models without a price: {models} (tokens counted, cost unknown)."
        );
    }
    out
}

pub fn pricing(r: &PricingReport) -> String {
    let mut out = format!(
        "Price table {} (as of {}, {}{}), USD per million tokens in force on {} (UTC).",
        r.version,
        r.as_of,
        r.origin,
        if r.overrides { ", with overrides" } else { "" },
        r.today
    );
    for m in r.models.iter().take(MAX_ROWS) {
        let t = &m.today;
        let _ = write!(
            out,
            "\n{}: input {}, output {}, cache write {} (5m) / {} (1h), cache read {}",
            m.id, t.input, t.output, t.cache_write_5m, t.cache_write_1h, t.cache_read
        );
        if let Some(f) = m.fast_multiplier_today {
            let _ = write!(out, "; fast mode x{f}");
        }
        if !m.bands.is_empty() || !m.dated.is_empty() {
            let _ = write!(out, "; see the value for its dated and banded rates");
        }
    }
    more(&mut out, MAX_ROWS, r.models.len(), "models");
    if let Some(models) = unpriced_list(&r.unpriced_models_in_store) {
        let _ = write!(out, "\n* Models in the store without a price: {models}.");
    }
    out
}

/// The store's unpriced models with their responses, `None` when there is none.
fn unpriced_list(models: &[Unpriced]) -> Option<String> {
    (!models.is_empty()).then(|| {
        models
            .iter()
            .map(|u| format!("{} ({} responses)", u.model, int(u.responses)))
            .collect::<Vec<_>>()
            .join(", ")
    })
}
