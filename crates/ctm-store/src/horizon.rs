//! The prune horizon: after `ctm db prune --facts-older-than`, every fact before it is
//! gone, and the rows derived from those facts are kept as history.

use jiff::civil::Date;
use rusqlite::{Connection, OptionalExtension};

use ctm_aggregate::BLOCK_MS;

use ctm_model::utc;

use crate::{config, StoreError};

/// The `system_config` key holding the prune horizon: every fact before this UTC instant
/// (the start of a day in the store's zone) was deleted on the user's request.
pub const FACTS_HORIZON_KEY: &str = "facts_pruned_before";

/// The instant (UTC epoch ms) before which facts were pruned, if they ever were.
pub fn facts_horizon(conn: &Connection) -> Result<Option<i64>, StoreError> {
    match config::get(conn, FACTS_HORIZON_KEY)? {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => utc::parse(&v).map(Some).ok_or_else(|| {
            StoreError::Invalid(format!(
                "system_config {FACTS_HORIZON_KEY} {v:?} is not a UTC time; restore a backup"
            ))
        }),
    }
}

/// What the store keeps of history whose facts were pruned.
#[derive(Debug, Clone, PartialEq)]
pub struct Horizon {
    /// Start of a day in the store's zone; every fact before it was deleted.
    pub horizon_ms: i64,
    /// That day: daily rows before it are kept.
    pub first_day: Date,
    /// Blocks are computed from facts at or after this instant: the end of the last
    /// kept block when it reaches past the horizon (its later facts stay counted in it).
    pub blocks_from_ms: i64,
}

impl Horizon {
    /// The horizon, if facts were ever pruned.
    pub fn of(conn: &Connection) -> Result<Option<Horizon>, StoreError> {
        let Some(horizon_ms) = facts_horizon(conn)? else {
            return Ok(None);
        };
        let first_day = ctm_aggregate::local_time(horizon_ms, &config::store_zone(conn)?).date();
        let last_kept_block: Option<String> = conn
            .query_row(
                "SELECT start_time FROM usage_blocks WHERE start_time < ?1 ORDER BY start_time DESC LIMIT 1",
                [utc::format(horizon_ms)],
                |r| r.get(0),
            )
            .optional()?;
        let blocks_from_ms = match last_kept_block {
            // A response belongs to a block while it is at most 5 h after the start.
            Some(s) => (crate::parse_stored_time("usage_blocks start_time", &s)? + BLOCK_MS + 1)
                .max(horizon_ms),
            None => horizon_ms,
        };
        Ok(Some(Horizon {
            horizon_ms,
            first_day,
            blocks_from_ms,
        }))
    }

    /// A local day (in the store's zone) before the horizon is history.
    pub fn keeps_day(&self, date: Date) -> bool {
        date < self.first_day
    }

    /// A stored session row that started before the horizon is history.
    pub fn keeps_session(&self, session_start: Option<&str>) -> bool {
        session_start.is_some_and(|s| s < utc::format(self.horizon_ms).as_str())
    }
}

/// [`Horizon::keeps_day`] when there is a horizon.
pub fn keeps_day(horizon: Option<&Horizon>, date: Date) -> bool {
    horizon.is_some_and(|h| h.keeps_day(date))
}
