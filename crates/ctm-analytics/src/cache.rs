//! `ctm cache`: per day, what was written to and read from the prompt cache, the hit
//! rate and what caching saved (docs/definitions.md, from the facts).

use ctm_aggregate::Sums;
use ctm_store::Store;
use serde::Serialize;

use crate::days::day_sums;
use crate::query::ReportQuery;
use crate::AnalyticsError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheFigures {
    pub responses: u64,
    pub input_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    /// cache read / (cache write + cache read).
    pub hit_rate: f64,
    /// What the cached tokens would have cost as plain input, minus what they cost.
    pub cache_savings_usd: f64,
    pub total_cost: f64,
}

impl From<&Sums> for CacheFigures {
    fn from(s: &Sums) -> CacheFigures {
        CacheFigures {
            responses: s.responses,
            input_tokens: s.input_tokens,
            cache_creation_tokens: s.cache_creation_tokens(),
            cache_read_tokens: s.cache_read_tokens,
            hit_rate: s.hit_rate(),
            cache_savings_usd: s.cache_savings_usd(),
            total_cost: s.cost_usd(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheDay {
    pub date: String,
    #[serde(flatten)]
    pub figures: CacheFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheReport {
    pub days: Vec<CacheDay>,
    pub totals: CacheFigures,
    pub timezone: String,
}

pub fn cache_report(store: &Store, q: &ReportQuery) -> Result<CacheReport, AnalyticsError> {
    let mut all = Sums::default();
    let mut days: Vec<CacheDay> = day_sums(store, q)?
        .into_iter()
        .map(|(date, sums)| {
            all.add(&sums);
            CacheDay {
                date: date.to_string(),
                figures: CacheFigures::from(&sums),
            }
        })
        .collect();
    q.arrange(&mut days);
    Ok(CacheReport {
        days,
        totals: CacheFigures::from(&all),
        timezone: q.zone.label(),
    })
}
