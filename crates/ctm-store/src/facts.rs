//! The fact table: one row per API response, written exactly once.
//!
//! A sighting whose key is new is inserted. A sighting of a stored response is merged
//! with the stored row by [`Response::merge`] (the same rule that merged sightings
//! within a file), and the row changes only when the merge changes it. A sidechain
//! response that repeats a message id under a new request id is a replay: it stays in
//! the table, marked `replay_of`, and is not billed. Which one of such a group is billed
//! is decided by an order (non-sidechain first, then earliest), never by arrival.

use ctm_model::{message_key_range, Origin, Response, Usage};
use std::sync::LazyLock;

use rusqlite::{params, OptionalExtension, Row, ToSql, Transaction};

use crate::derive::Touched;
use crate::StoreError;

/// What pricing says about one response (computed by the caller from the price table).
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub cost_usd: f64,
    pub priced: bool,
    pub price_model: Option<String>,
    pub price_version: String,
    /// Billed at a prompt-length band's rates (the column's name predates bands other
    /// than the 200K long-context one).
    pub long_context: bool,
    pub multiplier: f64,
    pub cache_savings_usd: f64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Responses newly marked as sidechain replays (not billed).
    pub replays: u64,
}

pub(crate) const COLUMNS: &str = "dedup_key, message_id, request_id, ts, session_id, project_path, model, input_tokens, \
    output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, web_search_requests, \
    web_fetch_requests, speed, service_tier, inference_geo, is_sidechain, agent_id, origin, recorded_cost_usd, \
    cc_version, source_path";

/// What pricing adds to a fact, bound after [`COLUMNS`].
pub(crate) const PRICING_COLUMNS: &str =
    "cost_usd, priced, price_model, price_version, long_context, price_multiplier, cache_savings_usd";

/// Inserts a fact: ?1..?30 as [`fact_params`], ?31 the revision, ?32 the ingest time.
static INSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=32).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO responses ({COLUMNS}, {PRICING_COLUMNS}, revision, ingested_at) VALUES ({}) \
         ON CONFLICT(dedup_key) DO NOTHING",
        placeholders.join(", ")
    )
});

/// Rewrites a fact with the same parameters as [`INSERT_SQL`] (?1 is the key, ?31 the
/// revision).
static UPDATE_SQL: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = COLUMNS
        .split(", ")
        .chain(PRICING_COLUMNS.split(", "))
        .chain(["revision"])
        .enumerate()
        .skip(1)
        .map(|(i, c)| format!("{} = ?{}", c.trim(), i + 1))
        .collect();
    format!(
        "UPDATE responses SET {} WHERE dedup_key = ?1",
        sets.join(", ")
    )
});

/// The revision a write transaction gives every fact it inserts or changes (see
/// migration 30): larger than every stored fact's and every push mark's, so facts
/// changed later always come after a destination's mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision(pub i64);

impl Revision {
    /// The next revision, read under the write lock.
    pub fn next(tx: &Transaction) -> Result<Revision, StoreError> {
        Revision::next_if_kept(tx)?.ok_or_else(|| {
            StoreError::Invalid("the store has no fact revisions yet (migration 30)".into())
        })
    }

    /// The next revision, or `None` in a migration that runs before the one that adds
    /// revisions (it may settle replays, but writes no new facts).
    fn next_if_kept(tx: &Transaction) -> Result<Option<Revision>, StoreError> {
        let kept = tx
            .prepare_cached("SELECT 1 FROM pragma_table_info('responses') WHERE name = 'revision'")?
            .exists([])?;
        if !kept {
            return Ok(None);
        }
        let last: i64 = tx
            .prepare_cached(
                "SELECT max(coalesce((SELECT max(revision) FROM responses), 0), \
                 coalesce((SELECT max(revision) FROM team_push_marks), 0))",
            )?
            .query_row([], |r| r.get(0))?;
        Ok(Some(Revision(last + 1)))
    }
}

/// The values of [`COLUMNS`] then [`PRICING_COLUMNS`] for one response.
fn fact_params<'a>(r: &'a Response, p: &'a Pricing) -> [&'a dyn ToSql; 30] {
    [
        &r.key,
        &r.message_id,
        &r.request_id,
        &r.timestamp_ms,
        &r.session_id,
        &r.project_path,
        &r.model,
        &r.usage.input_tokens,
        &r.usage.output_tokens,
        &r.usage.cache_write_5m_tokens,
        &r.usage.cache_write_1h_tokens,
        &r.usage.cache_read_tokens,
        &r.usage.web_search_requests,
        &r.usage.web_fetch_requests,
        &r.speed,
        &r.service_tier,
        &r.inference_geo,
        &r.is_sidechain,
        &r.agent_id,
        origin_name(r.origin),
        &r.recorded_cost_usd,
        &r.cc_version,
        &r.source_path,
        &p.cost_usd,
        &p.priced,
        &p.price_model,
        &p.price_version,
        &p.long_context,
        &p.multiplier,
        &p.cache_savings_usd,
    ]
}

/// Writes sightings into the fact table inside one transaction.
pub struct FactWriter<'a, 't> {
    tx: &'a Transaction<'t>,
    /// `None` only inside a migration older than revisions (which writes no facts).
    revision: Option<Revision>,
    /// Whether the table had rows before: an empty table needs no cross-run replay lookups.
    had_rows: bool,
    /// Inserted message ids and how many request ids this run inserted for each.
    inserted_messages: foldhash::HashMap<String, u32>,
    /// The secondary indexes of `responses` (name, SQL) dropped for a first ingest, to
    /// be built again in [`FactWriter::finish`].
    dropped_indexes: Vec<(String, String)>,
    pub touched: Touched,
    pub stats: WriteStats,
}

impl<'a, 't> FactWriter<'a, 't> {
    pub fn new(tx: &'a Transaction<'t>) -> Result<Self, StoreError> {
        let had_rows = tx
            .prepare_cached("SELECT 1 FROM responses LIMIT 1")?
            .exists([])?;
        // Filling an empty table: building each secondary index once from sorted keys
        // after the inserts beats updating it row by row. The SQL comes from the schema
        // itself, so the rebuilt indexes are exactly the migrated ones; a failed run rolls
        // the drop back with everything else.
        let mut dropped_indexes = Vec::new();
        if !had_rows {
            dropped_indexes = tx
                .prepare(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' \
                     AND tbl_name = 'responses' AND sql IS NOT NULL ORDER BY name",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<(String, String)>, _>>()?;
            for (name, _) in &dropped_indexes {
                tx.execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
            }
        }
        // A row inserted from here on gets an id above every stored one (SQLite takes
        // max(id) + 1; only after i64::MAX would it pick a free id at random).
        let last_id: i64 = tx
            .prepare_cached("SELECT coalesce(max(id), 0) FROM responses")?
            .query_row([], |r| r.get(0))?;
        let revision = Revision::next_if_kept(tx)?;
        Ok(FactWriter {
            tx,
            revision,
            had_rows,
            inserted_messages: foldhash::HashMap::default(),
            dropped_indexes,
            touched: Touched {
                inserted_after: (last_id < i64::MAX).then_some(last_id),
                ..Touched::default()
            },
            stats: WriteStats::default(),
        })
    }

    /// Inserts or merges one sighting. `price` prices the row as it will be stored.
    pub fn upsert(
        &mut self,
        r: Response,
        price: &dyn Fn(&Response) -> Pricing,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let p = price(&r);
        let revision = self.revision()?;
        let mut values = fact_params(&r, &p).to_vec();
        values.push(&revision);
        values.push(&now_ms);
        let inserted = self
            .tx
            .prepare_cached(&INSERT_SQL)?
            .execute(values.as_slice())?;
        if inserted == 1 {
            self.stats.inserted += 1;
            self.touched.add(r.session_id.as_deref(), r.timestamp_ms);
            if let Some(mid) = &r.message_id {
                *self.inserted_messages.entry(mid.clone()).or_default() += 1;
            }
            return Ok(());
        }
        let stored = self
            .load(&r.key)?
            .ok_or_else(|| StoreError::Invalid(format!("row {} vanished", r.key)))?;
        let mut merged = stored.clone();
        merged.merge(r);
        if merged == stored {
            self.stats.unchanged += 1;
            return Ok(());
        }
        let p = price(&merged);
        let mut values = fact_params(&merged, &p).to_vec();
        values.push(&revision);
        self.tx
            .prepare_cached(&UPDATE_SQL)?
            .execute(values.as_slice())?;
        self.stats.updated += 1;
        self.touched
            .add_rewritten(stored.session_id.as_deref(), stored.timestamp_ms);
        self.touched
            .add_rewritten(merged.session_id.as_deref(), merged.timestamp_ms);
        // The identity may have changed (an earlier sighting): the replay choice may too.
        if merged.is_sidechain != stored.is_sidechain || merged.timestamp_ms != stored.timestamp_ms
        {
            if let Some(mid) = &merged.message_id {
                self.inserted_messages.entry(mid.clone()).or_insert(0);
            }
        }
        Ok(())
    }

    /// The revision facts written now get.
    fn revision(&self) -> Result<i64, StoreError> {
        self.revision.map(|r| r.0).ok_or_else(|| {
            StoreError::Invalid("facts written before the store was migrated (no revisions)".into())
        })
    }

    fn load(&self, key: &str) -> Result<Option<Response>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM responses WHERE dedup_key = ?1"
            ))?
            .query_row([key], response_from_row)
            .optional()?)
    }

    /// Whether the fact table was empty when this writer started (a first ingest).
    pub fn started_empty(&self) -> bool {
        !self.had_rows
    }

    /// Settles sidechain replays for the message ids this run wrote, and returns what
    /// the derived tables must refresh.
    pub fn finish(mut self) -> Result<(Touched, WriteStats), StoreError> {
        for (_, sql) in std::mem::take(&mut self.dropped_indexes) {
            self.tx.execute_batch(&sql)?;
        }
        let mut messages: Vec<(String, u32)> = std::mem::take(&mut self.inserted_messages)
            .into_iter()
            .collect();
        messages.sort();
        for (mid, inserted) in messages {
            // On an empty table a message with one request id cannot be a replay group.
            if self.had_rows || inserted > 1 {
                self.settle_replays(&mid)?;
            }
        }
        Ok((self.touched, self.stats))
    }

    fn settle_replays(&mut self, message_id: &str) -> Result<(), StoreError> {
        let (lo, hi) = message_key_range(message_id);
        let mut stmt = self.tx.prepare_cached(
            "SELECT dedup_key, is_sidechain, ts, request_id, replay_of, session_id FROM responses \
             WHERE dedup_key >= ?1 AND dedup_key < ?2",
        )?;
        type Member = (
            String,
            bool,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let group: Vec<Member> = stmt
            .query_map([&lo, &hi], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let Some(primary) = group
            .iter()
            .min_by(|a, b| (a.1, a.2, &a.3, &a.0).cmp(&(b.1, b.2, &b.3, &b.0)))
            .map(|m| m.0.clone())
        else {
            return Ok(());
        };
        for (key, is_sidechain, ts, _, replay_of, session) in &group {
            let want = (*is_sidechain && *key != primary).then(|| primary.clone());
            if want != *replay_of {
                match self.revision {
                    Some(revision) => self
                        .tx
                        .prepare_cached(
                            "UPDATE responses SET replay_of = ?2, revision = ?3 WHERE dedup_key = ?1",
                        )?
                        .execute(params![key, want, revision.0])?,
                    None => self
                        .tx
                        .prepare_cached("UPDATE responses SET replay_of = ?2 WHERE dedup_key = ?1")?
                        .execute(params![key, want])?,
                };
                if want.is_some() {
                    self.stats.replays += 1;
                }
                self.touched.add_rewritten(session.as_deref(), *ts);
            }
        }
        Ok(())
    }
}

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
        let mut writer = FactWriter::new(tx)?;
        for id in &messages {
            writer.settle_replays(id)?;
        }
        writer.finish()?;
    }
    Ok(())
}

/// As stored in `responses.origin` (a reference to a static, so it binds as a parameter).
fn origin_name(o: Origin) -> &'static &'static str {
    match o {
        Origin::Assistant => &"assistant",
        Origin::AgentEcho => &"agent_echo",
    }
}

pub(crate) fn response_from_row(r: &Row) -> rusqlite::Result<Response> {
    let origin: String = r.get(19)?;
    Ok(Response {
        key: r.get(0)?,
        message_id: r.get(1)?,
        request_id: r.get(2)?,
        timestamp_ms: r.get(3)?,
        session_id: r.get(4)?,
        project_path: r.get(5)?,
        model: r.get(6)?,
        usage: Usage {
            input_tokens: r.get::<_, i64>(7)? as u64,
            output_tokens: r.get::<_, i64>(8)? as u64,
            cache_write_5m_tokens: r.get::<_, i64>(9)? as u64,
            cache_write_1h_tokens: r.get::<_, i64>(10)? as u64,
            cache_read_tokens: r.get::<_, i64>(11)? as u64,
            web_search_requests: r.get::<_, i64>(12)? as u64,
            web_fetch_requests: r.get::<_, i64>(13)? as u64,
        },
        speed: r.get(14)?,
        service_tier: r.get(15)?,
        inference_geo: r.get(16)?,
        is_sidechain: r.get(17)?,
        agent_id: r.get(18)?,
        origin: if origin == "agent_echo" {
            Origin::AgentEcho
        } else {
            Origin::Assistant
        },
        recorded_cost_usd: r.get(20)?,
        cc_version: r.get(21)?,
        source_path: r.get(22)?,
    })
}

/// A stored response as repricing reads it: its row id, its facts and the price it has.
pub struct StoredPricing {
    pub id: i64,
    pub response: Response,
    pub cost_usd: f64,
    pub priced: bool,
    pub billed: bool,
}

/// Up to `limit` stored responses (billed or not) with ids above `after_id`, in id order:
/// repricing reads the table in parts so its memory stays bounded.
pub fn responses_after(
    conn: &rusqlite::Connection,
    after_id: i64,
    limit: usize,
) -> Result<Vec<StoredPricing>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, id, cost_usd, priced, replay_of IS NULL FROM responses \
         WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![after_id, limit as i64], |r| {
            Ok(StoredPricing {
                response: response_from_row(r)?,
                id: r.get(23)?,
                cost_usd: r.get(24)?,
                priced: r.get(25)?,
                billed: r.get(26)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Replaces a response's price (repricing after the price table changed), giving a
/// changed row the transaction's `revision`. Returns whether anything stored changed
/// (the cost, or only the provenance).
pub fn set_pricing(
    tx: &Transaction,
    id: i64,
    p: &Pricing,
    revision: Revision,
) -> Result<bool, StoreError> {
    let n = tx
        .prepare_cached(
            "UPDATE responses SET cost_usd = ?2, priced = ?3, price_model = ?4, price_version = ?5, long_context = ?6, \
             price_multiplier = ?7, cache_savings_usd = ?8, revision = ?9 WHERE id = ?1 AND NOT (cost_usd IS ?2 AND \
             priced IS ?3 AND price_model IS ?4 AND price_version IS ?5 AND long_context IS ?6 AND \
             price_multiplier IS ?7 AND cache_savings_usd IS ?8)",
        )?
        .execute(params![
            id,
            p.cost_usd,
            p.priced,
            p.price_model,
            p.price_version,
            p.long_context,
            p.multiplier,
            p.cache_savings_usd,
            revision.0
        ])?;
    Ok(n == 1)
}

/// Stores "usage limit reached" notices; a notice read twice is kept once.
pub fn record_limit_notice(
    tx: &Transaction,
    ts: i64,
    resets_at_s: i64,
    session: Option<&str>,
) -> Result<bool, StoreError> {
    let n = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO limit_notices (ts, resets_at, session_id) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![ts, resets_at_s, session])?;
    Ok(n == 1)
}

/// The time of a session's latest stored response (billed or not).
pub fn last_response_ms(
    conn: &rusqlite::Connection,
    session_id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT max(ts) FROM responses WHERE session_id = ?1")?
        .query_row([session_id], |r| r.get(0))?)
}

/// Models in the store that have no price, with their response counts.
pub fn unpriced_models(conn: &rusqlite::Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT coalesce(model, 'unknown'), count(*) FROM billed_responses WHERE priced = 0 GROUP BY 1 ORDER BY 2 DESC, 1",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
