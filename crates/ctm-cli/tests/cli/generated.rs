//! The real binary on generated data roots: totals the generator wrote, in three zones,
//! and growth in pieces cut at arbitrary byte offsets.

use std::path::Path;

use ctm_testdata::{generate, Expected, GenConfig};

use super::support::*;

fn daily_by_date(env: &Env, root: &Path, zone: &str) -> Vec<(String, u64, u64, u64, u64, u64)> {
    let v =
        json(
            env.ctm()
                .arg("--claude-dir")
                .arg(root)
                .args(["daily", "--json", "--timezone", zone]),
        );
    v["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let n = |k: &str| d[k].as_u64().unwrap();
            (
                d["date"].as_str().unwrap().to_owned(),
                n("responses"),
                n("inputTokens"),
                n("outputTokens"),
                n("cacheCreationTokens"),
                n("cacheReadTokens"),
            )
        })
        .collect()
}

fn expected_by_date(e: &Expected, zone: &str) -> Vec<(String, u64, u64, u64, u64, u64)> {
    e.by_day[zone]
        .iter()
        .map(|(d, t)| {
            (
                d.clone(),
                t.responses,
                t.input_tokens,
                t.output_tokens,
                t.cache_creation_tokens,
                t.cache_read_tokens,
            )
        })
        .collect()
}

#[test]
fn daily_in_three_zones_equals_the_generator_totals() {
    let env = Env::new();
    let root = env.path().join("root");
    let expected = generate(&root, &GenConfig::small(11)).unwrap();
    for zone in ["UTC", "America/New_York", "Asia/Kolkata"] {
        assert_eq!(
            daily_by_date(&env, &root, zone),
            expected_by_date(&expected, zone),
            "{zone}"
        );
    }
    run(env.ctm().args(["db", "check"]));
}

/// A tiny deterministic generator for cut points (no dependency needed).
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

#[test]
fn the_binary_ingesting_growth_in_random_pieces_equals_one_ingest() {
    for seed in [1u64, 2, 3] {
        let env = Env::new();
        let full = env.path().join("full");
        let expected = generate(&full, &GenConfig::small(20 + seed)).unwrap();
        let growing = env.path().join("growing");
        let files: Vec<_> = walk(&full.join("projects"));
        let contents: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let mut state = seed;
        let stages = 4;
        for stage in 1..=stages {
            for (f, bytes) in files.iter().zip(&contents) {
                let dest = growing.join(f.strip_prefix(&full).unwrap());
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                // Each stage writes a longer prefix, cut anywhere (mid-line too); the last is whole.
                let len = if stage == stages {
                    bytes.len()
                } else {
                    let lo = std::fs::metadata(&dest)
                        .map(|m| m.len() as usize)
                        .unwrap_or(0);
                    lo + (next(&mut state) as usize) % (bytes.len() - lo + 1)
                };
                std::fs::write(&dest, &bytes[..len]).unwrap();
            }
            run(env.ctm().arg("--claude-dir").arg(&growing).arg("ingest"));
        }
        assert_eq!(
            daily_by_date(&env, &growing, "UTC"),
            expected_by_date(&expected, "UTC"),
            "seed {seed}"
        );
        let totals = daily_totals(&json(
            env.ctm()
                .arg("--claude-dir")
                .arg(&growing)
                .args(["daily", "--json"]),
        ));
        let t = &expected.totals;
        assert_eq!(
            totals,
            (
                t.responses,
                t.input_tokens,
                t.output_tokens,
                t.cache_creation_tokens,
                t.cache_read_tokens
            )
        );
        run(env.ctm().args(["db", "check"]));
    }
}

/// `session`, `top`, `cache` and `models` read derived rows when those hold what the
/// facts would give; the same reports computed from the facts must be identical, to
/// the last digit of every cost.
#[test]
fn reports_from_derived_rows_equal_the_same_reports_from_the_facts() {
    let env = Env::new();
    let root = env.path().join("root");
    generate(&root, &GenConfig::small(23)).unwrap();
    let report = |args: &[&str]| {
        json(env.ctm().arg("--claude-dir").arg(&root).args(args).args([
            "--json",
            "--timezone",
            "UTC",
        ]))
    };
    run(env.ctm().args(["config", "set", "timezone", "UTC"]));
    // The store's zone, no filter, no day range: derived rows.
    let session = report(&["session"]);
    let top = report(&["top", "--limit", "1000"]);
    let cache = report(&["cache"]);
    let models = report(&["models"]);
    assert!(session["sessions"].as_array().unwrap().len() > 1);
    assert!(models["models"].as_array().unwrap().len() > 1);
    // A day range reaching before every response selects the same facts, and makes
    // session and top compute their sessions from them.
    assert_eq!(report(&["session", "--since", "1970-01-01"]), session);
    assert_eq!(
        report(&["top", "--limit", "1000", "--since", "1970-01-01"]),
        top
    );
    // With the store's daily tables in another zone, a UTC report comes from the facts.
    run(env.ctm().args(["config", "set", "timezone", "Asia/Tokyo"]));
    assert_eq!(report(&["cache"]), cache);
    assert_eq!(report(&["models"]), models);
    run(env.ctm().args(["db", "check"]));
}
