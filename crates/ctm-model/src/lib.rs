//! The shared vocabulary of `ctm`: one API response as Claude Code recorded it, and the
//! single rule that decides what a response counts as when it was seen more than once.
//!
//! Claude Code writes one line per content block of a response, copies responses into
//! resumed sessions and echoes subagent responses into the parent transcript. Every
//! sighting carries the same `(message.id, requestId)`; the response counts once, with
//! the usage of its sighting with the highest `output_tokens` (earlier lines hold a
//! streaming placeholder) and the identity (time, session, project) of its earliest
//! sighting. [`Response::merge`] implements that rule; because it is commutative and
//! associative, ingesting files in any order or in any number of pieces gives the same
//! row.

pub mod utc;

use std::cmp::Ordering;
use std::sync::Arc;

/// Token counts of one response, as `message.usage` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Cache writes billed at the 5-minute rate (all cache writes when the line has no
    /// `cache_creation` breakdown).
    pub cache_write_5m_tokens: u64,
    /// Cache writes billed at the 1-hour rate.
    pub cache_write_1h_tokens: u64,
    pub cache_read_tokens: u64,
    pub web_search_requests: u64,
    pub web_fetch_requests: u64,
}

impl Usage {
    /// The counts in the order the stores keep them: input, output, cache writes (5
    /// minutes, 1 hour), cache reads, web searches, web fetches.
    pub fn counts(&self) -> [u64; 7] {
        [
            self.input_tokens,
            self.output_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.cache_read_tokens,
            self.web_search_requests,
            self.web_fetch_requests,
        ]
    }

    /// All cache writes (`cache_creation_input_tokens`).
    pub fn cache_creation_tokens(&self) -> u64 {
        self.cache_write_5m_tokens + self.cache_write_1h_tokens
    }

    /// input + output + cache writes + cache reads, the "total tokens" of reports.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_tokens()
            + self.cache_read_tokens
    }

    /// The order that picks the sighting whose usage counts: highest output first (the
    /// final streaming line), then the other fields so that ties break the same way
    /// whatever order the sightings arrive in.
    fn rank(&self) -> [u64; 7] {
        [
            self.output_tokens,
            self.cache_write_5m_tokens + self.cache_write_1h_tokens,
            self.cache_read_tokens,
            self.input_tokens,
            self.cache_write_1h_tokens,
            self.web_search_requests,
            self.web_fetch_requests,
        ]
    }
}

/// How a response's identity is stored so that it can be deduplicated.
///
/// `m:<message.id>:<requestId>` for normal responses; `u:<uuid>` for a usage line without
/// a message id (it counts alone, and a verbatim copy keeps its uuid); `h:<hash>` when it
/// has neither (the hash of the line itself).
pub fn message_key(message_id: &str, request_id: &str) -> String {
    let mut key = String::with_capacity(3 + message_id.len() + request_id.len());
    key.push_str("m:");
    key.push_str(message_id);
    key.push(':');
    key.push_str(request_id);
    key
}

/// The key range `[lo, hi)` that holds every `m:` key of one message id, whatever its
/// request id. Used to find sidechain replays (same message id, new request id).
pub fn message_key_range(message_id: &str) -> (String, String) {
    (format!("m:{message_id}:"), format!("m:{message_id};"))
}

/// One shared copy of each distinct text it is handed: the texts that repeat across
/// responses (see [`Response`]) and across the facts a report reads.
#[derive(Debug, Default)]
pub struct TextPool {
    texts: foldhash::HashSet<Arc<str>>,
}

impl TextPool {
    pub fn share(&mut self, text: Option<&str>) -> Option<Arc<str>> {
        let text = text?;
        if let Some(shared) = self.texts.get(text) {
            return Some(shared.clone());
        }
        let shared: Arc<str> = text.into();
        self.texts.insert(shared.clone());
        Some(shared)
    }
}

/// Claude Code's own account of what a session cost: a `cost-state` line (2.1.289+,
/// written when it exits, cumulative across resumes) or the statusline's
/// `cost.total_cost_usd`. Numbers only; the latest per session and source is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaudeCodeCost {
    pub session_id: String,
    pub total_cost_usd: f64,
    /// UTC epoch milliseconds of the responses the figure covers (those up to it);
    /// `None` when nothing tells, taken as the whole session.
    pub observed_at_ms: Option<i64>,
    /// Per model (`cost-state` only), as Claude Code names them without a `[1m]` tag.
    pub models: Vec<ModelCost>,
    /// Claude Code itself could not price some model of the session.
    pub has_unknown_model_cost: bool,
}

impl ClaudeCodeCost {
    /// The order that picks the figure kept for a session: the later observation, then
    /// (Claude Code's figure only grows within a session) the larger cost. A total order,
    /// so files read in any order keep the same figure.
    pub fn is_later_than(&self, other: &ClaudeCodeCost) -> bool {
        (self.observed_at_ms, self.total_cost_usd)
            .partial_cmp(&(other.observed_at_ms, other.total_cost_usd))
            == Some(Ordering::Greater)
    }
}

/// One model's line of a `cost-state`'s `modelUsage`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCost {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub web_search_requests: u64,
    #[serde(rename = "costUSD")]
    pub cost_usd: f64,
}

/// Where a sighting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// An `assistant` line of a transcript.
    Assistant,
    /// A copy of a subagent's response inside a parent's `agent_progress` line.
    AgentEcho,
}

/// One API response: a row of the fact table.
///
/// The texts that repeat from response to response (session, project, model, the usage
/// fields' speed, tier and geography, agent, Claude Code version, transcript path) are
/// shared (`Arc<str>`): the parser hands every response of a transcript the same copy,
/// so a first ingest holds each once instead of once per response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Deduplication key, see [`message_key`]: for a response with a message id it holds
    /// the message and request ids.
    pub key: String,
    /// UTC epoch milliseconds of the earliest sighting.
    pub timestamp_ms: i64,
    pub session_id: Option<Arc<str>>,
    /// The working directory (`cwd`) the response was made in.
    pub project_path: Option<Arc<str>>,
    pub model: Option<Arc<str>>,
    pub usage: Usage,
    pub speed: Option<Arc<str>>,
    pub service_tier: Option<Arc<str>>,
    pub inference_geo: Option<Arc<str>>,
    pub is_sidechain: bool,
    pub agent_id: Option<Arc<str>>,
    pub origin: Origin,
    /// `costUSD` as written by Claude Code before 1.0.9; kept for comparison only.
    pub recorded_cost_usd: Option<f64>,
    /// Claude Code version that wrote the line.
    pub cc_version: Option<Arc<str>>,
    /// The transcript the earliest sighting came from.
    pub source_path: Option<Arc<str>>,
}

impl Response {
    /// Folds another sighting of the same response into this one.
    ///
    /// Usage (and the fields that travel with it: model, speed, tier, geography) comes
    /// from the sighting with the highest usage rank; identity (time, session, project,
    /// agent, file) from the earliest sighting. Both choices are total orders, so the
    /// result does not depend on the order sightings are merged in. Returns whether this
    /// response changed.
    pub fn merge(&mut self, other: Response) -> bool {
        debug_assert_eq!(self.key, other.key);
        let other_is_earlier = other.identity_order(self) == Ordering::Less;
        let other_has_more_usage = other.usage_order(self) == Ordering::Greater;
        match (other_is_earlier, other_has_more_usage) {
            (false, false) => return false,
            (true, true) => *self = other,
            (true, false) => {
                let keep = std::mem::replace(self, other);
                self.take_usage_from(keep);
            }
            (false, true) => self.take_usage_from(other),
        }
        true
    }

    fn take_usage_from(&mut self, other: Response) {
        self.usage = other.usage;
        self.model = other.model;
        self.speed = other.speed;
        self.service_tier = other.service_tier;
        self.inference_geo = other.inference_geo;
        self.recorded_cost_usd = other.recorded_cost_usd;
    }

    /// The order whose greatest sighting gives a response its usage (see [`Response::merge`]):
    /// highest output first, then the other counts, model and flags. A total order.
    pub fn usage_order(&self, other: &Response) -> Ordering {
        self.usage
            .rank()
            .cmp(&other.usage.rank())
            .then_with(|| self.model.cmp(&other.model))
            .then_with(|| self.speed.cmp(&other.speed))
            .then_with(|| self.service_tier.cmp(&other.service_tier))
            .then_with(|| self.inference_geo.cmp(&other.inference_geo))
            .then_with(|| match (self.recorded_cost_usd, other.recorded_cost_usd) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }

    /// The order whose least sighting gives a response its identity (see
    /// [`Response::merge`]): earliest first, a transcript's own line before an echo, then
    /// session, file, project and the rest. A total order.
    pub fn identity_order(&self, other: &Response) -> Ordering {
        self.timestamp_ms
            .cmp(&other.timestamp_ms)
            // A transcript's own line beats an echo of it in the parent.
            .then_with(|| self.origin.cmp(&other.origin))
            .then_with(|| self.session_id.cmp(&other.session_id))
            .then_with(|| self.source_path.cmp(&other.source_path))
            .then_with(|| self.project_path.cmp(&other.project_path))
            .then_with(|| self.agent_id.cmp(&other.agent_id))
            .then_with(|| self.is_sidechain.cmp(&other.is_sidechain))
            .then_with(|| self.cc_version.cmp(&other.cc_version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sighting(ts: i64, output: u64, session: &str) -> Response {
        Response {
            key: message_key("msg_1", "req_1"),
            timestamp_ms: ts,
            session_id: Some(session.into()),
            project_path: Some("/p".into()),
            model: Some("claude-opus-4-6".into()),
            usage: Usage {
                input_tokens: 3,
                output_tokens: output,
                cache_write_5m_tokens: 100,
                cache_read_tokens: 1000,
                ..Usage::default()
            },
            speed: None,
            service_tier: None,
            inference_geo: None,
            is_sidechain: false,
            agent_id: None,
            origin: Origin::Assistant,
            recorded_cost_usd: None,
            cc_version: None,
            source_path: Some(format!("/f/{session}").into()),
        }
    }

    #[test]
    fn highest_output_wins_and_earliest_time_stays() {
        let mut r = sighting(1_000, 8, "a");
        r.merge(sighting(2_000, 299, "a"));
        r.merge(sighting(1_500, 1, "a"));
        assert_eq!(r.usage.output_tokens, 299);
        assert_eq!(r.timestamp_ms, 1_000);
    }

    #[test]
    fn identity_comes_from_the_earliest_sighting_even_when_usage_comes_from_later() {
        let mut r = sighting(5_000, 400, "resumed");
        r.merge(sighting(1_000, 10, "original"));
        assert_eq!(r.session_id.as_deref(), Some("original"));
        assert_eq!(r.usage.output_tokens, 400);
        assert_eq!(r.timestamp_ms, 1_000);
    }

    #[test]
    fn transcript_line_beats_echo_at_the_same_instant() {
        let mut echo = sighting(1_000, 5, "s");
        echo.origin = Origin::AgentEcho;
        echo.source_path = Some("/parent".into());
        let mut own = sighting(1_000, 5, "s");
        own.source_path = Some("/sub".into());
        echo.merge(own);
        assert_eq!(echo.origin, Origin::Assistant);
        assert_eq!(echo.source_path.as_deref(), Some("/sub"));
    }

    #[test]
    fn key_range_holds_exactly_one_message() {
        let (lo, hi) = message_key_range("msg_1");
        let inside = message_key("msg_1", "req_zzz");
        let empty_req = message_key("msg_1", "");
        let other = message_key("msg_10", "req");
        assert!(lo <= inside && inside < hi);
        assert!(lo <= empty_req && empty_req < hi);
        assert!(!(lo <= other && other < hi));
    }

    fn arb_sighting() -> impl Strategy<Value = Response> {
        (
            0i64..5,
            0u64..20,
            0u64..3,
            prop::sample::select(vec!["a", "b"]),
            any::<bool>(),
        )
            .prop_map(|(ts, out, read, session, echo)| {
                let mut r = sighting(ts, out, session);
                r.usage.cache_read_tokens = read;
                if echo {
                    r.origin = Origin::AgentEcho;
                }
                r
            })
    }

    proptest! {
        /// Merging sightings in any order gives the same response.
        #[test]
        fn merge_is_order_independent(mut sightings in prop::collection::vec(arb_sighting(), 1..8), seed in any::<u64>()) {
            let forward = sightings.clone().into_iter().reduce(|mut a, b| { a.merge(b); a }).unwrap();
            // A deterministic shuffle driven by the seed.
            let n = sightings.len();
            let mut s = seed;
            for i in (1..n).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                sightings.swap(i, (s >> 33) as usize % (i + 1));
            }
            let shuffled = sightings.into_iter().reduce(|mut a, b| { a.merge(b); a }).unwrap();
            prop_assert_eq!(forward, shuffled);
        }
    }
}
