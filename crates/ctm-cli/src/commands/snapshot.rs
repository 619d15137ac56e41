//! `ctm snapshot`: record each data root's `stats-cache.json` when it changed.
//! `ctm stats`: Claude Code's own lifetime figures (the latest snapshot) beside the
//! store's, and the days only Claude Code still knows about.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::Zone;
use ctm_ingest::{take_snapshots, SnapshotResult};
use ctm_pricing::normalize_model;
use ctm_store::snapshots::{self, Outcome, StatsCache, Tokens};
use ctm_store::Store;
use serde::Serialize;

use crate::cli::{SnapshotArgs, StatsArgs};
use crate::context::{tilde, Context};
use crate::output::{self, int, num, print_json, text, usd, Out, ReportTable};

/// The label every day known only from the stats-cache carries.
const EARLIER_NOTE: &str = "from Claude Code's stats-cache (transcripts already deleted)";

pub fn run_snapshot(ctx: &Context, args: &SnapshotArgs) -> Result<ExitCode> {
    let roots = ctx.existing_roots();
    let prices = ctx.prices()?;
    let mut store = ctx.open_store()?;
    let results = take_snapshots(&mut store, &prices, &roots)?;
    // A skipped file is bad input: said in its one line, the other roots still recorded,
    // and the exit code says so (1, like `ctm db check` finding differences).
    let code = if results
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Skipped { .. }))
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if args.json {
        print_json(&results)?;
        return Ok(code);
    }
    let mut out = output::out();
    for r in &results {
        out.line(describe(r))?;
    }
    out.finish()?;
    Ok(code)
}

fn describe(r: &SnapshotResult) -> String {
    let path = tilde(&r.path);
    match &r.outcome {
        Outcome::Taken {
            id,
            version,
            totals,
            total_cost_usd,
            cache_hit_rate,
            models,
            unpriced,
        } => {
            let mut line = format!(
                "snapshot {id} taken: {path} (version {version}, {} models): {} input, {} output, \
                 {} cache write, {} cache read tokens, {} at ctm's prices, cache hit rate {:.1}%",
                models.len(),
                int(totals.input),
                int(totals.output),
                int(totals.cache_write),
                int(totals.cache_read),
                usd(*total_cost_usd, unpriced.is_empty()),
                cache_hit_rate * 100.0
            );
            if !unpriced.is_empty() {
                line.push_str(&format!(
                    "; * no price for {} (counted as $0)",
                    unpriced.join(", ")
                ));
            }
            line
        }
        Outcome::Unchanged { id } => format!("unchanged since snapshot {id}: {path}"),
        Outcome::Skipped { reason } => format!("skipped {path}: {reason}"),
        Outcome::Absent => format!("no {} in {}", snapshots::FILE_NAME, tilde(&r.root)),
    }
}

/// Token counts with a sign, for differences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Difference {
    input: i64,
    output: i64,
    cache_read: i64,
    cache_write: i64,
    total: i64,
}

impl Difference {
    /// ctm minus Claude Code.
    fn of(ctm: &Tokens, cc: &Tokens) -> Difference {
        let d = |a: u64, b: u64| a as i64 - b as i64;
        Difference {
            input: d(ctm.input, cc.input),
            output: d(ctm.output, cc.output),
            cache_read: d(ctm.cache_read, cc.cache_read),
            cache_write: d(ctm.cache_write, cc.cache_write),
            total: d(ctm.total(), cc.total()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelComparison {
    /// Normalised, without a date suffix: the key both sides are grouped by.
    model: String,
    claude_code: Tokens,
    ctm: Tokens,
    /// ctm minus Claude Code.
    difference: Difference,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct EarlierDay {
    date: String,
    message_count: u64,
    session_count: u64,
    tool_call_count: u64,
    /// `tokensByModel` as written; what it counts is `tokensMeaning`.
    tokens_by_model: BTreeMap<String, u64>,
    tokens: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsReport {
    snapshot_id: i64,
    captured_at: String,
    source_mtime: Option<String>,
    version: Option<u32>,
    last_computed_date: Option<String>,
    models: Vec<ModelComparison>,
    /// The store's first billed response, as a day in the store's zone.
    first_fact_date: Option<String>,
    zone: String,
    note: &'static str,
    /// `input+output` or `incl. cache` (dailyModelTokensVersion 5 and later).
    tokens_meaning: &'static str,
    earlier_days: Vec<EarlierDay>,
}

pub fn run_stats(ctx: &Context, args: &StatsArgs) -> Result<ExitCode> {
    let store = ctx.report_store()?;
    let Some(snap) = snapshots::latest(store.conn())? else {
        let hint = "no stats-cache snapshot yet: run `ctm snapshot` to record Claude Code's stats-cache.json, then `ctm stats`";
        if args.json {
            print_json(&serde_json::json!({ "snapshot": null, "hint": hint }))?;
        } else {
            let mut out = output::out();
            out.line(format_args!("{hint}."))?;
            out.finish()?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    // Parsed when it was recorded; a failure now would only mean no daily figures.
    let cache = StatsCache::parse(snap.raw_json.as_bytes()).ok();
    let zone = store_zone(&store)?;
    let first_fact_date = snapshots::first_billed_ms(store.conn())?.map(|ms| zone.zoned(ms).date());
    // Days whose responses were pruned are still the store's (their daily rows are kept).
    let first_kept_day: Option<jiff::civil::Date> = store
        .conn()
        .query_row("SELECT min(date) FROM daily_aggregates", [], |r| {
            r.get::<_, Option<String>>(0)
        })?
        .and_then(|d| d.parse().ok());
    let first_fact_date = match (first_fact_date, first_kept_day) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(h) = ctm_store::horizon::facts_horizon(store.conn())? {
        eprintln!(
            "ctm: warning: responses before {} were pruned (ctm db prune --facts-older-than); \
             ctm's per-model totals below count only what came after.",
            zone.zoned(h).date()
        );
    }

    let mut report = StatsReport {
        snapshot_id: snap.id,
        captured_at: snap.captured_at.clone(),
        source_mtime: snap.source_mtime.clone(),
        version: cache.as_ref().map(|c| c.version),
        last_computed_date: cache.as_ref().and_then(|c| c.last_computed_date.clone()),
        models: compare_models(&store, &snap.models)?,
        first_fact_date: first_fact_date.map(|d| d.to_string()),
        zone: zone.label(),
        note: EARLIER_NOTE,
        tokens_meaning: cache
            .as_ref()
            .map(|c| c.daily_tokens_meaning().label())
            .unwrap_or("input+output"),
        earlier_days: Vec::new(),
    };
    if let Some(cache) = &cache {
        report.earlier_days = earlier_days(cache, first_fact_date);
    }
    if args.json {
        print_json(&report)?;
    } else {
        let mut out = output::out();
        print_report(&report, &snap.total_cost_usd, &mut out)?;
        out.finish()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The zone the store keeps its days in (`system_config.timezone`).
fn store_zone(store: &Store) -> Result<Zone> {
    let name = ctm_store::config::get(store.conn(), "timezone")?;
    Ok(Zone::resolve(name.as_deref()).unwrap_or_else(|_| Zone::utc()))
}

/// The snapshot's models beside the store's billed totals, grouped by the same name.
fn compare_models(store: &Store, snapshot: &[snapshots::ModelRow]) -> Result<Vec<ModelComparison>> {
    let mut by_model: BTreeMap<String, (Tokens, Tokens)> = BTreeMap::new();
    for m in snapshot {
        let e = by_model.entry(m.model_name.clone()).or_default();
        add(&mut e.0, &m.tokens);
    }
    for (model, t) in snapshots::billed_by_model(store.conn())? {
        // `<synthetic>` error lines and the like carry no usage: not a model to compare.
        if t.total() == 0 {
            continue;
        }
        let name = normalize_model(&model);
        let e = by_model
            .entry(snapshots::strip_date(&name).to_owned())
            .or_default();
        add(&mut e.1, &t);
    }
    Ok(by_model
        .into_iter()
        .map(|(model, (cc, ours))| ModelComparison {
            model,
            claude_code: cc,
            ctm: ours,
            difference: Difference::of(&ours, &cc),
        })
        .collect())
}

fn add(a: &mut Tokens, b: &Tokens) {
    a.input += b.input;
    a.output += b.output;
    a.cache_read += b.cache_read;
    a.cache_write += b.cache_write;
}

/// Days of `dailyActivity` and `dailyModelTokens` before the first fact (all of them
/// when the store has none).
fn earlier_days(cache: &StatsCache, first: Option<jiff::civil::Date>) -> Vec<EarlierDay> {
    let before = |date: &str| match (first, date.parse::<jiff::civil::Date>()) {
        (_, Err(_)) => false,
        (None, Ok(_)) => true,
        (Some(f), Ok(d)) => d < f,
    };
    let mut days: BTreeMap<String, EarlierDay> = BTreeMap::new();
    for a in cache.daily_activity.iter().filter(|a| before(&a.date)) {
        let d = days.entry(a.date.clone()).or_default();
        d.message_count += a.message_count;
        d.session_count += a.session_count;
        d.tool_call_count += a.tool_call_count;
    }
    for t in cache.daily_model_tokens.iter().filter(|t| before(&t.date)) {
        let d = days.entry(t.date.clone()).or_default();
        for (model, n) in &t.tokens_by_model {
            *d.tokens_by_model.entry(model.clone()).or_default() += n;
            d.tokens += n;
        }
    }
    days.into_iter()
        .map(|(date, mut d)| {
            d.date = date;
            d
        })
        .collect()
}

fn signed(n: i64) -> String {
    match n {
        0 => "0".into(),
        n if n > 0 => format!("+{}", int(n as u64)),
        n => format!("-{}", int(n.unsigned_abs())),
    }
}

fn print_report(r: &StatsReport, cc_cost: &f64, out: &mut Out) -> Result<()> {
    out.line(format_args!(
        "Claude Code's stats-cache (snapshot {}, captured {} UTC{}) beside the store's billed responses; \
         difference = ctm - Claude Code. Claude Code's lifetime tokens cost {} at ctm's prices.",
        r.snapshot_id,
        r.captured_at,
        r.last_computed_date
            .as_deref()
            .map(|d| format!(", computed by Claude Code on {d}"))
            .unwrap_or_default(),
        usd(*cc_cost, true)
    ))?;
    let mut t = ReportTable::new(vec![
        text("Model", 0),
        text("Figures", 0),
        num("Input", 2),
        num("Output", 2),
        num("Cache write", 3),
        num("Cache read", 3),
        num("Total", 0),
    ]);
    for m in &r.models {
        let row = |name: &str, label: &str, t: &Tokens| {
            vec![
                name.to_owned(),
                label.to_owned(),
                int(t.input),
                int(t.output),
                int(t.cache_write),
                int(t.cache_read),
                int(t.total()),
            ]
        };
        t.row(row(&m.model, "Claude Code", &m.claude_code));
        t.row(row("", "ctm", &m.ctm));
        let d = &m.difference;
        t.row(vec![
            String::new(),
            "difference".to_owned(),
            signed(d.input),
            signed(d.output),
            signed(d.cache_write),
            signed(d.cache_read),
            signed(d.total),
        ]);
    }
    out.report(&t)?;
    let first = match &r.first_fact_date {
        Some(d) => format!("before the store's first response ({d}, {})", r.zone),
        None => "(the store has no responses yet)".to_owned(),
    };
    if r.earlier_days.is_empty() {
        out.line(format_args!("No days in the snapshot {first}."))?;
        return Ok(());
    }
    out.line(format_args!("Days {first}, {EARLIER_NOTE}:"))?;
    let mut t = ReportTable::new(vec![
        text("Date", 0),
        num("Messages", 1),
        num("Sessions", 2),
        num("Tool calls", 3),
        num(format!("Tokens ({})", r.tokens_meaning), 0),
    ]);
    for d in &r.earlier_days {
        t.row(vec![
            d.date.clone(),
            int(d.message_count),
            int(d.session_count),
            int(d.tool_call_count),
            int(d.tokens),
        ]);
    }
    out.report(&t)?;
    Ok(())
}
