//! What binderctl may need to be allowed to do, in one table: the
//! namespaced part (a Role in the BinderHub's namespace, which a namespace
//! admin can grant) and the cluster part (a ClusterRole: nodes,
//! StorageClasses, namespaces, and the cluster-wide objects the chart
//! installs). `binderctl rbac` prints them as manifests; a refusal from the
//! API server is turned into one line naming the missing permission. Pure.

use serde_json::{json, Value};

/// One rule: verbs on resources of one API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub group: &'static str,
    pub resources: &'static [&'static str],
    pub verbs: &'static [&'static str],
    /// The binderctl commands that need it (for docs/setup.md and `rbac`).
    pub why: &'static str,
}

const READ: &[&str] = &["get", "list", "watch"];
const MANAGE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// The release namespace's rules: binderctl's own work there, and every
/// namespaced kind the binderhub chart (with its jupyterhub subchart)
/// installs, since `deploy` runs Helm with the operator's rights.
pub const NAMESPACED: &[Rule] = &[
    Rule {
        group: "",
        resources: &["pods"],
        verbs: &["get", "list", "watch", "create", "delete"],
        why: "pods ls/purge, status, logs, doctor, helper pods (images, nodes reserve/gc, doctor --all-nodes)",
    },
    Rule {
        group: "",
        resources: &["pods/log"],
        verbs: &["get"],
        why: "logs, deploy's failure report, helper pods' output",
    },
    Rule {
        group: "",
        resources: &["pods/portforward"],
        verbs: &["create"],
        why: "forward",
    },
    Rule {
        group: "",
        resources: &["events"],
        verbs: READ,
        why: "deploy and rollback: why a pod is not ready",
    },
    Rule {
        group: "",
        resources: &["persistentvolumeclaims"],
        verbs: MANAGE,
        why: "volumes ls/rm; the chart's hub database claim",
    },
    Rule {
        group: "",
        resources: &["resourcequotas"],
        verbs: MANAGE,
        why: "quota show/apply",
    },
    Rule {
        group: "",
        resources: &["secrets"],
        verbs: MANAGE,
        why: "Helm keeps its releases in Secrets: deploy, diff, history, rollback, status, versions, uninstall",
    },
    Rule {
        group: "",
        resources: &["configmaps", "services", "serviceaccounts"],
        verbs: MANAGE,
        why: "deploy (the chart's objects); status, check and doctor read the services",
    },
    Rule {
        group: "apps",
        resources: &["deployments", "daemonsets", "statefulsets", "replicasets"],
        verbs: MANAGE,
        why: "deploy and rollback (the chart's workloads, the rollout wait); status",
    },
    Rule {
        group: "batch",
        resources: &["jobs"],
        verbs: MANAGE,
        why: "deploy (the chart's hook jobs)",
    },
    Rule {
        group: "networking.k8s.io",
        resources: &["networkpolicies", "ingresses"],
        verbs: MANAGE,
        why: "egress apply/check/show, status, uninstall; the chart's own policies",
    },
    Rule {
        group: "policy",
        resources: &["poddisruptionbudgets"],
        verbs: MANAGE,
        why: "deploy (the chart's disruption budgets)",
    },
    Rule {
        group: "rbac.authorization.k8s.io",
        resources: &["roles", "rolebindings"],
        verbs: MANAGE,
        why: "deploy (the chart's Roles for the hub, binder and user-scheduler)",
    },
];

/// The cluster's rules.
pub const CLUSTER: &[Rule] = &[
    Rule {
        group: "",
        resources: &["nodes"],
        verbs: &["get", "list", "watch"],
        why: "nodes ls/disk/reserve/gc, doctor, --node/--all-nodes",
    },
    Rule {
        group: "",
        resources: &["nodes/proxy"],
        verbs: &["get"],
        why: "nodes disk and doctor: the kubelet's stats summary",
    },
    Rule {
        group: "",
        resources: &["namespaces"],
        verbs: &["get", "list", "create", "delete"],
        why: "deploy (--create-namespace), uninstall",
    },
    Rule {
        group: "storage.k8s.io",
        resources: &["storageclasses"],
        verbs: &["get", "list", "watch", "create", "update", "patch"],
        why: "storage ls/apply, doctor, init",
    },
    Rule {
        group: "rbac.authorization.k8s.io",
        resources: &["clusterroles", "clusterrolebindings"],
        verbs: MANAGE,
        why: "deploy (the chart's user-scheduler and image-cleaner)",
    },
    Rule {
        group: "scheduling.k8s.io",
        resources: &["priorityclasses"],
        verbs: MANAGE,
        why: "deploy (the chart's user placeholders and scheduling priorities)",
    },
    Rule {
        group: "",
        resources: &["serviceaccounts/token"],
        verbs: &["create"],
        why: "dashboard token",
    },
];

/// Who the roles are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    ServiceAccount { namespace: String, name: String },
    User(String),
    Group(String),
}

impl Subject {
    fn manifest(&self) -> Value {
        match self {
            Subject::ServiceAccount { namespace, name } => {
                json!({"kind": "ServiceAccount", "name": name, "namespace": namespace})
            }
            Subject::User(name) => {
                json!({"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"})
            }
            Subject::Group(name) => {
                json!({"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"})
            }
        }
    }
}

/// What to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub namespace: String,
    /// Where helper pods run, when not in `namespace`.
    pub helper_namespace: Option<String>,
    pub subject: Subject,
    /// The namespace's part only (what a namespace admin can grant).
    pub namespace_only: bool,
    /// The name of the roles and bindings.
    pub name: String,
}

fn rules(rules: &[Rule]) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| json!({"apiGroups": [r.group], "resources": r.resources, "verbs": r.verbs}))
            .collect(),
    )
}

fn labels() -> Value {
    json!({"app.kubernetes.io/managed-by": "binderctl"})
}

/// The manifests, in the order to apply them.
pub fn manifests(grant: &Grant) -> Vec<Value> {
    let mut out = Vec::new();
    if let Subject::ServiceAccount { namespace, name } = &grant.subject {
        if *namespace == grant.namespace {
            out.push(json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": namespace, "labels": labels()},
            }));
        }
    }
    let role_ref = |kind: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": grant.name});
    let mut namespaces = vec![grant.namespace.clone()];
    if let Some(helper) = grant
        .helper_namespace
        .as_ref()
        .filter(|h| **h != grant.namespace)
    {
        namespaces.push(helper.clone());
    }
    for (index, namespace) in namespaces.iter().enumerate() {
        // The helper namespace needs only what helper pods need.
        let role_rules = if index == 0 {
            rules(NAMESPACED)
        } else {
            rules(&NAMESPACED[..2])
        };
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": grant.name, "namespace": namespace, "labels": labels()},
            "rules": role_rules,
        }));
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": grant.name, "namespace": namespace, "labels": labels()},
            "roleRef": role_ref("Role"),
            "subjects": [grant.subject.manifest()],
        }));
    }
    if !grant.namespace_only {
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": grant.name, "labels": labels()},
            "rules": rules(CLUSTER),
        }));
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": grant.name, "labels": labels()},
            "roleRef": role_ref("ClusterRole"),
            "subjects": [grant.subject.manifest()],
        }));
    }
    out
}

/// The API server's refusal (`... is forbidden: User "U" cannot VERB
/// resource "R" in API group "G" in the namespace "NS"` or `at the cluster
/// scope`), as one line naming the missing permission and the way out.
pub fn explain_forbidden(stderr: &str) -> Option<String> {
    let line = stderr.lines().find(|l| l.contains(" is forbidden: "))?;
    let (_, reason) = line.split_once(" is forbidden: ")?;
    let quoted = |text: &str, after: &str| -> Option<String> {
        let rest = text.split_once(after)?.1.strip_prefix('"')?;
        Some(rest.split_once('"')?.0.to_string())
    };
    let who = quoted(reason, "User ")?;
    let verb = reason
        .split_once(" cannot ")?
        .1
        .split_whitespace()
        .next()?
        .to_string();
    let resource = quoted(reason, " resource ")?;
    let group = quoted(reason, " in API group ").unwrap_or_default();
    let resource = if group.is_empty() {
        resource
    } else {
        format!("{resource}.{group}")
    };
    let scope = match quoted(reason, " in the namespace ") {
        Some(ns) => format!("in namespace {ns}"),
        None if reason.contains("at the cluster scope") => "at the cluster scope".to_string(),
        None => return None,
    };
    Some(format!(
        "not allowed: {who} may not {verb} {resource} {scope}; `binderctl rbac` prints the roles \
         binderctl needs, for an administrator to apply (`--namespace-only`: the part a namespace \
         admin can grant)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaced_refusal_names_verb_resource_and_namespace() {
        let stderr = "Error from server (Forbidden): pods is forbidden: User \
            \"system:serviceaccount:lab:ops\" cannot list resource \"pods\" in API group \"\" in \
            the namespace \"binder\"\n";
        assert_eq!(
            explain_forbidden(stderr).unwrap(),
            "not allowed: system:serviceaccount:lab:ops may not list pods in namespace binder; \
             `binderctl rbac` prints the roles binderctl needs, for an administrator to apply \
             (`--namespace-only`: the part a namespace admin can grant)"
        );
    }

    #[test]
    fn a_cluster_refusal_names_the_group_and_the_scope() {
        let stderr = "Error from server (Forbidden): storageclasses.storage.k8s.io \
            \"local-storage-dir\" is forbidden: User \"alice\" cannot get resource \
            \"storageclasses\" in API group \"storage.k8s.io\" at the cluster scope";
        let line = explain_forbidden(stderr).unwrap();
        assert!(
            line.starts_with(
                "not allowed: alice may not get storageclasses.storage.k8s.io at the cluster scope;"
            ),
            "{line}"
        );
    }

    #[test]
    fn other_failures_are_not_explained() {
        assert_eq!(
            explain_forbidden("Error from server (NotFound): pods \"x\" not found"),
            None
        );
        assert_eq!(explain_forbidden(""), None);
    }

    #[test]
    fn namespace_only_leaves_the_cluster_part_out() {
        let grant = Grant {
            namespace: "binder".into(),
            helper_namespace: Some("helpers".into()),
            subject: Subject::ServiceAccount {
                namespace: "binder".into(),
                name: "binderctl".into(),
            },
            namespace_only: true,
            name: "binderctl".into(),
        };
        let kinds: Vec<String> = manifests(&grant)
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m["kind"].as_str().unwrap(),
                    m["metadata"]["namespace"].as_str().unwrap_or("")
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount/binder",
                "Role/binder",
                "RoleBinding/binder",
                "Role/helpers",
                "RoleBinding/helpers"
            ]
        );
        let full = manifests(&Grant {
            namespace_only: false,
            ..grant
        });
        assert_eq!(full.len(), 7);
        assert_eq!(full[6]["kind"], "ClusterRoleBinding");
        assert_eq!(full[6]["subjects"][0]["kind"], "ServiceAccount");
    }
}
