//! Asking the operator before destructive work.
//!
//! Questions go to stderr and answers come from stdin, and only when stdin is
//! a terminal: a script that did not pass `--yes` is refused rather than
//! silently confirmed or silently skipped.

use std::io::{self, BufRead, IsTerminal, Write};

use anyhow::{bail, Result};

use crate::error::Interrupted;

/// Ask `question` and wait for y/N. `assume_yes` (`--yes`) answers yes
/// without asking. Without a terminal on stdin this is an error telling the
/// operator to pass `--yes`. Ctrl-C while waiting gives [`Interrupted`].
pub async fn confirm(question: &str, assume_yes: bool) -> Result<bool> {
    if assume_yes {
        return Ok(true);
    }
    require_terminal(&format!("ask {question:?}"))?;
    let question = question.to_string();
    ask_on_terminal(move |input, output| ask_yes_no(input, output, &question)).await
}

/// Ask the operator to type `expected` (e.g. the namespace name) to go ahead;
/// anything else is a no. `assume_yes` skips the question; without a terminal
/// this is an error telling the operator to pass `--yes`.
pub async fn confirm_typed(prompt: &str, expected: &str, assume_yes: bool) -> Result<bool> {
    if assume_yes {
        return Ok(true);
    }
    require_terminal(&format!("ask for {expected:?} to be typed to confirm"))?;
    let (prompt, expected) = (prompt.to_string(), expected.to_string());
    ask_on_terminal(move |input, output| ask_typed(input, output, &prompt, &expected)).await
}

fn require_terminal(what: &str) -> Result<()> {
    if io::stdin().is_terminal() {
        return Ok(());
    }
    bail!("cannot {what}: standard input is not a terminal; pass --yes to go ahead without asking")
}

/// Run a blocking question on a plain thread (not the runtime's blocking
/// pool, which would keep the process alive after an interrupt), racing it
/// against Ctrl-C.
async fn ask_on_terminal<F>(ask: F) -> Result<bool>
where
    F: FnOnce(&mut dyn BufRead, &mut dyn Write) -> io::Result<bool> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        let mut output = io::stderr();
        let _ = tx.send(ask(&mut input, &mut output));
    });
    tokio::select! {
        answer = rx => match answer {
            Ok(result) => Ok(result.map_err(|e| anyhow::anyhow!("cannot read the answer from the terminal: {e}"))?),
            Err(_) => bail!("cannot read the answer from the terminal"),
        },
        () = crate::cluster::runner::interrupted() => {
            crate::output::stderr_bytes(b"\n");
            Err(Interrupted.into())
        }
    }
}

/// Whether an answer means yes: `y` or `yes`, any case; everything else,
/// including an empty line, is no.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Write `question [y/N] ` to `output`, read one line from `input`.
/// End of input counts as no.
pub fn ask_yes_no(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    question: &str,
) -> io::Result<bool> {
    write!(output, "{question} [y/N] ")?;
    output.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(is_yes(&line))
}

/// Write `prompt` (if any) on its own line and ask for `expected` to be
/// typed exactly (surrounding blanks ignored). End of input counts as no.
pub fn ask_typed(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    prompt: &str,
    expected: &str,
) -> io::Result<bool> {
    if !prompt.is_empty() {
        writeln!(output, "{prompt}")?;
    }
    write!(output, "Type {expected:?} to confirm: ")?;
    output.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(line.trim() == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yes_no(answer: &str) -> (bool, String) {
        let mut out = Vec::new();
        let ok = ask_yes_no(&mut answer.as_bytes(), &mut out, "Delete 3 pods?").unwrap();
        (ok, String::from_utf8(out).unwrap())
    }

    #[test]
    fn only_y_or_yes_confirms() {
        for answer in ["y\n", "Y\n", "yes\n", " YES \n", "y"] {
            assert!(yes_no(answer).0, "{answer:?}");
        }
        for answer in ["\n", "", "n\n", "no\n", "yess\n", "ja\n", "y es\n"] {
            assert!(!yes_no(answer).0, "{answer:?}");
        }
        assert_eq!(yes_no("y\n").1, "Delete 3 pods? [y/N] ");
    }

    #[test]
    fn typed_confirmation_needs_the_exact_name() {
        let ask = |answer: &str| {
            let mut out = Vec::new();
            let ok = ask_typed(&mut answer.as_bytes(), &mut out, "Uninstall?", "binder").unwrap();
            (ok, String::from_utf8(out).unwrap())
        };
        assert!(ask("binder\n").0);
        assert!(ask("  binder  \n").0);
        for answer in ["", "\n", "y\n", "yes\n", "Binder\n", "binder2\n", "bin\n"] {
            assert!(!ask(answer).0, "{answer:?}");
        }
        assert_eq!(
            ask("binder\n").1,
            "Uninstall?\nType \"binder\" to confirm: "
        );
    }

    #[tokio::test]
    async fn assume_yes_never_asks() {
        assert!(confirm("Delete?", true).await.unwrap());
        assert!(confirm_typed("Uninstall?", "binder", true).await.unwrap());
    }
}
