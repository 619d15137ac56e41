//! The ingest stage: brings the store up to date from Claude Code's transcripts, in
//! the steps [`ingest`] names:
//!
//! 1. **Scan** ([`scan::Scan`]): the stat list the last complete walk recorded, checked
//!    without a lock; a walk of the roots when it does not hold.
//! 2. **Nothing changed?** Done, without a lock or a write.
//! 3. **Lock**: the store's single write lock; the scan is confirmed under it (another
//!    process may just have ingested).
//! 4. **Plan** ([`plan::Plan`]): the bytes after each cursor, each session's files
//!    together, the largest session first.
//! 5. **Read and write**: files are read on every core while this thread writes each
//!    session's sightings as they come, in plan order (whichever read finishes first),
//!    with each file's cursor: the sightings a session's files share merged first, then
//!    merged with the stored rows by `Response::merge`, so a later file's better
//!    sighting of a response already written is merged exactly.
//! 6. **List**: the new stat list, with the folder listings the next walk reuses.
//! 7. **Derive**: the rollup and the tables derived from it.
//! 8. **Commit**: all of it in that one transaction, so a crash at any point leaves the
//!    store as it was before the run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use ctm_model::{ClaudeCodeCost, Response};
use ctm_pricing::{PriceTable, Request};
use ctm_source::{read_transcript, FileRead, LineStats, SkipReason};
use ctm_store::claude_costs::{self, CostSource};
use ctm_store::cursors::{Cursor, CursorWriter};
use ctm_store::facts::{self, FactWriter, Pricing};
use ctm_store::{config, derive, folders, now_ms, Store, StoreError, Transaction};
use serde::Serialize;

mod plan;
mod prices;
mod reprice;
mod scan;
mod snapshots;
pub use prices::prices_in_force;
pub use reprice::{reprice, Repriced};
pub use snapshots::{price_lifetime, take_snapshots, taken, SnapshotResult};

/// From this many new bytes on, a run is a large write (a first ingest, or a long
/// absence) and gets a large page cache.
const LARGE_READ_BYTES: u64 = 64 << 20;

/// Receives progress while files are read (the CLI draws a bar; tests pass nothing).
pub trait Progress: Sync {
    /// Called once before reading, with the number of bytes to read.
    fn start(&self, total_bytes: u64);
    /// Called after each file with the bytes it had to read.
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the price table kept in the store cannot be used ({0}); `ctm pricing reset` goes back to the embedded table")]
    StoredPrices(String),
}

/// A file or folder that could not be read this run (its cursor is left alone).
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

/// What one ingest run did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    pub roots: Vec<PathBuf>,
    pub files_seen: u64,
    pub files_read: u64,
    /// Files read again from the start because they shrank or were replaced.
    pub files_restarted: u64,
    /// Files with a cursor that are no longer on disk (their responses stay).
    pub files_missing: u64,
    pub bytes_read: u64,
    pub lines_read: u64,
    pub usage_lines: u64,
    pub responses_added: u64,
    /// Stored responses whose counts changed (a later line of the same response).
    pub responses_updated: u64,
    /// Responses found to be sidechain replays (kept, not billed).
    pub sidechain_replays: u64,
    /// Responses read again from before the prune horizon (`ctm db prune
    /// --facts-older-than`): their days are kept history, so they are not added back.
    pub responses_before_horizon: u64,
    pub synthetic_lines: u64,
    pub limit_notices_added: u64,
    /// Claude Code's `cost-state` lines read, and the session figures they changed.
    pub cost_state_lines: u64,
    pub claude_costs_recorded: u64,
    pub skipped: BTreeMap<&'static str, u64>,
    /// Models in the store without a price, with their response counts (their tokens
    /// count; their cost is unknown, never silently zero).
    pub unpriced_models: BTreeMap<String, u64>,
    pub problems: Vec<Problem>,
    pub symlink_loops: u64,
    /// Folders listed from disk this run.
    pub folders_listed: u64,
    /// Folders whose listing from an earlier run was still good (their stat unchanged).
    pub folders_reused: u64,
    /// True when no transcript changed since the last run (nothing was written).
    pub unchanged: bool,
    /// True when that was known from the stat list alone: every folder and transcript
    /// the last complete walk met still had its stat, so no folder was walked.
    pub stat_list_held: bool,
    /// True when the stat list found that only transcripts grew (every other stat
    /// held), so no folder was walked either.
    pub stat_list_grown: bool,
    pub elapsed_ms: u64,
    /// Where the time went, phase by phase.
    pub timings: Timings,
}

/// Milliseconds per phase of one run. Reading and writing overlap (files are read on
/// every core while they are written), so their figures add up to more than their time.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Finding transcripts and their stat facts, and comparing with the cursors.
    pub walk_ms: u64,
    /// Waiting for the store's write lock (another ctm was writing).
    pub lock_ms: u64,
    /// From the first read to the last: reading new bytes, filtering and parsing lines,
    /// folding sightings per file (on every core, while earlier files are written).
    pub read_parse_ms: u64,
    /// Time the writes waited for a file's read, all told.
    pub wait_ms: u64,
    /// Pricing, merging and writing facts and cursors as files come, then building the
    /// fact table's indexes, settling replays, and saving the folder listings and the
    /// stat list.
    pub write_ms: u64,
    /// Writing the rollup and refreshing the tables derived from it.
    pub derive_ms: u64,
    pub commit_ms: u64,
}

fn ms_since(t: &mut Instant) -> u64 {
    let ms = t.elapsed().as_millis() as u64;
    *t = Instant::now();
    ms
}

impl IngestReport {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// Prices one response and works out what caching saved it.
pub fn price_response(table: &PriceTable, r: &Response) -> Pricing {
    let u = &r.usage;
    let req = Request {
        model: r.model.as_deref().unwrap_or(""),
        timestamp_ms: r.timestamp_ms,
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_write_5m_tokens: u.cache_write_5m_tokens,
        cache_write_1h_tokens: u.cache_write_1h_tokens,
        cache_read_tokens: u.cache_read_tokens,
        web_search_requests: u.web_search_requests,
        speed: r.speed.as_deref(),
        inference_geo: r.inference_geo.as_deref(),
    };
    let p = table.price(&req);
    let cache_savings_usd = if p.priced && u.cache_creation_tokens() + u.cache_read_tokens > 0 {
        p.uncached_cost_usd - p.cost_usd
    } else {
        0.0
    };
    Pricing {
        cost_usd: p.cost_usd,
        priced: p.priced,
        price_model: p.model_key,
        price_version: table.version().to_owned(),
        long_context: p.banded,
        multiplier: p.multiplier,
        cache_savings_usd,
    }
}

/// How many bytes of files may be read ahead of the one being written: the parsed
/// sightings waiting their turn stay a few MB however large the history.
const READ_AHEAD_BYTES: u64 = 64 << 20;

/// Brings the store up to date from `roots`.
pub fn ingest(
    store: &mut Store,
    prices: &PriceTable,
    roots: &[PathBuf],
    progress: Option<&dyn Progress>,
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let mut phase = Instant::now();
    let mut report = IngestReport {
        roots: roots.to_vec(),
        ..IngestReport::default()
    };
    // 1. Scan, 2. nothing changed?
    let scan = scan::Scan::take(store, roots)?;
    if scan.is_unchanged(store, roots)? {
        scan.report_into(&mut report);
        report.unchanged = true;
        report.timings.walk_ms = ms_since(&mut phase);
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }
    report.timings.walk_ms = ms_since(&mut phase);
    // 3. Lock.
    let tx = store.write()?;
    let mut flush = ctm_store::flush_behind(&tx);
    report.timings.lock_ms = ms_since(&mut phase);
    // Under the lock: the table in force may have changed since the caller loaded it.
    let prices = prices_in_force(&tx, prices)?;
    let prices = prices.as_ref();
    let scan = scan.under_lock(&tx, roots)?;
    scan.report_into(&mut report);
    // 4. Plan.
    let plan = plan::Plan::new(roots, scan.files(), &scan.cursors(&tx)?);
    if plan.new_bytes() >= LARGE_READ_BYTES {
        ctm_store::use_large_cache(&tx)?;
    }
    let now = now_ms();
    let stored_base = scan.stored_base(&tx)?;
    let mut list = None;
    let (touched, written, stats, costs) = rayon::in_place_scope(|scope| {
        // The new stat list is recorded on another core meanwhile: it needs only the
        // scan and the stored list's base (it is not kept if a read failed).
        scope.spawn(|_| list = scan.stat_list(roots, &stored_base));
        // 5. Read and write.
        let mut writer = FactWriter::new(&tx)?;
        let (stats, mut costs) = read_and_write(
            &tx,
            &mut writer,
            &plan,
            prices,
            progress,
            now,
            &mut report,
            &mut phase,
        )?;
        // A cost-state line with no response before it in its read covers what the
        // store held of its session before this run (its lines came first in the file).
        for c in costs.iter_mut().filter(|c| c.observed_at_ms.is_none()) {
            c.observed_at_ms = writer.last_response_before_run(&c.session_id)?;
        }
        // The facts are written: their pages go to disk while the indexes are built,
        // and the indexes' while the derived tables are.
        if let Some(f) = flush.as_mut() {
            f.start();
        }
        let (touched, written) = writer.finish()?;
        if let Some(f) = flush.as_mut() {
            f.start();
        }
        Ok::<_, IngestError>((touched, written, stats, costs))
    })?;
    for c in &costs {
        if claude_costs::record(&tx, CostSource::CostState, c, now)? {
            report.claude_costs_recorded += 1;
        }
    }
    // 6. List: after the cursor writes (their writer dropped the old list's header).
    // With no problem, each found file's cursor now holds the stat the scan met it with.
    let cursors = CursorWriter::new(&tx)?;
    for path in &plan.gone {
        cursors.mark_missing(path, now)?;
        report.files_missing += 1;
    }
    // A file that could not be read keeps its old cursor: the list is kept for its
    // folder listings only.
    if !report.problems.is_empty() {
        if let Some(list) = list.as_mut() {
            list.mark_incomplete();
        }
    }
    folders::save_stat_list(
        &tx,
        list.as_ref().map(|rows| folders::StatListRows {
            header: &rows.header,
            overlay: &rows.overlay,
            base: rows.base.as_deref(),
        }),
    )?;
    report.timings.write_ms += ms_since(&mut phase);
    // 7. Derive.
    derive::close_finished_blocks(&tx, now)?;
    let changed = !touched.is_empty();
    derive::refresh(&tx, touched, now)?;
    if changed {
        config::set_raw(&tx, "last_sync_time", &ctm_model::utc::format(now))?;
    }
    report.unpriced_models = facts::unpriced_models(&tx)?.into_iter().collect();
    report.timings.derive_ms = ms_since(&mut phase);
    // 8. Commit, once the syncs behind are done (the commit syncs what is left).
    drop(flush);
    tx.commit().map_err(StoreError::from)?;
    // The transaction, which borrowed the store, is gone: a new store's first ingest
    // has committed, and readers can stop waiting for writers.
    store.use_wal()?;
    report.timings.commit_ms = ms_since(&mut phase);

    report.lines_read = stats.lines;
    report.usage_lines = stats.usage_lines;
    report.synthetic_lines = stats.synthetic_lines;
    report.cost_state_lines = stats.cost_state_lines;
    report.skipped = SkipReason::ALL
        .iter()
        .map(|&r| (r.name(), stats.skipped(r)))
        .filter(|&(_, n)| n > 0)
        .collect();
    report.responses_added = written.inserted;
    report.responses_updated = written.updated;
    report.sidechain_replays = written.replays;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Reads the planned files on every core and writes each one's sightings, notices and
/// cursor on this thread as it comes, in plan order. Returns the lines' counts and the
/// latest of Claude Code's own figures per session (the later by
/// [`ClaudeCodeCost::is_later_than`], so the order files come in does not matter).
#[allow(clippy::too_many_arguments)]
fn read_and_write(
    tx: &Transaction,
    writer: &mut FactWriter,
    plan: &plan::Plan,
    prices: &PriceTable,
    progress: Option<&dyn Progress>,
    now: i64,
    report: &mut IngestReport,
    phase: &mut Instant,
) -> Result<(LineStats, Vec<ClaudeCodeCost>), IngestError> {
    let horizon = ctm_store::horizon::facts_horizon(tx)?;
    let price = |r: &Response| price_response(prices, r);
    let cursors = CursorWriter::new(tx)?;
    let freer = freer();
    let mut stats = LineStats::default();
    let mut costs: Vec<ClaudeCodeCost> = Vec::new();
    if let Some(p) = progress {
        p.start(plan.new_bytes());
    }
    let reading = Instant::now();
    let mut read_ms = 0;
    let mut waited = std::time::Duration::ZERO;
    let mut asked = Instant::now();
    let work = &plan.work;
    // The files read of the session being written (see `merge_shared`), their new bytes,
    // and the session's index in `plan.sessions`.
    let mut held: Vec<(usize, (FileRead, Vec<Pricing>))> = Vec::new();
    let mut held_bytes = 0;
    let mut session = 0;
    ctm_source::cores::in_order(
        work.len(),
        |i| work[i].new_bytes(),
        READ_AHEAD_BYTES,
        |i| {
            let w = &work[i];
            // Sorted and priced here, on the reading core: the writer only writes.
            let read = read_transcript(&w.file.path, w.resume.as_ref()).map(|mut read| {
                read.responses.sort_unstable_by(|a, b| {
                    (a.timestamp_ms, &a.key).cmp(&(b.timestamp_ms, &b.key))
                });
                let priced: Vec<Pricing> = read.responses.iter().map(|r| price(r)).collect();
                (read, priced)
            });
            if let Some(p) = progress {
                p.advance(w.new_bytes());
            }
            read
        },
        |i, read| -> Result<(), IngestError> {
            waited += asked.elapsed();
            if i + 1 == work.len() {
                read_ms = reading.elapsed().as_millis() as u64;
            }
            match read {
                Ok(read) => {
                    held_bytes += work[i].new_bytes();
                    held.push((i, read));
                }
                Err(e) => report.problems.push(Problem {
                    path: work[i].file.path.display().to_string(),
                    reason: e.to_string(),
                }),
            }
            while plan.sessions[session].end <= i {
                session += 1;
            }
            // A session's files are written once its last one is read, or sooner when
            // they add up to more than a read-ahead's worth (memory stays bounded: the
            // writer merges what comes later into the stored rows).
            if i + 1 == plan.sessions[session].end || held_bytes >= READ_AHEAD_BYTES {
                held_bytes = 0;
                merge_shared(&mut held, horizon, &price);
                for (i, (mut read, priced)) in held.drain(..) {
                    for c in std::mem::take(&mut read.claude_costs) {
                        match costs.iter_mut().find(|k| k.session_id == c.session_id) {
                            Some(kept) if c.is_later_than(kept) => *kept = c,
                            Some(_) => {}
                            None => costs.push(c),
                        }
                    }
                    write_file(
                        tx,
                        writer,
                        &cursors,
                        &work[i],
                        read,
                        priced,
                        &price,
                        freer.as_ref(),
                        horizon,
                        now,
                        &mut stats,
                        report,
                    )?;
                }
            }
            asked = Instant::now();
            Ok(())
        },
    )?;
    if let Some(p) = progress {
        p.finish();
    }
    report.timings.read_parse_ms = read_ms.max(if work.is_empty() { 0 } else { 1 });
    report.timings.wait_ms = waited.as_millis() as u64;
    report.timings.write_ms = ms_since(phase).saturating_sub(report.timings.wait_ms);
    Ok((stats, costs))
}

/// Merges the sightings of one response that several files of a session hold (a
/// subagent's responses, echoed in its parent's progress lines) into the first file's
/// sighting, repriced when the merge changed it: the writer then meets each response
/// once, where a second sighting of a written one costs it a read back of the row. The
/// result is the row the writer's own merge would store (`Response::merge` does not
/// depend on the order). Sightings the horizon leaves out are neither merged nor merged
/// into: the writer skips them on their own.
fn merge_shared(
    held: &mut [(usize, (FileRead, Vec<Pricing>))],
    horizon: Option<i64>,
    price: &dyn Fn(&Response) -> Pricing,
) {
    if held.len() < 2 {
        return;
    }
    let hasher = foldhash::fast::FixedState::default();
    // The first sighting of each key: its file (in `held`), and its place there.
    let mut first: foldhash::HashMap<u64, (usize, usize)> = Default::default();
    for f in 0..held.len() {
        let (read, priced) = &mut held[f].1;
        let sightings = std::mem::take(&mut read.responses);
        let pricings = std::mem::take(priced);
        let mut kept = (
            Vec::with_capacity(sightings.len()),
            Vec::with_capacity(pricings.len()),
        );
        for (r, p) in sightings.into_iter().zip(pricings) {
            if horizon.is_some_and(|h| r.timestamp_ms < h) {
                kept.0.push(r);
                kept.1.push(p);
                continue;
            }
            let h = std::hash::BuildHasher::hash_one(&hasher, r.key.as_str());
            match first.get(&h) {
                // A file's own keys are unique: an earlier file's sighting, unless the
                // hash is another key's (then both stay, for the writer to tell apart).
                Some(&(at, j)) if at != f && held[at].1 .0.responses[j].key == r.key => {
                    let (earlier, earlier_priced) = &mut held[at].1;
                    if earlier.responses[j].merge(*r) {
                        earlier_priced[j] = price(&earlier.responses[j]);
                    }
                }
                Some(_) => {
                    kept.0.push(r);
                    kept.1.push(p);
                }
                None => {
                    first.insert(h, (f, kept.0.len()));
                    kept.0.push(r);
                    kept.1.push(p);
                }
            }
        }
        let (read, priced) = &mut held[f].1;
        (read.responses, *priced) = kept;
    }
}

/// Where a file's sightings go once written, to be freed.
type Freer = std::sync::mpsc::SyncSender<(Vec<Box<Response>>, Vec<Pricing>)>;

/// A thread that frees what it is sent. A first run waits for the writing thread, and
/// freeing a file's sightings (allocated on the reading cores) cost it about a tenth of
/// its time. The channel holds a few files: a slow freer slows the writer, never
/// lets memory grow. `None` when no thread can be made: the writer frees them itself.
fn freer() -> Option<Freer> {
    let (send, written) = std::sync::mpsc::sync_channel(4);
    std::thread::Builder::new()
        .spawn(move || written.into_iter().for_each(drop))
        .ok()?;
    Some(send)
}

/// Writes one file's read: its sightings (in time order, as far as the horizon keeps
/// them) with their pricings (`priced`, one per sighting), its limit notices and its
/// cursor.
#[allow(clippy::too_many_arguments)]
fn write_file(
    tx: &Transaction,
    writer: &mut FactWriter,
    cursors: &CursorWriter,
    w: &plan::Work,
    mut read: FileRead,
    priced: Vec<Pricing>,
    price: &dyn Fn(&Response) -> Pricing,
    freer: Option<&Freer>,
    horizon: Option<i64>,
    now: i64,
    stats: &mut LineStats,
    report: &mut IngestReport,
) -> Result<(), IngestError> {
    report.files_read += 1;
    report.files_restarted += u64::from(read.restarted);
    report.bytes_read += read.bytes_read();
    stats.add(&read.stats);
    let next = read.resume();
    for (r, pricing) in read.responses.iter().zip(&priced) {
        if horizon.is_some_and(|h| r.timestamp_ms < h) {
            // Kept history: a transcript read again from 0 does not add it back.
            report.responses_before_horizon += 1;
            continue;
        }
        writer.upsert_priced(r, pricing, price)?;
    }
    // Freed on another thread: this one, which writes every file in turn, is the one a
    // first run waits for.
    if let Some(freer) = freer {
        let _ = freer.send((std::mem::take(&mut read.responses), priced));
    }
    for n in &read.limit_notices {
        if facts::record_limit_notice(tx, n.timestamp_ms, n.resets_at_s, n.session_id.as_deref())? {
            report.limit_notices_added += 1;
        }
    }
    let lines_before = if !read.restarted && w.offset() > 0 {
        w.lines_before
    } else {
        0
    };
    cursors.save(
        &Cursor {
            path: scan::path_key(&w.file.path).to_vec(),
            dev: w.file.dev,
            ino: w.file.ino,
            // The size and mtime seen before reading: a file that grew meanwhile differs
            // next time and its new bytes are read then.
            size: w.file.size,
            mtime_ns: w.file.mtime_ns,
            offset: next.offset,
            head_len: next.head.len,
            head_hash: next.head.hash,
            tail_len: next.tail.len,
            tail_hash: next.tail.hash,
            in_long_line: next.in_long_line,
            lines: lines_before + read.stats.lines,
            missing_since: None,
        },
        now,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_source::{find_transcripts, FolderMemo, FoundFile};
    use ctm_store::cursors;
    use ctm_store::OpenOptions;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    fn cursor_of(f: &FoundFile) -> Cursor {
        Cursor {
            path: scan::path_key(&f.path).to_vec(),
            dev: f.dev,
            ino: f.ino,
            size: f.size,
            mtime_ns: f.mtime_ns,
            offset: f.size,
            head_len: 0,
            head_hash: 0,
            tail_len: 0,
            tail_hash: 0,
            in_long_line: false,
            lines: 1,
            missing_since: None,
        }
    }

    /// The streaming check says "unchanged" exactly when the plan has nothing to do.
    #[test]
    fn the_cheap_check_agrees_with_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let p = root.join("projects/-p");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("a.jsonl"), "{}\n").unwrap();
        std::fs::write(p.join("b.jsonl"), "{}\n{}\n").unwrap();
        let roots = vec![root.clone()];
        let files = find_transcripts(&roots, &FolderMemo::default()).files;
        assert_eq!(files.len(), 2);
        let in_place: Vec<Cursor> = files.iter().map(cursor_of).collect();
        let gone = |path: &Path, missing_since| Cursor {
            path: path.as_os_str().as_bytes().to_vec(),
            missing_since,
            ..in_place[0].clone()
        };
        let mut grown = in_place.clone();
        grown[1].size -= 1;
        let cases: Vec<(&str, Vec<Cursor>, bool)> = vec![
            ("every file as its cursor", in_place.clone(), true),
            ("a file grew", grown, false),
            ("a file without a cursor", in_place[..1].to_vec(), false),
            (
                "a cursor whose file vanished",
                [in_place.clone(), vec![gone(&p.join("c.jsonl"), None)]].concat(),
                false,
            ),
            (
                "a vanished file already marked missing",
                [in_place.clone(), vec![gone(&p.join("c.jsonl"), Some(1))]].concat(),
                true,
            ),
            (
                "a cursor under another root",
                [
                    in_place.clone(),
                    vec![gone(&dir.path().join("other/projects/-q/d.jsonl"), None)],
                ]
                .concat(),
                true,
            ),
            (
                "a sibling root whose name extends this one's",
                [
                    in_place.clone(),
                    vec![gone(&dir.path().join("root/projects-old/e.jsonl"), None)],
                ]
                .concat(),
                true,
            ),
        ];
        for (case, stored, expected) in cases {
            let db = dir.path().join(format!("{}.db", case.replace(' ', "-")));
            let mut store = Store::open(&db, &OpenOptions::default()).unwrap();
            let tx = store.write().unwrap();
            let writer = CursorWriter::new(&tx).unwrap();
            for c in &stored {
                writer.save(c, 0).unwrap();
                if let Some(at) = c.missing_since {
                    writer.mark_missing(&c.path, at).unwrap();
                }
            }
            tx.commit().unwrap();
            let planned =
                plan::Plan::new(&roots, &files, &cursors::load_all(store.conn()).unwrap());
            let nothing_to_do = planned.work.is_empty() && planned.gone.is_empty();
            assert_eq!(nothing_to_do, expected, "plan: {case}");
            let walked = scan::Scan::Walked {
                walk: find_transcripts(&roots, &FolderMemo::default()),
                memo: FolderMemo::default(),
            };
            assert_eq!(
                walked.is_unchanged(&store, &roots).unwrap(),
                expected,
                "check: {case}"
            );
        }
    }

    /// A session's files (its transcript, its subagents') are planned together, the
    /// largest session first and the largest file first within one.
    #[test]
    fn a_sessions_files_are_planned_together() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let p = root.join("projects/-p");
        std::fs::create_dir_all(p.join("s1/subagents")).unwrap();
        std::fs::write(p.join("s1.jsonl"), "{}\n".repeat(2)).unwrap();
        std::fs::write(p.join("s1/subagents/agent-a.jsonl"), "{}\n".repeat(5)).unwrap();
        std::fs::write(p.join("s1/subagents/agent-b.jsonl"), "{}\n").unwrap();
        std::fs::write(p.join("s2.jsonl"), "{}\n".repeat(4)).unwrap();
        std::fs::write(p.join("s10.jsonl"), "{}\n".repeat(3)).unwrap();
        let roots = vec![root.clone()];
        let files = find_transcripts(&roots, &FolderMemo::default()).files;
        let planned = plan::Plan::new(&roots, &files, &Default::default());
        let names: Vec<Vec<String>> = planned
            .sessions
            .iter()
            .map(|s| {
                planned.work[s.clone()]
                    .iter()
                    .map(|w| {
                        let rel = w.file.path.strip_prefix(&p).unwrap();
                        rel.display().to_string()
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            names,
            [
                vec![
                    "s1/subagents/agent-a.jsonl",
                    "s1.jsonl",
                    "s1/subagents/agent-b.jsonl"
                ],
                vec!["s2.jsonl"],
                vec!["s10.jsonl"],
            ]
        );
    }

    fn sighting(ts: i64, output: u64, origin: ctm_model::Origin, source: &str) -> Response {
        Response {
            key: ctm_model::message_key("m1", "r1"),
            timestamp_ms: ts,
            session_id: Some("s".into()),
            project_path: Some("/p".into()),
            model: Some("claude-opus-4-6".into()),
            usage: ctm_model::Usage {
                output_tokens: output,
                ..Default::default()
            },
            speed: None,
            service_tier: None,
            inference_geo: None,
            is_sidechain: false,
            agent_id: None,
            origin,
            recorded_cost_usd: None,
            cc_version: None,
            source_path: Some(source.into()),
        }
    }

    fn held(files: Vec<Vec<Response>>) -> Vec<(usize, (FileRead, Vec<Pricing>))> {
        let table = PriceTable::embedded();
        files
            .into_iter()
            .enumerate()
            .map(|(i, responses)| {
                let responses: Vec<Box<Response>> = responses.into_iter().map(Box::new).collect();
                let priced = responses
                    .iter()
                    .map(|r| price_response(&table, r))
                    .collect();
                let read = FileRead {
                    responses,
                    ..FileRead::default()
                };
                (i, (read, priced))
            })
            .collect()
    }

    /// The sightings a session's files share become one, as `Response::merge` makes it,
    /// in the first file's list, repriced; the others' lists keep what they alone hold.
    /// Sightings before the horizon are left for the writer to skip.
    #[test]
    fn a_sessions_shared_sightings_are_merged_before_the_writer() {
        use ctm_model::Origin::{AgentEcho, Assistant};
        let table = PriceTable::embedded();
        let price = |r: &Response| price_response(&table, r);
        let other = |ts| {
            let mut r = sighting(ts, 7, Assistant, "/own.jsonl");
            r.key = ctm_model::message_key("m2", "r2");
            r
        };
        // The subagent's own line (earlier, less output), then its echo in the parent
        // (later, more output): identity from the first, usage from the second.
        let mut files = held(vec![
            vec![sighting(1_000, 10, Assistant, "/sub.jsonl")],
            vec![
                sighting(2_000, 99, AgentEcho, "/parent.jsonl"),
                other(3_000),
            ],
        ]);
        merge_shared(&mut files, None, &price);
        let mut expected = sighting(1_000, 10, Assistant, "/sub.jsonl");
        assert!(expected.merge(sighting(2_000, 99, AgentEcho, "/parent.jsonl")));
        let (first, first_priced) = &files[0].1;
        assert_eq!(first.responses.len(), 1);
        assert_eq!(*first.responses[0], expected);
        assert_eq!(first.responses[0].usage.output_tokens, 99);
        assert_eq!(first_priced[0], price(&expected));
        let (second, second_priced) = &files[1].1;
        assert_eq!(second.responses.len(), 1);
        assert_eq!(second.responses[0].key, ctm_model::message_key("m2", "r2"));
        assert_eq!(second_priced.len(), 1);

        // A sighting the horizon leaves out is merged with nothing.
        let mut files = held(vec![
            vec![sighting(1_000, 10, Assistant, "/sub.jsonl")],
            vec![sighting(5_000, 99, AgentEcho, "/parent.jsonl")],
        ]);
        merge_shared(&mut files, Some(2_000), &price);
        assert_eq!(files[0].1 .0.responses[0].usage.output_tokens, 10);
        assert_eq!(files[1].1 .0.responses.len(), 1);
    }
}
