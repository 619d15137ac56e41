//! The tools: each turns its arguments into a report value with the function the CLI
//! calls for the same command, and the short text that goes beside it.

use ctm_analytics::pricing::Unpriced;
use ctm_analytics::{
    blocks_report, daily_report, session_detail, session_now, session_report, summary_report,
    BlocksQuery, ReportQuery, Zone,
};
use ctm_store::Store;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::answer::{Answer, CurrentSession, ToolError, UsageSummary};
use crate::args::{BlocksArgs, DailyArgs, PricingArgs, SessionsArgs, SummaryArgs};
use crate::render;

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
        .map(|(model, responses)| Unpriced { model, responses })
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
