//! `--node NAME` and `--all-nodes`: the node-level commands (`images ls`,
//! `images rm`, `nodes reserve`, doctor's node checks) on other nodes,
//! through one short-lived helper pod per node (`cluster::node_helper`)
//! instead of SSH. Runs kubectl through the runner; the helper pods are
//! always deleted, also on a failure and on Ctrl-C.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cli::{GlobalArgs, ImageMatch, NodeTargets, OutputArgs, ToolFlavor};
use crate::cluster::confirm::confirm;
use crate::cluster::kubelet_args::Reserved;
use crate::cluster::kubelet_config;
use crate::cluster::node_helper::{
    self, HelperContainer, HelperPod, HelperTarget, NodeContainerd, PodState, DEADLINE_SECONDS,
    PARALLELISM,
};
use crate::cluster::runner::{self, Runner};
use crate::cluster::tools::Tools;
use crate::commands::images::{self, Image, Keep, Matcher, Selection};
use crate::commands::nodes;
use crate::error::{Interrupted, NotConfirmed, Outcome};
use crate::output;
use crate::output::table::{format_table_styled, TableStyle};
use crate::output::{format, plural};

/// How long deleting a helper pod may take, also after Ctrl-C.
const DELETE_LIMIT: Duration = Duration::from_secs(30);
/// How often a helper pod's status is read while it runs.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The helper pods' common settings for one binderctl run.
#[derive(Debug, Clone)]
pub struct Remote {
    tools: Tools,
    flavor: ToolFlavor,
    namespace: String,
    image: String,
    run_id: String,
    /// Which containerd each chosen node runs (set once the nodes are chosen).
    containerd: std::sync::OnceLock<HashMap<String, NodeContainerd>>,
}

/// What a finished helper pod left: each container's output, and why the
/// pod failed (if it did).
#[derive(Debug, Clone, Default)]
pub struct PodRun {
    pub logs: Vec<(String, String)>,
    pub failure: Option<String>,
}

impl PodRun {
    fn log(&self, container: &str) -> &str {
        self.logs
            .iter()
            .find(|(name, _)| name == container)
            .map_or("", |(_, text)| text.as_str())
    }
}

impl Remote {
    pub fn new(global: &GlobalArgs, targets: &NodeTargets) -> Self {
        let now = u64::try_from(crate::cluster::duration::unix_now()).unwrap_or(0);
        Remote {
            tools: Tools::from_global(global),
            flavor: global.tools,
            namespace: targets
                .helper_namespace
                .clone()
                .unwrap_or_else(|| global.namespace.clone()),
            image: targets.helper_image.clone(),
            run_id: node_helper::run_id(now, std::process::id()),
            containerd: std::sync::OnceLock::new(),
        }
    }

    /// Which flavour of node tools the helpers run.
    pub fn flavor(&self) -> ToolFlavor {
        self.flavor
    }

    fn target<'a>(&'a self, node: &'a str) -> HelperTarget<'a> {
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

    fn ctr(&self, node: &str, matching: &ImageMatch, args: &[&str]) -> Vec<String> {
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

/// Run `work` for each node, at most [`PARALLELISM`] at once; the results
/// in the nodes' order.
pub async fn for_each_node<T, F, Fut>(nodes: &[String], work: F) -> Vec<(String, Result<T>)>
where
    T: Send + 'static,
    F: Fn(usize, String) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(PARALLELISM));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, node) in nodes.iter().enumerate() {
        let job = work(index, node.clone());
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, job.await)
        });
    }
    let mut results: Vec<Option<Result<T>>> = nodes.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, result)) = joined {
            results[index] = Some(result);
        }
    }
    nodes
        .iter()
        .cloned()
        .zip(results)
        .map(|(node, result)| {
            let result = result.unwrap_or_else(|| Err(anyhow::anyhow!("the work stopped early")));
            (node, result)
        })
        .collect()
}

/// One node's images as its helper pod listed them, and the images its
/// containers use (when asked for).
struct NodeImages {
    images: Vec<Image>,
    in_use: Vec<String>,
}

async fn read_images(
    remote: &Remote,
    index: usize,
    node: &str,
    matching: &ImageMatch,
    with_containers: bool,
) -> Result<NodeImages> {
    let mut containers = vec![HelperContainer::new(
        "images",
        remote.ctr(node, matching, &["images", "ls"]),
    )];
    if with_containers {
        containers.push(HelperContainer::new(
            "containers",
            remote.ctr(node, matching, &["containers", "ls"]),
        ));
    }
    let pod = HelperPod::new(&remote.target(node), index, "read", containers);
    let run = remote.run_pod(&pod).await?;
    if let Some(why) = &run.failure {
        bail!(
            "node {node}: the node's ctr failed ({why}): {}",
            last_lines(&run.logs)
        );
    }
    let (_, images) = images::parse_ctr_images(run.log("images"));
    Ok(NodeImages {
        images,
        in_use: images::parse_container_images(run.log("containers")),
    })
}

/// A tool's message on one line, for an error that names the node.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        "no message".to_string()
    } else {
        lines.join(" / ")
    }
}

/// The end of the pods' output, for an error message.
fn last_lines(logs: &[(String, String)]) -> String {
    let text: Vec<&str> = logs.iter().flat_map(|(_, t)| t.lines()).collect();
    let tail = &text[text.len().saturating_sub(5)..];
    if tail.is_empty() {
        "no output".to_string()
    } else {
        tail.join(" / ")
    }
}

/// Report the nodes that failed; an error naming them when any did.
fn finish(failed: &[(String, anyhow::Error)], total: usize) -> Result<Outcome> {
    if failed.is_empty() {
        return Ok(Outcome::Success);
    }
    for (_, err) in failed {
        if err.downcast_ref::<Interrupted>().is_some() {
            return Err(Interrupted.into());
        }
        output::error(&format!("{err:#}"));
    }
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    bail!(
        "{} of {total} failed: {}",
        plural(failed.len(), "node", "nodes"),
        names.join(", ")
    )
}

/// An image as `images ls --all-nodes` shows it: where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterImage {
    #[serde(rename = "ref")]
    pub reference: String,
    pub digest: String,
    pub size: String,
    pub nodes: Vec<String>,
}

/// One row per image reference, with the nodes that have it, in order.
pub fn merge_images(
    per_node: &[(String, Vec<Image>)],
    matcher: Option<&Matcher>,
) -> Vec<ClusterImage> {
    let mut merged: BTreeMap<String, ClusterImage> = BTreeMap::new();
    for (node, images) in per_node {
        for image in images {
            if matcher.is_some_and(|m| !m.matches(&image.reference)) {
                continue;
            }
            let record = images::ImageRecord::new(image);
            let entry = merged
                .entry(image.reference.clone())
                .or_insert_with(|| ClusterImage {
                    reference: record.reference,
                    digest: record.digest,
                    size: record.size,
                    nodes: Vec::new(),
                });
            entry.nodes.push(node.clone());
        }
    }
    merged.into_values().collect()
}

/// The `images ls --all-nodes` table: REF, SIZE, NODES (DIGEST with -o wide).
pub fn format_cluster_images(images: &[ClusterImage], style: TableStyle) -> String {
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|i| {
            let mut row = vec![i.reference.clone()];
            if style.wide {
                row.push(i.digest.clone());
            }
            row.push(i.size.clone());
            row.push(i.nodes.join(","));
            row
        })
        .collect();
    let headers: &[&str] = if style.wide {
        &["REF", "DIGEST", "SIZE", "NODES"]
    } else {
        &["REF", "SIZE", "NODES"]
    };
    format_table_styled(headers, &rows, style)
}

/// `images ls [PATTERN] --node N... | --all-nodes`.
pub async fn images_ls(
    global: &GlobalArgs,
    matcher: Option<Matcher>,
    matching: &ImageMatch,
    targets: &NodeTargets,
    output_args: &OutputArgs,
) -> Result<Outcome> {
    let remote = Arc::new(Remote::new(global, targets));
    let nodes = remote.ready_nodes(targets, true).await?;
    remote.prepare().await?;
    let results = for_each_node(&nodes, |index, node| {
        let (remote, matching) = (remote.clone(), matching.clone());
        async move { read_images(&remote, index, &node, &matching, false).await }
    })
    .await;
    let mut listed = Vec::new();
    let mut failed = Vec::new();
    for (node, result) in results {
        match result {
            Ok(found) => listed.push((node, found.images)),
            Err(err) => failed.push((node, err)),
        }
    }
    let merged = merge_images(&listed, matcher.as_ref());
    if merged.is_empty() && format::is_table(output_args) {
        output::info("No images match.");
    } else {
        format::print(
            output_args,
            &merged,
            || merged.iter().map(|i| i.reference.clone()).collect(),
            |style| format_cluster_images(&merged, style),
        )?;
    }
    finish(&failed, nodes.len())
}

/// Bytes in one of ctr's sizes (`85.5 MiB`, `512 B`).
pub fn parse_size(size: &str) -> Option<u64> {
    let (number, unit) = size.trim().split_once(' ')?;
    let number: f64 = number.parse().ok()?;
    let scale: f64 = match unit {
        "B" => 1.0,
        "KiB" | "kB" => 1024.0,
        "MiB" | "MB" => 1024.0 * 1024.0,
        "GiB" | "GB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" | "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    (number.is_finite() && number >= 0.0).then_some((number * scale) as u64)
}

/// A byte count as ctr writes it (`2.1 GiB`).
pub fn format_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// The space the removed refs held: each removed image's size once (its
/// refs share the content), when no ref that stays still holds it.
pub fn bytes_freed(images: &[Image], removed: &[String]) -> u64 {
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    for image in images.iter().filter(|i| removed.contains(&i.reference)) {
        let size = parse_size(&images::ImageRecord::new(image).size).unwrap_or(0);
        sizes.insert(image.digest.as_str(), size);
    }
    let kept_digest = |d: &str| {
        images
            .iter()
            .any(|i| i.digest == d && !removed.contains(&i.reference))
    };
    sizes
        .iter()
        .filter(|(d, _)| !kept_digest(d))
        .map(|(_, s)| s)
        .sum()
}

/// The helper pod that removes `refs` from `node`: one container per batch.
fn removal_pod(
    remote: &Remote,
    index: usize,
    node: &str,
    matching: &ImageMatch,
    refs: &[String],
    batch: usize,
) -> HelperPod {
    let containers = refs
        .chunks(batch.max(1))
        .enumerate()
        .map(|(i, chunk)| {
            let mut argv = remote.ctr(node, matching, &["images", "rm"]);
            argv.extend(chunk.iter().cloned());
            HelperContainer::new(&format!("rm-{}", i + 1), argv)
        })
        .collect();
    HelperPod::new(&remote.target(node), index, "rm", containers)
}

/// How `images rm --all-nodes` goes about it.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    pub yes: bool,
    pub dry_run: bool,
    pub batch: usize,
    pub keep: Keep,
}

/// `images rm PATTERN --node N... | --all-nodes`: read every node, show per
/// node what goes and what is kept back, confirm naming the nodes, then
/// remove through one helper pod per node.
pub async fn images_rm(
    global: &GlobalArgs,
    matcher: Matcher,
    matching: &ImageMatch,
    targets: &NodeTargets,
    how: Removal,
) -> Result<Outcome> {
    let remote = Arc::new(Remote::new(global, targets));
    let nodes = remote.ready_nodes(targets, true).await?;
    remote.prepare().await?;
    let with_containers = !how.keep.include_in_use;
    let results = for_each_node(&nodes, |index, node| {
        let (remote, matching) = (remote.clone(), matching.clone());
        async move { read_images(&remote, index, &node, &matching, with_containers).await }
    })
    .await;
    let mut failed = Vec::new();
    let mut plans: Vec<(usize, String, Vec<Image>, Selection)> = Vec::new();
    for (index, (node, result)) in results.into_iter().enumerate() {
        let selected = result.and_then(|found| {
            let selection = images::select(&found.images, &matcher, &found.in_use, how.keep)
                .with_context(|| format!("node {node}"))?;
            Ok((found.images, selection))
        });
        match selected {
            Ok((images, selection)) => {
                report_node_selection(&node, &selection);
                if !selection.remove.is_empty() {
                    plans.push((index, node, images, selection));
                }
            }
            Err(err) => failed.push((node, err)),
        }
    }
    if plans.is_empty() {
        output::info("Nothing to remove on the nodes read.");
        return finish(&failed, nodes.len());
    }
    let names: Vec<&str> = plans.iter().map(|(_, n, _, _)| n.as_str()).collect();
    let total: usize = plans.iter().map(|(_, _, _, s)| s.remove.len()).sum();
    if how.dry_run {
        for (index, node, _, selection) in &plans {
            let pod = removal_pod(
                &remote,
                *index,
                node,
                matching,
                &selection.remove,
                how.batch,
            );
            output::data(&remote.dry_run_text(&pod));
        }
        return finish(&failed, nodes.len());
    }
    let question = format!(
        "Remove {} from {} ({})?",
        plural(total, "image ref", "image refs"),
        plural(plans.len(), "node", "nodes"),
        names.join(", ")
    );
    if !confirm(&question, how.yes).await? {
        return Err(NotConfirmed("nothing removed".into()).into());
    }
    let plan_nodes: Vec<String> = plans.iter().map(|(_, n, _, _)| n.clone()).collect();
    let jobs: Arc<Vec<(usize, Vec<String>)>> = Arc::new(
        plans
            .iter()
            .map(|(i, _, _, s)| (*i, s.remove.clone()))
            .collect(),
    );
    let results = for_each_node(&plan_nodes, |position, node| {
        let (remote, matching, jobs) = (remote.clone(), matching.clone(), jobs.clone());
        async move {
            let (index, refs) = &jobs[position];
            let pod = removal_pod(&remote, *index, &node, &matching, refs, how.batch);
            remote.run_pod(&pod).await
        }
    })
    .await;
    let mut freed_total = 0;
    for ((node, result), (_, _, images, selection)) in results.into_iter().zip(&plans) {
        match result {
            Ok(run) => {
                let removed: Vec<String> = selection
                    .remove
                    .iter()
                    .filter(|r| {
                        run.logs
                            .iter()
                            .any(|(_, t)| t.lines().any(|l| l.trim() == r.as_str()))
                    })
                    .cloned()
                    .collect();
                let freed = bytes_freed(images, &removed);
                freed_total += freed;
                output::info(&format!(
                    "node {node}: removed {} of {} (about {})",
                    removed.len(),
                    plural(selection.remove.len(), "image ref", "image refs"),
                    format_size(freed)
                ));
                if let Some(why) = run.failure {
                    failed.push((
                        node.clone(),
                        anyhow::anyhow!(
                            "node {node}: the removal failed part-way ({why}): {}",
                            last_lines(&run.logs)
                        ),
                    ));
                }
            }
            Err(err) => failed.push((node, err)),
        }
    }
    output::info(&format!(
        "Freed about {} in total on {}.",
        format_size(freed_total),
        plural(plans.len(), "node", "nodes")
    ));
    finish(&failed, nodes.len())
}

/// Per node: what goes, what is kept back and why.
fn report_node_selection(node: &str, selection: &Selection) {
    let mut line = format!(
        "node {node}: {} to remove",
        plural(selection.remove.len(), "image ref", "image refs")
    );
    if !selection.in_use.is_empty() {
        line.push_str(&format!(
            "; kept back {} in use (--include-in-use removes them too)",
            selection.in_use.len()
        ));
    }
    if !selection.system.is_empty() {
        line.push_str(&format!(
            "; kept back {} of system images (--include-system removes them too)",
            selection.system.len()
        ));
    }
    output::info(&line);
    for reference in &selection.remove {
        output::info(&format!("  {reference}"));
    }
}

/// How `nodes reserve --node/--all-nodes` rolls out.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// The kubelet arguments file, on every node.
    pub file: String,
    pub dry_run: bool,
    pub yes: bool,
    /// How long a node may take to be Ready again after its restart.
    pub ready_timeout: Duration,
}

/// One node's planned edit.
struct NodeEdit {
    index: usize,
    node: String,
    original: String,
    text: String,
}

/// The kubelet arguments file as a path the helper can be given: absolute,
/// one line, bounded.
fn check_args_path(file: &str) -> Result<()> {
    if !file.starts_with('/') || file.len() > 4096 || file.contains(['\n', '\r', '\0']) {
        bail!("--kubelet-args {file:?}: with --node/--all-nodes give the file's absolute path on the nodes");
    }
    Ok(())
}

async fn read_args_file(remote: &Remote, index: usize, node: &str, file: &str) -> Result<String> {
    let argv = node_helper::read_file_argv(file);
    let pod = HelperPod::new(
        &remote.target(node),
        index,
        "read",
        vec![HelperContainer::new("read", argv)],
    );
    let run = remote.run_pod(&pod).await?;
    if let Some(why) = &run.failure {
        let what = match remote.flavor {
            ToolFlavor::Plain => "is it a kubeadm node?",
            ToolFlavor::Microk8s => "is MicroK8s installed there?",
        };
        bail!("node {node}: cannot read {file} ({why}); {what} Otherwise pass --kubelet-args PATH");
    }
    Ok(run.log("read").to_string())
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

/// `nodes reserve --node N... | --all-nodes`: read each node's kubelet
/// arguments, show the edits, confirm naming the nodes, then node after
/// node: write the file (with a backup), restart the kubelet, and wait
/// until the node is Ready again before the next; a node that does not
/// come back stops the roll-out.
pub async fn reserve(
    global: &GlobalArgs,
    targets: &NodeTargets,
    reserved: &Reserved,
    how: &Rollout,
) -> Result<Outcome> {
    check_args_path(&how.file)?;
    let remote = Arc::new(Remote::new(global, targets));
    let nodes = remote.ready_nodes(targets, false).await?;
    remote.prepare().await?;
    let results = for_each_node(&nodes, |index, node| {
        let (remote, file) = (remote.clone(), how.file.clone());
        async move { read_args_file(&remote, index, &node, &file).await }
    })
    .await;
    let mut failed = Vec::new();
    let mut edits = Vec::new();
    for (index, (node, result)) in results.into_iter().enumerate() {
        let original = match result {
            Ok(text) => text,
            Err(err) => {
                failed.push((node, err));
                continue;
            }
        };
        let edit = match kubelet_config::edit_kubelet_file(&original, reserved) {
            Ok(edit) => edit,
            Err(why) => {
                failed.push((
                    node.clone(),
                    anyhow::anyhow!("node {node}: {}: {why}", how.file),
                ));
                continue;
            }
        };
        if edit.is_unchanged() {
            output::info(&format!(
                "node {node}: {} already reserves {}; nothing to change.",
                how.file,
                reserved.value()
            ));
            continue;
        }
        output::data(&edit.diff(&format!("{node}:{}", how.file)));
        edits.push(NodeEdit {
            index,
            node,
            original,
            text: edit.text,
        });
    }
    if !failed.is_empty() {
        // Half a cluster reserved is worse than a clear stop before any change.
        finish(&failed, nodes.len())?;
    }
    if edits.is_empty() {
        return Ok(Outcome::Success);
    }
    let backup = format!(
        "{}.bak-{}",
        how.file,
        nodes::utc_stamp(u64::try_from(crate::cluster::duration::unix_now()).unwrap_or(0))
    );
    let pods = |edit: &NodeEdit| {
        let target = remote.target(&edit.node);
        let write = node_helper::write_file_argv(&how.file, &backup, &edit.original, &edit.text);
        let restart = node_helper::node_kubelet_restart(remote.flavor);
        (
            HelperPod::new(
                &target,
                edit.index,
                "write",
                vec![HelperContainer::new("write", write)],
            ),
            HelperPod::new(
                &target,
                edit.index,
                "restart",
                vec![HelperContainer::new("restart", restart)],
            ),
        )
    };
    if how.dry_run {
        for edit in &edits {
            let (write, restart) = pods(edit);
            output::data(&remote.dry_run_text(&write));
            output::data(&remote.dry_run_text(&restart));
        }
        output::info("Dry run: no node changed.");
        return Ok(Outcome::Success);
    }
    let names: Vec<&str> = edits.iter().map(|e| e.node.as_str()).collect();
    let question = format!(
        "Write {} and restart the kubelet on {} ({}), one node at a time?",
        how.file,
        plural(edits.len(), "node", "nodes"),
        names.join(", ")
    );
    if !confirm(&question, how.yes).await? {
        return Err(NotConfirmed("no node changed".into()).into());
    }
    for (position, edit) in edits.iter().enumerate() {
        let untouched = names[position + 1..].join(", ");
        let (write, restart) = pods(edit);
        let stop = |what: String| {
            let rest = if untouched.is_empty() {
                String::new()
            } else {
                format!("; not changed: {untouched}")
            };
            anyhow::anyhow!("{what}. The roll-out stopped at node {}{rest}", edit.node)
        };
        let run = remote
            .run_pod(&write)
            .await
            .map_err(|e| stop(format!("{e:#}")))?;
        if let Some(why) = run.failure {
            return Err(stop(format!(
                "node {}: cannot write {} ({why}): {}",
                edit.node,
                how.file,
                last_lines(&run.logs)
            )));
        }
        output::info(&format!(
            "node {}: wrote {} (the previous file is kept as {backup}); restarting its kubelet",
            edit.node, how.file
        ));
        let before = remote.heartbeat(&edit.node).await;
        // The restart can cut the pod's own report short: the node's
        // readiness is what counts.
        if let Err(err) = remote.run_pod(&restart).await {
            if err.downcast_ref::<Interrupted>().is_some() {
                return Err(err);
            }
            output::warn(&format!("node {}: {err:#}", edit.node));
        }
        if !remote
            .wait_ready_again(&edit.node, before.as_deref(), how.ready_timeout)
            .await?
        {
            let restart = node_helper::node_kubelet_restart(remote.flavor).join(" ");
            return Err(stop(format!(
                "node {} is not Ready within {} after its kubelet restarted; on {}, look at \
                 the kubelet's log ({}), and to go back: `sudo cp {backup} {}` then `sudo \
                 {restart}`",
                edit.node,
                crate::cluster::duration::format_go(how.ready_timeout),
                edit.node,
                kubelet_log_hint(remote.flavor),
                how.file
            )));
        }
        output::info(&format!("node {} is Ready again.", edit.node));
        // The API server may have been restarting when the pod was deleted.
        remote.delete_again(&restart).await;
    }
    output::info(&format!(
        "Reserved {} on {}.",
        reserved.value(),
        plural(edits.len(), "node", "nodes")
    ));
    Ok(Outcome::Success)
}

fn kubelet_log_hint(flavor: ToolFlavor) -> &'static str {
    match flavor {
        ToolFlavor::Microk8s => "journalctl -u snap.microk8s.daemon-kubelite",
        ToolFlavor::Plain => "journalctl -u kubelet",
    }
}

/// The Ready condition of a node: whether it is True, and when the kubelet
/// last reported it.
pub fn ready_condition(json: &str) -> Option<(bool, String)> {
    let node: serde_json::Value = serde_json::from_str(json).ok()?;
    let condition = node["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        condition["status"] == "True",
        condition["lastHeartbeatTime"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    ))
}

impl Remote {
    /// Delete `pod` once more (quietly; it is normally gone already).
    async fn delete_again(&self, pod: &HelperPod) {
        let delete = pod.delete_command(&self.tools);
        let _ = Runner::new(false)
            .probe_after_interrupt(&delete, DELETE_LIMIT)
            .await;
    }

    /// The node's last heartbeat, if it can be read.
    async fn heartbeat(&self, node: &str) -> Option<String> {
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
    async fn wait_ready_again(
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

/// Above this share used, a node's filesystem is reported as filling up.
pub const DISK_WARN_PERCENT: u64 = 85;

/// `kubectl get --raw /api/v1/nodes/NAME/proxy/stats/summary`: the
/// kubelet's own figures, through the API server, without privilege.
pub fn stats_command(tools: &Tools, node: &str) -> crate::cluster::plan::CommandLine {
    tools.kubectl([
        "get",
        "--raw",
        &format!("/api/v1/nodes/{node}/proxy/stats/summary"),
    ])
}

/// A filesystem's size and free space, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FsUsage {
    pub capacity_bytes: u64,
    pub available_bytes: u64,
}

impl FsUsage {
    /// The share used, in percent (rounded up, so 84.5 % counts as 85).
    pub fn used_percent(&self) -> u64 {
        if self.capacity_bytes == 0 {
            return 0;
        }
        let used = self.capacity_bytes.saturating_sub(self.available_bytes);
        (u128::from(used) * 100).div_ceil(u128::from(self.capacity_bytes)) as u64
    }
}

/// A node's disk as `nodes disk` shows it (`-o json`: these fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeDisk {
    pub name: String,
    /// Where containerd keeps images (often the same disk as `node_fs`).
    pub image_fs: Option<FsUsage>,
    pub node_fs: Option<FsUsage>,
    /// Why the figures are missing (NotReady, the stats could not be read).
    pub error: Option<String>,
}

/// The image and node filesystems from the kubelet's stats summary.
pub fn parse_stats_summary(json: &str) -> Option<NodeFs> {
    let summary: serde_json::Value = serde_json::from_str(json).ok()?;
    let usage = |fs: &serde_json::Value| {
        Some(FsUsage {
            capacity_bytes: fs["capacityBytes"].as_u64()?,
            available_bytes: fs["availableBytes"].as_u64()?,
        })
    };
    let node = summary.get("node")?;
    Some((usage(&node["runtime"]["imageFs"]), usage(&node["fs"])))
}

/// The `nodes disk` table.
pub fn format_disks(disks: &[NodeDisk], style: TableStyle) -> String {
    let cell = |fs: Option<FsUsage>, f: &dyn Fn(FsUsage) -> String| fs.map_or("-".to_string(), f);
    let rows: Vec<Vec<String>> = disks
        .iter()
        .map(|d| {
            vec![
                d.name.clone(),
                cell(d.image_fs, &|f| format_size(f.capacity_bytes)),
                cell(d.image_fs, &|f| format_size(f.available_bytes)),
                cell(d.image_fs, &|f| format!("{}%", f.used_percent())),
                cell(d.node_fs, &|f| format_size(f.available_bytes)),
                cell(d.node_fs, &|f| format!("{}%", f.used_percent())),
            ]
        })
        .collect();
    format_table_styled(
        &[
            "NAME",
            "IMAGEFS-SIZE",
            "IMAGEFS-FREE",
            "USED",
            "NODEFS-FREE",
            "USED",
        ],
        &rows,
        style,
    )
}

/// The warnings for nodes above [`DISK_WARN_PERCENT`], naming the node and
/// the commands that free space there.
pub fn disk_warnings(disks: &[NodeDisk]) -> Vec<String> {
    let mut warnings = Vec::new();
    for disk in disks {
        for (what, fs) in [
            ("image filesystem", disk.image_fs),
            ("node filesystem", disk.node_fs),
        ] {
            let Some(fs) = fs else { continue };
            let used = fs.used_percent();
            if used >= DISK_WARN_PERCENT {
                warnings.push(format!(
                    "node {}: its {what} is {used}% used (over {DISK_WARN_PERCENT}%); free space \
                     with `binderctl images rm PATTERN --node {}` (`binderctl images ls --node {}` \
                     shows what is there)",
                    disk.name, disk.name, disk.name
                ));
                break;
            }
        }
    }
    warnings
}

/// A node's image and node filesystems, as [`parse_stats_summary`] reads them.
pub type NodeFs = (Option<FsUsage>, Option<FsUsage>);

/// Each of `nodes`' stats summaries, at most [`PARALLELISM`] at once, in
/// the nodes' order; a node whose kubelet does not answer is an error.
pub async fn read_stats(tools: &Tools, nodes: &[String]) -> Vec<(String, Result<NodeFs>)> {
    for_each_node(nodes, |_, node| {
        let tools = tools.clone();
        async move {
            let command = stats_command(&tools, &node);
            let answer = Runner::new(false).probe(&command).await?;
            if !answer.success() {
                // What the API server said (the kubelet unreachable, the
                // node proxy refused, no stats endpoint), named as such.
                bail!(
                    "the kubelet's stats summary is unavailable: {}",
                    answer.stderr.trim()
                );
            }
            parse_stats_summary(&answer.stdout).with_context(|| {
                format!("`{command}` printed something other than a stats summary")
            })
        }
    })
    .await
}

/// `nodes disk`: every node's stats summary, at most [`PARALLELISM`] at once.
pub async fn disk(tools: &Tools, output_args: &OutputArgs) -> Result<Outcome> {
    let command = nodes::list_command(tools);
    let json = Runner::new(false).query(&command).await?;
    let rows = nodes::parse_node_list(&json)
        .with_context(|| format!("`{command}` printed something other than a node list"))?;
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let ready: HashMap<String, String> = rows.into_iter().map(|r| (r.name, r.status)).collect();
    let results = read_stats(tools, &names).await;
    let mut disks = Vec::new();
    for (name, result) in results {
        let status = ready.get(&name).cloned().unwrap_or_default();
        let (image_fs, node_fs, error) = match result {
            Ok((image_fs, node_fs)) => (image_fs, node_fs, None),
            Err(err) if err.downcast_ref::<Interrupted>().is_some() => return Err(err),
            Err(err) => {
                output::warn(&format!(
                    "node {name} ({status}): cannot read its disk usage: {err:#}"
                ));
                (None, None, Some(format!("{err:#}")))
            }
        };
        disks.push(NodeDisk {
            name,
            image_fs,
            node_fs,
            error,
        });
    }
    if disks.is_empty() && format::is_table(output_args) {
        output::info("The cluster has no nodes.");
    } else {
        format::print(
            output_args,
            &disks,
            || disks.iter().map(|d| format!("node/{}", d.name)).collect(),
            |style| format_disks(&disks, style),
        )?;
    }
    for warning in disk_warnings(&disks) {
        output::warn(&warning);
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(reference: &str, digest: &str, size: &str) -> Image {
        Image {
            reference: reference.into(),
            digest: digest.into(),
            line: format!("{reference} application/x {digest} {size} linux/amd64 -"),
        }
    }

    #[test]
    fn stats_summaries_give_both_filesystems_and_full_disks_are_named() {
        let json = r#"{"node":{"nodeName":"w1","fs":{"capacityBytes":1000,"availableBytes":100},
            "runtime":{"imageFs":{"capacityBytes":2000,"availableBytes":1000}}}}"#;
        let (image_fs, node_fs) = parse_stats_summary(json).unwrap();
        assert_eq!(image_fs.unwrap().used_percent(), 50);
        assert_eq!(node_fs.unwrap().used_percent(), 90);
        assert!(parse_stats_summary("{}").is_none());
        let (none, _) = parse_stats_summary(r#"{"node":{"fs":{}}}"#).unwrap();
        assert!(none.is_none());
        let disk = |name: &str, avail: u64| NodeDisk {
            name: name.into(),
            image_fs: Some(FsUsage {
                capacity_bytes: 100,
                available_bytes: avail,
            }),
            node_fs: None,
            error: None,
        };
        // 85 % used is the threshold; 84 % is not.
        let warnings = disk_warnings(&[disk("a", 16), disk("b", 15)]);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("node b: its image filesystem is 85% used"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[0].contains("binderctl images rm PATTERN --node b"),
            "{}",
            warnings[0]
        );
        let table = format_disks(&[disk("a", 16)], TableStyle::default());
        assert!(table.contains("84%"), "{table}");
    }

    #[test]
    fn sizes_read_and_write_as_ctr_does() {
        assert_eq!(parse_size("512 B"), Some(512));
        assert_eq!(parse_size("1.5 KiB"), Some(1536));
        assert_eq!(parse_size("2.0 GiB"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1 B"), None);
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(3 * 1024 * 1024 / 2), "1.5 MiB");
    }

    #[test]
    fn freed_bytes_count_each_image_once_and_not_when_a_ref_stays() {
        let images = vec![
            image("r/a:1", "sha256:01", "1.0 GiB"),
            image("r/a@sha256:01", "sha256:01", "1.0 GiB"),
            image("r/b:1", "sha256:02", "2.0 MiB"),
            image("r/shared:1", "sha256:02", "2.0 MiB"),
        ];
        let removed = vec!["r/a:1".to_string(), "r/a@sha256:01".into(), "r/b:1".into()];
        assert_eq!(bytes_freed(&images, &removed), 1024 * 1024 * 1024);
    }

    #[test]
    fn images_merge_across_nodes_with_their_nodes() {
        let per_node = vec![
            (
                "n1".to_string(),
                vec![
                    image("r/a:1", "sha256:01", "1.0 GiB"),
                    image("r/b:1", "sha256:02", "2.0 MiB"),
                ],
            ),
            (
                "n2".to_string(),
                vec![image("r/a:1", "sha256:01", "1.0 GiB")],
            ),
        ];
        let merged = merge_images(&per_node, None);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].reference, "r/a:1");
        assert_eq!(merged[0].nodes, ["n1", "n2"]);
        assert_eq!(merged[1].nodes, ["n1"]);
        let only_b = Matcher::new("b:", false).unwrap();
        assert_eq!(merge_images(&per_node, Some(&only_b)).len(), 1);
        let table = format_cluster_images(&merged, TableStyle::default());
        assert!(table.starts_with("REF"), "{table}");
        assert!(table.contains("n1,n2"), "{table}");
    }

    #[tokio::test]
    async fn nodes_run_at_most_four_at_once_and_keep_their_order() {
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let nodes: Vec<String> = (0..9).map(|i| format!("n{i}")).collect();
        let results = for_each_node(&nodes, |index, node| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                use std::sync::atomic::Ordering::SeqCst;
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, SeqCst);
                if index == 3 {
                    bail!("{node} broke");
                }
                Ok(index)
            }
        })
        .await;
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), PARALLELISM);
        let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, nodes.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(results[3].1.is_err());
        assert_eq!(*results[8].1.as_ref().unwrap(), 8);
    }
}
