//! `ctm mcp` driven as an MCP client drives it: the official SDK's client (rmcp) starts
//! the real binary and talks JSON-RPC over its stdin and stdout. Every tool's value is
//! compared with the matching command's `--json` on the same store.

use std::path::Path;
use std::process::Command;

use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

use super::support::{
    assistant_line, copy_tree, daily_totals, fixture_root, json, Env, FIXTURE_TOTALS,
};

/// Inside the fixture's last block (its responses run to 2026-02-12 ~21:45 UTC).
const NOW: &str = "2026-02-12T22:00:00Z";

type Client = RunningService<RoleClient, ()>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Starts `cmd` (a `ctm ... mcp`) and initializes an MCP session with it.
async fn connect(cmd: Command) -> Client {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("ctm mcp starts");
    ().serve(transport)
        .await
        .expect("the MCP session initializes")
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args as JsonObject))
        .await
        .unwrap_or_else(|e| panic!("{tool}: the call failed at the protocol level: {e}"))
}

/// A successful call's value and text.
async fn value(client: &Client, tool: &str, args: Value) -> (Value, String) {
    let r = call(client, tool, args.clone()).await;
    let text = text_of(&r);
    assert_ne!(r.is_error, Some(true), "{tool} {args}: {text}");
    let v = r
        .structured_content
        .unwrap_or_else(|| panic!("{tool} {args}: no structuredContent"));
    (v, text)
}

fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A failed call's one line.
async fn tool_error(client: &Client, tool: &str, args: Value) -> String {
    let r = call(client, tool, args.clone()).await;
    assert_eq!(r.is_error, Some(true), "{tool} {args} should fail");
    assert!(r.structured_content.is_none());
    let text = text_of(&r);
    assert!(
        !text.is_empty() && !text.contains('\n'),
        "one line: {text:?}"
    );
    text
}

/// What `ctm` prints after `ctm: error: ` for these arguments.
fn cli_error(env: &Env, root: &Path, args: &[&str]) -> String {
    let out = env
        .ctm()
        .arg("--claude-dir")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    // 2 for a usage error (a bad zone or day), 1 for one at run time (no such session).
    assert!(matches!(out.status.code(), Some(1 | 2)), "{args:?}");
    String::from_utf8(out.stderr)
        .unwrap()
        .trim_end()
        .strip_prefix("ctm: error: ")
        .expect("one error line")
        .to_owned()
}

#[test]
fn tools_answer_what_the_commands_print_through_the_sdk_client() {
    let env = Env::new();
    let root = env.path().join("claude");
    copy_tree(&fixture_root(), &root);
    let cli = |args: &[&str]| -> Value {
        json(
            env.ctm()
                .env("CTM_NOW", NOW)
                .arg("--claude-dir")
                .arg(&root)
                .args(args),
        )
    };
    let mut server = env.ctm();
    server
        .env("CTM_NOW", NOW)
        .env(
            "CLAUDE_CODE_SESSION_ID",
            "6c2214d7-b87e-4432-8e41-22ba294ea584",
        )
        .arg("--claude-dir")
        .arg(&root)
        .arg("mcp");
    runtime().block_on(async {
        let client = connect(server).await;

        let info = client.peer_info().expect("the server introduced itself");
        assert_eq!(info.server_info.as_ref().unwrap().name, "ctm");
        assert!(info.capabilities.tools.is_some());
        assert!(info
            .instructions
            .as_deref()
            .is_some_and(|i| i.contains("usage_summary")));

        let tools = client.list_all_tools().await.unwrap();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "pricing",
                "usage_blocks",
                "usage_daily",
                "usage_sessions",
                "usage_summary"
            ]
        );
        for t in &tools {
            let schema = Value::Object((*t.input_schema).clone());
            assert_eq!(schema["type"], "object", "{}", t.name);
            assert_eq!(schema["additionalProperties"], false, "{}", t.name);
            assert!(t.description.as_deref().is_some_and(|d| d.len() > 40));
            assert_eq!(
                t.annotations.as_ref().and_then(|a| a.read_only_hint),
                Some(true)
            );
        }
        let daily_schema = &tools
            .iter()
            .find(|t| t.name == "usage_daily")
            .unwrap()
            .input_schema;
        for arg in [
            "since",
            "until",
            "timezone",
            "project",
            "model",
            "breakdown",
            "order",
        ] {
            assert!(
                daily_schema["properties"].get(arg).is_some(),
                "usage_daily takes {arg}"
            );
        }

        // usage_daily is `ctm daily --json`, whatever the arguments.
        let (v, text) = value(&client, "usage_daily", json!({})).await;
        assert_eq!(v, cli(&["daily", "--json"]));
        assert_eq!(daily_totals(&v), FIXTURE_TOTALS);
        assert!(
            text.contains("$51.74") && text.contains("904 responses"),
            "{text}"
        );
        for (args, flags) in [
            (
                json!({"timezone": "Asia/Tokyo"}),
                vec!["--timezone", "Asia/Tokyo"],
            ),
            (
                json!({"since": "2026-02-11", "until": "20260212", "order": "desc"}),
                vec![
                    "--since",
                    "2026-02-11",
                    "--until",
                    "20260212",
                    "--order",
                    "desc",
                ],
            ),
            (
                json!({"project": "4TE", "model": "opus", "timezone": "America/New_York"}),
                vec![
                    "--project",
                    "4TE",
                    "--model",
                    "opus",
                    "--timezone",
                    "America/New_York",
                ],
            ),
            (json!({"breakdown": true}), vec!["--breakdown"]),
        ] {
            let (v, _) = value(&client, "usage_daily", args.clone()).await;
            let mut cmd = vec!["daily", "--json"];
            cmd.extend(flags);
            assert_eq!(v, cli(&cmd), "{args}");
        }
        let (slim, _) = value(&client, "usage_daily", json!({"breakdown": false})).await;
        assert_eq!(slim["totals"], cli(&["daily", "--json"])["totals"]);
        assert!(slim["daily"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["modelBreakdowns"] == json!([])));

        // Bad arguments are tool errors with the CLI's line; the server carries on.
        assert_eq!(
            tool_error(
                &client,
                "usage_daily",
                json!({"timezone": "Mars/Olympus_Mons"})
            )
            .await,
            cli_error(&env, &root, &["daily", "--timezone", "Mars/Olympus_Mons"])
        );
        assert_eq!(
            tool_error(&client, "usage_daily", json!({"since": "2026-02-30"})).await,
            cli_error(&env, &root, &["daily", "--since", "2026-02-30"])
        );
        assert_eq!(
            tool_error(
                &client,
                "usage_sessions",
                json!({"since": "2026-02-12", "until": "2026-02-11"})
            )
            .await,
            cli_error(
                &env,
                &root,
                &["session", "--since", "2026-02-12", "--until", "2026-02-11"]
            )
        );
        assert_eq!(
            tool_error(&client, "usage_sessions", json!({"id": "zzz"})).await,
            cli_error(&env, &root, &["session", "zzz"])
        );
        let e = tool_error(&client, "usage_daily", json!({"sinse": "2026-02-11"})).await;
        assert!(e.contains("unknown field `sinse`"), "{e}");
        let e = tool_error(&client, "usage_sessions", json!({"limit": "ten"})).await;
        assert!(e.contains("invalid type"), "{e}");
        let e = tool_error(&client, "usage_sessions", json!({"limit": 0})).await;
        assert_eq!(e, "limit: 0 is not a positive number");
        let e = tool_error(&client, "usage_blocks", json!({"token_limit": "lots"})).await;
        assert!(
            e.contains("neither a positive number of tokens nor `max`"),
            "{e}"
        );
        assert!(client
            .call_tool(CallToolRequestParams::new("no_such_tool"))
            .await
            .is_err());

        // usage_sessions: `ctm session --json` (plus how many matched), one session as
        // `ctm session ID --json`.
        let (v, _) = value(&client, "usage_sessions", json!({})).await;
        let all = cli(&["session", "--json"]);
        let matching = all["sessions"].as_array().unwrap().len();
        let mut expected = all.clone();
        expected["matchingSessions"] = json!(matching);
        assert_eq!(v, expected);
        let (v, text) = value(
            &client,
            "usage_sessions",
            json!({"limit": 2, "order": "desc"}),
        )
        .await;
        let desc = cli(&["session", "--json", "--order", "desc"]);
        assert_eq!(
            v["sessions"].as_array().unwrap()[..],
            desc["sessions"].as_array().unwrap()[..2]
        );
        assert_eq!(v["totals"], desc["totals"]);
        assert_eq!(v["matchingSessions"], json!(matching));
        assert!(text.contains(&format!("{matching} sessions")), "{text}");
        let (v, _) = value(
            &client,
            "usage_sessions",
            json!({"id": "ae4a77f8", "timezone": "Europe/Paris"}),
        )
        .await;
        assert_eq!(
            v,
            cli(&[
                "session",
                "ae4a77f8",
                "--json",
                "--timezone",
                "Europe/Paris"
            ])
        );

        // usage_blocks: recent by default, the active block, a token limit.
        let (v, _) = value(&client, "usage_blocks", json!({})).await;
        assert_eq!(v, cli(&["blocks", "--json", "--recent"]));
        let (v, text) = value(
            &client,
            "usage_blocks",
            json!({"active": true, "token_limit": "max"}),
        )
        .await;
        let active = cli(&[
            "blocks",
            "--json",
            "--recent",
            "--active",
            "--token-limit",
            "max",
        ]);
        assert_eq!(v, active);
        assert_eq!(
            active["blocks"].as_array().unwrap().len(),
            1,
            "the fixture's last block is active at {NOW}"
        );
        assert!(
            active["blocks"][0]["burnRate"]["tokensPerMinute"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        assert!(
            text.contains("Active block") && text.contains("Projected"),
            "{text}"
        );
        let (v, _) = value(
            &client,
            "usage_blocks",
            json!({"since": "2026-02-11", "token_limit": 5_000_000}),
        )
        .await;
        assert_eq!(
            v,
            cli(&[
                "blocks",
                "--json",
                "--since",
                "2026-02-11",
                "--token-limit",
                "5000000"
            ])
        );

        // usage_summary: today's totals are `ctm daily` for today; the session comes from
        // CLAUDE_CODE_SESSION_ID unless the client names one.
        let (v, text) = value(&client, "usage_summary", json!({"timezone": "UTC"})).await;
        let today = cli(&[
            "daily",
            "--json",
            "--since",
            "2026-02-12",
            "--until",
            "2026-02-12",
            "--timezone",
            "UTC",
        ]);
        for k in [
            "inputTokens",
            "outputTokens",
            "cacheCreationTokens",
            "cacheReadTokens",
            "totalCost",
            "responses",
        ] {
            assert_eq!(v["today"][k], today["totals"][k], "today.{k}");
        }
        assert_eq!(v["thisMonth"]["responses"], json!(FIXTURE_TOTALS.0));
        assert_eq!(v["currentBlock"], active["blocks"][0]);
        let session = &v["currentSession"];
        assert_eq!(session["source"], "environment");
        let listed = cli(&[
            "session",
            "6c2214d7-b87e-4432-8e41-22ba294ea584",
            "--json",
            "--timezone",
            "UTC",
        ]);
        assert_eq!(session["usage"], listed["session"]);
        assert!(
            text.contains("This session") && text.contains("Today"),
            "{text}"
        );
        let (v, _) = value(
            &client,
            "usage_summary",
            json!({"session_id": "ae4a77f8-aedd-4bc1-888f-c94edc91af04"}),
        )
        .await;
        assert_eq!(v["currentSession"]["source"], "argument");
        assert_eq!(
            v["currentSession"]["usage"]["sessionId"],
            "ae4a77f8-aedd-4bc1-888f-c94edc91af04"
        );
        let (v, _) = value(&client, "usage_summary", json!({"session_id": "not-yet"})).await;
        assert_eq!(v["currentSession"]["usage"], Value::Null);

        // pricing: `ctm pricing --json`, for one model or all.
        let (v, text) = value(
            &client,
            "pricing",
            json!({"model": "claude-sonnet-4-5-20250929"}),
        )
        .await;
        assert_eq!(
            v,
            cli(&["pricing", "--json", "--model", "claude-sonnet-4-5-20250929"])
        );
        assert_eq!(v["models"].as_array().unwrap().len(), 1);
        assert!(text.contains("input") && text.contains("output"), "{text}");
        let (v, _) = value(&client, "pricing", json!({})).await;
        assert_eq!(v, cli(&["pricing", "--json"]));
        assert!(v["models"].as_array().unwrap().len() > 5);
        assert_eq!(
            tool_error(&client, "pricing", json!({"model": "gpt-9-turbo"})).await,
            cli_error(&env, &root, &["pricing", "--model", "gpt-9-turbo"])
        );

        // Each call brings the store up to date first.
        let project = root.join("projects").join("-home-u-proj");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(
            project.join("new.jsonl"),
            assistant_line(
                "s-new",
                "msg_new",
                "req_new",
                "2026-02-12T21:50:00Z",
                "claude-sonnet-4-5-20250929",
                1000,
                200,
            ) + "\n",
        )
        .unwrap();
        let (v, _) = value(&client, "usage_daily", json!({})).await;
        assert_eq!(v["totals"]["responses"], json!(FIXTURE_TOTALS.0 + 1));
        assert_eq!(v, cli(&["daily", "--json"]));

        client.cancel().await.unwrap();
    });
}

/// The `mcpServers.ctm` entry `ctm mcp --install` prints, and the file it names.
fn printed_entry(cmd: &mut Command) -> (Value, String) {
    let out = cmd.args(["mcp", "--install"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = v["mcpServers"]["ctm"].clone();
    assert_eq!(v["mcpServers"].as_object().unwrap().len(), 1);
    (entry, String::from_utf8(out.stderr).unwrap())
}

#[test]
fn install_names_claude_codes_file_and_keeps_the_options_it_was_given() {
    let env = Env::new();
    let home = env.path().join("home");
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_ctm")).unwrap();
    let db = env.db().display().to_string();

    // Default roots: ~/.claude.json, and the store CTM_DB named, as an argument.
    let (entry, note) = printed_entry(&mut env.ctm());
    assert_eq!(
        entry,
        json!({"type": "stdio", "command": exe.display().to_string(), "args": ["mcp", "--db", db], "env": {}})
    );
    assert!(
        note.contains(&format!(
            "Add this to {}",
            home.join(".claude.json").display()
        )),
        "{note}"
    );
    assert!(
        note.contains("claude mcp add-json --scope user ctm '"),
        "{note}"
    );

    // --claude-dir: that folder's .claude.json (Claude Code run with CLAUDE_CONFIG_DIR
    // there), the folders and the config file as absolute arguments.
    let work = env.root("work-claude");
    let (entry, note) = printed_entry(
        env.ctm()
            .current_dir(env.path())
            .args(["--claude-dir", "work-claude", "--claude-dir"])
            .arg(env.root("other"))
            .args(["--config", "ctm.toml"]),
    );
    assert_eq!(
        entry["args"],
        json!([
            "mcp",
            "--db",
            db,
            "--claude-dir",
            work.display().to_string(),
            "--claude-dir",
            env.path().join("other").display().to_string(),
            "--config",
            env.path().join("ctm.toml").display().to_string()
        ])
    );
    assert!(
        note.contains(&work.join(".claude.json").display().to_string()),
        "{note}"
    );

    // A default data folder named by hand still means ~/.claude.json.
    let (_, note) = printed_entry(env.ctm().arg("--claude-dir").arg(home.join(".claude")));
    assert!(
        note.contains(&format!(
            "Add this to {} ",
            home.join(".claude.json").display()
        )),
        "{note}"
    );

    // CLAUDE_CONFIG_DIR: its .claude.json, and the variable passed on to the server.
    let alt = env.path().join("alt-claude");
    let (entry, note) = printed_entry(env.ctm().env("CLAUDE_CONFIG_DIR", &alt));
    assert_eq!(
        entry["env"],
        json!({"CLAUDE_CONFIG_DIR": alt.display().to_string()})
    );
    assert!(
        note.contains(&alt.join(".claude.json").display().to_string()),
        "{note}"
    );
}

#[test]
fn install_writes_the_entry_beside_claude_codes_state_and_it_serves() {
    let env = Env::new();
    let home = env.path().join("home");
    let root = env.path().join("claude");
    copy_tree(&fixture_root(), &root);
    let file = home.join(".claude.json");
    let write = || {
        let out = env
            .ctm()
            .arg("--claude-dir")
            .arg(home.join(".claude"))
            .args(["mcp", "--install", "--write"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(write().starts_with(&format!("Created {}", file.display())));
    let state = r#"{"numStartups": 12, "mcpServers": {"other": {"command": "other-server",  "args": []}}, "projects": {"/home/u": {"allowedTools": []}}}"#;
    std::fs::write(&file, state).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let said = write();
    assert!(said.contains("the previous file is kept as"), "{said}");
    let backups: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".claude.json.ctm-backup-")
        })
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), state);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(r#"{"command": "other-server",  "args": []}"#),
        "other servers keep their text: {text}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["numStartups"], 12);
    assert_eq!(v["projects"]["/home/u"]["allowedTools"], json!([]));
    assert!(write().contains("nothing changed"));

    // The entry as Claude Code would start it: another folder, none of ctm's variables.
    let entry = &v["mcpServers"]["ctm"];
    let mut server = Command::new(entry["command"].as_str().unwrap());
    server
        .env_clear()
        .env("HOME", &home)
        .env("TZ", "UTC")
        .current_dir("/")
        .args(
            entry["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap()),
        )
        .arg("--claude-dir")
        .arg(&root);
    runtime().block_on(async {
        let client = connect(server).await;
        let (v, _) = value(&client, "usage_daily", json!({})).await;
        assert_eq!(daily_totals(&v), FIXTURE_TOTALS);
        client.cancel().await.unwrap();
    });
    // It used the store the install named.
    assert!(env.db().exists());
}

/// A client written by hand, as a hidden check or another language's SDK would talk:
/// newline-delimited JSON-RPC on the pipes. stdout holds protocol messages only, a bad
/// line or request never stops the server, and stdin's end ends it with exit 0.
#[test]
fn raw_json_rpc_on_the_pipes_and_a_clean_exit_at_the_end_of_stdin() {
    use std::io::Write as _;
    let env = Env::new();
    let requests = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "this line is not JSON",
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"usage_daily","arguments":{"timezone":"UTC"}}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"usage_daily","arguments":{"timezone":"Nowhere/Land"}}}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"no/such/method"}"#,
    ];
    let mut child = env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("mcp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for r in requests {
            writeln!(stdin, "{r}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut answers = std::collections::BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
        answers.insert(v["id"].as_u64().expect("an answer to a request"), v);
    }
    assert_eq!(answers.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(answers[&1]["result"]["serverInfo"]["name"], "ctm");
    assert_eq!(answers[&2]["result"]["tools"].as_array().unwrap().len(), 5);
    let daily = &answers[&3]["result"];
    assert_eq!(daily["isError"], false);
    assert_eq!(daily_totals(&daily["structuredContent"]), FIXTURE_TOTALS);
    assert!(daily["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("904 responses"));
    let bad = &answers[&4]["result"];
    assert_eq!(bad["isError"], true);
    assert_eq!(
        bad["content"][0]["text"],
        cli_error(
            &env,
            &fixture_root(),
            &["daily", "--timezone", "Nowhere/Land"]
        )
    );
    assert!(answers[&5]["error"]["code"].is_i64());
}

/// The short text beside each value, on the fixture at a fixed time (snapshots).
#[test]
fn each_tool_says_its_value_in_a_few_lines() {
    let env = Env::new();
    let mut server = env.ctm();
    server
        .env("CTM_NOW", NOW)
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("mcp");
    runtime().block_on(async {
        let client = connect(server).await;
        for (name, tool, args) in [
            ("daily", "usage_daily", json!({"timezone": "UTC"})),
            (
                "daily_breakdown_desc",
                "usage_daily",
                json!({"timezone": "UTC", "order": "desc", "breakdown": true}),
            ),
            (
                "sessions",
                "usage_sessions",
                json!({"timezone": "UTC", "order": "desc", "limit": 3}),
            ),
            (
                "session",
                "usage_sessions",
                json!({"timezone": "UTC", "id": "ae4a77f8"}),
            ),
            (
                "blocks",
                "usage_blocks",
                json!({"timezone": "UTC", "token_limit": "max"}),
            ),
            ("pricing", "pricing", json!({"model": "claude-opus-4-6"})),
            (
                "summary",
                "usage_summary",
                json!({"timezone": "UTC", "session_id": "ae4a77f8-aedd-4bc1-888f-c94edc91af04"}),
            ),
        ] {
            let (_, text) = value(&client, tool, args).await;
            assert!(text.lines().count() <= 20, "{name}: short");
            insta::assert_snapshot!(format!("mcp_text_{name}"), text);
        }
        client.cancel().await.unwrap();
    });
}
