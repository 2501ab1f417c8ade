//! `--nameserver cluster`: resolve the way the user pods resolve. They ask
//! CoreDNS, which forwards every name outside the cluster to the servers of
//! its Corefile (the ConfigMap `coredns` in `kube-system`); binderctl reads
//! that ConfigMap and asks those servers itself. The default of `egress
//! apply`, `egress check` and `deploy` (which talk to the cluster anyway);
//! `render` keeps the host's resolver unless asked.

use std::net::SocketAddr;

use anyhow::{Context, Result};

use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::tools::Tools;
use crate::egress::corefile::{self, Forward};
use crate::egress::dns::{NAMESERVER_CLUSTER, NAMESERVER_HOST};
use crate::ops::render;
use crate::ops::render::RenderOptions;

/// Where the Corefile lives.
pub const CONFIGMAP: &str = "coredns";
pub const CONFIGMAP_NAMESPACE: &str = "kube-system";
/// Where systemd-resolved keeps the real servers when `/etc/resolv.conf`
/// names only its local stub (the kubelet hands this file to CoreDNS then).
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// `kubectl get configmap coredns -n kube-system -o json`.
pub fn configmap_command(tools: &Tools) -> CommandLine {
    tools.kubectl([
        "get",
        "configmap",
        CONFIGMAP,
        "-n",
        CONFIGMAP_NAMESPACE,
        "-o",
        "json",
    ])
}

/// The command lines of this module, for the real-tool conformance replay.
pub fn sample_plans() -> Vec<Plan> {
    [
        crate::cluster::tools::ToolFlavor::Microk8s,
        crate::cluster::tools::ToolFlavor::Plain,
    ]
    .into_iter()
    .map(|flavor| Plan::from(vec![Step::new(configmap_command(&Tools::new(flavor)))]))
    .collect()
}

/// The servers CoreDNS forwards to, and a phrase naming them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    pub servers: Vec<SocketAddr>,
    pub note: String,
}

/// CoreDNS's forwarders; `None` when the cluster has no ConfigMap
/// `kube-system/coredns`.
pub async fn cluster_dns(runner: &Runner, tools: &Tools) -> Result<Option<ClusterDns>> {
    let command = configmap_command(tools);
    let captured = runner.probe(&command).await?;
    if !captured.success() {
        if captured.says_not_found() {
            return Ok(None);
        }
        return Err(crate::cluster::runner::failed(&command, &captured));
    }
    let what = format!("ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP}");
    let object: serde_json::Value = serde_json::from_str(&captured.stdout)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    let corefile = object
        .pointer("/data/Corefile")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| anyhow::anyhow!("{what} has no `Corefile` key under data"))?;
    let forward = corefile::forward(corefile).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let (servers, note) = match forward {
        Forward::Servers(servers) => {
            let note = format!("the cluster's DNS: {} ({what}, forward .)", shown(&servers));
            (servers, note)
        }
        Forward::ResolvConf(path) => {
            let (file, servers) = node_resolv_conf(&path)
                .map_err(|e| anyhow::anyhow!("{what} forwards to {path}: {e}"))?;
            let note = format!(
                "the cluster's DNS: {} ({what} forwards to {path}; read from {file} on this node)",
                shown(&servers)
            );
            (servers, note)
        }
    };
    Ok(Some(ClusterDns { servers, note }))
}

fn shown(servers: &[SocketAddr]) -> String {
    servers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The servers of the node's resolv.conf at `path`, as the kubelet gives
/// them to CoreDNS: when the file names only loopback servers (the
/// systemd-resolved stub, which no pod can reach), the kubelet uses
/// systemd-resolved's own list, and so does binderctl. Which file was read,
/// and its servers.
fn node_resolv_conf(path: &str) -> Result<(String, Vec<SocketAddr>), String> {
    let read = |file: &str| -> Result<Vec<SocketAddr>, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {file} on this node: {e}"))?;
        Ok(corefile::resolv_conf_servers(&text))
    };
    let servers = read(path)?;
    if !servers.is_empty() && servers.iter().all(|s| s.ip().is_loopback()) {
        if let Ok(real) = read(SYSTEMD_RESOLV_CONF) {
            if !real.is_empty() {
                return Ok((SYSTEMD_RESOLV_CONF.to_string(), real));
            }
        }
    }
    if servers.is_empty() {
        return Err(format!("{path} on this node names no nameserver"));
    }
    Ok((path.to_string(), servers))
}

/// `args` with `--nameserver cluster` (or, when `cluster_by_default` and no
/// server is named, the default) turned into CoreDNS's forwarders, and the
/// summary told which servers answer.
pub async fn choose(
    runner: &Runner,
    tools: &Tools,
    args: &RenderOptions,
    cluster_by_default: bool,
) -> Result<RenderOptions> {
    let asked = args.nameservers.iter().any(|s| s == NAMESERVER_CLUSTER);
    let by_default = args.nameservers.is_empty() && cluster_by_default;
    if !asked && !by_default {
        return Ok(args.clone());
    }
    if asked && args.nameservers.len() > 1 {
        anyhow::bail!(
            "--nameserver cluster stands alone: it cannot be combined with other servers \
             ({})",
            args.nameservers.join(",")
        );
    }
    let mut chosen = args.clone();
    match cluster_dns(runner, tools).await? {
        Some(cluster) => {
            chosen.nameservers = cluster.servers.iter().map(ToString::to_string).collect();
            chosen.dns_note = Some(cluster.note);
        }
        None if asked => anyhow::bail!(
            "--nameserver cluster: the cluster has no ConfigMap {CONFIGMAP} in namespace \
             {CONFIGMAP_NAMESPACE} (is MicroK8s' dns add-on enabled? `microk8s enable dns`); \
             name a server with --nameserver, or `--nameserver host`"
        ),
        None => {
            render::warn(&format!(
                "the cluster has no ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP} to say where \
                 its DNS forwards (is MicroK8s' dns add-on enabled?): resolving through the \
                 host's resolver; pass --nameserver to choose"
            ));
            chosen.nameservers = vec![NAMESERVER_HOST.to_string()];
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_resolv_conf_is_read_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("resolv.conf");
        std::fs::write(&file, "search example.test\nnameserver 192.0.2.53\n").unwrap();
        let path = file.to_string_lossy().into_owned();
        assert_eq!(
            node_resolv_conf(&path).unwrap(),
            (path.clone(), vec!["192.0.2.53:53".parse().unwrap()])
        );
        std::fs::write(&file, "search example.test\n").unwrap();
        let err = node_resolv_conf(&path).unwrap_err();
        assert!(
            err.contains(&path) && err.contains("names no nameserver"),
            "{err}"
        );
        let missing = dir.path().join("absent").to_string_lossy().into_owned();
        let err = node_resolv_conf(&missing).unwrap_err();
        assert!(
            err.contains("cannot read") && err.contains(&missing),
            "{err}"
        );
    }
}
