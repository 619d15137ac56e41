-- Version 4: seed 004's tables (its SQL is the spec). daily_aggregates is derived from
-- the facts; stats_snapshots and model_usage_logs hold stats-cache.json snapshots.

CREATE TABLE IF NOT EXISTS stats_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    captured_at DATETIME NOT NULL DEFAULT (datetime('now')),
    total_input_tokens INTEGER NOT NULL DEFAULT 0,
    total_output_tokens INTEGER NOT NULL DEFAULT 0,
    total_cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    total_cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    total_cost_usd REAL NOT NULL DEFAULT 0.0,
    cache_hit_rate REAL NOT NULL DEFAULT 0.0,
    raw_json TEXT,
    source_mtime DATETIME,
    created_at DATETIME NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_snapshots_captured_at ON stats_snapshots(captured_at);
CREATE INDEX IF NOT EXISTS idx_snapshots_date ON stats_snapshots(date(captured_at));

CREATE TABLE IF NOT EXISTS model_usage_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    snapshot_id INTEGER NOT NULL,
    model_name TEXT NOT NULL,
    model_display_name TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0.0,
    cache_hit_rate REAL NOT NULL DEFAULT 0.0,
    recorded_at DATETIME NOT NULL DEFAULT (datetime('now')),
    FOREIGN KEY (snapshot_id) REFERENCES stats_snapshots(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_model_usage_snapshot ON model_usage_logs(snapshot_id);
CREATE INDEX IF NOT EXISTS idx_model_usage_model ON model_usage_logs(model_name);
CREATE INDEX IF NOT EXISTS idx_model_usage_time_model ON model_usage_logs(recorded_at, model_name);

CREATE TABLE IF NOT EXISTS daily_aggregates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    date TEXT NOT NULL UNIQUE,
    total_input_tokens INTEGER NOT NULL DEFAULT 0,
    total_output_tokens INTEGER NOT NULL DEFAULT 0,
    total_cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    total_cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    total_cost_usd REAL NOT NULL DEFAULT 0.0,
    avg_cache_hit_rate REAL NOT NULL DEFAULT 0.0,
    session_count INTEGER NOT NULL DEFAULT 0,
    model_breakdown TEXT,
    hourly_distribution TEXT,
    updated_at DATETIME NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_daily_date_range ON daily_aggregates(date);

CREATE TABLE IF NOT EXISTS export_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    exported_at DATETIME NOT NULL DEFAULT (datetime('now')),
    format TEXT NOT NULL CHECK(format IN ('csv', 'json')),
    date_range_start TEXT,
    date_range_end TEXT,
    file_path TEXT,
    record_count INTEGER NOT NULL DEFAULT 0,
    file_size INTEGER,
    status TEXT NOT NULL DEFAULT 'completed' CHECK(status IN ('pending', 'completed', 'failed')),
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS idx_export_time ON export_history(exported_at);

-- The zone the derived daily tables are materialised in (reports in another zone are
-- computed from the facts).
INSERT OR IGNORE INTO system_config (key, value, value_type, description) VALUES
    ('timezone', 'UTC', 'string', 'IANA time zone of the derived daily tables');
