//! Claude API prices: the embedded, dated price table, reading tables in ctm's format and
//! LiteLLM's, model-name matching, and the exact cost of one API response.
//!
//! # The table
//!
//! Prices are data, not code: `prices.toml` (USD per million tokens) is compiled in and
//! dated by its `as_of` field; no code path names a model. A row states its five base
//! rates (input, output, 5-minute and 1-hour cache writes, cache read: ratios differ
//! between generations), and may add dated changes, prompt-length bands, fast-mode
//! windows and a data-residency multiplier. `docs/pricing.md` describes the format;
//! `ctm pricing update` replaces the table in force without a release.
//!
//! # Rules ([`PriceTable::price`])
//!
//! - Token cost = Σ tokens × rate / 10⁶ with the rates in force at the response's UTC
//!   time (dated changes apply from 00:00 UTC of their date).
//! - A band applies when input + cache writes + cache reads is strictly above its
//!   threshold while the band is in force: the *whole* request, output included, at the
//!   band's rates; the highest band passed wins.
//! - Fast mode (`speed == "fast"`) multiplies every token category by the model's fast
//!   multiplier of that date (standard price outside the dates fast mode was offered);
//!   data residency (`inference_geo == "us"`) by its `us_multiplier`. They stack.
//! - Web searches cost `web_search_usd_per_1000` / 1000 each and are never multiplied.
//! - Names are normalized ([`normalize_model`]: `[1m]`, provider prefixes, `@date`,
//!   `-v1:0`) and matched exactly, then without a trailing `-YYYYMMDD` or `-latest`, then
//!   by the longest id or alias that ends at a separator and is not followed by another
//!   version number, so `claude-opus-5` never swallows `claude-opus-5-5` or
//!   `claude-opus-5-7`.
//! - An unknown model (or `<synthetic>`) is returned with `priced: false` and zero cost, so
//!   totals can say how much went unpriced.
//!
//! Every number a table or the config states is checked when it is read: finite, not
//! negative, and at most a ceiling ([`MAX_RATE_USD_PER_MTOK`], [`MAX_MULTIPLIER`],
//! [`MAX_WEB_SEARCH_USD_PER_1000`], [`MAX_BAND_THRESHOLD`]).
//!
//! Every cost is stored with [`PriceTable::version`] so it can be traced to the prices
//! used.

mod cost;
mod group;
mod litellm;
mod matching;
mod parse;
mod render;
mod table;

pub use cost::{Priced, Request};
pub use group::{GroupPrice, RequestGroup, UnitNanos};
pub use litellm::{merge_under, read_litellm, Imported, Kept, Merged};
pub use matching::normalize_model;
pub use parse::{
    MAX_BAND_THRESHOLD, MAX_MULTIPLIER, MAX_RATE_USD_PER_MTOK, MAX_WEB_SEARCH_USD_PER_1000,
};
pub use render::{diff, FactChange, TableDiff};
pub use table::{Band, DatedRates, FastWindow, ModelPrice, Origin, PriceTable, Rates};

/// The formats a price table is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ctm's own TOML format (`prices.toml`).
    Ctm,
    /// LiteLLM's `model_prices_and_context_window.json`.
    LiteLlm,
}

/// Which format a table's text is in, from its content: LiteLLM's file is one JSON
/// object, ctm's is TOML (which never starts with `{`).
pub fn detect_format(text: &str) -> Format {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('{') {
        Format::LiteLlm
    } else {
        Format::Ctm
    }
}

/// The `[pricing] update_url` of a config file's text, if set (checked as a string).
pub fn config_update_url(config_toml: &str) -> Result<Option<String>, PricingError> {
    parse::update_url(config_toml)
}

/// A price table or override that cannot be used; each message names the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("invalid TOML at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("missing {key}: add it")]
    Missing { key: String },
    #[error("{key} must be {expected}, not {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("unknown key {key}: expected one of {expected}")]
    UnknownKey { key: String, expected: String },
    #[error("{key} = {value} is negative: prices, multipliers and thresholds must be >= 0")]
    Negative { key: String, value: f64 },
    #[error("{key} = {value:e} is above the ceiling of {max} {unit}: check for a typo")]
    TooLarge {
        key: String,
        value: f64,
        max: f64,
        unit: &'static str,
    },
    #[error("{key}: {reason}")]
    InvalidValue { key: String, reason: String },
    #[error("{key} = {value:?} is not a valid date: write YYYY-MM-DD")]
    InvalidDate { key: String, value: String },
    #[error("model {model}: name {name:?} is not in normal form: write {normalized:?}")]
    NotNormalized {
        model: String,
        name: String,
        normalized: String,
    },
    #[error("name {name:?} belongs to both {first} and {second}: ids and aliases must be unique")]
    DuplicateName {
        name: String,
        first: String,
        second: String,
    },
    #[error("LiteLLM entry {entry:?}: {reason}")]
    Import { entry: String, reason: String },
    #[error("not a LiteLLM price file: {reason}")]
    NotLiteLlm { reason: String },
}
