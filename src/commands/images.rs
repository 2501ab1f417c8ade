//! `binderctl images`.

use anyhow::Result;

use crate::cli::{GlobalArgs, ImagesCmd};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &ImagesCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl images` is not implemented yet")
}
