//! Finds the transcripts under each data root's `projects/` folder.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
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
/// through two roots or two links is listed once. Unreadable entries become
/// [`WalkProblem`]s. Non-transcript files (`sessions-index.json`, tool results, meta
/// files) are skipped quietly.
pub fn find_transcripts(roots: &[PathBuf]) -> Walk {
    let mut walk = Walk::default();
    let mut seen_dirs = HashSet::new();
    let mut seen_files = HashSet::new();
    for root in roots {
        let projects = root.join("projects");
        match fs::metadata(&projects) {
            Ok(m) if m.is_dir() => visit(&projects, &mut walk, &mut seen_dirs, &mut seen_files),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => walk.problems.push(WalkProblem {
                path: projects,
                reason: e.to_string(),
            }),
        }
    }
    walk
}

fn visit(
    dir: &Path,
    walk: &mut Walk,
    seen_dirs: &mut HashSet<(u64, u64)>,
    seen_files: &mut HashSet<(u64, u64)>,
) {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) => {
            walk.problems.push(WalkProblem {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            });
            return;
        }
    };
    if !seen_dirs.insert((meta.dev(), meta.ino())) {
        walk.symlink_loops += 1;
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            walk.problems.push(WalkProblem {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            });
            return;
        }
    };
    // Sorted so that runs are reproducible whatever order the file system lists in.
    let mut children: Vec<_> = entries.filter_map(Result::ok).collect();
    children.sort_by_key(|e| e.file_name());
    for entry in children {
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let is_transcript_name = path.extension().is_some_and(|e| e == "jsonl");
        if file_type.is_dir() {
            visit(&path, walk, seen_dirs, seen_files);
        } else if file_type.is_file() && is_transcript_name {
            // DirEntry::metadata does not follow links and is enough for plain files.
            match entry.metadata() {
                Ok(m) => push_file(walk, seen_files, path, &m),
                Err(e) => walk.problems.push(WalkProblem {
                    path,
                    reason: e.to_string(),
                }),
            }
        } else if file_type.is_symlink() {
            match fs::metadata(&path) {
                Ok(m) if m.is_dir() => visit(&path, walk, seen_dirs, seen_files),
                Ok(m) if m.is_file() && is_transcript_name => push_file(walk, seen_files, path, &m),
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc_eloop()) => walk.symlink_loops += 1,
                // A dangling link is not a problem worth reporting.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => walk.problems.push(WalkProblem {
                    path,
                    reason: e.to_string(),
                }),
            }
        }
    }
}

fn push_file(
    walk: &mut Walk,
    seen_files: &mut HashSet<(u64, u64)>,
    path: PathBuf,
    m: &fs::Metadata,
) {
    if !seen_files.insert((m.dev(), m.ino())) {
        return;
    }
    walk.files.push(FoundFile {
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
}
