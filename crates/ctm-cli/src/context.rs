//! What every command needs: where things are, the store, the prices, and the ingest
//! that runs before each report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use ctm_ingest::{ingest, IngestReport};
use ctm_pricing::PriceTable;
use ctm_source::{RootCandidates, RootsFrom};
use ctm_store::{OpenOptions, OwnerRule, Store};

use crate::cli::Global;
use crate::progress::Bar;

/// Reads of this many new bytes or more get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 64 << 20;

pub struct Context {
    pub db_path: PathBuf,
    /// The rule the store must meet: private at the default location, not writable by
    /// others when `--db` or `CTM_DB` names it (see `ctm_store::ownership`).
    pub db_owner: OwnerRule,
    pub roots: RootCandidates,
    pub config_path: PathBuf,
    pub no_ingest: bool,
    /// How long to wait for another writer (`--busy-timeout`, `CTM_BUSY_TIMEOUT_MS`).
    pub busy_timeout: std::time::Duration,
    /// The store and the config file were named (`--db`/`CTM_DB`, `--config`/`CTM_CONFIG`),
    /// not the defaults: what `statusline --install` keeps in the command it installs.
    pub db_given: bool,
    pub config_given: bool,
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
        let (db_path, db_owner) = match &global.db {
            Some(p) => (p.clone(), OwnerRule::Named),
            None => (
                xdg("XDG_DATA_HOME", ".local/share")
                    .context(
                        "cannot find a place for the store: set HOME, XDG_DATA_HOME, CTM_DB or --db",
                    )?
                    .join("ctm/ctm.db"),
                OwnerRule::Private,
            ),
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
            db_owner,
            roots,
            config_path,
            no_ingest: global.no_ingest,
            busy_timeout: std::time::Duration::from_millis(global.busy_timeout_ms),
            db_given: global.db.is_some(),
            config_given: global.config.is_some(),
        })
    }

    pub fn open_store(&self) -> Result<Store> {
        self.open_store_with(&self.open_options())
    }

    /// How every command opens the store: the latest schema, this run's busy timeout,
    /// the ownership rule of where the path came from.
    pub fn open_options(&self) -> OpenOptions {
        OpenOptions {
            busy_timeout: self.busy_timeout,
            owner: self.db_owner,
            ..OpenOptions::default()
        }
    }

    /// A failure as it concerns this run's store: a raw SQLite failure becomes the
    /// store's one line naming the file and what to do.
    pub fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        crate::errors::explain_store(e, &self.db_path, self.busy_timeout)
    }

    pub fn open_store_with(&self, opts: &OpenOptions) -> Result<Store> {
        Ok(Store::open(&self.db_path, opts)?)
    }

    fn open_store_with_path(&self, path: &Path) -> Result<Store> {
        Ok(Store::open(path, &self.open_options())?)
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

    /// [`Context::no_data_message`] when there is no store either (none is created).
    pub fn no_data_message_without_store(&self) -> String {
        self.no_data_message().replace(
            "; the store's history is still shown.",
            "; no store was created.",
        )
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

    /// The store, brought up to date, for a report to read; with --no-ingest the store
    /// as it is, opened read-only (so a read-only store, or one in a folder where SQLite
    /// cannot create its side files, still answers). A report never creates the store as
    /// a side effect: with no store yet and nothing to ingest (no Claude Code data, or
    /// --no-ingest), it reads an empty store in a private temporary folder that is gone
    /// when the report ends. When many sessions of one model disagree with Claude Code's own
    /// cost, says so on stderr.
    pub fn report_store(&self) -> Result<ReportStore> {
        if !self.db_path.exists() {
            if self.no_ingest {
                eprintln!(
                    "ctm: there is no store at {} yet (--no-ingest reads the store as it is)",
                    tilde(&self.db_path)
                );
                return ReportStore::empty(self);
            }
            if ctm_source::existing(&self.roots).is_empty() {
                eprintln!("{}", self.no_data_message_without_store());
                return ReportStore::empty(self);
            }
        }
        let store = if self.no_ingest {
            self.open_store_with(&OpenOptions {
                read_only: true,
                ..self.open_options()
            })?
        } else {
            let mut store = self.open_store()?;
            self.ingest_now(&mut store)?;
            store
        };
        // A hint must never cost a report its answer.
        if let Ok(Some(h)) = ctm_analytics::drift_hint(&store) {
            eprintln!(
                "ctm: hint: {} of {} sessions that used {} cost more than 1% apart from Claude Code's own \
                 figure; `ctm pricing update` may bring newer prices (`ctm pricing check` shows each session)",
                h.disagreeing, h.sessions, h.model
            );
        }
        Ok(ReportStore {
            store,
            temporary: None,
        })
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

/// The store a report reads: the user's, or an empty one that is deleted with it.
pub struct ReportStore {
    store: Store,
    temporary: Option<PathBuf>,
}

impl ReportStore {
    fn empty(ctx: &Context) -> Result<ReportStore> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("ctm-empty-{}-{nanos}", std::process::id()));
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let store = ctx.open_store_with_path(&dir.join("empty.db"));
        match store {
            Ok(store) => Ok(ReportStore {
                store,
                temporary: Some(dir),
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }
}

impl std::ops::Deref for ReportStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl std::ops::DerefMut for ReportStore {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

impl Drop for ReportStore {
    fn drop(&mut self) {
        if let Some(dir) = &self.temporary {
            let _ = std::fs::remove_dir_all(dir);
        }
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
