//! End-to-end tier, the release's life against the real API server: the real
//! binderhub chart (`../shared/charts`, served on loopback) deployed at 3506
//! and upgraded to 3959 as the deployment notes did, once through Helm 4
//! with MicroK8s' wrappers and once through Helm 3 with `--tools plain`;
//! then `status`, `versions`, `diff`, `history`, `rollback` and `uninstall`
//! on what the server holds.

mod support;

use std::process::Output;
use std::time::Duration;

use support::cluster::{self, Binderctl, ControlPlane, Flavor, HelmMajor};
use support::fake_tools::{
    default_pods, pod_list_json, HELM_HISTORY_JSON, HELM_LIST_JSON, NAMESPACE_JSON, SERVICES_JSON,
    WORKLOADS_JSON,
};
use support::release::{hub_db_dir_volume, ReleaseGuard, Sources};
use support::{stderr, stdout};

const FIRST: &str = "1.0.0-0.dev.git.3506.hba24eb2a";
const SECOND: &str = "1.0.0-0.dev.git.3959.hb9fad995";
const TOKEN: &str = "dckr_pat_E2E-SECRET-7731";

/// A lab's binder.yaml: the tutorial's shape, reserved names only.
const BINDER_YAML: &str = r#"config:
  BinderHub:
    use_registry: true
    image_prefix: registry.example/lab/binder-
    hub_url: http://192.0.2.100
  GitHubRepoProvider:
    whitelist_enabled: true
    whitelist:
      - binder-examples
jupyterhub:
  cull:
    every: 300
    timeout: 600
  singleuser:
    networkPolicy:
      enabled: true
      egressAllowRules:
        nonPrivateIPs: false
      domain_whitelist: [files.example]
"#;

fn with<'a>(args: &[&'a str], extra: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(extra.iter().map(String::as_str));
    all
}

/// Give the chart's LoadBalancer services an address, as MetalLB would
/// (a status patch), as soon as Helm has made them.
fn metallb(plane: &'static ControlPlane, namespace: String) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut pending = vec![("proxy-public", "192.0.2.100"), ("binder", "192.0.2.101")];
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !pending.is_empty() && std::time::Instant::now() < deadline {
            pending.retain(|(service, ip)| {
                let patch =
                    format!(r#"{{"status":{{"loadBalancer":{{"ingress":[{{"ip":"{ip}"}}]}}}}}}"#);
                !plane
                    .kubectl(&[
                        "patch",
                        "service",
                        service,
                        "-n",
                        &namespace,
                        "--subresource=status",
                        "--type=merge",
                        "-p",
                        &patch,
                    ])
                    .status
                    .success()
            });
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

fn release_json(
    plane: &ControlPlane,
    namespace: &str,
    helm: &std::path::Path,
) -> serde_json::Value {
    let out = std::process::Command::new(helm)
        .args(["list", "-n", namespace, "-o", "json"])
        .arg(format!("--kubeconfig={}", plane.kubeconfig.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn helm_json(plane: &ControlPlane, helm: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(helm)
        .args(args)
        .arg(format!("--kubeconfig={}", plane.kubeconfig.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The stand-ins' answers to the reads binderctl makes of a deployed
/// BinderHub are held to what the server (and Helm) answer here.
fn stand_ins_within_the_server(
    plane: &ControlPlane,
    namespace: &str,
    helm: &std::path::Path,
    release: &str,
) {
    let get = |args: &[&str]| plane.kubectl_ok(args);
    // A user's pod beside the chart's, as KubeSpawner starts it with the
    // chart's singleuser limits (the stand-in's pod list has such pods).
    plane.kubectl_stdin(
        &["create", "-n", namespace, "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: jupyter-alice\n  labels:\n    \
         component: singleuser-server\n    release: binder\nspec:\n  containers:\n  - name: notebook\n    \
         image: registry.example/lab/binder-course:0123abc\n    resources:\n      \
         requests: {cpu: 500m, memory: 1G}\n      limits: {cpu: '2', memory: 4G}\n",
    );
    plane.wait_for("the user's pod to run", Duration::from_secs(60), || {
        get(&[
            "get",
            "pod",
            "jupyter-alice",
            "-n",
            namespace,
            "-o",
            "jsonpath={.status.phase}",
        ]) == "Running"
    });
    cluster::assert_stand_in_within(
        "kubectl get deployments,statefulsets,daemonsets -n NS -o json",
        WORKLOADS_JSON,
        &get(&[
            "get",
            "deployments,statefulsets,daemonsets",
            "-n",
            namespace,
            "-o",
            "json",
        ]),
    );
    cluster::assert_stand_in_within(
        "kubectl get services -n NS -o json",
        SERVICES_JSON,
        &get(&["get", "services", "-n", namespace, "-o", "json"]),
    );
    cluster::assert_stand_in_within(
        "kubectl get pods -n NS -o json",
        &pod_list_json(&default_pods()).to_string(),
        &get(&["get", "pods", "-n", namespace, "-o", "json"]),
    );
    cluster::assert_stand_in_within(
        "kubectl get namespace NS -o json",
        NAMESPACE_JSON,
        &get(&["get", "namespace", namespace, "-o", "json"]),
    );
    cluster::assert_stand_in_within(
        "helm list -n NS -o json",
        HELM_LIST_JSON,
        &helm_json(plane, helm, &["list", "-n", namespace, "-o", "json"]),
    );
    cluster::assert_stand_in_within(
        "helm history RELEASE -n NS -o json",
        HELM_HISTORY_JSON,
        &helm_json(
            plane,
            helm,
            &["history", release, "-n", namespace, "-o", "json"],
        ),
    );
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} exited {}:\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

fn release_life(flavor: Flavor, helm: HelmMajor, release: &str) {
    let plane = control_plane!();
    let Some(sources) = Sources::start() else {
        return;
    };
    let _one_release_at_a_time = cluster::cluster_wide();
    let ns = plane.namespace("e2e-release");
    let _release = ReleaseGuard {
        plane,
        release,
        namespace: ns.name.clone(),
    };
    hub_db_dir_volume(plane, &ns.name);
    let rel = format!("--release={release}");
    let repo = format!("--chart-repo-url={}", sources.charts.url("/charts/"));
    let binderctl = Binderctl::new(plane, flavor, helm);
    binderctl.write("binder.yaml", BINDER_YAML);
    let secret = binderctl.write(
        "secret.yaml",
        &format!("registry:\n  username: lab\n  password: {TOKEN}\n"),
    );
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // The render's sources and the release; deploy also gets the chart
    // repository.
    let mut opts = sources.options();
    opts.push(rel.clone());
    let mut deploy_opts = opts.clone();
    deploy_opts.push(repo.clone());
    let helm_path = match helm {
        HelmMajor::Four => &plane.helm,
        HelmMajor::Three => &plane.helm3,
    };

    // deploy at 3506: Helm installs, kwok makes the pods Ready, the
    // rollout wait ends, the addresses MetalLB gave are printed.
    let lb = metallb(plane, ns.name.clone());
    let version = format!("--version={FIRST}");
    let out = binderctl.run(&with(
        &["deploy", "-n", &ns.name, &version, "--wait-timeout=3m"],
        &deploy_opts,
    ));
    assert_ok(&out, "deploy 3506");
    lb.join().unwrap();
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("192.0.2.100"),
        "deploy printed no proxy-public address:\n{all}"
    );
    assert!(!all.contains(TOKEN), "the token was printed");
    let releases = release_json(plane, &ns.name, helm_path);
    assert_eq!(
        releases[0]["chart"],
        format!("binderhub-{FIRST}"),
        "{releases}"
    );
    assert_eq!(releases[0]["status"], "deployed");

    // status: the release, its pods Ready, the services' addresses.
    let status: serde_json::Value =
        serde_json::from_str(&binderctl.ok(&["status", "-n", &ns.name, &rel, "-o", "json"]))
            .unwrap();
    assert_eq!(status["release"]["chart_version"], FIRST, "{status}");
    let pods = status["pods"].as_array().unwrap();
    assert!(
        pods.iter()
            .any(|p| p["name"].as_str().unwrap().starts_with("hub-")),
        "{status}"
    );
    assert!(pods.iter().all(|p| p["status"] == "Running"), "{status}");
    let proxy = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "proxy-public")
        .expect("proxy-public in status");
    assert_eq!(proxy["external_addresses"][0], "192.0.2.100", "{status}");
    // Every workload the chart rolled out, with its pods ready (deploy
    // waited for each; kwok made their pods Ready).
    let workloads = status["workloads"].as_array().unwrap();
    assert!(
        workloads
            .iter()
            .any(|w| w["kind"] == "Deployment" && w["name"] == "hub"),
        "{status}"
    );
    assert!(
        workloads
            .iter()
            .all(|w| w["ready"].as_u64() >= w["desired"].as_u64()),
        "{status}"
    );

    // versions: the repository's three, newest first, the deployed one marked.
    let versions: serde_json::Value = serde_json::from_str(
        &binderctl.ok(&["versions", "-n", &ns.name, &rel, &repo, "-o", "json"]),
    )
    .unwrap();
    let listed: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [SECOND, FIRST, "1.0.0-0.dev.git.3170.h84b1db9"]);
    let deployed: Vec<bool> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["deployed"].as_bool().unwrap())
        .collect();
    assert_eq!(deployed, [false, true, false]);

    // diff: nothing to change, then a change after an edit (exit 1).
    let out = binderctl.run(&with(&["diff", "-n", &ns.name], &opts));
    assert_eq!(
        out.status.code(),
        Some(0),
        "diff right after deploy:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    binderctl.write(
        "binder.yaml",
        &BINDER_YAML.replace("every: 300", "every: 600"),
    );
    let out = binderctl.run(&with(&["diff", "-n", &ns.name], &opts));
    assert_eq!(
        out.status.code(),
        Some(1),
        "diff after an edit:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("every: 600"), "{}", stdout(&out));
    assert!(!stdout(&out).contains(TOKEN), "diff showed the token");

    // the upgrade to 3959, the path the deployment notes took.
    let lb = metallb(plane, ns.name.clone());
    let version = format!("--version={SECOND}");
    let out = binderctl.run(&with(
        &["deploy", "-n", &ns.name, &version, "--wait-timeout=3m"],
        &deploy_opts,
    ));
    assert_ok(&out, "deploy 3959");
    lb.join().unwrap();
    let releases = release_json(plane, &ns.name, helm_path);
    assert_eq!(
        releases[0]["chart"],
        format!("binderhub-{SECOND}"),
        "{releases}"
    );
    assert_eq!(releases[0]["revision"], "2");

    stand_ins_within_the_server(plane, &ns.name, helm_path, release);

    // history: both revisions, oldest first.
    let history: serde_json::Value =
        serde_json::from_str(&binderctl.ok(&["history", "-n", &ns.name, &rel, "-o", "json"]))
            .unwrap();
    let revisions: Vec<(i64, &str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_i64().unwrap(),
                r["status"].as_str().unwrap(),
                r["chart_version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        revisions,
        [(1, "superseded", FIRST), (2, "deployed", SECOND)]
    );

    // rollback: without a terminal and without --yes it refuses; with --yes
    // it goes back to 3506 and waits for the rollout.
    let out = binderctl.run(&["rollback", "-n", &ns.name, &rel]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "rollback without --yes:\n{}",
        stderr(&out)
    );
    assert_eq!(release_json(plane, &ns.name, helm_path)[0]["revision"], "2");
    let out = binderctl.run(&[
        "rollback",
        "-n",
        &ns.name,
        &rel,
        "--yes",
        "--wait-timeout=3m",
    ]);
    assert_ok(&out, "rollback");
    let releases = release_json(plane, &ns.name, helm_path);
    assert_eq!(
        releases[0]["chart"],
        format!("binderhub-{FIRST}"),
        "{releases}"
    );
    assert_eq!(releases[0]["revision"], "3");

    if helm == HelmMajor::Four {
        a_daemonset_that_never_gets_ready_is_named(plane, &binderctl, &ns.name, &deploy_opts);
    }

    // uninstall: the release and its namespace go, nothing else.
    let other = plane.namespace("e2e-bystander");
    plane.kubectl_ok(&["create", "configmap", "keep-me", "-n", &other.name]);
    let out = binderctl.run(&["uninstall", "-n", &ns.name, &rel, "--yes"]);
    assert_ok(&out, "uninstall");
    plane.wait_for("the namespace to go", Duration::from_secs(60), || {
        plane.get_json(None, "namespace", &ns.name).is_none()
    });
    assert!(plane
        .get_json(Some(&other.name), "configmap", "keep-me")
        .is_some());
}

/// deploy waits for DaemonSets too: one whose pods can never be scheduled
/// (more CPU than any node has) ends the wait with its name, its pods'
/// count and their reason.
fn a_daemonset_that_never_gets_ready_is_named(
    plane: &ControlPlane,
    binderctl: &Binderctl,
    namespace: &str,
    deploy_opts: &[String],
) {
    plane.kubectl_stdin(
        &["apply", "-n", namespace, "-f", "-"],
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: stuck-cleaner\nspec:\n  \
         selector:\n    matchLabels: {app: stuck-cleaner}\n  template:\n    metadata:\n      \
         labels: {app: stuck-cleaner}\n    spec:\n      containers:\n      - name: clean\n        \
         image: registry.example/lab/cleaner:1\n        resources:\n          \
         requests: {cpu: '1000'}\n",
    );
    let version = format!("--version={FIRST}");
    let out = binderctl.run(&with(
        &["deploy", "-n", namespace, &version, "--wait-timeout=20s"],
        deploy_opts,
    ));
    let err = stderr(&out);
    // kubectl's own exit code (1) comes through, as for every tool failure.
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("rollout of daemonset/stuck-cleaner"), "{err}");
    let not_ready = &err[err.find("binderctl: not ready:").expect(&err)..];
    assert!(
        not_ready.contains("daemonset/stuck-cleaner: ") && not_ready.contains(" of 3 pods ready"),
        "{err}"
    );
    assert!(err.contains("pod stuck-cleaner-"), "{err}");
    assert!(
        err.contains("Pending") && err.contains("FailedScheduling"),
        "{err}"
    );
    assert!(
        !err.contains("daemonset/stuck-cleaner and any after"),
        "{err}"
    );
    plane.kubectl_ok(&[
        "delete",
        "daemonset",
        "stuck-cleaner",
        "-n",
        namespace,
        "--wait",
    ]);
}

#[test]
fn release_life_with_helm4_through_microk8s_wrappers() {
    release_life(Flavor::Microk8s, HelmMajor::Four, "binder");
}

#[test]
fn release_life_with_helm3_and_plain_tools() {
    release_life(Flavor::Plain, HelmMajor::Three, "lab");
}
