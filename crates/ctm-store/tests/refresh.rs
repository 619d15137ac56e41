//! Derived tables refreshed for what one write touched equal a full recompute, even when
//! a new response shifts the chain of 5-hour blocks after it, lands before every block,
//! or changes a stored response; and a first ingest rebuilds the indexes it dropped.

use ctm_model::{message_key, Origin, Response, Usage};
use ctm_store::derive;
use ctm_store::facts::{FactWriter, Pricing};
use ctm_store::{OpenOptions, Store};

const H: i64 = 3_600_000;
/// 2026-01-01T00:00Z
const T0: i64 = 1_767_225_600_000;

fn response(id: &str, ts: i64, session: &str, output: u64) -> Response {
    Response {
        key: message_key(id, "req"),
        message_id: Some(id.into()),
        request_id: Some("req".into()),
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
/// touched (or rebuilds everything on the first write).
fn write(store: &mut Store, responses: Vec<Response>, now: i64) {
    let tx = store.write().unwrap();
    let mut writer = FactWriter::new(&tx).unwrap();
    for r in responses {
        writer.upsert(r, &price, now).unwrap();
    }
    let first = writer.started_empty();
    let (touched, _) = writer.finish().unwrap();
    if first {
        derive::rebuild_all(&tx).unwrap();
    } else {
        derive::refresh(&tx, &touched, now).unwrap();
    }
    tx.commit().unwrap();
}

fn block_starts(store: &Store) -> Vec<String> {
    let mut stmt = store
        .conn()
        .prepare("SELECT start_time FROM usage_blocks ORDER BY start_time")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn index_names(store: &Store) -> Vec<String> {
    let mut stmt = store
        .conn()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'responses' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn refreshed_blocks_days_and_sessions_equal_a_full_recompute() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
    let indexes = index_names(&store);
    let now = T0 + 1000 * H;
    let m = 60_000;

    // Blocks at 00:00, 07:00, 13:00 and 30:00.
    write(
        &mut store,
        vec![
            response("a", T0 + 30 * m, "s1", 5),
            response("b", T0 + 2 * H, "s1", 5),
            response("c", T0 + 4 * H, "s1", 5),
            response("d", T0 + 7 * H + 30 * m, "s1", 5),
            response("e", T0 + 11 * H, "s2", 5),
            response("f", T0 + 13 * H + 10 * m, "s2", 5),
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
        vec![response("h", T0 + 5 * H + 30 * m, "s4", 5)],
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

fn count(store: &Store, sql: &str) -> i64 {
    store.conn().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn project_and_hour_rows_follow_responses_that_move_or_have_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
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
    let without_session = "SELECT count(*) FROM project_usage WHERE session_id IS NULL";
    assert_eq!(count(&store, without_session), 1);
    assert_eq!(count(&store, "SELECT count(*) FROM hourly_usage"), 3);

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
    let diffs = derive::check(store.conn()).unwrap();
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(count(&store, without_session), 1);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM project_usage WHERE project_path = '/r' AND session_id = 's3'"
        ),
        1
    );

    // A hand-made difference in either table is found.
    for sql in [
        "UPDATE hourly_usage SET responses = responses + 1",
        "DELETE FROM project_usage WHERE session_id IS NULL",
    ] {
        store.conn().execute(sql, []).unwrap();
    }
    let diffs = derive::check(store.conn()).unwrap();
    assert!(
        diffs.iter().any(|d| d.starts_with("hourly_usage"))
            && diffs.iter().any(|d| d.starts_with("project_usage")),
        "{diffs:?}"
    );
}
