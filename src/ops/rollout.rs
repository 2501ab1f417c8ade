//! Waiting for what a release rolls out: each Deployment, StatefulSet and
//! DaemonSet in turn within one total time; when one is not ready, the
//! workloads not ready by name and the failing pods' reasons, events and
//! last log lines (from `logs`).

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::cluster::plan::CommandLine;
use crate::cluster::runner::Runner;
use crate::cluster::tools::Tools;
use crate::error::Interrupted;
use crate::output;

use crate::cluster::duration::format_go;

/// What a release rolls out and `deploy` waits for: its Deployments,
/// StatefulSets and DaemonSets (the chart's image cleaner and image
/// puller), with how many of their pods are ready.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Workload {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: String,
    pub name: String,
    /// Pods ready, and pods wanted.
    pub ready: u64,
    pub desired: u64,
    /// `OnDelete`: updated only when its pods are deleted, so there is no
    /// rollout to wait for (kubectl refuses `rollout status` for it).
    #[serde(skip)]
    pub on_delete: bool,
}

impl Workload {
    /// `deployment/hub`, as kubectl names it.
    pub fn resource(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }

    pub fn is_ready(&self) -> bool {
        self.ready >= self.desired
    }
}

#[derive(Debug, Deserialize)]
struct WorkloadList {
    #[serde(default)]
    items: Vec<WorkloadItem>,
}

#[derive(Debug, Deserialize)]
struct WorkloadItem {
    #[serde(default)]
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    spec: WorkloadSpec,
    #[serde(default)]
    status: WorkloadStatus,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkloadSpec {
    /// Deployments and StatefulSets; unset means 1.
    replicas: Option<u64>,
    /// Deployments call it `strategy`.
    update_strategy: Option<Strategy>,
}

#[derive(Debug, Default, Deserialize)]
struct Strategy {
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkloadStatus {
    #[serde(default)]
    ready_replicas: u64,
    #[serde(default)]
    number_ready: u64,
    #[serde(default)]
    desired_number_scheduled: u64,
}

/// The workloads in `json` (`kubectl get deployments,statefulsets,daemonsets
/// -o json`), Deployments first, then StatefulSets, then DaemonSets (the
/// hub before what serves it), each kind by name.
pub fn parse_workloads(json: &str) -> Result<Vec<Workload>, serde_json::Error> {
    let list: WorkloadList = serde_json::from_str(json)?;
    let mut workloads: Vec<Workload> = list
        .items
        .into_iter()
        .filter(|item| !item.metadata.name.is_empty())
        .map(|item| {
            let (ready, desired) = match item.kind.as_str() {
                "DaemonSet" => (
                    item.status.number_ready,
                    item.status.desired_number_scheduled,
                ),
                _ => (item.status.ready_replicas, item.spec.replicas.unwrap_or(1)),
            };
            Workload {
                on_delete: item
                    .spec
                    .update_strategy
                    .is_some_and(|s| s.kind == "OnDelete"),
                kind: item.kind,
                name: item.metadata.name,
                ready,
                desired,
            }
        })
        .collect();
    let rank = |kind: &str| match kind {
        "Deployment" => 0,
        "StatefulSet" => 1,
        _ => 2,
    };
    workloads.sort_by(|a, b| (rank(&a.kind), &a.name).cmp(&(rank(&b.kind), &b.name)));
    Ok(workloads)
}

/// Read the namespace's workloads (one request for the three kinds).
pub async fn read_workloads(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
) -> Result<Vec<Workload>> {
    let command = workloads_command(tools, namespace);
    let json = runner.query(&command).await?;
    parse_workloads(&json)
        .with_context(|| format!("`{command}` printed something other than a list of workloads"))
}

/// `kubectl rollout status` for each Deployment, StatefulSet and DaemonSet
/// of the namespace, all within `timeout` in total: each gets what is left
/// of it.
pub async fn wait_for_rollout(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
    timeout: std::time::Duration,
) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    let workloads = read_workloads(runner, tools, namespace).await?;
    for workload in &workloads {
        let resource = workload.resource();
        if workload.on_delete {
            output::info(&format!(
                "binderctl: {resource} updates only when its pods are deleted \
                 (updateStrategy OnDelete): not waited for"
            ));
            continue;
        }
        let left = remaining(deadline, std::time::Instant::now()).ok_or_else(|| {
            anyhow::anyhow!(
                "the rollout did not finish within --wait-timeout {} (for all workloads \
                 together); {resource} and any after it were not waited for",
                format_go(timeout)
            )
        })?;
        let command = rollout_command(tools, namespace, &resource, left);
        runner
            .run_with_progress(&command, &format!("rollout of {resource}"))
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

/// `kubectl get deployments,statefulsets,daemonsets -n NS -o json`.
pub fn workloads_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl([
        "get",
        "deployments,statefulsets,daemonsets",
        "-n",
        namespace,
        "-o",
        "json",
    ])
}

/// `kubectl rollout status KIND/NAME -n NS --timeout=T`.
pub fn rollout_command(
    tools: &Tools,
    namespace: &str,
    resource: &str,
    timeout: std::time::Duration,
) -> CommandLine {
    tools
        .kubectl(["rollout", "status", resource, "-n", namespace])
        .arg(format!("--timeout={}", format_go(timeout)))
}

/// The workloads not ready, one line each (`daemonset/image-cleaner: 0 of
/// 3 pods ready`), for the failure report.
pub fn not_ready_lines(workloads: &[Workload]) -> Vec<String> {
    workloads
        .iter()
        .filter(|w| !w.is_ready())
        .map(|w| {
            format!(
                "{}: {} of {} ready",
                w.resource(),
                w.ready,
                output::plural(
                    usize::try_from(w.desired).unwrap_or(usize::MAX),
                    "pod",
                    "pods"
                )
            )
        })
        .collect()
}

/// Wait for every workload to roll out (as `deploy` does); when that
/// fails, name the workloads not ready and print the failing pods' report
/// before the error.
pub async fn wait_or_report(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
    timeout: std::time::Duration,
) -> Result<()> {
    let result = wait_for_rollout(runner, tools, namespace, timeout).await;
    if let Err(e) = &result {
        if e.downcast_ref::<Interrupted>().is_none() && !runner.is_dry_run() {
            let mut report = String::new();
            if let Ok(workloads) = read_workloads(runner, tools, namespace).await {
                let lines = not_ready_lines(&workloads);
                if !lines.is_empty() {
                    report.push_str("binderctl: not ready:\n");
                    for line in lines {
                        report.push_str(&format!("  {line}\n"));
                    }
                }
            }
            report.push_str(&super::logs::failure_report(runner, tools, namespace).await);
            output::tool_stderr(&report);
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
    fn every_workload_kind_is_waited_for_deployments_first() {
        let json = r#"{"kind":"List","items":[
          {"kind":"DaemonSet","metadata":{"name":"image-cleaner"},"spec":{"updateStrategy":{"type":"RollingUpdate"}},
           "status":{"desiredNumberScheduled":3,"numberReady":1}},
          {"kind":"Deployment","metadata":{"name":"proxy"},"spec":{"replicas":1},"status":{"readyReplicas":1}},
          {"kind":"StatefulSet","metadata":{"name":"user-placeholder"},"spec":{"replicas":0},"status":{}},
          {"kind":"Deployment","metadata":{"name":"binder"},"spec":{},"status":{}},
          {"kind":"DaemonSet","metadata":{"name":"continuous-image-puller"},"spec":{"updateStrategy":{"type":"OnDelete"}},
           "status":{"desiredNumberScheduled":2,"numberReady":2}}]}"#;
        let workloads = parse_workloads(json).unwrap();
        let names: Vec<String> = workloads.iter().map(Workload::resource).collect();
        assert_eq!(
            names,
            [
                "deployment/binder",
                "deployment/proxy",
                "statefulset/user-placeholder",
                "daemonset/continuous-image-puller",
                "daemonset/image-cleaner"
            ]
        );
        assert!(workloads[3].on_delete && !workloads[4].on_delete);
        assert_eq!(
            not_ready_lines(&workloads),
            [
                "deployment/binder: 0 of 1 pod ready",
                "daemonset/image-cleaner: 1 of 3 pods ready"
            ]
        );
        let tools = Tools::new(ToolFlavor::Microk8s);
        assert_eq!(
            rollout_command(
                &tools,
                "binder",
                "daemonset/image-cleaner",
                std::time::Duration::from_secs(600)
            )
            .to_string(),
            "microk8s kubectl rollout status daemonset/image-cleaner -n binder --timeout=10m"
        );
        assert_eq!(
            workloads_command(&tools, "binder").to_string(),
            "microk8s kubectl get deployments,statefulsets,daemonsets -n binder -o json"
        );
    }
}
