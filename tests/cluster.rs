//! Cross-cutting behaviour against the fake cluster: tool flavors, missing
//! tools, exit codes, interrupts; and `versions`, `status`, `dashboard`,
//! `uninstall`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::fake_tools::{
    call, DashboardLayout, FakeCluster, Microk8sState, FAKE_TOKEN, SECRET_IN_POD_ENV,
};
use support::{run, stderr, stdout};

/// `microk8s helm list` as binderctl runs it: every status by name, which
/// Helm 3 and Helm 4 both accept (Helm 4 has no `--all`).
const HELM_LIST_BINDER: [&str; 12] = [
    "microk8s",
    "helm",
    "list",
    "-n",
    "binder",
    "--deployed",
    "--failed",
    "--pending",
    "--uninstalling",
    "--superseded",
    "-o",
    "json",
];

fn helm_list(namespace: &str) -> Vec<&str> {
    let mut argv: Vec<&str> = HELM_LIST_BINDER.to_vec();
    argv[4] = namespace;
    argv
}

// ---- tool flavors and missing tools ----

#[test]
fn plain_tools_by_flag_or_environment() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["--tools", "plain", "pods", "ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = fake
        .command(&["quota", "show"])
        .env("BINDERCTL_TOOLS", "plain")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&fake, &["quota", "show"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![
            call(&["kubectl", "get", "pods", "-n", "binder", "-o", "json"]),
            call(&[
                "kubectl",
                "get",
                "resourcequota",
                "-n",
                "binder",
                "-o",
                "json"
            ]),
            call(&[
                "microk8s",
                "kubectl",
                "get",
                "resourcequota",
                "-n",
                "binder",
                "-o",
                "json"
            ]),
        ]
    );
}

#[test]
fn a_missing_tool_is_named_with_how_to_install_it() {
    let fake = FakeCluster::new();
    fake.remove_tool("microk8s");
    let out = run(&fake, &["pods", "ls"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`microk8s` is not installed"), "{err}");
    assert!(
        err.contains("sudo snap install microk8s --classic"),
        "{err}"
    );
    assert!(err.contains("--tools plain"), "{err}");

    fake.remove_tool("helm");
    let out = run(&fake, &["--tools", "plain", "versions"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`helm` is not installed"), "{err}");
    assert!(err.contains("microk8s helm"), "{err}");
}

#[test]
fn namespace_and_release_from_environment() {
    let fake = FakeCluster::new();
    let out = fake
        .command(&["uninstall", "--dry-run"])
        .env("BINDERCTL_NAMESPACE", "staging")
        .env("BINDERCTL_RELEASE", "binder")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fake.calls()[0], call(&helm_list("staging")));
}

// ---- versions ----

#[test]
fn versions_newest_first_with_the_deployed_one_marked() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["versions"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The two reads run at once: their order is not fixed.
    let mut expected = vec![
        call(&[
            "microk8s",
            "helm",
            "search",
            "repo",
            "jupyterhub/binderhub",
            "--versions",
            "--devel",
            "-o",
            "json",
        ]),
        call(&helm_list("binder")),
    ];
    expected.sort();
    assert_eq!(fake.sorted_calls(), expected);
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], vec!["VERSION", "APP", "VERSION", "DEPLOYED"]);
    let versions: Vec<&str> = lines[1..].iter().map(|l| l[0]).collect();
    assert_eq!(
        versions,
        vec![
            "1.0.0-0.dev.git.3620.h0d3c3ec5",
            "1.0.0-0.dev.git.3612.h5b1e8a37",
            "1.0.0-0.dev.git.3506.hba24eb2a",
            "1.0.0-0.dev.git.3170.h84b1db9",
            "1.0.0-0.dev.git.3167.hc46696b",
            "0.2.0-n886.h0c7d5b6",
        ]
    );
    let marked: Vec<&str> = lines[1..]
        .iter()
        .filter(|l| l.last() == Some(&"deployed"))
        .map(|l| l[0])
        .collect();
    assert_eq!(marked, vec!["1.0.0-0.dev.git.3506.hba24eb2a"]);
}

#[test]
fn versions_limit_says_where_the_deployed_one_is() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["versions", "--limit", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2);
    assert!(
        stderr(&out).contains("Deployed: 1.0.0-0.dev.git.3506.hba24eb2a, 2 newer versions exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn versions_on_a_fresh_helm_adds_and_refreshes_the_repository() {
    let mut fake = FakeCluster::new();
    // No repositories until `helm repo add`; then the search finds versions.
    fake.respond_full(
        &["helm", "search", "repo"],
        "",
        "Error: no repositories configured\n",
        1,
    );
    fake.respond(&["helm", "repo", "list"], "[]\n", 0);
    fake.respond_script(
        &["helm", "repo", "add"],
        &format!(
            "echo '\"jupyterhub\" has been added to your repositories'\n\
             printf '%s' '{}' > \"$FAKE_DIR/search.out\"\n",
            support::fake_tools::HELM_SEARCH_JSON
        ),
    );
    fake.respond(&["helm", "repo", "update"], "Update Complete.\n", 0);
    fake.respond_script(
        &["helm", "search", "repo"],
        "if [ -f \"$FAKE_DIR/search.out\" ]; then cat \"$FAKE_DIR/search.out\"; else echo 'Error: no repositories configured' >&2; exit 1; fi\n",
    );
    let out = fake
        .command(&["versions"])
        .env(
            "BINDERCTL_CHART_REPO_URL",
            "https://charts.example/helm-chart/",
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let changing: Vec<_> = fake
        .normalized_calls()
        .into_iter()
        .filter(|c| c.get(1).map(String::as_str) == Some("repo"))
        .collect();
    assert_eq!(
        changing,
        vec![
            call(&["helm", "repo", "list", "-o", "json"]),
            call(&[
                "helm",
                "repo",
                "add",
                "jupyterhub",
                "https://charts.example/helm-chart/"
            ]),
            call(&["helm", "repo", "update", "jupyterhub"]),
        ]
    );
    assert!(stdout(&out).starts_with("VERSION"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("has been added"), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("microk8s helm repo add jupyterhub https://charts.example/helm-chart/"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn versions_shows_helms_error_and_code() {
    let mut fake = FakeCluster::new();
    fake.respond_full(
        &["helm", "search", "repo"],
        "",
        "Error: failed to load repositories.yaml: permission denied\n",
        1,
    );
    let out = run(&fake, &["versions"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );

    // A known repository whose index lists nothing: refreshed once, then an error.
    fake.respond(&["helm", "search", "repo"], "[]\n", 0);
    fake.respond(
        &["helm", "repo", "list"],
        r#"[{"name":"jupyterhub","url":"https://charts.example/"}]"#,
        0,
    );
    fake.respond(&["helm", "repo", "update"], "Update Complete.\n", 0);
    let out = run(&fake, &["versions"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        fake.calls_starting_with(&["helm", "repo", "update"]).len(),
        1
    );
    assert!(
        stderr(&out).contains("holds no versions of jupyterhub/binderhub"),
        "{}",
        stderr(&out)
    );
}

// ---- status ----

#[test]
fn status_shows_release_pods_and_addresses_but_no_secrets() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The reads run at once, so they reach the log in any order.
    let mut calls = fake.calls();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            call(&helm_list("binder")),
            call(&[
                "microk8s",
                "kubectl",
                "get",
                "deployments,statefulsets,daemonsets",
                "-n",
                "binder",
                "-o",
                "json"
            ]),
            call(&[
                "microk8s",
                "kubectl",
                "get",
                "networkpolicy",
                "binderctl-egress",
                "-n",
                "binder",
                "-o",
                "json"
            ]),
            call(&[
                "microk8s",
                "kubectl",
                "get",
                "networkpolicy",
                "binderctl-egress-build",
                "-n",
                "binder",
                "-o",
                "json"
            ]),
            call(&[
                "microk8s",
                "kubectl",
                "get",
                "networkpolicy",
                "binderctl-egress-v2",
                "-n",
                "binder",
                "-o",
                "json"
            ]),
            call(&["microk8s", "kubectl", "get", "pods", "-n", "binder", "-o", "json"]),
            call(&["microk8s", "kubectl", "get", "services", "-n", "binder", "-o", "json"]),
        ]
    );
    let text = stdout(&out);
    assert!(
        text.contains("Egress policy binderctl-egress: none"),
        "{text}"
    );
    assert!(
        text.contains("Release binder in namespace binder: deployed, revision 14"),
        "{text}"
    );
    assert!(
        text.contains("Chart: binderhub, version 1.0.0-0.dev.git.3506.hba24eb2a"),
        "{text}"
    );
    assert!(text.contains("Pods (11 of 11 ready):"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("proxy-public") && l.contains("192.0.2.100")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("binder ") && l.contains("192.0.2.101")),
        "{text}"
    );
    for secret in [SECRET_IN_POD_ENV, "fake-api-token"] {
        assert!(
            !text.contains(secret) && !stderr(&out).contains(secret),
            "{secret} printed"
        );
    }
}

#[test]
fn status_without_release() {
    let mut fake = FakeCluster::new();
    fake.respond(&["helm", "list"], "[]\n", 0);
    let out = run(&fake, &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Release binder: not installed in namespace binder"),
        "{}",
        stdout(&out)
    );
}

// ---- dashboard ----

#[test]
fn dashboard_token_prints_only_the_token_on_stdout() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["dashboard", "token"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{FAKE_TOKEN}\n"));
    assert!(!stderr(&out).contains(FAKE_TOKEN));
    assert_eq!(
        fake.calls(),
        vec![call(&[
            "microk8s",
            "kubectl",
            "create",
            "token",
            "default",
            "-n",
            "default",
            "--duration=2000h"
        ])]
    );
    let out = run(
        &fake,
        &[
            "dashboard",
            "token",
            "--duration",
            "1d12h",
            "--service-account",
            "admin",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls()[1],
        call(&[
            "microk8s",
            "kubectl",
            "create",
            "token",
            "admin",
            "-n",
            "default",
            "--duration=36h"
        ])
    );
    let out = run(&fake, &["dashboard", "token", "--duration", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fake.calls().len(), 2);
}

#[test]
fn dashboard_forward_finds_the_1_28_to_1_32_layout() {
    let fake = FakeCluster::new();
    let out = run(
        &fake,
        &["--tools", "plain", "dashboard", "forward", "--port", "8443"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let forwarded = fake.calls_starting_with(&["kubectl", "port-forward"]);
    assert_eq!(
        forwarded,
        vec![call(&[
            "kubectl",
            "port-forward",
            "-n",
            "kube-system",
            "service/kubernetes-dashboard",
            "8443:443",
            "--address",
            "127.0.0.1",
        ])]
    );
    assert!(
        stderr(&out).contains("https://127.0.0.1:8443/"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("Forwarding from"), "{}", stdout(&out));
}

#[test]
fn dashboard_forward_finds_the_1_33_layout() {
    let mut fake = FakeCluster::new();
    fake.set_dashboard_layout(DashboardLayout::KongProxy);
    let out = run(&fake, &["dashboard", "forward"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls_starting_with(&["kubectl", "port-forward"]),
        vec![call(&[
            "kubectl",
            "port-forward",
            "-n",
            "kubernetes-dashboard",
            "service/kubernetes-dashboard-kong-proxy",
            "10024:443",
            "--address",
            "127.0.0.1",
        ])]
    );
}

#[test]
fn dashboard_forward_says_which_services_are_missing() {
    let mut fake = FakeCluster::new();
    fake.set_dashboard_layout(DashboardLayout::None);
    let out = run(&fake, &["dashboard", "forward"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("service/kubernetes-dashboard-kong-proxy in namespace kubernetes-dashboard (MicroK8s 1.33 and later)"),
        "{err}"
    );
    assert!(
        err.contains(
            "service/kubernetes-dashboard in namespace kube-system (MicroK8s 1.28 to 1.32)"
        ),
        "{err}"
    );
    assert!(err.contains("microk8s enable dashboard"), "{err}");
    assert!(fake
        .calls_starting_with(&["kubectl", "port-forward"])
        .is_empty());
}

// ---- uninstall ----

const READ_ONLY_UNINSTALL: [&[&str]; 2] = [
    &HELM_LIST_BINDER,
    &[
        "microk8s",
        "kubectl",
        "get",
        "namespace",
        "binder",
        "-o",
        "json",
    ],
];

#[test]
fn uninstall_without_terminal_or_yes_is_refused() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["uninstall"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert_eq!(fake.calls(), READ_ONLY_UNINSTALL.map(call).to_vec());
}

#[test]
fn uninstall_deletes_the_release_then_the_namespace() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["uninstall", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut expected = READ_ONLY_UNINSTALL.map(call).to_vec();
    expected.push(call(&[
        "microk8s",
        "helm",
        "uninstall",
        "binder",
        "-n",
        "binder",
    ]));
    for name in [
        "binderctl-egress",
        "binderctl-egress-v2",
        "binderctl-egress-build",
    ] {
        expected.push(call(&[
            "microk8s",
            "kubectl",
            "delete",
            "networkpolicy",
            name,
            "-n",
            "binder",
            "--ignore-not-found",
        ]));
    }
    expected.push(call(&[
        "microk8s",
        "kubectl",
        "delete",
        "namespace",
        "binder",
    ]));
    assert_eq!(fake.calls(), expected);
}

#[test]
fn uninstall_dry_run_prints_both_commands_and_deletes_nothing() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["uninstall", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "microk8s helm uninstall binder -n binder\n\
         microk8s kubectl delete networkpolicy binderctl-egress -n binder --ignore-not-found\n\
         microk8s kubectl delete networkpolicy binderctl-egress-v2 -n binder --ignore-not-found\n\
         microk8s kubectl delete networkpolicy binderctl-egress-build -n binder --ignore-not-found\n\
         microk8s kubectl delete namespace binder\n"
    );
    assert_eq!(fake.calls(), READ_ONLY_UNINSTALL.map(call).to_vec());
}

#[test]
fn uninstall_skips_what_is_already_gone() {
    let mut fake = FakeCluster::new();
    fake.respond(&["helm", "list"], "[]\n", 0);
    let out = run(&fake, &["uninstall", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "microk8s kubectl delete networkpolicy binderctl-egress -n binder --ignore-not-found\n\
         microk8s kubectl delete networkpolicy binderctl-egress-v2 -n binder --ignore-not-found\n\
         microk8s kubectl delete networkpolicy binderctl-egress-build -n binder --ignore-not-found\n\
         microk8s kubectl delete namespace binder\n"
    );

    fake.respond_full(
        &["kubectl", "get", "namespace"],
        "",
        "Error from server (NotFound): namespaces \"binder\" not found\n",
        1,
    );
    let out = run(&fake, &["uninstall", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Nothing to uninstall"),
        "{}",
        stderr(&out)
    );
    assert!(fake.calls_starting_with(&["kubectl", "delete"]).is_empty());
    assert!(fake.calls_starting_with(&["helm", "uninstall"]).is_empty());
}

#[test]
fn uninstall_stops_when_helm_fails() {
    let mut fake = FakeCluster::new();
    fake.respond_full(
        &["helm", "uninstall"],
        "",
        "Error: uninstallation completed with 1 error(s): timed out\n",
        1,
    );
    let out = run(&fake, &["uninstall", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("uninstallation completed with 1 error(s)"),
        "{}",
        stderr(&out)
    );
    assert!(fake.calls_starting_with(&["kubectl", "delete"]).is_empty());
}

#[test]
fn uninstall_refuses_system_namespaces() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["-n", "kube-system", "uninstall", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refusing to delete namespace \"kube-system\""),
        "{}",
        stderr(&out)
    );
    assert!(fake.calls().is_empty());
}

// ---- interrupts ----

fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn process_exists(pid: &str) -> bool {
    Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// A fake `kubectl apply` that records its pid and then waits "forever";
/// `ignore` lists signals it ignores.
fn hanging_apply(fake: &mut FakeCluster, ignore: &str) {
    fake.respond_script(
        &["kubectl", "apply"],
        &format!("trap '' {ignore}\necho $$ > \"$FAKE_DIR/child.pid.tmp\"; mv \"$FAKE_DIR/child.pid.tmp\" \"$FAKE_DIR/child.pid\"\nexec sleep 60\n"),
    );
}

#[test]
fn ctrl_c_stops_binderctl_and_its_child() {
    use std::os::unix::process::CommandExt;
    let mut fake = FakeCluster::new();
    hanging_apply(&mut fake, "HUP");
    fake.write_file("resource-quota.yaml", "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q\nspec:\n  hard:\n    pods: \"1\"\n");
    // Its own process group, as a shell gives a foreground job: Ctrl-C on a
    // terminal reaches binderctl and the child alike.
    let child = fake
        .command(&["quota", "apply"])
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = wait_for_file(&fake.state_dir().join("child.pid"));
    assert!(process_exists(&pid));
    let group = format!("-{}", child.id());
    assert!(Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert!(!process_exists(&pid), "the child outlived binderctl");
}

#[test]
fn sigterm_kills_a_child_that_ignores_it() {
    let mut fake = FakeCluster::new();
    hanging_apply(&mut fake, "INT TERM");
    fake.write_file("resource-quota.yaml", "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q\nspec:\n  hard:\n    pods: \"1\"\n");
    let child = fake.command(&["quota", "apply"]).spawn().unwrap();
    let pid = wait_for_file(&fake.state_dir().join("child.pid"));
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(!process_exists(&pid), "the child outlived binderctl");
}

// ---- strict stand-ins and MicroK8s' wrapper traps ----

fn run_tool(fake: &FakeCluster, tool: &str, args: &[&str]) -> std::process::Output {
    Command::new(fake.bin_dir().join(tool))
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

#[test]
fn the_stand_ins_refuse_what_the_real_tools_refuse() {
    let fake = FakeCluster::new();
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "helm",
            &["list", "-n", "binder", "--all", "-o", "json"],
            "Error: unknown flag: --all",
        ),
        (
            "microk8s",
            &["helm", "list", "--all"],
            "Error: unknown flag: --all",
        ),
        (
            "microk8s",
            &["ctr", "-n", "k8s.io", "images", "ls"],
            "Cannot use two forms of the same flag: n namespace",
        ),
        (
            "kubectl",
            &["get", "pods", "--bogus"],
            "error: unknown flag: --bogus",
        ),
        (
            "ctr",
            &["--namespace", "k8s.io", "images", "ls", "--all"],
            "flag provided but not defined: --all",
        ),
    ];
    for (tool, args, expected) in cases {
        let out = run_tool(&fake, tool, args);
        assert_eq!(out.status.code(), Some(1), "{tool} {args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{tool} {args:?}: {}",
            stderr(&out)
        );
    }
    let out = run_tool(&fake, "helm", &["plugin", "list"]);
    assert_eq!(
        out.status.code(),
        Some(98),
        "unrecorded subcommands are refused too"
    );
    let out = run_tool(
        &fake,
        "microk8s",
        &[
            "helm",
            "list",
            "-n",
            "binder",
            "--deployed",
            "--failed",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_worker_node_is_detected_before_anything_runs() {
    let fake = FakeCluster::new();
    fake.set_microk8s_state(Microk8sState::Worker);
    for args in [
        &["dashboard", "token"][..],
        &["status"],
        &["versions"],
        &["pods", "purge", "jupyter-", "--yes"],
    ] {
        let out = run(&fake, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("this machine is a MicroK8s worker node"),
            "{err}"
        );
        assert!(err.contains("clustered.lock exists"), "{err}");
        assert!(
            err.contains("run binderctl on a control-plane node"),
            "{err}"
        );
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    // Each node's own containerd still answers `microk8s ctr`.
    let out = run(&fake, &["images", "ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Plain tools are not MicroK8s' wrappers.
    let out = run(&fake, &["--tools", "plain", "dashboard", "token"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_wrappers_worker_sentence_is_never_taken_for_an_answer() {
    // binderctl looks at another $SNAP_DATA, so only the answer tells.
    let fake = FakeCluster::new();
    fake.set_microk8s_state(Microk8sState::Worker);
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(elsewhere.path().join("credentials")).unwrap();
    std::fs::write(elsewhere.path().join("credentials/client.config"), "").unwrap();
    for args in [&["dashboard", "token"][..], &["quota", "show"]] {
        let out = fake
            .command(args)
            .env("BINDERCTL_MICROK8S_SNAP_DATA", elsewhere.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("answered \"This MicroK8s deployment is acting as a node"),
            "{err}"
        );
        assert!(err.contains("worker node"), "{err}");
        assert_eq!(stdout(&out), "", "the sentence must not pass for a token");
    }
}

#[test]
fn a_stopped_microk8s_and_a_user_outside_the_group_are_told_the_fix() {
    let fake = FakeCluster::new();
    fake.set_microk8s_state(Microk8sState::Stopped);
    for args in [&["pods", "ls"][..], &["images", "ls"]] {
        let out = run(&fake, args);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains("MicroK8s is stopped"), "{err}");
        assert!(err.contains("`microk8s start`"), "{err}");
    }
    fake.set_microk8s_state(Microk8sState::ControlPlane);
    std::fs::remove_file(fake.snap_dir().join("credentials/client.config")).unwrap();
    let out = run(&fake, &["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("you cannot read MicroK8s' credentials"),
        "{err}"
    );
    assert!(err.contains("sudo usermod -a -G microk8s $USER"), "{err}");
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn a_sudo_that_wants_a_password_gets_its_fix() {
    // binderctl runs as root in the tests, so the wrapper's sudo is what fails.
    let fake = FakeCluster::new();
    fake.set_microk8s_state(Microk8sState::SudoNeedsPassword);
    let out = run(&fake, &["images", "ls"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("sudo: a terminal is required"), "{err}");
    assert!(
        err.contains("run binderctl as root (`sudo binderctl images"),
        "{err}"
    );
}

#[test]
fn the_wrappers_permission_message_gets_its_fix() {
    // The credentials look readable to binderctl, but the wrapper refuses.
    let fake = FakeCluster::new();
    fake.set_microk8s_state(Microk8sState::OutsideGroup);
    let out = run(&fake, &["pods", "ls"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Insufficient permissions to access MicroK8s."),
        "{err}"
    );
    assert!(
        err.contains("binderctl: add yourself to the microk8s group"),
        "{err}"
    );
}

#[test]
fn the_stand_ins_accept_every_argv_binderctl_builds() {
    // The same argv the conformance tier gives the real tools: the strict
    // stand-ins must know each subcommand and accept each flag.
    let fake = FakeCluster::bare();
    let lines =
        binderctl::samples::every_command_line(&fake.work_dir(), "http://127.0.0.1:9/").unwrap();
    assert!(lines.len() > 50);
    let mut refused = Vec::new();
    for line in lines {
        let stand_in = fake.bin_dir().join(&line.program);
        // sudo and systemctl (init's iscsid step) have no stand-in here.
        if !stand_in.exists() {
            assert!(
                ["sudo", "systemctl"].contains(&line.program.as_str()),
                "{line}"
            );
            continue;
        }
        let out = Command::new(stand_in)
            .args(&line.args)
            .env_clear()
            .output()
            .unwrap();
        // 97: no recorded answer, i.e. the argv itself was accepted.
        if out.status.code() != Some(97) {
            refused.push(format!("{line}: {}", stderr(&out)));
        }
    }
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}
