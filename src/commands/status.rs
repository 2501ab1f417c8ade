//! `binderctl status`: the release, its pods and services (ops::status).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, StatusCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &StatusCmd) -> Result<Outcome> {
    let options = ops::status::StatusOptions {
        output: config::output_options(&cmd.output),
    };
    ops::status::run(&config::target(global), &options).await
}
