//! `daily_usage_summary` (seed 000): per local day in the store's zone, its tokens,
//! cost, sessions and models.

use std::collections::BTreeMap;

use ctm_aggregate::{DayAggregate, Names};
use rusqlite::{params, Connection, Transaction};

use crate::StoreError;

/// One row as the table holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub date: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_tokens: i64,
    pub cache_read_tokens: i64,
    pub total_tokens: i64,
    pub cost_usd: f64,
    pub session_count: i64,
    /// The day's models, sorted, comma-separated.
    pub models_used: String,
}

impl Row {
    pub fn of(day: &DayAggregate, names: &Names) -> Row {
        let s = &day.sums;
        Row {
            date: day.date.to_string(),
            input_tokens: s.input_tokens as i64,
            output_tokens: s.output_tokens as i64,
            cache_creation_tokens: s.cache_creation_tokens() as i64,
            cache_read_tokens: s.cache_read_tokens as i64,
            total_tokens: s.total_tokens() as i64,
            cost_usd: s.cost_usd(),
            session_count: day.sessions.len() as i64,
            models_used: names
                .model_labels(day.models.keys())
                .into_iter()
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

pub fn write(tx: &Transaction, r: &Row) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO daily_usage_summary (date, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, \
         total_tokens, cost_usd, session_count, models_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT(date) DO UPDATE SET input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, \
         cache_creation_tokens = excluded.cache_creation_tokens, cache_read_tokens = excluded.cache_read_tokens, \
         total_tokens = excluded.total_tokens, cost_usd = excluded.cost_usd, session_count = excluded.session_count, \
         models_used = excluded.models_used, updated_at = CURRENT_TIMESTAMP",
    )?
    .execute(params![
        r.date,
        r.input_tokens,
        r.output_tokens,
        r.cache_creation_tokens,
        r.cache_read_tokens,
        r.total_tokens,
        r.cost_usd,
        r.session_count,
        r.models_used
    ])?;
    Ok(())
}

/// Deletes the rows of `date` and, with `and_later`, of every later day.
pub fn delete(tx: &Transaction, date: &str, and_later: bool) -> Result<(), StoreError> {
    let op = if and_later { ">=" } else { "=" };
    tx.prepare_cached(&format!(
        "DELETE FROM daily_usage_summary WHERE date {op} ?1"
    ))?
    .execute([date])?;
    Ok(())
}

/// The rows from `first` on.
pub fn stored(conn: &Connection, first: &str) -> Result<BTreeMap<String, Row>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT date, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, total_tokens, \
         cost_usd, session_count, models_used FROM daily_usage_summary WHERE date >= ?1",
    )?;
    let rows = stmt
        .query_map([first], |r| {
            Ok(Row {
                date: r.get(0)?,
                input_tokens: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                output_tokens: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                cache_creation_tokens: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                cache_read_tokens: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                total_tokens: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
                cost_usd: r.get::<_, Option<f64>>(6)?.unwrap_or(0.0),
                session_count: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
                models_used: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            })
        })?
        .map(|r| r.map(|row| (row.date.clone(), row)))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Lists how the rows from `first` on differ from `expected`.
pub fn check(
    conn: &Connection,
    expected: &[Row],
    first: &str,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    super::compare(
        "daily_usage_summary",
        stored(conn, first)?,
        expected,
        |r| r.date.clone(),
        diffs,
    );
    Ok(())
}
