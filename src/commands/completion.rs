//! `binderctl completion SHELL`: a completion script generated from the
//! clap definitions, on stdout.

use anyhow::Result;
use clap_complete::Shell as Generator;

use crate::cli::{self, CompletionCmd, GlobalArgs, Shell};
use crate::error::Outcome;
use crate::output;

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let generator = match shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
        Shell::Elvish => Generator::Elvish,
        Shell::Powershell => Generator::PowerShell,
    };
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut cli::command(), "binderctl", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn run(_global: &GlobalArgs, cmd: &CompletionCmd) -> Result<Outcome> {
    output::data(&script(cmd.shell));
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::Powershell,
        ] {
            let text = script(shell);
            assert!(text.contains("binderctl"), "{shell:?}");
            assert!(text.contains("purge"), "{shell:?}");
        }
    }
}
