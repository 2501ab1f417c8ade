//! `binderctl render`.

use anyhow::Result;

use crate::cli::{GlobalArgs, RenderCmd};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &RenderCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl render` is not implemented yet")
}
