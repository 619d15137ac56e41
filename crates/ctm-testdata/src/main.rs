//! `ctm-gen`: writes a synthetic Claude Code data root with known totals.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ctm_testdata::{generate, grow, parse_size, Expected, GenConfig};

#[derive(Parser)]
#[command(
    name = "ctm-gen",
    about = "Generate a realistic Claude Code data root with exactly known totals",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Directory to create (must be empty or absent)
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Total transcript size, e.g. 100MB, 1GB
    #[arg(long, default_value = "20MB")]
    size: String,
    /// Number of days of activity
    #[arg(long)]
    days: Option<u32>,
    /// Last day of activity (YYYY-MM-DD)
    #[arg(long)]
    end_date: Option<String>,
    /// Also write one transcript of about this size, e.g. 80MB
    #[arg(long)]
    huge: Option<String>,
    /// IANA zones for the by-day totals (repeatable; default UTC, New York, Kolkata, Tokyo)
    #[arg(long = "zone")]
    zones: Vec<String>,
    /// How densely responses are packed: long texts this many times shorter, hooks this
    /// many times rarer (3.5: a dense history, about 125k responses per GB)
    #[arg(long, default_value_t = 1.0)]
    density: f64,
    /// The models and Claude Code versions: 2026-02 (Opus 4.6 era, the default) or
    /// 2026-12 (Opus 5.5, Sonnet 5.5, Haiku 5.5, Fable 5.2..., fast mode, US residency,
    /// today's line types and cost-state lines; 120 days up to 2026-12-06 unless
    /// --days/--end-date say otherwise)
    #[arg(long, default_value = "2026-02", value_parser = ["2026-02", "2026-12"])]
    lineup: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Append new responses to existing transcripts and update expected.json
    Grow {
        #[arg(long)]
        root: PathBuf,
        /// How many transcripts to extend
        #[arg(long)]
        files: usize,
        /// About how much to append to each, e.g. 50KB
        #[arg(long)]
        bytes: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn summary(what: &str, e: &Expected) {
    println!(
        "{what}: {} files, {} bytes ({:.1} MB), {} lines, {} responses",
        e.files,
        e.bytes,
        e.bytes as f64 / 1e6,
        e.lines,
        e.totals.responses
    );
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Some(Cmd::Grow {
            root,
            files,
            bytes,
            seed,
        }) => {
            let e = grow(&root, files, parse_size(&bytes)?, seed)?;
            summary(&format!("grew {}", root.display()), &e);
        }
        None => {
            let Some(out) = cli.out else {
                anyhow::bail!("--out DIR is required (or use the `grow` subcommand)");
            };
            let bytes = parse_size(&cli.size)?;
            let mut cfg = match cli.lineup.as_str() {
                "2026-12" => GenConfig::december_2026(cli.seed, bytes),
                _ => GenConfig::with_bytes(cli.seed, bytes),
            };
            if let Some(d) = cli.days {
                cfg.days = d;
            }
            if let Some(d) = cli.end_date {
                cfg.end_date = d
                    .parse()
                    .map_err(|e| anyhow::anyhow!("bad --end-date {d:?}: {e}"))?;
            }
            if let Some(h) = cli.huge {
                cfg.huge_file_bytes = Some(parse_size(&h)?);
            }
            if !cli.zones.is_empty() {
                cfg.zones = cli.zones;
            }
            cfg.density = cli.density;
            let e = generate(&out, &cfg)?;
            summary(&format!("wrote {}", out.display()), &e);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ctm-gen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
