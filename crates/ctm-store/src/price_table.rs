//! `price_table`: the table `ctm pricing update` chose, in ctm's format, so it survives a
//! restart. No row means the table embedded in the binary is in force (`ctm pricing
//! reset` deletes the row). The store does not read the table: the pricing crate
//! validated it before it was stored and validates it again when it is loaded.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::StoreError;

/// The stored table and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTable {
    /// `ctm` (a table in ctm's format) or `litellm` (LiteLLM's file merged under the
    /// embedded table).
    pub origin: String,
    /// The table's version label, as the pricing crate computes it from the body: a
    /// process holding a table compares labels instead of parsing the body again.
    pub version: String,
    /// The file or URL it was read from.
    pub source: String,
    /// UTC epoch milliseconds.
    pub updated_at_ms: i64,
    /// The whole table in ctm's format.
    pub body: String,
}

/// The stored table, if `ctm pricing update` chose one.
pub fn stored(conn: &Connection) -> Result<Option<StoredTable>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT origin, version, source, updated_at, body FROM price_table WHERE id = 1",
        )?
        .query_row([], |r| {
            Ok(StoredTable {
                origin: r.get(0)?,
                version: r.get(1)?,
                source: r.get(2)?,
                updated_at_ms: r.get(3)?,
                body: r.get(4)?,
            })
        })
        .optional()?)
}

/// Makes `table` the one in force, in the caller's transaction.
pub fn store(tx: &Transaction, table: &StoredTable) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO price_table (id, origin, version, source, updated_at, body) \
         VALUES (1, ?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET origin = ?1, version = ?2, \
         source = ?3, updated_at = ?4, body = ?5",
    )?
    .execute(params![
        table.origin,
        table.version,
        table.source,
        table.updated_at_ms,
        table.body
    ])?;
    Ok(())
}

/// Drops the stored table (the embedded one is in force again); whether there was one.
pub fn clear(tx: &Transaction) -> Result<bool, StoreError> {
    Ok(tx.execute("DELETE FROM price_table", [])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};

    #[test]
    fn a_table_is_kept_replaced_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        assert_eq!(stored(store.conn()).unwrap(), None);
        let t = StoredTable {
            origin: "ctm".into(),
            version: "table-2026-12-06-00000000".into(),
            source: "/tmp/p.toml".into(),
            updated_at_ms: 5,
            body: "as_of = \"2026-12-06\"\n".into(),
        };
        let tx = store.write().unwrap();
        store_it(&tx, &t);
        let t2 = StoredTable {
            origin: "litellm".into(),
            ..t.clone()
        };
        store_it(&tx, &t2);
        tx.commit().unwrap();
        assert_eq!(stored(store.conn()).unwrap(), Some(t2));
        let tx = store.write().unwrap();
        assert!(clear(&tx).unwrap());
        assert!(!clear(&tx).unwrap());
        tx.commit().unwrap();
        assert_eq!(stored(store.conn()).unwrap(), None);
    }

    fn store_it(tx: &Transaction, t: &StoredTable) {
        super::store(tx, t).unwrap();
    }
}
