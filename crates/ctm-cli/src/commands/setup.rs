//! `ctm completions` and `ctm man`: shell completions and the manual page, generated from
//! the same clap definition as the parser, so they can never list an option it lacks.

use std::process::ExitCode;

use std::io::Write;

use anyhow::{bail, Result};

use crate::cli::{self, CompletionsArgs, ManArgs};
use crate::output;

pub fn completions(args: &CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = cli::command();
    // Generated into memory: clap_complete panics when its writer fails, and a closed
    // pipe must end quietly, through the one output path.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "ctm", &mut script);
    let mut out = output::out();
    out.write_all(&script)?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// ctm(1), or the page of one command (`ctm man db prune` is ctm-db-prune(1)).
pub fn man(args: &ManArgs) -> Result<ExitCode> {
    let mut cmd = cli::command();
    cmd.build();
    let mut page = cmd.clone();
    let mut name = String::from("ctm");
    for word in &args.command {
        let Some(sub) = page.find_subcommand(word).cloned() else {
            let known: Vec<&str> = page.get_subcommands().map(|c| c.get_name()).collect();
            bail!(
                "{name} has no command {word:?}; its commands are: {}",
                known.join(", ")
            );
        };
        name = format!("{name}-{word}");
        page = sub.name(name.clone());
    }
    let mut out = output::out();
    clap_mangen::Man::new(page).render(&mut out)?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
