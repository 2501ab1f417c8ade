//! `nodes gc`: the kubelet's image garbage collection (the disk usage at
//! which it removes unused images, down to which, and the longest an
//! unused image may stay) in its settings file, on this node or node after
//! node through helper pods: the mechanism `nodes reserve` uses
//! (`kubelet_rollout`). `imageMaximumGCAge` (`--max-age`) is refused on a
//! kubelet too old for it, and in an arguments file (the kubelet has no
//! flag for it).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cluster::duration::{format_go, parse_duration};
use crate::cluster::kubelet_config;
use crate::cluster::kubelet_settings::{
    max_age_support, ImageGc, KubeletSettings, MaxAgeSupport, DEFAULT_GC_MIN_AGE, GC_MIN_AGE_FLAG,
    GC_MIN_AGE_KEY, MAX_AGE_GATE,
};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::{ToolFlavor, Tools};
use crate::error::Outcome;
use crate::ops::nodes::helper_pods::NodeTargets;
use crate::ops::nodes::inventory;
use crate::ops::nodes::kubelet_rollout::{self, KubeletChange, Rollout};
use crate::output;

/// `nodes gc`'s options.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Percent of the image filesystem in use at which images are removed.
    pub high: u32,
    /// Percent down to which they are removed.
    pub low: u32,
    /// The longest an unused image stays (`14d`); unset: left as it is.
    pub max_age: Option<String>,
    /// The kubelet's settings file; unset, the flavour's own.
    pub kubelet_args: Option<PathBuf>,
    pub dry_run: bool,
    pub targets: NodeTargets,
    pub ready_timeout: String,
    pub yes: bool,
}

/// `nodes gc`'s change.
struct GcChange(ImageGc);

/// `v1.28.15`, or words for a version the node list does not give.
fn shown_version(version: &str) -> String {
    if version.trim().is_empty() {
        "of an unknown version".to_string()
    } else {
        version.to_string()
    }
}

/// Why a kubelet of `version` cannot take `imageMaximumGCAge` at all.
fn too_old(version: &str) -> String {
    format!(
        "its kubelet is {}: imageMaximumGCAge (--max-age) needs kubelet 1.29 or later (1.30 or \
         later unless its ImageMaximumGCAge feature gate is turned on); leave out --max-age for \
         this node, or upgrade it",
        shown_version(version)
    )
}

impl GcChange {
    /// `high 85%, low 80%` and, when set, `, max-age 336h`.
    fn values(&self) -> String {
        let mut text = format!("high {}%, low {}%", self.0.high(), self.0.low());
        if let Some(age) = self.0.max_age_go() {
            text.push_str(&format!(", max-age {age}"));
        }
        text
    }
}

impl KubeletChange for GcChange {
    fn settings(&self) -> KubeletSettings {
        self.0.settings()
    }

    fn already(&self, _here: bool) -> String {
        format!("sets image garbage collection to {}", self.values())
    }

    fn written(&self, names: &[&str], shown: &str) -> String {
        let set: Vec<String> = names
            .iter()
            .zip(self.settings().iter())
            .map(|(name, setting)| {
                let value = setting.value.flag_value();
                if name.starts_with("--") {
                    format!("{name}={value}")
                } else {
                    format!("{name}: {value}")
                }
            })
            .collect();
        format!(
            "Set the kubelet's image garbage collection in {shown}: {}.",
            set.join(", ")
        )
    }

    fn rolled_out(&self, nodes: &str) -> String {
        format!(
            "Set image garbage collection ({}) on {nodes}.",
            self.values()
        )
    }

    fn every_node(&self) -> String {
        "Image garbage collection is set per node: run `binderctl nodes gc` on every node (or \
         once with --all-nodes)."
            .to_string()
    }

    fn check_kubelet(&self, version: &str) -> Result<(), String> {
        if self.0.max_age().is_none() || max_age_support(version) != MaxAgeSupport::No {
            return Ok(());
        }
        Err(too_old(version))
    }

    fn check_file(&self, version: Option<&str>, text: &str) -> Result<(), String> {
        let Some(max_age) = self.0.max_age() else {
            return Ok(());
        };
        if let Some(version) = version {
            let gate = kubelet_config::feature_gate(text, MAX_AGE_GATE);
            match (max_age_support(version), gate) {
                (MaxAgeSupport::No, _) => return Err(too_old(version)),
                (MaxAgeSupport::WithGate, Some(true)) | (MaxAgeSupport::Yes, None | Some(true)) => {
                }
                (MaxAgeSupport::WithGate, _) => {
                    return Err(format!(
                        "its kubelet is {version}, where imageMaximumGCAge is behind the alpha \
                         feature gate {MAX_AGE_GATE}, which this file does not turn on (the \
                         kubelet would refuse to start): turn it on (featureGates: \
                         {MAX_AGE_GATE}: true), or leave out --max-age"
                    ))
                }
                (MaxAgeSupport::Yes, Some(false)) => {
                    return Err(format!(
                        "this file turns the feature gate {MAX_AGE_GATE} off, so the kubelet \
                         would refuse to start with imageMaximumGCAge set: turn it on, or leave \
                         out --max-age"
                    ))
                }
            }
        }
        if kubelet_config::is_kubelet_configuration(text) {
            let minimum =
                kubelet_config::setting_value(text, Some(GC_MIN_AGE_FLAG), GC_MIN_AGE_KEY)
                    .and_then(|v| parse_duration(&v).ok())
                    .unwrap_or(DEFAULT_GC_MIN_AGE);
            if max_age <= minimum {
                return Err(format!(
                    "--max-age {} must be longer than the kubelet's {GC_MIN_AGE_KEY} ({}): the \
                     kubelet refuses to start otherwise",
                    format_go(max_age),
                    format_go(minimum)
                ));
            }
        }
        Ok(())
    }
}

/// This node's name and kubelet version, from the node list (the node
/// whose name or host name label is this machine's host name).
async fn this_kubelet(target: &Target) -> Result<(String, String)> {
    let tools = Tools::for_target(target);
    let command = inventory::list_command(&tools);
    let json = Runner::new(false).query(&command).await.context(
        "cannot read the node list, which says this node's kubelet version (--max-age needs \
         kubelet 1.29 or later)",
    )?;
    let rows = inventory::parse_node_list(&json)
        .map_err(|_| anyhow::anyhow!("`{command}` printed something other than a node list"))?;
    let hostname = inventory::local_hostname()
        .context("this machine's host name is unknown, so is its node's kubelet version")?;
    let row = rows
        .into_iter()
        .find(|row| inventory::is_this_host(row, &hostname))
        .with_context(|| {
            format!(
                "no node of the cluster is this machine (host name {hostname}), so its kubelet \
                 version (--max-age needs 1.29 or later) is unknown: run binderctl on the node, \
                 or use --node NAME"
            )
        })?;
    Ok((row.name, row.version))
}

/// `nodes gc`: here, or with `--node`/`--all-nodes` node after node.
pub async fn run(target: &Target, options: &GcOptions) -> Result<Outcome> {
    let max_age = options
        .max_age
        .as_deref()
        .map(parse_duration)
        .transpose()
        .context("--max-age")?;
    let gc = ImageGc::new(options.high, options.low, max_age)?;
    if gc.max_age().is_some()
        && options.kubelet_args.is_none()
        && target.tools == ToolFlavor::Microk8s
    {
        anyhow::bail!(
            "--max-age: MicroK8s' kubelet takes its settings as flags (/{}), and the kubelet has \
             no flag for imageMaximumGCAge, only the KubeletConfiguration field: leave out \
             --max-age (the thresholds are flags), or, if this kubelet reads a configuration \
             file (--config), pass that file with --kubelet-args",
            crate::cluster::kubelet_args::kubelet_file(target.tools)
        );
    }
    let change = GcChange(gc);
    let file = kubelet_rollout::settings_file(target.tools, options.kubelet_args.as_deref());
    if options.targets.remote() {
        let rollout = Rollout {
            file: file.to_string_lossy().into_owned(),
            dry_run: options.dry_run,
            yes: options.yes,
            ready_timeout: parse_duration(&options.ready_timeout)?,
        };
        return kubelet_rollout::roll_out(target, &options.targets, &change, &rollout).await;
    }
    let version = match change.0.max_age() {
        Some(_) => {
            let (node, version) = this_kubelet(target).await?;
            change
                .check_kubelet(&version)
                .map_err(|why| anyhow::anyhow!("node {node} (this machine): {why}"))?;
            Some(version)
        }
        None => None,
    };
    let mut out = output::StdoutWriter;
    kubelet_rollout::edit_here(
        target.tools,
        &change,
        version.as_deref(),
        &file,
        options.dry_run,
        &mut out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const KUBEADM: &str = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
        cgroupDriver: systemd\n";

    fn change(max_age: Option<u64>) -> GcChange {
        GcChange(ImageGc::new(85, 80, max_age.map(Duration::from_secs)).unwrap())
    }

    fn edit_file(gc: &GcChange, version: Option<&str>, path: &std::path::Path) -> Result<String> {
        let mut out = Vec::new();
        kubelet_rollout::edit_here(ToolFlavor::Plain, gc, version, path, false, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn here_writes_once_with_a_backup_then_reports_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, KUBEADM).unwrap();
        let gc = change(Some(14 * 86_400));
        let said = edit_file(&gc, Some("v1.31.2"), &path).unwrap();
        assert!(
            said.contains(
                "imageGCHighThresholdPercent: 85, imageGCLowThresholdPercent: 80, \
                 imageMaximumGCAge: 336h"
            ),
            "{said}"
        );
        assert!(said.contains("sudo systemctl restart kubelet"), "{said}");
        assert!(said.contains("binderctl nodes gc"), "{said}");
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.starts_with(KUBEADM), "{after}");
        let parsed: serde_yaml::Value = serde_yaml::from_str(&after).unwrap();
        assert_eq!(parsed["imageGCHighThresholdPercent"], 85);
        assert_eq!(parsed["imageGCLowThresholdPercent"], 80);
        assert_eq!(parsed["imageMaximumGCAge"], "336h");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

        let said = edit_file(&gc, Some("v1.31.2"), &path).unwrap();
        assert!(said.contains("nothing to change"), "{said}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn the_maximum_age_needs_a_kubelet_that_takes_it() {
        let gc = change(Some(3600));
        let err = gc.check_kubelet("v1.28.15").unwrap_err();
        assert!(err.contains("v1.28.15") && err.contains("1.29"), "{err}");
        assert!(gc.check_kubelet("v1.29.1").is_ok(), "the file decides");
        assert!(gc.check_kubelet("v1.30.0").is_ok());
        assert!(gc
            .check_kubelet("")
            .unwrap_err()
            .contains("unknown version"));
        // Without --max-age every kubelet will do.
        assert!(change(None).check_kubelet("v1.20.0").is_ok());

        let err = gc.check_file(Some("v1.29.1"), KUBEADM).unwrap_err();
        assert!(err.contains("feature gate ImageMaximumGCAge"), "{err}");
        let gated = format!("{KUBEADM}featureGates:\n  ImageMaximumGCAge: true\n");
        assert_eq!(gc.check_file(Some("v1.29.1"), &gated), Ok(()));
        let off = format!("{KUBEADM}featureGates:\n  ImageMaximumGCAge: false\n");
        assert!(gc
            .check_file(Some("v1.31.0"), &off)
            .unwrap_err()
            .contains("off"));
        assert_eq!(gc.check_file(Some("v1.31.0"), KUBEADM), Ok(()));
    }

    #[test]
    fn the_maximum_age_must_exceed_the_minimum() {
        let gc = change(Some(120));
        let err = gc.check_file(Some("v1.31.0"), KUBEADM).unwrap_err();
        assert!(err.contains("imageMinimumGCAge (2m)"), "{err}");
        let longer = format!("{KUBEADM}imageMinimumGCAge: 2h0m0s\n");
        let err = change(Some(3600))
            .check_file(Some("v1.31.0"), &longer)
            .unwrap_err();
        assert!(
            err.contains("--max-age 1h") && err.contains("(2h)"),
            "{err}"
        );
        assert_eq!(
            change(Some(3 * 3600)).check_file(Some("v1.31.0"), &longer),
            Ok(())
        );
    }

    #[test]
    fn an_arguments_file_takes_the_thresholds_but_not_the_maximum_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet");
        let args = "--cert-dir=/x\n--config=/etc/kubelet/config.yaml\n";
        std::fs::write(&path, args).unwrap();
        let err = edit_file(&change(Some(86_400)), Some("v1.31.0"), &path).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("no flag for it") && msg.contains("/etc/kubelet/config.yaml"),
            "{msg}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), args);
        let said = edit_file(&change(None), None, &path).unwrap();
        assert!(
            said.contains("--image-gc-high-threshold=85, --image-gc-low-threshold=80"),
            "{said}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{args}--image-gc-high-threshold=85\n--image-gc-low-threshold=80\n")
        );
    }
}
