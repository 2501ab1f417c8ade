//! `binderctl doctor`: every check the tutorial's troubleshooting sections
//! and the deployment notes teach by hand, one line each (ok, warn, fail or
//! skip, with the fix). Read-only: files and read-only commands (with
//! `--node`/`--all-nodes`, the node checks read other nodes' files through
//! helper pods, which it creates and deletes).
//!
//! The cluster reads (MicroK8s' status, StorageClasses, services, nodes) run
//! at once, each exactly once; the checks are then pure functions of what
//! was read, printed in a fixed order. Every file path is taken under
//! `--root` (default `/`), so tests and inspections of a mounted image can
//! point it elsewhere.

//!
//! The parts: `model` (what is read and reported), `gather` (the reads),
//! and the checks by what they look at: `microk8s`, `storage`, `node`
//! (firewall, kubelet), `binderhub` (services, inputs, egress), `disk`.

pub mod binderhub;
pub mod disk;
pub mod gather;
pub mod microk8s;
pub mod model;
pub mod node;
pub mod storage;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;

use crate::ops::nodes::helper_pods::{NodeTargets, Remote};

use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::cluster::tools::Tools;
use crate::error::Outcome;
use crate::output::{self, format};

use crate::output::format::OutputOptions;

use binderhub::{
    egress_check, egress_schedule_check, hub_url_check, nodes_check, placeholder_check,
    policy_mode, proxy_public_check, render_age_check, secret_permissions_check,
    secret_values_check, TIMER_FILE,
};
use disk::{disk_check, node_disk_check, stats_disk_check};
use gather::gather;
use microk8s::microk8s_checks;
use model::*;
use node::node_checks;
use storage::storage_check;

/// What `doctor` is asked to do.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub input: PathBuf,
    pub secret: PathBuf,
    pub rendered: PathBuf,
    pub root: PathBuf,
    pub targets: NodeTargets,
    pub output: OutputOptions,
}

pub async fn run(target: &Target, options: &DoctorOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let local = Local {
        root: options.root.clone(),
        input: options.input.clone(),
        secret: options.secret.clone(),
        rendered: options.rendered.clone(),
        flavor: tools.flavor(),
    };
    let remote = options
        .targets
        .remote()
        .then(|| Arc::new(Remote::new(target, &options.targets)));
    let remote = remote.as_ref().map(|r| (r, &options.targets));
    // The egress policies matter in policy mode, or when a refresh timer exists.
    let read_egress = policy_mode(&read_yaml(&local.input)) || local.system(TIMER_FILE).exists();
    let facts = gather(&tools, &target.namespace, remote, read_egress).await?;
    let checks = evaluate(&facts, &local);
    format::print(
        &options.output,
        &checks,
        || checks.iter().map(Check::label).collect(),
        |_| report(&checks),
    )?;
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        output::info(&format!(
            "binderctl: doctor: {} failed",
            output::plural(failed, "check", "checks")
        ));
        return Ok(Outcome::Changed);
    }
    Ok(Outcome::Success)
}

/// Every check, in the fixed order of the report: the machine binderctl
/// runs on, the cluster and the files, then the node checks (here, or on
/// each node `--node`/`--all-nodes` chose, node after node).
pub fn evaluate(facts: &ClusterFacts, local: &Local) -> Vec<Check> {
    let values = read_yaml(&local.input);
    let mut checks = microk8s_checks(facts, local);
    checks.push(storage_check(&facts.storage_classes, local));
    checks.push(proxy_public_check(&facts.services));
    checks.push(hub_url_check(&facts.services, &values, &local.input));
    checks.push(placeholder_check(&values, &local.input));
    checks.push(secret_values_check(&local.secret));
    checks.push(secret_permissions_check(&local.secret));
    checks.push(egress_check(&values, &local.input));
    checks.push(egress_schedule_check(facts, local, policy_mode(&values)));
    checks.push(render_age_check(local));
    checks.push(nodes_check(&facts.nodes));
    checks.push(node_disk_check(facts.node_stats.as_deref()));
    let image_cleaner = gather::read_image_cleaner(local);
    match &facts.remote {
        None => {
            let files = NodeFiles::read_local(local);
            let context = NodeContext {
                runtime: gather::local_runtime(&facts.nodes, local),
                image_cleaner,
            };
            checks.extend(node_checks(&files, local.flavor, None, &context));
            checks.push(disk_check(local));
        }
        Some(remote) => checks.extend(remote_checks(
            remote,
            facts,
            local.flavor,
            image_cleaner.as_ref(),
        )),
    }
    checks
}

/// The node checks of the nodes `--node`/`--all-nodes` chose: one line for
/// a node skipped or whose helper pod failed; containerd's disk from the
/// stats summary already read.
fn remote_checks(
    remote: &std::result::Result<RemoteNodes, String>,
    facts: &ClusterFacts,
    flavor: ToolFlavor,
    image_cleaner: Option<&(bool, String)>,
) -> Vec<Check> {
    const NAME: &str = "node-checks";
    let remote = match remote {
        Ok(remote) => remote,
        Err(e) => {
            return vec![Check::fail(
                NAME,
                e.clone(),
                "make the cluster reachable (see the checks above)",
            )]
        }
    };
    let runtimes = gather::node_runtimes(&facts.nodes);
    let mut checks = Vec::new();
    for (node, why) in &remote.skipped {
        checks.push(Check::skip(NAME, why.clone()).on(Some(node)));
    }
    for (node, read) in &remote.read {
        let here = Some(node.as_str());
        match read {
            Ok(files) => {
                let context = NodeContext {
                    runtime: runtimes.get(node).cloned(),
                    image_cleaner: image_cleaner.cloned(),
                };
                checks.extend(node_checks(files, flavor, here, &context));
            }
            Err(e) => checks.push(
                Check::fail(
                    NAME,
                    e.clone(),
                    format!("fix what the message says, then binderctl doctor --node {node}"),
                )
                .on(here),
            ),
        }
        let stats = facts
            .node_stats
            .iter()
            .flatten()
            .find(|(name, _)| name == node)
            .map(|(_, stats)| stats);
        checks.push(stats_disk_check(node, stats));
    }
    checks
}
