//! Query parameters, checked: an unknown, repeated or malformed one is a 400 that names it.

use std::collections::BTreeMap;

use ctm_analytics::{parse_date, Filter, Order, ReportQuery, Zone};
use jiff::civil::Weekday;

use crate::error::ApiError;

/// The parameters every report takes: `since`, `until`, `tz`, `order`, `project`, `model`.
pub const REPORT: &[&str] = &["since", "until", "tz", "order", "project", "model"];

/// A request's query parameters, each at most once and each one the route knows.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Checks the pairs against the names the route accepts (`REPORT` plus `extra`).
    pub fn check(
        pairs: Vec<(String, String)>,
        report: bool,
        extra: &[&str],
    ) -> Result<Params, ApiError> {
        let mut values = BTreeMap::new();
        for (k, v) in pairs {
            let known = (report && REPORT.contains(&k.as_str())) || extra.contains(&k.as_str());
            if !known {
                let mut accepted: Vec<&str> = if report { REPORT.to_vec() } else { Vec::new() };
                accepted.extend_from_slice(extra);
                let list = if accepted.is_empty() {
                    "none".to_owned()
                } else {
                    accepted.join(", ")
                };
                return Err(ApiError::param(
                    &k,
                    format!("unknown parameter {k:?}; this route accepts: {list}"),
                ));
            }
            if values.insert(k.clone(), v).is_some() {
                return Err(ApiError::param(
                    &k,
                    format!("parameter {k:?} is given twice"),
                ));
            }
        }
        Ok(Params { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The shared report options; `default_zone` when `tz` is absent.
    pub fn report_query(&self, default_zone: &Zone) -> Result<ReportQuery, ApiError> {
        let zone = match self.get("tz") {
            None | Some("") => default_zone.clone(),
            Some(name) => {
                Zone::resolve(Some(name)).map_err(|m| ApiError::param("tz", format!("tz: {m}")))?
            }
        };
        let date = |name: &str| -> Result<_, ApiError> {
            match self.get(name) {
                None | Some("") => Ok(None),
                Some(s) => parse_date(s).map(Some).ok_or_else(|| {
                    ApiError::param(
                        name,
                        format!("{name} {s:?} is not a date; use YYYY-MM-DD or YYYYMMDD"),
                    )
                }),
            }
        };
        let (since, until) = (date("since")?, date("until")?);
        if let (Some(s), Some(u)) = (since, until) {
            if s > u {
                return Err(ApiError::param(
                    "since",
                    format!("since {s} is after until {u}"),
                ));
            }
        }
        Ok(ReportQuery {
            zone,
            since,
            until,
            order: self.order()?.unwrap_or_default(),
            filter: Filter::new(self.get("project"), self.get("model")),
        })
    }

    /// `order=asc|desc`, if given.
    pub fn order(&self) -> Result<Option<Order>, ApiError> {
        match self.get("order") {
            None | Some("") => Ok(None),
            Some("asc") => Ok(Some(Order::Asc)),
            Some("desc") => Ok(Some(Order::Desc)),
            Some(s) => Err(ApiError::param(
                "order",
                format!("order {s:?} is neither asc nor desc"),
            )),
        }
    }

    /// A whole number in `lo..=hi`, or `default` when absent.
    pub fn number(&self, name: &str, default: u64, lo: u64, hi: u64) -> Result<u64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => match s.parse::<u64>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => Err(ApiError::param(
                    name,
                    format!("{name} {s:?} is not a whole number from {lo} to {hi}"),
                )),
            },
        }
    }

    /// `true`/`false` (also `1`/`0`), `false` when absent.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(s) => Err(ApiError::param(
                name,
                format!("{name} {s:?} is neither true nor false"),
            )),
        }
    }

    /// One of `choices`, or `default` when absent.
    pub fn choice<'a>(
        &self,
        name: &str,
        choices: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => choices.iter().find(|c| **c == s).copied().ok_or_else(|| {
                ApiError::param(
                    name,
                    format!("{name} {s:?} is not one of: {}", choices.join(", ")),
                )
            }),
        }
    }

    /// `start_of_week`, Monday unless told.
    pub fn start_of_week(&self) -> Result<Weekday, ApiError> {
        const DAYS: [&str; 7] = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ];
        let day = self.choice("start_of_week", &DAYS, "monday")?;
        Ok(match day {
            "tuesday" => Weekday::Tuesday,
            "wednesday" => Weekday::Wednesday,
            "thursday" => Weekday::Thursday,
            "friday" => Weekday::Friday,
            "saturday" => Weekday::Saturday,
            "sunday" => Weekday::Sunday,
            _ => Weekday::Monday,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_repeated_and_malformed_parameters_are_named() {
        let e = Params::check(pairs(&[("sinse", "2026-01-01")]), true, &[]).unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("sinse"));
        let e = Params::check(pairs(&[("tz", "UTC"), ("tz", "UTC")]), true, &[]).unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("tz"));
        let zone = Zone::utc();
        for (name, value) in [
            ("since", "2026-13-01"),
            ("until", "yesterday"),
            ("tz", "Mars/Olympus"),
            ("order", "up"),
        ] {
            let p = Params::check(pairs(&[(name, value)]), true, &[]).unwrap();
            let e = p.report_query(&zone).unwrap_err();
            assert_eq!(e.parameter.as_deref(), Some(name), "{name}");
        }
        let p = Params::check(
            pairs(&[("since", "20260212"), ("until", "2026-02-11")]),
            true,
            &[],
        )
        .unwrap();
        assert_eq!(
            p.report_query(&zone).unwrap_err().parameter.as_deref(),
            Some("since")
        );
    }

    #[test]
    fn good_parameters_make_the_report_query() {
        let p = Params::check(
            pairs(&[
                ("since", "20260210"),
                ("until", "2026-02-12"),
                ("tz", "Asia/Tokyo"),
                ("order", "desc"),
                ("limit", "5"),
            ]),
            true,
            &["limit"],
        )
        .unwrap();
        let q = p.report_query(&Zone::utc()).unwrap();
        assert_eq!(q.since.unwrap().to_string(), "2026-02-10");
        assert_eq!(q.until.unwrap().to_string(), "2026-02-12");
        assert_eq!(q.zone.label(), "Asia/Tokyo");
        assert_eq!(q.order, Order::Desc);
        assert_eq!(p.number("limit", 10, 1, 100).unwrap(), 5);
        assert!(p.number("limit", 10, 6, 100).is_err());
    }
}
