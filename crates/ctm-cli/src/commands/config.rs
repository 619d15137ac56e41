//! `ctm config ...`: the store's settings in `system_config`.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use ctm_store::{config, settings};
use serde::Serialize;

use crate::cli::ConfigCommand;
use crate::context::Context;
use crate::output::{self, print_json, text, words, ReportTable};

pub fn run(ctx: &Context, cmd: &ConfigCommand) -> Result<ExitCode> {
    let in_store = || format!("{}", ctx.db_path.display());
    match cmd {
        ConfigCommand::List { json } => list(ctx, *json),
        ConfigCommand::Get { key } => {
            let store = ctx.open_store()?;
            let entries = config::list(store.conn())?;
            match entries.iter().find(|e| &e.key == key) {
                Some(e) => {
                    let mut out = output::out();
                    out.line(&e.value)?;
                    out.finish()?;
                }
                None => anyhow::bail!(
                    "{}: unknown configuration key {key:?}; known keys: {}",
                    in_store(),
                    entries
                        .iter()
                        .map(|e| e.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Set { key, value } => {
            let mut store = ctx.open_store()?;
            let tx = store.write()?;
            let changed = settings::set(&tx, key, value).with_context(in_store)?;
            tx.commit()?;
            let mut out = output::out();
            out.line(format_args!("{} = {}", changed.key, changed.value))?;
            if changed.rebuilt {
                out.line(format_args!(
                    "Rebuilt the daily tables in {}.",
                    changed.value
                ))?;
            }
            out.finish()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    key: &'a str,
    value: &'a str,
    value_type: &'a str,
    description: Option<&'a str>,
    read_only: bool,
    updated_at: &'a str,
}

fn list(ctx: &Context, json: bool) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let entries = config::list(store.conn())?;
    let rows: Vec<Entry> = entries
        .iter()
        .map(|e| Entry {
            key: &e.key,
            value: &e.value,
            value_type: &e.value_type,
            description: e.description.as_deref(),
            read_only: settings::READ_ONLY.contains(&e.key.as_str()),
            updated_at: &e.updated_at,
        })
        .collect();
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Keys never break; values and descriptions wrap between words when they must.
    let mut t = ReportTable::new(vec![
        text("Key", 0),
        words("Value", 0),
        text("Type", 1),
        words("Description", 0),
    ]);
    for r in &rows {
        let ty = if r.read_only {
            format!("{} (read-only)", r.value_type)
        } else {
            r.value_type.to_owned()
        };
        t.row(vec![
            r.key.to_owned(),
            r.value.to_owned(),
            ty,
            r.description.unwrap_or("").to_owned(),
        ]);
    }
    let mut out = output::out();
    out.report(&t)?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
