//! The cluster's nodes as kubectl lists them: the commands, the parsed
//! rows (name, roles, readiness, addresses, versions) and their table.

use anyhow::Result;
use serde::Serialize;

use crate::cluster::plan::CommandLine;
use crate::cluster::tools::Tools;

use crate::output::table::{format_table_styled, TableStyle};

/// `kubectl get nodes -o json`.
pub fn list_command(tools: &Tools) -> CommandLine {
    tools.kubectl(["get", "nodes", "-o", "json"])
}

/// `kubectl get node NAME -o json`.
pub fn get_command(tools: &Tools, name: &str) -> CommandLine {
    tools.kubectl(["get", "node", name, "-o", "json"])
}

/// `20240501T120000Z` for a time in seconds since the Unix epoch, in UTC.
pub fn utc_stamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// One row of `nodes ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub name: String,
    /// `Ready`, `NotReady` or `Unknown`, with `,SchedulingDisabled` when cordoned.
    pub status: String,
    /// From `node-role.kubernetes.io/<role>` labels; MicroK8s sets none, so
    /// its own `node.kubernetes.io/microk8s-controlplane` / `-worker` labels
    /// count too. `<none>` when there is nothing.
    pub roles: String,
    pub version: String,
    pub internal_ip: String,
    /// The `kubernetes.io/hostname` label, to recognise the node we run on.
    pub hostname: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct NodeList {
    items: Vec<Node>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Node {
    metadata: NodeMetadata,
    spec: NodeSpec,
    status: NodeStatus,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct NodeMetadata {
    name: String,
    labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct NodeSpec {
    unschedulable: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NodeStatus {
    conditions: Vec<NodeCondition>,
    addresses: Vec<NodeAddress>,
    node_info: NodeInfo,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct NodeCondition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct NodeAddress {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NodeInfo {
    kubelet_version: String,
}

impl From<Node> for NodeRow {
    fn from(node: Node) -> Self {
        let ready = node
            .status
            .conditions
            .iter()
            .find(|c| c.kind == "Ready")
            .map(|c| c.status.as_str());
        let mut status = match ready {
            Some("True") => "Ready".to_string(),
            Some(_) => "NotReady".to_string(),
            None => "Unknown".to_string(),
        };
        if node.spec.unschedulable {
            status.push_str(",SchedulingDisabled");
        }
        let labels = &node.metadata.labels;
        let mut roles: Vec<&str> = labels
            .keys()
            .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
            .filter(|r| !r.is_empty())
            .collect();
        if let Some(role) = labels.get("kubernetes.io/role").filter(|r| !r.is_empty()) {
            roles.push(role);
        }
        if roles.is_empty() {
            if labels.contains_key("node.kubernetes.io/microk8s-controlplane") {
                roles.push("control-plane");
            } else if labels.contains_key("node.kubernetes.io/microk8s-worker") {
                roles.push("worker");
            }
        }
        roles.sort_unstable();
        roles.dedup();
        let internal_ip = node
            .status
            .addresses
            .iter()
            .filter(|a| a.kind == "InternalIP")
            .map(|a| a.address.as_str())
            .collect::<Vec<_>>()
            .join(",");
        NodeRow {
            roles: if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            },
            hostname: labels
                .get("kubernetes.io/hostname")
                .cloned()
                .unwrap_or_default(),
            name: node.metadata.name,
            status,
            version: node.status.node_info.kubelet_version,
            internal_ip: if internal_ip.is_empty() {
                "<none>".to_string()
            } else {
                internal_ip
            },
        }
    }
}

/// This machine's host name, if the system says.
pub fn local_hostname() -> Option<String> {
    hostname_under(std::path::Path::new("/"))
}

/// The host name the system under `root` says (its
/// `/proc/sys/kernel/hostname`, else `/etc/hostname`).
pub fn hostname_under(root: &std::path::Path) -> Option<String> {
    ["proc/sys/kernel/hostname", "etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(root.join(path)).ok())
        .map(|text| text.trim().to_string())
        .find(|name| !name.is_empty())
}

/// Whether `node` is the machine named `hostname`: MicroK8s names nodes
/// after the host name, lowercased, and labels them with it.
pub fn is_this_host(node: &NodeRow, hostname: &str) -> bool {
    node.name.eq_ignore_ascii_case(hostname) || node.hostname.eq_ignore_ascii_case(hostname)
}

/// Parse the output of `kubectl get nodes -o json`.
pub fn parse_node_list(json: &str) -> Result<Vec<NodeRow>, serde_json::Error> {
    let list: NodeList = serde_json::from_str(json)?;
    Ok(list.items.into_iter().map(NodeRow::from).collect())
}

/// Parse the output of `kubectl get node NAME -o json`.
pub fn parse_node(json: &str) -> Result<NodeRow, serde_json::Error> {
    serde_json::from_str::<Node>(json).map(NodeRow::from)
}

/// A node as `nodes ls -o json|yaml` shows it (documented field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRecord {
    pub name: String,
    pub status: String,
    pub roles: Vec<String>,
    pub version: String,
    pub internal_ip: Option<String>,
}

impl NodeRecord {
    pub fn new(row: &NodeRow) -> Self {
        let present = |text: &str| (text != "<none>" && !text.is_empty()).then(|| text.to_string());
        NodeRecord {
            name: row.name.clone(),
            status: row.status.clone(),
            roles: present(&row.roles)
                .map(|r| r.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            version: row.version.clone(),
            internal_ip: present(&row.internal_ip),
        }
    }
}

/// The node rows as an aligned table with a header.
pub fn node_table(rows: &[NodeRow]) -> String {
    node_table_styled(rows, TableStyle::default())
}

/// [`node_table`], header row optional (every column fits 80 already).
pub fn node_table_styled(rows: &[NodeRow], style: TableStyle) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.status.clone(),
                r.roles.clone(),
                r.version.clone(),
                r.internal_ip.clone(),
            ]
        })
        .collect();
    format_table_styled(
        &["NAME", "STATUS", "ROLES", "VERSION", "INTERNAL-IP"],
        &cells,
        style,
    )
}

/// The Ready condition of a node: whether it is True, and when the kubelet
/// last reported it.
pub fn ready_condition(json: &str) -> Option<(bool, String)> {
    let node: serde_json::Value = serde_json::from_str(json).ok()?;
    let condition = node["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        condition["status"] == "True",
        condition["lastHeartbeatTime"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES_JSON: &str = r#"{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {
      "apiVersion": "v1",
      "kind": "Node",
      "metadata": {
        "name": "u24master",
        "labels": {
          "beta.kubernetes.io/arch": "amd64",
          "kubernetes.io/hostname": "u24master",
          "microk8s.io/cluster": "true",
          "node.kubernetes.io/microk8s-controlplane": "microk8s-controlplane"
        }
      },
      "spec": {},
      "status": {
        "addresses": [
          {"address": "192.0.2.10", "type": "InternalIP"},
          {"address": "u24master", "type": "Hostname"}
        ],
        "conditions": [
          {"type": "MemoryPressure", "status": "False"},
          {"type": "Ready", "status": "True", "reason": "KubeletReady"}
        ],
        "nodeInfo": {"kubeletVersion": "v1.31.1", "osImage": "Ubuntu 24.04.1 LTS"}
      }
    },
    {
      "apiVersion": "v1",
      "kind": "Node",
      "metadata": {
        "name": "u24worker",
        "labels": {
          "kubernetes.io/hostname": "u24worker",
          "node-role.kubernetes.io/worker": "",
          "node.kubernetes.io/microk8s-worker": "microk8s-worker"
        }
      },
      "spec": {"unschedulable": true},
      "status": {
        "addresses": [{"address": "198.51.100.20", "type": "InternalIP"}],
        "conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}],
        "nodeInfo": {"kubeletVersion": "v1.31.1"}
      }
    }
  ]
}"#;

    #[test]
    fn utc_stamps_known_instants() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_714_564_805), "20240501T120005Z");
        assert_eq!(utc_stamp(4_102_444_799), "20991231T235959Z");
    }

    #[test]
    fn node_list_becomes_rows() {
        let rows = parse_node_list(NODES_JSON).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            NodeRow {
                name: "u24master".into(),
                status: "Ready".into(),
                roles: "control-plane".into(),
                version: "v1.31.1".into(),
                internal_ip: "192.0.2.10".into(),
                hostname: "u24master".into(),
            }
        );
        assert_eq!(rows[1].status, "NotReady,SchedulingDisabled");
        assert_eq!(rows[1].roles, "worker");
        assert_eq!(rows[1].internal_ip, "198.51.100.20");
    }

    #[test]
    fn node_without_status_is_unknown_and_table_aligns() {
        let row = parse_node(r#"{"metadata": {"name": "bare"}}"#).unwrap();
        assert_eq!(row.status, "Unknown");
        assert_eq!(row.roles, "<none>");
        assert_eq!(row.internal_ip, "<none>");
        let mut rows = parse_node_list(NODES_JSON).unwrap();
        rows.push(row);
        let table = node_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("NAME        STATUS"), "{table}");
        let ip_column = lines[0].find("INTERNAL-IP").unwrap();
        assert_eq!(lines[1].find("192.0.2.10"), Some(ip_column), "{table}");
        assert_eq!(lines[2].find("198.51.100.20"), Some(ip_column), "{table}");
        assert!(parse_node_list("not json").is_err());
    }
}
