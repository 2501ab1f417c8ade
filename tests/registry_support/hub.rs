//! A loopback stand-in for Docker Hub's API, answering as Docker's "Docker
//! HUB API" reference documents it:
//!
//! - `POST /v2/auth/token` `{"identifier", "secret"}` → `{"access_token"}`,
//!   401 `{"detail"}` for wrong credentials; `POST /v2/users/login`
//!   `{"username", "password"}` → `{"token"}` (the older route);
//! - `GET /v2/namespaces/NS/repositories` and
//!   `GET /v2/namespaces/NS/repositories/NAME/tags`: `page`, `page_size`
//!   (more than 100 is a 400), `{"count", "next", "previous", "results"}`
//!   with `next` an absolute URL; tags with `last_updated`,
//!   `tag_last_pushed`, `full_size`, `digest` and `images`;
//! - `DELETE /v2/repositories/NS/NAME/tags/TAG/` → 204, 404 when missing;
//! - a token that is unknown (or expired) is a 401 everywhere; deleting, and
//!   reading a private namespace, need one.
//!
//! The server may answer fewer items per page than asked (`max_page`), so
//! paging is exercised with a handful of items.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::server::{Reply, Request, Server};

#[derive(Debug, Clone)]
pub struct HubTag {
    pub name: String,
    /// Unix seconds.
    pub pushed: i64,
    pub full_size: u64,
    pub digest: String,
}

#[derive(Debug, Default)]
pub struct HubState {
    /// (user name, password or access token)
    pub users: Vec<(String, String)>,
    /// Tokens handed out and still valid.
    pub tokens: BTreeSet<String>,
    /// Logins that succeeded.
    pub logins: usize,
    /// `NS/NAME` → tags.
    pub repos: BTreeMap<String, Vec<HubTag>>,
    /// `NS/NAME:TAG` whose deletion answers 500.
    pub fail_delete: BTreeSet<String>,
    /// Every namespace needs a token to be read.
    pub private: bool,
    /// Only the older login route exists.
    pub legacy_login_only: bool,
    /// Items per page at most (besides the client's `page_size`).
    pub max_page: usize,
    /// The tokens handed out so far stop being valid after this many
    /// authorized requests (once).
    pub expire_after: Option<usize>,
    pub authorized: usize,
    pub issued: usize,
}

pub struct Hub {
    pub server: Server,
    pub state: Arc<Mutex<HubState>>,
}

/// Unix seconds as Docker Hub writes them (`2021-01-05T21:06:53.506400Z`).
pub fn hub_time(seconds: i64) -> String {
    let base = binderctl::registry::format_rfc3339(seconds);
    format!("{}.506400Z", base.trim_end_matches('Z'))
}

impl Hub {
    pub fn start(state: HubState) -> Hub {
        let state = Arc::new(Mutex::new(state));
        let shared = Arc::clone(&state);
        let server = Server::start(Arc::new(move |request: Request| {
            let state = Arc::clone(&shared);
            Box::pin(async move { answer(&state, &request) })
        }));
        Hub { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `NS/NAME:TAG` of every tag left, sorted.
    pub fn remaining(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut names: Vec<String> = state
            .repos
            .iter()
            .flat_map(|(repo, tags)| tags.iter().map(move |t| format!("{repo}:{}", t.name)))
            .collect();
        names.sort();
        names
    }

    /// The paths of the DELETE requests received.
    pub fn deletions(&self) -> Vec<String> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .map(|r| r.path)
            .collect()
    }
}

fn detail(status: u16, text: &str) -> Reply {
    Reply::json(status, &json!({"detail": text, "message": text}))
}

/// The token the request carries, if any: `Some(valid)`.
fn bearer(state: &mut HubState, request: &Request) -> Option<bool> {
    let header = request.header("authorization")?;
    let token = header.strip_prefix("Bearer ")?;
    let valid = state.tokens.contains(token);
    if valid {
        state.authorized += 1;
        if state.expire_after.is_some_and(|n| state.authorized >= n) {
            // This request still passes; every token handed out so far
            // dies with it (once: new tokens last).
            state.tokens.clear();
            state.expire_after = None;
        }
    }
    Some(valid)
}

fn login(state: &mut HubState, user: Option<&str>, secret: Option<&str>, key: &str) -> Reply {
    let known = state
        .users
        .iter()
        .any(|(u, p)| Some(u.as_str()) == user && Some(p.as_str()) == secret);
    if !known {
        return detail(401, "Incorrect authentication credentials");
    }
    state.issued += 1;
    state.logins += 1;
    // JWT-shaped, and distinctive so a test can look for it in the output.
    let token = format!(
        "eyJhbGciOiJIUzI1NiJ9.hub-token-{}.c2lnbmF0dXJl",
        state.issued
    );
    state.tokens.insert(token.clone());
    Reply::json(200, &json!({ key: token }))
}

/// One page of `items` as the API pages (`page` from 1, `page_size`).
fn page(request: &Request, base: &str, max_page: usize, items: Vec<Value>) -> Reply {
    let size: usize = match request.query("page_size").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return detail(400, "page_size must be between 1 and 100"),
    };
    let size = size.min(max_page.max(1));
    let number: usize = request
        .query("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let count = items.len();
    let start = (number - 1) * size;
    let results: Vec<Value> = items.into_iter().skip(start).take(size).collect();
    let link = |n: usize| format!("{base}{}?page={n}&page_size={size}", request.path);
    let next = (start + size < count).then(|| link(number + 1));
    let previous = (number > 1).then(|| link(number - 1));
    Reply::json(
        200,
        &json!({"count": count, "next": next, "previous": previous, "results": results}),
    )
}

fn answer(state: &Mutex<HubState>, request: &Request) -> Reply {
    let mut state = state.lock().unwrap();
    let base = format!("http://{}", request.header("host").unwrap_or("127.0.0.1"));
    let segments = request.segments();
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let token = bearer(&mut state, request);
    if token == Some(false) {
        return detail(401, "authentication required");
    }
    match (request.method.as_str(), parts.as_slice()) {
        ("POST", ["v2", "auth", "token"]) if !state.legacy_login_only => login(
            &mut state,
            body["identifier"].as_str(),
            body["secret"].as_str(),
            "access_token",
        ),
        ("POST", ["v2", "users", "login"]) => login(
            &mut state,
            body["username"].as_str(),
            body["password"].as_str(),
            "token",
        ),
        ("GET", ["v2", "namespaces", namespace, "repositories"]) => {
            if state.private && token.is_none() {
                return detail(401, "authentication required");
            }
            let items: Vec<Value> = state
                .repos
                .keys()
                .filter_map(|repo| repo.split_once('/'))
                .filter(|(ns, _)| ns == namespace)
                .map(|(ns, name)| {
                    json!({"name": name, "namespace": ns, "repository_type": "image",
                           "is_private": state.private, "status": 1, "pull_count": 0})
                })
                .collect();
            let max = state.max_page;
            page(request, &base, max, items)
        }
        ("GET", ["v2", "namespaces", namespace, "repositories", name, "tags"]) => {
            if state.private && token.is_none() {
                return detail(401, "authentication required");
            }
            let Some(tags) = state.repos.get(&format!("{namespace}/{name}")) else {
                return detail(404, "object not found");
            };
            // The API lists the most recently updated first.
            let mut tags = tags.clone();
            tags.sort_by_key(|t| std::cmp::Reverse(t.pushed));
            let items = tags
                .iter()
                .map(|t| {
                    json!({
                        "creator": 1234, "id": 5678, "last_updater": 1234,
                        "last_updater_username": "lab", "repository": 42, "v2": true,
                        "name": t.name, "full_size": t.full_size,
                        "last_updated": hub_time(t.pushed),
                        "tag_last_pushed": hub_time(t.pushed), "tag_last_pulled": null,
                        "tag_status": "active", "digest": t.digest,
                        "media_type": "application/vnd.oci.image.index.v1+json",
                        "images": [{"architecture": "amd64", "os": "linux", "digest": t.digest,
                                    "size": t.full_size, "status": "active",
                                    "last_pushed": hub_time(t.pushed), "last_pulled": null}]
                    })
                })
                .collect();
            let max = state.max_page;
            page(request, &base, max, items)
        }
        ("DELETE", ["v2", "repositories", namespace, name, "tags", tag, ""]) => {
            if token.is_none() {
                return detail(401, "authentication required");
            }
            let repo = format!("{namespace}/{name}");
            if state.fail_delete.contains(&format!("{repo}:{tag}")) {
                return detail(500, "internal error, try again later");
            }
            let Some(tags) = state.repos.get_mut(&repo) else {
                return detail(404, "object not found");
            };
            let before = tags.len();
            tags.retain(|t| t.name != *tag);
            if tags.len() == before {
                return detail(404, "object not found");
            }
            Reply::empty(204)
        }
        _ => detail(404, "not found"),
    }
}
