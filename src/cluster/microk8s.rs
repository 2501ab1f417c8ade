//! MicroK8s' `microk8s kubectl|helm|ctr` wrappers and their traps, checked
//! before a wrapper runs: on a worker node (`clustered.lock`) kubectl and
//! helm print a sentence on stdout and exit 0; a stopped MicroK8s
//! (`stopped.lock`) and unreadable credentials (a user outside the
//! `microk8s` group) fail with the wrapper's own text; `microk8s ctr` always
//! runs ctr through sudo. Each becomes one sentence with the fix. Reads a
//! few files under `$SNAP_DATA` (`BINDERCTL_MICROK8S_SNAP_DATA` overrides
//! it, for tests); the decisions themselves are pure.

use crate::error::ShownPath;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cluster::plan::CommandLine;
use crate::cluster::tools::Tool;

/// Where the MicroK8s snap keeps its state (the wrappers' `$SNAP_DATA`).
pub const DEFAULT_SNAP_DATA: &str = "/var/snap/microk8s/current";
/// Names another `$SNAP_DATA` (tests).
pub const SNAP_DATA_ENV: &str = "BINDERCTL_MICROK8S_SNAP_DATA";

/// What the wrapper prints on a worker node, on stdout, exiting 0.
pub const WORKER_NODE_OUTPUT: &str = "This MicroK8s deployment is acting as a node in a cluster";

/// The state the wrappers look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// `$SNAP_DATA` exists (MicroK8s is installed as a snap here).
    pub installed: bool,
    /// `$SNAP_DATA/var/lock/clustered.lock`: this node joined as a worker.
    pub worker: bool,
    /// `$SNAP_DATA/var/lock/stopped.lock`: `microk8s stop` was run.
    pub stopped: bool,
    /// `$SNAP_DATA/credentials/client.config` can be read.
    pub credentials_readable: bool,
    /// binderctl runs as root (sudo needs no password then).
    pub root: bool,
    /// stderr is a terminal (sudo can ask for a password there).
    pub terminal: bool,
}

/// The snap's state folder, from the environment or the default.
pub fn snap_data() -> PathBuf {
    std::env::var_os(SNAP_DATA_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SNAP_DATA))
}

fn worker_lock(data: &Path) -> PathBuf {
    data.join("var/lock/clustered.lock")
}

fn stopped_lock(data: &Path) -> PathBuf {
    data.join("var/lock/stopped.lock")
}

fn credentials(data: &Path) -> PathBuf {
    data.join("credentials/client.config")
}

/// Look at the files the wrappers look at.
pub fn facts(data: &Path) -> Facts {
    use std::os::unix::fs::MetadataExt;
    Facts {
        installed: data.is_dir(),
        worker: worker_lock(data).exists(),
        stopped: stopped_lock(data).exists(),
        credentials_readable: std::fs::File::open(credentials(data)).is_ok(),
        // /proc/self belongs to the process's effective user.
        root: std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0),
        terminal: crate::output::stderr_is_terminal(),
    }
}

/// What stops `microk8s TOOL` from working, as one sentence with the fix;
/// `None` when nothing does. Without the snap's state folder nothing is
/// checked (the missing program is reported when it is run).
pub fn problem(tool: Tool, facts: &Facts, data: &Path) -> Option<String> {
    if !facts.installed || tool == Tool::Microk8s {
        return None;
    }
    if facts.worker && matches!(tool, Tool::Kubectl | Tool::Helm) {
        return Some(format!(
            "this machine is a MicroK8s worker node ({} exists), where `microk8s {}` does not \
             reach the cluster: run binderctl on a control-plane node (`binderctl images` works \
             here, for this node's images)",
            worker_lock(data).shown(),
            tool.name()
        ));
    }
    if facts.stopped {
        return Some(format!(
            "MicroK8s is stopped ({} exists): start it with `microk8s start`, then wait with \
             `microk8s status --wait-ready`",
            stopped_lock(data).shown()
        ));
    }
    if !facts.credentials_readable {
        return Some(format!(
            "you cannot read MicroK8s' credentials ({}, missing or not readable): add yourself to the microk8s group with \
             `sudo usermod -a -G microk8s $USER`, then log in again (or run `newgrp microk8s`)",
            credentials(data).shown()
        ));
    }
    if tool == Tool::Ctr && !facts.root && !facts.terminal {
        return Some(
            "`microk8s ctr` runs ctr through sudo, which needs a password and there is no \
             terminal to ask on: run binderctl as root (`sudo binderctl images …`, or from \
             root's crontab)"
                .to_string(),
        );
    }
    None
}

/// The tool a `microk8s TOOL ...` command line runs through a wrapper.
fn wrapped_tool(command: &CommandLine) -> Option<Tool> {
    if command.program != "microk8s" {
        return None;
    }
    match command.args.first().map(String::as_str) {
        Some("kubectl") => Some(Tool::Kubectl),
        Some("helm") => Some(Tool::Helm),
        Some("ctr") => Some(Tool::Ctr),
        _ => None,
    }
}

/// Refuse to run `command` when a MicroK8s wrapper would fail or mislead.
/// Called by the runner before it starts a program.
pub fn preflight(command: &CommandLine) -> Result<()> {
    let Some(tool) = wrapped_tool(command) else {
        return Ok(());
    };
    let data = snap_data();
    let facts = facts(&data);
    if let Some(problem) = problem(tool, &facts, &data) {
        anyhow::bail!(problem);
    }
    if tool == Tool::Ctr && !facts.root && facts.installed {
        sudo_note();
    }
    Ok(())
}

/// [`preflight`] for a command `--dry-run` prints instead of running: the
/// same refusal (a worker node, a stopped MicroK8s, unreadable
/// credentials), so a dry run never shows a plan that cannot run here.
/// `microk8s ctr`'s sudo is left out: whether it may ask depends on how
/// the printed command is run.
pub fn check_printed(command: &CommandLine) -> Result<()> {
    match wrapped_tool(command) {
        Some(tool) if tool != Tool::Ctr => {
            let data = snap_data();
            match problem(tool, &facts(&data), &data) {
                Some(problem) => anyhow::bail!(problem),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// MicroK8s' own commands (`microk8s add-node`) explain a refusal on
/// stdout; on a worker node that sentence gets binderctl's way out.
pub fn own_command_hint(stdout: &str) -> Option<&'static str> {
    stdout
        .contains(WORKER_NODE_OUTPUT)
        .then_some("this machine is a MicroK8s worker node: run binderctl on a control-plane node")
}

fn sudo_note() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        crate::output::info(
            "Note: `microk8s ctr` runs ctr through sudo, which may ask for your password.",
        )
    });
}

/// A wrapper's answer that exit code 0 does not make true: on a worker
/// node `microk8s kubectl|helm` print [`WORKER_NODE_OUTPUT`] and exit 0.
pub fn check_output(command: &CommandLine, stdout: &str) -> Result<()> {
    if wrapped_tool(command).is_some() && stdout.trim_start().starts_with(WORKER_NODE_OUTPUT) {
        anyhow::bail!(
            "`{command}` answered \"{}\": this machine is a MicroK8s worker node; run binderctl \
             on a control-plane node",
            stdout.trim()
        );
    }
    Ok(())
}

/// The fix for a wrapper's own failure message (when the files binderctl
/// checks first did not tell): a sudo that wants a password, missing
/// permissions, a stopped MicroK8s.
pub fn failure_hint(command: &CommandLine, stderr: &str) -> Option<&'static str> {
    wrapped_tool(command)?;
    if stderr.contains("sudo: a terminal is required")
        || stderr.contains("sudo: a password is required")
    {
        Some(
            "`microk8s ctr` runs ctr through sudo, which wants a password here: run binderctl as \
             root (`sudo binderctl images …`, or from root's crontab)",
        )
    } else if stderr.contains("Insufficient permissions to access MicroK8s") {
        Some(
            "add yourself to the microk8s group (`sudo usermod -a -G microk8s $USER`), then log \
             in again (or run `newgrp microk8s`)",
        )
    } else if stderr.contains("microk8s is not running") {
        Some("MicroK8s is stopped: start it with `microk8s start`")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed() -> Facts {
        Facts {
            installed: true,
            credentials_readable: true,
            terminal: true,
            ..Facts::default()
        }
    }

    fn problem_of(tool: Tool, facts: Facts) -> Option<String> {
        problem(tool, &facts, Path::new("/var/snap/microk8s/current"))
    }

    #[test]
    fn a_worker_node_refuses_kubectl_and_helm_but_not_ctr() {
        let worker = Facts {
            worker: true,
            root: true,
            ..installed()
        };
        for tool in [Tool::Kubectl, Tool::Helm] {
            let text = problem_of(tool, worker).unwrap();
            assert!(text.contains("MicroK8s worker node"), "{text}");
            assert!(
                text.contains("/var/snap/microk8s/current/var/lock/clustered.lock"),
                "{text}"
            );
            assert!(text.contains("control-plane node"), "{text}");
        }
        assert_eq!(problem_of(Tool::Ctr, worker), None);
    }

    #[test]
    fn stopped_and_unreadable_credentials_say_the_fix() {
        let stopped = Facts {
            stopped: true,
            ..installed()
        };
        assert!(problem_of(Tool::Ctr, stopped)
            .unwrap()
            .contains("start it with `microk8s start`"));
        let outsider = Facts {
            credentials_readable: false,
            ..installed()
        };
        let text = problem_of(Tool::Kubectl, outsider).unwrap();
        assert!(text.contains("sudo usermod -a -G microk8s $USER"), "{text}");
        assert!(text.contains("credentials/client.config"), "{text}");
    }

    #[test]
    fn ctr_needs_root_or_a_terminal_for_sudo() {
        let cron = Facts {
            terminal: false,
            ..installed()
        };
        let text = problem_of(Tool::Ctr, cron).unwrap();
        assert!(text.contains("through sudo"), "{text}");
        assert!(text.contains("sudo binderctl images"), "{text}");
        assert_eq!(problem_of(Tool::Kubectl, cron), None);
        let root = Facts { root: true, ..cron };
        assert_eq!(problem_of(Tool::Ctr, root), None);
        assert_eq!(problem_of(Tool::Ctr, installed()), None);
    }

    #[test]
    fn nothing_is_checked_without_the_snap() {
        let absent = Facts {
            worker: true,
            stopped: true,
            ..Facts::default()
        };
        assert_eq!(problem_of(Tool::Kubectl, absent), None);
    }

    #[test]
    fn wrapper_failures_get_their_fix() {
        let ctr = CommandLine::new("microk8s").args(["ctr", "images", "ls"]);
        let sudo = "sudo: a terminal is required to read the password; either use the -S option";
        assert!(failure_hint(&ctr, sudo).unwrap().contains("sudo binderctl"));
        let denied = "Insufficient permissions to access MicroK8s.\n";
        assert!(failure_hint(&ctr, denied).unwrap().contains("usermod"));
        let plain = CommandLine::new("ctr").args(["images", "ls"]);
        assert_eq!(failure_hint(&plain, sudo), None);
        assert_eq!(failure_hint(&ctr, "ctr: failed to dial"), None);
    }

    #[test]
    fn only_wrapped_tools_are_checked() {
        let plain = CommandLine::new("kubectl").arg("get");
        assert_eq!(wrapped_tool(&plain), None);
        let own = CommandLine::new("microk8s").arg("add-node");
        assert_eq!(wrapped_tool(&own), None);
        let helm = CommandLine::new("microk8s").args(["helm", "list"]);
        assert_eq!(wrapped_tool(&helm), Some(Tool::Helm));
        let said = "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s kubectl on the master.\n";
        let err = check_output(&helm, said).unwrap_err().to_string();
        assert!(err.contains("worker node"), "{err}");
        assert!(check_output(&plain, said).is_ok());
        assert!(check_output(&helm, "[]").is_ok());
    }
}
