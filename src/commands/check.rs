//! `binderctl check`: is BinderHub healthy, and does it build
//! (ops::check)?

use anyhow::Result;

use super::config;
use crate::cli::{CheckCmd, GlobalArgs};
use crate::error::Outcome;
use crate::ops::check::command::{self, CheckOptions};

pub async fn run(global: &GlobalArgs, cmd: &CheckCmd) -> Result<Outcome> {
    let options = CheckOptions {
        url: cmd.url.clone(),
        hub_url: cmd.hub_url.clone(),
        launch: cmd.launch.clone(),
        timeout: cmd.timeout,
        output: config::output_options(&cmd.output),
    };
    command::run(&config::target(global), &options).await
}
