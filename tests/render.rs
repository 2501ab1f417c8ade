//! `binderctl render` end to end: the real binary against a real DNS server
//! (UDP) and a real HTTP server on loopback.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_yaml::Value;
use support::dns_server::{DnsServer, Zone};
use support::http_server::{FastlyList, GitHubMeta, HttpServer, Reply, Routes};
use support::{stderr, stdout};

/// A temporary folder with a binder.yaml, a DNS server and an HTTP server
/// serving the two published lists.
struct RenderEnv {
    dir: tempfile::TempDir,
    dns: DnsServer,
    http: HttpServer,
}

const BINDER_YAML: &str = r#"config:
  BinderHub:
    use_registry: true
    image_prefix: lab/binder-
    hub_url: http://192.0.2.100
  GitHubRepoProvider:
    whitelist_enabled: true
    whitelist: [OwnerA, owner-b]
    banned_specs:
      - ^(?!()\/).*$
jupyterhub:
  singleuser:
    networkPolicy:
      enabled: true
      egressAllowRules:
        nonPrivateIPs: false
      egress:
        - to:
            - ipBlock:
                cidr: 198.51.100.200/32
          ports:
            - port: 443
      domain_whitelist:
        - files.example
        - data.test
      cidr_whitelist: [203.0.113.64/26]
"#;

fn standard_zone() -> Zone {
    Zone::new()
        .a("files.example", ["192.0.2.20", "192.0.2.21"])
        .aaaa("files.example", ["2001:db8:10::20"])
        .a("data.test", ["192.0.2.22"])
}

fn standard_routes() -> Routes {
    Routes::new()
        .json("/meta", GitHubMeta::sample().to_json())
        .json("/fastly", FastlyList::sample().to_json())
}

impl RenderEnv {
    fn new(binder_yaml: &str, zone: Zone, routes: Routes) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("binder.yaml"), binder_yaml).unwrap();
        RenderEnv {
            dir,
            dns: DnsServer::start(zone),
            http: HttpServer::start(routes),
        }
    }

    fn standard() -> Self {
        Self::new(BINDER_YAML, standard_zone(), standard_routes())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with the loopback servers configured and short timeouts.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_binderctl"));
        cmd.current_dir(self.dir.path())
            .env_remove("BINDERCTL_NAMESERVER")
            .env_remove("BINDERCTL_GITHUB_META_URL")
            .env_remove("BINDERCTL_FASTLY_URL")
            // Messages use → and … under a UTF-8 locale (ASCII otherwise).
            .env("LC_ALL", "C.UTF-8")
            .args(args)
            .args(["--nameserver", &self.dns.addr.to_string()])
            .args(["--github-meta-url", &self.http.url("/meta")])
            .args(["--fastly-url", &self.http.url("/fastly")])
            .args(["--timeout", "0.3", "--retries", "1"])
            .stdin(Stdio::null());
        cmd
    }

    fn render(&self, args: &[&str]) -> Output {
        let mut all = vec!["render"];
        all.extend_from_slice(args);
        self.command(&all).output().unwrap()
    }

    fn output_text(&self) -> String {
        std::fs::read_to_string(self.path("_binder.yaml")).unwrap()
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn generated_rule(values: &Value) -> Vec<String> {
    let egress = values["jupyterhub"]["singleuser"]["networkPolicy"]["egress"]
        .as_sequence()
        .unwrap();
    egress.last().unwrap()["to"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|peer| peer["ipBlock"]["cidr"].as_str().unwrap().to_string())
        .collect()
}

fn assert_failed(out: &Output) {
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(out));
}

#[test]
fn happy_path_writes_the_whitelist_and_one_merged_egress_rule() {
    let env = RenderEnv::standard();
    let out = env.render(&[]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = env.output_text();
    let values: Value = serde_yaml::from_str(&text).unwrap();

    assert_eq!(
        values["config"]["GitHubRepoProvider"],
        serde_yaml::from_str::<Value>(r"banned_specs: ['^(?!(OwnerA|owner-b)\/).*$']").unwrap()
    );
    let policy = &values["jupyterhub"]["singleuser"]["networkPolicy"];
    for key in ["domain_whitelist", "cidr_whitelist", "published_ip_lists"] {
        assert!(policy.get(key).is_none(), "{key} reached the output");
    }
    let egress = policy["egress"].as_sequence().unwrap();
    assert_eq!(egress.len(), 2, "the operator's rule and the generated one");
    assert_eq!(egress[0]["ports"][0]["port"], Value::from(443));

    // Hosts (/32, /128), cidr_whitelist, GitHub's git key and both Fastly
    // families, merged and sorted: 192.0.2.16/28 (git) with .20-.22 inside
    // it; 192.0.2.128/25 (Fastly); 198.51.100.0/24 (Fastly) swallows git's
    // 198.51.100.64/26 and the operator-looking .200; 203.0.113.0/25 (Fastly)
    // holds 203.0.113.12 (git) and the static 203.0.113.64/26.
    assert_eq!(
        generated_rule(&values),
        [
            "192.0.2.16/28",
            "192.0.2.128/25",
            "198.51.100.0/24",
            "203.0.113.0/25",
            "2001:db8:2::/48",
            "2001:db8:4::/48",
            "2001:db8:10::20/128",
            "2001:db8:e000::/40",
            "2001:db8:f000::/36",
        ]
    );
    let err = stderr(&out);
    assert!(err.contains("9 ipBlocks after merging"), "{err}");
    assert!(err.contains("DNS: 2 of 2 hosts → 4 addresses"), "{err}");
    assert_eq!(env.files(), ["_binder.yaml", "binder.yaml"]);
    // Both lists were fetched once, both families of both hosts queried.
    assert_eq!(env.http.requests("/meta"), 1);
    assert_eq!(env.http.requests("/fastly"), 1);
    assert!(env.dns.queries_for_name("files.example.") >= 2);
}

#[test]
fn output_is_byte_identical_whatever_the_answer_order() {
    let env = RenderEnv::standard();
    assert!(env.render(&[]).status.success());
    let first = env.output_text();

    // Same answers in another order from another server.
    let reordered = RenderEnv::new(
        BINDER_YAML,
        Zone::new()
            .a("files.example", ["192.0.2.21", "192.0.2.20"])
            .aaaa("files.example", ["2001:db8:10::20"])
            .a("data.test", ["192.0.2.22"]),
        standard_routes(),
    );
    assert!(reordered.render(&[]).status.success());
    assert_eq!(first, reordered.output_text());
    assert!(env.render(&[]).status.success());
    assert_eq!(first, env.output_text());
}

#[test]
fn record_of_sources_follows_the_values() {
    let env = RenderEnv::standard();
    assert!(env.render(&[]).status.success());
    let text = env.output_text();
    assert!(
        text.starts_with("# Rendered by binderctl from binder.yaml"),
        "{text}"
    );
    assert!(
        text.contains("#   host files.example: 192.0.2.20/32 192.0.2.21/32 2001:db8:10::20/128\n"),
        "{text}"
    );
    assert!(
        text.contains("#   cidr_whitelist: 203.0.113.64/26\n"),
        "{text}"
    );
    assert!(
        text.contains("#   Fastly ipv6_addresses: 2001:db8:e000::/40 2001:db8:f000::/36\n"),
        "{text}"
    );
}

#[test]
fn nxdomain_fails_and_names_the_host() {
    let env = RenderEnv::new(
        BINDER_YAML,
        standard_zone().nxdomain("data.test"),
        standard_routes(),
    );
    let out = env.render(&[]);
    assert_failed(&out);
    let err = stderr(&out);
    assert!(
        err.contains("host data.test: does not exist (NXDOMAIN)"),
        "{err}"
    );
    assert!(err.contains("--allow-unresolved"), "{err}");
    assert_eq!(env.files(), ["binder.yaml"], "nothing written");
}

#[test]
fn servfail_and_silent_servers_fail_every_host_listed() {
    let zone = Zone::new().servfail("files.example").silent("data.test");
    let env = RenderEnv::new(BINDER_YAML, zone, standard_routes());
    let out = env.render(&[]);
    assert_failed(&out);
    let err = stderr(&out);
    assert!(
        err.contains("host files.example: server failure (SERVFAIL)"),
        "{err}"
    );
    assert!(err.contains("host data.test: timed out"), "{err}");
    assert_eq!(env.files(), ["binder.yaml"]);
}

#[test]
fn allow_unresolved_renders_without_the_host_and_warns() {
    let env = RenderEnv::new(
        BINDER_YAML,
        standard_zone().nxdomain("data.test"),
        standard_routes(),
    );
    let out = env.render(&["--allow-unresolved"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: host data.test: does not exist (NXDOMAIN); skipped"),
        "{err}"
    );
    assert!(!env.output_text().contains("host data.test"));
}

#[test]
fn every_problem_is_listed_at_once_and_the_old_output_survives() {
    let env = RenderEnv::new(
        BINDER_YAML,
        standard_zone().nxdomain("files.example"),
        Routes::new()
            .route("/meta", Reply::status(500))
            .json("/fastly", r#"{"addresses": ["198.51.100.0/24"]}"#),
    );
    std::fs::write(env.path("_binder.yaml"), "previous: render\n").unwrap();
    let out = env.render(&[]);
    assert_failed(&out);
    let err = stderr(&out);
    let meta_url = env.http.url("/meta");
    let fastly_url = env.http.url("/fastly");
    for needle in [
        "host files.example: does not exist (NXDOMAIN)".to_string(),
        format!("GitHub meta list {meta_url}: "),
        format!("Fastly list {fastly_url}: "),
        "ipv6_addresses".to_string(),
        "nothing written; _binder.yaml is unchanged".to_string(),
    ] {
        assert!(err.contains(&needle), "missing {needle:?} in:\n{err}");
    }
    assert!(err.contains("500"), "{err}");
    // Each problem on its own line.
    assert!(
        err.lines()
            .filter(|l| l.starts_with("binderctl: error: "))
            .count()
            >= 4,
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("_binder.yaml")).unwrap(),
        "previous: render\n"
    );
    assert_eq!(
        env.files(),
        ["_binder.yaml", "binder.yaml"],
        "no temporary file left"
    );
    // 500 is retried (--retries 1): two requests.
    assert_eq!(env.http.requests("/meta"), 2);
}

#[test]
fn bad_list_bodies_are_named() {
    for (body, needle) in [
        ("<html>not json</html>", "not the expected JSON"),
        (r#"{"addresses": ["198.51.100.0/24"]}"#, "ipv6_addresses"),
        (
            r#"{"addresses": ["198.51.100.0/24"], "ipv6_addresses": ["2001:db8::/129"]}"#,
            "2001:db8::/129",
        ),
        (
            r#"{"addresses": "198.51.100.0/24", "ipv6_addresses": []}"#,
            "addresses",
        ),
    ] {
        let env = RenderEnv::new(
            BINDER_YAML,
            standard_zone(),
            Routes::new()
                .json("/meta", GitHubMeta::sample().to_json())
                .route("/fastly", Reply::json(body)),
        );
        let out = env.render(&[]);
        assert_failed(&out);
        let err = stderr(&out);
        assert!(
            err.contains(&format!("Fastly list {}", env.http.url("/fastly"))),
            "{err}"
        );
        assert!(
            err.contains(needle),
            "body {body}: missing {needle:?} in:\n{err}"
        );
        assert_eq!(env.files(), ["binder.yaml"]);
    }
}

#[test]
fn malformed_yaml_names_the_file_and_line() {
    let env = RenderEnv::new(
        "config:\n  BinderHub: [unclosed\n",
        standard_zone(),
        standard_routes(),
    );
    let out = env.render(&[]);
    assert_failed(&out);
    let err = stderr(&out);
    assert!(err.contains("binder.yaml:3:1: not valid YAML"), "{err}");
    assert_eq!(env.dns.query_count(), 0, "nothing looked up for a bad file");
}

#[test]
fn missing_input_and_ill_typed_keys_are_errors() {
    let env = RenderEnv::standard();
    let out = env.render(&["-i", "nope.yaml"]);
    assert_failed(&out);
    assert!(
        stderr(&out).contains("nope.yaml: cannot read"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        env.path("bad.yaml"),
        "jupyterhub:\n  singleuser:\n    networkPolicy:\n      domain_whitelist: {a: b}\n",
    )
    .unwrap();
    let out = env.render(&["-i", "bad.yaml"]);
    assert_failed(&out);
    let err = stderr(&out);
    assert!(
        err.contains(
            "bad.yaml: jupyterhub.singleuser.networkPolicy.domain_whitelist: expected a list"
        ),
        "{err}"
    );

    std::fs::write(env.path("nopolicy.yaml"), "config: {}\n").unwrap();
    let out = env.render(&["-i", "nopolicy.yaml"]);
    assert_failed(&out);
    assert!(
        stderr(&out).contains("nopolicy.yaml: jupyterhub: missing section"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn yaml_1_1_look_alikes_stay_strings() {
    let look_alikes = [
        "YES",
        "on",
        "off",
        "y",
        "n",
        "1:30",
        "12_000",
        "2024-01-01",
        "0x1F",
        "010",
        "~",
        "No",
        "TRUE",
        "null",
        "1e3",
        ".inf",
        "0o17",
        "+1",
    ];
    let mut input = String::from(BINDER_YAML);
    input.push_str("extraEnv:\n");
    for (i, s) in look_alikes.iter().enumerate() {
        input.push_str(&format!("  K{i}: '{s}'\n"));
    }
    input.push_str("script: |\n  line one\n  line two: with colon\n");
    let env = RenderEnv::new(&input, standard_zone(), standard_routes());
    let out = env.render(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = env.output_text();
    let values: Value = serde_yaml::from_str(&text).unwrap();
    for (i, s) in look_alikes.iter().enumerate() {
        assert_eq!(
            values["extraEnv"][format!("K{i}").as_str()],
            Value::String(s.to_string())
        );
        // Quoted in the file, so YAML 1.1 (Helm) reads a string too.
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("K{i}:")))
            .unwrap();
        let written = line.split_once(": ").unwrap().1;
        assert!(
            written.starts_with('"') || written.starts_with('\''),
            "{s} written as {written}"
        );
    }
    assert!(
        text.contains("script: |\n  line one\n  line two: with colon\n"),
        "{text}"
    );
    // Readable values stay unquoted.
    assert!(text.contains("image_prefix: lab/binder-\n"), "{text}");
}

#[test]
fn values_read_as_helm_reads_them_and_surprising_readings_are_warned_about() {
    let input = format!(
        "{BINDER_YAML}imageCleaner:\n  enabled: yes\n  host: 'on'\n  name: no\n  mode: 010\n"
    );
    let env = RenderEnv::new(&input, standard_zone(), standard_routes());
    let out = env.render(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let line = BINDER_YAML.lines().count() + 4;
    assert!(
        err.contains(&format!(
            "warning: binder.yaml:{line}:9: imageCleaner.name: unquoted \"no\" reaches Helm as \
             the boolean false, not as the text \"no\"; quote it if text was meant"
        )),
        "{err}"
    );
    assert!(
        err.contains("imageCleaner.mode: unquoted \"010\" reaches Helm as the number 8"),
        "{err}"
    );
    assert_eq!(
        err.matches("unquoted").count(),
        2,
        "`enabled: yes` is an ordinary boolean, the quoted 'on' is text: {err}"
    );
    // What Helm reads in binder.yaml is what _binder.yaml holds.
    let text = env.output_text();
    assert!(
        text.contains("imageCleaner:\n  enabled: true\n  host: \"on\"\n  name: false\n  mode: 8\n"),
        "{text}"
    );
}

#[test]
fn stdout_writes_no_file() {
    let env = RenderEnv::standard();
    let out = env.render(&["--stdout"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("banned_specs:"));
    assert_eq!(env.files(), ["binder.yaml"]);
}

/// Run with stdout (and stderr, when asked) going into a pipe whose reader
/// is gone, as in `binderctl render --check | grep -q`.
fn into_closed_pipe(mut cmd: Command, stderr_too: bool) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    if stderr_too {
        cmd.stderr(writer.try_clone().unwrap());
    }
    cmd.stdout(writer);
    cmd.output().unwrap()
}

#[test]
fn check_into_a_closed_pipe_keeps_its_verdict() {
    let env = RenderEnv::standard();
    for stderr_too in [false, true] {
        let out = into_closed_pipe(env.command(&["render", "--check"]), stderr_too);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    assert!(env.render(&[]).status.success());
    for stderr_too in [false, true] {
        let out = into_closed_pipe(env.command(&["render", "--check"]), stderr_too);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let out = into_closed_pipe(env.command(&["render", "--stdout"]), stderr_too);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    if let Ok(full) = full {
        let out = env
            .command(&["render", "--stdout"])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("cannot write to standard output"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn quiet_render_prints_nothing_but_a_changed_verdict() {
    let env = RenderEnv::standard();
    let out = env.render(&["-q"]);
    assert!(out.status.success());
    assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));
    assert!(env.path("_binder.yaml").exists());
    let out = env.render(&["--check", "--quiet"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));
    std::fs::write(env.path("_binder.yaml"), "old: true\n").unwrap();
    let out = env.render(&["--check", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("_binder.yaml would change"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn timeout_takes_units_or_bare_seconds_and_the_last_one_wins() {
    let env = RenderEnv::standard();
    for timeout in ["300ms", "2s", "1", "0.5"] {
        let out = env.render(&["--timeout", "9h", "--timeout", timeout]);
        assert!(out.status.success(), "{timeout}: {}", stderr(&out));
    }
    for bad in ["0", "0s", "5x", "-1"] {
        // env.command appends a good --timeout; give the bad one alone.
        let out = Command::new(env!("CARGO_BIN_EXE_binderctl"))
            .args(["render".to_string(), format!("--timeout={bad}")])
            .current_dir(env.dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains("--timeout"), "{}", stderr(&out));
    }
    // A bad list URL given first is replaced by the good one after it.
    let out = env.render(&["--fastly-url", "http://192.0.2.1:9/never"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.http.requests("/fastly"), 4 + 1);
}

#[test]
fn messages_are_plain_ascii_under_a_c_locale() {
    let env = RenderEnv::standard();
    for locale in [("LC_ALL", "C"), ("LANG", "POSIX"), ("LC_ALL", "")] {
        let out = env
            .command(&["render"])
            .env_remove("LC_ALL")
            .env_remove("LC_CTYPE")
            .env_remove("LANG")
            .env(locale.0, locale.1)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("DNS: 2 of 2 hosts -> 4 addresses"), "{err}");
        assert!(err.contains(" -> _binder.yaml"), "{err}");
        assert!(err.is_ascii(), "{locale:?}: {err}");
    }
    let out = env
        .command(&["render"])
        .env("LC_ALL", "de_DE.UTF-8")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("hosts → 4 addresses"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_reports_unchanged_then_changes_per_source() {
    let env = RenderEnv::standard();
    let out = env.render(&["--check"]);
    assert_eq!(out.status.code(), Some(1), "no output yet: would change");
    assert!(env.render(&[]).status.success());
    let before = env.output_text();

    let out = env.render(&["--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("_binder.yaml is up to date"));

    // The CDN moved files.example inside ranges that are allowed anyway
    // (GitHub's 192.0.2.16/28, Fastly's 198.51.100.0/24): no change.
    let inside = RenderEnv::new(
        BINDER_YAML,
        Zone::new()
            .a("files.example", ["192.0.2.25", "198.51.100.99"])
            .aaaa("files.example", ["2001:db8:10::20"])
            .a("data.test", ["192.0.2.22"]),
        standard_routes(),
    );
    std::fs::write(inside.path("_binder.yaml"), &before).unwrap();
    let out = inside.render(&["--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    // Outside every allowed range: a change, and only the real one (the
    // dropped 192.0.2.21 stays allowed by GitHub's range).
    let moved = RenderEnv::new(
        BINDER_YAML,
        Zone::new()
            .a("files.example", ["192.0.2.20", "203.0.113.201"])
            .a("data.test", ["192.0.2.22"]),
        standard_routes(),
    );
    std::fs::write(moved.path("_binder.yaml"), &before).unwrap();
    let out = moved.render(&["--check"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let report = stdout(&out);
    assert!(report.contains("_binder.yaml would change:"), "{report}");
    assert!(
        report
            .contains("  host files.example:\n    + 203.0.113.201/32\n    - 2001:db8:10::20/128\n"),
        "{report}"
    );
    assert!(
        !report.contains("data.test"),
        "unchanged sources are not listed: {report}"
    );
    assert_eq!(
        std::fs::read_to_string(moved.path("_binder.yaml")).unwrap(),
        before,
        "--check writes nothing"
    );
}

#[test]
fn check_is_not_fooled_by_the_input_path_and_names_the_input() {
    let env = RenderEnv::standard();
    std::fs::write(env.path("lab.yaml"), BINDER_YAML).unwrap();
    assert!(env.render(&["-i", "lab.yaml"]).status.success());
    // Another spelling of the same input: the header differs, nothing else.
    let absolute = env.path("lab.yaml").display().to_string();
    for spelling in ["./lab.yaml", absolute.as_str()] {
        let out = env.render(&["-i", spelling, "--check"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{spelling}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    // An edit is named with the actual input file.
    let edited = BINDER_YAML.replace("lab/binder-", "lab2/binder-");
    std::fs::write(env.path("lab.yaml"), edited).unwrap();
    let out = env.render(&["-i", "lab.yaml", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "_binder.yaml would change:\n  other values differ (lab.yaml edited since the last render?)\n"
    );
}

#[test]
fn check_compares_the_rule_of_a_file_written_by_the_old_script() {
    let env = RenderEnv::standard();
    assert!(env.render(&[]).status.success());
    // The old script wrote no source record, and its rule lacked a range.
    let text = env.output_text();
    let old = text[..text.find("# Egress sources").unwrap()].replace(
        "            - ipBlock:\n                cidr: 192.0.2.128/25\n",
        "",
    );
    assert_ne!(old.len(), text.len());
    std::fs::write(env.path("_binder.yaml"), old).unwrap();
    let out = env.render(&["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "_binder.yaml would change:\n  egress rule (the existing file records no sources):\n    + 192.0.2.128/25\n"
    );
}

#[test]
fn check_fails_like_render_when_a_source_fails() {
    let env = RenderEnv::new(
        BINDER_YAML,
        standard_zone().servfail("data.test"),
        standard_routes(),
    );
    std::fs::write(env.path("_binder.yaml"), "old: file\n").unwrap();
    let out = env.render(&["--check"]);
    assert_failed(&out);
}

#[test]
fn default_route_in_a_list_is_refused_unless_allowed() {
    let routes = Routes::new()
        .json("/meta", GitHubMeta::sample().to_json())
        .json(
            "/fastly",
            r#"{"addresses": ["0.0.0.0/0"], "ipv6_addresses": ["2001:db8::/32"]}"#,
        );
    let env = RenderEnv::new(BINDER_YAML, standard_zone(), routes);
    let out = env.render(&[]);
    assert_failed(&out);
    assert!(
        stderr(&out).contains("Fastly addresses: 0.0.0.0/0 would allow every address"),
        "{}",
        stderr(&out)
    );
    let out = env.render(&["--allow-default-route"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        generated_rule(&serde_yaml::from_str(&env.output_text()).unwrap())[0],
        "0.0.0.0/0"
    );
}

#[test]
fn private_answers_are_warned_about() {
    let env = RenderEnv::new(
        BINDER_YAML,
        standard_zone().a("data.test", ["10.1.2.3"]),
        standard_routes(),
    );
    let out = env.render(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: host data.test: 10.1.2.3/32 is"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lists_can_be_turned_off_and_keys_chosen() {
    let input = BINDER_YAML.replace(
        "      cidr_whitelist: [203.0.113.64/26]\n",
        "      cidr_whitelist: [203.0.113.64/26]\n      published_ip_lists:\n        github: [web, api]\n        fastly: []\n",
    );
    let env = RenderEnv::new(&input, standard_zone(), standard_routes());
    let out = env.render(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.http.requests("/fastly"), 0, "Fastly's list is off");
    let text = env.output_text();
    assert!(text.contains("#   GitHub meta api: "), "{text}");
    assert!(!text.contains("#   GitHub meta git"), "{text}");
    assert!(!text.contains("published_ip_lists"), "{text}");
}

#[test]
fn environment_variables_configure_the_sources() {
    let env = RenderEnv::standard();
    let out = Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .current_dir(env.dir.path())
        .args(["render", "--timeout", "0.3"])
        .env("BINDERCTL_NAMESERVER", env.dns.addr.to_string())
        .env("BINDERCTL_GITHUB_META_URL", env.http.url("/meta"))
        .env("BINDERCTL_FASTLY_URL", env.http.url("/fastly"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.http.requests("/meta"), 1);
}

#[test]
fn refuses_to_overwrite_the_input() {
    let env = RenderEnv::standard();
    let out = env.render(&["-o", "binder.yaml"]);
    assert_failed(&out);
    assert!(
        stderr(&out).contains("the output file is the input file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(env.path("binder.yaml")).unwrap(),
        BINDER_YAML
    );
}

#[test]
fn bad_nameserver_is_named() {
    let env = RenderEnv::standard();
    let out = env.render(&["--nameserver", "not-an-ip"]);
    assert_failed(&out);
    assert!(stderr(&out).contains("not-an-ip"), "{}", stderr(&out));
}

/// The bundled sample renders: its hosts answered by the loopback server.
#[test]
fn bundled_binder_yaml_renders() {
    let sample_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("binder.yaml");
    let sample = std::fs::read_to_string(&sample_path).unwrap();
    let values: Value = serde_yaml::from_str(&sample).unwrap();
    let hosts: Vec<String> = values["jupyterhub"]["singleuser"]["networkPolicy"]
        ["domain_whitelist"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    let mut zone = Zone::new();
    for (i, host) in hosts.iter().enumerate() {
        let addr = format!("192.0.2.{}", 200 + i);
        zone = zone.a(host, [addr.as_str()]);
    }
    let env = RenderEnv::new(&sample, zone, standard_routes());
    let out = env.render(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("warning"),
        "the sample should render cleanly: {}",
        stderr(&out)
    );
    let rendered: Value = serde_yaml::from_str(&env.output_text()).unwrap();
    assert!(rendered["config"]["GitHubRepoProvider"]["banned_specs"][0]
        .as_str()
        .unwrap()
        .starts_with("^(?!("));
    let _ = Duration::ZERO;
}

// ------------------------------------------------------- nothing dangerous

#[test]
fn a_default_route_split_over_several_ranges_or_sources_is_refused() {
    // Two halves in cidr_whitelist.
    let halves = BINDER_YAML.replace(
        "cidr_whitelist: [203.0.113.64/26]",
        "cidr_whitelist: [0.0.0.0/1, 128.0.0.0/1]",
    );
    let env = RenderEnv::new(&halves, standard_zone(), standard_routes());
    let out = env.render(&[]);
    assert_failed(&out);
    assert!(
        stderr(&out).contains(
            "cidr_whitelist: 0.0.0.0/1 128.0.0.0/1 together make 0.0.0.0/0, which would allow \
             every address; refusing"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!env.path("_binder.yaml").exists());
    // IPv6 halves from a published list.
    let routes = Routes::new()
        .json("/meta", GitHubMeta::sample().to_json())
        .json(
            "/fastly",
            r#"{"addresses": ["198.51.100.0/24"], "ipv6_addresses": ["::/1", "8000::/1"]}"#,
        );
    let env = RenderEnv::new(BINDER_YAML, standard_zone(), routes);
    let out = env.render(&[]);
    assert_failed(&out);
    assert!(
        stderr(&out).contains("Fastly ipv6_addresses: ::/1 8000::/1 together make ::/0"),
        "{}",
        stderr(&out)
    );
    let out = env.render(&["--allow-default-route"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rule = generated_rule(&serde_yaml::from_str(&env.output_text()).unwrap());
    assert!(rule.contains(&"::/0".to_string()), "{rule:?}");
}

#[test]
fn more_than_a_slash_4_from_one_list_is_refused() {
    let routes = Routes::new()
        .json("/meta", GitHubMeta::sample().to_json())
        .json(
            "/fastly",
            r#"{"addresses": ["16.0.0.0/4", "32.0.0.0/5"], "ipv6_addresses": ["2001:db8::/32"]}"#,
        );
    let env = RenderEnv::new(BINDER_YAML, standard_zone(), routes);
    let out = env.render(&[]);
    assert_failed(&out);
    assert!(
        stderr(&out).contains(
            "Fastly addresses: its IPv4 ranges cover more addresses than a /4, the most one \
             source may allow"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dns_records_of_other_names_never_enter_the_rule() {
    let zone = standard_zone().foreign_a("data.test", "evil.test", "203.0.113.99");
    let env = RenderEnv::new(BINDER_YAML, zone, standard_routes());
    let out = env.render(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = env.output_text();
    assert!(!text.contains("203.0.113.99"), "{text}");
    assert!(
        text.contains("#   host data.test: 192.0.2.22/32\n"),
        "{text}"
    );
}

#[test]
fn special_addresses_are_refused_unless_allowed() {
    let zone = standard_zone()
        .a("data.test", ["169.254.169.254"])
        .aaaa("data.test", ["::1"]);
    let env = RenderEnv::new(BINDER_YAML, zone, standard_routes());
    let out = env.render(&[]);
    assert_failed(&out);
    let err = stderr(&out);
    assert!(
        err.contains("host data.test: 169.254.169.254/32 is a link-local address"),
        "{err}"
    );
    assert!(
        err.contains("host data.test: ::1/128 is a loopback address"),
        "{err}"
    );
    assert!(err.contains("--allow-special-addresses"), "{err}");
    assert!(!env.path("_binder.yaml").exists());
    let out = env.render(&["--allow-special-addresses"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.output_text().contains("169.254.169.254/32"));
}

#[test]
fn list_url_credentials_are_never_printed() {
    let env = RenderEnv::standard();
    let secret_url = format!(
        "http://lab:pa55word@{}/gone?token=t0psecret&v=1",
        env.http.addr
    );
    let out = Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .current_dir(env.dir.path())
        .args(["render", "--timeout", "0.3", "--retries", "0"])
        .env("BINDERCTL_NAMESERVER", env.dns.addr.to_string())
        .env("BINDERCTL_GITHUB_META_URL", env.http.url("/meta"))
        .env("BINDERCTL_FASTLY_URL", &secret_url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_failed(&out);
    let err = stderr(&out);
    assert!(err.contains("Fastly list http://***:***@"), "{err}");
    assert!(err.contains("token=***"), "{err}");
    assert!(
        !err.contains("pa55word") && !err.contains("t0psecret"),
        "{err}"
    );
}

#[test]
fn empty_nameserver_entries_are_errors() {
    let env = RenderEnv::standard();
    let out = env.render(&["--nameserver", ",,,"]);
    assert_failed(&out);
    assert!(stderr(&out).contains("an empty entry"), "{}", stderr(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .current_dir(env.dir.path())
        .args(["render", "--timeout", "0.3"])
        .env("BINDERCTL_NAMESERVER", ",,,")
        .env("BINDERCTL_GITHUB_META_URL", env.http.url("/meta"))
        .env("BINDERCTL_FASTLY_URL", env.http.url("/fastly"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_failed(&out);
    assert!(stderr(&out).contains("an empty entry"), "{}", stderr(&out));
    assert!(!env.path("_binder.yaml").exists());
}

#[test]
fn retries_have_an_upper_bound() {
    let env = RenderEnv::standard();
    let render = |retries: &str| {
        Command::new(env!("CARGO_BIN_EXE_binderctl"))
            .current_dir(env.dir.path())
            .args(["render", "--timeout", "0.3", "--retries", retries])
            .env("BINDERCTL_NAMESERVER", env.dns.addr.to_string())
            .env("BINDERCTL_GITHUB_META_URL", env.http.url("/meta"))
            .env("BINDERCTL_FASTLY_URL", env.http.url("/fastly"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = render("1000000");
    assert_failed(&out);
    assert!(
        stderr(&out).contains("1000000 is not in 0..=10"),
        "{}",
        stderr(&out)
    );
    assert!(!env.path("_binder.yaml").exists());
    let out = render("10");
    assert!(out.status.success(), "{}", stderr(&out));
}

// ------------------------------------------------------- files

#[cfg(unix)]
#[test]
fn outputs_that_are_not_regular_files_are_refused() {
    let env = RenderEnv::standard();
    let fifo = env.path("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::create_dir(env.path("folder")).unwrap();
    // As root, a null device of our own: were the check broken, root's
    // render would replace /dev/null itself.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let device = if root {
        let made = Command::new("mknod")
            .args([env.path("device").to_str().unwrap(), "c", "1", "3"])
            .status()
            .unwrap();
        assert!(made.success(), "mknod");
        env.path("device").to_str().unwrap().to_string()
    } else {
        "/dev/null".to_string()
    };
    for (output, kind) in [
        (device.as_str(), "is a device"),
        ("fifo", "is a FIFO"),
        ("folder", "is a directory"),
    ] {
        let out = env.render(&["-o", output]);
        assert_failed(&out);
        assert!(stderr(&out).contains(kind), "{output}: {}", stderr(&out));
        assert_eq!(env.dns.query_count(), 0, "refused before any lookup");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&device)
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    let mut expected = vec!["binder.yaml", "fifo", "folder"];
    if root {
        expected.insert(1, "device");
    }
    assert_eq!(env.files(), expected);
}

#[cfg(unix)]
#[test]
fn a_symlinked_output_is_written_through_and_stays_a_link() {
    let env = RenderEnv::standard();
    std::fs::create_dir(env.path("rendered")).unwrap();
    std::fs::write(env.path("rendered/_binder.yaml"), "old\n").unwrap();
    std::os::unix::fs::symlink("rendered/_binder.yaml", env.path("_binder.yaml")).unwrap();
    let out = env.render(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let link = std::fs::symlink_metadata(env.path("_binder.yaml")).unwrap();
    assert!(link.file_type().is_symlink());
    let text = std::fs::read_to_string(env.path("rendered/_binder.yaml")).unwrap();
    assert!(text.starts_with("# Rendered by binderctl"), "{text}");
    let names: Vec<_> = std::fs::read_dir(env.path("rendered")).unwrap().collect();
    assert_eq!(names.len(), 1, "a temporary file was left behind");
}

#[cfg(unix)]
#[test]
fn the_input_is_never_overwritten_whatever_the_spelling() {
    let env = RenderEnv::standard();
    std::fs::hard_link(env.path("binder.yaml"), env.path("hard.yaml")).unwrap();
    std::os::unix::fs::symlink("binder.yaml", env.path("soft.yaml")).unwrap();
    for output in [
        "./binder.yaml",
        "hard.yaml",
        "soft.yaml",
        "../$DIR/binder.yaml",
    ] {
        let dir_name = env.dir.path().file_name().unwrap().to_str().unwrap();
        let output = output.replace("$DIR", dir_name);
        let out = env.render(&["-o", &output]);
        assert_failed(&out);
        assert!(
            stderr(&out).contains("the output file is the input file"),
            "{output}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        std::fs::read_to_string(env.path("binder.yaml")).unwrap(),
        BINDER_YAML
    );
}

#[cfg(unix)]
#[test]
fn a_new_output_is_no_more_readable_than_the_input() {
    use std::os::unix::fs::PermissionsExt;
    let env = RenderEnv::standard();
    let private = std::fs::Permissions::from_mode(0o600);
    std::fs::set_permissions(env.path("binder.yaml"), private).unwrap();
    let out = env.render(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(env.path("_binder.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[cfg(unix)]
#[test]
fn a_write_past_the_file_size_limit_fails_cleanly() {
    use std::os::unix::process::CommandExt;
    let env = RenderEnv::standard();
    std::fs::write(env.path("_binder.yaml"), "previous\n").unwrap();
    let mut cmd = env.command(&["render"]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 200,
                rlim_max: 200,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_failed(&out);
    assert!(stderr(&out).contains("file-size limit"), "{}", stderr(&out));
    assert_eq!(env.output_text(), "previous\n");
    assert_eq!(env.files(), ["_binder.yaml", "binder.yaml"]);
}

#[test]
fn placeholders_of_the_tutorial_are_warned_about() {
    let input = BINDER_YAML
        .replace(
            "image_prefix: lab/binder-",
            "image_prefix: <dockerhub-username>/binder-",
        )
        .replace("hub_url: http://192.0.2.100", "hub_url: <jupyterhub-url>");
    let env = RenderEnv::new(&input, standard_zone(), standard_routes());
    let out = env.render(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "warning: binder.yaml: config.BinderHub.image_prefix still holds the tutorial's \
             placeholder <dockerhub-username>"
        ),
        "{err}"
    );
    assert!(
        err.contains("config.BinderHub.hub_url still holds"),
        "{err}"
    );
}

// ------------------------------------------------------- signals

#[cfg(unix)]
#[test]
fn ctrl_c_during_the_lookups_ends_the_render_at_once_with_nothing_written() {
    let zone = standard_zone().delay(Duration::from_secs(3));
    let env = RenderEnv::new(BINDER_YAML, zone, standard_routes());
    for signal in ["-INT", "-TERM"] {
        let child = Command::new(env!("CARGO_BIN_EXE_binderctl"))
            .current_dir(env.dir.path())
            .args(["render", "--timeout", "5"])
            .env("BINDERCTL_NAMESERVER", env.dns.addr.to_string())
            .env("BINDERCTL_GITHUB_META_URL", env.http.url("/meta"))
            .env("BINDERCTL_FASTLY_URL", env.http.url("/fastly"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let before = env.dns.query_count();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while env.dns.query_count() == before {
            assert!(std::time::Instant::now() < deadline, "no DNS query arrived");
            std::thread::sleep(Duration::from_millis(10));
        }
        let sent = std::time::Instant::now();
        assert!(Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{signal}: {}", stderr(&out));
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "{signal}: not at once"
        );
        assert_eq!(env.files(), ["binder.yaml"], "{signal}");
    }
}

#[cfg(unix)]
#[test]
fn thousands_of_hosts_fit_in_a_small_open_files_limit() {
    use std::os::unix::process::CommandExt;
    let hosts: Vec<String> = (0..1500).map(|i| format!("h{i}.example")).collect();
    let mut zone = Zone::new();
    for host in &hosts {
        zone = zone.a(host, ["192.0.2.20"]);
    }
    let input = BINDER_YAML.replace(
        "      domain_whitelist:\n        - files.example\n        - data.test\n",
        &format!("      domain_whitelist: [{}]\n", hosts.join(", ")),
    );
    let env = RenderEnv::new(&input, zone, standard_routes());
    let mut cmd = env.command(&["render"]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("DNS: 1500 of 1500 hosts"),
        "{}",
        stderr(&out)
    );
}

#[cfg(unix)]
#[test]
fn too_low_an_open_files_limit_is_named_with_the_numbers() {
    use std::os::unix::process::CommandExt;
    let hosts: Vec<String> = (0..100).map(|i| format!("h{i}.example")).collect();
    let input = BINDER_YAML.replace(
        "      domain_whitelist:\n        - files.example\n        - data.test\n",
        &format!("      domain_whitelist: [{}]\n", hosts.join(", ")),
    );
    let env = RenderEnv::new(&input, standard_zone(), standard_routes());
    let mut cmd = env.command(&["render"]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_failed(&out);
    assert!(
        stderr(&out).contains(
            "the system's limit of open files is 64, but looking up 100 hosts needs about 160"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.dns.query_count(), 0);
}

/// `-q` drops noise, never the warning that the allow-list restricts
/// nothing: cron must hear it.
#[test]
fn quiet_never_hides_that_the_allow_list_restricts_nothing() {
    for (from, to) in [
        ("        nonPrivateIPs: false\n", ""),
        ("nonPrivateIPs: false", "nonPrivateIPs: true"),
    ] {
        assert!(BINDER_YAML.contains(from));
        let env = RenderEnv::new(
            &BINDER_YAML.replace(from, to),
            standard_zone(),
            standard_routes(),
        );
        for args in [
            &["-q"][..],
            &["--check", "-q"][..],
            &["--check", "--quiet"][..],
        ] {
            let out = env.render(args);
            let err = stderr(&out);
            assert!(
                err.contains(
                    "binderctl: warning: binder.yaml: jupyterhub.singleuser.networkPolicy.\
                     egressAllowRules.nonPrivateIPs is not false"
                ) && err.contains("restricts nothing"),
                "{args:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "only that warning: {err}");
        }
    }
}
