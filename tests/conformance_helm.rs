//! Conformance tier: `versions` and the repository steps of `deploy`
//! against real Helm 4 and Helm 3, in both tool flavours, with a loopback
//! chart repository serving an `index.yaml` in Helm's format. Helm's
//! configuration, cache and data live in a temp folder per run, so every
//! run starts from a fresh Helm ("no repositories configured").

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::dns_server::{DnsServer, Zone};
use support::http_server::{FastlyList, GitHubMeta, HttpServer, Reply, Routes};
use support::real_tools::unreachable_kubeconfig;
use support::wrapper::{RealTools, RealToolsBin};
use support::{stderr, stdout};

const VERSIONS: [&str; 4] = [
    "1.0.0-0.dev.git.3170.h84b1db9",
    "1.0.0-0.dev.git.3620.h0d3c3ec5",
    "0.2.0-n886.h0c7d5b6",
    "1.0.0-0.dev.git.3506.hba24eb2a",
];

/// An `index.yaml` as Helm writes it (`helm repo index`): binderhub's
/// development versions (not in order) and a chart with a longer name.
fn index_yaml() -> String {
    let entry = |name: &str, version: &str| {
        format!(
            "  - apiVersion: v2\n    appVersion: {version}\n    created: \"2024-05-21T10:02:11.894736189Z\"\n    \
             description: A helm chart to install Binder\n    \
             digest: 4f9a2b1c0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a\n    \
             home: https://binderhub.example\n    name: {name}\n    type: application\n    \
             urls:\n    - {name}-{version}.tgz\n    version: {version}\n"
        )
    };
    let mut text = String::from("apiVersion: v1\nentries:\n  binderhub:\n");
    for version in VERSIONS {
        text.push_str(&entry("binderhub", version));
    }
    text.push_str("  binderhub-service:\n");
    text.push_str(&entry("binderhub-service", "0.1.0-0.dev.git.255.h8b3c5a1"));
    text.push_str("generated: \"2024-05-21T10:05:00.123456789Z\"\n");
    text
}

struct HelmEnv {
    bin: RealToolsBin,
    helm: PathBuf,
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    kubeconfig: PathBuf,
    _kube_dir: tempfile::TempDir,
    http: HttpServer,
    dns: DnsServer,
}

impl HelmEnv {
    fn new(helm: &Path) -> Option<HelmEnv> {
        HelmEnv::serving(helm, index_yaml())
    }

    /// The same, the chart repository serving `index`.
    fn serving(helm: &Path, index: String) -> Option<HelmEnv> {
        let kubectl = support::real_tools::require("kubectl")?;
        let (kube_dir, kubeconfig) = unreachable_kubeconfig();
        let bin = RealToolsBin::new(&RealTools {
            kubectl: &kubectl,
            helm,
            ctr: None,
            kubeconfig: &kubeconfig,
            containerd_socket: None,
        });
        let http = HttpServer::start(
            Routes::new()
                .route(
                    "/helm-chart/index.yaml",
                    Reply::new(200, "text/yaml", index),
                )
                .json("/meta", GitHubMeta::sample().to_json())
                .json("/fastly", FastlyList::sample().to_json()),
        );
        Some(HelmEnv {
            bin,
            helm: helm.to_path_buf(),
            home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            kubeconfig,
            _kube_dir: kube_dir,
            http,
            dns: DnsServer::start(Zone::new().a("files.example", ["192.0.2.20"])),
        })
    }

    fn repo_url(&self) -> String {
        self.http.url("/helm-chart/")
    }

    fn isolate(&self, command: &mut Command) {
        let at = |sub: &str| self.home.path().join(sub);
        command
            .env("HELM_CONFIG_HOME", at("config"))
            .env("HELM_CACHE_HOME", at("cache"))
            .env("HELM_DATA_HOME", at("data"))
            .env("HELM_REPOSITORY_CONFIG", at("config/repositories.yaml"))
            .env("HELM_REPOSITORY_CACHE", at("cache/repository"))
            .env("KUBECONFIG", &self.kubeconfig);
    }

    fn binderctl(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_binderctl"));
        command
            .args(args)
            .env_clear()
            // No MicroK8s snap here: the stand-in is the wrapper.
            .env("BINDERCTL_MICROK8S_SNAP_DATA", "/nonexistent/microk8s")
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.bin.path().display()),
            )
            .env("HOME", self.work.path())
            .env("BINDERCTL_CHART_REPO_URL", self.repo_url())
            .current_dir(self.work.path())
            .stdin(Stdio::null());
        self.isolate(&mut command);
        command.output().unwrap()
    }

    /// The repositories Helm knows, as `helm repo list` reports them.
    fn repos(&self) -> Vec<(String, String)> {
        let mut command = Command::new(&self.helm);
        command.args(["repo", "list", "-o", "json"]);
        self.isolate(&mut command);
        let out = command.output().unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::json!([]));
        json.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["url"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

fn listed_versions(out: &Output) -> Vec<String> {
    stdout(out)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

fn helms() -> Option<Vec<PathBuf>> {
    support::real_tools::require_all(&["helm", "helm3"])
}

#[test]
fn versions_on_a_fresh_helm_adds_the_repository_and_lists_newest_first() {
    let Some(helms) = helms() else { return };
    for helm in &helms {
        for flavour in ["microk8s", "plain"] {
            let Some(env) = HelmEnv::new(helm) else {
                return;
            };
            let case = format!("{} --tools {flavour}", helm.display());
            let out = env.binderctl(&["--tools", flavour, "versions"]);
            assert!(out.status.success(), "{case}: {}", stderr(&out));
            assert_eq!(
                listed_versions(&out),
                vec![
                    "1.0.0-0.dev.git.3620.h0d3c3ec5",
                    "1.0.0-0.dev.git.3506.hba24eb2a",
                    "1.0.0-0.dev.git.3170.h84b1db9",
                    "0.2.0-n886.h0c7d5b6",
                ],
                "{case}: {}",
                stdout(&out)
            );
            let err = stderr(&out);
            let prefix = if flavour == "microk8s" {
                "microk8s helm"
            } else {
                "helm"
            };
            let add = format!("  {prefix} repo add jupyterhub {}", env.repo_url());
            assert!(err.contains(&add), "{case}: {err}");
            // The cluster is unreachable: said, but the versions still show.
            assert!(
                err.contains("Cannot tell which version is deployed"),
                "{case}: {err}"
            );
            assert_eq!(
                env.repos(),
                vec![("jupyterhub".to_string(), env.repo_url())],
                "{case}"
            );
            // `helm repo add` fetches the index, `helm repo update` again.
            assert_eq!(env.http.requests("/helm-chart/index.yaml"), 2, "{case}");

            // Known and cached now: listed without adding or fetching again.
            let out = env.binderctl(&["--tools", flavour, "versions", "--limit", "2"]);
            assert!(out.status.success(), "{case}: {}", stderr(&out));
            assert_eq!(listed_versions(&out).len(), 2, "{case}");
            assert!(
                !stderr(&out).contains("repo add"),
                "{case}: {}",
                stderr(&out)
            );
            assert_eq!(env.http.requests("/helm-chart/index.yaml"), 2, "{case}");
        }
    }
}

/// The shared chart repository next to the checkout (`../shared/charts`),
/// read at test time: binderctl lists its versions in the order real Helm
/// 4 and Helm 3 give them.
#[test]
fn versions_orders_the_shared_chart_index_as_real_helm_does() {
    let Some(helms) = helms() else { return };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/charts/index.yaml");
    let index = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared chart repository)", path.display()));
    for helm in &helms {
        let Some(env) = HelmEnv::serving(helm, index.clone()) else {
            return;
        };
        let helm_says = |args: &[&str]| {
            let mut command = Command::new(helm);
            command.args(args);
            env.isolate(&mut command);
            let out = command.output().unwrap();
            assert!(out.status.success(), "{}: {}", helm.display(), stderr(&out));
            out
        };
        helm_says(&["repo", "add", "shared", &env.repo_url()]);
        let out = helm_says(&[
            "search",
            "repo",
            "shared/binderhub",
            "--versions",
            "--devel",
            "-o",
            "json",
        ]);
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let helm_order: Vec<String> = found
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["name"] == "shared/binderhub")
            .map(|v| v["version"].as_str().unwrap().to_string())
            .collect();
        assert!(helm_order.len() > 1, "{}: {helm_order:?}", helm.display());

        let out = env.binderctl(&["--tools", "plain", "versions"]);
        assert!(out.status.success(), "{}: {}", helm.display(), stderr(&out));
        assert_eq!(listed_versions(&out), helm_order, "{}", helm.display());
    }
}

const BINDER_YAML: &str = "config:\n  BinderHub:\n    hub_url: http://192.0.2.100\njupyterhub:\n  singleuser:\n    networkPolicy:\n      enabled: true\n      egressAllowRules:\n        nonPrivateIPs: false\n      domain_whitelist: [files.example]\n";

#[test]
fn deploy_stops_at_an_unreachable_cluster_before_helms_repositories_change() {
    use std::os::unix::fs::PermissionsExt;
    let Some(helms) = helms() else { return };
    for helm in &helms {
        let Some(env) = HelmEnv::new(helm) else {
            return;
        };
        std::fs::write(env.work.path().join("binder.yaml"), BINDER_YAML).unwrap();
        let secret = env.work.path().join("secret.yaml");
        std::fs::write(
            &secret,
            "registry:\n  username: lab\n  password: not-a-secret\n",
        )
        .unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ns = env.dns.addr.to_string();
        let (meta, fastly) = (env.http.url("/meta"), env.http.url("/fastly"));
        let out = env.binderctl(&[
            "deploy",
            "--version",
            "1.0.0-0.dev.git.3620.h0d3c3ec5",
            "--nameserver",
            &ns,
            "--github-meta-url",
            &meta,
            "--fastly-url",
            &fastly,
        ]);
        let case = helm.display().to_string();
        // The deploy asks the cluster first (the release, the policy, its
        // permissions): an unreachable one stops it before Helm's
        // repositories change. (The repository steps against a reachable
        // cluster are in tests/e2e_release.rs.)
        assert!(!out.status.success(), "{case}: {}", stderr(&out));
        assert!(env.repos().is_empty(), "{case}: {:?}", env.repos());
        assert_eq!(env.http.requests("/helm-chart/index.yaml"), 0, "{case}");
        let err = stderr(&out);
        assert!(err.contains("`microk8s kubectl "), "{case}: {err}");
        assert!(!err.contains("`microk8s helm upgrade"), "{case}: {err}");
        assert!(
            !err.contains("not-a-secret") && !stdout(&out).contains("not-a-secret"),
            "{case}: the secret was printed"
        );
    }
}
