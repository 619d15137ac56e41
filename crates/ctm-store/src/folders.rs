//! The walk's folder memo (`walk_folders`): what each folder under the data roots held
//! when it was last listed. The walk decides what may be reused; this module only
//! keeps the rows, written in the ingest's transaction and only when it writes anyway,
//! so a run where nothing changed stays a reader.

use std::collections::HashSet;

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

/// Saves the rows of this walk that differ from `known` (what was loaded before it),
/// and forgets known folders under `scopes` (the roots' `projects/` folders, as
/// strings) that the walk did not reach.
pub fn save_changes(
    conn: &Connection,
    walked: &[FolderRow],
    known: &[FolderRow],
    scopes: &[String],
) -> Result<(), StoreError> {
    let known_rows: HashSet<&FolderRow> = known.iter().collect();
    let mut upsert = conn.prepare_cached(
        "INSERT INTO walk_folders (path, dev, ino, mtime_ns, listed_at_ns, entries) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(path) DO UPDATE SET dev = excluded.dev, \
         ino = excluded.ino, mtime_ns = excluded.mtime_ns, listed_at_ns = excluded.listed_at_ns, \
         entries = excluded.entries",
    )?;
    for row in walked.iter().filter(|r| !known_rows.contains(r)) {
        upsert.execute(params![
            row.path,
            row.dev as i64,
            row.ino as i64,
            row.mtime_ns,
            row.listed_at_ns,
            row.entries
        ])?;
    }
    let reached: HashSet<&str> = walked.iter().map(|r| r.path.as_str()).collect();
    let mut forget = conn.prepare_cached("DELETE FROM walk_folders WHERE path = ?1")?;
    for row in known {
        let in_scope = scopes.iter().any(|s| is_within(&row.path, s));
        if in_scope && !reached.contains(row.path.as_str()) {
            forget.execute([&row.path])?;
        }
    }
    Ok(())
}

/// Whether `path` is `scope` or below it, by whole path components.
fn is_within(path: &str, scope: &str) -> bool {
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
    fn saves_what_changed_and_forgets_what_the_walk_left_behind_in_its_roots_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db"), &OpenOptions::default()).unwrap();
        let first = vec![
            row("/r/projects", 1),
            row("/r/projects/a", 1),
            row("/r/projects/b", 1),
            row("/r/projects-other", 1),
            row("/other/projects/x", 1),
        ];
        let tx = store.write().unwrap();
        save_changes(&tx, &first, &[], &["/r/projects".into()]).unwrap();
        tx.commit().unwrap();
        let known = load_all(store.conn()).unwrap();
        assert_eq!(known.len(), 5);
        assert!(
            known.contains(&row("/r/projects/a", 1)),
            "u64 devices round-trip"
        );

        // `b` is gone and `a` changed; the other roots' rows stay.
        let walked = vec![row("/r/projects", 1), row("/r/projects/a", 2)];
        let tx = store.write().unwrap();
        save_changes(&tx, &walked, &known, &["/r/projects".into()]).unwrap();
        tx.commit().unwrap();
        let mut paths: Vec<_> = load_all(store.conn())
            .unwrap()
            .into_iter()
            .map(|r| (r.path, r.mtime_ns))
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            vec![
                ("/other/projects/x".into(), 1),
                ("/r/projects".into(), 1),
                ("/r/projects-other".into(), 1),
                ("/r/projects/a".into(), 2),
            ]
        );
    }
}
