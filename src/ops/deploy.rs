//! `binderctl deploy`: render, then `helm upgrade --install`, wait for the
//! rollout and say where the BinderHub answers.
//!
//! Everything that can be checked locally (secret.yaml, values files, the
//! render) is checked before anything changes: a failed check deploys
//! nothing.

use crate::error::ShownPath;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_yaml::Value;

use super::status::{services_command, ServiceList};
use crate::cluster::duration::parse_duration;
use crate::cluster::helm::{self, deployed_release};
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{Interrupted, Outcome, Problems};
use crate::fsutil;
use crate::ops::render::{self, warn};
use crate::ops::render::{refuse_overwriting_input, render_interruptibly};
use crate::output;

use crate::ops::preflight::check_secret;
use crate::ops::preflight::hub_url_warning;
use crate::ops::preflight::placeholder_problems;
use crate::ops::render::RenderOptions;

/// What `deploy` is asked to do.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub render: RenderOptions,
    pub version: Option<String>,
    pub values: Vec<PathBuf>,
    pub secret: PathBuf,
    pub chart: String,
    pub chart_repo_url: String,
    pub wait_timeout: String,
    pub dry_run: bool,
    pub diff: bool,
    pub yes: bool,
}

pub async fn run(target: &Target, options: &DeployOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let runner = Runner::new(options.dry_run);

    // Local checks first: cheap, and they need no cluster.
    for w in check_secret(&options.secret)? {
        warn(&w);
    }
    let mut extra_values = Vec::with_capacity(options.values.len());
    for file in &options.values {
        extra_values.push((file, render::read_values(file)?));
    }
    let mut inputs = vec![("the secret file", options.secret.as_path())];
    inputs.extend(
        options
            .values
            .iter()
            .map(|f| ("a values file given with -f", f.as_path())),
    );
    refuse_overwriting_input(&options.render, &inputs)?;
    let wait_timeout = parse_duration(&options.wait_timeout).context("--wait-timeout")?;
    let latest = options.version.as_deref() == Some("latest");
    if let Some(v) = options.version.as_ref().filter(|_| !latest) {
        validate_version(v)?;
    }

    // The preflight reads (deployed release, repository list, egress
    // policy, with --diff the deployed values) and the render's lookups
    // depend on none of each other: all at once.
    let version = async {
        match &options.version {
            // Resolved once the repository is fresh, below.
            Some(_) if latest => Ok(String::new()),
            Some(v) => Ok(v.clone()),
            None => deployed_version(&runner, &tools, target).await,
        }
    };
    let repo_missing = async {
        match helm::chart_repo(&options.chart) {
            Some(repo) => Ok(!helm::repo_is_configured(&runner, &tools, repo).await?),
            None => Ok::<_, anyhow::Error>(false),
        }
    };
    let rendered = async {
        // The cluster's DNS unless --nameserver names others.
        let args = super::nameservers::choose(&runner, &tools, &options.render, true).await?;
        render_interruptibly(&args).await.map_err(|e| {
            if e.downcast_ref::<Interrupted>().is_some() {
                return e;
            }
            Problems(
                format!("{e:#}\nnothing deployed")
                    .lines()
                    .map(str::to_string)
                    .collect(),
            )
            .into()
        })
    };
    // The first failure stops the others: nothing waits for lookups whose
    // render cannot be deployed.
    let chart_permissions = crate::ops::permissions::for_chart_install(&target.namespace);
    let (mut version, rendered, repo_missing, policy, deployed_values, ()) = tokio::try_join!(
        version,
        rendered,
        repo_missing,
        // Its failure is judged below, once the render says the mode.
        super::egress::policies::before_deploy(&runner, &tools, target),
        super::diff::deployed_for_diff(options.diff, &runner, &tools, target),
        // A chart half installed for want of a permission is worse than none.
        crate::ops::permissions::require(&runner, &tools, &chart_permissions),
    )?;
    // Before anything changes: refused where the policy is needed, a
    // warning where it is not.
    let policy = super::egress::policies::policy_for_deploy(&rendered, policy, &target.namespace)?;
    output::info(&format!("binderctl: {}", rendered.summary));
    let mut placeholders =
        placeholder_problems(&rendered.values, &options.render.input.shown().to_string());
    for (file, values) in &extra_values {
        placeholders.extend(placeholder_problems(values, &file.shown().to_string()));
    }
    if !placeholders.is_empty() {
        placeholders.push("nothing deployed".into());
        return Err(Problems(placeholders).into());
    }
    if let Some(deployed) = deployed_values {
        super::diff::before_deploy(
            &runner,
            target,
            &super::diff::ValuesFiles {
                secret: &options.secret,
                input: &options.render.input,
                extra: &options.values,
            },
            options.yes,
            deployed.as_ref(),
            &rendered.values,
        )
        .await?;
    }

    let refreshed = if latest {
        let (newest, refreshed) =
            latest_version(&runner, &tools, target, options, repo_missing).await?;
        version = newest;
        refreshed
    } else {
        false
    };

    if runner.is_dry_run() {
        // The printed upgrade must name a file that exists and holds this
        // render: a kept temporary file, not the output it did not write.
        let kept = keep_dry_run_render(&rendered.text)?;
        let plan = deploy_plan(&tools, target, options, &version, repo_missing, &kept);
        output::info(&format!(
            "binderctl: dry run: {} not written, nothing deployed; the render is kept in {} \
             for the commands below",
            options.render.output.shown(),
            kept.shown()
        ));
        runner.execute(&plan).await?;
        super::egress::policies::after_deploy(&runner, &tools, target, &rendered, policy).await?;
        return Ok(Outcome::Success);
    }
    let mut plan = deploy_plan(
        &tools,
        target,
        options,
        &version,
        repo_missing,
        &options.render.output,
    );
    if refreshed {
        plan = Plan::from(plan.steps.split_off(plan.len().saturating_sub(1)));
    }

    fsutil::write_atomic_like(
        &options.render.output,
        rendered.text.as_bytes(),
        Some(&options.render.input),
    )?;
    run_plan(&runner, &tools, target, &plan).await?;
    // From here on the release is upgraded: a failure says so, and how to
    // go on, whatever went wrong (the cluster gone, a rollout stuck).
    let upgraded = |what: &str| {
        format!(
            "the release {} in namespace {} was upgraded, but {what}; `binderctl status` shows where it stands, `binderctl deploy` again finishes the job, `binderctl rollback` goes back to the previous revision",
            target.release, target.namespace
        )
    };
    let not_interrupted = |e: anyhow::Error, what: &str| {
        if e.downcast_ref::<Interrupted>().is_some() {
            e
        } else {
            e.context(upgraded(what))
        }
    };
    super::egress::policies::after_deploy(&runner, &tools, target, &rendered, policy)
        .await
        .map_err(|e| not_interrupted(e, "the egress policy binderctl-egress was not applied"))?;

    super::rollout::wait_or_report(&runner, &tools, &target.namespace, wait_timeout)
        .await
        .map_err(|e| not_interrupted(e, "its rollout was not seen to finish"))?;

    let services: ServiceList = runner
        .query_json(&services_command(&tools, &target.namespace))
        .await?;
    let binder = services.external_address("binder");
    let proxy = services.external_address("proxy-public");
    output::data_line(&format!(
        "binder:       {}",
        binder.as_deref().unwrap_or("(no external address yet)")
    ));
    output::data_line(&format!(
        "proxy-public: {}",
        proxy.as_deref().unwrap_or("(no external address yet)")
    ));

    if let Some(w) = hub_url_warning(&rendered.values, proxy.as_deref(), &options.render.input) {
        warn(&w);
    }
    Ok(Outcome::Success)
}

/// Run the plan; its last step, the upgrade, is never stopped half-way: an
/// interrupt is passed on to Helm. Once Helm has ended, interrupted or
/// failed (the API server gone, or the etcd behind it), the operator hears
/// what state the release is in, as far as Helm can still say, and how to
/// go on.
async fn run_plan(runner: &Runner, tools: &Tools, target: &Target, plan: &Plan) -> Result<()> {
    let Some((upgrade, preparation)) = plan.steps.split_last() else {
        return Ok(());
    };
    for step in preparation {
        runner.run_step(step).await?;
    }
    let result = runner.run_to_completion(upgrade).await;
    if let Err(err) = &result {
        let interrupted = err.downcast_ref::<Interrupted>().is_some();
        let state = release_state(runner, tools, target).await;
        for line in recovery_advice(tools, target, &state, interrupted) {
            output::info(&line);
        }
    }
    result.map(drop)
}

/// `helm status RELEASE -n NS -o json`.
pub fn release_status_command(tools: &Tools, release: &str, namespace: &str) -> CommandLine {
    tools.helm(["status", release, "-n", namespace, "-o", "json"])
}

/// What Helm says of the release after an upgrade that did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReleaseState {
    /// Its latest revision's status (`deployed`, `failed`,
    /// `pending-upgrade`, …).
    Known(String),
    /// Helm knows no such release.
    Absent,
    /// Helm could not say, and why.
    Unknown(String),
}

/// How long asking Helm for the release's state may take: Helm has no
/// request timeout of its own, and an API server whose etcd is gone keeps
/// a request for a minute.
const STATE_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// The release's status as Helm reports it (also after an interrupt).
async fn release_state(runner: &Runner, tools: &Tools, target: &Target) -> ReleaseState {
    let command = release_status_command(tools, &target.release, &target.namespace);
    let captured = match runner.probe_after_interrupt(&command, STATE_LIMIT).await {
        Ok(captured) => captured,
        Err(err) => return ReleaseState::Unknown(format!("{err:#}")),
    };
    if !captured.success() {
        if captured.stderr.contains("release: not found") {
            return ReleaseState::Absent;
        }
        let why = crate::cluster::runner::unanswered(&captured.stderr)
            .map(str::to_string)
            .unwrap_or_else(|| crate::ops::nodes::fanout::one_line(&captured.stderr));
        return ReleaseState::Unknown(why);
    }
    let status: Option<String> = serde_json::from_str::<Value>(&captured.stdout)
        .ok()
        .and_then(|v| Some(v.get("info")?.get("status")?.as_str()?.to_string()));
    match status {
        Some(status) => ReleaseState::Known(status),
        None => ReleaseState::Unknown(format!("`{command}` printed no status")),
    }
}

/// What to tell the operator after an upgrade that was interrupted or
/// failed: what Helm says was done, and the command that goes on from
/// there.
fn recovery_advice(
    tools: &Tools,
    target: &Target,
    state: &ReleaseState,
    interrupted: bool,
) -> Vec<String> {
    let (release, namespace) = (target.release.as_str(), target.namespace.as_str());
    let history = tools.helm(["history", release, "-n", namespace]);
    let rollback = tools.helm(["rollback", release, "-n", namespace]);
    let status = tools.helm(["status", release, "-n", namespace]);
    let how = if interrupted {
        "stopped after the interrupt"
    } else {
        "failed"
    };
    let state = match state {
        ReleaseState::Known(state) if state == "deployed" && interrupted => {
            return vec![
                format!(
                    "binderctl: the helm upgrade finished after the interrupt; Helm reports \
                     release {release} as deployed."
                ),
                "binderctl: the rollout was not waited for: check with `binderctl status`, or run \
                 `binderctl deploy` again."
                    .to_string(),
            ];
        }
        ReleaseState::Known(state) if state == "deployed" => {
            return vec![format!(
                "binderctl: the helm upgrade failed before it changed the release: Helm reports \
                 release {release} as deployed, as it was; run `binderctl deploy` again once the \
                 cause above is fixed."
            )];
        }
        ReleaseState::Absent => {
            return vec![format!(
                "binderctl: the helm upgrade {how}; Helm knows no release {release} in namespace \
                 {namespace}: nothing was installed. Run `binderctl deploy` again once the cause \
                 above is fixed."
            )];
        }
        ReleaseState::Unknown(why) => {
            return vec![
                format!(
                    "binderctl: the helm upgrade {how}, and the state of release {release} could \
                     not be read ({why}): the release may or may not have changed."
                ),
                format!(
                    "binderctl: once the API server answers, `{status}` says where it stands; \
                     `binderctl deploy` again finishes the upgrade, `{rollback}` goes back to the \
                     previous revision."
                ),
            ];
        }
        ReleaseState::Known(state) => state,
    };
    let mut advice = vec![
        format!("binderctl: the helm upgrade {how}; Helm reports release {release} as {state}."),
        format!("binderctl: see what happened with `{history}`;"),
    ];
    if state.starts_with("pending") {
        advice.push(format!(
            "binderctl: Helm refuses another upgrade while one is pending: `{rollback}` goes \
             back to the previous revision, then `binderctl deploy` again."
        ));
    } else {
        advice.push(format!(
            "binderctl: run `binderctl deploy` again to finish the upgrade, or `{rollback}` \
             to go back to the previous revision."
        ));
    }
    advice
}

/// The chart version of the release already deployed.
async fn deployed_version(runner: &Runner, tools: &Tools, target: &Target) -> Result<String> {
    let release = deployed_release(runner, tools, &target.namespace, &target.release).await?;
    let Some(release) = release else {
        anyhow::bail!(
            "no Helm release {:?} in namespace {:?} to take the chart version from; pass \
             --version (`binderctl versions` lists them)",
            target.release,
            target.namespace
        );
    };
    match release.chart_version() {
        Some(v) => Ok(v.to_string()),
        None => anyhow::bail!(
            "release {:?} reports chart {:?}, which carries no version; pass --version",
            target.release,
            release.chart
        ),
    }
}

/// A chart version goes onto Helm's command line: it must look like one.
fn validate_version(version: &str) -> Result<()> {
    let ok = !version.is_empty()
        && version.len() <= 128
        && version.starts_with(|c: char| c.is_ascii_digit() || c == 'v')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "--version {version:?} is not a chart version (e.g. 1.0.0-0.dev.git.3506.hba24eb2a; \
             `binderctl versions` lists them)"
        )
    }
}

/// Write a dry run's render to a new file in the temporary folder, kept
/// for the operator (only the operator may read it).
fn keep_dry_run_render(text: &str) -> Result<PathBuf> {
    use std::io::Write;
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0..16u32 {
        let name = format!(
            "binderctl-dry-run-{}-{:08x}.yaml",
            std::process::id(),
            nanos.wrapping_add(attempt.wrapping_mul(0x9e37_79b9))
        );
        let path = dir.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes())
                    .with_context(|| format!("{}: cannot write", path.shown()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("{}: cannot create", path.shown())),
        }
    }
    anyhow::bail!("cannot create a temporary file in {}", dir.shown())
}

/// The commands that change things, in order: the chart repository (added
/// when missing, always refreshed so the version is known), then the upgrade
/// with `rendered` (the render's file) after secret.yaml.
pub fn deploy_plan(
    tools: &Tools,
    target: &Target,
    options: &DeployOptions,
    version: &str,
    repo_missing: bool,
    rendered: &Path,
) -> Plan {
    let mut plan = Plan::new();
    if let Some(repo) = helm::chart_repo(&options.chart) {
        plan = helm::repository_plan(tools, repo, &options.chart_repo_url, !repo_missing);
    }
    let mut upgrade = tools
        .helm([
            "upgrade",
            "--cleanup-on-fail",
            "--install",
            &target.release,
            &options.chart,
        ])
        .arg(format!("--version={version}"))
        .arg(format!("--namespace={}", target.namespace))
        .arg("--create-namespace")
        .args(["-f".to_string(), path_arg(&options.secret)])
        .args(["-f".to_string(), path_arg(rendered)]);
    for extra in &options.values {
        upgrade = upgrade.args(["-f".to_string(), path_arg(extra)]);
    }
    plan.push(
        Step::new(upgrade)
            .described(format!("helm upgrade of release {}", target.release))
            .with_progress(),
    );
    plan
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `deploy --version latest`: refresh the repository (adding it when
/// missing) with the deploy plan's own first steps, then resolve; a dry run
/// reads the cache as it is. Returns the version and whether the refresh
/// ran (then the deploy runs only its upgrade step).
async fn latest_version(
    runner: &Runner,
    tools: &Tools,
    target: &Target,
    cmd: &DeployOptions,
    repo_missing: bool,
) -> Result<(String, bool)> {
    let refreshed = !runner.is_dry_run();
    if refreshed {
        let mut prep = deploy_plan(
            tools,
            target,
            cmd,
            "latest",
            repo_missing,
            &cmd.render.output,
        );
        prep.steps.pop();
        runner.execute(&prep).await?;
    } else {
        output::info("binderctl: dry run: --version latest from Helm's cache, not refreshed");
    }
    Ok((
        super::latest::resolve(runner, tools, target, &cmd.chart).await?,
        refreshed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, ToolFlavor};
    use clap::Parser;

    /// A deploy command line as the commands turn it into configuration.
    fn parse(args: &[&str]) -> (Target, DeployOptions) {
        let mut argv = vec!["binderctl"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.command {
            Command::Deploy(cmd) => (
                crate::commands::config::target(&cli.global),
                crate::commands::deploy::options(&cmd),
            ),
            other => panic!("not deploy: {other:?}"),
        }
    }

    #[test]
    fn plan_adds_missing_repo_then_upgrades_with_every_values_file() {
        let (target, cmd) = parse(&[
            "deploy",
            "-n",
            "hub",
            "--release",
            "bh",
            "-f",
            "extra.yaml",
            "-f",
            "more.yaml",
        ]);
        let tools = Tools::new(ToolFlavor::Microk8s);
        let plan = deploy_plan(
            &tools,
            &target,
            &cmd,
            "1.0.0-0.dev.git.3506.hba24eb2a",
            true,
            &cmd.render.output,
        );
        assert_eq!(
            plan.render(),
            format!(
                "microk8s helm repo add jupyterhub {}\n\
                 microk8s helm repo update jupyterhub\n\
                 microk8s helm upgrade --cleanup-on-fail --install bh jupyterhub/binderhub \
                 --version=1.0.0-0.dev.git.3506.hba24eb2a --namespace=hub --create-namespace \
                 -f secret.yaml -f _binder.yaml -f extra.yaml -f more.yaml\n",
                crate::cli::DEFAULT_CHART_REPO_URL
            )
        );
        assert!(plan.steps[2].progress);
    }

    #[test]
    fn plan_with_known_repo_and_plain_tools() {
        let (target, cmd) = parse(&["--tools", "plain", "deploy", "--secret", "my secret.yaml"]);
        let plan = deploy_plan(
            &Tools::new(ToolFlavor::Plain),
            &target,
            &cmd,
            "1.2.3",
            false,
            &cmd.render.output,
        );
        assert_eq!(
            plan.render(),
            "helm repo update jupyterhub\n\
             helm upgrade --cleanup-on-fail --install binder jupyterhub/binderhub --version=1.2.3 \
             --namespace=binder --create-namespace -f 'my secret.yaml' -f _binder.yaml\n"
        );
    }

    #[test]
    fn versions_are_validated() {
        for ok in [
            "1.0.0-0.dev.git.3506.hba24eb2a",
            "0.2.0-n886.h0c7d5b6",
            "v1.2.3",
            "1.2.3+build.1",
        ] {
            assert!(validate_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "latest", "1.0; rm", "--devel", "1.0 0"] {
            assert!(validate_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn recovery_advice_follows_the_release_state() {
        let (target, _) = parse(&["deploy"]);
        let tools = Tools::new(ToolFlavor::Microk8s);
        let known = |state: &str| ReleaseState::Known(state.to_string());
        let failed = recovery_advice(&tools, &target, &known("failed"), true).join("\n");
        assert!(
            failed.contains("stopped after the interrupt; Helm reports release binder as failed"),
            "{failed}"
        );
        assert!(
            failed.contains("`microk8s helm history binder -n binder`"),
            "{failed}"
        );
        assert!(
            failed.contains("`microk8s helm rollback binder -n binder`"),
            "{failed}"
        );
        let unknown = recovery_advice(
            &tools,
            &target,
            &ReleaseState::Unknown("the API server cannot be reached".into()),
            false,
        )
        .join("\n");
        assert!(
            unknown.contains("upgrade failed, and the state of release binder could not be read \
                              (the API server cannot be reached): the release may or may not have changed"),
            "{unknown}"
        );
        assert!(
            unknown.contains("`microk8s helm status binder -n binder`"),
            "{unknown}"
        );
        let done = recovery_advice(&tools, &target, &known("deployed"), true).join("\n");
        assert!(done.contains("finished after the interrupt"), "{done}");
        assert!(done.contains("binderctl status"), "{done}");
        let unchanged = recovery_advice(&tools, &target, &known("deployed"), false).join("\n");
        assert!(
            unchanged.contains("failed before it changed the release"),
            "{unchanged}"
        );
        let absent = recovery_advice(&tools, &target, &ReleaseState::Absent, false).join("\n");
        assert!(absent.contains("nothing was installed"), "{absent}");
        let pending = recovery_advice(&tools, &target, &known("pending-upgrade"), false).join("\n");
        assert!(
            pending.contains("refuses another upgrade while one is pending"),
            "{pending}"
        );
    }

    #[test]
    fn services_give_external_addresses() {
        let list: ServiceList = serde_json::from_str(
            r#"{"items":[
              {"metadata":{"name":"binder"},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.101"}]}}},
              {"metadata":{"name":"proxy-public"},"status":{"loadBalancer":{"ingress":[{"hostname":"hub.example"}]}}},
              {"metadata":{"name":"hub"},"status":{"loadBalancer":{}}}]}"#,
        )
        .unwrap();
        assert_eq!(
            list.external_address("binder").as_deref(),
            Some("192.0.2.101")
        );
        assert_eq!(
            list.external_address("proxy-public").as_deref(),
            Some("hub.example")
        );
        assert_eq!(list.external_address("hub"), None);
        assert_eq!(list.external_address("absent"), None);
    }
}
