//! `binderctl uninstall`.

use anyhow::Result;

use crate::cli::{GlobalArgs, UninstallCmd};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &UninstallCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl uninstall` is not implemented yet")
}
