//! `binderctl dashboard token|forward`: the Kubernetes dashboard (ops::dashboard).

use anyhow::Result;

use super::config;
use crate::cli::{DashboardCmd, GlobalArgs};
use crate::error::Outcome;
use crate::ops;

pub async fn run(global: &GlobalArgs, cmd: &DashboardCmd) -> Result<Outcome> {
    let target = config::target(global);
    match cmd {
        DashboardCmd::Token {
            duration,
            service_account,
            account_namespace,
        } => {
            let options = ops::dashboard::TokenOptions {
                duration: duration.clone(),
                service_account: service_account.clone(),
                account_namespace: account_namespace.clone(),
            };
            ops::dashboard::token(&target, &options).await
        }
        DashboardCmd::Forward {
            port,
            address,
            dashboard_namespace,
        } => {
            let options = ops::dashboard::ForwardOptions {
                port: *port,
                address: address.clone(),
                dashboard_namespace: dashboard_namespace.clone(),
            };
            ops::dashboard::forward(&target, &options).await
        }
    }
}
