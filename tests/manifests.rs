//! `binderctl quota` and `binderctl storage` against the fake cluster.

mod support;

use support::fake_tools::{call, FakeCluster};
use support::{run, stderr, stdout};

const QUOTA: &str = "\
# Caps what the BinderHub namespace may use in total.
apiVersion: v1
kind: ResourceQuota
metadata:
  name: binder-quota
  namespace: binder
spec:
  hard:
    requests.cpu: \"24\"
    requests.memory: 48Gi
    pods: \"120\"
";

const STORAGE: &str = "\
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-storage-dir
  annotations:
    storageclass.kubernetes.io/is-default-class: \"true\"
    openebs.io/cas-type: local
    cas.openebs.io/config: |
      - name: StorageType
        value: hostpath
      - name: BasePath
        value: /var/openebs/local
provisioner: openebs.io/local
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
";

#[test]
fn quota_apply_checks_the_file_then_applies_it() {
    let fake = FakeCluster::new();
    fake.write_file("resource-quota.yaml", QUOTA);
    let out = run(&fake, &["quota", "apply"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![call(&[
            "microk8s",
            "kubectl",
            "apply",
            "-n",
            "binder",
            "-f",
            "resource-quota.yaml"
        ])]
    );
    assert!(
        stdout(&out).contains("resourcequota/binder-quota configured"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn quota_apply_dry_run_prints_and_runs_nothing() {
    let fake = FakeCluster::new();
    fake.write_file("my quota.yaml", QUOTA);
    let out = run(
        &fake,
        &[
            "--tools",
            "plain",
            "quota",
            "apply",
            "-f",
            "my quota.yaml",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "kubectl apply -n binder -f 'my quota.yaml'\n");
    assert!(fake.calls().is_empty());
}

#[test]
fn quota_files_of_the_wrong_kind_or_broken_are_refused() {
    let fake = FakeCluster::new();
    fake.write_file(
        "limits.yaml",
        &QUOTA.replace("kind: ResourceQuota", "kind: LimitRange"),
    );
    let out = run(&fake, &["quota", "apply", "-f", "limits.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "limits.yaml: document 1: kind is \"LimitRange\", expected \"ResourceQuota\""
        ),
        "{}",
        stderr(&out)
    );

    fake.write_file(
        "broken.yaml",
        "apiVersion: v1\nkind: ResourceQuota\nspec: [unclosed\n",
    );
    let out = run(&fake, &["quota", "apply", "-f", "broken.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("broken.yaml:4:1: not valid YAML"),
        "{}",
        stderr(&out)
    );

    let out = run(&fake, &["quota", "apply", "-f", "missing.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing.yaml: cannot read"),
        "{}",
        stderr(&out)
    );

    fake.write_file("resource-quota.yaml", QUOTA);
    let out = run(&fake, &["-n", "staging", "quota", "apply"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("metadata.namespace is \"binder\""),
        "{}",
        stderr(&out)
    );

    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn quota_show_lists_usage() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["quota", "show"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![call(&[
            "microk8s",
            "kubectl",
            "get",
            "resourcequota",
            "-n",
            "binder",
            "-o",
            "json"
        ])]
    );
    let text = stdout(&out);
    assert!(text.starts_with("QUOTA"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["binder-quota", "requests.cpu", "1200m", "24"]),
        "{text}"
    );
}

#[test]
fn quota_show_without_quota_says_so() {
    let mut fake = FakeCluster::new();
    fake.respond(
        &["kubectl", "get", "resourcequota"],
        r#"{"apiVersion":"v1","items":[],"kind":"List"}"#,
        0,
    );
    let out = run(&fake, &["quota", "show"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("No ResourceQuota in namespace binder"),
        "{}",
        stderr(&out)
    );
}

fn classes_json(defaults: &[(&str, bool)]) -> String {
    let items: Vec<serde_json::Value> = defaults
        .iter()
        .map(|(name, default)| {
            serde_json::json!({
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": name, "annotations": {"storageclass.kubernetes.io/is-default-class": default.to_string()}},
                "provisioner": "openebs.io/local", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"
            })
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

#[test]
fn storage_ls_marks_the_default_and_warns_about_none_or_several() {
    let mut fake = FakeCluster::new();
    let out = run(&fake, &["storage", "ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("local-storage-dir") && l.ends_with("yes")),
        "{text}"
    );
    assert!(!stderr(&out).contains("Warning"), "{}", stderr(&out));

    fake.respond(
        &["kubectl", "get", "storageclass"],
        &classes_json(&[("a", false), ("b", false)]),
        0,
    );
    let out = run(&fake, &["storage", "ls"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("Warning: no StorageClass is the default"),
        "{}",
        stderr(&out)
    );

    fake.respond(
        &["kubectl", "get", "storageclass"],
        &classes_json(&[("a", true), ("b", true)]),
        0,
    );
    let out = run(&fake, &["storage", "ls"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("Warning: 2 StorageClasses are the default (a, b)"),
        "{}",
        stderr(&out)
    );
    assert!(fake
        .normalized_calls()
        .iter()
        .all(|c| c == &call(&["kubectl", "get", "storageclass", "-o", "json"])));
}

#[test]
fn storage_apply_applies_then_checks_the_default() {
    let mut fake = FakeCluster::new();
    fake.write_file("local-storage-dir.yaml", STORAGE);
    let out = run(&fake, &["storage", "apply"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![
            call(&[
                "microk8s",
                "kubectl",
                "apply",
                "-f",
                "local-storage-dir.yaml"
            ]),
            call(&["microk8s", "kubectl", "get", "storageclass", "-o", "json"]),
        ]
    );
    assert!(!stderr(&out).contains("Warning"), "{}", stderr(&out));

    // After the apply, the cluster has two defaults: warn.
    fake.respond(
        &["kubectl", "get", "storageclass"],
        &classes_json(&[("local-storage-dir", true), ("microk8s-hostpath", true)]),
        0,
    );
    let out = run(&fake, &["storage", "apply"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: 2 StorageClasses are the default"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("storageclass microk8s-hostpath -p"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn storage_apply_dry_run_warns_about_the_state_it_would_create() {
    let mut fake = FakeCluster::new();
    fake.respond(
        &["kubectl", "get", "storageclass"],
        &classes_json(&[("microk8s-hostpath", true)]),
        0,
    );
    fake.write_file("local-storage-dir.yaml", STORAGE);
    let out = run(&fake, &["storage", "apply", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "microk8s kubectl apply -f local-storage-dir.yaml\n"
    );
    // Only the read-only listing ran.
    assert_eq!(
        fake.calls(),
        vec![call(&[
            "microk8s",
            "kubectl",
            "get",
            "storageclass",
            "-o",
            "json"
        ])]
    );
    assert!(
        stderr(&out)
            .contains("2 StorageClasses are the default (microk8s-hostpath, local-storage-dir)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn storage_files_are_checked_first() {
    let fake = FakeCluster::new();
    fake.write_file("quota-by-mistake.yaml", QUOTA);
    let out = run(&fake, &["storage", "apply", "-f", "quota-by-mistake.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("quota-by-mistake.yaml: document 1: kind is \"ResourceQuota\", expected \"StorageClass\""), "{err}");
    assert!(
        err.contains("apiVersion is \"v1\", expected \"storage.k8s.io/v1\""),
        "{err}"
    );

    fake.write_file("tabs.yaml", "kind: StorageClass\n\tname: x\n");
    let out = run(&fake, &["storage", "apply", "-f", "tabs.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("tabs.yaml:1:7: not valid YAML"),
        "{}",
        stderr(&out)
    );
    assert!(fake.calls().is_empty());
}

/// On a MicroK8s worker node the wrappers never run: the same check as
/// every other command, before anything (here the files are fine, so only
/// the check can stop them).
#[test]
fn quota_and_storage_apply_check_for_a_worker_node_before_any_wrapper() {
    let fake = FakeCluster::new();
    fake.write_file("resource-quota.yaml", QUOTA);
    fake.write_file("local-storage-dir.yaml", STORAGE);
    fake.set_microk8s_state(support::fake_tools::Microk8sState::Worker);
    for args in [
        &["quota", "apply"][..],
        &["quota", "apply", "--dry-run"],
        &["storage", "apply"],
        &["storage", "apply", "--dry-run"],
        &["quota", "show"],
        &["storage", "ls"],
    ] {
        let out = run(&fake, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("this machine is a MicroK8s worker node")
                && err.contains("clustered.lock exists"),
            "{args:?}: {err}"
        );
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}
