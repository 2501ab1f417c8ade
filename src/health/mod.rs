//! Health: what BinderHub and JupyterHub answer, read into types, for
//! `binderctl check`. Pure: no I/O, no network, no clock. BinderHub's
//! `/health` and `/versions` documents (`status`), its build event stream
//! (`text/event-stream` with `data: {json}` lines) cut into events and
//! read into typed ones, with a bounded tail of the build log (`events`),
//! the repository `check --launch` builds (`spec`), and the addresses:
//! `--url`, a service's external address, and the launched server's URL
//! taken apart into hub, user and server (`urls`).
//!
//! Depends on nothing else in binderctl (serde_json, and reqwest's `Url`
//! type for parsing only); used by `ops::check` and the value parsers of
//! `cli`.

pub mod events;
pub mod spec;
pub mod status;
pub mod urls;

/// At most `max` characters of `text`, with `...` when cut: what a server
/// sends (a service name, a log line) is shown, never without bound. (Plain
/// dots: results go to stdout, which is not rewritten for the locale.)
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}...", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_at_characters_not_bytes() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("exactly", 7), "exactly");
        assert_eq!(clip("abcdef", 3), "abc...");
        assert_eq!(clip("äöüß", 2), "äö...");
        assert_eq!(clip("", 0), "");
    }
}
