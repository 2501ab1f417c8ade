//! `binderctl init`: prepare a fresh MicroK8s machine as the tutorial does:
//! the add-ons (MetalLB with its address range), iscsid for OpenEBS, the
//! storage class, the chart repository, and `binder.yaml` / `secret.yaml`
//! templates where none exist. Every step is idempotent: what is already
//! done is read first (all at once) and left out; the plan is shown before
//! it runs, and `--dry-run` prints it only.

use crate::error::ShownPath;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};

use super::storage;
use crate::cluster::helm::repo_is_configured;
use crate::cluster::helm::DEFAULT_CHART_REPO_URL;
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::cluster::tools::Tools;
use crate::error::Outcome;
use crate::ops::doctor::gather::microk8s_status_command;
use crate::ops::doctor::microk8s::parse_microk8s_status;
use crate::output;

use std::path::PathBuf;

/// What `init` is asked to do.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub metallb_range: Option<String>,
    pub storage: StorageAddon,
    pub storage_class: PathBuf,
    pub chart_repo_url: String,
    pub input: PathBuf,
    pub secret: PathBuf,
    pub dry_run: bool,
}

/// Which storage add-on `init` enables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageAddon {
    /// OpenEBS local volumes (needs iscsid).
    Openebs,
    /// MicroK8s' hostpath-storage (one node only).
    Hostpath,
}

/// The bundled, commented values file.
pub const BINDER_TEMPLATE: &str = include_str!("../../binder.yaml");
/// The OpenEBS hostpath StorageClass (`--storage openebs`), written where
/// `--storage-class` points when no file is there.
pub const STORAGE_CLASS_TEMPLATE: &str = include_str!("../../local-storage-dir.yaml");
/// The registry credentials' template (the README's).
pub const SECRET_TEMPLATE: &str =
    "# Registry credentials for BinderHub; keep this file private (chmod 600).\n\
registry:\n  username: <registry user>\n  password: <access token>\n";

/// The chart repository's name in Helm.
const REPO: &str = "jupyterhub";

/// What is already in place, read before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    /// Add-ons MicroK8s reports enabled (empty with plain tools).
    pub enabled: Vec<String>,
    pub iscsid_enabled: bool,
    pub repo_configured: bool,
    pub running_as_root: bool,
}

/// `A-B` with two addresses of the same family, or a CIDR: what MetalLB takes.
pub fn validate_range(range: &str) -> Result<()> {
    let ok = match range.split_once('-') {
        Some((a, b)) => matches!(
            (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()),
            (Ok(a), Ok(b)) if a.is_ipv4() == b.is_ipv4() && a <= b
        ),
        None => crate::egress::cidr::parse(range).is_ok() && range.contains('/'),
    };
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "--metallb-range {range:?} is not an address range (e.g. 192.0.2.100-192.0.2.120 or \
             192.0.2.96/28: free addresses of your network for LoadBalancer services)"
        )
    }
}

/// The steps still to do, in the tutorial's order.
pub fn init_plan(tools: &Tools, options: &InitOptions, current: &Current) -> Result<Plan> {
    let mut plan = Plan::new();
    let enabled = |name: &str| current.enabled.iter().any(|e| e == name);
    if tools.flavor() == ToolFlavor::Microk8s {
        let enable = |plan: &mut Plan, addon: String| -> Result<()> {
            let args = vec!["enable".to_string(), addon.clone()];
            plan.push(
                Step::new(tools.microk8s(args)?)
                    .described(format!("enabling the MicroK8s add-on {addon}"))
                    .with_progress(),
            );
            Ok(())
        };
        if !enabled("dns") {
            enable(&mut plan, "dns".into())?;
        }
        if !enabled("helm3") && !enabled("helm") {
            enable(&mut plan, "helm3".into())?;
        }
        if !enabled("metallb") {
            let range = options.metallb_range.as_deref().ok_or_else(|| {
                anyhow::anyhow!(
                    "MetalLB is not enabled yet: pass --metallb-range FIRST-LAST, free addresses of \
                     your network for the hub's LoadBalancer (e.g. 192.0.2.100-192.0.2.120)"
                )
            })?;
            validate_range(range)?;
            enable(&mut plan, format!("metallb:{range}"))?;
        }
        match options.storage {
            StorageAddon::Openebs => {
                if !enabled("community") {
                    enable(&mut plan, "community".into())?;
                }
                if !current.iscsid_enabled {
                    let systemctl = ["systemctl", "enable", "--now", "iscsid.service"];
                    // Without a terminal sudo cannot ask: -n fails plainly instead.
                    let command = if current.running_as_root {
                        CommandLine::new(systemctl[0]).args(systemctl[1..].iter().copied())
                    } else {
                        CommandLine::new("sudo").arg("-n").args(systemctl)
                    };
                    plan.push(Step::new(command).described("enabling iscsid, which OpenEBS needs"));
                }
                if !enabled("openebs") {
                    enable(&mut plan, "openebs".into())?;
                }
            }
            StorageAddon::Hostpath => {
                if !enabled("hostpath-storage") {
                    enable(&mut plan, "hostpath-storage".into())?;
                }
            }
        }
    }
    if options.storage == StorageAddon::Openebs {
        plan.steps
            .extend(storage::apply_plan(tools, &options.storage_class.to_string_lossy()).steps);
    }
    if !current.repo_configured {
        plan.push_command(tools.helm(["repo", "add", REPO, &options.chart_repo_url]));
    }
    Ok(plan)
}

/// Sample plans for the conformance registry: a fresh machine, each storage
/// choice, both flavours.
pub fn sample_plans() -> Vec<Plan> {
    let mut plans = Vec::new();
    for flavor in [ToolFlavor::Microk8s, ToolFlavor::Plain] {
        for storage in [StorageAddon::Openebs, StorageAddon::Hostpath] {
            let cmd = InitOptions {
                metallb_range: Some("192.0.2.100-192.0.2.120".into()),
                storage,
                // A closed loopback port: the conformance tier must reach no network.
                chart_repo_url: "http://127.0.0.1:9/helm-chart/".into(),
                ..InitOptions::defaults()
            };
            if let Ok(plan) = init_plan(&Tools::new(flavor), &cmd, &Current::default()) {
                plans.push(plan);
            }
        }
    }
    plans
}

impl InitOptions {
    /// `binderctl init` with every default (for samples and tests).
    pub fn defaults() -> Self {
        InitOptions {
            metallb_range: None,
            storage: StorageAddon::Openebs,
            storage_class: "local-storage-dir.yaml".into(),
            chart_repo_url: DEFAULT_CHART_REPO_URL.into(),
            input: "binder.yaml".into(),
            secret: "secret.yaml".into(),
            dry_run: false,
        }
    }
}

/// `systemctl is-enabled iscsid.service` prints `enabled` when it is.
fn iscsid_command() -> CommandLine {
    CommandLine::new("systemctl").args(["is-enabled", "iscsid.service"])
}

async fn read_current(runner: &Runner, tools: &Tools, storage: StorageAddon) -> Result<Current> {
    let microk8s = tools.flavor() == ToolFlavor::Microk8s;
    let status = async {
        if microk8s {
            Some(runner.query(&microk8s_status_command()).await)
        } else {
            None
        }
    };
    let iscsid = async {
        if microk8s && storage == StorageAddon::Openebs {
            // Not installed, or disabled: both mean "enable it".
            runner
                .probe(&iscsid_command())
                .await
                .map(|c| c.success() && c.stdout.trim() == "enabled")
                .unwrap_or(false)
        } else {
            true
        }
    };
    let (status, iscsid_enabled, repo) =
        tokio::join!(status, iscsid, repo_is_configured(runner, tools, REPO));
    let enabled = match status.transpose()? {
        Some(text) => parse_microk8s_status(&text).enabled,
        None => Vec::new(),
    };
    Ok(Current {
        enabled,
        iscsid_enabled,
        repo_configured: repo?,
        // SAFETY: geteuid has no preconditions and cannot fail.
        running_as_root: unsafe { libc::geteuid() } == 0,
    })
}

/// Create `path` with `contents` unless it exists; mode 600 when `private`.
/// Returns whether it was written. A failed write leaves no file.
fn write_new(path: &Path, contents: &str, private: bool) -> Result<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o644 });
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot create", path.shown())),
    };
    if let Err(e) = file
        .write_all(contents.as_bytes())
        .and_then(|_| file.sync_all())
    {
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("{}: cannot write", path.shown()));
    }
    Ok(true)
}

pub async fn run(target: &Target, options: &InitOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let runner = Runner::new(options.dry_run);
    if let Some(range) = &options.metallb_range {
        validate_range(range)?;
    }
    // The class file is checked when it is there; when it is not, the
    // bundled template is written just before the plan applies it.
    let class_needed = options.storage == StorageAddon::Openebs;
    let class_missing = class_needed && std::fs::symlink_metadata(&options.storage_class).is_err();
    if class_needed && !class_missing {
        storage::check_file(&options.storage_class)?;
    }
    let current = read_current(&runner, &tools, options.storage).await?;
    if tools.flavor() == ToolFlavor::Plain {
        output::info(
            "binderctl: --tools plain: add-ons and iscsid are MicroK8s' business and are left out",
        );
    }
    let plan = init_plan(&tools, options, &current)?;
    let templates: Vec<(&Path, &str, bool)> = [
        (options.input.as_path(), BINDER_TEMPLATE, false),
        (options.secret.as_path(), SECRET_TEMPLATE, true),
    ]
    .into_iter()
    .filter(|(path, _, _)| !path.exists())
    .collect();
    if runner.is_dry_run() {
        if class_missing {
            output::info(&format!(
                "binderctl: dry run: would write the template {} (the OpenEBS hostpath \
                 StorageClass) for the apply below",
                options.storage_class.shown()
            ));
        }
        for (path, _, private) in &templates {
            output::info(&format!(
                "binderctl: dry run: would write the template {}{}",
                path.shown(),
                if *private { " (mode 600)" } else { "" }
            ));
        }
        runner.execute(&plan).await?;
        return Ok(Outcome::Success);
    }
    if class_missing && write_new(&options.storage_class, STORAGE_CLASS_TEMPLATE, false)? {
        storage::check_file(&options.storage_class)?;
        output::info(&format!(
            "Wrote {}: the OpenEBS hostpath StorageClass, volumes under /var/openebs/local on \
             each node (edit BasePath, then `binderctl storage apply`, to move them)",
            options.storage_class.shown()
        ));
    }
    if plan.is_empty() {
        output::info("binderctl: the cluster is already prepared; nothing to run");
    } else {
        output::info("binderctl init runs:");
        for command in plan.commands() {
            output::info(&format!("  {command}"));
        }
        runner.execute(&plan).await?;
    }
    for (path, contents, private) in templates {
        if write_new(path, contents, private)? {
            output::info(&format!(
                "Wrote {}{}: fill it in before binderctl deploy",
                path.shown(),
                if private { " (mode 600)" } else { "" }
            ));
        }
    }
    output::info("Next: edit binder.yaml and secret.yaml, then binderctl doctor and binderctl deploy --version VERSION");
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        for ok in [
            "192.0.2.100-192.0.2.120",
            "192.0.2.96/28",
            "2001:db8::10-2001:db8::20",
        ] {
            assert!(validate_range(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "192.0.2.100",
            "192.0.2.120-192.0.2.100",
            "192.0.2.1-2001:db8::1",
            "x-y",
            "192.0.2.0/33",
        ] {
            assert!(validate_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_fresh_machine_gets_every_step_and_a_prepared_one_none() {
        let cmd = InitOptions {
            metallb_range: Some("192.0.2.100-192.0.2.120".into()),
            ..InitOptions::defaults()
        };
        let tools = Tools::new(ToolFlavor::Microk8s);
        let plan = init_plan(&tools, &cmd, &Current::default()).unwrap();
        assert_eq!(
            plan.render(),
            format!(
                "microk8s enable dns\nmicrok8s enable helm3\nmicrok8s enable metallb:192.0.2.100-192.0.2.120\n\
                 microk8s enable community\nsudo -n systemctl enable --now iscsid.service\n\
                 microk8s enable openebs\nmicrok8s kubectl apply -f local-storage-dir.yaml\n\
                 microk8s helm repo add jupyterhub {DEFAULT_CHART_REPO_URL}\n"
            )
        );
        let done = Current {
            enabled: ["dns", "helm3", "metallb", "community", "openebs"]
                .map(String::from)
                .to_vec(),
            iscsid_enabled: true,
            repo_configured: true,
            running_as_root: false,
        };
        let plan = init_plan(&tools, &InitOptions::defaults(), &done).unwrap();
        // Applying the class is idempotent by itself.
        assert_eq!(
            plan.render(),
            "microk8s kubectl apply -f local-storage-dir.yaml\n"
        );
        let err = init_plan(&tools, &InitOptions::defaults(), &Current::default()).unwrap_err();
        assert!(err.to_string().contains("--metallb-range"), "{err}");
    }

    #[test]
    fn samples_cover_both_storage_choices_and_flavours() {
        let plans = sample_plans();
        assert_eq!(plans.len(), 4);
        assert!(plans[1]
            .render()
            .contains("microk8s enable hostpath-storage\n"));
        assert!(!plans[1].render().contains("iscsid"));
        assert!(plans[2]
            .render()
            .starts_with("kubectl apply -f local-storage-dir.yaml\n"));
    }
}
