//! Running `ctm` in isolation: a temporary HOME, no inherited Claude or ctm settings, so
//! no test can ever see the machine's own ~/.claude.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Env { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("ctm.db")
    }

    /// `ctm` with a clean environment and this env's store.
    pub fn ctm(&self) -> Command {
        self.ctm_under(&[])
    }

    /// `ctm` run by another program (`wrapper` and its arguments, then ctm's path),
    /// with the environment [`Env::ctm`] gives it.
    pub fn ctm_under(&self, wrapper: &[&str]) -> Command {
        let mut c = match wrapper.split_first() {
            None => Command::new(env!("CARGO_BIN_EXE_ctm")),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_ctm"));
                c
            }
        };
        c.env_clear()
            .env("HOME", self.path().join("home"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .env("COLUMNS", "120")
            .env("CTM_DB", self.db());
        c
    }

    /// A data root under this env, with `projects/`.
    pub fn root(&self, name: &str) -> PathBuf {
        let root = self.path().join(name);
        std::fs::create_dir_all(root.join("projects")).unwrap();
        root
    }
}

pub fn fixture_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/claude-code-real")
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "ctm failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn json(cmd: &mut Command) -> serde_json::Value {
    let out = run(cmd);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// (responses, input, output, cache creation, cache read) from `ctm daily --json`.
pub fn daily_totals(v: &serde_json::Value) -> (u64, u64, u64, u64, u64) {
    let t = &v["totals"];
    let n = |k: &str| {
        t[k].as_u64()
            .unwrap_or_else(|| panic!("totals.{k} missing in {t}"))
    };
    (
        n("responses"),
        n("inputTokens"),
        n("outputTokens"),
        n("cacheCreationTokens"),
        n("cacheReadTokens"),
    )
}

pub const FIXTURE_TOTALS: (u64, u64, u64, u64, u64) = (904, 9_165, 195_801, 2_079_960, 77_423_878);

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &dest).unwrap();
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// One assistant line of a response, for hand-built transcripts.
pub fn assistant_line(
    session: &str,
    msg: &str,
    req: &str,
    ts: &str,
    model: &str,
    input: u64,
    output: u64,
) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"{session}","cwd":"/home/u/proj","isSidechain":false,"timestamp":"{ts}","requestId":"{req}","uuid":"{msg}-{req}-{output}","message":{{"id":"{msg}","model":"{model}","role":"assistant","content":[{{"type":"text","text":"x"}}],"usage":{{"input_tokens":{input},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{output}}}}}}}"#
    )
}

/// Whether a test that needs an outside program (tmux, Chromium) must be skipped because
/// the program is missing. Under CI (`CI` set, as `.ci/run` runs) a missing program fails
/// the test: `.ci/run` installs it, so its absence is a broken setup, never a quiet skip.
/// Elsewhere the test is skipped with a loud message, so `cargo test` runs on a machine
/// that has only the Rust toolchain.
pub fn skip_without(program: &str, present: bool, install: &str) -> bool {
    if present {
        return false;
    }
    let msg =
        format!("{program} is not installed, so this test did NOT run; {install} (.ci/run does)");
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!in_ci, "{msg}");
    // Written to the real stderr, past the test harness's capture, so the skip is seen.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "\n\n*** SKIPPED: {msg} ***\n");
    true
}
