//! The node checks (here or through helper pods): ufw and the CNI's
//! interfaces, the kubelet's reserved resources and its image garbage
//! collection.

use serde_yaml::Value;

use crate::cluster::kubelet_args::kubelet_file;

use crate::cluster::kubelet_args;
use crate::cluster::kubelet_config;
use crate::cluster::kubelet_settings::{
    DEFAULT_GC_HIGH, DEFAULT_GC_LOW, GC_HIGH_FLAG, GC_HIGH_KEY, GC_LOW_FLAG, GC_LOW_KEY,
    GC_MAX_AGE_KEY,
};
use crate::cluster::tools::ToolFlavor;

use super::model::*;

use crate::ops::doctor::gather::config_value;

/// The checks of one node's files: the firewall, the kubelet's
/// reservations and its image garbage collection. `node`: another node
/// (`None`: this one); `context`: what else is known of it.
pub fn node_checks(
    files: &NodeFiles,
    flavor: ToolFlavor,
    node: Option<&str>,
    context: &NodeContext,
) -> Vec<Check> {
    let mut checks = firewall_checks(files, node);
    checks.push(kubelet_reserved_check(&files.kubelet, flavor, node));
    checks.push(kubelet_image_gc_check(
        &files.kubelet,
        flavor,
        node,
        context,
    ));
    checks.into_iter().map(|c| c.on(node)).collect()
}

/// `on node N: ` before a fix that must run on another node.
pub(crate) fn on_node(node: Option<&str>, fix: &str) -> String {
    match node {
        Some(node) => format!("on node {node}: {fix}"),
        None => fix.to_string(),
    }
}

/// A file the firewall checks cannot read makes them skip, saying how to
/// read it (ufw's rules are readable by root only).
pub(crate) fn unreadable(name: &'static str, why: &str, node: Option<&str>) -> Check {
    let how = match node {
        None => "; run doctor with sudo, or with --node NAME (a helper pod reads it as root)",
        Some(_) => "",
    };
    Check::skip(name, format!("cannot read {why}{how}"))
}

/// The check of ufw's rules for the CNI's interfaces.
pub(crate) const CNI: &str = "firewall-cni";

pub(crate) fn firewall_checks(files: &NodeFiles, node: Option<&str>) -> Vec<Check> {
    const ROUTED: &str = "firewall-routed";
    let text = match &files.ufw_conf {
        Ok(Some(text)) => text,
        Ok(None) => {
            return vec![
                Check::skip(ROUTED, "ufw is not installed"),
                Check::skip(CNI, "ufw is not installed"),
            ]
        }
        Err(e) => return vec![unreadable(ROUTED, e, node), unreadable(CNI, e, node)],
    };
    if !config_value(text, "ENABLED").is_some_and(|v| v.eq_ignore_ascii_case("yes")) {
        return vec![
            Check::ok(ROUTED, "ufw is disabled"),
            Check::ok(CNI, "ufw is disabled"),
        ];
    }
    let routed = match &files.ufw_defaults {
        Err(e) => unreadable(ROUTED, e, node),
        Ok(defaults) => {
            let defaults = defaults.as_deref().unwrap_or_default();
            let policy = config_value(defaults, "DEFAULT_FORWARD_POLICY").unwrap_or_default();
            if policy.eq_ignore_ascii_case("ACCEPT") {
                Check::ok(ROUTED, "ufw allows routed traffic")
            } else {
                Check::fail(
                    ROUTED,
                    format!(
                        "ufw's routed policy is {} (DEFAULT_FORWARD_POLICY): pods cannot reach \
                         each other",
                        if policy.is_empty() { "unset" } else { &policy }
                    ),
                    on_node(node, "sudo ufw default allow routed"),
                )
            }
        }
    };
    let cni = match (&files.ufw_rules, &files.interfaces) {
        (Err(e), _) => unreadable(CNI, e, node),
        (_, Err(e)) => Check::skip(CNI, format!("cannot read {e}: which CNI runs is unknown")),
        (_, Ok(None)) => Check::skip(CNI, format!("no /{NET_DEVICES}: which CNI runs is unknown")),
        (Ok(rules), Ok(Some(devices))) => cni_check(
            rules.as_deref().unwrap_or_default(),
            &interface_names(devices),
            node,
        ),
    };
    vec![routed, cni]
}

/// The interface names in `/proc/net/dev` (after its two header lines,
/// `NAME: counters…`).
pub fn interface_names(devices: &str) -> Vec<String> {
    devices
        .lines()
        .filter(|l| !l.contains('|'))
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The ufw interface rules pod traffic needs, as MicroK8s documents them,
/// for the CNI whose interfaces the node has: Calico (MicroK8s' CNI since
/// 1.19: `vxlan.calico`, one `cali…` per pod, `cali+` in ufw's words), or
/// flannel (`cni0`, with `flannel.1`). The CNI's name and the interfaces.
pub fn cni_interfaces(names: &[String]) -> Vec<(&'static str, &'static [&'static str])> {
    let mut found = Vec::new();
    if names
        .iter()
        .any(|n| n == "vxlan.calico" || n.starts_with("cali"))
    {
        found.push(("Calico", &["vxlan.calico", "cali+"][..]));
    }
    if names.iter().any(|n| n == "cni0" || n == "flannel.1") {
        found.push(("flannel", &["cni0"][..]));
    }
    found
}

pub(crate) fn cni_check(rules: &str, names: &[String], node: Option<&str>) -> Check {
    let cnis = cni_interfaces(names);
    if cnis.is_empty() {
        return Check::skip(
            CNI,
            "no Calico (vxlan.calico, cali…) or flannel (cni0) interface on the node: which \
             CNI runs is unknown",
        );
    }
    let has = |rule: String| rules.lines().any(|l| l.trim() == rule);
    let mut missing = Vec::new();
    let mut wanted = Vec::new();
    for (_, interfaces) in &cnis {
        for interface in interfaces.iter() {
            wanted.push(*interface);
            if !has(format!("-A ufw-user-input -i {interface} -j ACCEPT")) {
                missing.push(format!("in on {interface}"));
            }
            if !has(format!("-A ufw-user-output -o {interface} -j ACCEPT")) {
                missing.push(format!("out on {interface}"));
            }
        }
    }
    let cni_names: Vec<&str> = cnis.iter().map(|(name, _)| *name).collect();
    let cni_names = cni_names.join(" and ");
    if missing.is_empty() {
        return Check::ok(
            CNI,
            format!(
                "ufw allows traffic in and out on {cni_names}'s {}",
                wanted.join(", ")
            ),
        );
    }
    let fixes: Vec<String> = missing
        .iter()
        .map(|m| format!("sudo ufw allow {m}"))
        .collect();
    Check::fail(
        CNI,
        format!(
            "ufw does not allow pod traffic on {cni_names}'s interfaces: missing allow {} \
             (after a reboot, ufw's and iptables' rules can conflict again)",
            missing.join(", ")
        ),
        on_node(node, &fixes.join("; ")),
    )
}

/// Whether the kubelet reserves resources for Kubernetes' and the system's
/// daemons: without, a node full of user pods starves its own kubelet.
pub(crate) fn kubelet_reserved_check(
    file: &FileRead,
    flavor: ToolFlavor,
    node: Option<&str>,
) -> Check {
    const NAME: &str = "kubelet-reserved";
    let path = format!("/{}", kubelet_file(flavor));
    let text = match file {
        Ok(Some(text)) => text,
        Ok(None) if flavor == ToolFlavor::Plain => {
            return Check::skip(
                NAME,
                format!("no {path} (kubeadm's); reservations set elsewhere are not checked"),
            )
        }
        Ok(None) => return Check::skip(NAME, format!("no {path}: is MicroK8s installed?")),
        Err(e) => return Check::skip(NAME, format!("cannot read {e}")),
    };
    let missing: Vec<&str> = match flavor {
        ToolFlavor::Microk8s => {
            let [kube, system] = kubelet_args::reserved_values(text);
            [("--kube-reserved", kube), ("--system-reserved", system)]
                .into_iter()
                .filter(|(_, value)| value.is_none())
                .map(|(flag, _)| flag)
                .collect()
        }
        ToolFlavor::Plain => {
            let config: Value = serde_yaml::from_str(text).unwrap_or(Value::Null);
            ["kubeReserved", "systemReserved"]
                .into_iter()
                .filter(|key| {
                    config
                        .get(key)
                        .and_then(Value::as_mapping)
                        .is_none_or(serde_yaml::Mapping::is_empty)
                })
                .collect()
        }
    };
    if missing.is_empty() {
        return Check::ok(
            NAME,
            format!("{path} reserves resources for Kubernetes and the system"),
        );
    }
    let fix = match (flavor, node) {
        (ToolFlavor::Microk8s, Some(node)) => format!("binderctl nodes reserve --node {node}"),
        (ToolFlavor::Microk8s, None) => "sudo binderctl nodes reserve".to_string(),
        (ToolFlavor::Plain, Some(node)) => {
            format!("binderctl --tools plain nodes reserve --node {node}")
        }
        (ToolFlavor::Plain, None) => "sudo binderctl --tools plain nodes reserve".to_string(),
    };
    Check::warn(
        NAME,
        format!(
            "{path} does not set {}: a node full of user pods can starve its own kubelet",
            missing.join(" or ")
        ),
        fix,
    )
}

/// The kubelet's image garbage collection on the node: the thresholds and
/// the maximum age its file sets, or the kubelet's defaults. On a node
/// running containerd, the chart's imageCleaner (when enabled) is no
/// substitute: it cleans the build daemon's store, never the images
/// containerd pulled for user pods, so a node whose file leaves garbage
/// collection at the defaults is a warning.
pub(crate) fn kubelet_image_gc_check(
    file: &FileRead,
    flavor: ToolFlavor,
    node: Option<&str>,
    context: &NodeContext,
) -> Check {
    const NAME: &str = "kubelet-image-gc";
    let path = format!("/{}", kubelet_file(flavor));
    let text = match file {
        Ok(Some(text)) => text,
        Ok(None) if flavor == ToolFlavor::Plain => {
            return Check::skip(
                NAME,
                format!(
                    "no {path} (kubeadm's); image garbage collection set elsewhere is not checked"
                ),
            )
        }
        Ok(None) => return Check::skip(NAME, format!("no {path}: is MicroK8s installed?")),
        Err(e) => return Check::skip(NAME, format!("cannot read {e}")),
    };
    let high = kubelet_config::setting_value(text, Some(GC_HIGH_FLAG), GC_HIGH_KEY);
    let low = kubelet_config::setting_value(text, Some(GC_LOW_FLAG), GC_LOW_KEY);
    let config_file = if kubelet_config::is_kubelet_configuration(text) {
        None
    } else {
        kubelet_args::flag_values(text, &["--config"])
            .into_iter()
            .flatten()
            .next()
    };
    let max_age = kubelet_config::setting_value(text, None, GC_MAX_AGE_KEY);
    let percent = |value: &Option<String>, default: u32| match value {
        Some(v) => format!("{v}%"),
        None => format!("{default}% (the kubelet's default)"),
    };
    let age = match (&max_age, &config_file) {
        (Some(age), _) => age.clone(),
        (None, Some(config)) => {
            format!("not read (the kubelet's --config file {config} may set it)")
        }
        (None, None) => {
            "unset (the kubelet's default: unused images stay until the disk reaches the high mark)"
                .to_string()
        }
    };
    let values = format!(
        "image garbage collection: high {}, low {}, max-age {age}",
        percent(&high, DEFAULT_GC_HIGH),
        percent(&low, DEFAULT_GC_LOW)
    );
    let cleaner = match &context.image_cleaner {
        Some((true, source)) if context.containerd() => Some(source),
        _ => None,
    };
    let Some(source) = cleaner else {
        return Check::ok(NAME, values);
    };
    if high.is_some() || low.is_some() || max_age.is_some() {
        return Check::ok(
            NAME,
            format!(
                "{values}; the kubelet, not the chart's imageCleaner, removes the images \
                 containerd pulled"
            ),
        );
    }
    let command = match flavor {
        ToolFlavor::Microk8s => "binderctl nodes gc",
        ToolFlavor::Plain => "binderctl --tools plain nodes gc --max-age 14d",
    };
    let fix = match node {
        Some(node) => format!("{command} --node {node}"),
        None => format!("sudo {command}"),
    };
    Check::warn(
        NAME,
        format!(
            "{values}; the chart's imageCleaner is enabled ({source}), but it cleans only the \
             build daemon's store (docker/dind), never the images containerd pulled for user \
             pods: use `binderctl nodes gc`"
        ),
        fix,
    )
}
