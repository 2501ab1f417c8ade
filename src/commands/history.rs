//! `binderctl history` and `binderctl rollback`: the release's revisions
//! (ops::history).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, HistoryCmd, RollbackCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn history(global: &GlobalArgs, cmd: &HistoryCmd) -> Result<Outcome> {
    let options = ops::history::HistoryOptions {
        max: cmd.max,
        output: config::output_options(&cmd.output),
    };
    ops::history::history(&config::target(global), &options).await
}

pub async fn rollback(global: &GlobalArgs, cmd: &RollbackCmd) -> Result<Outcome> {
    let options = ops::history::RollbackOptions {
        revision: cmd.revision,
        yes: cmd.yes,
        dry_run: cmd.dry_run,
        wait_timeout: cmd.wait_timeout.clone(),
    };
    ops::history::rollback(&config::target(global), &options).await
}
