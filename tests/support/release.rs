//! What a deploy of the real chart needs beside the control plane: the
//! chart repository and the render's DNS and HTTP sources on loopback, the
//! volume of the hub's database, and a guard that uninstalls the release
//! however a test ends.

use super::cluster::{self, ControlPlane};
use super::dns_server::{DnsServer, Zone};
use super::http_server::HttpServer;

/// Everything a deploy needs beside the cluster: the chart repository and
/// the DNS and HTTP sources of the render.
pub struct Sources {
    pub charts: HttpServer,
    pub dns: DnsServer,
    pub lists: HttpServer,
}

impl Sources {
    pub fn start() -> Option<Sources> {
        Some(Sources {
            charts: cluster::chart_repository()?,
            dns: DnsServer::start(Zone::new().a("files.example", ["192.0.2.20"])),
            lists: HttpServer::published_lists(),
        })
    }

    /// The options that point a render at these sources.
    pub fn options(&self) -> Vec<String> {
        vec![
            format!("--nameserver={}", self.dns.addr),
            format!("--github-meta-url={}", self.lists.url("/meta")),
            format!("--fastly-url={}", self.lists.url("/fastly")),
        ]
    }
}

/// Uninstalls the test's release if the test ends before `uninstall` did:
/// the chart's ClusterRoles outlive a deleted namespace and would block the
/// next install of the same release name.
pub struct ReleaseGuard<'a> {
    pub plane: &'a ControlPlane,
    pub release: &'a str,
    pub namespace: String,
}

impl Drop for ReleaseGuard<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new(&self.plane.helm)
            .args([
                "uninstall",
                self.release,
                "-n",
                &self.namespace,
                "--ignore-not-found",
            ])
            .arg(format!("--kubeconfig={}", self.plane.kubeconfig.display()))
            .output();
        let _ = self.plane.kubectl(&[
            "delete",
            "pv",
            &hub_db_volume(&self.namespace),
            "--wait=false",
        ]);
    }
}

pub fn hub_db_volume(namespace: &str) -> String {
    format!("e2e-hub-db-{namespace}")
}

/// The hub's database claim (`hub-db-dir`) needs a volume; a lab's storage
/// add-on provisions one, here the test provides it up front (a volume
/// pre-bound to the claim, as an administrator without a provisioner would).
pub fn hub_db_dir_volume(plane: &ControlPlane, namespace: &str) {
    plane.kubectl_stdin(
        &["create", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: {}\nspec:\n  \
             capacity:\n    storage: 1Gi\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n  \
             claimRef:\n    namespace: {namespace}\n    name: hub-db-dir\n  \
             hostPath:\n    path: /var/lib/e2e/hub-db\n",
            hub_db_volume(namespace)
        ),
    );
}
