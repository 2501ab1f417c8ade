//! `binderctl versions`.

use anyhow::Result;

use crate::cli::{GlobalArgs, VersionsCmd};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &VersionsCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl versions` is not implemented yet")
}
