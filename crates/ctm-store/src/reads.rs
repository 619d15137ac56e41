//! The typed reads reports are made of: rollup rows for any range, zone and filter; the
//! day tables, sessions and blocks read back; single responses where a report shows
//! them. The analytics crate asks through these and writes no SQL of its own.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use ctm_aggregate::{Fact, Filter, Id, Names, SlotRow, Sums};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rusqlite::OptionalExtension;

use crate::derive::claude_sessions::{self, SessionFigures};
use crate::derive::usage_blocks::{self, BlockFigures};
use crate::derive::{cache_analytics, daily_aggregates, quarter_usage, session_models};
use crate::dims::{self, load_names, Which};
use crate::fact_reader::{self, FactReader, Keep};
use crate::horizon::Horizon;
use crate::rate_limits::{self, LimitWindow, RateLimitSample};
use crate::{config, Store, StoreError};

/// Runs `read` on `conn` inside one read transaction, so every statement it runs sees
/// the same commit (in autocommit mode each statement sees the latest). Inside the
/// caller's own transaction it just runs: that is one state already.
fn in_one_snapshot<R>(
    conn: &rusqlite::Connection,
    read: impl FnOnce(&rusqlite::Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    if !conn.is_autocommit() {
        return read(conn);
    }
    let tx = conn.unchecked_transaction()?;
    let out = read(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// One stored day of the store's zone, as `daily_aggregates` and `cache_analytics` keep
/// it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDay {
    pub date: Date,
    /// Sums per model label (the cache writes as one figure).
    pub models: BTreeMap<String, Sums>,
    /// What caching saved that day, in nano-dollars.
    pub savings_nanos: i64,
}

/// `--since`/`--until` as the day tables' date keys.
fn date_keys(since: Option<Date>, until: Option<Date>) -> (String, String) {
    (
        since.map_or_else(|| "0000-00-00".to_owned(), |d| d.to_string()),
        until.map_or_else(|| "9999-99-99".to_owned(), |d| d.to_string()),
    )
}

impl Store {
    /// The zone the daily tables are kept in.
    pub fn zone(&self) -> Result<TimeZone, StoreError> {
        config::store_zone(&self.conn)
    }

    /// What a prune of facts kept as history, if facts were ever pruned.
    pub fn horizon(&self) -> Result<Option<Horizon>, StoreError> {
        Horizon::of(&self.conn)
    }

    /// The rollup rows of the billed responses with `lo <= ts < hi` that `filter` keeps,
    /// exact for grouping by local day and hour in `tz` (see
    /// [`quarter_usage::rows_between`]), in slot order.
    pub fn usage_rows(
        &self,
        lo: i64,
        hi: i64,
        filter: &Filter,
        tz: Option<&TimeZone>,
    ) -> Result<Vec<SlotRow>, StoreError> {
        let keep = crate::derive::keep_of(&self.conn, filter)?;
        quarter_usage::rows_between(&self.conn, lo, hi, &keep, tz)
    }

    /// Every project and model text, and these sessions'.
    pub fn names(&self, sessions: &[Id]) -> Result<Names, StoreError> {
        load_names(
            &self.conn,
            Which {
                sessions: Some(sessions),
                projects: true,
                models: true,
            },
        )
    }

    /// The stored days `[since, until]` of the store's zone, oldest first.
    pub fn stored_days(
        &self,
        since: Option<Date>,
        until: Option<Date>,
    ) -> Result<Vec<StoredDay>, StoreError> {
        let (first, last) = date_keys(since, until);
        let savings = cache_analytics::stored_between(&self.conn, &first, &last)?;
        daily_aggregates::stored_between(&self.conn, &first, &last)?
            .iter()
            .map(|row| {
                let (date, models) = daily_aggregates::models_of(row)?;
                let Some(cache) = savings.get(&row.date) else {
                    return Err(StoreError::Invalid(format!(
                        "cache_analytics has no row for {date}; `ctm db check` lists what differs"
                    )));
                };
                Ok(StoredDay {
                    date,
                    models,
                    savings_nanos: cache_analytics::savings_nanos(cache),
                })
            })
            .collect()
    }

    /// Every session with billed responses, from `claude_sessions` and `session_models`
    /// read in one snapshot (a session's row and its models from the same commit). A
    /// row without models has no billed responses (a row the store kept from before
    /// ctm, whose times need not even be RFC 3339, or one whose responses all turned
    /// out to be replays): it is no session of a report, so it is not decoded.
    pub fn stored_sessions(&self) -> Result<Vec<SessionFigures>, StoreError> {
        in_one_snapshot(&self.conn, |conn| {
            let mut models = session_models::stored(conn)?;
            let mut out = Vec::new();
            for row in claude_sessions::stored(conn)?.into_values() {
                let Some(m) = models.remove(&row.session_id) else {
                    continue;
                };
                out.push(claude_sessions::figures_of(&row, m)?);
            }
            Ok(out)
        })
    }

    /// One session's stored figures (its row and models, from one commit); `None` for
    /// a session without a row or without billed responses.
    pub fn stored_session(&self, session_id: &str) -> Result<Option<SessionFigures>, StoreError> {
        in_one_snapshot(&self.conn, |conn| {
            let Some(row) = claude_sessions::stored_one(conn, session_id)? else {
                return Ok(None);
            };
            let models = session_models::stored_of(conn, session_id)?;
            if models.is_empty() {
                return Ok(None);
            }
            claude_sessions::figures_of(&row, models).map(Some)
        })
    }

    /// A session's billed responses with `ts <= until_ms` (every one for `None`), summed
    /// per model as reports name it; empty for a session the store does not know.
    pub fn session_sums_by_model(
        &self,
        session_id: &str,
        until_ms: Option<i64>,
    ) -> Result<BTreeMap<String, Sums>, StoreError> {
        in_one_snapshot(&self.conn, |conn| {
            let Some(id) = dims::session_id(conn, session_id)? else {
                return Ok(BTreeMap::new());
            };
            let facts = FactReader::new(conn)?.billed(
                conn,
                "session = ?1 AND ts <= ?2 ORDER BY ts, id",
                [id, until_ms.unwrap_or(i64::MAX)],
                &Keep::all(),
            )?;
            let names = load_names(
                conn,
                Which {
                    sessions: None,
                    projects: false,
                    models: true,
                },
            )?;
            let mut out: BTreeMap<String, Sums> = BTreeMap::new();
            for f in &facts {
                out.entry(names.model_label(f.model).to_owned())
                    .or_default()
                    .add(&f.sums);
            }
            Ok(out)
        })
    }

    /// Claude Code's own figures of sessions kept (cost-state lines, the statusline), by
    /// session then source.
    pub fn claude_costs(&self) -> Result<Vec<crate::claude_costs::StoredCost>, StoreError> {
        crate::claude_costs::all(&self.conn)
    }

    /// Whether any such figure is kept.
    pub fn has_claude_costs(&self) -> Result<bool, StoreError> {
        crate::claude_costs::any(&self.conn)
    }

    /// The `limit` sessions that cost most, most expensive first (ties by id), from
    /// `claude_sessions` in cost order: only those are read and their models looked up.
    pub fn costliest_sessions(&self, limit: usize) -> Result<Vec<SessionFigures>, StoreError> {
        in_one_snapshot(&self.conn, |conn| {
            let mut out = Vec::with_capacity(limit);
            claude_sessions::visit_costliest(conn, |row| {
                if out.len() >= limit {
                    return Ok(ControlFlow::Break(()));
                }
                let models = session_models::stored_of(conn, &row.session_id)?;
                // A session without billed responses is not shown, nor decoded.
                if !models.is_empty() {
                    out.push(claude_sessions::figures_of(&row, models)?);
                }
                Ok(ControlFlow::Continue(()))
            })?;
            Ok(out)
        })
    }

    /// Every stored block, oldest first; `None` when a row lacks its figures.
    pub fn stored_blocks(&self) -> Result<Option<Vec<BlockFigures>>, StoreError> {
        usage_blocks::stored(&self.conn, i64::MIN)
    }

    /// Where the latest block starting at or before `at_ms` starts.
    pub fn latest_block_start(&self, at_ms: i64) -> Result<Option<i64>, StoreError> {
        usage_blocks::latest_start(&self.conn, at_ms)
    }

    /// Whether a billed response is later than `ts`.
    pub fn billed_after(&self, ts: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM facts WHERE ts > ?1 AND replay_of IS NULL LIMIT 1")?
            .exists([ts])?)
    }

    /// The billed responses with `lo <= ts < hi` that `filter` keeps, oldest first.
    pub fn facts_between(
        &self,
        lo: i64,
        hi: i64,
        filter: &Filter,
    ) -> Result<Vec<Fact>, StoreError> {
        let keep = crate::derive::keep_of(&self.conn, filter)?;
        fact_reader::billed_between(&self.conn, lo, hi, &keep)
    }

    /// [`Store::facts_between`], handed to `visit` one at a time (an export streams
    /// this way).
    pub fn visit_facts_between<E: From<StoreError>>(
        &self,
        lo: i64,
        hi: i64,
        filter: &Filter,
        visit: impl FnMut(Fact) -> Result<(), E>,
    ) -> Result<(), E> {
        let keep = crate::derive::keep_of(&self.conn, filter)?;
        FactReader::new(&self.conn)?.visit_billed(
            &self.conn,
            "ts >= ?1 AND ts < ?2 ORDER BY ts, id",
            [lo, hi],
            &keep,
            visit,
        )
    }

    /// These sessions' texts only.
    pub fn session_names(&self, sessions: &[Id]) -> Result<Names, StoreError> {
        load_names(
            &self.conn,
            Which {
                sessions: Some(sessions),
                projects: false,
                models: false,
            },
        )
    }

    /// A session's id in the dimension table.
    pub fn session_id(&self, session: &str) -> Result<Option<Id>, StoreError> {
        dims::session_id(&self.conn, session)
    }

    /// A session's id in the dimension table and its billed responses, oldest first;
    /// `None` for a session the store does not know.
    pub fn session_facts(&self, session: &str) -> Result<Option<(Id, Vec<Fact>)>, StoreError> {
        let Some(id) = dims::session_id(&self.conn, session)? else {
            return Ok(None);
        };
        Ok(Some((id, fact_reader::billed_of_session(&self.conn, id)?)))
    }

    /// The session's latest billed response.
    pub fn last_fact_of_session(&self, session: Id) -> Result<Option<Fact>, StoreError> {
        let reader = FactReader::new(&self.conn)?;
        Ok(reader
            .billed(
                &self.conn,
                "session = ?1 ORDER BY ts DESC, id DESC LIMIT 1",
                [session],
                &Keep::all(),
            )?
            .pop())
    }

    /// A session's rollup rows, in slot order.
    pub fn session_rows(&self, session: Id) -> Result<Vec<SlotRow>, StoreError> {
        quarter_usage::rows_of_session(&self.conn, session)
    }

    /// Up to 6 sessions with billed responses whose id starts with `prefix`, in order.
    pub fn sessions_starting_with(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.session_id FROM sessions s WHERE substr(s.session_id, 1, length(?1)) = ?1 \
             AND EXISTS (SELECT 1 FROM quarter_usage q WHERE q.session = s.id) \
             ORDER BY s.session_id LIMIT 6",
        )?;
        let found = stmt
            .query_map([prefix], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(found)
    }

    /// `(ts ms, resets_at s)` of every "usage limit reached" notice, oldest first.
    pub fn limit_notices(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT ts, resets_at FROM limit_notices ORDER BY ts")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The latest official figure of a window the statusline saw.
    pub fn latest_rate_limit(
        &self,
        window: LimitWindow,
    ) -> Result<Option<RateLimitSample>, StoreError> {
        rate_limits::latest(&self.conn, window)
    }

    /// When the latest billed response happened (in the rollup's last slot).
    pub fn last_billed_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT max(last_ts) FROM quarter_usage WHERE slot = (SELECT max(slot) FROM quarter_usage)",
            [],
            |r| r.get(0),
        )?)
    }

    /// The store at a glance: billed responses, their sessions, and the first and last.
    pub fn totals(&self) -> Result<StoreTotals, StoreError> {
        let (responses, sessions): (i64, i64) = self.conn.query_row(
            "SELECT coalesce(sum(responses), 0), count(DISTINCT nullif(session, 0)) FROM quarter_usage",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let span: (Option<i64>, Option<i64>) = self.conn.query_row(
            "SELECT (SELECT min(first_ts) FROM quarter_usage WHERE slot = (SELECT min(slot) FROM quarter_usage)), \
             (SELECT max(last_ts) FROM quarter_usage WHERE slot = (SELECT max(slot) FROM quarter_usage))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let replays: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM facts WHERE replay_of IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        Ok(StoreTotals {
            responses: responses as u64,
            sessions: sessions as u64,
            sidechain_replays: replays as u64,
            first_ms: span.0,
            last_ms: span.1,
        })
    }
}

/// What [`Store::totals`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTotals {
    pub responses: u64,
    pub sessions: u64,
    pub sidechain_replays: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OpenOptions;
    use rusqlite::Connection;

    fn rows(conn: &Connection) -> Result<i64, StoreError> {
        Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
    }

    #[test]
    fn one_snapshot_does_not_see_a_commit_between_its_statements() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        // As after a first ingest: readers and a writer do not wait for each other.
        store.use_wal().unwrap();
        store
            .conn()
            .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);")
            .unwrap();
        let writer = Connection::open(store.path()).unwrap();
        let seen = in_one_snapshot(store.conn(), |c| {
            let before = rows(c)?;
            writer.execute("INSERT INTO t VALUES (3)", []).unwrap();
            Ok((before, rows(c)?))
        })
        .unwrap();
        assert_eq!(seen, (2, 2));
        assert!(store.conn().is_autocommit());
        assert_eq!(rows(store.conn()).unwrap(), 3);
        // Inside a transaction it reads that transaction's state.
        let tx = store.conn().unchecked_transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (4)", []).unwrap();
        assert_eq!(in_one_snapshot(&tx, rows).unwrap(), 4);
    }
}
