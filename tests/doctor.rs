//! `binderctl doctor` against the fake cluster and a fake system root: each
//! problem the tutorial teaches to find by hand becomes one line with its fix.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use binderctl::ops::doctor::disk::{disk_status, free_bytes};
use binderctl::ops::doctor::model::{Status, MICROK8S_CONTAINERD_ROOT};
use support::fake_tools::{
    call, meet_script, nodes_json, stats_summary_json, storage_classes_with_base_path, FakeCluster,
    MICROK8S_STATUS_WORKER,
};
use support::{stderr, stdout};

const VALUES: &str = "config:\n  BinderHub:\n    hub_url: http://192.0.2.100\n    image_prefix: registry.example/lab/binder-\n\
jupyterhub:\n  singleuser:\n    networkPolicy:\n      egressAllowRules:\n        nonPrivateIPs: false\n";
const SECRET: &str = "registry:\n  username: lab\n  password: dckr_pat_DOCTOR-SECRET\n";

/// `/proc/net/dev` on a MicroK8s node: Calico's VXLAN device and one
/// `cali…` per pod.
const CALICO_DEVICES: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 8826512   95216    0    0    0     0          0         0  8826512   95216    0    0    0     0       0          0
  eth0: 912733446  713386    0    0    0     0          0         0 40372918  298183    0    0    0     0       0          0
vxlan.calico:   37232     406    0    0    0     0          0         0    40812     442    0   29    0     0       0          0
cali6d2a3b1f0c9: 1402264   12213    0    0    0     0          0         0  9862511    9712    0    0    0     0       0          0
";

/// ufw's user.rules after MicroK8s' documented commands for Calico
/// (`sudo ufw allow in on vxlan.calico && sudo ufw allow out on
/// vxlan.calico`, the same for `cali+`).
const CALICO_RULES: &str = "*filter\n### RULES ###\n\n\
### tuple ### allow any any 0.0.0.0/0 any 0.0.0.0/0 in_vxlan.calico\n\
-A ufw-user-input -i vxlan.calico -j ACCEPT\n\n\
### tuple ### allow any any 0.0.0.0/0 any 0.0.0.0/0 out_vxlan.calico\n\
-A ufw-user-output -o vxlan.calico -j ACCEPT\n\n\
### tuple ### allow any any 0.0.0.0/0 any 0.0.0.0/0 in_cali+\n\
-A ufw-user-input -i cali+ -j ACCEPT\n\n\
### tuple ### allow any any 0.0.0.0/0 any 0.0.0.0/0 out_cali+\n\
-A ufw-user-output -o cali+ -j ACCEPT\n\n### END RULES ###\nCOMMIT\n";

/// A healthy node: MicroK8s' files, ufw set up as the tutorial says, the
/// storage base path, and the work files.
struct Node {
    fake: FakeCluster,
    root: tempfile::TempDir,
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Set a file's modification time to `secs` ago (mtimes of files written
/// one after another can be equal).
fn set_age(path: &Path, secs: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

fn healthy() -> Node {
    let mut fake = FakeCluster::new();
    fake.respond_doctor_defaults();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        &r.join("var/snap/microk8s/current/credentials/client.config"),
        "apiVersion: v1\n",
    );
    std::fs::create_dir_all(r.join(MICROK8S_CONTAINERD_ROOT)).unwrap();
    std::fs::create_dir_all(r.join("srv/binder-volumes")).unwrap();
    write(
        &r.join("var/snap/microk8s/current/args/kubelet"),
        KUBELET_RESERVED,
    );
    write(
        &r.join("etc/ufw/ufw.conf"),
        "# ufw.conf\nENABLED=yes\nLOGLEVEL=low\n",
    );
    write(
        &r.join("etc/default/ufw"),
        "IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_FORWARD_POLICY=\"ACCEPT\"\n",
    );
    write(&r.join("etc/ufw/user.rules"), CALICO_RULES);
    write(&r.join("proc/net/dev"), CALICO_DEVICES);
    fake.respond(
        &["kubectl", "get", "storageclass"],
        &storage_classes_with_base_path("/srv/binder-volumes"),
        0,
    );
    fake.write_file("binder.yaml", VALUES);
    let secret = fake.write_file("secret.yaml", SECRET);
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    fake.write_file("_binder.yaml", "rendered: true\n");
    // Rendered after binder.yaml was last edited.
    set_age(&fake.work_dir().join("binder.yaml"), 3600);
    Node { fake, root }
}

impl Node {
    fn doctor(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["doctor", "--root", self.root.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        self.fake.command(&args).output().unwrap()
    }

    fn path(&self, relative: &str) -> std::path::PathBuf {
        self.root.path().join(relative)
    }
}

/// The report's lines by check name: (status, rest of the line).
fn lines(out: &std::process::Output) -> Vec<(String, String, String)> {
    stdout(out)
        .lines()
        .map(|l| {
            let mut parts = l.splitn(2, "  ");
            let status = parts.next().unwrap().trim().to_string();
            let rest = parts.next().unwrap_or("").trim_start();
            let (name, message) = rest.split_once("  ").unwrap_or((rest, ""));
            (status, name.to_string(), message.trim().to_string())
        })
        .collect()
}

fn line<'a>(report: &'a [(String, String, String)], name: &str) -> &'a (String, String, String) {
    report
        .iter()
        .find(|(_, n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} line in {report:?}"))
}

const ORDER: [&str; 20] = [
    "microk8s",
    "control-plane",
    "credentials",
    "add-ons",
    "storage",
    "proxy-public",
    "hub-url",
    "placeholders",
    "secret",
    "secret-permissions",
    "egress-policy",
    "egress-schedule",
    "egress-fresh",
    "nodes",
    "node-disk",
    "firewall-routed",
    "firewall-cni",
    "kubelet-reserved",
    "kubelet-image-gc",
    "containerd-disk",
];

/// MicroK8s' kubelet arguments with the reservations `nodes reserve` sets
/// and the image garbage collection `nodes gc` sets.
const KUBELET_RESERVED: &str = "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n\
--kube-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n\
--system-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n\
--image-gc-high-threshold=80\n\
--image-gc-low-threshold=70\n";

#[test]
fn a_healthy_node_passes_every_check_in_a_fixed_order() {
    let node = healthy();
    let out = node.doctor(&[]);
    let report = lines(&out);
    let names: Vec<&str> = report.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(names, ORDER, "{}", stdout(&out));
    let disk = disk_status(free_bytes(&node.path(MICROK8S_CONTAINERD_ROOT)).unwrap());
    for (status, name, message) in &report {
        let expected = if name == "containerd-disk" {
            match disk {
                Status::Ok => "ok",
                Status::Warn => "warn",
                _ => "fail",
            }
        } else {
            "ok"
        };
        assert_eq!(status, expected, "{name}: {message}");
    }
    assert_eq!(
        out.status.code(),
        Some(if disk == Status::Fail { 1 } else { 0 }),
        "{}",
        stderr(&out)
    );
    assert!(line(&report, "storage")
        .2
        .contains("/srv/binder-volumes exists"));
    assert!(line(&report, "nodes")
        .2
        .contains("2 nodes ready, all on v1.28.3"));
    assert!(!stdout(&out).contains("DOCTOR-SECRET"));
    assert_eq!(line(&report, "node-disk").2, "2 nodes below 85% used");
    // Each cluster read once, each node's stats summary once.
    let calls = node.fake.normalized_calls();
    assert_eq!(calls.len(), 6, "{calls:?}");
    for expected in [
        call(&["microk8s", "status", "--format", "yaml"]),
        call(&["kubectl", "get", "storageclass", "-o", "json"]),
        call(&["kubectl", "get", "services", "-n", "binder", "-o", "json"]),
        call(&["kubectl", "get", "nodes", "-o", "json"]),
        call(&[
            "kubectl",
            "get",
            "--raw",
            "/api/v1/nodes/u24control/proxy/stats/summary",
        ]),
        call(&[
            "kubectl",
            "get",
            "--raw",
            "/api/v1/nodes/u24worker/proxy/stats/summary",
        ]),
    ] {
        assert!(calls.contains(&expected), "{expected:?} not in {calls:?}");
    }
}

#[test]
fn each_problem_is_one_failing_line_with_its_fix() {
    let mut node = healthy();
    // A worker node, add-ons missing, two default classes, ufw dropping
    // routed traffic without the Calico rules, a placeholder, a readable
    // secret, the allow-list switched off, nodes on different versions.
    write(
        &node.path("var/snap/microk8s/current/var/lock/clustered.lock"),
        "",
    );
    node.fake.respond(
        &["microk8s", "status"],
        "microk8s:\n  running: true\naddons:\n- name: dns\n  status: enabled\n- name: metallb\n  status: disabled\n",
        0,
    );
    node.fake.respond(
        &["kubectl", "get", "storageclass"],
        &storage_classes_with_base_path("/srv/missing").replace(
            "\"name\": \"microk8s-hostpath\"",
            "\"name\": \"microk8s-hostpath\", \"annotations\": {\"storageclass.kubernetes.io/is-default-class\": \"true\"}",
        ),
        0,
    );
    write(
        &node.path("etc/default/ufw"),
        "DEFAULT_FORWARD_POLICY=\"DROP\"\n",
    );
    write(&node.path("etc/ufw/user.rules"), "*filter\nCOMMIT\n");
    node.fake.write_file(
        "binder.yaml",
        &VALUES
            .replace("registry.example/lab/binder-", "'<registry user>/binder-'")
            .replace("nonPrivateIPs: false", "nonPrivateIPs: true")
            .replace("192.0.2.100", "192.0.2.99"),
    );
    set_age(&node.fake.work_dir().join("_binder.yaml"), 7200);
    let secret = node.fake.work_dir().join("secret.yaml");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    node.fake.respond(
        &["kubectl", "get", "nodes"],
        &nodes_json(&[
            ("u24control", "v1.28.3", true),
            ("u24worker", "v1.29.1", true),
        ]),
        0,
    );
    let out = node.doctor(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    let report = lines(&out);
    let expect = |name: &str, status: &str, needles: &[&str]| {
        let (s, _, message) = line(&report, name);
        assert_eq!(s, status, "{name}: {message}");
        for needle in needles {
            assert!(
                message.contains(needle),
                "{name}: {message:?} lacks {needle:?}"
            );
        }
    };
    expect(
        "control-plane",
        "fail",
        &["worker", "fix: run binderctl on the control-plane node"],
    );
    expect(
        "add-ons",
        "fail",
        &[
            "not enabled: helm3, metallb, openebs",
            "microk8s enable helm3",
            "microk8s enable metallb:",
        ],
    );
    expect(
        "storage",
        "fail",
        &["2 StorageClasses are the default", "is-default-class-"],
    );
    expect(
        "firewall-routed",
        "fail",
        &["DROP", "fix: sudo ufw default allow routed"],
    );
    expect(
        "firewall-cni",
        "fail",
        &[
            "missing allow in on vxlan.calico, out on vxlan.calico, in on cali+, out on cali+",
            "fix: sudo ufw allow in on vxlan.calico; sudo ufw allow out on vxlan.calico; \
             sudo ufw allow in on cali+; sudo ufw allow out on cali+",
        ],
    );
    expect(
        "hub-url",
        "fail",
        &["192.0.2.99", "hub_url: http://192.0.2.100 in binder.yaml"],
    );
    expect("placeholders", "fail", &["config.BinderHub.image_prefix"]);
    expect(
        "secret-permissions",
        "fail",
        &["mode 0644", "fix: chmod 600 secret.yaml"],
    );
    expect(
        "egress-policy",
        "fail",
        &["restricts nothing", "set it to false in binder.yaml"],
    );
    expect(
        "egress-fresh",
        "warn",
        &["binder.yaml changed after _binder.yaml was rendered"],
    );
    expect(
        "nodes",
        "fail",
        &["u24control v1.28.3, u24worker v1.29.1", "snap refresh"],
    );
    assert!(!text.contains("DOCTOR-SECRET"));
    assert!(stderr(&out).contains("checks failed"), "{}", stderr(&out));
}

#[test]
fn unreadable_credentials_missing_base_path_and_secret_placeholders() {
    let node = healthy();
    let config = node.path("var/snap/microk8s/current/credentials/client.config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o000)).unwrap();
    let root_can_read = std::fs::File::open(&config).is_ok();
    std::fs::remove_dir(node.path("srv/binder-volumes")).unwrap();
    node.fake.write_file(
        "secret.yaml",
        "registry:\n  username: '<registry user>'\n  password: dckr_pat_DOCTOR-SECRET\n",
    );
    let out = node.doctor(&[]);
    assert_eq!(out.status.code(), Some(1));
    let report = lines(&out);
    if !root_can_read {
        let (status, _, message) = line(&report, "credentials");
        assert_eq!(status, "fail");
        assert!(
            message.contains("sudo usermod -a -G microk8s $USER"),
            "{message}"
        );
    }
    let (status, _, message) = line(&report, "storage");
    assert_eq!(status, "fail");
    assert!(
        message.contains("/srv/binder-volumes, which does not exist"),
        "{message}"
    );
    assert!(
        message.contains("sudo mkdir -p /srv/binder-volumes"),
        "{message}"
    );
    let (status, _, message) = line(&report, "secret");
    assert_eq!(status, "fail");
    assert!(
        message.contains("registry.username: still the template's placeholder"),
        "{message}"
    );
    assert!(!stdout(&out).contains("DOCTOR-SECRET"));
}

#[test]
fn a_stopped_microk8s_and_an_unreachable_cluster() {
    let mut node = healthy();
    node.fake.respond_full(
        &["microk8s", "status"],
        "",
        "microk8s is not running. Use microk8s inspect for a deeper inspection.\n",
        1,
    );
    for kind in ["storageclass", "services", "nodes"] {
        node.fake.respond_full(
            &["kubectl", "get", kind],
            "",
            "The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?\n",
            1,
        );
    }
    let out = node.doctor(&[]);
    assert_eq!(out.status.code(), Some(1));
    let report = lines(&out);
    let (status, _, message) = line(&report, "microk8s");
    assert_eq!(status, "fail");
    assert!(message.contains("microk8s is not running"), "{message}");
    assert!(message.contains("sudo microk8s start"), "{message}");
    assert_eq!(line(&report, "add-ons").0, "skip");
    let (status, _, message) = line(&report, "nodes");
    assert_eq!(status, "fail");
    assert!(message.contains("connection to the server"), "{message}");
    assert_eq!(line(&report, "hub-url").0, "skip");
    let (status, _, message) = line(&report, "node-disk");
    assert_eq!(status, "skip");
    assert!(
        message.contains("the nodes could not be listed"),
        "{message}"
    );
    assert!(
        node.fake
            .calls_starting_with(&["kubectl", "get", "--raw"])
            .is_empty(),
        "no stats read without the node list"
    );
}

#[test]
fn a_node_over_the_disk_threshold_is_a_warning_naming_it_and_the_fix() {
    let node = healthy();
    const GIB: u64 = 1 << 30;
    // 90 % of the worker's image filesystem used; the control plane at 84 %.
    node.fake.set_node_stats(
        "u24worker",
        &stats_summary_json(100 * GIB, 10 * GIB, 100 * GIB, 50 * GIB),
    );
    node.fake.set_node_stats(
        "u24control",
        &stats_summary_json(100 * GIB, 50 * GIB, 100 * GIB, 16 * GIB),
    );
    let out = node.doctor(&[]);
    let report = lines(&out);
    let (status, _, message) = line(&report, "node-disk");
    assert_eq!(status, "warn", "{message}");
    assert!(
        message.contains("node u24worker: its image filesystem is 90% used (over 85%)"),
        "{message}"
    );
    assert!(
        message.contains("binderctl images rm PATTERN --node u24worker"),
        "{message}"
    );
    assert!(!message.contains("u24control"), "84% is below: {message}");
    assert_ne!(
        line(&report, "containerd-disk").0 == "fail",
        out.status.success(),
        "a warning alone keeps exit 0"
    );
    // The node filesystem counts too.
    node.fake.set_node_stats(
        "u24control",
        &stats_summary_json(100 * GIB, 50 * GIB, 100 * GIB, 15 * GIB),
    );
    let out = node.doctor(&[]);
    let (_, _, message) = line(&lines(&out), "node-disk").clone();
    assert!(
        message.contains("node u24control: its node filesystem is 85% used"),
        "{message}"
    );
}

#[test]
fn a_node_whose_stats_cannot_be_read_is_named_and_not_ready_nodes_are_not_read() {
    let mut node = healthy();
    node.fake.respond(
        &["kubectl", "get", "nodes"],
        &nodes_json(&[
            ("u24control", "v1.28.3", true),
            ("u24worker", "v1.28.3", true),
            ("u24down", "v1.28.3", false),
        ]),
        0,
    );
    node.fake.forget_node_stats("u24worker");
    let out = node.doctor(&[]);
    let report = lines(&out);
    let (status, _, message) = line(&report, "node-disk");
    assert_eq!(status, "warn", "{message}");
    assert!(
        message.contains(
            "node u24worker: cannot read its disk usage: the kubelet's stats summary is unavailable: Error from server (ServiceUnavailable)"
        ),
        "{message}"
    );
    assert!(message.contains("fix: binderctl nodes disk"), "{message}");
    assert!(!message.contains("u24control"), "{message}");
    assert_eq!(line(&report, "nodes").0, "fail", "u24down is NotReady");
    let raw = node.fake.calls_starting_with(&["kubectl", "get", "--raw"]);
    assert_eq!(raw.len(), 2, "{raw:?}");
    assert!(
        raw.iter().all(|c| !c.join(" ").contains("u24down")),
        "{raw:?}"
    );
}

#[test]
fn a_worker_node_says_so() {
    let mut node = healthy();
    node.fake
        .respond(&["microk8s", "status"], MICROK8S_STATUS_WORKER, 0);
    let out = node.doctor(&[]);
    let report = lines(&out);
    assert_eq!(line(&report, "control-plane").0, "fail");
    assert_eq!(line(&report, "microk8s").0, "skip");
}

#[test]
fn plain_tools_skip_the_microk8s_checks_and_json_has_the_fields() {
    let node = healthy();
    std::fs::create_dir_all(node.path("var/lib/containerd")).unwrap();
    let out = node.doctor(&["--tools", "plain", "-o", "json"]);
    let checks: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let checks = checks.as_array().unwrap();
    assert_eq!(checks.len(), ORDER.len());
    for check in checks {
        for field in ["name", "node", "status", "message", "fix"] {
            assert!(check.get(field).is_some(), "{field} missing in {check}");
        }
    }
    for name in ["microk8s", "control-plane", "credentials", "add-ons"] {
        let check = checks.iter().find(|c| c["name"] == name).unwrap();
        assert_eq!(check["status"], "skip", "{check}");
    }
    assert!(
        node.fake.calls().iter().all(|c| c[0] != "microk8s"),
        "{:?}",
        node.fake.calls()
    );
    let out = node.doctor(&["-o", "name"]);
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), ORDER);
}

#[test]
fn ufw_disabled_or_absent_is_not_a_failure() {
    let node = healthy();
    write(&node.path("etc/ufw/ufw.conf"), "ENABLED=no\n");
    write(
        &node.path("etc/default/ufw"),
        "DEFAULT_FORWARD_POLICY=\"DROP\"\n",
    );
    let out = node.doctor(&[]);
    assert_eq!(line(&lines(&out), "firewall-routed").0, "ok");
    std::fs::remove_dir_all(node.path("etc")).unwrap();
    let out = node.doctor(&[]);
    assert_eq!(line(&lines(&out), "firewall-cni").0, "skip");
}

#[test]
fn unreadable_ufw_rules_skip_with_how_to_read_them_instead_of_failing() {
    let node = healthy();
    // ufw keeps user.rules readable by root only; as root in CI, a folder in
    // its place is the unreadable file.
    std::fs::remove_file(node.path("etc/ufw/user.rules")).unwrap();
    std::fs::create_dir_all(node.path("etc/ufw/user.rules")).unwrap();
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "firewall-cni").clone();
    assert_eq!(status, "skip", "{message}");
    assert!(message.contains("user.rules"), "{message}");
    assert!(
        message.contains("run doctor with sudo, or with --node NAME"),
        "{message}"
    );
    assert_eq!(line(&lines(&out), "firewall-routed").0, "ok");
}

#[test]
fn missing_kubelet_reservations_are_a_warning_with_the_command_that_sets_them() {
    let node = healthy();
    let args = node.path("var/snap/microk8s/current/args/kubelet");
    write(
        &args,
        "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n--kube-reserved=cpu=1\n",
    );
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "kubelet-reserved").clone();
    assert_eq!(status, "warn", "{message}");
    assert!(
        message.contains("does not set --system-reserved:"),
        "{message}"
    );
    assert!(
        message.ends_with("fix: sudo binderctl nodes reserve"),
        "{message}"
    );
    assert_eq!(out.status.code(), Some(0), "a warning keeps exit 0");
    std::fs::remove_file(&args).unwrap();
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "kubelet-reserved").clone();
    assert_eq!(status, "skip", "{message}");
    assert!(message.contains("is MicroK8s installed?"), "{message}");
    // Plain tools: kubeadm's KubeletConfiguration.
    std::fs::create_dir_all(node.path("var/lib/containerd")).unwrap();
    write(
        &node.path("var/lib/kubelet/config.yaml"),
        "kind: KubeletConfiguration\nkubeReserved:\n  cpu: 500m\nsystemReserved:\n  memory: 1Gi\n",
    );
    let out = node.doctor(&["--tools", "plain"]);
    let (status, _, message) = line(&lines(&out), "kubelet-reserved").clone();
    assert_eq!(status, "ok", "{message}");
    assert!(
        message.contains("/var/lib/kubelet/config.yaml"),
        "{message}"
    );
}

/// The chart's imageCleaner (enabled unless the values say otherwise) on
/// a containerd node whose kubelet leaves image garbage collection at its
/// defaults: a warning naming `nodes gc`; gone once the node's kubelet
/// sets it, or when the rendered values turn the cleaner off.
#[test]
fn image_cleaner_without_kubelet_image_gc_is_a_warning_with_the_command_that_sets_it() {
    let node = healthy();
    let args = node.path("var/snap/microk8s/current/args/kubelet");
    write(
        &args,
        "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n--kube-reserved=cpu=1\n",
    );
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "kubelet-image-gc").clone();
    assert_eq!(status, "warn", "{message}");
    assert!(
        message.contains("high 85% (the kubelet's default), low 80% (the kubelet's default)"),
        "{message}"
    );
    assert!(
        message.contains("imageCleaner is enabled (_binder.yaml)")
            && message.contains("never the images containerd pulled for user pods"),
        "{message}"
    );
    assert!(
        message.ends_with("fix: sudo binderctl nodes gc"),
        "{message}"
    );
    assert_eq!(out.status.code(), Some(0), "a warning keeps exit 0");

    node.fake
        .write_file("_binder.yaml", "imageCleaner:\n  enabled: false\n");
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "kubelet-image-gc").clone();
    assert_eq!(status, "ok", "{message}");
    assert!(!message.contains("imageCleaner"), "{message}");

    node.fake.write_file("_binder.yaml", "rendered: true\n");
    let out = node.doctor(&[]);
    assert_eq!(line(&lines(&out), "kubelet-image-gc").0, "warn");
    let set = support::run(
        &node.fake,
        &["nodes", "gc", "--kubelet-args", args.to_str().unwrap()],
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "kubelet-image-gc").clone();
    assert_eq!(status, "ok", "{message}");
    assert!(
        message.starts_with("image garbage collection: high 85%, low 80%, max-age unset"),
        "{message}"
    );
}

#[test]
fn an_old_render_is_a_warning_not_a_failure() {
    let node = healthy();
    set_age(&node.fake.work_dir().join("binder.yaml"), 9 * 86_400);
    set_age(&node.fake.work_dir().join("_binder.yaml"), 8 * 86_400);
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "egress-fresh").clone();
    assert_eq!(status, "warn");
    assert!(message.contains("binderctl render --check"), "{message}");
    assert_ne!(
        line(&lines(&out), "containerd-disk").0 == "fail",
        out.status.success(),
        "a warning alone keeps exit 0"
    );
}

#[test]
fn the_cluster_reads_run_at_once() {
    let mut node = healthy();
    let classes = storage_classes_with_base_path("/srv/binder-volumes");
    let nodes = nodes_json(&[("u24control", "v1.28.3", true)]);
    node.fake.respond_script(
        &["kubectl", "get", "storageclass"],
        &format!(
            "{}\ncat <<'JSON'\n{classes}\nJSON\n",
            meet_script("classes", "nodes")
        ),
    );
    node.fake.respond_script(
        &["kubectl", "get", "nodes"],
        &format!(
            "{}\ncat <<'JSON'\n{nodes}\nJSON\n",
            meet_script("nodes", "classes")
        ),
    );
    let out = node.doctor(&[]);
    let report = lines(&out);
    assert_eq!(line(&report, "storage").0, "ok", "{}", stdout(&out));
    assert_eq!(line(&report, "nodes").0, "ok", "{}", stdout(&out));
}

/// MicroK8s runs Calico: the tutorial's cni0 rules let none of its traffic
/// through, and each missing rule is named; a flannel node needs cni0's.
#[test]
fn the_firewall_check_wants_the_rules_of_the_cni_the_node_runs() {
    let node = healthy();
    write(
        &node.path("etc/ufw/user.rules"),
        "*filter\n-A ufw-user-input -i cni0 -j ACCEPT\n-A ufw-user-output -o cni0 -j ACCEPT\n\
         -A ufw-user-input -i vxlan.calico -j ACCEPT\nCOMMIT\n",
    );
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "firewall-cni").clone();
    assert_eq!(status, "fail", "{message}");
    assert!(
        message.contains(
            "Calico's interfaces: missing allow out on vxlan.calico, in on cali+, out on cali+"
        ),
        "{message}"
    );
    assert!(
        message.contains("fix: sudo ufw allow out on vxlan.calico; sudo ufw allow in on cali+; sudo ufw allow out on cali+"),
        "{message}"
    );
    assert!(!message.contains("cni0"), "{message}");

    // A flannel node (cni0, flannel.1) needs cni0's rules, which it has.
    write(
        &node.path("proc/net/dev"),
        &CALICO_DEVICES
            .replace("vxlan.calico", "flannel.1")
            .replace("cali6d2a3b1f0c9", "cni0"),
    );
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "firewall-cni").clone();
    assert_eq!(status, "ok", "{message}");
    assert!(message.contains("flannel's cni0"), "{message}");

    // No CNI interface to go by: said, not guessed.
    write(
        &node.path("proc/net/dev"),
        &CALICO_DEVICES
            .lines()
            .take(4)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let out = node.doctor(&[]);
    let (status, _, message) = line(&lines(&out), "firewall-cni").clone();
    assert_eq!(status, "skip", "{message}");
    assert!(message.contains("which CNI runs is unknown"), "{message}");
}

#[test]
fn in_policy_mode_the_refresh_timer_and_the_last_apply_are_checked() {
    let node = healthy();
    node.fake.write_file(
        "binder.yaml",
        &format!("{VALUES}      allow_list_mode: policy\n"),
    );
    let schedule = |node: &Node| line(&lines(&node.doctor(&[])), "egress-schedule").clone();
    // No timer: the list is refreshed only by hand.
    let (status, _, message) = schedule(&node);
    assert_eq!(status, "warn", "{message}");
    assert!(message.contains("no binderctl-egress.timer"), "{message}");

    // A timer every 15 minutes; the policy last applied an hour ago.
    write(
        &node.path("etc/systemd/system/binderctl-egress.timer"),
        "[Timer]\nOnUnitActiveSec=900s\n",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let policy = |applied: u64| {
        serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": "binderctl-egress",
                "namespace": "binder",
                "labels": {"app.kubernetes.io/managed-by": "binderctl"},
                "annotations": {"binderctl/applied-at": applied.to_string()},
            },
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": []},
        })
        .to_string()
    };
    node.fake
        .set_network_policy("binderctl-egress", &policy(now - 3600));
    let (status, _, message) = schedule(&node);
    assert_eq!(status, "warn", "{message}");
    assert!(
        message.contains("last refreshed 1h ago, more than twice the timer's interval (900s)"),
        "{message}"
    );
    // Applied ten minutes ago: fresh.
    node.fake
        .set_network_policy("binderctl-egress", &policy(now - 600));
    let (status, _, message) = schedule(&node);
    assert_eq!(status, "ok", "{message}");
    assert!(message.contains("timer every 900s"), "{message}");
}
