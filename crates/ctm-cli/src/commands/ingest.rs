//! `ctm ingest`: bring the store up to date and say what happened.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use ctm_ingest::IngestReport;

use crate::cli::IngestArgs;
use crate::context::{tilde, Context};
use crate::output::{self, int, print_json};

pub fn run(ctx: &Context, args: &IngestArgs) -> Result<ExitCode> {
    let mut store = ctx.open_store()?;
    // `ctm ingest` ingests even under --no-ingest: it is the command that does it.
    let report = ctx.ingest_now(&mut store)?;
    if args.json {
        print_json(&report)?;
    } else {
        print_text(&report)?;
    }
    // The local answer is out; then, with a team database configured, the push.
    if let Some(pushed) = super::team::push_after_ingest(ctx, &mut store, &report) {
        if !args.json && pushed.sent > 0 {
            output::say(format_args!(
                "  team:       {} responses pushed to {} as {}@{}",
                int(pushed.sent),
                pushed.destination,
                pushed.user,
                pushed.machine
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(r: &IngestReport) -> Result<()> {
    let mut out = output::out();
    let roots: Vec<String> = r.roots.iter().map(|p| tilde(p)).collect();
    writeln!(
        out,
        "Ingested {} in {:.2} s{}",
        if roots.is_empty() {
            "nothing (no data roots)".to_owned()
        } else {
            roots.join(", ")
        },
        r.elapsed_ms as f64 / 1000.0,
        if r.unchanged { ": nothing changed" } else { "" }
    )?;
    writeln!(
        out,
        "  files:      {} seen, {} read ({} restarted from the start, {} gone from disk, responses kept)",
        int(r.files_seen),
        int(r.files_read),
        int(r.files_restarted),
        int(r.files_missing)
    )?;
    writeln!(
        out,
        "  new bytes:  {} in {} lines ({} with usage)",
        int(r.bytes_read),
        int(r.lines_read),
        int(r.usage_lines)
    )?;
    writeln!(
        out,
        "  responses:  {} added, {} updated by a later line, {} sidechain replays not billed",
        int(r.responses_added),
        int(r.responses_updated),
        int(r.sidechain_replays)
    )?;
    let skipped: Vec<String> = r
        .skipped
        .iter()
        .map(|(k, v)| format!("{k} {}", int(*v)))
        .collect();
    writeln!(
        out,
        "  skipped:    {}",
        if skipped.is_empty() {
            "none".to_owned()
        } else {
            format!("{} lines ({})", int(r.skipped_total()), skipped.join(", "))
        }
    )?;
    if r.responses_before_horizon > 0 {
        writeln!(
            out,
            "  pruned:     {} responses older than the prune horizon not added back (their days are kept history)",
            int(r.responses_before_horizon)
        )?;
    }
    if r.synthetic_lines > 0 {
        writeln!(
            out,
            "  synthetic:  {} API-error lines (not responses), {} new limit-reset notices",
            int(r.synthetic_lines),
            int(r.limit_notices_added)
        )?;
    }
    if !r.unchanged {
        let unpriced: Vec<String> = r
            .unpriced_models
            .iter()
            .map(|(m, n)| format!("{m} ({} responses)", int(*n)))
            .collect();
        writeln!(
            out,
            "  unpriced:   {}",
            if unpriced.is_empty() {
                "none".to_owned()
            } else {
                format!(
                    "{}: tokens counted, cost unknown (add prices in the config file)",
                    unpriced.join(", ")
                )
            }
        )?;
    }
    if !r.problems.is_empty() {
        writeln!(
            out,
            "  unreadable: {} paths (see warnings above)",
            r.problems.len()
        )?;
    }
    out.finish()?;
    Ok(())
}
