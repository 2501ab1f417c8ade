//! `binderctl whitelist check`: would BinderHub build this repository
//! (ops::whitelist)?

use anyhow::Result;

use crate::cli::{GlobalArgs, WhitelistCmd};
use crate::error::Outcome;
use crate::ops;

pub async fn run(_global: &GlobalArgs, cmd: &WhitelistCmd) -> Result<Outcome> {
    let WhitelistCmd::Check { spec_or_url, file } = cmd;
    let options = ops::whitelist::CheckOptions {
        spec_or_url: spec_or_url.clone(),
        file: file.clone(),
    };
    ops::whitelist::check(&options).await
}
