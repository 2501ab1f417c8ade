//! `binderctl storage ls|apply`: StorageClasses, and which one is the
//! default that volume claims without a class get.

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

/// The annotation that makes a StorageClass the default (and its old beta name).
pub const DEFAULT_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StorageClassList {
    #[serde(default)]
    pub items: Vec<StorageClass>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageClass {
    #[serde(default)]
    pub metadata: ClassMeta,
    #[serde(default)]
    pub provisioner: String,
    #[serde(default)]
    pub reclaim_policy: Option<String>,
    #[serde(default)]
    pub volume_binding_mode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ClassMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl StorageClass {
    pub fn is_default(&self) -> bool {
        DEFAULT_ANNOTATIONS.iter().any(|a| {
            self.metadata
                .annotations
                .get(*a)
                .is_some_and(|v| v.trim() == "true")
        })
    }
}

/// `kubectl get storageclass -o json`.
pub fn list_command(tools: &Tools) -> CommandLine {
    tools.kubectl(["get", "storageclass", "-o", "json"])
}

/// `kubectl apply -f FILE` (StorageClasses belong to no namespace).
pub fn apply_plan(tools: &Tools, file: &str) -> Plan {
    let mut plan = Plan::new();
    plan.push(
        Step::new(tools.kubectl(["apply", "-f", file]))
            .described(format!("Applying the StorageClass in {file}")),
    );
    plan
}

/// A StorageClass as `storage ls -o json|yaml` shows it (documented field
/// names; Kubernetes' defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassRecord {
    pub name: String,
    pub provisioner: String,
    pub reclaim_policy: String,
    pub volume_binding_mode: String,
    pub default: bool,
}

impl ClassRecord {
    pub fn new(class: &StorageClass) -> Self {
        ClassRecord {
            name: class.metadata.name.clone(),
            provisioner: class.provisioner.clone(),
            reclaim_policy: class
                .reclaim_policy
                .clone()
                .unwrap_or_else(|| "Delete".into()),
            volume_binding_mode: class
                .volume_binding_mode
                .clone()
                .unwrap_or_else(|| "Immediate".into()),
            default: class.is_default(),
        }
    }
}

/// NAME, PROVISIONER, DEFAULT; `-o wide` adds the reclaim policy and the
/// volume binding mode.
pub fn format_classes_styled(classes: &[StorageClass], style: TableStyle) -> String {
    let rows: Vec<Vec<String>> = classes
        .iter()
        .map(|c| {
            let r = ClassRecord::new(c);
            let mut row = vec![r.name, r.provisioner];
            if style.wide {
                row.extend([r.reclaim_policy, r.volume_binding_mode]);
            }
            row.push(if r.default { "yes" } else { "" }.to_string());
            row
        })
        .collect();
    let headers: &[&str] = if style.wide {
        &[
            "NAME",
            "PROVISIONER",
            "RECLAIMPOLICY",
            "VOLUMEBINDINGMODE",
            "DEFAULT",
        ]
    } else {
        &["NAME", "PROVISIONER", "DEFAULT"]
    };
    format_table_styled(headers, &rows, style)
}

/// A warning when no StorageClass, or more than one, is the default; with
/// the command that fixes it.
pub fn default_class_warning(tools: &Tools, classes: &[StorageClass]) -> Option<String> {
    let defaults: Vec<&str> = classes
        .iter()
        .filter(|c| c.is_default())
        .map(|c| c.metadata.name.as_str())
        .collect();
    let patch = |name: &str, value: &str| {
        let body = format!(
            r#"{{"metadata":{{"annotations":{{"{}":"{value}"}}}}}}"#,
            DEFAULT_ANNOTATIONS[0]
        );
        tools
            .kubectl(["patch", "storageclass", name, "-p", &body])
            .to_string()
    };
    match defaults.as_slice() {
        [_] => None,
        [] => {
            let example = classes.first().map(|c| c.metadata.name.as_str()).unwrap_or("NAME");
            Some(format!(
                "Warning: no StorageClass is the default, so volume claims without a storageClassName \
                 (the hub's database, user storage) stay Pending. Make one the default: {}",
                patch(example, "true")
            ))
        }
        [keep, others @ ..] => Some(format!(
            "Warning: {} StorageClasses are the default ({}); claims without a storageClassName then \
             get whichever Kubernetes picks. Keep one, e.g. {keep}, and unmark the others: {}",
            defaults.len(),
            defaults.join(", "),
            others.iter().map(|n| patch(n, "false")).collect::<Vec<_>>().join(" ; ")
        )),
    }
}

/// The classes after applying `applied`: same-named classes replaced.
pub fn after_apply(existing: &[StorageClass], applied: &[StorageClass]) -> Vec<StorageClass> {
    let mut classes: Vec<StorageClass> = existing
        .iter()
        .filter(|c| !applied.iter().any(|a| a.metadata.name == c.metadata.name))
        .cloned()
        .collect();
    classes.extend(applied.iter().cloned());
    classes
}

/// Read and check a StorageClass file: parses, every document is a
/// storage.k8s.io/v1 StorageClass with a name and a provisioner. Returns the
/// classes it defines.
pub fn check_file(path: &Path) -> Result<Vec<StorageClass>> {
    let shown = path.shown().to_string();
    let text = crate::ops::input::read_text(path)?;
    let manifests = manifest::check(&shown, &text, "StorageClass", "storage.k8s.io/v1")?;
    let mut problems = Vec::new();
    let mut classes = Vec::new();
    for (i, m) in manifests.iter().enumerate() {
        match serde_yaml::from_value::<StorageClass>(m.document.clone()) {
            Ok(class) if class.provisioner.trim().is_empty() => problems.push(format!(
                "{shown}: document {} ({}): key `provisioner` is missing (e.g. `provisioner: openebs.io/local`)",
                i + 1,
                m.name
            )),
            Ok(class) => classes.push(class),
            Err(e) => problems.push(format!("{shown}: document {} ({}): {e}", i + 1, m.name)),
        }
    }
    if !problems.is_empty() {
        return Err(Problems(problems).into());
    }
    Ok(classes)
}

async fn fetch(runner: &Runner, tools: &Tools) -> Result<Vec<StorageClass>> {
    let list: StorageClassList = runner.query_json(&list_command(tools)).await?;
    Ok(list.items)
}

/// `storage ls`'s options.
#[derive(Debug, Clone)]
pub struct ListOptions {
    pub output: OutputOptions,
}
/// `storage apply`'s options.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub file: PathBuf,
    pub dry_run: bool,
}

pub async fn list(target: &Target, options: &ListOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let ListOptions { output } = options;

    let classes = fetch(&Runner::new(false), &tools).await?;
    if classes.is_empty() && format::is_table(output) {
        output::info("No StorageClasses; `binderctl storage apply` creates one.");
    } else {
        let records: Vec<ClassRecord> = classes.iter().map(ClassRecord::new).collect();
        format::print(
            output,
            &records,
            || {
                let names = classes.iter().map(|c| &c.metadata.name);
                names.map(|n| format!("storageclass/{n}")).collect()
            },
            |style| format_classes_styled(&classes, style),
        )?;
    }
    if let Some(warning) = default_class_warning(&tools, &classes) {
        output::info(&warning);
    }
    Ok(Outcome::Success)
}

pub async fn apply(target: &Target, options: &ApplyOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let ApplyOptions { file, dry_run } = options;

    let applied = check_file(file)?;
    let file_arg = file.to_str().with_context(|| {
        format!(
            "{}: the path is not valid UTF-8; rename the file",
            file.shown()
        )
    })?;
    let runner = Runner::new(*dry_run);
    runner.execute(&apply_plan(&tools, file_arg)).await?;
    // With --dry-run, warn about the state the apply would lead to.
    let classes = if *dry_run {
        after_apply(&fetch(&runner, &tools).await?, &applied)
    } else {
        fetch(&runner, &tools).await?
    };
    if let Some(warning) = default_class_warning(&tools, &classes) {
        output::info(&warning);
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    fn class(name: &str, default: Option<&str>) -> StorageClass {
        let mut annotations = BTreeMap::new();
        if let Some(value) = default {
            annotations.insert(DEFAULT_ANNOTATIONS[0].to_string(), value.to_string());
        }
        StorageClass {
            metadata: ClassMeta {
                name: name.into(),
                annotations,
            },
            provisioner: "openebs.io/local".into(),
            ..StorageClass::default()
        }
    }

    #[test]
    fn exactly_one_default_is_quiet() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        let classes = vec![
            class("a", Some("true")),
            class("b", Some("false")),
            class("c", None),
        ];
        assert_eq!(default_class_warning(&tools, &classes), None);
    }

    #[test]
    fn warns_about_no_default_or_several() {
        let tools = Tools::new(ToolFlavor::Plain);
        let none = default_class_warning(&tools, &[class("a", None)]).unwrap();
        assert!(none.contains("no StorageClass is the default"), "{none}");
        assert!(
            none.contains(r#"kubectl patch storageclass a -p '{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"true"}}}'"#),
            "{none}"
        );
        let mut beta = class("b", None);
        beta.metadata
            .annotations
            .insert(DEFAULT_ANNOTATIONS[1].into(), "true".into());
        let two = default_class_warning(&tools, &[class("a", Some("true")), beta]).unwrap();
        assert!(
            two.contains("2 StorageClasses are the default (a, b)"),
            "{two}"
        );
        assert!(two.contains("storageclass b -p"), "{two}");
        assert!(!two.contains("storageclass a -p"), "{two}");
    }

    #[test]
    fn predicts_classes_after_apply() {
        let existing = vec![class("a", Some("true")), class("b", None)];
        let after = after_apply(&existing, &[class("a", None), class("c", Some("true"))]);
        let names: Vec<&str> = after.iter().map(|c| c.metadata.name.as_str()).collect();
        assert_eq!(names, vec!["b", "a", "c"]);
        assert!(!after[1].is_default());
    }

    #[test]
    fn file_check_wants_a_provisioner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sc.yaml");
        std::fs::write(
            &path,
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: x\n",
        )
        .unwrap();
        let err = check_file(&path).unwrap_err().to_string();
        assert!(err.contains("key `provisioner` is missing"), "{err}");
        std::fs::write(&path, "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: x\nprovisioner: p\n").unwrap();
        assert_eq!(check_file(&path).unwrap()[0].metadata.name, "x");
    }

    #[test]
    fn commands() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        assert_eq!(
            list_command(&tools).to_string(),
            "microk8s kubectl get storageclass -o json"
        );
        assert_eq!(
            apply_plan(&tools, "local-storage-dir.yaml").render(),
            "microk8s kubectl apply -f local-storage-dir.yaml\n"
        );
    }
}
