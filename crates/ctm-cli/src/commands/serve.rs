//! `ctm serve`: the web dashboard (crate `ctm-web`), with the store following the data
//! roots while it runs.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use ctm_analytics::Zone;
use ctm_web::FollowOptions;

use super::fixed_now;
use crate::cli::ServeArgs;
use crate::context::{tilde, Context};
use crate::team_settings::TeamSettings;

pub fn run(ctx: &Context, args: &ServeArgs) -> Result<ExitCode> {
    let token = match &args.token {
        Some(t) => Some(t.clone()),
        None => config_token(ctx)?,
    };
    let mut cfg = ctm_web::ServeConfig {
        bind: args.bind,
        token,
        db_path: ctx.db_path.clone(),
        store_options: ctx.open_options(),
        default_zone: Zone::resolve(args.timezone.as_deref()).map_err(crate::errors::usage)?,
        fixed_now: fixed_now()?,
        follow: None,
        metrics_top_projects: args.metrics_top_projects,
        limits: limits(),
        data_roots: ctm_web::DataRoots {
            looked_in: ctx.roots.paths.iter().map(|p| tilde(p)).collect(),
            found: ctm_source::existing(&ctx.roots)
                .iter()
                .map(|p| tilde(p))
                .collect(),
        },
        team: match &args.team {
            None => None,
            Some(url) => {
                Some(TeamSettings::load(ctx)?.url(Some(url.as_str()).filter(|u| !u.is_empty()))?)
            }
        },
    };
    // Refused before anything else happens, in one line.
    ctm_web::auth::check_bind(cfg.bind, cfg.token.as_deref()).map_err(crate::errors::usage)?;
    // Over the team database, this machine's store is followed only when it has Claude
    // Code data (for the automatic push); the page reads the team database.
    let follows =
        !ctx.no_ingest && (cfg.team.is_none() || !ctm_source::existing(&ctx.roots).is_empty());
    // Brought up to date before listening, so the first page is complete; the follower
    // then keeps it so.
    let mut first_ingest = None;
    if follows {
        let mut store = ctx.open_store()?;
        first_ingest = Some(ctx.ingest_now(&mut store)?);
        let mut follow = FollowOptions::new(
            ctx.db_path.clone(),
            ctm_source::existing(&ctx.roots),
            ctx.prices()?,
        );
        follow.after_ingest = super::team::follow_hook(ctx);
        cfg.follow = Some(follow);
    }
    let cfg_team = cfg.team.as_ref().map(|t| t.shown().to_owned());
    let server = ctm_web::Server::start(cfg)?;
    if let Some(r) = &first_ingest {
        // /metrics has an ingest duration from the first scrape on.
        server.notifier().ingest_took(r.elapsed_ms);
    }
    let url = format!("http://{}/", server.addr());
    let mut out = crate::output::out();
    let note = if server.login_link().is_some() {
        "token required; Ctrl-C stops"
    } else {
        "Ctrl-C stops"
    };
    writeln!(out, "ctm serve: listening on {url} ({note})")?;
    if let Some(link) = server.login_link() {
        writeln!(
            out,
            "ctm serve: open this one-time link to sign the browser in: {link}"
        )?;
    }
    if let Some(team) = &cfg_team {
        writeln!(out, "ctm serve: serving the team database at {team}")?;
    }
    out.finish()?;
    if args.open {
        let target = server.login_link().unwrap_or(&url).to_owned();
        if let Err(e) = std::process::Command::new("xdg-open").arg(&target).spawn() {
            eprintln!("ctm: warning: could not open a browser ({e}); open {target} yourself");
        }
    }
    server.wait();
    Ok(ExitCode::SUCCESS)
}

/// `token` under `[serve]` in the config file, if any.
fn config_token(ctx: &Context) -> Result<Option<String>> {
    let text = match std::fs::read_to_string(&ctx.config_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", ctx.config_path.display()))
        }
    };
    let doc: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", ctx.config_path.display()))?;
    match doc.get("serve").and_then(|s| s.get("token")) {
        None => Ok(None),
        Some(toml::Value::String(t)) => Ok(Some(t.clone())),
        Some(_) => anyhow::bail!(
            "{}: [serve] token must be a string",
            ctx.config_path.display()
        ),
    }
}

/// The connection limits (`ctm_web::conn`). Debug builds (the tests') also read
/// `CTM_TEST_HEADER_TIMEOUT_MS`, so that a test of the timeout takes a second rather
/// than ten; release builds never do.
fn limits() -> ctm_web::conn::Limits {
    let mut limits = ctm_web::conn::Limits::default();
    if cfg!(debug_assertions) {
        let read = |name| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        if let Some(ms) = read("CTM_TEST_HEADER_TIMEOUT_MS") {
            limits.header_read = std::time::Duration::from_millis(ms);
        }
    }
    limits
}
