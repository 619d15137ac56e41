-- Version 5: Claude Code's official usage limits, as its statusline hook reports them
-- (`rate_limits.five_hour` / `seven_day`). No transcript holds them, so they are kept
-- as seen: one row per distinct value, its first and last sighting, never prompt text.

CREATE TABLE IF NOT EXISTS rate_limit_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'five_hour' or 'seven_day'
    limit_window TEXT NOT NULL CHECK(limit_window IN ('five_hour', 'seven_day')),
    used_percentage REAL NOT NULL,
    -- Unix epoch seconds, as Claude Code gives it; NULL when it was not given.
    resets_at INTEGER,
    -- UTC epoch ms of the first and last time this value was seen in a row.
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    -- How many hook calls reported this value in a row.
    sightings INTEGER NOT NULL DEFAULT 1,
    session_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_rate_limit_samples_window_seen
    ON rate_limit_samples(limit_window, last_seen_ms);
