//! The one place where binderctl runs external programs.
//!
//! Programs get argv directly (no shell), stdin is closed (or holds the
//! step's text, for `kubectl apply -f -`), and the child is stopped when
//! binderctl is interrupted; once interrupted, no new command starts.
//! [`Runner::run_to_completion`] is for the one command that must never be
//! killed half-way (`helm upgrade`): the interrupt is passed on to it and
//! binderctl waits for it to end. Two kinds of calls:
//! - [`Runner::execute`] runs a [`Plan`] of commands that change things; with
//!   `--dry-run` it prints them instead, shell-quoted, one per line.
//! - [`Runner::query`] runs a read-only command and returns its output; it
//!   runs in `--dry-run` too, since the plan often depends on the answer.
//!
//! A failing command stops the work: its stderr is shown and the error is a
//! [`ToolFailed`] carrying its exit code, which becomes binderctl's.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;

use crate::cluster::duration::format_age;
use crate::cluster::microk8s;
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::rbac;
use crate::cluster::tools::missing_program_message;
use crate::error::{Interrupted, ToolFailed};
use crate::output;

// The printing helpers live in `crate::output`; these old names stay for
// code not yet moved over.
pub use crate::output::{
    data as stdout_text, data_line as stdout_line, info as stderr_line, stderr_is_terminal,
    tool_stderr as stderr_text,
};

/// How long a child may take to exit on its own after an interrupt (it got
/// the terminal's Ctrl-C too, and Helm uses that time to record the release
/// as failed rather than leave it pending) before it is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);

/// How long to wait for a finished child's output pipes to close (a
/// grandchild may hold them open).
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Runs plans and queries. Cheap to create; holds only the dry-run switch.
#[derive(Debug, Clone, Copy)]
pub struct Runner {
    dry_run: bool,
}

/// Everything a finished command printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Exit code; 128 + signal number when the child was killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Captured {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Whether a failed `kubectl get KIND NAME` said there is no such object.
    pub fn says_not_found(&self) -> bool {
        self.stderr.contains("NotFound") || self.stderr.contains("not found")
    }
}

impl Runner {
    pub fn new(dry_run: bool) -> Self {
        Runner { dry_run }
    }

    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// Run the plan's steps in order, stopping at the first failure. Each
    /// child's stdout and stderr are passed through as they come; the stdout
    /// of each step is also returned, in order. With `--dry-run`, print each
    /// command shell-quoted on stdout, one per line, run nothing and return
    /// an empty list.
    pub async fn execute(&self, plan: &Plan) -> Result<Vec<String>> {
        if self.dry_run {
            check_printed(plan)?;
            stdout_text(&plan.render());
            return Ok(Vec::new());
        }
        let mut outputs = Vec::with_capacity(plan.len());
        for step in &plan.steps {
            outputs.push(self.run_step(step).await?);
        }
        Ok(outputs)
    }

    /// Run the plan's steps, which must not depend on one another (batches
    /// of one deletion), at most `limit` at a time. Every step runs whatever
    /// the others do (except after an interrupt: nothing new starts); each
    /// one's stdout or error comes back in plan order. With `--dry-run`,
    /// print each command in order, run nothing and return empty outputs.
    pub async fn execute_concurrently(&self, plan: &Plan, limit: usize) -> Vec<Result<String>> {
        if self.dry_run {
            if let Err(err) = check_printed(plan) {
                let message = format!("{err:#}");
                return plan
                    .steps
                    .iter()
                    .map(|_| Err(anyhow::anyhow!("{message}")))
                    .collect();
            }
            stdout_text(&plan.render());
            return plan.steps.iter().map(|_| Ok(String::new())).collect();
        }
        let mut results: Vec<Option<Result<String>>> = plan.steps.iter().map(|_| None).collect();
        let mut waiting = plan.steps.iter().cloned().enumerate();
        let mut running = tokio::task::JoinSet::new();
        // Once the API server has not answered one step, none more starts:
        // each would wait out the request timeout in turn.
        let mut gave_up: Option<Unanswered> = None;
        loop {
            while running.len() < limit.max(1) && gave_up.is_none() {
                let Some((index, step)) = waiting.next() else {
                    break;
                };
                running.spawn(async move {
                    (index, run_passing_output(&step, OnInterrupt::Stop).await)
                });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            if let Ok((index, result)) = joined {
                if let Err(err) = &result {
                    gave_up = gave_up.or_else(|| err.downcast_ref::<Unanswered>().copied());
                }
                if let Some(slot) = results.get_mut(index) {
                    *slot = Some(result);
                }
            }
        }
        plan.steps
            .iter()
            .zip(results)
            .map(|(step, result)| {
                result.unwrap_or_else(|| match gave_up {
                    Some(why) => Err(anyhow::anyhow!("not started: {why}")),
                    None => Err(anyhow::anyhow!("`{}` did not finish", step.command)),
                })
            })
            .collect()
    }

    /// Run one step (print it with `--dry-run`) and return its stdout.
    pub async fn run_step(&self, step: &Step) -> Result<String> {
        if self.dry_run {
            microk8s::check_printed(&step.command)?;
            stdout_text(&format!("{}\n", step.command));
            return Ok(String::new());
        }
        run_passing_output(step, OnInterrupt::Stop).await
    }

    /// [`Runner::run_step`] for a command that must not be killed half-way:
    /// on SIGINT or SIGTERM the signal is passed on to it (it runs in its own
    /// process group, so it gets exactly that one) and binderctl waits for
    /// it to end however long it takes. The result is then an
    /// [`Interrupted`] error, whatever the command's exit code.
    pub async fn run_to_completion(&self, step: &Step) -> Result<String> {
        if self.dry_run {
            microk8s::check_printed(&step.command)?;
            stdout_text(&format!("{}\n", step.command));
            return Ok(String::new());
        }
        run_passing_output(step, OnInterrupt::PassOnAndWait).await
    }

    /// Run one long command (`helm upgrade`, `kubectl rollout status`) with
    /// an elapsed-time ticker on stderr when stderr is a terminal; quiet in a
    /// pipe. `label` says what is being waited for. Printed with `--dry-run`.
    pub async fn run_with_progress(&self, command: &CommandLine, label: &str) -> Result<()> {
        let step = Step::new(command.clone()).described(label).with_progress();
        self.run_step(&step).await.map(|_| ())
    }

    /// Run a read-only command (also with `--dry-run`) and return its stdout.
    /// On failure its stderr is shown and the error is a [`ToolFailed`].
    pub async fn query(&self, command: &CommandLine) -> Result<String> {
        let captured = self.probe(command).await?;
        if captured.success() {
            return Ok(captured.stdout);
        }
        Err(failed(command, &captured))
    }

    /// [`Runner::query`], then parse the output as JSON.
    pub async fn query_json<T: DeserializeOwned>(&self, command: &CommandLine) -> Result<T> {
        let text = self.query(command).await?;
        serde_json::from_str(&text)
            .with_context(|| format!("`{command}` printed something other than the expected JSON"))
    }

    /// Run a read-only command (also with `--dry-run`) where a non-zero exit
    /// is an answer, not a failure (`kubectl get namespace X` when X does not
    /// exist). Nothing is shown; the caller decides.
    pub async fn probe(&self, command: &CommandLine) -> Result<Captured> {
        let child = spawn(command, Stdio::null(), Stdio::piped(), Stdio::piped())?;
        let output = tokio::select! {
            biased;
            output = child.wait_with_output() => {
                output.with_context(|| format!("cannot collect the output of `{command}`"))?
            }
            // Dropping the future drops the child, which kills it.
            () = interrupted() => return Err(Interrupted.into()),
        };
        let captured = captured(&output)?;
        if captured.code == 0 {
            microk8s::check_output(command, &captured.stdout)?;
        }
        Ok(captured)
    }

    /// [`Runner::probe`] with `text` on the command's standard input
    /// (`kubectl create -f -`); nothing is shown, the caller decides.
    pub async fn probe_with_stdin(&self, command: &CommandLine, text: &str) -> Result<Captured> {
        let mut child = spawn(command, Stdio::piped(), Stdio::piped(), Stdio::piped())?;
        let feeder = feed_stdin(&mut child, Some(text));
        let output = tokio::select! {
            biased;
            output = child.wait_with_output() => {
                output.with_context(|| format!("cannot collect the output of `{command}`"))?
            }
            () = interrupted() => return Err(Interrupted.into()),
        };
        if let Some(feeder) = feeder {
            feeder.abort();
        }
        captured(&output)
    }

    /// [`Runner::probe`] after an interrupt, to report the state things were
    /// left in: runs although binderctl was interrupted, for at most `limit`.
    pub async fn probe_after_interrupt(
        &self,
        command: &CommandLine,
        limit: Duration,
    ) -> Result<Captured> {
        let child = spawn_even_if_interrupted(
            command,
            Stdio::null(),
            Stdio::piped(),
            Stdio::piped(),
            false,
        )?;
        let output = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .map_err(|_| anyhow::anyhow!("`{command}` did not answer within {limit:?}"))?
            .with_context(|| format!("cannot collect the output of `{command}`"))?;
        captured(&output)
    }
}

/// How many deletion batches run at once: enough to hide each call's start
/// (snap, MicroK8s' wrapper, the tool), few enough not to flood the API
/// server or the node.
pub const BATCHES_AT_ONCE: usize = 4;

/// The items one deletion batch carries by default: at least the first (a
/// few items are not worth several processes), at most the second.
pub const DEFAULT_BATCH: (usize, usize) = (50, 500);

/// Items per batch: `chosen` (`--batch-size`), or else `items` split evenly
/// over [`BATCHES_AT_ONCE`] calls (one round of calls), within
/// [`DEFAULT_BATCH`].
pub fn batch_size(chosen: Option<std::num::NonZeroUsize>, items: usize) -> usize {
    match chosen {
        Some(n) => n.get(),
        None => items
            .div_ceil(BATCHES_AT_ONCE)
            .clamp(DEFAULT_BATCH.0, DEFAULT_BATCH.1),
    }
}

/// What [`Runner::execute_concurrently`] did with a plan of batches, each
/// batch being a base command with items appended.
#[derive(Debug)]
pub struct Batches<'a> {
    /// The stdout of each batch that ran to the end, in plan order.
    pub outputs: Vec<String>,
    /// Each batch that failed: its step and error, in plan order.
    pub failed: Vec<(&'a Step, anyhow::Error)>,
}

impl<'a> Batches<'a> {
    pub fn new(plan: &'a Plan, results: Vec<Result<String>>) -> Self {
        let mut batches = Batches {
            outputs: Vec::new(),
            failed: Vec::new(),
        };
        for (step, result) in plan.steps.iter().zip(results) {
            match result {
                Ok(output) => batches.outputs.push(output),
                Err(err) => batches.failed.push((step, err)),
            }
        }
        batches
    }

    /// Each failed batch's items: those it got done before it failed
    /// (read from what it printed, by `done`) and those it did not (or
    /// that the server did not confirm); `base_args` is how many
    /// arguments come before the items.
    fn split_failed(
        &self,
        base_args: usize,
        done: &dyn Fn(&str) -> Vec<String>,
    ) -> Vec<(&Step, &anyhow::Error, Vec<String>, Vec<String>)> {
        self.failed
            .iter()
            .map(|(step, err)| {
                let printed = err
                    .downcast_ref::<ToolFailed>()
                    .map_or("", |failed| failed.printed.as_str());
                let confirmed = done(printed);
                let items = step.command.args.get(base_args..).unwrap_or_default();
                let (got, left) = items
                    .iter()
                    .cloned()
                    .partition(|item| confirmed.contains(item));
                (*step, err, got, left)
            })
            .collect()
    }

    /// How many items the failed batches got done before they failed (see
    /// [`Batches::failed_items`]).
    pub fn done_before_failing(
        &self,
        base_args: usize,
        done: &dyn Fn(&str) -> Vec<String>,
    ) -> usize {
        self.split_failed(base_args, done)
            .iter()
            .map(|(_, _, got, _)| got.len())
            .sum()
    }

    /// How many items the failed batches carried and did not get done (or
    /// not as far as they said): what `done` does not find in what each
    /// printed before it failed; `base_args` is how many arguments come
    /// before the items.
    pub fn failed_items(&self, base_args: usize, done: &dyn Fn(&str) -> Vec<String>) -> usize {
        self.split_failed(base_args, done)
            .iter()
            .map(|(_, _, _, left)| left.len())
            .sum()
    }

    /// One line per failed batch: what it was, why it failed, and the
    /// items it did not get done (the first `shown` of them; see
    /// [`Batches::failed_items`]).
    pub fn failure_lines(
        &self,
        base_args: usize,
        shown: usize,
        done: &dyn Fn(&str) -> Vec<String>,
    ) -> Vec<String> {
        self.split_failed(base_args, done)
            .into_iter()
            .map(|(step, err, _, left)| {
                let mut names = left
                    .iter()
                    .take(shown)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if left.len() > shown {
                    names.push_str(&format!(" and {} more", left.len() - shown));
                }
                let what = step.description.as_deref().unwrap_or("a batch");
                format!("{what} failed ({err:#}): {names}")
            })
            .collect()
    }

    /// The error to end with once the summary is out: an interrupt if
    /// there was one, else the first failure (its exit code becomes
    /// binderctl's).
    pub fn into_error(self) -> Option<anyhow::Error> {
        let mut failed = self.failed.into_iter().map(|(_, err)| err);
        let first = failed.next()?;
        if first.downcast_ref::<Interrupted>().is_some() {
            return Some(first);
        }
        Some(
            failed
                .find(|err| err.downcast_ref::<Interrupted>().is_some())
                .unwrap_or(first),
        )
    }
}

/// What a tool's error output says about an API server that did not
/// answer (kubectl's and Helm's wordings, client-go's and the server's):
/// not reached at all, or no answer in time (the server, or the etcd
/// behind it, down or overloaded).
pub fn unanswered(stderr: &str) -> Option<&'static str> {
    const TIMED_OUT_SAYINGS: [&str; 6] = [
        "Client.Timeout",
        "error when reading response body",
        "context deadline exceeded",
        "request did not complete within requested timeout",
        "unable to return a response in the time allotted",
        "INTERNAL_ERROR; received from peer",
    ];
    const UNREACHABLE: [&str; 5] = [
        "connection refused",
        "The connection to the server",
        "connection reset by peer",
        "Unable to connect to the server",
        "http2: client connection lost",
    ];
    if TIMED_OUT_SAYINGS.iter().any(|t| stderr.contains(t)) {
        Some(TIMED_OUT)
    } else if UNREACHABLE.iter().any(|t| stderr.contains(t)) {
        Some("the API server cannot be reached: it is down or restarting")
    } else {
        None
    }
}

/// What binderctl says of an API server that did not answer in time.
const TIMED_OUT: &str =
    "the API server did not answer in time: it, or the etcd behind it, is down or overloaded";

/// A probed command's failure as [`Runner::query`] reports it: its stderr
/// (and a hint for MicroK8s' wrappers) shown, a [`ToolFailed`] returned.
pub fn failed(command: &CommandLine, captured: &Captured) -> anyhow::Error {
    stderr_text(&captured.stderr);
    if let Some(hint) = microk8s::failure_hint(command, &captured.stderr) {
        stderr_line(&format!("binderctl: {hint}"));
    }
    explained(
        ToolFailed {
            command: command.to_string(),
            code: captured.code,
            printed: captured.stdout.clone(),
        }
        .into(),
        command,
        &captured.stderr,
    )
}

/// A refusal by the API server's authorization, said first as the missing
/// permission; an API server that did not answer, said as such (the
/// tool's own line is above it).
fn explained(err: anyhow::Error, command: &CommandLine, stderr: &str) -> anyhow::Error {
    if let Some(line) = rbac::explain_forbidden(stderr) {
        return err.context(line);
    }
    match unanswered(stderr).filter(|_| api_client_args(command).is_some()) {
        Some(why) => err.context(Unanswered(why)),
        None => err,
    }
}

/// Said of a kubectl or Helm call (as its error's context) when the API
/// server did not answer it or could not be reached ([`unanswered`]).
#[derive(Debug, Clone, Copy)]
pub struct Unanswered(pub &'static str);

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The arguments of a kubectl or Helm command line (after `microk8s
/// kubectl|helm`), the tool's name first; `None` for other programs.
fn api_client_args(command: &CommandLine) -> Option<(&str, &[String])> {
    let program = std::path::Path::new(&command.program)
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    match program {
        tool @ ("kubectl" | "helm") => Some((tool, command.args.as_slice())),
        "microk8s" => match command.args.split_first() {
            Some((tool, rest)) if tool == "kubectl" || tool == "helm" => {
                Some((tool.as_str(), rest))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether `command` is a kubectl call of a few single requests (not a
/// wait, a watch or a stream: [`crate::cluster::tools::waits`]), which
/// binderctl stops once it has reported nothing done for longer than its
/// request timeout ([`silence_limit`]).
fn stops_when_unanswered(command: &CommandLine) -> bool {
    matches!(api_client_args(command), Some(("kubectl", args)) if !crate::cluster::tools::waits(args))
}

fn captured(output: &std::process::Output) -> Result<Captured> {
    Ok(Captured {
        code: exit_code_of(&output.status)?,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// What a running child gets when binderctl is interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnInterrupt {
    /// A moment to exit on its own (it got the terminal's Ctrl-C too), then
    /// killed.
    Stop,
    /// The signal, passed on; then waited for, never killed.
    PassOnAndWait,
}

/// The first SIGINT or SIGTERM binderctl got, once it got one.
static SIGNAL: OnceLock<tokio::sync::watch::Receiver<Option<i32>>> = OnceLock::new();

/// Start watching for SIGINT and SIGTERM, now (inside the runtime). Called
/// first thing by every command: from then on a signal never ends the
/// process on the spot (which could leave a temporary file or a half-done
/// step behind); it is recorded, every wait that can be interrupted ends,
/// and no new command starts.
pub fn watch_signals() {
    let _ = signal_receiver();
}

fn signal_receiver() -> tokio::sync::watch::Receiver<Option<i32>> {
    SIGNAL
        .get_or_init(|| {
            let (sender, receiver) = tokio::sync::watch::channel(None);
            let mut signals = listen_for_signals();
            tokio::spawn(async move {
                if let Some(signals) = signals.as_mut() {
                    while let Some(signal) = next_signal(signals).await {
                        sender.send_if_modified(|first| {
                            let fresh = first.is_none();
                            first.get_or_insert(signal);
                            fresh
                        });
                    }
                }
                // Keep the sender so receivers never see a closed channel.
                std::future::pending::<()>().await;
            });
            receiver
        })
        .clone()
}

/// Whether binderctl has been interrupted (for code that cannot await).
pub fn was_interrupted() -> bool {
    SIGNAL.get().is_some_and(|r| r.borrow().is_some())
}

/// Resolves once binderctl got SIGINT (Ctrl-C) or SIGTERM, and immediately
/// on every later call: an interrupt in between two commands is not lost.
/// Never resolves if signals cannot be watched.
pub async fn interrupted() {
    let _ = first_signal().await;
}

/// The first signal binderctl got (see [`interrupted`]).
async fn first_signal() -> i32 {
    let mut receiver = signal_receiver();
    let first = match receiver.wait_for(Option::is_some).await {
        Ok(signal) => *signal,
        // The runtime that watched signals is gone (only in tests).
        Err(_) => None,
    };
    match first {
        Some(signal) => signal,
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
type Signals = (tokio::signal::unix::Signal, tokio::signal::unix::Signal);

/// Registers the handlers at once (needs the runtime).
#[cfg(unix)]
fn listen_for_signals() -> Option<Signals> {
    use tokio::signal::unix::{signal, SignalKind};
    Some((
        signal(SignalKind::interrupt()).ok()?,
        signal(SignalKind::terminate()).ok()?,
    ))
}

#[cfg(unix)]
async fn next_signal(signals: &mut Signals) -> Option<i32> {
    tokio::select! {
        got = signals.0.recv() => got.map(|()| libc::SIGINT),
        got = signals.1.recv() => got.map(|()| libc::SIGTERM),
    }
}

#[cfg(not(unix))]
type Signals = ();

#[cfg(not(unix))]
fn listen_for_signals() -> Option<Signals> {
    Some(())
}

#[cfg(not(unix))]
async fn next_signal(_signals: &mut Signals) -> Option<i32> {
    tokio::signal::ctrl_c().await.ok().map(|()| 2)
}

/// Every command of a plan `--dry-run` prints, checked as if it ran.
fn check_printed(plan: &Plan) -> Result<()> {
    for step in &plan.steps {
        microk8s::check_printed(&step.command)?;
    }
    Ok(())
}

/// Start a child, unless binderctl has been interrupted: no new command
/// starts after Ctrl-C or SIGTERM.
fn spawn(command: &CommandLine, stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Result<Child> {
    if was_interrupted() {
        return Err(Interrupted.into());
    }
    microk8s::preflight(command)?;
    spawn_even_if_interrupted(command, stdin, stdout, stderr, false)
}

/// `own_group`: the child leads a process group of its own, so that the
/// terminal's Ctrl-C reaches only binderctl, which passes it on.
fn spawn_even_if_interrupted(
    command: &CommandLine,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    own_group: bool,
) -> Result<Child> {
    output::command(&command.to_string());
    let mut child = tokio::process::Command::new(&command.program);
    child
        .args(&command.args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true);
    #[cfg(unix)]
    if own_group {
        child.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = own_group;
    child.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => anyhow::anyhow!(missing_program_message(&command.program)),
        _ => anyhow::anyhow!("cannot run `{command}`: {e}"),
    })
}

/// The exit code to report for a finished child; an interrupt when the
/// child died of Ctrl-C or SIGTERM (the terminal sends Ctrl-C to both).
fn exit_code_of(status: &ExitStatus) -> Result<i32> {
    if let Some(code) = status.code() {
        return Ok(code);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            if signal == 2 || signal == 15 {
                return Err(Interrupted.into());
            }
            return Ok(128 + signal);
        }
    }
    Ok(2)
}

#[derive(Debug, Clone, Copy)]
enum Sink {
    Stdout,
    Stderr,
}

/// Serialises writes to the terminal so the progress line is cleared before
/// the child's own output appears.
#[derive(Debug, Default)]
struct Screen {
    ticker_visible: Mutex<bool>,
}

impl Screen {
    /// Pass a child's output on; with `-q` it is kept back (a failed
    /// command's stderr is shown afterwards from the copy).
    fn write(&self, sink: Sink, bytes: &[u8]) {
        if output::is_quiet() {
            return;
        }
        let mut visible = self
            .ticker_visible
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *visible {
            output::progress_clear();
            *visible = false;
        }
        match sink {
            Sink::Stdout => output::stdout_bytes(bytes),
            Sink::Stderr => output::stderr_bytes(bytes),
        }
    }

    fn tick(&self, text: &str) {
        let mut visible = self
            .ticker_visible
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        output::progress_tick(text);
        *visible = true;
    }

    fn clear(&self) {
        let mut visible = self
            .ticker_visible
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *visible {
            output::progress_clear();
            *visible = false;
        }
    }
}

/// Copy a child's pipe to ours as it comes, keeping a copy when asked.
/// `progress`: set to when the child last printed on this pipe.
async fn pump<R: AsyncRead + Unpin>(
    mut source: R,
    sink: Sink,
    screen: Arc<Screen>,
    copy: Option<Arc<Mutex<Vec<u8>>>>,
    progress: Option<Arc<Mutex<Instant>>>,
) {
    let mut buffer = vec![0u8; 8192];
    loop {
        match source.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(progress) = &progress {
                    *progress.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                }
                let chunk = buffer.get(..n).unwrap_or_default();
                screen.write(sink, chunk);
                if let Some(copy) = &copy {
                    copy.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(chunk);
                }
            }
        }
    }
}

/// How long a kubectl call of a few single requests may print nothing on
/// stdout (where it reports each object it got done) before binderctl
/// takes the API server for gone: its request timeout (read from its argv)
/// and a little more. kubectl goes on to the next name of a batch after a
/// request timed out, and gives its verdict only at the end: with the
/// server's storage gone, a batch of 50 would take 50 request timeouts.
/// `None`: no such limit (another program, a wait, no request timeout).
fn silence_limit(command: &CommandLine) -> Option<Duration> {
    if !stops_when_unanswered(command) {
        return None;
    }
    let limit = command
        .args
        .iter()
        .find_map(|a| a.strip_prefix("--request-timeout="))
        .and_then(|t| crate::cluster::duration::parse_duration(t).ok())
        .filter(|t| !t.is_zero())?;
    let grace = (limit / 6).clamp(Duration::from_secs(1), Duration::from_secs(5));
    Some(limit + grace)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

async fn run_passing_output(step: &Step, on_interrupt: OnInterrupt) -> Result<String> {
    let command = &step.command;
    // The same check as every other start, before anything is said.
    microk8s::preflight(command)?;
    let show_ticker = step.progress && output::show_progress();
    // The ticker line carries the description; otherwise it gets a line.
    if let Some(description) = step.description.as_ref().filter(|_| !show_ticker) {
        stderr_line(description);
    }
    let started = Instant::now();
    if was_interrupted() {
        return Err(Interrupted.into());
    }
    let own_group = on_interrupt == OnInterrupt::PassOnAndWait;
    let stdin = match step.stdin {
        Some(_) => Stdio::piped(),
        None => Stdio::null(),
    };
    let mut child =
        spawn_even_if_interrupted(command, stdin, Stdio::piped(), Stdio::piped(), own_group)?;
    let feeder = feed_stdin(&mut child, step.stdin.as_deref());
    let screen = Arc::new(Screen::default());
    let stdout_copy = Arc::new(Mutex::new(Vec::new()));
    let progress = Arc::new(Mutex::new(Instant::now()));
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(
            out,
            Sink::Stdout,
            screen.clone(),
            Some(stdout_copy.clone()),
            // What kubectl got done (`pod/NAME`) comes on stdout; its
            // errors on stderr are no progress.
            Some(progress.clone()),
        )));
    }
    let stderr_copy = Arc::new(Mutex::new(Vec::new()));
    let silence_limit = silence_limit(command).filter(|_| on_interrupt == OnInterrupt::Stop);
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(
            err,
            Sink::Stderr,
            screen.clone(),
            // Shown as it comes (unless -q) and kept: a refusal in it is
            // explained.
            Some(stderr_copy.clone()),
            None,
        )));
    }
    let label = shorten(
        step.description.as_deref().unwrap_or(&command.to_string()),
        60,
    );
    let ticker = show_ticker.then(|| {
        let (screen, label) = (screen.clone(), label.clone());
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            loop {
                interval.tick().await;
                screen.tick(&format!("{label} … {}", format_age(started.elapsed())));
            }
        })
    });
    let stop_ticker = |ticker: &Option<tokio::task::JoinHandle<()>>| {
        if let Some(ticker) = ticker {
            ticker.abort();
        }
        screen.clear();
    };

    let silent_too_long = async {
        let Some(limit) = silence_limit else {
            return std::future::pending().await;
        };
        loop {
            let due = *progress.lock().unwrap_or_else(|e| e.into_inner()) + limit;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    };
    let mut stopped_unanswered = false;
    let status = tokio::select! {
        biased;
        status = child.wait() => status.with_context(|| format!("cannot wait for `{command}`"))?,
        () = silent_too_long => {
            // What it got done so far is in its output; the rest is not
            // waited for, a request timeout at a time.
            let _ = child.start_kill();
            stopped_unanswered = true;
            child.wait().await.with_context(|| format!("cannot wait for `{command}`"))?
        }
        signal = first_signal() => {
            stop_ticker(&ticker);
            if on_interrupt == OnInterrupt::PassOnAndWait {
                pass_on_and_wait(&mut child, signal, &label).await;
                for pump in pumps {
                    let _ = tokio::time::timeout(DRAIN_LIMIT, pump).await;
                }
            } else {
                stop_child(&mut child).await;
                for pump in &pumps {
                    pump.abort();
                }
            }
            return Err(Interrupted.into());
        }
    };
    if let Some(feeder) = feeder {
        feeder.abort();
    }
    for pump in pumps {
        // A grandchild holding the pipes open must not hang binderctl.
        let _ = tokio::time::timeout(DRAIN_LIMIT, pump).await;
    }
    stop_ticker(&ticker);
    // Stopped by binderctl: kubectl's own code for a failed request.
    let code = if stopped_unanswered {
        1
    } else {
        exit_code_of(&status)?
    };
    if code != 0 {
        let bytes = stderr_copy.lock().unwrap_or_else(|e| e.into_inner());
        let stderr = String::from_utf8_lossy(&bytes);
        if output::is_quiet() {
            output::tool_stderr(&stderr);
        }
        let printed =
            String::from_utf8_lossy(&stdout_copy.lock().unwrap_or_else(|e| e.into_inner()))
                .into_owned();
        let failed: anyhow::Error = ToolFailed {
            command: command.to_string(),
            code,
            printed,
        }
        .into();
        if stopped_unanswered {
            return Err(failed.context(Unanswered(TIMED_OUT)));
        }
        return Err(explained(failed, command, &stderr));
    }
    if ticker.is_some() {
        stderr_line(&format!(
            "{label}: done in {}",
            format_age(started.elapsed())
        ));
    }
    let bytes = std::mem::take(&mut *stdout_copy.lock().unwrap_or_else(|e| e.into_inner()));
    let stdout = String::from_utf8_lossy(&bytes).into_owned();
    microk8s::check_output(command, &stdout)?;
    Ok(stdout)
}

/// After an interrupt: pass `signal` on to the child's process group and
/// wait for the child to end, however long that takes.
async fn pass_on_and_wait(child: &mut Child, signal: i32, label: &str) {
    stderr_line(&format!(
        "binderctl: interrupted: passing the signal on to {label} and waiting for it to \
         finish (stopping it half-way could leave the release pending)"
    ));
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        // SAFETY: kill(2) with a negative pid signals that process group
        // (the child leads its own); no memory is touched.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
    #[cfg(not(unix))]
    let _ = signal;
    let _ = child.wait().await;
}

/// Write `text` to the child's stdin and close it, in the background (a
/// child that exits without reading is not an error here: its exit code
/// says what happened).
fn feed_stdin(child: &mut Child, text: Option<&str>) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::io::AsyncWriteExt;
    let mut pipe = child.stdin.take()?;
    let bytes = text?.as_bytes().to_vec();
    Some(tokio::spawn(async move {
        let _ = pipe.write_all(&bytes).await;
        let _ = pipe.shutdown().await;
    }))
}

/// After an interrupt: give the child a moment to exit on its own (it had
/// the terminal's Ctrl-C too), then kill it; never leave it running.
async fn stop_child(child: &mut Child) {
    let exited = tokio::select! {
        status = child.wait() => status.is_ok(),
        () = tokio::time::sleep(INTERRUPT_GRACE) => false,
    };
    if !exited {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_missing_object() {
        let answer = |stderr: &str| Captured {
            code: 1,
            stdout: String::new(),
            stderr: stderr.into(),
        };
        assert!(
            answer("Error from server (NotFound): namespaces \"binder\" not found\n")
                .says_not_found()
        );
        assert!(
            !answer("The connection to the server 192.0.2.1:16443 was refused\n").says_not_found()
        );
    }

    fn sh(script: &str) -> CommandLine {
        // Test-only: a tiny child program; binderctl itself never uses a shell.
        CommandLine::new("sh").args(["-c", script])
    }

    #[tokio::test]
    async fn query_returns_stdout() {
        let out = Runner::new(false)
            .query(&sh("printf 'a\\nb'"))
            .await
            .unwrap();
        assert_eq!(out, "a\nb");
    }

    #[tokio::test]
    async fn queries_run_even_in_dry_run() {
        let out = Runner::new(true).query(&sh("echo ran")).await.unwrap();
        assert_eq!(out, "ran\n");
    }

    #[tokio::test]
    async fn failing_query_carries_the_exit_code_and_command() {
        let err = Runner::new(false)
            .query(&sh("echo oops >&2; exit 3"))
            .await
            .unwrap_err();
        let failed = err.downcast_ref::<ToolFailed>().unwrap();
        assert_eq!(failed.code, 3);
        assert_eq!(failed.command, "sh -c 'echo oops >&2; exit 3'");
        assert_eq!(crate::error::exit_code(&err), 3);
    }

    #[tokio::test]
    async fn probe_reports_non_zero_exit_without_failing() {
        let captured = Runner::new(false)
            .probe(&sh("echo out; echo err >&2; exit 1"))
            .await
            .unwrap();
        assert_eq!(
            captured,
            Captured {
                code: 1,
                stdout: "out\n".into(),
                stderr: "err\n".into()
            }
        );
        assert!(!captured.success());
    }

    #[tokio::test]
    async fn query_json_parses_or_names_the_command() {
        let value: serde_json::Value = Runner::new(false)
            .query_json(&sh("echo '{\"a\": [1]}'"))
            .await
            .unwrap();
        assert_eq!(value["a"][0], 1);
        let err = Runner::new(false)
            .query_json::<serde_json::Value>(&sh("echo not json"))
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("sh -c 'echo not json'"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn missing_program_is_named() {
        let err = Runner::new(false)
            .query(&CommandLine::new("binderctl-no-such-tool-x"))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("`binderctl-no-such-tool-x` is not installed"),
            "{err}"
        );
        let err = Runner::new(false)
            .query(&CommandLine::new("microk8s-missing-test").arg("x"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("microk8s-missing-test"), "{err}");
    }

    #[tokio::test]
    async fn execute_stops_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("third-ran");
        let mut plan = Plan::new();
        plan.push_command(sh("echo one"));
        plan.push_command(sh("exit 4"));
        plan.push_command(CommandLine::new("touch").arg(marker.to_str().unwrap()));
        let err = Runner::new(false).execute(&plan).await.unwrap_err();
        assert_eq!(err.downcast_ref::<ToolFailed>().unwrap().code, 4);
        assert!(!marker.exists());
    }

    #[tokio::test]
    async fn execute_returns_each_steps_stdout() {
        let mut plan = Plan::new();
        plan.push_command(sh("echo one"));
        plan.push(
            Step::new(sh("echo two; echo note >&2"))
                .described("second")
                .with_progress(),
        );
        let outputs = Runner::new(false).execute(&plan).await.unwrap();
        assert_eq!(outputs, vec!["one\n".to_string(), "two\n".to_string()]);
    }

    #[tokio::test]
    async fn dry_run_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let mut plan = Plan::new();
        plan.push_command(CommandLine::new("touch").arg(marker.to_str().unwrap()));
        let runner = Runner::new(true);
        assert!(runner.execute(&plan).await.unwrap().is_empty());
        runner
            .run_with_progress(&plan.steps[0].command, "touching")
            .await
            .unwrap();
        assert!(!marker.exists());
    }

    #[tokio::test]
    async fn a_probe_can_get_text_on_stdin() {
        let answer = Runner::new(false)
            .probe_with_stdin(&sh("cat; exit 3"), "manifest\n")
            .await
            .unwrap();
        assert_eq!(answer.code, 3);
        assert_eq!(answer.stdout, "manifest\n");
    }

    #[tokio::test]
    async fn a_step_can_get_text_on_stdin() {
        let step = Step::new(sh("tr a-z A-Z")).with_stdin("kind: x\n");
        let out = Runner::new(false).run_step(&step).await.unwrap();
        assert_eq!(out, "KIND: X\n");
        // Without text, stdin is closed: `cat` sees end of input at once.
        let out = Runner::new(false)
            .run_step(&Step::new(sh("cat; echo done")))
            .await
            .unwrap();
        assert_eq!(out, "done\n");
    }

    #[tokio::test]
    async fn concurrent_steps_all_run_bounded_and_report_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let log = log.to_str().unwrap();
        // Each step records its start, waits, records its end: the log shows
        // how many ran at once.
        let step = |name: &str, code: i32| {
            sh(&format!(
                "echo start >> {log}; sleep 0.2; echo end >> {log}; echo {name}; exit {code}"
            ))
        };
        let mut plan = Plan::new();
        for (i, code) in [0, 3, 0, 0, 0].into_iter().enumerate() {
            plan.push_command(step(&format!("s{i}"), code));
        }
        let results = Runner::new(false).execute_concurrently(&plan, 2).await;
        let outputs: Vec<String> = results
            .iter()
            .map(|r| match r {
                Ok(out) => out.clone(),
                Err(e) => format!("failed {}", e.downcast_ref::<ToolFailed>().unwrap().code),
            })
            .collect();
        // The failed step did not stop the others.
        assert_eq!(outputs, ["s0\n", "failed 3", "s2\n", "s3\n", "s4\n"]);
        let mut in_flight = 0;
        let mut most = 0;
        for line in std::fs::read_to_string(log).unwrap().lines() {
            in_flight += if line == "start" { 1 } else { -1 };
            most = most.max(in_flight);
        }
        assert_eq!(most, 2, "at most two at a time, and two did run together");
    }

    #[test]
    fn default_batches_fill_one_round_of_calls() {
        assert_eq!(batch_size(None, 0), 50);
        assert_eq!(batch_size(None, 3), 50, "a few items: one call");
        assert_eq!(batch_size(None, 240), 60);
        assert_eq!(batch_size(None, 2_000), 500, "four calls, all at once");
        assert_eq!(batch_size(None, 20_000), 500);
        assert_eq!(batch_size(std::num::NonZeroUsize::new(7), 2_000), 7);
    }

    #[tokio::test]
    async fn concurrent_dry_run_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let mut plan = Plan::new();
        plan.push_command(CommandLine::new("touch").arg(marker.to_str().unwrap()));
        let results = Runner::new(true).execute_concurrently(&plan, 4).await;
        assert!(matches!(results.as_slice(), [Ok(out)] if out.is_empty()));
        assert!(!marker.exists());
    }

    #[test]
    fn an_unanswering_api_server_is_named() {
        for timed_out in [
            "Unable to connect to the server: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            "Error from server (Timeout): Timeout: request did not complete within requested timeout - context deadline exceeded",
            "Error: list: failed to list: Get \"https://127.0.0.1:6443/api/v1/namespaces/x/secrets\": stream error: stream ID 3; INTERNAL_ERROR; received from peer",
        ] {
            assert!(unanswered(timed_out).unwrap().contains("did not answer in time"), "{timed_out}");
        }
        let refused = "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?";
        assert!(unanswered(refused).unwrap().contains("cannot be reached"));
        assert_eq!(
            unanswered("Error from server (NotFound): pods \"x\" not found"),
            None
        );
    }

    #[tokio::test]
    async fn a_failed_step_keeps_what_it_printed() {
        let err = Runner::new(false)
            .run_step(&Step::new(sh(
                "echo pod/a deleted; echo connection refused >&2; exit 1",
            )))
            .await
            .unwrap_err();
        let failed = err.downcast_ref::<ToolFailed>().unwrap();
        assert_eq!(failed.printed, "pod/a deleted\n");
        // Not kubectl: no word of an API server.
        assert!(err.downcast_ref::<Unanswered>().is_none(), "{err:#}");
    }

    /// A stand-in `kubectl` in a folder of its own, running `script`.
    fn fake_kubectl(dir: &std::path::Path, script: &str) -> CommandLine {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("kubectl");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        CommandLine::new(path.to_str().unwrap())
    }

    #[tokio::test]
    async fn a_silent_batch_is_stopped_after_its_request_timeout_and_no_other_starts() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("started");
        // Deletes one pod, then the server stops answering: kubectl would
        // go on to the next name, each taking the whole request timeout
        // (1s here), logging each on stderr (no progress) and giving its
        // verdict only at the end.
        let kubectl = fake_kubectl(
            dir.path(),
            &format!(
                "echo started >> {}; echo pod/a; \
                 for i in 1 2 3 4 5 6 7 8; do sleep 0.5; echo 'E1207 request.go:1196] \
                 Unexpected error when reading response body' >&2; done; sleep 20; \
                 echo 'Unable to connect to the server: context deadline exceeded' >&2",
                log.display()
            ),
        );
        let mut plan = Plan::new();
        for _ in 0..3 {
            plan.push_command(kubectl.clone().args([
                "delete",
                "pod",
                "--wait=false",
                "--request-timeout=1s",
                "a",
                "b",
            ]));
        }
        let started = Instant::now();
        let results = Runner::new(false).execute_concurrently(&plan, 1).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        let first = results[0].as_ref().unwrap_err();
        let failed = first.downcast_ref::<ToolFailed>().unwrap();
        assert_eq!((failed.code, failed.printed.as_str()), (1, "pod/a\n"));
        assert!(first.downcast_ref::<Unanswered>().is_some(), "{first:#}");
        for later in &results[1..] {
            let err = later.as_ref().unwrap_err();
            assert!(
                format!("{err:#}")
                    .starts_with("not started: the API server did not answer in time"),
                "{err:#}"
            );
        }
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "started\n");
    }

    #[tokio::test]
    async fn a_wait_is_not_stopped_by_an_error_line() {
        let dir = tempfile::tempdir().unwrap();
        // kubectl rollout status logs its watch's errors and goes on.
        let kubectl = fake_kubectl(
            dir.path(),
            "echo 'connection refused' >&2; sleep 1; echo rolled out",
        );
        let out = Runner::new(false)
            .run_step(&Step::new(kubectl.args([
                "rollout",
                "status",
                "deployment/hub",
            ])))
            .await
            .unwrap();
        assert_eq!(out, "rolled out\n");
    }

    #[test]
    fn long_labels_are_shortened() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdefgh", 5), "abcd…");
    }
}
