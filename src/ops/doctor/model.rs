//! What doctor reads and reports: the paths it checks under `--root`, the
//! facts read from the cluster (each read once), a check's status and line,
//! and the report. Pure.

use crate::error::ShownPath;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml::Value;

use crate::ops::nodes::disk::NodeFs;

use crate::cluster::tools::ToolFlavor;

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
    pub(crate) fn label(self) -> &'static str {
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
    pub(crate) fn ok(name: &'static str, message: impl Into<String>) -> Self {
        Check {
            name,
            node: None,
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }

    pub(crate) fn skip(name: &'static str, message: impl Into<String>) -> Self {
        Check {
            status: Status::Skip,
            ..Check::ok(name, message)
        }
    }

    pub(crate) fn bad(
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

    pub(crate) fn fail(
        name: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check::bad(name, Status::Fail, message, fix)
    }

    pub(crate) fn warn(
        name: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check::bad(name, Status::Warn, message, fix)
    }

    pub(crate) fn on(self, node: Option<&str>) -> Self {
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

/// What a node's image garbage collection check knows besides its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeContext {
    /// The node's container runtime as the node list says it
    /// (`containerd://1.7.28`); `None` when unknown.
    pub runtime: Option<String>,
    /// Whether the chart's imageCleaner is enabled, and the values file
    /// that says so; `None` when no values file could be read.
    pub image_cleaner: Option<(bool, String)>,
}

impl NodeContext {
    /// Whether the node runs containerd.
    pub fn containerd(&self) -> bool {
        self.runtime
            .as_deref()
            .is_some_and(|r| r == "containerd" || r.starts_with("containerd://"))
    }
}

/// Whether the values enable the binderhub chart's imageCleaner (its
/// DaemonSet renders `{{- if .Values.imageCleaner.enabled }}`): the chart's
/// default is true, a value set to null removes it (false), and otherwise
/// Go's template truth applies.
pub fn image_cleaner_enabled(values: &Value) -> bool {
    let Some(cleaner) = values.get("imageCleaner") else {
        return true;
    };
    match cleaner.get("enabled") {
        None => !cleaner.is_null(),
        Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(_) => true,
    }
}

/// The node checks' reads on the nodes `--node`/`--all-nodes` chose.
#[derive(Debug, Clone, Default)]
pub struct RemoteNodes {
    /// Each chosen Ready node and what its helper pod read (or why not).
    pub read: Vec<(String, std::result::Result<NodeFiles, String>)>,
    /// Each chosen node left out, and the sentence saying why.
    pub skipped: Vec<(String, String)>,
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
    pub(crate) fn system(&self, relative: &str) -> PathBuf {
        self.root.join(relative.trim_start_matches('/'))
    }
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

/// The parsed values file, or why not (said by the checks that need it).
/// Read as Helm reads it, with the bounds every input has.
pub(crate) fn read_yaml(path: &Path) -> std::result::Result<Value, String> {
    let name = path.shown().to_string();
    let text = crate::ops::input::read_text(path).map_err(|e| format!("{e:#}"))?;
    crate::values::read::parse_values(&text, &name)
        .map(|reading| reading.value)
        .map_err(|e| format!("{e:#}"))
}
