//! `binderctl diff`: what a deploy would change in the release's values (ops::diff).

use anyhow::Result;

use super::config;
use crate::cli::{DiffCmd, GlobalArgs};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &DiffCmd) -> Result<Outcome> {
    let options = ops::diff::DiffOptions {
        render: config::render_options(&cmd.render),
        values: cmd.values.clone(),
        secret: cmd.secret.clone(),
    };
    ops::diff::run(&config::target(global), &options).await
}
