//! `binderctl doctor`: check the node, the cluster and the inputs (ops::doctor).

use anyhow::Result;

use super::config;
use crate::cli::{DoctorCmd, GlobalArgs};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &DoctorCmd) -> Result<Outcome> {
    let options = ops::doctor::DoctorOptions {
        input: cmd.input.clone(),
        secret: cmd.secret.clone(),
        rendered: cmd.rendered.clone(),
        root: cmd.root.clone(),
        targets: config::node_targets(&cmd.targets),
        output: config::output_options(&cmd.output),
    };
    ops::doctor::run(&config::target(global), &options).await
}
