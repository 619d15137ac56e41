//! Derived tables refreshed for what one write touched equal a full recompute, even when
//! a new response shifts the chain of 5-hour blocks after it, lands before every block,
//! or changes a stored response; and a first ingest rebuilds the indexes it dropped.
//! Random growth in pieces (new responses amid old ones, later sightings, sidechain
//! replays) leaves the rollup and every derived row exactly as a full recompute writes
//! them.

use ctm_model::{message_key, Origin, Response, Usage};
use ctm_store::derive;
use ctm_store::facts::{FactWriter, Pricing};
use ctm_store::{OpenOptions, Store};

const H: i64 = 3_600_000;
const M: i64 = 60_000;
/// 2026-01-01T00:00Z
const T0: i64 = 1_767_225_600_000;

/// An empty store at the latest version, in a folder that lives as long as the guard.
fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
    (dir, store)
}

fn response(id: &str, ts: i64, session: &str, output: u64) -> Response {
    Response {
        key: message_key(id, "req"),
        timestamp_ms: ts,
        session_id: Some(session.into()),
        project_path: Some("/p".into()),
        model: Some("claude-opus-4-6".into()),
        usage: Usage {
            input_tokens: 10,
            output_tokens: output,
            cache_write_5m_tokens: 100,
            cache_read_tokens: 1000,
            ..Usage::default()
        },
        speed: None,
        service_tier: None,
        inference_geo: None,
        is_sidechain: false,
        agent_id: None,
        origin: Origin::Assistant,
        recorded_cost_usd: None,
        cc_version: None,
        source_path: Some("/t.jsonl".into()),
    }
}

fn price(r: &Response) -> Pricing {
    Pricing {
        cost_usd: r.usage.output_tokens as f64 * 1e-5,
        priced: true,
        price_model: Some("opus".into()),
        price_version: "test".into(),
        long_context: false,
        multiplier: 1.0,
        cache_savings_usd: 0.0,
    }
}

/// Writes `responses` in one transaction the way ingest does, and refreshes what they
/// touched (everything on the first write).
fn write(store: &mut Store, responses: Vec<Response>, now: i64) {
    write_priced(store, responses, now, &price);
}

fn write_priced(
    store: &mut Store,
    responses: Vec<Response>,
    now: i64,
    price: &dyn Fn(&Response) -> Pricing,
) {
    let tx = store.write().unwrap();
    let mut writer = FactWriter::new(&tx).unwrap();
    for r in responses {
        writer.upsert(r, price).unwrap();
    }
    let (touched, _) = writer.finish().unwrap();
    derive::refresh(&tx, touched, now).unwrap();
    tx.commit().unwrap();
}

/// The first column of every row `sql` returns.
fn strings(store: &Store, sql: &str) -> Vec<String> {
    let mut stmt = store.conn().prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn block_starts(store: &Store) -> Vec<String> {
    strings(
        store,
        "SELECT start_time FROM usage_blocks ORDER BY start_time",
    )
}

fn index_names(store: &Store) -> Vec<String> {
    strings(
        store,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'facts' ORDER BY name",
    )
}

#[test]
fn refreshed_blocks_days_and_sessions_equal_a_full_recompute() {
    let (_dir, mut store) = new_store();
    let indexes = index_names(&store);
    let now = T0 + 1000 * H;

    // Blocks at 00:00, 07:00, 13:00 and 30:00.
    write(
        &mut store,
        vec![
            response("a", T0 + 30 * M, "s1", 5),
            response("b", T0 + 2 * H, "s1", 5),
            response("c", T0 + 4 * H, "s1", 5),
            response("d", T0 + 7 * H + 30 * M, "s1", 5),
            response("e", T0 + 11 * H, "s2", 5),
            response("f", T0 + 13 * H + 10 * M, "s2", 5),
            response("g", T0 + 30 * H, "s3", 5),
        ],
        now,
    );
    assert_eq!(
        index_names(&store),
        indexes,
        "a first write keeps every index"
    );
    assert!(derive::check(store.conn()).unwrap().is_empty());
    assert_eq!(block_starts(&store).len(), 4);

    // 05:30 falls in the gap after the first block: the new 05:00 block swallows 07:30,
    // 11:00 then opens a block that swallows 13:10, and the chain meets the stored one
    // again at 30:00.
    write(
        &mut store,
        vec![response("h", T0 + 5 * H + 30 * M, "s4", 5)],
        now,
    );
    let diffs = derive::check(store.conn()).unwrap();
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(
        block_starts(&store),
        vec![
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T05:00:00.000Z",
            "2026-01-01T11:00:00.000Z",
            "2026-01-02T06:00:00.000Z"
        ]
    );

    // Before every block, inside the last one, and long after it, in one write; plus a
    // later sighting of a stored response with more output.
    write(
        &mut store,
        vec![
            response("i", T0 - 10 * H, "s5", 5),
            response("j", T0 + 31 * H, "s3", 5),
            response("k", T0 + 100 * H, "s6", 5),
            response("e", T0 + 11 * H, "s2", 50),
        ],
        now,
    );
    let diffs = derive::check(store.conn()).unwrap();
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(block_starts(&store).len(), 6);
}

#[test]
fn a_block_opened_in_a_stored_start_hour_by_another_fact_is_recomputed() {
    let (_dir, mut store) = new_store();
    let now = T0 + 1000 * H;
    // One block at 07:00 holding 07:00 and 07:10.
    write(
        &mut store,
        vec![
            response("a", T0 + 7 * H, "s1", 5),
            response("b", T0 + 7 * H + 10 * M, "s1", 5),
        ],
        now,
    );
    // 02:30 opens a block at 02:00 that takes 07:00 (exactly 5 h after its start);
    // 07:10 then opens a block at 07:00 again, but without 07:00: a stored start, not the
    // stored block.
    write(
        &mut store,
        vec![response("c", T0 + 2 * H + 30 * M, "s2", 5)],
        now,
    );
    let diffs = derive::check(store.conn()).unwrap();
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(
        block_starts(&store),
        vec!["2026-01-01T02:00:00.000Z", "2026-01-01T07:00:00.000Z"]
    );
    assert_eq!(
        count(
            &store,
            "SELECT responses FROM usage_blocks WHERE start_time = '2026-01-01T07:00:00.000Z'"
        ),
        1
    );
}

/// Each write's derived rows equal a full recompute, bit for bit, and `ctm db check` agrees.
fn assert_as_recomputed(store: &mut Store, what: &str) {
    let (stored, recomputed) = stored_and_recomputed(store);
    assert_eq!(stored, recomputed, "{what}");
    let diffs = derive::check(store.conn()).unwrap();
    assert!(diffs.is_empty(), "{what}: {diffs:?}");
}

#[test]
fn new_responses_in_and_after_stored_blocks_are_added_or_recomputed_exactly() {
    let (_dir, mut store) = new_store();
    let now = T0 + 1000 * H;
    let at = |id: &str, ts: i64, session: &str| Response {
        usage: Usage {
            // Costs with many digits.
            output_tokens: 7 + ts.rem_euclid(997) as u64,
            ..response(id, ts, session, 0).usage
        },
        ..response(id, ts, session, 0)
    };
    let uneven = |r: &Response| Pricing {
        cost_usd: r.usage.output_tokens as f64 * 1.37e-5 + 0.1,
        ..price(r)
    };
    // Blocks at 00:00 (00:30 .. 04:00), 07:00 (07:30, 09:00) and 20:00.
    write_priced(
        &mut store,
        vec![
            at("a", T0 + 30 * M, "s1"),
            at("b", T0 + 2 * H, "s1"),
            at("c", T0 + 4 * H, "s2"),
            at("d", T0 + 7 * H + 30 * M, "s1"),
            at("e", T0 + 9 * H, "s1"),
            at("g", T0 + 20 * H, "s3"),
        ],
        now,
        &uneven,
    );
    assert_as_recomputed(&mut store, "first write");
    write_priced(
        &mut store,
        vec![
            // Inside the first block, in another session.
            at("x1", T0 + 3 * H, "s4"),
            // After it, extending it; 07:30 still opens the next block.
            at("x2", T0 + 4 * H + 40 * M, "s1"),
            // Exactly 5 h after 07:00: still that block.
            at("x3", T0 + 12 * H, "s2"),
            // Opens a block at 15:00 that takes 20:00 (5 h later), so 20:00 is recomputed.
            at("x4", T0 + 15 * H, "s3"),
        ],
        now,
        &uneven,
    );
    assert_as_recomputed(&mut store, "second write");
    assert_eq!(
        block_starts(&store),
        vec![
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T07:00:00.000Z",
            "2026-01-01T15:00:00.000Z"
        ]
    );
    write_priced(
        &mut store,
        vec![
            // The last instant of the 15:00 block, and a new block after it.
            at("y", T0 + 20 * H, "s5"),
            at("z", T0 + 21 * H, "s5"),
        ],
        now,
        &uneven,
    );
    assert_as_recomputed(&mut store, "third write");
    assert_eq!(block_starts(&store).len(), 4);
}

#[test]
fn a_response_at_the_last_instant_of_a_block_that_a_stored_block_starts_at_joins_the_earlier_one() {
    let (_dir, mut store) = new_store();
    let now = T0 + 1000 * H;
    // 00:00 block: 00:30 and 05:00 (exactly 5 h after its start); 05:10 opens a block at
    // 05:00, the instant the first one still reaches.
    write(
        &mut store,
        vec![
            response("a", T0 + 30 * M, "s1", 5),
            response("b", T0 + 5 * H, "s1", 5),
            response("c", T0 + 5 * H + 10 * M, "s1", 5),
        ],
        now,
    );
    write(&mut store, vec![response("d", T0 + 5 * H, "s2", 5)], now);
    assert_as_recomputed(&mut store, "a response at 05:00");
    assert_eq!(
        count(
            &store,
            "SELECT responses FROM usage_blocks WHERE start_time = '2026-01-01T00:00:00.000Z'"
        ),
        3
    );
}

fn count(store: &Store, sql: &str) -> i64 {
    store.conn().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn rollup_rows_follow_responses_that_move_or_have_no_session() {
    let (_dir, mut store) = new_store();
    let now = T0 + 1000 * H;
    let at = |id: &str, ts: i64, session: Option<&str>, project: &str| Response {
        session_id: session.map(Into::into),
        project_path: Some(project.into()),
        ..response(id, ts, "unused", 5)
    };
    write(
        &mut store,
        vec![
            at("a", T0 + H, Some("s1"), "/p"),
            at("b", T0 + 2 * H, None, "/q"),
            at("c", T0 + 25 * H, Some("s2"), "/p"),
        ],
        now,
    );
    assert!(derive::check(store.conn()).unwrap().is_empty());
    let without_session = "SELECT count(*) FROM quarter_usage WHERE session = 0";
    assert_eq!(count(&store, without_session), 1);
    assert_eq!(count(&store, "SELECT count(*) FROM quarter_usage"), 3);

    // Earlier sightings move "a" to another session, project and day, and give "b" a
    // session; a new response has none.
    write(
        &mut store,
        vec![
            at("a", T0 - 30 * H, Some("s3"), "/r"),
            at("b", T0 + 2 * H - 1, Some("s1"), "/q"),
            at("d", T0 + 50 * H, None, "/q"),
        ],
        now,
    );
    assert_as_recomputed(&mut store, "after responses moved");
    assert_eq!(count(&store, without_session), 1);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM quarter_usage q JOIN projects p ON p.id = q.project \
             JOIN sessions s ON s.id = q.session WHERE p.path = '/r' AND s.session_id = 's3'"
        ),
        1
    );

    // A hand-made difference in the rollup is found.
    store
        .conn()
        .execute(
            "UPDATE quarter_usage SET cost_nanos = cost_nanos + 1 WHERE session = 0",
            [],
        )
        .unwrap();
    let diffs = derive::check(store.conn()).unwrap();
    assert!(
        diffs.iter().any(|d| d.starts_with("quarter_usage")),
        "{diffs:?}"
    );
}

/// SplitMix64: a reproducible stream for the generated writes below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const MODELS: [&str; 3] = ["claude-opus-4-6", "claude-haiku-4-5", "claude-mystery-9"];

/// Costs with many digits, which only an exact sum adds up the same in any order; one
/// model unpriced.
fn uneven_price(r: &Response) -> Pricing {
    let u = &r.usage;
    let priced = r.model.as_deref() != Some("claude-mystery-9");
    let cost = u.input_tokens as f64 * 3.1e-6
        + u.output_tokens as f64 * 1.53e-5
        + u.cache_write_5m_tokens as f64 * 3.77e-6
        + u.cache_write_1h_tokens as f64 * 6.1e-6
        + u.cache_read_tokens as f64 * 3.03e-7;
    Pricing {
        cost_usd: if priced { cost } else { 0.0 },
        priced,
        price_model: priced.then(|| "m".into()),
        price_version: "test".into(),
        long_context: false,
        multiplier: 1.0,
        cache_savings_usd: if priced {
            u.cache_read_tokens as f64 * 2.797e-6 - u.cache_write_5m_tokens as f64 * 0.67e-6
        } else {
            0.0
        },
    }
}

/// A new response `n` at a random instant of `[lo, lo + span)` in one of `sessions`.
fn random_response(rng: &mut Rng, n: usize, lo: i64, span: i64, sessions: u64) -> Response {
    let ts = lo + rng.below(span as u64) as i64;
    let session = rng.below(sessions);
    let mut r = response(
        &format!("m{n}"),
        ts,
        &format!("s{session}"),
        1 + rng.below(4000),
    );
    // Mostly the session's own model, sometimes another.
    let model = if rng.below(5) == 0 {
        rng.below(3)
    } else {
        session % 3
    };
    r.model = Some(MODELS[model as usize].into());
    r.usage.input_tokens = rng.below(400);
    r.usage.cache_write_5m_tokens = rng.below(30_000);
    r.usage.cache_write_1h_tokens = rng.below(2) * rng.below(9_000);
    r.usage.cache_read_tokens = rng.below(250_000);
    if rng.below(8) == 0 {
        r.project_path = None;
    }
    r.is_sidechain = rng.below(6) == 0;
    r
}

/// The derived rows as they are, and as [`derive::rebuild_all`] writes them (rolled back).
fn stored_and_recomputed(store: &mut Store) -> (Vec<String>, Vec<String>) {
    let tx = store.write().unwrap();
    let stored = ctm_store::test_support::derived_rows(&tx);
    derive::rebuild_all(&tx).unwrap();
    let recomputed = ctm_store::test_support::derived_rows(&tx);
    drop(tx);
    (stored, recomputed)
}

#[test]
fn growth_in_random_pieces_leaves_every_derived_row_as_a_recompute_writes_it() {
    let now = T0 + 2000 * H;
    for seed in 1..=12u64 {
        let (_dir, mut store) = new_store();
        if seed % 3 == 0 {
            // Days in a zone with a DST change inside the range (2026-03-08).
            store
                .conn()
                .execute(
                    "UPDATE system_config SET value = 'America/New_York' WHERE key = 'timezone'",
                    [],
                )
                .unwrap();
        }
        let mut rng = Rng(seed);
        let lo = T0 + 60 * 24 * H;
        // Odd seeds spread over 12 days; even ones crowd 2 days, so hours and
        // project days hold many responses each.
        let span = if seed % 2 == 0 {
            2 * 24 * H
        } else {
            12 * 24 * H
        };
        // Seeds 1, 5, 9: every instant on the half hour, so responses share instants and
        // fall exactly 5 h after a block's start, where a block ends and the next starts.
        let on_grid = seed % 4 == 1;
        let snap = |mut r: Response| {
            if on_grid {
                r.timestamp_ms -= r.timestamp_ms.rem_euclid(H / 2);
            }
            r
        };
        let mut n = 0;
        let mut written: Vec<Response> = (0..80)
            .map(|_| {
                n += 1;
                snap(random_response(&mut rng, n, lo, span, 10))
            })
            .collect();
        write_priced(&mut store, written.clone(), now, &uneven_price);
        for piece in 0..6 {
            let mut batch = Vec::new();
            for _ in 0..(5 + rng.below(25)) {
                let kind = rng.below(20);
                if kind < 12 || written.is_empty() {
                    // New, anywhere from before the first day to after the last.
                    n += 1;
                    let r = snap(random_response(
                        &mut rng,
                        n,
                        lo - span / 6,
                        span + span / 3,
                        14,
                    ));
                    written.push(r.clone());
                    batch.push(r);
                } else if kind < 15 {
                    // A later sighting with more usage, sometimes of another model.
                    let mut r = written[rng.below(written.len() as u64) as usize].clone();
                    r.usage.output_tokens += 1 + rng.below(500);
                    if rng.below(3) == 0 {
                        r.model = Some(MODELS[rng.below(3) as usize].into());
                    }
                    batch.push(r);
                } else if kind < 17 {
                    // An earlier sighting: the response moves back in time, maybe a day.
                    let mut r = written[rng.below(written.len() as u64) as usize].clone();
                    r.timestamp_ms -= rng.below(30 * H as u64) as i64;
                    batch.push(r);
                } else {
                    // The same message under another request id: a sidechain replay of
                    // a stored response, or the main-chain original of a stored
                    // sidechain one, which then becomes the replay.
                    let original = &written[rng.below(written.len() as u64) as usize];
                    let mut r = original.clone();
                    let req = format!("req{n}");
                    n += 1;
                    let message = r.key.split(':').nth(1).unwrap().to_owned();
                    r.key = message_key(&message, &req);
                    r.is_sidechain = !original.is_sidechain;
                    r.timestamp_ms += rng.below(3) as i64 - 1;
                    batch.push(r);
                }
            }
            // Ingest writes each file's responses in time order; nothing may depend on it.
            if piece % 2 == 0 {
                batch.sort_by(|a, b| (a.timestamp_ms, &a.key).cmp(&(b.timestamp_ms, &b.key)));
            }
            write_priced(&mut store, batch, now, &uneven_price);
            let (stored, recomputed) = stored_and_recomputed(&mut store);
            assert_eq!(stored, recomputed, "seed {seed}, piece {piece}");
            let diffs = derive::check(store.conn()).unwrap();
            assert!(diffs.is_empty(), "seed {seed}, piece {piece}: {diffs:?}");
        }
    }
}

#[test]
fn rows_without_older_facts_are_recomputed_not_added_to() {
    let (_dir, mut store) = new_store();
    let now = T0 + 1000 * H;
    write(&mut store, vec![response("a", T0 + H, "s1", 5)], now);
    // A session row from before ctm, and day rows no fact backs (as `ctm db check`
    // would list them), for the session and the day the next write brings facts to.
    store
        .conn()
        .execute_batch(
            "INSERT INTO claude_sessions (session_id, session_start, session_end, input_tokens, output_tokens, \
             total_tokens, total_cost, cache_creation_tokens, cache_read_tokens, model_name, project_name, \
             message_count) VALUES ('old', '2025-06-01T00:00:00.000Z', '2025-06-01T01:00:00.000Z', 7, 7, 14, 9.5, \
             0, 0, 'claude-opus-4-6', '/p', 3);
             INSERT INTO daily_usage_summary (date, input_tokens, output_tokens, cache_creation_tokens, \
             cache_read_tokens, total_tokens, cost_usd, session_count, models_used) \
             VALUES ('2026-01-05', 1, 1, 0, 0, 2, 4.25, 1, 'claude-opus-4-6');
             INSERT INTO daily_aggregates (date, total_input_tokens, total_output_tokens, total_cache_read_tokens, \
             total_cache_write_tokens, total_cost_usd, avg_cache_hit_rate, session_count, model_breakdown, \
             hourly_distribution) VALUES ('2026-01-05', 1, 1, 0, 0, 4.25, 0, 1, \
             '{\"claude-opus-4-6\":{\"tokens\":2,\"cost\":4.25,\"responses\":1,\"inputTokens\":1,\"outputTokens\":1,\
             \"cacheCreationTokens\":0,\"cacheReadTokens\":0,\"unpricedResponses\":0}}', '{\"0\":1}');
             INSERT INTO cache_analytics (date, total_cache_tokens, cache_hit_tokens, cache_savings_usd, hit_rate) \
             VALUES ('2026-01-05', 0, 0, 0, 0);",
        )
        .unwrap();
    write(
        &mut store,
        vec![
            response("b", T0 + 2 * H, "old", 5),
            response("c", T0 + 4 * 24 * H + 3 * H, "s1", 5),
        ],
        now,
    );
    let (stored, recomputed) = stored_and_recomputed(&mut store);
    assert_eq!(stored, recomputed);
    assert!(derive::check(store.conn()).unwrap().is_empty());
}

/// `session_models` holds each session's billed responses per model as reports name
/// them, whether a write adds to a session (its main model, or none) or recomputes it
/// (another model); `ctm db check` names a wrong row and a row no fact backs.
#[test]
fn session_models_follow_each_session_and_check_finds_a_wrong_row() {
    let (_dir, mut store) = new_store();
    let now = T0 + 1000 * H;
    let models =
        "SELECT session_id || ' ' || model || ' ' || responses || ' ' || unpriced_responses \
                  FROM session_models ORDER BY 1";
    write(
        &mut store,
        vec![response("a", T0, "s1", 5), response("b", T0 + H, "s2", 5)],
        now,
    );
    write(&mut store, vec![response("c", T0 + 2 * H, "s1", 5)], now);
    assert_eq!(
        strings(&store, models),
        ["s1 claude-opus-4-6 2 0", "s2 claude-opus-4-6 1 0"]
    );
    let mut other = response("d", T0 + 3 * H, "s1", 5);
    other.model = Some("claude-haiku-4-5".into());
    let mut unnamed = response("e", T0 + 4 * H, "s2", 5);
    unnamed.model = None;
    write_priced(&mut store, vec![other, unnamed], now, &|r| Pricing {
        priced: r.model.is_some(),
        ..price(r)
    });
    assert_eq!(
        strings(&store, models),
        [
            "s1 claude-haiku-4-5 1 0",
            "s1 claude-opus-4-6 2 0",
            "s2 claude-opus-4-6 1 0",
            "s2 unknown 1 1"
        ]
    );
    assert_as_recomputed(
        &mut store,
        "after a second model and a response without one",
    );

    store
        .conn()
        .execute_batch(
            "UPDATE session_models SET responses = 3 WHERE session_id = 's1' AND model = 'claude-opus-4-6';
             INSERT INTO session_models VALUES ('s9', 'claude-opus-4-6', 1, 0);",
        )
        .unwrap();
    let diffs = derive::check(store.conn()).unwrap();
    assert_eq!(diffs.len(), 2, "{diffs:?}");
    assert!(diffs[0].starts_with("session_models s1: "), "{diffs:?}");
    assert!(diffs[1].starts_with("session_models s9: "), "{diffs:?}");
}

/// A rebuild streams (the rollup a slot at a time, days a week of local days at a time,
/// sessions one at a time, blocks as each closes): over eleven months, across both DST
/// changes of the store's zone, with sessions that span many weeks, it writes what the
/// facts say (`check`) and what growth in pieces wrote.
#[test]
fn a_streamed_rebuild_over_months_across_dst_equals_the_facts() {
    let now = T0 + 400 * 24 * H;
    let (_dir, mut store) = new_store();
    store
        .conn()
        .execute(
            "UPDATE system_config SET value = 'America/New_York' WHERE key = 'timezone'",
            [],
        )
        .unwrap();
    let mut rng = Rng(77);
    // 2026-01-01 to 2026-11-27: DST begins 2026-03-08 and ends 2026-11-01 (and the
    // zone's days are cut in weeks from the first one).
    let span = 330 * 24 * H;
    let mut n = 0;
    for _piece in 0..4 {
        let batch: Vec<Response> = (0..150)
            .map(|_| {
                n += 1;
                random_response(&mut rng, n, T0, span, 6)
            })
            .collect();
        write_priced(&mut store, batch, now, &uneven_price);
    }
    // A response at the last and at the first instant of every local day (New York's
    // midnight is 05:00Z until March 8) for 60 days: whichever day a week's part starts
    // on, some sit on its edges.
    let edges: Vec<Response> = (0..120)
        .map(|i| {
            n += 1;
            let midnight = T0 + 5 * H + (i / 2) * 24 * H;
            let ts = if i % 2 == 0 { midnight - 1 } else { midnight };
            response(&format!("m{n}"), ts, &format!("s{}", i % 6), 10 + i as u64)
        })
        .collect();
    write_priced(&mut store, edges, now, &uneven_price);
    assert!(derive::check(store.conn()).unwrap().is_empty());
    let (stored, recomputed) = stored_and_recomputed(&mut store);
    assert!(stored.len() > 300, "{} derived rows", stored.len());
    assert_eq!(stored, recomputed);
    let tx = store.write().unwrap();
    derive::rebuild_all(&tx).unwrap();
    tx.commit().unwrap();
    assert!(derive::check(store.conn()).unwrap().is_empty());
}
