//! `binderctl status`.

use anyhow::Result;

use crate::cli::{GlobalArgs, StatusCmd};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &StatusCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl status` is not implemented yet")
}
