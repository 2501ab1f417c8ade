//! The allow-list as a NetworkPolicy of its own (`allow_list_mode: policy`).
//! Pure: the policy object in, the new policy object and what changed out.
//!
//! NetworkPolicies are additive: a second policy selecting the release's
//! user pods (labelled `component: singleuser-server` and `release: NAME` by
//! KubeSpawner, and selected so by the chart's own singleuser policy) adds
//! the generated ranges to what the chart allows, and replacing it needs no
//! Helm upgrade and restarts nothing.
//!
//! The state lives in the policy itself: the annotation
//! [`ANNOTATION_SOURCES`] holds, per source, each range and when (Unix
//! seconds) it was last seen. A range that stops appearing stays allowed
//! until last seen + grace, so a CDN rotating its addresses never cuts open
//! connections.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::egress::allow_list::{Source, SourceChange};
use crate::egress::cidr::{self, IpNet};

/// The policy's name in the release's namespace.
pub const POLICY_NAME: &str = "binderctl-egress";
/// The label saying binderctl owns the policy (it refuses to touch one
/// without it).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "binderctl";
/// `{"SOURCE": {"CIDR": LAST_SEEN_UNIX_SECONDS, …}, …}` as JSON.
pub const ANNOTATION_SOURCES: &str = "binderctl/sources";
/// When the policy was last applied, in Unix seconds.
pub const ANNOTATION_APPLIED_AT: &str = "binderctl/applied-at";
/// How long an address stays allowed after it was last seen, by default.
pub const DEFAULT_GRACE_SECS: i64 = 24 * 3600;
/// The user pods' labels (KubeSpawner's, matched by the chart's policy).
pub const USER_POD_COMPONENT: &str = "singleuser-server";
/// More ranges than any real allow-list has: a larger annotation is refused
/// rather than read (Kubernetes caps all annotations at 256 KiB anyway).
pub const MAX_RANGES: usize = 20_000;
/// Kubernetes refuses annotations larger than 256 KiB in total.
const MAX_ANNOTATION_BYTES: usize = 256 * 1024 - 4096;

/// Per source, each range and when it was last seen (Unix seconds).
pub type Seen = BTreeMap<String, BTreeMap<IpNet, i64>>;

/// What the cluster enforces now, read back from the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enforced {
    /// The state recorded in the annotation.
    pub seen: Seen,
    /// The ranges of the policy's rule (what is actually enforced).
    pub ranges: Vec<IpNet>,
    /// When it was last applied, as recorded.
    pub applied: Option<i64>,
}

impl Enforced {
    /// When the policy was last applied (recorded, else the newest
    /// last-seen time).
    pub fn applied_at(&self) -> Option<i64> {
        self.applied
            .or_else(|| self.seen.values().flat_map(|m| m.values()).copied().max())
    }
}

/// Read a `kubectl get networkpolicy binderctl-egress -o json` answer.
/// A policy not labelled as binderctl's is refused: it is someone else's.
pub fn parse_policy(object: &Value) -> Result<Enforced, String> {
    let name = format!("NetworkPolicy {POLICY_NAME}");
    let metadata = object.get("metadata").unwrap_or(&Value::Null);
    let managed = metadata
        .get("labels")
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .and_then(Value::as_str);
    if managed != Some(MANAGED_BY_VALUE) {
        return Err(format!(
            "{name} exists but is not labelled {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}: it is not \
             binderctl's, so binderctl leaves it alone (rename or delete it)"
        ));
    }
    let annotations = metadata.get("annotations");
    let applied = annotations
        .and_then(|a| a.get(ANNOTATION_APPLIED_AT))
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok());
    let seen = match annotations.and_then(|a| a.get(ANNOTATION_SOURCES)) {
        None => Seen::new(),
        Some(Value::String(text)) => parse_seen(text).map_err(|e| {
            format!("{name}: annotation {ANNOTATION_SOURCES}: {e} (apply again to rewrite it)")
        })?,
        Some(_) => {
            return Err(format!(
                "{name}: annotation {ANNOTATION_SOURCES} is not text"
            ))
        }
    };
    let mut ranges = Vec::new();
    let rules = object
        .pointer("/spec/egress")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for peer in rules
        .iter()
        .filter_map(|r| r.get("to")?.as_array())
        .flatten()
    {
        let Some(text) = peer.pointer("/ipBlock/cidr").and_then(Value::as_str) else {
            continue;
        };
        let net = cidr::parse(text).map_err(|e| format!("{name}: spec.egress: {e}"))?;
        ranges.push(net);
        if ranges.len() > MAX_RANGES {
            return Err(format!(
                "{name}: more than {MAX_RANGES} ranges; refusing to read it"
            ));
        }
    }
    Ok(Enforced {
        seen,
        ranges: cidr::merge(ranges),
        applied,
    })
}

fn parse_seen(text: &str) -> Result<Seen, String> {
    if text.len() > MAX_ANNOTATION_BYTES {
        return Err("too large".into());
    }
    let raw: BTreeMap<String, BTreeMap<String, i64>> =
        serde_json::from_str(text).map_err(|e| format!("not the expected JSON: {e}"))?;
    let mut seen = Seen::new();
    let mut total = 0;
    for (label, nets) in raw {
        let entry = seen.entry(label).or_default();
        for (net, at) in nets {
            total += 1;
            if total > MAX_RANGES {
                return Err(format!("more than {MAX_RANGES} ranges"));
            }
            entry.insert(cidr::parse(&net).map_err(|e| e.to_string())?, at);
        }
    }
    Ok(seen)
}

/// The outcome of merging fresh lookups into the recorded state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The new state, for the annotation.
    pub seen: Seen,
    /// Per source, ranges that are new and ranges whose grace period is
    /// over (removed), as recorded, before asking what that changes.
    pub changes: Vec<SourceChange>,
    /// Ranges no longer seen but still allowed: (source, range, until).
    pub in_grace: Vec<(String, IpNet, i64)>,
}

/// Merge what the sources give now into the recorded state: every range
/// seen now gets `now`; a recorded range not seen now stays until its last
/// sighting plus `grace`, then goes.
pub fn merge_with_grace(previous: &Seen, fresh: &[Source], now: i64, grace: i64) -> Merged {
    let mut seen = Seen::new();
    for source in fresh.iter().filter(|s| !s.nets.is_empty()) {
        let entry = seen.entry(source.label.clone()).or_default();
        for net in &source.nets {
            entry.insert(*net, now);
        }
    }
    let mut in_grace = Vec::new();
    let mut removed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (label, nets) in previous {
        for (net, at) in nets {
            if seen.get(label).is_some_and(|m| m.contains_key(net)) {
                continue;
            }
            let until = at.saturating_add(grace);
            if now < until {
                seen.entry(label.clone()).or_default().insert(*net, *at);
                in_grace.push((label.clone(), *net, until));
            } else {
                removed
                    .entry(label.clone())
                    .or_default()
                    .push(net.to_string());
            }
        }
    }
    let mut changes = Vec::new();
    let labels: std::collections::BTreeSet<&String> = seen.keys().chain(removed.keys()).collect();
    for label in labels {
        let before = previous.get(label);
        let added: Vec<String> = seen
            .get(label)
            .into_iter()
            .flat_map(|m| m.keys())
            .filter(|net| !before.is_some_and(|b| b.contains_key(net)))
            .map(ToString::to_string)
            .collect();
        let gone = removed.get(label).cloned().unwrap_or_default();
        if !added.is_empty() || !gone.is_empty() {
            changes.push(SourceChange {
                label: label.clone(),
                added,
                removed: gone,
            });
        }
    }
    Merged {
        seen,
        changes,
        in_grace,
    }
}

/// Every range of the state, merged and sorted: the policy's rule.
pub fn ranges(seen: &Seen) -> Vec<IpNet> {
    cidr::merge(seen.values().flat_map(|m| m.keys().copied()))
}

/// What an apply would change in what is enforced: per source, only the
/// ranges whose addresses really start or stop being allowed (an address
/// inside a range that stays allowed is no change). Empty exactly when the
/// enforced ranges stay the same; a change no source explains (the rule was
/// edited by hand) is reported under "policy rule".
pub fn drift(enforced: &[IpNet], merged: &Merged) -> Vec<SourceChange> {
    let after = ranges(&merged.seen);
    let (added, removed) = cidr::diff(enforced, &after);
    if added.is_empty() && removed.is_empty() {
        return Vec::new();
    }
    let covered = |text: &String, by: &[IpNet]| {
        cidr::parse(text).is_ok_and(|net| cidr::diff(by, &[net]).0.is_empty())
    };
    let mut changes: Vec<SourceChange> = merged
        .changes
        .iter()
        .map(|c| SourceChange {
            label: c.label.clone(),
            added: c
                .added
                .iter()
                .filter(|n| !covered(n, enforced))
                .cloned()
                .collect(),
            removed: c
                .removed
                .iter()
                .filter(|n| !covered(n, &after))
                .cloned()
                .collect(),
        })
        .filter(|c| !c.added.is_empty() || !c.removed.is_empty())
        .collect();
    if changes.is_empty() {
        changes.push(SourceChange {
            label: "policy rule".into(),
            added: added.iter().map(ToString::to_string).collect(),
            removed: removed.iter().map(ToString::to_string).collect(),
        });
    }
    changes
}

/// Why a name cannot go into the policy: Kubernetes label value rules (63
/// characters, letters, digits, `-_.`, alphanumeric at both ends).
pub fn check_label_value(what: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} cannot be a Kubernetes label value (at most 63 letters, digits, \
             '-', '_' or '.', starting and ending with a letter or digit)"
        ))
    }
}

/// The NetworkPolicy: egress only, exactly the release's user pods, one
/// rule with the merged ranges (none at all when there are no ranges: a
/// rule with an empty `to` would allow everything). `now` is recorded as
/// the time of this apply.
pub fn manifest(namespace: &str, release: &str, seen: &Seen, now: i64) -> Result<Value, String> {
    check_label_value("release", release)?;
    let to: Vec<Value> = ranges(seen)
        .iter()
        .map(|net| json!({"ipBlock": {"cidr": net.to_string()}}))
        .collect();
    let egress = if to.is_empty() {
        json!([])
    } else {
        json!([{ "to": to }])
    };
    let record: BTreeMap<&String, BTreeMap<String, i64>> = seen
        .iter()
        .map(|(label, nets)| {
            (
                label,
                nets.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            )
        })
        .collect();
    let annotation = serde_json::to_string(&record).map_err(|e| e.to_string())?;
    if annotation.len() > MAX_ANNOTATION_BYTES {
        return Err(format!(
            "the allow-list's record is {} bytes, more than Kubernetes allows in annotations; \
             list fewer hosts or ranges",
            annotation.len()
        ));
    }
    Ok(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": POLICY_NAME,
            "namespace": namespace,
            "labels": {
                MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                "release": release,
            },
            "annotations": {
                ANNOTATION_SOURCES: annotation,
                ANNOTATION_APPLIED_AT: now.to_string(),
            },
        },
        "spec": {
            "podSelector": {"matchLabels": {
                "component": USER_POD_COMPONENT,
                "release": release,
            }},
            "policyTypes": ["Egress"],
            "egress": egress,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600;
    const T0: i64 = 1_780_000_000;

    fn net(text: &str) -> IpNet {
        cidr::parse(text).unwrap()
    }

    fn source(label: &str, nets: &[&str]) -> Source {
        Source {
            label: label.into(),
            nets: nets.iter().map(|n| net(n)).collect(),
            explicit: false,
        }
    }

    fn texts(nets: &[IpNet]) -> Vec<String> {
        nets.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn manifest_selects_the_release_user_pods_and_records_the_sources() {
        let merged = merge_with_grace(
            &Seen::new(),
            &[
                source("host a.test", &["192.0.2.1", "2001:db8::1"]),
                source(
                    "Fastly addresses",
                    &["198.51.100.0/25", "198.51.100.128/25"],
                ),
                source("host empty.test", &[]),
            ],
            T0,
            DEFAULT_GRACE_SECS,
        );
        let m = manifest("binder", "bh", &merged.seen, T0).unwrap();
        assert_eq!(m["kind"], "NetworkPolicy");
        assert_eq!(m["metadata"]["name"], POLICY_NAME);
        assert_eq!(m["metadata"]["labels"][MANAGED_BY_LABEL], "binderctl");
        assert_eq!(
            m["spec"]["podSelector"],
            json!({"matchLabels": {"component": "singleuser-server", "release": "bh"}})
        );
        assert_eq!(m["spec"]["policyTypes"], json!(["Egress"]));
        assert_eq!(
            m["spec"]["egress"],
            json!([{"to": [
                {"ipBlock": {"cidr": "192.0.2.1/32"}},
                {"ipBlock": {"cidr": "198.51.100.0/24"}},
                {"ipBlock": {"cidr": "2001:db8::1/128"}},
            ]}])
        );
        // The policy reads back as what it enforces and records.
        let enforced = parse_policy(&m).unwrap();
        assert_eq!(enforced.seen, merged.seen);
        assert_eq!(
            texts(&enforced.ranges),
            ["192.0.2.1/32", "198.51.100.0/24", "2001:db8::1/128"]
        );
        assert_eq!(enforced.applied, Some(T0));
        assert_eq!(
            m["metadata"]["annotations"][ANNOTATION_APPLIED_AT],
            T0.to_string()
        );
        assert!(!enforced.seen.contains_key("host empty.test"));
    }

    #[test]
    fn no_ranges_means_no_rule_at_all() {
        let m = manifest("binder", "binder", &Seen::new(), T0).unwrap();
        assert_eq!(m["spec"]["egress"], json!([]));
    }

    #[test]
    fn names_that_cannot_be_labels_are_refused() {
        assert!(manifest("binder", "bad release", &Seen::new(), T0).is_err());
        assert!(manifest("binder", &"r".repeat(64), &Seen::new(), T0).is_err());
        assert!(manifest("binder", "-r", &Seen::new(), T0).is_err());
        assert!(manifest("binder", "my.release_1", &Seen::new(), T0).is_ok());
    }

    #[test]
    fn someone_elses_policy_is_refused_and_bad_records_are_named() {
        let mut m = manifest("binder", "binder", &Seen::new(), T0).unwrap();
        m["metadata"]["labels"] = json!({});
        let err = parse_policy(&m).unwrap_err();
        assert!(err.contains("not binderctl's"), "{err}");
        let mut m = manifest("binder", "binder", &Seen::new(), T0).unwrap();
        m["metadata"]["annotations"][ANNOTATION_SOURCES] = json!("{\"host a.test\": {\"x\": 1}}");
        let err = parse_policy(&m).unwrap_err();
        assert!(
            err.contains(ANNOTATION_SOURCES) && err.contains("\"x\""),
            "{err}"
        );
    }

    #[test]
    fn an_address_that_disappears_stays_for_the_grace_period() {
        let first = merge_with_grace(
            &Seen::new(),
            &[source("host cdn.test", &["203.0.113.5"])],
            T0,
            24 * HOUR,
        );
        assert_eq!(first.changes.len(), 1);
        // Rotated: .5 gone, .6 new. Within the grace period both are allowed.
        let rotated = [source("host cdn.test", &["203.0.113.6"])];
        let within = merge_with_grace(&first.seen, &rotated, T0 + 2 * HOUR, 24 * HOUR);
        assert_eq!(
            texts(&ranges(&within.seen)),
            ["203.0.113.5/32", "203.0.113.6/32"]
        );
        assert_eq!(
            within.in_grace,
            vec![(
                "host cdn.test".into(),
                net("203.0.113.5/32"),
                T0 + 24 * HOUR
            )]
        );
        assert_eq!(
            within.changes,
            vec![SourceChange {
                label: "host cdn.test".into(),
                added: vec!["203.0.113.6/32".into()],
                removed: vec![],
            }]
        );
        // The grace period counts from when it was last seen, not from the
        // last apply: still .5's T0 after another apply.
        let again = merge_with_grace(&within.seen, &rotated, T0 + 10 * HOUR, 24 * HOUR);
        assert_eq!(again.seen["host cdn.test"][&net("203.0.113.5/32")], T0);
        assert!(again.changes.is_empty());
        // After it, .5 goes.
        let after = merge_with_grace(&again.seen, &rotated, T0 + 24 * HOUR, 24 * HOUR);
        assert_eq!(texts(&ranges(&after.seen)), ["203.0.113.6/32"]);
        assert_eq!(
            after.changes,
            vec![SourceChange {
                label: "host cdn.test".into(),
                added: vec![],
                removed: vec!["203.0.113.5/32".into()],
            }]
        );
        // Seen again refreshes it.
        let back = merge_with_grace(
            &within.seen,
            &[source("host cdn.test", &["203.0.113.5"])],
            T0 + 30 * HOUR,
            24 * HOUR,
        );
        assert_eq!(
            back.seen["host cdn.test"][&net("203.0.113.5/32")],
            T0 + 30 * HOUR
        );
    }

    #[test]
    fn drift_is_by_meaning() {
        let fastly = source("Fastly addresses", &["198.51.100.0/24"]);
        let first = merge_with_grace(
            &Seen::new(),
            &[fastly.clone(), source("host pypi.test", &["198.51.100.7"])],
            T0,
            24 * HOUR,
        );
        let enforced = ranges(&first.seen);
        // The host moved inside Fastly's range, and its old address expired:
        // the records change, what is enforced does not.
        let moved = merge_with_grace(
            &first.seen,
            &[fastly.clone(), source("host pypi.test", &["198.51.100.9"])],
            T0 + 25 * HOUR,
            24 * HOUR,
        );
        assert!(!moved.changes.is_empty());
        assert!(drift(&enforced, &moved).is_empty());
        // Outside it: drift, naming the source and only the new range.
        let outside = merge_with_grace(
            &first.seen,
            &[
                fastly,
                source("host pypi.test", &["203.0.113.9", "198.51.100.8"]),
            ],
            T0 + HOUR,
            24 * HOUR,
        );
        assert_eq!(
            drift(&enforced, &outside),
            vec![SourceChange {
                label: "host pypi.test".into(),
                added: vec!["203.0.113.9/32".into()],
                removed: vec![],
            }]
        );
        // A rule edited by hand is drift too, even when the records agree.
        let same = merge_with_grace(&first.seen, &[], T0 + HOUR, 24 * HOUR);
        let hand_edited = [net("192.0.2.0/24")];
        let changes = drift(&hand_edited, &same);
        assert_eq!(changes[0].label, "policy rule");
        assert_eq!(changes[0].removed, vec!["192.0.2.0/24".to_string()]);
        assert_eq!(changes[0].added, vec!["198.51.100.0/24".to_string()]);
    }
}
