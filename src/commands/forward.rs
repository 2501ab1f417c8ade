//! `binderctl forward`: reach the hub or BinderHub through kubectl port-forward (ops::forward).

use anyhow::Result;

use super::config;
use crate::cli::{ForwardCmd, GlobalArgs};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &ForwardCmd) -> Result<Outcome> {
    let options = ops::forward::ForwardOptions {
        target: cmd.target,
        port: cmd.port,
        address: cmd.address.clone(),
    };
    ops::forward::run(&config::target(global), &options).await
}
