//! Every command line binderctl's plan builders can produce, in both tool
//! flavours and every option combination that changes the argv, built by
//! the builders themselves. The conformance tests run each one through the
//! real kubectl, Helm 3, Helm 4 and ctr; [`ACCOUNTED_OPTIONS`] (checked
//! against the clap definitions) makes a new option fail until it is listed
//! here, so no argv escapes that check.

use std::path::Path;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command, ToolFlavor};
use crate::cluster::helm;
use crate::cluster::plan::CommandLine;
use crate::cluster::tools::Tools;
use crate::ops::doctor::gather as doctor;
use crate::ops::egress::policies as egress;
use crate::ops::images::model as images;
use crate::ops::nodes::{disk, inventory, list as nodes};
use crate::ops::{
    dashboard, deploy, diff, forward, history, init, latest, logs, nameservers, pods, quota,
    rollout, status, storage, uninstall, versions, volumes,
};

/// Each subcommand's options (clap ids, globals aside) that the samples
/// below account for: either they appear in a sample's argv, or they never
/// reach a tool's argv (listed all the same, so that every option has been
/// looked at).
pub const ACCOUNTED_OPTIONS: &[(&str, &[&str])] = &[
    (
        "init",
        &[
            "metallb_range",
            "storage",
            "storage_class",
            "chart_repo_url",
            "input",
            "secret",
            "dry_run",
        ],
    ),
    (
        "rbac",
        &[
            "namespace_only",
            "service_account",
            "user",
            "group",
            "helper_namespace",
            "name",
            "output",
        ],
    ),
    (
        "render",
        &[
            "input",
            "output",
            "nameservers",
            "github_meta_url",
            "fastly_url",
            "timeout",
            "retries",
            "allow_unresolved",
            "allow_default_route",
            "allow_special_addresses",
            "stdout",
            "check",
        ],
    ),
    (
        "diff",
        &[
            "input",
            "output",
            "nameservers",
            "github_meta_url",
            "fastly_url",
            "timeout",
            "retries",
            "allow_unresolved",
            "allow_default_route",
            "allow_special_addresses",
            "values",
            "secret",
        ],
    ),
    (
        "deploy",
        &[
            "input",
            "output",
            "nameservers",
            "github_meta_url",
            "fastly_url",
            "timeout",
            "retries",
            "allow_unresolved",
            "allow_default_route",
            "allow_special_addresses",
            "chart_version",
            "values",
            "secret",
            "chart",
            "chart_repo_url",
            "wait_timeout",
            "dry_run",
            "diff",
            "yes",
        ],
    ),
    (
        "versions",
        &[
            "limit",
            "chart",
            "update",
            "output",
            "no_headers",
            "chart_repo_url",
        ],
    ),
    ("history", &["max", "output", "no_headers"]),
    ("rollback", &["revision", "yes", "dry_run", "wait_timeout"]),
    ("uninstall", &["yes", "dry_run"]),
    (
        "egress apply",
        &[
            "input",
            "output",
            "nameservers",
            "github_meta_url",
            "fastly_url",
            "timeout",
            "retries",
            "allow_unresolved",
            "allow_default_route",
            "allow_special_addresses",
            "grace",
            "now",
            "dry_run",
        ],
    ),
    (
        "egress check",
        &[
            "input",
            "output",
            "nameservers",
            "github_meta_url",
            "fastly_url",
            "timeout",
            "retries",
            "allow_unresolved",
            "allow_default_route",
            "allow_special_addresses",
            "grace",
            "now",
            "compare_resolvers",
        ],
    ),
    ("egress show", &["output", "no_headers", "grace", "now"]),
    (
        "egress verify",
        &["input", "blocked_address", "host", "image", "dry_run"],
    ),
    (
        "egress schedule",
        &[
            "every",
            "remove",
            "dry_run",
            "input",
            "grace",
            "nameservers",
            "root",
        ],
    ),
    ("whitelist check", &["spec_or_url", "file"]),
    (
        "pods ls",
        &[
            "prefix",
            "selector",
            "older_than",
            "include_protected",
            "output",
            "no_headers",
        ],
    ),
    (
        "pods purge",
        &[
            "prefix",
            "selector",
            "older_than",
            "include_protected",
            "yes",
            "dry_run",
            "batch_size",
        ],
    ),
    ("volumes ls", &["output", "no_headers"]),
    ("volumes rm", &["target", "prefix", "yes", "dry_run"]),
    ("quota show", &["output", "no_headers"]),
    ("quota apply", &["file", "dry_run"]),
    ("nodes ls", &["output", "no_headers"]),
    ("nodes disk", &["output", "no_headers"]),
    ("nodes add", &["worker"]),
    ("nodes remove", &["name", "yes", "force", "dry_run"]),
    (
        "nodes reserve",
        &[
            "cpu",
            "memory",
            "ephemeral_storage",
            "kubelet_args",
            "dry_run",
            "nodes",
            "all_nodes",
            "helper_image",
            "helper_namespace",
            "ready_timeout",
            "yes",
        ],
    ),
    (
        "nodes gc",
        &[
            "high",
            "low",
            "max_age",
            "kubelet_args",
            "dry_run",
            "nodes",
            "all_nodes",
            "helper_image",
            "helper_namespace",
            "ready_timeout",
            "yes",
        ],
    ),
    (
        "images ls",
        &[
            "pattern",
            "regex",
            "containerd_namespace",
            "nodes",
            "all_nodes",
            "helper_image",
            "helper_namespace",
            "output",
            "no_headers",
        ],
    ),
    (
        "images rm",
        &[
            "pattern",
            "regex",
            "containerd_namespace",
            "yes",
            "dry_run",
            "batch_size",
            "include_system",
            "include_in_use",
            "nodes",
            "all_nodes",
            "helper_image",
            "helper_namespace",
        ],
    ),
    (
        "registry ls",
        &[
            "input",
            "prefix",
            "secret",
            "registry_url",
            "api",
            "username",
            "timeout",
            "retries",
            "now",
            "older_than",
            "output",
            "no_headers",
        ],
    ),
    (
        "registry prune",
        &[
            "input",
            "prefix",
            "secret",
            "registry_url",
            "api",
            "username",
            "timeout",
            "retries",
            "now",
            "older_than",
            "keep",
            "dry_run",
            "yes",
            "parallel",
        ],
    ),
    ("storage ls", &["output", "no_headers"]),
    ("storage apply", &["file", "dry_run"]),
    ("status", &["output", "no_headers"]),
    (
        "check",
        &[
            "url",
            "hub_url",
            "launch",
            "timeout",
            "output",
            "no_headers",
        ],
    ),
    (
        "doctor",
        &[
            "input",
            "secret",
            "rendered",
            "root",
            "nodes",
            "all_nodes",
            "helper_image",
            "helper_namespace",
            "output",
            "no_headers",
        ],
    ),
    (
        "logs",
        &["target", "follow", "previous", "since", "tail", "container"],
    ),
    ("forward", &["target", "port", "address"]),
    (
        "dashboard token",
        &["duration", "service_account", "account_namespace"],
    ),
    (
        "dashboard forward",
        &["port", "address", "dashboard_namespace"],
    ),
    ("completion", &["shell"]),
    ("man", &[]),
];

/// The sample files' names in the folder handed to [`every_command_line`]
/// (the conformance test writes them there).
pub const QUOTA_FILE: &str = "resource-quota.yaml";
pub const STORAGE_FILE: &str = "local-storage-dir.yaml";
pub const SECRET_FILE: &str = "secret.yaml";
pub const RENDERED_FILE: &str = "_binder.yaml";
pub const EXTRA_VALUES_FILE: &str = "extra values.yaml";

/// The kubeconfig file in that folder (the conformance test puts a real
/// one there) and the context of it that the `--context` samples name.
pub const KUBECONFIG_FILE: &str = "kubeconfig";
pub const CONTEXT: &str = "closed";

/// Every command line, both flavours, each Kubernetes and Helm line also
/// with `--kubeconfig` and `--context`. `dir` holds the sample files;
/// `chart_repo_url` is where `helm repo add` points.
pub fn every_command_line(dir: &Path, chart_repo_url: &str) -> Result<Vec<CommandLine>> {
    let mut lines = Vec::new();
    for flavor in [ToolFlavor::Microk8s, ToolFlavor::Plain] {
        let tools = Tools::new(flavor);
        let selected = cluster_selected_tools(flavor, dir)?;
        for tools in [&tools, &selected] {
            lines.extend(kubernetes_lines(tools, dir)?);
            lines.extend(helm_lines(tools, dir, chart_repo_url)?);
        }
        lines.extend(ctr_lines(&tools));
        if flavor == ToolFlavor::Microk8s {
            lines.push(nodes::add_command(&tools)?);
            lines.push(nodes::remove_command(&tools, "node2.example", false)?);
            lines.push(nodes::remove_command(&tools, "node2.example", true)?);
        }
    }
    lines.extend(egress_lines());
    lines.extend(toolbox_lines());
    Ok(lines)
}

/// The global options, each accounted for like a subcommand's: every one
/// that reaches a tool's argv is in [`cluster_selected_tools`]'s command
/// line (`namespace` and `release` reach it through the builders' own
/// arguments; `quiet` and `verbose` never do).
pub const ACCOUNTED_GLOBALS: &[&str] = &[
    "namespace",
    "release",
    "tools",
    "kubeconfig",
    "context",
    "request_timeout",
    "quiet",
    "verbose",
];

/// The `--request-timeout` the samples' cluster-selected lines carry
/// (the default tools' lines carry none, as `--request-timeout 0`).
pub const REQUEST_TIMEOUT: &str = "45s";

/// The tools as `--kubeconfig DIR/kubeconfig --context closed
/// --request-timeout 45s` sets them.
fn cluster_selected_tools(flavor: ToolFlavor, dir: &Path) -> Result<Tools> {
    let kubeconfig = path(dir, KUBECONFIG_FILE);
    let tools = match flavor {
        ToolFlavor::Microk8s => "microk8s",
        ToolFlavor::Plain => "plain",
    };
    let argv = [
        "binderctl",
        "--tools",
        tools,
        "--kubeconfig",
        &kubeconfig,
        "--context",
        CONTEXT,
        "--request-timeout",
        REQUEST_TIMEOUT,
        "status",
    ];
    let cli = Cli::try_parse_from(argv)?;
    Ok(Tools::for_target(&crate::commands::config::target(
        &cli.global,
    )))
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

fn kubernetes_lines(tools: &Tools, dir: &Path) -> Result<Vec<CommandLine>> {
    let ns = "binder";
    let names: Vec<String> = ["jupyter-a-2db1", "jupyter-c-2dd2", "jupyter-e-2df3"]
        .map(String::from)
        .to_vec();
    let mut lines = vec![
        pods::list_command(tools, ns, None),
        pods::list_command(tools, ns, Some("component=singleuser-server")),
        quota::show_command(tools, ns),
        storage::list_command(tools),
        status::services_command(tools, ns),
        uninstall::namespace_command(tools, ns),
        inventory::list_command(tools),
        inventory::get_command(tools, "node2.example"),
        rollout::workloads_command(tools, ns),
        rollout::rollout_command(
            tools,
            ns,
            "deployment/hub",
            std::time::Duration::from_secs(600),
        ),
        rollout::rollout_command(
            tools,
            ns,
            "daemonset/image-cleaner",
            std::time::Duration::from_secs(600),
        ),
        dashboard::token_command(tools, "default", "default", "2000h")?,
        dashboard::token_command(tools, "admin", "kube-system", "90s")?,
    ];
    lines.extend(
        crate::ops::permissions::for_chart_install(ns)
            .iter()
            .map(|needed| crate::ops::permissions::command(tools, needed)),
    );
    lines.extend(helper_pod_lines(tools));
    lines.extend(pods::purge_plan(tools, ns, &names, 2).commands().cloned());
    lines.extend(
        quota::apply_plan(tools, ns, &path(dir, QUOTA_FILE))
            .commands()
            .cloned(),
    );
    lines.extend(
        storage::apply_plan(tools, &path(dir, STORAGE_FILE))
            .commands()
            .cloned(),
    );
    for (namespace, layout) in dashboard::candidate_layouts(None) {
        lines.push(dashboard::service_probe(tools, &namespace, layout.service));
        for address in ["127.0.0.1", "::"] {
            lines.push(dashboard::forward_command(
                tools, &namespace, &layout, 10024, address,
            ));
        }
    }
    Ok(lines)
}

fn helm_lines(tools: &Tools, dir: &Path, chart_repo_url: &str) -> Result<Vec<CommandLine>> {
    let mut lines = vec![
        helm::list_releases_command(tools, "binder"),
        deploy::release_status_command(tools, "binder", "binder"),
        helm::repo_list_command(tools),
        versions::search_command(tools, "jupyterhub/binderhub"),
    ];
    for configured in [false, true] {
        let plan = helm::repository_plan(tools, "jupyterhub", chart_repo_url, configured);
        lines.extend(plan.commands().cloned());
    }
    let secret = path(dir, SECRET_FILE);
    let rendered = path(dir, RENDERED_FILE);
    let extra = path(dir, EXTRA_VALUES_FILE);
    let deploys: [&[&str]; 3] = [&[], &["-f", &extra], &["--chart", "./charts/binderhub"]];
    for options in deploys {
        let mut argv = vec![
            "binderctl",
            "-n",
            "hub",
            "--release",
            "bh",
            "deploy",
            "--secret",
            &secret,
            "-o",
            &rendered,
            "--chart-repo-url",
            chart_repo_url,
        ];
        argv.extend_from_slice(options);
        let cli = Cli::try_parse_from(&argv)?;
        let Command::Deploy(cmd) = &cli.command else {
            anyhow::bail!("not a deploy command line: {argv:?}");
        };
        for repo_missing in [true, false] {
            let plan = deploy::deploy_plan(
                tools,
                &crate::commands::config::target(&cli.global),
                &crate::commands::deploy::options(cmd),
                "1.0.0-0.dev.git.3506.hba24eb2a",
                repo_missing,
                std::path::Path::new("_binder.yaml"),
            );
            lines.extend(plan.commands().cloned());
        }
    }
    lines.extend(
        uninstall::uninstall_plan(tools, Some("binder"), "binder", true)
            .commands()
            .cloned(),
    );
    Ok(lines)
}

/// The toolbox commands' lines (doctor, logs, history and rollback, diff,
/// volumes, forward, init, versions --update and deploy --version latest),
/// from each module's own samples.
fn toolbox_lines() -> Vec<CommandLine> {
    let plans = [
        diff::sample_plans(),
        doctor::sample_plans(),
        forward::sample_plans(),
        history::sample_plans(),
        init::sample_plans(),
        latest::sample_plans(),
        logs::sample_plans(),
        volumes::sample_plans(),
    ];
    plans
        .into_iter()
        .flatten()
        .flat_map(|plan| plan.steps)
        .filter(|step| step.stdin.is_none())
        .map(|step| step.command)
        .collect()
}

/// The kubectl lines that watch, read and delete a helper pod, and remove
/// leftovers (`--node`, `--all-nodes`). `kubectl create -f -` needs its
/// manifest on stdin: tests/nodes_remote.rs replays it, with one.
fn helper_pod_lines(tools: &Tools) -> Vec<CommandLine> {
    use crate::cluster::node_helper::{self, HelperContainer, HelperPod, HelperTarget};
    let target = HelperTarget {
        node: "node2.example",
        namespace: "binder",
        image: node_helper::DEFAULT_IMAGE,
        run_id: "0a1b2c3d",
    };
    let pod = HelperPod::new(
        &target,
        1,
        "read",
        vec![HelperContainer::new("images", vec!["true".into()])],
    );
    vec![
        node_helper::leftovers_command(tools, "binder"),
        disk::stats_command(tools, "node2.example"),
        pod.status_command(tools),
        pod.logs_command(tools, "images"),
        pod.delete_command(tools),
    ]
}

/// The egress policy's command lines without stdin, both flavours.
fn egress_lines() -> Vec<CommandLine> {
    egress::sample_plans()
        .into_iter()
        .chain(nameservers::sample_plans())
        .chain(crate::ops::egress::verify::sample_plans())
        .flat_map(|plan| plan.steps)
        .filter(|step| step.stdin.is_none())
        .map(|step| step.command)
        .collect()
}

fn ctr_lines(tools: &Tools) -> Vec<CommandLine> {
    let refs: Vec<String> = [
        "registry.example/lab/binder-x:1",
        "registry.example/lab/binder-x@sha256:0000000000000000000000000000000000000000000000000000000000000001",
        "sha256:0000000000000000000000000000000000000000000000000000000000000002",
    ]
    .map(String::from)
    .to_vec();
    let mut lines = Vec::new();
    for namespace in ["k8s.io", "default"] {
        lines.push(images::list_command(tools, namespace));
        lines.push(images::containers_command(tools, namespace));
        lines.extend(
            images::remove_plan(tools, namespace, &refs, 2)
                .commands()
                .cloned(),
        );
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn leaf_options(command: &clap::Command, path: String, out: &mut Vec<(String, Vec<String>)>) {
        if command.has_subcommands() {
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = if path.is_empty() {
                    sub.get_name().to_string()
                } else {
                    format!("{path} {}", sub.get_name())
                };
                leaf_options(sub, name, out);
            }
            return;
        }
        let options = command
            .get_arguments()
            .filter(|a| !a.is_global_set())
            .map(|a| a.get_id().to_string())
            .filter(|id| !["help", "namespace", "release", "tools"].contains(&id.as_str()))
            .collect();
        out.push((path, options));
    }

    #[test]
    fn every_option_of_every_subcommand_is_accounted_for() {
        let mut cli = Cli::command();
        cli.build();
        let mut found = Vec::new();
        leaf_options(&cli, String::new(), &mut found);
        let accounted: Vec<(String, Vec<String>)> = ACCOUNTED_OPTIONS
            .iter()
            .map(|(path, ids)| {
                (
                    path.to_string(),
                    ids.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(
            found, accounted,
            "a subcommand or option changed: add its argv to samples.rs, then list it here"
        );
    }

    #[test]
    fn every_global_option_is_accounted_for() {
        let mut cli = Cli::command();
        cli.build();
        let globals: Vec<String> = cli
            .get_arguments()
            .filter(|a| a.is_global_set())
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "help")
            .collect();
        assert_eq!(
            globals, ACCOUNTED_GLOBALS,
            "a global option changed: add its argv to samples.rs, then list it here"
        );
    }

    #[test]
    fn samples_cover_the_request_timeout_and_its_absence() {
        let lines = every_command_line(Path::new("/srv/binder"), "http://127.0.0.1:9/").unwrap();
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        let flag = format!("--request-timeout={REQUEST_TIMEOUT}");
        for start in [
            "microk8s kubectl delete pod",
            "kubectl get pods",
            "kubectl auth can-i",
        ] {
            assert!(
                text.iter()
                    .any(|l| l.starts_with(start) && l.contains(&flag)),
                "{start}"
            );
            assert!(
                text.iter()
                    .any(|l| l.starts_with(start) && !l.contains("--request-timeout")),
                "{start}"
            );
        }
        assert!(
            text.iter()
                .all(|l| !(l.contains(" rollout status ") && l.contains("--request-timeout"))),
            "a rollout's wait is never cut by the request timeout"
        );
        assert!(text
            .iter()
            .all(|l| !(l.starts_with("helm") && l.contains("--request-timeout"))));
    }

    #[test]
    fn samples_cover_both_flavours_and_every_tool() {
        let lines = every_command_line(Path::new("/srv/binder"), "http://127.0.0.1:9/").unwrap();
        for program in ["microk8s", "kubectl", "helm", "ctr"] {
            assert!(lines.iter().any(|l| l.program == program), "{program}");
        }
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        assert!(
            text.contains(&"microk8s ctr images ls".to_string()),
            "{text:?}"
        );
        assert!(text
            .iter()
            .any(|l| l.contains("'/srv/binder/extra values.yaml'")));
        assert!(text
            .iter()
            .any(|l| l.contains("remove-node node2.example --force")));
    }
}
