//! Shell integration: completions a shell can load, the man page, the short flags
//! ccusage users type, colour, `--help` in groups, `-o -`, and `serve --bind
//! localhost:0`.

use std::process::Command;

use super::support::*;

fn stdout_of(env: &Env, args: &[&str]) -> String {
    String::from_utf8(run(env.ctm().args(args)).stdout).unwrap()
}

/// bash loads the completions and completes a command and an option with them.
#[test]
fn bash_sources_the_completions_and_completes_commands_and_options() {
    let env = Env::new();
    let script = env.path().join("ctm.bash");
    std::fs::write(&script, stdout_of(&env, &["completions", "bash"])).unwrap();
    let complete = |line: &str| -> String {
        let words: Vec<&str> = line.split(' ').collect();
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {} && COMP_WORDS=({}) && COMP_CWORD={} && COMP_LINE='{line}' && COMP_POINT=${{#COMP_LINE}} && _ctm ctm '{}' '{}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display(),
                line,
                words.len() - 1,
                words[words.len() - 1],
                words[words.len().saturating_sub(2)],
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bash: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let commands = complete("ctm da");
    assert!(commands.lines().any(|l| l == "daily"), "{commands}");
    let options = complete("ctm daily --br");
    assert!(options.lines().any(|l| l == "--breakdown"), "{options}");
    let shells = complete("ctm completions ");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        assert!(shells.lines().any(|l| l == shell), "{shells}");
    }
    let registered = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p ctm", script.display()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&registered.stdout).contains("_ctm"));
}

#[test]
fn every_shell_gets_completions_naming_every_command() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let text = stdout_of(&env, &["completions", shell]);
        for command in [
            "daily",
            "blocks",
            "live",
            "statusline",
            "completions",
            "man",
        ] {
            assert!(text.contains(command), "{shell}: {command}");
        }
    }
    let o = env.ctm().args(["completions", "tcsh"]).output().unwrap();
    assert!(!o.status.success());
}

/// The man page is roff that groff renders, for ctm and for one command.
#[test]
fn the_man_page_renders_for_ctm_and_for_a_command() {
    let env = Env::new();
    let page = stdout_of(&env, &["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH ctm 1"),
        "{page}"
    );
    assert!(page.contains(".TH ctm 1"), "{page}");
    for command in ["daily", "blocks", "statusline", "completions"] {
        assert!(page.contains(command), "{command} missing from ctm(1)");
    }
    let daily = stdout_of(&env, &["man", "daily"]);
    assert!(daily.contains(".TH ctm-daily 1"), "{daily}");
    assert!(daily.contains("breakdown"), "{daily}");
    let prune = stdout_of(&env, &["man", "db", "prune"]);
    assert!(prune.contains(".TH ctm-db-prune 1"), "{prune}");
    let o = env.ctm().args(["man", "nosuch"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no command \"nosuch\""));
    let groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut g) = groff {
        use std::io::Write;
        g.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
        let out = g.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Claude Token Monitor"), "{text}");
    }
}

/// ccusage's short flags mean what the long ones do.
#[test]
fn short_flags_are_the_long_ones() {
    let env = Env::new();
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
    let long = stdout_of(
        &env,
        &[
            "--no-ingest",
            "daily",
            "--json",
            "--since",
            "2026-02-11",
            "--until",
            "20260212",
            "--timezone",
            "Asia/Tokyo",
            "--breakdown",
        ],
    );
    let short = stdout_of(
        &env,
        &[
            "--no-ingest",
            "daily",
            "-j",
            "-s",
            "2026-02-11",
            "-u",
            "20260212",
            "-z",
            "Asia/Tokyo",
            "-b",
        ],
    );
    assert_eq!(long, short);
    let v: serde_json::Value = serde_json::from_str(&short).unwrap();
    assert_eq!(v["timezone"], "Asia/Tokyo");
    // -b is a table option: the breakdown rows.
    let table = stdout_of(&env, &["--no-ingest", "daily", "-b", "-z", "UTC"]);
    assert!(table.contains("└ opus-4-6"), "{table}");
}

/// Colour: --color always colours even into a pipe, FORCE_COLOR too; --no-color,
/// --color never and NO_COLOR never do.
#[test]
fn colour_follows_the_flag_and_the_environment() {
    let env = Env::new();
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
    let escapes = |args: &[&str], vars: &[(&str, &str)]| {
        let mut c = env.ctm();
        c.env_remove("NO_COLOR");
        for (k, v) in vars {
            c.env(k, v);
        }
        let out = run(c.arg("--no-ingest").args(args));
        out.stdout.contains(&0x1b)
    };
    assert!(!escapes(&["daily"], &[]), "a pipe gets no colour");
    assert!(escapes(&["daily", "--color", "always"], &[]));
    assert!(escapes(&["--color=always", "daily"], &[("NO_COLOR", "1")]));
    assert!(escapes(&["daily"], &[("FORCE_COLOR", "1")]));
    assert!(!escapes(&["daily"], &[("FORCE_COLOR", "0")]));
    assert!(!escapes(&["daily", "--no-color"], &[("FORCE_COLOR", "1")]));
    assert!(!escapes(
        &["daily", "--color", "never"],
        &[("FORCE_COLOR", "1")]
    ));
    assert!(!escapes(&["daily"], &[("NO_COLOR", "1")]));
    // JSON is never coloured.
    assert!(!escapes(&["daily", "--json", "--color", "always"], &[]));
}

/// `--help` lists the commands in groups (reports, live, store, setup) and a command's
/// own options apart from the global ones.
#[test]
fn help_groups_commands_and_keeps_global_options_apart() {
    let env = Env::new();
    let help = stdout_of(&env, &["--help"]);
    let at = |s: &str| {
        help.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing:\n{help}"))
    };
    assert!(at("Reports:") < at("  daily"));
    assert!(at("  blocks") < at("Live:"));
    assert!(at("Live:") < at("  live") && at("  live") < at("Store:"));
    assert!(at("Store:") < at("  ingest") && at("  db") < at("Setup:"));
    assert!(at("Setup:") < at("  completions"));
    assert!(at("Global options:") < at("--db <PATH>"));
    let daily = stdout_of(&env, &["daily", "--help"]);
    let options = daily.find("\nOptions:").expect(&daily);
    let global = daily.find("\nGlobal options:").expect(&daily);
    let own = &daily[options..global];
    assert!(
        own.contains("--json") && own.contains("-b, --breakdown"),
        "{daily}"
    );
    assert!(!own.contains("--db"), "--db is global:\n{daily}");
    assert!(daily[global..].contains("--db <PATH>"), "{daily}");
}

/// `-o -`: the export on stdout, nothing else there, and the attempt recorded.
#[test]
fn an_export_to_dash_goes_to_stdout() {
    let env = Env::new();
    run(env
        .ctm()
        .arg("--claude-dir")
        .arg(fixture_root())
        .arg("ingest"));
    let out = run(env.ctm().args([
        "--no-ingest",
        "export",
        "--format",
        "json",
        "--level",
        "daily",
        "-o",
        "-",
    ]));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("to stdout"));
    assert!(!std::path::Path::new("-").exists());
    let csv = stdout_of(
        &env,
        &["--no-ingest", "export", "--format", "csv", "-o", "-"],
    );
    assert_eq!(csv.lines().count(), 905, "a header and 904 responses");
    let history = json(env.ctm().args(["export", "--history", "--json"]));
    assert_eq!(history[0]["filePath"], "(stdout)");
}

/// `serve --bind localhost:0` resolves the name and picks a free port.
#[test]
fn serve_binds_a_host_name() {
    let env = Env::new();
    let mut cmd = env.ctm();
    cmd.args(["--no-ingest", "serve", "--bind", "localhost:0"]);
    let served = super::serve::Served::spawn(cmd);
    assert!(served.addr.ip().is_loopback(), "{}", served.addr);
    assert_ne!(served.addr.port(), 0);
    let r = super::serve::request(served.addr, "/api/health", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let o = env
        .ctm()
        .args(["serve", "--bind", "no-such-host.invalid:0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an address to listen on"));
}
