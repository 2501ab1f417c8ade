//! `binderctl status`: the Helm release and its chart version, the pods with
//! their readiness, and the services with their external addresses.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::pods::{self, Pod, PodList, PodRecord};
use super::rollout::Workload;
use crate::cluster::helm::{deployed_release, HelmRelease};
use crate::cluster::plan::CommandLine;
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::Outcome;
use crate::output::format;
use crate::output::format::OutputOptions;
use crate::output::table::{format_table_styled, TableStyle};

/// What `status` is asked to do.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub output: OutputOptions,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceList {
    #[serde(default)]
    pub items: Vec<Service>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Service {
    #[serde(default)]
    pub metadata: ServiceMeta,
    #[serde(default)]
    pub spec: ServiceSpec,
    #[serde(default)]
    pub status: ServiceStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceMeta {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default, rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    #[serde(default, rename = "externalIPs")]
    pub external_ips: Vec<String>,
    #[serde(default)]
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    #[serde(default)]
    pub port: u32,
    #[serde(default)]
    pub node_port: Option<u32>,
    #[serde(default)]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    #[serde(default)]
    pub load_balancer: LoadBalancerStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LoadBalancerStatus {
    #[serde(default)]
    pub ingress: Vec<LoadBalancerIngress>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LoadBalancerIngress {
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
}

impl ServiceList {
    /// The first external address (IP or host name) of the service `name`.
    pub fn external_address(&self, name: &str) -> Option<String> {
        let service = self.items.iter().find(|s| s.metadata.name == name)?;
        let ingress = service.status.load_balancer.ingress.first()?;
        ingress.ip.clone().or_else(|| ingress.hostname.clone())
    }
}

impl Service {
    /// External addresses as kubectl shows them: load-balancer IPs or
    /// hostnames and external IPs; `<pending>` for a load balancer that has
    /// none yet; `<none>` otherwise.
    pub fn external_addresses(&self) -> String {
        let mut addresses: Vec<String> = self
            .status
            .load_balancer
            .ingress
            .iter()
            .filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
            .collect();
        addresses.extend(self.spec.external_ips.iter().cloned());
        if !addresses.is_empty() {
            return addresses.join(",");
        }
        if self.spec.kind.as_deref() == Some("LoadBalancer") {
            "<pending>".to_string()
        } else {
            "<none>".to_string()
        }
    }

    pub fn ports(&self) -> String {
        let ports: Vec<String> = self
            .spec
            .ports
            .iter()
            .map(|p| {
                let protocol = p.protocol.as_deref().unwrap_or("TCP");
                match p.node_port {
                    Some(node) => format!("{}:{node}/{protocol}", p.port),
                    None => format!("{}/{protocol}", p.port),
                }
            })
            .collect();
        if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports.join(",")
        }
    }
}

/// `kubectl get services -n NS -o json`.
pub fn services_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl(["get", "services", "-n", namespace, "-o", "json"])
}

/// The release paragraph.
pub fn format_release(release: Option<&HelmRelease>, name: &str, namespace: &str) -> String {
    match release {
        None => format!("Release {name}: not installed in namespace {namespace}\n"),
        Some(r) => {
            let version = r.chart_version().unwrap_or("unknown");
            // `binderhub-1.2.3` is chart and version in one word.
            let chart = r
                .chart
                .strip_suffix(&format!("-{version}"))
                .unwrap_or(&r.chart);
            format!(
                "Release {name} in namespace {namespace}: {}, revision {}\nUpdated: {}\n\
                 Chart: {chart}, version {version}\n",
                r.status, r.revision, r.updated,
            )
        }
    }
}

/// The workloads table: KIND, NAME, READY (`ready/desired` pods).
pub fn format_workloads(workloads: &[Workload], style: TableStyle) -> String {
    let rows: Vec<Vec<String>> = workloads
        .iter()
        .map(|w| {
            vec![
                w.kind.clone(),
                w.name.clone(),
                format!("{}/{}", w.ready, w.desired),
            ]
        })
        .collect();
    format_table_styled(&["KIND", "NAME", "READY"], &rows, style)
}

/// The services table; CLUSTER-IP only with `-o wide`.
pub fn format_services(services: &[Service], style: TableStyle) -> String {
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            let mut row = vec![
                s.metadata.name.clone(),
                s.spec.kind.clone().unwrap_or_else(|| "ClusterIP".into()),
            ];
            if style.wide {
                row.push(s.spec.cluster_ip.clone().unwrap_or_else(|| "<none>".into()));
            }
            row.extend([s.external_addresses(), s.ports()]);
            row
        })
        .collect();
    let headers: &[&str] = if style.wide {
        &["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"]
    } else {
        &["NAME", "TYPE", "EXTERNAL-IP", "PORT(S)"]
    };
    format_table_styled(headers, &rows, style)
}

/// `status -o json|yaml` (documented field names).
#[derive(Debug, Serialize)]
pub struct StatusRecord {
    pub release: ReleaseRecord,
    pub pods: Vec<PodRecord>,
    /// Deployments, StatefulSets and DaemonSets, with their ready pods.
    pub workloads: Vec<Workload>,
    pub services: Vec<ServiceRecord>,
}

#[derive(Debug, Serialize)]
pub struct ReleaseRecord {
    pub name: String,
    pub namespace: String,
    pub installed: bool,
    pub status: Option<String>,
    pub revision: Option<String>,
    pub updated: Option<String>,
    pub chart: Option<String>,
    pub chart_version: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ServiceRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub cluster_ip: Option<String>,
    /// Load-balancer addresses and external IPs; empty when there are none.
    pub external_addresses: Vec<String>,
    /// `PORT[:NODEPORT]/PROTOCOL`, as the PORT(S) column.
    pub ports: Vec<String>,
}

impl ReleaseRecord {
    pub fn new(release: Option<&HelmRelease>, name: &str, namespace: &str) -> Self {
        let field = |f: fn(&HelmRelease) -> &str| release.map(|r| f(r).to_string());
        ReleaseRecord {
            name: name.to_string(),
            namespace: namespace.to_string(),
            installed: release.is_some(),
            status: field(|r| &r.status),
            revision: field(|r| &r.revision),
            updated: field(|r| &r.updated),
            chart: field(|r| &r.chart),
            chart_version: release.and_then(|r| r.chart_version()).map(str::to_string),
        }
    }
}

impl ServiceRecord {
    pub fn new(service: &Service) -> Self {
        let external = service.external_addresses();
        ServiceRecord {
            name: service.metadata.name.clone(),
            kind: service
                .spec
                .kind
                .clone()
                .unwrap_or_else(|| "ClusterIP".into()),
            cluster_ip: service.spec.cluster_ip.clone(),
            external_addresses: if external.starts_with('<') {
                Vec::new()
            } else {
                external.split(',').map(str::to_string).collect()
            },
            ports: if service.spec.ports.is_empty() {
                Vec::new()
            } else {
                service.ports().split(',').map(str::to_string).collect()
            },
        }
    }
}

/// The whole report. Only names, states and addresses are shown: nothing
/// from the pods' environment or the release's values (which hold secrets).
pub fn format_status(release_text: String, pods: &[Pod], services: &[Service], now: i64) -> String {
    format_status_styled(
        release_text,
        pods,
        &[],
        services,
        now,
        TableStyle::default(),
    )
}

/// [`format_status`] with wide tables or without their header rows.
pub fn format_status_styled(
    release_text: String,
    pods: &[Pod],
    workloads: &[Workload],
    services: &[Service],
    now: i64,
    style: TableStyle,
) -> String {
    let mut out = release_text;
    out.push('\n');
    if pods.is_empty() {
        out.push_str("Pods: none\n");
    } else {
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        out.push_str(&format!("Pods ({ready} of {} ready):\n", pods.len()));
        out.push_str(&pods::format_pods_styled(pods, now, false, style));
    }
    if !workloads.is_empty() {
        let ready = workloads.iter().filter(|w| w.is_ready()).count();
        out.push('\n');
        out.push_str(&format!(
            "Workloads ({ready} of {} ready):\n",
            workloads.len()
        ));
        out.push_str(&format_workloads(workloads, style));
    }
    out.push('\n');
    if services.is_empty() {
        out.push_str("Services: none\n");
    } else {
        out.push_str("Services:\n");
        out.push_str(&format_services(services, style));
    }
    out
}

fn is_ready(pod: &Pod) -> bool {
    let statuses = &pod.status.container_statuses;
    !statuses.is_empty() && statuses.iter().all(|c| c.ready)
}

pub async fn run(target: &Target, options: &StatusOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let runner = Runner::new(false);
    // Five independent reads, all at once: one round trip, not five.
    let (pods_command, services_command) = (
        pods::list_command(&tools, &target.namespace, None),
        services_command(&tools, &target.namespace),
    );
    // The policy's problem (a policy of that name that is not binderctl's,
    // `Forbidden`) is shown with the rest, then makes the exit code.
    let (release, pod_list, workloads, services, egress) = tokio::try_join!(
        deployed_release(&runner, &tools, &target.namespace, &target.release),
        runner.query_json::<PodList>(&pods_command),
        super::rollout::read_workloads(&runner, &tools, &target.namespace),
        runner.query_json::<ServiceList>(&services_command),
        async {
            Ok::<_, anyhow::Error>(
                super::egress::policies::read_policies(&runner, &tools, &target.namespace).await,
            )
        },
    )?;
    let now = crate::cluster::duration::unix_now();
    let record = StatusRecord {
        release: ReleaseRecord::new(release.as_ref(), &target.release, &target.namespace),
        pods: pod_list
            .items
            .iter()
            .map(|p| PodRecord::new(p, now))
            .collect(),
        workloads: workloads.clone(),
        services: services.items.iter().map(ServiceRecord::new).collect(),
    };
    let names = || {
        let mut names = pods::pod_names(&pod_list.items);
        names.extend(workloads.iter().map(Workload::resource));
        names.extend(
            services
                .items
                .iter()
                .map(|s| format!("service/{}", s.metadata.name)),
        );
        names
    };
    format::print(&options.output, &record, names, |style| {
        let mut text = format_status_styled(
            format_release(release.as_ref(), &target.release, &target.namespace),
            &pod_list.items,
            &workloads,
            &services.items,
            now,
            style,
        );
        text.push('\n');
        text.push_str(&match &egress {
            Ok(held) => super::egress::policies::status_line(held, now),
            Err(err) => super::egress::policies::status_problem_line(err),
        });
        text
    })?;
    egress?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_show_external_addresses() {
        let json = r#"{"items": [
            {"metadata": {"name": "proxy-public"}, "spec": {"type": "LoadBalancer", "clusterIP": "198.51.100.152",
              "ports": [{"port": 80, "nodePort": 30774, "protocol": "TCP"}]},
             "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.100"}]}}},
            {"metadata": {"name": "binder"}, "spec": {"type": "LoadBalancer", "clusterIP": "198.51.100.75", "ports": [{"port": 80}]},
             "status": {"loadBalancer": {}}},
            {"metadata": {"name": "hub"}, "spec": {"type": "ClusterIP", "clusterIP": "198.51.100.29", "ports": [{"port": 8081, "protocol": "TCP"}]}}
        ]}"#;
        let list: ServiceList = serde_json::from_str(json).unwrap();
        assert_eq!(
            format_services(&list.items, TableStyle::default()),
            "NAME           TYPE           EXTERNAL-IP   PORT(S)\n\
             proxy-public   LoadBalancer   192.0.2.100   80:30774/TCP\n\
             binder         LoadBalancer   <pending>     80/TCP\n\
             hub            ClusterIP      <none>        8081/TCP\n"
        );
        let wide = TableStyle {
            wide: true,
            headers: true,
        };
        assert_eq!(
            format_services(&list.items, wide),
            "NAME           TYPE           CLUSTER-IP       EXTERNAL-IP   PORT(S)\n\
             proxy-public   LoadBalancer   198.51.100.152   192.0.2.100   80:30774/TCP\n\
             binder         LoadBalancer   198.51.100.75    <pending>     80/TCP\n\
             hub            ClusterIP      198.51.100.29    <none>        8081/TCP\n"
        );
    }

    #[test]
    fn release_paragraph() {
        let release = HelmRelease {
            name: "binder".into(),
            status: "deployed".into(),
            revision: "14".into(),
            chart: "binderhub-1.0.0-0.dev.git.3506.hba24eb2a".into(),
            ..HelmRelease::default()
        };
        let text = format_release(Some(&release), "binder", "binder");
        assert!(text.contains("deployed, revision 14"), "{text}");
        assert!(
            text.contains("Chart: binderhub, version 1.0.0-0.dev.git.3506.hba24eb2a\n"),
            "{text}"
        );
        assert_eq!(
            format_release(None, "binder", "ns"),
            "Release binder: not installed in namespace ns\n"
        );
    }
}
