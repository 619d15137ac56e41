//! The fact table: one row per API response, written exactly once.
//!
//! A sighting whose key is new is inserted. A sighting of a stored response is merged
//! with the stored row by [`Response::merge`] (the same rule that merged sightings
//! within a file), and the row changes only when the merge changes it: so writing a
//! run's files in batches, a later file carrying a better sighting of a response an
//! earlier batch wrote, gives the very rows one merge of everything gives. A sidechain
//! response that repeats a message id under a new request id is a replay: it stays in
//! the table, marked `replay_of`, and is not billed. Which one of such a group is
//! billed is decided by an order (non-sidechain first, then earliest), never by arrival.
//!
//! The writer hands every change of what is billed to [`Touched`], which keeps the
//! rollup and says what the derived tables must refresh.

use std::collections::BTreeSet;

use ctm_aggregate::{nanos_of_usd, Fact, Id, Sums};
use ctm_model::{message_key_range, Origin, Response, Usage};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::derive::Touched;
use crate::dims::{Dims, PricingRow};
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

impl Pricing {
    /// How it was priced, as `pricings` keeps it.
    fn row(&self) -> PricingRow<'_> {
        PricingRow {
            priced: self.priced,
            price_model: self.price_model.as_deref(),
            price_version: Some(&self.price_version),
            long_context: self.long_context,
            multiplier: self.multiplier,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Responses newly marked as sidechain replays (not billed).
    pub replays: u64,
}

/// `flags` bit: a sidechain response.
const SIDECHAIN: i64 = 1;
/// `flags` bit: seen first as an agent echo in a parent transcript.
const AGENT_ECHO: i64 = 2;

/// A response as its fact row holds it: texts as dimension ids.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FactRow {
    pub(crate) ts: i64,
    pub(crate) session: Id,
    pub(crate) project: Id,
    pub(crate) model: Id,
    pub(crate) usage: Usage,
    pub(crate) cost_nanos: i64,
    pub(crate) savings_nanos: i64,
    pub(crate) pricing: Id,
    pub(crate) priced: bool,
    pub(crate) flags: i64,
    pub(crate) source: Id,
    pub(crate) agent: Id,
    pub(crate) speed: Id,
    pub(crate) service_tier: Id,
    pub(crate) inference_geo: Id,
    pub(crate) cc_version: Id,
    pub(crate) recorded_cost_usd: Option<f64>,
}

impl FactRow {
    /// The response as the aggregates count it.
    fn fact(&self, id: i64) -> Fact {
        let u = &self.usage;
        Fact {
            id,
            ts: self.ts,
            session: self.session,
            project: self.project,
            model: self.model,
            sums: Sums {
                responses: 1,
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
                cache_write_5m_tokens: u.cache_write_5m_tokens,
                cache_write_1h_tokens: u.cache_write_1h_tokens,
                cache_read_tokens: u.cache_read_tokens,
                web_search_requests: u.web_search_requests,
                cost_nanos: self.cost_nanos,
                savings_nanos: self.savings_nanos,
                unpriced_responses: u64::from(!self.priced),
            },
        }
    }
}

/// The columns of `facts` a writer sets, in the order [`execute_row`] binds them (after
/// the key).
pub(crate) const COLUMNS: &str = "ts, session, project, model, input_tokens, output_tokens, \
    cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, web_search_requests, \
    web_fetch_requests, cost_nanos, savings_nanos, pricing, flags, source, agent, speed, \
    service_tier, inference_geo, cc_version, recorded_cost_usd";

const INSERT_SQL: &str =
    "INSERT INTO facts (dedup_key, ts, session, project, model, input_tokens, \
    output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, \
    web_search_requests, web_fetch_requests, cost_nanos, savings_nanos, pricing, flags, source, \
    agent, speed, service_tier, inference_geo, cc_version, recorded_cost_usd, revision) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
    ?19, ?20, ?21, ?22, ?23, ?24)";

/// [`INSERT_SQL`] where the key index is in place: a stored key is left alone (and
/// merged with instead).
static UPSERT_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{INSERT_SQL} ON CONFLICT(dedup_key) DO NOTHING"));

const UPDATE_SQL: &str = "UPDATE facts SET ts = ?2, session = ?3, project = ?4, model = ?5, \
    input_tokens = ?6, output_tokens = ?7, cache_write_5m_tokens = ?8, cache_write_1h_tokens = ?9, \
    cache_read_tokens = ?10, web_search_requests = ?11, web_fetch_requests = ?12, cost_nanos = ?13, \
    savings_nanos = ?14, pricing = ?15, flags = ?16, source = ?17, agent = ?18, speed = ?19, \
    service_tier = ?20, inference_geo = ?21, cc_version = ?22, recorded_cost_usd = ?23, \
    revision = ?24 WHERE id = ?1";

/// A stored fact by its key, as [`FactWriter::load`] reads it.
static LOAD_BY_KEY_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT id, {COLUMNS}, 0, replay_of, dedup_key FROM facts WHERE dedup_key = ?1")
});

/// A stored fact by its row id, as [`FactWriter::load`] reads it.
static LOAD_BY_ID_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT id, {COLUMNS}, 0, replay_of, dedup_key FROM facts WHERE id = ?1")
});

/// Binds `values` to the parameters of `stmt` from index `first` on.
fn bind_from<T: rusqlite::ToSql>(
    stmt: &mut rusqlite::Statement,
    first: usize,
    values: impl IntoIterator<Item = T>,
) -> rusqlite::Result<()> {
    for (at, value) in values.into_iter().enumerate() {
        stmt.raw_bind_parameter(first + at, value)?;
    }
    Ok(())
}

/// Runs `stmt` ([`INSERT_SQL`], [`UPSERT_SQL`] or [`UPDATE_SQL`]) with the key (or id)
/// `first`, the values of [`COLUMNS`], then the write's revision; returns the rows
/// changed. Each value is bound by its own type, not through `dyn ToSql`: a first run
/// binds 24 values per response, and the dynamic calls were a tenth of the insert.
fn execute_row(
    stmt: &mut rusqlite::Statement,
    first: impl rusqlite::ToSql,
    r: &FactRow,
    revision: &Revision,
) -> rusqlite::Result<usize> {
    stmt.raw_bind_parameter(1, first)?;
    // Counts above i64's range are refused (rusqlite's `fallible_uint`), never wrapped.
    let counts = r.usage.counts();
    let ids = [
        r.cost_nanos,
        r.savings_nanos,
        r.pricing,
        r.flags,
        r.source,
        r.agent,
        r.speed,
        r.service_tier,
        r.inference_geo,
        r.cc_version,
    ];
    bind_from(stmt, 2, [r.ts, r.session, r.project, r.model])?;
    bind_from(stmt, 6, counts)?;
    bind_from(stmt, 13, ids)?;
    stmt.raw_bind_parameter(23, r.recorded_cost_usd)?;
    stmt.raw_bind_parameter(24, revision.0)?;
    stmt.raw_execute()
}

/// The revision a write transaction gives every fact it inserts or changes (see
/// migrations 15 and 18): larger than every stored fact's and every push mark's, so a
/// fact changed later always comes after a team destination's mark
/// ([`crate::team_push`]). A store's first ingest writes [`Revision::FIRST_INGEST`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision(pub i64);

impl Revision {
    /// What the facts of a store's first ingest carry (an empty fact table and no push
    /// mark: nothing was ever sent, so nothing can be missed), as facts from before
    /// revisions (version 15) do: the revision index leaves them out, so a first ingest
    /// does not build it, and a push reads them in id order.
    pub const FIRST_INGEST: Revision = Revision(0);

    /// The next revision, read under the write lock (two indexed maxima).
    pub fn next(tx: &Transaction) -> Result<Revision, StoreError> {
        let last: i64 = tx
            .prepare_cached(
                "SELECT max(coalesce((SELECT max(revision) FROM facts WHERE revision > 0), 0), \
                 coalesce((SELECT max(revision) FROM team_push_marks), 0))",
            )?
            .query_row([], |r| r.get(0))?;
        Ok(Revision(last + 1))
    }
}

/// A stored fact as [`FactWriter::load`] reads it: its id, row, replay mark (`None`:
/// billed) and the response it holds.
type Stored = (i64, FactRow, Option<i64>, Response);

/// How many keys a first ingest keeps in memory (about 14 MB, some 2 GB of dense
/// history): past them the key index is built and kept up as rows come, so memory stays
/// flat however long the history.
const WRITTEN_KEYS_MAX: usize = 1 << 18;

/// The keys a first ingest wrote, by their 64-bit hash: the key index is built only at
/// the end, so a later file's sighting of a written response finds its row here.
struct WrittenKeys {
    by_hash: foldhash::HashMap<u64, i64>,
    /// Keys whose hash another key already took (the row it names holds its own key).
    collided: foldhash::HashMap<String, i64>,
    /// The hashes of the message ids of the `m:` keys written.
    message_hashes: foldhash::HashSet<u64>,
    /// Message ids written under a second key (or whose hash another message id took):
    /// the only replay groups a first ingest must settle, known without a pass over the
    /// key index at the end. A collision only settles a group of one, which changes
    /// nothing.
    several_requests: BTreeSet<String>,
    hash: fn(&str) -> u64,
}

impl Default for WrittenKeys {
    fn default() -> Self {
        WrittenKeys {
            by_hash: Default::default(),
            collided: Default::default(),
            message_hashes: Default::default(),
            several_requests: BTreeSet::new(),
            hash: |key| xxhash_rust::xxh3::xxh3_64(key.as_bytes()),
        }
    }
}

impl WrittenKeys {
    /// The row a key of hash `h` may be at (its stored key says whether it is).
    fn candidate(&self, key: &str, h: u64) -> Option<i64> {
        if !self.collided.is_empty() {
            if let Some(&id) = self.collided.get(key) {
                return Some(id);
            }
        }
        self.by_hash.get(&h).copied()
    }

    fn insert(&mut self, key: &str, h: u64, id: i64) {
        if let Some(mid) = message_id_of(key) {
            if !self.message_hashes.insert((self.hash)(mid)) {
                self.several_requests.insert(mid.to_owned());
            }
        }
        match self.by_hash.entry(h) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(key.to_owned(), id);
            }
        }
    }
}

/// Writes sightings into the fact table inside one transaction.
pub struct FactWriter<'a, 't> {
    tx: &'a Transaction<'t>,
    /// What every fact this writer inserts or changes is marked with.
    revision: Revision,
    /// Whether the table had rows before: a first ingest writes without the key index
    /// (keys are found in `written`) and settles replays in one pass over the keys at
    /// the end instead of one look-up per message.
    had_rows: bool,
    /// A first ingest's keys, while the key index is not there (see
    /// [`WRITTEN_KEYS_MAX`]).
    written: Option<WrittenKeys>,
    /// How many keys `written` may hold.
    written_max: usize,
    dims: Dims,
    /// The insert every new key goes through, prepared once: [`INSERT_SQL`] while keys
    /// are found in `written`, else [`UPSERT_SQL`] (a statement per row is found again
    /// in the statement cache by its text, which costs as much as binding the row).
    insert: rusqlite::Statement<'a>,
    /// Message ids whose replay group must be settled (only when the table had rows).
    messages: BTreeSet<String>,
    /// The secondary indexes of `facts` (name, SQL) dropped for a first ingest, to be
    /// built again in [`FactWriter::finish`].
    dropped_indexes: Vec<(String, String)>,
    pub touched: Touched,
    pub stats: WriteStats,
    /// The latest response time of each session this run wrote facts of, as it was
    /// before the first of those writes (a table with rows only).
    last_before: std::collections::HashMap<Id, Option<i64>>,
}

impl<'a, 't> FactWriter<'a, 't> {
    pub fn new(tx: &'a Transaction<'t>) -> Result<Self, StoreError> {
        let had_rows = tx
            .prepare_cached("SELECT 1 FROM facts LIMIT 1")?
            .exists([])?;
        let pushed = tx
            .prepare_cached("SELECT 1 FROM team_push_marks LIMIT 1")?
            .exists([])?;
        let revision = if had_rows || pushed {
            Revision::next(tx)?
        } else {
            Revision::FIRST_INGEST
        };
        // Filling an empty table: building each secondary index once from sorted keys
        // after the inserts beats updating it row by row. The SQL comes from the schema
        // itself, so the rebuilt indexes are exactly the migrated ones; a failed run rolls
        // the drop back with everything else. The partial indexes no write of this run
        // enters stay: keeping them costs nothing and spares a pass over the table. The
        // replays' holds only rows marked as replays, and the inserts mark none (replays
        // are settled after them); the revisions' holds no fact of a first ingest.
        let mut dropped_indexes = Vec::new();
        if !had_rows {
            let kept = if revision == Revision::FIRST_INGEST {
                "('idx_facts_replays', 'idx_facts_revision')"
            } else {
                "('idx_facts_replays')"
            };
            dropped_indexes = tx
                .prepare(&format!(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' \
                     AND tbl_name = 'facts' AND sql IS NOT NULL \
                     AND name NOT IN {kept} ORDER BY name"
                ))?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<(String, String)>, _>>()?;
            for (name, _) in &dropped_indexes {
                tx.execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
            }
        }
        let rollup_empty = !tx
            .prepare_cached("SELECT 1 FROM quarter_usage LIMIT 1")?
            .exists([])?;
        let insert = tx.prepare(if had_rows { &UPSERT_SQL } else { INSERT_SQL })?;
        Ok(FactWriter {
            tx,
            revision,
            had_rows,
            written: (!had_rows).then(WrittenKeys::default),
            written_max: WRITTEN_KEYS_MAX,
            dims: Dims::default(),
            insert,
            messages: BTreeSet::new(),
            dropped_indexes,
            touched: Touched::new(!had_rows, !had_rows && rollup_empty),
            stats: WriteStats::default(),
            last_before: Default::default(),
        })
    }

    /// Whether the fact table was empty when this writer started (a first ingest).
    pub fn started_empty(&self) -> bool {
        !self.had_rows
    }

    /// Inserts or merges one sighting. `price` prices the row as it will be stored.
    pub fn upsert(
        &mut self,
        r: Response,
        price: &dyn Fn(&Response) -> Pricing,
    ) -> Result<(), StoreError> {
        let pricing = price(&r);
        self.upsert_priced(&r, &pricing, price)
    }

    /// [`FactWriter::upsert`] with the sighting's pricing already worked out (`price`
    /// then prices only a merge's result).
    pub fn upsert_priced(
        &mut self,
        r: &Response,
        pricing: &Pricing,
        price: &dyn Fn(&Response) -> Pricing,
    ) -> Result<(), StoreError> {
        // The key's hash, while keys are found by it.
        let hash = self.written.as_ref().map(|w| (w.hash)(&r.key));
        let stored = match hash {
            Some(h) => self.written_row(&r.key, h)?,
            // The key index is there: a stored key turns the insert into a conflict.
            None => None,
        };
        let stored = match stored {
            Some(stored) => stored,
            None => {
                let row = self.row_of(r, pricing)?;
                self.note_session(row.session)?;
                let inserted = execute_row(&mut self.insert, r.key.as_str(), &row, &self.revision)?;
                if inserted == 1 {
                    let id = self.tx.last_insert_rowid();
                    self.stats.inserted += 1;
                    self.touched.add(&row.fact(id));
                    self.touched.flush_if_full(self.tx)?;
                    if self.had_rows {
                        self.note_message(&r.key);
                    }
                    if let (Some(written), Some(h)) = (&mut self.written, hash) {
                        written.insert(&r.key, h, id);
                        if written.by_hash.len() > self.written_max {
                            self.index_keys()?;
                        }
                    }
                    return Ok(());
                }
                self.load(&LOAD_BY_KEY_SQL, &r.key, &r.key)?
                    .ok_or_else(|| StoreError::Invalid(format!("row {} vanished", r.key)))?
            }
        };
        let (id, stored_row, replay_of, stored) = stored;
        let mut merged = stored.clone();
        merged.merge(r.clone());
        if merged == stored {
            self.stats.unchanged += 1;
            return Ok(());
        }
        let merged_row = self.row_of(&merged, &price(&merged))?;
        self.note_session(stored_row.session)?;
        self.note_session(merged_row.session)?;
        execute_row(
            &mut *self.tx.prepare_cached(UPDATE_SQL)?,
            id,
            &merged_row,
            &self.revision,
        )?;
        self.stats.updated += 1;
        let (before, after) = (stored_row.fact(id), merged_row.fact(id));
        if replay_of.is_none() {
            self.touched.replace(&before, &after);
        } else {
            // Not billed: only its replay group may change that (settled in `finish`).
            self.touched.note(&before);
            self.touched.note(&after);
        }
        // The identity may have changed (an earlier sighting): the replay choice may too.
        if self.had_rows
            && (replay_of.is_some()
                || merged.is_sidechain != stored.is_sidechain
                || merged.timestamp_ms != stored.timestamp_ms)
        {
            self.note_message(&merged.key);
        }
        self.touched.flush_if_full(self.tx)?;
        Ok(())
    }

    /// Builds the key index now and forgets the keys kept in memory: from here on a
    /// stored key is found by the index.
    fn index_keys(&mut self) -> Result<(), StoreError> {
        if let Some(at) = self
            .dropped_indexes
            .iter()
            .position(|(name, _)| name == "idx_facts_key")
        {
            let index = self.dropped_indexes.remove(at);
            build_indexes(self.tx, &[index], 0)?;
        }
        self.written = None;
        self.insert = self.tx.prepare(&UPSERT_SQL)?;
        Ok(())
    }

    /// Remembers a session's latest response time before this run first writes one of
    /// its facts.
    fn note_session(&mut self, session: Id) -> Result<(), StoreError> {
        if self.had_rows && !self.last_before.contains_key(&session) {
            let last = last_of_session(self.tx, session)?;
            self.last_before.insert(session, last);
        }
        Ok(())
    }

    /// The time of a session's latest stored response (billed or not) as the store held
    /// it before this run: what a Claude Code cost figure read before any response of
    /// its session in a transcript covers.
    pub fn last_response_before_run(
        &mut self,
        session_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        if !self.had_rows {
            return Ok(None);
        }
        let Some(id) = crate::dims::session_id(self.tx, session_id)? else {
            return Ok(None);
        };
        match self.last_before.get(&id) {
            Some(&last) => Ok(last),
            None => last_of_session(self.tx, id),
        }
    }

    fn note_message(&mut self, key: &str) {
        if let Some(mid) = message_id_of(key) {
            if !self.messages.contains(mid) {
                self.messages.insert(mid.to_owned());
            }
        }
    }

    /// A response's row: its texts as ids (new texts inserted), its money in nano-dollars.
    fn row_of(&mut self, r: &Response, p: &Pricing) -> Result<FactRow, StoreError> {
        let tx = self.tx;
        let d = &mut self.dims;
        Ok(FactRow {
            ts: r.timestamp_ms,
            session: d.session.id(tx, r.session_id.as_ref())?,
            project: d.project.id(tx, r.project_path.as_ref())?,
            model: d.model.id(tx, r.model.as_ref())?,
            usage: r.usage,
            cost_nanos: nanos_of_usd(p.cost_usd),
            savings_nanos: nanos_of_usd(p.cache_savings_usd),
            pricing: d.pricing.id(tx, &p.row())?,
            priced: p.priced,
            flags: i64::from(r.is_sidechain) * SIDECHAIN
                + i64::from(r.origin == Origin::AgentEcho) * AGENT_ECHO,
            source: d.source.id(tx, r.source_path.as_ref())?,
            agent: d.agent.id(tx, r.agent_id.as_ref())?,
            speed: d.speed.id(tx, r.speed.as_ref())?,
            service_tier: d.service_tier.id(tx, r.service_tier.as_ref())?,
            inference_geo: d.inference_geo.id(tx, r.inference_geo.as_ref())?,
            cc_version: d.cc_version.id(tx, r.cc_version.as_ref())?,
            recorded_cost_usd: r.recorded_cost_usd,
        })
    }

    /// The stored fact of a key a first ingest wrote, found by its row id.
    fn written_row(&mut self, key: &str, h: u64) -> Result<Option<Stored>, StoreError> {
        match self.written.as_ref().and_then(|w| w.candidate(key, h)) {
            None => Ok(None),
            Some(id) => self.load(&LOAD_BY_ID_SQL, &id, key),
        }
    }

    /// The stored fact `sql` ([`LOAD_BY_KEY_SQL`] or [`LOAD_BY_ID_SQL`]) selects with
    /// `param`, when its key is `key`: its id, row, replay mark, and the response it
    /// holds.
    fn load(
        &mut self,
        sql: &str,
        param: &dyn rusqlite::ToSql,
        key: &str,
    ) -> Result<Option<Stored>, StoreError> {
        let stored = self
            .tx
            .prepare_cached(sql)?
            .query_row([param], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    stored_row(r, 1)?,
                    r.get::<_, Option<i64>>(24)?,
                    r.get_ref(25)?.as_str().ok() == Some(key),
                ))
            })
            .optional()?;
        // Another key with the same hash (a first ingest's look-up by hash).
        let Some((id, mut row, replay_of, true)) = stored else {
            return Ok(None);
        };
        // Whether its pricing priced it, from the few pricings (not a look-up per row).
        row.priced = self.dims.pricing.priced(self.tx, row.pricing)?;
        let response = response_of(&mut self.dims, self.tx, key.to_owned(), &row)?;
        Ok(Some((id, row, replay_of, response)))
    }

    /// Builds the dropped indexes again, settles sidechain replays for the message ids
    /// this run wrote, and returns what the derived tables must refresh.
    pub fn finish(mut self) -> Result<(Touched, WriteStats), StoreError> {
        let dropped = std::mem::take(&mut self.dropped_indexes);
        // Reading is over: the sorts may use a second core.
        build_indexes(self.tx, &dropped, 2)?;
        let messages = if self.had_rows {
            std::mem::take(&mut self.messages).into_iter().collect()
        } else if let Some(written) = self.written.take() {
            written.several_requests.into_iter().collect()
        } else {
            self.messages_with_several_requests()?
        };
        for mid in messages {
            self.settle_replays(&mid)?;
        }
        Ok((self.touched, self.stats))
    }

    /// Every message id with more than one stored request id, in one pass over the key
    /// index (a first ingest past [`WRITTEN_KEYS_MAX`] keys: only such a group can hold
    /// a replay).
    fn messages_with_several_requests(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.tx.prepare(
            "SELECT dedup_key FROM facts WHERE dedup_key >= 'm:' AND dedup_key < 'm;' ORDER BY dedup_key",
        )?;
        let mut rows = stmt.query([])?;
        let mut out: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        while let Some(r) = rows.next()? {
            let key = r.get_ref(0)?.as_str().unwrap_or("");
            let Some(mid) = message_id_of(key) else {
                continue;
            };
            match &last {
                Some(prev) if prev == mid => {
                    if out.last().map(String::as_str) != Some(mid) {
                        out.push(mid.to_owned());
                    }
                }
                _ => last = Some(mid.to_owned()),
            }
        }
        Ok(out)
    }

    /// Decides again which response of a message id is billed (see the module docs).
    pub fn settle_replays(&mut self, message_id: &str) -> Result<(), StoreError> {
        let (lo, hi) = message_key_range(message_id);
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT id, dedup_key, replay_of, {COLUMNS}, (SELECT priced FROM pricings WHERE id = pricing) \
             FROM facts WHERE dedup_key >= ?1 AND dedup_key < ?2"
        ))?;
        struct Member {
            id: i64,
            key: String,
            replay_of: Option<i64>,
            row: FactRow,
        }
        let group: Vec<Member> = stmt
            .query_map([&lo, &hi], |r| {
                Ok(Member {
                    id: r.get(0)?,
                    key: r.get(1)?,
                    replay_of: r.get(2)?,
                    row: stored_row(r, 3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        // Non-sidechain first, then earliest, then by request id (the key's tail).
        let Some(primary) = group.iter().min_by(|a, b| {
            let rank = |m: &Member| (m.row.flags & SIDECHAIN != 0, m.row.ts, m.key.clone());
            rank(a).cmp(&rank(b))
        }) else {
            return Ok(());
        };
        let primary = (primary.id, primary.key.clone());
        for m in &group {
            let sidechain = m.row.flags & SIDECHAIN != 0;
            let want = (sidechain && m.key != primary.1).then_some(primary.0);
            if want == m.replay_of {
                continue;
            }
            self.tx
                .prepare_cached("UPDATE facts SET replay_of = ?2, revision = ?3 WHERE id = ?1")?
                .execute(params![m.id, want, self.revision.0])?;
            let fact = m.row.fact(m.id);
            match (m.replay_of.is_some(), want.is_some()) {
                (false, true) => self.touched.remove(&fact),
                (true, false) => self.touched.add(&fact),
                _ => self.touched.note(&fact),
            }
            if want.is_some() {
                self.stats.replays += 1;
            }
        }
        Ok(())
    }
}

/// Builds indexes (name, SQL) on `threads` helper threads. Each sorter keeps up to the
/// page cache's size in memory before it spills to a temporary file, so the cache is
/// small meanwhile: memory stays flat however many rows.
fn build_indexes(
    tx: &Transaction,
    indexes: &[(String, String)],
    threads: i64,
) -> Result<(), StoreError> {
    if indexes.is_empty() {
        return Ok(());
    }
    let cache: i64 = tx.pragma_query_value(None, "cache_size", |r| r.get(0))?;
    tx.pragma_update(None, "cache_size", -4096)?;
    tx.pragma_update(None, "threads", threads)?;
    for (_, sql) in indexes {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "threads", 0)?;
    tx.pragma_update(None, "cache_size", cache)?;
    Ok(())
}

/// The message id of an `m:` key (`m:<message id>:<request id>`).
fn message_id_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("m:")?;
    rest.split_once(':').map(|(mid, _)| mid)
}

/// The response a stored row holds, its texts read back through `d`.
pub(crate) fn response_of(
    d: &mut Dims,
    tx: &Connection,
    key: String,
    row: &FactRow,
) -> Result<Response, StoreError> {
    Ok(Response {
        key,
        timestamp_ms: row.ts,
        session_id: d.session.text(tx, row.session)?,
        project_path: d.project.text(tx, row.project)?,
        model: d.model.text(tx, row.model)?,
        usage: row.usage,
        speed: d.speed.text(tx, row.speed)?,
        service_tier: d.service_tier.text(tx, row.service_tier)?,
        inference_geo: d.inference_geo.text(tx, row.inference_geo)?,
        is_sidechain: row.flags & SIDECHAIN != 0,
        agent_id: d.agent.text(tx, row.agent)?,
        origin: if row.flags & AGENT_ECHO != 0 {
            Origin::AgentEcho
        } else {
            Origin::Assistant
        },
        recorded_cost_usd: row.recorded_cost_usd,
        cc_version: d.cc_version.text(tx, row.cc_version)?,
        source_path: d.source.text(tx, row.source)?,
    })
}

/// A stored row from columns `at..` ([`COLUMNS`] then whether its pricing priced it).
pub(crate) fn stored_row(r: &Row, at: usize) -> rusqlite::Result<FactRow> {
    let count = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(at + i)?.max(0) as u64) };
    Ok(FactRow {
        ts: r.get(at)?,
        session: r.get(at + 1)?,
        project: r.get(at + 2)?,
        model: r.get(at + 3)?,
        usage: Usage {
            input_tokens: count(4)?,
            output_tokens: count(5)?,
            cache_write_5m_tokens: count(6)?,
            cache_write_1h_tokens: count(7)?,
            cache_read_tokens: count(8)?,
            web_search_requests: count(9)?,
            web_fetch_requests: count(10)?,
        },
        cost_nanos: r.get(at + 11)?,
        savings_nanos: r.get(at + 12)?,
        pricing: r.get(at + 13)?,
        flags: r.get(at + 14)?,
        source: r.get(at + 15)?,
        agent: r.get(at + 16)?,
        speed: r.get(at + 17)?,
        service_tier: r.get(at + 18)?,
        inference_geo: r.get(at + 19)?,
        cc_version: r.get(at + 20)?,
        recorded_cost_usd: r.get(at + 21)?,
        priced: r.get::<_, Option<bool>>(at + 22)?.unwrap_or(false),
    })
}

/// A stored response as repricing reads it: its row id, its facts and the price it has.
pub struct StoredPricing {
    pub id: i64,
    pub response: Response,
    pub cost_nanos: i64,
    pub priced: bool,
    pub billed: bool,
}

/// Reads and replaces stored responses' prices (repricing after the price table
/// changed), in the caller's transaction. The rollup and the derived tables must be
/// rebuilt after ([`crate::derive::rebuild_all`]).
#[derive(Default)]
pub struct Repricer {
    dims: Dims,
    /// The revision every changed price gets (the next push sends them), taken at the
    /// first change.
    revision: Option<Revision>,
}

impl Repricer {
    /// Up to `limit` stored responses (billed or not) with ids above `after_id`, in id
    /// order: repricing reads the table in parts so its memory stays bounded.
    pub fn responses_after(
        &mut self,
        tx: &Transaction,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredPricing>, StoreError> {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT id, {COLUMNS}, (SELECT priced FROM pricings WHERE id = pricing), \
             replay_of IS NULL, dedup_key FROM facts WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![after_id, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    stored_row(r, 1)?,
                    r.get::<_, bool>(24)?,
                    r.get::<_, String>(25)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, row, billed, key)| {
                Ok(StoredPricing {
                    id,
                    cost_nanos: row.cost_nanos,
                    priced: row.priced,
                    billed,
                    response: response_of(&mut self.dims, tx, key, &row)?,
                })
            })
            .collect()
    }

    /// Replaces the price of the response with row id `id`. Returns whether anything
    /// stored changed (the cost, or only the provenance).
    pub fn set(&mut self, tx: &Transaction, id: i64, p: &Pricing) -> Result<bool, StoreError> {
        let pricing = self.dims.pricing.id(tx, &p.row())?;
        let revision = match self.revision {
            Some(r) => r,
            None => *self.revision.insert(Revision::next(tx)?),
        };
        let n = tx
            .prepare_cached(
                "UPDATE facts SET cost_nanos = ?2, savings_nanos = ?3, pricing = ?4, revision = ?5 \
                 WHERE id = ?1 AND NOT (cost_nanos = ?2 AND savings_nanos = ?3 AND pricing = ?4)",
            )?
            .execute(params![
                id,
                nanos_of_usd(p.cost_usd),
                nanos_of_usd(p.cache_savings_usd),
                pricing,
                revision.0
            ])?;
        Ok(n == 1)
    }
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

/// The time of a session's latest stored response (billed or not), by its id.
fn last_of_session(tx: &Transaction, session: Id) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT max(ts) FROM facts WHERE session = ?1")?
        .query_row([session], |r| r.get(0))?)
}

/// Models in the store that have no price, with their billed response counts (from the
/// rollup's few unpriced rows, not from every response).
pub fn unpriced_models(conn: &rusqlite::Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT coalesce(m.name, 'unknown'), sum(q.unpriced_responses) FROM quarter_usage q \
         LEFT JOIN models m ON m.id = q.model WHERE q.unpriced_responses > 0 \
         GROUP BY 1 ORDER BY 2 DESC, 1",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};

    fn response(id: &str, ts: i64, output: u64, source: &str) -> Response {
        Response {
            key: ctm_model::message_key(id, "r"),
            timestamp_ms: ts,
            session_id: Some("s".into()),
            project_path: Some("/p".into()),
            model: Some("claude-opus-4-6".into()),
            usage: Usage {
                output_tokens: output,
                ..Usage::default()
            },
            speed: None,
            service_tier: None,
            inference_geo: None,
            is_sidechain: false,
            agent_id: None,
            origin: Origin::Assistant,
            recorded_cost_usd: None,
            cc_version: None,
            source_path: Some(source.into()),
        }
    }

    fn price(r: &Response) -> Pricing {
        Pricing {
            cost_usd: r.usage.output_tokens as f64 * 1e-6,
            priced: true,
            price_model: None,
            price_version: "t".into(),
            long_context: false,
            multiplier: 1.0,
            cache_savings_usd: 0.0,
        }
    }

    /// The stored rows, as text.
    fn rows(store: &Store) -> Vec<String> {
        let mut stmt = store
            .conn()
            .prepare("SELECT dedup_key, ts, output_tokens, source_path FROM responses ORDER BY dedup_key")
            .unwrap();
        stmt.query_map([], |r| {
            Ok(format!(
                "{} {} {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// A first ingest finds the rows of keys it wrote by their hash, and tells keys
    /// whose hashes collide apart by the key the row holds: with every hash the same,
    /// the rows are those of a store that compares keys in its index. Past the keys it
    /// keeps in memory it builds the index and finds them there, to the same rows.
    #[test]
    fn a_first_ingest_tells_colliding_keys_apart() {
        let sightings = vec![
            response("a", 10, 5, "/1"),
            response("b", 20, 7, "/1"),
            // Later files: a better sighting of "a", an earlier one of "b", a new "c".
            response("a", 10, 50, "/2"),
            response("c", 30, 1, "/2"),
            response("b", 15, 3, "/3"),
        ];
        let mut answers = Vec::new();
        for (colliding, keys_max) in [
            (false, WRITTEN_KEYS_MAX),
            (true, WRITTEN_KEYS_MAX),
            (false, 1),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut store =
                Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
            let tx = store.write().unwrap();
            let mut writer = FactWriter::new(&tx).unwrap();
            assert!(writer.started_empty());
            if colliding {
                writer.written.as_mut().unwrap().hash = |_| 7;
            }
            writer.written_max = keys_max;
            for r in sightings.clone() {
                writer.upsert(r, &price).unwrap();
            }
            let (_, stats) = writer.finish().unwrap();
            tx.commit().unwrap();
            assert_eq!((stats.inserted, stats.updated), (3, 2));
            answers.push(rows(&store));
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0], answers[2]);
        assert_eq!(
            answers[0],
            ["m:a:r 10 50 /1", "m:b:r 15 7 /3", "m:c:r 30 1 /2"]
        );
    }

    /// A first ingest settles the replay groups of the message ids it wrote under
    /// several request ids, found as they are written (or, past the keys it keeps in
    /// memory, from the key index): with every hash the same, the rows are the same.
    #[test]
    fn a_first_ingest_settles_every_replay_group() {
        let sighting = |mid: &str, req: &str, ts: i64, sidechain: bool| Response {
            key: ctm_model::message_key(mid, req),
            is_sidechain: sidechain,
            ..response(mid, ts, 1, "/1")
        };
        let sightings = vec![
            // A replay written before the response it repeats, and one after.
            sighting("a", "r2", 20, true),
            sighting("a", "r1", 10, false),
            sighting("a", "r3", 30, true),
            // Two sidechain requests: the earlier is billed.
            sighting("b", "r1", 40, true),
            sighting("b", "r2", 35, true),
            // One request: nothing to settle.
            sighting("c", "r1", 50, true),
        ];
        let mut answers = Vec::new();
        for (colliding, keys_max) in [
            (false, WRITTEN_KEYS_MAX),
            (true, WRITTEN_KEYS_MAX),
            (false, 1),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut store =
                Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
            let tx = store.write().unwrap();
            let mut writer = FactWriter::new(&tx).unwrap();
            if colliding {
                writer.written.as_mut().unwrap().hash = |_| 7;
            }
            writer.written_max = keys_max;
            for r in sightings.clone() {
                writer.upsert(r, &price).unwrap();
            }
            let (_, stats) = writer.finish().unwrap();
            tx.commit().unwrap();
            assert_eq!(stats.replays, 3);
            let replays: Vec<(String, Option<String>)> = store
                .conn()
                .prepare(
                    "SELECT f.dedup_key, p.dedup_key FROM facts f \
                     LEFT JOIN facts p ON p.id = f.replay_of ORDER BY f.dedup_key",
                )
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            answers.push(replays);
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0], answers[2]);
        let of = |k: &str, p: Option<&str>| (k.to_owned(), p.map(str::to_owned));
        assert_eq!(
            answers[0],
            [
                of("m:a:r1", None),
                of("m:a:r2", Some("m:a:r1")),
                of("m:a:r3", Some("m:a:r1")),
                of("m:b:r1", Some("m:b:r2")),
                of("m:b:r2", None),
                of("m:c:r1", None),
            ]
        );
    }

    #[test]
    fn message_ids_come_from_m_keys_only() {
        assert_eq!(message_id_of("m:msg_1:req_1"), Some("msg_1"));
        assert_eq!(message_id_of("m:msg_1:"), Some("msg_1"));
        assert_eq!(message_id_of("u:abc"), None);
        assert_eq!(message_id_of("h:00ff"), None);
    }
}
