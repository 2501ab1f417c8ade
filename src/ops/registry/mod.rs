//! `registry ls|prune`: the images BinderHub pushed under its image prefix,
//! listed newest first or pruned by age. Finds the registry, its
//! credentials and the prefix (`connect`), lists the tags through
//! `registry/`, chooses and deletes (`prune`), and prints (`show`,
//! `output`). Takes plain options ([`Config`], [`ListOptions`],
//! [`PruneOptions`]), never clap's types; credentials are never printed.

mod connect;
pub mod prune;
pub mod show;

use std::time::Duration;

use anyhow::Result;

use crate::cluster::confirm::confirm;
use crate::cluster::duration::format_age;
use crate::error::{Interrupted, NotConfirmed, Outcome, Problems};
use crate::output::format::{self, OutputOptions};
use crate::output::{self, plural};
use crate::registry::{select, Listing, Tag};

pub use connect::{connect, Config, Target, DEFAULT_SECRET};
pub use show::format_size;

/// Lines of problems shown before the rest are only counted.
const PROBLEMS_SHOWN: usize = 10;

/// What `registry ls` prints.
#[derive(Debug, Clone)]
pub struct ListOptions {
    pub registry: Config,
    /// Only tags pushed longer ago than this.
    pub older_than: Option<Duration>,
    pub output: OutputOptions,
    /// Now, in Unix seconds.
    pub now: i64,
}

/// What `registry prune` deletes, and how.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub registry: Config,
    /// Only tags pushed longer ago than this go.
    pub older_than: Duration,
    /// The newest this many of each repository stay.
    pub keep: usize,
    /// Print the requests, delete nothing.
    pub dry_run: bool,
    /// Do not ask.
    pub yes: bool,
    /// Deletions under way at once (1 to [`prune::MAX_AT_ONCE`]).
    pub parallel: usize,
    /// Now, in Unix seconds.
    pub now: i64,
}

/// Every tag under the prefix, newest first.
pub async fn fetch(target: &Target) -> Result<Listing> {
    let prefix = target.prefix.repo_prefix();
    let mut listing = tokio::select! {
        listing = target.registry.list(&prefix) => listing?,
        () = crate::cluster::runner::interrupted() => return Err(Interrupted.into()),
    };
    // The clients list only what is under the prefix; make sure of it.
    listing.tags.retain(|t| prefix.covers(&t.repository));
    select::sort_newest_first(&mut listing.tags);
    Ok(listing)
}

/// Warn about the tags whose details could not be read.
fn warn_problems(listing: &Listing, consequence: &str) {
    for problem in listing.problems.iter().take(PROBLEMS_SHOWN) {
        output::warn(problem);
    }
    if listing.problems.len() > PROBLEMS_SHOWN {
        output::warn(&format!(
            "{} more like these",
            listing.problems.len() - PROBLEMS_SHOWN
        ));
    }
    if !listing.problems.is_empty() && !consequence.is_empty() {
        output::warn(consequence);
    }
}

/// `registry ls`.
pub async fn list(options: &ListOptions) -> Result<Outcome> {
    let ListOptions {
        registry,
        older_than,
        output: output_options,
        now,
    } = options;
    let now = *now;
    let target = connect(registry).await?;
    let listing = fetch(&target).await?;
    warn_problems(&listing, "");
    let shown: Vec<&Tag> = listing
        .tags
        .iter()
        .filter(|t| older_than.is_none_or(|d| select::is_older(t, d, now)))
        .collect();
    if shown.is_empty() && format::is_table(output_options) {
        let age = older_than
            .map(|d| format!(" pushed more than {} ago", format_age(d)))
            .unwrap_or_default();
        output::info(&format!("No tags{age} under {}.", target.describe()));
        return Ok(Outcome::Success);
    }
    let records: Vec<show::TagRecord> = shown
        .iter()
        .map(|t| show::TagRecord::new(&target, t, now))
        .collect();
    format::print(
        output_options,
        &records,
        || records.iter().map(|r| r.image.clone()).collect(),
        |style| show::format_tags(&shown, now, style),
    )?;
    if format::is_table(output_options) {
        let bytes: u64 = shown.iter().filter_map(|t| t.size).sum();
        output::info(&format!(
            "{} in {}, {} (layers shared between images count in each).",
            plural(shown.len(), "tag", "tags"),
            plural(listing.repositories, "repository", "repositories"),
            format_size(bytes)
        ));
    }
    Ok(Outcome::Success)
}

/// `registry prune`.
pub async fn prune(options: &PruneOptions) -> Result<Outcome> {
    let now = options.now;
    let target = connect(&options.registry).await?;
    let listing = fetch(&target).await?;
    warn_problems(
        &listing,
        "tags whose date or digest could not be read are kept",
    );
    let plan = prune::plan(&target, listing.tags, options.older_than, options.keep, now);
    if let Some(summary) = show::kept_summary(&plan, options.older_than, options.keep) {
        output::info(&summary);
    }
    let count = plan.choice.delete.len();
    if count == 0 {
        output::info(&format!("Nothing to delete under {}.", target.describe()));
        return Ok(Outcome::Success);
    }
    prune::check(&target, &plan)?;
    output::info(&format!(
        "{} ({}) under {} will be deleted:",
        plural(count, "tag", "tags"),
        format_size(plan.bytes),
        target.describe()
    ));
    for tag in plan.doomed() {
        output::info(&format!(
            "  {}  (pushed {} ago, {})",
            target.prefix.image(&tag.repository, &tag.tag),
            show::shown_age(tag, now),
            show::shown_size(tag.size)
        ));
    }
    if options.dry_run {
        for request in prune::requests(&target, &plan) {
            output::data_line(&request);
        }
        output::info("Dry run: nothing deleted.");
        return Ok(Outcome::Success);
    }
    let question = format!(
        "Delete {} ({}) from {}?",
        plural(count, "tag", "tags"),
        format_size(plan.bytes),
        target.registry.shown()
    );
    if !confirm(&question, options.yes).await? {
        return Err(NotConfirmed("nothing deleted".into()).into());
    }
    let report = prune::delete(&target, &plan, options.parallel).await;
    let mut summary = format!(
        "Deleted {} ({}).",
        plural(report.deleted.len(), "tag", "tags"),
        format_size(report.bytes_freed)
    );
    if !report.gone.is_empty() {
        summary.push_str(&format!(
            " {} already gone.",
            plural(report.gone.len(), "was", "were")
        ));
    }
    if target.registry.deletes_by_digest() && !report.deleted.is_empty() {
        summary.push_str(
            " The registry frees the disk at its next garbage collection \
             (distribution: `registry garbage-collect CONFIG`).",
        );
    }
    output::info(&summary);
    if report.interrupted {
        output::info(&format!(
            "Interrupted: {} not tried.",
            plural(report.not_tried, "tag was", "tags were")
        ));
    }
    if !report.failed.is_empty() {
        let mut lines: Vec<String> = report
            .failed
            .iter()
            .map(|(i, why)| {
                let tag = &plan.tags[*i];
                format!(
                    "{}: not deleted: {why}",
                    target.prefix.image(&tag.repository, &tag.tag)
                )
            })
            .collect();
        lines.push(format!(
            "{} of {} not deleted",
            report.failed.len(),
            plural(count, "tag", "tags")
        ));
        return Err(Problems(lines).into());
    }
    if report.interrupted {
        return Err(Interrupted.into());
    }
    Ok(Outcome::Success)
}
