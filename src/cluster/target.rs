//! Where binderctl works: which tools it drives, the cluster they talk to,
//! and the release. Plain data, built from the global options by
//! `commands/` before the core sees it (as ripgrep turns its arguments
//! into a config), so nothing below `commands/` knows the CLI.

use std::path::PathBuf;
use std::time::Duration;

/// Which programs binderctl drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFlavor {
    /// `microk8s kubectl`, `microk8s helm`, `microk8s ctr`.
    Microk8s,
    /// `kubectl`, `helm`, `ctr` from PATH (k3s, managed clusters).
    Plain,
}

/// The tools, the cluster (kubeconfig, context) and the release
/// (namespace, name) a command works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tools: ToolFlavor,
    /// `--kubeconfig` for kubectl and Helm; unset, the tools choose.
    pub kubeconfig: Option<PathBuf>,
    /// `--context` (kubectl) / `--kube-context` (Helm).
    pub context: Option<String>,
    /// The BinderHub's namespace.
    pub namespace: String,
    /// The Helm release's name.
    pub release: String,
    /// kubectl's `--request-timeout` for calls that are single requests
    /// (not the waits: `rollout status`, `logs -f`, `port-forward`);
    /// `None`: as long as the server takes.
    pub request_timeout: Option<Duration>,
}
