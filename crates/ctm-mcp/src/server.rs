//! The MCP server: the tool list with each tool's argument schema, and calls run on a
//! blocking thread (SQLite) one at a time, each after bringing the store up to date.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use rmcp::handler::server::tool::schema_for_input;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, JsonObject, ServerCapabilities, ServerConfig,
};
use rmcp::{tool, tool_handler, tool_router, ServerHandler};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::answer::{Answer, ToolError};
use crate::args::{BlocksArgs, DailyArgs, PricingArgs, SessionsArgs, SummaryArgs};
use crate::tools::{self, Call};
use crate::{McpConfig, Prices, Refresh};

/// What the server tells the client about itself at initialization.
const INSTRUCTIONS: &str = "ctm (Claude Token Monitor) keeps every Claude Code API response in a \
local store, counted once and priced exactly, and answers from it. Use usage_summary for a quick \
answer (today, this week, this month, the current 5-hour block, this session); usage_daily, \
usage_sessions and usage_blocks for detail; pricing for what a model costs. Costs are USD; a \
cost marked with * leaves out models without a price. Plan limits and projections are \
estimates; figures labelled official come from Claude itself.";

/// The MCP server over one store. Cloned per connection by rmcp; clones share the store.
#[derive(Clone)]
pub struct UsageServer {
    state: Arc<State>,
}

struct State {
    /// One call at a time: each brings the store up to date, then reads it.
    store: Mutex<(ctm_store::Store, Refresh)>,
    prices: Prices,
    fixed_now: Option<Timestamp>,
    session_from_env: Option<String>,
}

impl UsageServer {
    pub fn new(cfg: McpConfig) -> UsageServer {
        UsageServer {
            state: Arc::new(State {
                store: Mutex::new((cfg.store, cfg.refresh)),
                prices: cfg.prices,
                fixed_now: cfg.fixed_now,
                session_from_env: cfg.session_from_env,
            }),
        }
    }

    /// Checks the arguments, then answers on a blocking thread. Every failure (bad
    /// arguments, a busy store, a bug) is a tool error with one line; none stops the
    /// server.
    async fn answer<A>(
        &self,
        arguments: JsonObject,
        tool: fn(&Call, A) -> Result<Answer, ToolError>,
    ) -> CallToolResult
    where
        A: DeserializeOwned + Send + 'static,
    {
        let args: A = match serde_json::from_value(serde_json::Value::Object(arguments)) {
            Ok(a) => a,
            Err(e) => return tool_error(ToolError(format!("bad arguments: {e}"))),
        };
        let state = self.state.clone();
        let answered = tokio::task::spawn_blocking(move || state.call(args, tool)).await;
        match answered {
            Ok(Ok(a)) => {
                let mut result = CallToolResult::structured(a.value);
                result.content = vec![ContentBlock::text(a.text)];
                result
            }
            Ok(Err(e)) => tool_error(e),
            Err(e) => tool_error(ToolError(format!("the call stopped: {e}"))),
        }
    }
}

impl State {
    fn call<A>(
        &self,
        args: A,
        tool: fn(&Call, A) -> Result<Answer, ToolError>,
    ) -> Result<Answer, ToolError> {
        // A call that panicked left nothing half-written (the ingest is one transaction).
        let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let (store, refresh) = &mut *guard;
        refresh(store)?;
        let call = Call {
            store,
            now: self.fixed_now.unwrap_or_else(Timestamp::now),
            prices: &self.prices,
            session_from_env: self.session_from_env.as_deref(),
        };
        tool(&call, args)
    }
}

fn tool_error(e: ToolError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(e.0)])
}

/// A tool's argument schema, as clients see it in `tools/list`.
fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    schema_for_input::<T>().unwrap_or_else(|e| panic!("the argument schema is invalid: {e}"))
}

#[tool_router]
impl UsageServer {
    #[tool(
        name = "usage_daily",
        description = "Tokens and cost per day, as `ctm daily --json`: one row per local day \
            (input, output, cache write and cache read tokens, cost in USD, responses, models, \
            and per-model rows), with totals. Filter by days, project or model.",
        input_schema = schema::<DailyArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn usage_daily(&self, arguments: JsonObject) -> CallToolResult {
        self.answer(arguments, tools::usage_daily).await
    }

    #[tool(
        name = "usage_sessions",
        description = "Claude Code sessions with their tokens, cost, duration and models, as \
            `ctm session --json`; with `id` (or a unique start of one), that session response \
            by response, as `ctm session ID --json`.",
        input_schema = schema::<SessionsArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn usage_sessions(&self, arguments: JsonObject) -> CallToolResult {
        self.answer(arguments, tools::usage_sessions).await
    }

    #[tool(
        name = "usage_blocks",
        description = "The 5-hour windows Claude's usage limits are counted in, as `ctm blocks \
            --json`: the active block with its burn rate and projection (estimates), the token \
            limit when given, and Claude's official 5-hour and 7-day percentages when the \
            statusline captured them. Recent blocks by default; `active` for the active one only.",
        input_schema = schema::<BlocksArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn usage_blocks(&self, arguments: JsonObject) -> CallToolResult {
        self.answer(arguments, tools::usage_blocks).await
    }

    #[tool(
        name = "usage_summary",
        description = "One small overview to quote: cost and tokens today, this week and this \
            month, the current 5-hour block (burn rate, projection, limit), Claude's official \
            limits when captured, this Claude Code session, and models without a price.",
        input_schema = schema::<SummaryArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn usage_summary(&self, arguments: JsonObject) -> CallToolResult {
        self.answer(arguments, tools::usage_summary).await
    }

    #[tool(
        name = "pricing",
        description = "The price table in force, as `ctm pricing --json`: for `model` (a name \
            as Claude Code writes it, or an alias) the row that prices it, with its rates today \
            (USD per million input, output, cache write and cache read tokens), its dated, banded \
            (long-context) and fast-mode rules; without it, every model. Also the models in the \
            store without a price.",
        input_schema = schema::<PricingArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn pricing(&self, arguments: JsonObject) -> CallToolResult {
        self.answer(arguments, tools::pricing).await
    }
}

#[tool_handler]
impl ServerHandler for UsageServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("ctm", env!("CARGO_PKG_VERSION"))
                    .with_title("Claude Token Monitor"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}
