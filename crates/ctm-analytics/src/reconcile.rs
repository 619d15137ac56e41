//! ctm's cost of a session beside Claude Code's own figure for it (`ctm pricing check`),
//! and the cheap hint every report gives when many sessions of one model disagree.
//!
//! Claude Code's figure (a `cost-state` line, or the statusline's `cost.total_cost_usd`)
//! covers the session's requests up to when it was written: ctm's side sums the billed
//! responses up to that instant. A session disagrees when the two differ by more than
//! 1% of Claude Code's figure and by more than $0.01. Claude Code also counts requests no
//! transcript shows (session titles, prompt suggestions), so its figure is normally a
//! little higher; and it bills with its own bundled prices, which can lag Anthropic's.

use std::collections::{BTreeMap, BTreeSet};

use ctm_store::claude_costs::{CostSource, StoredCost};
use ctm_store::Store;
use serde::Serialize;

use crate::AnalyticsError;

/// A difference must exceed both to count.
pub const TOLERANCE_PCT: f64 = 1.0;
pub const TOLERANCE_USD: f64 = 0.01;

/// At least this many sessions of one model must disagree, and at least this share of
/// the compared sessions that used it, before every report suggests `ctm pricing update`.
pub const HINT_MIN_SESSIONS: usize = 3;
pub const HINT_MIN_SHARE: f64 = 0.5;

/// One session set beside Claude Code's figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCheck {
    pub session_id: String,
    pub ctm_cost_usd: f64,
    pub claude_code_cost_usd: f64,
    /// ctm's minus Claude Code's.
    pub difference_usd: f64,
    /// Of Claude Code's figure; `None` when that is 0.
    pub difference_pct: Option<f64>,
    /// The models involved: for a session that disagrees, the ones the difference comes
    /// from (all of them when the figure has no per-model detail); else every model.
    pub models: Vec<String>,
    pub agrees: bool,
    pub source: &'static str,
    /// The likely causes, in words (the table output; not in the JSON).
    #[serde(skip)]
    pub causes: Vec<String>,
}

/// Every session Claude Code gave a figure for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PricingCheck {
    pub sessions: Vec<SessionCheck>,
    pub checked: u64,
    pub disagreeing: u64,
}

/// ctm's figures for one model of a session.
#[derive(Debug, Clone, Default, PartialEq)]
struct CtmModel {
    cost_usd: f64,
    unpriced: u64,
    tokens: u64,
}

/// The figure a session is checked against: the cost-state line (Claude Code's account
/// at exit) unless the statusline saw the session later.
fn pick(rows: Vec<StoredCost>) -> Vec<StoredCost> {
    let mut by_session: BTreeMap<String, StoredCost> = BTreeMap::new();
    for r in rows {
        match by_session.get(&r.cost.session_id) {
            Some(kept) if !prefer(&r, kept) => {}
            _ => {
                by_session.insert(r.cost.session_id.clone(), r);
            }
        }
    }
    by_session.into_values().collect()
}

fn prefer(a: &StoredCost, b: &StoredCost) -> bool {
    let later =
        |x: &StoredCost, y: &StoredCost| match (x.cost.observed_at_ms, y.cost.observed_at_ms) {
            (Some(p), Some(q)) => p > q,
            _ => false,
        };
    match (a.source, b.source) {
        (CostSource::Statusline, CostSource::CostState) => later(a, b),
        (CostSource::CostState, CostSource::Statusline) => !later(b, a),
        _ => false,
    }
}

/// Whether ctm's and Claude Code's figures differ by more than the tolerance.
pub fn disagrees(ctm_usd: f64, claude_usd: f64) -> bool {
    let d = (ctm_usd - claude_usd).abs();
    d > TOLERANCE_USD && d > claude_usd.abs() * TOLERANCE_PCT / 100.0
}

/// `ctm pricing check`: every session with a Claude Code figure, ctm's cost beside it.
pub fn pricing_check(store: &Store) -> Result<PricingCheck, AnalyticsError> {
    let mut sessions = Vec::new();
    for row in pick(store.claude_costs()?) {
        let ctm = ctm_models(store, &row.cost.session_id, row.cost.observed_at_ms)?;
        sessions.push(check_one(&row, &ctm));
    }
    let disagreeing = sessions.iter().filter(|s| !s.agrees).count() as u64;
    Ok(PricingCheck {
        checked: sessions.len() as u64,
        disagreeing,
        sessions,
    })
}

/// ctm's billed responses of a session up to `until_ms` (all of them for `None`), per
/// model as reports name it.
fn ctm_models(
    store: &Store,
    session: &str,
    until_ms: Option<i64>,
) -> Result<BTreeMap<String, CtmModel>, AnalyticsError> {
    Ok(store
        .session_sums_by_model(session, until_ms)?
        .into_iter()
        .map(|(model, s)| {
            let m = CtmModel {
                cost_usd: s.cost_usd(),
                unpriced: s.unpriced_responses,
                tokens: s.input_tokens
                    + s.output_tokens
                    + s.cache_write_5m_tokens
                    + s.cache_write_1h_tokens
                    + s.cache_read_tokens,
            };
            (model, m)
        })
        .collect())
}

fn usd(v: f64) -> String {
    format!("${v:.2}")
}

fn check_one(row: &StoredCost, ctm: &BTreeMap<String, CtmModel>) -> SessionCheck {
    // Summed in model order, so the figure does not depend on how SQLite grouped them.
    let ctm_cost: f64 = ctm.values().map(|m| m.cost_usd).sum();
    let cc = &row.cost;
    let agrees = !disagrees(ctm_cost, cc.total_cost_usd);
    let cc_models: BTreeMap<&str, &ctm_model::ModelCost> =
        cc.models.iter().map(|m| (m.model.as_str(), m)).collect();
    let all_models: BTreeSet<String> = ctm
        .keys()
        .cloned()
        .chain(cc.models.iter().map(|m| m.model.clone()))
        .collect();
    let mut models: Vec<String> = all_models.iter().cloned().collect();
    let mut causes = Vec::new();
    if !agrees {
        let unpriced: Vec<String> = ctm
            .iter()
            .filter(|(_, m)| m.unpriced > 0)
            .map(|(name, m)| format!("ctm has no price for {name} ({} responses)", m.unpriced))
            .collect();
        if ctm.is_empty() {
            causes.push("no transcript ctm read shows a response of this session".to_owned());
        } else if cc.models.is_empty() {
            // The statusline gives no per-model figures.
            causes.extend(unpriced);
            if causes.is_empty() {
                causes.push(format!(
                    "rates that differ, or requests the transcripts never show (the {} gives no per-model figures)",
                    row.source.name()
                ));
            }
        } else {
            let mut involved = Vec::new();
            for name in &all_models {
                let mine = ctm.get(name);
                let theirs = cc_models.get(name.as_str());
                let (a, b) = (
                    mine.map_or(0.0, |m| m.cost_usd),
                    theirs.map_or(0.0, |m| m.cost_usd),
                );
                if !disagrees(a, b) {
                    continue;
                }
                involved.push(name.clone());
                let cause = match (mine, theirs) {
                    (Some(m), _) if m.unpriced > 0 => {
                        format!("ctm has no price for {name} ({} responses)", m.unpriced)
                    }
                    (None, Some(_)) => format!(
                        "requests the transcripts never show: Claude Code counts {name}, ctm saw no response of it"
                    ),
                    (Some(_), None) => format!(
                        "Claude Code's figure has no {name} (ctm {})",
                        usd(a)
                    ),
                    (Some(m), Some(t)) => {
                        let theirs_tokens = t.input_tokens
                            + t.output_tokens
                            + t.cache_read_input_tokens
                            + t.cache_creation_input_tokens;
                        if theirs_tokens as f64 > m.tokens as f64 * (1.0 + TOLERANCE_PCT / 100.0) {
                            format!(
                                "requests the transcripts never show: Claude Code counts {theirs_tokens} tokens of {name}, the transcripts {}",
                                m.tokens
                            )
                        } else {
                            format!(
                                "{name} is priced at other rates: ctm {}, Claude Code {} for the same tokens",
                                usd(a),
                                usd(b)
                            )
                        }
                    }
                    (None, None) => continue,
                };
                causes.push(cause);
            }
            if involved.is_empty() {
                // Each model within tolerance, the sum not: small differences add up.
                involved = all_models.iter().cloned().collect();
                causes.push("small differences on every model add up".to_owned());
            }
            models = involved;
        }
        if cc.has_unknown_model_cost {
            causes.push("Claude Code itself could not price a model of this session".to_owned());
        }
    }
    let difference = ctm_cost - cc.total_cost_usd;
    SessionCheck {
        session_id: cc.session_id.clone(),
        ctm_cost_usd: ctm_cost,
        claude_code_cost_usd: cc.total_cost_usd,
        difference_usd: difference,
        difference_pct: (cc.total_cost_usd != 0.0).then(|| difference / cc.total_cost_usd * 100.0),
        models,
        agrees,
        source: row.source.name(),
        causes,
    }
}

/// Many sessions of one model disagree with Claude Code's figure.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftHint {
    pub model: String,
    pub disagreeing: usize,
    /// Compared sessions that used the model.
    pub sessions: usize,
}

/// The model most sessions disagree on, when enough do (see [`HINT_MIN_SESSIONS`]).
/// Cheap enough for every report: it reads only the derived session rows of the
/// sessions Claude Code gave a figure for, never the facts, and compares a session only
/// when the figure covers all of it (no response after it).
pub fn drift_hint(store: &Store) -> Result<Option<DriftHint>, AnalyticsError> {
    if !store.has_claude_costs()? {
        return Ok(None);
    }
    // model -> (compared sessions, disagreeing sessions)
    let mut per_model: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for row in pick(store.claude_costs()?) {
        let cc = &row.cost;
        // A session without billed responses has no models to hint at.
        let Some(found) = store.stored_session(&cc.session_id)? else {
            continue;
        };
        if let Some(at) = cc.observed_at_ms {
            if found.last_ts > at {
                continue; // responses after the figure: only `pricing check` sums up to it
            }
        }
        let off = disagrees(found.sums.cost_usd(), cc.total_cost_usd);
        for m in found.models.keys() {
            let e = per_model.entry(m.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(off);
        }
    }
    Ok(per_model
        .into_iter()
        .filter(|(_, (n, off))| {
            *off >= HINT_MIN_SESSIONS && *off as f64 >= *n as f64 * HINT_MIN_SHARE
        })
        .max_by_key(|(_, (n, off))| (*off, *n))
        .map(|(model, (sessions, disagreeing))| DriftHint {
            model,
            disagreeing,
            sessions,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_model::{ClaudeCodeCost, ModelCost};

    #[test]
    fn tolerance_is_one_percent_and_one_cent() {
        assert!(!disagrees(1.009, 1.0), "0.9% and under a cent");
        assert!(!disagrees(0.105, 0.1), "5% but half a cent");
        assert!(!disagrees(100.9, 100.0), "0.9%, 90 cents");
        assert!(disagrees(101.2, 100.0));
        assert!(disagrees(0.0, 0.05));
        assert!(disagrees(0.02, 0.0));
        assert!(!disagrees(0.0, 0.0));
    }

    fn stored(models: Vec<ModelCost>, total: f64) -> StoredCost {
        StoredCost {
            source: CostSource::CostState,
            cost: ClaudeCodeCost {
                session_id: "s".into(),
                total_cost_usd: total,
                observed_at_ms: None,
                models,
                has_unknown_model_cost: false,
            },
            recorded_at_ms: 0,
        }
    }

    fn cc(model: &str, tokens: u64, cost: f64) -> ModelCost {
        ModelCost {
            model: model.into(),
            input_tokens: tokens,
            output_tokens: 0,
            cache_read_input_tokens: 0,
            cache_creation_input_tokens: 0,
            web_search_requests: 0,
            cost_usd: cost,
        }
    }

    fn mine(cost: f64, unpriced: u64, tokens: u64) -> CtmModel {
        CtmModel {
            cost_usd: cost,
            unpriced,
            tokens,
        }
    }

    #[test]
    fn causes_are_named_per_model() {
        let ctm: BTreeMap<String, CtmModel> = [
            ("a".to_owned(), mine(1.0, 0, 1000)),
            ("b".to_owned(), mine(0.0, 10, 1000)),
            ("c".to_owned(), mine(1.0, 0, 1000)),
            ("d".to_owned(), mine(1.0, 0, 1000)),
        ]
        .into();
        let row = stored(
            vec![
                cc("a", 1000, 1.0), // agrees
                cc("b", 1000, 0.5), // ctm cannot price it
                cc("c", 1000, 2.0), // same tokens, other rates
                cc("d", 5000, 2.0), // more tokens than the transcripts
                cc("e", 100, 0.25), // never in a transcript
            ],
            5.75,
        );
        let s = check_one(&row, &ctm);
        assert!(!s.agrees);
        assert_eq!(s.models, ["b", "c", "d", "e"]);
        assert_eq!(s.ctm_cost_usd, 3.0);
        assert!((s.difference_usd + 2.75).abs() < 1e-12);
        let causes = s.causes.join(" | ");
        for want in [
            "no price for b",
            "c is priced at other rates",
            "5000 tokens of d",
            "ctm saw no response of it",
        ] {
            assert!(causes.contains(want), "{want}: {causes}");
        }
        // An agreeing session names every model and no cause.
        let ctm: BTreeMap<String, CtmModel> = [
            ("a".to_owned(), mine(1.0, 0, 1000)),
            ("b".to_owned(), mine(0.5, 0, 1000)),
        ]
        .into();
        let ok = check_one(&stored(vec![cc("a", 1000, 1.004)], 1.504), &ctm);
        assert!(ok.agrees, "{ok:?}");
        assert_eq!(ok.models, ["a", "b"]);
        assert!(ok.causes.is_empty());
    }

    #[test]
    fn a_later_statusline_figure_wins_over_an_older_cost_state() {
        let mut cs = stored(vec![], 1.0);
        cs.cost.observed_at_ms = Some(100);
        let mut sl = cs.clone();
        sl.source = CostSource::Statusline;
        sl.cost.observed_at_ms = Some(200);
        assert_eq!(
            pick(vec![cs.clone(), sl.clone()])[0].source,
            CostSource::Statusline
        );
        sl.cost.observed_at_ms = Some(50);
        assert_eq!(
            pick(vec![sl.clone(), cs.clone()])[0].source,
            CostSource::CostState
        );
        sl.cost.observed_at_ms = None;
        assert_eq!(pick(vec![sl, cs])[0].source, CostSource::CostState);
    }
}
