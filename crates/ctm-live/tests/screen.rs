//! The monitor's screen under a fixed clock, on the real fixture: wide and narrow, with
//! and without an active block and official figures.

use std::path::PathBuf;

use ctm_analytics::{live_view, LiveQuery, LiveView, Plan, Zone};
use ctm_live::Screen;
use ctm_store::rate_limits::{self, LimitWindow, RateLimitReading};
use ctm_store::{OpenOptions, Store};
use jiff::civil::Weekday;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

/// 2026-02-12T21:30:00Z: the fixture's last block (20:00 to 01:00) is active.
const NOW_MS: i64 = 1_770_931_800_000;

fn fixture_store(dir: &tempfile::TempDir) -> Store {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/claude-code-real");
    let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
    let prices = ctm_pricing::PriceTable::embedded();
    ctm_ingest::ingest(&mut store, &prices, &[root], None).unwrap();
    store
}

fn record_official(store: &mut Store) {
    let tx = store.write().unwrap();
    let five = RateLimitReading::new(LimitWindow::FiveHour, 63.0, Some(1_770_944_400)).unwrap();
    let seven = RateLimitReading::new(LimitWindow::SevenDay, 21.5, Some(1_771_400_000)).unwrap();
    rate_limits::record(&tx, &[five, seven], Some("s"), NOW_MS - 120_000).unwrap();
    tx.commit().unwrap();
}

fn view(store: &Store, now_ms: i64, plan: Plan) -> LiveView {
    let q = LiveQuery {
        zone: Zone::utc(),
        now_ms,
        plan,
        recent_sessions: 5,
        start_of_week: Weekday::Monday,
    };
    live_view(store, &q).unwrap()
}

fn draw(view: &LiveView, width: u16) -> Terminal<TestBackend> {
    let screen = Screen {
        view,
        status: "12:00:00 ingest found nothing new: 10 files watched",
        interactive: true,
    };
    let height = screen.height(width);
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| f.render_widget(screen, f.area())).unwrap();
    t
}

#[test]
fn wide_and_narrow_with_official_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = fixture_store(&dir);
    record_official(&mut store);
    let v = view(&store, NOW_MS, Plan::Max5);
    insta::assert_snapshot!("wide_max5", draw(&v, 120).backend());
    insta::assert_snapshot!("narrow_max5", draw(&v, 72).backend());
}

#[test]
fn without_an_active_block_or_official_figures() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture_store(&dir);
    // Two days later: no active block; the screen says when the last one was.
    let v = view(&store, NOW_MS + 2 * 86_400_000, Plan::Pro);
    assert!(v.block.is_none());
    let last = v.last_block.as_ref().expect("the last block");
    assert_eq!(last.start_time, "2026-02-12T20:00:00.000+00:00");
    insta::assert_snapshot!("wide_idle", draw(&v, 110).backend());
}

#[test]
fn an_idle_hour_in_the_active_block_burns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture_store(&dir);
    // 22:30: the block (20:00 to 01:00) is active, its last response was at 21:03.
    let v = view(&store, NOW_MS + 3_600_000, Plan::Max5);
    let b = v.block.as_ref().expect("still active");
    let rate = b.block.burn_rate.as_ref().unwrap();
    assert!(rate.is_idle());
    for m in &b.meters {
        assert_eq!(m.per_minute, 0.0);
        assert_eq!(m.projected_at_reset, m.used, "{:?}", m.kind);
        assert_eq!(m.limit_reached_ms, None, "{:?}", m.kind);
    }
    insta::assert_snapshot!("wide_idle_hour", draw(&v, 120).backend());
}

#[test]
fn bars_turn_yellow_at_half_and_red_at_four_fifths() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture_store(&dir);
    // max20: tokens 23,544 of 220,000 (11%), cost $8.56 of $140 (6%); pro: 124% and 48%;
    // max5: cost $8.56 of $35 (24%), messages 122 of 1,000.
    let color_of_bar = |plan: Plan, row: u16| -> Color {
        let t = draw(&view(&store, NOW_MS, plan), 120);
        let buf = t.backend().buffer();
        // The bar starts after the 10-column label, inside the border.
        buf[(11, row)].fg
    };
    // Rows: 0 header, 1 border, 2 window, 3 tokens, 4 cost, 5 messages.
    assert_eq!(
        color_of_bar(Plan::Pro, 3),
        Color::Red,
        "124% of pro's tokens"
    );
    assert_eq!(
        color_of_bar(Plan::Pro, 4),
        Color::Green,
        "48% of pro's cost"
    );
    assert_eq!(color_of_bar(Plan::Max20, 3), Color::Green);
    // Messages: 122 of pro's 250 is 49%: still green; the custom plan is computed.
    assert_eq!(color_of_bar(Plan::Pro, 5), Color::Green);
    let v = view(&store, NOW_MS, Plan::Pro);
    let shares: Vec<f64> = v
        .block
        .as_ref()
        .unwrap()
        .meters
        .iter()
        .map(|m| m.share)
        .collect();
    assert!(shares[0] > 1.0 && shares[1] < 0.5, "{shares:?}");
}

#[test]
fn the_active_block_matches_ctm_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture_store(&dir);
    let q = ctm_analytics::BlocksQuery {
        report: ctm_analytics::ReportQuery::in_zone(Zone::utc()),
        now_ms: NOW_MS,
        token_limit: None,
        active_only: true,
        recent_only: false,
    };
    let report = ctm_analytics::blocks_report(&store, &q).unwrap();
    let v = view(&store, NOW_MS, Plan::Pro);
    assert_eq!(report.blocks.len(), 1);
    assert_eq!(&v.block.unwrap().block, &report.blocks[0]);
}
