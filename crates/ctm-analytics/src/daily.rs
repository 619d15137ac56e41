//! `ctm daily`: one row per day in the report's zone.

use std::collections::BTreeMap;

use ctm_store::derive::{self, Sums};
use jiff::civil::Date;
use rusqlite::Connection;
use serde::Serialize;

use crate::{AnalyticsError, Order, Zone};

#[derive(Debug, Clone)]
pub struct DailyQuery {
    pub zone: Zone,
    pub since: Option<Date>,
    pub until: Option<Date>,
    pub order: Order,
}

/// Per-model figures of one row (ccusage's `modelBreakdowns`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelBreakdown {
    pub model_name: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub cost: f64,
    pub responses: u64,
    /// False when the model has no price: `cost` is 0 and unknown, not free.
    pub priced: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyRow {
    pub date: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
    pub models_used: Vec<String>,
    pub model_breakdowns: Vec<ModelBreakdown>,
    pub responses: u64,
    /// Responses whose model has no price; when non-zero `totalCost` is incomplete.
    pub unpriced_responses: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
    pub responses: u64,
    pub unpriced_responses: u64,
}

impl Totals {
    fn add(&mut self, r: &DailyRow) {
        self.input_tokens += r.input_tokens;
        self.output_tokens += r.output_tokens;
        self.cache_creation_tokens += r.cache_creation_tokens;
        self.cache_read_tokens += r.cache_read_tokens;
        self.total_tokens += r.total_tokens;
        self.total_cost += r.total_cost;
        self.responses += r.responses;
        self.unpriced_responses += r.unpriced_responses;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyReport {
    pub daily: Vec<DailyRow>,
    pub totals: Totals,
    pub timezone: String,
    /// Models without a price in this report: their tokens count, their cost is unknown.
    pub unpriced_models: Vec<String>,
}

/// Builds the daily report: from the store's daily tables when they are kept in the
/// report's zone, else from the facts.
pub fn daily_report(conn: &Connection, q: &DailyQuery) -> Result<DailyReport, AnalyticsError> {
    if let (Some(s), Some(u)) = (q.since, q.until) {
        if s > u {
            return Err(AnalyticsError::Invalid(format!(
                "--since {s} is after --until {u}"
            )));
        }
    }
    let store_zone = derive::store_zone(conn)?;
    let days = if q.zone.same_as(&store_zone) {
        from_daily_aggregates(conn, q)?
    } else {
        let lo = match q.since {
            Some(d) => derive::day_bounds(d, &q.zone.tz)?.0,
            None => i64::MIN,
        };
        let hi = match q.until {
            Some(d) => derive::day_bounds(d, &q.zone.tz)?.1,
            None => i64::MAX,
        };
        derive::aggregate_days(&derive::facts_between(conn, lo, hi)?, &q.zone.tz)
            .into_values()
            .map(|d| (d.date, d.models))
            .collect()
    };
    let mut daily: Vec<DailyRow> = days
        .into_iter()
        .map(|(date, models)| row(date, &models))
        .collect();
    if q.order == Order::Desc {
        daily.reverse();
    }
    let mut totals = Totals::default();
    let mut unpriced = std::collections::BTreeSet::new();
    for r in &daily {
        totals.add(r);
        unpriced.extend(
            r.model_breakdowns
                .iter()
                .filter(|m| !m.priced)
                .map(|m| m.model_name.clone()),
        );
    }
    Ok(DailyReport {
        daily,
        totals,
        timezone: q.zone.name.clone().unwrap_or_else(|| "local".into()),
        unpriced_models: unpriced.into_iter().collect(),
    })
}

fn row(date: Date, models: &BTreeMap<String, Sums>) -> DailyRow {
    let mut day = Sums::default();
    for s in models.values() {
        day.add(s);
    }
    let mut breakdowns: Vec<ModelBreakdown> = models
        .iter()
        .map(|(m, s)| ModelBreakdown {
            model_name: m.clone(),
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_creation_tokens: s.cache_creation_tokens(),
            cache_read_tokens: s.cache_read_tokens,
            cost: s.cost_usd,
            responses: s.responses,
            priced: s.unpriced_responses == 0,
        })
        .collect();
    breakdowns.sort_by(|a, b| {
        b.cost
            .total_cmp(&a.cost)
            .then_with(|| a.model_name.cmp(&b.model_name))
    });
    DailyRow {
        date: date.to_string(),
        input_tokens: day.input_tokens,
        output_tokens: day.output_tokens,
        cache_creation_tokens: day.cache_creation_tokens(),
        cache_read_tokens: day.cache_read_tokens,
        total_tokens: day.total_tokens(),
        total_cost: day.cost_usd,
        models_used: models.keys().cloned().collect(),
        model_breakdowns: breakdowns,
        responses: day.responses,
        unpriced_responses: day.unpriced_responses,
    }
}

/// Per-model sums of one day.
type ModelDay = (Date, BTreeMap<String, Sums>);

/// Reads the materialised days back into per-model sums.
fn from_daily_aggregates(
    conn: &Connection,
    q: &DailyQuery,
) -> Result<Vec<ModelDay>, AnalyticsError> {
    let since = q
        .since
        .map_or_else(|| "0000-00-00".to_owned(), |d| d.to_string());
    let until = q
        .until
        .map_or_else(|| "9999-99-99".to_owned(), |d| d.to_string());
    let mut stmt = conn.prepare_cached(
        "SELECT date, model_breakdown FROM daily_aggregates WHERE date >= ?1 AND date <= ?2 ORDER BY date",
    )?;
    let mut rows = stmt.query([since, until])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let date: String = r.get(0)?;
        let json: Option<String> = r.get(1)?;
        let date: Date = date
            .parse()
            .map_err(|e| AnalyticsError::Invalid(format!("daily_aggregates date {date:?}: {e}")))?;
        let breakdown = parse_breakdown(json.as_deref().unwrap_or("{}")).map_err(|e| {
            AnalyticsError::Invalid(format!("daily_aggregates {date} model_breakdown: {e}"))
        })?;
        out.push((date, breakdown));
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredBreakdown {
    cost: f64,
    responses: u64,
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_tokens: u64,
    cache_read_tokens: u64,
    #[serde(default)]
    unpriced_responses: u64,
}

fn parse_breakdown(json: &str) -> Result<BTreeMap<String, Sums>, serde_json::Error> {
    let map: BTreeMap<String, StoredBreakdown> = serde_json::from_str(json)?;
    Ok(map
        .into_iter()
        .map(|(m, b)| {
            (
                m,
                Sums {
                    responses: b.responses,
                    input_tokens: b.input_tokens,
                    output_tokens: b.output_tokens,
                    // The daily table keeps writes as one figure; reports show them as one.
                    cache_write_5m_tokens: b.cache_creation_tokens,
                    cache_read_tokens: b.cache_read_tokens,
                    cost_usd: b.cost,
                    unpriced_responses: b.unpriced_responses,
                    ..Sums::default()
                },
            )
        })
        .collect())
}
