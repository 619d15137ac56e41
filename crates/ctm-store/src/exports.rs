//! `export_history` (seed 004): one row per `ctm export` attempt, failed ones included.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::StoreError;

/// One export attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRecord {
    pub id: i64,
    pub exported_at: String,
    /// `csv` or `json`.
    pub format: String,
    pub date_range_start: Option<String>,
    pub date_range_end: Option<String>,
    pub file_path: Option<String>,
    pub record_count: u64,
    /// Bytes written; `None` when nothing was written.
    pub file_size: Option<u64>,
    /// `completed` or `failed`.
    pub status: String,
    pub error_message: Option<String>,
}

/// Records an attempt (`id` and `exported_at` are assigned here); returns its id.
pub fn record(conn: &Connection, r: &ExportRecord) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO export_history (format, date_range_start, date_range_end, file_path, record_count, \
         file_size, status, error_message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            r.format,
            r.date_range_start,
            r.date_range_end,
            r.file_path,
            r.record_count,
            r.file_size,
            r.status,
            r.error_message
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Every recorded attempt, oldest first.
pub fn history(conn: &Connection) -> Result<Vec<ExportRecord>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, exported_at, format, date_range_start, date_range_end, file_path, record_count, \
         file_size, status, error_message FROM export_history ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(ExportRecord {
                id: r.get(0)?,
                exported_at: r.get(1)?,
                format: r.get(2)?,
                date_range_start: r.get(3)?,
                date_range_end: r.get(4)?,
                file_path: r.get(5)?,
                record_count: r.get(6)?,
                file_size: r.get(7)?,
                status: r.get(8)?,
                error_message: r.get(9)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
