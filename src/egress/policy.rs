//! The allow-list as a NetworkPolicy of its own (`allow_list_mode: policy`).
//! Pure: the policy object in, the new policy object and what changed out.
//!
//! NetworkPolicies are additive: a second policy selecting the release's
//! user pods adds the generated ranges to what the chart allows, and
//! replacing it needs no Helm upgrade and restarts nothing.
//!
//! User pods carry one of two label generations: the old `component:
//! singleuser-server` + `release: NAME`, the new
//! `app.kubernetes.io/component: singleuser-server` +
//! `app.kubernetes.io/instance: NAME` (KubeSpawner 7, zero-to-jupyterhub 4
//! set both; zero-to-jupyterhub 5 keeps only the new). A selector cannot OR
//! two label keys, so there is one policy per generation ([`Target`]), each
//! with the same rule and the same state; a pod with both generations is
//! selected twice, which changes nothing (policies add up). Build pods
//! (`component: binderhub-build`) get a third policy when asked for.
//!
//! The state lives in the policies themselves: the annotation
//! [`ANNOTATION_SOURCES`] holds, per source, each range and when (Unix
//! seconds) it was last seen. A range that stops appearing stays allowed
//! until last seen + grace, so a CDN rotating its addresses never cuts open
//! connections. Each policy carries the whole state; reading takes, per
//! range, the latest sighting any of them records.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::egress::allow_list::{Source, SourceChange};
use crate::egress::cidr::{self, IpNet};

/// The policy selecting user pods by the old labels (the name every
/// binderctl before the second generation used, so its state carries on).
pub const POLICY_NAME: &str = "binderctl-egress";
/// The policy selecting user pods by the `app.kubernetes.io/` labels.
pub const POLICY_NAME_V2: &str = "binderctl-egress-v2";
/// The policy selecting BinderHub's build pods (`egress_targets: [singleuser, build]`).
pub const POLICY_NAME_BUILD: &str = "binderctl-egress-build";
/// The label saying binderctl owns the policy (it refuses to touch one
/// without it).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "binderctl";
/// `{"SOURCE": {"CIDR": LAST_SEEN_UNIX_SECONDS, …}, …}` as JSON.
pub const ANNOTATION_SOURCES: &str = "binderctl/sources";
/// When the policy was last applied, in Unix seconds.
pub const ANNOTATION_APPLIED_AT: &str = "binderctl/applied-at";
/// The shortest DNS TTL (seconds) the last apply saw (`egress schedule
/// --every auto`).
pub const ANNOTATION_SHORTEST_TTL: &str = "binderctl/shortest-ttl";
/// How long an address stays allowed after it was last seen, by default.
pub const DEFAULT_GRACE_SECS: i64 = 24 * 3600;
/// The user pods' labels (KubeSpawner's, matched by the chart's policy).
pub const USER_POD_COMPONENT: &str = "singleuser-server";
/// The build pods' `component` label (BinderHub's, the only label naming
/// them besides their own name; they carry no release label).
pub const BUILD_POD_COMPONENT: &str = "binderhub-build";
/// The old generation's label keys.
pub const LABEL_COMPONENT: &str = "component";
pub const LABEL_RELEASE: &str = "release";
/// The new generation's label keys.
pub const LABEL_APP_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_APP_INSTANCE: &str = "app.kubernetes.io/instance";

/// Which pods a managed policy selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// User pods by the old labels: `component`, `release`.
    SingleUser,
    /// User pods by the new labels: `app.kubernetes.io/component`,
    /// `app.kubernetes.io/instance`.
    SingleUserV2,
    /// BinderHub's build pods: `component: binderhub-build`.
    Build,
}

impl Target {
    /// Every managed policy, in the order they are applied and shown.
    pub const ALL: [Target; 3] = [Target::SingleUser, Target::SingleUserV2, Target::Build];

    /// The policy's name.
    pub fn name(self) -> &'static str {
        match self {
            Target::SingleUser => POLICY_NAME,
            Target::SingleUserV2 => POLICY_NAME_V2,
            Target::Build => POLICY_NAME_BUILD,
        }
    }

    /// The target a policy name belongs to.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The labels the policy's `podSelector.matchLabels` requires.
    pub fn match_labels(self, release: &str) -> BTreeMap<String, String> {
        let pairs: Vec<(&str, &str)> = match self {
            Target::SingleUser => vec![
                (LABEL_COMPONENT, USER_POD_COMPONENT),
                (LABEL_RELEASE, release),
            ],
            Target::SingleUserV2 => vec![
                (LABEL_APP_COMPONENT, USER_POD_COMPONENT),
                (LABEL_APP_INSTANCE, release),
            ],
            Target::Build => vec![(LABEL_COMPONENT, BUILD_POD_COMPONENT)],
        };
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The managed policies for `egress_targets`: both user-pod
    /// generations always, build pods when asked.
    pub fn wanted(build: bool) -> Vec<Target> {
        Target::ALL
            .into_iter()
            .filter(|t| build || *t != Target::Build)
            .collect()
    }
}

/// A label selector as `kubectl get pods -l` takes it (`k=v,k=v`).
pub fn selector_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
/// More ranges than any real allow-list has: a larger annotation is refused
/// rather than read (Kubernetes caps all annotations at 256 KiB anyway).
pub const MAX_RANGES: usize = 20_000;
/// Kubernetes refuses annotations larger than 256 KiB in total.
const MAX_ANNOTATION_BYTES: usize = 256 * 1024 - 4096;

/// Per source, each range and when it was last seen (Unix seconds).
pub type Seen = BTreeMap<String, BTreeMap<IpNet, i64>>;

/// What the cluster enforces now, read back from one policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enforced {
    /// The state recorded in the annotation.
    pub seen: Seen,
    /// The ranges of the policy's rule (what is actually enforced).
    pub ranges: Vec<IpNet>,
    /// When it was last applied, as recorded.
    pub applied: Option<i64>,
    /// The policy's `spec.podSelector`, as the server holds it.
    pub selector: Value,
    /// The shortest DNS TTL the last apply saw, as recorded.
    pub shortest_ttl: Option<u64>,
}

/// Every managed policy the namespace holds, by target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    pub policies: BTreeMap<Target, Enforced>,
}

impl Held {
    /// No managed policy at all.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The state all of them record: per range, the latest sighting.
    pub fn seen(&self) -> Seen {
        let mut seen = Seen::new();
        for policy in self.policies.values() {
            for (label, nets) in &policy.seen {
                let entry = seen.entry(label.clone()).or_default();
                for (net, at) in nets {
                    let slot = entry.entry(*net).or_insert(*at);
                    *slot = (*slot).max(*at);
                }
            }
        }
        seen
    }

    /// The last apply any of them records.
    pub fn applied_at(&self) -> Option<i64> {
        self.policies
            .values()
            .filter_map(Enforced::applied_at)
            .max()
    }

    /// Every range any of them enforces, merged.
    pub fn ranges(&self) -> Vec<IpNet> {
        cidr::merge(
            self.policies
                .values()
                .flat_map(|p| p.ranges.iter().copied()),
        )
    }

    /// The state as one [`Enforced`] (for displays that show one list).
    pub fn combined(&self) -> Enforced {
        Enforced {
            seen: self.seen(),
            ranges: self.ranges(),
            applied: self.applied_at(),
            selector: Value::Null,
            shortest_ttl: self.shortest_ttl(),
        }
    }

    /// The shortest DNS TTL any of them records.
    pub fn shortest_ttl(&self) -> Option<u64> {
        self.policies.values().filter_map(|p| p.shortest_ttl).min()
    }

    /// The names of the policies held, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.policies.keys().map(|t| t.name()).collect()
    }
}

impl Enforced {
    /// When the policy was last applied (recorded, else the newest
    /// last-seen time).
    pub fn applied_at(&self) -> Option<i64> {
        self.applied
            .or_else(|| self.seen.values().flat_map(|m| m.values()).copied().max())
    }
}

/// Read a `kubectl get networkpolicy NAME -o json` answer for one of the
/// managed names. A policy not labelled as binderctl's is refused: it is
/// someone else's.
pub fn parse_policy(object: &Value) -> Result<Enforced, String> {
    let name = format!(
        "NetworkPolicy {}",
        object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or(POLICY_NAME)
    );
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
        selector: object
            .pointer("/spec/podSelector")
            .cloned()
            .unwrap_or(Value::Null),
        shortest_ttl: annotations
            .and_then(|a| a.get(ANNOTATION_SHORTEST_TTL))
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok()),
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

/// The NetworkPolicy of one target: egress only, exactly the release's
/// user pods of one label generation (or the build pods), one rule with the
/// merged ranges (none at all when there are no ranges: a rule with an
/// empty `to` would allow everything). `now` is recorded as the time of
/// this apply.
///
/// No chart policy selects build pods, so the build policy alone decides
/// their egress: it also allows DNS (port 53, UDP and TCP) to the pods of
/// `kube-system` (CoreDNS), or builds could not resolve anything.
pub fn manifest(
    target: Target,
    namespace: &str,
    release: &str,
    seen: &Seen,
    now: i64,
) -> Result<Value, String> {
    check_label_value("release", release)?;
    let to: Vec<Value> = ranges(seen)
        .iter()
        .map(|net| json!({"ipBlock": {"cidr": net.to_string()}}))
        .collect();
    let mut rules = Vec::new();
    if !to.is_empty() {
        rules.push(json!({ "to": to }));
    }
    if target == Target::Build {
        rules.push(json!({
            "to": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": "kube-system"
            }}}],
            "ports": [
                {"protocol": "UDP", "port": 53},
                {"protocol": "TCP", "port": 53},
            ],
        }));
    }
    let egress = Value::Array(rules);
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
            "name": target.name(),
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
            "podSelector": {"matchLabels": target.match_labels(release)},
            "policyTypes": ["Egress"],
            "egress": egress,
        },
    }))
}

/// What coverage needs of a pod: its name, labels, and whether it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Phase Running and not being deleted.
    pub running: bool,
    /// Phase Succeeded or Failed, or being deleted: no longer counts.
    pub finished: bool,
}

/// Which pods the held policies select.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Per held policy, how many running pods its selector selects.
    pub running: BTreeMap<Target, usize>,
    /// The release's user pods (either generation, not finished) that no
    /// held policy selects: the allow-list does not reach them.
    pub unselected: Vec<String>,
}

/// Which pods each held policy selects (by the selector the server holds),
/// and which user pods none does.
pub fn coverage(held: &Held, pods: &[PodInfo], release: &str) -> Result<Coverage, String> {
    let mut coverage = Coverage::default();
    for pod in pods.iter().filter(|p| !p.finished) {
        let mut selected = false;
        for (target, policy) in &held.policies {
            let hit = selects(&policy.selector, &pod.labels)
                .map_err(|e| format!("NetworkPolicy {}: {e}", target.name()))?;
            selected |= hit;
            if hit && pod.running {
                *coverage.running.entry(*target).or_default() += 1;
            }
        }
        if !selected && is_user_pod(&pod.labels, release) {
            coverage.unselected.push(pod.name.clone());
        }
    }
    for target in held.policies.keys() {
        coverage.running.entry(*target).or_default();
    }
    Ok(coverage)
}

/// Whether a pod with these labels is one of the release's user pods, by
/// either label generation: its component label (old or new) says
/// `singleuser-server`, and no release label (old or new) names another
/// release.
pub fn is_user_pod(labels: &BTreeMap<String, String>, release: &str) -> bool {
    let user = [LABEL_COMPONENT, LABEL_APP_COMPONENT]
        .iter()
        .any(|k| labels.get(*k).map(String::as_str) == Some(USER_POD_COMPONENT));
    let other_release = [LABEL_RELEASE, LABEL_APP_INSTANCE]
        .iter()
        .any(|k| labels.get(*k).is_some_and(|r| r != release));
    user && !other_release
}

/// Whether a `podSelector` (as the server holds it: `matchLabels` and
/// `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`) selects
/// a pod with these labels; the selector's problem otherwise.
pub fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let Some(object) = selector.as_object() else {
        return Err(format!("podSelector is not a mapping: {selector}"));
    };
    if let Some(match_labels) = object.get("matchLabels") {
        let Some(pairs) = match_labels.as_object() else {
            return Err("podSelector.matchLabels is not a mapping".into());
        };
        for (key, want) in pairs {
            if labels.get(key).map(String::as_str) != want.as_str() {
                return Ok(false);
            }
        }
    }
    let expressions = match object.get("matchExpressions") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        Some(_) => return Err("podSelector.matchExpressions is not a list".into()),
    };
    for expression in expressions {
        let key = expression
            .get("key")
            .and_then(Value::as_str)
            .ok_or("podSelector.matchExpressions: an entry without a key")?;
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let value = labels.get(key).map(String::as_str);
        let ok = match expression.get("operator").and_then(Value::as_str) {
            Some("In") => value.is_some_and(|v| values.contains(&v)),
            Some("NotIn") => !value.is_some_and(|v| values.contains(&v)),
            Some("Exists") => value.is_some(),
            Some("DoesNotExist") => value.is_none(),
            other => {
                return Err(format!(
                    "podSelector.matchExpressions: key {key}: unknown operator {other:?}"
                ))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
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
        let m = manifest(Target::SingleUser, "binder", "bh", &merged.seen, T0).unwrap();
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

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pod(name: &str, pairs: &[(&str, &str)]) -> PodInfo {
        PodInfo {
            name: name.into(),
            labels: labels(pairs),
            running: true,
            finished: false,
        }
    }

    fn held(targets: &[Target], seen: &Seen, at: i64) -> Held {
        Held {
            policies: targets
                .iter()
                .map(|t| {
                    let m = manifest(*t, "binder", "bh", seen, at).unwrap();
                    (*t, parse_policy(&m).unwrap())
                })
                .collect(),
        }
    }

    #[test]
    fn each_generation_has_its_policy_and_selector() {
        let m = manifest(Target::SingleUserV2, "binder", "bh", &Seen::new(), T0).unwrap();
        assert_eq!(m["metadata"]["name"], "binderctl-egress-v2");
        assert_eq!(
            m["spec"]["podSelector"],
            json!({"matchLabels": {
                "app.kubernetes.io/component": "singleuser-server",
                "app.kubernetes.io/instance": "bh",
            }})
        );
        let m = manifest(Target::Build, "binder", "bh", &Seen::new(), T0).unwrap();
        assert_eq!(m["metadata"]["name"], "binderctl-egress-build");
        assert_eq!(
            m["spec"]["podSelector"],
            json!({"matchLabels": {"component": "binderhub-build"}})
        );
        // Build pods have no chart policy: DNS to kube-system is theirs.
        assert_eq!(m["spec"]["egress"][0]["ports"][0]["port"], 53);
        assert_eq!(
            Target::wanted(false),
            [Target::SingleUser, Target::SingleUserV2]
        );
        assert_eq!(Target::wanted(true).len(), 3);
        assert_eq!(
            Target::from_name("binderctl-egress-v2"),
            Some(Target::SingleUserV2)
        );
    }

    #[test]
    fn coverage_counts_per_policy_and_names_unselected_user_pods() {
        let pods = [
            pod(
                "old",
                &[("component", "singleuser-server"), ("release", "bh")],
            ),
            pod(
                "new",
                &[
                    ("app.kubernetes.io/component", "singleuser-server"),
                    ("app.kubernetes.io/instance", "bh"),
                ],
            ),
            pod(
                "both",
                &[
                    ("component", "singleuser-server"),
                    ("release", "bh"),
                    ("app.kubernetes.io/component", "singleuser-server"),
                    ("app.kubernetes.io/instance", "bh"),
                ],
            ),
            pod("hub", &[("component", "hub"), ("release", "bh")]),
            pod(
                "build-x",
                &[("component", "binderhub-build"), ("name", "build-x")],
            ),
            pod(
                "other",
                &[("component", "singleuser-server"), ("release", "zz")],
            ),
        ];
        let both = held(&Target::wanted(true), &Seen::new(), T0);
        let c = coverage(&both, &pods, "bh").unwrap();
        assert_eq!(c.running[&Target::SingleUser], 2);
        assert_eq!(c.running[&Target::SingleUserV2], 2);
        assert_eq!(c.running[&Target::Build], 1);
        assert!(c.unselected.is_empty(), "{c:?}");
        // Only the old policy: the new-labels-only pod is not reached.
        let old = held(&[Target::SingleUser], &Seen::new(), T0);
        let c = coverage(&old, &pods, "bh").unwrap();
        assert_eq!(c.unselected, ["new"]);
        // No policy at all: every user pod of the release, no other pod.
        let c = coverage(&Held::default(), &pods, "bh").unwrap();
        assert_eq!(c.unselected, ["old", "new", "both"]);
        // A finished pod does not count.
        let mut done = pods[1].clone();
        done.finished = true;
        assert!(coverage(&old, &[done], "bh").unwrap().unselected.is_empty());
    }

    #[test]
    fn selectors_are_evaluated_as_the_server_does() {
        let l = labels(&[("a", "1"), ("b", "2")]);
        assert!(selects(&json!({}), &l).unwrap());
        assert!(selects(&json!({"matchLabels": {"a": "1"}}), &l).unwrap());
        assert!(!selects(&json!({"matchLabels": {"a": "2"}}), &l).unwrap());
        let expr = |op: &str, values: &[&str]| json!({"matchExpressions": [{"key": "b", "operator": op, "values": values}]});
        assert!(selects(&expr("In", &["2", "3"]), &l).unwrap());
        assert!(!selects(&expr("NotIn", &["2"]), &l).unwrap());
        assert!(selects(&expr("Exists", &[]), &l).unwrap());
        assert!(!selects(&expr("DoesNotExist", &[]), &l).unwrap());
        let err = selects(&expr("Near", &[]), &l).unwrap_err();
        assert!(err.contains("key b") && err.contains("Near"), "{err}");
    }

    #[test]
    fn the_state_of_several_policies_is_the_latest_sighting() {
        let a = merge_with_grace(
            &Seen::new(),
            &[source("host a.test", &["192.0.2.1"])],
            T0,
            10,
        );
        let b = merge_with_grace(
            &Seen::new(),
            &[source("host a.test", &["192.0.2.1", "192.0.2.2"])],
            T0 + 5,
            10,
        );
        let mut h = held(&[Target::SingleUser], &a.seen, T0);
        h.policies
            .extend(held(&[Target::SingleUserV2], &b.seen, T0 + 5).policies);
        let seen = h.seen();
        assert_eq!(seen["host a.test"][&net("192.0.2.1/32")], T0 + 5);
        assert_eq!(seen["host a.test"].len(), 2);
        assert_eq!(h.applied_at(), Some(T0 + 5));
        assert_eq!(texts(&h.ranges()), ["192.0.2.1/32", "192.0.2.2/32"]);
    }

    #[test]
    fn no_ranges_means_no_rule_at_all() {
        let m = manifest(Target::SingleUser, "binder", "binder", &Seen::new(), T0).unwrap();
        assert_eq!(m["spec"]["egress"], json!([]));
    }

    #[test]
    fn names_that_cannot_be_labels_are_refused() {
        assert!(manifest(
            Target::SingleUser,
            "binder",
            "bad release",
            &Seen::new(),
            T0
        )
        .is_err());
        assert!(manifest(
            Target::SingleUser,
            "binder",
            &"r".repeat(64),
            &Seen::new(),
            T0
        )
        .is_err());
        assert!(manifest(Target::SingleUser, "binder", "-r", &Seen::new(), T0).is_err());
        assert!(manifest(
            Target::SingleUser,
            "binder",
            "my.release_1",
            &Seen::new(),
            T0
        )
        .is_ok());
    }

    #[test]
    fn someone_elses_policy_is_refused_and_bad_records_are_named() {
        let mut m = manifest(Target::SingleUser, "binder", "binder", &Seen::new(), T0).unwrap();
        m["metadata"]["labels"] = json!({});
        let err = parse_policy(&m).unwrap_err();
        assert!(err.contains("not binderctl's"), "{err}");
        let mut m = manifest(Target::SingleUser, "binder", "binder", &Seen::new(), T0).unwrap();
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
