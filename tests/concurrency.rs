//! Independent reads run at once: the stand-ins hold every call until the
//! wanted number of calls have started, so a command whose reads run one
//! after another fails (and the control test shows that it would).

mod support;

use std::time::Duration;

use support::fake_tools::{call, FakeCluster};
use support::{run, stderr, stdout};

/// Long enough for a loaded machine to start every call; a serial command
/// fails after it.
const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn the_stand_ins_fail_calls_made_one_after_another() {
    let fake = FakeCluster::new();
    fake.require_in_flight(2, Duration::from_millis(200));
    // `pods ls` makes one call: it never sees a second one start.
    let out = run(&fake, &["pods", "ls"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("only 1 of 2 calls started together"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_reads_release_pods_services_and_policy_at_once() {
    let fake = FakeCluster::new();
    fake.require_in_flight(5, PATIENCE);
    let out = run(&fake, &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Release binder"), "{}", stdout(&out));
    let mut calls = fake.normalized_calls();
    calls.sort();
    // The release, pods, workloads, services and each of the three managed
    // policies (both label generations and build pods), each once.
    assert_eq!(calls.len(), 7, "{calls:?}");
    assert!(calls.contains(&call(&[
        "kubectl", "get", "services", "-n", "binder", "-o", "json"
    ])));
}

#[test]
fn versions_reads_the_chart_versions_and_the_release_at_once() {
    let fake = FakeCluster::new();
    fake.require_in_flight(2, PATIENCE);
    let out = run(&fake, &["versions"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("deployed"), "{}", stdout(&out));
    assert_eq!(fake.normalized_calls().len(), 2, "{:?}", fake.calls());
}
