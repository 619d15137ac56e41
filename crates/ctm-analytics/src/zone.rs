//! The time zone a report is in.

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
        self.zoned(ms)
            .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string()
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
}
