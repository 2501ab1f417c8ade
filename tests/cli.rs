//! The command line as kubectl and helm users expect it, against the fake
//! cluster: `-o json|yaml|wide|name` and `--no-headers`, 80-column tables,
//! closed pipes, `-q`/`-v`, the locale, last flag wins, `-n` only where it
//! means something, `--kubeconfig`/`--context`, completions and the man page.

mod support;

use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use support::fake_tools::{call, FakeCluster};
use support::{run, stderr, stdout};

/// Every read command, as it is typed.
const READ_COMMANDS: &[&[&str]] = &[
    &["status"],
    &["pods", "ls"],
    &["versions"],
    &["nodes", "ls"],
    &["storage", "ls"],
    &["quota", "show"],
    &["images", "ls"],
];

fn node(name: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/microk8s-controlplane": "microk8s-controlplane",
            },
        },
        "status": {
            "addresses": [{"address": ip, "type": "InternalIP"}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {"kubeletVersion": "v1.31.1"},
        },
    })
}

/// The default fake cluster, with two nodes.
fn cluster() -> FakeCluster {
    let mut fake = FakeCluster::new();
    let nodes = json!({"apiVersion": "v1", "kind": "List", "items": [
        node("u24control", "192.0.2.10"),
        node("u24worker", "192.0.2.11"),
    ]});
    fake.respond(&["kubectl", "get", "nodes"], &nodes.to_string(), 0);
    fake
}

fn with(args: &[&str], more: &[&str]) -> Vec<String> {
    args.iter().chain(more).map(|s| s.to_string()).collect()
}

fn run_ok(fake: &FakeCluster, args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(fake, &args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

/// The field names docs/output-and-conventions.md documents, per command (sorted).
fn documented_fields(command: &[&str]) -> Vec<&'static str> {
    let pod = vec![
        "age_seconds",
        "created",
        "name",
        "node",
        "protected",
        "ready",
        "restarts",
        "status",
    ];
    match command {
        ["pods", "ls"] => pod,
        ["versions"] => vec!["app_version", "deployed", "version"],
        ["nodes", "ls"] => vec!["internal_ip", "name", "roles", "status", "version"],
        ["storage", "ls"] => vec![
            "default",
            "name",
            "provisioner",
            "reclaim_policy",
            "volume_binding_mode",
        ],
        ["quota", "show"] => vec!["hard", "quota", "resource", "used"],
        ["images", "ls"] => vec!["digest", "platforms", "ref", "size"],
        other => panic!("no list fields for {other:?}"),
    }
}

#[test]
fn json_of_every_read_command_has_the_documented_fields_and_stdout_alone() {
    let fake = cluster();
    for command in READ_COMMANDS {
        let out = run_ok(&fake, &with(command, &["-o", "json"]));
        let value: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{command:?}: {e}: {}", stdout(&out)));
        if *command == ["status"] {
            assert_eq!(keys(&value), ["pods", "release", "services", "workloads"]);
            let kinds: Vec<&Value> = value["workloads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| &w["kind"])
                .collect();
            assert_eq!(
                kinds,
                ["Deployment", "Deployment", "StatefulSet", "DaemonSet"]
            );
            assert_eq!(
                keys(&value["workloads"][3]),
                ["desired", "kind", "name", "ready"]
            );
            assert_eq!(
                (
                    &value["workloads"][3]["ready"],
                    &value["workloads"][3]["desired"]
                ),
                (&Value::from(1), &Value::from(2))
            );
            assert_eq!(
                keys(&value["release"]),
                [
                    "chart",
                    "chart_version",
                    "installed",
                    "name",
                    "namespace",
                    "revision",
                    "status",
                    "updated"
                ]
            );
            assert_eq!(value["release"]["installed"], true);
            let service = &value["services"][0];
            assert_eq!(
                keys(service),
                ["cluster_ip", "external_addresses", "name", "ports", "type"]
            );
            assert_eq!(keys(&value["pods"][0]), documented_fields(&["pods", "ls"]));
            continue;
        }
        let items = value.as_array().unwrap_or_else(|| panic!("{command:?}"));
        assert!(!items.is_empty(), "{command:?}");
        for item in items {
            assert_eq!(keys(item), documented_fields(command), "{command:?}");
        }
    }
}

#[test]
fn json_values_are_typed() {
    let fake = cluster();
    let out = run_ok(&fake, &with(&["versions"], &["-o", "json"]));
    let versions: Value = serde_json::from_slice(&out.stdout).unwrap();
    let deployed: Vec<&Value> = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["deployed"] == true)
        .collect();
    assert_eq!(deployed.len(), 1);
    assert_eq!(deployed[0]["version"], "1.0.0-0.dev.git.3506.hba24eb2a");

    let out = run_ok(&fake, &with(&["nodes", "ls"], &["-o", "json"]));
    let nodes: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(nodes[1]["internal_ip"], "192.0.2.11");
    assert!(nodes[1]["roles"].is_array());

    let out = run_ok(&fake, &with(&["pods", "ls"], &["-o", "json"]));
    let pods: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(pods[0]["restarts"].is_u64());
    assert!(pods[0]["age_seconds"].is_u64());
    assert_eq!(pods[0]["protected"], false);
}

#[test]
fn yaml_carries_the_same_fields_as_json() {
    let fake = cluster();
    for command in READ_COMMANDS {
        let json_out = run_ok(&fake, &with(command, &["-o", "json"]));
        let yaml_out = run_ok(&fake, &with(command, &["-o", "yaml"]));
        let from_json: Value = serde_json::from_slice(&json_out.stdout).unwrap();
        let from_yaml: Value = serde_yaml::from_slice(&yaml_out.stdout)
            .unwrap_or_else(|e| panic!("{command:?}: {e}: {}", stdout(&yaml_out)));
        // Ages move on between the two runs.
        let strip = |mut v: Value| {
            let age_free = v.to_string().replace("age_seconds", "");
            v = serde_json::from_str(&age_free).unwrap();
            v
        };
        assert_eq!(
            keys_deep(&strip(from_json)),
            keys_deep(&strip(from_yaml)),
            "{command:?}"
        );
    }
}

/// Every key path of a JSON value, for comparing shapes.
fn keys_deep(value: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    fn walk(value: &Value, at: String, paths: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    walk(v, format!("{at}.{k}"), paths);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, format!("{at}[{i}]"), paths);
                }
            }
            _ => paths.push(at),
        }
    }
    walk(value, String::new(), &mut paths);
    paths.sort();
    paths
}

#[test]
fn name_lists_one_name_per_line_like_kubectl() {
    let fake = cluster();
    let out = run_ok(&fake, &with(&["pods", "ls"], &["-o", "name"]));
    let names = stdout(&out);
    assert!(names.lines().count() > 1, "{names}");
    assert!(
        names.lines().all(|l| l.starts_with("pod/jupyter-")),
        "{names}"
    );
    let out = run_ok(&fake, &with(&["nodes", "ls"], &["-o", "name"]));
    assert_eq!(stdout(&out), "node/u24control\nnode/u24worker\n");
    let out = run_ok(&fake, &with(&["versions"], &["-o", "name", "--limit", "2"]));
    assert_eq!(
        stdout(&out),
        "1.0.0-0.dev.git.3620.h0d3c3ec5\n1.0.0-0.dev.git.3612.h5b1e8a37\n"
    );
    let out = run_ok(&fake, &with(&["status"], &["-o", "name"]));
    assert!(
        stdout(&out).contains("service/proxy-public\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn tables_fit_80_columns_and_wide_shows_more() {
    let fake = cluster();
    for command in READ_COMMANDS {
        let out = run_ok(&fake, &with(command, &[]));
        let text = stdout(&out);
        // Names are never cut: a table with a pod name past 45 characters,
        // or an image reference with its digest, may still overflow.
        let first_cell = |line: &str| line.split("   ").next().unwrap_or("").chars().count();
        let widest_name = text.lines().map(first_cell).max().unwrap_or(0);
        let long_name = if command[0] == "images" { 60 } else { 45 };
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80 || widest_name > long_name,
                "{command:?}: {} columns: {line}",
                line.chars().count()
            );
        }
        let wide = run_ok(&fake, &with(command, &["-o", "wide"]));
        let header = |text: &str| text.lines().next().unwrap_or("").to_string();
        // nodes and quota show every column already.
        if ["status", "nodes", "quota"].contains(&command[0]) {
            continue;
        }
        assert!(
            header(&stdout(&wide)).len() > header(&text).len(),
            "{command:?}: wide adds columns"
        );
    }
    let out = run_ok(&fake, &with(&["pods", "ls"], &["-o", "wide"]));
    assert!(stdout(&out).lines().next().unwrap().ends_with("NODE"));
    let out = run_ok(&fake, &with(&["status"], &["-o", "wide"]));
    assert!(stdout(&out).contains("CLUSTER-IP"));
}

#[test]
fn no_headers_drops_the_header_rows() {
    let fake = cluster();
    for command in READ_COMMANDS {
        let with_headers = stdout(&run_ok(&fake, &with(command, &[])));
        let without = stdout(&run_ok(&fake, &with(command, &["--no-headers"])));
        let header_words = ["NAME", "VERSION", "QUOTA", "REF"];
        let is_header = |l: &str| header_words.iter().any(|w| l.starts_with(w));
        assert!(with_headers.lines().any(is_header), "{command:?}");
        assert!(!without.lines().any(is_header), "{command:?}: {without}");
    }
}

#[test]
fn json_goes_to_stdout_and_messages_stay_on_stderr() {
    let mut fake = cluster();
    fake.set_pods(&[]);
    let out = run_ok(&fake, &with(&["pods", "ls"], &["-o", "json"]));
    assert_eq!(stdout(&out), "[]\n");
    let out = run_ok(&fake, &with(&["images", "ls"], &["-o", "json"]));
    serde_json::from_slice::<Value>(&out.stdout).unwrap();
    assert!(stderr(&out).contains("images of this node only"));
}

// ---- closed pipes ----

/// Run with stdout (and, when asked, stderr) going into a pipe whose
/// reader is already gone: every write fails with EPIPE.
fn run_into_closed_pipe(fake: &FakeCluster, args: &[&str], stderr_too: bool) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = fake.command(args);
    if stderr_too {
        cmd.stderr(writer.try_clone().unwrap());
    }
    cmd.stdout(writer);
    let out = cmd.output().unwrap();
    drop(cmd);
    out
}

#[test]
fn a_closed_stdout_never_panics_and_keeps_the_exit_code() {
    let fake = cluster();
    for args in [
        &["pods", "ls"][..],
        &["status", "-o", "json"],
        &["completion", "bash"],
        &["man"],
        &["images", "rm", "teaching", "--dry-run"],
        &["--help"],
        &["pods", "purge", "--help"],
    ] {
        let out = run_into_closed_pipe(&fake, args, false);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        let out = run_into_closed_pipe(&fake, args, true);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} with stderr closed too"
        );
    }
    // A failure keeps its code with nowhere to say it.
    fake.remove_tool("microk8s");
    let out = run_into_closed_pipe(&fake, &["pods", "ls"], true);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_full_stdout_is_an_error() {
    let fake = cluster();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    let Ok(full) = full else {
        eprintln!("SKIPPED: no /dev/full here");
        return;
    };
    let out = fake
        .command(&["pods", "ls"])
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("binderctl: error: cannot write to standard output"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

// ---- quiet, verbose, locale ----

#[test]
fn verbose_prints_each_command_before_it_runs() {
    let fake = cluster();
    let out = run_ok(&fake, &with(&["-v", "pods", "ls"], &[]));
    assert!(
        stderr(&out).contains("+ microk8s kubectl get pods -n binder -o json\n"),
        "{}",
        stderr(&out)
    );
    let out = run_ok(&fake, &with(&["pods", "ls"], &[]));
    assert!(!stderr(&out).contains("+ microk8s"), "{}", stderr(&out));
}

#[test]
fn quiet_prints_only_results_and_errors() {
    let mut fake = cluster();
    let out = run_ok(&fake, &with(&["images", "ls", "-q"], &[]));
    assert!(!stdout(&out).is_empty());
    assert_eq!(stderr(&out), "");
    let out = run_ok(
        &fake,
        &with(&["pods", "purge", "jupyter-", "--dry-run", "--quiet"], &[]),
    );
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).starts_with("microk8s kubectl delete pod"));
    fake.respond_full(
        &["kubectl", "get", "pods"],
        "",
        "error: You must be logged in\n",
        1,
    );
    let out = run(&fake, &["-q", "pods", "ls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("You must be logged in"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("binderctl: error:"),
        "{}",
        stderr(&out)
    );
    let out = run(&fake, &["-q", "-v", "pods", "ls"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "-q and -v contradict each other"
    );
}

#[test]
fn one_error_prefix_for_a_bad_regex() {
    let fake = cluster();
    let out = run(&fake, &["images", "ls", "-E", "("]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("binderctl: error:"), "{err}");
    assert!(!err.contains("error: error:"), "{err}");
}

// ---- options ----

#[test]
fn the_last_of_a_repeated_option_wins() {
    let fake = cluster();
    run_ok(
        &fake,
        &with(&["-n", "first", "pods", "ls", "-n", "staging"], &[]),
    );
    run_ok(
        &fake,
        &with(&["pods", "ls", "-o", "json", "-o", "name"], &[]),
    );
    let calls = fake.calls();
    assert_eq!(
        calls[0],
        call(&["microk8s", "kubectl", "get", "pods", "-n", "staging", "-o", "json"])
    );
}

#[test]
fn namespace_is_refused_where_it_means_nothing() {
    let fake = cluster();
    for (args, hint) in [
        (&["images", "ls", "-n", "x"][..], "--containerd-namespace"),
        (&["dashboard", "token", "-n", "x"], "--account-namespace"),
        (
            &["dashboard", "forward", "--namespace", "x"],
            "--dashboard-namespace",
        ),
        (&["nodes", "ls", "-n", "x"], "no namespace"),
        (&["storage", "ls", "-n", "x"], "no namespace"),
        (&["render", "-n", "x"], "files only"),
    ] {
        let out = run(&fake, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(hint), "{args:?}: {}", stderr(&out));
    }
    assert!(fake.calls().is_empty());
    // Where it is used, it is honoured.
    run_ok(&fake, &with(&["quota", "show", "-n", "staging"], &[]));
    assert_eq!(
        fake.calls()[0],
        call(&[
            "microk8s",
            "kubectl",
            "get",
            "resourcequota",
            "-n",
            "staging",
            "-o",
            "json"
        ])
    );
}

#[test]
fn kubeconfig_and_context_reach_kubectl_and_helm_in_their_spelling() {
    let fake = cluster();
    run_ok(
        &fake,
        &with(
            &[
                "status",
                "--kubeconfig",
                "/etc/lab.conf",
                "--context",
                "lab",
            ],
            &[],
        ),
    );
    let out = fake
        .command(&["--tools", "plain", "versions"])
        .env("BINDERCTL_CONTEXT", "lab2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = fake.calls();
    let helm: Vec<&Vec<String>> = calls
        .iter()
        .filter(|c| c.contains(&"helm".into()))
        .collect();
    let kubectl: Vec<&Vec<String>> = calls
        .iter()
        .filter(|c| c.contains(&"kubectl".into()))
        .collect();
    assert!(!helm.is_empty() && !kubectl.is_empty(), "{calls:?}");
    for c in &kubectl {
        assert!(c.contains(&"--kubeconfig=/etc/lab.conf".into()), "{c:?}");
        assert!(c.contains(&"--context=lab".into()), "{c:?}");
    }
    let first_helm = helm[0];
    assert!(
        first_helm.contains(&"--kubeconfig=/etc/lab.conf".into()),
        "{first_helm:?}"
    );
    assert!(
        first_helm.contains(&"--kube-context=lab".into()),
        "{first_helm:?}"
    );
    assert!(helm.last().unwrap().contains(&"--kube-context=lab2".into()));
}

#[test]
fn render_refuses_a_format_name_for_its_output_file() {
    let fake = cluster();
    for format in ["json", "yaml", "wide", "name"] {
        let out = run(&fake, &["render", "-o", format]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains(&format!("-o ./{format}")), "{err}");
        assert!(err.contains("--stdout"), "{err}");
        assert!(!fake.work_dir().join(format).exists());
    }
}

#[test]
fn counts_agree_with_their_nouns() {
    let mut fake = cluster();
    fake.respond(
        &["helm", "search", "repo"],
        r#"[{"name":"jupyterhub/binderhub","version":"1.0.0-0.dev.git.3620.h0d3c3ec5","app_version":"x"},
            {"name":"jupyterhub/binderhub","version":"1.0.0-0.dev.git.3506.hba24eb2a","app_version":"y"}]"#,
        0,
    );
    let out = run_ok(&fake, &with(&["versions", "--limit", "1"], &[]));
    assert!(
        stderr(&out).contains("1 newer version exists"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_declined_confirmation_without_a_terminal_exits_2_and_does_nothing() {
    let fake = cluster();
    let out = run(&fake, &["uninstall"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&fake, &["pods", "purge", "jupyter-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(fake
        .calls()
        .iter()
        .all(|c| !c.contains(&"delete".to_string()) && !c.contains(&"uninstall".to_string())));
}

// ---- completions and the man page ----

#[test]
fn bash_accepts_the_bash_completion() {
    let fake = cluster();
    let out = run_ok(&fake, &with(&["completion", "bash"], &[]));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("binderctl.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let Some(bash) = support::real_tools::require_on_path("bash") else {
        return;
    };
    let check = Command::new(bash).arg("-n").arg(&script).output().unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run_ok(&fake, &with(&["completion", shell], &[]));
        assert!(stdout(&out).contains("binderctl"), "{shell}");
    }
}

#[test]
fn man_renders_the_page() {
    let fake = cluster();
    let out = run_ok(&fake, &with(&["man"], &[]));
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("binderctl.1");
    std::fs::write(&page, &out.stdout).unwrap();
    let Some(man) = support::real_tools::require_on_path("man") else {
        return;
    };
    let rendered = Command::new(man)
        .args(["-l", page.to_str().unwrap()])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let text = stdout(&rendered);
    assert!(text.contains("binderctl - Render and operate"), "{text}");
    assert!(text.contains("BINDERCTL PODS PURGE"), "{text}");
    assert!(text.contains("--include-protected"), "{text}");
    assert!(
        !stderr(&rendered).contains("warning"),
        "{}",
        stderr(&rendered)
    );
}

#[test]
fn names_with_control_characters_cannot_forge_lines_or_drive_the_terminal() {
    let fake = cluster();
    let name = "evil\n\u{1b}[2Kbinderctl: all good\r.yaml";
    let out = run(&fake, &["render", "-i", name, "-o", "out.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
    assert!(
        err.lines().all(|l| l.starts_with("binderctl: ")),
        "every line is binderctl's: {err:?}"
    );
    assert!(
        err.contains(r"evil\n\x1b[2Kbinderctl: all good\r.yaml"),
        "{err:?}"
    );
}

/// Every example in the README's "One example each" parses as binderctl
/// reads it, and every command has one.
#[test]
fn the_readme_examples_parse_and_cover_every_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("### One example each")
        .expect("the examples section");
    let block = &readme[start..];
    let block = &block[block.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    let mut covered = std::collections::BTreeSet::new();
    for line in block.lines() {
        let line = line.split(" # ").next().unwrap();
        for part in line.split("&&").flat_map(|p| p.split(" | ").take(1)) {
            let words: Vec<String> = part
                .split_whitespace()
                .filter(|w| *w != "sudo")
                .map(|w| w.trim_matches('\'').to_string())
                .collect();
            if words.first().map(String::as_str) != Some("binderctl") {
                continue;
            }
            binderctl::cli::try_parse_from(&words)
                .unwrap_or_else(|e| panic!("README example {words:?}: {e}"));
            covered.insert(words[1].clone());
        }
    }
    let all: std::collections::BTreeSet<String> = binderctl::cli::COMMAND_GROUPS
        .iter()
        .flat_map(|(_, names)| names.iter().map(|n| n.to_string()))
        .filter(|n| n != "completion" && n != "man")
        .collect();
    let missing: Vec<&String> = all.difference(&covered).collect();
    assert!(missing.is_empty(), "no README example for {missing:?}");
}
