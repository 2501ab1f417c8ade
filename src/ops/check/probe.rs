//! `check`: is BinderHub healthy, and does it build? Asks BinderHub's
//! `/health` (with its per-check results) and `/versions` and JupyterHub's
//! `/hub/api/health`, all at once; then, when asked, builds and launches a
//! repository through BinderHub's event stream, times it to `ready`, and
//! stops the server it started. Every result is one [`CheckResult`]; only
//! what keeps the checks from running at all (no HTTP client, Ctrl-C) is
//! an error.
//!
//! Bounded throughout: each answer document (1 MiB), each event
//! ([`events::MAX_EVENT_BYTES`]), the number of events and bytes of the
//! stream, the silence between its bytes, and the whole run
//! ([`Config::timeout`]); stopping the server afterwards gets its own
//! [`STOP_TIMEOUT`]. The server's token goes into one request header and
//! nowhere else.
//!
//! Takes a plain [`Config`]; the pure reading of every answer is in
//! `health`.

use std::time::Duration;

use anyhow::Result;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};
use serde::Serialize;
use tokio::time::{sleep_until, Instant};

use crate::cluster::runner;
use crate::egress::published::{redirect_refusal, shown_url};
use crate::error::Interrupted;
use crate::health::events::{self, Event, EventStream, Launched, LogTail, Phase};
use crate::health::spec::RepoSpec;
use crate::health::status::{self, ServiceHealth};
use crate::health::urls::ServerUrl;

/// The most one health, versions or hub request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most stopping the launched server may take (after `--timeout`).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest `/health` or `/versions` answer read.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// The most events one launch may send before it is ready: a big build
/// logs thousands of lines, never this many.
pub const MAX_EVENTS: usize = 100_000;
/// The most bytes one launch's event stream may send.
pub const MAX_STREAM_BYTES: u64 = 64 << 20;
/// The longest silence on the event stream: BinderHub sends a keepalive
/// every 25 seconds.
pub const STREAM_IDLE: Duration = Duration::from_secs(120);
/// How many of the build log's last lines a failed launch shows.
pub const LOG_LINES: usize = 20;

/// What `check` checks, and where.
#[derive(Debug, Clone)]
pub struct Config {
    /// BinderHub's base URL (ending in `/`).
    pub binderhub: Url,
    /// JupyterHub's base URL (ending in `/`; the hub's API is below
    /// `hub/api/`).
    pub hub: Url,
    /// Build and launch this repository too.
    pub launch: Option<RepoSpec>,
    /// The most the checks and the launch may take together.
    pub timeout: Duration,
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Worth knowing, not a failure: a check BinderHub itself ignores, a
    /// launched server that could not be stopped.
    Warn,
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One line of the report (the `-o json` fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// `binderhub`, `binderhub/SERVICE` (each of BinderHub's own checks),
    /// `versions`, `jupyterhub`, `launch`, `stop`.
    pub name: String,
    pub status: Status,
    pub message: String,
    /// What was asked (credentials and tokens hidden).
    pub url: Option<String>,
    /// The HTTP status of the answer, when there was one.
    pub http_status: Option<u16>,
    /// How long it took; for `launch`, the time to ready (or to failure).
    pub seconds: Option<f64>,
    /// `launch`: each phase and when it began (seconds from the request).
    pub phases: Vec<PhaseTime>,
    /// `launch` that failed: the build log's last lines.
    pub log: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseTime {
    pub phase: String,
    pub seconds: f64,
}

impl CheckResult {
    fn new(name: impl Into<String>, status: Status, message: impl Into<String>) -> Self {
        CheckResult {
            name: name.into(),
            status,
            message: message.into(),
            url: None,
            http_status: None,
            seconds: None,
            phases: Vec::new(),
            log: Vec::new(),
        }
    }

    fn at(mut self, url: &Url) -> Self {
        self.url = Some(shown_url(url.as_str()));
        self
    }
}

/// Where a launch is, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct LaunchProgress<'a> {
    pub spec: &'a RepoSpec,
    /// The phase BinderHub last named.
    pub phase: Option<&'a str>,
    /// Its last log message (the server's text: escape it before showing).
    pub message: Option<&'a str>,
    /// Since the build was requested.
    pub elapsed: Duration,
    /// This update starts a new phase (else it is a new message or a tick).
    pub new_phase: bool,
}

/// Run the checks; with `config.launch`, the launch and the stop after
/// them. `progress` hears of every event of the launch and, in between,
/// once a second.
pub async fn run(
    config: &Config,
    progress: &(dyn Fn(&LaunchProgress) + Sync),
) -> Result<Vec<CheckResult>> {
    let deadline = Instant::now() + config.timeout;
    let https = [&config.binderhub, &config.hub]
        .iter()
        .any(|u| u.scheme() == "https");
    let client = http_client(https, true).map_err(anyhow::Error::msg)?;
    let checks = async {
        tokio::join!(
            binderhub_health(&client, &config.binderhub, deadline),
            versions(&client, &config.binderhub, deadline),
            hub_health(&client, &config.hub, deadline),
        )
    };
    let (mut results, versions, hub) = tokio::select! {
        biased;
        () = runner::interrupted() => return Err(Interrupted.into()),
        answers = checks => answers,
    };
    results.push(versions);
    results.push(hub);
    if let Some(spec) = &config.launch {
        results.extend(launch(&client, config, spec, deadline, progress).await?);
    }
    Ok(results)
}

/// The HTTP client: rustls (the system's roots only when an https URL is
/// involved), binderctl's user agent, a connect timeout; redirects
/// followed only within the host and never from HTTPS to HTTP, or none.
fn http_client(https: bool, follow_redirects: bool) -> Result<Client, String> {
    let policy = if follow_redirects {
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("more than 5 redirects");
            }
            let refusal = attempt
                .previous()
                .first()
                .and_then(|first| redirect_refusal(first, attempt.url()));
            if let Some(refusal) = refusal {
                attempt.error(refusal)
            } else if !https && attempt.url().scheme() == "https" {
                attempt.error("the server redirected to HTTPS: give the https:// URL")
            } else {
                attempt.follow()
            }
        })
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(https)
        .user_agent(concat!("binderctl/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(policy)
        .build()
        .map_err(|err| {
            format!(
                "cannot set up the HTTP client: {}",
                crate::error::error_chain(&err)
            )
        })
}

/// An answer, its body read up to [`MAX_DOCUMENT_BYTES`].
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    elapsed: Duration,
}

/// GET `url`; the problem, in words, when there is no whole answer.
async fn get(
    client: &Client,
    url: &Url,
    accept: &str,
    deadline: Instant,
) -> Result<Answer, String> {
    let started = Instant::now();
    let timeout = REQUEST_TIMEOUT.min(deadline.saturating_duration_since(started));
    let request = client
        .get(url.clone())
        .header(ACCEPT, accept)
        .timeout(timeout);
    let mut response = request.send().await.map_err(|e| describe(e, timeout))?;
    let status = response.status();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(e, timeout))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        body,
        elapsed: started.elapsed(),
    })
}

fn too_large() -> String {
    format!("an answer larger than {} MiB", MAX_DOCUMENT_BYTES >> 20)
}

/// `GET {binderhub}health`: one line for the whole, one for each of
/// BinderHub's own checks.
async fn binderhub_health(client: &Client, base: &Url, deadline: Instant) -> Vec<CheckResult> {
    let url = join(base, "health");
    let shown = shown_url(url.as_str());
    let answer = match get(client, &url, "application/json", deadline).await {
        Ok(answer) => answer,
        Err(problem) => {
            return vec![
                CheckResult::new("binderhub", Status::Fail, format!("{shown}: {problem}")).at(&url),
            ]
        }
    };
    let code = answer.status.as_u16();
    let mut top = CheckResult::new("binderhub", Status::Fail, String::new()).at(&url);
    top.http_status = Some(code);
    top.seconds = Some(seconds(answer.elapsed));
    let health = match status::parse_health(&answer.body) {
        Ok(health) => health,
        Err(problem) => {
            top.message = format!(
                "{shown}: HTTP {}, {problem}: is this BinderHub's address?",
                status_words(answer.status)
            );
            return vec![top];
        }
    };
    let failing: Vec<&str> = health
        .checks
        .iter()
        .filter(|c| !c.ok && !c.ignore_failure)
        .map(|c| c.service.as_str())
        .collect();
    let took = format_elapsed(answer.elapsed);
    if health.ok && answer.status == StatusCode::OK {
        top.status = Status::Ok;
        top.message = format!("{shown}: healthy (HTTP 200, {took})");
    } else if health.ok {
        top.message = format!(
            "{shown}: HTTP {} although the document says ok",
            status_words(answer.status)
        );
    } else if failing.is_empty() {
        top.message = format!("{shown}: unhealthy (HTTP {})", status_words(answer.status));
    } else {
        top.message = format!(
            "{shown}: unhealthy (HTTP {}): {} failing",
            status_words(answer.status),
            failing.join(", ")
        );
    }
    let mut lines = vec![top];
    lines.extend(health.checks.iter().map(service_line));
    lines
}

fn service_line(check: &ServiceHealth) -> CheckResult {
    let details = check
        .details
        .as_ref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    let (status, verdict) = match (check.ok, check.ignore_failure) {
        (true, _) => (Status::Ok, "ok"),
        (false, true) => (Status::Warn, "not ok (BinderHub does not count this one)"),
        (false, false) => (Status::Fail, "failing"),
    };
    CheckResult::new(
        format!("binderhub/{}", slug(&check.service)),
        status,
        format!("{}: {verdict}{details}", check.service),
    )
}

/// `Docker registry` → `docker-registry`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "check".to_string()
    } else {
        out
    }
}

/// `GET {binderhub}versions`.
async fn versions(client: &Client, base: &Url, deadline: Instant) -> CheckResult {
    let url = join(base, "versions");
    let shown = shown_url(url.as_str());
    let mut line = CheckResult::new("versions", Status::Fail, String::new()).at(&url);
    match get(client, &url, "application/json", deadline).await {
        Err(problem) => line.message = format!("{shown}: {problem}"),
        Ok(answer) => {
            line.http_status = Some(answer.status.as_u16());
            line.seconds = Some(seconds(answer.elapsed));
            match status::parse_versions(&answer.body) {
                Ok(versions) if answer.status.is_success() => {
                    line.status = Status::Ok;
                    line.message = versions.describe();
                }
                Ok(_) => {
                    line.message = format!("{shown}: HTTP {}", status_words(answer.status));
                }
                Err(problem) => {
                    line.message =
                        format!("{shown}: HTTP {}, {problem}", status_words(answer.status));
                }
            }
        }
    }
    line
}

/// `GET {hub}hub/api/health`: JupyterHub answers 200 with an empty body.
async fn hub_health(client: &Client, base: &Url, deadline: Instant) -> CheckResult {
    let url = join(base, "hub/api/health");
    let shown = shown_url(url.as_str());
    let mut line = CheckResult::new("jupyterhub", Status::Fail, String::new()).at(&url);
    match get(client, &url, "application/json", deadline).await {
        Err(problem) => line.message = format!("{shown}: {problem}"),
        Ok(answer) => {
            line.http_status = Some(answer.status.as_u16());
            line.seconds = Some(seconds(answer.elapsed));
            if answer.status == StatusCode::OK {
                line.status = Status::Ok;
                line.message = format!(
                    "{shown}: healthy (HTTP 200, {})",
                    format_elapsed(answer.elapsed)
                );
            } else {
                line.message = format!("{shown}: HTTP {}", status_words(answer.status));
            }
        }
    }
    line
}

/// What the stream showed of a launch so far.
struct Tracker {
    phases: Vec<PhaseTime>,
    phase: Option<Phase>,
    message: Option<String>,
    log: LogTail,
    started: Instant,
}

impl Tracker {
    fn new() -> Self {
        Tracker {
            phases: Vec::new(),
            phase: None,
            message: None,
            log: LogTail::new(LOG_LINES),
            started: Instant::now(),
        }
    }

    /// Note an event's phase and message; whether the phase is new.
    fn record(&mut self, phase: Option<Phase>, message: Option<&str>) -> bool {
        if let Some(message) = message {
            self.log.push(message);
            let last = message.lines().rev().find(|l| !l.trim().is_empty());
            if let Some(last) = last {
                let last = events::without_colours(last);
                self.message = Some(crate::health::clip(last.trim(), 200));
            }
        }
        match phase {
            Some(phase) if self.phase.as_ref() != Some(&phase) => {
                self.phases.push(PhaseTime {
                    phase: phase.to_string(),
                    seconds: seconds(self.started.elapsed()),
                });
                self.phase = Some(phase);
                true
            }
            _ => false,
        }
    }

    fn progress<'a>(&'a self, spec: &'a RepoSpec, new_phase: bool) -> LaunchProgress<'a> {
        LaunchProgress {
            spec,
            phase: self.phase.as_ref().map(Phase::as_str),
            message: self.message.as_deref(),
            elapsed: self.started.elapsed(),
            new_phase,
        }
    }

    fn last_phase(&self) -> String {
        self.phase
            .as_ref()
            .map(|p| format!(" (last phase: {p})"))
            .unwrap_or_default()
    }
}

/// The launch's line, and the stop's when it became ready.
async fn launch(
    client: &Client,
    config: &Config,
    spec: &RepoSpec,
    deadline: Instant,
    progress: &(dyn Fn(&LaunchProgress) + Sync),
) -> Result<Vec<CheckResult>> {
    let url = join(&config.binderhub, &spec.build_path());
    let mut tracker = Tracker::new();
    let outcome = follow_stream(
        client,
        &url,
        spec,
        deadline,
        config.timeout,
        &mut tracker,
        progress,
    )
    .await?;
    let elapsed = tracker.started.elapsed();
    let mut line = CheckResult::new("launch", Status::Fail, String::new()).at(&url);
    line.seconds = Some(seconds(elapsed));
    line.phases = std::mem::take(&mut tracker.phases);
    let (launched, http_status) = match outcome {
        Ok(launched) => (launched, 200),
        Err(failure) => {
            line.http_status = failure.http_status;
            line.message = format!("{spec}: {}", failure.problem);
            line.log = tracker.log.lines();
            return Ok(vec![line]);
        }
    };
    line.http_status = Some(http_status);
    line.status = Status::Ok;
    line.message = format!(
        "{spec}: ready in {}, server {}",
        format_elapsed(elapsed),
        shown_url(&launched.url)
    );
    let stop = stop(&launched).await;
    if runner::was_interrupted() {
        return Err(Interrupted.into());
    }
    Ok(vec![line, stop])
}

/// Why a launch did not become ready.
struct LaunchFailure {
    problem: String,
    http_status: Option<u16>,
}

impl LaunchFailure {
    fn new(problem: impl Into<String>, http_status: Option<u16>) -> Self {
        LaunchFailure {
            problem: problem.into(),
            http_status,
        }
    }
}

/// Request the build and read its events up to `ready` (the server) or the
/// end (why not). Only Ctrl-C is an error.
#[allow(clippy::too_many_arguments)]
async fn follow_stream(
    client: &Client,
    url: &Url,
    spec: &RepoSpec,
    deadline: Instant,
    timeout: Duration,
    tracker: &mut Tracker,
    progress: &(dyn Fn(&LaunchProgress) + Sync),
) -> Result<std::result::Result<Launched, LaunchFailure>> {
    let late = |tracker: &Tracker, http_status: Option<u16>| {
        LaunchFailure::new(
            format!(
                "not ready within {} (--timeout){}",
                format_elapsed(timeout),
                tracker.last_phase()
            ),
            http_status,
        )
    };
    let request = client
        .get(url.clone())
        .header(ACCEPT, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .send();
    let mut response = tokio::select! {
        biased;
        () = runner::interrupted() => return Err(Interrupted.into()),
        () = sleep_until(deadline) => return Ok(Err(late(tracker, None))),
        sent = request => match sent {
            Ok(response) => response,
            Err(err) => return Ok(Err(LaunchFailure::new(
                format!("{}: {}", shown_url(url.as_str()), describe(err, timeout)),
                None,
            ))),
        },
    };
    let code = response.status();
    if !code.is_success() {
        return Ok(Err(LaunchFailure::new(
            format!("{}: HTTP {}", shown_url(url.as_str()), status_words(code)),
            Some(code.as_u16()),
        )));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.starts_with("text/event-stream") {
        return Ok(Err(LaunchFailure::new(
            format!(
                "{} answered {}, not an event stream: is this BinderHub's address?",
                shown_url(url.as_str()),
                if content_type.is_empty() {
                    "without a Content-Type".to_string()
                } else {
                    format!("Content-Type {}", crate::health::clip(&content_type, 60))
                }
            ),
            Some(code.as_u16()),
        )));
    }
    let ok = Some(code.as_u16());
    let mut parser = EventStream::new(events::MAX_EVENT_BYTES);
    let mut pending = Vec::new();
    let mut received: u64 = 0;
    let mut count = 0usize;
    let mut last_bytes = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let chunk = tokio::select! {
            biased;
            () = runner::interrupted() => return Err(Interrupted.into()),
            () = sleep_until(deadline) => return Ok(Err(late(tracker, ok))),
            () = sleep_until(last_bytes + STREAM_IDLE) => {
                return Ok(Err(LaunchFailure::new(
                    format!(
                        "nothing from BinderHub for {} (it sends a keepalive every 25 s){}",
                        format_elapsed(STREAM_IDLE),
                        tracker.last_phase()
                    ),
                    ok,
                )));
            }
            _ = ticker.tick() => {
                progress(&tracker.progress(spec, false));
                continue;
            }
            chunk = response.chunk() => chunk,
        };
        let chunk = match chunk {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                return Ok(Err(LaunchFailure::new(
                    format!(
                        "BinderHub ended the event stream before the server was ready{}",
                        tracker.last_phase()
                    ),
                    ok,
                )))
            }
            Err(err) => {
                return Ok(Err(LaunchFailure::new(
                    format!(
                        "the event stream broke: {}{}",
                        describe(err, timeout),
                        tracker.last_phase()
                    ),
                    ok,
                )))
            }
        };
        last_bytes = Instant::now();
        received += chunk.len() as u64;
        if received > MAX_STREAM_BYTES {
            return Ok(Err(LaunchFailure::new(
                format!(
                    "more than {} MiB of events without the server being ready",
                    MAX_STREAM_BYTES >> 20
                ),
                ok,
            )));
        }
        if let Err(too_large) = parser.feed(&chunk, &mut pending) {
            return Ok(Err(LaunchFailure::new(
                format!("BinderHub sent {too_large}"),
                ok,
            )));
        }
        for data in pending.drain(..) {
            count += 1;
            if count > MAX_EVENTS {
                return Ok(Err(LaunchFailure::new(
                    format!("more than {MAX_EVENTS} events without the server being ready"),
                    ok,
                )));
            }
            match events::parse_event(&data) {
                Err(problem) => {
                    return Ok(Err(LaunchFailure::new(
                        format!("BinderHub sent {problem}"),
                        ok,
                    )))
                }
                Ok(Event::Progress { phase, message }) => {
                    let new_phase = tracker.record(phase, message.as_deref());
                    progress(&tracker.progress(spec, new_phase));
                }
                Ok(Event::Failed {
                    message,
                    status_code,
                }) => {
                    let stage = match tracker.phase {
                        Some(Phase::Built | Phase::Launching) => "the launch failed",
                        _ => "the build failed",
                    };
                    let before = tracker.last_phase();
                    tracker.record(Some(Phase::Failed), message.as_deref());
                    let code = status_code
                        .map(|c| format!(" (HTTP {c})"))
                        .unwrap_or_default();
                    let said = message
                        .as_deref()
                        .and_then(|m| m.lines().find(|l| !l.trim().is_empty()))
                        .map(|l| format!(": {}", crate::health::clip(l.trim(), 200)))
                        .unwrap_or_default();
                    return Ok(Err(LaunchFailure::new(
                        format!(
                            "{stage} after {}{before}{code}{said}",
                            format_elapsed(tracker.started.elapsed())
                        ),
                        ok,
                    )));
                }
                Ok(Event::Ready { launched, .. }) => {
                    let new_phase = tracker.record(Some(Phase::Ready), None);
                    progress(&tracker.progress(spec, new_phase));
                    // BinderHub holds the stream open for a minute more;
                    // dropping the response closes it.
                    return Ok(Ok(launched));
                }
            }
        }
    }
}

/// Stop the launched server: `POST {server}api/shutdown` with the token of
/// the ready event (`Authorization: token ...`). A server that cannot be
/// stopped is a warning: the hub's idle culler stops it later.
async fn stop(launched: &Launched) -> CheckResult {
    let later = "it runs until the hub's idle culler stops it";
    let server = match ServerUrl::parse(&launched.url) {
        Ok(server) => server,
        Err(problem) => {
            return CheckResult::new(
                "stop",
                Status::Warn,
                format!("cannot stop the server: {problem}; {later}"),
            )
        }
    };
    let url = server.shutdown_url();
    let shown = shown_url(url.as_str());
    let mut line = CheckResult::new("stop", Status::Warn, String::new()).at(&url);
    let client = match http_client(url.scheme() == "https", false) {
        Ok(client) => client,
        Err(problem) => {
            line.message = format!("{shown}: {problem}; {later}");
            return line;
        }
    };
    let Ok(mut authorization) =
        HeaderValue::from_str(&format!("token {}", launched.token.expose()))
    else {
        line.message =
            format!("cannot stop the server: its token cannot be sent in a header; {later}");
        return line;
    };
    authorization.set_sensitive(true);
    let started = Instant::now();
    let sent = client
        .post(url.clone())
        .header(AUTHORIZATION, authorization)
        .timeout(STOP_TIMEOUT)
        .send()
        .await;
    line.seconds = Some(seconds(started.elapsed()));
    let who = match &server.server_name {
        Some(name) => format!("{}'s server {name}", server.user),
        None => format!("{}'s server", server.user),
    };
    match sent {
        Ok(answer) if answer.status().is_success() => {
            line.status = Status::Ok;
            line.http_status = Some(answer.status().as_u16());
            line.message = format!(
                "stopped {who} ({shown}: HTTP {})",
                status_words(answer.status())
            );
        }
        Ok(answer) => {
            line.http_status = Some(answer.status().as_u16());
            let refused = matches!(answer.status().as_u16(), 301..=303 | 307 | 308 | 401 | 403);
            line.message = format!(
                "{who} was not stopped ({shown}: HTTP {}{}); {later}",
                status_words(answer.status()),
                if refused {
                    ", the token was refused"
                } else {
                    ""
                }
            );
        }
        Err(err) => {
            line.message = format!(
                "{who} was not stopped ({shown}: {}); {later}",
                describe(err, STOP_TIMEOUT)
            );
        }
    }
    line
}

/// `base` + a relative path (base URLs end in `/`, so the path goes below).
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path()));
    url
}

/// `503 Service Unavailable`.
fn status_words(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// A failed request in words, without its URL (the caller names it):
/// `cannot connect: Connection refused (os error 111)`, `no answer within 30s`.
fn describe(err: reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("no answer within {}", format_elapsed(timeout));
    }
    let connect = err.is_connect();
    let err = err.without_url();
    if connect {
        let mut innermost: &dyn std::error::Error = &err;
        while let Some(source) = innermost.source() {
            innermost = source;
        }
        return format!("cannot connect: {innermost}");
    }
    crate::error::error_chain(&err)
}

/// Seconds, to the millisecond (for `-o json`).
fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// `41ms`, `4.2s`, `1m42s`, `1h02m`: how long something took.
pub fn format_elapsed(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    if secs < 60 {
        return format!("{:.1}s", duration.as_secs_f64());
    }
    if secs < 3600 {
        return format!("{}m{:02}s", secs / 60, secs % 60);
    }
    format!("{}h{:02}m", secs / 3600, secs / 60 % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_become_check_names() {
        assert_eq!(slug("Docker registry"), "docker-registry");
        assert_eq!(slug("JupyterHub API"), "jupyterhub-api");
        assert_eq!(slug("Pod quota"), "pod-quota");
        assert_eq!(slug("  --Weird__Name!! "), "weird-name");
        assert_eq!(slug("ÄÖÜ"), "check");
        assert_eq!(slug(""), "check");
    }

    #[test]
    fn elapsed_times_read_at_a_glance() {
        assert_eq!(format_elapsed(Duration::from_millis(41)), "41ms");
        assert_eq!(format_elapsed(Duration::from_millis(4_249)), "4.2s");
        assert_eq!(format_elapsed(Duration::from_secs(102)), "1m42s");
        assert_eq!(format_elapsed(Duration::from_secs(600)), "10m00s");
        assert_eq!(format_elapsed(Duration::from_secs(3_720)), "1h02m");
    }

    #[test]
    fn paths_go_below_the_base() {
        let base = Url::parse("https://lab.example/binder/").unwrap();
        assert_eq!(
            join(&base, "build/gh/a/b/feature/x").as_str(),
            "https://lab.example/binder/build/gh/a/b/feature/x"
        );
        assert_eq!(
            join(&Url::parse("http://192.0.2.10/").unwrap(), "hub/api/health").as_str(),
            "http://192.0.2.10/hub/api/health"
        );
    }

    #[test]
    fn the_tracker_notes_phase_changes_and_the_last_message() {
        let mut tracker = Tracker::new();
        assert!(tracker.record(
            Some(Phase::Waiting),
            Some("Waiting for build to start...\n")
        ));
        assert!(!tracker.record(Some(Phase::Waiting), None));
        assert!(tracker.record(Some(Phase::Building), Some("Step 1/3\nStep 2/3\n\n")));
        assert!(!tracker.record(None, Some("Step 3/3\n")));
        let spec = RepoSpec::parse("a/b").unwrap();
        let progress = tracker.progress(&spec, false);
        assert_eq!(progress.phase, Some("building"));
        assert_eq!(progress.message, Some("Step 3/3"));
        let phases: Vec<&str> = tracker.phases.iter().map(|p| p.phase.as_str()).collect();
        assert_eq!(phases, ["waiting", "building"]);
        assert_eq!(
            tracker.log.lines(),
            [
                "Waiting for build to start...",
                "Step 1/3",
                "Step 2/3",
                "Step 3/3"
            ]
        );
        assert_eq!(tracker.last_phase(), " (last phase: building)");
    }
}
