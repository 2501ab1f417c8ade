//! Helm's command lines that several commands share, and reading Helm's
//! answers: the releases of a namespace (`helm list`, in a form Helm 3 and
//! Helm 4 both accept) and the chart repositories (`helm repo list|add|update`).

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::runner::Runner;
use crate::cluster::tools::Tools;

/// The JupyterHub project's Helm chart repository.
pub const DEFAULT_CHART_REPO_URL: &str = "https://jupyterhub.github.io/helm-chart/";

/// One entry of `helm list -o json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct HelmRelease {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub revision: String,
    #[serde(default)]
    pub updated: String,
    #[serde(default)]
    pub status: String,
    /// Chart name and version, e.g. `binderhub-1.0.0-0.dev.git.3506.hba24eb2a`.
    #[serde(default)]
    pub chart: String,
    #[serde(default)]
    pub app_version: String,
}

impl HelmRelease {
    /// The chart version part of `chart`.
    pub fn chart_version(&self) -> Option<&str> {
        chart_version(&self.chart)
    }
}

/// Every release status `helm list` can filter by. Helm 4 dropped `--all`;
/// naming each status works with Helm 3 and 4 alike and also shows a
/// release stuck in `pending-install`/`pending-upgrade`.
pub const EVERY_STATUS: [&str; 5] = [
    "--deployed",
    "--failed",
    "--pending",
    "--uninstalling",
    "--superseded",
];

/// `helm list -n NS --deployed --failed --pending --uninstalling
/// --superseded -o json`: every release in the namespace, whatever its state.
pub fn list_releases_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools
        .helm(["list", "-n", namespace])
        .args(EVERY_STATUS)
        .args(["-o", "json"])
}

/// Parse the answer of [`list_releases_command`].
pub fn parse_releases(stdout: &str) -> serde_json::Result<Vec<HelmRelease>> {
    serde_json::from_str(stdout)
}

/// Query Helm for the release `name` in `namespace` (read-only).
pub async fn deployed_release(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
    name: &str,
) -> Result<Option<HelmRelease>> {
    let command = list_releases_command(tools, namespace);
    let releases = parse_releases(&runner.query(&command).await?)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    Ok(releases.into_iter().find(|r| r.name == name))
}

/// The version in a `helm list` chart field: what follows the chart name,
/// i.e. the part after the first `-` that is followed by a digit
/// (`binderhub-1.0.0-0.dev.git.3506.hba24eb2a` -> `1.0.0-0.dev...`).
pub fn chart_version(chart: &str) -> Option<&str> {
    let bytes = chart.as_bytes();
    (0..bytes.len())
        .find(|&i| bytes.get(i) == Some(&b'-') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        .and_then(|i| chart.get(i + 1..))
}

/// The repository part of `repo/chart`, when the chart comes from one
/// (not a local folder, not an OCI or URL reference).
pub fn chart_repo(chart: &str) -> Option<&str> {
    let (repo, name) = chart.split_once('/')?;
    let local = chart.starts_with('.') || chart.starts_with('/') || chart.contains("://");
    (!local && !repo.is_empty() && !name.is_empty() && !name.contains('/')).then_some(repo)
}

/// `helm repo list -o json`.
pub fn repo_list_command(tools: &Tools) -> CommandLine {
    tools.helm(["repo", "list", "-o", "json"])
}

/// `helm repo add NAME URL`.
pub fn repo_add_command(tools: &Tools, name: &str, url: &str) -> CommandLine {
    tools.helm(["repo", "add", name, url])
}

/// `helm repo update NAME`: refresh one repository's index in Helm's cache.
pub fn repo_update_command(tools: &Tools, name: &str) -> CommandLine {
    tools.helm(["repo", "update", name])
}

/// The repository steps that make a chart's versions known: add the
/// repository when Helm does not know it, then refresh its index.
pub fn repository_plan(tools: &Tools, repo: &str, url: &str, configured: bool) -> Plan {
    let mut plan = Plan::new();
    if !configured {
        plan.push_command(repo_add_command(tools, repo, url));
    }
    plan.push_command(repo_update_command(tools, repo));
    plan
}

#[derive(Debug, Deserialize)]
struct HelmRepo {
    #[serde(default)]
    name: String,
}

/// Whether Helm knows the chart repository `repo` (read-only). `helm repo
/// list -o json` prints `[]` when there are none; older Helm versions exit 1
/// with "no repositories to show" instead.
pub async fn repo_is_configured(runner: &Runner, tools: &Tools, repo: &str) -> Result<bool> {
    let command = repo_list_command(tools);
    let captured = runner.probe(&command).await?;
    if !captured.success() {
        if captured.stderr.contains("no repositories") {
            return Ok(false);
        }
        // Shown from this answer: asking again would be a second call.
        return Err(crate::cluster::runner::failed(&command, &captured));
    }
    let repos: Vec<HelmRepo> = serde_json::from_str(&captured.stdout)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    Ok(repos.iter().any(|r| r.name == repo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::target::ToolFlavor;

    #[test]
    fn list_names_every_status_instead_of_all() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        assert_eq!(
            list_releases_command(&tools, "binder").to_string(),
            "microk8s helm list -n binder --deployed --failed --pending --uninstalling \
             --superseded -o json"
        );
        let plain = list_releases_command(&Tools::new(ToolFlavor::Plain), "ns");
        assert!(!plain.args.iter().any(|a| a == "--all"), "{plain}");
    }

    #[test]
    fn parses_releases_of_either_helm_line() {
        // Helm 3 and 4 print the same fields; Helm 4 may add more.
        let json = r#"[{"name":"binder","namespace":"binder","revision":"3","updated":"2024-05-21 10:02:11 +0000 UTC","status":"pending-upgrade","chart":"binderhub-1.0.0-0.dev.git.3506.hba24eb2a","app_version":"x","extra":1}]"#;
        let releases = parse_releases(json).unwrap();
        assert_eq!(releases[0].status, "pending-upgrade");
        assert_eq!(
            releases[0].chart_version(),
            Some("1.0.0-0.dev.git.3506.hba24eb2a")
        );
        assert!(parse_releases("[]").unwrap().is_empty());
        assert!(parse_releases("This MicroK8s deployment is acting as a node").is_err());
    }

    #[test]
    fn chart_version_follows_the_chart_name() {
        assert_eq!(
            chart_version("binderhub-1.0.0-0.dev.git.3506.hba24eb2a"),
            Some("1.0.0-0.dev.git.3506.hba24eb2a")
        );
        assert_eq!(
            chart_version("binderhub-service-0.1.0-0.dev.git.255.h8b3c5a1"),
            Some("0.1.0-0.dev.git.255.h8b3c5a1")
        );
        assert_eq!(chart_version("binderhub"), None);
        assert_eq!(chart_version(""), None);
        assert_eq!(chart_version("x-"), None);
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
    fn repository_commands() {
        let tools = Tools::new(ToolFlavor::Plain);
        assert_eq!(
            repo_add_command(&tools, "jupyterhub", "http://127.0.0.1:1/").to_string(),
            "helm repo add jupyterhub http://127.0.0.1:1/"
        );
        assert_eq!(
            repo_update_command(&tools, "jupyterhub").to_string(),
            "helm repo update jupyterhub"
        );
        assert_eq!(
            repo_list_command(&tools).to_string(),
            "helm repo list -o json"
        );
    }
}
