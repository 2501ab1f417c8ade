//! `binderctl versions`: the chart versions the Helm repository offers,
//! newest first, with the deployed one marked. With nothing in Helm's cache
//! (a fresh Helm) it adds and refreshes the chart repository first.

use std::cmp::Ordering;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cluster::helm::{self, deployed_release, HelmRelease};
use crate::cluster::plan::CommandLine;
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{Outcome, ToolFailed};
use crate::output;
use crate::output::format::OutputOptions;
use crate::output::table::{format_table_styled, TableStyle};
use crate::output::{format, plural};

use crate::cluster::plan::Plan;
use crate::cluster::plan::Step;
use crate::ops::versions::helm::chart_repo;

/// What `versions` is asked to do.
#[derive(Debug, Clone)]
pub struct VersionsOptions {
    pub limit: usize,
    pub chart: String,
    pub update: bool,
    pub output: OutputOptions,
    pub chart_repo_url: String,
}

/// One entry of `helm search repo -o json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ChartVersion {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub app_version: String,
    #[serde(default)]
    pub description: String,
}

/// `helm search repo CHART --versions --devel -o json`: every version in the
/// local repository cache, development releases included.
pub fn search_command(tools: &Tools, chart: &str) -> CommandLine {
    tools.helm([
        "search",
        "repo",
        chart,
        "--versions",
        "--devel",
        "-o",
        "json",
    ])
}

/// Helm's order of chart versions (`helm repo index` and `helm search repo`
/// sort with Masterminds' semver): major, minor, patch, then the
/// pre-release identifiers (numeric ones numerically and before
/// alphanumeric ones, a release after its pre-releases, so `...git.3506`
/// comes after `...git.3170`); build metadata does not count; a leading `v`
/// is allowed. Versions the `semver` crate cannot read sort before all
/// others, by text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parse = |v: &str| semver::Version::parse(v.strip_prefix('v').unwrap_or(v)).ok();
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x.cmp_precedence(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}

/// The versions of exactly `chart` (the search also matches longer names),
/// newest first, without duplicates.
pub fn versions_newest_first(found: &[ChartVersion], chart: &str) -> Vec<ChartVersion> {
    let mut versions: Vec<ChartVersion> =
        found.iter().filter(|v| v.name == chart).cloned().collect();
    versions.sort_by(|a, b| compare_versions(&b.version, &a.version));
    versions.dedup_by(|a, b| a.version == b.version);
    versions
}

/// A chart version as `versions -o json|yaml` shows it (documented field
/// names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRecord {
    pub version: String,
    pub app_version: String,
    pub deployed: bool,
}

/// The `versions` table: at most `limit` rows, the deployed one marked.
pub fn format_versions(versions: &[ChartVersion], deployed: Option<&str>, limit: usize) -> String {
    format_versions_styled(versions, deployed, limit, TableStyle::default())
}

fn format_versions_styled(
    versions: &[ChartVersion],
    deployed: Option<&str>,
    limit: usize,
    style: TableStyle,
) -> String {
    let rows: Vec<Vec<String>> = versions
        .iter()
        .take(limit)
        .map(|v| {
            let mark = if Some(v.version.as_str()) == deployed {
                "deployed"
            } else {
                ""
            };
            let mut row = vec![v.version.clone(), v.app_version.clone(), mark.to_string()];
            if style.wide {
                row.push(v.description.clone());
            }
            row
        })
        .collect();
    let headers: &[&str] = if style.wide {
        &["VERSION", "APP VERSION", "DEPLOYED", "DESCRIPTION"]
    } else {
        &["VERSION", "APP VERSION", "DEPLOYED"]
    };
    format_table_styled(headers, &rows, style)
}

/// What `helm search repo` found: the chart's versions, or that Helm has no
/// repositories at all ("no repositories configured", exit 1).
async fn search(runner: &Runner, tools: &Tools, chart: &str) -> Result<Vec<ChartVersion>> {
    let command = search_command(tools, chart);
    let captured = runner.probe(&command).await?;
    if !captured.success() && captured.stderr.contains("no repositories configured") {
        return Ok(Vec::new());
    }
    if !captured.success() {
        output::tool_stderr(&captured.stderr);
        return Err(ToolFailed {
            command: command.to_string(),
            code: captured.code,
            printed: captured.stdout.clone(),
        }
        .into());
    }
    let found: Vec<ChartVersion> = serde_json::from_str(&captured.stdout)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    Ok(versions_newest_first(&found, chart))
}

/// Helm's cache lists no version of the chart (a fresh Helm, or a cache
/// never refreshed): add and refresh the chart repository, once. The tools'
/// chatter is kept off stdout, which holds the table.
async fn fetch_repository(runner: &Runner, tools: &Tools, options: &VersionsOptions) -> Result<()> {
    let Some(repo) = helm::chart_repo(&options.chart) else {
        bail!(
            "the chart {} is not from a chart repository, so it has no versions to list",
            options.chart
        );
    };
    let configured = helm::repo_is_configured(runner, tools, repo).await?;
    let plan = helm::repository_plan(tools, repo, &options.chart_repo_url, configured);
    output::info(&format!(
        "Helm's cache has no versions of {}; {} the chart repository {repo}:",
        options.chart,
        if configured {
            "refreshing"
        } else {
            "adding and refreshing"
        }
    ));
    for command in plan.commands() {
        output::info(&format!("  {command}"));
        runner.query(command).await?;
    }
    Ok(())
}

pub async fn run(target: &Target, options: &VersionsOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let runner = Runner::new(false);
    if options.update {
        update(&tools, &options.chart).await?;
    }
    // The versions come from Helm's local cache, the deployed one from the
    // cluster: both at once.
    let (versions, release) = tokio::join!(
        search(&runner, &tools, &options.chart),
        deployed_release(&runner, &tools, &target.namespace, &target.release)
    );
    let mut versions = versions?;
    if versions.is_empty() {
        fetch_repository(&runner, &tools, options).await?;
        versions = search(&runner, &tools, &options.chart).await?;
    }
    if versions.is_empty() {
        bail!(
            "the chart repository holds no versions of {}; check the chart name (--chart) and \
             the repository URL (`{}` shows it)",
            options.chart,
            helm::repo_list_command(&tools)
        );
    }
    // When only the cluster read failed (Helm's error is shown), list anyway.
    let release = match release {
        Ok(release) => Some(release),
        Err(e) if e.downcast_ref::<ToolFailed>().is_some() => {
            output::info(&format!(
                "Cannot tell which version is deployed ({e}); the versions the repository offers:"
            ));
            None
        }
        Err(e) => return Err(e),
    };
    let deployed = release
        .as_ref()
        .and_then(|r| r.as_ref())
        .and_then(HelmRelease::chart_version);
    let shown = versions
        .get(..options.limit.min(versions.len()))
        .unwrap_or_default();
    let records: Vec<VersionRecord> = shown
        .iter()
        .map(|v| VersionRecord {
            version: v.version.clone(),
            app_version: v.app_version.clone(),
            deployed: Some(v.version.as_str()) == deployed,
        })
        .collect();
    format::print(
        &options.output,
        &records,
        || shown.iter().map(|v| v.version.clone()).collect(),
        |style| format_versions_styled(&versions, deployed, options.limit, style),
    )?;
    if release.is_none() {
        return Ok(Outcome::Success);
    }
    match deployed {
        Some(version) => {
            let position = versions.iter().position(|v| v.version == version);
            match position {
                Some(i) if i >= options.limit => output::info(&format!(
                    "Deployed: {version}, {} {} (not all shown; see --limit).",
                    plural(i, "newer version", "newer versions"),
                    if i == 1 { "exists" } else { "exist" }
                )),
                Some(_) => {}
                None => output::info(&format!(
                    "Deployed: {version}, which the repository cache does not list (`helm repo update` refreshes it)."
                )),
            }
        }
        None => output::info(&format!(
            "Release {} is not deployed in namespace {}.",
            target.release, target.namespace
        )),
    }
    Ok(Outcome::Success)
}

/// `helm repo update REPO`: refresh the chart's repository cache.
pub fn update_command(tools: &Tools, chart: &str) -> Option<CommandLine> {
    chart_repo(chart).map(|repo| tools.helm(["repo", "update", repo]))
}

/// Refresh the chart's repository (`versions --update`); a chart from a
/// folder or URL has no repository to refresh.
pub async fn update(tools: &Tools, chart: &str) -> Result<()> {
    let Some(command) = update_command(tools, chart) else {
        output::warn(&format!(
            "{chart} comes from no repository; nothing to update"
        ));
        return Ok(());
    };
    let mut plan = Plan::new();
    plan.push(Step::new(command).described(format!("Refreshing the repository of {chart}")));
    Runner::new(false).execute(&plan).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    #[test]
    fn dev_versions_order_by_commit_count() {
        use Ordering::*;
        assert_eq!(
            compare_versions(
                "1.0.0-0.dev.git.3506.hba24eb2a",
                "1.0.0-0.dev.git.3170.h84b1db9"
            ),
            Greater
        );
        assert_eq!(
            compare_versions("1.0.0-0.dev.git.999.h1", "1.0.0-0.dev.git.3170.h1"),
            Less
        );
        assert_eq!(
            compare_versions("1.0.0", "1.0.0-0.dev.git.3506.hba24eb2a"),
            Greater
        );
        assert_eq!(
            compare_versions("0.2.0-n886.h0c7d5b6", "1.0.0-0.dev.git.1.h1"),
            Less
        );
        assert_eq!(compare_versions("1.10.0", "1.9.0"), Greater);
        assert_eq!(compare_versions("1.0.0-alpha", "1.0.0-alpha.1"), Less);
        assert_eq!(compare_versions("1.0.0-1", "1.0.0-alpha"), Less);
        assert_eq!(compare_versions("1.0.0+build.1", "1.0.0"), Equal);
        assert_eq!(compare_versions("not-a-version", "0.0.1"), Less);
    }

    /// Helm's own order of a real chart repository: `helm repo index`
    /// writes each chart's entries newest first (Masterminds' semver). The
    /// index is read where it lies, next to the checkout.
    #[test]
    fn orders_the_shared_chart_index_as_helm_does() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/charts/index.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (the shared chart repository)", path.display()));
        let index: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let entries = index["entries"].as_mapping().expect("entries");
        assert!(!entries.is_empty(), "{}: no charts", path.display());
        for (chart, list) in entries {
            let chart = chart.as_str().unwrap();
            let helm_order: Vec<ChartVersion> = list
                .as_sequence()
                .unwrap()
                .iter()
                .map(|entry| ChartVersion {
                    name: chart.to_string(),
                    version: entry["version"].as_str().unwrap().to_string(),
                    ..ChartVersion::default()
                })
                .collect();
            assert!(helm_order.len() > 1, "{chart}: one version orders nothing");
            let mut shuffled = helm_order.clone();
            shuffled.reverse();
            shuffled.rotate_left(1);
            assert_eq!(
                versions_newest_first(&shuffled, chart),
                helm_order,
                "{chart} in {}",
                path.display()
            );
        }
    }

    #[test]
    fn keeps_only_the_chart_newest_first() {
        let v = |name: &str, version: &str| ChartVersion {
            name: name.into(),
            version: version.into(),
            ..ChartVersion::default()
        };
        let found = vec![
            v("jupyterhub/binderhub", "1.0.0-0.dev.git.3170.h84b1db9"),
            v("jupyterhub/binderhub-service", "9.0.0"),
            v("jupyterhub/binderhub", "1.0.0-0.dev.git.3620.h0d3c3ec5"),
            v("jupyterhub/binderhub", "1.0.0-0.dev.git.3506.hba24eb2a"),
            v("jupyterhub/binderhub", "1.0.0-0.dev.git.3506.hba24eb2a"),
        ];
        let sorted = versions_newest_first(&found, "jupyterhub/binderhub");
        let versions: Vec<&str> = sorted.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(
            versions,
            vec![
                "1.0.0-0.dev.git.3620.h0d3c3ec5",
                "1.0.0-0.dev.git.3506.hba24eb2a",
                "1.0.0-0.dev.git.3170.h84b1db9"
            ]
        );
        let table = format_versions(&sorted, Some("1.0.0-0.dev.git.3506.hba24eb2a"), 2);
        assert_eq!(
            table,
            "VERSION                          APP VERSION   DEPLOYED\n\
             1.0.0-0.dev.git.3620.h0d3c3ec5\n\
             1.0.0-0.dev.git.3506.hba24eb2a                 deployed\n"
        );
    }

    #[test]
    fn helm_commands() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        assert_eq!(
            search_command(&tools, "jupyterhub/binderhub").to_string(),
            "microk8s helm search repo jupyterhub/binderhub --versions --devel -o json"
        );
    }
}
