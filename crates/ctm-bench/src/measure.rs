//! Runs a command once and measures its wall time and peak resident memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

/// A command line with the environment it runs in (nothing is inherited).
#[derive(Debug, Clone)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Written to the command's standard input, when given.
    pub stdin: Option<PathBuf>,
}

/// One run: wall time and peak resident memory. Linux's wait4 reports the larger of the
/// process's own peak and that of any child it waited for (ccusage's npm launcher runs
/// the native binary as a child), so a launcher does not hide its worker.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub wall_ms: f64,
    /// User plus system CPU time: steadier than wall time on a busy machine.
    pub cpu_ms: f64,
    pub peak_rss_kb: u64,
}

/// Runs `spec` to completion with standard output to `stdout_to` and standard error to
/// `stderr_to`; a non-zero exit is an error naming the log.
pub fn run(spec: &Spec, stdout_to: &Path, stderr_to: &Path) -> Result<Sample> {
    let out = std::fs::File::create(stdout_to)
        .with_context(|| format!("cannot create {}", stdout_to.display()))?;
    let err = std::fs::File::create(stderr_to)
        .with_context(|| format!("cannot create {}", stderr_to.display()))?;
    let stdin = match &spec.stdin {
        Some(p) => Stdio::from(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        ),
        None => Stdio::null(),
    };
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(out)
        .stderr(err);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", spec.program.display()))?;
    let (status, rusage) = wait4(child.id() as libc::pid_t)?;
    let wall = started.elapsed();
    if !exited_zero(status) {
        bail!(
            "{} {} failed (status {status}); see {}",
            spec.program.display(),
            spec.args.join(" "),
            stderr_to.display()
        );
    }
    Ok(Sample {
        wall_ms: duration_ms(wall),
        cpu_ms: timeval_ms(rusage.ru_utime) + timeval_ms(rusage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_kb: rusage.ru_maxrss.max(0) as u64,
    })
}

fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn timeval_ms(t: libc::timeval) -> f64 {
    t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0
}

/// Waits for one child and returns its exit status and its own resource usage.
fn wait4(pid: libc::pid_t) -> Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills in; zeroed is a valid value.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our child, and both pointers are to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        if r == pid {
            return Ok((status, rusage));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("wait4");
        }
    }
}

fn exited_zero(status: libc::c_int) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// Median, min and max of the wall times, and the highest peak memory, of some runs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Summary {
    pub runs: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub median_cpu_ms: f64,
    pub peak_rss_kb: u64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

pub fn summarise(samples: &[Sample]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let wall: Vec<f64> = samples.iter().map(|s| s.wall_ms).collect();
    Some(Summary {
        runs: samples.len(),
        median_ms: median(wall.clone()),
        min_ms: wall.iter().copied().fold(f64::INFINITY, f64::min),
        max_ms: wall.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        median_cpu_ms: median(samples.iter().map(|s| s.cpu_ms).collect()),
        peak_rss_kb: samples.iter().map(|s| s.peak_rss_kb).max().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(wall_ms: f64, peak_rss_kb: u64) -> Sample {
        Sample {
            wall_ms,
            cpu_ms: wall_ms / 2.0,
            peak_rss_kb,
        }
    }

    #[test]
    fn median_of_odd_and_even_counts_and_the_highest_peak() {
        let odd = summarise(&[s(30.0, 5), s(10.0, 9), s(20.0, 7)]).unwrap();
        assert_eq!(
            (odd.median_ms, odd.min_ms, odd.max_ms, odd.peak_rss_kb),
            (20.0, 10.0, 30.0, 9)
        );
        assert_eq!(odd.median_cpu_ms, 10.0);
        let even = summarise(&[s(40.0, 1), s(10.0, 1), s(20.0, 1), s(30.0, 1)]).unwrap();
        assert_eq!(even.median_ms, 25.0);
        assert!(summarise(&[]).is_none());
    }

    #[test]
    fn measures_a_real_child_and_reports_its_failure() {
        let dir = std::env::temp_dir().join(format!("ctm-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (out, err) = (dir.join("out"), dir.join("err"));
        let ok = Spec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "echo hi".into()],
            env: vec![],
            stdin: None,
        };
        let sample = run(&ok, &out, &err).unwrap();
        assert!(sample.peak_rss_kb > 0);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "hi\n");
        let failing = Spec {
            args: vec!["-c".into(), "exit 3".into()],
            ..ok
        };
        let e = run(&failing, &out, &err).unwrap_err().to_string();
        assert!(e.contains("failed"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
