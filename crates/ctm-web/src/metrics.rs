//! `GET /metrics`: the analytics crate's [`Metrics`] in Prometheus' text exposition
//! format, version 0.0.4 (one `# HELP` and `# TYPE` per family, then its samples).
//!
//! The counters are all-time sums over the store's billed responses: they only grow as
//! responses are added (a response seen again with more output adds its difference).
//! [`FAMILIES`] names every metric with its type, labels and help; tests check the output,
//! `docs/metrics.md` and the Grafana dashboard against it.

use std::fmt::Write as _;

use ctm_analytics::metrics::UsageCounter;
use ctm_analytics::Metrics;

/// The content type Prometheus asks for and this answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric family: name, type, label names, help.
pub const FAMILIES: &[(&str, &str, &[&str], &str)] = &[
    (
        "ctm_tokens_total",
        "counter",
        &["type", "model", "project"],
        "Tokens of the billed responses since the store began, by type (input, output, cache_creation, cache_read), model and project (the top projects by cost; the rest are other).",
    ),
    (
        "ctm_cost_usd_total",
        "counter",
        &["model", "project"],
        "Cost in USD of the billed responses since the store began, by model and project; responses of a model without a price count 0.",
    ),
    (
        "ctm_responses_total",
        "counter",
        &["model"],
        "Billed API responses since the store began, by model.",
    ),
    (
        "ctm_block_tokens",
        "gauge",
        &[],
        "Tokens (input, output and cache) of the active 5-hour block; 0 when none is active.",
    ),
    (
        "ctm_block_cost_usd",
        "gauge",
        &[],
        "Cost in USD of the active 5-hour block; 0 when none is active.",
    ),
    (
        "ctm_block_burn_rate_tokens_per_minute",
        "gauge",
        &[],
        "Tokens per minute the active block burns, as ctm blocks shows it (its last 60 minutes, never less than 5); 0 when none is active.",
    ),
    (
        "ctm_block_ends_timestamp_seconds",
        "gauge",
        &[],
        "When the active 5-hour block ends, in Unix seconds; absent when none is active.",
    ),
    (
        "ctm_rate_limit_used_ratio",
        "gauge",
        &["window"],
        "Claude's official usage of its 5-hour and 7-day limits (0 to 1), as Claude Code's statusline last reported it; absent once the window reset.",
    ),
    (
        "ctm_rate_limit_resets_timestamp_seconds",
        "gauge",
        &["window"],
        "When Claude's official 5-hour and 7-day windows reset, in Unix seconds.",
    ),
    (
        "ctm_ingest_duration_seconds",
        "gauge",
        &[],
        "Wall time of ctm serve's latest ingest run (reading Claude Code's transcripts into the store).",
    ),
    (
        "ctm_store_responses",
        "gauge",
        &[],
        "Billed API responses in the store now (a prune of facts lowers it).",
    ),
    (
        "ctm_unpriced_responses",
        "gauge",
        &[],
        "Billed responses in the store whose model has no price (their cost counts 0).",
    ),
];

/// The exposition text of `m`; `ingest_seconds`: the latest ingest's duration, if any
/// ran (none with `--no-ingest`).
pub fn render(m: &Metrics, ingest_seconds: Option<f64>) -> String {
    let mut out = Exposition(String::with_capacity(4096 + m.usage.len() * 400));
    for (name, kind, _, help) in FAMILIES {
        let _ = writeln!(out.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(out.0, "# TYPE {name} {kind}");
        match *name {
            "ctm_tokens_total" => {
                for u in &m.usage {
                    let s = &u.sums;
                    for (kind, n) in [
                        ("input", s.input_tokens),
                        ("output", s.output_tokens),
                        ("cache_creation", s.cache_creation_tokens()),
                        ("cache_read", s.cache_read_tokens),
                    ] {
                        out.int(
                            name,
                            &[("type", kind), ("model", &u.model), ("project", &u.project)],
                            n,
                        );
                    }
                }
            }
            "ctm_cost_usd_total" => {
                for UsageCounter {
                    model,
                    project,
                    sums,
                } in &m.usage
                {
                    out.float(
                        name,
                        &[("model", model), ("project", project)],
                        sums.cost_usd(),
                    );
                }
            }
            "ctm_responses_total" => {
                for (model, n) in &m.responses_by_model {
                    out.int(name, &[("model", model)], *n);
                }
            }
            "ctm_block_tokens" => out.int(name, &[], m.block.as_ref().map_or(0, |b| b.tokens)),
            "ctm_block_cost_usd" => {
                out.float(name, &[], m.block.as_ref().map_or(0.0, |b| b.cost_usd))
            }
            "ctm_block_burn_rate_tokens_per_minute" => out.float(
                name,
                &[],
                m.block
                    .as_ref()
                    .map_or(0.0, |b| b.burn_rate_tokens_per_minute),
            ),
            "ctm_block_ends_timestamp_seconds" => {
                if let Some(b) = &m.block {
                    out.float(name, &[], b.ends_ms as f64 / 1000.0);
                }
            }
            "ctm_rate_limit_used_ratio" => {
                for l in &m.official {
                    out.float(
                        name,
                        &[("window", l.window.key())],
                        l.used_percentage / 100.0,
                    );
                }
            }
            "ctm_rate_limit_resets_timestamp_seconds" => {
                for l in &m.official {
                    if let Some(ms) = l.resets_at_ms {
                        out.float(name, &[("window", l.window.key())], ms as f64 / 1000.0);
                    }
                }
            }
            "ctm_ingest_duration_seconds" => {
                if let Some(s) = ingest_seconds {
                    out.float(name, &[], s);
                }
            }
            "ctm_store_responses" => out.int(name, &[], m.store_responses),
            "ctm_unpriced_responses" => out.int(name, &[], m.unpriced_responses),
            other => unreachable!("{other} has no samples"),
        }
    }
    out.0
}

struct Exposition(String);

impl Exposition {
    fn labels(&mut self, name: &str, labels: &[(&str, &str)]) {
        self.0.push_str(name);
        for (i, (k, v)) in labels.iter().enumerate() {
            self.0.push(if i == 0 { '{' } else { ',' });
            let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
        }
        if !labels.is_empty() {
            self.0.push('}');
        }
    }

    fn int(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        self.labels(name, labels);
        let _ = writeln!(self.0, " {v}");
    }

    fn float(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.labels(name, labels);
        let _ = writeln!(self.0, " {}", number(v));
    }
}

/// A sample value as the format spells it (Go's `ParseFloat` reads Rust's shortest
/// round-trip text; the special values have their own words).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Help text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_aggregate::Sums;
    use ctm_analytics::metrics::BlockGauges;

    fn sample() -> Metrics {
        Metrics {
            usage: vec![UsageCounter {
                model: "claude-opus-4-6".into(),
                project: "C:\\work \"quoted\"\nnext".into(),
                sums: Sums {
                    responses: 3,
                    input_tokens: 10,
                    output_tokens: 20,
                    cache_write_5m_tokens: 30,
                    cache_write_1h_tokens: 1,
                    cache_read_tokens: 40,
                    cost_nanos: 300_000_001,
                    ..Sums::default()
                },
            }],
            responses_by_model: [("claude-opus-4-6".to_owned(), 3)].into(),
            block: Some(BlockGauges {
                tokens: 101,
                cost_usd: 0.3,
                burn_rate_tokens_per_minute: 12.5,
                ends_ms: 1_770_000_000_500,
            }),
            official: vec![],
            store_responses: 3,
            unpriced_responses: 0,
        }
    }

    #[test]
    fn every_family_has_help_and_type_and_labels_are_escaped() {
        let text = render(&sample(), Some(0.004));
        for (name, kind, ..) in FAMILIES {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
        assert!(text.contains(
            r#"ctm_tokens_total{type="cache_creation",model="claude-opus-4-6",project="C:\\work \"quoted\"\nnext"} 31"#
        ), "{text}");
        assert!(
            text.contains("\nctm_cost_usd_total{model=\"claude-opus-4-6\",project=")
                && text.contains("} 0.300000001\n")
        );
        assert!(text.contains("\nctm_block_ends_timestamp_seconds 1770000000.5\n"));
        assert!(text.contains("\nctm_ingest_duration_seconds 0.004\n"));
        assert!(text.ends_with('\n'));
        // No block, no ingest: zeros for the block's figures, no end, no duration.
        let mut m = sample();
        m.block = None;
        let text = render(&m, None);
        assert!(text.contains("\nctm_block_tokens 0\n"));
        assert!(!text.contains("\nctm_block_ends_timestamp_seconds "));
        assert!(!text.contains("\nctm_ingest_duration_seconds "));
        assert_eq!(number(f64::INFINITY), "+Inf");
    }

    /// Every PromQL expression of the Grafana dashboard in `docs/`: the panels' targets
    /// and the template variables' queries.
    fn dashboard_queries() -> Vec<String> {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/grafana-dashboard.json"))
                .expect("the dashboard is JSON");
        let mut out = Vec::new();
        for p in dashboard["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(
                    t["expr"]
                        .as_str()
                        .expect("every target has an expr")
                        .to_owned(),
                );
            }
        }
        for v in dashboard["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["query"]["query"].as_str() {
                out.push(q.to_owned());
            }
        }
        out
    }

    /// `ctm_...` names in an expression, and the label names it matches or groups by.
    fn names_and_labels(expr: &str) -> (Vec<String>, Vec<String>) {
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut names = Vec::new();
        let mut labels = Vec::new();
        let mut rest = expr;
        while let Some(i) = rest.find("ctm_") {
            let word: String = rest[i..].chars().take_while(|c| ident(*c)).collect();
            rest = &rest[i + word.len()..];
            names.push(word);
            if let Some(inner) = rest.strip_prefix('{').and_then(|r| r.split_once('}')) {
                for matcher in inner.0.split(',') {
                    let name: String = matcher.trim().chars().take_while(|c| ident(*c)).collect();
                    labels.push(name);
                }
            }
        }
        for kw in ["by (", "without (", "label_values("] {
            for part in expr.split(kw).skip(1) {
                let list = part.split(')').next().unwrap_or("");
                let items: Vec<&str> = list.split(',').map(str::trim).collect();
                // label_values(metric, label): the label is the last item.
                let items = if kw == "label_values(" {
                    &items[1..]
                } else {
                    &items[..]
                };
                labels.extend(items.iter().map(|s| s.to_string()));
            }
        }
        (names, labels)
    }

    #[test]
    fn the_grafana_dashboard_queries_only_metrics_and_labels_that_exist() {
        let queries = dashboard_queries();
        assert!(queries.len() > 10);
        let mut used = std::collections::BTreeSet::new();
        for q in &queries {
            let (names, labels) = names_and_labels(q);
            assert!(!names.is_empty(), "{q} reads no ctm metric");
            let mut allowed: Vec<&str> = Vec::new();
            for n in &names {
                let family = FAMILIES
                    .iter()
                    .find(|(f, ..)| f == n)
                    .unwrap_or_else(|| panic!("{q}: {n} is not a metric /metrics exposes"));
                allowed.extend(family.2.iter());
                used.insert(n.clone());
            }
            for l in labels {
                assert!(
                    allowed.contains(&l.as_str()),
                    "{q}: no metric it reads has the label {l:?}"
                );
            }
        }
        let all: std::collections::BTreeSet<String> =
            FAMILIES.iter().map(|(n, ..)| n.to_string()).collect();
        assert_eq!(used, all, "every metric has a panel");
        // The checker itself sees what it must.
        assert_eq!(
            names_and_labels(
                r#"sum by (model) (rate(ctm_cost_usd_total{project=~"$p",model="x"}[5m]))"#
            ),
            (
                vec!["ctm_cost_usd_total".to_owned()],
                vec!["project".into(), "model".into(), "model".into()]
            )
        );
    }

    #[test]
    fn the_reference_documents_every_metric_and_no_other() {
        let doc = include_str!("../../../docs/metrics.md");
        for (name, kind, labels, _) in FAMILIES {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("docs/metrics.md has no row for {name}"));
            for l in *labels {
                assert!(
                    row.contains(&format!("`{l}`")),
                    "{name}'s row names its label {l}"
                );
            }
            let gauges_at = doc.find("\nGauges").unwrap();
            let row_at = doc.find(row).unwrap();
            assert_eq!(
                row_at > gauges_at,
                *kind == "gauge",
                "{name} is listed with the {kind}s"
            );
        }
        let (named, _) = names_and_labels(doc);
        for n in named {
            assert!(
                FAMILIES.iter().any(|(f, ..)| *f == n),
                "docs/metrics.md names {n}, which /metrics lacks"
            );
        }
    }
}
