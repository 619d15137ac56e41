//! `ctm db ...`: the store itself.

use std::process::ExitCode;

use anyhow::{bail, Result};
use ctm_store::{backup as copies, config, derive, migrate, OpenOptions};
use serde::Serialize;

use crate::cli::DbCommand;
use crate::context::{tilde, Context};
use crate::output::{int, print_json, say};

pub fn run(ctx: &Context, cmd: &DbCommand) -> Result<ExitCode> {
    match cmd {
        DbCommand::Status { json } => status(ctx, *json),
        DbCommand::Migrate { to } => migrate_to(ctx, *to),
        DbCommand::Reprice => reprice(ctx),
        DbCommand::Check => check(ctx),
        DbCommand::Rebuild => rebuild(ctx),
        DbCommand::Backup { file, force } => backup(ctx, file, *force),
        DbCommand::Restore { file } => restore(ctx, file),
        DbCommand::Prune {
            dry_run,
            facts_older_than,
            json,
        } => prune(ctx, *dry_run, *facts_older_than, *json),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    path: String,
    schema_version: u32,
    latest_schema_version: u32,
    size_bytes: u64,
    responses: u64,
    sidechain_replays: u64,
    sessions: u64,
    first_response: Option<String>,
    last_response: Option<String>,
    files_tracked: u64,
    files_gone: u64,
    last_sync_time: Option<String>,
    timezone: Option<String>,
    /// Responses before this UTC time were deleted (`db prune --facts-older-than`).
    facts_pruned_before: Option<String>,
}

fn status(ctx: &Context, json: bool) -> Result<ExitCode> {
    if !ctx.db_path.exists() {
        bail!(
            "no store at {} yet; run `ctm ingest` to create it",
            ctx.db_path.display()
        );
    }
    // Inspect as it is: a store from an older ctm is reported, not migrated, and a store
    // that cannot be written is read.
    let store = ctx.open_store_with(&OpenOptions {
        target_version: 0,
        read_only: true,
        ..ctx.open_options()
    })?;
    let c = store.conn();
    let count =
        |sql: &str| -> Result<u64> { Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
    let schema_version = store.schema_version()?;
    let totals = if schema_version == ctm_store::SCHEMA_VERSION {
        store.totals()?
    } else {
        // A store from an older ctm, as it is: its own fact table.
        let (first_ms, last_ms): (Option<i64>, Option<i64>) =
            c.query_row("SELECT min(ts), max(ts) FROM billed_responses", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        ctm_store::reads::StoreTotals {
            responses: count("SELECT count(*) FROM billed_responses")?,
            sessions: count("SELECT count(DISTINCT session_id) FROM billed_responses")?,
            sidechain_replays: count("SELECT count(*) FROM responses WHERE replay_of IS NOT NULL")?,
            first_ms,
            last_ms,
        }
    };
    let size = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", ctx.db_path.display())).ok())
        .map(|m| m.len())
        .sum();
    let s = Status {
        path: ctx.db_path.display().to_string(),
        schema_version,
        latest_schema_version: ctm_store::SCHEMA_VERSION,
        size_bytes: size,
        responses: totals.responses,
        sidechain_replays: totals.sidechain_replays,
        sessions: totals.sessions,
        first_response: totals.first_ms.map(ctm_model::utc::format),
        last_response: totals.last_ms.map(ctm_model::utc::format),
        files_tracked: count("SELECT count(*) FROM file_cursors")?,
        files_gone: count("SELECT count(*) FROM file_cursors WHERE missing_since IS NOT NULL")?,
        last_sync_time: config::get(c, "last_sync_time")?.filter(|v| !v.is_empty()),
        timezone: config::get(c, "timezone")?,
        facts_pruned_before: ctm_store::horizon::facts_horizon(c)?.map(ctm_model::utc::format),
    };
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    say(format_args!("store:       {}", tilde(&ctx.db_path)))?;
    say(format_args!(
        "schema:      version {} (this ctm writes {})",
        s.schema_version, s.latest_schema_version
    ))?;
    say(format_args!("size:        {} bytes", int(s.size_bytes)))?;
    say(format_args!(
        "responses:   {} billed ({} sidechain replays kept, not billed) in {} sessions",
        int(s.responses),
        int(s.sidechain_replays),
        int(s.sessions)
    ))?;
    say(format_args!(
        "history:     {} .. {}",
        s.first_response.as_deref().unwrap_or("-"),
        s.last_response.as_deref().unwrap_or("-")
    ))?;
    say(format_args!(
        "transcripts: {} tracked, {} gone from disk (their responses are kept)",
        int(s.files_tracked),
        int(s.files_gone)
    ))?;
    say(format_args!(
        "last sync:   {}",
        s.last_sync_time.as_deref().unwrap_or("never")
    ))?;
    say(format_args!(
        "daily zone:  {}",
        s.timezone.as_deref().unwrap_or("UTC")
    ))?;
    if let Some(h) = &s.facts_pruned_before {
        say(format_args!(
            "pruned:      responses before {h} (their days, sessions and blocks are kept)"
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn migrate_to(ctx: &Context, to: Option<u32>) -> Result<ExitCode> {
    let target = to.unwrap_or(ctm_store::SCHEMA_VERSION);
    if target == 0 || target > ctm_store::SCHEMA_VERSION {
        return Err(crate::errors::usage(format!(
            "--to {target} is not a schema version; this ctm knows 1 to {}",
            ctm_store::SCHEMA_VERSION
        )));
    }
    let store = ctx.open_store_with(&OpenOptions {
        target_version: target,
        ..ctx.open_options()
    })?;
    let now = store.schema_version()?;
    if store.migrated.is_empty() {
        if now > target {
            bail!("the store is at schema version {now}, above {target}; ctm never downgrades a store");
        }
        say(format_args!(
            "The store is at schema version {now}; nothing to do."
        ))?;
    } else {
        let names: std::collections::HashMap<u32, &str> = migrate::known().into_iter().collect();
        for v in &store.migrated {
            say(format_args!(
                "applied migration {v}: {}",
                names.get(v).copied().unwrap_or("")
            ))?;
        }
        say(format_args!("The store is at schema version {now}."))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn reprice(ctx: &Context) -> Result<ExitCode> {
    let mut store = ctx.open_store()?;
    let tx = store.write()?;
    let prices = ctx.prices_in_force(&tx)?;
    let r = ctm_ingest::reprice(&tx, &prices)?;
    tx.commit()?;
    say(format_args!(
        "Repriced {} responses with price table {}: {} changed ({} in cost).",
        int(r.responses),
        prices.version(),
        int(r.rows_changed),
        int(r.cost_changed)
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn check(ctx: &Context) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let c = store.conn();
    // The check itself may stop at a page it cannot read: that is its last finding.
    let mut integrity: Vec<String> = Vec::new();
    let mut stmt = c.prepare("PRAGMA integrity_check")?;
    let mut rows = stmt.query([])?;
    loop {
        match rows.next() {
            Ok(Some(r)) => integrity.push(r.get(0)?),
            Ok(None) => break,
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
                ) =>
            {
                integrity.push(format!("SQLite stopped reading: {e}"));
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    drop(rows);
    drop(stmt);
    let damaged = integrity != ["ok"];
    let mut problems = Vec::new();
    if damaged {
        problems.extend(
            integrity
                .iter()
                .map(|p| format!("integrity check: {}", p.replace('\n', " "))),
        );
    } else {
        // A damaged file may fail any read: the rest is checked on a whole one.
        let fk: i64 = c.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?;
        if fk > 0 {
            problems.push(format!("{fk} foreign key violations"));
        }
        problems.extend(derive::check(c)?);
    }
    if problems.is_empty() {
        say(format_args!(
            "ok: integrity check passed, foreign keys hold, every derived table matches the facts"
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        say(format_args!("{p}"))?;
    }
    if damaged {
        say(format_args!(
            "{} problems: the file itself is damaged, which `ctm db rebuild` cannot repair (it \
             recomputes only the derived tables); restore a backup with `ctm db restore FILE`",
            problems.len()
        ))?;
    } else {
        say(format_args!(
            "{} problems; `ctm db rebuild` recomputes the derived tables from the facts",
            problems.len()
        ))?;
    }
    Ok(ExitCode::from(1))
}

fn rebuild(ctx: &Context) -> Result<ExitCode> {
    let mut store = ctx.open_store()?;
    let tx = store.write()?;
    derive::rebuild_all(&tx)?;
    tx.commit()?;
    say(format_args!("Rebuilt every derived table from the facts."))?;
    Ok(ExitCode::SUCCESS)
}

fn backup(ctx: &Context, file: &std::path::Path, force: bool) -> Result<ExitCode> {
    if !ctx.db_path.exists() {
        bail!(
            "no store at {} to back up; run `ctm ingest` to create it",
            ctx.db_path.display()
        );
    }
    // Copied as it is, also from a store that cannot be written.
    let store = ctx.open_store_with(&OpenOptions {
        target_version: 0,
        read_only: true,
        ..ctx.open_options()
    })?;
    let size = copies::backup(&store, file, force)?;
    say(format_args!(
        "Backed up {} to {} ({} bytes).",
        tilde(&ctx.db_path),
        tilde(file),
        int(size)
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn restore(ctx: &Context, file: &std::path::Path) -> Result<ExitCode> {
    let done = copies::restore(&ctx.db_path, file, ctx.busy_timeout)?;
    let schema = if done.from_version == ctm_store::SCHEMA_VERSION {
        format!("schema version {}", done.from_version)
    } else {
        format!(
            "schema version {} migrated to {}",
            done.from_version,
            ctm_store::SCHEMA_VERSION
        )
    };
    say(format_args!(
        "Restored {} from {} ({schema}).",
        tilde(&ctx.db_path),
        tilde(file)
    ))?;
    if let Some(previous) = &done.previous {
        say(format_args!(
            "The replaced store is kept as {}.",
            tilde(previous)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn prune(
    ctx: &Context,
    dry_run: bool,
    facts_older_than: Option<u32>,
    json: bool,
) -> Result<ExitCode> {
    let now = super::now()?;
    let mut store = ctx.open_store()?;
    let tx = store.write()?;
    let p = ctm_store::retention::prune(&tx, dry_run)?;
    let facts = match facts_older_than {
        Some(days) => {
            let today = now.to_zoned(ctm_store::config::store_zone(&tx)?).date();
            let first_kept = today
                .checked_sub(jiff::Span::new().days(i64::from(days)))
                .map_err(|_| {
                    crate::errors::usage(format!(
                        "--facts-older-than {days} reaches before year -9999"
                    ))
                })?;
            Some(ctm_store::retention::prune_facts(&tx, first_kept, dry_run)?)
        }
        None => None,
    };
    if dry_run {
        drop(tx);
    } else {
        tx.commit()?;
    }
    if json {
        print_json(&serde_json::json!({ "dryRun": dry_run, "pruned": p, "facts": facts }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "Would drop" } else { "Dropped" };
    say(format_args!(
        "{verb} {} stats-cache snapshots older than {} days ({} model rows) and {} export records older than {} days.",
        int(p.snapshots),
        p.retention_days,
        int(p.model_usage_logs),
        int(p.export_history),
        ctm_store::retention::EXPORT_HISTORY_DAYS
    ))?;
    match &facts {
        None => say(format_args!("Daily aggregates and responses are kept."))?,
        Some(f) => {
            let verb = if dry_run { "Would delete" } else { "Deleted" };
            say(format_args!(
                "{verb} {} responses from before {} ({}); {} days and {} sessions before then are kept as history.",
                int(f.responses),
                f.first_day_kept,
                f.timezone,
                int(f.days_kept),
                int(f.sessions_kept)
            ))?;
            say(format_args!(
                "Daily aggregates are kept; reports that need single responses (other zones, --project, --model, sessions, blocks) start on {}.",
                f.first_day_kept
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
