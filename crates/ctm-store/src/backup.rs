//! Copies of the store: [`backup`] with SQLite's online backup API (a consistent
//! snapshot while other processes read and write), [`restore`] that checks a copy before
//! it replaces anything and keeps the replaced store beside it.

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::{classify, migrate, OpenOptions, Store, StoreError};

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A temporary copy beside the store or a backup, locked (`flock`) while this process
/// works on it: a process killed mid-way leaves an unlocked file, which the next run
/// removes ([`remove_stale_temps`]); a copy another process is still making stays
/// locked and is left alone.
struct TempCopy {
    path: PathBuf,
    /// Holds the lock; closing it (when this is dropped) releases it.
    _lock: fs::File,
}

/// The prefix of the temporary copies of `near` for `tag` ("backup", "restore").
fn temp_prefix(near: &Path, tag: &str) -> (PathBuf, String) {
    let name = near
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("ctm.db");
    let dir = near.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new(".")).to_path_buf();
    (dir, format!(".{name}.{tag}-"))
}

/// A new private file beside `near`, for a copy that is renamed into place when whole.
fn temp_beside(near: &Path, tag: &str) -> Result<TempCopy, StoreError> {
    let (dir, prefix) = temp_prefix(near, tag);
    remove_stale_temps(near, tag);
    for n in 0..1000 {
        let p = dir.join(format!("{prefix}{}-{n}", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
        {
            Ok(file) => {
                lock(&file, libc::LOCK_EX);
                return Ok(TempCopy {
                    path: p,
                    _lock: file,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&p)(e)),
        }
    }
    Err(StoreError::Invalid(format!(
        "cannot create a temporary file in {}; remove stale {prefix}* files",
        dir.display()
    )))
}

/// `flock(2)`: whether the lock was taken (with `LOCK_NB`, false when another holds it).
fn lock(file: &fs::File, how: libc::c_int) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call.
    unsafe { libc::flock(file.as_raw_fd(), how) == 0 }
}

/// Removes the temporary copies (of `near`, for `tag`) that a killed `ctm db backup` or
/// `ctm db restore` left: those no live process holds locked, with their SQLite side
/// files. Run before each backup and restore and on every open of the store.
pub fn remove_stale_temps(near: &Path, tag: &str) {
    let (dir, prefix) = temp_prefix(near, tag);
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let path = dir.join(name);
        // A side file goes with its copy, or alone when the copy is gone.
        if let Some(base) = ["-journal", "-wal", "-shm"]
            .iter()
            .find_map(|s| rest.strip_suffix(s))
        {
            if !dir.join(format!("{prefix}{base}")).exists() {
                let _ = fs::remove_file(&path);
            }
            continue;
        }
        let Ok(file) = fs::OpenOptions::new().read(true).open(&path) else {
            continue;
        };
        if lock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            remove_temp(&path);
        }
    }
}

/// Removes a temporary copy and its SQLite side files.
fn remove_temp(p: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = fs::remove_file(format!("{}{suffix}", p.display()));
    }
}

/// Copies `from` into the (new, empty) file `to` in one step: one read transaction on
/// the source, so the copy is one committed state even while writers go on (WAL).
fn copy_into(from: &Connection, to: &Path) -> Result<(), StoreError> {
    let mut dest = Connection::open(to)?;
    {
        let b = Backup::new(from, &mut dest)?;
        // -1: every page in one step; a busy source is waited for like any reader.
        let mut tries = 0;
        while b.step(-1)? != StepResult::Done {
            tries += 1;
            if tries > 1500 {
                return Err(StoreError::Invalid(
                    "the store stayed locked for 30 s during the copy; try again".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Self-contained: no -wal beside the copy.
    dest.pragma_update(None, "journal_mode", "DELETE")?;
    let ok: String = dest.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(StoreError::Invalid(format!(
            "the copy at {} failed its integrity check: {ok}",
            to.display()
        )));
    }
    Ok(())
}

fn sync_file(p: &Path) -> Result<(), StoreError> {
    fs::File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(io_err(p))
}

/// Writes a consistent copy of `store` to `dest` (mode 0600); refuses an existing
/// `dest` unless `force`. Returns the copy's size in bytes.
pub fn backup(store: &Store, dest: &Path, force: bool) -> Result<u64, StoreError> {
    if dest.exists() && !force {
        return Err(StoreError::Invalid(format!(
            "{} already exists; pass --force to replace it, or choose another file",
            dest.display()
        )));
    }
    let copy = temp_beside(dest, "backup")?;
    let tmp = &copy.path;
    let done = copy_into(store.conn(), tmp)
        .and_then(|()| sync_file(tmp))
        .and_then(|()| fs::rename(tmp, dest).map_err(io_err(dest)));
    if let Err(e) = done {
        remove_temp(tmp);
        return Err(e);
    }
    fs::metadata(dest).map(|m| m.len()).map_err(io_err(dest))
}

/// What [`restore`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The schema version of the restored file before it was migrated.
    pub from_version: u32,
    /// Where the replaced store was moved, if there was one.
    pub previous: Option<PathBuf>,
}

/// Opens `src` read-only and checks it is a whole ctm store this build can use.
fn verify(src: &Path) -> Result<(Connection, u32), StoreError> {
    let refuse = |why: String| StoreError::NotRestorable {
        path: src.to_path_buf(),
        why,
    };
    const NAME_A_BACKUP: &str = "name a backup made by `ctm db backup`";
    let meta = fs::metadata(src).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse(format!("it is not a file; {NAME_A_BACKUP}")));
    }
    if meta.len() == 0 {
        return Err(refuse(format!("the file is empty; {NAME_A_BACKUP}")));
    }
    let wait = Duration::from_secs(30);
    let not_sqlite = |e: rusqlite::Error| match classify(src, &e, wait) {
        StoreError::NotADatabase { .. } => {
            refuse(format!("it is not an SQLite database; {NAME_A_BACKUP}"))
        }
        StoreError::Damaged { detail, .. } => {
            refuse(format!("it is damaged ({detail}); {NAME_A_BACKUP}"))
        }
        StoreError::Other { message, .. } | StoreError::CannotOpen { why: message, .. } => refuse(
            format!("SQLite cannot read it ({message}); {NAME_A_BACKUP}"),
        ),
        other => other,
    };
    let conn = Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(not_sqlite)?;
    conn.busy_timeout(wait)?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(not_sqlite)?;
    if integrity != "ok" {
        return Err(refuse(format!(
            "it fails SQLite's integrity check ({integrity})"
        )));
    }
    let has_version = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'system_config'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some()
        && conn
            .query_row(
                "SELECT 1 FROM system_config WHERE key = 'schema_version'",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
    let version = match migrate::current_version(&conn)? {
        Some(v) if has_version => v,
        _ => {
            return Err(refuse(format!(
                "it is an SQLite database but not a ctm store; {NAME_A_BACKUP}"
            )))
        }
    };
    if version > migrate::LATEST {
        return Err(refuse(format!(
            "it has schema version {version}, newer than this ctm supports ({}); upgrade ctm first",
            migrate::LATEST
        )));
    }
    Ok((conn, version))
}

/// Replaces the store at `store_path` with the ctm store `src`, migrated to the latest
/// version. Nothing changes unless every check passes; the replaced store (with any
/// side files) is kept as `<store>.before-restore-<UTC time>`.
pub fn restore(store_path: &Path, src: &Path, wait: Duration) -> Result<Restored, StoreError> {
    let (src_conn, from_version) = verify(src)?;
    let copy = temp_beside(store_path, "restore")?;
    let tmp = &copy.path;
    let prepared = copy_into(&src_conn, tmp).and_then(|()| {
        drop(src_conn);
        let migrated = Store::open(
            tmp,
            &OpenOptions {
                busy_timeout: wait,
                target_version: migrate::LATEST,
                ..OpenOptions::default()
            },
        )?;
        migrated
            .conn()
            .pragma_update(None, "journal_mode", "DELETE")
            .map_err(StoreError::from)?;
        drop(migrated);
        sync_file(tmp)
    });
    let swapped = prepared.and_then(|()| swap_in(store_path, tmp, wait));
    match swapped {
        Ok(previous) => Ok(Restored {
            from_version,
            previous,
        }),
        Err(e) => {
            remove_temp(tmp);
            Err(e)
        }
    }
}

/// Renames `tmp` over `store_path`, moving the old store and its side files aside while
/// holding its write lock with an empty WAL, so no committed write is left behind in a
/// -wal that would then be applied to the new file.
fn swap_in(store_path: &Path, tmp: &Path, wait: Duration) -> Result<Option<PathBuf>, StoreError> {
    if !store_path.exists() {
        fs::rename(tmp, store_path).map_err(io_err(store_path))?;
        return Ok(None);
    }
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ");
    let aside = PathBuf::from(format!("{}.before-restore-{stamp}", store_path.display()));
    let side = |p: &Path, s: &str| PathBuf::from(format!("{}{s}", p.display()));
    let old = Connection::open_with_flags(
        store_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(store_path, &e, wait))?;
    old.busy_timeout(wait)?;
    let is_db = old
        .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|e| classify(store_path, &e, wait));
    match is_db {
        // Not a database (what a restore is often for): moved aside as it is.
        Err(StoreError::NotADatabase { .. }) => {}
        Err(e) => return Err(e),
        Ok(()) => {
            // Closing must not checkpoint into, or delete, side files that are no longer ours.
            old.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )?;
            lock_with_empty_wal(&old, store_path, wait)?;
        }
    }
    fs::rename(store_path, &aside).map_err(io_err(store_path))?;
    for s in ["-wal", "-shm"] {
        let from = side(store_path, s);
        if from.exists() {
            fs::rename(&from, side(&aside, s)).map_err(io_err(&from))?;
        }
    }
    let placed = fs::rename(tmp, store_path).map_err(io_err(store_path));
    if placed.is_err() {
        // Put the old store back rather than leave no store.
        let _ = fs::rename(&aside, store_path);
    }
    placed?;
    drop(old);
    Ok(Some(aside))
}

/// Checkpoints the WAL into the file and truncates it, then takes the write lock; if a
/// writer slipped in between, gives the lock back and tries again.
fn lock_with_empty_wal(conn: &Connection, path: &Path, wait: Duration) -> Result<(), StoreError> {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let deadline = std::time::Instant::now() + wait;
    loop {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| classify(path, &e, wait))?;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| classify(path, &e, wait))?;
        let wal_len = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if wal_len == 0 {
            return Ok(());
        }
        conn.execute_batch("ROLLBACK")?;
        if std::time::Instant::now() > deadline {
            return Err(StoreError::Busy {
                path: path.to_path_buf(),
                waited_ms: wait.as_millis() as u64,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy a killed process left (unlocked) goes with its side files; one a live
    /// process is making (locked) stays, and so do other files.
    #[test]
    fn stale_temporary_copies_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("ctm.db");
        let live = temp_beside(&store, "restore").unwrap();
        let stale = dir.path().join(".ctm.db.restore-1-0");
        for f in [
            stale.clone(),
            dir.path().join(".ctm.db.restore-1-0-journal"),
            dir.path().join(".ctm.db.restore-2-0-wal"),
            dir.path().join(".ctm.db.backup-3-0"),
            dir.path().join("ctm.db"),
        ] {
            fs::write(&f, b"x").unwrap();
        }
        remove_stale_temps(&store, "restore");
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let live_name = live
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            left,
            [".ctm.db.backup-3-0".to_owned(), live_name, "ctm.db".into()]
        );
        drop(live);
    }
}
