//! `binderctl storage`.

use anyhow::Result;

use crate::cli::{GlobalArgs, StorageCmd};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &StorageCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl storage` is not implemented yet")
}
