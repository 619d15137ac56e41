//! Snapshots of Claude Code's own `stats-cache.json` (seed 004's `stats_snapshots` and
//! `model_usage_logs`).
//!
//! The file is Claude Code's lifetime aggregate; it outlives the transcripts it was
//! computed from, so a snapshot keeps figures for days whose transcripts were deleted.
//! A row is recorded only when the file's content changed: the new text is compared with
//! the `raw_json` of earlier snapshots (no schema change, no hash column), so the same
//! content under a new mtime, or seen through a second data root, is not recorded twice.
//!
//! Costs come from the caller's price function, never from the file (Claude Code writes
//! `costUSD: 0`). This crate does not depend on the price table: the live monitor, the web
//! server and the CLI pass their own.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Files larger than this are skipped: the real ones are a few KB.
pub const MAX_BYTES: u64 = 50 << 20;

/// The file name inside a data root.
pub const FILE_NAME: &str = "stats-cache.json";

/// Lifetime token counts of one model (or all of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    /// `cacheCreationInputTokens`: the file has no 5-minute/1-hour split.
    pub cache_write: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }

    /// The definition in docs/definitions.md: read / (write + read); 0 when nothing was cached.
    pub fn hit_rate(&self) -> f64 {
        let cached = self.cache_read + self.cache_write;
        if cached == 0 {
            0.0
        } else {
            self.cache_read as f64 / cached as f64
        }
    }

    fn add(&mut self, o: &Tokens) {
        self.input += o.input;
        self.output += o.output;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
    }
}

/// What the caller's price function says about one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPriced {
    /// The normalised name (a trailing `-YYYYMMDD` is removed here, see [`strip_date`]).
    pub model_name: String,
    /// `None`: the model has no price; it counts 0 and is reported.
    pub cost_usd: Option<f64>,
}

/// What `tokensByModel` counts, which depends on `dailyModelTokensVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DailyTokensMeaning {
    #[serde(rename = "input+output")]
    InputOutput,
    #[serde(rename = "incl. cache")]
    InclCache,
}

impl DailyTokensMeaning {
    pub fn label(self) -> &'static str {
        match self {
            DailyTokensMeaning::InputOutput => "input+output",
            DailyTokensMeaning::InclCache => "incl. cache",
        }
    }
}

/// One `dailyActivity` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DailyActivity {
    pub date: String,
    pub message_count: u64,
    pub session_count: u64,
    pub tool_call_count: u64,
}

/// One `dailyModelTokens` entry. Never price it: see [`StatsCache::daily_tokens_meaning`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DailyModelTokens {
    pub date: String,
    pub tokens_by_model: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ModelUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation_input_tokens: u64,
}

/// The parts of `stats-cache.json` ctm uses; missing fields read as 0 or empty.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsCache {
    pub version: u32,
    pub last_computed_date: Option<String>,
    pub daily_activity: Vec<DailyActivity>,
    pub daily_model_tokens: Vec<DailyModelTokens>,
    pub daily_model_tokens_version: Option<u32>,
    /// Lifetime tokens per model, by the name Claude Code wrote.
    pub model_usage: BTreeMap<String, Tokens>,
}

// `null` and absent both mean "nothing" here (older versions write `null` for some).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    version: Option<u32>,
    last_computed_date: Option<String>,
    daily_activity: Option<Vec<DailyActivity>>,
    daily_model_tokens: Option<Vec<DailyModelTokens>>,
    daily_model_tokens_version: Option<u32>,
    // Values checked by hand: serde would read a JSON array as a struct's fields in order.
    model_usage: Option<BTreeMap<String, serde_json::Value>>,
}

impl StatsCache {
    /// Parses versions 1 to 5; anything else is an error with a one-line reason.
    pub fn parse(bytes: &[u8]) -> Result<StatsCache, String> {
        if bytes.len() as u64 > MAX_BYTES {
            return Err(format!("larger than {} MB", MAX_BYTES >> 20));
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_eof() {
                "truncated JSON (the file ends early)".to_owned()
            } else {
                format!("not valid stats-cache JSON ({e})")
            }
        })?;
        let version = raw.version.ok_or("no version field")?;
        if !(1..=5).contains(&version) {
            return Err(format!(
                "unknown version {version} (ctm reads versions 1 to 5)"
            ));
        }
        let mut model_usage = BTreeMap::new();
        for (name, value) in raw.model_usage.ok_or("no modelUsage field")? {
            let u = match value {
                serde_json::Value::Null => ModelUsage::default(),
                v @ serde_json::Value::Object(_) => serde_json::from_value::<ModelUsage>(v)
                    .map_err(|e| format!("not valid stats-cache JSON (modelUsage.{name}: {e})"))?,
                _ => {
                    return Err(format!(
                        "not valid stats-cache JSON (modelUsage.{name} is not an object)"
                    ))
                }
            };
            let t = Tokens {
                input: u.input_tokens,
                output: u.output_tokens,
                cache_read: u.cache_read_input_tokens,
                cache_write: u.cache_creation_input_tokens,
            };
            model_usage.insert(name, t);
        }
        Ok(StatsCache {
            version,
            last_computed_date: raw.last_computed_date,
            daily_activity: raw.daily_activity.unwrap_or_default(),
            daily_model_tokens: raw.daily_model_tokens.unwrap_or_default(),
            daily_model_tokens_version: raw.daily_model_tokens_version,
            model_usage,
        })
    }

    /// The trap: before `dailyModelTokensVersion` 5, `tokensByModel` is input+output;
    /// from 5 it includes cache tokens. A file without the field is judged by its
    /// own version (the field appeared with version 5).
    pub fn daily_tokens_meaning(&self) -> DailyTokensMeaning {
        if self.daily_model_tokens_version.unwrap_or(self.version) >= 5 {
            DailyTokensMeaning::InclCache
        } else {
            DailyTokensMeaning::InputOutput
        }
    }

    /// Lifetime totals over every model.
    pub fn totals(&self) -> Tokens {
        let mut t = Tokens::default();
        for m in self.model_usage.values() {
            t.add(m);
        }
        t
    }
}

/// `claude-opus-4-5-20251101` -> `claude-opus-4-5`; other names unchanged.
pub fn strip_date(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((head, tail))
            if !head.is_empty() && tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_digit()) =>
        {
            head
        }
        _ => name,
    }
}

/// One model of a recorded snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRow {
    pub model_name: String,
    pub model_display_name: String,
    pub tokens: Tokens,
    pub cost_usd: f64,
    pub priced: bool,
    pub cache_hit_rate: f64,
}

/// What [`take`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Outcome {
    #[serde(rename_all = "camelCase")]
    Taken {
        id: i64,
        version: u32,
        totals: Tokens,
        total_cost_usd: f64,
        cache_hit_rate: f64,
        models: Vec<ModelRow>,
        /// Models Claude Code used that the price table does not know (costed at 0).
        unpriced: Vec<String>,
    },
    /// The same content is already recorded, as snapshot `id`.
    #[serde(rename_all = "camelCase")]
    Unchanged { id: i64 },
    /// Nothing written; `reason` is one line.
    Skipped { reason: String },
    /// The data root has no stats-cache.json.
    Absent,
}

/// Records a snapshot of `bytes` (the file's whole content) unless the same content is
/// already recorded. Runs in the caller's transaction; `path` only names the file in
/// reasons. `price` gets each model's name as Claude Code wrote it and its lifetime tokens.
pub fn take(
    conn: &Connection,
    bytes: &[u8],
    source_mtime: Option<jiff::Timestamp>,
    price: &dyn Fn(&str, &Tokens) -> ModelPriced,
) -> Result<Outcome, StoreError> {
    let cache = match StatsCache::parse(bytes) {
        Ok(c) => c,
        Err(reason) => return Ok(Outcome::Skipped { reason }),
    };
    // raw_json is TEXT; parse succeeded, so the bytes are UTF-8 JSON.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(Outcome::Skipped {
            reason: "not UTF-8".into(),
        });
    };
    // Identical content is unchanged whatever its mtime or root; the length test lets
    // SQLite skip most comparisons of the text itself.
    if let Some(id) = conn
        .query_row(
            "SELECT id FROM stats_snapshots WHERE length(CAST(raw_json AS BLOB)) = ?1 AND raw_json = ?2 \
             ORDER BY id DESC LIMIT 1",
            params![bytes.len() as i64, text],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
    {
        return Ok(Outcome::Unchanged { id });
    }

    let mut models = Vec::with_capacity(cache.model_usage.len());
    let mut unpriced = Vec::new();
    for (original, tokens) in &cache.model_usage {
        let p = price(original, tokens);
        if p.cost_usd.is_none() {
            unpriced.push(original.clone());
        }
        models.push(ModelRow {
            model_name: strip_date(&p.model_name).to_owned(),
            model_display_name: original.clone(),
            tokens: *tokens,
            cost_usd: p.cost_usd.unwrap_or(0.0),
            priced: p.cost_usd.is_some(),
            cache_hit_rate: tokens.hit_rate(),
        });
    }
    let totals = cache.totals();
    let total_cost_usd: f64 = models.iter().map(|m| m.cost_usd).sum();
    let mtime = source_mtime.map(|t| {
        jiff::Timestamp::from_millisecond(t.as_millisecond())
            .unwrap_or(t)
            .strftime("%Y-%m-%d %H:%M:%S%.3f")
            .to_string()
    });
    conn.execute(
        "INSERT INTO stats_snapshots (total_input_tokens, total_output_tokens, total_cache_read_tokens, \
         total_cache_write_tokens, total_cost_usd, cache_hit_rate, raw_json, source_mtime) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            totals.input as i64,
            totals.output as i64,
            totals.cache_read as i64,
            totals.cache_write as i64,
            total_cost_usd,
            totals.hit_rate(),
            text,
            mtime
        ],
    )?;
    let id = conn.last_insert_rowid();
    let mut insert = conn.prepare(
        "INSERT INTO model_usage_logs (snapshot_id, model_name, model_display_name, input_tokens, \
         output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cache_hit_rate) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for m in &models {
        insert.execute(params![
            id,
            m.model_name,
            m.model_display_name,
            m.tokens.input as i64,
            m.tokens.output as i64,
            m.tokens.cache_read as i64,
            m.tokens.cache_write as i64,
            m.cost_usd,
            m.cache_hit_rate
        ])?;
    }
    Ok(Outcome::Taken {
        id,
        version: cache.version,
        totals,
        total_cost_usd,
        cache_hit_rate: totals.hit_rate(),
        models,
        unpriced,
    })
}

/// [`take`] for `<root>/stats-cache.json`: a missing file is [`Outcome::Absent`]; a file
/// too large or unreadable is skipped (never read whole when too large).
pub fn take_file(
    conn: &Connection,
    path: &Path,
    price: &dyn Fn(&str, &Tokens) -> ModelPriced,
) -> Result<Outcome, StoreError> {
    let skipped = |reason: String| Ok(Outcome::Skipped { reason });
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Outcome::Absent),
        Err(e) => return skipped(format!("cannot open it ({e})")),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return skipped(format!("cannot stat it ({e})")),
    };
    if meta.len() > MAX_BYTES {
        return skipped(format!("larger than {} MB", MAX_BYTES >> 20));
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok());
    // Bounded even if the file grows between the stat and the read.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    if let Err(e) = (&mut file).take(MAX_BYTES + 1).read_to_end(&mut bytes) {
        return skipped(format!("cannot read it ({e})"));
    }
    take(conn, &bytes, mtime, price)
}

/// A recorded snapshot, as `ctm stats` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub id: i64,
    pub captured_at: String,
    pub source_mtime: Option<String>,
    pub totals: Tokens,
    pub total_cost_usd: f64,
    pub raw_json: String,
    pub models: Vec<ModelRow>,
}

/// Input, output, cache read and cache write counts from four columns in that order,
/// starting at `first` (how every snapshot and model row stores them).
fn tokens_at(r: &rusqlite::Row, first: usize) -> rusqlite::Result<Tokens> {
    let count = |i: usize| r.get::<_, i64>(first + i).map(|v| v as u64);
    Ok(Tokens {
        input: count(0)?,
        output: count(1)?,
        cache_read: count(2)?,
        cache_write: count(3)?,
    })
}

/// The most recent snapshot, if any.
pub fn latest(conn: &Connection) -> Result<Option<Snapshot>, StoreError> {
    let Some(mut snap) = conn
        .query_row(
            "SELECT id, captured_at, source_mtime, total_input_tokens, total_output_tokens, \
             total_cache_read_tokens, total_cache_write_tokens, total_cost_usd, coalesce(raw_json, '') \
             FROM stats_snapshots ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(Snapshot {
                    id: r.get(0)?,
                    captured_at: r.get(1)?,
                    source_mtime: r.get(2)?,
                    totals: tokens_at(r, 3)?,
                    total_cost_usd: r.get(7)?,
                    raw_json: r.get(8)?,
                    models: Vec::new(),
                })
            },
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut stmt = conn.prepare(
        "SELECT model_name, coalesce(model_display_name, model_name), input_tokens, output_tokens, \
         cache_read_tokens, cache_write_tokens, cost_usd, cache_hit_rate \
         FROM model_usage_logs WHERE snapshot_id = ?1 ORDER BY model_name, model_display_name",
    )?;
    snap.models = stmt
        .query_map([snap.id], |r| {
            Ok(ModelRow {
                model_name: r.get(0)?,
                model_display_name: r.get(1)?,
                tokens: tokens_at(r, 2)?,
                cost_usd: r.get(6)?,
                priced: false,
                cache_hit_rate: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<ModelRow>, _>>()?;
    for m in &mut snap.models {
        // Not stored: a zero cost for tokens is the unknown-model case.
        m.priced = m.cost_usd > 0.0 || m.tokens.total() == 0;
    }
    Ok(Some(snap))
}

/// One recorded snapshot without its raw file: what the dashboard lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSummary {
    pub id: i64,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub captured_at: String,
    pub source_mtime: Option<String>,
    pub totals: Tokens,
    pub total_cost_usd: f64,
    pub cache_hit_rate: f64,
}

/// Every recorded snapshot, newest first.
pub fn list(conn: &Connection) -> Result<Vec<SnapshotSummary>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, captured_at, source_mtime, total_input_tokens, total_output_tokens, \
         total_cache_read_tokens, total_cache_write_tokens, total_cost_usd, cache_hit_rate \
         FROM stats_snapshots ORDER BY id DESC",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SnapshotSummary {
                id: r.get(0)?,
                captured_at: r.get(1)?,
                source_mtime: r.get(2)?,
                totals: tokens_at(r, 3)?,
                total_cost_usd: r.get(7)?,
                cache_hit_rate: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The store's billed tokens per model name as written (for comparing with a snapshot),
/// from the rollup.
pub fn billed_by_model(conn: &Connection) -> Result<Vec<(String, Tokens)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT coalesce(m.name, ''), sum(q.input_tokens), sum(q.output_tokens), sum(q.cache_read_tokens), \
         sum(q.cache_write_5m_tokens + q.cache_write_1h_tokens) FROM quarter_usage q \
         LEFT JOIN models m ON m.id = q.model GROUP BY q.model",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Tokens {
                    input: r.get::<_, i64>(1)? as u64,
                    output: r.get::<_, i64>(2)? as u64,
                    cache_read: r.get::<_, i64>(3)? as u64,
                    cache_write: r.get::<_, i64>(4)? as u64,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// UTC epoch milliseconds of the first billed response, if any (in the rollup's first
/// slot).
pub fn first_billed_ms(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn.query_row(
        "SELECT min(first_ts) FROM quarter_usage WHERE slot = (SELECT min(slot) FROM quarter_usage)",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};

    const V5: &str = r#"{"version":5,"lastComputedDate":"2026-04-25","dailyActivity":[{"date":"2026-04-25","messageCount":10,"sessionCount":1,"toolCallCount":2}],
"dailyModelTokens":[{"date":"2026-04-25","tokensByModel":{"claude-opus-4-6":1000}}],"modelUsage":{"claude-opus-4-6":{"inputTokens":100,
"outputTokens":900,"cacheReadInputTokens":40000,"cacheCreationInputTokens":2000,"webSearchRequests":0,"costUSD":0,"contextWindow":0,
"maxOutputTokens":0}},"totalSessions":5,"totalMessages":50,"longestSession":{"sessionId":"abc","duration":3600000,"messageCount":7,
"timestamp":"2026-04-25T12:00:00Z"},"firstSessionDate":"2026-04-01T00:00:00Z","hourCounts":{"12":4},"dailyModelTokensVersion":5}"#;

    /// An older shape: no dailyModelTokensVersion, sparse model fields, null longestSession.
    fn older(version: u32) -> String {
        format!(
            r#"{{"version":{version},"lastComputedDate":"2025-09-01","dailyActivity":[{{"date":"2025-08-30","messageCount":4}}],
"dailyModelTokens":[{{"date":"2025-08-30","tokensByModel":{{"claude-sonnet-4-20250514":700}}}}],
"modelUsage":{{"claude-sonnet-4-20250514":{{"inputTokens":300,"outputTokens":400}},"claude-opus-4-5-20251101":{{"cacheReadInputTokens":9}}}},
"totalSessions":2,"longestSession":null,"hourCounts":{{}}}}"#
        )
    }

    /// Opus 4.6 rates ($ per million): input 5, output 25, 5-minute write 6.25, read 0.50.
    fn opus_rates(model: &str, t: &Tokens) -> ModelPriced {
        let cost = (model == "claude-opus-4-6").then(|| {
            (t.input as f64 * 5.0
                + t.output as f64 * 25.0
                + t.cache_write as f64 * 6.25
                + t.cache_read as f64 * 0.50)
                / 1e6
        });
        ModelPriced {
            model_name: model.to_owned(),
            cost_usd: cost,
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        (dir, store)
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn snapshots_parse_versions_1_2_3_and_5() {
        let v5 = StatsCache::parse(V5.as_bytes()).unwrap();
        assert_eq!(v5.version, 5);
        assert_eq!(
            v5.totals(),
            Tokens {
                input: 100,
                output: 900,
                cache_read: 40_000,
                cache_write: 2_000
            }
        );
        assert_eq!(v5.daily_activity[0].tool_call_count, 2);
        assert_eq!(
            v5.daily_model_tokens[0].tokens_by_model["claude-opus-4-6"],
            1000
        );
        for version in [1, 2, 3] {
            let c = StatsCache::parse(older(version).as_bytes()).unwrap();
            assert_eq!(c.version, version);
            assert_eq!(c.model_usage.len(), 2);
            assert_eq!(
                c.totals(),
                Tokens {
                    input: 300,
                    output: 400,
                    cache_read: 9,
                    cache_write: 0
                }
            );
            // Missing counts read as 0.
            assert_eq!(c.daily_activity[0].session_count, 0);
        }
        // Version 1's smallest shape: modelUsage present but empty, nothing else.
        let bare = StatsCache::parse(br#"{"version":1,"modelUsage":{}}"#).unwrap();
        assert!(bare.daily_activity.is_empty() && bare.model_usage.is_empty());
    }

    #[test]
    fn snapshots_refuse_what_they_cannot_read_with_one_line() {
        let cases: [(&[u8], &str); 7] = [
            (
                br#"{"version":5,"modelUsage":{"m":[1,2]}}"#,
                "not an object",
            ),
            (
                br#"{"version":5,"modelUsage":{"m":{"inputTokens":-1}}}"#,
                "modelUsage.m",
            ),
            (br#"{"version":9,"modelUsage":{}}"#, "unknown version 9"),
            (&V5.as_bytes()[..V5.len() / 2], "truncated"),
            (b"not json at all", "not valid"),
            (br#"{"version":5,"dailyActivity":[]}"#, "no modelUsage"),
            (br#"{"modelUsage":{}}"#, "no version"),
        ];
        for (bytes, want) in cases {
            let e = StatsCache::parse(bytes).unwrap_err();
            assert!(e.contains(want) && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn snapshots_label_the_daily_tokens_trap() {
        let v5 = StatsCache::parse(V5.as_bytes()).unwrap();
        assert_eq!(v5.daily_tokens_meaning(), DailyTokensMeaning::InclCache);
        for v in [1, 2, 3] {
            let c = StatsCache::parse(older(v).as_bytes()).unwrap();
            assert_eq!(c.daily_tokens_meaning(), DailyTokensMeaning::InputOutput);
        }
        // The field decides when present, whatever the file's version.
        let mixed = V5.replace(
            r#""dailyModelTokensVersion":5"#,
            r#""dailyModelTokensVersion":4"#,
        );
        let c = StatsCache::parse(mixed.as_bytes()).unwrap();
        assert_eq!(c.daily_tokens_meaning(), DailyTokensMeaning::InputOutput);
        assert_eq!(DailyTokensMeaning::InclCache.label(), "incl. cache");
    }

    #[test]
    fn snapshots_cost_one_model_by_hand() {
        let (_dir, mut store) = store();
        let tx = store.write().unwrap();
        let Outcome::Taken {
            total_cost_usd,
            cache_hit_rate,
            models,
            ..
        } = take(&tx, V5.as_bytes(), None, &opus_rates).unwrap()
        else {
            panic!("not taken")
        };
        // 100*5 + 900*25 + 2000*6.25 + 40000*0.5 = 500 + 22500 + 12500 + 20000 = 55500 / 1e6.
        assert!((total_cost_usd - 0.0555).abs() < 1e-12, "{total_cost_usd}");
        assert!((cache_hit_rate - 40_000.0 / 42_000.0).abs() < 1e-12);
        assert_eq!(models.len(), 1);
        let row: (String, String, f64, i64) = tx
            .query_row(
                "SELECT model_name, model_display_name, cost_usd, cache_read_tokens FROM model_usage_logs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(row.0, "claude-opus-4-6");
        assert!((row.2 - 0.0555).abs() < 1e-12);
        assert_eq!(row.3, 40_000);
    }

    #[test]
    fn snapshots_record_only_changed_content() {
        let (_dir, mut store) = store();
        let tx = store.write().unwrap();
        let t1 = jiff::Timestamp::from_second(1_770_000_000).unwrap();
        let first = take(&tx, older(2).as_bytes(), Some(t1), &opus_rates).unwrap();
        let Outcome::Taken {
            id,
            unpriced,
            models,
            ..
        } = first
        else {
            panic!("{first:?}")
        };
        // Unknown models cost 0 and are reported; the date suffix leaves model_name.
        assert_eq!(unpriced.len(), 2);
        assert!(models.iter().any(|m| m.model_name == "claude-opus-4-5"
            && m.model_display_name == "claude-opus-4-5-20251101"));
        // Same content, same or newer mtime: unchanged.
        for mtime in [Some(t1), Some(t1 + jiff::SignedDuration::from_secs(60))] {
            let again = take(&tx, older(2).as_bytes(), mtime, &opus_rates).unwrap();
            assert_eq!(again, Outcome::Unchanged { id });
        }
        assert_eq!(count(&tx, "stats_snapshots"), 1);
        let changed = take(&tx, V5.as_bytes(), Some(t1), &opus_rates).unwrap();
        assert!(
            matches!(changed, Outcome::Taken { id: 2, .. }),
            "{changed:?}"
        );
        // Skips write nothing.
        let bad = take(&tx, b"{\"version\":9,\"modelUsage\":{}}", None, &opus_rates).unwrap();
        assert!(matches!(bad, Outcome::Skipped { .. }));
        assert_eq!(count(&tx, "stats_snapshots"), 2);
        assert_eq!(count(&tx, "model_usage_logs"), 3);
        let latest = latest(&tx).unwrap().unwrap();
        assert_eq!(latest.id, 2);
        assert_eq!(latest.raw_json, V5);
        assert_eq!(latest.models[0].tokens.cache_write, 2_000);
    }

    #[test]
    fn snapshots_strip_only_a_date_suffix() {
        assert_eq!(strip_date("claude-opus-4-5-20251101"), "claude-opus-4-5");
        assert_eq!(strip_date("claude-opus-4-6"), "claude-opus-4-6");
        assert_eq!(strip_date("model-2025"), "model-2025");
        assert_eq!(strip_date("-20251101"), "-20251101");
    }

    #[test]
    fn snapshots_take_file_handles_absent_and_large_files() {
        let (dir, mut store) = store();
        let tx = store.write().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert_eq!(take_file(&tx, &path, &opus_rates).unwrap(), Outcome::Absent);
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_BYTES + 1).unwrap();
        let out = take_file(&tx, &path, &opus_rates).unwrap();
        assert!(
            matches!(&out, Outcome::Skipped { reason } if reason.contains("50 MB")),
            "{out:?}"
        );
        std::fs::write(&path, V5).unwrap();
        assert!(matches!(
            take_file(&tx, &path, &opus_rates).unwrap(),
            Outcome::Taken { .. }
        ));
        let mtime: Option<String> = tx
            .query_row("SELECT source_mtime FROM stats_snapshots", [], |r| r.get(0))
            .unwrap();
        assert!(mtime.unwrap().contains(':'));
    }
}
