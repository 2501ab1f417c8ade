//! `binderctl egress schedule` against a root folder: the unit files it
//! writes pass `systemd-analyze verify`, the real systemctl enables the
//! timer offline (`systemctl --root`), `--dry-run` writes nothing, and
//! `--remove` takes both out again.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{stderr, stdout};

fn binderctl(root: &Path, work: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", work)
        .env("BINDERCTL_ROOT", root)
        .current_dir(work)
        .output()
        .expect("run binderctl")
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn schedule_writes_valid_units_enables_them_offline_and_removes_them() {
    if !have("systemctl") || !have("systemd-analyze") {
        assert!(
            !support::real_tools::in_ci(),
            "systemctl and systemd-analyze are needed"
        );
        eprintln!("SKIPPED (not run, not passed): no systemctl or systemd-analyze");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let work = work.path().canonicalize().unwrap();
    let units = root.path().join("etc/systemd/system");
    let (service, timer) = (
        units.join("binderctl-egress.service"),
        units.join("binderctl-egress.timer"),
    );
    let args = [
        "egress",
        "schedule",
        "--every",
        "10m",
        "-n",
        "lab",
        "--tools",
        "plain",
        "--kubeconfig",
        "kube config",
        "--nameserver",
        "cluster",
    ];

    // --dry-run: the files and the command, nothing written.
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let out = binderctl(root.path(), &work, &dry);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("# {}\n", service.display())),
        "{text}"
    );
    assert!(text.contains("OnUnitActiveSec=600s"), "{text}");
    assert!(
        text.ends_with(&format!(
            "systemctl --root={} enable binderctl-egress.timer\n",
            root.path().display()
        )),
        "{text}"
    );
    assert!(!service.exists() && !timer.exists());

    // Installed: this binary, the options, the working folder; the real
    // systemctl enabled the timer; systemd-analyze accepts both units.
    let out = binderctl(root.path(), &work, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let service_text = std::fs::read_to_string(&service).unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_binderctl"))
        .canonicalize()
        .unwrap();
    assert!(
        service_text.contains(&format!(
            "ExecStart=\"{}\" \"--quiet\" \"-n\" \"lab\" \"--release\" \"binder\" \"--tools\" \
             \"plain\" \"--kubeconfig={}\" \"egress\" \"apply\" \"-i\" \"{}\" \"--grace=24h\" \
             \"--nameserver=cluster\"\n",
            exe.display(),
            work.join("kube config").display(),
            work.join("binder.yaml").display()
        )),
        "{service_text}"
    );
    assert!(
        service_text.contains(&format!("WorkingDirectory={}\n", work.display())),
        "{service_text}"
    );
    assert!(units
        .join("timers.target.wants/binderctl-egress.timer")
        .symlink_metadata()
        .is_ok());
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .args([&service, &timer])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}{}",
        stdout(&verify),
        stderr(&verify)
    );

    // An interval under a minute is refused, naming the option.
    let mut fast = args.to_vec();
    fast[3] = "30s";
    let out = binderctl(root.path(), &work, &fast);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--every 30s"), "{}", stderr(&out));

    // --remove: disabled offline, both files gone.
    let out = binderctl(root.path(), &work, &["egress", "schedule", "--remove"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!service.exists() && !timer.exists());
    assert!(units
        .join("timers.target.wants/binderctl-egress.timer")
        .symlink_metadata()
        .is_err());
    // Again: nothing to remove is no error.
    let out = binderctl(root.path(), &work, &["egress", "schedule", "--remove"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
