//! The burn rate and the projection end to end: a burst of 11 responses in 15 seconds,
//! the same block after an idle hour, and once it has finished, as `ctm blocks`, `ctm
//! live`, the statusline and the dashboard's API show them (one function behind all).

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;

use super::serve::Served;
use super::support::*;

/// 11 responses from 10:00:00 to 10:00:15 UTC: 100 input and 900 output tokens each.
fn burst_root(env: &Env) -> PathBuf {
    let root = env.root("claude");
    let dir = root.join("projects/-home-u-proj");
    std::fs::create_dir_all(&dir).unwrap();
    let lines: Vec<String> = (0..11)
        .map(|i| {
            let ms = i * 1_500;
            assistant_line(
                "burst",
                &format!("msg_{i}"),
                &format!("req_{i}"),
                &format!("2026-02-20T10:00:{:02}.{:03}Z", ms / 1000, ms % 1000),
                "claude-opus-4-6",
                100,
                900,
            )
        })
        .collect();
    std::fs::write(dir.join("burst.jsonl"), lines.join("\n") + "\n").unwrap();
    root
}

struct At<'a> {
    env: &'a Env,
    root: &'a PathBuf,
    now: &'static str,
}

impl At<'_> {
    fn json(&self, args: &[&str]) -> Value {
        json(
            self.env
                .ctm()
                .env("CTM_NOW", self.now)
                .arg("--claude-dir")
                .arg(self.root)
                .args(args),
        )
    }

    fn statusline(&self) -> String {
        let mut child = self
            .env
            .ctm()
            .env("CTM_NOW", self.now)
            .arg("--claude-dir")
            .arg(self.root)
            .arg("statusline")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(br#"{"session_id":"burst","model":{"display_name":"Opus"}}"#)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    fn summary(&self) -> Value {
        let mut cmd = self.env.ctm();
        cmd.env("CTM_NOW", self.now)
            .args(["--no-ingest", "serve", "--bind", "127.0.0.1:0"]);
        Served::spawn(cmd).json("/api/summary?tz=UTC")
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn a_burst_an_idle_hour_and_a_finished_block_everywhere() {
    let env = Env::new();
    let root = burst_root(&env);
    let cost = json(
        env.ctm()
            .arg("--claude-dir")
            .arg(&root)
            .args(["daily", "--json"]),
    )["totals"]["totalCost"]
        .as_f64()
        .unwrap();
    assert!(cost > 0.0);

    // 15 s after the burst: 11,000 tokens over the 5 minutes a rate is never under, not
    // over 15 s (which read as 44,000 tokens a minute and 176M by the reset).
    let at = At {
        env: &env,
        root: &root,
        now: "2026-02-20T10:00:30Z",
    };
    let blocks = at.json(&["blocks", "--active", "--json"]);
    let b = &blocks["blocks"][0];
    let rate = &b["burnRate"];
    assert_eq!(rate["windowMinutes"], 5.0);
    assert_eq!(rate["basis"], "sinceBlockStart");
    assert!(close(num(&rate["tokensPerMinute"]), 11_000.0 / 5.0));
    assert!(close(
        num(&rate["inputOutputTokensPerMinute"]),
        11_000.0 / 5.0
    ));
    assert!(close(num(&rate["costPerHour"]), cost * 12.0));
    // The projection adds the rate for the 299.5 minutes left, no more.
    let p = &b["projection"];
    assert_eq!(p["remainingMinutes"], 300);
    assert_eq!(
        p["totalTokens"].as_u64().unwrap(),
        (11_000.0 + 2_200.0 * 299.5_f64).round() as u64
    );
    assert!(close(
        num(&p["totalCost"]),
        cost + cost * 12.0 / 60.0 * 299.5
    ));
    // The monitor's tokens meter runs on the same rate and projection, in its unit.
    let live = at.json(&["live", "--json", "--plan", "max5"]);
    assert_eq!(live["block"]["block"]["burnRate"], *rate);
    let tokens = &live["block"]["meters"][0];
    assert_eq!(tokens["unit"], "input+output tokens");
    assert!(close(num(&tokens["perMinute"]), 2_200.0));
    assert!(close(
        num(&tokens["projectedAtReset"]),
        num(&p["inputOutputTokens"])
    ));
    // The statusline shows the same $/h, and the dashboard's API the same rate.
    let line = at.statusline();
    let per_hour = format!("${:.2}/h", num(&rate["costPerHour"]));
    assert!(line.contains(&per_hour), "{line} lacks {per_hour}");
    assert_eq!(at.summary()["currentBlock"]["burnRate"], *rate);

    // An hour after the last response, nothing has come: rate 0 everywhere, and the
    // projection is what was spent.
    let idle = At {
        now: "2026-02-20T11:00:15Z",
        ..at
    };
    let blocks = idle.json(&["blocks", "--active", "--json"]);
    let b = &blocks["blocks"][0];
    assert_eq!(b["isActive"], true);
    assert_eq!(b["burnRate"]["tokensPerMinute"], 0.0);
    assert_eq!(b["burnRate"]["costPerHour"], 0.0);
    assert_eq!(b["projection"]["totalTokens"], 11_000);
    assert!(close(num(&b["projection"]["totalCost"]), cost));
    let live = idle.json(&["live", "--json"]);
    for m in live["block"]["meters"].as_array().unwrap() {
        assert_eq!(m["perMinute"], 0.0, "{m}");
        assert_eq!(m["projectedAtReset"], m["used"], "{m}");
        assert_eq!(m["limitReachedAt"], Value::Null, "{m}");
    }
    let text = String::from_utf8(
        run(env
            .ctm()
            .env("CTM_NOW", idle.now)
            .args(["--no-ingest", "live", "--once"]))
        .stdout,
    )
    .unwrap();
    assert!(text.contains("0: no response since 10:00"), "{text}");
    assert!(idle.statusline().contains("$0/h, idle"));
    assert_eq!(idle.summary()["currentBlock"]["burnRate"], b["burnRate"]);

    // Finished: the block's average over its active span (15 s, read as 5 minutes), and
    // no projection.
    let done = At {
        now: "2026-02-20T16:00:00Z",
        ..idle
    };
    let blocks = done.json(&["blocks", "--json"]);
    let b = &blocks["blocks"][0];
    assert_eq!(b["isActive"], false);
    assert_eq!(b["burnRate"]["basis"], "activeSpan");
    assert!(close(num(&b["burnRate"]["costPerHour"]), cost * 12.0));
    assert_eq!(b["projection"], Value::Null);
    // The idle monitor says when the last block was and when usage last happened.
    let text = String::from_utf8(
        run(env.ctm().env("CTM_NOW", done.now).args([
            "--no-ingest",
            "live",
            "--once",
            "--timezone",
            "UTC",
        ]))
        .stdout,
    )
    .unwrap();
    assert!(text.contains("No active block"), "{text}");
    assert!(text.contains("Last usage 2026-02-20 10:00"), "{text}");
    assert!(
        text.contains("Last block 2026-02-20 10:00 to 15:00"),
        "{text}"
    );
}
