//! Command-line definitions. Everything clap knows about lives here; the
//! commands themselves live under `src/commands/`.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::cluster::names;
pub use crate::cluster::target::ToolFlavor;
pub use crate::ops::forward::ForwardTarget;
pub use crate::ops::init::StorageAddon;
pub use crate::output::format::OutputFormat;

/// The most retries `--retries` accepts: more only multiplies the time a
/// dead server takes to be reported.
pub const MAX_RETRIES: u32 = 10;

/// One `--nameserver` entry (or one of `BINDERCTL_NAMESERVER`'s
/// comma-separated ones): checked here, so an empty one (`,,`) is an error
/// rather than a silent fall back to the system's resolver.
fn nameserver_entry(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("an empty entry (look for doubled or trailing commas in \
                    --nameserver or BINDERCTL_NAMESERVER)"
            .into());
    }
    let text = text.trim();
    if text == NAMESERVER_CLUSTER || text == NAMESERVER_HOST {
        return Ok(text.to_string());
    }
    crate::egress::dns::parse_nameserver(text).map(|_| text.to_string())
}

pub use crate::egress::dns::{NAMESERVER_CLUSTER, NAMESERVER_HOST};

/// A duration such as `10m` or `500ms` that is not zero (kubectl reads
/// `--timeout=0s` as "wait forever").
fn positive_duration(text: &str) -> Result<String, String> {
    match crate::cluster::duration::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be longer than zero (e.g. 10m, 90s)".into()),
        Ok(_) => Ok(text.to_string()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Where GitHub publishes the address ranges of its services.
pub const DEFAULT_GITHUB_META_URL: &str = "https://api.github.com/meta";
/// Where Fastly (which serves the Python package index) publishes its ranges.
pub const DEFAULT_FASTLY_URL: &str = "https://api.fastly.com/public-ip-list";
pub use crate::cluster::helm::DEFAULT_CHART_REPO_URL;

#[derive(Debug, Parser)]
#[command(
    name = "binderctl",
    version,
    about = "Render and operate a self-hosted BinderHub",
    long_about = "Render and operate a self-hosted BinderHub.\n\n\
        binderctl turns binder.yaml into the _binder.yaml that Helm deploys \
        (repository whitelist, egress allow-list for user pods) and wraps the \
        day-to-day cluster chores: deploy, pods, images, quota, storage, nodes.",
    after_help = "Examples:\n  \
        binderctl render --check          # exit 1 when _binder.yaml is stale\n  \
        binderctl deploy --version 1.0.0-0.dev.git.3506.hba24eb2a\n  \
        binderctl pods ls -o json | jq -r '.[].name'",
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// The heading under which every page lists the global options.
pub const GLOBAL_HEADING: &str = "Global options";

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = GLOBAL_HEADING)]
pub struct GlobalArgs {
    /// Kubernetes namespace of the BinderHub.
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "BINDERCTL_NAMESPACE",
        default_value = "binder",
        value_parser = names::namespace
    )]
    pub namespace: String,

    /// Helm release name of the BinderHub.
    #[arg(
        long,
        global = true,
        env = "BINDERCTL_RELEASE",
        default_value = "binder",
        value_parser = names::release
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

    /// kubeconfig file for kubectl and Helm (passed as --kubeconfig).
    /// Default: what the tools choose themselves (KUBECONFIG, ~/.kube/config;
    /// MicroK8s its own).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// kubeconfig context for kubectl (--context) and Helm (--kube-context).
    #[arg(long, global = true, value_name = "NAME", env = "BINDERCTL_CONTEXT")]
    pub context: Option<String>,

    /// How long kubectl may wait for the API server's answer to one request
    /// (kubectl's --request-timeout), so that a server or etcd that stopped
    /// answering ends the command instead of hanging it; 0: as long as the
    /// server takes. Waits with limits of their own (the rollout, `logs
    /// -f`, port forwarding) are not cut short; Helm has no such option
    /// (the API server's own limit, 60s by default, ends its requests).
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "BINDERCTL_REQUEST_TIMEOUT",
        default_value = "30s",
        value_parser = request_timeout
    )]
    pub request_timeout: Duration,

    /// Print only errors (and the results on stdout); `render --check` then
    /// prints its verdict only when the output would change.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print each external command on stderr before it runs.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
}

/// `-o FORMAT` and `--no-headers`, shared by the read commands.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Output format: json, yaml, wide (more columns) or name (one per
    /// line). Default: a table that fits 80 columns.
    #[arg(short = 'o', long, value_name = "FORMAT", value_enum)]
    pub output: Option<OutputFormat>,

    /// Print tables without their header row.
    #[arg(long)]
    pub no_headers: bool,
}

/// Offers one of the core's plain enums to clap as a `ValueEnum`, here,
/// so that the core does not know clap (the orphan rule allows it: both
/// the trait's use and the type are this crate's).
macro_rules! value_enum {
    ($ty:ident { $($variant:ident => $name:literal, $help:literal;)* }) => {
        impl ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                &[$($ty::$variant),*]
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(match self {
                    $($ty::$variant => PossibleValue::new($name).help($help)),*
                })
            }
        }
    };
}

value_enum!(OutputFormat {
    Json => "json", "JSON, the documented field names";
    Yaml => "yaml", "YAML, the same fields as JSON";
    Wide => "wide", "The table with more columns";
    Name => "name", "Names only, one per line";
});

value_enum!(ToolFlavor {
    Microk8s => "microk8s", "`microk8s kubectl`, `microk8s helm`, `microk8s ctr`";
    Plain => "plain", "`kubectl`, `helm`, `ctr` from PATH";
});

value_enum!(ForwardTarget {
    ProxyPublic => "proxy-public", "The hub, as users reach it (JupyterHub's proxy)";
    Binder => "binder", "BinderHub's own page";
});

value_enum!(StorageAddon {
    Openebs => "openebs", "OpenEBS local volumes (needs iscsid)";
    Hostpath => "hostpath", "MicroK8s' hostpath-storage (one node only)";
});

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepare a fresh MicroK8s machine: add-ons, storage, chart repository, templates.
    #[command(after_help = "Examples:\n  \
        binderctl init --metallb-range 192.0.2.100-192.0.2.120 --dry-run\n  \
        binderctl init --metallb-range 192.0.2.96/28 --storage hostpath")]
    Init(InitCmd),
    /// Print the roles binderctl needs (RBAC), for an administrator to apply.
    #[command(after_help = "Examples:\n  \
        binderctl rbac | kubectl apply -f -\n  \
        binderctl rbac --namespace-only --service-account lab-ops\n  \
        binderctl rbac --user alice@lab.example --helper-namespace binderctl-helpers")]
    Rbac(RbacCmd),
    /// Turn binder.yaml into the _binder.yaml that Helm deploys.
    #[command(after_help = "Examples:\n  \
        binderctl render                          # binder.yaml -> _binder.yaml\n  \
        binderctl render -i lab.yaml -o _lab.yaml\n  \
        binderctl render --check --quiet          # for cron: exit 1 when stale")]
    Render(RenderCmd),
    /// Show what a deploy would change in the release's values (exit 1 if anything).
    #[command(after_help = "Examples:\n  \
        binderctl diff\n  \
        binderctl diff -f gpu.yaml\n  \
        binderctl diff --quiet || binderctl deploy --diff")]
    Diff(DiffCmd),
    /// Render, then install or upgrade the BinderHub release with Helm.
    #[command(after_help = "Examples:\n  \
        binderctl deploy --version 1.0.0-0.dev.git.3506.hba24eb2a\n  \
        binderctl deploy                       # reuse the chart version already deployed\n  \
        binderctl deploy -f gpu.yaml --dry-run")]
    Deploy(DeployCmd),
    /// List the BinderHub chart versions available, newest first.
    #[command(after_help = "Examples:\n  \
        binderctl versions\n  \
        binderctl versions --limit 5 -o json")]
    Versions(VersionsCmd),
    /// List the Helm release's revisions, oldest first.
    #[command(after_help = "Examples:\n  \
        binderctl history\n  \
        binderctl history --max 5 -o json")]
    History(HistoryCmd),
    /// Roll the release back to an earlier revision, then wait for the rollout.
    #[command(after_help = "Examples:\n  \
        binderctl rollback               # to the last good revision before the latest\n  \
        binderctl rollback 13 --dry-run\n  \
        binderctl rollback 13 --yes --wait-timeout 15m")]
    Rollback(RollbackCmd),
    /// Delete the Helm release and its namespace.
    #[command(after_help = "Examples:\n  \
        binderctl uninstall            # asks you to type the namespace name\n  \
        binderctl uninstall --dry-run\n  \
        binderctl -n staging uninstall --yes")]
    Uninstall(UninstallCmd),
    /// The egress allow-list as its own NetworkPolicy: apply, check, show.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
        binderctl egress apply --dry-run\n  \
        binderctl egress check --quiet || binderctl egress apply\n  \
        binderctl egress show -o json"
    )]
    Egress(EgressCmd),
    /// Ask the rendered configuration whether a repository may be built.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
        binderctl whitelist check https://github.com/jupyterhub/binder-examples\n  \
        binderctl whitelist check v2/gl/group.example/repo/HEAD -f _lab.yaml"
    )]
    Whitelist(WhitelistCmd),
    /// List or delete user pods.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            binderctl pods ls jupyter-\n  \
            binderctl pods purge jupyter- --older-than 2h"
    )]
    Pods(PodsCmd),
    /// List or delete the users' volume claims (PersistentVolumeClaims).
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            binderctl volumes ls\n  \
            binderctl volumes rm --prefix claim-old --dry-run"
    )]
    Volumes(VolumesCmd),
    /// Show or apply the namespace's ResourceQuota.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            binderctl quota show\n  \
            binderctl quota apply -f resource-quota.yaml"
    )]
    Quota(QuotaCmd),
    /// List, add, remove nodes; reserve resources for system daemons.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            binderctl nodes ls\n  \
            binderctl nodes add --worker\n  \
            sudo binderctl nodes reserve --cpu 1 --memory 512Mi"
    )]
    Nodes(NodesCmd),
    /// List or remove container images on this node.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            binderctl images ls teaching\n  \
            binderctl images rm teaching --dry-run"
    )]
    Images(ImagesCmd),
    /// The registry BinderHub pushes its builds to: list or prune the images.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            binderctl registry ls --older-than 30d\n  \
            binderctl registry prune --older-than 30d --keep 2 --dry-run"
    )]
    Registry(RegistryCmd),
    /// List StorageClasses or apply the local one.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            binderctl storage ls\n  \
            binderctl storage apply -f local-storage-dir.yaml"
    )]
    Storage(StorageCmd),
    /// Release, pods and services of the BinderHub at a glance.
    #[command(after_help = "Examples:\n  \
        binderctl status\n  \
        binderctl status -o wide\n  \
        binderctl status -o json | jq '.pods[] | select(.ready != \"1/1\")'")]
    Status(StatusCmd),
    /// Is BinderHub healthy, and does it build? One line per check; exit 1 when one fails.
    #[command(after_help = "Examples:\n  \
        binderctl check                                   # the services binder and proxy-public\n  \
        binderctl check --launch binder-examples/requirements --timeout 15m\n  \
        binderctl check --url https://binder.example/ --hub-url https://hub.example/ -o json")]
    Check(CheckCmd),
    /// Check the machine, the cluster and the files; one line per check.
    #[command(after_help = "Examples:\n  \
        binderctl doctor\n  \
        binderctl doctor -o json | jq -r '.[] | select(.status == \"fail\") | .fix'\n  \
        binderctl doctor --all-nodes     # the node checks on every node, through helper pods")]
    Doctor(DoctorCmd),
    /// Show the logs of a BinderHub component or a pod.
    #[command(after_help = "Examples:\n  \
        binderctl logs hub --since 1h\n  \
        binderctl logs binder -f\n  \
        binderctl logs jupyter-alice-2dx1 --previous --tail 50")]
    Logs(LogsCmd),
    /// Forward the hub (proxy-public) or BinderHub to a local port; prints the ssh -L line.
    #[command(after_help = "Examples:\n  \
        binderctl forward                         # proxy-public on 127.0.0.1:8080\n  \
        binderctl forward binder --port 8585")]
    Forward(ForwardCmd),
    /// Kubernetes Dashboard: login token and port forward.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            binderctl dashboard token --duration 2000h\n  \
            binderctl dashboard forward --port 10024"
    )]
    Dashboard(DashboardCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:\n  \
        binderctl completion bash > ~/.local/share/bash-completion/completions/binderctl\n  \
        binderctl completion zsh > ~/.zfunc/_binderctl\n  \
        binderctl completion fish > ~/.config/fish/completions/binderctl.fish")]
    Completion(CompletionCmd),
    /// Print the manual page (roff), for `man -l -` or a man folder.
    #[command(after_help = "Examples:\n  \
        binderctl man | man -l -\n  \
        binderctl man > ~/.local/share/man/man1/binderctl.1")]
    Man(ManCmd),
}

#[derive(Debug, Args)]
pub struct CompletionCmd {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

#[derive(Debug, Args)]
pub struct ManCmd {}

/// Options shared by `render` and `deploy`: where the values come from and
/// how the egress addresses are looked up.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// The values file to read (never modified).
    #[arg(short = 'i', long, value_name = "FILE", default_value = "binder.yaml")]
    pub input: PathBuf,

    /// The values file to write for Helm (`-o json` is refused: see --stdout;
    /// write `./json` for a file of that name).
    #[arg(
        short = 'o',
        long,
        value_name = "FILE",
        default_value = "_binder.yaml",
        value_parser = output_file
    )]
    pub output: PathBuf,

    /// DNS server to query, IP or IP:PORT; repeat for several. `cluster`:
    /// the servers the cluster's CoreDNS forwards to (the ConfigMap
    /// kube-system/coredns), the default of `egress apply`, `egress check`
    /// and `deploy`; `host`: the system's resolver configuration, the
    /// default of `render`.
    #[arg(
        long = "nameserver",
        value_name = "IP[:PORT]|cluster|host",
        env = "BINDERCTL_NAMESERVER",
        value_delimiter = ',',
        value_parser = nameserver_entry
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

    /// How long to wait for one DNS answer or one HTTP response, e.g. 5s,
    /// 500ms, 1m; a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = timeout)]
    pub timeout: Duration,

    /// How many times to retry a DNS query or a download that failed for a
    /// passing reason (timeout, server error).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_RETRIES)))]
    pub retries: u32,

    /// Render even if some hosts do not resolve (each skipped host is warned about).
    #[arg(long)]
    pub allow_unresolved: bool,

    /// Allow 0.0.0.0/0 or ::/0 (all addresses), also when several ranges or
    /// sources merge into it, and more than a /4 of IPv4 (a /16 of IPv6)
    /// from one host or list.
    #[arg(long)]
    pub allow_default_route: bool,

    /// Allow unspecified, loopback, link-local (the cloud metadata service),
    /// multicast and broadcast addresses in the allow-list.
    #[arg(long)]
    pub allow_special_addresses: bool,

    /// Which servers the look-ups use, for the summary (set once
    /// `--nameserver cluster` is resolved to addresses).
    #[arg(skip)]
    pub dns_note: Option<String>,
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
}

#[derive(Debug, Args)]
pub struct DeployCmd {
    #[command(flatten)]
    pub render: RenderArgs,

    /// Chart version to deploy, or `latest` (the newest development release,
    /// after refreshing the repository). Default: the version already deployed.
    #[arg(long = "version", id = "chart_version", value_name = "VERSION")]
    pub version: Option<String>,

    /// Extra values file for Helm, after secret.yaml and _binder.yaml; repeatable.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,

    /// The file holding the registry credentials.
    #[arg(long, value_name = "FILE", default_value = "secret.yaml")]
    pub secret: PathBuf,

    /// The chart to deploy.
    #[arg(long, value_name = "CHART", default_value = "jupyterhub/binderhub", value_parser = names::tool_word)]
    pub chart: String,

    /// URL of the `jupyterhub` chart repository, added when missing.
    #[arg(long, value_name = "URL", env = "BINDERCTL_CHART_REPO_URL", default_value = DEFAULT_CHART_REPO_URL)]
    pub chart_repo_url: String,

    /// How long to wait, in total, for every deployment to roll out, e.g.
    /// 10m, 90s.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = positive_duration)]
    pub wait_timeout: String,

    /// Print the commands that would run, run nothing that changes the cluster.
    #[arg(long)]
    pub dry_run: bool,

    /// Show what the upgrade would change in the release's values (secrets
    /// masked) and ask before upgrading.
    #[arg(long)]
    pub diff: bool,

    /// With --diff: do not ask before upgrading.
    #[arg(short = 'y', long, requires = "diff")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct VersionsCmd {
    /// Show at most this many versions.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// The chart whose versions to list.
    #[arg(long, value_name = "CHART", default_value = "jupyterhub/binderhub", value_parser = names::tool_word)]
    pub chart: String,

    /// Refresh the chart's repository first (`helm repo update`).
    #[arg(long)]
    pub update: bool,

    #[command(flatten)]
    pub output: OutputArgs,
    /// URL of the `jupyterhub` chart repository, added when Helm does not know it.
    #[arg(long, value_name = "URL", env = "BINDERCTL_CHART_REPO_URL", default_value = DEFAULT_CHART_REPO_URL)]
    pub chart_repo_url: String,
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
    #[command(after_help = "Examples:\n  \
        binderctl pods ls\n  \
        binderctl pods ls jupyter- --older-than 2h\n  \
        binderctl pods ls -o name | xargs microk8s kubectl describe -n binder")]
    Ls {
        /// Only pods whose name starts with this, e.g. jupyter-.
        #[arg(value_parser = names::pod_prefix)]
        prefix: Option<String>,
        #[command(flatten)]
        selection: PodSelection,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete the pods whose name starts with PREFIX (e.g. jupyter-).
    #[command(after_help = "Examples:\n  \
        binderctl pods purge jupyter- --older-than 2h\n  \
        binderctl pods purge jupyter-alice -l component=singleuser-server --yes\n  \
        binderctl pods purge jupyter- --dry-run")]
    Purge {
        /// Delete pods whose name starts with this, e.g. jupyter-.
        #[arg(value_parser = names::pod_prefix)]
        prefix: String,
        #[command(flatten)]
        selection: PodSelection,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print the commands that would run, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Pods per `kubectl delete pod` call (default: split evenly over
        /// the 4 calls that run at once, 50 to 500 each).
        #[arg(long, value_name = "N")]
        batch_size: Option<NonZeroUsize>,
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

/// Which nodes a node-level command acts on: this one (the default), or
/// others through helper pods (`--node`, `--all-nodes`).
#[derive(Debug, Clone, Default, Args)]
pub struct NodeTargets {
    /// Act on this node through a helper pod (repeatable), instead of on
    /// the node binderctl runs on.
    #[arg(long = "node", value_name = "NAME", value_parser = names::node)]
    pub nodes: Vec<String>,

    /// Act on every Ready node through helper pods.
    #[arg(long, conflicts_with = "nodes")]
    pub all_nodes: bool,

    /// Image of the helper pods: a small image that has nsenter.
    #[arg(long, value_name = "IMAGE", default_value = crate::cluster::node_helper::DEFAULT_IMAGE,
          value_parser = names::image)]
    pub helper_image: String,

    /// Namespace for the helper pods. Default: the BinderHub's
    /// (BINDERCTL_NAMESPACE, else binder).
    #[arg(long, value_name = "NS", value_parser = names::namespace)]
    pub helper_namespace: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCmd {
    /// List container images on this node, optionally only those matching PATTERN.
    #[command(after_help = "Examples:\n  \
        binderctl images ls\n  \
        binderctl images ls -E ':old$' -o name\n  \
        binderctl images ls binder- --all-nodes")]
    Ls {
        /// Only images whose reference contains this (a regular expression with -E).
        pattern: Option<String>,
        #[command(flatten)]
        matching: ImageMatch,
        #[command(flatten)]
        targets: NodeTargets,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Remove the container images on this node that match PATTERN.
    #[command(after_help = "Examples:\n  \
        binderctl images rm teaching --dry-run\n  \
        binderctl images rm -E '^registry.example/lab/binder-.*:old' --yes\n  \
        binderctl images rm teaching --all-nodes       # or --node worker-1 --node worker-2")]
    Rm {
        /// Remove images whose reference contains this (a regular expression with -E).
        pattern: String,
        #[command(flatten)]
        matching: ImageMatch,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print the commands that would run, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Images per `ctr images rm` call (default: split evenly over the
        /// 4 calls that run at once, 50 to 500 each).
        #[arg(long, value_name = "N")]
        batch_size: Option<NonZeroUsize>,
        /// Also remove system images (pause, the hub's own, Kubernetes' and
        /// MicroK8s' images), which are kept back otherwise.
        #[arg(long)]
        include_system: bool,
        /// Also remove images that containers on this node use, which are
        /// kept back otherwise.
        #[arg(long)]
        include_in_use: bool,
        #[command(flatten)]
        targets: NodeTargets,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCmd {
    /// Show the namespace's ResourceQuota usage.
    #[command(after_help = "Examples:\n  \
        binderctl quota show\n  \
        binderctl quota show -n staging -o json")]
    Show {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Check and apply a ResourceQuota manifest to the namespace.
    #[command(after_help = "Examples:\n  \
        binderctl quota apply\n  \
        binderctl quota apply -f resource-quota.yaml --dry-run")]
    Apply {
        /// The ResourceQuota manifest to apply.
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
    #[command(after_help = "Examples:\n  \
        binderctl storage ls\n  \
        binderctl storage ls -o wide")]
    Ls {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Check and apply a StorageClass manifest.
    #[command(after_help = "Examples:\n  \
        binderctl storage apply\n  \
        binderctl storage apply -f local-storage-dir.yaml --dry-run")]
    Apply {
        /// The StorageClass manifest to apply.
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
    #[command(after_help = "Examples:\n  \
        binderctl dashboard token\n  \
        binderctl dashboard token --duration 8h --service-account admin --account-namespace kube-system")]
    Token {
        /// How long the token is valid.
        #[arg(long, value_name = "DURATION", default_value = "2000h")]
        duration: String,
        /// Service account the token is for.
        #[arg(long, value_name = "NAME", default_value = "default", value_parser = names::object)]
        service_account: String,
        /// Namespace of the service account.
        #[arg(long, value_name = "NS", default_value = "default", value_parser = names::namespace)]
        account_namespace: String,
    },
    /// Forward the Dashboard to a local port (runs until interrupted).
    #[command(after_help = "Examples:\n  \
        binderctl dashboard forward                # then https://127.0.0.1:10024\n  \
        binderctl dashboard forward --port 8443 --address 0.0.0.0")]
    Forward {
        /// Local port to listen on.
        #[arg(long, default_value_t = 10024)]
        port: u16,
        /// Address to listen on; 0.0.0.0 exposes it to the network.
        #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
        address: String,
        /// Namespace of the Dashboard service. Default: the add-on's, found
        /// by looking (kubernetes-dashboard since MicroK8s 1.33, kube-system before).
        #[arg(long, value_name = "NS", value_parser = names::namespace)]
        dashboard_namespace: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum NodesCmd {
    /// List the cluster's nodes.
    #[command(after_help = "Examples:\n  \
        binderctl nodes ls\n  \
        binderctl nodes ls -o name")]
    Ls {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show each node's disk: image and node filesystem size and free space
    /// (from the kubelet's stats, no privilege needed).
    #[command(after_help = "Examples:\n  \
        binderctl nodes disk\n  \
        binderctl nodes disk -o json")]
    Disk {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Print the command to run on a new node to join this cluster (MicroK8s).
    #[command(after_help = "Examples:\n  \
        binderctl nodes add\n  \
        binderctl nodes add --worker")]
    Add {
        /// Join the new node as a worker, without the control plane.
        #[arg(long)]
        worker: bool,
    },
    /// Remove a node from the cluster (MicroK8s).
    #[command(after_help = "Examples:\n  \
        binderctl nodes remove u24worker          # after `microk8s leave` on that node\n  \
        binderctl nodes remove u24worker --force --yes")]
    Remove {
        /// The node to remove, as `binderctl nodes ls` names it.
        #[arg(value_parser = names::node)]
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
    #[command(after_help = "Examples:\n  \
        sudo binderctl nodes reserve\n  \
        sudo binderctl nodes reserve --cpu 1 --memory 512Mi --ephemeral-storage 10Gi --dry-run\n  \
        binderctl nodes reserve --all-nodes     # each node in turn, restarting its kubelet")]
    Reserve {
        /// CPU to reserve, e.g. 1 or 500m (each for the kubelet and the system).
        #[arg(long, value_name = "CPU", default_value = "1")]
        cpu: String,
        /// Memory to reserve, e.g. 512Mi.
        #[arg(long, value_name = "QUANTITY", default_value = "512Mi")]
        memory: String,
        /// Local disk to reserve, e.g. 10Gi.
        #[arg(long, value_name = "QUANTITY", default_value = "10Gi")]
        ephemeral_storage: String,
        /// The kubelet's settings: MicroK8s' arguments file (default
        /// /var/snap/microk8s/current/args/kubelet) or, with --tools plain,
        /// kubeadm's KubeletConfiguration (default /var/lib/kubelet/config.yaml).
        #[arg(long, value_name = "PATH")]
        kubelet_args: Option<PathBuf>,
        /// Show the change, write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        targets: NodeTargets,
        /// With --node/--all-nodes: how long each node may take to be Ready
        /// again after its kubelet restarts, e.g. 5m.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = positive_duration)]
        ready_timeout: String,
        /// With --node/--all-nodes: do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Set the kubelet's image garbage collection: the disk usage at which
    /// it removes unused images, down to which, and how long an unused image
    /// may stay.
    ///
    /// The thresholds are percentages of the image filesystem (the kubelet's
    /// defaults: 85 and 80). --max-age needs kubelet 1.29 or later and a
    /// KubeletConfiguration file (kubeadm's config.yaml): the kubelet has no
    /// flag for it, so MicroK8s' arguments file cannot take it.
    #[command(after_help = "Examples:\n  \
        sudo binderctl nodes gc --high 80 --low 70 --dry-run\n  \
        binderctl nodes gc --all-nodes --high 80 --low 70   # node after node\n  \
        sudo binderctl --tools plain nodes gc --max-age 14d")]
    Gc {
        /// Disk usage (percent of the image filesystem) at which the kubelet
        /// starts removing unused images.
        #[arg(long, value_name = "PERCENT", default_value_t = 85)]
        high: u32,
        /// Disk usage (percent) down to which it removes them; below --high.
        #[arg(long, value_name = "PERCENT", default_value_t = 80)]
        low: u32,
        /// Also remove every image unused for longer than this, e.g. 14d
        /// (imageMaximumGCAge; kubelet 1.29 or later). Unset: left as it is.
        #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
        max_age: Option<String>,
        /// The kubelet's settings: MicroK8s' arguments file (default
        /// /var/snap/microk8s/current/args/kubelet) or, with --tools plain,
        /// kubeadm's KubeletConfiguration (default /var/lib/kubelet/config.yaml).
        #[arg(long, value_name = "PATH")]
        kubelet_args: Option<PathBuf>,
        /// Show the change, write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        targets: NodeTargets,
        /// With --node/--all-nodes: how long each node may take to be Ready
        /// again after its kubelet restarts, e.g. 5m.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = positive_duration)]
        ready_timeout: String,
        /// With --node/--all-nodes: do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct StatusCmd {
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct RbacCmd {
    /// Only the namespace's part (a Role and its binding): what a namespace
    /// admin can grant; the cluster part (nodes, StorageClasses,
    /// namespaces, the chart's cluster-wide objects) is left out.
    #[arg(long)]
    pub namespace_only: bool,
    /// The ServiceAccount (in the BinderHub's namespace) the roles are for;
    /// its manifest is printed too.
    #[arg(long, value_name = "NAME", default_value = "binderctl", value_parser = names::object,
          conflicts_with_all = ["user", "group"])]
    pub service_account: String,
    /// A user (as the API server authenticates it) instead of a ServiceAccount.
    #[arg(long, value_name = "NAME", conflicts_with = "group")]
    pub user: Option<String>,
    /// A group instead of a ServiceAccount.
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Where helper pods run (`--helper-namespace` of images, nodes and
    /// doctor), when not in the BinderHub's namespace.
    #[arg(long, value_name = "NS", value_parser = names::namespace)]
    pub helper_namespace: Option<String>,
    /// The name of the roles and bindings.
    #[arg(long, value_name = "NAME", default_value = "binderctl", value_parser = names::object)]
    pub name: String,
    /// yaml (for `kubectl apply -f -`) or json (a List).
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: ManifestFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManifestFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct UninstallCmd {
    /// Do not ask the operator to type the namespace name.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print the commands that would run, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DoctorCmd {
    /// The values file to check (hub_url, placeholders, egress policy).
    #[arg(short = 'i', long, value_name = "FILE", default_value = "binder.yaml")]
    pub input: PathBuf,
    /// The file holding the registry credentials.
    #[arg(long, value_name = "FILE", default_value = "secret.yaml")]
    pub secret: PathBuf,
    /// The rendered values file (is it older than the input?).
    #[arg(long, value_name = "FILE", default_value = "_binder.yaml")]
    pub rendered: PathBuf,
    /// Prefix of the system files read (/var/snap/microk8s/..., /etc/ufw/...),
    /// to inspect a mounted image.
    #[arg(long, value_name = "DIR", env = "BINDERCTL_ROOT", default_value = "/")]
    pub root: PathBuf,
    // With --node/--all-nodes, the node checks (firewall, kubelet
    // reservations, containerd's disk) run on those nodes instead of here.
    #[command(flatten)]
    pub targets: NodeTargets,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LogsCmd {
    /// hub, binder, proxy, user-scheduler (every replica, by label), or a
    /// pod's name.
    #[arg(default_value = "hub", value_name = "COMPONENT|POD")]
    pub target: String,
    /// Keep printing new lines until interrupted.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The previous container's logs (after a restart or a crash).
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Only lines newer than this, e.g. 10m, 1h.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only the last N lines (per container). Default: all.
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,
    /// Only this container (default: every container of the pod).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryCmd {
    /// Show at most this many revisions (the newest).
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max: u32,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct RollbackCmd {
    /// The revision to go back to (`binderctl history` lists them).
    /// Default: the newest earlier revision that deployed successfully.
    pub revision: Option<u64>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print the command that would run, roll back nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait, in total, for every deployment to roll out, e.g.
    /// 10m, 90s.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub wait_timeout: String,
}

#[derive(Debug, Args)]
pub struct DiffCmd {
    #[command(flatten)]
    pub render: RenderArgs,

    /// Extra values file, as given to deploy; repeatable.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,

    /// The file holding the registry credentials (masked in the diff).
    #[arg(long, value_name = "FILE", default_value = "secret.yaml")]
    pub secret: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum VolumesCmd {
    /// List the namespace's volume claims with size, age and the pod using each.
    #[command(after_help = "Examples:\n  \
        binderctl volumes ls\n  \
        binderctl volumes ls -o json | jq -r '.[] | select(.used_by == []) | .name'")]
    Ls {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete a volume claim and its data (never one in use, never the hub's).
    #[command(after_help = "Examples:\n  \
        binderctl volumes rm claim-alice\n  \
        binderctl volumes rm --prefix claim-course2023- --yes")]
    Rm {
        /// The claim to delete (with --prefix: every claim whose name starts with it).
        target: String,
        /// Treat TARGET as a name prefix.
        #[arg(long)]
        prefix: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print the commands that would run, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct ForwardCmd {
    /// Which service to forward.
    #[arg(value_enum, default_value = "proxy-public")]
    pub target: ForwardTarget,
    /// Local port to listen on.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on; 0.0.0.0 exposes it to the network.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub address: String,
}

#[derive(Debug, Args)]
pub struct InitCmd {
    /// Addresses MetalLB may hand out (FIRST-LAST or a CIDR); needed while
    /// MetalLB is not enabled.
    #[arg(long, value_name = "RANGE")]
    pub metallb_range: Option<String>,
    /// The storage add-on: openebs (the tutorial's, with iscsid and the
    /// local-storage-dir class) or hostpath (single node).
    #[arg(long, value_enum, default_value = "openebs")]
    pub storage: StorageAddon,
    /// The StorageClass manifest to apply (with --storage openebs).
    #[arg(long, value_name = "FILE", default_value = "local-storage-dir.yaml")]
    pub storage_class: PathBuf,
    /// URL of the `jupyterhub` chart repository, added when missing.
    #[arg(long, value_name = "URL", env = "BINDERCTL_CHART_REPO_URL", default_value = DEFAULT_CHART_REPO_URL)]
    pub chart_repo_url: String,
    /// The values template to write when it does not exist.
    #[arg(short = 'i', long, value_name = "FILE", default_value = "binder.yaml")]
    pub input: PathBuf,
    /// The credentials template to write (mode 600) when it does not exist.
    #[arg(long, value_name = "FILE", default_value = "secret.yaml")]
    pub secret: PathBuf,
    /// Print the commands that would run, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CheckCmd {
    /// BinderHub's address. Default: the external address of the service
    /// `binder` in the namespace.
    #[arg(long, value_name = "URL", value_parser = crate::health::urls::base_url)]
    pub url: Option<reqwest::Url>,
    /// JupyterHub's address (the hub's public one). Default: the external
    /// address of the service `proxy-public` in the namespace.
    #[arg(long, value_name = "URL", value_parser = crate::health::urls::base_url)]
    pub hub_url: Option<reqwest::Url>,
    /// Also build and launch this GitHub repository through BinderHub
    /// (REF: a branch, tag or commit; default HEAD), time it to ready, and
    /// stop the server again.
    #[arg(long, value_name = "OWNER/REPO[@REF]", value_parser = crate::health::spec::RepoSpec::parse)]
    pub launch: Option<crate::health::spec::RepoSpec>,
    /// The most the checks and the launch may take together, e.g. 10m, 90s.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = timeout)]
    pub timeout: Duration,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where the registry, its credentials and the image prefix come from,
/// shared by `registry ls` and `registry prune`.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// The values file whose config.BinderHub.image_prefix names the images
    /// (not read with --prefix).
    #[arg(
        short = 'i',
        long = "input",
        visible_alias = "values",
        value_name = "FILE",
        default_value = "binder.yaml"
    )]
    pub input: PathBuf,
    /// The image prefix, instead of the values file's (e.g. lab/binder- on
    /// Docker Hub, registry.example/binder- elsewhere).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// The file with registry.username, registry.password and registry.url.
    /// Default: secret.yaml, when it exists.
    #[arg(long, value_name = "FILE")]
    pub secret: Option<PathBuf>,
    /// The registry's URL. Default: registry.url of the secret file, else
    /// https://HOST of the image prefix; with Docker Hub, its API's.
    #[arg(
        long,
        value_name = "URL",
        env = "BINDERCTL_REGISTRY_URL",
        hide_env_values = true
    )]
    pub registry_url: Option<String>,
    /// The registry's API. Default: docker-hub when the image prefix names
    /// no registry host, v2 otherwise.
    #[arg(long, value_enum, value_name = "API")]
    pub api: Option<RegistryApi>,
    /// The registry user, instead of the secret file's registry.username.
    /// The password comes from BINDERCTL_REGISTRY_PASSWORD or the secret
    /// file, never from an option.
    #[arg(
        long,
        value_name = "NAME",
        env = "BINDERCTL_REGISTRY_USERNAME",
        hide_env_values = true
    )]
    pub username: Option<String>,
    /// How long one request to the registry may take, e.g. 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = timeout)]
    pub timeout: Duration,
    /// How many times to send again a request that failed for a passing
    /// reason (timeout, 429, server error).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_RETRIES)))]
    pub retries: u32,
    /// The time to take as now, in Unix seconds (for tests).
    #[arg(long, env = "BINDERCTL_NOW", value_name = "SECONDS", hide = true)]
    pub now: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegistryApi {
    /// Docker Hub's repository and tag API.
    DockerHub,
    /// The Docker Registry HTTP API v2 (a self-hosted registry, Harbor,
    /// GitLab, ...).
    V2,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCmd {
    /// List the repositories and tags under the image prefix, newest first,
    /// with push date and size.
    #[command(after_help = "Examples:\n  \
        binderctl registry ls\n  \
        binderctl registry ls --older-than 90d -o name\n  \
        binderctl registry ls --prefix registry.example/binder- --registry-url http://registry.example:5000")]
    Ls {
        #[command(flatten)]
        registry: RegistryArgs,
        /// Only tags pushed longer ago than this, e.g. 30d, 12h.
        #[arg(long, value_name = "DURATION", value_parser = any_duration)]
        older_than: Option<Duration>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete the tags pushed longer ago than --older-than, keeping the
    /// newest --keep of each repository; only under the image prefix.
    #[command(after_help = "Examples:\n  \
        binderctl registry prune --older-than 30d --dry-run\n  \
        binderctl registry prune --older-than 90d --keep 3 --yes")]
    Prune {
        #[command(flatten)]
        registry: RegistryArgs,
        /// Delete only tags pushed longer ago than this, e.g. 30d, 12h.
        #[arg(long, value_name = "DURATION", value_parser = any_duration)]
        older_than: Duration,
        /// Always keep the newest N tags of each repository.
        #[arg(long, value_name = "N", default_value_t = 1)]
        keep: usize,
        /// Print the requests that would be sent, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Deletions under way at once.
        #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
        parallel: u16,
    },
}

/// A duration in the one grammar of every duration option; zero allowed.
fn any_duration(text: &str) -> Result<Duration, String> {
    crate::cluster::duration::parse_duration(text).map_err(|e| format!("{e:#}"))
}

/// Commands that do not use the BinderHub's namespace, with the flag that
/// names theirs (if any): `-n` is not offered there, and refused with a
/// pointer to the right flag.
const NO_NAMESPACE: &[(&str, &str)] = &[
    ("render", "render reads and writes files only"),
    (
        "images",
        "images works on containerd's namespace: use --containerd-namespace",
    ),
    (
        "dashboard",
        "dashboard uses its own namespaces: use --account-namespace (token) or \
         --dashboard-namespace (forward)",
    ),
    ("storage", "StorageClasses belong to no namespace"),
    ("nodes", "nodes belong to no namespace"),
    ("completion", "completion prints a script only"),
    ("man", "man prints the manual page only"),
    ("registry", "the registry is outside the cluster"),
    (
        "init",
        "init prepares the machine and the cluster, not a namespace",
    ),
];

/// The whole command-line definition: the derived one, with the last of a
/// repeated single-valued option winning (as in kubectl, helm, rg, fd), and
/// without `-n` where it would mean nothing.
/// The subcommands by task, as kubectl groups its own: `--help` lists them
/// under these headings in this order, which is also the order of the
/// definitions above (so of the man page and the completions) and of the
/// README's table.
pub const COMMAND_GROUPS: &[(&str, &[&str])] = &[
    ("Set up", &["init", "rbac"]),
    (
        "Configure and deploy",
        &[
            "render",
            "diff",
            "deploy",
            "versions",
            "history",
            "rollback",
            "uninstall",
        ],
    ),
    ("Egress", &["egress", "whitelist"]),
    ("Users", &["pods", "volumes", "quota"]),
    (
        "Nodes, images and the registry",
        &["nodes", "images", "registry", "storage"],
    ),
    (
        "Look and fix",
        &["status", "check", "doctor", "logs", "forward", "dashboard"],
    ),
    ("Shell", &["completion", "man"]),
];

/// The command list of `binderctl --help`: each group's heading, then its
/// commands with their one-line descriptions (clap has one "Commands:"
/// list only).
fn grouped_commands(cmd: &clap::Command) -> String {
    let width = COMMAND_GROUPS
        .iter()
        .flat_map(|(_, names)| names.iter().map(|n| n.len()))
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (heading, names) in COMMAND_GROUPS {
        text.push_str(&format!("{heading}:\n"));
        for name in *names {
            let about = cmd
                .find_subcommand(name)
                .and_then(|sub| sub.get_about())
                .map(ToString::to_string)
                .unwrap_or_default();
            text.push_str(&format!("  {name:<width$}  {about}\n"));
        }
        text.push('\n');
    }
    text
}

pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    let groups = grouped_commands(&cmd);
    cmd = cmd.help_template(format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{groups}Options:\n{{options}}{{after-help}}"
    ));
    for (name, reason) in NO_NAMESPACE {
        cmd = cmd.mut_subcommand(*name, |sub| sub.arg(namespace_refusal(reason)));
    }
    // mut_subcommand moves a subcommand to the end: put them back in the
    // groups' order, which the man page and the completions follow.
    for name in COMMAND_GROUPS.iter().flat_map(|(_, names)| names.iter()) {
        cmd = cmd.mut_subcommand(*name, |sub| sub);
    }
    override_self(cmd)
}

/// A hidden `-n/--namespace` that fails with `reason`; it takes the global
/// one's place on the subcommand (clap does not propagate a global argument
/// to a subcommand that has its own of the same id).
fn namespace_refusal(reason: &'static str) -> clap::Arg {
    clap::Arg::new("namespace")
        .short('n')
        .long("namespace")
        .global(true)
        .hide(true)
        .value_parser(move |_: &str| -> Result<String, String> {
            Err(format!("-n/--namespace is not used here: {reason}"))
        })
}

fn override_self(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut cmd = cmd.args_override_self(true);
    for name in names {
        cmd = cmd.mut_subcommand(name, override_self);
    }
    cmd
}

/// Parse the process's arguments (exits with clap's message on an error).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Parse `argv` (for tests).
pub fn try_parse_from<I, T>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(argv)?;
    Cli::from_arg_matches(&matches)
}

/// `-o` of render and deploy names a file; a bare format name is what a
/// kubectl user types for a format, so it is refused rather than written.
fn output_file(text: &str) -> Result<PathBuf, String> {
    if OutputFormat::from_str(text, true).is_ok() {
        return Err(format!(
            "{text:?} is a format name, but -o here is the values file to write; use \
             --stdout to print the YAML, or -o ./{text} for a file of that name"
        ));
    }
    Ok(PathBuf::from(text))
}

/// `--request-timeout`: a duration from 1s (less would fail healthy
/// requests) to a day, or 0 for no limit.
fn request_timeout(text: &str) -> Result<Duration, String> {
    let duration = crate::cluster::duration::parse_duration(text).map_err(|e| format!("{e:#}"))?;
    if duration > Duration::from_secs(86_400) {
        return Err("at most a day (e.g. 30s, 2m; 0 for no limit)".to_string());
    }
    if !duration.is_zero() && duration < Duration::from_secs(1) {
        return Err("at least 1s (e.g. 30s, 2m; 0 for no limit)".to_string());
    }
    Ok(duration)
}

/// `--timeout`: a duration in the one grammar of every duration option
/// (5s, 500ms, 1m, or a bare number of seconds), more than zero.
fn timeout(text: &str) -> Result<Duration, String> {
    let duration = crate::cluster::duration::parse_duration(text).map_err(|e| format!("{e:#}"))?;
    if duration.is_zero() {
        return Err("the timeout must be more than zero (e.g. 5s)".to_string());
    }
    Ok(duration)
}

#[derive(Debug, Subcommand)]
pub enum EgressCmd {
    /// Resolve, merge and apply the NetworkPolicy binderctl-egress
    /// (allow_list_mode: policy); no Helm, nothing restarts.
    #[command(after_help = "Examples:\n  \
        binderctl egress apply\n  \
        binderctl egress apply --dry-run\n  \
        binderctl egress apply --grace 48h -i lab.yaml")]
    Apply(EgressApplyCmd),
    /// Compare fresh lookups with what the cluster enforces: exit 0 when
    /// nothing needs doing, 1 when an apply (or deploy) would change it, 2 on
    /// errors.
    #[command(after_help = "Examples:\n  \
        binderctl egress check\n  \
        binderctl egress check --quiet || binderctl egress apply")]
    Check(EgressCheckCmd),
    /// What the policy enforces now, by source, with ages.
    #[command(after_help = "Examples:\n  \
        binderctl egress show\n  \
        binderctl egress show -o json")]
    Show(EgressShowCmd),
    /// Prove the cluster enforces the allow-list: a short-lived probe pod
    /// with the user pods' labels resolves a listed host, reaches it on 443,
    /// fails to reach an address outside the list, and reaches the hub; exit
    /// 1 when a probe fails, naming the likely cause.
    #[command(after_help = "Examples:\n  \
        binderctl egress verify --blocked-address 203.0.113.10\n  \
        binderctl egress verify --blocked-address 203.0.113.10 --host files.example\n  \
        binderctl egress verify --blocked-address 203.0.113.10 --dry-run")]
    Verify(EgressVerifyCmd),
    /// Keep the allow-list fresh without a person: a systemd timer and
    /// service on this node (the control-plane node) that run `binderctl
    /// egress apply --quiet` with this binary and these options.
    #[command(after_help = "Examples:\n  \
        sudo binderctl egress schedule --every 15m\n  \
        binderctl egress schedule --every auto --dry-run\n  \
        sudo binderctl egress schedule --remove")]
    Schedule(EgressScheduleCmd),
}

#[derive(Debug, Args)]
pub struct EgressScheduleCmd {
    /// How often: a duration (15m, 1h) or `auto` (the shortest DNS TTL the
    /// last apply saw, between 5 minutes and an hour).
    #[arg(long, value_name = "DURATION|auto", default_value = "15m")]
    pub every: String,
    /// Take the timer and service out.
    #[arg(long, conflicts_with = "every")]
    pub remove: bool,
    /// Print the unit files and the systemctl commands, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The values file the scheduled apply reads (made absolute).
    #[arg(short = 'i', long, value_name = "FILE", default_value = "binder.yaml")]
    pub input: PathBuf,
    /// The scheduled apply's grace period.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub grace: String,
    /// The scheduled apply's DNS servers (IP[:PORT], cluster or host);
    /// default: the cluster's, as for `egress apply`.
    #[arg(
        long = "nameserver",
        value_name = "IP[:PORT]|cluster|host",
        value_delimiter = ',',
        value_parser = nameserver_entry
    )]
    pub nameservers: Vec<String>,
    /// Prefix of the system files written (the units go under
    /// ROOT/etc/systemd/system; with a ROOT other than `/`, systemctl
    /// enables them offline, `systemctl --root`).
    #[arg(
        long,
        value_name = "DIR",
        env = "BINDERCTL_ROOT",
        default_value = "/",
        hide = true
    )]
    pub root: PathBuf,
}

#[derive(Debug, Args)]
pub struct EgressVerifyCmd {
    /// The values file naming the hosts (the first of domain_whitelist is probed).
    #[arg(short = 'i', long, value_name = "FILE", default_value = "binder.yaml")]
    pub input: PathBuf,
    /// A public address outside every list that answers on 443 (the probe
    /// must fail to reach it).
    #[arg(long, value_name = "IP")]
    pub blocked_address: std::net::IpAddr,
    /// The listed host to resolve and reach on 443. Default: the first of
    /// domain_whitelist.
    #[arg(long, value_name = "HOST", value_parser = names::tool_word)]
    pub host: Option<String>,
    /// The probe's image: it needs sh, nslookup and nc.
    #[arg(long, value_name = "IMAGE", default_value = crate::egress::probe::DEFAULT_IMAGE, value_parser = names::image)]
    pub image: String,
    /// Print the probe pod and the commands, run nothing.
    #[arg(long)]
    pub dry_run: bool,
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
    /// Also resolve every host through the host's resolver and through the
    /// cluster's (CoreDNS's forwarders), and report the hosts whose answers
    /// differ (a geo-DNS mismatch); a report, not a change.
    #[arg(long)]
    pub compare_resolvers: bool,
}

#[derive(Debug, Args)]
pub struct EgressShowCmd {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub grace: GraceArgs,
}

#[derive(Debug, Subcommand)]
pub enum WhitelistCmd {
    /// Would the rendered configuration let BinderHub build this repository?
    /// SPEC_OR_URL: a launch URL or path (`v2/gh/OWNER/REPO/REF`), a
    /// provider and spec (`gl/group/repo/HEAD`) or a repository URL.
    #[command(after_help = "Examples:\n  \
        binderctl whitelist check jupyterhub/binder-examples\n  \
        binderctl whitelist check https://gitlab.example/group/repo -f _lab.yaml")]
    Check {
        /// The repository: a launch URL or path, PROVIDER/SPEC, a URL, or OWNER/REPO.
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

    #[test]
    fn every_command_is_in_one_group_in_definition_order() {
        let cmd = command();
        let defined: Vec<&str> = cmd
            .get_subcommands()
            .map(|s| s.get_name())
            .filter(|n| *n != "help")
            .collect();
        let grouped: Vec<&str> = COMMAND_GROUPS
            .iter()
            .flat_map(|(_, names)| names.iter().copied())
            .collect();
        assert_eq!(grouped, defined);
        let help = cmd.clone().render_help().to_string();
        for (heading, names) in COMMAND_GROUPS {
            let at = help.find(&format!("{heading}:\n")).expect(heading);
            for name in *names {
                let line = help[at..]
                    .lines()
                    .find(|l| l.trim_start().starts_with(name));
                assert!(line.is_some_and(|l| l.len() > name.len() + 4), "{name}");
            }
        }
        assert!(!help.contains("Commands:"), "{help}");
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    /// Every command below `cmd`, with its path, depth first.
    fn all_commands(cmd: &clap::Command, path: &str, found: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{path} {}", sub.get_name());
            found.push((path.clone(), sub.clone()));
            all_commands(sub, &path, found);
        }
    }

    #[test]
    fn every_page_ends_with_examples_and_every_argument_is_described() {
        let mut cmd = command();
        cmd.build();
        let mut found = vec![("binderctl".to_string(), cmd.clone())];
        all_commands(&cmd, "binderctl", &mut found);
        for (path, sub) in &found {
            let examples = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(examples.starts_with("Examples:\n"), "{path}");
            let lines = examples.lines().skip(1).count();
            assert!((2..=3).contains(&lines), "{path}: {lines} examples");
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(
                    !help.trim().is_empty(),
                    "{path}: {} has no description",
                    arg.get_id()
                );
            }
        }
    }

    #[test]
    fn global_options_are_under_their_own_heading() {
        let cmd = command();
        for arg in cmd.get_arguments().filter(|a| a.is_global_set()) {
            assert_eq!(
                arg.get_help_heading(),
                Some(GLOBAL_HEADING),
                "{}",
                arg.get_id()
            );
        }
    }

    #[test]
    fn the_last_single_valued_option_wins_and_repeatable_ones_collect() {
        let cli = try_parse_from([
            "binderctl",
            "-n",
            "a",
            "render",
            "--fastly-url",
            "A",
            "--fastly-url",
            "B",
            "--nameserver",
            "192.0.2.53",
            "--nameserver",
            "192.0.2.54",
            "-n",
            "b",
        ]);
        // render refuses -n; the rest is checked on deploy.
        assert!(cli.is_err());
        let cli = try_parse_from([
            "binderctl",
            "-n",
            "a",
            "deploy",
            "--fastly-url",
            "A",
            "--fastly-url",
            "B",
            "--nameserver",
            "192.0.2.53",
            "--nameserver",
            "192.0.2.54",
            "-n",
            "b",
            "--dry-run",
            "--dry-run",
            "-f",
            "x.yaml",
            "-f",
            "y.yaml",
        ])
        .unwrap();
        assert_eq!(cli.global.namespace, "b");
        let Command::Deploy(deploy) = cli.command else {
            panic!("not deploy");
        };
        assert_eq!(deploy.render.fastly_url, "B");
        assert_eq!(deploy.render.nameservers, ["192.0.2.53", "192.0.2.54"]);
        assert_eq!(
            deploy.values,
            [PathBuf::from("x.yaml"), PathBuf::from("y.yaml")]
        );
    }

    #[test]
    fn timeouts_take_units_or_bare_seconds() {
        assert_eq!(timeout("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(timeout("5"), Ok(Duration::from_secs(5)));
        assert_eq!(timeout("0.3"), Ok(Duration::from_millis(300)));
        assert_eq!(timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(timeout("1m30s"), Ok(Duration::from_secs(90)));
        for bad in ["0", "0s", "0ms", "-1", "5x", "", "1hms", "ms"] {
            assert!(timeout(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_timeouts_are_a_second_to_a_day_or_none() {
        assert_eq!(request_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(request_timeout("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(request_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(request_timeout("0s"), Ok(Duration::ZERO));
        for bad in ["500ms", "2d", "-1", "5x", ""] {
            assert!(request_timeout(bad).is_err(), "{bad:?}");
        }
        let cli = Cli::try_parse_from(["binderctl", "status"]).unwrap();
        assert_eq!(cli.global.request_timeout, Duration::from_secs(30));
    }

    #[test]
    fn a_format_name_is_not_an_output_file() {
        assert!(output_file("json").is_err());
        assert!(output_file("YAML").is_err());
        assert_eq!(output_file("./json"), Ok(PathBuf::from("./json")));
        assert_eq!(output_file("_lab.yaml"), Ok(PathBuf::from("_lab.yaml")));
    }

    /// clap checks a subcommand only when it is parsed, so parse each one.
    #[test]
    fn every_subcommand_parses_its_help() {
        let cmd = command();
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
                let err = try_parse_from(&argv).unwrap_err();
                assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{path:?}");
            }
        }
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut argv = vec!["binderctl"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
    }

    #[test]
    fn names_handed_to_tools_are_checked_before_anything_runs() {
        for argv in [
            &[
                "--namespace=-lkubernetes.io/metadata.name",
                "uninstall",
                "--yes",
            ][..],
            &["-n", "Binder", "status"],
            &["--release=--all", "status"],
            &["--release=-x", "status"],
            &["nodes", "remove", "--", "-x"],
            &["nodes", "remove", "Node_1"],
            &["pods", "purge", "--", "-l"],
            &["dashboard", "token", "--account-namespace=-A"],
            &["deploy", "--chart=--set=x"],
        ] {
            let err = parse(argv).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{argv:?}"
            );
        }
        assert!(parse(&["-n", "lab-2", "--release", "bh.v2", "status"]).is_ok());
    }

    #[test]
    fn retries_wait_timeout_and_nameservers_are_bounded() {
        assert!(parse(&["render", "--retries", "10"]).is_ok());
        assert!(parse(&["render", "--retries", "11"]).is_err());
        assert!(parse(&["deploy", "--wait-timeout", "0"]).is_err());
        assert!(parse(&["deploy", "--wait-timeout", "0s"]).is_err());
        assert!(parse(&["deploy", "--wait-timeout", "90s"]).is_ok());
        let err = parse(&["render", "--nameserver", ",,,"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("an empty entry"), "{err}");
        assert!(parse(&["render", "--nameserver", "192.0.2.53,"]).is_err());
        assert!(parse(&["render", "--nameserver", "192.0.2.53,[2001:db8::53]:5353"]).is_ok());
    }
}
