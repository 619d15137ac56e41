//! Claude's own usage figures (the statusline hook's `rate_limits`), as last seen.
//!
//! These are the only authoritative limits: everything else ctm says about limits is an
//! estimate from the transcripts. Every front end labels them "official".

use ctm_store::rate_limits::{LimitWindow, RateLimitSample};
use ctm_store::Store;
use serde::Serialize;

use crate::{AnalyticsError, Zone};

/// One window's official figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfficialLimit {
    /// `five_hour` or `seven_day`.
    pub window: LimitWindow,
    /// Share of the window's limit used, 0 to 100, as Claude Code reported it.
    pub used_percentage: f64,
    /// RFC 3339 in the report's zone.
    pub resets_at: Option<String>,
    /// When Claude Code last reported this figure (RFC 3339 in the report's zone).
    pub seen_at: String,
    /// The window reset since the figure was seen: it describes a window that is over.
    pub expired: bool,
    /// Always `"official"`: the figure comes from Claude, not from ctm's estimate.
    pub source: &'static str,
    #[serde(skip)]
    pub resets_at_ms: Option<i64>,
    #[serde(skip)]
    pub seen_ms: i64,
}

/// The latest official 5-hour and 7-day figures, when Claude Code ever reported them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfficialLimits {
    pub five_hour: Option<OfficialLimit>,
    pub seven_day: Option<OfficialLimit>,
}

impl OfficialLimits {
    pub fn is_empty(&self) -> bool {
        self.five_hour.is_none() && self.seven_day.is_none()
    }

    /// The figures still in force at `now` (not expired).
    pub fn current(&self) -> impl Iterator<Item = &OfficialLimit> {
        [&self.five_hour, &self.seven_day]
            .into_iter()
            .flatten()
            .filter(|l| !l.expired)
    }
}

/// The latest figure of each window, judged at `now_ms`.
pub fn official_limits(
    store: &Store,
    now_ms: i64,
    zone: &Zone,
) -> Result<OfficialLimits, AnalyticsError> {
    let get = |w| -> Result<Option<OfficialLimit>, AnalyticsError> {
        Ok(store
            .latest_rate_limit(w)?
            .map(|s| official_limit(&s, now_ms, zone)))
    };
    Ok(OfficialLimits {
        five_hour: get(LimitWindow::FiveHour)?,
        seven_day: get(LimitWindow::SevenDay)?,
    })
}

fn official_limit(s: &RateLimitSample, now_ms: i64, zone: &Zone) -> OfficialLimit {
    let resets_at_ms = s.resets_at_s.map(|r| r.saturating_mul(1000));
    OfficialLimit {
        window: s.window,
        used_percentage: s.used_percentage,
        resets_at: resets_at_ms.map(|ms| zone.rfc3339(ms)),
        seen_at: zone.rfc3339(s.last_seen_ms),
        expired: resets_at_ms.is_some_and(|r| r <= now_ms),
        source: "official",
        resets_at_ms,
        seen_ms: s.last_seen_ms,
    }
}
