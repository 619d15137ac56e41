//! `ctm export`: usage to a CSV or JSON file, written atomically, every attempt recorded
//! in `export_history`.

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use ctm_analytics::export;
use ctm_store::exports::{self, ExportRecord};

use crate::cli::{ExportArgs, ExportFormat, ExportLevel, ReportArgs};
use crate::commands::ReportOptions;
use crate::context::Context;
use crate::output::{self, int, num, print_json, text, words, ReportTable};

pub fn run(ctx: &Context, args: &ExportArgs) -> Result<ExitCode> {
    if args.history {
        return history(ctx, args.json);
    }
    let (Some(format), Some(file)) = (args.format, args.output.as_ref()) else {
        return Err(crate::errors::usage(
            "ctm export needs --format csv|json and -o FILE (or --history)",
        ));
    };
    let opts = ReportOptions::from_args(&ReportArgs {
        since: args.since.clone(),
        until: args.until.clone(),
        timezone: args.timezone.clone(),
        ..ReportArgs::default()
    })?;
    let (format, level) = (self::format(format), self::level(args.level));
    // It writes export_history, so never read-only (--no-ingest only skips the ingest).
    let mut store = ctx.open_store()?;
    ctx.ingest(&mut store)?;
    opts.warn_if_pruned(&store, level == export::ExportLevel::Daily)?;
    // `-o -`: the rows to stdout, through the one output path (a closed pipe ends quietly).
    let to_stdout = file.as_os_str() == "-";
    let mut rows = 0;
    let mut write = |w: &mut dyn std::io::Write| -> Result<()> {
        rows = export::write(&store, &opts.query(), level, format, w)?;
        Ok(())
    };
    let written = if to_stdout {
        write_to_stdout(&mut write)
    } else {
        write_atomically(file, args.force, &mut write)
    };
    let mut rec = ExportRecord {
        id: 0,
        exported_at: String::new(),
        format: format.name().into(),
        date_range_start: opts.since.map(|d| d.to_string()),
        date_range_end: opts.until.map(|d| d.to_string()),
        file_path: Some(if to_stdout {
            "(stdout)".to_owned()
        } else {
            absolute(file).display().to_string()
        }),
        record_count: rows,
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
    let said = format!(
        "Exported {} {} rows to {} ({} bytes).",
        int(rec.record_count),
        level.name(),
        if to_stdout {
            "stdout".to_owned()
        } else {
            file.display().to_string()
        },
        int(bytes)
    );
    if to_stdout {
        // stdout holds the rows; the summary goes beside them, as a progress note would.
        eprintln!("{said}");
    } else {
        let mut out = output::out();
        out.line(said)?;
        out.finish()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The analytics crate's names for the command line's choices.
fn level(level: ExportLevel) -> export::ExportLevel {
    match level {
        ExportLevel::Response => export::ExportLevel::Response,
        ExportLevel::Session => export::ExportLevel::Session,
        ExportLevel::Daily => export::ExportLevel::Daily,
    }
}

fn format(format: ExportFormat) -> export::ExportFormat {
    match format {
        ExportFormat::Csv => export::ExportFormat::Csv,
        ExportFormat::Json => export::ExportFormat::Json,
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Writes the export to stdout; returns the bytes written. A write error (a reader that
/// went away) stays an `io::Error` of its kind.
fn write_to_stdout(fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<u64> {
    struct Counting<'a> {
        inner: &'a mut output::Out,
        bytes: u64,
    }
    impl Write for Counting<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.bytes += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let mut out = output::out();
    let mut w = Counting {
        inner: &mut out,
        bytes: 0,
    };
    fill(&mut w)?;
    let bytes = w.bytes;
    out.finish()?;
    Ok(bytes)
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
    let mut t = ReportTable::new(vec![
        text("When (UTC)", 0),
        text("Format", 2),
        text("Range", 3),
        text("File", 0),
        words("Status", 0),
        num("Records", 1),
        num("Bytes", 4),
    ]);
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
        t.row(vec![
            r.exported_at.clone(),
            r.format.clone(),
            range,
            r.file_path.clone().unwrap_or_default(),
            status,
            int(r.record_count),
            r.file_size.map(int).unwrap_or_default(),
        ]);
    }
    let mut out = output::out();
    out.report(&t)?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
