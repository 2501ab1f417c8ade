//! Storage: a default StorageClass, and where its volumes land.

use crate::ops::storage::{StorageClass, StorageClassList};

use super::model::*;

/// The folder on each node where a StorageClass keeps its volumes: the
/// OpenEBS local `BasePath`, a `pvDir` parameter, or MicroK8s hostpath's
/// default.
pub fn base_path(class: &serde_json::Value) -> Option<String> {
    let config = class
        .pointer("/metadata/annotations/cas.openebs.io~1config")
        .and_then(serde_json::Value::as_str);
    if let Some(config) = config {
        let entries: Vec<serde_yaml::Value> = serde_yaml::from_str(config).unwrap_or_default();
        let found = entries.iter().find_map(|e| {
            (e.get("name")?.as_str()? == "BasePath")
                .then(|| e.get("value")?.as_str().map(str::to_string))
                .flatten()
        });
        if found.is_some() {
            return found;
        }
    }
    if let Some(dir) = class
        .pointer("/parameters/pvDir")
        .and_then(serde_json::Value::as_str)
    {
        return Some(dir.to_string());
    }
    let provisioner = class.get("provisioner").and_then(serde_json::Value::as_str);
    (provisioner == Some("microk8s.io/hostpath")).then(|| MICROK8S_HOSTPATH_DIR.to_string())
}

pub(crate) fn storage_check(answer: &Answer, local: &Local) -> Check {
    const NAME: &str = "storage";
    let text = match answer {
        Ok(t) => t,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot list StorageClasses: {e}"),
                "make the cluster reachable (see the checks above)",
            )
        }
    };
    let (Ok(list), Ok(raw)) = (
        serde_json::from_str::<StorageClassList>(text),
        serde_json::from_str::<serde_json::Value>(text),
    ) else {
        return Check::fail(NAME, "StorageClasses: not the expected JSON", "report this");
    };
    let defaults: Vec<(usize, &StorageClass)> = list
        .items
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_default())
        .collect();
    let &[(index, class)] = defaults.as_slice() else {
        let names: Vec<&str> = defaults
            .iter()
            .map(|(_, c)| c.metadata.name.as_str())
            .collect();
        let message = if names.is_empty() {
            "no StorageClass is the default: user volumes stay Pending".to_string()
        } else {
            format!(
                "{} StorageClasses are the default ({}): which one a volume gets is undefined",
                names.len(),
                names.join(", ")
            )
        };
        return Check::fail(
            NAME,
            message,
            "binderctl storage apply -f local-storage-dir.yaml (it marks one default); \
             unmark the others with kubectl annotate storageclass NAME \
             storageclass.kubernetes.io/is-default-class-",
        );
    };
    let name = &class.metadata.name;
    let item = raw.pointer(&format!("/items/{index}"));
    match item.and_then(base_path) {
        None => Check::ok(NAME, format!("default StorageClass {name}")),
        Some(dir) if local.system(&dir).is_dir() => Check::ok(
            NAME,
            format!("default StorageClass {name}, base path {dir} exists"),
        ),
        Some(dir) => Check::fail(
            NAME,
            format!("default StorageClass {name} keeps volumes in {dir}, which does not exist on this node"),
            format!("sudo mkdir -p {dir} (on every node), or set BasePath in its manifest and binderctl storage apply"),
        ),
    }
}
