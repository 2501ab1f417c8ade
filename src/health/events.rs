//! BinderHub's build event stream, `GET /build/PROVIDER/SPEC` with
//! `Accept: text/event-stream` (binderhub/builder.py, `BuildHandler`).
//!
//! Each event is `data: {json}` and a blank line; `:keepalive` comment
//! lines come every 25 seconds. The JSON has a `phase` (`waiting`,
//! `fetching`, `building`, `pushing`, `built`, `launching`, `ready`,
//! `failed`; repo2docker's log lines may carry others, such as `unknown`
//! or `failure`, and BinderHub's own JavaScript client lower-cases them)
//! and a `message`, which is a line of the build log. `ready` carries the
//! launched server: `url` (`{hub_url}user/{name}/`), `token` (the server's
//! own token), `image`, `repo_url`. `failed` ends the stream; after
//! `ready` BinderHub keeps the connection open for another minute, so the
//! reader closes it.
//!
//! [`EventStream`] cuts bytes into events as the WHATWG event-stream format
//! says (lines end in LF, CRLF or CR; `:` starts a comment; `data` lines
//! join with LF), with a bound on one event's size; [`parse_event`] reads
//! one into an [`Event`]; [`LogTail`] keeps the build log's last lines.

pub use crate::secret::Secret;
use std::collections::VecDeque;
use std::fmt;

use serde_json::Value;

use super::clip;

/// The largest event (its data and the line being read) accepted. The
/// biggest BinderHub sends is a log line; a megabyte is far beyond one.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// Cuts an event stream into the data of its events, as the bytes arrive.
#[derive(Debug)]
pub struct EventStream {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    /// The last byte was a CR: a LF right after it ends no second line.
    after_cr: bool,
    limit: usize,
}

/// An event larger than the limit: the stream is not read further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTooLarge {
    pub limit: usize,
}

impl fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an event larger than {} KiB (BinderHub's are a log line each)",
            self.limit >> 10
        )
    }
}

impl std::error::Error for EventTooLarge {}

impl EventStream {
    /// A reader that refuses events larger than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        EventStream {
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            after_cr: false,
            limit,
        }
    }

    /// Read `bytes`; the data of every event they complete is added to
    /// `events`, in order. An event past the limit is an error, and so is
    /// everything after it.
    pub fn feed(&mut self, bytes: &[u8], events: &mut Vec<String>) -> Result<(), EventTooLarge> {
        for &byte in bytes {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\n' => self.end_line(events),
                b'\r' => {
                    self.end_line(events);
                    self.after_cr = true;
                }
                _ => {
                    if self.line.len() + self.data.len() >= self.limit {
                        return Err(EventTooLarge { limit: self.limit });
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(())
    }

    fn end_line(&mut self, events: &mut Vec<String>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            // A blank line ends the event.
            if self.has_data {
                let mut data = std::mem::take(&mut self.data);
                if data.last() == Some(&b'\n') {
                    data.pop();
                }
                events.push(String::from_utf8_lossy(&data).into_owned());
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return; // a comment (BinderHub's keepalive)
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (&line[..], &[][..]),
        };
        if field == b"data" {
            self.data.extend_from_slice(value);
            self.data.push(b'\n');
            self.has_data = true;
        }
        // `event`, `id`, `retry` and unknown fields: BinderHub sends none.
    }
}

/// A build phase, lower-cased as BinderHub's client does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    Fetching,
    Building,
    Pushing,
    Built,
    Launching,
    Ready,
    Failed,
    /// Any other (`unknown`, repo2docker's `failure`, a fake builder's
    /// `pending`), as sent, lower-cased.
    Other(String),
}

impl Phase {
    pub fn parse(text: &str) -> Phase {
        let lower = text.trim().to_ascii_lowercase();
        match lower.as_str() {
            "waiting" => Phase::Waiting,
            "fetching" => Phase::Fetching,
            "building" => Phase::Building,
            "pushing" => Phase::Pushing,
            "built" => Phase::Built,
            "launching" => Phase::Launching,
            "ready" => Phase::Ready,
            "failed" => Phase::Failed,
            _ => Phase::Other(clip(&lower, 40)),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Fetching => "fetching",
            Phase::Building => "building",
            Phase::Pushing => "pushing",
            Phase::Built => "built",
            Phase::Launching => "launching",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
            Phase::Other(other) => other,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The server a `ready` event announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// `{hub_url}user/{name}/` (see [`super::urls::ServerUrl`]).
    pub url: String,
    /// The server's own token (the Jupyter server's, not a hub API token).
    pub token: Secret,
    /// The image it runs.
    pub image: Option<String>,
}

/// One event of the stream, as `check --launch` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step on the way, or a line of the build log.
    Progress {
        phase: Option<Phase>,
        message: Option<String>,
    },
    /// The server is running.
    Ready {
        launched: Launched,
        message: Option<String>,
    },
    /// The build or the launch failed; BinderHub sends nothing more.
    Failed {
        message: Option<String>,
        /// Set when BinderHub turned an HTTP error into the event.
        status_code: Option<u16>,
    },
}

/// Read one event's data. An error says why it is not one of BinderHub's
/// events (the data itself is not repeated: it can be large).
pub fn parse_event(data: &str) -> Result<Event, String> {
    let value: Value =
        serde_json::from_str(data).map_err(|e| format!("an event that is not JSON ({e})"))?;
    let object = value
        .as_object()
        .ok_or("an event that is not a JSON object")?;
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let phase = text("phase").map(Phase::parse);
    let message = text("message").map(str::to_string);
    match phase {
        Some(Phase::Ready) => {
            let url = text("url").filter(|u| !u.is_empty()).ok_or(
                "a ready event without the server's url (was the build requested with build_only?)",
            )?;
            let token = text("token")
                .filter(|t| !t.is_empty())
                .ok_or("a ready event without the server's token")?;
            Ok(Event::Ready {
                launched: Launched {
                    url: url.to_string(),
                    token: Secret::new(token),
                    image: text("image").map(|i| clip(i, 300)),
                },
                message,
            })
        }
        Some(Phase::Failed) => Ok(Event::Failed {
            message,
            status_code: object
                .get("status_code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok()),
        }),
        phase => Ok(Event::Progress { phase, message }),
    }
}

/// `text` without the terminal's CSI sequences (`ESC [ 31 m`, colours and
/// cursor moves that build tools write into their logs); any other control
/// character stays, for the printer to escape.
pub fn without_colours(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\x1b') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte.
            for next in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&next) {
                    break;
                }
                if !('\x20'..='\x3f').contains(&next) {
                    break; // not a CSI sequence after all: drop what was read
                }
            }
            continue;
        }
        out.push(c);
    }
    std::borrow::Cow::Owned(out)
}

/// The longest log line kept (longer ones are clipped).
pub const MAX_LOG_LINE_CHARS: usize = 300;

/// The last lines of the build log, a bounded ring: what a failed build
/// shows.
#[derive(Debug, Clone)]
pub struct LogTail {
    lines: VecDeque<String>,
    keep: usize,
    dropped: usize,
}

impl LogTail {
    /// Keep the last `keep` lines.
    pub fn new(keep: usize) -> Self {
        LogTail {
            lines: VecDeque::with_capacity(keep.min(64)),
            keep,
            dropped: 0,
        }
    }

    /// Add a message: each of its lines, blank ones left out; of a line
    /// that a terminal would overwrite (`\r`, download progress) only the
    /// last state.
    pub fn push(&mut self, message: &str) {
        for line in message.split('\n') {
            let shown = line.rsplit('\r').find(|part| !part.trim().is_empty());
            let Some(shown) = shown else { continue };
            if self.keep == 0 {
                self.dropped += 1;
                continue;
            }
            if self.lines.len() == self.keep {
                self.lines.pop_front();
                self.dropped += 1;
            }
            let shown = without_colours(shown);
            self.lines
                .push_back(clip(shown.trim_end(), MAX_LOG_LINE_CHARS));
        }
    }

    /// The lines kept, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }

    /// How many earlier lines are no longer kept.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(stream: &mut EventStream, chunks: &[&[u8]]) -> Vec<String> {
        let mut events = Vec::new();
        for chunk in chunks {
            stream.feed(chunk, &mut events).unwrap();
        }
        events
    }

    #[test]
    fn cuts_binderhubs_stream_into_events() {
        let mut stream = EventStream::new(MAX_EVENT_BYTES);
        let events = feed_all(
            &mut stream,
            &[
                b"data: {\"phase\": \"waiting\", \"message\": \"Waiting for build to start...\\n\"}\n\n",
                b":keepalive\n\n",
                b"data: {\"phase\": \"building\"}\n\ndata: {\"pha",
                b"se\": \"built\"}\n",
                b"\n",
            ],
        );
        assert_eq!(
            events,
            [
                r#"{"phase": "waiting", "message": "Waiting for build to start...\n"}"#,
                r#"{"phase": "building"}"#,
                r#"{"phase": "built"}"#,
            ]
        );
    }

    #[test]
    fn every_line_ending_and_joined_data_lines() {
        let mut stream = EventStream::new(MAX_EVENT_BYTES);
        // CRLF split between chunks, a lone CR, data over two lines, a
        // field without a colon, an unknown field, no space after the colon.
        let events = feed_all(
            &mut stream,
            &[
                b"data: one\r",
                b"\n\r\n",
                b"data:two\rdata: three\r\r",
                b"event: message\nid: 7\ndata\nretry: 10\n\n",
                b"data: {\"a\":\n",
                b"data: 1}\n\n",
            ],
        );
        assert_eq!(events, ["one", "two\nthree", "", "{\"a\":\n1}"]);
    }

    #[test]
    fn an_unfinished_event_is_not_an_event() {
        let mut stream = EventStream::new(MAX_EVENT_BYTES);
        let events = feed_all(&mut stream, &[b"data: {\"phase\": \"ready\"}\n"]);
        assert!(events.is_empty());
        // Comments and blank lines alone make no events either.
        assert!(feed_all(&mut EventStream::new(64), &[b":a\n\n\n\r\n:b\n\n"]).is_empty());
    }

    #[test]
    fn an_oversized_event_is_refused_whole_lines_or_not() {
        let mut stream = EventStream::new(16);
        let mut events = Vec::new();
        let err = stream
            .feed(b"data: 0123456789abcdef", &mut events)
            .unwrap_err();
        assert_eq!(err, EventTooLarge { limit: 16 });
        // Several data lines count together.
        let mut stream = EventStream::new(16);
        assert!(stream
            .feed(b"data: 0123456\ndata: 789abcdef\n", &mut events)
            .is_err());
        // Up to the limit is fine, and the limit is per event.
        let mut stream = EventStream::new(16);
        for _ in 0..100 {
            stream.feed(b"data: 0123456\n\n", &mut events).unwrap();
        }
        assert_eq!(events.len(), 100);
        assert!(EventTooLarge { limit: 1 << 20 }
            .to_string()
            .contains("1024 KiB"));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut stream = EventStream::new(64);
        let events = feed_all(&mut stream, &[b"data: \xff\xfe\n\n"]);
        assert_eq!(events, ["\u{fffd}\u{fffd}"]);
        assert!(parse_event(&events[0]).is_err());
    }

    #[test]
    fn reads_binderhubs_events() {
        assert_eq!(
            parse_event(r#"{"phase": "waiting", "message": "Waiting for build to start...\n"}"#)
                .unwrap(),
            Event::Progress {
                phase: Some(Phase::Waiting),
                message: Some("Waiting for build to start...\n".into())
            }
        );
        // repo2docker's log lines, phases in any case, or none.
        assert_eq!(
            parse_event(r#"{"phase": "Building", "message": "Step 1/10\n"}"#).unwrap(),
            Event::Progress {
                phase: Some(Phase::Building),
                message: Some("Step 1/10\n".into())
            }
        );
        assert_eq!(
            parse_event(r#"{"phase": "failure", "message": "exit 1\n"}"#).unwrap(),
            Event::Progress {
                phase: Some(Phase::Other("failure".into())),
                message: Some("exit 1\n".into())
            }
        );
        assert_eq!(
            parse_event(r#"{"message": "no phase"}"#).unwrap(),
            Event::Progress {
                phase: None,
                message: Some("no phase".into())
            }
        );
        assert_eq!(
            parse_event(r#"{"phase": "failed", "status_code": 403, "message": "Forbidden\n"}"#)
                .unwrap(),
            Event::Failed {
                message: Some("Forbidden\n".into()),
                status_code: Some(403)
            }
        );
    }

    #[test]
    fn the_ready_event_carries_url_and_token() {
        let event = parse_event(
            r#"{"phase": "ready", "message": "server running at http://hub.example/user/binder-examples-requirements-x1y2z3/\n",
                "image": "registry.example/binder-build:abc", "repo_url": "https://github.com/binder-examples/requirements",
                "token": "tok-ABC", "binder_ref_url": "https://github.com/binder-examples/requirements/tree/abc",
                "url": "http://hub.example/user/binder-examples-requirements-x1y2z3/"}"#,
        )
        .unwrap();
        let Event::Ready { launched, .. } = event else {
            panic!("not ready: {event:?}");
        };
        assert_eq!(
            launched.url,
            "http://hub.example/user/binder-examples-requirements-x1y2z3/"
        );
        assert_eq!(launched.token.expose(), "tok-ABC");
        assert_eq!(
            launched.image.as_deref(),
            Some("registry.example/binder-build:abc")
        );
        // The token never shows in a debug print.
        let debug = format!("{launched:?}");
        assert!(!debug.contains("tok-ABC"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
    }

    #[test]
    fn a_ready_event_without_url_or_token_is_an_error() {
        let err = parse_event(r#"{"phase": "ready", "imageName": "x"}"#).unwrap_err();
        assert!(err.contains("without the server's url"), "{err}");
        let err =
            parse_event(r#"{"phase": "ready", "url": "http://hub.example/user/a/"}"#).unwrap_err();
        assert!(err.contains("without the server's token"), "{err}");
        assert!(parse_event("[1]")
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(parse_event("phase: ready")
            .unwrap_err()
            .contains("not JSON"));
    }

    #[test]
    fn colours_are_dropped_other_controls_kept() {
        assert_eq!(without_colours("plain"), "plain");
        assert_eq!(
            without_colours("\x1b[1;31mERROR\x1b[0m: pip failed\x1b[K"),
            "ERROR: pip failed"
        );
        assert_eq!(without_colours("a\x1b]0;title\x07b"), "a\x1b]0;title\x07b");
        assert_eq!(without_colours("cut \x1b["), "cut ");
        let mut log = LogTail::new(2);
        log.push("\x1b[32mStep 1/2\x1b[0m\n");
        assert_eq!(log.lines(), ["Step 1/2"]);
    }

    #[test]
    fn the_log_tail_keeps_the_last_lines() {
        let mut log = LogTail::new(3);
        log.push("Step 1/5\nStep 2/5\n");
        log.push("\n\n");
        log.push("Downloading 10%\rDownloading 100%\r\n");
        log.push("Step 3/5");
        log.push("Step 4/5\n");
        assert_eq!(log.lines(), ["Downloading 100%", "Step 3/5", "Step 4/5"]);
        assert_eq!(log.dropped(), 2);
        let mut long = LogTail::new(1);
        long.push(&"y".repeat(10_000));
        assert_eq!(long.lines()[0].chars().count(), MAX_LOG_LINE_CHARS + 3);
        let mut none = LogTail::new(0);
        none.push("a\nb");
        assert!(none.lines().is_empty());
        assert_eq!(none.dropped(), 2);
    }
}
