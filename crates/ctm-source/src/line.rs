//! One transcript line in, at most one usage sighting out.
//!
//! Most bytes of a transcript are prompts, tool results and progress chatter. A line that
//! does not contain `"usage"` cannot carry usage, so it is only checked for the shape of
//! a JSON object and never parsed. The others are checked as UTF-8 once, then parsed in
//! one pass into borrowed structs that name only the fields `ctm` keeps: `message` is
//! read leniently in that pass (any shape reads, and only an assistant line asks whether
//! it was well formed), its `usage` captured raw; `data` is captured raw and parsed
//! further only on progress lines. So an odd shape on a line that carries no usage never
//! costs a usage line, and the long content of an assistant line is scanned once.
//!
//! Claude Code's `cost-state` lines (its own running cost of a session) carry no
//! `"usage"`; a short line without it is searched for `"cost-state"` too, and parsed only
//! when that is there. The other line types of today's transcripts (`queue-operation`,
//! `attachment`, `atis-latch`, `last-prompt`, `system` with `compact_boundary`) carry no
//! usage and are never counted as skipped, even when a field of theirs has an odd shape.

use std::borrow::Cow;
use std::sync::Arc;

use ctm_model::utc::{self, TimeRefused};
use ctm_model::{message_key, ClaudeCodeCost, ModelCost, Origin, Response, TextPool, Usage};
use memchr::memmem;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::fields;

/// Why a line was not used. Every skipped line is counted under one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// Not valid JSON (garbage, or a line cut short and never finished).
    NotJson,
    /// Valid JSON, but not an object (`null`, an array, a number, a string).
    NotObject,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// A usage object with a negative, absurd or mistyped count, or a malformed message.
    InvalidUsage,
    /// A usage line whose timestamp is missing or unreadable.
    BadTimestamp,
    /// A usage line whose timestamp is outside years 0000-9999 (what the store can write
    /// back: see [`ctm_model::utc`]).
    TimestampOutOfRange,
    /// A line longer than [`crate::read::MAX_LINE_BYTES`]: skipped unread, reading goes on
    /// after its newline.
    LineTooLong,
}

impl SkipReason {
    pub const ALL: [SkipReason; 7] = [
        SkipReason::NotJson,
        SkipReason::NotObject,
        SkipReason::InvalidUtf8,
        SkipReason::InvalidUsage,
        SkipReason::BadTimestamp,
        SkipReason::TimestampOutOfRange,
        SkipReason::LineTooLong,
    ];

    /// Stable snake_case name, used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::NotJson => "not_json",
            SkipReason::NotObject => "not_object",
            SkipReason::InvalidUtf8 => "invalid_utf8",
            SkipReason::InvalidUsage => "invalid_usage",
            SkipReason::BadTimestamp => "bad_timestamp",
            SkipReason::TimestampOutOfRange => "timestamp_out_of_range",
            SkipReason::LineTooLong => "line_too_long",
        }
    }
}

/// A "usage limit reached" notice: Claude Code's synthetic error line that says when the
/// limit resets. Metadata only; its text is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitNotice {
    pub timestamp_ms: i64,
    pub resets_at_s: i64,
    pub session_id: Option<String>,
}

/// What one line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum LineOutcome {
    /// A sighting of an API response.
    Response(Box<Response>),
    /// A synthetic API-error line (`<synthetic>` model, no usage), with the limit reset
    /// time when its text carries one.
    Synthetic(Option<LimitNotice>),
    /// Claude Code's own cost of a session (a `cost-state` line). `observed_at_ms` is the
    /// line's own time when it has one; the reader fills it in otherwise.
    ClaudeCost(Box<ClaudeCodeCost>),
    /// A well-formed line without usage.
    NoUsage,
    Skip(SkipReason),
}

/// Token counts above this are not a real response (a 1M-token context is the largest).
pub const ABSURD_TOKENS: i64 = 100_000_000;

const USAGE_MARKER: &[u8] = b"\"usage\"";
/// Built once: building a searcher per line showed in the first-run profile.
static USAGE_FINDER: std::sync::LazyLock<memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memmem::Finder::new(USAGE_MARKER));
const LIMIT_MARKER: &[u8] = b"usage limit reached|";
static COST_STATE_FINDER: std::sync::LazyLock<memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memmem::Finder::new(b"\"cost-state\""));
/// A `cost-state` line is a few hundred bytes per model; longer lines (tool results,
/// pasted files) are not searched for it.
const COST_STATE_MAX_LINE: usize = 64 << 10;
/// Line types that never carry usage: a line of one of them whose other fields have an
/// odd shape is still well formed, not a skipped line.
const NO_USAGE_TYPES: [&str; 6] = [
    "queue-operation",
    "attachment",
    "atis-latch",
    "last-prompt",
    "cost-state",
    "system",
];

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cwd: Option<Cow<'a, str>>,
    #[serde(rename = "isSidechain", default)]
    is_sidechain: Option<bool>,
    #[serde(rename = "agentId", borrow, default)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(rename = "requestId", borrow, default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uuid: Option<Cow<'a, str>>,
    #[serde(rename = "costUSD", default)]
    cost_usd: Option<f64>,
    #[serde(borrow, default)]
    version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<MessageFields<'a>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// A `message` as read in its line's own pass: of an object, `id`, `model` and the raw
/// `usage`. Any value reads; `well_formed` says whether it was an object whose `id` and
/// `model` are strings or null and whose fields each appear once (what a usage line
/// needs, and what a strict parse of the object would have accepted).
#[derive(Debug, Default)]
struct MessageFields<'a> {
    id: Option<Cow<'a, str>>,
    model: Option<Cow<'a, str>>,
    /// As written.
    usage: Option<&'a str>,
    well_formed: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for MessageFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MessageVisitor(std::marker::PhantomData))
    }
}

struct MessageVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for MessageVisitor<'a> {
    type Value = MessageFields<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut m = MessageFields {
            well_formed: true,
            ..MessageFields::default()
        };
        let mut seen = [false; 3];
        while let Some(key) = map.next_key::<MessageKey>()? {
            if let Some(i) = key.index() {
                m.well_formed &= !std::mem::replace(&mut seen[i], true);
            }
            match key {
                MessageKey::Id | MessageKey::Model => {
                    let value = match map.next_value::<StrOrOther>()? {
                        StrOrOther::Str(v) => v,
                        StrOrOther::Other => {
                            m.well_formed = false;
                            None
                        }
                    };
                    if key == MessageKey::Id {
                        m.id = value;
                    } else {
                        m.model = value;
                    }
                }
                MessageKey::Usage => {
                    m.usage = map.next_value::<Option<&RawValue>>()?.map(RawValue::get)
                }
                MessageKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(m)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(MessageFields::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(MessageFields::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(MessageFields::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(MessageFields::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(MessageFields::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(MessageFields::default())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(MessageFields::default())
    }
}

/// The keys of a `message` that `ctm` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageKey {
    Id,
    Model,
    Usage,
    Other,
}

impl MessageKey {
    fn index(self) -> Option<usize> {
        match self {
            MessageKey::Id => Some(0),
            MessageKey::Model => Some(1),
            MessageKey::Usage => Some(2),
            MessageKey::Other => None,
        }
    }
}

impl<'de> Deserialize<'de> for MessageKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = MessageKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, v: &str) -> Result<MessageKey, E> {
                Ok(match v {
                    "id" => MessageKey::Id,
                    "model" => MessageKey::Model,
                    "usage" => MessageKey::Usage,
                    _ => MessageKey::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// A string or null as `Str`; any other value, read past, as `Other`.
enum StrOrOther<'a> {
    Str(Option<Cow<'a, str>>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for StrOrOther<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ValueVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for ValueVisitor<'a> {
            type Value = StrOrOther<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StrOrOther::Str(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrOther::Str(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StrOrOther::Str(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StrOrOther::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StrOrOther::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StrOrOther::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StrOrOther::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(StrOrOther::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(StrOrOther::Other)
            }
        }
        d.deserialize_any(ValueVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct RawUsage<'a> {
    #[serde(default)]
    input_tokens: Option<i64>,
    #[serde(default)]
    output_tokens: Option<i64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<i64>,
    #[serde(default)]
    cache_read_input_tokens: Option<i64>,
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
    #[serde(default)]
    server_tool_use: Option<ServerToolUse>,
    #[serde(borrow, default)]
    service_tier: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    inference_geo: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    speed: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: Option<i64>,
    #[serde(default)]
    ephemeral_1h_input_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct ServerToolUse {
    #[serde(default)]
    web_search_requests: Option<i64>,
    #[serde(default)]
    web_fetch_requests: Option<i64>,
}

#[derive(Deserialize)]
struct ProgressData<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "agentId", borrow, default)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
}

/// The subagent line an `agent_progress` line echoes.
#[derive(Deserialize)]
struct Echo<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "requestId", borrow, default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<MessageFields<'a>>,
}

/// The texts a transcript's responses repeat (see [`Response`]), one shared copy of each
/// distinct value for the whole file, and the file's path, which every sighting records.
pub struct SharedTexts {
    source_path: Arc<str>,
    pool: TextPool,
}

impl SharedTexts {
    pub fn new(source_path: &str) -> SharedTexts {
        SharedTexts {
            source_path: source_path.into(),
            pool: TextPool::default(),
        }
    }

    fn share(&mut self, text: Option<&str>) -> Option<Arc<str>> {
        self.pool.share(text)
    }
}

/// Parses one line (without its line ending); its texts are shared through `texts`.
pub fn parse_line(line: &[u8], texts: &mut SharedTexts) -> LineOutcome {
    parse_with(line, texts, true)
}

/// [`parse_line`], with or without the fast pass (tests compare the two).
fn parse_with(line: &[u8], texts: &mut SharedTexts, fast: bool) -> LineOutcome {
    let line = trim_ascii(line);
    if line.is_empty() {
        return LineOutcome::NoUsage;
    }
    // Only an object can be a usage line (serde would also read a struct from an array).
    if line[0] != b'{' {
        return shape_only(line);
    }
    if USAGE_FINDER.find(line).is_none() {
        if line.len() <= COST_STATE_MAX_LINE && COST_STATE_FINDER.find(line).is_some() {
            return cost_state(line);
        }
        return shape_only(line);
    }
    // Checked whole, once: the parse below reads past the content without looking.
    let Ok(text) = simdutf8::basic::from_utf8(line) else {
        return LineOutcome::Skip(SkipReason::InvalidUtf8);
    };
    // The fast pass first; what it leaves undecided, serde decides.
    let scanned = fast.then(|| fields::scan(text)).flatten();
    let fields = match scanned.and_then(|found| Line::scanned(&found)) {
        Some(fields) => fields,
        None => match serde_json::from_str::<Envelope>(text) {
            Ok(e) => Line::parsed(e),
            Err(e) => {
                let reason = classify(&e);
                if reason == SkipReason::InvalidUsage && is_no_usage_type(text) {
                    return LineOutcome::NoUsage;
                }
                return LineOutcome::Skip(reason);
            }
        },
    };
    let fields = Line { fast, ..fields };
    decide(line, &fields, texts)
}

/// What a parsed line is.
fn decide(line: &[u8], fields: &Line, texts: &mut SharedTexts) -> LineOutcome {
    let kind = fields.kind.as_deref();
    if kind == Some("cost-state") {
        return cost_state(line);
    }
    if let (Some("assistant") | None, Some(message)) = (kind, &fields.message) {
        return assistant(line, fields, message, texts);
    }
    if let (Some("progress"), Some(data)) = (kind, &fields.data) {
        return agent_echo(fields, data, texts);
    }
    LineOutcome::NoUsage
}

/// The fields of a line that may carry usage, as the decisions read them, from either
/// parse: [`fields::scan`]'s one pass, or serde's [`Envelope`].
struct Line<'a> {
    kind: Option<Cow<'a, str>>,
    session_id: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    cwd: Option<Cow<'a, str>>,
    is_sidechain: Option<bool>,
    agent_id: Option<Cow<'a, str>>,
    request_id: Option<Cow<'a, str>>,
    uuid: Option<Cow<'a, str>>,
    cost_usd: Option<f64>,
    version: Option<Cow<'a, str>>,
    message: Option<MessageFields<'a>>,
    data: Option<Data<'a>>,
    /// Whether a `usage` is read by the fast pass first (tests compare both ways).
    fast: bool,
}

/// A line's `data`.
enum Data<'a> {
    /// As written, parsed further ([`ProgressData`], [`Echo`]) on a progress line.
    Raw(&'a str),
    /// An object the scan read: what those parses would give, `None` when one of
    /// them fails.
    Scanned(Option<Box<Progress<'a>>>),
}

/// A progress line's `data` and the subagent line it echoes.
struct Progress<'a> {
    kind: Option<Cow<'a, str>>,
    agent_id: Option<Cow<'a, str>>,
    /// The echoed line as written, when `data.message` is one.
    raw_echo: Option<&'a str>,
    echo: Option<Echo<'a>>,
}

impl<'a> Line<'a> {
    fn parsed(e: Envelope<'a>) -> Line<'a> {
        Line {
            kind: e.kind,
            session_id: e.session_id,
            timestamp: e.timestamp,
            cwd: e.cwd,
            is_sidechain: e.is_sidechain,
            agent_id: e.agent_id,
            request_id: e.request_id,
            uuid: e.uuid,
            cost_usd: e.cost_usd,
            version: e.version,
            message: e.message,
            data: e.data.map(|raw| Data::Raw(raw.get())),
            fast: true,
        }
    }

    /// The fields as serde would read them from what the scan kept; `None` where only
    /// serde can say (an escaped text to decode, a value whose type the envelope
    /// refuses, an array read as a struct).
    fn scanned(found: &fields::Found<'a>) -> Option<Line<'a>> {
        use fields::{Kind, Slot};
        let text = |slot| text_of(found.get(slot));
        Some(Line {
            kind: text(Slot::Type)?,
            session_id: text(Slot::SessionId)?,
            timestamp: text(Slot::Timestamp)?,
            cwd: text(Slot::Cwd)?,
            is_sidechain: match found.get(Slot::IsSidechain).map(|v| v.kind) {
                None | Some(Kind::Null) => None,
                Some(Kind::Bool(b)) => Some(b),
                Some(_) => return None,
            },
            agent_id: text(Slot::AgentId)?,
            request_id: text(Slot::RequestId)?,
            uuid: text(Slot::Uuid)?,
            cost_usd: match found.get(Slot::CostUsd) {
                None => None,
                Some(v) if v.kind == Kind::Null => None,
                Some(v) if v.kind == Kind::Number => Some(serde_json::from_str(v.text).ok()?),
                Some(_) => return None,
            },
            version: text(Slot::Version)?,
            message: message_of(
                found.get(Slot::Message),
                [
                    found.get(Slot::MessageId),
                    found.get(Slot::MessageModel),
                    found.get(Slot::MessageUsage),
                ],
            )?,
            data: match found.get(Slot::Data) {
                None => None,
                Some(v) if v.kind == Kind::Null => None,
                Some(v) if v.kind == Kind::Object => {
                    Some(Data::Scanned(progress_of(found)?.map(Box::new)))
                }
                // Any other value: serde reads it as it would (an array as a struct).
                Some(v) => Some(Data::Raw(v.text)),
            },
            fast: true,
        })
    }
}

/// A kept value that serde reads as `Option<Cow<str>>`: `Some(None)` for none or null,
/// `None` for what only serde decides (escapes to decode, another type to refuse).
fn text_of(v: Option<fields::Value<'_>>) -> Option<Option<Cow<'_, str>>> {
    match v.map(|v| (v.kind, v.text)) {
        None | Some((fields::Kind::Null, _)) => Some(None),
        Some((fields::Kind::Str, t)) => Some(Some(Cow::Borrowed(t))),
        Some(_) => None,
    }
}

/// A kept `message` as [`MessageFields`] reads it (`Some(None)`: none or null); `None`
/// for an escaped `id` or `model` (serde decodes those).
fn message_of<'a>(
    message: Option<fields::Value<'a>>,
    [id, model, usage]: [Option<fields::Value<'a>>; 3],
) -> Option<Option<MessageFields<'a>>> {
    use fields::Kind;
    let Some(message) = message else {
        return Some(None);
    };
    match message.kind {
        Kind::Null => return Some(None),
        // Any other value reads, as not well formed.
        Kind::Object => {}
        _ => return Some(Some(MessageFields::default())),
    }
    let mut well_formed = true;
    let mut text = |v: Option<fields::Value<'a>>| -> Option<Option<Cow<'a, str>>> {
        match v.map(|v| v.kind) {
            Some(Kind::Escaped) => None,
            Some(Kind::Null) | None => Some(None),
            Some(Kind::Str) => Some(v.map(|v| Cow::Borrowed(v.text))),
            Some(_) => {
                well_formed = false;
                Some(None)
            }
        }
    };
    let (id, model) = (text(id)?, text(model)?);
    Some(Some(MessageFields {
        id,
        model,
        usage: usage.filter(|u| u.kind != Kind::Null).map(|u| u.text),
        well_formed,
    }))
}

/// The scanned `data` object of a line as [`ProgressData`] and [`Echo`] read it:
/// `Some(None)` when either parse would fail, `None` for what only serde decides.
fn progress_of<'a>(found: &fields::Found<'a>) -> Option<Option<Progress<'a>>> {
    use fields::{Kind, Slot};
    // A field of another type fails the parse (the line then has no usage); escapes are
    // serde's to decode.
    let text = |slot| -> Option<Result<Option<Cow<'a, str>>, ()>> {
        match found.get(slot).map(|v| v.kind) {
            Some(Kind::Escaped) => None,
            Some(Kind::Str | Kind::Null) | None => Some(Ok(text_of(found.get(slot))?)),
            Some(_) => Some(Err(())),
        }
    };
    let (Ok(kind), Ok(agent_id)) = (text(Slot::DataType)?, text(Slot::DataAgentId)?) else {
        return Some(None);
    };
    let raw_echo = found
        .get(Slot::DataMessage)
        .filter(|v| v.kind != Kind::Null);
    let echo = match raw_echo.map(|v| v.kind) {
        None => None,
        Some(Kind::Object) => {
            let (Ok(kind), Ok(request_id), Ok(uuid), Ok(timestamp)) = (
                text(Slot::EchoType)?,
                text(Slot::EchoRequestId)?,
                text(Slot::EchoUuid)?,
                text(Slot::EchoTimestamp)?,
            ) else {
                return Some(None);
            };
            let message = message_of(
                found.get(Slot::EchoMessage),
                [
                    found.get(Slot::EchoMessageId),
                    found.get(Slot::EchoMessageModel),
                    found.get(Slot::EchoMessageUsage),
                ],
            )?;
            Some(Echo {
                kind,
                request_id,
                uuid,
                timestamp,
                message,
            })
        }
        // An array is read as a struct by serde.
        Some(Kind::Array) => return None,
        // Any other value is no echo: the parse fails.
        Some(_) => return Some(None),
    };
    Some(Some(Progress {
        kind,
        agent_id,
        raw_echo: raw_echo.map(|v| v.text),
        echo,
    }))
}

/// Whether a line that failed the envelope's parse is of a type that never carries usage
/// (read again for `type` alone: only on that rare error path).
fn is_no_usage_type(text: &str) -> bool {
    #[derive(Deserialize)]
    struct TypeOnly<'a> {
        #[serde(rename = "type", borrow, default)]
        kind: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<TypeOnly>(text)
        .ok()
        .and_then(|t| t.kind)
        .is_some_and(|k| NO_USAGE_TYPES.contains(&k.as_ref()))
}

#[derive(Deserialize)]
struct CostStateLine<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "totalCostUSD", default)]
    total_cost_usd: Option<f64>,
    #[serde(rename = "modelUsage", default)]
    model_usage: Option<std::collections::BTreeMap<String, CostStateModel>>,
    #[serde(rename = "hasUnknownModelCost", default)]
    has_unknown_model_cost: Option<bool>,
}

#[derive(Deserialize)]
struct CostStateModel {
    #[serde(rename = "inputTokens", default)]
    input_tokens: Option<f64>,
    #[serde(rename = "outputTokens", default)]
    output_tokens: Option<f64>,
    #[serde(rename = "cacheReadInputTokens", default)]
    cache_read_input_tokens: Option<f64>,
    #[serde(rename = "cacheCreationInputTokens", default)]
    cache_creation_input_tokens: Option<f64>,
    #[serde(rename = "webSearchRequests", default)]
    web_search_requests: Option<f64>,
    #[serde(rename = "costUSD", default)]
    cost_usd: Option<f64>,
}

/// More than this is not one session's cost but a damaged figure.
const MAX_SESSION_COST_USD: f64 = 1e9;

/// A `cost-state` line. Malformed JSON is a bad line like any other; a well-formed one
/// whose figures cannot be used (no session, a negative or absurd cost) is ignored,
/// never stored as if it were a figure.
fn cost_state(line: &[u8]) -> LineOutcome {
    let Ok(text) = std::str::from_utf8(line) else {
        return LineOutcome::Skip(SkipReason::InvalidUtf8);
    };
    let parsed: CostStateLine = match serde_json::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            return match classify(&e) {
                SkipReason::InvalidUsage => LineOutcome::NoUsage,
                other => LineOutcome::Skip(other),
            }
        }
    };
    let usable = |v: f64, max: f64| v.is_finite() && (0.0..=max).contains(&v);
    let (Some("cost-state"), Some(session), Some(total)) = (
        parsed.kind.as_deref(),
        parsed.session_id.as_deref().filter(|s| !s.is_empty()),
        parsed.total_cost_usd,
    ) else {
        return LineOutcome::NoUsage;
    };
    if !usable(total, MAX_SESSION_COST_USD) {
        return LineOutcome::NoUsage;
    }
    let count = |v: Option<f64>| -> Option<u64> {
        match v {
            None => Some(0),
            Some(n) if usable(n, 1e15) => Some(n as u64),
            Some(_) => None,
        }
    };
    let mut models = Vec::new();
    for (name, m) in parsed.model_usage.into_iter().flatten() {
        let cost = m.cost_usd.unwrap_or(0.0);
        let (Some(i), Some(o), Some(r), Some(w), Some(ws)) = (
            count(m.input_tokens),
            count(m.output_tokens),
            count(m.cache_read_input_tokens),
            count(m.cache_creation_input_tokens),
            count(m.web_search_requests),
        ) else {
            return LineOutcome::NoUsage;
        };
        if !usable(cost, MAX_SESSION_COST_USD) {
            return LineOutcome::NoUsage;
        }
        models.push(ModelCost {
            model: without_tag(&name).to_owned(),
            input_tokens: i,
            output_tokens: o,
            cache_read_input_tokens: r,
            cache_creation_input_tokens: w,
            web_search_requests: ws,
            cost_usd: cost,
        });
    }
    LineOutcome::ClaudeCost(Box::new(ClaudeCodeCost {
        session_id: session.to_owned(),
        total_cost_usd: total,
        observed_at_ms: parsed
            .timestamp
            .as_deref()
            .and_then(|t| utc::parse_rfc3339(t).ok()),
        models,
        has_unknown_model_cost: parsed.has_unknown_model_cost.unwrap_or(false),
    }))
}

/// A model name without Claude Code's setting tag (`claude-opus-5-5[1m]`): transcripts
/// name the model without it.
fn without_tag(name: &str) -> &str {
    let name = name.trim();
    match (name.ends_with(']'), name.rfind('[')) {
        (true, Some(open)) => name[..open].trim_end(),
        _ => name,
    }
}

/// The usage of a message that must carry it: `None` when it has none, else its
/// counts, or the skip for a message or usage of the wrong shape.
fn message_usage<'a>(
    message: &'a MessageFields,
    fast: bool,
) -> Option<Result<RawUsage<'a>, SkipReason>> {
    if !message.well_formed {
        return Some(Err(SkipReason::InvalidUsage));
    }
    let raw = message.usage?;
    if fast {
        if let Some(usage) = fields::scan_usage(raw).and_then(|f| RawUsage::scanned(&f)) {
            return Some(Ok(usage));
        }
    }
    Some(serde_json::from_str::<RawUsage>(raw).map_err(|_| SkipReason::InvalidUsage))
}

impl<'a> RawUsage<'a> {
    /// The usage as serde would read it from what the scan kept; `None` where only
    /// serde can say (a count that is not a plain non-negative integer, escapes, a value
    /// of another type).
    fn scanned(found: &fields::Found<'a>) -> Option<RawUsage<'a>> {
        use fields::{Kind, Slot};
        let count = |slot| -> Option<Option<i64>> {
            match found.get(slot) {
                None => Some(None),
                Some(v) if v.kind == Kind::Null => Some(None),
                // Digits only (no sign, fraction or exponent), within i64.
                Some(v) if v.kind == Kind::Number && v.text.bytes().all(|b| b.is_ascii_digit()) => {
                    v.text.parse::<i64>().ok().map(Some)
                }
                Some(_) => None,
            }
        };
        let nested = |slot| -> Option<Option<()>> {
            match found.get(slot).map(|v| v.kind) {
                None | Some(Kind::Null) => Some(None),
                Some(Kind::Object) => Some(Some(())),
                Some(_) => None,
            }
        };
        let cache_creation = match nested(Slot::CacheCreation)? {
            None => None,
            Some(()) => Some(CacheCreation {
                ephemeral_5m_input_tokens: count(Slot::Ephemeral5m)?,
                ephemeral_1h_input_tokens: count(Slot::Ephemeral1h)?,
            }),
        };
        let server_tool_use = match nested(Slot::ServerToolUse)? {
            None => None,
            Some(()) => Some(ServerToolUse {
                web_search_requests: count(Slot::WebSearchRequests)?,
                web_fetch_requests: count(Slot::WebFetchRequests)?,
            }),
        };
        Some(RawUsage {
            input_tokens: count(Slot::InputTokens)?,
            output_tokens: count(Slot::OutputTokens)?,
            cache_creation_input_tokens: count(Slot::CacheCreationInputTokens)?,
            cache_read_input_tokens: count(Slot::CacheReadInputTokens)?,
            cache_creation,
            server_tool_use,
            service_tier: text_of(found.get(Slot::ServiceTier))?,
            inference_geo: text_of(found.get(Slot::InferenceGeo))?,
            speed: text_of(found.get(Slot::Speed))?,
        })
    }
}

fn assistant(
    line: &[u8],
    env: &Line,
    message: &MessageFields,
    texts: &mut SharedTexts,
) -> LineOutcome {
    let raw_usage = match message_usage(message, env.fast) {
        None => return LineOutcome::NoUsage,
        Some(Err(reason)) => return LineOutcome::Skip(reason),
        Some(Ok(u)) => u,
    };
    if message.model.as_deref() == Some("<synthetic>") {
        return synthetic(line, env);
    }
    let sighting = Sighting {
        request_id: env.request_id.as_deref(),
        uuid: env.uuid.as_deref(),
        timestamp: env.timestamp.as_deref(),
        agent_id: env.agent_id.as_deref(),
        is_sidechain: env.is_sidechain.unwrap_or(false),
        origin: Origin::Assistant,
        recorded_cost_usd: env.cost_usd,
        key_bytes: line,
    };
    response(env, message, &raw_usage, &sighting, texts)
}

fn agent_echo(env: &Line, data: &Data, texts: &mut SharedTexts) -> LineOutcome {
    let parsed;
    let progress = match data {
        Data::Raw(raw) => {
            parsed = parse_progress(raw);
            parsed.as_ref()
        }
        Data::Scanned(p) => p.as_deref(),
    };
    let Some(Progress {
        kind: Some(kind),
        agent_id,
        raw_echo: Some(raw_echo),
        echo: Some(echo),
    }) = progress
    else {
        return LineOutcome::NoUsage;
    };
    if kind != "agent_progress" {
        return LineOutcome::NoUsage;
    }
    let (Some("assistant"), Some(message)) = (echo.kind.as_deref(), &echo.message) else {
        return LineOutcome::NoUsage;
    };
    let raw_usage = match message_usage(message, env.fast) {
        None => return LineOutcome::NoUsage,
        Some(Err(reason)) => return LineOutcome::Skip(reason),
        Some(Ok(u)) => u,
    };
    if message.model.as_deref() == Some("<synthetic>") {
        return LineOutcome::Synthetic(None);
    }
    let sighting = Sighting {
        request_id: echo.request_id.as_deref(),
        uuid: echo.uuid.as_deref(),
        timestamp: echo.timestamp.as_deref().or(env.timestamp.as_deref()),
        agent_id: agent_id.as_deref(),
        // An echo is a subagent's response, whatever the parent line says.
        is_sidechain: true,
        origin: Origin::AgentEcho,
        recorded_cost_usd: None,
        key_bytes: raw_echo.as_bytes(),
    };
    response(env, message, &raw_usage, &sighting, texts)
}

/// A progress line's `data` as written, parsed by serde: `None` when it is no progress
/// data.
fn parse_progress(raw: &str) -> Option<Progress<'_>> {
    let data = serde_json::from_str::<ProgressData>(raw).ok()?;
    let raw_echo = data.message.map(RawValue::get);
    let echo = match raw_echo {
        Some(raw) => Some(serde_json::from_str::<Echo>(raw).ok()?),
        None => None,
    };
    Some(Progress {
        kind: data.kind,
        agent_id: data.agent_id,
        raw_echo,
        echo,
    })
}

/// What differs between an assistant line and a parent's echo of one.
struct Sighting<'a> {
    request_id: Option<&'a str>,
    uuid: Option<&'a str>,
    timestamp: Option<&'a str>,
    agent_id: Option<&'a str>,
    is_sidechain: bool,
    origin: Origin,
    recorded_cost_usd: Option<f64>,
    /// Hashed into the key when there is neither a message id nor a uuid.
    key_bytes: &'a [u8],
}

fn response(
    env: &Line,
    message: &MessageFields,
    raw_usage: &RawUsage,
    s: &Sighting,
    texts: &mut SharedTexts,
) -> LineOutcome {
    let usage = match validate(raw_usage) {
        Ok(u) => u,
        Err(reason) => return LineOutcome::Skip(reason),
    };
    let timestamp_ms = match s.timestamp.map(utc::parse_rfc3339) {
        Some(Ok(ms)) => ms,
        Some(Err(TimeRefused::OutOfRange)) => {
            return LineOutcome::Skip(SkipReason::TimestampOutOfRange)
        }
        Some(Err(TimeRefused::Unreadable)) | None => {
            return LineOutcome::Skip(SkipReason::BadTimestamp)
        }
    };
    LineOutcome::Response(Box::new(Response {
        key: response_key(message.id.as_deref(), s.request_id, s.uuid, s.key_bytes),
        timestamp_ms,
        session_id: texts.share(env.session_id.as_deref()),
        project_path: texts.share(env.cwd.as_deref()),
        model: texts.share(message.model.as_deref()),
        usage,
        speed: texts.share(raw_usage.speed.as_deref()),
        service_tier: texts.share(raw_usage.service_tier.as_deref()),
        inference_geo: texts.share(raw_usage.inference_geo.as_deref()),
        is_sidechain: s.is_sidechain,
        agent_id: texts.share(s.agent_id),
        origin: s.origin,
        recorded_cost_usd: s.recorded_cost_usd,
        cc_version: texts.share(env.version.as_deref()),
        source_path: Some(texts.source_path.clone()),
    }))
}

fn synthetic(line: &[u8], env: &Line) -> LineOutcome {
    let notice = memmem::find(line, LIMIT_MARKER).and_then(|at| {
        let digits = &line[at + LIMIT_MARKER.len()..];
        let end = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        let resets_at_s: i64 = std::str::from_utf8(&digits[..end]).ok()?.parse().ok()?;
        let timestamp_ms = utc::parse_rfc3339(env.timestamp.as_deref()?).ok()?;
        Some(LimitNotice {
            timestamp_ms,
            resets_at_s,
            session_id: owned(&env.session_id),
        })
    });
    LineOutcome::Synthetic(notice)
}

fn validate(raw: &RawUsage) -> Result<Usage, SkipReason> {
    let count = |v: Option<i64>| -> Result<u64, SkipReason> {
        match v {
            None => Ok(0),
            Some(n) if (0..=ABSURD_TOKENS).contains(&n) => Ok(n as u64),
            Some(_) => Err(SkipReason::InvalidUsage),
        }
    };
    let cache_total = count(raw.cache_creation_input_tokens)?;
    let (w5m, w1h) = match &raw.cache_creation {
        Some(c) => {
            let w5m = count(c.ephemeral_5m_input_tokens)?;
            let w1h = count(c.ephemeral_1h_input_tokens)?;
            // Writes the breakdown does not explain are billed at the 5-minute rate.
            (w5m + cache_total.saturating_sub(w5m + w1h), w1h)
        }
        None => (cache_total, 0),
    };
    let tools = raw.server_tool_use.as_ref();
    Ok(Usage {
        input_tokens: count(raw.input_tokens)?,
        output_tokens: count(raw.output_tokens)?,
        cache_write_5m_tokens: w5m,
        cache_write_1h_tokens: w1h,
        cache_read_tokens: count(raw.cache_read_input_tokens)?,
        web_search_requests: count(tools.and_then(|t| t.web_search_requests))?,
        web_fetch_requests: count(tools.and_then(|t| t.web_fetch_requests))?,
    })
}

fn response_key(
    message_id: Option<&str>,
    request_id: Option<&str>,
    uuid: Option<&str>,
    line: &[u8],
) -> String {
    match (message_id, uuid) {
        (Some(id), _) if !id.is_empty() => message_key(id, request_id.unwrap_or("")),
        (_, Some(uuid)) if !uuid.is_empty() => format!("u:{uuid}"),
        _ => format!("h:{:032x}", xxhash_rust::xxh3::xxh3_128(line)),
    }
}

fn owned(v: &Option<Cow<str>>) -> Option<String> {
    v.as_deref().map(str::to_owned)
}

/// Cheap check of a line that is not parsed: it must look like one JSON object, which
/// opens with `{"` (or is `{}`) and closes with `}`.
fn shape_only(line: &[u8]) -> LineOutcome {
    let after_brace = line.get(1..).map(trim_ascii).and_then(|rest| rest.first());
    match (line.first(), line.last()) {
        (Some(b'{'), Some(b'}')) if matches!(after_brace, Some(b'"' | b'}')) => {
            LineOutcome::NoUsage
        }
        (Some(b'[' | b'"' | b'-' | b'0'..=b'9'), _) => LineOutcome::Skip(SkipReason::NotObject),
        _ if matches!(line, b"null" | b"true" | b"false") => {
            LineOutcome::Skip(SkipReason::NotObject)
        }
        _ => LineOutcome::Skip(SkipReason::NotJson),
    }
}

fn classify(err: &serde_json::Error) -> SkipReason {
    match err.classify() {
        serde_json::error::Category::Data => SkipReason::InvalidUsage,
        _ => SkipReason::NotJson,
    }
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSISTANT: &str = r#"{"parentUuid":"p","isSidechain":false,"cwd":"/home/u/app","sessionId":"s1","version":"2.1.38","message":{"model":"claude-opus-4-6","id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"usage is fine"}],"usage":{"input_tokens":3,"cache_creation_input_tokens":13835,"cache_read_input_tokens":11515,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":13835},"output_tokens":13,"service_tier":"standard","inference_geo":"not_available"}},"requestId":"req_1","type":"assistant","uuid":"u1","timestamp":"2026-02-10T21:11:59.186Z"}"#;

    fn response(line: &str) -> Response {
        match parse_line(line.as_bytes(), &mut SharedTexts::new("/f.jsonl")) {
            LineOutcome::Response(r) => *r,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    #[test]
    fn assistant_line_gives_a_sighting() {
        let r = response(ASSISTANT);
        assert_eq!(r.key, "m:msg_1:req_1");
        assert_eq!(r.session_id.as_deref(), Some("s1"));
        assert_eq!(r.project_path.as_deref(), Some("/home/u/app"));
        assert_eq!(r.model.as_deref(), Some("claude-opus-4-6"));
        assert_eq!(r.timestamp_ms, 1_770_757_919_186);
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 3,
                output_tokens: 13,
                cache_write_5m_tokens: 0,
                cache_write_1h_tokens: 13835,
                cache_read_tokens: 11515,
                web_search_requests: 0,
                web_fetch_requests: 0
            }
        );
        assert!(!r.is_sidechain);
        assert_eq!(r.origin, Origin::Assistant);
    }

    #[test]
    fn missing_cache_breakdown_bills_writes_at_five_minutes() {
        let line = ASSISTANT.replace(
            r#""cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":13835},"#,
            "",
        );
        let r = response(&line);
        assert_eq!(r.usage.cache_write_5m_tokens, 13835);
        assert_eq!(r.usage.cache_write_1h_tokens, 0);
    }

    #[test]
    fn offset_timestamps_are_the_same_instant() {
        let r = response(
            &ASSISTANT.replace("2026-02-10T21:11:59.186Z", "2026-02-11T06:11:59.186+09:00"),
        );
        assert_eq!(r.timestamp_ms, 1_770_757_919_186);
    }

    #[test]
    fn agent_progress_echo_is_a_sidechain_sighting() {
        let line = r#"{"type":"progress","sessionId":"parent","cwd":"/home/u/app","isSidechain":false,"timestamp":"2026-02-12T14:12:36.000Z","data":{"type":"agent_progress","agentId":"aac57f5","message":{"type":"assistant","requestId":"req_9","uuid":"e1","timestamp":"2026-02-12T14:12:35.862Z","message":{"id":"msg_9","model":"claude-haiku-4-5-20251001","usage":{"input_tokens":1,"output_tokens":3}}}}}"#;
        let r = response(line);
        assert_eq!(r.key, "m:msg_9:req_9");
        assert_eq!(r.origin, Origin::AgentEcho);
        assert!(r.is_sidechain);
        assert_eq!(r.agent_id.as_deref(), Some("aac57f5"));
        assert_eq!(r.session_id.as_deref(), Some("parent"));
        assert_eq!(r.timestamp_ms, jiff_ms("2026-02-12T14:12:35.862Z"));
    }

    fn jiff_ms(s: &str) -> i64 {
        utc::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn lines_without_message_id_get_their_own_key() {
        let no_id = ASSISTANT.replace(r#""id":"msg_1","#, "");
        assert_eq!(response(&no_id).key, "u:u1");
        let neither = no_id.replace(r#""uuid":"u1","#, "");
        let key = response(&neither).key;
        assert!(key.starts_with("h:") && key.len() == 34, "{key}");
        assert_eq!(response(&neither).key, key, "the hash is stable");
    }

    #[test]
    fn synthetic_limit_line_gives_the_reset_time() {
        let line = r#"{"type":"assistant","sessionId":"s","timestamp":"2026-01-01T10:00:00Z","isApiErrorMessage":true,"message":{"id":"x","model":"<synthetic>","content":[{"type":"text","text":"Claude AI usage limit reached|1767268800"}],"usage":{"input_tokens":0,"output_tokens":0}}}"#;
        assert_eq!(
            parse_line(line.as_bytes(), &mut SharedTexts::new("f")),
            LineOutcome::Synthetic(Some(LimitNotice {
                timestamp_ms: jiff_ms("2026-01-01T10:00:00Z"),
                resets_at_s: 1_767_268_800,
                session_id: Some("s".into())
            }))
        );
    }

    fn skip(l: &[u8]) -> Option<SkipReason> {
        match parse_line(l, &mut SharedTexts::new("f")) {
            LineOutcome::Skip(r) => Some(r),
            _ => None,
        }
    }

    #[test]
    fn bad_lines_are_classified() {
        assert_eq!(skip(b"null"), Some(SkipReason::NotObject));
        assert_eq!(skip(b"[1,2]"), Some(SkipReason::NotObject));
        assert_eq!(skip(br#"["usage"]"#), Some(SkipReason::NotObject));
        assert_eq!(skip(b"42"), Some(SkipReason::NotObject));
        assert_eq!(skip(b"hello"), Some(SkipReason::NotJson));
        assert_eq!(skip(b"{'type': 'assistant'}"), Some(SkipReason::NotJson));
        assert_eq!(
            parse_line(b"{ }", &mut SharedTexts::new("f")),
            LineOutcome::NoUsage
        );
        assert_eq!(
            skip(br#"{"type":"assistant","message":{"usage":{"input_tok"#),
            Some(SkipReason::NotJson)
        );
        assert_eq!(
            skip(&ASSISTANT.as_bytes()[..200]),
            Some(SkipReason::NotJson)
        );
        let mut bad_utf8 = ASSISTANT.as_bytes().to_vec();
        let at = ASSISTANT.find("usage is fine").unwrap();
        bad_utf8[at] = 0xFF;
        assert_eq!(skip(&bad_utf8), Some(SkipReason::InvalidUtf8));
        for bad in [
            r#""output_tokens":-5"#,
            r#""output_tokens":1000000000000"#,
            r#""output_tokens":"13""#,
            r#""output_tokens":1.5"#,
        ] {
            let line = ASSISTANT.replace(r#""output_tokens":13"#, bad);
            assert_eq!(
                skip(line.as_bytes()),
                Some(SkipReason::InvalidUsage),
                "{bad}"
            );
        }
        let no_ts = ASSISTANT.replace(r#","timestamp":"2026-02-10T21:11:59.186Z""#, "");
        assert_eq!(skip(no_ts.as_bytes()), Some(SkipReason::BadTimestamp));
        let bad_ts = ASSISTANT.replace("2026-02-10T21:11:59.186Z", "yesterday");
        assert_eq!(skip(bad_ts.as_bytes()), Some(SkipReason::BadTimestamp));
    }

    /// A year the store could not write back (a sign, six digits, or an offset that moves
    /// year 0000 into year -1) is its own counted skip, never a stored time.
    #[test]
    fn times_outside_years_0000_to_9999_are_skipped_as_out_of_range() {
        for out in [
            "-000001-06-01T00:00:00Z",
            "+010000-06-01T00:00:00Z",
            "0000-01-01T00:00:00+00:01",
        ] {
            let line = ASSISTANT.replace("2026-02-10T21:11:59.186Z", out);
            assert_eq!(
                skip(line.as_bytes()),
                Some(SkipReason::TimestampOutOfRange),
                "{out}"
            );
        }
        let first = ASSISTANT.replace("2026-02-10T21:11:59.186Z", "0000-01-01T00:00:00Z");
        assert_eq!(response(&first).timestamp_ms, utc::EARLIEST_MS);
    }

    #[test]
    fn null_and_missing_fields_are_tolerated() {
        let line = r#"{"type":"assistant","sessionId":null,"cwd":null,"timestamp":"2026-01-01T00:00:00Z","requestId":null,"message":{"id":"m","model":null,"usage":{"input_tokens":null,"output_tokens":5}}}"#;
        let r = response(line);
        assert_eq!(r.usage.output_tokens, 5);
        assert_eq!(r.usage.input_tokens, 0);
        assert_eq!(r.session_id, None);
        assert_eq!(r.key, "m:m:");
    }

    #[test]
    fn lines_without_usage_are_not_parsed_but_shape_checked() {
        assert_eq!(
            parse_line(
                br#"{"type":"user","message":{"content":"hi"}}"#,
                &mut SharedTexts::new("f")
            ),
            LineOutcome::NoUsage
        );
        assert_eq!(
            parse_line(b"   ", &mut SharedTexts::new("f")),
            LineOutcome::NoUsage
        );
        // Mentions "usage" in a prompt: parsed, and still no usage.
        assert_eq!(
            parse_line(
                br#"{"type":"user","message":{"role":"user","content":"what is \"usage\"?"}}"#,
                &mut SharedTexts::new("f")
            ),
            LineOutcome::NoUsage
        );
        // A progress line whose data has an unexpected shape is not a usage line.
        assert_eq!(
            parse_line(
                br#"{"type":"progress","data":{"type":"agent_progress","message":"usage"}}"#,
                &mut SharedTexts::new("f")
            ),
            LineOutcome::NoUsage
        );
    }

    #[test]
    fn nested_cache_creation_is_used_when_the_flat_field_is_zero() {
        // Claude Code before 2.1.152 sometimes wrote cache_creation_input_tokens: 0 beside
        // a breakdown that holds the real writes.
        let line = ASSISTANT.replace(
            r#""cache_creation_input_tokens":13835"#,
            r#""cache_creation_input_tokens":0"#,
        );
        let line = line.replace(
            r#""ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":13835"#,
            r#""ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":13835"#,
        );
        let r = response(&line);
        assert_eq!(r.usage.cache_write_5m_tokens, 200);
        assert_eq!(r.usage.cache_write_1h_tokens, 13835);
        assert_eq!(r.usage.cache_creation_tokens(), 14035);
        // A flat total above the breakdown bills the rest at the 5-minute rate.
        let line = ASSISTANT.replace(
            r#""cache_creation_input_tokens":13835"#,
            r#""cache_creation_input_tokens":14000"#,
        );
        let r = response(&line);
        assert_eq!(
            (r.usage.cache_write_5m_tokens, r.usage.cache_write_1h_tokens),
            (165, 13835)
        );
    }

    #[test]
    fn todays_usage_fields_are_read() {
        let line = ASSISTANT.replace(
            r#""inference_geo":"not_available""#,
            r#""inference_geo":"us","speed":"fast","output_tokens_details":{"thinking_tokens":9}"#,
        );
        let r = response(&line);
        assert_eq!(r.inference_geo.as_deref(), Some("us"));
        assert_eq!(r.speed.as_deref(), Some("fast"));
        assert_eq!(
            r.usage.output_tokens, 13,
            "thinking tokens are inside output_tokens"
        );
    }

    const COST_STATE: &str = r#"{"type":"cost-state","sessionId":"s1","totalCostUSD":1.25,"totalAPIDuration":81234,"totalToolDuration":5400,"totalLinesAdded":12,"totalLinesRemoved":3,"modelUsage":{"claude-opus-5-5[1m]":{"inputTokens":1200,"outputTokens":3400,"thinkingTokens":200,"cacheReadInputTokens":90000,"cacheCreationInputTokens":5000,"webSearchRequests":1,"costUSD":1.2},"claude-haiku-5-5":{"inputTokens":10,"outputTokens":20,"thinkingTokens":0,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.05}},"hasUnknownModelCost":false}"#;

    fn outcome(line: &str) -> LineOutcome {
        parse_line(line.as_bytes(), &mut SharedTexts::new("f"))
    }

    #[test]
    fn cost_state_lines_give_claude_codes_own_cost() {
        let LineOutcome::ClaudeCost(c) = outcome(COST_STATE) else {
            panic!("{:?}", outcome(COST_STATE));
        };
        assert_eq!(c.session_id, "s1");
        assert_eq!(c.total_cost_usd, 1.25);
        assert_eq!(c.observed_at_ms, None);
        assert!(!c.has_unknown_model_cost);
        let names: Vec<&str> = c.models.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(
            names,
            ["claude-haiku-5-5", "claude-opus-5-5"],
            "[1m] is dropped"
        );
        let opus = &c.models[1];
        assert_eq!(
            (
                opus.input_tokens,
                opus.output_tokens,
                opus.cache_read_input_tokens,
                opus.cache_creation_input_tokens,
                opus.web_search_requests,
                opus.cost_usd
            ),
            (1200, 3400, 90000, 5000, 1, 1.2)
        );
        // With a time of its own, and with its keys in another order.
        let timed = COST_STATE.replace(
            r#"{"type":"cost-state","#,
            r#"{"timestamp":"2026-12-01T10:00:00Z","hasUnknownModelCost":true,"type":"cost-state","#,
        );
        let timed = timed.replace(r#","hasUnknownModelCost":false}"#, "}");
        let LineOutcome::ClaudeCost(c) = outcome(&timed) else {
            panic!();
        };
        assert_eq!(c.observed_at_ms, Some(1_796_119_200_000));
        assert!(c.has_unknown_model_cost);
        // Unusable figures are ignored, not stored and not counted as bad lines.
        for bad in [
            COST_STATE.replace("1.25", "-1"),
            COST_STATE.replace(r#""sessionId":"s1","#, ""),
            COST_STATE.replace(r#""costUSD":1.2"#, r#""costUSD":"lots""#),
            COST_STATE.replace(r#""inputTokens":1200"#, r#""inputTokens":-4"#),
            COST_STATE.replace("1.25", "1e300"),
        ] {
            assert_eq!(outcome(&bad), LineOutcome::NoUsage, "{bad}");
        }
        // A cost-state line cut short is a bad line like any other.
        assert_eq!(
            outcome(&COST_STATE[..COST_STATE.len() / 2]),
            LineOutcome::Skip(SkipReason::NotJson)
        );
        // The words in a prompt are not a cost-state line.
        assert_eq!(
            outcome(r#"{"type":"user","message":{"content":"write a \"cost-state\" line"}}"#),
            LineOutcome::NoUsage
        );
    }

    #[test]
    fn todays_line_types_are_recognised_never_skipped() {
        let lines = [
            r#"{"type":"queue-operation","operation":"enqueue","timestamp":"2026-12-01T10:00:00.000Z","sessionId":"s1","content":"run the tests"}"#,
            r#"{"type":"queue-operation","operation":"dequeue","timestamp":"2026-12-01T10:00:01.000Z","sessionId":"s1"}"#,
            r#"{"parentUuid":"p","isSidechain":false,"type":"attachment","attachment":{"type":"hook_additional_context","content":["usage of the API is fine"],"hookName":"SessionStart"},"uuid":"u","timestamp":"2026-12-01T10:00:00.000Z","sessionId":"s1","cwd":"/p","version":"2.1.293"}"#,
            r#"{"type":"atis-latch","sessionId":"s1","timestamp":"2026-12-01T10:00:00.000Z","latched":true}"#,
            r#"{"type":"last-prompt","lastPrompt":"fix the \"usage\" report","sessionId":"s1"}"#,
            r#"{"parentUuid":null,"logicalParentUuid":"x","isSidechain":false,"type":"system","subtype":"compact_boundary","content":"Conversation compacted","isMeta":false,"timestamp":"2026-12-01T10:00:00.000Z","uuid":"u2","level":"info","compactMetadata":{"trigger":"auto","preTokens":187000,"postTokens":21000,"durationMs":31000},"sessionId":"s1"}"#,
            // Odd shapes in fields ctm reads (cwd a number, version an object), on lines that
            // mention "usage": still not bad lines.
            r#"{"type":"attachment","cwd":7,"version":{"v":1},"attachment":{"usage":{"n":1}},"sessionId":"s1"}"#,
            r#"{"type":"system","subtype":"compact_boundary","cwd":["x"],"compactMetadata":{"usage":1}}"#,
            r#"{"type":"queue-operation","sessionId":5,"content":{"usage":2}}"#,
        ];
        for line in lines {
            assert_eq!(outcome(line), LineOutcome::NoUsage, "{line}");
        }
    }

    /// How a generated usage line is damaged before parsing, and what must come out.
    #[derive(Debug, Clone)]
    enum Damage {
        None,
        /// The message id is a number: a strict read of the message fails.
        IdNumber,
        /// `message` is a string, not an object.
        MessageString,
        /// `usage` appears twice in the message.
        UsageTwice,
        /// A byte that is not UTF-8 inside the content.
        BadByte,
        /// The line is cut at this fraction of its length.
        Cut(u8),
    }

    fn field(name: &str, value: &serde_json::Value) -> String {
        format!("{}:{}", serde_json::Value::from(name), value)
    }

    /// One object's text from fields in the given order (serde_json's own maps sort
    /// their keys; Claude Code's do not).
    fn object(fields: &[String], order: &[usize]) -> String {
        let ordered: Vec<&str> = order.iter().map(|&i| fields[i].as_str()).collect();
        format!("{{{}}}", ordered.join(","))
    }

    fn order(n: usize) -> impl proptest::strategy::Strategy<Value = Vec<usize>> {
        proptest::sample::subsequence((0..n).collect::<Vec<_>>(), n).prop_shuffle()
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Assistant lines and their agent echoes, with any content (quotes, escapes,
        /// non-ASCII, the word "usage", nested objects), fields in any order and unknown
        /// fields: the sighting is exactly what was written; damaged lines are skipped
        /// for the right reason and never counted.
        #[test]
        fn usage_lines_read_exactly_and_damage_is_classified(
            id in "[a-zA-Z0-9_]{1,16}",
            request in "[a-zA-Z0-9_]{0,12}",
            model in prop::sample::select(vec!["claude-opus-4-6", "claude-sonnet-4-5", "<synthetic>", "x\"y"]),
            tokens in prop::array::uniform4(0i64..2_000_000),
            texts in prop::collection::vec("(\\PC|\"|\\\\|usage|\"usage\":)*", 0..4),
            message_order in order(6),
            envelope_order in order(7),
            echo in any::<bool>(),
            damage in prop_oneof![
                4 => Just(Damage::None),
                1 => Just(Damage::IdNumber),
                1 => Just(Damage::MessageString),
                1 => Just(Damage::UsageTwice),
                1 => Just(Damage::BadByte),
                1 => (1u8..100).prop_map(Damage::Cut),
            ],
        ) {
            use serde_json::{json, Value};
            let usage = json!({
                "input_tokens": tokens[0], "output_tokens": tokens[1],
                "cache_creation_input_tokens": tokens[2], "cache_read_input_tokens": tokens[3],
                "service_tier": "standard",
            });
            let content: Vec<Value> = texts
                .iter()
                .map(|t| json!({"type": "text", "text": t, "meta": {"usage": {"n": 1}}}))
                .collect();
            let id_value = match damage {
                Damage::IdNumber => json!(7),
                _ => json!(id),
            };
            let mut message_fields = vec![
                field("id", &id_value),
                field("model", &json!(model)),
                field("type", &json!("message")),
                field("role", &json!("assistant")),
                field("content", &Value::Array(content)),
                field("usage", &usage),
            ];
            if matches!(damage, Damage::UsageTwice) {
                message_fields[2] = field("usage", &usage);
            }
            let message = match damage {
                Damage::MessageString => json!("usage").to_string(),
                _ => object(&message_fields, &message_order),
            };
            let inner_fields = [
                format!("\"message\":{message}"),
                field("type", &json!("assistant")),
                field("requestId", &json!(request)),
                field("uuid", &json!("u-1")),
                field("timestamp", &json!("2026-03-01T12:00:00.250Z")),
                field("sessionId", &json!("s-1")),
                field("cwd", &json!("/home/u/app")),
            ];
            let mut line = object(&inner_fields, &envelope_order);
            if echo {
                line = format!(
                    r#"{{"type":"progress","sessionId":"s-1","cwd":"/home/u/app","timestamp":"2026-03-01T12:00:01Z","data":{{"type":"agent_progress","agentId":"a1","message":{line}}}}}"#
                );
            }
            let mut bytes = line.into_bytes();
            match damage {
                Damage::BadByte => {
                    let at = bytes.windows(8).position(|w| w == b"\"text\":\"").map(|i| i + 8);
                    match at {
                        Some(at) => bytes.insert(at, 0xFF),
                        None => bytes.insert(bytes.len() - 1, 0xFF),
                    }
                }
                Damage::Cut(percent) => bytes.truncate(bytes.len() * usize::from(percent) / 100),
                _ => {}
            }
            let out = parse_line(&bytes, &mut SharedTexts::new("/f.jsonl"));
            let synthetic = model == "<synthetic>";
            match damage {
                Damage::None if synthetic => {
                    prop_assert!(matches!(out, LineOutcome::Synthetic(_)), "{out:?}");
                }
                Damage::None => {
                    let LineOutcome::Response(r) = out else {
                        return Err(TestCaseError::fail(format!("{out:?}")));
                    };
                    prop_assert_eq!(&r.key, &format!("m:{id}:{request}"));
                    prop_assert_eq!(r.model.as_deref(), Some(model));
                    prop_assert_eq!(r.usage.input_tokens, tokens[0] as u64);
                    prop_assert_eq!(r.usage.output_tokens, tokens[1] as u64);
                    prop_assert_eq!(r.usage.cache_write_5m_tokens, tokens[2] as u64);
                    prop_assert_eq!(r.usage.cache_read_tokens, tokens[3] as u64);
                    prop_assert_eq!(r.session_id.as_deref(), Some("s-1"));
                    prop_assert_eq!(r.timestamp_ms, jiff_ms("2026-03-01T12:00:00.250Z"));
                    prop_assert_eq!(r.is_sidechain, echo);
                }
                Damage::IdNumber | Damage::MessageString | Damage::UsageTwice => {
                    prop_assert_eq!(out, LineOutcome::Skip(SkipReason::InvalidUsage));
                }
                Damage::BadByte => prop_assert_eq!(out, LineOutcome::Skip(SkipReason::InvalidUtf8)),
                // A cut inside a character leaves bytes that are not UTF-8, which a line
                // naming "usage" is skipped for first.
                Damage::Cut(_) => prop_assert!(
                    matches!(out, LineOutcome::Skip(SkipReason::NotJson) | LineOutcome::NoUsage)
                        || (out == LineOutcome::Skip(SkipReason::InvalidUtf8)
                            && std::str::from_utf8(&bytes).is_err()),
                    "{out:?}"
                ),
            }
        }
    }

    mod fast_and_serde_agree {
        use super::super::*;
        use proptest::prelude::*;

        /// A JSON value as written (strings and keys already escaped as they should be
        /// written, or on purpose not), so duplicate keys can be written too.
        #[derive(Debug, Clone)]
        enum J {
            Raw(&'static str),
            Str(String),
            Arr(Vec<J>),
            Obj(Vec<(String, J)>),
        }

        fn render(j: &J, out: &mut String, spaced: bool) {
            let sep = if spaced { " " } else { "" };
            match j {
                J::Raw(r) => out.push_str(r),
                J::Str(s) => {
                    out.push('"');
                    out.push_str(s);
                    out.push('"');
                }
                J::Arr(items) => {
                    out.push('[');
                    for (i, v) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                            out.push_str(sep);
                        }
                        render(v, out, spaced);
                    }
                    out.push(']');
                }
                J::Obj(entries) => {
                    out.push('{');
                    out.push_str(sep);
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push('"');
                        out.push_str(k);
                        out.push_str("\":");
                        out.push_str(sep);
                        render(v, out, spaced);
                    }
                    out.push_str(sep);
                    out.push('}');
                }
            }
        }

        const TEXTS: &[&str] = &[
            "assistant",
            "progress",
            "agent_progress",
            "user",
            "cost-state",
            "<synthetic>",
            "2026-02-10T21:11:59.186Z",
            "2026-02-10T21:11:59+05:30",
            "-000001-01-01T00:00:00Z",
            "not a time",
            "s1",
            "m1",
            "r1",
            "u1",
            "/home/u/app",
            "claude-opus-4-6",
            "",
            "API Error: usage limit reached|1767225600",
            "a\\nb",
            "\\u0041ssistant",
            "\\ud800",
            "x\\\"y",
            "\\/",
            "éé",
            "fast",
            "us",
        ];
        const NUMBERS: &[&str] = &[
            "0",
            "1",
            "-1",
            "12",
            "1.5",
            "1e3",
            "-0",
            "0.25e-2",
            "100000001",
            "18446744073709551616",
            "3.0",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "1E2",
        ];

        fn scalar() -> impl Strategy<Value = J> {
            prop_oneof![
                Just(J::Raw("null")),
                Just(J::Raw("true")),
                Just(J::Raw("false")),
                prop::sample::select(NUMBERS).prop_map(J::Raw),
                prop::sample::select(TEXTS).prop_map(|t| J::Str(t.to_owned())),
            ]
        }

        fn any_value() -> impl Strategy<Value = J> {
            scalar().prop_recursive(3, 12, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(J::Arr),
                    prop::collection::vec((key(), inner), 0..3).prop_map(J::Obj),
                ]
            })
        }

        fn key() -> impl Strategy<Value = String> {
            prop::sample::select(
                &[
                    "type",
                    "sessionId",
                    "timestamp",
                    "cwd",
                    "isSidechain",
                    "agentId",
                    "requestId",
                    "uuid",
                    "costUSD",
                    "version",
                    "message",
                    "data",
                    "id",
                    "model",
                    "usage",
                    "input_tokens",
                    "output_tokens",
                    "content",
                    "x",
                    "\\u0074ype",
                    "us\\u0061ge",
                ][..],
            )
            .prop_map(str::to_owned)
        }

        /// A value that is sometimes `good`, sometimes anything.
        fn or_any(good: impl Strategy<Value = J> + 'static) -> BoxedStrategy<J> {
            prop_oneof![30 => good, 1 => any_value()].boxed()
        }

        fn text(of: &'static [&'static str]) -> BoxedStrategy<J> {
            or_any(prop::sample::select(of).prop_map(|t| J::Str(t.to_owned())))
        }

        /// Mostly one of `plain`, sometimes the same text written with an escape.
        fn text_or_escaped(
            plain: &'static [&'static str],
            escaped: &'static str,
        ) -> BoxedStrategy<J> {
            or_any(prop_oneof![
                8 => prop::sample::select(plain).prop_map(|t| J::Str(t.to_owned())),
                1 => Just(J::Str(escaped.to_owned())),
            ])
        }

        /// An object of some of `fields` (in any order, one of them maybe twice).
        fn object(fields: Vec<(&'static str, BoxedStrategy<J>)>) -> BoxedStrategy<J> {
            let n = fields.len();
            let entries: Vec<BoxedStrategy<Option<(String, J)>>> = fields
                .into_iter()
                .map(|(k, v)| {
                    prop::option::weighted(0.8, v.prop_map(move |v| (k.to_owned(), v))).boxed()
                })
                .collect();
            (
                entries,
                any::<prop::sample::Index>(),
                any::<bool>(),
                any::<prop::sample::Index>(),
            )
                .prop_map(move |(entries, at, twice, which)| {
                    let mut e: Vec<(String, J)> = entries.into_iter().flatten().collect();
                    if !e.is_empty() {
                        let i = at.index(e.len());
                        let last = e.len() - 1;
                        e.swap(i, last);
                        if twice && which.index(n * 4) == 0 {
                            let dup = e[i.min(last)].clone();
                            e.push(dup);
                        }
                    }
                    J::Obj(e)
                })
                .boxed()
        }

        fn usage() -> BoxedStrategy<J> {
            let count = || {
                or_any(prop_oneof![
                    6 => prop::sample::select(&["0", "3", "12", "13835"][..]).prop_map(J::Raw),
                    1 => prop::sample::select(NUMBERS).prop_map(J::Raw),
                ])
            };
            or_any(object(vec![
                ("input_tokens", count()),
                ("output_tokens", count()),
                ("cache_read_input_tokens", count()),
                ("cache_creation_input_tokens", count()),
                (
                    "cache_creation",
                    or_any(object(vec![
                        ("ephemeral_5m_input_tokens", count()),
                        ("ephemeral_1h_input_tokens", count()),
                    ])),
                ),
                (
                    "server_tool_use",
                    or_any(object(vec![
                        ("web_search_requests", count()),
                        ("web_fetch_requests", count()),
                    ])),
                ),
                (
                    "service_tier",
                    text_or_escaped(&["standard", "priority"], "st\\u0061ndard"),
                ),
                (
                    "inference_geo",
                    text_or_escaped(&["us", "not_available"], "u\\u0073"),
                ),
                ("speed", text(TEXTS)),
                ("other", any_value().boxed()),
            ]))
        }

        fn message() -> BoxedStrategy<J> {
            or_any(object(vec![
                ("id", text_or_escaped(&["m1", "m2", ""], "\\u006d1")),
                (
                    "model",
                    text(&["claude-opus-4-6", "<synthetic>", "claude-sonnet-4-5"]),
                ),
                ("usage", usage()),
                ("content", any_value().boxed()),
            ]))
        }

        fn echo() -> BoxedStrategy<J> {
            or_any(object(vec![
                ("type", text(&["assistant", "user"])),
                ("requestId", text_or_escaped(&["r2"], "r\\u0032")),
                ("uuid", text(&["u2"])),
                ("timestamp", text(&["2026-02-10T21:12:00Z", "bad"])),
                ("message", message()),
            ]))
        }

        fn data() -> BoxedStrategy<J> {
            or_any(object(vec![
                ("type", text(&["agent_progress", "hook_progress"])),
                ("agentId", text_or_escaped(&["a1"], "a\\u0031")),
                ("message", echo()),
            ]))
        }

        fn line() -> BoxedStrategy<J> {
            object(vec![
                (
                    "type",
                    text(&[
                        "assistant",
                        "assistant",
                        "progress",
                        "progress",
                        "user",
                        "system",
                    ]),
                ),
                ("sessionId", text_or_escaped(&["s1"], "s\\u0031")),
                (
                    "timestamp",
                    text(&[
                        "2026-02-10T21:11:59.186Z",
                        "2026-02-10T21:11:59.186Z",
                        "+010000-01-01T00:00:00Z",
                        "x",
                    ]),
                ),
                ("cwd", text_or_escaped(&["/home/u/app"], "C:\\\\u")),
                (
                    "isSidechain",
                    or_any(prop_oneof![Just(J::Raw("true")), Just(J::Raw("false"))]),
                ),
                ("agentId", text(&["a1"])),
                ("requestId", text(&["r1"])),
                ("uuid", text(&["u1"])),
                (
                    "costUSD",
                    or_any(prop::sample::select(NUMBERS).prop_map(J::Raw)),
                ),
                ("version", text(&["2.1.38"])),
                ("message", message()),
                ("data", data()),
                ("usage", any_value().boxed()),
            ])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]

            #[test]
            fn on_any_line(j in line(), spaced in any::<bool>(), cut in 0usize..12) {
                let mut text = String::new();
                render(&j, &mut text, spaced);
                let mut bytes = text.into_bytes();
                // Sometimes a line cut short (even inside a character) or with something
                // after it.
                match cut {
                    1 => bytes.truncate(bytes.len() * 2 / 3),
                    2 => bytes.extend_from_slice(b" x"),
                    // A byte that is not UTF-8 somewhere (in a string, most likely),
                    // and a character cut short.
                    3 => {
                        let at = bytes.len() / 2;
                        bytes[at] = 0xff;
                    }
                    4 => {
                        let at = bytes.len() / 3;
                        bytes.splice(at..at, [0xe6, 0x97]);
                    }
                    5 => {
                        let at = bytes.len() / 3;
                        bytes.splice(at..at, "日本語".bytes());
                    }
                    _ => {}
                }
                let fast = parse_with(&bytes, &mut SharedTexts::new("/t.jsonl"), true);
                let serde = parse_with(&bytes, &mut SharedTexts::new("/t.jsonl"), false);
                prop_assert_eq!(fast, serde, "{}", String::from_utf8_lossy(&bytes));
            }
        }
    }
}
