//! One module per subcommand, each with its own `run`.

mod daily;
mod db;
mod ingest;
mod pricing;

use std::process::ExitCode;

use anyhow::{bail, Result};
use ctm_analytics::{Order, Zone};
use jiff::civil::Date;

use crate::cli::{Cli, Command, DailyArgs, OrderArg, ReportArgs};
use crate::context::Context;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Context::new(&cli.global)?;
    match cli.command {
        None => daily::run(&ctx, &DailyArgs::default()),
        Some(Command::Daily(args)) => daily::run(&ctx, &args),
        Some(Command::Ingest(args)) => ingest::run(&ctx, &args),
        Some(Command::Pricing(args)) => pricing::run(&ctx, &args),
        Some(Command::Db(args)) => db::run(&ctx, &args.command),
    }
}

/// The report options every report shares, checked.
pub struct ReportOptions {
    pub zone: Zone,
    pub since: Option<Date>,
    pub until: Option<Date>,
    pub order: Order,
}

impl ReportOptions {
    pub fn from_args(a: &ReportArgs) -> Result<ReportOptions> {
        let zone = Zone::resolve(a.timezone.as_deref()).map_err(anyhow::Error::msg)?;
        let since = a
            .since
            .as_deref()
            .map(|s| parse_date("--since", s))
            .transpose()?;
        let until = a
            .until
            .as_deref()
            .map(|s| parse_date("--until", s))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until) {
            if s > u {
                bail!("--since {s} is after --until {u}");
            }
        }
        Ok(ReportOptions {
            zone,
            since,
            until,
            order: match a.order {
                OrderArg::Asc => Order::Asc,
                OrderArg::Desc => Order::Desc,
            },
        })
    }
}

/// YYYY-MM-DD or YYYYMMDD (ccusage's form).
fn parse_date(flag: &str, s: &str) -> Result<Date> {
    let normalized = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..])
    } else {
        s.to_owned()
    };
    normalized
        .parse()
        .map_err(|_| anyhow::anyhow!("{flag} {s:?} is not a date; use YYYY-MM-DD or YYYYMMDD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_both_forms() {
        assert_eq!(
            parse_date("--since", "2026-02-10").unwrap().to_string(),
            "2026-02-10"
        );
        assert_eq!(
            parse_date("--since", "20260210").unwrap().to_string(),
            "2026-02-10"
        );
        assert!(parse_date("--since", "2026-13-01").is_err());
        assert!(parse_date("--since", "yesterday")
            .unwrap_err()
            .to_string()
            .contains("YYYY-MM-DD"));
    }
}
