//! Local days and hours of rollup rows in a zone.
//!
//! A quarter is *whole* in a zone when the zone's offset is the same all through it and
//! is a whole number of quarter-hours: every instant of it then has the same local date
//! and hour. So are all quarters of every real zone since standard time (all offsets
//! since are multiples of 15 minutes, and transitions fall on quarters); local mean time
//! before it (`+05:53:28`) and a few odd transitions are not, and there a report reads
//! the responses themselves ([`split_ranges`] says where).

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::slot::{quarter_of_slot, SlotRow, QUARTER_MS};

/// The wall-clock time in `tz` at UTC epoch ms `ts` (the epoch for an instant out of
/// range). Without a `Zoned`, which would clone the zone for every call.
pub fn local_time(ts: i64, tz: &TimeZone) -> DateTime {
    tz.to_datetime(timestamp(ts))
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// `[start, end)` of a local day in UTC epoch ms; `None` out of jiff's range.
pub fn day_bounds(date: Date, tz: &TimeZone) -> Option<(i64, i64)> {
    let start = date
        .to_zoned(tz.clone())
        .and_then(|z| z.start_of_day())
        .ok()?;
    let end = date
        .tomorrow()
        .and_then(|d| d.to_zoned(tz.clone()))
        .and_then(|z| z.start_of_day())
        .ok()?;
    Some((
        start.timestamp().as_millisecond(),
        end.timestamp().as_millisecond(),
    ))
}

/// Whether every instant of quarter `q` has the same local date and hour in `tz`.
fn quarter_is_whole(tz: &TimeZone, q: i64) -> bool {
    let start = q.saturating_mul(QUARTER_MS);
    let first = tz.to_offset(timestamp(start));
    let last = tz.to_offset(timestamp(start.saturating_add(QUARTER_MS - 1)));
    first == last && first.seconds() % (QUARTER_MS / 1000) as i32 == 0
}

/// The ranges `[lo, hi)` of instants within `[lo, hi)` that lie in quarters that are not
/// whole in `tz`, oldest first: there a report groups the responses themselves. `hi`
/// must be finite in practice (a zone with daylight saving has transitions forever):
/// callers bound it by their latest response.
pub fn split_ranges(tz: &TimeZone, lo: i64, hi: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut add = |a: i64, b: i64| {
        let (a, b) = (a.max(lo), b.min(hi));
        if a >= b {
            return;
        }
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    };
    if lo >= hi {
        return out;
    }
    // Walk the periods of constant offset that meet [lo, hi).
    let mut start = lo;
    let mut offset = tz.to_offset(timestamp(lo));
    let mut transitions = tz.following(timestamp(lo));
    loop {
        let next = transitions
            .next()
            .map(|t| (t.timestamp().as_millisecond(), t.offset()))
            .filter(|(at, _)| *at < hi);
        let end = next.map_or(hi, |(at, _)| at);
        if offset.seconds() % (QUARTER_MS / 1000) as i32 != 0 {
            add(start, end);
        }
        let Some((at, next_offset)) = next else { break };
        let q = at.div_euclid(QUARTER_MS);
        if !quarter_is_whole(tz, q) {
            add(q * QUARTER_MS, (q + 1) * QUARTER_MS);
        }
        start = at;
        offset = next_offset;
    }
    out
}

/// Local date and hour of rollup rows, looked up once per quarter.
pub struct LocalClock<'z> {
    tz: &'z TimeZone,
    /// The last quarter looked up and its date and hour, when it is whole.
    memo: Option<(i64, Option<(Date, u8)>)>,
}

impl<'z> LocalClock<'z> {
    pub fn new(tz: &'z TimeZone) -> LocalClock<'z> {
        LocalClock { tz, memo: None }
    }

    /// The local date and hour of a row: of its quarter when that is whole, else of its
    /// own first response (a row of a quarter that is not whole stands for one response).
    pub fn date_hour(&mut self, row: &SlotRow) -> (Date, u8) {
        let q = quarter_of_slot(row.key.slot);
        let whole = match self.memo {
            Some((memo_q, at)) if memo_q == q => at,
            _ => {
                let at = quarter_is_whole(self.tz, q).then(|| {
                    let t = local_time(q.saturating_mul(QUARTER_MS), self.tz);
                    (t.date(), t.hour() as u8)
                });
                self.memo = Some((q, at));
                at
            }
        };
        whole.unwrap_or_else(|| {
            let t = local_time(row.first_ts, self.tz);
            (t.date(), t.hour() as u8)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn modern_zones_split_nothing() {
        // 2020..2030 in zones with half- and quarter-hour offsets and daylight saving.
        let (lo, hi) = (1_577_836_800_000, 1_893_456_000_000);
        for name in [
            "UTC",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "America/New_York",
            "Australia/Lord_Howe",
            "Asia/Tokyo",
        ] {
            let tz = TimeZone::get(name).unwrap();
            assert_eq!(split_ranges(&tz, lo, hi), vec![], "{name}");
        }
    }

    #[test]
    fn local_mean_time_is_split() {
        let tz = TimeZone::get("Asia/Kolkata").unwrap();
        // 1850: local mean time, +05:53:28.
        let ts = -3_786_825_600_000;
        let ranges = split_ranges(&tz, ts, ts + 24 * H);
        assert_eq!(ranges, vec![(ts, ts + 24 * H)]);
        let q = ts.div_euclid(QUARTER_MS);
        assert!(!quarter_is_whole(&tz, q));
    }

    #[test]
    fn a_clock_gives_each_row_its_local_hour() {
        let tz = TimeZone::get("Asia/Kolkata").unwrap();
        // 2026-01-01T18:29:59.999Z is 23:59 in Kolkata, 18:30Z the next day's 00:00.
        let midnight = 1_767_225_600_000 + 18 * H + 30 * 60_000;
        let row = |ts: i64| SlotRow {
            key: crate::SlotKey {
                slot: crate::slot_of(ts),
                session: 0,
                project: 0,
                model: 0,
            },
            first_ts: ts,
            last_ts: ts,
            sums: Default::default(),
        };
        let mut clock = LocalClock::new(&tz);
        let before = clock.date_hour(&row(midnight - 1));
        let after = clock.date_hour(&row(midnight));
        assert_eq!(before, (jiff::civil::date(2026, 1, 1), 23));
        assert_eq!(after, (jiff::civil::date(2026, 1, 2), 0));
    }
}
