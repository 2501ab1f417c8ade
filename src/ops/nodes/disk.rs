//! `nodes disk`: each node's filesystems from the kubelet's stats summary
//! (through the API server's node proxy), and the warnings doctor shares.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{Interrupted, Outcome};
use crate::ops::nodes::inventory as nodes;
use crate::output;
use crate::output::format;
use crate::output::format::OutputOptions;
use crate::output::table::{format_table_styled, TableStyle};

use crate::ops::nodes::fanout::for_each_node;

use crate::output::size::format_size;

/// Above this share used, a node's filesystem is reported as filling up.
pub const DISK_WARN_PERCENT: u64 = 85;

/// `kubectl get --raw /api/v1/nodes/NAME/proxy/stats/summary`: the
/// kubelet's own figures, through the API server, without privilege.
pub fn stats_command(tools: &Tools, node: &str) -> crate::cluster::plan::CommandLine {
    tools.kubectl([
        "get",
        "--raw",
        &format!("/api/v1/nodes/{node}/proxy/stats/summary"),
    ])
}

/// A filesystem's size and free space, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FsUsage {
    pub capacity_bytes: u64,
    pub available_bytes: u64,
}

/// A node's disk as `nodes disk` shows it (`-o json`: these fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeDisk {
    pub name: String,
    /// Where containerd keeps images (often the same disk as `node_fs`).
    pub image_fs: Option<FsUsage>,
    pub node_fs: Option<FsUsage>,
    /// Why the figures are missing (NotReady, the stats could not be read).
    pub error: Option<String>,
}

/// The image and node filesystems from the kubelet's stats summary.
pub fn parse_stats_summary(json: &str) -> Option<NodeFs> {
    let summary: serde_json::Value = serde_json::from_str(json).ok()?;
    let usage = |fs: &serde_json::Value| {
        Some(FsUsage {
            capacity_bytes: fs["capacityBytes"].as_u64()?,
            available_bytes: fs["availableBytes"].as_u64()?,
        })
    };
    let node = summary.get("node")?;
    Some((usage(&node["runtime"]["imageFs"]), usage(&node["fs"])))
}

/// The `nodes disk` table.
pub fn format_disks(disks: &[NodeDisk], style: TableStyle) -> String {
    let cell = |fs: Option<FsUsage>, f: &dyn Fn(FsUsage) -> String| fs.map_or("-".to_string(), f);
    let rows: Vec<Vec<String>> = disks
        .iter()
        .map(|d| {
            vec![
                d.name.clone(),
                cell(d.image_fs, &|f| format_size(f.capacity_bytes)),
                cell(d.image_fs, &|f| format_size(f.available_bytes)),
                cell(d.image_fs, &|f| format!("{}%", f.used_percent())),
                cell(d.node_fs, &|f| format_size(f.available_bytes)),
                cell(d.node_fs, &|f| format!("{}%", f.used_percent())),
            ]
        })
        .collect();
    format_table_styled(
        &[
            "NAME",
            "IMAGEFS-SIZE",
            "IMAGEFS-FREE",
            "USED",
            "NODEFS-FREE",
            "USED",
        ],
        &rows,
        style,
    )
}

/// The warnings for nodes above [`DISK_WARN_PERCENT`], naming the node and
/// the commands that free space there.
pub fn disk_warnings(disks: &[NodeDisk]) -> Vec<String> {
    let mut warnings = Vec::new();
    for disk in disks {
        for (what, fs) in [
            ("image filesystem", disk.image_fs),
            ("node filesystem", disk.node_fs),
        ] {
            let Some(fs) = fs else { continue };
            let used = fs.used_percent();
            if used >= DISK_WARN_PERCENT {
                warnings.push(format!(
                    "node {}: its {what} is {used}% used (over {DISK_WARN_PERCENT}%); free space \
                     with `binderctl images rm PATTERN --node {}` (`binderctl images ls --node {}` \
                     shows what is there)",
                    disk.name, disk.name, disk.name
                ));
                break;
            }
        }
    }
    warnings
}

/// Each of `nodes`' stats summaries, at most [`PARALLELISM`] at once, in
/// the nodes' order; a node whose kubelet does not answer is an error.
pub async fn read_stats(tools: &Tools, nodes: &[String]) -> Vec<(String, Result<NodeFs>)> {
    for_each_node(nodes, |_, node| {
        let tools = tools.clone();
        async move {
            let command = stats_command(&tools, &node);
            let answer = Runner::new(false).probe(&command).await?;
            if !answer.success() {
                // What the API server said (the kubelet unreachable, the
                // node proxy refused, no stats endpoint), named as such.
                bail!(
                    "the kubelet's stats summary is unavailable: {}",
                    answer.stderr.trim()
                );
            }
            parse_stats_summary(&answer.stdout).with_context(|| {
                format!("`{command}` printed something other than a stats summary")
            })
        }
    })
    .await
}

/// `nodes disk`: every node's stats summary, at most [`PARALLELISM`] at once.
/// `nodes disk`: every node's filesystems.
pub async fn run(target: &Target, output_args: &OutputOptions) -> Result<Outcome> {
    let tools = &Tools::for_target(target);
    let command = nodes::list_command(tools);
    let json = Runner::new(false).query(&command).await?;
    let rows = nodes::parse_node_list(&json)
        .with_context(|| format!("`{command}` printed something other than a node list"))?;
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let ready: HashMap<String, String> = rows.into_iter().map(|r| (r.name, r.status)).collect();
    let results = read_stats(tools, &names).await;
    let mut disks = Vec::new();
    for (name, result) in results {
        let status = ready.get(&name).cloned().unwrap_or_default();
        let (image_fs, node_fs, error) = match result {
            Ok((image_fs, node_fs)) => (image_fs, node_fs, None),
            Err(err) if err.downcast_ref::<Interrupted>().is_some() => return Err(err),
            Err(err) => {
                output::warn(&format!(
                    "node {name} ({status}): cannot read its disk usage: {err:#}"
                ));
                (None, None, Some(format!("{err:#}")))
            }
        };
        disks.push(NodeDisk {
            name,
            image_fs,
            node_fs,
            error,
        });
    }
    if disks.is_empty() && format::is_table(output_args) {
        output::info("The cluster has no nodes.");
    } else {
        format::print(
            output_args,
            &disks,
            || disks.iter().map(|d| format!("node/{}", d.name)).collect(),
            |style| format_disks(&disks, style),
        )?;
    }
    for warning in disk_warnings(&disks) {
        output::warn(&warning);
    }
    Ok(Outcome::Success)
}

impl FsUsage {
    /// The share used, in percent (rounded up, so 84.5 % counts as 85).
    pub fn used_percent(&self) -> u64 {
        if self.capacity_bytes == 0 {
            return 0;
        }
        let used = self.capacity_bytes.saturating_sub(self.available_bytes);
        (u128::from(used) * 100).div_ceil(u128::from(self.capacity_bytes)) as u64
    }
}

/// A node's image and node filesystems, as [`parse_stats_summary`] reads them.
pub type NodeFs = (Option<FsUsage>, Option<FsUsage>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_summaries_give_both_filesystems_and_full_disks_are_named() {
        let json = r#"{"node":{"nodeName":"w1","fs":{"capacityBytes":1000,"availableBytes":100},
            "runtime":{"imageFs":{"capacityBytes":2000,"availableBytes":1000}}}}"#;
        let (image_fs, node_fs) = parse_stats_summary(json).unwrap();
        assert_eq!(image_fs.unwrap().used_percent(), 50);
        assert_eq!(node_fs.unwrap().used_percent(), 90);
        assert!(parse_stats_summary("{}").is_none());
        let (none, _) = parse_stats_summary(r#"{"node":{"fs":{}}}"#).unwrap();
        assert!(none.is_none());
        let disk = |name: &str, avail: u64| NodeDisk {
            name: name.into(),
            image_fs: Some(FsUsage {
                capacity_bytes: 100,
                available_bytes: avail,
            }),
            node_fs: None,
            error: None,
        };
        // 85 % used is the threshold; 84 % is not.
        let warnings = disk_warnings(&[disk("a", 16), disk("b", 15)]);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("node b: its image filesystem is 85% used"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[0].contains("binderctl images rm PATTERN --node b"),
            "{}",
            warnings[0]
        );
        let table = format_disks(&[disk("a", 16)], TableStyle::default());
        assert!(table.contains("84%"), "{table}");
    }
}
