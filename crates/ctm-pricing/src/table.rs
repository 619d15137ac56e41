//! The price table: its rows, validation, the name index and the per-row schedules the
//! cost function reads.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::matching::{normalize_model, strip_date, strip_latest, version_remainder};
use crate::parse::{self, fnv1a32};
use crate::PricingError;

pub(crate) const EMBEDDED: &str = include_str!("../prices.toml");

/// The five token rates of a model, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
}

impl Rates {
    /// Name and value of each rate, in the table file's order.
    pub fn fields(&self) -> [(&'static str, f64); 5] {
        [
            ("input", self.input),
            ("output", self.output),
            ("cache_write_5m", self.cache_write_5m),
            ("cache_write_1h", self.cache_write_1h),
            ("cache_read", self.cache_read),
        ]
    }
}

/// A change of some of a model's base rates from a UTC date on (rule R9: 00:00 UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct DatedRates {
    pub from: Date,
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_write_5m: Option<f64>,
    pub cache_write_1h: Option<f64>,
    pub cache_read: Option<f64>,
    pub note: Option<String>,
}

impl DatedRates {
    fn apply(&self, r: &mut Rates) {
        let set = |dst: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut r.input, self.input);
        set(&mut r.output, self.output);
        set(&mut r.cache_write_5m, self.cache_write_5m);
        set(&mut r.cache_write_1h, self.cache_write_1h);
        set(&mut r.cache_read, self.cache_read);
    }
}

/// Rates for a whole request whose prompt (input + cache writes + cache reads) is
/// strictly greater than `above_prompt_tokens`, between `from` and `until` (exclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub above_prompt_tokens: u64,
    pub from: Option<Date>,
    pub until: Option<Date>,
    pub rates: Rates,
    pub note: Option<String>,
}

/// Fast mode's multiplier on every token category while it was offered.
#[derive(Debug, Clone, PartialEq)]
pub struct FastWindow {
    pub multiplier: f64,
    pub from: Option<Date>,
    pub until: Option<Date>,
    pub note: Option<String>,
}

/// Prices of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPrice {
    /// Canonical undated name, e.g. `claude-opus-4-1`.
    pub id: String,
    /// Dated ids and other spellings that share this row (normal form).
    pub aliases: Vec<String>,
    /// The base rates, before any dated change.
    pub rates: Rates,
    /// Rate changes, in date order.
    pub dated: Vec<DatedRates>,
    pub bands: Vec<Band>,
    pub fast: Vec<FastWindow>,
    /// Multiplier on every token category when `inference_geo == "us"`.
    pub us_multiplier: Option<f64>,
    pub note: Option<String>,
}

impl ModelPrice {
    /// The base rates in force on `day` (dated changes applied).
    pub fn rates_on(&self, day: Date) -> Rates {
        let mut r = self.rates;
        for d in self.dated.iter().filter(|d| d.from <= day) {
            d.apply(&mut r);
        }
        r
    }

    /// The base rates after the last dated change.
    pub fn latest_rates(&self) -> Rates {
        let mut r = self.rates;
        for d in &self.dated {
            d.apply(&mut r);
        }
        r
    }

    /// The fast multiplier in force on `day`, if fast mode was offered then.
    pub fn fast_on(&self, day: Date) -> Option<f64> {
        self.fast
            .iter()
            .find(|f| within(day, f.from, f.until))
            .map(|f| f.multiplier)
    }
}

fn within(day: Date, from: Option<Date>, until: Option<Date>) -> bool {
    from.map_or(true, |f| f <= day) && until.map_or(true, |u| day < u)
}

/// A row compiled for pricing: every date as UTC epoch milliseconds, so pricing never
/// does calendar math.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    /// (from, rates), ascending; the first entry starts at `i64::MIN`.
    pub rates: Vec<(i64, Rates)>,
    /// (from, until, above, rates), highest threshold first.
    pub bands: Vec<(i64, i64, u64, Rates)>,
    /// (from, until, multiplier).
    pub fast: Vec<(i64, i64, f64)>,
}

impl Schedule {
    pub fn rates_at(&self, ms: i64) -> &Rates {
        let i = self.rates.partition_point(|(from, _)| *from <= ms);
        &self.rates[i.saturating_sub(1)].1
    }
}

/// Where the table in force came from, for `ctm pricing` and the stored provenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into this binary.
    Embedded,
    /// Any other table in ctm's format, read from a file.
    Table,
    /// The table `ctm pricing update` kept in the store.
    Stored,
}

/// The loaded price table with its name index.
#[derive(Debug, Clone)]
pub struct PriceTable {
    pub(crate) as_of: Date,
    pub(crate) source: Option<String>,
    pub(crate) web_search_usd_per_1000: f64,
    pub(crate) models: Vec<ModelPrice>,
    /// Every id and alias -> row; built once so per-response lookups are one hash probe.
    index: HashMap<String, usize>,
    /// Every id and alias, for the separator-bounded prefix match.
    names: Vec<(String, usize)>,
    pub(crate) schedules: Vec<Schedule>,
    origin: Origin,
    base_version: String,
    /// Canonical text of every override applied so far; hashed into the version.
    pub(crate) overrides: String,
    /// The config texts those overrides came from, to apply them to another base.
    pub(crate) override_texts: Vec<String>,
    version: String,
}

impl PriceTable {
    /// The table compiled into the binary (`prices.toml`).
    pub fn embedded() -> PriceTable {
        Self::from_toml(EMBEDDED).expect("embedded prices.toml is valid (checked by a unit test)")
    }

    /// Parses and validates a complete table in ctm's format (`prices.toml`).
    pub fn from_toml(text: &str) -> Result<PriceTable, PricingError> {
        Self::read(text, Origin::Table)
    }

    /// The table `ctm pricing update` kept in the store, validated again.
    pub fn from_stored_toml(text: &str) -> Result<PriceTable, PricingError> {
        Self::read(text, Origin::Stored)
    }

    fn read(text: &str, origin: Origin) -> Result<PriceTable, PricingError> {
        let parsed = parse::table(text)?;
        let (origin, base_version) = if text == EMBEDDED {
            (Origin::Embedded, format!("builtin-{}", parsed.as_of))
        } else {
            (
                origin,
                format!("table-{}-{:08x}", parsed.as_of, parsed.content_hash),
            )
        };
        Self::build(
            parsed.as_of,
            parsed.source,
            parsed.web_search_usd_per_1000,
            parsed.models,
            origin,
            base_version,
            String::new(),
        )
    }

    /// Applies the `[pricing]` table of the user's whole `config.toml` text (see
    /// `docs/pricing.md`); other top-level tables are ignored.
    pub fn with_overrides(self, config_toml: &str) -> Result<PriceTable, PricingError> {
        parse::apply_overrides(self, config_toml)
    }

    /// `base` with the config overrides this table was given applied again: how a
    /// process follows the table in force when `ctm pricing update` changes it.
    pub fn rebased(&self, base: PriceTable) -> Result<PriceTable, PricingError> {
        self.override_texts
            .iter()
            .try_fold(base, |t, text| t.with_overrides(text))
    }

    /// Validates names, dates and windows, and derives the index, the schedules and the
    /// version.
    pub(crate) fn build(
        as_of: Date,
        source: Option<String>,
        web_search_usd_per_1000: f64,
        mut models: Vec<ModelPrice>,
        origin: Origin,
        base_version: String,
        overrides: String,
    ) -> Result<PriceTable, PricingError> {
        let mut index: HashMap<String, usize> = HashMap::new();
        for m in &mut models {
            let id = m.id.clone();
            dedup_in_order(&mut m.aliases);
            m.aliases.retain(|a| *a != id);
            m.dated.sort_by_key(|d| d.from);
        }
        let mut schedules = Vec::with_capacity(models.len());
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
            schedules.push(schedule(m)?);
        }
        let mut names: Vec<(String, usize)> = index.iter().map(|(k, v)| (k.clone(), *v)).collect();
        names.sort();
        let version = if overrides.is_empty() {
            base_version.clone()
        } else {
            format!("{base_version}+user-{:08x}", fnv1a32(overrides.as_bytes()))
        };
        Ok(PriceTable {
            as_of,
            source,
            web_search_usd_per_1000,
            models,
            index,
            names,
            schedules,
            origin,
            base_version,
            overrides,
            override_texts: Vec::new(),
            version,
        })
    }

    /// The day the table was last checked against published prices.
    pub fn as_of(&self) -> Date {
        self.as_of
    }

    /// Where the table's figures come from, as the table file says.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Provenance stored beside each cost: `builtin-<as_of>` for the embedded table,
    /// `table-<as_of>-<8 hex>` for any other (an FNV-1a hash of its content, insensitive
    /// to formatting), plus `+user-<8 hex>` when config overrides apply.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The version without the user's overrides.
    pub fn base_version(&self) -> &str {
        &self.base_version
    }

    /// Whether config overrides were applied.
    pub fn has_overrides(&self) -> bool {
        !self.overrides.is_empty()
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

    /// The row for a name by exact spelling only (normal form, then without a date or
    /// `-latest`): no prefix match. How imports find the curated row of an entry.
    pub fn resolve_exact(&self, raw_model: &str) -> Option<&ModelPrice> {
        let name = normalize_model(raw_model);
        self.exact(&name).map(|row| &self.models[row])
    }

    fn exact(&self, name: &str) -> Option<usize> {
        if let Some(&row) = self.index.get(name) {
            return Some(row);
        }
        if let Some(&row) = strip_date(name).and_then(|n| self.index.get(n)) {
            return Some(row);
        }
        strip_latest(name).and_then(|n| self.index.get(n)).copied()
    }

    /// Resolution order: exact (normal form, then without `-YYYYMMDD` or `-latest`),
    /// then the longest id or alias that the name starts with and that ends at a
    /// separator, unless what follows is another version number (`claude-opus-5-7` is
    /// not `claude-opus-5`: an unknown model stays unpriced rather than priced wrong).
    pub(crate) fn resolve_index(&self, raw_model: &str) -> Option<usize> {
        // Most log names are already canonical: index keys are normal-form fixpoints, so
        // a direct hit is the same answer without allocating.
        if let Some(&row) = self.index.get(raw_model) {
            return Some(row);
        }
        let name = normalize_model(raw_model);
        if let Some(row) = self.exact(&name) {
            return Some(row);
        }
        let name = strip_date(&name).unwrap_or(&name);
        self.names
            .iter()
            .filter(|(k, _)| k.len() < name.len() && name.starts_with(k.as_str()))
            .filter(|(k, _)| version_remainder(&name[k.len()..]) == Some(false))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, row)| *row)
    }
}

fn utc_ms(d: Date, key: &str) -> Result<i64, PricingError> {
    Ok(d.to_zoned(TimeZone::UTC)
        .map_err(|_| PricingError::InvalidDate {
            key: key.to_owned(),
            value: d.to_string(),
        })?
        .timestamp()
        .as_millisecond())
}

fn window_ms(
    from: Option<Date>,
    until: Option<Date>,
    key: &str,
) -> Result<(i64, i64), PricingError> {
    let lo = from
        .map(|d| utc_ms(d, key))
        .transpose()?
        .unwrap_or(i64::MIN);
    let hi = until
        .map(|d| utc_ms(d, key))
        .transpose()?
        .unwrap_or(i64::MAX);
    if lo >= hi {
        return Err(PricingError::InvalidValue {
            key: key.to_owned(),
            reason: format!(
                "from {} is not before until {}",
                from.map_or("-".into(), |d| d.to_string()),
                until.map_or("-".into(), |d| d.to_string())
            ),
        });
    }
    Ok((lo, hi))
}

/// Compiles a row's dates into instants and checks that no two of its rules collide.
fn schedule(m: &ModelPrice) -> Result<Schedule, PricingError> {
    let mut rates = vec![(i64::MIN, m.rates)];
    let mut current = m.rates;
    for (i, d) in m.dated.iter().enumerate() {
        let key = format!("{}.dated[{i}]", m.id);
        if i > 0 && m.dated[i - 1].from == d.from {
            return Err(PricingError::InvalidValue {
                key,
                reason: format!("two dated changes from {}: merge them", d.from),
            });
        }
        d.apply(&mut current);
        rates.push((utc_ms(d.from, &key)?, current));
    }
    let mut bands = Vec::with_capacity(m.bands.len());
    for (i, b) in m.bands.iter().enumerate() {
        let key = format!("{}.bands[{i}]", m.id);
        let (lo, hi) = window_ms(b.from, b.until, &key)?;
        if let Some(&(_, _, above, _)) = bands
            .iter()
            .find(|&&(l, h, above, _)| above == b.above_prompt_tokens && lo < h && l < hi)
        {
            return Err(PricingError::InvalidValue {
                key,
                reason: format!("two bands above {above} prompt tokens overlap in time"),
            });
        }
        bands.push((lo, hi, b.above_prompt_tokens, b.rates));
    }
    bands.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let mut fast: Vec<(i64, i64, f64)> = Vec::with_capacity(m.fast.len());
    for (i, f) in m.fast.iter().enumerate() {
        let key = format!("{}.fast[{i}]", m.id);
        let (lo, hi) = window_ms(f.from, f.until, &key)?;
        if fast.iter().any(|&(l, h, _)| lo < h && l < hi) {
            return Err(PricingError::InvalidValue {
                key,
                reason: "fast-mode windows overlap: one multiplier per instant".into(),
            });
        }
        fast.push((lo, hi, f.multiplier));
    }
    Ok(Schedule { rates, bands, fast })
}

fn dedup_in_order(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
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

    fn five(r: Rates) -> [f64; 5] {
        [
            r.input,
            r.output,
            r.cache_write_5m,
            r.cache_write_1h,
            r.cache_read,
        ]
    }

    // ---- the embedded table --------------------------------------------------------

    #[test]
    fn embedded_table_parses_with_its_date_and_version() {
        let t = embedded();
        assert_eq!(t.as_of(), date(2026, 12, 6));
        assert_eq!(t.version(), "builtin-2026-12-06");
        assert_eq!(t.origin(), Origin::Embedded);
        assert_eq!(t.web_search_usd_per_1000(), 10.0);
    }

    #[test]
    fn embedded_table_has_every_model_of_the_reference() {
        let t = embedded();
        let mut ids: Vec<&str> = t.models().iter().map(|m| m.id.as_str()).collect();
        ids.sort_unstable();
        let mut want = vec![
            "claude-fable-5-2",
            "claude-mythos-5-2",
            "claude-fable-5-1",
            "claude-mythos-5-1",
            "claude-fable-5",
            "claude-mythos-5",
            "claude-opus-5-5",
            "claude-opus-5",
            "claude-opus-4-8",
            "claude-opus-4-7",
            "claude-opus-4-6",
            "claude-opus-4-5",
            "claude-opus-4-1",
            "claude-opus-4",
            "claude-3-opus",
            "claude-sonnet-5-5",
            "claude-sonnet-5",
            "claude-sonnet-4-6",
            "claude-sonnet-4-5",
            "claude-sonnet-4",
            "claude-3-7-sonnet",
            "claude-3-5-sonnet",
            "claude-haiku-5-5",
            "claude-haiku-4-5",
            "claude-3-5-haiku",
            "claude-3-haiku",
        ];
        want.sort_unstable();
        assert_eq!(ids, want);
    }

    #[test]
    fn embedded_base_rates_match_the_reference() {
        let t = embedded();
        let rates = |id| five(row(&t, id).rates);
        for id in ["claude-fable-5-2", "claude-mythos-5-2"] {
            assert_eq!(rates(id), [8.0, 40.0, 10.0, 16.0, 0.20], "{id}");
        }
        for id in ["claude-fable-5-1", "claude-mythos-5-1"] {
            assert_eq!(rates(id), [10.0, 50.0, 12.5, 20.0, 0.25], "{id}");
        }
        for id in ["claude-fable-5", "claude-mythos-5"] {
            assert_eq!(rates(id), [10.0, 50.0, 12.5, 20.0, 1.0], "{id}");
        }
        assert_eq!(rates("claude-opus-5-5"), [4.0, 20.0, 5.0, 8.0, 0.20]);
        for id in [
            "claude-opus-5",
            "claude-opus-4-8",
            "claude-opus-4-7",
            "claude-opus-4-6",
            "claude-opus-4-5",
        ] {
            assert_eq!(rates(id), [5.0, 25.0, 6.25, 10.0, 0.5], "{id}");
        }
        for id in ["claude-opus-4-1", "claude-opus-4", "claude-3-opus"] {
            assert_eq!(rates(id), [15.0, 75.0, 18.75, 30.0, 1.5], "{id}");
        }
        assert_eq!(rates("claude-sonnet-5-5"), [2.0, 10.0, 2.5, 4.0, 0.20]);
        assert_eq!(rates("claude-sonnet-5"), [2.0, 10.0, 2.5, 4.0, 0.20]);
        for id in [
            "claude-sonnet-4-6",
            "claude-sonnet-4-5",
            "claude-sonnet-4",
            "claude-3-7-sonnet",
            "claude-3-5-sonnet",
        ] {
            assert_eq!(rates(id), [3.0, 15.0, 3.75, 6.0, 0.3], "{id}");
        }
        assert_eq!(rates("claude-haiku-5-5"), [0.10, 0.50, 0.125, 0.20, 0.01]);
        assert_eq!(rates("claude-haiku-4-5"), [1.0, 5.0, 1.25, 2.0, 0.1]);
        assert_eq!(rates("claude-3-5-haiku"), [0.8, 4.0, 1.0, 1.6, 0.08]);
        assert_eq!(rates("claude-3-haiku"), [0.25, 1.25, 0.30, 0.50, 0.03]);
    }

    #[test]
    fn cache_writes_are_1_25x_and_2x_of_input_everywhere_but_claude_3_haiku() {
        for m in embedded()
            .models()
            .iter()
            .filter(|m| m.id != "claude-3-haiku")
        {
            let all = std::iter::once(m.rates).chain(m.bands.iter().map(|b| b.rates));
            for r in all {
                assert!(
                    (r.cache_write_5m - 1.25 * r.input).abs() < 1e-9,
                    "{} 5m",
                    m.id
                );
                assert!(
                    (r.cache_write_1h - 2.0 * r.input).abs() < 1e-9,
                    "{} 1h",
                    m.id
                );
            }
        }
    }

    #[test]
    fn cache_read_ratios_per_model() {
        // 0.05x: Opus 5.5 and Sonnet 5.5 after its cut; 0.025x: Fable/Mythos 5.1 and 5.2;
        // 0.1x everywhere else (Claude 3 Haiku aside).
        let t = embedded();
        for m in t.models().iter().filter(|m| m.id != "claude-3-haiku") {
            let r = m.rates_on(date(2026, 12, 6));
            let want = match m.id.as_str() {
                "claude-opus-5-5" | "claude-sonnet-5-5" => 0.05,
                "claude-fable-5-1" | "claude-mythos-5-1" | "claude-fable-5-2"
                | "claude-mythos-5-2" => 0.025,
                _ => 0.1,
            };
            assert!((r.cache_read - want * r.input).abs() < 1e-9, "{}", m.id);
        }
        assert_eq!(
            row(&t, "claude-sonnet-5-5")
                .rates_on(date(2026, 10, 6))
                .cache_read,
            0.20
        );
    }

    #[test]
    fn bands_and_their_windows() {
        let t = embedded();
        let with_bands: Vec<(&str, u64, Option<Date>)> = t
            .models()
            .iter()
            .flat_map(|m| {
                m.bands
                    .iter()
                    .map(move |b| (m.id.as_str(), b.above_prompt_tokens, b.until))
            })
            .collect();
        assert_eq!(
            with_bands,
            [
                ("claude-opus-4-6", 200_000, Some(date(2026, 3, 13))),
                ("claude-sonnet-4-6", 200_000, Some(date(2026, 3, 13))),
                ("claude-sonnet-4-5", 200_000, Some(date(2026, 4, 30))),
                ("claude-sonnet-4", 200_000, None),
                ("claude-haiku-5-5", 100_000, None),
            ]
        );
        assert_eq!(
            five(row(&t, "claude-opus-4-6").bands[0].rates),
            [10.0, 37.5, 12.5, 20.0, 1.0]
        );
        assert_eq!(
            five(row(&t, "claude-haiku-5-5").bands[0].rates),
            [0.5, 2.5, 0.625, 1.0, 0.05]
        );
    }

    #[test]
    fn fast_mode_per_model_and_date() {
        let t = embedded();
        let fast = |id, d| row(&t, id).fast_on(d);
        assert_eq!(fast("claude-opus-5-5", date(2026, 12, 1)), Some(2.0));
        assert_eq!(fast("claude-fable-5-2", date(2026, 12, 1)), Some(2.0));
        assert_eq!(fast("claude-mythos-5-2", date(2026, 12, 1)), Some(2.0));
        assert_eq!(fast("claude-opus-5", date(2026, 12, 1)), Some(2.0));
        assert_eq!(fast("claude-opus-4-8", date(2026, 11, 29)), Some(2.0));
        assert_eq!(fast("claude-opus-4-8", date(2026, 11, 30)), None);
        assert_eq!(fast("claude-opus-4-7", date(2026, 7, 23)), Some(6.0));
        assert_eq!(fast("claude-opus-4-7", date(2026, 7, 24)), None);
        assert_eq!(fast("claude-opus-4-6", date(2026, 2, 10)), Some(3.0));
        assert_eq!(fast("claude-opus-4-6", date(2026, 2, 16)), Some(6.0));
        for id in [
            "claude-sonnet-5-5",
            "claude-haiku-5-5",
            "claude-fable-5-1",
            "claude-fable-5",
            "claude-opus-4-5",
        ] {
            assert!(row(&t, id).fast.is_empty(), "{id}");
        }
    }

    #[test]
    fn us_residency_from_opus_4_6_on() {
        let t = embedded();
        let without = [
            "claude-opus-4-5",
            "claude-opus-4-1",
            "claude-opus-4",
            "claude-3-opus",
            "claude-sonnet-4-5",
            "claude-sonnet-4",
            "claude-3-7-sonnet",
            "claude-3-5-sonnet",
            "claude-haiku-4-5",
            "claude-3-5-haiku",
            "claude-3-haiku",
        ];
        for m in t.models() {
            let want = (!without.contains(&m.id.as_str())).then_some(1.1);
            assert_eq!(m.us_multiplier, want, "{}", m.id);
        }
    }

    #[test]
    fn no_two_rows_share_a_name_and_every_name_resolves_to_its_row() {
        let t = embedded();
        for m in t.models() {
            for name in std::iter::once(&m.id).chain(&m.aliases) {
                assert_eq!(id_of(&t, name).as_deref(), Some(m.id.as_str()));
            }
        }
    }

    // ---- matching ------------------------------------------------------------------

    #[test]
    fn longest_match_at_a_separator_wins() {
        let t = embedded();
        let cases = [
            ("claude-opus-5-5", Some("claude-opus-5-5")),
            ("claude-opus-5", Some("claude-opus-5")),
            ("claude-opus-5-5-20260922", Some("claude-opus-5-5")),
            ("claude-opus-5-20260724", Some("claude-opus-5")),
            ("claude-opus-5-5[1m]", Some("claude-opus-5-5")),
            ("claude-opus-5-5-thinking", Some("claude-opus-5-5")),
            ("claude-opus-5-preview", Some("claude-opus-5")),
            ("claude-fable-5-2", Some("claude-fable-5-2")),
            ("claude-fable-5", Some("claude-fable-5")),
            ("claude-fable-5-2[1m]", Some("claude-fable-5-2")),
            ("claude-fable-5-2-preview", Some("claude-fable-5-2")),
            ("claude-fable-5-1-20260901", Some("claude-fable-5-1")),
            (
                "us.anthropic.claude-fable-5-2-v1:0",
                Some("claude-fable-5-2"),
            ),
            ("anthropic/claude-sonnet-5-5", Some("claude-sonnet-5-5")),
            ("claude-haiku-5-5@20261007", Some("claude-haiku-5-5")),
            // Another version number after a known id is another model: unpriced.
            ("claude-opus-5-7", None),
            ("claude-fable-5-3", None),
            ("claude-opus-4-9", None),
            ("claude-opus-4-10", None),
            ("claude-opus-50", None),
            ("claude-opus", None),
            ("claude", None),
            ("", None),
            ("<synthetic>", None),
            ("gpt-4o", None),
        ];
        for (raw, want) in cases {
            assert_eq!(id_of(&t, raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn resolves_the_older_spellings() {
        let t = embedded();
        let cases = [
            ("claude-opus-4-1-20250805", Some("claude-opus-4-1")),
            ("claude-opus-4-20250514", Some("claude-opus-4")),
            ("claude-opus-4-0", Some("claude-opus-4")),
            ("claude-sonnet-4-5-20250929", Some("claude-sonnet-4-5")),
            (
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                Some("claude-sonnet-4"),
            ),
            ("claude-3-5-sonnet-v2@20241022", Some("claude-3-5-sonnet")),
            ("Claude-Opus-4-6[1m]", Some("claude-opus-4-6")),
            ("claude-sonnet-4-5[1m]", Some("claude-sonnet-4-5")),
            (
                "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
                Some("claude-3-haiku"),
            ),
            ("claude-opus-4-1-20991231", Some("claude-opus-4-1")),
            ("claude-opus-4-7-20260101", Some("claude-opus-4-7")),
            ("claude-3-5-sonnet-latest", Some("claude-3-5-sonnet")),
            ("claude-3-5-haiku-latest", Some("claude-3-5-haiku")),
            ("claude-3-sonnet-20240229", None),
        ];
        for (raw, want) in cases {
            assert_eq!(id_of(&t, raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn exact_resolution_never_takes_a_prefix() {
        let t = embedded();
        assert_eq!(
            t.resolve_exact("claude-opus-5-5-20260922")
                .map(|m| m.id.as_str()),
            Some("claude-opus-5-5")
        );
        assert!(t.resolve_exact("claude-opus-5-5-thinking").is_none());
    }
}
