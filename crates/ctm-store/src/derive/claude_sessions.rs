//! `claude_sessions` (seed 000): one row per session, its first and last response,
//! tokens, cost, main model, project, responses and cache efficiency. Rows a pre-ctm
//! database held for sessions without facts are kept as they are and never derived.

use std::collections::BTreeMap;

use ctm_aggregate::{nanos_of_usd, Names, SessionAggregate, Sums};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::session_models::ModelCounts;
use ctm_model::utc;

use crate::StoreError;

/// A session as reports show it, its texts resolved: from its aggregate, or read back
/// from its `claude_sessions` and `session_models` rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionFigures {
    pub session_id: String,
    pub first_ts: i64,
    pub last_ts: i64,
    pub project_path: Option<String>,
    pub main_model: Option<String>,
    /// The cache writes as one figure (in `cache_write_5m_tokens`) when read back.
    pub sums: Sums,
    /// Its responses per model label.
    pub models: ModelCounts,
}

impl SessionFigures {
    /// `None` for a session whose id has no text in `names`.
    pub fn of(a: &SessionAggregate, names: &Names) -> Option<SessionFigures> {
        let mut models = ModelCounts::new();
        for (id, n) in &a.models {
            let m = models.entry(names.model_label(*id).to_owned()).or_default();
            m.responses += n.responses;
            m.unpriced += n.unpriced;
        }
        Some(SessionFigures {
            session_id: names.session(a.session)?.to_owned(),
            first_ts: a.first_ts,
            last_ts: a.last_ts,
            project_path: names.project(a.project).map(str::to_owned),
            main_model: names.model(a.main_model).map(str::to_owned),
            sums: a.sums,
            models,
        })
    }
}

/// One row as the table holds it (the columns ctm derives).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub session_id: String,
    pub session_start: Option<String>,
    pub session_end: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    pub total_cost: f64,
    pub cache_creation_tokens: i64,
    pub cache_read_tokens: i64,
    pub model_name: Option<String>,
    pub project_name: Option<String>,
    pub message_count: i64,
    pub efficiency_score: f64,
}

impl Row {
    pub fn of(f: &SessionFigures) -> Row {
        let s = &f.sums;
        Row {
            session_id: f.session_id.clone(),
            session_start: Some(utc::format(f.first_ts)),
            session_end: Some(utc::format(f.last_ts)),
            input_tokens: s.input_tokens as i64,
            output_tokens: s.output_tokens as i64,
            total_tokens: s.total_tokens() as i64,
            total_cost: s.cost_usd(),
            cache_creation_tokens: s.cache_creation_tokens() as i64,
            cache_read_tokens: s.cache_read_tokens as i64,
            model_name: f.main_model.clone(),
            project_name: f.project_path.clone(),
            message_count: s.responses as i64,
            efficiency_score: s.efficiency_score(),
        }
    }
}

/// The columns [`read_row`] reads, in order.
const COLUMNS: &str = "session_id, session_start, session_end, input_tokens, output_tokens, \
     total_tokens, total_cost, cache_creation_tokens, cache_read_tokens, model_name, project_name, \
     message_count, efficiency_score";

fn read_row(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    let n = |i: usize| -> rusqlite::Result<i64> { Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0)) };
    Ok(Row {
        session_id: r.get(0)?,
        session_start: r.get(1)?,
        session_end: r.get(2)?,
        input_tokens: n(3)?,
        output_tokens: n(4)?,
        total_tokens: n(5)?,
        total_cost: r.get::<_, Option<f64>>(6)?.unwrap_or(0.0),
        cache_creation_tokens: n(7)?,
        cache_read_tokens: n(8)?,
        model_name: r.get(9)?,
        project_name: r.get(10)?,
        message_count: n(11)?,
        efficiency_score: r.get::<_, Option<f64>>(12)?.unwrap_or(0.0),
    })
}

/// A stored row as figures, with the session's models (which the row does not hold):
/// an error for a time ctm does not write.
pub fn figures_of(row: &Row, models: ModelCounts) -> Result<SessionFigures, StoreError> {
    let ms = |t: &Option<String>| -> Result<i64, StoreError> {
        t.as_deref().and_then(utc::parse).ok_or_else(|| {
            StoreError::Invalid(format!(
                "claude_sessions {}: time {t:?} is not RFC 3339; `ctm db check` lists what differs",
                row.session_id
            ))
        })
    };
    let unpriced = models.values().map(|m| m.unpriced).sum();
    Ok(SessionFigures {
        session_id: row.session_id.clone(),
        first_ts: ms(&row.session_start)?,
        last_ts: ms(&row.session_end)?,
        project_path: row.project_name.clone(),
        main_model: row.model_name.clone(),
        sums: Sums {
            responses: row.message_count.max(0) as u64,
            input_tokens: row.input_tokens.max(0) as u64,
            output_tokens: row.output_tokens.max(0) as u64,
            cache_write_5m_tokens: row.cache_creation_tokens.max(0) as u64,
            cache_read_tokens: row.cache_read_tokens.max(0) as u64,
            // A REAL written from nano-dollars reads back exactly below $4.5M.
            cost_nanos: nanos_of_usd(row.total_cost),
            unpriced_responses: unpriced,
            ..Sums::default()
        },
        models,
    })
}

pub fn write(tx: &Transaction, r: &Row) -> Result<(), StoreError> {
    let values = params![
        r.session_id,
        r.session_start,
        r.session_end,
        r.input_tokens,
        r.output_tokens,
        r.total_tokens,
        r.total_cost,
        r.cache_creation_tokens,
        r.cache_read_tokens,
        r.model_name,
        r.project_name,
        r.message_count,
        r.efficiency_score,
    ];
    // UPDATE first: a pre-ctm claude_sessions may lack the UNIQUE constraint ON CONFLICT needs.
    let updated = tx
        .prepare_cached(
            "UPDATE claude_sessions SET session_start = ?2, session_end = ?3, input_tokens = ?4, output_tokens = ?5, \
             total_tokens = ?6, total_cost = ?7, cache_creation_tokens = ?8, cache_read_tokens = ?9, model_name = ?10, \
             project_name = ?11, message_count = ?12, efficiency_score = ?13, updated_at = CURRENT_TIMESTAMP \
             WHERE session_id = ?1",
        )?
        .execute(values)?;
    if updated == 0 {
        tx.prepare_cached(
            "INSERT INTO claude_sessions (session_id, session_start, session_end, input_tokens, output_tokens, \
             total_tokens, total_cost, cache_creation_tokens, cache_read_tokens, model_name, project_name, \
             message_count, efficiency_score, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        )?
        .execute(values)?;
    }
    Ok(())
}

/// A session whose every response turned out to be a replay: nothing is billed.
pub fn zero(tx: &Transaction, session_id: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE claude_sessions SET input_tokens = 0, output_tokens = 0, total_tokens = 0, total_cost = 0, \
         cache_creation_tokens = 0, cache_read_tokens = 0, message_count = 0, efficiency_score = 0, \
         updated_at = CURRENT_TIMESTAMP WHERE session_id = ?1",
    )?
    .execute([session_id])?;
    Ok(())
}

/// The stored `session_start` of a session, if it has a row.
pub fn stored_start(conn: &Connection, session_id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT session_start FROM claude_sessions WHERE session_id = ?1")?
        .query_row([session_id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// The row of one session, if it has one.
pub fn stored_one(conn: &Connection, session_id: &str) -> Result<Option<Row>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM claude_sessions WHERE session_id = ?1"
        ))?
        .query_row([session_id], read_row)
        .optional()?)
}

/// Every row with a session id.
pub fn stored(conn: &Connection) -> Result<BTreeMap<String, Row>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM claude_sessions WHERE session_id IS NOT NULL"
    ))?;
    let rows = stmt
        .query_map([], read_row)?
        .map(|r| r.map(|row| (row.session_id.clone(), row)))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Rows in cost order (most expensive first, ties by id, as SQLite sorts them: costs
/// are never NaN or -0, ids compare byte by byte) until `visit` breaks.
pub fn visit_costliest(
    conn: &Connection,
    mut visit: impl FnMut(Row) -> Result<std::ops::ControlFlow<()>, StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM claude_sessions WHERE session_id IS NOT NULL \
         ORDER BY coalesce(total_cost, 0.0) DESC, session_id"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        if visit(read_row(r)?)?.is_break() {
            break;
        }
    }
    Ok(())
}

/// Lists how the rows of the sessions with facts differ from `expected` (rows of
/// sessions without facts are history the store kept, never derived). `kept`: the
/// sessions kept as history after a prune, left out.
pub fn check(
    conn: &Connection,
    expected: &[Row],
    kept: &dyn Fn(&Row) -> bool,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    let stored = stored(conn)?;
    for want in expected {
        match stored.get(&want.session_id) {
            None => diffs.push(format!(
                "claude_sessions: session {} is missing",
                want.session_id
            )),
            Some(row) if kept(row) => {}
            Some(row) if row != want => diffs.push(format!(
                "claude_sessions {}: {row:?}, facts say {want:?}",
                want.session_id
            )),
            Some(_) => {}
        }
    }
    Ok(())
}
