//! `binderctl doctor`: every check the tutorial's troubleshooting sections
//! and the deployment notes teach by hand, one line each (ok, warn, fail or
//! skip, with the fix). Read-only: files and read-only commands (with
//! `--node`/`--all-nodes`, the node checks read other nodes' files through
//! helper pods, which it creates and deletes).
//!
//! The cluster reads (MicroK8s' status, StorageClasses, services, nodes) run
//! at once, each exactly once; the checks are then pure functions of what
//! was read, printed in a fixed order. Every file path is taken under
//! `--root` (default `/`), so tests and inspections of a mounted image can
//! point it elsewhere.

use crate::error::ShownPath;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;
use serde_yaml::Value;

use crate::cluster::kubelet_args::kubelet_file;
use crate::ops::nodes::disk::NodeFs;
use crate::ops::nodes::disk::{self, NodeDisk};
use crate::ops::nodes::fanout;
use crate::ops::nodes::helper_pods::{self, NodeTargets, Remote};
use crate::ops::nodes::inventory::{parse_node_list, NodeRow};
use crate::ops::preflight::{check_secret, hub_url_warning, is_placeholder};
use crate::ops::status::{services_command, ServiceList};
use crate::ops::storage::{list_command as storage_command, StorageClass, StorageClassList};

use crate::cluster::kubelet_args;
use crate::cluster::node_helper;
use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::runner::{Captured, Runner};
use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::cluster::tools::Tools;
use crate::error::{Interrupted, Outcome};
use crate::output::{self, format};

use crate::output::format::OutputOptions;

/// What `doctor` is asked to do.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub input: PathBuf,
    pub secret: PathBuf,
    pub rendered: PathBuf,
    pub root: PathBuf,
    pub targets: NodeTargets,
    pub output: OutputOptions,
}

/// MicroK8s' files, relative to `--root`.
pub const CLUSTERED_LOCK: &str = "var/snap/microk8s/current/var/lock/clustered.lock";
pub const CLIENT_CONFIG: &str = "var/snap/microk8s/current/credentials/client.config";
pub const MICROK8S_CONTAINERD_ROOT: &str = "var/snap/microk8s/common/var/lib/containerd";
pub const PLAIN_CONTAINERD_ROOT: &str = "var/lib/containerd";
/// Where MicroK8s' hostpath-storage add-on keeps volumes when its
/// StorageClass does not say.
pub const MICROK8S_HOSTPATH_DIR: &str = "/var/snap/microk8s/common/default-storage";
/// ufw's files, relative to `--root`.
pub const UFW_CONF: &str = "etc/ufw/ufw.conf";
pub const UFW_DEFAULTS: &str = "etc/default/ufw";
pub const UFW_USER_RULES: &str = "etc/ufw/user.rules";
/// The node's network interfaces (the host's network namespace), relative
/// to `--root`: which CNI's interfaces the firewall must let through.
pub const NET_DEVICES: &str = "proc/net/dev";
/// Below this much free space on the containerd root, a check fails (image
/// pulls and builds fail); below [`WARN_FREE_BYTES`] it warns.
pub const FAIL_FREE_BYTES: u64 = 2 << 30;
pub const WARN_FREE_BYTES: u64 = 10 << 30;
/// A render older than this may carry stale addresses (CDNs move).
pub const STALE_RENDER_SECS: u64 = 7 * 86_400;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Does not apply here (MicroK8s checks with `--tools plain`).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One line of the report (`-o json` fields: name, node, status, message,
/// fix). `node` is set on the node checks run on other nodes
/// (`--node`/`--all-nodes`); the report shows them as `NAME@NODE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub node: Option<String>,
    pub status: Status,
    pub message: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, message: impl Into<String>) -> Self {
        Check {
            name,
            node: None,
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }

    fn skip(name: &'static str, message: impl Into<String>) -> Self {
        Check {
            status: Status::Skip,
            ..Check::ok(name, message)
        }
    }

    fn bad(
        name: &'static str,
        status: Status,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            name,
            node: None,
            status,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Check::bad(name, Status::Fail, message, fix)
    }

    fn warn(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Check::bad(name, Status::Warn, message, fix)
    }

    fn on(self, node: Option<&str>) -> Self {
        Check {
            node: node.map(str::to_string),
            ..self
        }
    }

    /// The name the report shows: `NAME`, or `NAME@NODE` for another node.
    pub fn label(&self) -> String {
        match &self.node {
            Some(node) => format!("{}@{node}", self.name),
            None => self.name.to_string(),
        }
    }
}

/// What a read-only command answered, or why it could not.
pub type Answer = std::result::Result<String, String>;

/// Everything the checks need from the cluster, read once.
#[derive(Debug, Clone)]
pub struct ClusterFacts {
    /// `microk8s status --format yaml`; `None` with plain tools.
    pub microk8s_status: Option<Answer>,
    pub storage_classes: Answer,
    pub services: Answer,
    pub nodes: Answer,
    /// Each Ready node's stats summary (or why not); `None` when the node
    /// list could not be read.
    pub node_stats: Option<Vec<(String, std::result::Result<NodeFs, String>)>>,
    /// With `--node`/`--all-nodes`: what the chosen nodes' helper pods read,
    /// or why the nodes could not be chosen. `None`: the node checks run here.
    pub remote: Option<std::result::Result<RemoteNodes, String>>,
    /// When binderctl's egress policies were last applied (Unix seconds;
    /// `None` inside when there is none), read in policy mode or when the
    /// refresh timer exists; `None` when not read.
    pub egress_applied: Option<std::result::Result<Option<i64>, String>>,
    /// The time of the run (Unix seconds).
    pub now: i64,
}

/// A file a node check reads: its text, `None` when the node has no such
/// file, or why it cannot be read.
pub type FileRead = std::result::Result<Option<String>, String>;

/// What the node checks read on one node.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    pub ufw_conf: FileRead,
    pub ufw_defaults: FileRead,
    pub ufw_rules: FileRead,
    /// `/proc/net/dev`: the node's interfaces.
    pub interfaces: FileRead,
    /// The kubelet's settings: MicroK8s' arguments file, or kubeadm's
    /// `config.yaml` with plain tools.
    pub kubelet: FileRead,
}

/// The node checks' reads on the nodes `--node`/`--all-nodes` chose.
#[derive(Debug, Clone, Default)]
pub struct RemoteNodes {
    /// Each chosen Ready node and what its helper pod read (or why not).
    pub read: Vec<(String, std::result::Result<NodeFiles, String>)>,
    /// Each chosen node left out, and the sentence saying why.
    pub skipped: Vec<(String, String)>,
}

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

fn answer(result: Result<Captured>) -> Answer {
    match result {
        Ok(c) if c.success() => Ok(c.stdout),
        Ok(c) => Err(last_line(&c.stderr)
            .unwrap_or_else(|| format!("exit code {}", c.code))
            .to_string()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// kubectl's own summary comes last, after its client-side log lines.
fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// The Ready nodes' stats summaries, read once the node list is known;
/// `None` when the list is not one.
async fn read_node_stats(
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
async fn read_remote(
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
async fn gather(
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
/// Where doctor reads local files.
#[derive(Debug, Clone)]
pub struct Local {
    /// Prefix of every system path (`/` on a live system).
    pub root: PathBuf,
    pub input: PathBuf,
    pub secret: PathBuf,
    pub rendered: PathBuf,
    pub flavor: ToolFlavor,
}

impl Local {
    fn system(&self, relative: &str) -> PathBuf {
        self.root.join(relative.trim_start_matches('/'))
    }
}

pub async fn run(target: &Target, options: &DoctorOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let local = Local {
        root: options.root.clone(),
        input: options.input.clone(),
        secret: options.secret.clone(),
        rendered: options.rendered.clone(),
        flavor: tools.flavor(),
    };
    let remote = options
        .targets
        .remote()
        .then(|| Arc::new(Remote::new(target, &options.targets)));
    let remote = remote.as_ref().map(|r| (r, &options.targets));
    // The egress policies matter in policy mode, or when a refresh timer exists.
    let read_egress = policy_mode(&read_yaml(&local.input)) || local.system(TIMER_FILE).exists();
    let facts = gather(&tools, &target.namespace, remote, read_egress).await?;
    let checks = evaluate(&facts, &local);
    format::print(
        &options.output,
        &checks,
        || checks.iter().map(Check::label).collect(),
        |_| report(&checks),
    )?;
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        output::info(&format!(
            "binderctl: doctor: {} failed",
            output::plural(failed, "check", "checks")
        ));
        return Ok(Outcome::Changed);
    }
    Ok(Outcome::Success)
}

/// One line per check: status, name, message, and the fix when there is one.
pub fn report(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.label().len()).max().unwrap_or(0);
    checks
        .iter()
        .map(|c| {
            let fix = c
                .fix
                .as_ref()
                .map(|f| format!("; fix: {f}"))
                .unwrap_or_default();
            format!(
                "{:<4}  {:<width$}  {}{fix}\n",
                c.status.label(),
                c.label(),
                c.message
            )
        })
        .collect()
}

/// Every check, in the fixed order of the report: the machine binderctl
/// runs on, the cluster and the files, then the node checks (here, or on
/// each node `--node`/`--all-nodes` chose, node after node).
pub fn evaluate(facts: &ClusterFacts, local: &Local) -> Vec<Check> {
    let values = read_yaml(&local.input);
    let mut checks = microk8s_checks(facts, local);
    checks.push(storage_check(&facts.storage_classes, local));
    checks.push(proxy_public_check(&facts.services));
    checks.push(hub_url_check(&facts.services, &values, &local.input));
    checks.push(placeholder_check(&values, &local.input));
    checks.push(secret_values_check(&local.secret));
    checks.push(secret_permissions_check(&local.secret));
    checks.push(egress_check(&values, &local.input));
    checks.push(egress_schedule_check(facts, local, policy_mode(&values)));
    checks.push(render_age_check(local));
    checks.push(nodes_check(&facts.nodes));
    checks.push(node_disk_check(facts.node_stats.as_deref()));
    match &facts.remote {
        None => {
            let files = NodeFiles::read_local(local);
            checks.extend(node_checks(&files, local.flavor, None));
            checks.push(disk_check(local));
        }
        Some(remote) => checks.extend(remote_checks(remote, facts, local.flavor)),
    }
    checks
}

/// The node checks of the nodes `--node`/`--all-nodes` chose: one line for
/// a node skipped or whose helper pod failed; containerd's disk from the
/// stats summary already read.
fn remote_checks(
    remote: &std::result::Result<RemoteNodes, String>,
    facts: &ClusterFacts,
    flavor: ToolFlavor,
) -> Vec<Check> {
    const NAME: &str = "node-checks";
    let remote = match remote {
        Ok(remote) => remote,
        Err(e) => {
            return vec![Check::fail(
                NAME,
                e.clone(),
                "make the cluster reachable (see the checks above)",
            )]
        }
    };
    let mut checks = Vec::new();
    for (node, why) in &remote.skipped {
        checks.push(Check::skip(NAME, why.clone()).on(Some(node)));
    }
    for (node, read) in &remote.read {
        let here = Some(node.as_str());
        match read {
            Ok(files) => checks.extend(node_checks(files, flavor, here)),
            Err(e) => checks.push(
                Check::fail(
                    NAME,
                    e.clone(),
                    format!("fix what the message says, then binderctl doctor --node {node}"),
                )
                .on(here),
            ),
        }
        let stats = facts
            .node_stats
            .iter()
            .flatten()
            .find(|(name, _)| name == node)
            .map(|(_, stats)| stats);
        checks.push(stats_disk_check(node, stats));
    }
    checks
}

/// The parsed values file, or why not (said by the checks that need it).
/// Read as Helm reads it, with the bounds every input has.
fn read_yaml(path: &Path) -> std::result::Result<Value, String> {
    let name = path.shown().to_string();
    let text = crate::ops::input::read_text(path).map_err(|e| format!("{e:#}"))?;
    crate::values::read::parse_values(&text, &name)
        .map(|reading| reading.value)
        .map_err(|e| format!("{e:#}"))
}

// ---- MicroK8s ----

fn microk8s_checks(facts: &ClusterFacts, local: &Local) -> Vec<Check> {
    const NAMES: [&str; 4] = ["microk8s", "control-plane", "credentials", "add-ons"];
    let Some(status) = &facts.microk8s_status else {
        return NAMES
            .iter()
            .map(|n| Check::skip(n, "not MicroK8s (--tools plain)"))
            .collect();
    };
    let parsed = status.as_ref().map(|text| parse_microk8s_status(text));
    vec![
        running_check(&parsed),
        control_plane_check(local, status),
        credentials_check(local),
        addons_check(&parsed),
    ]
}

/// What `microk8s status --format yaml` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Microk8sStatus {
    pub running: bool,
    /// A worker node says so instead of reporting.
    pub worker: bool,
    pub enabled: Vec<String>,
}

pub fn parse_microk8s_status(text: &str) -> Microk8sStatus {
    let worker = text.contains("acting as a node in a cluster");
    let value: Value = serde_yaml::from_str(text).unwrap_or(Value::Null);
    let running = value
        .get("microk8s")
        .and_then(|m| m.get("running"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let enabled = value
        .get("addons")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter(|a| a.get("status").and_then(Value::as_str) == Some("enabled"))
        .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    Microk8sStatus {
        running,
        worker,
        enabled,
    }
}

fn running_check(parsed: &std::result::Result<Microk8sStatus, &String>) -> Check {
    const NAME: &str = "microk8s";
    match parsed {
        Err(e) => Check::fail(
            NAME,
            format!("`microk8s status` failed: {e}"),
            "sudo microk8s start; `microk8s inspect` says why it does not run",
        ),
        Ok(s) if s.worker => Check::skip(NAME, "a worker node reports no status"),
        Ok(s) if s.running => Check::ok(NAME, "MicroK8s is running"),
        Ok(_) => Check::fail(
            NAME,
            "MicroK8s is not running",
            "sudo microk8s start, then microk8s status --wait-ready",
        ),
    }
}

fn control_plane_check(local: &Local, status: &Answer) -> Check {
    const NAME: &str = "control-plane";
    let says_worker = status
        .as_ref()
        .is_ok_and(|t| t.contains("acting as a node in a cluster"));
    if says_worker || local.system(CLUSTERED_LOCK).exists() {
        return Check::fail(
            NAME,
            "this node is a worker: it runs no control plane, so kubectl and Helm here \
             cannot reach the cluster",
            "run binderctl on the control-plane node (`microk8s kubectl get nodes` there \
             lists this one)",
        );
    }
    Check::ok(NAME, "this node runs the control plane")
}

fn credentials_check(local: &Local) -> Check {
    const NAME: &str = "credentials";
    let path = local.system(CLIENT_CONFIG);
    match std::fs::File::open(&path) {
        Ok(_) => Check::ok(NAME, format!("{} is readable", path.shown())),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            NAME,
            format!("{} is not readable by you", path.shown()),
            "sudo usermod -a -G microk8s $USER, then log in again (or run `newgrp microk8s`)",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("{}: {e}", path.shown()),
            "install MicroK8s: sudo snap install microk8s --classic",
        ),
    }
}

/// The add-ons the tutorial enables, and how to enable each.
const REQUIRED_ADDONS: [(&[&str], &str); 4] = [
    (&["dns"], "microk8s enable dns"),
    (&["helm3", "helm"], "microk8s enable helm3"),
    (
        &["metallb"],
        "microk8s enable metallb:FIRST-LAST (a free address range of your network)",
    ),
    (
        &["openebs", "hostpath-storage", "storage", "rook-ceph"],
        "sudo systemctl enable --now iscsid && microk8s enable community && microk8s enable openebs",
    ),
];

fn addons_check(parsed: &std::result::Result<Microk8sStatus, &String>) -> Check {
    const NAME: &str = "add-ons";
    let status = match parsed {
        Err(_) => return Check::skip(NAME, "unknown: `microk8s status` failed"),
        Ok(s) if s.worker => return Check::skip(NAME, "listed on the control-plane node only"),
        Ok(s) => s,
    };
    let missing: Vec<(&str, &str)> = REQUIRED_ADDONS
        .iter()
        .filter(|(names, _)| !names.iter().any(|n| status.enabled.iter().any(|e| e == n)))
        .map(|(names, fix)| (names[0], *fix))
        .collect();
    if missing.is_empty() {
        return Check::ok(NAME, "dns, helm3, metallb and a storage add-on are enabled");
    }
    let names: Vec<&str> = missing.iter().map(|(n, _)| *n).collect();
    let fixes: Vec<&str> = missing.iter().map(|(_, f)| *f).collect();
    Check::fail(
        NAME,
        format!("not enabled: {}", names.join(", ")),
        fixes.join("; "),
    )
}

// ---- storage ----

/// The folder on each node where a StorageClass keeps its volumes: the
/// OpenEBS local `BasePath`, a `pvDir` parameter, or MicroK8s hostpath's
/// default.
pub fn base_path(class: &serde_json::Value) -> Option<String> {
    let config = class
        .pointer("/metadata/annotations/cas.openebs.io~1config")
        .and_then(serde_json::Value::as_str);
    if let Some(config) = config {
        let entries: Vec<serde_yaml::Value> = serde_yaml::from_str(config).unwrap_or_default();
        let found = entries.iter().find_map(|e| {
            (e.get("name")?.as_str()? == "BasePath")
                .then(|| e.get("value")?.as_str().map(str::to_string))
                .flatten()
        });
        if found.is_some() {
            return found;
        }
    }
    if let Some(dir) = class
        .pointer("/parameters/pvDir")
        .and_then(serde_json::Value::as_str)
    {
        return Some(dir.to_string());
    }
    let provisioner = class.get("provisioner").and_then(serde_json::Value::as_str);
    (provisioner == Some("microk8s.io/hostpath")).then(|| MICROK8S_HOSTPATH_DIR.to_string())
}

fn storage_check(answer: &Answer, local: &Local) -> Check {
    const NAME: &str = "storage";
    let text = match answer {
        Ok(t) => t,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot list StorageClasses: {e}"),
                "make the cluster reachable (see the checks above)",
            )
        }
    };
    let (Ok(list), Ok(raw)) = (
        serde_json::from_str::<StorageClassList>(text),
        serde_json::from_str::<serde_json::Value>(text),
    ) else {
        return Check::fail(NAME, "StorageClasses: not the expected JSON", "report this");
    };
    let defaults: Vec<(usize, &StorageClass)> = list
        .items
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_default())
        .collect();
    let &[(index, class)] = defaults.as_slice() else {
        let names: Vec<&str> = defaults
            .iter()
            .map(|(_, c)| c.metadata.name.as_str())
            .collect();
        let message = if names.is_empty() {
            "no StorageClass is the default: user volumes stay Pending".to_string()
        } else {
            format!(
                "{} StorageClasses are the default ({}): which one a volume gets is undefined",
                names.len(),
                names.join(", ")
            )
        };
        return Check::fail(
            NAME,
            message,
            "binderctl storage apply -f local-storage-dir.yaml (it marks one default); \
             unmark the others with kubectl annotate storageclass NAME \
             storageclass.kubernetes.io/is-default-class-",
        );
    };
    let name = &class.metadata.name;
    let item = raw.pointer(&format!("/items/{index}"));
    match item.and_then(base_path) {
        None => Check::ok(NAME, format!("default StorageClass {name}")),
        Some(dir) if local.system(&dir).is_dir() => Check::ok(
            NAME,
            format!("default StorageClass {name}, base path {dir} exists"),
        ),
        Some(dir) => Check::fail(
            NAME,
            format!("default StorageClass {name} keeps volumes in {dir}, which does not exist on this node"),
            format!("sudo mkdir -p {dir} (on every node), or set BasePath in its manifest and binderctl storage apply"),
        ),
    }
}

// ---- firewall ----

/// `KEY=value` from a shell-style config file, quotes removed.
fn config_value(text: &str, key: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches(['"', '\'']).to_string())
    })
}

impl NodeFiles {
    /// The node checks' files on this machine, under `--root`.
    fn read_local(local: &Local) -> Self {
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
fn read_optional(path: &Path) -> FileRead {
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

/// The checks of one node's files: the firewall and the kubelet's
/// reservations. `node`: another node (`None`: this one).
pub fn node_checks(files: &NodeFiles, flavor: ToolFlavor, node: Option<&str>) -> Vec<Check> {
    let mut checks = firewall_checks(files, node);
    checks.push(kubelet_reserved_check(&files.kubelet, flavor, node));
    checks.into_iter().map(|c| c.on(node)).collect()
}

/// `on node N: ` before a fix that must run on another node.
fn on_node(node: Option<&str>, fix: &str) -> String {
    match node {
        Some(node) => format!("on node {node}: {fix}"),
        None => fix.to_string(),
    }
}

/// A file the firewall checks cannot read makes them skip, saying how to
/// read it (ufw's rules are readable by root only).
fn unreadable(name: &'static str, why: &str, node: Option<&str>) -> Check {
    let how = match node {
        None => "; run doctor with sudo, or with --node NAME (a helper pod reads it as root)",
        Some(_) => "",
    };
    Check::skip(name, format!("cannot read {why}{how}"))
}

/// The check of ufw's rules for the CNI's interfaces.
const CNI: &str = "firewall-cni";

fn firewall_checks(files: &NodeFiles, node: Option<&str>) -> Vec<Check> {
    const ROUTED: &str = "firewall-routed";
    let text = match &files.ufw_conf {
        Ok(Some(text)) => text,
        Ok(None) => {
            return vec![
                Check::skip(ROUTED, "ufw is not installed"),
                Check::skip(CNI, "ufw is not installed"),
            ]
        }
        Err(e) => return vec![unreadable(ROUTED, e, node), unreadable(CNI, e, node)],
    };
    if !config_value(text, "ENABLED").is_some_and(|v| v.eq_ignore_ascii_case("yes")) {
        return vec![
            Check::ok(ROUTED, "ufw is disabled"),
            Check::ok(CNI, "ufw is disabled"),
        ];
    }
    let routed = match &files.ufw_defaults {
        Err(e) => unreadable(ROUTED, e, node),
        Ok(defaults) => {
            let defaults = defaults.as_deref().unwrap_or_default();
            let policy = config_value(defaults, "DEFAULT_FORWARD_POLICY").unwrap_or_default();
            if policy.eq_ignore_ascii_case("ACCEPT") {
                Check::ok(ROUTED, "ufw allows routed traffic")
            } else {
                Check::fail(
                    ROUTED,
                    format!(
                        "ufw's routed policy is {} (DEFAULT_FORWARD_POLICY): pods cannot reach \
                         each other",
                        if policy.is_empty() { "unset" } else { &policy }
                    ),
                    on_node(node, "sudo ufw default allow routed"),
                )
            }
        }
    };
    let cni = match (&files.ufw_rules, &files.interfaces) {
        (Err(e), _) => unreadable(CNI, e, node),
        (_, Err(e)) => Check::skip(CNI, format!("cannot read {e}: which CNI runs is unknown")),
        (_, Ok(None)) => Check::skip(CNI, format!("no /{NET_DEVICES}: which CNI runs is unknown")),
        (Ok(rules), Ok(Some(devices))) => cni_check(
            rules.as_deref().unwrap_or_default(),
            &interface_names(devices),
            node,
        ),
    };
    vec![routed, cni]
}

/// The interface names in `/proc/net/dev` (after its two header lines,
/// `NAME: counters…`).
pub fn interface_names(devices: &str) -> Vec<String> {
    devices
        .lines()
        .filter(|l| !l.contains('|'))
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The ufw interface rules pod traffic needs, as MicroK8s documents them,
/// for the CNI whose interfaces the node has: Calico (MicroK8s' CNI since
/// 1.19: `vxlan.calico`, one `cali…` per pod, `cali+` in ufw's words), or
/// flannel (`cni0`, with `flannel.1`). The CNI's name and the interfaces.
pub fn cni_interfaces(names: &[String]) -> Vec<(&'static str, &'static [&'static str])> {
    let mut found = Vec::new();
    if names
        .iter()
        .any(|n| n == "vxlan.calico" || n.starts_with("cali"))
    {
        found.push(("Calico", &["vxlan.calico", "cali+"][..]));
    }
    if names.iter().any(|n| n == "cni0" || n == "flannel.1") {
        found.push(("flannel", &["cni0"][..]));
    }
    found
}

fn cni_check(rules: &str, names: &[String], node: Option<&str>) -> Check {
    let cnis = cni_interfaces(names);
    if cnis.is_empty() {
        return Check::skip(
            CNI,
            "no Calico (vxlan.calico, cali…) or flannel (cni0) interface on the node: which \
             CNI runs is unknown",
        );
    }
    let has = |rule: String| rules.lines().any(|l| l.trim() == rule);
    let mut missing = Vec::new();
    let mut wanted = Vec::new();
    for (_, interfaces) in &cnis {
        for interface in interfaces.iter() {
            wanted.push(*interface);
            if !has(format!("-A ufw-user-input -i {interface} -j ACCEPT")) {
                missing.push(format!("in on {interface}"));
            }
            if !has(format!("-A ufw-user-output -o {interface} -j ACCEPT")) {
                missing.push(format!("out on {interface}"));
            }
        }
    }
    let cni_names: Vec<&str> = cnis.iter().map(|(name, _)| *name).collect();
    let cni_names = cni_names.join(" and ");
    if missing.is_empty() {
        return Check::ok(
            CNI,
            format!(
                "ufw allows traffic in and out on {cni_names}'s {}",
                wanted.join(", ")
            ),
        );
    }
    let fixes: Vec<String> = missing
        .iter()
        .map(|m| format!("sudo ufw allow {m}"))
        .collect();
    Check::fail(
        CNI,
        format!(
            "ufw does not allow pod traffic on {cni_names}'s interfaces: missing allow {} \
             (after a reboot, ufw's and iptables' rules can conflict again)",
            missing.join(", ")
        ),
        on_node(node, &fixes.join("; ")),
    )
}

/// Whether the kubelet reserves resources for Kubernetes' and the system's
/// daemons: without, a node full of user pods starves its own kubelet.
fn kubelet_reserved_check(file: &FileRead, flavor: ToolFlavor, node: Option<&str>) -> Check {
    const NAME: &str = "kubelet-reserved";
    let path = format!("/{}", kubelet_file(flavor));
    let text = match file {
        Ok(Some(text)) => text,
        Ok(None) if flavor == ToolFlavor::Plain => {
            return Check::skip(
                NAME,
                format!("no {path} (kubeadm's); reservations set elsewhere are not checked"),
            )
        }
        Ok(None) => return Check::skip(NAME, format!("no {path}: is MicroK8s installed?")),
        Err(e) => return Check::skip(NAME, format!("cannot read {e}")),
    };
    let missing: Vec<&str> = match flavor {
        ToolFlavor::Microk8s => {
            let [kube, system] = kubelet_args::reserved_values(text);
            [("--kube-reserved", kube), ("--system-reserved", system)]
                .into_iter()
                .filter(|(_, value)| value.is_none())
                .map(|(flag, _)| flag)
                .collect()
        }
        ToolFlavor::Plain => {
            let config: Value = serde_yaml::from_str(text).unwrap_or(Value::Null);
            ["kubeReserved", "systemReserved"]
                .into_iter()
                .filter(|key| {
                    config
                        .get(key)
                        .and_then(Value::as_mapping)
                        .is_none_or(serde_yaml::Mapping::is_empty)
                })
                .collect()
        }
    };
    if missing.is_empty() {
        return Check::ok(
            NAME,
            format!("{path} reserves resources for Kubernetes and the system"),
        );
    }
    let fix = match (flavor, node) {
        (ToolFlavor::Microk8s, Some(node)) => format!("binderctl nodes reserve --node {node}"),
        (ToolFlavor::Microk8s, None) => "sudo binderctl nodes reserve".to_string(),
        (ToolFlavor::Plain, Some(node)) => {
            format!("binderctl --tools plain nodes reserve --node {node}")
        }
        (ToolFlavor::Plain, None) => "sudo binderctl --tools plain nodes reserve".to_string(),
    };
    Check::warn(
        NAME,
        format!(
            "{path} does not set {}: a node full of user pods can starve its own kubelet",
            missing.join(" or ")
        ),
        fix,
    )
}

// ---- the BinderHub ----

fn services(answer: &Answer) -> std::result::Result<ServiceList, String> {
    let text = answer.as_ref().map_err(Clone::clone)?;
    serde_json::from_str(text).map_err(|_| "services: not the expected JSON".to_string())
}

fn proxy_public_check(answer: &Answer) -> Check {
    const NAME: &str = "proxy-public";
    let list = match services(answer) {
        Ok(l) => l,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot list services: {e}"),
                "make the cluster reachable (see the checks above)",
            )
        }
    };
    if !list.items.iter().any(|s| s.metadata.name == "proxy-public") {
        return Check::fail(
            NAME,
            "no proxy-public service: the BinderHub is not deployed in this namespace",
            "binderctl deploy (or pass -n with the BinderHub's namespace)",
        );
    }
    match list.external_address("proxy-public") {
        Some(address) => Check::ok(NAME, format!("external address {address}")),
        None => Check::fail(
            NAME,
            "proxy-public has no external address yet",
            "enable MetalLB with a free range (microk8s enable metallb:FIRST-LAST)",
        ),
    }
}

fn hub_url_check(
    answer: &Answer,
    values: &std::result::Result<Value, String>,
    input: &Path,
) -> Check {
    const NAME: &str = "hub-url";
    let Ok(values) = values else {
        return Check::skip(NAME, "the values file could not be read");
    };
    let proxy = services(answer)
        .ok()
        .and_then(|l| l.external_address("proxy-public"));
    let Some(proxy) = proxy else {
        return Check::skip(NAME, "proxy-public has no external address to compare with");
    };
    match hub_url_warning(values, Some(&proxy), input) {
        Some(message) => Check::fail(
            NAME,
            message,
            format!(
                "set config.BinderHub.hub_url: http://{proxy} in {}, then binderctl deploy",
                input.shown()
            ),
        ),
        None => Check::ok(NAME, "config.BinderHub.hub_url points at proxy-public"),
    }
}

/// Whether `text` holds a `<two words>` or `<dash-ed>` placeholder inside
/// it (`<registry user>/binder-`); HTML tags (`<b>`, `<a href=...>`,
/// `<br />`) are not placeholders.
fn has_placeholder(text: &str) -> bool {
    text.split('<').skip(1).any(|rest| {
        rest.split_once('>').is_some_and(|(inner, _)| {
            !inner.is_empty()
                && !inner.contains(['=', '/', '"'])
                && inner.contains([' ', '-', '_'])
                && !inner.starts_with(' ')
        })
    })
}

/// Key paths of string values that are still `<placeholders>`.
pub fn placeholders(value: &Value) -> Vec<String> {
    fn walk(value: &Value, path: &str, found: &mut Vec<String>) {
        match value {
            Value::String(s)
                if (is_placeholder(s) && s.matches('<').count() == 1) || has_placeholder(s) =>
            {
                found.push(path.to_string())
            }
            Value::Mapping(map) => {
                for (key, child) in map {
                    let key = key.as_str().map(str::to_string).unwrap_or_else(|| {
                        serde_yaml::to_string(key)
                            .unwrap_or_default()
                            .trim()
                            .to_string()
                    });
                    let path = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, &path, found);
                }
            }
            Value::Sequence(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}[{i}]"), found);
                }
            }
            Value::Tagged(tagged) => walk(&tagged.value, path, found),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(value, "", &mut found);
    found
}

fn placeholder_check(values: &std::result::Result<Value, String>, input: &Path) -> Check {
    const NAME: &str = "placeholders";
    let values = match values {
        Ok(v) => v,
        Err(e) => {
            return Check::fail(
                NAME,
                e.clone(),
                "create it (binderctl render -i FILE for another name)",
            )
        }
    };
    let found = placeholders(values);
    if found.is_empty() {
        return Check::ok(NAME, format!("no <placeholders> left in {}", input.shown()));
    }
    Check::fail(
        NAME,
        format!(
            "{} still holds template placeholders at {}",
            input.shown(),
            found.join(", ")
        ),
        "replace each <...> with the real value",
    )
}

fn secret_values_check(secret: &Path) -> Check {
    const NAME: &str = "secret";
    if !secret.exists() {
        return Check::fail(
            NAME,
            format!("{} does not exist", secret.shown()),
            format!(
                "create it with registry.username and registry.password (see the README's \
                 Files), then chmod 600 {}",
                secret.shown()
            ),
        );
    }
    match check_secret(secret) {
        Ok(_) => Check::ok(
            NAME,
            format!("{} holds the registry credentials", secret.shown()),
        ),
        Err(e) => {
            let lines: Vec<String> = format!("{e:#}")
                .lines()
                .filter(|l| *l != "nothing deployed" && !l.starts_with("  "))
                .map(str::to_string)
                .collect();
            Check::fail(
                NAME,
                lines.join("; "),
                format!(
                    "edit {} (registry.username, registry.password)",
                    secret.shown()
                ),
            )
        }
    }
}

fn secret_permissions_check(secret: &Path) -> Check {
    const NAME: &str = "secret-permissions";
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(secret) else {
            return Check::skip(NAME, format!("{} does not exist", secret.shown()));
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Check::fail(
                NAME,
                format!(
                    "{} holds a registry token but is readable by others (mode {mode:04o})",
                    secret.shown()
                ),
                format!("chmod 600 {}", secret.shown()),
            );
        }
        Check::ok(
            NAME,
            format!("{} is private (mode {mode:04o})", secret.shown()),
        )
    }
    #[cfg(not(unix))]
    Check::skip(NAME, "permissions are not checked on this system")
}

fn egress_check(values: &std::result::Result<Value, String>, input: &Path) -> Check {
    const NAME: &str = "egress-policy";
    let Ok(values) = values else {
        return Check::skip(NAME, "the values file could not be read");
    };
    let non_private = values
        .get("jupyterhub")
        .and_then(|v| v.get("singleuser"))
        .and_then(|v| v.get("networkPolicy"))
        .and_then(|v| v.get("egressAllowRules"))
        .and_then(|v| v.get("nonPrivateIPs"));
    match non_private {
        Some(Value::Bool(false)) => Check::ok(
            NAME,
            "nonPrivateIPs is false: user pods reach only the allow-list",
        ),
        _ => Check::fail(
            NAME,
            "jupyterhub.singleuser.networkPolicy.egressAllowRules.nonPrivateIPs is not false: \
             user pods may reach every public address and the allow-list restricts nothing",
            format!(
                "set it to false in {}, then binderctl deploy",
                input.shown()
            ),
        ),
    }
}

/// The refresh timer `binderctl egress schedule` installs, under the root.
pub const TIMER_FILE: &str = "etc/systemd/system/binderctl-egress.timer";

/// binder.yaml says `allow_list_mode: policy`.
fn policy_mode(values: &std::result::Result<Value, String>) -> bool {
    values.as_ref().is_ok_and(|v| {
        v.get("jupyterhub")
            .and_then(|v| v.get("singleuser"))
            .and_then(|v| v.get("networkPolicy"))
            .and_then(|v| v.get("allow_list_mode"))
            .and_then(Value::as_str)
            == Some("policy")
    })
}

/// Whether the allow-list keeps itself fresh: the timer exists, and the
/// policies were applied within twice its interval.
fn egress_schedule_check(facts: &ClusterFacts, local: &Local, policy_mode: bool) -> Check {
    const NAME: &str = "egress-schedule";
    let fix_timer = "sudo binderctl egress schedule (a systemd timer running egress apply)";
    let fix_runs = "systemctl status binderctl-egress.timer; journalctl -u binderctl-egress";
    let timer = match read_optional(&local.system(TIMER_FILE)) {
        Ok(timer) => timer,
        Err(why) => return Check::warn(NAME, format!("cannot read the timer: {why}"), fix_runs),
    };
    let Some(timer) = timer else {
        return if policy_mode {
            Check::warn(
                NAME,
                "no binderctl-egress.timer: the allow-list is refreshed only when someone runs \
                 `binderctl egress apply`",
                fix_timer,
            )
        } else {
            Check::ok(
                NAME,
                "allow_list_mode is values: `binderctl deploy` refreshes the allow-list",
            )
        };
    };
    let Some(interval) = crate::cluster::systemd::interval(&timer) else {
        return Check::warn(
            NAME,
            format!("{} holds no OnUnitActiveSec= interval", TIMER_FILE),
            fix_timer,
        );
    };
    let every = interval.as_secs();
    match &facts.egress_applied {
        None => Check::skip(NAME, "the egress policies were not read"),
        Some(Err(why)) => Check::warn(
            NAME,
            format!("timer every {every}s, but the policies cannot be read: {why}"),
            fix_runs,
        ),
        Some(Ok(None)) => Check::warn(
            NAME,
            format!("timer every {every}s, but no egress policy has been applied yet"),
            fix_runs,
        ),
        Some(Ok(Some(at))) => {
            let age = u64::try_from(facts.now - at).unwrap_or(0);
            let ago = crate::cluster::duration::format_age(std::time::Duration::from_secs(age));
            if age > 2 * every {
                Check::warn(
                    NAME,
                    format!(
                        "the policies were last refreshed {ago} ago, more than twice the \
                         timer's interval ({every}s)"
                    ),
                    fix_runs,
                )
            } else {
                Check::ok(
                    NAME,
                    format!("timer every {every}s; the policies were last refreshed {ago} ago"),
                )
            }
        }
    }
}

fn render_age_check(local: &Local) -> Check {
    const NAME: &str = "egress-fresh";
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(rendered) = modified(&local.rendered) else {
        return Check::warn(
            NAME,
            format!("{} does not exist", local.rendered.shown()),
            "binderctl render (or binderctl deploy)",
        );
    };
    if modified(&local.input).is_some_and(|input| input > rendered) {
        return Check::warn(
            NAME,
            format!(
                "{} changed after {} was rendered",
                local.input.shown(),
                local.rendered.shown()
            ),
            "binderctl deploy",
        );
    }
    let age = std::time::SystemTime::now()
        .duration_since(rendered)
        .unwrap_or_default();
    if age.as_secs() > STALE_RENDER_SECS {
        return Check::warn(
            NAME,
            format!(
                "{} was rendered {} ago: addresses behind CDNs may have moved",
                local.rendered.shown(),
                crate::cluster::duration::format_age(age)
            ),
            "binderctl render --check (exit 1 means deploy again)",
        );
    }
    Check::ok(NAME, format!("{} is recent", local.rendered.shown()))
}

fn nodes_check(answer: &Answer) -> Check {
    const NAME: &str = "nodes";
    let rows: Vec<NodeRow> =
        match answer.as_ref().map_err(Clone::clone).and_then(|t| {
            parse_node_list(t).map_err(|_| "nodes: not the expected JSON".to_string())
        }) {
            Ok(rows) => rows,
            Err(e) => {
                return Check::fail(
                    NAME,
                    format!("cannot list nodes: {e}"),
                    "make the cluster reachable (see the checks above)",
                )
            }
        };
    let not_ready: Vec<&str> = rows
        .iter()
        .filter(|r| !r.status.starts_with("Ready"))
        .map(|r| r.name.as_str())
        .collect();
    if !not_ready.is_empty() {
        return Check::fail(
            NAME,
            format!("not ready: {}", not_ready.join(", ")),
            "on that node: microk8s inspect; sudo microk8s start",
        );
    }
    let mut versions: Vec<&str> = rows.iter().map(|r| r.version.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    if versions.len() > 1 {
        let each: Vec<String> = rows
            .iter()
            .map(|r| format!("{} {}", r.name, r.version))
            .collect();
        return Check::fail(
            NAME,
            format!("nodes run different versions: {}", each.join(", ")),
            "sudo snap refresh microk8s --channel=SAME/stable on the nodes that differ",
        );
    }
    Check::ok(
        NAME,
        format!(
            "{} ready, all on {}",
            output::plural(rows.len(), "node", "nodes"),
            versions.first().copied().unwrap_or("?")
        ),
    )
}

// ---- disk ----

/// Every Ready node's image and node filesystems below
/// [`disk::DISK_WARN_PERCENT`] used, from the kubelets' stats
/// summaries; a node whose summary cannot be read is named too.
fn node_disk_check(stats: Option<&[(String, std::result::Result<NodeFs, String>)]>) -> Check {
    const NAME: &str = "node-disk";
    let Some(stats) = stats else {
        return Check::skip(NAME, "unknown: the nodes could not be listed");
    };
    if stats.is_empty() {
        return Check::skip(NAME, "no node is Ready");
    }
    let mut problems = Vec::new();
    let mut disks = Vec::new();
    for (name, result) in stats {
        match result {
            Ok((image_fs, node_fs)) => disks.push(NodeDisk {
                name: name.clone(),
                image_fs: *image_fs,
                node_fs: *node_fs,
                error: None,
            }),
            Err(e) => problems.push(format!("node {name}: cannot read its disk usage: {e}")),
        }
    }
    problems.extend(disk::disk_warnings(&disks));
    if problems.is_empty() {
        return Check::ok(
            NAME,
            format!(
                "{} below {}% used",
                output::plural(disks.len(), "node", "nodes"),
                disk::DISK_WARN_PERCENT
            ),
        );
    }
    Check::warn(
        NAME,
        problems.join("; "),
        "binderctl nodes disk shows every node's image and node filesystems",
    )
}

/// Free bytes for an unprivileged writer on the file system holding `path`.
#[cfg(unix)]
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: c_path is a valid NUL-terminated string and stats points at
    // writable memory of the right size; statvfs fills it on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so the struct is initialised.
    let stats = unsafe { stats.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between systems
    Ok((stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64))
}

#[cfg(not(unix))]
pub fn free_bytes(_path: &Path) -> std::io::Result<u64> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// ok, warn or fail for `free` bytes left.
pub fn disk_status(free: u64) -> Status {
    if free < FAIL_FREE_BYTES {
        Status::Fail
    } else if free < WARN_FREE_BYTES {
        Status::Warn
    } else {
        Status::Ok
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

fn disk_check(local: &Local) -> Check {
    const NAME: &str = "containerd-disk";
    let relative = match local.flavor {
        ToolFlavor::Microk8s => MICROK8S_CONTAINERD_ROOT,
        ToolFlavor::Plain => PLAIN_CONTAINERD_ROOT,
    };
    let path = local.system(relative);
    let free = match free_bytes(&path) {
        Ok(free) => free,
        Err(e) if local.flavor == ToolFlavor::Plain => {
            return Check::skip(NAME, format!("{}: {e}", path.shown()))
        }
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{}: {e}", path.shown()),
                "run doctor on a MicroK8s node",
            )
        }
    };
    free_space_check(
        free,
        format!("{} free on {}", gib(free), path.shown()),
        "binderctl images rm OLD-BUILDS (on each node), or give the folder more space",
    )
}

/// containerd-disk's verdict on `free` bytes, said with `message`.
fn free_space_check(free: u64, message: String, fix: impl Into<String>) -> Check {
    const NAME: &str = "containerd-disk";
    match disk_status(free) {
        Status::Ok => Check::ok(NAME, message),
        Status::Warn => Check::warn(NAME, format!("only {message}"), fix),
        _ => Check::fail(
            NAME,
            format!("only {message}: image pulls and builds will fail"),
            fix,
        ),
    }
}

/// containerd's disk on another node: its image filesystem's free space
/// from the stats summary doctor already read (the same filesystem as
/// containerd's root, and no privilege needed).
fn stats_disk_check(node: &str, stats: Option<&std::result::Result<NodeFs, String>>) -> Check {
    const NAME: &str = "containerd-disk";
    let check = match stats {
        Some(Ok((Some(image_fs), _))) => free_space_check(
            image_fs.available_bytes,
            format!(
                "{} free on its image filesystem",
                gib(image_fs.available_bytes)
            ),
            format!("binderctl images rm OLD-BUILDS --node {node}, or give it more space"),
        ),
        Some(Ok((None, _))) => Check::skip(NAME, "its kubelet reports no image filesystem"),
        Some(Err(e)) => Check::skip(NAME, format!("unknown: its stats summary: {e}")),
        None => Check::skip(NAME, "unknown: its stats summary was not read"),
    };
    check.on(Some(node))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS_YAML: &str = "microk8s:\n  running: true\nhigh-availability:\n  enabled: false\n\
        addons:\n  - name: dns\n    repository: core\n    status: enabled\n  - name: helm3\n    \
        repository: core\n    status: enabled\n  - name: metallb\n    repository: core\n    \
        status: disabled\n  - name: openebs\n    repository: community\n    status: enabled\n";

    #[test]
    fn microk8s_status_is_read_from_its_yaml() {
        let s = parse_microk8s_status(STATUS_YAML);
        assert!(s.running && !s.worker);
        assert_eq!(s.enabled, ["dns", "helm3", "openebs"]);
        let check = addons_check(&Ok(s));
        assert_eq!(check.status, Status::Fail);
        assert_eq!(check.message, "not enabled: metallb");
        assert!(check.fix.unwrap().contains("microk8s enable metallb:"));
        let worker = parse_microk8s_status(
            "This MicroK8s deployment is acting as a node in a cluster. Please use the master node.\n",
        );
        assert!(worker.worker && !worker.running);
    }

    #[test]
    fn storage_base_path_from_openebs_config_or_hostpath() {
        let openebs: serde_json::Value = serde_json::json!({
            "metadata": {"annotations": {"cas.openebs.io/config": "- name: StorageType\n  value: hostpath\n- name: BasePath\n  value: /srv/volumes\n"}},
            "provisioner": "openebs.io/local"});
        assert_eq!(base_path(&openebs).as_deref(), Some("/srv/volumes"));
        let hostpath = serde_json::json!({"provisioner": "microk8s.io/hostpath"});
        assert_eq!(base_path(&hostpath).as_deref(), Some(MICROK8S_HOSTPATH_DIR));
        let pv_dir = serde_json::json!({"provisioner": "microk8s.io/hostpath", "parameters": {"pvDir": "/data"}});
        assert_eq!(base_path(&pv_dir).as_deref(), Some("/data"));
        assert_eq!(base_path(&serde_json::json!({"provisioner": "x"})), None);
    }

    #[test]
    fn disk_thresholds() {
        assert_eq!(disk_status(0), Status::Fail);
        assert_eq!(disk_status(FAIL_FREE_BYTES - 1), Status::Fail);
        assert_eq!(disk_status(FAIL_FREE_BYTES), Status::Warn);
        assert_eq!(disk_status(WARN_FREE_BYTES), Status::Ok);
        let here = free_bytes(Path::new(".")).unwrap();
        assert!(here > 0);
        assert!(free_bytes(Path::new("/no/such/folder/x")).is_err());
    }

    #[test]
    fn node_disk_names_full_and_unreadable_nodes() {
        use crate::ops::nodes::disk::FsUsage;
        let fs = |available_bytes| {
            Some(FsUsage {
                capacity_bytes: 100,
                available_bytes,
            })
        };
        assert_eq!(node_disk_check(None).status, Status::Skip);
        assert_eq!(node_disk_check(Some(&[])).status, Status::Skip);
        let fine = [("a".to_string(), Ok((fs(16), fs(50))))];
        assert_eq!(node_disk_check(Some(&fine)).status, Status::Ok);
        let bad = [
            ("a".to_string(), Ok((fs(16), fs(50)))),
            ("b".to_string(), Err("the kubelet is down".to_string())),
            ("c".to_string(), Ok((None, fs(10)))),
        ];
        let check = node_disk_check(Some(&bad));
        assert_eq!(check.status, Status::Warn);
        assert_eq!(
            check.message.split("; ").next(),
            Some("node b: cannot read its disk usage: the kubelet is down")
        );
        assert!(
            check
                .message
                .contains("node c: its node filesystem is 90% used"),
            "{}",
            check.message
        );
        assert!(!check.message.contains("node a"), "{}", check.message);
    }

    #[test]
    fn placeholders_are_found_by_key_path() {
        let values: Value = serde_yaml::from_str(
            "config:\n  BinderHub:\n    image_prefix: '<registry user>/binder-'\n    hub_url: http://192.0.2.1\n\
             list: [a, '<x>', '<b>bold</b>', '<a href=\"x\">y</a>']\n",
        )
        .unwrap();
        assert_eq!(
            placeholders(&values),
            ["config.BinderHub.image_prefix", "list[1]"]
        );
    }

    #[test]
    fn the_cni_is_told_by_the_nodes_interfaces() {
        let devices = "Inter-|   Receive                            |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes\n    \
             lo: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\n  eth0: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\n\
             vxlan.calico: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\ncali1a2b3c4d5e6: 1 2 0 0 0 0 0 0 1 2 \
             0 0 0 0 0 0\n";
        let names = interface_names(devices);
        assert_eq!(names, ["lo", "eth0", "vxlan.calico", "cali1a2b3c4d5e6"]);
        assert_eq!(
            cni_interfaces(&names),
            [("Calico", &["vxlan.calico", "cali+"][..])]
        );
        let flannel = vec![
            "lo".to_string(),
            "flannel.1".to_string(),
            "cni0".to_string(),
        ];
        assert_eq!(cni_interfaces(&flannel), [("flannel", &["cni0"][..])]);
        assert!(cni_interfaces(&["lo".to_string(), "eth0".to_string()]).is_empty());

        let rules = "-A ufw-user-input -i vxlan.calico -j ACCEPT\n\
                     -A ufw-user-output -o vxlan.calico -j ACCEPT\n\
                     -A ufw-user-input -i cali+ -j ACCEPT\n";
        let check = cni_check(rules, &names, Some("w1"));
        let text = report(&[check]);
        assert!(text.starts_with("fail  firewall-cni"), "{text}");
        assert!(text.contains("missing allow out on cali+"), "{text}");
        assert!(
            text.contains("fix: on node w1: sudo ufw allow out on cali+\n"),
            "{text}"
        );
        let all = format!("{rules}-A ufw-user-output -o cali+ -j ACCEPT\n");
        let text = report(&[cni_check(&all, &names, None)]);
        assert!(text.starts_with("ok    firewall-cni"), "{text}");
        // cni0's rules do not let Calico's traffic through.
        let old = "-A ufw-user-input -i cni0 -j ACCEPT\n-A ufw-user-output -o cni0 -j ACCEPT\n";
        let text = report(&[cni_check(old, &names, None)]);
        assert!(text.starts_with("fail"), "{text}");
        assert!(
            text.contains(
                "sudo ufw allow in on vxlan.calico; sudo ufw allow out on vxlan.calico; \
                           sudo ufw allow in on cali+; sudo ufw allow out on cali+"
            ),
            "{text}"
        );
    }

    #[test]
    fn ufw_config_values() {
        let text =
            "# comment\nDEFAULT_FORWARD_POLICY=\"DROP\"\nDEFAULT_FORWARD_POLICY=\"ACCEPT\"\n";
        assert_eq!(
            config_value(text, "DEFAULT_FORWARD_POLICY").as_deref(),
            Some("ACCEPT")
        );
        assert_eq!(
            config_value("ENABLED=yes\n", "ENABLED").as_deref(),
            Some("yes")
        );
        assert_eq!(config_value("X=1\n", "ENABLED"), None);
    }

    #[test]
    fn report_lines_carry_the_fix() {
        let checks = vec![
            Check::ok("nodes", "1 node ready"),
            Check::fail("add-ons", "not enabled: dns", "microk8s enable dns"),
        ];
        assert_eq!(
            report(&checks),
            "ok    nodes    1 node ready\nfail  add-ons  not enabled: dns; fix: microk8s enable dns\n"
        );
    }

    #[test]
    fn samples_cover_both_flavours() {
        let plans = sample_plans();
        assert_eq!(plans.len(), 2);
        assert_eq!(
            plans[0].render(),
            "microk8s status --format yaml\nmicrok8s kubectl get storageclass -o json\n\
             microk8s kubectl get services -n binder -o json\nmicrok8s kubectl get nodes -o json\n"
        );
        assert!(plans[1].render().starts_with("kubectl get storageclass"));
    }
}
