//! `binderctl whitelist check SPEC_OR_URL`: would BinderHub build this
//! repository with the rendered configuration, and why.
//!
//! BinderHub's rules (binderhub/repoproviders.py, `RepoProvider.is_banned`):
//! each pattern of `banned_specs` is tried with Python's `re.match(pattern,
//! spec, re.IGNORECASE)`, which matches at the start of the spec only and
//! ignores case; any match refuses. Then, when `allowed_specs` is not
//! empty, the spec must match one of them. Each trait comes from the most
//! derived class section of the traitlets config that sets it
//! (`config.GistRepoProvider`, then `config.GitHubRepoProvider`, then
//! `config.RepoProvider`, …), as the chart loads `config` into traitlets.

use crate::error::ShownPath;
use std::path::Path;

use anyhow::Result;
use serde_yaml::Value;

use crate::cluster::runner::stdout_line;
use crate::error::Outcome;
use crate::ops::render::{read_values, warn};
use crate::values::settings::{GITHUB_REPO_PROVIDER, KEY_WHITELIST_ENABLED};

use std::path::PathBuf;

/// BinderHub's default providers: URL prefix, traitlets class, name.
pub const PROVIDERS: [(&str, &str, &str); 9] = [
    ("gh", "GitHubRepoProvider", "GitHub"),
    ("gist", "GistRepoProvider", "Gist"),
    ("git", "GitRepoProvider", "Git"),
    ("gl", "GitLabRepoProvider", "GitLab"),
    ("zenodo", "ZenodoProvider", "Zenodo"),
    ("figshare", "FigshareProvider", "Figshare"),
    ("hydroshare", "HydroshareProvider", "HydroShare"),
    ("dataverse", "DataverseProvider", "Dataverse"),
    ("ckan", "CKANProvider", "CKAN"),
];

/// Longer input is refused rather than matched.
const MAX_INPUT: usize = 4096;

/// A repository as BinderHub sees it: provider prefix and spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub prefix: String,
    pub spec: String,
}

/// The answer and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: String,
}

/// `whitelist check`'s question: may this repository be built, by the
/// rendered values in `file`?
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub spec_or_url: String,
    pub file: PathBuf,
}

pub async fn check(options: &CheckOptions) -> Result<Outcome> {
    let CheckOptions { spec_or_url, file } = options;
    let request = parse_request(spec_or_url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let values = read_values(file)?;
    if looks_unrendered(&values) {
        warn(&format!(
            "{}: holds binderctl's own keys ({KEY_WHITELIST_ENABLED}): this is the input, not \
             the rendered file BinderHub gets; pass that with -f",
            file.shown()
        ));
    }
    let verdict = decide(&values, &request).map_err(|e| anyhow::anyhow!("{}: {e}", show(file)))?;
    let answer = if verdict.allowed {
        "allowed"
    } else {
        "refused"
    };
    stdout_line(&format!(
        "{}/{}: {answer}: {}",
        request.prefix, request.spec, verdict.reason
    ));
    if values.get("extraConfig").is_some() {
        warn("the values have extraConfig (Python run by BinderHub), which may change this answer");
    }
    Ok(if verdict.allowed {
        Outcome::Success
    } else {
        Outcome::Changed
    })
}

fn show(file: &Path) -> String {
    file.shown().to_string()
}

fn looks_unrendered(values: &Value) -> bool {
    GITHUB_REPO_PROVIDER
        .iter()
        .try_fold(values, |v, k| v.get(*k))
        .is_some_and(|p| p.get(KEY_WHITELIST_ENABLED).is_some())
}

/// A launch URL or path (`https://binder.example/v2/gh/o/r/HEAD`,
/// `v2/gl/g%2Fr/HEAD`), a provider and spec (`zenodo/10.5281/zenodo.1`), a
/// repository URL (GitHub, Gist, GitLab; any other URL goes through the
/// Git provider, as BinderHub's form sends it) or `OWNER/REPO[/REF]`.
pub fn parse_request(input: &str) -> Result<Request, String> {
    let text = input.trim();
    if text.is_empty() || text.len() > MAX_INPUT || text.chars().any(char::is_control) {
        return Err(format!(
            "{:?} is not a repository: give a launch URL, PROVIDER/SPEC or a repository URL",
            shorten(text)
        ));
    }
    let path = match text.split_once("://") {
        Some((_, rest)) => match rest.find("/v2/") {
            Some(at) => &rest[at + 4..],
            None => return Ok(from_repository_url(text, rest)),
        },
        None => text.trim_start_matches('/'),
    };
    let path = path.strip_prefix("v2/").unwrap_or(path);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let (first, rest) = path.split_once('/').unwrap_or((path, ""));
    if PROVIDERS.iter().any(|(prefix, _, _)| *prefix == first) {
        if rest.is_empty() {
            return Err(format!(
                "{text:?}: the {first} provider needs a spec after {first}/"
            ));
        }
        return Ok(Request {
            prefix: first.to_string(),
            spec: rest.to_string(),
        });
    }
    Ok(Request {
        prefix: "gh".into(),
        spec: with_ref(path.trim_end_matches('/')),
    })
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

/// `owner/repo` gets BinderHub's default ref.
fn with_ref(spec: &str) -> String {
    if spec.matches('/').count() < 2 {
        format!("{spec}/HEAD")
    } else {
        spec.to_string()
    }
}

fn from_repository_url(url: &str, rest: &str) -> Request {
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.rsplit('@').next().unwrap_or(host).to_ascii_lowercase();
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match (host.as_str(), parts.as_slice()) {
        ("github.com" | "www.github.com", [owner, repo, "tree", reference @ ..])
            if !reference.is_empty() =>
        {
            Request {
                prefix: "gh".into(),
                spec: format!("{owner}/{repo}/{}", reference.join("/")),
            }
        }
        ("github.com" | "www.github.com", [owner, repo]) => Request {
            prefix: "gh".into(),
            spec: format!("{owner}/{repo}/HEAD"),
        },
        ("gist.github.com", [user, id, ..]) => Request {
            prefix: "gist".into(),
            spec: format!("{user}/{id}/HEAD"),
        },
        ("gitlab.com", [_, ..]) => Request {
            prefix: "gl".into(),
            spec: format!("{}/HEAD", encode_component(&parts.join("/"))),
        },
        _ => Request {
            prefix: "git".into(),
            spec: format!("{}/HEAD", encode_component(url)),
        },
    }
}

/// JavaScript's `encodeURIComponent`, as BinderHub's form encodes repositories.
fn encode_component(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The traitlets sections a provider class reads, most derived first.
fn sections(class: &'static str) -> Vec<&'static str> {
    let mut chain = vec![class];
    if class == "GistRepoProvider" {
        chain.push("GitHubRepoProvider");
    }
    chain.extend(["RepoProvider", "LoggingConfigurable", "Configurable"]);
    chain
}

/// The value of `name` for `class`: from the most derived section setting it.
fn trait_list(
    config: Option<&Value>,
    class: &'static str,
    name: &str,
) -> Result<Option<(&'static str, Vec<String>)>, String> {
    for section in sections(class) {
        let Some(value) = config
            .and_then(|c| c.get(section))
            .and_then(|s| s.get(name))
        else {
            continue;
        };
        let list = match value {
            Value::Null => Vec::new(),
            Value::Sequence(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("config.{section}.{name}: expected a list of patterns"))?,
            _ => {
                return Err(format!(
                    "config.{section}.{name}: expected a list of patterns"
                ))
            }
        };
        return Ok(Some((section, list)));
    }
    Ok(None)
}

/// Python's `re.match(pattern, spec, re.IGNORECASE)`: at the start only.
fn python_match(pattern: &str, spec: &str, at: &str) -> Result<bool, String> {
    let re = fancy_regex::Regex::new(&format!("(?i)\\A(?:{pattern})"))
        .map_err(|e| format!("{at}: {pattern:?} is not a pattern binderctl can read: {e}"))?;
    re.is_match(spec)
        .map_err(|e| format!("{at}: {pattern:?} could not be matched: {e}"))
}

/// BinderHub's `is_banned` for `request` under the rendered `values`.
pub fn decide(values: &Value, request: &Request) -> Result<Verdict, String> {
    let Some((_, class, name)) = PROVIDERS.iter().find(|(p, _, _)| *p == request.prefix) else {
        return Err(format!("no provider {:?}", request.prefix));
    };
    let config = values.get("config");
    let spec = &request.spec;
    if let Some((section, banned)) = trait_list(config, class, "banned_specs")? {
        let at = format!("config.{section}.banned_specs");
        for pattern in &banned {
            if python_match(pattern, spec, &at)? {
                return Ok(Verdict {
                    allowed: false,
                    reason: format!(
                        "the {name} provider refuses it: it matches {pattern:?} in {at}"
                    ),
                });
            }
        }
    }
    if let Some((section, allowed)) = trait_list(config, class, "allowed_specs")? {
        let at = format!("config.{section}.allowed_specs");
        if !allowed.is_empty() {
            for pattern in &allowed {
                if python_match(pattern, spec, &at)? {
                    return Ok(Verdict {
                        allowed: true,
                        reason: format!(
                            "the {name} provider allows it: it matches {pattern:?} in {at}"
                        ),
                    });
                }
            }
            return Ok(Verdict {
                allowed: false,
                reason: format!("the {name} provider refuses it: it matches none of {at}"),
            });
        }
    }
    Ok(Verdict {
        allowed: true,
        reason: format!("the {name} provider allows it: no banned spec matches"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::settings::Whitelist;
    use crate::values::transform;

    fn values(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    fn request(prefix: &str, spec: &str) -> Request {
        Request {
            prefix: prefix.into(),
            spec: spec.into(),
        }
    }

    fn allowed(values: &Value, prefix: &str, spec: &str) -> bool {
        decide(values, &request(prefix, spec)).unwrap().allowed
    }

    /// binder.yaml's whitelist as `render` writes it.
    fn rendered(owners: &[&str]) -> Value {
        let input = values(
            "config:\n  GitHubRepoProvider:\n    banned_specs: ['^(?!()\\/).*$', '^spam/.*']\n",
        );
        let owners = owners.iter().map(|o| o.to_string()).collect();
        transform::apply(&input, &Whitelist::Enabled(owners), &[])
    }

    #[test]
    fn a_listed_owner_is_built_and_nobody_else_through_any_provider() {
        let v = rendered(&["jupyterhub", "binder-examples"]);
        assert!(allowed(&v, "gh", "jupyterhub/zero-to-jupyterhub-k8s/HEAD"));
        // re.IGNORECASE, as GitHub owners are case-insensitive.
        assert!(allowed(&v, "gh", "JupyterHub/repo/main"));
        for (prefix, spec) in [
            ("gh", "evil/repo/HEAD"),
            ("gh", "jupyterhub-evil/repo/HEAD"),
            ("gh", "spam/repo/HEAD"),
            ("gist", "evil/0a1b2c3d4e5f/HEAD"),
            ("gist", "jupyterhub/0a1b2c3d4e5f/HEAD"),
            ("git", "https%3A%2F%2Fgithub.com%2Fjupyterhub%2Frepo/HEAD"),
            ("git", "https%3A%2F%2Fgit.example%2Fevil%2Frepo/HEAD"),
            ("gl", "evil%2Frepo/HEAD"),
            ("zenodo", "10.5281/zenodo.3242074"),
            ("figshare", "10.6084/m9.figshare.9782777.v1"),
            ("hydroshare", "b8f6eae9d89241cf8b5904033460af61"),
            ("dataverse", "10.7910/DVN/TJCLKP"),
            ("ckan", "https%3A%2F%2Fdata.example%2Fdataset%2Fx/HEAD"),
        ] {
            assert!(!allowed(&v, prefix, spec), "{prefix}/{spec} was allowed");
        }
        let why = decide(&v, &request("gl", "evil%2Frepo/HEAD"))
            .unwrap()
            .reason;
        assert_eq!(
            why,
            "the GitLab provider refuses it: it matches \".*\" in config.RepoProvider.banned_specs"
        );
    }

    #[test]
    fn matching_follows_binderhubs_is_banned() {
        // re.match: anchored at the start only, and case-insensitive.
        let v =
            values("config:\n  GitHubRepoProvider:\n    banned_specs: ['evil', '.*ddEEff.*']\n");
        assert!(!allowed(&v, "gh", "evil-corp/x/HEAD"));
        assert!(!allowed(&v, "gh", "EVIL/x/HEAD"));
        assert!(allowed(&v, "gh", "good/evil/HEAD"));
        assert!(!allowed(&v, "gh", "AABBCcc/DDeeFF/v0.4"));
        // allowed_specs: a spec must match one; banned still wins.
        let v = values("config:\n  RepoProvider:\n    allowed_specs: ['^jupyterhub.*']\n  GitHubRepoProvider:\n    banned_specs: ['.*zero-to-.*']\n");
        assert!(allowed(&v, "gh", "jupyterhub/binderhub/HEAD"));
        assert!(!allowed(&v, "gh", "yuvipanda/x/HEAD"));
        assert!(!allowed(&v, "gh", "jupyterhub/zero-to-jupyterhub-k8s/v0.4"));
        // Nothing configured: everything goes.
        assert!(allowed(&values("config: {}\n"), "gl", "a%2Fb/HEAD"));
    }

    #[test]
    fn the_most_derived_section_wins() {
        let v = values("config:\n  RepoProvider:\n    banned_specs: ['.*']\n  GitHubRepoProvider:\n    banned_specs: []\n");
        assert!(allowed(&v, "gh", "a/b/HEAD"));
        // Gist inherits GitHub's section.
        assert!(allowed(&v, "gist", "a/b/HEAD"));
        assert!(!allowed(&v, "gl", "a%2Fb/HEAD"));
    }

    #[test]
    fn bad_patterns_are_named() {
        let v = values("config:\n  GitHubRepoProvider:\n    banned_specs: ['(']\n");
        let err = decide(&v, &request("gh", "a/b/HEAD")).unwrap_err();
        assert!(
            err.contains("config.GitHubRepoProvider.banned_specs: \"(\""),
            "{err}"
        );
    }

    #[test]
    fn urls_and_specs_become_provider_and_spec() {
        let cases = [
            (
                "https://binder.example/v2/gh/owner/repo/HEAD?urlpath=lab",
                "gh",
                "owner/repo/HEAD",
            ),
            ("/v2/gl/group%2Frepo/main", "gl", "group%2Frepo/main"),
            (
                "zenodo/10.5281/zenodo.3242074",
                "zenodo",
                "10.5281/zenodo.3242074",
            ),
            ("owner/repo", "gh", "owner/repo/HEAD"),
            ("https://github.com/owner/repo.git", "gh", "owner/repo/HEAD"),
            (
                "https://github.com/owner/repo/tree/dev",
                "gh",
                "owner/repo/dev",
            ),
            (
                "https://gist.github.com/user/0a1b2c",
                "gist",
                "user/0a1b2c/HEAD",
            ),
            (
                "https://gitlab.com/group/sub/repo",
                "gl",
                "group%2Fsub%2Frepo/HEAD",
            ),
            (
                "https://git.example/x/y",
                "git",
                "https%3A%2F%2Fgit.example%2Fx%2Fy/HEAD",
            ),
        ];
        for (input, prefix, spec) in cases {
            assert_eq!(
                parse_request(input).unwrap(),
                request(prefix, spec),
                "{input}"
            );
        }
        assert!(parse_request("").is_err());
        assert!(parse_request("gl/").is_err());
        assert!(parse_request(&"a".repeat(5000)).is_err());
    }
}
