//! Reading ctm's table format and the config's `[pricing]` overrides.
//!
//! TOML is walked by hand rather than through serde so every error can name the exact key
//! (`pricing.models."claude-opus-4-6".input`) and say what to write instead. Every number
//! is checked the same way wherever it comes from (the embedded table, a table
//! `ctm pricing update` reads, an import, the config): finite, not negative, and below a
//! ceiling no real price comes near, so a typo such as `input = 1e308` cannot overflow a
//! cost to infinity.

use std::fmt::Write as _;

use jiff::civil::Date;
use toml::{Table, Value};

use crate::matching::normalize_model;
use crate::table::{Band, DatedRates, FastWindow, ModelPrice, PriceTable, Rates};
use crate::PricingError;

/// The highest rate a table may state, USD per million tokens (Claude 3 Opus, the most
/// expensive model ever listed, was $75 for output).
pub const MAX_RATE_USD_PER_MTOK: f64 = 10_000.0;
/// The highest fast-mode or data-residency multiplier (fast mode has been 6x at most).
pub const MAX_MULTIPLIER: f64 = 100.0;
/// The highest web-search price, USD per 1,000 searches ($10 today).
pub const MAX_WEB_SEARCH_USD_PER_1000: f64 = 10_000.0;
/// The highest prompt-length threshold of a band, in tokens.
pub const MAX_BAND_THRESHOLD: u64 = 100_000_000;

/// Default cache ratios on the input price, for models a user adds without them.
pub(crate) const RATIO_5M: f64 = 1.25;
pub(crate) const RATIO_1H: f64 = 2.0;
pub(crate) const RATIO_READ: f64 = 0.1;

const TOP_KEYS: &[&str] = &["as_of", "web_search_usd_per_1000", "source", "models"];
const PRICING_KEYS: &[&str] = &["web_search_usd_per_1000", "update_url", "models"];
const MODEL_KEYS: &[&str] = &[
    "id",
    "aliases",
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "us_multiplier",
    "dated",
    "bands",
    "fast",
    "note",
];
const RATE_KEYS: [&str; 5] = [
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
];
const DATED_KEYS: &[&str] = &[
    "from",
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "note",
];
const BAND_KEYS: &[&str] = &[
    "above_prompt_tokens",
    "from",
    "until",
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "note",
];
const FAST_KEYS: &[&str] = &["multiplier", "from", "until", "note"];

/// What a number stands for, which sets its ceiling.
#[derive(Clone, Copy)]
enum Kind {
    Rate,
    Multiplier,
    WebSearch,
}

impl Kind {
    fn max(self) -> f64 {
        match self {
            Kind::Rate => MAX_RATE_USD_PER_MTOK,
            Kind::Multiplier => MAX_MULTIPLIER,
            Kind::WebSearch => MAX_WEB_SEARCH_USD_PER_1000,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Kind::Rate => "USD per million tokens",
            Kind::Multiplier => "as a multiplier",
            Kind::WebSearch => "USD per 1,000 searches",
        }
    }
}

/// A rate (USD per million tokens) as every source must state it: finite, not
/// negative, at most [`MAX_RATE_USD_PER_MTOK`].
pub(crate) fn check_rate(key: &str, v: f64) -> Result<f64, PricingError> {
    check(key, v, Kind::Rate)
}

/// A fast-mode or data-residency multiplier, at most [`MAX_MULTIPLIER`].
pub(crate) fn check_multiplier(key: &str, v: f64) -> Result<f64, PricingError> {
    check(key, v, Kind::Multiplier)
}

/// A web-search price per 1,000, at most [`MAX_WEB_SEARCH_USD_PER_1000`].
pub(crate) fn check_web_search(key: &str, v: f64) -> Result<f64, PricingError> {
    check(key, v, Kind::WebSearch)
}

fn check(key: &str, v: f64, kind: Kind) -> Result<f64, PricingError> {
    if !v.is_finite() {
        return Err(PricingError::InvalidValue {
            key: key.to_owned(),
            reason: "must be a finite number".into(),
        });
    }
    if v < 0.0 {
        return Err(PricingError::Negative {
            key: key.to_owned(),
            value: v,
        });
    }
    if v > kind.max() {
        return Err(PricingError::TooLarge {
            key: key.to_owned(),
            value: v,
            max: kind.max(),
            unit: kind.unit(),
        });
    }
    Ok(v)
}

/// A complete table read from ctm's format.
pub(crate) struct ParsedTable {
    pub as_of: Date,
    pub source: Option<String>,
    pub web_search_usd_per_1000: f64,
    pub models: Vec<ModelPrice>,
    /// FNV-1a of the table's canonical form: formatting, comments and key order aside.
    pub content_hash: u32,
}

pub(crate) fn table(text: &str) -> Result<ParsedTable, PricingError> {
    let root = parse_toml(text)?;
    check_keys(&root, "", TOP_KEYS)?;
    let as_of = get_date(&root, "as_of", "")?.ok_or_else(|| missing("as_of"))?;
    let web_search = get_number(&root, "web_search_usd_per_1000", "", Kind::WebSearch)?
        .ok_or_else(|| missing("web_search_usd_per_1000"))?;
    let source = get_str(&root, "source", "")?.map(str::to_owned);
    let rows = match root.get("models") {
        None => return Err(missing("models")),
        Some(Value::Array(rows)) => rows,
        Some(other) => return Err(wrong_type("models", "an array of tables", other)),
    };
    let mut models = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let path = format!("models[{i}]");
        let Value::Table(t) = row else {
            return Err(wrong_type(&path, "a table", row));
        };
        let id = get_str(t, "id", &path)?.ok_or_else(|| missing(&key(&path, "id")))?;
        let path = format!("models[{i}] ({id})");
        let patch = ModelPatch::parse(t, &path, true, Strict::Table)?;
        models.push(patch.into_new(id.to_owned(), &path, Strict::Table)?);
    }
    let mut canon = String::new();
    canonical(&Value::Table(root), &mut canon);
    Ok(ParsedTable {
        as_of,
        source,
        web_search_usd_per_1000: web_search,
        models,
        content_hash: fnv1a32(canon.as_bytes()),
    })
}

/// `[pricing] update_url` of the config, checked as a string.
pub(crate) fn update_url(config_toml: &str) -> Result<Option<String>, PricingError> {
    let root = parse_toml(config_toml)?;
    match root.get("pricing") {
        None => Ok(None),
        Some(Value::Table(t)) => Ok(get_str(t, "update_url", "pricing")?.map(str::to_owned)),
        Some(other) => Err(wrong_type("pricing", "a table", other)),
    }
}

/// See [`PriceTable::with_overrides`].
pub(crate) fn apply_overrides(
    mut t: PriceTable,
    config_toml: &str,
) -> Result<PriceTable, PricingError> {
    let root = parse_toml(config_toml)?;
    let pricing = match root.get("pricing") {
        None => return Ok(t),
        Some(Value::Table(p)) => p,
        Some(other) => return Err(wrong_type("pricing", "a table", other)),
    };
    check_keys(pricing, "pricing", PRICING_KEYS)?;
    get_str(pricing, "update_url", "pricing")?;
    if let Some(v) = get_number(
        pricing,
        "web_search_usd_per_1000",
        "pricing",
        Kind::WebSearch,
    )? {
        t.web_search_usd_per_1000 = v;
    }
    let overrides = match pricing.get("models") {
        None => None,
        Some(Value::Table(m)) => Some(m),
        Some(other) => return Err(wrong_type("pricing.models", "a table", other)),
    };
    // Names added in this pass, so a second spelling of a new model patches it.
    let mut added: Vec<(String, usize)> = Vec::new();
    for (name, body) in overrides.into_iter().flatten() {
        let path = format!("pricing.models.{name:?}");
        let Value::Table(m) = body else {
            return Err(wrong_type(&path, "a table", body));
        };
        let patch = ModelPatch::parse(m, &path, false, Strict::Override)?;
        let normalized = normalize_model(name);
        let known = t.resolve_exact(name).map(|m| m.id.clone());
        let row = known
            .and_then(|id| t.models.iter().position(|m| m.id == id))
            .or_else(|| added.iter().find(|(n, _)| *n == normalized).map(|a| a.1));
        match row {
            Some(row) => patch.apply(&mut t.models[row]),
            None => {
                if normalized.is_empty() {
                    return Err(PricingError::InvalidValue {
                        key: path,
                        reason: "a model name must not be empty".into(),
                    });
                }
                added.push((normalized.clone(), t.models.len()));
                t.models
                    .push(patch.into_new(normalized, &path, Strict::Override)?);
            }
        }
    }
    // The version hashes what changes prices; where updates come from does not.
    let mut priced = pricing.clone();
    priced.remove("update_url");
    let has_prices = !priced.is_empty();
    if has_prices {
        canonical(&Value::Table(priced), &mut t.overrides);
        t.overrides.push('\n');
    }
    let (as_of, source, web, origin, base) = (
        t.as_of,
        t.source.clone(),
        t.web_search_usd_per_1000,
        t.origin(),
        t.base_version().to_owned(),
    );
    let overrides = std::mem::take(&mut t.overrides);
    let mut texts = std::mem::take(&mut t.override_texts);
    if has_prices {
        texts.push(config_toml.to_owned());
    }
    let mut built = PriceTable::build(as_of, source, web, t.models, origin, base, overrides)?;
    built.override_texts = texts;
    Ok(built)
}

/// How complete a model row must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strict {
    /// A table file: every rate stated.
    Table,
    /// The config: only what changes; a new model or band needs input and output, and
    /// its cache rates default to 1.25x (5m), 2x (1h) and 0.1x (read) of input.
    Override,
}

#[derive(Default)]
struct RatesPatch {
    input: Option<f64>,
    output: Option<f64>,
    cache_write_5m: Option<f64>,
    cache_write_1h: Option<f64>,
    cache_read: Option<f64>,
}

impl RatesPatch {
    fn parse(t: &Table, path: &str) -> Result<RatesPatch, PricingError> {
        let n = |name| get_number(t, name, path, Kind::Rate);
        Ok(RatesPatch {
            input: n("input")?,
            output: n("output")?,
            cache_write_5m: n("cache_write_5m")?,
            cache_write_1h: n("cache_write_1h")?,
            cache_read: n("cache_read")?,
        })
    }

    fn is_empty(&self) -> bool {
        self.input.is_none()
            && self.output.is_none()
            && self.cache_write_5m.is_none()
            && self.cache_write_1h.is_none()
            && self.cache_read.is_none()
    }

    /// Complete rates: input and output required, cache rates required or defaulted.
    fn complete(self, path: &str, strict: Strict) -> Result<Rates, PricingError> {
        let input = self.input.ok_or_else(|| missing(&key(path, "input")))?;
        let output = self.output.ok_or_else(|| missing(&key(path, "output")))?;
        let cache = |v: Option<f64>, name: &str, ratio: f64| match v {
            Some(v) => Ok(v),
            None if strict == Strict::Override => Ok(input * ratio),
            None => Err(missing(&key(path, name))),
        };
        Ok(Rates {
            input,
            output,
            cache_write_5m: cache(self.cache_write_5m, "cache_write_5m", RATIO_5M)?,
            cache_write_1h: cache(self.cache_write_1h, "cache_write_1h", RATIO_1H)?,
            cache_read: cache(self.cache_read, "cache_read", RATIO_READ)?,
        })
    }
}

struct ModelPatch {
    aliases: Option<Vec<String>>,
    rates: RatesPatch,
    us_multiplier: Option<f64>,
    dated: Option<Vec<DatedRates>>,
    bands: Option<Vec<Band>>,
    fast: Option<Vec<FastWindow>>,
    note: Option<String>,
}

impl ModelPatch {
    fn parse(t: &Table, path: &str, allow_id: bool, strict: Strict) -> Result<Self, PricingError> {
        check_keys(
            t,
            path,
            if allow_id {
                MODEL_KEYS
            } else {
                &MODEL_KEYS[1..]
            },
        )?;
        let dated = tables(t, "dated", path)?
            .map(|list| {
                list.into_iter()
                    .map(|(p, d)| {
                        check_keys(d, &p, DATED_KEYS)?;
                        let r = RatesPatch::parse(d, &p)?;
                        if r.is_empty() {
                            return Err(PricingError::InvalidValue {
                                key: p,
                                reason: format!(
                                    "a dated change names at least one of {}",
                                    RATE_KEYS.join(", ")
                                ),
                            });
                        }
                        Ok(DatedRates {
                            from: get_date(d, "from", &p)?
                                .ok_or_else(|| missing(&key(&p, "from")))?,
                            input: r.input,
                            output: r.output,
                            cache_write_5m: r.cache_write_5m,
                            cache_write_1h: r.cache_write_1h,
                            cache_read: r.cache_read,
                            note: get_str(d, "note", &p)?.map(str::to_owned),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let bands = tables(t, "bands", path)?
            .map(|list| {
                list.into_iter()
                    .map(|(p, b)| {
                        check_keys(b, &p, BAND_KEYS)?;
                        let above = get_u64(b, "above_prompt_tokens", &p)?
                            .ok_or_else(|| missing(&key(&p, "above_prompt_tokens")))?;
                        if above > MAX_BAND_THRESHOLD {
                            return Err(PricingError::TooLarge {
                                key: key(&p, "above_prompt_tokens"),
                                value: above as f64,
                                max: MAX_BAND_THRESHOLD as f64,
                                unit: "tokens",
                            });
                        }
                        Ok(Band {
                            above_prompt_tokens: above,
                            from: get_date(b, "from", &p)?,
                            until: get_date(b, "until", &p)?,
                            rates: RatesPatch::parse(b, &p)?.complete(&p, strict)?,
                            note: get_str(b, "note", &p)?.map(str::to_owned),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let fast = tables(t, "fast", path)?
            .map(|list| {
                list.into_iter()
                    .map(|(p, f)| {
                        check_keys(f, &p, FAST_KEYS)?;
                        Ok(FastWindow {
                            multiplier: get_number(f, "multiplier", &p, Kind::Multiplier)?
                                .ok_or_else(|| missing(&key(&p, "multiplier")))?,
                            from: get_date(f, "from", &p)?,
                            until: get_date(f, "until", &p)?,
                            note: get_str(f, "note", &p)?.map(str::to_owned),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(ModelPatch {
            aliases: get_str_array(t, "aliases", path)?,
            rates: RatesPatch::parse(t, path)?,
            us_multiplier: get_number(t, "us_multiplier", path, Kind::Multiplier)?,
            dated,
            bands,
            fast,
            note: get_str(t, "note", path)?.map(str::to_owned),
        })
    }

    fn into_new(self, id: String, path: &str, strict: Strict) -> Result<ModelPrice, PricingError> {
        Ok(ModelPrice {
            id,
            aliases: self.aliases.unwrap_or_default(),
            rates: self.rates.complete(path, strict)?,
            dated: self.dated.unwrap_or_default(),
            bands: self.bands.unwrap_or_default(),
            fast: self.fast.unwrap_or_default(),
            us_multiplier: self.us_multiplier,
            note: self.note,
        })
    }

    /// Replaces only the fields given; aliases are added; a list given (`dated`, `bands`,
    /// `fast`) replaces the row's whole list (`[]` removes it).
    fn apply(self, m: &mut ModelPrice) {
        if let Some(aliases) = self.aliases {
            m.aliases.extend(aliases);
        }
        let set = |dst: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut m.rates.input, self.rates.input);
        set(&mut m.rates.output, self.rates.output);
        set(&mut m.rates.cache_write_5m, self.rates.cache_write_5m);
        set(&mut m.rates.cache_write_1h, self.rates.cache_write_1h);
        set(&mut m.rates.cache_read, self.rates.cache_read);
        if self.us_multiplier.is_some() {
            m.us_multiplier = self.us_multiplier;
        }
        if let Some(d) = self.dated {
            m.dated = d;
        }
        if let Some(b) = self.bands {
            m.bands = b;
        }
        if let Some(f) = self.fast {
            m.fast = f;
        }
        if self.note.is_some() {
            m.note = self.note;
        }
    }
}

/// An array of tables under `name`, each with its path (`...bands[0]`).
fn tables<'t>(
    t: &'t Table,
    name: &str,
    path: &str,
) -> Result<Option<Vec<(String, &'t Table)>>, PricingError> {
    let arr = match t.get(name) {
        None => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(wrong_type(&key(path, name), "an array of tables", other)),
    };
    arr.iter()
        .enumerate()
        .map(|(i, v)| {
            let p = format!("{}[{i}]", key(path, name));
            match v {
                Value::Table(t) => Ok((p, t)),
                other => Err(wrong_type(&p, "a table", other)),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

// ---- TOML helpers ---------------------------------------------------------------------

pub(crate) fn parse_toml(text: &str) -> Result<Table, PricingError> {
    text.parse::<Table>().map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let before = &text.as_bytes()[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        PricingError::Syntax {
            line,
            column,
            message: e.message().trim().replace('\n', "; "),
        }
    })
}

fn key(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn missing(key: &str) -> PricingError {
    PricingError::Missing {
        key: key.to_owned(),
    }
}

fn wrong_type(key: &str, expected: &'static str, found: &Value) -> PricingError {
    PricingError::WrongType {
        key: key.to_owned(),
        expected,
        found: found.type_str(),
    }
}

fn check_keys(t: &Table, path: &str, allowed: &'static [&'static str]) -> Result<(), PricingError> {
    match t.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(PricingError::UnknownKey {
            key: key(path, k),
            expected: allowed.join(", "),
        }),
    }
}

fn get_number(t: &Table, name: &str, path: &str, kind: Kind) -> Result<Option<f64>, PricingError> {
    let v = match t.get(name) {
        None => return Ok(None),
        Some(Value::Float(f)) => *f,
        Some(Value::Integer(i)) => *i as f64,
        Some(other) => return Err(wrong_type(&key(path, name), "a number", other)),
    };
    check(&key(path, name), v, kind).map(Some)
}

fn get_u64(t: &Table, name: &str, path: &str) -> Result<Option<u64>, PricingError> {
    match t.get(name) {
        None => Ok(None),
        Some(Value::Integer(i)) => {
            u64::try_from(*i)
                .map(Some)
                .map_err(|_| PricingError::Negative {
                    key: key(path, name),
                    value: *i as f64,
                })
        }
        Some(other) => Err(wrong_type(&key(path, name), "an integer", other)),
    }
}

fn get_str<'t>(t: &'t Table, name: &str, path: &str) -> Result<Option<&'t str>, PricingError> {
    match t.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(&key(path, name), "a string", other)),
    }
}

fn get_str_array(t: &Table, name: &str, path: &str) -> Result<Option<Vec<String>>, PricingError> {
    let arr = match t.get(name) {
        None => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(wrong_type(&key(path, name), "an array of strings", other)),
    };
    arr.iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(wrong_type(&key(path, name), "an array of strings", other)),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// A calendar date, as a `"YYYY-MM-DD"` string or a bare TOML local date.
fn get_date(t: &Table, name: &str, path: &str) -> Result<Option<Date>, PricingError> {
    let invalid = |value: String| PricingError::InvalidDate {
        key: key(path, name),
        value,
    };
    match t.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => parse_date(s).map(Some).ok_or_else(|| invalid(s.clone())),
        Some(Value::Datetime(dt)) => match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => Date::new(d.year as i16, d.month as i8, d.day as i8)
                .map(Some)
                .map_err(|_| invalid(dt.to_string())),
            _ => Err(invalid(dt.to_string())),
        },
        Some(other) => Err(wrong_type(&key(path, name), "a date \"YYYY-MM-DD\"", other)),
    }
}

/// Strict `YYYY-MM-DD`: jiff's parser would also take a datetime and drop the time.
pub(crate) fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i16> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    Date::new(y, m as i8, d as i8).ok()
}

/// Formatting- and order-independent rendering of a TOML value, for the version hash.
/// Integers and floats render alike so `input = 5` and `input = 5.0` hash the same.
pub(crate) fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            let _ = write!(out, "s{}:{s}", s.len());
        }
        Value::Integer(i) => {
            let _ = write!(out, "n{:016x}", (*i as f64).to_bits());
        }
        Value::Float(f) => {
            let _ = write!(out, "n{:016x}", f.to_bits());
        }
        Value::Boolean(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Datetime(d) => {
            let s = d.to_string();
            let _ = write!(out, "s{}:{s}", s.len());
        }
        Value::Array(a) => {
            out.push('[');
            for item in a {
                canonical(item, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Table(t) => {
            let mut keys: Vec<&String> = t.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                let _ = write!(out, "{}:{k}=", k.len());
                canonical(&t[k.as_str()], out);
                out.push(';');
            }
            out.push('}');
        }
    }
}

/// 32-bit FNV-1a: tiny, and its output never changes across Rust or crate versions.
pub(crate) fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Origin;
    use jiff::civil::date;

    fn embedded() -> PriceTable {
        PriceTable::embedded()
    }

    fn row<'t>(t: &'t PriceTable, id: &str) -> &'t ModelPrice {
        t.models().iter().find(|m| m.id == id).unwrap()
    }

    const TINY: &str = r#"
as_of = "2026-01-02"
web_search_usd_per_1000 = 10
[[models]]
id = "claude-a"
aliases = ["claude-a-20250101"]
input = 1
output = 5
cache_write_5m = 1.25
cache_write_1h = 2
cache_read = 0.1
"#;

    // ---- the table format ----------------------------------------------------------

    #[test]
    fn a_custom_table_is_labelled_by_its_content() {
        let t = PriceTable::from_toml(TINY).unwrap();
        assert_eq!(t.as_of(), date(2026, 1, 2));
        assert_eq!(t.origin(), Origin::Table);
        assert!(
            t.version().starts_with("table-2026-01-02-"),
            "{}",
            t.version()
        );
        assert_eq!(t.version().len(), "table-2026-01-02-".len() + 8);
        // Formatting and comments do not change the label; a rate does.
        let same = PriceTable::from_toml(&format!(
            "# hi\n{}",
            TINY.replace("input = 1\n", "input = 1.0\n")
        ))
        .unwrap();
        assert_eq!(same.version(), t.version());
        let other = PriceTable::from_toml(&TINY.replace("input = 1\n", "input = 2\n")).unwrap();
        assert_ne!(other.version(), t.version());
    }

    #[test]
    fn a_table_states_every_rate() {
        let err = PriceTable::from_toml(&TINY.replace("cache_read = 0.1\n", "")).unwrap_err();
        assert!(
            matches!(&err, PricingError::Missing { key } if key == "models[0] (claude-a).cache_read"),
            "{err}"
        );
        let err = PriceTable::from_toml(&TINY.replace("as_of = \"2026-01-02\"", "")).unwrap_err();
        assert!(
            matches!(&err, PricingError::Missing { key } if key == "as_of"),
            "{err}"
        );
        let band =
            format!("{TINY}[[models.bands]]\nabove_prompt_tokens = 5\ninput = 1\noutput = 2\n");
        let err = PriceTable::from_toml(&band).unwrap_err();
        assert!(
            matches!(&err, PricingError::Missing { key } if key.ends_with("bands[0].cache_write_5m")),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_anywhere_are_refused_with_their_path() {
        for (text, want) in [
            (
                TINY.replace("cache_read = 0.1\n", "cache_read = 0.1\ninptu = 3\n"),
                "models[0] (claude-a).inptu",
            ),
            (
                format!("{TINY}[[models.fast]]\nmultiplier = 2\nuntill = \"2027-01-01\"\n"),
                "models[0] (claude-a).fast[0].untill",
            ),
            (format!("version = 3\n{TINY}"), "version"),
        ] {
            let err = PriceTable::from_toml(&text).unwrap_err();
            assert!(
                matches!(&err, PricingError::UnknownKey { key, .. } if key == want),
                "{err}"
            );
        }
    }

    #[test]
    fn names_must_be_unique_and_normal() {
        let text = format!(
            "{TINY}\n[[models]]\nid = \"claude-b\"\naliases = [\"claude-a-20250101\"]\n\
             input = 1\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n"
        );
        let err = PriceTable::from_toml(&text).unwrap_err();
        assert!(
            matches!(&err, PricingError::DuplicateName { name, .. } if name == "claude-a-20250101"),
            "{err}"
        );
        let err =
            PriceTable::from_toml(&TINY.replace("\"claude-a-20250101\"", "\"Claude-A@20250101\""))
                .unwrap_err();
        assert!(
            matches!(&err, PricingError::NotNormalized { normalized, .. } if normalized == "claude-a-20250101"),
            "{err}"
        );
    }

    #[test]
    fn windows_must_make_sense() {
        let overlap = format!(
            "{TINY}[[models.fast]]\nmultiplier = 2\nfrom = \"2026-01-01\"\nuntil = \"2026-03-01\"\n\
             [[models.fast]]\nmultiplier = 3\nfrom = \"2026-02-01\"\n"
        );
        let err = PriceTable::from_toml(&overlap).unwrap_err();
        assert!(
            err.to_string().contains("claude-a.fast[1]") && err.to_string().contains("overlap"),
            "{err}"
        );
        let backwards = format!("{TINY}[[models.fast]]\nmultiplier = 2\nfrom = \"2026-03-01\"\nuntil = \"2026-03-01\"\n");
        assert!(PriceTable::from_toml(&backwards)
            .unwrap_err()
            .to_string()
            .contains("not before"));
        let twice = format!("{TINY}[[models.dated]]\nfrom = \"2026-03-01\"\ninput = 2\n[[models.dated]]\nfrom = \"2026-03-01\"\noutput = 2\n");
        assert!(PriceTable::from_toml(&twice)
            .unwrap_err()
            .to_string()
            .contains("two dated changes"));
        let empty = format!("{TINY}[[models.dated]]\nfrom = \"2026-03-01\"\n");
        assert!(PriceTable::from_toml(&empty)
            .unwrap_err()
            .to_string()
            .contains("at least one"));
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(parse_date("2026-03-13"), Some(date(2026, 3, 13)));
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026-3-13"), None);
        assert_eq!(parse_date("2026-03-13T00:00"), None);
        let err = PriceTable::from_toml(&TINY.replace("\"2026-01-02\"", "\"Jan 2\"")).unwrap_err();
        assert!(
            matches!(&err, PricingError::InvalidDate { key, .. } if key == "as_of"),
            "{err}"
        );
        let t = PriceTable::from_toml(&TINY.replace("\"2026-01-02\"", "2026-01-02")).unwrap();
        assert_eq!(t.as_of(), date(2026, 1, 2));
        assert!(
            PriceTable::from_toml(&TINY.replace("\"2026-01-02\"", "2026-01-02T10:00:00")).is_err()
        );
    }

    #[test]
    fn syntax_errors_give_a_line_on_one_line() {
        let err = PriceTable::from_toml("as_of = \"2026-01-02\"\nweb = = 3\n").unwrap_err();
        let PricingError::Syntax { line, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(*line, 2);
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    // ---- ceilings (issue 18, item 7) -----------------------------------------------

    #[test]
    fn absurd_price_override_is_refused_when_the_config_is_loaded() {
        // 1e308 is finite, but a cost made of it is not: refused when read, naming the key.
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = 1e308\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::TooLarge { key, .. } if key == "pricing.models.\"claude-opus-4-6\".input"),
            "{err}"
        );
        let msg = err.to_string();
        assert!(!msg.contains('\n') && msg.contains("10000"), "{msg}");
        for (text, key) in [
            ("[pricing.models.\"claude-x\"]\ninput = 1\noutput = 10001\n", "pricing.models.\"claude-x\".output"),
            ("[pricing.models.\"claude-opus-5-5\"]\nus_multiplier = 101\n", "pricing.models.\"claude-opus-5-5\".us_multiplier"),
            ("[[pricing.models.\"claude-opus-5-5\".fast]]\nmultiplier = 1e9\n", "pricing.models.\"claude-opus-5-5\".fast[0].multiplier"),
            ("[pricing]\nweb_search_usd_per_1000 = 1e12\n", "pricing.web_search_usd_per_1000"),
            ("[[pricing.models.\"claude-haiku-5-5\".bands]]\nabove_prompt_tokens = 1000000000000\ninput = 1\noutput = 2\n", "pricing.models.\"claude-haiku-5-5\".bands[0].above_prompt_tokens"),
        ] {
            let err = embedded().with_overrides(text).unwrap_err();
            assert!(matches!(&err, PricingError::TooLarge { key: k, .. } if k == key), "{text}: {err}");
        }
        // At the ceiling is allowed; the same check guards a table file.
        assert!(embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = 10000\n")
            .is_ok());
        let err = PriceTable::from_toml(&TINY.replace("output = 5", "output = 1e308")).unwrap_err();
        assert!(
            matches!(&err, PricingError::TooLarge { key, .. } if key == "models[0] (claude-a).output"),
            "{err}"
        );
    }

    #[test]
    fn negative_and_non_finite_numbers_are_refused() {
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\noutput = -1.0\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::Negative { key, value } if key == "pricing.models.\"claude-opus-4-6\".output" && *value == -1.0),
            "{err}"
        );
        for v in ["nan", "inf", "-inf"] {
            let err = embedded()
                .with_overrides(&format!(
                    "[pricing.models.\"claude-opus-4-6\"]\ninput = {v}\n"
                ))
                .unwrap_err();
            assert!(
                matches!(&err, PricingError::InvalidValue { .. }),
                "{v}: {err}"
            );
        }
        let err = embedded().with_overrides("[[pricing.models.\"claude-haiku-5-5\".bands]]\nabove_prompt_tokens = -5\ninput = 1\noutput = 1\n").unwrap_err();
        assert!(matches!(err, PricingError::Negative { .. }));
    }

    // ---- overrides -----------------------------------------------------------------

    #[test]
    fn config_without_pricing_changes_nothing() {
        let t = embedded()
            .with_overrides("[display]\ncolor = \"auto\"\nwhatever = 3\n")
            .unwrap();
        assert_eq!(t.version(), "builtin-2026-12-06");
        assert_eq!(t.models(), embedded().models());
        // Where updates come from is not a price.
        let t = embedded()
            .with_overrides("[pricing]\nupdate_url = \"https://example.com/p.json\"\n")
            .unwrap();
        assert_eq!(t.version(), "builtin-2026-12-06");
        assert_eq!(
            config_update_url("[pricing]\nupdate_url = \"https://example.com/p.json\"\n")
                .unwrap()
                .as_deref(),
            Some("https://example.com/p.json")
        );
        assert!(embedded()
            .with_overrides("[pricing]\nupdate_url = 3\n")
            .is_err());
    }

    fn config_update_url(text: &str) -> Result<Option<String>, PricingError> {
        update_url(text)
    }

    #[test]
    fn override_replaces_only_the_given_field() {
        let t = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = 6.0\n")
            .unwrap();
        let m = row(&t, "claude-opus-4-6");
        let e = embedded();
        let was = row(&e, "claude-opus-4-6");
        assert_eq!(m.rates.input, 6.0);
        assert_eq!(m.rates.output, 25.0);
        assert_eq!(
            (&m.bands, &m.fast, m.us_multiplier),
            (&was.bands, &was.fast, was.us_multiplier)
        );
        assert_eq!(t.models().len(), e.models().len());
    }

    #[test]
    fn override_by_alias_or_provider_spelling_patches_the_row() {
        let t = embedded()
            .with_overrides(
                "[pricing.models.\"claude-opus-4-6-20260205\"]\noutput = 30\n\
                 [pricing.models.\"us.anthropic.claude-haiku-4-5-20251001-v1:0\"]\ncache_read = 0.2\n\
                 [pricing.models.\"claude-opus-5-5[1m]\"]\ncache_read = 0.3\n",
            )
            .unwrap();
        assert_eq!(row(&t, "claude-opus-4-6").rates.output, 30.0);
        assert_eq!(row(&t, "claude-haiku-4-5").rates.cache_read, 0.2);
        assert_eq!(row(&t, "claude-opus-5-5").rates.cache_read, 0.3);
        assert_eq!(t.models().len(), embedded().models().len());
    }

    #[test]
    fn override_adds_a_model_with_default_cache_rates() {
        let t = embedded()
            .with_overrides(
                "[pricing.models.\"claude-next\"]\ninput = 4\noutput = 20.0\n\
                 aliases = [\"claude-next-preview\"]\nnote = \"my guess\"\n\
                 [[pricing.models.\"claude-next\".bands]]\nabove_prompt_tokens = 100000\ninput = 8\noutput = 40\n",
            )
            .unwrap();
        let m = t.resolve("claude-next-20270101").unwrap();
        assert_eq!(m.id, "claude-next");
        assert_eq!(
            m.rates,
            Rates {
                input: 4.0,
                output: 20.0,
                cache_write_5m: 5.0,
                cache_write_1h: 8.0,
                cache_read: 0.4
            }
        );
        assert_eq!(m.bands[0].rates.cache_write_1h, 16.0);
        assert_eq!(m.note.as_deref(), Some("my guess"));
        assert_eq!(t.resolve("claude-next-preview").unwrap().id, "claude-next");
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-next\"]\ninput = 4\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::Missing { key } if key == "pricing.models.\"claude-next\".output"),
            "{err}"
        );
    }

    #[test]
    fn override_lists_replace_the_rows_lists() {
        let t = embedded()
            .with_overrides(
                "[pricing.models.\"claude-sonnet-5-5\"]\ndated = []\n\
                 [pricing.models.\"claude-opus-4-8\"]\nfast = [{ multiplier = 2.5 }]\n",
            )
            .unwrap();
        assert!(row(&t, "claude-sonnet-5-5").dated.is_empty());
        assert_eq!(
            row(&t, "claude-opus-4-8").fast_on(date(2027, 1, 1)),
            Some(2.5)
        );
    }

    #[test]
    fn override_of_the_wrong_type_names_the_key() {
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = \"five\"\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pricing.models.\"claude-opus-4-6\".input must be a number, not string"
        );
        assert!(matches!(
            embedded().with_overrides("pricing = 3\n").unwrap_err(),
            PricingError::WrongType { .. }
        ));
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\nfast = 2\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::WrongType { key, .. } if key.ends_with(".fast")),
            "{err}"
        );
    }

    #[test]
    fn unknown_override_keys_are_errors() {
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninptu = 5\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::UnknownKey { key, .. } if key == "pricing.models.\"claude-opus-4-6\".inptu"),
            "{err}"
        );
        assert!(err.to_string().contains("input"));
        let err = embedded()
            .with_overrides("[pricing]\nweb_search = 1\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::UnknownKey { key, .. } if key == "pricing.web_search")
        );
        // `id` belongs to the table file only; in overrides the key is the name.
        assert!(matches!(
            embedded()
                .with_overrides("[pricing.models.\"claude-opus-4-6\"]\nid = \"x\"\n")
                .unwrap_err(),
            PricingError::UnknownKey { .. }
        ));
    }

    #[test]
    fn override_alias_may_not_steal_another_models_name() {
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4\"]\naliases = [\"claude-opus-4-1\"]\n")
            .unwrap_err();
        assert!(matches!(err, PricingError::DuplicateName { .. }), "{err}");
    }

    #[test]
    fn version_tracks_overrides_and_is_stable() {
        let text = "[pricing.models.\"claude-opus-4-6\"]\ninput = 6.0\noutput = 30.0\n";
        let a = embedded().with_overrides(text).unwrap();
        assert_eq!(
            a.version(),
            embedded().with_overrides(text).unwrap().version()
        );
        assert_eq!(a.base_version(), "builtin-2026-12-06");
        assert!(a.has_overrides());
        let hash = a
            .version()
            .strip_prefix("builtin-2026-12-06+user-")
            .unwrap();
        assert_eq!(hash.len(), 8);
        let same =
            "# mine\n[ui]\nx = 1\n[pricing.models.\"claude-opus-4-6\"]\noutput = 30\ninput   = 6\n";
        assert_eq!(
            embedded().with_overrides(same).unwrap().version(),
            a.version()
        );
        let other = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = 6.5\noutput = 30.0\n")
            .unwrap();
        assert_ne!(other.version(), a.version());
    }

    #[test]
    fn version_hash_is_pinned() {
        // Pinned so a refactor cannot silently relabel stored costs.
        let t = embedded()
            .with_overrides("[pricing]\nweb_search_usd_per_1000 = 10.0\n")
            .unwrap();
        let mut canon = String::new();
        let mut pricing = Table::new();
        pricing.insert("web_search_usd_per_1000".into(), Value::Float(10.0));
        canonical(&Value::Table(pricing), &mut canon);
        assert_eq!(canon, "{23:web_search_usd_per_1000=n4024000000000000;}");
        assert_eq!(t.version(), "builtin-2026-12-06+user-b62e2aa8");
    }

    #[test]
    fn overrides_follow_the_table_to_another_base() {
        let config = "[pricing.models.\"claude-opus-5-5\"]\ninput = 3\n[pricing.models.\"claude-next\"]\ninput = 1\noutput = 2\n";
        let mine = embedded().with_overrides(config).unwrap();
        let other =
            PriceTable::from_stored_toml(&TINY.replace("claude-a", "claude-opus-5-5")).unwrap();
        assert_eq!(other.origin(), Origin::Stored);
        let rebased = mine.rebased(other.clone()).unwrap();
        assert_eq!(row(&rebased, "claude-opus-5-5").rates.input, 3.0);
        assert_eq!(
            row(&rebased, "claude-opus-5-5").rates.output,
            5.0,
            "the new base's rate"
        );
        assert!(rebased.resolve("claude-next").is_some());
        assert_eq!(rebased.base_version(), other.base_version());
        assert_eq!(
            rebased.version(),
            format!(
                "{}+user-{}",
                other.version(),
                &mine.version()[mine.version().len() - 8..]
            )
        );
        // No overrides: the base as it is.
        assert_eq!(
            embedded().rebased(other.clone()).unwrap().version(),
            other.version()
        );
    }

    #[test]
    fn fnv1a32_matches_reference_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }
}
