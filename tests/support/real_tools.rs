//! The real tools of the conformance tier: kubectl, Helm 4 (`helm`),
//! Helm 3 (`helm3`), containerd and ctr, and kubernetes-validate, as
//! `scripts/setup-real-tools` installs them into `.tools/bin`
//! (`BINDERCTL_REAL_TOOLS` names another folder).
//!
//! A test that needs a tool calls [`require`]: when the tool is missing the
//! test fails under `CI=true` and otherwise prints that it was skipped, with
//! the setup command, and returns early. It never passes silently in CI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder holding the real tools.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("BINDERCTL_REAL_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin"),
    }
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The path of real tool `name`, or `None` (after saying the test is
/// skipped) when it is not installed. Under CI a missing tool panics.
pub fn require(name: &str) -> Option<PathBuf> {
    let path = tools_dir().join(name);
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "real tool {name} is missing from {}: run scripts/setup-real-tools",
        tools_dir().display()
    );
    if in_ci() {
        panic!("{message}");
    }
    eprintln!("SKIPPED (not run, not passed): {message}");
    None
}

/// A system program (`man`, `bash`) found on PATH, with [`require`]'s
/// semantics: skipped locally when missing, a failure under CI.
pub fn require_on_path(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    if found.is_some() {
        return found;
    }
    let message = format!("{name} is not on PATH (on Debian or Ubuntu: apt-get install man-db)");
    if in_ci() {
        panic!("{message}");
    }
    eprintln!("SKIPPED (not run, not passed): {message}");
    None
}

/// Like [`require`] for several tools at once.
pub fn require_all(names: &[&str]) -> Option<Vec<PathBuf>> {
    names.iter().map(|n| require(n)).collect()
}

/// `require` inside a test: returns from the test when the tool is missing.
#[macro_export]
macro_rules! real_tool {
    ($name:expr) => {
        match $crate::support::real_tools::require($name) {
            Some(path) => path,
            None => return,
        }
    };
}

/// The Kubernetes versions whose API schemas every manifest binderctl writes
/// is validated against (the MicroK8s lines users run).
pub const KUBERNETES_VERSIONS: [&str; 3] = ["1.28.0", "1.31.0", "1.33.0"];

/// Validate `manifest` (YAML or JSON, one or more documents) against the
/// Kubernetes API schema of every version in [`KUBERNETES_VERSIONS`],
/// strictly (unknown fields are errors), offline. `Err` carries the
/// validator's message. `None` when the validator is not installed (the
/// test has then been reported as skipped, or failed under CI).
pub fn validate_manifest(manifest: &str) -> Option<Result<(), String>> {
    let validator = require("kubernetes-validate")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("manifest.yaml");
    std::fs::write(&file, manifest).expect("write manifest");
    for version in KUBERNETES_VERSIONS {
        let out = Command::new(&validator)
            .args(["--strict", "--quiet", "-k", version])
            .arg(&file)
            .output()
            .expect("run kubernetes-validate");
        if !out.status.success() {
            return Some(Err(format!(
                "kubernetes-validate -k {version}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    Some(Ok(()))
}

/// A kubeconfig pointing at a closed loopback port: real kubectl and Helm
/// parse their flags, then fail to connect. Returns (dir guard, path).
pub fn unreachable_kubeconfig() -> (tempfile::TempDir, PathBuf) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    }; // closed again here: nothing listens on it
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: closed\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: closed\n  context: {{cluster: closed, user: nobody, namespace: default}}\ncurrent-context: closed\nusers:\n- name: nobody\n  user: {{token: not-a-secret}}\n"
        ),
    )
    .expect("write kubeconfig");
    (dir, path)
}
