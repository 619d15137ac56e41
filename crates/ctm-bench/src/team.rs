//! `ctm-bench-team`: many people's generated histories pushed into one PostgreSQL team
//! database, timing each first push, a push with nothing new, a push after growth, and
//! every team report (in the store's zone and others, filtered by person, project, model
//! and range), with the database's size.
//!
//! The database is a cluster of the benchmark's own, written as a real server does (fsync
//! on), under the data folder, unless `--pg-url` names one. Every ctm run gets HOME and the
//! XDG folders inside the data folder: the machine's own `~/.claude` is never read.

#[path = "measure.rs"]
mod measure;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use serde::Serialize;

use measure::{summarise, Sample, Spec, Summary};

#[derive(Parser)]
#[command(
    name = "ctm-bench-team",
    about = "Benchmark ctm team push and the team reports on many generated histories"
)]
struct Cli {
    /// People, each with their own generated history
    #[arg(long, default_value_t = 20)]
    people: usize,
    /// Size of each person's history (ctm-gen --size)
    #[arg(long, default_value = "1GB")]
    size: String,
    /// More ctm-gen options for every history (e.g. --gen-arg=--density --gen-arg=3.5)
    #[arg(long = "gen-arg", allow_hyphen_values = true)]
    gen_args: Vec<String>,
    /// Timed runs per report (after one untimed)
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where histories, stores, the cluster and results go
    #[arg(long, default_value = "bench-data/team")]
    data: PathBuf,
    /// Folder holding the release builds of ctm and ctm-gen
    #[arg(long, default_value = "target/release")]
    bin: PathBuf,
    /// A PostgreSQL URL whose role may create databases, instead of a cluster of its own
    #[arg(long)]
    pg_url: Option<String>,
    /// Leave the team database on the --pg-url server when done (its URL is printed),
    /// to time reports against it again with --reports-only
    #[arg(long, requires = "pg_url")]
    keep_database: bool,
    /// Only time the team reports, against this existing team database URL
    #[arg(long)]
    reports_only: Option<String>,
    /// Keep every generated history (each is about --size; by default only the first
    /// person's is kept, for the growth run, and the others are deleted once ingested)
    #[arg(long)]
    keep_histories: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    scenario: String,
    command: String,
    summary: Summary,
    samples: Vec<Sample>,
    note: String,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ctm-bench-team: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

struct Bench {
    data: PathBuf,
    home: PathBuf,
    ctm: PathBuf,
    rows: Vec<Row>,
}

impl Bench {
    fn env(&self) -> Vec<(String, String)> {
        let p = |x: &Path| x.to_string_lossy().into_owned();
        vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), p(&self.home)),
            ("XDG_CONFIG_HOME".into(), p(&self.home.join(".config"))),
            ("XDG_DATA_HOME".into(), p(&self.home.join(".local/share"))),
            ("TZ".into(), "UTC".into()),
            ("NO_COLOR".into(), "1".into()),
        ]
    }

    fn ctm(&self, args: &[&str]) -> Spec {
        Spec {
            program: self.ctm.clone(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: self.env(),
            stdin: None,
        }
    }

    /// Runs once; returns the sample and what it printed.
    fn once(&self, spec: &Spec, name: &str) -> Result<(Sample, String)> {
        let out = self.data.join("logs").join(format!("{name}.out"));
        let err = self.data.join("logs").join(format!("{name}.err"));
        let s = measure::run(spec, &out, &err)?;
        Ok((s, fs::read_to_string(&out).unwrap_or_default()))
    }

    fn record(&mut self, scenario: &str, spec: &Spec, samples: Vec<Sample>, note: String) {
        let summary = summarise(&samples).expect("at least one sample");
        eprintln!(
            "  {scenario}: median {:.1} ms (min {:.1}, max {:.1}) {note}",
            summary.median_ms, summary.min_ms, summary.max_ms
        );
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            command: format!("ctm {}", spec.args.join(" ")),
            summary,
            samples,
            note,
        });
    }

    /// `runs` timed runs after one untimed.
    fn repeat(&mut self, scenario: &str, spec: &Spec, runs: usize) -> Result<()> {
        let name = scenario.replace([' ', '/', '-'], "_");
        self.once(spec, &name)?;
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(self.once(spec, &name)?.0);
        }
        self.record(scenario, spec, samples, String::new());
        Ok(())
    }
}

fn run(cli: Cli) -> Result<()> {
    if cli.runs == 0 || cli.people == 0 {
        bail!("--runs and --people must be at least 1");
    }
    fs::create_dir_all(cli.data.join("logs"))?;
    fs::create_dir_all(cli.data.join("histories"))?;
    fs::create_dir_all(cli.data.join("stores"))?;
    let data = fs::canonicalize(&cli.data)?;
    let bin = fs::canonicalize(&cli.bin).with_context(|| {
        format!(
            "{} not found: cargo build --release first",
            cli.bin.display()
        )
    })?;
    let (ctm, gen) = (bin.join("ctm"), bin.join("ctm-gen"));
    let home = data.join("home");
    fs::create_dir_all(&home)?;

    let mut bench = Bench {
        data: data.clone(),
        home,
        ctm,
        rows: Vec::new(),
    };
    if let Some(url) = &cli.reports_only {
        time_reports(&mut bench, url, cli.people, cli.runs)?;
        return print_results(&bench, url, &format!("reports only, {} people", cli.people));
    }
    // The database.
    let cluster;
    let admin_url = match &cli.pg_url {
        Some(u) => u.clone(),
        None => {
            cluster = ctm_test_postgres::Cluster::start_in(
                &data,
                &ctm_test_postgres::ClusterOptions {
                    durable: true,
                    ..Default::default()
                },
            )
            .map_err(anyhow::Error::msg)?;
            cluster.admin_url()
        }
    };
    let db = ctm_test_postgres::Database::create(&admin_url);
    let url = db.url.clone();
    eprintln!("team database {}", db.name);

    let mut responses = 0u64;
    let mut first_pushes = Vec::new();
    for i in 0..cli.people {
        let person = format!("person-{i:02}");
        let root = data
            .join("histories")
            .join(format!("{}-{}", cli.size, 1000 + i));
        if !root.join("expected.json").exists() {
            let _ = fs::remove_dir_all(&root);
            eprintln!("generating {person}'s history ({})", cli.size);
            let status = Command::new(&gen)
                .arg("--out")
                .arg(&root)
                .args(["--seed", &(1000 + i).to_string(), "--size", &cli.size])
                .args(&cli.gen_args)
                .stdout(std::process::Stdio::null())
                .status()?;
            if !status.success() {
                bail!("ctm-gen failed for {person}");
            }
        }
        let store = data.join("stores").join(format!("{person}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = fs::remove_file(format!("{}{suffix}", store.display()));
        }
        let root_s = root.to_string_lossy().into_owned();
        let store_s = store.to_string_lossy().into_owned();
        let ingest = bench.ctm(&["--db", &store_s, "--claude-dir", &root_s, "ingest"]);
        let (ingested, _) = bench.once(&ingest, &format!("ingest_{person}"))?;
        let push = bench.ctm(&[
            "--db",
            &store_s,
            "--claude-dir",
            &root_s,
            "--no-ingest",
            "team",
            "push",
            "--url",
            &url,
            "--user",
            &person,
            "--machine",
            "workstation",
            "--json",
        ]);
        let (pushed, out) = bench.once(&push, &format!("push_{person}"))?;
        let report: serde_json::Value = serde_json::from_str(&out)
            .with_context(|| format!("{person}'s push printed no JSON"))?;
        let sent = report["sent"].as_u64().unwrap_or(0);
        responses += sent;
        eprintln!(
            "{person}: ingest {:.0} ms, first push of {sent} responses {:.0} ms ({:.0} responses/s)",
            ingested.wall_ms,
            pushed.wall_ms,
            sent as f64 / (pushed.wall_ms / 1000.0)
        );
        first_pushes.push((pushed, sent));
        if i > 0 && !cli.keep_histories {
            fs::remove_dir_all(&root)?;
        }
    }
    let push_samples: Vec<Sample> = first_pushes.iter().map(|(s, _)| *s).collect();
    let per_person = responses / cli.people as u64;
    bench.record(
        "first push (each person)",
        &bench.ctm(&["team", "push", "--no-ingest"]),
        push_samples,
        format!("{per_person} responses per person, {responses} in all"),
    );

    // Person 0 again: nothing to send, then after growth.
    let root0 = data
        .join("histories")
        .join(format!("{}-{}", cli.size, 1000));
    let store0 = data.join("stores").join("person-00.db");
    let (root_s, store_s) = (
        root0.to_string_lossy().into_owned(),
        store0.to_string_lossy().into_owned(),
    );
    let again = bench.ctm(&[
        "--db",
        &store_s,
        "--claude-dir",
        &root_s,
        "--no-ingest",
        "team",
        "push",
        "--url",
        &url,
        "--user",
        "person-00",
        "--machine",
        "workstation",
    ]);
    bench.repeat("push, nothing new", &again, cli.runs)?;
    let mut grown = Vec::new();
    for run in 0..cli.runs {
        let status = Command::new(&gen)
            .args([
                "grow", "--root", &root_s, "--files", "100", "--bytes", "50KB",
            ])
            .args(["--seed", &(77 + run).to_string()])
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("ctm-gen grow failed");
        }
        bench.once(
            &bench.ctm(&["--db", &store_s, "--claude-dir", &root_s, "ingest"]),
            "grow_ingest",
        )?;
        grown.push(bench.once(&again, "grow_push")?.0);
    }
    bench.record(
        "push after growth (100 files x 50 KB)",
        &again,
        grown,
        String::new(),
    );

    // The database's size.
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    let size: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])?
        .get(0);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM ctm.responses", &[])?
        .get(0);
    let rollup: i64 = client
        .query_one("SELECT count(*) FROM ctm.rollup", &[])?
        .get(0);
    client.batch_execute("VACUUM ANALYZE")?;
    drop(client);
    let sizes = format!(
        "database {:.0} MB: {rows} responses, {rollup} rollup rows",
        size as f64 / 1e6
    );
    eprintln!("{sizes}");

    time_reports(&mut bench, &url, cli.people, cli.runs)?;
    print_results(
        &bench,
        &url,
        &format!(
            "{} people x {} ({}); {sizes}",
            cli.people,
            cli.size,
            cli.gen_args.join(" ")
        ),
    )?;
    if cli.keep_database {
        eprintln!("team database kept: {url}");
        std::mem::forget(db);
    }
    Ok(())
}

/// Every team report, `runs` timed runs each after one untimed.
fn time_reports(bench: &mut Bench, url: &str, people: usize, runs: usize) -> Result<()> {
    // The reports.
    let one = format!("person-{:02}", (people - 1).min(3));
    let one = one.as_str();
    let reports: &[(&str, &[&str])] = &[
        ("daily", &["daily"]),
        (
            "daily, Asia/Kolkata",
            &["daily", "--timezone", "Asia/Kolkata"],
        ),
        ("daily, one person", &["daily", "--user", one]),
        ("daily, --model opus", &["daily", "--model", "opus"]),
        (
            "daily, --project webshop",
            &["daily", "--project", "webshop"],
        ),
        ("weekly", &["weekly"]),
        ("monthly", &["monthly", "--timezone", "America/New_York"]),
        ("users", &["users"]),
        (
            "users, last 30 days",
            &["users", "--since", "2026-10-17", "--until", "2026-11-15"],
        ),
        ("projects", &["projects"]),
        ("models", &["models", "--timezone", "Asia/Tokyo"]),
        ("sessions", &["sessions"]),
        (
            "sessions, one person, 7 days",
            &[
                "sessions",
                "--user",
                one,
                "--since",
                "2026-11-09",
                "--until",
                "2026-11-15",
            ],
        ),
        (
            "daily --reprice, 7 days",
            &[
                "daily",
                "--reprice",
                "--since",
                "2026-11-09",
                "--until",
                "2026-11-15",
            ],
        ),
    ];
    for (name, args) in reports {
        let mut all = vec!["team"];
        all.extend_from_slice(args);
        all.extend(["--url", url, "--json"]);
        let spec = bench.ctm(&all);
        bench.repeat(&format!("team {name}"), &spec, runs)?;
    }

    Ok(())
}

/// The table of every timed scenario, then `about`; the samples in results.json.
fn print_results(bench: &Bench, url: &str, about: &str) -> Result<()> {
    println!("| scenario | command | runs | median | min-max | CPU (median) | peak RSS |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &bench.rows {
        let s = &r.summary;
        let command = r.command.replace(url, "URL");
        println!(
            "| {} | `{}` | {} | {:.1} ms | {:.1}-{:.1} ms | {:.1} ms | {} MiB |",
            r.scenario,
            command,
            s.runs,
            s.median_ms,
            s.min_ms,
            s.max_ms,
            s.median_cpu_ms,
            s.peak_rss_kb / 1024
        );
    }
    println!();
    println!("{about}");
    let json = bench.data.join("results.json");
    fs::write(&json, serde_json::to_vec_pretty(&bench.rows)?)?;
    eprintln!("samples in {}", json.display());
    Ok(())
}
