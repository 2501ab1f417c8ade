//! `deploy --version latest` and `versions --update`: the newest
//! development release of the chart, and the known breaking chart changes a
//! jump to it may cross (warned about before anything changes).

use anyhow::Result;

use super::versions::{search_command, versions_newest_first, ChartVersion};
use crate::cluster::helm::deployed_release;
use crate::cluster::plan::Plan;
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::output;

/// A chart change that needs the operator's attention, from the build
/// (chartpress' commit count, `1.0.0-0.dev.git.N.h…`) that first has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakingChange {
    pub build: u64,
    pub when: &'static str,
    pub what: &'static str,
}

/// The binderhub chart's breaking changes, oldest first (from its history:
/// the zero-to-jupyterhub 4 update merged on 2024-11-10, the image cleaner's
/// socket keys on 2025-11-04).
pub const BREAKING_CHANGES: [BreakingChange; 2] = [
    BreakingChange {
        build: 3524,
        when: "November 2024",
        what: "the chart moves to zero-to-jupyterhub 4 (JupyterHub 5, Kubernetes 1.28 or newer): \
               check the jupyterhub: section of your values against zero-to-jupyterhub's 4.0 \
               upgrade notes",
    },
    BreakingChange {
        build: 3859,
        when: "November 2025",
        what: "imageCleaner.host.dockerSocket is gone: set imageCleaner.host.dockerSocketDir and \
               imageCleaner.host.dockerSocketName instead (the chart refuses the old key)",
    },
];

/// The build number of a chart version: N of `…-0.dev.git.N.h…`; 0 for the
/// old `0.x` line (older than every change); `None` when unknown.
pub fn build_number(version: &str) -> Option<u64> {
    if version.starts_with("0.") {
        return Some(0);
    }
    let (_, rest) = version.split_once(".git.")?;
    rest.split('.').next()?.parse().ok()
}

/// The breaking changes between the deployed version and `to`.
pub fn crossed(from: &str, to: &str) -> Vec<BreakingChange> {
    let (Some(from), Some(to)) = (build_number(from), build_number(to)) else {
        return Vec::new();
    };
    BREAKING_CHANGES
        .iter()
        .filter(|c| from < c.build && c.build <= to)
        .copied()
        .collect()
}

/// The warning lines for a jump from `from` to `to`.
pub fn warnings(from: &str, to: &str) -> Vec<String> {
    crossed(from, to)
        .iter()
        .map(|c| {
            format!(
                "{from} -> {to} crosses a breaking chart change ({}): {}",
                c.when, c.what
            )
        })
        .collect()
}

/// Sample plans for the conformance registry: the refresh and the search
/// of `--version latest`, in both flavours (its deployed-release read is
/// `versions`' `helm list`, sampled with that command).
pub fn sample_plans() -> Vec<Plan> {
    [
        crate::cluster::tools::ToolFlavor::Microk8s,
        crate::cluster::tools::ToolFlavor::Plain,
    ]
    .into_iter()
    .map(|flavor| {
        let tools = Tools::new(flavor);
        let mut plan = Plan::new();
        if let Some(command) = super::versions::update_command(&tools, "jupyterhub/binderhub") {
            plan.push_command(command);
        }
        plan.push_command(search_command(&tools, "jupyterhub/binderhub"));
        plan
    })
    .collect()
}

/// The newest version of `chart` in Helm's cache (development releases
/// included), and a warning per breaking change between the deployed
/// release and it. Both reads run at once.
pub async fn resolve(
    runner: &Runner,
    tools: &Tools,
    target: &Target,
    chart: &str,
) -> Result<String> {
    let search = search_command(tools, chart);
    let (found, release) = tokio::join!(
        runner.query_json::<Vec<ChartVersion>>(&search),
        deployed_release(runner, tools, &target.namespace, &target.release)
    );
    let newest = versions_newest_first(&found?, chart)
        .into_iter()
        .next()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--version latest: the chart {chart} has no versions in Helm's repository cache \
                 (`binderctl versions --update` refreshes it)"
            )
        })?
        .version;
    output::info(&format!("binderctl: --version latest is {newest}"));
    if let Some(deployed) = release?
        .as_ref()
        .and_then(|r| r.chart_version().map(str::to_string))
    {
        for warning in warnings(&deployed, &newest) {
            output::warn(&warning);
        }
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_numbers() {
        assert_eq!(build_number("1.0.0-0.dev.git.3506.hba24eb2a"), Some(3506));
        assert_eq!(build_number("0.2.0-n886.h0c7d5b6"), Some(0));
        assert_eq!(build_number("1.0.0"), None);
        assert_eq!(build_number("1.0.0-0.dev.git.x.h1"), None);
    }

    #[test]
    fn jumps_across_each_change_are_warned_about() {
        let v = |n: u64| format!("1.0.0-0.dev.git.{n}.habcdef0");
        assert!(crossed(&v(3506), &v(3520)).is_empty());
        let both = crossed(&v(3506), &v(3900));
        assert_eq!(
            both.iter().map(|c| c.build).collect::<Vec<_>>(),
            [3524, 3859]
        );
        assert_eq!(
            crossed(&v(3524), &v(3900)).len(),
            1,
            "already past the first"
        );
        assert_eq!(
            crossed(&v(3523), &v(3524)).len(),
            1,
            "exactly at the change"
        );
        assert!(crossed(&v(3900), &v(3506)).is_empty(), "going back");
        assert!(crossed("1.0.0", &v(3900)).is_empty(), "unknown: no guess");
        let w = warnings(&v(3506), &v(3524));
        assert!(
            w[0].contains("zero-to-jupyterhub 4") && w[0].contains("November 2024"),
            "{w:?}"
        );
        let w = warnings(&v(3800), &v(3860));
        assert!(w[0].contains("imageCleaner.host.dockerSocketDir"), "{w:?}");
    }
}
