//! Numbered schema migrations, embedded in the binary.
//!
//! Seed 000's strategy: add columns (never drop or rewrite), create tables, populate
//! history from the facts, create indexes, validate. Every migration of one run shares
//! one transaction, so a failure leaves the store exactly as it was.

use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::{derive, StoreError};

/// A migration step in code, in the migration's transaction.
type MigrationCode = fn(&Transaction) -> Result<(), StoreError>;

struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
    /// Columns to add to existing tables when missing: (table, column, declaration).
    add_columns: &'static [(&'static str, &'static str, &'static str)],
    /// What SQL alone cannot do, run after `sql`.
    code: Option<MigrationCode>,
}

/// Columns the `claude_sessions` upsert needs, whatever shape an existing table had.
const CLAUDE_SESSIONS_V1: &[(&str, &str, &str)] = &[
    ("claude_sessions", "session_id", "TEXT"),
    ("claude_sessions", "session_start", "TIMESTAMP"),
    ("claude_sessions", "session_end", "TIMESTAMP"),
    ("claude_sessions", "input_tokens", "INTEGER DEFAULT 0"),
    ("claude_sessions", "output_tokens", "INTEGER DEFAULT 0"),
    ("claude_sessions", "total_tokens", "INTEGER DEFAULT 0"),
    ("claude_sessions", "total_cost", "REAL DEFAULT 0.0"),
    ("claude_sessions", "created_at", "TIMESTAMP"),
    ("claude_sessions", "updated_at", "TIMESTAMP"),
];

/// Seed 000, "Enhanced Sessions Table".
const CLAUDE_SESSIONS_ENHANCED: &[(&str, &str, &str)] = &[
    (
        "claude_sessions",
        "cache_creation_tokens",
        "INTEGER DEFAULT 0",
    ),
    ("claude_sessions", "cache_read_tokens", "INTEGER DEFAULT 0"),
    (
        "claude_sessions",
        "model_name",
        "TEXT DEFAULT 'claude-sonnet-4-20250514'",
    ),
    ("claude_sessions", "project_name", "TEXT"),
    ("claude_sessions", "message_count", "INTEGER DEFAULT 0"),
    ("claude_sessions", "efficiency_score", "REAL DEFAULT 0.0"),
];

/// What `ctm blocks` shows of a block beyond seed 000's columns (NULL on rows no ctm
/// with this migration wrote, e.g. blocks kept from before a prune).
const USAGE_BLOCKS_FIGURES: &[(&str, &str, &str)] = &[
    ("usage_blocks", "first_ts", "INTEGER"),
    ("usage_blocks", "last_ts", "INTEGER"),
    ("usage_blocks", "responses", "INTEGER"),
    ("usage_blocks", "input_tokens", "INTEGER"),
    ("usage_blocks", "output_tokens", "INTEGER"),
    ("usage_blocks", "cache_creation_tokens", "INTEGER"),
    ("usage_blocks", "cache_read_tokens", "INTEGER"),
    ("usage_blocks", "cost_usd", "REAL"),
    ("usage_blocks", "unpriced_responses", "INTEGER"),
    ("usage_blocks", "models", "TEXT"),
];

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "base: facts, cursors, system_config, claude_sessions",
        sql: include_str!("../migrations/0001_base.sql"),
        add_columns: CLAUDE_SESSIONS_V1,
        code: None,
    },
    Migration {
        version: 2,
        name: "claude_sessions enhanced columns and indexes (seed 000)",
        sql: include_str!("../migrations/0002_sessions_enhanced.sql"),
        add_columns: CLAUDE_SESSIONS_ENHANCED,
        code: None,
    },
    Migration {
        version: 3,
        name: "analytics tables (seed 000)",
        sql: include_str!("../migrations/0003_analytics.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 4,
        name: "snapshots, daily aggregates, export history (seed 004)",
        sql: include_str!("../migrations/0004_seed004.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 5,
        name: "official rate limits seen by the statusline",
        sql: include_str!("../migrations/0005_rate_limits.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 6,
        name: "index of each session's models over the billed responses",
        sql: include_str!("../migrations/0006_session_models_index.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 7,
        name: "folder listings remembered by the walk",
        sql: include_str!("../migrations/0007_walk_folders.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 8,
        name: "derived rows for the hourly, project and blocks reports",
        sql: include_str!("../migrations/0008_report_rows.sql"),
        add_columns: USAGE_BLOCKS_FIGURES,
        code: None,
    },
    Migration {
        version: 9,
        name: "block sums in row order (derived tables rebuilt)",
        sql: include_str!("../migrations/0009_block_sums_in_row_order.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 10,
        name: "stats of the last complete walk, dropped with any cursor change",
        sql: include_str!("../migrations/0010_walk_stat_list.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 11,
        name: "each session's models as derived rows (the index of migration 6 dropped)",
        sql: include_str!("../migrations/0011_session_models.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 12,
        name: "the price table chosen by ctm pricing update, and Claude Code's own session costs",
        sql: include_str!("../migrations/0012_prices_and_claude_costs.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 13,
        name: "cursors keyed by the path's bytes, with a tail fingerprint; facts outside years 0000-9999 dropped",
        sql: include_str!("../migrations/0013_cursor_paths_and_tails.sql"),
        add_columns: &[],
        code: Some(crate::migrate_v13::drop_facts_outside_years),
    },
    Migration {
        version: 14,
        name: "narrow facts with dimension tables, money in nano-dollars, the quarter-hour rollup",
        sql: include_str!("../migrations/0014_narrow_facts_and_rollup.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 15,
        name: "fact revisions and the marks of ctm team push",
        sql: include_str!("../migrations/0015_team_push.sql"),
        add_columns: &[("facts", "revision", "INTEGER NOT NULL DEFAULT 0")],
        code: None,
    },
    Migration {
        version: 16,
        name: "all-time usage per project and model, with what pruned facts took with them",
        sql: include_str!("../migrations/0016_usage_totals.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 17,
        name: "one memo of folders: the stat list keeps every listing, the folder listings of migration 7 dropped",
        sql: include_str!("../migrations/0017_one_walk_memo.sql"),
        add_columns: &[],
        code: None,
    },
    Migration {
        version: 18,
        name: "the revision index keeps only facts changed after a store's first ingest",
        sql: include_str!("../migrations/0018_revision_index_partial.sql"),
        add_columns: &[],
        code: None,
    },
];

/// The migration that adds `system_config.timezone`.
const ZONE_VERSION: u32 = 4;

/// The schema version this build writes.
pub const LATEST: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// (version, name) of every migration this build knows.
pub fn known() -> Vec<(u32, &'static str)> {
    MIGRATIONS.iter().map(|m| (m.version, m.name)).collect()
}

/// Whether a store can be at `version` (0, or a migration's version).
pub fn is_known(version: u32) -> bool {
    version == 0 || MIGRATIONS.iter().any(|m| m.version == version)
}

/// The store's schema version: 0 for an empty file or a pre-ctm `claude_sessions`
/// database (seed 000's "current schema"), `None` for a database that is neither.
pub fn current_version(conn: &Connection) -> Result<Option<u32>, StoreError> {
    let has = |table: &str| -> Result<bool, StoreError> {
        Ok(conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    };
    if has("system_config")? {
        let v: Option<String> = conn
            .query_row(
                "SELECT value FROM system_config WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        return Ok(v.and_then(|v| v.trim().parse().ok()));
    }
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        [],
        |r| r.get(0),
    )?;
    if tables == 0 || has("claude_sessions")? {
        Ok(Some(0))
    } else {
        Ok(None)
    }
}

/// Applies every migration above the current version up to `target`, in one
/// transaction. When the target is the latest version, the derived tables are rebuilt
/// from the facts in the same transaction ("populate historical data").
pub fn migrate(tx: &Transaction, from: u32, target: u32) -> Result<Vec<u32>, StoreError> {
    let mut applied = Vec::new();
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > from && m.version <= target)
    {
        // Columns first: the file's indexes may name them.
        for (table, column, decl) in m.add_columns {
            add_column_if_missing(tx, table, column, decl)?;
        }
        tx.execute_batch(m.sql).map_err(|e| StoreError::Migration {
            version: m.version,
            message: e.to_string(),
        })?;
        if let Some(code) = m.code {
            code(tx)?;
        }
        tx.execute(
            "UPDATE system_config SET value = ?1, updated_at = datetime('now') WHERE key = 'schema_version'",
            [m.version.to_string()],
        )?;
        applied.push(m.version);
    }
    if applied.contains(&ZONE_VERSION) {
        // The daily tables are kept in the user's zone; they are (re)built just below.
        if let Some(zone) = jiff::tz::TimeZone::system().iana_name() {
            crate::config::set_raw(tx, "timezone", zone)?;
        }
    }
    if !applied.is_empty() && target == LATEST {
        derive::rebuild_all(tx)?;
        validate(tx)?;
    }
    Ok(applied)
}

/// Adds a column to an existing table; a table the migration itself creates already has it.
fn add_column_if_missing(
    tx: &Transaction,
    table: &str,
    column: &str,
    decl: &str,
) -> Result<(), StoreError> {
    let table_exists = tx
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists([table])?;
    if !table_exists {
        return Ok(());
    }
    let exists: bool = tx
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
        ))?
        .exists([column])?;
    if !exists {
        tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}

/// Seed 000's last step, "validate data integrity".
fn validate(tx: &Transaction) -> Result<(), StoreError> {
    let result: String = tx.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if result != "ok" {
        return Err(StoreError::Migration {
            version: LATEST,
            message: format!("integrity check failed: {result}"),
        });
    }
    let fk_problems: i64 =
        tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?;
    if fk_problems > 0 {
        return Err(StoreError::Migration {
            version: LATEST,
            message: format!("{fk_problems} foreign key violations"),
        });
    }
    Ok(())
}
