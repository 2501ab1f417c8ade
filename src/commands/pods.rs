//! `binderctl pods`.

use anyhow::Result;

use crate::cli::{GlobalArgs, PodsCmd};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &PodsCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl pods` is not implemented yet")
}
