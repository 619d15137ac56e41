//! The rollup answers every question exactly as the responses do: for random responses
//! (written in pieces, with later sightings that move them), random zones (half- and
//! quarter-hour offsets, daylight saving, local mean time before 1900), random project
//! and model filters and random ranges that start and end anywhere, the rows the store
//! reads give the same days, hours, sessions, projects and blocks as the responses
//! themselves, to the last nano-dollar.

use ctm_aggregate::{
    aggregate_blocks, aggregate_days, aggregate_hours, aggregate_projects, aggregate_sessions,
    Filter, Names, SlotRow,
};
use ctm_model::{message_key, Origin, Response, Usage};
use ctm_store::derive;
use ctm_store::facts::{FactWriter, Pricing};
use ctm_store::{OpenOptions, Store};
use jiff::tz::TimeZone;
use proptest::prelude::*;

const H: i64 = 3_600_000;
const Q: i64 = 15 * 60_000;
/// 2026-03-06T00:00Z: two days before New York's clocks go forward.
const T0: i64 = 1_772_755_200_000;

const ZONES: [&str; 7] = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Tokyo",
    "America/St_Johns",
];
const PROJECTS: [Option<&str>; 4] = [Some("/w/alpha"), Some("/w/beta"), Some("/w/ALPHA-2"), None];
const MODELS: [Option<&str>; 3] = [Some("claude-opus-4-6"), Some("claude-haiku-4-5"), None];

/// One response: (minute offset or exact instant, session, project, model, output).
#[derive(Debug, Clone)]
struct Spec {
    ts: i64,
    session: u8,
    project: u8,
    model: u8,
    output: u64,
}

fn spec(base: i64, span: i64) -> impl Strategy<Value = Spec> {
    (0..span, 0u8..5, 0u8..4, 0u8..3, 1u64..5000, 0u8..4).prop_map(
        move |(offset, session, project, model, output, snap)| {
            // A quarter of the responses on a quarter's or an hour's first millisecond.
            let ts = match snap {
                0 => base + offset - (base + offset).rem_euclid(Q),
                1 => base + offset - (base + offset).rem_euclid(H),
                _ => base + offset,
            };
            Spec {
                ts,
                session,
                project,
                model,
                output,
            }
        },
    )
}

fn response(i: usize, s: &Spec) -> Response {
    Response {
        key: message_key(&format!("m{i}"), "r"),
        timestamp_ms: s.ts,
        session_id: (s.session < 4).then(|| format!("s{}", s.session).into()),
        project_path: PROJECTS[s.project as usize].map(Into::into),
        model: MODELS[s.model as usize].map(Into::into),
        usage: Usage {
            input_tokens: s.output % 97,
            output_tokens: s.output,
            cache_read_tokens: s.output * 31,
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
        source_path: None,
    }
}

fn price(r: &Response) -> Pricing {
    let priced = r.model.is_some();
    Pricing {
        // Many digits, so that only exact sums agree.
        cost_usd: if priced {
            r.usage.output_tokens as f64 * 1.53e-5 + r.usage.cache_read_tokens as f64 * 3.03e-7
        } else {
            0.0
        },
        priced,
        price_model: priced.then(|| "m".into()),
        price_version: "test".into(),
        long_context: false,
        multiplier: 1.0,
        cache_savings_usd: r.usage.cache_read_tokens as f64 * 2.7e-6,
    }
}

fn write(store: &mut Store, responses: Vec<Response>) {
    let tx = store.write().unwrap();
    let mut writer = FactWriter::new(&tx).unwrap();
    for r in responses {
        writer.upsert(r, &price).unwrap();
    }
    let (touched, _) = writer.finish().unwrap();
    derive::refresh(&tx, touched, T0 + 1000 * H).unwrap();
    tx.commit().unwrap();
}

/// Both ways of getting rows agree on everything reports make of them.
fn assert_same_answers(store: &Store, lo: i64, hi: i64, filter: &Filter, tz: &TimeZone) {
    let from_rollup = store.usage_rows(lo, hi, filter, Some(tz)).unwrap();
    let per_fact: Vec<SlotRow> = store
        .facts_between(lo, hi, filter)
        .unwrap()
        .iter()
        .map(SlotRow::of_fact)
        .collect();
    let sessions: Vec<i64> = per_fact.iter().map(|r| r.key.session).collect();
    let names: Names = store.names(&sessions).unwrap();
    let what = format!("{lo}..{hi} {filter:?} {tz:?}");
    assert_eq!(
        aggregate_days(&from_rollup, tz),
        aggregate_days(&per_fact, tz),
        "days {what}"
    );
    assert_eq!(
        aggregate_hours(&from_rollup, tz),
        aggregate_hours(&per_fact, tz),
        "hours {what}"
    );
    assert_eq!(
        aggregate_sessions(&from_rollup, &names),
        aggregate_sessions(&per_fact, &names),
        "sessions {what}"
    );
    assert_eq!(
        aggregate_projects(&from_rollup),
        aggregate_projects(&per_fact),
        "projects {what}"
    );
    assert_eq!(
        aggregate_blocks(&from_rollup, i64::MIN),
        aggregate_blocks(&per_fact, i64::MIN),
        "blocks {what}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rollup_rows_answer_as_the_responses_do(
        first in prop::collection::vec(spec(T0, 72 * H), 1..60),
        later in prop::collection::vec(spec(T0 - 6 * H, 84 * H), 0..30),
        moved in prop::collection::vec((0usize..60, 0i64..(30 * H)), 0..8),
        asks in prop::collection::vec(
            (0usize..ZONES.len(), 0usize..5, 0usize..4, -10 * H..80 * H, 0i64..(60 * H)),
            1..6,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        let mut written: Vec<Response> = first.iter().enumerate().map(|(i, s)| response(i, s)).collect();
        write(&mut store, written.clone());
        // New responses, and earlier sightings of stored ones with more output.
        let mut batch: Vec<Response> = later
            .iter()
            .enumerate()
            .map(|(i, s)| response(1000 + i, s))
            .collect();
        for (i, back) in moved {
            let mut r = written[i % written.len()].clone();
            r.timestamp_ms -= back;
            r.usage.output_tokens += 7;
            batch.push(r);
        }
        written.extend(batch.iter().cloned());
        write(&mut store, batch);
        prop_assert!(derive::check(store.conn()).unwrap().is_empty());
        for (zone, project, model, lo, len) in asks {
            let tz = TimeZone::get(ZONES[zone]).unwrap();
            let filter = Filter::new(
                ["alpha", "beta", "w/", "", "nope"][project].into(),
                ["opus", "haiku", "claude", ""][model].into(),
            );
            let (lo, hi) = (T0 + lo, T0 + lo + len);
            assert_same_answers(&store, lo, hi, &filter, &tz);
            assert_same_answers(&store, i64::MIN, i64::MAX, &filter, &tz);
        }
    }
}

/// Before standard time a zone's offset is not whole quarter-hours (Kolkata's local mean
/// time was +05:53:28): there the rows are the responses themselves, and the answers
/// are still exact.
#[test]
fn local_mean_time_is_answered_from_the_responses() {
    // 1850-03-06T00:00Z.
    let base = -3_781_641_600_000;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
    let specs: Vec<Spec> = (0..40)
        .map(|i| Spec {
            // Every 7 minutes and 11 seconds: across the local midnight and hours, in
            // runs of eight that share their session, project and model.
            ts: base + 22 * H + i * (7 * 60_000 + 11_000),
            session: (i / 8 % 3) as u8,
            project: (i / 8 % 4) as u8,
            model: (i / 8 % 3) as u8,
            output: 10 + i as u64,
        })
        .collect();
    write(
        &mut store,
        specs
            .iter()
            .enumerate()
            .map(|(i, s)| response(i, s))
            .collect(),
    );
    let tz = TimeZone::get("Asia/Kolkata").unwrap();
    let rows = store
        .usage_rows(i64::MIN, i64::MAX, &Filter::default(), Some(&tz))
        .unwrap();
    assert_eq!(rows.len(), 40, "one row per response");
    assert_same_answers(&store, i64::MIN, i64::MAX, &Filter::default(), &tz);
    assert_same_answers(
        &store,
        base + 3 * H + 7,
        base + 20 * H,
        &Filter::default(),
        &tz,
    );
    // In UTC the same responses come from the rollup.
    let utc = store
        .usage_rows(i64::MIN, i64::MAX, &Filter::default(), Some(&TimeZone::UTC))
        .unwrap();
    assert!(utc.len() < 40);
    assert_same_answers(
        &store,
        i64::MIN,
        i64::MAX,
        &Filter::default(),
        &TimeZone::UTC,
    );
}
