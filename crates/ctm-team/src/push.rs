//! `ctm team push`: send every response of the local store the team database does not
//! have yet (or has in an older form), in batches, each in its own transaction.
//!
//! Exactly once, whatever happens: each response is keyed by its identity and merged
//! with what the database holds ([`crate::responses::apply`]), so sending it again changes
//! nothing. The local mark of the destination moves only after the database has committed
//! a batch ([`ctm_store::team_push`]): a push killed or cut off at any instant leaves the
//! database at its last commit and the mark at or before it, and the next push sends from
//! there. The mark counts for one database (its random id) and one machine row there: a
//! recreated database, or a machine forgotten and pushing again, gets the whole history.

use std::time::Instant;

use ctm_store::team_push::{self, ChangedFact, ChangedFacts, Mark, Position};
use ctm_store::Store;
use hmac::{KeyInit, Mac};
use postgres::Client;
use serde::Serialize;

use crate::connection::TeamUrl;
use crate::copies::{Copy, Dims, Price};
use crate::error::{describe, TeamError};
use crate::responses::{self, Change};
use crate::schema::{self, WRITE_LOCK};

/// Who pushes: a person and one of their machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pusher {
    pub person: String,
    pub machine: String,
}

/// How project paths leave the machine.
#[derive(Clone, PartialEq, Eq)]
pub enum ProjectPaths {
    /// As they are (the cwd of each response).
    Plain,
    /// As `hmac-sha256:<hex>` of the path keyed by a salt the team shares: equal paths
    /// stay equal, and nobody without the salt can test a guess.
    Hashed { salt: String },
}

impl std::fmt::Debug for ProjectPaths {
    // Never the salt.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProjectPaths::Plain => "Plain",
            ProjectPaths::Hashed { .. } => "Hashed",
        })
    }
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl ProjectPaths {
    /// A project path as it is sent.
    pub fn label(&self, path: &str) -> String {
        match self {
            ProjectPaths::Plain => path.to_owned(),
            ProjectPaths::Hashed { salt } => {
                let mut mac = HmacSha256::new_from_slice(salt.as_bytes())
                    .expect("HMAC takes keys of any length");
                mac.update(path.as_bytes());
                let digest = mac.finalize().into_bytes();
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("hmac-sha256:{hex}")
            }
        }
    }

    /// What the mark's destination says about paths: another salt or mode is another
    /// destination, so every response goes again with its paths sent the new way.
    fn mode(&self) -> String {
        match self {
            ProjectPaths::Plain => "plain".into(),
            ProjectPaths::Hashed { salt } => {
                format!(
                    "hashed:{}",
                    &self.label(&format!("salt check {salt}"))[12..20]
                )
            }
        }
    }
}

/// What a push is asked.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub pusher: Pusher,
    pub paths: ProjectPaths,
    /// Responses per transaction.
    pub batch_size: usize,
}

impl PushOptions {
    pub fn new(pusher: Pusher, paths: ProjectPaths) -> PushOptions {
        PushOptions {
            pusher,
            paths,
            batch_size: 2_000,
        }
    }
}

/// Told how a push goes (a progress bar on a terminal).
pub trait PushProgress {
    /// Called once, with the number of responses to send.
    fn start(&self, total: u64);
    /// Called after each committed batch.
    fn advance(&self, sent: u64);
    fn finish(&self);
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushReport {
    /// The database, without a password.
    pub destination: String,
    pub user: String,
    pub machine: String,
    /// Migrations this push applied to the database's schema.
    pub schema_migrated: Vec<i32>,
    /// The whole local history was sent (a first push, another database, or a machine
    /// the database no longer knew).
    pub full: bool,
    /// Responses sent.
    pub sent: u64,
    /// Of which the database did not have.
    pub added: u64,
    /// Of which it had in another form (more output seen since, a new price...).
    pub changed: u64,
    /// Of which it already had as they are (sent again after an interrupted push).
    pub unchanged: u64,
    pub batches: u64,
    pub elapsed_ms: u64,
}

/// Pushes the store's new and changed responses.
pub fn push(
    store: &mut Store,
    url: &TeamUrl,
    opts: &PushOptions,
    progress: Option<&dyn PushProgress>,
) -> Result<PushReport, TeamError> {
    let started = Instant::now();
    let mut client = url.connect()?;
    let migrated = schema::ensure(&mut client, url)?;
    let db_err = |e: postgres::Error| TeamError::Database {
        shown: url.shown().to_owned(),
        reason: describe(&e),
    };
    let machine_id = register(&mut client, &opts.pusher).map_err(db_err)?;
    let destination = destination(url, opts);
    let mark = team_push::mark(store.conn(), &destination)?.filter(|m| {
        m.database_id == migrated.info.database_id && m.machine_id == i64::from(machine_id)
    });
    let full = mark.is_none();
    let mut position = mark.as_ref().map_or(Position::START, |m| m.position);
    let mut total_sent = mark.as_ref().map_or(0, |m| m.responses);
    let upto = team_push::last_revision(store.conn())?;
    let to_send = team_push::count_changed(store.conn(), position, upto)?;
    let mut report = PushReport {
        destination: url.shown().to_owned(),
        user: opts.pusher.person.clone(),
        machine: opts.pusher.machine.clone(),
        schema_migrated: migrated.applied.iter().map(|(v, _)| *v).collect(),
        full,
        ..PushReport::default()
    };
    if let Some(p) = progress {
        p.start(to_send);
    }
    let mut reader = ChangedFacts::default();
    loop {
        let facts = reader.after(store.conn(), position, upto, opts.batch_size.max(1))?;
        let Some(last) = facts.last().map(|f| f.position) else {
            break;
        };
        let n = facts.len() as u64;
        let applied = send_batch(&mut client, machine_id, &facts, &opts.paths).map_err(db_err)?;
        position = last;
        total_sent += n;
        report.sent += n;
        report.added += applied.added;
        report.changed += applied.changed;
        report.unchanged += applied.unchanged;
        report.batches += 1;
        save_mark(
            store,
            &destination,
            &migrated.info.database_id,
            machine_id,
            position,
            total_sent,
        )?;
        if let Some(p) = progress {
            p.advance(n);
        }
    }
    if report.batches == 0 && full {
        // Nothing to send: the mark still says which database and machine it is for.
        save_mark(
            store,
            &destination,
            &migrated.info.database_id,
            machine_id,
            position,
            total_sent,
        )?;
    }
    if let Some(p) = progress {
        p.finish();
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// What a destination's mark is kept under: the database, who pushes, how paths go.
fn destination(url: &TeamUrl, opts: &PushOptions) -> String {
    format!(
        "{} as {}@{} paths={}",
        url.place(),
        opts.pusher.person,
        opts.pusher.machine,
        opts.paths.mode()
    )
}

/// Responses the store holds that this destination has not been sent yet, from the
/// local mark alone (no connection): `None` when it was never pushed to.
pub fn pending(store: &Store, url: &TeamUrl, opts: &PushOptions) -> Result<Option<u64>, TeamError> {
    let Some(mark) = team_push::mark(store.conn(), &destination(url, opts))? else {
        return Ok(None);
    };
    let upto = team_push::last_revision(store.conn())?;
    Ok(Some(team_push::count_changed(
        store.conn(),
        mark.position,
        upto,
    )?))
}

fn save_mark(
    store: &mut Store,
    destination: &str,
    database_id: &str,
    machine_id: i32,
    position: Position,
    responses: u64,
) -> Result<(), TeamError> {
    let tx = store.write()?;
    team_push::save_mark(
        &tx,
        destination,
        &Mark {
            database_id: database_id.to_owned(),
            machine_id: i64::from(machine_id),
            position,
            pushed_at_ms: ctm_store::now_ms(),
            responses,
        },
    )?;
    tx.commit().map_err(ctm_store::StoreError::from)?;
    Ok(())
}

/// The pusher's person and machine rows (created on first push); the machine's id.
fn register(client: &mut Client, who: &Pusher) -> Result<i32, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
    tx.execute(
        "INSERT INTO ctm.people (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
        &[&who.person],
    )?;
    let id: i32 = tx
        .query_one(
            "INSERT INTO ctm.machines (person_id, name) \
             SELECT id, $2 FROM ctm.people WHERE name = $1 \
             ON CONFLICT (person_id, name) DO UPDATE SET last_push = now() RETURNING id",
            &[&who.person, &who.machine],
        )?
        .get(0);
    tx.commit()?;
    Ok(id)
}

/// One batch in one transaction.
fn send_batch(
    client: &mut Client,
    machine_id: i32,
    facts: &[ChangedFact],
    paths: &ProjectPaths,
) -> Result<responses::Applied, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
    let machines = crate::copies::load_machines(&mut tx)?;
    let copies: Vec<Copy> = facts
        .iter()
        .map(|f| copy_of(f, machine_id, paths))
        .collect();
    // Per transaction: ids a transaction that rolled back learned would name nothing.
    let mut dims = Dims::default();
    dims.resolve(&mut tx, copies.iter().map(|c| &c.response))?;
    let keys: Vec<String> = copies.iter().map(|c| c.response.key.clone()).collect();
    let mut stored = responses::load(&mut tx, &keys, &mut dims)?;
    let changes: Vec<Change> = copies
        .into_iter()
        .map(|incoming| {
            let stored = stored.remove(&incoming.response.key).unwrap_or_default();
            let mut copies: Vec<Copy> = stored
                .copies
                .iter()
                .filter(|c| c.machine_id != incoming.machine_id)
                .cloned()
                .collect();
            copies.push(incoming);
            copies.sort_by_key(|c| c.machine_id);
            Change { stored, copies }
        })
        .collect();
    let applied = responses::apply(&mut tx, changes, &machines, &dims)?;
    tx.execute(
        "UPDATE ctm.machines SET last_push = now(), pushed_responses = pushed_responses + $2 WHERE id = $1",
        &[&machine_id, &(facts.len() as i64)],
    )?;
    tx.commit()?;
    Ok(applied)
}

/// A local fact as this machine's copy: usage metadata only, project path as the team
/// wants it, no transcript path (a local file name).
fn copy_of(f: &ChangedFact, machine_id: i32, paths: &ProjectPaths) -> Copy {
    let mut response = f.response.clone();
    response.recorded_cost_usd = None;
    response.source_path = None;
    response.project_path = response
        .project_path
        .as_deref()
        .map(|p| paths.label(p).into());
    let p = &f.price;
    Copy {
        machine_id,
        response,
        billed: f.billed,
        price: Price {
            cost_nanos: p.cost_nanos,
            priced: p.priced,
            price_model: p.price_model.clone(),
            price_version: p.price_version.clone().unwrap_or_default(),
            long_context: p.long_context,
            multiplier: p.multiplier,
            cache_savings_nanos: p.savings_nanos,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_paths_are_stable_per_salt_and_hide_the_path() {
        let a = ProjectPaths::Hashed {
            salt: "team".into(),
        };
        let b = ProjectPaths::Hashed {
            salt: "other".into(),
        };
        let h = a.label("/home/alice/secret-project");
        assert_eq!(h, a.label("/home/alice/secret-project"));
        assert!(h.starts_with("hmac-sha256:") && h.len() == "hmac-sha256:".len() + 24);
        assert!(!h.contains("secret"));
        assert_ne!(h, b.label("/home/alice/secret-project"));
        assert_ne!(a.mode(), b.mode());
        assert_eq!(ProjectPaths::Plain.label("/p"), "/p");
        assert!(!format!("{a:?}").contains("team"));
    }
}
