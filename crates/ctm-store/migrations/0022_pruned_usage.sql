-- Version 22: the usage a prune of facts (`ctm db prune --facts-older-than`) took out of
-- the fact table, summed per model and project, so that all-time figures (the counters of
-- `/metrics`) keep counting it. Not derived: no fact backs it any more, so rebuilds and
-- checks leave it alone. A prune made before this version left nothing here.

CREATE TABLE IF NOT EXISTS pruned_usage (
    model TEXT NOT NULL,                 -- as reports name it: 'unknown' for a response without one
    project TEXT NOT NULL,               -- the project path (cwd): 'unknown' without one
    responses INTEGER NOT NULL,          -- billed responses
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    web_search_requests INTEGER NOT NULL,
    cost_nanos INTEGER NOT NULL,         -- USD x 10^9, each response's cost rounded to a nano-dollar
    savings_nanos INTEGER NOT NULL,      -- what caching saved, the same way
    unpriced_responses INTEGER NOT NULL,
    PRIMARY KEY (model, project)
) WITHOUT ROWID;
