//! The rows `ctm export` writes and `GET /api/exports` serves, and their two encodings.
//! One shape for both formats: each row is a JSON object; CSV gets one column per field.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use ctm_store::Store;

use crate::query::ReportQuery;
use crate::{daily_report, session_report, AnalyticsError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    /// The name recorded in `export_history.format` and used as the file extension.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }
}

/// What one row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportLevel {
    /// One billed response (usage metadata only).
    #[default]
    Response,
    /// The session report's rows.
    Session,
    /// The daily report's rows.
    Daily,
}

impl ExportLevel {
    pub fn name(self) -> &'static str {
        match self {
            ExportLevel::Response => "response",
            ExportLevel::Session => "session",
            ExportLevel::Daily => "daily",
        }
    }

    /// The column CSV puts first.
    fn key_column(self) -> &'static str {
        match self {
            ExportLevel::Response => "time",
            ExportLevel::Session => "sessionId",
            ExportLevel::Daily => "date",
        }
    }
}

/// One response's usage metadata (never text).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseRow<'a> {
    time: String,
    session_id: Option<&'a str>,
    project_path: Option<&'a str>,
    model: Option<&'a str>,
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_tokens: u64,
    cache_read_tokens: u64,
    total_tokens: u64,
    cost_usd: f64,
    priced: bool,
}

/// Why an export stopped: the store or the query, or the destination (a full disk, a
/// download whose reader went away).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
    /// The `io::Error` stays the source, so a caller finds it in the chain (a reader that
    /// went away ends a command quietly).
    #[error("{0}")]
    Write(#[from] std::io::Error),
}

impl From<ctm_store::StoreError> for ExportError {
    fn from(e: ctm_store::StoreError) -> Self {
        ExportError::Analytics(e.into())
    }
}

/// Writes the rows of `level` to `w` as `format` and returns how many: read from the
/// facts (one at a time, so memory stays flat however many responses the range holds)
/// or from the session and daily reports (no second implementation). Rows are written
/// as they come; `w` is expected to buffer.
pub fn write(
    store: &Store,
    q: &ReportQuery,
    level: ExportLevel,
    format: ExportFormat,
    w: &mut dyn Write,
) -> Result<u64, ExportError> {
    let mut sink = Sink::new(format, level, w);
    match level {
        ExportLevel::Response => {
            let (lo, hi) = q.bounds()?;
            // Projects and models are few; a session's name is looked up when first met.
            let mut names = store.names(&[])?;
            store.visit_facts_between(lo, hi, &q.filter, |f| {
                if f.session != 0 && !names.sessions.contains_key(&f.session) {
                    names
                        .sessions
                        .extend(store.session_names(&[f.session])?.sessions);
                }
                let time = jiff::Timestamp::from_millisecond(f.ts)
                    .map(|t| t.to_zoned(q.zone.tz.clone()).to_string())
                    .unwrap_or_default();
                sink.row(&ResponseRow {
                    time,
                    session_id: names.session(f.session),
                    project_path: names.project(f.project),
                    model: names.model(f.model),
                    input_tokens: f.sums.input_tokens,
                    output_tokens: f.sums.output_tokens,
                    cache_creation_tokens: f.sums.cache_creation_tokens(),
                    cache_read_tokens: f.sums.cache_read_tokens,
                    total_tokens: f.sums.total_tokens(),
                    cost_usd: f.sums.cost_usd(),
                    priced: f.sums.unpriced_responses == 0,
                })
            })?
        }
        ExportLevel::Session => {
            for r in &session_report(store, q)?.sessions {
                sink.row(r)?;
            }
        }
        ExportLevel::Daily => {
            for r in &daily_report(store, q)?.daily {
                sink.row(r)?;
            }
        }
    }
    sink.finish()
}

/// Encodes rows one by one. JSON: an array of the rows, pretty-printed. CSV: one column
/// per field, the level's key column first; lists and nested values as compact JSON.
struct Sink<'w> {
    format: ExportFormat,
    level: ExportLevel,
    w: &'w mut dyn Write,
    rows: u64,
    /// CSV: the columns, from the first row.
    headers: Option<Vec<String>>,
    /// CSV: one record at a time, into `pending`, then copied to `w`.
    csv: csv::Writer<Pending>,
    pending: Pending,
}

/// Bytes the CSV writer has encoded and `Sink` has not yet passed on.
#[derive(Clone, Default)]
struct Pending(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> Sink<'w> {
    fn new(format: ExportFormat, level: ExportLevel, w: &'w mut dyn Write) -> Sink<'w> {
        let pending = Pending::default();
        Sink {
            format,
            level,
            w,
            rows: 0,
            headers: None,
            csv: csv::Writer::from_writer(pending.clone()),
            pending,
        }
    }

    fn row<R: Serialize>(&mut self, row: &R) -> Result<(), ExportError> {
        let json = |e: serde_json::Error| AnalyticsError::Invalid(format!("export row: {e}"));
        let Value::Object(row) = serde_json::to_value(row).map_err(json)? else {
            return Err(AnalyticsError::Invalid("an export row is not an object".into()).into());
        };
        match self.format {
            ExportFormat::Json => {
                // Each row as the pretty array would print it: one level in.
                let text = serde_json::to_string_pretty(&row).map_err(json)?;
                self.w
                    .write_all(if self.rows == 0 { b"[\n" } else { b",\n" })?;
                for (i, line) in text.lines().enumerate() {
                    if i > 0 {
                        self.w.write_all(b"\n")?;
                    }
                    self.w.write_all(b"  ")?;
                    self.w.write_all(line.as_bytes())?;
                }
            }
            ExportFormat::Csv => {
                if self.headers.is_none() {
                    let first = self.level.key_column();
                    let mut headers = vec![first.to_owned()];
                    headers.extend(row.keys().filter(|k| *k != first).cloned());
                    self.record(headers.iter().map(String::as_str))?;
                    self.headers = Some(headers);
                }
                let headers = self.headers.take().unwrap_or_default();
                let fields: Vec<String> = headers
                    .iter()
                    .map(|h| match row.get(h) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                    })
                    .collect();
                self.headers = Some(headers);
                self.record(fields.iter().map(String::as_str))?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn record<'a>(&mut self, fields: impl Iterator<Item = &'a str>) -> std::io::Result<()> {
        self.csv.write_record(fields)?;
        self.csv.flush()?;
        let mut bytes = self.pending.0.borrow_mut();
        self.w.write_all(&bytes)?;
        bytes.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<u64, ExportError> {
        match self.format {
            ExportFormat::Json => {
                self.w
                    .write_all(if self.rows == 0 { b"[]\n" } else { b"\n]\n" })?;
            }
            ExportFormat::Csv if self.headers.is_none() => {
                self.record(std::iter::once(self.level.key_column()))?;
            }
            ExportFormat::Csv => {}
        }
        Ok(self.rows)
    }
}

/// A CSV write error as the `io::Error` it is, of its own kind: the csv crate's
/// conversion makes every one `Other`, which would hide a reader that went away.
pub fn csv_io_error(e: csv::Error) -> std::io::Error {
    if !e.is_io_error() {
        return std::io::Error::other(e);
    }
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        _ => std::io::Error::other("CSV write failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(format: ExportFormat, level: ExportLevel, rows: &[Value]) -> String {
        let mut out = Vec::new();
        let mut sink = Sink::new(format, level, &mut out);
        for r in rows {
            sink.row(r).unwrap();
        }
        assert_eq!(sink.finish().unwrap(), rows.len() as u64);
        String::from_utf8(out).unwrap()
    }

    /// A writer whose reader went away.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_pipe_stays_a_closed_pipe_through_csv() {
        let mut w = csv::WriterBuilder::new()
            .buffer_capacity(1)
            .from_writer(Closed);
        let e = w.write_record(["a", "b"]).unwrap_err();
        assert_eq!(csv_io_error(e).kind(), std::io::ErrorKind::BrokenPipe);
        let row: Value = serde_json::from_str(r#"{"date":"2026-02-10"}"#).unwrap();
        let mut closed = Closed;
        let mut sink = Sink::new(ExportFormat::Csv, ExportLevel::Daily, &mut closed);
        match sink.row(&row).unwrap_err() {
            ExportError::Write(e) => assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe),
            other => panic!("not a write error: {other}"),
        }
    }

    #[test]
    fn csv_puts_the_key_column_first_and_nested_values_as_json() {
        let row: Value = serde_json::from_str(
            r#"{"cost":1.5,"date":"2026-02-10","models":["a","b"],"note":null}"#,
        )
        .unwrap();
        assert_eq!(
            encode(ExportFormat::Csv, ExportLevel::Daily, &[row]),
            "date,cost,models,note\n2026-02-10,1.5,\"[\"\"a\"\",\"\"b\"\"]\",\n"
        );
        assert_eq!(encode(ExportFormat::Csv, ExportLevel::Daily, &[]), "date\n");
    }

    /// Streamed row by row, the JSON is byte for byte the pretty array of all rows.
    #[test]
    fn streamed_json_is_the_pretty_array() {
        let rows: Vec<Value> = vec![
            serde_json::json!({"a": 1, "list": [1, 2], "nested": {"x": "line\nbreak"}}),
            serde_json::json!({"a": 2, "list": [], "nested": {}}),
        ];
        for n in 0..=rows.len() {
            let whole = serde_json::to_string_pretty(&rows[..n]).unwrap() + "\n";
            assert_eq!(
                encode(ExportFormat::Json, ExportLevel::Daily, &rows[..n]),
                whole
            );
        }
    }
}
