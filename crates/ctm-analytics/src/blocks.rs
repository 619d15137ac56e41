//! `ctm blocks`: the 5-hour windows Claude's usage limits are counted in, split by
//! `ctm_aggregate::aggregate_blocks`, with ccusage's gaps, burn rate and projection.

use ctm_aggregate::{aggregate_blocks, Fact, Filter, Names, SlotRow, BLOCK_MS};
use ctm_model::utc;
use ctm_store::derive::usage_blocks::BlockFigures;
use ctm_store::Store;
use serde::Serialize;

use crate::burn::{self, WINDOW_MS};
pub use crate::burn::{BurnRate, Projection};
use crate::official::{official_limits, OfficialLimits};
use crate::query::ReportQuery;
use crate::{AnalyticsError, Zone};

/// `--recent`: blocks that started in the last three days (and the active one).
pub const RECENT_MS: i64 = 3 * 24 * 3_600_000;

/// Share of the token limit at which a block gets a warning.
pub const WARNING_SHARE: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLimit {
    Tokens(u64),
    /// The largest total of a finished block.
    LargestPastBlock,
}

#[derive(Debug, Clone)]
pub struct BlocksQuery {
    pub report: ReportQuery,
    /// UTC epoch ms the report is computed at.
    pub now_ms: i64,
    pub token_limit: Option<TokenLimit>,
    /// `--active`: only the active block.
    pub active_only: bool,
    /// `--recent`: only the last three days.
    pub recent_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCounts {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitLevel {
    Ok,
    /// At or above 80 % of the limit.
    Warning,
    /// At or above the limit.
    Exceeds,
}

impl LimitLevel {
    pub fn of(tokens: u64, limit: u64) -> LimitLevel {
        if tokens >= limit {
            LimitLevel::Exceeds
        } else if tokens as f64 >= WARNING_SHARE * limit as f64 {
            LimitLevel::Warning
        } else {
            LimitLevel::Ok
        }
    }
}

/// The active block against the token limit (ccusage's `tokenLimitStatus`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenLimitStatus {
    pub limit: u64,
    pub projected_usage: u64,
    /// projected usage / limit x 100.
    pub percent_used: f64,
    pub status: LimitLevel,
}

/// What a warning is about: the tokens already used, or the projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitBasis {
    Current,
    Projected,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitWarning {
    pub block_id: String,
    pub level: LimitLevel,
    pub basis: LimitBasis,
    pub tokens: u64,
    pub limit: u64,
    /// tokens / limit x 100.
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockRow {
    /// The start in UTC (`usage_blocks.block_id`); gaps are `gap-<start>`.
    pub id: String,
    /// RFC 3339 in the report's zone.
    pub start_time: String,
    pub end_time: String,
    /// The last response; none for a gap.
    pub actual_end_time: Option<String>,
    pub is_active: bool,
    pub is_gap: bool,
    /// Responses.
    pub entries: u64,
    pub token_counts: TokenCounts,
    pub total_tokens: u64,
    #[serde(rename = "costUSD")]
    pub cost_usd: f64,
    pub models: Vec<String>,
    /// The burn rate ([`crate::burn`]): an active block's over its trailing hour, a
    /// finished block's over its active span; none for a gap.
    pub burn_rate: Option<BurnRate>,
    /// The active block only.
    pub projection: Option<Projection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_limit_status: Option<TokenLimitStatus>,
    /// When a "usage limit reached" notice inside the block said the limit resets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_limit_reset_time: Option<String>,
    pub sessions: u64,
    pub unpriced_responses: u64,
    /// False when `unpricedResponses` is not 0: `costUSD` leaves them out.
    pub priced: bool,
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: i64,
    /// The last response (UTC epoch ms); none for a gap.
    #[serde(skip)]
    pub actual_end_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlocksReport {
    pub blocks: Vec<BlockRow>,
    /// The limit in force (`--token-limit max` resolved), if any.
    pub token_limit: Option<u64>,
    /// The active block at or above 80 % of the limit, used or projected.
    pub warnings: Vec<LimitWarning>,
    /// Claude's own 5-hour and 7-day figures, when its statusline ever reported them.
    #[serde(skip_serializing_if = "OfficialLimits::is_empty")]
    pub official: OfficialLimits,
    pub now: String,
    pub timezone: String,
}

/// A block or the silence between two blocks, in time order.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockOrGap<'a> {
    Block(&'a BlockFigures),
    /// ccusage's gap: from 5 h after the last response to the next response, when the
    /// silence is longer than 5 h.
    Gap {
        start_ms: i64,
        end_ms: i64,
    },
}

/// Blocks with the gaps between them.
pub fn with_gaps(blocks: &[BlockFigures]) -> Vec<BlockOrGap<'_>> {
    let mut out = Vec::with_capacity(blocks.len() * 2);
    for (i, b) in blocks.iter().enumerate() {
        if let Some(prev) = i.checked_sub(1).map(|p| &blocks[p]) {
            if b.first_ts - prev.last_ts > BLOCK_MS {
                out.push(BlockOrGap::Gap {
                    start_ms: prev.last_ts + BLOCK_MS,
                    end_ms: b.first_ts,
                });
            }
        }
        out.push(BlockOrGap::Block(b));
    }
    out
}

/// The worst of the used and projected tokens against the limit; none below 80 %.
pub fn limit_warning(
    block_id: &str,
    used: u64,
    projected: Option<u64>,
    limit: u64,
) -> Option<LimitWarning> {
    let warning = |tokens: u64, basis| {
        let level = LimitLevel::of(tokens, limit);
        (level != LimitLevel::Ok).then(|| LimitWarning {
            block_id: block_id.to_owned(),
            level,
            basis,
            tokens,
            limit,
            percent: percent(tokens, limit),
        })
    };
    let current = warning(used, LimitBasis::Current);
    let ahead = projected.and_then(|p| warning(p, LimitBasis::Projected));
    match (current, ahead) {
        // A projection only adds news when it is worse than what is already used.
        (Some(c), Some(p)) if p.level == LimitLevel::Exceeds && c.level != LimitLevel::Exceeds => {
            Some(p)
        }
        (Some(c), _) => Some(c),
        (None, p) => p,
    }
}

fn percent(tokens: u64, limit: u64) -> f64 {
    if limit == 0 {
        0.0
    } else {
        tokens as f64 * 100.0 / limit as f64
    }
}

pub fn blocks_report(store: &Store, q: &BlocksQuery) -> Result<BlocksReport, AnalyticsError> {
    let r = &q.report;
    r.bounds()?;
    let blocks = all_blocks(store, r)?;
    let token_limit = match q.token_limit {
        None => None,
        Some(TokenLimit::Tokens(n)) => Some(n),
        Some(TokenLimit::LargestPastBlock) => blocks
            .iter()
            .filter(|b| !b.is_active(q.now_ms))
            .map(|b| b.sums.total_tokens())
            .max(),
    };
    let notices = store.limit_notices()?;
    let official = official_limits(store, q.now_ms, &r.zone)?;
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    for entry in with_gaps(&blocks) {
        let row = match entry {
            BlockOrGap::Gap { start_ms, end_ms } => gap_row(start_ms, end_ms, &r.zone),
            BlockOrGap::Block(b) => {
                let reset = notice_reset(&notices, b, &r.zone);
                // The active block's rate reads its responses of the trailing hour.
                let recent = if b.is_active(q.now_ms) {
                    let from = b.start_ms.max(q.now_ms - WINDOW_MS);
                    store.facts_between(from, q.now_ms.saturating_add(1), &r.filter)?
                } else {
                    Vec::new()
                };
                block_row(b, &recent, q.now_ms, token_limit, reset, &r.zone)
            }
        };
        let start_day = r.zone.zoned(row.start_ms).date();
        let keep = r.includes_day(start_day)
            && (!q.recent_only || row.is_active || row.start_ms >= q.now_ms - RECENT_MS)
            && (!q.active_only || row.is_active);
        if !keep {
            continue;
        }
        if let (Some(limit), true) = (token_limit, row.is_active) {
            let projected = row.projection.as_ref().map(|p| p.total_tokens);
            warnings.extend(limit_warning(&row.id, row.total_tokens, projected, limit));
        }
        rows.push(row);
    }
    r.arrange(&mut rows);
    Ok(BlocksReport {
        blocks: rows,
        token_limit,
        warnings,
        official,
        now: r.zone.rfc3339(q.now_ms),
        timezone: r.zone.label(),
    })
}

/// Every block of the query's responses (whatever its days: block boundaries depend on
/// every earlier response, so all are split, then picked). Without a filter and with
/// nothing pruned, `usage_blocks` holds exactly these blocks (refreshed in every
/// ingest's transaction), so they are read from there; else they come from the rollup.
fn all_blocks(store: &Store, r: &ReportQuery) -> Result<Vec<BlockFigures>, AnalyticsError> {
    if r.filter.is_empty() {
        if let Some(blocks) = stored_blocks_equal_to_facts(store, None)? {
            return Ok(blocks);
        }
    }
    blocks_of_rows(
        store,
        &store.usage_rows(i64::MIN, i64::MAX, &r.filter, None)?,
    )
}

/// The blocks of rollup rows (or of single responses), their models named.
pub(crate) fn blocks_of_rows(
    store: &Store,
    rows: &[SlotRow],
) -> Result<Vec<BlockFigures>, AnalyticsError> {
    let names = store.names(&[])?;
    Ok(aggregate_blocks(rows, i64::MIN)
        .iter()
        .map(|b| BlockFigures::of(b, &names))
        .collect())
}

/// Every block, from `usage_blocks`, when those are exactly the blocks the billed facts
/// (up to `until_ms`, if given) make: nothing was ever pruned, no response is later than
/// `until_ms`, and every row has its figures (a row without them falls back to the rollup).
pub(crate) fn stored_blocks_equal_to_facts(
    store: &Store,
    until_ms: Option<i64>,
) -> Result<Option<Vec<BlockFigures>>, AnalyticsError> {
    if store.horizon()?.is_some() {
        return Ok(None);
    }
    if let Some(until) = until_ms {
        if store.billed_after(until)? {
            return Ok(None);
        }
    }
    Ok(store.stored_blocks()?)
}

/// The latest block with its responses (oldest first), for front ends that follow it
/// live.
#[derive(Debug, Clone)]
pub struct ActiveBlock {
    pub row: BlockRow,
    pub facts: Vec<Fact>,
    /// The texts of its models.
    pub names: Names,
}

/// The block active at `now_ms`: [`latest_block`] when it is active. The same row as
/// [`blocks_report`]'s active block.
pub fn active_block(
    store: &Store,
    now_ms: i64,
    zone: &Zone,
) -> Result<Option<ActiveBlock>, AnalyticsError> {
    Ok(latest_block(store, now_ms, zone)?.filter(|a| a.row.is_active))
}

/// The latest block that started at or before `now_ms` (active or finished), read from
/// its own responses only, so it stays cheap however long the history: a block's bounds
/// depend only on earlier responses, and `usage_blocks` (refreshed in every ingest's
/// transaction) says where the latest one started. Responses after `now_ms` are left out.
pub fn latest_block(
    store: &Store,
    now_ms: i64,
    zone: &Zone,
) -> Result<Option<ActiveBlock>, AnalyticsError> {
    let Some(start_ms) = store.latest_block_start(now_ms)? else {
        return Ok(None);
    };
    let facts = store.facts_between(start_ms, now_ms.saturating_add(1), &Filter::default())?;
    let rows: Vec<SlotRow> = facts.iter().map(SlotRow::of_fact).collect();
    let names = store.names(&[])?;
    let Some(b) = aggregate_blocks(&rows, i64::MIN).pop() else {
        return Ok(None);
    };
    let b = BlockFigures::of(&b, &names);
    let reset = notice_reset(&store.limit_notices()?, &b, zone);
    let facts: Vec<Fact> = facts.into_iter().filter(|f| f.ts >= b.first_ts).collect();
    let row = block_row(&b, &facts, now_ms, None, reset, zone);
    Ok(Some(ActiveBlock { row, facts, names }))
}

/// When the last "usage limit reached" notice inside the block said the limit resets.
fn notice_reset(notices: &[(i64, i64)], b: &BlockFigures, zone: &Zone) -> Option<String> {
    notices
        .iter()
        .rev()
        .find(|(ts, _)| *ts >= b.start_ms && *ts < b.end_ms())
        .map(|(_, resets_at)| zone.rfc3339(resets_at.saturating_mul(1000)))
}

/// `facts`: the block's responses, at least those of its trailing hour when it is active.
fn block_row(
    b: &BlockFigures,
    facts: &[Fact],
    now_ms: i64,
    token_limit: Option<u64>,
    usage_limit_reset_time: Option<String>,
    zone: &Zone,
) -> BlockRow {
    let s = &b.sums;
    let is_active = b.is_active(now_ms);
    let rate = burn::burn_rate(b, facts, now_ms);
    let projection = burn::projection(b, &rate, now_ms);
    let token_limit_status = match (token_limit, &projection) {
        (Some(limit), Some(p)) => Some(TokenLimitStatus {
            limit,
            projected_usage: p.total_tokens,
            percent_used: percent(p.total_tokens, limit),
            status: LimitLevel::of(p.total_tokens, limit),
        }),
        _ => None,
    };
    BlockRow {
        id: utc::format(b.start_ms),
        start_time: zone.rfc3339(b.start_ms),
        end_time: zone.rfc3339(b.end_ms()),
        actual_end_time: Some(zone.rfc3339(b.last_ts)),
        is_active,
        is_gap: false,
        entries: s.responses,
        token_counts: TokenCounts {
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_creation_input_tokens: s.cache_creation_tokens(),
            cache_read_input_tokens: s.cache_read_tokens,
        },
        total_tokens: s.total_tokens(),
        cost_usd: s.cost_usd(),
        models: b.models.clone(),
        burn_rate: Some(rate),
        projection,
        token_limit_status,
        usage_limit_reset_time,
        sessions: b.sessions,
        unpriced_responses: s.unpriced_responses,
        priced: s.unpriced_responses == 0,
        start_ms: b.start_ms,
        end_ms: b.end_ms(),
        actual_end_ms: Some(b.last_ts),
    }
}

fn gap_row(start_ms: i64, end_ms: i64, zone: &Zone) -> BlockRow {
    BlockRow {
        id: format!("gap-{}", utc::format(start_ms)),
        start_time: zone.rfc3339(start_ms),
        end_time: zone.rfc3339(end_ms),
        actual_end_time: None,
        is_active: false,
        is_gap: true,
        entries: 0,
        token_counts: TokenCounts::default(),
        total_tokens: 0,
        cost_usd: 0.0,
        models: Vec::new(),
        burn_rate: None,
        projection: None,
        token_limit_status: None,
        usage_limit_reset_time: None,
        sessions: 0,
        unpriced_responses: 0,
        priced: true,
        start_ms,
        end_ms,
        actual_end_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_aggregate::{nanos_of_usd, Sums};

    const MIN: i64 = 60_000;
    const H: i64 = 60 * MIN;
    /// 2026-03-07T23:30Z.
    const T0: i64 = 1_772_926_200_000;

    fn figures(facts: &[Fact]) -> Vec<BlockFigures> {
        let rows: Vec<SlotRow> = facts.iter().map(SlotRow::of_fact).collect();
        aggregate_blocks(&rows, i64::MIN)
            .iter()
            .map(|b| BlockFigures::of(b, &Names::default()))
            .collect()
    }

    fn fact(ts: i64, output: u64, cost: f64) -> Fact {
        Fact {
            id: ts,
            ts,
            session: 1,
            project: 0,
            model: 1,
            sums: Sums {
                responses: 1,
                output_tokens: output,
                cost_nanos: nanos_of_usd(cost),
                ..Sums::default()
            },
        }
    }

    #[test]
    fn gaps_run_from_five_hours_after_the_last_response_to_the_next() {
        let blocks = figures(&[
            fact(T0, 1, 0.0),
            fact(T0 + H, 1, 0.0),
            // 7 h of silence: a gap from T0+6h to T0+8h.
            fact(T0 + 8 * H, 1, 0.0),
            // 5h10m after the block start (07:00) but 4h40m after the last response:
            // a new block without a gap.
            fact(T0 + 12 * H + 40 * MIN, 1, 0.0),
        ]);
        let spans = with_gaps(&blocks);
        assert_eq!(spans.len(), 4);
        assert_eq!(
            spans[1],
            BlockOrGap::Gap {
                start_ms: T0 + 6 * H,
                end_ms: T0 + 8 * H
            }
        );
        assert!(
            matches!(spans[2], BlockOrGap::Block(_)) && matches!(spans[3], BlockOrGap::Block(_))
        );
        // Exactly 5 h of silence is no gap (and no new block either).
        let blocks = figures(&[fact(T0, 1, 0.0), fact(T0 + 5 * H, 1, 0.0)]);
        assert_eq!(with_gaps(&blocks).len(), blocks.len());
    }

    #[test]
    fn limit_warnings_at_80_and_100_percent() {
        assert_eq!(LimitLevel::of(799, 1000), LimitLevel::Ok);
        assert_eq!(LimitLevel::of(800, 1000), LimitLevel::Warning);
        assert_eq!(LimitLevel::of(999, 1000), LimitLevel::Warning);
        assert_eq!(LimitLevel::of(1000, 1000), LimitLevel::Exceeds);
        assert_eq!(limit_warning("b", 500, Some(700), 1000), None);
        let w = limit_warning("b", 500, Some(900), 1000).unwrap();
        assert_eq!(
            (w.level, w.basis, w.tokens, w.percent),
            (LimitLevel::Warning, LimitBasis::Projected, 900, 90.0)
        );
        let w = limit_warning("b", 850, Some(950), 1000).unwrap();
        assert_eq!(
            (w.level, w.basis),
            (LimitLevel::Warning, LimitBasis::Current)
        );
        let w = limit_warning("b", 850, Some(1200), 1000).unwrap();
        assert_eq!(
            (w.level, w.basis),
            (LimitLevel::Exceeds, LimitBasis::Projected)
        );
        let w = limit_warning("b", 1100, Some(1500), 1000).unwrap();
        assert_eq!(
            (w.level, w.basis, w.percent),
            (LimitLevel::Exceeds, LimitBasis::Current, 110.0)
        );
    }
}
