//! The figures a usage row carries (a day, a week, a session...), with ccusage's names.
//! Costs are shown in dollars and summed in nano-dollars, so a total is the same to the
//! last digit whatever it was added up from.

use std::collections::{BTreeMap, BTreeSet};

use ctm_aggregate::{usd_of_nanos, Sums};
use serde::Serialize;

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

/// Tokens, cost and models of one row of a period report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
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
    /// `total_cost` in nano-dollars, what totals add.
    #[serde(skip)]
    pub cost_nanos: i64,
    /// False when `unpricedResponses` is not 0: `totalCost` leaves them out (tables show
    /// it marked, or "-" when nothing had a price), so scripts that sum keep a number.
    pub priced: bool,
}

impl Default for Usage {
    fn default() -> Usage {
        Usage::from_models(&BTreeMap::new())
    }
}

impl Usage {
    /// A row from its per-model sums; breakdowns most expensive first.
    pub fn from_models(models: &BTreeMap<String, Sums>) -> Usage {
        let mut all = Sums::default();
        for s in models.values() {
            all.add(s);
        }
        let mut breakdowns: Vec<ModelBreakdown> = models
            .iter()
            .map(|(m, s)| ModelBreakdown {
                model_name: m.clone(),
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cache_creation_tokens: s.cache_creation_tokens(),
                cache_read_tokens: s.cache_read_tokens,
                cost: s.cost_usd(),
                responses: s.responses,
                priced: s.unpriced_responses == 0,
            })
            .collect();
        breakdowns.sort_by(|a, b| {
            b.cost
                .total_cmp(&a.cost)
                .then_with(|| a.model_name.cmp(&b.model_name))
        });
        Usage {
            input_tokens: all.input_tokens,
            output_tokens: all.output_tokens,
            cache_creation_tokens: all.cache_creation_tokens(),
            cache_read_tokens: all.cache_read_tokens,
            total_tokens: all.total_tokens(),
            total_cost: all.cost_usd(),
            models_used: models.keys().cloned().collect(),
            model_breakdowns: breakdowns,
            responses: all.responses,
            unpriced_responses: all.unpriced_responses,
            cost_nanos: all.cost_nanos,
            priced: all.unpriced_responses == 0,
        }
    }

    /// The hit rate of docs/definitions.md: cache read / (cache write + cache read).
    pub fn hit_rate(&self) -> f64 {
        hit_rate(self.cache_creation_tokens, self.cache_read_tokens)
    }
}

/// The sums of a whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// `total_cost` in nano-dollars, what is added.
    #[serde(skip)]
    pub cost_nanos: i64,
    /// False when `unpricedResponses` is not 0 (see [`Usage::priced`]).
    pub priced: bool,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals::from(&Sums::default())
    }
}

impl Totals {
    pub fn add(&mut self, u: &Usage) {
        self.input_tokens += u.input_tokens;
        self.output_tokens += u.output_tokens;
        self.cache_creation_tokens += u.cache_creation_tokens;
        self.cache_read_tokens += u.cache_read_tokens;
        self.total_tokens += u.total_tokens;
        self.cost_nanos += u.cost_nanos;
        self.total_cost = usd_of_nanos(self.cost_nanos);
        self.responses += u.responses;
        self.unpriced_responses += u.unpriced_responses;
        self.priced = self.unpriced_responses == 0;
    }

    /// The hit rate of docs/definitions.md over the whole report.
    pub fn hit_rate(&self) -> f64 {
        hit_rate(self.cache_creation_tokens, self.cache_read_tokens)
    }
}

/// `Sums::hit_rate` for figures already split out of their sums.
fn hit_rate(cache_write: u64, cache_read: u64) -> f64 {
    Sums {
        cache_write_5m_tokens: cache_write,
        cache_read_tokens: cache_read,
        ..Sums::default()
    }
    .hit_rate()
}

impl From<&Sums> for Totals {
    fn from(s: &Sums) -> Totals {
        Totals {
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_creation_tokens: s.cache_creation_tokens(),
            cache_read_tokens: s.cache_read_tokens,
            total_tokens: s.total_tokens(),
            total_cost: s.cost_usd(),
            responses: s.responses,
            unpriced_responses: s.unpriced_responses,
            cost_nanos: s.cost_nanos,
            priced: s.unpriced_responses == 0,
        }
    }
}

/// The models of these rows that have no price, sorted.
pub(crate) fn unpriced_in_rows<'a>(rows: impl IntoIterator<Item = &'a Usage>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for u in rows {
        out.extend(
            u.model_breakdowns
                .iter()
                .filter(|m| !m.priced)
                .map(|m| m.model_name.clone()),
        );
    }
    out.into_iter().collect()
}
