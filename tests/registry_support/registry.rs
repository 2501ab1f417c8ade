//! The real registry: Debian's `docker-registry` (distribution 2.8), run on
//! loopback with its storage and configuration in a temp folder, deletion
//! enabled (or not), optionally behind htpasswd (Basic) authentication;
//! killed when dropped. Images are pushed over the HTTP API v2 by the test
//! itself: blobs (a layer and a config whose `created` the test chooses),
//! then the manifest (Docker or OCI), or an index of several.
//!
//! Also a proxy in front of it that asks for Bearer tokens the way token
//! authentication does: a 401 with `WWW-Authenticate: Bearer realm=…,
//! service=…,scope=…`, tokens from its `/token` for Basic credentials, each
//! token good for the scopes it was asked for only.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::server::{Reply, Request, Server};
use super::{base64, block_on, sha256};
use crate::support::real_tools;

/// Where Debian installs the registry.
pub const SYSTEM_BINARY: &str = "/usr/bin/docker-registry";

/// The registry's binary: `.tools/bin/docker-registry` (as
/// scripts/setup-real-tools links it) or Debian's; `None` (skipped, a
/// failure under CI) when neither is there.
pub fn binary() -> Option<PathBuf> {
    let linked = real_tools::tools_dir().join("docker-registry");
    if linked.is_file() {
        return Some(linked);
    }
    let system = PathBuf::from(SYSTEM_BINARY);
    if system.is_file() {
        return Some(system);
    }
    let message = format!(
        "docker-registry is missing ({SYSTEM_BINARY}, {}): run scripts/setup-real-tools \
         (apt-get install docker-registry)",
        linked.display()
    );
    assert!(!real_tools::in_ci(), "{message}");
    eprintln!("SKIPPED (not run, not passed): {message}");
    None
}

/// How the registry is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Whether manifests may be deleted.
    pub delete: bool,
    /// htpasswd authentication with this user, password and bcrypt hash.
    pub basic: Option<(String, String, String)>,
}

/// A running registry.
pub struct RealRegistry {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    client: reqwest::Client,
    basic: Option<(String, String)>,
}

/// What a push made.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: String,
    /// Config and layers (of every platform of an index).
    pub size: u64,
}

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

impl RealRegistry {
    pub fn start(options: Options) -> Option<RealRegistry> {
        let binary = binary()?;
        let dir = tempfile::Builder::new()
            .prefix("registry")
            .tempdir()
            .expect("temp dir");
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let auth = match &options.basic {
            Some((user, _, hash)) => {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{user}:{hash}\n")).expect("htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: binderctl-test\n    path: {}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  \
             filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {}\n  maintenance:\n    \
             uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: \
             binderctl-test-only\n{auth}",
            dir.path().join("data").display(),
            options.delete
        );
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).expect("registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config_file)
            .env_clear()
            .env(
                "REGISTRY_STORAGE_DELETE_ENABLED",
                if options.delete { "true" } else { "false" },
            )
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut registry = RealRegistry {
            dir,
            child,
            port,
            client: reqwest::Client::new(),
            basic: options.basic.map(|(u, p, _)| (u, p)),
        };
        registry.wait_ready();
        Some(registry)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the registry exited ({status}): {}", self.log());
            }
            let url = format!("{}/v2/", self.url());
            let client = self.client.clone();
            let answered =
                block_on(async move { client.get(url).send().await.map(|r| r.status()) });
            if matches!(answered, Ok(s) if s.as_u16() == 200 || s.as_u16() == 401) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`, as an image prefix's host.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, url);
        match &self.basic {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// Upload a blob; its digest.
    pub fn blob(&self, repository: &str, data: &[u8]) -> String {
        let digest = sha256::digest(data);
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.url());
        let started = block_on(self.request(reqwest::Method::POST, &start).send()).expect("upload");
        assert_eq!(started.status().as_u16(), 202, "starting an upload");
        let location = started.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.url())
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{separator}digest={digest}");
        let done = block_on(
            self.request(reqwest::Method::PUT, &put)
                .header("Content-Type", "application/octet-stream")
                .body(data.to_vec())
                .send(),
        )
        .expect("upload");
        assert_eq!(
            done.status().as_u16(),
            201,
            "finishing an upload of {repository}"
        );
        digest
    }

    /// Put a manifest under `reference` (a tag); its digest as the registry says.
    pub fn manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.url());
        let response = block_on(
            self.request(reqwest::Method::PUT, &url)
                .header("Content-Type", media_type)
                .body(body.to_vec())
                .send(),
        )
        .expect("put manifest");
        let status = response.status().as_u16();
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|d| d.to_str().ok())
            .map(str::to_string);
        let text = block_on(response.text()).unwrap_or_default();
        assert_eq!(status, 201, "putting {repository}:{reference}: {text}");
        let digest = digest.expect("Docker-Content-Digest");
        assert_eq!(digest, sha256::digest(body));
        digest
    }

    /// Push a one-layer image built at `created` (RFC 3339) as `tag`.
    pub fn push(&self, repository: &str, tag: &str, created: &str, media_type: &str) -> Pushed {
        let (manifest, size) = self.image_manifest(repository, tag, created, media_type, "amd64");
        let digest = self.manifest(repository, tag, media_type, &manifest);
        Pushed { digest, size }
    }

    /// Blobs and manifest body of a one-layer image; its size.
    fn image_manifest(
        &self,
        repository: &str,
        tag: &str,
        created: &str,
        media_type: &str,
        architecture: &str,
    ) -> (Vec<u8>, u64) {
        // Distinct content per image: the layer names what it belongs to.
        let layer = format!("layer of {repository}:{tag} {architecture} {created}").repeat(7);
        let layer_digest = self.blob(repository, layer.as_bytes());
        let config = json!({
            "architecture": architecture, "os": "linux", "created": created,
            "config": {"Labels": {"test": tag}},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]}
        })
        .to_string();
        let config_digest = self.blob(repository, config.as_bytes());
        let (config_type, layer_type) = if media_type == OCI_MANIFEST {
            (
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        } else {
            (
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            )
        };
        let manifest = json!({
            "schemaVersion": 2, "mediaType": media_type,
            "config": {"mediaType": config_type, "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": layer_type, "size": layer.len(), "digest": layer_digest}]
        })
        .to_string()
        .into_bytes();
        (manifest, (config.len() + layer.len()) as u64)
    }

    /// Push an OCI index of one image per architecture, each built at
    /// `created`, as `tag`.
    pub fn push_index(&self, repository: &str, tag: &str, created: &[&str]) -> Pushed {
        let mut children = Vec::new();
        let mut size = 0;
        for (i, created) in created.iter().enumerate() {
            let architecture = ["amd64", "arm64", "ppc64le"][i % 3];
            let (manifest, one) =
                self.image_manifest(repository, tag, created, OCI_MANIFEST, architecture);
            let digest = self.manifest(
                repository,
                &sha256::digest(&manifest),
                OCI_MANIFEST,
                &manifest,
            );
            size += one;
            children.push(json!({
                "mediaType": OCI_MANIFEST, "size": manifest.len(), "digest": digest,
                "platform": {"architecture": architecture, "os": "linux"}
            }));
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
            .to_string()
            .into_bytes();
        let digest = self.manifest(repository, tag, OCI_INDEX, &index);
        Pushed { digest, size }
    }

    /// Put the manifest `digest` of `repository` under another tag too.
    pub fn retag(&self, repository: &str, digest: &str, tag: &str) {
        let url = format!("{}/v2/{repository}/manifests/{digest}", self.url());
        let response = block_on(
            self.request(reqwest::Method::GET, &url)
                .header(
                    "Accept",
                    format!("{DOCKER_MANIFEST}, {OCI_MANIFEST}, {OCI_INDEX}"),
                )
                .send(),
        )
        .expect("get manifest");
        let media_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let body = block_on(response.bytes()).expect("manifest body");
        assert_eq!(self.manifest(repository, tag, &media_type, &body), digest);
    }

    /// The tags of `repository` now, sorted (none when it has none).
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let url = format!("{}/v2/{repository}/tags/list", self.url());
        let response = block_on(self.request(reqwest::Method::GET, &url).send()).expect("tags");
        if response.status().as_u16() == 404 {
            return Vec::new();
        }
        let body = block_on(response.bytes()).expect("tags");
        let value: Value = serde_json::from_slice(&body).expect("tags JSON");
        let mut tags: Vec<String> = value["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// Whether the manifest `digest` of `repository` is still there.
    pub fn has_manifest(&self, repository: &str, digest: &str) -> bool {
        let url = format!("{}/v2/{repository}/manifests/{digest}", self.url());
        let response = block_on(
            self.request(reqwest::Method::HEAD, &url)
                .header(
                    "Accept",
                    format!("{DOCKER_MANIFEST}, {OCI_MANIFEST}, {OCI_INDEX}"),
                )
                .send(),
        )
        .expect("head manifest");
        response.status().as_u16() == 200
    }
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the token proxy has seen and holds.
#[derive(Debug, Default)]
pub struct ProxyState {
    /// token → the scopes it was issued for.
    pub tokens: BTreeMap<String, Vec<String>>,
    /// The scopes of every token request, in order.
    pub token_requests: Vec<Vec<String>>,
    /// Manifest digests whose deletion answers 500.
    pub fail_delete: BTreeSet<String>,
    pub issued: usize,
}

/// A proxy demanding Bearer tokens in front of `upstream`.
pub struct TokenProxy {
    pub server: Server,
    pub state: Arc<Mutex<ProxyState>>,
}

/// The scope a request to `path` with `method` needs, as distribution's
/// token authentication words it.
fn scope_for(method: &str, path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return None;
    }
    if rest == "_catalog" {
        return Some("registry:catalog:*".into());
    }
    let name = ["/manifests/", "/tags/", "/blobs/"]
        .iter()
        .find_map(|marker| rest.split_once(marker).map(|(name, _)| name))?;
    let action = if method == "DELETE" { "delete" } else { "pull" };
    Some(format!("repository:{name}:{action}"))
}

impl TokenProxy {
    /// In front of `upstream`, taking `user` and `password` at `/token`.
    pub fn start(upstream: String, user: &str, password: &str) -> TokenProxy {
        let expected = format!("Basic {}", base64(&format!("{user}:{password}")));
        let state: Arc<Mutex<ProxyState>> = Arc::default();
        let shared = Arc::clone(&state);
        let client = reqwest::Client::new();
        let server = Server::start(Arc::new(move |request: Request| {
            let state = Arc::clone(&shared);
            let expected = expected.clone();
            let upstream = upstream.clone();
            let client = client.clone();
            Box::pin(async move { proxy(&state, &expected, &upstream, &client, request).await })
        }));
        TokenProxy { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}

async fn proxy(
    state: &Mutex<ProxyState>,
    expected: &str,
    upstream: &str,
    client: &reqwest::Client,
    request: Request,
) -> Reply {
    let host = request.header("host").unwrap_or("127.0.0.1").to_string();
    if request.path == "/token" {
        let scopes: Vec<String> = request
            .query
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_string))
            .collect();
        let mut state = state.lock().unwrap();
        state.token_requests.push(scopes.clone());
        if request.header("authorization") != Some(expected)
            || request.query("service") != Some("registry.test")
        {
            return Reply::json(401, &json!({"details": "incorrect username or password"}));
        }
        state.issued += 1;
        let token = format!("proxy-bearer-token-{}-not-for-output", state.issued);
        state.tokens.insert(token.clone(), scopes);
        return Reply::json(200, &json!({"token": token, "expires_in": 300}));
    }
    let needed = scope_for(&request.method, &request.path);
    let granted = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(|t| state.lock().unwrap().tokens.get(t).cloned());
    let allowed = match (&granted, &needed) {
        (Some(scopes), Some(needed)) => scopes.contains(needed),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !allowed {
        let mut challenge =
            format!("Bearer realm=\"http://{host}/token\",service=\"registry.test\"");
        if let Some(scope) = &needed {
            challenge.push_str(&format!(",scope=\"{scope}\""));
        }
        return Reply::json(
            401,
            &json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
        )
        .with_header("WWW-Authenticate", &challenge);
    }
    if request.method == "DELETE" {
        let digest = request
            .path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        if state.lock().unwrap().fail_delete.contains(&digest) {
            return Reply::json(
                500,
                &json!({"errors": [{"code": "UNKNOWN", "message": "storage driver failed"}]}),
            );
        }
    }
    let mut target = format!("{upstream}{}", request.path);
    if !request.query.is_empty() {
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        target.push('?');
        target.push_str(&query.join("&"));
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("method");
    let mut forward = client.request(method, &target).body(request.body.clone());
    for name in ["accept", "content-type"] {
        if let Some(value) = request.header(name) {
            forward = forward.header(name, value);
        }
    }
    let response = match forward.send().await {
        Ok(r) => r,
        Err(e) => return Reply::json(502, &json!({"errors": [{"message": e.to_string()}]})),
    };
    let mut reply = Reply::empty(response.status().as_u16());
    for name in [
        "content-type",
        "docker-content-digest",
        "link",
        "content-length",
    ] {
        if let Some(value) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
            reply.headers.push((name.to_string(), value.to_string()));
        }
    }
    reply.body = response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    reply
}
