//! Repricing after the table in force changes (what `ctm pricing update` and `reset` do
//! in one transaction): the derived tables still match the facts (`db check` clean), a
//! second repricing changes nothing, and a later ingest prices new responses with the
//! table kept in the store.

use std::path::Path;

use ctm_aggregate::{nanos_of_usd, usd_of_nanos};
use ctm_ingest::{ingest, reprice};
use ctm_pricing::{PriceTable, Request};
use ctm_store::price_table::{self, StoredTable};
use ctm_store::test_support::derived_rows;
use ctm_store::{derive, OpenOptions, Store};
use proptest::prelude::*;

const MODELS: [&str; 9] = [
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-haiku-5-5",
    "claude-fable-5-2",
    "claude-opus-4-8",
    "claude-opus-4-6",
    "claude-sonnet-4-5-20250929",
    "claude-next-7",
    "<synthetic>",
];

#[derive(Debug, Clone)]
struct Resp {
    session: usize,
    model: usize,
    /// Minutes after 2026-01-01T00:00Z.
    minute: u32,
    input: u64,
    output: u64,
    cache_5m: u64,
    cache_1h: u64,
    cache_read: u64,
    fast: bool,
    us: bool,
    web: u64,
}

fn resp() -> impl Strategy<Value = Resp> {
    (
        (0usize..4, 0usize..MODELS.len(), 0u32..(340 * 24 * 60)),
        (
            0u64..150_000,
            0u64..20_000,
            0u64..40_000,
            0u64..40_000,
            0u64..150_000,
        ),
        (any::<bool>(), any::<bool>(), 0u64..3),
    )
        .prop_map(
            |(
                (session, model, minute),
                (input, output, cache_5m, cache_1h, cache_read),
                (fast, us, web),
            )| Resp {
                session,
                model,
                minute,
                input,
                output,
                cache_5m,
                cache_1h,
                cache_read,
                fast,
                us,
                web,
            },
        )
}

/// A random change of the table, as config-override text applied to the embedded one:
/// rates, a dated change, a band, fast windows, US, a new model.
fn change() -> impl Strategy<Value = String> {
    let model = prop::sample::select(&MODELS[..7]);
    prop_oneof![
        (model.clone(), 0.0f64..50.0).prop_map(|(m, v)| format!("[pricing.models.\"{m}\"]\ninput = {v}\n")),
        (model.clone(), 0.0f64..5.0, 0u32..330).prop_map(|(m, v, day)| {
            let d = jiff::civil::date(2026, 1, 1) + jiff::Span::new().days(i64::from(day));
            format!("[[pricing.models.\"{m}\".dated]]\nfrom = \"{d}\"\ncache_read = {v}\n")
        }),
        (model.clone(), 1_000u64..300_000, 0.0f64..30.0).prop_map(|(m, above, v)| format!(
            "[[pricing.models.\"{m}\".bands]]\nabove_prompt_tokens = {above}\ninput = {v}\noutput = {}\n",
            v * 5.0
        )),
        (model.clone(), 1.0f64..8.0).prop_map(|(m, x)| format!("[pricing.models.\"{m}\"]\nfast = [{{ multiplier = {x}, from = \"2026-06-01\" }}]\nus_multiplier = 1.2\n")),
        model.prop_map(|m| format!("[pricing.models.\"{m}\"]\nbands = []\nfast = []\ndated = []\n")),
        (0.5f64..20.0).prop_map(|v| format!("[pricing.models.\"claude-next-7\"]\ninput = {v}\noutput = {}\n", v * 4.0)),
    ]
}

fn line(i: usize, r: &Resp) -> String {
    let ts = jiff::Timestamp::from_second(1_767_225_600 + i64::from(r.minute) * 60).unwrap();
    format!(
        r#"{{"type":"assistant","sessionId":"s{}","cwd":"/p","timestamp":"{ts}","requestId":"r{i}","uuid":"u{i}","message":{{"id":"m{i}","model":"{}","usage":{{"input_tokens":{},"output_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"cache_creation":{{"ephemeral_5m_input_tokens":{},"ephemeral_1h_input_tokens":{}}},"server_tool_use":{{"web_search_requests":{}}},"speed":"{}","inference_geo":"{}"}}}}}}"#,
        r.session,
        MODELS[r.model],
        r.input,
        r.output,
        r.cache_5m + r.cache_1h,
        r.cache_read,
        r.cache_5m,
        r.cache_1h,
        r.web,
        if r.fast { "fast" } else { "standard" },
        if r.us { "us" } else { "global" },
    )
}

fn write(root: &Path, resps: &[Resp], from: usize) {
    let dir = root.join("projects/-p");
    std::fs::create_dir_all(&dir).unwrap();
    for s in 0..4 {
        let text: String = resps
            .iter()
            .enumerate()
            .filter(|(_, r)| r.session == s)
            .map(|(i, r)| line(from + i, r) + "\n")
            .collect();
        let path = dir.join(format!("s{s}.jsonl"));
        let mut old = std::fs::read_to_string(&path).unwrap_or_default();
        old.push_str(&text);
        std::fs::write(&path, old).unwrap();
    }
}

/// What `ctm pricing update` does in its transaction: keep the new base, reprice.
fn update(store: &mut Store, base: &PriceTable, in_force: &PriceTable) -> ctm_ingest::Repriced {
    let tx = store.write().unwrap();
    price_table::store(
        &tx,
        &StoredTable {
            origin: "ctm".into(),
            version: base.base_version().into(),
            source: "test".into(),
            updated_at_ms: 0,
            body: base.to_toml(),
        },
    )
    .unwrap();
    let r = reprice(&tx, in_force).unwrap();
    tx.commit().unwrap();
    r
}

fn costs(store: &Store) -> Vec<(String, u64, bool)> {
    store
        .conn()
        .prepare("SELECT dedup_key, cost_usd, priced FROM responses ORDER BY dedup_key")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get::<_, f64>(1)?.to_bits(), r.get(2)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn repricing_twice_is_idempotent_and_db_check_stays_clean_after_an_update(
        before in prop::collection::vec(resp(), 1..30),
        later in prop::collection::vec(resp(), 1..6),
        changes in prop::collection::vec(change(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        write(&root, &before, 0);
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        let embedded = PriceTable::embedded();
        ingest(&mut store, &embedded, std::slice::from_ref(&root), None).unwrap();
        prop_assert!(derive::check(store.conn()).unwrap().is_empty());

        // The new table in force, validated and kept as a stored table would be.
        let changed = changes.iter().try_fold(PriceTable::embedded(), |t, c| t.with_overrides(c));
        prop_assume!(changed.is_ok());
        let base = PriceTable::from_stored_toml(&changed.unwrap().to_toml()).unwrap();
        let first = update(&mut store, &base, &base);
        let real = before.iter().filter(|r| MODELS[r.model] != "<synthetic>").count();
        prop_assert_eq!(first.responses, real as u64);
        let problems = derive::check(store.conn()).unwrap();
        prop_assert!(problems.is_empty(), "{:?}", problems);
        let (rows, priced) = (derived_rows(store.conn()), costs(&store));

        // Again: nothing changes, to the bit.
        let second = update(&mut store, &base, &base);
        prop_assert_eq!(second.rows_changed, 0);
        prop_assert_eq!(second.cost_changed, 0);
        prop_assert_eq!(&derived_rows(store.conn()), &rows);
        prop_assert_eq!(&costs(&store), &priced);

        // A later ingest handed the embedded table prices new responses with the one
        // kept in the store, and the derived tables still match.
        write(&root, &later, before.len());
        ingest(&mut store, &embedded, std::slice::from_ref(&root), None).unwrap();
        let problems = derive::check(store.conn()).unwrap();
        prop_assert!(problems.is_empty(), "{:?}", problems);
        for (i, r) in later.iter().enumerate() {
            let key = format!("m:m{}:r{}", before.len() + i, before.len() + i);
            let stored: Option<f64> = store
                .conn()
                .query_row("SELECT cost_usd FROM responses WHERE dedup_key = ?1", [&key], |row| row.get(0))
                .ok();
            let Some(stored) = stored else { continue }; // <synthetic>: not a response
            let ts = 1_767_225_600_000 + i64::from(r.minute) * 60_000;
            let want = base.price(&Request {
                model: MODELS[r.model],
                timestamp_ms: ts,
                input_tokens: r.input,
                output_tokens: r.output,
                cache_write_5m_tokens: r.cache_5m,
                cache_write_1h_tokens: r.cache_1h,
                cache_read_tokens: r.cache_read,
                web_search_requests: r.web,
                speed: Some(if r.fast { "fast" } else { "standard" }),
                inference_geo: Some(if r.us { "us" } else { "global" }),
            });
            // Kept as whole nano-dollars since schema version 14.
            let want = usd_of_nanos(nanos_of_usd(want.cost_usd));
            prop_assert_eq!(stored.to_bits(), want.to_bits(), "{}", key);
        }
        // Back to the embedded table: clean again, and as the first ingest priced them.
        let tx = store.write().unwrap();
        price_table::clear(&tx).unwrap();
        reprice(&tx, &embedded).unwrap();
        tx.commit().unwrap();
        prop_assert!(derive::check(store.conn()).unwrap().is_empty());
    }
}
