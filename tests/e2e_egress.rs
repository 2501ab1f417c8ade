//! End-to-end tier, the egress allow-list in `allow_list_mode: policy`
//! against the real API server: the server accepts the NetworkPolicy
//! binderctl writes and binderctl reads it back; `check` sees a DNS answer
//! that changed; an address that left DNS stays through a re-apply for its
//! grace period.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::cluster::{Binderctl, Flavor, HelmMajor};
use support::dns_server::{DnsServer, Zone};
use support::http_server::HttpServer;
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
    let lists = HttpServer::published_lists();
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
    let lists = HttpServer::published_lists();
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

/// A KubeSpawner-shaped user pod with the old labels, the new ones, or both.
fn user_pod(name: &str, old: bool, new: bool) -> String {
    let mut labels = vec!["hub.jupyter.org/network-access-hub: \"true\"".to_string()];
    if old {
        labels.extend([
            "app: jupyterhub".into(),
            "component: singleuser-server".into(),
            "release: binder".into(),
        ]);
    }
    if new {
        labels.extend([
            "app.kubernetes.io/name: jupyterhub".into(),
            "app.kubernetes.io/component: singleuser-server".into(),
            "app.kubernetes.io/instance: binder".into(),
        ]);
    }
    pod(name, &labels)
}

fn pod(name: &str, labels: &[String]) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n{}\nspec:\n  \
         automountServiceAccountToken: false\n  containers:\n  - name: main\n    \
         image: registry.example/lab/main:1\n",
        labels
            .iter()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
            .trim_end()
    )
}

/// The deployment's own pods carry both generations of their component.
fn own_pod(name: &str, component: &str) -> String {
    pod(
        name,
        &[
            format!("component: {component}"),
            "release: binder".into(),
            format!("app.kubernetes.io/component: {component}"),
            "app.kubernetes.io/instance: binder".into(),
        ],
    )
}

/// The selector the server holds for a policy, as `kubectl -l` takes it.
fn server_selector(policy: &Value) -> String {
    let labels = policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    assert!(
        policy["spec"]["podSelector"]["matchExpressions"].is_null(),
        "{policy}"
    );
    labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn both_label_generations_and_build_pods_are_selected_and_nothing_else() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-egress-gen");
    let mut manifests = String::new();
    manifests += &user_pod("jupyter-alice", true, false);
    manifests += &user_pod("jupyter-bob", false, true);
    manifests += &user_pod("jupyter-carol", true, true);
    for (name, component) in [
        ("hub-6d4f9c7b8-x2k9p", "hub"),
        ("proxy-7f9c5d-abcde", "proxy"),
        ("binder-5b7d9-fghij", "binder"),
        ("user-scheduler-6c8d-klmno", "user-scheduler"),
    ] {
        manifests += &own_pod(name, component);
    }
    manifests += &pod(
        "build-lab-2dcourse-abc123",
        &[
            "name: build-lab-2dcourse-abc123".into(),
            "component: binderhub-build".into(),
        ],
    );
    plane.kubectl_stdin(&["apply", "-n", &ns.name, "-f", "-"], &manifests);
    plane.wait_for("the pods to run", Duration::from_secs(60), || {
        plane
            .kubectl_ok(&[
                "get",
                "pods",
                "-n",
                &ns.name,
                "--field-selector=status.phase=Running",
                "-o",
                "name",
            ])
            .lines()
            .count()
            == 8
    });

    let lists = HttpServer::published_lists();
    let dns = DnsServer::start(
        Zone::new()
            .a("files.example", ["203.0.113.200"])
            .a("data.example", ["192.0.2.77"]),
    );
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    let with_build = BINDER_YAML.replace(
        "      allow_list_mode: policy\n",
        "      allow_list_mode: policy\n      egress_targets: [singleuser, build]\n",
    );
    binderctl.write("binder.yaml", &with_build);
    let egress = |sub: &str| -> std::process::Output {
        let mut args = vec![
            "egress".to_string(),
            sub.into(),
            "-n".into(),
            ns.name.clone(),
        ];
        if sub != "show" {
            args.extend(lookup_options(&dns, &lists));
        } else {
            args.extend(["-o".into(), "json".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        binderctl.run(&args)
    };
    let said = |out: &std::process::Output| format!("{}{}", stdout(out), stderr(out));

    let out = egress("apply");
    assert!(out.status.success(), "apply:\n{}", said(&out));

    // The server decides which pods each policy selects.
    let selected = |name: &str| -> Vec<String> {
        let policy = plane
            .get_json(Some(&ns.name), "networkpolicy", name)
            .unwrap_or_else(|| panic!("the server holds no {name}"));
        plane.names(&ns.name, "pods", Some(&server_selector(&policy)))
    };
    let old = selected("binderctl-egress");
    let new = selected("binderctl-egress-v2");
    let build = selected("binderctl-egress-build");
    assert_eq!(old, ["jupyter-alice", "jupyter-carol"]);
    assert_eq!(new, ["jupyter-bob", "jupyter-carol"]);
    assert_eq!(build, ["build-lab-2dcourse-abc123"]);
    let mut users: Vec<String> = old.iter().chain(&new).cloned().collect();
    users.sort();
    users.dedup();
    assert_eq!(users, ["jupyter-alice", "jupyter-bob", "jupyter-carol"]);
    // The build policy carries the allow-list and DNS; the same ranges.
    let build_policy = plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress-build")
        .unwrap();
    let v2_policy = plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress-v2")
        .unwrap();
    assert_eq!(enforced(&build_policy), enforced(&v2_policy));
    assert_eq!(build_policy["spec"]["egress"][1]["ports"][0]["port"], 53);

    // show counts what the server selects; check is content.
    let out = egress("show");
    assert!(out.status.success(), "show:\n{}", said(&out));
    let shown: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let counts: Vec<(String, u64)> = shown["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["running_pods_selected"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = [
        ("binderctl-egress", &old),
        ("binderctl-egress-v2", &new),
        ("binderctl-egress-build", &build),
    ]
    .iter()
    .map(|(n, pods)| (n.to_string(), pods.len() as u64))
    .collect();
    assert_eq!(counts, expected);
    assert_eq!(shown["unselected_user_pods"], serde_json::json!([]));
    let out = egress("check");
    assert_eq!(out.status.code(), Some(0), "check:\n{}", said(&out));

    // A binderctl of one generation left only the old policy: bob gets no
    // allow-list, and check says so; apply puts the policy back.
    plane.kubectl_ok(&[
        "delete",
        "networkpolicy",
        "binderctl-egress-v2",
        "-n",
        &ns.name,
    ]);
    let out = egress("check");
    assert_eq!(out.status.code(), Some(1), "check:\n{}", said(&out));
    let text = stdout(&out);
    assert!(
        text.contains("NetworkPolicy binderctl-egress-v2 missing")
            && text.contains("  jupyter-bob\n")
            && !text.contains("jupyter-alice"),
        "{text}"
    );
    let out = egress("apply");
    assert!(out.status.success(), "apply:\n{}", said(&out));
    assert_eq!(selected("binderctl-egress-v2"), new);

    // A user pod with no release label at all: no selector can reach it.
    plane.kubectl_stdin(
        &["apply", "-n", &ns.name, "-f", "-"],
        &pod("jupyter-eve", &["component: singleuser-server".into()]),
    );
    let out = egress("check");
    assert_eq!(out.status.code(), Some(1), "check:\n{}", said(&out));
    assert!(stdout(&out).contains("  jupyter-eve\n"), "{}", said(&out));
    for name in ["binderctl-egress", "binderctl-egress-v2"] {
        assert!(!selected(name).contains(&"jupyter-eve".to_string()));
    }
    plane.kubectl_ok(&[
        "delete",
        "pod",
        "jupyter-eve",
        "-n",
        &ns.name,
        "--wait=false",
    ]);

    // Build pods no longer asked for: apply deletes their policy.
    binderctl.write("binder.yaml", BINDER_YAML);
    let out = egress("apply");
    assert!(out.status.success(), "apply:\n{}", said(&out));
    assert!(
        stdout(&out).contains("NetworkPolicy binderctl-egress-build deleted"),
        "{}",
        said(&out)
    );
    assert!(plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress-build")
        .is_none());
}

/// The ConfigMap `kube-system/coredns` with this Corefile while the guard
/// lives (cluster-wide state: one test at a time).
struct Coredns<'a> {
    plane: &'a support::cluster::ControlPlane,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl<'a> Coredns<'a> {
    fn new(plane: &'a support::cluster::ControlPlane, corefile: &str) -> Self {
        let lock = support::cluster::cluster_wide();
        let configmap = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": corefile},
        });
        plane.kubectl_stdin(&["apply", "-f", "-"], &configmap.to_string());
        Coredns { plane, _lock: lock }
    }
}

impl Drop for Coredns<'_> {
    fn drop(&mut self) {
        let _ = self.plane.kubectl(&[
            "delete",
            "configmap",
            "coredns",
            "-n",
            "kube-system",
            "--ignore-not-found",
        ]);
    }
}

#[test]
fn the_cluster_resolver_is_read_from_corednss_configmap() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-egress-dns");
    let lists = HttpServer::published_lists();
    // What the pods' resolver answers, and what the host's answers.
    let pods_dns = DnsServer::start(
        Zone::new()
            .a("files.example", ["203.0.113.210"])
            .a("data.example", ["192.0.2.77"]),
    );
    let host_dns = DnsServer::start(
        Zone::new()
            .a("files.example", ["203.0.113.200"])
            .a("data.example", ["192.0.2.77"]),
    );
    let binderctl = Binderctl::new(plane, Flavor::Microk8s, HelmMajor::Four);
    binderctl.write("binder.yaml", BINDER_YAML);
    let lists_only = [
        format!("--github-meta-url={}", lists.url("/meta")),
        format!("--fastly-url={}", lists.url("/fastly")),
    ];
    let run = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(lists_only.iter().cloned());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        binderctl.run(&all)
    };
    let said = |out: &std::process::Output| format!("{}{}", stdout(out), stderr(out));

    // No ConfigMap: asking for the cluster's resolver is an error naming it.
    let out = run(&["egress", "apply", "-n", &ns.name, "--nameserver", "cluster"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        stderr(&out).contains("no ConfigMap coredns in namespace kube-system"),
        "{}",
        said(&out)
    );

    let corefile = format!(
        ".:53 {{\n    errors\n    health {{\n      lameduck 5s\n    }}\n    kubernetes \
         cluster.local in-addr.arpa ip6.arpa {{\n      pods insecure\n    }}\n    forward . \
         {}\n    cache 30\n}}\n",
        pods_dns.addr
    );
    let _coredns = Coredns::new(plane, &corefile);

    // The default of apply: the cluster's forwarders, named in the summary.
    let out = run(&["egress", "apply", "-n", &ns.name]);
    assert!(out.status.success(), "apply:\n{}", said(&out));
    assert!(
        stderr(&out).contains(&format!("the cluster's DNS: {}", pods_dns.addr))
            && stderr(&out).contains("kube-system/coredns"),
        "{}",
        said(&out)
    );
    let policy = plane
        .get_json(Some(&ns.name), "networkpolicy", "binderctl-egress")
        .unwrap();
    let cidrs = enforced(&policy);
    assert!(cidrs.iter().any(|c| c == "203.0.113.210/32"), "{cidrs:?}");
    assert!(!cidrs.iter().any(|c| c == "203.0.113.200/32"), "{cidrs:?}");

    // check's default is the same resolver: nothing changed.
    let out = run(&["egress", "check", "-n", &ns.name]);
    assert_eq!(out.status.code(), Some(0), "check:\n{}", said(&out));

    // The host's answer differs: --compare-resolvers names the host and
    // both answers.
    let host = format!("--nameserver={}", host_dns.addr);
    let out = run(&[
        "egress",
        "check",
        "-n",
        &ns.name,
        &host,
        "--compare-resolvers",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "  files.example: cluster 203.0.113.210; {} 203.0.113.200\n",
            host_dns.addr
        )) && !text.contains("  data.example:"),
        "{}",
        said(&out)
    );
    // And the check through the host's resolver sees drift.
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));

    // render asks the cluster only when told to.
    let values = BINDER_YAML.replace("allow_list_mode: policy", "allow_list_mode: values");
    binderctl.write("binder.yaml", &values);
    let out = run(&["render", "--stdout", "--nameserver", "cluster"]);
    assert!(out.status.success(), "render:\n{}", said(&out));
    assert!(stdout(&out).contains("203.0.113.210/32"), "{}", said(&out));
    let out = run(&["render", "--stdout", &host]);
    assert!(stdout(&out).contains("203.0.113.200/32"), "{}", said(&out));
}

#[test]
fn verify_runs_its_probe_pod_reads_the_results_and_leaves_nothing() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-egress-verify");
    let lists = HttpServer::published_lists();
    let dns = DnsServer::start(
        Zone::new()
            .a("files.example", ["203.0.113.200"])
            .a("data.example", ["192.0.2.77"]),
    );
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    binderctl.write("binder.yaml", BINDER_YAML);
    let said = |out: &std::process::Output| format!("{}{}", stdout(out), stderr(out));
    let mut apply = vec![
        "egress".to_string(),
        "apply".into(),
        "-n".into(),
        ns.name.clone(),
    ];
    apply.extend(lookup_options(&dns, &lists));
    let apply: Vec<&str> = apply.iter().map(String::as_str).collect();
    let out = binderctl.run(&apply);
    assert!(out.status.success(), "apply:\n{}", said(&out));

    // An address the list allows proves nothing: refused, naming it.
    let out = binderctl.run(&[
        "egress",
        "verify",
        "-n",
        &ns.name,
        "--blocked-address",
        "198.51.100.7",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        stderr(&out).contains("--blocked-address 198.51.100.7 is inside the allow-list"),
        "{}",
        said(&out)
    );

    // --dry-run: the pod and the commands; nothing created.
    let out = binderctl.run(&[
        "egress",
        "verify",
        "-n",
        &ns.name,
        "--blocked-address",
        "203.0.113.150",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        stdout(&out).contains("\"binderctl/role\": \"egress-probe\"")
            && stdout(&out).contains("kubectl delete pod binderctl-egress-probe-"),
        "{}",
        said(&out)
    );
    assert!(plane
        .names(&ns.name, "pods", Some("binderctl/role=egress-probe"))
        .is_empty());

    // The server admits the probe, it lands and runs (kwok prints what an
    // enforcing cluster's probe prints), binderctl reads it and deletes it.
    let out = binderctl.run(&[
        "egress",
        "verify",
        "-n",
        &ns.name,
        "--blocked-address",
        "203.0.113.150",
    ]);
    assert_eq!(out.status.code(), Some(0), "verify:\n{}", said(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.lines().all(|l| l.starts_with("pass")), "{text}");
    assert!(
        text.contains("files.example:443") && text.contains("203.0.113.150:443"),
        "{text}"
    );
    plane.wait_for("the probe pod to go", Duration::from_secs(30), || {
        plane
            .names(&ns.name, "pods", Some("binderctl/role=egress-probe"))
            .is_empty()
    });
}

#[test]
fn apply_records_the_shortest_ttl_and_schedule_auto_follows_it() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-egress-ttl");
    let lists = HttpServer::published_lists();
    let dns = DnsServer::start(
        Zone::new()
            .a("files.example", ["203.0.113.200"])
            .ttl("files.example", 1200)
            .a("data.example", ["192.0.2.77"])
            .ttl("data.example", 900),
    );
    let binderctl = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);
    binderctl.write("binder.yaml", BINDER_YAML);
    let said = |out: &std::process::Output| format!("{}{}", stdout(out), stderr(out));
    let schedule = |extra: &str| {
        binderctl.run(&[
            "egress",
            "schedule",
            "-n",
            &ns.name,
            "--every",
            extra,
            "--dry-run",
        ])
    };
    // Nothing applied yet: auto has no TTL to go by.
    let out = schedule("auto");
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        stderr(&out).contains("records the DNS TTLs"),
        "{}",
        said(&out)
    );

    let mut apply = vec![
        "egress".to_string(),
        "apply".into(),
        "-n".into(),
        ns.name.clone(),
    ];
    apply.extend(lookup_options(&dns, &lists));
    let apply: Vec<&str> = apply.iter().map(String::as_str).collect();
    let out = binderctl.run(&apply);
    assert!(out.status.success(), "apply:\n{}", said(&out));
    for name in ["binderctl-egress", "binderctl-egress-v2"] {
        let policy = plane
            .get_json(Some(&ns.name), "networkpolicy", name)
            .unwrap();
        assert_eq!(
            policy["metadata"]["annotations"]["binderctl/shortest-ttl"], "900",
            "{policy}"
        );
    }
    let out = schedule("auto");
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        stdout(&out).contains("OnUnitActiveSec=900s"),
        "{}",
        said(&out)
    );
}
