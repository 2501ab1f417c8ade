//! `binderctl egress` end to end: real lookups against loopback DNS and HTTP
//! servers, a stand-in kubectl that keeps the NetworkPolicy it was given,
//! and a clock set through BINDERCTL_NOW. The policy's own annotations carry
//! the state from one run to the next.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::dns_server::{DnsServer, Zone};
use support::fake_tools::{call, FakeCluster};
use support::http_server::{FastlyList, HttpServer, Routes};
use support::real_tools::validate_manifest;
use support::{stderr, stdout};

const HOUR: i64 = 3600;
const T0: i64 = 1_780_000_000;

/// Fastly gives 198.51.100.0/24, 203.0.113.0/25, 192.0.2.128/25; cdn.test
/// is resolved; GitHub's list is off.
const POLICY_YAML: &str = r#"config:
  BinderHub:
    use_registry: true
jupyterhub:
  singleuser:
    networkPolicy:
      enabled: true
      egressAllowRules:
        nonPrivateIPs: false
      allow_list_mode: policy
      domain_whitelist: [cdn.test]
      published_ip_lists:
        github: []
        fastly: [addresses]
"#;

struct Lab {
    fake: FakeCluster,
    http: HttpServer,
    dns: DnsServer,
}

impl Lab {
    fn new(binder_yaml: &str, cdn: &str) -> Self {
        let fake = FakeCluster::new();
        fake.write_file("binder.yaml", binder_yaml);
        let http = HttpServer::start(Routes::new().json("/fastly", FastlyList::sample().to_json()));
        Lab {
            fake,
            http,
            dns: cdn_server(cdn),
        }
    }

    /// cdn.test now answers `address`.
    fn rotate(&mut self, address: &str) {
        self.dns = cdn_server(address);
    }

    fn run(&self, args: &[&str], now: i64) -> Output {
        let ns = self.dns.addr.to_string();
        let fastly = self.http.url("/fastly");
        let mut all = args.to_vec();
        let looks_up = matches!(
            args,
            ["render", ..] | ["deploy", ..] | ["egress", "apply" | "check", ..]
        );
        if looks_up {
            all.extend_from_slice(&["--nameserver", &ns, "--fastly-url", &fastly]);
            all.extend_from_slice(&["--timeout", "0.5", "--retries", "0"]);
        }
        self.fake
            .command(&all)
            .env("BINDERCTL_NOW", now.to_string())
            .output()
            .unwrap()
    }

    fn policy(&self) -> Value {
        let text = self
            .fake
            .network_policy("binderctl-egress")
            .expect("a NetworkPolicy was applied");
        serde_json::from_str(&text).unwrap()
    }
}

fn cdn_server(address: &str) -> DnsServer {
    DnsServer::start(Zone::new().a("cdn.test", [address]))
}

fn cidrs(policy: &Value) -> Vec<String> {
    policy["spec"]["egress"][0]["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ipBlock"]["cidr"].as_str().unwrap().to_string())
        .collect()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn apply_rotate_check_grace_and_uninstall() {
    let mut lab = Lab::new(POLICY_YAML, "192.0.2.7");

    // Nothing applied yet: check says an apply would create it.
    let out = lab.run(&["egress", "check"], T0);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "NetworkPolicies binderctl-egress, binderctl-egress-v2 missing: `binderctl egress \
             apply` would create them with 4 ranges"
        ),
        "{}",
        stdout(&out)
    );

    // --dry-run: the change and the exact command, nothing applied.
    let out = lab.run(&["egress", "apply", "--dry-run"], T0);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("  host cdn.test:\n    + 192.0.2.7/32\n"),
        "{text}"
    );
    assert!(text.contains("    + 198.51.100.0/24\n"), "{text}");
    assert!(
        text.ends_with(
            "microk8s kubectl apply -n binder -f -\nmicrok8s kubectl apply -n binder -f -\n"
        ),
        "{text}"
    );
    assert!(lab.fake.network_policy("binderctl-egress").is_none());
    assert!(lab.fake.network_policy("binderctl-egress-v2").is_none());

    // Apply: one valid policy with the merged ranges, selecting the user pods.
    let out = lab.run(&["egress", "apply"], T0);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("networkpolicy.networking.k8s.io/binderctl-egress created"));
    assert!(stdout(&out).contains("networkpolicy.networking.k8s.io/binderctl-egress-v2 created"));
    // The second generation's policy: the same rule, the new labels.
    let v2: Value =
        serde_json::from_str(&lab.fake.network_policy("binderctl-egress-v2").unwrap()).unwrap();
    assert_eq!(cidrs(&v2), cidrs(&lab.policy()));
    assert_eq!(
        v2["spec"]["podSelector"]["matchLabels"],
        serde_json::json!({
            "app.kubernetes.io/component": "singleuser-server",
            "app.kubernetes.io/instance": "binder"
        })
    );
    let policy = lab.policy();
    assert_eq!(
        cidrs(&policy),
        [
            "192.0.2.7/32",
            "192.0.2.128/25",
            "198.51.100.0/24",
            "203.0.113.0/25"
        ]
    );
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        serde_json::json!({"component": "singleuser-server", "release": "binder"})
    );
    if let Some(result) = validate_manifest(&lab.fake.network_policy("binderctl-egress").unwrap()) {
        result.unwrap();
    }
    // No Helm anywhere.
    assert!(lab.fake.calls_starting_with(&["helm"]).is_empty());

    // Same answers: nothing to do.
    let out = lab.run(&["egress", "check", "--quiet"], T0 + HOUR);
    assert_eq!(code(&out), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "");

    // Rotated inside an allowed range (Fastly's): not drift.
    lab.rotate("198.51.100.77");
    let out = lab.run(&["egress", "check"], T0 + HOUR);
    assert_eq!(code(&out), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("up to date"), "{}", stdout(&out));

    // Rotated outside every allowed range: drift, naming the host and range.
    lab.rotate("203.0.113.200");
    let out = lab.run(&["egress", "check"], T0 + HOUR);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "NetworkPolicies binderctl-egress, binderctl-egress-v2 would change (`binderctl egress \
         apply`):\n  \
         host cdn.test:\n    + 203.0.113.200/32\n"
    );

    // Re-apply within the grace period: the old address stays allowed.
    let out = lab.run(&["egress", "apply"], T0 + 2 * HOUR);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("192.0.2.7/32 no longer seen, still allowed for 22h"),
        "{}",
        stdout(&out)
    );
    let ranges = cidrs(&lab.policy());
    assert!(ranges.contains(&"192.0.2.7/32".to_string()), "{ranges:?}");
    assert!(
        ranges.contains(&"203.0.113.200/32".to_string()),
        "{ranges:?}"
    );
    let out = lab.run(&["egress", "check"], T0 + 23 * HOUR);
    assert_eq!(code(&out), Some(0), "{}{}", stdout(&out), stderr(&out));
    let out = lab.run(&["egress", "show"], T0 + 3 * HOUR);
    let table = stdout(&out);
    let line = |range: &str| {
        table
            .lines()
            .find(|l| l.contains(range))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line("192.0.2.7/32"),
        "host cdn.test 192.0.2.7/32 3h not seen, goes in 21h",
        "{table}"
    );
    assert_eq!(
        line("203.0.113.200/32"),
        "host cdn.test 203.0.113.200/32 1h seen",
        "{table}"
    );

    // After the grace period (counted from when it was last seen, T0), check
    // names the removal and apply removes it.
    let out = lab.run(&["egress", "check"], T0 + 25 * HOUR);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("    - 192.0.2.7/32\n"),
        "{}",
        stdout(&out)
    );
    let out = lab.run(&["egress", "apply"], T0 + 25 * HOUR);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        cidrs(&lab.policy()),
        [
            "192.0.2.128/25",
            "198.51.100.0/24",
            "203.0.113.0/25",
            "203.0.113.200/32"
        ]
    );

    // show: what is enforced, by source, with ages.
    let out = lab.run(&["egress", "show", "-o", "json"], T0 + 26 * HOUR);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["applied_at"], T0 + 25 * HOUR);
    assert_eq!(
        shown["sources"]["host cdn.test"][0]["cidr"],
        "203.0.113.200/32"
    );
    assert_eq!(shown["sources"]["host cdn.test"][0]["age_seconds"], HOUR);
    let out = lab.run(&["egress", "show"], T0 + 26 * HOUR);
    assert!(
        stdout(&out).contains("4 ranges enforced, selects ")
            && stdout(&out).contains("Applied 1h ago"),
        "{}",
        stdout(&out)
    );
    // The same formats as every read command: YAML holds what JSON does.
    let out = lab.run(&["egress", "show", "-o", "yaml"], T0 + 26 * HOUR);
    let yaml: Value = serde_yaml::from_str(&stdout(&out)).unwrap();
    assert_eq!(yaml, shown);
    let out = lab.run(&["egress", "show", "-o", "name"], T0 + 26 * HOUR);
    assert_eq!(
        stdout(&out),
        "networkpolicy/binderctl-egress\nnetworkpolicy/binderctl-egress-v2\n"
    );
    let out = lab.run(&["egress", "show", "--no-headers"], T0 + 26 * HOUR);
    assert!(
        !stdout(&out).contains("ranges enforced"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("SOURCE"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("203.0.113.200/32"),
        "{}",
        stdout(&out)
    );

    // status shows it; uninstall deletes it (before the namespace).
    let out = lab.run(&["status"], T0 + 26 * HOUR);
    assert!(
        stdout(&out).contains("Egress policies binderctl-egress, binderctl-egress-v2: 4 ranges"),
        "{}",
        stdout(&out)
    );
    let out = lab.run(&["uninstall", "--yes"], T0 + 26 * HOUR);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(lab.fake.network_policy("binderctl-egress").is_none());
    let deletes = lab.fake.calls_starting_with(&["kubectl", "delete"]);
    assert_eq!(
        deletes,
        vec![
            call(&[
                "kubectl",
                "delete",
                "networkpolicy",
                "binderctl-egress",
                "-n",
                "binder",
                "--ignore-not-found"
            ]),
            call(&[
                "kubectl",
                "delete",
                "networkpolicy",
                "binderctl-egress-v2",
                "-n",
                "binder",
                "--ignore-not-found"
            ]),
            call(&[
                "kubectl",
                "delete",
                "networkpolicy",
                "binderctl-egress-build",
                "-n",
                "binder",
                "--ignore-not-found"
            ]),
            call(&["kubectl", "delete", "namespace", "binder"]),
        ]
    );
}

#[test]
fn apply_refuses_values_mode_and_someone_elses_policy() {
    let lab = Lab::new(
        &POLICY_YAML.replace("allow_list_mode: policy", "allow_list_mode: values"),
        "192.0.2.7",
    );
    let out = lab.run(&["egress", "apply"], T0);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains(
            "binder.yaml: jupyterhub.singleuser.networkPolicy.allow_list_mode is `values`"
        ),
        "{}",
        stderr(&out)
    );
    assert!(lab
        .fake
        .calls_starting_with(&["kubectl", "apply"])
        .is_empty());

    let mut lab = Lab::new(POLICY_YAML, "192.0.2.7");
    lab.fake.respond(
        &["kubectl", "get", "networkpolicy"],
        r#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"binderctl-egress","namespace":"binder"},"spec":{"podSelector":{}}}"#,
        0,
    );
    let out = lab.run(&["egress", "apply"], T0);
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("not binderctl's"), "{}", stderr(&out));
    assert!(lab
        .fake
        .calls_starting_with(&["kubectl", "apply"])
        .is_empty());
}

#[test]
fn check_errors_exit_2_even_when_the_tool_exits_1() {
    let mut lab = Lab::new(POLICY_YAML, "192.0.2.7");
    lab.fake.respond_full(
        &["kubectl", "get", "networkpolicy"],
        "",
        "The connection to the server 192.0.2.1:16443 was refused - did you specify the right host or port?\n",
        1,
    );
    let out = lab.run(&["egress", "check"], T0);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("was refused"), "{}", stderr(&out));

    // A host that does not resolve is an error too, not drift.
    let lab = Lab::new(
        &POLICY_YAML.replace("[cdn.test]", "[gone.test]"),
        "192.0.2.7",
    );
    let out = lab.run(&["egress", "check"], T0);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("host gone.test"), "{}", stderr(&out));
    // apply leaves the policy as it was.
    let out = lab.run(&["egress", "apply"], T0);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing applied; NetworkPolicy binderctl-egress is unchanged"),
        "{}",
        stderr(&out)
    );
    assert!(lab
        .fake
        .calls_starting_with(&["kubectl", "apply"])
        .is_empty());
}

/// `helm get values -o json` of a release deployed in values mode: the
/// operator's rule, then binderctl's generated one; a registry token too.
fn deployed_values(generated: &[&str]) -> String {
    let to: Vec<Value> = generated
        .iter()
        .map(|c| serde_json::json!({"ipBlock": {"cidr": c}}))
        .collect();
    serde_json::json!({
        "registry": {"username": "lab", "password": "dckr_pat_DEPLOYED-SECRET"},
        "jupyterhub": {"singleuser": {"networkPolicy": {
            "enabled": true,
            "egressAllowRules": {"nonPrivateIPs": false},
            "egress": [{"to": to}],
        }}},
    })
    .to_string()
}

#[test]
fn values_mode_compares_with_the_deployed_values() {
    let values_yaml = POLICY_YAML.replace("      allow_list_mode: policy\n", "");
    let mut lab = Lab::new(&values_yaml, "198.51.100.9");
    let deployed = ["192.0.2.128/25", "198.51.100.0/24", "203.0.113.0/25"];
    lab.fake
        .respond(&["helm", "get", "values"], &deployed_values(&deployed), 0);
    // The host's address lies inside Fastly's deployed range: nothing to do.
    let out = lab.run(&["egress", "check"], T0);
    assert_eq!(code(&out), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        lab.fake.calls_starting_with(&["helm"]),
        vec![call(&[
            "helm", "get", "values", "binder", "-n", "binder", "-o", "json"
        ])]
    );
    assert!(lab.fake.calls_starting_with(&["kubectl"]).is_empty());

    // Outside: a deploy would change it.
    lab.rotate("192.0.2.9");
    let out = lab.run(&["egress", "check"], T0);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "The egress rule of release binder would change (`binderctl deploy`):\n  \
         host cdn.test:\n    + 192.0.2.9/32\n"
    );
    assert!(!stdout(&out).contains("DEPLOYED-SECRET") && !stderr(&out).contains("DEPLOYED-SECRET"));

    // No release: an error, exit 2, whatever helm's own code.
    lab.fake.respond_full(
        &["helm", "get", "values"],
        "",
        "Error: release: not found\n",
        1,
    );
    let out = lab.run(&["egress", "check"], T0);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
}

#[test]
fn render_in_policy_mode_writes_no_ranges() {
    let lab = Lab::new(POLICY_YAML, "192.0.2.7");
    let out = lab.run(&["render"], T0);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(lab.fake.work_dir().join("_binder.yaml")).unwrap();
    assert!(
        !text.contains("192.0.2.7") && !text.contains("198.51.100.0"),
        "{text}"
    );
    let values: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let policy = &values["jupyterhub"]["singleuser"]["networkPolicy"];
    assert!(policy.get("allow_list_mode").is_none(), "{text}");
    assert!(policy.get("egress").is_none(), "{text}");
    assert!(text.contains("binderctl-egress"), "{text}");
    // It no longer changes with DNS.
    let mut lab = lab;
    lab.rotate("203.0.113.9");
    let out = lab.run(&["render", "--check"], T0);
    assert_eq!(code(&out), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("`binderctl egress check` compares that"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn deploy_in_policy_mode_applies_the_policy_after_the_release() {
    let mut lab = Lab::new(POLICY_YAML, "192.0.2.7");
    fake_release(&mut lab);
    let out = lab.run(
        &["deploy", "--version", "1.0.0-0.dev.git.3620.h0d3c3ec5"],
        T0,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let changing: Vec<String> = lab
        .fake
        .normalized_calls()
        .into_iter()
        .filter(|c| matches!(c[1].as_str(), "upgrade" | "apply"))
        .map(|c| c[..2].join(" "))
        .collect();
    assert_eq!(changing, ["helm upgrade", "kubectl apply", "kubectl apply"]);
    assert_eq!(cidrs(&lab.policy())[0], "192.0.2.7/32");
    let rendered = std::fs::read_to_string(lab.fake.work_dir().join("_binder.yaml")).unwrap();
    assert!(!rendered.contains("192.0.2.7"), "{rendered}");

    // Back to values mode: the leftover policy still allows its ranges
    // (policies add up), so deploy says so; it applies nothing.
    lab.fake.write_file(
        "binder.yaml",
        &POLICY_YAML.replace("allow_list_mode: policy", "allow_list_mode: values"),
    );
    let out = lab.run(
        &["deploy", "--version", "1.0.0-0.dev.git.3620.h0d3c3ec5"],
        T0,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "NetworkPolicies binderctl-egress, binderctl-egress-v2 from allow_list_mode: policy \
             still allow 4 ranges"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(lab.fake.calls_starting_with(&["kubectl", "apply"]).len(), 2);
}

#[test]
fn policy_mode_refuses_a_chart_policy_that_is_off() {
    let lab = Lab::new(
        &POLICY_YAML.replace("enabled: true", "enabled: false"),
        "192.0.2.7",
    );
    let out = lab.run(&["egress", "apply"], T0);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("cut them off from DNS"),
        "{}",
        stderr(&out)
    );
    // Only the read that runs alongside the look-ups; nothing applied.
    assert!(lab
        .fake
        .calls_starting_with(&["kubectl", "apply"])
        .is_empty());
}

fn fake_release(lab: &mut Lab) {
    use std::os::unix::fs::PermissionsExt;
    let secret = lab.fake.write_file(
        "secret.yaml",
        "registry:\n  username: lab\n  password: dckr_pat_X-1\n",
    );
    std::fs::set_permissions(secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    lab.fake
        .respond(
            &["helm", "repo", "list"],
            r#"[{"name":"jupyterhub","url":"https://charts.example/"}]"#,
            0,
        )
        .respond(&["helm", "repo", "update"], "Update Complete.\n", 0)
        .respond(
            &["helm", "upgrade"],
            "Release \"binder\" has been upgraded.\n",
            0,
        )
        .respond(
            &["kubectl", "get", "deployments,statefulsets,daemonsets"],
            r#"{"items":[{"metadata":{"name":"hub"}}]}"#,
            0,
        )
        .respond(
            &["kubectl", "rollout", "status"],
            "deployment \"hub\" successfully rolled out\n",
            0,
        );
}

/// Real kubectl and Helm accept every argv `egress` runs: against a closed
/// port they get as far as connecting (no usage error), with the policy on
/// stdin where there is one.
#[test]
fn real_tools_accept_every_egress_argv() {
    use std::io::Write;
    use std::process::Stdio;
    let kubectl = real_tool!("kubectl");
    let helm = real_tool!("helm");
    let (_guard, kubeconfig) = support::real_tools::unreachable_kubeconfig();
    let home = tempfile::tempdir().unwrap();
    let mut seen = 0;
    for plan in binderctl::ops::egress::policies::sample_plans()
        .into_iter()
        .chain(binderctl::ops::egress::verify::sample_plans())
    {
        for step in &plan.steps {
            let program = match step.command.program.as_str() {
                "kubectl" => &kubectl,
                "helm" => &helm,
                _ => continue, // the microk8s flavor runs the same argv
            };
            let mut child = Command::new(program)
                .args(&step.command.args)
                .env_clear()
                .env("KUBECONFIG", &kubeconfig)
                .env("HOME", home.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(step.stdin.as_deref().unwrap_or_default().as_bytes())
                .unwrap();
            drop(stdin);
            let out = child.wait_with_output().unwrap();
            let err = stderr(&out);
            assert!(!out.status.success(), "{}: {err}", step.command);
            assert!(
                err.contains("refused") && !err.contains("unknown") && !err.contains("--help"),
                "{}: {err}",
                step.command
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 14);
}

#[test]
fn without_coredns_the_default_falls_back_to_the_host_and_render_never_asks() {
    let yaml = POLICY_YAML.replace("domain_whitelist: [cdn.test]", "domain_whitelist: []");
    let mut lab = Lab::new(&yaml, "192.0.2.7");
    lab.fake.respond_full(
        &["kubectl", "get", "configmap"],
        "",
        "Error from server (NotFound): configmaps \"coredns\" not found\n",
        1,
    );
    let fastly = lab.http.url("/fastly");
    let configmap_reads = |lab: &Lab| {
        lab.fake
            .calls_starting_with(&["kubectl", "get", "configmap"])
            .len()
    };
    // render: the host's resolver, no cluster read.
    let out = lab
        .fake
        .command(&["render", "--stdout", "--fastly-url", &fastly])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(configmap_reads(&lab), 0);
    // egress apply: reads the ConfigMap, finds none, says so, goes on.
    let out = lab
        .fake
        .command(&["egress", "apply", "--dry-run", "--fastly-url", &fastly])
        .env("BINDERCTL_NOW", T0.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no ConfigMap kube-system/coredns")
            && stderr(&out).contains("resolving through the host's resolver"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        lab.fake
            .calls_starting_with(&["kubectl", "get", "configmap"]),
        vec![call(&[
            "kubectl",
            "get",
            "configmap",
            "coredns",
            "-n",
            "kube-system",
            "-o",
            "json"
        ])]
    );
    // Asked for explicitly, its absence is an error naming it.
    let out = lab
        .fake
        .command(&[
            "egress",
            "check",
            "--nameserver",
            "cluster",
            "--fastly-url",
            &fastly,
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no ConfigMap coredns in namespace kube-system"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_exits_1_naming_the_cause_and_deletes_its_probe() {
    let mut lab = Lab::new(POLICY_YAML, "192.0.2.7");
    lab.fake.respond(
        &["kubectl", "create"],
        "pod/binderctl-egress-probe-x created\n",
        0,
    );
    lab.fake.respond(
        &["kubectl", "get", "pod"],
        r#"{"apiVersion":"v1","kind":"Pod","status":{"phase":"Succeeded"}}"#,
        0,
    );
    // The address outside the list was reached: not enforced.
    lab.fake.respond(
        &["kubectl", "logs"],
        "binderctl-probe dns pass cdn.test\n\
         binderctl-probe allowed pass cdn.test:443\n\
         binderctl-probe blocked fail 203.0.113.150:443\n\
         binderctl-probe hub pass hub:8081\n",
        0,
    );
    lab.fake.respond(
        &["kubectl", "delete", "pod"],
        "pod \"binderctl-egress-probe-x\" deleted\n",
        0,
    );
    let out = lab
        .fake
        .command(&["egress", "verify", "--blocked-address", "203.0.113.150"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("FAIL  be refused an address outside the list"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("the policy is not enforced")
            && stderr(&out).contains("network plugin ignores them"),
        "{}",
        stderr(&out)
    );
    let deletes = lab.fake.calls_starting_with(&["kubectl", "delete", "pod"]);
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(
        deletes[0][3].starts_with("binderctl-egress-probe-"),
        "{deletes:?}"
    );

    // nonPrivateIPs left true is named instead.
    lab.fake.write_file(
        "binder.yaml",
        &POLICY_YAML.replace("nonPrivateIPs: false", "nonPrivateIPs: true"),
    );
    let out = lab
        .fake
        .command(&["egress", "verify", "--blocked-address", "203.0.113.150"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nonPrivateIPs is true"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_that_cannot_create_its_probe_exits_2_never_1() {
    let mut lab = Lab::new(POLICY_YAML, "192.0.2.7");
    lab.fake.respond_full(
        &["kubectl", "create"],
        "",
        "Error from server (Forbidden): pods is forbidden: exceeded quota\n",
        1,
    );
    let verify = |lab: &Lab| {
        lab.fake
            .command(&["egress", "verify", "--blocked-address", "203.0.113.150"])
            .output()
            .unwrap()
    };
    let out = verify(&lab);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot create the probe pod") && stderr(&out).contains("quota"),
        "{}",
        stderr(&out)
    );
    // kubectl's own exit 1 while watching the pod: still 2, and the pod is
    // deleted.
    lab.fake
        .respond(&["kubectl", "create"], "pod/p created\n", 0);
    lab.fake.respond_full(
        &["kubectl", "get", "pod"],
        "",
        "error: the server doesn't have a resource type \"pod\"\n",
        1,
    );
    lab.fake
        .respond(&["kubectl", "delete", "pod"], "pod \"p\" deleted\n", 0);
    let out = verify(&lab);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_eq!(
        lab.fake
            .calls_starting_with(&["kubectl", "delete", "pod"])
            .len(),
        2
    );
}

const VERSION: &str = "1.0.0-0.dev.git.3620.h0d3c3ec5";

/// A policy of binderctl's name that binderctl did not write.
const FOREIGN_POLICY: &str = r#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"binderctl-egress","namespace":"binder"},"spec":{"podSelector":{}}}"#;

/// What kubectl prints when the account may not read NetworkPolicies.
const FORBIDDEN: &str = "Error from server (Forbidden): networkpolicies.networking.k8s.io \"binderctl-egress\" is forbidden: User \"lab\" cannot get resource \"networkpolicies\" in API group \"networking.k8s.io\" in the namespace \"binder\"\n";

/// The policy reads deploy cannot use: (stdout, stderr, exit code, what
/// the error says).
const UNUSABLE_READS: [(&str, &str, i32, &str); 3] = [
    (FOREIGN_POLICY, "", 0, "not binderctl's"),
    ("", FORBIDDEN, 1, "is forbidden"),
    ("<html>gateway</html>", "", 0, "expected JSON"),
];

#[test]
fn deploy_in_policy_mode_refuses_an_unusable_policy_before_the_upgrade() {
    for (out_text, err_text, exit, says) in UNUSABLE_READS {
        let mut lab = Lab::new(POLICY_YAML, "192.0.2.7");
        fake_release(&mut lab);
        lab.fake.respond_full(
            &["kubectl", "get", "networkpolicy"],
            out_text,
            err_text,
            exit,
        );
        for dry_run in [true, false] {
            let mut args = vec!["deploy", "--version", VERSION];
            if dry_run {
                args.push("--dry-run");
            }
            let out = lab.run(&args, T0);
            let err = stderr(&out);
            assert_eq!(code(&out), Some(2), "{says}: {err}");
            assert!(err.contains(says), "{err}");
            assert!(
                err.contains("nothing deployed") && err.contains("allow_list_mode: policy"),
                "{err}"
            );
            assert!(!stdout(&out).contains("helm upgrade"), "{}", stdout(&out));
        }
        assert!(lab
            .fake
            .calls_starting_with(&["helm", "upgrade"])
            .is_empty());
        assert!(lab
            .fake
            .calls_starting_with(&["kubectl", "apply"])
            .is_empty());
        assert!(!lab.fake.work_dir().join("_binder.yaml").exists());
    }
}

#[test]
fn deploy_in_values_mode_warns_about_an_unusable_policy_and_goes_on() {
    for (out_text, err_text, exit, says) in UNUSABLE_READS {
        let mut lab = Lab::new(
            &POLICY_YAML.replace("allow_list_mode: policy", "allow_list_mode: values"),
            "192.0.2.7",
        );
        fake_release(&mut lab);
        lab.fake.respond_full(
            &["kubectl", "get", "networkpolicy"],
            out_text,
            err_text,
            exit,
        );
        let out = lab.run(&["deploy", "--version", VERSION], T0);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(0), "{says}: {err}");
        assert!(err.contains(says) && err.contains("warning"), "{err}");
        assert_eq!(lab.fake.calls_starting_with(&["helm", "upgrade"]).len(), 1);
        assert_eq!(
            lab.fake
                .calls_starting_with(&["kubectl", "rollout", "status"])
                .len(),
            1,
            "{:?}",
            lab.fake.calls()
        );
        assert!(lab
            .fake
            .calls_starting_with(&["kubectl", "apply"])
            .is_empty());
    }
}

#[test]
fn status_shows_everything_and_the_problem_with_a_foreign_policy() {
    for (out_text, err_text, exit, says) in UNUSABLE_READS {
        let mut lab = Lab::new(POLICY_YAML, "192.0.2.7");
        lab.fake.respond_full(
            &["kubectl", "get", "networkpolicy"],
            out_text,
            err_text,
            exit,
        );
        let out = lab.run(&["status"], T0);
        let (text, err) = (stdout(&out), stderr(&out));
        // Non-zero: 2, or kubectl's own code when kubectl failed.
        assert!(!matches!(code(&out), Some(0) | None), "{says}: {err}");
        assert!(
            text.starts_with("Release binder in namespace binder"),
            "{text}"
        );
        assert!(text.contains("Pods ("), "{text}");
        assert!(text.contains("Services:"), "{text}");
        assert!(
            text.contains("Egress policy binderctl-egress: cannot be used:"),
            "{text}"
        );
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn quiet_check_still_says_that_the_allow_list_restricts_nothing() {
    let lab = Lab::new(
        &POLICY_YAML.replace("nonPrivateIPs: false", "nonPrivateIPs: true"),
        "192.0.2.7",
    );
    let out = lab.run(&["egress", "check", "-q"], T0);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nonPrivateIPs is not false")
            && stderr(&out).contains("restricts nothing"),
        "{}",
        stderr(&out)
    );
}
