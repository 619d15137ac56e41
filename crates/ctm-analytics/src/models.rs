//! `ctm models`: each model's share of the tokens and the cost (seed 004, query 6.2).

use std::collections::BTreeMap;

use ctm_aggregate::{Fact, Names, Sums};
use ctm_store::Store;
use serde::Serialize;

use crate::days;
use crate::query::ReportQuery;
use crate::usage::Totals;
use crate::AnalyticsError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRow {
    pub model: String,
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    /// This model's tokens / all tokens, 0 to 1.
    pub token_share: f64,
    pub total_cost: f64,
    /// This model's cost / all cost, 0 to 1.
    pub cost_share: f64,
    /// cache read / (cache write + cache read).
    pub cache_hit_rate: f64,
    /// False when the model has no price: its cost is unknown, not zero.
    pub priced: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelReport {
    /// Most expensive first.
    pub models: Vec<ModelRow>,
    pub totals: Totals,
    pub timezone: String,
}

/// From the per-day, per-model sums (the store's daily tables when they hold exactly what
/// the facts would give, else the rollup).
pub fn model_report(store: &Store, q: &ReportQuery) -> Result<ModelReport, AnalyticsError> {
    Ok(model_report_of(
        days::model_days_equal_to_facts(store, q)?,
        q,
    ))
}

/// The models report of per-model days read elsewhere (the team database's).
pub fn model_report_of(days: Vec<days::ModelDay>, q: &ReportQuery) -> ModelReport {
    let mut models: BTreeMap<String, Sums> = BTreeMap::new();
    for (_, day) in days {
        for (model, sums) in day {
            models.entry(model).or_default().add(&sums);
        }
    }
    let all = total(&models);
    ModelReport {
        models: rows_of_models(&models, &all),
        totals: Totals::from(&all),
        timezone: q.zone.label(),
    }
}

/// One row per model of these facts, most expensive first.
pub fn model_rows(facts: &[Fact], names: &Names) -> Vec<ModelRow> {
    let mut models: BTreeMap<String, Sums> = BTreeMap::new();
    for f in facts {
        models
            .entry(names.model_label(f.model).to_owned())
            .or_default()
            .add(&f.sums);
    }
    rows_of_models(&models, &total(&models))
}

fn total(models: &BTreeMap<String, Sums>) -> Sums {
    let mut all = Sums::default();
    for s in models.values() {
        all.add(s);
    }
    all
}

/// One row per model, most expensive first; shares are of `all`.
fn rows_of_models(models: &BTreeMap<String, Sums>, all: &Sums) -> Vec<ModelRow> {
    let share = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
    let mut rows: Vec<ModelRow> = models
        .iter()
        .map(|(model, s)| ModelRow {
            model: model.to_owned(),
            responses: s.responses,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_creation_tokens: s.cache_creation_tokens(),
            cache_read_tokens: s.cache_read_tokens,
            total_tokens: s.total_tokens(),
            token_share: share(s.total_tokens() as f64, all.total_tokens() as f64),
            total_cost: s.cost_usd(),
            cost_share: share(s.cost_usd(), all.cost_usd()),
            cache_hit_rate: s.hit_rate(),
            priced: s.unpriced_responses == 0,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.total_cost
            .total_cmp(&a.total_cost)
            .then_with(|| b.total_tokens.cmp(&a.total_tokens))
            .then_with(|| a.model.cmp(&b.model))
    });
    rows
}
