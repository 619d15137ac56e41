//! Writes sessions line by line and records every response in the ledger.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use crate::ledger::{Fig, Ledger};
use crate::rng::Rng;
use crate::text::{
    code, code_between, days_from_civil, encode_cwd, json_escape, msg_id, prefixed_id, prose,
    prose_between, push_b62, push_hex, push_ts, push_u64, push_uuid, req_id, tool_id, ts_string,
    uuid, DAY_MS, HOUR_MS, MIN_MS,
};
use crate::{reference, Expected, GenConfig, Lineup, BAD_KINDS};

// ---------------------------------------------------------------------------
// Claude Code versions: which fields and layouts each era writes.

pub(crate) struct Ver {
    pub name: &'static str,
    /// usage.cache_creation {ephemeral_5m, ephemeral_1h}
    pub breakdown: bool,
    /// usage.server_tool_use
    pub server_tool: bool,
    /// usage.inference_geo
    pub geo: bool,
    /// usage.speed
    pub speed: bool,
    /// subagents under <session>/subagents/ (else flat agent-*.jsonl)
    pub subdir: bool,
    /// agent_progress echoes of subagent lines in the parent
    pub echoes: bool,
    /// leading `summary` lines
    pub summary: bool,
    /// `cost-state` lines when a session ends (2.1.289+)
    pub cost_state: bool,
    /// today's line types: `attachment`, `atis-latch`, `last-prompt`, compaction's
    /// `postTokens`, `output_tokens_details`
    pub new_lines: bool,
    /// some lines write `cache_creation_input_tokens: 0` beside a breakdown that holds
    /// the writes (fixed in 2.1.152)
    pub flat_zero_bug: bool,
}

pub(crate) static VERSIONS: [Ver; 9] = [
    Ver {
        name: "1.0.98",
        breakdown: false,
        server_tool: false,
        geo: false,
        speed: false,
        subdir: false,
        echoes: false,
        summary: true,
        cost_state: false,
        new_lines: false,
        flat_zero_bug: false,
    },
    Ver {
        name: "2.0.14",
        breakdown: true,
        server_tool: true,
        geo: false,
        speed: false,
        subdir: false,
        echoes: false,
        summary: true,
        cost_state: false,
        new_lines: false,
        flat_zero_bug: false,
    },
    Ver {
        name: "2.0.76",
        breakdown: true,
        server_tool: true,
        geo: false,
        speed: false,
        subdir: false,
        echoes: true,
        summary: false,
        cost_state: false,
        new_lines: false,
        flat_zero_bug: false,
    },
    Ver {
        name: "2.1.12",
        breakdown: true,
        server_tool: false,
        geo: true,
        speed: false,
        subdir: true,
        echoes: true,
        summary: false,
        cost_state: false,
        new_lines: false,
        flat_zero_bug: false,
    },
    Ver {
        name: "2.1.39",
        breakdown: true,
        server_tool: false,
        geo: true,
        speed: false,
        subdir: true,
        echoes: true,
        summary: false,
        cost_state: false,
        new_lines: false,
        flat_zero_bug: false,
    },
    Ver {
        name: "2.1.68",
        breakdown: true,
        server_tool: true,
        geo: true,
        speed: true,
        subdir: true,
        echoes: true,
        summary: false,
        cost_state: false,
        new_lines: false,
        flat_zero_bug: false,
    },
    // December 2026 lineup only (see `DEC_VERSIONS`).
    Ver {
        name: "2.1.140",
        breakdown: true,
        server_tool: true,
        geo: true,
        speed: true,
        subdir: true,
        echoes: true,
        summary: false,
        cost_state: false,
        new_lines: false,
        flat_zero_bug: true,
    },
    Ver {
        name: "2.1.257",
        breakdown: true,
        server_tool: true,
        geo: true,
        speed: true,
        subdir: true,
        echoes: true,
        summary: false,
        cost_state: false,
        new_lines: true,
        flat_zero_bug: false,
    },
    Ver {
        name: "2.1.293",
        breakdown: true,
        server_tool: true,
        geo: true,
        speed: true,
        subdir: true,
        echoes: true,
        summary: false,
        cost_state: true,
        new_lines: true,
        flat_zero_bug: false,
    },
];

pub(crate) fn version_index(name: &str) -> usize {
    VERSIONS.iter().position(|v| v.name == name).unwrap_or(5)
}

/// The December 2026 versions: the old-shape one, today's, and one with cost-state.
const DEC_VERSIONS: [usize; 3] = [6, 7, 8];
const LATEST_VERSION: usize = 8;

const MODELS_MAIN: [(&str, u32); 5] = [
    ("claude-opus-4-6", 56),
    ("claude-sonnet-4-5-20250929", 24),
    ("claude-opus-4-1-20250805", 7),
    ("claude-sonnet-4-20250514", 8),
    ("claude-haiku-4-5-20251001", 5),
];
const HAIKU: &str = "claude-haiku-4-5-20251001";
const MYSTERY: &str = "claude-mystery-9";

/// The December 2026 lineup: (model, weight, first day it can appear).
pub(crate) const MODELS_DEC: [(&str, u32, &str); 11] = [
    ("claude-opus-5-5", 30, "2026-09-22"),
    ("claude-sonnet-5-5", 24, "2026-09-28"),
    ("claude-fable-5-2", 10, "2026-11-09"),
    ("claude-fable-5-1", 6, "2026-09-01"),
    ("claude-opus-5", 6, "2026-07-24"),
    ("claude-sonnet-5", 5, "2026-06-30"),
    ("claude-opus-4-8", 7, "2026-05-28"),
    ("claude-haiku-5-5", 6, "2026-10-07"),
    ("claude-mythos-5-2", 2, "2026-11-09"),
    ("claude-fable-5", 2, "2026-06-09"),
    ("claude-opus-4-6", 2, "2026-02-05"),
];
const HAIKU_5_5: &str = "claude-haiku-5-5";

fn day_ms(date: &str) -> i64 {
    format!("{date}T00:00:00Z")
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .unwrap_or(0)
}

/// The lineup's model for a session starting at `start`: one released by then.
fn dec_model(r: &mut Rng, start: i64) -> &'static str {
    let weights: Vec<u32> = MODELS_DEC
        .iter()
        .map(|(_, w, from)| if day_ms(from) <= start { *w } else { 0 })
        .collect();
    if weights.iter().all(|w| *w == 0) {
        return "claude-opus-4-6";
    }
    MODELS_DEC[r.weighted(&weights)].0
}

const PROJECTS: [(&str, u32); 9] = [
    ("/home/dev/projects/webshop", 30),
    ("/home/dev/projects/api-gateway", 20),
    ("/home/dev/projects/ctm", 16),
    ("/home/dev/projects/my app", 8),
    ("/home/dev/projects/café-api", 6),
    // Encodes to the same directory as "my app": the cwd is the only truth.
    ("/home/dev/projects/my-app", 4),
    ("/home/dev/projects/webshop/.worktrees/feat-checkout", 6),
    ("/home/dev/projects/ml_pipeline", 6),
    ("/home/dev/projects/dotfiles", 3),
];

// ---------------------------------------------------------------------------
// Output files.

pub(crate) struct Shared {
    pub ledger: Ledger,
    pub written: u64,
    pub files: u64,
    pub lines: u64,
    pub bad: [u64; 4],
    pub replays: u64,
    pub synthetic: u64,
    pub resets: Vec<i64>,
    pub reset_set: HashSet<i64>,
    /// Claude Code's figure per session (its latest `cost-state` line).
    pub claude_code: BTreeMap<String, crate::ClaudeCodeFigure>,
    /// Sessions that wrote a `cost-state` line so far (every fifth is a planted drift).
    pub cost_states: u64,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            ledger: Ledger::default(),
            written: 0,
            files: 0,
            lines: 0,
            bad: [0; 4],
            replays: 0,
            synthetic: 0,
            resets: Vec::new(),
            reset_set: HashSet::new(),
            claude_code: BTreeMap::new(),
            cost_states: 0,
        }
    }
}

pub(crate) struct Sink {
    w: Option<BufWriter<File>>,
    /// Bytes this file received (or would have, when it is not written).
    pub produced: u64,
    pub lines: u64,
    crlf: bool,
    keep: Option<Vec<String>>,
}

fn set_mtime(f: &File, ms: i64) -> Result<()> {
    f.set_modified(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))?;
    Ok(())
}

impl Sink {
    pub fn create(sh: &mut Shared, path: &Path, bom: bool, crlf: bool, keep: bool) -> Result<Sink> {
        if let Some(d) = path.parent() {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        let mut produced = 0;
        if bom {
            w.write_all(b"\xEF\xBB\xBF")?;
            produced = 3;
            sh.written += 3;
        }
        sh.files += 1;
        Ok(Sink {
            w: Some(w),
            produced,
            lines: 0,
            crlf,
            keep: keep.then(Vec::new),
        })
    }

    pub fn append(path: &Path, crlf: bool) -> Result<Sink> {
        let f = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Sink {
            w: Some(BufWriter::with_capacity(1 << 16, f)),
            produced: 0,
            lines: 0,
            crlf,
            keep: None,
        })
    }

    /// A file that is never written (a subagent whose file was deleted).
    pub fn missing() -> Sink {
        Sink {
            w: None,
            produced: 0,
            lines: 0,
            crlf: false,
            keep: None,
        }
    }

    /// Returns whether the line really landed on disk.
    pub fn write(&mut self, sh: &mut Shared, line: &[u8], copyable: bool) -> Result<bool> {
        let n = line.len() as u64 + if self.crlf { 2 } else { 1 };
        self.produced += n;
        let Some(w) = self.w.as_mut() else {
            return Ok(false);
        };
        w.write_all(line)?;
        w.write_all(if self.crlf { b"\r\n" } else { b"\n" })?;
        self.lines += 1;
        sh.written += n;
        sh.lines += 1;
        if copyable {
            if let Some(k) = self.keep.as_mut() {
                // Copyable lines are built from &str, so this never fails.
                k.push(String::from_utf8_lossy(line).into_owned());
            }
        }
        Ok(true)
    }

    pub fn take_kept(&mut self) -> Option<Vec<String>> {
        self.keep.take()
    }

    pub fn finish(self, mtime_ms: i64) -> Result<()> {
        if let Some(w) = self.w {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            set_mtime(&f, mtime_ms)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// One file being written, with the envelope fields of its lines.

#[derive(Default, Clone, Copy)]
pub(crate) struct Force {
    pub task: bool,
    pub missing: bool,
    pub replay: bool,
    pub synthetic: bool,
    pub no_id: bool,
    pub paste: bool,
    pub mystery: bool,
    pub bad: bool,
    pub web: bool,
    pub no_final: bool,
    pub compact: bool,
    /// The next subagent is the forced one (its file fate is decided by
    /// `missing`, not by chance).
    pub sub: bool,
    /// Responses left whose prompt sits exactly at a band threshold: 100,000 then
    /// 100,001 tokens (Haiku 5.5's band).
    pub boundary: u8,
}

impl Force {
    fn any_response(&self) -> bool {
        self.task || self.no_final || self.paste || self.mystery || self.web || self.boundary > 0
    }
}

pub(crate) struct Track {
    pub sink: Sink,
    pub sid: String,
    pub sess: u32,
    pub proj: u32,
    pub cwd_json: String,
    /// The project directory (`<root>/projects/<encoded-cwd>`).
    pub dir: PathBuf,
    pub ver: &'static Ver,
    pub branch: String,
    pub slug: Option<String>,
    pub agent_id: Option<String>,
    pub sidechain: bool,
    pub off: Option<i32>,
    pub parent: Option<String>,
    pub clock: i64,
    pub model: &'static str,
    pub ctx: u64,
    pub pending: u64,
    pub ctx_limit: u64,
    pub cache_mode: u8,
    pub geo: &'static str,
    pub fast: bool,
    pub target: u64,
    pub last_resp: Option<(String, usize, &'static str)>,
    pub force: Force,
    /// Subagents, compaction, synthetic errors and bad lines (off for `grow`).
    pub extras: bool,
    /// An instant the session must run past (a day or DST boundary).
    pub cross_at: Option<i64>,
}

/// Where a subagent's lines are echoed in its parent.
struct Echo {
    prompt: String,
    agent_id: String,
    parent_tool: String,
    agent_msg: String,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tool {
    Bash,
    Read,
    Edit,
    Grep,
    Glob,
    Write,
    Todo,
    Task,
    Web,
}

const TOOLS: [(Tool, u32); 9] = [
    (Tool::Bash, 30),
    (Tool::Read, 30),
    (Tool::Edit, 14),
    (Tool::Grep, 10),
    (Tool::Glob, 4),
    (Tool::Write, 4),
    (Tool::Todo, 4),
    (Tool::Task, 3),
    (Tool::Web, 1),
];

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Bash => "Bash",
            Tool::Read => "Read",
            Tool::Edit => "Edit",
            Tool::Grep => "Grep",
            Tool::Glob => "Glob",
            Tool::Write => "Write",
            Tool::Todo => "TodoWrite",
            Tool::Task => "Task",
            Tool::Web => "WebSearch",
        }
    }
    /// Median size of the tool's result text.
    fn result_median(self) -> f64 {
        match self {
            Tool::Read => 2600.0,
            Tool::Bash => 1300.0,
            Tool::Grep => 900.0,
            Tool::Web => 3000.0,
            Tool::Glob => 400.0,
            Tool::Edit => 300.0,
            Tool::Write | Tool::Todo => 150.0,
            Tool::Task => 1500.0,
        }
    }
}

struct Call {
    id: String,
    tool: Tool,
    asst_uuid: String,
    prompt: String,
}

#[derive(Clone, Copy)]
enum Block {
    Thinking,
    Text,
    Tool(Tool),
}

// ---------------------------------------------------------------------------

pub(crate) struct Engine {
    pub rng: Rng,
    pub sh: Shared,
    pub projects_dir: PathBuf,
    /// Size scale for small corpora (more, smaller files).
    pub scale: f64,
    /// Size of the long texts (prompts, tool results, thinking, text, bash output)
    /// relative to the default, and the chance that a hook runs: `1 / GenConfig::density`.
    pub content: f64,
    pub budget: u64,
    pub lineup: Lineup,
}

impl Engine {
    /// A content size around `median` (scaled by the density) within `[lo, hi]`.
    fn content_len(&mut self, median: f64, sigma: f64, lo: f64, hi: f64) -> f64 {
        self.rng
            .lognormal(median * self.content, sigma)
            .clamp(lo * self.content, hi * self.content)
    }
}

fn push_prefix(t: &Track, b: &mut String) {
    b.push_str("{\"parentUuid\":");
    match &t.parent {
        Some(p) => {
            b.push('"');
            b.push_str(p);
            b.push('"');
        }
        None => b.push_str("null"),
    }
    b.push_str(if t.sidechain {
        ",\"isSidechain\":true"
    } else {
        ",\"isSidechain\":false"
    });
    b.push_str(",\"userType\":\"external\",\"cwd\":\"");
    b.push_str(&t.cwd_json);
    b.push_str("\",\"sessionId\":\"");
    b.push_str(&t.sid);
    b.push_str("\",\"version\":\"");
    b.push_str(t.ver.name);
    b.push_str("\",\"gitBranch\":\"");
    b.push_str(&t.branch);
    b.push('"');
    if let Some(a) = &t.agent_id {
        b.push_str(",\"agentId\":\"");
        b.push_str(a);
        b.push('"');
    }
    if let Some(s) = &t.slug {
        b.push_str(",\"slug\":\"");
        b.push_str(s);
        b.push('"');
    }
}

fn push_tail(b: &mut String, uuid: &str, t: &Track) {
    b.push_str(",\"uuid\":\"");
    b.push_str(uuid);
    b.push_str("\",\"timestamp\":\"");
    push_ts(b, t.clock, t.off);
    b.push_str("\"}");
}

fn push_usage(b: &mut String, f: &Fig, out: u64, t: &Track, geo: &str, web_fetch: u64) {
    b.push_str("{\"input_tokens\":");
    push_u64(b, f.input);
    b.push_str(",\"cache_creation_input_tokens\":");
    push_u64(b, if f.flat_zero { 0 } else { f.cc });
    b.push_str(",\"cache_read_input_tokens\":");
    push_u64(b, f.cr);
    if f.breakdown {
        b.push_str(",\"cache_creation\":{\"ephemeral_5m_input_tokens\":");
        push_u64(b, f.cc5);
        b.push_str(",\"ephemeral_1h_input_tokens\":");
        push_u64(b, f.cc1);
        b.push('}');
    }
    b.push_str(",\"output_tokens\":");
    push_u64(b, out);
    if t.ver.new_lines {
        // Already inside output_tokens.
        b.push_str(",\"output_tokens_details\":{\"thinking_tokens\":");
        push_u64(b, out / 4);
        b.push('}');
    }
    if t.ver.server_tool {
        b.push_str(",\"server_tool_use\":{\"web_search_requests\":");
        push_u64(b, f.web);
        b.push_str(",\"web_fetch_requests\":");
        push_u64(b, web_fetch);
        b.push('}');
    }
    b.push_str(",\"service_tier\":\"standard\"");
    if t.ver.geo {
        b.push_str(",\"inference_geo\":\"");
        b.push_str(geo);
        b.push('"');
    }
    if t.ver.speed {
        b.push_str(if t.fast {
            ",\"speed\":\"fast\""
        } else {
            ",\"speed\":\"standard\""
        });
    }
    b.push('}');
}

impl Engine {
    fn tick(&mut self, t: &mut Track, lo: i64, hi: i64) {
        t.clock += self.rng.range(lo as u64, hi as u64) as i64;
    }

    fn remaining(&self) -> u64 {
        self.budget.saturating_sub(self.sh.written)
    }

    fn emit(&mut self, t: &mut Track, line: &str, uuid: String) -> Result<bool> {
        let ok = t.sink.write(&mut self.sh, line.as_bytes(), true)?;
        t.parent = Some(uuid);
        Ok(ok)
    }

    // ---- plain lines ----

    fn snapshot(&mut self, t: &mut Track) -> Result<()> {
        let id = uuid(&mut self.rng);
        let mut b = String::with_capacity(1500);
        b.push_str("{\"type\":\"file-history-snapshot\",\"messageId\":\"");
        b.push_str(&id);
        b.push_str("\",\"snapshot\":{\"messageId\":\"");
        b.push_str(&id);
        b.push_str("\",\"trackedFileBackups\":{");
        let n = self.rng.geometric(0.4, 8);
        for i in 0..n {
            if i > 0 {
                b.push(',');
            }
            b.push_str("\"src/");
            push_hex(&mut self.rng, &mut b, 8);
            b.push_str(".rs\":{\"backupFileName\":\"");
            push_hex(&mut self.rng, &mut b, 16);
            b.push_str("@v2\",\"version\":2,\"backupTime\":\"");
            push_ts(&mut b, t.clock, t.off);
            b.push_str("\"}");
        }
        b.push_str("},\"timestamp\":\"");
        push_ts(&mut b, t.clock, t.off);
        b.push_str("\"},\"isSnapshotUpdate\":");
        b.push_str(if n > 0 { "true}" } else { "false}" });
        t.sink.write(&mut self.sh, b.as_bytes(), true)?;
        Ok(())
    }

    fn hook(&mut self, t: &mut Track, event: &str, tool: Option<&str>) -> Result<()> {
        const CMDS: [&str; 5] = [
            "/home/dev/.claude/hooks/notify.sh",
            "${CLAUDE_PLUGIN_ROOT}/scripts/format-on-save.sh",
            "bd prime",
            "${CLAUDE_PLUGIN_ROOT}/hooks/guard-secrets.py --strict",
            "cd ${CLAUDE_PLUGIN_ROOT}/hooks && bun run ./dist/on-tool.js",
        ];
        // A dense history runs fewer hooks, as it has shorter texts.
        if self.content < 1.0 && !self.rng.chance(self.content) {
            return Ok(());
        }
        let u = uuid(&mut self.rng);
        let tid = match tool {
            Some(id) => id.to_string(),
            None => uuid(&mut self.rng),
        };
        let mut b = String::with_capacity(640);
        push_prefix(t, &mut b);
        b.push_str(",\"type\":\"progress\",\"data\":{\"type\":\"hook_progress\",\"hookEvent\":\"");
        b.push_str(event);
        b.push_str("\",\"hookName\":\"");
        b.push_str(event);
        if tool.is_some() {
            b.push_str(":Bash");
        } else if event == "SessionStart" {
            b.push_str(":startup");
        }
        b.push_str("\",\"command\":\"");
        b.push_str(self.rng.pick(&CMDS));
        b.push_str("\"},\"parentToolUseID\":\"");
        b.push_str(&tid);
        b.push_str("\",\"toolUseID\":\"");
        b.push_str(&tid);
        b.push('"');
        push_tail(&mut b, &u, t);
        self.emit(t, &b, u)?;
        self.tick(t, 1, 40);
        Ok(())
    }

    fn bash_progress(&mut self, t: &mut Track, tool: &str, k: u64) -> Result<()> {
        let u = uuid(&mut self.rng);
        let n = self.content_len(700.0, 0.9, 40.0, 20_000.0) as usize;
        let mut b = String::with_capacity(n + 800);
        push_prefix(t, &mut b);
        b.push_str(",\"type\":\"progress\",\"data\":{\"type\":\"bash_progress\",\"output\":\"");
        code(&mut self.rng, &mut b, n / 5);
        b.push_str("\",\"fullOutput\":\"");
        code(&mut self.rng, &mut b, n);
        b.push_str("\",\"elapsedTimeSeconds\":");
        push_u64(&mut b, k * 3 + 1);
        b.push_str(",\"totalLines\":");
        push_u64(&mut b, n as u64 / 60 + 1);
        b.push_str("},\"toolUseID\":\"bash-progress-");
        push_u64(&mut b, k);
        b.push_str("\",\"parentToolUseID\":\"");
        b.push_str(tool);
        b.push('"');
        push_tail(&mut b, &u, t);
        self.emit(t, &b, u)?;
        self.tick(t, 900, 3100);
        Ok(())
    }

    fn system(&mut self, t: &mut Track, subtype: &str) -> Result<()> {
        let u = uuid(&mut self.rng);
        let mut b = String::with_capacity(800);
        push_prefix(t, &mut b);
        b.push_str(",\"type\":\"system\",\"subtype\":\"");
        b.push_str(subtype);
        b.push('"');
        if subtype == "turn_duration" {
            b.push_str(",\"durationMs\":");
            push_u64(&mut b, self.rng.range(2_000, 900_000));
            b.push_str(",\"isMeta\":false");
        } else {
            b.push_str(",\"hookCount\":2,\"hookInfos\":[{\"command\":\"/home/dev/.claude/hooks/notify.sh mark\"},{\"command\":\"${CLAUDE_PLUGIN_ROOT}/hooks/stop-hook.sh\"}],\"hookErrors\":[],\"preventedContinuation\":false,\"stopReason\":\"\",\"hasOutput\":true,\"level\":\"suggestion\"");
        }
        push_tail(&mut b, &u, t);
        self.emit(t, &b, u)?;
        self.tick(t, 5, 60);
        Ok(())
    }

    fn user_prompt(&mut self, t: &mut Track, text: Option<&str>) -> Result<usize> {
        let u = uuid(&mut self.rng);
        let mut b = String::with_capacity(1200);
        push_prefix(t, &mut b);
        b.push_str(",\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"");
        let start = b.len();
        match text {
            Some(s) => b.push_str(s),
            None => {
                let n = self.content_len(220.0, 1.0, 10.0, 12_000.0) as usize;
                prose(&mut self.rng, &mut b, n);
            }
        }
        let len = b.len() - start;
        b.push_str("\"},\"uuid\":\"");
        b.push_str(&u);
        b.push_str("\",\"timestamp\":\"");
        push_ts(&mut b, t.clock, t.off);
        if t.sidechain {
            b.push_str("\"}");
        } else {
            b.push_str("\",\"thinkingMetadata\":{\"maxThinkingTokens\":31999},\"todos\":[],\"permissionMode\":\"bypassPermissions\"}");
        }
        self.emit(t, &b, u)?;
        Ok(len)
    }

    /// A tool result; returns the result size (bytes of one copy).
    fn tool_result(&mut self, t: &mut Track, call: &Call, text: Option<&str>) -> Result<usize> {
        let u = uuid(&mut self.rng);
        let body = match text {
            Some(s) => s.to_string(),
            None => {
                let left = t.target.saturating_sub(t.sink.produced);
                let cap = (left / 3).max(400) as f64;
                let n = self
                    .content_len(call.tool.result_median() * 1.25, 1.3, 20.0, 160_000.0)
                    .min(cap) as usize;
                let mut s = String::with_capacity(n + 16);
                code(&mut self.rng, &mut s, n);
                s
            }
        };
        let mut b = String::with_capacity(2 * body.len() + 900);
        push_prefix(t, &mut b);
        b.push_str(
            ",\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"",
        );
        b.push_str(&call.id);
        b.push_str("\",\"type\":\"tool_result\",\"content\":\"");
        b.push_str(&body);
        b.push_str("\",\"is_error\":false}]},\"uuid\":\"");
        b.push_str(&u);
        b.push_str("\",\"timestamp\":\"");
        push_ts(&mut b, t.clock, t.off);
        // Claude Code stores the result twice (message and toolUseResult).
        if call.tool == Tool::Read {
            b.push_str("\",\"toolUseResult\":{\"type\":\"text\",\"file\":{\"filePath\":\"");
            b.push_str(&t.cwd_json);
            b.push_str("/src/lib.rs\",\"content\":\"");
            b.push_str(&body);
            b.push_str("\",\"numLines\":");
            push_u64(&mut b, body.len() as u64 / 40 + 1);
            b.push_str(",\"startLine\":1,\"totalLines\":");
            push_u64(&mut b, body.len() as u64 / 40 + 1);
            b.push_str("}}");
        } else {
            b.push_str("\",\"toolUseResult\":{\"stdout\":\"");
            b.push_str(&body);
            b.push_str("\",\"stderr\":\"\",\"interrupted\":false,\"isImage\":false,\"noOutputExpected\":false}");
        }
        b.push_str(",\"sourceToolAssistantUUID\":\"");
        b.push_str(&call.asst_uuid);
        b.push_str("\"}");
        self.emit(t, &b, u)?;
        Ok(body.len())
    }

    // ---- responses ----

    fn figures(&mut self, t: &mut Track) -> Fig {
        let r = &mut self.rng;
        let mut f = Fig {
            breakdown: t.ver.breakdown,
            ..Fig::default()
        };
        if t.ctx == 0 {
            if !t.sidechain && r.chance(0.5) {
                f.cr = r.range(12_000, 18_000);
                f.cc = r.range(2_000, 9_000) + t.pending;
            } else {
                f.cc = r.range(8_000, 26_000) + t.pending;
            }
        } else {
            f.cr = t.ctx;
            f.cc = t.pending + r.range(40, 700);
        }
        if t.force.paste || r.chance(0.003) {
            // A huge paste: this and the following requests exceed 200k input.
            t.force.paste = false;
            f.cc += r.range(200_000, 260_000);
        }
        f.input = if r.chance(0.02) {
            r.range(20, 1_500)
        } else {
            r.range(1, 9)
        };
        match t.cache_mode {
            0 => f.cc5 = f.cc,
            1 => f.cc1 = f.cc,
            _ => {
                f.cc1 = f.cc * r.range(0, 100) / 100;
                f.cc5 = f.cc - f.cc1;
            }
        }
        if t.ver.server_tool && (t.force.web || r.chance(0.02)) {
            t.force.web = false;
            f.web = r.range(1, 3);
        }
        if t.force.boundary > 0 {
            // The prompt (input + cache writes + cache reads) exactly at, then one
            // token above, the band's threshold.
            let prompt = if t.force.boundary == 2 {
                100_000
            } else {
                100_001
            };
            t.force.boundary -= 1;
            f.input = 3;
            f.cc = 997;
            f.cc5 = 497;
            f.cc1 = if f.breakdown { 500 } else { 0 };
            if !f.breakdown {
                f.cc5 = 997;
            }
            f.cr = prompt - 1000;
        }
        f
    }

    fn content_block(&mut self, t: &Track, blk: Block, b: &mut String, call: &mut Option<Call>) {
        let c = self.content;
        let r = &mut self.rng;
        match blk {
            Block::Thinking => {
                b.push_str("{\"type\":\"thinking\",\"thinking\":\"");
                let n = r.lognormal(500.0 * c, 0.8).clamp(30.0 * c, 8_000.0 * c) as usize;
                prose(r, b, n);
                b.push_str("\",\"signature\":\"");
                let n = r.range(200, 1_400) as usize;
                push_b62(r, b, n);
                b.push_str("\"}");
            }
            Block::Text => {
                b.push_str("{\"type\":\"text\",\"text\":\"");
                let n = r.lognormal(260.0 * c, 1.0).clamp(2.0 * c, 9_000.0 * c) as usize;
                prose(r, b, n);
                b.push_str("\"}");
            }
            Block::Tool(tool) => {
                let id = tool_id(r);
                b.push_str("{\"type\":\"tool_use\",\"id\":\"");
                b.push_str(&id);
                b.push_str("\",\"name\":\"");
                b.push_str(tool.name());
                b.push_str("\",\"input\":{");
                let mut prompt = String::new();
                match tool {
                    Tool::Bash => {
                        b.push_str("\"command\":\"");
                        code_between(r, b, 10, 160);
                        b.push_str("\",\"description\":\"");
                        prose_between(r, b, 10, 60);
                        b.push('"');
                    }
                    Tool::Read | Tool::Write | Tool::Edit => {
                        b.push_str("\"file_path\":\"");
                        b.push_str(&t.cwd_json);
                        b.push_str("/src/");
                        push_hex(r, b, 6);
                        b.push_str(".rs\"");
                        if tool == Tool::Edit {
                            b.push_str(",\"old_string\":\"");
                            code_between(r, b, 30, 500);
                            b.push_str("\",\"new_string\":\"");
                            code_between(r, b, 30, 900);
                            b.push_str("\",\"replace_all\":false");
                        } else if tool == Tool::Write {
                            b.push_str(",\"content\":\"");
                            code_between(r, b, 200, 4_000);
                            b.push('"');
                        }
                    }
                    Tool::Grep | Tool::Glob => {
                        b.push_str("\"pattern\":\"");
                        prose_between(r, b, 3, 30);
                        b.push_str("\",\"path\":\"");
                        b.push_str(&t.cwd_json);
                        b.push('"');
                    }
                    Tool::Todo => {
                        b.push_str("\"todos\":[");
                        for i in 0..r.range(1, 5) {
                            if i > 0 {
                                b.push(',');
                            }
                            b.push_str("{\"content\":\"");
                            prose_between(r, b, 10, 60);
                            b.push_str("\",\"status\":\"pending\",\"activeForm\":\"");
                            prose_between(r, b, 10, 60);
                            b.push_str("\"}");
                        }
                        b.push(']');
                    }
                    Tool::Task => {
                        prose_between(r, &mut prompt, 150, 1_500);
                        b.push_str("\"description\":\"");
                        prose_between(r, b, 10, 40);
                        b.push_str("\",\"prompt\":\"");
                        b.push_str(&prompt);
                        b.push_str("\",\"subagent_type\":\"Explore\"");
                    }
                    Tool::Web => {
                        b.push_str("\"query\":\"");
                        prose_between(r, b, 10, 60);
                        b.push('"');
                    }
                }
                b.push_str("},\"caller\":{\"type\":\"direct\"}}");
                *call = Some(Call {
                    id,
                    tool,
                    asst_uuid: String::new(),
                    prompt,
                });
            }
        }
    }

    fn pick_tool(&mut self, t: &mut Track) -> Tool {
        if t.force.task && !t.sidechain {
            t.force.task = false;
            t.force.sub = true;
            return Tool::Task;
        }
        loop {
            let i = self
                .rng
                .weighted(&TOOLS.iter().map(|x| x.1).collect::<Vec<_>>());
            let tool = TOOLS[i].0;
            let ok = match tool {
                Tool::Task => !t.sidechain && t.extras,
                Tool::Todo => !t.sidechain,
                _ => true,
            };
            if ok {
                return tool;
            }
        }
    }

    /// Writes one API response (one line per content block) and returns its
    /// tool calls. `echo` mirrors the lines into the parent as agent_progress.
    fn response(
        &mut self,
        t: &mut Track,
        mut echo: Option<(&mut Track, &Echo)>,
        tools: usize,
        no_id: bool,
    ) -> Result<Vec<Call>> {
        let model: &'static str = if t.force.mystery || self.rng.chance(0.0008) {
            t.force.mystery = false;
            MYSTERY
        } else {
            t.model
        };
        let mut f = self.figures(t);
        if t.ver.flat_zero_bug && f.breakdown && f.cc > 0 {
            f.flat_zero = self.rng.chance(0.3);
        }
        let web_fetch = u64::from(t.ver.server_tool && self.rng.chance(0.01));
        let geo = t.geo;

        let mut blocks = Vec::with_capacity(tools + 2);
        if !no_id {
            if self.rng.chance(0.25) {
                blocks.push(Block::Thinking);
            }
            if tools == 0 || self.rng.chance(0.35) {
                blocks.push(Block::Text);
            }
            for _ in 0..tools {
                let tool = self.pick_tool(t);
                blocks.push(Block::Tool(tool));
            }
        } else {
            blocks.push(Block::Text);
        }
        let n = blocks.len();
        let thinking = matches!(blocks[0], Block::Thinking);
        let mut final_out = (self.rng.lognormal(90.0, 1.1) as u64).clamp(14, 32_000);
        if thinking {
            final_out += self.rng.range(30, 600);
        }
        let no_final = !no_id
            && (std::mem::take(&mut t.force.no_final)
                || self.rng.chance(if n > 1 { 0.12 } else { 0.04 }));
        let mut outs = Vec::with_capacity(n);
        let mut ph = self.rng.range(1, 13);
        for i in 0..n {
            if i + 1 == n && !no_final {
                outs.push(final_out);
            } else {
                if i > 0 && self.rng.chance(0.3) {
                    ph = self.rng.range(ph, 13);
                }
                outs.push(ph);
            }
        }
        let counted_out = *outs.iter().max().unwrap_or(&0);

        let mi = self.sh.ledger.model(model);
        // What ctm reads: speed and geography only where the version writes them.
        let fast = t.ver.speed && t.fast;
        let us = t.ver.geo && geo == "us";
        let ri = self.sh.ledger.new_resp(t.sess, t.proj, mi, &f, fast, us);
        let mid = msg_id(&mut self.rng);
        let req = req_id(&mut self.rng);
        t.ctx = f.cr + f.cc + f.input + counted_out;
        t.pending = 0;

        let mut calls = Vec::new();
        for (i, blk) in blocks.iter().enumerate() {
            if i + 1 == n && !no_final {
                // The final line waits for the whole output to stream.
                t.clock += (final_out * self.rng.range(8, 20)) as i64;
            }
            let u = uuid(&mut self.rng);
            let mut msg = String::with_capacity(1400);
            msg.push_str("{\"model\":\"");
            msg.push_str(model);
            if !no_id {
                msg.push_str("\",\"id\":\"");
                msg.push_str(&mid);
            }
            msg.push_str("\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[");
            let mut call = None;
            self.content_block(t, *blk, &mut msg, &mut call);
            msg.push_str("],\"stop_reason\":");
            if i + 1 == n && !no_final {
                msg.push_str(if tools > 0 {
                    "\"tool_use\""
                } else {
                    "\"end_turn\""
                });
            } else {
                msg.push_str("null");
            }
            msg.push_str(",\"stop_sequence\":null,\"usage\":");
            push_usage(&mut msg, &f, outs[i], t, geo, web_fetch);
            msg.push('}');

            let mut b = String::with_capacity(msg.len() + 600);
            push_prefix(t, &mut b);
            b.push_str(",\"message\":");
            b.push_str(&msg);
            if !no_id {
                b.push_str(",\"requestId\":\"");
                b.push_str(&req);
                b.push('"');
            }
            b.push_str(",\"type\":\"assistant\"");
            push_tail(&mut b, &u, t);
            // Lines without a message.id are never copied elsewhere.
            let written = t.sink.write(&mut self.sh, b.as_bytes(), !no_id)?;
            if written {
                self.sh.ledger.observe(ri, outs[i], t.clock);
            }
            t.parent = Some(u.clone());
            if let Some((p, e)) = echo.as_mut() {
                if self.rng.chance(0.85) {
                    self.echo_assistant(p, e, &msg, &req, &u, t.clock, ri, outs[i])?;
                }
            }
            if let Some(mut c) = call {
                c.asst_uuid = u;
                calls.push(c);
            }
            self.tick(t, 150, 900);
        }
        if !no_id {
            t.last_resp = Some((mid, ri, model));
        }
        Ok(calls)
    }

    #[allow(clippy::too_many_arguments)]
    fn echo_assistant(
        &mut self,
        p: &mut Track,
        e: &Echo,
        msg: &str,
        req: &str,
        inner_uuid: &str,
        ts: i64,
        ri: usize,
        out: u64,
    ) -> Result<()> {
        let u = uuid(&mut self.rng);
        let mut b = String::with_capacity(msg.len() + e.prompt.len() + 900);
        push_prefix(p, &mut b);
        // Same instant as the subagent's line, so either timestamp gives the same day.
        b.push_str(
            ",\"type\":\"progress\",\"data\":{\"message\":{\"type\":\"assistant\",\"timestamp\":\"",
        );
        push_ts(&mut b, ts, p.off);
        b.push_str("\",\"message\":");
        b.push_str(msg);
        b.push_str(",\"requestId\":\"");
        b.push_str(req);
        b.push_str("\",\"uuid\":\"");
        b.push_str(inner_uuid);
        b.push_str("\"},\"normalizedMessages\":[],\"type\":\"agent_progress\",\"prompt\":\"");
        b.push_str(&e.prompt);
        b.push_str("\",\"agentId\":\"");
        b.push_str(&e.agent_id);
        b.push_str("\"},\"toolUseID\":\"");
        b.push_str(&e.agent_msg);
        b.push_str("\",\"parentToolUseID\":\"");
        b.push_str(&e.parent_tool);
        b.push_str("\",\"uuid\":\"");
        b.push_str(&u);
        b.push_str("\",\"timestamp\":\"");
        push_ts(&mut b, ts, p.off);
        b.push_str("\"}");
        if self.emit(p, &b, u)? {
            self.sh.ledger.observe(ri, out, ts);
        }
        Ok(())
    }

    fn echo_user(&mut self, p: &mut Track, e: &Echo, ts: i64, tool: Option<&str>) -> Result<()> {
        let u = uuid(&mut self.rng);
        let mut b = String::with_capacity(e.prompt.len() * 2 + 1500);
        push_prefix(p, &mut b);
        b.push_str(",\"type\":\"progress\",\"data\":{\"message\":{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[");
        match tool {
            None => {
                b.push_str("{\"type\":\"text\",\"text\":\"");
                b.push_str(&e.prompt);
                b.push_str("\"}");
            }
            Some(id) => {
                b.push_str("{\"tool_use_id\":\"");
                b.push_str(id);
                b.push_str("\",\"type\":\"tool_result\",\"content\":\"");
                let n = self.rng.range(100, 1_500) as usize;
                code(&mut self.rng, &mut b, n);
                b.push_str("\"}");
            }
        }
        b.push_str("]},\"uuid\":\"");
        push_uuid(&mut self.rng, &mut b);
        b.push_str("\",\"timestamp\":\"");
        push_ts(&mut b, ts, p.off);
        b.push_str("\"},\"normalizedMessages\":[],\"type\":\"agent_progress\",\"prompt\":\"");
        b.push_str(&e.prompt);
        b.push_str("\",\"agentId\":\"");
        b.push_str(&e.agent_id);
        b.push_str("\"},\"toolUseID\":\"");
        b.push_str(&e.agent_msg);
        b.push_str("\",\"parentToolUseID\":\"");
        b.push_str(&e.parent_tool);
        b.push_str("\",\"uuid\":\"");
        b.push_str(&u);
        b.push_str("\",\"timestamp\":\"");
        push_ts(&mut b, ts, p.off);
        b.push_str("\"}");
        self.emit(p, &b, u)?;
        Ok(())
    }

    // ---- tools and subagents ----

    fn run_tool(&mut self, t: &mut Track, call: Call) -> Result<()> {
        for _ in 0..self.rng.range(1, 5) {
            self.hook(t, "PreToolUse", Some(&call.id))?;
        }
        if call.tool == Tool::Bash && self.rng.chance(0.5) {
            for k in 0..self.rng.range(1, 6) {
                self.bash_progress(t, &call.id, k)?;
            }
        }
        let n = if call.tool == Tool::Task {
            let summary = self.subagent(t, &call)?;
            self.tool_result(t, &call, Some(&summary))?
        } else {
            let ms = if call.tool == Tool::Bash {
                self.rng.lognormal(2_000.0, 1.2).clamp(30.0, 600_000.0) as i64
            } else {
                self.rng.range(20, 800) as i64
            };
            t.clock += ms;
            self.tool_result(t, &call, None)?
        };
        t.pending += n as u64 / 4 + self.rng.range(100, 1_000);
        for _ in 0..self.rng.range(1, 3) {
            self.hook(t, "PostToolUse", Some(&call.id))?;
        }
        Ok(())
    }

    fn sub_tool(&mut self, s: &mut Track, p: &mut Track, e: &Echo, call: Call) -> Result<()> {
        for _ in 0..self.rng.range(0, 3) {
            self.hook(s, "PreToolUse", Some(&call.id))?;
        }
        s.clock += self.rng.range(20, 1_500) as i64;
        let n = self.tool_result(s, &call, None)?;
        s.pending += n as u64 / 4 + self.rng.range(100, 1_000);
        if p.ver.echoes && self.rng.chance(0.4) {
            self.echo_user(p, e, s.clock, Some(&call.id))?;
        }
        for _ in 0..self.rng.range(0, 3) {
            self.hook(s, "PostToolUse", Some(&call.id))?;
        }
        Ok(())
    }

    fn new_agent_path(&mut self, t: &Track, flat: bool, compact: bool) -> (String, PathBuf) {
        let dir = t.dir.clone();
        loop {
            let mut id = String::from(if compact { "acompact-" } else { "a" });
            push_hex(
                &mut self.rng,
                &mut id,
                if compact {
                    6
                } else {
                    6 + 10 * (t.ver.speed as usize)
                },
            );
            let path = if flat {
                dir.join(format!("agent-{id}.jsonl"))
            } else {
                dir.join(&t.sid)
                    .join("subagents")
                    .join(format!("agent-{id}.jsonl"))
            };
            if !path.exists() {
                return (id, path);
            }
        }
    }

    fn child_track(
        &mut self,
        t: &Track,
        sink: Sink,
        agent_id: String,
        model: &'static str,
    ) -> Track {
        Track {
            sink,
            sid: t.sid.clone(),
            sess: t.sess,
            proj: t.proj,
            cwd_json: t.cwd_json.clone(),
            dir: t.dir.clone(),
            ver: t.ver,
            branch: t.branch.clone(),
            slug: t.slug.clone(),
            agent_id: Some(agent_id),
            sidechain: true,
            off: if self.rng.chance(0.02) {
                Some(540)
            } else {
                None
            },
            parent: None,
            clock: t.clock + self.rng.range(100, 900) as i64,
            model,
            ctx: 0,
            pending: 0,
            ctx_limit: 150_000,
            cache_mode: t.cache_mode,
            geo: if model == HAIKU {
                "not_available"
            } else {
                t.geo
            },
            fast: t.fast,
            target: 0,
            last_resp: None,
            force: Force::default(),
            extras: false,
            cross_at: None,
        }
    }

    /// Runs a Task subagent: its own file (unless missing) plus echoes in the
    /// parent. Returns the summary text handed back as the tool result.
    fn subagent(&mut self, t: &mut Track, call: &Call) -> Result<String> {
        let flat = !t.ver.subdir;
        // Only echo-carrying versions can lose the file and keep the usage visible.
        let replay_forced = t.force.replay;
        let forced = std::mem::take(&mut t.force.sub);
        let missing = t.ver.echoes
            && !replay_forced
            && if forced {
                std::mem::take(&mut t.force.missing)
            } else {
                self.rng.chance(0.1)
            };
        let (agent_id, path) = self.new_agent_path(t, flat, false);
        let sink = if missing {
            Sink::missing()
        } else {
            let bom = self.rng.chance(0.01);
            let crlf = self.rng.chance(0.01);
            Sink::create(&mut self.sh, &path, bom, crlf, false)?
        };
        if !missing && !flat && self.rng.chance(0.4) {
            let meta = path.with_file_name(format!("agent-{agent_id}.meta.json"));
            let mut body = String::from("{\"agentType\":\"Explore\",\"description\":\"");
            prose(&mut self.rng, &mut body, 30);
            body.push_str("\"}\n");
            fs::write(&meta, body)?;
        }
        let haiku = match self.lineup {
            Lineup::Dec2026 if t.clock >= day_ms("2026-10-07") => HAIKU_5_5,
            _ => HAIKU,
        };
        let model = if self.rng.chance(0.7) { haiku } else { t.model };
        let mut s = self.child_track(t, sink, agent_id.clone(), model);
        if self.lineup == Lineup::Dec2026 {
            // Claude Code asks for fast mode only where it is offered.
            s.fast = t.fast && reference::fast_offered(model, s.clock);
        }
        let cap = (self.remaining() / 2).min(self.budget / 12).max(4_000) as f64;
        s.target = self
            .rng
            .lognormal(70_000.0 * self.scale, 1.1)
            .clamp(3_000.0, 30_000_000.0)
            .min(cap) as u64;
        let e = Echo {
            prompt: call.prompt.clone(),
            agent_id,
            parent_tool: call.id.clone(),
            agent_msg: prefixed_id(&mut self.rng, "agent_msg_01", 22),
        };
        let echoes = t.ver.echoes;
        self.user_prompt(&mut s, Some(&call.prompt))?;
        if echoes {
            self.echo_user(t, &e, s.clock, None)?;
        }
        self.tick(&mut s, 800, 4_000);
        let replay_src = t.last_resp.clone();
        let mut replay = replay_forced || self.rng.chance(0.03);
        loop {
            let done = s.sink.produced >= s.target;
            let tools = if done {
                0
            } else if self.rng.chance(0.92) {
                1
            } else {
                2
            };
            let calls = if echoes {
                self.response(&mut s, Some((t, &e)), tools, false)?
            } else {
                self.response(&mut s, None, tools, false)?
            };
            for c in calls {
                self.sub_tool(&mut s, t, &e, c)?;
                self.tick(&mut s, 500, 4_000);
            }
            if replay && !missing {
                if let Some(src) = &replay_src {
                    self.replay(&mut s, src)?;
                    t.force.replay = false;
                }
                replay = false;
            }
            if done {
                break;
            }
        }
        let mut summary = String::new();
        prose_between(&mut self.rng, &mut summary, 200, 3_000);
        t.clock = t.clock.max(s.clock) + self.rng.range(200, 2_000) as i64;
        let end = s.clock;
        s.sink.finish(end)?;
        Ok(summary)
    }

    /// A /btw-style replay: an earlier response's message.id under a new
    /// requestId on a sidechain line. Not billed.
    fn replay(&mut self, s: &mut Track, src: &(String, usize, &'static str)) -> Result<()> {
        let r = self.sh.ledger.get(src.1).clone();
        let f = Fig {
            input: r.input,
            cc: r.cc,
            cc5: r.cc5,
            cc1: r.cc1,
            cr: r.cr,
            web: if s.ver.server_tool { r.web } else { 0 },
            breakdown: s.ver.breakdown,
            flat_zero: false,
        };
        let u = uuid(&mut self.rng);
        let mut b = String::with_capacity(1500);
        push_prefix(s, &mut b);
        b.push_str(",\"message\":{\"model\":\"");
        b.push_str(src.2);
        b.push_str("\",\"id\":\"");
        b.push_str(&src.0);
        b.push_str("\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"");
        prose(&mut self.rng, &mut b, 120);
        b.push_str("\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":");
        let geo = s.geo;
        push_usage(&mut b, &f, r.output, s, geo, 0);
        b.push_str("},\"requestId\":\"");
        b.push_str(&req_id(&mut self.rng));
        b.push_str("\",\"type\":\"assistant\"");
        push_tail(&mut b, &u, s);
        if s.sink.write(&mut self.sh, b.as_bytes(), false)? {
            self.sh.replays += 1;
        }
        s.parent = Some(u);
        self.tick(s, 200, 900);
        Ok(())
    }

    /// Context compaction: an acompact subagent (newer versions) and the
    /// boundary + summary lines in the parent.
    fn compact(&mut self, t: &mut Track, acompact: bool) -> Result<()> {
        if t.ver.subdir && (acompact || self.rng.chance(0.75)) {
            let (agent_id, path) = self.new_agent_path(t, false, true);
            let sink = Sink::create(&mut self.sh, &path, false, false, false)?;
            let model = t.model;
            let mut s = self.child_track(t, sink, agent_id, model);
            s.ctx = t.ctx;
            s.pending = t.pending;
            let mut p = String::new();
            prose_between(&mut self.rng, &mut p, 2_000, 4_500);
            self.user_prompt(&mut s, Some(&p))?;
            self.tick(&mut s, 2_000, 9_000);
            self.response(&mut s, None, 0, false)?;
            t.clock = s.clock + self.rng.range(500, 3_000) as i64;
            let end = s.clock;
            s.sink.finish(end)?;
        }
        let u = uuid(&mut self.rng);
        let logical = t.parent.take();
        let mut b = String::with_capacity(700);
        push_prefix(t, &mut b);
        b.push_str(",\"logicalParentUuid\":");
        match &logical {
            Some(l) => {
                b.push('"');
                b.push_str(l);
                b.push('"');
            }
            None => b.push_str("null"),
        }
        b.push_str(",\"type\":\"system\",\"subtype\":\"compact_boundary\",\"content\":\"Conversation compacted\",\"isMeta\":false,\"level\":\"info\",\"compactMetadata\":{\"trigger\":\"auto\",\"preTokens\":");
        push_u64(&mut b, t.ctx);
        if t.ver.new_lines {
            b.push_str(",\"postTokens\":");
            push_u64(&mut b, t.ctx / 9);
            b.push_str(",\"durationMs\":");
            push_u64(&mut b, 20_000 + t.ctx / 10);
        }
        b.push('}');
        push_tail(&mut b, &u, t);
        self.emit(t, &b, u)?;
        let mut text = String::from("This session is being continued from a previous conversation that ran out of context.\\n\\n");
        prose_between(&mut self.rng, &mut text, 3_000, 9_000);
        let n = self.user_prompt(t, Some(&text))?;
        t.ctx = self.rng.range(14_000, 20_000);
        t.pending = n as u64 / 4;
        Ok(())
    }

    fn synthetic(&mut self, t: &mut Track, limit: bool) -> Result<()> {
        const ERRORS: [&str; 3] = [
            "API Error: 529 {\\\"type\\\":\\\"error\\\",\\\"error\\\":{\\\"type\\\":\\\"overloaded_error\\\",\\\"message\\\":\\\"Overloaded\\\"}}",
            "API Error: Request was aborted.",
            "Prompt is too long",
        ];
        let mut reset = 0;
        let mut text = String::new();
        if limit {
            reset = (t.clock / 1000 / 3600 + self.rng.range(1, 5) as i64) * 3600;
            while self.sh.reset_set.contains(&reset) {
                reset += 3600;
            }
            text.push_str("Claude AI usage limit reached|");
            text.push_str(&reset.to_string());
        } else {
            text.push_str(self.rng.pick(&ERRORS));
        }
        let u = uuid(&mut self.rng);
        let mut b = String::with_capacity(1000);
        push_prefix(t, &mut b);
        b.push_str(",\"type\":\"assistant\",\"uuid\":\"");
        b.push_str(&u);
        b.push_str("\",\"timestamp\":\"");
        push_ts(&mut b, t.clock, t.off);
        b.push_str("\",\"message\":{\"id\":\"");
        push_uuid(&mut self.rng, &mut b);
        b.push_str("\",\"container\":null,\"model\":\"<synthetic>\",\"role\":\"assistant\",\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"\",\"type\":\"message\",\"usage\":{\"input_tokens\":0,\"output_tokens\":0,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"server_tool_use\":{\"web_search_requests\":0,\"web_fetch_requests\":0},\"service_tier\":null,\"cache_creation\":{\"ephemeral_1h_input_tokens\":0,\"ephemeral_5m_input_tokens\":0}},\"content\":[{\"type\":\"text\",\"text\":\"");
        b.push_str(&text);
        b.push_str("\"}]},\"isApiErrorMessage\":true}");
        if t.sink.write(&mut self.sh, b.as_bytes(), false)? {
            self.sh.synthetic += 1;
            if limit {
                self.sh.reset_set.insert(reset);
                self.sh.resets.push(reset);
            }
        }
        t.parent = Some(u);
        if limit {
            // The user waits for the window to reset: a gap in the timeline.
            t.clock = t.clock.max(reset * 1000)
                + self.rng.range(MIN_MS as u64, 90 * MIN_MS as u64) as i64;
        }
        Ok(())
    }

    /// An assistant-shaped line with fresh ids that is registered nowhere.
    fn fake_assistant(&mut self, t: &Track, usage: &str, text_marker: Option<&str>) -> String {
        let mut b = String::with_capacity(1200);
        push_prefix(t, &mut b);
        b.push_str(",\"message\":{\"model\":\"");
        b.push_str(t.model);
        b.push_str("\",\"id\":\"");
        b.push_str(&msg_id(&mut self.rng));
        b.push_str("\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"");
        prose(&mut self.rng, &mut b, 200);
        if let Some(m) = text_marker {
            b.push_str(m);
            prose(&mut self.rng, &mut b, 40);
        }
        b.push_str("\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":");
        b.push_str(usage);
        b.push_str("},\"requestId\":\"");
        b.push_str(&req_id(&mut self.rng));
        b.push_str("\",\"type\":\"assistant\",\"uuid\":\"");
        push_uuid(&mut self.rng, &mut b);
        b.push_str("\",\"timestamp\":\"");
        push_ts(&mut b, t.clock, t.off);
        b.push_str("\"}");
        b
    }

    fn bad_line(&mut self, t: &mut Track, kind: usize, variant: usize) -> Result<()> {
        const GOOD_USAGE: &str = "{\"input_tokens\":3,\"cache_creation_input_tokens\":1200,\"cache_read_input_tokens\":40000,\"output_tokens\":250,\"service_tier\":\"standard\"}";
        const GARBAGE: [&str; 7] = [
            "<<<<<<< HEAD",
            "Killed",
            "}{",
            "{\"parentUuid\":",
            "undefined",
            "NaN",
            "{'type': 'assistant'}",
        ];
        const NOT_OBJECT: [&str; 4] = ["[1,2]", "null", "42", "\"str\""];
        let bytes: Vec<u8> = match kind {
            0 => {
                if variant & 1 == 0 {
                    // A line cut short (a crash mid-write), at a char boundary.
                    let full = self.fake_assistant(t, GOOD_USAGE, None);
                    let mut cut =
                        self.rng.range(full.len() as u64 / 4, full.len() as u64 - 2) as usize;
                    while !full.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    full.as_bytes()[..cut].to_vec()
                } else {
                    self.rng.pick(&GARBAGE).as_bytes().to_vec()
                }
            }
            1 => NOT_OBJECT[variant % 4].as_bytes().to_vec(),
            2 => {
                const MARK: &str = "@@INVALID@@";
                let line = self.fake_assistant(t, GOOD_USAGE, Some(MARK));
                let at = line.find(MARK).unwrap_or(0);
                let mut v = line.as_bytes()[..at].to_vec();
                v.extend_from_slice(&[0xFF, 0xFE]);
                v.extend_from_slice(&line.as_bytes()[at + MARK.len()..]);
                v
            }
            _ => {
                let usage = match variant % 3 {
                    0 => "{\"input_tokens\":-5,\"cache_creation_input_tokens\":1200,\"cache_read_input_tokens\":40000,\"output_tokens\":250,\"service_tier\":\"standard\"}",
                    1 => "{\"input_tokens\":3,\"cache_creation_input_tokens\":1200,\"cache_read_input_tokens\":40000,\"output_tokens\":1000000000000,\"service_tier\":\"standard\"}",
                    _ => "{\"input_tokens\":3,\"cache_creation_input_tokens\":1200,\"cache_read_input_tokens\":\"40000\",\"output_tokens\":250,\"service_tier\":\"standard\"}",
                };
                self.fake_assistant(t, usage, None).into_bytes()
            }
        };
        if t.sink.write(&mut self.sh, &bytes, false)? {
            self.sh.bad[kind] += 1;
        }
        Ok(())
    }

    // ---- sessions ----

    fn turn(&mut self, t: &mut Track) -> Result<()> {
        if t.extras && (t.ctx > t.ctx_limit || (t.force.compact && t.ctx > 0)) {
            let forced = std::mem::take(&mut t.force.compact);
            self.compact(t, forced)?;
        }
        if t.extras && (t.force.synthetic || (t.cross_at.is_none() && self.rng.chance(0.004))) {
            let limit = std::mem::take(&mut t.force.synthetic) || self.rng.chance(0.7);
            self.synthetic(t, limit)?;
        }
        if self.rng.chance(0.2) {
            self.snapshot(t)?;
        }
        let n = self.user_prompt(t, None)?;
        t.pending += n as u64 / 4 + 10;
        for _ in 0..self.rng.range(1, 3) {
            self.hook(t, "UserPromptSubmit", None)?;
        }
        if t.ver.new_lines && self.rng.chance(0.3) {
            self.attachment(t)?;
        }
        self.tick(t, 1_500, 8_000);
        let mut nresp = 1 + self.rng.geometric(0.2, 40) as usize;
        if t.force.any_response() {
            nresp = nresp.max(3);
        }
        for r in 0..nresp {
            if r > 0 && t.sink.produced >= t.target && t.force.boundary == 0 {
                break;
            }
            let tools = if r + 1 == nresp {
                0
            } else if self.rng.chance(0.07) {
                self.rng.range(2, 4) as usize
            } else {
                1
            };
            let calls = self.response(t, None, tools, false)?;
            for c in calls {
                self.run_tool(t, c)?;
            }
            let gap = self.rng.lognormal(2_500.0, 0.6).clamp(300.0, 60_000.0) as i64;
            t.clock += gap;
        }
        if std::mem::take(&mut t.force.no_id) || self.rng.chance(0.003) {
            self.response(t, None, 0, true)?;
        }
        for _ in 0..self.rng.range(1, 3) {
            self.hook(t, "Stop", None)?;
        }
        if self.rng.chance(0.25) {
            self.system(t, "stop_hook_summary")?;
        }
        if self.rng.chance(0.4) {
            self.system(t, "turn_duration")?;
        }
        if t.extras {
            if std::mem::take(&mut t.force.bad) {
                for (kind, variants) in [(0, 2), (1, 4), (2, 1), (3, 3)] {
                    for v in 0..variants {
                        self.bad_line(t, kind, v)?;
                    }
                }
            } else if self.rng.chance(0.02) {
                let kind = self.rng.below(4) as usize;
                let v = self.rng.below(12) as usize;
                self.bad_line(t, kind, v)?;
            }
        }
        if t.slug.is_none() && !t.sidechain {
            let words = [
                "linked",
                "soaring",
                "matsumoto",
                "lexical",
                "painting",
                "whisper",
                "quiet",
                "amber",
                "river",
            ];
            let mut s = String::new();
            for i in 0..3 {
                if i > 0 {
                    s.push('-');
                }
                s.push_str(self.rng.pick(&words));
            }
            t.slug = Some(s);
        }
        // Think time; now and then a long break (gaps between 5-hour blocks).
        let pause = if self.rng.chance(0.04) {
            self.rng.range(HOUR_MS as u64, 10 * HOUR_MS as u64) as i64
        } else {
            self.rng
                .lognormal(60_000.0, 1.4)
                .clamp(4_000.0, 4.0 * HOUR_MS as f64) as i64
        };
        t.clock += pause;
        if let Some(c) = t.cross_at.take() {
            // The next prompt comes just after the boundary being straddled.
            if t.clock < c {
                t.clock = c + self.rng.range(1_000, 120_000) as i64;
            }
        }
        Ok(())
    }

    /// Turns until the file reaches its target size (at least one turn).
    pub fn run_turns(&mut self, t: &mut Track) -> Result<()> {
        loop {
            let crossing = t.cross_at.is_some();
            self.turn(t)?;
            // A forced compaction needs a second turn (it runs at turn start).
            if t.sink.produced >= t.target && !t.force.compact && t.force.boundary == 0 && !crossing
            {
                return Ok(());
            }
        }
    }

    /// An `attachment` line (hook context added to a prompt); some carry a `usage` key
    /// of their own, which is not an API response's.
    fn attachment(&mut self, t: &mut Track) -> Result<()> {
        let u = uuid(&mut self.rng);
        let mut b = String::with_capacity(600);
        push_prefix(t, &mut b);
        b.push_str(",\"type\":\"attachment\",\"attachment\":{\"type\":\"hook_additional_context\",\"content\":[\"");
        prose_between(&mut self.rng, &mut b, 20, 200);
        b.push_str("\"],\"hookName\":\"UserPromptSubmit\"");
        if self.rng.chance(0.3) {
            b.push_str(",\"usage\":{\"contextTokens\":");
            push_u64(&mut b, self.rng.range(100, 5_000));
            b.push('}');
        }
        b.push('}');
        push_tail(&mut b, &u, t);
        self.emit(t, &b, u)?;
        Ok(())
    }

    /// What Claude Code writes when a session ends: the `last-prompt` line, and from
    /// 2.1.289 on its own account of the session's cost (`cost-state`, sometimes twice).
    /// Its figure is the reference's cost of the session's responses plus under 0.5% of
    /// requests no transcript shows; every fifth session with a figure (of at least
    /// $0.50) gets a planted drift instead.
    pub fn end_session(&mut self, t: &mut Track) -> Result<()> {
        if t.ver.new_lines {
            let mut b = String::from("{\"type\":\"last-prompt\",\"lastPrompt\":\"");
            prose_between(&mut self.rng, &mut b, 10, 80);
            b.push_str("\",\"sessionId\":\"");
            b.push_str(&t.sid);
            b.push_str("\"}");
            t.sink.write(&mut self.sh, b.as_bytes(), false)?;
        }
        if !t.ver.cost_state {
            return Ok(());
        }
        // The last word is the main agent's: it answers after any subagent, then exits.
        self.response(t, None, 0, false)?;
        let mut account: Vec<(String, crate::ledger::ModelAccount)> =
            self.sh.ledger.session_account(t.sess).into_iter().collect();
        let Some(main) = account
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.cost_usd.total_cmp(&b.1 .1.cost_usd))
            .map(|(i, _)| i)
        else {
            return Ok(());
        };
        let truth: f64 = account.iter().map(|(_, a)| a.cost_usd).sum();
        self.sh.cost_states += 1;
        let n = self.sh.cost_states;
        let drifted = n % 5 == 3 && truth >= 0.02;
        let m = &mut account[main].1;
        if drifted {
            // Far beyond 1% and $0.01 of the session's cost.
            match (n / 5) % 3 {
                // Claude Code's bundled prices lag: lower.
                2 if m.cost_usd >= 0.1 => m.cost_usd *= 0.7,
                // Requests no transcript shows.
                1 => {
                    m.input += m.input / 5 + 50_000;
                    m.cost_usd += (m.cost_usd * 0.25).max(0.05);
                }
                // Claude Code bills the model at other rates.
                _ => m.cost_usd += (m.cost_usd * 0.3).max(0.05),
            }
        } else {
            // Session titles and prompt suggestions: a little more, well within 1%.
            let extra = self.rng.range(0, 40) as f64 / 10_000.0;
            m.cost_usd += truth * extra;
            m.input += (m.input as f64 * extra) as u64;
        }
        let total: f64 = account.iter().map(|(_, a)| a.cost_usd).sum();
        let unknown = account.iter().any(|(_, a)| a.unpriced > 0);
        let mut b = String::with_capacity(600);
        b.push_str("{\"type\":\"cost-state\",\"sessionId\":\"");
        b.push_str(&t.sid);
        b.push_str("\",\"totalCostUSD\":");
        b.push_str(&total.to_string());
        b.push_str(",\"totalAPIDuration\":");
        push_u64(&mut b, self.rng.range(10_000, 9_000_000));
        b.push_str(",\"totalToolDuration\":");
        push_u64(&mut b, self.rng.range(1_000, 900_000));
        b.push_str(",\"totalLinesAdded\":");
        push_u64(&mut b, self.rng.range(0, 900));
        b.push_str(",\"totalLinesRemoved\":");
        push_u64(&mut b, self.rng.range(0, 300));
        b.push_str(",\"modelUsage\":{");
        for (i, (model, a)) in account.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            b.push('"');
            b.push_str(model);
            // Claude Code keys its 1M-context setting with a tag transcripts never carry.
            if self.rng.chance(0.3) {
                b.push_str("[1m]");
            }
            b.push_str("\":{\"inputTokens\":");
            push_u64(&mut b, a.input);
            b.push_str(",\"outputTokens\":");
            push_u64(&mut b, a.output);
            b.push_str(",\"thinkingTokens\":");
            push_u64(&mut b, a.output / 4);
            b.push_str(",\"cacheReadInputTokens\":");
            push_u64(&mut b, a.cache_read);
            b.push_str(",\"cacheCreationInputTokens\":");
            push_u64(&mut b, a.cache_creation);
            b.push_str(",\"webSearchRequests\":");
            push_u64(&mut b, a.web);
            b.push_str(",\"costUSD\":");
            b.push_str(&a.cost_usd.to_string());
            b.push('}');
        }
        b.push_str("},\"hasUnknownModelCost\":");
        b.push_str(if unknown { "true}" } else { "false}" });
        let copies = if self.rng.chance(0.25) { 2 } else { 1 };
        let mut written = false;
        for _ in 0..copies {
            written |= t.sink.write(&mut self.sh, b.as_bytes(), false)?;
        }
        if written {
            self.sh.claude_code.insert(
                t.sid.clone(),
                crate::ClaudeCodeFigure {
                    cost_usd: total,
                    drifted,
                },
            );
        }
        Ok(())
    }

    fn session_start(&mut self, t: &mut Track) -> Result<()> {
        if t.ver.summary && self.rng.chance(0.5) {
            let mut b = String::from("{\"type\":\"summary\",\"summary\":\"");
            prose_between(&mut self.rng, &mut b, 20, 80);
            b.push_str("\",\"leafUuid\":\"");
            push_uuid(&mut self.rng, &mut b);
            b.push_str("\"}");
            t.sink.write(&mut self.sh, b.as_bytes(), true)?;
        }
        self.snapshot(t)?;
        for _ in 0..self.rng.range(1, 4) {
            self.hook(t, "SessionStart", None)?;
        }
        if t.ver.new_lines && self.rng.chance(0.3) {
            let mut b = String::from("{\"type\":\"atis-latch\",\"sessionId\":\"");
            b.push_str(&t.sid);
            b.push_str("\",\"timestamp\":\"");
            push_ts(&mut b, t.clock, t.off);
            b.push_str("\",\"latched\":true}");
            t.sink.write(&mut self.sh, b.as_bytes(), true)?;
        }
        if self.rng.chance(0.05) {
            let mut b = String::from(
                "{\"type\":\"queue-operation\",\"operation\":\"enqueue\",\"timestamp\":\"",
            );
            push_ts(&mut b, t.clock, t.off);
            b.push_str("\",\"sessionId\":\"");
            b.push_str(&t.sid);
            b.push_str("\",\"content\":\"");
            prose(&mut self.rng, &mut b, 120);
            b.push_str("\"}");
            t.sink.write(&mut self.sh, b.as_bytes(), true)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Planning of a whole data root.

struct Calendar {
    days: Vec<(i64, u32)>,
}

impl Calendar {
    fn new(rng: &mut Rng, first_day: i64, ndays: i64) -> Calendar {
        let mut days = Vec::new();
        let mut d = 0;
        while d < ndays {
            // Bursts of busy days separated by quiet stretches.
            let active = rng.range(1, 6) as i64;
            for k in 0..active {
                if d + k < ndays {
                    days.push((first_day + d + k, rng.range(1, 6) as u32));
                }
            }
            d += active;
            d += if rng.chance(0.1) {
                rng.range(8, 20)
            } else {
                rng.range(0, 5)
            } as i64;
        }
        if days.is_empty() {
            days.push((first_day, 1));
        }
        Calendar { days }
    }

    fn pick(&self, rng: &mut Rng) -> i64 {
        let w: Vec<u32> = self.days.iter().map(|x| x.1).collect();
        let day = self.days[rng.weighted(&w)].0;
        const HOURS: [u32; 24] = [
            2, 1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 9, 8, 9, 10, 10, 9, 8, 6, 6, 7, 6, 5, 3,
        ];
        let h = rng.weighted(&HOURS) as i64;
        day * DAY_MS + h * HOUR_MS + rng.below(HOUR_MS as u64) as i64
    }
}

/// Instants of America/New_York offset changes within the range.
fn dst_changes(first_day: i64, ndays: i64) -> Vec<i64> {
    let Ok(tz) = jiff::tz::TimeZone::get("America/New_York") else {
        return Vec::new();
    };
    let off = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|ts| tz.to_offset(ts).seconds())
            .unwrap_or(0)
    };
    let mut out = Vec::new();
    for d in first_day..first_day + ndays {
        let a = d * DAY_MS;
        if off(a) != off(a + DAY_MS) {
            for h in 0..24 {
                let x = a + h * HOUR_MS;
                if off(x) != off(x + HOUR_MS) {
                    out.push(x + HOUR_MS);
                    break;
                }
            }
        }
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    session_id: String,
    full_path: String,
    file_mtime: i64,
    first_prompt: String,
    message_count: u64,
    created: String,
    modified: String,
    git_branch: String,
    project_path: String,
    is_sidechain: bool,
}

#[derive(Serialize)]
struct IndexFile<'a> {
    version: u32,
    entries: &'a [IndexEntry],
}

struct Plan {
    proj: usize,
    start: i64,
    target: u64,
    ver: usize,
    bom: bool,
    crlf: bool,
    off: Option<i32>,
    keep: bool,
    empty: bool,
    force: Force,
    cross_at: Option<i64>,
    /// The session's model and fast mode, when a special case sets them.
    model: Option<&'static str>,
    fast: Option<bool>,
}

struct Planner<'a> {
    cfg: &'a GenConfig,
    eng: Engine,
    rng: Rng,
    cal: Calendar,
    first_day: i64,
    ndays: i64,
    specials: Vec<i64>,
    /// Per special boundary: the model (and fast mode) whose price changes there.
    special_models: Vec<Option<(&'static str, bool)>>,
    index: BTreeMap<String, Vec<IndexEntry>>,
}

impl Planner<'_> {
    fn plan(&mut self, idx: usize) -> Plan {
        let r = &mut self.rng;
        let w: Vec<u32> = PROJECTS.iter().map(|p| p.1).collect();
        let mut proj = r.weighted(&w);
        let mut start = self.cal.pick(r);
        let special = self.specials.get(idx.wrapping_sub(1)).copied();
        if let Some(s) = special {
            // Starts shortly before a day or DST boundary.
            start = s - r.range(2 * MIN_MS as u64, 9 * MIN_MS as u64) as i64;
        }
        let pos = (start.div_euclid(DAY_MS) - self.first_day) as f64 / self.ndays.max(1) as f64;
        let vf = (pos + (r.f64() - 0.5) * 0.1).clamp(0.0, 0.999);
        let mut ver = match self.cfg.lineup {
            Lineup::Feb2026 => match vf {
                // Older eras are short, so flat subagent files stay few.
                x if x < 0.04 => 0,
                x if x < 0.08 => 1,
                x if x < 0.12 => 2,
                x if x < 0.45 => 3,
                x if x < 0.75 => 4,
                _ => 5,
            },
            Lineup::Dec2026 => {
                DEC_VERSIONS[match vf {
                    x if x < 0.1 => 0,
                    x if x < 0.35 => 1,
                    _ => 2,
                }]
            }
        };
        let scale = self.eng.scale;
        // No ordinary session takes more than a slice of the corpus.
        let cap = self
            .eng
            .remaining()
            .min(self.cfg.target_bytes / 12)
            .max(4_000) as f64;
        let target = r
            .lognormal(120_000.0 * scale, 1.45)
            .clamp(4_000.0, 60_000_000.0)
            .min(cap) as u64;
        let mut p = Plan {
            proj,
            start,
            target,
            ver,
            bom: r.chance(0.02),
            crlf: r.chance(0.02),
            off: if r.chance(0.03) {
                Some(r.pick(&[540, 330, -300, 60]))
            } else {
                None
            },
            keep: target < 5_000_000.min(self.cfg.target_bytes / 20) && r.chance(0.06),
            empty: r.chance(0.01),
            force: Force::default(),
            cross_at: special,
            model: None,
            fast: None,
        };
        // The first sessions carry one of each special case, so even a
        // small corpus exercises every rule.
        match idx {
            0 => {
                p.keep = true;
                p.force.bad = true;
                p.force.web = true;
                if !VERSIONS[ver].server_tool {
                    ver = 5;
                }
            }
            1 => {
                ver = 0;
                p.force.no_id = true;
            }
            2 => {
                p.bom = true;
                proj = 3;
            }
            3 => {
                p.crlf = true;
                proj = 4;
            }
            4 => {
                p.off = Some(540);
                p.force.mystery = true;
                proj = 5;
            }
            5 => {
                ver = ver.max(3);
                p.force.task = true;
                p.force.missing = true;
                p.force.paste = true;
            }
            6 => {
                ver = ver.max(2);
                p.force.task = true;
                p.force.replay = true;
                p.force.no_final = true;
                p.force.synthetic = true;
            }
            7 => {
                ver = 2;
                p.force.task = true;
            }
            8 => p.empty = true,
            9 => {
                ver = ver.max(3);
                p.force.compact = true;
            }
            _ => {}
        }
        if idx != 8 && idx < 10 {
            p.empty = false;
        }
        if self.cfg.lineup == Lineup::Dec2026 {
            if let Some(Some((model, fast))) = self.special_models.get(idx.wrapping_sub(1)) {
                // Across a price change at midnight UTC, in today's format.
                p.model = Some(model);
                p.fast = Some(*fast);
                ver = LATEST_VERSION;
            }
            if (10..10 + MODELS_DEC.len()).contains(&idx) {
                // Every model of the lineup at least once, after its release.
                let (model, _, from) = MODELS_DEC[idx - 10];
                p.model = Some(model);
                let from = day_ms(from).max(self.first_day * DAY_MS);
                let to = (self.first_day + self.ndays) * DAY_MS - 6 * HOUR_MS;
                if p.start < from && from < to {
                    p.start = from + self.rng.below((to - from) as u64) as i64;
                }
            }
            if idx == 9 {
                // Haiku 5.5 exactly at and just above its 100,000-token band.
                p.model = Some(HAIKU_5_5);
                p.force.boundary = 2;
                ver = LATEST_VERSION;
                let from = day_ms("2026-10-08").max(self.first_day * DAY_MS);
                let to = (self.first_day + self.ndays) * DAY_MS - 6 * HOUR_MS;
                if from < to {
                    p.start = from + self.rng.below((to - from) as u64) as i64;
                }
            }
        }
        p.proj = proj;
        p.ver = ver;
        p
    }

    fn session(
        &mut self,
        p: &Plan,
        copies: Option<&[String]>,
        sid: String,
    ) -> Result<Option<(Vec<String>, i64)>> {
        let (cwd, _) = PROJECTS[p.proj];
        let enc = encode_cwd(cwd);
        let dir = self.eng.projects_dir.join(&enc);
        let path = dir.join(format!("{sid}.jsonl"));
        if p.empty {
            fs::create_dir_all(&dir)?;
            let f = File::create(&path)?;
            set_mtime(&f, p.start)?;
            self.eng.sh.files += 1;
            return Ok(None);
        }
        let r = &mut self.rng;
        let model = match self.cfg.lineup {
            Lineup::Feb2026 => MODELS_MAIN[r.weighted(&MODELS_MAIN.map(|m| m.1))].0,
            Lineup::Dec2026 => match p.model {
                Some(m) => m,
                None => dec_model(r, p.start),
            },
        };
        let ver = &VERSIONS[p.ver];
        let branch = match r.below(4) {
            0 | 1 => "main".to_string(),
            2 => prefixed_id(r, "feat/", 6),
            _ => prefixed_id(r, "fix/", 5),
        };
        let cache_mode = r.weighted(&[70, 15, 15]) as u8;
        let geo = match self.cfg.lineup {
            Lineup::Feb2026 => ["global", "not_available", "us"][r.weighted(&[75, 23, 2])],
            // Fast mode and data residency together, across a special boundary.
            Lineup::Dec2026 if p.fast == Some(true) => "us",
            Lineup::Dec2026 => {
                let g = ["global", "not_available", "us", ""][r.weighted(&[55, 20, 18, 7])];
                if g == "us" && !reference::us_offered(model) {
                    "not_available"
                } else {
                    g
                }
            }
        };
        let ctx_limit = if r.chance(0.04) {
            700_000
        } else {
            r.range(150_000, 175_000)
        };
        let fast = match self.cfg.lineup {
            Lineup::Feb2026 => r.chance(0.05),
            Lineup::Dec2026 => match p.fast {
                Some(f) => f,
                None => reference::fast_offered(model, p.start) && r.chance(0.15),
            },
        };
        let sink = Sink::create(&mut self.eng.sh, &path, p.bom, p.crlf, p.keep)?;
        let sess = self.eng.sh.ledger.session(&sid);
        let proj = self.eng.sh.ledger.project(cwd);
        let mut t = Track {
            sink,
            sid: sid.clone(),
            sess,
            proj,
            cwd_json: json_escape(cwd),
            dir: dir.clone(),
            ver,
            branch: branch.clone(),
            slug: None,
            agent_id: None,
            sidechain: false,
            off: p.off,
            parent: None,
            clock: p.start,
            model,
            ctx: 0,
            pending: 0,
            ctx_limit,
            cache_mode,
            geo,
            fast,
            target: p.target,
            last_resp: None,
            force: p.force,
            extras: true,
            cross_at: p.cross_at,
        };
        if let Some(c) = copies {
            // A resumed session starts with a verbatim copy of earlier history.
            for line in c {
                t.sink.write(&mut self.eng.sh, line.as_bytes(), false)?;
            }
        }
        self.eng.session_start(&mut t)?;
        self.eng.run_turns(&mut t)?;
        self.eng.end_session(&mut t)?;
        if self.rng.chance(0.1) {
            let td = dir.join(&sid).join("tool-results");
            fs::create_dir_all(&td)?;
            for _ in 0..self.rng.range(1, 3) {
                let mut body = String::new();
                code_between(&mut self.rng, &mut body, 2_000, 20_000);
                fs::write(td.join(format!("{}.txt", tool_id(&mut self.rng))), body)?;
            }
        }
        let mut first_prompt = String::new();
        prose(&mut self.rng, &mut first_prompt, 60);
        self.index.entry(enc.clone()).or_default().push(IndexEntry {
            session_id: sid.clone(),
            full_path: format!("/home/dev/.claude/projects/{enc}/{sid}.jsonl"),
            file_mtime: t.clock,
            first_prompt: serde_json::from_str::<String>(&format!("\"{first_prompt}\""))
                .unwrap_or_default(),
            message_count: t.sink.lines,
            created: ts_string(p.start, None),
            modified: ts_string(t.clock, None),
            git_branch: branch,
            project_path: cwd.to_string(),
            is_sidechain: false,
        });
        let kept = t.sink.take_kept();
        let end = t.clock;
        t.sink.finish(end)?;
        Ok(kept.map(|k| (k, end)))
    }

    fn run(&mut self) -> Result<()> {
        let mut idx = 0usize;
        if let Some(h) = self.cfg.huge_file_bytes {
            let mut p = self.plan(usize::MAX);
            p.target = h.max(4_000);
            p.keep = false;
            p.empty = false;
            let sid = uuid(&mut self.rng);
            self.session(&p, None, sid)?;
        }
        // Large corpora get a few transcripts of several tens of MB.
        let giants = (self.cfg.target_bytes / 350_000_000) as usize;
        let mut giant_marks: Vec<u64> = (1..=giants)
            .map(|k| self.cfg.target_bytes * k as u64 / (giants as u64 + 1))
            .collect();
        // The first sessions carry the forced special cases: always write them.
        while idx < 10 || self.eng.sh.written < self.cfg.target_bytes {
            let mut p = self.plan(idx);
            if let Some(&m) = giant_marks.first() {
                if self.eng.sh.written >= m {
                    giant_marks.remove(0);
                    p.target = self.rng.range(15_000_000, 50_000_000);
                    p.keep = false;
                    p.empty = false;
                }
            }
            let sid = uuid(&mut self.rng);
            let kept = self.session(&p, None, sid.clone())?;
            if let Some((lines, end)) = kept {
                // Resume it: a new session whose file begins with a copy.
                let n = lines.len();
                let take = if n == 0 {
                    0
                } else {
                    self.rng.range(n as u64 / 2, n as u64) as usize
                };
                let mut q = self.plan(usize::MAX);
                q.proj = p.proj;
                q.ver = p.ver.max(q.ver.min(p.ver + 1));
                q.start = end + self.rng.range(10 * MIN_MS as u64, 2 * DAY_MS as u64) as i64;
                q.keep = false;
                q.empty = false;
                q.force = Force::default();
                let copied: u64 = lines[..take].iter().map(|l| l.len() as u64 + 1).sum();
                q.target += copied;
                let sid2 = uuid(&mut self.rng);
                self.session(&q, Some(&lines[..take]), sid2)?;
            }
            idx += 1;
        }
        for (enc, entries) in &self.index {
            let path = self.eng.projects_dir.join(enc).join("sessions-index.json");
            let mut data = serde_json::to_vec_pretty(&IndexFile {
                version: 1,
                entries,
            })?;
            data.push(b'\n');
            fs::write(path, data)?;
        }
        Ok(())
    }
}

pub(crate) fn finish_expected(sh: &Shared, exp: &mut Expected) -> Result<()> {
    for (i, k) in BAD_KINDS.iter().enumerate() {
        *exp.bad_lines.entry(k.to_string()).or_insert(0) += sh.bad[i];
    }
    exp.sidechain_replays += sh.replays;
    exp.synthetic_errors += sh.synthetic;
    exp.limit_resets.extend(sh.resets.iter().copied());
    exp.limit_resets.sort_unstable();
    exp.cost
        .claude_code
        .extend(sh.claude_code.iter().map(|(k, v)| (k.clone(), v.clone())));
    exp.lines += sh.lines;
    exp.bytes += sh.written;
    exp.files += sh.files;
    sh.ledger.add_into(exp)
}

/// Writes a data root into `root` (which must be empty or absent) and returns
/// the ground truth, also saved as `<root>/expected.json`.
pub fn generate(root: &Path, cfg: &GenConfig) -> Result<Expected> {
    if root.exists() {
        let mut it = fs::read_dir(root).with_context(|| format!("reading {}", root.display()))?;
        if it.next().is_some() {
            bail!(
                "refusing to write into non-empty directory {}",
                root.display()
            );
        }
    }
    for z in &cfg.zones {
        jiff::tz::TimeZone::get(z).map_err(|e| anyhow::anyhow!("unknown time zone {z:?}: {e}"))?;
    }
    if cfg.days == 0 {
        bail!("days must be at least 1");
    }
    if !(cfg.density >= 1.0 && cfg.density <= 100.0) {
        bail!("density must be between 1 and 100");
    }
    let projects_dir = root.join("projects");
    fs::create_dir_all(&projects_dir)?;
    let end = cfg.end_date;
    let end_day = days_from_civil(end.year() as i64, end.month() as u32, end.day() as u32);
    let ndays = cfg.days as i64;
    let first_day = end_day - ndays + 1;
    let mut rng = Rng::stream(cfg.seed, 0x706c616e, 0);
    let cal = Calendar::new(&mut rng, first_day, ndays);
    // Boundaries to straddle: UTC, Tokyo and Kolkata midnight, NY DST changes.
    let mid = first_day + ndays / 2;
    let mut specials = vec![
        (mid + 1) * DAY_MS,
        (mid + 3) * DAY_MS - 9 * HOUR_MS,
        (mid + 5) * DAY_MS - 5 * HOUR_MS - 30 * MIN_MS,
    ];
    specials.extend(dst_changes(first_day, ndays));
    let mut special_models = vec![None; specials.len()];
    if cfg.lineup == Lineup::Dec2026 {
        // The price changes a December 2026 history crosses at midnight UTC: Sonnet 5.5's
        // cache-read cut and the end of Opus 4.8's fast mode.
        for (day, model, fast) in [
            ("2026-10-07", "claude-sonnet-5-5", false),
            ("2026-11-30", "claude-opus-4-8", true),
        ] {
            let at = day_ms(day);
            // First, so the sessions that take them (the first few) are not ones whose
            // forced case (a usage-limit wait) would jump past the boundary.
            if at > first_day * DAY_MS + DAY_MS && at < (first_day + ndays) * DAY_MS {
                specials.insert(0, at);
                special_models.insert(0, Some((model, fast)));
            }
        }
    }
    let scale = (cfg.target_bytes as f64 / 30_000_000.0).clamp(0.05, 1.0);
    let eng = Engine {
        rng: Rng::stream(cfg.seed, 0x656e67, 0),
        sh: Shared::new(),
        projects_dir,
        scale,
        content: 1.0 / cfg.density,
        budget: cfg.target_bytes,
        lineup: cfg.lineup,
    };
    let mut pl = Planner {
        cfg,
        eng,
        rng,
        cal,
        first_day,
        ndays,
        specials,
        special_models,
        index: BTreeMap::new(),
    };
    pl.run()?;
    let mut exp = Expected::empty(cfg.seed, &cfg.zones);
    finish_expected(&pl.eng.sh, &mut exp)?;
    exp.save(root)?;
    Ok(exp)
}
