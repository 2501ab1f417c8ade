//! A fake cluster for integration tests: small `microk8s`, `kubectl`, `helm`
//! and `ctr` executables first (and alone) on PATH. Each one records the
//! argv it received and answers from a table of "argv prefix -> stdout,
//! stderr, exit code" (longest prefix wins; later answers replace earlier
//! ones with the same prefix). `microk8s kubectl|helm|ctr ...` answers like
//! the tool itself, so one table serves both tool flavors.
//!
//! The default answers are realistic recordings of a small BinderHub
//! deployment: `kubectl get pods -o json` with hub, proxy, binder,
//! user-scheduler, image-cleaner, a build pod and jupyter-* user pods;
//! `helm list -o json`; `helm search repo -o json`; `ctr images ls`;
//! services with LoadBalancer addresses; StorageClasses; ResourceQuotas.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// What one fake tool call recorded: the program, then its arguments.
pub type Call = Vec<String>;

/// A registry token in the pods' environment; must never be printed.
pub const SECRET_IN_POD_ENV: &str = "dckr_pat_FAKE-SECRET-0123456789";

/// The fake token `kubectl create token` answers with.
pub const FAKE_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpkZWZhdWx0In0.ZmFrZS1zaWduYXR1cmU";

const TOOLS: [&str; 4] = ["microk8s", "kubectl", "helm", "ctr"];

const FAKE_SCRIPT: &str = r#"#!/bin/sh
# Fake cluster tool for binderctl's tests: record argv, answer from a table.
PATH=/usr/bin:/bin
export PATH
tool=${0##*/}
US=$(printf '\037')
RS=$(printf '\036')
# One write per record: calls that run at once must not interleave.
rec=$tool
for a in "$@"; do rec=$rec$US$a; done
printf '%s%s\n' "$rec" "$RS" >> "$FAKE_DIR/calls.log"
# Opt-in behaviours (FakeCluster::require_in_flight, ::set_latency).
for hook in "$FAKE_DIR"/hooks/*.sh; do
  if [ -f "$hook" ]; then . "$hook"; fi
done
if [ "$tool" = microk8s ]; then
  # MicroK8s' wrappers' checks, in their order, on the fake snap's files.
  snap=$FAKE_DIR/snap
  case "$1" in
    add-node)
      # microk8s-add-node.wrapper: on stdout, exit 1.
      if [ -e "$snap/var/lock/clustered.lock" ]; then
        echo "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s add-node on the master."
        exit 1
      fi ;;
    kubectl|helm)
      if [ -e "$snap/var/lock/clustered.lock" ]; then
        echo "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s $1 on the master."
        exit 0
      fi
      if [ -e "$snap/var/lock/stopped.lock" ]; then
        echo "microk8s is not running, try microk8s start" >&2
        exit 1
      fi ;;
  esac
  case "$1" in
    kubectl|ctr)
      if [ ! -r "$snap/credentials/client.config" ] || [ -e "$snap/no-permission" ]; then
        echo "Insufficient permissions to access MicroK8s." >&2
        echo "You can either try again with sudo or add the user $USER to the 'microk8s' group:" >&2
        exit 1
      fi ;;
  esac
  if [ "$1" = ctr ] && [ -e "$snap/sudo-needs-password" ]; then
    echo "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper" >&2
    exit 1
  fi
  case "$1" in
    kubectl|helm|ctr) tool=$1; shift ;;
  esac
  if [ "$tool" = ctr ]; then
    # MicroK8s' wrapper runs `ctr --address=... --namespace k8s.io "$@"`.
    for a in "$@"; do
      case "$a" in
        -n|-n=*) echo "ctr: Cannot use two forms of the same flag: n namespace" >&2; exit 1 ;;
      esac
    done
    set -- --namespace k8s.io "$@"
  fi
fi
# Strict like the real tools: every flag must be one the real tool accepts
# for this subcommand (recorded from its --help in $FAKE_DIR/flags).
w1=; w2=; skip=; n=0
for a in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  if [ "$tool" = ctr ] && [ $n -eq 0 ]; then
    case "$a" in
      --namespace|-n|--address|-a) skip=1; continue ;;
      --namespace=*|--address=*|-n=*|-a=*) continue ;;
    esac
  fi
  case "$a" in -*) break ;; esac
  n=$((n+1))
  if [ $n -eq 1 ]; then w1=$a; else w2=$a; break; fi
done
flags=
for f in "$FAKE_DIR/flags/${tool}_${w1}_${w2}" "$FAKE_DIR/flags/${tool}_${w1}"; do
  if [ -n "$w1" ] && [ -f "$f" ]; then flags=$f; break; fi
done
if [ -z "$flags" ]; then
  echo "fake $tool: no accepted flags recorded for: $tool $w1 $w2" >&2
  exit 98
fi
for a in "$@"; do
  case "$a" in
    --) break ;;
    -?*)
      name=${a%%=*}
      if ! grep -qxF -- "$name" "$flags"; then
        case "$tool" in
          kubectl) printf "error: unknown flag: %s\nSee 'kubectl %s --help' for usage.\n" "$name" "$w1" >&2 ;;
          helm) echo "Error: unknown flag: $name" >&2 ;;
          ctr) echo "Incorrect Usage: flag provided but not defined: $name" >&2 ;;
          *) echo "Error: No such option: $name" >&2 ;;
        esac
        exit 1
      fi ;;
  esac
done
key=$tool
for a in "$@"; do key=$key$US$a; done
best=
bestlen=-1
for f in "$FAKE_DIR"/responses/*.key; do
  [ -f "$f" ] || continue
  k=$(cat "$f")
  case "$key" in
    "$k"|"$k$US"*)
      if [ "${#k}" -ge "$bestlen" ]; then best=${f%.key}; bestlen=${#k}; fi ;;
  esac
done
if [ -z "$best" ]; then
  echo "fake $tool: no recorded answer for: $tool $*" >&2
  exit 97
fi
if [ -f "$best.err" ]; then cat "$best.err" >&2; fi
if [ -f "$best.out" ]; then cat "$best.out"; fi
if [ -f "$best.sh" ]; then . "$best.sh"; fi
exit "$(cat "$best.code")"
"#;

/// `kubectl delete pod ... NAME...`: like kubectl with `-o name` and
/// `--ignore-not-found`, print `pod/NAME` for each pod that still exists.
const DELETE_POD_SCRIPT: &str = r#"
skip=
for a in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case "$a" in
    -n|--namespace|-o|--output|-l|--selector) skip=1 ;;
    -*|delete|pod|pods) ;;
    *) if grep -qxF -- "$a" "$FAKE_DIR/existing-pods"; then echo "pod/$a"; fi ;;
  esac
done
"#;

/// `ctr images rm REF...`: like ctr, print each removed ref; warn on stderr
/// (without failing) about refs that are not there.
const CTR_RM_SCRIPT: &str = r#"
skip=
for a in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case "$a" in
    -n|--namespace|-a|--address) skip=1 ;;
    -*|images|image|rm|remove) ;;
    *) if grep -qxF -- "$a" "$FAKE_DIR/existing-images"; then echo "$a"; else echo "WARN[0000] $a: image not found" >&2; fi ;;
  esac
done
"#;

/// `kubectl apply -f FILE`: print `kind/name configured` from the file.
const APPLY_SCRIPT: &str = r#"
file=
prev=
for a in "$@"; do
  if [ "$prev" = -f ] || [ "$prev" = --filename ]; then file=$a; fi
  prev=$a
done
kind=$(sed -n 's/^kind: *//p' "$file" | head -n 1 | tr 'A-Z' 'a-z')
name=$(sed -n 's/^  name: *//p' "$file" | head -n 1)
echo "$kind/$name configured"
"#;

/// Hook for [`FakeCluster::require_in_flight`]: hold each call until the
/// wanted number of calls have started; fail when they do not come.
const IN_FLIGHT_HOOK: &str = r#"
read need steps < "$FAKE_DIR/in-flight"
mkdir -p "$FAKE_DIR/arrived"
mktemp "$FAKE_DIR/arrived/call.XXXXXX" > /dev/null
waited=0
while :; do
  arrived=$(ls "$FAKE_DIR/arrived" | wc -l)
  [ "$arrived" -ge "$need" ] && break
  if [ "$waited" -ge "$steps" ]; then
    echo "fake $tool: only $arrived of $need calls started together: the calls ran one after another" >&2
    exit 96
  fi
  sleep 0.05
  waited=$((waited+1))
done
"#;

/// Hook for [`FakeCluster::set_latency`]: end the call no sooner than the
/// latency after it started (the stand-in's own work counts inside it, so
/// the stand-in is not what is measured); record when it started and ended
/// (nanoseconds since the epoch) and its first words.
const LATENCY_HOOK: &str = r#"
started=$(date +%s%N)
latency_ns=$(cat "$FAKE_DIR/latency")
words="$tool $1 $2"
fake_latency_end() {
  left=$((started + latency_ns - $(date +%s%N)))
  if [ "$left" -gt 0 ]; then
    sleep "$((left / 1000000000)).$(printf '%09d' $((left % 1000000000)))"
  fi
  printf '%s %s %s\n' "$started" "$(date +%s%N)" "$words" >> "$FAKE_DIR/timings.log"
}
trap fake_latency_end EXIT
"#;

/// When one stand-in call started and ended, and its first words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub started_ns: u128,
    pub ended_ns: u128,
    pub words: String,
}

/// A MicroK8s state that its wrappers trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Microk8sState {
    /// Everything works (the default).
    ControlPlane,
    /// Joined as a worker (`clustered.lock`): `microk8s kubectl|helm` print
    /// a sentence on stdout and exit 0.
    Worker,
    /// `microk8s stop` was run (`stopped.lock`).
    Stopped,
    /// The user cannot read the credentials (not in the microk8s group).
    OutsideGroup,
    /// `microk8s ctr`'s sudo wants a password and there is no terminal.
    SudoNeedsPassword,
}

/// Flags every kubectl subcommand accepts (`kubectl options`, 1.35).
pub const KUBECTL_GLOBAL_FLAGS: &[&str] = &[
    "--as",
    "--as-group",
    "--as-uid",
    "--as-user-extra",
    "--cache-dir",
    "--certificate-authority",
    "--client-certificate",
    "--client-key",
    "--cluster",
    "--context",
    "--disable-compression",
    "--insecure-skip-tls-verify",
    "--kubeconfig",
    "--kuberc",
    "--log-flush-frequency",
    "--match-server-version",
    "--namespace",
    "--password",
    "--profile",
    "--profile-output",
    "--request-timeout",
    "--server",
    "--tls-server-name",
    "--token",
    "--user",
    "--username",
    "--v",
    "--vmodule",
    "--warnings-as-errors",
    "-n",
    "-s",
    "-v",
];

/// Helm's global flags that Helm 3.17 and Helm 4.1 both accept.
pub const HELM_GLOBAL_FLAGS: &[&str] = &[
    "--burst-limit",
    "--debug",
    "--help",
    "--kube-apiserver",
    "--kube-as-group",
    "--kube-as-user",
    "--kube-ca-file",
    "--kube-context",
    "--kube-insecure-skip-tls-verify",
    "--kube-tls-server-name",
    "--kube-token",
    "--kubeconfig",
    "--namespace",
    "--qps",
    "--registry-config",
    "--repository-cache",
    "--repository-config",
    "-h",
    "-n",
];

/// ctr's global options (containerd 1.6).
pub const CTR_GLOBAL_FLAGS: &[&str] = &[
    "--address",
    "--connect-timeout",
    "--debug",
    "--help",
    "--namespace",
    "--timeout",
    "-a",
    "-h",
    "-n",
];

/// The flags each subcommand binderctl uses accepts besides the global
/// ones, from the real tools' --help: kubectl 1.35; for Helm what 3.17 and
/// 4.1 both accept (so `helm list --all`, Helm 3 only, is refused); ctr
/// 1.6; MicroK8s' own commands from their source (add_token.py,
/// remove_node.py). `tests/conformance.rs` checks them against the real
/// tools' --help. A subcommand missing here is refused (exit 98).
pub const ACCEPTED_FLAGS: &[(&str, &[&str])] = &[
    (
        "kubectl get",
        &[
            "--all-namespaces",
            "--allow-missing-template-keys",
            "--chunk-size",
            "--field-selector",
            "--filename",
            "--ignore-not-found",
            "--kustomize",
            "--label-columns",
            "--no-headers",
            "--output",
            "--output-watch-events",
            "--raw",
            "--recursive",
            "--selector",
            "--server-print",
            "--show-kind",
            "--show-labels",
            "--show-managed-fields",
            "--sort-by",
            "--subresource",
            "--template",
            "--watch",
            "--watch-only",
            "-A",
            "-L",
            "-R",
            "-f",
            "-k",
            "-l",
            "-o",
            "-w",
        ],
    ),
    (
        "kubectl delete",
        &[
            "--all",
            "--all-namespaces",
            "--cascade",
            "--dry-run",
            "--field-selector",
            "--filename",
            "--force",
            "--grace-period",
            "--ignore-not-found",
            "--interactive",
            "--kustomize",
            "--now",
            "--output",
            "--raw",
            "--recursive",
            "--selector",
            "--timeout",
            "--wait",
            "-A",
            "-R",
            "-f",
            "-i",
            "-k",
            "-l",
            "-o",
        ],
    ),
    (
        "kubectl apply",
        &[
            "--all",
            "--allow-missing-template-keys",
            "--cascade",
            "--dry-run",
            "--field-manager",
            "--filename",
            "--force",
            "--force-conflicts",
            "--grace-period",
            "--kustomize",
            "--openapi-patch",
            "--output",
            "--overwrite",
            "--prune",
            "--prune-allowlist",
            "--recursive",
            "--selector",
            "--server-side",
            "--show-managed-fields",
            "--subresource",
            "--template",
            "--timeout",
            "--validate",
            "--wait",
            "-R",
            "-f",
            "-k",
            "-l",
            "-o",
        ],
    ),
    (
        "kubectl auth can-i",
        &[
            "--all-namespaces",
            "--list",
            "--no-headers",
            "--quiet",
            "--subresource",
        ],
    ),
    (
        "kubectl create token",
        &[
            "--allow-missing-template-keys",
            "--audience",
            "--bound-object-kind",
            "--bound-object-name",
            "--bound-object-uid",
            "--duration",
            "--output",
            "--show-managed-fields",
            "--template",
            "-o",
        ],
    ),
    (
        "kubectl create",
        &[
            "--allow-missing-template-keys",
            "--dry-run",
            "--edit",
            "--field-manager",
            "--filename",
            "--kustomize",
            "--output",
            "--raw",
            "--recursive",
            "--save-config",
            "--selector",
            "--show-managed-fields",
            "--template",
            "--validate",
            "--windows-line-endings",
            "-R",
            "-f",
            "-k",
            "-l",
            "-o",
        ],
    ),
    (
        "kubectl logs",
        &[
            "--all-containers",
            "--all-pods",
            "--container",
            "--follow",
            "--ignore-errors",
            "--insecure-skip-tls-verify-backend",
            "--limit-bytes",
            "--max-log-requests",
            "--pod-running-timeout",
            "--prefix",
            "--previous",
            "--selector",
            "--since",
            "--since-time",
            "--tail",
            "--timestamps",
            "-c",
            "-f",
            "-l",
            "-p",
        ],
    ),
    (
        "kubectl port-forward",
        &["--address", "--pod-running-timeout"],
    ),
    (
        "kubectl rollout status",
        &[
            "--filename",
            "--kustomize",
            "--recursive",
            "--revision",
            "--selector",
            "--timeout",
            "--watch",
            "-R",
            "-f",
            "-k",
            "-l",
            "-w",
        ],
    ),
    (
        "helm list",
        &[
            "--all-namespaces",
            "--date",
            "--deployed",
            "--failed",
            "--filter",
            "--max",
            "--no-headers",
            "--offset",
            "--output",
            "--pending",
            "--reverse",
            "--selector",
            "--short",
            "--superseded",
            "--time-format",
            "--uninstalled",
            "--uninstalling",
            "-A",
            "-d",
            "-f",
            "-l",
            "-m",
            "-o",
            "-q",
            "-r",
        ],
    ),
    (
        "helm search repo",
        &[
            "--devel",
            "--fail-on-no-result",
            "--max-col-width",
            "--output",
            "--regexp",
            "--version",
            "--versions",
            "-l",
            "-o",
            "-r",
        ],
    ),
    (
        "helm repo add",
        &[
            "--allow-deprecated-repos",
            "--ca-file",
            "--cert-file",
            "--force-update",
            "--insecure-skip-tls-verify",
            "--key-file",
            "--pass-credentials",
            "--password",
            "--password-stdin",
            "--username",
        ],
    ),
    ("helm repo update", &[]),
    ("helm repo list", &["--output", "-o"]),
    (
        "helm upgrade",
        &[
            "--ca-file",
            "--cert-file",
            "--cleanup-on-fail",
            "--create-namespace",
            "--dependency-update",
            "--description",
            "--devel",
            "--disable-openapi-validation",
            "--dry-run",
            "--enable-dns",
            "--hide-notes",
            "--hide-secret",
            "--history-max",
            "--insecure-skip-tls-verify",
            "--install",
            "--key-file",
            "--keyring",
            "--labels",
            "--no-hooks",
            "--output",
            "--pass-credentials",
            "--password",
            "--plain-http",
            "--post-renderer",
            "--post-renderer-args",
            "--render-subchart-notes",
            "--repo",
            "--reset-then-reuse-values",
            "--reset-values",
            "--reuse-values",
            "--set",
            "--set-file",
            "--set-json",
            "--set-literal",
            "--set-string",
            "--skip-crds",
            "--skip-schema-validation",
            "--take-ownership",
            "--timeout",
            "--username",
            "--values",
            "--verify",
            "--version",
            "--wait",
            "--wait-for-jobs",
            "-f",
            "-i",
            "-l",
            "-o",
        ],
    ),
    ("helm status", &["--output", "--revision", "-o"]),
    ("helm history", &["--max", "--output", "-o"]),
    (
        "helm rollback",
        &[
            "--cleanup-on-fail",
            "--dry-run",
            "--history-max",
            "--no-hooks",
            "--timeout",
            "--wait",
            "--wait-for-jobs",
        ],
    ),
    // MicroK8s' own commands, from their source (status.py, enable.py).
    (
        "microk8s status",
        &[
            "--addon",
            "--format",
            "--timeout",
            "--wait-ready",
            "-a",
            "-t",
            "-w",
        ],
    ),
    ("microk8s enable", &[]),
    // systemd's, for init's iscsid step.
    ("systemctl enable", &["--now"]),
    ("systemctl is-enabled", &[]),
    (
        "helm get values",
        &["--all", "--output", "--revision", "-a", "-o"],
    ),
    (
        "helm uninstall",
        &[
            "--cascade",
            "--description",
            "--dry-run",
            "--ignore-not-found",
            "--keep-history",
            "--no-hooks",
            "--timeout",
            "--wait",
        ],
    ),
    ("ctr images ls", &["--quiet", "-q"]),
    ("ctr images rm", &["--sync"]),
    ("ctr containers ls", &["--quiet", "-q"]),
    (
        "microk8s add-node",
        &[
            "--token-ttl",
            "-l",
            "--token",
            "-t",
            "--format",
            "--help",
            "-h",
        ],
    ),
    ("microk8s remove-node", &["--force", "--help"]),
];

/// The dashboard add-on's layout: MicroK8s 1.28-1.32 (`kube-system`),
/// 1.33 and later (`kubernetes-dashboard`, Kong proxy), or not enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashboardLayout {
    KubeSystem,
    KongProxy,
    None,
}

/// `ctr -n k8s.io containers ls` on the node: the system pods' containers
/// (pause sandboxes, the hub, Calico).
pub const CONTAINERS_TABLE: &str = "\
CONTAINER                                                           IMAGE                                   RUNTIME
0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d    images.test/pause:3.7                   io.containerd.runc.v2
1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e    images.test/jupyterhub/k8s-hub:3.3.7    io.containerd.runc.v2
2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f    images.test/calico/cni:v3.25.1          io.containerd.runc.v2
";
/// `kubectl get networkpolicy NAME ...`: the policy last applied from
/// stdin, or kubectl's NotFound answer.
const GET_NETPOL_SCRIPT: &str = r#"
f="$FAKE_DIR/networkpolicy-$3.json"
if [ -f "$f" ]; then cat "$f"; else
  echo "Error from server (NotFound): networkpolicies.networking.k8s.io \"$3\" not found" >&2; exit 1
fi
"#;

/// `kubectl apply -n binder -f -`: keep the NetworkPolicy read from stdin
/// (JSON as binderctl writes it) and answer as kubectl does.
const APPLY_STDIN_SCRIPT: &str = r#"
tmp="$FAKE_DIR/apply-stdin.json"
cat > "$tmp"
if ! grep -q '"kind": "NetworkPolicy"' "$tmp"; then
  echo "error: error validating \"STDIN\": expected a NetworkPolicy in this stand-in" >&2; exit 1
fi
name=$(sed -n 's/^    "name": "\(.*\)",\{0,1\}$/\1/p' "$tmp" | head -n 1)
f="$FAKE_DIR/networkpolicy-$name.json"
if [ -f "$f" ]; then verb=configured; else verb=created; fi
mv "$tmp" "$f"
echo "networkpolicy.networking.k8s.io/$name $verb"
"#;

/// `kubectl delete networkpolicy NAME ... [--ignore-not-found]`.
const DELETE_NETPOL_SCRIPT: &str = r#"
f="$FAKE_DIR/networkpolicy-$3.json"
if [ -f "$f" ]; then rm "$f"; echo "networkpolicy.networking.k8s.io \"$3\" deleted"
else
  case " $* " in *" --ignore-not-found "*) ;; *)
    echo "Error from server (NotFound): networkpolicies.networking.k8s.io \"$3\" not found" >&2; exit 1 ;;
  esac
fi
"#;

/// One pod of the fake cluster.
#[derive(Debug, Clone)]
pub struct FakePod {
    pub name: String,
    /// The `component` label (z2jh/BinderHub), if any.
    pub component: Option<String>,
    pub age: Duration,
    pub phase: String,
    pub ready: bool,
    pub restarts: u32,
}

impl FakePod {
    pub fn new(name: &str, component: Option<&str>, age: Duration) -> Self {
        FakePod {
            name: name.to_string(),
            component: component.map(str::to_string),
            age,
            phase: "Running".to_string(),
            ready: true,
            restarts: 0,
        }
    }

    /// A user pod (`component=singleuser-server`).
    pub fn user(name: &str, age: Duration) -> Self {
        FakePod::new(name, Some("singleuser-server"), age)
    }
}

pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(86_400);

/// The deployment's own pods in the default fake cluster.
pub const PROTECTED_PODS: [&str; 7] = [
    "hub-6d4f9c7b8-x2k9p",
    "proxy-5c5d8c6899-tgf2z",
    "binder-7456dd9f6-kmxjp",
    "user-scheduler-574bb59c5-q2vr4",
    "user-scheduler-574bb59c5-mwb8l",
    "binder-image-cleaner-8k2lq",
    "build-cram2-2dteaching-2dmaterial-7d1e5f-0a1-2c",
];

/// The user pods in the default fake cluster, with their ages.
pub fn default_user_pods() -> Vec<FakePod> {
    vec![
        FakePod::user("jupyter-cram2-2dteaching-2dmaterial-2dxkqz1y2a", 5 * HOUR),
        FakePod::user(
            "jupyter-cram2-2dteaching-2dmaterial-2dab12cd34",
            10 * MINUTE,
        ),
        FakePod::user("jupyter-intel4coro-2dpycram-2dp9a8b7c6", 3 * HOUR),
        FakePod::user("jupyter-hub-2dtools-2dq1w2e3r4", 26 * HOUR),
    ]
}

/// Every pod of the default fake cluster.
pub fn default_pods() -> Vec<FakePod> {
    let components = [
        "hub",
        "proxy",
        "binder",
        "user-scheduler",
        "user-scheduler",
        "image-cleaner",
        "binderhub-build",
    ];
    let mut pods: Vec<FakePod> = PROTECTED_PODS
        .iter()
        .zip(components)
        .map(|(name, component)| {
            let age = if component == "binderhub-build" {
                4 * MINUTE
            } else {
                30 * DAY
            };
            FakePod::new(name, Some(component), age)
        })
        .collect();
    pods.extend(default_user_pods());
    pods
}

pub struct FakeCluster {
    root: tempfile::TempDir,
    responses: usize,
}

impl FakeCluster {
    /// A fake cluster with all four tools and the default answers.
    pub fn new() -> Self {
        let mut fake = FakeCluster::bare();
        fake.set_pods(&default_pods());
        fake.respond_script(&["kubectl", "delete", "pod"], DELETE_POD_SCRIPT);
        fake.respond(&["kubectl", "get", "services"], SERVICES_JSON, 0);
        fake.respond(
            &["kubectl", "get", "deployments,statefulsets,daemonsets"],
            WORKLOADS_JSON,
            0,
        );
        fake.respond(&["kubectl", "get", "storageclass"], STORAGE_CLASSES_JSON, 0);
        fake.respond(
            &["kubectl", "get", "resourcequota"],
            RESOURCE_QUOTAS_JSON,
            0,
        );
        fake.respond_script(&["kubectl", "apply"], APPLY_SCRIPT);
        fake.respond_script(
            &["kubectl", "apply", "-n", "binder", "-f", "-"],
            APPLY_STDIN_SCRIPT,
        );
        fake.respond_script(&["kubectl", "get", "networkpolicy"], GET_NETPOL_SCRIPT);
        fake.respond_script(
            &["kubectl", "delete", "networkpolicy"],
            DELETE_NETPOL_SCRIPT,
        );
        fake.respond(
            &["kubectl", "create", "token"],
            &format!("{FAKE_TOKEN}\n"),
            0,
        );
        // No CoreDNS ConfigMap (as on a cluster without the dns add-on):
        // `--nameserver cluster`, the default of deploy and egress, falls
        // back to the host's resolver, never to a public one.
        fake.respond_full(
            &["kubectl", "get", "configmap", "coredns"],
            "",
            "Error from server (NotFound): configmaps \"coredns\" not found\n",
            1,
        );
        // The cluster's admin (MicroK8s' own kubeconfig) may do anything.
        fake.respond(&["kubectl", "auth", "can-i"], "yes\n", 0);
        fake.respond(&["kubectl", "get", "namespace"], NAMESPACE_JSON, 0);
        fake.respond(
            &["kubectl", "delete", "namespace"],
            "namespace \"binder\" deleted\n",
            0,
        );
        fake.respond(
            &["kubectl", "port-forward"],
            "Forwarding from 127.0.0.1:10024 -> 8443\n",
            0,
        );
        fake.respond(&["helm", "list"], HELM_LIST_JSON, 0);
        fake.respond(&["helm", "search", "repo"], HELM_SEARCH_JSON, 0);
        fake.respond(
            &["helm", "uninstall"],
            "release \"binder\" uninstalled\n",
            0,
        );
        fake.set_images(&default_images());
        fake.respond_script(
            &["ctr", "--namespace", "k8s.io", "images", "rm"],
            CTR_RM_SCRIPT,
        );
        fake.respond(
            &["ctr", "--namespace", "k8s.io", "containers", "ls"],
            CONTAINERS_TABLE,
            0,
        );
        fake.set_dashboard_layout(DashboardLayout::KubeSystem);
        fake
    }

    /// A fake cluster with all four tools and no answers at all: every call
    /// fails with exit code 97 until answers are added.
    pub fn bare() -> Self {
        let root = tempfile::tempdir().expect("temporary directory");
        for dir in [
            "bin",
            "responses",
            "work",
            "flags",
            "snap/credentials",
            "snap/var/lock",
        ] {
            std::fs::create_dir_all(root.path().join(dir)).expect("fake dir");
        }
        std::fs::write(
            root.path().join("snap/credentials/client.config"),
            "apiVersion: v1\nkind: Config\n",
        )
        .expect("fake credentials");
        for (command, flags) in ACCEPTED_FLAGS {
            let global = match command.split(' ').next() {
                Some("kubectl") => KUBECTL_GLOBAL_FLAGS,
                Some("helm") => HELM_GLOBAL_FLAGS,
                Some("ctr") => CTR_GLOBAL_FLAGS,
                _ => &[],
            };
            let list: String = global
                .iter()
                .chain(flags.iter())
                .map(|f| format!("{f}\n"))
                .collect();
            let name = command.replace(' ', "_");
            std::fs::write(root.path().join("flags").join(name), list).expect("flags");
        }
        std::fs::write(root.path().join("calls.log"), "").expect("calls log");
        let fake = FakeCluster { root, responses: 0 };
        for tool in TOOLS {
            fake.install_tool(tool);
        }
        fake
    }

    fn install_tool(&self, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.bin_dir().join(name);
        // The state folder is baked in, so the fakes work whatever
        // environment binderctl gives its children.
        let script = FAKE_SCRIPT.replacen(
            "PATH=/usr/bin:/bin\n",
            &format!(
                "FAKE_DIR='{}'\nPATH=/usr/bin:/bin\n",
                self.root.path().display()
            ),
            1,
        );
        std::fs::write(&path, script).expect("fake tool");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// Take a tool off PATH (to test the "not installed" error).
    pub fn remove_tool(&self, name: &str) {
        std::fs::remove_file(self.bin_dir().join(name)).expect("remove fake tool");
    }

    pub fn bin_dir(&self) -> PathBuf {
        self.root.path().join("bin")
    }

    /// The current directory binderctl runs in.
    pub fn work_dir(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// Write a file into the work directory; returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.work_dir().join(name);
        std::fs::write(&path, contents).expect("write work file");
        path
    }

    fn add_response(
        &mut self,
        prefix: &[&str],
        stdout: &str,
        stderr: &str,
        code: i32,
        script: Option<&str>,
    ) -> &mut Self {
        self.responses += 1;
        let base = self
            .root
            .path()
            .join("responses")
            .join(format!("{:04}", self.responses));
        let with = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
        std::fs::write(with("key"), prefix.join("\u{1f}")).expect("response key");
        std::fs::write(with("out"), stdout).expect("response stdout");
        std::fs::write(with("err"), stderr).expect("response stderr");
        std::fs::write(with("code"), code.to_string()).expect("response code");
        if let Some(script) = script {
            std::fs::write(with("sh"), script).expect("response script");
        }
        self
    }

    /// Answer calls starting with `prefix` (tool name first, without
    /// `microk8s`) with `stdout` and `exit_code`.
    pub fn respond(&mut self, prefix: &[&str], stdout: &str, exit_code: i32) -> &mut Self {
        self.add_response(prefix, stdout, "", exit_code, None)
    }

    /// Like [`FakeCluster::respond`], with stderr too.
    pub fn respond_full(
        &mut self,
        prefix: &[&str],
        stdout: &str,
        stderr: &str,
        exit_code: i32,
    ) -> &mut Self {
        self.add_response(prefix, stdout, stderr, exit_code, None)
    }

    /// Answer calls starting with `prefix` by running a shell snippet in the
    /// fake (test-only): `"$@"` are the tool's arguments, `$FAKE_DIR` its
    /// state folder. Exit code 0 unless the snippet exits.
    pub fn respond_script(&mut self, prefix: &[&str], script: &str) -> &mut Self {
        self.add_response(prefix, "", "", 0, Some(script))
    }

    /// Replace the cluster's pods: the `kubectl get pods` answer and the set
    /// of pods `kubectl delete pod` finds.
    pub fn set_pods(&mut self, pods: &[FakePod]) -> &mut Self {
        let names: String = pods.iter().map(|p| format!("{}\n", p.name)).collect();
        std::fs::write(self.root.path().join("existing-pods"), names).expect("existing pods");
        let json = serde_json::to_string_pretty(&pod_list_json(pods)).expect("pods json");
        self.respond(&["kubectl", "get", "pods"], &json, 0)
    }

    /// Make a pod disappear (deleted by someone else) after it was listed.
    pub fn forget_pod(&self, name: &str) {
        let path = self.root.path().join("existing-pods");
        let kept: String = std::fs::read_to_string(&path)
            .expect("existing pods")
            .lines()
            .filter(|line| *line != name)
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(path, kept).expect("existing pods");
    }

    /// Replace the node's images: the `ctr images ls` answer and the refs
    /// `ctr images rm` finds. Each image is (ref, digest, size).
    pub fn set_images(&mut self, images: &[(String, String, String)]) -> &mut Self {
        let refs: String = images.iter().map(|(r, _, _)| format!("{r}\n")).collect();
        std::fs::write(self.root.path().join("existing-images"), refs).expect("existing images");
        let table = ctr_table(images);
        self.respond(&["ctr", "--namespace", "k8s.io", "images", "ls"], &table, 0)
    }

    /// Which dashboard add-on the cluster has: `kubectl get service NAME`
    /// finds that layout's service and answers NotFound for the other.
    pub fn set_dashboard_layout(&mut self, layout: DashboardLayout) -> &mut Self {
        const LAYOUTS: [(&str, &str); 2] = [
            ("kube-system", "kubernetes-dashboard"),
            ("kubernetes-dashboard", "kubernetes-dashboard-kong-proxy"),
        ];
        let present = match layout {
            DashboardLayout::KubeSystem => Some(0),
            DashboardLayout::KongProxy => Some(1),
            DashboardLayout::None => None,
        };
        for (i, (namespace, service)) in LAYOUTS.iter().enumerate() {
            let prefix = ["kubectl", "get", "service", service, "-n", namespace];
            if present == Some(i) {
                self.respond(&prefix, &format!("service/{service}\n"), 0);
            } else {
                let stderr =
                    format!("Error from server (NotFound): services \"{service}\" not found\n");
                self.respond_full(&prefix, "", &stderr, 1);
            }
        }
        self
    }

    /// Put MicroK8s into a state its wrappers trap (see [`Microk8sState`]).
    pub fn set_microk8s_state(&self, state: Microk8sState) {
        let snap = self.snap_dir();
        let file = |name: &str| snap.join(name);
        for name in [
            "var/lock/clustered.lock",
            "var/lock/stopped.lock",
            "no-permission",
            "sudo-needs-password",
        ] {
            let _ = std::fs::remove_file(file(name));
        }
        let marker = match state {
            Microk8sState::ControlPlane => return,
            Microk8sState::Worker => "var/lock/clustered.lock",
            Microk8sState::Stopped => "var/lock/stopped.lock",
            Microk8sState::OutsideGroup => "no-permission",
            Microk8sState::SudoNeedsPassword => "sudo-needs-password",
        };
        std::fs::write(file(marker), "").expect("microk8s state");
    }

    fn add_hook(&self, name: &str, script: &str) {
        let hooks = self.root.path().join("hooks");
        std::fs::create_dir_all(&hooks).expect("hooks dir");
        std::fs::write(hooks.join(format!("{name}.sh")), script).expect("hook");
    }

    /// Opt-in: every call waits until `calls` calls have started (counting
    /// itself), and fails with exit 96 after `timeout` otherwise. A command
    /// whose first `calls` reads run one after another then fails; once that
    /// many have started, later calls pass at once.
    pub fn require_in_flight(&self, calls: usize, timeout: Duration) {
        let steps = timeout.as_millis().div_ceil(50);
        std::fs::write(
            self.root.path().join("in-flight"),
            format!("{calls} {steps}\n"),
        )
        .expect("in-flight");
        self.add_hook("in-flight", IN_FLIGHT_HOOK);
    }

    /// Opt-in: every call answers after `latency`, and records its start
    /// and end (see [`FakeCluster::timings`]).
    pub fn set_latency(&self, latency: Duration) {
        let nanos = format!("{}\n", latency.as_nanos());
        std::fs::write(self.root.path().join("latency"), nanos).expect("latency");
        self.add_hook("latency", LATENCY_HOOK);
    }

    /// The calls recorded since [`FakeCluster::set_latency`], by start.
    pub fn timings(&self) -> Vec<Timing> {
        let log = std::fs::read_to_string(self.root.path().join("timings.log")).unwrap_or_default();
        let mut timings: Vec<Timing> = log
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                Some(Timing {
                    started_ns: parts.next()?.parse().ok()?,
                    ended_ns: parts.next()?.parse().ok()?,
                    words: parts.next().unwrap_or_default().to_string(),
                })
            })
            .collect();
        timings.sort_by_key(|t| t.started_ns);
        timings
    }

    /// [`FakeCluster::calls`] in sorted order: for comparing the calls of
    /// a command that makes some at once, whose order is not fixed.
    pub fn sorted_calls(&self) -> Vec<Call> {
        let mut calls = self.calls();
        calls.sort();
        calls
    }

    /// Forget the recorded timings (between benchmark runs).
    pub fn clear_timings(&self) {
        let _ = std::fs::remove_file(self.root.path().join("timings.log"));
    }

    /// The fake MicroK8s' `$SNAP_DATA` (binderctl is pointed at it).
    pub fn snap_dir(&self) -> PathBuf {
        self.root.path().join("snap")
    }

    /// A binderctl command with the fake tools alone on PATH, a clean
    /// environment, stdin closed (not a terminal) and the work directory as
    /// its current directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_binderctl"));
        // Files binderctl keeps in the temporary folder (deploy --dry-run's
        // render) go with the fake cluster, not into the machine's /tmp.
        let tmp = self.root.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("temp folder");
        cmd.args(args)
            .env_clear()
            .env("PATH", self.bin_dir())
            .env("HOME", self.root.path())
            .env("TMPDIR", tmp)
            .env("BINDERCTL_MICROK8S_SNAP_DATA", self.snap_dir())
            // The calls are compared word for word: no kubectl
            // --request-timeout unless a test asks (tests/pods.rs checks
            // the default's).
            .env("BINDERCTL_REQUEST_TIMEOUT", "0")
            .current_dir(self.work_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Every call the fake tools received, in order, exactly as made
    /// (`["microk8s", "kubectl", "get", ...]`).
    pub fn calls(&self) -> Vec<Call> {
        let log = std::fs::read_to_string(self.root.path().join("calls.log")).expect("calls log");
        log.split('\u{1e}')
            .map(|record| record.strip_prefix('\n').unwrap_or(record))
            .filter(|record| !record.is_empty())
            .map(|record| record.split('\u{1f}').map(str::to_string).collect())
            .collect()
    }

    /// [`FakeCluster::calls`] with a leading `microk8s` dropped before
    /// kubectl, helm and ctr, so both tool flavors compare alike.
    pub fn normalized_calls(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .map(|call| match call.get(1).map(String::as_str) {
                Some("kubectl" | "helm" | "ctr")
                    if call.first().map(String::as_str) == Some("microk8s") =>
                {
                    call.into_iter().skip(1).collect()
                }
                _ => call,
            })
            .collect()
    }

    /// The normalized calls starting with `prefix`.
    pub fn calls_starting_with(&self, prefix: &[&str]) -> Vec<Call> {
        self.normalized_calls()
            .into_iter()
            .filter(|call| {
                call.len() >= prefix.len() && call.iter().zip(prefix).all(|(a, b)| a == b)
            })
            .collect()
    }

    /// The state folder (`$FAKE_DIR` in scripts).
    pub fn state_dir(&self) -> &Path {
        self.root.path()
    }

    /// Hold the NetworkPolicy `name` (JSON) as if applied.
    #[allow(dead_code)]
    pub fn set_network_policy(&self, name: &str, json: &str) {
        std::fs::write(
            self.root.path().join(format!("networkpolicy-{name}.json")),
            json,
        )
        .unwrap();
    }

    /// The NetworkPolicy `name` as last applied through `kubectl apply -f -`.
    pub fn network_policy(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.root.path().join(format!("networkpolicy-{name}.json"))).ok()
    }
}

/// Shorthand to turn `&["a", "b"]` into an owned call.
pub fn call(args: &[&str]) -> Call {
    args.iter().map(|s| s.to_string()).collect()
}

/// RFC 3339 UTC timestamp, `age` before now.
pub fn timestamp_ago(age: Duration) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let secs = now.saturating_sub(age.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-date, written out independently of binderctl's.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn pod_json(pod: &FakePod) -> Value {
    let mut labels = serde_json::Map::new();
    if let Some(component) = &pod.component {
        labels.insert("component".into(), json!(component));
        labels.insert("release".into(), json!("binder"));
        let app = if matches!(
            component.as_str(),
            "binder" | "image-cleaner" | "binderhub-build"
        ) {
            "binder"
        } else {
            "jupyterhub"
        };
        labels.insert("app".into(), json!(app));
    }
    if pod.component.as_deref() == Some("singleuser-server") {
        labels.insert("hub.jupyter.org/network-access-hub".into(), json!("true"));
        labels.insert("hub.jupyter.org/servername".into(), json!(""));
        labels.insert(
            "hub.jupyter.org/username".into(),
            json!(pod.name.trim_start_matches("jupyter-")),
        );
    }
    let created = timestamp_ago(pod.age);
    let container = if pod.component.as_deref() == Some("singleuser-server") {
        "notebook"
    } else {
        pod.component.as_deref().unwrap_or("main")
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": "binder",
            "uid": format!("0b8a1c2d-0000-4000-8000-{:012x}", pod.name.len()),
            "creationTimestamp": created,
            "labels": labels,
            "annotations": {"hub.jupyter.org/image": "registry.example/intel4coro/binder-image:0a1b2c3d"},
        },
        "spec": {
            "nodeName": "node1.example",
            "containers": [{
                "name": container,
                "image": "registry.example/intel4coro/binder-image:0a1b2c3d",
                "env": [
                    {"name": "JUPYTERHUB_API_TOKEN", "value": "0123456789abcdef-fake-api-token"},
                    {"name": "REGISTRY_PASSWORD", "value": SECRET_IN_POD_ENV},
                ],
                "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "100m", "memory": "512Mi"}},
            }],
        },
        "status": {
            "phase": pod.phase,
            "podIP": "198.51.100.20",
            "hostIP": "192.0.2.10",
            "startTime": created,
            "conditions": [
                {"type": "Ready", "status": if pod.ready { "True" } else { "False" }, "lastTransitionTime": created},
            ],
            "containerStatuses": [{
                "name": container,
                "ready": pod.ready,
                "restartCount": pod.restarts,
                "started": pod.ready,
                "image": "registry.example/intel4coro/binder-image:0a1b2c3d",
                "state": if pod.ready { json!({"running": {"startedAt": created}}) } else { json!({"waiting": {"reason": "ContainerCreating"}}) },
            }],
        },
    })
}

/// A `kubectl get pods -o json` answer.
pub fn pod_list_json(pods: &[FakePod]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": pods.iter().map(pod_json).collect::<Vec<_>>(),
        "metadata": {"resourceVersion": ""},
    })
}

fn digest(n: u32) -> String {
    format!("sha256:{:064x}", 0x5eed_0000u64 + u64::from(n))
}

/// The node's images: (ref, digest, size). Besides tags, containerd keeps a
/// `name@sha256:` ref per pulled image and a `sha256:<image id>` ref that
/// points at the same digest.
pub fn default_images() -> Vec<(String, String, String)> {
    let image = |r: &str, n: u32, size: &str| (r.to_string(), digest(n), size.to_string());
    vec![
        image("images.test/calico/cni:v3.25.1", 1, "85.5 MiB"),
        image("images.test/jupyterhub/k8s-hub:3.3.7", 2, "97.1 MiB"),
        image(
            "registry.example/intel4coro/binder-cram2-2dteaching-2dmaterial-7d1e5f:0a1b2c3d",
            3,
            "2.1 GiB",
        ),
        image(
            &format!(
                "registry.example/intel4coro/binder-cram2-2dteaching-2dmaterial-7d1e5f@{}",
                digest(3)
            ),
            3,
            "2.1 GiB",
        ),
        image(
            "registry.example/intel4coro/binder-cram2-2dteaching-2dmaterial-9f8e7d:4e5f6a7b",
            4,
            "2.3 GiB",
        ),
        image(
            "registry.example/intel4coro/binder-intel4coro-2dpycram-1a2b3c:5d6e7f8a",
            5,
            "3.0 GiB",
        ),
        image(&format!("sha256:{:064x}", 0xa11_0001u64), 1, "85.5 MiB"),
        image(&format!("sha256:{:064x}", 0xa11_0003u64), 3, "2.1 GiB"),
        image(&format!("sha256:{:064x}", 0xa11_0004u64), 4, "2.3 GiB"),
        image(&format!("sha256:{:064x}", 0xa11_0005u64), 5, "3.0 GiB"),
    ]
}

/// `ctr images ls` as ctr prints it: a header and space-padded columns.
pub fn ctr_table(images: &[(String, String, String)]) -> String {
    let media = "application/vnd.docker.distribution.manifest.v2+json";
    let rows: Vec<[String; 6]> = std::iter::once(
        ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"].map(str::to_string),
    )
    .chain(images.iter().map(|(r, d, s)| {
        [
            r.clone(),
            media.to_string(),
            d.clone(),
            s.clone(),
            "linux/amd64".into(),
            "io.cri-containerd.image=managed".into(),
        ]
    }))
    .collect();
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let line: String = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$} ", w = w))
                .collect();
            format!("{}\n", line.trim_end())
        })
        .collect()
}

pub const HELM_LIST_JSON: &str = r#"[{"name":"binder","namespace":"binder","revision":"14","updated":"2024-05-21 10:02:11.894736189 +0200 CEST","status":"deployed","chart":"binderhub-1.0.0-0.dev.git.3506.hba24eb2a","app_version":"1.0.0-0.dev.git.3506.hba24eb2a"}]
"#;

/// `helm search repo jupyterhub/binderhub --versions --devel -o json`: the
/// search matches by substring, so binderhub-service shows up too.
pub const HELM_SEARCH_JSON: &str = r#"[{"name":"jupyterhub/binderhub","version":"1.0.0-0.dev.git.3620.h0d3c3ec5","app_version":"1.0.0-0.dev.git.3620.h0d3c3ec5","description":"A helm chart to install Binder"},{"name":"jupyterhub/binderhub","version":"1.0.0-0.dev.git.3612.h5b1e8a37","app_version":"1.0.0-0.dev.git.3612.h5b1e8a37","description":"A helm chart to install Binder"},{"name":"jupyterhub/binderhub","version":"1.0.0-0.dev.git.3506.hba24eb2a","app_version":"1.0.0-0.dev.git.3506.hba24eb2a","description":"A helm chart to install Binder"},{"name":"jupyterhub/binderhub","version":"1.0.0-0.dev.git.3170.h84b1db9","app_version":"1.0.0-0.dev.git.3170.h84b1db9","description":"A helm chart to install Binder"},{"name":"jupyterhub/binderhub","version":"1.0.0-0.dev.git.3167.hc46696b","app_version":"1.0.0-0.dev.git.3167.hc46696b","description":"A helm chart to install Binder"},{"name":"jupyterhub/binderhub","version":"0.2.0-n886.h0c7d5b6","app_version":"","description":"A helm chart to install Binder"},{"name":"jupyterhub/binderhub-service","version":"0.1.0-0.dev.git.255.h8b3c5a1","app_version":"1.0.0","description":"BinderHub as a JupyterHub service"}]
"#;

/// `kubectl get deployments,statefulsets,daemonsets -n binder -o json`: the
/// chart's Deployments, the user placeholder StatefulSet, and the image
/// cleaner DaemonSet with one of its two pods not ready (fields as the API
/// server gives them; e2e_release checks the shape against the real one).
pub const WORKLOADS_JSON: &str = r#"{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":""},"items":[
  {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"hub","namespace":"binder"},
   "spec":{"replicas":1,"strategy":{"type":"Recreate"}},"status":{"replicas":1,"readyReplicas":1,"availableReplicas":1}},
  {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"binder","namespace":"binder"},
   "spec":{"replicas":1,"strategy":{"type":"RollingUpdate"}},"status":{"replicas":1,"readyReplicas":1,"availableReplicas":1}},
  {"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"user-placeholder","namespace":"binder"},
   "spec":{"replicas":0,"updateStrategy":{"type":"RollingUpdate"}},"status":{"replicas":0,"availableReplicas":0}},
  {"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"binder-image-cleaner","namespace":"binder"},
   "spec":{"updateStrategy":{"type":"RollingUpdate"}},"status":{"currentNumberScheduled":2,"desiredNumberScheduled":2,"numberAvailable":1,"numberMisscheduled":0,"numberReady":1}}]}"#;

pub const SERVICES_JSON: &str = r#"{
    "apiVersion": "v1",
    "items": [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "binder", "namespace": "binder", "labels": {"app": "binder", "component": "binder", "release": "binder"}},
            "spec": {"type": "LoadBalancer", "clusterIP": "198.51.100.75", "clusterIPs": ["198.51.100.75"],
                     "ports": [{"name": "http", "nodePort": 31084, "port": 80, "protocol": "TCP", "targetPort": 8585}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.101", "ipMode": "VIP"}]}}
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "hub", "namespace": "binder", "labels": {"app": "jupyterhub", "component": "hub", "release": "binder"}},
            "spec": {"type": "ClusterIP", "clusterIP": "198.51.100.29", "ports": [{"name": "hub", "port": 8081, "protocol": "TCP", "targetPort": "http"}]},
            "status": {"loadBalancer": {}}
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "proxy-api", "namespace": "binder", "labels": {"app": "jupyterhub", "component": "proxy-api", "release": "binder"}},
            "spec": {"type": "ClusterIP", "clusterIP": "198.51.100.241", "ports": [{"port": 8001, "protocol": "TCP", "targetPort": "api"}]},
            "status": {"loadBalancer": {}}
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "proxy-public", "namespace": "binder", "labels": {"app": "jupyterhub", "component": "proxy-public", "release": "binder"}},
            "spec": {"type": "LoadBalancer", "clusterIP": "198.51.100.152",
                     "ports": [{"name": "http", "nodePort": 30774, "port": 80, "protocol": "TCP", "targetPort": "http"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.100", "ipMode": "VIP"}]}}
        }
    ],
    "kind": "List",
    "metadata": {"resourceVersion": ""}
}
"#;

pub const STORAGE_CLASSES_JSON: &str = r#"{
    "apiVersion": "v1",
    "items": [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "local-storage-dir", "annotations": {"openebs.io/cas-type": "local", "storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "openebs.io/local", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "openebs-hostpath", "annotations": {"openebs.io/cas-type": "local"}},
            "provisioner": "openebs.io/local", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "microk8s-hostpath"},
            "provisioner": "microk8s.io/hostpath", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"
        }
    ],
    "kind": "List",
    "metadata": {"resourceVersion": ""}
}
"#;

pub const RESOURCE_QUOTAS_JSON: &str = r#"{
    "apiVersion": "v1",
    "items": [
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "binder-quota", "namespace": "binder"},
            "spec": {"hard": {"limits.cpu": "48", "limits.memory": "96Gi", "pods": "120", "requests.cpu": "24", "requests.memory": "48Gi"}},
            "status": {
                "hard": {"limits.cpu": "48", "limits.memory": "96Gi", "pods": "120", "requests.cpu": "24", "requests.memory": "48Gi"},
                "used": {"limits.cpu": "6500m", "limits.memory": "13Gi", "pods": "11", "requests.cpu": "1200m", "requests.memory": "4608Mi"}
            }
        }
    ],
    "kind": "List",
    "metadata": {"resourceVersion": ""}
}
"#;

pub const NAMESPACE_JSON: &str = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"binder","labels":{"kubernetes.io/metadata.name":"binder"}},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}}
"#;

// ---- recorded answers for doctor, logs, history, rollback, diff ----

/// `microk8s status --format yaml` on a healthy control-plane node with the
/// tutorial's add-ons enabled (MicroK8s 1.28, abridged to the add-ons).
pub const MICROK8S_STATUS_YAML: &str = "microk8s:
  running: true
high-availability:
  enabled: false
  nodes:
  - address: 192.0.2.10:19001
    role: voter
addons:
- name: community
  repository: core
  description: The community addons repository
  version: 1.28.3
  status: enabled
- name: dns
  repository: core
  description: CoreDNS
  version: 1.28.3
  status: enabled
- name: helm3
  repository: core
  description: Helm 3 - the package manager for Kubernetes
  version: 1.28.3
  status: enabled
- name: metallb
  repository: core
  description: Loadbalancer for your Kubernetes cluster
  version: 1.28.3
  status: enabled
- name: openebs
  repository: community
  description: OpenEBS is the open-source storage solution for Kubernetes
  version: 3.3.0
  status: enabled
- name: dashboard
  repository: core
  description: The Kubernetes dashboard
  version: 1.28.3
  status: disabled
- name: hostpath-storage
  repository: core
  description: Storage class; allocates storage from host directory
  version: 1.28.3
  status: disabled
";

/// What `microk8s status` prints on a node joined as a worker.
pub const MICROK8S_STATUS_WORKER: &str =
    "This MicroK8s deployment is acting as a node in a cluster. Please use the master node.\n";

/// `kubectl get nodes -o json` for a control plane and one worker.
pub fn nodes_json(versions: &[(&str, &str, bool)]) -> String {
    let items: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, (name, version, ready))| {
            json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name,
                    "node.kubernetes.io/microk8s-controlplane": "microk8s-controlplane"}},
                "spec": {},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": format!("192.0.2.{}", 10 + i)},
                                  {"type": "Hostname", "address": name}],
                    "conditions": [{"type": "Ready", "status": if *ready { "True" } else { "Unknown" },
                                    "reason": if *ready { "KubeletReady" } else { "NodeStatusUnknown" }}],
                    "nodeInfo": {"kubeletVersion": version, "containerRuntimeVersion": "containerd://1.6.28"}
                }
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}))
        .expect("nodes json")
}

/// StorageClasses with the OpenEBS local one (BasePath `base_path`) the default.
pub fn storage_classes_with_base_path(base_path: &str) -> String {
    let config = format!(
        "- name: StorageType\n  value: \"hostpath\"\n- name: BasePath\n  value: {base_path}\n"
    );
    serde_json::to_string_pretty(&json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
             "metadata": {"name": "local-storage-dir", "annotations": {
                 "cas.openebs.io/config": config,
                 "openebs.io/cas-type": "local",
                 "storageclass.kubernetes.io/is-default-class": "true"}},
             "provisioner": "openebs.io/local", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"},
            {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
             "metadata": {"name": "microk8s-hostpath"},
             "provisioner": "microk8s.io/hostpath", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"}
        ],
        "metadata": {"resourceVersion": ""}
    }))
    .expect("storage classes json")
}

/// `kubectl get --raw /api/v1/nodes/NAME/proxy/stats/summary`: the node's
/// `nodes/NAME/stats.json` in the state folder, or the API server's answer for a node that does not answer.
pub const STATS_SCRIPT: &str = r#"
node=$(printf '%s' "$3" | sed 's|^/api/v1/nodes/\([^/]*\)/proxy/stats/summary$|\1|')
if [ -f "$FAKE_DIR/nodes/$node/stats.json" ]; then
  cat "$FAKE_DIR/nodes/$node/stats.json"
else
  echo "Error from server (ServiceUnavailable): the server is currently unable to handle the request" >&2
  exit 1
fi
"#;

/// A kubelet stats summary with these image and node filesystem figures.
pub fn stats_summary_json(
    image_capacity: u64,
    image_free: u64,
    node_capacity: u64,
    node_free: u64,
) -> String {
    json!({"node": {
        "nodeName": "x",
        "fs": {"capacityBytes": node_capacity, "availableBytes": node_free, "usedBytes": node_capacity - node_free},
        "runtime": {"imageFs": {"capacityBytes": image_capacity, "availableBytes": image_free}}
    }, "pods": []})
    .to_string()
}

impl FakeCluster {
    /// The answers `doctor` needs on a healthy MicroK8s node (added to the
    /// defaults): MicroK8s' status, two nodes on the same version whose
    /// disks are half full.
    pub fn respond_doctor_defaults(&mut self) -> &mut Self {
        self.respond(&["microk8s", "status"], MICROK8S_STATUS_YAML, 0);
        let nodes = nodes_json(&[
            ("u24control", "v1.28.3", true),
            ("u24worker", "v1.28.3", true),
        ]);
        for node in ["u24control", "u24worker"] {
            self.set_node_stats(
                node,
                &stats_summary_json(100 << 30, 50 << 30, 100 << 30, 50 << 30),
            );
        }
        self.respond_script(&["kubectl", "get", "--raw"], STATS_SCRIPT);
        self.respond(&["kubectl", "get", "nodes"], &nodes, 0)
    }

    /// What [`STATS_SCRIPT`] answers for `node`.
    pub fn set_node_stats(&self, node: &str, json: &str) {
        let dir = self.state_dir().join("nodes").join(node);
        std::fs::create_dir_all(&dir).expect("node folder");
        std::fs::write(dir.join("stats.json"), json).expect("node stats");
    }

    /// Make [`STATS_SCRIPT`] answer for `node` as the API server does for
    /// a kubelet that does not answer.
    pub fn forget_node_stats(&self, node: &str) {
        let _ = std::fs::remove_file(self.state_dir().join("nodes").join(node).join("stats.json"));
    }
}

/// `kubectl get events -n binder --field-selector involvedObject.name=POD
/// -o json` for a hub pod whose container keeps crashing.
pub fn crash_events_json(pod: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": format!("{pod}.17d2a1b3c4d5e6f7"), "namespace": "binder"},
             "involvedObject": {"kind": "Pod", "name": pod, "namespace": "binder"},
             "type": "Normal", "reason": "Pulled", "count": 6,
             "message": "Container image \"images.test/jupyterhub/k8s-hub:3.3.7\" already present on machine",
             "firstTimestamp": "2024-05-21T10:02:30Z", "lastTimestamp": "2024-05-21T10:07:41Z",
             "source": {"component": "kubelet", "host": "u24control"}},
            {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": format!("{pod}.17d2a1b3c4d5e6f8"), "namespace": "binder"},
             "involvedObject": {"kind": "Pod", "name": pod, "namespace": "binder"},
             "type": "Warning", "reason": "BackOff", "count": 24,
             "message": format!("Back-off restarting failed container hub in pod {pod}_binder(0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0)"),
             "firstTimestamp": "2024-05-21T10:02:45Z", "lastTimestamp": "2024-05-21T10:08:02Z",
             "source": {"component": "kubelet", "host": "u24control"}}
        ],
        "metadata": {"resourceVersion": ""}
    }))
    .expect("events json")
}

/// The last lines a crashing hub logs (`kubectl logs POD --tail=20`).
pub const HUB_CRASH_LOG: &str = "[I 2024-05-21 10:07:42.101 JupyterHub app:2859] Running JupyterHub version 4.1.5
[I 2024-05-21 10:07:42.102 JupyterHub app:2889] Using Authenticator: jupyterhub.auth.NullAuthenticator
[E 2024-05-21 10:07:42.310 JupyterHub app:3382] Failed to connect to db: sqlite:///jupyterhub.sqlite
sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) unable to open database file
";

/// `helm history binder -n binder --max=256 -o json` (as Helm prints it:
/// one line, oldest first).
pub const HELM_HISTORY_JSON: &str = r#"[{"revision":12,"updated":"2024-04-02T09:00:01.512379813+02:00","status":"superseded","chart":"binderhub-1.0.0-0.dev.git.3170.h84b1db9","app_version":"1.0.0-0.dev.git.3170.h84b1db9","description":"Upgrade complete"},{"revision":13,"updated":"2024-05-14T09:12:03.27160415+02:00","status":"superseded","chart":"binderhub-1.0.0-0.dev.git.3506.hba24eb2a","app_version":"1.0.0-0.dev.git.3506.hba24eb2a","description":"Upgrade complete"},{"revision":14,"updated":"2024-05-21T10:02:11.894736189+02:00","status":"deployed","chart":"binderhub-1.0.0-0.dev.git.3620.h0d3c3ec5","app_version":"1.0.0-0.dev.git.3620.h0d3c3ec5","description":"Upgrade complete"}]
"#;

impl FakeCluster {
    /// The answers `history` and `rollback` need: the history above, a
    /// rollback that succeeds, one deployment that rolls out.
    pub fn respond_history_defaults(&mut self) -> &mut Self {
        self.respond(&["helm", "history"], HELM_HISTORY_JSON, 0);
        self.respond(
            &["helm", "rollback"],
            "Rollback was a success! Happy Helming!\n",
            0,
        );
        self.respond(
            &["kubectl", "get", "deployments,statefulsets,daemonsets"],
            r#"{"apiVersion":"v1","kind":"List","items":[{"kind":"Deployment","metadata":{"name":"hub","namespace":"binder"}}]}"#,
            0,
        );
        self.respond(
            &["kubectl", "rollout", "status"],
            "deployment \"hub\" successfully rolled out\n",
            0,
        )
    }
}

/// `kubectl get pvc -n binder -o json`: the hub's database and three users'
/// claims (z2jh names them `claim-USER`).
pub const PVCS_JSON: &str = r#"{
    "apiVersion": "v1",
    "items": [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "claim-alice", "namespace": "binder", "creationTimestamp": "2024-05-20T10:02:11Z",
                      "labels": {"app": "jupyterhub", "component": "singleuser-storage", "heritage": "jupyterhub"}},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                  "storageClassName": "local-storage-dir", "volumeMode": "Filesystem", "volumeName": "pvc-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"},
         "status": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}, "phase": "Bound"}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "claim-course2023-bob", "namespace": "binder", "creationTimestamp": "2023-10-02T08:00:00Z",
                      "labels": {"app": "jupyterhub", "component": "singleuser-storage", "heritage": "jupyterhub"}},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                  "storageClassName": "local-storage-dir", "volumeMode": "Filesystem", "volumeName": "pvc-1b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"},
         "status": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}, "phase": "Bound"}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "claim-course2023-carol", "namespace": "binder", "creationTimestamp": "2023-10-02T08:05:00Z",
                      "labels": {"app": "jupyterhub", "component": "singleuser-storage", "heritage": "jupyterhub"}},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                  "storageClassName": "local-storage-dir", "volumeMode": "Filesystem", "volumeName": "pvc-2b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"},
         "status": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}, "phase": "Bound"}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "hub-db-dir", "namespace": "binder", "creationTimestamp": "2024-04-01T12:00:00Z",
                      "labels": {"app": "jupyterhub", "chart": "jupyterhub-3.3.7", "component": "hub", "release": "binder"}},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                  "storageClassName": "local-storage-dir", "volumeMode": "Filesystem", "volumeName": "pvc-3b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"},
         "status": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "phase": "Bound"}}
    ],
    "kind": "List",
    "metadata": {"resourceVersion": ""}
}
"#;

/// `kubectl get pods -n binder -o json` where the hub mounts its database
/// and alice's server mounts her claim (abridged to the volumes).
pub const PODS_WITH_CLAIMS_JSON: &str = r#"{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [
  {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hub-6d4f9c7b8-x2k9p", "namespace": "binder", "labels": {"component": "hub"}},
   "spec": {"volumes": [{"name": "config", "configMap": {"name": "hub"}}, {"name": "pvc", "persistentVolumeClaim": {"claimName": "hub-db-dir"}}]},
   "status": {"phase": "Running"}},
  {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jupyter-alice", "namespace": "binder", "labels": {"component": "singleuser-server"}},
   "spec": {"volumes": [{"name": "volume-alice", "persistentVolumeClaim": {"claimName": "claim-alice"}}]},
   "status": {"phase": "Running"}}]}
"#;

impl FakeCluster {
    /// Put one more recording stand-in on PATH (`sudo`, `systemctl`), answering
    /// from the same table (`respond(&["systemctl", ...])`).
    pub fn install_extra_tool(&self, name: &str) -> &Self {
        self.install_tool(name);
        self
    }
}

/// `microk8s status --format yaml` right after `snap install microk8s`:
/// only the defaults MicroK8s enables itself.
pub const MICROK8S_STATUS_FRESH_YAML: &str = "microk8s:
  running: true
high-availability:
  enabled: false
addons:
- name: ha-cluster
  repository: core
  description: Configure high availability on the current node
  version: 1.28.3
  status: enabled
- name: dns
  repository: core
  description: CoreDNS
  version: 1.28.3
  status: disabled
- name: helm3
  repository: core
  description: Helm 3 - the package manager for Kubernetes
  version: 1.28.3
  status: disabled
- name: metallb
  repository: core
  description: Loadbalancer for your Kubernetes cluster
  version: 1.28.3
  status: disabled
- name: community
  repository: core
  description: The community addons repository
  version: 1.28.3
  status: disabled
";

/// A snippet for [`FakeCluster::respond_script`]: record that call `me`
/// started, then wait (up to 3 s) until call `other` has started too; alone,
/// fail with "fake: ME ran alone". Two such answers pass only when binderctl
/// runs the two calls at once. Follow it with the answer's own output.
pub fn meet_script(me: &str, other: &str) -> String {
    format!(
        r#"
touch "$FAKE_DIR/started-{me}"
i=0
while [ ! -f "$FAKE_DIR/started-{other}" ]; do
  i=$((i+1)); if [ "$i" -gt 300 ]; then echo "fake: {me} ran alone" >&2; exit 1; fi
  sleep 0.01
done
"#
    )
}
