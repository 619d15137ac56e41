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
    // `top` looks up the models of just the sessions it shows.
    let top3 = report(&["top", "--limit", "3"]);
    assert_eq!(top3["sessions"].as_array().unwrap().len(), 3);
    assert_eq!(
        report(&["top", "--limit", "3", "--since", "1970-01-01"]),
        top3
    );
    assert_eq!(
        top3["sessions"].as_array().unwrap()[..],
        top["sessions"].as_array().unwrap()[..3]
    );
    // With the store's daily tables in another zone, a UTC report comes from the facts.
    run(env.ctm().args(["config", "set", "timezone", "Asia/Tokyo"]));
    assert_eq!(report(&["cache"]), cache);
    assert_eq!(report(&["models"]), models);
    run(env.ctm().args(["db", "check"]));
}

/// `hourly` and `project` read the rollup (`quarter_usage`) in any zone, and `blocks`
/// reads `usage_blocks` when it holds what the facts would give. The same reports with
/// the store in another zone, and with blocks from the rollup (history "pruned" before
/// every response), must be identical, to the last digit of every cost, in two zones
/// and over day ranges.
#[test]
fn hourly_project_and_blocks_from_the_rollup_and_usage_blocks_are_the_same_in_any_store_zone() {
    const NOW: &str = "2026-11-15T20:00:00Z";
    let env = Env::new();
    let root = env.path().join("root");
    generate(&root, &GenConfig::small(29)).unwrap();
    let ctm = || {
        let mut c = env.ctm();
        c.env("CTM_NOW", NOW).arg("--claude-dir").arg(&root);
        c
    };
    let report =
        |zone: &str, args: &[String]| json(ctm().args(args).args(["--json", "--timezone", zone]));
    let set_store_zone = |zone: &str| run(ctm().args(["config", "set", "timezone", zone]));
    let zones = ["America/New_York", "Asia/Kolkata"];
    set_store_zone(zones[0]);
    let days: Vec<String> = report(zones[0], &["daily".into()])["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap().to_owned())
        .collect();
    assert!(days.len() > 20, "{days:?}");
    let (since, until) = (&days[3], &days[days.len() - 4]);
    let asks: Vec<Vec<String>> = [
        vec!["hourly"],
        vec!["hourly", "--since", since, "--until", until],
        vec!["project"],
        vec![
            "project", "--since", since, "--until", until, "--order", "desc",
        ],
        vec!["project", "--until", since],
        vec!["blocks"],
        vec![
            "blocks",
            "--since",
            since,
            "--until",
            until,
            "--token-limit",
            "max",
        ],
    ]
    .into_iter()
    .map(|a| a.into_iter().map(str::to_owned).collect())
    .collect();

    // Each zone as the store's zone.
    let mut derived = Vec::new();
    for zone in zones {
        set_store_zone(zone);
        for ask in &asks {
            derived.push((zone, ask, report(zone, ask)));
        }
    }
    // `live --plan custom` takes its limits from the finished blocks: from usage_blocks
    // when no response is later than its "now".
    let live_custom = || {
        json(
            env.ctm()
                .env("CTM_NOW", "2026-12-01T00:00:00Z")
                .arg("--claude-dir")
                .arg(&root)
                .args([
                    "live",
                    "--once",
                    "--json",
                    "--plan",
                    "custom",
                    "--timezone",
                    zones[0],
                ]),
        )
    };
    let live = live_custom();
    assert!(live.to_string().contains("past blocks"), "{live}");
    let project = &derived[2].2;
    assert!(project["projects"].as_array().unwrap().len() > 1);
    assert!(derived[0].2["totals"]["totalCost"].as_f64().unwrap() > 0.0);
    assert!(derived[5].2["blocks"].as_array().unwrap().len() > 10);

    // The derived rows are what was read: changed by hand, the reports change (and
    // `db check` names every table), until a rebuild.
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    for sql in [
        "UPDATE quarter_usage SET cost_nanos = cost_nanos + 1000000000, responses = responses + 1",
        "UPDATE usage_blocks SET cost_usd = cost_usd + 1",
    ] {
        conn.execute(sql, []).unwrap();
    }
    drop(conn);
    for (zone, ask, value) in derived.iter().filter(|(z, ..)| *z == zones[1]) {
        assert_ne!(
            &report(zone, ask),
            value,
            "{zone} {ask:?} ignored its derived rows"
        );
    }
    assert_ne!(live_custom(), live, "live ignored usage_blocks");
    let out = ctm().args(["db", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    for table in ["quarter_usage", "usage_blocks"] {
        assert!(said.contains(table), "{table} not reported: {said}");
    }
    run(ctm().args(["db", "rebuild"]));
    run(ctm().args(["db", "check"]));
    for (zone, ask, value) in derived.iter().filter(|(z, ..)| *z == zones[1]) {
        assert_eq!(
            &report(zone, ask),
            value,
            "{zone} {ask:?} after the rebuild"
        );
    }

    // With the store in a third zone, the same; blocks still come from usage_blocks.
    set_store_zone("Asia/Tokyo");
    for (zone, ask, value) in &derived {
        assert_eq!(&report(zone, ask), value, "{zone} {ask:?}");
    }
    // A prune horizon before every response deletes nothing, but blocks may no longer
    // read usage_blocks: below they come from the rollup.
    let pruned = json(ctm().args(["db", "prune", "--facts-older-than", "3650", "--json"]));
    assert_eq!(pruned["facts"]["responses"], 0, "{pruned}");
    for (zone, ask, value) in &derived {
        assert_eq!(&report(zone, ask), value, "{zone} {ask:?} from the rollup");
    }
    assert_eq!(live_custom(), live, "live from the rollup");
    run(ctm().args(["db", "check"]));
}
