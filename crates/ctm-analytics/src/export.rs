//! The rows `ctm export` writes and `GET /api/exports` serves, and their two encodings.
//! One shape for both formats: each row is a JSON object; CSV gets one column per field.

use std::io::Write;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::query::{self, ReportQuery};
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

/// The rows of a level as JSON objects, read from the facts and the session and daily
/// reports (no second implementation).
pub fn export_rows(
    conn: &rusqlite::Connection,
    q: &ReportQuery,
    level: ExportLevel,
) -> Result<Vec<Map<String, Value>>, AnalyticsError> {
    let json = |e: serde_json::Error| AnalyticsError::Invalid(format!("export row: {e}"));
    let values: Vec<Value> = match level {
        ExportLevel::Response => query::facts(conn, q)?
            .iter()
            .map(|f| {
                let time = jiff::Timestamp::from_millisecond(f.ts)
                    .map(|t| t.to_zoned(q.zone.tz.clone()).to_string())
                    .unwrap_or_default();
                serde_json::to_value(ResponseRow {
                    time,
                    session_id: f.session_id.as_deref(),
                    project_path: f.project_path.as_deref(),
                    model: f.model.as_deref(),
                    input_tokens: f.sums.input_tokens,
                    output_tokens: f.sums.output_tokens,
                    cache_creation_tokens: f.sums.cache_creation_tokens(),
                    cache_read_tokens: f.sums.cache_read_tokens,
                    total_tokens: f.sums.total_tokens(),
                    cost_usd: f.sums.cost_usd,
                    priced: f.sums.unpriced_responses == 0,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(json)?,
        ExportLevel::Session => session_report(conn, q)?
            .sessions
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(json)?,
        ExportLevel::Daily => daily_report(conn, q)?
            .daily
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(json)?,
    };
    values
        .into_iter()
        .map(|v| match v {
            Value::Object(m) => Ok(m),
            _ => Err(AnalyticsError::Invalid(
                "an export row is not an object".into(),
            )),
        })
        .collect()
}

/// JSON: an array of the rows. CSV: one column per field, the level's key column first;
/// lists and nested values as compact JSON.
pub fn encode(
    w: &mut dyn Write,
    format: ExportFormat,
    level: ExportLevel,
    rows: &[Map<String, Value>],
) -> std::io::Result<()> {
    match format {
        ExportFormat::Json => {
            serde_json::to_writer_pretty(&mut *w, rows)?;
            writeln!(w)?;
        }
        ExportFormat::Csv => {
            let first = level.key_column();
            let mut headers: Vec<&str> = vec![first];
            if let Some(r) = rows.first() {
                headers.extend(r.keys().map(String::as_str).filter(|k| *k != first));
            }
            let mut out = csv::Writer::from_writer(w);
            out.write_record(&headers).map_err(csv_io_error)?;
            for r in rows {
                out.write_record(headers.iter().map(|h| match r.get(*h) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                }))
                .map_err(csv_io_error)?;
            }
            out.flush()?;
        }
    }
    Ok(())
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
        let row: Map<String, Value> = serde_json::from_str(r#"{"date":"2026-02-10"}"#).unwrap();
        let e = encode(&mut Closed, ExportFormat::Csv, ExportLevel::Daily, &[row]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn csv_puts_the_key_column_first_and_nested_values_as_json() {
        let row: Map<String, Value> = serde_json::from_str(
            r#"{"cost":1.5,"date":"2026-02-10","models":["a","b"],"note":null}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        encode(&mut out, ExportFormat::Csv, ExportLevel::Daily, &[row]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "date,cost,models,note\n2026-02-10,1.5,\"[\"\"a\"\",\"\"b\"\"]\",\n"
        );
    }
}
