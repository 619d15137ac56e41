//! `ctm mcp`: a Model Context Protocol server over stdio, so that Claude (or any MCP
//! client) can ask ctm's store what a day, a session or the current 5-hour block cost.
//!
//! The only crate that links the MCP SDK (`rmcp`): the core crates never do. Every tool
//! answers with one of `ctm_analytics`' report values, built by the same function and
//! serialised by the same `Serialize` derive as the CLI's `--json`, so a tool and its
//! command cannot drift. Each call first brings the store up to date, as every report
//! does (cheap when nothing changed). stdout carries the protocol and nothing else;
//! warnings go to stderr.
//!
//! - [`answer`]: a tool's answer and error, and the summary value, shared by the rest.
//! - [`args`]: each tool's arguments, with the JSON schema clients see.
//! - [`tools`]: the tools, one function per tool from arguments to a value.
//! - [`render`]: the short text beside each value.
//! - [`server`]: the MCP server itself: the tool list, calls on a blocking thread, errors
//!   as tool errors.

pub mod answer;
pub mod args;
pub mod render;
mod server;
pub mod tools;

use anyhow::{Context as _, Result};
use ctm_pricing::PriceTable;
use ctm_store::Store;
use jiff::Timestamp;

pub use server::UsageServer;

/// Brings the store up to date before a call: the CLI's ingest-before-report.
pub type Refresh = Box<dyn FnMut(&mut Store) -> Result<()> + Send>;

/// The price table in force in a store (the one `ctm pricing update` kept there, else the
/// embedded one, with the user's overrides): the CLI's own function.
pub type Prices = Box<dyn Fn(&Store) -> Result<PriceTable> + Send + Sync>;

/// What `ctm mcp` was given.
pub struct McpConfig {
    /// The store, opened (and migrated) by the front end.
    pub store: Store,
    /// Runs before every call; the CLI passes its ingest (nothing with `--no-ingest`).
    pub refresh: Refresh,
    pub prices: Prices,
    /// A fixed "now" (`CTM_NOW`, for tests); else the clock.
    pub fixed_now: Option<Timestamp>,
    /// The Claude Code session that started this server, when it says
    /// (`CLAUDE_CODE_SESSION_ID`): `usage_summary` reports it when the client names none.
    pub session_from_env: Option<String>,
}

/// Serves MCP on stdin/stdout until the client closes stdin.
pub fn serve_stdio(cfg: McpConfig) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the MCP server's runtime")?;
    runtime.block_on(async move {
        use rmcp::ServiceExt as _;
        let service = UsageServer::new(cfg)
            .serve(rmcp::transport::stdio())
            .await
            .context("the MCP client did not initialize the session")?;
        service.waiting().await.context("the MCP server stopped")?;
        Ok(())
    })
}
