//! Doctor's checks, each from the facts and files it is given.

use super::binderhub::*;
use super::disk::*;
use super::gather::*;
use super::microk8s::*;
use super::model::*;
use super::node::*;
use super::storage::*;
use serde_yaml::Value;
use std::path::Path;

const STATUS_YAML: &str = "microk8s:\n  running: true\nhigh-availability:\n  enabled: false\n\
    addons:\n  - name: dns\n    repository: core\n    status: enabled\n  - name: helm3\n    \
    repository: core\n    status: enabled\n  - name: metallb\n    repository: core\n    \
    status: disabled\n  - name: openebs\n    repository: community\n    status: enabled\n";

#[test]
fn microk8s_status_is_read_from_its_yaml() {
    let s = parse_microk8s_status(STATUS_YAML);
    assert!(s.running && !s.worker);
    assert_eq!(s.enabled, ["dns", "helm3", "openebs"]);
    let check = addons_check(&Ok(s));
    assert_eq!(check.status, Status::Fail);
    assert_eq!(check.message, "not enabled: metallb");
    assert!(check.fix.unwrap().contains("microk8s enable metallb:"));
    let worker = parse_microk8s_status(
        "This MicroK8s deployment is acting as a node in a cluster. Please use the master node.\n",
    );
    assert!(worker.worker && !worker.running);
}

#[test]
fn storage_base_path_from_openebs_config_or_hostpath() {
    let openebs: serde_json::Value = serde_json::json!({
        "metadata": {"annotations": {"cas.openebs.io/config": "- name: StorageType\n  value: hostpath\n- name: BasePath\n  value: /srv/volumes\n"}},
        "provisioner": "openebs.io/local"});
    assert_eq!(base_path(&openebs).as_deref(), Some("/srv/volumes"));
    let hostpath = serde_json::json!({"provisioner": "microk8s.io/hostpath"});
    assert_eq!(base_path(&hostpath).as_deref(), Some(MICROK8S_HOSTPATH_DIR));
    let pv_dir = serde_json::json!({"provisioner": "microk8s.io/hostpath", "parameters": {"pvDir": "/data"}});
    assert_eq!(base_path(&pv_dir).as_deref(), Some("/data"));
    assert_eq!(base_path(&serde_json::json!({"provisioner": "x"})), None);
}

#[test]
fn disk_thresholds() {
    assert_eq!(disk_status(0), Status::Fail);
    assert_eq!(disk_status(FAIL_FREE_BYTES - 1), Status::Fail);
    assert_eq!(disk_status(FAIL_FREE_BYTES), Status::Warn);
    assert_eq!(disk_status(WARN_FREE_BYTES), Status::Ok);
    let here = free_bytes(Path::new(".")).unwrap();
    assert!(here > 0);
    assert!(free_bytes(Path::new("/no/such/folder/x")).is_err());
}

#[test]
fn node_disk_names_full_and_unreadable_nodes() {
    use crate::ops::nodes::disk::FsUsage;
    let fs = |available_bytes| {
        Some(FsUsage {
            capacity_bytes: 100,
            available_bytes,
        })
    };
    assert_eq!(node_disk_check(None).status, Status::Skip);
    assert_eq!(node_disk_check(Some(&[])).status, Status::Skip);
    let fine = [("a".to_string(), Ok((fs(16), fs(50))))];
    assert_eq!(node_disk_check(Some(&fine)).status, Status::Ok);
    let bad = [
        ("a".to_string(), Ok((fs(16), fs(50)))),
        ("b".to_string(), Err("the kubelet is down".to_string())),
        ("c".to_string(), Ok((None, fs(10)))),
    ];
    let check = node_disk_check(Some(&bad));
    assert_eq!(check.status, Status::Warn);
    assert_eq!(
        check.message.split("; ").next(),
        Some("node b: cannot read its disk usage: the kubelet is down")
    );
    assert!(
        check
            .message
            .contains("node c: its node filesystem is 90% used"),
        "{}",
        check.message
    );
    assert!(!check.message.contains("node a"), "{}", check.message);
}

#[test]
fn placeholders_are_found_by_key_path() {
    let values: Value = serde_yaml::from_str(
        "config:\n  BinderHub:\n    image_prefix: '<registry user>/binder-'\n    hub_url: http://192.0.2.1\n\
         list: [a, '<x>', '<b>bold</b>', '<a href=\"x\">y</a>']\n",
    )
    .unwrap();
    assert_eq!(
        placeholders(&values),
        ["config.BinderHub.image_prefix", "list[1]"]
    );
}

#[test]
fn the_cni_is_told_by_the_nodes_interfaces() {
    let devices = "Inter-|   Receive                            |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes\n    \
         lo: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\n  eth0: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\n\
         vxlan.calico: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\ncali1a2b3c4d5e6: 1 2 0 0 0 0 0 0 1 2 \
         0 0 0 0 0 0\n";
    let names = interface_names(devices);
    assert_eq!(names, ["lo", "eth0", "vxlan.calico", "cali1a2b3c4d5e6"]);
    assert_eq!(
        cni_interfaces(&names),
        [("Calico", &["vxlan.calico", "cali+"][..])]
    );
    let flannel = vec![
        "lo".to_string(),
        "flannel.1".to_string(),
        "cni0".to_string(),
    ];
    assert_eq!(cni_interfaces(&flannel), [("flannel", &["cni0"][..])]);
    assert!(cni_interfaces(&["lo".to_string(), "eth0".to_string()]).is_empty());

    let rules = "-A ufw-user-input -i vxlan.calico -j ACCEPT\n\
                 -A ufw-user-output -o vxlan.calico -j ACCEPT\n\
                 -A ufw-user-input -i cali+ -j ACCEPT\n";
    let check = cni_check(rules, &names, Some("w1"));
    let text = report(&[check]);
    assert!(text.starts_with("fail  firewall-cni"), "{text}");
    assert!(text.contains("missing allow out on cali+"), "{text}");
    assert!(
        text.contains("fix: on node w1: sudo ufw allow out on cali+\n"),
        "{text}"
    );
    let all = format!("{rules}-A ufw-user-output -o cali+ -j ACCEPT\n");
    let text = report(&[cni_check(&all, &names, None)]);
    assert!(text.starts_with("ok    firewall-cni"), "{text}");
    // cni0's rules do not let Calico's traffic through.
    let old = "-A ufw-user-input -i cni0 -j ACCEPT\n-A ufw-user-output -o cni0 -j ACCEPT\n";
    let text = report(&[cni_check(old, &names, None)]);
    assert!(text.starts_with("fail"), "{text}");
    assert!(
        text.contains(
            "sudo ufw allow in on vxlan.calico; sudo ufw allow out on vxlan.calico; \
                       sudo ufw allow in on cali+; sudo ufw allow out on cali+"
        ),
        "{text}"
    );
}

#[test]
fn ufw_config_values() {
    let text = "# comment\nDEFAULT_FORWARD_POLICY=\"DROP\"\nDEFAULT_FORWARD_POLICY=\"ACCEPT\"\n";
    assert_eq!(
        config_value(text, "DEFAULT_FORWARD_POLICY").as_deref(),
        Some("ACCEPT")
    );
    assert_eq!(
        config_value("ENABLED=yes\n", "ENABLED").as_deref(),
        Some("yes")
    );
    assert_eq!(config_value("X=1\n", "ENABLED"), None);
}

#[test]
fn report_lines_carry_the_fix() {
    let checks = vec![
        Check::ok("nodes", "1 node ready"),
        Check::fail("add-ons", "not enabled: dns", "microk8s enable dns"),
    ];
    assert_eq!(
        report(&checks),
        "ok    nodes    1 node ready\nfail  add-ons  not enabled: dns; fix: microk8s enable dns\n"
    );
}

#[test]
fn samples_cover_both_flavours() {
    let plans = sample_plans();
    assert_eq!(plans.len(), 2);
    assert_eq!(
        plans[0].render(),
        "microk8s status --format yaml\nmicrok8s kubectl get storageclass -o json\n\
         microk8s kubectl get services -n binder -o json\nmicrok8s kubectl get nodes -o json\n"
    );
    assert!(plans[1].render().starts_with("kubectl get storageclass"));
}

fn kubelet_file(text: &str) -> FileRead {
    Ok(Some(text.to_string()))
}

fn context(runtime: &str, cleaner: Option<bool>) -> NodeContext {
    NodeContext {
        runtime: Some(runtime.to_string()),
        image_cleaner: cleaner.map(|on| (on, "_binder.yaml".to_string())),
    }
}

#[test]
fn image_gc_reports_the_settings_or_the_kubelets_defaults() {
    use crate::cluster::tools::ToolFlavor;
    let args = kubelet_file("--cert-dir=/x\n--image-gc-high-threshold=90\n");
    let check = kubelet_image_gc_check(
        &args,
        ToolFlavor::Microk8s,
        None,
        &context("containerd://1.7.28", None),
    );
    assert_eq!(check.status, Status::Ok);
    assert_eq!(
        check.message,
        "image garbage collection: high 90%, low 80% (the kubelet's default), max-age unset \
         (the kubelet's default: unused images stay until the disk reaches the high mark)"
    );
    let config = kubelet_file(
        "kind: KubeletConfiguration\nimageGCHighThresholdPercent: 80\n\
         imageGCLowThresholdPercent: 60\nimageMaximumGCAge: 336h\n",
    );
    let check = kubelet_image_gc_check(
        &config,
        ToolFlavor::Plain,
        Some("w1"),
        &context("containerd://2.0.0", Some(true)),
    );
    assert_eq!(check.status, Status::Ok, "{}", check.message);
    assert!(
        check
            .message
            .starts_with("image garbage collection: high 80%, low 60%, max-age 336h; the kubelet"),
        "{}",
        check.message
    );
    // A flags file that hands the kubelet a configuration file: its maximum
    // age is not read, and said so.
    let delegated = kubelet_file("--config=/etc/kubelet.yaml\n");
    let check = kubelet_image_gc_check(
        &delegated,
        ToolFlavor::Microk8s,
        None,
        &context("containerd", None),
    );
    assert!(
        check
            .message
            .contains("max-age not read (the kubelet's --config file /etc/kubelet.yaml"),
        "{}",
        check.message
    );
    assert_eq!(
        kubelet_image_gc_check(&Ok(None), ToolFlavor::Plain, None, &NodeContext::default()).status,
        Status::Skip
    );
}

#[test]
fn image_cleaner_on_containerd_with_default_gc_is_a_warning_with_the_fix() {
    use crate::cluster::tools::ToolFlavor;
    let stock = kubelet_file("--cert-dir=/x\n--kube-reserved=cpu=1\n");
    let check = kubelet_image_gc_check(
        &stock,
        ToolFlavor::Microk8s,
        Some("w1"),
        &context("containerd://1.7.28", Some(true)),
    );
    assert_eq!(check.status, Status::Warn);
    assert!(
        check.message.contains(
            "the chart's imageCleaner is enabled (_binder.yaml), but it cleans only the build \
             daemon's store (docker/dind), never the images containerd pulled for user pods: use \
             `binderctl nodes gc`"
        ),
        "{}",
        check.message
    );
    assert_eq!(check.fix.as_deref(), Some("binderctl nodes gc --node w1"));
    let here = kubelet_image_gc_check(
        &stock,
        ToolFlavor::Plain,
        None,
        &context("containerd://1.7.28", Some(true)),
    );
    assert_eq!(
        here.fix.as_deref(),
        Some("sudo binderctl --tools plain nodes gc --max-age 14d")
    );
    // Not on CRI-O, not with the cleaner off, not when the node's runtime is unknown.
    for other in [
        context("cri-o://1.30.0", Some(true)),
        context("containerd://1.7.28", Some(false)),
        context("containerd://1.7.28", None),
        NodeContext {
            runtime: None,
            image_cleaner: Some((true, "binder.yaml".into())),
        },
    ] {
        let check = kubelet_image_gc_check(&stock, ToolFlavor::Microk8s, None, &other);
        assert_eq!(check.status, Status::Ok, "{other:?}: {}", check.message);
    }
}

#[test]
fn image_cleaner_is_enabled_unless_the_values_turn_it_off() {
    let values = |text: &str| -> Value { serde_yaml::from_str(text).unwrap() };
    assert!(
        image_cleaner_enabled(&values("config: {}\n")),
        "the chart's default"
    );
    assert!(image_cleaner_enabled(&values(
        "imageCleaner:\n  delay: 5\n"
    )));
    assert!(image_cleaner_enabled(&values(
        "imageCleaner:\n  enabled: true\n"
    )));
    assert!(!image_cleaner_enabled(&values(
        "imageCleaner:\n  enabled: false\n"
    )));
    assert!(!image_cleaner_enabled(&values(
        "imageCleaner:\n  enabled: null\n"
    )));
    assert!(!image_cleaner_enabled(&values(
        "imageCleaner:\n  enabled: \"\"\n"
    )));
}

/// Through `evaluate`: the rendered values decide over the input, this
/// machine is found in the node list by its host name under `--root`, and
/// its kubelet file is read there.
#[test]
fn evaluate_checks_this_nodes_image_gc_with_the_rendered_values() {
    use crate::cluster::tools::ToolFlavor;
    let root = tempfile::tempdir().unwrap();
    let write = |relative: &str, text: &str| {
        let path = root.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    };
    write("etc/hostname", "lab-cp-1\n");
    write(
        "var/lib/kubelet/config.yaml",
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n",
    );
    let input = write("work/binder.yaml", "imageCleaner:\n  enabled: false\n");
    let rendered = write("work/_binder.yaml", "imageCleaner:\n  enabled: true\n");
    let node = |name: &str, runtime: &str| {
        serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"nodeInfo": {"kubeletVersion": "v1.31.2", "containerRuntimeVersion": runtime}}
        })
    };
    let nodes = serde_json::json!({"items": [
        node("lab-cp-1", "containerd://1.7.28"), node("lab-worker-1", "cri-o://1.30.0")
    ]});
    let facts = ClusterFacts {
        microk8s_status: None,
        storage_classes: Err("not read".into()),
        services: Err("not read".into()),
        nodes: Ok(nodes.to_string()),
        node_stats: None,
        remote: None,
        egress_applied: None,
        now: 0,
    };
    let local = Local {
        root: root.path().to_path_buf(),
        input: input.clone(),
        secret: root.path().join("work/secret.yaml"),
        rendered: rendered.clone(),
        flavor: ToolFlavor::Plain,
    };
    let checks = crate::ops::doctor::evaluate(&facts, &local);
    let gc = checks
        .iter()
        .find(|c| c.name == "kubelet-image-gc")
        .expect("the image GC check");
    assert_eq!(gc.status, Status::Warn, "{}", gc.message);
    assert!(
        gc.message.contains("high 85% (the kubelet's default)"),
        "{}",
        gc.message
    );
    assert!(gc.message.contains("_binder.yaml"), "{}", gc.message);
    // Without the rendered file the input says: no cleaner, no warning.
    std::fs::remove_file(&rendered).unwrap();
    let checks = crate::ops::doctor::evaluate(&facts, &local);
    let gc = checks
        .iter()
        .find(|c| c.name == "kubelet-image-gc")
        .unwrap();
    assert_eq!(gc.status, Status::Ok, "{}", gc.message);
    // This machine is the CRI-O node: no warning either.
    std::fs::write(&rendered, "imageCleaner:\n  enabled: true\n").unwrap();
    write("etc/hostname", "lab-worker-1\n");
    let checks = crate::ops::doctor::evaluate(&facts, &local);
    let gc = checks
        .iter()
        .find(|c| c.name == "kubelet-image-gc")
        .unwrap();
    assert_eq!(gc.status, Status::Ok, "{}", gc.message);
}
