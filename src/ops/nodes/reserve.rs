//! `nodes reserve`: resources for the system daemons in the kubelet's
//! settings, on this node (`reserve_here`) or node after node through helper
//! pods (`reserve`), each edit with a backup and a kubelet restart (the
//! mechanism is `kubelet_rollout`'s, shared with `nodes gc`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cluster::kubelet_args::Reserved;
use crate::cluster::kubelet_settings::KubeletSettings;
use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::error::Outcome;
use crate::ops::nodes::helper_pods::NodeTargets;
use crate::ops::nodes::kubelet_rollout::{self, KubeletChange, Rollout};
use crate::output;

/// `nodes reserve`'s change: `--kube-reserved` and `--system-reserved`
/// (`kubeReserved`, `systemReserved`).
struct Reservation<'a>(&'a Reserved);

impl KubeletChange for Reservation<'_> {
    fn settings(&self) -> KubeletSettings {
        self.0.settings()
    }

    fn already(&self, here: bool) -> String {
        if here {
            format!(
                "reserves {} for Kubernetes and system daemons",
                self.0.value()
            )
        } else {
            format!("reserves {}", self.0.value())
        }
    }

    fn written(&self, names: &[&str], shown: &str) -> String {
        let name = |i: usize| names.get(i).copied().unwrap_or_default();
        format!(
            "Reserved {} for Kubernetes ({}) and system daemons ({}) in {shown}.",
            self.0.value(),
            name(0),
            name(1)
        )
    }

    fn rolled_out(&self, nodes: &str) -> String {
        format!("Reserved {} on {nodes}.", self.0.value())
    }

    fn every_node(&self) -> String {
        "Reservations are per node: run `binderctl nodes reserve` on every node.".to_string()
    }
}

/// Set `--kube-reserved` and `--system-reserved` in the kubelet arguments
/// file at `path` (or `kubeReserved` and `systemReserved` in a
/// `KubeletConfiguration`); see [`kubelet_rollout::edit_here`].
pub fn reserve_here(
    tools: ToolFlavor,
    reserved: &Reserved,
    path: &Path,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Outcome> {
    kubelet_rollout::edit_here(tools, &Reservation(reserved), None, path, dry_run, out)
}

/// `nodes reserve --node N... | --all-nodes`: see
/// [`kubelet_rollout::roll_out`].
pub async fn reserve(
    target: &Target,
    targets: &NodeTargets,
    reserved: &Reserved,
    how: &Rollout,
) -> Result<Outcome> {
    kubelet_rollout::roll_out(target, targets, &Reservation(reserved), how).await
}

/// `nodes reserve`'s options.
#[derive(Debug, Clone)]
pub struct ReserveOptions {
    pub cpu: String,
    pub memory: String,
    pub ephemeral_storage: String,
    /// The kubelet's settings file; unset, the flavour's own.
    pub kubelet_args: Option<PathBuf>,
    pub dry_run: bool,
    pub targets: NodeTargets,
    pub ready_timeout: String,
    pub yes: bool,
}

/// `nodes reserve`: here, or with `--node`/`--all-nodes` node after node.
pub async fn run(target: &Target, options: &ReserveOptions) -> Result<Outcome> {
    let reserved = Reserved::new(&options.cpu, &options.memory, &options.ephemeral_storage)?;
    // MicroK8s' arguments file, or kubeadm's config.yaml.
    let kubelet_args =
        kubelet_rollout::settings_file(target.tools, options.kubelet_args.as_deref());
    if options.targets.remote() {
        let rollout = Rollout {
            file: kubelet_args.to_string_lossy().into_owned(),
            dry_run: options.dry_run,
            yes: options.yes,
            ready_timeout: crate::cluster::duration::parse_duration(&options.ready_timeout)?,
        };
        return reserve(target, &options.targets, &reserved, &rollout).await;
    }
    let mut out = output::StdoutWriter;
    reserve_here(
        target.tools,
        &reserved,
        &kubelet_args,
        options.dry_run,
        &mut out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ShownPath;
    use crate::ops::nodes::kubelet_rollout::write_backup;

    fn reserved() -> Reserved {
        Reserved::new("1", "512Mi", "10Gi").unwrap()
    }

    #[test]
    fn reserve_writes_once_with_one_backup_then_reports_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet");
        std::fs::write(&path, "--a=1\n--kube-reserved=cpu=2\n").unwrap();

        let mut out = Vec::new();
        reserve_here(ToolFlavor::Microk8s, &reserved(), &path, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("sudo snap restart microk8s.daemon-kubelite"),
            "{text}"
        );
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            after,
            "--a=1\n--kube-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n\
             --system-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n"
        );
        let backups: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p != &path)
            .collect();
        assert_eq!(backups.len(), 1, "{backups:?}");
        assert_eq!(
            std::fs::read_to_string(&backups[0]).unwrap(),
            "--a=1\n--kube-reserved=cpu=2\n"
        );

        let mut out = Vec::new();
        reserve_here(ToolFlavor::Microk8s, &reserved(), &path, false, &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("nothing to change"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn backups_never_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet");
        std::fs::write(&path, "one\n").unwrap();
        let first = write_backup(&path, b"one\n").unwrap();
        let second = write_backup(&path, b"two\n").unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read_to_string(first).unwrap(), "one\n");
        assert_eq!(std::fs::read_to_string(second).unwrap(), "two\n");
    }

    #[test]
    fn missing_file_error_names_the_path_and_the_option() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let err = reserve_here(
            ToolFlavor::Microk8s,
            &reserved(),
            &path,
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&path.shown().to_string()) && msg.contains("--kubelet-args"),
            "{msg}"
        );
    }
}
