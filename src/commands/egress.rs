//! `binderctl egress apply|check|show`: the egress allow-list as the
//! NetworkPolicy `binderctl-egress` (allow_list_mode: policy), refreshed
//! without Helm; `check` compares fresh lookups with what the cluster
//! enforces (the policy, or in values mode the deployed values).

use crate::error::ShownPath;
use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::{EgressCmd, GlobalArgs, GraceArgs, OutputArgs, OutputFormat};
use crate::cluster::duration::{format_age, parse_duration, unix_now};
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::{stderr_line, stderr_text, stdout_text, Runner};
use crate::cluster::tools::Tools;
use crate::egress::allow_list::{Source, SourceChange};
use crate::egress::cidr::{self, IpNet};
use crate::egress::policy::{self, Enforced, Merged, POLICY_NAME};
use crate::error::{Outcome, ToolFailed};
use crate::ops::render::{self, Rendered};
use crate::output::format;
use crate::output::table::{format_table_styled, TableStyle};
use crate::values::settings::{AllowListMode, KEY_ALLOW_LIST_MODE, KEY_EGRESS, NETWORK_POLICY};
use crate::values::transform;

pub async fn run(global: &GlobalArgs, cmd: &EgressCmd) -> Result<Outcome> {
    check_namespace(&global.namespace)?;
    let tools = Tools::from_global(global);
    match cmd {
        EgressCmd::Apply(apply) => {
            let runner = Runner::new(apply.dry_run);
            let clock = Clock::new(&apply.grace)?;
            let (rendered, current) = tokio::join!(
                render::render(&apply.render),
                read_policy(&runner, &tools, &global.namespace)
            );
            let rendered = rendered.map_err(|e| {
                let text =
                    format!("{e:#}\nnothing applied; NetworkPolicy {POLICY_NAME} is unchanged");
                crate::error::Problems(text.lines().map(str::to_string).collect())
            })?;
            require_policy_mode(&rendered, &apply.render.input.shown().to_string())?;
            apply_policy(&runner, &tools, global, &rendered, current?, &clock).await?;
            Ok(Outcome::Success)
        }
        EgressCmd::Check(check) => {
            let clock = Clock::new(&check.grace)?;
            // Exit 1 means "would change": a tool's own exit 1 must not look like it.
            check_drift(&tools, global, check, &clock)
                .await
                .map_err(tool_failure_is_an_error)
        }
        EgressCmd::Show(show) => {
            let clock = Clock::new(&show.grace)?;
            let current = read_policy(&Runner::new(false), &tools, &global.namespace).await?;
            show_policy(global, current.as_ref(), &show.output, &clock)?;
            Ok(Outcome::Success)
        }
    }
}

/// The time and grace period of one run.
struct Clock {
    now: i64,
    grace: i64,
}

impl Clock {
    fn new(args: &GraceArgs) -> Result<Self> {
        let grace = parse_duration(&args.grace).context("--grace")?;
        Ok(Clock {
            now: args.now.unwrap_or_else(unix_now),
            grace: i64::try_from(grace.as_secs()).unwrap_or(i64::MAX),
        })
    }
}

/// A namespace is a DNS label; anything else is refused before any tool sees it.
fn check_namespace(namespace: &str) -> Result<()> {
    let ok = !namespace.is_empty()
        && namespace.len() <= 63
        && namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    if !ok {
        anyhow::bail!(
            "namespace {namespace:?} is not a Kubernetes namespace name (lower-case letters, \
             digits and '-', at most 63)"
        );
    }
    Ok(())
}

fn require_policy_mode(rendered: &Rendered, input: &str) -> Result<()> {
    if rendered.mode == AllowListMode::Policy {
        return Ok(());
    }
    anyhow::bail!(
        "{input}: {}.{KEY_ALLOW_LIST_MODE} is `values` (the default): the allow-list goes into the \
         release's values and `binderctl deploy` refreshes it; set it to `policy` and deploy once \
         to keep it in the NetworkPolicy {POLICY_NAME} instead",
        NETWORK_POLICY.join(".")
    )
}

/// A failed tool becomes an ordinary error (exit 2), its message kept.
fn tool_failure_is_an_error(err: anyhow::Error) -> anyhow::Error {
    if err.downcast_ref::<ToolFailed>().is_some() {
        anyhow::anyhow!("{err:#}")
    } else {
        err
    }
}

/// `kubectl get networkpolicy binderctl-egress -n NS -o json`.
pub fn get_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl([
        "get",
        "networkpolicy",
        POLICY_NAME,
        "-n",
        namespace,
        "-o",
        "json",
    ])
}

/// `kubectl apply -n NS -f -` with the policy on stdin.
pub fn apply_step(tools: &Tools, namespace: &str, manifest: &str) -> Step {
    Step::new(tools.kubectl(["apply", "-n", namespace, "-f", "-"]))
        .described(format!(
            "Applying NetworkPolicy {POLICY_NAME} in namespace {namespace}"
        ))
        .with_stdin(manifest)
}

/// `kubectl delete networkpolicy binderctl-egress -n NS --ignore-not-found`.
pub fn delete_step(tools: &Tools, namespace: &str) -> Step {
    Step::new(tools.kubectl([
        "delete",
        "networkpolicy",
        POLICY_NAME,
        "-n",
        namespace,
        "--ignore-not-found",
    ]))
    .described(format!("Deleting NetworkPolicy {POLICY_NAME}"))
}

/// `helm get values RELEASE -n NS -o json`: the values the release was
/// deployed with (read, never printed: secret.yaml's are among them).
pub fn values_command(tools: &Tools, release: &str, namespace: &str) -> CommandLine {
    tools.helm(["get", "values", release, "-n", namespace, "-o", "json"])
}

/// Every command line `egress` (and its deploy, uninstall and status hooks)
/// runs, one plan per use, for the real-tool conformance replay.
pub fn sample_plans() -> Vec<Plan> {
    let mut plans = Vec::new();
    for flavor in [
        crate::cli::ToolFlavor::Microk8s,
        crate::cli::ToolFlavor::Plain,
    ] {
        let tools = Tools::new(flavor);
        let manifest = policy::manifest("binder", "binder", &policy::Seen::new(), 0)
            .map(|m| m.to_string())
            .unwrap_or_default();
        plans.push(Plan::from(vec![
            Step::new(get_command(&tools, "binder")),
            apply_step(&tools, "binder", &manifest),
        ]));
        plans.push(Plan::from(vec![Step::new(values_command(
            &tools, "binder", "binder",
        ))]));
        plans.push(Plan::from(vec![delete_step(&tools, "binder")]));
    }
    plans
}

/// The policy the cluster has, if any (read also with `--dry-run`).
pub async fn read_policy(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
) -> Result<Option<Enforced>> {
    let command = get_command(tools, namespace);
    let captured = runner.probe(&command).await?;
    if !captured.success() {
        if captured.says_not_found() {
            return Ok(None);
        }
        stderr_text(&captured.stderr);
        return Err(ToolFailed {
            command: command.to_string(),
            code: captured.code,
        }
        .into());
    }
    let object: serde_json::Value = serde_json::from_str(&captured.stdout)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    policy::parse_policy(&object)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("namespace {namespace}: {e}"))
}

/// Merge, show the change, apply (or print the command with `--dry-run`).
async fn apply_policy(
    runner: &Runner,
    tools: &Tools,
    global: &GlobalArgs,
    rendered: &Rendered,
    current: Option<Enforced>,
    clock: &Clock,
) -> Result<()> {
    let current = current.unwrap_or_default();
    let merged = policy::merge_with_grace(&current.seen, &rendered.sources, clock.now, clock.grace);
    let manifest = policy::manifest(&global.namespace, &global.release, &merged.seen, clock.now)
        .map_err(|e| anyhow::anyhow!("NetworkPolicy {POLICY_NAME}: {e}"))?;
    let changes = policy::drift(&current.ranges, &merged);
    let mut text = if changes.is_empty() {
        format!("NetworkPolicy {POLICY_NAME}: the enforced ranges stay the same\n")
    } else {
        format!(
            "NetworkPolicy {POLICY_NAME} changes:\n{}",
            format_changes(&changes)
        )
    };
    text.push_str(&format_in_grace(&merged, clock.now));
    stdout_text(&text);
    let count = policy::ranges(&merged.seen).len();
    if runner.is_dry_run() {
        stderr_line(&format!(
            "binderctl: dry run: nothing applied; the command (the policy of {count} ranges on its \
             standard input):"
        ));
    }
    let json =
        serde_json::to_string_pretty(&manifest).context("cannot write the policy as JSON")?;
    runner
        .run_step(&apply_step(tools, &global.namespace, &json))
        .await?;
    if !runner.is_dry_run() {
        stderr_line(&format!(
            "binderctl: {}; NetworkPolicy {POLICY_NAME} applied with {count} ranges ({} kept in \
             their grace period)",
            rendered.summary,
            merged.in_grace.len()
        ));
    }
    Ok(())
}

/// The deploy hook's read, made alongside deploy's other preflight reads
/// (the upgrade never touches binderctl's own policy). The outer error is
/// a namespace no tool may see; the inner one, the read's, is judged by
/// [`policy_for_deploy`] once the render says the mode.
pub async fn before_deploy(
    runner: &Runner,
    tools: &Tools,
    global: &GlobalArgs,
) -> Result<Result<Option<Enforced>>> {
    check_namespace(&global.namespace)?;
    Ok(read_policy(runner, tools, &global.namespace).await)
}

/// What deploy makes of [`before_deploy`]'s read, before anything changes.
/// In policy mode the deploy applies the policy after the upgrade, so a
/// read it cannot use (a policy of that name that is not binderctl's, an
/// answer that is not one, `Forbidden`) stops it here, nothing deployed; in
/// values mode the policy only matters for a warning, so the problem is a
/// warning and the deploy goes on.
pub fn policy_for_deploy(
    rendered: &Rendered,
    read: Result<Option<Enforced>>,
    namespace: &str,
) -> Result<Option<Enforced>> {
    let err = match read {
        Ok(current) => return Ok(current),
        Err(err) => err,
    };
    // Each error names the policy or the command that read it.
    let problem = format!("{err:#}");
    match rendered.mode {
        AllowListMode::Policy => Err(crate::error::Problems(vec![
            problem,
            format!(
                "nothing deployed: with allow_list_mode: policy the deploy applies \
                 NetworkPolicy {POLICY_NAME} (namespace {namespace}) after the upgrade, and \
                 could not; fix the above (`binderctl egress show` reads it) and deploy again"
            ),
        ])
        .into()),
        AllowListMode::Values => {
            render::warn(&format!(
                "{problem}; whether a policy of that name allows user pods more than the \
                 values' rule is unknown (policies add up); deploying anyway (allow_list_mode: \
                 values does not use it)"
            ));
            Ok(None)
        }
    }
}

/// The deploy hook: in policy mode, apply the policy after the release;
/// `current` is what [`before_deploy`] read.
pub async fn after_deploy(
    runner: &Runner,
    tools: &Tools,
    global: &GlobalArgs,
    rendered: &Rendered,
    current: Option<Enforced>,
) -> Result<()> {
    if rendered.mode != AllowListMode::Policy {
        // Policies add up: a leftover one keeps allowing its ranges.
        if let Some(left) = current {
            render::warn(&format!(
                "NetworkPolicy {POLICY_NAME} from allow_list_mode: policy still allows {} ranges \
                 to user pods besides the values' rule; delete it (`kubectl delete networkpolicy \
                 {POLICY_NAME} -n {}`) or set allow_list_mode: policy again",
                left.ranges.len(),
                global.namespace
            ));
        }
        return Ok(());
    }
    let clock = Clock {
        now: unix_now(),
        grace: policy::DEFAULT_GRACE_SECS,
    };
    apply_policy(runner, tools, global, rendered, current, &clock).await
}

/// What is enforced now, compared with what an apply (policy mode) or a
/// deploy (values mode) would enforce.
async fn check_drift(
    tools: &Tools,
    global: &GlobalArgs,
    cmd: &crate::cli::EgressCheckCmd,
    clock: &Clock,
) -> Result<Outcome> {
    let runner = Runner::new(false);
    let ns = &global.namespace;
    let values_command = values_command(tools, &global.release, ns);
    // binder.yaml once; then only the read its mode needs, alongside the
    // lookups.
    let started = std::time::Instant::now();
    let input = render::read_input(&cmd.render)?;
    let (rendered, enforced) = match input.mode() {
        AllowListMode::Values => {
            let (r, v) = tokio::join!(
                render::render_input(&cmd.render, input, started),
                runner.query(&values_command)
            );
            (r, v.map(Enforcement::Values))
        }
        AllowListMode::Policy => {
            let (r, p) = tokio::join!(
                render::render_input(&cmd.render, input, started),
                read_policy(&runner, tools, ns)
            );
            (r, p.map(Enforcement::Policy))
        }
    };
    let (rendered, enforced) = (rendered?, enforced?);
    let (what, remedy, changes) = match enforced {
        Enforcement::Policy(current) => {
            let Some(current) = current else {
                stdout_text(&format!(
                    "No NetworkPolicy {POLICY_NAME} in namespace {ns} yet: `binderctl egress \
                     apply` would create it with {} ranges\n",
                    rendered.merged.len()
                ));
                return Ok(Outcome::Changed);
            };
            let merged =
                policy::merge_with_grace(&current.seen, &rendered.sources, clock.now, clock.grace);
            let changes = policy::drift(&current.ranges, &merged);
            let what = format!("NetworkPolicy {POLICY_NAME}");
            (what, "binderctl egress apply", changes)
        }
        Enforcement::Values(json) => {
            let deployed = deployed_ranges(&json, &values_command, &rendered)?;
            let changes = drift_against(&deployed, &rendered.sources, &rendered.merged);
            let what = format!("The egress rule of release {}", global.release);
            (what, "binderctl deploy", changes)
        }
    };
    if changes.is_empty() {
        if !global.quiet {
            stdout_text(&format!(
                "{what} is up to date ({} ranges)\n",
                rendered.merged.len()
            ));
        }
        return Ok(Outcome::Success);
    }
    stdout_text(&format!(
        "{what} would change (`{remedy}`):\n{}",
        format_changes(&changes)
    ));
    Ok(Outcome::Changed)
}

/// What the cluster enforces: the policy (if any), or the deployed values
/// as `helm get values -o json` prints them.
enum Enforcement {
    Policy(Option<Enforced>),
    Values(String),
}

/// The generated rule's ranges in `helm get values -o json` output.
fn deployed_ranges(json: &str, command: &CommandLine, rendered: &Rendered) -> Result<Vec<IpNet>> {
    let values: serde_yaml::Value = serde_json::from_str(json)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    // Where the operator's rules end now, or (they changed since) the last
    // rule of the generated shape.
    let rules = NETWORK_POLICY
        .iter()
        .chain([&KEY_EGRESS])
        .try_fold(&values, |v, key| v.get(*key))
        .and_then(serde_yaml::Value::as_sequence)
        .map_or(0, Vec::len);
    let cidrs = transform::generated_cidrs(&values, rendered.user_egress_rules)
        .or_else(|| {
            (0..rules)
                .rev()
                .find_map(|i| transform::generated_cidrs(&values, i))
        })
        .unwrap_or_default();
    cidrs
        .iter()
        .map(|c| cidr::parse(c).map_err(|e| anyhow::anyhow!("`{command}`: the egress rule: {e}")))
        .collect()
}

/// Per source, the ranges not yet enforced; under "deployed rule" the
/// enforced ones nothing allows any more. Empty exactly when the same
/// addresses are allowed (an address inside an allowed range is no change).
pub fn drift_against(enforced: &[IpNet], sources: &[Source], after: &[IpNet]) -> Vec<SourceChange> {
    let (added, removed) = cidr::diff(enforced, after);
    if added.is_empty() && removed.is_empty() {
        return Vec::new();
    }
    let mut changes: Vec<SourceChange> = sources
        .iter()
        .map(|s| SourceChange {
            label: s.label.clone(),
            added: cidr::diff(enforced, &cidr::merge(s.nets.iter().copied()))
                .0
                .iter()
                .map(ToString::to_string)
                .collect(),
            removed: Vec::new(),
        })
        .filter(|c| !c.added.is_empty())
        .collect();
    if !removed.is_empty() {
        changes.push(SourceChange {
            label: "deployed rule".into(),
            added: Vec::new(),
            removed: removed.iter().map(ToString::to_string).collect(),
        });
    }
    changes
}

/// The changes, one source a paragraph: `+ range`, `- range`.
pub fn format_changes(changes: &[SourceChange]) -> String {
    let mut out = String::new();
    for change in changes {
        out.push_str(&format!("  {}:\n", change.label));
        for net in &change.added {
            out.push_str(&format!("    + {net}\n"));
        }
        for net in &change.removed {
            out.push_str(&format!("    - {net}\n"));
        }
    }
    out
}

fn format_in_grace(merged: &Merged, now: i64) -> String {
    let mut out = String::new();
    for (label, net, until) in &merged.in_grace {
        out.push_str(&format!(
            "  {label}: {net} no longer seen, still allowed for {}\n",
            age(until - now)
        ));
    }
    out
}

fn age(seconds: i64) -> String {
    format_age(std::time::Duration::from_secs(
        u64::try_from(seconds).unwrap_or(0),
    ))
}

fn show_policy(
    global: &GlobalArgs,
    current: Option<&Enforced>,
    output: &OutputArgs,
    clock: &Clock,
) -> Result<()> {
    let (now, grace) = (clock.now, clock.grace);
    let ns = &global.namespace;
    let Some(current) = current else {
        if output.output.is_some_and(|f| f != OutputFormat::Wide) {
            return format::print(output, &serde_json::Value::Null, Vec::new, |_| {
                String::new()
            });
        }
        stderr_line(&format!(
            "No NetworkPolicy {POLICY_NAME} in namespace {ns} (allow_list_mode: values keeps \
             the allow-list in the release's values; `binderctl egress check` compares them)."
        ));
        return Ok(());
    };
    let applied_at = current.applied_at();
    let sources: serde_json::Map<String, serde_json::Value> = current
        .seen
        .iter()
        .map(|(label, nets)| {
            let entries: Vec<_> = nets
                .iter()
                .map(|(net, at)| {
                    let until = (Some(*at) != applied_at).then(|| at.saturating_add(grace));
                    json!({"cidr": net.to_string(), "last_seen": at, "age_seconds": now - at,
                           "allowed_until": until})
                })
                .collect();
            (label.clone(), json!(entries))
        })
        .collect();
    let record = json!({
        "name": POLICY_NAME,
        "namespace": ns,
        "applied_at": applied_at,
        "ranges": current.ranges.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "sources": sources,
    });
    let names = || vec![format!("networkpolicy/{POLICY_NAME}")];
    format::print(output, &record, names, |style| {
        show_table(current, ns, clock, style)
    })
}

/// `egress show`'s table: the policy's summary line, then a row per range.
fn show_table(current: &Enforced, ns: &str, clock: &Clock, style: TableStyle) -> String {
    let (now, grace) = (clock.now, clock.grace);
    let applied = current
        .applied_at()
        .map_or("never".to_string(), |at| format!("{} ago", age(now - at)));
    let mut text = String::new();
    if style.headers {
        text = format!(
            "NetworkPolicy {POLICY_NAME} in namespace {ns}: {} ranges enforced, applied {applied}\n",
            current.ranges.len()
        );
    }
    let applied_at = current.applied_at().unwrap_or(now);
    let rows: Vec<Vec<String>> = current
        .seen
        .iter()
        .flat_map(|(label, nets)| {
            nets.iter().map(move |(net, at)| {
                // Not seen at the last apply: kept for its grace period.
                let state = if *at == applied_at {
                    "seen".to_string()
                } else {
                    let left = at.saturating_add(grace) - now;
                    if left > 0 {
                        format!("not seen, goes in {}", age(left))
                    } else {
                        "not seen, goes at the next apply".to_string()
                    }
                };
                vec![label.clone(), net.to_string(), age(now - at), state]
            })
        })
        .collect();
    text.push_str(&format_table_styled(
        &["SOURCE", "RANGE", "LAST SEEN", "STATE"],
        &rows,
        style,
    ));
    text
}

/// `binderctl status`'s line when the policy cannot be used; the error
/// itself follows on stderr.
pub fn status_problem_line(err: &anyhow::Error) -> String {
    let first = format!("{err:#}");
    let first = first.lines().next().unwrap_or_default().to_string();
    format!("Egress policy {POLICY_NAME}: cannot be used: {first}\n")
}

/// One line for `binderctl status`: the policy's ranges, its last apply,
/// and what an apply would drop without any look-up (addresses past the
/// default grace period); DNS changes need `egress check`.
pub fn status_line(current: Option<&Enforced>, now: i64) -> String {
    let Some(p) = current else {
        return format!("Egress policy {POLICY_NAME}: none\n");
    };
    let applied = p
        .applied_at()
        .map_or("never".to_string(), |at| format!("{} ago", age(now - at)));
    let expired = p
        .seen
        .values()
        .flat_map(|m| m.values())
        .filter(|at| at.saturating_add(policy::DEFAULT_GRACE_SECS) <= now)
        .count();
    let stale = match expired {
        0 => "`binderctl egress check` says whether DNS changed it".to_string(),
        n => format!(
            "stale: {n} addresses past their grace period, `binderctl egress apply` would \
             remove them"
        ),
    };
    format!(
        "Egress policy {POLICY_NAME}: {} ranges, applied {applied}; {stale}\n",
        p.ranges.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ToolFlavor;

    #[test]
    fn commands_are_argv_with_the_policy_on_stdin() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        assert_eq!(
            get_command(&tools, "binder").to_string(),
            "microk8s kubectl get networkpolicy binderctl-egress -n binder -o json"
        );
        let step = apply_step(&tools, "binder", "{\"kind\": \"NetworkPolicy\"}");
        assert_eq!(
            step.command.to_string(),
            "microk8s kubectl apply -n binder -f -"
        );
        assert_eq!(step.stdin.as_deref(), Some("{\"kind\": \"NetworkPolicy\"}"));
        assert_eq!(
            delete_step(&Tools::new(ToolFlavor::Plain), "ns")
                .command
                .to_string(),
            "kubectl delete networkpolicy binderctl-egress -n ns --ignore-not-found"
        );
        assert_eq!(
            values_command(&tools, "bh", "ns").to_string(),
            "microk8s helm get values bh -n ns -o json"
        );
    }

    #[test]
    fn sample_plans_hold_every_argv() {
        let argvs: Vec<String> = sample_plans()
            .iter()
            .flat_map(|p| p.commands().map(ToString::to_string).collect::<Vec<_>>())
            .collect();
        assert_eq!(
            argvs,
            [
                "microk8s kubectl get networkpolicy binderctl-egress -n binder -o json",
                "microk8s kubectl apply -n binder -f -",
                "microk8s helm get values binder -n binder -o json",
                "microk8s kubectl delete networkpolicy binderctl-egress -n binder --ignore-not-found",
                "kubectl get networkpolicy binderctl-egress -n binder -o json",
                "kubectl apply -n binder -f -",
                "helm get values binder -n binder -o json",
                "kubectl delete networkpolicy binderctl-egress -n binder --ignore-not-found",
            ]
        );
        // The apply steps carry a real policy on stdin.
        let stdin = sample_plans()[0].steps[1].stdin.clone().unwrap();
        assert!(stdin.contains("\"kind\":\"NetworkPolicy\""), "{stdin}");
    }

    #[test]
    fn status_line_says_when_an_apply_is_due() {
        let fresh = [Source {
            label: "host a.test".into(),
            nets: nets(&["192.0.2.1/32"]),
            explicit: false,
        }];
        let first = policy::merge_with_grace(&policy::Seen::new(), &fresh, 1000, 10);
        let gone = policy::merge_with_grace(&first.seen, &[], 2000, 1_000_000);
        let enforced = Enforced {
            ranges: policy::ranges(&gone.seen),
            seen: gone.seen,
            applied: Some(2000),
        };
        assert_eq!(
            status_line(Some(&enforced), 2000 + 3600),
            "Egress policy binderctl-egress: 1 ranges, applied 1h ago; `binderctl egress check` \
             says whether DNS changed it\n"
        );
        let day = policy::DEFAULT_GRACE_SECS;
        assert!(status_line(Some(&enforced), 1000 + day).contains("stale: 1 addresses past"));
        assert_eq!(
            status_line(None, 0),
            "Egress policy binderctl-egress: none\n"
        );
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(check_namespace("binder").is_ok());
        for bad in [
            "",
            "-n",
            "Binder",
            "a b",
            "--all-namespaces",
            &"x".repeat(64),
        ] {
            assert!(check_namespace(bad).is_err(), "{bad}");
        }
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| cidr::parse(n).unwrap()).collect()
    }

    #[test]
    fn values_drift_is_by_meaning() {
        let deployed = nets(&["198.51.100.0/24", "192.0.2.1/32"]);
        let sources = vec![
            Source {
                label: "Fastly addresses".into(),
                nets: nets(&["198.51.100.0/24"]),
                explicit: false,
            },
            Source {
                label: "host cdn.test".into(),
                nets: nets(&["198.51.100.9/32"]),
                explicit: false,
            },
        ];
        let after = cidr::merge(sources.iter().flat_map(|s| s.nets.clone()));
        // The host's address is inside Fastly's range; 192.0.2.1 went away.
        let changes = drift_against(&deployed, &sources, &after);
        assert_eq!(
            changes,
            vec![SourceChange {
                label: "deployed rule".into(),
                added: vec![],
                removed: vec!["192.0.2.1/32".into()]
            }]
        );
        assert!(drift_against(&after, &sources, &after).is_empty());
        let changes = drift_against(&nets(&["198.51.100.0/25"]), &sources, &after);
        assert_eq!(changes[0].label, "Fastly addresses");
        assert_eq!(changes.len(), 1, "{changes:?}");
    }
}
