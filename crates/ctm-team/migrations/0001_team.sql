-- Team database, version 1: where the machines of a team meet. Everything lives in the
-- schema `ctm`, so the database can hold other things too.
--
-- `responses` has one row per API response, keyed by its identity as in every local store
-- (`m:<message.id>:<requestId>`, `u:<uuid>`, `h:<hash>`): the response as the team counts
-- it, merged from every machine that pushed it by the local stores' one rule (usage of the
-- sighting with the highest output, identity of the earliest). A response only one machine
-- pushed is that machine's row; when another machine pushes it too (two machines sharing a
-- synced ~/.claude), each machine's copy is kept in `sightings` and the response is merged
-- from them, so a machine's later push replaces only its own copy and `ctm team forget`
-- can take one person's copies out. The rollup holds the sums of the billed responses per
-- slot (a UTC quarter-hour's first millisecond, or the rest of it, as in the local
-- stores: every real zone's offset is a whole number of quarter-hours, so a day in any
-- zone is a range of slots), machine (so person), session, project and model; every push
-- updates it in its own transaction, by the difference each response's change made, so
-- reports read the rollup, never every response. Money is in integer nano-dollars, so
-- sums are exact in any order.

CREATE TABLE ctm.people (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A machine belongs to one person: the same host name pushed as two people is two machines.
CREATE TABLE ctm.machines (
    id serial PRIMARY KEY,
    person_id integer NOT NULL REFERENCES ctm.people (id),
    name text NOT NULL,
    first_push timestamptz NOT NULL DEFAULT now(),
    last_push timestamptz NOT NULL DEFAULT now(),
    pushed_responses bigint NOT NULL DEFAULT 0,      -- responses this machine has sent (again when changed)
    UNIQUE (person_id, name)
);

-- Texts that repeat from response to response, once each. NULL is a value here (no
-- session, project or model), so every response names a row.
CREATE TABLE ctm.projects (
    id serial PRIMARY KEY,
    path text UNIQUE NULLS NOT DISTINCT               -- cwd, or `hmac-sha256:...` when the pusher hashes paths
);
CREATE TABLE ctm.models (
    id serial PRIMARY KEY,
    name text UNIQUE NULLS NOT DISTINCT
);
CREATE TABLE ctm.sessions (
    id serial PRIMARY KEY,
    session_id text UNIQUE NULLS NOT DISTINCT
);

CREATE TABLE ctm.responses (
    key text COLLATE "C" PRIMARY KEY,
    machine_id integer NOT NULL REFERENCES ctm.machines (id), -- whose sighting gave the identity
    shared boolean NOT NULL DEFAULT false,          -- true: the machines' copies are in ctm.sightings
    ts bigint NOT NULL,                             -- UTC epoch milliseconds
    session_ref integer NOT NULL REFERENCES ctm.sessions (id),
    project_id integer NOT NULL REFERENCES ctm.projects (id),
    model_id integer NOT NULL REFERENCES ctm.models (id),
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cache_write_5m_tokens bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    web_search_requests bigint NOT NULL,
    web_fetch_requests bigint NOT NULL,
    speed text,
    service_tier text,
    inference_geo text,
    is_sidechain boolean NOT NULL,
    agent_id text,
    origin smallint NOT NULL,                       -- 0 assistant line, 1 subagent echo
    cc_version text,
    billed boolean NOT NULL,                        -- false: a sidechain replay, not counted
    cost_nanos bigint NOT NULL,                     -- the pushing machine's price, nano-dollars
    priced boolean NOT NULL,
    price_model text,
    price_version text NOT NULL,
    long_context boolean NOT NULL,
    price_multiplier double precision NOT NULL,
    cache_savings_nanos bigint NOT NULL,
    pushed_at timestamptz NOT NULL DEFAULT now()
);
-- A machine's responses in time (rollup bounds, forget) and a session's (session detail).
CREATE INDEX responses_machine_ts ON ctm.responses (machine_id, ts);
CREATE INDEX responses_session_ts ON ctm.responses (session_ref, ts);

-- Each machine's copy of a response more than one machine pushed.
CREATE TABLE ctm.sightings (
    key text COLLATE "C" NOT NULL,
    machine_id integer NOT NULL REFERENCES ctm.machines (id),
    ts bigint NOT NULL,
    session_ref integer NOT NULL REFERENCES ctm.sessions (id),
    project_id integer NOT NULL REFERENCES ctm.projects (id),
    model_id integer NOT NULL REFERENCES ctm.models (id),
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cache_write_5m_tokens bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    web_search_requests bigint NOT NULL,
    web_fetch_requests bigint NOT NULL,
    speed text,
    service_tier text,
    inference_geo text,
    is_sidechain boolean NOT NULL,
    agent_id text,
    origin smallint NOT NULL,
    cc_version text,
    billed boolean NOT NULL,
    cost_nanos bigint NOT NULL,
    priced boolean NOT NULL,
    price_model text,
    price_version text NOT NULL,
    long_context boolean NOT NULL,
    price_multiplier double precision NOT NULL,
    cache_savings_nanos bigint NOT NULL,
    PRIMARY KEY (key, machine_id)
);
CREATE INDEX sightings_machine ON ctm.sightings (machine_id);

-- Billed responses per slot, machine (so person), session, project and model, with each
-- group's first and last response: every team report is a grouping of these rows.
CREATE TABLE ctm.rollup (
    slot bigint NOT NULL,                           -- 2q: quarter-hour q's first millisecond (q = UTC epoch ms / 900000); 2q + 1: the rest
    machine_id integer NOT NULL REFERENCES ctm.machines (id),
    session_ref integer NOT NULL REFERENCES ctm.sessions (id),
    project_id integer NOT NULL REFERENCES ctm.projects (id),
    model_id integer NOT NULL REFERENCES ctm.models (id),
    responses bigint NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cache_write_5m_tokens bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    web_search_requests bigint NOT NULL,
    cost_nanos bigint NOT NULL,
    cache_savings_nanos bigint NOT NULL,
    unpriced_responses bigint NOT NULL,
    first_ts bigint NOT NULL,
    last_ts bigint NOT NULL,
    PRIMARY KEY (slot, machine_id, session_ref, project_id, model_id)
);
CREATE INDEX rollup_session ON ctm.rollup (session_ref);
CREATE INDEX rollup_machine ON ctm.rollup (machine_id, slot);
