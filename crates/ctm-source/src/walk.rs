//! Finds the transcripts under each data root's `projects/` folder.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};

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

#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<FoundFile>,
    pub problems: Vec<WalkProblem>,
    /// Directories skipped because a symlink led back into a folder already walked.
    pub symlink_loops: u64,
}

/// Walks every root's `projects/` folder recursively for `*.jsonl` transcripts.
///
/// Symbolic links are followed (users link project folders), but every directory is
/// entered once, by device and inode, so a link loop ends; the same file reached
/// through two roots or two links is listed once (files are told apart by their own
/// device and inode). Unreadable entries become [`WalkProblem`]s. Non-transcript files
/// (`sessions-index.json`, tool results, meta files) are skipped quietly.
///
/// Only the roots, directories reached through a symlink and mount points are stat-ed;
/// a plain subdirectory takes its inode from the directory listing (see [`Below`]), so
/// a run where nothing changed costs a listing per directory and a stat per transcript.
pub fn find_transcripts(roots: &[PathBuf]) -> Walk {
    walk_with_mount_points(roots, read_mount_points())
}

fn walk_with_mount_points(roots: &[PathBuf], mount_points: Option<HashSet<PathBuf>>) -> Walk {
    let mut walker = Walker {
        walk: Walk::default(),
        seen_dirs: HashSet::new(),
        seen_files: HashSet::new(),
        mount_points,
    };
    for root in roots {
        let projects = root.join("projects");
        match fs::metadata(&projects) {
            Ok(m) if m.is_dir() => walker.enter(&projects, &m),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => walker.walk.problems.push(WalkProblem {
                path: projects,
                reason: e.to_string(),
            }),
        }
    }
    walker.walk
}

/// How the subdirectories of a directory being listed are identified.
///
/// A directory's inode in its parent's listing (`d_ino`) is the one `stat` reports,
/// and its device is the parent's, except at a mount point: there the listing shows
/// the covered directory of the parent's file system, and everything below lives on
/// another device. Taking the parent's device there would give the mounted tree ids
/// that can equal unrelated directories of the parent's file system, and a real
/// directory would be skipped as a "loop". So mount points (bind mounts included,
/// which can also make loops) are read once from `/proc/self/mountinfo` and stat-ed
/// like symlink targets; where that list is unavailable every directory is stat-ed.
enum Below {
    /// Mount points unknown: stat every subdirectory.
    Stat,
    /// No mount point anywhere below: a subdirectory is (this device, its `d_ino`).
    Plain,
    /// Some mount point lies below this directory, whose canonical path this is.
    Mounts(PathBuf),
}

struct Walker {
    walk: Walk,
    seen_dirs: HashSet<(u64, u64)>,
    seen_files: HashSet<(u64, u64)>,
    /// Canonical paths of every mount point; `None` when they cannot be known.
    mount_points: Option<HashSet<PathBuf>>,
}

impl Walker {
    /// Enters a directory whose own stat is at hand (a root, a symlink target, a
    /// mount point, or any directory when mount points are unknown).
    fn enter(&mut self, dir: &Path, meta: &fs::Metadata) {
        if !self.seen_dirs.insert((meta.dev(), meta.ino())) {
            self.walk.symlink_loops += 1;
            return;
        }
        let below = match &self.mount_points {
            None => Below::Stat,
            // Canonical (links resolved) to compare with the kernel's mount paths.
            Some(mounts) => match fs::canonicalize(dir) {
                Ok(canonical) => below_path(mounts, canonical),
                Err(_) => Below::Stat,
            },
        };
        self.list(dir, meta.dev(), &below);
    }

    fn list(&mut self, dir: &Path, dev: u64, below: &Below) {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.walk.problems.push(WalkProblem {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                });
                return;
            }
        };
        // Sorted so that runs are reproducible whatever order the file system lists in.
        let mut children: Vec<_> = entries.filter_map(Result::ok).collect();
        // The name is copied once per entry, not once per comparison.
        children.sort_by_cached_key(|e| e.file_name());
        for entry in children {
            let path = entry.path();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let is_transcript_name = path.extension().is_some_and(|e| e == "jsonl");
            if file_type.is_dir() {
                self.subdirectory(&entry, &path, dev, below);
            } else if file_type.is_file() && is_transcript_name {
                // DirEntry::metadata does not follow links and is enough for plain files.
                match entry.metadata() {
                    Ok(m) => self.push_file(path, &m),
                    Err(e) => self.walk.problems.push(WalkProblem {
                        path,
                        reason: e.to_string(),
                    }),
                }
            } else if file_type.is_symlink() {
                match fs::metadata(&path) {
                    Ok(m) if m.is_dir() => self.enter(&path, &m),
                    Ok(m) if m.is_file() && is_transcript_name => self.push_file(path, &m),
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc_eloop()) => {
                        self.walk.symlink_loops += 1
                    }
                    // A dangling link is not a problem worth reporting.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => self.walk.problems.push(WalkProblem {
                        path,
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }

    /// A plain (not symlinked) subdirectory of a directory on device `dev`.
    fn subdirectory(&mut self, entry: &fs::DirEntry, path: &Path, dev: u64, below: &Below) {
        let child_below = match below {
            Below::Stat => None,
            Below::Plain => Some(Below::Plain),
            Below::Mounts(canonical) => {
                let child = canonical.join(entry.file_name());
                match &self.mount_points {
                    Some(mounts) if !mounts.contains(&child) => Some(below_path(mounts, child)),
                    _ => None,
                }
            }
        };
        let Some(child_below) = child_below else {
            match fs::metadata(path) {
                Ok(m) => self.enter(path, &m),
                Err(e) => self.walk.problems.push(WalkProblem {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }),
            }
            return;
        };
        if !self.seen_dirs.insert((dev, entry.ino())) {
            // Seen before (through a symlink): confirmed by a stat, which costs nothing in
            // the common case (no links) and keeps a file system whose listing inodes
            // differ from its stat inodes from skipping a directory it never walked.
            match fs::metadata(path) {
                Ok(m) if (m.dev(), m.ino()) == (dev, entry.ino()) => self.walk.symlink_loops += 1,
                Ok(m) => self.enter(path, &m),
                Err(e) => self.walk.problems.push(WalkProblem {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }),
            }
            return;
        }
        self.list(path, dev, &child_below);
    }

    fn push_file(&mut self, path: PathBuf, m: &fs::Metadata) {
        if !self.seen_files.insert((m.dev(), m.ino())) {
            return;
        }
        self.walk.files.push(FoundFile {
            path,
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
        });
    }
}

/// How to identify the subdirectories of the directory at `canonical`.
fn below_path(mounts: &HashSet<PathBuf>, canonical: PathBuf) -> Below {
    if mounts
        .iter()
        .any(|m| m.starts_with(&canonical) && *m != canonical)
    {
        Below::Mounts(canonical)
    } else {
        Below::Plain
    }
}

/// Every mount point of this process's mount namespace, or `None` where the kernel
/// does not list them (not Linux, or no `/proc`).
fn read_mount_points() -> Option<HashSet<PathBuf>> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let text = fs::read("/proc/self/mountinfo").ok()?;
    parse_mountinfo(&text)
}

/// The fifth field of each `mountinfo` line, with the kernel's octal escapes
/// (`\040` for a space, ...) undone. `None` if any line is malformed.
fn parse_mountinfo(text: &[u8]) -> Option<HashSet<PathBuf>> {
    let mut mounts = HashSet::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let field = line.split(|&b| b == b' ').nth(4)?;
        let mut path = Vec::with_capacity(field.len());
        let mut i = 0;
        while i < field.len() {
            match field.get(i..i + 4) {
                Some([b'\\', a, b, c]) if [a, b, c].iter().all(|d| (b'0'..=b'7').contains(d)) => {
                    path.push((a - b'0') << 6 | (b - b'0') << 3 | (c - b'0'));
                    i += 4;
                }
                _ => {
                    path.push(field[i]);
                    i += 1;
                }
            }
        }
        mounts.insert(PathBuf::from(OsString::from_vec(path)));
    }
    Some(mounts)
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
    use std::os::unix::fs::symlink;

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
        let walk = find_transcripts(&[root.clone(), root.clone()]);
        let names: Vec<_> = walk
            .files
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            names,
            vec![
                "projects/-home-u-app/s1/subagents/agent-a1.jsonl",
                "projects/-home-u-app/s1.jsonl"
            ]
        );
        assert!(walk.symlink_loops >= 1);
        assert!(walk.problems.is_empty(), "{:?}", walk.problems);
    }

    /// Every way of identifying directories finds the same files and the same loops.
    #[test]
    fn links_into_walked_folders_are_entered_once_however_folders_are_identified() {
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

        let canonical = fs::canonicalize(&projects).unwrap();
        let ways = [
            ("mount points unknown", None),
            ("no mount points", Some(HashSet::new())),
            (
                "b-project/sub is a mount point",
                Some(HashSet::from([canonical.join("b-project/sub")])),
            ),
            (
                "projects is a mount point",
                Some(HashSet::from([canonical])),
            ),
        ];
        for (way, mounts) in ways {
            let walk = walk_with_mount_points(std::slice::from_ref(&root), mounts);
            let names: Vec<_> = walk
                .files
                .iter()
                .map(|f| f.path.strip_prefix(&projects).unwrap().to_owned())
                .collect();
            assert_eq!(
                names,
                vec![
                    PathBuf::from("a-link/s.jsonl"),
                    PathBuf::from("a-link/sub/deeper/agent.jsonl"),
                ],
                "{way}"
            );
            // `b-project` after its link, and `projects` again through `up`.
            assert_eq!(walk.symlink_loops, 2, "{way}");
            assert!(walk.problems.is_empty(), "{way}: {:?}", walk.problems);
        }
    }

    #[test]
    fn mount_points_are_read_with_their_escapes() {
        let text = b"22 27 0:21 / /proc rw,relatime - proc proc rw\n\
            28 27 0:25 / /mnt/my\\040data ro - tmpfs x ro\n";
        assert_eq!(
            parse_mountinfo(text),
            Some(HashSet::from([
                PathBuf::from("/proc"),
                PathBuf::from("/mnt/my data")
            ]))
        );
        assert_eq!(parse_mountinfo(b"22 27 0:21 /\n"), None);
    }
}
