//! `cache_analytics` (seed 000): per local day in the store's zone, what was written to
//! and read from the prompt cache, the hit rate and what caching saved.

use std::collections::BTreeMap;

use ctm_aggregate::{nanos_of_usd, DayAggregate};
use rusqlite::{params, Connection, Transaction};

use crate::StoreError;

/// One row as the table holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub date: String,
    pub total_cache_tokens: i64,
    pub cache_hit_tokens: i64,
    pub cache_savings_usd: f64,
    pub hit_rate: f64,
}

impl Row {
    pub fn of(day: &DayAggregate) -> Row {
        let s = &day.sums;
        Row {
            date: day.date.to_string(),
            total_cache_tokens: (s.cache_creation_tokens() + s.cache_read_tokens) as i64,
            cache_hit_tokens: s.cache_read_tokens as i64,
            cache_savings_usd: s.cache_savings_usd(),
            hit_rate: s.hit_rate(),
        }
    }
}

pub fn write(tx: &Transaction, r: &Row) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO cache_analytics (date, total_cache_tokens, cache_hit_tokens, cache_savings_usd, hit_rate) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(date) DO UPDATE SET total_cache_tokens = excluded.total_cache_tokens, \
         cache_hit_tokens = excluded.cache_hit_tokens, cache_savings_usd = excluded.cache_savings_usd, \
         hit_rate = excluded.hit_rate",
    )?
    .execute(params![
        r.date,
        r.total_cache_tokens,
        r.cache_hit_tokens,
        r.cache_savings_usd,
        r.hit_rate
    ])?;
    Ok(())
}

/// Deletes the rows of `date` and, with `and_later`, of every later day.
pub fn delete(tx: &Transaction, date: &str, and_later: bool) -> Result<(), StoreError> {
    let op = if and_later { ">=" } else { "=" };
    tx.prepare_cached(&format!("DELETE FROM cache_analytics WHERE date {op} ?1"))?
        .execute([date])?;
    Ok(())
}

/// The rows of the days `[first, last]` (dates as text).
pub fn stored_between(
    conn: &Connection,
    first: &str,
    last: &str,
) -> Result<BTreeMap<String, Row>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT date, total_cache_tokens, cache_hit_tokens, cache_savings_usd, hit_rate FROM cache_analytics \
         WHERE date >= ?1 AND date <= ?2",
    )?;
    let rows = stmt
        .query_map([first, last], |r| {
            Ok(Row {
                date: r.get(0)?,
                total_cache_tokens: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                cache_hit_tokens: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                cache_savings_usd: r.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                hit_rate: r.get::<_, Option<f64>>(4)?.unwrap_or(0.0),
            })
        })?
        .map(|r| r.map(|row| (row.date.clone(), row)))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A day's savings in nano-dollars as stored (a REAL written from nano-dollars reads
/// back exactly below $4.5M).
pub fn savings_nanos(row: &Row) -> i64 {
    nanos_of_usd(row.cache_savings_usd)
}

/// Lists how the rows from `first` on differ from `expected`.
pub fn check(
    conn: &Connection,
    expected: &[Row],
    first: &str,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    let stored = stored_between(conn, first, "~")?;
    super::compare(
        "cache_analytics",
        stored,
        expected,
        |r| r.date.clone(),
        diffs,
    );
    Ok(())
}
