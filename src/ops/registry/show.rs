//! How tags are shown: the records of `-o json|yaml`, the table, sizes and
//! ages, and the one-line summaries. Pure.

use std::time::Duration;

use serde::Serialize;

use super::prune::Plan;
use super::Target;
use crate::cluster::duration::format_age;
use crate::output::plural;
pub use crate::output::size::format_size;
use crate::output::table::{format_table_styled, TableStyle};
use crate::registry::format_rfc3339;
use crate::registry::select::Kept;
use crate::registry::Tag;

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
    pub fn new(target: &Target, tag: &Tag, now: i64) -> Self {
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

/// Seconds since the tag was pushed, if known.
pub fn age(tag: &Tag, now: i64) -> Option<u64> {
    tag.pushed
        .and_then(|p| u64::try_from(now.saturating_sub(p)).ok())
}

/// `40d`, or `?`.
pub fn shown_age(tag: &Tag, now: i64) -> String {
    age(tag, now)
        .map(|s| format_age(Duration::from_secs(s)))
        .unwrap_or_else(|| "?".into())
}

/// `1.2 GiB`, or `?`.
pub fn shown_size(size: Option<u64>) -> String {
    size.map(format_size).unwrap_or_else(|| "?".into())
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

/// One line on what stays, by reason.
pub fn kept_summary(plan: &Plan, older_than: Duration, keep: usize) -> Option<String> {
    let count = |f: &dyn Fn(&Kept) -> bool| plan.choice.kept.iter().filter(|(_, k)| f(k)).count();
    let parts: Vec<String> = [
        (
            count(&|k| *k == Kept::Newest),
            if keep == 1 {
                "as their repository's newest".to_string()
            } else {
                format!("among their repository's newest {keep}")
            },
        ),
        (
            count(&|k| *k == Kept::Recent),
            format!("pushed within {}", format_age(older_than)),
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
        assert_eq!(age(&a, i64::MIN), None);
    }
}
