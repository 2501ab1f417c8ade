//! Finding the registry: the image prefix (the values file or the
//! option), the credentials (the secret file, the options, the
//! environment's password), the API and the URL; Docker Hub's login.
//! Messages name the file and key, never a credential.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_yaml::Value;

use crate::error::ShownPath;
use crate::registry::reference::ImagePrefix;
use crate::registry::{
    distribution::Distribution, docker_hub, docker_hub::DockerHub, Api, Credentials, Registry,
    Secret,
};

/// The secret file read when none is named (and it exists).
pub const DEFAULT_SECRET: &str = "secret.yaml";

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
