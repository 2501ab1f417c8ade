//! Registry: the container registry BinderHub pushes its builds to, as
//! `binderctl registry ls|prune` read and clean it. Two kinds of registry:
//! Docker Hub through its own repository and tag API (`docker_hub`), and
//! any registry speaking the Docker Registry HTTP API v2 (`distribution`:
//! catalog, tags, manifests, delete by digest, Basic and Bearer auth).
//! `reference` (image prefixes, names), `select` (which tags a prune takes)
//! and `auth` (the `WWW-Authenticate` challenge) are pure; `http` and the
//! two clients do network I/O and print nothing.
//!
//! May depend on `error` (escaping), `cluster::duration` (reading
//! timestamps) and `egress::published` (URLs shown without their
//! credentials) only; never on `cli`, `ops`, `output` or
//! `commands`. Credentials and tokens are never part of a message, a
//! `Debug` output or an error.
//!
//! Everything a registry answers is bounded: each response body
//! ([`http::MAX_BODY_BYTES`]), the pages followed ([`MAX_PAGES`]) and the
//! bytes they hold ([`MAX_LISTING_BYTES`]), the repositories and tags read
//! ([`MAX_CATALOG`], [`MAX_REPOSITORIES`], [`MAX_TAGS`]), and the
//! names taken from answers are checked before they become part of a URL.

pub mod auth;
pub mod distribution;
pub mod docker_hub;
pub mod http;
pub mod reference;
pub mod select;

pub use crate::secret::Secret;

/// The most pages one listing follows (catalog, repositories, tags).
pub const MAX_PAGES: usize = 1000;
/// The most repositories under the prefix that are read.
pub const MAX_REPOSITORIES: usize = 10_000;
/// The most tags read, over all repositories.
pub const MAX_TAGS: usize = 100_000;
/// The most bytes of answers one paged listing reads in all.
pub const MAX_LISTING_BYTES: usize = 64 << 20;
/// The most entries a registry's catalog may list (all repositories, not
/// only those under the prefix).
pub const MAX_CATALOG: usize = 200_000;
/// How many requests for tag details run at once while listing.
pub const DETAILS_AT_ONCE: usize = 8;

/// Which API the registry is driven through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Docker Hub's repository and tag API (login, paged tag lists, tag
    /// deletion).
    DockerHub,
    /// The Docker Registry HTTP API v2 (distribution, Harbor, GitLab, …).
    Distribution,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::DockerHub => "Docker Hub",
            Api::Distribution => "registry API v2",
        }
    }
}

/// A user name and its password (or access token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// One tag of one repository, as the registry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The repository's path in the registry (`lab/binder-x`), no host.
    pub repository: String,
    pub tag: String,
    /// When it was pushed (Docker Hub) or built (the image's `created`,
    /// other registries), in Unix seconds; `None` when unknown.
    pub pushed: Option<i64>,
    /// Compressed size in bytes (the layers and the config, every platform).
    pub size: Option<u64>,
    /// The manifest's digest, when the registry says it.
    pub digest: Option<String>,
}

impl Tag {
    /// `repository:tag`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// What a listing found: every tag, and the problems that left some tags
/// without a date or size (not fatal: such tags are kept by a prune).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub tags: Vec<Tag>,
    /// Repositories under the prefix.
    pub repositories: usize,
    /// One line per tag whose details could not be read.
    pub problems: Vec<String>,
}

/// How deleting one tag ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// Gone before binderctl got to it.
    AlreadyGone,
    /// Not deleted; why (names no credential).
    Failed(String),
}

/// The registry, through whichever API it speaks.
#[derive(Debug)]
pub enum Registry {
    DockerHub(docker_hub::DockerHub),
    Distribution(distribution::Distribution),
}

impl Registry {
    pub fn api(&self) -> Api {
        match self {
            Registry::DockerHub(_) => Api::DockerHub,
            Registry::Distribution(_) => Api::Distribution,
        }
    }

    /// The registry as messages name it (no credentials).
    pub fn shown(&self) -> String {
        match self {
            Registry::DockerHub(hub) => format!("Docker Hub ({})", hub.shown_url()),
            Registry::Distribution(registry) => registry.shown_url(),
        }
    }

    /// Whether a deletion removes a manifest by digest (and with it every
    /// tag naming it) rather than one tag.
    pub fn deletes_by_digest(&self) -> bool {
        matches!(self, Registry::Distribution(_))
    }

    /// Every tag of every repository under `prefix`.
    pub async fn list(&self, prefix: &reference::RepoPrefix) -> anyhow::Result<Listing> {
        match self {
            Registry::DockerHub(hub) => hub.list(prefix).await,
            Registry::Distribution(registry) => registry.list(prefix).await,
        }
    }

    /// Delete `tags`, which share one repository (and, where the registry
    /// deletes by digest, one digest): one outcome per tag, in order.
    pub async fn delete(&self, tags: &[Tag]) -> Vec<Deletion> {
        match self {
            Registry::DockerHub(hub) => {
                let mut outcomes = Vec::with_capacity(tags.len());
                for tag in tags {
                    outcomes.push(hub.delete(tag).await);
                }
                outcomes
            }
            Registry::Distribution(registry) => registry.delete(tags).await,
        }
    }

    /// The requests that would delete `tags` (`DELETE URL`, no
    /// credentials), for `--dry-run`.
    pub fn delete_requests(&self, tags: &[Tag]) -> Vec<String> {
        match self {
            Registry::DockerHub(hub) => tags.iter().map(|t| hub.delete_request(t)).collect(),
            Registry::Distribution(registry) => registry.delete_requests(tags),
        }
    }
}

/// Unix seconds as RFC 3339 in UTC (`2024-05-21T10:02:11Z`); times before
/// 1970 are written as the epoch.
pub fn format_rfc3339(seconds: i64) -> String {
    let seconds = u64::try_from(seconds).unwrap_or(0);
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's civil_from_days, for days after the epoch.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let credentials = Credentials {
            username: "lab".into(),
            password: Secret::new("hunter2-not-shown"),
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("lab"), "{shown}");
    }

    #[test]
    fn rfc3339_round_trips_through_the_timestamp_reader() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2024-05-21T10:02:11Z",
            "2038-01-19T03:14:08Z",
        ] {
            let seconds = crate::cluster::duration::parse_timestamp(text).unwrap();
            assert_eq!(format_rfc3339(seconds), text);
        }
        assert_eq!(format_rfc3339(-5), "1970-01-01T00:00:00Z");
    }
}
