//! `ctm pricing`: the price table in force (embedded or kept in the store by `ctm pricing
//! update`, with the config's overrides), each model's rates today with its dated, banded
//! and fast-mode rules, and the models in the store it cannot price. The CLI prints it as a
//! table or JSON; `ctm mcp`'s `pricing` tool answers with it.

use ctm_pricing::{ModelPrice, Origin, PriceTable, Rates};
use ctm_store::Store;
use jiff::civil::Date;
use serde::Serialize;

use crate::AnalyticsError;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PricingReport<'a> {
    pub version: &'a str,
    pub as_of: String,
    /// `embedded`, or `stored` (chosen by `ctm pricing update`).
    pub origin: &'static str,
    pub source: Option<&'a str>,
    /// Where the stored table was read from, and when.
    pub updated_from: Option<UpdatedFrom>,
    /// Config overrides apply on top (their hash ends the version).
    pub overrides: bool,
    /// The UTC day "today" means below.
    pub today: String,
    pub web_search_usd_per_1000: f64,
    pub models: Vec<ModelView<'a>>,
    pub unpriced_models_in_store: Vec<Unpriced>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatedFrom {
    pub format: String,
    pub source: String,
    pub updated_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RatesView {
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
}

impl From<Rates> for RatesView {
    fn from(r: Rates) -> Self {
        RatesView {
            input: r.input,
            output: r.output,
            cache_write_5m: r.cache_write_5m,
            cache_write_1h: r.cache_write_1h,
            cache_read: r.cache_read,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelView<'a> {
    /// The table's row, for front ends that say more than the JSON.
    #[serde(skip)]
    pub row: &'a ModelPrice,
    pub id: &'a str,
    pub aliases: &'a [String],
    /// The base rates in force today (dated changes applied).
    pub today: RatesView,
    /// Today's fast-mode multiplier, when fast mode is offered today.
    pub fast_multiplier_today: Option<f64>,
    pub us_multiplier: Option<f64>,
    /// The base rates before any dated change.
    pub base: RatesView,
    pub dated: Vec<DatedView<'a>>,
    pub bands: Vec<BandView<'a>>,
    pub fast: Vec<FastView<'a>>,
    pub note: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatedView<'a> {
    pub from: String,
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_write_5m: Option<f64>,
    pub cache_write_1h: Option<f64>,
    pub cache_read: Option<f64>,
    pub note: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BandView<'a> {
    pub above_prompt_tokens: u64,
    pub from: Option<String>,
    pub until: Option<String>,
    pub rates: RatesView,
    pub note: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FastView<'a> {
    pub multiplier: f64,
    pub from: Option<String>,
    pub until: Option<String>,
    pub note: Option<&'a str>,
}

/// A model the price table cannot price, with its responses in the store.
#[derive(Debug, Serialize)]
pub struct Unpriced {
    pub model: String,
    pub responses: u64,
}

fn model_view(m: &ModelPrice, today: Date) -> ModelView<'_> {
    let day = |d: Option<Date>| d.map(|d| d.to_string());
    ModelView {
        row: m,
        id: &m.id,
        aliases: &m.aliases,
        today: m.rates_on(today).into(),
        fast_multiplier_today: m.fast_on(today),
        us_multiplier: m.us_multiplier,
        base: m.rates.into(),
        dated: m
            .dated
            .iter()
            .map(|d| DatedView {
                from: d.from.to_string(),
                input: d.input,
                output: d.output,
                cache_write_5m: d.cache_write_5m,
                cache_write_1h: d.cache_write_1h,
                cache_read: d.cache_read,
                note: d.note.as_deref(),
            })
            .collect(),
        bands: m
            .bands
            .iter()
            .map(|b| BandView {
                above_prompt_tokens: b.above_prompt_tokens,
                from: day(b.from),
                until: day(b.until),
                rates: b.rates.into(),
                note: b.note.as_deref(),
            })
            .collect(),
        fast: m
            .fast
            .iter()
            .map(|f| FastView {
                multiplier: f.multiplier,
                from: day(f.from),
                until: day(f.until),
                note: f.note.as_deref(),
            })
            .collect(),
        note: m.note.as_deref(),
    }
}

/// The report of `table` (the one in force in `store`) on `today` (a UTC
/// day): every model, or with `model` only the row that prices that name (as a
/// transcript writes it, or any alias). A name the table cannot price is `NotFound`.
pub fn pricing_report<'a>(
    store: &Store,
    table: &'a PriceTable,
    today: Date,
    model: Option<&str>,
) -> Result<PricingReport<'a>, AnalyticsError> {
    let stored = store.stored_price_table()?;
    let unpriced = store.unpriced_models()?;
    let models: Vec<&ModelPrice> = match model {
        None => table.models().iter().collect(),
        Some(name) => vec![table.resolve(name).ok_or_else(|| {
            AnalyticsError::NotFound(format!(
                "the price table has no price for {name:?} (its tokens count, its cost is unknown); \
                 `ctm pricing` lists the models it prices"
            ))
        })?],
    };
    Ok(PricingReport {
        version: table.version(),
        as_of: table.as_of().to_string(),
        origin: match table.origin() {
            Origin::Embedded => "embedded",
            Origin::Stored | Origin::Table => "stored",
        },
        source: table.source(),
        updated_from: stored
            .as_ref()
            .filter(|_| table.origin() != Origin::Embedded)
            .map(|s| UpdatedFrom {
                format: s.origin.clone(),
                source: s.source.clone(),
                updated_at: ctm_model::utc::format(s.updated_at_ms),
            }),
        overrides: table.has_overrides(),
        today: today.to_string(),
        web_search_usd_per_1000: table.web_search_usd_per_1000(),
        models: models.into_iter().map(|m| model_view(m, today)).collect(),
        unpriced_models_in_store: unpriced
            .into_iter()
            .map(|(model, responses)| Unpriced { model, responses })
            .collect(),
    })
}
