//! The store's all-time figures, for `/metrics`: the usage of every model in every
//! project, and how many responses the store holds now.

use rusqlite::Connection;

use crate::derive::Sums;
use crate::StoreError;

/// One model's usage in one project, over all time.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageTotal {
    /// As reports name it: `unknown` for responses without one.
    pub model: String,
    /// The project path (cwd); `unknown` for responses without one.
    pub project: String,
    pub sums: Sums,
}

const NANOS_PER_USD: f64 = 1e9;

/// The billed responses' sums per model and project label, in `pruned_usage`'s columns.
/// Costs are summed as whole nano-dollars: an integer sum is the same in any order and
/// split in any way, so the figure never moves down by a rounding (a prune moves part
/// of it into `pruned_usage`, and Prometheus reads any decrease as a counter reset).
const BILLED_BY_MODEL_AND_PROJECT: &str = "SELECT coalesce(model, 'unknown') AS model, \
     coalesce(project_path, 'unknown') AS project, count(*) AS responses, \
     sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, \
     sum(cache_write_5m_tokens) AS cache_write_5m_tokens, \
     sum(cache_write_1h_tokens) AS cache_write_1h_tokens, sum(cache_read_tokens) AS cache_read_tokens, \
     sum(web_search_requests) AS web_search_requests, \
     sum(CAST(round(cost_usd * 1e9) AS INTEGER)) AS cost_nanos, \
     sum(CAST(round(cache_savings_usd * 1e9) AS INTEGER)) AS savings_nanos, \
     sum(priced = 0) AS unpriced_responses \
     FROM billed_responses";

/// Every (model, project) pair's usage since the store began, in model then project
/// order: the billed responses in the store plus what prunes of facts took out of it
/// (`pruned_usage`), so a prune never lowers them. Costs are exact to the nano-dollar.
///
/// The facts part groups the fact table: the derived tables of this schema keep no sums
/// by model and project together. A rollup by model and project would answer it without
/// passing over every response.
pub fn usage_by_model_and_project(conn: &Connection) -> Result<Vec<UsageTotal>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT model, project, sum(responses), sum(input_tokens), sum(output_tokens), \
         sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_read_tokens), \
         sum(web_search_requests), sum(cost_nanos), sum(savings_nanos), sum(unpriced_responses) \
         FROM ({BILLED_BY_MODEL_AND_PROJECT} GROUP BY 1, 2 \
               UNION ALL SELECT * FROM pruned_usage) \
         GROUP BY model, project ORDER BY model, project"
    ))?;
    let rows = stmt.query_map([], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
        Ok(UsageTotal {
            model: r.get(0)?,
            project: r.get(1)?,
            sums: Sums {
                responses: n(2)?,
                input_tokens: n(3)?,
                output_tokens: n(4)?,
                cache_write_5m_tokens: n(5)?,
                cache_write_1h_tokens: n(6)?,
                cache_read_tokens: n(7)?,
                web_search_requests: n(8)?,
                cost_usd: r.get::<_, i64>(9)? as f64 / NANOS_PER_USD,
                cache_savings_usd: r.get::<_, i64>(10)? as f64 / NANOS_PER_USD,
                unpriced_responses: n(11)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds the billed responses before `horizon_ms` to `pruned_usage`: called by the prune
/// that deletes them, in its transaction.
pub fn keep_pruned_usage(tx: &Connection, horizon_ms: i64) -> Result<(), StoreError> {
    let added = |c: &str| format!("{c} = {c} + excluded.{c}");
    let columns = [
        "responses",
        "input_tokens",
        "output_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "cache_read_tokens",
        "web_search_requests",
        "cost_nanos",
        "savings_nanos",
        "unpriced_responses",
    ];
    tx.execute(
        &format!(
            "INSERT INTO pruned_usage {BILLED_BY_MODEL_AND_PROJECT} WHERE ts < ?1 GROUP BY 1, 2 \
             ON CONFLICT (model, project) DO UPDATE SET {}",
            columns.map(added).join(", ")
        ),
        [horizon_ms],
    )?;
    Ok(())
}

/// Billed responses in the store now, and how many of them have no price (the partial
/// index on unpriced responses answers the second).
pub fn billed_responses(conn: &Connection) -> Result<(u64, u64), StoreError> {
    let count = |sql: &str| -> Result<u64, StoreError> {
        let n: i64 = conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
        Ok(n as u64)
    };
    Ok((
        count("SELECT count(*) FROM billed_responses")?,
        count("SELECT count(*) FROM billed_responses WHERE priced = 0")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{retention, OpenOptions, Store};

    const DAY: i64 = 86_400_000;
    /// 2026-01-01T00:00Z.
    const JAN_1: i64 = 1_767_225_600_000;

    fn add(
        store: &Store,
        key: &str,
        ts: i64,
        model: Option<&str>,
        project: Option<&str>,
        priced: bool,
    ) {
        store
            .conn()
            .execute(
                "INSERT INTO responses (dedup_key, ts, session_id, project_path, model, input_tokens, \
                 output_tokens, cache_write_5m_tokens, cache_read_tokens, cost_usd, priced, ingested_at) \
                 VALUES (?1, ?2, 's', ?3, ?4, 10, 20, 30, 40, ?5, ?6, 0)",
                rusqlite::params![key, ts, project, model, if priced { 0.5 } else { 0.0 }, priced],
            )
            .unwrap();
    }

    #[test]
    fn all_time_usage_keeps_what_a_prune_of_facts_took() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        crate::config::set_raw(store.conn(), "timezone", "UTC").unwrap();
        add(&store, "a", JAN_1, Some("opus"), Some("/p"), true);
        add(&store, "b", JAN_1 + DAY, Some("opus"), Some("/p"), true);
        add(&store, "c", JAN_1 + DAY, None, Some("/q"), false);
        add(&store, "d", JAN_1 + 3 * DAY, Some("opus"), None, true);
        add(&store, "e", JAN_1 + 3 * DAY, Some("opus"), Some("/p"), true);
        // A sidechain replay is not billed, here or after the prune.
        store
            .conn()
            .execute_batch(
                "INSERT INTO responses (dedup_key, ts, model, input_tokens, cost_usd, priced, replay_of, ingested_at) \
                 VALUES ('r', 1767225600000, 'opus', 999, 9.0, 1, 'a', 0)",
            )
            .unwrap();
        let before = usage_by_model_and_project(store.conn()).unwrap();
        let labels: Vec<(&str, &str, u64)> = before
            .iter()
            .map(|u| (u.model.as_str(), u.project.as_str(), u.sums.responses))
            .collect();
        assert_eq!(
            labels,
            [
                ("opus", "/p", 3),
                ("opus", "unknown", 1),
                ("unknown", "/q", 1)
            ]
        );
        assert_eq!(before[0].sums.cost_usd, 1.5);
        assert_eq!(before[2].sums.unpriced_responses, 1);
        assert_eq!(billed_responses(store.conn()).unwrap(), (5, 1));

        for first_day_kept in [jiff::civil::date(2026, 1, 2), jiff::civil::date(2026, 1, 4)] {
            let tx = store.write().unwrap();
            retention::prune_facts(&tx, first_day_kept, false).unwrap();
            tx.commit().unwrap();
            assert_eq!(usage_by_model_and_project(store.conn()).unwrap(), before);
        }
        assert_eq!(billed_responses(store.conn()).unwrap(), (2, 0));
        // A dry run records nothing.
        let tx = store.write().unwrap();
        retention::prune_facts(&tx, jiff::civil::date(2026, 2, 1), true).unwrap();
        tx.commit().unwrap();
        assert_eq!(usage_by_model_and_project(store.conn()).unwrap(), before);
    }
}
