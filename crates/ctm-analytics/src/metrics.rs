//! The figures `GET /metrics` exposes to Prometheus: all-time usage per model and
//! project (counters), the active 5-hour block and Claude's official limits (gauges),
//! and the store's size. The web front end writes them in Prometheus' text format.
//!
//! What a scrape reads does not grow with the history: the all-time sums are the few
//! rows of `usage_totals` (one per project and model), the block is the active one's
//! responses (at most five hours of them), the limits are the latest samples.

use std::collections::BTreeMap;

use ctm_aggregate::Sums;
use ctm_store::reads::UsageTotal;
use ctm_store::Store;

use crate::blocks::active_block;
use crate::official::{official_limits, OfficialLimit};
use crate::{AnalyticsError, Zone};

/// The label that projects beyond the top ones share.
pub const OTHER_PROJECT: &str = "other";

/// The projects named in labels unless told otherwise; the rest are `other`.
pub const DEFAULT_TOP_PROJECTS: usize = 20;

#[derive(Debug, Clone)]
pub struct MetricsQuery {
    /// UTC epoch ms: which block is active, which official figures still hold.
    pub now_ms: i64,
    /// How many projects keep their own label (by all-time cost, then tokens, then
    /// name); the others are summed into `project="other"`, so the number of series stays
    /// bounded however many folders Claude Code ran in.
    pub top_projects: usize,
}

/// One model's all-time usage in one project (or in `other`).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageCounter {
    pub model: String,
    pub project: String,
    pub sums: Sums,
}

/// The active block's gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockGauges {
    /// Input + output + cache tokens so far, as `ctm blocks` counts a block.
    pub tokens: u64,
    pub cost_usd: f64,
    /// 0 until the block has two instants to measure between.
    pub burn_rate_tokens_per_minute: f64,
    /// UTC epoch ms.
    pub ends_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Per model and project, model then project order.
    pub usage: Vec<UsageCounter>,
    /// Per model: its responses in every project.
    pub responses_by_model: BTreeMap<String, u64>,
    /// None when no block is active now.
    pub block: Option<BlockGauges>,
    /// Claude's official 5-hour and 7-day figures whose window has not reset yet.
    pub official: Vec<OfficialLimit>,
    /// Billed responses in the store now.
    pub store_responses: u64,
    /// Of which the price table has no price.
    pub unpriced_responses: u64,
}

pub fn metrics(store: &Store, q: &MetricsQuery) -> Result<Metrics, AnalyticsError> {
    let all_time = store.all_time_usage()?;
    let in_store = all_time.in_store();
    let usage = fold_projects(all_time.rows, q.top_projects);
    let mut responses_by_model = BTreeMap::new();
    for u in &usage {
        *responses_by_model.entry(u.model.clone()).or_insert(0) += u.sums.responses;
    }
    // The zone only shapes the row's texts, which the gauges do not use.
    let block = active_block(store, q.now_ms, &Zone::utc())?.map(|a| BlockGauges {
        tokens: a.row.total_tokens,
        cost_usd: a.row.cost_usd,
        burn_rate_tokens_per_minute: a
            .row
            .burn_rate
            .as_ref()
            .map_or(0.0, |r| r.tokens_per_minute),
        ends_ms: a.row.end_ms,
    });
    let official = official_limits(store, q.now_ms, &Zone::utc())?
        .current()
        .cloned()
        .collect();
    Ok(Metrics {
        usage,
        responses_by_model,
        block,
        official,
        store_responses: in_store.responses,
        unpriced_responses: in_store.unpriced_responses,
    })
}

/// Keeps the `top` projects with the highest all-time cost (then tokens, then name) and
/// sums every other project's usage into `other`, per model.
pub fn fold_projects(totals: Vec<UsageTotal>, top: usize) -> Vec<UsageCounter> {
    let mut per_project: BTreeMap<&str, Sums> = BTreeMap::new();
    for t in &totals {
        per_project.entry(&t.project).or_default().add(&t.sums);
    }
    let mut ranked: Vec<(&str, &Sums)> = per_project.iter().map(|(p, s)| (*p, s)).collect();
    ranked.sort_by(|a, b| {
        b.1.cost_nanos
            .cmp(&a.1.cost_nanos)
            .then_with(|| b.1.total_tokens().cmp(&a.1.total_tokens()))
            .then_with(|| a.0.cmp(b.0))
    });
    let named: std::collections::BTreeSet<String> = ranked
        .iter()
        .take(top)
        .map(|(p, _)| p.to_string())
        .collect();
    let mut folded: BTreeMap<(String, String), Sums> = BTreeMap::new();
    for t in totals {
        let project = if named.contains(&t.project) {
            t.project
        } else {
            OTHER_PROJECT.to_owned()
        };
        folded.entry((t.model, project)).or_default().add(&t.sums);
    }
    folded
        .into_iter()
        .map(|((model, project), sums)| UsageCounter {
            model,
            project,
            sums,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(model: &str, project: &str, tokens: u64, cost_usd: f64) -> UsageTotal {
        UsageTotal {
            model: model.into(),
            project: project.into(),
            sums: Sums {
                responses: 1,
                input_tokens: tokens,
                cost_nanos: ctm_aggregate::nanos_of_usd(cost_usd),
                ..Sums::default()
            },
        }
    }

    #[test]
    fn projects_past_the_top_fold_into_other_and_nothing_is_lost() {
        let totals = vec![
            total("opus", "/a", 10, 5.0),
            total("haiku", "/a", 5, 0.1),
            total("opus", "/b", 100, 1.0),
            total("opus", "/c", 1, 3.0),
            total("haiku", "/d", 7, 3.0),
        ];
        let folded = fold_projects(totals.clone(), 2);
        let labels: Vec<(&str, &str)> = folded
            .iter()
            .map(|u| (u.model.as_str(), u.project.as_str()))
            .collect();
        // By cost: /a (5.1), then /c and /d tie at 3.0 and /d has more tokens.
        assert_eq!(
            labels,
            [
                ("haiku", "/a"),
                ("haiku", "/d"),
                ("opus", "/a"),
                ("opus", "other")
            ]
        );
        let other = folded.iter().find(|u| u.project == "other").unwrap();
        assert_eq!(other.sums.input_tokens, 101);
        assert_eq!(other.sums.responses, 2);
        let sum = |v: &[UsageCounter]| v.iter().map(|u| u.sums.input_tokens).sum::<u64>();
        assert_eq!(sum(&folded), 123);
        assert_eq!(
            fold_projects(totals.clone(), 0)
                .iter()
                .filter(|u| u.project != "other")
                .count(),
            0
        );
        assert_eq!(fold_projects(totals, 10).len(), 5);
    }
}
