//! A real HTTP/1.1 server on 127.0.0.1, hand-written on tokio's TcpListener.
//!
//! Every response carries `Connection: close` and the connection is closed
//! after it, so clients never reuse a connection the server dropped. It runs
//! on its own thread with its own tokio runtime and stops when dropped.
//!
//! ```ignore
//! let server = HttpServer::start(
//!     Routes::new()
//!         .json("/meta", GitHubMeta::sample().to_json())
//!         .sequence("/flaky", [Reply::status(500), Reply::json(FastlyList::sample().to_json())])
//!         .route("/missing", Reply::status(404)),
//! );
//! let url = server.url("/meta");
//! ```
//!
//! Unknown paths get 404. Also: body helpers in the real published formats
//! (GitHub's meta document and Fastly's public IP list), using only reserved
//! address ranges.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::server_thread::ServerThread;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// One canned response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Wait this long before answering (to provoke client timeouts).
    pub delay: Duration,
    /// Extra response headers (`Location` for redirects).
    pub headers: Vec<(String, String)>,
    /// Send `body` again and again, without a length, until the client
    /// goes away: a body that never ends.
    pub endless: bool,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            content_type: content_type.to_string(),
            body: body.into(),
            delay: Duration::ZERO,
            headers: Vec::new(),
            endless: false,
        }
    }

    /// A redirect (`status` 301, 302, 307 or 308) to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        let mut reply = Reply::status(status);
        reply.headers.push(("Location".into(), location.into()));
        reply
    }

    /// 200 with a JSON-looking body that never ends (`{"addresses": [` and
    /// then the same range forever).
    pub fn endless_json() -> Self {
        let mut reply = Reply::json(r#""198.51.100.0/24", "#.repeat(1000));
        reply.endless = true;
        reply
    }

    /// 200 with a JSON body.
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Reply::new(200, "application/json; charset=utf-8", body)
    }

    /// A status with a short plain-text body.
    pub fn status(status: u16) -> Self {
        Reply::new(status, "text/plain", format!("status {status}\n"))
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Path -> replies. A path with several replies answers them in turn and
/// then repeats the last one.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: HashMap<String, Vec<Reply>>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn route(mut self, path: &str, reply: Reply) -> Self {
        self.routes.insert(path.to_string(), vec![reply]);
        self
    }

    /// 200, JSON content type.
    pub fn json(self, path: &str, body: impl Into<Vec<u8>>) -> Self {
        self.route(path, Reply::json(body))
    }

    /// Answer these replies in turn, then keep repeating the last.
    pub fn sequence(mut self, path: &str, replies: impl IntoIterator<Item = Reply>) -> Self {
        let replies: Vec<Reply> = replies.into_iter().collect();
        assert!(!replies.is_empty(), "a sequence needs at least one reply");
        self.routes.insert(path.to_string(), replies);
        self
    }
}

#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub user_agent: Option<String>,
}

/// A running HTTP server; stops when dropped.
pub struct HttpServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    _server: ServerThread,
}

impl HttpServer {
    pub fn start(routes: Routes) -> HttpServer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread_seen = Arc::clone(&seen);
        let (addr, server) =
            ServerThread::start("HTTP test server", move |addr_tx, shutdown_rx| async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind HTTP test server");
                addr_tx
                    .send(listener.local_addr().expect("HTTP test server address"))
                    .expect("report HTTP test server address");
                serve(listener, Arc::new(routes), thread_seen, shutdown_rx).await;
            });
        HttpServer {
            addr,
            seen,
            _server: server,
        }
    }

    /// The published address lists' sources as a render reads them:
    /// GitHub's meta at `/meta`, Fastly's list at `/fastly` (the samples).
    pub fn published_lists() -> HttpServer {
        HttpServer::start(
            Routes::new()
                .json("/meta", GitHubMeta::sample().to_json())
                .json("/fastly", FastlyList::sample().to_json()),
        )
    }

    /// `http://127.0.0.1:PORT/path`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Requests received for `path` so far.
    pub fn requests(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Every request received so far, in order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    listener: TcpListener,
    routes: Arc<Routes>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let counters: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let routes = Arc::clone(&routes);
        let seen = Arc::clone(&seen);
        let counters = Arc::clone(&counters);
        tokio::spawn(async move {
            let _ = handle(stream, &routes, &seen, &counters).await;
        });
    }
}

async fn handle(
    mut stream: TcpStream,
    routes: &Routes,
    seen: &Mutex<Vec<SeenRequest>>,
    counters: &Mutex<HashMap<String, usize>>,
) -> std::io::Result<()> {
    let Some(head) = read_head(&mut stream).await? else {
        return Ok(());
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default().to_string();
    let mut user_agent = None;
    let mut content_length = 0usize;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("user-agent") {
                user_agent = Some(value.to_string());
            } else if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().unwrap_or(0);
            }
        }
    }
    // Discard any request body (the clients under test only GET).
    let mut remaining = content_length;
    let mut sink = [0u8; 1024];
    while remaining > 0 {
        let n = stream.read(&mut sink[..remaining.min(1024)]).await?;
        if n == 0 {
            break;
        }
        remaining -= n;
    }

    seen.lock().unwrap().push(SeenRequest {
        method,
        path: path.clone(),
        user_agent,
    });
    let reply = match routes.routes.get(&path) {
        Some(replies) => {
            let index = {
                let mut counters = counters.lock().unwrap();
                let count = counters.entry(path).or_insert(0);
                *count += 1;
                *count - 1
            };
            replies
                .get(index)
                .or(replies.last())
                .cloned()
                .unwrap_or_else(|| Reply::status(404))
        }
        None => Reply::status(404),
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let length = if reply.endless {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", reply.body.len())
    };
    let extra: String = reply
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\n{length}{extra}Connection: close\r\n\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
    );
    stream.write_all(head.as_bytes()).await?;
    if reply.endless {
        stream.write_all(b"{\"addresses\": [").await?;
        // Ends with an error once the client closes the connection.
        loop {
            stream.write_all(&reply.body).await?;
        }
    }
    stream.write_all(&reply.body).await?;
    stream.flush().await?;
    stream.shutdown().await?;
    Ok(())
}

/// Read up to the blank line ending the request head; None on EOF before it.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return Ok(None);
        }
        if stream.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// `["a", "b"]` with JSON string escaping.
fn json_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("[{}]", quoted.join(", "))
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// GitHub's meta document: the same keys and shapes as the real one, with
/// reserved ranges only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubMeta {
    pub hooks: Vec<String>,
    pub web: Vec<String>,
    pub api: Vec<String>,
    pub git: Vec<String>,
    pub github_enterprise_importer: Vec<String>,
    pub packages: Vec<String>,
    pub pages: Vec<String>,
    pub importer: Vec<String>,
    pub actions: Vec<String>,
    pub actions_macos: Vec<String>,
    pub codespaces: Vec<String>,
    pub dependabot: Vec<String>,
    pub copilot: Vec<String>,
}

impl GitHubMeta {
    pub fn sample() -> Self {
        GitHubMeta {
            hooks: owned(&["192.0.2.0/28", "2001:db8:1::/48"]),
            web: owned(&[
                "192.0.2.16/28",
                "198.51.100.0/26",
                "203.0.113.10/32",
                "2001:db8:2::/48",
            ]),
            api: owned(&["192.0.2.32/28", "203.0.113.11/32", "2001:db8:3::/48"]),
            git: owned(&[
                "192.0.2.16/28",
                "198.51.100.64/26",
                "203.0.113.12/32",
                "2001:db8:2::/48",
                "2001:db8:4::/48",
            ]),
            github_enterprise_importer: owned(&["203.0.113.128/28"]),
            packages: owned(&["192.0.2.48/28", "2001:db8:5::/48"]),
            pages: owned(&["192.0.2.64/27", "2001:db8:6::/48"]),
            importer: owned(&["203.0.113.144/28"]),
            actions: owned(&["198.51.100.128/25", "2001:db8:7::/48"]),
            actions_macos: owned(&["203.0.113.160/27"]),
            codespaces: owned(&["203.0.113.192/27"]),
            dependabot: owned(&["203.0.113.224/32"]),
            copilot: owned(&["203.0.113.240/28"]),
        }
    }

    /// The sample plus `count` more `actions` ranges (2001:db8:ffff:N::/64,
    /// all distinct), for benchmarks that want a list of realistic size.
    pub fn with_many_actions(mut self, count: u16) -> Self {
        self.actions
            .extend((0..count).map(|n| format!("2001:db8:ffff:{n:x}::/64")));
        self
    }

    pub fn to_json(&self) -> String {
        let ranges = [
            ("hooks", &self.hooks),
            ("web", &self.web),
            ("api", &self.api),
            ("git", &self.git),
            (
                "github_enterprise_importer",
                &self.github_enterprise_importer,
            ),
            ("packages", &self.packages),
            ("pages", &self.pages),
            ("importer", &self.importer),
            ("actions", &self.actions),
            ("actions_macos", &self.actions_macos),
            ("codespaces", &self.codespaces),
            ("dependabot", &self.dependabot),
            ("copilot", &self.copilot),
        ];
        let mut out = String::from("{\n");
        out.push_str("  \"verifiable_password_authentication\": false,\n");
        out.push_str(
            "  \"ssh_key_fingerprints\": {\n    \"SHA256_ECDSA\": \"test-ecdsa-fingerprint\",\n    \"SHA256_ED25519\": \"test-ed25519-fingerprint\",\n    \"SHA256_RSA\": \"test-rsa-fingerprint\"\n  },\n",
        );
        out.push_str(
            "  \"ssh_keys\": [\"ssh-ed25519 AAAAtest-not-a-key\", \"ecdsa-sha2-nistp256 AAAAtest-not-a-key\"],\n",
        );
        for (key, list) in ranges {
            out.push_str(&format!("  \"{key}\": {},\n", json_strings(list)));
        }
        out.push_str(
            "  \"domains\": {\n    \"website\": [\"*.github.test\", \"github.test\"],\n    \"codespaces\": [\"*.codespaces.github.test\"],\n    \"copilot\": [\"*.copilot.github.test\"],\n    \"packages\": [\"*.pkg.github.test\"],\n    \"actions\": [\"*.actions.github.test\"],\n    \"actions_inbound\": {\"full_domains\": [\"actions.github.test\"], \"wildcard_domains\": [\"*.actions.github.test\"]},\n    \"artifact_attestations\": {\"trust_domain\": \"\", \"services\": [\"*.attest.github.test\"]}\n  }\n",
        );
        out.push('}');
        out
    }
}

/// Fastly's public IP list: `{"addresses": [...], "ipv6_addresses": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastlyList {
    pub addresses: Vec<String>,
    pub ipv6_addresses: Vec<String>,
}

impl FastlyList {
    pub fn sample() -> Self {
        FastlyList {
            addresses: owned(&["198.51.100.0/24", "203.0.113.0/25", "192.0.2.128/25"]),
            ipv6_addresses: owned(&["2001:db8:f000::/36", "2001:db8:e000::/40"]),
        }
    }

    pub fn to_json(&self) -> String {
        format!(
            "{{\"addresses\":{},\"ipv6_addresses\":{}}}",
            json_strings(&self.addresses),
            json_strings(&self.ipv6_addresses)
        )
    }
}
