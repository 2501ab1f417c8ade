//! `binderctl pods ls|purge` against the fake cluster.

mod support;

use std::collections::BTreeSet;

use support::fake_tools::{
    call, default_user_pods, FakeCluster, FakePod, HOUR, PROTECTED_PODS, SECRET_IN_POD_ENV,
};
use support::{run, stderr, stdout};

const GET_PODS: [&str; 8] = [
    "microk8s", "kubectl", "get", "pods", "-n", "binder", "-o", "json",
];
const DELETE: [&str; 10] = [
    "microk8s",
    "kubectl",
    "delete",
    "pod",
    "-n",
    "binder",
    "--ignore-not-found",
    "--wait=false",
    "-o",
    "name",
];

fn delete_call(names: &[&str]) -> Vec<String> {
    let mut argv = call(&DELETE);
    argv.extend(names.iter().map(|n| n.to_string()));
    argv
}

fn user_pod_names() -> Vec<String> {
    default_user_pods().into_iter().map(|p| p.name).collect()
}

/// Every pod name passed to any `kubectl delete pod`.
fn deleted_names(fake: &FakeCluster) -> BTreeSet<String> {
    fake.calls_starting_with(&["kubectl", "delete", "pod"])
        .into_iter()
        .flat_map(|c| c.into_iter().skip(DELETE.len() - 1))
        .collect()
}

#[test]
fn purge_deletes_user_pods_in_batches_with_exact_commands() {
    let fake = FakeCluster::new();
    let out = run(
        &fake,
        &["pods", "purge", "jupyter-", "--yes", "--batch-size", "3"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let names = user_pod_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // The batches run at once: their calls come in any order.
    let mut expected = vec![
        call(&GET_PODS),
        delete_call(&names[..3]),
        delete_call(&names[3..]),
    ];
    expected.sort();
    assert_eq!(fake.sorted_calls(), expected);
    assert!(stderr(&out).contains("Deleted 4 pods."), "{}", stderr(&out));
    // What goes is shown before it goes.
    for name in &names {
        assert!(stderr(&out).contains(name), "{name} not listed");
    }
}

#[test]
fn purge_without_terminal_or_yes_is_refused() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["pods", "purge", "jupyter-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a terminal"), "{}", stderr(&out));
    assert_eq!(fake.calls(), vec![call(&GET_PODS)]);
}

#[test]
fn purge_dry_run_prints_the_commands_and_deletes_nothing() {
    let fake = FakeCluster::new();
    // No --yes and no terminal: a dry run needs no confirmation.
    let out = run(
        &fake,
        &[
            "pods",
            "purge",
            "jupyter-",
            "--dry-run",
            "--batch-size",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let names = user_pod_names();
    let prefix = "microk8s kubectl delete pod -n binder --ignore-not-found --wait=false -o name";
    assert_eq!(
        stdout(&out),
        format!(
            "{prefix} {} {}\n{prefix} {} {}\n",
            names[0], names[1], names[2], names[3]
        )
    );
    assert_eq!(fake.calls(), vec![call(&GET_PODS)]);
}

#[test]
fn protected_pods_are_never_selected_by_prefix() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["pods", "purge", "", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let deleted = deleted_names(&fake);
    assert_eq!(
        deleted,
        user_pod_names().into_iter().collect::<BTreeSet<_>>()
    );
    for name in PROTECTED_PODS {
        assert!(!deleted.contains(name), "{name} was deleted");
    }
    assert!(
        stderr(&out).contains("Left out 7 pods of the BinderHub deployment"),
        "{}",
        stderr(&out)
    );

    for prefix in ["h", "hub-", "b", "build-", "user-scheduler", "proxy"] {
        let fake = FakeCluster::new();
        let out = run(&fake, &["pods", "purge", prefix, "--yes"]);
        assert!(out.status.success(), "{prefix}: {}", stderr(&out));
        assert!(
            fake.calls_starting_with(&["kubectl", "delete"]).is_empty(),
            "{prefix}: {:?}",
            fake.calls()
        );
        assert!(
            stderr(&out).contains("nothing to delete"),
            "{prefix}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn protection_also_goes_by_name_when_labels_are_missing() {
    let mut fake = FakeCluster::new();
    fake.set_pods(&[
        FakePod::new("hub-7f9d8c6b5-abcde", None, 30 * HOUR),
        FakePod::new("stray-debug-pod", None, 30 * HOUR),
        FakePod::user("jupyter-a-2db", HOUR),
    ]);
    let out = run(&fake, &["pods", "purge", "", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        deleted_names(&fake),
        ["jupyter-a-2db", "stray-debug-pod"]
            .map(String::from)
            .into()
    );
}

#[test]
fn include_protected_selects_the_deployment_too() {
    let fake = FakeCluster::new();
    let out = run(
        &fake,
        &["pods", "purge", "hub-", "--include-protected", "--yes"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![call(&GET_PODS), delete_call(&["hub-6d4f9c7b8-x2k9p"])]
    );
    assert!(
        stderr(&out).contains("[BinderHub deployment]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn selector_goes_to_kubectl_and_age_filters_locally() {
    let mut fake = FakeCluster::new();
    // kubectl applies the selector: answer that query with user pods only.
    let user_pods = support::fake_tools::pod_list_json(&default_user_pods()).to_string();
    fake.respond(
        &[
            "kubectl",
            "get",
            "pods",
            "-n",
            "binder",
            "-o",
            "json",
            "-l",
            "component=singleuser-server",
        ],
        &user_pods,
        0,
    );
    let out = run(
        &fake,
        &[
            "--tools",
            "plain",
            "pods",
            "purge",
            "jupyter-",
            "-l",
            "component=singleuser-server",
            "--older-than",
            "2h",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![
            call(&[
                "kubectl",
                "get",
                "pods",
                "-n",
                "binder",
                "-o",
                "json",
                "-l",
                "component=singleuser-server"
            ]),
            call(&[
                "kubectl",
                "delete",
                "pod",
                "-n",
                "binder",
                "--ignore-not-found",
                "--wait=false",
                "-o",
                "name",
                "jupyter-cram2-2dteaching-2dmaterial-2dxkqz1y2a",
                "jupyter-intel4coro-2dpycram-2dp9a8b7c6",
                "jupyter-hub-2dtools-2dq1w2e3r4",
            ]),
        ]
    );
}

#[test]
fn pods_already_gone_are_not_an_error() {
    let fake = FakeCluster::new();
    fake.forget_pod("jupyter-intel4coro-2dpycram-2dp9a8b7c6");
    let out = run(&fake, &["pods", "purge", "jupyter-", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Deleted 3 pods. 1 was already gone."),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failing_batch_is_reported_by_name_and_the_others_still_run() {
    let mut fake = FakeCluster::new();
    let names = user_pod_names();
    // The batch holding the first pod fails; the other deletes its pods.
    fake.respond_script(
        &["kubectl", "delete", "pod"],
        &format!(
            r#"
for a in "$@"; do
  if [ "$a" = {first} ]; then
    echo "error: You must be logged in to the server (Unauthorized)" >&2
    exit 5
  fi
done
skip=
for a in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case "$a" in
    -n|-o) skip=1 ;;
    -*|delete|pod) ;;
    *) echo "pod/$a" ;;
  esac
done
"#,
            first = names[0]
        ),
    );
    let out = run(
        &fake,
        &["pods", "purge", "jupyter-", "--yes", "--batch-size", "2"],
    );
    assert_eq!(out.status.code(), Some(5));
    let err = stderr(&out);
    assert!(
        err.contains("error: You must be logged in to the server (Unauthorized)"),
        "{err}"
    );
    assert!(
        err.contains("Deleted 2 pods. 2 pods were not deleted, or the server did not confirm it:"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "Deleting pods 1-2 of 4 failed (`microk8s kubectl delete pod -n binder \
             --ignore-not-found --wait=false -o name {} {}` failed with exit code 5): {}, {}",
            names[0], names[1], names[0], names[1]
        )),
        "{err}"
    );
    // The failure stopped no other batch.
    assert_eq!(fake.calls_starting_with(&["kubectl", "delete"]).len(), 2);
}

#[test]
fn a_failing_listing_propagates_its_exit_code() {
    let mut fake = FakeCluster::new();
    fake.respond_full(
        &["kubectl", "get", "pods"],
        "",
        "The connection to the server 192.0.2.1:16443 was refused - did you specify the right host or port?\n",
        1,
    );
    let out = run(&fake, &["pods", "purge", "jupyter-", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("192.0.2.1:16443 was refused"),
        "{}",
        stderr(&out)
    );
    assert!(fake.calls_starting_with(&["kubectl", "delete"]).is_empty());
}

#[test]
fn bad_older_than_is_named_and_nothing_runs() {
    let fake = FakeCluster::new();
    let out = run(
        &fake,
        &[
            "pods",
            "purge",
            "jupyter-",
            "--older-than",
            // "2 hours" is a duration in humantime's grammar; this is not.
            "two hours",
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--older-than"), "{}", stderr(&out));
    assert!(stderr(&out).contains("\"two hours\""), "{}", stderr(&out));
    assert!(fake.calls().is_empty());
}

#[test]
fn zero_batch_size_is_refused() {
    let fake = FakeCluster::new();
    let out = run(
        &fake,
        &["pods", "purge", "jupyter-", "--yes", "--batch-size", "0"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(fake.calls().is_empty());
}

#[test]
fn ls_shows_selectable_pods_and_never_secrets() {
    let fake = FakeCluster::new();
    let selectable = run(&fake, &["pods", "ls"]);
    assert!(selectable.status.success(), "{}", stderr(&selectable));
    let text = stdout(&selectable);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{text}");
    assert_eq!(lines.len(), 1 + 4, "{text}");
    let row = "jupyter-cram2-2dteaching-2dmaterial-2dxkqz1y2a   1/1     Running   5h";
    assert!(text.contains(row), "{text}");
    assert!(!text.contains("hub-6d4f9c7b8"), "{text}");
    assert!(stderr(&selectable).contains("--include-protected"));

    let all = run(&fake, &["pods", "ls", "--include-protected"]);
    let text = stdout(&all);
    assert_eq!(text.lines().count(), 1 + 11, "{text}");
    let protected_row = |l: &str| l.starts_with("hub-6d4f9c7b8-x2k9p") && l.ends_with("yes");
    assert!(text.lines().any(protected_row), "{text}");
    for out in [&selectable, &all] {
        for secret in [SECRET_IN_POD_ENV, "fake-api-token"] {
            assert!(!stdout(out).contains(secret) && !stderr(out).contains(secret));
        }
    }
    // Listing never changes anything.
    let calls = fake.normalized_calls();
    assert!(
        calls.iter().all(|c| c[..3] == ["kubectl", "get", "pods"]),
        "{calls:?}"
    );
}

#[test]
fn ls_with_prefix_and_namespace() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["-n", "other", "pods", "ls", "jupyter-intel"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![call(&[
            "microk8s", "kubectl", "get", "pods", "-n", "other", "-o", "json"
        ])]
    );
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
}

#[test]
fn a_pod_name_that_is_an_option_is_never_handed_to_kubectl() {
    let mut fake = FakeCluster::new();
    let mut pods = default_user_pods();
    pods.push(FakePod::user("--all", HOUR));
    fake.set_pods(&pods);
    let out = run(&fake, &["pods", "purge", "", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pod \"--all\" is not a Kubernetes object name"),
        "{}",
        stderr(&out)
    );
    assert!(deleted_names(&fake).is_empty(), "{:?}", fake.calls());
}

#[test]
fn namespaces_and_prefixes_that_look_like_options_are_refused_before_any_tool_runs() {
    let fake = FakeCluster::new();
    for argv in [
        &["--namespace=-lkubernetes.io/metadata.name", "pods", "ls"][..],
        &["pods", "purge", "--yes", "--", "-l"],
    ] {
        let out = run(&fake, argv);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {}", stderr(&out));
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn kubectl_calls_get_the_request_timeout_by_default() {
    let fake = FakeCluster::new();
    let out = fake
        .command(&["pods", "purge", "jupyter-", "--dry-run"])
        .env_remove("BINDERCTL_REQUEST_TIMEOUT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .lines()
            .all(|l| l.contains(" --wait=false -o name --request-timeout=30s jupyter-")),
        "{}",
        stdout(&out)
    );
    let mut listing = call(&GET_PODS);
    listing.push("--request-timeout=30s".into());
    assert_eq!(fake.calls(), vec![listing.clone()]);
    let out = run(
        &fake,
        &["--request-timeout", "2m", "pods", "ls", "jupyter-"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    listing.pop();
    listing.push("--request-timeout=2m".into());
    assert_eq!(fake.calls().last(), Some(&listing));
}

#[test]
fn a_batch_cut_short_reports_what_it_deleted_and_what_is_left() {
    let mut fake = FakeCluster::new();
    let names = user_pod_names();
    // The server goes away after the first pod of the first batch.
    fake.respond_full(
        &["kubectl", "delete", "pod"],
        &format!("pod/{}\n", names[0]),
        "The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?\n",
        1,
    );
    let out = run(
        &fake,
        &["pods", "purge", "jupyter-", "--yes", "--batch-size", "2"],
    );
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("Deleted 1 pod. 3 pods were not deleted, or the server did not confirm it:"),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "Deleting pods 1-2 of 4 failed (the API server cannot be reached: it is down or \
             restarting: `microk8s kubectl delete pod -n binder --ignore-not-found --wait=false -o \
             name {} {}` failed with exit code 1): {}\n",
            names[0], names[1], names[1]
        )),
        "{said}"
    );
    assert!(
        said.contains(
            "Run the same command again to delete what is left \
             (`binderctl pods ls jupyter- -n binder` lists it)."
        ),
        "{said}"
    );
}
