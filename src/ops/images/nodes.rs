//! `images ls|rm --node N... | --all-nodes`: the images of other nodes,
//! read and removed through one helper pod per node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cluster::confirm::confirm;
use crate::cluster::node_helper::{HelperContainer, HelperPod};
use crate::cluster::target::Target;
use crate::error::{NotConfirmed, Outcome};
use crate::ops::images::model::{self as images, Image, Keep, Matcher, Selection};
use crate::output;
use crate::output::format::OutputOptions;
use crate::output::table::{format_table_styled, TableStyle};
use crate::output::{format, plural};

use crate::ops::nodes::fanout::{finish, for_each_node, last_lines};
use crate::ops::nodes::helper_pods::{NodeTargets, Remote};

use crate::ops::images::model::ImageMatch;

use crate::output::size::{format_size, parse_size};

/// One node's images as its helper pod listed them, and the images its
/// containers use (when asked for).
struct NodeImages {
    images: Vec<Image>,
    in_use: Vec<String>,
}

async fn read_images(
    remote: &Remote,
    index: usize,
    node: &str,
    matching: &ImageMatch,
    with_containers: bool,
) -> Result<NodeImages> {
    let mut containers = vec![HelperContainer::new(
        "images",
        remote.ctr(node, matching, &["images", "ls"]),
    )];
    if with_containers {
        containers.push(HelperContainer::new(
            "containers",
            remote.ctr(node, matching, &["containers", "ls"]),
        ));
    }
    let pod = HelperPod::new(&remote.target(node), index, "read", containers);
    let run = remote.run_pod(&pod).await?;
    if let Some(why) = &run.failure {
        bail!(
            "node {node}: the node's ctr failed ({why}): {}",
            last_lines(&run.logs)
        );
    }
    let (_, images) = images::parse_ctr_images(run.log("images"));
    Ok(NodeImages {
        images,
        in_use: images::parse_container_images(run.log("containers")),
    })
}

/// An image as `images ls --all-nodes` shows it: where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterImage {
    #[serde(rename = "ref")]
    pub reference: String,
    pub digest: String,
    pub size: String,
    pub nodes: Vec<String>,
}

/// One row per image reference, with the nodes that have it, in order.
pub fn merge_images(
    per_node: &[(String, Vec<Image>)],
    matcher: Option<&Matcher>,
) -> Vec<ClusterImage> {
    let mut merged: BTreeMap<String, ClusterImage> = BTreeMap::new();
    for (node, images) in per_node {
        for image in images {
            if matcher.is_some_and(|m| !m.matches(&image.reference)) {
                continue;
            }
            let record = images::ImageRecord::new(image);
            let entry = merged
                .entry(image.reference.clone())
                .or_insert_with(|| ClusterImage {
                    reference: record.reference,
                    digest: record.digest,
                    size: record.size,
                    nodes: Vec::new(),
                });
            entry.nodes.push(node.clone());
        }
    }
    merged.into_values().collect()
}

/// The `images ls --all-nodes` table: REF, SIZE, NODES (DIGEST with -o wide).
pub fn format_cluster_images(images: &[ClusterImage], style: TableStyle) -> String {
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|i| {
            let mut row = vec![i.reference.clone()];
            if style.wide {
                row.push(i.digest.clone());
            }
            row.push(i.size.clone());
            row.push(i.nodes.join(","));
            row
        })
        .collect();
    let headers: &[&str] = if style.wide {
        &["REF", "DIGEST", "SIZE", "NODES"]
    } else {
        &["REF", "SIZE", "NODES"]
    };
    format_table_styled(headers, &rows, style)
}

/// `images ls [PATTERN] --node N... | --all-nodes`.
pub async fn images_ls(
    target: &Target,
    matcher: Option<Matcher>,
    matching: &ImageMatch,
    targets: &NodeTargets,
    output_args: &OutputOptions,
) -> Result<Outcome> {
    let remote = Arc::new(Remote::new(target, targets));
    let nodes = remote.ready_nodes(targets, true).await?;
    remote.prepare().await?;
    let results = for_each_node(&nodes, |index, node| {
        let (remote, matching) = (remote.clone(), matching.clone());
        async move { read_images(&remote, index, &node, &matching, false).await }
    })
    .await;
    let mut listed = Vec::new();
    let mut failed = Vec::new();
    for (node, result) in results {
        match result {
            Ok(found) => listed.push((node, found.images)),
            Err(err) => failed.push((node, err)),
        }
    }
    let merged = merge_images(&listed, matcher.as_ref());
    if merged.is_empty() && format::is_table(output_args) {
        output::info("No images match.");
    } else {
        format::print(
            output_args,
            &merged,
            || merged.iter().map(|i| i.reference.clone()).collect(),
            |style| format_cluster_images(&merged, style),
        )?;
    }
    finish(&failed, nodes.len())
}

/// The space the removed refs held: each removed image's size once (its
/// refs share the content), when no ref that stays still holds it.
pub fn bytes_freed(images: &[Image], removed: &[String]) -> u64 {
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    for image in images.iter().filter(|i| removed.contains(&i.reference)) {
        let size = parse_size(&images::ImageRecord::new(image).size).unwrap_or(0);
        sizes.insert(image.digest.as_str(), size);
    }
    let kept_digest = |d: &str| {
        images
            .iter()
            .any(|i| i.digest == d && !removed.contains(&i.reference))
    };
    sizes
        .iter()
        .filter(|(d, _)| !kept_digest(d))
        .map(|(_, s)| s)
        .sum()
}

/// The helper pod that removes `refs` from `node`: one container per batch.
fn removal_pod(
    remote: &Remote,
    index: usize,
    node: &str,
    matching: &ImageMatch,
    refs: &[String],
    batch: usize,
) -> HelperPod {
    let containers = refs
        .chunks(batch.max(1))
        .enumerate()
        .map(|(i, chunk)| {
            let mut argv = remote.ctr(node, matching, &["images", "rm"]);
            argv.extend(chunk.iter().cloned());
            HelperContainer::new(&format!("rm-{}", i + 1), argv)
        })
        .collect();
    HelperPod::new(&remote.target(node), index, "rm", containers)
}

/// How `images rm --all-nodes` goes about it.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    pub yes: bool,
    pub dry_run: bool,
    pub batch: usize,
    pub keep: Keep,
}

/// `images rm PATTERN --node N... | --all-nodes`: read every node, show per
/// node what goes and what is kept back, confirm naming the nodes, then
/// remove through one helper pod per node.
pub async fn images_rm(
    target: &Target,
    matcher: Matcher,
    matching: &ImageMatch,
    targets: &NodeTargets,
    how: Removal,
) -> Result<Outcome> {
    let remote = Arc::new(Remote::new(target, targets));
    let nodes = remote.ready_nodes(targets, true).await?;
    remote.prepare().await?;
    let with_containers = !how.keep.include_in_use;
    let results = for_each_node(&nodes, |index, node| {
        let (remote, matching) = (remote.clone(), matching.clone());
        async move { read_images(&remote, index, &node, &matching, with_containers).await }
    })
    .await;
    let mut failed = Vec::new();
    let mut plans: Vec<(usize, String, Vec<Image>, Selection)> = Vec::new();
    for (index, (node, result)) in results.into_iter().enumerate() {
        let selected = result.and_then(|found| {
            let selection = images::select(&found.images, &matcher, &found.in_use, how.keep)
                .with_context(|| format!("node {node}"))?;
            Ok((found.images, selection))
        });
        match selected {
            Ok((images, selection)) => {
                report_node_selection(&node, &selection);
                if !selection.remove.is_empty() {
                    plans.push((index, node, images, selection));
                }
            }
            Err(err) => failed.push((node, err)),
        }
    }
    if plans.is_empty() {
        output::info("Nothing to remove on the nodes read.");
        return finish(&failed, nodes.len());
    }
    let names: Vec<&str> = plans.iter().map(|(_, n, _, _)| n.as_str()).collect();
    let total: usize = plans.iter().map(|(_, _, _, s)| s.remove.len()).sum();
    if how.dry_run {
        for (index, node, _, selection) in &plans {
            let pod = removal_pod(
                &remote,
                *index,
                node,
                matching,
                &selection.remove,
                how.batch,
            );
            output::data(&remote.dry_run_text(&pod));
        }
        return finish(&failed, nodes.len());
    }
    let question = format!(
        "Remove {} from {} ({})?",
        plural(total, "image ref", "image refs"),
        plural(plans.len(), "node", "nodes"),
        names.join(", ")
    );
    if !confirm(&question, how.yes).await? {
        return Err(NotConfirmed("nothing removed".into()).into());
    }
    let plan_nodes: Vec<String> = plans.iter().map(|(_, n, _, _)| n.clone()).collect();
    let jobs: Arc<Vec<(usize, Vec<String>)>> = Arc::new(
        plans
            .iter()
            .map(|(i, _, _, s)| (*i, s.remove.clone()))
            .collect(),
    );
    let results = for_each_node(&plan_nodes, |position, node| {
        let (remote, matching, jobs) = (remote.clone(), matching.clone(), jobs.clone());
        async move {
            let (index, refs) = &jobs[position];
            let pod = removal_pod(&remote, *index, &node, &matching, refs, how.batch);
            remote.run_pod(&pod).await
        }
    })
    .await;
    let mut freed_total = 0;
    for ((node, result), (_, _, images, selection)) in results.into_iter().zip(&plans) {
        match result {
            Ok(run) => {
                let removed: Vec<String> = selection
                    .remove
                    .iter()
                    .filter(|r| {
                        run.logs
                            .iter()
                            .any(|(_, t)| t.lines().any(|l| l.trim() == r.as_str()))
                    })
                    .cloned()
                    .collect();
                let freed = bytes_freed(images, &removed);
                freed_total += freed;
                output::info(&format!(
                    "node {node}: removed {} of {} (about {})",
                    removed.len(),
                    plural(selection.remove.len(), "image ref", "image refs"),
                    format_size(freed)
                ));
                if let Some(why) = run.failure {
                    failed.push((
                        node.clone(),
                        anyhow::anyhow!(
                            "node {node}: the removal failed part-way ({why}): {}",
                            last_lines(&run.logs)
                        ),
                    ));
                }
            }
            Err(err) => failed.push((node, err)),
        }
    }
    output::info(&format!(
        "Freed about {} in total on {}.",
        format_size(freed_total),
        plural(plans.len(), "node", "nodes")
    ));
    finish(&failed, nodes.len())
}

/// Per node: what goes, what is kept back and why.
fn report_node_selection(node: &str, selection: &Selection) {
    let mut line = format!(
        "node {node}: {} to remove",
        plural(selection.remove.len(), "image ref", "image refs")
    );
    if !selection.in_use.is_empty() {
        line.push_str(&format!(
            "; kept back {} in use (--include-in-use removes them too)",
            selection.in_use.len()
        ));
    }
    if !selection.system.is_empty() {
        line.push_str(&format!(
            "; kept back {} of system images (--include-system removes them too)",
            selection.system.len()
        ));
    }
    output::info(&line);
    for reference in &selection.remove {
        output::info(&format!("  {reference}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(reference: &str, digest: &str, size: &str) -> Image {
        Image {
            reference: reference.into(),
            digest: digest.into(),
            line: format!("{reference} application/x {digest} {size} linux/amd64 -"),
        }
    }

    #[test]
    fn freed_bytes_count_each_image_once_and_not_when_a_ref_stays() {
        let images = vec![
            image("r/a:1", "sha256:01", "1.0 GiB"),
            image("r/a@sha256:01", "sha256:01", "1.0 GiB"),
            image("r/b:1", "sha256:02", "2.0 MiB"),
            image("r/shared:1", "sha256:02", "2.0 MiB"),
        ];
        let removed = vec!["r/a:1".to_string(), "r/a@sha256:01".into(), "r/b:1".into()];
        assert_eq!(bytes_freed(&images, &removed), 1024 * 1024 * 1024);
    }

    #[test]
    fn images_merge_across_nodes_with_their_nodes() {
        let per_node = vec![
            (
                "n1".to_string(),
                vec![
                    image("r/a:1", "sha256:01", "1.0 GiB"),
                    image("r/b:1", "sha256:02", "2.0 MiB"),
                ],
            ),
            (
                "n2".to_string(),
                vec![image("r/a:1", "sha256:01", "1.0 GiB")],
            ),
        ];
        let merged = merge_images(&per_node, None);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].reference, "r/a:1");
        assert_eq!(merged[0].nodes, ["n1", "n2"]);
        assert_eq!(merged[1].nodes, ["n1"]);
        let only_b = Matcher::new("b:", false).unwrap();
        assert_eq!(merge_images(&per_node, Some(&only_b)).len(), 1);
        let table = format_cluster_images(&merged, TableStyle::default());
        assert!(table.starts_with("REF"), "{table}");
        assert!(table.contains("n1,n2"), "{table}");
    }
}
