//! What a run must read, given the cursors: the found files with new bytes, from where,
//! and the cursors of files under the roots that are gone from disk.

use std::path::PathBuf;

use ctm_source::{FoundFile, Head, Resume};
use ctm_store::cursors::{Cursor, Cursors};
use ctm_store::folders;

use crate::scan::{path_key, project_folders};

/// One file to read.
pub(crate) struct Work<'f> {
    /// As the scan found it.
    pub file: &'f FoundFile,
    /// Where its cursor left the file, when it is the same file (device and inode).
    pub resume: Option<Resume>,
    /// Lines its cursor has counted before `offset`.
    pub lines_before: u64,
}

impl Work<'_> {
    /// Where the read starts, unless the file turns out to have changed.
    pub fn offset(&self) -> u64 {
        self.resume.map_or(0, |r| r.offset)
    }

    /// The bytes this read has to go through.
    pub fn new_bytes(&self) -> u64 {
        self.file.size.saturating_sub(self.offset())
    }
}

/// Whether a transcript is a subagent's (`<session>/subagents/agent-*.jsonl`).
fn is_subagent(file: &FoundFile) -> bool {
    file.path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "subagents")
}

/// The session a transcript belongs to, as the path of `<project>/<session>` (a prefix
/// of the transcript's own path): a subagent's transcript lies under its session's
/// folder, the session's own transcript beside it.
fn session_of(file: &FoundFile) -> &[u8] {
    let path = path_key(&file.path);
    let folder = if is_subagent(file) {
        file.path.parent().and_then(|p| p.parent())
    } else {
        None
    };
    match folder {
        Some(folder) => &path[..path_key(folder).len()],
        None => path.strip_suffix(b".jsonl").unwrap_or(path),
    }
}

pub(crate) struct Plan<'f> {
    /// The files to read, each session's together (see [`Plan::sessions`]), the
    /// largest first within one: the order writes happen in too, whichever read
    /// finishes first.
    pub work: Vec<Work<'f>>,
    /// `work` by session, the largest first (ties in path order), so the cores share
    /// the reading evenly. A session's files are written together, the responses they
    /// share (a subagent's, echoed in the parent's progress lines) merged first, so the
    /// writer meets each once: a second sighting of a written response costs it a read
    /// back of the row.
    pub sessions: Vec<std::ops::Range<usize>>,
    /// Cursors of vanished files.
    pub gone: Vec<Vec<u8>>,
}

impl<'f> Plan<'f> {
    /// One look-up per found file decides both what to read and whether anything
    /// vanished.
    pub fn new(roots: &[PathBuf], files: &'f [FoundFile], cursors: &Cursors) -> Plan<'f> {
        // Found files that match a cursor still in place (not marked missing).
        let mut matched = 0;
        let mut work: Vec<Work<'f>> = files
            .iter()
            .filter_map(|f| {
                let cursor = cursors.get(path_key(&f.path));
                matched += usize::from(cursor.is_some_and(|c| c.missing_since.is_none()));
                let same_file = cursor.filter(|c| c.ino == f.ino && c.dev == f.dev);
                match cursor {
                    Some(c)
                        if same_file.is_some() && c.size == f.size && c.mtime_ns == f.mtime_ns =>
                    {
                        None
                    }
                    _ => Some(Work {
                        file: f,
                        // A different inode is a different file: read it all.
                        resume: same_file.map(|c| Resume {
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
                        lines_before: same_file.map_or(0, |c| c.lines),
                    }),
                }
            })
            .collect();
        // Each file's key once: parsing a path's components in every comparison made
        // sorting a first run's files cost as much as a fifth of its walk.
        let mut session_bytes: foldhash::HashMap<&[u8], u64> = Default::default();
        for w in &work {
            *session_bytes.entry(session_of(w.file)).or_default() += w.new_bytes();
        }
        work.sort_by_cached_key(|w| {
            let file: &'f FoundFile = w.file;
            let session = session_of(file);
            (
                std::cmp::Reverse(session_bytes[session]),
                session,
                std::cmp::Reverse(w.new_bytes()),
                path_key(&file.path),
            )
        });
        let mut sessions: Vec<std::ops::Range<usize>> = Vec::new();
        for (i, w) in work.iter().enumerate() {
            match sessions.last_mut() {
                Some(last) if session_of(work[last.start].file) == session_of(w.file) => {
                    last.end = i + 1
                }
                _ => sessions.push(i..i + 1),
            }
        }
        Plan {
            work,
            sessions,
            gone: vanished(roots, files, cursors, matched),
        }
    }

    pub fn new_bytes(&self) -> u64 {
        self.work.iter().map(Work::new_bytes).sum()
    }
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
