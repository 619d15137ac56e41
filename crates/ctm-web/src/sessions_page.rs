//! How `/api/sessions` sorts and pages its rows, the local store's and a team
//! database's alike (`api` and `team` both use it, so neither imports the other for it).

use ctm_analytics::{Order, SessionRow, Totals};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPage<R> {
    sessions: Vec<R>,
    /// Sessions matching the filters, on all pages.
    total: usize,
    offset: u64,
    limit: u64,
    sort: &'static str,
    order: &'static str,
    /// The sums of all matching sessions, not only this page.
    totals: Totals,
    timezone: String,
    unpriced_models: Vec<String>,
}

/// How `/api/sessions` sorts and pages.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub sort: &'static str,
    pub order: Order,
    pub limit: u64,
    pub offset: u64,
}

impl Paging {
    /// One page of these rows (each a session row, or one holding it).
    pub fn of<R>(
        self,
        mut rows: Vec<R>,
        row: impl Fn(&R) -> &SessionRow,
        totals: Totals,
        timezone: String,
        unpriced_models: Vec<String>,
    ) -> SessionPage<R> {
        let key = |a: &SessionRow, b: &SessionRow| match self.sort {
            "firstActivity" => a.first_ms.cmp(&b.first_ms),
            "cost" => a.total_cost.total_cmp(&b.total_cost),
            "tokens" => a.total_tokens.cmp(&b.total_tokens),
            "responses" => a.responses.cmp(&b.responses),
            "duration" => (a.last_ms - a.first_ms).cmp(&(b.last_ms - b.first_ms)),
            _ => a.last_ms.cmp(&b.last_ms),
        };
        // Stable: ties keep the report's order (last activity, then id).
        rows.sort_by(|a, b| match self.order {
            Order::Asc => key(row(a), row(b)),
            Order::Desc => key(row(b), row(a)),
        });
        let total = rows.len();
        let sessions: Vec<R> = rows
            .into_iter()
            .skip(self.offset as usize)
            .take(self.limit as usize)
            .collect();
        SessionPage {
            sessions,
            total,
            offset: self.offset,
            limit: self.limit,
            sort: self.sort,
            order: match self.order {
                Order::Asc => "asc",
                Order::Desc => "desc",
            },
            totals,
            timezone,
            unpriced_models,
        }
    }
}
