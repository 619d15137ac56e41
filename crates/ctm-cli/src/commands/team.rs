//! `ctm team`: the team database (crate `ctm-team`): init, push, forget, check, and the
//! automatic push of `ctm ingest`, `ctm live` and `ctm serve`. The team reports are in
//! `team_reports.rs`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use ctm_ingest::IngestReport;
use ctm_store::Store;
use ctm_team::{AutoPush, PushOptions, PushReport, TeamUrl};

use super::team_reports;
use crate::cli::{TeamArgs, TeamCommand, TeamForgetArgs, TeamPushArgs};
use crate::context::{tilde, Context};
use crate::output::{self, int, print_json};
use crate::progress::PushBar;
use crate::team_settings::TeamSettings;

/// Pushes of at least this many responses get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 5_000;

pub fn run(ctx: &Context, args: &TeamArgs) -> Result<ExitCode> {
    let settings = TeamSettings::load(ctx)?;
    let url = || settings.url(args.url.as_deref());
    match &args.command {
        TeamCommand::Init => init(&url()?),
        TeamCommand::Push(p) => push(ctx, &settings, &url()?, p),
        TeamCommand::Forget(f) => forget(&url()?, f),
        TeamCommand::Check => check(&url()?),
        TeamCommand::Daily(a) => team_reports::daily(ctx, &url()?, a),
        TeamCommand::Weekly(a) => team_reports::weekly(ctx, &url()?, a),
        TeamCommand::Monthly(a) => team_reports::monthly(ctx, &url()?, a),
        TeamCommand::Users(a) => team_reports::users(ctx, &url()?, a),
        TeamCommand::Projects(a) => team_reports::projects(ctx, &url()?, a),
        TeamCommand::Models(a) => team_reports::models(ctx, &url()?, a),
        TeamCommand::Sessions(a) => team_reports::sessions(ctx, &url()?, a),
    }
}

fn init(url: &TeamUrl) -> Result<ExitCode> {
    let mut client = url.connect()?;
    let m = ctm_team::schema::ensure(&mut client, url)?;
    let mut out = output::out();
    if m.applied.is_empty() {
        writeln!(
            out,
            "The team database at {} is ready: schema version {}.",
            url.shown(),
            m.info.version
        )?;
    } else {
        for (v, name) in &m.applied {
            writeln!(out, "applied migration {v}: {name}")?;
        }
        writeln!(
            out,
            "The team database at {} is at schema version {} (was {}).",
            url.shown(),
            m.info.version,
            m.from
        )?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

fn push(
    ctx: &Context,
    settings: &TeamSettings,
    url: &TeamUrl,
    args: &TeamPushArgs,
) -> Result<ExitCode> {
    let mut opts = PushOptions::new(
        settings.pusher(args.user.as_deref(), args.machine.as_deref())?,
        settings.project_paths(&ctx.config_path)?,
    );
    opts.batch_size = args.batch_size as usize;
    let mut store = ctx.open_store()?;
    // Like every report: the store first brought up to date (unless --no-ingest).
    ctx.ingest(&mut store)?;
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| PushBar::new(PROGRESS_THRESHOLD));
    let report = ctm_team::push(
        &mut store,
        url,
        &opts,
        bar.as_ref().map(|b| b as &dyn ctm_team::PushProgress),
    )?;
    if args.json {
        print_json(&report)?;
    } else {
        print_push(&report, &ctx.db_path)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_push(r: &PushReport, db: &std::path::Path) -> Result<()> {
    let mut out = output::out();
    if !r.schema_migrated.is_empty() {
        writeln!(
            out,
            "Created or migrated ctm's schema in {} (migrations {}).",
            r.destination,
            r.schema_migrated
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    let who = format!("{}@{}", r.user, r.machine);
    if r.sent == 0 {
        writeln!(
            out,
            "Nothing to push: {} has every response of {} ({who}).",
            r.destination,
            tilde(db)
        )?;
        out.finish()?;
        return Ok(());
    }
    writeln!(
        out,
        "Pushed {} {}{} to {} as {who} in {:.2} s: {} new, {} changed, {} it already had.",
        int(r.sent),
        if r.sent == 1 { "response" } else { "responses" },
        if r.full { " (the whole history)" } else { "" },
        r.destination,
        r.elapsed_ms as f64 / 1000.0,
        int(r.added),
        int(r.changed),
        int(r.unchanged)
    )?;
    out.finish()?;
    Ok(())
}

fn forget(url: &TeamUrl, args: &TeamForgetArgs) -> Result<ExitCode> {
    let r = ctm_team::forget(url, &args.user, args.machine.as_deref())?;
    if args.json {
        print_json(&r)?;
        return Ok(ExitCode::SUCCESS);
    }
    output::say(format_args!(
        "Removed {} from {}: machines {}; {} responses removed, {} kept (other machines sent them too).",
        r.user,
        url.shown(),
        r.machines.join(", "),
        int(r.removed),
        int(r.kept)
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn check(url: &TeamUrl) -> Result<ExitCode> {
    let mut client = url.connect()?;
    ctm_team::schema::check_readable(&mut client, url)?;
    let problems =
        ctm_team::rollups::check(&mut client).map_err(|e| ctm_team::TeamError::Database {
            shown: url.shown().to_owned(),
            reason: ctm_team::error::describe(&e),
        })?;
    let mut out = output::out();
    if problems.is_empty() {
        out.line(format_args!(
            "The rollups of {} equal its responses.",
            url.shown()
        ))?;
        out.finish()?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        out.line(p)?;
    }
    out.finish()?;
    Ok(ExitCode::from(1))
}

/// After `ctm ingest`: with a team database configured, push what the ingest changed, or
/// what an earlier push left unsent (known from the local mark, without connecting). A
/// failure is one warning line; the ingest still succeeded, and the next push sends the
/// same responses.
pub fn push_after_ingest(
    ctx: &Context,
    store: &mut Store,
    report: &IngestReport,
) -> Option<PushReport> {
    let settings = match TeamSettings::load(ctx) {
        Ok(s) if s.pushes_automatically() => s,
        Ok(_) => return None,
        Err(e) => {
            eprintln!("ctm: warning: team push skipped: {e:#}");
            return None;
        }
    };
    let pushed = (|| -> Result<Option<PushReport>> {
        // The answer is out; a server that does not answer must not keep the command long.
        let url = settings.url(None)?.quick();
        let opts = PushOptions::new(
            settings.pusher(None, None)?,
            settings.project_paths(&ctx.config_path)?,
        );
        if !changed(report) && ctm_team::pending(store, &url, &opts)? == Some(0) {
            return Ok(None);
        }
        Ok(Some(ctm_team::push(store, &url, &opts, None)?))
    })();
    match pushed {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "ctm: warning: team push failed, it will be retried after the next ingest: {}",
                format!("{e:#}").replace('\n', " ")
            );
            None
        }
    }
}

/// For `ctm live` and `ctm serve`: with a team database configured, the follower's hook
/// that asks a pusher on its own thread to push after an ingest that changed responses
/// (the hook owns the pusher, which stops with the follower).
pub fn follow_hook(ctx: &Context) -> Option<ctm_follow::AfterIngest> {
    // A team setting ctm cannot use never stops the monitor or the dashboard: one
    // warning, and no automatic push.
    let ready = (|| -> Result<Option<(TeamUrl, PushOptions)>> {
        let settings = TeamSettings::load(ctx)?;
        if !settings.pushes_automatically() {
            return Ok(None);
        }
        let url = settings.url(None)?;
        let opts = PushOptions::new(
            settings.pusher(None, None)?,
            settings.project_paths(&ctx.config_path)?,
        );
        Ok(Some((url, opts)))
    })();
    let (url, opts) = match ready {
        Ok(Some(ready)) => ready,
        Ok(None) => return None,
        Err(e) => {
            eprintln!("ctm: warning: no automatic team push: {e:#}");
            return None;
        }
    };
    let auto = AutoPush::start_with(
        ctx.db_path.clone(),
        ctx.open_options(),
        url,
        opts,
        push_interval(),
        |_| {},
    );
    Some(ctm_follow::AfterIngest(Arc::new(
        move |r: &IngestReport| {
            if changed(r) {
                auto.request();
            }
            auto.take_warnings()
        },
    )))
}

/// How far apart automatic pushes are: [`AutoPush::MIN_INTERVAL`]; debug builds (the
/// tests') read `CTM_TEST_PUSH_INTERVAL_MS`, so a test need not wait ten seconds.
fn push_interval() -> std::time::Duration {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("CTM_TEST_PUSH_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return std::time::Duration::from_millis(ms);
    }
    AutoPush::MIN_INTERVAL
}

/// Whether an ingest changed responses (what the team database would want).
pub fn changed(r: &IngestReport) -> bool {
    !r.unchanged && (r.responses_added > 0 || r.responses_updated > 0 || r.sidechain_replays > 0)
}
