//! `binderctl volumes ls|rm`: the users' volume claims (ops::volumes).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, VolumesCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &VolumesCmd) -> Result<Outcome> {
    let target = config::target(global);
    match cmd {
        VolumesCmd::Ls { output } => {
            let options = ops::volumes::ListOptions {
                output: config::output_options(output),
            };
            ops::volumes::list(&target, &options).await
        }
        VolumesCmd::Rm {
            target: claim,
            prefix,
            yes,
            dry_run,
        } => {
            let options = ops::volumes::RemoveOptions {
                claim: claim.clone(),
                prefix: *prefix,
                yes: *yes,
                dry_run: *dry_run,
            };
            ops::volumes::remove(&target, &options).await
        }
    }
}
