//! Seed 000's "DO NOT BREAK": a store at every earlier schema version, filled by hand,
//! migrates to the latest without changing a fact or a row the user made, and a
//! migration that fails leaves the store as it was.

use std::path::Path;

use ctm_store::{derive, OpenOptions, Store, StoreError, SCHEMA_VERSION};
use rusqlite::types::Value;
use rusqlite::Connection;

/// The hand-filled `claude_sessions` row: a session with no facts.
const LEGACY_SESSION: &str = "legacy-session";
/// Its columns as written, in the shape every version has had (seed 000's "current").
const LEGACY_COLUMNS: &str =
    "session_id, session_start, session_end, input_tokens, output_tokens, total_tokens, total_cost";

/// Builds a store at `version`: 0 is a pre-ctm database holding only `claude_sessions`.
fn store_at(path: &Path, version: u32) {
    if version == 0 {
        Connection::open(path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE claude_sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL UNIQUE, \
                 session_start TIMESTAMP NOT NULL, session_end TIMESTAMP, input_tokens INTEGER DEFAULT 0, \
                 output_tokens INTEGER DEFAULT 0, total_tokens INTEGER DEFAULT 0, total_cost REAL DEFAULT 0.0)",
            )
            .unwrap();
    } else {
        let mut store = Store::open(
            path,
            &OpenOptions {
                target_version: version,
                ..OpenOptions::default()
            },
        )
        .unwrap();
        assert_eq!(store.schema_version().unwrap(), version);
        // In WAL mode, as a store is once anything was ingested into it (and as every
        // store was that a version before the rollback-journal first ingest made).
        store.use_wal().unwrap();
    }
}

/// key, ts, session, model, input, output, cache write 5m, cache read, cost, sidechain, replay_of.
type HandFact = (
    &'static str,
    i64,
    &'static str,
    &'static str,
    i64,
    i64,
    i64,
    i64,
    f64,
    i64,
    Option<&'static str>,
);

/// Hand-written facts: two sessions over two days, an unpriced model, and a sidechain
/// replay that must stay out of the billed totals.
fn fill(conn: &Connection, with_facts: bool) {
    conn.execute(
        &format!(
            "INSERT INTO claude_sessions ({LEGACY_COLUMNS}) VALUES (?1, '2025-06-01 10:00:00', \
             '2025-06-01 11:30:00', 1200, 3400, 4600, 0.42)"
        ),
        [LEGACY_SESSION],
    )
    .unwrap();
    if !with_facts {
        return;
    }
    let rows: &[HandFact] = &[
        // key, ts, session, model, in, out, cache write 5m, cache read, cost, sidechain, replay_of
        (
            "m:msg_1:req_1",
            1_767_261_600_000,
            "s-1",
            "claude-sonnet-4-5-20250929",
            10,
            500,
            2000,
            15000,
            0.0165,
            0,
            None,
        ),
        (
            "m:msg_2:req_2",
            1_767_262_200_000,
            "s-1",
            "claude-opus-4-5-20251101",
            4,
            1200,
            0,
            30000,
            0.045,
            0,
            None,
        ),
        (
            "m:msg_2:req_3",
            1_767_262_200_500,
            "s-1",
            "claude-opus-4-5-20251101",
            4,
            1200,
            0,
            30000,
            0.045,
            1,
            Some("m:msg_2:req_2"),
        ),
        (
            "m:msg_3:req_4",
            1_767_380_400_000,
            "s-2",
            "claude-haiku-4-5-20251001",
            20,
            80,
            900,
            0,
            0.0015,
            0,
            None,
        ),
        (
            "u:0b6f0b1c",
            1_767_384_000_000,
            "s-2",
            "mystery-model",
            7,
            9,
            0,
            0,
            0.0,
            0,
            None,
        ),
    ];
    for (key, ts, session, model, input, output, cw, cr, cost, side, replay) in rows {
        let (msg, req) = key
            .strip_prefix("m:")
            .and_then(|k| k.split_once(':'))
            .map_or((None, None), |(m, r)| (Some(m), Some(r)));
        let priced = i64::from(*model != "mystery-model");
        conn.execute(
            "INSERT INTO responses (dedup_key, message_id, request_id, ts, session_id, project_path, model, \
             input_tokens, output_tokens, cache_write_5m_tokens, cache_read_tokens, is_sidechain, replay_of, \
             cost_usd, priced, price_model, price_version, cache_savings_usd, cc_version, source_path, ingested_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, '/home/u/proj', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
             CASE WHEN ?14 = 1 THEN ?6 END, CASE WHEN ?14 = 1 THEN '2026-01-01' END, 0.01, '2.0.14', \
             '/home/u/.claude/projects/-home-u-proj/' || ?5 || '.jsonl', 1767400000000)",
            rusqlite::params![key, msg, req, ts, session, model, input, output, cw, cr, side, replay, cost, priced],
        )
        .unwrap();
    }
}

fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// The columns of `responses` that version 14 keeps (a view since: `ingested_at`,
/// which nothing read, is gone; costs are the nano-dollars they round to, which these
/// hand-written ones are exactly).
const FACT_COLUMNS: &str = "id, dedup_key, message_id, request_id, ts, session_id, project_path, \
    model, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, \
    cache_read_tokens, web_search_requests, web_fetch_requests, speed, service_tier, \
    inference_geo, is_sidechain, agent_id, origin, replay_of, cost_usd, priced, price_model, \
    price_version, long_context, price_multiplier, cache_savings_usd, recorded_cost_usd, \
    cc_version, source_path";

/// The last version whose `responses` is a table (a view since 14).
const LAST_WIDE_FACTS: u32 = 13;

/// Every version a store can be at, oldest first: 0 (a pre-ctm database) and each
/// migration's.
fn versions() -> Vec<u32> {
    std::iter::once(0)
        .chain(ctm_store::migrate::known().into_iter().map(|(v, _)| v))
        .collect()
}

#[test]
fn every_earlier_version_migrates_to_the_latest_keeping_every_row() {
    let versions = versions();
    for &version in versions.iter().filter(|v| **v < SCHEMA_VERSION) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctm.db");
        // Facts are written by hand in the wide table of versions before 14; a later
        // store gets them by migrating such a store to its version.
        store_at(&path, version.min(LAST_WIDE_FACTS));
        let with_facts = version > 0;
        let (facts_before, legacy_before) = {
            let conn = Connection::open(&path).unwrap();
            fill(&conn, with_facts);
            if version > LAST_WIDE_FACTS {
                let store = Store::open(
                    &path,
                    &OpenOptions {
                        target_version: version,
                        ..OpenOptions::default()
                    },
                )
                .unwrap();
                assert_eq!(store.schema_version().unwrap(), version);
            }
            let facts = if with_facts {
                rows(
                    &conn,
                    &format!("SELECT {FACT_COLUMNS} FROM responses ORDER BY id"),
                )
            } else {
                Vec::new()
            };
            let legacy = rows(
                &conn,
                &format!("SELECT {LEGACY_COLUMNS} FROM claude_sessions WHERE session_id = '{LEGACY_SESSION}'"),
            );
            (facts, legacy)
        };

        let store = Store::open(&path, &OpenOptions::default()).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            SCHEMA_VERSION,
            "from {version}"
        );
        assert_eq!(
            store.migrated,
            versions
                .iter()
                .copied()
                .filter(|v| *v > version)
                .collect::<Vec<_>>()
        );
        let c = store.conn();
        assert_eq!(
            rows(
                c,
                &format!("SELECT {FACT_COLUMNS} FROM responses ORDER BY id")
            ),
            facts_before,
            "facts changed migrating from {version}"
        );
        assert_eq!(
            rows(
                c,
                &format!("SELECT {LEGACY_COLUMNS} FROM claude_sessions WHERE session_id = '{LEGACY_SESSION}'"),
            ),
            legacy_before,
            "the hand-filled row changed migrating from {version}"
        );
        // Columns the row did not have take seed 000's defaults.
        let added: (i64, i64, String, Option<String>, i64, f64) = c
            .query_row(
                "SELECT cache_creation_tokens, cache_read_tokens, model_name, project_name, message_count, \
                 efficiency_score FROM claude_sessions WHERE session_id = ?1",
                [LEGACY_SESSION],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .unwrap();
        assert_eq!(
            added,
            (0, 0, "claude-sonnet-4-20250514".into(), None, 0, 0.0),
            "from {version}"
        );
        if with_facts {
            // Populated from the facts ("populate historical data"): 2 sessions, 2 UTC days.
            assert_eq!(count(c, "claude_sessions"), 3, "from {version}");
            for table in ["daily_aggregates", "daily_usage_summary", "cache_analytics"] {
                assert_eq!(count(c, table), 2, "{table} from {version}");
            }
            assert!(count(c, "usage_blocks") >= 2, "from {version}");
            let billed: i64 = c
                .query_row(
                    "SELECT sum(output_tokens) FROM claude_sessions WHERE session_id IN ('s-1', 's-2')",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(billed, 500 + 1200 + 80 + 9, "the replay is not billed");
        }
        assert_eq!(
            derive::check(c).unwrap(),
            Vec::<String>::new(),
            "from {version}"
        );
        // Version 5's table exists and starts empty (official figures are only seen live).
        assert_eq!(count(c, "rate_limit_samples"), 0, "from {version}");
        // One memo of folders (version 17): the stat list, emptied; version 7's gone.
        let folder_memo: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'walk_folders'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(folder_memo, 0, "from {version}");
        assert_eq!(count(c, "walk_stat_list"), 0, "from {version}");
    }
}

/// A store of version 16 with both memos filled: 17 drops the folder listings and
/// empties the stat list (its encoding changed), and the next ingest records it again.
#[test]
fn version_17_keeps_one_memo_of_folders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctm.db");
    store_at(&path, 16);
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO walk_folders (path, dev, ino, mtime_ns, listed_at_ns, entries) \
                 VALUES ('/r/projects', 1, 2, 3, 4, x'66612E6A736F6E6C00');
             INSERT INTO walk_stat_list (part, bytes) VALUES (0, x'00'), (1, x'01');",
        )
        .unwrap();
    }
    let store = Store::open(&path, &OpenOptions::default()).unwrap();
    let c = store.conn();
    assert_eq!(count(c, "walk_stat_list"), 0);
    let tables: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'walk_folders'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
}

/// A store of version 17 whose facts carry revisions 0 and above: 18 keeps them and
/// indexes only the ones above 0, with the SQL a new store gets.
#[test]
fn version_18_indexes_only_revisions_above_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctm.db");
    store_at(&path, LAST_WIDE_FACTS);
    fill(&Connection::open(&path).unwrap(), true);
    store_at(&path, 17);
    let revisions = |c: &Connection| {
        rows(
            c,
            "SELECT id, revision FROM facts INDEXED BY idx_facts_revision WHERE revision > 0 \
             ORDER BY revision, id",
        )
    };
    {
        let c = Connection::open(&path).unwrap();
        c.execute("UPDATE facts SET revision = 7 WHERE id % 2 = 0", [])
            .unwrap();
        assert!(!revisions(&c).is_empty());
    }
    let before = rows(
        &Connection::open(&path).unwrap(),
        "SELECT id, revision FROM facts ORDER BY id",
    );
    let index_sql = |c: &Connection| -> String {
        c.query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'idx_facts_revision'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let store = Store::open(&path, &OpenOptions::default()).unwrap();
    let c = store.conn();
    assert_eq!(
        rows(c, "SELECT id, revision FROM facts ORDER BY id"),
        before
    );
    let above_0: Vec<_> = before
        .into_iter()
        .filter(|r| r[1] != Value::Integer(0))
        .collect();
    assert_eq!(revisions(c), above_0);
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(&fresh_dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
    assert_eq!(index_sql(c), index_sql(fresh.conn()));
    assert!(index_sql(c).ends_with("WHERE revision > 0"));
}

fn schema_and_version(path: &Path) -> (Vec<Vec<Value>>, String) {
    let conn = Connection::open(path).unwrap();
    let schema = rows(
        &conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
    );
    let version = conn
        .query_row(
            "SELECT value FROM system_config WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (schema, version)
}

#[test]
fn a_migration_that_fails_midway_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctm.db");
    store_at(&path, 3);
    {
        let conn = Connection::open(&path).unwrap();
        fill(&conn, true);
        // Version 4 creates a table of this name and indexes it: the index fails.
        conn.execute_batch("CREATE VIEW daily_aggregates AS SELECT 1 AS date")
            .unwrap();
    }
    let bytes_before = std::fs::read(&path).unwrap();
    let before = schema_and_version(&path);

    let err = Store::open(&path, &OpenOptions::default()).err().unwrap();
    assert!(
        matches!(err, StoreError::Migration { version: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert!(!err.to_string().contains('\n'), "one line: {err}");

    assert_eq!(schema_and_version(&path), before);
    assert_eq!(before.1, "3");
    assert!(
        std::fs::read(&path).unwrap() == bytes_before,
        "the store file changed"
    );
}

/// What a store written before version 13 could hold after a transcript line dated year
/// -1: the fact, and derived rows whose times no reader could parse (so every report
/// failed for good); and text cursors, one of them a lossy name. Version 13 drops the
/// facts outside years 0000-9999 (settling their replay groups again), rebuilds the
/// derived rows, keys the cursors by bytes and drops the lossy one.
#[test]
fn version_13_drops_facts_outside_years_0000_to_9999_and_keys_cursors_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctm.db");
    store_at(&path, 11);
    let year_minus_1 = -62_185_708_800_000_i64;
    let jan_2026 = 1_767_225_600_000_i64;
    {
        let conn = Connection::open(&path).unwrap();
        let fact = |key: &str,
                    msg: &str,
                    req: &str,
                    ts: i64,
                    session: &str,
                    side: i64,
                    replay: Option<&str>| {
            conn.execute(
                "INSERT INTO responses (dedup_key, message_id, request_id, ts, session_id, model, input_tokens, \
                 output_tokens, is_sidechain, replay_of, cost_usd, priced, ingested_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'claude-opus-4-6', 1, 2, ?6, ?7, 0.5, 1, 0)",
                rusqlite::params![key, msg, req, ts, session, side, replay],
            )
            .unwrap();
        };
        fact("m:a:r1", "a", "r1", jan_2026, "s-1", 0, None);
        fact("m:b:r2", "b", "r2", year_minus_1, "s-1", 0, None);
        fact("m:c:r3", "c", "r3", year_minus_1, "s-3", 0, None);
        // A replay group whose billed row is the one dated year -1.
        fact("m:d:r4", "d", "r4", year_minus_1, "s-1", 0, None);
        fact(
            "m:d:r5",
            "d",
            "r5",
            jan_2026 + 1000,
            "s-1",
            1,
            Some("m:d:r4"),
        );
        conn.execute_batch(
            "INSERT INTO limit_notices (ts, resets_at) VALUES (-62185708800000, 1), (1767225600000, 2);
             INSERT INTO claude_sessions (session_id, session_start, session_end) VALUES
                 ('s-1', '-001-06-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z'),
                 ('s-3', '-001-06-01T00:00:00.000Z', '-001-06-01T00:00:00.000Z');
             INSERT INTO usage_blocks (block_id, start_time, end_time) VALUES
                 ('-001-06-01T00:00:00.000Z', '-001-06-01T00:00:00.000Z', '-001-06-01T05:00:00.000Z');
             INSERT INTO walk_stat_list (part, bytes) VALUES (0, x'00');",
        )
        .unwrap();
        for p in ["/r/projects/a.jsonl", "/r/projects/\u{fffd}.jsonl"] {
            conn.execute(
                "INSERT INTO file_cursors (path, dev, ino, size, mtime_ns, offset, head_len, head_hash, lines, \
                 first_seen, last_read) VALUES (?1, 1, 2, 3, 4, 3, 3, 5, 1, 0, 0)",
                [p],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path, &OpenOptions::default()).unwrap();
    let c = store.conn();
    let keys: Vec<(String, Option<String>)> = c
        .prepare("SELECT dedup_key, replay_of FROM responses ORDER BY dedup_key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        keys,
        vec![("m:a:r1".into(), None), ("m:d:r5".into(), None)],
        "the year -1 facts are gone; the replay left alone is billed"
    );
    assert_eq!(count(c, "limit_notices"), 1);
    let sessions: Vec<(String, String)> = c
        .prepare("SELECT session_id, session_start FROM claude_sessions ORDER BY session_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        sessions,
        vec![("s-1".into(), "2026-01-01T00:00:00.000Z".into())]
    );
    let starts: Vec<String> = c
        .prepare("SELECT start_time FROM usage_blocks")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(starts, vec!["2026-01-01T00:00:00.000Z".to_owned()]);
    assert_eq!(derive::check(c).unwrap(), Vec::<String>::new());
    let cursors: Vec<Vec<u8>> = ctm_store::cursors::load_all(c)
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(cursors, vec![b"/r/projects/a.jsonl".to_vec()]);
    let blob: String = c
        .query_row("SELECT typeof(path) FROM file_cursors", [], |r| r.get(0))
        .unwrap();
    assert_eq!(blob, "blob");
    assert_eq!(count(c, "walk_stat_list"), 0);
}
