//! `binderctl init` against the fake cluster: a fresh MicroK8s machine,
//! then the same machine prepared.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::fake_tools::{call, FakeCluster, MICROK8S_STATUS_FRESH_YAML, MICROK8S_STATUS_YAML};
use support::{run, stderr, stdout};

const RANGE: &str = "192.0.2.100-192.0.2.120";

/// How binderctl enables iscsid: directly as root, else through `sudo -n`.
fn iscsid_enable() -> Vec<&'static str> {
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    let mut argv = vec!["systemctl", "enable", "--now", "iscsid.service"];
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        argv.splice(0..0, ["sudo", "-n"]);
    }
    argv
}

fn fresh() -> FakeCluster {
    let mut fake = FakeCluster::new();
    fake.install_extra_tool("sudo")
        .install_extra_tool("systemctl");
    fake.respond(&["microk8s", "status"], MICROK8S_STATUS_FRESH_YAML, 0);
    fake.respond(
        &["microk8s", "enable"],
        "Infer repository core for addon\nAddon is enabled.\n",
        0,
    );
    fake.respond(&["systemctl", "is-enabled"], "disabled\n", 1);
    let symlink = "Created symlink /etc/systemd/system/sysinit.target.wants/iscsid.service.\n";
    fake.respond(&["sudo", "-n", "systemctl", "enable"], symlink, 0);
    fake.respond(&["systemctl", "enable"], symlink, 0);
    fake.respond_full(
        &["helm", "repo", "list"],
        "",
        "Error: no repositories to show\n",
        1,
    );
    fake.respond(
        &["helm", "repo", "add"],
        "\"jupyterhub\" has been added to your repositories\n",
        0,
    );
    let class = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/local-storage-dir.yaml"
    ))
    .unwrap();
    fake.write_file("local-storage-dir.yaml", &class);
    fake
}

#[test]
fn a_fresh_machine_gets_every_step_in_order_and_the_templates() {
    let fake = fresh();
    let out = run(
        &fake,
        &[
            "init",
            "--metallb-range",
            RANGE,
            "--chart-repo-url",
            "https://charts.example/",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let changing: Vec<Vec<String>> = fake
        .normalized_calls()
        .into_iter()
        .filter(|c| {
            !(c.get(1).is_some_and(|a| a == "status" || a == "is-enabled")
                || c.get(2).is_some_and(|a| a == "list"))
        })
        .collect();
    assert_eq!(
        changing,
        vec![
            call(&["microk8s", "enable", "dns"]),
            call(&["microk8s", "enable", "helm3"]),
            call(&["microk8s", "enable", &format!("metallb:{RANGE}")]),
            call(&["microk8s", "enable", "community"]),
            call(&iscsid_enable()),
            call(&["microk8s", "enable", "openebs"]),
            call(&["kubectl", "apply", "-f", "local-storage-dir.yaml"]),
            call(&[
                "helm",
                "repo",
                "add",
                "jupyterhub",
                "https://charts.example/"
            ]),
        ]
    );
    let secret = fake.work_dir().join("secret.yaml");
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(&secret)
        .unwrap()
        .contains("<access token>"));
    let values = std::fs::read_to_string(fake.work_dir().join("binder.yaml")).unwrap();
    assert!(values.contains("GitHubRepoProvider"));
    assert!(
        stderr(&out).contains("binderctl init runs:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_prepared_machine_only_reapplies_the_class_and_keeps_its_files() {
    let mut fake = fresh();
    fake.respond(&["microk8s", "status"], MICROK8S_STATUS_YAML, 0);
    fake.respond(&["systemctl", "is-enabled"], "enabled\n", 0);
    fake.respond(
        &["helm", "repo", "list"],
        r#"[{"name":"jupyterhub","url":"https://charts.example/"}]"#,
        0,
    );
    fake.write_file("binder.yaml", "mine: true\n");
    fake.write_file(
        "secret.yaml",
        "registry: {username: lab, password: dckr_pat_INIT-SECRET}\n",
    );
    let out = run(&fake, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.calls_starting_with(&["microk8s", "enable"]),
        Vec::<Vec<String>>::new()
    );
    assert!(fake.calls_starting_with(&["sudo"]).is_empty());
    assert_eq!(fake.calls_starting_with(&["kubectl", "apply"]).len(), 1);
    assert!(fake
        .calls_starting_with(&["helm", "repo", "add"])
        .is_empty());
    assert_eq!(
        std::fs::read_to_string(fake.work_dir().join("binder.yaml")).unwrap(),
        "mine: true\n"
    );
    assert!(!stderr(&out).contains("INIT-SECRET"));
}

#[test]
fn dry_run_prints_every_step_and_changes_nothing() {
    let fake = fresh();
    let out = run(&fake, &["init", "--metallb-range", RANGE, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("microk8s enable dns\nmicrok8s enable helm3\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}\n", iscsid_enable().join(" "))),
        "{text}"
    );
    assert!(
        text.ends_with(
            "microk8s helm repo add jupyterhub https://jupyterhub.github.io/helm-chart/\n"
        ),
        "{text}"
    );
    assert!(
        stderr(&out).contains("would write the template secret.yaml (mode 600)"),
        "{}",
        stderr(&out)
    );
    assert!(!fake.work_dir().join("secret.yaml").exists());
    assert!(fake.calls_starting_with(&["microk8s", "enable"]).is_empty());
    assert!(fake.calls_starting_with(&["sudo"]).is_empty());
    assert!(fake
        .calls_starting_with(&["systemctl", "enable"])
        .is_empty());
}

#[test]
fn metallb_needs_a_range_and_a_bad_one_is_refused() {
    let fake = fresh();
    let out = run(&fake, &["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--metallb-range FIRST-LAST"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &fake,
        &["init", "--metallb-range", "192.0.2.120-192.0.2.100"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(fake.calls_starting_with(&["microk8s", "enable"]).is_empty());
    assert!(!fake.work_dir().join("binder.yaml").exists());
}

#[test]
fn plain_tools_leave_microk8s_alone() {
    let fake = fresh();
    let out = run(&fake, &["--tools", "plain", "init", "--storage", "openebs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        fake.calls()
            .iter()
            .all(|c| c[0] != "microk8s" && c[0] != "sudo"),
        "{:?}",
        fake.calls()
    );
    assert_eq!(fake.calls_starting_with(&["kubectl", "apply"]).len(), 1);
}

#[test]
fn init_takes_no_namespace() {
    let fake = fresh();
    let out = run(&fake, &["init", "-n", "staging", "--metallb-range", RANGE]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("init prepares the machine"),
        "{}",
        stderr(&out)
    );
    assert!(fake.calls().is_empty());
}

#[test]
fn a_chart_repository_url_with_credentials_is_used_but_never_shown() {
    let fake = fresh();
    let url = "https://lab:chart-TOKEN-s3cret@charts.example/helm-chart/";
    let out = run(
        &fake,
        &[
            "init",
            "--metallb-range",
            RANGE,
            "--chart-repo-url",
            url,
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!shown.contains("chart-TOKEN-s3cret"), "{shown}");
    assert!(
        shown.contains("helm repo add jupyterhub 'https://***@charts.example/helm-chart/'"),
        "{shown}"
    );
    // Run for real, the tool gets the URL as given.
    let out = run(
        &fake,
        &["init", "--metallb-range", RANGE, "--chart-repo-url", url],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!format!("{}{}", stdout(&out), stderr(&out)).contains("chart-TOKEN-s3cret"));
    let added = fake.calls_starting_with(&["helm", "repo", "add"]);
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0].last().map(String::as_str), Some(url));
}

/// Without local-storage-dir.yaml, init writes the bundled class (as it
/// writes binder.yaml and secret.yaml) and applies it; a dry run says it
/// would and writes nothing.
#[test]
fn a_missing_storage_class_file_is_written_from_the_template_and_applied() {
    let fake = fresh();
    let class = fake.work_dir().join("local-storage-dir.yaml");
    std::fs::remove_file(&class).unwrap();
    let out = run(&fake, &["init", "--metallb-range", RANGE, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("would write the template local-storage-dir.yaml"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("microk8s kubectl apply -f local-storage-dir.yaml\n"),
        "{}",
        stdout(&out)
    );
    assert!(!class.exists());

    let out = run(&fake, &["init", "--metallb-range", RANGE]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Wrote local-storage-dir.yaml"),
        "{}",
        stderr(&out)
    );
    let bundled = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/local-storage-dir.yaml"
    ))
    .unwrap();
    assert_eq!(std::fs::read_to_string(&class).unwrap(), bundled);
    assert_eq!(
        std::fs::metadata(&class).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(
        fake.calls_starting_with(&["kubectl", "apply"]),
        vec![call(&["kubectl", "apply", "-f", "local-storage-dir.yaml"])]
    );

    // Another --storage-class path gets the template too; an existing
    // file is kept as it is.
    let out = run(
        &fake,
        &[
            "init",
            "--metallb-range",
            RANGE,
            "--storage-class",
            "lab-class.yaml",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(fake.work_dir().join("lab-class.yaml")).unwrap(),
        bundled
    );
    assert!(
        !stderr(&out).contains("Wrote local-storage-dir.yaml"),
        "{}",
        stderr(&out)
    );
}
