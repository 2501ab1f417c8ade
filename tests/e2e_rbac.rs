//! End-to-end tier, least privilege against the real API server (RBAC on):
//! the server accepts the roles `binderctl rbac` prints, and binderctl run
//! as a ServiceAccount bound to the namespace's part only does the
//! namespaced work and stops at the rest with one line naming the missing
//! permission and `binderctl rbac`, changing nothing.

mod support;

use std::path::PathBuf;

use serde_json::{json, Value};
use support::cluster::{self, Binderctl, ControlPlane, Flavor, HelmMajor};
use support::dns_server::{DnsServer, Zone};
use support::http_server::HttpServer;
use support::{stderr, stdout};

/// A kubeconfig that authenticates as `account` in `namespace` with a
/// token from the TokenRequest API, for the same server as the admin's.
fn account_kubeconfig(
    plane: &ControlPlane,
    namespace: &str,
    account: &str,
    dir: &std::path::Path,
) -> PathBuf {
    let admin: Value = serde_json::from_str(
        &plane.kubectl_ok(&["config", "view", "--raw", "--minify", "-o", "json"]),
    )
    .unwrap();
    let cluster = admin["clusters"][0]["cluster"].clone();
    let token = plane.kubectl_ok(&["create", "token", account, "-n", namespace, "--duration=1h"]);
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token.trim()}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": account, "namespace": namespace}}],
        "current-context": "lab",
    });
    let path = dir.join("account.kubeconfig");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// The cluster-wide part's objects, removed when the test ends.
struct ClusterPart<'a> {
    plane: &'a ControlPlane,
    name: String,
}

impl Drop for ClusterPart<'_> {
    fn drop(&mut self) {
        let _ = self.plane.kubectl(&[
            "delete",
            "clusterrole,clusterrolebinding",
            &self.name,
            "--ignore-not-found",
        ]);
    }
}

#[test]
fn the_server_accepts_the_roles_and_a_namespace_only_account_stops_cleanly() {
    let plane = control_plane!();
    let ns = plane.namespace("e2e-rbac");
    let admin = Binderctl::new(plane, Flavor::Plain, HelmMajor::Four);

    // The full set (the cluster part under a name of this test's) is accepted.
    let name = format!("e2e-{}", ns.name);
    let _cluster_part = ClusterPart {
        plane,
        name: name.clone(),
    };
    let name_opt = format!("--name={name}");
    let full = admin.ok(&[
        "rbac",
        "-n",
        &ns.name,
        &name_opt,
        "--service-account=unused",
    ]);
    plane.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &full);
    let full_json: Value =
        serde_json::from_str(&admin.ok(&["rbac", "-n", &ns.name, &name_opt, "-o", "json"]))
            .unwrap();
    let kinds: Vec<&str> = full_json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding"
        ]
    );

    // The namespace's part, applied for the ServiceAccount binderctl.
    let part = admin.ok(&["rbac", "-n", &ns.name, "--namespace-only"]);
    assert!(!part.contains("ClusterRole"), "{part}");
    plane.kubectl_stdin(&["apply", "-f", "-"], &part);
    plane.kubectl_stdin(
        &["create", "-n", &ns.name, "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: jupyter-alice\n  labels:\n    \
         component: singleuser-server\n    release: binder\nspec:\n  containers:\n  - name: notebook\n    \
         image: registry.example/lab/binder-course:0123abc\n",
    );

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = account_kubeconfig(plane, &ns.name, "binderctl", dir.path());
    let account =
        Binderctl::new(plane, Flavor::Plain, HelmMajor::Four).with_kubeconfig(&kubeconfig);
    let run = |args: &[&str]| account.run(args);

    // The namespaced commands work.
    for args in [
        vec!["pods", "ls", "-n", &ns.name, "-o", "json"],
        vec!["volumes", "ls", "-n", &ns.name],
        vec!["quota", "show", "-n", &ns.name],
        vec!["egress", "show", "-n", &ns.name],
        vec!["status", "-n", &ns.name],
    ] {
        let out = run(&args);
        assert!(
            out.status.success(),
            "{args:?} as the namespace's account:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    // Helm reads its release records (Secrets) there too: no release is
    // an answer, not a refusal.
    let out = run(&["history", "-n", &ns.name]);
    assert!(!stderr(&out).contains("not allowed"), "{}", stderr(&out));
    let out = run(&["pods", "purge", "jupyter-", "-n", &ns.name, "--yes"]);
    assert!(out.status.success(), "purge:\n{}", stderr(&out));
    assert!(stderr(&out).contains("Deleted 1 pod"), "{}", stderr(&out));

    // What needs the cluster part stops with one line naming the permission.
    let account_id = format!("system:serviceaccount:{}:binderctl", ns.name);
    let out = run(&["nodes", "ls"]);
    let said = stderr(&out);
    assert!(!out.status.success());
    assert!(
        said.contains(&format!(
            "not allowed: {account_id} may not list nodes at the cluster scope"
        )) && said.contains("binderctl rbac"),
        "{said}"
    );
    assert!(said.lines().count() <= 2, "a wall of errors:\n{said}");

    let class = format!("e2e-rbac-{}", ns.name);
    account.write(
        "class.yaml",
        &format!(
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {class}\nprovisioner: example.test/none\n"
        ),
    );
    let out = run(&["storage", "apply", "-f", "class.yaml"]);
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!("not allowed: {account_id} may not"))
            && said.contains("storageclasses.storage.k8s.io at the cluster scope"),
        "{said}"
    );
    assert!(
        plane.get_json(None, "storageclass", &class).is_none(),
        "the class was made"
    );

    // deploy needs the cluster part (the chart's ClusterRoles): it asks the
    // server first and stops before Helm runs, naming what is missing.
    let Some(charts) = cluster::chart_repository() else {
        return;
    };
    let dns = DnsServer::start(Zone::new().a("files.example", ["192.0.2.20"]));
    let lists = HttpServer::published_lists();
    account.write(
        "binder.yaml",
        "config:\n  BinderHub:\n    use_registry: true\n    hub_url: http://192.0.2.100\n\
         jupyterhub:\n  singleuser:\n    networkPolicy:\n      enabled: true\n      \
         egressAllowRules:\n        nonPrivateIPs: false\n      domain_whitelist: [files.example]\n",
    );
    let secret = account.write(
        "secret.yaml",
        "registry:\n  username: lab\n  password: e2e-token-0000\n",
    );
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let options = [
        format!("--nameserver={}", dns.addr),
        format!("--github-meta-url={}", lists.url("/meta")),
        format!("--fastly-url={}", lists.url("/fastly")),
        format!("--chart-repo-url={}", charts.url("/charts/")),
    ];
    let mut args = vec![
        "deploy",
        "-n",
        &ns.name,
        "--version=1.0.0-0.dev.git.3959.hb9fad995",
    ];
    args.extend(options.iter().map(String::as_str));
    let out = run(&args);
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("not allowed: your account may not create clusterroles.rbac.authorization.k8s.io at the cluster scope"),
        "{said}"
    );
    let releases = plane.kubectl_ok(&[
        "get",
        "secrets",
        "-n",
        &ns.name,
        "-l",
        "owner=helm",
        "-o",
        "name",
    ]);
    assert!(
        releases.trim().is_empty(),
        "Helm recorded a release: {releases}"
    );
    assert!(
        plane.names(&ns.name, "deployments", None).is_empty(),
        "the chart was half installed"
    );
}
