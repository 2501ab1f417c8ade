//! The registry BinderHub pushes to: find it, its credentials and the image
//! prefix (the values file, the secret file, the options), list the tags
//! under the prefix, choose what a prune deletes, and delete it a few
//! requests at a time. Takes a plain [`Config`]; never uses `cli` or
//! `commands`. Credentials are never printed: messages name the file and
//! key, never a value.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{self, StreamExt};
use serde_yaml::Value;

use crate::error::{Problems, ShownPath};
use crate::registry::reference::ImagePrefix;
use crate::registry::select::{self, Choice, Rules};
use crate::registry::{
    distribution::Distribution, docker_hub, docker_hub::DockerHub, Api, Credentials, Deletion,
    Listing, Registry, Secret, Tag,
};

/// The secret file read when none is named (and it exists).
pub const DEFAULT_SECRET: &str = "secret.yaml";

/// The most deletions under way at once.
pub const MAX_AT_ONCE: usize = 16;

/// Where the registry, its credentials and the image prefix come from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The values file whose `config.BinderHub.image_prefix` names the
    /// images (not read when `prefix` is given).
    pub input: PathBuf,
    /// The image prefix, instead of the values file's.
    pub prefix: Option<String>,
    /// The secret file (`registry.username`, `registry.password`,
    /// `registry.url`); `None`: [`DEFAULT_SECRET`] when it exists.
    pub secret: Option<PathBuf>,
    /// The registry's URL (with Docker Hub: its API's).
    pub registry_url: Option<String>,
    /// The API; `None`: Docker Hub for a prefix without a registry host,
    /// the registry API v2 otherwise.
    pub api: Option<Api>,
    /// The user name, instead of the secret file's.
    pub username: Option<String>,
    /// The password, instead of the secret file's (from the environment).
    pub password: Option<Secret>,
    /// How long one request may take.
    pub timeout: Duration,
    /// How many times a request that failed for a passing reason is sent
    /// again.
    pub retries: u32,
}

/// A registry ready to use, and the prefix its images have.
#[derive(Debug)]
pub struct Target {
    pub registry: Registry,
    pub prefix: ImagePrefix,
}

impl Target {
    /// `the images under PREFIX in REGISTRY`, for messages.
    pub fn describe(&self) -> String {
        format!("{} in {}", self.prefix.shown(), self.registry.shown())
    }
}

/// What secret.yaml says of the registry.
#[derive(Debug, Default)]
struct SecretValues {
    username: Option<String>,
    password: Option<Secret>,
    url: Option<String>,
}

/// Find the registry, read the credentials and log in (Docker Hub), so a
/// wrong password is reported before anything else happens.
pub async fn connect(config: &Config) -> Result<Target> {
    let prefix = image_prefix(config)?;
    let (secret_path, explicit) = match &config.secret {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_SECRET), false),
    };
    let secret = read_secret(&secret_path, explicit)?;
    let shown_secret = secret_path.shown().to_string();
    let username = config.username.clone().or(secret.username);
    let credentials = match (username, config.password.clone().or(secret.password)) {
        (Some(username), Some(password)) => Some(Credentials { username, password }),
        (None, None) => None,
        (Some(_), None) => bail!(
            "a registry user name but no password: set registry.password in {shown_secret} or \
             BINDERCTL_REGISTRY_PASSWORD"
        ),
        (None, Some(_)) => bail!(
            "a registry password but no user name: set registry.username in {shown_secret} or \
             pass --username"
        ),
    };
    let api = config.api.unwrap_or(if prefix.host.is_some() {
        Api::Distribution
    } else {
        Api::DockerHub
    });
    let registry = match api {
        Api::DockerHub => {
            // secret.yaml's registry.url names where images are pushed
            // (the chart's), not Docker Hub's API.
            let url = config
                .registry_url
                .clone()
                .unwrap_or_else(|| docker_hub::DEFAULT_URL.to_string());
            warn_plain_http(&url, credentials.is_some());
            let hub = DockerHub::new(&url, credentials, config.timeout, config.retries)?;
            hub.login().await?;
            Registry::DockerHub(hub)
        }
        Api::Distribution => {
            let url = config
                .registry_url
                .clone()
                .or(secret.url)
                .or_else(|| prefix.host.as_ref().map(|h| format!("https://{h}")))
                .ok_or_else(|| {
                    anyhow!(
                        "no registry URL: the image prefix {:?} names no registry host; pass \
                         --registry-url or set registry.url in {shown_secret} (or --api \
                         docker-hub for Docker Hub)",
                        prefix.shown()
                    )
                })?;
            let registry =
                Distribution::new(&url, credentials.clone(), config.timeout, config.retries)?;
            warn_other_host(&url, &prefix);
            warn_plain_http(&url, credentials.is_some());
            Registry::Distribution(registry)
        }
    };
    Ok(Target { registry, prefix })
}

/// The image prefix: `--prefix`, else the values file's.
fn image_prefix(config: &Config) -> Result<ImagePrefix> {
    if let Some(prefix) = &config.prefix {
        return ImagePrefix::parse(prefix).context("--prefix");
    }
    let name = config.input.shown().to_string();
    let values = crate::ops::render::read_values(&config.input)
        .context("reading the image prefix (config.BinderHub.image_prefix; or pass --prefix)")?;
    let key = "config.BinderHub.image_prefix";
    let value = values
        .get("config")
        .and_then(|c| c.get("BinderHub"))
        .and_then(|b| b.get("image_prefix"));
    match value {
        None | Some(Value::Null) => bail!(
            "{name}: {key} is not set; it names where BinderHub pushes its images (or pass \
             --prefix)"
        ),
        Some(Value::String(text)) => {
            ImagePrefix::parse(text).with_context(|| format!("{name}: {key}"))
        }
        Some(other) => bail!(
            "{name}: {key} is {}, not text",
            crate::values::settings::kind(other)
        ),
    }
}

/// `registry.username`, `registry.password` and `registry.url` from the
/// secret file; a missing file is an error only when it was named.
fn read_secret(path: &Path, explicit: bool) -> Result<SecretValues> {
    let shown = path.shown();
    match std::fs::metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(SecretValues::default())
        }
        Err(e) => return Err(e).with_context(|| format!("{shown}: cannot read")),
    }
    warn_if_readable_by_others(path);
    let text = crate::ops::input::read_text(path)?;
    // The reader names positions and keys, never a value.
    let reading = crate::values::read::parse_values(&text, &shown.to_string())?;
    let Some(registry) = reading.value.get("registry") else {
        return Ok(SecretValues::default());
    };
    if !registry.is_mapping() {
        bail!(
            "{shown}: registry is {}, not a mapping with username and password",
            crate::values::settings::kind(registry)
        );
    }
    let text_of = |key: &str| -> Result<Option<String>> {
        match registry.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if s.contains('<') && s.contains('>') => bail!(
                "{shown}: registry.{key}: still the template's placeholder; put the real value \
                 there"
            ),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => bail!(
                "{shown}: registry.{key}: Helm reads it as {}, not as text; quote it",
                crate::values::settings::kind(other)
            ),
        }
    };
    Ok(SecretValues {
        username: text_of("username")?,
        password: text_of("password")?.map(Secret::new),
        url: text_of("url")?,
    })
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                let shown = path.shown();
                crate::output::warn(&format!(
                    "{shown} holds the registry's credentials but is readable by others (mode \
                     {mode:04o}); chmod 600 {shown}"
                ));
            }
        }
    }
}

/// Credentials to a plain-HTTP registry elsewhere than this machine cross
/// the network readable.
fn warn_plain_http(url: &str, credentials: bool) {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return;
    };
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host
        .parse::<std::net::IpAddr>()
        .map_or(host == "localhost", |ip| ip.is_loopback());
    if credentials && parsed.scheme() == "http" && !loopback {
        crate::output::warn(&format!(
            "{} is plain HTTP: the registry credentials cross the network unencrypted",
            crate::registry::http::shown(url)
        ));
    }
}

/// A registry URL on another host than the image prefix names.
fn warn_other_host(url: &str, prefix: &ImagePrefix) {
    let (Ok(parsed), Some(host)) = (reqwest::Url::parse(url), &prefix.host) else {
        return;
    };
    let authority = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return,
    };
    if !authority.eq_ignore_ascii_case(host) {
        crate::output::warn(&format!(
            "the registry URL {} is not on {host}, the image prefix's host; using the URL",
            crate::registry::http::shown(url)
        ));
    }
}

/// Every tag under the prefix, newest first.
pub async fn list(target: &Target) -> Result<Listing> {
    let prefix = target.prefix.repo_prefix();
    let mut listing = tokio::select! {
        listing = target.registry.list(&prefix) => listing?,
        () = crate::cluster::runner::interrupted() => return Err(crate::error::Interrupted.into()),
    };
    // The clients list only what is under the prefix; make sure of it.
    listing.tags.retain(|t| prefix.covers(&t.repository));
    select::sort_newest_first(&mut listing.tags);
    Ok(listing)
}

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
