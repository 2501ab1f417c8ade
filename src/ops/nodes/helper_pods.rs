//! `--node NAME` and `--all-nodes`: the node-level commands (`images ls`,
//! `images rm`, `nodes reserve`, `nodes gc`, doctor's node checks) on other nodes,
//! through one short-lived helper pod per node (`cluster::node_helper`)
//! instead of SSH. Runs kubectl through the runner; the helper pods are
//! always deleted, also on a failure and on Ctrl-C.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cluster::node_helper::{
    self, HelperContainer, HelperPod, HelperTarget, NodeContainerd, PodState, DEADLINE_SECONDS,
};
use crate::cluster::runner::{self, Runner};
use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::cluster::tools::Tools;
use crate::error::Interrupted;
use crate::ops::nodes::fanout::{last_lines, one_line};
use crate::ops::nodes::inventory as nodes;
use crate::output;

use crate::ops::images::model::ImageMatch;
use crate::ops::nodes::inventory::ready_condition;

/// Which nodes a node-level command acts on: this one (the default), or
/// others through helper pods (`--node`, `--all-nodes`), and the helper
/// pods' image and namespace.
#[derive(Debug, Clone, Default)]
pub struct NodeTargets {
    pub nodes: Vec<String>,
    pub all_nodes: bool,
    pub helper_image: String,
    /// Unset: the BinderHub's namespace.
    pub helper_namespace: Option<String>,
}

impl NodeTargets {
    /// Whether other nodes were asked for.
    pub fn remote(&self) -> bool {
        self.all_nodes || !self.nodes.is_empty()
    }
}

/// How long deleting a helper pod may take, also after Ctrl-C.
const DELETE_LIMIT: Duration = Duration::from_secs(30);
/// How often a helper pod's status is read while it runs.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The helper pods' common settings for one binderctl run.
#[derive(Debug, Clone)]
pub struct Remote {
    tools: Tools,
    pub flavor: ToolFlavor,
    namespace: String,
    image: String,
    run_id: String,
    /// Which containerd each chosen node runs (set once the nodes are chosen).
    containerd: std::sync::OnceLock<HashMap<String, NodeContainerd>>,
    /// Each node's kubelet version, from the same node list.
    kubelet_versions: std::sync::OnceLock<HashMap<String, String>>,
}

/// What a finished helper pod left: each container's output, and why the
/// pod failed (if it did).
#[derive(Debug, Clone, Default)]
pub struct PodRun {
    pub logs: Vec<(String, String)>,
    pub failure: Option<String>,
}

impl PodRun {
    pub fn log(&self, container: &str) -> &str {
        self.logs
            .iter()
            .find(|(name, _)| name == container)
            .map_or("", |(_, text)| text.as_str())
    }
}

impl Remote {
    pub fn new(target: &Target, targets: &NodeTargets) -> Self {
        let now = u64::try_from(crate::cluster::duration::unix_now()).unwrap_or(0);
        Remote {
            tools: Tools::for_target(target),
            flavor: target.tools,
            namespace: targets
                .helper_namespace
                .clone()
                .unwrap_or_else(|| target.namespace.clone()),
            image: targets.helper_image.clone(),
            run_id: node_helper::run_id(now, std::process::id()),
            containerd: std::sync::OnceLock::new(),
            kubelet_versions: std::sync::OnceLock::new(),
        }
    }

    /// Which flavour of node tools the helpers run.
    pub fn flavor(&self) -> ToolFlavor {
        self.flavor
    }

    pub fn target<'a>(&'a self, node: &'a str) -> HelperTarget<'a> {
        HelperTarget {
            node,
            namespace: &self.namespace,
            image: &self.image,
            run_id: &self.run_id,
        }
    }

    /// The nodes `targets` names that are Ready (see [`choose_nodes`]); each
    /// node skipped is reported, and none left is an error.
    pub async fn ready_nodes(
        &self,
        targets: &NodeTargets,
        containerd_only: bool,
    ) -> Result<Vec<String>> {
        let command = nodes::list_command(&self.tools);
        let json = Runner::new(false).query(&command).await?;
        let chosen = choose_nodes(&json, targets, containerd_only)
            .with_context(|| format!("`{command}`"))?;
        let _ = self.containerd.set(node_containerds(&json));
        let _ = self.kubelet_versions.set(kubelet_versions(&json));
        for (_, why) in &chosen.skipped {
            output::warn(why);
        }
        if chosen.ready.is_empty() {
            bail!(
                "none of the chosen nodes is Ready; nothing done (`binderctl nodes ls` shows them)"
            );
        }
        Ok(chosen.ready)
    }

    /// A chosen node's kubelet version (`v1.31.2`), as the node list that
    /// [`Remote::ready_nodes`] read says.
    pub fn kubelet_version(&self, node: &str) -> Option<&str> {
        self.kubelet_versions.get()?.get(node).map(String::as_str)
    }

    /// Before any node work: remove the helper pods an earlier run left,
    /// and have the API server judge a helper pod (a server-side dry run)
    /// so that a namespace whose admission refuses them (Pod Security, a
    /// quota, a limit range) is named before anything is created anywhere.
    pub async fn prepare(&self) -> Result<()> {
        let (leftovers, admission) = tokio::join!(self.remove_leftovers(), self.admission_check());
        leftovers?;
        admission
    }

    async fn admission_check(&self) -> Result<()> {
        // Any node name: a dry run binds the pod nowhere.
        let pod = HelperPod::new(
            &self.target("binderctl-admission-check"),
            0,
            "check",
            vec![HelperContainer::new("check", vec!["true".into()])],
        );
        let command = pod.admission_command(&self.tools);
        let answer = Runner::new(false)
            .probe_with_stdin(&command, &pod.manifest_text())
            .await?;
        if answer.success() {
            return Ok(());
        }
        let stderr = answer.stderr.trim();
        if stderr.contains(" is forbidden: ")
            && crate::cluster::rbac::explain_forbidden(stderr).is_none()
        {
            bail!(node_helper::admission_refusal_message(
                &self.namespace,
                stderr
            ));
        }
        let hint = missing_namespace_hint(&self.namespace, stderr);
        if !hint.is_empty() {
            bail!(
                "cannot create helper pods in namespace {}{hint}",
                self.namespace
            );
        }
        Err(crate::cluster::runner::failed(&command, &answer))
    }

    /// Remove the helper pods an earlier run left (a crashed or killed
    /// binderctl), saying which.
    async fn remove_leftovers(&self) -> Result<()> {
        let command = node_helper::leftovers_command(&self.tools, &self.namespace);
        let answer = Runner::new(false).probe(&command).await?;
        if !answer.success() {
            output::tool_stderr(&answer.stderr);
            bail!("cannot look for helper pods left by an earlier run: `{command}` failed");
        }
        // `-o name` prints `pod/NAME` per pod deleted, and `No resources
        // found` (on stdout) when the selector matched none.
        for pod in answer
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("pod/"))
        {
            output::info(&format!("Removed {pod} left by an earlier binderctl run."));
        }
        Ok(())
    }

    /// Run `pod` to its end, read each container's output and delete it:
    /// the deletion happens whatever went before (failure, Ctrl-C).
    pub async fn run_pod(&self, pod: &HelperPod) -> Result<PodRun> {
        let result = self.drive(pod).await;
        let delete = pod.delete_command(&self.tools);
        let deleted = Runner::new(false)
            .probe_after_interrupt(&delete, DELETE_LIMIT)
            .await;
        let deleted = match deleted {
            Ok(answer) if answer.success() => Ok(()),
            Ok(answer) => Err(answer.stderr.trim().to_string()),
            Err(err) => Err(format!("{err:#}")),
        };
        if let Err(why) = deleted {
            output::error(&format!(
                "cannot delete the helper pod {} on node {} ({why}); delete it with `{delete}` \
                 (its deadline ends it within {DEADLINE_SECONDS} s anyway)",
                pod.name, pod.node
            ));
        }
        result
    }

    async fn drive(&self, pod: &HelperPod) -> Result<PodRun> {
        let runner = Runner::new(false);
        let create = pod.create_command(&self.tools);
        let answer = runner
            .probe_with_stdin(&create, &pod.manifest_text())
            .await?;
        if !answer.success() {
            let stderr = answer.stderr.trim();
            bail!(
                "node {}: cannot create the helper pod (`{create}`): {stderr}{}",
                pod.node,
                missing_namespace_hint(&pod.namespace, stderr)
            );
        }
        let failure = self.wait(pod).await?;
        let mut run = PodRun {
            failure,
            ..PodRun::default()
        };
        // Each container's output at once: the reads do not depend on each other.
        let mut reads = tokio::task::JoinSet::new();
        for (index, container) in pod.containers.iter().enumerate() {
            let logs = pod.logs_command(&self.tools, &container.name);
            reads.spawn(async move { (index, Runner::new(false).probe(&logs).await) });
        }
        // Output that cannot be read (the kubelet's port firewalled, the pod
        // gone) is never taken as empty: it is this node's failure.
        let mut outputs: Vec<Option<String>> = vec![None; pod.containers.len()];
        while let Some(joined) = reads.join_next().await {
            let (index, answer) = joined.context("a log read stopped early")?;
            let answer = answer?;
            if !answer.success() {
                let logs = pod.logs_command(&self.tools, &pod.containers[index].name);
                bail!(
                    "node {}: cannot read the output of the helper pod {} (`{logs}` failed: {}); \
                     its result on the node is unknown",
                    pod.node,
                    pod.name,
                    one_line(&answer.stderr)
                );
            }
            outputs[index] = Some(answer.stdout);
        }
        run.logs = pod
            .containers
            .iter()
            .zip(outputs)
            .map(|(c, text)| (c.name.clone(), text.unwrap_or_default()))
            .collect();
        Ok(run)
    }

    /// Wait until `pod` has finished: `None` when it succeeded, the reason
    /// when it failed; an error when it cannot run at all.
    async fn wait(&self, pod: &HelperPod) -> Result<Option<String>> {
        let runner = Runner::new(false);
        let status = pod.status_command(&self.tools);
        let give_up = Instant::now() + Duration::from_secs(DEADLINE_SECONDS + 60);
        loop {
            let json = runner.query(&status).await?;
            let state = node_helper::pod_state(&json)
                .with_context(|| format!("`{status}` printed something other than a pod"))?;
            match state {
                PodState::Succeeded => return Ok(None),
                PodState::Failed(why) => return Ok(Some(why)),
                PodState::ImageUnavailable(detail) => bail!(
                    node_helper::image_unavailable_message(&pod.node, &pod.image, &detail)
                ),
                PodState::Running if Instant::now() > give_up => bail!(
                    "node {}: the helper pod {} did not finish within {DEADLINE_SECONDS} s",
                    pod.node,
                    pod.name
                ),
                PodState::Running => {}
            }
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = runner::interrupted() => return Err(Interrupted.into()),
            }
        }
    }

    /// What `--dry-run` prints for `pod`: its manifest, then the kubectl
    /// commands that would create, watch, read and delete it.
    pub fn dry_run_text(&self, pod: &HelperPod) -> String {
        let mut text = format!(
            "# helper pod for node {}\n{}",
            pod.node,
            pod.manifest_text()
        );
        text.push_str(&format!("{}\n", pod.create_command(&self.tools)));
        text.push_str(&format!("{}\n", pod.status_command(&self.tools)));
        for c in &pod.containers {
            text.push_str(&format!("{}\n", pod.logs_command(&self.tools, &c.name)));
        }
        text.push_str(&format!("{}\n", pod.delete_command(&self.tools)));
        text
    }

    pub fn ctr(&self, node: &str, matching: &ImageMatch, args: &[&str]) -> Vec<String> {
        let containerd = self
            .containerd
            .get()
            .and_then(|kinds| kinds.get(node).copied())
            .unwrap_or_default();
        let mut argv =
            node_helper::node_ctr(self.flavor, containerd, &matching.containerd_namespace);
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }
}

/// The nodes `--node`/`--all-nodes` chose, from `kubectl get nodes -o json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChosenNodes {
    /// Ready, in the list's order.
    pub ready: Vec<String>,
    /// Each node left out and the sentence saying why.
    pub skipped: Vec<(String, String)>,
}

/// Pick the nodes `targets` names from the node list `json`: a NotReady (or
/// unknown) node is skipped with a reason, never silently; a name the
/// cluster does not know is an error.
///
/// `containerd_only`: a node whose container runtime is not containerd
/// (CRI-O, Docker) is skipped too, since ctr cannot reach its images.
pub fn choose_nodes(
    json: &str,
    targets: &NodeTargets,
    containerd_only: bool,
) -> Result<ChosenNodes> {
    let rows = nodes::parse_node_list(json)
        .map_err(|_| anyhow::anyhow!("printed something other than a node list"))?;
    let runtimes = container_runtimes(json);
    for wanted in &targets.nodes {
        if !rows.iter().any(|r| &r.name == wanted) {
            bail!(
                "there is no node named {wanted:?} in the cluster; `binderctl nodes ls` lists them"
            );
        }
    }
    let mut chosen = ChosenNodes::default();
    for row in rows {
        if !targets.all_nodes && !targets.nodes.contains(&row.name) {
            continue;
        }
        let runtime = runtimes.get(&row.name).map(String::as_str).unwrap_or("");
        let foreign = !runtime.is_empty() && !runtime.starts_with("containerd://");
        let why = if containerd_only && foreign {
            format!(
                "node {} runs {runtime}, not containerd: skipped (binderctl's image commands \
                 drive containerd's ctr)",
                row.name
            )
        } else if is_ready(&row.status) {
            chosen.ready.push(row.name);
            continue;
        } else {
            format!(
                "node {} is {}: skipped (binderctl acts only on Ready nodes)",
                row.name, row.status
            )
        };
        chosen.skipped.push((row.name, why));
    }
    Ok(chosen)
}

/// Each node's containerd (k3s', RKE2's or the standard one), from its
/// kubelet's version in `kubectl get nodes -o json`.
pub fn node_containerds(json: &str) -> HashMap<String, NodeContainerd> {
    node_info(json, "kubeletVersion")
        .into_iter()
        .map(|(name, version)| (name, NodeContainerd::from_kubelet_version(&version)))
        .collect()
}

/// Each node's kubelet version (`v1.31.2`) in `kubectl get nodes -o json`.
pub fn kubelet_versions(json: &str) -> HashMap<String, String> {
    node_info(json, "kubeletVersion")
}

/// One `status.nodeInfo` field of each node in `kubectl get nodes -o json`.
fn node_info(json: &str, field: &str) -> HashMap<String, String> {
    let list: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|node| {
            let name = node["metadata"]["name"].as_str()?;
            let value = node["status"]["nodeInfo"][field].as_str()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

/// Whether a node's STATUS column (`Ready`, `Ready,SchedulingDisabled`,
/// `NotReady`) says it is Ready.
pub fn is_ready(status: &str) -> bool {
    status.split(',').next() == Some("Ready")
}

/// Each node's container runtime (`containerd://1.6.20`, `cri-o://1.28.1`),
/// from `kubectl get nodes -o json`.
pub fn container_runtimes(json: &str) -> HashMap<String, String> {
    node_info(json, "containerRuntimeVersion")
}

/// Read optional files on `node` through one helper pod, one container
/// per file running side by side (so each file's text stays apart): each
/// `(container, path)`'s text, `None` where the node has no such file, or
/// why that one file cannot be used; an error when the pod itself fails.
pub async fn read_optional_files(
    remote: &Remote,
    index: usize,
    node: &str,
    files: &[(&str, &str)],
) -> Result<Vec<std::result::Result<Option<String>, String>>> {
    let containers = files
        .iter()
        .map(|(name, path)| HelperContainer::new(name, node_helper::read_optional_file_argv(path)))
        .collect();
    let pod = HelperPod::new(&remote.target(node), index, "read", containers).side_by_side();
    let run = remote.run_pod(&pod).await?;
    if let Some(why) = &run.failure {
        bail!(
            "node {node}: the helper pod failed ({why}): {}",
            last_lines(&run.logs)
        );
    }
    Ok(files
        .iter()
        .map(|(name, path)| {
            node_helper::parse_optional_file(run.log(name)).map_err(|why| format!("{path}: {why}"))
        })
        .collect())
}

impl Remote {
    /// Delete `pod` once more (quietly; it is normally gone already).
    pub async fn delete_again(&self, pod: &HelperPod) {
        let delete = pod.delete_command(&self.tools);
        let _ = Runner::new(false)
            .probe_after_interrupt(&delete, DELETE_LIMIT)
            .await;
    }

    /// The node's last heartbeat, if it can be read.
    pub async fn heartbeat(&self, node: &str) -> Option<String> {
        let answer = Runner::new(false)
            .probe(&nodes::get_command(&self.tools, node))
            .await
            .ok()?;
        ready_condition(&answer.stdout).map(|(_, beat)| beat)
    }

    /// Wait until `node` is Ready with a heartbeat newer than `before` (so
    /// the restarted kubelet said so, not the status from before the
    /// restart); false when `limit` passed first. Failed reads are retried:
    /// on a control-plane node the API server restarts too.
    pub async fn wait_ready_again(
        &self,
        node: &str,
        before: Option<&str>,
        limit: Duration,
    ) -> Result<bool> {
        let runner = Runner::new(false);
        let command = nodes::get_command(&self.tools, node);
        let give_up = Instant::now() + limit;
        let seconds = |t: &str| crate::cluster::duration::parse_timestamp(t);
        loop {
            if let Ok(answer) = runner.probe(&command).await {
                if let Some((true, beat)) = ready_condition(&answer.stdout) {
                    let fresh = match (before.and_then(seconds), seconds(&beat)) {
                        (Some(old), Some(new)) => new > old,
                        _ => true,
                    };
                    if fresh {
                        return Ok(true);
                    }
                }
            }
            if runner::was_interrupted() {
                return Err(Interrupted.into());
            }
            if Instant::now() >= give_up {
                return Ok(false);
            }
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = runner::interrupted() => return Err(Interrupted.into()),
            }
        }
    }
}

/// Before the first deploy, the BinderHub's namespace (the default for
/// helper pods) does not exist yet: the way out, or nothing.
fn missing_namespace_hint(namespace: &str, stderr: &str) -> String {
    if stderr.contains(&format!("namespaces \"{namespace}\" not found")) {
        format!(
            "; the namespace {namespace} does not exist (yet): pass --helper-namespace with one \
             that does (kube-system, default)"
        )
    } else {
        String::new()
    }
}
