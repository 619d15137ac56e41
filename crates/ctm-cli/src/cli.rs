//! The command line: global options and one subcommand per report or action.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ctm",
    version,
    about = "Claude Token Monitor: what Claude Code cost you, where, and how fast, kept for good",
    long_about = "Claude Token Monitor keeps every Claude Code API response in a local SQLite store, \
        counted once and priced exactly, so history survives Claude Code's 30-day cleanup.\n\n\
        Every report first brings the store up to date (a few milliseconds when nothing changed). \
        With no command, ctm shows the daily report."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The store file [default: $XDG_DATA_HOME/ctm/ctm.db, i.e. ~/.local/share/ctm/ctm.db]
    #[arg(long, global = true, env = "CTM_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// A Claude Code data root (the folder holding projects/); repeatable
    /// [default: CLAUDE_CONFIG_DIR (comma-separated), else ~/.config/claude and ~/.claude]
    #[arg(long = "claude-dir", global = true, value_name = "DIR")]
    pub claude_dirs: Vec<PathBuf>,
    /// Answer from the store as it is, without reading Claude Code's files first
    #[arg(long, global = true)]
    pub no_ingest: bool,
    /// The configuration file (price overrides) [default: $XDG_CONFIG_HOME/ctm/config.toml]
    #[arg(long, global = true, env = "CTM_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring the store up to date from Claude Code's transcripts and say what changed
    Ingest(IngestArgs),
    /// Usage and cost per day (what `ctm` alone shows)
    Daily(DailyArgs),
    /// The price table, and the models in the store it cannot price
    Pricing(PricingArgs),
    /// The store itself: status, migrations, checks, repricing
    Db(DbArgs),
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Print the run's figures as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OrderArg {
    #[default]
    Asc,
    Desc,
}

/// Options every report takes.
#[derive(Debug, Args, Default)]
pub struct ReportArgs {
    /// Print JSON (ccusage's field names where it has the same report)
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV
    #[arg(long)]
    pub csv: bool,
    /// First day to include (YYYY-MM-DD or YYYYMMDD, in the report's time zone)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Last day to include (YYYY-MM-DD or YYYYMMDD)
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// IANA time zone for days and hours [default: the system's]
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Oldest first (asc) or newest first (desc)
    #[arg(long, value_enum, default_value_t = OrderArg::Asc)]
    pub order: OrderArg,
}

#[derive(Debug, Args, Default)]
pub struct DailyArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// One row per model under each day
    #[arg(long)]
    pub breakdown: bool,
}

#[derive(Debug, Args)]
pub struct PricingArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Where the store is, its schema version and what it holds
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Migrate the store's schema (to the latest version unless --to is given)
    Migrate {
        /// Stop at this schema version (for tests and careful upgrades)
        #[arg(long, value_name = "N")]
        to: Option<u32>,
    },
    /// Recompute every response's cost with the current price table
    Reprice,
    /// Integrity check, and every derived table recomputed from the facts and compared
    Check,
    /// Recompute every derived table from the facts
    Rebuild,
}
