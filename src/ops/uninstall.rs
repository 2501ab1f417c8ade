//! `binderctl uninstall`: delete the Helm release, then its namespace with
//! everything left in it (user volumes included). The operator types the
//! namespace name to confirm, unless `--yes`.

use anyhow::{bail, Result};

use crate::cluster::confirm::confirm_typed;
use crate::cluster::helm::deployed_release;
use crate::cluster::names;
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{NotConfirmed, Outcome};
use crate::output;

/// What `uninstall` is asked to do.
#[derive(Debug, Clone)]
pub struct UninstallOptions {
    pub yes: bool,
    pub dry_run: bool,
}

/// `kubectl get namespace NS -o json`.
pub fn namespace_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl(["get", "namespace", namespace, "-o", "json"])
}

/// `helm uninstall RELEASE -n NS` when the release exists, then, when the
/// namespace exists, binderctl's egress NetworkPolicies and the namespace.
pub fn uninstall_plan(
    tools: &Tools,
    release: Option<&str>,
    namespace: &str,
    namespace_exists: bool,
) -> Plan {
    let mut plan = Plan::new();
    if let Some(release) = release {
        plan.push(
            Step::new(tools.helm(["uninstall", release, "-n", namespace]))
                .described(format!("Deleting Helm release {release}"))
                .with_progress(),
        );
    }
    if namespace_exists {
        for step in super::egress::policies::delete_steps(tools, namespace) {
            plan.push(step);
        }
        plan.push(
            Step::new(tools.kubectl(["delete", "namespace", namespace]))
                .described(format!(
                    "Deleting namespace {namespace} and everything in it"
                ))
                .with_progress(),
        );
    }
    plan
}

pub async fn run(target: &Target, options: &UninstallOptions) -> Result<Outcome> {
    let namespace = target.namespace.as_str();
    if names::is_system_namespace(namespace) {
        bail!("refusing to delete namespace {namespace:?}: `default` and every `kube-*` namespace belong to Kubernetes itself; pass -n with the BinderHub's namespace");
    }
    let tools = Tools::for_target(target);
    let runner = Runner::new(options.dry_run);
    let release = deployed_release(&runner, &tools, namespace, &target.release).await?;
    let probe_command = namespace_command(&tools, namespace);
    let probe = runner.probe(&probe_command).await?;
    let namespace_exists = if probe.success() {
        true
    } else if probe.says_not_found() {
        false
    } else {
        return Err(crate::cluster::runner::failed(&probe_command, &probe));
    };
    let plan = uninstall_plan(
        &tools,
        release.as_ref().map(|r| r.name.as_str()),
        namespace,
        namespace_exists,
    );
    if plan.is_empty() {
        output::info(&format!(
            "Nothing to uninstall: no release {} and no namespace {namespace}.",
            target.release
        ));
        return Ok(Outcome::Success);
    }
    if release.is_none() {
        output::info(&format!(
            "No Helm release {} in namespace {namespace}; deleting the namespace only.",
            target.release
        ));
    }
    if !options.dry_run {
        let what = match (&release, namespace_exists) {
            (Some(r), true) => format!(
                "Helm release {} and namespace {namespace} with everything in it",
                r.name
            ),
            (Some(r), false) => format!("Helm release {}", r.name),
            (None, _) => format!("namespace {namespace} with everything in it"),
        };
        output::info(&format!(
            "This deletes {what}, user volumes included. It cannot be undone."
        ));
        if !confirm_typed("", namespace, options.yes).await? {
            return Err(NotConfirmed("nothing deleted".into()).into());
        }
    }
    runner.execute(&plan).await?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    #[tokio::test]
    async fn refuses_default_and_every_kube_namespace_before_any_tool_runs() {
        for namespace in ["default", "kube-system", "kube-flannel", "kube-anything"] {
            let target = Target {
                namespace: namespace.into(),
                release: "binder".into(),
                // No such tool would run: the refusal comes first.
                tools: ToolFlavor::Plain,
                kubeconfig: None,
                context: None,
                request_timeout: None,
            };
            let cmd = UninstallOptions {
                yes: true,
                dry_run: false,
            };
            let err = run(&target, &cmd).await.unwrap_err().to_string();
            assert!(
                err.contains("refusing to delete namespace"),
                "{namespace}: {err}"
            );
        }
    }

    #[test]
    fn deletes_release_then_namespace() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        let plan = uninstall_plan(&tools, Some("binder"), "binder", true);
        assert_eq!(
            plan.render(),
            "microk8s helm uninstall binder -n binder\n\
             microk8s kubectl delete networkpolicy binderctl-egress -n binder --ignore-not-found\n\
             microk8s kubectl delete networkpolicy binderctl-egress-v2 -n binder --ignore-not-found\n\
             microk8s kubectl delete networkpolicy binderctl-egress-build -n binder --ignore-not-found\n\
             microk8s kubectl delete namespace binder\n"
        );
        assert!(plan.steps[0].progress && plan.steps[4].progress);
        let plain = Tools::new(ToolFlavor::Plain);
        assert_eq!(
            uninstall_plan(&plain, None, "binder", true).render(),
            "kubectl delete networkpolicy binderctl-egress -n binder --ignore-not-found\n\
             kubectl delete networkpolicy binderctl-egress-v2 -n binder --ignore-not-found\n\
             kubectl delete networkpolicy binderctl-egress-build -n binder --ignore-not-found\n\
             kubectl delete namespace binder\n"
        );
        assert_eq!(
            uninstall_plan(&plain, Some("b"), "ns", false).render(),
            "helm uninstall b -n ns\n"
        );
        assert!(uninstall_plan(&plain, None, "ns", false).is_empty());
    }
}
