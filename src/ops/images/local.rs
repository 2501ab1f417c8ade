//! `images ls|rm` on this node: containerd's images through `ctr`.

use std::collections::HashSet;

use anyhow::{bail, Result};

use super::model::*;
use crate::cluster::confirm::confirm;
use crate::cluster::runner::{self, Batches, Runner, BATCHES_AT_ONCE};
use crate::cluster::tools::Tools;
use crate::error::{NotConfirmed, Outcome};
use crate::output;
use crate::output::format::OutputOptions;
use crate::output::{format, plural};

pub const THIS_NODE_ONLY: &str =
    "Note: these are the images of this node only; --all-nodes (or --node NAME) acts on the others.";

pub async fn fetch(
    runner: &Runner,
    tools: &Tools,
    matching: &ImageMatch,
) -> Result<(Option<String>, Vec<Image>)> {
    let output = runner
        .query(&list_command(tools, &matching.containerd_namespace))
        .await?;
    Ok(parse_ctr_images(&output))
}

pub fn print_images(output: &OutputOptions, header: Option<&str>, images: &[&Image]) -> Result<()> {
    let records: Vec<ImageRecord> = images.iter().map(|i| ImageRecord::new(i)).collect();
    format::print(
        output,
        &records,
        || images.iter().map(|i| i.reference.clone()).collect(),
        |style| format_images(header, images, style),
    )
}

/// How `images rm` goes about it.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    pub yes: bool,
    pub dry_run: bool,
    /// `--batch-size`, if given.
    pub batch: Option<std::num::NonZeroUsize>,
    pub keep: Keep,
}

pub async fn remove(
    tools: &Tools,
    pattern: &str,
    matching: &ImageMatch,
    how: Removal,
) -> Result<Outcome> {
    if pattern.is_empty() {
        bail!("the pattern is empty, which would match every image; name what to remove");
    }
    let matcher = Matcher::new(pattern, matching.regex)?;
    let runner = Runner::new(how.dry_run);
    // The images and the containers' images: two independent reads, at once.
    let in_use = async {
        if how.keep.include_in_use {
            return Ok(Vec::new());
        }
        let command = containers_command(tools, &matching.containerd_namespace);
        Ok(parse_container_images(&runner.query(&command).await?))
    };
    let ((_, images), container_images) =
        tokio::try_join!(fetch(&runner, tools, matching), in_use)?;
    let selection = select(&images, &matcher, &container_images, how.keep)?;
    output::info(THIS_NODE_ONLY);
    report_kept_back(&selection);
    let refs = &selection.remove;
    if refs.is_empty() {
        let kept = selection.in_use.len() + selection.system.len();
        output::info(&if kept == 0 {
            format!("No images match {pattern:?}; nothing removed.")
        } else {
            format!("Every image matching {pattern:?} is kept back; nothing removed.")
        });
        return Ok(Outcome::Success);
    }
    output::info(&format!(
        "{} on this node will be removed:",
        plural(refs.len(), "image ref", "image refs")
    ));
    for reference in refs {
        output::info(&format!("  {reference}"));
    }
    if !how.dry_run {
        let question = format!(
            "Remove {} from this node?",
            plural(refs.len(), "image ref", "image refs")
        );
        if !confirm(&question, how.yes).await? {
            return Err(NotConfirmed("nothing removed".into()).into());
        }
    }
    let plan = remove_plan(
        tools,
        &matching.containerd_namespace,
        refs,
        runner::batch_size(how.batch, refs.len()),
    );
    // Independent batches, a few at once; a failed one stops none.
    let results = runner.execute_concurrently(&plan, BATCHES_AT_ONCE).await;
    let batches = Batches::new(&plan, results);
    if !how.dry_run {
        report_removal(&batches, refs, tools, &matching.containerd_namespace);
    }
    match batches.into_error() {
        Some(err) => Err(err),
        None => Ok(Outcome::Success),
    }
}

/// What was removed, and each failed batch with the refs it did not remove.
fn report_removal(batches: &Batches, refs: &[String], tools: &Tools, containerd_namespace: &str) {
    // ctr prints each ref it removed and only warns about missing ones.
    let wanted: HashSet<&str> = refs.iter().map(String::as_str).collect();
    let printed = |out: &str| -> Vec<String> {
        out.lines()
            .map(str::trim)
            .filter(|line| wanted.contains(line))
            .map(str::to_string)
            .collect()
    };
    let base_args = remove_command(tools, containerd_namespace).args.len();
    let removed = batches
        .outputs
        .iter()
        .map(|o| printed(o).len())
        .sum::<usize>()
        + batches.done_before_failing(base_args, &printed);
    let mut summary = format!(
        "Removed {removed} of {}.",
        plural(refs.len(), "image ref", "image refs")
    );
    let not_tried = batches.failed_items(base_args, &printed);
    if not_tried > 0 {
        summary.push_str(&format!(
            " {} not removed:",
            plural(not_tried, "ref was", "refs were")
        ));
    }
    output::info(&summary);
    for line in batches.failure_lines(base_args, 10, &printed) {
        output::info(&format!("  {line}"));
    }
}

/// Say how many matched refs stay, and why.
fn report_kept_back(selection: &Selection) {
    if !selection.in_use.is_empty() {
        output::info(&format!(
            "Kept back {} that containers on this node use \
             (--include-in-use removes them too).",
            plural(
                selection.in_use.len(),
                "matching image ref",
                "matching image refs"
            )
        ));
    }
    if !selection.system.is_empty() {
        output::info(&format!(
            "Kept back {} of system images (pause, the hub's own, \
             Kubernetes' and MicroK8s' images; --include-system removes them too).",
            plural(
                selection.system.len(),
                "matching image ref",
                "matching image refs"
            )
        ));
    }
}
