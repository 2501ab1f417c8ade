//! End-to-end tier, the egress allow-list in `allow_list_mode: policy`
//! against the real API server: the server accepts the NetworkPolicy
//! binderctl writes and binderctl reads it back; `check` sees a DNS answer
//! that changed; an address that left DNS stays through a re-apply for its
//! grace period.

mod support;

use serde_json::Value;
use support::cluster::{Binderctl, Flavor, HelmMajor};
use support::dns_server::{DnsServer, Zone};
use support::http_server::{FastlyList, GitHubMeta, HttpServer, Routes};
use support::{stderr, stdout};

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
      allow_list_mode: policy
      domain_whitelist: [files.example, data.example]
      cidr_whitelist: [198.51.100.0/24]
"#;

fn lookup_options(dns: &DnsServer, lists: &HttpServer) -> Vec<String> {
    vec![
        format!("--nameserver={}", dns.addr),
        format!("--github-meta-url={}", lists.url("/meta")),
        format!("--fastly-url={}", lists.url("/fastly")),
    ]
}

/// The ranges of the policy's one egress rule, as the server holds them.
fn enforced(policy: &Value) -> Vec<String> {
    let mut cidrs: Vec<String> = policy["spec"]["egress"][0]["to"]
        .as_array()
        .expect("one rule with peers")
        .iter()
        .map(|peer| peer["ipBlock"]["cidr"].as_str().unwrap().to_string())
        .collect();
    cidrs.sort();
    cidrs
}

#[test]
fn policy_mode_applies_checks_and_keeps_the_grace_period() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-egress");
    let lists = HttpServer::start(
        Routes::new()
            .json("/meta", GitHubMeta::sample().to_json())
            .json("/fastly", FastlyList::sample().to_json()),
    );
    let before = DnsServer::start(
        Zone::new()
            .a("files.example", ["203.0.113.200"])
            .a("data.example", ["192.0.2.77"]),
    );
    // files.example moved; data.example did not.
    let after = DnsServer::start(
        Zone::new()
            .a("files.example", ["203.0.113.210"])
            .a("data.example", ["192.0.2.77"]),
    );
    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);
    binderctl.write("binder.yaml", BINDER_YAML);
    let opts_before = lookup_options(&before, &lists);
    let opts_after = lookup_options(&after, &lists);
    let with = |args: &[&str], opts: &[String]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(opts.iter().cloned());
        all
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        binderctl.run(&args)
    };

    let out = run(with(&["egress", "apply", "-n", &ns.name], &opts_before));
    assert!(
        out.status.success(),
        "apply:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let policy = plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress")
        .expect("the server holds the policy");
    assert_eq!(
        policy["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "binderctl"
    );
    assert_eq!(policy["spec"]["policyTypes"], serde_json::json!(["Egress"]));
    let cidrs = enforced(&policy);
    for cidr in ["203.0.113.200/32", "192.0.2.77/32", "198.51.100.0/24"] {
        assert!(cidrs.iter().any(|c| c == cidr), "{cidr} not in {cidrs:?}");
    }

    // binderctl reads back what the server holds.
    let shown = stdout(&run(vec![
        "egress".into(),
        "show".into(),
        "-n".into(),
        ns.name.clone(),
        "-o".into(),
        "json".into(),
    ]));
    assert!(
        shown.contains("203.0.113.200/32") && shown.contains("files.example"),
        "{shown}"
    );

    // Nothing changed: check exits 0. The answer changed: exit 1, naming it.
    let out = run(with(&["egress", "check", "-n", &ns.name], &opts_before));
    assert_eq!(
        out.status.code(),
        Some(0),
        "check:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = run(with(&["egress", "check", "-n", &ns.name], &opts_after));
    assert_eq!(
        out.status.code(),
        Some(1),
        "check after the change:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("203.0.113.210"), "{said}");

    // Re-apply with the new answer: the old address stays for its grace
    // period, beside the new one.
    let out = run(with(&["egress", "apply", "-n", &ns.name], &opts_after));
    assert!(
        out.status.success(),
        "re-apply:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let policy = plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress")
        .unwrap();
    let cidrs = enforced(&policy);
    assert!(
        cidrs.iter().any(|c| c == "203.0.113.200/32"),
        "the old address lost its grace: {cidrs:?}"
    );
    assert!(cidrs.iter().any(|c| c == "203.0.113.210/32"), "{cidrs:?}");
    let out = run(with(&["egress", "check", "-n", &ns.name], &opts_after));
    assert_eq!(
        out.status.code(),
        Some(0),
        "check after re-apply:\n{}{}",
        stdout(&out),
        stderr(&out)
    );

    // A grace period of zero lets it go.
    let out = run(with(
        &["egress", "apply", "-n", &ns.name, "--grace=0s"],
        &opts_after,
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let policy = plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress")
        .unwrap();
    assert!(
        !enforced(&policy).iter().any(|c| c == "203.0.113.200/32"),
        "{policy}"
    );
}

#[test]
fn a_policy_binderctl_does_not_manage_is_never_touched() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-egress-foreign");
    plane.kubectl_stdin(
        &["create", "-n", &ns.name, "-f", "-"],
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: binderctl-egress\n\
         spec:\n  podSelector: {}\n  policyTypes: [Egress]\n",
    );
    let lists = HttpServer::start(
        Routes::new()
            .json("/meta", GitHubMeta::sample().to_json())
            .json("/fastly", FastlyList::sample().to_json()),
    );
    let dns = DnsServer::start(
        Zone::new()
            .a("files.example", ["203.0.113.200"])
            .a("data.example", ["192.0.2.77"]),
    );
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    binderctl.write("binder.yaml", BINDER_YAML);
    let mut args = vec![
        "egress".to_string(),
        "apply".into(),
        "-n".into(),
        ns.name.clone(),
    ];
    args.extend(lookup_options(&dns, &lists));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = binderctl.run(&args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("binderctl-egress"),
        "{}",
        stderr(&out)
    );
    let policy = plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress")
        .unwrap();
    assert!(
        policy["spec"]["egress"].is_null(),
        "the foreign policy was changed: {policy}"
    );
}
