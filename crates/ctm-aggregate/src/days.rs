//! Rollup rows grouped by local day (and hour) in a zone.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::slot::{Id, SlotRow, NONE};
use crate::sums::Sums;
use crate::zone::LocalClock;

/// One local day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayAggregate {
    pub date: Date,
    pub sums: Sums,
    /// The day's sessions: a set, so a session counts once however many rows it has.
    pub sessions: BTreeSet<Id>,
    /// Sums per model ([`NONE`] for responses without one).
    pub models: BTreeMap<Id, Sums>,
    /// Responses per local hour of the day.
    pub hourly: [u64; 24],
}

impl DayAggregate {
    pub fn new(date: Date) -> Self {
        DayAggregate {
            date,
            sums: Sums::default(),
            sessions: BTreeSet::new(),
            models: BTreeMap::new(),
            hourly: [0; 24],
        }
    }

    pub fn add(&mut self, row: &SlotRow, local_hour: u8) {
        self.sums.add(&row.sums);
        if row.key.session != NONE {
            self.sessions.insert(row.key.session);
        }
        self.models.entry(row.key.model).or_default().add(&row.sums);
        self.hourly[usize::from(local_hour)] += row.sums.responses;
    }
}

/// Groups rows by local day in `tz`.
pub fn aggregate_days(rows: &[SlotRow], tz: &TimeZone) -> BTreeMap<Date, DayAggregate> {
    let mut clock = LocalClock::new(tz);
    let mut days: BTreeMap<Date, DayAggregate> = BTreeMap::new();
    // Rows mostly come day after day: the day being added to is held out of the map.
    let mut current: Option<DayAggregate> = None;
    for row in rows {
        let (date, hour) = clock.date_hour(row);
        let day = match &mut current {
            Some(day) if day.date == date => day,
            _ => {
                if let Some(done) = current.take() {
                    days.insert(done.date, done);
                }
                current.insert(
                    days.remove(&date)
                        .unwrap_or_else(|| DayAggregate::new(date)),
                )
            }
        };
        day.add(row, hour);
    }
    if let Some(done) = current {
        days.insert(done.date, done);
    }
    days
}

/// A local day and hour of day (0..23; a repeated hour at a DST change is one bucket).
pub type HourKey = (Date, u8);

/// Sums per local day and hour in `tz`.
pub fn aggregate_hours(rows: &[SlotRow], tz: &TimeZone) -> BTreeMap<HourKey, Sums> {
    let mut clock = LocalClock::new(tz);
    let mut out: BTreeMap<HourKey, Sums> = BTreeMap::new();
    for row in rows {
        out.entry(clock.date_hour(row)).or_default().add(&row.sums);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slot::{rollup, Fact};

    const H: i64 = 3_600_000;
    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00Z

    fn fact(ts: i64, session: Id, model: Id) -> Fact {
        Fact {
            id: ts,
            ts,
            session,
            project: 1,
            model,
            sums: Sums {
                responses: 1,
                output_tokens: 10,
                cost_nanos: 3,
                ..Sums::default()
            },
        }
    }

    #[test]
    fn days_follow_the_zone_and_count_each_session_once() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 03:30Z on Jan 2 is still Jan 1 in New York, and Jan 2 at 12:30 in Tokyo.
        let ts = T0 + 24 * H + 3 * H + 30 * 60_000;
        let facts = [fact(ts, 1, 1), fact(ts + 60_000, 1, 2), fact(ts + H, 2, 1)];
        let rows: Vec<SlotRow> = rollup(&facts).into_values().collect();
        let days = aggregate_days(&rows, &ny);
        let day = &days[&jiff::civil::date(2026, 1, 1)];
        assert_eq!(day.sessions.len(), 2);
        assert_eq!(day.sums.responses, 3);
        assert_eq!(day.models[&1].responses, 2);
        assert_eq!(day.hourly[22] + day.hourly[23], 3);
        let tokyo = aggregate_days(&rows, &TimeZone::get("Asia/Tokyo").unwrap());
        let day = &tokyo[&jiff::civil::date(2026, 1, 2)];
        assert_eq!((day.hourly[12], day.hourly[13]), (2, 1));
    }
}
