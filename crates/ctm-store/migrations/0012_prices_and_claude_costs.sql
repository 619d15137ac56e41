-- Version 12: the price table `ctm pricing update` chose, kept with the store so it
-- survives a restart (no row: the table embedded in the binary is in force), and Claude
-- Code's own cost of each session, the latest figure per session and source, for
-- `ctm pricing check`. Neither is derived from the facts: rebuilds and checks leave them
-- alone.

CREATE TABLE IF NOT EXISTS price_table (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    origin TEXT NOT NULL,                -- 'ctm' (a table in ctm's format) or 'litellm' (merged under the embedded table)
    version TEXT NOT NULL,               -- the table's version label (the price_version its costs carry, before overrides)
    source TEXT NOT NULL,                -- the file or URL it was read from
    updated_at INTEGER NOT NULL,         -- UTC epoch ms
    body TEXT NOT NULL                   -- the whole table in ctm's format, validated before it was stored
);

CREATE TABLE IF NOT EXISTS claude_code_costs (
    session_id TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('cost-state', 'statusline')),
    total_cost_usd REAL NOT NULL,
    observed_at INTEGER,                 -- UTC epoch ms: the figure covers the responses up to it; NULL = the whole session
    models TEXT,                         -- cost-state: JSON array of per-model numbers (tokens, web searches, costUSD)
    has_unknown_model_cost INTEGER NOT NULL DEFAULT 0,
    recorded_at INTEGER NOT NULL,        -- UTC epoch ms this row was written
    PRIMARY KEY (session_id, source)
) WITHOUT ROWID;
