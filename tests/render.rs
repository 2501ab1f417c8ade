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

    // The CDN moved files.example; check against a server with new answers.
    let moved = RenderEnv::new(
        BINDER_YAML,
        Zone::new()
            .a("files.example", ["192.0.2.20", "198.51.100.99"])
            .aaaa("files.example", ["2001:db8:10::20"])
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
        report.contains("  host files.example:\n    + 198.51.100.99/32\n    - 192.0.2.21/32\n"),
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
