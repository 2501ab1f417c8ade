//! `binderctl quota`.

use anyhow::Result;

use crate::cli::{GlobalArgs, QuotaCmd};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &QuotaCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl quota` is not implemented yet")
}
