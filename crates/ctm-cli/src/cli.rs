//! The command line: global options and one subcommand per report or action.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use ctm_analytics::TokenLimit;

use crate::output::ColorChoice;

#[derive(Debug, Parser)]
#[command(
    name = "ctm",
    version,
    about = "Claude Token Monitor: what Claude Code cost you, where, and how fast, kept for good",
    long_about = "Claude Token Monitor keeps every Claude Code API response in a local SQLite store, \
        counted once and priced exactly, so history survives Claude Code's 30-day cleanup.\n\n\
        Every report first brings the store up to date (a few milliseconds when nothing changed). \
        With no command, ctm shows the daily report.",
    after_help = "Run `ctm COMMAND --help` for a command's options. The store is ~/.local/share/ctm/ctm.db unless --db or CTM_DB says otherwise."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The heading the options every command takes are listed under, apart from a
/// command's own.
const GLOBAL: &str = "Global options";

#[derive(Debug, Args)]
pub struct Global {
    /// The store file [default: $XDG_DATA_HOME/ctm/ctm.db, i.e. ~/.local/share/ctm/ctm.db]
    #[arg(long, global = true, env = "CTM_DB", value_name = "PATH", help_heading = GLOBAL)]
    pub db: Option<PathBuf>,
    /// A Claude Code data root (the folder holding projects/); repeatable
    /// [default: CLAUDE_CONFIG_DIR (comma-separated), else ~/.config/claude and ~/.claude]
    #[arg(long = "claude-dir", global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub claude_dirs: Vec<PathBuf>,
    /// Answer from the store as it is, without reading Claude Code's files first
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_ingest: bool,
    /// The configuration file (price overrides, `ctm serve`'s token, the team database) [default: $XDG_CONFIG_HOME/ctm/config.toml]
    #[arg(long, global = true, env = "CTM_CONFIG", value_name = "PATH", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// How long to wait for another ctm process that is writing the store before giving up
    #[arg(
        long = "busy-timeout",
        global = true,
        env = "CTM_BUSY_TIMEOUT_MS",
        value_name = "MS",
        default_value_t = 30_000,
        help_heading = GLOBAL
    )]
    pub busy_timeout_ms: u64,
    /// When to colour tables
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto,
        help_heading = GLOBAL
    )]
    pub color: ColorChoice,
    /// Never colour (--color never)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_color: bool,
}

impl Global {
    /// `--no-color` wins over `--color`.
    pub fn color_choice(&self) -> ColorChoice {
        if self.no_color {
            ColorChoice::Never
        } else {
            self.color
        }
    }
}

/// The command line parsed, with `--help` listing the commands in groups.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.format(&mut command()).exit(),
    }
}

/// The commands in the groups `ctm --help` lists them in: reports, then what follows the
/// store live, the store itself, and setting ctm up. A command missing here (added
/// without a group) is listed under "Other commands", never hidden.
pub const COMMAND_GROUPS: &[(&str, &[&str])] = &[
    (
        "Reports",
        &[
            "daily", "weekly", "monthly", "session", "project", "models", "hourly", "top", "trend",
            "cache", "blocks",
        ],
    ),
    ("Live", &["live", "statusline", "serve", "mcp"]),
    ("Team", &["team"]),
    (
        "Store",
        &[
            "ingest", "export", "snapshot", "stats", "pricing", "config", "db",
        ],
    ),
    ("Setup", &["completions", "man"]),
];

/// The clap definition, with the grouped command list in the root's help. Completions and
/// the man page are generated from it too.
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    let template = format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{}{GLOBAL}:\n{{options}}{{after-help}}",
        grouped_commands(&cmd)
    );
    cmd.help_template(template)
}

fn grouped_commands(cmd: &clap::Command) -> String {
    let visible: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    let width = visible
        .iter()
        .map(|c| c.get_name().len())
        .max()
        .unwrap_or(0);
    // Descriptions wrap under themselves, within the terminal (at most 100 columns).
    let room = (crate::output::width() as usize).clamp(60, 100) - width - 4;
    let line = |c: &clap::Command| {
        let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
        let mut lines = vec![String::new()];
        for word in about.split_whitespace() {
            let last = lines.last_mut().expect("one line at least");
            if !last.is_empty() && last.len() + 1 + word.len() > room {
                lines.push(word.to_owned());
            } else {
                if !last.is_empty() {
                    last.push(' ');
                }
                last.push_str(word);
            }
        }
        let indent = " ".repeat(width + 4);
        format!(
            "  {:<width$}  {}\n",
            c.get_name(),
            lines.join(&format!("\n{indent}"))
        )
    };
    let mut out = String::new();
    for (group, names) in COMMAND_GROUPS {
        out.push_str(&format!("{group}:\n"));
        for name in *names {
            if let Some(c) = visible.iter().find(|c| c.get_name() == *name) {
                out.push_str(&line(c));
            }
        }
        out.push('\n');
    }
    let others: Vec<&&clap::Command> = visible
        .iter()
        .filter(|c| {
            !COMMAND_GROUPS
                .iter()
                .any(|(_, n)| n.contains(&c.get_name()))
        })
        .filter(|c| c.get_name() != "help")
        .collect();
    if !others.is_empty() {
        out.push_str("Other commands:\n");
        for c in others {
            out.push_str(&line(c));
        }
        out.push('\n');
    }
    out
}

#[derive(Debug, Subcommand)]
pub enum Command {
    // Reports.
    /// Usage and cost per day (what `ctm` alone shows)
    Daily(DailyArgs),
    /// Usage and cost per week
    Weekly(WeeklyArgs),
    /// Usage and cost per month
    Monthly(ReportArgs),
    /// Usage per Claude Code session; with an ID (or a unique prefix), that session response by response
    Session(SessionArgs),
    /// Usage per project (the folder Claude Code ran in)
    Project(ReportArgs),
    /// Each model's share of the tokens and the cost, and its cache hit rate
    Models(ReportArgs),
    /// Activity by local hour of day and weekday, as a heatmap
    Hourly(ReportArgs),
    /// The most expensive days and sessions
    Top(TopArgs),
    /// The last days (7 unless --days) with tokens, cost, cache hit rate and a cost sparkline
    #[command(after_help = NOW_HELP)]
    Trend(TrendArgs),
    /// Prompt caching per day: tokens written and read, hit rate, money saved
    Cache(ReportArgs),
    /// The 5-hour usage windows: gaps, the active block, burn rate, projection, token limit
    #[command(after_help = BLOCKS_HELP)]
    Blocks(BlocksArgs),
    // Live.
    /// A full-screen monitor of the current 5-hour block, redrawn as Claude Code writes (q quits)
    #[command(after_help = NOW_HELP)]
    Live(LiveArgs),
    /// One line for Claude Code's statusline: reads the hook's JSON on stdin, keeps its official limits
    #[command(after_help = STATUSLINE_HELP)]
    Statusline(StatuslineArgs),
    /// A local web dashboard and JSON API, kept up to date while it runs
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// A Model Context Protocol server on stdio: Claude asks ctm what a day, a session or the block cost
    #[command(after_help = MCP_HELP)]
    Mcp(McpArgs),
    // The team.
    /// The team database (PostgreSQL) where a team's machines meet: push, team reports, forget
    #[command(after_help = TEAM_HELP)]
    Team(TeamArgs),
    // The store.
    /// Bring the store up to date from Claude Code's transcripts and say what changed
    Ingest(IngestArgs),
    /// Write usage to a CSV or JSON file, or to stdout with -o - (every attempt is kept; --history lists them)
    Export(ExportArgs),
    /// Record Claude Code's stats-cache.json (its lifetime totals per model) when it changed
    Snapshot(SnapshotArgs),
    /// Claude Code's own totals (latest snapshot) beside the store's, and the days only it still has
    Stats(StatsArgs),
    /// The prices in force, updating them without a release, and checking them against Claude Code's own cost
    Pricing(PricingArgs),
    /// The store's settings (system_config): list, get, set
    Config(ConfigArgs),
    /// The store itself: status, migrations, checks, rebuild, repricing, backup, restore, prune
    Db(DbArgs),
    // Setup.
    /// Shell completions for bash, zsh, fish, PowerShell or elvish, on stdout
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// The manual page (roff) of ctm or of one command, on stdout
    #[command(after_help = MAN_HELP)]
    Man(ManArgs),
}

const COMPLETIONS_HELP: &str = "Load them for this shell: bash: `source <(ctm completions bash)`; \
zsh: `ctm completions zsh > ~/.zfunc/_ctm` (with ~/.zfunc in fpath); fish: \
`ctm completions fish > ~/.config/fish/completions/ctm.fish`.";

const MAN_HELP: &str = "Read it with `ctm man | man -l -`, or install it: \
`ctm man > ~/.local/share/man/man1/ctm.1` (and `ctm man daily > .../ctm-daily.1`).";

const BLOCKS_HELP: &str = "Burn rate: an active block's tokens and cost of the last 60 minutes \
(or since the block started, if later) over that time, never over less than 5 minutes; 0 after \
an hour without a response. The projection adds that rate until the block ends. A finished \
block shows its average from its first to its last response. For tests: CTM_NOW (an RFC 3339 \
time) replaces the current time.";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command (`daily`, `db prune`...): its own page instead of ctm's
    #[arg(value_name = "COMMAND", num_args = 0..)]
    pub command: Vec<String>,
}

const MCP_HELP: &str =
    "Claude Code (or any MCP client) starts `ctm mcp` and talks JSON-RPC on its \
    stdin and stdout; warnings go to stderr. Tools: usage_daily, usage_sessions, usage_blocks, \
    usage_summary and pricing, each answering with the same JSON as the matching command's --json, \
    after bringing the store up to date. `ctm mcp --install --write` adds ctm to Claude Code's MCP \
    servers (user scope), keeping the --db, --claude-dir and --config given to it.";

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Print the entry that adds ctm to Claude Code's MCP servers, and where it goes
    #[arg(long)]
    pub install: bool,
    /// With --install: add the entry to Claude Code's user configuration (a backup is kept)
    #[arg(long, requires = "install")]
    pub write: bool,
}

const TEAM_HELP: &str = "Each machine keeps its own store; `ctm team push` sends its responses to a \
PostgreSQL database the team shares, and the team reports read that database. With url under [team] in \
the config file (or CTM_TEAM_URL), `ctm ingest`, `ctm live` and `ctm serve` push by themselves after an \
ingest that changed responses. The password comes from the URL, PGPASSWORD or ~/.pgpass; TLS from \
sslmode=require|verify-ca|verify-full in the URL. See docs/team.md.";

#[derive(Debug, Args)]
pub struct TeamArgs {
    /// The team database, a PostgreSQL URL such as postgresql://USER@HOST/DATABASE?sslmode=verify-full
    /// [default: url under [team] in the config file, else CTM_TEAM_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    #[command(subcommand)]
    pub command: TeamCommand,
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create ctm's schema in the team database, or migrate it (the first push does it too)
    Init,
    /// Send this machine's responses the team database does not have yet (ingests first)
    Push(TeamPushArgs),
    /// Usage and cost per day across the team
    Daily(TeamDailyArgs),
    /// Usage and cost per week across the team
    Weekly(TeamWeeklyArgs),
    /// Usage and cost per month across the team
    Monthly(TeamReportArgs),
    /// Each person: their machines, tokens, cost and last activity
    Users(TeamReportArgs),
    /// Usage per project across the team
    Projects(TeamReportArgs),
    /// Each model's share of the team's tokens and cost
    Models(TeamReportArgs),
    /// Usage per Claude Code session across the team
    Sessions(TeamReportArgs),
    /// Remove a person's rows (or one of their machines') from the team database
    Forget(TeamForgetArgs),
    /// Compare the team database's rollup with its responses (exit 1 when they differ)
    Check,
}

#[derive(Debug, Args)]
pub struct TeamPushArgs {
    /// The person pushing [default: user under [team], else the OS user]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// This machine's name [default: machine under [team], else the host name]
    #[arg(long, value_name = "NAME")]
    pub machine: Option<String>,
    /// Responses sent per transaction
    #[arg(long, default_value_t = 2_000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
    /// Print what was sent as JSON
    #[arg(long)]
    pub json: bool,
}

/// The options of a team report: a local report's, and whose usage.
#[derive(Debug, Args)]
pub struct TeamReportArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// Only this person's usage
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Price every response with this machine's price table instead of the price each
    /// pushing machine gave it (reads the responses, not the rollups)
    #[arg(long)]
    pub reprice: bool,
}

#[derive(Debug, Args)]
pub struct TeamDailyArgs {
    #[command(flatten)]
    pub team: TeamReportArgs,
    /// One row per model under each day
    #[arg(long)]
    pub breakdown: bool,
}

#[derive(Debug, Args)]
pub struct TeamWeeklyArgs {
    #[command(flatten)]
    pub team: TeamReportArgs,
    /// The day weeks start on
    #[arg(long, value_enum, default_value_t = WeekdayArg::Monday, value_name = "DAY")]
    pub start_of_week: WeekdayArg,
}

#[derive(Debug, Args)]
pub struct TeamForgetArgs {
    /// The person whose rows go
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Only this machine of theirs
    #[arg(long, value_name = "NAME")]
    pub machine: Option<String>,
    /// Print what was removed as JSON
    #[arg(long)]
    pub json: bool,
}

const STATUSLINE_HELP: &str = "Claude Code runs the statusline command on every prompt with a JSON \
    object on stdin; `ctm statusline --install --write` sets that up (keeping --db, --claude-dir and \
    --config in the installed command, and asking before it replaces another statusLine). The line shows the model, this \
    session's cost, today's cost, the 5-hour block's cost and time left, the burn rate, the context \
    used, and Claude's official 5-hour usage when Claude Code reports it (kept in the store).";

#[derive(Debug, Args)]
pub struct StatuslineArgs {
    /// Print the settings.json snippet that makes Claude Code run `ctm statusline`
    #[arg(long)]
    pub install: bool,
    /// With --install: add the snippet to Claude Code's settings.json (a backup is kept)
    #[arg(long, requires = "install")]
    pub write: bool,
    /// With --install --write: replace a different statusLine already there without asking
    #[arg(long, requires = "write")]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanArg {
    /// 19,000 tokens, $18, 250 messages per 5 hours (community estimate)
    #[default]
    Pro,
    /// 88,000 tokens, $35, 1,000 messages
    Max5,
    /// 220,000 tokens, $140, 2,000 messages
    Max20,
    /// The 90th percentile of your own past blocks
    Custom,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// The plan whose limits the block is measured against (p cycles them on screen)
    #[arg(long, value_enum, default_value_t = PlanArg::Pro)]
    pub plan: PlanArg,
    /// IANA time zone for times and days [default: the system's]
    #[arg(short = 'z', long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Seconds between redraws; the screen also redraws as soon as new usage is ingested
    #[arg(long, default_value_t = 5, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub refresh: u64,
    /// Print one snapshot and exit (also what happens when stdout is not a terminal)
    #[arg(long)]
    pub once: bool,
    /// With --once (implied): print the snapshot as JSON
    #[arg(short = 'j', long)]
    pub json: bool,
}

const SERVE_HELP: &str = "The page and the API are served from the store, which follows the data roots while \
ctm serve runs. Any address other than loopback needs a token: --token, CTM_SERVE_TOKEN, or `token` under \
[serve] in the config file; requests then carry it as `Authorization: Bearer TOKEN` or as the cookie set by the \
one-time login link printed at start.";

/// How reports that depend on the current time are tested.
const NOW_HELP: &str =
    "For tests: the environment variable CTM_NOW (an RFC 3339 time, e.g. 2026-02-12T15:00:00Z) replaces the current time.";

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Print the run's figures as JSON
    #[arg(short = 'j', long)]
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
    #[arg(short = 'j', long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV
    #[arg(long)]
    pub csv: bool,
    /// First day to include (YYYY-MM-DD or YYYYMMDD, in the report's time zone)
    #[arg(short = 's', long, value_name = "DATE")]
    pub since: Option<String>,
    /// Last day to include (YYYY-MM-DD or YYYYMMDD)
    #[arg(short = 'u', long, value_name = "DATE")]
    pub until: Option<String>,
    /// IANA time zone for days and hours [default: the system's]
    #[arg(short = 'z', long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Oldest first (asc) or newest first (desc)
    #[arg(long, value_enum, default_value_t = OrderArg::Asc)]
    pub order: OrderArg,
    /// Only responses whose project path (cwd) contains this text, ignoring case
    #[arg(long, value_name = "SUBSTRING")]
    pub project: Option<String>,
    /// Only responses whose model name contains this text, ignoring case
    #[arg(long, value_name = "SUBSTRING")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum WeekdayArg {
    #[default]
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

#[derive(Debug, Args)]
pub struct WeeklyArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// The day weeks start on
    #[arg(long, value_enum, default_value_t = WeekdayArg::Monday, value_name = "DAY")]
    pub start_of_week: WeekdayArg,
}

#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// A session id, or the start of one: show that session response by response
    #[arg(value_name = "ID")]
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// How many days and sessions to show
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct TrendArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// How many days, ending today in the report's zone (or on --until)
    #[arg(long, default_value_t = 7, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: u32,
}

#[derive(Debug, Args)]
pub struct BlocksArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// Warn when the active block reaches 80% and 100% of this many tokens, used or
    /// projected; `max` takes the largest finished block
    #[arg(long, value_name = "N|max", value_parser = TokenLimit::parse)]
    pub token_limit: Option<TokenLimit>,
    /// Only the active block
    #[arg(long)]
    pub active: bool,
    /// Only blocks that started in the last 3 days (and the active one)
    #[arg(long)]
    pub recent: bool,
}

#[derive(Debug, Args, Default)]
pub struct DailyArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// One row per model under each day
    #[arg(short = 'b', long)]
    pub breakdown: bool,
}

#[derive(Debug, Args)]
#[command(after_help = PRICING_HELP)]
pub struct PricingArgs {
    #[command(subcommand)]
    pub command: Option<PricingCommand>,
    /// Print JSON (the table in force)
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Only the row that prices this model (a name as Claude Code writes it, or an alias)
    #[arg(short = 'm', long, value_name = "MODEL")]
    pub model: Option<String>,
}

const PRICING_HELP: &str = "With no subcommand: each model's rates in force today, its dated and \
banded rates, the table's version and date, and the models in the store without a price.";

#[derive(Debug, Subcommand)]
pub enum PricingCommand {
    /// Replace the table in force (kept in the store) and reprice history in the same transaction
    #[command(after_help = UPDATE_HELP)]
    Update {
        /// A table in ctm's format or LiteLLM's model_prices_and_context_window.json, as a
        /// file or an https:// URL (http:// only to a loopback address) [default: [pricing]
        /// update_url in the config, else LiteLLM's published file]
        #[arg(long, value_name = "PATH|URL")]
        from: Option<String>,
        /// Print JSON
        #[arg(short = 'j', long)]
        json: bool,
    },
    /// Go back to the table embedded in this ctm, and reprice history
    Reset {
        /// Print JSON
        #[arg(short = 'j', long)]
        json: bool,
    },
    /// Set ctm's cost of each session beside Claude Code's own figure (its cost-state lines, the statusline's cost); exit 1 when one differs by more than 1% and $0.01
    Check {
        /// Print JSON
        #[arg(short = 'j', long)]
        json: bool,
    },
}

const UPDATE_HELP: &str = "The format is told from the content. A LiteLLM file is merged under \
the embedded, curated table: it adds the models that table lacks and never replaces a curated row \
(it says where it differs). The new table is validated whole first: a bad file changes nothing \
(exit 2). Reports never touch the network.";

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Where the store is, its schema version and what it holds
    Status {
        #[arg(short = 'j', long)]
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
    /// Copy the store to FILE (safe while other ctm processes run)
    Backup {
        /// Where to write the copy (created with mode 0600)
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Drop stats-cache snapshots older than data_retention_days and export history older
    /// than 30 days; daily aggregates are kept, responses too unless --facts-older-than
    Prune {
        /// Say what would be dropped, and drop nothing
        #[arg(long)]
        dry_run: bool,
        /// Also delete responses from before the day DAYS days ago (in the store's
        /// zone); the daily, session and block rows before then are kept as history
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        facts_older_than: Option<u32>,
        /// Print JSON
        #[arg(short = 'j', long)]
        json: bool,
    },
    /// Replace the store with a backup, after checking it; the old store is kept beside it
    Restore {
        /// A store written by `ctm db backup`
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Every setting with its value, type and description
    List {
        #[arg(short = 'j', long)]
        json: bool,
    },
    /// One setting's value
    Get {
        #[arg(value_name = "KEY")]
        key: String,
    },
    /// Change a setting (checked against its type); setting timezone rebuilds the daily tables
    Set {
        #[arg(value_name = "KEY")]
        key: String,
        #[arg(value_name = "VALUE", allow_hyphen_values = true)]
        value: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ExportLevel {
    /// One row per billed response (usage metadata only)
    #[default]
    Response,
    /// The session report's rows
    Session,
    /// The daily report's rows
    Daily,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// File format
    #[arg(long, value_enum, required_unless_present = "history")]
    pub format: Option<ExportFormat>,
    /// What one row is
    #[arg(long, value_enum, default_value_t = ExportLevel::Response)]
    pub level: ExportLevel,
    /// The file to write
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        required_unless_present = "history"
    )]
    pub output: Option<PathBuf>,
    /// Replace FILE if it exists
    #[arg(long)]
    pub force: bool,
    /// First day to include (YYYY-MM-DD or YYYYMMDD)
    #[arg(short = 's', long, value_name = "DATE")]
    pub since: Option<String>,
    /// Last day to include (YYYY-MM-DD or YYYYMMDD)
    #[arg(short = 'u', long, value_name = "DATE")]
    pub until: Option<String>,
    /// IANA time zone for days and times [default: the system's]
    #[arg(short = 'z', long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// List every export attempt instead
    #[arg(long, conflicts_with_all = ["format", "output", "force"])]
    pub history: bool,
    /// With --history: print JSON
    #[arg(short = 'j', long, requires = "history")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Print JSON
    #[arg(short = 'j', long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on, IP:PORT or HOST:PORT (loopback unless a token is set;
    /// port 0 picks a free one)
    #[arg(long, default_value = ctm_web::DEFAULT_BIND, value_name = "ADDR", value_parser = parse_bind)]
    pub bind: std::net::SocketAddr,
    /// Require this token on every request (at least 16 characters)
    #[arg(
        long,
        env = "CTM_SERVE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Open the page in the default browser once listening
    #[arg(long)]
    pub open: bool,
    /// IANA time zone of requests without `tz` [default: the system's]
    #[arg(short = 'z', long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Projects with their own label in /metrics (by all-time cost); the rest are summed as project="other"
    #[arg(
        long,
        env = "CTM_METRICS_TOP_PROJECTS",
        value_name = "N",
        default_value_t = ctm_analytics::metrics::DEFAULT_TOP_PROJECTS,
        value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(0..=1000), usize::from)
    )]
    pub metrics_top_projects: usize,
    /// Serve the team database (a PostgreSQL URL; alone: url under [team], else
    /// CTM_TEAM_URL) instead of this machine's store, with a per-person panel and filter
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub team: Option<String>,
}

/// An address to listen on: `IP:PORT`, or `HOST:PORT` (`localhost:0`) resolved, its IPv4
/// address first.
fn parse_bind(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let bad = |why: String| {
        format!("{s:?} is not an address to listen on ({why}); use IP:PORT or HOST:PORT, e.g. 127.0.0.1:7878 or localhost:0")
    };
    let addrs: Vec<std::net::SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| bad("the name has no address".into()))
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON
    #[arg(short = 'j', long)]
    pub json: bool,
}
