//! Shared rendering: formats, numbers, tables, colour.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use comfy_table::{
    presets::UTF8_FULL_CONDENSED, Attribute, Cell, CellAlignment, Color, ContentArrangement, Table,
};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

impl Format {
    pub fn of(json: bool, csv: bool) -> Format {
        match (json, csv) {
            (true, _) => Format::Json,
            (_, true) => Format::Csv,
            _ => Format::Table,
        }
    }
}

pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    // Buffered: stdout is line-buffered, and pretty JSON would cost a write per line
    // (tens of thousands for a long session list).
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    // As an io::Error, so that a closed pipe is recognised and exits quietly.
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Colour only on a terminal, and never when NO_COLOR is set.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// The width to lay tables out in: $COLUMNS, else the terminal's, else 120.
pub fn width() -> u16 {
    if let Some(w) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return w;
    }
    terminal_width().unwrap_or(120)
}

fn terminal_width() -> Option<u16> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0).then_some(ws.ws_col)
}

/// Below this width, reports drop their less important columns.
pub const NARROW: u16 = 100;

/// A table whose first `text_columns` columns are text (left) and the rest numbers (right).
pub fn table(headers: &[&str], text_columns: usize) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width());
    if color_enabled() {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(
        headers
            .iter()
            .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
    );
    for (i, _) in headers.iter().enumerate().skip(text_columns) {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

pub fn print_table(t: &Table) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{t}")?;
    Ok(())
}

/// A cell for a totals row.
pub fn total_cell(text: impl ToString) -> Cell {
    Cell::new(text)
        .add_attribute(Attribute::Bold)
        .fg(Color::Yellow)
}

pub use ctm_analytics::text::{int, short, usd};

pub fn csv_writer() -> csv::Writer<std::io::StdoutLock<'static>> {
    csv::Writer::from_writer(std::io::stdout().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(77_423_878), "77,423,878");
        assert_eq!(usd(1234.5, true), "$1,234.50");
        assert_eq!(usd(0.004, false), "$0.00*");
        assert_eq!(short(195_801), "195.8k");
        assert_eq!(short(77_423_878), "77.4M");
    }
}
