//! Reading one state of the store on several cores.
//!
//! A report that must pass over every fact spends most of its time in SQLite stepping
//! through rows, on one core. SQLite runs one statement per connection at a time, so
//! the pass is split over several connections, each reading a part. The parts must see
//! the same committed state, or a commit landing between their starts could count a
//! moved fact twice or not at all: the store's connection holds the write lock while
//! the readers begin their read transactions, so no commit can land between them, and
//! lets go as soon as all have begun. When another process is writing (the lock is
//! taken), the caller reads on its own connection instead of waiting. A few statements
//! on one connection see one state inside one read transaction ([`in_one_snapshot`]).

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::StoreError;

/// How many readers to split a pass over: the cores, up to 4 (more connections cost
/// more to open than a part saves).
pub fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs `read(connection, part)` for each part in `0..parts`, each on its own connection
/// and thread, all on the state `conn` would see now. `None` when that cannot be had
/// cheaply: fewer than 2 parts, `conn` inside a transaction (its uncommitted rows are
/// not visible to other connections), a store in memory, a read-only store, or another
/// writer holding the lock. The caller then reads on `conn`.
pub fn read_in_parts<R: Send>(
    conn: &Connection,
    parts: usize,
    read: impl Fn(&Connection, usize) -> Result<R, StoreError> + Sync,
) -> Result<Option<Vec<R>>, StoreError> {
    if parts < 2 || !conn.is_autocommit() {
        return Ok(None);
    }
    let Some(path) = conn.path().filter(|p| !p.is_empty()).map(str::to_owned) else {
        return Ok(None);
    };
    let Some(lock) = WriteLock::try_take(conn)? else {
        return Ok(None);
    };
    std::thread::scope(|scope| {
        let (begun_tx, begun_rx) = mpsc::channel::<()>();
        let readers: Vec<_> = (0..parts)
            .map(|part| {
                let begun = begun_tx.clone();
                let (path, read) = (&path, &read);
                let reader = std::thread::Builder::new().name(format!("ctm-reader-{part}"));
                reader.spawn_scoped(scope, move || -> Result<R, StoreError> {
                    let reader = open_reader(path)?;
                    reader.execute_batch("BEGIN")?;
                    // A read transaction takes its snapshot at its first read.
                    reader.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
                    // The receiver may be gone only if the caller panicked.
                    let _ = begun.send(());
                    drop(begun);
                    let out = read(&reader, part);
                    reader.execute_batch("COMMIT")?;
                    out
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Invalid(format!("cannot start a reader thread: {e}")))?;
        drop(begun_tx);
        // Every reader has begun (or failed, dropping its sender) when this ends.
        while begun_rx.recv().is_ok() {}
        let released = lock.release();
        let mut results = Vec::with_capacity(parts);
        for reader in readers {
            match reader.join() {
                Ok(r) => results.push(r?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        released?;
        Ok(Some(results))
    })
}

/// Runs `read` on `conn` inside one read transaction, so every statement it runs sees
/// the same commit (in autocommit mode each statement sees the latest). Inside the
/// caller's own transaction it just runs: that is one state already.
pub fn in_one_snapshot<R, E: From<rusqlite::Error>>(
    conn: &Connection,
    read: impl FnOnce(&Connection) -> Result<R, E>,
) -> Result<R, E> {
    if !conn.is_autocommit() {
        return read(conn);
    }
    let tx = conn.unchecked_transaction()?;
    let out = read(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// A connection of the same store for one reader.
fn open_reader(path: &str) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let reader = Connection::open_with_flags(path, flags)?;
    reader.busy_timeout(Duration::from_secs(5))?;
    Ok(reader)
}

/// The store's write lock, held without writing, released by rolling back (also when
/// dropped on an early return).
struct WriteLock<'c> {
    conn: Option<&'c Connection>,
}

impl<'c> WriteLock<'c> {
    /// Takes the lock if no other connection holds it, without waiting.
    fn try_take(conn: &'c Connection) -> Result<Option<WriteLock<'c>>, StoreError> {
        let waits_ms: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
        conn.busy_timeout(Duration::ZERO)?;
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        conn.busy_timeout(Duration::from_millis(waits_ms.max(0) as u64))?;
        match began {
            Ok(()) => Ok(Some(WriteLock { conn: Some(conn) })),
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::ReadOnly)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn release(mut self) -> Result<(), StoreError> {
        match self.conn.take() {
            Some(conn) => Ok(conn.execute_batch("ROLLBACK")?),
            None => Ok(()),
        }
    }
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Nothing was written; a failed rollback leaves nothing to undo.
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};
    use std::sync::{Arc, Barrier};

    fn store_with_rows(n: i64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        // As after a first ingest: readers and a writer do not wait for each other.
        store.use_wal().unwrap();
        store
            .conn()
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        for x in 0..n {
            store
                .conn()
                .execute("INSERT INTO t VALUES (?1)", [x])
                .unwrap();
        }
        (dir, store)
    }

    fn rows(conn: &Connection) -> Result<i64, StoreError> {
        Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
    }

    #[test]
    fn each_part_reads_on_its_own_connection() {
        let (_dir, store) = store_with_rows(3);
        let got = read_in_parts(store.conn(), 3, |c, part| Ok((part, rows(c)?))).unwrap();
        assert_eq!(got, Some(vec![(0, 3), (1, 3), (2, 3)]));
        // The lock is let go and the caller's wait for busy is as it was.
        assert!(store.conn().is_autocommit());
        let waits: i64 = store
            .conn()
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert_eq!(waits, 30_000);
    }

    #[test]
    fn no_parts_where_other_connections_cannot_see_the_same_rows() {
        let (_dir, mut store) = store_with_rows(1);
        let read = |c: &Connection, _| rows(c);
        assert_eq!(read_in_parts(store.conn(), 1, read).unwrap(), None);
        let tx = store.write().unwrap();
        tx.execute("INSERT INTO t VALUES (9)", []).unwrap();
        assert_eq!(read_in_parts(&tx, 2, read).unwrap(), None);
        drop(tx);
        let memory = Connection::open_in_memory().unwrap();
        assert_eq!(read_in_parts(&memory, 2, read).unwrap(), None);
    }

    #[test]
    fn no_parts_and_no_wait_while_another_connection_writes() {
        let (_dir, store) = store_with_rows(1);
        let writer = Connection::open(store.path()).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let read = |c: &Connection, _| rows(c);
        assert_eq!(read_in_parts(store.conn(), 2, read).unwrap(), None);
        writer.execute_batch("ROLLBACK").unwrap();
        assert_eq!(
            read_in_parts(store.conn(), 2, read).unwrap(),
            Some(vec![1, 1])
        );
    }

    #[test]
    fn one_snapshot_does_not_see_a_commit_between_its_statements() {
        let (_dir, store) = store_with_rows(2);
        let writer = Connection::open(store.path()).unwrap();
        let seen = in_one_snapshot(store.conn(), |c| -> Result<_, StoreError> {
            let before = rows(c)?;
            writer.execute("INSERT INTO t VALUES (3)", []).unwrap();
            Ok((before, rows(c)?))
        })
        .unwrap();
        assert_eq!(seen, (2, 2));
        assert!(store.conn().is_autocommit());
        assert_eq!(rows(store.conn()).unwrap(), 3);
        // Inside a transaction it reads that transaction's state.
        let tx = store.conn().unchecked_transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (4)", []).unwrap();
        assert_eq!(in_one_snapshot(&tx, rows).unwrap(), 4);
    }

    /// A commit that lands once every part has begun is seen by none of them, and can
    /// land while they read (the lock was let go).
    #[test]
    fn every_part_reads_the_state_of_the_moment_it_was_asked() {
        let (_dir, store) = store_with_rows(5);
        let path = store.path().to_path_buf();
        let parts = 3;
        let all_begun = Arc::new(Barrier::new(parts + 1));
        let committed = Arc::new(Barrier::new(parts + 1));
        let writer = {
            let (all_begun, committed) = (all_begun.clone(), committed.clone());
            std::thread::spawn(move || {
                all_begun.wait();
                let conn = Connection::open(path).unwrap();
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                conn.execute("INSERT INTO t VALUES (6)", []).unwrap();
                committed.wait();
            })
        };
        let got = read_in_parts(store.conn(), parts, |c, _| {
            // Each part is inside its read transaction here.
            all_begun.wait();
            committed.wait();
            rows(c)
        })
        .unwrap();
        writer.join().unwrap();
        assert_eq!(got, Some(vec![5; parts]));
        assert_eq!(rows(store.conn()).unwrap(), 6);
    }
}
