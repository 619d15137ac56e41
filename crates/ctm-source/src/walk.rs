//! Finds the transcripts under each data root's `projects/` folder.
//!
//! A run where nothing changed must cost no more than a stat per file, so folder
//! listings are remembered (a [`FolderMemo`], read from the stat list the ingest keeps
//! in the store: see [`crate::stat_list`]) and a folder whose own stat is as it was when
//! it was listed is not listed again: adding, removing or renaming an entry changes a
//! folder's mtime, and changing a file's bytes changes only the file's, which the walk
//! stats anyway.

use rayon::prelude::*;
use std::collections::HashMap;
use std::ffi::{CStr, OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A transcript found on disk, with the facts a cursor compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

/// A folder or file that could not be read; reported, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkProblem {
    pub path: PathBuf,
    pub reason: String,
}

/// What a folder held when it was last listed, and how it looked then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderListing {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    /// Whether the listing began after the racy window of the folder's mtime (see
    /// [`RACY_NS`]): only such a listing may be reused.
    pub settled: bool,
    /// The entries the walk follows, sorted by name (other files are left out): for
    /// each, a kind byte, the name, a NUL. Kept encoded so that reusing a listing
    /// allocates nothing per entry.
    entries: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Folder,
    /// A regular file named `*.jsonl`.
    Transcript,
    /// A symbolic link, resolved on every walk (its target can change on its own).
    Link,
}

impl EntryKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            EntryKind::Folder => b'd',
            EntryKind::Transcript => b'f',
            EntryKind::Link => b'l',
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<EntryKind> {
        match code {
            b'd' => Some(EntryKind::Folder),
            b'f' => Some(EntryKind::Transcript),
            b'l' => Some(EntryKind::Link),
            _ => None,
        }
    }
}

impl FolderListing {
    /// A listing of `entries` (kind and name, in name order) taken from disk at
    /// `listed_at_ns`.
    pub fn new<'n>(
        dev: u64,
        ino: u64,
        mtime_ns: i64,
        listed_at_ns: i64,
        entries: impl IntoIterator<Item = (EntryKind, &'n OsStr)>,
    ) -> Self {
        let mut listing = FolderListing::remembered(dev, ino, mtime_ns, entries);
        listing.settled = mtime_ns < listed_at_ns.saturating_sub(RACY_NS);
        listing
    }

    /// A listing kept from an earlier walk: settled when it was taken (the stat list
    /// keeps no other).
    pub fn remembered<'n>(
        dev: u64,
        ino: u64,
        mtime_ns: i64,
        entries: impl IntoIterator<Item = (EntryKind, &'n OsStr)>,
    ) -> Self {
        let mut encoded = Vec::new();
        for (kind, name) in entries {
            encoded.push(kind.code());
            encoded.extend_from_slice(name.as_bytes());
            encoded.push(0);
        }
        FolderListing {
            dev,
            ino,
            mtime_ns,
            settled: true,
            entries: encoded,
        }
    }

    /// Whether this listing still tells what the folder holds, given the folder's stat
    /// now: the same folder, not modified since, and listed after the racy window.
    pub(crate) fn vouched_for(&self, now: &Stat) -> bool {
        self.dev == now.dev && self.ino == now.ino && self.mtime_ns == now.mtime_ns && self.settled
    }

    /// The entries, in name order, each name as the C string it is stored as (every
    /// name is followed by its NUL), for a stat relative to the folder.
    pub(crate) fn entries_c(&self) -> impl Iterator<Item = (EntryKind, &CStr)> {
        let mut rest = self.entries.as_slice();
        std::iter::from_fn(move || {
            let (&code, tail) = rest.split_first()?;
            let end = memchr::memchr(0, tail)?;
            let name = CStr::from_bytes_with_nul(&tail[..=end]).ok()?;
            rest = &tail[end + 1..];
            Some((EntryKind::from_code(code)?, name))
        })
    }

    /// The entries, in name order.
    pub fn entries(&self) -> impl Iterator<Item = (EntryKind, &OsStr)> {
        // Checked when made: every entry is a known kind byte, a name, a NUL.
        self.entries.split(|&b| b == 0).filter_map(|e| {
            let (&code, name) = e.split_first()?;
            Some((EntryKind::from_code(code)?, OsStr::from_bytes(name)))
        })
    }
}

/// Listings from an earlier walk, by folder path (as a plain string of bytes: hashing a
/// `Path` goes component by component, which showed in the profile). Read from the
/// stored stat list ([`crate::stat_list::memo`]).
pub type FolderMemo = foldhash::HashMap<OsString, FolderListing>;

/// How long after a folder's mtime a listing must have begun to be reused.
///
/// File systems stamp times from a clock that advances in ticks (a few milliseconds;
/// a second on some), so an entry added just after a listing can leave the folder's
/// mtime as it was. A listing that began well after the mtime cannot have missed
/// such an entry: a later change would carry a later time.
const RACY_NS: i64 = 2_000_000_000;

#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<FoundFile>,
    /// What each root's `projects` path was when the walk began, in the roots' order.
    pub(crate) projects: Vec<ProjectsFolder>,
    pub problems: Vec<WalkProblem>,
    /// Directories skipped because a symlink led back into a folder already walked.
    pub symlink_loops: u64,
    /// Every folder walked on a file system whose folder times can be trusted, with
    /// its new listing, or `None` where the remembered one was reused: with the memo
    /// this walk was given, the memo for the next walk.
    pub folders: Vec<(PathBuf, Option<FolderListing>)>,
    /// Folders read from disk this walk.
    pub folders_listed: u64,
    /// Folders whose remembered listing was used instead.
    pub folders_reused: u64,
}

/// What the walk found at a root's `projects` path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProjectsFolder {
    Missing,
    /// A folder (links followed), entered with this stat.
    Folder(Stat),
    /// Something else, or an error: reported or skipped.
    Other,
}

/// Walks every root's `projects/` folder recursively for `*.jsonl` transcripts.
///
/// Symbolic links are followed (users link project folders), but every directory is
/// entered once, by device and inode, so a link loop ends; the same file reached
/// through two roots or two links is listed once (files are told apart by their own
/// device and inode). Unreadable entries become [`WalkProblem`]s. Non-transcript files
/// (`sessions-index.json`, tool results, meta files) are skipped quietly.
///
/// Every folder and transcript is stat-ed; a folder is listed only when `memo` has no
/// listing for it that its stat still vouches for (see [`RACY_NS`]), or when it is on
/// a file system whose times may come from another machine's clock (network file
/// systems), where nothing is reused.
pub fn find_transcripts(roots: &[PathBuf], memo: &FolderMemo) -> Walk {
    find_transcripts_on(roots, memo, local_file_system, PREFETCH_FOLDERS)
}

pub(crate) fn find_transcripts_on(
    roots: &[PathBuf],
    memo: &FolderMemo,
    is_local: fn(&Path) -> bool,
    prefetch_from: usize,
) -> Walk {
    let mut walker = Walker {
        walk: Walk::default(),
        // Sized from the last walk: about three transcripts per folder.
        seen_dirs: foldhash::HashSet::with_capacity_and_hasher(memo.len(), Default::default()),
        seen_files: foldhash::HashSet::with_capacity_and_hasher(memo.len() * 3, Default::default()),
        memo,
        prefetched: prefetch(memo, roots, prefetch_from),
        is_local,
        local_devs: HashMap::new(),
    };
    for root in roots {
        let projects = root.join("projects");
        let found = match fs::metadata(&projects) {
            Ok(m) if m.is_dir() => {
                let stat = Stat::from(&m);
                walker.enter(&projects, &stat);
                ProjectsFolder::Folder(stat)
            }
            Ok(_) => ProjectsFolder::Other,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ProjectsFolder::Missing,
            Err(e) => {
                walker.walk.problems.push(WalkProblem {
                    path: projects,
                    reason: e.to_string(),
                });
                ProjectsFolder::Other
            }
        };
        walker.walk.projects.push(found);
    }
    walker.walk
}

struct Walker<'m> {
    walk: Walk,
    seen_dirs: foldhash::HashSet<(u64, u64)>,
    seen_files: foldhash::HashSet<(u64, u64)>,
    memo: &'m FolderMemo,
    /// Stats of remembered folders' entries taken ahead of the walk (taken out as used).
    prefetched: Prefetched<'m>,
    is_local: fn(&Path) -> bool,
    /// Per device: can folder listings there be remembered?
    local_devs: HashMap<u64, bool>,
}

/// An entry of a folder: its kind, its path, and its stat (folders and transcripts;
/// links are resolved when visited).
type Stated = (EntryKind, PathBuf, Option<Stat>);

/// What the walk needs of a stat, from `std` or from a `statx` relative to a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) is_dir: bool,
    pub(crate) is_file: bool,
}

impl From<&fs::Metadata> for Stat {
    fn from(m: &fs::Metadata) -> Self {
        Stat {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            is_dir: m.is_dir(),
            is_file: m.is_file(),
        }
    }
}

/// The stats of remembered folders' entries (see [`stat_entries`]), by folder.
type Prefetched<'m> = foldhash::HashMap<&'m OsStr, Option<Vec<Option<Stat>>>>;

/// From this many remembered folders on, their entries are stat-ed on every core before
/// the walk: at tens of thousands of transcripts the stats are most of a run where
/// nothing changed, and the kernel serves them in parallel.
const PREFETCH_FOLDERS: usize = 256;

/// Stats every remembered folder's entries on every core. A stat
/// taken a moment before the walk reaches the folder is as good as one taken then:
/// the walk is not a snapshot either, and what changes meanwhile is seen next run.
fn prefetch<'m>(memo: &'m FolderMemo, roots: &[PathBuf], from: usize) -> Prefetched<'m> {
    // Only folders under these roots: the memo may hold other roots' folders too.
    let scopes: Vec<PathBuf> = roots.iter().map(|r| r.join("projects")).collect();
    let folders: Vec<(&OsString, &FolderListing)> = memo
        .iter()
        .filter(|(dir, _)| scopes.iter().any(|s| Path::new(dir).starts_with(s)))
        .collect();
    if folders.is_empty() || folders.len() < from {
        return Prefetched::default();
    }
    folders
        .par_iter()
        .map(|(dir, listing)| (dir.as_os_str(), stat_entries(dir, listing)))
        .collect()
}

impl Walker<'_> {
    /// Enters a directory, given its stat (links followed).
    fn enter(&mut self, dir: &Path, meta: &Stat) {
        if !self.seen_dirs.insert((meta.dev, meta.ino)) {
            self.walk.symlink_loops += 1;
            return;
        }
        let Some(entries) = self.entries(dir, meta) else {
            return;
        };
        for (kind, path, stat) in entries {
            match (kind, stat) {
                (EntryKind::Folder, Some(m)) => self.enter(&path, &m),
                (EntryKind::Transcript, Some(m)) => self.push_file(path, &m),
                (EntryKind::Link, _) => self.link(path),
                _ => {}
            }
        }
    }

    /// The folder's entries with their stats: remembered when the memo holds a
    /// listing its stat still vouches for, else listed from disk.
    fn entries(&mut self, dir: &Path, meta: &Stat) -> Option<Vec<Stated>> {
        let remember = self.remembers(meta.dev, dir);
        let mtime_ns = meta.mtime_ns;
        if remember {
            if let Some(known) = self.memo.get(dir.as_os_str()) {
                if known.vouched_for(meta) {
                    let stats = match self.prefetched.remove(dir.as_os_str()) {
                        Some(stats) => stats,
                        None => stat_entries(dir.as_os_str(), known),
                    };
                    if let Some(stated) = stats.map(|stats| with_paths(dir, known, stats)) {
                        self.walk.folders_reused += 1;
                        self.walk.folders.push((dir.to_path_buf(), None));
                        return Some(stated);
                    }
                }
            }
        }
        let listed_at_ns = now_ns();
        let stated = self.list(dir)?;
        self.walk.folders_listed += 1;
        if remember {
            let names = stated
                .iter()
                .map(|(kind, path, _)| (*kind, path.file_name().unwrap_or_default()));
            let listing = FolderListing::new(meta.dev, meta.ino, mtime_ns, listed_at_ns, names);
            self.walk.folders.push((dir.to_path_buf(), Some(listing)));
        }
        Some(stated)
    }

    /// Lists a folder from disk, sorted by name so that runs are reproducible whatever
    /// order the file system lists in.
    fn list(&mut self, dir: &Path) -> Option<Vec<Stated>> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.walk.problems.push(WalkProblem {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                });
                return None;
            }
        };
        let mut stated = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let kind = if file_type.is_dir() {
                EntryKind::Folder
            } else if file_type.is_file() && is_transcript_name(&name) {
                EntryKind::Transcript
            } else if file_type.is_symlink() {
                EntryKind::Link
            } else {
                continue;
            };
            // Relative to the open folder and without following links: the cheapest stat.
            let stat = match kind {
                EntryKind::Link => None,
                _ => match entry.metadata() {
                    Ok(m) => Some(Stat::from(&m)),
                    Err(e) => {
                        self.walk.problems.push(WalkProblem {
                            path: entry.path(),
                            reason: e.to_string(),
                        });
                        continue;
                    }
                },
            };
            stated.push((name, kind, stat));
        }
        stated.sort_by(|a, b| a.0.cmp(&b.0));
        let stated = stated
            .into_iter()
            .map(|(name, kind, stat)| (kind, dir.join(name), stat))
            .collect();
        Some(stated)
    }

    fn link(&mut self, path: PathBuf) {
        match fs::metadata(&path) {
            Ok(m) if m.is_dir() => self.enter(&path, &Stat::from(&m)),
            Ok(m) if m.is_file() && path.file_name().is_some_and(is_transcript_name) => {
                self.push_file(path, &Stat::from(&m))
            }
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc_eloop()) => self.walk.symlink_loops += 1,
            // A dangling link is not a problem worth reporting.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => self.walk.problems.push(WalkProblem {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Whether listings of folders on `dev` (reached at `dir`) can be remembered.
    fn remembers(&mut self, dev: u64, dir: &Path) -> bool {
        let is_local = self.is_local;
        *self.local_devs.entry(dev).or_insert_with(|| is_local(dir))
    }

    fn push_file(&mut self, path: PathBuf, m: &Stat) {
        if !self.seen_files.insert((m.dev, m.ino)) {
            return;
        }
        self.walk.files.push(FoundFile {
            path,
            dev: m.dev,
            ino: m.ino,
            size: m.size,
            mtime_ns: m.mtime_ns,
        });
    }
}

/// Stats the remembered entries of a folder (links are resolved when visited, so they
/// get none); `None` when one is no longer what the listing says (a change the folder's
/// mtime did not show), or the folder cannot be opened: it is listed again then.
///
/// On Linux the folder is opened once and each entry stat-ed relative to it, so the
/// kernel looks up one name per entry instead of every component of its path.
fn stat_entries(dir: &OsStr, listing: &FolderListing) -> Option<Vec<Option<Stat>>> {
    let stats = listing
        .entries_c()
        .filter(|(kind, _)| *kind != EntryKind::Link)
        .count();
    let mut stat_at = EntryStats::new(dir, stats)?;
    listing
        .entries_c()
        .map(|(kind, name)| {
            let stat = match kind {
                EntryKind::Link => return Some(None),
                EntryKind::Folder | EntryKind::Transcript => stat_at.stat(name)?,
            };
            let same_kind = if kind == EntryKind::Folder {
                stat.is_dir
            } else {
                stat.is_file
            };
            same_kind.then_some(Some(stat))
        })
        .collect()
}

/// Stats entries of one folder by name (links not followed).
#[cfg(target_os = "linux")]
pub(crate) enum EntryStats {
    /// The folder, opened: each stat looks up one name.
    Opened(std::os::fd::OwnedFd),
    /// The folder's path and a slash (`dir_len` bytes), to which each name is appended.
    ByPath { path: Vec<u8>, dir_len: usize },
}

#[cfg(target_os = "linux")]
impl EntryStats {
    /// Opening (and closing) a folder costs about two stats by path, so a folder is
    /// opened only for four stats or more. `None` when it cannot be opened.
    pub(crate) fn new(dir: &OsStr, stats: usize) -> Option<Self> {
        use std::os::fd::{FromRawFd, OwnedFd};
        if stats < 4 {
            let mut path = Vec::with_capacity(dir.len() + 64);
            path.extend_from_slice(dir.as_bytes());
            path.push(b'/');
            let dir_len = path.len();
            return Some(EntryStats::ByPath { path, dir_len });
        }
        let c_dir = std::ffi::CString::new(dir.as_bytes()).ok()?;
        // SAFETY: `c_dir` is a NUL-terminated path; the descriptor returned is owned below.
        let fd = unsafe {
            libc::open(
                c_dir.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` was just opened and is not owned elsewhere.
        Some(EntryStats::Opened(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub(crate) fn stat(&mut self, name: &CStr) -> Option<Stat> {
        use std::os::fd::AsRawFd;
        // SAFETY: a zeroed statx is a valid value; the call fills it.
        let mut buf: libc::statx = unsafe { std::mem::zeroed() };
        let mask = libc::STATX_TYPE | libc::STATX_INO | libc::STATX_SIZE | libc::STATX_MTIME;
        let rc = match self {
            // SAFETY: the folder descriptor is open, `name` is NUL-terminated, `buf`
            // writable.
            EntryStats::Opened(folder) => unsafe {
                libc::statx(
                    folder.as_raw_fd(),
                    name.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                    mask,
                    &mut buf,
                )
            },
            EntryStats::ByPath { path, dir_len } => {
                path.truncate(*dir_len);
                path.extend_from_slice(name.to_bytes_with_nul());
                // SAFETY: `path` ends with the name's NUL; `buf` is writable.
                unsafe {
                    libc::statx(
                        libc::AT_FDCWD,
                        path.as_ptr().cast(),
                        libc::AT_SYMLINK_NOFOLLOW,
                        mask,
                        &mut buf,
                    )
                }
            }
        };
        if rc != 0 {
            return None;
        }
        let file_type = u32::from(buf.stx_mode) & libc::S_IFMT;
        Some(Stat {
            // As `std` makes `st_dev` from a statx, so both walks' devices compare.
            dev: libc::makedev(buf.stx_dev_major, buf.stx_dev_minor),
            ino: buf.stx_ino,
            size: buf.stx_size,
            mtime_ns: buf
                .stx_mtime
                .tv_sec
                .saturating_mul(1_000_000_000)
                .saturating_add(i64::from(buf.stx_mtime.tv_nsec)),
            is_dir: file_type == libc::S_IFDIR,
            is_file: file_type == libc::S_IFREG,
        })
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) struct EntryStats(PathBuf);

#[cfg(not(target_os = "linux"))]
impl EntryStats {
    pub(crate) fn new(dir: &OsStr, _stats: usize) -> Option<Self> {
        Some(EntryStats(PathBuf::from(dir)))
    }

    pub(crate) fn stat(&mut self, name: &CStr) -> Option<Stat> {
        let m = fs::symlink_metadata(self.0.join(OsStr::from_bytes(name.to_bytes()))).ok()?;
        Some(Stat::from(&m))
    }
}

/// A remembered listing's entries with their paths and stats.
fn with_paths(dir: &Path, listing: &FolderListing, stats: Vec<Option<Stat>>) -> Vec<Stated> {
    listing
        .entries()
        .zip(stats)
        .map(|((kind, name), stat)| (kind, dir.join(name), stat))
        .collect()
}

fn is_transcript_name(name: &OsStr) -> bool {
    Path::new(name).extension().is_some_and(|e| e == "jsonl")
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Whether the file system holding `dir` stamps folder times from this machine's
/// clock (see [`RACY_NS`]): the local disk file systems and memory ones. Network and
/// FUSE file systems may not, so nothing is remembered there.
#[cfg(target_os = "linux")]
fn local_file_system(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated path and `buf` a writable statfs the call fills.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut buf) } != 0 {
        return false;
    }
    is_local_magic(buf.f_type as u32)
}

#[cfg(not(target_os = "linux"))]
fn local_file_system(_dir: &Path) -> bool {
    false
}

/// `statfs` magic numbers (linux/magic.h) of file systems whose times come from
/// this kernel's clock.
fn is_local_magic(f_type: u32) -> bool {
    const LOCAL: [u32; 12] = [
        0xEF53,      // ext2, ext3, ext4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0x0102_1994, // tmpfs
        0x8584_58F6, // ramfs
        0x794C_7630, // overlayfs
        0x2FC1_2FC1, // zfs
        0xF2F5_2010, // f2fs
        0xCA45_1A4E, // bcachefs
        0x3153_464A, // jfs
        0x5265_4973, // reiserfs
        0x3434,      // nilfs
    ];
    LOCAL.contains(&f_type)
}

/// ELOOP ("too many levels of symbolic links"): 40 on Linux, 62 on macOS and the BSDs.
fn libc_eloop() -> i32 {
    if cfg!(target_os = "linux") {
        40
    } else {
        62
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::FileTimes;
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    fn names(walk: &Walk, base: &Path) -> Vec<String> {
        walk.files
            .iter()
            .map(|f| f.path.strip_prefix(base).unwrap().display().to_string())
            .collect()
    }

    /// What the next walk gets from this one, given the memo it was given (what the
    /// ingest keeps in the store).
    fn next_memo(walk: &Walk, given: &FolderMemo) -> FolderMemo {
        walk.folders
            .iter()
            .map(|(p, l)| {
                let key = p.clone().into_os_string();
                let listing = l.clone().unwrap_or_else(|| given[&key].clone());
                (key, listing)
            })
            .collect()
    }

    fn memo_of(walk: &Walk) -> FolderMemo {
        next_memo(walk, &FolderMemo::default())
    }

    /// Sets the mtime of every folder under `dir` (itself included) to `secs_ago`
    /// seconds before now, so that listings taken now are past the racy window.
    fn age_folders(dir: &Path, secs_ago: u64) {
        let when = SystemTime::now() - Duration::from_secs(secs_ago);
        for d in folders_under(dir) {
            set_mtime(&d, when);
        }
    }

    /// `dir` and every folder below it.
    fn folders_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                }
            }
            found.push(d);
        }
        found
    }

    fn set_mtime(dir: &Path, when: SystemTime) {
        fs::File::open(dir)
            .unwrap()
            .set_times(FileTimes::new().set_modified(when))
            .unwrap();
    }

    fn local(_: &Path) -> bool {
        true
    }

    fn remote(_: &Path) -> bool {
        false
    }

    #[test]
    fn finds_nested_transcripts_skips_others_and_survives_loops() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let p = root.join("projects/-home-u-app");
        fs::create_dir_all(p.join("s1/subagents")).unwrap();
        fs::create_dir_all(p.join("s1/tool-results")).unwrap();
        fs::write(p.join("s1.jsonl"), "{}\n").unwrap();
        fs::write(p.join("s1/subagents/agent-a1.jsonl"), "{}\n").unwrap();
        fs::write(p.join("s1/subagents/agent-a1.meta.json"), "{}").unwrap();
        fs::write(p.join("s1/tool-results/x.txt"), "x").unwrap();
        fs::write(p.join("sessions-index.json"), "{}").unwrap();
        symlink(&p, p.join("s1/loop")).unwrap();
        symlink(p.join("missing"), p.join("dangling.jsonl")).unwrap();

        // The same root twice: files count once.
        let walk = find_transcripts(&[root.clone(), root.clone()], &FolderMemo::default());
        assert_eq!(
            names(&walk, &root),
            vec![
                "projects/-home-u-app/s1/subagents/agent-a1.jsonl",
                "projects/-home-u-app/s1.jsonl"
            ]
        );
        assert!(walk.symlink_loops >= 1);
        assert!(walk.problems.is_empty(), "{:?}", walk.problems);
    }

    /// With or without a memo, and where nothing may be remembered, the same files
    /// and the same loops.
    #[test]
    fn links_into_walked_folders_are_entered_once_with_or_without_a_memo() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let projects = root.join("projects");
        let b = projects.join("b-project");
        fs::create_dir_all(b.join("sub/deeper")).unwrap();
        fs::write(b.join("s.jsonl"), "{}\n").unwrap();
        fs::write(b.join("sub/deeper/agent.jsonl"), "{}\n").unwrap();
        // Sorted before `b-project`: the folder is first reached through the link.
        symlink(&b, projects.join("a-link")).unwrap();
        // And a link back up from below.
        symlink(&projects, b.join("sub/up")).unwrap();
        age_folders(&projects, 3600);

        let roots = std::slice::from_ref(&root);
        let first = find_transcripts_on(roots, &FolderMemo::default(), local, PREFETCH_FOLDERS);
        let memo = memo_of(&first);
        let again = find_transcripts_on(roots, &memo, local, PREFETCH_FOLDERS);
        let remote_walk = find_transcripts_on(roots, &memo, remote, PREFETCH_FOLDERS);
        for (way, walk) in [
            ("listed", &first),
            ("remembered", &again),
            ("remote", &remote_walk),
        ] {
            assert_eq!(
                names(walk, &projects),
                vec!["a-link/s.jsonl", "a-link/sub/deeper/agent.jsonl"],
                "{way}"
            );
            // `b-project` after its link, and `projects` again through `up`.
            assert_eq!(walk.symlink_loops, 2, "{way}");
            assert!(walk.problems.is_empty(), "{way}: {:?}", walk.problems);
        }
        assert_eq!((first.folders_listed, first.folders_reused), (4, 0));
        assert_eq!((again.folders_listed, again.folders_reused), (0, 4));
        assert_eq!(next_memo(&again, &memo), memo);
        assert_eq!(
            (remote_walk.folders_listed, remote_walk.folders_reused),
            (4, 0)
        );
        assert!(remote_walk.folders.is_empty());
    }

    #[test]
    fn a_folder_is_listed_again_when_its_stat_changes_or_its_listing_was_racy() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let p = root.join("projects/app");
        fs::create_dir_all(p.join("s1/subagents")).unwrap();
        fs::write(p.join("s1.jsonl"), "{}\n").unwrap();
        let roots = std::slice::from_ref(&root);

        // Listed just now, moments after the folders changed: not trusted next time.
        let racy = find_transcripts_on(roots, &FolderMemo::default(), local, PREFETCH_FOLDERS);
        let relisted = find_transcripts_on(roots, &memo_of(&racy), local, PREFETCH_FOLDERS);
        assert_eq!(relisted.folders_reused, 0);
        assert_eq!(relisted.folders_listed, 4);

        age_folders(&root.join("projects"), 3600);
        let listed = find_transcripts_on(roots, &FolderMemo::default(), local, PREFETCH_FOLDERS);
        let memo = memo_of(&listed);
        assert_eq!(
            find_transcripts_on(roots, &memo, local, PREFETCH_FOLDERS).folders_reused,
            4
        );

        // A new transcript changes its folder's mtime: that folder alone is listed.
        fs::write(p.join("s1/subagents/agent-x.jsonl"), "{}\n").unwrap();
        let grown = find_transcripts_on(roots, &memo, local, PREFETCH_FOLDERS);
        assert_eq!((grown.folders_listed, grown.folders_reused), (1, 3));
        assert_eq!(
            names(&grown, &p),
            vec!["s1/subagents/agent-x.jsonl", "s1.jsonl"]
        );

        // A folder replaced by another (new inode) whose mtime is made to match.
        let old_mtime = fs::metadata(p.join("s1")).unwrap().modified().unwrap();
        fs::rename(p.join("s1"), root.join("s1-old")).unwrap();
        fs::create_dir_all(p.join("s1/subagents")).unwrap();
        fs::write(p.join("s1/subagents/agent-y.jsonl"), "{}\n").unwrap();
        for d in [p.join("s1"), p.clone()] {
            set_mtime(&d, old_mtime);
        }
        let replaced = find_transcripts_on(roots, &memo, local, PREFETCH_FOLDERS);
        assert_eq!(
            names(&replaced, &p),
            vec!["s1/subagents/agent-y.jsonl", "s1.jsonl"]
        );
    }

    /// A change the folder's mtime does not show (here: a transcript deleted, then the
    /// mtime put back) is caught when the remembered entry is stat-ed.
    #[test]
    fn stats_taken_ahead_are_std_stats_and_stay_under_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let (root, other) = (dir.path().join("a"), dir.path().join("b"));
        let p = root.join("projects/-home-u-app");
        fs::create_dir_all(p.join("s1/subagents")).unwrap();
        fs::write(p.join("s1.jsonl"), "{}\n").unwrap();
        // Enough entries for the folder to be opened, not stat-ed by path (see EntryStats).
        for i in 1..=5 {
            fs::write(p.join(format!("s1/subagents/agent-{i}.jsonl")), "{}\n{}\n").unwrap();
        }
        symlink(p.join("s1.jsonl"), p.join("linked.jsonl")).unwrap();
        fs::create_dir_all(other.join("projects/-x")).unwrap();
        fs::write(other.join("projects/-x/t.jsonl"), "{}\n").unwrap();
        let both = [root.clone(), other];
        let memo = memo_of(&find_transcripts_on(
            &both,
            &FolderMemo::default(),
            local,
            usize::MAX,
        ));
        assert_eq!(memo.len(), 6);

        let ahead = prefetch(&memo, std::slice::from_ref(&root), 0);
        let mut folders: Vec<&OsStr> = ahead.keys().copied().collect();
        folders.sort();
        assert_eq!(folders.len(), 4, "{folders:?}");
        assert!(folders
            .iter()
            .all(|f| Path::new(f).starts_with(root.join("projects"))));
        for (folder, stats) in &ahead {
            let listing = &memo[*folder];
            let stats = stats.as_ref().expect("every entry is as listed");
            assert_eq!(stats.len(), listing.entries().count());
            for ((kind, name), stat) in listing.entries().zip(stats) {
                let expected = (kind != EntryKind::Link).then(|| {
                    Stat::from(&fs::symlink_metadata(Path::new(folder).join(name)).unwrap())
                });
                assert_eq!(*stat, expected, "{folder:?}/{name:?}");
            }
        }
        // A folder whose entry changed kind is not vouched for.
        fs::remove_file(p.join("s1.jsonl")).unwrap();
        fs::create_dir(p.join("s1.jsonl")).unwrap();
        let ahead = prefetch(&memo, std::slice::from_ref(&root), 0);
        assert_eq!(ahead[p.as_os_str()], None);
    }

    #[test]
    fn a_remembered_entry_that_is_gone_makes_the_folder_listed_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let p = root.join("projects/app");
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("a.jsonl"), "{}\n").unwrap();
        fs::write(p.join("b.jsonl"), "{}\n").unwrap();
        age_folders(&root.join("projects"), 3600);
        let roots = std::slice::from_ref(&root);
        let memo = memo_of(&find_transcripts_on(
            roots,
            &FolderMemo::default(),
            local,
            PREFETCH_FOLDERS,
        ));

        let mtime = fs::metadata(&p).unwrap().modified().unwrap();
        fs::remove_file(p.join("a.jsonl")).unwrap();
        set_mtime(&p, mtime);
        let walk = find_transcripts_on(roots, &memo, local, PREFETCH_FOLDERS);
        assert_eq!(names(&walk, &p), vec!["b.jsonl"]);
        assert_eq!(walk.folders_listed, 1);
        assert!(walk.problems.is_empty(), "{:?}", walk.problems);
    }

    #[test]
    fn only_local_file_systems_are_trusted() {
        assert!(is_local_magic(0xEF53));
        assert!(is_local_magic(0x0102_1994));
        for remote in [0x6969, 0xFF53_4D42, 0x6573_5546, 0x0102_1997] {
            assert!(!is_local_magic(remote), "{remote:#x}");
        }
        let dir = tempfile::tempdir().unwrap();
        // Whatever this machine's temporary folder is on, the answer is a plain bool;
        // on Linux the test machines use ext4, overlayfs or tmpfs.
        if cfg!(target_os = "linux") {
            assert!(local_file_system(dir.path()));
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(usize, usize),
        Append(usize, usize),
        Remove(usize, usize),
        Rename(usize, usize, usize),
        WriteOther(usize),
        RemoveFolder(usize),
    }

    const FOLDERS: [&str; 4] = ["p1", "p1/s1", "p1/s1/subagents", "p2"];

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let f = 0..FOLDERS.len();
        let n = 0..3usize;
        prop_oneof![
            (f.clone(), n.clone()).prop_map(|(f, n)| Op::Write(f, n)),
            (f.clone(), n.clone()).prop_map(|(f, n)| Op::Append(f, n)),
            (f.clone(), n.clone()).prop_map(|(f, n)| Op::Remove(f, n)),
            (f.clone(), n.clone(), n).prop_map(|(f, a, b)| Op::Rename(f, a, b)),
            f.clone().prop_map(Op::WriteOther),
            f.prop_map(Op::RemoveFolder),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// After any sequence of changes, a walk with the memo of the walk before finds
        /// exactly what a walk listing every folder finds, and the stat list of the walk
        /// before holds only if that is what it found. Folder times are set to a
        /// new instant in the past whenever a change moved them, so listings are never
        /// racy and the memo is really reused.
        #[test]
        fn a_walk_with_the_memo_finds_what_a_full_listing_finds(
            ops in proptest::collection::vec(op(), 1..25)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_path_buf();
            let projects = root.join("projects");
            fs::create_dir_all(&projects).unwrap();
            let roots = std::slice::from_ref(&root);
            let base = SystemTime::now() - Duration::from_secs(100_000);
            let mut set: HashMap<PathBuf, SystemTime> = HashMap::new();
            let mut memo = FolderMemo::default();
            let mut recorded: Option<(Vec<Vec<u8>>, Vec<FoundFile>)> = None;
            for (step, op) in ops.iter().enumerate() {
                let file = |f: usize, n: usize| projects.join(FOLDERS[f]).join(format!("t{n}.jsonl"));
                let parent = |f: usize| projects.join(FOLDERS[f]);
                match *op {
                    Op::Write(f, n) => {
                        fs::create_dir_all(parent(f)).unwrap();
                        fs::write(file(f, n), "{}\n").unwrap();
                    }
                    Op::Append(f, n) => {
                        if file(f, n).exists() {
                            let mut w = fs::OpenOptions::new().append(true).open(file(f, n)).unwrap();
                            std::io::Write::write_all(&mut w, b"{}\n").unwrap();
                        }
                    }
                    Op::Remove(f, n) => {
                        let _ = fs::remove_file(file(f, n));
                    }
                    Op::Rename(f, a, b) => {
                        let _ = fs::rename(file(f, a), file(f, b));
                    }
                    Op::WriteOther(f) => {
                        fs::create_dir_all(parent(f)).unwrap();
                        fs::write(parent(f).join("notes.txt"), "x").unwrap();
                    }
                    Op::RemoveFolder(f) => {
                        let _ = fs::remove_dir_all(parent(f));
                    }
                }
                // Every folder whose time moved gets this step's own instant in the past.
                let when = base + Duration::from_secs(step as u64 + 1);
                for d in folders_under(&projects) {
                    let now = fs::metadata(&d).unwrap().modified().unwrap();
                    if set.get(&d) != Some(&now) {
                        set_mtime(&d, when);
                        set.insert(d, when);
                    }
                }
                let full = find_transcripts_on(roots, &FolderMemo::default(), remote, PREFETCH_FOLDERS);
                let memo_before = memo.clone();
                let walk = find_transcripts_on(roots, &memo, local, PREFETCH_FOLDERS);
                proptest::prop_assert_eq!(&walk.files, &full.files, "after {:?}", &ops[..=step]);
                // The same with the remembered folders' stats taken ahead, on other threads.
                let ahead = find_transcripts_on(roots, &memo, local, 0);
                proptest::prop_assert_eq!(&ahead.files, &full.files, "ahead, after {:?}", &ops[..=step]);
                proptest::prop_assert_eq!(ahead.folders_reused, walk.folders_reused);
                proptest::prop_assert!(walk.problems.is_empty());
                // The previous walk's stat list holds only if nothing it covers changed,
                // and finds grown transcripts only if nothing else changed.
                if let Some((list, files)) = &recorded {
                    match crate::stat_list::tests::outcome(list, roots) {
                        crate::stat_list::Outcome::Holds(_) => {
                            proptest::prop_assert_eq!(&full.files, files, "held after {:?}", &ops[..=step]);
                        }
                        crate::stat_list::Outcome::Grown(grown) => {
                            let mut expected = files.clone();
                            for g in grown.grown() {
                                let f = expected.iter_mut().find(|f| f.path == g.path).unwrap();
                                *f = g.clone();
                            }
                            proptest::prop_assert_eq!(&full.files, &expected, "grown after {:?}", &ops[..=step]);
                            let base = crate::stat_list::tests::base_of(list);
                            let rewritten = crate::stat_list::tests::stored(grown.rows().unwrap(), &base);
                            proptest::prop_assert!(crate::stat_list::tests::holds(&rewritten, roots).is_some());
                        }
                        crate::stat_list::Outcome::Changed => {}
                    }
                }
                // Recorded over the previous list's base, as the ingest does.
                let base = recorded.as_ref().map(|(list, _)| crate::stat_list::tests::base_of(list)).unwrap_or_default();
                let rows = crate::stat_list::record(roots, &walk, &memo).rows(&base);
                proptest::prop_assert!(rows.is_complete(), "recorded after {:?}", &ops[..=step]);
                let list = crate::stat_list::tests::stored(rows, &base);
                proptest::prop_assert!(crate::stat_list::tests::holds(&list, roots).is_some());
                // The next walk's memo is the one read back from the stored list.
                memo = crate::stat_list::tests::memo_of(&list);
                proptest::prop_assert_eq!(&memo, &next_memo(&walk, &memo_before), "memo after {:?}", &ops[..=step]);
                recorded = Some((list, walk.files.clone()));
            }
        }
    }
}
