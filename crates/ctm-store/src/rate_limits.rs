//! `rate_limit_samples`: the official 5-hour and 7-day usage Claude Code hands its
//! statusline hook (`rate_limits` in the hook's JSON, Claude Code >= 2.1.80).
//!
//! The hook runs on every prompt, so a value seen again is not a new row: the latest
//! row of its window gets a later `last_seen_ms` and one more sighting. The table grows
//! only when the percentage or the reset time changes.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

use crate::StoreError;

/// Which of Claude's usage windows a figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitWindow {
    FiveHour,
    SevenDay,
}

impl LimitWindow {
    pub const ALL: [LimitWindow; 2] = [LimitWindow::FiveHour, LimitWindow::SevenDay];

    /// The key in the hook's JSON and in the table.
    pub fn key(self) -> &'static str {
        match self {
            LimitWindow::FiveHour => "five_hour",
            LimitWindow::SevenDay => "seven_day",
        }
    }
}

/// One window's figure as the hook reported it, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitReading {
    pub window: LimitWindow,
    pub used_percentage: f64,
    /// Unix epoch seconds.
    pub resets_at_s: Option<i64>,
}

/// Above this a percentage is not a usage figure but a bad value.
const MAX_PERCENTAGE: f64 = 1000.0;
/// Epoch seconds beyond the year 5000 are not a reset time.
const MAX_EPOCH_S: i64 = 95_617_584_000;

impl RateLimitReading {
    /// `None` for a percentage that is not a finite number in 0..=1000, or a reset time
    /// that is not a positive epoch second: never stored as if it were a figure.
    pub fn new(
        window: LimitWindow,
        used_percentage: f64,
        resets_at_s: Option<i64>,
    ) -> Option<RateLimitReading> {
        let pct_ok =
            used_percentage.is_finite() && (0.0..=MAX_PERCENTAGE).contains(&used_percentage);
        let reset_ok = resets_at_s.is_none_or(|s| s > 0 && s <= MAX_EPOCH_S);
        (pct_ok && reset_ok).then_some(RateLimitReading {
            window,
            used_percentage,
            resets_at_s,
        })
    }
}

/// A stored figure with when it was seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSample {
    pub window: LimitWindow,
    pub used_percentage: f64,
    pub resets_at_s: Option<i64>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub sightings: u64,
}

/// Records readings seen at `seen_ms`; returns how many new rows were added (a value
/// equal to its window's latest row only extends that row).
pub fn record(
    tx: &Transaction,
    readings: &[RateLimitReading],
    session_id: Option<&str>,
    seen_ms: i64,
) -> Result<u64, StoreError> {
    let mut added = 0;
    for r in readings {
        let same = latest_row(tx, r.window)?.filter(|(_, s)| {
            s.used_percentage == r.used_percentage && s.resets_at_s == r.resets_at_s
        });
        match same {
            Some((id, _)) => {
                tx.execute(
                    "UPDATE rate_limit_samples SET last_seen_ms = max(last_seen_ms, ?2), \
                     sightings = sightings + 1 WHERE id = ?1",
                    params![id, seen_ms],
                )?;
            }
            None => {
                tx.execute(
                    "INSERT INTO rate_limit_samples (limit_window, used_percentage, resets_at, \
                     first_seen_ms, last_seen_ms, sightings, session_id) VALUES (?1, ?2, ?3, ?4, ?4, 1, ?5)",
                    params![
                        r.window.key(),
                        r.used_percentage,
                        r.resets_at_s,
                        seen_ms,
                        session_id
                    ],
                )?;
                added += 1;
            }
        }
    }
    Ok(added)
}

/// The latest figure of a window, if one was ever seen.
pub fn latest(
    conn: &Connection,
    window: LimitWindow,
) -> Result<Option<RateLimitSample>, StoreError> {
    Ok(latest_row(conn, window)?.map(|(_, s)| s))
}

/// Every stored figure of a window, oldest first.
pub fn history(conn: &Connection, window: LimitWindow) -> Result<Vec<RateLimitSample>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, used_percentage, resets_at, first_seen_ms, last_seen_ms, sightings \
         FROM rate_limit_samples WHERE limit_window = ?1 ORDER BY last_seen_ms, id",
    )?;
    let rows = stmt
        .query_map([window.key()], |r| sample_from_row(r, window))?
        .map(|r| r.map(|(_, s)| s))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn latest_row(
    conn: &Connection,
    window: LimitWindow,
) -> Result<Option<(i64, RateLimitSample)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, used_percentage, resets_at, first_seen_ms, last_seen_ms, sightings \
         FROM rate_limit_samples WHERE limit_window = ?1 ORDER BY last_seen_ms DESC, id DESC LIMIT 1",
    )?;
    Ok(stmt
        .query_row([window.key()], |r| sample_from_row(r, window))
        .optional()?)
}

fn sample_from_row(
    r: &rusqlite::Row,
    window: LimitWindow,
) -> rusqlite::Result<(i64, RateLimitSample)> {
    Ok((
        r.get(0)?,
        RateLimitSample {
            window,
            used_percentage: r.get(1)?,
            resets_at_s: r.get(2)?,
            first_seen_ms: r.get(3)?,
            last_seen_ms: r.get(4)?,
            sightings: r.get(5)?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};

    fn reading(w: LimitWindow, pct: f64, reset: i64) -> RateLimitReading {
        RateLimitReading::new(w, pct, Some(reset)).unwrap()
    }

    #[test]
    fn bad_figures_are_refused() {
        let w = LimitWindow::FiveHour;
        assert!(RateLimitReading::new(w, f64::NAN, None).is_none());
        assert!(RateLimitReading::new(w, -1.0, None).is_none());
        assert!(RateLimitReading::new(w, 1e9, None).is_none());
        assert!(RateLimitReading::new(w, 12.5, Some(-5)).is_none());
        assert!(RateLimitReading::new(w, 12.5, Some(i64::MAX)).is_none());
        assert!(RateLimitReading::new(w, 0.0, None).is_some());
        assert!(RateLimitReading::new(w, 100.0, Some(1_772_000_000)).is_some());
    }

    #[test]
    fn a_repeated_value_extends_its_row_and_a_change_adds_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        let five = LimitWindow::FiveHour;
        let seven = LimitWindow::SevenDay;
        let tx = store.write().unwrap();
        let both = [
            reading(five, 10.0, 1_800_000_000),
            reading(seven, 3.0, 1_800_500_000),
        ];
        assert_eq!(record(&tx, &both, Some("s"), 1_000).unwrap(), 2);
        // Seen again on the next prompts: no new rows.
        for t in [2_000, 3_000] {
            assert_eq!(record(&tx, &both, Some("s"), t).unwrap(), 0);
        }
        // The 5-hour figure moves: one row; the 7-day one is unchanged.
        let moved = [reading(five, 12.0, 1_800_000_000), both[1]];
        assert_eq!(record(&tx, &moved, None, 4_000).unwrap(), 1);
        // A value seen earlier but not the latest is a change again (it went back).
        assert_eq!(record(&tx, &both[..1], None, 5_000).unwrap(), 1);
        tx.commit().unwrap();

        let c = store.conn();
        let h = history(c, five).unwrap();
        assert_eq!(
            h.iter()
                .map(|s| (
                    s.used_percentage,
                    s.first_seen_ms,
                    s.last_seen_ms,
                    s.sightings
                ))
                .collect::<Vec<_>>(),
            vec![
                (10.0, 1_000, 3_000, 3),
                (12.0, 4_000, 4_000, 1),
                (10.0, 5_000, 5_000, 1)
            ]
        );
        let l = latest(c, seven).unwrap().unwrap();
        assert_eq!(
            (
                l.used_percentage,
                l.resets_at_s,
                l.first_seen_ms,
                l.last_seen_ms,
                l.sightings
            ),
            (3.0, Some(1_800_500_000), 1_000, 4_000, 4)
        );
        let rows: i64 = c
            .query_row("SELECT count(*) FROM rate_limit_samples", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 4);
    }
}
