-- Version 15: what `ctm team push` needs to send each response to a team database once,
-- and again only when it changes. Every fact carries the revision of the write that last
-- changed it (`facts.revision`, added by the migration: an insert, a merge with a later
-- sighting, a new replay decision, a new price), one number per write transaction,
-- larger than every revision before it (and than every mark below, so a prune that
-- deletes the newest facts cannot make a number come back). A push sends the facts after
-- its destination's mark in (revision, id) order and moves the mark only once the team
-- database has committed them.

CREATE INDEX IF NOT EXISTS idx_facts_revision ON facts(revision, id);

CREATE TABLE IF NOT EXISTS team_push_marks (
    destination TEXT PRIMARY KEY,      -- the team database and who pushes there: host:port/db as user@machine
    database_id TEXT NOT NULL,         -- that database's own id: another database (recreated) gets a full push
    machine_id INTEGER NOT NULL,       -- this machine's id there: forgotten and added again gets a full push
    revision INTEGER NOT NULL,         -- every fact up to (revision, last_id) is in the team database
    last_id INTEGER NOT NULL,
    pushed_at INTEGER NOT NULL,        -- UTC epoch ms of the last commit there
    responses INTEGER NOT NULL DEFAULT 0 -- responses sent there in all
);
