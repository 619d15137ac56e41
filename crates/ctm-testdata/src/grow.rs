//! Appends new activity to existing transcripts and updates the ground truth.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::gen::{
    finish_expected, version_index, Engine, Force, Shared, Sink, Track, MODELS_DEC, VERSIONS,
};
use crate::rng::Rng;
use crate::text::{json_escape, MIN_MS};
use crate::Expected;

/// What the appended lines must continue from.
struct Tail {
    cwd: String,
    last_ms: i64,
    off: Option<i32>,
    crlf: bool,
    version: String,
    branch: String,
    slug: Option<String>,
    model: Option<String>,
    last_uuid: Option<String>,
}

fn is_session_name(stem: &str) -> bool {
    stem.len() == 36 && stem.bytes().filter(|&b| b == b'-').count() == 4
}

fn offset_of(ts: &str) -> Option<i32> {
    if ts.ends_with('Z') || ts.len() < 6 {
        return None;
    }
    let tail = &ts[ts.len() - 6..];
    let sign = if tail.starts_with('-') { -1 } else { 1 };
    let h: i32 = tail.get(1..3)?.parse().ok()?;
    let m: i32 = tail.get(4..6)?.parse().ok()?;
    Some(sign * (h * 60 + m))
}

fn scan(path: &Path) -> Result<Option<Tail>> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if !data.ends_with(b"\n") {
        return Ok(None);
    }
    let mut tail = Tail {
        cwd: String::new(),
        last_ms: i64::MIN,
        off: None,
        crlf: data.ends_with(b"\r\n"),
        version: String::new(),
        branch: "main".into(),
        slug: None,
        model: None,
        last_uuid: None,
    };
    for line in data.split(|&b| b == b'\n') {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line.trim_ascii()) else {
            continue;
        };
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        if let Some(c) = s("cwd") {
            tail.cwd = c;
        }
        if let Some(x) = s("version") {
            tail.version = x;
        }
        if let Some(x) = s("gitBranch") {
            tail.branch = x;
        }
        if let Some(x) = s("slug") {
            tail.slug = Some(x);
        }
        if let Some(x) = s("uuid") {
            tail.last_uuid = Some(x);
        }
        if let Some(ts) = s("timestamp") {
            if let Ok(t) = ts.parse::<jiff::Timestamp>() {
                if t.as_millisecond() >= tail.last_ms {
                    tail.last_ms = t.as_millisecond();
                    tail.off = offset_of(&ts);
                }
            }
        }
        if s("type").as_deref() == Some("assistant") {
            let m = v.pointer("/message/model").and_then(|x| x.as_str());
            if let Some(m) = m.filter(|m| m.starts_with("claude-") && *m != "claude-mystery-9") {
                tail.model = Some(m.to_string());
            }
        }
    }
    if tail.cwd.is_empty() || tail.last_ms == i64::MIN {
        return Ok(None);
    }
    Ok(Some(tail))
}

fn candidates(projects: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = fs::read_dir(projects)
        .with_context(|| format!("reading {}", projects.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let mut files: Vec<PathBuf> = fs::read_dir(&d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "jsonl")
                    && p.file_stem()
                        .and_then(|s| s.to_str())
                        .is_some_and(is_session_name)
                    && p.metadata().is_ok_and(|m| m.is_file() && m.len() > 0)
            })
            .collect();
        files.sort();
        out.extend(files);
    }
    Ok(out)
}

fn leak_model(m: &str) -> &'static str {
    const KNOWN: [&str; 5] = [
        "claude-opus-4-6",
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-1-20250805",
        "claude-sonnet-4-20250514",
        "claude-haiku-4-5-20251001",
    ];
    KNOWN
        .iter()
        .copied()
        .chain(MODELS_DEC.iter().map(|d| d.0))
        .find(|k| *k == m)
        .unwrap_or(KNOWN[0])
}

/// Appends about `bytes_each` bytes (whole lines) of new responses to `files`
/// session transcripts picked deterministically from `seed`, and rewrites
/// `<root>/expected.json`. Returns the new ground truth.
pub fn grow(root: &Path, files: usize, bytes_each: u64, seed: u64) -> Result<Expected> {
    let mut exp = Expected::load(root)?;
    let projects = root.join("projects");
    let mut cands = candidates(&projects)?;
    let mut pick = Rng::stream(seed, 0x67726f77, 0);
    pick.shuffle(&mut cands);
    let mut eng = Engine {
        rng: Rng::stream(seed, 0x67726f77, 1),
        sh: Shared::new(),
        projects_dir: projects,
        scale: 1.0,
        content: 1.0,
        budget: u64::MAX,
        lineup: crate::Lineup::Feb2026,
    };
    let mut grown = 0;
    for path in cands {
        if grown == files {
            break;
        }
        let Some(tail) = scan(&path)? else {
            continue;
        };
        let sid = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let sess = eng.sh.ledger.session(&sid);
        let proj = eng.sh.ledger.project(&tail.cwd);
        let r = &mut eng.rng;
        let start = tail.last_ms + r.range(5 * MIN_MS as u64, 600 * MIN_MS as u64) as i64;
        let mut t = Track {
            sink: Sink::append(&path, tail.crlf)?,
            sid,
            sess,
            proj,
            cwd_json: json_escape(&tail.cwd),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            ver: &VERSIONS[version_index(&tail.version)],
            branch: tail.branch,
            slug: tail.slug,
            agent_id: None,
            sidechain: false,
            off: tail.off,
            parent: tail.last_uuid,
            clock: start,
            model: leak_model(tail.model.as_deref().unwrap_or_default()),
            ctx: r.range(20_000, 90_000),
            pending: 0,
            ctx_limit: u64::MAX,
            cache_mode: r.weighted(&[70, 15, 15]) as u8,
            geo: "global",
            fast: false,
            target: bytes_each,
            last_resp: None,
            force: Force::default(),
            extras: false,
            cross_at: None,
        };
        eng.run_turns(&mut t)?;
        let end = t.clock;
        t.sink.finish(end)?;
        grown += 1;
    }
    finish_expected(&eng.sh, &mut exp)?;
    exp.save(root)?;
    Ok(exp)
}
