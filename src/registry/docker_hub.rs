//! Docker Hub through its own API (Docker's "Docker HUB API" reference):
//!
//! - log in: `POST /v2/auth/token` with `{"identifier", "secret"}` gives
//!   `{"access_token"}` (a JWT); where that route is missing (404, 405) the
//!   older `POST /v2/users/login` with `{"username", "password"}` gives
//!   `{"token"}`. The token goes along as `Authorization: Bearer TOKEN`; a
//!   401 later (the token expired) logs in again, once.
//! - repositories of a namespace: `GET /v2/namespaces/NS/repositories`,
//!   paged (`page_size` at most 100, a `next` link to the following page);
//! - tags: `GET /v2/namespaces/NS/repositories/NAME/tags`, paged the same
//!   way, each with `last_updated` (and `tag_last_pushed`), `full_size`
//!   (compressed, all layers) and `digest`;
//! - deleting a tag: `DELETE /v2/repositories/NS/NAME/tags/TAG/` (the route
//!   Docker's own hub-tool uses; the reference documents no deletion).
//!   Only the tag goes; Docker Hub keeps no untagged image to collect.
//!
//! `next` links are followed only on the API's own origin, at most
//! [`MAX_PAGES`] of them.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{self, StreamExt};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;

use super::http::{self, Failure, Response};
use super::reference::{is_digest, is_repository, is_tag, RepoPrefix};
use super::{Credentials, Deletion, Listing, Secret, Tag};
use super::{
    DETAILS_AT_ONCE, MAX_CATALOG, MAX_LISTING_BYTES, MAX_PAGES, MAX_REPOSITORIES, MAX_TAGS,
};
use crate::cluster::duration::parse_timestamp;

/// The API's address: the default of `--registry-url` with `--api
/// docker-hub` (and of any prefix without a registry host).
pub const DEFAULT_URL: &str = "https://hub.docker.com";

/// Items asked for per page (the API's maximum).
const PAGE_SIZE: &str = "100";

#[derive(Debug)]
pub struct DockerHub {
    base: Url,
    http: reqwest::Client,
    credentials: Option<Credentials>,
    retries: u32,
    token: Mutex<Option<Secret>>,
}

/// One page of a paged list.
#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default)]
    next: Option<String>,
    #[serde(default = "Vec::new")]
    results: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct RepositoryResult {
    name: String,
}

#[derive(Debug, Deserialize)]
struct TagResult {
    name: String,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(default)]
    tag_last_pushed: Option<String>,
    #[serde(default)]
    full_size: Option<u64>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    images: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    login_2fa_token: Option<String>,
}

impl DockerHub {
    /// A client for the API at `url` ([`DEFAULT_URL`], or a
    /// stand-in), with or without credentials.
    pub fn new(
        url: &str,
        credentials: Option<Credentials>,
        timeout: Duration,
        retries: u32,
    ) -> Result<DockerHub> {
        let base = super::distribution::base_url(url)?;
        let http = http::client(timeout, base.scheme() == "https")?;
        Ok(DockerHub {
            base,
            http,
            credentials,
            retries,
            token: Mutex::new(None),
        })
    }

    pub fn shown_url(&self) -> String {
        http::shown(self.base.as_str())
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// `BASE/a/b/c`, each segment percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn current_token(&self) -> Option<Secret> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Log in with the credentials (if any), keeping the token.
    pub async fn login(&self) -> Result<()> {
        let Some(credentials) = &self.credentials else {
            return Ok(());
        };
        let user = &credentials.username;
        let url = self.endpoint(&["v2", "auth", "token"]);
        let body = json!({"identifier": user, "secret": credentials.password.expose()});
        let mut answer = self.post_json(&url, &body).await?;
        if matches!(answer.status.as_u16(), 404 | 405) {
            let url = self.endpoint(&["v2", "users", "login"]);
            let body = json!({"username": user, "password": credentials.password.expose()});
            answer = self.post_json(&url, &body).await?;
        }
        let shown = self.shown_url();
        match answer.status {
            StatusCode::OK | StatusCode::CREATED => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let two_factor = answer
                    .json::<TokenAnswer>()
                    .ok()
                    .and_then(|a| a.login_2fa_token)
                    .is_some();
                if two_factor {
                    bail!(
                        "{shown}: user {user:?} has two-factor authentication; use a personal \
                         access token as the password (registry.password)"
                    );
                }
                bail!(
                    "{shown}: the login of user {user:?} was refused ({}); check \
                     registry.username and registry.password (an access token) in the secret \
                     file, or BINDERCTL_REGISTRY_PASSWORD",
                    answer.failure()
                );
            }
            _ => bail!("{shown}: logging in failed: {}", answer.failure()),
        }
        let token: TokenAnswer = answer
            .json()
            .map_err(|e| anyhow!("{shown}: logging in: {e}"))?;
        let token = token
            .access_token
            .or(token.token)
            .filter(|t| !t.is_empty() && t.len() <= 16 * 1024 && !t.contains(char::is_control))
            .ok_or_else(|| anyhow!("{shown}: logging in: the answer holds no token"))?;
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(Secret::new(token));
        Ok(())
    }

    async fn post_json(&self, url: &Url, body: &serde_json::Value) -> Result<Response> {
        let body = body.to_string();
        http::send_retrying(self.retries, || {
            http::request(&self.http, Method::POST, url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
        .await
        .map_err(|e| anyhow!("{}: logging in: {e}", self.shown_url()))
    }

    /// Send a request with the token; after a 401, log in again and send
    /// it once more (a token lasts minutes, a prune may take longer).
    async fn send(&self, method: Method, url: &Url) -> Result<Response, Failure> {
        let build = |token: &Option<Secret>| {
            let request = http::request(&self.http, method.clone(), url);
            match token {
                Some(token) => request.bearer_auth(token.expose()),
                None => request,
            }
        };
        let token = self.current_token();
        let response = http::send_retrying(self.retries, || build(&token)).await?;
        if response.status != StatusCode::UNAUTHORIZED || self.credentials.is_none() {
            return Ok(response);
        }
        if self.login().await.is_err() {
            return Ok(response);
        }
        let token = self.current_token();
        http::send_retrying(self.retries, || build(&token)).await
    }

    /// Every page of a paged list from `first`.
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        limit: usize,
        what: &str,
    ) -> Result<Option<Vec<T>>> {
        let shown = self.shown_url();
        let mut url = first;
        let mut items = Vec::new();
        let mut bytes = 0usize;
        for _ in 0..MAX_PAGES {
            let response = self
                .send(Method::GET, &url)
                .await
                .map_err(|e| anyhow!("{shown}: listing {what}: {e}"))?;
            match response.status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => return Ok(None),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if self.credentials.is_none() => {
                    bail!(
                        "{shown}: listing {what}: {}; private repositories need the \
                         credentials (registry.username and registry.password in the secret \
                         file)",
                        response.failure()
                    )
                }
                _ => bail!("{shown}: listing {what}: {}", response.failure()),
            }
            bytes = bytes.saturating_add(response.body.len());
            if bytes > MAX_LISTING_BYTES {
                bail!(
                    "{shown}: listing {what}: more than {} MiB of answers; binderctl reads no more",
                    MAX_LISTING_BYTES >> 20
                );
            }
            let page: Page<T> = response
                .json()
                .map_err(|e| anyhow!("{shown}: listing {what}: {e}"))?;
            items.extend(page.results);
            if items.len() > limit {
                bail!("{shown}: more than {limit} {what}; binderctl reads at most that many");
            }
            match page.next.filter(|n| !n.is_empty()) {
                None => return Ok(Some(items)),
                Some(next) => {
                    let next = self.base.join(&next).map_err(|e| {
                        anyhow!("{shown}: listing {what}: the next page's link is no URL: {e}")
                    })?;
                    if !http::same_origin(&self.base, &next) {
                        bail!(
                            "{shown}: listing {what}: the next page's link leads to another \
                             server ({}); refusing to follow",
                            http::shown(next.as_str())
                        );
                    }
                    url = next;
                }
            }
        }
        bail!("{shown}: listing {what}: more than {MAX_PAGES} pages; refusing to read on")
    }

    /// Every tag of every repository under `prefix` (NAMESPACE/NAME…).
    pub async fn list(&self, prefix: &RepoPrefix) -> Result<Listing> {
        let (namespace, name_prefix) = prefix.docker_hub_parts()?;
        let mut first = self.endpoint(&["v2", "namespaces", namespace, "repositories"]);
        first.query_pairs_mut().append_pair("page_size", PAGE_SIZE);
        let what = format!("the repositories of {namespace}");
        let repositories: Vec<RepositoryResult> = self
            .pages(first, MAX_CATALOG, &what)
            .await?
            .with_context(|| {
                format!(
                    "{}: namespace {namespace:?} not found (is the image prefix right?)",
                    self.shown_url()
                )
            })?;
        let mut listing = Listing::default();
        let mut names = Vec::new();
        for repository in repositories {
            if !repository.name.starts_with(name_prefix) {
                continue;
            }
            let path = format!("{namespace}/{}", repository.name);
            if repository.name.contains('/') || !is_repository(&path) {
                listing.problems.push(format!(
                    "a repository named {:?} is not a valid name; left alone",
                    crate::error::without_controls(&path, "")
                ));
                continue;
            }
            names.push(repository.name);
        }
        if names.len() > MAX_REPOSITORIES {
            bail!(
                "{}: more than {MAX_REPOSITORIES} repositories under {}; binderctl reads at \
                 most that many",
                self.shown_url(),
                prefix.path
            );
        }
        names.sort();
        listing.repositories = names.len();
        let results: Vec<Result<Vec<Tag>>> = stream::iter(names.iter())
            .map(|name| self.tags(namespace, name))
            .buffered(DETAILS_AT_ONCE)
            .collect()
            .await;
        for result in results {
            let tags = result?;
            if listing.tags.len() + tags.len() > MAX_TAGS {
                bail!(
                    "{}: more than {MAX_TAGS} tags under {}; binderctl reads at most that many",
                    self.shown_url(),
                    prefix.path
                );
            }
            listing.tags.extend(tags);
        }
        Ok(listing)
    }

    /// The tags of NAMESPACE/NAME (none when the repository is gone).
    async fn tags(&self, namespace: &str, name: &str) -> Result<Vec<Tag>> {
        let mut first =
            self.endpoint(&["v2", "namespaces", namespace, "repositories", name, "tags"]);
        first.query_pairs_mut().append_pair("page_size", PAGE_SIZE);
        let repository = format!("{namespace}/{name}");
        let what = format!("the tags of {repository}");
        let results: Vec<TagResult> = self
            .pages(first, MAX_TAGS, &what)
            .await?
            .unwrap_or_default();
        let mut tags = Vec::new();
        for result in results {
            if !is_tag(&result.name) {
                continue;
            }
            let pushed = result
                .tag_last_pushed
                .as_deref()
                .and_then(parse_timestamp)
                .or_else(|| result.last_updated.as_deref().and_then(parse_timestamp));
            let digest = result
                .digest
                .clone()
                .or_else(|| {
                    result
                        .images
                        .get(0)
                        .and_then(|i| i.get("digest"))
                        .and_then(|d| d.as_str())
                        .map(str::to_string)
                })
                .filter(|d| is_digest(d));
            tags.push(Tag {
                repository: repository.clone(),
                tag: result.name,
                pushed,
                size: result.full_size,
                digest,
            });
        }
        Ok(tags)
    }

    /// `BASE/v2/repositories/NS/NAME/tags/TAG/`.
    fn delete_url(&self, tag: &Tag) -> Option<Url> {
        let (namespace, name) = tag.repository.split_once('/')?;
        if !is_repository(&tag.repository) || name.contains('/') || !is_tag(&tag.tag) {
            return None;
        }
        Some(self.endpoint(&["v2", "repositories", namespace, name, "tags", &tag.tag, ""]))
    }

    /// `DELETE URL`, for `--dry-run`.
    pub fn delete_request(&self, tag: &Tag) -> String {
        match self.delete_url(tag) {
            Some(url) => format!("DELETE {}", http::shown(url.as_str())),
            None => format!("(not a valid name: {})", tag.name()),
        }
    }

    /// Delete one tag.
    pub async fn delete(&self, tag: &Tag) -> Deletion {
        let Some(url) = self.delete_url(tag) else {
            return Deletion::Failed("not a valid repository or tag name".into());
        };
        if self.credentials.is_none() {
            return Deletion::Failed(
                "Docker Hub deletes tags only for a logged-in user; set registry.username and \
                 registry.password in the secret file"
                    .into(),
            );
        }
        match self.send(Method::DELETE, &url).await {
            Ok(response) => match response.status.as_u16() {
                200 | 202 | 204 => Deletion::Deleted,
                404 => Deletion::AlreadyGone,
                401 | 403 => Deletion::Failed(format!(
                    "{} (may this user delete in the namespace? An access token needs the \
                     delete scope)",
                    response.failure()
                )),
                _ => Deletion::Failed(response.failure().to_string()),
            },
            Err(failure) => Deletion::Failed(failure.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> DockerHub {
        DockerHub::new("http://127.0.0.1:9/api/", None, Duration::from_secs(1), 0).unwrap()
    }

    #[test]
    fn urls_are_built_from_checked_segments() {
        let hub = hub();
        assert_eq!(
            hub.endpoint(&["v2", "namespaces", "lab", "repositories"])
                .as_str(),
            "http://127.0.0.1:9/api/v2/namespaces/lab/repositories"
        );
        let tag = Tag {
            repository: "lab/binder-x".into(),
            tag: "abc".into(),
            pushed: None,
            size: None,
            digest: None,
        };
        assert_eq!(
            hub.delete_request(&tag),
            "DELETE http://127.0.0.1:9/api/v2/repositories/lab/binder-x/tags/abc/"
        );
        for (repository, name) in [("lab/../x", "abc"), ("lab/x/y", "abc"), ("lab/x", "../a")] {
            let odd = Tag {
                repository: repository.into(),
                tag: name.into(),
                ..tag.clone()
            };
            assert!(hub.delete_url(&odd).is_none(), "{repository}:{name}");
        }
    }

    #[tokio::test]
    async fn deleting_without_credentials_sends_nothing() {
        let tag = Tag {
            repository: "lab/binder-x".into(),
            tag: "abc".into(),
            pushed: None,
            size: None,
            digest: None,
        };
        match hub().delete(&tag).await {
            Deletion::Failed(why) => assert!(why.contains("logged-in"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tag_pages_read_the_documented_fields() {
        let page: Page<TagResult> = serde_json::from_str(
            r#"{"count": 2, "next": null, "previous": null, "results": [
                {"name": "a", "full_size": 123, "last_updated": "2021-01-05T21:06:53.506400Z",
                 "images": [{"digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]},
                {"name": "b", "full_size": null, "last_updated": null, "images": null}]}"#,
        )
        .unwrap();
        assert_eq!(page.results.len(), 2);
        assert_eq!(page.results[0].full_size, Some(123));
        assert!(page.next.is_none());
    }
}
