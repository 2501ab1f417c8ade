//! `binderctl images ls|rm` against the fake node's containerd.

mod support;

use support::fake_tools::{call, Call, FakeCluster};
use support::{run, stderr, stdout};

// MicroK8s' wrapper adds `--namespace k8s.io` itself: binderctl passes none.
const LS: [&str; 4] = ["microk8s", "ctr", "images", "ls"];
const RM: [&str; 4] = ["microk8s", "ctr", "images", "rm"];
const CONTAINERS: [&str; 4] = ["microk8s", "ctr", "containers", "ls"];

fn rm_call(refs: &[&str]) -> Vec<String> {
    let mut argv = call(&RM);
    argv.extend(refs.iter().map(|r| r.to_string()));
    argv
}

const TEACHING_1: &str =
    "registry.example/intel4coro/binder-cram2-2dteaching-2dmaterial-7d1e5f:0a1b2c3d";
const TEACHING_2: &str =
    "registry.example/intel4coro/binder-cram2-2dteaching-2dmaterial-9f8e7d:4e5f6a7b";

fn teaching_1_by_digest() -> String {
    format!(
        "registry.example/intel4coro/binder-cram2-2dteaching-2dmaterial-7d1e5f@sha256:{:064x}",
        0x5eed_0003u64
    )
}

/// The images and the containers are read at once: compare in any order.
fn sorted(mut calls: Vec<Call>) -> Vec<Call> {
    calls.sort();
    calls
}

fn id_ref(n: u64) -> String {
    format!("sha256:{:064x}", 0xa11_0000u64 + n)
}

#[test]
fn rm_removes_matching_refs_and_their_image_ids_in_batches() {
    let fake = FakeCluster::new();
    let out = run(
        &fake,
        &["images", "rm", "teaching", "--yes", "--batch-size", "2"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let by_digest = teaching_1_by_digest();
    let (id3, id4) = (id_ref(3), id_ref(4));
    assert_eq!(
        fake.sorted_calls(),
        sorted(vec![
            call(&LS),
            call(&CONTAINERS),
            rm_call(&[TEACHING_1, &by_digest]),
            rm_call(&[TEACHING_2, &id3]),
            rm_call(&[&id4]),
        ])
    );
    let err = stderr(&out);
    assert!(err.contains("Removed 5 of 5 image refs."), "{err}");
    assert!(err.contains("images of this node only"), "{err}");
}

#[test]
fn rm_with_regex_and_plain_tools() {
    let fake = FakeCluster::new();
    let out = run(
        &fake,
        &[
            "--tools",
            "plain",
            "images",
            "rm",
            "-E",
            r"teaching-2dmaterial-9f8e7d:[0-9a-f]+$",
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id4 = id_ref(4);
    assert_eq!(
        fake.sorted_calls(),
        sorted(vec![
            call(&["ctr", "--namespace", "k8s.io", "images", "ls"]),
            call(&["ctr", "--namespace", "k8s.io", "containers", "ls"]),
            call(&[
                "ctr",
                "--namespace",
                "k8s.io",
                "images",
                "rm",
                TEACHING_2,
                &id4
            ]),
        ])
    );
}

#[test]
fn an_empty_match_removes_nothing_and_says_so() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["images", "rm", "no-such-image", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No images match \"no-such-image\"; nothing removed."),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fake.sorted_calls(),
        sorted(vec![call(&LS), call(&CONTAINERS)])
    );
}

#[test]
fn rm_without_terminal_or_yes_is_refused() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["images", "rm", "teaching"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert_eq!(
        fake.sorted_calls(),
        sorted(vec![call(&LS), call(&CONTAINERS)])
    );
}

#[test]
fn rm_dry_run_prints_commands_only() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["images", "rm", "pycram", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "microk8s ctr images rm registry.example/intel4coro/binder-intel4coro-2dpycram-1a2b3c:5d6e7f8a {}\n",
            id_ref(5)
        )
    );
    assert_eq!(
        fake.sorted_calls(),
        sorted(vec![call(&LS), call(&CONTAINERS)])
    );
}

#[test]
fn refs_already_gone_are_reported_not_fatal() {
    let fake = FakeCluster::new();
    let existing = fake.state_dir().join("existing-images");
    let kept: String = std::fs::read_to_string(&existing)
        .unwrap()
        .lines()
        .filter(|l| *l != TEACHING_2)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&existing, kept).unwrap();
    let out = run(&fake, &["images", "rm", "teaching", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Removed 4 of 5 image refs."),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failing_ctr_propagates_exit_code_and_stderr() {
    let mut fake = FakeCluster::new();
    fake.respond_full(
        &["ctr", "--namespace", "k8s.io", "images", "ls"],
        "",
        "ctr: failed to dial \"/var/snap/microk8s/common/run/containerd.sock\": permission denied\n",
        1,
    );
    let out = run(&fake, &["images", "ls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ls_filters_by_substring_or_regex() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["images", "ls", "teaching"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let refs: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        refs,
        vec!["REF", TEACHING_1, &teaching_1_by_digest(), TEACHING_2]
    );
    assert!(stderr(&out).contains("this node only"), "{}", stderr(&out));

    let out = run(&fake, &["images", "ls", "-E", "^images\\.test/"]);
    assert_eq!(stdout(&out).lines().count(), 3, "{}", stdout(&out));
    let out = run(&fake, &["images", "ls"]);
    assert_eq!(stdout(&out).lines().count(), 11, "{}", stdout(&out));
    assert!(fake.normalized_calls().iter().all(|c| c == &call(&LS[1..])));
}

#[test]
fn bad_regex_is_refused_before_anything_runs() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["images", "rm", "-E", "(unclosed", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"(unclosed\" is not a valid regular expression"),
        "{}",
        stderr(&out)
    );
    assert!(fake.calls().is_empty());
}

#[test]
fn other_containerd_namespace() {
    let mut fake = FakeCluster::new();
    fake.respond(
        &[
            "ctr",
            "--namespace",
            "k8s.io",
            "--namespace",
            "default",
            "images",
            "ls",
        ],
        "REF TYPE DIGEST SIZE PLATFORMS LABELS\n",
        0,
    );
    let out = run(
        &fake,
        &["images", "ls", "--containerd-namespace", "default"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls(),
        vec![call(&[
            "microk8s",
            "ctr",
            "--namespace",
            "default",
            "images",
            "ls"
        ])]
    );
    assert!(stderr(&out).contains("No images match"), "{}", stderr(&out));
}

#[test]
fn rm_keeps_back_images_in_use_and_system_images_and_says_why() {
    let mut fake = FakeCluster::new();
    // A user pod's container uses teaching-2; nothing uses the system images.
    let table = format!(
        "CONTAINER       IMAGE    RUNTIME\na9b8c7d6e5f4    {TEACHING_2}    io.containerd.runc.v2\n"
    );
    fake.respond(
        &["ctr", "--namespace", "k8s.io", "containers", "ls"],
        &table,
        0,
    );
    // `images.test` matches the hub's and Calico's images: system images.
    let out = run(
        &fake,
        &["images", "rm", "-E", "teaching|images\\.test", "--yes"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let by_digest = teaching_1_by_digest();
    let id3 = id_ref(3);
    assert_eq!(
        fake.calls_starting_with(&["ctr", "images", "rm"]),
        vec![call(&["ctr", "images", "rm", TEACHING_1, &by_digest, &id3])]
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "Kept back 1 matching image ref that containers on this node use (--include-in-use"
        ),
        "{err}"
    );
    assert!(
        err.contains("Kept back 2 matching image refs of system images"),
        "{err}"
    );

    let out = run(
        &fake,
        &[
            "images",
            "rm",
            "-E",
            "teaching|images\\.test",
            "--include-in-use",
            "--include-system",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let planned = stdout(&out);
    for reference in [
        TEACHING_2,
        "images.test/calico/cni:v3.25.1",
        "images.test/jupyterhub/k8s-hub:3.3.7",
    ] {
        assert!(planned.contains(reference), "{planned}");
    }
}

#[test]
fn a_pattern_matching_every_image_is_refused() {
    let fake = FakeCluster::new();
    let out = run(&fake, &["images", "rm", "-E", ".", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the pattern matches every image on this node (10 refs)"),
        "{}",
        stderr(&out)
    );
    assert!(fake
        .calls_starting_with(&["ctr", "images", "rm"])
        .is_empty());
}
