//! The store's all-time figures, for `/metrics`: the usage of every model in every
//! project, and how many responses the store holds now.

use rusqlite::Connection;

use crate::derive::{self, Sums};
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

/// Every (model, project) pair's usage over the billed responses, in model then project
/// order. The derived tables of this schema keep no sums by model and project together,
/// so this groups the facts; a rollup by model and project would answer it without
/// passing over them.
pub fn usage_by_model_and_project(conn: &Connection) -> Result<Vec<UsageTotal>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT model, project_path, count(*), sum(input_tokens), sum(output_tokens), \
         sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_read_tokens), \
         sum(web_search_requests), sum(cost_usd), sum(cache_savings_usd), sum(priced = 0) \
         FROM billed_responses GROUP BY model, project_path ORDER BY model, project_path",
    )?;
    let rows = stmt.query_map([], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
        Ok(UsageTotal {
            model: derive::model_label(r.get::<_, Option<String>>(0)?.as_deref()).to_owned(),
            project: r
                .get::<_, Option<String>>(1)?
                .unwrap_or_else(|| "unknown".into()),
            sums: Sums {
                responses: n(2)?,
                input_tokens: n(3)?,
                output_tokens: n(4)?,
                cache_write_5m_tokens: n(5)?,
                cache_write_1h_tokens: n(6)?,
                cache_read_tokens: n(7)?,
                web_search_requests: n(8)?,
                cost_usd: r.get(9)?,
                cache_savings_usd: r.get(10)?,
                unpriced_responses: n(11)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
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
