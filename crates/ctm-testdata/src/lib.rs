//! Generator of realistic Claude Code data roots with exactly known totals.
//!
//! `generate` writes `<root>/projects/...` (transcripts, subagent files and the
//! non-usage files Claude Code leaves around) plus `<root>/expected.json`, the
//! ground truth under ctm's counting rules. `grow` appends new activity to some
//! transcripts and updates the ground truth.
//!
//! `Expected::files`, `bytes` and `lines` cover the `.jsonl` files only
//! (empty ones included); `lines` counts line terminators.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

mod gen;
mod grow;
mod ledger;
pub mod reference;
mod rng;
mod text;

pub use gen::generate;
pub use grow::grow;

/// Kinds of bad lines, as keys of `Expected::bad_lines`.
pub const BAD_KINDS: [&str; 4] = ["notJson", "notObject", "invalidUtf8", "invalidUsage"];

/// Which Claude models, Claude Code versions and line types a root is written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lineup {
    /// The February 2026 lineup (Opus 4.6, Sonnet 4.5, Haiku 4.5, ...) and Claude Code
    /// up to 2.1.68: what the benchmarks and most tests use.
    #[default]
    Feb2026,
    /// December 2026: Opus 5.5, Sonnet 5.5, Haiku 5.5, Fable 5.1/5.2, Opus 5, Sonnet 5,
    /// fast mode, US residency; Claude Code up to 2.1.293 with its new line types and
    /// `cost-state` lines (a few with planted drifts, listed in the ground truth).
    Dec2026,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    pub seed: u64,
    /// Approximate total size of the `.jsonl` files.
    pub target_bytes: u64,
    /// Last day of activity (sessions start on or before it).
    pub end_date: jiff::civil::Date,
    pub days: u32,
    /// Forces one main transcript of about this size.
    pub huge_file_bytes: Option<u64>,
    /// IANA zone names for `Expected::by_day`.
    pub zones: Vec<String>,
    /// How densely responses are packed (1, the default, to 100): the long texts
    /// (prompts, tool results, thinking, text, bash output) are this many times shorter
    /// and hooks run this many times less often. 3.5 makes a dense history: about 125k
    /// responses and 270k usage lines per GB (the default makes about 65k and 135k).
    pub density: f64,
    pub lineup: Lineup,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            target_bytes: 20_000_000,
            end_date: jiff::civil::date(2026, 11, 15),
            days: 300,
            huge_file_bytes: None,
            zones: ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Tokyo"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            density: 1.0,
            lineup: Lineup::Feb2026,
        }
    }
}

impl GenConfig {
    /// About 2 MB; every special case still appears at least once.
    pub fn small(seed: u64) -> Self {
        Self::with_bytes(seed, 2_000_000)
    }

    pub fn with_bytes(seed: u64, target_bytes: u64) -> Self {
        GenConfig {
            seed,
            target_bytes,
            ..Default::default()
        }
    }

    /// A December 2026 history: 120 days up to 2026-12-06, every model and price rule
    /// of the reference, today's line types and `cost-state` lines.
    pub fn december_2026(seed: u64, target_bytes: u64) -> Self {
        GenConfig {
            seed,
            target_bytes,
            end_date: jiff::civil::date(2026, 12, 6),
            days: 120,
            lineup: Lineup::Dec2026,
            ..Default::default()
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_creation_5m_tokens: u64,
    pub cache_creation_1h_tokens: u64,
    pub cache_read_tokens: u64,
    pub web_search_requests: u64,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.responses += o.responses;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_creation_tokens += o.cache_creation_tokens;
        self.cache_creation_5m_tokens += o.cache_creation_5m_tokens;
        self.cache_creation_1h_tokens += o.cache_creation_1h_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.web_search_requests += o.web_search_requests;
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Expected {
    pub seed: u64,
    pub files: u64,
    pub bytes: u64,
    pub lines: u64,
    pub totals: Totals,
    pub by_model: BTreeMap<String, Totals>,
    pub by_session: BTreeMap<String, Totals>,
    /// Keyed by cwd.
    pub by_project: BTreeMap<String, Totals>,
    /// zone -> YYYY-MM-DD -> totals; a response's day is that of its earliest line.
    pub by_day: BTreeMap<String, BTreeMap<String, Totals>>,
    pub bad_lines: BTreeMap<String, u64>,
    pub sidechain_replays: u64,
    pub synthetic_errors: u64,
    /// Epoch seconds, sorted.
    pub limit_resets: Vec<i64>,
    pub zones: Vec<String>,
    /// What the responses cost by the reference's prices ([`reference`]), independent of
    /// ctm's table; and Claude Code's own figures (`cost-state` lines).
    #[serde(default)]
    pub cost: CostTruth,
}

/// Costs by the reference's prices, in USD.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CostTruth {
    pub total_usd: f64,
    pub by_model: BTreeMap<String, f64>,
    pub by_session: BTreeMap<String, f64>,
    /// Responses of models the reference has no price for (not in the sums).
    pub unpriced_responses: u64,
    /// Per session with a `cost-state` line: Claude Code's figure (the latest line).
    pub claude_code: BTreeMap<String, ClaudeCodeFigure>,
}

/// Claude Code's own figure for a session.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClaudeCodeFigure {
    pub cost_usd: f64,
    /// A planted drift: the figure differs from the session's cost by far more than 1%,
    /// so `ctm pricing check` must flag it. All other figures are within 0.5%.
    pub drifted: bool,
}

impl Expected {
    pub(crate) fn empty(seed: u64, zones: &[String]) -> Expected {
        Expected {
            seed,
            files: 0,
            bytes: 0,
            lines: 0,
            totals: Totals::default(),
            by_model: BTreeMap::new(),
            by_session: BTreeMap::new(),
            by_project: BTreeMap::new(),
            by_day: BTreeMap::new(),
            bad_lines: BAD_KINDS.iter().map(|k| (k.to_string(), 0)).collect(),
            sidechain_replays: 0,
            synthetic_errors: 0,
            limit_resets: Vec::new(),
            zones: zones.to_vec(),
            cost: CostTruth::default(),
        }
    }

    pub fn load(root: &Path) -> anyhow::Result<Expected> {
        let path = root.join("expected.json");
        let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&data).with_context(|| format!("parsing {}", path.display()))
    }

    pub(crate) fn save(&self, root: &Path) -> anyhow::Result<()> {
        let path = root.join("expected.json");
        let mut data = serde_json::to_vec_pretty(self)?;
        data.push(b'\n');
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))
    }
}

/// Parses sizes like `100MB`, `1GB`, `50KB`, `80MiB` or a plain byte count
/// (KB/MB/GB are decimal, KiB/MiB/GiB binary).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .with_context(|| format!("bad size {s:?} (expected e.g. 100MB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        u => anyhow::bail!("bad size unit {u:?} in {s:?}"),
    };
    Ok((num * mult as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100MB").unwrap(), 100_000_000);
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("50KB").unwrap(), 50_000);
        assert_eq!(parse_size("2MiB").unwrap(), 2 << 20);
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert!(parse_size("12XB").is_err());
    }
}
