//! `ctm project`: usage per project path (the cwd Claude Code ran in).

use std::collections::{BTreeMap, BTreeSet};

use ctm_store::derive::{self, Sums};
use rusqlite::Connection;
use serde::Serialize;

use crate::query::{self, ReportQuery};
use crate::usage::{sum, unpriced_in_facts, Totals};
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectReport {
    pub projects: Vec<ProjectRow>,
    pub totals: Totals,
    pub timezone: String,
    pub unpriced_models: Vec<String>,
}

#[derive(Default)]
struct Project {
    sums: Sums,
    sessions: BTreeSet<String>,
    models: BTreeSet<String>,
    first_ms: i64,
    last_ms: i64,
}

/// Projects ordered by last activity.
pub fn project_report(conn: &Connection, q: &ReportQuery) -> Result<ProjectReport, AnalyticsError> {
    let facts = query::facts(conn, q)?;
    let mut projects: BTreeMap<&str, Project> = BTreeMap::new();
    for f in &facts {
        let p = projects
            .entry(f.project_path.as_deref().unwrap_or("unknown"))
            .or_insert_with(|| Project {
                first_ms: f.ts,
                ..Project::default()
            });
        p.sums.add(&f.sums);
        if let Some(s) = &f.session_id {
            p.sessions.insert(s.clone());
        }
        p.models
            .insert(derive::model_label(f.model.as_deref()).to_owned());
        // Facts come oldest first.
        p.last_ms = f.ts;
    }
    let mut rows: Vec<(i64, ProjectRow)> = projects
        .into_iter()
        .map(|(path, p)| {
            let s = &p.sums;
            let row = ProjectRow {
                project_path: path.to_owned(),
                sessions: p.sessions.len() as u64,
                responses: s.responses,
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cache_creation_tokens: s.cache_creation_tokens(),
                cache_read_tokens: s.cache_read_tokens,
                total_tokens: s.total_tokens(),
                total_cost: s.cost_usd,
                models_used: p.models.into_iter().collect(),
                first_activity: q.zone.rfc3339(p.first_ms),
                last_activity: q.zone.rfc3339(p.last_ms),
                unpriced_responses: s.unpriced_responses,
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
    Ok(ProjectReport {
        projects,
        totals: Totals::from(&sum(&facts)),
        timezone: q.zone.label(),
        unpriced_models: unpriced_in_facts(&facts),
    })
}
