//! `binderctl nodes`: list, add and remove nodes; reserve resources for
//! system daemons in MicroK8s' kubelet arguments file.

use crate::error::ShownPath;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{GlobalArgs, NodesCmd, OutputArgs, ToolFlavor};
use crate::cluster::confirm::confirm;
use crate::cluster::duration::unix_now;
use crate::cluster::kubelet_args::Reserved;
use crate::cluster::kubelet_config;
use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::runner::Runner;
use crate::cluster::tools::Tools;
use crate::commands::nodes_remote;
use crate::error::{NotConfirmed, Outcome};
use crate::output;
use crate::output::format;
use crate::output::table::{format_table_styled, TableStyle};

pub async fn run(global: &GlobalArgs, cmd: &NodesCmd) -> Result<Outcome> {
    let tools = Tools::from_global(global);
    match cmd {
        NodesCmd::Ls { output } => ls(&tools, output).await,
        NodesCmd::Disk { output } => nodes_remote::disk(&tools, output).await,
        NodesCmd::Add { worker } => add(&tools, *worker).await,
        NodesCmd::Remove {
            name,
            yes,
            force,
            dry_run,
        } => remove(&tools, name, *yes, *force, *dry_run).await,
        NodesCmd::Reserve {
            cpu,
            memory,
            ephemeral_storage,
            kubelet_args,
            dry_run,
            targets,
            ready_timeout,
            yes,
        } => {
            let reserved = Reserved::new(cpu, memory, ephemeral_storage)?;
            // MicroK8s' arguments file, or kubeadm's config.yaml.
            let kubelet_args = kubelet_args.clone().unwrap_or_else(|| {
                PathBuf::from(format!("/{}", super::doctor::kubelet_file(global.tools)))
            });
            let kubelet_args = &kubelet_args;
            if targets.remote() {
                let rollout = nodes_remote::Rollout {
                    file: kubelet_args.to_string_lossy().into_owned(),
                    dry_run: *dry_run,
                    yes: *yes,
                    ready_timeout: crate::cluster::duration::parse_duration(ready_timeout)?,
                };
                return nodes_remote::reserve(global, targets, &reserved, &rollout).await;
            }
            let mut out = output::StdoutWriter;
            reserve(global.tools, &reserved, kubelet_args, *dry_run, &mut out)
        }
    }
}

/// `kubectl get nodes -o json`.
pub fn list_command(tools: &Tools) -> CommandLine {
    tools.kubectl(["get", "nodes", "-o", "json"])
}

/// `kubectl get node NAME -o json`.
pub fn get_command(tools: &Tools, name: &str) -> CommandLine {
    tools.kubectl(["get", "node", name, "-o", "json"])
}

/// `microk8s add-node` (MicroK8s only).
pub fn add_command(tools: &Tools) -> Result<CommandLine> {
    tools.microk8s(["add-node"])
}

/// `microk8s remove-node NAME [--force]` (MicroK8s only).
pub fn remove_command(tools: &Tools, name: &str, force: bool) -> Result<CommandLine> {
    let mut args = vec!["remove-node", name];
    if force {
        args.push("--force");
    }
    tools.microk8s(args)
}

/// `nodes ls`: `kubectl get nodes -o json` as a table.
async fn ls(tools: &Tools, output: &OutputArgs) -> Result<Outcome> {
    let command = list_command(tools);
    let json = Runner::new(false).query(&command).await?;
    let rows = parse_node_list(&json)
        .with_context(|| format!("`{command}` printed something other than a node list"))?;
    if rows.is_empty() && format::is_table(output) {
        output::info("The cluster has no nodes.");
    } else {
        let records: Vec<NodeRecord> = rows.iter().map(NodeRecord::new).collect();
        let names = || rows.iter().map(|r| format!("node/{}", r.name)).collect();
        format::print(output, &records, names, |style| {
            node_table_styled(&rows, style)
        })?;
    }
    Ok(Outcome::Success)
}

/// `nodes add`: `microk8s add-node`, then only the join commands.
async fn add(tools: &Tools, worker: bool) -> Result<Outcome> {
    let command = add_command(tools)?;
    let runner = Runner::new(false);
    let captured = runner.probe(&command).await?;
    if !captured.success() {
        // MicroK8s explains a refusal (a worker node) on stdout: keep its
        // words, then say what to do.
        output::tool_stderr(&captured.stdout);
        let err = crate::cluster::runner::failed(&command, &captured);
        return Err(
            match crate::cluster::microk8s::own_command_hint(&captured.stdout) {
                Some(hint) => err.context(hint),
                None => err,
            },
        );
    }
    let output = captured.stdout;
    let commands = parse_join_commands(&output);
    if commands.is_empty() {
        anyhow::bail!(
            "`{command}` printed no `microk8s join` command; its output was:\n{}",
            output.trim_end()
        );
    }
    output::data(&join_instructions(&commands, worker));
    Ok(Outcome::Success)
}

/// `nodes remove NAME`: check the node exists and is not this one, remind
/// about `microk8s leave`, confirm, then `microk8s remove-node NAME`.
async fn remove(
    tools: &Tools,
    name: &str,
    yes: bool,
    force: bool,
    dry_run: bool,
) -> Result<Outcome> {
    // Refuses plain tools before anything runs.
    let remove_command = remove_command(tools, name, force)?;
    check_node_name(name)?;

    let runner = Runner::new(dry_run);
    let get = get_command(tools, name);
    let answer = runner.probe(&get).await?;
    if !answer.success() {
        if answer.says_not_found() {
            anyhow::bail!(
                "there is no node named {name:?} in the cluster; `binderctl nodes ls` lists them"
            );
        }
        return Err(crate::cluster::runner::failed(&get, &answer));
    }
    let node = parse_node(&answer.stdout)
        .with_context(|| format!("`{get}` printed something other than a node"))?;

    if let Some(hostname) = local_hostname() {
        if is_this_host(&node, &hostname) {
            anyhow::bail!(
                "{name} is the node binderctl runs on (hostname {hostname}); to take it out of \
                 the cluster, run `microk8s leave` on it, then `microk8s remove-node {name}` on \
                 another node"
            );
        }
    }

    if node.status.starts_with("Ready") {
        output::info(&format!(
            "{name} is still Ready: run `microk8s leave` on {name} first, so that it stops \
             cleanly (or pass --force if it cannot be reached)."
        ));
    } else {
        output::info(&format!(
            "{name} is {}: it has left (`microk8s leave`) or cannot be reached; if it cannot, \
             pass --force.",
            node.status
        ));
    }

    let mut plan = Plan::new();
    plan.push_command(remove_command);
    if !dry_run && !confirm(&format!("Remove node {name} from the cluster?"), yes).await? {
        return Err(NotConfirmed("nothing removed".into()).into());
    }
    runner.execute(&plan).await?;
    if !dry_run {
        output::info(&format!(
            "Removed {name}. Check with `binderctl nodes ls`; redeploy BinderHub if its pods ran there."
        ));
    }
    Ok(Outcome::Success)
}

/// Node names are DNS subdomain names; anything else (in particular a name
/// starting with `-`, which the tools would read as an option) is refused.
fn check_node_name(name: &str) -> Result<()> {
    crate::cluster::names::node(name)
        .map(drop)
        .map_err(anyhow::Error::msg)
}

/// This machine's host name, if the system says.
fn local_hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_string())
        .find(|name| !name.is_empty())
}

/// Whether `node` is the machine named `hostname`: MicroK8s names nodes
/// after the host name, lowercased, and labels them with it.
fn is_this_host(node: &NodeRow, hostname: &str) -> bool {
    node.name.eq_ignore_ascii_case(hostname) || node.hostname.eq_ignore_ascii_case(hostname)
}

/// Set `--kube-reserved` and `--system-reserved` in the kubelet arguments
/// file at `path`. Writes nothing when the file already says so or on
/// `dry_run`; otherwise keeps the original as `PATH.bak-<UTC time>` (a new
/// backup per change, so an earlier one is never overwritten) and replaces
/// the file atomically, keeping its permissions.
pub fn reserve(
    tools: ToolFlavor,
    reserved: &Reserved,
    path: &Path,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let original = read_args_file(path, tools)?;
    let shown = path.shown().to_string();
    let edit = kubelet_config::edit_kubelet_file(&original, reserved)
        .map_err(|why| anyhow::anyhow!("{shown}: {why}"))?;
    let [kube_name, system_name] = kubelet_config::setting_names(&original);
    if edit.is_unchanged() {
        writeln!(
            out,
            "{shown} already reserves {} for Kubernetes and system daemons; nothing to change.",
            reserved.value()
        )?;
        return Ok(Outcome::Success);
    }
    out.write_all(edit.diff(&shown).as_bytes())?;
    if dry_run {
        writeln!(out, "Dry run: {shown} not written.")?;
        return Ok(Outcome::Success);
    }

    let backup = write_backup(path, original.as_bytes())?;
    if let Err(err) = crate::fsutil::write_atomic(path, edit.text.as_bytes()) {
        let hint = sudo_hint_for(&err);
        return Err(err.context(format!(
            "{shown}: cannot write the new kubelet arguments{hint}; it is unchanged (backup: {})",
            backup.shown()
        )));
    }
    writeln!(
        out,
        "Reserved {} for Kubernetes ({kube_name}) and system daemons ({system_name}) in {shown}.",
        reserved.value()
    )?;
    writeln!(out, "The previous file is kept as {}.", backup.shown())?;
    out.write_all(restart_hint(tools, path).as_bytes())?;
    Ok(Outcome::Success)
}

fn read_args_file(path: &Path, tools: ToolFlavor) -> Result<String> {
    let shown = path.shown();
    let bytes = std::fs::read(path).map_err(|err| {
        let hint = match err.kind() {
            std::io::ErrorKind::PermissionDenied => {
                " (the file belongs to root: run binderctl with sudo)".to_string()
            }
            std::io::ErrorKind::NotFound if tools == ToolFlavor::Plain => {
                " (is this a kubeadm node? Otherwise pass --kubelet-args PATH)".to_string()
            }
            std::io::ErrorKind::NotFound => {
                " (is MicroK8s installed on this node? Otherwise pass --kubelet-args PATH)"
                    .to_string()
            }
            _ => String::new(),
        };
        anyhow::anyhow!("{shown}: cannot read the kubelet arguments: {err}{hint}")
    })?;
    String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!("{shown}: not UTF-8 text; is this really the kubelet arguments file?")
    })
}

/// " (run binderctl with sudo)" when the error comes from a denied permission.
fn sudo_hint_for(err: &anyhow::Error) -> &'static str {
    let denied = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    });
    if denied {
        " (run binderctl with sudo)"
    } else {
        ""
    }
}

/// Copy `original` to a new `PATH.bak-<UTC time>` next to `path`, with the
/// same permissions, never overwriting an existing file.
fn write_backup(path: &Path, original: &[u8]) -> Result<PathBuf> {
    let stamp = utc_stamp(u64::try_from(unix_now()).unwrap_or(0));
    let permissions = std::fs::metadata(path).map(|m| m.permissions()).ok();
    for attempt in 0..100u32 {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".bak-{stamp}"));
        if attempt > 0 {
            name.push(format!("-{attempt}"));
        }
        let backup = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&backup);
        let mut file = match file {
            Ok(f) => f,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                let hint = if err.kind() == std::io::ErrorKind::PermissionDenied {
                    " (run binderctl with sudo)"
                } else {
                    ""
                };
                anyhow::bail!("{}: cannot create the backup: {err}{hint}", backup.shown());
            }
        };
        let written = file
            .write_all(original)
            .and_then(|_| file.sync_all())
            .and_then(|_| match &permissions {
                Some(p) => std::fs::set_permissions(&backup, p.clone()),
                None => Ok(()),
            });
        if let Err(err) = written {
            let _ = std::fs::remove_file(&backup);
            anyhow::bail!("{}: cannot write the backup: {err}", backup.shown());
        }
        return Ok(backup);
    }
    anyhow::bail!(
        "{}: too many backups named {}.bak-{stamp}-N; remove some",
        path.shown(),
        path.shown()
    )
}

/// What to run so the kubelet reads its new arguments.
fn restart_hint(tools: ToolFlavor, path: &Path) -> String {
    match tools {
        ToolFlavor::Microk8s => "Restart the kubelet to apply it (MicroK8s 1.21 and later run the kubelet inside kubelite):\n\
             \x20 sudo snap restart microk8s.daemon-kubelite\n\
             On MicroK8s older than 1.21: sudo snap restart microk8s.daemon-kubelet\n\
             Reservations are per node: run `binderctl nodes reserve` on every node.\n"
            .to_string(),
        ToolFlavor::Plain => format!(
            "Restart the kubelet so that it reads {} (e.g. sudo systemctl restart kubelet).\n\
             Reservations are per node: run `binderctl nodes reserve` on every node.\n",
            path.shown()
        ),
    }
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

/// The join commands in the output of `microk8s add-node`, without any
/// `--worker` flag, in order, each once: the first is the one for the
/// default interface, the others are alternatives for other interfaces.
pub fn parse_join_commands(add_node_output: &str) -> Vec<String> {
    let mut commands: Vec<String> = Vec::new();
    for line in add_node_output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 || words.first() != Some(&"microk8s") || words.get(1) != Some(&"join") {
            continue;
        }
        let command = words
            .iter()
            .filter(|w| **w != "--worker")
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if !commands.contains(&command) {
            commands.push(command);
        }
    }
    commands
}

/// What `nodes add` prints: the join command to run on the new node, the
/// alternatives, and the firewall reminder.
pub fn join_instructions(commands: &[String], worker: bool) -> String {
    let suffix = if worker { " --worker" } else { "" };
    let Some((first, others)) = commands.split_first() else {
        return String::new();
    };
    let role = if worker {
        "as a worker (no control plane)"
    } else {
        "as a control-plane node"
    };
    let mut out = format!(
        "On the new node, run this to join it to the cluster {role}:\n\n  {first}{suffix}\n\n"
    );
    if !others.is_empty() {
        out.push_str(
            "If the new node cannot reach this one through its default interface, use one of:\n",
        );
        for other in others {
            out.push_str(&format!("  {other}{suffix}\n"));
        }
        out.push('\n');
    }
    out.push_str(
        "Each join command works once and expires: run `binderctl nodes add` again for every new \
         node. Install the same MicroK8s version on both \
         nodes and join before enabling add-ons.\n\
         The nodes must reach each other through the firewall: 25000/tcp (joining), 16443/tcp \
         (API server), 10250/tcp (kubelet), 19001/tcp (dqlite) and 4789/udp (Calico VXLAN); see \
         https://microk8s.io/docs/services-and-ports\n\
         Then check with `binderctl nodes ls` and redeploy BinderHub (`binderctl deploy`).\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_known_instants() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_714_564_805), "20240501T120005Z");
        assert_eq!(utc_stamp(4_102_444_799), "20991231T235959Z");
    }

    fn reserved() -> Reserved {
        Reserved::new("1", "512Mi", "10Gi").unwrap()
    }

    #[test]
    fn reserve_writes_once_with_one_backup_then_reports_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet");
        std::fs::write(&path, "--a=1\n--kube-reserved=cpu=2\n").unwrap();

        let mut out = Vec::new();
        reserve(ToolFlavor::Microk8s, &reserved(), &path, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("sudo snap restart microk8s.daemon-kubelite"),
            "{text}"
        );
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            after,
            "--a=1\n--kube-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n\
             --system-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n"
        );
        let backups: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p != &path)
            .collect();
        assert_eq!(backups.len(), 1, "{backups:?}");
        assert_eq!(
            std::fs::read_to_string(&backups[0]).unwrap(),
            "--a=1\n--kube-reserved=cpu=2\n"
        );

        let mut out = Vec::new();
        reserve(ToolFlavor::Microk8s, &reserved(), &path, false, &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("nothing to change"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn backups_never_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet");
        std::fs::write(&path, "one\n").unwrap();
        let first = write_backup(&path, b"one\n").unwrap();
        let second = write_backup(&path, b"two\n").unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read_to_string(first).unwrap(), "one\n");
        assert_eq!(std::fs::read_to_string(second).unwrap(), "two\n");
    }

    #[test]
    fn missing_file_error_names_the_path_and_the_option() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let err = reserve(
            ToolFlavor::Microk8s,
            &reserved(),
            &path,
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&path.shown().to_string()) && msg.contains("--kubelet-args"),
            "{msg}"
        );
    }

    const ADD_NODE_OUTPUT: &str = "From the node you wish to join to this cluster, run the following:
microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05

Use the '--worker' flag to join a node as a worker not running the control plane, eg:
microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05 --worker

If the node you are adding is not reachable through the default interface you can use one of the following:
microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05
microk8s join 198.51.100.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05
microk8s join 203.0.113.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05
";

    #[test]
    fn join_commands_are_found_once_each_in_order() {
        let commands = parse_join_commands(ADD_NODE_OUTPUT);
        assert_eq!(
            commands,
            vec![
                "microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05",
                "microk8s join 198.51.100.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05",
                "microk8s join 203.0.113.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05",
            ]
        );
        assert!(
            parse_join_commands("Error: cluster agent not running\nmicrok8s join\n").is_empty()
        );
    }

    #[test]
    fn join_instructions_append_worker_only_when_asked() {
        let commands = parse_join_commands(ADD_NODE_OUTPUT);
        let worker = join_instructions(&commands, true);
        assert!(worker.contains("\n  microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05 --worker\n"));
        assert_eq!(worker.matches("--worker").count(), 3, "{worker}");
        let control = join_instructions(&commands, false);
        assert!(!control.contains("--worker"), "{control}");
        assert!(control.contains("  microk8s join 203.0.113.1:25000/"));
        assert!(control.contains("25000/tcp"));
        assert_eq!(join_instructions(&[], false), "");
    }

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

    #[test]
    fn node_names_must_be_dns_names() {
        for good in ["u24worker", "node1.example", "a", "worker-2"] {
            assert!(check_node_name(good).is_ok(), "{good}");
        }
        for bad in ["", "--force", "-a", "a-", "Node1", "a b", "a/b", "a_b"] {
            let err = check_node_name(bad).unwrap_err();
            assert!(err.to_string().contains("not a node name"), "{bad}: {err}");
        }
    }

    #[test]
    fn this_host_is_recognised_by_name_or_label() {
        let mut node = parse_node(r#"{"metadata": {"name": "u24master"}}"#).unwrap();
        assert!(is_this_host(&node, "u24master"));
        assert!(is_this_host(&node, "U24Master"));
        assert!(!is_this_host(&node, "u24worker"));
        node.name = "other".into();
        node.hostname = "u24master".into();
        assert!(is_this_host(&node, "u24master"));
    }
}
