//! `binderctl quota show|apply`: the namespace's ResourceQuota (ops::quota).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, QuotaCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &QuotaCmd) -> Result<Outcome> {
    let target = config::target(global);
    match cmd {
        QuotaCmd::Show { output } => {
            let options = ops::quota::ShowOptions {
                output: config::output_options(output),
            };
            ops::quota::show(&target, &options).await
        }
        QuotaCmd::Apply { file, dry_run } => {
            let options = ops::quota::ApplyOptions {
                file: file.clone(),
                dry_run: *dry_run,
            };
            ops::quota::apply(&target, &options).await
        }
    }
}
