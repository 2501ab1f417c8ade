//! `binderctl uninstall`: remove the release and its namespace (ops::uninstall).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, UninstallCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &UninstallCmd) -> Result<Outcome> {
    let options = ops::uninstall::UninstallOptions {
        yes: cmd.yes,
        dry_run: cmd.dry_run,
    };
    ops::uninstall::run(&config::target(global), &options).await
}
