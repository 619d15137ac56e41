//! Reads the new part of one transcript and folds its lines into sightings.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use ctm_model::{ClaudeCodeCost, Response};
use memchr::{memchr_iter, memrchr};

use crate::line::{parse_line, LimitNotice, LineOutcome, SharedTexts, SkipReason};

/// How many leading bytes identify a file. A file replaced by another (rotated,
/// rewritten, restored from a backup) almost always differs here.
pub const HEAD_BYTES: u64 = 4096;

/// Bytes read at a time: small enough that the chunk the kernel copies in and the page
/// cache's pages it comes from both stay in a core's L2 cache (1 MiB here) until the
/// lines are scanned.
const CHUNK: usize = 256 << 10;

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The longest line read. A longer one is skipped unread as
/// [`SkipReason::LineTooLong`] and reading goes on after its newline, so a file that
/// never ends a line (a runaway write, a file of NULs) costs at most this much memory
/// per reading thread. Claude Code's longest real lines (a large tool result) are tens
/// of MB.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// A fingerprint of some bytes of a file: how many, and their xxh3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Head {
    pub len: u64,
    pub hash: u64,
}

impl Head {
    fn of(bytes: &[u8]) -> Head {
        Head {
            len: bytes.len() as u64,
            hash: xxhash_rust::xxh3::xxh3_64(bytes),
        }
    }
}

/// Where a cursor left a file, and what the file looked like there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// Just after the last line read.
    pub offset: u64,
    /// The fingerprint of the file's first bytes.
    pub head: Head,
    /// The fingerprint of the bytes just before `offset` (up to [`HEAD_BYTES`]; length 0
    /// from a cursor older than it).
    pub tail: Head,
    /// `offset` is inside a line longer than [`MAX_LINE_BYTES`], skipped up to its
    /// newline.
    pub in_long_line: bool,
}

/// Line counts of one read, by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineStats {
    pub lines: u64,
    pub usage_lines: u64,
    pub synthetic_lines: u64,
    /// Claude Code's `cost-state` lines read.
    pub cost_state_lines: u64,
    pub skipped: [u64; SkipReason::ALL.len()],
}

impl LineStats {
    pub fn skipped(&self, reason: SkipReason) -> u64 {
        self.skipped[reason as usize]
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }

    pub fn add(&mut self, other: &LineStats) {
        self.lines += other.lines;
        self.usage_lines += other.usage_lines;
        self.synthetic_lines += other.synthetic_lines;
        self.cost_state_lines += other.cost_state_lines;
        for (a, b) in self.skipped.iter_mut().zip(other.skipped) {
            *a += b;
        }
    }
}

/// What one read of a transcript produced.
#[derive(Debug, Default)]
pub struct FileRead {
    /// True when the file no longer matched its cursor and was read from the start.
    pub restarted: bool,
    /// Where this read began.
    pub start_offset: u64,
    /// Just after the last complete line: where the next read begins.
    pub end_offset: u64,
    /// The file's size when read.
    pub size: u64,
    pub head: Option<Head>,
    /// The fingerprint of the bytes just before `end_offset` (up to [`HEAD_BYTES`]).
    pub tail: Head,
    /// `end_offset` is inside a line longer than [`MAX_LINE_BYTES`] whose newline has
    /// not been written yet: the next read skips on to it.
    pub in_long_line: bool,
    /// One sighting per response key, already merged within the file. Boxed as the
    /// parser made them: moving a pointer through the merge keeps the maps small.
    pub responses: Vec<Box<Response>>,
    pub limit_notices: Vec<LimitNotice>,
    /// Claude Code's own session costs, the latest per session in this read.
    pub claude_costs: Vec<ClaudeCodeCost>,
    pub stats: LineStats,
}

impl FileRead {
    pub fn bytes_read(&self) -> u64 {
        self.end_offset - self.start_offset
    }

    /// Where the next read of the file resumes.
    pub fn resume(&self) -> Resume {
        Resume {
            offset: self.end_offset,
            head: self.head.unwrap_or_default(),
            tail: self.tail,
            in_long_line: self.in_long_line,
        }
    }
}

/// Reads `path` from where `resume` left it (from the start without one) to its last
/// complete line.
///
/// The file is read from the start instead when it no longer is what the cursor saw: it
/// is shorter than the offset, its first bytes differ (replaced), or the bytes just
/// before the offset differ or no longer end a line (rewritten in place, same inode,
/// same head, its tail replaced). Merging by response key makes a read from the start
/// safe. A last line without its newline is left for the next read unless it is
/// already a complete JSON value: a prefix of a one-object line never is.
pub fn read_transcript(path: &Path, resume: Option<&Resume>) -> io::Result<FileRead> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let head = fingerprint(&mut file, 0, size.min(HEAD_BYTES))?;
    let given = resume;
    let resume = match given {
        Some(r) if still_there(&mut file, size, r)? => Some(*r),
        _ => None,
    };
    let start = resume.map_or(0, |r| r.offset);
    let restarted = resume.is_none() && given.is_some_and(|g| g.offset > 0);
    let source = path.to_string_lossy();
    let mut fold = Fold::new(&source);
    let mut tail = Tail::default();
    let mut in_long_line = resume.is_some_and(|r| r.in_long_line);
    let mut buf_offset = start; // file offset of the buffer's first byte
    file.seek(SeekFrom::Start(start))?;
    // One buffer per thread, reused across files: allocating and zero-filling a fresh
    // chunk per file cost more than parsing.
    BUFFER.with_borrow_mut(|buf| -> io::Result<()> {
        buf.clear();
        let mut scanned = 0; // bytes of buf already known to hold no newline
        loop {
            // Never more than one line's worth: a line that does not end within
            // MAX_LINE_BYTES is dropped, not grown without bound.
            let room = if in_long_line {
                CHUNK
            } else {
                (MAX_LINE_BYTES + 1).saturating_sub(buf.len()).min(CHUNK)
            };
            // Appends without zero-filling the spare capacity first, into room reserved
            // exactly (read_to_end would double it).
            buf.reserve_exact(room);
            let n = (&mut file).take(room as u64).read_to_end(buf)?;
            if n == 0 {
                break;
            }
            let Some(last_nl) = memrchr(b'\n', &buf[scanned..]).map(|i| i + scanned) else {
                if in_long_line || buf.len() > MAX_LINE_BYTES {
                    if !in_long_line {
                        fold.skip(SkipReason::LineTooLong);
                        in_long_line = true;
                    }
                    // Inside the long line: nothing of it is kept.
                    tail.push(buf);
                    buf_offset += buf.len() as u64;
                    buf.clear();
                    shrink(buf);
                    scanned = 0;
                } else {
                    scanned = buf.len();
                }
                continue;
            };
            let mut lines = &buf[..=last_nl];
            if in_long_line {
                // The long line ends at the first newline: the rest are whole lines.
                let end = memchr::memchr(b'\n', lines).expect("a newline is there");
                lines = &lines[end + 1..];
                in_long_line = false;
            }
            fold.lines(lines, buf_offset == 0 && lines.len() == last_nl + 1);
            tail.push(&buf[..=last_nl]);
            buf.drain(..=last_nl);
            buf_offset += last_nl as u64 + 1;
            scanned = 0;
        }
        if !in_long_line
            && !buf.is_empty()
            && serde_json::from_slice::<serde::de::IgnoredAny>(strip_bom(buf, buf_offset == 0))
                .is_ok()
        {
            fold.lines(buf, buf_offset == 0);
            tail.push(buf);
            buf_offset += buf.len() as u64;
        }
        shrink(buf);
        Ok(())
    })?;
    let tail = if buf_offset == start {
        // Nothing read: the bytes before the offset are the ones the cursor saw.
        resume.map_or(Head::of(&[]), |r| r.tail)
    } else {
        tail.fingerprint(&mut file, buf_offset)?
    };
    Ok(FileRead {
        restarted,
        start_offset: start,
        end_offset: buf_offset,
        size,
        head: Some(head),
        tail,
        in_long_line,
        responses: fold.responses,
        limit_notices: fold.limit_notices,
        claude_costs: fold.claude_costs,
        stats: fold.stats,
    })
}

/// A huge line must not pin its memory to the thread for good.
fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > 2 * CHUNK {
        *buf = Vec::with_capacity(CHUNK);
    }
}

/// Whether the file is still the one `r` describes up to its offset: long enough, the
/// same first bytes, and the same bytes just before the offset, which end a line (or
/// are inside a long line being skipped).
fn still_there(file: &mut File, size: u64, r: &Resume) -> io::Result<bool> {
    if r.offset > size || r.head.len > size || fingerprint(file, 0, r.head.len)? != r.head {
        return Ok(false);
    }
    if r.offset == 0 {
        return Ok(true);
    }
    let before = r.offset - r.tail.len.clamp(1, r.offset);
    let mut bytes = Vec::with_capacity((r.offset - before) as usize);
    file.seek(SeekFrom::Start(before))?;
    file.by_ref()
        .take(r.offset - before)
        .read_to_end(&mut bytes)?;
    let ends_a_line = bytes.last() == Some(&b'\n') || r.in_long_line;
    Ok(ends_a_line && (r.tail.len == 0 || Head::of(&bytes) == r.tail))
}

/// The last up to [`HEAD_BYTES`] bytes read, kept as they pass through the buffer so
/// that the cursor's tail fingerprint costs no second read.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
}

impl Tail {
    fn push(&mut self, read: &[u8]) {
        let keep = HEAD_BYTES as usize;
        if read.len() >= keep {
            self.bytes.clear();
            self.bytes.extend_from_slice(&read[read.len() - keep..]);
        } else {
            self.bytes.extend_from_slice(read);
            let excess = self.bytes.len().saturating_sub(keep);
            self.bytes.drain(..excess);
        }
    }

    /// The fingerprint of the bytes just before `end`: those kept, or read again when
    /// this read began less than [`HEAD_BYTES`] after them.
    fn fingerprint(&self, file: &mut File, end: u64) -> io::Result<Head> {
        let want = end.min(HEAD_BYTES);
        if self.bytes.len() as u64 == want {
            return Ok(Head::of(&self.bytes));
        }
        fingerprint(file, end - want, want)
    }
}

/// The fingerprint of `len` bytes from `from` (fewer if the file is shorter).
fn fingerprint(file: &mut File, from: u64, len: u64) -> io::Result<Head> {
    let mut bytes = Vec::with_capacity(len as usize);
    file.seek(SeekFrom::Start(from))?;
    file.by_ref().take(len).read_to_end(&mut bytes)?;
    Ok(Head::of(&bytes))
}

fn strip_bom(bytes: &[u8], at_file_start: bool) -> &[u8] {
    if at_file_start {
        bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
    } else {
        bytes
    }
}

/// Where each key's sighting is in a read's responses: by the key's hash, the key
/// itself kept only for the rare key whose hash another took (no copy of every key).
struct KeyIndex {
    by_hash: foldhash::HashMap<u64, usize>,
    collided: foldhash::HashMap<String, usize>,
    hash: fn(&str) -> u64,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            by_hash: Default::default(),
            collided: Default::default(),
            hash: |key| {
                use std::hash::BuildHasher;
                foldhash::fast::FixedState::default().hash_one(key)
            },
        }
    }
}

impl KeyIndex {
    #[allow(clippy::vec_box)]
    fn find(&self, key: &str, responses: &[Box<Response>]) -> Option<usize> {
        let i = *self.by_hash.get(&(self.hash)(key))?;
        if responses[i].key == key {
            return Some(i);
        }
        self.collided.get(key).copied()
    }

    fn insert(&mut self, key: &str, at: usize) {
        use std::collections::hash_map::Entry;
        match self.by_hash.entry((self.hash)(key)) {
            Entry::Vacant(e) => {
                e.insert(at);
            }
            Entry::Occupied(_) => {
                self.collided.insert(key.to_owned(), at);
            }
        }
    }
}

/// Folds parsed lines into one sighting per response key.
struct Fold {
    texts: SharedTexts,
    index: KeyIndex,
    // Boxed on purpose: these move on into `FileRead` and the cross-file merge.
    #[allow(clippy::vec_box)]
    responses: Vec<Box<Response>>,
    limit_notices: Vec<LimitNotice>,
    claude_costs: Vec<ClaudeCodeCost>,
    /// The latest response time per session in this read: what a `cost-state` line
    /// without a time of its own covers (Claude Code writes it after those responses).
    last_response_ms: Vec<(std::sync::Arc<str>, i64)>,
    stats: LineStats,
}

impl Fold {
    fn new(source: &str) -> Self {
        Fold {
            texts: SharedTexts::new(source),
            index: KeyIndex::default(),
            responses: Vec::new(),
            limit_notices: Vec::new(),
            claude_costs: Vec::new(),
            last_response_ms: Vec::new(),
            stats: LineStats::default(),
        }
    }

    /// A line skipped without being looked at.
    fn skip(&mut self, reason: SkipReason) {
        self.stats.lines += 1;
        self.stats.skipped[reason as usize] += 1;
    }

    /// `bytes` holds whole lines (the last may lack its newline).
    fn lines(&mut self, bytes: &[u8], at_file_start: bool) {
        let bytes = strip_bom(bytes, at_file_start);
        let mut start = 0;
        for end in memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
            let line = &bytes[start..end];
            start = end + 1;
            if line.is_empty() {
                continue;
            }
            self.stats.lines += 1;
            match parse_line(line, &mut self.texts) {
                LineOutcome::Response(r) => {
                    self.stats.usage_lines += 1;
                    if let Some(session) = &r.session_id {
                        match self.last_response_ms.iter_mut().find(|(s, _)| s == session) {
                            Some(last) => last.1 = last.1.max(r.timestamp_ms),
                            None => self
                                .last_response_ms
                                .push((session.clone(), r.timestamp_ms)),
                        }
                    }
                    match self.index.find(&r.key, &self.responses) {
                        Some(i) => {
                            self.responses[i].merge(*r);
                        }
                        None => {
                            self.index.insert(&r.key, self.responses.len());
                            self.responses.push(r);
                        }
                    }
                }
                LineOutcome::Synthetic(notice) => {
                    self.stats.synthetic_lines += 1;
                    self.limit_notices.extend(notice);
                }
                LineOutcome::ClaudeCost(mut c) => {
                    self.stats.cost_state_lines += 1;
                    if c.observed_at_ms.is_none() {
                        c.observed_at_ms = self
                            .last_response_ms
                            .iter()
                            .find(|(s, _)| **s == *c.session_id)
                            .map(|l| l.1);
                    }
                    match self
                        .claude_costs
                        .iter_mut()
                        .find(|k| k.session_id == c.session_id)
                    {
                        Some(kept) if c.is_later_than(kept) => *kept = *c,
                        Some(_) => {}
                        None => self.claude_costs.push(*c),
                    }
                }
                LineOutcome::NoUsage => {}
                LineOutcome::Skip(reason) => self.stats.skipped[reason as usize] += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(msg: &str, output: u64) -> String {
        format!(
            r#"{{"type":"assistant","sessionId":"s","timestamp":"2026-01-01T00:00:0{output}Z","requestId":"r","message":{{"id":"{msg}","model":"claude-opus-4-6","usage":{{"input_tokens":1,"output_tokens":{output}}}}}}}"#
        )
    }

    /// Keys whose hashes collide are still told apart: with every hash the same, a
    /// read folds as it does with real hashes.
    #[test]
    fn colliding_keys_fold_apart() {
        let text = [
            line("a", 1),
            line("b", 2),
            line("a", 7),
            line("c", 3),
            line("b", 4),
        ]
        .join("\n");
        let fold = |collide: bool| {
            let mut f = Fold::new("/t.jsonl");
            if collide {
                f.index.hash = |_| 7;
            }
            f.lines(text.as_bytes(), true);
            f.responses
                .iter()
                .map(|r| (r.key.clone(), r.usage.output_tokens))
                .collect::<Vec<_>>()
        };
        assert_eq!(fold(true), fold(false));
        assert_eq!(fold(false).len(), 3);
    }

    #[test]
    fn folds_streaming_lines_and_leaves_a_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let full = format!(
            "\u{feff}{}\r\n{}\n{}\n",
            line("a", 1),
            line("a", 7),
            line("b", 2)
        );
        let partial = &line("c", 3)[..40];
        std::fs::write(&path, format!("{full}{partial}")).unwrap();
        let read = read_transcript(&path, None).unwrap();
        assert_eq!(read.responses.len(), 2);
        assert_eq!(read.responses[0].usage.output_tokens, 7);
        assert_eq!(
            read.responses[0].timestamp_ms,
            read.responses[0].timestamp_ms.min(1_767_225_601_000)
        );
        assert_eq!(read.end_offset, full.len() as u64);
        assert_eq!(read.stats.lines, 3);

        // The rest of the line arrives: the next read starts where the last stopped.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "{}", &line("c", 3)[40..]).unwrap();
        let next = read_transcript(&path, Some(&read.resume())).unwrap();
        assert!(!next.restarted);
        assert_eq!(next.responses.len(), 1);
        assert_eq!(next.responses[0].key, "m:c:r");
    }

    #[test]
    fn a_complete_last_line_without_newline_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, line("a", 1)).unwrap();
        let read = read_transcript(&path, None).unwrap();
        assert_eq!(read.responses.len(), 1);
        assert_eq!(read.end_offset, read.size);
    }

    #[test]
    fn a_replaced_file_is_read_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, format!("{}\n", line("a", 1))).unwrap();
        let first = read_transcript(&path, None).unwrap();
        std::fs::write(&path, format!("{}\n{}\n", line("z", 2), line("y", 3))).unwrap();
        let second = read_transcript(&path, Some(&first.resume())).unwrap();
        assert!(second.restarted);
        assert_eq!(second.responses.len(), 2);
        // A file that shrank below the cursor is read again too.
        std::fs::write(&path, "{}\n").unwrap();
        let third = read_transcript(&path, Some(&second.resume())).unwrap();
        assert!(third.restarted);
        assert_eq!(third.start_offset, 0);
    }

    #[test]
    fn a_cost_state_covers_the_responses_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let cost = |usd: f64| {
            format!(
                r#"{{"type":"cost-state","sessionId":"s","totalCostUSD":{usd},"modelUsage":{{}}}}"#
            )
        };
        // Written at exit, sometimes twice; a resumed session writes a larger one later.
        std::fs::write(
            &path,
            format!(
                "{}\n{}\n{}\n{}\n{}\n{}\n",
                line("a", 1),
                line("b", 2),
                cost(0.5),
                cost(0.5),
                line("c", 3),
                cost(0.75)
            ),
        )
        .unwrap();
        let read = read_transcript(&path, None).unwrap();
        assert_eq!(read.stats.cost_state_lines, 3);
        assert_eq!(read.stats.skipped_total(), 0);
        assert_eq!(read.claude_costs.len(), 1);
        let c = &read.claude_costs[0];
        assert_eq!(c.total_cost_usd, 0.75);
        // The last response before it: line("c", 3) at 2026-01-01T00:00:03Z.
        assert_eq!(c.observed_at_ms, Some(1_767_225_603_000));
    }

    #[test]
    fn a_huge_line_spanning_chunks_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let filler = "x".repeat(CHUNK * 2 + 17);
        let big = format!(r#"{{"type":"user","message":{{"content":"{filler}"}}}}"#);
        std::fs::write(&path, format!("{big}\n{}\n", line("a", 4))).unwrap();
        let read = read_transcript(&path, None).unwrap();
        assert_eq!(read.stats.lines, 2);
        assert_eq!(read.responses.len(), 1);
        assert_eq!(read.stats.skipped_total(), 0);
    }

    /// The red team's case: a transcript rewritten in place keeps its inode and its
    /// first 4 KiB, but what follows is replaced (same size, or longer). Resuming at the
    /// old offset would start mid-line and lose what precedes it; the bytes before the
    /// offset no longer match, so the file is read from the start.
    #[test]
    fn a_tail_rewritten_in_place_is_read_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let filler = format!(
            r#"{{"type":"user","message":{{"content":"{}"}}}}"#,
            "f".repeat(5000)
        );
        let original = format!("{filler}\n{}\n{}\n", line("a", 1), line("b", 2));
        std::fs::write(&path, &original).unwrap();
        let first = read_transcript(&path, None).unwrap();
        assert_eq!(first.responses.len(), 2);
        for (case, tail) in [
            // The same size: one response line replaced by another of equal length.
            ("same size", format!("{}\n{}\n", line("c", 3), line("d", 4))),
            // Longer, with the old offset now inside a line.
            (
                "longer",
                format!("{}\n{}\n{}\n", line("e", 5), line("ff", 6), line("g", 7)),
            ),
        ] {
            let rewritten = format!("{filler}\n{tail}");
            assert!(rewritten.len() >= original.len(), "{case}");
            // Rewritten in place: the same inode (no rename), the head unchanged.
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all(rewritten.as_bytes()).unwrap();
            drop(f);
            let again = read_transcript(&path, Some(&first.resume())).unwrap();
            assert!(again.restarted, "{case}");
            let keys: Vec<&str> = again.responses.iter().map(|r| r.key.as_str()).collect();
            let expected: Vec<String> = tail
                .lines()
                .map(|l| {
                    format!(
                        "m:{}:r",
                        &l[l.find(r#""id":""#).unwrap() + 6..]
                            .split('"')
                            .next()
                            .unwrap()
                    )
                })
                .collect();
            assert_eq!(keys, expected, "{case}");
            assert_eq!(again.stats.skipped_total(), 0, "{case}");
        }
        // Appending to a file whose bytes before the offset are unchanged resumes there.
        std::fs::write(&path, &original).unwrap();
        let first = read_transcript(&path, None).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "{}", line("h", 8)).unwrap();
        let grown = read_transcript(&path, Some(&first.resume())).unwrap();
        assert!(!grown.restarted);
        assert_eq!(grown.start_offset, original.len() as u64);
        assert_eq!(grown.responses.len(), 1);
        // A cursor from before tail fingerprints (length 0) still checks the newline.
        let old = Resume {
            tail: Head { len: 0, hash: 0 },
            offset: first.end_offset - 1,
            ..first.resume()
        };
        assert!(read_transcript(&path, Some(&old)).unwrap().restarted);
    }

    /// A line that never ends is skipped once it passes the cap, counted as its own
    /// kind; reading picks up at the next newline, and a file that ends inside it is
    /// resumed there without reading it again.
    #[test]
    fn a_line_longer_than_the_cap_is_skipped_and_reading_resynchronises() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "{}", line("a", 1)).unwrap();
        let endless = vec![0u8; MAX_LINE_BYTES + CHUNK + 5];
        f.write_all(&endless).unwrap();
        drop(f);
        let first = read_transcript(&path, None).unwrap();
        assert_eq!(first.responses.len(), 1);
        assert_eq!(first.stats.skipped(SkipReason::LineTooLong), 1);
        assert!(first.in_long_line);
        assert_eq!(
            first.end_offset, first.size,
            "the long line is not read again"
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "still the long line\n{}", line("b", 2)).unwrap();
        drop(f);
        let next = read_transcript(&path, Some(&first.resume())).unwrap();
        assert!(!next.restarted);
        assert!(!next.in_long_line);
        assert_eq!(next.responses.len(), 1);
        assert_eq!(next.responses[0].key, "m:b:r");
        assert_eq!(
            next.stats.skipped_total(),
            0,
            "the long line was counted once"
        );
        // Read whole, the same: one long line skipped, both responses.
        let whole = read_transcript(&path, None).unwrap();
        assert_eq!(whole.responses.len(), 2);
        assert_eq!(whole.stats.skipped(SkipReason::LineTooLong), 1);
        assert_eq!(whole.stats.lines, 3);
        // A line of exactly the cap is read.
        let content = "y".repeat(MAX_LINE_BYTES - 60);
        let at_cap = format!(r#"{{"type":"user","message":{{"content":"{content}"}}}}"#);
        assert!(at_cap.len() <= MAX_LINE_BYTES);
        std::fs::write(&path, format!("{at_cap}\n{}\n", line("c", 3))).unwrap();
        let read = read_transcript(&path, None).unwrap();
        assert_eq!(read.stats.skipped_total(), 0);
        assert_eq!(read.responses.len(), 1);
    }
}
