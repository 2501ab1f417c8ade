//! `binderctl deploy`: render, then install or upgrade the release (ops::deploy).

use anyhow::Result;

use super::config;
use crate::cli::{DeployCmd, GlobalArgs};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &DeployCmd) -> Result<Outcome> {
    ops::deploy::run(&config::target(global), &options(cmd)).await
}

/// `deploy`'s options from its arguments (also for the argv samples).
pub fn options(cmd: &DeployCmd) -> ops::deploy::DeployOptions {
    ops::deploy::DeployOptions {
        render: config::render_options(&cmd.render),
        version: cmd.version.clone(),
        values: cmd.values.clone(),
        secret: cmd.secret.clone(),
        chart: cmd.chart.clone(),
        chart_repo_url: cmd.chart_repo_url.clone(),
        wait_timeout: cmd.wait_timeout.clone(),
        dry_run: cmd.dry_run,
        diff: cmd.diff,
        yes: cmd.yes,
    }
}
