//! `binderctl diff` and `deploy --diff` against the fake cluster, with a
//! binder.yaml that renders offline.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::fake_tools::{call, FakeCluster};
use support::{run, stderr, stdout};

const VALUES: &str = "config:\n  BinderHub:\n    hub_url: http://192.0.2.100\n    use_registry: true\n\
jupyterhub:\n  proxy:\n    secretToken: 0123456789abcdef-PROXY-TOKEN\n  singleuser:\n    networkPolicy:\n      \
egressAllowRules:\n        nonPrivateIPs: false\n      published_ip_lists: {github: [], fastly: []}\n      \
cidr_whitelist: [192.0.2.0/25]\n";
const SECRET: &str = "registry:\n  username: lab\n  password: dckr_pat_DIFF-SECRET-1\n";
const VERSION: &str = "1.0.0-0.dev.git.3620.h0d3c3ec5";

/// A fake cluster whose release holds exactly what a deploy of VALUES and
/// SECRET would give it (as `helm get values -o json` prints it).
fn deployed() -> FakeCluster {
    let mut fake = FakeCluster::new();
    fake.write_file("binder.yaml", VALUES);
    let secret = fake.write_file("secret.yaml", SECRET);
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&fake, &["render", "--stdout"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut values: serde_json::Value = serde_yaml::from_str(&stdout(&out)).unwrap();
    let secret: serde_json::Value = serde_yaml::from_str(SECRET).unwrap();
    values["registry"] = secret["registry"].clone();
    fake.respond(&["helm", "get", "values"], &format!("{values}\n"), 0);
    fake
}

#[test]
fn nothing_to_change_exits_0() {
    let fake = deployed();
    let out = run(&fake, &["diff"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("no changes"), "{}", stderr(&out));
    assert_eq!(
        fake.normalized_calls(),
        vec![call(&[
            "helm", "get", "values", "binder", "-n", "binder", "-o", "json"
        ])]
    );
}

#[test]
fn a_change_is_a_readable_diff_with_secrets_masked_and_exits_1() {
    let fake = deployed();
    fake.write_file(
        "binder.yaml",
        &VALUES
            .replace("192.0.2.100", "192.0.2.101")
            .replace("192.0.2.0/25", "192.0.2.0/24"),
    );
    fake.write_file("secret.yaml", &SECRET.replace("SECRET-1", "SECRET-2"));
    let out = run(&fake, &["diff"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(diff.starts_with("--- deployed: release binder in namespace binder (helm get values)\n+++ to deploy: secret.yaml, binder.yaml rendered\n@@ -"), "{diff}");
    assert!(
        diff.contains("-    hub_url: http://192.0.2.100\n+    hub_url: http://192.0.2.101\n"),
        "{diff}"
    );
    assert!(
        diff.contains("-                cidr: 192.0.2.0/25\n+                cidr: 192.0.2.0/24\n"),
        "{diff}"
    );
    assert!(diff.contains("+  password: (secret, changed)\n"), "{diff}");
    for secret in ["DIFF-SECRET", "PROXY-TOKEN"] {
        assert!(
            !diff.contains(secret) && !stderr(&out).contains(secret),
            "{secret}: {diff}"
        );
    }
}

#[test]
fn an_uninstalled_release_is_all_new_and_a_failing_helm_exits_2() {
    let mut fake = deployed();
    fake.respond_full(
        &["helm", "get", "values"],
        "",
        "Error: release: not found\n",
        1,
    );
    let out = run(&fake, &["--tools", "plain", "diff"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not installed"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("+config:"), "{}", stdout(&out));
    fake.respond_full(
        &["helm", "get", "values"],
        "",
        "Error: Kubernetes cluster unreachable: Get \"https://127.0.0.1:16443/version\": dial tcp 127.0.0.1:16443: connect: connection refused\n",
        1,
    );
    let out = run(&fake, &["diff"]);
    assert_eq!(out.status.code(), Some(2), "an error is not a difference");
    assert!(
        stderr(&out).contains("cluster unreachable"),
        "{}",
        stderr(&out)
    );
}

fn deploy_answers(fake: &mut FakeCluster) {
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
    fake.respond(
        &["kubectl", "rollout", "status"],
        "deployment \"hub\" successfully rolled out\n",
        0,
    );
}

#[test]
fn deploy_diff_shows_the_changes_and_asks_before_upgrading() {
    let mut fake = deployed();
    deploy_answers(&mut fake);
    fake.write_file("binder.yaml", &VALUES.replace("192.0.2.100", "192.0.2.101"));
    let out = run(&fake, &["deploy", "--version", VERSION, "--diff"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("+    hub_url: http://192.0.2.101"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert!(fake.calls_starting_with(&["helm", "upgrade"]).is_empty());
    assert!(fake
        .calls_starting_with(&["helm", "repo", "update"])
        .is_empty());

    let out = run(&fake, &["deploy", "--version", VERSION, "--diff", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fake.calls_starting_with(&["helm", "upgrade"]).len(), 1);

    let out = run(
        &fake,
        &["deploy", "--version", VERSION, "--diff", "--dry-run"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("+    hub_url: http://192.0.2.101") && text.contains("helm upgrade"),
        "{text}"
    );
    assert_eq!(
        fake.calls_starting_with(&["helm", "upgrade"]).len(),
        1,
        "dry run upgraded"
    );
    assert!(!text.contains("DIFF-SECRET") && !stderr(&out).contains("DIFF-SECRET"));
}

#[test]
fn yes_without_diff_is_refused() {
    let fake = deployed();
    let out = run(&fake, &["deploy", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--diff"), "{}", stderr(&out));
}
