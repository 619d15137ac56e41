//! Each tool's arguments. The doc comments are the descriptions clients see in the
//! tools' JSON schemas; every argument is optional, and one a tool does not know is an
//! error (a misspelt `sinse` must not silently widen a report).

use ctm_analytics::{Order, QueryText, ReportQuery, TokenLimit};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::answer::ToolError;

/// Oldest first or newest first.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderArg {
    #[default]
    Asc,
    Desc,
}

impl From<OrderArg> for Order {
    fn from(o: OrderArg) -> Order {
        match o {
            OrderArg::Asc => Order::Asc,
            OrderArg::Desc => Order::Desc,
        }
    }
}

/// The options every report shares, as `ctm daily --since ... --timezone ...` takes them.
macro_rules! report_options {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// First local day to include, YYYY-MM-DD or YYYYMMDD (as `--since`).
            pub since: Option<String>,
            /// Last local day to include, YYYY-MM-DD or YYYYMMDD (as `--until`).
            pub until: Option<String>,
            /// IANA time zone for days and times, e.g. Europe/Paris or UTC; default: the system's (as `--timezone`).
            pub timezone: Option<String>,
            /// Only responses whose project path (cwd) contains this text, ignoring case.
            pub project: Option<String>,
            /// Only responses whose model name contains this text, ignoring case.
            pub model: Option<String>,
            /// Oldest first (asc, the default) or newest first (desc).
            pub order: Option<OrderArg>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// The report query, checked as the CLI checks its options (same messages).
            pub fn query(&self) -> Result<ReportQuery, ToolError> {
                Ok(ReportQuery::parse(&QueryText {
                    timezone: self.timezone.as_deref(),
                    since: self.since.as_deref(),
                    until: self.until.as_deref(),
                    order: self.order.unwrap_or_default().into(),
                    project: self.project.as_deref(),
                    model: self.model.as_deref(),
                })?)
            }
        }
    };
}

report_options! {
    /// `usage_daily`: `ctm daily --json`.
    pub struct DailyArgs {
        /// Each day's per-model rows (modelBreakdowns): true (the default) gives exactly `ctm daily --json`; false leaves them empty to keep a long range small.
        pub breakdown: Option<bool>,
    }
}

report_options! {
    /// `usage_sessions`: `ctm session --json`, or `ctm session ID --json` with `id`.
    pub struct SessionsArgs {
        /// A session id, or a unique start of one: that session response by response.
        pub id: Option<String>,
        /// At most this many sessions (or, with `id`, responses), taken in `order` (use order desc for the latest); totals still cover every match.
        #[schemars(range(min = 1))]
        pub limit: Option<u32>,
    }
}

report_options! {
    /// `usage_blocks`: `ctm blocks --json`.
    pub struct BlocksArgs {
        /// Only the active 5-hour block (as `--active`).
        pub active: Option<bool>,
        /// Only blocks that started in the last 3 days, and the active one (as `--recent`); true unless since or until is given.
        pub recent: Option<bool>,
        /// The token limit the active block is measured against (as `--token-limit`): a number of tokens, or "max" for the largest finished block.
        pub token_limit: Option<TokenLimitArg>,
    }
}

/// A number of tokens, or the text `max` (or a number written as text).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TokenLimitArg {
    Tokens(u64),
    Text(String),
}

impl TokenLimitArg {
    pub fn parse(&self) -> Result<TokenLimit, ToolError> {
        match self {
            TokenLimitArg::Tokens(0) => Err(ToolError::invalid(
                "token_limit: 0 is neither a positive number of tokens nor `max`",
            )),
            TokenLimitArg::Tokens(n) => Ok(TokenLimit::Tokens(*n)),
            TokenLimitArg::Text(s) => {
                TokenLimit::parse(s).map_err(|e| ToolError::invalid(format!("token_limit: {e}")))
            }
        }
    }
}

/// `usage_summary`: today, this week, this month, the current block and session.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryArgs {
    /// The Claude Code session to report, by its full id; default: the session that started this server (CLAUDE_CODE_SESSION_ID), when known.
    pub session_id: Option<String>,
    /// IANA time zone for today, this week and this month; default: the system's.
    pub timezone: Option<String>,
    /// The day weeks start on: monday (the default) to sunday.
    pub start_of_week: Option<WeekdayArg>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WeekdayArg {
    #[default]
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<WeekdayArg> for jiff::civil::Weekday {
    fn from(d: WeekdayArg) -> jiff::civil::Weekday {
        use jiff::civil::Weekday as W;
        match d {
            WeekdayArg::Monday => W::Monday,
            WeekdayArg::Tuesday => W::Tuesday,
            WeekdayArg::Wednesday => W::Wednesday,
            WeekdayArg::Thursday => W::Thursday,
            WeekdayArg::Friday => W::Friday,
            WeekdayArg::Saturday => W::Saturday,
            WeekdayArg::Sunday => W::Sunday,
        }
    }
}

/// `pricing`: `ctm pricing --json [--model MODEL]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PricingArgs {
    /// A model name as Claude Code writes it (e.g. claude-sonnet-4-5-20250929) or any alias the table knows; default: every model in the table.
    pub model: Option<String>,
}
