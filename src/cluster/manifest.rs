//! Checking a Kubernetes manifest before `kubectl apply`: it parses, and
//! every document is of the expected kind with a name. Pure.

use anyhow::Result;
use serde_yaml::Value;

use crate::error::Problems;
use crate::values::read;

/// One document of a checked manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub document: Value,
}

fn text_at<'a>(document: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut value = document;
    for key in path {
        value = value.get(*key)?;
    }
    value.as_str()
}

/// Parse `text` (read from `file`, named in messages) as YAML documents,
/// each of kind `kind` with `apiVersion` `api_version` and a
/// `metadata.name`. Empty documents are skipped; at least one must remain.
/// All problems are reported together, each naming the file and the key.
pub fn check(file: &str, text: &str, kind: &str, api_version: &str) -> Result<Vec<Manifest>> {
    let mut manifests = Vec::new();
    let mut problems = Vec::new();
    // Read as kubectl reads it (the same YAML rules as Helm's), with the
    // same bounds as every YAML file binderctl reads.
    let documents = match read::read_documents(text, file) {
        Ok(documents) => documents,
        Err(e) => return Err(Problems(vec![format!("{e:#}")]).into()),
    };
    for (index, reading) in documents.into_iter().enumerate() {
        let number = index + 1;
        let document = match reading.value {
            Value::Null => continue,
            document => document,
        };
        let at = format!("{file}: document {number}");
        if !document.is_mapping() {
            problems.push(format!(
                "{at}: expected a {kind} manifest (a mapping of keys), found something else"
            ));
            continue;
        }
        match text_at(&document, &["kind"]) {
            Some(k) if k == kind => {}
            Some(other) => problems.push(format!("{at}: kind is {other:?}, expected {kind:?}")),
            None => problems.push(format!(
                "{at}: key `kind` is missing; expected `kind: {kind}`"
            )),
        }
        match text_at(&document, &["apiVersion"]) {
            Some(v) if v == api_version => {}
            Some(other) => problems.push(format!(
                "{at}: apiVersion is {other:?}, expected {api_version:?}"
            )),
            None => problems.push(format!(
                "{at}: key `apiVersion` is missing; expected `apiVersion: {api_version}`"
            )),
        }
        let name = text_at(&document, &["metadata", "name"])
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            problems.push(format!("{at}: key `metadata.name` is missing or empty"));
        }
        let namespace = text_at(&document, &["metadata", "namespace"]).map(str::to_string);
        manifests.push(Manifest {
            kind: kind.to_string(),
            name,
            namespace,
            document,
        });
    }
    if problems.is_empty() && manifests.is_empty() {
        problems.push(format!("{file}: no {kind} in the file (it is empty)"));
    }
    if !problems.is_empty() {
        return Err(Problems(problems).into());
    }
    Ok(manifests)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: &str = "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: binder-quota\n  namespace: binder\nspec:\n  hard:\n    pods: \"120\"\n";

    #[test]
    fn accepts_a_manifest_of_the_kind() {
        let manifests = check("q.yaml", QUOTA, "ResourceQuota", "v1").unwrap();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].name, "binder-quota");
        assert_eq!(manifests[0].namespace.as_deref(), Some("binder"));
        let two = format!(
            "---\n{QUOTA}---\n{}\n---\n",
            QUOTA.replace("binder-quota", "second")
        );
        assert_eq!(
            check("q.yaml", &two, "ResourceQuota", "v1").unwrap().len(),
            2
        );
    }

    #[test]
    fn names_file_and_key_for_each_problem() {
        let bad = QUOTA
            .replace("kind: ResourceQuota", "kind: LimitRange")
            .replace("  name: binder-quota\n", "");
        let err = check("q.yaml", &bad, "ResourceQuota", "v1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("q.yaml: document 1: kind is \"LimitRange\", expected \"ResourceQuota\""),
            "{err}"
        );
        assert!(
            err.contains("q.yaml: document 1: key `metadata.name` is missing"),
            "{err}"
        );

        let err = check("q.yaml", "kind: [unclosed", "ResourceQuota", "v1")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("q.yaml:2:1: not valid YAML"), "{err}");
        // One anchored list referenced many times: refused, not expanded.
        let mut bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for i in 0..6 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!(
                "l{i}: &l{i} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            ));
        }
        let err = check("q.yaml", &bomb, "ResourceQuota", "v1")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("q.yaml:") && err.contains("aliases (*name) expand to more than"),
            "{err}"
        );
        let err = check("q.yaml", "", "ResourceQuota", "v1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no ResourceQuota"), "{err}");
        let err = check("q.yaml", "- a\n- b\n", "ResourceQuota", "v1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a ResourceQuota manifest"), "{err}");
        let err = check(
            "q.yaml",
            &QUOTA.replace("apiVersion: v1\n", ""),
            "ResourceQuota",
            "v1",
        )
        .unwrap_err();
        assert!(err.to_string().contains("`apiVersion` is missing"), "{err}");
    }
}
