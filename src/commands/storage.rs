//! `binderctl storage ls|apply`: StorageClasses (ops::storage).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, StorageCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &StorageCmd) -> Result<Outcome> {
    let target = config::target(global);
    match cmd {
        StorageCmd::Ls { output } => {
            let options = ops::storage::ListOptions {
                output: config::output_options(output),
            };
            ops::storage::list(&target, &options).await
        }
        StorageCmd::Apply { file, dry_run } => {
            let options = ops::storage::ApplyOptions {
                file: file.clone(),
                dry_run: *dry_run,
            };
            ops::storage::apply(&target, &options).await
        }
    }
}
