//! `binderctl registry ls|prune`: the images BinderHub pushed under its
//! image prefix, listed newest first or pruned by age (the work is in
//! `ops::registry`; this turns the options into its `Config` and prints).

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::cli::{GlobalArgs, OutputArgs, RegistryApi, RegistryArgs, RegistryCmd};
use crate::cluster::confirm::confirm;
use crate::cluster::duration::{format_age, unix_now};
use crate::error::{Interrupted, NotConfirmed, Outcome, Problems};
use crate::ops::registry::{self as op, Config, Target};
use crate::output::table::{format_table_styled, TableStyle};
use crate::output::{self, format, plural};
use crate::registry::select::Kept;
use crate::registry::{format_rfc3339, Api, Listing, Secret, Tag};

/// Where the password comes from when not from the secret file.
pub const PASSWORD_ENV: &str = "BINDERCTL_REGISTRY_PASSWORD";

/// Lines of problems shown before the rest are only counted.
const PROBLEMS_SHOWN: usize = 10;

pub async fn run(_global: &GlobalArgs, cmd: &RegistryCmd) -> Result<Outcome> {
    match cmd {
        RegistryCmd::Ls {
            registry,
            older_than,
            output,
        } => ls(registry, *older_than, output).await,
        RegistryCmd::Prune {
            registry,
            older_than,
            keep,
            dry_run,
            yes,
            parallel,
        } => {
            let prune = Prune {
                older_than: *older_than,
                keep: *keep,
                dry_run: *dry_run,
                yes: *yes,
                parallel: usize::from(*parallel),
            };
            prune_run(registry, &prune).await
        }
    }
}

/// The options as the operation takes them; the password from the
/// environment (never from an option).
fn config(args: &RegistryArgs) -> Config {
    let password = std::env::var(PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Secret::new);
    Config {
        input: args.input.clone(),
        prefix: args.prefix.clone(),
        secret: args.secret.clone(),
        registry_url: args.registry_url.clone().filter(|u| !u.trim().is_empty()),
        api: args.api.map(|api| match api {
            RegistryApi::DockerHub => Api::DockerHub,
            RegistryApi::V2 => Api::Distribution,
        }),
        username: args.username.clone().filter(|u| !u.is_empty()),
        password,
        timeout: args.timeout,
        retries: args.retries,
    }
}

fn now(args: &RegistryArgs) -> i64 {
    args.now.unwrap_or_else(unix_now)
}

/// `registry ls -o json|yaml` (documented field names).
#[derive(Debug, Serialize)]
pub struct TagRecord {
    /// `[HOST/]REPOSITORY:TAG`.
    pub image: String,
    pub repository: String,
    pub tag: String,
    /// RFC 3339, or null.
    pub pushed: Option<String>,
    pub age_seconds: Option<u64>,
    pub size_bytes: Option<u64>,
    pub digest: Option<String>,
}

impl TagRecord {
    fn new(target: &Target, tag: &Tag, now: i64) -> Self {
        TagRecord {
            image: target.prefix.image(&tag.repository, &tag.tag),
            repository: tag.repository.clone(),
            tag: tag.tag.clone(),
            pushed: tag.pushed.map(format_rfc3339),
            age_seconds: age(tag, now),
            size_bytes: tag.size,
            digest: tag.digest.clone(),
        }
    }
}

fn age(tag: &Tag, now: i64) -> Option<u64> {
    tag.pushed
        .and_then(|p| u64::try_from(now.saturating_sub(p)).ok())
}

fn shown_age(tag: &Tag, now: i64) -> String {
    age(tag, now)
        .map(|s| format_age(Duration::from_secs(s)))
        .unwrap_or_else(|| "?".into())
}

fn shown_size(size: Option<u64>) -> String {
    size.map(format_size).unwrap_or_else(|| "?".into())
}

/// Bytes as `512 B`, `85.5 MiB`, `1.2 GiB`.
pub fn format_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// The table of `registry ls`.
pub fn format_tags(tags: &[&Tag], now: i64, style: TableStyle) -> String {
    let rows: Vec<Vec<String>> = tags
        .iter()
        .map(|tag| {
            let mut row = vec![
                tag.repository.clone(),
                tag.tag.clone(),
                shown_age(tag, now),
                shown_size(tag.size),
            ];
            if style.wide {
                row.push(tag.pushed.map(format_rfc3339).unwrap_or_else(|| "?".into()));
                row.push(tag.digest.clone().unwrap_or_else(|| "?".into()));
            }
            row
        })
        .collect();
    let headers: &[&str] = if style.wide {
        &["REPOSITORY", "TAG", "AGE", "SIZE", "PUSHED", "DIGEST"]
    } else {
        &["REPOSITORY", "TAG", "AGE", "SIZE"]
    };
    format_table_styled(headers, &rows, style)
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

async fn ls(
    args: &RegistryArgs,
    older_than: Option<Duration>,
    output_args: &OutputArgs,
) -> Result<Outcome> {
    let now = now(args);
    let target = op::connect(&config(args)).await?;
    let listing = op::list(&target).await?;
    warn_problems(&listing, "");
    let shown: Vec<&Tag> = listing
        .tags
        .iter()
        .filter(|t| older_than.is_none_or(|d| crate::registry::select::is_older(t, d, now)))
        .collect();
    if shown.is_empty() && format::is_table(output_args) {
        let age = older_than
            .map(|d| format!(" pushed more than {} ago", format_age(d)))
            .unwrap_or_default();
        output::info(&format!("No tags{age} under {}.", target.describe()));
        return Ok(Outcome::Success);
    }
    let records: Vec<TagRecord> = shown
        .iter()
        .map(|t| TagRecord::new(&target, t, now))
        .collect();
    format::print(
        output_args,
        &records,
        || records.iter().map(|r| r.image.clone()).collect(),
        |style| format_tags(&shown, now, style),
    )?;
    if format::is_table(output_args) {
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

/// What `registry prune` was asked to do.
struct Prune {
    older_than: Duration,
    keep: usize,
    dry_run: bool,
    yes: bool,
    parallel: usize,
}

/// One line on what stays, by reason.
fn kept_summary(plan: &op::Plan, prune: &Prune) -> Option<String> {
    let count = |f: &dyn Fn(&Kept) -> bool| plan.choice.kept.iter().filter(|(_, k)| f(k)).count();
    let parts: Vec<String> = [
        (
            count(&|k| *k == Kept::Newest),
            if prune.keep == 1 {
                "as their repository's newest".to_string()
            } else {
                format!("among their repository's newest {}", prune.keep)
            },
        ),
        (
            count(&|k| *k == Kept::Recent),
            format!("pushed within {}", format_age(prune.older_than)),
        ),
        (
            count(&|k| matches!(k, Kept::SharesImage(_))),
            "naming the same image as a tag that stays".to_string(),
        ),
        (
            count(&|k| *k == Kept::DateUnknown),
            "of unknown date or digest".to_string(),
        ),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, why)| format!("{n} {why}"))
    .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "Keeping {}: {}.",
            plural(plan.choice.kept.len(), "tag", "tags"),
            parts.join(", ")
        )
    })
}

async fn prune_run(args: &RegistryArgs, prune: &Prune) -> Result<Outcome> {
    let now = now(args);
    let target = op::connect(&config(args)).await?;
    let listing = op::list(&target).await?;
    warn_problems(
        &listing,
        "tags whose date or digest could not be read are kept",
    );
    let plan = op::plan(&target, listing.tags, prune.older_than, prune.keep, now);
    if let Some(summary) = kept_summary(&plan, prune) {
        output::info(&summary);
    }
    let count = plan.choice.delete.len();
    if count == 0 {
        output::info(&format!("Nothing to delete under {}.", target.describe()));
        return Ok(Outcome::Success);
    }
    op::check(&target, &plan)?;
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
            shown_age(tag, now),
            shown_size(tag.size)
        ));
    }
    if prune.dry_run {
        for request in op::requests(&target, &plan) {
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
    if !confirm(&question, prune.yes).await? {
        return Err(NotConfirmed("nothing deleted".into()).into());
    }
    let report = op::delete(&target, &plan, prune.parallel).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(repository: &str, name: &str, pushed: Option<i64>, size: Option<u64>) -> Tag {
        Tag {
            repository: repository.into(),
            tag: name.into(),
            pushed,
            size,
            digest: None,
        }
    }

    #[test]
    fn sizes_read_like_ctrs() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(format_size(5 << 30), "5.0 GiB");
    }

    #[test]
    fn the_table_shows_age_and_size_and_wide_the_date_and_digest() {
        let now = 1_700_000_000;
        let a = tag("lab/binder-a", "abc", Some(now - 3 * 86_400), Some(1536));
        let b = tag("lab/binder-b", "def", None, None);
        let table = format_tags(&[&a, &b], now, TableStyle::default());
        assert_eq!(
            table,
            "REPOSITORY     TAG   AGE   SIZE\n\
             lab/binder-a   abc   3d    1.5 KiB\n\
             lab/binder-b   def   ?     ?\n"
        );
        let wide = format_tags(
            &[&a],
            now,
            TableStyle {
                wide: true,
                headers: false,
            },
        );
        assert_eq!(
            wide,
            "lab/binder-a   abc   3d   1.5 KiB   2023-11-11T22:13:20Z   ?\n"
        );
    }
}
