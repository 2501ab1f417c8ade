//! Changing the kubelet's settings file, the way `nodes reserve` and `nodes
//! gc` both do it: on this node (`edit_here`: the edit with a backup, the
//! diff, how to restart the kubelet), or node after node through helper
//! pods (`roll_out`: read each node's file, show the edits, confirm naming
//! the nodes, then per node write with a backup, restart the kubelet and
//! wait until it is Ready before the next). What is set, and the words for
//! it, come from the command's [`KubeletChange`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::cluster::confirm::confirm;
use crate::cluster::duration::unix_now;
use crate::cluster::kubelet_args::KubeletEdit;
use crate::cluster::kubelet_config;
use crate::cluster::kubelet_settings::KubeletSettings;
use crate::cluster::node_helper::{self, HelperContainer, HelperPod};
use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::error::{Interrupted, NotConfirmed, Outcome, ShownPath};
use crate::ops::nodes::fanout::{finish, for_each_node, last_lines};
use crate::ops::nodes::helper_pods::{NodeTargets, Remote};
use crate::ops::nodes::inventory::utc_stamp;
use crate::output;
use crate::output::plural;

/// What a command sets in the kubelet's settings file, and how it says so.
pub trait KubeletChange: Send + Sync {
    /// The settings to write.
    fn settings(&self) -> KubeletSettings;

    /// What a file that needs no change already does, after its name
    /// (`already reserves …`); `here`: on this node (the longer wording).
    fn already(&self, here: bool) -> String;

    /// The sentence after a write on this node: `names` are what the file
    /// calls the settings (flags or keys), `shown` its path.
    fn written(&self, names: &[&str], shown: &str) -> String;

    /// The summary of a roll-out to `nodes` (`2 nodes`).
    fn rolled_out(&self, nodes: &str) -> String;

    /// The last line of the restart hint (`Reservations are per node: …`).
    fn every_node(&self) -> String;

    /// Before any helper pod: refuse a node whose kubelet (of `version`,
    /// from the node list) cannot take the settings.
    fn check_kubelet(&self, _version: &str) -> Result<(), String> {
        Ok(())
    }

    /// Before the edit: refuse a file the settings would break (its
    /// kubelet's `version` when known).
    fn check_file(&self, _version: Option<&str>, _text: &str) -> Result<(), String> {
        Ok(())
    }

    /// The edit of one file.
    fn edit(&self, version: Option<&str>, text: &str) -> Result<KubeletEdit, String> {
        self.check_file(version, text)?;
        kubelet_config::edit_kubelet_file(text, &self.settings())
    }
}

/// Apply `change` to the kubelet's settings file at `path` on this node.
/// Writes nothing when the file already says so or on `dry_run`; otherwise
/// keeps the original as `PATH.bak-<UTC time>` (a new backup per change, so
/// an earlier one is never overwritten) and replaces the file atomically,
/// keeping its permissions. `version`: this node's kubelet, when known.
pub fn edit_here(
    tools: ToolFlavor,
    change: &dyn KubeletChange,
    version: Option<&str>,
    path: &Path,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let original = read_local_args_file(path, tools)?;
    let shown = path.shown().to_string();
    let edit = change
        .edit(version, &original)
        .map_err(|why| anyhow::anyhow!("{shown}: {why}"))?;
    if edit.is_unchanged() {
        writeln!(
            out,
            "{shown} already {}; nothing to change.",
            change.already(true)
        )?;
        return Ok(Outcome::Success);
    }
    out.write_all(edit.diff(&shown).as_bytes())?;
    if dry_run {
        writeln!(out, "Dry run: {shown} not written.")?;
        return Ok(Outcome::Success);
    }

    let backup = write_backup(path, original.as_bytes())?;
    if let Err(err) = crate::fsutil::write_atomic(path, edit.text.as_bytes()) {
        let hint = sudo_hint_for(&err);
        return Err(err.context(format!(
            "{shown}: cannot write the new kubelet arguments{hint}; it is unchanged (backup: {})",
            backup.shown()
        )));
    }
    let names = kubelet_config::setting_names(&original, &change.settings());
    writeln!(out, "{}", change.written(&names, &shown))?;
    writeln!(out, "The previous file is kept as {}.", backup.shown())?;
    out.write_all(restart_hint(tools, path).as_bytes())?;
    writeln!(out, "{}", change.every_node())?;
    Ok(Outcome::Success)
}

fn read_local_args_file(path: &Path, tools: ToolFlavor) -> Result<String> {
    let shown = path.shown();
    let bytes = std::fs::read(path).map_err(|err| {
        let hint = match err.kind() {
            std::io::ErrorKind::PermissionDenied => {
                " (the file belongs to root: run binderctl with sudo)".to_string()
            }
            std::io::ErrorKind::NotFound if tools == ToolFlavor::Plain => {
                " (is this a kubeadm node? Otherwise pass --kubelet-args PATH)".to_string()
            }
            std::io::ErrorKind::NotFound => {
                " (is MicroK8s installed on this node? Otherwise pass --kubelet-args PATH)"
                    .to_string()
            }
            _ => String::new(),
        };
        anyhow::anyhow!("{shown}: cannot read the kubelet arguments: {err}{hint}")
    })?;
    String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!("{shown}: not UTF-8 text; is this really the kubelet arguments file?")
    })
}

/// " (run binderctl with sudo)" when the error comes from a denied permission.
fn sudo_hint_for(err: &anyhow::Error) -> &'static str {
    let denied = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    });
    if denied {
        " (run binderctl with sudo)"
    } else {
        ""
    }
}

/// Copy `original` to a new `PATH.bak-<UTC time>` next to `path`, with the
/// same permissions, never overwriting an existing file.
pub fn write_backup(path: &Path, original: &[u8]) -> Result<PathBuf> {
    let stamp = utc_stamp(u64::try_from(unix_now()).unwrap_or(0));
    let permissions = std::fs::metadata(path).map(|m| m.permissions()).ok();
    for attempt in 0..100u32 {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".bak-{stamp}"));
        if attempt > 0 {
            name.push(format!("-{attempt}"));
        }
        let backup = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&backup);
        let mut file = match file {
            Ok(f) => f,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                let hint = if err.kind() == std::io::ErrorKind::PermissionDenied {
                    " (run binderctl with sudo)"
                } else {
                    ""
                };
                anyhow::bail!("{}: cannot create the backup: {err}{hint}", backup.shown());
            }
        };
        let written = file
            .write_all(original)
            .and_then(|_| file.sync_all())
            .and_then(|_| match &permissions {
                Some(p) => std::fs::set_permissions(&backup, p.clone()),
                None => Ok(()),
            });
        if let Err(err) = written {
            let _ = std::fs::remove_file(&backup);
            anyhow::bail!("{}: cannot write the backup: {err}", backup.shown());
        }
        return Ok(backup);
    }
    anyhow::bail!(
        "{}: too many backups named {}.bak-{stamp}-N; remove some",
        path.shown(),
        path.shown()
    )
}

/// What to run so the kubelet reads its new settings (the command's own
/// last line follows).
fn restart_hint(tools: ToolFlavor, path: &Path) -> String {
    match tools {
        ToolFlavor::Microk8s => "Restart the kubelet to apply it (MicroK8s 1.21 and later run the kubelet inside kubelite):\n\
             \x20 sudo snap restart microk8s.daemon-kubelite\n\
             On MicroK8s older than 1.21: sudo snap restart microk8s.daemon-kubelet\n"
            .to_string(),
        ToolFlavor::Plain => format!(
            "Restart the kubelet so that it reads {} (e.g. sudo systemctl restart kubelet).\n",
            path.shown()
        ),
    }
}

/// How a roll-out to other nodes goes.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// The kubelet's settings file, on every node.
    pub file: String,
    pub dry_run: bool,
    pub yes: bool,
    /// How long a node may take to be Ready again after its restart.
    pub ready_timeout: Duration,
}

/// One node's planned edit.
struct NodeEdit {
    index: usize,
    node: String,
    original: String,
    text: String,
}

/// The kubelet arguments file as a path the helper can be given: absolute,
/// one line, bounded.
fn check_args_path(file: &str) -> Result<()> {
    if !file.starts_with('/') || file.len() > 4096 || file.contains(['\n', '\r', '\0']) {
        bail!("--kubelet-args {file:?}: with --node/--all-nodes give the file's absolute path on the nodes");
    }
    Ok(())
}

async fn read_args_file(remote: &Remote, index: usize, node: &str, file: &str) -> Result<String> {
    let argv = node_helper::read_file_argv(file);
    let pod = HelperPod::new(
        &remote.target(node),
        index,
        "read",
        vec![HelperContainer::new("read", argv)],
    );
    let run = remote.run_pod(&pod).await?;
    if let Some(why) = &run.failure {
        let what = match remote.flavor {
            ToolFlavor::Plain => "is it a kubeadm node?",
            ToolFlavor::Microk8s => "is MicroK8s installed there?",
        };
        bail!("node {node}: cannot read {file} ({why}); {what} Otherwise pass --kubelet-args PATH");
    }
    Ok(run.log("read").to_string())
}

/// `--node N... | --all-nodes`: refuse the nodes whose kubelet cannot take
/// the change (before any helper pod), read each node's kubelet settings
/// file, show the edits, confirm naming the nodes, then node after node:
/// write the file (with a backup), restart the kubelet, and wait until the
/// node is Ready again before the next; a node that does not come back
/// stops the roll-out. Any node that cannot be read or edited stops it
/// before any change.
pub async fn roll_out(
    target: &Target,
    targets: &NodeTargets,
    change: &dyn KubeletChange,
    how: &Rollout,
) -> Result<Outcome> {
    check_args_path(&how.file)?;
    let remote = Arc::new(Remote::new(target, targets));
    let nodes = remote.ready_nodes(targets, false).await?;
    let refused: Vec<(String, anyhow::Error)> = nodes
        .iter()
        .filter_map(|node| {
            let version = remote.kubelet_version(node).unwrap_or_default();
            let why = change.check_kubelet(version).err()?;
            Some((node.clone(), anyhow::anyhow!("node {node}: {why}")))
        })
        .collect();
    if !refused.is_empty() {
        finish(&refused, nodes.len())?;
    }
    remote.prepare().await?;
    let results = for_each_node(&nodes, |index, node| {
        let (remote, file) = (remote.clone(), how.file.clone());
        async move { read_args_file(&remote, index, &node, &file).await }
    })
    .await;
    let mut failed = Vec::new();
    let mut edits = Vec::new();
    for (index, (node, result)) in results.into_iter().enumerate() {
        let original = match result {
            Ok(text) => text,
            Err(err) => {
                failed.push((node, err));
                continue;
            }
        };
        let edit = match change.edit(remote.kubelet_version(&node), &original) {
            Ok(edit) => edit,
            Err(why) => {
                failed.push((
                    node.clone(),
                    anyhow::anyhow!("node {node}: {}: {why}", how.file),
                ));
                continue;
            }
        };
        if edit.is_unchanged() {
            output::info(&format!(
                "node {node}: {} already {}; nothing to change.",
                how.file,
                change.already(false)
            ));
            continue;
        }
        output::data(&edit.diff(&format!("{node}:{}", how.file)));
        edits.push(NodeEdit {
            index,
            node,
            original,
            text: edit.text,
        });
    }
    if !failed.is_empty() {
        // Half a cluster changed is worse than a clear stop before any change.
        finish(&failed, nodes.len())?;
    }
    if edits.is_empty() {
        return Ok(Outcome::Success);
    }
    let backup = format!(
        "{}.bak-{}",
        how.file,
        utc_stamp(u64::try_from(unix_now()).unwrap_or(0))
    );
    let pods = |edit: &NodeEdit| {
        let target = remote.target(&edit.node);
        let write = node_helper::write_file_argv(&how.file, &backup, &edit.original, &edit.text);
        let restart = node_helper::node_kubelet_restart(remote.flavor);
        (
            HelperPod::new(
                &target,
                edit.index,
                "write",
                vec![HelperContainer::new("write", write)],
            ),
            HelperPod::new(
                &target,
                edit.index,
                "restart",
                vec![HelperContainer::new("restart", restart)],
            ),
        )
    };
    if how.dry_run {
        for edit in &edits {
            let (write, restart) = pods(edit);
            output::data(&remote.dry_run_text(&write));
            output::data(&remote.dry_run_text(&restart));
        }
        output::info("Dry run: no node changed.");
        return Ok(Outcome::Success);
    }
    let names: Vec<&str> = edits.iter().map(|e| e.node.as_str()).collect();
    let question = format!(
        "Write {} and restart the kubelet on {} ({}), one node at a time?",
        how.file,
        plural(edits.len(), "node", "nodes"),
        names.join(", ")
    );
    if !confirm(&question, how.yes).await? {
        return Err(NotConfirmed("no node changed".into()).into());
    }
    for (position, edit) in edits.iter().enumerate() {
        let untouched = names[position + 1..].join(", ");
        let (write, restart) = pods(edit);
        let stop = |what: String| {
            let rest = if untouched.is_empty() {
                String::new()
            } else {
                format!("; not changed: {untouched}")
            };
            anyhow::anyhow!("{what}. The roll-out stopped at node {}{rest}", edit.node)
        };
        let run = remote
            .run_pod(&write)
            .await
            .map_err(|e| stop(format!("{e:#}")))?;
        if let Some(why) = run.failure {
            return Err(stop(format!(
                "node {}: cannot write {} ({why}): {}",
                edit.node,
                how.file,
                last_lines(&run.logs)
            )));
        }
        output::info(&format!(
            "node {}: wrote {} (the previous file is kept as {backup}); restarting its kubelet",
            edit.node, how.file
        ));
        let before = remote.heartbeat(&edit.node).await;
        // The restart can cut the pod's own report short: the node's
        // readiness is what counts.
        if let Err(err) = remote.run_pod(&restart).await {
            if err.downcast_ref::<Interrupted>().is_some() {
                return Err(err);
            }
            output::warn(&format!("node {}: {err:#}", edit.node));
        }
        if !remote
            .wait_ready_again(&edit.node, before.as_deref(), how.ready_timeout)
            .await?
        {
            let restart = node_helper::node_kubelet_restart(remote.flavor).join(" ");
            return Err(stop(format!(
                "node {} is not Ready within {} after its kubelet restarted; on {}, look at \
                 the kubelet's log ({}), and to go back: `sudo cp {backup} {}` then `sudo \
                 {restart}`",
                edit.node,
                crate::cluster::duration::format_go(how.ready_timeout),
                edit.node,
                kubelet_log_hint(remote.flavor),
                how.file
            )));
        }
        output::info(&format!("node {} is Ready again.", edit.node));
        // The API server may have been restarting when the pod was deleted.
        remote.delete_again(&restart).await;
    }
    output::info(&change.rolled_out(&plural(edits.len(), "node", "nodes")));
    Ok(Outcome::Success)
}

fn kubelet_log_hint(flavor: ToolFlavor) -> &'static str {
    match flavor {
        ToolFlavor::Microk8s => "journalctl -u snap.microk8s.daemon-kubelite",
        ToolFlavor::Plain => "journalctl -u kubelet",
    }
}

/// The kubelet's settings file: `--kubelet-args`, or the flavour's own
/// (MicroK8s' arguments file, kubeadm's `config.yaml`).
pub fn settings_file(flavor: ToolFlavor, given: Option<&Path>) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(format!(
            "/{}",
            crate::cluster::kubelet_args::kubelet_file(flavor)
        ))
    })
}
