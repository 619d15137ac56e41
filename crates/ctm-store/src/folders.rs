//! What the walk remembers between runs, the stat list (`walk_stat_list`): every folder
//! the last walk listed, with each entry's stat (ctm-source encodes, checks and reads it
//! as the walk's memo). Written in the ingest's transaction and only when it writes
//! anyway, so a run where nothing changed stays a reader. Writing cursors drops its
//! header (see [`crate::cursors::CursorWriter`]), so a list that says it holds always
//! speaks for the cursors beside it; its parts stay, as the walk's memo.

use std::ops::ControlFlow;

use rusqlite::{params, Connection};

use crate::StoreError;

/// Part numbers of `walk_stat_list`: the header is part 0, the overlay's parts follow
/// from 1, the base's from here on; reading in part order gives the header, the
/// overlay, the base.
const BASE_PART: i64 = 1 << 32;

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

/// The stored list's header (empty when none is stored).
pub fn stat_list_header(conn: &Connection) -> Result<Vec<u8>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT bytes FROM walk_stat_list WHERE part = 0")?;
    let mut rows = stmt.query([])?;
    Ok(match rows.next()? {
        Some(row) => row.get(0)?,
        None => Vec::new(),
    })
}

/// The stored list's overlay parts, in order (with the base: the walk's memo).
pub fn stat_list_overlay(conn: &Connection) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT bytes FROM walk_stat_list WHERE part > 0 AND part < ?1 ORDER BY part",
    )?;
    let rows = stmt.query_map([BASE_PART], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The stored list's base parts, in order, for the next list to be written as an
/// overlay on them.
pub fn stat_list_base(conn: &Connection) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT bytes FROM walk_stat_list WHERE part >= ?1 ORDER BY part")?;
    let rows = stmt.query_map([BASE_PART], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A stat list to store: its header and overlay, and its base when the stored one is
/// replaced (`None`: it stays).
pub struct StatListRows<'a> {
    pub header: &'a [u8],
    pub overlay: &'a [Vec<u8>],
    pub base: Option<&'a [Vec<u8>]>,
}

/// Keeps `list` as the stat list, or none. Called after the run's cursors are written
/// (their writer dropped the header: see [`crate::cursors::CursorWriter`]).
pub fn save_stat_list(conn: &Connection, list: Option<StatListRows>) -> Result<(), StoreError> {
    let Some(list) = list else {
        conn.prepare_cached("DELETE FROM walk_stat_list")?
            .execute([])?;
        return Ok(());
    };
    conn.prepare_cached("DELETE FROM walk_stat_list WHERE part < ?1")?
        .execute([BASE_PART])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO walk_stat_list (part, bytes) VALUES (?1, ?2)")?;
    if let Some(base) = list.base {
        conn.prepare_cached("DELETE FROM walk_stat_list WHERE part >= ?1")?
            .execute([BASE_PART])?;
        for (i, part) in base.iter().enumerate() {
            insert.execute(params![BASE_PART + i as i64, part])?;
        }
    }
    for (i, part) in list.overlay.iter().enumerate() {
        insert.execute(params![1 + i as i64, part])?;
    }
    insert.execute(params![0, list.header])?;
    Ok(())
}

/// Drops the stat list's header, so no list holds until the ingest records the next;
/// its parts stay for that list to be written as an overlay on.
pub(crate) fn drop_stat_list_header(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM walk_stat_list WHERE part = 0")?
        .execute([])?;
    Ok(())
}

/// Whether `path` is `scope` or below it, by whole path components.
pub fn is_within(path: &[u8], scope: &[u8]) -> bool {
    path.strip_prefix(scope)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};

    fn stored_list(conn: &Connection) -> Vec<Vec<u8>> {
        let mut parts = Vec::new();
        visit_stat_list(conn, |p| {
            parts.push(p.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
        parts
    }

    fn parts(names: &[&str]) -> Vec<Vec<u8>> {
        names.iter().map(|n| n.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_list_is_read_header_overlay_base_and_an_overlay_keeps_the_base() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db"), &OpenOptions::default()).unwrap();
        let tx = store.write().unwrap();
        let base = parts(&["b1", "b2", "b3"]);
        let rows = |header, overlay| StatListRows {
            header,
            overlay,
            base: None,
        };
        save_stat_list(
            &tx,
            Some(StatListRows {
                header: b"h1",
                overlay: &[],
                base: Some(&base),
            }),
        )
        .unwrap();
        assert_eq!(stored_list(&tx), parts(&["h1", "b1", "b2", "b3"]));
        let overlay = parts(&["o1", "o2"]);
        save_stat_list(&tx, Some(rows(b"h2", &overlay))).unwrap();
        assert_eq!(
            stored_list(&tx),
            parts(&["h2", "o1", "o2", "b1", "b2", "b3"])
        );
        // A shorter overlay replaces a longer one whole.
        let overlay = parts(&["o3"]);
        save_stat_list(&tx, Some(rows(b"h3", &overlay))).unwrap();
        assert_eq!(stored_list(&tx), parts(&["h3", "o3", "b1", "b2", "b3"]));
        assert_eq!(stat_list_base(&tx).unwrap(), base);
        assert_eq!(stat_list_overlay(&tx).unwrap(), parts(&["o3"]));
        let new_base = parts(&["c1"]);
        // A new base drops the overlay and the old base, however long.
        save_stat_list(
            &tx,
            Some(StatListRows {
                header: b"h4",
                overlay: &[],
                base: Some(&new_base),
            }),
        )
        .unwrap();
        assert_eq!(stored_list(&tx), parts(&["h4", "c1"]));
        save_stat_list(&tx, None).unwrap();
        assert!(stored_list(&tx).is_empty());
    }

    #[test]
    fn writing_cursors_drops_the_stat_lists_header() {
        use crate::cursors::{self, Cursor, CursorWriter};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db"), &OpenOptions::default()).unwrap();
        let cursor = Cursor {
            path: b"/r/projects/a/t.jsonl".to_vec(),
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            offset: 3,
            head_len: 3,
            head_hash: 5,
            tail_len: 3,
            tail_hash: 5,
            in_long_line: false,
            lines: 1,
            missing_since: None,
        };
        let base = parts(&["b1"]);
        let list = |header| StatListRows {
            header,
            overlay: &[],
            base: Some(&base),
        };
        let tx = store.write().unwrap();
        save_stat_list(&tx, Some(list(b"h1"))).unwrap();
        let writer = CursorWriter::new(&tx).unwrap();
        assert_eq!(stored_list(&tx), base, "no header: no list holds");
        assert_eq!(
            stat_list_base(&tx).unwrap(),
            base,
            "the base stays, as the memo"
        );
        writer.save(&cursor, 1).unwrap();
        writer.mark_missing(&cursor.path, 2).unwrap();
        // The ingest records its list after its cursor writes.
        save_stat_list(&tx, Some(list(b"h2"))).unwrap();
        tx.commit().unwrap();
        let stored = cursors::load_all(store.conn()).unwrap();
        assert_eq!(stored[&cursor.path].missing_since, Some(2));
        assert_eq!(stored_list(store.conn()), parts(&["h2", "b1"]));
    }

    #[test]
    fn within_is_by_whole_components() {
        assert!(is_within(b"/r/projects", b"/r/projects"));
        assert!(is_within(b"/r/projects/a/b", b"/r/projects"));
        assert!(!is_within(b"/r/projects-other", b"/r/projects"));
        assert!(!is_within(b"/other/projects", b"/r/projects"));
    }
}
