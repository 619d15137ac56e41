//! Retention: seed 004's policy. Snapshots are kept `data_retention_days`, export
//! history 30 days, aggregates for good, facts unless the user asks ([`prune_facts`]).

use ctm_aggregate::{slot_of, QUARTER_MS};
use jiff::civil::Date;
use rusqlite::{Connection, Transaction};

use ctm_model::utc;

use crate::horizon::{facts_horizon, FACTS_HORIZON_KEY};
use crate::{config, derive, StoreError};

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
/// [`crate::horizon::Horizon`]). A horizon earlier than one already recorded changes
/// nothing.
pub fn prune_facts(
    tx: &Transaction,
    first_day_kept: Date,
    dry_run: bool,
) -> Result<FactsPruned, StoreError> {
    let tz = config::store_zone(tx)?;
    let asked = derive::day_bounds(first_day_kept, &tz)?.0;
    let horizon_ms = facts_horizon(tx)?.map_or(asked, |old| old.max(asked));
    // The rollup's rows after the horizon must hold only responses after it.
    if horizon_ms.rem_euclid(QUARTER_MS) != 0 {
        return Err(StoreError::Invalid(format!(
            "{first_day_kept} starts at {} in {}, not on a quarter-hour: facts can only be pruned at a day \
             start on a quarter-hour (every zone's since standard time)",
            utc::format(horizon_ms),
            tz.iana_name().unwrap_or("the store's zone")
        )));
    }
    let first_day = ctm_aggregate::local_time(horizon_ms, &tz).date();
    let horizon = utc::format(horizon_ms);
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
        responses: count("SELECT count(*) FROM facts WHERE ts < ?1", &horizon_ms)?,
        days_kept: count(
            "SELECT count(*) FROM daily_aggregates WHERE date < ?1",
            &first_day.to_string(),
        )?,
        sessions_kept: count(
            "SELECT count(DISTINCT session) FROM facts WHERE ts < ?1 AND session != 0",
            &horizon_ms,
        )?,
        horizon,
    };
    if !dry_run {
        tx.execute("DELETE FROM facts WHERE ts < ?1", [horizon_ms])?;
        tx.execute(
            "DELETE FROM quarter_usage WHERE slot < ?1",
            [slot_of(horizon_ms)],
        )?;
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

    const H: i64 = 3_600_000;
    /// 2026-01-02T00:00 in Asia/Kolkata (+05:30): 2026-01-01T18:30Z, not on a UTC hour.
    const HORIZON: i64 = 1_767_225_600_000 + 18 * H + H / 2;

    /// Writes facts the way ingest does (in one write, refreshing what they touched),
    /// each of 10 input and 20 output tokens, costing `cost(ts)`.
    fn write_facts(store: &mut Store, facts: &[(&str, i64, &str)], cost: &dyn Fn(i64) -> f64) {
        let tx = store.write().unwrap();
        let mut writer = crate::facts::FactWriter::new(&tx).unwrap();
        for (key, ts, session) in facts {
            let r = ctm_model::Response {
                key: (*key).to_owned(),
                timestamp_ms: *ts,
                session_id: Some((*session).into()),
                project_path: None,
                model: Some("claude-opus-4-6".into()),
                usage: ctm_model::Usage {
                    input_tokens: 10,
                    output_tokens: 20,
                    ..Default::default()
                },
                speed: None,
                service_tier: None,
                inference_geo: None,
                is_sidechain: false,
                agent_id: None,
                origin: ctm_model::Origin::Assistant,
                recorded_cost_usd: None,
                cc_version: None,
                source_path: None,
            };
            let price = |r: &ctm_model::Response| crate::facts::Pricing {
                cost_usd: cost(r.timestamp_ms),
                priced: true,
                price_model: Some("opus".into()),
                price_version: "test".into(),
                long_context: false,
                multiplier: 1.0,
                cache_savings_usd: 0.0,
            };
            writer.upsert(r, &price).unwrap();
        }
        let (touched, _) = writer.finish().unwrap();
        let now = facts.iter().map(|f| f.1).max().unwrap_or(0) + 10 * H;
        derive::refresh(&tx, touched, now).unwrap();
        tx.commit().unwrap();
    }

    fn kolkata_store(facts: &[(&str, i64, &str)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        config::set_raw(store.conn(), "timezone", "Asia/Kolkata").unwrap();
        write_facts(&mut store, facts, &|_| 0.5);
        (dir, store)
    }

    fn prune_at_horizon(store: &mut Store) -> FactsPruned {
        let tx = store.write().unwrap();
        let p = prune_facts(&tx, Date::constant(2026, 1, 2), false).unwrap();
        tx.commit().unwrap();
        p
    }

    fn block_starts(store: &Store) -> Vec<(String, i64)> {
        store
            .conn()
            .prepare("SELECT start_time, total_tokens FROM usage_blocks ORDER BY start_time")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Adds a fact the way ingest does: written, then the derived tables refreshed.
    fn ingest_fact(store: &mut Store, key: &str, ts: i64, session: &str) {
        write_facts(store, &[(key, ts, session)], &|_| 0.5);
    }

    #[test]
    fn a_block_after_the_horizon_never_starts_before_it() {
        let (_dir, mut store) = kolkata_store(&[("a", HORIZON - 8 * H, "s1")]);
        let p = prune_at_horizon(&mut store);
        assert_eq!((p.responses, p.days_kept, p.sessions_kept), (1, 1, 1));
        assert_eq!(p.horizon, "2026-01-01T18:30:00.000Z");
        assert_eq!(facts_horizon(store.conn()).unwrap(), Some(HORIZON));
        // 10 minutes after the horizon floors to 18:00Z, inside the kept day: the block
        // starts at the horizon instead, so it is never mistaken for kept history.
        ingest_fact(&mut store, "b", HORIZON + 10 * 60_000, "s2");
        let starts = block_starts(&store);
        assert_eq!(starts[0].0, "2026-01-01T10:00:00.000Z", "kept");
        assert_eq!(starts[1], ("2026-01-01T18:30:00.000Z".into(), 30));
        assert!(derive::check(store.conn()).unwrap().is_empty());
        ingest_fact(&mut store, "c", HORIZON + 2 * H, "s2");
        assert_eq!(
            block_starts(&store)[1],
            ("2026-01-01T18:30:00.000Z".into(), 60)
        );
        let tx = store.write().unwrap();
        derive::rebuild_all(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            block_starts(&store)[1],
            ("2026-01-01T18:30:00.000Z".into(), 60)
        );
        assert!(derive::check(store.conn()).unwrap().is_empty());
    }

    #[test]
    fn a_block_across_the_horizon_keeps_its_later_responses() {
        // One block from 17:00Z (before the horizon) to 22:00Z, in one session.
        let (_dir, mut store) =
            kolkata_store(&[("a", HORIZON - H, "s1"), ("b", HORIZON + H, "s1")]);
        let blocks = block_starts(&store);
        let sessions_before: (String, i64) = store
            .conn()
            .query_row(
                "SELECT session_start, total_tokens FROM claude_sessions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        prune_at_horizon(&mut store);
        assert!(derive::check(store.conn()).unwrap().is_empty());
        // Another response inside the kept block, and one after it.
        ingest_fact(&mut store, "c", HORIZON + 2 * H, "s1");
        ingest_fact(&mut store, "d", HORIZON + 5 * H, "s2");
        assert!(
            derive::check(store.conn()).unwrap().is_empty(),
            "{:?}",
            derive::check(store.conn())
        );
        let after = block_starts(&store);
        assert_eq!(after[0], blocks[0], "the kept block is as it was");
        assert_eq!(after[1].0, "2026-01-01T23:00:00.000Z");
        let session: (String, i64) = store
            .conn()
            .query_row(
                "SELECT session_start, total_tokens FROM claude_sessions WHERE session_id = 's1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            session, sessions_before,
            "a session begun before the horizon is kept"
        );
        // The zone of the kept days cannot change any more.
        let tx = store.write().unwrap();
        let e = crate::settings::set(&tx, "timezone", "UTC").unwrap_err();
        assert!(e.to_string().contains("cannot be recomputed"), "{e}");
    }

    /// New facts written the way ingest writes them, with costs of many digits.
    fn ingest_new_facts(store: &mut Store, facts: &[(&str, i64, &str)]) {
        write_facts(store, facts, &|ts| 0.1 + (ts % 977) as f64 * 1e-7);
    }

    #[test]
    fn new_facts_after_a_prune_are_derived_and_kept_history_stays() {
        let (_dir, mut store) = kolkata_store(&[
            ("a", HORIZON - 8 * H, "s1"),
            // Opens the last block before the horizon (17:00Z), which reaches past it.
            ("b", HORIZON - H, "s1"),
            ("c", HORIZON + H, "s2"),
            // A block at 00:00Z with 00:30Z .. 02:30Z.
            ("d", HORIZON + 6 * H, "s2"),
            ("e", HORIZON + 8 * H, "s3"),
        ]);
        prune_at_horizon(&mut store);
        let kept_block = block_starts(&store)[..2].to_vec();
        ingest_new_facts(
            &mut store,
            &[
                // Inside the kept block's reach: it stays as it was.
                ("f", HORIZON + 2 * H, "s4"),
                // Inside the 00:00Z block, after it (extending it), and long after.
                ("g", HORIZON + 7 * H, "s4"),
                ("h", HORIZON + 9 * H, "s2"),
                ("i", HORIZON + 20 * H, "s5"),
            ],
        );
        assert_eq!(
            block_starts(&store)[..2],
            kept_block[..],
            "kept history stays"
        );
        let tx = store.write().unwrap();
        let refreshed = crate::test_support::derived_rows(&tx);
        derive::rebuild_all(&tx).unwrap();
        assert_eq!(refreshed, crate::test_support::derived_rows(&tx));
        drop(tx);
        let diffs = derive::check(store.conn()).unwrap();
        assert!(diffs.is_empty(), "{diffs:?}");
    }
}
