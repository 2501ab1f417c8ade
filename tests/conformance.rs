//! Conformance tier: every argv binderctl's plan builders produce
//! (`binderctl::samples`, both tool flavours) is run by the real
//! kubectl, Helm 4, Helm 3 and ctr. kubectl and Helm talk to an unreachable
//! API server, ctr to a real containerd on a temp socket. A usage error
//! (unknown flag, wrong argument count, two forms of one flag, missing
//! required flag) fails; a connection error, or success, passes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use binderctl::cluster::plan::CommandLine;
use binderctl::samples;
use support::containerd::Containerd;
use support::real_tools::unreachable_kubeconfig;

/// What the real tools print for an argv they refuse.
const USAGE_ERRORS: [&str; 11] = [
    "unknown flag",
    "unknown shorthand",
    "unknown command",
    "accepts ",
    "requires ",
    "Cannot use two forms",
    "required flag",
    "is required",
    "flag provided but not defined",
    "Incorrect Usage",
    "invalid argument",
];

/// What they print when the argv was fine but there is nothing to talk to
/// (or nothing to act on in an empty Helm).
const EXPECTED_FAILURES: [&str; 7] = [
    "connection refused",
    // `kubectl get --raw` words it so.
    "was refused - did you specify the right host or port",
    "cluster unreachable",
    "connect: connection refused",
    "no repositories",
    "no repo named",
    "not found",
];

struct Tools {
    kubectl: PathBuf,
    helms: Vec<PathBuf>,
    containerd: Containerd,
    kubeconfig: PathBuf,
    helm_home: tempfile::TempDir,
}

/// One real-tool run for a command line: program, argv, environment.
struct Invocation {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn helm_env(home: &Path) -> Vec<(String, String)> {
    let at = |sub: &str| home.join(sub).to_string_lossy().into_owned();
    vec![
        ("HELM_CONFIG_HOME".into(), at("config")),
        ("HELM_CACHE_HOME".into(), at("cache")),
        ("HELM_DATA_HOME".into(), at("data")),
        (
            "HELM_REPOSITORY_CONFIG".into(),
            at("config/repositories.yaml"),
        ),
        ("HELM_REPOSITORY_CACHE".into(), at("cache/repository")),
    ]
}

/// How the command line reaches the real tools: a `microk8s X` line as
/// MicroK8s' wrapper runs it (its own flags first), a plain one with the
/// environment pointing at the test's cluster and containerd. `None` for
/// MicroK8s' own commands (add-node, remove-node), which have no real tool
/// here.
fn invocations(line: &CommandLine, tools: &Tools) -> Option<Vec<Invocation>> {
    let kubeconfig = tools.kubeconfig.to_string_lossy().into_owned();
    let socket = tools.containerd.socket().to_string_lossy().into_owned();
    let (tool, rest, wrapped) = match line.program.as_str() {
        "microk8s" => {
            let (tool, rest) = line.args.split_first()?;
            (tool.as_str(), rest.to_vec(), true)
        }
        other => (other, line.args.clone(), false),
    };
    let mut env = helm_env(tools.helm_home.path());
    env.push(("KUBECONFIG".into(), kubeconfig.clone()));
    env.push(("CONTAINERD_ADDRESS".into(), socket.clone()));
    let with = |program: &Path, prefix: Vec<String>| Invocation {
        program: program.to_path_buf(),
        args: prefix.into_iter().chain(rest.iter().cloned()).collect(),
        env: env.clone(),
    };
    let kube_prefix = || {
        if wrapped {
            vec![format!("--kubeconfig={kubeconfig}")]
        } else {
            vec![]
        }
    };
    match tool {
        "kubectl" => Some(vec![with(&tools.kubectl, kube_prefix())]),
        "helm" => Some(
            tools
                .helms
                .iter()
                .map(|helm| with(helm, kube_prefix()))
                .collect(),
        ),
        "ctr" => {
            let prefix = if wrapped {
                vec![
                    format!("--address={socket}"),
                    "--namespace".to_string(),
                    "k8s.io".to_string(),
                ]
            } else {
                vec![]
            };
            Some(vec![with(tools.containerd.ctr_path(), prefix)])
        }
        _ => None,
    }
}

fn write_sample_files(dir: &Path) {
    let files = [
        (
            samples::QUOTA_FILE,
            "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: binder-quota\nspec:\n  hard:\n    pods: \"120\"\n",
        ),
        (
            samples::STORAGE_FILE,
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local-storage-dir\nprovisioner: openebs.io/local\n",
        ),
        (
            samples::SECRET_FILE,
            "registry:\n  username: lab\n  password: not-a-secret\n",
        ),
        (samples::RENDERED_FILE, "config: {}\n"),
        (samples::EXTRA_VALUES_FILE, "jupyterhub: {}\n"),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("sample file");
    }
}

/// A closed loopback port: `helm repo add` to it fails to connect.
fn closed_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    format!("http://127.0.0.1:{port}/")
}

#[test]
fn every_argv_binderctl_builds_is_accepted_by_the_real_tools() {
    let kubectl = real_tool!("kubectl");
    let helm4 = real_tool!("helm");
    let helm3 = real_tool!("helm3");
    let Some(containerd) = Containerd::start() else {
        return;
    };
    let (_kube_dir, kubeconfig) = unreachable_kubeconfig();
    let tools = Tools {
        kubectl,
        helms: vec![helm4, helm3],
        containerd,
        kubeconfig,
        helm_home: tempfile::tempdir().unwrap(),
    };
    let files = tempfile::tempdir().unwrap();
    write_sample_files(files.path());
    std::fs::copy(
        &tools.kubeconfig,
        files.path().join(samples::KUBECONFIG_FILE),
    )
    .unwrap();
    let lines = samples::every_command_line(files.path(), &closed_url()).unwrap();

    let mut refused = Vec::new();
    let mut unexplained = Vec::new();
    let (mut runs, mut skipped) = (0, Vec::new());
    for line in &lines {
        let Some(runs_of_line) = invocations(line, &tools) else {
            skipped.push(line.to_string());
            continue;
        };
        for invocation in runs_of_line {
            runs += 1;
            let out = Command::new(&invocation.program)
                .args(&invocation.args)
                .envs(invocation.env.iter().map(|(k, v)| (k, v)))
                .current_dir(files.path())
                .stdin(Stdio::null())
                .output()
                .expect("run real tool");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let shown = format!(
                "{line}\n    as {} {:?}\n    exit {:?}: {}",
                invocation.program.display(),
                invocation.args,
                out.status.code(),
                stderr.trim()
            );
            if USAGE_ERRORS.iter().any(|e| stderr.contains(e)) {
                refused.push(shown);
            } else if !out.status.success() && !EXPECTED_FAILURES.iter().any(|e| stderr.contains(e))
            {
                unexplained.push(shown);
            }
        }
    }
    assert!(
        refused.is_empty(),
        "the real tools refuse {} argv:\n{}",
        refused.len(),
        refused.join("\n")
    );
    assert!(
        unexplained.is_empty(),
        "failures that are neither usage nor connection errors:\n{}",
        unexplained.join("\n")
    );
    // MicroK8s' own commands (add-node, remove-node, status, enable) and
    // systemd's (init's iscsid step) have no real tool here; the strict
    // stand-ins check their flags against MicroK8s' source.
    let not_runnable = [
        "microk8s add-node",
        "microk8s remove-node",
        "microk8s status",
        "microk8s enable",
        "systemctl ",
        "sudo -n systemctl ",
    ];
    assert!(
        skipped
            .iter()
            .all(|l| not_runnable.iter().any(|p| l.starts_with(p))),
        "{skipped:?}"
    );
    assert!(runs > 100, "only {runs} runs: the samples shrank");
    eprintln!(
        "conformance: {runs} real-tool runs of {} command lines; not runnable here: {skipped:?}",
        lines.len()
    );
}

#[test]
fn the_check_catches_what_the_real_tools_refuse() {
    // The bugs this tier exists for, as the real tools report them.
    let kubectl = real_tool!("kubectl");
    let helm4 = real_tool!("helm");
    let Some(containerd) = Containerd::start() else {
        return;
    };
    let (_dir, kubeconfig) = unreachable_kubeconfig();
    let run = |program: &Path, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let socket = format!("--address={}", containerd.socket().display());
    let cases: [(&Path, Vec<&str>, &str); 4] = [
        (
            &helm4,
            vec!["list", "-n", "binder", "--all", "-o", "json"],
            "unknown flag: --all",
        ),
        (
            containerd.ctr_path(),
            vec![
                &socket,
                "--namespace",
                "k8s.io",
                "-n",
                "k8s.io",
                "images",
                "ls",
            ],
            "Cannot use two forms",
        ),
        (&kubectl, vec!["get", "pods", "--bogus"], "unknown flag"),
        (
            &kubectl,
            vec!["create", "token"],
            "exactly one NAME is required",
        ),
    ];
    for (program, args, expected) in cases {
        let stderr = run(program, &args);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(USAGE_ERRORS.iter().any(|e| stderr.contains(e)), "{stderr}");
    }
}

/// The words of a --help text, split where flags end.
fn help_words(text: &str) -> std::collections::HashSet<String> {
    text.split(|c: char| c.is_whitespace() || ",=:[]'\"".contains(c))
        .filter(|w| w.starts_with('-'))
        .map(str::to_string)
        .collect()
}

fn help_of(program: &Path, args: &[&str]) -> std::collections::HashSet<String> {
    let out = Command::new(program).args(args).output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    help_words(&text)
}

#[test]
fn the_stand_ins_accept_only_flags_the_real_tools_accept() {
    use support::fake_tools::{
        ACCEPTED_FLAGS, CTR_GLOBAL_FLAGS, HELM_GLOBAL_FLAGS, KUBECTL_GLOBAL_FLAGS,
    };
    let kubectl = real_tool!("kubectl");
    let helms = [real_tool!("helm"), real_tool!("helm3")];
    let ctr = real_tool!("ctr");
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut check = |what: &str, flags: &[&str], help: &std::collections::HashSet<String>| {
        for flag in flags {
            checked += 1;
            if !help.contains(*flag) {
                wrong.push(format!("{what}: {flag}"));
            }
        }
    };
    check("kubectl options", KUBECTL_GLOBAL_FLAGS, &{
        let mut help = help_of(&kubectl, &["options"]);
        help.extend(help_of(&kubectl, &["get", "--help"]));
        help
    });
    for helm in &helms {
        let what = format!("{} repo update", helm.display());
        check(
            &what,
            HELM_GLOBAL_FLAGS,
            &help_of(helm, &["repo", "update", "--help"]),
        );
    }
    check("ctr", CTR_GLOBAL_FLAGS, &help_of(&ctr, &["--help"]));
    for (command, flags) in ACCEPTED_FLAGS {
        let words: Vec<&str> = command.split(' ').collect();
        let (tool, sub) = words.split_first().unwrap();
        let mut args = sub.to_vec();
        args.push("--help");
        match *tool {
            "kubectl" => check(command, flags, &help_of(&kubectl, &args)),
            "helm" => {
                for helm in &helms {
                    let what = format!("{command} ({})", helm.display());
                    check(&what, flags, &help_of(helm, &args));
                }
            }
            "ctr" => check(command, flags, &help_of(&ctr, &args)),
            // MicroK8s' own commands: recorded from their source.
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "flags the real tools do not accept:\n{}",
        wrong.join("\n")
    );
    assert!(checked > 300, "only {checked} flags checked");
}

// ---- dashboard: real kubectl against a loopback API server ----

const API_VERSIONS: &str = r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}"#;
const API_GROUPS: &str = r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#;
const CORE_RESOURCES: &str = r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[
  {"name":"services","singularName":"service","namespaced":true,"kind":"Service","verbs":["create","delete","get","list","patch","update","watch"],"shortNames":["svc"]},
  {"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"],"shortNames":["po"]}]}"#;

fn service_json(namespace: &str, name: &str) -> String {
    format!(
        r#"{{"kind":"Service","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"{namespace}","uid":"5c3a6f0e-0000-4000-8000-000000000001","resourceVersion":"1","creationTimestamp":"2024-05-21T10:02:11Z"}},"spec":{{"ports":[{{"port":443,"targetPort":8443,"protocol":"TCP"}}],"selector":{{"app":"{name}"}},"clusterIP":"198.51.100.10","type":"ClusterIP"}},"status":{{"loadBalancer":{{}}}}}}"#
    )
}

fn not_found_json(name: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"services \"{name}\" not found","reason":"NotFound","details":{{"name":"{name}","kind":"services"}},"code":404}}"#
    )
}

/// An API server on loopback that knows services, with the dashboard
/// service of one layout (or none).
fn api_server(present: Option<(&str, &str)>) -> support::http_server::HttpServer {
    use support::http_server::{HttpServer, Reply, Routes};
    let mut routes = Routes::new()
        .json("/api", API_VERSIONS)
        .json("/apis", API_GROUPS)
        .json("/api/v1", CORE_RESOURCES);
    for (namespace, name) in [
        ("kubernetes-dashboard", "kubernetes-dashboard-kong-proxy"),
        ("kube-system", "kubernetes-dashboard"),
    ] {
        let path = format!("/api/v1/namespaces/{namespace}/services/{name}");
        let reply = if present == Some((namespace, name)) {
            Reply::json(service_json(namespace, name))
        } else {
            Reply::new(404, "application/json", not_found_json(name))
        };
        routes = routes.route(&path, reply);
    }
    HttpServer::start(routes)
}

fn dashboard_forward(api: &support::http_server::HttpServer) -> std::process::Output {
    let kubectl = support::real_tools::require("kubectl").expect("kubectl");
    let helm = support::real_tools::require("helm").expect("helm");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"{}\"}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: not-a-secret}}\n",
            api.url("")
        ),
    )
    .unwrap();
    let bin = support::wrapper::RealToolsBin::new(&support::wrapper::RealTools {
        kubectl: &kubectl,
        helm: &helm,
        ctr: None,
        kubeconfig: &kubeconfig,
        containerd_socket: None,
    });
    Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .args(["dashboard", "forward", "--port", "0"])
        .env_clear()
        // No MicroK8s snap here: the stand-in is the wrapper.
        .env("BINDERCTL_MICROK8S_SNAP_DATA", "/nonexistent/microk8s")
        .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn dashboard_forward_finds_either_add_on_layout_with_real_kubectl() {
    let _kubectl = real_tool!("kubectl");
    let _helm = real_tool!("helm");
    for (namespace, service) in [
        ("kubernetes-dashboard", "kubernetes-dashboard-kong-proxy"),
        ("kube-system", "kubernetes-dashboard"),
    ] {
        let api = api_server(Some((namespace, service)));
        let out = dashboard_forward(&api);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let path = format!("/api/v1/namespaces/{namespace}/services/{service}");
        // Found by binderctl's probe, then looked up by port-forward itself
        // (which then fails: this API server has no pods to forward to).
        assert!(
            api.requests(&path) >= 2,
            "{service}: {:?}\n{err}",
            api.seen()
        );
        assert!(
            err.contains(&format!(
                "port-forward -n {namespace} service/{service} 0:443"
            )),
            "{err}"
        );
    }
    let api = api_server(None);
    let out = dashboard_forward(&api);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no Kubernetes Dashboard found"), "{err}");
    assert!(
        err.contains("kubernetes-dashboard-kong-proxy in namespace kubernetes-dashboard"),
        "{err}"
    );
}
