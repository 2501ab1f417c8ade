//! The values transformation: binder.yaml's values in, Helm's values out.
//! Pure: the addresses were looked up before; nothing here does I/O.
//!
//! Three changes and nothing else: the repository whitelist becomes one
//! banned-spec pattern (and closes every other repository provider), the
//! egress ranges become one rule after the operator's own rules, and
//! binderctl's keys are removed.

use serde_yaml::{Mapping, Value};

use crate::egress::cidr::IpNet;
use crate::values::settings::{
    Whitelist, BANNED_SPEC_PLACEHOLDER, GITHUB_REPO_PROVIDER, KEY_ALLOW_LIST_MODE,
    KEY_BANNED_SPECS, KEY_CIDR_WHITELIST, KEY_DOMAIN_WHITELIST, KEY_EGRESS, KEY_EGRESS_TARGETS,
    KEY_PUBLISHED_LISTS, KEY_WHITELIST, KEY_WHITELIST_ENABLED, NETWORK_POLICY,
};

/// BinderHub's base provider class. Its traitlets config section applies to
/// every provider class that does not set the same trait itself (a
/// subclass's own section wins), so a `banned_specs` here closes every
/// provider but GitHub, whose own section carries the whitelist pattern.
pub const BASE_PROVIDER: &str = "RepoProvider";
/// The Gist provider is a subclass of the GitHub provider, so it would
/// inherit the GitHub whitelist (any listed owner's gists): closed in its
/// own section.
pub const GIST_PROVIDER: &str = "GistRepoProvider";
/// The banned spec that refuses every spec (`re.match` at the start).
pub const BAN_EVERYTHING: &str = ".*";
/// The providers BinderHub enables by default besides GitHub (its
/// `BinderHub.repo_providers`), as the messages name them.
pub const OTHER_PROVIDERS: [&str; 8] = [
    "Gist",
    "Git",
    "GitLab",
    "Zenodo",
    "Figshare",
    "HydroShare",
    "Dataverse",
    "CKAN",
];

/// The banned-spec pattern that refuses every repository whose owner is not
/// listed: `^(?!(OwnerA|OwnerB)\/).*$`. Owners are validated GitHub names
/// (letters, digits, hyphens), so none needs escaping.
pub fn whitelist_pattern(owners: &[String]) -> String {
    format!(r"^(?!({})\/).*$", owners.join("|"))
}

/// Whether a banned spec is a whitelist pattern binderctl (or the script
/// before it) generated, which a new render replaces.
fn is_whitelist_pattern(spec: &str) -> bool {
    spec.starts_with(r"^(?!(") && spec.ends_with(r")\/).*$")
}

/// Apply the whitelist and the egress rule to `values`; `egress` is the
/// merged, sorted list of ranges.
pub fn apply(values: &Value, whitelist: &Whitelist, egress: &[IpNet]) -> Value {
    let mut out = values.clone();
    apply_whitelist(&mut out, whitelist);
    apply_egress(&mut out, egress);
    out
}

fn apply_whitelist(values: &mut Value, whitelist: &Whitelist) {
    let Some(provider) = mapping_at(values, &GITHUB_REPO_PROVIDER) else {
        return;
    };
    provider.remove(KEY_WHITELIST_ENABLED);
    provider.remove(KEY_WHITELIST);
    match whitelist {
        Whitelist::Enabled(owners) => {
            let pattern = Value::String(whitelist_pattern(owners));
            match provider.get_mut(KEY_BANNED_SPECS) {
                Some(Value::Sequence(specs)) => place_pattern(specs, pattern),
                _ => {
                    provider.insert(KEY_BANNED_SPECS.into(), Value::Sequence(vec![pattern]));
                }
            }
            close_other_providers(values);
        }
        Whitelist::Disabled | Whitelist::Absent => {
            // Without a whitelist the placeholder would ban everything.
            if let Some(Value::Sequence(specs)) = provider.get_mut(KEY_BANNED_SPECS) {
                let before = specs.len();
                specs.retain(|s| s.as_str() != Some(BANNED_SPEC_PLACEHOLDER));
                if specs.is_empty() && before > 0 {
                    provider.remove(KEY_BANNED_SPECS);
                }
            }
            if provider.is_empty() {
                if let Some(config) = mapping_at(values, &GITHUB_REPO_PROVIDER[..1]) {
                    config.remove(GITHUB_REPO_PROVIDER[1]);
                }
            }
        }
    }
}

/// Ban every spec in every provider but GitHub: the base class's section,
/// the Gist provider's, and every other provider section the operator wrote
/// a `banned_specs` in (that list would otherwise override the base
/// class's). Returns the sections closed, as `config.NAME`.
pub fn close_other_providers(values: &mut Value) -> Vec<String> {
    let Some(config) = mapping_at(values, &GITHUB_REPO_PROVIDER[..1]) else {
        return Vec::new();
    };
    let mut sections: Vec<String> = vec![BASE_PROVIDER.into(), GIST_PROVIDER.into()];
    for (key, section) in config.iter() {
        let Some(name) = key.as_str() else { continue };
        let overrides = section
            .as_mapping()
            .is_some_and(|m| m.contains_key(KEY_BANNED_SPECS));
        if name.ends_with("Provider")
            && name != GITHUB_REPO_PROVIDER[1]
            && overrides
            && !sections.iter().any(|s| s == name)
        {
            sections.push(name.to_string());
        }
    }
    for name in &sections {
        let section = config
            .entry(Value::String(name.clone()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !section.is_mapping() {
            *section = Value::Mapping(Mapping::new());
        }
        let Some(section) = section.as_mapping_mut() else {
            continue;
        };
        let specs = section
            .entry(KEY_BANNED_SPECS.into())
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if !specs.is_sequence() {
            *specs = Value::Sequence(Vec::new());
        }
        if let Some(list) = specs.as_sequence_mut() {
            if !list.iter().any(|s| s.as_str() == Some(BAN_EVERYTHING)) {
                list.insert(0, Value::String(BAN_EVERYTHING.into()));
            }
        }
    }
    sections.iter().map(|s| format!("config.{s}")).collect()
}

/// Put the pattern where the placeholder (or an earlier generated pattern)
/// stood; otherwise first. The operator's other banned specs stay.
fn place_pattern(specs: &mut Vec<Value>, pattern: Value) {
    let placeholder = specs
        .iter()
        .position(|s| s.as_str() == Some(BANNED_SPEC_PLACEHOLDER));
    let slot = placeholder.or_else(|| {
        specs
            .first()
            .and_then(Value::as_str)
            .filter(|s| is_whitelist_pattern(s))
            .map(|_| 0)
    });
    match slot {
        Some(i) => specs[i] = pattern,
        None => specs.insert(0, pattern),
    }
    // A second placeholder would still ban everything.
    specs.retain(|s| s.as_str() != Some(BANNED_SPEC_PLACEHOLDER));
}

fn apply_egress(values: &mut Value, egress: &[IpNet]) {
    let Some(policy) = mapping_at(values, &NETWORK_POLICY) else {
        return;
    };
    for key in [
        KEY_DOMAIN_WHITELIST,
        KEY_CIDR_WHITELIST,
        KEY_PUBLISHED_LISTS,
        KEY_ALLOW_LIST_MODE,
        KEY_EGRESS_TARGETS,
    ] {
        policy.remove(key);
    }
    // An egress rule whose `to` is empty allows every destination, so no
    // ranges means no rule at all.
    if egress.is_empty() {
        return;
    }
    let rule = egress_rule(egress);
    match policy.get_mut(KEY_EGRESS) {
        Some(Value::Sequence(rules)) => rules.push(rule),
        _ => {
            policy.insert(KEY_EGRESS.into(), Value::Sequence(vec![rule]));
        }
    }
}

/// `{to: [{ipBlock: {cidr: …}}, …]}`
pub fn egress_rule(egress: &[IpNet]) -> Value {
    let to = egress
        .iter()
        .map(|net| {
            let mut block = Mapping::new();
            block.insert("cidr".into(), Value::String(net.to_string()));
            let mut peer = Mapping::new();
            peer.insert("ipBlock".into(), Value::Mapping(block));
            Value::Mapping(peer)
        })
        .collect();
    let mut rule = Mapping::new();
    rule.insert("to".into(), Value::Sequence(to));
    Value::Mapping(rule)
}

/// The CIDRs of the generated rule in rendered values: the `ipBlock` peers
/// of the rule at index `index` of the egress list, if it is one of ours.
pub fn generated_cidrs(values: &Value, index: usize) -> Option<Vec<String>> {
    let mut current = values;
    for key in NETWORK_POLICY.iter().chain([&KEY_EGRESS]) {
        current = current.as_mapping()?.get(*key)?;
    }
    let rule = current.as_sequence()?.get(index)?.as_mapping()?;
    if rule.len() != 1 {
        return None;
    }
    rule.get("to")?
        .as_sequence()?
        .iter()
        .map(|peer| {
            let peer = peer.as_mapping()?;
            if peer.len() != 1 {
                return None;
            }
            let block = peer.get("ipBlock")?.as_mapping()?;
            if block.len() != 1 {
                return None;
            }
            block.get("cidr")?.as_str().map(str::to_string)
        })
        .collect()
}

fn mapping_at<'a>(values: &'a mut Value, path: &[&str]) -> Option<&'a mut Mapping> {
    let mut current = values;
    for key in path {
        current = current.as_mapping_mut()?.get_mut(*key)?;
    }
    current.as_mapping_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::cidr;

    fn values(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| cidr::parse(s).unwrap()).collect()
    }

    const INPUT: &str = r#"
config:
  BinderHub:
    use_registry: true
  GitHubRepoProvider:
    whitelist_enabled: true
    whitelist: [OwnerA, OwnerB]
    banned_specs:
      - ^(?!()\/).*$
      - ^spam/.*
    high_quota_specs: [^OwnerA/.*]
jupyterhub:
  singleuser:
    networkPolicy:
      enabled: true
      domain_whitelist: [a.test]
      cidr_whitelist: [192.0.2.0/24]
      published_ip_lists: {github: [git]}
      egress:
        - to: [{ipBlock: {cidr: 198.51.100.0/24}}]
          ports: [{port: 443}]
"#;

    #[test]
    fn whitelist_becomes_the_first_banned_spec() {
        let out = apply(
            &values(INPUT),
            &Whitelist::Enabled(vec!["OwnerA".into(), "OwnerB".into()]),
            &nets(&["203.0.113.0/24"]),
        );
        let provider = &out["config"]["GitHubRepoProvider"];
        assert_eq!(
            provider["banned_specs"],
            values(r#"['^(?!(OwnerA|OwnerB)\/).*$', '^spam/.*']"#)
        );
        assert!(provider.get("whitelist").is_none());
        assert!(provider.get("whitelist_enabled").is_none());
        assert_eq!(provider["high_quota_specs"], values("['^OwnerA/.*']"));
    }

    #[test]
    fn pattern_matches_only_listed_owners() {
        let re = regex::Regex::new(
            &whitelist_pattern(&["OwnerA".into(), "b-2".into()]).replace("(?!", "("),
        )
        .unwrap();
        // The regex crate has no look-ahead; check the alternation part instead.
        assert!(re.is_match("OwnerA/repo/main"));
        assert!(re.is_match("b-2/x/HEAD"));
        assert!(!re.is_match("OwnerAB/repo/main"));
        assert!(!re.is_match("evil/OwnerA/main"));
    }

    #[test]
    fn whitelist_closes_every_other_provider() {
        let v = values("config:\n  GitHubRepoProvider:\n    banned_specs: ['^(?!()\\/).*$']\n  GitLabRepoProvider:\n    banned_specs: ['^spam/.*']\n    private_token: x\n  RepoProvider:\n    banned_specs: ['^evil/.*']\n");
        let out = apply(&v, &Whitelist::Enabled(vec!["c".into()]), &[]);
        let config = &out["config"];
        assert_eq!(
            config["GitHubRepoProvider"]["banned_specs"],
            values(r#"['^(?!(c)\/).*$']"#)
        );
        // The base class's section reaches every provider without its own list…
        assert_eq!(
            config["RepoProvider"]["banned_specs"],
            values("['.*', '^evil/.*']")
        );
        // …Gist (a GitHub subclass) and a provider with its own list are closed themselves.
        assert_eq!(config["GistRepoProvider"]["banned_specs"], values("['.*']"));
        assert_eq!(
            config["GitLabRepoProvider"]["banned_specs"],
            values("['.*', '^spam/.*']")
        );
        assert_eq!(config["GitLabRepoProvider"]["private_token"], values("x"));
        // Rendering twice closes once.
        let mut again = out.clone();
        close_other_providers(&mut again);
        assert_eq!(again, out);
        // Without the whitelist nothing is closed.
        let out = apply(&v, &Whitelist::Disabled, &[]);
        assert!(out["config"].get("GistRepoProvider").is_none());
        assert_eq!(
            out["config"]["RepoProvider"]["banned_specs"],
            values("['^evil/.*']")
        );
    }

    #[test]
    fn generated_pattern_is_replaced_not_stacked() {
        let v = values("config:\n  GitHubRepoProvider:\n    whitelist_enabled: true\n    whitelist: [c]\n    banned_specs: ['^(?!(a|b)\\/).*$', x]\n");
        let out = apply(&v, &Whitelist::Enabled(vec!["c".into()]), &[]);
        assert_eq!(
            out["config"]["GitHubRepoProvider"]["banned_specs"],
            values(r#"['^(?!(c)\/).*$', x]"#)
        );
    }

    #[test]
    fn operators_first_banned_spec_is_kept() {
        let v = values("config:\n  GitHubRepoProvider:\n    banned_specs: ['^spam/.*']\n");
        let out = apply(&v, &Whitelist::Enabled(vec!["c".into()]), &[]);
        assert_eq!(
            out["config"]["GitHubRepoProvider"]["banned_specs"],
            values(r#"['^(?!(c)\/).*$', '^spam/.*']"#)
        );
        let v = values("config:\n  GitHubRepoProvider: {}\n");
        let out = apply(&v, &Whitelist::Enabled(vec!["c".into()]), &[]);
        assert_eq!(
            out["config"]["GitHubRepoProvider"]["banned_specs"],
            values(r#"['^(?!(c)\/).*$']"#)
        );
    }

    #[test]
    fn disabled_whitelist_keeps_other_provider_settings() {
        let out = apply(&values(INPUT), &Whitelist::Disabled, &[]);
        let provider = &out["config"]["GitHubRepoProvider"];
        assert_eq!(provider["banned_specs"], values("['^spam/.*']"));
        assert_eq!(provider["high_quota_specs"], values("['^OwnerA/.*']"));
        assert!(provider.get("whitelist").is_none());
        assert!(provider.get("whitelist_enabled").is_none());
    }

    #[test]
    fn disabled_whitelist_with_nothing_else_removes_the_section() {
        let v = values("config:\n  BinderHub: {use_registry: true}\n  GitHubRepoProvider:\n    whitelist_enabled: false\n    whitelist: [a]\n    banned_specs: ['^(?!()\\/).*$']\n");
        let out = apply(&v, &Whitelist::Disabled, &[]);
        assert_eq!(out, values("config:\n  BinderHub: {use_registry: true}\n"));
    }

    #[test]
    fn egress_rule_follows_the_operators_rules() {
        let out = apply(
            &values(INPUT),
            &Whitelist::Disabled,
            &nets(&["192.0.2.0/24", "2001:db8::/32"]),
        );
        let policy = &out["jupyterhub"]["singleuser"]["networkPolicy"];
        assert_eq!(
            policy,
            &values(
                "enabled: true\negress:\n  - to: [{ipBlock: {cidr: 198.51.100.0/24}}]\n    ports: [{port: 443}]\n  - to: [{ipBlock: {cidr: 192.0.2.0/24}}, {ipBlock: {cidr: '2001:db8::/32'}}]\n"
            )
        );
        assert_eq!(
            generated_cidrs(&out, 1),
            Some(vec![
                "192.0.2.0/24".to_string(),
                "2001:db8::/32".to_string()
            ])
        );
        // The operator's rule has ports, so it is not mistaken for ours.
        assert_eq!(generated_cidrs(&out, 0), None);
    }

    #[test]
    fn no_ranges_means_no_rule() {
        let out = apply(&values(INPUT), &Whitelist::Disabled, &[]);
        let egress = out["jupyterhub"]["singleuser"]["networkPolicy"]["egress"]
            .as_sequence()
            .unwrap();
        assert_eq!(egress.len(), 1);
    }

    #[test]
    fn egress_list_is_created_when_missing() {
        let v = values(
            "jupyterhub:\n  singleuser:\n    networkPolicy:\n      domain_whitelist: [a.test]\n",
        );
        let out = apply(&v, &Whitelist::Absent, &nets(&["192.0.2.1/32"]));
        assert_eq!(out, values("jupyterhub:\n  singleuser:\n    networkPolicy:\n      egress:\n        - to: [{ipBlock: {cidr: 192.0.2.1/32}}]\n"));
    }

    #[test]
    fn input_is_not_modified_and_unrelated_values_survive() {
        let input = values(INPUT);
        let copy = input.clone();
        let out = apply(&input, &Whitelist::Disabled, &nets(&["192.0.2.0/24"]));
        assert_eq!(input, copy);
        assert_eq!(out["config"]["BinderHub"], copy["config"]["BinderHub"]);
    }
}
