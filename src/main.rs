//! Entry point: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use binderctl::{cli, error, output};

fn main() -> ExitCode {
    let cli = cli::parse();
    output::init(cli.global.quiet, cli.global.verbose);
    let result = binderctl::commands::run(cli);
    ExitCode::from(error::finish(result))
}
