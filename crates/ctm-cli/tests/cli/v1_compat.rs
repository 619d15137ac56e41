//! Every report's JSON is what the store before version 14 printed (`golden/v1/`,
//! written by the ctm of main at b166ccb), on the real fixture and on generated data, in
//! several zones, with filters and day ranges: the same fields, rows, order and figures.
//! Costs are the one deliberate change: they were floats added in row order and are now
//! integer nano-dollars per response, added exactly, so a cost may differ from the old
//! one by the old float noise and the rounding of each response to the nano-dollar (at
//! most half a nano-dollar per response), never more.
//!
//! To write the golden files again with another binary:
//! `CTM_V1_BIN=/path/to/ctm cargo test -p ctm-cli --test cli v1_compat::write_golden -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ctm_testdata::{generate, GenConfig};
use serde_json::Value;

use super::support::{fixture_root, json, Env};

const NOW: &str = "2026-12-01T00:00:00Z";

/// The asks, each a file name and the arguments (after `--claude-dir ROOT`).
fn asks(generated: bool) -> Vec<(String, Vec<&'static str>)> {
    let reports = [
        "daily", "weekly", "monthly", "session", "project", "models", "hourly", "top", "cache",
        "blocks",
    ];
    let zones = ["UTC", "Asia/Kolkata", "America/New_York"];
    let mut out = Vec::new();
    for zone in zones {
        for report in reports {
            out.push((
                format!("{report}-{}", zone.replace('/', "-")),
                vec![report, "--json", "--timezone", zone],
            ));
        }
    }
    let (project, since, until) = if generated {
        ("webshop", "2026-05-01", "2026-08-31")
    } else {
        ("spotter-gqc", "2026-02-01", "2026-02-20")
    };
    let filtered: [(&str, Vec<&'static str>); 8] = [
        ("daily-project", vec!["daily", "--project", project]),
        (
            "session-project-tokyo",
            vec!["session", "--project", project, "--timezone", "Asia/Tokyo"],
        ),
        (
            "daily-model",
            vec!["daily", "--model", "opus", "--timezone", "Asia/Kolkata"],
        ),
        (
            "models-range",
            vec!["models", "--since", since, "--until", until],
        ),
        (
            "project-range",
            vec![
                "project",
                "--since",
                since,
                "--until",
                until,
                "--timezone",
                "Asia/Kathmandu",
            ],
        ),
        (
            "hourly-range",
            vec![
                "hourly",
                "--since",
                since,
                "--until",
                until,
                "--timezone",
                "Asia/Kolkata",
            ],
        ),
        ("trend", vec!["trend", "--days", "30", "--until", until]),
        ("blocks-project", vec!["blocks", "--project", project]),
    ];
    for (name, mut args) in filtered {
        args.push("--json");
        out.push((name.to_owned(), args));
    }
    out
}

fn golden_dir(generated: bool) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/golden/v1")
        .join(if generated { "generated" } else { "fixture" })
}

/// The data root: the real fixture, or a small generated one (the same at every run).
fn root(env: &Env, generated: bool) -> PathBuf {
    if !generated {
        return fixture_root();
    }
    let root = env.path().join("generated");
    generate(&root, &GenConfig::small(29)).unwrap();
    root
}

fn ask(cmd: &mut Command, root: &Path, args: &[&str]) -> Value {
    json(
        cmd.env("CTM_NOW", NOW)
            .arg("--claude-dir")
            .arg(root)
            .args(args),
    )
}

/// Whether a number at this key is money (or a share of it).
fn is_money(key: &str) -> bool {
    let k = key.to_lowercase();
    k.contains("cost") || k.contains("savings")
}

/// Lists where `got` differs from `want`: exactly, but for money, which may differ by
/// half a nano-dollar per response of the whole history plus the old float noise.
fn differences(path: &str, got: &Value, want: &Value, money: bool, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let (gk, wk): (Vec<&String>, Vec<&String>) = (g.keys().collect(), w.keys().collect());
            if gk != wk {
                out.push(format!("{path}: keys {gk:?}, were {wk:?}"));
                return;
            }
            for (k, v) in g {
                differences(&format!("{path}.{k}"), v, &w[k], is_money(k), out);
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                out.push(format!("{path}: {} items, were {}", g.len(), w.len()));
                return;
            }
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                differences(&format!("{path}[{i}]"), a, b, money, out);
            }
        }
        (Value::Number(a), Value::Number(b)) if money => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            // 904 and about 7,000 responses: at most 3.5e-6 of rounding, and the noise.
            if (a - b).abs() > 4e-6 + 1e-12 * b.abs() {
                out.push(format!("{path}: {a}, was {b}"));
            }
        }
        _ if got != want => out.push(format!("{path}: {got}, was {want}")),
        _ => {}
    }
}

fn compare(generated: bool) {
    let env = Env::new();
    let root = root(&env, generated);
    let mut diffs = Vec::new();
    for (name, args) in asks(generated) {
        let file = golden_dir(generated).join(format!("{name}.json"));
        let want: Value = serde_json::from_slice(
            &std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        )
        .unwrap();
        let got = ask(&mut env.ctm(), &root, &args);
        differences(&name, &got, &want, false, &mut diffs);
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn fixture_reports_are_those_of_store_v1() {
    compare(false);
}

#[test]
fn generated_reports_are_those_of_store_v1() {
    compare(true);
}

/// Writes the golden files with the binary `CTM_V1_BIN` names.
#[test]
#[ignore = "writes the golden files; run by hand with CTM_V1_BIN set"]
fn write_golden() {
    let bin = std::env::var_os("CTM_V1_BIN").expect("CTM_V1_BIN names the ctm to record");
    for generated in [false, true] {
        let env = Env::new();
        let root = root(&env, generated);
        let dir = golden_dir(generated);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, args) in asks(generated) {
            // The same environment as the binary under test gets, but another binary.
            let template = env.ctm();
            let mut old = Command::new(&bin);
            old.env_clear();
            for (k, v) in template.get_envs() {
                if let Some(v) = v {
                    old.env(k, v);
                }
            }
            let value = ask(&mut old, &root, &args);
            let text = serde_json::to_string_pretty(&value).unwrap();
            std::fs::write(dir.join(format!("{name}.json")), text + "\n").unwrap();
        }
    }
}
