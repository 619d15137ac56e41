//! `daily_aggregates` (seed 004): per local day in the store's zone, its tokens, cost,
//! hit rate, sessions, per-model breakdown and responses per hour. Reports in the
//! store's zone without filters read their per-model sums back from here.

use std::collections::BTreeMap;

use ctm_aggregate::{nanos_of_usd, DayAggregate, Names, Sums};
use jiff::civil::Date;
use rusqlite::{params, Connection, Transaction};

use crate::StoreError;

/// One row as the table holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub date: String,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub total_cache_read_tokens: i64,
    pub total_cache_write_tokens: i64,
    pub total_cost_usd: f64,
    pub avg_cache_hit_rate: f64,
    pub session_count: i64,
    /// Seed 004's `{"model": {"tokens", "cost"}}` plus the split, keys in order.
    pub model_breakdown: String,
    /// `{"0": n, ..., "23": n}` in hour order.
    pub hourly_distribution: String,
}

impl Row {
    pub fn of(day: &DayAggregate, names: &Names) -> Row {
        let s = &day.sums;
        Row {
            date: day.date.to_string(),
            total_input_tokens: s.input_tokens as i64,
            total_output_tokens: s.output_tokens as i64,
            total_cache_read_tokens: s.cache_read_tokens as i64,
            total_cache_write_tokens: s.cache_creation_tokens() as i64,
            total_cost_usd: s.cost_usd(),
            avg_cache_hit_rate: s.hit_rate(),
            session_count: day.sessions.len() as i64,
            model_breakdown: breakdown_json(&names.by_model_label(&day.models)),
            hourly_distribution: hourly_json(&day.hourly),
        }
    }
}

fn breakdown_json(models: &BTreeMap<String, Sums>) -> String {
    let map: BTreeMap<&str, serde_json::Value> = models
        .iter()
        .map(|(m, s)| {
            (
                m.as_str(),
                serde_json::json!({
                    "tokens": s.total_tokens(),
                    "cost": s.cost_usd(),
                    "responses": s.responses,
                    "inputTokens": s.input_tokens,
                    "outputTokens": s.output_tokens,
                    "cacheCreationTokens": s.cache_creation_tokens(),
                    "cacheReadTokens": s.cache_read_tokens,
                    "unpricedResponses": s.unpriced_responses,
                }),
            )
        })
        .collect();
    serde_json::to_string(&map).expect("a map of numbers serialises")
}

fn hourly_json(hourly: &[u64; 24]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(24 * 8);
    for (h, n) in hourly.iter().enumerate() {
        let sep = if h == 0 { '{' } else { ',' };
        write!(out, "{sep}\"{h}\":{n}").expect("writing to a String cannot fail");
    }
    out.push('}');
    out
}

/// A stored `model_breakdown`: each model's sums (the cache writes as one figure, in
/// `cache_write_5m_tokens`). A cost is read from its shortest round-trip text, so the
/// nano-dollars it was written from come back exactly.
pub fn parse_breakdown(json: &str) -> Result<BTreeMap<String, Sums>, StoreError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Stored {
        cost: f64,
        responses: u64,
        input_tokens: u64,
        output_tokens: u64,
        cache_creation_tokens: u64,
        cache_read_tokens: u64,
        // Rows written before unpriced responses were counted lack it.
        #[serde(default)]
        unpriced_responses: u64,
    }
    let stored: BTreeMap<String, Stored> = serde_json::from_str(json)
        .map_err(|e| StoreError::Invalid(format!("model_breakdown: {e}")))?;
    Ok(stored
        .into_iter()
        .map(|(model, m)| {
            (
                model,
                Sums {
                    responses: m.responses,
                    input_tokens: m.input_tokens,
                    output_tokens: m.output_tokens,
                    cache_write_5m_tokens: m.cache_creation_tokens,
                    cache_read_tokens: m.cache_read_tokens,
                    cost_nanos: nanos_of_usd(m.cost),
                    unpriced_responses: m.unpriced_responses,
                    ..Sums::default()
                },
            )
        })
        .collect())
}

pub fn write(tx: &Transaction, r: &Row) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO daily_aggregates (date, total_input_tokens, total_output_tokens, total_cache_read_tokens, \
         total_cache_write_tokens, total_cost_usd, avg_cache_hit_rate, session_count, model_breakdown, \
         hourly_distribution) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT(date) DO UPDATE SET total_input_tokens = excluded.total_input_tokens, \
         total_output_tokens = excluded.total_output_tokens, total_cache_read_tokens = excluded.total_cache_read_tokens, \
         total_cache_write_tokens = excluded.total_cache_write_tokens, total_cost_usd = excluded.total_cost_usd, \
         avg_cache_hit_rate = excluded.avg_cache_hit_rate, session_count = excluded.session_count, \
         model_breakdown = excluded.model_breakdown, hourly_distribution = excluded.hourly_distribution, \
         updated_at = datetime('now')",
    )?
    .execute(params![
        r.date,
        r.total_input_tokens,
        r.total_output_tokens,
        r.total_cache_read_tokens,
        r.total_cache_write_tokens,
        r.total_cost_usd,
        r.avg_cache_hit_rate,
        r.session_count,
        r.model_breakdown,
        r.hourly_distribution
    ])?;
    Ok(())
}

/// Deletes the rows of `date` and, with `and_later`, of every later day.
pub fn delete(tx: &Transaction, date: &str, and_later: bool) -> Result<(), StoreError> {
    let op = if and_later { ">=" } else { "=" };
    tx.prepare_cached(&format!("DELETE FROM daily_aggregates WHERE date {op} ?1"))?
        .execute([date])?;
    Ok(())
}

fn read_row(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    Ok(Row {
        date: r.get(0)?,
        total_input_tokens: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
        total_output_tokens: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
        total_cache_read_tokens: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
        total_cache_write_tokens: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        total_cost_usd: r.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
        avg_cache_hit_rate: r.get::<_, Option<f64>>(6)?.unwrap_or(0.0),
        session_count: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
        model_breakdown: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
        hourly_distribution: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
    })
}

const SELECT: &str =
    "SELECT date, total_input_tokens, total_output_tokens, total_cache_read_tokens, \
     total_cache_write_tokens, total_cost_usd, avg_cache_hit_rate, session_count, model_breakdown, \
     hourly_distribution FROM daily_aggregates";

/// The days `[first, last]` (dates as text), oldest first.
pub fn stored_between(conn: &Connection, first: &str, last: &str) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE date >= ?1 AND date <= ?2 ORDER BY date"
    ))?;
    let rows = stmt
        .query_map([first, last], read_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A stored day's date and per-model sums.
pub fn models_of(row: &Row) -> Result<(Date, BTreeMap<String, Sums>), StoreError> {
    let date: Date = row
        .date
        .parse()
        .map_err(|e| StoreError::Invalid(format!("daily_aggregates date {:?}: {e}", row.date)))?;
    let json = if row.model_breakdown.is_empty() {
        "{}"
    } else {
        &row.model_breakdown
    };
    let models = parse_breakdown(json)
        .map_err(|e| StoreError::Invalid(format!("daily_aggregates {date} {e}")))?;
    Ok((date, models))
}

/// Lists how the rows from `first` on differ from `expected`.
pub fn check(
    conn: &Connection,
    expected: &[Row],
    first: &str,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    let stored = stored_between(conn, first, "~")?
        .into_iter()
        .map(|r| (r.date.clone(), r))
        .collect();
    super::compare(
        "daily_aggregates",
        stored,
        expected,
        |r| r.date.clone(),
        diffs,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_json_lists_every_hour_in_order() {
        let mut hourly = [0; 24];
        hourly[0] = 3;
        hourly[23] = 12;
        let json = hourly_json(&hourly);
        assert!(json.starts_with("{\"0\":3,\"1\":0,\"2\":0,"), "{json}");
        assert!(json.ends_with(",\"22\":0,\"23\":12}"), "{json}");
    }

    #[test]
    fn a_breakdown_reads_back_its_nano_dollars() {
        let mut models = BTreeMap::new();
        models.insert(
            "m".to_owned(),
            Sums {
                responses: 3,
                cache_write_5m_tokens: 7,
                cost_nanos: 123_456_789_012,
                unpriced_responses: 1,
                ..Sums::default()
            },
        );
        let back = parse_breakdown(&breakdown_json(&models)).unwrap();
        assert_eq!(back, models);
    }
}
