//! Claude API prices: the embedded, dated price table, model-name matching, and the exact
//! cost of one API response.
//!
//! # The table
//!
//! Prices are data, not code: `prices.toml` (USD per million tokens) is compiled in and
//! dated by its `as_of` field, the day it was last checked against Anthropic's pricing page
//! (as quoted in public code and docs) and LiteLLM's `model_prices_and_context_window.json`
//! (fast and data-residency multipliers). Rows marked "reported" in their `note` come from
//! announcements rather than the pricing page. Every row states all five rates (input,
//! output, 5-minute cache write, 1-hour cache write, cache read) because cache ratios
//! differ between generations.
//!
//! # Rules ([`PriceTable::price`])
//!
//! - Token cost = Σ tokens × rate / 10⁶, times the multiplier; plus web searches at
//!   `web_search_usd_per_1000` / 1000 each (never multiplied).
//! - Long context: when input + cache writes + cache reads exceed the row's threshold
//!   (200,000) and its tier is still valid on the response's UTC date (`until` is
//!   exclusive), the *whole* request is billed at the long-context rates.
//! - Fast mode (`speed == "fast"`) multiplies by the row's `fast_multiplier`; data residency
//!   (`inference_geo == "us"`) by its `us_multiplier`. They stack; absent means 1.0.
//! - Names are normalized ([`normalize_model`]) and matched exactly against ids and aliases,
//!   then without a trailing `-YYYYMMDD`, then without `-latest`. Never by prefix, so
//!   `claude-opus-4` cannot swallow `claude-opus-4-1`.
//! - An unknown model (or `<synthetic>`) is returned with `priced: false` and zero cost, so
//!   totals can say how much went unpriced.
//!
//! # User overrides
//!
//! The `[pricing]` table of `$XDG_CONFIG_HOME/ctm/config.toml` (see
//! [`PriceTable::with_overrides`]) changes any field of a known model or adds a model:
//!
//! ```toml
//! [pricing]
//! web_search_usd_per_1000 = 10.0
//!
//! [pricing.models."claude-opus-4-6"]   # only the fields given change
//! input = 5.0
//! output = 25.0
//!
//! [pricing.models."claude-next"]       # new: input and output required;
//! input = 4.0                          # cache rates default to x1.25 (5m),
//! output = 20.0                        # x2 (1h) and x0.1 (read) of input
//! ```
//!
//! Every cost is stored with [`PriceTable::version`] (`builtin-<as_of>`, plus
//! `+user-<hash>` when overrides apply) so it can be traced to the prices used.

mod cost;
mod matching;
mod table;

pub use cost::{Priced, Request};
pub use matching::normalize_model;
pub use table::{LongContext, ModelPrice, PriceTable};

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
    #[error("{key}: {reason}")]
    InvalidValue { key: String, reason: &'static str },
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
}
