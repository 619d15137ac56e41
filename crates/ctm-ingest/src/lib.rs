//! The ingest stage: brings the store up to date from Claude Code's transcripts.
//!
//! 1. Check the stat list the last complete walk recorded (no lock held): every stat
//!    still holds, so nothing changed: done, without walking or writing.
//! 2. Otherwise walk the data roots and stat every transcript, and compare with the
//!    stored cursors. Nothing changed: done, without writing.
//! 3. Take the store's single write lock, read the cursors again (another process may
//!    just have ingested), and read only the bytes after each cursor, files spread over
//!    cores largest first.
//! 4. Merge sightings across files, price them, upsert the facts, settle sidechain
//!    replays, save cursors and the new stat list, refresh the derived tables: all in
//!    that one transaction,
//!    so a crash at any point leaves the store as it was before the run.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ctm_model::{ClaudeCodeCost, Response};
use ctm_pricing::{PriceTable, Request};
use ctm_source::stat_list::{GrownList, Outcome, StatListCheck};
use ctm_source::{
    find_transcripts, read_transcript, FileRead, FolderListing, FolderMemo, FoundFile, Head,
    LineStats, Resume, SkipReason, Walk,
};
use ctm_store::claude_costs::{self, CostSource};
use ctm_store::cursors::{self, Cursor, CursorWriter, Cursors};
use ctm_store::facts::{self, FactWriter, Pricing};
use ctm_store::folders::{self, FolderRow};
use ctm_store::{config, derive, now_ms, retention, Store, StoreError};
use rayon::prelude::*;
use serde::Serialize;

mod prices;
mod reprice;
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

/// Milliseconds per phase of one run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Finding transcripts and their stat facts, and comparing with the cursors.
    pub walk_ms: u64,
    /// Waiting for the store's write lock (another ctm was writing).
    pub lock_ms: u64,
    /// Reading new bytes, filtering and parsing lines, folding sightings per file.
    pub read_parse_ms: u64,
    /// Merging sightings across files.
    pub merge_ms: u64,
    /// Pricing and writing facts, replays, cursors.
    pub write_ms: u64,
    /// Refreshing the derived tables.
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
        // The same request with every cached token billed as plain input.
        let plain = Request {
            input_tokens: u.input_tokens + u.cache_creation_tokens() + u.cache_read_tokens,
            cache_write_5m_tokens: 0,
            cache_write_1h_tokens: 0,
            cache_read_tokens: 0,
            ..req
        };
        table.price(&plain).cost_usd - p.cost_usd
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

struct Work {
    file: FoundFile,
    /// Where its cursor left the file, when it is the same file (device and inode).
    resume: Option<Resume>,
}

impl Work {
    fn offset(&self) -> u64 {
        self.resume.map_or(0, |r| r.offset)
    }
}

/// What a run must do, given the cursors: the found files to read, and the cursors of
/// files under the roots that are gone from disk.
struct Plan {
    work: Vec<Work>,
    gone: Vec<Vec<u8>>,
}

/// One look-up per found file decides both what to read and whether anything vanished.
fn plan(roots: &[PathBuf], files: &[FoundFile], cursors: &Cursors) -> Plan {
    // Found files that match a cursor still in place (not marked missing).
    let mut matched = 0;
    let work = files
        .iter()
        .filter_map(|f| {
            let cursor = cursors.get(path_key(&f.path));
            matched += usize::from(cursor.is_some_and(|c| c.missing_since.is_none()));
            match cursor {
                Some(c)
                    if c.dev == f.dev
                        && c.ino == f.ino
                        && c.size == f.size
                        && c.mtime_ns == f.mtime_ns =>
                {
                    None
                }
                Some(c) => Some(Work {
                    file: f.clone(),
                    // A different inode is a different file: read it all.
                    resume: (c.ino == f.ino && c.dev == f.dev).then_some(Resume {
                        offset: c.offset,
                        head: Head {
                            len: c.head_len,
                            hash: c.head_hash,
                        },
                        tail: Head {
                            len: c.tail_len,
                            hash: c.tail_hash,
                        },
                        in_long_line: c.in_long_line,
                    }),
                }),
                None => Some(Work {
                    file: f.clone(),
                    resume: None,
                }),
            }
        })
        .collect();
    Plan {
        work,
        gone: vanished(roots, files, cursors, matched),
    }
}

/// Whether [`plan`] would find nothing to do: every found file matches its cursor, and
/// every cursor in place under the roots was found. Streams the cursors instead of
/// building their map (the common run, and it grows with history).
fn unchanged(store: &Store, roots: &[PathBuf], files: &[FoundFile]) -> Result<bool, StoreError> {
    let mut found: foldhash::HashMap<&[u8], &FoundFile> =
        foldhash::HashMap::with_capacity_and_hasher(files.len(), Default::default());
    found.extend(files.iter().map(|f| (path_key(&f.path), f)));
    let projects = project_folders(roots);
    let mut matched = 0;
    let mut changed = false;
    cursors::visit_stats(store.conn(), |c| {
        match found.get(c.path) {
            Some(f)
                if c.dev == f.dev
                    && c.ino == f.ino
                    && c.size == f.size
                    && c.mtime_ns == f.mtime_ns =>
            {
                matched += 1;
            }
            Some(_) => changed = true,
            None if !c.missing && projects.iter().any(|p| folders::is_within(c.path, p)) => {
                changed = true
            }
            None => {}
        }
        if changed {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    // Paths are unique on both sides, so a found file without a cursor shows here.
    Ok(!changed && matched == files.len())
}

/// What the stored stat list (see [`ctm_source::stat_list`]) says of these roots now:
/// its parts are checked on other threads while the next are read.
fn stat_list_outcome(store: &Store, roots: &[PathBuf]) -> Result<Outcome, StoreError> {
    let mut check: Option<StatListCheck> = None;
    folders::visit_stat_list(store.conn(), |part| match &mut check {
        Some(check) => check.part(part),
        None => match StatListCheck::start(part, roots) {
            Some(started) => {
                check = Some(started);
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(()),
        },
    })?;
    Ok(check.map_or(Outcome::Changed, StatListCheck::finish))
}

/// What a run found on disk.
enum Found {
    /// A walk of the roots, with the folder memo it was given.
    Walked {
        walk: Walk,
        memo: FolderMemo,
        /// Stored folder rows the memo could not read (forgotten by a writing run).
        unreadable: Vec<String>,
    },
    /// The stat list's transcripts that only grew; every other stat held.
    Grown(GrownList),
}

impl Found {
    /// The transcripts to compare with their cursors.
    fn files(&self) -> &[FoundFile] {
        match self {
            Found::Walked { walk, .. } => &walk.files,
            Found::Grown(grown) => grown.grown(),
        }
    }

    fn report_into(&self, report: &mut IngestReport) {
        match self {
            Found::Walked { walk, .. } => {
                report.files_seen = walk.files.len() as u64;
                report.symlink_loops = walk.symlink_loops;
                report.folders_listed = walk.folders_listed;
                report.folders_reused = walk.folders_reused;
                report.problems = walk
                    .problems
                    .iter()
                    .map(|p| Problem {
                        path: p.path.display().to_string(),
                        reason: p.reason.clone(),
                    })
                    .collect();
            }
            Found::Grown(grown) => {
                report.stat_list_grown = true;
                report.files_seen = grown.held().transcripts;
                report.folders_reused = grown.held().folders;
            }
        }
    }
}

/// Walks the roots with the folder memo kept in the store (its rows).
fn walk_roots(memo_rows: Vec<FolderRow>, roots: &[PathBuf]) -> Found {
    let (memo, unreadable) = folder_memo(memo_rows);
    let walk = find_transcripts(roots, &memo);
    Found::Walked {
        walk,
        memo,
        unreadable,
    }
}

/// Each root's `projects` folder, as cursor paths start.
fn project_folders(roots: &[PathBuf]) -> Vec<Vec<u8>> {
    roots
        .iter()
        .map(|r| path_key(&r.join("projects")).to_vec())
        .collect()
}

/// A path as the store keys it: its bytes, whatever they are (two names that differ
/// only in bytes that are not UTF-8 are two cursors).
fn path_key(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// Cursors of files under the given roots that are gone from disk, given how many found
/// files matched a cursor still in place.
fn vanished(
    roots: &[PathBuf],
    files: &[FoundFile],
    cursors: &Cursors,
    matched: usize,
) -> Vec<Vec<u8>> {
    let projects = project_folders(roots);
    let in_roots = |c: &Cursor| projects.iter().any(|p| folders::is_within(&c.path, p));
    // The common case without a set of every path: when each cursor still in place under
    // these roots was matched by a found file, none vanished. Paths are unique on both
    // sides, so counting is exact.
    let in_place = cursors
        .values()
        .filter(|c| c.missing_since.is_none() && in_roots(c))
        .count();
    if matched == in_place {
        return Vec::new();
    }
    let on_disk: std::collections::HashSet<&[u8]> =
        files.iter().map(|f| path_key(&f.path)).collect();
    let mut gone: Vec<Vec<u8>> = cursors
        .values()
        .filter(|c| c.missing_since.is_none() && !on_disk.contains(c.path.as_slice()))
        .filter(|c| in_roots(c))
        .map(|c| c.path.clone())
        .collect();
    gone.sort();
    gone
}

/// The walk's memo from the stored rows, and the paths of rows it cannot read (left out
/// of the memo, so their folders are listed again; the rows are forgotten).
fn folder_memo(rows: Vec<FolderRow>) -> (FolderMemo, Vec<String>) {
    let mut memo = FolderMemo::with_capacity_and_hasher(rows.len(), Default::default());
    let mut unreadable = Vec::new();
    for r in rows {
        match FolderListing::from_stored(r.dev, r.ino, r.mtime_ns, r.listed_at_ns, r.entries) {
            Some(listing) => {
                memo.insert(OsString::from(r.path), listing);
            }
            None => unreadable.push(r.path),
        }
    }
    (memo, unreadable)
}

/// The listings this walk took from disk (to save), and the remembered folders under
/// these roots that it no longer reached or could not read (to forget).
fn folder_changes<'a>(
    roots: &[PathBuf],
    walk: &Walk,
    memo: &'a FolderMemo,
    unreadable: &'a [String],
) -> (Vec<FolderRow>, Vec<&'a str>) {
    let listed: Vec<FolderRow> = walk
        .folders
        .iter()
        .filter_map(|(path, l)| {
            let l = l.as_ref()?;
            Some(FolderRow {
                path: path.to_str()?.to_owned(),
                dev: l.dev,
                ino: l.ino,
                mtime_ns: l.mtime_ns,
                listed_at_ns: l.listed_at_ns,
                entries: l.stored_entries().to_vec(),
            })
        })
        .collect();
    let reached: std::collections::HashSet<&std::ffi::OsStr> =
        walk.folders.iter().map(|(p, _)| p.as_os_str()).collect();
    let scopes: Vec<String> = roots
        .iter()
        .filter_map(|r| r.join("projects").to_str().map(str::to_owned))
        .collect();
    let mut forget: Vec<&str> = memo
        .keys()
        .filter(|p| !reached.contains(p.as_os_str()))
        .filter_map(|p| p.to_str())
        .filter(|p| {
            scopes
                .iter()
                .any(|s| folders::is_within(p.as_bytes(), s.as_bytes()))
        })
        .collect();
    forget.extend(unreadable.iter().map(String::as_str));
    (listed, forget)
}

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
    // The cheapest path: the last walk's stats, in one pass, no walk, no lock, no write.
    // Where only transcripts grew, the same pass says which, and nothing is walked.
    let found = match stat_list_outcome(store, roots)? {
        Outcome::Holds(held) => {
            report.unchanged = true;
            report.stat_list_held = true;
            report.files_seen = held.transcripts;
            report.folders_reused = held.folders;
            report.timings.walk_ms = ms_since(&mut phase);
            report.elapsed_ms = started.elapsed().as_millis() as u64;
            return Ok(report);
        }
        Outcome::Grown(grown) => Found::Grown(grown),
        Outcome::Changed => {
            let found = walk_roots(folders::load_all(store.conn())?, roots);
            // The cheap path: stat only, no lock, no write.
            if let Found::Walked { walk, .. } = &found {
                if unchanged(store, roots, &walk.files)? {
                    found.report_into(&mut report);
                    report.unchanged = true;
                    report.timings.walk_ms = ms_since(&mut phase);
                    report.elapsed_ms = started.elapsed().as_millis() as u64;
                    return Ok(report);
                }
            }
            found
        }
    };

    report.timings.walk_ms = ms_since(&mut phase);
    let tx = store.write()?;
    report.timings.lock_ms = ms_since(&mut phase);
    let now = now_ms();
    // Under the lock: the table in force may have changed since the caller loaded it.
    let prices = prices_in_force(&tx, prices)?;
    let prices = prices.as_ref();
    // Under the lock: another process may just have ingested, and recorded another
    // stat list than the one that found the grown transcripts: then walk.
    let found = match found {
        Found::Grown(grown) if !grown.is_checked_list(&folders::stat_list_header(&tx)?) => {
            walk_roots(folders::load_all(&tx)?, roots)
        }
        found => found,
    };
    found.report_into(&mut report);
    let known = match &found {
        Found::Walked { .. } => cursors::load_all(&tx)?,
        // The list vouches for every other transcript's cursor.
        Found::Grown(grown) => {
            cursors::load_paths(&tx, grown.grown().iter().map(|f| path_key(&f.path)))?
        }
    };
    let Plan { mut work, gone } = plan(roots, found.files(), &known);
    work.sort_by_key(|w| std::cmp::Reverse(w.file.size.saturating_sub(w.offset())));
    let new_bytes: u64 = work
        .iter()
        .map(|w| w.file.size.saturating_sub(w.offset()))
        .sum();
    if new_bytes >= LARGE_READ_BYTES {
        ctm_store::use_large_cache(&tx)?;
    }
    if let Some(p) = progress {
        p.start(new_bytes);
    }
    let reads: Vec<(Work, std::io::Result<FileRead>)> = work
        .into_par_iter()
        .map(|w| {
            let read = read_transcript(&w.file.path, w.resume.as_ref());
            if let Some(p) = progress {
                p.advance(w.file.size.saturating_sub(w.offset()));
            }
            (w, read)
        })
        .collect();
    if let Some(p) = progress {
        p.finish();
    }
    report.timings.read_parse_ms = ms_since(&mut phase);

    // The stat list is recorded on another core while this one writes: it needs only
    // the walk and the stored list's base, which it is written as an overlay on when
    // little changed (and it is not kept if a read failed).
    let stored_base = match found {
        Found::Walked { .. } => folders::stat_list_base(&tx)?,
        // Rewritten over the base it was checked with, which is the stored one.
        Found::Grown(_) => Vec::new(),
    };
    let mut report = std::thread::scope(|scope| {
        let recording = scope.spawn(|| match &found {
            Found::Walked { walk, memo, .. } => {
                ctm_source::stat_list::record(roots, walk, memo).map(|r| r.rows(&stored_base))
            }
            Found::Grown(grown) => grown.rows(),
        });

        // Merge sightings across files before touching the table. Keyed by the response's
        // own key, moved out while in the map (restored below) so no key is copied.
        let mut merged: foldhash::HashMap<String, Box<Response>> = foldhash::HashMap::default();
        let mut stats = LineStats::default();
        let mut notices = Vec::new();
        let mut costs: Vec<ClaudeCodeCost> = Vec::new();
        let mut new_cursors = Vec::new();
        for (w, read) in reads {
            let read = match read {
                Ok(r) => r,
                Err(e) => {
                    report.problems.push(Problem {
                        path: w.file.path.display().to_string(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            report.files_read += 1;
            let next = read.resume();
            report.files_restarted += u64::from(read.restarted);
            report.bytes_read += read.bytes_read();
            stats.add(&read.stats);
            notices.extend(read.limit_notices);
            for c in read.claude_costs {
                match costs.iter_mut().find(|k| k.session_id == c.session_id) {
                    Some(kept) if c.is_later_than(kept) => *kept = c,
                    Some(_) => {}
                    None => costs.push(c),
                }
            }
            for mut r in read.responses {
                match merged.get_mut(&r.key) {
                    Some(m) => {
                        // Both keys empty while in the map: merge compares like with like.
                        r.key = String::new();
                        m.merge(*r);
                    }
                    None => {
                        merged.insert(std::mem::take(&mut r.key), r);
                    }
                }
            }
            let key = path_key(&w.file.path);
            let lines = known
                .get(key)
                .filter(|_| !read.restarted && w.offset() > 0)
                .map_or(0, |c| c.lines);
            new_cursors.push(Cursor {
                path: key.to_vec(),
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
                lines: lines + read.stats.lines,
                missing_since: None,
            });
        }

        report.timings.merge_ms = ms_since(&mut phase);
        let mut responses: Vec<Box<Response>> = merged
            .into_iter()
            .map(|(key, mut r)| {
                r.key = key;
                r
            })
            .collect();
        if let Some(horizon) = retention::facts_horizon(&tx)? {
            let before = responses.len();
            responses.retain(|r| r.timestamp_ms >= horizon);
            report.responses_before_horizon = (before - responses.len()) as u64;
        }
        responses.sort_by(|a, b| (a.timestamp_ms, &a.key).cmp(&(b.timestamp_ms, &b.key)));
        // A cost-state line with no response before it in this read covers what the
        // store held of its session before this run (its lines came first in the file).
        for c in costs.iter_mut().filter(|c| c.observed_at_ms.is_none()) {
            c.observed_at_ms = facts::last_response_ms(&tx, &c.session_id)?;
        }
        let price = |r: &Response| price_response(prices, r);
        let mut writer = FactWriter::new(&tx)?;
        for r in responses {
            writer.upsert(*r, &price, now)?;
        }
        let first_ingest = writer.started_empty();
        let (touched, written) = writer.finish()?;
        for n in &notices {
            if facts::record_limit_notice(
                &tx,
                n.timestamp_ms,
                n.resets_at_s,
                n.session_id.as_deref(),
            )? {
                report.limit_notices_added += 1;
            }
        }
        for c in &costs {
            if claude_costs::record(&tx, CostSource::CostState, c, now)? {
                report.claude_costs_recorded += 1;
            }
        }
        let cursor_writer = CursorWriter::new(&tx)?;
        for c in &new_cursors {
            cursor_writer.save(c, now)?;
        }
        for path in gone {
            cursor_writer.mark_missing(&path, now)?;
            report.files_missing += 1;
        }
        // Only in a run that writes anyway: remembering listings never makes a reader a writer.
        if let Found::Walked {
            walk,
            memo,
            unreadable,
        } = &found
        {
            let (listed, forget) = folder_changes(roots, walk, memo, unreadable);
            folders::save_changes(&tx, &listed, &forget)?;
        }
        // After the cursor writes (their writer dropped the old list). With no problem,
        // each found file's cursor now holds the stat the walk met it with, which the
        // list records.
        let list = recording
            .join()
            .ok()
            .flatten()
            .filter(|_| report.problems.is_empty());
        folders::save_stat_list(
            &tx,
            list.as_ref().map(|rows| folders::StatListRows {
                header: &rows.header,
                overlay: &rows.overlay,
                base: rows.base.as_deref(),
            }),
        )?;
        report.timings.write_ms = ms_since(&mut phase);
        derive::close_finished_blocks(&tx, now)?;
        if first_ingest {
            // Everything is touched: one scan of the facts beats a query per session and day.
            derive::rebuild_all(&tx)?;
        } else {
            derive::refresh(&tx, &touched, now)?;
        }
        if !touched.is_empty() {
            config::set_raw(&tx, "last_sync_time", &ctm_model::utc::format(now))?;
        }
        report.unpriced_models = facts::unpriced_models(&tx)?.into_iter().collect();
        report.timings.derive_ms = ms_since(&mut phase);
        tx.commit().map_err(StoreError::from)?;
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
        Ok::<_, IngestError>(report)
    })?;
    // The transaction, which borrows the store, is gone: a new store's first ingest has
    // committed, and readers can stop waiting for writers.
    let mut phase = Instant::now();
    store.use_wal()?;
    report.timings.commit_ms += ms_since(&mut phase);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_store::OpenOptions;

    fn cursor_of(f: &FoundFile) -> Cursor {
        Cursor {
            path: path_key(&f.path).to_vec(),
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
            let planned = plan(&roots, &files, &cursors::load_all(store.conn()).unwrap());
            let nothing_to_do = planned.work.is_empty() && planned.gone.is_empty();
            assert_eq!(nothing_to_do, expected, "plan: {case}");
            assert_eq!(
                unchanged(&store, &roots, &files).unwrap(),
                expected,
                "check: {case}"
            );
        }
    }
}
