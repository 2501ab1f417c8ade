//! MicroK8s: running, this node in the control plane, the credentials
//! readable, the add-ons BinderHub needs.

use crate::error::ShownPath;

use serde_yaml::Value;

use super::model::*;

pub(crate) fn microk8s_checks(facts: &ClusterFacts, local: &Local) -> Vec<Check> {
    const NAMES: [&str; 4] = ["microk8s", "control-plane", "credentials", "add-ons"];
    let Some(status) = &facts.microk8s_status else {
        return NAMES
            .iter()
            .map(|n| Check::skip(n, "not MicroK8s (--tools plain)"))
            .collect();
    };
    let parsed = status.as_ref().map(|text| parse_microk8s_status(text));
    vec![
        running_check(&parsed),
        control_plane_check(local, status),
        credentials_check(local),
        addons_check(&parsed),
    ]
}

/// What `microk8s status --format yaml` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Microk8sStatus {
    pub running: bool,
    /// A worker node says so instead of reporting.
    pub worker: bool,
    pub enabled: Vec<String>,
}

pub fn parse_microk8s_status(text: &str) -> Microk8sStatus {
    let worker = text.contains("acting as a node in a cluster");
    let value: Value = serde_yaml::from_str(text).unwrap_or(Value::Null);
    let running = value
        .get("microk8s")
        .and_then(|m| m.get("running"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let enabled = value
        .get("addons")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter(|a| a.get("status").and_then(Value::as_str) == Some("enabled"))
        .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    Microk8sStatus {
        running,
        worker,
        enabled,
    }
}

pub(crate) fn running_check(parsed: &std::result::Result<Microk8sStatus, &String>) -> Check {
    const NAME: &str = "microk8s";
    match parsed {
        Err(e) => Check::fail(
            NAME,
            format!("`microk8s status` failed: {e}"),
            "sudo microk8s start; `microk8s inspect` says why it does not run",
        ),
        Ok(s) if s.worker => Check::skip(NAME, "a worker node reports no status"),
        Ok(s) if s.running => Check::ok(NAME, "MicroK8s is running"),
        Ok(_) => Check::fail(
            NAME,
            "MicroK8s is not running",
            "sudo microk8s start, then microk8s status --wait-ready",
        ),
    }
}

pub(crate) fn control_plane_check(local: &Local, status: &Answer) -> Check {
    const NAME: &str = "control-plane";
    let says_worker = status
        .as_ref()
        .is_ok_and(|t| t.contains("acting as a node in a cluster"));
    if says_worker || local.system(CLUSTERED_LOCK).exists() {
        return Check::fail(
            NAME,
            "this node is a worker: it runs no control plane, so kubectl and Helm here \
             cannot reach the cluster",
            "run binderctl on the control-plane node (`microk8s kubectl get nodes` there \
             lists this one)",
        );
    }
    Check::ok(NAME, "this node runs the control plane")
}

pub(crate) fn credentials_check(local: &Local) -> Check {
    const NAME: &str = "credentials";
    let path = local.system(CLIENT_CONFIG);
    match std::fs::File::open(&path) {
        Ok(_) => Check::ok(NAME, format!("{} is readable", path.shown())),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            NAME,
            format!("{} is not readable by you", path.shown()),
            "sudo usermod -a -G microk8s $USER, then log in again (or run `newgrp microk8s`)",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("{}: {e}", path.shown()),
            "install MicroK8s: sudo snap install microk8s --classic",
        ),
    }
}

/// The add-ons the tutorial enables, and how to enable each.
pub(crate) const REQUIRED_ADDONS: [(&[&str], &str); 4] = [
    (&["dns"], "microk8s enable dns"),
    (&["helm3", "helm"], "microk8s enable helm3"),
    (
        &["metallb"],
        "microk8s enable metallb:FIRST-LAST (a free address range of your network)",
    ),
    (
        &["openebs", "hostpath-storage", "storage", "rook-ceph"],
        "sudo systemctl enable --now iscsid && microk8s enable community && microk8s enable openebs",
    ),
];

pub(crate) fn addons_check(parsed: &std::result::Result<Microk8sStatus, &String>) -> Check {
    const NAME: &str = "add-ons";
    let status = match parsed {
        Err(_) => return Check::skip(NAME, "unknown: `microk8s status` failed"),
        Ok(s) if s.worker => return Check::skip(NAME, "listed on the control-plane node only"),
        Ok(s) => s,
    };
    let missing: Vec<(&str, &str)> = REQUIRED_ADDONS
        .iter()
        .filter(|(names, _)| !names.iter().any(|n| status.enabled.iter().any(|e| e == n)))
        .map(|(names, fix)| (names[0], *fix))
        .collect();
    if missing.is_empty() {
        return Check::ok(NAME, "dns, helm3, metallb and a storage add-on are enabled");
    }
    let names: Vec<&str> = missing.iter().map(|(n, _)| *n).collect();
    let fixes: Vec<&str> = missing.iter().map(|(_, f)| *f).collect();
    Check::fail(
        NAME,
        format!("not enabled: {}", names.join(", ")),
        fixes.join("; "),
    )
}
