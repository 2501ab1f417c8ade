//! `binderctl pods ls|purge`: the release namespace's pods (ops::pods).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, PodsCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &PodsCmd) -> Result<Outcome> {
    let target = config::target(global);
    match cmd {
        PodsCmd::Ls {
            prefix,
            selection,
            output,
        } => {
            let options = ops::pods::ListOptions {
                prefix: prefix.clone(),
                selection: config::pod_selection(selection),
                output: config::output_options(output),
            };
            ops::pods::list(&target, &options).await
        }
        PodsCmd::Purge {
            prefix,
            selection,
            yes,
            dry_run,
            batch_size,
        } => {
            let options = ops::pods::PurgeOptions {
                prefix: prefix.clone(),
                selection: config::pod_selection(selection),
                yes: *yes,
                dry_run: *dry_run,
                batch_size: *batch_size,
            };
            ops::pods::purge(&target, &options).await
        }
    }
}
