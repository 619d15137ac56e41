//! `ctm project`: usage per project path (the cwd Claude Code ran in).

use std::collections::{BTreeMap, BTreeSet};

use ctm_aggregate::{aggregate_projects, Id, Sums};
use ctm_store::Store;
use serde::Serialize;

use crate::query::{self, ReportQuery};
use crate::usage::Totals;
use crate::AnalyticsError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRow {
    /// The cwd of the responses; `unknown` when a line had none.
    pub project_path: String,
    pub sessions: u64,
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
    pub models_used: Vec<String>,
    /// RFC 3339 in the report's zone.
    pub first_activity: String,
    pub last_activity: String,
    pub unpriced_responses: u64,
    /// False when `unpricedResponses` is not 0: `totalCost` leaves them out.
    pub priced: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectReport {
    pub projects: Vec<ProjectRow>,
    pub totals: Totals,
    pub timezone: String,
    pub unpriced_models: Vec<String>,
}

/// One project's figures, projects of the same label merged: what a project row is made
/// of, wherever the sums come from (this store's rollup or the team database's).
#[derive(Debug, Clone, Default)]
pub struct ProjectFigures {
    pub sums: Sums,
    pub sessions: u64,
    pub models: BTreeSet<String>,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// Projects ordered by last activity, from the rollup rows of the query (in any zone,
/// with any filter): a session counts once per project however many rows it has.
pub fn project_report(store: &Store, q: &ReportQuery) -> Result<ProjectReport, AnalyticsError> {
    let rows = query::rows(store, q)?;
    let names = store.names(&[])?;
    let mut projects: BTreeMap<&str, (ProjectFigures, BTreeSet<Id>)> = BTreeMap::new();
    let mut unpriced_models = BTreeSet::new();
    for (id, a) in &aggregate_projects(&rows) {
        let (p, sessions) = projects.entry(names.project_label(*id)).or_insert_with(|| {
            let first = ProjectFigures {
                first_ms: a.first_ts,
                last_ms: a.last_ts,
                ..ProjectFigures::default()
            };
            (first, BTreeSet::new())
        });
        p.sums.add(&a.sums);
        sessions.extend(a.sessions.iter().copied());
        for (model, unpriced) in &a.models {
            let label = names.model_label(*model);
            p.models.insert(label.to_owned());
            if *unpriced > 0 {
                unpriced_models.insert(label.to_owned());
            }
        }
        p.first_ms = p.first_ms.min(a.first_ts);
        p.last_ms = p.last_ms.max(a.last_ts);
    }
    let projects = projects.into_iter().map(|(path, (mut p, sessions))| {
        p.sessions = sessions.len() as u64;
        (path.to_owned(), p)
    });
    Ok(project_report_of(projects, unpriced_models, q))
}

/// The project report from each project's figures (by path): rows ordered by last
/// activity, then path, arranged as the query asks, with their totals.
pub fn project_report_of(
    projects: impl IntoIterator<Item = (String, ProjectFigures)>,
    unpriced_models: BTreeSet<String>,
    q: &ReportQuery,
) -> ProjectReport {
    let mut all = Sums::default();
    let mut rows: Vec<(i64, ProjectRow)> = projects
        .into_iter()
        .map(|(project_path, p)| {
            all.add(&p.sums);
            let s = &p.sums;
            let row = ProjectRow {
                project_path,
                sessions: p.sessions,
                responses: s.responses,
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cache_creation_tokens: s.cache_creation_tokens(),
                cache_read_tokens: s.cache_read_tokens,
                total_tokens: s.total_tokens(),
                total_cost: s.cost_usd(),
                models_used: p.models.into_iter().collect(),
                first_activity: q.zone.rfc3339(p.first_ms),
                last_activity: q.zone.rfc3339(p.last_ms),
                unpriced_responses: s.unpriced_responses,
                priced: s.unpriced_responses == 0,
            };
            (p.last_ms, row)
        })
        .collect();
    rows.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.project_path.cmp(&b.1.project_path))
    });
    let mut projects: Vec<ProjectRow> = rows.into_iter().map(|(_, r)| r).collect();
    q.arrange(&mut projects);
    ProjectReport {
        projects,
        totals: Totals::from(&all),
        timezone: q.zone.label(),
        unpriced_models: unpriced_models.into_iter().collect(),
    }
}
