//! Entry point: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use binderctl::{cli, error, output};

fn main() -> ExitCode {
    let cli = cli::parse();
    output::init(cli.global.quiet, cli.global.verbose);
    let result = binderctl::commands::run(cli);
    ExitCode::from(finish(result))
}

/// Print an error to stderr: every line prefixed, the context chain joined.
fn report(err: &anyhow::Error) {
    output::error(&format!("{err:#}"));
}

/// The exit code of a finished command, its error reported. Output lost on
/// stdout (other than to a reader that went away) is an error too.
fn finish(result: anyhow::Result<error::Outcome>) -> u8 {
    match result {
        Ok(outcome) => match output::stdout_failure() {
            Some(failure) => {
                report(&anyhow::anyhow!(
                    "cannot write to standard output: {failure}"
                ));
                2
            }
            None => outcome.exit_code(),
        },
        Err(err) => {
            report(&err);
            error::exit_code(&err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_errors_give_their_exit_codes() {
        assert_eq!(finish(Ok(error::Outcome::Success)), 0);
        assert_eq!(finish(Ok(error::Outcome::Changed)), 1);
        assert_eq!(finish(Err(anyhow::Error::new(error::Interrupted))), 130);
        assert_eq!(finish(Err(anyhow::anyhow!("bad"))), 2);
    }
}
