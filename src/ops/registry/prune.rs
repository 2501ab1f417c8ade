//! What a prune does: choose the tags (`registry::select`), check the
//! choice once more (every repository under the prefix, credentials where
//! the registry needs them), and delete a few requests at a time, a
//! failure stopping nothing else.

use std::time::Duration;

use anyhow::{bail, Result};
use futures_util::stream::{self, StreamExt};

use super::Target;
use crate::error::Problems;
use crate::registry::select::{self, Choice, Rules};
use crate::registry::{Deletion, Registry, Tag};

/// The most deletions under way at once.
pub const MAX_AT_ONCE: usize = 16;

/// What a prune will do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every tag under the prefix, newest first.
    pub tags: Vec<Tag>,
    pub choice: Choice,
    /// The bytes the deleted tags hold (each image once).
    pub bytes: u64,
    /// One request's worth of tags each (see [`select::groups`]).
    pub groups: Vec<Vec<usize>>,
}

impl Plan {
    /// The tags to delete, newest first.
    pub fn doomed(&self) -> impl Iterator<Item = &Tag> {
        self.choice.delete.iter().map(|&i| &self.tags[i])
    }
}

/// Choose what goes (see [`select::choose`]).
pub fn plan(target: &Target, tags: Vec<Tag>, older_than: Duration, keep: usize, now: i64) -> Plan {
    let by_digest = target.registry.deletes_by_digest();
    let rules = Rules {
        older_than,
        keep,
        now,
        by_digest,
    };
    let choice = select::choose(&tags, &rules);
    let bytes = select::bytes(&tags, &choice);
    let groups = select::groups(&tags, &choice.delete, by_digest);
    Plan {
        tags,
        choice,
        bytes,
        groups,
    }
}

/// Whether the plan can be carried out at all: every repository under the
/// prefix (checked again, whatever chose them), credentials where the
/// registry needs them. Says so before anyone is asked.
pub fn check(target: &Target, plan: &Plan) -> Result<()> {
    let prefix = target.prefix.repo_prefix();
    let outside: Vec<String> = plan
        .doomed()
        .filter(|t| !prefix.covers(&t.repository))
        .map(|t| format!("{} is outside the image prefix {}", t.name(), prefix.path))
        .collect();
    if !outside.is_empty() {
        let mut lines = outside;
        lines.push("nothing deleted".into());
        return Err(Problems(lines).into());
    }
    if let Registry::DockerHub(hub) = &target.registry {
        if !hub.has_credentials() {
            bail!(
                "Docker Hub deletes tags only for a logged-in user: set registry.username and \
                 registry.password in the secret file (or --username and \
                 BINDERCTL_REGISTRY_PASSWORD); nothing deleted"
            );
        }
    }
    Ok(())
}

/// The requests a prune would send (`DELETE URL`), for `--dry-run`.
pub fn requests(target: &Target, plan: &Plan) -> Vec<String> {
    plan.groups
        .iter()
        .flat_map(|group| {
            let tags: Vec<Tag> = group.iter().map(|&i| plan.tags[i].clone()).collect();
            target.registry.delete_requests(&tags)
        })
        .collect()
}

/// How a prune went: indexes into the plan's tags.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub deleted: Vec<usize>,
    pub gone: Vec<usize>,
    pub failed: Vec<(usize, String)>,
    /// Bytes the deleted tags held (each image once).
    pub bytes_freed: u64,
    /// Stopped by SIGINT or SIGTERM; what had not started was not tried.
    pub interrupted: bool,
    /// Tags not tried (after an interrupt).
    pub not_tried: usize,
}

/// Delete the plan's tags, `at_once` requests at a time (at most
/// [`MAX_AT_ONCE`]); a failure stops nothing else. Call [`check`] first.
pub async fn delete(target: &Target, plan: &Plan, at_once: usize) -> Report {
    let at_once = at_once.clamp(1, MAX_AT_ONCE);
    let mut report = Report::default();
    let mut pending = stream::iter(plan.groups.iter())
        .map(|group| async move {
            let tags: Vec<Tag> = group.iter().map(|&i| plan.tags[i].clone()).collect();
            (group, target.registry.delete(&tags).await)
        })
        .buffer_unordered(at_once);
    let mut done = 0usize;
    loop {
        tokio::select! {
            next = pending.next() => match next {
                Some((group, outcomes)) => {
                    done += group.len();
                    for (&index, outcome) in group.iter().zip(outcomes) {
                        match outcome {
                            Deletion::Deleted => report.deleted.push(index),
                            Deletion::AlreadyGone => report.gone.push(index),
                            Deletion::Failed(why) => report.failed.push((index, why)),
                        }
                    }
                }
                None => break,
            },
            () = crate::cluster::runner::interrupted() => {
                report.interrupted = true;
                break;
            }
        }
    }
    drop(pending);
    report.not_tried = plan.choice.delete.len().saturating_sub(done);
    report.deleted.sort_unstable();
    report.gone.sort_unstable();
    report.failed.sort_by_key(|(i, _)| *i);
    let freed = Choice {
        delete: report.deleted.clone(),
        kept: plan.choice.kept.clone(),
    };
    report.bytes_freed = select::bytes(&plan.tags, &freed);
    report
}
