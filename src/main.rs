//! Entry point: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

use binderctl::cli::Cli;
use binderctl::error;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match binderctl::commands::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            error::report(&err);
            ExitCode::from(error::exit_code(&err))
        }
    }
}
