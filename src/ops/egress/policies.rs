//! `binderctl egress apply|check|show`: the egress allow-list as the
//! NetworkPolicies `binderctl-egress` and `binderctl-egress-v2` (user pods
//! by either label generation) and, when asked, `binderctl-egress-build`
//! (allow_list_mode: policy), refreshed without Helm; `check` compares
//! fresh lookups with what the cluster enforces (the policies, or in values
//! mode the deployed values) and names user pods no policy selects.

use crate::error::ShownPath;
use anyhow::{Context, Result};
use serde_json::json;

use crate::cluster::duration::{format_age, parse_duration, unix_now};
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::{stderr_line, stderr_text, stdout_text, Runner};
use crate::cluster::target::Target as ClusterTarget;
use crate::cluster::tools::Tools;
use crate::egress::allow_list::{Source, SourceChange};
use crate::egress::cidr::{self, IpNet};
use crate::egress::policy::{self, Coverage, Enforced, Held, Merged, PodInfo, Target, POLICY_NAME};
use crate::error::{Outcome, ToolFailed};
use crate::ops::render::RenderOptions;
use crate::ops::render::{self, Rendered};
use crate::output::format;
use crate::output::format::{OutputFormat, OutputOptions};
use crate::output::table::{format_table_styled, TableStyle};
use crate::values::settings::{AllowListMode, KEY_ALLOW_LIST_MODE, KEY_EGRESS, NETWORK_POLICY};
use crate::values::transform;

use crate::ops::pods::{self, PodList};

use crate::output;

/// `egress apply`'s options.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub render: RenderOptions,
    pub grace: Grace,
    pub dry_run: bool,
}

/// `egress check`'s options.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub render: RenderOptions,
    pub grace: Grace,
    pub compare_resolvers: bool,
}

/// `egress show`'s options.
#[derive(Debug, Clone)]
pub struct ShowOptions {
    pub output: OutputOptions,
    pub grace: Grace,
}

/// How long a range that left the lists stays allowed (`--grace`), and the
/// time to judge it at (`--now`, for tests; unset, the clock).
#[derive(Debug, Clone)]
pub struct Grace {
    pub grace: String,
    pub now: Option<i64>,
}

/// `egress apply`: render, then create or update the NetworkPolicies.
pub async fn apply(target: &ClusterTarget, options: &ApplyOptions) -> Result<Outcome> {
    check_namespace(&target.namespace)?;
    let tools = Tools::for_target(target);
    let runner = Runner::new(options.dry_run);
    let clock = Clock::new(&options.grace)?;
    let (rendered, current) = tokio::join!(
        async {
            let args =
                crate::ops::nameservers::choose(&runner, &tools, &options.render, true).await?;
            render::render(&args).await
        },
        read_policies(&runner, &tools, &target.namespace)
    );
    let rendered = rendered.map_err(|e| {
        let text = format!("{e:#}\nnothing applied; NetworkPolicy {POLICY_NAME} is unchanged");
        crate::error::Problems(text.lines().map(str::to_string).collect())
    })?;
    require_policy_mode(&rendered, &options.render.input.shown().to_string())?;
    apply_policy(&runner, &tools, target, &rendered, current?, &clock).await?;
    Ok(Outcome::Success)
}

/// `egress check`: would `apply` change anything? Exit 1 means "would
/// change", so a tool's own exit 1 must not look like it.
pub async fn check(target: &ClusterTarget, options: &CheckOptions) -> Result<Outcome> {
    check_namespace(&target.namespace)?;
    let tools = Tools::for_target(target);
    let clock = Clock::new(&options.grace)?;
    check_drift(&tools, target, options, &clock)
        .await
        .map_err(tool_failure_is_an_error)
}

/// `egress show`: the policies held, and which pods they select.
pub async fn show(target: &ClusterTarget, options: &ShowOptions) -> Result<Outcome> {
    check_namespace(&target.namespace)?;
    let tools = Tools::for_target(target);
    let clock = Clock::new(&options.grace)?;
    let runner = Runner::new(false);
    let (held, pods) = tokio::try_join!(
        read_policies(&runner, &tools, &target.namespace),
        read_pods(&runner, &tools, &target.namespace)
    )?;
    let coverage = policy::coverage(&held, &pods, &target.release)
        .map_err(|e| anyhow::anyhow!("namespace {}: {e}", target.namespace))?;
    show_policy(target, &held, &coverage, &options.output, &clock)?;
    Ok(Outcome::Success)
}

/// The time and grace period of one run.
struct Clock {
    now: i64,
    grace: i64,
}

impl Clock {
    fn new(args: &Grace) -> Result<Self> {
        let grace = parse_duration(&args.grace).context("--grace")?;
        Ok(Clock {
            now: args.now.unwrap_or_else(unix_now),
            grace: i64::try_from(grace.as_secs()).unwrap_or(i64::MAX),
        })
    }
}

/// A namespace is a DNS label; anything else is refused before any tool sees it.
pub fn check_namespace(namespace: &str) -> Result<()> {
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
pub fn tool_failure_is_an_error(err: anyhow::Error) -> anyhow::Error {
    if err.downcast_ref::<ToolFailed>().is_some() {
        anyhow::anyhow!("{err:#}")
    } else {
        err
    }
}

/// `kubectl get networkpolicy NAME -n NS -o json`.
pub fn get_command(tools: &Tools, namespace: &str, name: &str) -> CommandLine {
    tools.kubectl(["get", "networkpolicy", name, "-n", namespace, "-o", "json"])
}

/// `kubectl apply -n NS -f -` with one policy on stdin.
pub fn apply_step(tools: &Tools, namespace: &str, name: &str, manifest: &str) -> Step {
    Step::new(tools.kubectl(["apply", "-n", namespace, "-f", "-"]))
        .described(format!(
            "Applying NetworkPolicy {name} in namespace {namespace}"
        ))
        .with_stdin(manifest)
}

/// `kubectl delete networkpolicy NAME -n NS --ignore-not-found`.
pub fn delete_step(tools: &Tools, namespace: &str, name: &str) -> Step {
    Step::new(tools.kubectl([
        "delete",
        "networkpolicy",
        name,
        "-n",
        namespace,
        "--ignore-not-found",
    ]))
    .described(format!("Deleting NetworkPolicy {name}"))
}

/// Every managed policy's delete step (uninstall).
pub fn delete_steps(tools: &Tools, namespace: &str) -> Vec<Step> {
    Target::ALL
        .iter()
        .map(|t| delete_step(tools, namespace, t.name()))
        .collect()
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
        crate::cluster::tools::ToolFlavor::Microk8s,
        crate::cluster::tools::ToolFlavor::Plain,
    ] {
        let tools = Tools::new(flavor);
        let mut steps = Vec::new();
        for target in Target::ALL {
            let manifest = policy::manifest(target, "binder", "binder", &policy::Seen::new(), 0)
                .map(|m| m.to_string())
                .unwrap_or_default();
            steps.push(Step::new(get_command(&tools, "binder", target.name())));
            steps.push(apply_step(&tools, "binder", target.name(), &manifest));
        }
        plans.push(Plan::from(steps));
        plans.push(Plan::from(vec![Step::new(values_command(
            &tools, "binder", "binder",
        ))]));
        plans.push(Plan::from(delete_steps(&tools, "binder")));
    }
    plans
}

/// One managed policy, if the namespace holds it (read also with `--dry-run`).
pub async fn read_policy(
    runner: &Runner,
    tools: &Tools,
    namespace: &str,
    name: &str,
) -> Result<Option<Enforced>> {
    let command = get_command(tools, namespace, name);
    let captured = runner.probe(&command).await?;
    if !captured.success() {
        if captured.says_not_found() {
            return Ok(None);
        }
        return Err(crate::cluster::runner::failed(&command, &captured));
    }
    let object: serde_json::Value = serde_json::from_str(&captured.stdout)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    policy::parse_policy(&object)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("namespace {namespace}: {e}"))
}

/// Every managed policy the namespace holds, read at once.
pub async fn read_policies(runner: &Runner, tools: &Tools, namespace: &str) -> Result<Held> {
    let read = Target::ALL
        .iter()
        .map(|t| read_policy(runner, tools, namespace, t.name()));
    let found = futures_util::future::try_join_all(read).await?;
    Ok(Held {
        policies: Target::ALL
            .into_iter()
            .zip(found)
            .filter_map(|(t, p)| Some((t, p?)))
            .collect(),
    })
}

/// The namespace's pods as coverage needs them (`kubectl get pods -o json`).
async fn read_pods(runner: &Runner, tools: &Tools, namespace: &str) -> Result<Vec<PodInfo>> {
    let list: PodList = runner
        .query_json(&pods::list_command(tools, namespace, None))
        .await?;
    Ok(list
        .items
        .into_iter()
        .map(|pod| {
            let deleting = pod.metadata.deletion_timestamp.is_some();
            let phase = pod.status.phase.unwrap_or_default();
            PodInfo {
                running: phase == "Running" && !deleting,
                finished: deleting || phase == "Succeeded" || phase == "Failed",
                name: pod.metadata.name,
                labels: pod.metadata.labels,
            }
        })
        .collect())
}

/// What becomes of one managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// Held, and what it enforces changes so (empty: stays the same).
    Kept(Vec<SourceChange>),
    /// Not held yet: made with these ranges, per source.
    New(Vec<SourceChange>),
    /// Held but no longer wanted (`egress_targets` lost `build`).
    Dropped,
}

/// Per wanted or held policy, its fate; policies with the same fate
/// together, in [`Target::ALL`]'s order.
fn fates(held: &Held, wanted: &[Target], merged: &Merged) -> Vec<(Vec<Target>, Fate)> {
    let mut out: Vec<(Vec<Target>, Fate)> = Vec::new();
    for target in Target::ALL {
        let fate = match (held.policies.get(&target), wanted.contains(&target)) {
            (Some(p), true) => Fate::Kept(policy::drift(&p.ranges, merged)),
            (None, true) => Fate::New(policy::drift(&[], merged)),
            (Some(_), false) => Fate::Dropped,
            (None, false) => continue,
        };
        match out.iter_mut().find(|(_, f)| *f == fate) {
            Some((targets, _)) => targets.push(target),
            None => out.push((vec![target], fate)),
        }
    }
    out
}

/// `NetworkPolicy a` or `NetworkPolicies a, b`.
fn policy_names(targets: &[Target]) -> String {
    let names: Vec<&str> = targets.iter().map(|t| t.name()).collect();
    match names.len() {
        1 => format!("NetworkPolicy {}", names[0]),
        _ => format!("NetworkPolicies {}", names.join(", ")),
    }
}

/// The fates as apply (`would` false) or check (`would` true) tells them;
/// whether anything changes.
fn format_fates(fates: &[(Vec<Target>, Fate)], would: bool) -> (String, bool) {
    let mut text = String::new();
    let mut changed = false;
    for (targets, fate) in fates {
        let names = policy_names(targets);
        match fate {
            Fate::Kept(changes) if changes.is_empty() => {
                if !would {
                    text.push_str(&format!("{names}: the enforced ranges stay the same\n"));
                }
            }
            Fate::Kept(changes) => {
                changed = true;
                let verb = if would {
                    "would change (`binderctl egress apply`)"
                } else {
                    "changes"
                };
                text.push_str(&format!("{names} {verb}:\n{}", format_changes(changes)));
            }
            Fate::New(changes) => {
                changed = true;
                let them = if targets.len() == 1 { "it" } else { "them" };
                let verb = if would {
                    format!("missing: `binderctl egress apply` would create {them} with")
                } else {
                    "new, with".to_string()
                };
                let count = changes.iter().map(|c| c.added.len()).sum::<usize>();
                text.push_str(&format!(
                    "{names} {verb} {count} ranges{}\n{}",
                    if changes.is_empty() { "" } else { ":" },
                    format_changes(changes)
                ));
            }
            Fate::Dropped => {
                changed = true;
                let verb = if would {
                    "would be deleted (`binderctl egress apply`)"
                } else {
                    "deleted"
                };
                text.push_str(&format!(
                    "{names} {verb}: egress_targets no longer holds build\n"
                ));
            }
        }
    }
    (text, changed)
}

/// Merge, show the change, apply every wanted policy and delete the ones no
/// longer wanted (or print the commands with `--dry-run`).
async fn apply_policy(
    runner: &Runner,
    tools: &Tools,
    target: &ClusterTarget,
    rendered: &Rendered,
    current: Held,
    clock: &Clock,
) -> Result<()> {
    let merged =
        policy::merge_with_grace(&current.seen(), &rendered.sources, clock.now, clock.grace);
    let wanted = Target::wanted(rendered.build_egress);
    let mut manifests = Vec::new();
    for kind in &wanted {
        let manifest = policy::manifest(
            *kind,
            &target.namespace,
            &target.release,
            &merged.seen,
            clock.now,
        )
        .map_err(|e| anyhow::anyhow!("NetworkPolicy {}: {e}", kind.name()))?;
        let mut manifest = manifest;
        if let Some(ttl) = rendered.shortest_ttl {
            manifest["metadata"]["annotations"][policy::ANNOTATION_SHORTEST_TTL] =
                serde_json::Value::String(ttl.to_string());
        }
        let json =
            serde_json::to_string_pretty(&manifest).context("cannot write the policy as JSON")?;
        manifests.push((*kind, json));
    }
    let (mut text, _) = format_fates(&fates(&current, &wanted, &merged), false);
    text.push_str(&format_in_grace(&merged, clock.now));
    stdout_text(&text);
    let count = policy::ranges(&merged.seen).len();
    let names = policy_names(&wanted);
    if runner.is_dry_run() {
        stderr_line(&format!(
            "binderctl: dry run: nothing applied; the commands (each policy of {count} ranges on \
             its standard input):"
        ));
    }
    for (kind, json) in &manifests {
        runner
            .run_step(&apply_step(tools, &target.namespace, kind.name(), json))
            .await?;
    }
    for kind in current.policies.keys().filter(|t| !wanted.contains(t)) {
        runner
            .run_step(&delete_step(tools, &target.namespace, kind.name()))
            .await?;
    }
    if !runner.is_dry_run() {
        stderr_line(&format!(
            "binderctl: {}; {names} applied with {count} ranges ({} kept in their grace period)",
            rendered.summary,
            merged.in_grace.len()
        ));
    }
    Ok(())
}

/// The deploy hook's read, made alongside deploy's other preflight reads
/// (the upgrade never touches binderctl's own policies). The outer error is
/// a namespace no tool may see; the inner one, the read's, is judged by
/// [`policy_for_deploy`] once the render says the mode.
pub async fn before_deploy(
    runner: &Runner,
    tools: &Tools,
    target: &ClusterTarget,
) -> Result<Result<Held>> {
    check_namespace(&target.namespace)?;
    Ok(read_policies(runner, tools, &target.namespace).await)
}

/// What deploy makes of [`before_deploy`]'s read, before anything changes.
/// In policy mode the deploy applies the policies after the upgrade, so a
/// read it cannot use (a policy of one of those names that is not
/// binderctl's, an answer that is not one, `Forbidden`) stops it here,
/// nothing deployed; in values mode the policies only matter for a warning,
/// so the problem is a warning and the deploy goes on.
pub fn policy_for_deploy(rendered: &Rendered, read: Result<Held>, namespace: &str) -> Result<Held> {
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
            Ok(Held::default())
        }
    }
}

/// The deploy hook: in policy mode, apply the policies after the release;
/// `current` is what [`before_deploy`] read.
pub async fn after_deploy(
    runner: &Runner,
    tools: &Tools,
    target: &ClusterTarget,
    rendered: &Rendered,
    current: Held,
) -> Result<()> {
    if rendered.mode != AllowListMode::Policy {
        // Policies add up: a leftover one keeps allowing its ranges.
        if !current.is_empty() {
            let names = current.names().join(" ");
            render::warn(&format!(
                "{} from allow_list_mode: policy still allow {} ranges besides the values' \
                 rule; delete them (`kubectl delete networkpolicy {names} -n {}`) or set \
                 allow_list_mode: policy again",
                policy_names(&current.policies.keys().copied().collect::<Vec<_>>()),
                current.ranges().len(),
                target.namespace
            ));
        }
        return Ok(());
    }
    let clock = Clock {
        now: unix_now(),
        grace: policy::DEFAULT_GRACE_SECS,
    };
    apply_policy(runner, tools, target, rendered, current, &clock).await
}

/// The user pods no managed policy selects, as a paragraph (empty when none).
fn format_unselected(coverage: &Coverage) -> String {
    if coverage.unselected.is_empty() {
        return String::new();
    }
    format!(
        "User pods no managed NetworkPolicy selects (the allow-list does not reach them; \
         `binderctl egress apply` adds a missing policy, otherwise check their labels):\n{}",
        coverage
            .unselected
            .iter()
            .map(|name| format!("  {name}\n"))
            .collect::<String>()
    )
}

/// What is enforced now, compared with what an apply (policy mode) or a
/// deploy (values mode) would enforce.
async fn check_drift(
    tools: &Tools,
    target: &ClusterTarget,
    options: &CheckOptions,
    clock: &Clock,
) -> Result<Outcome> {
    let runner = Runner::new(false);
    let ns = &target.namespace;
    let values_command = values_command(tools, &target.release, ns);
    // binder.yaml once; then only the read its mode needs, alongside the
    // lookups.
    let started = std::time::Instant::now();
    let input = render::read_input(&options.render)?;
    let args = crate::ops::nameservers::choose(&runner, tools, &options.render, true).await?;
    if options.compare_resolvers {
        compare_resolvers(&runner, tools, &options.render, &args, input.hosts()).await?;
    }
    let args = &args;
    let (rendered, enforced) = match input.mode() {
        AllowListMode::Values => {
            let (r, v) = tokio::join!(
                render::render_input(args, input, started),
                runner.query(&values_command)
            );
            (r, v.map(Enforcement::Values))
        }
        AllowListMode::Policy => {
            let (r, p) = tokio::join!(render::render_input(args, input, started), async {
                tokio::try_join!(
                    read_policies(&runner, tools, ns),
                    read_pods(&runner, tools, ns)
                )
            });
            (r, p.map(|(held, pods)| Enforcement::Policy(held, pods)))
        }
    };
    let (rendered, enforced) = (rendered?, enforced?);
    let (what, remedy, changes) = match enforced {
        Enforcement::Policy(held, pods) => {
            let coverage = policy::coverage(&held, &pods, &target.release)
                .map_err(|e| anyhow::anyhow!("namespace {ns}: {e}"))?;
            let merged =
                policy::merge_with_grace(&held.seen(), &rendered.sources, clock.now, clock.grace);
            let wanted = Target::wanted(rendered.build_egress);
            let (mut text, changed) = format_fates(&fates(&held, &wanted, &merged), true);
            text.push_str(&format_unselected(&coverage));
            if !changed && coverage.unselected.is_empty() {
                if !output::is_quiet() {
                    stdout_text(&format!(
                        "{} up to date ({} ranges)\n",
                        policy_names(&wanted),
                        rendered.merged.len()
                    ));
                }
                return Ok(Outcome::Success);
            }
            stdout_text(&text);
            return Ok(Outcome::Changed);
        }
        Enforcement::Values(json) => {
            let deployed = deployed_ranges(&json, &values_command, &rendered)?;
            let changes = drift_against(&deployed, &rendered.sources, &rendered.merged);
            let what = format!("The egress rule of release {}", target.release);
            (what, "binderctl deploy", changes)
        }
    };
    if changes.is_empty() {
        if !output::is_quiet() {
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

/// `egress check --compare-resolvers`: every host resolved through the
/// cluster's DNS and through the host's resolver (or the servers
/// `--nameserver` names), and the hosts whose answers differ printed. A
/// report: it changes no exit code.
async fn compare_resolvers(
    runner: &Runner,
    tools: &Tools,
    given: &RenderOptions,
    chosen: &RenderOptions,
    hosts: &[String],
) -> Result<()> {
    let cluster = match &chosen.dns_note {
        Some(_) => chosen.clone(),
        None => {
            let mut asked = given.clone();
            asked.nameservers = vec![crate::egress::dns::NAMESERVER_CLUSTER.to_string()];
            crate::ops::nameservers::choose(runner, tools, &asked, false).await?
        }
    };
    let other: Vec<String> = given
        .nameservers
        .iter()
        .filter(|s| {
            *s != crate::egress::dns::NAMESERVER_CLUSTER
                && *s != crate::egress::dns::NAMESERVER_HOST
        })
        .cloned()
        .collect();
    let other_name = if other.is_empty() {
        "the host's resolver".to_string()
    } else {
        other.join(", ")
    };
    let options = |servers: &[String]| -> Result<crate::egress::dns::DnsOptions> {
        Ok(crate::egress::dns::DnsOptions {
            nameservers: servers
                .iter()
                .map(|s| crate::egress::dns::parse_nameserver(s))
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("--nameserver: {e}"))?,
            timeout: given.timeout,
            retries: given.retries,
        })
    };
    let (cluster_options, other_options) = (options(&cluster.nameservers)?, options(&other)?);
    let (ours, theirs) = tokio::join!(
        crate::egress::dns::resolve_all(hosts, &cluster_options),
        crate::egress::dns::resolve_all(hosts, &other_options)
    );
    let ours = ours.map_err(|e| anyhow::anyhow!("the cluster's DNS: {e}"))?;
    let theirs = theirs.map_err(|e| anyhow::anyhow!("{other_name}: {e}"))?;
    let answer = |lookup: &crate::egress::dns::HostLookup| match &lookup.result {
        Ok(ips) => ips
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        Err(failure) => failure.to_string(),
    };
    let differing: Vec<String> = ours
        .iter()
        .zip(&theirs)
        .filter(|(a, b)| answer(a) != answer(b))
        .map(|(a, b)| {
            format!(
                "  {}: cluster {}; {other_name} {}\n",
                a.host,
                answer(a),
                answer(b)
            )
        })
        .collect();
    let through = cluster.dns_note.as_deref().unwrap_or("the cluster's DNS");
    if differing.is_empty() {
        stdout_text(&format!(
            "Resolvers agree on all {} hosts ({through}; {other_name})\n",
            hosts.len()
        ));
    } else {
        stdout_text(&format!(
            "Hosts whose answers differ between the cluster's DNS ({through}) and {other_name} \
             (the user pods get the cluster's):\n{}",
            differing.concat()
        ));
    }
    Ok(())
}

/// What the cluster enforces: the policy (if any), or the deployed values
/// as `helm get values -o json` prints them.
enum Enforcement {
    Policy(Held, Vec<PodInfo>),
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
    target: &ClusterTarget,
    held: &Held,
    coverage: &Coverage,
    output: &OutputOptions,
    clock: &Clock,
) -> Result<()> {
    let (now, grace) = (clock.now, clock.grace);
    let ns = &target.namespace;
    if held.is_empty() {
        if output.output.is_some_and(|f| f != OutputFormat::Wide) {
            return format::print(output, &serde_json::Value::Null, Vec::new, |_| {
                String::new()
            });
        }
        stderr_line(&format!(
            "No NetworkPolicy {POLICY_NAME} or {} in namespace {ns} (allow_list_mode: values \
             keeps the allow-list in the release's values; `binderctl egress check` compares \
             them).",
            policy::POLICY_NAME_V2
        ));
        if !coverage.unselected.is_empty() {
            stderr_text(&format_unselected(coverage));
        }
        return Ok(());
    }
    let current = held.combined();
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
    let policies: Vec<serde_json::Value> = held
        .policies
        .iter()
        .map(|(target, p)| {
            json!({
                "name": target.name(),
                "pod_selector": p.selector,
                "ranges": p.ranges.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "running_pods_selected": coverage.running.get(target).copied().unwrap_or(0),
            })
        })
        .collect();
    let record = json!({
        "name": held.names().first().copied().unwrap_or(POLICY_NAME),
        "namespace": ns,
        "applied_at": applied_at,
        "ranges": current.ranges.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "sources": sources,
        "policies": policies,
        "unselected_user_pods": coverage.unselected,
    });
    let names = || {
        held.names()
            .iter()
            .map(|n| format!("networkpolicy/{n}"))
            .collect()
    };
    format::print(output, &record, names, |style| {
        show_table(held, coverage, ns, clock, style)
    })?;
    if !coverage.unselected.is_empty() {
        stderr_text(&format_unselected(coverage));
    }
    Ok(())
}

/// A pod selector as `-l` takes it (matchLabels; expressions named as such).
fn selector_shown(selector: &serde_json::Value) -> String {
    let labels: std::collections::BTreeMap<String, String> = selector
        .get("matchLabels")
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut text = policy::selector_text(&labels);
    if selector
        .get("matchExpressions")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|e| !e.is_empty())
    {
        text.push_str(" (and matchExpressions)");
    }
    text
}

/// `egress show`'s table: a line per policy (its selector and the running
/// pods it selects), then a row per range.
fn show_table(
    held: &Held,
    coverage: &Coverage,
    ns: &str,
    clock: &Clock,
    style: TableStyle,
) -> String {
    let current = held.combined();
    let (now, grace) = (clock.now, clock.grace);
    let applied = current
        .applied_at()
        .map_or("never".to_string(), |at| format!("{} ago", age(now - at)));
    let mut text = String::new();
    if style.headers {
        for (target, p) in &held.policies {
            text.push_str(&format!(
                "NetworkPolicy {} in namespace {ns}: {} ranges enforced, selects {} running pods \
                 ({})\n",
                target.name(),
                p.ranges.len(),
                coverage.running.get(target).copied().unwrap_or(0),
                selector_shown(&p.selector)
            ));
        }
        text.push_str(&format!("Applied {applied}\n"));
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

/// `binderctl status`'s line when the policies cannot be used; the error
/// itself follows on stderr.
pub fn status_problem_line(err: &anyhow::Error) -> String {
    let first = format!("{err:#}");
    let first = first.lines().next().unwrap_or_default().to_string();
    format!("Egress policy {POLICY_NAME}: cannot be used: {first}\n")
}

/// One line for `binderctl status`: the policies' ranges, their last
/// apply, and what an apply would drop without any look-up (addresses past
/// the default grace period); DNS changes need `egress check`.
pub fn status_line(held: &Held, now: i64) -> String {
    if held.is_empty() {
        return format!("Egress policy {POLICY_NAME}: none\n");
    }
    let p = held.combined();
    let applied = p
        .applied_at()
        .map_or("never".to_string(), |at| format!("{} ago", age(now - at)));
    let expired = p
        .seen
        .values()
        .flat_map(|m| m.values())
        .filter(|at| at.saturating_add(policy::DEFAULT_GRACE_SECS) <= now)
        .count();
    let mut stale = match expired {
        0 => "`binderctl egress check` says whether DNS changed it".to_string(),
        n => format!(
            "stale: {n} addresses past their grace period, `binderctl egress apply` would \
             remove them"
        ),
    };
    if !held.policies.contains_key(&Target::SingleUserV2) {
        stale.push_str(&format!(
            "; {} is missing (user pods with only the app.kubernetes.io/ labels get no \
             allow-list): `binderctl egress apply` creates it",
            policy::POLICY_NAME_V2
        ));
    }
    let names = held.names();
    let label = if names.len() == 1 {
        "policy"
    } else {
        "policies"
    };
    format!(
        "Egress {label} {}: {} ranges, applied {applied}; {stale}\n",
        names.join(", "),
        p.ranges.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    #[test]
    fn commands_are_argv_with_the_policy_on_stdin() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        assert_eq!(
            get_command(&tools, "binder", POLICY_NAME).to_string(),
            "microk8s kubectl get networkpolicy binderctl-egress -n binder -o json"
        );
        let step = apply_step(
            &tools,
            "binder",
            POLICY_NAME,
            "{\"kind\": \"NetworkPolicy\"}",
        );
        assert_eq!(
            step.command.to_string(),
            "microk8s kubectl apply -n binder -f -"
        );
        assert_eq!(step.stdin.as_deref(), Some("{\"kind\": \"NetworkPolicy\"}"));
        assert_eq!(
            delete_step(&Tools::new(ToolFlavor::Plain), "ns", "binderctl-egress-v2")
                .command
                .to_string(),
            "kubectl delete networkpolicy binderctl-egress-v2 -n ns --ignore-not-found"
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
        let mut expected = Vec::new();
        for prefix in ["microk8s kubectl", "kubectl"] {
            for name in [
                "binderctl-egress",
                "binderctl-egress-v2",
                "binderctl-egress-build",
            ] {
                expected.push(format!(
                    "{prefix} get networkpolicy {name} -n binder -o json"
                ));
                expected.push(format!("{prefix} apply -n binder -f -"));
            }
            expected.push(format!(
                "{} get values binder -n binder -o json",
                prefix.replace("kubectl", "helm")
            ));
            for name in [
                "binderctl-egress",
                "binderctl-egress-v2",
                "binderctl-egress-build",
            ] {
                expected.push(format!(
                    "{prefix} delete networkpolicy {name} -n binder --ignore-not-found"
                ));
            }
        }
        assert_eq!(argvs, expected);
        // The apply steps carry a real policy on stdin.
        let stdin = sample_plans()[0].steps[1].stdin.clone().unwrap();
        assert!(stdin.contains("\"kind\":\"NetworkPolicy\""), "{stdin}");
    }

    fn held(policies: &[(Target, policy::Seen, i64)]) -> Held {
        Held {
            policies: policies
                .iter()
                .map(|(t, seen, at)| {
                    let m = policy::manifest(*t, "binder", "binder", seen, *at).unwrap();
                    (*t, policy::parse_policy(&m).unwrap())
                })
                .collect(),
        }
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
        let both = held(&[
            (Target::SingleUser, gone.seen.clone(), 2000),
            (Target::SingleUserV2, gone.seen.clone(), 2000),
        ]);
        assert_eq!(
            status_line(&both, 2000 + 3600),
            "Egress policies binderctl-egress, binderctl-egress-v2: 1 ranges, applied 1h ago; \
             `binderctl egress check` says whether DNS changed it\n"
        );
        let day = policy::DEFAULT_GRACE_SECS;
        assert!(status_line(&both, 1000 + day).contains("stale: 1 addresses past"));
        // A policy of the old binderctl alone: the second generation is missing.
        let old = held(&[(Target::SingleUser, gone.seen, 2000)]);
        assert!(
            status_line(&old, 2000 + 3600).contains("binderctl-egress-v2 is missing"),
            "{}",
            status_line(&old, 2000 + 3600)
        );
        assert_eq!(
            status_line(&Held::default(), 0),
            "Egress policy binderctl-egress: none\n"
        );
    }

    #[test]
    fn fates_group_policies_and_name_missing_and_dropped_ones() {
        let fresh = [Source {
            label: "host a.test".into(),
            nets: nets(&["192.0.2.1/32"]),
            explicit: false,
        }];
        let merged = policy::merge_with_grace(&policy::Seen::new(), &fresh, 1000, 10);
        // An old binderctl's policy and a build policy no longer wanted.
        let current = held(&[
            (Target::SingleUser, merged.seen.clone(), 1000),
            (Target::Build, merged.seen.clone(), 1000),
        ]);
        let wanted = Target::wanted(false);
        let again = policy::merge_with_grace(&current.seen(), &fresh, 2000, 10);
        let (text, changed) = format_fates(&fates(&current, &wanted, &again), true);
        assert!(changed);
        assert_eq!(
            text,
            "NetworkPolicy binderctl-egress-v2 missing: `binderctl egress apply` would create \
             it with 1 ranges:\n  policy rule:\n    + 192.0.2.1/32\n\
             NetworkPolicy binderctl-egress-build would be deleted (`binderctl egress apply`): \
             egress_targets no longer holds build\n"
        );
        let all = held(&[
            (Target::SingleUser, merged.seen.clone(), 1000),
            (Target::SingleUserV2, merged.seen.clone(), 1000),
        ]);
        let (text, changed) = format_fates(&fates(&all, &wanted, &again), false);
        assert!(!changed);
        assert_eq!(
            text,
            "NetworkPolicies binderctl-egress, binderctl-egress-v2: the enforced ranges stay the \
             same\n"
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
