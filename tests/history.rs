//! `binderctl history` and `binderctl rollback` against the fake cluster.

mod support;

use support::fake_tools::{call, FakeCluster};
use support::{run, stderr, stdout};

fn fake() -> FakeCluster {
    let mut fake = FakeCluster::new();
    fake.respond_history_defaults();
    fake
}

#[test]
fn history_lists_the_revisions_in_every_format() {
    let fake = fake();
    let out = run(&fake, &["history"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "REVISION   UPDATED            STATUS       CHART VERSION"
    );
    assert_eq!(
        lines[3],
        "14         2024-05-21 10:02   deployed     1.0.0-0.dev.git.3620.h0d3c3ec5"
    );
    let out = run(
        &fake,
        &[
            "--tools", "plain", "history", "--max", "2", "-n", "staging", "-o", "json",
        ],
    );
    let records: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(records[2]["revision"], 14);
    assert_eq!(
        records[2]["chart_version"],
        "1.0.0-0.dev.git.3620.h0d3c3ec5"
    );
    for field in [
        "revision",
        "updated",
        "status",
        "chart",
        "chart_version",
        "app_version",
        "description",
    ] {
        assert!(records[0].get(field).is_some(), "{field}");
    }
    let out = run(&fake, &["history", "-o", "name"]);
    assert_eq!(stdout(&out), "12\n13\n14\n");
    assert_eq!(
        fake.calls()[1],
        call(&["helm", "history", "binder", "-n", "staging", "--max=2", "-o", "json"])
    );
}

#[test]
fn rollback_goes_to_the_previous_revision_and_waits_for_the_rollout() {
    let fake = fake();
    let out = run(&fake, &["rollback", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Rolled back release binder to revision 13"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fake.normalized_calls(),
        vec![
            call(&[
                "helm",
                "history",
                "binder",
                "-n",
                "binder",
                "--max=256",
                "-o",
                "json"
            ]),
            call(&[
                "helm",
                "rollback",
                "binder",
                "13",
                "-n",
                "binder",
                "--cleanup-on-fail"
            ]),
            call(&[
                "kubectl",
                "get",
                "deployments,statefulsets,daemonsets",
                "-n",
                "binder",
                "-o",
                "json"
            ]),
            call(&[
                "kubectl",
                "rollout",
                "status",
                "deployment/hub",
                "-n",
                "binder",
                "--timeout=10m"
            ]),
        ]
    );
}

#[test]
fn rollback_asks_first_and_a_script_without_yes_is_refused() {
    let fake = fake();
    let out = run(&fake, &["rollback", "12"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert!(fake.calls_starting_with(&["helm", "rollback"]).is_empty());
}

#[test]
fn rollback_dry_run_prints_the_command_and_changes_nothing() {
    let fake = fake();
    let out = run(&fake, &["--tools", "plain", "rollback", "12", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "helm rollback binder 12 -n binder --cleanup-on-fail\n"
    );
    assert!(
        stderr(&out).contains("from revision 14 (deployed, chart 1.0.0-0.dev.git.3620.h0d3c3ec5"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fake.calls().len(), 1, "{:?}", fake.calls());
}

#[test]
fn an_unknown_revision_or_release_is_a_clear_error() {
    let mut fake = fake();
    let out = run(&fake, &["rollback", "7", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("revision 7 is not in the release's history (known: 12, 13, 14"),
        "{}",
        stderr(&out)
    );
    fake.respond_full(&["helm", "history"], "", "Error: release: not found\n", 1);
    let out = run(&fake, &["--release", "lab", "rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no Helm release \"lab\" in namespace \"binder\""),
        "{}",
        stderr(&out)
    );
    assert!(fake.calls_starting_with(&["helm", "rollback"]).is_empty());
}

#[test]
fn a_failed_rollout_after_rollback_is_explained() {
    let mut fake = fake();
    fake.respond_full(
        &["kubectl", "rollout", "status"],
        "",
        "error: timed out waiting for the condition\n",
        1,
    );
    let mut pods = support::fake_tools::default_pods();
    pods[0].ready = false;
    fake.set_pods(&pods);
    fake.respond(
        &["kubectl", "get", "events"],
        &support::fake_tools::crash_events_json(&pods[0].name),
        0,
    );
    fake.respond(&["kubectl", "logs"], support::fake_tools::HUB_CRASH_LOG, 0);
    let out = run(&fake, &["rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("1 pod is not ready"), "{err}");
    assert!(err.contains("Warning BackOff"), "{err}");
}
