//! `binderctl nodes`, run as a program.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const KUBE: &str = "--kube-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi";
const SYSTEM: &str = "--system-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi";

/// The stock MicroK8s kubelet arguments, abridged.
const STOCK_ARGS: &str = "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n\
    --cert-dir=${SNAP_DATA}/certs\n\
    --client-ca-file=${SNAP_DATA}/certs/ca.crt\n\
    --anonymous-auth=false\n\
    --root-dir=${SNAP_COMMON}/var/lib/kubelet\n\
    --fail-swap-on=false\n\
    --eviction-hard=\"memory.available<100Mi,nodefs.available<1Gi,imagefs.available<1Gi\"\n\
    --container-runtime-endpoint=${SNAP_COMMON}/run/containerd.sock\n\
    --kube-reserved=cpu=200m\n\
    --node-labels=\"microk8s.io/cluster=true\"\n";

fn binderctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .args(args)
        .env_remove("BINDERCTL_TOOLS")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kubelet.bak-")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn reserve_is_idempotent_with_one_backup() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    let path = args.to_str().unwrap();

    let first = binderctl(&["nodes", "reserve", "--kubelet-args", path]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(
        stdout.contains("sudo snap restart microk8s.daemon-kubelite"),
        "{stdout}"
    );
    let after = std::fs::read_to_string(&args).unwrap();
    let expected = STOCK_ARGS.replace("--kube-reserved=cpu=200m", KUBE) + SYSTEM + "\n";
    assert_eq!(after, expected);
    let made = backups(dir.path());
    assert_eq!(made.len(), 1);
    assert_eq!(std::fs::read_to_string(&made[0]).unwrap(), STOCK_ARGS);
    assert!(stdout.contains(&made[0].display().to_string()), "{stdout}");

    let second = binderctl(&["nodes", "reserve", "--kubelet-args", path]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("nothing to change"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(std::fs::read_to_string(&args).unwrap(), after);
    assert_eq!(backups(dir.path()), made);
}

#[test]
fn reserve_replaces_earlier_values_instead_of_adding() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    let path = args.to_str().unwrap();
    assert!(binderctl(&["nodes", "reserve", "--kubelet-args", path])
        .status
        .success());
    let out = binderctl(&[
        "nodes",
        "reserve",
        "--kubelet-args",
        path,
        "--cpu",
        "500m",
        "--memory",
        "1Gi",
        "--ephemeral-storage",
        "20Gi",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(&args).unwrap();
    assert_eq!(after.matches("--kube-reserved").count(), 1, "{after}");
    assert_eq!(after.matches("--system-reserved").count(), 1, "{after}");
    assert!(after.contains("--kube-reserved=cpu=500m,memory=1Gi,ephemeral-storage=20Gi\n"));
    assert!(after.contains("--system-reserved=cpu=500m,memory=1Gi,ephemeral-storage=20Gi\n"));
    assert!(!backups(dir.path()).is_empty());
}

#[test]
fn reserve_dry_run_shows_the_change_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    let out = binderctl(&[
        "nodes",
        "reserve",
        "--dry-run",
        "--kubelet-args",
        args.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\n---kube-reserved=cpu=200m\n"), "{stdout}");
    assert!(stdout.contains(&format!("\n+{KUBE}\n")), "{stdout}");
    assert!(stdout.contains(&format!("\n+{SYSTEM}\n")), "{stdout}");
    assert_eq!(std::fs::read_to_string(&args).unwrap(), STOCK_ARGS);
    assert!(backups(dir.path()).is_empty());
}

#[test]
fn reserve_refuses_bad_quantities_naming_flag_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    let out = binderctl(&[
        "nodes",
        "reserve",
        "--kubelet-args",
        args.to_str().unwrap(),
        "--memory",
        "512MB",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--memory \"512MB\""), "{stderr}");
    assert_eq!(std::fs::read_to_string(&args).unwrap(), STOCK_ARGS);
}

#[test]
fn reserve_on_a_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("no-such-kubelet");
    let out = binderctl(&["nodes", "reserve", "--kubelet-args", args.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(args.to_str().unwrap()),
        "{}",
        text(&out.stderr)
    );
    assert!(!args.exists());
}

#[cfg(unix)]
#[test]
fn reserve_keeps_the_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("kubelet");
    std::fs::write(&args, STOCK_ARGS).unwrap();
    std::fs::set_permissions(&args, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = binderctl(&["nodes", "reserve", "--kubelet-args", args.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::metadata(&args).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let backup = &backups(dir.path())[0];
    assert_eq!(
        std::fs::metadata(backup).unwrap().permissions().mode() & 0o777,
        0o640
    );
}
