//! `binderctl rbac`: the roles binderctl needs, as manifests to apply.

use anyhow::{bail, Context, Result};

use crate::cli::{GlobalArgs, ManifestFormat, RbacCmd};
use crate::cluster::rbac::{manifests, Grant, Subject};
use crate::error::Outcome;
use crate::output;

pub fn run(global: &GlobalArgs, cmd: &RbacCmd) -> Result<Outcome> {
    let subject = match (&cmd.user, &cmd.group) {
        (Some(user), _) => Subject::User(non_empty("--user", user)?),
        (_, Some(group)) => Subject::Group(non_empty("--group", group)?),
        _ => Subject::ServiceAccount {
            namespace: global.namespace.clone(),
            name: cmd.service_account.clone(),
        },
    };
    let grant = Grant {
        namespace: global.namespace.clone(),
        helper_namespace: cmd.helper_namespace.clone(),
        subject,
        namespace_only: cmd.namespace_only,
        name: cmd.name.clone(),
    };
    let documents = manifests(&grant);
    let text = match cmd.output {
        ManifestFormat::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": documents});
            let mut text = serde_json::to_string_pretty(&list).context("cannot write JSON")?;
            text.push('\n');
            text
        }
        ManifestFormat::Yaml => {
            let mut text = String::new();
            for document in &documents {
                let value = serde_yaml::to_value(document).context("cannot write YAML")?;
                text.push_str("---\n");
                text.push_str(
                    &crate::values::write::to_string(&value).context("cannot write YAML")?,
                );
            }
            text
        }
    };
    output::data(&text);
    Ok(Outcome::Success)
}

/// A user or group name as the API server takes it: any text but empty,
/// and on one line.
fn non_empty(flag: &str, name: &str) -> Result<String> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        bail!("{flag} {name:?}: give the name the API server authenticates (not empty, one line)");
    }
    Ok(name.to_string())
}
