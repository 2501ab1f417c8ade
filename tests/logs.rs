//! `binderctl logs` and the failure report `deploy` prints after a failed
//! rollout, against the fake cluster.

mod support;

use support::fake_tools::{
    call, crash_events_json, default_pods, meet_script, FakeCluster, FakePod, HUB_CRASH_LOG,
};
use support::{run, stderr, stdout};

const HUB: &str = "hub-6d4f9c7b8-x2k9p";

#[test]
fn a_component_by_label_with_the_options_in_kubectls_spelling() {
    let mut fake = FakeCluster::new();
    fake.respond(&["kubectl", "logs"], HUB_CRASH_LOG, 0);
    let out = run(
        &fake,
        &[
            "logs", "hub", "--since", "1h", "--tail", "5", "-n", "staging",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), HUB_CRASH_LOG);
    let out = run(
        &fake,
        &[
            "--tools",
            "plain",
            "logs",
            "jupyter-alice-2dx1",
            "-p",
            "-c",
            "notebook",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![
            call(&[
                "microk8s",
                "kubectl",
                "logs",
                "-n",
                "staging",
                "--selector=component=hub,release=binder",
                "--prefix",
                "--all-containers",
                "--tail=5",
                "--since=1h",
            ]),
            call(&[
                "kubectl",
                "logs",
                "-n",
                "binder",
                "jupyter-alice-2dx1",
                "--container=notebook",
                "--tail=-1",
                "--previous",
            ]),
        ]
    );
}

#[test]
fn a_bad_pod_name_reaches_no_tool() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["logs", "--", "--all-namespaces"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a Kubernetes object name"),
        "{}",
        stderr(&out)
    );
    assert!(fake.calls().is_empty());
}

#[test]
fn a_failing_tool_passes_its_exit_code_on() {
    let mut fake = FakeCluster::new();
    fake.respond_full(
        &["kubectl", "logs"],
        "",
        "Error from server (NotFound): pods \"jupyter-gone\" not found\n",
        1,
    );
    let out = run(&fake, &["logs", "jupyter-gone"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("jupyter-gone\" not found"),
        "{}",
        stderr(&out)
    );
}

/// binder.yaml that renders without any network: no hosts, no lists.
const OFFLINE_VALUES: &str = "config:\n  BinderHub:\n    hub_url: http://192.0.2.100\n\
jupyterhub:\n  singleuser:\n    networkPolicy:\n      egressAllowRules:\n        nonPrivateIPs: false\n      \
published_ip_lists: {github: [], fastly: []}\n";

fn failing_rollout() -> FakeCluster {
    let mut fake = FakeCluster::new();
    let mut pods = default_pods();
    if let Some(hub) = pods.iter_mut().find(|p| p.name == HUB) {
        hub.ready = false;
        hub.restarts = 6;
    }
    let mut pending = FakePod::new(
        "binder-7456dd9f6-new01",
        Some("binder"),
        support::fake_tools::MINUTE,
    );
    pending.ready = false;
    pending.phase = "Pending".into();
    pods.push(pending);
    fake.set_pods(&pods);
    fake.write_file("binder.yaml", OFFLINE_VALUES);
    let secret = fake.write_file(
        "secret.yaml",
        "registry:\n  username: lab\n  password: dckr_pat_LOGS-SECRET\n",
    );
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    fake.respond(
        &["helm", "repo", "list"],
        r#"[{"name":"jupyterhub","url":"https://charts.example/"}]"#,
        0,
    );
    fake.respond(&["helm", "repo", "update"], "Update Complete.\n", 0);
    fake.respond(
        &["helm", "upgrade"],
        "Release \"binder\" has been upgraded.\n",
        0,
    );
    fake.respond(
        &["kubectl", "get", "deployments,statefulsets,daemonsets"],
        r#"{"items":[{"metadata":{"name":"hub"}}]}"#,
        0,
    );
    fake.respond_full(
        &["kubectl", "rollout", "status"],
        "Waiting for deployment \"hub\" rollout to finish: 0 of 1 updated replicas are available...\n",
        "error: timed out waiting for the condition\n",
        1,
    );
    let field = format!("--field-selector=involvedObject.name={HUB}");
    fake.respond_script(
        &["kubectl", "get", "events", "-n", "binder", &field],
        &format!(
            "{}\ncat <<'JSON'\n{}\nJSON\n",
            meet_script("events", "logs"),
            crash_events_json(HUB)
        ),
    );
    fake.respond_script(
        &["kubectl", "logs", "-n", "binder", HUB],
        &format!(
            "{}\ncat <<'LOG'\n{HUB_CRASH_LOG}LOG\n",
            meet_script("logs", "events")
        ),
    );
    fake.respond(&["kubectl", "get", "events"], r#"{"items":[]}"#, 0);
    fake.respond(&["kubectl", "logs"], "", 0);
    fake
}

#[test]
fn a_failed_rollout_reports_the_failing_pods_events_and_logs() {
    let fake = failing_rollout();
    let out = run(
        &fake,
        &["deploy", "--version", "1.0.0-0.dev.git.3620.h0d3c3ec5"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("timed out waiting for the condition"), "{err}");
    assert!(err.contains("2 pods are not ready"), "{err}");
    assert!(
        err.contains(&format!(
            "pod {HUB}: ContainerCreating (ready 0/1, restarts 6)"
        )),
        "{err}"
    );
    assert!(
        err.contains("Warning BackOff: Back-off restarting failed container hub"),
        "{err}"
    );
    assert!(err.contains("(x24)"), "{err}");
    assert!(err.contains("unable to open database file"), "{err}");
    assert!(err.contains("binderctl logs POD -n binder"), "{err}");
    assert!(
        !err.contains("ran alone"),
        "the report's reads ran one after another: {err}"
    );
    assert!(!err.contains("LOGS-SECRET") && !stdout(&out).contains("LOGS-SECRET"));
    // The pods are listed once, each failing pod's events and logs once.
    let calls = fake.normalized_calls();
    let count = |prefix: &[&str]| {
        calls
            .iter()
            .filter(|c| c.starts_with(&call(prefix)))
            .count()
    };
    assert_eq!(count(&["kubectl", "get", "pods"]), 1);
    assert_eq!(count(&["kubectl", "get", "events"]), 2);
    assert_eq!(count(&["kubectl", "logs"]), 2);
    assert!(calls.contains(&call(&[
        "kubectl",
        "logs",
        "-n",
        "binder",
        HUB,
        "--all-containers",
        "--tail=20"
    ])));
}

#[test]
fn a_quiet_deploy_still_explains_a_failed_rollout() {
    let fake = failing_rollout();
    let out = run(
        &fake,
        &[
            "-q",
            "deploy",
            "--version",
            "1.0.0-0.dev.git.3620.h0d3c3ec5",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Warning BackOff"), "{}", stderr(&out));
}
