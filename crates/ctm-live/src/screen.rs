//! The monitor's screen: a pure function of a [`LiveView`] (and a status line) to
//! ratatui widgets, so it can be drawn to a terminal, to text for `--once`, or to a
//! test buffer under a fixed clock.

use ctm_analytics::burn::RateBasis;
use ctm_analytics::live::{LiveBlock, Meter, MeterKind, MeterLevel, PeriodTotals};
use ctm_analytics::text::{self, duration, int, short, short_model, usd};
use ctm_analytics::{LiveView, OfficialLimit};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

/// Below this width the sections are stacked in one column.
pub const WIDE: u16 = 100;
/// Sessions and models listed at most.
const LIST_ROWS: usize = 5;

/// One frame of the monitor.
pub struct Screen<'a> {
    pub view: &'a LiveView,
    /// The last line: what the follower did last, or a problem.
    pub status: &'a str,
    /// Show the keys (not in a `--once` snapshot).
    pub interactive: bool,
}

impl Screen<'_> {
    /// Rows the screen needs at this width to show everything.
    pub fn height(&self, width: u16) -> u16 {
        let (models, sessions) = self.list_rows();
        let sections = if width >= WIDE {
            BLOCK_HEIGHT + OFFICIAL_HEIGHT.max(TOTALS_HEIGHT) + models.max(sessions) + 2
        } else {
            BLOCK_HEIGHT + OFFICIAL_HEIGHT + TOTALS_HEIGHT + models + 2 + sessions + 2
        };
        1 + sections + 1
    }

    /// Rows of the models and the sessions lists (at least one each, for "none").
    fn list_rows(&self) -> (u16, u16) {
        let v = self.view;
        let models = match (&v.block, &v.last_block) {
            (Some(b), _) => b.models.len(),
            (None, Some(last)) => last.models.len(),
            (None, None) => 0,
        };
        let rows = |n: usize| n.clamp(1, LIST_ROWS) as u16;
        (rows(models), rows(self.view.recent_sessions.len()))
    }
}

/// The block section: the window, three meters, the burn rate and the cache line.
const BLOCK_HEIGHT: u16 = 8;
/// The official limits and the totals, side by side when wide.
const OFFICIAL_HEIGHT: u16 = 4;
const TOTALS_HEIGHT: u16 = 5;

impl Widget for Screen<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let wide = area.width >= WIDE;
        let (models_rows, sessions_rows) = self.list_rows();
        let [header, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        self.header(wide).render(header, buf);
        Paragraph::new(Line::from(Span::styled(
            self.status.to_owned(),
            Style::new().fg(Color::DarkGray),
        )))
        .render(footer, buf);

        let v = self.view;
        if wide {
            let [block, middle, bottom] = Layout::vertical([
                Constraint::Length(BLOCK_HEIGHT),
                Constraint::Length(OFFICIAL_HEIGHT.max(TOTALS_HEIGHT)),
                Constraint::Length(models_rows.max(sessions_rows) + 2),
            ])
            .areas(body);
            block_section(v, block.width).render(block, buf);
            let [left, right] = halves(middle);
            official_section(v).render(left, buf);
            totals_section(v).render(right, buf);
            let [left, right] = halves(bottom);
            models_section(v, left.width).render(left, buf);
            sessions_section(v, right.width).render(right, buf);
        } else {
            let [block, official, totals, models, sessions] = Layout::vertical([
                Constraint::Length(BLOCK_HEIGHT),
                Constraint::Length(OFFICIAL_HEIGHT),
                Constraint::Length(TOTALS_HEIGHT),
                Constraint::Length(models_rows + 2),
                Constraint::Length(sessions_rows + 2),
            ])
            .areas(body);
            block_section(v, block.width).render(block, buf);
            official_section(v).render(official, buf);
            totals_section(v).render(totals, buf);
            models_section(v, models.width).render(models, buf);
            sessions_section(v, sessions.width).render(sessions, buf);
        }
    }
}

impl Screen<'_> {
    fn header(&self, wide: bool) -> Paragraph<'static> {
        let v = self.view;
        let mut spans = vec![
            Span::styled("ctm live", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!(
                " · plan {} (estimate) · {} {}",
                v.plan.plan.name(),
                minute(&v.now),
                v.timezone
            )),
        ];
        if self.interactive {
            spans.push(Span::styled(
                if wide {
                    "   q quit · p plan · r refresh"
                } else {
                    "   q p r"
                },
                Style::new().fg(Color::DarkGray),
            ));
        }
        Paragraph::new(Line::from(spans))
    }
}

fn halves(area: Rect) -> [Rect; 2] {
    Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
}

fn section(title: &str) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
}

fn level_color(level: MeterLevel) -> Color {
    match level {
        MeterLevel::Ok => Color::Green,
        MeterLevel::Elevated => Color::Yellow,
        MeterLevel::High => Color::Red,
    }
}

/// A bar of `width` cells filled to `share` (capped at full).
fn bar(share: f64, width: usize, color: Color) -> Vec<Span<'static>> {
    let filled = ((share.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    vec![
        Span::styled("█".repeat(filled), Style::new().fg(color)),
        Span::styled("░".repeat(width - filled), Style::new().fg(Color::DarkGray)),
    ]
}

fn bar_width(area_width: u16) -> usize {
    if area_width >= WIDE {
        24
    } else {
        10
    }
}

fn block_section(v: &LiveView, width: u16) -> Paragraph<'static> {
    let w = bar_width(width);
    let Some(b) = &v.block else {
        return idle_section(v);
    };
    let row = &b.block;
    let elapsed_share = b.elapsed_minutes / 300.0;
    let mut time = vec![Span::raw(format!(
        "{:<10}",
        if width >= WIDE { "Window" } else { "Time" }
    ))];
    time.extend(bar(elapsed_share, w, Color::Cyan));
    time.push(Span::raw(if width >= WIDE {
        format!(
            " started {} · resets {} · {} left",
            when(&row.start_time, &v.now),
            when(&row.end_time, &v.now),
            duration(b.remaining_minutes)
        )
    } else {
        format!(
            " {} left, resets {}",
            duration(b.remaining_minutes),
            when(&row.end_time, &v.now)
        )
    }));
    let mut lines = vec![Line::from(time)];
    for m in &b.meters {
        lines.push(meter_line(m, w, width >= WIDE, &v.now));
    }
    lines.push(burn_line(b, width, &v.now));
    lines.push(cache_line(b, width));
    Paragraph::new(lines).block(section(&format!(
        "Current 5-hour block (estimate, {} limits)",
        v.plan.plan.name()
    )))
}

/// No active block: when the last one was and when usage last happened, and the limits
/// the next block will be measured against.
fn idle_section(v: &LiveView) -> Paragraph<'static> {
    let mut lines = vec![Line::raw("No active block: the next response starts one.")];
    match &v.last_block {
        Some(last) => {
            let at = last.actual_end_time.as_deref().unwrap_or(&last.start_time);
            let ago = (v.now_ms - last.actual_end_ms.unwrap_or(last.start_ms)) as f64 / 60_000.0;
            lines.push(Line::raw(format!(
                "Last usage {} ({} ago).",
                minute(at),
                duration(ago)
            )));
            let tc = &last.token_counts;
            lines.push(Line::raw(format!(
                "Last block {} to {}: {}, {} input+output tokens, {} cache tokens, {} responses.",
                minute(&last.start_time),
                when(&last.end_time, &last.start_time),
                usd(last.cost_usd, last.unpriced_responses == 0),
                int(tc.input_tokens + tc.output_tokens),
                short(tc.cache_creation_input_tokens + tc.cache_read_input_tokens),
                int(last.entries)
            )));
        }
        None => lines.push(Line::raw("No usage in the store yet.")),
    }
    lines.push(Line::raw(format!(
        "Limits per block ({}): {} input+output tokens, {}, {} messages.",
        v.plan.basis,
        int(v.plan.tokens),
        usd(v.plan.cost_usd, true),
        int(v.plan.messages)
    )));
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(section("Current 5-hour block (estimate)"))
}

fn meter_line(m: &Meter, w: usize, wide: bool, now: &str) -> Line<'static> {
    let (label, fmt, unit): (&str, fn(f64) -> String, &str) = match m.kind {
        MeterKind::Tokens => ("Tokens", |x| int(x.round() as u64), " in+out"),
        MeterKind::Cost => ("Cost", |x| usd(x, true), ""),
        MeterKind::Messages => ("Messages", |x| int(x.round() as u64), ""),
    };
    let color = level_color(m.level);
    let mut spans = vec![Span::raw(format!("{label:<10}"))];
    spans.extend(bar(m.share, w, color));
    spans.push(Span::styled(
        format!(" {:>4.0}%", m.share * 100.0),
        Style::new().fg(color),
    ));
    spans.push(Span::raw(format!(
        " {} / {}{unit}",
        fmt(m.used),
        fmt(m.limit)
    )));
    let mut tail = vec![format!("at reset {}", fmt(m.projected_at_reset))];
    match (&m.limit_reached_at, m.used >= m.limit) {
        (Some(t), true) => tail.push(format!("limit passed {}", when(t, now))),
        (Some(t), false) => tail.push(format!("limit at {}", when(t, now))),
        (None, _) => tail.push("limit not before reset".into()),
    }
    if !wide {
        // One short figure: when the limit is reached, else where the block ends.
        tail = match &m.limit_reached_at {
            Some(t) if m.used >= m.limit => vec![format!("passed {}", when(t, now))],
            Some(t) => vec![format!("limit {}", when(t, now))],
            None => vec![format!("→ {}", fmt(m.projected_at_reset))],
        };
    }
    if !tail.is_empty() {
        let text = tail.join(" · ");
        spans.push(Span::styled(
            format!("  {text}"),
            Style::new().fg(Color::DarkGray),
        ));
    }
    Line::from(spans)
}

/// The burn rate in the meters' units, over what it was measured ([`ctm_analytics::burn`]).
fn burn_line(b: &LiveBlock, width: u16, now: &str) -> Line<'static> {
    let wide = width >= WIDE;
    let mut spans = vec![Span::raw(format!("{:<10}", "Burn"))];
    match &b.block.burn_rate {
        Some(r) if r.is_idle() => {
            let last = b.block.actual_end_time.as_deref().unwrap_or(now);
            spans.push(Span::raw(if wide {
                format!("0: no response since {} (an hour or more)", when(last, now))
            } else {
                format!("0: none since {}", when(last, now))
            }));
        }
        Some(r) => {
            let over = match r.basis {
                RateBasis::TrailingHour => "last 60 min".to_owned(),
                _ => format!("last {}", duration(r.window_minutes)),
            };
            spans.push(Span::raw(if wide {
                format!(
                    "{} in+out tokens/min · {}/h · {} msgs/h ({over})",
                    int(r.input_output_tokens_per_minute.round() as u64),
                    usd(r.cost_per_hour, true),
                    int(r.responses_per_hour.round() as u64),
                )
            } else {
                format!(
                    "{} in+out/min · {}/h",
                    int(r.input_output_tokens_per_minute.round() as u64),
                    usd(r.cost_per_hour, true),
                )
            }));
        }
        None => {}
    }
    let cells = if wide { 30 } else { 12 };
    spans.push(Span::raw("  "));
    spans.push(Span::styled(
        sparkline(&b.input_output_tokens_per_minute_last_hour, cells),
        Style::new().fg(Color::Cyan),
    ));
    Line::from(spans)
}

/// Cache tokens, which the plans' token limits leave out, on their own line.
fn cache_line(b: &LiveBlock, width: u16) -> Line<'static> {
    let c = &b.block.token_counts;
    let mut text = format!(
        "{:<10}{} read · {} written",
        "Cache",
        int(c.cache_read_input_tokens),
        int(c.cache_creation_input_tokens)
    );
    if width >= WIDE {
        text.push_str(" this block (tokens not in the plans' limit)");
    }
    Line::styled(text, Style::new().fg(Color::DarkGray))
}

/// `values` (oldest first) summed into at most `cells` buckets, as `ctm trend`'s sparkline.
pub fn sparkline(values: &[u64], cells: usize) -> String {
    if values.is_empty() || cells == 0 {
        return String::new();
    }
    let per = values.len().div_ceil(cells);
    let buckets: Vec<f64> = values
        .chunks(per)
        .map(|c| c.iter().sum::<u64>() as f64)
        .collect();
    text::sparkline(&buckets)
}

fn official_section(v: &LiveView) -> Paragraph<'static> {
    let line = |name: &str, l: Option<&OfficialLimit>| -> Line<'static> {
        match l {
            None => Line::styled(
                format!("{name:<7} not reported yet (see ctm statusline)"),
                Style::new().fg(Color::DarkGray),
            ),
            Some(l) => {
                let share = l.used_percentage / 100.0;
                let color = level_color(MeterLevel::of(share));
                let mut spans = vec![
                    Span::raw(format!("{name:<7} ")),
                    Span::styled(
                        format!("{:.0}% used", l.used_percentage),
                        Style::new().fg(color),
                    ),
                ];
                if let Some(r) = &l.resets_at {
                    spans.push(Span::raw(format!(" · resets {}", when(r, &v.now))));
                }
                if l.expired {
                    spans.push(Span::styled(
                        " (window over since)",
                        Style::new().fg(Color::DarkGray),
                    ));
                } else {
                    spans.push(Span::styled(
                        format!(" · seen {}", when(&l.seen_at, &v.now)),
                        Style::new().fg(Color::DarkGray),
                    ));
                }
                Line::from(spans)
            }
        }
    };
    Paragraph::new(vec![
        line("5-hour", v.official.five_hour.as_ref()),
        line("7-day", v.official.seven_day.as_ref()),
    ])
    .block(section("Official limits (Claude)"))
}

/// Today and this week, tokens split as on the rest of the screen: input+output (the
/// plans' unit) apart from cache tokens.
fn totals_section(v: &LiveView) -> Paragraph<'static> {
    let row = |name: &str, cost: String, io: String, cache: String, msgs: String| {
        format!("{name:<10}{cost:>9} {io:>8} {cache:>8} {msgs:>6}")
    };
    let line = |name: &str, p: &PeriodTotals| {
        let t = &p.totals;
        Line::raw(row(
            name,
            usd(t.total_cost, t.unpriced_responses == 0),
            short(t.input_tokens + t.output_tokens),
            short(t.cache_creation_tokens + t.cache_read_tokens),
            int(t.responses),
        ))
    };
    Paragraph::new(vec![
        Line::styled(
            row(
                "",
                "cost".into(),
                "in+out".into(),
                "cache".into(),
                "msgs".into(),
            ),
            Style::new().fg(Color::DarkGray),
        ),
        line("Today", &v.today),
        line("This week", &v.this_week),
    ])
    .block(section(&format!(
        "Totals (estimate, week from {})",
        &v.this_week.from
    )))
}

/// The active block's models with their cost and share of it; idle, the last block's
/// model names.
fn models_section(v: &LiveView, width: u16) -> Paragraph<'static> {
    let dim = Style::new().fg(Color::DarkGray);
    let (rows, title): (Vec<Line>, &str) = match (&v.block, &v.last_block) {
        (Some(b), _) if !b.models.is_empty() => (
            b.models
                .iter()
                .take(LIST_ROWS)
                .map(|m| {
                    let name = short_model(&m.model);
                    let cost = usd(m.total_cost, m.priced);
                    if width >= 44 {
                        let share = if m.priced {
                            format!("{:>5.1}% of cost", m.cost_share * 100.0)
                        } else {
                            "no price".to_owned()
                        };
                        Line::raw(format!("{name:<18} {share:>13} {cost:>10}"))
                    } else {
                        Line::raw(format!("{name:<14} {cost:>9}"))
                    }
                })
                .collect(),
            "Models in this block",
        ),
        (None, Some(last)) if !last.models.is_empty() => (
            last.models
                .iter()
                .take(LIST_ROWS)
                .map(|m| Line::styled(short_model(m), dim))
                .collect(),
            "Models in the last block",
        ),
        _ => (
            vec![Line::styled("no responses in an active block", dim)],
            "Models in this block",
        ),
    };
    Paragraph::new(rows).block(section(title))
}

fn sessions_section(v: &LiveView, width: u16) -> Paragraph<'static> {
    let rows: Vec<Line> = if v.recent_sessions.is_empty() {
        vec![Line::styled(
            "no sessions today or yesterday",
            Style::new().fg(Color::DarkGray),
        )]
    } else {
        v.recent_sessions
            .iter()
            .take(LIST_ROWS)
            .map(|s| {
                let id: String = s.session_id.chars().take(8).collect();
                let project = s
                    .project_path
                    .as_deref()
                    .and_then(|p| p.rsplit('/').find(|x| !x.is_empty()))
                    .unwrap_or("-");
                let project: String = project.chars().take(16).collect();
                let cost = usd(s.total_cost, s.unpriced_responses == 0);
                if width >= 44 {
                    Line::raw(format!(
                        "{id}  {project:<16} {:>11} {cost:>9}",
                        when(&s.last_activity, &v.now)
                    ))
                } else {
                    Line::raw(format!("{id} {project:<12.12} {cost:>9}"))
                }
            })
            .collect()
    };
    Paragraph::new(rows).block(section("Recent sessions"))
}

/// "2026-02-12T21:30:00.000+00:00" -> "2026-02-12 21:30".
fn minute(rfc3339: &str) -> String {
    let (date, rest) = rfc3339.split_once('T').unwrap_or((rfc3339, ""));
    format!("{date} {}", rest.get(..5).unwrap_or(rest))
}

/// A time as "21:30" on the same day as `now`, else "02-13 01:00".
fn when(rfc3339: &str, now: &str) -> String {
    let same_day = rfc3339.get(..10).is_some() && rfc3339.get(..10) == now.get(..10);
    let hm = rfc3339.get(11..16).unwrap_or(rfc3339);
    if same_day {
        hm.to_owned()
    } else {
        format!("{} {hm}", rfc3339.get(5..10).unwrap_or(""))
    }
}

/// The screen as plain text (for `--once`): every row, trailing spaces trimmed.
pub fn to_text(screen: Screen<'_>, width: u16) -> String {
    let height = screen.height(width);
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    screen.render(area, &mut buf);
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_largest_bucket() {
        assert_eq!(sparkline(&[0, 1, 2, 4], 4), "▁▃▅█");
        assert_eq!(sparkline(&[0; 60], 30), "▁".repeat(30));
        // 60 minutes into 30 cells: pairs summed.
        assert_eq!(sparkline(&[1; 59], 30), format!("{}▅", "█".repeat(29)));
        assert_eq!(sparkline(&[], 10), "");
    }

    #[test]
    fn times_drop_the_date_on_the_same_day() {
        let now = "2026-02-12T21:30:00.000+00:00";
        assert_eq!(when("2026-02-12T23:05:00.000+00:00", now), "23:05");
        assert_eq!(when("2026-02-13T01:00:00.000+00:00", now), "02-13 01:00");
        assert_eq!(minute(now), "2026-02-12 21:30");
    }
}
