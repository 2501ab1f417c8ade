//! `images ls|rm`: containerd's images, on this node through `ctr`
//! (`local`) or on other nodes through helper pods (`nodes`); what an image
//! is and which ones a pattern chooses is `model` (pure). May depend on
//! `cluster/`, `output/` and `ops::nodes` (helper pods, fan-out).

pub mod local;
pub mod model;
pub mod nodes;

use anyhow::{bail, Result};

use crate::cluster::runner::{self, Runner};
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::Outcome;
use crate::ops::nodes::helper_pods::NodeTargets;
use crate::output::format::OutputOptions;
use crate::output::{self, format};
use model::{Image, ImageMatch, Keep, Matcher};
use std::num::NonZeroUsize;

/// `images ls`'s options.
#[derive(Debug, Clone)]
pub struct ListOptions {
    pub pattern: Option<String>,
    pub matching: ImageMatch,
    pub targets: NodeTargets,
    pub output: OutputOptions,
}
/// `images rm`'s options.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    pub pattern: String,
    pub matching: ImageMatch,
    pub yes: bool,
    pub dry_run: bool,
    pub batch_size: Option<NonZeroUsize>,
    pub include_system: bool,
    pub include_in_use: bool,
    pub targets: NodeTargets,
}

pub async fn list(target: &Target, options: &ListOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let ListOptions {
        pattern,
        matching,
        targets,
        output,
    } = options;

    let matcher = pattern
        .as_deref()
        .map(|p| Matcher::new(p, matching.regex))
        .transpose()?;
    if targets.remote() {
        return nodes::images_ls(target, matcher, matching, targets, output).await;
    }
    let (header, images) = local::fetch(&Runner::new(false), &tools, matching).await?;
    let shown: Vec<&Image> = images
        .iter()
        .filter(|i| matcher.as_ref().is_none_or(|m| m.matches(&i.reference)))
        .collect();
    if shown.is_empty() && format::is_table(output) {
        output::info("No images match.");
    } else {
        local::print_images(output, header.as_deref(), &shown)?;
    }
    output::info(local::THIS_NODE_ONLY);
    Ok(Outcome::Success)
}

pub async fn remove(target: &Target, options: &RemoveOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let RemoveOptions {
        pattern,
        matching,
        yes,
        dry_run,
        batch_size,
        include_system,
        include_in_use,
        targets,
    } = options;

    let keep = Keep {
        include_system: *include_system,
        include_in_use: *include_in_use,
    };
    if targets.remote() {
        if pattern.is_empty() {
            bail!("the pattern is empty, which would match every image; name what to remove");
        }
        let how = nodes::Removal {
            yes: *yes,
            dry_run: *dry_run,
            // On each node one helper container per batch, run
            // one after another: the smallest default batch count.
            batch: batch_size.map_or(runner::DEFAULT_BATCH.1, std::num::NonZeroUsize::get),
            keep,
        };
        let matcher = Matcher::new(pattern, matching.regex)?;
        return nodes::images_rm(target, matcher, matching, targets, how).await;
    }
    let removal = local::Removal {
        yes: *yes,
        dry_run: *dry_run,
        batch: *batch_size,
        keep,
    };
    local::remove(&tools, pattern, matching, removal).await
}
