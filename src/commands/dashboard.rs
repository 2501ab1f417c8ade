//! `binderctl dashboard`.

use anyhow::Result;

use crate::cli::{DashboardCmd, GlobalArgs};
use crate::error::Outcome;

pub async fn run(_global: &GlobalArgs, _cmd: &DashboardCmd) -> Result<Outcome> {
    anyhow::bail!("`binderctl dashboard` is not implemented yet")
}
