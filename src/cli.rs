//! Command-line definitions. Everything clap knows about lives here; the
//! commands themselves live under `src/commands/`.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where GitHub publishes the address ranges of its services.
pub const DEFAULT_GITHUB_META_URL: &str = "https://api.github.com/meta";
/// Where Fastly (which serves the Python package index) publishes its ranges.
pub const DEFAULT_FASTLY_URL: &str = "https://api.fastly.com/public-ip-list";
/// The JupyterHub project's Helm chart repository.
pub const DEFAULT_CHART_REPO_URL: &str = "https://jupyterhub.github.io/helm-chart/";

#[derive(Debug, Parser)]
#[command(
    name = "binderctl",
    version,
    about = "Render and operate a self-hosted BinderHub",
    long_about = "Render and operate a self-hosted BinderHub.\n\n\
        binderctl turns binder.yaml into the _binder.yaml that Helm deploys \
        (repository whitelist, egress allow-list for user pods) and wraps the \
        day-to-day cluster chores: deploy, pods, images, quota, storage, nodes.",
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Kubernetes namespace of the BinderHub.
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "BINDERCTL_NAMESPACE",
        default_value = "binder"
    )]
    pub namespace: String,

    /// Helm release name of the BinderHub.
    #[arg(
        long,
        global = true,
        env = "BINDERCTL_RELEASE",
        default_value = "binder"
    )]
    pub release: String,

    /// Which command-line tools to drive: `microk8s` runs `microk8s kubectl`,
    /// `microk8s helm` and `microk8s ctr`; `plain` runs `kubectl`, `helm` and
    /// `ctr` from PATH (k3s, managed clusters).
    #[arg(
        long,
        global = true,
        env = "BINDERCTL_TOOLS",
        value_enum,
        default_value_t = ToolFlavor::Microk8s
    )]
    pub tools: ToolFlavor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ToolFlavor {
    /// `microk8s kubectl`, `microk8s helm`, `microk8s ctr`.
    Microk8s,
    /// `kubectl`, `helm`, `ctr` from PATH.
    Plain,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Turn binder.yaml into the _binder.yaml that Helm deploys.
    Render(RenderCmd),
    /// Render, then install or upgrade the BinderHub release with Helm.
    Deploy(DeployCmd),
    /// List the BinderHub chart versions available, newest first.
    Versions(VersionsCmd),
    /// List or delete user pods.
    #[command(subcommand)]
    Pods(PodsCmd),
    /// List or remove container images on this node.
    #[command(subcommand)]
    Images(ImagesCmd),
    /// Show or apply the namespace's ResourceQuota.
    #[command(subcommand)]
    Quota(QuotaCmd),
    /// List StorageClasses or apply the local one.
    #[command(subcommand)]
    Storage(StorageCmd),
    /// Kubernetes Dashboard: login token and port forward.
    #[command(subcommand)]
    Dashboard(DashboardCmd),
    /// List, add, remove nodes; reserve resources for system daemons.
    #[command(subcommand)]
    Nodes(NodesCmd),
    /// Release, pods and services of the BinderHub at a glance.
    Status(StatusCmd),
    /// Delete the Helm release and its namespace.
    Uninstall(UninstallCmd),
    /// The egress allow-list as its own NetworkPolicy: apply, check, show.
    #[command(subcommand)]
    Egress(EgressCmd),
    /// Ask the rendered configuration whether a repository may be built.
    #[command(subcommand)]
    Whitelist(WhitelistCmd),
}

/// Options shared by `render` and `deploy`: where the values come from and
/// how the egress addresses are looked up.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// The values file to read (never modified).
    #[arg(short = 'i', long, value_name = "FILE", default_value = "binder.yaml")]
    pub input: PathBuf,

    /// The values file to write for Helm.
    #[arg(short = 'o', long, value_name = "FILE", default_value = "_binder.yaml")]
    pub output: PathBuf,

    /// DNS server to query, IP or IP:PORT; repeat for several.
    /// Default: the system's resolver configuration.
    #[arg(
        long = "nameserver",
        value_name = "IP[:PORT]",
        env = "BINDERCTL_NAMESERVER",
        value_delimiter = ','
    )]
    pub nameservers: Vec<String>,

    /// URL of GitHub's published address list (JSON, as served by its meta API).
    #[arg(
        long,
        value_name = "URL",
        env = "BINDERCTL_GITHUB_META_URL",
        default_value = DEFAULT_GITHUB_META_URL
    )]
    pub github_meta_url: String,

    /// URL of Fastly's published address list (JSON).
    #[arg(
        long,
        value_name = "URL",
        env = "BINDERCTL_FASTLY_URL",
        default_value = DEFAULT_FASTLY_URL
    )]
    pub fastly_url: String,

    /// Seconds to wait for one DNS answer or one HTTP response.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub timeout: f64,

    /// How many times to retry a DNS query or a download that failed for a
    /// passing reason (timeout, server error).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,

    /// Render even if some hosts do not resolve (each skipped host is warned about).
    #[arg(long)]
    pub allow_unresolved: bool,

    /// Allow 0.0.0.0/0 or ::/0 (all addresses) to come from a host or a list.
    #[arg(long)]
    pub allow_default_route: bool,
}

#[derive(Debug, Args)]
pub struct RenderCmd {
    #[command(flatten)]
    pub render: RenderArgs,

    /// Write the rendered values to standard output instead of the output file.
    #[arg(long, conflicts_with = "check")]
    pub stdout: bool,

    /// Render again and compare with the existing output file: exit 0 when it
    /// would not change, 1 when it would (the changes are printed).
    #[arg(long)]
    pub check: bool,

    /// Print no summary, and nothing at all when `--check` finds the output
    /// up to date (for cron). Warnings and errors are still printed.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DeployCmd {
    #[command(flatten)]
    pub render: RenderArgs,

    /// Chart version to deploy. Default: the version already deployed.
    #[arg(long = "version", id = "chart_version", value_name = "VERSION")]
    pub version: Option<String>,

    /// Extra values file for Helm, after secret.yaml and _binder.yaml; repeatable.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,

    /// The file holding the registry credentials.
    #[arg(long, value_name = "FILE", default_value = "secret.yaml")]
    pub secret: PathBuf,

    /// The chart to deploy.
    #[arg(long, value_name = "CHART", default_value = "jupyterhub/binderhub")]
    pub chart: String,

    /// URL of the `jupyterhub` chart repository, added when missing.
    #[arg(long, value_name = "URL", env = "BINDERCTL_CHART_REPO_URL", default_value = DEFAULT_CHART_REPO_URL)]
    pub chart_repo_url: String,

    /// How long to wait for the deployments to roll out, e.g. 10m, 90s.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub wait_timeout: String,

    /// Print the commands that would run, run nothing that changes the cluster.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct VersionsCmd {
    /// Show at most this many versions.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// The chart whose versions to list.
    #[arg(long, value_name = "CHART", default_value = "jupyterhub/binderhub")]
    pub chart: String,
}

/// How pods are chosen, shared by `pods ls` and `pods purge`.
#[derive(Debug, Clone, Args)]
pub struct PodSelection {
    /// Only pods whose labels match this selector, e.g. component=singleuser-server.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Only pods older than this, e.g. 2h, 30m, 1d.
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,

    /// Also select the BinderHub's own pods (hub, proxy, binder,
    /// user-scheduler, image-cleaner, builds). Dangerous.
    #[arg(long)]
    pub include_protected: bool,
}

#[derive(Debug, Subcommand)]
pub enum PodsCmd {
    /// List pods, optionally only those whose name starts with PREFIX.
    Ls {
        prefix: Option<String>,
        #[command(flatten)]
        selection: PodSelection,
    },
    /// Delete the pods whose name starts with PREFIX (e.g. jupyter-).
    Purge {
        prefix: String,
        #[command(flatten)]
        selection: PodSelection,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print the commands that would run, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Pods per `kubectl delete pod` call.
        #[arg(long, value_name = "N", default_value = "50")]
        batch_size: NonZeroUsize,
    },
}

/// How images are matched, shared by `images ls` and `images rm`.
#[derive(Debug, Clone, Args)]
pub struct ImageMatch {
    /// Treat PATTERN as a regular expression instead of a substring.
    #[arg(short = 'E', long)]
    pub regex: bool,

    /// containerd namespace that Kubernetes uses.
    #[arg(long, value_name = "NS", default_value = "k8s.io")]
    pub containerd_namespace: String,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCmd {
    /// List container images on this node, optionally only those matching PATTERN.
    Ls {
        pattern: Option<String>,
        #[command(flatten)]
        matching: ImageMatch,
    },
    /// Remove the container images on this node that match PATTERN.
    Rm {
        pattern: String,
        #[command(flatten)]
        matching: ImageMatch,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print the commands that would run, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Images per `ctr images rm` call.
        #[arg(long, value_name = "N", default_value = "50")]
        batch_size: NonZeroUsize,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCmd {
    /// Show the namespace's ResourceQuota usage.
    Show,
    /// Check and apply a ResourceQuota manifest to the namespace.
    Apply {
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            default_value = "resource-quota.yaml"
        )]
        file: PathBuf,
        /// Print the commands that would run, apply nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StorageCmd {
    /// List StorageClasses and which one is the default.
    Ls,
    /// Check and apply a StorageClass manifest.
    Apply {
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            default_value = "local-storage-dir.yaml"
        )]
        file: PathBuf,
        /// Print the commands that would run, apply nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DashboardCmd {
    /// Create a login token for the Kubernetes Dashboard.
    Token {
        /// How long the token is valid.
        #[arg(long, value_name = "DURATION", default_value = "2000h")]
        duration: String,
        /// Service account the token is for.
        #[arg(long, value_name = "NAME", default_value = "default")]
        service_account: String,
        /// Namespace of the service account.
        #[arg(long, value_name = "NS", default_value = "default")]
        account_namespace: String,
    },
    /// Forward the Dashboard to a local port (runs until interrupted).
    Forward {
        #[arg(long, default_value_t = 10024)]
        port: u16,
        /// Address to listen on; 0.0.0.0 exposes it to the network.
        #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
        address: String,
        /// Namespace of the Dashboard service.
        #[arg(long, value_name = "NS", default_value = "kube-system")]
        dashboard_namespace: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NodesCmd {
    /// List the cluster's nodes.
    Ls,
    /// Print the command to run on a new node to join this cluster (MicroK8s).
    Add {
        /// Join the new node as a worker, without the control plane.
        #[arg(long)]
        worker: bool,
    },
    /// Remove a node from the cluster (MicroK8s).
    Remove {
        name: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Remove even if the node is unreachable.
        #[arg(long)]
        force: bool,
        /// Print the commands that would run, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Reserve CPU, memory and disk for system daemons in the kubelet arguments.
    Reserve {
        #[arg(long, value_name = "CPU", default_value = "1")]
        cpu: String,
        #[arg(long, value_name = "QUANTITY", default_value = "512Mi")]
        memory: String,
        #[arg(long, value_name = "QUANTITY", default_value = "10Gi")]
        ephemeral_storage: String,
        /// MicroK8s' kubelet arguments file.
        #[arg(
            long,
            value_name = "PATH",
            default_value = "/var/snap/microk8s/current/args/kubelet"
        )]
        kubelet_args: PathBuf,
        /// Show the change, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct StatusCmd {}

#[derive(Debug, Args)]
pub struct UninstallCmd {
    /// Do not ask the operator to type the namespace name.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print the commands that would run, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum EgressCmd {
    /// Resolve, merge and apply the NetworkPolicy binderctl-egress
    /// (allow_list_mode: policy); no Helm, nothing restarts.
    Apply(EgressApplyCmd),
    /// Compare fresh lookups with what the cluster enforces: exit 0 when
    /// nothing needs doing, 1 when an apply (or deploy) would change it, 2 on
    /// errors.
    Check(EgressCheckCmd),
    /// What the policy enforces now, by source, with ages.
    Show(EgressShowCmd),
}

/// How addresses that stopped appearing are kept, shared by apply and check.
#[derive(Debug, Clone, Args)]
pub struct GraceArgs {
    /// How long an address stays allowed after it was last seen, e.g. 24h, 90m.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub grace: String,

    /// The time to take as now, in Unix seconds (for tests).
    #[arg(long, env = "BINDERCTL_NOW", value_name = "SECONDS", hide = true)]
    pub now: Option<i64>,
}

#[derive(Debug, Args)]
pub struct EgressApplyCmd {
    #[command(flatten)]
    pub render: RenderArgs,
    #[command(flatten)]
    pub grace: GraceArgs,
    /// Print the change and the command, apply nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct EgressCheckCmd {
    #[command(flatten)]
    pub render: RenderArgs,
    #[command(flatten)]
    pub grace: GraceArgs,
    /// Print nothing when nothing needs doing (for cron).
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EgressShowCmd {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = ShowFormat::Table)]
    pub format: ShowFormat,
    #[command(flatten)]
    pub grace: GraceArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum WhitelistCmd {
    /// Would the rendered configuration let BinderHub build this repository?
    /// SPEC_OR_URL: a launch URL or path (`v2/gh/OWNER/REPO/REF`), a
    /// provider and spec (`gl/group/repo/HEAD`) or a repository URL.
    Check {
        spec_or_url: String,
        /// The rendered values file to read.
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            default_value = "_binder.yaml"
        )]
        file: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// clap checks a subcommand only when it is parsed, so parse each one.
    #[test]
    fn every_subcommand_parses_its_help() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let mut paths = vec![vec![sub.get_name().to_string()]];
            for nested in sub.get_subcommands() {
                paths.push(vec![
                    sub.get_name().to_string(),
                    nested.get_name().to_string(),
                ]);
            }
            for path in paths {
                let mut argv = vec!["binderctl".to_string()];
                argv.extend(path.clone());
                argv.push("--help".into());
                let err = Cli::try_parse_from(&argv).unwrap_err();
                assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{path:?}");
            }
        }
    }
}
