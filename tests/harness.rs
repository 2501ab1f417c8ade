//! Checks of the fake cluster itself, so the other tests can trust it.

mod support;

use std::process::Command;

use support::fake_tools::{call, FakeCluster, FAKE_TOKEN};

fn run_fake(fake: &FakeCluster, tool: &str, args: &[&str]) -> std::process::Output {
    Command::new(fake.bin_dir().join(tool))
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

#[test]
fn fakes_record_argv_exactly_and_answer_by_longest_prefix() {
    let mut fake = FakeCluster::bare();
    fake.respond(&["kubectl", "get"], "short\n", 0);
    fake.respond(&["kubectl", "get", "pods"], "long\n", 0);
    fake.respond_full(&["helm", "uninstall"], "", "Error: release: not found\n", 1);

    let out = run_fake(&fake, "kubectl", &["get", "pods", "-l", "a in (b, c)", ""]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "long\n");
    let out = run_fake(&fake, "kubectl", &["get", "podsx"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "short\n");
    let out = run_fake(&fake, "microk8s", &["helm", "uninstall", "binder"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: release: not found\n"
    );
    let out = run_fake(&fake, "ctr", &["images", "ls"]);
    assert_eq!(out.status.code(), Some(97));

    assert_eq!(
        fake.calls(),
        vec![
            call(&["kubectl", "get", "pods", "-l", "a in (b, c)", ""]),
            call(&["kubectl", "get", "podsx"]),
            call(&["microk8s", "helm", "uninstall", "binder"]),
            call(&["ctr", "images", "ls"]),
        ]
    );
    assert_eq!(
        fake.normalized_calls()[2],
        call(&["helm", "uninstall", "binder"])
    );
}

#[test]
fn later_answers_replace_earlier_ones() {
    let mut fake = FakeCluster::new();
    let out = run_fake(
        &fake,
        "microk8s",
        &["kubectl", "create", "token", "default"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), FAKE_TOKEN);
    fake.respond(&["kubectl", "create", "token"], "other\n", 3);
    let out = run_fake(&fake, "kubectl", &["create", "token", "default"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "other\n");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn delete_pod_answers_only_for_pods_that_exist() {
    let fake = FakeCluster::new();
    fake.forget_pod("jupyter-intel4coro-2dpycram-2dp9a8b7c6");
    let out = run_fake(
        &fake,
        "kubectl",
        &[
            "delete",
            "pod",
            "-n",
            "binder",
            "--ignore-not-found",
            "-o",
            "name",
            "jupyter-intel4coro-2dpycram-2dp9a8b7c6",
            "jupyter-hub-2dtools-2dq1w2e3r4",
            "no-such-pod",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pod/jupyter-hub-2dtools-2dq1w2e3r4\n"
    );
    assert!(out.status.success());
}

#[test]
fn default_answers_are_realistic() {
    let fake = FakeCluster::new();
    let out = run_fake(
        &fake,
        "microk8s",
        &["kubectl", "get", "pods", "-n", "binder", "-o", "json"],
    );
    let pods: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 11);
    assert!(items.iter().all(|p| p["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z')));
    let out = run_fake(&fake, "ctr", &["--namespace", "k8s.io", "images", "ls"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("REF "), "{table}");
    assert_eq!(table.lines().count(), 11);
}
