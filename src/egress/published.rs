//! Published address lists (GitHub's meta API, Fastly's public IP list).
//!
//! Both are JSON objects whose interesting keys hold arrays of CIDR strings.
//! Lists are downloaded concurrently; a download is retried (after a short
//! backoff) only when the failure may pass: a transport error, a timeout or
//! an HTTP 5xx. A 4xx answer or a body that does not parse is final.
//!
//! Limits: a body is read as it arrives and refused past [`MAX_LIST_BYTES`]
//! (the real lists are a few hundred KiB at most); redirects are followed
//! only to the same host and never from HTTPS to HTTP; a list URL is shown
//! in messages without its credentials (see [`shown_url`]).

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;
use serde_json::Value;

/// The largest list body read: 4 MiB.
pub const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;

/// The most redirects followed for one download.
const MAX_REDIRECTS: usize = 5;

/// Which published list a request is for (only used to name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    GitHubMeta,
    Fastly,
}

impl ListKind {
    pub fn name(self) -> &'static str {
        match self {
            ListKind::GitHubMeta => "GitHub meta",
            ListKind::Fastly => "Fastly",
        }
    }
}

/// One list to download and the keys to read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub kind: ListKind,
    pub url: String,
    /// GitHub: e.g. "git", "web", "api"; Fastly: "addresses", "ipv6_addresses".
    pub keys: Vec<String>,
}

impl ListRequest {
    /// The URL as it may be shown (see [`shown_url`]).
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }
}

/// Query parameters whose value is hidden in messages: any name holding
/// one of these (`token`, `access_token`, `api_key`, `X-Amz-Signature` …).
const SECRET_PARAMETER_WORDS: [&str; 7] = ["token", "key", "secret", "pass", "auth", "sig", "cred"];

/// A URL as it may appear in a message: a user name and password become
/// `***`, and so do the values of query parameters that look like
/// credentials. Text that is not an http(s) URL loses everything from `?` and up to
/// an `@`.
pub fn shown_url(url: &str) -> String {
    let parsed = Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let Some(mut parsed) = parsed else {
        let without_query = url.split(['?', '#']).next().unwrap_or_default();
        return match without_query.rsplit_once('@') {
            Some((_, rest)) => format!("***@{rest}"),
            None => without_query.to_string(),
        };
    };
    if !parsed.username().is_empty() {
        let _ = parsed.set_username("***");
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let lower = name.to_ascii_lowercase();
                let secret = SECRET_PARAMETER_WORDS.iter().any(|w| lower.contains(w));
                let value = if secret {
                    "***".into()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Why a redirect from `from` to `to` is not followed: another host (the
/// list would come from somewhere the operator did not name) or HTTPS to
/// HTTP (the list could be changed on the way).
pub fn redirect_refusal(from: &Url, to: &Url) -> Option<String> {
    if from.host_str() != to.host_str() {
        return Some(format!(
            "the server redirected to another host ({}); refusing to follow (put the final \
             URL in the configuration if that host is meant)",
            to.host_str().unwrap_or("no host")
        ));
    }
    if from.scheme() == "https" && to.scheme() != "https" {
        return Some(format!(
            "the server redirected from HTTPS to {}; refusing to follow",
            to.scheme().to_ascii_uppercase()
        ));
    }
    None
}

/// Follow a redirect only within the first URL's host, never downgrading.
fn redirect_policy(https: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let to_https_without_roots = !https && attempt.url().scheme() == "https";
        let refusal = attempt
            .previous()
            .first()
            .and_then(|first| redirect_refusal(first, attempt.url()))
            .or_else(|| {
                let last = attempt.previous().last()?;
                redirect_refusal(last, attempt.url())
            });
        if let Some(refusal) = refusal {
            attempt.error(refusal)
        } else if to_https_without_roots {
            attempt.error(
                "the server redirected to HTTPS; put the https:// URL in the configuration \
                 (the system's TLS roots are loaded only when a list's URL is https://)",
            )
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    })
}

/// Why a list gave no addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFailure {
    /// Could not connect, or the connection broke (after all retries).
    Transport(String),
    /// No complete response within the timeout (after all retries).
    Timeout,
    /// The server answered with a status other than 2xx.
    HttpStatus(u16),
    /// The body is not JSON, or its top level is not an object.
    NotJson(String),
    /// The object lacks a requested key.
    MissingKey(String),
    /// A requested key does not hold an array of strings.
    NotAList(String),
    /// An entry is not a valid CIDR.
    InvalidCidr {
        key: String,
        value: String,
        reason: String,
    },
    /// A requested key holds an empty array.
    Empty(String),
    /// The body is larger than [`MAX_LIST_BYTES`].
    TooLarge,
    /// A redirect that is not followed (see [`redirect_refusal`]).
    Redirect(String),
}

impl ListFailure {
    /// Whether another attempt might succeed.
    fn is_transient(&self) -> bool {
        match self {
            ListFailure::Transport(_) | ListFailure::Timeout => true,
            ListFailure::HttpStatus(code) => (500..=599).contains(code),
            _ => false,
        }
    }
}

impl fmt::Display for ListFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListFailure::Transport(text) => write!(f, "download failed: {text}"),
            ListFailure::Timeout => f.write_str(
                "timed out (check the network or the URL, or raise --timeout or --retries)",
            ),
            ListFailure::HttpStatus(code) => {
                let reason = reqwest::StatusCode::from_u16(*code)
                    .ok()
                    .and_then(|status| status.canonical_reason())
                    .map(|reason| format!(" {reason}"))
                    .unwrap_or_default();
                write!(f, "the server answered HTTP {code}{reason}")?;
                match code {
                    403 | 429 => f.write_str(" (rate limited? try again later)"),
                    404 => f.write_str(" (is the URL right?)"),
                    _ => Ok(()),
                }
            }
            ListFailure::NotJson(text) => write!(
                f,
                "the response is not the expected JSON object: {text} (is the URL right?)"
            ),
            ListFailure::MissingKey(key) => write!(
                f,
                "the response has no key \"{key}\" (is the key name or the URL right?)"
            ),
            ListFailure::NotAList(key) => {
                write!(f, "key \"{key}\" is not a list of CIDR strings")
            }
            ListFailure::InvalidCidr { key, value, reason } => {
                // The reason usually quotes the value already.
                if !value.is_empty() && reason.contains(value.as_str()) {
                    write!(f, "key \"{key}\": {reason}")
                } else {
                    write!(f, "key \"{key}\": \"{value}\": {reason}")
                }
            }
            ListFailure::Empty(key) => write!(f, "key \"{key}\" is an empty list"),
            ListFailure::Redirect(text) => f.write_str(text),
            ListFailure::TooLarge => write!(
                f,
                "the response is larger than {} MiB, far more than any published list; \
                 refusing it (is the URL right?)",
                MAX_LIST_BYTES / (1024 * 1024)
            ),
        }
    }
}

/// The outcome for one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    pub request: ListRequest,
    /// (key, network) in the order of the requested keys, then of the list.
    pub result: Result<Vec<(String, IpNet)>, ListFailure>,
}

/// Read the requested keys from a published list. The top level must be a
/// JSON object; each key must hold a non-empty array of CIDR strings (see
/// [`crate::egress::cidr::parse`]).
pub fn parse_list(body: &[u8], keys: &[String]) -> Result<Vec<(String, IpNet)>, ListFailure> {
    let document: Value =
        serde_json::from_slice(body).map_err(|err| ListFailure::NotJson(err.to_string()))?;
    let Value::Object(object) = document else {
        return Err(ListFailure::NotJson(format!(
            "the top level is {}, expected an object",
            json_kind(&document)
        )));
    };
    let mut networks = Vec::new();
    for key in keys {
        let value = object
            .get(key)
            .ok_or_else(|| ListFailure::MissingKey(key.clone()))?;
        let Value::Array(items) = value else {
            return Err(ListFailure::NotAList(key.clone()));
        };
        if items.is_empty() {
            return Err(ListFailure::Empty(key.clone()));
        }
        for item in items {
            let Value::String(text) = item else {
                return Err(ListFailure::NotAList(key.clone()));
            };
            // A bare address counts as its /32 or /128, as everywhere in binderctl.
            let network =
                crate::egress::cidr::parse(text).map_err(|err| ListFailure::InvalidCidr {
                    key: key.clone(),
                    value: text.clone(),
                    reason: err.to_string(),
                })?;
            networks.push((key.clone(), network));
        }
    }
    Ok(networks)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The HTTP client for the lists: rustls, our user agent (GitHub's API
/// rejects requests without one), and a timeout for each whole request.
/// `https`: whether any list is fetched over HTTPS; only then are the
/// system's TLS roots loaded (parsing them costs milliseconds of CPU).
pub fn http_client(timeout: Duration, https: bool) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(https)
        .user_agent(concat!("binderctl/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(redirect_policy(https))
        .build()
        .map_err(|err| {
            format!(
                "could not set up the HTTP client: {}",
                crate::error::error_chain(&err)
            )
        })
}

/// Download and parse every list concurrently. Results come back in the
/// order of `requests`. Each download is retried up to `retries` times on
/// transport errors, timeouts and 5xx answers.
pub async fn fetch_all(
    client: &reqwest::Client,
    requests: Vec<ListRequest>,
    retries: u32,
) -> Vec<ListResult> {
    let handles: Vec<_> = requests
        .iter()
        .map(|request| {
            let client = client.clone();
            let request = request.clone();
            tokio::spawn(async move { fetch_one(&client, &request, retries).await })
        })
        .collect();

    let mut results = Vec::with_capacity(requests.len());
    for (request, handle) in requests.into_iter().zip(handles) {
        let result = match handle.await {
            Ok(result) => result,
            Err(err) => Err(ListFailure::Transport(format!(
                "download task failed: {err}"
            ))),
        };
        results.push(ListResult { request, result });
    }
    results
}

async fn fetch_one(
    client: &reqwest::Client,
    request: &ListRequest,
    retries: u32,
) -> Result<Vec<(String, IpNet)>, ListFailure> {
    let mut attempt = 0u32;
    loop {
        match download(client, &request.url).await {
            Ok(body) => return parse_list(&body, &request.keys),
            Err(failure) if failure.is_transient() && attempt < retries => {
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            Err(failure) => return Err(failure),
        }
    }
}

/// 100 ms, 200 ms, 400 ms ... capped at 2 s.
fn backoff(attempt: u32) -> Duration {
    let factor = 1u64 << attempt.min(5);
    Duration::from_millis((100 * factor).min(2000))
}

async fn download(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, ListFailure> {
    let mut response = client.get(url).send().await.map_err(transport_failure)?;
    let status = response.status();
    if !status.is_success() {
        return Err(ListFailure::HttpStatus(status.as_u16()));
    }
    let announced = response.content_length().unwrap_or(0);
    if usize::try_from(announced).map_or(true, |n| n > MAX_LIST_BYTES) {
        return Err(ListFailure::TooLarge);
    }
    // Read as it arrives, never more than the limit (a body may not end).
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
        if body.len() + chunk.len() > MAX_LIST_BYTES {
            return Err(ListFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport_failure(err: reqwest::Error) -> ListFailure {
    if err.is_timeout() {
        ListFailure::Timeout
    } else if err.is_redirect() {
        // Only our policy's reason: the target may carry credentials.
        let reason = std::error::Error::source(&err).map(ToString::to_string);
        ListFailure::Redirect(reason.unwrap_or_else(|| "redirect refused".into()))
    } else if crate::egress::dns::is_too_many_open_files(&err) {
        ListFailure::Transport(crate::egress::dns::TOO_MANY_OPEN_FILES.to_string())
    } else {
        // The caller names the URL; keep the message to the cause.
        ListFailure::Transport(crate::error::error_chain(&err.without_url()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn reads_the_requested_keys_in_order() {
        let body = br#"{
            "verifiable_password_authentication": false,
            "web": ["192.0.2.0/28", "2001:db8:10::/48"],
            "git": ["198.51.100.0/24"],
            "domains": {"website": ["github.test"]}
        }"#;
        let parsed = parse_list(body, &keys(&["git", "web"])).unwrap();
        assert_eq!(
            parsed,
            vec![
                ("git".to_string(), net("198.51.100.0/24")),
                ("web".to_string(), net("192.0.2.0/28")),
                ("web".to_string(), net("2001:db8:10::/48")),
            ]
        );
    }

    #[test]
    fn no_keys_reads_nothing() {
        assert_eq!(parse_list(b"{}", &[]).unwrap(), Vec::new());
    }

    #[test]
    fn body_must_be_a_json_object() {
        assert!(matches!(
            parse_list(b"<html>", &keys(&["addresses"])),
            Err(ListFailure::NotJson(_))
        ));
        assert!(matches!(
            parse_list(b"", &keys(&["addresses"])),
            Err(ListFailure::NotJson(_))
        ));
        let Err(ListFailure::NotJson(text)) = parse_list(b"[\"192.0.2.0/24\"]", &keys(&["a"]))
        else {
            panic!("an array at the top level must be rejected");
        };
        assert!(text.contains("an array"), "{text}");
    }

    #[test]
    fn missing_key_is_named() {
        let result = parse_list(
            br#"{"addresses": ["192.0.2.0/24"]}"#,
            &keys(&["ipv6_addresses"]),
        );
        assert_eq!(
            result,
            Err(ListFailure::MissingKey("ipv6_addresses".into()))
        );
    }

    #[test]
    fn key_must_hold_a_list_of_strings() {
        for body in [
            br#"{"git": "192.0.2.0/24"}"#.as_slice(),
            br#"{"git": {"a": "192.0.2.0/24"}}"#.as_slice(),
            br#"{"git": ["192.0.2.0/24", 7]}"#.as_slice(),
            br#"{"git": null}"#.as_slice(),
        ] {
            assert_eq!(
                parse_list(body, &keys(&["git"])),
                Err(ListFailure::NotAList("git".into())),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn empty_list_is_refused() {
        assert_eq!(
            parse_list(br#"{"git": []}"#, &keys(&["git"])),
            Err(ListFailure::Empty("git".into()))
        );
    }

    #[test]
    fn invalid_cidrs_are_named_with_their_key() {
        for bad in [
            "192.0.2.0/33",
            "192.0.2.1/24",
            "2001:db8::/129",
            "not-a-network/8",
            "",
        ] {
            let body = format!(r#"{{"web": ["198.51.100.0/24", "{bad}"]}}"#);
            match parse_list(body.as_bytes(), &keys(&["web"])) {
                Err(ListFailure::InvalidCidr { key, value, reason }) => {
                    assert_eq!(key, "web");
                    assert_eq!(value, bad);
                    assert!(!reason.is_empty());
                }
                other => panic!("{bad}: expected InvalidCidr, got {other:?}"),
            }
        }
        let Err(failure @ ListFailure::InvalidCidr { .. }) =
            parse_list(br#"{"web": ["192.0.2.1/24"]}"#, &keys(&["web"]))
        else {
            panic!("host bits must be rejected");
        };
        let message = failure.to_string();
        assert!(message.starts_with("key \"web\": "), "{message}");
        assert!(message.contains("192.0.2.1/24"), "{message}");
        assert!(message.contains("192.0.2.0/24"), "{message}");
    }

    #[test]
    fn a_bare_address_is_a_host_route() {
        let parsed = parse_list(
            br#"{"addresses": ["192.0.2.9", "2001:db8::9"]}"#,
            &keys(&["addresses"]),
        );
        assert_eq!(
            parsed.unwrap(),
            vec![
                ("addresses".to_string(), net("192.0.2.9/32")),
                ("addresses".to_string(), net("2001:db8::9/128")),
            ]
        );
    }

    #[test]
    fn an_empty_entry_is_named_with_its_key() {
        let failure = parse_list(br#"{"web": [""]}"#, &keys(&["web"])).unwrap_err();
        let message = failure.to_string();
        assert!(message.starts_with("key \"web\": \"\": "), "{message}");
    }

    #[test]
    fn only_passing_failures_are_retried() {
        assert!(ListFailure::Timeout.is_transient());
        assert!(ListFailure::Transport("reset".into()).is_transient());
        assert!(ListFailure::HttpStatus(500).is_transient());
        assert!(ListFailure::HttpStatus(503).is_transient());
        assert!(!ListFailure::HttpStatus(404).is_transient());
        assert!(!ListFailure::HttpStatus(429).is_transient());
        assert!(!ListFailure::NotJson("x".into()).is_transient());
        assert!(!ListFailure::MissingKey("git".into()).is_transient());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(10), Duration::from_millis(2000));
        assert_eq!(backoff(u32::MAX), Duration::from_millis(2000));
    }

    #[test]
    fn failures_read_well() {
        assert_eq!(
            ListFailure::HttpStatus(404).to_string(),
            "the server answered HTTP 404 Not Found (is the URL right?)"
        );
        assert_eq!(
            ListFailure::HttpStatus(599).to_string(),
            "the server answered HTTP 599"
        );
        assert!(ListFailure::MissingKey("git".into())
            .to_string()
            .contains("\"git\""));
        assert_eq!(ListKind::GitHubMeta.name(), "GitHub meta");
        assert_eq!(ListKind::Fastly.name(), "Fastly");
    }

    #[test]
    fn credentials_in_urls_are_never_shown() {
        let cases = [
            (
                "https://lab:s3cret@lists.example/meta",
                "https://***:***@lists.example/meta",
            ),
            (
                "https://tok3n@lists.example/meta",
                "https://***@lists.example/meta",
            ),
            (
                "https://lists.example/meta?token=s3cret&v=2&X-Amz-Signature=s3cret",
                "https://lists.example/meta?token=***&v=2&X-Amz-Signature=***",
            ),
            ("https://lists.example/meta", "https://lists.example/meta"),
            (
                "lab:s3cret@lists.example/x?token=s3cret",
                "***@lists.example/x",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(shown_url(url), shown, "{url}");
            assert!(!shown_url(url).contains("s3cret"));
        }
    }

    #[test]
    fn redirects_stay_on_the_host_and_never_downgrade() {
        let url = |u: &str| Url::parse(u).unwrap();
        let from = url("https://lists.example/meta");
        assert_eq!(
            redirect_refusal(&from, &url("https://lists.example/v2/meta")),
            None
        );
        let other = redirect_refusal(&from, &url("https://evil.test/meta")).unwrap();
        assert!(other.contains("another host (evil.test)"), "{other}");
        let down = redirect_refusal(&from, &url("http://lists.example/meta")).unwrap();
        assert!(down.contains("from HTTPS to HTTP"), "{down}");
        let up = redirect_refusal(
            &url("http://lists.example/a"),
            &url("https://lists.example/a"),
        );
        assert_eq!(up, None);
    }
}
