//! Migration 13's step in code, on the fact table as it was before version 14 (one wide
//! `responses` table keyed by `dedup_key`, `replay_of` holding the billed key).

use ctm_model::message_key_range;
use rusqlite::{params, Transaction};

use crate::StoreError;

/// Deletes the facts (and limit notices) whose time is outside years 0000-9999
/// ([`ctm_model::utc::is_fact_time`]), which ctm before schema version 13 accepted: no
/// text column can hold their time, so every report of such a store failed. The parser
/// skips such lines now (`timestamp_out_of_range`), so they were never usage. Sessions
/// left without a fact lose their derived rows; the replay choice of their message ids
/// is settled again; the rebuild that ends a migration does the rest.
pub fn drop_facts_outside_years(tx: &Transaction) -> Result<(), StoreError> {
    const OUTSIDE: &str = "(ts < ?1 OR ts >= ?2)";
    let range = [ctm_model::utc::EARLIEST_MS, ctm_model::utc::FACTS_END_MS];
    let messages: Vec<String> = tx
        .prepare(&format!(
            "SELECT DISTINCT message_id FROM responses WHERE {OUTSIDE} AND message_id IS NOT NULL"
        ))?
        .query_map(range, |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for table in ["claude_sessions", "session_models"] {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE session_id IN \
                 (SELECT session_id FROM responses WHERE {OUTSIDE}) \
                 AND session_id NOT IN \
                 (SELECT session_id FROM responses WHERE NOT {OUTSIDE} AND session_id IS NOT NULL)"
            ),
            range,
        )?;
    }
    let dropped = tx.execute(&format!("DELETE FROM responses WHERE {OUTSIDE}"), range)?;
    tx.execute(&format!("DELETE FROM limit_notices WHERE {OUTSIDE}"), range)?;
    if dropped > 0 {
        for id in &messages {
            settle_replays(tx, id)?;
        }
    }
    Ok(())
}

/// Decides again which response of a message id is billed, by the rule of the fact
/// writer (non-sidechain first, then earliest, then by request id and key).
fn settle_replays(tx: &Transaction, message_id: &str) -> Result<(), StoreError> {
    let (lo, hi) = message_key_range(message_id);
    type Member = (String, bool, i64, Option<String>, Option<String>);
    let group: Vec<Member> = tx
        .prepare_cached(
            "SELECT dedup_key, is_sidechain, ts, request_id, replay_of FROM responses \
             WHERE dedup_key >= ?1 AND dedup_key < ?2",
        )?
        .query_map([&lo, &hi], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    let Some(primary) = group
        .iter()
        .min_by(|a, b| (a.1, a.2, &a.3, &a.0).cmp(&(b.1, b.2, &b.3, &b.0)))
        .map(|m| m.0.clone())
    else {
        return Ok(());
    };
    for (key, is_sidechain, _, _, replay_of) in &group {
        let want = (*is_sidechain && *key != primary).then(|| primary.clone());
        if want != *replay_of {
            tx.prepare_cached("UPDATE responses SET replay_of = ?2 WHERE dedup_key = ?1")?
                .execute(params![key, want])?;
        }
    }
    Ok(())
}
