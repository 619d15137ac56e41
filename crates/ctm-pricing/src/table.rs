//! The price table: parsing, validation, user overrides, lookup index.
//!
//! TOML is walked by hand rather than through serde so every error can name the exact key
//! (`pricing.models."claude-opus-4-6".input`) and say what to write instead.

use std::collections::HashMap;
use std::fmt::Write as _;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use toml::{Table, Value};

use crate::matching::{normalize_model, strip_date, strip_latest};
use crate::PricingError;

const EMBEDDED: &str = include_str!("../prices.toml");

/// Default cache ratios on the input price, for models a user adds without them.
const RATIO_5M: f64 = 1.25;
const RATIO_1H: f64 = 2.0;
const RATIO_READ: f64 = 0.1;
const DEFAULT_THRESHOLD: u64 = 200_000;

/// Prices of one model, USD per million tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPrice {
    /// Canonical undated name, e.g. `claude-opus-4-1`.
    pub id: String,
    /// Dated ids and other spellings that share this row (normalized form).
    pub aliases: Vec<String>,
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
    /// Multiplier on the whole token cost when `speed == "fast"`.
    pub fast_multiplier: Option<f64>,
    /// Multiplier on the whole token cost when `inference_geo == "us"`.
    pub us_multiplier: Option<f64>,
    pub long_context: Option<LongContext>,
    pub note: Option<String>,
}

/// Rates that apply to a whole request once its prompt exceeds `threshold` tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct LongContext {
    pub threshold: u64,
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
    /// First UTC day on which the tier no longer applies (exclusive end).
    pub until: Option<Date>,
}

/// The loaded price table with its name index.
#[derive(Debug, Clone)]
pub struct PriceTable {
    as_of: Date,
    web_search_usd_per_1000: f64,
    pub(crate) models: Vec<ModelPrice>,
    /// Every id and alias -> row; built once so per-response lookups are one hash probe.
    index: HashMap<String, usize>,
    /// `long_context.until` per row as UTC epoch ms, so pricing never does calendar math.
    pub(crate) until_ms: Vec<Option<i64>>,
    base_version: String,
    /// Canonical text of every override applied so far; hashed into the version.
    overrides: String,
    version: String,
}

impl PriceTable {
    /// The table compiled into the binary (`prices.toml`).
    pub fn embedded() -> PriceTable {
        Self::from_toml(EMBEDDED).expect("embedded prices.toml is valid (checked by a unit test)")
    }

    /// Parses a complete table in the `prices.toml` format. Every rate must be explicit.
    pub fn from_toml(text: &str) -> Result<PriceTable, PricingError> {
        let root = parse_toml(text)?;
        check_keys(&root, "", TOP_KEYS)?;

        let as_of = get_date(&root, "as_of", "")?.ok_or_else(|| missing("as_of"))?;
        let web_search = get_number(&root, "web_search_usd_per_1000", "")?
            .ok_or_else(|| missing("web_search_usd_per_1000"))?;
        get_str(&root, "source", "")?;

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
            let patch = ModelPatch::parse(t, &path, true)?;
            models.push(patch.into_new(id.to_owned(), &path, false)?);
        }

        // Provenance: only the compiled-in text is "builtin".
        let base_version = if text == EMBEDDED {
            format!("builtin-{as_of}")
        } else {
            format!("table-{as_of}-{:08x}", fnv1a32(text.as_bytes()))
        };
        Self::build(as_of, web_search, models, base_version, String::new())
    }

    /// Applies the `[pricing]` table of the user's whole `config.toml` text; other
    /// top-level tables are ignored.
    ///
    /// ```toml
    /// [pricing]
    /// web_search_usd_per_1000 = 10.0
    /// [pricing.models."claude-opus-4-6"]     # known model: only these fields change
    /// input = 5.0
    /// [pricing.models."claude-new-model"]    # new model: input and output required
    /// input = 4.0
    /// output = 20.0                          # cache rates default to x1.25, x2, x0.1 of input
    /// ```
    ///
    /// A model key is known when its normalized form is exactly an id or alias; otherwise it
    /// adds a row whose id is that normalized form. Model tables also accept
    /// `cache_write_5m`, `cache_write_1h`, `cache_read`, `fast_multiplier`, `us_multiplier`,
    /// `aliases` (added to the row's), `note`, and `long_context` (a table of the same shape
    /// as in `prices.toml`, or `false` to drop the tier).
    pub fn with_overrides(mut self, config_toml: &str) -> Result<PriceTable, PricingError> {
        let root = parse_toml(config_toml)?;
        let pricing = match root.get("pricing") {
            None => return Ok(self),
            Some(Value::Table(t)) => t,
            Some(other) => return Err(wrong_type("pricing", "a table", other)),
        };
        check_keys(pricing, "pricing", PRICING_KEYS)?;

        if let Some(v) = get_number(pricing, "web_search_usd_per_1000", "pricing")? {
            self.web_search_usd_per_1000 = v;
        }
        let overrides = match pricing.get("models") {
            None => None,
            Some(Value::Table(t)) => Some(t),
            Some(other) => return Err(wrong_type("pricing.models", "a table", other)),
        };
        for (name, body) in overrides.into_iter().flatten() {
            let path = format!("pricing.models.{name:?}");
            let Value::Table(t) = body else {
                return Err(wrong_type(&path, "a table", body));
            };
            let patch = ModelPatch::parse(t, &path, false)?;
            let normalized = normalize_model(name);
            match self.index.get(normalized.as_str()) {
                Some(&row) => patch.apply(&mut self.models[row], &path)?,
                None => {
                    if normalized.is_empty() {
                        return Err(PricingError::InvalidValue {
                            key: path,
                            reason: "a model name must not be empty",
                        });
                    }
                    // Indexed now so a second spelling of the same new model patches it.
                    self.index.insert(normalized.clone(), self.models.len());
                    self.models.push(patch.into_new(normalized, &path, true)?);
                }
            }
        }

        if !pricing.is_empty() {
            canonical(&Value::Table(pricing.clone()), &mut self.overrides);
            self.overrides.push('\n');
        }
        Self::build(
            self.as_of,
            self.web_search_usd_per_1000,
            self.models,
            self.base_version,
            self.overrides,
        )
    }

    /// Validates names and derives the index, the `until` instants and the version.
    fn build(
        as_of: Date,
        web_search_usd_per_1000: f64,
        mut models: Vec<ModelPrice>,
        base_version: String,
        overrides: String,
    ) -> Result<PriceTable, PricingError> {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut until_ms = Vec::with_capacity(models.len());
        for m in &mut models {
            let id = m.id.clone();
            dedup_in_order(&mut m.aliases);
            m.aliases.retain(|a| *a != id);
        }
        for (row, m) in models.iter().enumerate() {
            for name in std::iter::once(&m.id).chain(&m.aliases) {
                let normalized = normalize_model(name);
                if normalized.is_empty() || normalized != *name {
                    return Err(PricingError::NotNormalized {
                        model: m.id.clone(),
                        name: name.clone(),
                        normalized,
                    });
                }
                if let Some(first) = index.insert(normalized, row) {
                    return Err(PricingError::DuplicateName {
                        name: name.clone(),
                        first: models[first].id.clone(),
                        second: m.id.clone(),
                    });
                }
            }
            let until = match m.long_context.as_ref().and_then(|lc| lc.until) {
                None => None,
                Some(d) => Some(
                    d.to_zoned(TimeZone::UTC)
                        .map_err(|_| PricingError::InvalidDate {
                            key: format!("{}.long_context.until", m.id),
                            value: d.to_string(),
                        })?
                        .timestamp()
                        .as_millisecond(),
                ),
            };
            until_ms.push(until);
        }
        let version = if overrides.is_empty() {
            base_version.clone()
        } else {
            format!("{base_version}+user-{:08x}", fnv1a32(overrides.as_bytes()))
        };
        Ok(PriceTable {
            as_of,
            web_search_usd_per_1000,
            models,
            index,
            until_ms,
            base_version,
            overrides,
            version,
        })
    }

    /// The day the table was last checked against published prices.
    pub fn as_of(&self) -> Date {
        self.as_of
    }

    /// Provenance stored beside each cost: `builtin-<as_of>`, plus `+user-<8 hex>` when
    /// overrides were applied (an FNV-1a hash of their canonical form, stable across runs
    /// and insensitive to formatting and key order).
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn web_search_usd_per_1000(&self) -> f64 {
        self.web_search_usd_per_1000
    }

    pub fn models(&self) -> &[ModelPrice] {
        &self.models
    }

    /// The row for a raw model name from a log, or `None` when it has no price.
    pub fn resolve(&self, raw_model: &str) -> Option<&ModelPrice> {
        self.resolve_index(raw_model).map(|row| &self.models[row])
    }

    pub(crate) fn resolve_index(&self, raw_model: &str) -> Option<usize> {
        // Most log names are already canonical: index keys are normal-form fixpoints, so
        // a direct hit is the same answer without allocating.
        if let Some(&row) = self.index.get(raw_model) {
            return Some(row);
        }
        let name = normalize_model(raw_model);
        let get = |n: &str| self.index.get(n).copied();
        get(&name)
            .or_else(|| strip_date(&name).and_then(get))
            .or_else(|| strip_latest(&name).and_then(get))
    }
}

fn dedup_in_order(names: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
}

const TOP_KEYS: &[&str] = &["as_of", "web_search_usd_per_1000", "source", "models"];
const PRICING_KEYS: &[&str] = &["web_search_usd_per_1000", "models"];
const MODEL_KEYS: &[&str] = &[
    "id",
    "aliases",
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "fast_multiplier",
    "us_multiplier",
    "long_context",
    "note",
];
const LONG_CONTEXT_KEYS: &[&str] = &[
    "threshold",
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "until",
];

/// Any subset of a model's fields, as read from TOML.
#[derive(Default)]
struct ModelPatch {
    aliases: Option<Vec<String>>,
    input: Option<f64>,
    output: Option<f64>,
    cache_write_5m: Option<f64>,
    cache_write_1h: Option<f64>,
    cache_read: Option<f64>,
    fast_multiplier: Option<f64>,
    us_multiplier: Option<f64>,
    long_context: Option<LongContextPatch>,
    note: Option<String>,
}

enum LongContextPatch {
    Remove,
    Set {
        threshold: Option<u64>,
        input: Option<f64>,
        output: Option<f64>,
        cache_write_5m: Option<f64>,
        cache_write_1h: Option<f64>,
        cache_read: Option<f64>,
        until: Option<Date>,
    },
}

impl ModelPatch {
    fn parse(t: &Table, path: &str, allow_id: bool) -> Result<Self, PricingError> {
        let allowed = if allow_id {
            MODEL_KEYS
        } else {
            &MODEL_KEYS[1..]
        };
        check_keys(t, path, allowed)?;
        let long_context = match t.get("long_context") {
            None => None,
            Some(Value::Boolean(false)) => Some(LongContextPatch::Remove),
            Some(Value::Table(lc)) => {
                let path = key(path, "long_context");
                check_keys(lc, &path, LONG_CONTEXT_KEYS)?;
                Some(LongContextPatch::Set {
                    threshold: get_u64(lc, "threshold", &path)?,
                    input: get_number(lc, "input", &path)?,
                    output: get_number(lc, "output", &path)?,
                    cache_write_5m: get_number(lc, "cache_write_5m", &path)?,
                    cache_write_1h: get_number(lc, "cache_write_1h", &path)?,
                    cache_read: get_number(lc, "cache_read", &path)?,
                    until: get_date(lc, "until", &path)?,
                })
            }
            Some(other) => {
                return Err(wrong_type(
                    &key(path, "long_context"),
                    "a table (or false)",
                    other,
                ))
            }
        };
        Ok(ModelPatch {
            aliases: get_str_array(t, "aliases", path)?,
            input: get_number(t, "input", path)?,
            output: get_number(t, "output", path)?,
            cache_write_5m: get_number(t, "cache_write_5m", path)?,
            cache_write_1h: get_number(t, "cache_write_1h", path)?,
            cache_read: get_number(t, "cache_read", path)?,
            fast_multiplier: get_number(t, "fast_multiplier", path)?,
            us_multiplier: get_number(t, "us_multiplier", path)?,
            long_context,
            note: get_str(t, "note", path)?.map(str::to_owned),
        })
    }

    /// A new row. `default_cache` fills missing cache rates from input (user-added models);
    /// the table file itself must state them.
    fn into_new(
        self,
        id: String,
        path: &str,
        default_cache: bool,
    ) -> Result<ModelPrice, PricingError> {
        let input = self.input.ok_or_else(|| missing(&key(path, "input")))?;
        let output = self.output.ok_or_else(|| missing(&key(path, "output")))?;
        let cache = |v: Option<f64>, name: &str, ratio: f64| match v {
            Some(v) => Ok(v),
            None if default_cache => Ok(input * ratio),
            None => Err(missing(&key(path, name))),
        };
        let mut model = ModelPrice {
            id,
            aliases: self.aliases.unwrap_or_default(),
            input,
            output,
            cache_write_5m: cache(self.cache_write_5m, "cache_write_5m", RATIO_5M)?,
            cache_write_1h: cache(self.cache_write_1h, "cache_write_1h", RATIO_1H)?,
            cache_read: cache(self.cache_read, "cache_read", RATIO_READ)?,
            fast_multiplier: self.fast_multiplier,
            us_multiplier: self.us_multiplier,
            long_context: None,
            note: self.note,
        };
        if let Some(lc) = self.long_context {
            apply_long_context(&mut model.long_context, lc, path, default_cache)?;
        }
        Ok(model)
    }

    /// Replaces only the fields given; aliases are added, not replaced.
    fn apply(self, m: &mut ModelPrice, path: &str) -> Result<(), PricingError> {
        if let Some(aliases) = self.aliases {
            m.aliases.extend(aliases);
        }
        let set = |dst: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut m.input, self.input);
        set(&mut m.output, self.output);
        set(&mut m.cache_write_5m, self.cache_write_5m);
        set(&mut m.cache_write_1h, self.cache_write_1h);
        set(&mut m.cache_read, self.cache_read);
        if self.fast_multiplier.is_some() {
            m.fast_multiplier = self.fast_multiplier;
        }
        if self.us_multiplier.is_some() {
            m.us_multiplier = self.us_multiplier;
        }
        if self.note.is_some() {
            m.note = self.note;
        }
        if let Some(lc) = self.long_context {
            apply_long_context(&mut m.long_context, lc, path, true)?;
        }
        Ok(())
    }
}

fn apply_long_context(
    dst: &mut Option<LongContext>,
    patch: LongContextPatch,
    path: &str,
    default_cache: bool,
) -> Result<(), PricingError> {
    let LongContextPatch::Set {
        threshold,
        input,
        output,
        cache_write_5m,
        cache_write_1h,
        cache_read,
        until,
    } = patch
    else {
        *dst = None;
        return Ok(());
    };
    let path = key(path, "long_context");
    match dst {
        Some(lc) => {
            let set = |dst: &mut f64, v: Option<f64>| {
                if let Some(v) = v {
                    *dst = v;
                }
            };
            if let Some(t) = threshold {
                lc.threshold = t;
            }
            set(&mut lc.input, input);
            set(&mut lc.output, output);
            set(&mut lc.cache_write_5m, cache_write_5m);
            set(&mut lc.cache_write_1h, cache_write_1h);
            set(&mut lc.cache_read, cache_read);
            if until.is_some() {
                lc.until = until;
            }
        }
        None => {
            let input = input.ok_or_else(|| missing(&key(&path, "input")))?;
            let output = output.ok_or_else(|| missing(&key(&path, "output")))?;
            let cache = |v: Option<f64>, name: &str, ratio: f64| match v {
                Some(v) => Ok(v),
                None if default_cache => Ok(input * ratio),
                None => Err(missing(&key(&path, name))),
            };
            let threshold = match threshold {
                Some(t) => t,
                None if default_cache => DEFAULT_THRESHOLD,
                None => return Err(missing(&key(&path, "threshold"))),
            };
            *dst = Some(LongContext {
                threshold,
                input,
                output,
                cache_write_5m: cache(cache_write_5m, "cache_write_5m", RATIO_5M)?,
                cache_write_1h: cache(cache_write_1h, "cache_write_1h", RATIO_1H)?,
                cache_read: cache(cache_read, "cache_read", RATIO_READ)?,
                until,
            });
        }
    }
    Ok(())
}

// ---- TOML helpers ---------------------------------------------------------------------

fn parse_toml(text: &str) -> Result<Table, PricingError> {
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

/// A price or multiplier: integer or float, finite, not negative.
fn get_number(t: &Table, name: &str, path: &str) -> Result<Option<f64>, PricingError> {
    let v = match t.get(name) {
        None => return Ok(None),
        Some(Value::Float(f)) => *f,
        Some(Value::Integer(i)) => *i as f64,
        Some(other) => return Err(wrong_type(&key(path, name), "a number", other)),
    };
    if !v.is_finite() {
        return Err(PricingError::InvalidValue {
            key: key(path, name),
            reason: "must be a finite number",
        });
    }
    if v < 0.0 {
        return Err(PricingError::Negative {
            key: key(path, name),
            value: v,
        });
    }
    Ok(Some(v))
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
fn parse_date(s: &str) -> Option<Date> {
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
fn canonical(v: &Value, out: &mut String) {
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
fn fnv1a32(bytes: &[u8]) -> u32 {
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
    use jiff::civil::date;

    fn embedded() -> PriceTable {
        PriceTable::embedded()
    }

    fn id_of(t: &PriceTable, raw: &str) -> Option<String> {
        t.resolve(raw).map(|m| m.id.clone())
    }

    fn row<'t>(t: &'t PriceTable, id: &str) -> &'t ModelPrice {
        t.models().iter().find(|m| m.id == id).unwrap()
    }

    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
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

    // ---- the embedded table --------------------------------------------------------

    #[test]
    fn embedded_table_parses_with_its_date_and_version() {
        let t = embedded();
        assert_eq!(t.as_of(), date(2026, 11, 22));
        assert_eq!(t.version(), "builtin-2026-11-22");
        assert!(near(t.web_search_usd_per_1000(), 10.0));
    }

    #[test]
    fn embedded_table_has_every_listed_model() {
        let t = embedded();
        let mut ids: Vec<&str> = t.models().iter().map(|m| m.id.as_str()).collect();
        ids.sort_unstable();
        let mut want = vec![
            "claude-opus-4",
            "claude-opus-4-1",
            "claude-opus-4-5",
            "claude-opus-4-6",
            "claude-opus-4-7",
            "claude-opus-4-8",
            "claude-sonnet-4",
            "claude-sonnet-4-5",
            "claude-sonnet-4-6",
            "claude-3-7-sonnet",
            "claude-3-5-sonnet",
            "claude-haiku-4-5",
            "claude-3-5-haiku",
            "claude-3-opus",
            "claude-3-haiku",
            "claude-sonnet-5",
            "claude-opus-5",
        ];
        want.sort_unstable();
        assert_eq!(ids, want);
    }

    #[test]
    fn embedded_rates_match_the_reference() {
        let t = embedded();
        let rates = |id| {
            let m = row(&t, id);
            [
                m.input,
                m.output,
                m.cache_write_5m,
                m.cache_write_1h,
                m.cache_read,
            ]
        };
        assert_eq!(rates("claude-opus-4"), [15.0, 75.0, 18.75, 30.0, 1.5]);
        assert_eq!(rates("claude-opus-4-1"), [15.0, 75.0, 18.75, 30.0, 1.5]);
        for id in ["claude-opus-4-5", "claude-opus-4-6", "claude-opus-4-7"] {
            assert_eq!(rates(id), [5.0, 25.0, 6.25, 10.0, 0.5], "{id}");
        }
        assert_eq!(rates("claude-opus-4-8"), [5.0, 25.0, 6.25, 10.0, 0.5]);
        assert_eq!(rates("claude-opus-5"), [5.0, 25.0, 6.25, 10.0, 0.5]);
        for id in [
            "claude-sonnet-4",
            "claude-sonnet-4-5",
            "claude-sonnet-4-6",
            "claude-3-7-sonnet",
            "claude-3-5-sonnet",
        ] {
            assert_eq!(rates(id), [3.0, 15.0, 3.75, 6.0, 0.3], "{id}");
        }
        assert_eq!(rates("claude-sonnet-5"), [2.0, 10.0, 2.5, 4.0, 0.2]);
        assert_eq!(rates("claude-haiku-4-5"), [1.0, 5.0, 1.25, 2.0, 0.1]);
        assert_eq!(rates("claude-3-5-haiku"), [0.8, 4.0, 1.0, 1.6, 0.08]);
        assert_eq!(rates("claude-3-opus"), [15.0, 75.0, 18.75, 30.0, 1.5]);
        assert_eq!(rates("claude-3-haiku"), [0.25, 1.25, 0.30, 0.50, 0.03]);
    }

    #[test]
    fn cache_rates_follow_the_usual_ratios_where_the_reference_says_so() {
        // Claude 3 Haiku is published with its own cache rates (0.30 / 0.03 on 0.25).
        for m in embedded()
            .models()
            .iter()
            .filter(|m| m.id != "claude-3-haiku")
        {
            assert!(
                (m.cache_write_5m - 1.25 * m.input).abs() < 1e-9,
                "{} 5m",
                m.id
            );
            assert!(
                (m.cache_write_1h - 2.0 * m.input).abs() < 1e-9,
                "{} 1h",
                m.id
            );
            assert!((m.cache_read - 0.1 * m.input).abs() < 1e-9, "{} read", m.id);
            if let Some(lc) = &m.long_context {
                assert!(
                    (lc.cache_write_5m - 1.25 * lc.input).abs() < 1e-9,
                    "{} lc",
                    m.id
                );
                assert!(
                    (lc.cache_write_1h - 2.0 * lc.input).abs() < 1e-9,
                    "{} lc",
                    m.id
                );
                assert!((lc.cache_read - 0.1 * lc.input).abs() < 1e-9, "{} lc", m.id);
            }
        }
    }

    #[test]
    fn no_two_rows_share_a_name() {
        let t = embedded();
        let mut seen = std::collections::HashSet::new();
        for m in t.models() {
            for name in std::iter::once(&m.id).chain(&m.aliases) {
                assert!(seen.insert(name.as_str()), "{name} appears twice");
                assert_eq!(id_of(&t, name).as_deref(), Some(m.id.as_str()));
            }
        }
    }

    #[test]
    fn long_context_tiers_and_their_end_dates() {
        let t = embedded();
        let sonnet_lc = |id| row(&t, id).long_context.clone().unwrap();
        for id in ["claude-sonnet-4", "claude-sonnet-4-5", "claude-sonnet-4-6"] {
            let lc = sonnet_lc(id);
            assert_eq!(lc.threshold, 200_000);
            assert_eq!(
                [
                    lc.input,
                    lc.output,
                    lc.cache_write_5m,
                    lc.cache_write_1h,
                    lc.cache_read
                ],
                [6.0, 22.5, 7.5, 12.0, 0.6],
                "{id}"
            );
        }
        assert_eq!(sonnet_lc("claude-sonnet-4").until, None);
        assert_eq!(sonnet_lc("claude-sonnet-4-5").until, None);
        assert_eq!(
            sonnet_lc("claude-sonnet-4-6").until,
            Some(date(2026, 3, 13))
        );
        let opus = row(&t, "claude-opus-4-6").long_context.clone().unwrap();
        assert_eq!(
            [
                opus.input,
                opus.output,
                opus.cache_write_5m,
                opus.cache_write_1h,
                opus.cache_read
            ],
            [10.0, 37.5, 12.5, 20.0, 1.0]
        );
        assert_eq!(opus.until, Some(date(2026, 3, 13)));
        let with_tier: Vec<&str> = t
            .models()
            .iter()
            .filter(|m| m.long_context.is_some())
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(
            with_tier,
            [
                "claude-opus-4-6",
                "claude-sonnet-4",
                "claude-sonnet-4-5",
                "claude-sonnet-4-6"
            ]
        );
    }

    #[test]
    fn fast_and_us_multipliers_only_where_published() {
        let t = embedded();
        for m in t.models() {
            let fast = match m.id.as_str() {
                "claude-opus-4-6" | "claude-opus-4-7" => Some(6.0),
                "claude-opus-4-8" => Some(2.0),
                _ => None,
            };
            assert_eq!(m.fast_multiplier, fast, "{}", m.id);
            let us = match m.id.as_str() {
                "claude-opus-4-6" | "claude-opus-4-7" | "claude-opus-4-8" | "claude-sonnet-4-6"
                | "claude-opus-5" | "claude-sonnet-5" => Some(1.1),
                _ => None,
            };
            assert_eq!(m.us_multiplier, us, "{}", m.id);
        }
    }

    #[test]
    fn reported_rows_say_so() {
        let t = embedded();
        for id in ["claude-sonnet-5", "claude-opus-5"] {
            assert!(row(&t, id).note.as_deref().unwrap().contains("reported"));
        }
    }

    // ---- matching ------------------------------------------------------------------

    #[test]
    fn resolves_the_specified_names() {
        let t = embedded();
        let cases = [
            ("claude-opus-4-1-20250805", Some("claude-opus-4-1")),
            ("claude-opus-4-20250514", Some("claude-opus-4")),
            ("claude-opus-4-9", None),
            ("<synthetic>", None),
            ("claude-sonnet-4-5-20250929", Some("claude-sonnet-4-5")),
            (
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                Some("claude-sonnet-4"),
            ),
            ("claude-3-5-sonnet-v2@20241022", Some("claude-3-5-sonnet")),
        ];
        for (raw, want) in cases {
            assert_eq!(id_of(&t, raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn resolves_other_spellings() {
        let t = embedded();
        let cases = [
            ("claude-opus-4-6", Some("claude-opus-4-6")),
            ("Claude-Opus-4-6[1m]", Some("claude-opus-4-6")),
            ("claude-sonnet-4-5[1m]", Some("claude-sonnet-4-5")),
            ("anthropic/claude-haiku-4-5", Some("claude-haiku-4-5")),
            (
                "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
                Some("claude-3-haiku"),
            ),
            (
                "global.anthropic.claude-opus-4-5-20251101-v1:0",
                Some("claude-opus-4-5"),
            ),
            ("claude-opus-4-1@20250805", Some("claude-opus-4-1")),
            ("claude-sonnet-4@20250514", Some("claude-sonnet-4")),
            ("claude-opus-4-0", Some("claude-opus-4")),
            // An unseen date of a known model falls back to the undated row.
            ("claude-opus-4-1-20991231", Some("claude-opus-4-1")),
            ("claude-opus-4-7-20260101", Some("claude-opus-4-7")),
            ("claude-3-5-sonnet-latest", Some("claude-3-5-sonnet")),
            ("claude-3-5-haiku-latest", Some("claude-3-5-haiku")),
            ("claude-3-5-sonnet-20240620", Some("claude-3-5-sonnet")),
            (
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                Some("claude-3-5-sonnet"),
            ),
            // Never a prefix match, in either direction.
            ("claude-opus", None),
            ("claude-opus-4-1-extra", None),
            ("claude-opus-4-10", None),
            ("claude", None),
            ("", None),
            ("gpt-4o", None),
        ];
        for (raw, want) in cases {
            assert_eq!(id_of(&t, raw).as_deref(), want, "{raw}");
        }
    }

    // ---- from_toml -----------------------------------------------------------------

    #[test]
    fn a_custom_table_is_not_labelled_builtin() {
        let t = PriceTable::from_toml(TINY).unwrap();
        assert_eq!(t.as_of(), date(2026, 1, 2));
        assert!(
            t.version().starts_with("table-2026-01-02-"),
            "{}",
            t.version()
        );
        assert_eq!(t.version().len(), "table-2026-01-02-".len() + 8);
        assert_eq!(id_of(&t, "claude-a-20250101").as_deref(), Some("claude-a"));
    }

    #[test]
    fn table_requires_every_rate() {
        let text = TINY.replace("cache_read = 0.1\n", "");
        let err = PriceTable::from_toml(&text).unwrap_err();
        assert!(
            matches!(&err, PricingError::Missing { key } if key == "models[0] (claude-a).cache_read")
        );
        let err = PriceTable::from_toml(&TINY.replace("as_of = \"2026-01-02\"", "")).unwrap_err();
        assert!(
            matches!(&err, PricingError::Missing { key } if key == "as_of"),
            "{err}"
        );
    }

    #[test]
    fn table_rejects_duplicate_names() {
        let text = format!(
            "{TINY}\n[[models]]\nid = \"claude-b\"\naliases = [\"claude-a-20250101\"]\n\
             input = 1\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n"
        );
        let err = PriceTable::from_toml(&text).unwrap_err();
        assert!(
            matches!(&err, PricingError::DuplicateName { name, first, second }
                if name == "claude-a-20250101" && first == "claude-a" && second == "claude-b"),
            "{err}"
        );
    }

    #[test]
    fn table_rejects_names_not_in_normal_form() {
        let err =
            PriceTable::from_toml(&TINY.replace("\"claude-a-20250101\"", "\"Claude-A@20250101\""))
                .unwrap_err();
        assert!(
            matches!(&err, PricingError::NotNormalized { normalized, .. } if normalized == "claude-a-20250101"),
            "{err}"
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

    #[test]
    fn dates_are_strict() {
        assert_eq!(parse_date("2026-03-13"), Some(date(2026, 3, 13)));
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026-3-13"), None);
        assert_eq!(parse_date("2026-03-13T00:00"), None);
        assert_eq!(parse_date("+026-03-13"), None);
        let err = PriceTable::from_toml(&TINY.replace("\"2026-01-02\"", "\"Jan 2\"")).unwrap_err();
        assert!(
            matches!(&err, PricingError::InvalidDate { key, .. } if key == "as_of"),
            "{err}"
        );
        // A bare TOML date works; a datetime does not.
        let t = PriceTable::from_toml(&TINY.replace("\"2026-01-02\"", "2026-01-02")).unwrap();
        assert_eq!(t.as_of(), date(2026, 1, 2));
        assert!(
            PriceTable::from_toml(&TINY.replace("\"2026-01-02\"", "2026-01-02T10:00:00")).is_err()
        );
    }

    // ---- overrides -----------------------------------------------------------------

    #[test]
    fn config_without_pricing_changes_nothing() {
        let t = embedded()
            .with_overrides("[display]\ncolor = \"auto\"\nwhatever = 3\n")
            .unwrap();
        assert_eq!(t.version(), "builtin-2026-11-22");
        assert_eq!(t.models(), embedded().models());
        assert_eq!(
            embedded().with_overrides("").unwrap().version(),
            "builtin-2026-11-22"
        );
    }

    #[test]
    fn override_replaces_only_the_given_field() {
        let t = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = 6.0\n")
            .unwrap();
        let m = row(&t, "claude-opus-4-6");
        assert_eq!(m.input, 6.0);
        assert_eq!(m.output, 25.0);
        assert_eq!(m.cache_write_5m, 6.25);
        assert_eq!(m.cache_read, 0.5);
        assert_eq!(m.fast_multiplier, Some(6.0));
        assert!(m.long_context.is_some());
        assert_eq!(t.models().len(), embedded().models().len());
    }

    #[test]
    fn override_by_alias_or_provider_spelling_patches_the_row() {
        let t = embedded()
            .with_overrides(
                "[pricing.models.\"claude-opus-4-6-20260205\"]\noutput = 30\n\
                 [pricing.models.\"us.anthropic.claude-haiku-4-5-20251001-v1:0\"]\ncache_read = 0.2\n",
            )
            .unwrap();
        assert_eq!(row(&t, "claude-opus-4-6").output, 30.0);
        assert_eq!(row(&t, "claude-haiku-4-5").cache_read, 0.2);
        assert_eq!(t.models().len(), embedded().models().len());
    }

    #[test]
    fn override_adds_a_model_with_default_cache_rates() {
        let t = embedded()
            .with_overrides(
                "[pricing.models.\"claude-next\"]\ninput = 4\noutput = 20.0\n\
                 aliases = [\"claude-next-preview\"]\nnote = \"my guess\"\n",
            )
            .unwrap();
        let m = t.resolve("claude-next-20270101").unwrap();
        assert_eq!(m.id, "claude-next");
        assert_eq!(
            [
                m.input,
                m.output,
                m.cache_write_5m,
                m.cache_write_1h,
                m.cache_read
            ],
            [4.0, 20.0, 5.0, 8.0, 0.4]
        );
        assert_eq!(m.fast_multiplier, None);
        assert_eq!(m.note.as_deref(), Some("my guess"));
        assert_eq!(
            id_of(&t, "claude-next-preview").as_deref(),
            Some("claude-next")
        );
    }

    #[test]
    fn new_model_needs_input_and_output() {
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-next\"]\ninput = 4\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::Missing { key } if key == "pricing.models.\"claude-next\".output"),
            "{err}"
        );
    }

    #[test]
    fn override_of_the_wrong_type_names_the_key() {
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = \"five\"\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::WrongType { key, found: "string", .. }
                if key == "pricing.models.\"claude-opus-4-6\".input"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "pricing.models.\"claude-opus-4-6\".input must be a number, not string"
        );
        let err = embedded().with_overrides("pricing = 3\n").unwrap_err();
        assert!(matches!(&err, PricingError::WrongType { key, .. } if key == "pricing"));
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-a\"]\ninput = 1\noutput = 1\naliases = [1]\n")
            .unwrap_err();
        assert!(matches!(&err, PricingError::WrongType { key, .. } if key.ends_with(".aliases")));
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
        assert!(err.to_string().contains("input"), "{err}");
        let err = embedded()
            .with_overrides("[pricing]\nweb_search = 1\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::UnknownKey { key, .. } if key == "pricing.web_search")
        );
        // `id` belongs to the table file only; in overrides the key is the name.
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\nid = \"x\"\n")
            .unwrap_err();
        assert!(matches!(err, PricingError::UnknownKey { .. }));
        let err = embedded()
            .with_overrides(
                "[pricing.models.\"claude-sonnet-4\".long_context]\nuntill = 2026-01-01\n",
            )
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::UnknownKey { key, .. } if key.ends_with("long_context.untill"))
        );
    }

    #[test]
    fn negative_or_non_finite_overrides_are_errors() {
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\noutput = -1.0\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::Negative { key, value }
                if key == "pricing.models.\"claude-opus-4-6\".output" && *value == -1.0),
            "{err}"
        );
        let err = embedded()
            .with_overrides("[pricing]\nweb_search_usd_per_1000 = -10\n")
            .unwrap_err();
        assert!(
            matches!(&err, PricingError::Negative { key, .. } if key == "pricing.web_search_usd_per_1000")
        );
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = nan\n")
            .unwrap_err();
        assert!(matches!(err, PricingError::InvalidValue { .. }));
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-sonnet-4\".long_context]\nthreshold = -5\n")
            .unwrap_err();
        assert!(matches!(err, PricingError::Negative { .. }));
    }

    #[test]
    fn override_alias_may_not_steal_another_models_name() {
        let err = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4\"]\naliases = [\"claude-opus-4-1\"]\n")
            .unwrap_err();
        assert!(matches!(err, PricingError::DuplicateName { .. }), "{err}");
    }

    #[test]
    fn override_web_search_price() {
        let t = embedded()
            .with_overrides("[pricing]\nweb_search_usd_per_1000 = 25\n")
            .unwrap();
        assert_eq!(t.web_search_usd_per_1000(), 25.0);
    }

    #[test]
    fn override_long_context_tiers() {
        let t = embedded()
            .with_overrides(
                "[pricing.models.\"claude-sonnet-4-5\"]\nlong_context = false\n\
                 [pricing.models.\"claude-haiku-4-5\".long_context]\ninput = 2\noutput = 10\nuntil = 2027-01-01\n\
                 [pricing.models.\"claude-sonnet-4-6\".long_context]\nuntil = \"2026-04-01\"\n",
            )
            .unwrap();
        assert_eq!(row(&t, "claude-sonnet-4-5").long_context, None);
        assert_eq!(
            row(&t, "claude-haiku-4-5").long_context,
            Some(LongContext {
                threshold: 200_000,
                input: 2.0,
                output: 10.0,
                cache_write_5m: 2.5,
                cache_write_1h: 4.0,
                cache_read: 0.2,
                until: Some(date(2027, 1, 1)),
            })
        );
        let lc = row(&t, "claude-sonnet-4-6").long_context.clone().unwrap();
        assert_eq!((lc.input, lc.until), (6.0, Some(date(2026, 4, 1))));
    }

    #[test]
    fn version_tracks_overrides_and_is_stable() {
        let text = "[pricing.models.\"claude-opus-4-6\"]\ninput = 6.0\noutput = 30.0\n";
        let a = embedded().with_overrides(text).unwrap();
        let b = embedded().with_overrides(text).unwrap();
        assert_eq!(a.version(), b.version());
        let hash = a
            .version()
            .strip_prefix("builtin-2026-11-22+user-")
            .unwrap();
        assert_eq!(hash.len(), 8);
        assert!(hash
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));

        // Formatting, key order, comments, other tables and 6 vs 6.0 do not matter.
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
    fn chained_overrides_compose() {
        let once = embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = 6\n")
            .unwrap();
        let v1 = once.version().to_owned();
        let twice = once
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\noutput = 30\n")
            .unwrap();
        assert_ne!(twice.version(), v1);
        let m = row(&twice, "claude-opus-4-6");
        assert_eq!((m.input, m.output), (6.0, 30.0));
        // A config without [pricing] keeps the earlier overrides and their version.
        let v2 = twice.version().to_owned();
        assert_eq!(twice.with_overrides("[ui]\n").unwrap().version(), v2);
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
        assert_eq!(t.version(), "builtin-2026-11-22+user-b62e2aa8");
    }

    #[test]
    fn fnv1a32_matches_reference_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }
}
