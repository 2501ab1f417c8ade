//! `binderctl man`: the manual page (roff), generated from the clap
//! definitions, on stdout. One page: the commands and their options follow
//! the main synopsis.

use anyhow::{Context, Result};

use crate::cli::{self, GlobalArgs, ManCmd};
use crate::error::Outcome;
use crate::output;

/// The roff text of binderctl(1): the main page, then one section per
/// subcommand (nested ones included) with its options.
pub fn page() -> Result<String> {
    let mut command = cli::command();
    command.build();
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(command.clone());
    man.render(&mut out)
        .context("cannot write the manual page")?;
    for (path, sub) in subcommands(&command, "binderctl") {
        render_subcommand(&mut out, &path, sub)?;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Every subcommand below `command` with its full name, depth first.
fn subcommands<'a>(command: &'a clap::Command, prefix: &str) -> Vec<(String, &'a clap::Command)> {
    let mut found = Vec::new();
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let path = format!("{prefix} {}", sub.get_name());
        found.push((path.clone(), sub));
        found.extend(subcommands(sub, &path));
    }
    found
}

fn render_subcommand(out: &mut Vec<u8>, path: &str, sub: &clap::Command) -> Result<()> {
    // After `build`, the bin name is the full path (`binderctl pods purge`).
    // The global options are described once, on the main page.
    let globals: Vec<clap::Id> = sub
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.get_id().clone())
        .collect();
    let mut sub = sub.clone();
    for id in globals {
        sub = sub.mut_arg(id, |a| a.hide(true));
    }
    let man = clap_mangen::Man::new(sub);
    out.extend_from_slice(format!(".SH \"{}\"\n", path.to_uppercase()).as_bytes());
    man.render_synopsis_section(out)
        .and_then(|_| man.render_description_section(out))
        .and_then(|_| man.render_options_section(out))
        .and_then(|_| man.render_extra_section(out))
        .context("cannot write the manual page")
}

pub async fn run(_global: &GlobalArgs, _cmd: &ManCmd) -> Result<Outcome> {
    output::data(&page()?);
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_covers_every_command() {
        let page = page().unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH binderctl"),
            "{page}"
        );
        for name in [
            "BINDERCTL PODS PURGE",
            "BINDERCTL RENDER",
            "BINDERCTL NODES RESERVE",
        ] {
            assert!(page.contains(name), "{name}");
        }
    }
}
