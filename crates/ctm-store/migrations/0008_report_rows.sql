-- Version 8: derived rows for the reports that otherwise pass over every billed
-- response. Both tables are kept in the store's zone (system_config.timezone), like the
-- daily tables; usage_blocks gets its split figures as added columns (see migrate.rs).

-- `ctm hourly`: sums per local day and hour of day.
CREATE TABLE IF NOT EXISTS hourly_usage (
    date TEXT NOT NULL,                          -- YYYY-MM-DD, local
    hour INTEGER NOT NULL,                       -- 0 .. 23, local
    responses INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_creation_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,                      -- the facts' sum in time order
    unpriced_responses INTEGER NOT NULL,
    PRIMARY KEY (date, hour)
);

-- `ctm project`: sums per local day, project path and session (NULL: responses
-- without a session id), so sessions and models can be counted over any days.
CREATE TABLE IF NOT EXISTS project_usage (
    date TEXT NOT NULL,
    project_path TEXT NOT NULL,                  -- the report's label: 'unknown' without a cwd
    session_id TEXT,
    first_ts INTEGER NOT NULL,                   -- UTC epoch ms
    last_ts INTEGER NOT NULL,
    responses INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_creation_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    unpriced_responses INTEGER NOT NULL,
    models TEXT NOT NULL                         -- JSON {"model": responses without a price}
);
CREATE INDEX IF NOT EXISTS idx_project_usage_date ON project_usage(date);
