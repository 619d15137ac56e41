//! Retention: seed 004's policy. Snapshots are kept `data_retention_days`, export
//! history 30 days, aggregates for good, facts unless the user asks ([`prune_facts`]).

use jiff::civil::Date;
use rusqlite::{Connection, Transaction};

use crate::{config, derive, StoreError};

/// The `system_config` key holding the prune horizon: every fact before this UTC instant
/// (the start of a day in the store's zone) was deleted on the user's request.
pub const FACTS_HORIZON_KEY: &str = "facts_pruned_before";

/// The instant (UTC epoch ms) before which facts were pruned, if they ever were.
pub fn facts_horizon(conn: &Connection) -> Result<Option<i64>, StoreError> {
    match config::get(conn, FACTS_HORIZON_KEY)? {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .parse::<jiff::Timestamp>()
            .map(|t| Some(t.as_millisecond()))
            .map_err(|_| {
                StoreError::Invalid(format!(
                    "system_config {FACTS_HORIZON_KEY} {v:?} is not a UTC time; restore a backup"
                ))
            }),
    }
}

/// What [`prune_facts`] deletes (or would, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FactsPruned {
    /// The first day kept, in the store's zone.
    pub first_day_kept: String,
    pub timezone: String,
    /// The horizon as a UTC instant: no fact before it is left.
    pub horizon: String,
    /// Response rows deleted (sidechain replays included).
    pub responses: u64,
    /// Daily rows (per day) and sessions kept as history from then on.
    pub days_kept: u64,
    pub sessions_kept: u64,
}

/// Deletes every fact before the start of `first_day_kept` in the store's zone and
/// records that horizon, in the caller's transaction. The derived rows before it are
/// first recomputed from the facts about to go, then kept as history (see
/// [`derive::Kept`]). A horizon earlier than one already recorded changes nothing.
pub fn prune_facts(
    tx: &Transaction,
    first_day_kept: Date,
    dry_run: bool,
) -> Result<FactsPruned, StoreError> {
    let tz = derive::store_zone(tx)?;
    let asked = derive::day_bounds(first_day_kept, &tz)?.0;
    let horizon_ms = facts_horizon(tx)?.map_or(asked, |old| old.max(asked));
    let first_day = jiff::Timestamp::from_millisecond(horizon_ms)
        .map_err(|e| StoreError::Invalid(format!("prune horizon: {e}")))?
        .to_zoned(tz.clone())
        .date();
    let horizon = derive::iso(horizon_ms);
    let count = |sql: &str, arg: &dyn rusqlite::ToSql| -> Result<u64, StoreError> {
        Ok(tx.query_row(sql, [arg], |r| r.get::<_, i64>(0))? as u64)
    };
    if !dry_run {
        // The history kept must be what the facts say, whatever state the tables were in.
        derive::rebuild_all(tx)?;
    }
    let pruned = FactsPruned {
        first_day_kept: first_day.to_string(),
        timezone: tz.iana_name().unwrap_or("UTC").to_owned(),
        responses: count("SELECT count(*) FROM responses WHERE ts < ?1", &horizon_ms)?,
        days_kept: count(
            "SELECT count(*) FROM daily_aggregates WHERE date < ?1",
            &first_day.to_string(),
        )?,
        sessions_kept: count(
            "SELECT count(*) FROM claude_sessions WHERE session_start < ?1",
            &horizon,
        )?,
        horizon,
    };
    if !dry_run {
        tx.execute("DELETE FROM responses WHERE ts < ?1", [horizon_ms])?;
        tx.execute(
            "INSERT OR REPLACE INTO system_config (key, value, value_type, description, updated_at) \
             VALUES (?1, ?2, 'string', ?3, datetime('now'))",
            [
                FACTS_HORIZON_KEY,
                pruned.horizon.as_str(),
                "UTC start of the first day whose responses are kept (ctm db prune --facts-older-than); \
                 derived rows before it are kept as history",
            ],
        )?;
    }
    Ok(pruned)
}

/// Export history older than this is pruned (seed 004, 8.2).
pub const EXPORT_HISTORY_DAYS: i64 = 30;

/// What a prune removes (or would remove, in a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    pub retention_days: i64,
    pub snapshots: u64,
    /// `model_usage_logs` rows of those snapshots (they cascade).
    pub model_usage_logs: u64,
    pub export_history: u64,
}

/// Counts, and unless `dry_run` deletes, what the retention policy says to drop.
/// Runs in the caller's transaction.
pub fn prune(conn: &Connection, dry_run: bool) -> Result<Pruned, StoreError> {
    let retention_days: i64 = config::get(conn, "data_retention_days")?
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            StoreError::Invalid("system_config data_retention_days is not a whole number".into())
        })?;
    // SQLite's own datetime format, the one captured_at and exported_at are written in.
    let snapshot_cutoff = format!("-{retention_days} days");
    let export_cutoff = format!("-{EXPORT_HISTORY_DAYS} days");
    let count = |sql: &str, arg: &str| -> Result<u64, StoreError> {
        Ok(conn.query_row(sql, [arg], |r| r.get::<_, i64>(0))? as u64)
    };
    let pruned = Pruned {
        retention_days,
        snapshots: count(
            "SELECT count(*) FROM stats_snapshots WHERE captured_at < datetime('now', ?1)",
            &snapshot_cutoff,
        )?,
        model_usage_logs: count(
            "SELECT count(*) FROM model_usage_logs WHERE snapshot_id IN \
             (SELECT id FROM stats_snapshots WHERE captured_at < datetime('now', ?1))",
            &snapshot_cutoff,
        )?,
        export_history: count(
            "SELECT count(*) FROM export_history WHERE exported_at < datetime('now', ?1)",
            &export_cutoff,
        )?,
    };
    if !dry_run {
        // model_usage_logs goes with its snapshot (ON DELETE CASCADE; foreign keys are on).
        conn.execute(
            "DELETE FROM stats_snapshots WHERE captured_at < datetime('now', ?1)",
            [&snapshot_cutoff],
        )?;
        conn.execute(
            "DELETE FROM export_history WHERE exported_at < datetime('now', ?1)",
            [&export_cutoff],
        )?;
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};

    fn store_with_history() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        store
            .conn()
            .execute_batch(
                "INSERT INTO stats_snapshots (id, captured_at) VALUES
                     (1, datetime('now', '-200 days')), (2, datetime('now', '-91 days')), (3, datetime('now', '-89 days'));
                 INSERT INTO model_usage_logs (snapshot_id, model_name) VALUES (1, 'a'), (1, 'b'), (2, 'a'), (3, 'a');
                 INSERT INTO export_history (exported_at, format, status) VALUES
                     (datetime('now', '-31 days'), 'csv', 'completed'), (datetime('now', '-1 days'), 'json', 'failed');
                 INSERT INTO daily_aggregates (date) VALUES ('2020-01-01');",
            )
            .unwrap();
        (dir, store)
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .conn()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn dry_run_counts_and_changes_nothing() {
        let (_dir, store) = store_with_history();
        let p = prune(store.conn(), true).unwrap();
        assert_eq!(
            p,
            Pruned {
                retention_days: 90,
                snapshots: 2,
                model_usage_logs: 3,
                export_history: 1
            }
        );
        assert_eq!(
            (
                count(&store, "stats_snapshots"),
                count(&store, "model_usage_logs")
            ),
            (3, 4)
        );
    }

    #[test]
    fn prune_follows_the_retention_days_and_keeps_aggregates() {
        let (_dir, store) = store_with_history();
        config::set_raw(store.conn(), "data_retention_days", "150").unwrap();
        let p = prune(store.conn(), false).unwrap();
        assert_eq!(
            (p.snapshots, p.model_usage_logs, p.export_history),
            (1, 2, 1)
        );
        assert_eq!(count(&store, "stats_snapshots"), 2);
        assert_eq!(
            count(&store, "model_usage_logs"),
            2,
            "the snapshot's model rows cascade"
        );
        assert_eq!(count(&store, "export_history"), 1);
        assert_eq!(
            count(&store, "daily_aggregates"),
            1,
            "aggregates are kept for good"
        );
    }
}
