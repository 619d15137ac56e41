-- Version 14: a narrow fact table, its repeated texts in dimension tables, and a
-- zone-independent rollup every report can be answered from.
--
-- The texts a response repeats (session id, project path, model, transcript path, the
-- usage fields' speed, tier and geography, agent id, Claude Code version, and how it was
-- priced) are kept once each and referenced by integer ids (0: none). A fact row keeps
-- what identifies and counts a response; money is integer nano-dollars, so sums are the
-- same whatever order they are added in. `responses` and `billed_responses` remain, as
-- views with their columns of before (`ingested_at` aside, which nothing read).
--
-- `quarter_usage` sums the billed responses per slot (a UTC quarter-hour's first
-- millisecond, or the rest of it: 2 x quarter, + 1 for the rest), session, project and
-- model. Every real offset is a whole number of quarter-hours, so a report in any zone,
-- with any project or model filter, is a grouping of its rows (see ctm-aggregate).
-- It replaces migration 8's hourly_usage and project_usage, which were kept in one zone.

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE
);
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE                    -- the cwd of the responses
);
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE                    -- a transcript
);
-- Short texts that travel with a response: agent id, speed, service tier, inference
-- geography, Claude Code version.
CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
-- How a response was priced (the price table's row and version, and the rules applied).
CREATE TABLE pricings (
    id INTEGER PRIMARY KEY,
    priced INTEGER NOT NULL,                     -- 0: the model has no price, its cost is 0
    price_model TEXT,
    price_version TEXT,
    long_context INTEGER NOT NULL,
    multiplier REAL NOT NULL                     -- fast mode x data residency
);

-- One row per API response, counted once (see ctm-model). Never deleted except on the
-- user's explicit request. Usage metadata only: no prompt or response text.
CREATE TABLE facts (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL,                     -- m:<message.id>:<requestId>, u:<uuid> or h:<hash> (unique, below)
    ts INTEGER NOT NULL,                         -- UTC epoch milliseconds, earliest sighting
    session INTEGER NOT NULL DEFAULT 0,          -- sessions.id
    project INTEGER NOT NULL DEFAULT 0,          -- projects.id
    model INTEGER NOT NULL DEFAULT 0,            -- models.id
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    web_search_requests INTEGER NOT NULL DEFAULT 0,
    web_fetch_requests INTEGER NOT NULL DEFAULT 0,
    cost_nanos INTEGER NOT NULL DEFAULT 0,       -- cost in nano-dollars (0 when unpriced)
    savings_nanos INTEGER NOT NULL DEFAULT 0,    -- cost had every cached token been plain input, minus cost
    pricing INTEGER NOT NULL DEFAULT 0,          -- pricings.id
    replay_of INTEGER,                           -- NULL: billed; else the id of the response this sidechain line replays (0: no longer stored)
    flags INTEGER NOT NULL DEFAULT 0,            -- 1: sidechain; 2: an agent echo (else an assistant line)
    source INTEGER NOT NULL DEFAULT 0,           -- sources.id of the earliest sighting's transcript
    agent INTEGER NOT NULL DEFAULT 0,            -- labels.id
    speed INTEGER NOT NULL DEFAULT 0,            -- labels.id
    service_tier INTEGER NOT NULL DEFAULT 0,     -- labels.id
    inference_geo INTEGER NOT NULL DEFAULT 0,    -- labels.id
    cc_version INTEGER NOT NULL DEFAULT 0,       -- labels.id
    recorded_cost_usd REAL                       -- costUSD written by Claude Code < 1.0.9
);

INSERT INTO sessions (session_id)
    SELECT DISTINCT session_id FROM responses WHERE session_id IS NOT NULL ORDER BY 1;
INSERT INTO projects (path)
    SELECT DISTINCT project_path FROM responses WHERE project_path IS NOT NULL ORDER BY 1;
INSERT INTO models (name)
    SELECT DISTINCT model FROM responses WHERE model IS NOT NULL ORDER BY 1;
INSERT INTO sources (path)
    SELECT DISTINCT source_path FROM responses WHERE source_path IS NOT NULL ORDER BY 1;
INSERT INTO labels (text)
    SELECT text FROM (
        SELECT agent_id AS text FROM responses UNION SELECT speed FROM responses
        UNION SELECT service_tier FROM responses UNION SELECT inference_geo FROM responses
        UNION SELECT cc_version FROM responses
    ) WHERE text IS NOT NULL ORDER BY 1;
INSERT INTO pricings (priced, price_model, price_version, long_context, multiplier)
    SELECT DISTINCT priced, price_model, price_version, long_context, price_multiplier
    FROM responses ORDER BY 1, 2, 3, 4, 5;

INSERT INTO facts (id, dedup_key, ts, session, project, model, input_tokens, output_tokens,
    cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, web_search_requests,
    web_fetch_requests, cost_nanos, savings_nanos, pricing, replay_of, flags, source, agent,
    speed, service_tier, inference_geo, cc_version, recorded_cost_usd)
SELECT r.id, r.dedup_key, r.ts,
    coalesce((SELECT id FROM sessions WHERE session_id = r.session_id), 0),
    coalesce((SELECT id FROM projects WHERE path = r.project_path), 0),
    coalesce((SELECT id FROM models WHERE name = r.model), 0),
    r.input_tokens, r.output_tokens, r.cache_write_5m_tokens, r.cache_write_1h_tokens,
    r.cache_read_tokens, r.web_search_requests, r.web_fetch_requests,
    CAST(round(r.cost_usd * 1e9) AS INTEGER),
    CAST(round(r.cache_savings_usd * 1e9) AS INTEGER),
    (SELECT id FROM pricings p WHERE p.priced IS r.priced AND p.price_model IS r.price_model
        AND p.price_version IS r.price_version AND p.long_context IS r.long_context
        AND p.multiplier IS r.price_multiplier),
    CASE WHEN r.replay_of IS NOT NULL
        THEN coalesce((SELECT id FROM responses p WHERE p.dedup_key = r.replay_of), 0) END,
    (r.is_sidechain != 0) + 2 * (r.origin = 'agent_echo'),
    coalesce((SELECT id FROM sources WHERE path = r.source_path), 0),
    coalesce((SELECT id FROM labels WHERE text = r.agent_id), 0),
    coalesce((SELECT id FROM labels WHERE text = r.speed), 0),
    coalesce((SELECT id FROM labels WHERE text = r.service_tier), 0),
    coalesce((SELECT id FROM labels WHERE text = r.inference_geo), 0),
    coalesce((SELECT id FROM labels WHERE text = r.cc_version), 0),
    r.recorded_cost_usd
FROM responses r ORDER BY r.id;

DROP VIEW IF EXISTS billed_responses;
DROP TABLE responses;

-- A named index, not a column constraint: a first ingest drops it with the others and
-- builds it once at the end, from sorted keys.
CREATE UNIQUE INDEX idx_facts_key ON facts(dedup_key);
CREATE INDEX idx_facts_ts ON facts(ts);
CREATE INDEX idx_facts_session ON facts(session, ts);
-- The few responses that are not billed.
CREATE INDEX idx_facts_replays ON facts(replay_of) WHERE replay_of IS NOT NULL;

-- The fact table with its texts, in the columns `responses` had.
CREATE VIEW responses AS
SELECT f.id, f.dedup_key,
    CASE WHEN substr(f.dedup_key, 1, 2) = 'm:'
        THEN substr(f.dedup_key, 3, instr(substr(f.dedup_key, 3), ':') - 1) END AS message_id,
    CASE WHEN substr(f.dedup_key, 1, 2) = 'm:'
        THEN substr(f.dedup_key, 3 + instr(substr(f.dedup_key, 3), ':')) END AS request_id,
    f.ts, s.session_id, p.path AS project_path, m.name AS model,
    f.input_tokens, f.output_tokens, f.cache_write_5m_tokens, f.cache_write_1h_tokens,
    f.cache_read_tokens, f.web_search_requests, f.web_fetch_requests,
    (SELECT text FROM labels WHERE id = f.speed) AS speed,
    (SELECT text FROM labels WHERE id = f.service_tier) AS service_tier,
    (SELECT text FROM labels WHERE id = f.inference_geo) AS inference_geo,
    f.flags & 1 AS is_sidechain,
    (SELECT text FROM labels WHERE id = f.agent) AS agent_id,
    CASE WHEN f.flags & 2 THEN 'agent_echo' ELSE 'assistant' END AS origin,
    CASE WHEN f.replay_of IS NOT NULL
        THEN coalesce((SELECT dedup_key FROM facts x WHERE x.id = f.replay_of), '') END AS replay_of,
    f.cost_nanos / 1e9 AS cost_usd,
    coalesce(pr.priced, 0) AS priced, pr.price_model, pr.price_version,
    coalesce(pr.long_context, 0) AS long_context, coalesce(pr.multiplier, 1.0) AS price_multiplier,
    f.savings_nanos / 1e9 AS cache_savings_usd, f.recorded_cost_usd,
    (SELECT text FROM labels WHERE id = f.cc_version) AS cc_version,
    so.path AS source_path
FROM facts f
LEFT JOIN sessions s ON s.id = f.session
LEFT JOIN projects p ON p.id = f.project
LEFT JOIN models m ON m.id = f.model
LEFT JOIN pricings pr ON pr.id = f.pricing
LEFT JOIN sources so ON so.id = f.source;

CREATE VIEW billed_responses AS
    SELECT * FROM responses WHERE replay_of IS NULL;

CREATE TABLE quarter_usage (
    slot INTEGER NOT NULL,                       -- 2 x quarter (its first millisecond), + 1: the rest of it
    session INTEGER NOT NULL,                    -- sessions.id (0: none)
    project INTEGER NOT NULL,                    -- projects.id (0: none)
    model INTEGER NOT NULL,                      -- models.id (0: none)
    first_ts INTEGER NOT NULL,                   -- the earliest and latest response, UTC epoch ms
    last_ts INTEGER NOT NULL,
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
    PRIMARY KEY (slot, session, project, model)
) WITHOUT ROWID;
CREATE INDEX idx_quarter_usage_session ON quarter_usage(session, slot);
CREATE INDEX idx_quarter_usage_unpriced ON quarter_usage(model) WHERE unpriced_responses > 0;

DROP TABLE IF EXISTS hourly_usage;
DROP TABLE IF EXISTS project_usage;
