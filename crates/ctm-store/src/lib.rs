//! The store: one SQLite file that keeps every API response for good.
//!
//! - [`migrate`]: numbered migrations (seed 000 and seed 004 schemas), run on open.
//! - [`facts`]: the fact table and the exactly-once upsert.
//! - [`cursors`]: how far each transcript was read.
//! - [`derive`]: the seed tables aggregated from the facts, refreshed, rebuilt, checked.
//! - [`report_rows`]: the derived rows of the hourly, project and blocks reports.
//! - [`config`]: the `system_config` table.
//! - [`rate_limits`]: Claude Code's official 5-hour and 7-day usage, as its statusline saw it.
//! - [`team_push`]: the facts a push to a team database sends, and where it got to.
//!
//! Concurrency: WAL journal, a busy timeout, and one writer at a time (`BEGIN
//! IMMEDIATE`). Readers never block and see the last committed state.

pub mod backup;
pub mod config;
pub mod cursors;
pub mod derive;
pub mod exports;
pub mod facts;
pub mod folders;
pub mod migrate;
pub mod rate_limits;
pub mod report_rows;
pub mod retention;
pub mod settings;
pub mod snapshot_readers;
pub mod snapshots;
pub mod team_push;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

pub use migrate::LATEST as SCHEMA_VERSION;

/// Every way opening or using the store can fail, each with a one-line message that
/// names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not an SQLite database; point --db (or CTM_DB) at a ctm store, or move the file away")]
    NotADatabase { path: PathBuf },
    #[error("{path} is an SQLite database but not a ctm store; point --db (or CTM_DB) elsewhere")]
    NotCtmStore { path: PathBuf },
    #[error("{path} has schema version {found}, newer than this ctm supports ({supported}); upgrade ctm or use another --db")]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "{path} is locked by another process (waited {waited_ms} ms); try again when it finishes"
    )]
    Busy { path: PathBuf, waited_ms: u64 },
    #[error("migration to schema version {version} failed, nothing was changed: {message}")]
    Migration { version: u32, message: String },
    /// `ctm db restore` refuses a file; names that file, not the store.
    #[error("cannot restore {path}: {why}")]
    NotRestorable { path: PathBuf, why: String },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot use the store at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long to wait for another writer before giving up.
    pub busy_timeout: Duration,
    /// Migrate up to this version: the latest by default, a lower one for
    /// `ctm db migrate --to N`, 0 to inspect a store without migrating it.
    pub target_version: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            busy_timeout: Duration::from_secs(30),
            target_version: migrate::LATEST,
        }
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    busy_timeout: Duration,
    /// A new store stays in rollback-journal mode until its first ingest commits
    /// (see [`Store::use_wal`]).
    wal_pending: bool,
    /// Migrations this open applied.
    pub migrated: Vec<u32>,
}

/// Gives a connection a page cache for a large write, also inside the write
/// transaction. A first ingest dirties tens of MB of pages; SQLite's default 2 MB cache
/// spills them to the WAL mid-transaction and writes them twice. Reports keep the
/// default: a large cache only costs them page faults, as they read each page once.
pub fn use_large_cache(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "cache_size", -16384)?;
    Ok(())
}

impl Store {
    /// Opens (creating it with mode 0600 when missing) and migrates the store.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Store, StoreError> {
        let io_err = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io_err)?;
            }
            // Created here, not by SQLite, so that it is private from the first byte;
            // SQLite gives its -wal and -shm files the same mode.
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| classify(path, e, opts.busy_timeout))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            busy_timeout: opts.busy_timeout,
            wal_pending: false,
            migrated: Vec::new(),
        };
        store
            .configure()
            .map_err(|e| classify(path, e, opts.busy_timeout))?;
        let version = store.version_or_refuse()?;
        if version < opts.target_version {
            store.migrated = store.migrate_to(opts.target_version)?;
        }
        Ok(store)
    }

    fn configure(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(self.busy_timeout)?;
        // The first statement is where a file that is not a database says so.
        self.conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        // One plan per statement, whatever its bound values: without this SQLite prepares
        // a statement again whenever a parameter it compared with a partial index's
        // condition changes (every refreshed session and day did: a tenth of a growth
        // ingest's instructions). No statement here binds a value that would pick an index.
        self.conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        // An ingest uses about 40 distinct cached statements; the default 16 evicted
        // and prepared them again for every session and day refreshed.
        self.conn.set_prepared_statement_cache_capacity(64);
        if !self.conn.is_readonly(rusqlite::MAIN_DB)? {
            // Set before the first write fixes it: 16 KiB pages make the fact table's
            // b-trees shallower and a first ingest's commit a quarter as many WAL frames.
            let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            if pages == 0 {
                self.conn.pragma_update(None, "page_size", 16384)?;
                // A new store's first ingest writes every page of the fact table. In
                // rollback-journal mode it writes each once, into the store (the journal
                // has nothing to keep of pages that did not exist); in WAL mode it writes
                // each into the WAL and again into the store at the checkpoint, with two
                // more fsyncs. So a new store switches to WAL only once that ingest has
                // committed (synchronous stays FULL, SQLite's default, until then).
                self.wal_pending = true;
                return Ok(());
            }
            self.switch_to_wal()?;
        }
        Ok(())
    }

    fn switch_to_wal(&self) -> rusqlite::Result<()> {
        let mode: String = self.waiting_out_busy(|conn| {
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        })?;
        debug_assert!(mode.eq_ignore_ascii_case("wal"));
        self.conn.pragma_update(None, "synchronous", "NORMAL")
    }

    /// Puts a store created by this open in WAL mode, where readers never wait for the
    /// writer: ingest calls it once its first transaction has committed. Any later open
    /// of the store does it too, so a process that stops before then, or finds another
    /// process holding a lock for longer than its busy timeout (what it wrote is
    /// committed either way), leaves nothing undone.
    pub fn use_wal(&mut self) -> Result<(), StoreError> {
        if !self.wal_pending {
            return Ok(());
        }
        match self.switch_to_wal() {
            Ok(()) => {
                self.wal_pending = false;
                Ok(())
            }
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(self.reclassify(e.into())),
        }
    }

    /// Runs `op` again while SQLite answers "busy" without waiting, up to the busy
    /// timeout. Switching a new store to WAL writes its header: when processes create
    /// the store at the same moment, each holds a read lock the other's write needs, so
    /// SQLite refuses one at once instead of calling the busy handler.
    fn waiting_out_busy<T>(
        &self,
        op: impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match op(&self.conn) {
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && started.elapsed() + pause < self.busy_timeout =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                done => return done,
            }
        }
    }

    fn version_or_refuse(&self) -> Result<u32, StoreError> {
        match migrate::current_version(&self.conn).map_err(|e| self.reclassify(e))? {
            None => Err(StoreError::NotCtmStore {
                path: self.path.clone(),
            }),
            Some(v) if v > migrate::LATEST => Err(StoreError::TooNew {
                path: self.path.clone(),
                found: v,
                supported: migrate::LATEST,
            }),
            Some(v) => Ok(v),
        }
    }

    fn migrate_to(&mut self, target: u32) -> Result<Vec<u32>, StoreError> {
        if target > migrate::LATEST {
            return Err(StoreError::Invalid(format!(
                "schema version {target} does not exist; the latest is {}",
                migrate::LATEST
            )));
        }
        let tx = self.write()?;
        // Another process may have migrated while this one waited for the lock.
        let from = migrate::current_version(&tx)?.unwrap_or(0);
        if from >= target {
            return Ok(Vec::new());
        }
        let applied = migrate::migrate(&tx, from, target)?;
        tx.commit()?;
        Ok(applied)
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(migrate::current_version(&self.conn)?.unwrap_or(0))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for reads.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Starts the one write transaction allowed at a time, waiting up to the busy timeout.
    pub fn write(&mut self) -> Result<Transaction<'_>, StoreError> {
        let path = self.path.clone();
        let waited = self.busy_timeout;
        // A failed try_write may have left its short timeout on the connection.
        self.conn.busy_timeout(waited)?;
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(&path, e, waited))
    }

    /// Like [`Store::write`], but gives up after `wait` (the statusline must not queue).
    pub fn try_write(&mut self, wait: Duration) -> Result<Transaction<'_>, StoreError> {
        let path = self.path.clone();
        let normal = self.busy_timeout;
        self.conn.busy_timeout(wait)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(&path, e, wait))?;
        tx.busy_timeout(normal)?;
        Ok(tx)
    }

    fn reclassify(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Sqlite(e) => classify(&self.path, e, self.busy_timeout),
            other => other,
        }
    }
}

fn classify(path: &Path, e: rusqlite::Error, waited: Duration) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotADatabase {
            path: path.to_path_buf(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            path: path.to_path_buf(),
            waited_ms: waited.as_millis() as u64,
        },
        _ => StoreError::Sqlite(e),
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A process that opens a store another one is creating (and holds the write lock
    /// of) waits for it, instead of SQLite refusing the switch to WAL at once.
    #[test]
    fn opening_a_store_another_process_is_writing_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctm.db");
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let releases = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        let opts = OpenOptions {
            busy_timeout: Duration::from_secs(20),
            ..OpenOptions::default()
        };
        let store = Store::open(&path, &opts);
        releases.join().unwrap();
        assert_eq!(store.unwrap().schema_version().unwrap(), SCHEMA_VERSION);
    }

    fn journal_mode(conn: &Connection) -> String {
        conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    }

    /// A new store is written in rollback-journal mode until its first ingest commits;
    /// then, and at any later open, it is in WAL mode.
    #[test]
    fn a_new_store_uses_wal_once_told_or_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctm.db");
        let briefly = OpenOptions {
            busy_timeout: Duration::from_millis(200),
            ..OpenOptions::default()
        };
        let mut store = Store::open(&path, &briefly).unwrap();
        assert_eq!(journal_mode(store.conn()), "delete");
        // Another connection reading: the switch waits for it, then gives up for now.
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        reader
            .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .unwrap();
        store.use_wal().unwrap();
        assert_eq!(journal_mode(store.conn()), "delete");
        reader.execute_batch("COMMIT").unwrap();
        store.use_wal().unwrap();
        assert_eq!(journal_mode(store.conn()), "wal");
        store.use_wal().unwrap();
        drop(store);

        let other = dir.path().join("other.db");
        drop(Store::open(&other, &OpenOptions::default()).unwrap());
        let reopened = Store::open(&other, &OpenOptions::default()).unwrap();
        assert_eq!(journal_mode(reopened.conn()), "wal");
        let synchronous: i64 = reopened
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(synchronous, 1, "NORMAL");
    }

    #[test]
    fn a_new_store_is_private_and_at_the_latest_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ctm.db");
        let store = Store::open(&path, &OpenOptions::default()).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let known: Vec<u32> = migrate::known().iter().map(|(v, _)| *v).collect();
        assert_eq!(store.migrated, known);
        drop(store);
        let again = Store::open(&path, &OpenOptions::default()).unwrap();
        assert!(again.migrated.is_empty());
    }

    #[test]
    fn garbage_and_foreign_databases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        fs::write(&garbage, vec![b'x'; 8192]).unwrap();
        let err = Store::open(&garbage, &OpenOptions::default())
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");

        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = Store::open(&foreign, &OpenOptions::default())
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::NotCtmStore { .. }), "{err}");
    }

    #[test]
    fn a_newer_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctm.db");
        drop(Store::open(&path, &OpenOptions::default()).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE system_config SET value = '999' WHERE key = 'schema_version'",
                [],
            )
            .unwrap();
        let err = Store::open(&path, &OpenOptions::default()).err().unwrap();
        assert!(
            matches!(err, StoreError::TooNew { found: 999, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade ctm"));
    }

    #[test]
    fn a_pre_ctm_claude_sessions_store_is_upgraded_without_losing_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE claude_sessions (id INTEGER PRIMARY KEY, session_id TEXT, session_start TIMESTAMP, \
                 input_tokens INTEGER, output_tokens INTEGER);
                 INSERT INTO claude_sessions (session_id, session_start, input_tokens, output_tokens)
                 VALUES ('legacy-1', '2025-06-01 10:00:00', 123, 456);",
            )
            .unwrap();
        let store = Store::open(&path, &OpenOptions::default()).unwrap();
        let row: (String, i64, i64, String) = store
            .conn()
            .query_row(
                "SELECT session_start, input_tokens, output_tokens, model_name FROM claude_sessions WHERE session_id = 'legacy-1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            row,
            (
                "2025-06-01 10:00:00".into(),
                123,
                456,
                "claude-sonnet-4-20250514".into()
            )
        );
        assert!(derive::check(store.conn()).unwrap().is_empty());
    }
}
