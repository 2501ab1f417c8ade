//! What binderctl is about to run, as data: command lines and ordered plans.
//!
//! Pure: building a plan runs nothing. Subcommands build a [`Plan`] and hand
//! it to the runner, which either prints it (`--dry-run`) or runs it; unit
//! tests check the plan itself.

use std::borrow::Cow;
use std::fmt;

/// One external command: a program and its arguments, passed as argv (never
/// through a shell). `Display` gives the shell-quoted form an operator can
/// paste into a terminal, with the credentials of any URL in it (a chart
/// repository's `https://user:token@host/`) shown as `***`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: String,
    pub args: Vec<String>,
}

impl CommandLine {
    pub fn new(program: impl Into<String>) -> Self {
        CommandLine {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// Append one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Append several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Program and arguments as one list, the way `execve` sees them.
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_quote(&self.program))?;
        for arg in &self.args {
            f.write_str(" ")?;
            f.write_str(&shell_quote(&without_url_credentials(arg)))?;
        }
        Ok(())
    }
}

/// `word` with the user information of a URL in it (`scheme://USER:PASS@host`)
/// replaced by `***`; other words unchanged.
pub fn without_url_credentials(word: &str) -> Cow<'_, str> {
    let Some(scheme_end) = word.find("://") else {
        return Cow::Borrowed(word);
    };
    let authority_start = scheme_end + 3;
    let rest = word.get(authority_start..).unwrap_or_default();
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or_default();
    match authority.rfind('@') {
        Some(at) => Cow::Owned(format!(
            "{}***{}",
            word.get(..authority_start).unwrap_or_default(),
            word.get(authority_start + at..).unwrap_or_default()
        )),
        None => Cow::Borrowed(word),
    }
}

/// Quote a word for a POSIX shell, only when needed: words made of
/// characters no shell treats specially stay as they are; anything else is
/// put in single quotes, with each `'` written as `'\''`.
pub fn shell_quote(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=+./:,@%".contains(c));
    if plain {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub command: CommandLine,
    /// What the step does, for the operator ("deleting pods 1-50 of 120").
    pub description: Option<String>,
    /// A long wait (Helm upgrade, rollout, namespace deletion): the runner
    /// shows an elapsed-time ticker while it runs, on a terminal only.
    pub progress: bool,
    /// Text for the command's standard input (`kubectl apply -f -`);
    /// without it stdin is closed.
    pub stdin: Option<String>,
}

impl Step {
    pub fn new(command: CommandLine) -> Self {
        Step {
            command,
            description: None,
            progress: false,
            stdin: None,
        }
    }

    /// Give the command `text` on its standard input.
    pub fn with_stdin(mut self, text: impl Into<String>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    pub fn described(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    pub fn with_progress(mut self) -> Self {
        self.progress = true;
        self
    }
}

/// Commands to run in order; the runner stops at the first failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn new() -> Self {
        Plan::default()
    }

    /// Append a step.
    pub fn push(&mut self, step: Step) -> &mut Self {
        self.steps.push(step);
        self
    }

    /// Append a bare command.
    pub fn push_command(&mut self, command: CommandLine) -> &mut Self {
        self.push(Step::new(command))
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// One step per batch of at most `batch` items and [`MAX_BATCH_BYTES`]
    /// of them: `base` with the batch's items appended, described as
    /// "`verb` `noun` FIRST-LAST of TOTAL".
    pub fn batched(
        base: &CommandLine,
        items: &[String],
        batch: usize,
        verb: &str,
        noun: &str,
    ) -> Plan {
        let total = items.len();
        let mut plan = Plan::new();
        let mut first = 1;
        for chunk in chunks_within(items, batch.max(1), MAX_BATCH_BYTES) {
            let last = first + chunk.len() - 1;
            let command = base.clone().args(chunk.iter().cloned());
            plan.push(
                Step::new(command).described(format!("{verb} {noun} {first}-{last} of {total}")),
            );
            first = last + 1;
        }
        plan
    }

    /// The command lines, in order.
    pub fn commands(&self) -> impl Iterator<Item = &CommandLine> {
        self.steps.iter().map(|s| &s.command)
    }

    /// What `--dry-run` prints: one shell-quoted command per line.
    pub fn render(&self) -> String {
        self.commands().map(|c| format!("{c}\n")).collect()
    }
}

/// The most bytes of items one batched command carries (each counted with
/// its terminating NUL and its argv pointer): far below Linux's 2 MiB limit
/// on argv and environment together, so a batch never fails to start.
pub const MAX_BATCH_BYTES: usize = 96 * 1024;

/// `items` in order, in runs of at most `count` items and `bytes` bytes
/// (an item bigger than `bytes` alone goes alone).
fn chunks_within(items: &[String], count: usize, bytes: usize) -> Vec<&[String]> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let cost = item.len() + 1 + std::mem::size_of::<usize>();
        if i > start && (i - start == count || size + cost > bytes) {
            chunks.extend(items.get(start..i));
            (start, size) = (i, 0);
        }
        size += cost;
    }
    if start < items.len() {
        chunks.extend(items.get(start..));
    }
    chunks
}

impl From<Vec<Step>> for Plan {
    fn from(steps: Vec<Step>) -> Self {
        Plan { steps }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_never_shown() {
        let line = CommandLine::new("helm").args([
            "repo",
            "add",
            "jupyterhub",
            "https://lab:s3cret@charts.example/jupyterhub/?x=1",
        ]);
        let shown = line.to_string();
        assert_eq!(
            shown,
            "helm repo add jupyterhub 'https://***@charts.example/jupyterhub/?x=1'"
        );
        assert!(!shown.contains("s3cret"));
        assert_eq!(
            line.args[3],
            "https://lab:s3cret@charts.example/jupyterhub/?x=1"
        );
        for plain in [
            "https://charts.example/a@b",
            "registry.example/lab@sha256:00",
            "user@host.example",
            "--set=a=b",
        ] {
            assert_eq!(without_url_credentials(plain), plain);
        }
        assert_eq!(
            without_url_credentials("oci://t@o:k@registry.example"),
            "oci://***@registry.example"
        );
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let items: Vec<String> = (0..10).map(|i| format!("{i:0>1000}")).collect();
        let sizes = |count, bytes| -> Vec<usize> {
            chunks_within(&items, count, bytes)
                .iter()
                .map(|c| c.len())
                .collect()
        };
        assert_eq!(sizes(4, usize::MAX), [4, 4, 2]);
        // 1,009 bytes each: three fit in 3,100 bytes.
        assert_eq!(sizes(50, 3_100), [3, 3, 3, 1]);
        assert_eq!(sizes(50, 10), [1; 10], "an oversized item goes alone");
        let long: Vec<String> = (0..2_000).map(|i| format!("jupyter-{i:0>60}")).collect();
        let plan = Plan::batched(
            &CommandLine::new("kubectl"),
            &long,
            5_000,
            "Deleting",
            "pods",
        );
        assert!(plan.len() > 1);
        let carried: usize = plan.steps.iter().map(|s| s.command.args.len()).sum();
        assert_eq!(carried, 2_000);
        for step in &plan.steps {
            let bytes: usize = step.command.args.iter().map(|a| a.len() + 9).sum();
            assert!(bytes <= MAX_BATCH_BYTES, "{bytes}");
        }
    }

    #[test]
    fn plain_words_stay_unquoted() {
        for word in [
            "kubectl",
            "--namespace=binder",
            "jupyter-a1b2",
            "k8s.io",
            "registry.example/x/y:1.0",
            "a,b",
            "u@h",
        ] {
            assert_eq!(shell_quote(word), word);
        }
    }

    #[test]
    fn special_words_are_single_quoted() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("x;rm -rf /"), "'x;rm -rf /'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("~/x"), "'~/x'");
        assert_eq!(shell_quote("a*"), "'a*'");
        assert_eq!(shell_quote("line\nbreak"), "'line\nbreak'");
        assert_eq!(shell_quote("grüße"), "'grüße'");
    }

    #[test]
    fn command_line_displays_quoted_argv() {
        let cmd = CommandLine::new("microk8s")
            .args(["kubectl", "get", "pods"])
            .arg("-l")
            .arg("app in (a, b)");
        assert_eq!(
            cmd.to_string(),
            "microk8s kubectl get pods -l 'app in (a, b)'"
        );
        assert_eq!(
            cmd.argv(),
            vec!["microk8s", "kubectl", "get", "pods", "-l", "app in (a, b)"]
        );
    }

    #[test]
    fn plan_renders_one_command_per_line_in_order() {
        let mut plan = Plan::new();
        plan.push_command(CommandLine::new("helm").args(["delete", "binder"]));
        plan.push(
            Step::new(CommandLine::new("kubectl").args(["delete", "namespace", "my ns"]))
                .described("x")
                .with_progress(),
        );
        assert_eq!(plan.len(), 2);
        assert_eq!(
            plan.render(),
            "helm delete binder\nkubectl delete namespace 'my ns'\n"
        );
        assert!(plan.steps[1].progress);
        assert!(!plan.steps[0].progress);
        assert!(Plan::new().is_empty());
        assert_eq!(Plan::new().render(), "");
    }
}
