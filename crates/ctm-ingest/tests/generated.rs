//! Generated data roots (crates/ctm-testdata) at several seeds and sizes: what ctm
//! stores must equal the totals the generator wrote, by model, session, project and day
//! in several zones, and every bad line must be counted under its reason.

use std::collections::BTreeMap;
use std::path::Path;

use ctm_aggregate::{aggregate_days, Fact, Filter, Names, SlotRow, Sums};
use ctm_ingest::{ingest, IngestReport};
use ctm_pricing::PriceTable;
use ctm_store::derive;
use ctm_store::{OpenOptions, Store};
use ctm_testdata::{generate, grow, Expected, GenConfig, Totals};

fn totals(s: &Sums) -> Totals {
    Totals {
        responses: s.responses,
        input_tokens: s.input_tokens,
        output_tokens: s.output_tokens,
        cache_creation_tokens: s.cache_creation_tokens(),
        cache_creation_5m_tokens: s.cache_write_5m_tokens,
        cache_creation_1h_tokens: s.cache_write_1h_tokens,
        cache_read_tokens: s.cache_read_tokens,
        web_search_requests: s.web_search_requests,
    }
}

fn sum_by<K: Ord + Clone>(facts: &[Fact], key: impl Fn(&Fact) -> Option<K>) -> BTreeMap<K, Totals> {
    let mut m: BTreeMap<K, Sums> = BTreeMap::new();
    for f in facts {
        if let Some(k) = key(f) {
            m.entry(k).or_default().add(&f.sums);
        }
    }
    m.into_iter().map(|(k, s)| (k, totals(&s))).collect()
}

/// Compares the store with the generator's ground truth, field by field.
fn assert_matches(store: &Store, expected: &Expected) {
    let facts = store
        .facts_between(i64::MIN, i64::MAX, &Filter::default())
        .unwrap();
    let sessions: Vec<i64> = facts.iter().map(|f| f.session).collect();
    let names: Names = store.names(&sessions).unwrap();
    let mut all = Sums::default();
    for f in &facts {
        all.add(&f.sums);
    }
    assert_eq!(totals(&all), expected.totals, "totals");
    assert_eq!(
        sum_by(&facts, |f| names.model(f.model).map(str::to_owned)),
        expected.by_model,
        "by model"
    );
    assert_eq!(
        sum_by(&facts, |f| names.session(f.session).map(str::to_owned)),
        expected.by_session,
        "by session"
    );
    assert_eq!(
        sum_by(&facts, |f| names.project(f.project).map(str::to_owned)),
        expected.by_project,
        "by project"
    );
    let per_fact: Vec<SlotRow> = facts.iter().map(SlotRow::of_fact).collect();
    for zone in &expected.zones {
        let tz = jiff::tz::TimeZone::get(zone).unwrap();
        let days = |rows: &[SlotRow]| -> BTreeMap<String, Totals> {
            aggregate_days(rows, &tz)
                .into_iter()
                .map(|(d, agg)| (d.to_string(), totals(&agg.sums)))
                .collect()
        };
        assert_eq!(&days(&per_fact), &expected.by_day[zone], "by day in {zone}");
        // The same from the rollup, which reports in any zone read.
        let rollup = store
            .usage_rows(i64::MIN, i64::MAX, &Filter::default(), Some(&tz))
            .unwrap();
        assert_eq!(
            &days(&rollup),
            &expected.by_day[zone],
            "rollup by day in {zone}"
        );
    }
    let resets: Vec<i64> = store
        .conn()
        .prepare("SELECT resets_at FROM limit_notices ORDER BY resets_at")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(resets, expected.limit_resets, "limit resets");
    let replays: u64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM responses WHERE replay_of IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(replays, expected.sidechain_replays, "sidechain replays");
    assert!(
        derive::check(store.conn()).unwrap().is_empty(),
        "derived tables match the facts"
    );
}

fn assert_bad_lines(report: &IngestReport, expected: &Expected) {
    let ours = |k: &str| report.skipped.get(k).copied().unwrap_or(0);
    assert_eq!(
        ours("not_json"),
        expected.bad_lines["notJson"],
        "{:?}",
        report.skipped
    );
    assert_eq!(
        ours("not_object"),
        expected.bad_lines["notObject"],
        "{:?}",
        report.skipped
    );
    assert_eq!(
        ours("invalid_utf8"),
        expected.bad_lines["invalidUtf8"],
        "{:?}",
        report.skipped
    );
    assert_eq!(
        ours("invalid_usage"),
        expected.bad_lines["invalidUsage"],
        "{:?}",
        report.skipped
    );
    assert_eq!(ours("bad_timestamp"), 0);
    assert_eq!(report.synthetic_lines, expected.synthetic_errors);
}

fn ingest_root(root: &Path, db: &Path) -> (Store, IngestReport) {
    let mut store = Store::open(db, &OpenOptions::default()).unwrap();
    let report = ingest(
        &mut store,
        &PriceTable::embedded(),
        &[root.to_path_buf()],
        None,
    )
    .unwrap();
    (store, report)
}

#[test]
fn generated_roots_of_several_seeds_and_sizes_give_the_written_totals() {
    for cfg in [
        GenConfig::small(1),
        GenConfig::small(2),
        GenConfig::small(3),
        GenConfig::with_bytes(4, 12_000_000),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let expected = generate(&root, &cfg).unwrap();
        let (store, report) = ingest_root(&root, &dir.path().join("ctm.db"));
        assert_eq!(
            report.responses_added,
            expected.totals.responses + expected.sidechain_replays,
            "seed {}",
            cfg.seed
        );
        assert_bad_lines(&report, &expected);
        assert_matches(&store, &expected);
    }
}

#[test]
fn growth_is_read_incrementally_and_matches_the_new_totals() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    generate(&root, &GenConfig::small(7)).unwrap();
    let db = dir.path().join("ctm.db");
    let (store, first) = ingest_root(&root, &db);
    drop(store);
    let grown = grow(&root, 10, 20_000, 99).unwrap();
    let (store, second) = ingest_root(&root, &db);
    assert!(!second.unchanged);
    assert!(
        second.files_read <= 10,
        "only the grown files are read, not {}",
        second.files_read
    );
    assert!(
        second.bytes_read < first.bytes_read / 4,
        "{} new bytes",
        second.bytes_read
    );
    assert_eq!(second.files_restarted, 0);
    assert_matches(&store, &grown);
}

#[test]
fn growth_in_pieces_refreshes_derived_rows_exactly_as_a_rebuild_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    generate(&root, &GenConfig::small(11)).unwrap();
    let db = dir.path().join("ctm.db");
    drop(ingest_root(&root, &db));
    for (piece, (files, bytes)) in [(30, 8_000), (5, 40_000), (60, 3_000)]
        .into_iter()
        .enumerate()
    {
        let grown = grow(&root, files, bytes, 100 + piece as u64).unwrap();
        let (mut store, report) = ingest_root(&root, &db);
        assert!(report.responses_added > 0, "piece {piece} added nothing");
        assert_matches(&store, &grown);
        let tx = store.write().unwrap();
        let refreshed = ctm_store::test_support::derived_rows(&tx);
        derive::rebuild_all(&tx).unwrap();
        assert_eq!(
            refreshed,
            ctm_store::test_support::derived_rows(&tx),
            "piece {piece}"
        );
    }
}
