//! `ctm live`: the monitor of the current 5-hour block (the screen and its loop are
//! `ctm-live`'s; this file turns the options into its inputs).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use ctm_analytics::{live_view, Plan, Zone};
use ctm_live::{LiveOptions, Screen};

use crate::cli::{LiveArgs, PlanArg};
use crate::context::Context;
use crate::output;

fn plan(arg: PlanArg) -> Plan {
    match arg {
        PlanArg::Pro => Plan::Pro,
        PlanArg::Max5 => Plan::Max5,
        PlanArg::Max20 => Plan::Max20,
        PlanArg::Custom => Plan::Custom,
    }
}

pub fn run(ctx: &Context, args: &LiveArgs) -> Result<ExitCode> {
    let zone = Zone::resolve(args.timezone.as_deref()).map_err(crate::errors::usage)?;
    let pinned_now_ms = match std::env::var("CTM_NOW") {
        Ok(s) if !s.is_empty() => Some(super::now()?.as_millisecond()),
        _ => None,
    };
    let once = args.once || args.json || !std::io::stdout().is_terminal();
    let opts = LiveOptions {
        db_path: ctx.db_path.clone(),
        roots: if once || ctx.no_ingest {
            Vec::new()
        } else {
            ctx.existing_roots()
        },
        prices: ctx.prices()?,
        zone,
        plan: plan(args.plan),
        refresh: Duration::from_secs(args.refresh),
        pinned_now_ms,
        no_ingest: ctx.no_ingest,
        after_ingest: if once || ctx.no_ingest {
            None
        } else {
            super::team::follow_hook(ctx)
        },
    };
    if !once {
        ctm_live::run(opts)?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = ctx.report_store()?;
    let view = live_view(&store, &opts.query(opts.plan))?;
    let mut out = output::out();
    if args.json {
        out.json(&view)?;
    } else {
        let screen = Screen {
            view: &view,
            status: "snapshot (ctm live --once); run ctm live in a terminal to follow",
            interactive: false,
        };
        write!(out, "{}", ctm_live::to_text(screen, output::width()))?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
