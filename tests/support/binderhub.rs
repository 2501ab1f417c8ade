//! A loopback server that answers as BinderHub and JupyterHub do, for
//! `binderctl check`: BinderHub's `/health` (200 or 503 with per-check
//! results, binderhub/health.py) and `/versions` (binderhub/base.py), its
//! build event stream (`text/event-stream`, `data: {json}` and a blank
//! line, `:keepalive` comments; binderhub/builder.py) and JupyterHub's
//! `/hub/api/health` (200, empty) and a server's `api/shutdown`.
//!
//! Every request is recorded with its headers. A stream answer writes its
//! parts, each after its delay, then closes, holds the connection open
//! until the client goes (as BinderHub does for a minute after `ready`),
//! or repeats a part forever.
//!
//! Include with `mod support;` and `#[path = "support/binderhub.rs"] mod
//! binderhub;` (it uses `support::server_thread`).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::support::server_thread::ServerThread;

/// What the server does after a stream's parts.
#[derive(Debug, Clone)]
pub enum After {
    /// Close the connection.
    Close,
    /// Keep it open until the client closes it (at most a minute).
    Hold,
    /// Send these bytes again and again until the client goes away.
    Repeat(Vec<u8>),
}

/// One answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Reply {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// 200, `text/event-stream`, no length: each part after its delay.
    Stream {
        parts: Vec<(Duration, Vec<u8>)>,
        after: After,
    },
}

impl Answer {
    pub fn json(status: u16, body: &Value) -> Answer {
        Answer::Reply {
            status,
            content_type: "application/json".into(),
            body: body.to_string().into_bytes(),
        }
    }

    pub fn empty(status: u16) -> Answer {
        Answer::Reply {
            status,
            content_type: "text/plain".into(),
            body: Vec::new(),
        }
    }

    pub fn html(status: u16, body: &str) -> Answer {
        Answer::Reply {
            status,
            content_type: "text/html".into(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// An event stream of these events, no delays.
    pub fn events(events: &[Value], after: After) -> Answer {
        Answer::Stream {
            parts: events.iter().map(|e| (Duration::ZERO, event(e))).collect(),
            after,
        }
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Routes = Vec<(String, String, Answer)>;

/// A running fake; stops when dropped.
pub struct FakeServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _server: ServerThread,
}

impl FakeServer {
    /// Serve `routes`: (method, path, answer); anything else is a 404.
    pub fn start(routes: Vec<(&str, &str, Answer)>) -> FakeServer {
        let routes: Routes = routes
            .into_iter()
            .map(|(m, p, a)| (m.to_string(), p.to_string(), a))
            .collect();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread_seen = Arc::clone(&seen);
        let (addr, server) = ServerThread::start(
            "BinderHub test server",
            move |addr_tx, shutdown| async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind BinderHub test server");
                addr_tx
                    .send(listener.local_addr().expect("test server address"))
                    .expect("report test server address");
                serve(listener, Arc::new(routes), thread_seen, shutdown).await;
            },
        );
        FakeServer {
            addr,
            seen,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT/` and the path (without its leading `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests for `path`.
    pub fn requests(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

async fn serve(
    listener: TcpListener,
    routes: Arc<Routes>,
    seen: Arc<Mutex<Vec<Seen>>>,
    mut shutdown: oneshot::Receiver<()>,
) {
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
        tokio::spawn(async move {
            let _ = handle(stream, &routes, &seen).await;
        });
    }
}

async fn handle(
    mut stream: TcpStream,
    routes: &Routes,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let Some(head) = read_head(&mut stream).await? else {
        return Ok(());
    };
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default().to_string();
    let target = request_line.next().unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (target.to_string(), None),
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length.min(1 << 20)];
    stream.read_exact(&mut body).await?;
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        query,
        headers,
    });
    let answer = routes
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, a)| a.clone())
        .unwrap_or_else(|| Answer::html(404, "<html><body>404: Not Found</body></html>"));
    match answer {
        Answer::Reply {
            status,
            content_type,
            body,
        } => {
            let head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                reason(status),
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.flush().await?;
            stream.shutdown().await?;
        }
        Answer::Stream { parts, after } => {
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                      Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
                )
                .await?;
            stream.flush().await?;
            for (delay, part) in parts {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                stream.write_all(&part).await?;
                stream.flush().await?;
            }
            match after {
                After::Close => stream.shutdown().await?,
                After::Hold => {
                    // Until the client closes its end (a read of 0) or errs.
                    let mut sink = [0u8; 256];
                    let _ = tokio::time::timeout(Duration::from_secs(60), async {
                        while let Ok(n) = stream.read(&mut sink).await {
                            if n == 0 {
                                break;
                            }
                        }
                    })
                    .await;
                }
                After::Repeat(part) => loop {
                    // Ends with an error once the client has gone.
                    stream.write_all(&part).await?;
                },
            }
        }
    }
    Ok(())
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// One event as BinderHub writes it (`emit`: `data: {json}\n\n`).
pub fn event(value: &Value) -> Vec<u8> {
    format!("data: {value}\n\n").into_bytes()
}

/// BinderHub's keepalive comment.
pub const KEEPALIVE: &[u8] = b":keepalive\n\n";

/// `/health` as BinderHub on Kubernetes answers it: the registry, the hub's
/// API, and the pod quota (its failure ignored).
pub fn health(registry_ok: bool, hub_ok: bool, pods: u64, quota: u64) -> (u16, Value) {
    let checks = json!([
        {"service": "Docker registry", "ok": registry_ok},
        {"service": "JupyterHub API", "ok": hub_ok},
        {"service": "Pod quota", "total_pods": pods, "build_pods": 1, "user_pods": pods - 1,
         "quota": quota, "ok": pods <= quota, "_ignore_failure": true},
    ]);
    let ok = registry_ok && hub_ok;
    (
        if ok { 200 } else { 503 },
        json!({"ok": ok, "checks": checks}),
    )
}

/// `/versions` of a Kubernetes BinderHub.
pub fn versions() -> Value {
    json!({
        "builder_info": {"build_image": "quay.io/jupyterhub/repo2docker:2024.07.0"},
        "binderhub": "1.0.0-0.dev.git.3506.hba24eb2a",
        "builder": "quay.io/jupyterhub/repo2docker:2024.07.0",
    })
}

/// A build and launch through to `ready`, as BinderHub sends them: the
/// server at `{hub_url}user/{user}/` with `token`.
pub fn build_to_ready(hub_url: &str, user: &str, token: &str) -> Vec<Value> {
    vec![
        json!({"phase": "waiting", "message": "Waiting for build to start...\n"}),
        json!({"phase": "fetching", "message": "Picked Git content provider.\n"}),
        json!({"phase": "building", "message": "Step 1/3 : FROM docker.io/library/buildpack-deps:jammy\n"}),
        json!({"phase": "building", "message": "Step 2/3 : RUN pip install -r requirements.txt\n"}),
        json!({"phase": "pushing", "message": "Pushing image\n"}),
        json!({"phase": "built", "message": "Built image, launching...\n", "imageName": "registry.example/binder-a-b:abc"}),
        json!({"phase": "launching", "message": "Launching server...\n"}),
        json!({"phase": "launching", "message": "Server requested\n"}),
        ready(hub_url, user, token),
    ]
}

/// The `ready` event (binderhub/launcher.py's server_info).
pub fn ready(hub_url: &str, user: &str, token: &str) -> Value {
    let url = format!("{hub_url}user/{user}/");
    json!({
        "phase": "ready",
        "message": format!("server running at {url}\n"),
        "image": "registry.example/binder-a-b:abc",
        "repo_url": "https://github.com/binder-examples/requirements",
        "token": token,
        "binder_ref_url": "https://github.com/binder-examples/requirements/tree/abc",
        "binder_launch_host": "http://binder.example/",
        "binder_request": "v2/gh/binder-examples/requirements/HEAD",
        "binder_persistent_request": "v2/gh/binder-examples/requirements/abc",
        "url": url,
    })
}

/// A build that fails after `lines` lines of log.
pub fn build_that_fails(lines: usize) -> Vec<Value> {
    let mut events = vec![
        json!({"phase": "waiting", "message": "Waiting for build to start...\n"}),
        json!({"phase": "building", "message": "Step 1/2 : FROM buildpack-deps\n"}),
    ];
    for i in 1..=lines {
        events.push(json!({"phase": "building", "message": format!("log line {i}\n")}));
    }
    events.push(json!({"phase": "failure", "message": "The command '/bin/sh -c pip install' returned a non-zero code: 1\n"}));
    events.push(json!({"phase": "failed"}));
    events
}
