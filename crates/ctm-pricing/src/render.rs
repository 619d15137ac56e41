//! A table written back in ctm's format (how `ctm pricing update` keeps the table it
//! chose in the store), and the differences between two tables (what it prints).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use toml::Value;

use crate::table::{ModelPrice, PriceTable, Rates};

fn num(v: f64) -> String {
    Value::Float(v).to_string()
}

fn text(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn rates(out: &mut String, r: &Rates) {
    for (name, v) in r.fields() {
        let _ = writeln!(out, "{name} = {}", num(v));
    }
}

impl PriceTable {
    /// The table in ctm's format; reading it back gives the same rows. Config overrides
    /// are not part of it (they stay in the config).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "as_of = \"{}\"", self.as_of);
        let _ = writeln!(
            out,
            "web_search_usd_per_1000 = {}",
            num(self.web_search_usd_per_1000)
        );
        if let Some(s) = &self.source {
            let _ = writeln!(out, "source = {}", text(s));
        }
        for m in &self.models {
            out.push_str("\n[[models]]\n");
            let _ = writeln!(out, "id = {}", text(&m.id));
            if !m.aliases.is_empty() {
                let list: Vec<String> = m.aliases.iter().map(|a| text(a)).collect();
                let _ = writeln!(out, "aliases = [{}]", list.join(", "));
            }
            rates(&mut out, &m.rates);
            if let Some(us) = m.us_multiplier {
                let _ = writeln!(out, "us_multiplier = {}", num(us));
            }
            if let Some(n) = &m.note {
                let _ = writeln!(out, "note = {}", text(n));
            }
            for d in &m.dated {
                out.push_str("\n[[models.dated]]\n");
                let _ = writeln!(out, "from = \"{}\"", d.from);
                for (name, v) in [
                    ("input", d.input),
                    ("output", d.output),
                    ("cache_write_5m", d.cache_write_5m),
                    ("cache_write_1h", d.cache_write_1h),
                    ("cache_read", d.cache_read),
                ] {
                    if let Some(v) = v {
                        let _ = writeln!(out, "{name} = {}", num(v));
                    }
                }
                if let Some(n) = &d.note {
                    let _ = writeln!(out, "note = {}", text(n));
                }
            }
            for b in &m.bands {
                out.push_str("\n[[models.bands]]\n");
                let _ = writeln!(out, "above_prompt_tokens = {}", b.above_prompt_tokens);
                if let Some(d) = b.from {
                    let _ = writeln!(out, "from = \"{d}\"");
                }
                if let Some(d) = b.until {
                    let _ = writeln!(out, "until = \"{d}\"");
                }
                rates(&mut out, &b.rates);
                if let Some(n) = &b.note {
                    let _ = writeln!(out, "note = {}", text(n));
                }
            }
            for f in &m.fast {
                out.push_str("\n[[models.fast]]\n");
                let _ = writeln!(out, "multiplier = {}", num(f.multiplier));
                if let Some(d) = f.from {
                    let _ = writeln!(out, "from = \"{d}\"");
                }
                if let Some(d) = f.until {
                    let _ = writeln!(out, "until = \"{d}\"");
                }
                if let Some(n) = &f.note {
                    let _ = writeln!(out, "note = {}", text(n));
                }
            }
        }
        out
    }
}

fn window(from: Option<jiff::civil::Date>, until: Option<jiff::civil::Date>) -> String {
    match (from, until) {
        (None, None) => String::new(),
        (Some(f), None) => format!(" from {f}"),
        (None, Some(u)) => format!(" until {u}"),
        (Some(f), Some(u)) => format!(" {f}..{u}"),
    }
}

impl ModelPrice {
    /// Every price fact of the row as (what, value) text, e.g. ("cache_read from
    /// 2026-10-07", "0.1"): the unit two tables are compared in.
    pub fn facts(&self) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        for (name, v) in self.rates.fields() {
            f.insert(name.to_owned(), num(v));
        }
        for d in &self.dated {
            for (name, v) in [
                ("input", d.input),
                ("output", d.output),
                ("cache_write_5m", d.cache_write_5m),
                ("cache_write_1h", d.cache_write_1h),
                ("cache_read", d.cache_read),
            ] {
                if let Some(v) = v {
                    f.insert(format!("{name} from {}", d.from), num(v));
                }
            }
        }
        for b in &self.bands {
            let band = format!(
                "above {} prompt tokens{}",
                b.above_prompt_tokens,
                window(b.from, b.until)
            );
            for (name, v) in b.rates.fields() {
                f.insert(format!("{name} {band}"), num(v));
            }
        }
        for w in &self.fast {
            f.insert(
                format!("fast{}", window(w.from, w.until)),
                format!("x{}", num(w.multiplier)),
            );
        }
        if let Some(us) = self.us_multiplier {
            f.insert("us".to_owned(), format!("x{}", num(us)));
        }
        f
    }

    /// Whether the row has a rule an import must not replace silently: a dated change,
    /// a prompt-length band, or fast mode with dates.
    pub fn has_curated_rules(&self) -> bool {
        !self.dated.is_empty()
            || !self.bands.is_empty()
            || self
                .fast
                .iter()
                .any(|f| f.from.is_some() || f.until.is_some())
    }
}

/// One price fact that differs between two tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactChange {
    pub model: String,
    pub what: String,
    /// `None`: the fact is new.
    pub old: Option<String>,
    /// `None`: the fact is gone.
    pub new: Option<String>,
}

/// What differs between the table in force and another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableDiff {
    pub models_added: Vec<String>,
    pub models_removed: Vec<String>,
    pub changes: Vec<FactChange>,
    /// (old, new) when the web-search price differs.
    pub web_search: Option<(String, String)>,
}

impl TableDiff {
    pub fn is_empty(&self) -> bool {
        self.models_added.is_empty()
            && self.models_removed.is_empty()
            && self.changes.is_empty()
            && self.web_search.is_none()
    }
}

/// Compares two tables model by model (by id) and fact by fact.
pub fn diff(old: &PriceTable, new: &PriceTable) -> TableDiff {
    let by_id = |t: &PriceTable| -> BTreeMap<String, BTreeMap<String, String>> {
        t.models()
            .iter()
            .map(|m| (m.id.clone(), m.facts()))
            .collect()
    };
    let (a, b) = (by_id(old), by_id(new));
    let mut d = TableDiff::default();
    for (id, new_facts) in &b {
        let Some(old_facts) = a.get(id) else {
            d.models_added.push(id.clone());
            continue;
        };
        let whats: std::collections::BTreeSet<&String> =
            old_facts.keys().chain(new_facts.keys()).collect();
        for what in whats {
            let (o, n) = (old_facts.get(what), new_facts.get(what));
            if o != n {
                d.changes.push(FactChange {
                    model: id.clone(),
                    what: what.clone(),
                    old: o.cloned(),
                    new: n.cloned(),
                });
            }
        }
    }
    d.models_removed = a
        .keys()
        .filter(|id| !b.contains_key(*id))
        .cloned()
        .collect();
    if old.web_search_usd_per_1000() != new.web_search_usd_per_1000() {
        d.web_search = Some((
            num(old.web_search_usd_per_1000()),
            num(new.web_search_usd_per_1000()),
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_survives_a_round_trip() {
        let t = PriceTable::embedded();
        let back = PriceTable::from_toml(&t.to_toml()).unwrap();
        assert_eq!(back.models(), t.models());
        assert_eq!(back.as_of(), t.as_of());
        assert_eq!(back.source(), t.source());
        assert_eq!(back.web_search_usd_per_1000(), t.web_search_usd_per_1000());
        assert!(diff(&t, &back).is_empty());
        // Not the embedded text, so not labelled builtin; the same table, the same label.
        assert!(
            back.version().starts_with("table-2026-12-06-"),
            "{}",
            back.version()
        );
        let again = PriceTable::from_toml(&back.to_toml()).unwrap();
        assert_eq!(again.version(), back.version());
    }

    #[test]
    fn diff_names_every_changed_fact() {
        let old = PriceTable::embedded();
        let new = PriceTable::embedded()
            .with_overrides(
                "[pricing]\nweb_search_usd_per_1000 = 12\n\
                 [pricing.models.\"claude-opus-5-5\"]\ninput = 3\n\
                 [pricing.models.\"claude-sonnet-5-5\"]\ndated = []\n\
                 [pricing.models.\"claude-next\"]\ninput = 1\noutput = 2\n",
            )
            .unwrap();
        let d = diff(&old, &new);
        assert_eq!(d.models_added, ["claude-next"]);
        assert!(d.models_removed.is_empty());
        assert_eq!(d.web_search, Some(("10.0".into(), "12.0".into())));
        assert_eq!(
            d.changes,
            [
                FactChange {
                    model: "claude-opus-5-5".into(),
                    what: "input".into(),
                    old: Some("4.0".into()),
                    new: Some("3.0".into()),
                },
                FactChange {
                    model: "claude-sonnet-5-5".into(),
                    what: "cache_read from 2026-10-07".into(),
                    old: Some("0.1".into()),
                    new: None,
                },
            ]
        );
    }
}
