//! The analytics stage: reports computed from the store, never from Claude Code's files.
//!
//! Each report is a plain value (serialisable with ccusage's field names where ccusage
//! has the same report) that every front end renders its own way.

pub mod daily;
pub mod zone;

pub use daily::{daily_report, DailyQuery, DailyReport, DailyRow, ModelBreakdown, Totals};
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
}

impl From<rusqlite::Error> for AnalyticsError {
    fn from(e: rusqlite::Error) -> Self {
        AnalyticsError::Store(e.into())
    }
}
