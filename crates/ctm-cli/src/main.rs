//! `ctm`: parse, dispatch, and turn every failure into one line and an exit code (see
//! [`errors`]).

mod claude_config;
mod cli;
mod commands;
mod context;
mod errors;
mod fetch;
mod output;
mod progress;
mod team_settings;

use std::io::ErrorKind;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`ctm daily | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            errors::print(&e);
            errors::exit_code(&e)
        }
    }
}
