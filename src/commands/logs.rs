//! `binderctl logs`: a component's logs (ops::logs).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, LogsCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &LogsCmd) -> Result<Outcome> {
    let options = ops::logs::LogsOptions {
        target: cmd.target.clone(),
        follow: cmd.follow,
        previous: cmd.previous,
        since: cmd.since.clone(),
        tail: cmd.tail,
        container: cmd.container.clone(),
    };
    ops::logs::run(&config::target(global), &options).await
}
