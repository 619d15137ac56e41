//! What every report is asked: a zone, a range of days, an order, and filters.

use ctm_aggregate::{Filter, SlotRow};
use ctm_store::Store;
use jiff::civil::Date;

use crate::{AnalyticsError, Order, Zone};

/// The options every report shares.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub zone: Zone,
    /// First local day included.
    pub since: Option<Date>,
    /// Last local day included.
    pub until: Option<Date>,
    pub order: Order,
    pub filter: Filter,
}

/// The options every report shares, as text, the way a front end receives them
/// (`--timezone`, `--since`, ... on the command line; a tool's arguments in `ctm mcp`).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryText<'a> {
    /// An IANA zone; none: the system's.
    pub timezone: Option<&'a str>,
    /// `YYYY-MM-DD` or `YYYYMMDD`.
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub order: Order,
    pub project: Option<&'a str>,
    pub model: Option<&'a str>,
}

impl ReportQuery {
    /// The options checked, with the one-line messages every front end shows for a bad
    /// zone, a malformed day or a range that ends before it starts.
    pub fn parse(t: &QueryText) -> Result<ReportQuery, AnalyticsError> {
        let zone = Zone::resolve(t.timezone).map_err(AnalyticsError::Invalid)?;
        let day = |flag: &str, s: Option<&str>| {
            s.map(|s| {
                parse_date(s).ok_or_else(|| {
                    AnalyticsError::Invalid(format!(
                        "{flag} {s:?} is not a date; use YYYY-MM-DD or YYYYMMDD"
                    ))
                })
            })
            .transpose()
        };
        let q = ReportQuery {
            zone,
            since: day("--since", t.since)?,
            until: day("--until", t.until)?,
            order: t.order,
            filter: Filter::new(t.project, t.model),
        };
        q.check_range()?;
        Ok(q)
    }

    /// `--since` is not after `--until`.
    fn check_range(&self) -> Result<(), AnalyticsError> {
        match (self.since, self.until) {
            (Some(s), Some(u)) if s > u => Err(AnalyticsError::Invalid(format!(
                "--since {s} is after --until {u}"
            ))),
            _ => Ok(()),
        }
    }

    /// Every day, oldest first, unfiltered.
    pub fn in_zone(zone: Zone) -> ReportQuery {
        ReportQuery {
            zone,
            since: None,
            until: None,
            order: Order::Asc,
            filter: Filter::default(),
        }
    }

    /// `[lo, hi)` in UTC epoch ms covering the query's local days.
    pub fn bounds(&self) -> Result<(i64, i64), AnalyticsError> {
        self.check_range()?;
        let day = |d: Date| {
            ctm_aggregate::day_bounds(d, &self.zone.tz)
                .ok_or_else(|| AnalyticsError::Invalid(format!("date {d} is out of range")))
        };
        let lo = match self.since {
            Some(d) => day(d)?.0,
            None => i64::MIN,
        };
        let hi = match self.until {
            Some(d) => day(d)?.1,
            None => i64::MAX,
        };
        Ok((lo, hi))
    }

    /// Whether a local day is inside `--since`/`--until`.
    pub fn includes_day(&self, d: Date) -> bool {
        self.since.is_none_or(|s| d >= s) && self.until.is_none_or(|u| d <= u)
    }

    /// The store's daily tables can answer: they are kept in this zone and nothing is
    /// filtered out of them.
    pub(crate) fn reads_daily_tables(&self, store: &Store) -> Result<bool, AnalyticsError> {
        Ok(self.filter.is_empty() && self.zone.same_as(&store.zone()?))
    }

    /// The daily tables hold exactly what the facts would give: they can answer, and the
    /// query does not reach before the prune horizon (where they keep days whose facts
    /// are gone, which a report made from responses must not show).
    pub(crate) fn daily_tables_equal_facts(&self, store: &Store) -> Result<bool, AnalyticsError> {
        Ok(self.reads_daily_tables(store)? && pruned_before(store, self, false)?.is_none())
    }

    /// Rows built oldest first, in the requested order.
    pub fn arrange<T>(&self, rows: &mut [T]) {
        if self.order == Order::Desc {
            rows.reverse();
        }
    }
}

/// The first day (in the store's zone) whose responses the store still has, when `ctm db
/// prune --facts-older-than` deleted earlier ones and the query reaches before it. A
/// per-day report (`per_day`) that reads the store's daily tables still has those days
/// (they are kept), so it gets `None`; every report computed from the facts gets the day.
pub fn pruned_before(
    store: &Store,
    q: &ReportQuery,
    per_day: bool,
) -> Result<Option<Date>, AnalyticsError> {
    let Some(horizon) = store.horizon()? else {
        return Ok(None);
    };
    if per_day && q.reads_daily_tables(store)? {
        return Ok(None);
    }
    let (lo, _) = q.bounds()?;
    Ok((lo < horizon.horizon_ms).then_some(horizon.first_day))
}

/// A local day written `YYYY-MM-DD` or `YYYYMMDD` (ccusage's form), as every front end
/// accepts it.
pub fn parse_date(s: &str) -> Option<Date> {
    let normalized = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..])
    } else {
        s.to_owned()
    };
    normalized.parse().ok()
}

/// When the latest billed response happened (UTC epoch ms), if the store holds any: what
/// a report with no rows names as the last usage.
pub fn last_response_ms(store: &Store) -> Result<Option<i64>, AnalyticsError> {
    Ok(store.last_billed_ms()?)
}

/// The rollup rows of the query's days and filters, exact for its zone's days and hours.
pub fn rows(store: &Store, q: &ReportQuery) -> Result<Vec<SlotRow>, AnalyticsError> {
    let (lo, hi) = q.bounds()?;
    Ok(store.usage_rows(lo, hi, &q.filter, Some(&q.zone.tz))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_with_the_messages_every_front_end_shows() {
        let parse = |t: QueryText| ReportQuery::parse(&t).map_err(|e| e.to_string());
        for text in ["2026-02-10", "20260210"] {
            let q = parse(QueryText {
                since: Some(text),
                timezone: Some("Europe/Paris"),
                ..QueryText::default()
            })
            .unwrap();
            assert_eq!(q.since.unwrap().to_string(), "2026-02-10");
            assert_eq!(q.zone.label(), "Europe/Paris");
        }
        let err = |t: QueryText| parse(t).unwrap_err();
        assert_eq!(
            err(QueryText {
                since: Some("yesterday"),
                ..QueryText::default()
            }),
            r#"--since "yesterday" is not a date; use YYYY-MM-DD or YYYYMMDD"#
        );
        assert!(err(QueryText {
            until: Some("2026-13-01"),
            ..QueryText::default()
        })
        .starts_with("--until \"2026-13-01\" is not a date"));
        assert_eq!(
            err(QueryText {
                timezone: Some("Mars/Olympus"),
                ..QueryText::default()
            }),
            r#"unknown time zone "Mars/Olympus"; use an IANA name such as Europe/Paris or UTC"#
        );
        assert_eq!(
            err(QueryText {
                since: Some("2026-02-11"),
                until: Some("2026-02-10"),
                ..QueryText::default()
            }),
            "--since 2026-02-11 is after --until 2026-02-10"
        );
    }

    #[test]
    fn bounds_follow_the_zone_and_refuse_a_reversed_range() {
        let mut q = ReportQuery::in_zone(Zone::resolve(Some("Asia/Tokyo")).unwrap());
        q.since = Some(Date::constant(2026, 3, 8));
        q.until = Some(Date::constant(2026, 3, 8));
        // 2026-03-08 in Tokyo is 2026-03-07T15:00Z .. 2026-03-08T15:00Z.
        let lo = 1_772_895_600_000;
        assert_eq!(q.bounds().unwrap(), (lo, lo + 24 * 3_600_000));
        q.since = Some(Date::constant(2026, 3, 9));
        assert!(q.bounds().is_err());
    }
}
