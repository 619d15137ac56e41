//! The fields `ctm` reads from a usage line, found in one validating pass over its
//! bytes: every byte is checked as JSON (strings, escapes, numbers, nesting), long
//! strings are skipped eight bytes at a time, and only the values on the few paths
//! `ctm` reads (the envelope's, its `message`'s, a progress line's `data` and the
//! subagent line it echoes) are kept, as borrowed text.
//!
//! Whatever this pass does not decide on its own (a syntax error, an escaped key or
//! value `ctm` reads, a field of the wrong type, a field given twice, nesting deeper
//! than 100) it leaves to the serde parse, which then decides, so both always agree.

/// Where a kept value sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Type,
    SessionId,
    Timestamp,
    Cwd,
    IsSidechain,
    AgentId,
    RequestId,
    Uuid,
    CostUsd,
    Version,
    Message,
    Data,
    MessageId,
    MessageModel,
    MessageUsage,
    DataType,
    DataAgentId,
    DataMessage,
    EchoType,
    EchoRequestId,
    EchoUuid,
    EchoTimestamp,
    EchoMessage,
    EchoMessageId,
    EchoMessageModel,
    EchoMessageUsage,
    // A `usage` object's ([`scan_usage`]).
    InputTokens,
    OutputTokens,
    CacheCreationInputTokens,
    CacheReadInputTokens,
    CacheCreation,
    ServerToolUse,
    ServiceTier,
    InferenceGeo,
    Speed,
    Ephemeral5m,
    Ephemeral1h,
    WebSearchRequests,
    WebFetchRequests,
}

const SLOTS: usize = Slot::WebFetchRequests as usize + 1;

/// The objects whose keys are looked at.
#[derive(Clone, Copy)]
enum Holder {
    Line,
    Message,
    Data,
    Echo,
    EchoMessage,
    Usage,
    CacheCreation,
    ServerToolUse,
}

impl Holder {
    /// The slot of a key of this object, if kept.
    fn slot(self, key: &[u8]) -> Option<Slot> {
        Some(match (self, key) {
            (Holder::Line, b"type") => Slot::Type,
            (Holder::Line, b"sessionId") => Slot::SessionId,
            (Holder::Line, b"timestamp") => Slot::Timestamp,
            (Holder::Line, b"cwd") => Slot::Cwd,
            (Holder::Line, b"isSidechain") => Slot::IsSidechain,
            (Holder::Line, b"agentId") => Slot::AgentId,
            (Holder::Line, b"requestId") => Slot::RequestId,
            (Holder::Line, b"uuid") => Slot::Uuid,
            (Holder::Line, b"costUSD") => Slot::CostUsd,
            (Holder::Line, b"version") => Slot::Version,
            (Holder::Line, b"message") => Slot::Message,
            (Holder::Line, b"data") => Slot::Data,
            (Holder::Message, b"id") => Slot::MessageId,
            (Holder::Message, b"model") => Slot::MessageModel,
            (Holder::Message, b"usage") => Slot::MessageUsage,
            (Holder::Data, b"type") => Slot::DataType,
            (Holder::Data, b"agentId") => Slot::DataAgentId,
            (Holder::Data, b"message") => Slot::DataMessage,
            (Holder::Echo, b"type") => Slot::EchoType,
            (Holder::Echo, b"requestId") => Slot::EchoRequestId,
            (Holder::Echo, b"uuid") => Slot::EchoUuid,
            (Holder::Echo, b"timestamp") => Slot::EchoTimestamp,
            (Holder::Echo, b"message") => Slot::EchoMessage,
            (Holder::EchoMessage, b"id") => Slot::EchoMessageId,
            (Holder::EchoMessage, b"model") => Slot::EchoMessageModel,
            (Holder::EchoMessage, b"usage") => Slot::EchoMessageUsage,
            (Holder::Usage, b"input_tokens") => Slot::InputTokens,
            (Holder::Usage, b"output_tokens") => Slot::OutputTokens,
            (Holder::Usage, b"cache_creation_input_tokens") => Slot::CacheCreationInputTokens,
            (Holder::Usage, b"cache_read_input_tokens") => Slot::CacheReadInputTokens,
            (Holder::Usage, b"cache_creation") => Slot::CacheCreation,
            (Holder::Usage, b"server_tool_use") => Slot::ServerToolUse,
            (Holder::Usage, b"service_tier") => Slot::ServiceTier,
            (Holder::Usage, b"inference_geo") => Slot::InferenceGeo,
            (Holder::Usage, b"speed") => Slot::Speed,
            (Holder::CacheCreation, b"ephemeral_5m_input_tokens") => Slot::Ephemeral5m,
            (Holder::CacheCreation, b"ephemeral_1h_input_tokens") => Slot::Ephemeral1h,
            (Holder::ServerToolUse, b"web_search_requests") => Slot::WebSearchRequests,
            (Holder::ServerToolUse, b"web_fetch_requests") => Slot::WebFetchRequests,
            _ => return None,
        })
    }
}

impl Slot {
    /// The object a kept object value is, whose keys are looked at in turn.
    fn holder(self) -> Option<Holder> {
        match self {
            Slot::Message => Some(Holder::Message),
            Slot::Data => Some(Holder::Data),
            Slot::DataMessage => Some(Holder::Echo),
            Slot::EchoMessage => Some(Holder::EchoMessage),
            Slot::CacheCreation => Some(Holder::CacheCreation),
            Slot::ServerToolUse => Some(Holder::ServerToolUse),
            _ => None,
        }
    }
}

/// What kind of JSON value a kept one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string without escapes: `text` is its content.
    Str,
    /// A string with escapes: `text` is its raw content (not decoded).
    Escaped,
    Number,
    Bool(bool),
    Null,
    Object,
    Array,
}

/// A kept value: its kind, and its text (a string's content without quotes, any other
/// value's text as written).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Value<'a> {
    pub kind: Kind,
    pub text: &'a str,
}

/// A kept value as [`Found`] holds it: its text as a range of the scanned text, which
/// keeps `Found` half the size of one holding `Value`s (it is filled for every usage
/// line, twice).
#[derive(Debug, Clone, Copy)]
struct Kept {
    kind: Kind,
    start: u32,
    end: u32,
}

/// The kept values of one line.
pub(crate) struct Found<'a> {
    text: &'a str,
    values: [Option<Kept>; SLOTS],
}

impl<'a> Found<'a> {
    pub fn get(&self, slot: Slot) -> Option<Value<'a>> {
        let k = self.values[slot as usize]?;
        Some(Value {
            kind: k.kind,
            text: &self.text[k.start as usize..k.end as usize],
        })
    }
}

/// How deep objects and arrays may nest before the serde parse decides (it refuses past
/// 128).
const MAX_DEPTH: u32 = 100;

/// One pass over `line`, valid UTF-8 that starts with `{` and has no whitespace around
/// it; `None` leaves the line to the serde parse.
pub(crate) fn scan(line: &str) -> Option<Found<'_>> {
    scan_from(line, Holder::Line)
}

/// [`scan`] for a `usage` object as written (already checked as JSON by the line's
/// scan): its counts, its breakdowns' and its texts.
pub(crate) fn scan_usage(usage: &str) -> Option<Found<'_>> {
    if !usage.starts_with('{') {
        return None;
    }
    scan_from(usage, Holder::Usage)
}

fn scan_from(text: &str, root: Holder) -> Option<Found<'_>> {
    // Positions are kept as `u32`: longer texts are left to the serde parse (lines are
    // read up to 64 MiB).
    if u32::try_from(text.len()).is_err() {
        return None;
    }
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
        depth: 0,
        found: Found {
            text,
            values: [None; SLOTS],
        },
    };
    s.object(root)?;
    s.ws();
    (s.i == s.b.len()).then_some(s.found)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
    found: Found<'a>,
}

impl<'a> Scanner<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// One value at `i` (whitespace skipped), kept when `slot` is given.
    fn value(&mut self, slot: Option<Slot>) -> Option<()> {
        let Some(slot) = slot else {
            return self.skip();
        };
        self.ws();
        let start = self.i;
        let kind = match self.peek()? {
            b'{' => {
                match slot.holder() {
                    Some(holder) => self.object(holder)?,
                    None => self.skip()?,
                }
                Kind::Object
            }
            b'[' => {
                self.skip()?;
                Kind::Array
            }
            b'"' => {
                let kind = if self.string()? {
                    Kind::Escaped
                } else {
                    Kind::Str
                };
                // Within the quotes.
                return self.keep(slot, kind, start + 1, self.i - 1);
            }
            b't' => {
                self.literal(b"true")?;
                Kind::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                Kind::Bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                Kind::Null
            }
            b'-' | b'0'..=b'9' => {
                self.number()?;
                Kind::Number
            }
            _ => return None,
        };
        self.keep(slot, kind, start, self.i)
    }

    /// One value at `i` (whitespace skipped) that nothing is kept from, checked as JSON
    /// all the same. Most of a usage line is such values (the message's content), so
    /// they are walked in a loop rather than by a call per value: bit `k` of `objects`
    /// says whether the `k`-th container open inside this value is an object (fewer than
    /// [`MAX_DEPTH`] can be, so they fit).
    fn skip(&mut self) -> Option<()> {
        let mut objects: u128 = 0;
        let mut open: u32 = 0;
        loop {
            self.ws();
            match self.peek()? {
                b'{' => {
                    if !self.open(b'}')? {
                        objects |= 1 << open;
                        open += 1;
                        self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    if !self.open(b']')? {
                        objects &= !(1 << open);
                        open += 1;
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // A value ended: close the containers it ends, up to the next value.
            loop {
                if open == 0 {
                    return Some(());
                }
                self.ws();
                let in_object = objects >> (open - 1) & 1 == 1;
                match (self.peek()?, in_object) {
                    (b',', true) => {
                        self.i += 1;
                        self.key()?;
                        break;
                    }
                    (b',', false) => {
                        self.i += 1;
                        break;
                    }
                    (b'}', true) | (b']', false) => {
                        self.i += 1;
                        self.depth -= 1;
                        open -= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// Opens the object or array at `i`, whose closing byte is `close`: whether it is
    /// empty (and so closed already).
    #[inline(always)]
    fn open(&mut self, close: u8) -> Option<bool> {
        self.nest()?;
        self.i += 1;
        self.ws();
        if self.peek()? != close {
            return Some(false);
        }
        self.i += 1;
        self.depth -= 1;
        Some(true)
    }

    /// A key of an object nothing is kept from, and its colon.
    #[inline(always)]
    fn key(&mut self) -> Option<()> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        self.string()?;
        self.ws();
        if self.peek()? != b':' {
            return None;
        }
        self.i += 1;
        Some(())
    }

    /// Keeps the value at `start..end`; a slot given twice leaves the line to the serde
    /// parse.
    #[inline(always)]
    fn keep(&mut self, slot: Slot, kind: Kind, start: usize, end: usize) -> Option<()> {
        let at = &mut self.found.values[slot as usize];
        if at.is_some() {
            return None;
        }
        // Within the text, whose length fits a `u32` (checked by `scan_from`).
        *at = Some(Kept {
            kind,
            start: start as u32,
            end: end as u32,
        });
        Some(())
    }

    fn nest(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// An object at `i` whose keys are looked at: those of its `holder`'s slots are kept.
    fn object(&mut self, holder: Holder) -> Option<()> {
        // `open` spelled out: through it, this function took 1.6% more instructions.
        self.nest()?;
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key_start = self.i + 1;
            // An escaped key could name a kept field: the serde parse decodes it.
            if self.string()? {
                return None;
            }
            let slot = holder.slot(&self.b[key_start..self.i - 1]);
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.value(slot)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string at `i` (its opening quote); `i` ends after its closing quote. Whether it
    /// holds escapes, or `None` for an invalid one (a control character, a bad escape,
    /// no end).
    #[inline(always)]
    fn string(&mut self) -> Option<bool> {
        self.i += 1;
        let mut escaped = false;
        loop {
            self.i = skip_plain(self.b, self.i);
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = self.b.get(self.i + 1..self.i + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 5;
                        }
                        _ => return None,
                    }
                }
                // A control character.
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    /// A number as JSON writes it: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)?
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.at_least_one_digit()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.at_least_one_digit()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }
}

/// The first index from `i` on holding a quote, a backslash or a control character
/// (or the end): sixteen bytes at a time with SSE2 (every x86-64 has it), else eight.
#[inline(always)]
fn skip_plain(b: &[u8], i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    return skip_plain_sse2(b, i);
    #[cfg(not(target_arch = "x86_64"))]
    return skip_plain_swar(b, i);
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn skip_plain_sse2(b: &[u8], mut i: usize) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of x86-64; every load reads 16 bytes inside `b` (checked by
    // `get`), unaligned loads being allowed.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let below_space = _mm_set1_epi8(0x1f);
        while let Some(chunk) = b.get(i..i + 16) {
            let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            // x <= 0x1f (unsigned) exactly when max(x, 0x1f) is 0x1f.
            let control = _mm_cmpeq_epi8(_mm_max_epu8(x, below_space), below_space);
            let found = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                control,
            );
            let mask = _mm_movemask_epi8(found) as u32;
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    // Fewer than sixteen bytes left.
    skip_plain_swar(b, i)
}

/// [`skip_plain`] eight bytes at a time in a `u64`.
fn skip_plain_swar(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        // A byte below 0x20, or one equal to a quote or a backslash, sets its high bit;
        // the lowest set bit is always a true one.
        let found = (w.wrapping_sub(ONES * 0x20) & !w)
            | (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash);
        let found = found & HIGH;
        if found != 0 {
            return i + found.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_runs_end_at_quotes_backslashes_and_control_characters() {
        for (text, end) in [
            ("abcdefghijklmnop\"", 16),
            ("abc\\\"", 3),
            ("abcdefghij\u{1}", 10),
            ("ééééééééé\"", 18),
            ("", 0),
            ("abc", 3),
        ] {
            assert_eq!(skip_plain(text.as_bytes(), 0), end, "{text:?}");
            assert_eq!(skip_plain_swar(text.as_bytes(), 0), end, "{text:?}");
        }
    }

    proptest::proptest! {
        /// Both ways of skipping stop where a byte-by-byte look does.
        #[test]
        fn skipping_plain_bytes_stops_where_a_plain_look_does(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => 0x20u8..0x7f,
                    1 => proptest::prelude::any::<u8>(),
                    1 => proptest::sample::select(vec![b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, 0]),
                ],
                0..80,
            ),
            from in 0usize..8,
        ) {
            let from = from.min(bytes.len());
            let plain = bytes[from..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .map_or(bytes.len(), |p| from + p);
            proptest::prop_assert_eq!(skip_plain(&bytes, from), plain);
            proptest::prop_assert_eq!(skip_plain_swar(&bytes, from), plain);
        }
    }

    #[test]
    fn kept_values_are_borrowed_as_written() {
        let line = r#"{"type":"assistant","n":[1,{"a":"\"x\""}],"message":{"id":"m1","usage":{"input_tokens":3},"model":null},"costUSD":-0.5e-3,"isSidechain":true}"#;
        let found = scan(line).unwrap();
        let text = |s| found.get(s).map(|v: Value| (v.kind, v.text));
        assert_eq!(text(Slot::Type), Some((Kind::Str, "assistant")));
        assert_eq!(text(Slot::MessageId), Some((Kind::Str, "m1")));
        assert_eq!(
            text(Slot::MessageUsage),
            Some((Kind::Object, r#"{"input_tokens":3}"#))
        );
        assert_eq!(text(Slot::MessageModel), Some((Kind::Null, "null")));
        assert_eq!(text(Slot::CostUsd), Some((Kind::Number, "-0.5e-3")));
        assert_eq!(text(Slot::IsSidechain), Some((Kind::Bool(true), "true")));
        assert_eq!(text(Slot::SessionId), None);
    }

    #[test]
    fn what_the_pass_does_not_decide_is_left_to_serde() {
        for line in [
            r#"{"type":"a","type":"b"}"#,
            r#"{"\u0074ype":"a"}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12g4"}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":tru}"#,
            r#"{"a":1,}"#,
            r#"{"a":1}x"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":[1,2}"#,
        ] {
            assert!(scan(line).is_none(), "{line}");
        }
        // Escapes and duplicates outside the kept paths are fine.
        assert!(scan(r#"{"x":{"\u0074ype":"a","type":"b","type":"c"},"s":"\n"}"#).is_some());
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(150), "]".repeat(150));
        assert!(scan(&deep).is_none());
    }

    /// Values nothing is kept from are walked in a loop, not by recursion: the same
    /// grammar and the same depth limit as the kept ones.
    #[test]
    fn skipped_values_are_checked_like_kept_ones() {
        for bad in [
            r#"[1,]"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":}"#,
            r#"{1:2}"#,
            r#"[}"#,
            r#"{]"#,
            r#"{"a":[1]]"#,
            r#"[{"a":1}}"#,
            r#"[[[1]]"#,
            r#"[1 2]"#,
            r#"{"a":1 "b":2}"#,
            r#"[nul]"#,
            r#"[-]"#,
        ] {
            for line in [
                format!(r#"{{"x":{bad}}}"#),
                format!(r#"{{"message":{{"content":[{bad}]}}}}"#),
            ] {
                assert!(scan(&line).is_none(), "{line}");
            }
        }
        for good in [
            r#"[]"#,
            r#"{}"#,
            r#"[[],{},[{}],{"a":[]}]"#,
            r#"{"a":{"b":{"c":[1,-2.5e3,true,false,null,"\"]"]}},"d":"}"}"#,
            r#"[ 1 , { "a" : [ ] } ]"#,
        ] {
            let line = format!(r#"{{"x":{good},"message":{{"content":{good},"id":"m"}}}}"#);
            let found = scan(&line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(found.get(Slot::MessageId).map(|v| v.text), Some("m"));
        }
        // Depth counts every container, kept or skipped: the line's object is the first.
        let at = |n: usize| format!(r#"{{"x":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        assert!(scan(&at(MAX_DEPTH as usize - 1)).is_some());
        assert!(scan(&at(MAX_DEPTH as usize)).is_none());
        let objects = |n: usize| format!(r#"{{"x":{}1{}}}"#, r#"{"a":"#.repeat(n), "}".repeat(n));
        assert!(scan(&objects(MAX_DEPTH as usize - 1)).is_some());
        assert!(scan(&objects(MAX_DEPTH as usize)).is_none());
    }
}
