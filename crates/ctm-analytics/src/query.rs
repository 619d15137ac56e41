//! What every report is asked: a zone, a range of days, an order, and filters.

use ctm_store::derive::{self, FactRow};
use std::collections::HashMap;

use jiff::civil::Date;
use rusqlite::Connection;

use crate::{AnalyticsError, Order, Zone};

/// `--project` and `--model`: case-insensitive substrings of a response's project path
/// (its cwd) and model. A response without the field never matches a set filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    project: Option<String>,
    model: Option<String>,
}

impl Filter {
    /// Empty strings filter nothing.
    pub fn new(project: Option<&str>, model: Option<&str>) -> Filter {
        let needle = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_lowercase);
        Filter {
            project: needle(project),
            model: needle(model),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.project.is_none() && self.model.is_none()
    }

    /// " matching --project X --model Y", or nothing without filters.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.project {
            parts.push(format!("--project {p}"));
        }
        if let Some(m) = &self.model {
            parts.push(format!("--model {m}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" matching {}", parts.join(" "))
        }
    }

    pub fn matches(&self, f: &FactRow) -> bool {
        self.matches_project(f.project_path.as_deref()) && self.matches_model(f.model.as_deref())
    }

    /// Whether `--project` is set.
    pub fn filters_projects(&self) -> bool {
        self.project.is_some()
    }

    /// Whether `--model` is set.
    pub fn filters_models(&self) -> bool {
        self.model.is_some()
    }

    /// Whether a project path passes `--project`.
    pub fn matches_project(&self, project: Option<&str>) -> bool {
        contains(project, self.project.as_deref())
    }

    /// Whether a model passes `--model`.
    pub fn matches_model(&self, model: Option<&str>) -> bool {
        contains(model, self.model.as_deref())
    }
}

fn contains(value: Option<&str>, needle: Option<&str>) -> bool {
    match needle {
        None => true,
        Some(n) => value.is_some_and(|v| v.to_lowercase().contains(n)),
    }
}

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

impl ReportQuery {
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
        if let (Some(s), Some(u)) = (self.since, self.until) {
            if s > u {
                return Err(AnalyticsError::Invalid(format!(
                    "--since {s} is after --until {u}"
                )));
            }
        }
        let lo = match self.since {
            Some(d) => derive::day_bounds(d, &self.zone.tz)?.0,
            None => i64::MIN,
        };
        let hi = match self.until {
            Some(d) => derive::day_bounds(d, &self.zone.tz)?.1,
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
    pub(crate) fn reads_daily_tables(&self, conn: &Connection) -> Result<bool, AnalyticsError> {
        Ok(self.filter.is_empty() && self.zone.same_as(&derive::store_zone(conn)?))
    }

    /// The daily tables hold exactly what the facts would give: they can answer, and the
    /// query does not reach before the prune horizon (where they keep days whose facts
    /// are gone, which a report made from responses must not show).
    pub(crate) fn daily_tables_equal_facts(
        &self,
        conn: &Connection,
    ) -> Result<bool, AnalyticsError> {
        Ok(self.reads_daily_tables(conn)? && pruned_before(conn, self, false)?.is_none())
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
    conn: &Connection,
    q: &ReportQuery,
    per_day: bool,
) -> Result<Option<Date>, AnalyticsError> {
    let Some(kept) = derive::Kept::of(conn)? else {
        return Ok(None);
    };
    if per_day && q.reads_daily_tables(conn)? {
        return Ok(None);
    }
    let (lo, _) = q.bounds()?;
    Ok((lo < kept.horizon_ms).then_some(kept.first_day))
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
pub fn last_response_ms(conn: &Connection) -> Result<Option<i64>, AnalyticsError> {
    Ok(conn
        .prepare_cached("SELECT max(ts) FROM billed_responses")?
        .query_row([], |r| r.get(0))?)
}

/// The billed facts the query selects (its days, its filters), oldest first.
pub fn facts(conn: &Connection, q: &ReportQuery) -> Result<Vec<FactRow>, AnalyticsError> {
    let (lo, hi) = q.bounds()?;
    facts_between(conn, &q.filter, lo, hi)
}

/// The billed facts with `lo <= ts < hi` (UTC epoch ms) that `filter` keeps, oldest first.
pub fn facts_between(
    conn: &Connection,
    filter: &Filter,
    lo: i64,
    hi: i64,
) -> Result<Vec<FactRow>, AnalyticsError> {
    if filter.is_empty() {
        return Ok(derive::facts_between(conn, lo, hi)?);
    }
    Ok(derive::facts_between_where(conn, lo, hi, keep(filter))?)
}

/// [`facts`], handed to `visit` one at a time: memory stays flat whatever the range.
pub fn for_each_fact<E>(
    conn: &Connection,
    q: &ReportQuery,
    visit: impl FnMut(FactRow) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<AnalyticsError> + From<rusqlite::Error>,
{
    let (lo, hi) = q.bounds()?;
    derive::for_each_fact_between(conn, lo, hi, keep(&q.filter), visit)
}

/// The filter as the fact readers take it. Each distinct project path and model is
/// matched once: a history has a few dozen of them across its hundreds of thousands of
/// facts.
fn keep(filter: &Filter) -> impl FnMut(Option<&str>, Option<&str>) -> bool + Clone + Send + Sync {
    let mut projects = HashMap::new();
    let mut models = HashMap::new();
    let (project_needle, model_needle) = (filter.project.clone(), filter.model.clone());
    move |project, model| {
        contains_memo(&mut projects, project, project_needle.as_deref())
            && contains_memo(&mut models, model, model_needle.as_deref())
    }
}

/// [`contains`], remembering its answer for each value.
fn contains_memo(
    seen: &mut HashMap<String, bool>,
    value: Option<&str>,
    needle: Option<&str>,
) -> bool {
    match value {
        Some(v) => match seen.get(v) {
            Some(&m) => m,
            None => *seen
                .entry(v.to_owned())
                .or_insert_with(|| contains(Some(v), needle)),
        },
        None => contains(None, needle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_store::derive::Sums;

    fn fact(project: Option<&str>, model: Option<&str>) -> FactRow {
        FactRow {
            id: 0,
            ts: 0,
            session_id: None,
            project_path: project.map(Into::into),
            model: model.map(Into::into),
            sums: Sums::default(),
        }
    }

    #[test]
    fn filters_are_case_insensitive_substrings() {
        let f = Filter::new(Some("Alpha"), Some("OPUS"));
        assert!(f.matches(&fact(Some("/work/alpha"), Some("claude-opus-4-6"))));
        assert!(!f.matches(&fact(Some("/work/beta"), Some("claude-opus-4-6"))));
        assert!(!f.matches(&fact(None, Some("claude-opus-4-6"))));
        assert!(!f.matches(&fact(Some("/work/alpha"), None)));
        assert!(Filter::new(Some(""), None).is_empty());
        assert!(Filter::default().matches(&fact(None, None)));
    }

    #[test]
    fn a_remembered_answer_is_the_answer() {
        let mut seen = HashMap::new();
        for _ in 0..2 {
            assert!(contains_memo(&mut seen, Some("/w/ÉTÉ-app"), Some("été")));
            assert!(!contains_memo(&mut seen, Some("/w/beta"), Some("été")));
            assert!(!contains_memo(&mut seen, None, Some("été")));
            assert!(contains_memo(&mut seen, None, None));
        }
        assert_eq!(seen.len(), 2);
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
