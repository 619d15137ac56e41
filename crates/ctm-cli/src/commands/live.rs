//! `ctm live`: the monitor of the current 5-hour block (the screen is `ctm-live`'s).

use std::process::ExitCode;

use anyhow::Result;
use ctm_analytics::{live_view, LiveQuery, Plan, Zone};
use jiff::civil::Weekday;

use crate::cli::{LiveArgs, PlanArg};
use crate::context::Context;
use crate::output;

/// Sessions listed under the block.
const RECENT_SESSIONS: usize = 5;

pub fn plan(arg: PlanArg) -> Plan {
    match arg {
        PlanArg::Pro => Plan::Pro,
        PlanArg::Max5 => Plan::Max5,
        PlanArg::Max20 => Plan::Max20,
        PlanArg::Custom => Plan::Custom,
    }
}

pub fn run(ctx: &Context, args: &LiveArgs) -> Result<ExitCode> {
    let zone = Zone::resolve(args.timezone.as_deref()).map_err(anyhow::Error::msg)?;
    let store = ctx.report_store()?;
    let q = LiveQuery {
        zone,
        now_ms: super::now()?.as_millisecond(),
        plan: plan(args.plan),
        recent_sessions: RECENT_SESSIONS,
        start_of_week: Weekday::Monday,
    };
    let view = live_view(store.conn(), &q)?;
    output::print_json(&view)?;
    Ok(ExitCode::SUCCESS)
}
