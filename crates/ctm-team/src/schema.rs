//! ctm's own schema in the team database: numbered migrations embedded in the binary,
//! the version in `ctm.schema_info`, created by `ctm team init` or the first push.
//!
//! All pending migrations run in one transaction, under the advisory lock every write
//! takes ([`WRITE_LOCK`]), so two machines pushing for the first time at once create it
//! once. A database whose version is newer than this ctm is refused with one line;
//! reports, which may run as a read-only role, only read the version and never migrate.

use postgres::{Client, GenericClient};

use crate::connection::TeamUrl;
use crate::error::{describe, TeamError};

struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "people, machines, responses and their copies, quarter-hour rollups",
        sql: include_str!("../migrations/0001_team.sql"),
    },
    Migration {
        version: 2,
        name: "what prices depend on in the rollup's key, a rollup per session",
        sql: include_str!("../migrations/0002_prices_and_sessions.sql"),
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// The advisory lock (transaction-scoped) every write to the team database takes:
/// migrations, pushes and forgets run one at a time, so a response two machines push at
/// once is merged, never inserted twice. Readers never take it.
pub const WRITE_LOCK: i64 = 0x6374_6d5f_7465_616d; // "ctm_team"

/// What the team database says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    pub version: i32,
    /// Random, set when the schema was created: a push mark counts for this database only.
    pub database_id: String,
}

/// What [`ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub info: DatabaseInfo,
    /// The version before, 0 when the schema was created now.
    pub from: i32,
    /// Migrations applied (version, name).
    pub applied: Vec<(i32, &'static str)>,
}

/// The oldest PostgreSQL the schema runs on (`UNIQUE NULLS NOT DISTINCT`).
pub const MIN_SERVER_VERSION: i32 = 150_000;

/// Creates or migrates the schema to this build's version.
pub fn ensure(client: &mut Client, url: &TeamUrl) -> Result<Migrated, TeamError> {
    ensure_version(client, url, SCHEMA_VERSION)
}

/// Creates or migrates the schema to `target` (at most this build's version): what an
/// older ctm left, for the tests of migrating in place.
pub fn ensure_version(
    client: &mut Client,
    url: &TeamUrl,
    target: i32,
) -> Result<Migrated, TeamError> {
    let target = target.min(SCHEMA_VERSION);
    let db_err = |e: postgres::Error| TeamError::Database {
        shown: url.shown().to_owned(),
        reason: describe(&e),
    };
    let server: i32 = client
        .query_one("SELECT current_setting('server_version_num')::integer", &[])
        .map_err(db_err)?
        .get(0);
    if server < MIN_SERVER_VERSION {
        return Err(TeamError::Database {
            shown: url.shown().to_owned(),
            reason: format!(
                "the server is PostgreSQL {}.{}; ctm's team schema needs PostgreSQL 15 or newer",
                server / 10_000,
                server % 10_000 / 100
            ),
        });
    }
    // The common case reads one row and writes nothing.
    if let Some(info) = read_info(client).map_err(db_err)? {
        refuse_newer(&info, url)?;
        if info.version >= target {
            return Ok(Migrated {
                from: info.version,
                info,
                applied: Vec::new(),
            });
        }
    }
    let mut tx = client.transaction().map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .map_err(db_err)?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS ctm;
         CREATE TABLE IF NOT EXISTS ctm.schema_info (
             singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
             version integer NOT NULL,
             database_id text NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now(),
             migrated_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .map_err(db_err)?;
    // Another machine may have migrated while this one waited for the lock.
    let before = read_info(&mut tx).map_err(db_err)?;
    if let Some(info) = &before {
        refuse_newer(info, url)?;
    }
    let from = before.as_ref().map_or(0, |i| i.version);
    let mut applied = Vec::new();
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > from && m.version <= target)
    {
        tx.batch_execute(m.sql).map_err(|e| TeamError::Database {
            shown: url.shown().to_owned(),
            reason: format!(
                "migration to schema version {} failed, nothing was changed: {}",
                m.version,
                describe(&e)
            ),
        })?;
        applied.push((m.version, m.name));
    }
    tx.execute(
        "INSERT INTO ctm.schema_info (version, database_id) VALUES ($1, gen_random_uuid()::text) \
         ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, migrated_at = now()",
        &[&from.max(target)],
    )
    .map_err(db_err)?;
    let info = read_info(&mut tx)
        .map_err(db_err)?
        .expect("written just above");
    tx.commit().map_err(db_err)?;
    Ok(Migrated {
        info,
        from,
        applied,
    })
}

/// The schema's version for a reader, which never migrates: refuses a database without
/// the schema, or with another version than this build's.
pub fn check_readable(client: &mut Client, url: &TeamUrl) -> Result<DatabaseInfo, TeamError> {
    let info = read_info(client).map_err(|e| TeamError::Database {
        shown: url.shown().to_owned(),
        reason: describe(&e),
    })?;
    let Some(info) = info else {
        return Err(TeamError::NotReady {
            shown: url.shown().to_owned(),
            what: "no ctm schema yet".into(),
        });
    };
    refuse_newer(&info, url)?;
    if info.version < SCHEMA_VERSION {
        return Err(TeamError::NotReady {
            shown: url.shown().to_owned(),
            what: format!(
                "schema version {}, older than this ctm's ({SCHEMA_VERSION})",
                info.version
            ),
        });
    }
    Ok(info)
}

fn refuse_newer(info: &DatabaseInfo, url: &TeamUrl) -> Result<(), TeamError> {
    if info.version > SCHEMA_VERSION {
        return Err(TeamError::TooNew {
            shown: url.shown().to_owned(),
            found: info.version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// The version row, `None` when the schema does not exist yet.
fn read_info(client: &mut impl GenericClient) -> Result<Option<DatabaseInfo>, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('ctm.schema_info') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(None);
    }
    Ok(client
        .query_opt("SELECT version, database_id FROM ctm.schema_info", &[])?
        .map(|r| DatabaseInfo {
            version: r.get(0),
            database_id: r.get(1),
        }))
}
