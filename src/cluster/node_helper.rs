//! Helper pods: how binderctl runs a node's own tools on another node,
//! through Kubernetes instead of SSH. Pure: manifests, the node-side
//! command lines, the kubectl command lines that create, watch, read and
//! delete a helper pod, and the reading of its status.
//!
//! A helper pod is pinned to one node (`nodeName`, so the scheduler is not
//! involved and taints are tolerated), privileged with the host's PID
//! namespace, and enters the host's namespaces (`nsenter --target 1 --mount
//! --uts --ipc --net --pid --`), which is what `kubectl debug node/NAME
//! --profile=sysadmin` and the node-shell plugin do. Everything handed to it
//! goes as argv, never through a shell that reads operator input.

use serde_json::{json, Value};

use crate::cluster::plan::CommandLine;
use crate::cluster::target::ToolFlavor;
use crate::cluster::tools::Tools;

/// The image helper pods run by default: small, and has `nsenter`.
pub const DEFAULT_IMAGE: &str = "docker.io/library/busybox:1.36";

/// How long a helper pod may live at most (`activeDeadlineSeconds`), so
/// that one can never outlive a crashed binderctl by long.
pub const DEADLINE_SECONDS: u64 = 600;

/// The label every binderctl helper pod carries, with [`COMPONENT`].
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "binderctl");
pub const COMPONENT: (&str, &str) = ("app.kubernetes.io/component", "node-helper");
/// The label that ties a helper pod to one binderctl run.
pub const RUN_LABEL: &str = "binderctl/run";
/// The annotation naming the node (label values are too short for some
/// node names).
pub const NODE_ANNOTATION: &str = "binderctl/node";

/// Nodes handled at once, for reads and image removal.
pub const PARALLELISM: usize = 4;

/// MicroK8s' own ctr and containerd socket, as its `microk8s ctr` wrapper
/// runs them (`$SNAP/bin/ctr` with `$SNAP_DATA/args/ctr`, whose default is
/// `--address=$SNAP_COMMON/run/containerd.sock --namespace k8s.io`).
pub const MICROK8S_CTR: &str = "/snap/microk8s/current/bin/ctr";
pub const MICROK8S_CONTAINERD_SOCKET: &str = "/var/snap/microk8s/common/run/containerd.sock";
/// containerd's standard socket, on other distributions.
pub const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";

/// The selector of every binderctl helper pod (leftovers included).
pub fn selector() -> String {
    format!(
        "{}={},{}={}",
        MANAGED_BY.0, MANAGED_BY.1, COMPONENT.0, COMPONENT.1
    )
}

/// A short id for this run, for pod names and the run label: lowercase hex
/// from the time and the process id.
pub fn run_id(unix_seconds: u64, pid: u32) -> String {
    let mixed = unix_seconds
        .wrapping_mul(0x9e37_79b9)
        .wrapping_add(u64::from(pid));
    format!("{:08x}", mixed & 0xffff_ffff)
}

/// k3s' and RKE2's own containerd socket (both bundle containerd).
pub const K3S_CONTAINERD_SOCKET: &str = "/run/k3s/containerd/containerd.sock";
/// RKE2's ctr (it installs none on the PATH).
pub const RKE2_CTR: &str = "/var/lib/rancher/rke2/bin/ctr";

/// Which containerd a node of a plain cluster runs: the distribution's own
/// (k3s, RKE2: their socket, their ctr) or the standard one. Read from the
/// kubelet's version (`v1.31.4+k3s1`, `v1.31.4+rke2r1`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NodeContainerd {
    #[default]
    Standard,
    K3s,
    Rke2,
}

impl NodeContainerd {
    pub fn from_kubelet_version(version: &str) -> Self {
        let build = version.split_once('+').map_or("", |(_, build)| build);
        if build.starts_with("k3s") {
            NodeContainerd::K3s
        } else if build.starts_with("rke2") {
            NodeContainerd::Rke2
        } else {
            NodeContainerd::Standard
        }
    }
}

/// The node's own `ctr` in containerd namespace `namespace`, as the node
/// runs it (inside the helper, after nsenter): MicroK8s' snap ctr, k3s'
/// (`k3s ctr`) or RKE2's on their socket, or `ctr` on the standard socket.
pub fn node_ctr(flavor: ToolFlavor, containerd: NodeContainerd, namespace: &str) -> Vec<String> {
    let program: &[&str] = match (flavor, containerd) {
        (ToolFlavor::Microk8s, _) => &[MICROK8S_CTR, "--address", MICROK8S_CONTAINERD_SOCKET],
        (ToolFlavor::Plain, NodeContainerd::Standard) => &["ctr", "--address", CONTAINERD_SOCKET],
        (ToolFlavor::Plain, NodeContainerd::K3s) => {
            &["k3s", "ctr", "--address", K3S_CONTAINERD_SOCKET]
        }
        (ToolFlavor::Plain, NodeContainerd::Rke2) => {
            &[RKE2_CTR, "--address", K3S_CONTAINERD_SOCKET]
        }
    };
    let mut argv: Vec<String> = program.iter().map(|s| s.to_string()).collect();
    argv.extend(["--namespace".to_string(), namespace.to_string()]);
    argv
}

/// How each flavour restarts a node's kubelet (MicroK8s 1.21 and later run
/// it inside kubelite; kubeadm-style nodes run it as a systemd unit).
pub fn node_kubelet_restart(flavor: ToolFlavor) -> Vec<String> {
    match flavor {
        ToolFlavor::Microk8s => ["snap", "restart", "microk8s.daemon-kubelite"].as_slice(),
        ToolFlavor::Plain => ["systemctl", "restart", "kubelet"].as_slice(),
    }
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `argv` run in the host's namespaces: `nsenter --target 1 --mount --uts
/// --ipc --net --pid -- ARGV`.
pub fn on_host(argv: &[String]) -> Vec<String> {
    let mut command: Vec<String> = [
        "nsenter", "--target", "1", "--mount", "--uts", "--ipc", "--net", "--pid", "--",
    ]
    .map(String::from)
    .to_vec();
    command.extend(argv.iter().cloned());
    command
}

/// One container of a helper pod: a name (its logs are read by it) and
/// the command it runs on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperContainer {
    pub name: String,
    /// Run on the host through [`on_host`].
    pub host_argv: Vec<String>,
}

impl HelperContainer {
    pub fn new(name: &str, host_argv: Vec<String>) -> Self {
        HelperContainer {
            name: name.to_string(),
            host_argv,
        }
    }
}

/// One helper pod: where it runs, what it runs, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperPod {
    pub name: String,
    pub namespace: String,
    pub node: String,
    pub image: String,
    pub run_id: String,
    /// Run one after the other (init containers first, the last one as the
    /// pod's container), each to completion; the pod fails at the first
    /// that fails. Side by side instead with [`HelperPod::side_by_side`].
    pub containers: Vec<HelperContainer>,
    /// All containers start at once (independent reads): the pod's time is
    /// the slowest one's, not their sum.
    pub side_by_side: bool,
}

impl HelperPod {
    /// A pod named `binderctl-helper-RUN-INDEX-PURPOSE` (node names can be
    /// too long to fit in a pod name; the annotation names the node).
    pub fn new(
        target: &HelperTarget<'_>,
        index: usize,
        purpose: &str,
        containers: Vec<HelperContainer>,
    ) -> Self {
        HelperPod {
            name: format!("binderctl-helper-{}-{index}-{purpose}", target.run_id),
            namespace: target.namespace.to_string(),
            node: target.node.to_string(),
            image: target.image.to_string(),
            run_id: target.run_id.to_string(),
            containers,
            side_by_side: false,
        }
    }

    /// The same pod with its containers running at once.
    pub fn side_by_side(self) -> Self {
        HelperPod {
            side_by_side: true,
            ..self
        }
    }

    /// The pod manifest, as JSON.
    pub fn manifest(&self) -> Value {
        let container = |c: &HelperContainer| {
            json!({
                "name": c.name,
                "image": self.image,
                "imagePullPolicy": "IfNotPresent",
                "command": on_host(&c.host_argv),
                "securityContext": { "privileged": true },
                // A namespace with a ResourceQuota admits only pods that say.
                "resources": {
                    "requests": { "cpu": "10m", "memory": "16Mi" },
                    "limits": { "cpu": "500m", "memory": "256Mi" }
                }
            })
        };
        let (init, containers): (Vec<Value>, Vec<Value>) = match self.containers.split_last() {
            _ if self.side_by_side => (Vec::new(), self.containers.iter().map(container).collect()),
            Some((last, init)) => (init.iter().map(container).collect(), vec![container(last)]),
            None => (Vec::new(), Vec::new()),
        };
        let mut spec = json!({
            "nodeName": self.node,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "hostPID": true,
            "hostIPC": true,
            "hostNetwork": true,
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "terminationGracePeriodSeconds": 5,
            // Run on every node, tainted control-plane nodes too.
            "tolerations": [{ "operator": "Exists" }],
            "containers": containers,
        });
        if !init.is_empty() {
            spec["initContainers"] = Value::Array(init);
        }
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {
                    MANAGED_BY.0: MANAGED_BY.1,
                    COMPONENT.0: COMPONENT.1,
                    RUN_LABEL: self.run_id,
                },
                "annotations": { NODE_ANNOTATION: self.node },
            },
            "spec": spec,
        })
    }

    /// The manifest as `kubectl create -f -` gets it (one field a line).
    pub fn manifest_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.manifest()).unwrap_or_default();
        text.push('\n');
        text
    }

    /// `kubectl create -f - -n NS -o name` (the manifest on stdin).
    pub fn create_command(&self, tools: &Tools) -> CommandLine {
        tools.kubectl(["create", "-f", "-", "-n", &self.namespace, "-o", "name"])
    }

    /// `kubectl create -f - -n NS -o name --dry-run=server`: the API server
    /// runs its admission (Pod Security, quotas, limit ranges) on the pod
    /// and keeps nothing.
    pub fn admission_command(&self, tools: &Tools) -> CommandLine {
        tools.kubectl([
            "create",
            "-f",
            "-",
            "-n",
            &self.namespace,
            "-o",
            "name",
            "--dry-run=server",
        ])
    }

    /// `kubectl get pod NAME -n NS -o json`.
    pub fn status_command(&self, tools: &Tools) -> CommandLine {
        tools.kubectl([
            "get",
            "pod",
            &self.name,
            "-n",
            &self.namespace,
            "-o",
            "json",
        ])
    }

    /// `kubectl logs NAME -n NS -c CONTAINER`.
    pub fn logs_command(&self, tools: &Tools, container: &str) -> CommandLine {
        tools.kubectl(["logs", &self.name, "-n", &self.namespace, "-c", container])
    }

    /// `kubectl delete pod NAME -n NS --ignore-not-found --wait=false`:
    /// once the API server has accepted the deletion the pod is going.
    pub fn delete_command(&self, tools: &Tools) -> CommandLine {
        tools.kubectl([
            "delete",
            "pod",
            &self.name,
            "-n",
            &self.namespace,
            "--ignore-not-found",
            "--wait=false",
        ])
    }
}

/// What one node's helper pods share.
#[derive(Debug, Clone, Copy)]
pub struct HelperTarget<'a> {
    pub node: &'a str,
    pub namespace: &'a str,
    pub image: &'a str,
    pub run_id: &'a str,
}

/// `kubectl delete pods -n NS -l SELECTOR --ignore-not-found --wait=false -o
/// name`: every helper pod left by an earlier run (it prints each one).
pub fn leftovers_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl([
        "delete",
        "pods",
        "-n",
        namespace,
        "-l",
        &selector(),
        "--ignore-not-found",
        "--wait=false",
        "-o",
        "name",
    ])
}

/// Where a helper pod is, read from `kubectl get pod -o json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    /// Not finished yet.
    Running,
    Succeeded,
    /// Failed (a container exited non-zero, or the deadline passed).
    Failed(String),
    /// The node cannot pull the helper image.
    ImageUnavailable(String),
}

/// Read a pod's state from its JSON.
pub fn pod_state(json: &str) -> Result<PodState, serde_json::Error> {
    let pod: Value = serde_json::from_str(json)?;
    let status = &pod["status"];
    let statuses = ["initContainerStatuses", "containerStatuses"]
        .iter()
        .filter_map(|key| status[key].as_array())
        .flatten();
    for container in statuses {
        let waiting = &container["state"]["waiting"];
        let reason = waiting["reason"].as_str().unwrap_or("");
        if matches!(
            reason,
            "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull"
        ) {
            let message = waiting["message"].as_str().unwrap_or("");
            return Ok(PodState::ImageUnavailable(
                format!("{reason}: {message}")
                    .trim_end_matches([' ', ':'])
                    .to_string(),
            ));
        }
    }
    Ok(match status["phase"].as_str().unwrap_or("") {
        "Succeeded" => PodState::Succeeded,
        "Failed" => {
            let reason = status["reason"].as_str().unwrap_or("a container failed");
            let message = status["message"].as_str().unwrap_or("");
            PodState::Failed(format!("{reason} {message}").trim().to_string())
        }
        _ => PodState::Running,
    })
}

/// What to tell the operator when the helper namespace's admission refuses
/// helper pods (the API server's `... is forbidden: REASON`): which rule
/// (the Pod Security label, a quota, a limit range) and the way out.
pub fn admission_refusal_message(namespace: &str, stderr: &str) -> String {
    let reason = stderr
        .lines()
        .find_map(|l| l.split_once(" is forbidden: ").map(|(_, r)| r.trim()))
        .unwrap_or_else(|| stderr.trim());
    let elsewhere = "run them in a namespace that admits privileged pods with --helper-namespace NS (e.g. `kubectl create namespace binderctl-helpers`, then --helper-namespace binderctl-helpers); nothing was created on any node";
    if let Some(rest) = reason.strip_prefix("violates PodSecurity \"") {
        let level = rest.split(['"', ':']).next().unwrap_or("");
        let violations = rest.split_once("\": ").map_or("", |(_, v)| v);
        format!(
            "namespace {namespace} enforces Pod Security {level:?} (its label pod-security.kubernetes.io/enforce={level}), which refuses binderctl's helper pods: {violations}; they must be privileged to reach each node's containerd and files: {elsewhere}"
        )
    } else if let Some(quota) = reason.strip_prefix("exceeded quota: ") {
        let name = quota.split(',').next().unwrap_or(quota);
        format!(
            "ResourceQuota {name} in namespace {namespace} refuses binderctl's helper pods ({reason}): raise it, or {elsewhere}"
        )
    } else if reason.contains(" per Container ") || reason.contains(" per Pod ") {
        format!(
            "a LimitRange in namespace {namespace} refuses binderctl's helper pods ({reason}; each asks 10m CPU and 16Mi memory, at most 500m and 256Mi): {elsewhere}"
        )
    } else {
        format!("namespace {namespace} refuses binderctl's helper pods ({reason}): {elsewhere}")
    }
}

/// What to tell the operator when a node cannot pull the helper image.
pub fn image_unavailable_message(node: &str, image: &str, detail: &str) -> String {
    format!(
        "node {node} cannot pull the helper image {image} ({detail}); binderctl's helper pods \
         need a small image that has `nsenter` (busybox or alpine): make it reachable from the \
         node, or pass --helper-image with one your nodes can pull (e.g. from your registry)"
    )
}

/// The file-writing helper's program: a fixed script, never built from
/// input; the file, the backup, the expected old text and the new text come
/// as its positional arguments. It refuses when the file changed since it
/// was read, keeps the original as the backup (never overwriting one),
/// and replaces the file atomically, keeping its owner and mode.
pub const WRITE_SCRIPT: &str = r#"set -eu
file=$1 backup=$2 old=$3 new=$4
if ! printf '%s' "$old" | cmp -s - "$file"; then
  echo "binderctl: $file changed since it was read; nothing written" >&2
  exit 3
fi
if [ -e "$backup" ]; then
  echo "binderctl: $backup exists already; nothing written" >&2
  exit 3
fi
cp -p -- "$file" "$backup"
tmp=$file.binderctl-new
cp -p -- "$file" "$tmp"
printf '%s' "$new" > "$tmp"
sync "$tmp" 2>/dev/null || sync
mv -f -- "$tmp" "$file"
echo "$backup"
"#;

/// The host command that writes `new` to `file` (see [`WRITE_SCRIPT`]).
pub fn write_file_argv(file: &str, backup: &str, old: &str, new: &str) -> Vec<String> {
    [
        "sh",
        "-c",
        WRITE_SCRIPT,
        "binderctl-write",
        file,
        backup,
        old,
        new,
    ]
    .map(String::from)
    .to_vec()
}

/// The host command that prints `file`.
pub fn read_file_argv(file: &str) -> Vec<String> {
    ["cat", "--", file].map(String::from).to_vec()
}

/// At most this much of a file is read by [`read_optional_file_argv`]
/// (the files read are configuration: a few KiB).
pub const READ_LIMIT_BYTES: usize = 1 << 20;

/// The optional-file reader's program: a fixed script, the file its only
/// argument. Its first line says what it found (`present`, `absent`, `not a
/// file`), so a missing file is an answer rather than a failed pod; then at
/// most one byte more than [`READ_LIMIT_BYTES`], so an oversized file shows.
pub const READ_OPTIONAL_SCRIPT: &str = r#"if [ -f "$1" ]; then
  echo present
  exec head -c 1048577 -- "$1"
elif [ -e "$1" ]; then
  echo 'not a file'
else
  echo absent
fi
"#;

/// The host command that prints `file` if it is there (see
/// [`READ_OPTIONAL_SCRIPT`]; read it back with [`parse_optional_file`]).
pub fn read_optional_file_argv(file: &str) -> Vec<String> {
    ["sh", "-c", READ_OPTIONAL_SCRIPT, "binderctl-read", file]
        .map(String::from)
        .to_vec()
}

/// What [`READ_OPTIONAL_SCRIPT`] printed: the file's text, `None` when the
/// node has no such file, or why it cannot be used.
pub fn parse_optional_file(output: &str) -> Result<Option<String>, String> {
    let (first, rest) = output.split_once('\n').unwrap_or((output, ""));
    match first {
        "present" if rest.len() > READ_LIMIT_BYTES => {
            Err(format!("larger than {} KiB", READ_LIMIT_BYTES >> 10))
        }
        "present" => Ok(Some(rest.to_string())),
        "absent" => Ok(None),
        "not a file" => Err("not a regular file".to_string()),
        _ => Err("the helper printed something other than the file".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_security_names_the_label_and_the_way_out() {
        let stderr =
            "Error from server (Forbidden): error when creating \"STDIN\": pods \"x1\" is \
            forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostPID=true), \
            privileged (container \"a\" must not set securityContext.privileged=true)\n";
        let m = admission_refusal_message("binder", stderr);
        assert!(
            m.starts_with(
                "namespace binder enforces Pod Security \"baseline\" (its label \
                 pod-security.kubernetes.io/enforce=baseline), which refuses binderctl's helper \
                 pods: host namespaces (hostPID=true), privileged"
            ),
            "{m}"
        );
        assert!(m.contains("--helper-namespace"), "{m}");
    }

    #[test]
    fn a_quota_and_a_limit_range_are_named() {
        let quota = admission_refusal_message(
            "binder",
            "Error from server (Forbidden): error when creating \"STDIN\": pods \"x1\" is \
             forbidden: exceeded quota: binder-quota, requested: pods=1, used: pods=120, limited: pods=120",
        );
        assert!(
            quota.starts_with("ResourceQuota binder-quota in namespace binder refuses"),
            "{quota}"
        );
        let range = admission_refusal_message(
            "binder",
            "Error from server (Forbidden): error when creating \"STDIN\": pods \"x1\" is \
             forbidden: maximum cpu usage per Container is 100m, but limit is 500m",
        );
        assert!(
            range.starts_with("a LimitRange in namespace binder refuses"),
            "{range}"
        );
        assert!(
            range.contains("maximum cpu usage per Container is 100m"),
            "{range}"
        );
    }

    fn target() -> HelperTarget<'static> {
        HelperTarget {
            node: "node-2.example",
            namespace: "binder",
            image: DEFAULT_IMAGE,
            run_id: "0a1b2c3d",
        }
    }

    fn ls_pod(flavor: ToolFlavor) -> HelperPod {
        let mut argv = node_ctr(flavor, NodeContainerd::Standard, "k8s.io");
        argv.extend(["images", "ls"].map(String::from));
        HelperPod::new(
            &target(),
            2,
            "read",
            vec![HelperContainer::new("images", argv)],
        )
    }

    #[test]
    fn the_manifest_pins_privileges_deadline_and_labels() {
        let pod = ls_pod(ToolFlavor::Microk8s);
        let m = pod.manifest();
        assert_eq!(m["metadata"]["name"], "binderctl-helper-0a1b2c3d-2-read");
        assert_eq!(m["metadata"]["namespace"], "binder");
        let labels = &m["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "binderctl");
        assert_eq!(labels["app.kubernetes.io/component"], "node-helper");
        assert_eq!(labels["binderctl/run"], "0a1b2c3d");
        assert_eq!(
            m["metadata"]["annotations"]["binderctl/node"],
            "node-2.example"
        );
        let spec = &m["spec"];
        assert_eq!(spec["nodeName"], "node-2.example");
        assert_eq!(spec["hostPID"], true);
        assert_eq!(spec["restartPolicy"], "Never");
        assert_eq!(spec["activeDeadlineSeconds"], DEADLINE_SECONDS);
        assert_eq!(spec["tolerations"][0]["operator"], "Exists");
        assert_eq!(spec["automountServiceAccountToken"], false);
        assert!(spec.get("initContainers").is_none());
        let c = &spec["containers"][0];
        assert_eq!(c["securityContext"]["privileged"], true);
        assert_eq!(c["image"], DEFAULT_IMAGE);
        let command: Vec<&str> = c["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            command,
            [
                "nsenter",
                "--target",
                "1",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
                "--pid",
                "--",
                MICROK8S_CTR,
                "--address",
                MICROK8S_CONTAINERD_SOCKET,
                "--namespace",
                "k8s.io",
                "images",
                "ls"
            ]
        );
    }

    #[test]
    fn plain_nodes_use_containerds_standard_socket() {
        assert_eq!(
            node_ctr(ToolFlavor::Plain, NodeContainerd::Standard, "k8s.io"),
            [
                "ctr",
                "--address",
                CONTAINERD_SOCKET,
                "--namespace",
                "k8s.io"
            ]
        );
        assert_eq!(
            node_kubelet_restart(ToolFlavor::Plain),
            ["systemctl", "restart", "kubelet"]
        );
        assert_eq!(
            node_kubelet_restart(ToolFlavor::Microk8s),
            ["snap", "restart", "microk8s.daemon-kubelite"]
        );
    }

    #[test]
    fn k3s_and_rke2_nodes_use_their_own_containerd() {
        let k3s = NodeContainerd::from_kubelet_version("v1.31.4+k3s1");
        let rke2 = NodeContainerd::from_kubelet_version("v1.30.2+rke2r1");
        assert_eq!(k3s, NodeContainerd::K3s);
        assert_eq!(rke2, NodeContainerd::Rke2);
        for plain in ["v1.31.2", "v1.28.3-eks-1234", ""] {
            assert_eq!(
                NodeContainerd::from_kubelet_version(plain),
                NodeContainerd::Standard
            );
        }
        assert_eq!(
            node_ctr(ToolFlavor::Plain, k3s, "k8s.io"),
            [
                "k3s",
                "ctr",
                "--address",
                K3S_CONTAINERD_SOCKET,
                "--namespace",
                "k8s.io"
            ]
        );
        assert_eq!(
            node_ctr(ToolFlavor::Plain, rke2, "k8s.io")[..3],
            [RKE2_CTR, "--address", K3S_CONTAINERD_SOCKET]
        );
        assert_eq!(
            node_ctr(ToolFlavor::Microk8s, k3s, "k8s.io")[0],
            MICROK8S_CTR,
            "MicroK8s nodes always use the snap's"
        );
    }

    #[test]
    fn several_containers_run_in_order_as_init_containers_then_the_last() {
        let pod = HelperPod::new(
            &target(),
            0,
            "rm",
            vec![
                HelperContainer::new("rm-1", vec!["true".into()]),
                HelperContainer::new("rm-2", vec!["false".into()]),
            ],
        );
        let m = pod.manifest();
        assert_eq!(m["spec"]["initContainers"][0]["name"], "rm-1");
        assert_eq!(
            m["spec"]["initContainers"][0]["securityContext"]["privileged"],
            true
        );
        assert_eq!(m["spec"]["containers"][0]["name"], "rm-2");
        assert_eq!(m["spec"]["containers"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn side_by_side_containers_are_all_regular_containers() {
        let pod = HelperPod::new(
            &target(),
            0,
            "doctor",
            vec![
                HelperContainer::new("a", read_optional_file_argv("/etc/a")),
                HelperContainer::new("b", read_optional_file_argv("/etc/b")),
            ],
        )
        .side_by_side();
        let m = pod.manifest();
        assert!(m["spec"].get("initContainers").is_none());
        let names: Vec<&str> = m["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn optional_files_read_back_as_text_absent_or_refused() {
        let argv = read_optional_file_argv("/etc/ufw/$(x).conf");
        assert_eq!(argv[..3], ["sh", "-c", READ_OPTIONAL_SCRIPT]);
        assert_eq!(argv[3..], ["binderctl-read", "/etc/ufw/$(x).conf"]);
        assert!(READ_OPTIONAL_SCRIPT.contains(&(READ_LIMIT_BYTES + 1).to_string()));
        assert_eq!(
            parse_optional_file("present\nENABLED=yes\n"),
            Ok(Some("ENABLED=yes\n".into()))
        );
        assert_eq!(parse_optional_file("present\n"), Ok(Some(String::new())));
        assert_eq!(parse_optional_file("absent\n"), Ok(None));
        assert!(parse_optional_file("not a file\n").is_err());
        assert!(parse_optional_file("").is_err());
        let big = format!("present\n{}", "x".repeat(READ_LIMIT_BYTES + 1));
        assert!(parse_optional_file(&big).unwrap_err().contains("1024 KiB"));
    }

    #[test]
    fn kubectl_lines_name_the_pod_and_namespace() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        let pod = ls_pod(ToolFlavor::Microk8s);
        assert_eq!(
            pod.create_command(&tools).to_string(),
            "microk8s kubectl create -f - -n binder -o name"
        );
        assert_eq!(
            pod.delete_command(&tools).to_string(),
            "microk8s kubectl delete pod binderctl-helper-0a1b2c3d-2-read -n binder \
             --ignore-not-found --wait=false"
        );
        assert_eq!(
            pod.logs_command(&tools, "images").to_string(),
            "microk8s kubectl logs binderctl-helper-0a1b2c3d-2-read -n binder -c images"
        );
        assert_eq!(
            leftovers_command(&Tools::new(ToolFlavor::Plain), "lab").to_string(),
            "kubectl delete pods -n lab -l \
             app.kubernetes.io/managed-by=binderctl,app.kubernetes.io/component=node-helper \
             --ignore-not-found --wait=false -o name"
        );
    }

    #[test]
    fn pod_states_are_read_from_status() {
        assert_eq!(
            pod_state(r#"{"status":{"phase":"Pending"}}"#).unwrap(),
            PodState::Running
        );
        assert_eq!(
            pod_state(r#"{"status":{"phase":"Succeeded"}}"#).unwrap(),
            PodState::Succeeded
        );
        assert_eq!(
            pod_state(r#"{"status":{"phase":"Failed","reason":"DeadlineExceeded"}}"#).unwrap(),
            PodState::Failed("DeadlineExceeded".into())
        );
        let pull = r#"{"status":{"phase":"Pending","initContainerStatuses":[{"name":"a",
            "state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image"}}}]}}"#;
        assert_eq!(
            pod_state(pull).unwrap(),
            PodState::ImageUnavailable("ImagePullBackOff: Back-off pulling image".into())
        );
        assert!(pod_state("not json").is_err());
        let m = image_unavailable_message("n1", "busybox:1.36", "ErrImagePull");
        assert!(m.contains("n1") && m.contains("busybox:1.36") && m.contains("--helper-image"));
    }

    #[test]
    fn the_write_script_takes_its_data_as_arguments_only() {
        let argv = write_file_argv("/a b", "/a b.bak", "old $(x)", "new `y`");
        assert_eq!(argv[..3], ["sh", "-c", WRITE_SCRIPT]);
        assert_eq!(
            argv[3..],
            ["binderctl-write", "/a b", "/a b.bak", "old $(x)", "new `y`"]
        );
        assert!(!WRITE_SCRIPT.contains("eval"));
    }

    #[test]
    fn run_ids_are_eight_hex_digits() {
        let id = run_id(1_700_000_000, 4242);
        assert_eq!(id.len(), 8);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(id, run_id(1_700_000_000, 4243));
    }
}
