//! `binderctl volumes ls|rm` against the fake cluster.

mod support;

use support::fake_tools::{call, FakeCluster, PODS_WITH_CLAIMS_JSON, PVCS_JSON};
use support::{run, stderr, stdout};

fn fake() -> FakeCluster {
    let mut fake = FakeCluster::new();
    fake.respond(&["kubectl", "get", "pvc"], PVCS_JSON, 0);
    fake.respond(&["kubectl", "get", "pods"], PODS_WITH_CLAIMS_JSON, 0);
    fake.respond(
        &["kubectl", "delete", "pvc"],
        "persistentvolumeclaim/claim-course2023-bob\npersistentvolumeclaim/claim-course2023-carol\n",
        0,
    );
    fake
}

#[test]
fn ls_shows_size_age_and_the_pod_using_each_claim() {
    let fake = fake();
    let out = run(&fake, &["volumes", "ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("USED BY"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("claim-alice ") && lines[1].ends_with("jupyter-alice"),
        "{text}"
    );
    assert!(
        lines[2].contains("10Gi") && lines[2].ends_with(" -"),
        "{text}"
    );
    assert!(lines.iter().all(|l| l.len() <= 80), "{text}");
    let out = run(
        &fake,
        &[
            "--tools", "plain", "volumes", "ls", "-o", "json", "-n", "staging",
        ],
    );
    let records: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(records[0]["used_by"][0], "jupyter-alice");
    for field in [
        "name",
        "status",
        "size",
        "storage_class",
        "volume",
        "created",
        "age_seconds",
        "used_by",
    ] {
        assert!(records[0].get(field).is_some(), "{field}");
    }
    let out = run(&fake, &["volumes", "ls", "-o", "name"]);
    assert!(stdout(&out).starts_with("persistentvolumeclaim/claim-alice\n"));
    // Claims and pods are read at once, once each.
    let calls = fake.normalized_calls();
    assert!(calls.contains(&call(&[
        "kubectl", "get", "pvc", "-n", "staging", "-o", "json"
    ])));
    assert!(calls.contains(&call(&[
        "kubectl", "get", "pods", "-n", "staging", "-o", "json"
    ])));
    assert_eq!(calls.len(), 6);
}

#[test]
fn rm_by_prefix_deletes_unused_claims_after_asking() {
    let fake = fake();
    let out = run(&fake, &["volumes", "rm", "--prefix", "claim-course2023-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert!(fake.calls_starting_with(&["kubectl", "delete"]).is_empty());
    let out = run(
        &fake,
        &["volumes", "rm", "--prefix", "claim-course2023-", "--yes"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Deleted 2 volume claims."),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fake.calls_starting_with(&["kubectl", "delete"]),
        vec![call(&[
            "kubectl",
            "delete",
            "pvc",
            "-n",
            "binder",
            "--ignore-not-found",
            "--wait=false",
            "-o",
            "name",
            "claim-course2023-bob",
            "claim-course2023-carol",
        ])]
    );
}

#[test]
fn a_claim_in_use_or_the_hubs_database_is_never_deleted() {
    let fake = fake();
    let out = run(&fake, &["volumes", "rm", "claim-alice", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("keeping claim-alice: in use by jupyter-alice"),
        "{}",
        stderr(&out)
    );
    let out = run(&fake, &["volumes", "rm", "hub-db-dir", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("keeping hub-db-dir: the hub's database"),
        "{}",
        stderr(&out)
    );
    let out = run(&fake, &["volumes", "rm", "--prefix", "claim-", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let deleted = fake.calls_starting_with(&["kubectl", "delete"]);
    assert_eq!(deleted.len(), 1);
    assert!(
        !deleted[0].contains(&"claim-alice".to_string()),
        "{deleted:?}"
    );
    let out = run(&fake, &["volumes", "rm", "--prefix", "", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fake.calls_starting_with(&["kubectl", "delete"]).len(), 1);
}

#[test]
fn dry_run_prints_and_a_missing_claim_is_an_error() {
    let fake = fake();
    let out = run(
        &fake,
        &["volumes", "rm", "claim-course2023-bob", "--dry-run"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "microk8s kubectl delete pvc -n binder --ignore-not-found --wait=false -o name claim-course2023-bob\n"
    );
    assert!(fake.calls_starting_with(&["kubectl", "delete"]).is_empty());
    let out = run(&fake, &["volumes", "rm", "claim-nobody", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no volume claim \"claim-nobody\""),
        "{}",
        stderr(&out)
    );
    let out = run(&fake, &["volumes", "rm", "Bad Name"]);
    assert!(
        stderr(&out).contains("is not a Kubernetes object name"),
        "{}",
        stderr(&out)
    );
}
