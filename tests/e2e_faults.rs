//! End-to-end tier, faults: the API server goes away in the middle of a
//! command (stopped at a known point by a kubectl in front of the real one)
//! and comes back. binderctl exits non-zero at once, claims nothing that did
//! not happen, and the same command run again converges, leaving no helper
//! pod behind. These tests stop the server, so they run on a cluster of
//! their own, one at a time.

mod support;

use std::time::{Duration, Instant};

use support::cluster::{self, Binderctl, Component, ControlPlane, Flavor, HelmMajor};
use support::dns_server::{DnsServer, Zone};
use support::http_server::HttpServer;
use support::release::{hub_db_dir_volume, ReleaseGuard, Sources};
use support::{stderr, stdout};

fn own_plane() -> Option<&'static ControlPlane> {
    cluster::require_own("faults")
}

/// Brings the control plane back however the test ends, for the next
/// test: every component restarted as kwokctl starts them (the controller
/// manager and scheduler exit or wedge once their server and their leader
/// lease went away, as they would on a real node).
struct Revive<'a> {
    plane: &'a ControlPlane,
    api: Component,
}

impl<'a> Revive<'a> {
    fn new(plane: &'a ControlPlane) -> Self {
        Revive {
            plane,
            api: plane.component("kube-apiserver"),
        }
    }

    fn now(&self) {
        if !self.api.is_running() {
            self.plane.restart();
        }
        // kwok renews the nodes' leases again; until then the node
        // lifecycle controller may hold them NotReady.
        self.plane
            .wait_for("every node to be Ready again", Duration::from_secs(120), || {
                self.plane
                    .kubectl_ok(&[
                        "get",
                        "nodes",
                        "-o",
                        "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
                    ])
                    .lines()
                    .all(|l| l.trim() == "True")
            });
    }
}

impl Drop for Revive<'_> {
    fn drop(&mut self) {
        if !self.api.is_running() {
            // No second panic while a failed test unwinds.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.plane.restart()));
        }
    }
}

fn user_pods(plane: &ControlPlane, namespace: &str, names: &[&str]) {
    let manifests: String = names
        .iter()
        .map(|name| {
            format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    \
                 component: singleuser-server\n    release: binder\nspec:\n  containers:\n  \
                 - name: notebook\n    image: registry.example/lab/binder-course:0123abc\n"
            )
        })
        .collect();
    plane.kubectl_stdin(&["create", "-n", namespace, "-f", "-"], &manifests);
    plane.wait_for("the pods to run", Duration::from_secs(60), || {
        plane
            .kubectl_ok(&[
                "get",
                "pods",
                "-n",
                namespace,
                "--field-selector=status.phase=Running",
                "-o",
                "name",
            ])
            .lines()
            .count()
            == names.len()
    });
}

/// Run, timed: a fault must end the command promptly, not hang it.
fn timed(binderctl: &Binderctl, args: &[&str]) -> std::process::Output {
    let started = Instant::now();
    let out = binderctl.run(args);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "binderctl {args:?} took {:?} after the server went away",
        started.elapsed()
    );
    out
}

#[test]
fn purge_when_the_server_goes_away_before_the_delete() {
    let Some(plane) = own_plane() else { return };
    let _one_fault_at_a_time = cluster::cluster_wide();
    let ns = plane.namespace("e2e-fault-purge");
    user_pods(
        plane,
        &ns.name,
        &["jupyter-alice", "jupyter-bob", "jupyter-carol"],
    );
    let api = Revive::new(plane);
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before(
        "kubectl",
        &["delete", "pod"],
        &api.api,
    );
    let out = timed(
        &binderctl,
        &["pods", "purge", "jupyter-", "-n", &ns.name, "--yes"],
    );
    assert!(binderctl.shim_fired("kubectl"));
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        !said.contains("Deleted 3"),
        "claimed what did not happen:\n{said}"
    );
    assert!(
        said.contains("jupyter-alice") && said.contains("not deleted"),
        "{said}"
    );

    api.now();
    let again = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let out = again.run(&["pods", "purge", "jupyter-", "-n", &ns.name, "--yes"]);
    assert!(out.status.success(), "the re-run:\n{}", stderr(&out));
    plane.wait_for("the pods to go", Duration::from_secs(60), || {
        plane.names(&ns.name, "pods", None).is_empty()
    });
}

#[test]
fn egress_apply_when_the_server_goes_away_before_the_apply() {
    let Some(plane) = own_plane() else { return };
    let _one_fault_at_a_time = cluster::cluster_wide();
    let ns = plane.namespace("e2e-fault-egress");
    let dns = DnsServer::start(Zone::new().a("files.example", ["203.0.113.200"]));
    let lists = HttpServer::published_lists();
    let api = Revive::new(plane);
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before(
        "kubectl",
        &["apply"],
        &api.api,
    );
    binderctl.write(
        "binder.yaml",
        "config:\n  BinderHub:\n    hub_url: http://192.0.2.100\njupyterhub:\n  singleuser:\n    \
         networkPolicy:\n      enabled: true\n      egressAllowRules:\n        nonPrivateIPs: false\n      \
         allow_list_mode: policy\n      domain_whitelist: [files.example]\n",
    );
    let nameserver = format!("--nameserver={}", dns.addr);
    let meta = format!("--github-meta-url={}", lists.url("/meta"));
    let fastly = format!("--fastly-url={}", lists.url("/fastly"));
    let args = [
        "egress",
        "apply",
        "-n",
        &ns.name,
        &nameserver,
        &meta,
        &fastly,
    ];
    let out = timed(&binderctl, &args);
    assert!(binderctl.shim_fired("kubectl"));
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        !said.contains("Applied"),
        "claimed what did not happen:\n{said}"
    );

    api.now();
    assert!(plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress")
        .is_none());
    let again = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    again.write(
        "binder.yaml",
        &std::fs::read_to_string(binderctl.work().join("binder.yaml")).unwrap(),
    );
    let out = again.run(&args);
    assert!(
        out.status.success(),
        "the re-run:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress")
        .is_some());
}

#[test]
fn images_rm_on_every_node_when_the_server_goes_away_while_helper_pods_run() {
    let Some(plane) = own_plane() else { return };
    let _one_fault_at_a_time = cluster::cluster_wide();
    let ns = plane.namespace("e2e-fault-images");
    let api = Revive::new(plane);
    // Gone once the read pods exist, before their output is read.
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before(
        "kubectl",
        &["logs"],
        &api.api,
    );
    let args = [
        "images",
        "rm",
        "binder-",
        "--all-nodes",
        "--helper-namespace",
        &ns.name,
        "--yes",
    ];
    let out = timed(&binderctl, &args);
    assert!(binderctl.shim_fired("kubectl"));
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        !said.contains("Removed registry.example"),
        "claimed what did not happen:\n{said}"
    );

    api.now();
    let again = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let out = again.run(&args);
    assert!(
        out.status.success(),
        "the re-run:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    plane.wait_for("no helper pod to be left", Duration::from_secs(60), || {
        plane
            .names(
                &ns.name,
                "pods",
                Some("app.kubernetes.io/managed-by=binderctl,app.kubernetes.io/component=node-helper"),
            )
            .is_empty()
    });
}

const BINDER_YAML: &str = "config:\n  BinderHub:\n    use_registry: true\n    hub_url: http://192.0.2.100\n\
jupyterhub:\n  singleuser:\n    networkPolicy:\n      enabled: true\n      egressAllowRules:\n        \
nonPrivateIPs: false\n      domain_whitelist: [files.example]\n";

fn deploy_setup(plane: &ControlPlane, binderctl: &Binderctl, namespace: &str) {
    if plane
        .get_json(None, "pv", &support::release::hub_db_volume(namespace))
        .is_none()
    {
        hub_db_dir_volume(plane, namespace);
    }
    deploy_setup_files(binderctl);
}

#[test]
fn deploy_when_the_server_goes_away_before_and_after_the_upgrade_started() {
    let Some(plane) = own_plane() else { return };
    let Some(sources) = Sources::start() else {
        return;
    };
    let _one_fault_at_a_time = cluster::cluster_wide();
    let ns = plane.namespace("e2e-fault-deploy");
    let _release = ReleaseGuard {
        plane,
        release: "binder",
        namespace: ns.name.clone(),
    };
    let mut args: Vec<String> = [
        "deploy",
        "-n",
        &ns.name,
        "--version=1.0.0-0.dev.git.3959.hb9fad995",
        "--wait-timeout=2m",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(sources.options());
    args.push(format!(
        "--chart-repo-url={}",
        sources.charts.url("/charts/")
    ));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let helm_list = || {
        let out = std::process::Command::new(&plane.helm)
            .args([
                "list",
                "-n",
                &ns.name,
                "--deployed",
                "--failed",
                "--pending",
                "-o",
                "json",
            ])
            .arg(format!("--kubeconfig={}", plane.kubeconfig.display()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // Before the upgrade: Helm finds no server; nothing is deployed.
    let api = Revive::new(plane);
    let before = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before(
        "helm",
        &["upgrade"],
        &api.api,
    );
    deploy_setup(plane, &before, &ns.name);
    let out = timed(&before, &args);
    assert!(before.shim_fired("helm"));
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        !stdout(&out).contains("proxy-public:"),
        "claimed a deploy:\n{}",
        stdout(&out)
    );
    api.now();
    assert_eq!(helm_list().trim(), "[]", "a release was recorded");

    // After the upgrade: the server goes while the rollout is watched.
    let after = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before(
        "kubectl",
        &["rollout", "status"],
        &api.api,
    );
    deploy_setup(plane, &after, &ns.name);
    let out = timed(&after, &args);
    assert!(
        after.shim_fired("kubectl"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "the release binder in namespace {} was upgraded",
            ns.name
        )) && said.contains("binderctl status"),
        "no word of what was done and how to go on:\n{said}"
    );
    api.now();
    assert!(helm_list().contains("\"deployed\""), "{}", helm_list());

    // The same deploy again converges.
    let again = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    deploy_setup_files(&again);
    let out = again.run(&args);
    assert!(
        out.status.success(),
        "the re-run:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

fn deploy_setup_files(binderctl: &Binderctl) {
    binderctl.write("binder.yaml", BINDER_YAML);
    let secret = binderctl.write(
        "secret.yaml",
        "registry:\n  username: lab\n  password: e2e-0000\n",
    );
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}
