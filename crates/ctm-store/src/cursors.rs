//! File cursors: where each transcript was read up to, and what it looked like then.

use std::ops::ControlFlow;

use rusqlite::{params, Connection};

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The path's bytes, as the file system has them (a name need not be UTF-8).
    pub path: Vec<u8>,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    /// Just after the last complete line read.
    pub offset: u64,
    pub head_len: u64,
    pub head_hash: u64,
    /// The fingerprint of the bytes just before `offset` (length 0: not taken yet).
    pub tail_len: u64,
    pub tail_hash: u64,
    /// `offset` is inside a line too long to read, skipped up to its newline.
    pub in_long_line: bool,
    pub lines: u64,
    pub missing_since: Option<i64>,
}

/// Cursors by path bytes.
pub type Cursors = foldhash::HashMap<Vec<u8>, Cursor>;

const CURSOR_COLUMNS: &str = "path, dev, ino, size, mtime_ns, offset, head_len, head_hash, \
    tail_len, tail_hash, in_long_line, lines, missing_since";

/// Every cursor, by path.
pub fn load_all(conn: &Connection) -> Result<Cursors, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {CURSOR_COLUMNS} FROM file_cursors"))?;
    let rows = stmt.query_map([], cursor_from_row)?;
    // Collected first so that the map is built at its final size, never rehashed.
    let list = rows.collect::<Result<Vec<_>, _>>()?;
    let mut map = Cursors::with_capacity_and_hasher(list.len(), Default::default());
    map.extend(list.into_iter().map(|c| (c.path.clone(), c)));
    Ok(map)
}

/// The cursors of these paths (those that have one), by path.
pub fn load_paths<P: AsRef<[u8]>>(
    conn: &Connection,
    paths: impl IntoIterator<Item = P>,
) -> Result<Cursors, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CURSOR_COLUMNS} FROM file_cursors WHERE path = ?1"
    ))?;
    let mut map = Cursors::default();
    for path in paths {
        let mut rows = stmt.query([path.as_ref()])?;
        if let Some(r) = rows.next()? {
            let c = cursor_from_row(r)?;
            map.insert(c.path.clone(), c);
        }
    }
    Ok(map)
}

fn cursor_from_row(r: &rusqlite::Row) -> rusqlite::Result<Cursor> {
    Ok(Cursor {
        path: path_bytes(r, 0)?.to_vec(),
        dev: r.get::<_, i64>(1)? as u64,
        ino: r.get::<_, i64>(2)? as u64,
        size: r.get::<_, i64>(3)? as u64,
        mtime_ns: r.get(4)?,
        offset: r.get::<_, i64>(5)? as u64,
        head_len: r.get::<_, i64>(6)? as u64,
        // Stored as the i64 with the same bits: SQLite integers are signed.
        head_hash: r.get::<_, i64>(7)? as u64,
        tail_len: r.get::<_, i64>(8)? as u64,
        tail_hash: r.get::<_, i64>(9)? as u64,
        in_long_line: r.get(10)?,
        lines: r.get::<_, i64>(11)? as u64,
        missing_since: r.get(12)?,
    })
}

/// A stored path's bytes, borrowed from the row (a BLOB since schema version 13).
fn path_bytes<'r>(r: &'r rusqlite::Row, i: usize) -> rusqlite::Result<&'r [u8]> {
    r.get_ref(i)?.as_bytes().map_err(rusqlite::Error::from)
}

/// What a cursor says of its file's stat, borrowed from the row being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorStat<'r> {
    pub path: &'r [u8],
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub missing: bool,
}

/// Visits every cursor's stat until `visit` breaks, without building a map or copying
/// a path: a run where nothing changed compares its walk with the cursors this way,
/// and at tens of thousands of transcripts the map was a third of its time.
pub fn visit_stats(
    conn: &Connection,
    mut visit: impl FnMut(CursorStat<'_>) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT path, dev, ino, size, mtime_ns, missing_since IS NOT NULL FROM file_cursors",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let stat = CursorStat {
            path: path_bytes(r, 0)?,
            dev: r.get::<_, i64>(1)? as u64,
            ino: r.get::<_, i64>(2)? as u64,
            size: r.get::<_, i64>(3)? as u64,
            mtime_ns: r.get(4)?,
            missing: r.get(5)?,
        };
        if visit(stat).is_break() {
            break;
        }
    }
    Ok(())
}

/// The one way to write cursors. Making one drops the walk's stat list's header (see
/// [`crate::folders`]): a list speaks only for the cursors it was recorded with, and
/// the ingest records the next one after its cursor writes, in the same transaction.
pub struct CursorWriter<'c> {
    conn: &'c Connection,
}

impl<'c> CursorWriter<'c> {
    pub fn new(conn: &'c Connection) -> Result<Self, StoreError> {
        crate::folders::drop_stat_list_header(conn)?;
        Ok(CursorWriter { conn })
    }

    pub fn save(&self, c: &Cursor, now_ms: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO file_cursors (path, dev, ino, size, mtime_ns, offset, head_len, head_hash, tail_len, \
                 tail_hash, in_long_line, lines, first_seen, last_read, missing_since) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, NULL) \
                 ON CONFLICT(path) DO UPDATE SET dev = excluded.dev, ino = excluded.ino, size = excluded.size, \
                 mtime_ns = excluded.mtime_ns, offset = excluded.offset, head_len = excluded.head_len, \
                 head_hash = excluded.head_hash, tail_len = excluded.tail_len, tail_hash = excluded.tail_hash, \
                 in_long_line = excluded.in_long_line, lines = excluded.lines, last_read = excluded.last_read, \
                 missing_since = NULL",
            )?
            .execute(params![
                c.path,
                c.dev as i64,
                c.ino as i64,
                c.size as i64,
                c.mtime_ns,
                c.offset as i64,
                c.head_len as i64,
                c.head_hash as i64,
                c.tail_len as i64,
                c.tail_hash as i64,
                c.in_long_line,
                c.lines as i64,
                now_ms
            ])?;
        Ok(())
    }

    /// Notes that a transcript vanished. Its cursor and facts stay: history is kept.
    pub fn mark_missing(&self, path: &[u8], now_ms: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE file_cursors SET missing_since = ?2 WHERE path = ?1 AND missing_since IS NULL",
            )?
            .execute(params![path, now_ms])?;
        Ok(())
    }
}
