//! Reading LiteLLM's `model_prices_and_context_window.json`, and merging what it says
//! under a curated table.
//!
//! Only Anthropic's own (first-party) Claude chat entries are read: Bedrock, Vertex and
//! gateway entries carry other prices. LiteLLM states prices per token; ctm's table per
//! million. Its file has no dates, so an import is never trusted over a curated row: the
//! curated table keeps every model it has (and says where LiteLLM differs), and LiteLLM
//! adds the models the curated table lacks.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde_json::{Map, Value};

use crate::matching::{normalize_model, strip_date};
use crate::parse::{
    check_multiplier, check_rate, check_web_search, RATIO_1H, RATIO_5M, RATIO_READ,
};
use crate::render::FactChange;
use crate::table::{Band, FastWindow, ModelPrice, PriceTable, Rates};
use crate::PricingError;

/// The Claude models a LiteLLM file prices, in ctm's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// One row per model (dated keys become aliases of the undated id).
    pub models: Vec<ModelPrice>,
    /// From `search_context_cost_per_query`, when the entries state it.
    pub web_search_usd_per_1000: Option<f64>,
    /// Entries read as Anthropic first-party Claude chat models.
    pub entries_read: usize,
    /// Entries of other providers or modes, left alone.
    pub entries_ignored: usize,
}

/// A curated model whose rows the import did not replace, and where the two differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub model: String,
    /// The row has dated changes, bands or dated fast mode (rules LiteLLM cannot state).
    pub has_curated_rules: bool,
    /// `old` is the curated value, `new` LiteLLM's.
    pub differences: Vec<FactChange>,
}

/// The result of merging an import under a curated table.
#[derive(Debug, Clone)]
pub struct Merged {
    pub table: PriceTable,
    /// Models the import added (the curated table had no row for them).
    pub added: Vec<String>,
    /// Curated models the import also prices differently.
    pub kept: Vec<Kept>,
    /// (curated, LiteLLM) web-search price per 1,000 when they differ: curated kept.
    pub web_search_kept: Option<(f64, f64)>,
}

const INPUT: &str = "input_cost_per_token";
const OUTPUT: &str = "output_cost_per_token";
const CACHE_5M: &str = "cache_creation_input_token_cost";
const CACHE_1H: &str = "cache_creation_input_token_cost_above_1hr";
const CACHE_READ: &str = "cache_read_input_token_cost";
/// Prices of other service tiers (the Batch API, priority, flex, ...): not what a Claude
/// Code request is billed at.
const SERVICE_TIERS: [&str; 6] = [
    "_batches",
    "_priority",
    "_flex",
    "_ultrafast",
    "_decisions",
    "_balanced",
];
/// LiteLLM's rate fields, longest first so a band suffix is split off the right base.
const RATE_FIELDS: [(&str, usize); 5] = [
    (CACHE_1H, 3),
    (CACHE_5M, 2),
    (CACHE_READ, 4),
    (OUTPUT, 1),
    (INPUT, 0),
];

/// Parses a LiteLLM price file. Every price of an entry that is read is checked like a
/// table's (finite, not negative, below the ceilings); an unknown variant of a token
/// rate on such an entry (a 12-hour cache write, a band ctm cannot read) is refused
/// rather than ignored, since it could not be billed right. Other service tiers' prices
/// are ignored: Claude Code is billed at the standard tier.
pub fn read_litellm(text: &str) -> Result<Imported, PricingError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str(text).map_err(|e| PricingError::NotLiteLlm {
        reason: format!(
            "invalid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )
        .replace('\n', " "),
    })?;
    let Value::Object(entries) = root else {
        return Err(PricingError::NotLiteLlm {
            reason: "the file is not one JSON object of model entries".into(),
        });
    };
    if !entries
        .values()
        .any(|v| v.get(INPUT).is_some() || v.get("litellm_provider").is_some())
    {
        return Err(PricingError::NotLiteLlm {
            reason: "no entry has input_cost_per_token or litellm_provider".into(),
        });
    }
    // id -> (entry key, row, whether the key was the undated id itself)
    let mut rows: BTreeMap<String, (String, ModelPrice, bool)> = BTreeMap::new();
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut web: Option<f64> = None;
    let (mut read, mut ignored) = (0, 0);
    for (name, entry) in &entries {
        let Value::Object(e) = entry else {
            ignored += 1;
            continue;
        };
        let provider = e.get("litellm_provider").and_then(Value::as_str);
        let mode = e.get("mode").and_then(Value::as_str);
        let normalized = normalize_model(name);
        if provider != Some("anthropic")
            || !matches!(mode, None | Some("chat"))
            || !normalized.starts_with("claude")
        {
            ignored += 1;
            continue;
        }
        read += 1;
        let (row, search) = entry_row(name, &normalized, e)?;
        if let Some(s) = search {
            web = Some(web.map_or(s, |w: f64| w.max(s)));
        }
        let id = strip_date(&normalized).unwrap_or(&normalized).to_owned();
        let undated = id == normalized;
        aliases
            .entry(id.clone())
            .or_default()
            .push(normalized.clone());
        match rows.get(&id) {
            // The undated key speaks for the model; among dated ones the first (in key
            // order) does.
            Some((_, _, true)) => {}
            Some(_) if !undated => {}
            _ => {
                rows.insert(id.clone(), (name.clone(), row, undated));
            }
        }
    }
    let models = rows
        .into_iter()
        .map(|(id, (_, mut row, _))| {
            row.id = id.clone();
            row.aliases = aliases
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .filter(|a| *a != id)
                .collect();
            row
        })
        .collect();
    Ok(Imported {
        models,
        web_search_usd_per_1000: web,
        entries_read: read,
        entries_ignored: ignored,
    })
}

/// USD per token to USD per million, checked, then rounded to a billionth of a dollar
/// so 3e-06 reads as exactly 3.
fn per_mtok(key: &str, per_token: f64) -> Result<f64, PricingError> {
    Ok(round9(check_rate(key, per_token * 1e6)?))
}

/// To a billionth of a dollar per million tokens: what a price file can mean.
fn round9(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

fn entry_row(
    name: &str,
    normalized: &str,
    e: &Map<String, Value>,
) -> Result<(ModelPrice, Option<f64>), PricingError> {
    let err = |reason: String| PricingError::Import {
        entry: name.to_owned(),
        reason,
    };
    let number = |field: &str, v: &Value| -> Result<f64, PricingError> {
        v.as_f64()
            .ok_or_else(|| err(format!("{field} must be a number, not {v}")))
    };
    // rates[band threshold or 0][field index]
    let mut rates: BTreeMap<u64, [Option<f64>; 5]> = BTreeMap::new();
    let mut fast = None;
    let mut us = None;
    let mut search = None;
    for (field, v) in e {
        if SERVICE_TIERS.iter().any(|t| field.ends_with(t)) {
            continue; // Claude Code bills at the standard tier (fast mode is below).
        }
        if field == "provider_specific_entry" {
            let Value::Object(p) = v else {
                return Err(err(format!("{field} must be an object")));
            };
            for (k, x) in p {
                let key = format!("{name}.{field}.{k}");
                match k.as_str() {
                    "fast" => fast = Some(check_multiplier(&key, number(&key, x)?)?),
                    "us" => us = Some(check_multiplier(&key, number(&key, x)?)?),
                    _ => {
                        return Err(err(format!(
                            "unknown {field} key {k:?} (ctm knows fast and us)"
                        )))
                    }
                }
            }
            continue;
        }
        if field == "search_context_cost_per_query" {
            let Value::Object(p) = v else {
                return Err(err(format!("{field} must be an object")));
            };
            for (k, x) in p {
                let key = format!("{name}.{field}.{k}");
                let per_1000 = check_web_search(&key, number(&key, x)? * 1000.0)?;
                search = Some(search.map_or(per_1000, |s: f64| s.max(per_1000)));
            }
            continue;
        }
        let Some((index, rest)) = RATE_FIELDS
            .iter()
            .find_map(|&(base, i)| field.strip_prefix(base).map(|rest| (i, rest)))
        else {
            // Capabilities, limits, links, and prices of what a Claude Code request does
            // not buy per token (images, audio, tool sessions).
            continue;
        };
        let band = |unit: &str, scale: u64| {
            rest.strip_prefix("_above_")
                .and_then(|r| r.strip_suffix(unit))
                .and_then(|k| k.parse::<u64>().ok())
                .filter(|k| *k > 0)
                .and_then(|k| k.checked_mul(scale))
        };
        let threshold = match rest {
            "" => 0,
            _ => match band("k_tokens", 1_000).or_else(|| band("m_tokens", 1_000_000)) {
                Some(t) => t,
                None => {
                    return Err(err(format!(
                        "unknown price field {field:?}: ctm cannot tell how to bill it"
                    )))
                }
            },
        };
        let key = format!("{name}.{field}");
        let v = per_mtok(&key, number(&key, v)?)?;
        rates.entry(threshold).or_default()[index] = Some(v);
    }
    let base = rates.remove(&0).unwrap_or_default();
    let (Some(input), Some(output)) = (base[0], base[1]) else {
        return Err(err(format!(
            "no {INPUT} and {OUTPUT}: nothing to bill with"
        )));
    };
    let base_rates = Rates {
        input,
        output,
        cache_write_5m: base[2].unwrap_or(round9(input * RATIO_5M)),
        cache_write_1h: base[3].unwrap_or(round9(input * RATIO_1H)),
        cache_read: base[4].unwrap_or(round9(input * RATIO_READ)),
    };
    let mut bands = Vec::new();
    for (above, r) in rates {
        let (Some(bin), Some(bout)) = (r[0], r[1]) else {
            return Err(err(format!(
                "the band above {above} tokens needs both {INPUT} and {OUTPUT}"
            )));
        };
        // Cache multipliers apply to the band's input rate as they do to the base's.
        let ratio = |base_rate: f64| {
            if input > 0.0 {
                round9(bin * base_rate / input)
            } else {
                0.0
            }
        };
        bands.push(Band {
            above_prompt_tokens: above,
            from: None,
            until: None,
            rates: Rates {
                input: bin,
                output: bout,
                cache_write_5m: r[2].unwrap_or(ratio(base_rates.cache_write_5m)),
                cache_write_1h: r[3].unwrap_or(ratio(base_rates.cache_write_1h)),
                cache_read: r[4].unwrap_or(ratio(base_rates.cache_read)),
            },
            note: None,
        });
    }
    Ok((
        ModelPrice {
            id: normalized.to_owned(),
            aliases: Vec::new(),
            rates: base_rates,
            dated: Vec::new(),
            bands,
            fast: fast
                .map(|multiplier| FastWindow {
                    multiplier,
                    from: None,
                    until: None,
                    note: None,
                })
                .into_iter()
                .collect(),
            us_multiplier: us,
            note: Some("imported from LiteLLM".into()),
        },
        search,
    ))
}

/// Merges an import under a curated table: every curated row stays as it is (listed in
/// [`Merged::kept`] where LiteLLM differs); models the curated table lacks are added.
/// The result is dated `as_of` and validated whole.
pub fn merge_under(
    curated: &PriceTable,
    imported: &Imported,
    as_of: Date,
    source: &str,
) -> Result<Merged, PricingError> {
    let mut models: Vec<ModelPrice> = curated.models().to_vec();
    let mut added = Vec::new();
    let mut kept = Vec::new();
    for m in &imported.models {
        let known = std::iter::once(&m.id)
            .chain(&m.aliases)
            .find_map(|n| curated.resolve_exact(n));
        match known {
            Some(c) => {
                let (cf, mf) = (c.facts(), m.facts());
                let whats: std::collections::BTreeSet<&String> =
                    cf.keys().chain(mf.keys()).collect();
                let differences: Vec<FactChange> = whats
                    .into_iter()
                    .filter(|w| cf.get(*w) != mf.get(*w))
                    .map(|w| FactChange {
                        model: c.id.clone(),
                        what: w.clone(),
                        old: cf.get(w).cloned(),
                        new: mf.get(w).cloned(),
                    })
                    .collect();
                if !differences.is_empty() && !kept.iter().any(|k: &Kept| k.model == c.id) {
                    kept.push(Kept {
                        model: c.id.clone(),
                        has_curated_rules: c.has_curated_rules(),
                        differences,
                    });
                }
            }
            None => {
                let mut row = m.clone();
                row.aliases.retain(|a| curated.resolve_exact(a).is_none());
                row.note = Some(format!("imported from LiteLLM ({source})"));
                added.push(row.id.clone());
                models.push(row);
            }
        }
    }
    let web_search_kept = imported
        .web_search_usd_per_1000
        .filter(|w| *w != curated.web_search_usd_per_1000())
        .map(|w| (curated.web_search_usd_per_1000(), w));
    let draft = PriceTable::build(
        as_of,
        Some(format!(
            "{} ({}), with the models it lacks from LiteLLM: {source}",
            curated.source().unwrap_or("ctm's curated table"),
            curated.base_version()
        )),
        curated.web_search_usd_per_1000(),
        models,
        crate::Origin::Table,
        String::new(),
        String::new(),
    )?;
    // Through the text it will be kept as, so the version is the one a reload gives.
    let table = PriceTable::from_toml(&draft.to_toml())?;
    Ok(Merged {
        table,
        added,
        kept,
        web_search_kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const REAL: &str = include_str!("../tests/data/litellm-1.110.2-claude.json");

    #[test]
    fn reads_the_claude_entries_of_the_real_file() {
        let i = read_litellm(REAL).unwrap();
        let ids: Vec<&str> = i.models.iter().map(|m| m.id.as_str()).collect();
        assert!(ids.contains(&"claude-opus-5-5"), "{ids:?}");
        assert!(
            !ids.iter().any(|id| id.contains("fable-5-2")),
            "LiteLLM 1.110.2 lacks Fable 5.2"
        );
        let m = |id: &str| i.models.iter().find(|m| m.id == id).unwrap();
        let opus = m("claude-opus-5-5");
        assert_eq!(
            opus.rates,
            Rates {
                input: 4.0,
                output: 20.0,
                cache_write_5m: 5.0,
                cache_write_1h: 8.0,
                cache_read: 0.2
            }
        );
        assert_eq!(opus.fast.len(), 1);
        assert_eq!(opus.fast[0].multiplier, 2.0);
        assert_eq!(opus.us_multiplier, Some(1.1));
        let haiku = m("claude-haiku-5-5");
        assert_eq!(haiku.bands.len(), 1);
        assert_eq!(haiku.bands[0].above_prompt_tokens, 100_000);
        assert_eq!(
            haiku.bands[0].rates,
            Rates {
                input: 0.5,
                output: 2.5,
                cache_write_5m: 0.625,
                cache_write_1h: 1.0,
                cache_read: 0.05
            }
        );
        // Dated keys become aliases of the undated id.
        assert_eq!(m("claude-opus-4-5").aliases, ["claude-opus-4-5-20251101"]);
        assert_eq!(i.web_search_usd_per_1000, Some(10.0));
        // Bedrock, Vertex and OpenAI entries are left alone.
        assert!(i.entries_ignored > 0);
    }

    #[test]
    fn merging_keeps_every_curated_row_and_adds_what_it_lacks() {
        let curated = PriceTable::embedded();
        let i = read_litellm(REAL).unwrap();
        let m = merge_under(&curated, &i, date(2026, 12, 6), "test").unwrap();
        // Every curated row is unchanged, Fable 5.2 included (LiteLLM lacks it).
        for c in curated.models() {
            let now = m.table.models().iter().find(|r| r.id == c.id).unwrap();
            assert_eq!(now, c);
        }
        assert_eq!(m.added, ["claude-mythos-preview"]);
        let kept = |id: &str| m.kept.iter().find(|k| k.model == id);
        // Sonnet 5.5: LiteLLM's $0.10 read has no date; the curated dated cut is kept.
        let sonnet = kept("claude-sonnet-5-5").expect("sonnet 5.5 differs");
        assert!(sonnet.has_curated_rules);
        assert!(sonnet.differences.iter().any(|d| d.what == "cache_read"
            && d.old.as_deref() == Some("0.2")
            && d.new.as_deref() == Some("0.1")));
        // Opus 4.8's fast mode ended 2026-11-30; LiteLLM still says 2x at every date.
        assert!(kept("claude-opus-4-8").is_some());
        // Haiku 5.5's band agrees: nothing to say.
        assert!(kept("claude-haiku-5-5").is_none());
        assert_eq!(m.web_search_kept, None);
        assert!(m.table.version().starts_with("table-2026-12-06-"));
    }

    #[test]
    fn bad_prices_name_the_entry() {
        let entry = |fields: &str| {
            format!(
                r#"{{"claude-x-9": {{"litellm_provider": "anthropic", "mode": "chat", {fields}}}}}"#
            )
        };
        let err = |fields: &str| read_litellm(&entry(fields)).unwrap_err().to_string();
        let e = err(r#""input_cost_per_token": 1e300, "output_cost_per_token": 1e-5"#);
        assert!(
            e.contains("claude-x-9.input_cost_per_token") && e.contains("ceiling"),
            "{e}"
        );
        let e = err(r#""input_cost_per_token": -1e-6, "output_cost_per_token": 1e-5"#);
        assert!(e.contains("negative"), "{e}");
        let e = err(r#""input_cost_per_token": "3e-6", "output_cost_per_token": 1e-5"#);
        assert!(e.contains("must be a number"), "{e}");
        let e = err(
            r#""input_cost_per_token": 3e-6, "output_cost_per_token": 1e-5, "cache_creation_input_token_cost_above_12hr": 6e-6"#,
        );
        assert!(
            e.contains("claude-x-9") && e.contains("unknown price field"),
            "{e}"
        );
        // Other service tiers are not what Claude Code is billed at; a band in millions reads.
        let i = read_litellm(&entry(
            r#""input_cost_per_token": 3e-6, "output_cost_per_token": 1.5e-5, "input_cost_per_token_priority": 6e-6, "output_cost_per_token_flex": 1e-6, "input_cost_per_token_above_1m_tokens": 6e-6, "output_cost_per_token_above_1m_tokens": 3e-5"#,
        ))
        .unwrap();
        assert_eq!(i.models[0].rates.input, 3.0);
        assert_eq!(i.models[0].bands[0].above_prompt_tokens, 1_000_000);
        let e = err(r#""input_cost_per_token": 3e-6"#);
        assert!(e.contains("output_cost_per_token"), "{e}");
        let e = err(
            r#""input_cost_per_token": 3e-6, "output_cost_per_token": 1e-5, "provider_specific_entry": {"eu": 1.2}"#,
        );
        assert!(e.contains("unknown provider_specific_entry"), "{e}");
        // Other providers and unknown capability fields are not ctm's business.
        let i = read_litellm(&entry(
            r#""input_cost_per_token": 3e-6, "output_cost_per_token": 1.5e-5, "supports_teleport": true"#,
        ))
        .unwrap();
        assert_eq!(i.models[0].rates.cache_read, 0.3);
        for text in ["[1, 2]", "{\"a\": {\"b\": 1}}", "{\"a\": "] {
            assert!(
                matches!(read_litellm(text), Err(PricingError::NotLiteLlm { .. })),
                "{text}"
            );
        }
    }
}
