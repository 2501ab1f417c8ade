//! A registry speaking the Docker Registry HTTP API v2 (distribution's
//! `registry`, Harbor, GitLab's, Zot, …):
//!
//! - repositories: `GET /v2/_catalog?n=1000`, paged by the `Link: <…>;
//!   rel="next"` header (on the registry's own origin only);
//! - tags: `GET /v2/NAME/tags/list?n=1000`, paged the same way;
//! - details: `GET /v2/NAME/manifests/TAG` accepting the OCI and Docker
//!   image manifests and indexes; the digest is the `Docker-Content-Digest`
//!   header, the size the config's and layers' sizes (of every platform, at
//!   most [`MAX_PLATFORMS`] of an index), the date the image config's
//!   `created` (`GET /v2/NAME/blobs/DIGEST`): the API records no push time,
//!   and BinderHub pushes right after it builds;
//! - deleting: `HEAD /v2/NAME/manifests/TAG` for the digest the tag names
//!   now (a tag pushed again since the listing is left alone), then
//!   `DELETE /v2/NAME/manifests/DIGEST`, which removes every tag naming it.
//!   The registry frees the disk at its next garbage collection.
//!
//! Authentication follows the 401 answer's `WWW-Authenticate` challenge:
//! `Basic` sends the credentials with every request; `Bearer` fetches a
//! token for the challenge's service and scope from its realm (with the
//! credentials, or anonymously without them), keeps it per repository and
//! action, and fetches a new one when a kept one is refused. A token realm
//! on plain HTTP is refused when the registry is on HTTPS.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use futures_util::stream::{self, StreamExt};
use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use super::auth::{self, Challenge};
use super::http::{self, Failure, Response};
use super::reference::{is_digest, is_repository, is_tag, RepoPrefix};
use super::{Credentials, Deletion, Listing, Secret, Tag};
use super::{
    DETAILS_AT_ONCE, MAX_CATALOG, MAX_LISTING_BYTES, MAX_PAGES, MAX_REPOSITORIES, MAX_TAGS,
};
use crate::cluster::duration::parse_timestamp;

/// What a manifest request accepts: OCI and Docker, images and indexes.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.manifest.v1+json";

/// The platforms of an index whose manifests are read.
pub const MAX_PLATFORMS: usize = 16;

/// Entries asked for per catalog or tag-list page.
const PAGE_SIZE: &str = "1000";

/// The longest token accepted from a token service.
const MAX_TOKEN_LENGTH: usize = 16 * 1024;

/// A registry's URL as binderctl uses it: http or https, a host, no
/// credentials, query or fragment.
pub fn base_url(url: &str) -> Result<Url> {
    let shown = http::shown(url.trim());
    let parsed = Url::parse(url.trim())
        .map_err(|e| anyhow!("the registry URL {shown:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("the registry URL {shown:?} is not http:// or https://");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        bail!("the registry URL {shown:?} has no host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        bail!(
            "the registry URL {shown:?} holds credentials; put them in the secret file \
             (registry.username, registry.password) instead"
        );
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        bail!(
            "the registry URL {shown:?} has a query or fragment; give the registry's address only"
        );
    }
    Ok(parsed)
}

/// How a request authenticates.
#[derive(Clone)]
enum Auth {
    None,
    Basic,
    Bearer(Secret),
}

#[derive(Debug, Default)]
struct AuthState {
    /// The registry asked for Basic authentication.
    basic: bool,
    /// Bearer tokens by what they were fetched for (`pull:NAME`, …).
    tokens: HashMap<String, Secret>,
}

#[derive(Debug)]
pub struct Distribution {
    base: Url,
    http: reqwest::Client,
    credentials: Option<Credentials>,
    retries: u32,
    state: Mutex<AuthState>,
}

#[derive(Debug, Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// What a manifest says of the image.
#[derive(Debug, Default, PartialEq, Eq)]
struct Details {
    size: Option<u64>,
    created: Option<i64>,
}

impl Distribution {
    pub fn new(
        url: &str,
        credentials: Option<Credentials>,
        timeout: Duration,
        retries: u32,
    ) -> Result<Distribution> {
        let base = base_url(url)?;
        let http = http::client(timeout, base.scheme() == "https")?;
        Ok(Distribution {
            base,
            http,
            credentials,
            retries,
            state: Mutex::new(AuthState::default()),
        })
    }

    pub fn shown_url(&self) -> String {
        http::shown(self.base.as_str())
    }

    /// `BASE/v2/SEGMENTS…`, each segment percent-encoded; a repository's
    /// path is given as its components.
    fn endpoint<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v2").extend(segments);
        }
        url
    }

    fn repository_endpoint(&self, repository: &str, kind: &str, reference: &str) -> Url {
        self.endpoint(repository.split('/').chain([kind, reference]))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn auth_for(&self, key: &str) -> Auth {
        let state = self.state();
        if let Some(token) = state.tokens.get(key) {
            Auth::Bearer(token.clone())
        } else if state.basic && self.credentials.is_some() {
            Auth::Basic
        } else {
            Auth::None
        }
    }

    /// Send a request, answering the registry's challenge once: `key`
    /// names what a Bearer token is kept for.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        accept: Option<&str>,
        key: &str,
    ) -> Result<Response, Failure> {
        let build = |auth: &Auth| {
            let mut request = http::request(&self.http, method.clone(), url);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            match (auth, &self.credentials) {
                (Auth::Basic, Some(c)) => {
                    request.basic_auth(&c.username, Some(c.password.expose()))
                }
                (Auth::Bearer(token), _) => request.bearer_auth(token.expose()),
                _ => request,
            }
        };
        let auth = self.auth_for(key);
        let response = http::send_retrying(self.retries, || build(&auth)).await?;
        if response.status != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = auth::parse(response.header_all("www-authenticate"));
        let auth = match challenge {
            None => return Ok(response),
            Some(Challenge::Basic) => {
                if self.credentials.is_none() || matches!(auth, Auth::Basic) {
                    return Ok(response);
                }
                self.state().basic = true;
                Auth::Basic
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scopes,
            }) => {
                let token = self.token(&realm, service.as_deref(), &scopes).await?;
                self.state().tokens.insert(key.to_string(), token.clone());
                Auth::Bearer(token)
            }
        };
        http::send_retrying(self.retries, || build(&auth)).await
    }

    /// A token from the challenge's realm.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<Secret, Failure> {
        let shown_realm = http::shown(realm);
        let mut url = Url::parse(realm).map_err(|_| {
            Failure::Auth(format!(
                "the token service's address {shown_realm:?} is not a URL"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Failure::Auth(format!(
                "the token service's address {shown_realm:?} is not http:// or https://"
            )));
        }
        if self.base.scheme() == "https" && url.scheme() != "https" {
            return Err(Failure::Auth(format!(
                "the token service {shown_realm} is plain HTTP while the registry is HTTPS; \
                 refusing to send the credentials there"
            )));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let credentials = self.credentials.clone();
        let response = http::send_retrying(self.retries, || {
            let request = http::request(&self.http, Method::GET, &url);
            match &credentials {
                Some(c) => request.basic_auth(&c.username, Some(c.password.expose())),
                None => request,
            }
        })
        .await
        .map_err(|e| Failure::Auth(format!("the token service {shown_realm}: {e}")))?;
        match response.status.as_u16() {
            200 => {}
            401 | 403 => {
                let who = match &self.credentials {
                    Some(c) => format!("the credentials of user {:?}", c.username),
                    None => "an anonymous request (no credentials given)".to_string(),
                };
                return Err(Failure::Auth(format!(
                    "the token service {shown_realm} refused {who} ({})",
                    response.failure()
                )));
            }
            _ => {
                return Err(Failure::Auth(format!(
                    "the token service {shown_realm}: {}",
                    response.failure()
                )))
            }
        }
        let answer: TokenAnswer = response
            .json()
            .map_err(|e| Failure::Auth(format!("the token service {shown_realm}: {e}")))?;
        answer
            .token
            .filter(|t| !t.is_empty())
            .or(answer.access_token)
            .filter(|t| {
                !t.is_empty() && t.len() <= MAX_TOKEN_LENGTH && !t.contains(char::is_control)
            })
            .map(Secret::new)
            .ok_or_else(|| Failure::Auth(format!("the token service {shown_realm} gave no token")))
    }

    /// An error for an answer binderctl cannot use while `doing`.
    fn refusal(&self, doing: &str, response: &Response) -> anyhow::Error {
        let shown = self.shown_url();
        let failure = response.failure();
        match response.status.as_u16() {
            401 | 403 if self.credentials.is_none() => anyhow!(
                "{shown}: {doing}: {failure}; the registry wants credentials (registry.username \
                 and registry.password in the secret file, or --username and \
                 BINDERCTL_REGISTRY_PASSWORD)"
            ),
            401 | 403 => {
                anyhow!(
                "{shown}: {doing}: {failure}; the registry refused user {:?} (wrong password, or \
                 no right to this)",
                self.credentials.as_ref().map(|c| c.username.as_str()).unwrap_or_default()
            )
            }
            _ => anyhow!("{shown}: {doing}: {failure}"),
        }
    }

    /// Every page of a list from `first`, each page's items by `items`;
    /// `None` when the first page is 404.
    async fn pages(
        &self,
        first: Url,
        key: &str,
        doing: &str,
        limit: usize,
        items: impl Fn(&Response) -> Result<Vec<String>, Failure>,
    ) -> Result<Option<Vec<String>>> {
        let shown = self.shown_url();
        let mut url = first;
        let mut all = Vec::new();
        let mut bytes = 0usize;
        for page in 0..MAX_PAGES {
            let response = self
                .send(Method::GET, &url, None, key)
                .await
                .map_err(|e| anyhow!("{shown}: {doing}: {e}"))?;
            if response.status == StatusCode::NOT_FOUND && page == 0 {
                return Ok(None);
            }
            if response.status != StatusCode::OK {
                return Err(self.refusal(doing, &response));
            }
            bytes = bytes.saturating_add(response.body.len());
            all.extend(items(&response).map_err(|e| anyhow!("{shown}: {doing}: {e}"))?);
            if all.len() > limit || bytes > MAX_LISTING_BYTES {
                bail!(
                    "{shown}: {doing}: more than {limit} entries or {} MiB; binderctl reads no \
                     more",
                    MAX_LISTING_BYTES >> 20
                );
            }
            let Some(next) = next_link(&response.header_all("link")) else {
                return Ok(Some(all));
            };
            let next = url
                .join(&next)
                .map_err(|e| anyhow!("{shown}: {doing}: the next page's link is no URL: {e}"))?;
            if !http::same_origin(&self.base, &next) {
                bail!(
                    "{shown}: {doing}: the next page's link leads to another server ({}); \
                     refusing to follow",
                    http::shown(next.as_str())
                );
            }
            url = next;
        }
        bail!("{shown}: {doing}: more than {MAX_PAGES} pages; refusing to read on")
    }

    /// The repositories under `prefix`, sorted.
    async fn repositories(&self, prefix: &RepoPrefix) -> Result<(Vec<String>, Vec<String>)> {
        let mut first = self.endpoint(["_catalog"]);
        first.query_pairs_mut().append_pair("n", PAGE_SIZE);
        let all = self
            .pages(
                first,
                "catalog",
                "reading the catalog",
                MAX_CATALOG,
                |response| Ok(response.json::<Catalog>()?.repositories.unwrap_or_default()),
            )
            .await?
            .ok_or_else(|| {
                anyhow!(
                    "{}: the registry has no catalog (GET /v2/_catalog is 404); is it Docker Hub \
                     (pass --api docker-hub) or is the URL right?",
                    self.shown_url()
                )
            })?;
        let mut problems = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for name in all {
            if !prefix.covers(&name) {
                continue;
            }
            if !is_repository(&name) {
                problems.push(format!(
                    "a repository named {:?} is not a valid name; left alone",
                    crate::error::without_controls(&name, "")
                ));
                continue;
            }
            names.push(name);
        }
        if names.len() > MAX_REPOSITORIES {
            bail!(
                "{}: more than {MAX_REPOSITORIES} repositories under {}; binderctl reads at most \
                 that many",
                self.shown_url(),
                prefix.path
            );
        }
        names.sort();
        names.dedup();
        Ok((names, problems))
    }

    /// The tags of `repository` (none when it is gone).
    async fn tag_names(&self, repository: &str) -> Result<Vec<String>> {
        let mut first = self.repository_endpoint(repository, "tags", "list");
        first.query_pairs_mut().append_pair("n", PAGE_SIZE);
        let key = format!("pull:{repository}");
        let doing = format!("listing the tags of {repository}");
        let names = self
            .pages(first, &key, &doing, MAX_TAGS, |response| {
                Ok(response.json::<TagList>()?.tags.unwrap_or_default())
            })
            .await?
            .unwrap_or_default();
        let mut names: Vec<String> = names.into_iter().filter(|t| is_tag(t)).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Every tag of every repository under `prefix`.
    pub async fn list(&self, prefix: &RepoPrefix) -> Result<Listing> {
        let (repositories, problems) = self.repositories(prefix).await?;
        let mut listing = Listing {
            repositories: repositories.len(),
            problems,
            ..Listing::default()
        };
        let tag_lists: Vec<Result<Vec<String>>> = stream::iter(repositories.iter())
            .map(|repository| self.tag_names(repository))
            .buffered(DETAILS_AT_ONCE)
            .collect()
            .await;
        let mut wanted: Vec<(String, String)> = Vec::new();
        for (repository, tags) in repositories.iter().zip(tag_lists) {
            for tag in tags? {
                wanted.push((repository.clone(), tag));
            }
            if wanted.len() > MAX_TAGS {
                bail!(
                    "{}: more than {MAX_TAGS} tags under {}; binderctl reads at most that many",
                    self.shown_url(),
                    prefix.path
                );
            }
        }
        let details: Vec<(Tag, Option<String>)> = stream::iter(wanted)
            .map(|(repository, tag)| self.describe(repository, tag))
            .buffered(DETAILS_AT_ONCE)
            .collect()
            .await;
        for (tag, problem) in details {
            if let Some(problem) = problem {
                listing.problems.push(problem);
            }
            listing.tags.push(tag);
        }
        Ok(listing)
    }

    /// A tag with its digest, size and date; what kept them from being
    /// read, if anything.
    async fn describe(&self, repository: String, tag: String) -> (Tag, Option<String>) {
        let mut described = Tag {
            repository,
            tag,
            pushed: None,
            size: None,
            digest: None,
        };
        match self.details(&described.repository, &described.tag).await {
            Ok((digest, details)) => {
                described.digest = digest;
                described.size = details.size;
                described.pushed = details.created;
                (described, None)
            }
            Err(why) => {
                let problem = format!("{}: {why}", described.name());
                (described, Some(problem))
            }
        }
    }

    /// The manifest `reference` (a tag or digest) of `repository`.
    async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<(Option<String>, Value), String> {
        let url = self.repository_endpoint(repository, "manifests", reference);
        let key = format!("pull:{repository}");
        let response = self
            .send(Method::GET, &url, Some(MANIFEST_TYPES), &key)
            .await
            .map_err(|e| e.to_string())?;
        if response.status != StatusCode::OK {
            return Err(format!("reading the manifest: {}", response.failure()));
        }
        let digest = response
            .header("docker-content-digest")
            .map(str::trim)
            .filter(|d| is_digest(d))
            .map(str::to_string);
        let mut manifest: Value = response
            .json()
            .map_err(|e| format!("reading the manifest: {e}"))?;
        if manifest.get("mediaType").is_none() {
            let media_type = response
                .header("content-type")
                .and_then(|t| t.split(';').next())
                .map(|t| t.trim().to_string());
            if let (Some(media_type), Some(object)) = (media_type, manifest.as_object_mut()) {
                object.insert("mediaType".into(), Value::String(media_type));
            }
        }
        Ok((digest, manifest))
    }

    /// The digest, size and date of `tag`.
    async fn details(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<(Option<String>, Details), String> {
        let (digest, manifest) = self.manifest(repository, tag).await?;
        if let Some(children) = manifest.get("manifests").and_then(Value::as_array) {
            let mut details = Details::default();
            for child in children.iter().take(MAX_PLATFORMS) {
                let Some(child_digest) = child
                    .get("digest")
                    .and_then(Value::as_str)
                    .filter(|d| is_digest(d))
                else {
                    continue;
                };
                let (_, child_manifest) = self.manifest(repository, child_digest).await?;
                let one = self.image_details(repository, &child_manifest).await?;
                details.size = match (details.size, one.size) {
                    (Some(a), Some(b)) => Some(a.saturating_add(b)),
                    (a, b) => a.or(b),
                };
                details.created = details.created.max(one.created);
            }
            return Ok((digest, details));
        }
        let details = self.image_details(repository, &manifest).await?;
        Ok((digest, details))
    }

    /// Size and date of one image manifest (not an index).
    async fn image_details(&self, repository: &str, manifest: &Value) -> Result<Details, String> {
        let Some(config) = manifest.get("config") else {
            // Schema 1 and other kinds: nothing binderctl reads.
            return Ok(Details::default());
        };
        let layers = manifest
            .get("layers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let size = layers
            .iter()
            .chain([config])
            .map(|d| d.get("size").and_then(Value::as_u64))
            .try_fold(0u64, |total, size| size.map(|s| total.saturating_add(s)));
        let Some(config_digest) = config
            .get("digest")
            .and_then(Value::as_str)
            .filter(|d| is_digest(d))
        else {
            return Ok(Details {
                size,
                created: None,
            });
        };
        let url = self.repository_endpoint(repository, "blobs", config_digest);
        let key = format!("pull:{repository}");
        let response = self
            .send(Method::GET, &url, None, &key)
            .await
            .map_err(|e| format!("reading the image config: {e}"))?;
        if response.status != StatusCode::OK {
            return Err(format!("reading the image config: {}", response.failure()));
        }
        let config: Value = response
            .json()
            .map_err(|e| format!("reading the image config: {e}"))?;
        let created = config
            .get("created")
            .and_then(Value::as_str)
            .and_then(parse_timestamp);
        Ok(Details { size, created })
    }

    /// `DELETE URL` of the manifest `tags` name, for `--dry-run`.
    pub fn delete_requests(&self, tags: &[Tag]) -> Vec<String> {
        let Some(first) = tags.first() else {
            return Vec::new();
        };
        match first.digest.as_deref() {
            Some(digest) if is_digest(digest) && is_repository(&first.repository) => {
                let url = self.repository_endpoint(&first.repository, "manifests", digest);
                vec![format!("DELETE {}", http::shown(url.as_str()))]
            }
            _ => vec![format!("(digest unknown: {})", first.name())],
        }
    }

    /// Delete the manifest `tags` (one repository, one digest) name, if
    /// each tag still names it.
    pub async fn delete(&self, tags: &[Tag]) -> Vec<Deletion> {
        let Some(first) = tags.first() else {
            return Vec::new();
        };
        let digest = match first.digest.as_deref() {
            Some(d) if is_digest(d) && is_repository(&first.repository) => d.to_string(),
            _ => return vec![Deletion::Failed("its digest is unknown".into()); tags.len()],
        };
        let repository = first.repository.clone();
        let mut outcomes: Vec<Option<Deletion>> = vec![None; tags.len()];
        for (outcome, tag) in outcomes.iter_mut().zip(tags) {
            if tag.repository != repository || tag.digest.as_deref() != Some(digest.as_str()) {
                *outcome = Some(Deletion::Failed("not of this image".into()));
                continue;
            }
            let url = self.repository_endpoint(&repository, "manifests", &tag.tag);
            let key = format!("pull:{repository}");
            match self
                .send(Method::HEAD, &url, Some(MANIFEST_TYPES), &key)
                .await
            {
                Ok(response) if response.status == StatusCode::NOT_FOUND => {
                    *outcome = Some(Deletion::AlreadyGone);
                }
                Ok(response) if response.status == StatusCode::OK => {
                    let now = response.header("docker-content-digest").map(str::trim);
                    if now != Some(digest.as_str()) {
                        *outcome = Some(Deletion::Failed(format!(
                            "the tag names another image now ({}), pushed since it was listed; \
                             left alone",
                            now.unwrap_or("digest unknown")
                        )));
                    }
                }
                Ok(response) => {
                    *outcome = Some(Deletion::Failed(format!(
                        "checking its digest: {}",
                        response.failure()
                    )));
                }
                Err(failure) => {
                    *outcome = Some(Deletion::Failed(format!("checking its digest: {failure}")));
                }
            }
        }
        if outcomes.iter().all(Option::is_some) {
            return outcomes.into_iter().flatten().collect();
        }
        let url = self.repository_endpoint(&repository, "manifests", &digest);
        let key = format!("delete:{repository}");
        let result = match self.send(Method::DELETE, &url, None, &key).await {
            Ok(response) => match response.status.as_u16() {
                200 | 202 | 204 => Deletion::Deleted,
                404 => Deletion::AlreadyGone,
                405 => Deletion::Failed(format!(
                    "{}; the registry does not allow deleting (distribution: set \
                     storage.delete.enabled, REGISTRY_STORAGE_DELETE_ENABLED=true)",
                    response.failure()
                )),
                401 | 403 => Deletion::Failed(format!(
                    "{} (may this user delete in the repository?)",
                    response.failure()
                )),
                _ => Deletion::Failed(response.failure().to_string()),
            },
            Err(failure) => Deletion::Failed(failure.to_string()),
        };
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| result.clone()))
            .collect()
    }
}

/// The target of the `rel="next"` link in `Link` header values.
fn next_link(values: &[&str]) -> Option<String> {
    for value in values {
        for part in value.split(',') {
            let Some(rest) = part.trim().strip_prefix('<') else {
                continue;
            };
            let Some((target, params)) = rest.split_once('>') else {
                continue;
            };
            let next = params.split(';').any(|p| {
                let p = p.trim().to_ascii_lowercase().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if next {
                return Some(target.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        assert_eq!(
            next_link(&[r#"</v2/_catalog?last=lab%2Fb&n=1000>; rel="next""#]),
            Some("/v2/_catalog?last=lab%2Fb&n=1000".into())
        );
        assert_eq!(
            next_link(&[r#"<https://r.example/a>; rel="prev", <https://r.example/b>; rel=next"#]),
            Some("https://r.example/b".into())
        );
        assert_eq!(next_link(&[r#"</a>; rel="prev""#]), None);
        assert_eq!(next_link(&["garbage", "<unclosed; rel=next"]), None);
        assert_eq!(next_link(&[]), None);
    }

    #[test]
    fn registry_urls_are_checked() {
        assert!(base_url("http://127.0.0.1:5000").is_ok());
        assert!(base_url("https://registry.example/").is_ok());
        for (bad, why) in [
            ("registry.example", "not a URL"),
            ("ftp://registry.example", "not http"),
            ("https://lab:s3cret@registry.example", "holds credentials"),
            ("https://registry.example/?token=x", "query"),
        ] {
            let err = base_url(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn repository_paths_become_url_segments() {
        let registry = Distribution::new(
            "http://127.0.0.1:9/mirror/",
            None,
            Duration::from_secs(1),
            0,
        )
        .unwrap();
        assert_eq!(
            registry
                .repository_endpoint("lab/binder-x", "manifests", "abc")
                .as_str(),
            "http://127.0.0.1:9/mirror/v2/lab/binder-x/manifests/abc"
        );
        assert_eq!(
            registry.endpoint(["_catalog"]).as_str(),
            "http://127.0.0.1:9/mirror/v2/_catalog"
        );
        let tag = Tag {
            repository: "lab/binder-x".into(),
            tag: "abc".into(),
            pushed: None,
            size: None,
            digest: Some(format!("sha256:{}", "ab".repeat(32))),
        };
        assert_eq!(
            registry.delete_requests(std::slice::from_ref(&tag)),
            [format!(
                "DELETE http://127.0.0.1:9/mirror/v2/lab/binder-x/manifests/sha256:{}",
                "ab".repeat(32)
            )]
        );
        let unknown = Tag {
            digest: None,
            ..tag
        };
        assert!(registry.delete_requests(&[unknown])[0].contains("digest unknown"));
    }
}
