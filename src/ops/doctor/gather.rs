//! Doctor's reads: MicroK8s' status, StorageClasses, services, nodes and
//! their stats at once, each exactly once; the node files here or through
//! helper pods (`--node`, `--all-nodes`).

use crate::error::ShownPath;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use crate::cluster::kubelet_args::kubelet_file;
use crate::ops::nodes::disk::NodeFs;
use crate::ops::nodes::disk::{self};
use crate::ops::nodes::fanout;
use crate::ops::nodes::helper_pods::{self, NodeTargets, Remote};
use crate::ops::nodes::inventory::{hostname_under, is_this_host, parse_node_list};
use crate::ops::status::services_command;
use crate::ops::storage::list_command as storage_command;

use crate::cluster::node_helper;
use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::runner::{Captured, Runner};
use crate::cluster::tools::ToolFlavor;
use crate::cluster::tools::Tools;
use crate::error::Interrupted;

use super::model::*;

/// The files the node checks read, each with the helper container that
/// reads it on another node.
pub fn node_files(flavor: ToolFlavor) -> [(&'static str, &'static str); 5] {
    [
        ("ufw-conf", UFW_CONF),
        ("ufw-defaults", UFW_DEFAULTS),
        ("ufw-rules", UFW_USER_RULES),
        ("interfaces", NET_DEVICES),
        ("kubelet", kubelet_file(flavor)),
    ]
}

/// The read-only commands doctor runs: MicroK8s' status (MicroK8s only),
/// StorageClasses, the namespace's services, the nodes.
pub fn read_commands(tools: &Tools, namespace: &str) -> Vec<CommandLine> {
    let mut commands = vec![
        storage_command(tools),
        services_command(tools, namespace),
        tools.kubectl(["get", "nodes", "-o", "json"]),
    ];
    if tools.flavor() == ToolFlavor::Microk8s {
        commands.insert(0, microk8s_status_command());
    }
    commands
}

/// `microk8s status --format yaml`: running or not, and the add-ons.
pub fn microk8s_status_command() -> CommandLine {
    CommandLine::new("microk8s").args(["status", "--format", "yaml"])
}

/// Sample plans for the conformance registry: the read commands for each
/// flavour (doctor changes nothing).
pub fn sample_plans() -> Vec<Plan> {
    [ToolFlavor::Microk8s, ToolFlavor::Plain]
        .into_iter()
        .map(|flavor| {
            let mut plan = Plan::new();
            for command in read_commands(&Tools::new(flavor), "binder") {
                plan.push_command(command);
            }
            plan
        })
        .collect()
}

pub(crate) fn answer(result: Result<Captured>) -> Answer {
    match result {
        Ok(c) if c.success() => Ok(c.stdout),
        Ok(c) => Err(last_line(&c.stderr)
            .unwrap_or_else(|| format!("exit code {}", c.code))
            .to_string()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// kubectl's own summary comes last, after its client-side log lines.
pub(crate) fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// The Ready nodes' stats summaries, read once the node list is known;
/// `None` when the list is not one.
pub(crate) async fn read_node_stats(
    tools: &Tools,
    nodes: &Answer,
) -> Option<Vec<(String, std::result::Result<NodeFs, String>)>> {
    let rows = parse_node_list(nodes.as_ref().ok()?).ok()?;
    let ready: Vec<String> = rows
        .into_iter()
        .filter(|r| helper_pods::is_ready(&r.status))
        .map(|r| r.name)
        .collect();
    let stats = disk::read_stats(tools, &ready).await;
    Some(
        stats
            .into_iter()
            .map(|(node, result)| (node, result.map_err(|e| format!("{e:#}"))))
            .collect(),
    )
}

/// With `--node`/`--all-nodes`, the chosen nodes' files through helper pods
/// (once the node list is known and earlier runs' helper pods are gone).
pub(crate) async fn read_remote(
    remote: &Arc<Remote>,
    targets: &NodeTargets,
    nodes: &Answer,
    leftovers: Result<()>,
) -> Result<std::result::Result<RemoteNodes, String>> {
    let json = match nodes {
        Ok(json) => json,
        Err(e) => return Ok(Err(format!("cannot list the nodes: {e}"))),
    };
    let chosen = helper_pods::choose_nodes(json, targets, false)?;
    if let Err(e) = leftovers {
        return Ok(Err(format!("{e:#}")));
    }
    let flavor = remote.flavor();
    let results = fanout::for_each_node(&chosen.ready, |index, node| {
        let remote = remote.clone();
        async move {
            let files: Vec<(&str, String)> = node_files(flavor)
                .iter()
                .map(|(container, path)| (*container, format!("/{path}")))
                .collect();
            let wanted: Vec<(&str, &str)> = files.iter().map(|(c, p)| (*c, p.as_str())).collect();
            let read = helper_pods::read_optional_files(&remote, index, &node, &wanted).await?;
            let mut read = read.into_iter();
            let mut next = || read.next().unwrap_or(Ok(None));
            Ok(NodeFiles {
                ufw_conf: next(),
                ufw_defaults: next(),
                ufw_rules: next(),
                interfaces: next(),
                kubelet: next(),
            })
        }
    })
    .await;
    let mut read = Vec::new();
    for (node, result) in results {
        match result {
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => return Err(e),
            Err(e) => read.push((node, Err(format!("{e:#}")))),
            Ok(files) => read.push((node, Ok(files))),
        }
    }
    Ok(Ok(RemoteNodes {
        read,
        skipped: chosen.skipped,
    }))
}

/// Run the cluster reads at once (four, then the nodes' stats summaries at
/// most four at once: well under the bound of 8). With `--node`/
/// `--all-nodes`, earlier helper pods are removed alongside the node list,
/// and the chosen nodes' helper pods run alongside the stats summaries.
pub(crate) async fn gather(
    tools: &Tools,
    namespace: &str,
    remote: Option<(&Arc<Remote>, &NodeTargets)>,
    read_egress: bool,
) -> Result<ClusterFacts> {
    let runner = Runner::new(false);
    let egress = async {
        if !read_egress {
            return None;
        }
        Some(
            crate::ops::egress::policies::read_policies(&runner, tools, namespace)
                .await
                .map(|held| held.applied_at())
                .map_err(|e| format!("{e:#}")),
        )
    };
    let microk8s = async {
        match tools.flavor() {
            ToolFlavor::Microk8s => Some(answer(runner.probe(&microk8s_status_command()).await)),
            ToolFlavor::Plain => None,
        }
    };
    let storage = storage_command(tools);
    let services = services_command(tools, namespace);
    let nodes = tools.kubectl(["get", "nodes", "-o", "json"]);
    let (microk8s_status, storage_classes, services, nodes_facts, egress_applied) = tokio::join!(
        microk8s,
        async { answer(runner.probe(&storage).await) },
        async { answer(runner.probe(&services).await) },
        async {
            let leftovers = async {
                match remote {
                    Some((remote, _)) => Some(remote.prepare().await),
                    None => None,
                }
            };
            let (nodes, leftovers) =
                tokio::join!(async { answer(runner.probe(&nodes).await) }, leftovers);
            let chosen = async {
                match (remote, leftovers) {
                    (Some((remote, targets)), Some(leftovers)) => {
                        Some(read_remote(remote, targets, &nodes, leftovers).await)
                    }
                    _ => None,
                }
            };
            let (stats, chosen) = tokio::join!(read_node_stats(tools, &nodes), chosen);
            (nodes, stats, chosen.transpose())
        },
        egress,
    );
    let (nodes, node_stats, remote) = nodes_facts;
    Ok(ClusterFacts {
        microk8s_status,
        storage_classes,
        services,
        nodes,
        node_stats,
        remote: remote?,
        egress_applied,
        now: crate::cluster::duration::unix_now(),
    })
}
/// Whether the chart's imageCleaner is enabled, from the rendered values
/// (what was deployed) when there are any, else the input; `None` when
/// neither can be read.
pub(crate) fn read_image_cleaner(local: &Local) -> Option<(bool, String)> {
    [&local.rendered, &local.input]
        .into_iter()
        .filter(|path| path.exists())
        .find_map(|path| {
            let values = read_yaml(path).ok()?;
            Some((image_cleaner_enabled(&values), path.shown().to_string()))
        })
}

/// Each node's container runtime, from the node list; empty when it could
/// not be read.
pub(crate) fn node_runtimes(nodes: &Answer) -> std::collections::HashMap<String, String> {
    nodes
        .as_ref()
        .map(|json| helper_pods::container_runtimes(json))
        .unwrap_or_default()
}

/// This machine's container runtime: its node's (the node named after its
/// host name under `--root`), else the one every node runs, else
/// containerd on MicroK8s (its only runtime); `None` when unknown.
pub(crate) fn local_runtime(nodes: &Answer, local: &Local) -> Option<String> {
    let runtimes = node_runtimes(nodes);
    let rows = nodes
        .as_ref()
        .ok()
        .and_then(|json| parse_node_list(json).ok())
        .unwrap_or_default();
    let mine = hostname_under(&local.root).and_then(|hostname| {
        rows.iter()
            .find(|row| is_this_host(row, &hostname))
            .and_then(|row| runtimes.get(&row.name).cloned())
    });
    let mut all: Vec<&String> = runtimes.values().collect();
    all.sort();
    all.dedup_by(|a, b| a.split("://").next() == b.split("://").next());
    let shared = match all.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    };
    mine.or(shared)
        .or_else(|| (local.flavor == ToolFlavor::Microk8s).then(|| "containerd".to_string()))
}

/// `KEY=value` from a shell-style config file, quotes removed.
pub(crate) fn config_value(text: &str, key: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches(['"', '\'']).to_string())
    })
}

impl NodeFiles {
    /// The node checks' files on this machine, under `--root`.
    pub(crate) fn read_local(local: &Local) -> Self {
        let read = |relative| read_optional(&local.system(relative));
        NodeFiles {
            ufw_conf: read(UFW_CONF),
            ufw_defaults: read(UFW_DEFAULTS),
            ufw_rules: read(UFW_USER_RULES),
            interfaces: read(NET_DEVICES),
            kubelet: read(kubelet_file(local.flavor)),
        }
    }
}

/// A file's text, `None` when there is none, bounded like a helper pod's
/// read ([`node_helper::READ_LIMIT_BYTES`]).
pub(crate) fn read_optional(path: &Path) -> FileRead {
    use std::io::Read;
    let name = path.shown();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let mut bytes = Vec::new();
    file.take(node_helper::READ_LIMIT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() > node_helper::READ_LIMIT_BYTES {
        return Err(format!(
            "{name}: larger than {} KiB",
            node_helper::READ_LIMIT_BYTES >> 10
        ));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| format!("{name}: not UTF-8 text"))
}
