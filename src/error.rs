//! How failures reach the operator: one message per problem on stderr and an
//! exit code that scripts can rely on.
//!
//! Exit codes: 0 success; 1 `render --check` found that the output would
//! change; 2 any error; an external tool's own non-zero code when it failed;
//! 130 when interrupted.

use std::fmt;
use std::path::Path;

/// `text` with its control characters, other than those in `keep`, written
/// as escapes (`\r`, `\x1b`): a file name, an image reference or a tool's
/// answer inside a message or a table cell can then neither move the cursor,
/// recolour the terminal, nor start a line of its own.
pub fn without_controls<'a>(text: &'a str, keep: &str) -> std::borrow::Cow<'a, str> {
    let hidden = |c: char| c.is_control() && !keep.contains(c);
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            _ if !hidden(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A path as messages show it: [`Path::display`] with control characters
/// escaped, so a file name can neither start a line of its own nor drive
/// the terminal.
pub trait ShownPath {
    fn shown(&self) -> Shown<'_>;
}

impl ShownPath for Path {
    fn shown(&self) -> Shown<'_> {
        Shown(self)
    }
}

/// See [`ShownPath`].
pub struct Shown<'a>(&'a Path);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&without_controls(&self.0.display().to_string(), ""))
    }
}

/// What a successful command has to say to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; exit 0.
    Success,
    /// `--check` found differences; exit 1.
    Changed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Changed => 1,
        }
    }
}

/// Several independent problems found at once (every unresolvable host,
/// every bad key), reported one per line.
#[derive(Debug)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(p)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// An external command exited non-zero; binderctl exits with the same code.
#[derive(Debug)]
pub struct ToolFailed {
    /// The command line, shell-quoted, for the message.
    pub command: String,
    /// The child's exit code (128 + signal when it was killed).
    pub code: i32,
    /// What it printed on stdout before it failed: what a batch did get
    /// done (`pod/x deleted`) before the server went away.
    pub printed: String,
}

impl fmt::Display for ToolFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` failed with exit code {}", self.command, self.code)
    }
}

impl std::error::Error for ToolFailed {}

/// The operator pressed Ctrl-C (or the process got SIGINT/SIGTERM).
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// The operator declined (or did not answer) a confirmation: nothing was
/// done, and a script must not go on as if it had been (exit 2).
#[derive(Debug)]
pub struct NotConfirmed(pub String);

impl fmt::Display for NotConfirmed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not confirmed; {}", self.0)
    }
}

impl std::error::Error for NotConfirmed {}

/// The exit code for an error.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(failed) = err.downcast_ref::<ToolFailed>() {
        return u8::try_from(failed.code)
            .ok()
            .filter(|c| *c != 0)
            .unwrap_or(2);
    }
    if err.downcast_ref::<Interrupted>().is_some() {
        return 130;
    }
    2
}

/// An error and its causes, "outer: inner: innermost", skipping a cause
/// its outer message already holds (reqwest's own message is terse).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_failure_propagates_its_code() {
        let err = anyhow::Error::new(ToolFailed {
            command: "helm x".into(),
            code: 3,
            printed: String::new(),
        });
        assert_eq!(exit_code(&err), 3);
        let err = anyhow::Error::new(ToolFailed {
            command: "helm x".into(),
            code: 300,
            printed: String::new(),
        });
        assert_eq!(exit_code(&err), 2);
    }

    #[test]
    fn other_errors_exit_2_and_interrupts_130() {
        assert_eq!(exit_code(&anyhow::anyhow!("bad")), 2);
        assert_eq!(exit_code(&anyhow::Error::new(Interrupted)), 130);
        let ctx = anyhow::Error::new(Interrupted).context("while waiting");
        assert_eq!(exit_code(&ctx), 130);
    }

    #[test]
    fn a_declined_confirmation_exits_2() {
        let err = anyhow::Error::new(NotConfirmed("nothing deleted".into()));
        assert_eq!(exit_code(&err), 2);
        assert_eq!(err.to_string(), "not confirmed; nothing deleted");
    }

    #[test]
    fn problems_print_one_per_line() {
        let p = Problems(vec!["a: bad".into(), "b: worse".into()]);
        assert_eq!(p.to_string(), "a: bad\nb: worse");
    }
}
