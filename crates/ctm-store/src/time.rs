//! Stored times: RFC 3339 UTC with milliseconds, the format of every time column ctm
//! writes, and its reading back.

use jiff::Timestamp;

use crate::StoreError;

/// RFC 3339 UTC with milliseconds (the epoch for an instant out of range).
pub fn format(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A stored time read back.
pub fn parse(s: &str) -> Option<i64> {
    s.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// [`parse`], or an error naming where the time was.
pub fn parse_stored(what: &str, s: &str) -> Result<i64, StoreError> {
    parse(s).ok_or_else(|| {
        StoreError::Invalid(format!(
            "{what} {s:?} is not a time ctm writes; `ctm db check` lists what differs"
        ))
    })
}

/// A stored time that sorts before every time ctm writes at or after `ms` (the empty
/// text for no bound).
pub fn lower_bound(ms: i64) -> String {
    if Timestamp::from_millisecond(ms).is_err() && ms < 0 {
        String::new()
    } else {
        format(ms)
    }
}
