//! What the layers of the server share: a tool's answer, its error, and the one value
//! no report of `ctm_analytics` already is (the summary). Kept apart so that arguments,
//! tools and renderings each depend on it and never on one another in a loop.

use ctm_analytics::{AnalyticsError, SessionRow, SummaryReport};
use serde::Serialize;
use serde_json::Value;

/// A call that could not be answered: one line, as the CLI would print it after
/// `ctm: error: `. The client gets it as a tool error (`isError`), never a crash.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError(pub String);

impl ToolError {
    pub fn invalid(message: impl Into<String>) -> ToolError {
        ToolError(message.into())
    }
}

impl From<AnalyticsError> for ToolError {
    fn from(e: AnalyticsError) -> ToolError {
        ToolError(e.to_string())
    }
}

impl From<ctm_store::StoreError> for ToolError {
    fn from(e: ctm_store::StoreError) -> ToolError {
        ToolError(e.to_string())
    }
}

impl From<anyhow::Error> for ToolError {
    /// The whole chain on one line, as `ctm` prints it.
    fn from(e: anyhow::Error) -> ToolError {
        let line = e
            .chain()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        ToolError(line.replace('\n', " "))
    }
}

/// A tool's answer: the value (`structuredContent`) and its short rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub value: Value,
    pub text: String,
}

impl Answer {
    pub(crate) fn new(value: &impl Serialize, text: String) -> Result<Answer, ToolError> {
        let value = serde_json::to_value(value)
            .map_err(|e| ToolError(format!("cannot encode the answer: {e}")))?;
        Ok(Answer { value, text })
    }
}

/// `usage_summary`: the dashboard's overview (today, this week, this month, the current
/// block with its burn rate and projection, Claude's official limits) plus the current
/// session and the models without a price.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSummary {
    #[serde(flatten)]
    pub overview: SummaryReport,
    pub current_session: Option<CurrentSession>,
    /// Every model in the store without a price: its tokens count, its cost is unknown.
    pub unpriced_models_in_store: Vec<ctm_analytics::pricing::Unpriced>,
}

/// The session `usage_summary` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentSession {
    pub session_id: String,
    /// `argument` (the client named it) or `environment` (CLAUDE_CODE_SESSION_ID).
    pub source: &'static str,
    /// Its figures as `ctm session` shows them; null while the store has no response
    /// of it yet.
    pub usage: Option<SessionRow>,
    /// Input + cache write + cache read tokens of its latest response: the context it
    /// sent last.
    pub last_context_tokens: u64,
}
