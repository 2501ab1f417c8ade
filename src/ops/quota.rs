//! `binderctl quota show|apply`: the namespace's ResourceQuota.

use crate::error::ShownPath;
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::cluster::manifest;
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{Outcome, Problems};
use crate::output;
use crate::output::format;
use crate::output::format::OutputOptions;
use crate::output::table::{format_table_styled, TableStyle};

use std::path::PathBuf;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QuotaList {
    #[serde(default)]
    pub items: Vec<Quota>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Quota {
    #[serde(default)]
    pub metadata: QuotaMeta,
    #[serde(default)]
    pub status: QuotaStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QuotaMeta {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QuotaStatus {
    #[serde(default)]
    pub hard: BTreeMap<String, String>,
    #[serde(default)]
    pub used: BTreeMap<String, String>,
}

/// `kubectl get resourcequota -n NS -o json`.
pub fn show_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl(["get", "resourcequota", "-n", namespace, "-o", "json"])
}

/// `kubectl apply -n NS -f FILE`.
pub fn apply_plan(tools: &Tools, namespace: &str, file: &str) -> Plan {
    let mut plan = Plan::new();
    plan.push(
        Step::new(tools.kubectl(["apply", "-n", namespace, "-f", file])).described(format!(
            "Applying the ResourceQuota in {file} to namespace {namespace}"
        )),
    );
    plan
}

/// One resource of one quota, as `quota show -o json|yaml` shows it
/// (documented field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaRecord {
    pub quota: String,
    pub resource: String,
    pub used: String,
    pub hard: String,
}

/// One record per quota and resource; `used` is `0` when not reported.
pub fn quota_records(quotas: &[Quota]) -> Vec<QuotaRecord> {
    quotas
        .iter()
        .flat_map(|q| {
            q.status
                .hard
                .iter()
                .map(move |(resource, hard)| QuotaRecord {
                    quota: q.metadata.name.clone(),
                    resource: resource.clone(),
                    used: q
                        .status
                        .used
                        .get(resource)
                        .cloned()
                        .unwrap_or_else(|| "0".into()),
                    hard: hard.clone(),
                })
        })
        .collect()
}

/// The usage table: one row per quota and resource.
pub fn format_quotas(quotas: &[Quota]) -> String {
    format_quotas_styled(&quota_records(quotas), TableStyle::default())
}

fn format_quotas_styled(records: &[QuotaRecord], style: TableStyle) -> String {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.quota.clone(),
                r.resource.clone(),
                r.used.clone(),
                r.hard.clone(),
            ]
        })
        .collect();
    format_table_styled(&["QUOTA", "RESOURCE", "USED", "HARD"], &rows, style)
}

/// Read and check a ResourceQuota file for `namespace`: it parses, every
/// document is a v1 ResourceQuota with a name and a `spec.hard` mapping, and
/// any `metadata.namespace` is the target namespace (kubectl would refuse).
pub fn check_file(path: &Path, namespace: &str) -> Result<()> {
    let shown = path.shown().to_string();
    let text = crate::ops::input::read_text(path)?;
    let manifests = manifest::check(&shown, &text, "ResourceQuota", "v1")?;
    let mut problems = Vec::new();
    for (i, m) in manifests.iter().enumerate() {
        let at = format!("{shown}: document {} ({})", i + 1, m.name);
        match m.document.get("spec").and_then(|s| s.get("hard")) {
            Some(hard) if hard.as_mapping().is_some_and(|h| !h.is_empty()) => {}
            _ => problems.push(format!(
                "{at}: key `spec.hard` must list the limits (e.g. `pods: \"120\"`)"
            )),
        }
        if let Some(ns) = &m.namespace {
            if ns != namespace {
                problems.push(format!(
                    "{at}: metadata.namespace is {ns:?} but the target namespace is {namespace:?}; \
                     fix the file or pass -n {ns}"
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Problems(problems).into());
    }
    Ok(())
}

/// `quota show`'s options.
#[derive(Debug, Clone)]
pub struct ShowOptions {
    pub output: OutputOptions,
}
/// `quota apply`'s options.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub file: PathBuf,
    pub dry_run: bool,
}

pub async fn show(target: &Target, options: &ShowOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let ShowOptions { output } = options;

    let list: QuotaList = Runner::new(false)
        .query_json(&show_command(&tools, &target.namespace))
        .await?;
    if list.items.is_empty() && format::is_table(output) {
        output::info(&format!(
            "No ResourceQuota in namespace {}; `binderctl quota apply` sets one.",
            target.namespace
        ));
    } else {
        let records = quota_records(&list.items);
        let mut names: Vec<String> = list
            .items
            .iter()
            .map(|q| format!("resourcequota/{}", q.metadata.name))
            .collect();
        names.dedup();
        format::print(
            output,
            &records,
            || names,
            |style| format_quotas_styled(&records, style),
        )?;
    }
    Ok(Outcome::Success)
}

pub async fn apply(target: &Target, options: &ApplyOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let ApplyOptions { file, dry_run } = options;

    check_file(file, &target.namespace)?;
    let file_arg = file.to_str().with_context(|| {
        format!(
            "{}: the path is not valid UTF-8; rename the file",
            file.shown()
        )
    })?;
    Runner::new(*dry_run)
        .execute(&apply_plan(&tools, &target.namespace, file_arg))
        .await?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    #[test]
    fn commands() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        assert_eq!(
            show_command(&tools, "binder").to_string(),
            "microk8s kubectl get resourcequota -n binder -o json"
        );
        assert_eq!(
            apply_plan(&tools, "binder", "./my quota.yaml").render(),
            "microk8s kubectl apply -n binder -f './my quota.yaml'\n"
        );
    }

    #[test]
    fn usage_table_lists_every_resource() {
        let json = r#"{"items": [{"metadata": {"name": "q"}, "status": {"hard": {"pods": "120", "limits.cpu": "48"}, "used": {"pods": "11"}}}]}"#;
        let list: QuotaList = serde_json::from_str(json).unwrap();
        assert_eq!(
            format_quotas(&list.items),
            "QUOTA   RESOURCE     USED   HARD\nq       limits.cpu   0      48\nq       pods         11     120\n"
        );
    }

    #[test]
    fn file_check_wants_limits_and_the_right_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rq.yaml");
        let good = "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q\n  namespace: binder\nspec:\n  hard:\n    pods: \"1\"\n";
        std::fs::write(&path, good).unwrap();
        check_file(&path, "binder").unwrap();
        let err = check_file(&path, "other").unwrap_err().to_string();
        assert!(err.contains("metadata.namespace is \"binder\""), "{err}");
        std::fs::write(
            &path,
            good.replace("  hard:\n    pods: \"1\"\n", "  hard: {}\n"),
        )
        .unwrap();
        let err = check_file(&path, "binder").unwrap_err().to_string();
        assert!(err.contains("`spec.hard`"), "{err}");
        let err = check_file(&dir.path().join("missing.yaml"), "binder").unwrap_err();
        assert!(
            format!("{err:#}").contains("missing.yaml: cannot read"),
            "{err:#}"
        );
    }
}
