//! The walk's one memo, the stat list: it tells a run where nothing changed from the
//! stats alone while it holds, and gives the walk its folder listings when it does not
//! (a folder changed, a file came, a folder went, the root moved, cursors were written),
//! so a walk lists only the folders that changed.

use std::ffi::OsStr;
use std::fs::{self, FileTimes};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ctm_ingest::{ingest, IngestReport};
use ctm_pricing::PriceTable;
use ctm_source::stat_list;
use ctm_source::FolderMemo;
use ctm_store::cursors::CursorWriter;
use ctm_store::{folders, OpenOptions, Store};

fn run(store: &mut Store, root: &Path) -> IngestReport {
    ingest(
        store,
        &PriceTable::embedded(),
        std::slice::from_ref(&root.to_path_buf()),
        None,
    )
    .unwrap()
}

/// The folder listings the next walk gets from the store.
fn memo(store: &Store) -> FolderMemo {
    let conn = store.conn();
    stat_list::memo(
        &folders::stat_list_overlay(conn).unwrap(),
        &folders::stat_list_base(conn).unwrap(),
    )
}

fn memo_paths(store: &Store) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = memo(store).into_keys().map(PathBuf::from).collect();
    paths.sort();
    paths
}

/// Every folder under `dir` (itself included) an hour back, so listings taken now are
/// past the racy window and may be reused.
fn age_folders(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            age_folders(&entry.path());
        }
    }
    let when = SystemTime::now() - Duration::from_secs(3600);
    fs::File::open(dir)
        .unwrap()
        .set_times(FileTimes::new().set_modified(when))
        .unwrap();
}

/// One folder whose entries changed set an hour back (only it: a folder whose mtime
/// moves is listed again).
fn set_back(dir: &Path) {
    let when = SystemTime::now() - Duration::from_secs(3600);
    fs::File::open(dir)
        .unwrap()
        .set_times(FileTimes::new().set_modified(when))
        .unwrap();
}

fn counts(r: &IngestReport) -> (bool, u64, u64) {
    (r.stat_list_held, r.folders_listed, r.folders_reused)
}

#[test]
fn one_memo_serves_the_check_and_the_walk_through_every_kind_of_change() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let p = root.join("projects");
    fs::create_dir_all(p.join("p1/s1/subagents")).unwrap();
    fs::create_dir_all(p.join("p2")).unwrap();
    for f in [
        "p1/a.jsonl",
        "p1/b.jsonl",
        "p1/s1/subagents/agent-1.jsonl",
        "p2/c.jsonl",
    ] {
        fs::write(p.join(f), "{}\n").unwrap();
    }
    age_folders(&p);
    let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();

    let first = run(&mut store, &root);
    assert_eq!(counts(&first), (false, 5, 0));
    assert_eq!(first.files_read, 4);
    let held = run(&mut store, &root);
    assert!(held.unchanged && held.stat_list_held, "{held:?}");
    assert_eq!(held.files_seen, 4);

    // A cursor write drops what says the list holds, never the listings: the next run
    // walks, lists no folder, and (nothing changed) stays a reader.
    let tx = store.write().unwrap();
    CursorWriter::new(&tx).unwrap();
    tx.commit().unwrap();
    assert!(folders::stat_list_header(store.conn()).unwrap().is_empty());
    let walked = run(&mut store, &root);
    assert!(walked.unchanged, "{walked:?}");
    assert_eq!(counts(&walked), (false, 0, 5));
    assert!(
        folders::stat_list_header(store.conn()).unwrap().is_empty(),
        "a reader writes nothing"
    );

    // A new file: only its folder is listed again, and the list holds after.
    fs::write(p.join("p2/d.jsonl"), "{}\n").unwrap();
    set_back(&p.join("p2"));
    let grown = run(&mut store, &root);
    assert_eq!(counts(&grown), (false, 1, 4));
    assert_eq!((grown.files_seen, grown.files_read), (5, 1));
    assert!(run(&mut store, &root).stat_list_held);

    // A folder changed without a new transcript (a file of another kind came).
    fs::write(p.join("p1/notes.txt"), "x").unwrap();
    set_back(&p.join("p1"));
    let other = run(&mut store, &root);
    assert_eq!(counts(&other), (false, 1, 4));
    assert!(other.unchanged, "no transcript changed: {other:?}");

    // A removed folder: its parent is listed again, its listings leave the memo.
    fs::remove_dir_all(p.join("p1/s1")).unwrap();
    set_back(&p.join("p1"));
    let removed = run(&mut store, &root);
    assert_eq!(counts(&removed), (false, 1, 2));
    assert_eq!(removed.files_missing, 1);
    assert_eq!(memo_paths(&store), [p.clone(), p.join("p1"), p.join("p2")]);
    assert!(run(&mut store, &root).stat_list_held);

    // A renamed root: the list is for the old path, nothing in the memo is under the
    // new one; every folder is listed, the memo then holds the new paths only.
    let moved = dir.path().join("moved");
    fs::rename(&root, &moved).unwrap();
    let q = moved.join("projects");
    let renamed = run(&mut store, &moved);
    assert_eq!(counts(&renamed), (false, 3, 0));
    assert_eq!((renamed.files_seen, renamed.files_read), (4, 4));
    assert_eq!(memo_paths(&store), [q.clone(), q.join("p1"), q.join("p2")]);
    let again = run(&mut store, &moved);
    assert!(again.unchanged && again.stat_list_held, "{again:?}");
}

/// A link (its target can change with no stat the list takes changing) keeps the list
/// from vouching for the walk, but not from keeping the listings: every folder is
/// reused, the linked one and one whose name is not UTF-8 too.
#[test]
fn a_list_that_cannot_vouch_for_its_walk_still_gives_it_every_listing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let p = root.join("projects");
    let odd = p.join(OsStr::from_bytes(b"p-\xff"));
    fs::create_dir_all(&odd).unwrap();
    fs::write(odd.join("a.jsonl"), "{}\n").unwrap();
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(elsewhere.join("x.jsonl"), "{}\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, p.join("linked")).unwrap();
    age_folders(&p);
    age_folders(&elsewhere);
    let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();

    let first = run(&mut store, &root);
    assert_eq!((first.files_read, first.folders_listed), (2, 3));
    assert_eq!(
        memo_paths(&store),
        [p.clone(), p.join("linked"), odd.clone()]
    );
    for _ in 0..2 {
        let again = run(&mut store, &root);
        assert!(again.unchanged, "{again:?}");
        assert_eq!(counts(&again), (false, 0, 3));
    }

    // Without the link, the next writing run's list vouches for its walk.
    fs::remove_file(p.join("linked")).unwrap();
    fs::write(odd.join("b.jsonl"), "{}\n").unwrap();
    set_back(&p);
    set_back(&odd);
    let written = run(&mut store, &root);
    assert_eq!(counts(&written), (false, 2, 0));
    assert_eq!(written.files_missing, 1);
    assert!(run(&mut store, &root).stat_list_held);
}
