//! `binderctl registry ls|prune`: the images BinderHub pushed under its
//! image prefix (ops::registry). The password comes from the environment
//! or the secret file, never from an option.

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, RegistryApi, RegistryArgs, RegistryCmd};
use crate::cluster::duration::unix_now;
use crate::error::Outcome;
use crate::ops;
use crate::registry::{Api, Secret};

/// Where the password comes from when not from the secret file.
pub const PASSWORD_ENV: &str = "BINDERCTL_REGISTRY_PASSWORD";

pub async fn run(_global: &GlobalArgs, cmd: &RegistryCmd) -> Result<Outcome> {
    match cmd {
        RegistryCmd::Ls {
            registry,
            older_than,
            output,
        } => {
            let options = ops::registry::ListOptions {
                registry: registry_config(registry),
                older_than: *older_than,
                output: config::output_options(output),
                now: registry.now.unwrap_or_else(unix_now),
            };
            ops::registry::list(&options).await
        }
        RegistryCmd::Prune {
            registry,
            older_than,
            keep,
            dry_run,
            yes,
            parallel,
        } => {
            let options = ops::registry::PruneOptions {
                registry: registry_config(registry),
                older_than: *older_than,
                keep: *keep,
                dry_run: *dry_run,
                yes: *yes,
                parallel: usize::from(*parallel),
                now: registry.now.unwrap_or_else(unix_now),
            };
            ops::registry::prune(&options).await
        }
    }
}

/// Where the registry, its credentials and the image prefix come from.
fn registry_config(args: &RegistryArgs) -> ops::registry::Config {
    ops::registry::Config {
        input: args.input.clone(),
        prefix: args.prefix.clone(),
        secret: args.secret.clone(),
        registry_url: args.registry_url.clone().filter(|u| !u.trim().is_empty()),
        api: args.api.map(|api| match api {
            RegistryApi::DockerHub => Api::DockerHub,
            RegistryApi::V2 => Api::Distribution,
        }),
        username: args.username.clone().filter(|u| !u.is_empty()),
        password: std::env::var(PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Secret::new),
        timeout: args.timeout,
        retries: args.retries,
    }
}
