//! End-to-end tier, helper pods on every node against the real API server:
//! the server admits each manifest binderctl writes, each pod lands on its
//! node, kwok runs it (its output through kwok's log emulation, see
//! scripts/test-cluster), and binderctl handles a pod that completes, one
//! that fails (node lab-fail-1) and one whose image never comes (node
//! lab-hang-1). No helper pod is left behind.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::cluster::{self, Binderctl, ControlPlane, Flavor, HelmMajor, NODES};
use support::{stderr, stdout};

const HELPER_SELECTOR: &str =
    "app.kubernetes.io/managed-by=binderctl,app.kubernetes.io/component=node-helper";

fn no_helper_pod_left(plane: &ControlPlane, namespace: &str) {
    plane.wait_for("the helper pods to go", Duration::from_secs(60), || {
        plane
            .names(namespace, "pods", Some(HELPER_SELECTOR))
            .is_empty()
    });
}

/// An extra kwok node for a fault, removed when dropped.
struct ExtraNode<'a> {
    plane: &'a ControlPlane,
    name: &'static str,
}

impl<'a> ExtraNode<'a> {
    fn add(plane: &'a ControlPlane, name: &'static str) -> Self {
        Self::with_kubelet(plane, name, "v1.35.4")
    }

    /// An extra node whose kubelet is of `version`.
    fn with_kubelet(plane: &'a ControlPlane, name: &'static str, version: &str) -> Self {
        plane.kubectl_stdin(
            &["apply", "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  annotations:\n    \
                 kwok.x-k8s.io/node: fake\n  labels:\n    kubernetes.io/hostname: {name}\n    \
                 kubernetes.io/os: linux\n    microk8s.io/cluster: \"true\"\n    \
                 node.kubernetes.io/microk8s-worker: microk8s-worker\nstatus:\n  nodeInfo:\n    \
                 containerRuntimeVersion: containerd://1.7.28\n    kubeletVersion: {version}\n"
            ),
        );
        plane.wait_for(
            "the extra node to be Ready",
            Duration::from_secs(60),
            || {
                plane
                    .kubectl_ok(&[
                        "get",
                        "node",
                        name,
                        "-o",
                        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                    ])
                    .trim()
                    == "True"
            },
        );
        ExtraNode { plane, name }
    }
}

impl Drop for ExtraNode<'_> {
    fn drop(&mut self) {
        let _ = self
            .plane
            .kubectl(&["delete", "node", self.name, "--wait=false"]);
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn images_on_every_node_through_helper_pods() {
    let plane = control_plane!();
    let _nodes = cluster::cluster_wide();
    let ns = plane.namespace("e2e-images");
    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);

    let out = binderctl.run(&[
        "images",
        "ls",
        "--all-nodes",
        "--helper-namespace",
        &ns.name,
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "images ls:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let listed = json(&stdout(&out));
    let course = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ref"] == "registry.example/lab/binder-course:0123abc")
        .unwrap_or_else(|| panic!("the course image is missing: {listed}"));
    let mut on: Vec<&str> = course["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    on.sort();
    assert_eq!(on, NODES);
    assert!(
        !stderr(&out).contains("Removed"),
        "nothing was left to remove:\n{}",
        stderr(&out)
    );
    no_helper_pod_left(plane, &ns.name);

    // rm: the read pods, then one removal pod per node; the pause image is
    // a system image and stays.
    let out = binderctl.run(&[
        "images",
        "rm",
        "binder-",
        "--all-nodes",
        "--helper-namespace",
        &ns.name,
        "--yes",
    ]);
    assert!(
        out.status.success(),
        "images rm:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let said = stderr(&out);
    for node in NODES {
        assert!(said.contains(node), "{node} not reported:\n{said}");
    }
    assert!(!said.contains("registry.k8s.io/pause:3.10\n"), "{said}");
    no_helper_pod_left(plane, &ns.name);
}

#[test]
fn a_failing_node_and_a_node_that_cannot_pull_are_named_and_the_rest_is_done() {
    let plane = control_plane!();
    let _nodes = cluster::cluster_wide();
    let ns = plane.namespace("e2e-faults");
    let _fail = ExtraNode::add(plane, "lab-fail-1");
    let _hang = ExtraNode::add(plane, "lab-hang-1");
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);

    let out = binderctl.run(&[
        "images",
        "ls",
        "--all-nodes",
        "--helper-namespace",
        &ns.name,
        "-o",
        "json",
    ]);
    let said = stderr(&out);
    assert!(
        !out.status.success(),
        "a failed node must fail the command:\n{said}"
    );
    assert!(
        said.contains("lab-fail-1"),
        "the failing node is not named:\n{said}"
    );
    assert!(
        said.contains("lab-hang-1") && said.contains("cannot pull"),
        "{said}"
    );
    let listed = json(&stdout(&out));
    let course = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ref"] == "registry.example/lab/binder-course:0123abc")
        .unwrap_or_else(|| panic!("the healthy nodes' images are missing: {listed}"));
    assert_eq!(
        course["nodes"].as_array().unwrap().len(),
        NODES.len(),
        "{course}"
    );
    no_helper_pod_left(plane, &ns.name);
}

#[test]
fn nodes_reserve_dry_run_reads_each_kubelet_file_and_changes_nothing() {
    let plane = control_plane!();
    let _nodes = cluster::cluster_wide();
    let ns = plane.namespace("e2e-reserve");
    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);
    let out = binderctl.run(&[
        "nodes",
        "reserve",
        "--all-nodes",
        "--cpu",
        "1",
        "--memory",
        "512Mi",
        "--helper-namespace",
        &ns.name,
        "--dry-run",
    ]);
    assert!(
        out.status.success(),
        "reserve --dry-run:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    for node in NODES {
        assert!(shown.contains(node), "{node} missing:\n{shown}");
    }
    assert!(
        shown.contains("+--kube-reserved=cpu=1,memory=512Mi") || shown.contains("--kube-reserved"),
        "{shown}"
    );
    // The read pods ran; no write pod was made.
    no_helper_pod_left(plane, &ns.name);
}

#[test]
fn nodes_gc_dry_run_reads_each_kubelet_file_and_changes_nothing() {
    let plane = control_plane!();
    let _nodes = cluster::cluster_wide();
    let ns = plane.namespace("e2e-gc");
    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);
    let out = binderctl.run(&[
        "nodes",
        "gc",
        "--all-nodes",
        "--high",
        "80",
        "--low",
        "70",
        "--helper-namespace",
        &ns.name,
        "--dry-run",
    ]);
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "gc --dry-run:\n{shown}");
    for node in NODES {
        // The node's own file (kwok serves MicroK8s' arguments), its edit,
        // and the write and restart pods that would follow.
        assert!(
            shown.contains(&format!(
                "--- {node}:/var/snap/microk8s/current/args/kubelet\n"
            )),
            "{node} missing:\n{shown}"
        );
        assert!(
            shown.contains(&format!("# helper pod for node {node}\n")),
            "{shown}"
        );
    }
    assert_eq!(
        stdout(&out)
            .matches("+--image-gc-high-threshold=80\n+--image-gc-low-threshold=70\n")
            .count(),
        NODES.len(),
        "{shown}"
    );
    assert!(shown.contains("Dry run: no node changed."), "{shown}");
    // The read pods ran; no write pod was made.
    no_helper_pod_left(plane, &ns.name);
}

#[test]
fn nodes_gc_refuses_a_maximum_age_for_an_old_kubelet_before_any_helper_pod() {
    let plane = control_plane!();
    let _nodes = cluster::cluster_wide();
    let ns = plane.namespace("e2e-gc-old");
    let _old = ExtraNode::with_kubelet(plane, "lab-old-1", "v1.28.15");
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let out = binderctl.run(&[
        "nodes",
        "gc",
        "--all-nodes",
        "--max-age",
        "14d",
        "--helper-namespace",
        &ns.name,
        "--yes",
    ]);
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("node lab-old-1: its kubelet is v1.28.15: imageMaximumGCAge (--max-age) needs kubelet 1.29"),
        "{said}"
    );
    for node in NODES {
        assert!(!said.contains(&format!("node {node}:")), "{said}");
    }
    assert!(
        stdout(&out).is_empty(),
        "no file was read: {}",
        stdout(&out)
    );
    let pods = plane.kubectl_ok(&["get", "pods", "-n", &ns.name, "-o", "name"]);
    assert!(pods.trim().is_empty(), "no helper pod was made: {pods}");
}

#[test]
fn doctor_checks_the_cluster_and_every_node() {
    let plane = control_plane!();
    let _nodes = cluster::cluster_wide();
    let ns = plane.namespace("e2e-doctor");
    let root = tempfile::tempdir().unwrap();
    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);
    let root_opt = format!("--root={}", root.path().display());
    let out = binderctl.run(&[
        "doctor",
        "-n",
        &ns.name,
        "--all-nodes",
        &root_opt,
        "-o",
        "json",
    ]);
    let report = stdout(&out);
    let checks = json(&report);
    let check = |name: &str, node: Option<&str>| -> (String, String) {
        let found = checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name && c["node"].as_str() == node)
            .unwrap_or_else(|| panic!("no {name} check for {node:?}:\n{report}"));
        (
            found["status"].as_str().unwrap().to_string(),
            found["message"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        check("nodes", None),
        ("ok".into(), "3 nodes ready, all on v1.35.4".into())
    );
    // The namespace holds no BinderHub: said, with the fix.
    assert_eq!(check("proxy-public", None).0, "fail");
    for node in NODES {
        // Read on the node through its helper pod (kwok prints the files).
        assert_eq!(
            check("firewall-routed", Some(node)),
            ("ok".into(), "ufw allows routed traffic".into())
        );
        // Calico's interfaces found on the node, its cali+ rules missing.
        let (status, message) = check("firewall-cni", Some(node));
        assert_ne!(status, "ok", "{message}");
        assert!(
            message.contains("cali+") && !message.contains("cni0"),
            "{message}"
        );
        let (status, message) = check("kubelet-reserved", Some(node));
        assert_eq!(status, "ok", "{message}");
        // The node's arguments set no image garbage collection: the
        // kubelet's defaults, said so (no values file: no imageCleaner).
        let (status, message) = check("kubelet-image-gc", Some(node));
        assert_eq!(status, "ok", "{message}");
        assert!(
            message.contains("high 85% (the kubelet's default), low 80% (the kubelet's default)"),
            "{message}"
        );
        let (status, message) = check("containerd-disk", Some(node));
        assert_eq!(status, "skip", "{message}");
        assert!(message.contains("unavailable"), "{message}");
    }
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed check is exit 1:\n{}",
        stderr(&out)
    );
    no_helper_pod_left(plane, &ns.name);
}

#[test]
fn a_helper_namespace_whose_admission_refuses_helper_pods_is_named_before_any_pod() {
    let plane = control_plane!();
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let cases: [(&str, &str, &str); 4] = [
        (
            "e2e-psa-baseline",
            "",
            "enforces Pod Security \"baseline\" (its label pod-security.kubernetes.io/enforce=baseline)",
        ),
        (
            "e2e-psa-restricted",
            "",
            "enforces Pod Security \"restricted\" (its label pod-security.kubernetes.io/enforce=restricted)",
        ),
        (
            "e2e-quota",
            "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: no-more-pods\nspec:\n  hard:\n    pods: \"0\"\n",
            "ResourceQuota no-more-pods in namespace",
        ),
        (
            "e2e-limits",
            "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: small\nspec:\n  limits:\n  - type: Container\n    max:\n      memory: 64Mi\n",
            "a LimitRange in namespace",
        ),
    ];
    for (prefix, manifest, expected) in cases {
        let ns = plane.namespace(prefix);
        if let Some(level) = prefix.strip_prefix("e2e-psa-") {
            plane.kubectl_ok(&[
                "label",
                "namespace",
                &ns.name,
                &format!("pod-security.kubernetes.io/enforce={level}"),
            ]);
        } else {
            plane.kubectl_stdin(&["create", "-n", &ns.name, "-f", "-"], manifest);
        }
        // The quota controller fills in what is used before it is enforced.
        plane.wait_for("the namespace's rules", Duration::from_secs(30), || {
            !plane
                .kubectl(&[
                    "get",
                    "resourcequota",
                    "no-more-pods",
                    "-n",
                    &ns.name,
                    "-o",
                    "jsonpath={.status.hard.pods}",
                ])
                .stdout
                .is_empty()
                || prefix != "e2e-quota"
        });
        let out = binderctl.run(&[
            "images",
            "ls",
            "--all-nodes",
            "--helper-namespace",
            &ns.name,
        ]);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{prefix}: {said}");
        assert!(said.contains(expected), "{prefix}: {said}");
        assert!(said.contains("--helper-namespace"), "{prefix}: {said}");
        assert!(
            plane.names(&ns.name, "pods", None).is_empty(),
            "{prefix}: a pod was created"
        );
    }
}
