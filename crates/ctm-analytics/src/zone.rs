//! The time zone a report is in.

use ctm_model::utc;
use jiff::{tz::TimeZone, Timestamp, Zoned};

/// A report's time zone, with the IANA name when it has one.
#[derive(Debug, Clone)]
pub struct Zone {
    pub tz: TimeZone,
    /// `None` for a system zone whose name is unknown (then it never matches the store's).
    pub name: Option<String>,
}

impl Zone {
    /// `--timezone NAME`, or the system zone.
    pub fn resolve(name: Option<&str>) -> Result<Zone, String> {
        match name {
            Some(n) => TimeZone::get(n)
                .map(|tz| Zone {
                    tz,
                    name: Some(n.to_owned()),
                })
                .map_err(|_| {
                    format!("unknown time zone {n:?}; use an IANA name such as Europe/Paris or UTC")
                }),
            None => {
                let tz = TimeZone::system();
                let name = tz.iana_name().map(str::to_owned);
                Ok(Zone { tz, name })
            }
        }
    }

    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            name: Some("UTC".into()),
        }
    }

    /// The name reports print: the IANA name, else "local".
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| "local".into())
    }

    /// An instant (UTC epoch ms) in this zone.
    pub fn zoned(&self, ms: i64) -> Zoned {
        Timestamp::from_millisecond(ms)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone())
    }

    /// RFC 3339 with milliseconds and this zone's offset, e.g. `2026-03-08T16:30:00.000+09:00`.
    pub fn rfc3339(&self, ms: i64) -> String {
        let at = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
        let offset = self.tz.to_offset(at).seconds();
        let local_ms = at.as_millisecond() + i64::from(offset) * 1_000;
        if !(utc::EARLIEST_MS..=utc::LATEST_MS).contains(&local_ms) {
            // Beyond four-digit years (no stored instant is): the time library's form.
            return at
                .to_zoned(self.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string();
        }
        let mut text = String::with_capacity(32);
        utc::push_clock(&mut text, local_ms);
        let (sign, offset) = if offset < 0 {
            ('-', -offset)
        } else {
            ('+', offset)
        };
        text.push(sign);
        let offset = i64::from(offset);
        utc::push_digits(&mut text, offset / 3_600, 2);
        text.push(':');
        utc::push_digits(&mut text, offset / 60 % 60, 2);
        if offset % 60 != 0 {
            // Local mean times before standard time, e.g. Amsterdam's +00:19:32.
            text.push(':');
            utc::push_digits(&mut text, offset % 60, 2);
        }
        text
    }

    /// Whether the store's daily tables, kept in `store_zone`, can answer for this zone.
    pub fn same_as(&self, store_zone: &TimeZone) -> bool {
        match (&self.name, store_zone.iana_name()) {
            (Some(a), Some(b)) => a == b || (is_utc(a) && is_utc(b)),
            _ => false,
        }
    }
}

fn is_utc(name: &str) -> bool {
    matches!(
        name,
        "UTC" | "Etc/UTC" | "Etc/Universal" | "Universal" | "Etc/Zulu" | "Zulu" | "GMT" | "Etc/GMT"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_print_with_the_zone_offset() {
        // 2026-03-08T07:30Z: 16:30 in Tokyo, 03:30 EDT in New York (the clocks moved at 07:00Z).
        let ms = 1_772_955_000_000;
        let at = |z: &str| Zone::resolve(Some(z)).unwrap().rfc3339(ms);
        assert_eq!(at("Asia/Tokyo"), "2026-03-08T16:30:00.000+09:00");
        assert_eq!(at("America/New_York"), "2026-03-08T03:30:00.000-04:00");
        assert_eq!(at("UTC"), "2026-03-08T07:30:00.000+00:00");
    }

    proptest::proptest! {
        #[test]
        fn instants_print_as_the_time_library_prints_them(
            ms in ctm_model::utc::EARLIEST_MS..=ctm_model::utc::FACTS_END_MS,
            zone in proptest::sample::select(vec![
                "UTC", "Asia/Kolkata", "America/New_York", "Europe/Amsterdam",
                "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns", "Asia/Kathmandu",
                "Pacific/Kiritimati", "Pacific/Pago_Pago", "Africa/Monrovia",
            ]),
        ) {
            let z = Zone::resolve(Some(zone)).unwrap();
            proptest::prop_assert_eq!(
                z.rfc3339(ms),
                z.zoned(ms).strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
            );
        }
    }
}
