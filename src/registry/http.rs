//! HTTP for the registry clients: one reqwest client (rustls), bodies read
//! as they arrive and refused past [`MAX_BODY_BYTES`], a few retries of
//! what may pass (a broken connection, a timeout, 429, 5xx), redirects
//! followed at most [`MAX_REDIRECTS`] times and never from HTTPS to HTTP
//! (blob storage elsewhere is fine: reqwest drops the `Authorization`
//! header when a redirect leaves the host), and the failures said plainly
//! with the URL shown without credentials.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode, Url};

/// The largest response body read: 4 MiB (distribution refuses manifests
/// over 4 MiB; a page of 100 Docker Hub tags is a few hundred KiB).
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// The most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// The longest wait a `Retry-After` may ask for before binderctl gives up
/// waiting and reports the failure.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A URL as messages show it (credentials and token-like parameters
/// masked).
pub fn shown(url: &str) -> String {
    crate::egress::published::shown_url(url)
}

/// The client: rustls with the system's roots when `https`, binderctl's
/// user agent, `timeout` for each whole request.
pub fn client(timeout: Duration, https: bool) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(https)
        .user_agent(concat!("binderctl/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt.previous().iter().any(|u| u.scheme() == "https")
                && attempt.url().scheme() != "https";
            if downgrade {
                attempt.error("the server redirected from HTTPS to HTTP; refusing to follow")
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot set up the HTTP client: {}",
                crate::error::error_chain(&e)
            )
        })
}

/// A response, its body read.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value as text, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header that is text.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The failure this answer is, for a status binderctl did not expect.
    pub fn failure(&self) -> Failure {
        Failure::Status {
            code: self.status.as_u16(),
            detail: error_detail(&self.body),
        }
    }

    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_slice(&self.body).map_err(|e| Failure::BadBody(e.to_string()))
    }
}

/// Why a request gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Could not connect, or the connection broke.
    Transport(String),
    Timeout,
    /// An answer with a status the caller did not expect.
    Status {
        code: u16,
        detail: Option<String>,
    },
    /// The body is larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The body is not what the API documents.
    BadBody(String),
    /// A redirect that is not followed.
    Redirect(String),
    /// Getting a token (or the right to send credentials) failed.
    Auth(String),
}

impl Failure {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Transport(_) | Failure::Timeout => true,
            Failure::Status { code, .. } => *code == 429 || (500..=599).contains(code),
            _ => false,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Transport(text) => write!(f, "{text}"),
            Failure::Timeout => f.write_str("timed out (raise --timeout or --retries?)"),
            Failure::Status { code, detail } => {
                let reason = StatusCode::from_u16(*code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default();
                write!(f, "HTTP {code}{reason}")?;
                if let Some(detail) = detail {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
            Failure::TooLarge => write!(
                f,
                "the answer is larger than {} MiB; refusing it",
                MAX_BODY_BYTES >> 20
            ),
            Failure::BadBody(text) => write!(f, "the answer is not what the API documents: {text}"),
            Failure::Redirect(text) | Failure::Auth(text) => f.write_str(text),
        }
    }
}

/// The short message an error body carries: distribution's
/// `{"errors": [{"code", "message"}]}`, Docker Hub's `{"detail"}` or
/// `{"message"}`; at most 200 characters, control characters escaped.
pub fn error_detail(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = if let Some(errors) = value.get("errors").and_then(|e| e.as_array()) {
        let parts: Vec<String> = errors
            .iter()
            .take(3)
            .filter_map(|e| {
                let code = e.get("code").and_then(|c| c.as_str());
                let message = e.get("message").and_then(|m| m.as_str());
                match (code, message) {
                    (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                    (c, m) => c.or(m).map(str::to_string),
                }
            })
            .collect();
        parts.join("; ")
    } else {
        ["detail", "message", "error"]
            .iter()
            .find_map(|k| value.get(*k).and_then(|v| v.as_str()))?
            .to_string()
    };
    let text = crate::error::without_controls(text.trim(), "").into_owned();
    if text.is_empty() {
        return None;
    }
    Some(if text.chars().count() > 200 {
        let cut: String = text.chars().take(200).collect();
        format!("{cut}…")
    } else {
        text
    })
}

/// Send one request and read its answer, whatever its status.
pub async fn send(request: RequestBuilder) -> Result<Response, Failure> {
    let mut response = request.send().await.map_err(transport_failure)?;
    let status = response.status();
    let headers = response.headers().clone();
    if response
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > MAX_BODY_BYTES))
    {
        return Err(Failure::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Failure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// [`send`] the request `build` makes, again after a short wait while the
/// failure may pass (`retries` times at most); an answer with a status
/// that may pass (429, 5xx) counts as such a failure.
pub async fn send_retrying(
    retries: u32,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, Failure> {
    let mut attempt = 0u32;
    loop {
        let outcome = send(build()).await;
        let (failure, wait) = match &outcome {
            Ok(response) if response.failure().is_transient() && !response.status.is_success() => {
                (response.failure(), retry_after(response))
            }
            Ok(_) => return outcome,
            Err(failure) => (failure.clone(), None),
        };
        if !failure.is_transient() || attempt >= retries {
            return outcome;
        }
        let wait = wait.unwrap_or_else(|| backoff(attempt));
        if wait > MAX_RETRY_AFTER {
            return outcome;
        }
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// The wait a 429 or 503 asks for: `Retry-After: SECONDS`, or Docker
/// Hub's `X-Retry-After: UNIX-SECONDS` (when the limit resets).
fn retry_after(response: &Response) -> Option<Duration> {
    if let Some(seconds) = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    let until: u64 = response.header("x-retry-after")?.trim().parse().ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(until.saturating_sub(now)))
}

/// 200 ms, 400 ms, 800 ms … at most 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((200u64 << attempt.min(5)).min(5000))
}

/// A request of `method` to `url`.
pub fn request(client: &reqwest::Client, method: Method, url: &Url) -> RequestBuilder {
    client.request(method, url.clone())
}

/// Whether `next` may be followed from `base`: the same scheme, host and
/// port (a page link elsewhere would take the credentials along).
pub fn same_origin(base: &Url, next: &Url) -> bool {
    base.scheme() == next.scheme()
        && base.host_str() == next.host_str()
        && base.port_or_known_default() == next.port_or_known_default()
}

fn transport_failure(err: reqwest::Error) -> Failure {
    if err.is_timeout() {
        Failure::Timeout
    } else if err.is_redirect() {
        // Only the policy's reason: the target may carry credentials.
        let reason = std::error::Error::source(&err).map(ToString::to_string);
        Failure::Redirect(reason.unwrap_or_else(|| "redirect refused".into()))
    } else {
        // The caller names the URL; keep the message to the cause.
        Failure::Transport(crate::error::error_chain(&err.without_url()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_apis_are_read_briefly() {
        assert_eq!(
            error_detail(
                br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#
            ),
            Some("UNSUPPORTED: The operation is unsupported.".into())
        );
        assert_eq!(
            error_detail(br#"{"detail":"Incorrect authentication credentials"}"#),
            Some("Incorrect authentication credentials".into())
        );
        assert_eq!(
            error_detail(br#"{"message":"x\u001b[2Jy"}"#),
            Some("x\\x1b[2Jy".into())
        );
        assert_eq!(error_detail(b"<html>"), None);
        assert_eq!(error_detail(br#"{"detail":"  "}"#), None);
        let long = format!(r#"{{"detail":"{}"}}"#, "a".repeat(500));
        assert_eq!(error_detail(long.as_bytes()).unwrap().chars().count(), 201);
    }

    #[test]
    fn only_passing_failures_are_transient() {
        for code in [429, 500, 502, 503] {
            assert!(
                Failure::Status { code, detail: None }.is_transient(),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 405] {
            assert!(
                !Failure::Status { code, detail: None }.is_transient(),
                "{code}"
            );
        }
        assert!(Failure::Timeout.is_transient());
        assert!(!Failure::TooLarge.is_transient());
        assert_eq!(
            Failure::Status {
                code: 405,
                detail: Some("UNSUPPORTED".into())
            }
            .to_string(),
            "HTTP 405 Method Not Allowed: UNSUPPORTED"
        );
    }

    #[test]
    fn page_links_stay_on_the_origin() {
        let base = Url::parse("https://registry.example/v2/_catalog").unwrap();
        let ok = Url::parse("https://registry.example:443/v2/_catalog?last=a").unwrap();
        assert!(same_origin(&base, &ok));
        for other in [
            "http://registry.example/v2/_catalog",
            "https://other.example/v2/_catalog",
            "https://registry.example:8443/v2/_catalog",
        ] {
            assert!(!same_origin(&base, &Url::parse(other).unwrap()), "{other}");
        }
        assert_eq!(backoff(0), Duration::from_millis(200));
        assert_eq!(backoff(10), Duration::from_secs(5));
    }
}
