//! `ctm export`: usage to a CSV or JSON file, written atomically, every attempt recorded
//! in `export_history`.

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use comfy_table::Cell;
use ctm_analytics::{daily_report, query, session_report};
use ctm_store::exports::{self, ExportRecord};
use ctm_store::Store;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::{ExportArgs, ExportFormat, ExportLevel, ReportArgs};
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{int, print_json, print_table, table};

pub fn run(ctx: &Context, args: &ExportArgs) -> Result<ExitCode> {
    if args.history {
        return history(ctx, args.json);
    }
    let (Some(format), Some(file)) = (args.format, args.output.as_ref()) else {
        bail!("ctm export needs --format csv|json and -o FILE (or --history)");
    };
    let opts = ReportOptions::from_args(&ReportArgs {
        since: args.since.clone(),
        until: args.until.clone(),
        timezone: args.timezone.clone(),
        ..ReportArgs::default()
    })?;
    let mut store = ctx.report_store()?;
    let rows = rows(&store, &opts, args.level)?;
    let written = write_atomically(file, args.force, |w| encode(w, format, args.level, &rows));
    let format_name = match format {
        ExportFormat::Csv => "csv",
        ExportFormat::Json => "json",
    };
    let mut rec = ExportRecord {
        id: 0,
        exported_at: String::new(),
        format: format_name.into(),
        date_range_start: opts.since.map(|d| d.to_string()),
        date_range_end: opts.until.map(|d| d.to_string()),
        file_path: Some(absolute(file).display().to_string()),
        record_count: rows.len() as u64,
        file_size: None,
        status: "completed".into(),
        error_message: None,
    };
    match &written {
        Ok(bytes) => rec.file_size = Some(*bytes),
        Err(e) => {
            rec.record_count = 0;
            rec.status = "failed".into();
            rec.error_message = Some(e.to_string());
        }
    }
    // Recorded whatever happened, failures included.
    let tx = store.write()?;
    exports::record(&tx, &rec)?;
    tx.commit()?;
    let bytes = written?;
    println!(
        "Exported {} {} rows to {} ({} bytes).",
        int(rec.record_count),
        level_name(args.level),
        file.display(),
        int(bytes)
    );
    Ok(ExitCode::SUCCESS)
}

fn level_name(level: ExportLevel) -> &'static str {
    match level {
        ExportLevel::Response => "response",
        ExportLevel::Session => "session",
        ExportLevel::Daily => "daily",
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

/// The rows of a level as JSON objects, so both formats share one shape.
fn rows(
    store: &Store,
    opts: &ReportOptions,
    level: ExportLevel,
) -> Result<Vec<Map<String, Value>>> {
    let (conn, q) = (store.conn(), opts.query());
    opts.warn_if_pruned(store, level == ExportLevel::Daily)?;
    let values: Vec<Value> = match level {
        ExportLevel::Response => query::facts(conn, &q)?
            .iter()
            .map(|f| {
                let time = jiff::Timestamp::from_millisecond(f.ts)
                    .map(|t| t.to_zoned(opts.zone.tz.clone()).to_string())
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
            .collect::<Result<_, _>>()?,
        ExportLevel::Session => session_report(conn, &q)?
            .sessions
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?,
        ExportLevel::Daily => daily_report(conn, &q)?
            .daily
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?,
    };
    values
        .into_iter()
        .map(|v| match v {
            Value::Object(m) => Ok(m),
            _ => Err(anyhow!("an export row is not an object")),
        })
        .collect()
}

/// JSON: an array of the rows. CSV: one column per field, the level's key column first;
/// lists and nested values as compact JSON.
fn encode(
    w: &mut dyn Write,
    format: ExportFormat,
    level: ExportLevel,
    rows: &[Map<String, Value>],
) -> Result<()> {
    match format {
        ExportFormat::Json => {
            serde_json::to_writer_pretty(&mut *w, rows)?;
            writeln!(w)?;
        }
        ExportFormat::Csv => {
            let first = match level {
                ExportLevel::Response => "time",
                ExportLevel::Session => "sessionId",
                ExportLevel::Daily => "date",
            };
            let mut headers: Vec<&str> = vec![first];
            if let Some(r) = rows.first() {
                headers.extend(r.keys().map(String::as_str).filter(|k| *k != first));
            }
            let mut out = csv::Writer::from_writer(w);
            out.write_record(&headers)?;
            for r in rows {
                out.write_record(headers.iter().map(|h| match r.get(*h) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                }))?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Writes through a temporary file in the destination folder, synced and renamed, so
/// FILE is either the old one or the whole new one. Returns the bytes written.
fn write_atomically(
    dest: &Path,
    force: bool,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<u64> {
    if dest.exists() && !force {
        bail!(
            "{} already exists; pass --force to replace it, or choose another file",
            dest.display()
        );
    }
    let dir = match dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let name = dest.file_name().ok_or_else(|| {
        anyhow!(
            "{} is not a file name; name the file to write",
            dest.display()
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.export-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| {
            anyhow!(
                "cannot write {} ({e}); check that the folder {} exists and is writable",
                dest.display(),
                dir.display()
            )
        })?;
    let result = (|| -> Result<u64> {
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        fs::rename(&tmp, dest)?;
        Ok(size)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| anyhow!("cannot write {}: {e}", dest.display()))
}

fn history(ctx: &Context, json: bool) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let rows = exports::history(store.conn())?;
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(
        &[
            "When (UTC)",
            "Format",
            "Range",
            "File",
            "Status",
            "Records",
            "Bytes",
        ],
        5,
    );
    for r in &rows {
        let range = format!(
            "{}..{}",
            r.date_range_start.as_deref().unwrap_or(""),
            r.date_range_end.as_deref().unwrap_or("")
        );
        let status = match &r.error_message {
            Some(e) => format!("{}: {e}", r.status),
            None => r.status.clone(),
        };
        t.add_row(vec![
            Cell::new(&r.exported_at),
            Cell::new(&r.format),
            Cell::new(range),
            Cell::new(r.file_path.as_deref().unwrap_or("")),
            Cell::new(status),
            Cell::new(int(r.record_count)),
            Cell::new(r.file_size.map(int).unwrap_or_default()),
        ]);
    }
    print_table(&t)?;
    Ok(ExitCode::SUCCESS)
}
