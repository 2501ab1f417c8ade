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
