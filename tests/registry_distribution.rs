//! `binderctl registry ls|prune` against the real registry: Debian's
//! `docker-registry` (distribution 2.8) on loopback, deletion enabled,
//! images pushed by the test over the HTTP API v2 (Docker and OCI
//! manifests, an OCI index, a manifest under two tags), plain, behind
//! htpasswd (Basic), and behind a proxy asking for Bearer tokens. Needs
//! the registry (scripts/setup-real-tools): skipped locally without it, a
//! failure under CI.

#[path = "registry_support/mod.rs"]
mod registry_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use binderctl::registry::format_rfc3339;
use registry_support::registry::{
    Options, Pushed, RealRegistry, TokenProxy, DOCKER_MANIFEST, OCI_MANIFEST,
};
use registry_support::{run, stderr, stdout, write_secret, write_values};
use serde_json::Value;

const NOW: i64 = 1_750_000_000;
const DAY: i64 = 86_400;
const BASIC_USER: &str = "lab-pusher";
const BASIC_PASSWORD: &str = "basic-pass-4r8t";
/// bcrypt (cost 4) of BASIC_PASSWORD, for htpasswd.
const BASIC_HASH: &str = "$2b$04$XPxh5d7cackcGjMYa6A3S.zaFUKZyFBae2rvqBe9iLsSr9hvRBDVO";

/// `created` for an image built `days` ago (with nanoseconds, as Docker
/// writes it).
fn created(days: i64) -> String {
    let text = format_rfc3339(NOW - days * DAY - 11);
    format!("{}.123456789Z", text.trim_end_matches('Z'))
}

/// One pushed tag: where, and what the registry said of it.
#[derive(Debug, Clone)]
struct Pushed1 {
    repository: String,
    tag: String,
    pushed: i64,
    digest: String,
    size: u64,
}

/// The images the tests push. Under `lab/binder-`: alpha (new 1d, mid 40d
/// and mid-alias naming the same manifest, old 100d as OCI), beta (only,
/// 200d, OCI), gamma (fresh 2d, multi: an OCI index of two platforms built
/// 60d and 70d ago). Outside: other/tool and lab/bindery, both ancient.
fn push_fixture(registry: &RealRegistry) -> Vec<Pushed1> {
    let mut pushed = Vec::new();
    let mut add = |repository: &str, tag: &str, days: i64, image: Pushed| {
        pushed.push(Pushed1 {
            repository: repository.into(),
            tag: tag.into(),
            pushed: NOW - days * DAY - 11,
            digest: image.digest,
            size: image.size,
        });
    };
    let alpha = "lab/binder-alpha";
    add(
        alpha,
        "new",
        1,
        registry.push(alpha, "new", &created(1), DOCKER_MANIFEST),
    );
    let mid = registry.push(alpha, "mid", &created(40), DOCKER_MANIFEST);
    registry.retag(alpha, &mid.digest, "mid-alias");
    add(alpha, "mid", 40, mid.clone());
    add(alpha, "mid-alias", 40, mid);
    add(
        alpha,
        "old",
        100,
        registry.push(alpha, "old", &created(100), OCI_MANIFEST),
    );
    let beta = "lab/binder-beta";
    add(
        beta,
        "only",
        200,
        registry.push(beta, "only", &created(200), OCI_MANIFEST),
    );
    let gamma = "lab/binder-gamma";
    add(
        gamma,
        "fresh",
        2,
        registry.push(gamma, "fresh", &created(2), DOCKER_MANIFEST),
    );
    add(
        gamma,
        "multi",
        60,
        registry.push_index(gamma, "multi", &[&created(70), &created(60)]),
    );
    for outside in ["other/tool", "lab/bindery"] {
        add(
            outside,
            "ancient",
            500,
            registry.push(outside, "ancient", &created(500), DOCKER_MANIFEST),
        );
    }
    pushed
}

fn under_prefix(fixture: &[Pushed1]) -> Vec<Pushed1> {
    let mut tags: Vec<Pushed1> = fixture
        .iter()
        .filter(|p| p.repository.starts_with("lab/binder-"))
        .cloned()
        .collect();
    tags.sort_by(|a, b| {
        b.pushed
            .cmp(&a.pushed)
            .then(a.repository.cmp(&b.repository))
            .then(a.tag.cmp(&b.tag))
    });
    tags
}

/// Every `repository:tag` the registry holds now, of the fixture's repositories.
fn remaining(registry: &RealRegistry, fixture: &[Pushed1]) -> BTreeSet<String> {
    let repositories: BTreeSet<&str> = fixture.iter().map(|p| p.repository.as_str()).collect();
    repositories
        .into_iter()
        .flat_map(|repo| {
            registry
                .tags(repo)
                .into_iter()
                .map(move |t| format!("{repo}:{t}"))
        })
        .collect()
}

fn names(tags: &[Pushed1]) -> BTreeSet<String> {
    tags.iter()
        .map(|p| format!("{}:{}", p.repository, p.tag))
        .collect()
}

/// Run `binderctl registry ARGS` in `dir` at NOW, against `url`.
fn binderctl(dir: &Path, url: &str, prefix: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["registry"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--registry-url", url, "--prefix", prefix]);
    let now = NOW.to_string();
    let mut env = env.to_vec();
    env.push(("BINDERCTL_NOW", &now));
    run(dir, &all, &env)
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        stderr(out)
    );
}

#[test]
fn ls_reads_digest_size_and_date_of_every_kind_of_manifest() {
    let Some(registry) = RealRegistry::start(Options {
        delete: true,
        basic: None,
    }) else {
        return;
    };
    let fixture = push_fixture(&registry);
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}/lab/binder-", registry.host());
    let out = binderctl(
        dir.path(),
        &registry.url(),
        &prefix,
        &["ls", "-o", "json"],
        &[],
    );
    ok(&out);
    let items: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let expected = under_prefix(&fixture);
    let got: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["repository"].as_str().unwrap(),
                i["tag"].as_str().unwrap()
            )
        })
        .collect();
    let want: Vec<String> = expected
        .iter()
        .map(|p| format!("{}:{}", p.repository, p.tag))
        .collect();
    assert_eq!(got, want, "{}", stderr(&out));
    for (item, pushed) in items.iter().zip(&expected) {
        assert_eq!(item["digest"], pushed.digest.as_str(), "{item}");
        assert_eq!(item["size_bytes"], pushed.size, "{item}");
        assert_eq!(item["pushed"], format_rfc3339(pushed.pushed), "{item}");
        assert_eq!(item["age_seconds"], NOW - pushed.pushed, "{item}");
        assert_eq!(
            item["image"],
            format!("{}/{}:{}", registry.host(), pushed.repository, pushed.tag)
        );
    }
    // The index: both platforms' sizes, the newer build's date.
    let multi = items.iter().find(|i| i["tag"] == "multi").unwrap();
    assert_eq!(multi["pushed"], format_rfc3339(NOW - 60 * DAY - 11));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    let out = binderctl(
        dir.path(),
        &registry.url(),
        &prefix,
        &["ls", "-o", "name", "--older-than", "50d"],
        &[],
    );
    ok(&out);
    let older: Vec<String> = expected
        .iter()
        .filter(|p| NOW - p.pushed > 50 * DAY)
        .map(|p| format!("{}/{}:{}", registry.host(), p.repository, p.tag))
        .collect();
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), older);

    let out = binderctl(dir.path(), &registry.url(), &prefix, &["ls"], &[]);
    ok(&out);
    let table = stdout(&out);
    assert_eq!(table.lines().count(), expected.len() + 1, "{table}");
    assert!(
        !table.contains("other/tool") && !table.contains("lab/bindery"),
        "{table}"
    );
}

#[test]
fn prune_deletes_old_manifests_by_digest_and_never_leaves_the_prefix() {
    let Some(registry) = RealRegistry::start(Options {
        delete: true,
        basic: None,
    }) else {
        return;
    };
    let fixture = push_fixture(&registry);
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}/lab/binder-", registry.host());
    let before = remaining(&registry, &fixture);
    assert_eq!(before, names(&fixture));

    // Dry run first: the requests, nothing deleted.
    let out = binderctl(
        dir.path(),
        &registry.url(),
        &prefix,
        &["prune", "--older-than", "30d", "--dry-run"],
        &[],
    );
    ok(&out);
    // keep 1: alpha keeps new and loses mid, mid-alias (one manifest) and
    // old; beta keeps its only tag; gamma keeps fresh and loses multi.
    let doomed: BTreeSet<String> = [
        "lab/binder-alpha:mid",
        "lab/binder-alpha:mid-alias",
        "lab/binder-alpha:old",
        "lab/binder-gamma:multi",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    let digests: BTreeSet<(String, String)> = fixture
        .iter()
        .filter(|p| doomed.contains(&format!("{}:{}", p.repository, p.tag)))
        .map(|p| (p.repository.clone(), p.digest.clone()))
        .collect();
    let requests: BTreeSet<String> = digests
        .iter()
        .map(|(repo, digest)| format!("DELETE {}/v2/{repo}/manifests/{digest}", registry.url()))
        .collect();
    assert_eq!(
        stdout(&out)
            .lines()
            .map(str::to_string)
            .collect::<BTreeSet<_>>(),
        requests
    );
    assert_eq!(remaining(&registry, &fixture), before);

    let out = binderctl(
        dir.path(),
        &registry.url(),
        &prefix,
        &["prune", "--older-than", "30d", "--yes"],
        &[],
    );
    ok(&out);
    let expected: BTreeSet<String> = before.difference(&doomed).cloned().collect();
    assert_eq!(remaining(&registry, &fixture), expected, "{}", stderr(&out));
    for (repo, digest) in &digests {
        assert!(!registry.has_manifest(repo, digest), "{repo}@{digest}");
    }
    let bytes: u64 = digests
        .iter()
        .map(|(repo, digest)| {
            fixture
                .iter()
                .find(|p| &p.repository == repo && &p.digest == digest)
                .unwrap()
                .size
        })
        .sum();
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Deleted {} tags ({}).",
            doomed.len(),
            binderctl::ops::registry::format_size(bytes)
        )),
        "{err}"
    );
    assert!(err.contains("garbage collection"), "{err}");
    // A second prune finds nothing more.
    let out = binderctl(
        dir.path(),
        &registry.url(),
        &prefix,
        &["prune", "--older-than", "30d", "--yes"],
        &[],
    );
    ok(&out);
    assert!(
        stderr(&out).contains("Nothing to delete"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_manifest_a_kept_tag_names_is_never_deleted_through_another_tag() {
    let Some(registry) = RealRegistry::start(Options {
        delete: true,
        basic: None,
    }) else {
        return;
    };
    let fixture = push_fixture(&registry);
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}/lab/binder-", registry.host());
    // keep 2: alpha keeps new and mid; mid-alias is as old but names mid's
    // manifest, deleting it would take mid along: it stays too.
    let out = binderctl(
        dir.path(),
        &registry.url(),
        &prefix,
        &["prune", "--older-than", "30d", "--keep", "2", "--yes"],
        &[],
    );
    ok(&out);
    let mut expected = names(&fixture);
    expected.remove("lab/binder-alpha:old");
    assert_eq!(remaining(&registry, &fixture), expected, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 naming the same image as a tag that stays"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_registry_that_forbids_deletion_is_named_for_each_tag() {
    let Some(registry) = RealRegistry::start(Options {
        delete: false,
        basic: None,
    }) else {
        return;
    };
    let fixture = push_fixture(&registry);
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}/lab/binder-", registry.host());
    let out = binderctl(
        dir.path(),
        &registry.url(),
        &prefix,
        &["prune", "--older-than", "30d", "--keep", "0", "--yes"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for tag in [
        "lab/binder-alpha:old",
        "lab/binder-beta:only",
        "lab/binder-gamma:multi",
    ] {
        assert!(
            err.contains(&format!("{}/{tag}: not deleted: HTTP 405", registry.host())),
            "{tag}: {err}"
        );
    }
    assert!(
        err.contains("REGISTRY_STORAGE_DELETE_ENABLED=true"),
        "{err}"
    );
    assert_eq!(remaining(&registry, &fixture), names(&fixture));
}

#[test]
fn basic_authentication_from_the_secret_file() {
    let Some(registry) = RealRegistry::start(Options {
        delete: true,
        basic: Some((BASIC_USER.into(), BASIC_PASSWORD.into(), BASIC_HASH.into())),
    }) else {
        return;
    };
    let fixture = push_fixture(&registry);
    let dir = tempfile::tempdir().unwrap();
    // The prefix from binder.yaml, the URL from secret.yaml.
    write_values(dir.path(), &format!("{}/lab/binder-", registry.host()));
    let now = NOW.to_string();
    let env = [("BINDERCTL_NOW", now.as_str())];

    // No credentials: the registry's 401 and what to do.
    let out = run(
        dir.path(),
        &["registry", "ls", "--registry-url", &registry.url()],
        &env,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the registry wants credentials"),
        "{}",
        stderr(&out)
    );

    // A wrong password: named by its user, never shown.
    write_secret(
        dir.path(),
        BASIC_USER,
        "not-the-basic-pass",
        Some(&registry.url()),
    );
    let wrong = run(dir.path(), &["registry", "ls"], &env);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains(&format!("the registry refused user \"{BASIC_USER}\"")),
        "{}",
        stderr(&wrong)
    );

    write_secret(
        dir.path(),
        BASIC_USER,
        BASIC_PASSWORD,
        Some(&registry.url()),
    );
    let listed = run(dir.path(), &["registry", "ls", "-o", "name"], &env);
    ok(&listed);
    assert_eq!(
        stdout(&listed).lines().count(),
        under_prefix(&fixture).len()
    );
    let pruned = run(
        dir.path(),
        &[
            "registry",
            "prune",
            "--older-than",
            "150d",
            "--keep",
            "0",
            "--yes",
        ],
        &env,
    );
    ok(&pruned);
    let mut expected = names(&fixture);
    expected.remove("lab/binder-beta:only");
    assert_eq!(
        remaining(&registry, &fixture),
        expected,
        "{}",
        stderr(&pruned)
    );
    for out in [&out, &wrong, &listed, &pruned] {
        let text = format!("{}{}", stdout(out), stderr(out));
        for secret in [BASIC_PASSWORD, "not-the-basic-pass", "Basic "] {
            assert!(!text.contains(secret), "{secret}: {text}");
        }
    }
}

#[test]
fn bearer_tokens_per_scope_and_a_failing_deletion_stops_no_other() {
    let Some(registry) = RealRegistry::start(Options {
        delete: true,
        basic: None,
    }) else {
        return;
    };
    let fixture = push_fixture(&registry);
    let proxy = TokenProxy::start(registry.url(), "lab-token-user", "token-pass-8w2q");
    let failing = fixture
        .iter()
        .find(|p| p.repository == "lab/binder-alpha" && p.tag == "old")
        .unwrap()
        .clone();
    proxy
        .state
        .lock()
        .unwrap()
        .fail_delete
        .insert(failing.digest.clone());
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}/lab/binder-", proxy.server.addr);

    // Without credentials the token service refuses an anonymous request.
    let out = binderctl(dir.path(), &proxy.url(), &prefix, &["ls"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refused an anonymous request"),
        "{}",
        stderr(&out)
    );

    write_secret(dir.path(), "lab-token-user", "token-pass-8w2q", None);
    let out = binderctl(
        dir.path(),
        &proxy.url(),
        &prefix,
        &["prune", "--older-than", "30d", "--keep", "0", "--yes"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}/lab/binder-alpha:old: not deleted: HTTP 500 Internal Server Error: UNKNOWN: storage driver failed",
            proxy.server.addr
        )),
        "{err}"
    );
    // Everything older than 30 days went, but the one that failed.
    let doomed: BTreeSet<String> = under_prefix(&fixture)
        .iter()
        .filter(|p| NOW - p.pushed > 30 * DAY)
        .map(|p| format!("{}:{}", p.repository, p.tag))
        .collect();
    assert!(
        err.contains(&format!("1 of {} tags not deleted", doomed.len())),
        "{err}"
    );
    let mut expected: BTreeSet<String> = names(&fixture).difference(&doomed).cloned().collect();
    expected.insert("lab/binder-alpha:old".into());
    assert_eq!(remaining(&registry, &fixture), expected);

    // A token per scope, each asked with the scope the challenge named.
    let state = proxy.state.lock().unwrap();
    let asked: BTreeSet<String> = state.token_requests.iter().flatten().cloned().collect();
    for scope in [
        "registry:catalog:*",
        "repository:lab/binder-alpha:pull",
        "repository:lab/binder-alpha:delete",
        "repository:lab/binder-gamma:delete",
    ] {
        assert!(asked.contains(scope), "{scope}: {asked:?}");
    }
    assert!(
        !asked
            .iter()
            .any(|s| s.contains("other/tool") || s.contains("lab/bindery")),
        "{asked:?}"
    );
    let tokens: BTreeMap<String, Vec<String>> = state.tokens.clone();
    let text = format!("{}{}", stdout(&out), err);
    for token in tokens.keys() {
        assert!(!text.contains(token.as_str()), "token shown: {text}");
    }
    assert!(
        !text.contains("token-pass-8w2q") && !text.contains("bearer-token"),
        "{text}"
    );
}
