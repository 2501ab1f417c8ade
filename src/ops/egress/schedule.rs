//! `binderctl egress schedule`: a systemd timer and service on this node
//! that run `binderctl egress apply --quiet` (this binary's absolute path,
//! the options given here), logging to the journal; `--remove` takes them
//! out; `--dry-run` prints the unit files and the systemctl commands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cluster::duration::parse_duration;
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::systemd::{self, UNIT, UNIT_DIR};
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::Outcome;
use crate::output;

use crate::cluster::tools::ToolFlavor;

/// What `egressschedule` is asked to do.
#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    pub every: String,
    pub remove: bool,
    pub dry_run: bool,
    pub input: PathBuf,
    pub grace: String,
    pub nameservers: Vec<String>,
    pub root: PathBuf,
}

/// The unit files under `root`.
fn unit_paths(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join(UNIT_DIR);
    (
        dir.join(format!("{UNIT}.service")),
        dir.join(format!("{UNIT}.timer")),
    )
}

/// `systemctl ARGS`, offline (`--root=ROOT`) when the root is not `/`.
fn systemctl(root: &Path, args: &[&str]) -> CommandLine {
    let mut command = CommandLine::new("systemctl");
    if root != Path::new("/") {
        command = command.arg(format!("--root={}", root.display()));
    }
    command.args(args.iter().copied())
}

/// What installing runs after the files are written.
pub fn install_plan(root: &Path) -> Plan {
    let timer = format!("{UNIT}.timer");
    if root != Path::new("/") {
        return Plan::from(vec![Step::new(systemctl(root, &["enable", &timer]))]);
    }
    Plan::from(vec![
        Step::new(systemctl(root, &["daemon-reload"])),
        Step::new(systemctl(root, &["enable", "--now", &timer]))
            .described(format!("Enabling and starting {timer}")),
    ])
}

/// What removing runs before the files go (and, live, after).
pub fn remove_plans(root: &Path) -> (Plan, Plan) {
    let timer = format!("{UNIT}.timer");
    if root != Path::new("/") {
        return (
            Plan::from(vec![Step::new(systemctl(root, &["disable", &timer]))]),
            Plan::new(),
        );
    }
    (
        Plan::from(vec![Step::new(systemctl(
            root,
            &["disable", "--now", &timer],
        ))]),
        Plan::from(vec![Step::new(systemctl(root, &["daemon-reload"]))]),
    )
}

/// Every systemctl command line, for the real-tool conformance replay.
pub fn sample_plans() -> Vec<Plan> {
    let mut plans = Vec::new();
    for root in [Path::new("/"), Path::new("/mnt/image")] {
        plans.push(install_plan(root));
        let (before, after) = remove_plans(root);
        plans.push(before);
        plans.push(after);
    }
    plans
}

/// The scheduled command: this binary, the global options that reach the
/// cluster, `egress apply --quiet` and the look-up options given here.
fn exec_argv(target: &Target, options: &ScheduleOptions, dir: &Path) -> Result<Vec<String>> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("cannot find this binary's absolute path")?;
    let mut argv = vec![
        exe.display().to_string(),
        "--quiet".to_string(),
        "-n".into(),
        target.namespace.clone(),
        "--release".into(),
        target.release.clone(),
    ];
    if target.tools == ToolFlavor::Plain {
        argv.extend(["--tools".into(), "plain".into()]);
    }
    if let Some(kubeconfig) = &target.kubeconfig {
        argv.push(format!("--kubeconfig={}", dir.join(kubeconfig).display()));
    }
    if let Some(context) = &target.context {
        argv.push(format!("--context={context}"));
    }
    argv.extend([
        "egress".into(),
        "apply".into(),
        "-i".into(),
        dir.join(&options.input).display().to_string(),
        format!("--grace={}", options.grace),
    ]);
    for server in &options.nameservers {
        argv.push(format!("--nameserver={server}"));
    }
    Ok(argv)
}

pub async fn run(target: &Target, options: &ScheduleOptions) -> Result<Outcome> {
    let runner = Runner::new(options.dry_run);
    let (service_path, timer_path) = unit_paths(&options.root);
    if options.remove {
        let (before, after) = remove_plans(&options.root);
        if options.dry_run {
            output::info("binderctl: dry run: nothing removed; the commands and files:");
        }
        // A timer that was never installed is no error: nothing to disable.
        if timer_path.exists() || options.dry_run {
            runner.execute(&before).await?;
        }
        for path in [&timer_path, &service_path] {
            if options.dry_run {
                output::data(&format!("rm -f {}\n", path.display()));
            } else if let Err(err) = std::fs::remove_file(path) {
                if err.kind() != std::io::ErrorKind::NotFound {
                    bail!("cannot remove {}: {err}", path.display());
                }
            }
        }
        runner.execute(&after).await?;
        if !options.dry_run {
            output::info(&format!("binderctl: {UNIT}.timer and .service removed"));
        }
        return Ok(Outcome::Success);
    }
    super::policies::check_namespace(&target.namespace)?;
    grace_is_valid(&options.grace)?;
    let every = every(target, options).await?;
    let dir = std::env::current_dir().context("cannot read the working folder")?;
    let exec = exec_argv(target, options, &dir)?;
    let service = systemd::service(&exec, &dir.display().to_string())
        .map_err(|e| anyhow::anyhow!("{}: {e}", service_path.display()))?;
    let timer = systemd::timer(every);
    if options.dry_run {
        output::info("binderctl: dry run: nothing written; the unit files and the commands:");
        output::data(&format!(
            "# {}\n{service}\n# {}\n{timer}\n",
            service_path.display(),
            timer_path.display()
        ));
        runner.execute(&install_plan(&options.root)).await?;
        return Ok(Outcome::Success);
    }
    if let Some(dir) = service_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for (path, text) in [(&service_path, &service), (&timer_path, &timer)] {
        crate::fsutil::write_atomic(path, text.as_bytes())?;
        // systemd warns about (and some versions refuse) writable units.
        set_mode_644(path)?;
    }
    runner.execute(&install_plan(&options.root)).await?;
    output::info(&format!(
        "binderctl: {UNIT}.timer runs `binderctl egress apply` every {}s (journalctl -u \
         {UNIT} shows each run)",
        every.as_secs()
    ));
    Ok(Outcome::Success)
}

#[cfg(unix)]
fn set_mode_644(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode_644(_path: &Path) -> Result<()> {
    Ok(())
}

fn grace_is_valid(grace: &str) -> Result<()> {
    parse_duration(grace).context("--grace")?;
    Ok(())
}

/// The interval: as given, or (`auto`) from the shortest TTL the last apply
/// recorded in the policies.
async fn every(target: &Target, options: &ScheduleOptions) -> Result<Duration> {
    if options.every != "auto" {
        let every = parse_duration(&options.every).context("--every")?;
        if every < Duration::from_secs(60) {
            bail!("--every {}: at least a minute", options.every);
        }
        return Ok(every);
    }
    let tools = Tools::for_target(target);
    let held =
        super::policies::read_policies(&Runner::new(false), &tools, &target.namespace).await?;
    let Some(ttl) = held.shortest_ttl() else {
        bail!(
            "--every auto: no policy in namespace {} records the DNS TTLs of its last apply \
             (run `binderctl egress apply` first), or give an interval (--every 15m)",
            target.namespace
        );
    };
    Ok(systemd::auto_interval(ttl))
}
