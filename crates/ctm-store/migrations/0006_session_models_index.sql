-- Version 6: an index that covers each session's models and their unpriced responses,
-- so `ctm session` and `ctm top` read per-session sums from claude_sessions and only
-- this index from the facts, instead of every billed response.

CREATE INDEX IF NOT EXISTS idx_responses_session_model
    ON responses(session_id, model, priced) WHERE replay_of IS NULL;
