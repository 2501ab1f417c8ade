//! `binderctl deploy` end to end: a real render against loopback DNS and
//! HTTP servers, then a fake cluster of recording tools.

mod support;

use std::process::Output;

use support::dns_server::{DnsServer, Zone};
use support::fake_tools::{call, Call, FakeCluster};
use support::http_server::{FastlyList, GitHubMeta, HttpServer, Routes};

const TOKEN: &str = "dckr_pat_TOPSECRET-4242";
const VERSION: &str = "1.0.0-0.dev.git.3620.h0d3c3ec5";

const BINDER_YAML: &str = r#"config:
  BinderHub:
    use_registry: true
    hub_url: http://192.0.2.100
jupyterhub:
  singleuser:
    networkPolicy:
      enabled: true
      egressAllowRules:
        nonPrivateIPs: false
      domain_whitelist: [files.example]
"#;

const DEPLOYMENTS_JSON: &str = r#"{"apiVersion":"v1","kind":"List","items":[
  {"kind":"Deployment","metadata":{"name":"proxy","namespace":"binder"}},
  {"kind":"Deployment","metadata":{"name":"binder","namespace":"binder"}},
  {"kind":"Deployment","metadata":{"name":"hub","namespace":"binder"}},
  {"kind":"Deployment","metadata":{"name":"user-scheduler","namespace":"binder"}}]}"#;

const REPOS_JSON: &str = r#"[{"name":"jupyterhub","url":"https://charts.example/helm-chart/"}]"#;

struct DeployEnv {
    fake: FakeCluster,
    dns: DnsServer,
    http: HttpServer,
}

impl DeployEnv {
    fn new(zone: Zone) -> Self {
        let mut fake = FakeCluster::new();
        fake.write_file("binder.yaml", BINDER_YAML);
        write_secret(
            &fake,
            &format!("registry:\n  username: lab\n  password: {TOKEN}\n"),
        );
        fake.respond(&["helm", "repo", "list"], REPOS_JSON, 0);
        fake.respond(&["helm", "repo", "update"], "Hang tight while we grab the latest from your chart repositories...\nUpdate Complete. ⎈Happy Helming!⎈\n", 0);
        fake.respond(
            &["helm", "repo", "add"],
            "\"jupyterhub\" has been added to your repositories\n",
            0,
        );
        fake.respond(
            &["helm", "upgrade"],
            "Release \"binder\" has been upgraded. Happy Helming!\nNAME: binder\nNAMESPACE: binder\nSTATUS: deployed\nREVISION: 15\n",
            0,
        );
        fake.respond(
            &["kubectl", "get", "deployments,statefulsets,daemonsets"],
            DEPLOYMENTS_JSON,
            0,
        );
        fake.respond(
            &["kubectl", "rollout", "status"],
            "deployment successfully rolled out\n",
            0,
        );
        let dns = DnsServer::start(zone);
        let http = HttpServer::start(
            Routes::new()
                .json("/meta", GitHubMeta::sample().to_json())
                .json("/fastly", FastlyList::sample().to_json()),
        );
        DeployEnv { fake, dns, http }
    }

    fn standard() -> Self {
        Self::new(Zone::new().a("files.example", ["192.0.2.20"]))
    }

    fn deploy(&self, args: &[&str]) -> Output {
        let ns = self.dns.addr.to_string();
        let meta = self.http.url("/meta");
        let fastly = self.http.url("/fastly");
        let mut all = vec!["deploy"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "--nameserver",
            &ns,
            "--github-meta-url",
            &meta,
            "--fastly-url",
            &fastly,
            "--timeout",
            "0.3",
            "--retries",
            "0",
            "--chart-repo-url",
            "https://charts.example/helm-chart/",
        ]);
        self.fake.command(&all).output().unwrap()
    }

    fn changing_calls(&self) -> Vec<Call> {
        self.fake
            .normalized_calls()
            .into_iter()
            .filter(|c| {
                let words: Vec<&str> = c.iter().map(String::as_str).collect();
                !matches!(
                    words.as_slice(),
                    ["helm", "list", ..]
                        | ["helm", "repo", "list", ..]
                        | ["kubectl", "get", ..]
                        | ["kubectl", "auth", "can-i", ..]
                )
            })
            .collect()
    }
}

fn write_secret(fake: &FakeCluster, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = fake.write_file("secret.yaml", text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_no_secret(out: &Output) {
    let (o, e) = text(out);
    assert!(
        !o.contains(TOKEN) && !e.contains(TOKEN),
        "the token was printed:\n{o}\n{e}"
    );
}

fn upgrade_call(version: &str) -> Call {
    call(&[
        "helm",
        "upgrade",
        "--cleanup-on-fail",
        "--install",
        "binder",
        "jupyterhub/binderhub",
        &format!("--version={version}"),
        "--namespace=binder",
        "--create-namespace",
        "-f",
        "secret.yaml",
        "-f",
        "_binder.yaml",
    ])
}

#[test]
fn deploy_renders_upgrades_waits_and_reports_addresses() {
    let env = DeployEnv::standard();
    let out = env.deploy(&["--version", VERSION]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_no_secret(&out);

    let mut expected = vec![
        call(&["helm", "repo", "update", "jupyterhub"]),
        upgrade_call(VERSION),
    ];
    for name in ["binder", "hub", "proxy", "user-scheduler"] {
        expected.push(call(&[
            "kubectl",
            "rollout",
            "status",
            &format!("deployment/{name}"),
            "-n",
            "binder",
            "--timeout=10m",
        ]));
    }
    assert_eq!(env.changing_calls(), expected);
    // The default flavor goes through microk8s.
    assert!(
        env.fake.calls().iter().all(|c| c[0] == "microk8s"),
        "{:?}",
        env.fake.calls()
    );

    let rendered = std::fs::read_to_string(env.fake.work_dir().join("_binder.yaml")).unwrap();
    assert!(rendered.contains("cidr: 192.0.2.16/28"), "{rendered}");
    assert!(!rendered.contains("domain_whitelist"));
    assert!(stdout.contains("binder:       192.0.2.101"), "{stdout}");
    assert!(stdout.contains("proxy-public: 192.0.2.100"), "{stdout}");
    assert!(
        !stderr.contains("hub_url"),
        "hub_url matches proxy-public: {stderr}"
    );
}

#[test]
fn without_version_the_deployed_one_is_reused() {
    let env = DeployEnv::standard();
    let out = env.deploy(&[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(env.fake.calls_starting_with(&["helm", "list"]).len() == 1);
    assert_eq!(
        env.fake.calls_starting_with(&["helm", "upgrade"]),
        vec![upgrade_call("1.0.0-0.dev.git.3506.hba24eb2a")]
    );
}

#[test]
fn without_version_and_without_release_nothing_happens() {
    let mut env = DeployEnv::standard();
    env.fake.respond(&["helm", "list"], "[]\n", 0);
    let out = env.deploy(&[]);
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("no Helm release \"binder\" in namespace \"binder\""),
        "{stderr}"
    );
    assert!(stderr.contains("--version"), "{stderr}");
    assert!(env.changing_calls().is_empty(), "{:?}", env.fake.calls());
    // The lookups ran alongside the release read (reads only); nothing
    // was written.
    assert!(!env.fake.work_dir().join("_binder.yaml").exists());
}

#[test]
fn missing_chart_repository_is_added_first() {
    let mut env = DeployEnv::standard();
    env.fake.respond_full(
        &["helm", "repo", "list"],
        "",
        "Error: no repositories to show\n",
        1,
    );
    let out = env.deploy(&["--version", VERSION, "--tools", "plain"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let changing = env.changing_calls();
    assert_eq!(
        changing[0],
        call(&[
            "helm",
            "repo",
            "add",
            "jupyterhub",
            "https://charts.example/helm-chart/"
        ])
    );
    assert_eq!(changing[1], call(&["helm", "repo", "update", "jupyterhub"]));
    assert!(
        env.fake.calls().iter().all(|c| c[0] != "microk8s"),
        "plain tools: {:?}",
        env.fake.calls()
    );
}

#[test]
fn failed_render_deploys_nothing() {
    let env = DeployEnv::new(Zone::new().nxdomain("files.example"));
    std::fs::write(env.fake.work_dir().join("_binder.yaml"), "previous\n").unwrap();
    let out = env.deploy(&["--version", VERSION]);
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("host files.example: does not exist (NXDOMAIN)"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing deployed"), "{stderr}");
    assert!(env.changing_calls().is_empty(), "{:?}", env.fake.calls());
    assert_eq!(
        std::fs::read_to_string(env.fake.work_dir().join("_binder.yaml")).unwrap(),
        "previous\n"
    );
}

#[test]
fn bad_secret_stops_before_anything_runs_and_is_never_printed() {
    for (secret, needle) in [
        (
            format!("registry:\n  username: '<dockerhub-username>'\n  password: {TOKEN}\n"),
            "registry.username: still the template's placeholder",
        ),
        (
            format!("registry:\n  username: lab\n  password: \"{TOKEN}\n"),
            "secret.yaml: not valid YAML",
        ),
        (
            format!("registry:\n  password: {TOKEN}\n"),
            "registry.username: missing",
        ),
    ] {
        let env = DeployEnv::standard();
        write_secret(&env.fake, &secret);
        let out = env.deploy(&["--version", VERSION]);
        assert_eq!(out.status.code(), Some(2), "{secret}");
        assert_no_secret(&out);
        assert!(text(&out).1.contains(needle), "{}", text(&out).1);
        assert!(env.fake.calls().is_empty(), "{:?}", env.fake.calls());
    }
    let env = DeployEnv::standard();
    std::fs::remove_file(env.fake.work_dir().join("secret.yaml")).unwrap();
    let out = env.deploy(&["--version", VERSION]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("secret.yaml: not found"),
        "{}",
        text(&out).1
    );
}

#[test]
fn readable_secret_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let env = DeployEnv::standard();
    let path = env.fake.work_dir().join("secret.yaml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.deploy(&["--version", VERSION]);
    assert!(out.status.success());
    assert!(
        text(&out)
            .1
            .contains("readable by others (mode 0644); chmod 600 secret.yaml"),
        "{}",
        text(&out).1
    );
    assert_no_secret(&out);
}

#[test]
fn dry_run_prints_the_commands_and_changes_nothing() {
    let env = DeployEnv::standard();
    let out = env.deploy(&["--version", VERSION, "--dry-run", "-f", "gpu values.yaml"]);
    // The extra values file must exist and parse.
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("gpu values.yaml: cannot read"),
        "{}",
        text(&out).1
    );

    env.fake.write_file(
        "gpu values.yaml",
        "jupyterhub:\n  singleuser:\n    extraResource: {}\n",
    );
    let out = env.deploy(&["--version", VERSION, "--dry-run", "-f", "gpu values.yaml"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // The printed upgrade names the render it kept, which exists.
    let kept = stdout
        .split_whitespace()
        .find(|w| w.contains("binderctl-dry-run-"))
        .unwrap_or_else(|| panic!("no kept render in {stdout}"))
        .to_string();
    assert!(
        stderr.contains(&format!("the render is kept in {kept}")),
        "{stderr}"
    );
    let rendered = std::fs::read_to_string(&kept).unwrap();
    std::fs::remove_file(&kept).unwrap();
    let values: serde_yaml::Value = serde_yaml::from_str(&rendered).unwrap();
    assert!(values["jupyterhub"]["singleuser"]["networkPolicy"]["egress"].is_sequence());
    assert_eq!(
        stdout,
        format!(
            "microk8s helm repo update jupyterhub\n\
             microk8s helm upgrade --cleanup-on-fail --install binder jupyterhub/binderhub --version={VERSION} \
             --namespace=binder --create-namespace -f secret.yaml -f {kept} -f 'gpu values.yaml'\n"
        )
    );
    assert!(env.changing_calls().is_empty(), "{:?}", env.fake.calls());
    assert!(!env.fake.work_dir().join("_binder.yaml").exists());
    assert_no_secret(&out);
}

#[test]
fn failing_upgrade_propagates_its_exit_code_and_stderr() {
    let mut env = DeployEnv::standard();
    env.fake.respond_full(
        &["helm", "upgrade"],
        "",
        "Error: UPGRADE FAILED: values don't meet the specifications of the schema(s)\n",
        3,
    );
    let out = env.deploy(&["--version", VERSION]);
    assert_eq!(out.status.code(), Some(3));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("UPGRADE FAILED"), "{stderr}");
    assert!(
        env.fake
            .calls_starting_with(&["kubectl", "rollout"])
            .is_empty(),
        "no rollout wait after a failure"
    );
    assert_no_secret(&out);
}

#[test]
fn hub_url_not_pointing_at_proxy_public_is_warned_about() {
    let env = DeployEnv::standard();
    env.fake.write_file(
        "binder.yaml",
        &BINDER_YAML.replace("http://192.0.2.100", "http://192.0.2.99"),
    );
    let out = env.deploy(&["--version", VERSION]);
    assert!(out.status.success());
    let (_, stderr) = text(&out);
    assert!(stderr.contains("warning: config.BinderHub.hub_url is http://192.0.2.99, but proxy-public's external address is 192.0.2.100"), "{stderr}");
}

#[test]
fn bad_version_is_refused() {
    let env = DeployEnv::standard();
    // `latest` is a version now (tests/latest.rs); a stray option is not.
    let out = env.deploy(&["--version", "--devel"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.deploy(&["--version", "1.0; rm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(env.fake.calls().is_empty());
}

#[test]
fn wait_timeout_is_a_total_for_all_deployments() {
    let mut env = DeployEnv::standard();
    env.fake.respond_script(
        &["kubectl", "rollout", "status"],
        "sleep 1.3; echo 'deployment successfully rolled out'",
    );
    let out = env.deploy(&["--version", VERSION, "--wait-timeout", "2s"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("within --wait-timeout 2s"), "{stderr}");
    assert!(
        stderr.contains("deployment/proxy and any after it"),
        "{stderr}"
    );
    let timeouts: Vec<String> = env
        .fake
        .calls_starting_with(&["kubectl", "rollout", "status"])
        .iter()
        .map(|c| c.last().unwrap().clone())
        .collect();
    // binder gets the whole 2s, hub what is left (rounded up), then none.
    assert_eq!(timeouts, ["--timeout=2s", "--timeout=1s"]);
}

#[test]
fn wait_timeout_takes_the_one_duration_grammar() {
    // `--timeout 500ms` always worked; `--wait-timeout 500ms` was refused.
    let env = DeployEnv::standard();
    let out = env.deploy(&["--version", VERSION, "--wait-timeout", "500ms"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let timeouts: Vec<String> = env
        .fake
        .calls_starting_with(&["kubectl", "rollout", "status"])
        .iter()
        .map(|c| c.last().unwrap().clone())
        .collect();
    // kubectl gets the time left in whole seconds, rounded up.
    assert_eq!(timeouts.first().map(String::as_str), Some("--timeout=1s"));
}

#[test]
fn quiet_deploy_prints_the_addresses_and_errors_only() {
    let mut env = DeployEnv::standard();
    let out = env.deploy(&["--version", VERSION, "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr, "");
    assert!(!stdout.contains("Happy Helming"), "{stdout}");
    assert!(stdout.contains("proxy-public: 192.0.2.100"), "{stdout}");

    env.fake.respond_full(
        &["helm", "upgrade"],
        "Release notes nobody asked for\n",
        "Error: UPGRADE FAILED: timed out waiting for the condition\n",
        1,
    );
    let out = env.deploy(&["--version", VERSION, "--quiet"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("UPGRADE FAILED"), "{stderr}");
    assert!(stderr.contains("binderctl: error:"), "{stderr}");
    assert!(!stdout.contains("Release notes"), "{stdout}");
}

// ------------------------------------------------------- nothing dangerous

#[test]
fn the_output_never_replaces_the_secret_or_a_values_file() {
    let env = DeployEnv::standard();
    let gpu = "hub:\n  extraConfig: {}\n";
    env.fake.write_file("gpu.yaml", gpu);
    for args in [
        &["--version", VERSION, "-o", "secret.yaml"][..],
        &["--version", VERSION, "-o", "./secret.yaml"],
        &["--version", VERSION, "-f", "gpu.yaml", "-o", "gpu.yaml"],
    ] {
        let out = env.deploy(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let (_, stderr) = text(&out);
        assert!(stderr.contains("the output file is"), "{args:?}: {stderr}");
        assert_no_secret(&out);
    }
    let secret = std::fs::read_to_string(env.fake.work_dir().join("secret.yaml")).unwrap();
    assert!(secret.contains(TOKEN));
    let kept = std::fs::read_to_string(env.fake.work_dir().join("gpu.yaml")).unwrap();
    assert_eq!(kept, gpu);
    assert!(env.fake.calls().is_empty(), "{:?}", env.fake.calls());
}

#[test]
fn tutorial_placeholders_are_refused_before_anything_changes() {
    let env = DeployEnv::standard();
    env.fake.write_file(
        "binder.yaml",
        &BINDER_YAML.replace(
            "    hub_url: http://192.0.2.100\n",
            "    hub_url: <jupyterhub-url>\n    image_prefix: <dockerhub-username>/binder-\n",
        ),
    );
    let out = env.deploy(&["--version", VERSION]);
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(
            "binder.yaml: config.BinderHub.image_prefix still holds the tutorial's placeholder \
             <dockerhub-username>"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("config.BinderHub.hub_url still holds"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing deployed"), "{stderr}");
    assert!(
        env.changing_calls().is_empty(),
        "{:?}",
        env.changing_calls()
    );
    assert!(!env.fake.work_dir().join("_binder.yaml").exists());
}

#[test]
fn a_zero_wait_timeout_is_refused() {
    let env = DeployEnv::standard();
    let out = env.deploy(&["--version", VERSION, "--wait-timeout", "0s"]);
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("--wait-timeout"), "{stderr}");
    assert!(env.fake.calls().is_empty());
}

// ------------------------------------------------------- signals

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never happened"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn kill(signal: &str, pid: u32) {
    let sent = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

impl DeployEnv {
    /// `deploy` with generous timeouts, running in the background.
    fn spawn_deploy(&self, args: &[&str]) -> std::process::Child {
        let ns = self.dns.addr.to_string();
        let mut all = vec!["deploy", "--nameserver", &ns, "--timeout", "10"];
        let meta = self.http.url("/meta");
        let fastly = self.http.url("/fastly");
        all.extend_from_slice(&["--github-meta-url", &meta, "--fastly-url", &fastly]);
        all.extend_from_slice(args);
        self.fake
            .command(&all)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn ctrl_c_during_the_lookups_is_honoured_at_once() {
    let env = DeployEnv::new(
        Zone::new()
            .a("files.example", ["192.0.2.20"])
            .delay(std::time::Duration::from_secs(5)),
    );
    // Without --version: the deployed version is asked first, as today.
    let child = env.spawn_deploy(&[]);
    wait_until("a DNS query", || env.dns.query_count() > 0);
    let sent = std::time::Instant::now();
    kill("-INT", child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out).1);
    // At once, not when the (5 s) answers are in.
    let took = sent.elapsed();
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
    assert!(
        env.changing_calls().is_empty(),
        "{:?}",
        env.changing_calls()
    );
    assert!(!env.fake.work_dir().join("_binder.yaml").exists());
}

#[test]
fn sigterm_during_the_upgrade_is_passed_on_and_helm_is_waited_for() {
    let mut env = DeployEnv::standard();
    env.fake.respond_script(
        &["helm", "upgrade"],
        "trap 'echo cancelled >> \"$FAKE_DIR/upgrade.log\"; kill $! 2>/dev/null; sleep 3; \
         echo finished >> \"$FAKE_DIR/upgrade.log\"; echo \"Error: UPGRADE FAILED: context canceled\" >&2; exit 1' TERM INT\n\
         echo started > \"$FAKE_DIR/upgrade.log\"\nsleep 30 &\nwait\n",
    );
    env.fake.respond(
        &["helm", "status"],
        r#"{"name":"binder","info":{"status":"failed"},"version":16,"namespace":"binder"}"#,
        0,
    );
    let log = env.fake.state_dir().join("upgrade.log");
    let child = env.spawn_deploy(&["--version", VERSION]);
    wait_until("the upgrade", || log.exists());
    kill("-TERM", child.id());
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        log, "started\ncancelled\nfinished\n",
        "helm was killed: {stderr}"
    );
    assert!(
        stderr.contains("Helm reports release binder as failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`microk8s helm history binder -n binder`"),
        "{stderr}"
    );
    assert!(stderr.contains("`binderctl deploy` again"), "{stderr}");
    assert!(
        env.fake
            .calls_starting_with(&["kubectl", "rollout"])
            .is_empty(),
        "no step after the interrupt"
    );
    assert_no_secret(&out);
}

#[test]
fn deploy_reads_the_release_the_repositories_and_the_policy_at_once() {
    let env = DeployEnv::standard();
    env.fake
        .require_in_flight(3, std::time::Duration::from_secs(10));
    let out = env.deploy(&["--dry-run"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("helm upgrade"), "{stdout}");
}

#[test]
fn a_failing_repository_list_is_asked_once() {
    let mut env = DeployEnv::standard();
    env.fake.respond_full(
        &["helm", "repo", "list"],
        "",
        "Error: open /root/.config/helm/repositories.yaml: permission denied\n",
        1,
    );
    let out = env.deploy(&["--version", VERSION]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    let lists = env
        .fake
        .normalized_calls()
        .into_iter()
        .filter(|c| c.get(1).map(String::as_str) == Some("repo"))
        .count();
    assert_eq!(lists, 1, "{:?}", env.fake.calls());
}

#[test]
fn a_missing_permission_stops_the_deploy_before_anything_changes() {
    let mut env = DeployEnv::standard();
    // A namespace admin's account: the namespace's objects yes, the chart's
    // cluster roles no (`kubectl auth can-i` answers `no`, exit 1).
    env.fake.respond(
        &[
            "kubectl",
            "auth",
            "can-i",
            "create",
            "clusterroles.rbac.authorization.k8s.io",
        ],
        "no\n",
        1,
    );
    let out = env.deploy(&["--version", VERSION]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "not allowed: your account may not create clusterroles.rbac.authorization.k8s.io at \
             the cluster scope (the chart's user-scheduler and image-cleaner); nothing was changed"
        ) && stderr.contains("binderctl rbac"),
        "{stderr}"
    );
    assert!(
        env.changing_calls().is_empty(),
        "{:?}",
        env.changing_calls()
    );
    assert!(!env.fake.work_dir().join("_binder.yaml").exists());
}
