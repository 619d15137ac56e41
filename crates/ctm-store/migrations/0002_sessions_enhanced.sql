-- Version 2: seed 000's "Enhanced Sessions Table". The columns themselves are added by
-- the migration code (SQLite has no ADD COLUMN IF NOT EXISTS; a store that already has
-- one keeps it); this file holds the indexes.
CREATE INDEX IF NOT EXISTS idx_claude_sessions_date ON claude_sessions(DATE(session_start));
CREATE INDEX IF NOT EXISTS idx_claude_sessions_model ON claude_sessions(model_name);
CREATE INDEX IF NOT EXISTS idx_claude_sessions_project ON claude_sessions(project_name);
