//! Before a change, ask the API server whether the operator's account may
//! make it (`kubectl auth can-i`, every question at once), so a command that
//! lacks a permission stops before anything changes and names it, instead
//! of failing half-way (a chart half installed).

use anyhow::{bail, Result};

use crate::cluster::plan::CommandLine;
use crate::cluster::runner::{self, Runner};
use crate::cluster::tools::Tools;

/// One permission: a verb on a resource (`clusterroles.rbac.authorization.k8s.io`),
/// in a namespace or at the cluster scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    pub verb: &'static str,
    pub resource: &'static str,
    pub namespace: Option<String>,
    /// What needs it, for the message.
    pub why: &'static str,
}

/// What `helm upgrade --install` of the binderhub chart creates beyond the
/// namespace's ordinary objects: its cluster-wide objects, and the Secrets
/// Helm records the release in.
pub fn for_chart_install(namespace: &str) -> Vec<Needed> {
    let cluster = |verb, resource, why| Needed {
        verb,
        resource,
        namespace: None,
        why,
    };
    vec![
        cluster(
            "create",
            "clusterroles.rbac.authorization.k8s.io",
            "the chart's user-scheduler and image-cleaner",
        ),
        cluster(
            "create",
            "clusterrolebindings.rbac.authorization.k8s.io",
            "the chart's user-scheduler and image-cleaner",
        ),
        Needed {
            verb: "create",
            resource: "deployments.apps",
            namespace: Some(namespace.to_string()),
            why: "the chart's hub, proxy and binder",
        },
        Needed {
            verb: "create",
            resource: "secrets",
            namespace: Some(namespace.to_string()),
            why: "Helm's record of the release",
        },
    ]
}

/// `kubectl auth can-i VERB RESOURCE [-n NS]`: `yes` (exit 0) or `no` (exit 1).
pub fn command(tools: &Tools, needed: &Needed) -> CommandLine {
    let mut args = vec!["auth", "can-i", needed.verb, needed.resource];
    if let Some(namespace) = &needed.namespace {
        args.extend(["-n", namespace.as_str()]);
    }
    tools.kubectl(args)
}

/// Ask every question at once; an error naming each permission the account
/// lacks, and `binderctl rbac`.
pub async fn require(runner: &Runner, tools: &Tools, needed: &[Needed]) -> Result<()> {
    let answers = futures_util::future::join_all(needed.iter().map(|n| {
        let command = command(tools, n);
        async move {
            let answer = runner.probe(&command).await?;
            match (answer.code, answer.stdout.trim()) {
                (0, "yes") => Ok(true),
                (1, "no") => Ok(false),
                _ => Err(runner::failed(&command, &answer)),
            }
        }
    }))
    .await;
    let mut missing = Vec::new();
    for (needed, answer) in needed.iter().zip(answers) {
        if !answer? {
            let scope = match &needed.namespace {
                Some(ns) => format!("in namespace {ns}"),
                None => "at the cluster scope".to_string(),
            };
            missing.push(format!(
                "{} {} {scope} ({})",
                needed.verb, needed.resource, needed.why
            ));
        }
    }
    if !missing.is_empty() {
        bail!(
            "not allowed: your account may not {}; nothing was changed. `binderctl rbac` prints \
             the roles binderctl needs, for an administrator to apply",
            missing.join(", nor ")
        );
    }
    Ok(())
}
