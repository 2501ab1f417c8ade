//! Which tags a prune deletes. Pure.
//!
//! Per repository, the tags are ranked newest first (a tag whose date is
//! unknown counts as the newest: nobody knows it is old). The first `keep`
//! stay; of the others, those pushed longer ago than `older_than` go. Where
//! the registry deletes manifests by digest (every tag naming the manifest
//! goes with it), a tag that would go but shares its digest with a tag that
//! stays, stays too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::Tag;

/// The prune's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Only tags pushed longer ago than this go.
    pub older_than: Duration,
    /// The newest this many of each repository always stay.
    pub keep: usize,
    /// Now, in Unix seconds.
    pub now: i64,
    /// The registry deletes by digest (see the module's documentation).
    pub by_digest: bool,
}

/// Why a tag stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Among the newest `keep` of its repository.
    Newest,
    /// Pushed within `older_than`.
    Recent,
    /// Its date is unknown.
    DateUnknown,
    /// It names the same manifest as this tag, which stays.
    SharesImage(String),
}

/// The outcome: indexes into the tags given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    /// The tags to delete, newest first.
    pub delete: Vec<usize>,
    pub kept: Vec<(usize, Kept)>,
}

/// Whether a tag was pushed longer ago than `older_than` (unknown: no).
pub fn is_older(tag: &Tag, older_than: Duration, now: i64) -> bool {
    let limit = i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX);
    tag.pushed
        .is_some_and(|pushed| now.saturating_sub(pushed) > limit)
}

/// Newest first (unknown dates last), then by repository and tag.
pub fn sort_newest_first(tags: &mut [Tag]) {
    tags.sort_by(|a, b| {
        b.pushed
            .unwrap_or(i64::MIN)
            .cmp(&a.pushed.unwrap_or(i64::MIN))
            .then_with(|| a.repository.cmp(&b.repository))
            .then_with(|| a.tag.cmp(&b.tag))
    });
}

/// Choose the tags to delete (see the module's documentation).
pub fn choose(tags: &[Tag], rules: &Rules) -> Choice {
    let mut by_repository: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, tag) in tags.iter().enumerate() {
        by_repository
            .entry(&tag.repository)
            .or_default()
            .push(index);
    }
    let mut verdicts: Vec<Option<Kept>> = vec![None; tags.len()];
    for indexes in by_repository.values_mut() {
        // Unknown dates first (they may be the newest), then newest first.
        indexes.sort_by(|&a, &b| {
            let key = |i: usize| tags[i].pushed.map_or((0, 0), |p| (1, -i128::from(p)));
            key(a)
                .cmp(&key(b))
                .then_with(|| tags[a].tag.cmp(&tags[b].tag))
        });
        for (rank, &index) in indexes.iter().enumerate() {
            let tag = &tags[index];
            verdicts[index] = if tag.pushed.is_none() {
                Some(Kept::DateUnknown)
            } else if rank < rules.keep {
                Some(Kept::Newest)
            } else if !is_older(tag, rules.older_than, rules.now) {
                Some(Kept::Recent)
            } else {
                None
            };
        }
    }
    if rules.by_digest {
        // A manifest some kept tag names stays, and so do its other tags.
        let mut kept_digests: HashMap<(&str, &str), &str> = HashMap::new();
        for (index, verdict) in verdicts.iter().enumerate() {
            let tag = &tags[index];
            if let (Some(_), Some(digest)) = (verdict, tag.digest.as_deref()) {
                kept_digests
                    .entry((&tag.repository, digest))
                    .or_insert(&tag.tag);
            }
        }
        for (index, verdict) in verdicts.iter_mut().enumerate() {
            let tag = &tags[index];
            if verdict.is_none() {
                match tag.digest.as_deref() {
                    Some(digest) => {
                        if let Some(keeper) = kept_digests.get(&(tag.repository.as_str(), digest)) {
                            *verdict = Some(Kept::SharesImage(keeper.to_string()));
                        }
                    }
                    // Without its digest it cannot be deleted by digest.
                    None => *verdict = Some(Kept::DateUnknown),
                }
            }
        }
    }
    let mut choice = Choice::default();
    for (index, verdict) in verdicts.into_iter().enumerate() {
        match verdict {
            Some(kept) => choice.kept.push((index, kept)),
            None => choice.delete.push(index),
        }
    }
    choice.delete.sort_by(|&a, &b| {
        tags[b]
            .pushed
            .cmp(&tags[a].pushed)
            .then_with(|| tags[a].repository.cmp(&tags[b].repository))
            .then_with(|| tags[a].tag.cmp(&tags[b].tag))
    });
    choice
}

/// The bytes the deleted tags hold, each manifest counted once (by
/// repository and digest; a tag without a digest counts alone), and only
/// where no kept tag still names it.
pub fn bytes(tags: &[Tag], choice: &Choice) -> u64 {
    let kept: HashSet<(&str, &str)> = choice
        .kept
        .iter()
        .filter_map(|(i, _)| Some((tags[*i].repository.as_str(), tags[*i].digest.as_deref()?)))
        .collect();
    let mut counted: HashSet<(&str, &str)> = HashSet::new();
    let mut total: u64 = 0;
    for &index in &choice.delete {
        let tag = &tags[index];
        if let Some(digest) = tag.digest.as_deref() {
            let key = (tag.repository.as_str(), digest);
            if kept.contains(&key) || !counted.insert(key) {
                continue;
            }
        }
        total = total.saturating_add(tag.size.unwrap_or(0));
    }
    total
}

/// The deletion units: the tags to delete grouped so that one request
/// serves each group. By digest: one group per repository and digest;
/// otherwise one group per tag. Groups keep the order of `delete`.
pub fn groups(tags: &[Tag], delete: &[usize], by_digest: bool) -> Vec<Vec<usize>> {
    if !by_digest {
        return delete.iter().map(|&i| vec![i]).collect();
    }
    let mut order: Vec<(&str, Option<&str>)> = Vec::new();
    let mut members: HashMap<(&str, Option<&str>), Vec<usize>> = HashMap::new();
    for &index in delete {
        let tag = &tags[index];
        let key = (tag.repository.as_str(), tag.digest.as_deref());
        let group = members.entry(key).or_default();
        if group.is_empty() {
            order.push(key);
        }
        group.push(index);
    }
    order
        .into_iter()
        .filter_map(|key| members.remove(&key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const DAY: i64 = 86_400;

    fn tag(repository: &str, tag: &str, days_ago: Option<i64>, digest: Option<&str>) -> Tag {
        Tag {
            repository: repository.into(),
            tag: tag.into(),
            pushed: days_ago.map(|d| NOW - d * DAY),
            size: Some(1000),
            digest: digest.map(str::to_string),
        }
    }

    fn rules(days: u64, keep: usize, by_digest: bool) -> Rules {
        Rules {
            older_than: Duration::from_secs(days * 86_400),
            keep,
            now: NOW,
            by_digest,
        }
    }

    fn names(tags: &[Tag], indexes: &[usize]) -> Vec<String> {
        indexes.iter().map(|&i| tags[i].name()).collect()
    }

    fn kept_reason(tags: &[Tag], choice: &Choice, name: &str) -> Kept {
        choice
            .kept
            .iter()
            .find(|(i, _)| tags[*i].name() == name)
            .map(|(_, k)| k.clone())
            .unwrap_or_else(|| panic!("{name} not kept"))
    }

    #[test]
    fn keeps_the_newest_n_of_each_repository_and_deletes_old_ones() {
        let tags = vec![
            tag("lab/binder-a", "a1", Some(100), None),
            tag("lab/binder-a", "a2", Some(50), None),
            tag("lab/binder-a", "a3", Some(40), None),
            tag("lab/binder-a", "a4", Some(1), None),
            tag("lab/binder-b", "b1", Some(90), None),
            tag("lab/binder-c", "c1", Some(5), None),
        ];
        let choice = choose(&tags, &rules(30, 1, false));
        // a4 newest of a, b1 the only one of b, c1 recent; newest first.
        assert_eq!(
            names(&tags, &choice.delete),
            ["lab/binder-a:a3", "lab/binder-a:a2", "lab/binder-a:a1"]
        );
        assert_eq!(kept_reason(&tags, &choice, "lab/binder-a:a4"), Kept::Newest);
        assert_eq!(kept_reason(&tags, &choice, "lab/binder-b:b1"), Kept::Newest);
        assert_eq!(kept_reason(&tags, &choice, "lab/binder-c:c1"), Kept::Newest);

        let choice = choose(&tags, &rules(30, 0, false));
        assert_eq!(
            names(&tags, &choice.delete),
            [
                "lab/binder-a:a3",
                "lab/binder-a:a2",
                "lab/binder-b:b1",
                "lab/binder-a:a1"
            ]
        );
        assert_eq!(kept_reason(&tags, &choice, "lab/binder-a:a4"), Kept::Recent);

        let choice = choose(&tags, &rules(30, 3, false));
        assert_eq!(names(&tags, &choice.delete), ["lab/binder-a:a1"]);
        let choice = choose(&tags, &rules(365, 0, false));
        assert!(choice.delete.is_empty());
        assert_eq!(choice.kept.len(), tags.len());
    }

    #[test]
    fn exactly_older_than_the_limit_stays() {
        let tags = vec![tag("r/x", "edge", Some(30), None)];
        assert!(choose(&tags, &rules(30, 0, false)).delete.is_empty());
        let mut older = tags.clone();
        older[0].pushed = Some(NOW - 30 * DAY - 1);
        assert_eq!(choose(&older, &rules(30, 0, false)).delete, [0]);
    }

    #[test]
    fn a_tag_of_unknown_date_stays_and_counts_among_the_newest() {
        let tags = vec![
            tag("r/x", "unknown", None, None),
            tag("r/x", "old", Some(100), None),
            tag("r/x", "older", Some(200), None),
        ];
        let choice = choose(&tags, &rules(30, 1, false));
        assert_eq!(
            kept_reason(&tags, &choice, "r/x:unknown"),
            Kept::DateUnknown
        );
        assert_eq!(names(&tags, &choice.delete), ["r/x:old", "r/x:older"]);
        let choice = choose(&tags, &rules(30, 2, false));
        assert_eq!(names(&tags, &choice.delete), ["r/x:older"]);
    }

    #[test]
    fn by_digest_a_manifest_a_kept_tag_names_stays() {
        let tags = vec![
            tag("r/x", "new", Some(1), Some("sha256:aa")),
            tag("r/x", "old-alias", Some(100), Some("sha256:aa")),
            tag("r/x", "old", Some(100), Some("sha256:bb")),
            tag("r/x", "old-twin", Some(120), Some("sha256:bb")),
            tag(
                "r/y",
                "same-digest-other-repo",
                Some(100),
                Some("sha256:aa"),
            ),
        ];
        let choice = choose(&tags, &rules(30, 1, true));
        assert_eq!(
            kept_reason(&tags, &choice, "r/x:old-alias"),
            Kept::SharesImage("new".into())
        );
        let mut deleted = names(&tags, &choice.delete);
        deleted.sort();
        // r/y's own newest stays (keep 1); r/x's bb goes, both tags.
        assert_eq!(deleted, ["r/x:old", "r/x:old-twin"]);
        // One request for both tags of bb, and bb's bytes once.
        assert_eq!(groups(&tags, &choice.delete, true), [vec![2, 3]]);
        assert_eq!(bytes(&tags, &choice), 1000);
        // Tag by tag (Docker Hub) the alias goes alone and frees nothing.
        let choice = choose(&tags, &rules(30, 1, false));
        let mut deleted = names(&tags, &choice.delete);
        deleted.sort();
        assert_eq!(deleted, ["r/x:old", "r/x:old-alias", "r/x:old-twin"]);
        assert_eq!(groups(&tags, &choice.delete, false).len(), 3);
        assert_eq!(bytes(&tags, &choice), 1000);
    }

    #[test]
    fn by_digest_a_tag_without_digest_is_never_deleted() {
        let tags = vec![
            tag("r/x", "new", Some(1), Some("sha256:aa")),
            tag("r/x", "old", Some(100), None),
        ];
        let choice = choose(&tags, &rules(30, 1, true));
        assert!(choice.delete.is_empty());
        assert_eq!(choose(&tags, &rules(30, 1, false)).delete, [1]);
    }

    #[test]
    fn bytes_count_tags_without_digest_and_unknown_sizes_as_zero() {
        let mut tags = vec![
            tag("r/x", "a", Some(100), None),
            tag("r/x", "b", Some(100), None),
            tag("r/x", "c", Some(100), Some("sha256:cc")),
        ];
        tags[2].size = None;
        let choice = choose(&tags, &rules(30, 0, false));
        assert_eq!(choice.delete.len(), 3);
        assert_eq!(bytes(&tags, &choice), 2000);
    }

    #[test]
    fn listing_order_is_newest_first_unknown_last() {
        let mut tags = vec![
            tag("r/b", "2", Some(10), None),
            tag("r/a", "unknown", None, None),
            tag("r/a", "1", Some(1), None),
            tag("r/a", "3", Some(10), None),
        ];
        sort_newest_first(&mut tags);
        let order: Vec<String> = tags.iter().map(Tag::name).collect();
        assert_eq!(order, ["r/a:1", "r/a:3", "r/b:2", "r/a:unknown"]);
        assert!(is_older(&tags[1], Duration::from_secs(86_400), NOW));
        assert!(!is_older(&tags[0], Duration::from_secs(86_400), NOW));
        assert!(!is_older(&tags[3], Duration::ZERO, NOW));
    }
}
