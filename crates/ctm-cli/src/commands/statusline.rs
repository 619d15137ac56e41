//! `ctm statusline`: the one line Claude Code shows under its prompt.
//!
//! Claude Code runs it on every prompt, from every open window, with a JSON object on
//! stdin. So it must be quick and must never queue: the store is opened with a short lock
//! wait, and when another ctm holds the write lock the line is answered from the store as
//! it is. Whatever the input, stdout gets at most one line and the process never panics.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use ctm_analytics::text::{duration, usd};
use ctm_analytics::{active_block, daily_report, official_limits, session_now, ReportQuery, Zone};
use ctm_model::ClaudeCodeCost;
use ctm_source::RootsFrom;
use ctm_store::claude_costs::{self, CostSource};
use ctm_store::rate_limits::{self, LimitWindow, RateLimitReading};
use ctm_store::{OpenOptions, Store};
use serde_json::Value;

use crate::cli::StatuslineArgs;
use crate::context::Context;
use crate::output::say;

/// The hook's JSON is a few KB; anything past this is not a hook call.
const STDIN_CAP: u64 = 1 << 20;
/// How long a call waits for another ctm's write lock before answering as the store is.
const LOCK_WAIT: Duration = Duration::from_millis(100);
/// Context window assumed when the hook does not give one.
const DEFAULT_CONTEXT_WINDOW: u64 = 200_000;

pub fn run(ctx: &Context, args: &StatuslineArgs) -> Result<ExitCode> {
    if args.install {
        return install(ctx, args.write, args.force);
    }
    let stdin = std::io::stdin();
    let input = if stdin.is_terminal() {
        // Run by hand: do not sit waiting for a JSON object nobody will type.
        Err("stdin is a terminal; Claude Code passes its hook JSON on stdin (see --install)".into())
    } else {
        read_hook(stdin.lock())
    };
    let hook = match input {
        Ok(h) => h,
        Err(reason) => {
            // Claude Code shows stdout only: a short line there, the details on stderr.
            eprintln!("ctm: error: statusline: {reason}");
            say("ctm: no status (bad hook input)")?;
            return Ok(ExitCode::from(1));
        }
    };
    match status_line(ctx, &hook) {
        Ok(line) => {
            say(line)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            crate::errors::print(&ctx.explain(e));
            say(hook_only_line(&hook))?;
            Ok(ExitCode::from(1))
        }
    }
}

/// What ctm uses of the hook's JSON; every field is optional and checked by type.
#[derive(Debug, Default, PartialEq)]
struct Hook {
    model: Option<String>,
    session_id: Option<String>,
    /// Share of the context window used, 0 to 100, when the hook says.
    context_percent: Option<f64>,
    context_window_size: Option<u64>,
    rate_limits: Vec<RateLimitReading>,
    /// `cost.total_cost_usd`: Claude Code's own cost of the session so far.
    cost_usd: Option<f64>,
}

/// More than this is not a session's cost but a damaged figure.
const MAX_SESSION_COST_USD: f64 = 1e9;

fn read_hook(input: impl Read) -> Result<Hook, String> {
    let mut bytes = Vec::new();
    input
        .take(STDIN_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if bytes.len() as u64 > STDIN_CAP {
        return Err(format!("stdin is over {} KiB", STDIN_CAP >> 10));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("stdin is empty; Claude Code passes a JSON object".into());
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("stdin is not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("stdin is JSON but not an object".to_owned())?;
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(80).collect::<String>())
    };
    let model = obj.get("model").and_then(|m| match m {
        Value::String(_) => text(Some(m)),
        Value::Object(o) => text(o.get("display_name")).or_else(|| text(o.get("id"))),
        _ => None,
    });
    let count = |v: Option<&Value>| v.and_then(Value::as_u64);
    let cw = obj.get("context_window").and_then(Value::as_object);
    let context_window_size = cw.and_then(|c| count(c.get("context_window_size")));
    let context_percent = cw.and_then(|c| {
        percent(c.get("used_percentage")).or_else(|| {
            let u = c.get("current_usage")?.as_object()?;
            let used: u64 = [
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
            ]
            .iter()
            .map(|k| count(u.get(*k)).unwrap_or(0))
            .sum();
            let size = context_window_size.filter(|s| *s > 0)?;
            Some(used as f64 * 100.0 / size as f64)
        })
    });
    let rate_limits = obj
        .get("rate_limits")
        .and_then(Value::as_object)
        .map(|rl| {
            LimitWindow::ALL
                .iter()
                .filter_map(|&w| {
                    let o = rl.get(w.key())?.as_object()?;
                    let pct = o.get("used_percentage")?.as_f64()?;
                    let resets = match o.get("resets_at") {
                        None | Some(Value::Null) => None,
                        Some(r) => Some(epoch_seconds(r)?),
                    };
                    RateLimitReading::new(w, pct, resets)
                })
                .collect()
        })
        .unwrap_or_default();
    let cost_usd = obj
        .get("cost")
        .and_then(|c| c.get("total_cost_usd"))
        .and_then(Value::as_f64)
        .filter(|c| c.is_finite() && (0.0..=MAX_SESSION_COST_USD).contains(c));
    Ok(Hook {
        model,
        session_id: text(obj.get("session_id")),
        context_percent,
        context_window_size,
        rate_limits,
        cost_usd,
    })
}

fn percent(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
        .filter(|p| p.is_finite() && (0.0..=1000.0).contains(p))
}

/// Epoch seconds as a number (whole or not) or a string of digits.
fn epoch_seconds(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn status_line(ctx: &Context, hook: &Hook) -> Result<String> {
    let now = super::now()?;
    let now_ms = now.as_millisecond();
    let mut store = ctx.open_store_with(&OpenOptions {
        busy_timeout: LOCK_WAIT,
        ..ctx.open_options()
    })?;
    // Claude Code's own figure, kept for `ctm pricing check` when it changed (a
    // repeated figure costs no write).
    let cost = match (&hook.session_id, hook.cost_usd) {
        (Some(session), Some(usd)) => {
            let same = claude_costs::latest(store.conn(), session, CostSource::Statusline)?
                .is_some_and(|old| old.cost.total_cost_usd == usd);
            (!same).then(|| ClaudeCodeCost {
                session_id: session.clone(),
                total_cost_usd: usd,
                observed_at_ms: Some(now_ms),
                models: Vec::new(),
                has_unknown_model_cost: false,
            })
        }
        _ => None,
    };
    if !hook.rate_limits.is_empty() || cost.is_some() {
        // Busy: another ctm is writing; the next prompt records the figures again.
        if let Ok(tx) = store.try_write(LOCK_WAIT) {
            rate_limits::record(&tx, &hook.rate_limits, hook.session_id.as_deref(), now_ms)?;
            if let Some(c) = &cost {
                claude_costs::record(&tx, CostSource::Statusline, c, now_ms)?;
            }
            tx.commit()?;
        }
    }
    match ctx.ingest(&mut store) {
        Ok(_) => {}
        Err(e) if is_busy(&e) => {} // answer from the store as it is
        Err(e) => return Err(e),
    }
    let zone = Zone::resolve(None).map_err(anyhow::Error::msg)?;
    line_from_store(&store, hook, now_ms, &zone)
}

fn is_busy(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ctm_store::StoreError>(),
            Some(ctm_store::StoreError::Busy { .. })
        ) || matches!(
            c.downcast_ref::<ctm_ingest::IngestError>(),
            Some(ctm_ingest::IngestError::Store(
                ctm_store::StoreError::Busy { .. }
            ))
        )
    })
}

fn line_from_store(store: &Store, hook: &Hook, now_ms: i64, zone: &Zone) -> Result<String> {
    let mut parts = vec![hook.model.clone().unwrap_or_else(|| "Claude".into())];
    let session = match &hook.session_id {
        Some(id) => session_now(store, id, zone)?,
        None => None,
    };
    if hook.session_id.is_some() {
        let cost = session.as_ref().map_or(0.0, |s| s.session.total_cost);
        let complete = session
            .as_ref()
            .is_none_or(|s| s.session.unpriced_responses == 0);
        parts.push(format!("session {}", usd(cost, complete)));
    }
    let today = zone.zoned(now_ms).date();
    let mut q = ReportQuery::in_zone(zone.clone());
    q.since = Some(today);
    q.until = Some(today);
    let t = daily_report(store, &q)?.totals;
    parts.push(format!(
        "today {}",
        usd(t.total_cost, t.unpriced_responses == 0)
    ));
    match active_block(store, now_ms, zone)? {
        Some(a) => {
            let b = &a.row;
            let left = (b.end_ms - now_ms) as f64 / 60_000.0;
            parts.push(format!(
                "block {} ({} left)",
                usd(b.cost_usd, b.unpriced_responses == 0),
                duration(left)
            ));
            // The block's burn rate (ctm_analytics::burn): 0 after an idle hour.
            if let Some(rate) = &b.burn_rate {
                parts.push(if rate.is_idle() {
                    "$0/h, idle".to_owned()
                } else {
                    format!("{}/h", usd(rate.cost_per_hour, true))
                });
            }
        }
        None => parts.push("no active block".into()),
    }
    let context = hook.context_percent.or_else(|| {
        let used = session.as_ref()?.last_context_tokens;
        let size = hook
            .context_window_size
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_CONTEXT_WINDOW);
        (used > 0).then(|| used as f64 * 100.0 / size as f64)
    });
    if let Some(pct) = context {
        parts.push(format!("ctx {pct:.0}%"));
    }
    // The hook's own figure first; else the latest one kept, while its window lasts.
    let five_hour = hook
        .rate_limits
        .iter()
        .find(|r| r.window == LimitWindow::FiveHour)
        .map(|r| r.used_percentage)
        .or_else(|| {
            official_limits(store, now_ms, zone)
                .ok()?
                .five_hour
                .filter(|l| !l.expired)
                .map(|l| l.used_percentage)
        });
    if let Some(pct) = five_hour {
        parts.push(format!("5h {pct:.0}% (official)"));
    }
    Ok(parts.join(" | "))
}

/// What the hook alone tells, when the store cannot answer.
fn hook_only_line(hook: &Hook) -> String {
    let mut parts = vec![hook.model.clone().unwrap_or_else(|| "Claude".into())];
    if let Some(pct) = hook.context_percent {
        parts.push(format!("ctx {pct:.0}%"));
    }
    if let Some(r) = hook
        .rate_limits
        .iter()
        .find(|r| r.window == LimitWindow::FiveHour)
    {
        parts.push(format!("5h {:.0}% (official)", r.used_percentage));
    }
    parts.push("ctm: store unavailable".into());
    parts.join(" | ")
}

/// The Claude Code folder whose settings.json gets the statusline: the first
/// `--claude-dir` or CLAUDE_CONFIG_DIR entry, else the default root that has a
/// settings.json, else the one that exists (`~/.claude` when neither does).
fn settings_path(ctx: &Context) -> Result<PathBuf> {
    let paths = &ctx.roots.paths;
    let dir = match ctx.roots.from {
        RootsFrom::Flags | RootsFrom::Env => paths.first(),
        RootsFrom::Defaults => paths
            .iter()
            .find(|p| p.join("settings.json").is_file())
            .or_else(|| paths.iter().find(|p| p.is_dir()))
            .or(paths.last()),
    };
    match dir {
        Some(d) => Ok(d.join("settings.json")),
        None => bail!("cannot tell where Claude Code's settings are: set HOME, CLAUDE_CONFIG_DIR or --claude-dir"),
    }
}

/// The `statusLine` value Claude Code reads: this binary, with the store, data roots and
/// config file this install was run with when they were named (Claude Code runs the
/// command without the shell's flags or variables).
fn snippet_value(ctx: &Context) -> Result<Value> {
    let exe = std::env::current_exe().context("cannot tell where this ctm binary is")?;
    let mut words = vec![shell_quote(&exe)];
    let mut flag = |name: &str, path: &Path| {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        words.push(name.to_owned());
        words.push(shell_quote(&path));
    };
    if ctx.db_given {
        flag("--db", &ctx.db_path);
    }
    if ctx.roots.from == RootsFrom::Flags {
        for dir in &ctx.roots.paths {
            flag("--claude-dir", dir);
        }
    }
    if ctx.config_given {
        flag("--config", &ctx.config_path);
    }
    words.push("statusline".to_owned());
    Ok(serde_json::json!({ "type": "command", "command": words.join(" "), "padding": 0 }))
}

fn shell_quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn install(ctx: &Context, write: bool, force: bool) -> Result<ExitCode> {
    let value = snippet_value(ctx)?;
    let path = settings_path(ctx)?;
    if !write {
        let snippet = serde_json::json!({ "statusLine": value });
        say(serde_json::to_string_pretty(&snippet)?)?;
        eprintln!(
            "Add this to {} (or run `ctm statusline --install --write`).",
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let text = existing.as_deref().unwrap_or("{}");
    let mut settings = settings::OrderedObject::parse(text).with_context(|| {
        format!(
            "{} is not a JSON object; fix or move it, nothing was changed",
            path.display()
        )
    })?;
    let new_raw = serde_json::to_string_pretty(&value)?;
    let previous = settings.get("statusLine").map(str::to_owned);
    if let Some(old) = &previous {
        if serde_json::from_str::<Value>(old).ok().as_ref() == Some(&value) {
            say(format_args!(
                "{} already runs this ctm statusline; nothing changed.",
                path.display()
            ))?;
            return Ok(ExitCode::SUCCESS);
        }
        // Someone else's statusline (or ctm's with other options): replaced only when
        // told to, or when the person at the terminal says so.
        let shown = compact_json(old);
        if !force
            && !confirm(&format!(
                "{} already has a statusLine: {shown}\nReplace it with `{}`? [y/N] ",
                path.display(),
                value["command"].as_str().unwrap_or_default()
            ))?
        {
            bail!(
                "{} already has a statusLine ({shown}); nothing was changed. Run again with \
                 --force to replace it (the file is backed up first)",
                path.display()
            );
        }
    }
    settings.set("statusLine", new_raw);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let backup = match &existing {
        Some(_) => {
            let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
            let backup = path.with_file_name(format!("settings.json.ctm-backup-{stamp}"));
            std::fs::copy(&path, &backup).with_context(|| {
                format!("cannot back up {} to {}", path.display(), backup.display())
            })?;
            Some(backup)
        }
        None => None,
    };
    let tmp = path.with_file_name(format!(".settings.json.ctm-{}", std::process::id()));
    std::fs::write(&tmp, settings.to_text())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(&path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))?;
    match (backup, previous) {
        (Some(b), Some(old)) => say(format_args!(
            "Replaced the statusLine in {} (it was {}; the previous file is kept as {}).",
            path.display(),
            compact_json(&old),
            b.display()
        ))?,
        (Some(b), None) => say(format_args!(
            "Added the statusline to {} (the previous file is kept as {}).",
            path.display(),
            b.display()
        ))?,
        (None, _) => say(format_args!(
            "Created {} with the statusline.",
            path.display()
        ))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A JSON value on one line, as settings.json had it (the text if it does not parse).
fn compact_json(raw: &str) -> String {
    serde_json::from_str::<Value>(raw).map_or_else(|_| raw.to_owned(), |v| v.to_string())
}

/// Asks on the terminal; `false` without one (a script never gets a silent replace).
fn confirm(question: &str) -> Result<bool> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Ok(false);
    }
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// settings.json edited without disturbing it: keys keep their order and every other
/// value keeps its exact text.
mod settings {
    use std::fmt;

    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;

    pub struct OrderedObject(Vec<(String, String)>);

    impl OrderedObject {
        pub fn parse(text: &str) -> Result<OrderedObject, serde_json::Error> {
            let mut de = serde_json::Deserializer::from_str(text);
            let obj = (&mut de).deserialize_map(ObjectVisitor)?;
            de.end()?;
            Ok(obj)
        }

        pub fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }

        /// Replaces the key's value in place, or appends it.
        pub fn set(&mut self, key: &str, raw_json: String) {
            match self.0.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = raw_json,
                None => self.0.push((key.to_owned(), raw_json)),
            }
        }

        pub fn to_text(&self) -> String {
            let mut out = String::from("{");
            for (i, (k, v)) in self.0.iter().enumerate() {
                let key = serde_json::to_string(k).expect("a string serialises");
                let value = v.replace('\n', "\n  ");
                out.push_str(if i == 0 { "\n  " } else { ",\n  " });
                out.push_str(&format!("{key}: {value}"));
            }
            out.push_str("\n}\n");
            out
        }
    }

    struct ObjectVisitor;

    impl<'de> Visitor<'de> for ObjectVisitor {
        type Value = OrderedObject;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
            let mut entries: Vec<(String, String)> = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                // A repeated key: the last one wins, as in serde_json and Claude Code.
                entries.retain(|(old, _)| *old != k);
                entries.push((k, v.get().to_owned()));
            }
            Ok(OrderedObject(entries))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_fields_are_read_by_type_and_bad_ones_ignored() {
        let h = read_hook(
            br#"{"session_id":"abc","model":{"id":"claude-opus-4-6","display_name":"Opus 4.6"},
               "context_window":{"used_percentage":42.4,"context_window_size":200000},
               "rate_limits":{"five_hour":{"used_percentage":37.5,"resets_at":1772000000},
                              "seven_day":{"used_percentage":"lots","resets_at":1772500000}}}"#
                .as_slice(),
        )
        .unwrap();
        assert_eq!(h.model.as_deref(), Some("Opus 4.6"));
        assert_eq!(h.session_id.as_deref(), Some("abc"));
        assert_eq!(h.context_percent, Some(42.4));
        assert_eq!(
            h.rate_limits.len(),
            1,
            "the string percentage is not a figure"
        );
        assert_eq!(h.rate_limits[0].resets_at_s, Some(1_772_000_000));
        assert_eq!(h.cost_usd, None);
        let h = read_hook(br#"{"session_id":"abc","cost":{"total_cost_usd":1.25}}"#.as_slice())
            .unwrap();
        assert_eq!(h.cost_usd, Some(1.25));
        for bad in [r#"-1"#, r#""3""#, "1e300", "null"] {
            let input = format!(r#"{{"session_id":"abc","cost":{{"total_cost_usd":{bad}}}}}"#);
            assert_eq!(read_hook(input.as_bytes()).unwrap().cost_usd, None, "{bad}");
        }

        // Context from the current usage when no percentage is given.
        let h = read_hook(
            br#"{"model":"x","context_window":{"context_window_size":1000,
               "current_usage":{"input_tokens":100,"cache_read_input_tokens":150,"output_tokens":9}}}"#
                .as_slice(),
        )
        .unwrap();
        assert_eq!(h.context_percent, Some(25.0));

        let h = read_hook(
            br#"{"model":7,"session_id":[],"rate_limits":"no","context_window":null}"#.as_slice(),
        )
        .unwrap();
        assert_eq!(h, Hook::default());
    }

    #[test]
    fn bad_stdin_is_refused_with_a_reason() {
        for (input, reason) in [
            (&b""[..], "empty"),
            (&b" \n"[..], "empty"),
            (&b"{\"model\":"[..], "not JSON"),
            (&b"[1,2]"[..], "not an object"),
            (&b"\xff\xfe"[..], "not JSON"),
        ] {
            let err = read_hook(input).unwrap_err();
            assert!(err.contains(reason), "{input:?}: {err}");
        }
        let huge = vec![b' '; (STDIN_CAP + 10) as usize];
        assert!(read_hook(huge.as_slice()).unwrap_err().contains("over"));
    }

    #[test]
    fn settings_keep_their_order_and_text() {
        let text = "{\n  \"theme\": \"dark\",\n  \"env\": {\"A\": 1,   \"B\": [1,2]},\n  \"statusLine\": {\"type\":\"command\",\"command\":\"old\"},\n  \"z\": null\n}\n";
        let mut s = settings::OrderedObject::parse(text).unwrap();
        s.set("statusLine", "{\"type\": \"command\"}".into());
        s.set("added", "true".into());
        let out = s.to_text();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["env"]["B"], serde_json::json!([1, 2]));
        assert_eq!(v["statusLine"]["type"], "command");
        let keys: Vec<&str> = ["theme", "env", "statusLine", "z", "added"].to_vec();
        let pos: Vec<usize> = keys
            .iter()
            .map(|k| out.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert!(
            out.contains("{\"A\": 1,   \"B\": [1,2]}"),
            "values keep their text: {out}"
        );
        assert!(settings::OrderedObject::parse("[1]").is_err());
        assert!(settings::OrderedObject::parse("{} trailing").is_err());
    }
}
