//! `system_config`: seed 004's key/value table, with its `value_type`.

use rusqlite::{Connection, OptionalExtension};

use crate::StoreError;

/// A configuration value with its declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub key: String,
    pub value: String,
    pub value_type: String,
    pub description: Option<String>,
    pub updated_at: String,
}

pub fn get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT value FROM system_config WHERE key = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<ConfigEntry>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT key, value, value_type, description, updated_at FROM system_config ORDER BY key",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(ConfigEntry {
                key: r.get(0)?,
                value: r.get(1)?,
                value_type: r.get(2)?,
                description: r.get(3)?,
                updated_at: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Sets an existing key without validation (internal bookkeeping such as `last_sync_time`).
pub fn set_raw(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE system_config SET value = ?2, updated_at = datetime('now') WHERE key = ?1",
        [key, value],
    )?;
    if n == 0 {
        return Err(StoreError::Invalid(format!(
            "unknown configuration key {key:?}"
        )));
    }
    Ok(())
}

/// The zone the daily tables are kept in (`system_config.timezone`).
pub fn store_zone(conn: &Connection) -> Result<jiff::tz::TimeZone, StoreError> {
    let name = get(conn, "timezone")?.unwrap_or_else(|| "UTC".into());
    if name == "UTC" {
        // The same zone without a look-up in the bundled database (a few million
        // instructions, once per run).
        return Ok(jiff::tz::TimeZone::UTC);
    }
    jiff::tz::TimeZone::get(&name)
        .map_err(|e| StoreError::Invalid(format!("system_config timezone {name:?}: {e}")))
}
