//! The walk's folder memo (`walk_folders`): what each folder under the data roots held
//! when it was last listed. The walk decides what may be reused; this module only
//! keeps the rows, written in the ingest's transaction and only when it writes anyway,
//! so a run where nothing changed stays a reader.

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

    #[test]
    fn within_is_by_whole_components() {
        assert!(is_within("/r/projects", "/r/projects"));
        assert!(is_within("/r/projects/a/b", "/r/projects"));
        assert!(!is_within("/r/projects-other", "/r/projects"));
        assert!(!is_within("/other/projects", "/r/projects"));
    }
}
