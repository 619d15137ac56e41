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

const CHUNK: usize = 4 << 20;

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A fingerprint of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub len: u64,
    pub hash: u64,
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
    /// True when the file no longer matched the cursor's fingerprint and was read from
    /// the start.
    pub restarted: bool,
    /// Where this read began.
    pub start_offset: u64,
    /// Just after the last complete line: where the next read begins.
    pub end_offset: u64,
    /// The file's size when read.
    pub size: u64,
    pub head: Option<Head>,
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
}

/// Reads `path` from `offset` to its last complete line.
///
/// When `known_head` is given and the file's first bytes no longer match it, the file was
/// replaced and is read from the start (merging by response key makes that safe). A
/// last line without its newline is left for the next read unless it is already a
/// complete JSON value: a prefix of a one-object line never is.
pub fn read_transcript(path: &Path, offset: u64, known_head: Option<Head>) -> io::Result<FileRead> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let head = fingerprint(&mut file, size.min(HEAD_BYTES))?;
    let mut start = offset;
    let mut restarted = false;
    if offset > size
        || known_head.is_some_and(|k| k.len > size || fingerprint(&mut file, k.len).ok() != Some(k))
    {
        start = 0;
        restarted = offset > 0;
    }
    let source = path.to_string_lossy();
    let mut buf_offset = start; // file offset of the buffer's first byte
    let mut fold = Fold::new(&source);
    file.seek(SeekFrom::Start(start))?;
    // One buffer per thread, reused across files: allocating and zero-filling a fresh
    // chunk per file cost more than parsing.
    BUFFER.with_borrow_mut(|buf| -> io::Result<()> {
        buf.clear();
        let mut scanned = 0; // bytes of buf already known to hold no newline
        loop {
            // Appends without zero-filling the spare capacity first.
            let n = (&mut file).take(CHUNK as u64).read_to_end(buf)?;
            if n == 0 {
                break;
            }
            let Some(last_nl) = memrchr(b'\n', &buf[scanned..]).map(|i| i + scanned) else {
                scanned = buf.len();
                continue;
            };
            fold.lines(&buf[..=last_nl], buf_offset == 0);
            buf.drain(..=last_nl);
            buf_offset += last_nl as u64 + 1;
            scanned = 0;
        }
        if !buf.is_empty()
            && serde_json::from_slice::<serde::de::IgnoredAny>(strip_bom(buf, buf_offset == 0))
                .is_ok()
        {
            fold.lines(buf, buf_offset == 0);
            buf_offset += buf.len() as u64;
        }
        // A huge line must not pin its memory to the thread for good.
        if buf.capacity() > 2 * CHUNK {
            *buf = Vec::with_capacity(CHUNK);
        }
        Ok(())
    })?;
    Ok(FileRead {
        restarted,
        start_offset: start,
        end_offset: buf_offset,
        size,
        head: Some(head),
        responses: fold.responses,
        limit_notices: fold.limit_notices,
        claude_costs: fold.claude_costs,
        stats: fold.stats,
    })
}

/// The fingerprint of the first `len` bytes (fewer if the file is shorter).
fn fingerprint(file: &mut File, len: u64) -> io::Result<Head> {
    let mut bytes = Vec::with_capacity(len as usize);
    file.seek(SeekFrom::Start(0))?;
    file.by_ref().take(len).read_to_end(&mut bytes)?;
    Ok(Head {
        len: bytes.len() as u64,
        hash: xxhash_rust::xxh3::xxh3_64(&bytes),
    })
}

fn strip_bom(bytes: &[u8], at_file_start: bool) -> &[u8] {
    if at_file_start {
        bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
    } else {
        bytes
    }
}

/// Folds parsed lines into one sighting per response key.
struct Fold {
    texts: SharedTexts,
    index: foldhash::HashMap<String, usize>,
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
            index: foldhash::HashMap::default(),
            responses: Vec::new(),
            limit_notices: Vec::new(),
            claude_costs: Vec::new(),
            last_response_ms: Vec::new(),
            stats: LineStats::default(),
        }
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
                    match self.index.get(&r.key) {
                        Some(&i) => self.responses[i].merge(*r),
                        None => {
                            self.index.insert(r.key.clone(), self.responses.len());
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
        let read = read_transcript(&path, 0, None).unwrap();
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
        let next = read_transcript(&path, read.end_offset, read.head).unwrap();
        assert!(!next.restarted);
        assert_eq!(next.responses.len(), 1);
        assert_eq!(next.responses[0].key, "m:c:r");
    }

    #[test]
    fn a_complete_last_line_without_newline_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, line("a", 1)).unwrap();
        let read = read_transcript(&path, 0, None).unwrap();
        assert_eq!(read.responses.len(), 1);
        assert_eq!(read.end_offset, read.size);
    }

    #[test]
    fn a_replaced_file_is_read_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, format!("{}\n", line("a", 1))).unwrap();
        let first = read_transcript(&path, 0, None).unwrap();
        std::fs::write(&path, format!("{}\n{}\n", line("z", 2), line("y", 3))).unwrap();
        let second = read_transcript(&path, first.end_offset, first.head).unwrap();
        assert!(second.restarted);
        assert_eq!(second.responses.len(), 2);
        // A file that shrank below the cursor is read again too.
        std::fs::write(&path, "{}\n").unwrap();
        let third = read_transcript(&path, second.end_offset, second.head).unwrap();
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
        let read = read_transcript(&path, 0, None).unwrap();
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
        let read = read_transcript(&path, 0, None).unwrap();
        assert_eq!(read.stats.lines, 2);
        assert_eq!(read.responses.len(), 1);
        assert_eq!(read.stats.skipped_total(), 0);
    }
}
