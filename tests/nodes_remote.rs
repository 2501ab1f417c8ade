//! `--node`/`--all-nodes` against a fake cluster of several nodes: the
//! stand-in kubectl keeps the helper pods binderctl creates (in
//! `$FAKE_DIR/pods`) and answers for them as each node would (its images,
//! its containers, whether it can pull the helper image, which removals
//! fail). Every helper pod must be gone at the end, whatever happened.

mod support;

use std::path::PathBuf;

use serde_json::{json, Value};
use support::fake_tools::{
    ctr_table, default_images, meet_script, stats_summary_json, FakeCluster, CONTAINERS_TABLE,
    MICROK8S_STATUS_YAML, STATS_SCRIPT,
};
use support::real_tools::validate_manifest;
use support::{run, stderr, stdout};

/// `kubectl create -f - ...`: keep the pod from stdin as pods/NAME.json;
/// with `--dry-run=server` (admission only) keep nothing, as the server
/// does, and answer `pod/NAME` as kubectl prints it.
const CREATE_SCRIPT: &str = r#"
mkdir -p "$FAKE_DIR/pods"
new=$FAKE_DIR/pods/.new.$$
cat > "$new"
name=$(sed -n 's/^    "name": "\(.*\)",\{0,1\}$/\1/p' "$new" | head -n 1)
case " $* " in *" --dry-run=server "*)
  rm -f "$new"
  if [ -f "$FAKE_DIR/admission-refuses" ]; then cat "$FAKE_DIR/admission-refuses" >&2; exit 1; fi
  echo "pod/$name"
  exit 0 ;;
esac
# Whole or not at all: the tests read these while binderctl runs.
cp "$new" "$FAKE_DIR/.created-$name.json"
mv "$FAKE_DIR/.created-$name.json" "$FAKE_DIR/created-$name.json"
mv "$new" "$FAKE_DIR/pods/$name.json"
echo "pod/$name"
"#;

/// Shared by the pod scripts: `$pod` (file) and `$node` of pod `$2`/`$3`.
const FIND_POD: &str = r#"
pod=$FAKE_DIR/pods/$NAME.json
if [ ! -f "$pod" ]; then
  echo "Error from server (NotFound): pods \"$NAME\" not found" >&2
  exit 1
fi
node=$(sed -n 's/^    "nodeName": "\(.*\)",\{0,1\}$/\1/p' "$pod")
dir=$FAKE_DIR/nodes/$node
"#;

/// `kubectl get pod NAME ... -o json`: the node's answer.
fn status_script() -> String {
    format!(
        r#"NAME=$3
{FIND_POD}
if [ -e "$dir/pull-fails" ]; then
  echo '{{"status":{{"phase":"Pending","containerStatuses":[{{"name":"images","state":{{"waiting":{{"reason":"ImagePullBackOff","message":"Back-off pulling image"}}}}}}]}}}}'
  exit 0
fi
phase=Succeeded
case "$NAME" in *-restart) touch "$dir/restarted" ;; esac
if [ -e "$dir/hangs" ]; then phase=Running; fi
if [ -f "$dir/rm-fails" ]; then
  while read -r ref; do
    if grep -qF "\"$ref\"" "$pod"; then phase=Failed; fi
  done < "$dir/rm-fails"
fi
echo "{{\"status\":{{\"phase\":\"$phase\"}}}}"
"#
    )
}

/// `kubectl logs NAME -n NS -c CONTAINER`: what the node's ctr printed.
fn logs_script() -> String {
    format!(
        r#"NAME=$2
{FIND_POD}
container=$6
if [ -e "$dir/logs-fail" ]; then
  # The kubelet's port, behind the node's firewall, as kubectl reports it.
  echo "Error from server: Get \"https://192.0.2.10:10250/containerLogs/binder/$NAME/$container\": dial tcp 192.0.2.10:10250: i/o timeout" >&2
  exit 1
fi
case "$container" in
  images) cat "$dir/images" ;;
  read) cat "$dir/kubelet-args" ;;
  write) echo "$dir/backup" ;;
  restart) ;;
  containers) cat "$dir/containers" ;;
  ufw-conf|ufw-defaults|ufw-rules|interfaces|kubelet)
    # What READ_OPTIONAL_SCRIPT prints on the node.
    f=$dir/files/$container
    if [ -f "$f" ]; then echo present; cat "$f"; else echo absent; fi ;;
  rm-*)
    while read -r ref; do
      if grep -qF "\"$ref\"" "$pod" && ! grep -qxF -- "$ref" "$dir/rm-fails" 2>/dev/null; then
        echo "$ref"
      fi
    done < "$dir/existing" ;;
esac
"#
    )
}

/// `kubectl get node NAME -o json`: Ready, with a newer heartbeat once its
/// kubelet restarted, unless the node stays down after the restart.
const GET_NODE_SCRIPT: &str = r#"
dir=$FAKE_DIR/nodes/$3
status=True
beat=2030-01-01T00:00:00Z
if [ -e "$dir/restarted" ]; then
  if [ -e "$dir/stays-down" ]; then status=Unknown; else beat=2030-01-01T00:05:00Z; fi
fi
echo "{\"metadata\":{\"name\":\"$3\"},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"$status\",\"lastHeartbeatTime\":\"$beat\"}]}}"
"#;

/// `kubectl delete pod NAME ...` and `kubectl delete pods -l ...`. With a
/// selector that matches nothing, real kubectl prints `No resources found`
/// on stdout, even with `-o name` (seen against the real API server).
const DELETE_SCRIPT: &str = r#"
case "$2" in
  pods)
    found=
    for f in "$FAKE_DIR"/pods/*.json; do
      [ -f "$f" ] || continue
      n=${f##*/}; n=${n%.json}
      echo "pod/$n"
      found=1
      rm -f "$f"
    done
    [ -n "$found" ] || echo "No resources found" ;;
  pod)
    rm -f "$FAKE_DIR/pods/$3.json"
    echo "pod \"$3\" deleted" ;;
esac
"#;

fn node_json(name: &str, ready: bool) -> Value {
    node_with_runtime(name, ready, "containerd://1.6.28")
}

fn node_with_runtime(name: &str, ready: bool, runtime: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" }}],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.10"}],
            "nodeInfo": {"kubeletVersion": "v1.31.2", "containerRuntimeVersion": runtime}
        }
    })
}

const KUBELET_ARGS: &str =
    "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n--cert-dir=${SNAP_DATA}/certs\n";

const TEACHING: &str =
    "registry.example/intel4coro/binder-cram2-2dteaching-2dmaterial-9f8e7d:4e5f6a7b";

/// Four nodes: cp1 and w1 Ready, w2 NotReady, w3 cannot pull the helper
/// image. Each Ready node has the default images.
fn cluster() -> FakeCluster {
    let mut fake = FakeCluster::new();
    let nodes = json!({"items": [
        node_json("cp1", true), node_json("w1", true), node_json("w2", false), node_json("w3", true)
    ]});
    fake.respond(&["kubectl", "get", "nodes"], &nodes.to_string(), 0);
    fake.respond_script(&["kubectl", "create"], CREATE_SCRIPT);
    fake.respond_script(&["kubectl", "get", "pod"], &status_script());
    fake.respond_script(&["kubectl", "logs"], &logs_script());
    fake.respond_script(&["kubectl", "get", "node"], GET_NODE_SCRIPT);
    fake.respond_script(&["kubectl", "delete", "pod"], DELETE_SCRIPT);
    fake.respond_script(&["kubectl", "delete", "pods"], DELETE_SCRIPT);
    let images = default_images();
    let existing: String = images.iter().map(|(r, _, _)| format!("{r}\n")).collect();
    for node in ["cp1", "w1", "w2", "w3"] {
        let dir = node_dir(&fake, node);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("images"), ctr_table(&images)).unwrap();
        std::fs::write(dir.join("containers"), CONTAINERS_TABLE).unwrap();
        std::fs::write(dir.join("existing"), &existing).unwrap();
        std::fs::write(dir.join("kubelet-args"), KUBELET_ARGS).unwrap();
    }
    std::fs::write(node_dir(&fake, "w3").join("pull-fails"), "").unwrap();
    std::fs::create_dir_all(fake.state_dir().join("pods")).unwrap();
    fake
}

fn node_dir(fake: &FakeCluster, node: &str) -> PathBuf {
    fake.state_dir().join("nodes").join(node)
}

/// The helper pods still there.
fn pods_left(fake: &FakeCluster) -> Vec<String> {
    std::fs::read_dir(fake.state_dir().join("pods"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect()
}

/// Every pod manifest binderctl created, parsed.
fn created(fake: &FakeCluster) -> Vec<Value> {
    let mut pods: Vec<(String, Value)> = std::fs::read_dir(fake.state_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("created-")
        })
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect();
    pods.sort_by(|a, b| a.0.cmp(&b.0));
    pods.into_iter().map(|(_, v)| v).collect()
}

fn node_of(pod: &Value) -> &str {
    pod["spec"]["nodeName"].as_str().unwrap()
}

#[test]
fn ls_all_nodes_lists_each_ready_node_once_and_leaves_no_pod() {
    let fake = cluster();
    let out = run(
        &fake,
        &["images", "ls", "teaching", "--all-nodes", "-o", "json"],
    );
    let err = stderr(&out);
    // w3 could not pull the image: the command fails, naming it and the image.
    assert!(!out.status.success());
    assert!(err.contains("node w2 is NotReady: skipped"), "{err}");
    assert!(
        err.contains("node w3 cannot pull the helper image docker.io/library/busybox:1.36"),
        "{err}"
    );
    assert!(err.contains("ImagePullBackOff"), "{err}");
    assert!(
        err.contains("1 of 3 failed: w3") || err.contains("1 node of 3 failed: w3"),
        "{err}"
    );
    let listed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{listed}");
    for row in rows {
        assert!(row["ref"].as_str().unwrap().contains("teaching"));
        assert_eq!(row["nodes"], json!(["cp1", "w1"]));
    }
    let pods = created(&fake);
    let mut nodes: Vec<&str> = pods.iter().map(node_of).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["cp1", "w1", "w3"], "never on the NotReady node");
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}

#[test]
fn no_leftover_helper_pods_is_no_removal() {
    let fake = cluster();
    let out = run(&fake, &["images", "ls", "--node", "cp1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("Removed"),
        "kubectl's `No resources found` was taken for a pod:\n{}",
        stderr(&out)
    );
}

#[test]
fn leftover_helper_pods_are_removed_first() {
    let fake = cluster();
    std::fs::write(
        fake.state_dir()
            .join("pods/binderctl-helper-old-0-read.json"),
        "{}",
    )
    .unwrap();
    let out = run(&fake, &["images", "ls", "--node", "cp1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("Removed pod/binderctl-helper-old-0-read left by an earlier binderctl run"),
        "{}",
        stderr(&out)
    );
    let table = stdout(&out);
    assert!(table.starts_with("REF"), "{table}");
    assert!(table.contains(TEACHING), "{table}");
    assert!(pods_left(&fake).is_empty());
    let calls = fake.normalized_calls();
    let leftovers = calls
        .iter()
        .position(|c| c[1] == "delete" && c[2] == "pods")
        .unwrap();
    // The first pod made for real (the admission dry run, alongside the
    // clean-up, makes none).
    let first_create = calls
        .iter()
        .position(|c| c[1] == "create" && !c.contains(&"--dry-run=server".to_string()))
        .unwrap();
    assert!(leftovers < first_create, "{calls:?}");
}

#[test]
fn rm_removes_per_node_keeps_protected_images_and_reports_a_partial_failure() {
    let fake = cluster();
    // On w1 ctr fails to remove one of the refs.
    std::fs::write(
        node_dir(&fake, "w1").join("rm-fails"),
        format!("{TEACHING}\n"),
    )
    .unwrap();
    let out = run(
        &fake,
        &[
            "images", "rm", "teaching", "--node", "cp1", "--node", "w1", "--yes",
        ],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("node cp1: 5 image refs to remove"), "{err}");
    assert!(
        err.contains("node cp1: removed 5 of 5 image refs (about 4.4 GiB)"),
        "{err}"
    );
    assert!(
        err.contains("node w1: removed 4 of 5 image refs (about 2.1 GiB)"),
        "{err}"
    );
    assert!(
        err.contains("node w1: the removal failed part-way"),
        "{err}"
    );
    assert!(
        err.contains("Freed about 6.5 GiB in total on 2 nodes."),
        "{err}"
    );
    assert!(
        err.contains("1 node of 2 failed: w1") || err.contains("1 of 2 failed: w1"),
        "{err}"
    );
    let rm_pods: Vec<Value> = created(&fake)
        .into_iter()
        .filter(|p| p["metadata"]["name"].as_str().unwrap().ends_with("-rm"))
        .collect();
    assert_eq!(rm_pods.len(), 2);
    for pod in &rm_pods {
        let text = pod.to_string();
        assert!(text.contains(TEACHING), "{text}");
        // The system and in-use images stay.
        assert!(!text.contains("calico/cni"), "{text}");
        assert!(!text.contains("k8s-hub"), "{text}");
    }
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}

#[test]
fn rm_dry_run_prints_the_manifests_and_commands_and_removes_nothing() {
    let fake = cluster();
    let out = run(
        &fake,
        &["images", "rm", "teaching", "--node", "w1", "--dry-run"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("# helper pod for node w1"), "{text}");
    assert!(text.contains("\"privileged\": true"), "{text}");
    assert!(
        text.contains("microk8s kubectl create -f - -n binder -o name"),
        "{text}"
    );
    assert!(text.contains("--ignore-not-found --wait=false"), "{text}");
    // Only the read pod ran.
    let names: Vec<String> = created(&fake)
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("-read"));
    assert!(pods_left(&fake).is_empty());
}

#[test]
fn plain_nodes_use_the_standard_containerd_socket_and_the_chosen_namespace() {
    let fake = cluster();
    let out = run(
        &fake,
        &[
            "--tools",
            "plain",
            "images",
            "ls",
            "--node",
            "w1",
            "--helper-namespace",
            "ops",
            "--helper-image",
            "images.test/tools/alpine:3.20",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pods = created(&fake);
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    assert_eq!(pod["metadata"]["namespace"], "ops");
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["image"], "images.test/tools/alpine:3.20");
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        command[9..],
        [
            "ctr",
            "--address",
            "/run/containerd/containerd.sock",
            "--namespace",
            "k8s.io",
            "images",
            "ls"
        ]
    );
    assert!(fake
        .calls()
        .iter()
        .any(|c| c[..3] == ["kubectl", "create", "-f"] && c.contains(&"ops".to_string())));
}

#[test]
fn unknown_and_malformed_node_names_are_refused_before_any_pod() {
    let fake = cluster();
    let out = run(&fake, &["images", "ls", "--node", "nosuch"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no node named \"nosuch\""),
        "{}",
        stderr(&out)
    );
    let out = run(&fake, &["images", "ls", "--node", "-lx"]);
    assert!(!out.status.success());
    let out = run(&fake, &["images", "ls", "--node", "w1", "--all-nodes"]);
    assert!(!out.status.success());
    let out = run(
        &fake,
        &["images", "ls", "--node", "w1", "--helper-image", "x;rm"],
    );
    assert!(!out.status.success());
    assert!(created(&fake).is_empty());
}

#[test]
fn every_helper_manifest_is_valid_and_pinned() {
    let fake = cluster();
    std::fs::remove_file(node_dir(&fake, "w3").join("pull-fails")).unwrap();
    let out = run(&fake, &["images", "rm", "teaching", "--all-nodes", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pods = created(&fake);
    assert_eq!(pods.len(), 6, "a read and a removal pod on each Ready node");
    for pod in &pods {
        let spec = &pod["spec"];
        assert!(["cp1", "w1", "w3"].contains(&node_of(pod)));
        assert_eq!(spec["hostPID"], true);
        assert!(spec["activeDeadlineSeconds"].as_u64().unwrap() > 0);
        assert_eq!(
            pod["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "binderctl"
        );
        let containers = spec["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(spec["containers"].as_array().unwrap());
        for c in containers {
            assert_eq!(c["securityContext"]["privileged"], true);
            assert_eq!(c["command"][0], "nsenter");
        }
        if let Some(verdict) = validate_manifest(&serde_yaml::to_string(pod).unwrap()) {
            verdict.unwrap();
        }
    }
    assert!(pods_left(&fake).is_empty());
}

#[test]
fn real_kubectl_accepts_the_create_line_with_a_helper_manifest_on_stdin() {
    use binderctl::cli::ToolFlavor;
    use binderctl::cluster::node_helper::{self, HelperContainer, HelperPod, HelperTarget};
    use binderctl::cluster::tools::Tools;
    use std::io::Write;
    use std::process::{Command, Stdio};
    let kubectl = real_tool!("kubectl");
    let (_guard, kubeconfig) = support::real_tools::unreachable_kubeconfig();
    let home = tempfile::tempdir().unwrap();
    let target = HelperTarget {
        node: "node2.example",
        namespace: "binder",
        image: node_helper::DEFAULT_IMAGE,
        run_id: "0a1b2c3d",
    };
    for flavor in [ToolFlavor::Microk8s, ToolFlavor::Plain] {
        let write = node_helper::write_file_argv(
            "/var/snap/microk8s/current/args/kubelet",
            "/x.bak",
            "a\n",
            "b\n",
        );
        let pod = HelperPod::new(
            &target,
            0,
            "write",
            vec![
                HelperContainer::new("read", node_helper::read_file_argv("/etc/x")),
                HelperContainer::new("write", write),
            ],
        );
        let line = pod.create_command(&Tools::new(flavor));
        let args = match flavor {
            ToolFlavor::Microk8s => &line.args[1..],
            ToolFlavor::Plain => &line.args[..],
        };
        let mut child = Command::new(&kubectl)
            .args(args)
            .env_clear()
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(pod.manifest_text().as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{line}: {err}");
        assert!(
            err.contains("refused") && !err.contains("unknown") && !err.contains("--help"),
            "{line}: {err}"
        );
        if let Some(verdict) = validate_manifest(&pod.manifest_text()) {
            verdict.unwrap();
        }
    }
}

/// The names of the pods created, in order, as `NODE:PURPOSE`.
fn created_in_order(fake: &FakeCluster) -> Vec<String> {
    let mut pods: Vec<(std::time::SystemTime, String)> = created(fake)
        .iter()
        .map(|p| {
            let name = p["metadata"]["name"].as_str().unwrap();
            let file = fake.state_dir().join(format!("created-{name}.json"));
            let time = std::fs::metadata(file).unwrap().modified().unwrap();
            let purpose = name.rsplit('-').next().unwrap();
            (time, format!("{}:{purpose}", node_of(p)))
        })
        .collect();
    pods.sort();
    pods.into_iter().map(|(_, n)| n).collect()
}

fn without_pull_failures(fake: &FakeCluster) {
    std::fs::remove_file(node_dir(fake, "w3").join("pull-fails")).unwrap();
}

#[test]
fn reserve_rolls_out_node_by_node_and_stops_at_a_node_that_does_not_come_back() {
    let fake = cluster();
    without_pull_failures(&fake);
    std::fs::write(node_dir(&fake, "w1").join("stays-down"), "").unwrap();
    let out = run(
        &fake,
        &[
            "nodes",
            "reserve",
            "--all-nodes",
            "--yes",
            "--ready-timeout",
            "3s",
        ],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("node cp1 is Ready again."), "{err}");
    assert!(
        err.contains("node w1 is not Ready within 3s after its kubelet restarted"),
        "{err}"
    );
    assert!(
        err.contains("The roll-out stopped at node w1; not changed: w3"),
        "{err}"
    );
    assert!(
        err.contains("sudo snap restart microk8s.daemon-kubelite"),
        "{err}"
    );
    // The diffs, one per node, on stdout.
    assert_eq!(
        stdout(&out)
            .matches("+--kube-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi")
            .count(),
        3,
        "{}",
        stdout(&out)
    );
    let order = created_in_order(&fake);
    let changes: Vec<&String> = order.iter().filter(|p| !p.ends_with(":read")).collect();
    assert_eq!(
        changes,
        ["cp1:write", "cp1:restart", "w1:write", "w1:restart"],
        "{order:?}"
    );
    let write = created(&fake)
        .into_iter()
        .find(|p| {
            node_of(p) == "cp1" && p["metadata"]["name"].as_str().unwrap().ends_with("-write")
        })
        .unwrap();
    let command = &write["spec"]["containers"][0]["command"];
    assert_eq!(command[9], "sh");
    assert_eq!(command[13], "/var/snap/microk8s/current/args/kubelet");
    assert_eq!(
        command[15], KUBELET_ARGS,
        "the old text, to refuse a file changed meanwhile"
    );
    let new = command[16].as_str().unwrap();
    assert!(
        new.starts_with(KUBELET_ARGS) && new.contains("--system-reserved=cpu=1,memory=512Mi"),
        "{new}"
    );
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}

#[test]
fn reserve_skips_nodes_already_set_and_dry_run_changes_nothing() {
    let fake = cluster();
    without_pull_failures(&fake);
    let done = format!("{KUBELET_ARGS}--kube-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n--system-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n");
    std::fs::write(node_dir(&fake, "w3").join("kubelet-args"), done).unwrap();
    let out = run(
        &fake,
        &[
            "--tools",
            "plain",
            "nodes",
            "reserve",
            "--all-nodes",
            "--dry-run",
            "--kubelet-args",
            "/var/snap/microk8s/current/args/kubelet",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("node w3: /var/snap/microk8s/current/args/kubelet already reserves"),
        "{}",
        stderr(&out)
    );
    let text = stdout(&out);
    assert_eq!(
        text.matches("# helper pod for node").count(),
        4,
        "write and restart for cp1 and w1: {text}"
    );
    assert!(text.contains("\"systemctl\",\n"), "{text}");
    assert!(created(&fake)
        .iter()
        .all(|p| p["metadata"]["name"].as_str().unwrap().ends_with("-read")));

    let out = run(
        &fake,
        &[
            "nodes",
            "reserve",
            "--all-nodes",
            "--yes",
            "--ready-timeout",
            "5s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("node w1 is Ready again."), "{err}");
    assert!(
        err.contains("Reserved cpu=1,memory=512Mi,ephemeral-storage=10Gi on 2 nodes."),
        "{err}"
    );
    let order = created_in_order(&fake);
    assert!(
        !order
            .iter()
            .any(|p| p.starts_with("w3:") && !p.ends_with(":read")),
        "{order:?}"
    );
    assert!(pods_left(&fake).is_empty());
}

#[test]
fn ctrl_c_while_a_helper_pod_runs_still_deletes_it() {
    let fake = cluster();
    std::fs::write(node_dir(&fake, "w1").join("hangs"), "").unwrap();
    let child = fake
        .command(&["images", "ls", "--node", "w1"])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while created(&fake).is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no pod created"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(pods_left(&fake).len(), 1);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
    let deletes = fake.calls_starting_with(&["kubectl", "delete", "pod"]);
    assert_eq!(deletes.len(), 1, "{deletes:?}");
}

#[test]
fn the_write_script_backs_up_replaces_atomically_and_refuses_a_changed_file() {
    use binderctl::cluster::node_helper::write_file_argv;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubelet");
    let backup = dir.path().join("kubelet.bak-1");
    std::fs::write(&file, "old $(x)\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let run_script = |old: &str, new: &str| {
        let argv = write_file_argv(&file.to_string_lossy(), &backup.to_string_lossy(), old, new);
        std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap()
    };
    // Changed since it was read: nothing written.
    let out = run_script("other\n", "new\n");
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("changed since it was read"));
    assert!(!backup.exists());
    let out = run_script("old $(x)\n", "new `y` '$z'\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "new `y` '$z'\n");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "old $(x)\n");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary file left"
    );
    // An existing backup is never overwritten.
    let out = run_script("new `y` '$z'\n", "third\n");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "old $(x)\n");
}

#[test]
fn disk_shows_every_node_warns_about_full_ones_and_needs_no_helper_pod() {
    let mut fake = cluster();
    fake.respond_script(&["kubectl", "get", "--raw"], STATS_SCRIPT);
    const GIB: u64 = 1 << 30;
    std::fs::write(
        node_dir(&fake, "cp1").join("stats.json"),
        stats_summary_json(100 * GIB, 60 * GIB, 100 * GIB, 60 * GIB),
    )
    .unwrap();
    std::fs::write(
        node_dir(&fake, "w1").join("stats.json"),
        stats_summary_json(200 * GIB, 10 * GIB, 50 * GIB, 40 * GIB),
    )
    .unwrap();
    std::fs::write(
        node_dir(&fake, "w3").join("stats.json"),
        stats_summary_json(100 * GIB, 20 * GIB, 100 * GIB, 20 * GIB),
    )
    .unwrap();
    let out = run(&fake, &["nodes", "disk"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.starts_with("NAME"), "{table}");
    let w1 = table.lines().find(|l| l.starts_with("w1 ")).unwrap();
    assert!(
        w1.contains("200.0 GiB") && w1.contains("10.0 GiB") && w1.contains("95%"),
        "{w1}"
    );
    let w2 = table.lines().find(|l| l.starts_with("w2 ")).unwrap();
    assert!(w2.contains(" - "), "{w2}");
    let err = stderr(&out);
    assert!(
        err.contains("node w1: its image filesystem is 95% used (over 85%)"),
        "{err}"
    );
    assert!(
        err.contains("binderctl images rm PATTERN --node w1"),
        "{err}"
    );
    assert!(
        !err.contains("node w3: its"),
        "80% is below the threshold: {err}"
    );
    assert!(!err.contains("node cp1: its"), "{err}");
    assert!(
        err.contains("node w2 (NotReady): cannot read its disk usage"),
        "{err}"
    );
    assert!(created(&fake).is_empty(), "no privilege needed");
    let raw = fake.calls_starting_with(&["kubectl", "get", "--raw"]);
    assert_eq!(raw.len(), 4, "{raw:?}");

    let out = run(&fake, &["nodes", "disk", "-o", "json"]);
    let disks: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(disks[1]["name"], "w1");
    assert_eq!(disks[1]["image_fs"]["capacity_bytes"], 200 * GIB);
    assert_eq!(disks[1]["image_fs"]["available_bytes"], 10 * GIB);
    assert_eq!(disks[2]["image_fs"], Value::Null);
    assert!(disks[2]["error"]
        .as_str()
        .unwrap()
        .contains("ServiceUnavailable"));
}

#[test]
fn a_node_without_containerd_is_named_and_skipped_for_images() {
    let mut fake = cluster();
    let nodes = json!({"items": [node_json("cp1", true), node_with_runtime("crio1", true, "cri-o://1.28.1")]});
    fake.respond(&["kubectl", "get", "nodes"], &nodes.to_string(), 0);
    let out = run(&fake, &["images", "ls", "--all-nodes", "-o", "name"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("node crio1 runs cri-o://1.28.1, not containerd: skipped"),
        "{}",
        stderr(&out)
    );
    let nodes: Vec<String> = created(&fake)
        .iter()
        .map(|p| node_of(p).to_string())
        .collect();
    assert_eq!(nodes, ["cp1"]);
}

// ---- doctor --node / --all-nodes ----

const GIB: u64 = 1 << 30;
const UFW_ON: &str = "ENABLED=yes\n";
const UFW_ROUTED: &str = "DEFAULT_FORWARD_POLICY=\"ACCEPT\"\n";
const UFW_CALICO: &str = "-A ufw-user-input -i vxlan.calico -j ACCEPT\n\
    -A ufw-user-output -o vxlan.calico -j ACCEPT\n-A ufw-user-input -i cali+ -j ACCEPT\n\
    -A ufw-user-output -o cali+ -j ACCEPT\n";
/// `/proc/net/dev` of a MicroK8s node (Calico).
const CALICO_DEVICES: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 8826512   95216    0    0    0     0          0         0  8826512   95216    0    0    0     0       0          0
vxlan.calico:   37232     406    0    0    0     0          0         0    40812     442    0   29    0     0       0          0
cali6d2a3b1f0c9: 1402264   12213    0    0    0     0          0         0  9862511    9712    0    0    0     0       0          0
";
const RESERVED: &str = "--kube-reserved=cpu=1,memory=512Mi\n--system-reserved=cpu=1,memory=512Mi\n";

/// Write `text` as what the helper's `container` reads on `node`.
fn node_file(fake: &FakeCluster, node: &str, container: &str, text: &str) {
    let dir = node_dir(fake, node).join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(container), text).unwrap();
}

/// The four-node cluster with doctor's reads: cp1 set up as the tutorial
/// says; w1 with ufw blocking pods, no kubelet reservations and 5 GiB free;
/// w2 NotReady; w3 cannot pull the helper image.
fn doctor_cluster() -> FakeCluster {
    let mut fake = cluster();
    fake.respond(&["microk8s", "status"], MICROK8S_STATUS_YAML, 0);
    fake.respond_script(&["kubectl", "get", "--raw"], STATS_SCRIPT);
    for (node, image_free) in [("cp1", 60 * GIB), ("w1", 5 * GIB), ("w3", 50 * GIB)] {
        let stats = stats_summary_json(100 * GIB, image_free, 100 * GIB, 50 * GIB);
        std::fs::write(node_dir(&fake, node).join("stats.json"), stats).unwrap();
    }
    node_file(&fake, "cp1", "ufw-conf", UFW_ON);
    node_file(&fake, "cp1", "ufw-defaults", UFW_ROUTED);
    node_file(&fake, "cp1", "ufw-rules", UFW_CALICO);
    node_file(&fake, "cp1", "interfaces", CALICO_DEVICES);
    node_file(&fake, "w1", "interfaces", CALICO_DEVICES);
    node_file(
        &fake,
        "cp1",
        "kubelet",
        &format!("{KUBELET_ARGS}{RESERVED}"),
    );
    node_file(&fake, "w1", "ufw-conf", UFW_ON);
    node_file(
        &fake,
        "w1",
        "ufw-defaults",
        "DEFAULT_FORWARD_POLICY=\"DROP\"\n",
    );
    node_file(&fake, "w1", "kubelet", KUBELET_ARGS);
    fake
}

/// `binderctl BEFORE... doctor --root EMPTY AFTER...`: the machine doctor
/// runs on has none of the node checks' files (they come from the nodes).
fn doctor(fake: &FakeCluster, before: &[&str], after: &[&str]) -> std::process::Output {
    let root = fake.state_dir().join("empty-root");
    std::fs::create_dir_all(&root).unwrap();
    let root = root.to_str().unwrap().to_string();
    let mut args: Vec<&str> = before.to_vec();
    args.extend(["doctor", "--root", &root]);
    args.extend(after);
    run(fake, &args)
}

/// doctor's report as (status, label, rest of the line).
fn report_lines(out: &std::process::Output) -> Vec<(String, String, String)> {
    stdout(out)
        .lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            let status = words.next().unwrap_or("").to_string();
            let label = words.next().unwrap_or("").to_string();
            (status, label, words.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

fn report_line<'a>(
    report: &'a [(String, String, String)],
    label: &str,
) -> &'a (String, String, String) {
    report
        .iter()
        .find(|(_, l, _)| l == label)
        .unwrap_or_else(|| panic!("no {label} line in {report:?}"))
}

#[test]
fn doctor_all_nodes_runs_the_node_checks_on_each_ready_node_through_one_pod_each() {
    let fake = doctor_cluster();
    let out = doctor(&fake, &[], &["--all-nodes"]);
    let report = report_lines(&out);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    for label in [
        "firewall-routed@cp1",
        "firewall-cni@cp1",
        "kubelet-reserved@cp1",
        "containerd-disk@cp1",
        "containerd-disk@w3",
    ] {
        assert_eq!(report_line(&report, label).0, "ok", "{label}: {text}");
    }
    let routed = report_line(&report, "firewall-routed@w1");
    assert_eq!(routed.0, "fail", "{text}");
    assert!(routed.2.contains("DROP"), "{text}");
    assert!(
        routed
            .2
            .contains("fix: on node w1: sudo ufw default allow routed"),
        "{text}"
    );
    let cni = report_line(&report, "firewall-cni@w1");
    assert_eq!(cni.0, "fail", "{text}");
    assert!(
        cni.2
            .contains("on node w1: sudo ufw allow in on vxlan.calico"),
        "{text}"
    );
    let reserved = report_line(&report, "kubelet-reserved@w1");
    assert_eq!(reserved.0, "warn", "{text}");
    assert!(
        reserved.2.contains("--kube-reserved or --system-reserved"),
        "{text}"
    );
    assert!(
        reserved
            .2
            .contains("fix: binderctl nodes reserve --node w1"),
        "{text}"
    );
    let disk = report_line(&report, "containerd-disk@w1");
    assert_eq!(disk.0, "warn", "{text}");
    assert!(disk.2.contains("only 5.0 GiB free"), "{text}");
    assert!(
        disk.2.contains("binderctl images rm OLD-BUILDS --node w1"),
        "{text}"
    );
    // Skipped and failed nodes are said, never silent.
    let w2 = report_line(&report, "node-checks@w2");
    assert_eq!(w2.0, "skip", "{text}");
    assert!(w2.2.contains("node w2 is NotReady: skipped"), "{text}");
    let w3 = report_line(&report, "node-checks@w3");
    assert_eq!(w3.0, "fail", "{text}");
    assert!(w3.2.contains("cannot pull the helper image"), "{text}");
    assert!(
        w3.2.contains("fix: fix what the message says, then binderctl doctor --node w3"),
        "{text}"
    );
    // The node checks ran on the chosen nodes, not here.
    assert!(!report
        .iter()
        .any(|(_, l, _)| l == "firewall-routed" || l == "containerd-disk"));
    assert!(report.iter().any(|(_, l, _)| l == "credentials"), "{text}");

    // One pod per Ready node, its reads side by side, all gone afterwards;
    // the node list read once, earlier helper pods removed first.
    let pods = created(&fake);
    let mut nodes: Vec<&str> = pods.iter().map(node_of).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["cp1", "w1", "w3"]);
    for pod in &pods {
        assert!(pod["spec"].get("initContainers").is_none(), "{pod}");
        let containers = pod["spec"]["containers"].as_array().unwrap();
        let names: Vec<&str> = containers
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "ufw-conf",
                "ufw-defaults",
                "ufw-rules",
                "interfaces",
                "kubelet"
            ]
        );
        let kubelet: Vec<&str> = containers[4]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            kubelet[kubelet.len() - 4..],
            [
                "-c",
                binderctl::cluster::node_helper::READ_OPTIONAL_SCRIPT,
                "binderctl-read",
                "/var/snap/microk8s/current/args/kubelet"
            ]
        );
        if let Some(verdict) = validate_manifest(&serde_yaml::to_string(pod).unwrap()) {
            verdict.unwrap();
        }
    }
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
    assert_eq!(
        fake.calls_starting_with(&["kubectl", "get", "nodes"]).len(),
        1
    );
    assert_eq!(
        fake.calls_starting_with(&["kubectl", "delete", "pods"])
            .len(),
        1
    );

    let out = doctor(&fake, &[], &["--node", "w1", "-o", "json"]);
    let checks: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let w1: Vec<&Value> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["node"] == "w1")
        .collect();
    let names: Vec<&str> = w1.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "firewall-routed",
            "firewall-cni",
            "kubelet-reserved",
            "kubelet-image-gc",
            "containerd-disk"
        ]
    );
    assert!(checks
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["node"] == "w1" || c["node"].is_null()));
    assert!(pods_left(&fake).is_empty());
}

#[test]
fn k3s_and_rke2_nodes_get_their_own_ctr_and_socket() {
    let mut fake = cluster();
    let mut k3s = node_json("k1", true);
    k3s["status"]["nodeInfo"] = json!({"kubeletVersion": "v1.31.4+k3s1", "containerRuntimeVersion": "containerd://1.7.23-k3s2"});
    let mut rke2 = node_json("r1", true);
    rke2["status"]["nodeInfo"] = json!({"kubeletVersion": "v1.30.6+rke2r1", "containerRuntimeVersion": "containerd://1.7.22-k3s1"});
    let nodes = json!({"items": [node_json("w1", true), k3s, rke2]});
    fake.respond(&["kubectl", "get", "nodes"], &nodes.to_string(), 0);
    for node in ["k1", "r1"] {
        let dir = node_dir(&fake, node);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("images"), ctr_table(&default_images())).unwrap();
    }
    let out = run(&fake, &["--tools", "plain", "images", "ls", "--all-nodes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ctr_of = |node: &str| -> Vec<String> {
        let pod = created(&fake)
            .into_iter()
            .find(|p| node_of(p) == node)
            .unwrap();
        pod["spec"]["containers"][0]["command"]
            .as_array()
            .unwrap()
            .iter()
            .skip(9)
            .take(4)
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ctr_of("w1"),
        [
            "ctr",
            "--address",
            "/run/containerd/containerd.sock",
            "--namespace"
        ]
    );
    assert_eq!(
        ctr_of("k1"),
        [
            "k3s",
            "ctr",
            "--address",
            "/run/k3s/containerd/containerd.sock"
        ]
    );
    assert_eq!(
        ctr_of("r1"),
        [
            "/var/lib/rancher/rke2/bin/ctr",
            "--address",
            "/run/k3s/containerd/containerd.sock",
            "--namespace"
        ]
    );
    assert!(pods_left(&fake).is_empty());
}

#[test]
fn doctor_plain_nodes_read_kubeadms_kubelet_config() {
    let fake = doctor_cluster();
    node_file(
        &fake,
        "w1",
        "kubelet",
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nsystemReserved:\n  cpu: 500m\n",
    );
    let out = doctor(&fake, &["--tools", "plain"], &["--node", "w1"]);
    let report = report_lines(&out);
    let text = stdout(&out);
    let reserved = report_line(&report, "kubelet-reserved@w1");
    assert_eq!(reserved.0, "warn", "{text}");
    assert!(
        reserved
            .2
            .contains("/var/lib/kubelet/config.yaml does not set kubeReserved"),
        "{text}"
    );
    assert!(
        reserved
            .2
            .contains("fix: binderctl --tools plain nodes reserve --node w1"),
        "{text}"
    );
    let pods = created(&fake);
    assert_eq!(pods.len(), 1);
    let command = pods[0]["spec"]["containers"][4]["command"]
        .as_array()
        .unwrap();
    assert_eq!(command.last().unwrap(), "/var/lib/kubelet/config.yaml");
    assert!(pods_left(&fake).is_empty());
}

#[test]
fn a_helper_namespace_that_does_not_exist_yet_is_named_with_the_way_out() {
    let mut fake = doctor_cluster();
    fake.respond_full(
        &["kubectl", "create"],
        "",
        "Error from server (NotFound): error when creating \"STDIN\": namespaces \"binder\" not found\n",
        1,
    );
    let out = doctor(&fake, &[], &["--node", "w1"]);
    let report = report_lines(&out);
    // Found before any pod (the server's dry run of a helper pod).
    let checks = report_line(&report, "node-checks");
    assert_eq!(checks.0, "fail", "{}", stdout(&out));
    assert!(
        checks
            .2
            .contains("the namespace binder does not exist (yet): pass --helper-namespace"),
        "{}",
        stdout(&out)
    );
    assert!(created(&fake).is_empty());
}

#[test]
fn a_helper_namespace_whose_admission_refuses_helper_pods_stops_before_any_pod() {
    let fake = cluster();
    std::fs::write(
        fake.state_dir().join("admission-refuses"),
        "Error from server (Forbidden): error when creating \"STDIN\": pods \"binderctl-helper-0-check\" \
         is forbidden: violates PodSecurity \"restricted:latest\": privileged (container \"check\" \
         must not set securityContext.privileged=true)\n",
    )
    .unwrap();
    let out = run(&fake, &["images", "ls", "--all-nodes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "namespace binder enforces Pod Security \"restricted\" (its label \
             pod-security.kubernetes.io/enforce=restricted)"
        ) && stderr(&out).contains("--helper-namespace"),
        "{}",
        stderr(&out)
    );
    assert!(created(&fake).is_empty(), "a helper pod was created");
}

#[test]
fn doctor_with_an_unknown_node_stops_before_any_pod() {
    let fake = doctor_cluster();
    let out = doctor(&fake, &[], &["--node", "w9"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("there is no node named \"w9\""),
        "{}",
        stderr(&out)
    );
    assert!(created(&fake).is_empty());
    assert!(stdout(&out).is_empty(), "no half report: {}", stdout(&out));
}

#[test]
fn doctor_removes_leftovers_while_it_lists_the_nodes() {
    let mut fake = doctor_cluster();
    let nodes = json!({"items": [node_json("cp1", true)]});
    fake.respond_script(
        &["kubectl", "get", "nodes"],
        &format!(
            "{}\ncat <<'JSON'\n{nodes}\nJSON\n",
            meet_script("nodes", "leftovers")
        ),
    );
    fake.respond_script(
        &["kubectl", "delete", "pods"],
        &format!("{}\n{DELETE_SCRIPT}", meet_script("leftovers", "nodes")),
    );
    let out = doctor(&fake, &[], &["--all-nodes"]);
    let report = report_lines(&out);
    assert_eq!(
        report_line(&report, "kubelet-reserved@cp1").0,
        "ok",
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(report_line(&report, "nodes").0, "ok", "{}", stdout(&out));
}

#[test]
fn ctrl_c_during_doctor_on_other_nodes_deletes_the_helper_pods_and_reports_nothing() {
    let fake = doctor_cluster();
    std::fs::write(node_dir(&fake, "w1").join("hangs"), "").unwrap();
    let root = tempfile::tempdir().unwrap();
    let child = fake
        .command(&[
            "doctor",
            "--root",
            root.path().to_str().unwrap(),
            "--node",
            "w1",
            "--node",
            "cp1",
        ])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while created(&fake).len() < 2 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no pods created"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}

#[test]
fn the_optional_read_script_prints_what_it_found() {
    use binderctl::cluster::node_helper::{
        parse_optional_file, read_optional_file_argv, READ_LIMIT_BYTES,
    };
    let dir = tempfile::tempdir().unwrap();
    let run_on = |path: &std::path::Path| {
        let argv = read_optional_file_argv(path.to_str().unwrap());
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        parse_optional_file(&stdout(&out))
    };
    let file = dir.path().join("ufw $(x).conf");
    std::fs::write(&file, "ENABLED=yes\n# `no`\n").unwrap();
    assert_eq!(run_on(&file), Ok(Some("ENABLED=yes\n# `no`\n".to_string())));
    std::fs::write(&file, "").unwrap();
    assert_eq!(run_on(&file), Ok(Some(String::new())));
    assert_eq!(run_on(&dir.path().join("missing")), Ok(None));
    assert!(run_on(dir.path())
        .unwrap_err()
        .contains("not a regular file"));
    std::fs::write(&file, vec![b'x'; READ_LIMIT_BYTES + 10]).unwrap();
    assert!(run_on(&file).unwrap_err().contains("larger than"));
    std::fs::write(&file, vec![b'x'; READ_LIMIT_BYTES]).unwrap();
    assert_eq!(run_on(&file).unwrap().unwrap().len(), READ_LIMIT_BYTES);
}

/// kubectl cannot read w1's helper pod's output (its kubelet's port is
/// firewalled): w1 has failed, by name, whatever the command.
fn with_unreadable_logs_on_w1() -> FakeCluster {
    let fake = cluster();
    without_pull_failures(&fake);
    std::fs::write(node_dir(&fake, "w1").join("logs-fail"), "").unwrap();
    fake
}

fn assert_w1_failed(out: &std::process::Output) {
    let err = stderr(out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("node w1: cannot read the output of the helper pod"),
        "{err}"
    );
    assert!(err.contains("i/o timeout"), "{err}");
    assert!(
        err.contains("1 node of 3 failed: w1") || err.contains("1 of 3 failed: w1"),
        "{err}"
    );
}

#[test]
fn images_ls_counts_an_unreadable_helper_output_as_that_nodes_failure() {
    let fake = with_unreadable_logs_on_w1();
    let out = run(
        &fake,
        &["images", "ls", "teaching", "--all-nodes", "-o", "json"],
    );
    assert_w1_failed(&out);
    let listed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    for row in listed.as_array().unwrap() {
        assert_eq!(row["nodes"], json!(["cp1", "w3"]), "{listed}");
    }
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}

#[test]
fn images_rm_counts_an_unreadable_helper_output_as_that_nodes_failure() {
    let fake = with_unreadable_logs_on_w1();
    let out = run(&fake, &["images", "rm", "teaching", "--all-nodes", "--yes"]);
    assert_w1_failed(&out);
    let err = stderr(&out);
    assert!(!err.contains("node w1: 0 image refs"), "{err}");
    assert!(err.contains("node cp1: removed 5 of 5 image refs"), "{err}");
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}

#[test]
fn reserve_dry_run_counts_an_unreadable_helper_output_as_that_nodes_failure() {
    let fake = with_unreadable_logs_on_w1();
    let out = run(&fake, &["nodes", "reserve", "--all-nodes", "--dry-run"]);
    assert_w1_failed(&out);
    assert!(!stdout(&out).contains("w1:"), "{}", stdout(&out));
    assert!(created(&fake)
        .iter()
        .all(|p| p["metadata"]["name"].as_str().unwrap().ends_with("-read")));
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}

/// kubeadm nodes (`--tools plain`) keep the reservations in
/// `/var/lib/kubelet/config.yaml`: that file is read, edited as YAML and
/// written back, then the kubelet restarted with systemctl.
#[test]
fn reserve_on_kubeadm_nodes_edits_their_kubelet_configuration() {
    let fake = cluster();
    without_pull_failures(&fake);
    let config = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
                  cgroupDriver: systemd\nkubeReserved:\n  cpu: 200m\n";
    for node in ["cp1", "w1", "w3"] {
        std::fs::write(node_dir(&fake, node).join("kubelet-args"), config).unwrap();
    }
    let out = run(
        &fake,
        &[
            "--tools",
            "plain",
            "nodes",
            "reserve",
            "--node",
            "w1",
            "--yes",
            "--ready-timeout",
            "5s",
        ],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        stdout(&out).contains("--- w1:/var/lib/kubelet/config.yaml\n"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("-  cpu: 200m\n"), "{}", stdout(&out));
    assert!(err.contains("node w1 is Ready again."), "{err}");
    let pods = created(&fake);
    let read = pods
        .iter()
        .find(|p| p["metadata"]["name"].as_str().unwrap().ends_with("-read"))
        .unwrap();
    let read_argv = read["spec"]["containers"][0]["command"].as_array().unwrap();
    assert_eq!(read_argv.last().unwrap(), "/var/lib/kubelet/config.yaml");
    let write = pods
        .iter()
        .find(|p| p["metadata"]["name"].as_str().unwrap().ends_with("-write"))
        .unwrap();
    let command = write["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap();
    assert_eq!(command[13], "/var/lib/kubelet/config.yaml");
    assert_eq!(command[15], config);
    let new: serde_yaml::Value = serde_yaml::from_str(command[16].as_str().unwrap()).unwrap();
    assert_eq!(new["kubeReserved"]["cpu"], "1");
    assert_eq!(new["systemReserved"]["ephemeral-storage"], "10Gi");
    assert_eq!(new["cgroupDriver"], "systemd");
    let restart = pods
        .iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap()
                .ends_with("-restart")
        })
        .unwrap();
    assert!(restart.to_string().contains("\"systemctl\""), "{restart}");
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}

/// `nodes gc --all-nodes`: the thresholds in each Ready node's arguments
/// file, node after node (write, restart, Ready again), the same helper
/// pods as `nodes reserve`; a second run finds nothing to change.
#[test]
fn gc_rolls_out_the_thresholds_node_by_node() {
    let fake = cluster();
    without_pull_failures(&fake);
    let done = format!("{KUBELET_ARGS}--image-gc-high-threshold=80\n--image-gc-low-threshold=70\n");
    std::fs::write(node_dir(&fake, "w3").join("kubelet-args"), &done).unwrap();
    let gc = [
        "nodes",
        "gc",
        "--all-nodes",
        "--high",
        "80",
        "--low",
        "70",
        "--yes",
        "--ready-timeout",
        "5s",
    ];
    let out = run(&fake, &gc);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("node w2 is NotReady: skipped"), "{err}");
    assert!(
        err.contains(
            "node w3: /var/snap/microk8s/current/args/kubelet already sets image garbage \
             collection to high 80%, low 70%; nothing to change."
        ),
        "{err}"
    );
    assert!(err.contains("node w1 is Ready again."), "{err}");
    assert!(
        err.contains("Set image garbage collection (high 80%, low 70%) on 2 nodes."),
        "{err}"
    );
    assert_eq!(
        stdout(&out)
            .matches("+--image-gc-high-threshold=80\n+--image-gc-low-threshold=70\n")
            .count(),
        2,
        "{}",
        stdout(&out)
    );
    let order = created_in_order(&fake);
    let changes: Vec<&String> = order.iter().filter(|p| !p.ends_with(":read")).collect();
    assert_eq!(
        changes,
        ["cp1:write", "cp1:restart", "w1:write", "w1:restart"],
        "{order:?}"
    );
    let write = created(&fake)
        .into_iter()
        .find(|p| node_of(p) == "w1" && p["metadata"]["name"].as_str().unwrap().ends_with("-write"))
        .unwrap();
    let command = &write["spec"]["containers"][0]["command"];
    assert_eq!(command[13], "/var/snap/microk8s/current/args/kubelet");
    assert_eq!(command[15], KUBELET_ARGS);
    assert_eq!(
        command[16],
        done.as_str(),
        "the edit the w3 file already has"
    );
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}

/// --max-age on nodes whose kubelet is too old: refused before any helper
/// pod, naming each such node and its version; on a 1.29 kubelet, only when
/// its file turns the feature gate on.
#[test]
fn gc_max_age_is_refused_for_old_kubelets_before_any_helper_pod() {
    let mut fake = cluster();
    without_pull_failures(&fake);
    let versioned = |name: &str, version: &str| {
        let mut node = node_json(name, true);
        node["status"]["nodeInfo"]["kubeletVersion"] = json!(version);
        node
    };
    let nodes = json!({"items": [
        versioned("cp1", "v1.31.2"), versioned("w1", "v1.28.15"), versioned("w3", "v1.29.4")
    ]});
    fake.respond(&["kubectl", "get", "nodes"], &nodes.to_string(), 0);
    let config = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";
    for node in ["cp1", "w1", "w3"] {
        std::fs::write(node_dir(&fake, node).join("kubelet-args"), config).unwrap();
    }
    let gc = [
        "--tools",
        "plain",
        "nodes",
        "gc",
        "--max-age",
        "14d",
        "--yes",
    ];
    let out = run(&fake, &[&gc[..], &["--all-nodes"]].concat());
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(
            "node w1: its kubelet is v1.28.15: imageMaximumGCAge (--max-age) needs kubelet 1.29"
        ),
        "{err}"
    );
    assert!(err.contains("failed: w1"), "{err}");
    assert!(!err.contains("node cp1:"), "{err}");
    assert!(
        created(&fake).is_empty(),
        "no helper pod: {:?}",
        created_in_order(&fake)
    );

    // w3 (1.29) is read, and refused for its feature gate: nothing written.
    let out = run(
        &fake,
        &[&gc[..], &["--node", "w3", "--node", "cp1"]].concat(),
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("node w3: /var/lib/kubelet/config.yaml: its kubelet is v1.29.4")
            && err.contains("feature gate ImageMaximumGCAge"),
        "{err}"
    );
    assert!(
        created_in_order(&fake).iter().all(|p| p.ends_with(":read")),
        "{:?}",
        created_in_order(&fake)
    );

    // With the gate turned on, both nodes get the three keys.
    let gated = format!("{config}featureGates:\n  ImageMaximumGCAge: true\n");
    std::fs::write(node_dir(&fake, "w3").join("kubelet-args"), &gated).unwrap();
    let out = run(
        &fake,
        &[
            &gc[..],
            &["--node", "w3", "--node", "cp1", "--ready-timeout", "5s"],
        ]
        .concat(),
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("Set image garbage collection (high 85%, low 80%, max-age 336h) on 2 nodes."),
        "{err}"
    );
    let writes: Vec<Value> = created(&fake)
        .into_iter()
        .filter(|p| p["metadata"]["name"].as_str().unwrap().ends_with("-write"))
        .collect();
    assert_eq!(writes.len(), 2);
    for write in writes {
        let new = write["spec"]["containers"][0]["command"][16]
            .as_str()
            .unwrap();
        let parsed: serde_yaml::Value = serde_yaml::from_str(new).unwrap();
        assert_eq!(parsed["imageMaximumGCAge"], "336h", "{new}");
        assert_eq!(parsed["imageGCHighThresholdPercent"], 85, "{new}");
    }
    assert!(pods_left(&fake).is_empty(), "{:?}", pods_left(&fake));
}
