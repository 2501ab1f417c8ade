//! `binderctl deploy`: render, then `helm upgrade --install`, wait for the
//! rollout and say where the BinderHub answers.
//!
//! Everything that can be checked locally (secret.yaml, values files, the
//! render) is checked before anything changes: a failed check deploys
//! nothing.

use crate::error::ShownPath;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_yaml::Value;

use super::status::{services_command, ServiceList};
use crate::cli::{DeployCmd, GlobalArgs};
use crate::cluster::duration::{format_go, parse_duration};
use crate::cluster::helm::{self, deployed_release};
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::tools::Tools;
use crate::commands::render::{refuse_overwriting_input, render_interruptibly};
use crate::error::{Interrupted, Outcome, Problems};
use crate::fsutil;
use crate::ops::render::{self, warn};
use crate::output;
use crate::values::{read, settings};

pub async fn run(global: &GlobalArgs, cmd: &DeployCmd) -> Result<Outcome> {
    let tools = Tools::from_global(global);
    let runner = Runner::new(cmd.dry_run);

    // Local checks first: cheap, and they need no cluster.
    for w in check_secret(&cmd.secret)? {
        warn(&w);
    }
    let mut extra_values = Vec::with_capacity(cmd.values.len());
    for file in &cmd.values {
        extra_values.push((file, render::read_values(file)?));
    }
    let mut inputs = vec![("the secret file", cmd.secret.as_path())];
    inputs.extend(
        cmd.values
            .iter()
            .map(|f| ("a values file given with -f", f.as_path())),
    );
    refuse_overwriting_input(&cmd.render, &inputs)?;
    let wait_timeout = parse_duration(&cmd.wait_timeout).context("--wait-timeout")?;
    let latest = cmd.version.as_deref() == Some("latest");
    if let Some(v) = cmd.version.as_ref().filter(|_| !latest) {
        validate_version(v)?;
    }

    // The preflight reads (deployed release, repository list, egress
    // policy, with --diff the deployed values) and the render's lookups
    // depend on none of each other: all at once.
    let version = async {
        match &cmd.version {
            // Resolved once the repository is fresh, below.
            Some(_) if latest => Ok(String::new()),
            Some(v) => Ok(v.clone()),
            None => deployed_version(&runner, &tools, global).await,
        }
    };
    let repo_missing = async {
        match helm::chart_repo(&cmd.chart) {
            Some(repo) => Ok(!helm::repo_is_configured(&runner, &tools, repo).await?),
            None => Ok::<_, anyhow::Error>(false),
        }
    };
    let rendered = async {
        // The cluster's DNS unless --nameserver names others.
        let args = super::nameservers::choose(&runner, &tools, &cmd.render, true).await?;
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
    let chart_permissions = crate::ops::permissions::for_chart_install(&global.namespace);
    let (mut version, rendered, repo_missing, policy, deployed_values, ()) = tokio::try_join!(
        version,
        rendered,
        repo_missing,
        // Its failure is judged below, once the render says the mode.
        super::egress::before_deploy(&runner, &tools, global),
        super::diff::deployed_for_diff(cmd.diff, &runner, &tools, global),
        // A chart half installed for want of a permission is worse than none.
        crate::ops::permissions::require(&runner, &tools, &chart_permissions),
    )?;
    // Before anything changes: refused where the policy is needed, a
    // warning where it is not.
    let policy = super::egress::policy_for_deploy(&rendered, policy, &global.namespace)?;
    output::info(&format!("binderctl: {}", rendered.summary));
    let mut placeholders =
        placeholder_problems(&rendered.values, &cmd.render.input.shown().to_string());
    for (file, values) in &extra_values {
        placeholders.extend(placeholder_problems(values, &file.shown().to_string()));
    }
    if !placeholders.is_empty() {
        placeholders.push("nothing deployed".into());
        return Err(Problems(placeholders).into());
    }
    if let Some(deployed) = deployed_values {
        super::diff::before_deploy(&runner, global, cmd, deployed.as_ref(), &rendered.values)
            .await?;
    }

    let refreshed = if latest {
        let (newest, refreshed) =
            super::latest::for_deploy(&runner, &tools, global, cmd, repo_missing).await?;
        version = newest;
        refreshed
    } else {
        false
    };

    if runner.is_dry_run() {
        // The printed upgrade must name a file that exists and holds this
        // render: a kept temporary file, not the output it did not write.
        let kept = keep_dry_run_render(&rendered.text)?;
        let plan = deploy_plan(&tools, global, cmd, &version, repo_missing, &kept);
        output::info(&format!(
            "binderctl: dry run: {} not written, nothing deployed; the render is kept in {} \
             for the commands below",
            cmd.render.output.shown(),
            kept.shown()
        ));
        runner.execute(&plan).await?;
        super::egress::after_deploy(&runner, &tools, global, &rendered, policy).await?;
        return Ok(Outcome::Success);
    }
    let mut plan = deploy_plan(
        &tools,
        global,
        cmd,
        &version,
        repo_missing,
        &cmd.render.output,
    );
    if refreshed {
        plan = Plan::from(plan.steps.split_off(plan.len().saturating_sub(1)));
    }

    fsutil::write_atomic_like(
        &cmd.render.output,
        rendered.text.as_bytes(),
        Some(&cmd.render.input),
    )?;
    run_plan(&runner, &tools, global, &plan).await?;
    // From here on the release is upgraded: a failure says so, and how to
    // go on, whatever went wrong (the cluster gone, a rollout stuck).
    let upgraded = |what: &str| {
        format!(
            "the release {} in namespace {} was upgraded, but {what}; `binderctl status` shows where it stands, `binderctl deploy` again finishes the job, `binderctl rollback` goes back to the previous revision",
            global.release, global.namespace
        )
    };
    let not_interrupted = |e: anyhow::Error, what: &str| {
        if e.downcast_ref::<Interrupted>().is_some() {
            e
        } else {
            e.context(upgraded(what))
        }
    };
    super::egress::after_deploy(&runner, &tools, global, &rendered, policy)
        .await
        .map_err(|e| not_interrupted(e, "the egress policy binderctl-egress was not applied"))?;

    super::logs::wait_or_report(&runner, &tools, &global.namespace, wait_timeout)
        .await
        .map_err(|e| not_interrupted(e, "its rollout was not seen to finish"))?;

    let services: ServiceList = runner
        .query_json(&services_command(&tools, &global.namespace))
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

    if let Some(w) = hub_url_warning(&rendered.values, proxy.as_deref(), &cmd.render.input) {
        warn(&w);
    }
    Ok(Outcome::Success)
}

/// Run the plan; its last step, the upgrade, is never stopped half-way: an
/// interrupt is passed on to Helm, and once Helm has finished the operator
/// hears what state the release is in and how to go on.
async fn run_plan(runner: &Runner, tools: &Tools, global: &GlobalArgs, plan: &Plan) -> Result<()> {
    let Some((upgrade, preparation)) = plan.steps.split_last() else {
        return Ok(());
    };
    for step in preparation {
        runner.run_step(step).await?;
    }
    let result = runner.run_to_completion(upgrade).await;
    if let Err(err) = &result {
        if err.downcast_ref::<Interrupted>().is_some() {
            let state = release_state(runner, tools, global).await;
            for line in recovery_advice(tools, global, state.as_deref()) {
                output::info(&line);
            }
        }
    }
    result.map(drop)
}

/// `helm status RELEASE -n NS -o json`.
pub fn release_status_command(tools: &Tools, release: &str, namespace: &str) -> CommandLine {
    tools.helm(["status", release, "-n", namespace, "-o", "json"])
}

/// The release's status as Helm reports it (`deployed`, `failed`,
/// `pending-upgrade`, …), if Helm says.
async fn release_state(runner: &Runner, tools: &Tools, global: &GlobalArgs) -> Option<String> {
    let command = release_status_command(tools, &global.release, &global.namespace);
    let captured = runner
        .probe_after_interrupt(&command, std::time::Duration::from_secs(20))
        .await
        .ok()?;
    let status: Value = serde_json::from_str(&captured.stdout).ok()?;
    Some(status.get("info")?.get("status")?.as_str()?.to_string())
}

/// What to tell the operator after an interrupted upgrade.
fn recovery_advice(tools: &Tools, global: &GlobalArgs, state: Option<&str>) -> Vec<String> {
    let (release, namespace) = (global.release.as_str(), global.namespace.as_str());
    let history = tools.helm(["history", release, "-n", namespace]);
    let rollback = tools.helm(["rollback", release, "-n", namespace]);
    let state = match state {
        Some(state) => format!("Helm reports release {release} as {state}"),
        None => format!("the state of release {release} could not be read"),
    };
    if state.ends_with(" as deployed") {
        return vec![
            format!("binderctl: the helm upgrade finished after the interrupt; {state}."),
            "binderctl: the rollout was not waited for: check with `binderctl status`, or run \
             `binderctl deploy` again."
                .to_string(),
        ];
    }
    vec![
        format!("binderctl: the helm upgrade stopped after the interrupt; {state}."),
        format!("binderctl: see what happened with `{history}`;"),
        format!(
            "binderctl: run `binderctl deploy` again to finish the upgrade, or `{rollback}` \
             to go back to the previous revision."
        ),
    ]
}

/// The chart version of the release already deployed.
async fn deployed_version(runner: &Runner, tools: &Tools, global: &GlobalArgs) -> Result<String> {
    let release = deployed_release(runner, tools, &global.namespace, &global.release).await?;
    let Some(release) = release else {
        anyhow::bail!(
            "no Helm release {:?} in namespace {:?} to take the chart version from; pass \
             --version (`binderctl versions` lists them)",
            global.release,
            global.namespace
        );
    };
    match release.chart_version() {
        Some(v) => Ok(v.to_string()),
        None => anyhow::bail!(
            "release {:?} reports chart {:?}, which carries no version; pass --version",
            global.release,
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
    global: &GlobalArgs,
    cmd: &DeployCmd,
    version: &str,
    repo_missing: bool,
    rendered: &Path,
) -> Plan {
    let mut plan = Plan::new();
    if let Some(repo) = helm::chart_repo(&cmd.chart) {
        plan = helm::repository_plan(tools, repo, &cmd.chart_repo_url, !repo_missing);
    }
    let mut upgrade = tools
        .helm([
            "upgrade",
            "--cleanup-on-fail",
            "--install",
            &global.release,
            &cmd.chart,
        ])
        .arg(format!("--version={version}"))
        .arg(format!("--namespace={}", global.namespace))
        .arg("--create-namespace")
        .args(["-f".to_string(), path_arg(&cmd.secret)])
        .args(["-f".to_string(), path_arg(rendered)]);
    for extra in &cmd.values {
        upgrade = upgrade.args(["-f".to_string(), path_arg(extra)]);
    }
    plan.push(
        Step::new(upgrade)
            .described(format!("helm upgrade of release {}", global.release))
            .with_progress(),
    );
    plan
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[derive(Debug, Deserialize)]
struct NameList {
    #[serde(default)]
    items: Vec<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    metadata: Metadata,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
}

/// `kubectl rollout status` for each deployment of the namespace, all
/// within `timeout` in total: each gets what is left of it.
pub async fn wait_for_rollout(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
    timeout: std::time::Duration,
) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    let deployments: NameList = runner
        .query_json(&deployments_command(tools, namespace))
        .await?;
    for name in rollout_targets(&deployments) {
        let left = remaining(deadline, std::time::Instant::now()).ok_or_else(|| {
            anyhow::anyhow!(
                "the rollout did not finish within --wait-timeout {} (for all deployments \
                 together); deployment {name} and any after it were not waited for",
                format_go(timeout)
            )
        })?;
        let command = rollout_command(tools, namespace, &name, left);
        runner
            .run_with_progress(&command, &format!("rollout of deployment {name}"))
            .await?;
    }
    Ok(())
}

/// What is left until `deadline`, in whole seconds rounded up (kubectl
/// reads `--timeout=0s` as no limit); `None` once it has passed.
fn remaining(deadline: std::time::Instant, now: std::time::Instant) -> Option<std::time::Duration> {
    let left = deadline.checked_duration_since(now)?;
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    (secs > 0).then(|| std::time::Duration::from_secs(secs))
}

/// `kubectl get deployments -n NS -o json`.
pub fn deployments_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl(["get", "deployments", "-n", namespace, "-o", "json"])
}

fn rollout_targets(list: &NameList) -> Vec<String> {
    let mut names: Vec<String> = list
        .items
        .iter()
        .map(|d| d.metadata.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names
}

/// `kubectl rollout status deployment/NAME -n NS --timeout=T`.
pub fn rollout_command(
    tools: &Tools,
    namespace: &str,
    name: &str,
    timeout: std::time::Duration,
) -> CommandLine {
    tools
        .kubectl([
            "rollout",
            "status",
            &format!("deployment/{name}"),
            "-n",
            namespace,
        ])
        .arg(format!("--timeout={}", format_go(timeout)))
}

/// BinderHub sends users to `config.BinderHub.hub_url`; warn when its host
/// is not proxy-public's external address (a reverse proxy in front, with a
/// host name, is fine and not flagged).
pub fn hub_url_warning(values: &Value, proxy_public: Option<&str>, input: &Path) -> Option<String> {
    let hub_url = values
        .get("config")?
        .get("BinderHub")?
        .get("hub_url")?
        .as_str()?;
    let proxy = proxy_public?;
    let host = url_host(hub_url)?;
    let host_is_address = host.parse::<std::net::IpAddr>().is_ok();
    let proxy_is_address = proxy.parse::<std::net::IpAddr>().is_ok();
    let same = host.eq_ignore_ascii_case(proxy);
    (!same && (host_is_address || !proxy_is_address)).then(|| {
        format!(
            "config.BinderHub.hub_url is {hub_url}, but proxy-public's external address is \
             {proxy}: BinderHub would send users to the wrong place (update hub_url in {} \
             and deploy again)",
            input.shown()
        )
    })
}

/// The host of an http(s) URL (`http://192.0.2.100:8080/x` → `192.0.2.100`,
/// `http://[2001:db8::1]:80` → `2001:db8::1`).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

/// Check secret.yaml without ever printing what it holds: it exists, parses,
/// has `registry.username` and `registry.password` that are not the
/// template's placeholders. Returns warnings (loose permissions).
pub fn check_secret(path: &Path) -> Result<Vec<String>> {
    let shown = path.shown();
    let text = match std::fs::metadata(path) {
        Ok(_) => crate::ops::input::read_text(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{shown}: not found; create it with the registry credentials:\n  registry:\n    \
             username: <registry user>\n    password: <access token>\nand make it private: chmod 600 {shown}"
        ),
        Err(e) => return Err(e).with_context(|| format!("{shown}: cannot read")),
    };
    let (mut problems, mut warnings) = read_secret(&text);
    if !problems.is_empty() {
        problems
            .iter_mut()
            .for_each(|p| *p = format!("{shown}: {p}"));
        problems.push("nothing deployed".into());
        return Err(Problems(problems).into());
    }
    warnings.iter_mut().for_each(|w| *w = format!("{shown}{w}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                warnings.push(format!(
                    "{shown} holds a registry token but is readable by others (mode {mode:04o}); \
                     chmod 600 {shown}"
                ));
            }
        }
    }
    Ok(warnings)
}

/// What is wrong with secret.yaml's text, and warnings (each starting with
/// `:LINE:COLUMN: ` or `: `, for the file name); never quotes a value. It is
/// read as Helm reads it.
fn read_secret(text: &str) -> (Vec<String>, Vec<String>) {
    let reading = match read::parse_values(text, "") {
        Ok(reading) => reading,
        // Positions and keys only: the reader never quotes a value.
        Err(e) => {
            let message = format!("{e:#}");
            let message = message.strip_prefix(':').unwrap_or(&message);
            return (
                vec![format!("not valid YAML for Helm at {message}")],
                Vec::new(),
            );
        }
    };
    let mut warnings: Vec<String> = reading
        .notes
        .iter()
        .map(|n| n.describe_hidden(""))
        .collect();
    if reading.notes_left_out > 0 {
        warnings.push(format!(
            ": {} more values like these are not listed",
            reading.notes_left_out
        ));
    }
    (secret_problems(&reading.value), warnings)
}

/// What is wrong with secret.yaml's values; never quotes a value.
fn secret_problems(values: &Value) -> Vec<String> {
    let Some(registry) = values.get("registry").and_then(Value::as_mapping) else {
        return vec!["no `registry` section with `username` and `password`".into()];
    };
    let mut problems = Vec::new();
    for key in ["username", "password"] {
        match registry.get(key) {
            None => problems.push(format!("registry.{key}: missing")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                problems.push(format!("registry.{key}: empty"))
            }
            Some(Value::String(s))
                if is_placeholder(s) || (key == "username" && placeholder_in(s).is_some()) =>
            {
                problems.push(format!(
                    "registry.{key}: still the template's placeholder; put the real value there"
                ))
            }
            Some(Value::String(_)) => {}
            Some(other) => problems.push(format!(
                "registry.{key}: Helm reads it as {}, not as text; quote it",
                settings::kind(other)
            )),
        }
    }
    let url = registry.get("url").and_then(Value::as_str);
    if url.and_then(placeholder_in).is_some() {
        problems.push(
            "registry.url: still holds the template's placeholder; put the real value there".into(),
        );
    }
    problems
}

/// `<dockerhub-token>`, `<Token>`, `<DockerHub user>`: the tutorial's
/// placeholders are words in angle brackets.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.starts_with('<') && v.ends_with('>')
}

/// The first `<…>` placeholder inside `value` (`<dockerhub-username>/binder-`).
fn placeholder_in(value: &str) -> Option<&str> {
    let start = value.find('<')?;
    let len = value.get(start..)?.find('>')?;
    let inner = value.get(start + 1..start + len)?;
    let word = !inner.trim().is_empty() && !inner.contains(['<', '\n']);
    word.then(|| value.get(start..=start + len)).flatten()
}

/// The values that still hold the tutorial's placeholders, one line each,
/// naming the file and key: `config.BinderHub.image_prefix` and `hub_url`
/// and `registry.url` / `registry.username` (a `<…>` anywhere), and
/// `registry.password` (wholly a placeholder; never quoted).
pub fn placeholder_problems(values: &Value, file: &str) -> Vec<String> {
    let text_at = |path: &[&str]| {
        path.iter()
            .try_fold(values, |v, key| v.get(key))
            .and_then(Value::as_str)
    };
    let mut problems = Vec::new();
    for path in [
        &["config", "BinderHub", "image_prefix"][..],
        &["config", "BinderHub", "hub_url"],
        &["registry", "url"],
        &["registry", "username"],
    ] {
        if let Some(placeholder) = text_at(path).and_then(placeholder_in) {
            problems.push(format!(
                "{file}: {} still holds the tutorial's placeholder {placeholder}; put the real \
                 value there",
                path.join(".")
            ));
        }
    }
    if text_at(&["registry", "password"]).is_some_and(is_placeholder) {
        problems.push(format!(
            "{file}: registry.password is still the tutorial's placeholder; put the real value there"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, ToolFlavor};
    use clap::Parser;

    fn hub_url_warning_in(values: &Value, proxy: Option<&str>) -> Option<String> {
        hub_url_warning(values, proxy, Path::new("lab.yaml"))
    }

    #[test]
    fn the_rollout_wait_is_a_total() {
        let start = std::time::Instant::now();
        let deadline = start + std::time::Duration::from_secs(600);
        let at = |secs: f64| start + std::time::Duration::from_secs_f64(secs);
        assert_eq!(remaining(deadline, start).unwrap().as_secs(), 600);
        assert_eq!(remaining(deadline, at(420.0)).unwrap().as_secs(), 180);
        assert_eq!(remaining(deadline, at(599.5)).unwrap().as_secs(), 1);
        assert_eq!(remaining(deadline, at(600.0)), None);
        assert_eq!(remaining(deadline, at(700.0)), None);
    }

    #[test]
    fn hub_url_warning_names_the_input_file() {
        let values: Value =
            serde_yaml::from_str("config: {BinderHub: {hub_url: 'http://192.0.2.99'}}").unwrap();
        let w = hub_url_warning(&values, Some("192.0.2.100"), Path::new("lab.yaml")).unwrap();
        assert!(w.contains("update hub_url in lab.yaml"), "{w}");
    }

    fn parse(args: &[&str]) -> (GlobalArgs, DeployCmd) {
        let mut argv = vec!["binderctl"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.command {
            Command::Deploy(cmd) => (cli.global, cmd),
            other => panic!("not deploy: {other:?}"),
        }
    }

    #[test]
    fn plan_adds_missing_repo_then_upgrades_with_every_values_file() {
        let (global, cmd) = parse(&[
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
            &global,
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
        let (global, cmd) = parse(&["--tools", "plain", "deploy", "--secret", "my secret.yaml"]);
        let plan = deploy_plan(
            &Tools::new(ToolFlavor::Plain),
            &global,
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
    fn secret_values_helm_reads_as_non_text_are_warned_about_without_the_value() {
        let (problems, warnings) =
            read_secret("registry:\n  username: lab\n  password: s3cret\n  email: no\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            warnings,
            [
                ":4:10: registry.email: an unquoted value that Helm reads as a boolean, not as \
              text; quote it if text was meant"
            ]
        );
    }

    #[test]
    fn secret_checks_never_quote_the_values() {
        let token = "dckr_pat_SECRET123";
        assert_eq!(
            read_secret(&format!(
                "registry:\n  username: lab\n  password: {token}\n"
            )),
            (Vec::new(), Vec::new())
        );
        let cases = [
            (
                "registry:\n  username: lab\n".to_string(),
                "registry.password: missing",
            ),
            (
                format!("registry:\n  username: '<dockerhub-username>'\n  password: {token}\n"),
                "registry.username: still the template's placeholder",
            ),
            (
                "registry:\n  username: lab\n  password: '  '\n".to_string(),
                "registry.password: empty",
            ),
            (
                format!("registry:\n  username: <dockerhub-username>-bot\n  password: {token}\n"),
                "registry.username: still the template's placeholder",
            ),
            (
                format!(
                    "registry:\n  url: https://<registry-host>\n  username: lab\n  password: {token}\n"
                ),
                "registry.url: still holds the template's placeholder",
            ),
            (
                format!("registry:\n  username: lab\n  password: [{token}]\n"),
                "registry.password: Helm reads it as a list, not as text",
            ),
            (
                format!("username: lab\npassword: {token}\n"),
                "no `registry` section",
            ),
            (
                format!("registry:\n  username: lab\n  password: \"{token}\n"),
                "not valid YAML for Helm at 3:",
            ),
            (
                "registry:\n  username: lab\n  password: yes\n".to_string(),
                "registry.password: Helm reads it as a boolean, not as text; quote it",
            ),
            (
                "registry:\n  username: lab\n  password: 010\n".to_string(),
                "registry.password: Helm reads it as a number",
            ),
        ];
        for (text, expected) in cases {
            let problems = read_secret(&text).0.join("\n");
            assert!(problems.contains(expected), "{text:?}: {problems}");
            assert!(!problems.contains(token), "token leaked: {problems}");
        }
    }

    #[test]
    fn placeholders_are_found_with_their_file_and_key() {
        let values: Value = serde_yaml::from_str(
            "config:\n  BinderHub:\n    image_prefix: <dockerhub-username>/binder-\n    \
             hub_url: <jupyterhub-url>\nregistry:\n  url: https://<registry>/v2\n  \
             password: <dockerhub-token>\n",
        )
        .unwrap();
        let problems = placeholder_problems(&values, "binder.yaml");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with(
            "binder.yaml: config.BinderHub.image_prefix still holds the tutorial's placeholder \
             <dockerhub-username>"
        ));
        assert!(problems[1].contains("config.BinderHub.hub_url"));
        assert!(problems[2].contains("registry.url"));
        assert!(problems[3].starts_with("binder.yaml: registry.password is still"));
        assert!(!problems[3].contains("dockerhub-token"));
        let real: Value = serde_yaml::from_str(
            "config:\n  BinderHub:\n    image_prefix: lab/binder-\n    hub_url: http://192.0.2.100\n",
        )
        .unwrap();
        assert!(placeholder_problems(&real, "binder.yaml").is_empty());
        assert_eq!(placeholder_in("a <b> c"), Some("<b>"));
        assert_eq!(placeholder_in("a < b"), None);
        assert_eq!(placeholder_in("<>"), None);
    }

    #[test]
    fn recovery_advice_follows_the_release_state() {
        let (global, _) = parse(&["deploy"]);
        let tools = Tools::new(ToolFlavor::Microk8s);
        let failed = recovery_advice(&tools, &global, Some("failed")).join("\n");
        assert!(
            failed.contains("Helm reports release binder as failed"),
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
        let unknown = recovery_advice(&tools, &global, None).join("\n");
        assert!(unknown.contains("could not be read"), "{unknown}");
        let done = recovery_advice(&tools, &global, Some("deployed")).join("\n");
        assert!(done.contains("finished after the interrupt"), "{done}");
        assert!(done.contains("binderctl status"), "{done}");
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

    #[test]
    fn hub_url_is_compared_with_proxy_public() {
        let values = |url: &str| -> Value {
            serde_yaml::from_str(&format!("config:\n  BinderHub:\n    hub_url: {url}\n")).unwrap()
        };
        assert_eq!(
            hub_url_warning_in(&values("http://192.0.2.100"), Some("192.0.2.100")),
            None
        );
        assert_eq!(
            hub_url_warning_in(&values("http://192.0.2.100:80/hub/"), Some("192.0.2.100")),
            None
        );
        assert!(hub_url_warning_in(&values("http://192.0.2.99"), Some("192.0.2.100")).is_some());
        // A domain in front of proxy-public (reverse proxy) is not flagged.
        assert_eq!(
            hub_url_warning_in(&values("https://jupyter.lab.example"), Some("192.0.2.100")),
            None
        );
        // But a host name that is not proxy-public's host name is.
        assert!(
            hub_url_warning_in(&values("https://old.lab.example"), Some("lb.lab.example"))
                .is_some()
        );
        assert_eq!(
            hub_url_warning_in(&values("http://[2001:db8::1]:8080"), Some("2001:db8::1")),
            None
        );
        assert_eq!(hub_url_warning_in(&values("http://192.0.2.99"), None), None);
    }

    #[test]
    fn rollout_waits_for_each_deployment_in_order() {
        let list: NameList = serde_json::from_str(r#"{"items":[{"metadata":{"name":"proxy"}},{"metadata":{"name":"binder"}},{"metadata":{"name":"hub"}}]}"#).unwrap();
        assert_eq!(rollout_targets(&list), ["binder", "hub", "proxy"]);
        let tools = Tools::new(ToolFlavor::Microk8s);
        assert_eq!(
            rollout_command(&tools, "binder", "hub", std::time::Duration::from_secs(600))
                .to_string(),
            "microk8s kubectl rollout status deployment/hub -n binder --timeout=10m"
        );
    }
}
