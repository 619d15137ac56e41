//! Every table, column and index that the two design documents (../shared/seeds) name
//! exists in a new store under the seed's own name. The lists are copied from the seeds'
//! SQL by hand, so a rename or a dropped column fails here.

use ctm_store::{OpenOptions, Store};

const SEED_000_TABLES: &[(&str, &[&str])] = &[
    (
        "claude_sessions",
        &[
            "cache_creation_tokens",
            "cache_read_tokens",
            "model_name",
            "project_name",
            "message_count",
            "efficiency_score",
        ],
    ),
    (
        "cache_analytics",
        &[
            "id",
            "date",
            "total_cache_tokens",
            "cache_hit_tokens",
            "cache_savings_usd",
            "hit_rate",
            "created_at",
        ],
    ),
    (
        "daily_usage_summary",
        &[
            "id",
            "date",
            "input_tokens",
            "output_tokens",
            "cache_creation_tokens",
            "cache_read_tokens",
            "total_tokens",
            "cost_usd",
            "session_count",
            "models_used",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "usage_blocks",
        &[
            "id",
            "block_id",
            "start_time",
            "end_time",
            "total_tokens",
            "session_count",
            "status",
            "created_at",
        ],
    ),
];

const SEED_000_INDEXES: &[&str] = &[
    "idx_claude_sessions_date",
    "idx_claude_sessions_model",
    "idx_claude_sessions_project",
    "idx_daily_usage_date",
    "idx_usage_blocks_start",
];

const SEED_004_TABLES: &[(&str, &[&str])] = &[
    (
        "stats_snapshots",
        &[
            "id",
            "captured_at",
            "total_input_tokens",
            "total_output_tokens",
            "total_cache_read_tokens",
            "total_cache_write_tokens",
            "total_cost_usd",
            "cache_hit_rate",
            "raw_json",
            "source_mtime",
            "created_at",
        ],
    ),
    (
        "model_usage_logs",
        &[
            "id",
            "snapshot_id",
            "model_name",
            "model_display_name",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "cost_usd",
            "cache_hit_rate",
            "recorded_at",
        ],
    ),
    (
        "daily_aggregates",
        &[
            "id",
            "date",
            "total_input_tokens",
            "total_output_tokens",
            "total_cache_read_tokens",
            "total_cache_write_tokens",
            "total_cost_usd",
            "avg_cache_hit_rate",
            "session_count",
            "model_breakdown",
            "hourly_distribution",
            "updated_at",
        ],
    ),
    (
        "export_history",
        &[
            "id",
            "exported_at",
            "format",
            "date_range_start",
            "date_range_end",
            "file_path",
            "record_count",
            "file_size",
            "status",
            "error_message",
        ],
    ),
    (
        "system_config",
        &["key", "value", "value_type", "description", "updated_at"],
    ),
];

const SEED_004_INDEXES: &[&str] = &[
    "idx_snapshots_captured_at",
    "idx_snapshots_date",
    "idx_model_usage_snapshot",
    "idx_model_usage_model",
    "idx_model_usage_time_model",
    "idx_daily_date_range",
    "idx_export_time",
];

const SEED_004_CONFIG_KEYS: &[&str] = &[
    "schema_version",
    "last_sync_time",
    "data_retention_days",
    "snapshot_interval_minutes",
];

#[test]
fn every_seed_table_column_index_and_key_exists() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
    let c = store.conn();
    for (table, columns) in SEED_000_TABLES.iter().chain(SEED_004_TABLES) {
        let have: Vec<String> = c
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!have.is_empty(), "table {table} is missing");
        for col in *columns {
            assert!(
                have.iter().any(|h| h == col),
                "{table}.{col} is missing (have {have:?})"
            );
        }
    }
    for index in SEED_000_INDEXES.iter().chain(SEED_004_INDEXES) {
        let exists = c
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1")
            .unwrap()
            .exists([index])
            .unwrap();
        assert!(exists, "index {index} is missing");
    }
    for key in SEED_004_CONFIG_KEYS {
        assert!(
            ctm_store::config::get(c, key).unwrap().is_some(),
            "system_config key {key} is missing"
        );
    }
    // model_usage_logs cascades from stats_snapshots, as seed 004 declares.
    let fk: String = c
        .query_row(
            "SELECT \"table\" FROM pragma_foreign_key_list('model_usage_logs')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(fk, "stats_snapshots");
}
