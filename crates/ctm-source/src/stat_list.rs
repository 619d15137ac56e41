//! The stat list: every folder the last walk listed, with each entry's stat; the one
//! memo of the walk. It serves two ways:
//!
//! - **It holds**: most runs find nothing changed, and a walk answers that at the cost
//!   of a memo look-up, a path and a hash-set insert per entry. The list answers it with
//!   the stats alone. If every entry still has its recorded stat, a walk now would reuse
//!   every remembered listing (each folder's stat still vouches for it: the same folder,
//!   the same mtime, listed after the racy window) and find the same transcripts with
//!   the same stats. Only a list whose header says it is complete is checked so:
//!   anything the stats cannot vouch for (a link, whose target changes on its own; a
//!   listing still in the racy window; a problem; a file met twice) leaves it
//!   incomplete, and the caller walks.
//! - **It gives the walk its listings** ([`memo`]): when it does not hold, the walk
//!   reuses each recorded folder's listing whose stat still vouches for it, so it lists
//!   only the folders that changed. An incomplete list, or one whose header a cursor
//!   write dropped, serves so too.
//!
//! The ingest records a complete list only when each transcript's cursor holds exactly
//! the stat recorded here, in the transaction that saves those cursors; so "the list
//! still holds" means "every cursor matches its file and no file came or went". A
//! transcript that is the same file with another size or mtime only grew: the check
//! notes it and goes on ([`Outcome::Grown`]), and the run reads just those, without a
//! walk.
//!
//! The list is kept in parts so that checking overlaps reading it from the store: a
//! header, an overlay, then a base. Parts hold whole folders, each with its path, so
//! they are checked on any thread in any order, newest entries first in a new base
//! (what changed is most often what changed last). A writing run diffs its list with
//! the stored base and writes only what changed as the overlay (see [`Recorded::rows`]).
//!
//! Encoding (ours alone; anything else does not hold, and gives an empty memo).
//! Numbers are LEB128, mtimes 8 bytes little-endian; a stat is device, inode, mtime.
//! - Header: `MAGIC`, the number of roots, per root its `projects` path (length,
//!   bytes) and `0` (no such path), `1` with the folder's stat, or `2` (something else);
//!   then a random nonce (every list written has its own header), the numbers of
//!   folders and transcripts, the numbers of overlay and base parts that follow, and
//!   `1` when the list is complete, else `0`.
//! - Part: the number of records, then per record a folder path (the length it shares
//!   with the previous record's path in the part, the rest's length, the rest) and a
//!   code: `GONE` (overlay only), `PATCH` (overlay only: the number of changes, the
//!   folder's stat, then entries set and names gone, a gone name being `x`, the name
//!   and a NUL), or `WHOLE` plus the number of entries, the folder's stat, then the
//!   entries: kind `d`, `f` or `l`, the name and a NUL, and but for a link its stat
//!   (for a transcript with its size after the inode). A folder's own stat is read by
//!   the memo only; the check vouches for a folder through its parent's entry.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ffi::{CStr, OsStr};
use std::fs;
use std::ops::ControlFlow;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::walk::{
    EntryKind, EntryStats, FolderListing, FolderMemo, FoundFile, ProjectsFolder, Stat, Walk,
};

const MAGIC: &[u8] = b"ctm stat list 4\0";

/// About how large a part grows before the next begins.
const PART_BYTES: usize = 32 << 10;

/// The stat list of `walk` (given the memo it was walked with): every settled listing
/// it met, and whether the list vouches for the whole walk ([`Recorded::is_complete`]).
/// [`Recorded::rows`] encodes it.
pub fn record<'w>(roots: &[PathBuf], walk: &'w Walk, memo: &'w FolderMemo) -> Recorded<'w> {
    let mut complete =
        walk.problems.is_empty() && walk.symlink_loops == 0 && walk.projects.len() == roots.len();
    let listings: foldhash::HashMap<&OsStr, &FolderListing> = walk
        .folders
        .iter()
        .filter_map(|(path, listed)| {
            let listing = match listed {
                Some(l) => l,
                None => memo.get(path.as_os_str())?,
            };
            Some((path.as_os_str(), listing))
        })
        .collect();
    complete &= listings.len() == walk.folders.len();
    let mut roots_part = MAGIC.to_vec();
    put_varint(&mut roots_part, roots.len() as u64);
    for (root, found) in roots.iter().zip(&walk.projects) {
        let projects = root.join("projects");
        put_bytes(&mut roots_part, projects.as_os_str().as_bytes());
        match found {
            ProjectsFolder::Missing => roots_part.push(0),
            ProjectsFolder::Folder(stat) => {
                roots_part.push(1);
                put_stat(&mut roots_part, stat.dev, stat.ino, stat.mtime_ns);
                // The listing was taken, or vouched for, with this stat.
                complete &= listings.contains_key(projects.as_os_str());
            }
            ProjectsFolder::Other => {
                roots_part.push(2);
                complete = false;
            }
        }
    }
    let files: foldhash::HashMap<&OsStr, &FoundFile> =
        walk.files.iter().map(|f| (f.path.as_os_str(), f)).collect();
    let mut folders = Vec::with_capacity(walk.folders.len());
    let mut transcripts = 0;
    for (path, _) in &walk.folders {
        let Some((&path, &listing)) = listings.get_key_value(path.as_os_str()) else {
            continue;
        };
        match folder_record(path, listing, &listings, &files) {
            Some(record) => {
                complete &= !record.links && !record.unknown;
                transcripts += record.transcripts;
                folders.push(record);
            }
            None => complete = false,
        }
    }
    // Every folder walked is kept, and every transcript found once (a file met twice,
    // a hard link, is kept by the walk's de-duplication, not by the stats).
    complete &= folders.len() == walk.folders.len() && transcripts == walk.files.len();
    folders.sort_by(|a, b| {
        b.newest_ns
            .cmp(&a.newest_ns)
            .then_with(|| a.path.cmp(b.path))
    });
    Recorded {
        roots: roots_part,
        folders,
        transcripts: transcripts as u64,
        complete,
    }
}

/// One folder's record: its stat, and each entry's kind, name and stat (a link's
/// without: it is resolved on every walk). An entry whose stat the walk did not keep (a
/// folder on a file system whose listings are not kept, a transcript met twice) gets a
/// zero stat, which no file has, and makes the list incomplete: the listing still
/// serves the next walk. `None` when the listing may not be reused (taken within the
/// racy window): the folder is listed again next time.
fn folder_record<'w>(
    path: &'w OsStr,
    listing: &FolderListing,
    listings: &foldhash::HashMap<&'w OsStr, &'w FolderListing>,
    files: &foldhash::HashMap<&'w OsStr, &'w FoundFile>,
) -> Option<FolderRecord<'w>> {
    if !listing.settled {
        return None;
    }
    let mut record = FolderRecord {
        path: path.as_bytes(),
        stat: Vec::with_capacity(24),
        entries: Vec::with_capacity(listing.entries().count() * 48),
        count: 0,
        newest_ns: i64::MIN,
        transcripts: 0,
        links: false,
        unknown: false,
    };
    put_stat(&mut record.stat, listing.dev, listing.ino, listing.mtime_ns);
    // Each entry's path, built in one buffer.
    let mut child = Vec::with_capacity(path.len() + 64);
    child.extend_from_slice(path.as_bytes());
    child.push(b'/');
    let dir_len = child.len();
    for (kind, name) in listing.entries() {
        child.truncate(dir_len);
        child.extend_from_slice(name.as_bytes());
        let child = OsStr::from_bytes(&child);
        record.count += 1;
        let out = &mut record.entries;
        put_name(out, kind.code(), name);
        match kind {
            EntryKind::Link => record.links = true,
            EntryKind::Folder => {
                // The listing was taken with the stat the walk met the folder with (or
                // was vouched for by it), so its stat is that stat.
                let Some(listed) = listings.get(child) else {
                    record.unknown = true;
                    put_stat(out, 0, 0, 0);
                    continue;
                };
                put_stat(out, listed.dev, listed.ino, listed.mtime_ns);
                record.newest_ns = record.newest_ns.max(listed.mtime_ns);
            }
            EntryKind::Transcript => {
                let Some(f) = files.get(child) else {
                    record.unknown = true;
                    // Device, inode, size, mtime.
                    out.extend_from_slice(&[0, 0, 0]);
                    out.extend_from_slice(&0i64.to_le_bytes());
                    continue;
                };
                put_varint(out, f.dev);
                put_varint(out, f.ino);
                put_varint(out, f.size);
                out.extend_from_slice(&f.mtime_ns.to_le_bytes());
                record.newest_ns = record.newest_ns.max(f.mtime_ns);
                record.transcripts += 1;
            }
        }
    }
    Some(record)
}

/// A recorded list, to be encoded against the base the store holds.
pub struct Recorded<'w> {
    /// The header's start: [`MAGIC`] and the roots.
    roots: Vec<u8>,
    /// Newest entries first.
    folders: Vec<FolderRecord<'w>>,
    transcripts: u64,
    complete: bool,
}

/// What to store for a list: its header, its overlay, and its base when the stored one
/// is to be replaced.
#[derive(Debug)]
pub struct ListRows {
    pub header: Vec<u8>,
    /// Folders that differ from the stored base (or are gone from it).
    pub overlay: Vec<Vec<u8>>,
    /// `None`: the stored base stays.
    pub base: Option<Vec<Vec<u8>>>,
}

impl ListRows {
    /// Whether the list vouches for the whole walk (else it is kept for its listings).
    pub fn is_complete(&self) -> bool {
        self.header.last() == Some(&1)
    }

    /// Keeps the list for its listings only: something it met is not what the cursors
    /// beside it say (a read failed).
    pub fn mark_incomplete(&mut self) {
        if let Some(complete) = self.header.last_mut() {
            *complete = 0;
        }
    }
}

impl Recorded<'_> {
    /// Whether every folder and transcript the walk met is in the list, vouched for by
    /// stats alone: no link (its target can change on its own), no listing within the
    /// racy window, no problem, no file met twice.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The rows to store, given the stored base parts: only the folders that differ
    /// from them, as an overlay, while that stays under a quarter of the base's size
    /// (a run that reads a few grown transcripts then writes a few folders, not the
    /// whole list); else a new base.
    pub fn rows<P: AsRef<[u8]>>(&self, stored_base: &[P]) -> ListRows {
        if let Some(overlay) = self.overlay_on(stored_base) {
            return self.rows_with(overlay, None, stored_base.len());
        }
        let base = pack(
            self.folders
                .iter()
                .map(|f| (f.path, Record::Whole(f.count, &f.stat, &f.entries))),
        );
        let parts = base.len();
        self.rows_with(Vec::new(), Some(base), parts)
    }

    fn rows_with(
        &self,
        overlay: Vec<Vec<u8>>,
        base: Option<Vec<Vec<u8>>>,
        base_parts: usize,
    ) -> ListRows {
        let mut header = self.roots.clone();
        // Every list written is told from every other by its header alone.
        put_varint(&mut header, nonce());
        put_varint(&mut header, self.folders.len() as u64);
        put_varint(&mut header, self.transcripts);
        put_varint(&mut header, overlay.len() as u64);
        put_varint(&mut header, base_parts as u64);
        header.push(u8::from(self.complete));
        ListRows {
            header,
            overlay,
            base,
        }
    }

    /// The overlay that turns the stored base into this list, or `None` when a new
    /// base is better (none stored, unreadable, or too much changed).
    fn overlay_on<P: AsRef<[u8]>>(&self, stored_base: &[P]) -> Option<Vec<Vec<u8>>> {
        let base_bytes: usize = stored_base.iter().map(|p| p.as_ref().len()).sum();
        // Each base folder's record: a base holds only whole ones.
        let mut stored: foldhash::HashMap<Vec<u8>, Stored> = Default::default();
        for part in stored_base {
            for_each_record(part.as_ref(), |path, record| match record {
                Stored::Whole(..) => {
                    stored.insert(path.to_vec(), record);
                    Some(())
                }
                _ => None,
            })?;
        }
        if stored.is_empty() {
            return None;
        }
        let mut changes = Vec::new();
        let mut size = 0;
        let mut kept = 0;
        for f in &self.folders {
            let whole = Record::Whole(f.count, &f.stat, &f.entries);
            let record = match stored.get(f.path) {
                Some(&Stored::Whole(count, stat, entries)) => {
                    kept += 1;
                    if count == f.count && stat == f.stat && entries == f.entries {
                        continue;
                    }
                    // A few entries of a large folder (a project's sessions) changed:
                    // those entries only.
                    match patch(count, entries, f.count, &f.entries) {
                        Some((n, bytes)) if bytes.len() * 2 < f.entries.len() => {
                            Record::Patch(n, &f.stat, bytes)
                        }
                        _ => whole,
                    }
                }
                _ => whole,
            };
            size += f.path.len() + record.len();
            changes.push((f.path, record));
        }
        if kept < stored.len() {
            // Folders of the base this list no longer has.
            let now: foldhash::HashSet<&[u8]> = self.folders.iter().map(|f| f.path).collect();
            for path in stored.keys().filter(|p| !now.contains(p.as_slice())) {
                size += path.len();
                changes.push((path.as_slice(), Record::Gone));
            }
        }
        (size * 4 <= base_bytes).then(|| pack(changes))
    }
}

/// One folder as recorded: its path, its own stat and its entries encoded, the newest
/// entry's mtime.
struct FolderRecord<'w> {
    path: &'w [u8],
    stat: Vec<u8>,
    entries: Vec<u8>,
    count: usize,
    newest_ns: i64,
    transcripts: usize,
    links: bool,
    /// An entry's stat was not known (see [`folder_record`]).
    unknown: bool,
}

/// A number no other list's header is likely to hold.
fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// The changes that turn a folder's `old` entries into its `new` ones, by name: the
/// entries set (added or changed) and the names gone; `None` when either is not in
/// name order (listings are, so that never happens).
fn patch(old_count: usize, old: &[u8], new_count: usize, new: &[u8]) -> Option<(usize, Vec<u8>)> {
    let (old, new) = (
        named_entries(old_count, old)?,
        named_entries(new_count, new)?,
    );
    let mut out = Vec::new();
    let mut changes = 0;
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) => o.0.cmp(n.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                out.push(GONE_ENTRY);
                out.extend_from_slice(old[i].0.to_bytes_with_nul());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.extend_from_slice(new[j].1);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if old[i].1 == new[j].1 {
                    (i, j) = (i + 1, j + 1);
                    continue;
                }
                out.extend_from_slice(new[j].1);
                (i, j) = (i + 1, j + 1);
            }
        }
        changes += 1;
    }
    Some((changes, out))
}

/// A folder's encoded entries, each with its name, checked to be in name order.
fn named_entries(count: usize, entries: &[u8]) -> Option<Vec<(&CStr, &[u8])>> {
    let mut r = Reader::new(entries);
    let mut named: Vec<(&CStr, &[u8])> = Vec::with_capacity(count);
    for _ in 0..count {
        let start = r.pos;
        let entry = r.entry()?;
        if named.last().is_some_and(|(last, _)| *last >= entry.name) {
            return None;
        }
        named.push((entry.name, &entries[start..r.pos]));
    }
    Some(named)
}

/// A folder's record in a part, to be packed: the number of entries or changes, the
/// folder's own stat, and those entries or changes.
enum Record<'r> {
    /// Every entry: a base's records, and an overlay's for a new or much changed folder.
    Whole(usize, &'r [u8], &'r [u8]),
    /// Entries set or gone by name, over the base's record (overlays only).
    Patch(usize, &'r [u8], Vec<u8>),
    /// The folder is gone from the base (overlays only).
    Gone,
}

impl Record<'_> {
    fn len(&self) -> usize {
        match self {
            Record::Whole(_, stat, entries) => stat.len() + entries.len(),
            Record::Patch(_, stat, changes) => stat.len() + changes.len(),
            Record::Gone => 0,
        }
    }
}

/// A folder's record as read from a part.
enum Stored<'p> {
    Whole(usize, &'p [u8], &'p [u8]),
    Patch(usize, &'p [u8], &'p [u8]),
    Gone,
}

/// The codes that follow a record's path: gone, a patch (its number of changes and
/// the changes follow), or every entry (`n + 2` for `n` entries, which follow).
const GONE: u64 = 0;
const PATCH: u64 = 1;
const WHOLE: u64 = 2;

/// Marks a name gone in a patch (in place of an entry's kind).
const GONE_ENTRY: u8 = b'x';

/// Packs records, in order, into parts of about [`PART_BYTES`].
fn pack<'r>(records: impl IntoIterator<Item = (&'r [u8], Record<'r>)>) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut part = Vec::new();
    let mut in_part = 0u64;
    let mut previous: &[u8] = &[];
    let mut finish = |part: &mut Vec<u8>, in_part: &mut u64| {
        let mut whole = Vec::with_capacity(part.len() + 10);
        put_varint(&mut whole, *in_part);
        whole.append(part);
        parts.push(whole);
        *in_part = 0;
    };
    for (path, record) in records {
        if part.len() >= PART_BYTES {
            finish(&mut part, &mut in_part);
            previous = &[];
        }
        let shared = path
            .iter()
            .zip(previous)
            .take_while(|(a, b)| a == b)
            .count();
        put_varint(&mut part, shared as u64);
        put_bytes(&mut part, &path[shared..]);
        match record {
            Record::Whole(count, stat, entries) => {
                put_varint(&mut part, count as u64 + WHOLE);
                part.extend_from_slice(stat);
                part.extend_from_slice(entries);
            }
            Record::Patch(count, stat, changes) => {
                put_varint(&mut part, PATCH);
                put_varint(&mut part, count as u64);
                part.extend_from_slice(stat);
                part.extend_from_slice(&changes);
            }
            Record::Gone => put_varint(&mut part, GONE),
        }
        in_part += 1;
        previous = path;
    }
    if in_part > 0 {
        finish(&mut part, &mut in_part);
    }
    parts
}

/// Calls `each` with every record of a part and its path. `None` when the part is not
/// one of ours or `each` says so.
fn for_each_record<'p>(
    part: &'p [u8],
    mut each: impl FnMut(&[u8], Stored<'p>) -> Option<()>,
) -> Option<()> {
    let mut r = Reader::new(part);
    let folders = r.varint()?;
    let mut path: Vec<u8> = Vec::new();
    for _ in 0..folders {
        let shared = usize::try_from(r.varint()?).ok()?;
        let len = usize::try_from(r.varint()?).ok()?;
        if shared > path.len() {
            return None;
        }
        path.truncate(shared);
        path.extend_from_slice(r.take(len)?);
        let record = match r.varint()? {
            GONE => Stored::Gone,
            PATCH => {
                let count = usize::try_from(r.varint()?).ok()?;
                let stat = r.stat()?;
                let start = r.pos;
                for _ in 0..count {
                    r.change()?;
                }
                Stored::Patch(count, stat, &part[start..r.pos])
            }
            n => {
                let count = usize::try_from(n - WHOLE).ok()?;
                let stat = r.stat()?;
                let start = r.pos;
                for _ in 0..count {
                    r.entry()?;
                }
                Stored::Whole(count, stat, &part[start..r.pos])
            }
        };
        each(&path, record)?;
    }
    r.rest().is_empty().then_some(())
}

/// What a list that still holds covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held {
    pub transcripts: u64,
    pub folders: u64,
}

/// What a check of a stored list found.
pub enum Outcome {
    /// Every stat held: nothing changed.
    Holds(Held),
    /// Every stat held but for transcripts that grew (the same files, with other sizes
    /// or mtimes): a walk now would find the same files, these with their new stats.
    Grown(GrownList),
    /// Something else changed, or the list is not one for these roots: walk.
    Changed,
}

/// A list whose stats held but for grown transcripts, and what it becomes once their
/// cursors are saved.
pub struct GrownList {
    header: Vec<u8>,
    roots_len: usize,
    overlay_parts: usize,
    parts: Vec<Arc<Vec<u8>>>,
    grown: Vec<FoundFile>,
    held: Held,
}

impl GrownList {
    /// The transcripts that grew, with their stats now, in path order.
    pub fn grown(&self) -> &[FoundFile] {
        &self.grown
    }

    /// What the list covers.
    pub fn held(&self) -> Held {
        self.held
    }

    /// Whether `header` is the header of the list this was checked against (every
    /// list written has its own).
    pub fn is_checked_list(&self, header: &[u8]) -> bool {
        header == self.header.as_slice()
    }

    /// The rows of this list with the grown transcripts' stats, over the same base;
    /// `None` when the parts cannot be read back (never for parts this module wrote).
    pub fn rows(&self) -> Option<ListRows> {
        let parts: Vec<&[u8]> = self.parts.iter().map(|p| p.as_slice()).collect();
        let (overlay, base) = parts.split_at(self.overlay_parts);
        let mut folders = merged(overlay, base)?;
        for f in &self.grown {
            let dir = f.path.parent()?.as_os_str().as_bytes();
            let name = f.path.file_name()?;
            let entry = folders.get_mut(dir)?.entries.get_mut(name.as_bytes())?;
            entry.clear();
            put_name(entry, b'f', name);
            put_varint(entry, f.dev);
            put_varint(entry, f.ino);
            put_varint(entry, f.size);
            entry.extend_from_slice(&f.mtime_ns.to_le_bytes());
        }
        let mut records: Vec<FolderRecord> = folders
            .iter()
            .map(|(path, folder)| FolderRecord {
                path,
                stat: folder.stat.clone(),
                entries: folder.entries.values().flatten().copied().collect(),
                count: folder.entries.len(),
                // Every entry of a list that holds ends with its mtime.
                newest_ns: folder
                    .entries
                    .values()
                    .filter_map(|e| {
                        Some(i64::from_le_bytes(
                            e.get(e.len().checked_sub(8)?..)?.try_into().ok()?,
                        ))
                    })
                    .max()
                    .unwrap_or(i64::MIN),
                transcripts: 0,
                links: false,
                unknown: false,
            })
            .collect();
        records.sort_by(|a, b| {
            b.newest_ns
                .cmp(&a.newest_ns)
                .then_with(|| a.path.cmp(b.path))
        });
        let recorded = Recorded {
            roots: self.header.get(..self.roots_len)?.to_vec(),
            transcripts: self.held.transcripts,
            folders: records,
            complete: true,
        };
        Some(recorded.rows(base))
    }
}

/// A folder as a stored list holds it once its overlay is applied: its own stat, and
/// each entry's bytes by name.
struct MergedFolder {
    stat: Vec<u8>,
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// The folders of a stored list, the overlay applied to the base; `None` when a part
/// is not one this module wrote.
fn merged<P: AsRef<[u8]>>(
    overlay: &[P],
    base: &[P],
) -> Option<foldhash::HashMap<Vec<u8>, MergedFolder>> {
    let mut folders: foldhash::HashMap<Vec<u8>, MergedFolder> = Default::default();
    let named = |count, entries| -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
        Some(
            named_entries(count, entries)?
                .into_iter()
                .map(|(name, bytes)| (name.to_bytes().to_vec(), bytes.to_vec()))
                .collect(),
        )
    };
    for part in base {
        for_each_record(part.as_ref(), |path, record| match record {
            Stored::Whole(count, stat, entries) => {
                let entries = named(count, entries)?;
                folders.insert(
                    path.to_vec(),
                    MergedFolder {
                        stat: stat.to_vec(),
                        entries,
                    },
                );
                Some(())
            }
            _ => None,
        })?;
    }
    for part in overlay {
        for_each_record(part.as_ref(), |path, record| {
            match record {
                Stored::Gone => {
                    folders.remove(path);
                }
                Stored::Whole(count, stat, entries) => {
                    let entries = named(count, entries)?;
                    folders.insert(
                        path.to_vec(),
                        MergedFolder {
                            stat: stat.to_vec(),
                            entries,
                        },
                    );
                }
                Stored::Patch(count, stat, changes) => {
                    let folder = folders.get_mut(path)?;
                    folder.stat = stat.to_vec();
                    let mut r = Reader::new(changes);
                    for _ in 0..count {
                        let start = r.pos;
                        match r.change()? {
                            Change::Set(entry) => {
                                let bytes = changes[start..r.pos].to_vec();
                                folder.entries.insert(entry.name.to_bytes().to_vec(), bytes);
                            }
                            Change::Gone(name) => {
                                folder.entries.remove(name.to_bytes());
                            }
                        }
                    }
                }
            }
            Some(())
        })?;
    }
    Some(folders)
}

/// The walk's memo from a stored list's overlay and base parts (the header is not
/// needed: a list kept for its listings only, or whose header a cursor write dropped,
/// still tells what each folder held). Base folders the overlay leaves alone (nearly
/// all) are read straight into listings; only those it patches are merged by name.
/// Empty when a part is not one this module wrote: every folder is listed again then.
pub fn memo<P: AsRef<[u8]>>(overlay: &[P], base: &[P]) -> FolderMemo {
    memo_of_parts(overlay, base).unwrap_or_default()
}

fn memo_of_parts<P: AsRef<[u8]>>(overlay: &[P], base: &[P]) -> Option<FolderMemo> {
    let mut replaced: foldhash::HashSet<Vec<u8>> = Default::default();
    let mut patched: Vec<Vec<u8>> = Vec::new();
    let mut memo = FolderMemo::default();
    for part in overlay {
        for_each_record(part.as_ref(), |path, record| {
            match record {
                Stored::Whole(count, stat, entries) => {
                    memo.insert(path_of(path), listing(stat, count, entries)?);
                }
                Stored::Patch(..) => patched.push(path.to_vec()),
                Stored::Gone => {}
            }
            replaced.insert(path.to_vec());
            Some(())
        })?;
    }
    for part in base {
        for_each_record(part.as_ref(), |path, record| {
            let Stored::Whole(count, stat, entries) = record else {
                return None;
            };
            if !replaced.contains(path) {
                memo.insert(path_of(path), listing(stat, count, entries)?);
            }
            Some(())
        })?;
    }
    if !patched.is_empty() {
        let merged = merged(overlay, base)?;
        for path in patched {
            let folder = merged.get(&path)?;
            let entries: Vec<u8> = folder.entries.values().flatten().copied().collect();
            let count = folder.entries.len();
            memo.insert(path_of(&path), listing(&folder.stat, count, &entries)?);
        }
    }
    Some(memo)
}

fn path_of(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// A recorded folder as the walk's listing: its stat, its entries' kinds and names.
fn listing(stat: &[u8], count: usize, entries: &[u8]) -> Option<FolderListing> {
    let mut r = Reader::new(stat);
    let (dev, ino, mtime_ns) = (r.varint()?, r.varint()?, r.i64()?);
    // The part's reader checked every entry already.
    let mut r = Reader::new(entries);
    let names = (0..count).map_while(|_| {
        let entry = r.entry()?;
        Some((entry.kind, OsStr::from_bytes(entry.name.to_bytes())))
    });
    Some(FolderListing::remembered(dev, ino, mtime_ns, names))
}

/// A check of a stored list, fed its parts in order as they are read: the overlay's
/// on this thread (they hold what changed last, and tell which base folders they
/// replace), then the base's on every core while the caller reads the next.
pub struct StatListCheck {
    header: Vec<u8>,
    /// Where the roots end in the header.
    roots_len: usize,
    /// Every part given, in order (a list with grown transcripts is rewritten from them).
    parts: Vec<Arc<Vec<u8>>>,
    /// Transcripts that only grew (or were rewritten in place), with their stats now.
    grown: Vec<FoundFile>,
    expected: Held,
    overlay_parts: u64,
    base_parts: u64,
    parts_given: u64,
    /// Base folders the overlay replaces, removes or patches; moved into `shared` at
    /// the base.
    replaced: foldhash::HashMap<Vec<u8>, Replaced>,
    /// How many of them are patches (each must meet its base folder).
    patches: u64,
    /// What the overlay's folders cover.
    overlay_held: Held,
    differs: bool,
    /// From the first base part on.
    base: Option<BaseCheck>,
}

/// The base's parts, each checked by a job on the pool's threads.
struct BaseCheck {
    shared: Arc<Shared>,
}

/// What the overlay did to a base folder.
enum Replaced {
    /// Replaced whole, or gone: its base record is not checked.
    Whole,
    /// These entries (by name) were set or are gone: the rest of its record is checked.
    Names(foldhash::HashSet<Vec<u8>>),
}

struct Shared {
    replaced: foldhash::HashMap<Vec<u8>, Replaced>,
    grown: Mutex<Vec<FoundFile>>,
    /// Base folders met that the overlay patched.
    patched: AtomicU64,
    /// Parts given and not yet checked.
    pending: Mutex<usize>,
    checked: Condvar,
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
        let roots_len = r.pos;
        let _nonce = r.varint()?;
        let expected = Held {
            folders: r.varint()?,
            transcripts: r.varint()?,
        };
        let (overlay_parts, base_parts) = (r.varint()?, r.varint()?);
        // Only a list that vouches for its whole walk stands in for one.
        if r.rest() != [1] {
            return None;
        }
        Some(StatListCheck {
            header: header.to_vec(),
            roots_len,
            parts: Vec::new(),
            grown: Vec::new(),
            expected,
            overlay_parts,
            base_parts,
            parts_given: 0,
            replaced: Default::default(),
            patches: 0,
            overlay_held: Held::default(),
            differs: false,
            base: None,
        })
    }

    /// Hands over the next part; `Break` once a difference was found (the rest need
    /// not be read).
    pub fn part(&mut self, part: &[u8]) -> ControlFlow<()> {
        self.parts_given += 1;
        if self.differs {
            return ControlFlow::Break(());
        }
        let part = Arc::new(part.to_vec());
        self.parts.push(Arc::clone(&part));
        if self.parts_given <= self.overlay_parts {
            self.differs = !self.check_overlay(&part);
        } else {
            let base = self.base();
            base.check(part);
            self.differs = base.shared.differs.load(Ordering::Relaxed);
        }
        if self.differs {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// What the check found, once every part was handed over.
    pub fn finish(mut self) -> Outcome {
        if self.differs || self.parts_given != self.overlay_parts + self.base_parts {
            return Outcome::Changed;
        }
        let (overlay_held, patches) = (self.overlay_held, self.patches);
        self.base();
        let Some(base) = self.base.take() else {
            return Outcome::Changed;
        };
        base.wait();
        let shared = &base.shared;
        let held = Held {
            folders: shared.folders.load(Ordering::Relaxed) + overlay_held.folders,
            transcripts: shared.transcripts.load(Ordering::Relaxed) + overlay_held.transcripts,
        };
        let all_patched = shared.patched.load(Ordering::Relaxed) == patches;
        if shared.differs.load(Ordering::Relaxed) || !all_patched || held != self.expected {
            return Outcome::Changed;
        }
        let mut grown = std::mem::take(&mut self.grown);
        grown.append(&mut lock(&shared.grown));
        if grown.is_empty() {
            return Outcome::Holds(held);
        }
        grown.sort_by(|a, b| a.path.cmp(&b.path));
        Outcome::Grown(GrownList {
            header: std::mem::take(&mut self.header),
            roots_len: self.roots_len,
            overlay_parts: self.overlay_parts as usize,
            parts: std::mem::take(&mut self.parts),
            grown,
            held,
        })
    }

    /// Checks an overlay part's folders and notes what they do to the base's.
    fn check_overlay(&mut self, part: &[u8]) -> bool {
        let mut held = Held::default();
        let mut patches = 0;
        let replaced = &mut self.replaced;
        let mut grown = std::mem::take(&mut self.grown);
        let all_hold = for_each_record(part, |path, record| {
            let what = match record {
                Stored::Gone => Replaced::Whole,
                Stored::Whole(count, _, entries) => {
                    held.folders += 1;
                    held.transcripts += check_folder(path, count, entries, None, &mut grown)?;
                    Replaced::Whole
                }
                Stored::Patch(count, _, changes) => {
                    patches += 1;
                    let (transcripts, names) = check_patch(path, count, changes, &mut grown)?;
                    held.transcripts += transcripts;
                    Replaced::Names(names)
                }
            };
            // One record per folder in an overlay.
            replaced.insert(path.to_vec(), what).is_none().then_some(())
        })
        .is_some();
        self.overlay_held.folders += held.folders;
        self.overlay_held.transcripts += held.transcripts;
        self.patches += patches;
        self.grown = grown;
        all_hold
    }

    /// The base's check, started at its first part: the overlay is known by then.
    fn base(&mut self) -> &mut BaseCheck {
        let replaced = &mut self.replaced;
        self.base.get_or_insert_with(|| BaseCheck {
            shared: Arc::new(Shared {
                replaced: std::mem::take(replaced),
                grown: Mutex::default(),
                patched: AtomicU64::new(0),
                pending: Mutex::new(0),
                checked: Condvar::new(),
                differs: AtomicBool::new(false),
                folders: AtomicU64::new(0),
                transcripts: AtomicU64::new(0),
            }),
        })
    }
}

impl BaseCheck {
    /// Checks a part on the pool while the caller reads the next.
    fn check(&self, part: Arc<Vec<u8>>) {
        *lock(&self.shared.pending) += 1;
        let shared = Arc::clone(&self.shared);
        rayon::spawn(move || {
            // A job that panics leaves its part unchecked: proven nothing.
            let held =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.check(&part)));
            if held.is_err() {
                shared.differs.store(true, Ordering::Relaxed);
            }
            *lock(&shared.pending) -= 1;
            shared.checked.notify_all();
        });
    }

    /// Waits for every part given to be checked.
    fn wait(&self) {
        let mut pending = lock(&self.shared.pending);
        while *pending > 0 {
            pending = self
                .shared
                .checked
                .wait(pending)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

impl Drop for BaseCheck {
    fn drop(&mut self) {
        // Jobs may still hold parts: they stop at once once a difference is marked.
        self.shared.differs.store(true, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing kept under these locks can be left half-changed by a panic.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Checks a base part's folders, except what the overlay replaced.
    fn check(&self, part: &[u8]) {
        if self.differs.load(Ordering::Relaxed) {
            return;
        }
        let mut held = Held::default();
        let mut patched = 0;
        let mut grown = Vec::new();
        let all_hold = for_each_record(part, |path, record| {
            // A base holds every entry of each of its folders.
            let Stored::Whole(count, _, entries) = record else {
                return None;
            };
            let except = match self.replaced.get(path) {
                Some(Replaced::Whole) => return Some(()),
                Some(Replaced::Names(names)) => {
                    patched += 1;
                    Some(names)
                }
                None => None,
            };
            held.folders += 1;
            held.transcripts += check_folder(path, count, entries, except, &mut grown)?;
            Some(())
        })
        .is_some();
        if all_hold {
            lock(&self.grown).append(&mut grown);
            self.folders.fetch_add(held.folders, Ordering::Relaxed);
            self.transcripts
                .fetch_add(held.transcripts, Ordering::Relaxed);
            self.patched.fetch_add(patched, Ordering::Relaxed);
        } else {
            self.differs.store(true, Ordering::Relaxed);
        }
    }
}

/// Stats a folder's `count` recorded entries, except those named in `except`; the
/// number of transcripts checked (those that grew are added to `grown`), or `None` at
/// the first other difference.
fn check_folder(
    path: &[u8],
    count: usize,
    entries: &[u8],
    except: Option<&foldhash::HashSet<Vec<u8>>>,
    grown: &mut Vec<FoundFile>,
) -> Option<u64> {
    let mut stat_at = EntryStats::new(OsStr::from_bytes(path), count)?;
    let mut r = Reader::new(entries);
    let mut transcripts = 0;
    for _ in 0..count {
        let want = r.entry()?;
        if except.is_some_and(|names| names.contains(want.name.to_bytes())) {
            continue;
        }
        transcripts += still_holds(&mut stat_at, path, &want, grown)?;
    }
    Some(transcripts)
}

/// Stats the entries a patch sets; the number of transcripts among them and every name
/// the patch sets or marks gone, or `None` at the first difference (but growth).
fn check_patch(
    path: &[u8],
    count: usize,
    changes: &[u8],
    grown: &mut Vec<FoundFile>,
) -> Option<(u64, foldhash::HashSet<Vec<u8>>)> {
    let mut stat_at = EntryStats::new(OsStr::from_bytes(path), count)?;
    let mut r = Reader::new(changes);
    let mut transcripts = 0;
    let mut names = foldhash::HashSet::default();
    for _ in 0..count {
        let name = match r.change()? {
            Change::Set(want) => {
                transcripts += still_holds(&mut stat_at, path, &want, grown)?;
                want.name
            }
            Change::Gone(name) => name,
        };
        if !names.insert(name.to_bytes().to_vec()) {
            return None;
        }
    }
    Some((transcripts, names))
}

/// Whether an entry (of the folder at `dir`) still has its recorded stat: `Some(1)`
/// for a transcript, `Some(0)` for a folder, `None` when it differs. A transcript that
/// is the same file (device and inode) with another size or mtime only grew, or was
/// rewritten in place: it counts, and its stat now is added to `grown`.
fn still_holds(
    stat_at: &mut EntryStats,
    dir: &[u8],
    want: &Entry,
    grown: &mut Vec<FoundFile>,
) -> Option<u64> {
    if want.kind == EntryKind::Link {
        // Never in a list that vouches for its walk.
        return None;
    }
    let now = stat_at.stat(want.name)?;
    let same = now.dev == want.dev && now.ino == want.ino;
    match want.kind {
        EntryKind::Folder => (same && now.is_dir && now.mtime_ns == want.mtime_ns).then_some(0),
        _ if !(same && now.is_file) => None,
        _ => {
            if now.size != want.size || now.mtime_ns != want.mtime_ns {
                let mut path = Vec::with_capacity(dir.len() + 1 + want.name.count_bytes());
                path.extend_from_slice(dir);
                path.push(b'/');
                path.extend_from_slice(want.name.to_bytes());
                grown.push(FoundFile {
                    path: PathBuf::from(OsString::from_vec(path)),
                    dev: now.dev,
                    ino: now.ino,
                    size: now.size,
                    mtime_ns: now.mtime_ns,
                });
            }
            Some(1)
        }
    }
}

/// One change of a patch.
enum Change<'l> {
    Set(Entry<'l>),
    Gone(&'l CStr),
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

    fn change(&mut self) -> Option<Change<'l>> {
        if self.rest().first() == Some(&GONE_ENTRY) {
            self.pos += 1;
            return Some(Change::Gone(self.name()?));
        }
        self.entry().map(Change::Set)
    }

    /// A name and its NUL: one path component.
    fn name(&mut self) -> Option<&'l CStr> {
        let len = memchr::memchr(0, self.rest())?;
        let name = CStr::from_bytes_with_nul(self.take(len + 1)?).ok()?;
        (!name.is_empty() && !name.to_bytes().contains(&b'/')).then_some(name)
    }

    /// A folder's own stat, as [`put_stat`] wrote it.
    fn stat(&mut self) -> Option<&'l [u8]> {
        let start = self.pos;
        let _stat = (self.varint()?, self.varint()?, self.i64()?);
        Some(&self.list[start..self.pos])
    }

    fn entry(&mut self) -> Option<Entry<'l>> {
        let kind = EntryKind::from_code(self.byte()?)?;
        let name = self.name()?;
        if kind == EntryKind::Link {
            return Some(Entry {
                kind,
                name,
                dev: 0,
                ino: 0,
                size: 0,
                mtime_ns: 0,
            });
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

/// A folder's stat: device, inode, mtime.
fn put_stat(out: &mut Vec<u8>, dev: u64, ino: u64, mtime_ns: i64) {
    put_varint(out, dev);
    put_varint(out, ino);
    out.extend_from_slice(&mtime_ns.to_le_bytes());
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
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    /// Feeds a recorded list to a check, as the ingest does from the store.
    pub(crate) fn outcome(list: &[Vec<u8>], roots: &[PathBuf]) -> Outcome {
        let Some((header, parts)) = list.split_first() else {
            return Outcome::Changed;
        };
        let Some(mut check) = StatListCheck::start(header, roots) else {
            return Outcome::Changed;
        };
        for part in parts {
            if check.part(part).is_break() {
                break;
            }
        }
        check.finish()
    }

    /// What a list covers when every stat in it still holds.
    pub(crate) fn holds(list: &[Vec<u8>], roots: &[PathBuf]) -> Option<Held> {
        match outcome(list, roots) {
            Outcome::Holds(held) => Some(held),
            _ => None,
        }
    }

    /// The transcripts that only grew, when nothing else changed.
    fn grown(list: &[Vec<u8>], roots: &[PathBuf]) -> Option<GrownList> {
        match outcome(list, roots) {
            Outcome::Grown(grown) => Some(grown),
            _ => None,
        }
    }

    fn local(_: &Path) -> bool {
        true
    }

    /// The parts a store gives back, in order, after keeping `rows` over `base`.
    pub(crate) fn stored(rows: ListRows, base: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let base = rows.base.unwrap_or_else(|| base.to_vec());
        std::iter::once(rows.header)
            .chain(rows.overlay)
            .chain(base)
            .collect()
    }

    /// The base parts of a stored list, given its header.
    pub(crate) fn base_of(list: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut r = Reader::new(&list[0]);
        r.take(MAGIC.len()).unwrap();
        let roots = r.varint().unwrap();
        for _ in 0..roots {
            let len = r.varint().unwrap() as usize;
            r.take(len).unwrap();
            if r.byte().unwrap() == 1 {
                let _stat = (r.varint(), r.varint(), r.i64());
            }
        }
        let _nonce_and_totals = (r.varint(), r.varint(), r.varint());
        let overlay = r.varint().unwrap();
        list[1 + overlay as usize..].to_vec()
    }

    /// The walk's memo from a stored list (its header aside).
    pub(crate) fn memo_of(list: &[Vec<u8>]) -> FolderMemo {
        let base = base_of(list);
        memo(&list[1..list.len() - base.len()], &base)
    }

    /// Walks `roots` (trusting folder times, given the previous walk's memo) and records
    /// its list as a new base.
    fn walk_and_record(roots: &[PathBuf], memo: &FolderMemo) -> (Walk, Option<Vec<Vec<u8>>>) {
        walk_and_record_on(roots, memo, &[])
    }

    /// The same, written over a stored base.
    fn walk_and_record_on(
        roots: &[PathBuf],
        memo: &FolderMemo,
        base: &[Vec<u8>],
    ) -> (Walk, Option<Vec<Vec<u8>>>) {
        let walk = find_transcripts_on(roots, memo, local, usize::MAX);
        let recorded = record(roots, &walk, memo);
        let list = recorded
            .is_complete()
            .then(|| stored(recorded.rows(base), base));
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

        // A transcript met twice (a hard link): the walk keeps one, by inode. Every
        // listing is still kept for the next walk.
        fs::hard_link(p.join("p1/a.jsonl"), p.join("p2/a.jsonl")).unwrap();
        age_folders(&p);
        assert!(walk_and_record(&roots, &FolderMemo::default()).1.is_none());
        let none = FolderMemo::default();
        let walk = find_transcripts_on(&roots, &none, local, usize::MAX);
        let list = stored(record(&roots, &walk, &none).rows(&[] as &[Vec<u8>]), &[]);
        let memo = memo_of(&list);
        assert_eq!(memo.len(), 5);
        let again = find_transcripts_on(&roots, &memo, local, usize::MAX);
        assert_eq!((again.folders_listed, again.files), (0, walk.files));
        fs::remove_file(p.join("p2/a.jsonl")).unwrap();

        // Folders whose listings are not remembered (a network file system).
        age_folders(&p);
        let walk = find_transcripts_on(&roots, &FolderMemo::default(), |_| false, usize::MAX);
        assert!(!record(&roots, &walk, &FolderMemo::default()).is_complete());

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

    /// A list that cannot vouch for its walk (a link, a racy listing, a read that
    /// failed) never holds, but keeps every settled listing for the next walk.
    #[test]
    fn a_list_kept_for_its_listings_only_never_holds_and_still_gives_the_memo() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec![tree(dir.path())];
        let p = roots[0].join("projects");
        let none = FolderMemo::default();
        let walk = find_transcripts_on(&roots, &none, local, usize::MAX);
        let recorded = record(&roots, &walk, &none);
        assert!(recorded.is_complete());
        let mut rows = recorded.rows(&[] as &[Vec<u8>]);
        assert!(rows.is_complete());
        rows.mark_incomplete();
        assert!(!rows.is_complete());
        let list = stored(rows, &[]);
        assert_eq!(holds(&list, &roots), None);
        let memo = memo_of(&list);
        assert_eq!(memo.len(), 5);
        let again = find_transcripts_on(&roots, &memo, local, usize::MAX);
        assert_eq!((again.folders_listed, again.folders_reused), (0, 5));
        assert_eq!(again.files, walk.files);

        // A folder changed just now: the others' listings are kept, not its own.
        fs::write(p.join("p2/g.jsonl"), "{}\n").unwrap();
        let walk = find_transcripts_on(&roots, &memo, local, usize::MAX);
        let recorded = record(&roots, &walk, &memo);
        assert!(!recorded.is_complete());
        let list = stored(recorded.rows(&[] as &[Vec<u8>]), &[]);
        assert_eq!(holds(&list, &roots), None);
        let memo = memo_of(&list);
        assert_eq!(memo.len(), 4);
        assert!(!memo.contains_key(p.join("p2").as_os_str()));
    }

    #[test]
    fn a_list_checked_in_parts_on_several_threads_finds_one_change_anywhere() {
        let dir = tempfile::tempdir().unwrap();
        let roots = many_folders(dir.path(), 1000);
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

    /// A root with `folders` folders of two transcripts each, old folder times.
    fn many_folders(dir: &Path, folders: usize) -> Vec<PathBuf> {
        let root = dir.join("root");
        let p = root.join("projects");
        for i in 0..folders {
            let folder = p.join(format!("-home-user-project-{i:03}"));
            fs::create_dir_all(&folder).unwrap();
            for n in 0..2 {
                fs::write(folder.join(format!("session-{n}.jsonl")), "{}\n").unwrap();
            }
        }
        age_folders(&p);
        vec![root]
    }

    #[test]
    fn a_few_changed_folders_are_written_over_the_base_and_hold_like_a_new_list() {
        let dir = tempfile::tempdir().unwrap();
        let roots = many_folders(dir.path(), 300);
        let p = roots[0].join("projects");
        let (walk, first) = walk_and_record(&roots, &FolderMemo::default());
        let first = first.unwrap();
        let base = base_of(&first);
        assert_eq!(base.len(), first.len() - 1, "a new list is all base");

        // Two transcripts grow, one folder goes (its parent lists again).
        append(&walk.files[10].path, "{}\n");
        append(&walk.files[401].path, "{}\n");
        fs::remove_dir_all(p.join("-home-user-project-123")).unwrap();
        set_mtime(&p, an_hour_ago());
        let (walk, second) = walk_and_record_on(&roots, &FolderMemo::default(), &base);
        let second = second.unwrap();
        assert!(base_of(&second) == base, "the base stays");
        assert!(second.len() > base.len() + 1, "an overlay");
        let overlay_bytes: usize = second[1..second.len() - base.len()]
            .iter()
            .map(Vec::len)
            .sum();
        assert!(overlay_bytes < 2048, "{overlay_bytes} bytes");
        let held = Held {
            transcripts: 598,
            folders: 300,
        };
        assert_eq!(holds(&second, &roots), Some(held));
        let (_, fresh) = walk_and_record(&roots, &FolderMemo::default());
        assert_eq!(holds(&fresh.unwrap(), &roots), Some(held), "as a new list");
        assert_eq!(holds(&first, &roots), None);

        // The projects folder is patched (one entry gone): its other entries are still
        // checked from the base.
        let project = p.join("-home-user-project-005");
        set_mtime(&project, SystemTime::now());
        assert_eq!(holds(&second, &roots), None, "a folder beside the patch");
        set_mtime(&project, an_hour_ago());
        let (_, second) = walk_and_record_on(&roots, &FolderMemo::default(), &base);
        let second = second.unwrap();
        assert!(base_of(&second) == base);
        assert_eq!(holds(&second, &roots), Some(held));

        // A change in a folder of the overlay, and in one only the base holds.
        for i in [10, 200] {
            append(&walk.files[i].path, "{}\n");
            assert_eq!(holds(&second, &roots), None, "file {i}");
            let (_, again) = walk_and_record_on(&roots, &FolderMemo::default(), &base);
            let again = again.unwrap();
            assert!(base_of(&again) == base);
            assert_eq!(holds(&again, &roots), Some(held));
        }

        // Much changed: a new base, no overlay.
        for f in &walk.files[..200] {
            append(&f.path, "{}\n");
        }
        let (_, third) = walk_and_record_on(&roots, &FolderMemo::default(), &base);
        let third = third.unwrap();
        assert!(base_of(&third) != base);
        assert_eq!(base_of(&third).len(), third.len() - 1);
        assert_eq!(holds(&third, &roots), Some(held));
    }

    #[test]
    fn transcripts_that_only_grew_are_found_and_their_list_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec![tree(dir.path())];
        let p = roots[0].join("projects");
        let (_, list) = walk_and_record(&roots, &FolderMemo::default());
        let list = list.unwrap();
        let held = holds(&list, &roots).unwrap();
        // One in the folder opened to stat (five entries), one stat-ed by path, one
        // rewritten in place to the same size.
        let a = p.join("p1/a.jsonl");
        let agent = p.join("p1/s1/subagents/agent-1.jsonl");
        let f = p.join("p2/f.jsonl");
        append(&a, "{}\n");
        append(&agent, "{}\n{}\n");
        fs::write(&f, "[]\n[]\n").unwrap();
        set_mtime(&f, an_hour_ago());
        let found = grown(&list, &roots).expect("grown");
        assert_eq!(found.held(), held);
        let paths: Vec<&Path> = found.grown().iter().map(|g| g.path.as_path()).collect();
        assert_eq!(paths, [a.as_path(), agent.as_path(), f.as_path()]);
        for g in found.grown() {
            let now = fs::metadata(&g.path).unwrap();
            assert_eq!(
                (g.size, g.ino),
                (now.len(), std::os::unix::fs::MetadataExt::ino(&now))
            );
        }
        // The rewritten list holds, as a list recorded by a walk now does.
        let base = base_of(&list);
        let rewritten = stored(found.rows().unwrap(), &base);
        assert_eq!(holds(&rewritten, &roots), Some(held));
        let (_, fresh) = walk_and_record(&roots, &FolderMemo::default());
        assert_eq!(holds(&fresh.unwrap(), &roots), Some(held));

        // And it finds the next growth too, in a folder its overlay patched.
        append(&a, "{}\n");
        let again = grown(&rewritten, &roots).expect("grown again");
        assert_eq!(again.grown().len(), 1);
        let third = stored(again.rows().unwrap(), &base_of(&rewritten));
        assert_eq!(holds(&third, &roots), Some(held));

        // Anything but growth is a change.
        type Change = fn(&Path);
        let changes: [(&str, Change); 3] = [
            ("a transcript replaced by another file", |p| {
                let copy = p.join("p1/b.copy");
                fs::write(&copy, "{}\n{}\n").unwrap();
                fs::rename(&copy, p.join("p1/b.jsonl")).unwrap();
            }),
            ("a transcript added", |p| {
                fs::write(p.join("p2/g.jsonl"), "{}\n").unwrap()
            }),
            ("a folder's mtime moved", |p| {
                set_mtime(&p.join("p1/s1"), SystemTime::now())
            }),
        ];
        for (what, change) in changes {
            change(&p);
            assert!(
                matches!(outcome(&third, &roots), Outcome::Changed),
                "{what}"
            );
        }
    }

    #[test]
    fn a_list_for_other_roots_or_not_whole_does_not_hold() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec![tree(dir.path())];
        let (_, base) = walk_and_record(&roots, &FolderMemo::default());
        let base = base_of(&base.unwrap());
        // A list with an overlay: a transcript grew.
        let p = roots[0].join("projects");
        append(&p.join("p1/a.jsonl"), "{}\n");
        let (_, list) = walk_and_record_on(&roots, &FolderMemo::default(), &base);
        let list = list.unwrap();
        assert_eq!(list.len(), 3, "header, overlay, base");
        assert!(holds(&list, &roots).is_some());
        assert_eq!(holds(&list, &[dir.path().join("other")]), None);
        assert_eq!(holds(&list, &[roots[0].clone(), roots[0].clone()]), None);
        assert_eq!(holds(&list[..list.len() - 1], &roots), None, "a part short");
        let doubled = [list.clone(), list[1..].to_vec()].concat();
        assert_eq!(holds(&doubled, &roots), None, "a part twice");
        // Every cut of every part, and every changed byte of a new list (an overlay's
        // base may hold bytes the overlay replaced): never a panic, never "holds" on
        // bytes the check reads. A folder's own stat is read only by the memo (the
        // check vouches for a folder through its parent's entry): damaged, the memo
        // differs there, and that folder is listed again.
        let (_, new_list) = walk_and_record(&roots, &FolderMemo::default());
        let new_list = new_list.unwrap();
        for (i, part) in list.iter().enumerate() {
            for cut in 0..part.len() {
                let mut damaged = list.clone();
                damaged[i].truncate(cut);
                assert_eq!(holds(&damaged, &roots), None, "part {i} cut at {cut}");
            }
        }
        // The store tells the overlay from the base by part number, not by the header.
        let caught = |list: &[Vec<u8>], damaged: &[Vec<u8>]| {
            let base = list.len() - base_of(list).len();
            let memo_of = |l: &[Vec<u8>]| memo(&l[1..base], &l[base..]);
            holds(damaged, &roots).is_none() || memo_of(damaged) != memo_of(list)
        };
        for (i, part) in new_list.iter().enumerate() {
            for at in 0..part.len() {
                let mut damaged = new_list.clone();
                damaged[i][at] ^= 0xff;
                assert!(caught(&new_list, &damaged), "part {i} byte {at}");
            }
        }
        for at in 0..list[1].len() {
            let mut damaged = list.clone();
            damaged[1][at] ^= 0xff;
            assert!(caught(&list, &damaged), "overlay byte {at}");
        }
    }
}
