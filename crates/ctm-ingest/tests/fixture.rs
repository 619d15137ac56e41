//! The real, sanitized Claude Code transcripts in ../shared/fixtures must give the totals
//! documented beside them.

use std::path::PathBuf;

use ctm_ingest::ingest;
use ctm_pricing::PriceTable;
use ctm_store::{derive, OpenOptions, Store};

fn fixture_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/claude-code-real")
}

#[test]
fn real_fixture_totals_match_the_documented_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
    let prices = PriceTable::embedded();
    let report = ingest(&mut store, &prices, &[fixture_root()], None).unwrap();
    assert_eq!(report.files_seen, 20);
    assert_eq!(report.responses_added, 904);
    assert_eq!(report.skipped_total(), 0, "{:?}", report.skipped);

    let totals: (i64, i64, i64, i64, i64) = store
        .conn()
        .query_row(
            "SELECT count(*), sum(input_tokens), sum(output_tokens), \
             sum(cache_write_5m_tokens + cache_write_1h_tokens), sum(cache_read_tokens) FROM billed_responses",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(totals, (904, 9_165, 195_801, 2_079_960, 77_423_878));
    assert!(derive::check(store.conn()).unwrap().is_empty());

    let again = ingest(&mut store, &prices, &[fixture_root()], None).unwrap();
    assert!(again.unchanged);
    assert_eq!(again.responses_added, 0);
}
