//! What every command needs: where things are, the store, the prices, and the ingest
//! that runs before each report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use ctm_ingest::{ingest, IngestReport};
use ctm_pricing::PriceTable;
use ctm_source::{RootCandidates, RootsFrom};
use ctm_store::{OpenOptions, Store};

use crate::cli::Global;
use crate::progress::Bar;

/// Reads of this many new bytes or more get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 64 << 20;

pub struct Context {
    pub db_path: PathBuf,
    pub roots: RootCandidates,
    pub config_path: PathBuf,
    pub no_ingest: bool,
    /// How long to wait for another writer (`--busy-timeout`, `CTM_BUSY_TIMEOUT_MS`).
    pub busy_timeout: std::time::Duration,
}

impl Context {
    pub fn new(global: &Global) -> Result<Context> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let xdg = |var: &str, fallback: &str| -> Option<PathBuf> {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| home.as_ref().map(|h| h.join(fallback)))
        };
        let db_path = match &global.db {
            Some(p) => p.clone(),
            None => xdg("XDG_DATA_HOME", ".local/share")
                .context(
                    "cannot find a place for the store: set HOME, XDG_DATA_HOME, CTM_DB or --db",
                )?
                .join("ctm/ctm.db"),
        };
        let config_path = match &global.config {
            Some(p) => p.clone(),
            None => xdg("XDG_CONFIG_HOME", ".config")
                .unwrap_or_default()
                .join("ctm/config.toml"),
        };
        let claude_env = std::env::var("CLAUDE_CONFIG_DIR").ok();
        let xdg_config = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
        let roots = ctm_source::candidates(
            &global.claude_dirs,
            claude_env.as_deref(),
            home.as_deref(),
            xdg_config.as_deref(),
        );
        Ok(Context {
            db_path,
            roots,
            config_path,
            no_ingest: global.no_ingest,
            busy_timeout: std::time::Duration::from_millis(global.busy_timeout_ms),
        })
    }

    pub fn open_store(&self) -> Result<Store> {
        self.open_store_with(&self.open_options())
    }

    /// How every command opens the store: the latest schema, this run's busy timeout.
    pub fn open_options(&self) -> OpenOptions {
        OpenOptions {
            busy_timeout: self.busy_timeout,
            ..OpenOptions::default()
        }
    }

    pub fn open_store_with(&self, opts: &OpenOptions) -> Result<Store> {
        Ok(Store::open(&self.db_path, opts)?)
    }

    /// The config file's text, if there is one.
    fn config_text(&self) -> Result<Option<String>> {
        match std::fs::read_to_string(&self.config_path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.config_path.display())),
        }
    }

    /// The embedded price table with the user's overrides applied: what an ingest is
    /// handed (it switches to the table `ctm pricing update` kept in the store, keeping
    /// the overrides; see [`Context::prices_in_force`]).
    pub fn prices(&self) -> Result<PriceTable> {
        let table = PriceTable::embedded();
        match self.config_text()? {
            Some(text) => table
                .with_overrides(&text)
                .with_context(|| format!("{}: price overrides", self.config_path.display())),
            None => Ok(table),
        }
    }

    /// The table in force in this store: the one `ctm pricing update` kept, else the
    /// embedded one, with the user's overrides.
    pub fn prices_in_force(&self, conn: &rusqlite::Connection) -> Result<PriceTable> {
        Ok(ctm_ingest::prices_in_force(conn, &self.prices()?)?.into_owned())
    }

    /// Where `ctm pricing update` reads with no `--from`.
    pub fn update_url(&self) -> Result<String> {
        let configured = match self.config_text()? {
            Some(text) => ctm_pricing::config_update_url(&text)
                .with_context(|| format!("{}: [pricing] update_url", self.config_path.display()))?,
            None => None,
        };
        Ok(configured.unwrap_or_else(|| crate::fetch::DEFAULT_UPDATE_URL.to_owned()))
    }

    /// The data roots that exist; says where it looked when there are none.
    pub fn existing_roots(&self) -> Vec<PathBuf> {
        let roots = ctm_source::existing(&self.roots);
        if roots.is_empty() {
            eprintln!("{}", self.no_data_message());
        }
        roots
    }

    pub fn no_data_message(&self) -> String {
        let looked: Vec<String> = self.roots.paths.iter().map(|p| tilde(p)).collect();
        let from = match self.roots.from {
            RootsFrom::Flags => "--claude-dir",
            RootsFrom::Env => "CLAUDE_CONFIG_DIR",
            RootsFrom::Defaults => "the default locations",
        };
        format!(
            "ctm: no Claude Code data found (looked in {} from {from}, for a projects/ folder). \
             Point ctm at your data with --claude-dir DIR or CLAUDE_CONFIG_DIR=DIR; the store's history is still shown.",
            if looked.is_empty() { "nothing".to_owned() } else { looked.join(", ") }
        )
    }

    /// The store, brought up to date (unless --no-ingest), for a report to read. When
    /// many sessions of one model disagree with Claude Code's own cost, says so on stderr.
    pub fn report_store(&self) -> Result<Store> {
        let mut store = self.open_store()?;
        self.ingest(&mut store)?;
        // A hint must never cost a report its answer.
        if let Ok(Some(h)) = ctm_analytics::drift_hint(store.conn()) {
            eprintln!(
                "ctm: hint: {} of {} sessions that used {} cost more than 1% apart from Claude Code's own \
                 figure; `ctm pricing update` may bring newer prices (`ctm pricing check` shows each session)",
                h.disagreeing, h.sessions, h.model
            );
        }
        Ok(store)
    }

    /// Brings the store up to date before a report, unless --no-ingest.
    pub fn ingest(&self, store: &mut Store) -> Result<Option<IngestReport>> {
        if self.no_ingest {
            return Ok(None);
        }
        self.ingest_now(store).map(Some)
    }

    /// Brings the store up to date, with a progress bar for long reads on a terminal.
    pub fn ingest_now(&self, store: &mut Store) -> Result<IngestReport> {
        let roots = self.existing_roots();
        let prices = self.prices()?;
        let bar = std::io::stderr()
            .is_terminal()
            .then(|| Bar::new(PROGRESS_THRESHOLD));
        let report = ingest(
            store,
            &prices,
            &roots,
            bar.as_ref().map(|b| b as &dyn ctm_ingest::Progress),
        )?;
        for p in &report.problems {
            eprintln!("ctm: warning: could not read {}: {}", p.path, p.reason);
        }
        Ok(report)
    }
}

/// A path with the home directory written as `~`.
pub fn tilde(p: &Path) -> String {
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if p.starts_with(&home) && home.as_os_str().len() > 1 => {
            format!("~/{}", p.strip_prefix(&home).unwrap_or(p).display())
        }
        _ => p.display().to_string(),
    }
}
