//! The time zone a report is in.

use jiff::tz::TimeZone;

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
