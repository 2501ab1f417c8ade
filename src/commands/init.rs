//! `binderctl init`: prepare a MicroK8s node for BinderHub (ops::init).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, InitCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &InitCmd) -> Result<Outcome> {
    let options = ops::init::InitOptions {
        metallb_range: cmd.metallb_range.clone(),
        storage: cmd.storage,
        storage_class: cmd.storage_class.clone(),
        chart_repo_url: cmd.chart_repo_url.clone(),
        input: cmd.input.clone(),
        secret: cmd.secret.clone(),
        dry_run: cmd.dry_run,
    };
    ops::init::run(&config::target(global), &options).await
}
