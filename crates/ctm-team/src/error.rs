//! Every way working with the team database can fail, each as one line that names the
//! database (never its password) and says what to do.

use std::error::Error as _;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// A URL that is not a PostgreSQL URL, or a setting ctm cannot use.
    #[error("{0}")]
    Config(String),
    #[error("cannot connect to the team database at {shown}: {reason}")]
    Connect { shown: String, reason: String },
    #[error(
        "the team database at {shown} has schema version {found}, newer than this ctm supports \
         ({supported}); upgrade ctm on this machine"
    )]
    TooNew {
        shown: String,
        found: i32,
        supported: i32,
    },
    #[error(
        "the team database at {shown} has {what}; run `ctm team init` (or `ctm team push`) \
         with a role that may create tables there"
    )]
    NotReady { shown: String, what: String },
    #[error("the team database at {shown}: {reason}")]
    Database { shown: String, reason: String },
    #[error(transparent)]
    Store(#[from] ctm_store::StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// A client error as one line: tokio-postgres' own text leaves out the server's message
/// (it is the error's source), which is the part that says what went wrong.
pub fn describe(e: &postgres::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ").replace('\n', "; ")
}

/// Whether an error means the connection is gone (the server stopped, the network
/// dropped), as opposed to a refused statement.
pub fn is_connection_lost(e: &postgres::Error) -> bool {
    e.is_closed()
        || (e.as_db_error().is_none() && e.source().is_some_and(|s| s.is::<std::io::Error>()))
}
