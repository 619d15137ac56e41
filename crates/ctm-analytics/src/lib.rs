//! The analytics stage: reports computed from the store, never from Claude Code's files.
//!
//! Each report is a plain value (serialisable with ccusage's field names where ccusage
//! has the same report) that every front end renders its own way. Every report takes a
//! [`ReportQuery`]: its zone groups days and hours, `--since`/`--until` pick local days,
//! and a [`Filter`] keeps the responses of some projects or models. Reports read the
//! store only through its typed reads (`ctm_store::Store`'s, in `reads.rs`): rollup rows
//! for any zone, range and filter, grouped with `ctm_aggregate`; unfiltered reports in
//! the store's zone read the materialised daily tables (and unfiltered session lists
//! `claude_sessions`, blocks `usage_blocks`) where they hold what the facts give.

pub mod blocks;
pub mod burn;
pub mod cache;
pub mod daily;
mod days;
pub mod export;
pub mod hourly;
pub mod live;
pub mod metrics;
pub mod models;
pub mod official;
pub mod periods;
pub mod pricing;
pub mod projects;
pub mod query;
pub mod reconcile;
pub mod sessions;
pub mod summary;
pub mod text;
pub mod top;
pub mod trend;
pub mod usage;
pub mod zone;

pub use blocks::{
    active_block, blocks_report, ActiveBlock, BlockRow, BlocksQuery, BlocksReport, TokenLimit,
};
pub use cache::{cache_report, CacheReport};
pub use ctm_aggregate::Filter;
pub use daily::{daily_report, daily_report_of, DailyQuery, DailyReport, DailyRow};
pub use days::ModelDay;
pub use hourly::{hourly_report, HourlyReport};
pub use live::{live_view, LiveQuery, LiveView, Plan};
pub use metrics::{metrics, Metrics, MetricsQuery};
pub use models::{model_report, model_report_of, ModelReport};
pub use official::{official_limits, OfficialLimit, OfficialLimits};
pub use periods::{
    monthly_report, monthly_report_of, weekly_report, weekly_report_of, MonthlyReport, WeeklyReport,
};
pub use projects::{project_report, project_report_of, ProjectFigures, ProjectReport};
pub use query::{parse_date, QueryText, ReportQuery};
pub use reconcile::{drift_hint, pricing_check, DriftHint, PricingCheck, SessionCheck};
pub use sessions::{
    session_detail, session_now, session_report, session_row_of, SessionDetail, SessionNow,
    SessionReport, SessionRow,
};
pub use summary::{summary_report, PeriodTotals, SummaryReport};
pub use top::{top_report, TopReport};
pub use trend::{trend_report, TrendReport};
pub use usage::{ModelBreakdown, Totals, Usage};
pub use zone::Zone;

/// Oldest first or newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error(transparent)]
    Store(#[from] ctm_store::StoreError),
    #[error("{0}")]
    Invalid(String),
    /// The thing asked for (a session) is not in the store.
    #[error("{0}")]
    NotFound(String),
}
