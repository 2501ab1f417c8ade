//! `binderctl registry ls|prune` against a loopback stand-in for Docker
//! Hub's API (tests/registry_support/hub.rs): login, paged repository and
//! tag lists with `next` links and `last_updated`, tag deletion, 401 for a
//! bad or expired token. The order and filters of `ls` and its formats;
//! `prune` keeping the newest N, never leaving the prefix, `--dry-run`,
//! the confirmation, a failing deletion; credentials never printed.

#[path = "registry_support/mod.rs"]
mod registry_support;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use binderctl::registry::format_rfc3339;
use registry_support::hub::{Hub, HubState, HubTag};
use registry_support::{run, run_on_terminal, sha256, stderr, stdout, write_secret, write_values};
use serde_json::Value;

const NOW: i64 = 1_750_000_000;
const DAY: i64 = 86_400;
const USER: &str = "lab-admin";
const PASSWORD: &str = "dckr_pat_Zx9-not-a-real-token-4b7c";
const PREFIX: &str = "lab/binder-";

/// (repository, tag, days ago, size in bytes)
const FIXTURE: &[(&str, &str, i64, u64)] = &[
    ("lab/binder-alpha", "a-new", 2, 310_000_000),
    ("lab/binder-alpha", "a-mid", 40, 320_000_000),
    ("lab/binder-alpha", "a-old", 100, 330_000_000),
    ("lab/binder-beta", "b-only", 200, 410_000_000),
    ("lab/binder-gamma", "g-new", 10, 510_000_000),
    ("lab/binder-gamma", "g-old", 50, 520_000_000),
    ("lab/binder-gamma", "g-older", 60, 530_000_000),
    // In the namespace, outside the prefix.
    ("lab/other-tool", "o-old", 300, 610_000_000),
    ("lab/binder", "no-dash", 300, 620_000_000),
    // Another namespace entirely.
    ("labx/binder-alpha", "x-old", 300, 710_000_000),
];

fn fixture() -> HubState {
    let mut state = HubState {
        users: vec![(USER.into(), PASSWORD.into())],
        max_page: 2,
        ..HubState::default()
    };
    for (repo, tag, days, size) in FIXTURE {
        state
            .repos
            .entry(repo.to_string())
            .or_default()
            .push(HubTag {
                name: tag.to_string(),
                pushed: NOW - days * DAY - 7,
                full_size: *size,
                digest: sha256::digest(format!("{repo}:{tag}").as_bytes()),
            });
    }
    state
}

/// The fixture's tags under the prefix, newest first: (repo, tag, pushed, size).
fn under_prefix() -> Vec<(String, String, i64, u64)> {
    let mut tags: Vec<(String, String, i64, u64)> = FIXTURE
        .iter()
        .filter(|(repo, ..)| repo.starts_with(PREFIX))
        .map(|(repo, tag, days, size)| {
            (
                repo.to_string(),
                tag.to_string(),
                NOW - days * DAY - 7,
                *size,
            )
        })
        .collect();
    tags.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    tags
}

/// What a prune with these rules should delete, worked out from the
/// fixture: per repository the newest `keep` stay, of the rest those older
/// than `days`.
fn doomed(keep: usize, days: i64) -> BTreeSet<String> {
    let mut doomed = BTreeSet::new();
    let tags = under_prefix();
    let repos: BTreeSet<&String> = tags.iter().map(|t| &t.0).collect();
    for repo in repos {
        let mine: Vec<&(String, String, i64, u64)> = tags.iter().filter(|t| &t.0 == repo).collect();
        for (rank, (repo, tag, pushed, _)) in mine.into_iter().enumerate() {
            if rank >= keep && NOW - pushed > days * DAY {
                doomed.insert(format!("{repo}:{tag}"));
            }
        }
    }
    doomed
}

fn all_tags() -> BTreeSet<String> {
    FIXTURE
        .iter()
        .map(|(repo, tag, ..)| format!("{repo}:{tag}"))
        .collect()
}

struct Lab {
    hub: Hub,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(state: HubState) -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        Lab {
            hub: Hub::start(state),
            dir,
        }
    }

    /// With secret.yaml holding the right credentials.
    fn with_secret(state: HubState) -> Lab {
        let lab = Lab::new(state);
        write_secret(lab.dir.path(), USER, PASSWORD, None);
        lab
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `binderctl registry ARGS` against the stand-in, at NOW.
    fn run(&self, args: &[&str]) -> Output {
        let args = self.args(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(self.dir(), &args, &[("BINDERCTL_NOW", &NOW.to_string())])
    }

    fn args(&self, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = vec!["registry".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend(
            [
                "--api",
                "docker-hub",
                "--registry-url",
                &self.hub.url(),
                "--prefix",
                PREFIX,
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        all
    }

    fn remaining(&self) -> BTreeSet<String> {
        self.hub.remaining().into_iter().collect()
    }
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        stderr(out)
    );
}

fn json(out: &Output) -> Vec<Value> {
    ok(out);
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
        .as_array()
        .expect("a JSON array")
        .clone()
}

#[test]
fn ls_lists_the_tags_under_the_prefix_newest_first_across_pages() {
    let lab = Lab::with_secret(fixture());
    let out = lab.run(&["ls"]);
    ok(&out);
    let text = stdout(&out);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "AGE", "SIZE"]);
    let rows: Vec<Vec<String>> = lines
        .map(|l| {
            l.split("   ")
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let expected = under_prefix();
    assert_eq!(rows.len(), expected.len(), "{text}");
    for (row, (repo, tag, pushed, _)) in rows.iter().zip(&expected) {
        assert_eq!(&row[0], repo, "{text}");
        assert_eq!(&row[1], tag, "{text}");
        let days = (NOW - pushed) / DAY;
        assert_eq!(row[2], format!("{days}d"), "{text}");
        assert!(row[3].ends_with("MiB"), "{text}");
    }
    for outside in ["other-tool", "no-dash", "x-old", "labx"] {
        assert!(!text.contains(outside), "{outside}: {text}");
    }
    // 3 tags of alpha at 2 a page: two pages, the second by its next link.
    let alpha_pages = lab
        .hub
        .server
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/namespaces/lab/repositories/binder-alpha/tags")
        .map(|r| r.query("page").unwrap_or("1").to_string())
        .collect::<Vec<_>>();
    assert_eq!(alpha_pages, ["1", "2"]);
    for request in lab.hub.server.requests() {
        if let Some(size) = request.query("page_size") {
            assert!(size.parse::<usize>().unwrap() <= 100, "{size}");
        }
        assert_ne!(request.method, "DELETE");
    }
    assert!(
        stderr(&out).contains(&format!("{} tags in 3 repositories", expected.len())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ls_prints_every_format_with_the_documented_fields() {
    let lab = Lab::with_secret(fixture());
    let expected = under_prefix();

    let items = json(&lab.run(&["ls", "-o", "json"]));
    assert_eq!(items.len(), expected.len());
    for (item, (repo, tag, pushed, size)) in items.iter().zip(&expected) {
        let mut keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "age_seconds",
                "digest",
                "image",
                "pushed",
                "repository",
                "size_bytes",
                "tag"
            ]
        );
        assert_eq!(item["repository"], repo.as_str());
        assert_eq!(item["tag"], tag.as_str());
        assert_eq!(item["image"], format!("{repo}:{tag}"));
        assert_eq!(item["pushed"], format_rfc3339(*pushed));
        assert_eq!(item["age_seconds"], NOW - pushed);
        assert_eq!(item["size_bytes"], *size);
        assert_eq!(
            item["digest"],
            sha256::digest(format!("{repo}:{tag}").as_bytes())
        );
    }

    let out = lab.run(&["ls", "-o", "yaml"]);
    ok(&out);
    let yaml: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).expect("YAML");
    assert_eq!(serde_json::to_value(yaml).unwrap(), Value::Array(items));

    let out = lab.run(&["ls", "-o", "name"]);
    ok(&out);
    let names: Vec<String> = expected
        .iter()
        .map(|(r, t, ..)| format!("{r}:{t}"))
        .collect();
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), names);

    let out = lab.run(&["ls", "-o", "wide", "--no-headers"]);
    ok(&out);
    let text = stdout(&out);
    assert!(!text.contains("REPOSITORY"), "{text}");
    assert_eq!(text.lines().count(), expected.len());
    let first = &expected[0];
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains(&format_rfc3339(first.2)),
        "{text}"
    );
    assert!(text.contains(&sha256::digest(
        format!("{}:{}", first.0, first.1).as_bytes()
    )));

    // --older-than leaves out what is newer.
    let items = json(&lab.run(&["ls", "--older-than", "45d", "-o", "json"]));
    let older: Vec<String> = expected
        .iter()
        .filter(|(_, _, pushed, _)| NOW - pushed > 45 * DAY)
        .map(|(r, t, ..)| format!("{r}:{t}"))
        .collect();
    let got: Vec<String> = items
        .iter()
        .map(|i| i["image"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, older);
    assert!(older.len() < expected.len() && !older.is_empty());

    // Nothing that old: an empty list, and a word on stderr for a table.
    let items = json(&lab.run(&["ls", "--older-than", "1000d", "-o", "json"]));
    assert!(items.is_empty());
    let out = lab.run(&["ls", "--older-than", "1000d"]);
    ok(&out);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("No tags pushed more than 1000d ago"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prune_keeps_the_newest_n_of_each_repository_and_never_leaves_the_prefix() {
    for keep in [0usize, 1, 2] {
        let lab = Lab::with_secret(fixture());
        let keep_text = keep.to_string();
        let out = lab.run(&[
            "prune",
            "--older-than",
            "30d",
            "--keep",
            &keep_text,
            "--yes",
        ]);
        ok(&out);
        let doomed = doomed(keep, 30);
        assert!(!doomed.is_empty(), "keep {keep}");
        let expected: BTreeSet<String> = all_tags().difference(&doomed).cloned().collect();
        assert_eq!(lab.remaining(), expected, "keep {keep}: {}", stderr(&out));
        for path in lab.hub.deletions() {
            assert!(path.starts_with("/v2/repositories/lab/binder-"), "{path}");
            assert!(!path.starts_with("/v2/repositories/lab/binder/"), "{path}");
        }
        assert_eq!(lab.hub.deletions().len(), doomed.len());
        let bytes: u64 = FIXTURE
            .iter()
            .filter(|(r, t, ..)| doomed.contains(&format!("{r}:{t}")))
            .map(|(.., size)| size)
            .sum();
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "Deleted {} tags ({}).",
                doomed.len(),
                binderctl::ops::registry::format_size(bytes)
            )),
            "keep {keep}: {err}"
        );
        // What goes is listed before it goes.
        for name in &doomed {
            assert!(err.contains(&format!("  {name}  (pushed")), "{name}: {err}");
        }
        assert_eq!(stdout(&out), "");
    }
}

#[test]
fn dry_run_prints_the_requests_and_deletes_nothing() {
    let lab = Lab::with_secret(fixture());
    let out = lab.run(&["prune", "--older-than", "30d", "--dry-run"]);
    ok(&out);
    let doomed = doomed(1, 30);
    let expected: BTreeSet<String> = doomed
        .iter()
        .map(|name| {
            let (repo, tag) = name.split_once(':').unwrap();
            format!(
                "DELETE {}/v2/repositories/{repo}/tags/{tag}/",
                lab.hub.url()
            )
        })
        .collect();
    let printed: BTreeSet<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(printed, expected);
    assert!(stderr(&out).contains("Dry run: nothing deleted."));
    assert!(lab.hub.deletions().is_empty());
    assert_eq!(lab.remaining(), all_tags());
}

#[test]
fn without_yes_or_a_terminal_nothing_is_deleted() {
    let lab = Lab::with_secret(fixture());
    let out = lab.run(&["prune", "--older-than", "30d"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert!(lab.hub.deletions().is_empty());
    assert_eq!(lab.remaining(), all_tags());
}

#[test]
fn the_question_names_count_and_bytes_and_no_deletes_nothing() {
    let lab = Lab::with_secret(fixture());
    let args = lab.args(&["prune", "--older-than", "30d"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let now = NOW.to_string();
    let env = [("BINDERCTL_NOW", now.as_str())];
    let out = run_on_terminal(lab.dir(), &args, &env, "n\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let doomed = doomed(1, 30);
    let bytes: u64 = FIXTURE
        .iter()
        .filter(|(r, t, ..)| doomed.contains(&format!("{r}:{t}")))
        .map(|(.., size)| size)
        .sum();
    let question = format!(
        "Delete {} tags ({}) from Docker Hub ({}/)? [y/N]",
        doomed.len(),
        binderctl::ops::registry::format_size(bytes),
        lab.hub.url()
    );
    assert!(stderr(&out).contains(&question), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not confirmed; nothing deleted"),
        "{}",
        stderr(&out)
    );
    assert!(lab.hub.deletions().is_empty());
    assert_eq!(lab.remaining(), all_tags());

    let out = run_on_terminal(lab.dir(), &args, &env, "y\n");
    ok(&out);
    let expected: BTreeSet<String> = all_tags().difference(&doomed).cloned().collect();
    assert_eq!(lab.remaining(), expected);
}

#[test]
fn a_failing_deletion_names_the_tag_and_the_rest_are_deleted() {
    let mut state = fixture();
    state.fail_delete.insert("lab/binder-alpha:a-old".into());
    let lab = Lab::with_secret(state);
    let out = lab.run(&["prune", "--older-than", "30d", "--keep", "1", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lab/binder-alpha:a-old: not deleted: HTTP 500 Internal Server Error"),
        "{err}"
    );
    let doomed = doomed(1, 30);
    assert!(
        err.contains(&format!("1 of {} tags not deleted", doomed.len())),
        "{err}"
    );
    assert!(
        err.contains(&format!("Deleted {} tags", doomed.len() - 1)),
        "{err}"
    );
    let mut expected: BTreeSet<String> = all_tags().difference(&doomed).cloned().collect();
    expected.insert("lab/binder-alpha:a-old".into());
    assert_eq!(lab.remaining(), expected);
}

#[test]
fn credentials_and_tokens_never_show() {
    let mut state = fixture();
    state.fail_delete.insert("lab/binder-gamma:g-old".into());
    let lab = Lab::with_secret(state);
    let mut outputs = vec![
        lab.run(&["ls", "-v"]),
        lab.run(&["ls", "-o", "json"]),
        lab.run(&["prune", "--older-than", "30d", "--dry-run", "-v"]),
        lab.run(&["prune", "--older-than", "30d", "--yes", "-v"]),
    ];
    // A wrong password, and the password from the environment.
    write_secret(lab.dir(), USER, "wrong-pass-Qm7", None);
    outputs.push(lab.run(&["ls"]));
    std::fs::write(lab.dir().join("other.yaml"), "registry: {}\n").unwrap();
    let args = lab.args(&["ls", "--username", USER, "--secret", "other.yaml"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    outputs.push(run(
        lab.dir(),
        &args,
        &[("BINDERCTL_REGISTRY_PASSWORD", PASSWORD)],
    ));
    let tokens = lab.hub.state.lock().unwrap().logins;
    assert!(tokens >= 4, "{tokens}");
    for out in &outputs {
        let text = format!("{}{}", stdout(out), stderr(out));
        for secret in [
            PASSWORD,
            "wrong-pass-Qm7",
            "hub-token",
            "eyJhbGciOiJIUzI1NiJ9",
            "Bearer",
        ] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
    }
}

#[test]
fn a_wrong_password_is_refused_naming_the_user_not_the_password() {
    let lab = Lab::new(fixture());
    write_secret(lab.dir(), USER, "wrong-pass-Qm7", None);
    let out = lab.run(&["ls"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("the login of user \"{USER}\" was refused")),
        "{err}"
    );
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(!err.contains("wrong-pass"), "{err}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn an_expired_token_is_renewed_by_logging_in_again() {
    let mut state = fixture();
    state.expire_after = Some(4);
    let lab = Lab::with_secret(state);
    let out = lab.run(&["prune", "--older-than", "1d", "--keep", "0", "--yes"]);
    ok(&out);
    let doomed = doomed(0, 1);
    let expected: BTreeSet<String> = all_tags().difference(&doomed).cloned().collect();
    assert_eq!(lab.remaining(), expected);
    assert!(lab.hub.state.lock().unwrap().logins >= 2);
}

#[test]
fn the_older_login_route_serves_where_the_newer_is_missing() {
    let mut state = fixture();
    state.legacy_login_only = true;
    state.private = true;
    let lab = Lab::with_secret(state);
    let items = json(&lab.run(&["ls", "-o", "json"]));
    assert_eq!(items.len(), under_prefix().len());
    assert!(lab
        .hub
        .server
        .requests()
        .iter()
        .any(|r| r.path == "/v2/users/login"));
}

#[test]
fn a_private_namespace_without_credentials_says_what_is_missing() {
    let mut state = fixture();
    state.private = true;
    let lab = Lab::new(state);
    let out = lab.run(&["ls"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(
        err.contains("registry.username and registry.password"),
        "{err}"
    );
}

#[test]
fn deleting_without_credentials_is_refused_before_anything_is_asked() {
    let lab = Lab::new(fixture());
    let out = lab.run(&["prune", "--older-than", "30d", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("only for a logged-in user"), "{err}");
    assert!(err.contains("nothing deleted"), "{err}");
    assert!(lab.hub.deletions().is_empty());
}

#[test]
fn the_prefix_comes_from_binder_yaml_and_the_password_from_the_environment() {
    let hub = Hub::start(fixture());
    let dir = tempfile::tempdir().unwrap();
    write_values(dir.path(), PREFIX);
    let url = hub.url();
    let now = NOW.to_string();
    let out = run(
        dir.path(),
        &[
            "registry",
            "ls",
            "-o",
            "name",
            "--registry-url",
            &url,
            "--username",
            USER,
        ],
        &[
            ("BINDERCTL_REGISTRY_PASSWORD", PASSWORD),
            ("BINDERCTL_NOW", &now),
        ],
    );
    ok(&out);
    assert_eq!(stdout(&out).lines().count(), under_prefix().len());
    assert_eq!(hub.state.lock().unwrap().logins, 1);

    // Placeholders and a missing prefix are named with their key.
    write_values(dir.path(), "<registry user>/binder-");
    let out = run(dir.path(), &["registry", "ls", "--registry-url", &url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("config.BinderHub.image_prefix"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("placeholder"), "{}", stderr(&out));
    std::fs::write(dir.path().join("binder.yaml"), "config: {}\n").unwrap();
    let out = run(dir.path(), &["registry", "ls", "--registry-url", &url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("config.BinderHub.image_prefix is not set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_namespace_option_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["registry", "ls", "-n", "binder", "--prefix", PREFIX],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the registry is outside the cluster"),
        "{}",
        stderr(&out)
    );
}
