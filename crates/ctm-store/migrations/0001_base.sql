-- Version 1: the fact table, file cursors, configuration, and claude_sessions in the
-- shape seed 000 found it ("Current Schema (DO NOT BREAK)") before its enhancements.

CREATE TABLE IF NOT EXISTS system_config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    value_type TEXT NOT NULL DEFAULT 'string',
    description TEXT,
    updated_at DATETIME NOT NULL DEFAULT (datetime('now'))
);

INSERT OR IGNORE INTO system_config (key, value, value_type, description) VALUES
    ('schema_version', '0', 'number', 'Schema version of this store (numbered migrations)'),
    ('last_sync_time', '', 'string', 'UTC time of the last ingest that changed the store'),
    ('data_retention_days', '90', 'number', 'Days of stats-cache snapshots kept by ctm db prune'),
    ('snapshot_interval_minutes', '30', 'number', 'Minutes between stats-cache snapshots in ctm live and ctm serve');

-- One row per API response, counted once (see ctm-model). Never deleted except on the
-- user's explicit request. Holds usage metadata only: no prompt or response text.
CREATE TABLE IF NOT EXISTS responses (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    message_id TEXT,
    request_id TEXT,
    ts INTEGER NOT NULL,                         -- UTC epoch milliseconds, earliest sighting
    session_id TEXT,
    project_path TEXT,                           -- cwd of the response
    model TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    web_search_requests INTEGER NOT NULL DEFAULT 0,
    web_fetch_requests INTEGER NOT NULL DEFAULT 0,
    speed TEXT,
    service_tier TEXT,
    inference_geo TEXT,
    is_sidechain INTEGER NOT NULL DEFAULT 0,
    agent_id TEXT,
    origin TEXT NOT NULL DEFAULT 'assistant',    -- 'assistant' or 'agent_echo'
    replay_of TEXT,                              -- dedup_key this sidechain line replays; NULL = billed
    cost_usd REAL NOT NULL DEFAULT 0.0,
    priced INTEGER NOT NULL DEFAULT 0,           -- 0: model not in the price table, cost_usd is 0
    price_model TEXT,                            -- price table row that priced it
    price_version TEXT,                          -- price table version (see ctm pricing)
    long_context INTEGER NOT NULL DEFAULT 0,
    price_multiplier REAL NOT NULL DEFAULT 1.0,  -- fast mode x data residency
    cache_savings_usd REAL NOT NULL DEFAULT 0.0, -- cost had every cached token been plain input, minus cost_usd
    recorded_cost_usd REAL,                      -- costUSD written by Claude Code < 1.0.9
    cc_version TEXT,
    source_path TEXT,
    ingested_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_responses_ts ON responses(ts);
CREATE INDEX IF NOT EXISTS idx_responses_session ON responses(session_id, ts);
CREATE INDEX IF NOT EXISTS idx_responses_unpriced ON responses(model) WHERE priced = 0;

-- What every report reads: the responses that are billed.
CREATE VIEW IF NOT EXISTS billed_responses AS
    SELECT * FROM responses WHERE replay_of IS NULL;

-- Where each transcript was read up to.
CREATE TABLE IF NOT EXISTS file_cursors (
    path TEXT PRIMARY KEY,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    offset INTEGER NOT NULL,                     -- just after the last complete line read
    head_len INTEGER NOT NULL,
    head_hash INTEGER NOT NULL,                  -- xxh3 of the first head_len bytes
    lines INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    last_read INTEGER NOT NULL,
    missing_since INTEGER                        -- set when the file vanished (its facts stay)
);

-- "usage limit reached|<epoch>" notices: when Claude Code said the limit resets.
CREATE TABLE IF NOT EXISTS limit_notices (
    ts INTEGER NOT NULL,
    resets_at INTEGER NOT NULL,                  -- epoch seconds
    session_id TEXT,
    PRIMARY KEY (ts, resets_at)
);

CREATE TABLE IF NOT EXISTS claude_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL UNIQUE,
    session_start TIMESTAMP NOT NULL,
    session_end TIMESTAMP,
    input_tokens INTEGER DEFAULT 0,
    output_tokens INTEGER DEFAULT 0,
    total_tokens INTEGER DEFAULT 0,
    total_cost REAL DEFAULT 0.0,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
