//! End-to-end tier, faults: the API server, or the etcd behind it, goes
//! away in the middle of a command (stopped at a known point by a kubectl
//! or Helm in front of the real one), and comes back, after the command or
//! while it runs. binderctl exits non-zero within its timeouts (with etcd
//! gone the API server keeps each request until its own timeout, and
//! binderctl's --request-timeout, 30s by default, ends kubectl's), says
//! what was done and what was not, claims nothing that did not happen (the
//! objects left on the server are counted), and the same command run again
//! converges, leaving no helper pod behind. These tests stop the server, so
//! they run on a cluster of their own, one at a time.

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
/// test: the API server and etcd started again as they were (quickly: a
/// whole restart makes kwok wait a lease renewal, 50 s, to take the nodes
/// over again); the controller manager and scheduler too once etcd was
/// gone (they exit or wedge when their leader lease cannot be renewed, as
/// on a real node); everything restarted as kwokctl starts it when kwok
/// itself stopped, or when the test panics.
struct Revive<'a> {
    plane: &'a ControlPlane,
    api: Component,
    etcd: Component,
    /// The controller manager and the scheduler.
    controllers: [Component; 2],
    kwok: Component,
}

impl<'a> Revive<'a> {
    fn new(plane: &'a ControlPlane) -> Self {
        Revive {
            plane,
            api: plane.component("kube-apiserver"),
            etcd: plane.component("etcd"),
            controllers: [
                plane.component("kube-controller-manager"),
                plane.component("kube-scheduler"),
            ],
            kwok: plane.component("kwok-controller"),
        }
    }

    fn stopped(&self) -> bool {
        !self.api.is_running() || !self.etcd.is_running()
    }

    fn now(&self) {
        if !self.kwok.is_running() {
            self.plane.restart();
        } else if self.stopped() {
            let etcd_was_gone = !self.etcd.is_running();
            for component in [&self.etcd, &self.api] {
                if !component.is_running() {
                    self.plane.start_again(component);
                }
            }
            self.plane.wait_ready();
            for component in &self.controllers {
                if etcd_was_gone && component.is_running() {
                    self.plane.stop(component);
                }
                if !component.is_running() {
                    self.plane.start_again(component);
                }
            }
        }
        // kwok renews the nodes' leases again; until then the node
        // lifecycle controller may hold them NotReady. A server still
        // starting (refused connections) is not ready yet either.
        let all_ready = || {
            let out = self.plane.kubectl(&[
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ]);
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .all(|l| l.trim() == "True")
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !all_ready() {
            if std::time::Instant::now() > deadline {
                // kwok 0.8 can lose its hold on the nodes across a
                // restart it did not see: the whole plane again, as when
                // kwok itself stopped.
                self.plane.restart();
                self.plane.wait_for(
                    "every node to be Ready again",
                    Duration::from_secs(120),
                    all_ready,
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Revive<'_> {
    fn drop(&mut self) {
        if self.stopped() {
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
    timed_within(binderctl, args, Duration::from_secs(60))
}

/// Run, within `limit`: with etcd gone, each request waits out a timeout
/// (kubectl's --request-timeout, 30s by default; Helm's, the API server's
/// own, 60s).
fn timed_within(binderctl: &Binderctl, args: &[&str], limit: Duration) -> std::process::Output {
    let started = Instant::now();
    let out = binderctl.run(args);
    eprintln!(
        "binderctl {args:?}: {:?}\n{}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < limit,
        "binderctl {args:?} took {:?} after the server went away",
        started.elapsed()
    );
    out
}

/// The `N` of the summary's `Deleted N pods.` (`noun`: pod, volume claim).
fn reported_deleted(said: &str, noun: &str) -> usize {
    let line = said
        .lines()
        .find(|l| l.starts_with("Deleted "))
        .unwrap_or_else(|| panic!("no summary:\n{said}"));
    let count = line["Deleted ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count: {line}"));
    assert!(line[8..].contains(noun), "{line}");
    count
}

/// Nothing claimed that did not happen: the summary's count went from the
/// server, every object still there is named as not deleted, and the
/// objects gone are at least those counted.
fn assert_truthful(said: &str, noun: &str, before: &[&str], left: &[String]) {
    let deleted = reported_deleted(said, noun);
    assert!(
        deleted <= before.len() - left.len(),
        "claimed {deleted} deleted, but {left:?} of {before:?} are still there:\n{said}"
    );
    for name in left {
        let named = said
            .lines()
            .filter(|l| l.contains(" failed ("))
            .any(|l| l.contains(name.as_str()));
        assert!(
            named,
            "{name} is still there but not named as not deleted:\n{said}"
        );
    }
    if !left.is_empty() {
        assert!(
            said.contains("not deleted, or the server did not confirm it"),
            "{said}"
        );
        assert!(said.contains("Run the same command again"), "{said}");
    }
}

/// The `kind` objects of `namespace` not being deleted (a pod deleted
/// with --wait=false stays a moment, with a deletion timestamp).
fn remaining(plane: &ControlPlane, namespace: &str, kind: &str) -> Vec<String> {
    let list: serde_json::Value =
        serde_json::from_str(&plane.kubectl_ok(&["get", kind, "-n", namespace, "-o", "json"]))
            .expect("kubectl JSON");
    let mut names: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|item| item["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Run binderctl, whose shim stops the server and then waits for the file
/// `back`; meanwhile bring the control plane back (a restart in the middle
/// of the command), then let the shim go on. The output, within `limit`.
fn through_a_restart(
    revive: &Revive,
    binderctl: &Binderctl,
    args: &[&str],
    back: &std::path::Path,
    limit: Duration,
) -> std::process::Output {
    let started = Instant::now();
    let child = binderctl.command(args).spawn().expect("run binderctl");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    revive.plane.wait_for(
        "the shim to stop the server",
        Duration::from_secs(60),
        || binderctl.shim_fired("kubectl"),
    );
    let restarting = Instant::now();
    revive.now();
    eprintln!("the control plane came back in {:?}", restarting.elapsed());
    std::fs::write(back, "").unwrap();
    let out = receiver
        .recv_timeout(limit.saturating_sub(started.elapsed()))
        .unwrap_or_else(|_| panic!("binderctl {args:?} did not end within {limit:?}"))
        .expect("binderctl's output");
    eprintln!(
        "binderctl {args:?}: {:?}\n{}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
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
fn purge_when_etcd_stops_before_the_delete() {
    let Some(plane) = own_plane() else { return };
    let _one_fault_at_a_time = cluster::cluster_wide();
    let ns = plane.namespace("e2e-fault-purge-etcd");
    let pods = ["jupyter-alice", "jupyter-bob", "jupyter-carol"];
    user_pods(plane, &ns.name, &pods);
    let revive = Revive::new(plane);
    // The API server stays, and keeps each request until a timeout.
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before(
        "kubectl",
        &["delete", "pod"],
        &revive.etcd,
    );
    let args = ["pods", "purge", "jupyter-", "-n", &ns.name, "--yes"];
    // One request timeout (30s), not one per pod of the batch.
    let out = timed_within(&binderctl, &args, Duration::from_secs(55));
    assert!(binderctl.shim_fired("kubectl"));
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("the API server did not answer in time"),
        "{said}"
    );

    revive.now();
    let left = remaining(plane, &ns.name, "pods");
    assert_truthful(&said, "pod", &pods, &left);
    let again = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let out = again.run(&args);
    assert!(out.status.success(), "the re-run:\n{}", stderr(&out));
    plane.wait_for("the pods to go", Duration::from_secs(60), || {
        plane.names(&ns.name, "pods", None).is_empty()
    });
}

#[test]
fn purge_when_the_api_server_restarts_in_the_middle() {
    let Some(plane) = own_plane() else { return };
    let _one_fault_at_a_time = cluster::cluster_wide();
    let ns = plane.namespace("e2e-fault-purge-restart");
    let names: Vec<String> = (1..=12).map(|i| format!("jupyter-user-{i:02}")).collect();
    let pods: Vec<&str> = names.iter().map(String::as_str).collect();
    user_pods(plane, &ns.name, &pods);
    let revive = Revive::new(plane);
    let back = tempfile::tempdir().unwrap();
    let back = back.path().join("back");
    // The API server goes as the first batches start, and is started again
    // while the command runs; the batch that stopped it runs once it
    // answers again.
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before_until(
        "kubectl",
        &["delete", "pod"],
        &revive.api,
        &back,
    );
    let args = [
        "pods",
        "purge",
        "jupyter-",
        "-n",
        &ns.name,
        "--yes",
        "--batch-size",
        "2",
    ];
    let out = through_a_restart(&revive, &binderctl, &args, &back, Duration::from_secs(90));
    let said = stderr(&out);
    revive.now();
    let left = remaining(plane, &ns.name, "pods");
    // Completed, or failed with a truthful report.
    if out.status.success() {
        assert!(
            left.is_empty() && said.contains("Deleted 12 pods."),
            "{said}"
        );
    } else {
        assert_truthful(&said, "pod", &pods, &left);
    }
    let again = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let out = again.run(&args);
    assert!(out.status.success(), "the re-run:\n{}", stderr(&out));
    plane.wait_for("the pods to go", Duration::from_secs(60), || {
        plane.names(&ns.name, "pods", None).is_empty()
    });
}

#[test]
fn volumes_rm_when_the_server_goes_away_before_the_delete() {
    let Some(plane) = own_plane() else { return };
    let _one_fault_at_a_time = cluster::cluster_wide();
    let ns = plane.namespace("e2e-fault-volumes");
    let claims = ["claim-alice", "claim-bob", "claim-carol"];
    let manifests: String = claims
        .iter()
        .map(|name| {
            format!(
                "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n\
                 spec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: e2e-none\n  \
                 resources:\n    requests:\n      storage: 1Gi\n"
            )
        })
        .collect();
    plane.kubectl_stdin(&["create", "-n", &ns.name, "-f", "-"], &manifests);
    let revive = Revive::new(plane);
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before(
        "kubectl",
        &["delete", "pvc"],
        &revive.api,
    );
    let args = [
        "volumes", "rm", "--prefix", "claim-", "-n", &ns.name, "--yes",
    ];
    let out = timed(&binderctl, &args);
    assert!(binderctl.shim_fired("kubectl"));
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("the API server cannot be reached"), "{said}");

    revive.now();
    let left = remaining(plane, &ns.name, "pvc");
    assert_truthful(&said, "volume claim", &claims, &left);
    let again = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let out = again.run(&args);
    assert!(out.status.success(), "the re-run:\n{}", stderr(&out));
    plane.wait_for("the claims to go", Duration::from_secs(60), || {
        plane.names(&ns.name, "pvc", None).is_empty()
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
    assert!(said.contains("Run the same command again"), "{said}");

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

#[test]
fn images_rm_on_every_node_when_the_api_server_restarts_while_helper_pods_run() {
    let Some(plane) = own_plane() else { return };
    let _one_fault_at_a_time = cluster::cluster_wide();
    let ns = plane.namespace("e2e-fault-images-restart");
    let revive = Revive::new(plane);
    let back = tempfile::tempdir().unwrap();
    let back = back.path().join("back");
    // Gone once the read pods exist, as the first output is read, and
    // started again while that read waits; the other nodes' polls meet
    // the server gone, or back.
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before_until(
        "kubectl",
        &["logs"],
        &revive.api,
        &back,
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
    let out = through_a_restart(&revive, &binderctl, &args, &back, Duration::from_secs(90));
    let said = stderr(&out);
    // Completed, or failed naming the nodes and the way on.
    if !out.status.success() {
        assert!(
            said.contains("failed: ") && said.contains("Run the same command again"),
            "{said}"
        );
    }

    revive.now();
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
fn deploy_when_the_server_or_its_etcd_goes_away_before_and_after_the_upgrade_started() {
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
    assert!(
        said.contains("the state of release binder could not be read")
            && said.contains("`binderctl deploy` again"),
        "no word of what was done and how to go on:\n{said}"
    );
    api.now();
    assert_eq!(helm_list().trim(), "[]", "a release was recorded");

    // Before the upgrade, etcd: the API server answers no request of
    // Helm's (Helm has no request timeout: the server's own, 60s, ends
    // them), then none of binderctl's question of the release's state.
    let before = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).stopping_before(
        "helm",
        &["upgrade"],
        &api.etcd,
    );
    deploy_setup(plane, &before, &ns.name);
    let out = timed_within(&before, &args, Duration::from_secs(150));
    assert!(before.shim_fired("helm"));
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        !stdout(&out).contains("proxy-public:"),
        "claimed a deploy:\n{}",
        stdout(&out)
    );
    assert!(
        said.contains("the API server did not answer in time")
            && said.contains("the state of release binder could not be read")
            && said.contains("`binderctl deploy` again"),
        "no word of what was done and how to go on:\n{said}"
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
