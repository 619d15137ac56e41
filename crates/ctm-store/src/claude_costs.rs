//! `claude_code_costs`: Claude Code's own cost of each session, the latest figure per
//! session and source (`cost-state` lines, the statusline's `cost.total_cost_usd`), so
//! `ctm pricing check` can set ctm's cost beside it. Numbers and model names only.
//!
//! Which figure is the latest is decided by an order ([`ClaudeCodeCost::is_later_than`]:
//! the later observation, then the larger cost), never by arrival, so transcripts read in
//! any order, or twice, keep the same row.

use ctm_model::{ClaudeCodeCost, ModelCost};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::StoreError;

/// Where a figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CostSource {
    CostState,
    Statusline,
}

impl CostSource {
    /// As stored and shown (`source` in `ctm pricing check --json`).
    pub fn name(self) -> &'static str {
        match self {
            CostSource::CostState => "cost-state",
            CostSource::Statusline => "statusline",
        }
    }

    fn parse(s: &str) -> Option<CostSource> {
        match s {
            "cost-state" => Some(CostSource::CostState),
            "statusline" => Some(CostSource::Statusline),
            _ => None,
        }
    }
}

/// A stored figure.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCost {
    pub source: CostSource,
    pub cost: ClaudeCodeCost,
    pub recorded_at_ms: i64,
}

/// Keeps `cost` when it is later than the stored figure of its session and source.
/// Returns whether the row changed.
pub fn record(
    tx: &Transaction,
    source: CostSource,
    cost: &ClaudeCodeCost,
    now_ms: i64,
) -> Result<bool, StoreError> {
    if let Some(old) = latest(tx, &cost.session_id, source)? {
        if !cost.is_later_than(&old.cost) {
            return Ok(false);
        }
    }
    let models = if cost.models.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&cost.models).map_err(|e| StoreError::Invalid(e.to_string()))?)
    };
    tx.prepare_cached(
        "INSERT INTO claude_code_costs (session_id, source, total_cost_usd, observed_at, models, \
         has_unknown_model_cost, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT(session_id, source) DO UPDATE SET total_cost_usd = ?3, observed_at = ?4, \
         models = ?5, has_unknown_model_cost = ?6, recorded_at = ?7",
    )?
    .execute(params![
        cost.session_id,
        source.name(),
        cost.total_cost_usd,
        cost.observed_at_ms,
        models,
        cost.has_unknown_model_cost,
        now_ms
    ])?;
    Ok(true)
}

const COLUMNS: &str =
    "session_id, source, total_cost_usd, observed_at, models, has_unknown_model_cost, recorded_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Option<StoredCost>> {
    let source: String = r.get(1)?;
    let models: Option<String> = r.get(4)?;
    let Some(source) = CostSource::parse(&source) else {
        return Ok(None);
    };
    Ok(Some(StoredCost {
        source,
        cost: ClaudeCodeCost {
            session_id: r.get(0)?,
            total_cost_usd: r.get(2)?,
            observed_at_ms: r.get(3)?,
            // Written by `record` from typed values; an unreadable one reads as none.
            models: models
                .and_then(|m| serde_json::from_str::<Vec<ModelCost>>(&m).ok())
                .unwrap_or_default(),
            has_unknown_model_cost: r.get(5)?,
        },
        recorded_at_ms: r.get(6)?,
    }))
}

/// The stored figure of one session and source.
pub fn latest(
    conn: &Connection,
    session_id: &str,
    source: CostSource,
) -> Result<Option<StoredCost>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM claude_code_costs WHERE session_id = ?1 AND source = ?2"
        ))?
        .query_row(params![session_id, source.name()], from_row)
        .optional()?
        .flatten())
}

/// Every stored figure, by session then source.
pub fn all(conn: &Connection) -> Result<Vec<StoredCost>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM claude_code_costs ORDER BY session_id, source"
    ))?;
    let rows = stmt
        .query_map([], from_row)?
        .filter_map(|r| r.transpose())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Whether any figure is stored (reports skip the drift hint cheaply when none is).
pub fn any(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM claude_code_costs LIMIT 1")?
        .exists([])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};

    fn cost(session: &str, usd: f64, at: Option<i64>) -> ClaudeCodeCost {
        ClaudeCodeCost {
            session_id: session.into(),
            total_cost_usd: usd,
            observed_at_ms: at,
            models: vec![ModelCost {
                model: "claude-opus-5-5".into(),
                input_tokens: 10,
                output_tokens: 20,
                cache_read_input_tokens: 30,
                cache_creation_input_tokens: 40,
                web_search_requests: 1,
                cost_usd: usd,
            }],
            has_unknown_model_cost: false,
        }
    }

    #[test]
    fn the_latest_figure_is_kept_whatever_the_arrival_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        let tx = store.write().unwrap();
        let s = CostSource::CostState;
        assert!(record(&tx, s, &cost("a", 1.0, Some(100)), 1).unwrap());
        // An identical line (Claude Code sometimes writes it twice): nothing changes.
        assert!(!record(&tx, s, &cost("a", 1.0, Some(100)), 2).unwrap());
        // An earlier observation arriving later does not replace a later one.
        assert!(!record(&tx, s, &cost("a", 5.0, Some(50)), 3).unwrap());
        assert!(record(&tx, s, &cost("a", 2.0, Some(200)), 4).unwrap());
        // Without a time, the larger (cumulative) figure is the later.
        assert!(record(&tx, s, &cost("b", 1.0, None), 5).unwrap());
        assert!(!record(&tx, s, &cost("b", 0.5, None), 6).unwrap());
        // Another source is another row.
        assert!(record(&tx, CostSource::Statusline, &cost("a", 0.1, Some(1)), 7).unwrap());
        tx.commit().unwrap();
        let rows = all(store.conn()).unwrap();
        let got: Vec<(&str, &str, f64)> = rows
            .iter()
            .map(|r| {
                (
                    r.cost.session_id.as_str(),
                    r.source.name(),
                    r.cost.total_cost_usd,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", "cost-state", 2.0),
                ("a", "statusline", 0.1),
                ("b", "cost-state", 1.0)
            ]
        );
        assert_eq!(rows[0].cost.models, cost("a", 2.0, None).models);
        assert!(any(store.conn()).unwrap());
    }
}
