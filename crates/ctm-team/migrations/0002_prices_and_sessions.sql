-- Team database, version 2: the rollup keeps what a response's price depends on, and a
-- rollup per session.
--
-- A response's price (`ctm-pricing`) depends on its model, its instant (dated rates, bands
-- and fast-mode windows), its token counts and web searches, whether the prompt (input +
-- cache writes + cache reads) is above a band's threshold (a band applies to the whole
-- request), `speed = 'fast'` and `inference_geo = 'us'`. The rollup's key gains the two
-- flags and the pushing machine's band side (`long_context`), and each row keeps its
-- smallest and largest prompt, so `--reprice` prices a row at once when one rate applies
-- to all its responses (no band threshold of the reading table between its smallest and
-- largest prompt, no price change within its slot) and reads the responses of only the
-- rows where it does not.
--
-- `session_rollup` sums the billed responses per session, machine, project and model,
-- whatever their time: a report of every session reads one row per session and model
-- instead of grouping the rollup's slots. Both are kept in the push transaction, as the
-- rollup is. Tables are altered in place, so grants to a read-only role stay.

ALTER TABLE ctm.rollup
    ADD COLUMN fast boolean NOT NULL DEFAULT false,          -- speed = 'fast'
    ADD COLUMN us boolean NOT NULL DEFAULT false,            -- inference_geo = 'us'
    ADD COLUMN long_context boolean NOT NULL DEFAULT false,  -- priced at a band's rates by the pushing machine
    ADD COLUMN min_prompt bigint NOT NULL DEFAULT 0,         -- input + cache write + cache read tokens
    ADD COLUMN max_prompt bigint NOT NULL DEFAULT 0;
TRUNCATE ctm.rollup;
ALTER TABLE ctm.rollup DROP CONSTRAINT rollup_pkey;
ALTER TABLE ctm.rollup ADD PRIMARY KEY (slot, machine_id, session_ref, project_id, model_id, fast, us, long_context);
INSERT INTO ctm.rollup (slot, machine_id, session_ref, project_id, model_id, fast, us, long_context,
        responses, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
        cache_read_tokens, web_search_requests, cost_nanos, cache_savings_nanos, unpriced_responses,
        first_ts, last_ts, min_prompt, max_prompt)
SELECT (2 * (ts - ((ts % 900000) + 900000) % 900000) / 900000 + (((ts % 900000) + 900000) % 900000 <> 0)::int),
       machine_id, session_ref, project_id, model_id,
       coalesce(speed = 'fast', false), coalesce(inference_geo = 'us', false), long_context,
       count(*), sum(input_tokens), sum(output_tokens), sum(cache_write_5m_tokens),
       sum(cache_write_1h_tokens), sum(cache_read_tokens), sum(web_search_requests),
       sum(cost_nanos), sum(cache_savings_nanos), count(*) FILTER (WHERE NOT priced),
       min(ts), max(ts),
       min(input_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_read_tokens),
       max(input_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_read_tokens)
FROM ctm.responses WHERE billed
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

CREATE TABLE ctm.session_rollup (
    session_ref integer NOT NULL REFERENCES ctm.sessions (id),
    machine_id integer NOT NULL REFERENCES ctm.machines (id),
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
    PRIMARY KEY (session_ref, machine_id, project_id, model_id)
);
INSERT INTO ctm.session_rollup
SELECT session_ref, machine_id, project_id, model_id,
       count(*), sum(input_tokens), sum(output_tokens), sum(cache_write_5m_tokens),
       sum(cache_write_1h_tokens), sum(cache_read_tokens), sum(web_search_requests),
       sum(cost_nanos), sum(cache_savings_nanos), count(*) FILTER (WHERE NOT priced),
       min(ts), max(ts)
FROM ctm.responses WHERE billed
GROUP BY 1, 2, 3, 4;
