//! Conformance tier for the operator's toolbox (doctor, logs, history,
//! rollback, diff): every argv their sample plans hold is run against the
//! real kubectl 1.35, Helm 4 and Helm 3 with a kubeconfig pointing at a
//! closed port. A usage error (unknown flag, wrong argument count) fails;
//! a connection error passes: the tool accepted the command line.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use binderctl::cluster::plan::{CommandLine, Plan};
use support::real_tools::unreachable_kubeconfig;

/// What the tools print for a command line they do not accept.
const USAGE_ERRORS: [&str; 9] = [
    "unknown flag",
    "unknown shorthand flag",
    "unknown command",
    "flag needs an argument",
    "invalid argument",
    "arg(s), received",
    "requires at least",
    "requires exactly",
    "required flag",
];

/// The real tool and arguments for a planned command, or `None` for
/// commands no real tool here can run (`microk8s status`).
fn real_argv(command: &CommandLine) -> Option<(&'static str, Vec<String>)> {
    let mut args = command.args.clone();
    let tool = match command.program.as_str() {
        "microk8s" => {
            let first = args.first()?.clone();
            args.remove(0);
            first
        }
        other => other.to_string(),
    };
    match tool.as_str() {
        "kubectl" => Some(("kubectl", args)),
        "helm" => Some(("helm", args)),
        _ => None,
    }
}

fn run_with_limit(mut command: Command) -> (String, bool) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn real tool");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// Run every command of `plans` with the real tools; panic listing every
/// command line a tool refused.
pub fn assert_accepted(plans: &[Plan]) {
    let Some(kubectl) = support::real_tools::require("kubectl") else {
        return;
    };
    let Some(helms) = support::real_tools::require_all(&["helm", "helm3"]) else {
        return;
    };
    let (_guard, kubeconfig) = unreachable_kubeconfig();
    let home = tempfile::tempdir().unwrap();
    let mut refused = Vec::new();
    let mut ran = 0;
    for command in plans.iter().flat_map(Plan::commands) {
        let Some((tool, args)) = real_argv(command) else {
            continue;
        };
        let binaries: Vec<&Path> = match tool {
            "kubectl" => vec![kubectl.as_path()],
            _ => helms.iter().map(|p| p.as_path()).collect(),
        };
        for binary in binaries {
            let mut real = Command::new(binary);
            real.args(&args)
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .env_clear()
                .env("HOME", home.path())
                .env("PATH", "/usr/bin:/bin");
            let (stderr, _) = run_with_limit(real);
            ran += 1;
            if let Some(error) = USAGE_ERRORS.iter().find(|e| stderr.contains(*e)) {
                refused.push(format!(
                    "{} {}: {error}: {}",
                    binary.display(),
                    args.join(" "),
                    stderr.trim()
                ));
            }
        }
    }
    assert!(ran > 0, "no command was run");
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

#[test]
fn the_checker_catches_a_refused_flag() {
    let Some(_) = support::real_tools::require("kubectl") else {
        return;
    };
    let mut plan = Plan::new();
    plan.push_command(CommandLine::new("kubectl").args(["get", "pods", "--no-such-flag"]));
    let caught = std::panic::catch_unwind(|| assert_accepted(&[plan]));
    assert!(caught.is_err(), "an unknown flag must fail the check");
}

#[test]
fn doctor_reads_are_accepted() {
    assert_accepted(&binderctl::ops::doctor::gather::sample_plans());
}

#[test]
fn logs_and_failure_report_are_accepted() {
    assert_accepted(&binderctl::ops::logs::sample_plans());
}

#[test]
fn history_and_rollback_are_accepted() {
    assert_accepted(&binderctl::ops::history::sample_plans());
}

#[test]
fn diff_reads_are_accepted() {
    assert_accepted(&binderctl::ops::diff::sample_plans());
}

#[test]
fn volumes_are_accepted() {
    assert_accepted(&binderctl::ops::volumes::sample_plans());
}

#[test]
fn forward_is_accepted() {
    assert_accepted(&binderctl::ops::forward::sample_plans());
}

#[test]
fn init_is_accepted() {
    assert_accepted(&binderctl::ops::init::sample_plans());
}

#[test]
fn versions_update_and_latest_are_accepted() {
    assert_accepted(&binderctl::ops::latest::sample_plans());
}
