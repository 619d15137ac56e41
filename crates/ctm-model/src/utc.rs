//! Instants as the store writes them: UTC epoch milliseconds, and their one text form.
//!
//! Every time a transcript gives is kept as epoch milliseconds; every time the store
//! writes as text (`claude_sessions`, `usage_blocks`, `system_config`'s times, ...) is
//! [`format`]ted here and read back with [`parse`], which accepts exactly what `format`
//! writes. A transcript time is accepted only when it lies in [`EARLIEST_MS`,
//! [`FACTS_END_MS`]): years 0000 to 9999, what RFC 3339 can write, with room at the end
//! for what is computed from a fact (a 5-hour block's end, a local day in any zone). So
//! every stored time round-trips by construction: a negative year can never reach a
//! text column to be written as `-001-...` and then refused by every reader.

use jiff::Timestamp;

/// `0000-01-01T00:00:00.000Z`, the first instant a four-digit year can write.
pub const EARLIEST_MS: i64 = -62_167_219_200_000;

/// `9999-12-30T00:00:00.000Z`, just past the last accepted fact. The time library
/// ends at 9999-12-30T22:00Z (so that every zone's local time stays in year 9999):
/// the last hours of 9999 cannot be represented at all, and the day before them is
/// kept free so that a block opened by the last fact still ends inside the range.
pub const FACTS_END_MS: i64 = 253_402_128_000_000;

/// The last instant [`format`] writes: the time library's last whole millisecond.
pub const LATEST_MS: i64 = 253_402_207_200_000;

/// The text form's length: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const TEXT_LEN: usize = 24;

/// Whether a transcript's time can be kept: years 0000-9999 (see [`FACTS_END_MS`]).
pub fn is_fact_time(ms: i64) -> bool {
    (EARLIEST_MS..FACTS_END_MS).contains(&ms)
}

/// Why a transcript's time was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRefused {
    /// Not an RFC 3339 time.
    Unreadable,
    /// A time, but outside years 0000-9999 (see [`is_fact_time`]): a signed or
    /// six-digit year, or an offset that moves it out in UTC.
    OutOfRange,
}

/// An RFC 3339 time from a transcript (`Z` or any offset) as epoch milliseconds, when it
/// is one and [`is_fact_time`].
pub fn parse_rfc3339(s: &str) -> Result<i64, TimeRefused> {
    match s.parse::<Timestamp>() {
        Ok(t) if is_fact_time(t.as_millisecond()) => Ok(t.as_millisecond()),
        Ok(_) => Err(TimeRefused::OutOfRange),
        // RFC 3339 years have four digits: a sign opens an expanded year, which the
        // time library refuses beyond +-9999 before we could.
        Err(_) if s.starts_with(['+', '-']) => Err(TimeRefused::OutOfRange),
        Err(_) => Err(TimeRefused::Unreadable),
    }
}

/// The one text form of an instant: RFC 3339 in UTC with milliseconds,
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, which sorts as the instants do. An instant outside
/// [`EARLIEST_MS`]..=[`LATEST_MS`] is written as the nearest end: no stored time is
/// outside (facts are [`is_fact_time`], and what is computed from them stays within a
/// day of them), so a query bound clamped so compares with every stored time as the
/// instant itself would.
pub fn format(ms: i64) -> String {
    let mut text = String::with_capacity(TEXT_LEN);
    push_clock(&mut text, ms.clamp(EARLIEST_MS, LATEST_MS));
    text.push('Z');
    text
}

/// Writes `YYYY-MM-DDTHH:MM:SS.mmm`, the wall clock of `ms` read in UTC (or, given an
/// instant already moved by a zone's offset, that zone's wall clock), for `ms` in
/// [`EARLIEST_MS`]..=[`LATEST_MS`] (years 0000-9999; the caller clamps or checks). Digits
/// by hand, not through a format string: reports write two of these per row, and a
/// listing of every session of a team has tens of thousands of rows.
pub fn push_clock(out: &mut String, ms: i64) {
    debug_assert!((EARLIEST_MS..=LATEST_MS).contains(&ms));
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Days to a proleptic Gregorian date (H. Hinnant's civil_from_days): eras of 400
    // years starting on 0000-03-01, so that the leap day ends a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let digits = push_digits;
    digits(out, year, 4);
    out.push('-');
    digits(out, month, 2);
    out.push('-');
    digits(out, day, 2);
    out.push('T');
    digits(out, in_day / 3_600_000, 2);
    out.push(':');
    digits(out, in_day / 60_000 % 60, 2);
    out.push(':');
    digits(out, in_day / 1_000 % 60, 2);
    out.push('.');
    digits(out, in_day % 1_000, 3);
}

/// Writes the last `width` decimal digits of `n` (not negative), zeros in front.
pub fn push_digits(out: &mut String, n: i64, width: u32) {
    for place in (0..width).rev() {
        out.push(char::from(b'0' + (n / 10_i64.pow(place) % 10) as u8));
    }
}

/// Reads back exactly what [`format`] writes: `Some(ms)` only when `format(ms)` is `s`.
pub fn parse(s: &str) -> Option<i64> {
    if s.len() != TEXT_LEN || !s.ends_with('Z') {
        return None;
    }
    let ms = s.parse::<Timestamp>().ok()?.as_millisecond();
    (format(ms) == s).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ends_are_what_they_say() {
        assert_eq!(format(EARLIEST_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(format(FACTS_END_MS), "9999-12-30T00:00:00.000Z");
        assert_eq!(format(LATEST_MS), "9999-12-30T22:00:00.000Z");
        assert!(Timestamp::from_millisecond(LATEST_MS + 1).is_err());
        assert_eq!(format(i64::MIN), format(EARLIEST_MS));
        assert_eq!(format(i64::MAX), format(LATEST_MS));
    }

    #[test]
    fn the_calendar_s_corners_are_written_as_the_time_library_writes_them() {
        for text in [
            "0000-02-29T23:59:59.999Z",
            "0000-03-01T00:00:00.000Z",
            "1900-02-28T12:00:00.000Z",
            "1900-03-01T00:00:00.001Z",
            "1969-12-31T23:59:59.999Z",
            "1970-01-01T00:00:00.000Z",
            "2000-02-29T00:00:00.000Z",
            "2024-12-31T23:59:59.999Z",
            "2100-03-01T00:00:00.000Z",
        ] {
            let ms = text.parse::<Timestamp>().unwrap().as_millisecond();
            assert_eq!(format(ms), text);
        }
    }

    #[test]
    fn transcript_times_outside_years_0000_to_9999_are_refused() {
        for out in [
            "-000001-06-01T00:00:00Z",
            "+010000-06-01T00:00:00Z",
            "-999999-06-01T00:00:00Z",
            // A time in year 0000 whose offset puts it in year -1, UTC.
            "0000-01-01T00:30:00+01:00",
            "9999-12-30T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(out), Err(TimeRefused::OutOfRange), "{out}");
        }
        for bad in [
            "not a time",
            "",
            "2026-13-01T00:00:00Z",
            "9999-12-31T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), Ok(EARLIEST_MS));
        assert_eq!(
            parse_rfc3339("9999-12-29T23:59:59.999Z"),
            Ok(FACTS_END_MS - 1)
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T01:00:00+01:00"),
            Ok(1_767_225_600_000)
        );
    }

    #[test]
    fn only_the_written_form_is_read_back() {
        assert_eq!(parse("2026-01-01T00:00:00.000Z"), Some(1_767_225_600_000));
        for other in [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.000+00:00",
            "2026-01-01 00:00:00.000Z",
            "-001-06-01T00:00:00.000Z",
            "2026-01-01T00:00:00.0000Z",
            "2026-02-30T00:00:00.000Z",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    proptest! {
        #[test]
        fn every_instant_in_range_round_trips(ms in EARLIEST_MS..=LATEST_MS) {
            let text = format(ms);
            prop_assert_eq!(text.len(), TEXT_LEN);
            prop_assert_eq!(parse(&text), Some(ms));
        }

        #[test]
        fn the_text_is_the_time_library_s(ms in EARLIEST_MS..=LATEST_MS) {
            let t = Timestamp::from_millisecond(ms).unwrap();
            prop_assert_eq!(format(ms), t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        }

        #[test]
        fn the_text_sorts_as_the_instants(a in EARLIEST_MS..=LATEST_MS, b in EARLIEST_MS..=LATEST_MS) {
            prop_assert_eq!(a.cmp(&b), format(a).cmp(&format(b)));
        }
    }
}
