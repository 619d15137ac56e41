//! The team database: where the machines of a team meet, on PostgreSQL.
//!
//! Each machine keeps its own SQLite store as the truth; `ctm team push` sends its
//! responses to a PostgreSQL database the team shares, and team reports read that
//! database's rollups. The only crate that links a PostgreSQL client: the core crates
//! never do.
//!
//! - [`connection`]: the URL, its password (URL, `PGPASSWORD`, `~/.pgpass`) and TLS.
//! - [`schema`]: ctm's own versioned schema, created and migrated by ctm.
//! - [`copies`]: a machine's copy of a response, the merged response and its price.
//! - [`responses`]: the responses and copies as stored, and the one way they change,
//!   which keeps the rollups in step.
//! - [`rollups`]: sums per UTC quarter-hour, machine, project, model and session.
//! - [`push`]: sending a store's new and changed responses, batch by batch.
//! - [`forget`]: taking a person's or a machine's rows out.
//! - [`reports`]: the team reports, from the rollup.
//! - [`auto`]: the automatic push of `ctm live` and `ctm serve`, on a thread of its own.

pub mod auto;
pub mod connection;
pub mod copies;
pub mod error;
pub mod forget;
pub mod push;
pub mod reports;
pub mod responses;
pub mod rollups;
pub mod schema;

pub use auto::AutoPush;
pub use connection::TeamUrl;
pub use error::TeamError;
pub use forget::{forget, ForgetReport};
pub use push::{pending, push, ProjectPaths, PushOptions, PushProgress, PushReport, Pusher};
