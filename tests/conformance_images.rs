//! Conformance tier: `images ls` and `images rm` against a real containerd
//! (temp socket and state), through a `microk8s` stand-in that runs the real
//! ctr exactly as MicroK8s' wrapper does (`ctr --address=… --namespace
//! k8s.io "$@"`), and with plain ctr. The images are built by hand and hold
//! the refs a kubelet-pulled node has: tag, `NAME@sha256:` and `sha256:`.

mod support;

use std::process::{Command, Output, Stdio};

use support::containerd::{Containerd, ImageRefs};
use support::real_tools::unreachable_kubeconfig;
use support::wrapper::{RealTools, RealToolsBin};
use support::{stderr, stdout};

struct Node {
    containerd: Containerd,
    bin: RealToolsBin,
    _kube_dir: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Node {
    fn start() -> Option<Node> {
        let kubectl = support::real_tools::require("kubectl")?;
        let helm = support::real_tools::require("helm")?;
        let containerd = Containerd::start()?;
        let (kube_dir, kubeconfig) = unreachable_kubeconfig();
        let socket = containerd.socket();
        let bin = RealToolsBin::new(&RealTools {
            kubectl: &kubectl,
            helm: &helm,
            ctr: Some(containerd.ctr_path()),
            kubeconfig: &kubeconfig,
            containerd_socket: Some(&socket),
        });
        Some(Node {
            containerd,
            bin,
            _kube_dir: kube_dir,
            work: tempfile::tempdir().unwrap(),
        })
    }

    fn binderctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_binderctl"))
            .args(args)
            .env_clear()
            // No MicroK8s snap here: the stand-in is the wrapper.
            .env("BINDERCTL_MICROK8S_SNAP_DATA", "/nonexistent/microk8s")
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.bin.path().display()),
            )
            .env("HOME", self.work.path())
            .env("CONTAINERD_ADDRESS", self.containerd.socket())
            .current_dir(self.work.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn all(refs: &[&ImageRefs]) -> Vec<String> {
    refs.iter()
        .flat_map(|r| [r.tag.clone(), r.by_digest.clone(), r.id.clone()])
        .collect()
}

fn sorted(mut refs: Vec<String>) -> Vec<String> {
    refs.sort();
    refs
}

#[test]
fn ls_and_rm_through_the_microk8s_wrapper_and_plain_ctr() {
    let Some(node) = Node::start() else {
        return;
    };
    let ctd = &node.containerd;
    let teaching_1 = ctd.import("registry.example/lab/binder-teaching-1:abc", "one");
    let teaching_2 = ctd.import("registry.example/lab/binder-teaching-2:def", "two");
    // A second name for teaching-2's image: its `sha256:` ref must stay.
    ctd.k8s(&[
        "images",
        "tag",
        &teaching_2.tag,
        "registry.example/lab/shared:latest",
    ]);
    let pycram = ctd.import("registry.example/lab/binder-pycram:1", "three");
    let pause = ctd.import("registry.k8s.io/pause:3.7", "pause");
    let hub = ctd.import("quay.io/jupyterhub/k8s-hub:3.3.7", "hub");
    ctd.create_container(&pycram.tag, "jupyter-alice");
    let everything = sorted(
        all(&[&teaching_1, &teaching_2, &pycram, &pause, &hub])
            .into_iter()
            .chain(["registry.example/lab/shared:latest".to_string()])
            .collect(),
    );
    assert_eq!(ctd.refs(), everything);

    // ls: the real table, filtered by substring and by regex.
    let out = node.binderctl(&["images", "ls", "teaching"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Vec<String> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(
        sorted(listed),
        sorted(vec![
            teaching_1.tag.clone(),
            teaching_1.by_digest.clone(),
            teaching_2.tag.clone(),
            teaching_2.by_digest.clone()
        ])
    );
    assert!(stdout(&out).starts_with("REF "), "{}", stdout(&out));
    let out = node.binderctl(&["images", "ls", "-E", r"^registry\.k8s\.io/"]);
    assert_eq!(stdout(&out).lines().count(), 3, "{}", stdout(&out));

    // --dry-run prints the wrapper command lines and removes nothing.
    let out = node.binderctl(&["images", "rm", "teaching", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("microk8s ctr images rm "),
        "{}",
        stdout(&out)
    );
    assert_eq!(ctd.refs(), everything);

    // rm in batches: teaching-1 goes with its sha256: ref; teaching-2's
    // sha256: ref stays for shared:latest.
    let out = node.binderctl(&["images", "rm", "teaching", "--yes", "--batch-size", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Removed 5 of 5 image refs."),
        "{}",
        stderr(&out)
    );
    let gone = [
        &teaching_1.tag,
        &teaching_1.by_digest,
        &teaching_1.id,
        &teaching_2.tag,
        &teaching_2.by_digest,
    ];
    let left: Vec<String> = everything
        .iter()
        .filter(|r| !gone.contains(r))
        .cloned()
        .collect();
    assert_eq!(ctd.refs(), left);

    // In use and system images are kept back, and binderctl says so.
    let out = node.binderctl(&["images", "rm", "-E", "pycram|pause|k8s-hub", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Kept back 2 matching image refs that containers"),
        "{err}"
    );
    assert!(
        err.contains("Kept back 4 matching image refs of system images"),
        "{err}"
    );
    assert!(err.contains("nothing removed"), "{err}");
    assert_eq!(ctd.refs(), left);

    // A pattern matching everything is refused.
    let out = node.binderctl(&["images", "rm", "-E", ".", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(ctd.refs(), left);

    // Plain ctr (CONTAINERD_ADDRESS) with --include-system.
    let out = node.binderctl(&[
        "--tools",
        "plain",
        "images",
        "rm",
        "pause",
        "--include-system",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let left: Vec<String> = left
        .into_iter()
        .filter(|r| ![&pause.tag, &pause.by_digest, &pause.id].contains(&r))
        .collect();
    assert_eq!(ctd.refs(), left);
}

#[test]
fn another_containerd_namespace_through_the_wrapper() {
    let Some(node) = Node::start() else {
        return;
    };
    let ctd = &node.containerd;
    ctd.import("registry.example/lab/binder-k8s:1", "k8s");
    ctd.import_into(
        "default",
        "registry.example/lab/binder-default:1",
        "default",
    );
    let k8s_only = node.binderctl(&["images", "ls"]);
    assert!(
        stdout(&k8s_only).contains("binder-k8s:1"),
        "{}",
        stderr(&k8s_only)
    );
    // The wrapper's --namespace k8s.io comes first; binderctl's later one wins.
    let out = node.binderctl(&["images", "ls", "--containerd-namespace", "default"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("binder-k8s"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("binder-default:1"),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&k8s_only).contains("binder-default"),
        "{}",
        stdout(&k8s_only)
    );
}
