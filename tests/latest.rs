//! `deploy --version latest` with its breaking-change warning, and
//! `versions --update`, against the fake cluster.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::fake_tools::{call, FakeCluster};
use support::{run, stderr, stdout};

const NEWEST: &str = "1.0.0-0.dev.git.3620.h0d3c3ec5";

/// Values that render offline (no hosts, no published lists).
const VALUES: &str = "config:\n  BinderHub:\n    hub_url: http://192.0.2.100\n\
jupyterhub:\n  singleuser:\n    networkPolicy:\n      egressAllowRules:\n        nonPrivateIPs: false\n      \
published_ip_lists: {github: [], fastly: []}\n";

fn fake() -> FakeCluster {
    let mut fake = FakeCluster::new();
    fake.write_file("binder.yaml", VALUES);
    let secret = fake.write_file(
        "secret.yaml",
        "registry:\n  username: lab\n  password: dckr_pat_LATEST\n",
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    fake.respond(
        &["helm", "repo", "list"],
        r#"[{"name":"jupyterhub","url":"https://charts.example/"}]"#,
        0,
    );
    fake.respond(&["helm", "repo", "update"], "Hang tight while we grab the latest from your chart repositories...\nUpdate Complete. Happy Helming!\n", 0);
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
    fake.respond(
        &["kubectl", "rollout", "status"],
        "deployment \"hub\" successfully rolled out\n",
        0,
    );
    fake
}

#[test]
fn latest_refreshes_once_takes_the_newest_and_warns_about_the_jump() {
    let fake = fake();
    let out = run(&fake, &["deploy", "--version", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("--version latest is {NEWEST}")),
        "{err}"
    );
    // Deployed: 3506; newest: 3620; zero-to-jupyterhub 4 came with 3524.
    assert!(err.contains("warning: 1.0.0-0.dev.git.3506.hba24eb2a -> 1.0.0-0.dev.git.3620.h0d3c3ec5 crosses a breaking chart change (November 2024)"), "{err}");
    assert!(!err.contains("imageCleaner"), "{err}");
    let calls = fake.normalized_calls();
    let position = |prefix: &[&str]| {
        calls
            .iter()
            .position(|c| c.starts_with(&call(prefix)))
            .unwrap()
    };
    assert_eq!(
        fake.calls_starting_with(&["helm", "repo", "update"]),
        vec![call(&["helm", "repo", "update", "jupyterhub"])]
    );
    assert!(position(&["helm", "repo", "update"]) < position(&["helm", "search"]));
    let upgrade = &fake.calls_starting_with(&["helm", "upgrade"])[0];
    assert!(
        upgrade.contains(&format!("--version={NEWEST}")),
        "{upgrade:?}"
    );
    assert!(!err.contains("LATEST") && !stdout(&out).contains("dckr_pat"));
}

#[test]
fn latest_in_a_dry_run_reads_the_cache_and_changes_nothing() {
    let fake = fake();
    let out = run(
        &fake,
        &[
            "--tools",
            "plain",
            "deploy",
            "--version",
            "latest",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("not refreshed"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("--version={NEWEST}")),
        "{}",
        stdout(&out)
    );
    assert!(fake
        .calls_starting_with(&["helm", "repo", "update"])
        .is_empty());
    assert!(fake.calls_starting_with(&["helm", "upgrade"]).is_empty());
}

#[test]
fn a_jump_over_the_image_cleaner_change_says_which_keys() {
    let mut fake = fake();
    fake.respond(
        &["helm", "list"],
        r#"[{"name":"binder","namespace":"binder","revision":"20","updated":"2025-09-01 10:00:00 +0000 UTC","status":"deployed","chart":"binderhub-1.0.0-0.dev.git.3800.h1a2b3c4d","app_version":""}]"#,
        0,
    );
    fake.respond(
        &["helm", "search", "repo"],
        r#"[{"name":"jupyterhub/binderhub","version":"1.0.0-0.dev.git.3880.h5e6f7a8b","app_version":"","description":"A helm chart to install Binder"}]"#,
        0,
    );
    let out = run(&fake, &["deploy", "--version", "latest", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("imageCleaner.host.dockerSocketDir"), "{err}");
    assert!(!err.contains("zero-to-jupyterhub"), "{err}");
}

#[test]
fn versions_update_refreshes_the_repository_first() {
    let fake = fake();
    let out = run(&fake, &["versions", "--update", "--limit", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(NEWEST), "{}", stdout(&out));
    let calls = fake.normalized_calls();
    assert_eq!(calls[0], call(&["helm", "repo", "update", "jupyterhub"]));
    // The search (and the deployed release, read alongside it) come after
    // the refresh, in either order.
    let search = call(&["helm", "search", "repo"]);
    assert!(
        calls[1..].iter().any(|c| c.starts_with(&search)),
        "{calls:?}"
    );
}
