//! Shared rendering: the one output path, formats, numbers, report tables, colour.

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use anyhow::Result;
use comfy_table::{
    presets::UTF8_FULL_CONDENSED, Attribute, Cell, CellAlignment, Color, ColumnConstraint,
    ContentArrangement, Table, Width,
};
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

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

// ---- the one output path ----------------------------------------------------------

/// Where every command writes its answer: stdout, buffered (stdout alone is
/// line-buffered: a write per line of a long table or JSON value). Nothing in this crate
/// writes to stdout any other way (`print!` and `println!` are denied by clippy), so a
/// reader that goes away (`ctm hourly | head -1`) always surfaces as an `io::Error` of
/// kind `BrokenPipe` from a write or from [`Out::finish`], which `main` ends quietly
/// with exit code 0, instead of a panic in `println!` or an error line.
pub struct Out {
    inner: io::BufWriter<io::Stdout>,
}

/// The output of this command.
pub fn out() -> Out {
    Out {
        inner: io::BufWriter::with_capacity(1 << 16, io::stdout()),
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Out {
    /// One line.
    pub fn line(&mut self, text: impl std::fmt::Display) -> io::Result<()> {
        writeln!(self.inner, "{text}")
    }

    /// A value as pretty JSON and a newline.
    pub fn json<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.inner, value).map_err(io::Error::from)?;
        writeln!(self.inner)
    }

    /// A report whose first field is a long list of rows, as pretty JSON and a newline:
    /// the bytes [`Out::json`] writes for the whole, with the rows rendered on every core
    /// (a listing of every session of a team is tens of megabytes of JSON). `envelope` is
    /// the report with that list empty; `rows` are its elements.
    pub fn json_listing<E: Serialize, T: Serialize + Sync>(
        &mut self,
        envelope: &E,
        rows: &[T],
    ) -> io::Result<()> {
        write_json_listing(&mut self.inner, envelope, rows)
    }

    /// A report table laid out for the terminal's width, then its footnotes.
    pub fn report(&mut self, t: &ReportTable) -> io::Result<()> {
        let w = width();
        writeln!(self.inner, "{}", t.render(w))?;
        for note in &t.notes {
            self.wrapped(note, w)?;
        }
        Ok(())
    }

    /// A paragraph wrapped between words to `width` columns.
    pub fn wrapped(&mut self, text: &str, width: u16) -> io::Result<()> {
        let mut line = String::new();
        for word in text.split_whitespace() {
            if !line.is_empty() && line.width() + 1 + word.width() > width as usize {
                writeln!(self.inner, "{line}")?;
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        writeln!(self.inner, "{line}")
    }

    /// A CSV writer on this output.
    pub fn csv(&mut self) -> Csv<'_> {
        Csv(csv::Writer::from_writer(&mut self.inner))
    }

    /// Writes what is buffered: the last chance for a write error to be seen.
    pub fn finish(mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// [`Out::json_listing`] on any writer.
fn write_json_listing<E: Serialize, T: Serialize + Sync>(
    out: &mut impl Write,
    envelope: &E,
    rows: &[T],
) -> io::Result<()> {
    use rayon::prelude::*;

    /// Rows rendered at once: enough for every core, few enough to stay in cache.
    const WINDOW: usize = 2_048;
    /// An element's lines in a list that is a field of the top object.
    const NESTED: &[u8] = b"\n    ";
    let whole = serde_json::to_vec_pretty(envelope).map_err(io::Error::from)?;
    // `{\n  "name": []`, then the other fields: the rows go between the brackets.
    let open = whole
        .iter()
        .position(|&b| b == b'[')
        .filter(|&at| {
            whole[at..].starts_with(b"[]")
                && whole[..at].starts_with(b"{\n  \"")
                && whole[..at].ends_with(b"\": ")
                && whole[..at].iter().filter(|&&b| b == b'\n').count() == 1
        })
        .ok_or_else(|| io::Error::other("a listing's first field must be its empty list"))?;
    out.write_all(&whole[..=open])?;
    if rows.is_empty() {
        out.write_all(&whole[open + 1..])?;
        return writeln!(out);
    }
    let per_thread = WINDOW.div_ceil(rayon::current_num_threads());
    for (w, window) in rows.chunks(WINDOW).enumerate() {
        let parts = window
            .par_chunks(per_thread)
            .map(|part| {
                let mut text = Vec::with_capacity(part.len() * 1_024);
                let mut row = Vec::with_capacity(2_048);
                for r in part {
                    row.clear();
                    serde_json::to_writer_pretty(&mut row, r)?;
                    // A raw newline in JSON is always between tokens (one in a
                    // string is escaped), so each one starts a line to indent.
                    text.push(b',');
                    for line in row.split(|&b| b == b'\n') {
                        text.extend_from_slice(NESTED);
                        text.extend_from_slice(line);
                    }
                }
                Ok(text)
            })
            .collect::<serde_json::Result<Vec<Vec<u8>>>>()
            .map_err(io::Error::from)?;
        for (p, part) in parts.iter().enumerate() {
            // Every row but the first follows a comma.
            let skip = usize::from(w == 0 && p == 0);
            out.write_all(&part[skip..])?;
        }
    }
    out.write_all(b"\n  ]")?;
    out.write_all(&whole[open + 2..])?;
    writeln!(out)
}

/// CSV records on an [`Out`], whose write errors stay `io::Error`s of their kind (the
/// csv crate's own conversion makes every one `Other`, hiding a closed pipe).
pub struct Csv<'a>(csv::Writer<&'a mut io::BufWriter<io::Stdout>>);

impl Csv<'_> {
    pub fn record<I, T>(&mut self, fields: I) -> io::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.0
            .write_record(fields)
            .map_err(ctm_analytics::export::csv_io_error)
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// One line on stdout, for commands that say a few lines (the store's commands, the
/// statusline): written at once, and a closed pipe is an `io::Error`, never a panic.
pub fn say(text: impl std::fmt::Display) -> io::Result<()> {
    let mut out = out();
    out.line(text)?;
    out.finish()
}

/// `value` as JSON on stdout: a whole answer.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let mut out = out();
    out.json(value)?;
    out.finish()?;
    Ok(())
}

// ---- colour -------------------------------------------------------------------------

/// `--color`: when tables are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set; FORCE_COLOR colours anyway
    #[default]
    Auto,
    /// Always, also into a pipe or a file
    Always,
    /// Never (also --no-color)
    Never,
}

static COLOR: OnceLock<bool> = OnceLock::new();

/// Decides colour once for the run, from the flag and the environment.
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(color_wanted(
        choice,
        std::env::var_os("FORCE_COLOR").as_deref(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::io::stdout().is_terminal(),
    ));
}

/// `--color` first; then FORCE_COLOR (set, not empty or 0) colours and NO_COLOR (set, not
/// empty) does not; else colour only on a terminal.
fn color_wanted(
    choice: ColorChoice,
    force: Option<&std::ffi::OsStr>,
    no: Option<&std::ffi::OsStr>,
    terminal: bool,
) -> bool {
    let set = |v: Option<&std::ffi::OsStr>| v.is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set(force) && force != Some("0".as_ref()) => true,
        ColorChoice::Auto if set(no) => false,
        ColorChoice::Auto => terminal,
    }
}

pub fn color_enabled() -> bool {
    *COLOR.get_or_init(|| {
        color_wanted(
            ColorChoice::Auto,
            std::env::var_os("FORCE_COLOR").as_deref(),
            std::env::var_os("NO_COLOR").as_deref(),
            std::io::stdout().is_terminal(),
        )
    })
}

// ---- width --------------------------------------------------------------------------

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

// ---- report tables ------------------------------------------------------------------

/// A column of a [`ReportTable`].
#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    pub right: bool,
    /// 0: always shown (the identifying columns and the sort key). Higher numbers are
    /// left out first when the table does not fit.
    pub keep: u8,
    /// Text that may wrap between words (lists, descriptions). Other cells never break.
    pub wraps: bool,
}

/// A text column, left-aligned, never broken.
pub fn text(header: impl Into<String>, keep: u8) -> Column {
    Column {
        header: header.into(),
        right: false,
        keep,
        wraps: false,
    }
}

/// A number column, right-aligned.
pub fn num(header: impl Into<String>, keep: u8) -> Column {
    Column {
        right: true,
        ..text(header, keep)
    }
}

/// A text column that may wrap between its words.
pub fn words(header: impl Into<String>, keep: u8) -> Column {
    Column {
        wraps: true,
        ..text(header, keep)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStyle {
    Plain,
    /// A totals row: bold label, figures in the totals colour.
    Total,
    /// Secondary rows (gaps, per-model breakdowns).
    Dim,
    /// The row that is happening now (the active block).
    Active,
}

/// A table whose columns are chosen for the width: each report names its columns with
/// a priority, and the layout keeps every column of priority 0 and adds the others, most
/// important first, while they fit whole. A cell never breaks inside a word; only
/// columns marked [`words`] may wrap, and only when the priority-0 columns alone do not
/// fit. Every number column has one format for all its rows.
#[derive(Debug, Clone)]
pub struct ReportTable {
    columns: Vec<Column>,
    rows: Vec<(RowStyle, Vec<String>)>,
    /// Lines printed under the table (footnotes).
    pub notes: Vec<String>,
    /// A cost cell left out responses without a price ("*").
    starred: bool,
    /// A cost cell had no priced response ("-").
    dashed: bool,
}

impl ReportTable {
    pub fn new(columns: Vec<Column>) -> ReportTable {
        ReportTable {
            columns,
            rows: Vec::new(),
            notes: Vec::new(),
            starred: false,
            dashed: false,
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.styled(RowStyle::Plain, cells);
    }

    pub fn styled(&mut self, style: RowStyle, mut cells: Vec<String>) {
        cells.resize(self.columns.len(), String::new());
        self.rows.push((style, cells));
    }

    /// A cost cell: "$1.23"; "$1.23*" when it leaves out responses of models without a
    /// price; "-" when none of its responses has one (its cost is unknown, not zero).
    pub fn cost(&mut self, cost: f64, responses: u64, unpriced: u64) -> String {
        if unpriced == 0 {
            return usd(cost, true);
        }
        if unpriced >= responses {
            self.dashed = true;
            "-".to_owned()
        } else {
            self.starred = true;
            usd(cost, false)
        }
    }

    /// The footnote that explains the marks, when a cost cell was marked.
    pub fn note_unpriced(&mut self, unpriced_responses: u64, models: &[String]) {
        if self.starred || self.dashed {
            self.notes.push(unpriced_note(
                unpriced_responses,
                models,
                self.starred,
                self.dashed,
            ));
        }
    }

    /// Indices of the columns shown at `width`.
    pub fn shown(&self, width: u16) -> Vec<usize> {
        let natural: Vec<usize> = (0..self.columns.len())
            .map(|i| self.natural_width(i))
            .collect();
        // Always-shown columns that wrap count at their narrowest (their longest word).
        let need = |i: usize| {
            if self.columns[i].keep == 0 && self.columns[i].wraps {
                self.min_width(i)
            } else {
                natural[i]
            }
        };
        let mut on: Vec<bool> = self.columns.iter().map(|c| c.keep == 0).collect();
        let mut used = 1
            + (0..on.len())
                .filter(|&i| on[i])
                .map(|i| need(i) + 3)
                .sum::<usize>();
        let mut rest: Vec<usize> = (0..on.len()).filter(|&i| !on[i]).collect();
        rest.sort_by_key(|&i| (self.columns[i].keep, i));
        for i in rest {
            if used + need(i) + 3 <= width as usize {
                used += need(i) + 3;
                on[i] = true;
            }
        }
        (0..on.len()).filter(|&i| on[i]).collect()
    }

    fn cells(&self, i: usize) -> impl Iterator<Item = &str> {
        std::iter::once(self.columns[i].header.as_str())
            .chain(self.rows.iter().map(move |(_, r)| r[i].as_str()))
    }

    fn natural_width(&self, i: usize) -> usize {
        self.cells(i)
            .flat_map(str::lines)
            .map(UnicodeWidthStr::width)
            .max()
            .unwrap_or(0)
    }

    /// The longest word: narrower, a word would break.
    fn min_width(&self, i: usize) -> usize {
        self.cells(i)
            .flat_map(str::split_whitespace)
            .map(UnicodeWidthStr::width)
            .max()
            .unwrap_or(0)
    }

    pub fn render(&self, width: u16) -> Table {
        let shown = self.shown(width);
        let natural: usize = 1 + shown
            .iter()
            .map(|&i| self.natural_width(i) + 3)
            .sum::<usize>();
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(if natural <= width as usize {
                // Everything fits whole: nothing may wrap.
                ContentArrangement::Disabled
            } else {
                ContentArrangement::Dynamic
            })
            .set_width(width);
        if color_enabled() {
            t.enforce_styling();
        } else {
            t.force_no_tty();
        }
        t.set_header(
            shown
                .iter()
                .map(|&i| Cell::new(&self.columns[i].header).add_attribute(Attribute::Bold)),
        );
        let color = color_enabled();
        for (style, cells) in &self.rows {
            let row = shown.iter().enumerate().map(|(n, &i)| {
                let cell = Cell::new(&cells[i]);
                if !color {
                    return cell;
                }
                match style {
                    RowStyle::Plain => cell,
                    RowStyle::Total if n == 0 => cell.add_attribute(Attribute::Bold),
                    RowStyle::Total => cell.fg(Color::Yellow),
                    RowStyle::Dim => cell.fg(Color::DarkGrey),
                    RowStyle::Active => cell.fg(Color::Green),
                }
            });
            t.add_row(row.collect::<Vec<_>>());
        }
        for (n, &i) in shown.iter().enumerate() {
            let c = &self.columns[i];
            let min = if c.wraps {
                self.min_width(i)
            } else {
                self.natural_width(i)
            };
            if let Some(col) = t.column_mut(n) {
                if c.right {
                    col.set_cell_alignment(CellAlignment::Right);
                }
                // The boundary counts the cell's padding (a space each side).
                col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
                    (min + 2).min(u16::MAX as usize) as u16,
                )));
            }
        }
        t
    }
}

/// The footnote for cost cells marked "*" (leaves out responses without a price) or "-"
/// (none had one).
pub fn unpriced_note(unpriced_responses: u64, models: &[String], star: bool, dash: bool) -> String {
    let which = if models.is_empty() {
        String::new()
    } else {
        format!(" ({})", models.join(", "))
    };
    let n = int(unpriced_responses);
    let responses = if unpriced_responses == 1 {
        "response"
    } else {
        "responses"
    };
    let mut note = match (star, dash) {
        (true, false) => format!("* leaves out {n} {responses} of models without a price{which}"),
        (false, _) => format!("- is a cost of models without a price{which}"),
        (true, true) => format!(
            "* leaves out, and - is entirely, the cost of {n} {responses} of models without a price{which}"
        ),
    };
    note.push_str(
        ": their tokens are counted, their cost is unknown (not $0). `ctm pricing` says how to add a price.",
    );
    note
}

pub use ctm_analytics::text::{int, usd};

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Listing {
        rows: Vec<Row>,
        totals: Row,
        time_zone: &'static str,
        models: Vec<String>,
    }

    #[derive(Serialize, Clone)]
    struct Row {
        id: String,
        cost: f64,
        models: Vec<String>,
        nested: Option<Vec<u64>>,
    }

    fn listing(n: usize) -> Listing {
        let row = |i: usize| Row {
            id: format!("s{i}\n\"quoted\"\t{{[x]}}"),
            cost: i as f64 / 7.0,
            models: (0..i % 3).map(|m| format!("model-{m}")).collect(),
            nested: i.is_multiple_of(2).then(|| vec![i as u64; i % 4]),
        };
        Listing {
            rows: (0..n).map(row).collect(),
            totals: row(n),
            time_zone: "Asia/Kolkata",
            models: vec![],
        }
    }

    #[test]
    fn a_listing_is_the_json_of_the_whole() {
        // Across the windows rows are rendered in, and with no row or one.
        for n in [0, 1, 2, 3, 2_047, 2_048, 2_049, 5_000] {
            let mut whole = listing(n);
            let mut expected = serde_json::to_vec_pretty(&whole).unwrap();
            expected.push(b'\n');
            let rows = std::mem::take(&mut whole.rows);
            let mut written = Vec::new();
            write_json_listing(&mut written, &whole, &rows).unwrap();
            assert!(written == expected, "{n} rows");
        }
    }

    #[test]
    fn a_listing_s_rows_are_its_first_field() {
        #[derive(Serialize)]
        struct Late {
            first: u8,
            rows: Vec<u8>,
        }
        let late = Late {
            first: 1,
            rows: vec![],
        };
        assert!(write_json_listing(&mut Vec::new(), &late, &[1u8]).is_err());
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(77_423_878), "77,423,878");
        assert_eq!(usd(1234.5, true), "$1,234.50");
        assert_eq!(usd(0.004, false), "$0.00*");
    }

    fn sample() -> ReportTable {
        let mut t = ReportTable::new(vec![
            text("Date", 0),
            words("Models", 3),
            num("Input", 2),
            num("Cache Read", 4),
            num("Cost", 0),
        ]);
        t.row(vec![
            "2026-02-12".into(),
            "haiku-4-5, opus-4-6, sonnet-4-5".into(),
            "4,513".into(),
            "45,163,970".into(),
            "$26.80".into(),
        ]);
        t
    }

    #[test]
    fn columns_are_added_by_priority_while_they_fit_whole() {
        let t = sample();
        // Widths (+3 each, +1): Date 10, Models 31, Input 5, Cache Read 10, Cost 6.
        assert_eq!(t.shown(200), [0, 1, 2, 3, 4]);
        // 1 + 13 + 9 = 23 for the kept ones; Input (8) fits, Models (34) does not, and
        // the smaller Cache Read (13) still does.
        assert_eq!(t.shown(45), [0, 2, 3, 4]);
        assert_eq!(t.shown(40), [0, 2, 4]);
        // Too narrow for anything but the kept columns: they stay.
        assert_eq!(t.shown(10), [0, 4]);
    }

    #[test]
    fn cells_never_break_inside_a_word() {
        let mut t = ReportTable::new(vec![text("Key", 0), words("Description", 0)]);
        t.row(vec![
            "snapshot_interval_minutes".into(),
            "How often ctm live and ctm serve take a stats-cache snapshot".into(),
        ]);
        let out = t.render(50).to_string();
        assert!(out.contains("snapshot_interval_minutes"), "{out}");
        assert!(out.contains("stats-cache"), "{out}");
        assert!(out.lines().all(|l| l.chars().count() <= 50), "{out}");
    }

    #[test]
    fn unpriced_costs_are_marked_and_explained() {
        let mut t = ReportTable::new(vec![text("Model", 0), num("Cost", 0)]);
        assert_eq!(t.cost(1.5, 3, 0), "$1.50");
        t.note_unpriced(4, &[]);
        assert!(t.notes.is_empty(), "nothing marked, nothing to explain");
        assert_eq!(t.cost(1.5, 3, 1), "$1.50*");
        t.note_unpriced(1, &["my-model".into()]);
        assert!(
            t.notes[0].starts_with("* leaves out 1 response of models without a price (my-model):"),
            "{:?}",
            t.notes
        );
        assert_eq!(t.cost(0.0, 3, 3), "-");
        t.notes.clear();
        t.note_unpriced(4, &[]);
        assert!(
            t.notes[0].starts_with("* leaves out, and - is entirely,"),
            "{:?}",
            t.notes
        );
    }

    #[test]
    fn colour_follows_the_flag_then_the_environment() {
        let on = Some(std::ffi::OsStr::new("1"));
        let zero = Some(std::ffi::OsStr::new("0"));
        assert!(color_wanted(ColorChoice::Always, None, on, false));
        assert!(!color_wanted(ColorChoice::Never, on, None, true));
        assert!(color_wanted(ColorChoice::Auto, on, on, false));
        assert!(!color_wanted(ColorChoice::Auto, zero, None, false));
        assert!(!color_wanted(ColorChoice::Auto, None, on, true));
        assert!(color_wanted(ColorChoice::Auto, None, None, true));
        assert!(!color_wanted(ColorChoice::Auto, None, None, false));
    }
}
