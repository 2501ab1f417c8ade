//! binderctl's own keys in binder.yaml: read, type-checked and validated.
//! Pure: values in, settings (or every problem found) out.
//!
//! The keys, all removed from the rendered output:
//! - `config.GitHubRepoProvider.whitelist_enabled`, `…whitelist`: the owners
//!   whose repositories may be built.
//! - `jupyterhub.singleuser.networkPolicy.domain_whitelist`: hosts user pods
//!   may reach (A and AAAA records).
//! - `jupyterhub.singleuser.networkPolicy.cidr_whitelist`: static ranges.
//! - `jupyterhub.singleuser.networkPolicy.published_ip_lists`: which keys of
//!   GitHub's and Fastly's published lists to include (`[]` turns one off).
//! - `jupyterhub.singleuser.networkPolicy.allow_list_mode`: where the
//!   generated rule goes: `values` (into _binder.yaml, the default) or
//!   `policy` (a NetworkPolicy of its own, refreshed by `binderctl egress`).
//! - `jupyterhub.singleuser.networkPolicy.egress_targets`: which pods the
//!   allow-list binds in policy mode: `[singleuser]` (the default) or
//!   `[singleuser, build]` (BinderHub's build pods too).

use serde_yaml::{Mapping, Value};

use crate::egress::cidr::{self, IpNet};

/// The placeholder that binder.yaml carries as the first banned spec; on its
/// own it bans every repository, so it must never reach Helm unreplaced.
pub const BANNED_SPEC_PLACEHOLDER: &str = r"^(?!()\/).*$";

pub const GITHUB_REPO_PROVIDER: [&str; 2] = ["config", "GitHubRepoProvider"];
pub const NETWORK_POLICY: [&str; 3] = ["jupyterhub", "singleuser", "networkPolicy"];

pub const KEY_WHITELIST_ENABLED: &str = "whitelist_enabled";
pub const KEY_WHITELIST: &str = "whitelist";
pub const KEY_BANNED_SPECS: &str = "banned_specs";
pub const KEY_DOMAIN_WHITELIST: &str = "domain_whitelist";
pub const KEY_CIDR_WHITELIST: &str = "cidr_whitelist";
pub const KEY_PUBLISHED_LISTS: &str = "published_ip_lists";
pub const KEY_EGRESS: &str = "egress";
pub const KEY_ALLOW_LIST_MODE: &str = "allow_list_mode";
pub const KEY_EGRESS_TARGETS: &str = "egress_targets";

/// GitHub's list is on by default with its `git` ranges (clone, fetch).
pub const DEFAULT_GITHUB_KEYS: [&str; 1] = ["git"];
/// Fastly's list is on by default, both families: the Python package index
/// is served by Fastly.
pub const DEFAULT_FASTLY_KEYS: [&str; 2] = ["addresses", "ipv6_addresses"];

/// What the repository whitelist asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whitelist {
    /// No `whitelist_enabled` and no `whitelist`: nothing to do.
    Absent,
    /// `whitelist_enabled: false`: drop binderctl's keys and the placeholder.
    Disabled,
    /// Only these owners' repositories may be built (validated, deduplicated).
    Enabled(Vec<String>),
}

/// Where the generated egress rule goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AllowListMode {
    /// Into the rendered values, as the chart's egress rule (changes with
    /// DNS, so refreshing it means a Helm upgrade).
    #[default]
    Values,
    /// Into the NetworkPolicy `binderctl-egress`, refreshed without Helm.
    Policy,
}

impl AllowListMode {
    pub fn name(self) -> &'static str {
        match self {
            AllowListMode::Values => "values",
            AllowListMode::Policy => "policy",
        }
    }
}

/// Everything `render` needs to know beyond the values themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub whitelist: Whitelist,
    /// Hosts to resolve, lower-cased, without trailing dot, deduplicated, in
    /// the order written.
    pub hosts: Vec<String>,
    /// Static ranges from `cidr_whitelist`.
    pub cidrs: Vec<IpNet>,
    /// Keys of GitHub's published list to include; empty = off.
    pub github_keys: Vec<String>,
    /// Keys of Fastly's published list to include; empty = off.
    pub fastly_keys: Vec<String>,
    /// How many egress rules the operator wrote; the generated rule follows them.
    pub user_egress_rules: usize,
    /// Where the generated rule goes.
    pub mode: AllowListMode,
    /// `egress_targets` holds `build`: the build pods get the allow-list
    /// too (policy mode only).
    pub build_egress: bool,
    /// `egressAllowRules.nonPrivateIPs` is not false: the chart lets user
    /// pods reach every public address.
    pub allows_public: bool,
    /// Things worth telling the operator that do not stop the render.
    pub warnings: Vec<String>,
    /// Warnings `-q` never drops: the allow-list restricts nothing.
    pub alerts: Vec<String>,
}

/// Read binderctl's settings from the values. On failure every problem is
/// returned, one line each, naming the key.
pub fn read(values: &Value) -> Result<Settings, Vec<String>> {
    let mut problems = Vec::new();
    if !values.is_mapping() {
        return Err(vec![format!(
            "the top level must be a mapping of Helm values, found {}",
            kind(values)
        )]);
    }

    let whitelist = read_whitelist(values, &mut problems);

    let mut settings = Settings {
        whitelist,
        hosts: Vec::new(),
        cidrs: Vec::new(),
        github_keys: Vec::new(),
        fastly_keys: Vec::new(),
        user_egress_rules: 0,
        mode: AllowListMode::Values,
        build_egress: false,
        allows_public: false,
        warnings: Vec::new(),
        alerts: Vec::new(),
    };

    match lookup(values, &NETWORK_POLICY) {
        Lookup::Missing(path) => problems.push(format!(
            "{path}: missing section; binderctl writes the egress rule for user pods under \
             jupyterhub.singleuser.networkPolicy (add `domain_whitelist: []` there to allow \
             only the published lists)"
        )),
        Lookup::WrongType(path, found) => {
            problems.push(format!("{path}: expected a mapping, found {found}"))
        }
        Lookup::Found(Value::Mapping(policy)) => {
            read_network_policy(policy, &mut settings, &mut problems)
        }
        Lookup::Found(other) => problems.push(format!(
            "{}: expected a mapping, found {}",
            NETWORK_POLICY.join("."),
            kind(other)
        )),
    }

    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems)
    }
}

fn read_whitelist(values: &Value, problems: &mut Vec<String>) -> Whitelist {
    let provider = match lookup(values, &GITHUB_REPO_PROVIDER) {
        Lookup::Missing(_) => return Whitelist::Absent,
        Lookup::WrongType(path, found) => {
            problems.push(format!("{path}: expected a mapping, found {found}"));
            return Whitelist::Absent;
        }
        Lookup::Found(Value::Mapping(m)) => m,
        Lookup::Found(other) => {
            problems.push(format!(
                "{}: expected a mapping, found {}",
                GITHUB_REPO_PROVIDER.join("."),
                kind(other)
            ));
            return Whitelist::Absent;
        }
    };
    let base = GITHUB_REPO_PROVIDER.join(".");
    let enabled = match provider.get(KEY_WHITELIST_ENABLED) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            problems.push(format!(
                "{base}.{KEY_WHITELIST_ENABLED}: expected true or false, found {}",
                kind(other)
            ));
            return Whitelist::Absent;
        }
    };
    let list = provider.get(KEY_WHITELIST);
    if let Some(specs) = provider.get(KEY_BANNED_SPECS) {
        if !matches!(specs, Value::Sequence(_) | Value::Null) {
            problems.push(format!(
                "{base}.{KEY_BANNED_SPECS}: expected a list of patterns, found {}",
                kind(specs)
            ));
        }
    }
    match (enabled, list) {
        (None, None) => Whitelist::Absent,
        (None, Some(_)) => {
            problems.push(format!(
                "{base}.{KEY_WHITELIST_ENABLED}: missing; set it to true to allow only the \
                 owners in {KEY_WHITELIST}, or false to allow every repository"
            ));
            Whitelist::Absent
        }
        (Some(false), _) => Whitelist::Disabled,
        (Some(true), None) => {
            problems.push(format!(
                "{base}.{KEY_WHITELIST}: missing while {KEY_WHITELIST_ENABLED} is true; list the \
                 GitHub users and organisations whose repositories may be built"
            ));
            Whitelist::Absent
        }
        (Some(true), Some(list)) => {
            let owners = read_owners(list, &format!("{base}.{KEY_WHITELIST}"), problems);
            Whitelist::Enabled(owners)
        }
    }
}

fn read_owners(list: &Value, path: &str, problems: &mut Vec<String>) -> Vec<String> {
    let Value::Sequence(items) = list else {
        problems.push(format!(
            "{path}: expected a list of GitHub owners, found {}",
            kind(list)
        ));
        return Vec::new();
    };
    if items.is_empty() {
        problems.push(format!(
            "{path}: empty while whitelist_enabled is true, which would refuse every repository; \
             list at least one owner or set whitelist_enabled: false"
        ));
        return Vec::new();
    }
    let mut owners: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(name) = scalar_text(item) else {
            problems.push(format!(
                "{path}[{i}]: expected a GitHub owner name, found {}",
                kind(item)
            ));
            continue;
        };
        if let Err(why) = validate_github_owner(&name) {
            problems.push(format!(
                "{path}[{i}]: {name:?} is not a valid GitHub owner name: {why}"
            ));
            continue;
        }
        // GitHub owner names are case-insensitive: one entry per owner.
        if !owners.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
            owners.push(name);
        }
    }
    owners
}

/// GitHub's rules for user and organisation names: 1 to 39 characters,
/// ASCII letters, digits and single hyphens, not at the start or the end.
pub fn validate_github_owner(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 39 {
        return Err("it is longer than 39 characters");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("only letters, digits and hyphens are allowed");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("it may not begin or end with a hyphen");
    }
    if name.contains("--") {
        return Err("it may not contain two hyphens in a row");
    }
    Ok(())
}

fn read_network_policy(policy: &Mapping, settings: &mut Settings, problems: &mut Vec<String>) {
    let base = NETWORK_POLICY.join(".");

    match policy.get(KEY_EGRESS) {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(rules)) => settings.user_egress_rules = rules.len(),
        Some(other) => problems.push(format!(
            "{base}.{KEY_EGRESS}: expected a list of egress rules, found {}",
            kind(other)
        )),
    }

    if let Some(list) = policy.get(KEY_DOMAIN_WHITELIST) {
        settings.hosts = read_hosts(list, &format!("{base}.{KEY_DOMAIN_WHITELIST}"), problems);
    }
    if let Some(list) = policy.get(KEY_CIDR_WHITELIST) {
        settings.cidrs = read_cidrs(list, &format!("{base}.{KEY_CIDR_WHITELIST}"), problems);
    }

    match policy.get(KEY_ALLOW_LIST_MODE) {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "values" => settings.mode = AllowListMode::Values,
        Some(Value::String(s)) if s == "policy" => settings.mode = AllowListMode::Policy,
        Some(other) => problems.push(format!(
            "{base}.{KEY_ALLOW_LIST_MODE}: expected `values` (the rule goes into the rendered \
             values) or `policy` (a NetworkPolicy of its own), found {}",
            match other {
                Value::String(s) => format!("{s:?}"),
                other => kind(other).to_string(),
            }
        )),
    }

    if let Some(value) = policy.get(KEY_EGRESS_TARGETS) {
        let path = format!("{base}.{KEY_EGRESS_TARGETS}");
        let targets = read_list_keys(value, &path, problems);
        for target in &targets {
            if target != "singleuser" && target != "build" {
                problems.push(format!(
                    "{path}: unknown target {target:?}; the targets are `singleuser` (user \
                     pods) and `build` (BinderHub's build pods)"
                ));
            }
        }
        if !targets.iter().any(|t| t == "singleuser") {
            problems.push(format!(
                "{path}: must hold `singleuser` (the allow-list always binds the user pods); \
                 write [singleuser, build] to add the build pods"
            ));
        }
        settings.build_egress = targets.iter().any(|t| t == "build");
        if settings.build_egress && settings.mode != AllowListMode::Policy {
            problems.push(format!(
                "{path}: `build` needs {base}.{KEY_ALLOW_LIST_MODE}: policy (the chart has no \
                 values for the build pods' egress; binderctl puts the allow-list on them in a \
                 NetworkPolicy of its own)"
            ));
        }
    }

    settings.github_keys = DEFAULT_GITHUB_KEYS.iter().map(|s| s.to_string()).collect();
    settings.fastly_keys = DEFAULT_FASTLY_KEYS.iter().map(|s| s.to_string()).collect();
    match policy.get(KEY_PUBLISHED_LISTS) {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(lists)) => {
            let path = format!("{base}.{KEY_PUBLISHED_LISTS}");
            for (key, value) in lists {
                let name = scalar_text(key).unwrap_or_default();
                let target = match name.as_str() {
                    "github" => &mut settings.github_keys,
                    "fastly" => &mut settings.fastly_keys,
                    _ => {
                        problems.push(format!(
                            "{path}: unknown list {name:?}; the lists are `github` and `fastly`"
                        ));
                        continue;
                    }
                };
                *target = read_list_keys(value, &format!("{path}.{name}"), problems);
            }
        }
        Some(other) => problems.push(format!(
            "{base}.{KEY_PUBLISHED_LISTS}: expected a mapping like `github: [git]`, found {}",
            kind(other)
        )),
    }

    // The generated rule only restricts anything when the chart's own rules
    // do not already allow every public address.
    let chart_policy_off = matches!(policy.get("enabled"), Some(Value::Bool(false)));
    if chart_policy_off && settings.mode == AllowListMode::Policy {
        // binderctl-egress adds to the chart's policy; alone it would be
        // the user pods' only egress policy and cut off DNS and the hub.
        problems.push(format!(
            "{base}.enabled is false while {KEY_ALLOW_LIST_MODE} is policy: the NetworkPolicy \
             binderctl-egress adds to the chart's own policy for user pods, and alone it would \
             cut them off from DNS and the hub; set enabled: true"
        ));
    } else if chart_policy_off {
        settings.alerts.push(format!(
            "{base}.enabled is false: the egress allow-list will not be enforced"
        ));
    }
    let allows_public = match policy.get("egressAllowRules") {
        Some(Value::Mapping(rules)) => {
            !matches!(rules.get("nonPrivateIPs"), Some(Value::Bool(false)))
        }
        _ => true,
    };
    settings.allows_public = allows_public;
    if allows_public {
        settings.alerts.push(format!(
            "{base}.egressAllowRules.nonPrivateIPs is not false: the chart lets user pods reach \
             every public address, so the allow-list restricts nothing"
        ));
    }
}

fn read_hosts(list: &Value, path: &str, problems: &mut Vec<String>) -> Vec<String> {
    let items = match list {
        Value::Null => return Vec::new(),
        Value::Sequence(items) => items,
        other => {
            problems.push(format!(
                "{path}: expected a list of host names, found {}",
                kind(other)
            ));
            return Vec::new();
        }
    };
    let mut hosts: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(text) = scalar_text(item) else {
            problems.push(format!(
                "{path}[{i}]: expected a host name, found {}",
                kind(item)
            ));
            continue;
        };
        let host = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if host.parse::<std::net::IpAddr>().is_ok() || cidr::parse(&host).is_ok() {
            problems.push(format!(
                "{path}[{i}]: {text:?} is an address, not a host name; list it under {KEY_CIDR_WHITELIST}"
            ));
            continue;
        }
        if let Err(why) = validate_host_name(&host) {
            problems.push(format!(
                "{path}[{i}]: {text:?} is not a valid host name: {why}"
            ));
            continue;
        }
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// DNS host name rules: labels of 1 to 63 letters, digits, hyphens (and
/// underscores, which real zones use), not starting or ending with a hyphen;
/// at most 253 characters.
pub fn validate_host_name(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("it is empty");
    }
    if host.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row?)");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("only letters, digits, hyphens and dots are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label may not begin or end with a hyphen");
        }
    }
    Ok(())
}

fn read_cidrs(list: &Value, path: &str, problems: &mut Vec<String>) -> Vec<IpNet> {
    let items = match list {
        Value::Null => return Vec::new(),
        Value::Sequence(items) => items,
        other => {
            problems.push(format!(
                "{path}: expected a list of CIDRs, found {}",
                kind(other)
            ));
            return Vec::new();
        }
    };
    let mut nets = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(text) = scalar_text(item) else {
            problems.push(format!(
                "{path}[{i}]: expected a CIDR, found {}",
                kind(item)
            ));
            continue;
        };
        match cidr::parse(&text) {
            Ok(net) => nets.push(net),
            Err(e) => problems.push(format!("{path}[{i}]: {e}")),
        }
    }
    nets
}

fn read_list_keys(value: &Value, path: &str, problems: &mut Vec<String>) -> Vec<String> {
    let items = match value {
        Value::Null => return Vec::new(),
        Value::Sequence(items) => items,
        other => {
            problems.push(format!(
                "{path}: expected a list of keys (`[]` turns the list off), found {}",
                kind(other)
            ));
            return Vec::new();
        }
    };
    let mut keys: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if !s.trim().is_empty() => {
                if !keys.contains(s) {
                    keys.push(s.clone());
                }
            }
            other => problems.push(format!(
                "{path}[{i}]: expected a key name, found {}",
                kind(other)
            )),
        }
    }
    keys
}

/// The text of a scalar an operator may have written unquoted (a host like
/// `1.example` is still text; an owner like `123` reads as a number).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A short name for a value's type, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

enum Lookup<'a> {
    Found(&'a Value),
    /// The dotted path up to the first key that is missing.
    Missing(String),
    /// A value on the way is not a mapping: its path and type.
    WrongType(String, &'static str),
}

fn lookup<'a>(values: &'a Value, path: &[&str]) -> Lookup<'a> {
    let mut current = values;
    for (depth, key) in path.iter().enumerate() {
        let Value::Mapping(map) = current else {
            return Lookup::WrongType(path[..depth].join("."), kind(current));
        };
        match map.get(*key) {
            Some(next) => current = next,
            None => return Lookup::Missing(path[..=depth].join(".")),
        }
    }
    Lookup::Found(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    const POLICY: &str = "jupyterhub:\n  singleuser:\n    networkPolicy:\n      enabled: true\n      egressAllowRules:\n        nonPrivateIPs: false\n";

    #[test]
    fn reads_a_complete_file() {
        let v = values(&format!(
            "config:\n  GitHubRepoProvider:\n    whitelist_enabled: true\n    whitelist: [OwnerA, owner-b, ownera]\n{POLICY}      domain_whitelist: [Files.Example., data.test, data.test]\n      cidr_whitelist: ['192.0.2.0/24']\n      published_ip_lists:\n        github: [git, web]\n        fastly: []\n      egress:\n        - to: [{{ipBlock: {{cidr: 198.51.100.0/24}}}}]\n"
        ));
        let s = read(&v).unwrap();
        assert_eq!(
            s.whitelist,
            Whitelist::Enabled(vec!["OwnerA".into(), "owner-b".into()])
        );
        assert_eq!(s.hosts, vec!["files.example", "data.test"]);
        assert_eq!(s.cidrs, vec![cidr::parse("192.0.2.0/24").unwrap()]);
        assert_eq!(s.github_keys, vec!["git", "web"]);
        assert!(s.fastly_keys.is_empty());
        assert_eq!(s.user_egress_rules, 1);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn allow_list_mode_defaults_to_values_and_is_checked() {
        assert_eq!(read(&values(POLICY)).unwrap().mode, AllowListMode::Values);
        let s = read(&values(&format!("{POLICY}      allow_list_mode: policy\n"))).unwrap();
        assert_eq!(s.mode, AllowListMode::Policy);
        let s = read(&values(&format!("{POLICY}      allow_list_mode: values\n"))).unwrap();
        assert_eq!(s.mode, AllowListMode::Values);
        let text = read(&values(&format!("{POLICY}      allow_list_mode: Policy\n")))
            .unwrap_err()
            .join("\n");
        assert!(
            text.contains("networkPolicy.allow_list_mode: expected `values`")
                && text.contains("found \"Policy\""),
            "{text}"
        );
        let off = POLICY.replace("enabled: true", "enabled: false");
        let text = read(&values(&format!("{off}      allow_list_mode: policy\n")))
            .unwrap_err()
            .join("\n");
        assert!(text.contains("cut them off from DNS"), "{text}");
        let text = read(&values(&format!("{POLICY}      allow_list_mode: true\n")))
            .unwrap_err()
            .join("\n");
        assert!(text.contains("found a boolean"), "{text}");
    }

    #[test]
    fn egress_targets_default_to_user_pods_and_add_build_pods_in_policy_mode() {
        let policy = format!("{POLICY}      allow_list_mode: policy\n");
        assert!(!read(&values(&policy)).unwrap().build_egress);
        let s = read(&values(&format!(
            "{policy}      egress_targets: [singleuser, build]\n"
        )))
        .unwrap();
        assert!(s.build_egress);
        let s = read(&values(&format!(
            "{policy}      egress_targets: [singleuser]\n"
        )))
        .unwrap();
        assert!(!s.build_egress);
        let text = read(&values(&format!(
            "{policy}      egress_targets: [build, hub]\n"
        )))
        .unwrap_err()
        .join("\n");
        assert!(
            text.contains("networkPolicy.egress_targets: unknown target \"hub\"")
                && text.contains("must hold `singleuser`"),
            "{text}"
        );
        let text = read(&values(&format!(
            "{POLICY}      egress_targets: [singleuser, build]\n"
        )))
        .unwrap_err()
        .join("\n");
        assert!(text.contains("`build` needs"), "{text}");
    }

    #[test]
    fn published_lists_default_to_git_and_both_fastly_families() {
        let s = read(&values(POLICY)).unwrap();
        assert_eq!(s.github_keys, vec!["git"]);
        assert_eq!(s.fastly_keys, vec!["addresses", "ipv6_addresses"]);
        assert_eq!(s.whitelist, Whitelist::Absent);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let v = values(&format!(
            "config:\n  GitHubRepoProvider:\n    whitelist_enabled: true\n    whitelist: [good, -bad, 'a b', [x]]\n{POLICY}      domain_whitelist: [ok.test, 'bad host', 192.0.2.1]\n      cidr_whitelist: [192.0.2.1/24, nonsense]\n      published_ip_lists: {{gitlab: [x]}}\n"
        ));
        let problems = read(&v).unwrap_err();
        let text = problems.join("\n");
        for needle in [
            "config.GitHubRepoProvider.whitelist[1]: \"-bad\"",
            "config.GitHubRepoProvider.whitelist[2]: \"a b\"",
            "config.GitHubRepoProvider.whitelist[3]: expected a GitHub owner name, found a list",
            "networkPolicy.domain_whitelist[1]: \"bad host\"",
            "networkPolicy.domain_whitelist[2]: \"192.0.2.1\" is an address",
            "networkPolicy.cidr_whitelist[0]:",
            "networkPolicy.cidr_whitelist[1]:",
            "published_ip_lists: unknown list \"gitlab\"",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert_eq!(problems.len(), 8, "{text}");
    }

    #[test]
    fn enabled_whitelist_must_not_be_empty() {
        let v = values(&format!(
            "config:\n  GitHubRepoProvider:\n    whitelist_enabled: true\n    whitelist: []\n{POLICY}"
        ));
        let text = read(&v).unwrap_err().join("\n");
        assert!(text.contains("would refuse every repository"), "{text}");
    }

    #[test]
    fn whitelist_without_switch_is_ambiguous() {
        let v = values(&format!(
            "config:\n  GitHubRepoProvider:\n    whitelist: [a]\n{POLICY}"
        ));
        let text = read(&v).unwrap_err().join("\n");
        assert!(text.contains("whitelist_enabled: missing"), "{text}");
    }

    #[test]
    fn disabled_whitelist_needs_no_list() {
        let v = values(&format!(
            "config:\n  GitHubRepoProvider:\n    whitelist_enabled: false\n{POLICY}"
        ));
        assert_eq!(read(&v).unwrap().whitelist, Whitelist::Disabled);
    }

    #[test]
    fn ill_typed_keys_are_named() {
        let v = values("config:\n  GitHubRepoProvider:\n    whitelist_enabled: 'yes'\njupyterhub:\n  singleuser:\n    networkPolicy:\n      egress: {}\n      domain_whitelist: a.test\n");
        let text = read(&v).unwrap_err().join("\n");
        assert!(
            text.contains("whitelist_enabled: expected true or false, found a string"),
            "{text}"
        );
        assert!(
            text.contains("networkPolicy.egress: expected a list of egress rules"),
            "{text}"
        );
        assert!(
            text.contains("networkPolicy.domain_whitelist: expected a list of host names"),
            "{text}"
        );
    }

    #[test]
    fn missing_network_policy_section_is_an_error() {
        let text = read(&values("jupyterhub:\n  singleuser: {}\n"))
            .unwrap_err()
            .join("\n");
        assert!(
            text.starts_with("jupyterhub.singleuser.networkPolicy: missing section"),
            "{text}"
        );
        let text = read(&values("jupyterhub: 3\n")).unwrap_err().join("\n");
        assert!(
            text.contains("jupyterhub: expected a mapping, found a number"),
            "{text}"
        );
        let text = read(&values("- a\n")).unwrap_err().join("\n");
        assert!(text.contains("top level must be a mapping"), "{text}");
    }

    #[test]
    fn warns_when_policy_would_not_restrict() {
        let v = values("jupyterhub:\n  singleuser:\n    networkPolicy:\n      enabled: false\n");
        let s = read(&v).unwrap();
        assert_eq!(s.alerts.len(), 2, "{:?}", s.alerts);
        assert!(s.alerts[0].contains("enabled is false"));
        assert!(s.alerts[1].contains("nonPrivateIPs is not false"));
    }

    #[test]
    fn github_owner_rules() {
        for ok in [
            "a",
            "A1",
            "jupyterhub",
            "intel4coro",
            "a-b-c",
            &"x".repeat(39),
        ] {
            assert!(validate_github_owner(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a.b",
            "a/b",
            "ä",
            &"x".repeat(40),
        ] {
            assert!(validate_github_owner(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_name_rules() {
        for ok in ["a.test", "x-1.data.example", "_srv.example", "localhost"] {
            assert!(validate_host_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a..test",
            "-a.test",
            "a-.test",
            "a b.test",
            "a/b",
            &format!("{}.test", "x".repeat(64)),
        ] {
            assert!(validate_host_name(bad).is_err(), "{bad}");
        }
    }
}
