//! Waiting for what a release rolls out: each Deployment in turn within one
//! total time; when one is not ready, the failing pods' reasons, events and
//! last log lines (from `logs`).

use anyhow::Result;
use serde::Deserialize;

use crate::cluster::plan::CommandLine;
use crate::cluster::runner::Runner;
use crate::cluster::tools::Tools;
use crate::error::Interrupted;
use crate::output;

use crate::cluster::duration::format_go;

#[derive(Debug, Deserialize)]
struct NameList {
    #[serde(default)]
    items: Vec<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    metadata: Metadata,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
}

/// `kubectl rollout status` for each deployment of the namespace, all
/// within `timeout` in total: each gets what is left of it.
pub async fn wait_for_rollout(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
    timeout: std::time::Duration,
) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    let deployments: NameList = runner
        .query_json(&deployments_command(tools, namespace))
        .await?;
    for name in rollout_targets(&deployments) {
        let left = remaining(deadline, std::time::Instant::now()).ok_or_else(|| {
            anyhow::anyhow!(
                "the rollout did not finish within --wait-timeout {} (for all deployments \
                 together); deployment {name} and any after it were not waited for",
                format_go(timeout)
            )
        })?;
        let command = rollout_command(tools, namespace, &name, left);
        runner
            .run_with_progress(&command, &format!("rollout of deployment {name}"))
            .await?;
    }
    Ok(())
}

/// What is left until `deadline`, in whole seconds rounded up (kubectl
/// reads `--timeout=0s` as no limit); `None` once it has passed.
fn remaining(deadline: std::time::Instant, now: std::time::Instant) -> Option<std::time::Duration> {
    let left = deadline.checked_duration_since(now)?;
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    (secs > 0).then(|| std::time::Duration::from_secs(secs))
}

/// `kubectl get deployments -n NS -o json`.
pub fn deployments_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl(["get", "deployments", "-n", namespace, "-o", "json"])
}

fn rollout_targets(list: &NameList) -> Vec<String> {
    let mut names: Vec<String> = list
        .items
        .iter()
        .map(|d| d.metadata.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names
}

/// `kubectl rollout status deployment/NAME -n NS --timeout=T`.
pub fn rollout_command(
    tools: &Tools,
    namespace: &str,
    name: &str,
    timeout: std::time::Duration,
) -> CommandLine {
    tools
        .kubectl([
            "rollout",
            "status",
            &format!("deployment/{name}"),
            "-n",
            namespace,
        ])
        .arg(format!("--timeout={}", format_go(timeout)))
}

/// Wait for every deployment to roll out (as `deploy` does); when that
/// fails, print the failure report before the error.
pub async fn wait_or_report(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
    timeout: std::time::Duration,
) -> Result<()> {
    let result = wait_for_rollout(runner, tools, namespace, timeout).await;
    if let Err(e) = &result {
        if e.downcast_ref::<Interrupted>().is_none() && !runner.is_dry_run() {
            output::tool_stderr(&super::logs::failure_report(runner, tools, namespace).await);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    #[test]
    fn the_rollout_wait_is_a_total() {
        let start = std::time::Instant::now();
        let deadline = start + std::time::Duration::from_secs(600);
        let at = |secs: f64| start + std::time::Duration::from_secs_f64(secs);
        assert_eq!(remaining(deadline, start).unwrap().as_secs(), 600);
        assert_eq!(remaining(deadline, at(420.0)).unwrap().as_secs(), 180);
        assert_eq!(remaining(deadline, at(599.5)).unwrap().as_secs(), 1);
        assert_eq!(remaining(deadline, at(600.0)), None);
        assert_eq!(remaining(deadline, at(700.0)), None);
    }

    #[test]
    fn rollout_waits_for_each_deployment_in_order() {
        let list: NameList = serde_json::from_str(r#"{"items":[{"metadata":{"name":"proxy"}},{"metadata":{"name":"binder"}},{"metadata":{"name":"hub"}}]}"#).unwrap();
        assert_eq!(rollout_targets(&list), ["binder", "hub", "proxy"]);
        let tools = Tools::new(ToolFlavor::Microk8s);
        assert_eq!(
            rollout_command(&tools, "binder", "hub", std::time::Duration::from_secs(600))
                .to_string(),
            "microk8s kubectl rollout status deployment/hub -n binder --timeout=10m"
        );
    }
}
