//! Cross-cutting behaviour against the fake cluster: tool flavors, missing
//! tools, exit codes, interrupts; and `versions`, `status`, `dashboard`,
//! `uninstall`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::fake_tools::{call, FakeCluster, FAKE_TOKEN, SECRET_IN_POD_ENV};
use support::{run, stderr, stdout};

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
    assert_eq!(
        fake.calls()[0],
        call(&["microk8s", "helm", "list", "-n", "staging", "--all", "-o", "json"])
    );
}

// ---- versions ----

#[test]
fn versions_newest_first_with_the_deployed_one_marked() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["versions"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![
            call(&[
                "microk8s",
                "helm",
                "search",
                "repo",
                "jupyterhub/binderhub",
                "--versions",
                "--devel",
                "-o",
                "json"
            ]),
            call(&["microk8s", "helm", "list", "-n", "binder", "--all", "-o", "json"]),
        ]
    );
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
fn versions_with_no_repository_shows_helms_error_and_code() {
    let mut fake = FakeCluster::new();
    fake.respond_full(
        &["helm", "search", "repo"],
        "",
        "Error: no repositories configured\n",
        1,
    );
    let out = run(&fake, &["versions"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Error: no repositories configured"),
        "{}",
        stderr(&out)
    );

    fake.respond(&["helm", "search", "repo"], "[]\n", 0);
    let out = run(&fake, &["versions"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("helm repo add jupyterhub"),
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
    assert_eq!(
        fake.calls(),
        vec![
            call(&["microk8s", "helm", "list", "-n", "binder", "--all", "-o", "json"]),
            call(&["microk8s", "kubectl", "get", "pods", "-n", "binder", "-o", "json"]),
            call(&["microk8s", "kubectl", "get", "services", "-n", "binder", "-o", "json"]),
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
        text.contains("(version 1.0.0-0.dev.git.3506.hba24eb2a)"),
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
fn dashboard_forward_runs_port_forward() {
    let fake = FakeCluster::new();
    let out = run(
        &fake,
        &["--tools", "plain", "dashboard", "forward", "--port", "8443"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
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

// ---- uninstall ----

const READ_ONLY_UNINSTALL: [&[&str]; 2] = [
    &[
        "microk8s", "helm", "list", "-n", "binder", "--all", "-o", "json",
    ],
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
    expected.push(call(&[
        "microk8s",
        "kubectl",
        "delete",
        "networkpolicy",
        "binderctl-egress",
        "-n",
        "binder",
        "--ignore-not-found",
    ]));
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
