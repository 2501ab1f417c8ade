//! `binderctl versions`: the chart versions available (ops::versions).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, VersionsCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &VersionsCmd) -> Result<Outcome> {
    let options = ops::versions::VersionsOptions {
        limit: cmd.limit,
        chart: cmd.chart.clone(),
        update: cmd.update,
        output: config::output_options(&cmd.output),
        chart_repo_url: cmd.chart_repo_url.clone(),
    };
    ops::versions::run(&config::target(global), &options).await
}
