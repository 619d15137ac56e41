//! The tools: each turns its arguments into a report value with the function the CLI
//! calls for the same command, and the short text that goes beside it.

use ctm_analytics::{
    blocks_report, daily_report, session_detail, session_now, session_report, summary_report,
    AnalyticsError, BlocksQuery, ReportQuery, SessionRow, SummaryReport, Zone,
};
use ctm_store::Store;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::args::{BlocksArgs, DailyArgs, PricingArgs, SessionsArgs, SummaryArgs};
use crate::render;

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
    fn new(value: &impl Serialize, text: String) -> Result<Answer, ToolError> {
        let value = serde_json::to_value(value)
            .map_err(|e| ToolError(format!("cannot encode the answer: {e}")))?;
        Ok(Answer { value, text })
    }
}

/// What a tool reads: the store (already brought up to date), the time, the prices.
pub struct Call<'a> {
    pub store: &'a Store,
    pub now: Timestamp,
    pub prices: &'a crate::Prices,
    pub session_from_env: Option<&'a str>,
}

/// Adds the CLI's pruned warning: the report reaches before `ctm db prune
/// --facts-older-than` and counts only what came after. It goes into the value too
/// (`prunedBefore`), since some clients show the model only the value.
fn with_pruned(
    call: &Call,
    q: &ReportQuery,
    per_day: bool,
    mut answer: Answer,
) -> Result<Answer, ToolError> {
    if let Some(day) = ctm_analytics::query::pruned_before(call.store, q, per_day)? {
        if let Value::Object(map) = &mut answer.value {
            map.insert("prunedBefore".into(), Value::String(day.to_string()));
        }
        answer.text.push_str(&format!(
            "\nNote: responses before {day} were pruned from the store; this counts only what came after."
        ));
    }
    Ok(answer)
}

/// `usage_daily`: `ctm daily --json`.
pub fn usage_daily(call: &Call, args: DailyArgs) -> Result<Answer, ToolError> {
    let q = args.query()?;
    let mut r = daily_report(call.store, &q)?;
    // The value has the per-model rows unless told not to (it is `ctm daily --json`);
    // the text lists them only when asked, to stay short.
    let text = render::daily(&r, args.breakdown == Some(true));
    if args.breakdown == Some(false) {
        for d in &mut r.daily {
            d.usage.model_breakdowns.clear();
        }
    }
    with_pruned(call, &q, true, Answer::new(&r, text)?)
}

/// The session list with a limit: `ctm session --json`, at most `limit` rows, and how
/// many matched.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionList {
    #[serde(flatten)]
    report: ctm_analytics::SessionReport,
    /// Sessions matching the filters; `sessions` holds the first `limit` of them.
    matching_sessions: usize,
}

/// `usage_sessions`: `ctm session --json`, or one session as `ctm session ID --json`.
pub fn usage_sessions(call: &Call, args: SessionsArgs) -> Result<Answer, ToolError> {
    let q = args.query()?;
    let limit = match args.limit {
        None => usize::MAX,
        Some(0) => return Err(ToolError::invalid("limit: 0 is not a positive number")),
        Some(n) => n as usize,
    };
    let store = call.store;
    let answer = match args.id.as_deref() {
        Some(id) => {
            let mut d = session_detail(store, &q, id)?;
            let responses = d.responses.len();
            d.responses.truncate(limit);
            let text = render::session(&d, responses);
            Answer::new(&d, text)?
        }
        None => {
            let mut report = session_report(store, &q)?;
            let matching_sessions = report.sessions.len();
            report.sessions.truncate(limit);
            let text = render::sessions(&report, matching_sessions);
            Answer::new(
                &SessionList {
                    report,
                    matching_sessions,
                },
                text,
            )?
        }
    };
    with_pruned(call, &q, false, answer)
}

/// `usage_blocks`: `ctm blocks --json [--active] [--recent] [--token-limit N|max]`.
pub fn usage_blocks(call: &Call, args: BlocksArgs) -> Result<Answer, ToolError> {
    let report = args.query()?;
    let token_limit = args.token_limit.as_ref().map(|l| l.parse()).transpose()?;
    let active_only = args.active.unwrap_or(false);
    let recent_only = args
        .recent
        .unwrap_or(report.since.is_none() && report.until.is_none());
    let q = BlocksQuery {
        report,
        now_ms: call.now.as_millisecond(),
        token_limit,
        active_only,
        recent_only,
    };
    let r = blocks_report(call.store, &q)?;
    let text = render::blocks(&r, active_only);
    with_pruned(call, &q.report, false, Answer::new(&r, text)?)
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

/// A model the price table cannot price, with its responses in the store.
#[derive(Debug, Serialize)]
pub struct UnpricedModel {
    pub model: String,
    pub responses: u64,
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
    pub unpriced_models_in_store: Vec<UnpricedModel>,
}

pub fn usage_summary(call: &Call, args: SummaryArgs) -> Result<Answer, ToolError> {
    let zone = Zone::resolve(args.timezone.as_deref()).map_err(ToolError)?;
    let store = call.store;
    let overview = summary_report(
        store,
        &ReportQuery::in_zone(zone.clone()),
        call.now,
        args.start_of_week.unwrap_or_default().into(),
    )?;
    let named = match (args.session_id, call.session_from_env) {
        (Some(id), _) => Some((id, "argument")),
        (None, Some(id)) if !id.is_empty() => Some((id.to_owned(), "environment")),
        _ => None,
    };
    let current_session = match named {
        Some((session_id, source)) => {
            let now = session_now(store, &session_id, &zone)?;
            Some(CurrentSession {
                last_context_tokens: now.as_ref().map_or(0, |n| n.last_context_tokens),
                usage: now.map(|n| n.session),
                session_id,
                source,
            })
        }
        None => None,
    };
    let unpriced_models_in_store = store
        .unpriced_models()?
        .into_iter()
        .map(|(model, responses)| UnpricedModel { model, responses })
        .collect();
    let summary = UsageSummary {
        overview,
        current_session,
        unpriced_models_in_store,
    };
    let text = render::summary(&summary);
    Answer::new(&summary, text)
}

/// `pricing`: `ctm pricing --json [--model MODEL]`.
pub fn pricing(call: &Call, args: PricingArgs) -> Result<Answer, ToolError> {
    let table = (call.prices)(call.store)?;
    let today = call.now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let report =
        ctm_analytics::pricing::pricing_report(call.store, &table, today, args.model.as_deref())?;
    let text = render::pricing(&report);
    Answer::new(&report, text)
}
