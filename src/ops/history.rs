//! `binderctl history` and `binderctl rollback [REVISION]`: Helm's release
//! history, and going back to an earlier revision (asked first, then
//! waited for like `deploy`, with the same failure report).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::cluster::confirm::confirm;
use crate::cluster::duration::parse_duration;
use crate::cluster::helm::chart_version;
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::cluster::tools::Tools;
use crate::error::{NotConfirmed, Outcome};
use crate::output::format::OutputOptions;
use crate::output::table::{format_table_styled, TableStyle};
use crate::output::{self, format};

/// What `rollback` is asked to do.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    pub revision: Option<u64>,
    pub yes: bool,
    pub dry_run: bool,
    pub wait_timeout: String,
}

/// What `history` is asked to do.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    pub max: u32,
    pub output: OutputOptions,
}

/// One entry of `helm history -o json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Revision {
    pub revision: u64,
    pub updated: String,
    pub status: String,
    pub chart: String,
    pub app_version: String,
    pub description: String,
}

/// `history -o json|yaml` (documented field names).
#[derive(Debug, Serialize)]
pub struct RevisionRecord {
    pub revision: u64,
    pub updated: String,
    pub status: String,
    pub chart: String,
    pub chart_version: Option<String>,
    pub app_version: String,
    pub description: String,
}

impl RevisionRecord {
    pub fn new(r: &Revision) -> Self {
        RevisionRecord {
            revision: r.revision,
            updated: r.updated.clone(),
            status: r.status.clone(),
            chart: r.chart.clone(),
            chart_version: chart_version(&r.chart).map(str::to_string),
            app_version: r.app_version.clone(),
            description: r.description.clone(),
        }
    }
}

/// `helm history RELEASE -n NS --max=N -o json`.
pub fn history_command(tools: &Tools, release: &str, namespace: &str, max: u32) -> CommandLine {
    tools.helm([
        "history".to_string(),
        release.to_string(),
        "-n".to_string(),
        namespace.to_string(),
        format!("--max={max}"),
        "-o".to_string(),
        "json".to_string(),
    ])
}

/// `helm rollback RELEASE REVISION -n NS --cleanup-on-fail`; binderctl waits
/// for the rollout itself (Helm 3 and 4 spell `--wait` differently).
pub fn rollback_plan(tools: &Tools, release: &str, namespace: &str, revision: u64) -> Plan {
    let mut plan = Plan::new();
    plan.push(
        Step::new(tools.helm([
            "rollback".to_string(),
            release.to_string(),
            revision.to_string(),
            "-n".to_string(),
            namespace.to_string(),
            "--cleanup-on-fail".to_string(),
        ]))
        .described(format!(
            "helm rollback of release {release} to revision {revision}"
        ))
        .with_progress(),
    );
    plan
}

/// Sample plans for the conformance registry.
pub fn sample_plans() -> Vec<Plan> {
    [ToolFlavor::Microk8s, ToolFlavor::Plain]
        .into_iter()
        .map(|flavor| {
            let tools = Tools::new(flavor);
            let mut plan = Plan::new();
            plan.push_command(history_command(&tools, "binder", "binder", 256));
            plan.steps
                .extend(rollback_plan(&tools, "binder", "binder", 13).steps);
            plan
        })
        .collect()
}

/// `2024-05-21T10:02:11.894736189+02:00` as `2024-05-21 10:02`.
fn short_time(updated: &str) -> String {
    match (updated.get(..10), updated.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => updated.to_string(),
    }
}

pub fn format_history(revisions: &[Revision], style: TableStyle) -> String {
    let rows: Vec<Vec<String>> = revisions
        .iter()
        .map(|r| {
            let mut row = vec![
                r.revision.to_string(),
                short_time(&r.updated),
                r.status.clone(),
                chart_version(&r.chart).unwrap_or(&r.chart).to_string(),
            ];
            if style.wide {
                row.extend([r.app_version.clone(), r.description.clone()]);
            }
            row
        })
        .collect();
    let headers: &[&str] = if style.wide {
        &[
            "REVISION",
            "UPDATED",
            "STATUS",
            "CHART VERSION",
            "APP VERSION",
            "DESCRIPTION",
        ]
    } else {
        &["REVISION", "UPDATED", "STATUS", "CHART VERSION"]
    };
    format_table_styled(headers, &rows, style)
}

async fn read_history(
    runner: &Runner,
    tools: &Tools,
    target: &Target,
    max: u32,
) -> Result<Vec<Revision>> {
    let command = history_command(tools, &target.release, &target.namespace, max);
    let captured = runner.probe(&command).await?;
    if !captured.success() && captured.stderr.contains("release: not found") {
        anyhow::bail!(
            "no Helm release {:?} in namespace {:?} (pass --release or -n)",
            target.release,
            target.namespace
        );
    }
    if !captured.success() {
        output::tool_stderr(&captured.stderr);
        return Err(crate::error::ToolFailed {
            command: command.to_string(),
            code: captured.code,
            printed: captured.stdout.clone(),
        }
        .into());
    }
    let mut revisions: Vec<Revision> = serde_json::from_str(&captured.stdout)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    revisions.sort_by_key(|r| r.revision);
    Ok(revisions)
}

pub async fn history(target: &Target, options: &HistoryOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let revisions = read_history(&Runner::new(false), &tools, target, options.max).await?;
    let records: Vec<RevisionRecord> = revisions.iter().map(RevisionRecord::new).collect();
    format::print(
        &options.output,
        &records,
        || revisions.iter().map(|r| r.revision.to_string()).collect(),
        |style| format_history(&revisions, style),
    )?;
    Ok(Outcome::Success)
}

/// Which revision to go back to, from the latest one (as Helm counts):
/// the one asked for (it must be in the history), else the newest earlier
/// revision that was deployed successfully (after a failed upgrade, the
/// last good one).
pub fn rollback_target(
    revisions: &[Revision],
    asked: Option<u64>,
) -> Result<(&Revision, &Revision)> {
    let current = revisions
        .last()
        .ok_or_else(|| anyhow::anyhow!("the release has no history to roll back to"))?;
    let target = match asked {
        Some(n) => revisions.iter().find(|r| r.revision == n).ok_or_else(|| {
            let known: Vec<String> = revisions.iter().map(|r| r.revision.to_string()).collect();
            anyhow::anyhow!(
                "revision {n} is not in the release's history (known: {}; `binderctl history` lists them)",
                known.join(", ")
            )
        })?,
        None => revisions
            .iter()
            .rev()
            .filter(|r| r.revision < current.revision)
            .find(|r| matches!(r.status.as_str(), "deployed" | "superseded"))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no earlier revision of the release was deployed successfully; name one \
                     (`binderctl history` lists them)"
                )
            })?,
    };
    if target.revision == current.revision {
        anyhow::bail!("revision {} is the latest one already", current.revision);
    }
    Ok((current, target))
}

fn describe(r: &Revision) -> String {
    format!(
        "revision {} ({}, chart {}, {})",
        r.revision,
        r.status,
        chart_version(&r.chart).unwrap_or(&r.chart),
        short_time(&r.updated)
    )
}

pub async fn rollback(target: &Target, options: &RollbackOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let runner = Runner::new(options.dry_run);
    let wait_timeout = parse_duration(&options.wait_timeout).context("--wait-timeout")?;
    let revisions = read_history(&runner, &tools, target, 256).await?;
    let (current, chosen) = rollback_target(&revisions, options.revision)?;
    let question = format!(
        "Roll back release {} in namespace {} from {} to {}?",
        target.release,
        target.namespace,
        describe(current),
        describe(chosen)
    );
    let plan = rollback_plan(&tools, &target.release, &target.namespace, chosen.revision);
    if runner.is_dry_run() {
        output::info(&format!("binderctl: dry run: {question}"));
        runner.execute(&plan).await?;
        return Ok(Outcome::Success);
    }
    if !confirm(&question, options.yes).await? {
        return Err(NotConfirmed("nothing rolled back".into()).into());
    }
    runner.execute(&plan).await?;
    super::rollout::wait_or_report(&runner, &tools, &target.namespace, wait_timeout).await?;
    output::info(&format!(
        "Rolled back release {} to {}.",
        target.release,
        describe(chosen)
    ));
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revisions() -> Vec<Revision> {
        serde_json::from_str(
            r#"[{"revision":12,"updated":"2024-04-02T09:00:01.1+02:00","status":"superseded","chart":"binderhub-1.0.0-0.dev.git.3170.h84b1db9","app_version":"","description":"Upgrade complete"},
                {"revision":13,"updated":"2024-05-14T09:12:03.2+02:00","status":"superseded","chart":"binderhub-1.0.0-0.dev.git.3506.hba24eb2a","app_version":"","description":"Upgrade complete"},
                {"revision":14,"updated":"2024-05-21T10:02:11.8+02:00","status":"deployed","chart":"binderhub-1.0.0-0.dev.git.3620.h0d3c3ec5","app_version":"","description":"Upgrade complete"}]"#,
        )
        .unwrap()
    }

    #[test]
    fn the_target_defaults_to_the_revision_before_the_deployed_one() {
        let revs = revisions();
        let (current, target) = rollback_target(&revs, None).unwrap();
        assert_eq!((current.revision, target.revision), (14, 13));
        let (_, target) = rollback_target(&revs, Some(12)).unwrap();
        assert_eq!(target.revision, 12);
        let err = rollback_target(&revs, Some(7)).unwrap_err().to_string();
        assert!(err.contains("known: 12, 13, 14"), "{err}");
        assert!(rollback_target(&revs, Some(14)).is_err());
        assert!(rollback_target(&revs[..1], None).is_err());
        assert!(rollback_target(&[], None).is_err());
        // After a failed upgrade: back to the last good revision.
        let mut failed = revs.clone();
        failed.push(Revision {
            revision: 15,
            status: "failed".into(),
            ..revs[2].clone()
        });
        let (current, target) = rollback_target(&failed, None).unwrap();
        assert_eq!((current.revision, target.revision), (15, 14));
        failed[2].status = "failed".into();
        assert_eq!(rollback_target(&failed, None).unwrap().1.revision, 13);
    }

    #[test]
    fn plans_in_both_flavours() {
        let plans = sample_plans();
        assert_eq!(
            plans[0].render(),
            "microk8s helm history binder -n binder --max=256 -o json\n\
             microk8s helm rollback binder 13 -n binder --cleanup-on-fail\n"
        );
        assert!(plans[1].render().starts_with("helm history binder"));
    }

    #[test]
    fn the_table_fits_80_columns() {
        let table = format_history(&revisions(), TableStyle::default());
        assert!(table.lines().all(|l| l.len() <= 80), "{table}");
        assert!(
            table.contains(
                "14         2024-05-21 10:02   deployed     1.0.0-0.dev.git.3620.h0d3c3ec5"
            ),
            "{table}"
        );
        let wide = format_history(
            &revisions(),
            TableStyle {
                wide: true,
                headers: true,
            },
        );
        assert!(wide.contains("Upgrade complete"));
    }
}
