//! `binderctl deploy`.

use anyhow::Result;

use crate::cli::{DeployCmd, GlobalArgs};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &DeployCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl deploy` is not implemented yet")
}
