//! `binderctl check` against a loopback BinderHub and JupyterHub that
//! answer as the real ones do (tests/support/binderhub.rs), and the fake
//! cluster's services.

#[path = "support/binderhub.rs"]
mod binderhub;
mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use binderhub::{After, Answer, FakeServer};
use serde_json::{json, Value};
use support::fake_tools::{call, FakeCluster};
use support::{stderr, stdout};

/// The server token of the ready event: must never be printed.
const TOKEN: &str = "tok-7hQ2xSECRET-launch-token";
const USER: &str = "binder-examples-requirements-x1y2z3";

/// JupyterHub: its health, and the launched server's shutdown answering
/// `shutdown_status`.
fn hub(shutdown_status: u16) -> FakeServer {
    FakeServer::start(vec![
        ("GET", "/hub/api/health", Answer::empty(200)),
        (
            "POST",
            &format!("/user/{USER}/api/shutdown"),
            Answer::empty(shutdown_status),
        ),
    ])
}

/// BinderHub with this health answer and, when given, this build answer
/// for `binder-examples/requirements` at HEAD.
fn binderhub(health: (u16, Value), build: Option<Answer>) -> FakeServer {
    let mut routes = vec![
        ("GET", "/health", Answer::json(health.0, &health.1)),
        (
            "GET",
            "/versions",
            Answer::json(200, &binderhub::versions()),
        ),
    ];
    if let Some(build) = build {
        routes.push(("GET", "/build/gh/binder-examples/requirements/HEAD", build));
    }
    FakeServer::start(routes)
}

fn healthy() -> (u16, Value) {
    binderhub::health(true, true, 12, 100)
}

fn check(fake: &FakeCluster, args: &[&str]) -> Output {
    let mut argv = vec!["check"];
    argv.extend_from_slice(args);
    fake.command(&argv).output().expect("run binderctl")
}

/// `check --url BINDERHUB --hub-url HUB ARGS...`
fn check_at(fake: &FakeCluster, bh: &FakeServer, hub: &FakeServer, args: &[&str]) -> Output {
    let (url, hub_url) = (bh.url("/"), hub.url("/"));
    let mut argv = vec!["--url", &url, "--hub-url", &hub_url];
    argv.extend_from_slice(args);
    check(fake, &argv)
}

/// A report line when the widest name is `binderhub/docker-registry`.
fn line(status: &str, name: &str, message: &str) -> String {
    format!("{status:<4}  {name:<25}  {message}")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn assert_token_never_shown(out: &Output) {
    for text in [stdout(out), stderr(out)] {
        assert!(!text.contains(TOKEN), "the token was printed: {text}");
        assert!(
            !text.contains("SECRET"),
            "part of the token was printed: {text}"
        );
    }
}

#[test]
fn a_healthy_binderhub_and_hub_exit_0_with_one_line_per_check() {
    let fake = FakeCluster::new();
    let (bh, hub) = (binderhub(healthy(), None), hub(200));
    let out = check_at(&fake, &bh, &hub, &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    let health = bh.url("/health");
    assert!(
        lines[0].starts_with(&line(
            "ok",
            "binderhub",
            &format!("{health}: healthy (HTTP 200, ")
        )),
        "{text}"
    );
    assert_eq!(
        lines[1],
        line("ok", "binderhub/docker-registry", "Docker registry: ok")
    );
    assert_eq!(
        lines[2],
        line("ok", "binderhub/jupyterhub-api", "JupyterHub API: ok")
    );
    assert_eq!(
        lines[3],
        line(
            "ok",
            "binderhub/pod-quota",
            "Pod quota: ok: 12 pods (1 build, 11 user), quota 100"
        )
    );
    assert_eq!(
        lines[4],
        line(
            "ok",
            "versions",
            "BinderHub 1.0.0-0.dev.git.3506.hba24eb2a, \
             build_image quay.io/jupyterhub/repo2docker:2024.07.0"
        )
    );
    let hub_health = format!("{}: healthy (HTTP 200, ", hub.url("/hub/api/health"));
    assert!(
        lines[5].starts_with(&line("ok", "jupyterhub", &hub_health)),
        "{text}"
    );
    assert_eq!(stderr(&out), "");
    // Both addresses given: the cluster is not asked.
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(
        bh.requests("/health")[0].header("accept"),
        Some("application/json")
    );
}

#[test]
fn an_unhealthy_binderhub_exits_1_and_names_the_failing_check() {
    let fake = FakeCluster::new();
    let (bh, hub) = (
        binderhub(binderhub::health(false, true, 12, 100), None),
        hub(200),
    );
    let out = check_at(&fake, &bh, &hub, &[]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&line(
            "fail",
            "binderhub",
            &format!(
                "{}: unhealthy (HTTP 503 Service Unavailable): Docker registry failing\n",
                bh.url("/health")
            )
        )),
        "{text}"
    );
    assert!(
        text.contains(&line(
            "fail",
            "binderhub/docker-registry",
            "Docker registry: failing\n"
        )),
        "{text}"
    );
    assert!(text.contains("ok    binderhub/jupyterhub-api"), "{text}");
    assert!(text.contains("ok    jupyterhub"), "{text}");
    assert!(
        stderr(&out).contains("check: 2 checks failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_pod_quota_beyond_its_limit_warns_as_binderhub_ignores_it() {
    let fake = FakeCluster::new();
    let (bh, hub) = (
        binderhub(binderhub::health(true, true, 120, 100), None),
        hub(200),
    );
    let out = check_at(&fake, &bh, &hub, &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&line(
            "warn",
            "binderhub/pod-quota",
            "Pod quota: not ok (BinderHub does not count this one): \
             120 pods (1 build, 119 user), quota 100\n"
        )),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_refused_connection_names_the_url_and_fails_the_check() {
    let fake = FakeCluster::new();
    let bh = binderhub(healthy(), None);
    let hub_url = format!("http://127.0.0.1:{}/", closed_port());
    let out = check(&fake, &["--url", &bh.url("/"), "--hub-url", &hub_url]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("fail  jupyterhub"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(&format!("{hub_url}hub/api/health: cannot connect: ")),
        "{line}"
    );
    assert!(line.to_lowercase().contains("connection refused"), "{line}");
    // BinderHub down: its three lines fail, each naming its URL.
    let bh_url = format!("http://127.0.0.1:{}/", closed_port());
    let out = check(
        &fake,
        &["--url", &bh_url, "--hub-url", &hub_url, "-o", "json"],
    );
    assert_eq!(code(&out), 1);
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["binderhub", "versions", "jupyterhub"]);
    assert_eq!(results[0]["status"], "fail");
    assert_eq!(results[0]["http_status"], Value::Null);
    let message = results[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{bh_url}health: cannot connect")),
        "{message}"
    );
}

#[test]
fn an_answer_that_is_not_binderhubs_says_so() {
    let fake = FakeCluster::new();
    // A web server that is not BinderHub: 404 pages for everything.
    let other = FakeServer::start(vec![]);
    let hub = hub(200);
    let out = check_at(&fake, &other, &hub, &[]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "fail  binderhub   {}: HTTP 404 Not Found, not a JSON document (",
            other.url("/health")
        )),
        "{text}"
    );
    assert!(text.contains("is this BinderHub's address?"), "{text}");
    assert!(text.contains("fail  versions    "), "{text}");
}

#[test]
fn an_oversized_health_answer_is_refused() {
    let fake = FakeCluster::new();
    let huge = Answer::Reply {
        status: 200,
        content_type: "application/json".into(),
        body: vec![b' '; 2 << 20],
    };
    let bh = FakeServer::start(vec![("GET", "/health", huge)]);
    let out = check_at(&fake, &bh, &hub(200), &[]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("health: an answer larger than 1 MiB"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn what_keeps_the_checks_from_running_exits_2() {
    let fake = FakeCluster::new();
    for (args, says) in [
        (&["--url", "ftp://binder.example/"][..], "not http"),
        (&["--url", "http://binder.example/?a=1"], "without ?query"),
        (&["--launch", "requirements"], "OWNER/REPO"),
        (&["--launch", "a/b@x..y"], "not a git ref"),
        (&["--timeout", "0s"], "more than zero"),
    ] {
        let out = check(&fake, args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // No address for BinderHub in the cluster: the service is named, and
    // the option that gives it.
    let mut pending = FakeCluster::new();
    pending.respond(
        &["kubectl", "get", "services"],
        r#"{"items": [{"metadata": {"name": "binder"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {}}}]}"#,
        0,
    );
    let out = check(&pending, &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the service binder in namespace binder has no external address (pending)"),
        "{err}"
    );
    assert!(err.contains("--url"), "{err}");
    // The hub's service missing, BinderHub's given.
    let out = check(&pending, &["--url", "http://192.0.2.10/"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no service proxy-public in namespace binder"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--hub-url"), "{}", stderr(&out));

    // kubectl failing is an error (2), not "unhealthy" (1).
    let mut down = FakeCluster::new();
    down.respond_full(
        &["kubectl", "get", "services"],
        "",
        "The connection to the server 127.0.0.1:16443 was refused\n",
        1,
    );
    let out = check(&down, &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("was refused"), "{}", stderr(&out));
}

/// The fake cluster's services, `binder` and `proxy-public` on loopback at
/// these ports.
fn loopback_services(binder_port: u16, hub_port: u16) -> String {
    json!({"items": [
        {"metadata": {"name": "binder"}, "spec": {"type": "LoadBalancer", "ports": [{"port": binder_port}]},
         "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}},
        {"metadata": {"name": "hub"}, "spec": {"type": "ClusterIP", "ports": [{"port": 8081}]}},
        {"metadata": {"name": "proxy-public"}, "spec": {"type": "LoadBalancer", "ports": [{"port": hub_port}]},
         "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}},
    ]})
    .to_string()
}

#[test]
fn the_addresses_come_from_the_services_read_once() {
    let (bh, hub) = (binderhub(healthy(), None), hub(200));
    let mut fake = FakeCluster::new();
    fake.respond(
        &["kubectl", "get", "services"],
        &loopback_services(bh.addr.port(), hub.addr.port()),
        0,
    );
    let out = check(&fake, &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&bh.url("/health")),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&hub.url("/hub/api/health")),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        fake.calls(),
        [call(&[
            "microk8s", "kubectl", "get", "services", "-n", "binder", "-o", "json"
        ])]
    );
    assert_eq!(bh.requests("/health").len(), 1);
    assert_eq!(hub.requests("/hub/api/health").len(), 1);

    // Another namespace, plain tools, the hub's address given.
    let fake2 = {
        let mut f = FakeCluster::new();
        f.respond(
            &["kubectl", "get", "services"],
            &loopback_services(bh.addr.port(), closed_port()),
            0,
        );
        f
    };
    let out = check(
        &fake2,
        &[
            "--tools",
            "plain",
            "-n",
            "staging",
            "--hub-url",
            &hub.url("/"),
        ],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        fake2.calls(),
        [call(&[
            "kubectl", "get", "services", "-n", "staging", "-o", "json"
        ])]
    );
}

#[test]
fn json_yaml_and_names() {
    let fake = FakeCluster::new();
    let (bh, hub) = (binderhub(healthy(), None), hub(200));
    let out = check_at(&fake, &bh, &hub, &["-o", "json"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stderr(&out), "");
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 6);
    for result in results {
        let mut keys: Vec<&str> = result
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "http_status",
                "log",
                "message",
                "name",
                "phases",
                "seconds",
                "status",
                "url"
            ]
        );
    }
    assert_eq!(results[0]["name"], "binderhub");
    assert_eq!(results[0]["status"], "ok");
    assert_eq!(results[0]["http_status"], 200);
    assert_eq!(results[0]["url"], bh.url("/health"));
    assert!(results[0]["seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(results[3]["name"], "binderhub/pod-quota");
    assert_eq!(results[5]["name"], "jupyterhub");

    let out = check_at(&fake, &bh, &hub, &["-o", "yaml"]);
    let yaml: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(yaml[4]["name"], "versions");
    assert_eq!(yaml[4]["status"], "ok");

    let out = check_at(&fake, &bh, &hub, &["-o", "name"]);
    assert_eq!(
        stdout(&out),
        "binderhub\nbinderhub/docker-registry\nbinderhub/jupyterhub-api\nbinderhub/pod-quota\n\
         versions\njupyterhub\n"
    );
}

#[test]
fn a_launch_reports_the_time_to_ready_and_stops_the_server_with_its_token() {
    let fake = FakeCluster::new();
    let hub = hub(200);
    // As BinderHub does, the stream stays open after ready (for a minute).
    let build = Answer::Stream {
        parts: binderhub::build_to_ready(&hub.url("/"), USER, TOKEN)
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                let mut parts = vec![(Duration::from_millis(30), binderhub::event(e))];
                if i == 3 {
                    parts.push((Duration::ZERO, binderhub::KEEPALIVE.to_vec()));
                }
                parts
            })
            .collect(),
        after: After::Hold,
    };
    let bh = binderhub(healthy(), Some(build));
    let started = Instant::now();
    let out = check_at(
        &fake,
        &bh,
        &hub,
        &["--launch", "binder-examples/requirements"],
    );
    let took = started.elapsed();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        took < Duration::from_secs(30),
        "waited for the stream to end: {took:?}"
    );
    let text = stdout(&out);
    let server = hub.url(&format!("/user/{USER}/"));
    let launch = text
        .lines()
        .find(|l| l.starts_with("ok    launch "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        launch.contains("gh/binder-examples/requirements/HEAD: ready in "),
        "{launch}"
    );
    assert!(launch.ends_with(&format!(", server {server}")), "{launch}");
    let stop = text
        .lines()
        .find(|l| l.starts_with("ok    stop "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        stop.contains(&format!(
            "stopped {USER}'s server ({server}api/shutdown: HTTP 200 OK)"
        )),
        "{stop}"
    );

    // The build was asked for as an event stream.
    let builds = bh.requests("/build/gh/binder-examples/requirements/HEAD");
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].header("accept"), Some("text/event-stream"));
    // The server was stopped, with the ready event's token in the header
    // and nowhere else.
    let stops = hub.requests(&format!("/user/{USER}/api/shutdown"));
    assert_eq!(stops.len(), 1, "{:?}", hub.seen());
    assert_eq!(stops[0].method, "POST");
    assert_eq!(
        stops[0].header("authorization"),
        Some(format!("token {TOKEN}").as_str())
    );
    assert_eq!(stops[0].query, None);
    assert_token_never_shown(&out);
    // In a pipe: no progress, no cursor movement.
    let err = stderr(&out);
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    assert_eq!(err, "");

    // -o json: the phases in order, the time to ready.
    let out = check_at(
        &fake,
        &bh,
        &hub,
        &["--launch", "binder-examples/requirements", "-o", "json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_token_never_shown(&out);
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    let launch = results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "launch")
        .unwrap();
    let phases: Vec<&str> = launch["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "waiting",
            "fetching",
            "building",
            "pushing",
            "built",
            "launching",
            "ready"
        ]
    );
    let ready_at = launch["phases"][6]["seconds"].as_f64().unwrap();
    assert!(ready_at >= 0.2, "{ready_at}");
    assert!(launch["seconds"].as_f64().unwrap() >= ready_at);
    assert_eq!(launch["log"], json!([]));
    assert_eq!(
        launch["url"],
        bh.url("/build/gh/binder-examples/requirements/HEAD")
    );
}

#[test]
fn a_failed_build_shows_the_last_lines_of_its_log_and_stops_nothing() {
    let fake = FakeCluster::new();
    let hub = hub(200);
    let build = Answer::events(&binderhub::build_that_fails(40), After::Hold);
    let bh = binderhub(healthy(), Some(build));
    let out = check_at(
        &fake,
        &bh,
        &hub,
        &["--launch", "binder-examples/requirements@HEAD"],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&line(
            "fail",
            "launch",
            "gh/binder-examples/requirements/HEAD: the build failed after "
        )),
        "{text}"
    );
    assert!(text.contains("(last phase: failure)"), "{text}");
    assert!(text.contains("      build log, last 20 lines:\n"), "{text}");
    assert!(text.contains("      | log line 22\n"), "{text}");
    assert!(text.contains("      | log line 40\n"), "{text}");
    assert!(
        text.contains("      | The command '/bin/sh -c pip install' returned a non-zero code: 1\n"),
        "{text}"
    );
    assert!(!text.contains("| log line 21\n"), "{text}");
    assert!(!text.contains("stop"), "{text}");
    assert!(hub
        .requests(&format!("/user/{USER}/api/shutdown"))
        .is_empty());
    assert!(
        stderr(&out).contains("check: 1 check failed"),
        "{}",
        stderr(&out)
    );

    // BinderHub refusing the repository (its banned specs): the message.
    let refusal = Answer::events(
        &[
            json!({"phase": "failed", "message": "Sorry, gh/binder-examples/requirements/HEAD is not allowed to launch. Please contact admins for more info!"}),
        ],
        After::Close,
    );
    let bh = binderhub(healthy(), Some(refusal));
    let out = check_at(
        &fake,
        &bh,
        &hub,
        &["--launch", "binder-examples/requirements", "-o", "json"],
    );
    assert_eq!(code(&out), 1);
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    let launch = results.as_array().unwrap().last().unwrap();
    assert_eq!(launch["name"], "launch");
    assert_eq!(launch["status"], "fail");
    let message = launch["message"].as_str().unwrap();
    assert!(message.contains("the build failed after "), "{message}");
    assert!(message.ends_with(": Sorry, gh/binder-examples/requirements/HEAD is not allowed to launch. Please contact admins for more info!"), "{message}");
}

/// Run a launch against this build answer; the launch line's message.
fn launch_message(build: Answer, extra: &[&str]) -> (Output, String, Duration) {
    let fake = FakeCluster::new();
    let hub = hub(200);
    let bh = binderhub(healthy(), Some(build));
    let mut args = vec!["--launch", "binder-examples/requirements", "-o", "json"];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = check_at(&fake, &bh, &hub, &args);
    let took = started.elapsed();
    let results: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    let launch = results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "launch")
        .unwrap_or_else(|| panic!("{results}"));
    assert_eq!(launch["status"], "fail", "{launch}");
    assert!(hub
        .requests(&format!("/user/{USER}/api/shutdown"))
        .is_empty());
    (out, launch["message"].as_str().unwrap().to_string(), took)
}

#[test]
fn an_oversized_event_ends_the_launch_cleanly() {
    // An event whose data never ends.
    let build = Answer::Stream {
        parts: vec![
            (
                Duration::ZERO,
                binderhub::event(&json!({"phase": "waiting"})),
            ),
            (
                Duration::ZERO,
                b"data: {\"phase\": \"building\", \"message\": \"".to_vec(),
            ),
        ],
        after: After::Repeat(vec![b'x'; 8192]),
    };
    let (out, message, took) = launch_message(build, &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        message.ends_with(
            "BinderHub sent an event larger than 1024 KiB (BinderHub's are a log line each)"
        ),
        "{message}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn an_endless_stream_of_events_ends_the_launch_cleanly() {
    let build = Answer::Stream {
        parts: vec![(
            Duration::ZERO,
            binderhub::event(&json!({"phase": "waiting"})),
        )],
        after: After::Repeat(binderhub::event(
            &json!({"phase": "building", "message": "Step 1/1\n"}),
        )),
    };
    let (out, message, took) = launch_message(build, &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        message.ends_with("more than 100000 events without the server being ready"),
        "{message}"
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_launch_not_ready_within_the_timeout_fails_with_its_last_phase() {
    let build = Answer::Stream {
        parts: vec![
            (
                Duration::ZERO,
                binderhub::event(
                    &json!({"phase": "waiting", "message": "Waiting for build to start...\n"}),
                ),
            ),
            (Duration::ZERO, binderhub::KEEPALIVE.to_vec()),
        ],
        after: After::Hold,
    };
    let (out, message, took) = launch_message(build, &["--timeout", "2s"]);
    assert_eq!(code(&out), 1);
    assert!(
        message.ends_with("not ready within 2.0s (--timeout) (last phase: waiting)"),
        "{message}"
    );
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_stream_that_ends_early_or_is_not_a_stream_fails_the_launch() {
    let build = Answer::events(
        &[
            json!({"phase": "waiting"}),
            json!({"phase": "building", "message": "Step 1/2\n"}),
        ],
        After::Close,
    );
    let (_, message, _) = launch_message(build, &[]);
    assert!(
        message.ends_with(
            "BinderHub ended the event stream before the server was ready (last phase: building)"
        ),
        "{message}"
    );
    let (_, message, _) = launch_message(Answer::html(200, "<html>BinderHub</html>"), &[]);
    assert!(
        message.contains("answered Content-Type text/html, not an event stream"),
        "{message}"
    );
    let (_, message, _) = launch_message(Answer::empty(403), &[]);
    assert!(message.ends_with("HTTP 403 Forbidden"), "{message}");
    let (_, message, _) = launch_message(
        Answer::Stream {
            parts: vec![(Duration::ZERO, b"data: not json\n\n".to_vec())],
            after: After::Hold,
        },
        &[],
    );
    assert!(
        message.contains("BinderHub sent an event that is not JSON"),
        "{message}"
    );
}

#[test]
fn a_server_that_refuses_to_stop_is_a_warning_and_the_token_stays_hidden() {
    let fake = FakeCluster::new();
    let hub = hub(403);
    let build = Answer::events(
        &binderhub::build_to_ready(&hub.url("/"), USER, TOKEN),
        After::Hold,
    );
    let bh = binderhub(healthy(), Some(build));
    let out = check_at(
        &fake,
        &bh,
        &hub,
        &["--launch", "binder-examples/requirements"],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&line(
            "warn",
            "stop",
            &format!(
                "{USER}'s server was not stopped ({}: HTTP 403 Forbidden, the token was \
                 refused); it runs until the hub's idle culler stops it\n",
                hub.url(&format!("/user/{USER}/api/shutdown"))
            )
        )),
        "{text}"
    );
    assert_eq!(hub.requests(&format!("/user/{USER}/api/shutdown")).len(), 1);
    assert_token_never_shown(&out);
}

#[test]
fn ctrl_c_during_a_launch_ends_it_at_once() {
    let fake = FakeCluster::new();
    let hub = hub(200);
    let build = Answer::events(&[json!({"phase": "waiting"})], After::Hold);
    let bh = binderhub(healthy(), Some(build));
    let (url, hub_url) = (bh.url("/"), hub.url("/"));
    let child = fake
        .command(&[
            "check",
            "--url",
            &url,
            "--hub-url",
            &hub_url,
            "--launch",
            "binder-examples/requirements",
        ])
        .spawn()
        .unwrap();
    let path = "/build/gh/binder-examples/requirements/HEAD";
    let waiting = Instant::now();
    while bh.requests(path).is_empty() {
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "no build request"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130, "{}{}", stdout(&out), stderr(&out));
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert!(hub
        .requests(&format!("/user/{USER}/api/shutdown"))
        .is_empty());
}
