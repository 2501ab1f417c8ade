//! `binderctl nodes`, run as a program: `reserve` on temporary files, the
//! cluster subcommands against the fake tools.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::json;
use support::fake_tools::{call, FakeCluster};

const KUBE: &str = "--kube-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi";
const SYSTEM: &str = "--system-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi";

/// The stock MicroK8s kubelet arguments, abridged.
const STOCK_ARGS: &str = "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n\
    --cert-dir=${SNAP_DATA}/certs\n\
    --client-ca-file=${SNAP_DATA}/certs/ca.crt\n\
    --anonymous-auth=false\n\
    --root-dir=${SNAP_COMMON}/var/lib/kubelet\n\
    --fail-swap-on=false\n\
    --eviction-hard=\"memory.available<100Mi,nodefs.available<1Gi,imagefs.available<1Gi\"\n\
    --container-runtime-endpoint=${SNAP_COMMON}/run/containerd.sock\n\
    --kube-reserved=cpu=200m\n\
    --node-labels=\"microk8s.io/cluster=true\"\n";

fn binderctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .args(args)
        .env_remove("BINDERCTL_TOOLS")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kubelet.bak-")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn reserve_is_idempotent_with_one_backup() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    let path = args.to_str().unwrap();

    let first = binderctl(&["nodes", "reserve", "--kubelet-args", path]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(
        stdout.contains("sudo snap restart microk8s.daemon-kubelite"),
        "{stdout}"
    );
    let after = std::fs::read_to_string(&args).unwrap();
    let expected = STOCK_ARGS.replace("--kube-reserved=cpu=200m", KUBE) + SYSTEM + "\n";
    assert_eq!(after, expected);
    let made = backups(dir.path());
    assert_eq!(made.len(), 1);
    assert_eq!(std::fs::read_to_string(&made[0]).unwrap(), STOCK_ARGS);
    assert!(stdout.contains(&made[0].display().to_string()), "{stdout}");

    let second = binderctl(&["nodes", "reserve", "--kubelet-args", path]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("nothing to change"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(std::fs::read_to_string(&args).unwrap(), after);
    assert_eq!(backups(dir.path()), made);
}

#[test]
fn reserve_replaces_earlier_values_instead_of_adding() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    let path = args.to_str().unwrap();
    assert!(binderctl(&["nodes", "reserve", "--kubelet-args", path])
        .status
        .success());
    let out = binderctl(&[
        "nodes",
        "reserve",
        "--kubelet-args",
        path,
        "--cpu",
        "500m",
        "--memory",
        "1Gi",
        "--ephemeral-storage",
        "20Gi",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(&args).unwrap();
    assert_eq!(after.matches("--kube-reserved").count(), 1, "{after}");
    assert_eq!(after.matches("--system-reserved").count(), 1, "{after}");
    assert!(after.contains("--kube-reserved=cpu=500m,memory=1Gi,ephemeral-storage=20Gi\n"));
    assert!(after.contains("--system-reserved=cpu=500m,memory=1Gi,ephemeral-storage=20Gi\n"));
    assert!(!backups(dir.path()).is_empty());
}

#[test]
fn reserve_dry_run_shows_the_change_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    let out = binderctl(&[
        "nodes",
        "reserve",
        "--dry-run",
        "--kubelet-args",
        args.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\n---kube-reserved=cpu=200m\n"), "{stdout}");
    assert!(stdout.contains(&format!("\n+{KUBE}\n")), "{stdout}");
    assert!(stdout.contains(&format!("\n+{SYSTEM}\n")), "{stdout}");
    assert_eq!(std::fs::read_to_string(&args).unwrap(), STOCK_ARGS);
    assert!(backups(dir.path()).is_empty());
}

#[test]
fn reserve_refuses_bad_quantities_naming_flag_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    let out = binderctl(&[
        "nodes",
        "reserve",
        "--kubelet-args",
        args.to_str().unwrap(),
        "--memory",
        "512MB",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--memory \"512MB\""), "{stderr}");
    assert_eq!(std::fs::read_to_string(&args).unwrap(), STOCK_ARGS);
}

#[test]
fn reserve_on_a_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("no-such-kubelet");
    let out = binderctl(&["nodes", "reserve", "--kubelet-args", args.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(args.to_str().unwrap()),
        "{}",
        text(&out.stderr)
    );
    assert!(!args.exists());
}

#[cfg(unix)]
#[test]
fn reserve_keeps_the_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    std::fs::set_permissions(&args, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = binderctl(&["nodes", "reserve", "--kubelet-args", args.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::metadata(&args).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let backup = &backups(dir.path())[0];
    assert_eq!(
        std::fs::metadata(backup).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

// ---- ls, add, remove against the fake cluster ----

/// `kubectl get node NAME -o json` for a MicroK8s node.
fn node_json(name: &str, ready: &str, ip: &str, worker: bool) -> serde_json::Value {
    let role_label = if worker {
        "node.kubernetes.io/microk8s-worker"
    } else {
        "node.kubernetes.io/microk8s-controlplane"
    };
    let role_value = role_label.trim_start_matches("node.kubernetes.io/");
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "creationTimestamp": "2024-03-11T09:14:02Z",
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "microk8s.io/cluster": "true",
                role_label: role_value,
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {
            "addresses": [
                {"address": ip, "type": "InternalIP"},
                {"address": name, "type": "Hostname"},
            ],
            "allocatable": {"cpu": "15", "memory": "63917076Ki", "pods": "110"},
            "capacity": {"cpu": "16", "memory": "65605140Ki", "pods": "110"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
                {"type": "Ready", "status": ready, "reason": if ready == "True" { "KubeletReady" } else { "NodeStatusUnknown" }},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://1.6.28",
                "kernelVersion": "6.8.0-45-generic",
                "kubeProxyVersion": "v1.31.1",
                "kubeletVersion": "v1.31.1",
                "operatingSystem": "linux",
                "osImage": "Ubuntu 24.04.1 LTS",
            },
        },
    })
}

fn nodes_list_json(nodes: &[serde_json::Value]) -> String {
    serde_json::to_string_pretty(&json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": nodes,
        "metadata": {"resourceVersion": ""},
    }))
    .unwrap()
}

/// What `microk8s add-node` prints (MicroK8s 1.31), with reserved addresses.
const ADD_NODE_OUTPUT: &str = "From the node you wish to join to this cluster, run the following:
microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05

Use the '--worker' flag to join a node as a worker not running the control plane, eg:
microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05 --worker

If the node you are adding is not reachable through the default interface you can use one of the following:
microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05
microk8s join 198.51.100.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05
microk8s join 203.0.113.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05
";

const JOIN: &str = "microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05";

fn cluster_with_nodes() -> FakeCluster {
    let mut fake = FakeCluster::new();
    let master = node_json("u24master", "True", "192.0.2.10", false);
    let worker = node_json("u24worker", "Unknown", "198.51.100.20", true);
    fake.respond(
        &["kubectl", "get", "nodes"],
        &nodes_list_json(&[master, worker.clone()]),
        0,
    );
    fake.respond(
        &["kubectl", "get", "node", "u24worker"],
        &serde_json::to_string_pretty(&worker).unwrap(),
        0,
    );
    fake.respond_full(
        &["kubectl", "get", "node"],
        "",
        "Error from server (NotFound): nodes \"ghost\" not found\n",
        1,
    );
    fake.respond(&["microk8s", "add-node"], ADD_NODE_OUTPUT, 0);
    fake.respond(&["microk8s", "remove-node"], "", 0);
    fake
}

fn run(fake: &FakeCluster, args: &[&str]) -> (Option<i32>, String, String) {
    let out = fake.command(args).output().unwrap();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn ls_shows_the_nodes_as_a_table() {
    let fake = cluster_with_nodes();
    let (code, stdout, stderr) = run(&fake, &["nodes", "ls"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        fake.calls(),
        vec![call(&["microk8s", "kubectl", "get", "nodes", "-o", "json"])]
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for header in ["NAME", "STATUS", "ROLES", "VERSION", "INTERNAL-IP"] {
        assert!(lines[0].contains(header), "{stdout}");
    }
    let master: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        master,
        [
            "u24master",
            "Ready",
            "control-plane",
            "v1.31.1",
            "192.0.2.10"
        ]
    );
    let worker: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        worker,
        [
            "u24worker",
            "NotReady",
            "worker",
            "v1.31.1",
            "198.51.100.20"
        ]
    );
}

#[test]
fn ls_with_plain_tools_runs_kubectl() {
    let fake = cluster_with_nodes();
    let (code, stdout, stderr) = run(&fake, &["--tools", "plain", "nodes", "ls"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        fake.calls(),
        vec![call(&["kubectl", "get", "nodes", "-o", "json"])]
    );
    assert!(stdout.contains("u24worker"), "{stdout}");
}

#[test]
fn ls_failure_shows_the_tools_error_and_its_exit_code() {
    let mut fake = cluster_with_nodes();
    fake.respond_full(
        &["kubectl", "get", "nodes"],
        "",
        "The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?\n",
        1,
    );
    let (code, stdout, stderr) = run(&fake, &["nodes", "ls"]);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("127.0.0.1:16443 was refused"), "{stderr}");
    assert!(
        stderr.contains("microk8s kubectl get nodes -o json"),
        "{stderr}"
    );
}

#[test]
fn add_prints_only_the_join_commands() {
    let fake = cluster_with_nodes();
    let (code, stdout, stderr) = run(&fake, &["nodes", "add"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(fake.calls(), vec![call(&["microk8s", "add-node"])]);
    assert!(stdout.contains(&format!("\n  {JOIN}\n")), "{stdout}");
    assert!(
        stdout.contains("  microk8s join 198.51.100.1:25000/"),
        "{stdout}"
    );
    assert!(!stdout.contains("--worker"), "{stdout}");
    assert!(!stdout.contains("From the node you wish"), "{stdout}");
    assert_eq!(stdout.matches(JOIN).count(), 1, "{stdout}");
    assert!(stdout.contains("25000/tcp"), "{stdout}");
}

#[test]
fn add_worker_appends_the_worker_flag() {
    let fake = cluster_with_nodes();
    let (code, stdout, stderr) = run(&fake, &["nodes", "add", "--worker"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(fake.calls(), vec![call(&["microk8s", "add-node"])]);
    assert!(
        stdout.contains(&format!("\n  {JOIN} --worker\n")),
        "{stdout}"
    );
    let joins = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("microk8s join"));
    assert!(
        joins.clone().count() == 3 && joins.into_iter().all(|l| l.ends_with(" --worker")),
        "{stdout}"
    );
}

#[test]
fn add_without_join_command_in_the_output_fails() {
    let mut fake = cluster_with_nodes();
    fake.respond(
        &["microk8s", "add-node"],
        "Something unexpected happened\n",
        0,
    );
    let (code, _, stderr) = run(&fake, &["nodes", "add"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no `microk8s join` command"), "{stderr}");
    assert!(stderr.contains("Something unexpected happened"), "{stderr}");
}

#[test]
fn add_and_remove_need_microk8s() {
    for args in [
        vec!["--tools", "plain", "nodes", "add"],
        vec!["--tools", "plain", "nodes", "remove", "u24worker", "--yes"],
        vec![
            "--tools",
            "plain",
            "nodes",
            "remove",
            "u24worker",
            "--dry-run",
        ],
    ] {
        let fake = cluster_with_nodes();
        let (code, stdout, stderr) = run(&fake, &args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(
            stderr.contains("works only on MicroK8s"),
            "{args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "{stdout}");
        assert!(fake.calls().is_empty(), "{args:?}: {:?}", fake.calls());
    }
}

#[test]
fn remove_dry_run_prints_the_command_and_removes_nothing() {
    let fake = cluster_with_nodes();
    let (code, stdout, stderr) = run(&fake, &["nodes", "remove", "u24worker", "--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "microk8s remove-node u24worker\n");
    assert_eq!(
        fake.calls(),
        vec![call(&[
            "microk8s",
            "kubectl",
            "get",
            "node",
            "u24worker",
            "-o",
            "json"
        ])]
    );
    assert!(stderr.contains("microk8s leave"), "{stderr}");

    let fake = cluster_with_nodes();
    let (code, stdout, _) = run(
        &fake,
        &["nodes", "remove", "u24worker", "--force", "--dry-run"],
    );
    assert_eq!(code, Some(0));
    assert_eq!(stdout, "microk8s remove-node u24worker --force\n");
    assert!(fake
        .calls_starting_with(&["microk8s", "remove-node"])
        .is_empty());
}

#[test]
fn remove_without_a_terminal_needs_yes() {
    let fake = cluster_with_nodes();
    let (code, _, stderr) = run(&fake, &["nodes", "remove", "u24worker"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(
        fake.calls_starting_with(&["microk8s", "remove-node"])
            .is_empty(),
        "{:?}",
        fake.calls()
    );
}

#[test]
fn remove_with_yes_runs_remove_node() {
    let fake = cluster_with_nodes();
    let (code, _, stderr) = run(&fake, &["nodes", "remove", "u24worker", "--yes", "--force"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        fake.calls(),
        vec![
            call(&[
                "microk8s",
                "kubectl",
                "get",
                "node",
                "u24worker",
                "-o",
                "json"
            ]),
            call(&["microk8s", "remove-node", "u24worker", "--force"]),
        ]
    );
    assert!(stderr.contains("Removed u24worker"), "{stderr}");
}

#[test]
fn remove_of_an_unknown_node_fails_before_removing() {
    let fake = cluster_with_nodes();
    let (code, _, stderr) = run(&fake, &["nodes", "remove", "ghost", "--yes"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no node named \"ghost\""), "{stderr}");
    assert_eq!(
        fake.calls(),
        vec![call(&[
            "microk8s", "kubectl", "get", "node", "ghost", "-o", "json"
        ])]
    );
}

#[test]
fn remove_refuses_names_that_are_not_node_names() {
    let fake = cluster_with_nodes();
    let (code, _, stderr) = run(&fake, &["nodes", "remove", "--yes", "--", "--all"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("not a node name"), "{stderr}");
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn remove_node_failure_stops_with_its_error_and_code() {
    let mut fake = cluster_with_nodes();
    fake.respond_full(
        &["microk8s", "remove-node"],
        "",
        "Error: node u24worker still has the cluster agent running; run `microk8s leave` on it or use --force\n",
        1,
    );
    let (code, _, stderr) = run(&fake, &["nodes", "remove", "u24worker", "--yes"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("still has the cluster agent running"),
        "{stderr}"
    );
    assert!(!stderr.contains("Removed u24worker"), "{stderr}");
}

#[test]
fn remove_refuses_the_node_binderctl_runs_on() {
    let Ok(hostname) = std::fs::read_to_string("/proc/sys/kernel/hostname") else {
        return; // not Linux: the host cannot be identified this way
    };
    let name = hostname.trim().to_ascii_lowercase();
    let usable = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.starts_with('-');
    if !usable {
        return;
    }
    let mut fake = cluster_with_nodes();
    fake.respond(
        &["kubectl", "get", "node", &name],
        &serde_json::to_string(&node_json(&name, "True", "192.0.2.10", false)).unwrap(),
        0,
    );
    let (code, _, stderr) = run(&fake, &["nodes", "remove", &name, "--yes"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is the node binderctl runs on"), "{stderr}");
    assert!(fake
        .calls_starting_with(&["microk8s", "remove-node"])
        .is_empty());
}

#[test]
fn reserve_is_idempotent_on_a_file_with_cr_only_line_endings() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    let cr_only = STOCK_ARGS.replace('\n', "\r");
    std::fs::write(&args, &cr_only).unwrap();
    let path = args.to_str().unwrap();
    let first = binderctl(&["nodes", "reserve", "--kubelet-args", path]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let after = std::fs::read_to_string(&args).unwrap();
    assert_eq!(after.matches("--kube-reserved").count(), 1, "{after:?}");
    assert!(!after.contains('\n'), "{after:?}");
    let second = binderctl(&["nodes", "reserve", "--kubelet-args", path]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(text(&second.stdout).contains("nothing to change"));
    assert_eq!(std::fs::read_to_string(&args).unwrap(), after);
}

#[cfg(unix)]
#[test]
fn reserve_writes_through_a_symlinked_arguments_file() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("1234");
    std::fs::create_dir(&current).unwrap();
    let real = current.join("kubelet");
    std::fs::write(&real, STOCK_ARGS).unwrap();
    let link = dir.path().join("kubelet");
    std::os::unix::fs::symlink("1234/kubelet", &link).unwrap();
    let out = binderctl(&["nodes", "reserve", "--kubelet-args", link.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(
        meta.file_type().is_symlink(),
        "the link was replaced by a file"
    );
    let written = std::fs::read_to_string(&real).unwrap();
    assert!(
        written.contains(KUBE) && written.contains(SYSTEM),
        "{written}"
    );
    // Nothing but the file itself in the link target's folder.
    let names: Vec<_> = std::fs::read_dir(&current)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("kubelet")]);
}

#[test]
fn add_on_a_worker_node_keeps_microk8s_own_explanation() {
    let fake = cluster_with_nodes();
    fake.set_microk8s_state(support::fake_tools::Microk8sState::Worker);
    let (code, stdout, stderr) = run(&fake, &["nodes", "add"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(
            "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s \
             add-node on the master."
        ),
        "{stderr}"
    );
    assert!(stderr.contains("worker node"), "{stderr}");
    assert!(stderr.contains("control-plane node"), "{stderr}");
}

/// kubeadm's `/var/lib/kubelet/config.yaml`, abridged.
const KUBEADM_CONFIG: &str = "apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
kind: KubeletConfiguration
systemReserved:
  cpu: 500m
staticPodPath: /etc/kubernetes/manifests
";

/// With `--tools plain` on a kubeadm node, the reservations go into the
/// KubeletConfiguration (`kubeReserved`, `systemReserved`), once, with a
/// backup; the rest of the file stays byte for byte.
#[test]
fn reserve_on_a_kubeadm_node_edits_its_kubelet_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubelet");
    std::fs::write(&config, KUBEADM_CONFIG).unwrap();
    let path = config.to_str().unwrap();
    let args = [
        "--tools",
        "plain",
        "nodes",
        "reserve",
        "--kubelet-args",
        path,
    ];

    let dry = binderctl(&[&args[..], &["--dry-run"]].concat());
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("+kubeReserved:\n+  cpu: \"1\"\n"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), KUBEADM_CONFIG);

    let first = binderctl(&args);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(
        stdout.contains("(kubeReserved) and system daemons (systemReserved)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sudo systemctl restart kubelet"),
        "{stdout}"
    );
    let after = std::fs::read_to_string(&config).unwrap();
    let block = |key: &str| {
        format!("{key}:\n  cpu: \"1\"\n  memory: \"512Mi\"\n  ephemeral-storage: \"10Gi\"\n")
    };
    assert_eq!(
        after,
        KUBEADM_CONFIG.replace("systemReserved:\n  cpu: 500m\n", &block("systemReserved"))
            + &block("kubeReserved")
    );
    let parsed: serde_yaml::Value = serde_yaml::from_str(&after).unwrap();
    assert_eq!(parsed["kubeReserved"]["memory"], "512Mi");
    assert_eq!(parsed["systemReserved"]["cpu"], "1");
    let made = backups(dir.path());
    assert_eq!(made.len(), 1);
    assert_eq!(std::fs::read_to_string(&made[0]).unwrap(), KUBEADM_CONFIG);

    let second = binderctl(&args);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("nothing to change"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), after);
    assert_eq!(backups(dir.path()), made);

    // A configuration that cannot be edited safely is refused, unchanged.
    let broken = format!("{KUBEADM_CONFIG}kubeReserved: [\n");
    std::fs::write(&config, &broken).unwrap();
    let out = binderctl(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(path), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), broken);
}

#[test]
fn reserve_with_plain_tools_reads_kubeadms_file_by_default() {
    let out = binderctl(&["--tools", "plain", "nodes", "reserve", "--dry-run"]);
    let err = text(&out.stderr);
    if std::path::Path::new("/var/lib/kubelet/config.yaml").exists() {
        return; // a kubeadm machine: the file is there to read
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/var/lib/kubelet/config.yaml: cannot read the kubelet arguments")
            && err.contains("is this a kubeadm node?"),
        "{err}"
    );
}

// ---- nodes gc on this node ----

const GC_HIGH: &str = "--image-gc-high-threshold=80";
const GC_LOW: &str = "--image-gc-low-threshold=70";

/// `nodes gc` on MicroK8s' arguments file: the two threshold flags, once,
/// with one backup; a second run changes nothing and says so; the rest of
/// the file stays byte for byte, reservations included.
#[test]
fn gc_sets_the_thresholds_once_with_one_backup() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    let before = format!("{STOCK_ARGS}--image-gc-high-threshold 90\n");
    std::fs::write(&args, &before).unwrap();
    let path = args.to_str().unwrap();
    let gc = [
        "nodes",
        "gc",
        "--high",
        "80",
        "--low",
        "70",
        "--kubelet-args",
        path,
    ];

    let dry = binderctl(&[&gc[..], &["--dry-run"]].concat());
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let shown = text(&dry.stdout);
    assert!(
        shown.contains(&format!("\n---image-gc-high-threshold 90\n+{GC_HIGH}\n")),
        "{shown}"
    );
    assert!(shown.contains(&format!("+{GC_LOW}\n")), "{shown}");
    assert_eq!(std::fs::read_to_string(&args).unwrap(), before);
    assert!(backups(dir.path()).is_empty());

    let first = binderctl(&gc);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let said = text(&first.stdout);
    assert!(
        said.contains(&format!("in {path}: {GC_HIGH}, {GC_LOW}.\n")),
        "{said}"
    );
    assert!(
        said.contains("sudo snap restart microk8s.daemon-kubelite"),
        "{said}"
    );
    let after = std::fs::read_to_string(&args).unwrap();
    assert_eq!(after, format!("{STOCK_ARGS}{GC_HIGH}\n{GC_LOW}\n"));
    let made = backups(dir.path());
    assert_eq!(made.len(), 1);
    assert_eq!(std::fs::read_to_string(&made[0]).unwrap(), before);

    let second = binderctl(&gc);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains(
            "already sets image garbage collection to high 80%, low 70%; nothing to change"
        ),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(std::fs::read_to_string(&args).unwrap(), after);
    assert_eq!(backups(dir.path()), made);

    // nodes reserve afterwards keeps the thresholds, and gc the reservations.
    assert!(binderctl(&["nodes", "reserve", "--kubelet-args", path])
        .status
        .success());
    let reserved = std::fs::read_to_string(&args).unwrap();
    assert!(
        reserved.contains(GC_HIGH) && reserved.contains(KUBE),
        "{reserved}"
    );
    assert!(text(&binderctl(&gc).stdout).contains("nothing to change"));
}

#[test]
fn gc_refuses_thresholds_the_kubelet_would_refuse_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    let path = args.to_str().unwrap();
    for (high, low, wanted) in [
        ("80", "80", "--low 80 must be below --high 80"),
        ("70", "90", "--low 90 must be below --high 70"),
        (
            "101",
            "80",
            "--high 101: a percentage of the image filesystem, at most 100",
        ),
    ] {
        let out = binderctl(&[
            "nodes",
            "gc",
            "--high",
            high,
            "--low",
            low,
            "--kubelet-args",
            path,
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(wanted), "{err}");
        assert_eq!(std::fs::read_to_string(&args).unwrap(), STOCK_ARGS);
        assert!(backups(dir.path()).is_empty());
    }
    let out = binderctl(&["nodes", "gc", "--low", "-1", "--kubelet-args", path]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = binderctl(&[
        "nodes",
        "gc",
        "--max-age",
        "two weeks",
        "--kubelet-args",
        path,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--max-age"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&args).unwrap(), STOCK_ARGS);
}

/// On MicroK8s (its arguments file) --max-age is refused before anything
/// is read: the kubelet has no flag for imageMaximumGCAge.
#[test]
fn gc_max_age_on_microk8s_flags_is_refused_with_the_reason() {
    let out = binderctl(&["nodes", "gc", "--max-age", "14d"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no flag for imageMaximumGCAge") && err.contains("--kubelet-args"),
        "{err}"
    );
}

/// This machine's host name, as binderctl reads it.
fn this_host() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.trim().to_string())
        .unwrap()
}

/// A fake cluster whose node named after this machine runs `version`.
fn cluster_with_this_node(version: &str) -> FakeCluster {
    let mut fake = FakeCluster::new();
    let mut me = node_json(&this_host(), "True", "192.0.2.10", false);
    me["status"]["nodeInfo"]["kubeletVersion"] = json!(version);
    let other = node_json("some-other-node", "True", "192.0.2.11", true);
    fake.respond(
        &["kubectl", "get", "nodes"],
        &nodes_list_json(&[other, me]),
        0,
    );
    fake
}

/// With --tools plain on a kubeadm node: the three keys in its
/// KubeletConfiguration, the maximum age in Go's format, once; a kubelet
/// older than 1.29 is refused, naming the node and its version.
#[test]
fn gc_on_a_kubeadm_node_sets_the_maximum_age_after_checking_the_kubelet_version() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubelet");
    std::fs::write(&config, KUBEADM_CONFIG).unwrap();
    let path = config.to_str().unwrap();
    let args = [
        "--tools",
        "plain",
        "nodes",
        "gc",
        "--max-age",
        "14d",
        "--kubelet-args",
        path,
    ];

    let old = cluster_with_this_node("v1.28.15");
    let (code, _, err) = run(&old, &args);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("node {} (this machine)", this_host()))
            && err.contains("v1.28.15")
            && err.contains("1.29"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), KUBEADM_CONFIG);

    let fake = cluster_with_this_node("v1.31.1");
    let (code, out, err) = run(&fake, &args);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("imageMaximumGCAge: 336h"), "{out}");
    let after = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        after,
        format!(
            "{KUBEADM_CONFIG}imageGCHighThresholdPercent: 85\nimageGCLowThresholdPercent: 80\n\
             imageMaximumGCAge: 336h\n"
        )
    );
    assert_eq!(backups(dir.path()).len(), 1);
    let (code, out, err) = run(&fake, &args);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), after);
    assert_eq!(
        fake.calls_starting_with(&["kubectl", "get", "nodes"]).len(),
        2,
        "one node list per run"
    );

    // Without --max-age no version is needed, and none is read.
    let quiet = FakeCluster::new();
    let (code, out, err) = run(
        &quiet,
        &[
            "--tools",
            "plain",
            "nodes",
            "gc",
            "--high",
            "90",
            "--kubelet-args",
            path,
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("-imageGCHighThresholdPercent: 85\n+imageGCHighThresholdPercent: 90\n"),
        "{out}"
    );
    assert!(quiet.calls().is_empty(), "{:?}", quiet.calls());
}
