//! Output: everything binderctl prints goes through here. Data on stdout,
//! messages, warnings, progress and errors on stderr; the quiet and verbose
//! modes; plain ASCII under a non-UTF-8 locale; control characters in
//! messages and table cells escaped; closed pipes. May depend on
//! `error` (the escaping of names) and
//! `values::write` (the one YAML writer, for `-o yaml`).
//!
//! A closed pipe is never a panic: once stdout's reader is gone (EPIPE,
//! `binderctl pods ls | head -1`) nothing more is written there and the
//! command ends with the exit code its work deserves, as rg does; any other
//! stdout failure (`> /dev/full`) is remembered and reported at the end
//! (exit 2). stderr write failures are ignored: there is nowhere left to
//! report them.

pub mod format;
pub mod size;
pub mod table;

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

static QUIET: AtomicBool = AtomicBool::new(false);
static VERBOSE: AtomicBool = AtomicBool::new(false);
/// 0: not decided yet, 1: UTF-8 locale, 2: ASCII only.
static CHARSET: AtomicU8 = AtomicU8::new(0);
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDOUT_FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// Set the modes from the global options; call once, before printing.
pub fn init(quiet: bool, verbose: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
    VERBOSE.store(verbose, Ordering::Relaxed);
}

/// `-q`: only errors (and results on stdout) are printed.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// `-v`: each external command is printed before it runs.
pub fn is_verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Whether the locale (LC_ALL, else LC_CTYPE, else LANG, as the C library
/// decides) is UTF-8. Unset means the C locale, which is ASCII.
pub fn locale_is_utf8(lookup: impl Fn(&str) -> Option<String>) -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|name| lookup(name))
        .find(|value| !value.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase();
    locale.contains("utf-8") || locale.contains("utf8")
}

fn ascii_only() -> bool {
    match CHARSET.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let utf8 = locale_is_utf8(|name| std::env::var(name).ok());
            CHARSET.store(if utf8 { 1 } else { 2 }, Ordering::Relaxed);
            !utf8
        }
    }
}

/// binderctl's own message text for the terminal: `→` and `…` become `->`
/// and `...` where the locale cannot show them (cron mail under C).
pub fn for_terminal(text: &str) -> String {
    if ascii_only() {
        plain_ascii(text)
    } else {
        text.to_string()
    }
}

/// The ASCII spelling of the symbols binderctl's messages use.
pub fn plain_ascii(text: &str) -> String {
    text.replace('→', "->")
        .replace('…', "...")
        .replace('—', "--")
}

/// The arrow between what went in and what came out.
pub fn arrow() -> &'static str {
    if ascii_only() {
        "->"
    } else {
        "→"
    }
}

/// `1 pod`, `2 pods`: a count with its noun in the right number.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Data on stdout, exactly as given (tables, YAML, JSON, a token).
pub fn data(text: &str) {
    stdout_bytes(text.as_bytes());
}

/// One line of data on stdout.
pub fn data_line(line: &str) {
    data(&format!("{line}\n"));
}

/// Bytes on stdout (a child's output passed through). Once the reader is
/// gone, or writing failed, nothing more is written.
pub fn stdout_bytes(bytes: &[u8]) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|_| out.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            let mut failure = STDOUT_FAILURE.lock().unwrap_or_else(|e| e.into_inner());
            failure.get_or_insert_with(|| e.to_string());
        }
    }
}

/// stdout as a writer for code that writes to any `Write` (and is tested
/// with a buffer); writes go through [`stdout_bytes`] and never fail.
pub struct StdoutWriter;

impl Write for StdoutWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        stdout_bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether stdout's reader has gone or stdout failed: a read command may
/// stop early, its output would go nowhere.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Why writing to stdout failed, other than its reader going away
/// (`> /dev/full`): the output is lost, which is an error.
pub fn stdout_failure() -> Option<String> {
    STDOUT_FAILURE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Bytes on stderr, ignoring failures.
pub fn stderr_bytes(bytes: &[u8]) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(bytes).and_then(|_| err.flush());
}

fn stderr_message(line: &str) {
    stderr_bytes(format!("{}\n", for_terminal(&without_controls(line, "\n\t"))).as_bytes());
}

pub use crate::error::without_controls;

/// A message for the operator on stderr (what is happening, what was done,
/// hints); dropped with `-q`.
pub fn info(line: &str) {
    if !is_quiet() {
        stderr_message(line);
    }
}

/// A warning on stderr, `binderctl: warning: ` first; dropped with `-q`.
pub fn warn(message: &str) {
    if !is_quiet() {
        stderr_message(&format!("binderctl: warning: {message}"));
    }
}

/// A warning `-q` never drops: what an operator running from cron must
/// hear (the allow-list restricts nothing), `binderctl: warning: ` first.
pub fn alert(message: &str) {
    stderr_message(&format!("binderctl: warning: {message}"));
}

/// An error on stderr, every line prefixed; always printed. A leading
/// `error: ` of the message itself is not repeated.
pub fn error(message: &str) {
    for line in message.lines() {
        let line = line.strip_prefix("error: ").unwrap_or(line);
        stderr_message(&format!("binderctl: error: {line}"));
    }
}

/// The command about to run, with `-v` (`+ microk8s kubectl get pods ...`).
pub fn command(shell_quoted: &str) {
    if is_verbose() {
        stderr_message(&format!("+ {shell_quoted}"));
    }
}

/// A failed tool's own message, as it printed it (a newline added if
/// missing); always shown, it is part of the error.
pub fn tool_stderr(text: &str) {
    if text.is_empty() {
        return;
    }
    let mut text = without_controls(text, "\n\t").into_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    stderr_bytes(text.as_bytes());
}

/// Whether stderr is a terminal (progress tickers and hints only then).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// Whether a progress ticker may be drawn: stderr is a terminal and not `-q`.
pub fn show_progress() -> bool {
    !is_quiet() && stderr_is_terminal()
}

/// The ticker line, redrawn in place on stderr.
pub fn progress_tick(text: &str) {
    stderr_bytes(format!("\r\x1b[2K{}", for_terminal(text)).as_bytes());
}

/// Erase the ticker line.
pub fn progress_clear() {
    stderr_bytes(b"\r\x1b[2K");
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_but_kept_ones_stay() {
        assert_eq!(without_controls("plain text", ""), "plain text");
        assert_eq!(
            without_controls("a\x1b[2Jb\rc\u{9b}d\ne\tf", "\n\t"),
            "a\\x1b[2Jb\\rc\\x9bd\ne\tf"
        );
        assert_eq!(without_controls("x\ny\tz\u{7f}", ""), "x\\ny\\tz\\x7f");
    }

    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn locale_follows_lc_all_then_lc_ctype_then_lang() {
        assert!(!locale_is_utf8(env(&[])));
        assert!(!locale_is_utf8(env(&[("LANG", "C")])));
        assert!(locale_is_utf8(env(&[("LANG", "en_US.UTF-8")])));
        assert!(locale_is_utf8(env(&[("LC_CTYPE", "de_DE.utf8")])));
        assert!(!locale_is_utf8(env(&[
            ("LC_ALL", "C"),
            ("LANG", "en_US.UTF-8")
        ])));
        assert!(locale_is_utf8(env(&[
            ("LC_ALL", ""),
            ("LC_CTYPE", "C.UTF-8"),
            ("LANG", "C")
        ])));
        assert!(!locale_is_utf8(env(&[("LC_ALL", "POSIX")])));
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(plural(1, "image ref", "image refs"), "1 image ref");
        assert_eq!(plural(0, "pod", "pods"), "0 pods");
        assert_eq!(
            plural(2, "newer version", "newer versions"),
            "2 newer versions"
        );
    }

    #[test]
    fn symbols_have_ascii_spellings() {
        assert_eq!(
            plain_ascii("DNS: 2 of 2 hosts → 4 addresses; helm … 3s"),
            "DNS: 2 of 2 hosts -> 4 addresses; helm ... 3s"
        );
        assert!(plain_ascii("→…—").is_ascii());
    }
}
