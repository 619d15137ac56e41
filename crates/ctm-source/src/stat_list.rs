//! The stat list: every folder and transcript a complete walk met, with the stat each
//! had, checked later in one pass.
//!
//! Most runs find nothing changed, and a walk answers that at the cost of a memo
//! look-up, a path and a hash-set insert per entry. The list answers it with the stats
//! alone. If every entry still has its recorded stat, a walk now would reuse every
//! remembered listing (each folder's stat still vouches for it: the same folder, the
//! same mtime, listed after the racy window) and find the same transcripts with the
//! same stats. Anything the list cannot vouch for (a link, whose target changes on its
//! own; a listing still in the racy window; a problem; a file met twice) means no list
//! is recorded, and the caller walks.
//!
//! The ingest records a list only when each transcript's cursor holds exactly the stat
//! recorded here, in the transaction that saves those cursors; so "the list still
//! holds" means "every cursor matches its file and no file came or went".
//!
//! The list is kept in parts so that checking overlaps reading it from the store: a
//! header (the roots, their `projects` folders' stats, and the totals), then parts of
//! about [`PART_BYTES`] holding whole folders, newest entries first (what changed is
//! most often what changed last, and the check stops at the first difference). Each
//! folder carries its path, so parts are checked on any thread in any order.
//!
//! Encoding (ours alone; anything else does not hold). Numbers are LEB128, mtimes 8
//! bytes little-endian.
//! - Header: [`MAGIC`], the number of roots, per root its `projects` path (length,
//!   bytes) and `0` (no such path) or `1` with the folder's device, inode and mtime;
//!   then the numbers of folders, transcripts and parts that follow.
//! - Part: the number of folders, then per folder its path (the length it shares with
//!   the previous folder's path in the part, the rest's length, the rest), its number
//!   of entries and the entries: kind `d` or `f`, the name and a NUL, device, inode,
//!   for a transcript its size, and mtime.

use std::collections::VecDeque;
use std::ffi::{CStr, OsStr};
use std::fs;
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::walk::{
    EntryKind, EntryStats, FolderListing, FolderMemo, FoundFile, ProjectsFolder, Stat, Walk,
};

const MAGIC: &[u8] = b"ctm stat list 2\0";

/// Deeper than any Claude Code data root; a walk this deep is not recorded.
const MAX_DEPTH: usize = 256;

/// About how large a part grows before the next begins.
const PART_BYTES: usize = 32 << 10;

/// The stat list of `walk` (given the memo it was walked with) as its header and parts,
/// or `None` when some of it cannot be vouched for by stats alone.
pub fn record(roots: &[PathBuf], walk: &Walk, memo: &FolderMemo) -> Option<Vec<Vec<u8>>> {
    if !walk.problems.is_empty() || walk.symlink_loops > 0 || walk.projects.len() != roots.len() {
        return None;
    }
    let listings = walk
        .folders
        .iter()
        .map(|(path, listed)| {
            let listing = match listed {
                Some(l) => l,
                None => memo.get(path.as_os_str())?,
            };
            Some((path.as_os_str(), listing))
        })
        .collect::<Option<foldhash::HashMap<_, _>>>()?;
    let mut recorder = Recorder {
        listings,
        files: walk.files.iter().map(|f| (f.path.as_os_str(), f)).collect(),
        folders: Vec::new(),
        transcripts: 0,
    };
    let mut header = MAGIC.to_vec();
    put_varint(&mut header, roots.len() as u64);
    for (root, found) in roots.iter().zip(&walk.projects) {
        let projects = root.join("projects");
        put_bytes(&mut header, projects.as_os_str().as_bytes());
        match found {
            ProjectsFolder::Missing => header.push(0),
            ProjectsFolder::Folder(stat) => {
                let listing = *recorder.listings.get(projects.as_os_str())?;
                if !listing.vouched_for(stat) {
                    return None;
                }
                header.push(1);
                put_folder_stat(&mut header, listing);
                recorder.folder(&projects, listing, 0)?;
            }
            ProjectsFolder::Other => return None,
        }
    }
    // Fewer transcripts found than listed: one was met twice (a hard link), which the
    // walk's de-duplication decides, not the stats.
    if recorder.transcripts != walk.files.len() {
        return None;
    }
    let mut folders = recorder.folders;
    folders.sort_by(|a, b| {
        b.newest_ns
            .cmp(&a.newest_ns)
            .then_with(|| a.path.cmp(b.path))
    });
    let parts = pack(&folders);
    put_varint(&mut header, folders.len() as u64);
    put_varint(&mut header, walk.files.len() as u64);
    put_varint(&mut header, parts.len() as u64);
    Some(std::iter::once(header).chain(parts).collect())
}

/// One folder as recorded: its path, its entries encoded, the newest entry's mtime.
struct FolderRecord<'w> {
    path: &'w [u8],
    entries: Vec<u8>,
    count: usize,
    newest_ns: i64,
}

struct Recorder<'w> {
    listings: foldhash::HashMap<&'w OsStr, &'w FolderListing>,
    files: foldhash::HashMap<&'w OsStr, &'w FoundFile>,
    folders: Vec<FolderRecord<'w>>,
    transcripts: usize,
}

impl<'w> Recorder<'w> {
    /// Records `dir` and, depth first, the folders below it.
    fn folder(&mut self, dir: &Path, listing: &'w FolderListing, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let path: &'w [u8] = (*self.listings.get_key_value(dir.as_os_str())?.0).as_bytes();
        let mut record = FolderRecord {
            path,
            entries: Vec::new(),
            count: 0,
            newest_ns: i64::MIN,
        };
        let mut children = Vec::new();
        for (kind, name) in listing.entries() {
            let child = dir.join(name);
            record.count += 1;
            let out = &mut record.entries;
            match kind {
                EntryKind::Link => return None,
                EntryKind::Folder => {
                    let listed = *self.listings.get(child.as_os_str())?;
                    // The listing was taken with the stat the walk met the folder with
                    // (or was vouched for by it), so its stat is that stat.
                    if !listed.settled() {
                        return None;
                    }
                    put_name(out, b'd', name);
                    put_folder_stat(out, listed);
                    record.newest_ns = record.newest_ns.max(listed.mtime_ns);
                    children.push((child, listed));
                }
                EntryKind::Transcript => {
                    let f = *self.files.get(child.as_os_str())?;
                    put_name(out, b'f', name);
                    put_varint(out, f.dev);
                    put_varint(out, f.ino);
                    put_varint(out, f.size);
                    out.extend_from_slice(&f.mtime_ns.to_le_bytes());
                    record.newest_ns = record.newest_ns.max(f.mtime_ns);
                    self.transcripts += 1;
                }
            }
        }
        self.folders.push(record);
        for (child, listed) in children {
            self.folder(&child, listed, depth + 1)?;
        }
        Some(())
    }
}

/// Packs folders, in order, into parts of about [`PART_BYTES`].
fn pack(folders: &[FolderRecord]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = folders;
    while !rest.is_empty() {
        let mut size = 0;
        let take = rest
            .iter()
            .take_while(|f| {
                let fits = size < PART_BYTES;
                size += f.path.len() + f.entries.len();
                fits
            })
            .count();
        let (these, later) = rest.split_at(take);
        let mut part = Vec::with_capacity(size + 16 * take);
        put_varint(&mut part, these.len() as u64);
        let mut previous: &[u8] = &[];
        for f in these {
            let shared = f
                .path
                .iter()
                .zip(previous)
                .take_while(|(a, b)| a == b)
                .count();
            put_varint(&mut part, shared as u64);
            put_bytes(&mut part, &f.path[shared..]);
            put_varint(&mut part, f.count as u64);
            part.extend_from_slice(&f.entries);
            previous = f.path;
        }
        parts.push(part);
        rest = later;
    }
    parts
}

/// What a list that still holds covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub transcripts: u64,
    pub folders: u64,
}

/// A check of a stored list, fed its parts as they are read: other threads check the
/// parts already handed over while the caller reads the next.
pub struct StatListCheck {
    shared: Arc<Shared>,
    workers: Vec<std::thread::JoinHandle<()>>,
    expected: Held,
    parts_expected: u64,
    parts_given: u64,
}

#[derive(Default)]
struct Shared {
    /// Parts not yet taken, and whether the last one was given.
    queue: Mutex<(VecDeque<Vec<u8>>, bool)>,
    ready: Condvar,
    differs: AtomicBool,
    folders: AtomicU64,
    transcripts: AtomicU64,
}

impl StatListCheck {
    /// Starts checking a list from its header, for these `roots`; `None` when the list
    /// is for other roots, a `projects` folder's stat changed, or the header is not one
    /// this module wrote.
    pub fn start(header: &[u8], roots: &[PathBuf]) -> Option<Self> {
        let mut r = Reader::new(header);
        if r.take(MAGIC.len())? != MAGIC || r.varint()? != roots.len() as u64 {
            return None;
        }
        for root in roots {
            let projects = root.join("projects");
            let len = usize::try_from(r.varint()?).ok()?;
            if r.take(len)? != projects.as_os_str().as_bytes() {
                return None;
            }
            match r.byte()? {
                0 => match fs::metadata(&projects) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    _ => return None,
                },
                1 => {
                    let (dev, ino, mtime_ns) = (r.varint()?, r.varint()?, r.i64()?);
                    let now = Stat::from(&fs::metadata(&projects).ok()?);
                    if !(now.is_dir && now.dev == dev && now.ino == ino && now.mtime_ns == mtime_ns)
                    {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        let expected = Held {
            folders: r.varint()?,
            transcripts: r.varint()?,
        };
        let parts_expected = r.varint()?;
        if !r.rest().is_empty() {
            return None;
        }
        let shared = Arc::new(Shared::default());
        // The caller checks parts too once it has handed the last one over.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let helpers = (cores - 1).min(usize::try_from(parts_expected).ok()?.saturating_sub(1));
        let workers = (0..helpers)
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || shared.work())
            })
            .collect();
        Some(StatListCheck {
            shared,
            workers,
            expected,
            parts_expected,
            parts_given: 0,
        })
    }

    /// Hands over the next part; `Break` once a difference was found (the rest need
    /// not be read).
    pub fn part(&mut self, part: &[u8]) -> ControlFlow<()> {
        self.parts_given += 1;
        if self.workers.is_empty() {
            self.shared.check(part);
        } else {
            let mut queue = lock(&self.shared.queue);
            queue.0.push_back(part.to_vec());
            drop(queue);
            self.shared.ready.notify_one();
        }
        if self.shared.differs.load(Ordering::Relaxed) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Whether every stat held, once every part was handed over.
    pub fn finish(mut self) -> Option<Held> {
        self.close();
        let shared = &self.shared;
        let all_given = self.parts_given == self.parts_expected;
        let held = Held {
            folders: shared.folders.load(Ordering::Relaxed),
            transcripts: shared.transcripts.load(Ordering::Relaxed),
        };
        (all_given && !shared.differs.load(Ordering::Relaxed) && held == self.expected)
            .then_some(held)
    }

    /// Marks the last part given, checks what is left on this thread, and waits for the
    /// other threads.
    fn close(&mut self) {
        lock(&self.shared.queue).1 = true;
        self.shared.ready.notify_all();
        self.shared.work();
        for worker in self.workers.drain(..) {
            // A thread that panicked proves nothing.
            if worker.join().is_err() {
                self.shared.differs.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for StatListCheck {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.shared.differs.store(true, Ordering::Relaxed);
            self.close();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing in the queue can be left half-changed by a panic.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Checks parts as they come until the last was given and none is left, or a
    /// difference was found.
    fn work(&self) {
        loop {
            let part = {
                let mut queue = lock(&self.queue);
                loop {
                    if self.differs.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Some(part) = queue.0.pop_front() {
                        break part;
                    }
                    if queue.1 {
                        return;
                    }
                    queue = self
                        .ready
                        .wait(queue)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            self.check(&part);
        }
    }

    fn check(&self, part: &[u8]) {
        if self.differs.load(Ordering::Relaxed) {
            return;
        }
        match check_part(part) {
            Some(held) => {
                self.folders.fetch_add(held.folders, Ordering::Relaxed);
                self.transcripts
                    .fetch_add(held.transcripts, Ordering::Relaxed);
            }
            None => {
                self.differs.store(true, Ordering::Relaxed);
                // Waiting threads have nothing more to do.
                self.ready.notify_all();
            }
        }
    }
}

/// Checks one part's folders; `None` at the first difference.
fn check_part(part: &[u8]) -> Option<Held> {
    let mut r = Reader::new(part);
    let folders = r.varint()?;
    let mut path: Vec<u8> = Vec::new();
    let mut transcripts = 0;
    for _ in 0..folders {
        let shared = usize::try_from(r.varint()?).ok()?;
        let len = usize::try_from(r.varint()?).ok()?;
        if shared > path.len() {
            return None;
        }
        path.truncate(shared);
        path.extend_from_slice(r.take(len)?);
        let count = usize::try_from(r.varint()?).ok()?;
        let mut stat_at = EntryStats::new(OsStr::from_bytes(&path), count)?;
        for _ in 0..count {
            let want = r.entry()?;
            let now = stat_at.stat(want.name)?;
            let kind_holds = match want.kind {
                EntryKind::Folder => now.is_dir,
                _ => now.is_file && now.size == want.size,
            };
            let holds = kind_holds
                && now.dev == want.dev
                && now.ino == want.ino
                && now.mtime_ns == want.mtime_ns;
            if !holds {
                return None;
            }
            transcripts += u64::from(want.kind == EntryKind::Transcript);
        }
    }
    r.rest().is_empty().then_some(Held {
        transcripts,
        folders,
    })
}

/// One recorded entry (a folder's size is not recorded: zero).
struct Entry<'l> {
    kind: EntryKind,
    name: &'l CStr,
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
}

struct Reader<'l> {
    list: &'l [u8],
    pos: usize,
}

impl<'l> Reader<'l> {
    fn new(list: &'l [u8]) -> Self {
        Reader { list, pos: 0 }
    }

    fn rest(&self) -> &'l [u8] {
        &self.list[self.pos..]
    }

    fn take(&mut self, n: usize) -> Option<&'l [u8]> {
        let bytes = self.rest().get(..n)?;
        self.pos += n;
        Some(bytes)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn entry(&mut self) -> Option<Entry<'l>> {
        let kind = match self.byte()? {
            b'd' => EntryKind::Folder,
            b'f' => EntryKind::Transcript,
            _ => return None,
        };
        let len = memchr::memchr(0, self.rest())?;
        let name = CStr::from_bytes_with_nul(self.take(len + 1)?).ok()?;
        // A name is one path component.
        if name.is_empty() || name.to_bytes().contains(&b'/') {
            return None;
        }
        let (dev, ino) = (self.varint()?, self.varint()?);
        let size = match kind {
            EntryKind::Transcript => self.varint()?,
            _ => 0,
        };
        Some(Entry {
            kind,
            name,
            dev,
            ino,
            size,
            mtime_ns: self.i64()?,
        })
    }
}

fn put_folder_stat(out: &mut Vec<u8>, listing: &FolderListing) {
    put_varint(out, listing.dev);
    put_varint(out, listing.ino);
    out.extend_from_slice(&listing.mtime_ns.to_le_bytes());
}

fn put_name(out: &mut Vec<u8>, kind: u8, name: &OsStr) {
    out.push(kind);
    out.extend_from_slice(name.as_bytes());
    out.push(0);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::walk::find_transcripts_on;
    use std::fs::FileTimes;
    use std::time::{Duration, SystemTime};

    /// Feeds a recorded list to a check, as the ingest does from the store.
    pub(crate) fn holds(list: &[Vec<u8>], roots: &[PathBuf]) -> Option<Held> {
        let (header, parts) = list.split_first()?;
        let mut check = StatListCheck::start(header, roots)?;
        for part in parts {
            if check.part(part).is_break() {
                break;
            }
        }
        check.finish()
    }

    fn local(_: &Path) -> bool {
        true
    }

    /// Walks `roots` (trusting folder times, given the previous walk's memo) and records
    /// its list.
    fn walk_and_record(roots: &[PathBuf], memo: &FolderMemo) -> (Walk, Option<Vec<Vec<u8>>>) {
        let walk = find_transcripts_on(roots, memo, local, usize::MAX);
        let list = record(roots, &walk, memo);
        (walk, list)
    }

    fn set_mtime(path: &Path, when: SystemTime) {
        fs::File::open(path)
            .unwrap()
            .set_times(FileTimes::new().set_modified(when))
            .unwrap();
    }

    fn an_hour_ago() -> SystemTime {
        SystemTime::now() - Duration::from_secs(3600)
    }

    /// Every folder under `dir`, itself included, set an hour back: listings taken now
    /// are then past the racy window.
    fn age_folders(dir: &Path) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                age_folders(&entry.path());
            }
        }
        set_mtime(dir, an_hour_ago());
    }

    fn append(path: &Path, bytes: &str) {
        let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
        std::io::Write::write_all(&mut f, bytes.as_bytes()).unwrap();
    }

    /// A root with a folder of five transcripts (opened to stat its entries), small
    /// folders (stat-ed by path), and a file that is not a transcript.
    fn tree(dir: &Path) -> PathBuf {
        let root = dir.join("root");
        let p = root.join("projects");
        fs::create_dir_all(p.join("p1/s1/subagents")).unwrap();
        fs::create_dir_all(p.join("p2")).unwrap();
        for name in ["a", "b", "c", "d", "e"] {
            fs::write(p.join(format!("p1/{name}.jsonl")), "{}\n").unwrap();
        }
        fs::write(p.join("p1/s1/subagents/agent-1.jsonl"), "{}\n").unwrap();
        fs::write(p.join("p2/f.jsonl"), "{}\n{}\n").unwrap();
        fs::write(p.join("p2/notes.txt"), "x").unwrap();
        age_folders(&p);
        root
    }

    #[test]
    fn a_list_holds_until_anything_it_covers_changes() {
        type Change = fn(&Path);
        let changes: [(&str, Change); 13] = [
            ("a transcript grew (opened folder)", |p| {
                append(&p.join("p1/a.jsonl"), "{}\n")
            }),
            ("a transcript grew (folder stat-ed by path)", |p| {
                append(&p.join("p1/s1/subagents/agent-1.jsonl"), "{}\n")
            }),
            ("a transcript grew, its mtime set back", |p| {
                let file = p.join("p1/e.jsonl");
                let before = fs::metadata(&file).unwrap().modified().unwrap();
                append(&file, "{}\n");
                set_mtime(&file, before);
            }),
            ("a transcript's mtime moved, its size did not", |p| {
                set_mtime(&p.join("p2/f.jsonl"), an_hour_ago())
            }),
            ("a transcript was replaced by a copy", |p| {
                let copy = p.join("p1/b.copy");
                fs::copy(p.join("p1/b.jsonl"), &copy).unwrap();
                fs::rename(&copy, p.join("p1/b.jsonl")).unwrap();
            }),
            ("a transcript was added", |p| {
                fs::write(p.join("p2/g.jsonl"), "{}\n").unwrap()
            }),
            ("a transcript was renamed", |p| {
                fs::rename(p.join("p1/c.jsonl"), p.join("p1/z.jsonl")).unwrap()
            }),
            ("a transcript was removed", |p| {
                fs::remove_file(p.join("p1/d.jsonl")).unwrap()
            }),
            ("a folder was removed", |p| {
                fs::remove_dir_all(p.join("p1/s1")).unwrap()
            }),
            ("a folder was added deep down", |p| {
                fs::create_dir(p.join("p1/s1/subagents/more")).unwrap()
            }),
            ("a folder's mtime moved", |p| {
                set_mtime(&p.join("p2"), SystemTime::now())
            }),
            ("the projects folder's mtime moved", |p| {
                set_mtime(p, SystemTime::now())
            }),
            ("the projects folder is gone", |p| {
                fs::remove_dir_all(p).unwrap()
            }),
        ];
        for (what, change) in changes {
            let dir = tempfile::tempdir().unwrap();
            let roots = vec![tree(dir.path())];
            let (walk, list) = walk_and_record(&roots, &FolderMemo::default());
            let list = list.expect("recorded");
            let held = Held {
                transcripts: walk.files.len() as u64,
                folders: 5,
            };
            assert_eq!(walk.files.len(), 7);
            assert_eq!(holds(&list, &roots), Some(held), "before: {what}");
            assert_eq!(holds(&list, &roots), Some(held), "checked twice: {what}");
            change(&roots[0].join("projects"));
            assert_eq!(holds(&list, &roots), None, "{what}");
        }
    }

    #[test]
    fn nothing_is_recorded_that_stats_alone_cannot_vouch_for() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec![tree(dir.path())];
        let p = roots[0].join("projects");
        assert!(walk_and_record(&roots, &FolderMemo::default()).1.is_some());

        // A folder changed just now: its listing is within the racy window.
        fs::write(p.join("p2/g.jsonl"), "{}\n").unwrap();
        assert!(walk_and_record(&roots, &FolderMemo::default()).1.is_none());
        age_folders(&p);
        assert!(walk_and_record(&roots, &FolderMemo::default()).1.is_some());

        // A link: its target can change with no stat the list takes changing.
        std::os::unix::fs::symlink(p.join("p2"), p.join("p1/link")).unwrap();
        age_folders(&p);
        assert!(walk_and_record(&roots, &FolderMemo::default()).1.is_none());
        fs::remove_file(p.join("p1/link")).unwrap();

        // A transcript met twice (a hard link): the walk keeps one, by inode.
        fs::hard_link(p.join("p1/a.jsonl"), p.join("p2/a.jsonl")).unwrap();
        age_folders(&p);
        assert!(walk_and_record(&roots, &FolderMemo::default()).1.is_none());
        fs::remove_file(p.join("p2/a.jsonl")).unwrap();

        // Folders whose listings are not remembered (a network file system).
        age_folders(&p);
        let walk = find_transcripts_on(&roots, &FolderMemo::default(), |_| false, usize::MAX);
        assert!(record(&roots, &walk, &FolderMemo::default()).is_none());

        // A root without a projects folder is recorded as such, and holds until one
        // appears.
        let empty = vec![dir.path().join("empty")];
        let (_, list) = walk_and_record(&empty, &FolderMemo::default());
        let list = list.expect("recorded");
        assert_eq!(
            holds(&list, &empty),
            Some(Held {
                transcripts: 0,
                folders: 0
            })
        );
        fs::create_dir_all(empty[0].join("projects")).unwrap();
        assert_eq!(holds(&list, &empty), None);
    }

    #[test]
    fn a_list_checked_in_parts_on_several_threads_finds_one_change_anywhere() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let p = root.join("projects");
        for i in 0..1000 {
            let folder = p.join(format!("-home-user-project-{i:03}"));
            fs::create_dir_all(&folder).unwrap();
            for n in 0..2 {
                fs::write(folder.join(format!("session-{n}.jsonl")), "{}\n").unwrap();
            }
        }
        age_folders(&p);
        let roots = vec![root];
        let (walk, list) = walk_and_record(&roots, &FolderMemo::default());
        let list = list.expect("recorded");
        assert!(list.len() > 3, "{} parts", list.len());
        assert_eq!(
            holds(&list, &roots),
            Some(Held {
                transcripts: 2000,
                folders: 1001
            })
        );
        // Any one transcript, wherever its folder is in the list.
        for i in [0, 537, 999] {
            let file = walk.files[i * 2 + 1].path.clone();
            append(&file, "{}\n");
            assert_eq!(holds(&list, &roots), None, "{}", file.display());
            let (_, again) = walk_and_record(&roots, &FolderMemo::default());
            assert!(holds(&again.unwrap(), &roots).is_some());
            // The list before that change still sees it.
            assert_eq!(holds(&list, &roots), None);
        }
    }

    #[test]
    fn a_list_for_other_roots_or_not_whole_does_not_hold() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec![tree(dir.path())];
        let (_, list) = walk_and_record(&roots, &FolderMemo::default());
        let list = list.unwrap();
        assert!(holds(&list, &roots).is_some());
        assert_eq!(holds(&list, &[dir.path().join("other")]), None);
        assert_eq!(holds(&list, &[roots[0].clone(), roots[0].clone()]), None);
        assert_eq!(holds(&list[..list.len() - 1], &roots), None, "a part short");
        let doubled = [list.clone(), list[1..].to_vec()].concat();
        assert_eq!(holds(&doubled, &roots), None, "a part twice");
        // Every cut and every changed byte of every part: never a panic, never "holds".
        for (i, part) in list.iter().enumerate() {
            for cut in 0..part.len() {
                let mut damaged = list.clone();
                damaged[i].truncate(cut);
                assert_eq!(holds(&damaged, &roots), None, "part {i} cut at {cut}");
            }
            for at in 0..part.len() {
                let mut damaged = list.clone();
                damaged[i][at] ^= 0xff;
                assert_eq!(holds(&damaged, &roots), None, "part {i} byte {at}");
            }
        }
    }
}
