//! Changing `system_config` on the user's request (`ctm config set`): every value is
//! checked against its key's `value_type`, and bookkeeping keys are refused.

use jiff::tz::TimeZone;
use rusqlite::Transaction;

use crate::{config, derive, StoreError};

/// Keys ctm keeps itself; a user value would lie about the store.
pub const READ_ONLY: &[&str] = &[
    "schema_version",
    "last_sync_time",
    crate::horizon::FACTS_HORIZON_KEY,
];

/// What a successful [`set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub key: String,
    /// The value as stored (normalised: `true`/`false`, a zone's canonical name).
    pub value: String,
    /// The derived tables were rebuilt (the daily tables' zone changed).
    pub rebuilt: bool,
}

/// Checks `value` against `key`'s type and stores it, in the caller's transaction.
pub fn set(tx: &Transaction, key: &str, value: &str) -> Result<Changed, StoreError> {
    // Before the lookup: facts_pruned_before exists only once facts were pruned.
    if READ_ONLY.contains(&key) {
        return Err(StoreError::Invalid(format!(
            "{key} is read-only: ctm keeps it itself"
        )));
    }
    let entries = config::list(tx)?;
    let Some(entry) = entries.iter().find(|e| e.key == key) else {
        let known: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        return Err(StoreError::Invalid(format!(
            "unknown configuration key {key:?}; known keys: {}",
            known.join(", ")
        )));
    };
    let value = if key == "timezone" {
        let tz = TimeZone::get(value).map_err(|_| {
            StoreError::Invalid(format!(
                "timezone {value:?} is not an IANA time zone; use a name such as Europe/Berlin or UTC"
            ))
        })?;
        tz.iana_name().unwrap_or(value).to_owned()
    } else {
        checked(key, &entry.value_type, value)?
    };
    let rebuilt = key == "timezone" && value != entry.value;
    if rebuilt {
        if let Some(h) = crate::horizon::facts_horizon(tx)? {
            return Err(StoreError::Invalid(format!(
                "the daily tables before {} were kept when older responses were pruned and cannot be \
                 recomputed in {value}; the timezone stays {}",
                ctm_model::utc::format(h),
                entry.value
            )));
        }
    }
    config::set_raw(tx, key, &value)?;
    if rebuilt {
        // The daily tables are kept in this zone: rebuilt in the same transaction.
        derive::rebuild_all(tx)?;
    }
    Ok(Changed {
        key: key.to_owned(),
        value,
        rebuilt,
    })
}

fn checked(key: &str, value_type: &str, value: &str) -> Result<String, StoreError> {
    let bad = |what: &str| {
        StoreError::Invalid(format!(
            "{key} takes {what}, not {value:?}; nothing was changed"
        ))
    };
    match value_type {
        "number" => value
            .trim()
            .parse::<u64>()
            .map(|n| n.to_string())
            .map_err(|_| bad("a whole number >= 0")),
        "boolean" => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok("true".into()),
            "false" | "0" | "no" | "off" => Ok("false".into()),
            _ => Err(bad("true or false")),
        },
        "json" => serde_json::from_str::<serde_json::Value>(value)
            .map(|_| value.to_owned())
            .map_err(|_| bad("a JSON value")),
        _ => Ok(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpenOptions, Store};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        (dir, store)
    }

    #[test]
    fn values_are_checked_by_type_and_bookkeeping_is_read_only() {
        let (_dir, mut store) = store();
        let tx = store.write().unwrap();
        assert_eq!(set(&tx, "data_retention_days", " 30").unwrap().value, "30");
        for bad in ["-1", "1.5", "ten", ""] {
            let e = set(&tx, "data_retention_days", bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains("whole number"), "{e}");
        }
        let e = set(&tx, "nope", "1").unwrap_err().to_string();
        assert!(e.contains("known keys: data_retention_days"), "{e}");
        for key in READ_ONLY {
            let e = set(&tx, key, "5").unwrap_err().to_string();
            assert!(e.contains("read-only"), "{e}");
        }
        assert!(checked("k", "boolean", "YES").unwrap() == "true");
        assert!(checked("k", "boolean", "maybe").is_err());
        assert!(checked("k", "json", "{\"a\":1}").is_ok());
        assert!(checked("k", "json", "{a").is_err());
        let e = set(&tx, "timezone", "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(e.contains("IANA"), "{e}");
        let changed = set(&tx, "timezone", "Asia/Tokyo").unwrap();
        assert!(changed.rebuilt);
        assert_eq!(config::get(&tx, "timezone").unwrap().unwrap(), "Asia/Tokyo");
        assert!(!set(&tx, "timezone", "Asia/Tokyo").unwrap().rebuilt);
    }
}
