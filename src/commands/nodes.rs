//! `binderctl nodes`.

use anyhow::Result;

use crate::cli::{GlobalArgs, NodesCmd};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &NodesCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl nodes` is not implemented yet")
}
