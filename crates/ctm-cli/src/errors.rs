//! How a failure reaches the user: one line, `ctm: error: ...`, and an exit code: 2 when
//! the command line cannot work as written (clap's own usage errors, and ours:
//! [`UsageError`]), 1 for everything that went wrong while running.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ctm_store::StoreError;

/// Arguments (or their combination, or `CTM_NOW`) that cannot work whatever the data:
/// exit code 2, as clap's usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A usage error with this message.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// The exit code of a failure.
pub fn exit_code(e: &anyhow::Error) -> ExitCode {
    if e.chain().any(|c| c.is::<UsageError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// The failure as one line: its messages outermost first, each once (an error whose
/// text already includes its cause's is not followed by it again), newlines as spaces.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace(['\n', '\r'], " ")
}

/// Prints the failure as the one error line.
pub fn print(e: &anyhow::Error) {
    eprintln!("ctm: error: {}", one_line(e));
}

/// A raw SQLite failure anywhere in `e` becomes the store's own one line, naming the
/// store at `path` and what to do (disk full, read-only, damaged, ...), instead of
/// SQLite's text and code. Other errors are returned as they are.
pub fn explain_store(e: anyhow::Error, path: &Path, waited: Duration) -> anyhow::Error {
    let raw = e.chain().find_map(|c| {
        c.downcast_ref::<rusqlite::Error>()
            .or_else(|| c.downcast_ref::<StoreError>().and_then(StoreError::sqlite))
            .or_else(|| match c.downcast_ref::<ctm_ingest::IngestError>() {
                Some(ctm_ingest::IngestError::Store(s)) => s.sqlite(),
                Some(ctm_ingest::IngestError::StoredPrices(_)) | None => None,
            })
            .or_else(|| match c.downcast_ref::<ctm_analytics::AnalyticsError>() {
                Some(ctm_analytics::AnalyticsError::Store(s)) => s.sqlite(),
                _ => None,
            })
    });
    match raw {
        Some(raw) => StoreError::from_sqlite(path, raw, waited).into(),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let store: anyhow::Error = StoreError::Io {
            path: "/s/ctm.db".into(),
            source: io,
        }
        .into();
        assert_eq!(
            one_line(&store),
            "cannot use the store at /s/ctm.db: denied"
        );
        let wrapped = Err::<(), _>(std::io::Error::other("gone\nreally"))
            .context("cannot read /c.toml")
            .unwrap_err();
        assert_eq!(one_line(&wrapped), "cannot read /c.toml: gone really");
    }

    #[test]
    fn usage_errors_exit_2_and_the_rest_1() {
        assert_eq!(
            exit_code(&usage("--since x is not a date")),
            ExitCode::from(2)
        );
        let wrapped = Err::<(), _>(usage("bad")).context("while").unwrap_err();
        assert_eq!(exit_code(&wrapped), ExitCode::from(2));
        assert_eq!(exit_code(&anyhow::anyhow!("disk full")), ExitCode::from(1));
    }

    #[test]
    fn a_raw_sqlite_failure_names_the_store_and_the_remedy() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        let path = Path::new("/s/ctm.db");
        for e in [
            anyhow::Error::from(StoreError::from(full)),
            anyhow::Error::from(ctm_ingest::IngestError::Store(StoreError::from(
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                    None,
                ),
            ))),
        ] {
            let line = one_line(&explain_store(e, path, Duration::ZERO));
            assert_eq!(
                line,
                "the disk holding /s/ctm.db is full; free some space and run again (nothing was written)"
            );
        }
    }
}
