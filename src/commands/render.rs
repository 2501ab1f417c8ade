//! `binderctl render`: binder.yaml in, _binder.yaml out (ops::render_file).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, RenderCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &RenderCmd) -> Result<Outcome> {
    let options = ops::render_file::RenderFileOptions {
        render: config::render_options(&cmd.render),
        stdout: cmd.stdout,
        check: cmd.check,
    };
    ops::render_file::run(&config::target(global), &options).await
}
