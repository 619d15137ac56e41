//! What the walk remembers between runs, written in the ingest's transaction and only
//! when it writes anyway, so a run where nothing changed stays a reader:
//! - the folder memo (`walk_folders`): what each folder under the data roots held when
//!   it was last listed. The walk decides what may be reused; this module keeps rows.
//! - the stat list (`walk_stat_list`): what the last complete walk met, with its stats
//!   (ctm-source encodes and checks it). Writing cursors drops it (see
//!   [`crate::cursors::CursorWriter`]), so a list in the store always speaks for the
//!   cursors beside it.

use std::ops::ControlFlow;

use rusqlite::{params, Connection};

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderRow {
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub listed_at_ns: i64,
    pub entries: Vec<u8>,
}

pub fn load_all(conn: &Connection) -> Result<Vec<FolderRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT path, dev, ino, mtime_ns, listed_at_ns, entries FROM walk_folders",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(FolderRow {
            path: r.get(0)?,
            // Stored as the i64 with the same bits: SQLite integers are signed.
            dev: r.get::<_, i64>(1)? as u64,
            ino: r.get::<_, i64>(2)? as u64,
            mtime_ns: r.get(3)?,
            listed_at_ns: r.get(4)?,
            entries: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Forgets the folders at `forget`, then saves `listed` (the folders this walk listed
/// from disk; the ones it reused are already stored as they are).
pub fn save_changes(
    conn: &Connection,
    listed: &[FolderRow],
    forget: &[&str],
) -> Result<(), StoreError> {
    let mut delete = conn.prepare_cached("DELETE FROM walk_folders WHERE path = ?1")?;
    for path in forget {
        delete.execute([path])?;
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO walk_folders (path, dev, ino, mtime_ns, listed_at_ns, entries) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(path) DO UPDATE SET dev = excluded.dev, \
         ino = excluded.ino, mtime_ns = excluded.mtime_ns, listed_at_ns = excluded.listed_at_ns, \
         entries = excluded.entries",
    )?;
    for row in listed {
        upsert.execute(params![
            row.path,
            row.dev as i64,
            row.ino as i64,
            row.mtime_ns,
            row.listed_at_ns,
            row.entries
        ])?;
    }
    Ok(())
}

/// Visits the stored stat list's parts in order (the header first) until `visit`
/// breaks; none when no list is stored.
pub fn visit_stat_list(
    conn: &Connection,
    mut visit: impl FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("SELECT bytes FROM walk_stat_list ORDER BY part")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let part = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        if visit(part).is_break() {
            break;
        }
    }
    Ok(())
}

/// Keeps `parts` as the stat list, or none. Called after the run's cursors are written:
/// making their writer drops the list.
pub fn save_stat_list(conn: &Connection, parts: Option<&[Vec<u8>]>) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM walk_stat_list")?
        .execute([])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO walk_stat_list (part, bytes) VALUES (?1, ?2)")?;
    for (i, part) in parts.unwrap_or_default().iter().enumerate() {
        insert.execute(params![i as i64, part])?;
    }
    Ok(())
}

/// Whether `path` is `scope` or below it, by whole path components.
pub fn is_within(path: &str, scope: &str) -> bool {
    path.strip_prefix(scope)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};

    fn row(path: &str, mtime_ns: i64) -> FolderRow {
        FolderRow {
            path: path.into(),
            dev: u64::MAX,
            ino: 7,
            mtime_ns,
            listed_at_ns: mtime_ns + 10,
            entries: b"fa.jsonl\0".to_vec(),
        }
    }

    #[test]
    fn forgets_then_saves_and_u64_ids_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db"), &OpenOptions::default()).unwrap();
        let tx = store.write().unwrap();
        save_changes(
            &tx,
            &[row("/r/projects/a", 1), row("/r/projects/b", 1)],
            &[],
        )
        .unwrap();
        tx.commit().unwrap();
        assert!(load_all(store.conn())
            .unwrap()
            .contains(&row("/r/projects/a", 1)));

        // `b` is gone; `a` was listed again (and is also in `forget`: saved after).
        let tx = store.write().unwrap();
        save_changes(
            &tx,
            &[row("/r/projects/a", 2)],
            &["/r/projects/b", "/r/projects/a"],
        )
        .unwrap();
        tx.commit().unwrap();
        assert_eq!(
            load_all(store.conn()).unwrap(),
            vec![row("/r/projects/a", 2)]
        );
    }

    fn stored_list(conn: &Connection) -> Vec<Vec<u8>> {
        let mut parts = Vec::new();
        visit_stat_list(conn, |p| {
            parts.push(p.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
        parts
    }

    #[test]
    fn writing_cursors_drops_the_stat_list() {
        use crate::cursors::{self, Cursor, CursorWriter};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db"), &OpenOptions::default()).unwrap();
        let cursor = Cursor {
            path: "/r/projects/a/t.jsonl".into(),
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            offset: 3,
            head_len: 3,
            head_hash: 5,
            lines: 1,
            missing_since: None,
        };
        let list = vec![b"header".to_vec(), b"one".to_vec(), b"two".to_vec()];
        let tx = store.write().unwrap();
        save_stat_list(&tx, Some(&list)).unwrap();
        assert_eq!(stored_list(&tx), list);
        let writer = CursorWriter::new(&tx).unwrap();
        assert!(
            stored_list(&tx).is_empty(),
            "dropped before any cursor is written"
        );
        writer.save(&cursor, 1).unwrap();
        writer.mark_missing(&cursor.path, 2).unwrap();
        // The ingest records its list after its cursor writes.
        save_stat_list(&tx, Some(&list)).unwrap();
        tx.commit().unwrap();
        let stored = cursors::load_all(store.conn()).unwrap();
        assert_eq!(stored[&cursor.path].missing_since, Some(2));
        assert_eq!(stored_list(store.conn()), list);

        // A shorter list replaces a longer one whole; none leaves none.
        let tx = store.write().unwrap();
        save_stat_list(&tx, Some(&list[..1])).unwrap();
        assert_eq!(stored_list(&tx), list[..1]);
        save_stat_list(&tx, None).unwrap();
        assert!(stored_list(&tx).is_empty());
    }

    #[test]
    fn within_is_by_whole_components() {
        assert!(is_within("/r/projects", "/r/projects"));
        assert!(is_within("/r/projects/a/b", "/r/projects"));
        assert!(!is_within("/r/projects-other", "/r/projects"));
        assert!(!is_within("/other/projects", "/r/projects"));
    }
}
