//! End-to-end tier, what operators do between deploys, against the real API
//! server with kwok nodes: user pods as KubeSpawner makes them (`pods
//! ls/purge`), the users' volume claims (`volumes ls/rm`), the namespace's
//! quota, StorageClasses, nodes, and a Dashboard login token (a real
//! TokenRequest).

mod support;

use std::time::Duration;

use serde_json::Value;
use support::cluster::{self, Binderctl, ControlPlane, Flavor, HelmMajor, NODES};
use support::fake_tools::{
    nodes_json, PODS_WITH_CLAIMS_JSON, PVCS_JSON, RESOURCE_QUOTAS_JSON, STORAGE_CLASSES_JSON,
};
use support::{stderr, stdout};

/// A pod as KubeSpawner creates it for `user`: `jupyter-USER`, with the
/// old labels (`component`, `release`), the new ones
/// (`app.kubernetes.io/component`, `app.kubernetes.io/instance`, which
/// KubeSpawner 7 sets too) or both.
fn user_pod(name: &str, release: &str, old: bool, new: bool, claim: Option<&str>) -> String {
    let mut labels = vec![
        "hub.jupyter.org/network-access-hub: \"true\"".to_string(),
        "hub.jupyter.org/servername: \"\"".to_string(),
    ];
    if old {
        labels.extend([
            "app: jupyterhub".to_string(),
            "component: singleuser-server".to_string(),
            format!("release: {release}"),
            "heritage: jupyterhub".to_string(),
        ]);
    }
    if new {
        labels.extend([
            "app.kubernetes.io/name: jupyterhub".to_string(),
            "app.kubernetes.io/component: singleuser-server".to_string(),
            format!("app.kubernetes.io/instance: {release}"),
            "app.kubernetes.io/managed-by: kubespawner".to_string(),
        ]);
    }
    let volumes = match claim {
        Some(claim) => format!(
            "  volumes:\n  - name: home\n    persistentVolumeClaim:\n      claimName: {claim}\n  - name: etc\n    configMap:\n      name: user-etc-singleuser\n      optional: true\n"
        ),
        None => String::new(),
    };
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n{}\nspec:\n  \
         automountServiceAccountToken: false\n  containers:\n  - name: notebook\n    \
         image: registry.example/lab/binder-course:0123abc\n{volumes}",
        labels
            .iter()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
            .trim_end()
    )
}

/// One of the deployment's own pods (`component: NAME`).
fn own_pod(name: &str, component: &str, release: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    \
         app: jupyterhub\n    component: {component}\n    release: {release}\nspec:\n  \
         automountServiceAccountToken: false\n  containers:\n  - name: main\n    \
         image: registry.example/jupyterhub/{component}:1\n"
    )
}

fn running(plane: &ControlPlane, namespace: &str, count: usize) {
    plane.wait_for("the pods to run", Duration::from_secs(60), || {
        let out = plane.kubectl_ok(&[
            "get",
            "pods",
            "-n",
            namespace,
            "--field-selector=status.phase=Running",
            "-o",
            "name",
        ]);
        out.lines().count() == count
    });
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn pods_purge_takes_exactly_the_user_pods_of_both_label_generations() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-pods");
    let mut manifests = String::new();
    manifests += &user_pod("jupyter-alice", "binder", true, false, None);
    manifests += &user_pod("jupyter-bob", "binder", false, true, None);
    manifests += &user_pod("jupyter-carol", "binder", true, true, None);
    manifests += &user_pod("jupyter-dave", "binder", true, true, None);
    for (name, component) in [
        ("hub-6d4f9c7b8-x2k9p", "hub"),
        ("proxy-7f9c5d-abcde", "proxy"),
        ("binder-5b7d9-fghij", "binder"),
        ("user-scheduler-6c8f-klmno", "user-scheduler"),
        // A protected component whose name does not give it away.
        ("jupyter-lookalike", "user-scheduler"),
    ] {
        manifests += &own_pod(name, component, "binder");
    }
    plane.kubectl_stdin(&["create", "-n", &ns.name, "-f", "-"], &manifests);
    running(plane, &ns.name, 9);

    for flavor in [Flavor::Microk8s, Flavor::Plain] {
        let binderctl = Binderctl::new(plane, flavor, HelmMajor::Four);
        let listed = json(&binderctl.ok(&["pods", "ls", "jupyter-", "-n", &ns.name, "-o", "json"]));
        assert_eq!(
            names(&listed),
            [
                "jupyter-alice",
                "jupyter-bob",
                "jupyter-carol",
                "jupyter-dave"
            ],
            "{flavor:?}"
        );
        for pod in listed.as_array().unwrap() {
            assert_eq!(pod["status"], "Running", "{pod}");
            assert_eq!(pod["ready"], "1/1", "{pod}");
            assert!(NODES.contains(&pod["node"].as_str().unwrap()), "{pod}");
            assert_eq!(pod["protected"], false);
        }
    }

    // A purge whose pods partly vanish before its delete runs: someone
    // deletes jupyter-dave between the list and the delete (a kubectl in
    // front of the real one does it just before the delete call).
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let shim = tempfile::tempdir().unwrap();
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = delete ] && {kubectl} --kubeconfig={kc} delete pod jupyter-dave -n {ns} --wait=false >/dev/null 2>&1; done\nexec {kubectl} \"$@\"\n",
        kubectl = plane.kubectl.display(),
        kc = plane.kubeconfig.display(),
        ns = ns.name
    );
    let path = shim.path().join("kubectl");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut command = binderctl.command(&["pods", "purge", "jupyter-", "-n", &ns.name, "--yes"]);
    let path_var = format!("{}:{}", shim.path().display(), {
        let inherited = command
            .get_envs()
            .find(|(k, _)| *k == "PATH")
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .unwrap();
        inherited
    });
    command.env("PATH", path_var);
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "purge:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let report = stderr(&out);
    assert!(
        report.contains("Deleted 3 pods. 1 was already gone."),
        "{report}"
    );

    plane.wait_for("the user pods to go", Duration::from_secs(60), || {
        plane.names(&ns.name, "pods", None)
            == [
                "binder-5b7d9-fghij",
                "hub-6d4f9c7b8-x2k9p",
                "jupyter-lookalike",
                "proxy-7f9c5d-abcde",
                "user-scheduler-6c8f-klmno",
            ]
    });
}

/// A claim as KubeSpawner makes it (its labels), bound to a volume of its
/// own (the PV controller binds them) or left Pending (no provisioner
/// serves its class).
fn claim(name: &str, bound: bool) -> String {
    if bound {
        format!(
            "---\napiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: pv-{name}-{pid}\nspec:\n  \
             capacity:\n    storage: 10Gi\n  accessModes: [ReadWriteOnce]\n  storageClassName: e2e-manual\n  \
             hostPath:\n    path: /var/lib/e2e/{name}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\n\
             metadata:\n  name: {name}\n  labels:\n    app: jupyterhub\n    component: singleuser-storage\n    heritage: jupyterhub\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: e2e-manual\n  \
             volumeName: pv-{name}-{pid}\n  resources:\n    requests:\n      storage: 10Gi\n",
            pid = std::process::id()
        )
    } else {
        format!(
            "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  labels:\n    app: jupyterhub\n    component: singleuser-storage\n    heritage: jupyterhub\nspec:\n  \
             accessModes: [ReadWriteOnce]\n  storageClassName: e2e-none\n  resources:\n    requests:\n      \
             storage: 1Gi\n"
        )
    }
}

#[test]
fn volumes_rm_deletes_unused_claims_and_keeps_mounted_ones() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-volumes");
    let manifests = [
        claim("claim-alice", true),
        claim("claim-bob", true),
        claim("claim-carol", false),
        user_pod("jupyter-alice", "binder", true, true, Some("claim-alice")),
    ]
    .concat();
    plane.kubectl_stdin(&["create", "-n", &ns.name, "-f", "-"], &manifests);
    plane.wait_for("the claims to bind", Duration::from_secs(60), || {
        let out = plane.kubectl_ok(&[
            "get",
            "pvc",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}",
        ]);
        out.contains("claim-alice=Bound") && out.contains("claim-bob=Bound")
    });
    running(plane, &ns.name, 1);

    // The stand-ins' claims and pods are held to the server's answers.
    cluster::assert_stand_in_within(
        "kubectl get pvc -n NS -o json",
        PVCS_JSON,
        &plane.kubectl_ok(&["get", "pvc", "-n", &ns.name, "-o", "json"]),
    );
    cluster::assert_stand_in_within(
        "kubectl get pods -n NS -o json (claims)",
        PODS_WITH_CLAIMS_JSON,
        &plane.kubectl_ok(&["get", "pods", "-n", &ns.name, "-o", "json"]),
    );

    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);
    let listed = json(&binderctl.ok(&["volumes", "ls", "-n", &ns.name, "-o", "json"]));
    assert_eq!(names(&listed), ["claim-alice", "claim-bob", "claim-carol"]);
    let by_name = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("claim-alice")["status"], "Bound");
    assert_eq!(by_name("claim-alice")["size"], "10Gi");
    assert_eq!(
        by_name("claim-alice")["used_by"],
        serde_json::json!(["jupyter-alice"])
    );
    assert_eq!(by_name("claim-carol")["status"], "Pending");
    assert_eq!(by_name("claim-carol")["used_by"], serde_json::json!([]));

    let out = binderctl.run(&[
        "volumes", "rm", "--prefix", "claim-", "-n", &ns.name, "--yes",
    ]);
    assert!(
        out.status.success(),
        "volumes rm:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("jupyter-alice"),
        "the mounting pod is not named:\n{}",
        stderr(&out)
    );
    plane.wait_for("the unused claims to go", Duration::from_secs(60), || {
        plane.names(&ns.name, "pvc", None) == ["claim-alice"]
    });
    // The bound volumes the test made are its own to remove.
    for name in ["claim-alice", "claim-bob"] {
        let _ = plane.kubectl(&[
            "delete",
            "pv",
            &format!("pv-{name}-{}", std::process::id()),
            "--wait=false",
        ]);
    }
}

#[test]
fn quota_apply_then_show_reads_what_the_server_holds() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-quota");
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/resource-quota.yaml"))
            .unwrap()
            .replace("namespace: binder", &format!("namespace: {}", ns.name));
    binderctl.write("resource-quota.yaml", &manifest);
    binderctl.ok(&[
        "quota",
        "apply",
        "-n",
        &ns.name,
        "-f",
        "resource-quota.yaml",
    ]);
    let quota = plane
        .get_json(Some(&ns.name), "resourcequota", "binder-quota")
        .expect("the quota");
    assert_eq!(quota["spec"]["hard"]["pods"], "120");

    plane.kubectl_stdin(
        &["create", "-n", &ns.name, "-f", "-"],
        &user_pod("jupyter-alice", "binder", true, true, None).replace(
            "    image: registry.example/lab/binder-course:0123abc\n",
            "    image: registry.example/lab/binder-course:0123abc\n    resources:\n      \
             requests: {cpu: 500m, memory: 1Gi}\n      limits: {cpu: '2', memory: 4Gi}\n",
        ),
    );
    plane.wait_for(
        "the quota controller to count the pod",
        Duration::from_secs(60),
        || {
            let shown = json(&binderctl.ok(&["quota", "show", "-n", &ns.name, "-o", "json"]));
            shown.as_array().unwrap().iter().any(|row| {
                row["quota"] == "binder-quota"
                    && row["resource"] == "requests.cpu"
                    && row["used"] == "500m"
            })
        },
    );
    cluster::assert_stand_in_within(
        "kubectl get resourcequota -n NS -o json",
        RESOURCE_QUOTAS_JSON,
        &plane.kubectl_ok(&["get", "resourcequota", "-n", &ns.name, "-o", "json"]),
    );
    let shown = json(&binderctl.ok(&["quota", "show", "-n", &ns.name, "-o", "json"]));
    let pods = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["resource"] == "pods")
        .expect("a pods row");
    assert_eq!(pods["used"], "1");
    assert_eq!(pods["hard"], "120");
}

#[test]
fn storage_apply_then_ls_and_the_default_class_warning() {
    let plane = control_plane!();
    let _cluster_wide = cluster::cluster_wide();
    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);
    binderctl.write(
        "local-storage-dir.yaml",
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/local-storage-dir.yaml"
        ))
        .unwrap(),
    );
    let out = binderctl.run(&["storage", "apply", "-f", "local-storage-dir.yaml"]);
    assert!(
        out.status.success(),
        "storage apply:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let class = plane
        .get_json(None, "storageclass", "local-storage-dir")
        .expect("the class");
    assert_eq!(class["provisioner"], "openebs.io/local");

    let listed = json(&binderctl.ok(&["storage", "ls", "-o", "json"]));
    let ours = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "local-storage-dir")
        .expect("listed");
    assert_eq!(ours["default"], true);
    assert_eq!(ours["volume_binding_mode"], "WaitForFirstConsumer");

    // A second default class: the warning names both.
    plane.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: e2e-second-default\n  \
         annotations:\n    storageclass.kubernetes.io/is-default-class: \"true\"\nprovisioner: example.test/none\n",
    );
    let out = binderctl.run(&["storage", "ls"]);
    let server_classes = plane.kubectl_ok(&["get", "storageclass", "-o", "json"]);
    plane.kubectl_ok(&[
        "delete",
        "storageclass",
        "e2e-second-default",
        "local-storage-dir",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    cluster::assert_stand_in_within(
        "kubectl get storageclass -o json",
        STORAGE_CLASSES_JSON,
        &server_classes,
    );
    let warning = stderr(&out);
    assert!(
        warning.contains("local-storage-dir") && warning.contains("e2e-second-default"),
        "no warning naming both defaults:\n{warning}"
    );
}

#[test]
fn nodes_ls_shows_the_microk8s_roles_and_disk_says_unavailable() {
    let plane = control_plane!();
    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);
    let listed = json(&binderctl.ok(&["nodes", "ls", "-o", "json"]));
    let rows: Vec<(String, String, Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| NODES.contains(&n["name"].as_str().unwrap()))
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_string(),
                n["status"].as_str().unwrap().to_string(),
                n["roles"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "lab-cp-1".to_string(),
                "Ready".to_string(),
                serde_json::json!(["control-plane"])
            ),
            (
                "lab-worker-1".to_string(),
                "Ready".to_string(),
                serde_json::json!(["worker"])
            ),
            (
                "lab-worker-2".to_string(),
                "Ready".to_string(),
                serde_json::json!(["worker"])
            ),
        ]
    );

    cluster::assert_stand_in_within(
        "kubectl get nodes -o json",
        &nodes_json(&[
            ("u24control", "v1.28.3", true),
            ("u24worker", "v1.28.3", true),
        ]),
        &plane.kubectl_ok(&["get", "nodes", "-o", "json"]),
    );

    // kwok serves no kubelet stats summary: each node says its stats are
    // unavailable, and that is no failure of the command.
    let out = binderctl.run(&["nodes", "disk", "-o", "json"]);
    assert!(
        out.status.success(),
        "nodes disk:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let disks = json(&stdout(&out));
    for node in NODES {
        let row = disks
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == node)
            .unwrap_or_else(|| panic!("{node} missing from {disks}"));
        assert!(row["image_fs"].is_null(), "{row}");
        assert!(
            row["error"]
                .as_str()
                .is_some_and(|e| e.contains("unavailable")),
            "{row}"
        );
    }
}

#[test]
fn dashboard_token_is_a_real_token_request() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-dashboard");
    plane.kubectl_ok(&["create", "serviceaccount", "admin", "-n", &ns.name]);
    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);
    let token = binderctl.ok(&[
        "dashboard",
        "token",
        "--service-account",
        "admin",
        "--account-namespace",
        &ns.name,
        "--duration",
        "1h",
    ]);
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    // The server takes it back: a TokenReview of it names the account.
    let review = plane.kubectl_stdin(
        &["create", "-o", "json", "-f", "-"],
        &format!(
            "{{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{{\"token\":\"{token}\"}}}}"
        ),
    );
    let review = json(&review);
    assert_eq!(review["status"]["authenticated"], true, "{review}");
    assert_eq!(
        review["status"]["user"]["username"],
        format!("system:serviceaccount:{}:admin", ns.name)
    );

    // An account that does not exist is the server's NotFound, said as such.
    let out = binderctl.run(&[
        "dashboard",
        "token",
        "--service-account",
        "nobody",
        "--account-namespace",
        &ns.name,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nobody"), "{}", stderr(&out));
}
