//! `session_models`: each session's billed responses per model (named as reports name
//! them, `unknown` for none) and how many had no price, kept with `claude_sessions`, so
//! `ctm session` and `ctm top` read a few rows per session.

use std::collections::BTreeMap;

use ctm_aggregate::ModelResponses;
use rusqlite::{params, Connection, Transaction};

use crate::StoreError;

/// A session's responses per model label.
pub type ModelCounts = BTreeMap<String, ModelResponses>;

/// Replaces a session's rows.
pub fn write(tx: &Transaction, session_id: &str, models: &ModelCounts) -> Result<(), StoreError> {
    delete(tx, session_id)?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO session_models (session_id, model, responses, unpriced_responses) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (model, n) in models {
        insert.execute(params![session_id, model, n.responses, n.unpriced])?;
    }
    Ok(())
}

pub fn delete(tx: &Transaction, session_id: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM session_models WHERE session_id = ?1")?
        .execute([session_id])?;
    Ok(())
}

/// Deletes every session's rows but those of the sessions `claude_sessions` keeps as
/// history (started before `horizon`, an RFC 3339 time; empty: none).
pub fn delete_all_but_kept(tx: &Transaction, horizon: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM session_models WHERE session_id NOT IN (SELECT session_id FROM claude_sessions \
         WHERE session_start IS NOT NULL AND session_start < ?1 AND session_id IS NOT NULL)",
        [horizon],
    )?;
    Ok(())
}

/// The billed and unpriced responses in columns `at` and `at + 1`.
fn counts(r: &rusqlite::Row, at: usize) -> rusqlite::Result<ModelResponses> {
    Ok(ModelResponses {
        responses: r.get(at)?,
        unpriced: r.get(at + 1)?,
    })
}

/// A session's stored rows.
pub fn stored_of(conn: &Connection, session_id: &str) -> Result<ModelCounts, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT model, responses, unpriced_responses FROM session_models WHERE session_id = ?1",
    )?;
    let mut rows = stmt.query([session_id])?;
    let mut models = BTreeMap::new();
    while let Some(r) = rows.next()? {
        models.insert(r.get(0)?, counts(r, 1)?);
    }
    Ok(models)
}

/// Every session's stored rows, in one pass over the table.
pub fn stored(conn: &Connection) -> Result<BTreeMap<String, ModelCounts>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT session_id, model, responses, unpriced_responses FROM session_models",
    )?;
    let mut rows = stmt.query([])?;
    let mut out: BTreeMap<String, ModelCounts> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?)
            .or_default()
            .insert(r.get(1)?, counts(r, 2)?);
    }
    Ok(out)
}

/// Lists how the stored rows differ from `expected` (per session id), leaving out the
/// sessions `kept` as history.
pub fn check(
    conn: &Connection,
    expected: &BTreeMap<String, ModelCounts>,
    kept: &dyn Fn(&str) -> bool,
    diffs: &mut Vec<String>,
) -> Result<(), StoreError> {
    let mut stored = stored(conn)?;
    for (id, want) in expected {
        let models = stored.remove(id).unwrap_or_default();
        if !kept(id) && models != *want {
            diffs.push(format!(
                "session_models {id}: {models:?}, facts say {want:?}"
            ));
        }
    }
    for (id, models) in stored {
        if !kept(&id) {
            diffs.push(format!(
                "session_models {id}: {models:?}, but the session has no billed responses"
            ));
        }
    }
    Ok(())
}
