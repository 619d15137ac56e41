//! What a run finds on disk, and how it knows: the stat list the last complete walk
//! recorded (see [`ctm_source::stat_list`]) holds, or holds but for grown transcripts,
//! or a walk of the roots. One value with its own methods, so `ingest` reads as its
//! steps.

use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ctm_source::stat_list::{self, GrownList, Held, ListRows, Outcome, StatListCheck};
use ctm_source::{find_transcripts, FolderMemo, FoundFile, Walk};
use ctm_store::cursors::{self, Cursors};
use ctm_store::folders;
use ctm_store::{Connection, Store, StoreError};

use crate::{IngestReport, Problem};

/// What a run found.
pub(crate) enum Scan {
    /// Every stat the last complete walk met still holds: nothing changed.
    Held(Held),
    /// Every stat held but for transcripts that only grew (the same files).
    Grown(GrownList),
    /// A walk of the roots, with the folder memo it was given (the stored list's
    /// listings).
    Walked { walk: Walk, memo: FolderMemo },
}

impl Scan {
    /// The cheapest way to know what changed: the stored stat list, checked on every
    /// core while it is read (no lock, no write); a walk when it does not hold.
    pub(crate) fn take(store: &Store, roots: &[PathBuf]) -> Result<Scan, StoreError> {
        Ok(match stat_list_outcome(store.conn(), roots)? {
            Outcome::Holds(held) => Scan::Held(held),
            Outcome::Grown(grown) => Scan::Grown(grown),
            Outcome::Changed => Scan::walk(store.conn(), roots)?,
        })
    }

    /// A walk of the roots with the folder listings of the stored list.
    fn walk(conn: &Connection, roots: &[PathBuf]) -> Result<Scan, StoreError> {
        let memo = stat_list::memo(
            &folders::stat_list_overlay(conn)?,
            &folders::stat_list_base(conn)?,
        );
        let walk = find_transcripts(roots, &memo);
        Ok(Scan::Walked { walk, memo })
    }

    /// Whether nothing changed, known without the write lock: the list held, or every
    /// walked file matches its cursor and every cursor under the roots was found. Streams
    /// the cursors rather than building their map (the common run, and it grows with
    /// history).
    pub(crate) fn is_unchanged(
        &self,
        store: &Store,
        roots: &[PathBuf],
    ) -> Result<bool, StoreError> {
        let files = match self {
            Scan::Held(_) => return Ok(true),
            Scan::Grown(_) => return Ok(false),
            Scan::Walked { walk, .. } => &walk.files,
        };
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

    /// The scan under the write lock: another process may have ingested since, and
    /// recorded another stat list than the one that found the grown transcripts; then
    /// the roots are walked.
    pub(crate) fn under_lock(
        self,
        conn: &Connection,
        roots: &[PathBuf],
    ) -> Result<Scan, StoreError> {
        match self {
            Scan::Grown(grown) if !grown.is_checked_list(&folders::stat_list_header(conn)?) => {
                Scan::walk(conn, roots)
            }
            scan => Ok(scan),
        }
    }

    /// The transcripts to compare with their cursors.
    pub(crate) fn files(&self) -> &[FoundFile] {
        match self {
            Scan::Held(_) => &[],
            Scan::Grown(grown) => grown.grown(),
            Scan::Walked { walk, .. } => &walk.files,
        }
    }

    /// The cursors of [`Scan::files`] (and, after a walk, every other cursor, to find
    /// the files that vanished): a grown list vouches for every other transcript's.
    pub(crate) fn cursors(&self, conn: &Connection) -> Result<Cursors, StoreError> {
        match self {
            Scan::Walked { .. } => cursors::load_all(conn),
            _ => cursors::load_paths(conn, self.files().iter().map(|f| path_key(&f.path))),
        }
    }

    pub(crate) fn report_into(&self, report: &mut IngestReport) {
        match self {
            Scan::Held(held) => {
                report.unchanged = true;
                report.stat_list_held = true;
                report.files_seen = held.transcripts;
                report.folders_reused = held.folders;
            }
            Scan::Grown(grown) => {
                report.stat_list_grown = true;
                report.files_seen = grown.held().transcripts;
                report.folders_reused = grown.held().folders;
            }
            Scan::Walked { walk, .. } => {
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
        }
    }

    /// The stored list's base this scan's new list is written over (after a walk: a new
    /// list is written as an overlay on it when little changed).
    pub(crate) fn stored_base(&self, conn: &Connection) -> Result<Vec<Vec<u8>>, StoreError> {
        match self {
            Scan::Walked { .. } => folders::stat_list_base(conn),
            // Rewritten over the base it was checked with, which is the stored one.
            _ => Ok(Vec::new()),
        }
    }

    /// The stat list this scan makes: the folder listings it met, which vouch for the
    /// whole walk once every found file's cursor holds its stat, if stats can vouch for
    /// everything it met. `None`: no list to write (nothing was scanned anew).
    pub(crate) fn stat_list(&self, roots: &[PathBuf], stored_base: &[Vec<u8>]) -> Option<ListRows> {
        match self {
            Scan::Held(_) => None,
            Scan::Grown(grown) => grown.rows(),
            Scan::Walked { walk, memo } => {
                Some(stat_list::record(roots, walk, memo).rows(stored_base))
            }
        }
    }
}

/// What the stored stat list says of these roots now: its parts are checked on other
/// threads while the next are read.
fn stat_list_outcome(conn: &Connection, roots: &[PathBuf]) -> Result<Outcome, StoreError> {
    let mut check: Option<StatListCheck> = None;
    folders::visit_stat_list(conn, |part| match &mut check {
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

/// Each root's `projects` folder, as cursor paths start.
pub(crate) fn project_folders(roots: &[PathBuf]) -> Vec<Vec<u8>> {
    roots
        .iter()
        .map(|r| path_key(&r.join("projects")).to_vec())
        .collect()
}

/// A path as the store keys it: its bytes, whatever they are (two names that differ
/// only in bytes that are not UTF-8 are two cursors).
pub(crate) fn path_key(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}
