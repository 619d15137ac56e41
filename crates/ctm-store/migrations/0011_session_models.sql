-- Version 11: each session's models as a derived table, kept with claude_sessions,
-- instead of migration 6's index over every billed response. `ctm session` and `ctm
-- top` read a few rows per session from here; an ingest writes a handful of rows per
-- session it touches instead of one index entry per response (a page each, spread over
-- the whole index), and a first ingest has one index less to build. Filled by the
-- rebuild that ends every migration.

CREATE TABLE IF NOT EXISTS session_models (
    session_id TEXT NOT NULL,
    model TEXT NOT NULL,                 -- as reports name it: 'unknown' for a response without one
    responses INTEGER NOT NULL,          -- billed responses of this model in the session
    unpriced_responses INTEGER NOT NULL, -- of which the price table had no price
    PRIMARY KEY (session_id, model)
) WITHOUT ROWID;

DROP INDEX IF EXISTS idx_responses_session_model;
