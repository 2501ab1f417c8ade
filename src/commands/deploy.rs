//! `binderctl deploy`: render, then `helm upgrade --install`, wait for the
//! rollout and say where the BinderHub answers.
//!
//! Everything that can be checked locally (secret.yaml, values files, the
//! render) is checked before anything changes: a failed check deploys
//! nothing.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_yaml::Value;

use super::status::{services_command, ServiceList};
use super::versions::deployed_release;
use crate::cli::{DeployCmd, GlobalArgs};
use crate::cluster::duration::{format_go, parse_duration};
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::{stderr_line, stdout_line, Runner};
use crate::cluster::tools::Tools;
use crate::commands::render::refuse_overwriting_input;
use crate::error::{Outcome, Problems};
use crate::fsutil;
use crate::ops::render::{self, warn};
use crate::values::{read, settings};

pub async fn run(global: &GlobalArgs, cmd: &DeployCmd) -> Result<Outcome> {
    let tools = Tools::new(global.tools);
    let runner = Runner::new(cmd.dry_run);

    // Local checks first: cheap, and they need no cluster.
    for w in check_secret(&cmd.secret)? {
        warn(&w);
    }
    for file in &cmd.values {
        render::read_values(file)?;
    }
    refuse_overwriting_input(&cmd.render)?;
    let wait_timeout = parse_duration(&cmd.wait_timeout).context("--wait-timeout")?;
    if let Some(v) = &cmd.version {
        validate_version(v)?;
    }

    let version = match &cmd.version {
        Some(v) => v.clone(),
        None => deployed_version(&runner, &tools, global).await?,
    };

    let rendered = render::render(&cmd.render).await.map_err(|e| {
        Problems(
            format!("{e:#}\nnothing deployed")
                .lines()
                .map(str::to_string)
                .collect(),
        )
    })?;
    stderr_line(&format!("binderctl: {}", rendered.summary));

    let repo_missing = match chart_repo(&cmd.chart) {
        Some(repo) => !repo_is_configured(&runner, &tools, repo).await?,
        None => false,
    };

    let plan = deploy_plan(&tools, global, cmd, &version, repo_missing);
    if runner.is_dry_run() {
        stderr_line(&format!(
            "binderctl: dry run: {} not written, nothing deployed",
            cmd.render.output.display()
        ));
        runner.execute(&plan).await?;
        return Ok(Outcome::Success);
    }

    fsutil::write_atomic(&cmd.render.output, rendered.text.as_bytes())?;
    runner.execute(&plan).await?;

    wait_for_rollout(&runner, &tools, &global.namespace, wait_timeout).await?;

    let services: ServiceList = runner
        .query_json(&services_command(&tools, &global.namespace))
        .await?;
    let binder = services.external_address("binder");
    let proxy = services.external_address("proxy-public");
    stdout_line(&format!(
        "binder:       {}",
        binder.as_deref().unwrap_or("(no external address yet)")
    ));
    stdout_line(&format!(
        "proxy-public: {}",
        proxy.as_deref().unwrap_or("(no external address yet)")
    ));

    if let Some(w) = hub_url_warning(&rendered.values, proxy.as_deref()) {
        warn(&w);
    }
    Ok(Outcome::Success)
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

/// The repository part of `repo/chart`, when the chart comes from one.
fn chart_repo(chart: &str) -> Option<&str> {
    let (repo, name) = chart.split_once('/')?;
    let local = chart.starts_with('.') || chart.starts_with('/') || chart.contains("://");
    (!local && !repo.is_empty() && !name.is_empty() && !name.contains('/')).then_some(repo)
}

#[derive(Debug, Deserialize)]
struct HelmRepo {
    #[serde(default)]
    name: String,
}

/// Whether Helm knows the chart repository. `helm repo list` exits 1 with
/// "no repositories to show" when there are none at all.
async fn repo_is_configured(runner: &Runner, tools: &Tools, repo: &str) -> Result<bool> {
    let command = tools.helm(["repo", "list", "-o", "json"]);
    let captured = runner.probe(&command).await?;
    if !captured.success() {
        if captured.stderr.contains("no repositories") {
            return Ok(false);
        }
        return runner.query(&command).await.map(|_| false);
    }
    let repos: Vec<HelmRepo> = serde_json::from_str(&captured.stdout)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    Ok(repos.iter().any(|r| r.name == repo))
}

/// The commands that change things, in order: the chart repository (added
/// when missing, always refreshed so the version is known), then the upgrade.
pub fn deploy_plan(
    tools: &Tools,
    global: &GlobalArgs,
    cmd: &DeployCmd,
    version: &str,
    repo_missing: bool,
) -> Plan {
    let mut plan = Plan::new();
    if let Some(repo) = chart_repo(&cmd.chart) {
        if repo_missing {
            plan.push_command(tools.helm(["repo", "add", repo, &cmd.chart_repo_url]));
        }
        plan.push_command(tools.helm(["repo", "update", repo]));
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
        .args(["-f".to_string(), path_arg(&cmd.render.output)]);
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

/// `kubectl rollout status` for each deployment of the namespace.
async fn wait_for_rollout(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
    timeout: std::time::Duration,
) -> Result<()> {
    let deployments: NameList = runner
        .query_json(&tools.kubectl(["get", "deployments", "-n", namespace, "-o", "json"]))
        .await?;
    for name in rollout_targets(&deployments) {
        let command = rollout_command(tools, namespace, &name, timeout);
        runner
            .run_with_progress(&command, &format!("rollout of deployment {name}"))
            .await?;
    }
    Ok(())
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

fn rollout_command(
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
pub fn hub_url_warning(values: &Value, proxy_public: Option<&str>) -> Option<String> {
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
             {proxy}: BinderHub would send users to the wrong place (update hub_url in binder.yaml \
             and deploy again)"
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
    let shown = path.display();
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
            Some(Value::String(s)) if is_placeholder(s) => problems.push(format!(
                "registry.{key}: still the template's placeholder; put the real value there"
            )),
            Some(Value::String(_)) => {}
            Some(other) => problems.push(format!(
                "registry.{key}: Helm reads it as {}, not as text; quote it",
                settings::kind(other)
            )),
        }
    }
    problems
}

/// `<dockerhub-token>`, `<Token>`, `<DockerHub user>`: the tutorial's
/// placeholders are words in angle brackets.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.starts_with('<') && v.ends_with('>')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, ToolFlavor};
    use clap::Parser;

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
        );
        assert_eq!(
            plan.render(),
            "helm repo update jupyterhub\n\
             helm upgrade --cleanup-on-fail --install binder jupyterhub/binderhub --version=1.2.3 \
             --namespace=binder --create-namespace -f 'my secret.yaml' -f _binder.yaml\n"
        );
    }

    #[test]
    fn local_charts_need_no_repository() {
        assert_eq!(chart_repo("jupyterhub/binderhub"), Some("jupyterhub"));
        assert_eq!(chart_repo("./charts/binderhub"), None);
        assert_eq!(chart_repo("/srv/binderhub"), None);
        assert_eq!(chart_repo("oci://registry.example/binderhub"), None);
        assert_eq!(chart_repo("binderhub"), None);
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
            hub_url_warning(&values("http://192.0.2.100"), Some("192.0.2.100")),
            None
        );
        assert_eq!(
            hub_url_warning(&values("http://192.0.2.100:80/hub/"), Some("192.0.2.100")),
            None
        );
        assert!(hub_url_warning(&values("http://192.0.2.99"), Some("192.0.2.100")).is_some());
        // A domain in front of proxy-public (reverse proxy) is not flagged.
        assert_eq!(
            hub_url_warning(&values("https://jupyter.lab.example"), Some("192.0.2.100")),
            None
        );
        // But a host name that is not proxy-public's host name is.
        assert!(
            hub_url_warning(&values("https://old.lab.example"), Some("lb.lab.example")).is_some()
        );
        assert_eq!(
            hub_url_warning(&values("http://[2001:db8::1]:8080"), Some("2001:db8::1")),
            None
        );
        assert_eq!(hub_url_warning(&values("http://192.0.2.99"), None), None);
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
