//! `binderctl images ls|rm`: containerd's images, here or on other nodes (ops::images).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, ImagesCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &ImagesCmd) -> Result<Outcome> {
    let target = config::target(global);
    match cmd {
        ImagesCmd::Ls {
            pattern,
            matching,
            targets,
            output,
        } => {
            let options = ops::images::ListOptions {
                pattern: pattern.clone(),
                matching: config::image_match(matching),
                targets: config::node_targets(targets),
                output: config::output_options(output),
            };
            ops::images::list(&target, &options).await
        }
        ImagesCmd::Rm {
            pattern,
            matching,
            yes,
            dry_run,
            batch_size,
            include_system,
            include_in_use,
            targets,
        } => {
            let options = ops::images::RemoveOptions {
                pattern: pattern.clone(),
                matching: config::image_match(matching),
                yes: *yes,
                dry_run: *dry_run,
                batch_size: *batch_size,
                include_system: *include_system,
                include_in_use: *include_in_use,
                targets: config::node_targets(targets),
            };
            ops::images::remove(&target, &options).await
        }
    }
}
