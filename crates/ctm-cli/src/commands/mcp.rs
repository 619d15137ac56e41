//! `ctm mcp`: the MCP server (crate `ctm-mcp`) on stdin/stdout, and `--install`, which
//! adds it to Claude Code's MCP servers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use ctm_source::RootsFrom;
use ctm_store::OpenOptions;
use serde_json::{json, Value};

use super::fixed_now;
use crate::claude_config::{self, Written};
use crate::cli::McpArgs;
use crate::context::Context;
use crate::errors;
use crate::output::say;

/// The name the server has in Claude Code (its tools appear as `mcp__ctm__...`).
const SERVER_NAME: &str = "ctm";

pub fn run(ctx: &Context, args: &McpArgs) -> Result<ExitCode> {
    if args.install {
        return install(ctx, args.write);
    }
    let store = if ctx.no_ingest {
        ctx.open_store_with(&OpenOptions {
            read_only: true,
            ..ctx.open_options()
        })?
    } else {
        ctx.open_store()?
    };
    let refresh_ctx = ctx.clone();
    let prices_ctx = ctx.clone();
    ctm_mcp::serve_stdio(ctm_mcp::McpConfig {
        store,
        // The same ingest every report runs first (nothing with --no-ingest); a failure
        // is the line the CLI would print.
        refresh: Box::new(move |store| {
            refresh_ctx
                .ingest(store)
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!(errors::one_line(&refresh_ctx.explain(e))))
        }),
        prices: Box::new(move |store| prices_ctx.prices_in_force(store.conn())),
        fixed_now: fixed_now()?,
        session_from_env: std::env::var("CLAUDE_CODE_SESSION_ID").ok(),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The file Claude Code reads its user-scope MCP servers from: `.claude.json` in its
/// config folder when it runs with `CLAUDE_CONFIG_DIR`, else in the home folder. ctm
/// takes the folder from CLAUDE_CONFIG_DIR or the first `--claude-dir` (one of the
/// default data folders, `~/.claude` or `~/.config/claude`, means the home folder's file).
fn user_config_path(ctx: &Context) -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute());
    let dir = match ctx.roots.from {
        RootsFrom::Flags | RootsFrom::Env => ctx.roots.paths.first().cloned(),
        RootsFrom::Defaults => None,
    };
    let default_dir = |d: &Path| {
        home.as_ref()
            .is_some_and(|h| d == h.join(".claude") || d == h.join(".config").join("claude"))
    };
    match (dir, &home) {
        (Some(d), _) if !default_dir(&d) => Ok(std::path::absolute(&d)
            .with_context(|| format!("cannot make {} absolute", d.display()))?
            .join(".claude.json")),
        (_, Some(h)) => Ok(h.join(".claude.json")),
        (_, None) => anyhow::bail!(
            "cannot tell where Claude Code's configuration is: set HOME, CLAUDE_CONFIG_DIR or --claude-dir"
        ),
    }
}

/// The `mcpServers` entry: this binary, `mcp`, and the options this install was given.
fn server_entry(ctx: &Context) -> Result<Value> {
    let exe = std::env::current_exe().context("cannot tell where this ctm binary is")?;
    let mut args: Vec<String> = vec!["mcp".into()];
    for (flag, path) in ctx.install_options()? {
        args.push(flag.into());
        args.push(path.display().to_string());
    }
    let mut env = serde_json::Map::new();
    if ctx.roots.from == RootsFrom::Env {
        // Claude Code's own variable, passed on whatever environment it gives servers.
        if let Ok(dirs) = std::env::var("CLAUDE_CONFIG_DIR") {
            env.insert("CLAUDE_CONFIG_DIR".into(), Value::String(dirs));
        }
    }
    Ok(json!({
        "type": "stdio",
        "command": exe.display().to_string(),
        "args": args,
        "env": env,
    }))
}

fn install(ctx: &Context, write: bool) -> Result<ExitCode> {
    let entry = server_entry(ctx)?;
    let path = user_config_path(ctx)?;
    if !write {
        let snippet = json!({ "mcpServers": { SERVER_NAME: entry } });
        say(serde_json::to_string_pretty(&snippet)?)?;
        eprintln!(
            "Add this to {} (or run `ctm mcp --install --write`, or `claude mcp add-json --scope user {SERVER_NAME} '{}'`).",
            path.display(),
            serde_json::to_string(&entry)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    // An entry named ctm is this server's: one with other options is replaced, and said.
    let mut previous = None;
    let written = claude_config::write_entry(&path, &["mcpServers", SERVER_NAME], &entry, |old| {
        previous = serde_json::from_str::<Value>(old)
            .ok()
            .map(|v| v.to_string());
        Ok(())
    })?;
    match (written, previous) {
        (Written::Unchanged, _) => say(format_args!(
            "{} already has this ctm MCP server; nothing changed.",
            path.display()
        ))?,
        (Written::Updated { backup }, old) => say(format_args!(
            "{} the ctm MCP server in {}{} (the previous file is kept as {}). Claude Code starts it from its next session.",
            if old.is_some() { "Replaced" } else { "Added" },
            path.display(),
            old.map(|o| format!("; it was {o}")).unwrap_or_default(),
            backup.display()
        ))?,
        (Written::Created, _) => say(format_args!(
            "Created {} with the ctm MCP server. Claude Code starts it from its next session.",
            path.display()
        ))?,
    }
    Ok(ExitCode::SUCCESS)
}
