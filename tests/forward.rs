//! `binderctl forward` against the fake cluster.

mod support;

use support::fake_tools::{call, FakeCluster};
use support::{stderr, stdout};

#[test]
fn forwards_proxy_public_and_prints_the_ssh_line() {
    let fake = FakeCluster::new();
    let out = fake
        .command(&["forward"])
        .env("USER", "lab")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("ssh -N -L 8080:127.0.0.1:8080 lab@"), "{err}");
    assert!(err.contains("http://127.0.0.1:8080/"), "{err}");
    assert!(stdout(&out).contains("Forwarding from"), "{}", stdout(&out));
    let out = fake
        .command(&[
            "--tools",
            "plain",
            "forward",
            "binder",
            "--port",
            "8585",
            "--address",
            "0.0.0.0",
            "-n",
            "staging",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exposes binder to the network"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fake.calls(),
        vec![
            call(&[
                "microk8s",
                "kubectl",
                "port-forward",
                "-n",
                "binder",
                "service/proxy-public",
                "8080:80",
                "--address",
                "127.0.0.1"
            ]),
            call(&[
                "kubectl",
                "port-forward",
                "-n",
                "staging",
                "service/binder",
                "8585:80",
                "--address",
                "0.0.0.0"
            ]),
        ]
    );
}

#[test]
fn a_bad_address_or_target_reaches_no_tool() {
    let fake = FakeCluster::new();
    let out = fake
        .command(&["forward", "--address", "all"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not an IP address"),
        "{}",
        stderr(&out)
    );
    let out = fake.command(&["forward", "hub"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(fake.calls().is_empty());
}
