//! Where the team database is and who this machine is there: flags, then `[team]` in the
//! config file, then the environment (`CTM_TEAM_URL`), then the defaults (the OS user,
//! the host name).
//!
//! ```toml
//! [team]
//! url = "postgresql://ctm@db.example.com/team?sslmode=verify-full"
//! user = "alice"                 # default: the OS user
//! machine = "laptop"             # default: the host name
//! hash_project_paths = true      # send project paths as salted hashes
//! project_path_salt = "..."      # the team's shared secret for those hashes
//! auto_push = true               # push after `ctm ingest`, `live` and `serve` ingests (default)
//! ```

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use ctm_team::connection::{host_name, os_user};
use ctm_team::{ProjectPaths, Pusher, TeamUrl};

use crate::context::Context;

/// The keys `[team]` may hold.
const KEYS: &[&str] = &[
    "url",
    "user",
    "machine",
    "hash_project_paths",
    "project_path_salt",
    "auto_push",
];

/// The environment variable that names the team database.
pub const URL_ENV: &str = "CTM_TEAM_URL";

#[derive(Debug, Default)]
pub struct TeamSettings {
    url: Option<String>,
    user: Option<String>,
    machine: Option<String>,
    hash_project_paths: bool,
    project_path_salt: Option<String>,
    auto_push: bool,
}

impl TeamSettings {
    /// `[team]` from the config file and `CTM_TEAM_URL`.
    pub fn load(ctx: &Context) -> Result<TeamSettings> {
        let mut s = TeamSettings {
            auto_push: true,
            ..TeamSettings::default()
        };
        if let Some(team) = read_team_table(&ctx.config_path)? {
            let path = ctx.config_path.display();
            for key in team.keys() {
                if !KEYS.contains(&key.as_str()) {
                    bail!(
                        "{path}: [team] has no setting {key:?}; the settings are {}",
                        KEYS.join(", ")
                    );
                }
            }
            let text = |key: &str| -> Result<Option<String>> {
                match team.get(key) {
                    None => Ok(None),
                    Some(toml::Value::String(v)) => Ok(Some(v.clone())),
                    Some(_) => bail!("{path}: [team] {key} must be a string"),
                }
            };
            let flag = |key: &str, default: bool| -> Result<bool> {
                match team.get(key) {
                    None => Ok(default),
                    Some(toml::Value::Boolean(b)) => Ok(*b),
                    Some(_) => bail!("{path}: [team] {key} must be true or false"),
                }
            };
            s.url = text("url")?;
            s.user = text("user")?;
            s.machine = text("machine")?;
            s.project_path_salt = text("project_path_salt")?;
            s.hash_project_paths = flag("hash_project_paths", false)?;
            s.auto_push = flag("auto_push", true)?;
            if s.url.as_deref().is_some_and(has_password) {
                warn_if_readable(&ctx.config_path);
            }
        }
        if s.url.is_none() {
            s.url = std::env::var(URL_ENV).ok().filter(|u| !u.is_empty());
        }
        Ok(s)
    }

    /// The team database's URL: `--url`, else the config, else `CTM_TEAM_URL`. None, or
    /// one ctm cannot use, is a usage error (exit 2): no data makes it work.
    pub fn url(&self, flag: Option<&str>) -> Result<TeamUrl> {
        let raw = flag
            .map(str::to_owned)
            .or_else(|| self.url.clone())
            .ok_or_else(|| {
                crate::errors::usage(
                    "no team database: pass --url postgresql://USER@HOST/DATABASE, set url under \
                     [team] in the config file, or set CTM_TEAM_URL",
                )
            })?;
        TeamUrl::parse(&raw).map_err(|e| crate::errors::usage(e.to_string()))
    }

    /// Whether ingests push by themselves: a team database is named and `auto_push` is
    /// not turned off.
    pub fn pushes_automatically(&self) -> bool {
        self.auto_push && self.url.is_some()
    }

    /// Who pushes: `--user`/`--machine`, else the config, else the OS user and host name.
    pub fn pusher(&self, user: Option<&str>, machine: Option<&str>) -> Result<Pusher> {
        let person = user
            .map(str::to_owned)
            .or_else(|| self.user.clone())
            .unwrap_or_else(os_user);
        let machine = machine
            .map(str::to_owned)
            .or_else(|| self.machine.clone())
            .unwrap_or_else(host_name);
        for (what, v) in [("user", &person), ("machine", &machine)] {
            if v.trim().is_empty() || v.chars().any(char::is_control) {
                bail!("the team {what} name {v:?} must be a non-empty name without control characters");
            }
        }
        Ok(Pusher { person, machine })
    }

    /// How project paths are sent.
    pub fn project_paths(&self, config: &Path) -> Result<ProjectPaths> {
        if !self.hash_project_paths {
            return Ok(ProjectPaths::Plain);
        }
        match &self.project_path_salt {
            Some(salt) if salt.len() >= 8 => Ok(ProjectPaths::Hashed { salt: salt.clone() }),
            _ => bail!(
                "{}: [team] hash_project_paths needs project_path_salt, a secret of at least 8 \
                 characters the team shares (equal paths hash alike only under the same salt)",
                config.display()
            ),
        }
    }
}

fn read_team_table(path: &Path) -> Result<Option<toml::Table>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let doc: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    match doc.get("team") {
        None => Ok(None),
        Some(toml::Value::Table(t)) => Ok(Some(t.clone())),
        Some(_) => bail!("{}: [team] must be a table", path.display()),
    }
}

/// Whether a PostgreSQL URL carries a password (`user:password@`).
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// A config file holding a password should be readable by its owner only.
fn warn_if_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "ctm: warning: {} holds the team database's password and others can read it; \
                 chmod 600 it, or keep the password in ~/.pgpass or PGPASSWORD",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_noticed() {
        assert!(has_password("postgresql://u:p@h/db"));
        assert!(!has_password("postgresql://u@h/db"));
        assert!(!has_password("postgresql://h/db?user=a:b"));
    }
}
