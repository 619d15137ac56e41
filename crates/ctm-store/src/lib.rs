//! The store: one SQLite file that keeps every API response for good.
//!
//! - [`migrate`]: numbered migrations (seed 000 and seed 004 schemas), run on open.
//! - [`facts`]: the fact table and the exactly-once upsert; [`dims`]: the texts it
//!   references by id; [`fact_reader`]: billed facts read back for the aggregates.
//! - [`derive`]: the rollup and the seed tables derived from it, one module per table,
//!   refreshed, rebuilt, checked; [`horizon`]: what a prune of facts keeps as history.
//! - [`reads`]: the typed reads reports are made of.
//! - [`cursors`]: how far each transcript was read.
//! - [`config`]: the `system_config` table.
//! - [`rate_limits`]: Claude Code's official 5-hour and 7-day usage, as its statusline saw it.
//! - [`price_table`]: the price table `ctm pricing update` chose.
//! - [`claude_costs`]: Claude Code's own cost of each session (cost-state, statusline).
//! - [`team_push`]: the facts a push to a team database sends, and where it got to.
//!
//! Concurrency: WAL journal, a busy timeout, and one writer at a time (`BEGIN
//! IMMEDIATE`). Readers never block and see the last committed state.

pub mod backup;
pub mod claude_costs;
pub mod config;
pub mod cursors;
pub mod derive;
pub mod dims;
pub mod exports;
pub mod fact_reader;
pub mod facts;
pub mod folders;
pub mod horizon;
pub mod migrate;
mod migrate_v13;
pub mod ownership;
pub mod price_table;
pub mod rate_limits;
pub mod reads;
pub mod retention;
pub mod settings;
pub mod snapshots;
pub mod team_push;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{ErrorCode, OpenFlags, TransactionBehavior};

pub use migrate::LATEST as SCHEMA_VERSION;
/// The store's connection and write transaction, for the writers upstream (ingest).
pub use rusqlite::{Connection, Transaction};

/// Every way opening or using the store can fail, each with a one-line message that
/// names the file and says what to do. A raw SQLite failure becomes one of these with
/// [`StoreError::at`] (the store's own calls do it themselves).
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
    #[error("{path} has schema version {found}, older than this ctm's {latest}, and --no-ingest reads it as it is; run any command without --no-ingest once to upgrade it")]
    TooOldToRead {
        path: PathBuf,
        found: u32,
        latest: u32,
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
    #[error("no store at {path} yet, and --no-ingest does not create one; run a report without --no-ingest (or `ctm ingest`) first")]
    NoStore { path: PathBuf },
    #[error(
        "{path} is a folder, not a store; point --db (or CTM_DB) at a file, such as {path}/ctm.db"
    )]
    IsAFolder { path: PathBuf },
    #[error(
        "the disk holding {path} is full; free some space and run again (nothing was written)"
    )]
    DiskFull { path: PathBuf },
    #[error("{path} cannot be written: {why}; or pass --no-ingest to answer from it as it is")]
    ReadOnly { path: PathBuf, why: String },
    #[error("{path} is damaged ({detail}); restore a backup with `ctm db restore FILE`, or move it away and run again to build a new store from the transcripts Claude Code still keeps")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot open {path}: {why}")]
    CannotOpen { path: PathBuf, why: String },
    /// A store someone else could have written or can read (see [`ownership`]).
    #[error("{0}")]
    Unsafe(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot use the store at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A failure with the store's file known but no better explanation.
    #[error("the store at {path} failed: {message}")]
    Other { path: PathBuf, message: String },
    /// A raw SQLite failure, before [`StoreError::at`] names the file and what to do.
    /// Not a `source`: its own source repeats its text with an error code.
    #[error("store error: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl StoreError {
    /// This error as it concerns the store at `path`: a raw SQLite failure becomes the
    /// one line that says what it means there and what to do (`waited`: the busy
    /// timeout the failed call had). Other errors are returned as they are.
    pub fn at(self, path: &Path, waited: Duration) -> StoreError {
        match self {
            StoreError::Sqlite(e) => StoreError::from_sqlite(path, &e, waited),
            other => other,
        }
    }

    /// A raw SQLite failure on the store at `path` as what it means there and what to do
    /// (`waited`: the busy timeout the failed call had).
    pub fn from_sqlite(path: &Path, e: &rusqlite::Error, waited: Duration) -> StoreError {
        classify(path, e, waited)
    }

    /// The raw SQLite failure inside, if this is one.
    pub fn sqlite(&self) -> Option<&rusqlite::Error> {
        match self {
            StoreError::Sqlite(e) => Some(e),
            _ => None,
        }
    }
}

/// Who may own the store, and who else may touch it (see [`ownership`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OwnerRule {
    /// The default location: the current user's, readable and writable by no one else.
    Private,
    /// A file the user named (`--db`, `CTM_DB`): anyone's, but writable by no one but
    /// its owner.
    #[default]
    Named,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long to wait for another writer before giving up.
    pub busy_timeout: Duration,
    /// Migrate up to this version: the latest by default, a lower one for
    /// `ctm db migrate --to N`, 0 to inspect a store without migrating it.
    pub target_version: u32,
    /// Read only (`--no-ingest` reports): never create, migrate or write the store, so
    /// that a store on a read-only disk, in a folder where SQLite cannot create its side
    /// files, or that belongs to a read-only user, still answers.
    pub read_only: bool,
    /// The ownership rule the file must meet.
    pub owner: OwnerRule,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            busy_timeout: Duration::from_secs(30),
            target_version: migrate::LATEST,
            read_only: false,
            owner: OwnerRule::default(),
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
    conn.pragma_update(None, "cache_size", -8192)?;
    Ok(())
}

/// Syncs to disk, on threads of its own, the pages SQLite has already written into a new
/// store's file while the writer goes on. A first ingest writes its pages into the file
/// itself (rollback-journal mode), tens of MB that the commit's sync would otherwise
/// write while nothing else runs. Only what SQLite wrote is synced, and SQLite writes
/// into the file only after its journal is synced, so a crash at any instant still rolls
/// back; an I/O error is also seen by the commit's own sync.
///
/// It syncs through SQLite's own descriptor: opening and closing another descriptor of
/// the file would drop every POSIX lock the process holds on it, SQLite's included. It
/// borrows the write transaction, so the descriptor stays open while it lives, and the
/// syncs end (dropping it waits for them) before the transaction can commit.
pub struct FlushBehind<'t> {
    fd: std::os::fd::RawFd,
    flushes: Vec<std::thread::JoinHandle<()>>,
    _tx: std::marker::PhantomData<&'t Transaction<'t>>,
}

/// A [`FlushBehind`] for a write transaction whose store writes its pages into its file
/// (a new store before its first commit); `None` in WAL mode, where writes go to the WAL.
pub fn flush_behind<'t>(tx: &'t Transaction<'t>) -> Option<FlushBehind<'t>> {
    let mode: String = tx
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .ok()?;
    if mode.eq_ignore_ascii_case("wal") {
        return None;
    }
    Some(FlushBehind {
        fd: main_file_descriptor(tx, Path::new(tx.path()?))?,
        flushes: Vec::new(),
        _tx: std::marker::PhantomData,
    })
}

impl FlushBehind<'_> {
    /// Starts syncing what is written so far.
    pub fn start(&mut self) {
        let fd = self.fd;
        // Without a thread (none can be made) the commit's own sync does it all.
        let flush = std::thread::Builder::new().spawn(move || {
            // SAFETY: `fd` is open while the transaction this value borrows lives, and
            // dropping this value joins the thread.
            unsafe { libc::fdatasync(fd) };
        });
        self.flushes.extend(flush.ok());
    }
}

impl Drop for FlushBehind<'_> {
    fn drop(&mut self) {
        for f in self.flushes.drain(..) {
            let _ = f.join();
        }
    }
}

/// The descriptor SQLite's unix VFS has the main database file open with, when the
/// connection uses that VFS and the descriptor is `path`'s file.
fn main_file_descriptor(conn: &Connection, path: &Path) -> Option<std::os::fd::RawFd> {
    use rusqlite::ffi;
    use std::os::unix::fs::MetadataExt;
    /// The head of the unix VFS's `unixFile` (sqlite3.c), which every file it opens is.
    #[repr(C)]
    struct UnixFileHead {
        methods: *const ffi::sqlite3_io_methods,
        vfs: *const ffi::sqlite3_vfs,
        inode: *const std::ffi::c_void,
        h: std::ffi::c_int,
    }
    let mut vfs: *mut ffi::sqlite3_vfs = std::ptr::null_mut();
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: both calls write one pointer into the given place; the VFS's name is a
    // NUL-terminated string it owns, and a file of the "unix" VFS is a `unixFile`.
    let fd = unsafe {
        let db = conn.handle();
        let main = c"main".as_ptr();
        if ffi::sqlite3_file_control(
            db,
            main,
            ffi::SQLITE_FCNTL_VFS_POINTER,
            (&raw mut vfs).cast(),
        ) != ffi::SQLITE_OK
            || vfs.is_null()
            || std::ffi::CStr::from_ptr((*vfs).zName).to_bytes() != b"unix"
        {
            return None;
        }
        if ffi::sqlite3_file_control(
            db,
            main,
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast(),
        ) != ffi::SQLITE_OK
            || file.is_null()
            || (*file).pMethods.is_null()
        {
            return None;
        }
        (*file.cast::<UnixFileHead>()).h
    };
    let on_disk = std::fs::metadata(path).ok()?;
    // SAFETY: fstat writes into the zeroed struct it is given.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    (st.st_dev == on_disk.dev() && st.st_ino == on_disk.ino()).then_some(fd)
}

impl Store {
    /// Opens (creating it with mode 0600 when missing) and migrates the store; with
    /// `read_only`, opens an existing store as it is.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Store, StoreError> {
        let io_err = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(StoreError::IsAFolder {
                    path: path.to_path_buf(),
                })
            }
            Ok(_) => ownership::check(path, opts.owner)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound && opts.read_only => {
                return Err(StoreError::NoStore {
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
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
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        ownership::check(path, opts.owner)?
                    }
                    Err(e) => return Err(io_err(e)),
                }
            }
            Err(e) => return Err(io_err(e)),
        }
        // What a `ctm db restore` killed mid-way left beside the store (not the store).
        backup::remove_stale_temps(path, "restore");
        let mut store = if opts.read_only {
            Store::connect_read_only(path, opts)?
        } else {
            Store::connect(path, opts, OpenFlags::SQLITE_OPEN_READ_WRITE)
                .map_err(|e| classify(path, &e, opts.busy_timeout))?
        };
        let version = store.version_or_refuse()?;
        if opts.read_only {
            if version < migrate::LATEST && opts.target_version > 0 {
                return Err(StoreError::TooOldToRead {
                    path: path.to_path_buf(),
                    found: version,
                    latest: migrate::LATEST,
                });
            }
        } else if version < opts.target_version {
            store.migrated = store.migrate_to(opts.target_version)?;
        }
        Ok(store)
    }

    fn connect(path: &Path, opts: &OpenOptions, access: OpenFlags) -> rusqlite::Result<Store> {
        let conn = Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            busy_timeout: opts.busy_timeout,
            wal_pending: false,
            migrated: Vec::new(),
        };
        store.configure()?;
        Ok(store)
    }

    /// A read-only connection. In WAL mode SQLite keeps a `-shm` file beside the store
    /// even to read; where it cannot create one (an immutable or read-only folder) the
    /// store is opened as immutable instead: nothing can be writing it then, since no
    /// writer could have created its side files either.
    fn connect_read_only(path: &Path, opts: &OpenOptions) -> Result<Store, StoreError> {
        match Store::connect(path, opts, OpenFlags::SQLITE_OPEN_READ_ONLY) {
            Ok(store) => Ok(store),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::CannotOpen) => {
                let uri = immutable_uri(path);
                Store::connect(
                    Path::new(&uri),
                    opts,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
                )
                .map(|mut s| {
                    s.path = path.to_path_buf();
                    s
                })
                .map_err(|e| classify(path, &e, opts.busy_timeout))
            }
            Err(e) => Err(classify(path, &e, opts.busy_timeout)),
        }
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
        if !migrate::is_known(target) {
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
            .map_err(|e| classify(&path, &e, waited))
    }

    /// Like [`Store::write`], but gives up after `wait` (the statusline must not queue).
    pub fn try_write(&mut self, wait: Duration) -> Result<Transaction<'_>, StoreError> {
        let path = self.path.clone();
        let normal = self.busy_timeout;
        self.conn.busy_timeout(wait)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(&path, &e, wait))?;
        tx.busy_timeout(normal)?;
        Ok(tx)
    }

    fn reclassify(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Sqlite(e) => classify(&self.path, &e, self.busy_timeout),
            other => other,
        }
    }
}

/// A raw SQLite failure on the store at `path` as what it means there and what to do.
fn classify(path: &Path, e: &rusqlite::Error, waited: Duration) -> StoreError {
    let path_buf = path.to_path_buf();
    let extended = match e {
        rusqlite::Error::SqliteFailure(f, _) => f.extended_code,
        _ => 0,
    };
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path: path_buf },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            path: path_buf,
            waited_ms: waited.as_millis() as u64,
        },
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path: path_buf },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Damaged {
            path: path_buf,
            detail: "SQLite finds it malformed".into(),
        },
        Some(ErrorCode::SystemIoFailure) if extended == rusqlite::ffi::SQLITE_IOERR_SHORT_READ => {
            StoreError::Damaged {
                path: path_buf,
                detail: "it is shorter than its own header says: truncated".into(),
            }
        }
        Some(ErrorCode::SystemIoFailure) => StoreError::Other {
            message: format!(
                "reading or writing it failed ({e}); check the disk and its free space, then run again"
            ),
            path: path_buf,
        },
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly {
            why: read_only_reason(path, extended),
            path: path_buf,
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => cannot_open(path),
        _ => StoreError::Other {
            path: path_buf,
            message: e.to_string(),
        },
    }
}

/// Why SQLite could not write the store (`extended`: its extended result code).
fn read_only_reason(path: &Path, extended: i32) -> String {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if extended == rusqlite::ffi::SQLITE_READONLY_DIRECTORY
        || extended == rusqlite::ffi::SQLITE_READONLY_CANTINIT
        || !writable(folder)
    {
        format!(
            "its folder {} does not let ctm create the files SQLite keeps beside the store; make the folder writable",
            folder.display()
        )
    } else {
        format!(
            "the file or its disk is read-only; make it writable (`chmod u+w {}`, or remount the disk read-write)",
            path.display()
        )
    }
}

/// Why SQLite could not open the store, in the file system's words.
fn cannot_open(path: &Path) -> StoreError {
    let path_buf = path.to_path_buf();
    if path.is_dir() {
        return StoreError::IsAFolder { path: path_buf };
    }
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if path.is_file() && !writable(folder) {
        // The store itself opens; the -wal and -shm files SQLite needs beside it cannot
        // be created.
        return StoreError::ReadOnly {
            why: read_only_reason(path, 0),
            path: path_buf,
        };
    }
    let why = match fs::OpenOptions::new().read(true).open(path) {
        Err(e) => e.to_string(),
        Ok(_) => "SQLite cannot open it or the files it keeps beside it".into(),
    };
    StoreError::CannotOpen {
        path: path_buf,
        why,
    }
}

/// Whether this process may create files in `folder` (permissions, a read-only disk,
/// the immutable attribute).
fn writable(folder: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(folder.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// `file:PATH?immutable=1`, every byte of the path that could mean something in a URI
/// escaped.
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// A stored time read back ([`ctm_model::utc::parse`]), or an error naming where it was.
pub(crate) fn parse_stored_time(what: &str, s: &str) -> Result<i64, StoreError> {
    ctm_model::utc::parse(s).ok_or_else(|| {
        StoreError::Invalid(format!(
            "{what} {s:?} is not a time ctm writes; `ctm db check` lists what differs"
        ))
    })
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

    /// A new store syncs behind its first ingest through SQLite's own descriptor of the
    /// file, and keeps its locks: another connection still cannot write meanwhile.
    /// In WAL mode there is nothing to sync behind.
    #[test]
    fn a_new_store_syncs_behind_through_sqlites_own_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctm.db");
        let mut store = Store::open(&path, &OpenOptions::default()).unwrap();
        {
            let tx = store.write().unwrap();
            let mut flush = flush_behind(&tx).expect("a new store writes in place");
            tx.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
                .unwrap();
            flush.start();
            flush.start();
            drop(flush);
            let other = Connection::open(&path).unwrap();
            other.busy_timeout(Duration::ZERO).unwrap();
            let refused = other.execute_batch("BEGIN IMMEDIATE").unwrap_err();
            assert_eq!(
                refused.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy),
                "{refused}"
            );
            tx.commit().unwrap();
        }
        store.use_wal().unwrap();
        let tx = store.write().unwrap();
        assert!(flush_behind(&tx).is_none());
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
        let every: Vec<u32> = migrate::known().into_iter().map(|(v, _)| v).collect();
        assert_eq!(store.migrated, every);
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
