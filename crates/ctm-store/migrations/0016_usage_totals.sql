-- Version 16: all-time usage per project and model, so that `/metrics` reads a few rows
-- however many responses the store holds, and its counters never fall.
--
-- `pruned_usage` is what `ctm db prune --facts-older-than` took out of the fact table,
-- summed per project and model, added to by each prune in its transaction. No fact backs
-- it any more, so it is not derived: rebuilds and checks read it and never write it. A
-- prune made before this version left nothing here.
--
-- `usage_totals` is derived: the billed facts' sums per project and model plus
-- `pruned_usage`. A write adds what it changed; a rebuild groups the rollup.

CREATE TABLE pruned_usage (
    project INTEGER NOT NULL,                    -- projects.id (0: none)
    model INTEGER NOT NULL,                      -- models.id (0: none)
    responses INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    web_search_requests INTEGER NOT NULL,
    cost_nanos INTEGER NOT NULL,
    savings_nanos INTEGER NOT NULL,
    unpriced_responses INTEGER NOT NULL,
    PRIMARY KEY (project, model)
) WITHOUT ROWID;

CREATE TABLE usage_totals (
    project INTEGER NOT NULL,                    -- projects.id (0: none)
    model INTEGER NOT NULL,                      -- models.id (0: none)
    responses INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    web_search_requests INTEGER NOT NULL,
    cost_nanos INTEGER NOT NULL,
    savings_nanos INTEGER NOT NULL,
    unpriced_responses INTEGER NOT NULL,
    PRIMARY KEY (project, model)
) WITHOUT ROWID;
