//! `ctm team forget --user NAME [--machine NAME]`: take a person's (or one machine's)
//! rows out of the team database, in one transaction.
//!
//! Each response a forgotten machine sent loses that machine's copy through the same
//! change as a push ([`crate::responses::apply`]): a response only it sent goes, with its
//! figures taken out of the rollups; one another machine sent too stays, merged from the
//! copies left (and counted for that machine from then on). Then the machines (and the
//! person, when all of them go) are deleted, and the projects and sessions nothing names
//! any more, so no path of theirs stays behind. A machine that pushes again afterwards is
//! a new machine to the database and sends its whole history.

use postgres::Client;
use serde::Serialize;

use crate::connection::TeamUrl;
use crate::copies::Dims;
use crate::error::{describe, TeamError};
use crate::responses::{self, Change};
use crate::schema::{self, WRITE_LOCK};

/// What a forget did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgetReport {
    pub user: String,
    /// The machines removed.
    pub machines: Vec<String>,
    /// Responses removed (only the forgotten machines had sent them).
    pub removed: u64,
    /// Responses kept because other machines sent them too.
    pub kept: u64,
}

/// Responses handled per round (each round's rows are read and written together).
const CHUNK: usize = 2_000;

/// Removes a person's rows, or one machine's of theirs.
pub fn forget(
    url: &TeamUrl,
    person: &str,
    machine: Option<&str>,
) -> Result<ForgetReport, TeamError> {
    let mut client = url.connect()?;
    schema::ensure(&mut client, url)?;
    run(&mut client, person, machine)
        .map_err(|e| TeamError::Database {
            shown: url.shown().to_owned(),
            reason: describe(&e),
        })?
        .ok_or_else(|| {
            TeamError::Invalid(match machine {
                Some(m) => format!(
                    "the team database at {} has no machine {m:?} of user {person:?}; `ctm team users` lists them",
                    url.shown()
                ),
                None => format!(
                    "the team database at {} has no user {person:?}; `ctm team users` lists them",
                    url.shown()
                ),
            })
        })
}

fn run(
    client: &mut Client,
    person: &str,
    machine: Option<&str>,
) -> Result<Option<ForgetReport>, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
    let targets: Vec<(i32, String)> = tx
        .query(
            "SELECT m.id, m.name FROM ctm.machines m JOIN ctm.people p ON p.id = m.person_id \
             WHERE p.name = $1 AND ($2::text IS NULL OR m.name = $2) ORDER BY m.name",
            &[&person, &machine],
        )?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let person_exists = tx
        .query_opt("SELECT 1 FROM ctm.people WHERE name = $1", &[&person])?
        .is_some();
    if targets.is_empty() && (machine.is_some() || !person_exists) {
        return Ok(None);
    }
    let ids: Vec<i32> = targets.iter().map(|(id, _)| *id).collect();
    let machines = crate::copies::load_machines(&mut tx)?;
    let keys: Vec<String> = tx
        .query(
            "SELECT key FROM ctm.responses WHERE machine_id = ANY($1) \
             UNION SELECT key FROM ctm.sightings WHERE machine_id = ANY($1) ORDER BY 1",
            &[&ids],
        )?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let (projects, sessions) = named_by(&mut tx, &ids)?;
    let mut report = ForgetReport {
        user: person.to_owned(),
        machines: targets.iter().map(|(_, n)| n.clone()).collect(),
        ..ForgetReport::default()
    };
    for chunk in keys.chunks(CHUNK) {
        let mut dims = Dims::default();
        let mut stored = responses::load(&mut tx, chunk, &mut dims)?;
        let changes: Vec<Change> = chunk
            .iter()
            .map(|k| {
                let stored = stored.remove(k).unwrap_or_default();
                let copies = stored
                    .copies
                    .iter()
                    .filter(|c| !ids.contains(&c.machine_id))
                    .cloned()
                    .collect();
                Change { stored, copies }
            })
            .collect();
        let applied = responses::apply(&mut tx, changes, &machines, &dims)?;
        report.removed += applied.removed;
        report.kept += applied.changed + applied.unchanged;
    }
    tx.execute("DELETE FROM ctm.machines WHERE id = ANY($1)", &[&ids])?;
    tx.execute(
        "DELETE FROM ctm.people p WHERE name = $1 \
         AND NOT EXISTS (SELECT 1 FROM ctm.machines m WHERE m.person_id = p.id)",
        &[&person],
    )?;
    // Paths and sessions only the forgotten rows named.
    tx.execute(
        "DELETE FROM ctm.projects p WHERE id = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM ctm.responses r WHERE r.project_id = p.id) \
         AND NOT EXISTS (SELECT 1 FROM ctm.sightings s WHERE s.project_id = p.id)",
        &[&projects],
    )?;
    tx.execute(
        "DELETE FROM ctm.sessions s WHERE id = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM ctm.responses r WHERE r.session_ref = s.id) \
         AND NOT EXISTS (SELECT 1 FROM ctm.sightings c WHERE c.session_ref = s.id)",
        &[&sessions],
    )?;
    tx.commit()?;
    Ok(Some(report))
}

/// The projects and sessions the machines' rows name.
fn named_by(
    tx: &mut postgres::Transaction,
    ids: &[i32],
) -> Result<(Vec<i32>, Vec<i32>), postgres::Error> {
    let ids = ids.to_vec();
    let projects = tx
        .query(
            "SELECT project_id FROM ctm.responses WHERE machine_id = ANY($1) \
             UNION SELECT project_id FROM ctm.sightings WHERE machine_id = ANY($1)",
            &[&ids],
        )?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let sessions = tx
        .query(
            "SELECT session_ref FROM ctm.responses WHERE machine_id = ANY($1) \
             UNION SELECT session_ref FROM ctm.sightings WHERE machine_id = ANY($1)",
            &[&ids],
        )?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    Ok((projects, sessions))
}
