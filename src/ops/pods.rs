//! `binderctl pods ls|purge`: list or delete pods by name prefix, label
//! selector and age, never touching the BinderHub's own pods unless forced.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::cluster::confirm::confirm;
use crate::cluster::duration::{format_age, parse_duration, parse_timestamp, unix_now};
use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::runner::{self, Batches, Runner, BATCHES_AT_ONCE};
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{NotConfirmed, Outcome};
use crate::output;
use crate::output::format::OutputOptions;
use crate::output::table::{format_table_styled, TableStyle};
use crate::output::{format, plural};

/// Which pods a `pods` command considers: `-l SELECTOR` (handed to the
/// server), `--older-than`, and whether the hub's own pods may be chosen.
#[derive(Debug, Clone, Default)]
pub struct PodSelection {
    pub selector: Option<String>,
    pub older_than: Option<String>,
    pub include_protected: bool,
}

/// `component` label values of the deployment's own pods (z2jh and the
/// BinderHub chart). User pods are `singleuser-server`.
pub const PROTECTED_COMPONENTS: &[&str] = &[
    "hub",
    "proxy",
    "autohttps",
    "binder",
    "user-scheduler",
    "image-cleaner",
    "binderhub-build",
    "dind",
    "pink",
    "continuous-image-puller",
    "hook-image-puller",
    "hook-image-awaiter",
    "user-placeholder",
];

/// Name prefixes of the deployment's own pods, for pods whose labels were
/// changed or lost.
pub const PROTECTED_NAME_PREFIXES: &[&str] = &[
    "hub-",
    "proxy-",
    "autohttps-",
    "binder-",
    "user-scheduler-",
    "image-cleaner-",
    "build-",
    "continuous-image-puller-",
    "hook-image-puller-",
    "hook-image-awaiter-",
    "user-placeholder-",
];

/// The `component` label of user pods.
pub const USER_POD_COMPONENT: &str = "singleuser-server";

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodList {
    #[serde(default)]
    pub items: Vec<Pod>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub creation_timestamp: Option<String>,
    #[serde(default)]
    pub deletion_timestamp: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub node_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub restart_count: u64,
    #[serde(default)]
    pub state: Option<BTreeMap<String, ContainerStateDetail>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContainerStateDetail {
    #[serde(default)]
    pub reason: Option<String>,
}

impl Pod {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn component(&self) -> Option<&str> {
        self.metadata.labels.get("component").map(String::as_str)
    }

    /// Why this pod belongs to the deployment itself, if it does.
    pub fn protection(&self) -> Option<String> {
        match self.component() {
            Some(USER_POD_COMPONENT) => None,
            Some(c) if PROTECTED_COMPONENTS.contains(&c) => Some(format!("component={c}")),
            _ => PROTECTED_NAME_PREFIXES
                .iter()
                .find(|p| self.name().starts_with(*p))
                .map(|p| format!("name starts with {p}")),
        }
    }

    /// Age in seconds at `now` (Unix seconds), if the creation time is known.
    pub fn age_at(&self, now: i64) -> Option<Duration> {
        let created = parse_timestamp(self.metadata.creation_timestamp.as_deref()?)?;
        Some(Duration::from_secs(
            u64::try_from(now - created).unwrap_or(0),
        ))
    }

    /// `ready/total` containers, as kubectl shows it.
    pub fn ready(&self) -> String {
        let statuses = &self.status.container_statuses;
        let ready = statuses.iter().filter(|c| c.ready).count();
        format!("{ready}/{}", statuses.len())
    }

    pub fn restarts(&self) -> u64 {
        self.status
            .container_statuses
            .iter()
            .map(|c| c.restart_count)
            .sum()
    }

    /// What kubectl shows as STATUS: Terminating, a container's waiting or
    /// terminated reason, the pod's reason (Evicted), or its phase.
    pub fn display_status(&self) -> String {
        if self.metadata.deletion_timestamp.is_some() {
            return "Terminating".to_string();
        }
        let container_reason = self.status.container_statuses.iter().find_map(|c| {
            let state = c.state.as_ref()?;
            ["waiting", "terminated"]
                .iter()
                .find_map(|kind| state.get(*kind).and_then(|d| d.reason.clone()))
        });
        container_reason
            .or_else(|| self.status.reason.clone())
            .or_else(|| self.status.phase.clone())
            .unwrap_or_else(|| "Unknown".to_string())
    }
}

/// How `pods ls` and `pods purge` choose pods (the selector is applied by
/// kubectl).
#[derive(Debug, Clone)]
pub struct Criteria {
    pub prefix: String,
    pub older_than: Option<Duration>,
    pub include_protected: bool,
    /// Unix seconds.
    pub now: i64,
}

/// The outcome of a selection.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub selected: Vec<Pod>,
    /// Pods that matched but were kept because they belong to the
    /// deployment: (name, reason).
    pub protected: Vec<(String, String)>,
}

/// Pick the pods whose name starts with the prefix, older than the limit,
/// leaving out the deployment's own pods unless `include_protected`.
pub fn select(pods: &[Pod], criteria: &Criteria) -> Selection {
    let mut selection = Selection::default();
    for pod in pods {
        if !pod.name().starts_with(&criteria.prefix) || pod.name().is_empty() {
            continue;
        }
        if let Some(limit) = criteria.older_than {
            // A pod of unknown age is never "old enough".
            match pod.age_at(criteria.now) {
                Some(age) if age > limit => {}
                _ => continue,
            }
        }
        match pod.protection() {
            Some(reason) if !criteria.include_protected => {
                selection.protected.push((pod.name().to_string(), reason));
            }
            _ => selection.selected.push(pod.clone()),
        }
    }
    selection
}

/// `kubectl get pods -n NS -o json [-l SELECTOR]`.
pub fn list_command(tools: &Tools, namespace: &str, selector: Option<&str>) -> CommandLine {
    let mut args = vec!["get", "pods", "-n", namespace, "-o", "json"];
    if let Some(selector) = selector {
        args.extend(["-l", selector]);
    }
    tools.kubectl(args)
}

/// One `kubectl delete pod` per batch of at most `batch` names. Pods that are
/// already gone are not an error (`--ignore-not-found`); `-o name` prints
/// `pod/NAME` for each pod actually deleted.
pub fn purge_plan(tools: &Tools, namespace: &str, names: &[String], batch: usize) -> Plan {
    Plan::batched(
        &purge_command(tools, namespace),
        names,
        batch,
        "Deleting",
        "pods",
    )
}

/// `kubectl delete pod ...`, before the names.
fn purge_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl([
        "delete",
        "pod",
        "-n",
        namespace,
        "--ignore-not-found",
        "--wait=false",
        "-o",
        "name",
    ])
}

/// The purge's summary: what was deleted (also by a batch that failed
/// part-way, as far as kubectl said), what was already gone, and each
/// failed batch with the pods it did not delete or the server did not
/// confirm; then how to finish the job.
fn report_purge(batches: &Batches, count: usize, tools: &Tools, namespace: &str, prefix: &str) {
    let base_args = purge_command(tools, namespace).args.len();
    let done =
        |out: &str| -> Vec<String> { deleted_names(out).into_iter().map(str::to_string).collect() };
    let deleted: usize = batches
        .outputs
        .iter()
        .map(|o| deleted_names(o).len())
        .sum::<usize>()
        + batches.done_before_failing(base_args, &done);
    let not_done = batches.failed_items(base_args, &done);
    let gone = count.saturating_sub(deleted + not_done);
    let mut summary = format!("Deleted {}.", plural(deleted, "pod", "pods"));
    if gone > 0 {
        summary.push_str(&format!(" {} already gone.", plural(gone, "was", "were")));
    }
    if not_done > 0 {
        summary.push_str(&format!(
            " {} not deleted, or the server did not confirm it:",
            plural(not_done, "pod was", "pods were")
        ));
    }
    output::info(&summary);
    for line in batches.failure_lines(base_args, 10, &done) {
        output::info(&format!("  {line}"));
    }
    if not_done > 0 {
        let left = CommandLine::new("binderctl").args(["pods", "ls", prefix, "-n", namespace]);
        output::info(&format!(
            "Run the same command again to delete what is left (`{left}` lists it)."
        ));
    }
}

/// Pod names go to `kubectl delete pod` as arguments: one that is not a
/// valid name (`--all`, from a tampered or fake API answer) stops the purge.
fn refuse_odd_names(names: &[String]) -> Result<()> {
    let bad: Vec<String> = names
        .iter()
        .filter_map(|n| crate::cluster::names::object(n).err())
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let mut lines: Vec<String> = bad.into_iter().map(|b| format!("pod {b}")).collect();
    lines.push("nothing deleted".into());
    Err(crate::error::Problems(lines).into())
}

/// Names of the pods a `kubectl delete pod -o name` output reports deleted.
pub fn deleted_names(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pod/"))
        .collect()
}

/// A pod as `-o json|yaml` shows it (documented field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodRecord {
    pub name: String,
    /// Ready containers of all, `1/1`.
    pub ready: String,
    /// As kubectl's STATUS column shows it (`Running`, `CrashLoopBackOff`).
    pub status: String,
    pub restarts: u64,
    /// When the pod was created (RFC 3339), if known.
    pub created: Option<String>,
    pub age_seconds: Option<u64>,
    pub node: Option<String>,
    /// Whether the pod belongs to the BinderHub deployment itself.
    pub protected: bool,
}

impl PodRecord {
    pub fn new(pod: &Pod, now: i64) -> Self {
        PodRecord {
            name: pod.name().to_string(),
            ready: pod.ready(),
            status: pod.display_status(),
            restarts: pod.restarts(),
            created: pod.metadata.creation_timestamp.clone(),
            age_seconds: pod.age_at(now).map(|d| d.as_secs()),
            node: pod.spec.node_name.clone(),
            protected: pod.protection().is_some(),
        }
    }
}

/// `pod/NAME` per pod, as `kubectl get -o name` prints them.
pub fn pod_names(pods: &[Pod]) -> Vec<String> {
    pods.iter().map(|p| format!("pod/{}", p.name())).collect()
}

/// The `pods ls` table.
pub fn format_pods(pods: &[Pod], now: i64, show_protection: bool) -> String {
    format_pods_styled(pods, now, show_protection, TableStyle::default())
}

/// The `pods ls` table; RESTARTS and NODE only with `-o wide`, so that it
/// fits 80 columns for names up to 45 characters.
pub fn format_pods_styled(
    pods: &[Pod],
    now: i64,
    show_protection: bool,
    style: TableStyle,
) -> String {
    let mut headers = vec!["NAME", "READY", "STATUS", "AGE"];
    if style.wide {
        headers.extend(["RESTARTS", "NODE"]);
    }
    if show_protection {
        headers.push("PROTECTED");
    }
    let rows: Vec<Vec<String>> = pods
        .iter()
        .map(|pod| {
            let mut row = vec![
                pod.name().to_string(),
                pod.ready(),
                pod.display_status(),
                pod.age_at(now)
                    .map(format_age)
                    .unwrap_or_else(|| "?".to_string()),
            ];
            if style.wide {
                row.push(pod.restarts().to_string());
                row.push(
                    pod.spec
                        .node_name
                        .clone()
                        .unwrap_or_else(|| "<none>".to_string()),
                );
            }
            if show_protection {
                row.push(
                    if pod.protection().is_some() {
                        "yes"
                    } else {
                        ""
                    }
                    .to_string(),
                );
            }
            row
        })
        .collect();
    format_table_styled(&headers, &rows, style)
}

/// `pods ls` in the format asked for.
fn print_pods(output: &OutputOptions, pods: &[Pod], now: i64, show_protection: bool) -> Result<()> {
    let records: Vec<PodRecord> = pods.iter().map(|p| PodRecord::new(p, now)).collect();
    format::print(
        output,
        &records,
        || pod_names(pods),
        |style| format_pods_styled(pods, now, show_protection, style),
    )
}

fn criteria(prefix: &str, selection: &PodSelection) -> Result<Criteria> {
    let older_than = selection
        .older_than
        .as_deref()
        .map(parse_duration)
        .transpose()
        .context("--older-than")?;
    Ok(Criteria {
        prefix: prefix.to_string(),
        older_than,
        include_protected: selection.include_protected,
        now: unix_now(),
    })
}

fn note_protected(selection: &Selection) {
    if selection.protected.is_empty() {
        return;
    }
    let names: Vec<&str> = selection
        .protected
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    output::info(&format!(
        "Left out {} of the BinderHub deployment itself ({}); --include-protected selects them.",
        plural(names.len(), "pod", "pods"),
        names.join(", ")
    ));
}

async fn fetch(
    runner: &Runner,
    tools: &Tools,
    target: &Target,
    selection: &PodSelection,
) -> Result<Vec<Pod>> {
    let list: PodList = runner
        .query_json(&list_command(
            tools,
            &target.namespace,
            selection.selector.as_deref(),
        ))
        .await?;
    Ok(list.items)
}

/// `pods ls`'s options.
#[derive(Debug, Clone)]
pub struct ListOptions {
    pub prefix: Option<String>,
    pub selection: PodSelection,
    pub output: OutputOptions,
}
/// `pods purge`'s options.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    pub prefix: String,
    pub selection: PodSelection,
    pub yes: bool,
    pub dry_run: bool,
    pub batch_size: Option<NonZeroUsize>,
}

pub async fn list(target: &Target, options: &ListOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let ListOptions {
        prefix,
        selection,
        output,
    } = options;

    let criteria = criteria(prefix.as_deref().unwrap_or(""), selection)?;
    let pods = fetch(&Runner::new(false), &tools, target, selection).await?;
    let chosen = select(&pods, &criteria);
    if chosen.selected.is_empty() && format::is_table(output) {
        output::info(&format!("No pods match in namespace {}.", target.namespace));
    } else {
        print_pods(
            output,
            &chosen.selected,
            criteria.now,
            selection.include_protected,
        )?;
    }
    note_protected(&chosen);
    Ok(Outcome::Success)
}

pub async fn purge(target: &Target, options: &PurgeOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let PurgeOptions {
        prefix,
        selection,
        yes,
        dry_run,
        batch_size,
    } = options;

    let criteria = criteria(prefix, selection)?;
    let runner = Runner::new(*dry_run);
    let pods = fetch(&runner, &tools, target, selection).await?;
    let chosen = select(&pods, &criteria);
    note_protected(&chosen);
    if chosen.selected.is_empty() {
        output::info(&format!(
            "No pods match in namespace {}; nothing to delete.",
            target.namespace
        ));
        return Ok(Outcome::Success);
    }
    let count = chosen.selected.len();
    output::info(&format!(
        "{} in namespace {} will be deleted:",
        plural(count, "pod", "pods"),
        target.namespace
    ));
    for pod in &chosen.selected {
        let age = pod
            .age_at(criteria.now)
            .map(format_age)
            .unwrap_or_else(|| "?".into());
        let mark = if pod.protection().is_some() {
            "  [BinderHub deployment]"
        } else {
            ""
        };
        output::info(&format!(
            "  {}  ({}, age {age}){mark}",
            pod.name(),
            pod.display_status()
        ));
    }
    let names: Vec<String> = chosen
        .selected
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    refuse_odd_names(&names)?;
    let plan = purge_plan(
        &tools,
        &target.namespace,
        &names,
        runner::batch_size(*batch_size, names.len()),
    );
    if !*dry_run {
        let question = format!(
            "Delete {} in namespace {}?",
            plural(count, "pod", "pods"),
            target.namespace
        );
        if !confirm(&question, *yes).await? {
            return Err(NotConfirmed("nothing deleted".into()).into());
        }
    }
    // Independent batches, a few at once; a failed one stops none.
    let results = runner.execute_concurrently(&plan, BATCHES_AT_ONCE).await;
    let batches = Batches::new(&plan, results);
    if !*dry_run {
        report_purge(&batches, count, &tools, &target.namespace, prefix);
    }
    match batches.into_error() {
        Some(err) => Err(err),
        None => Ok(Outcome::Success),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    const NOW: i64 = 1_716_285_731; // 2024-05-21T10:02:11Z

    fn pod(name: &str, component: Option<&str>, created: &str) -> Pod {
        let mut labels = BTreeMap::new();
        if let Some(c) = component {
            labels.insert("component".to_string(), c.to_string());
        }
        Pod {
            metadata: ObjectMeta {
                name: name.into(),
                labels,
                creation_timestamp: Some(created.into()),
                deletion_timestamp: None,
            },
            ..Pod::default()
        }
    }

    fn cluster() -> Vec<Pod> {
        vec![
            pod("hub-6d4f9c7b8-x2k9p", Some("hub"), "2024-04-01T00:00:00Z"),
            pod(
                "proxy-5c5d8c6899-tgf2z",
                Some("proxy"),
                "2024-04-01T00:00:00Z",
            ),
            pod(
                "binder-7456dd9f6-kmxjp",
                Some("binder"),
                "2024-04-01T00:00:00Z",
            ),
            pod(
                "user-scheduler-574bb59c5-q2vr4",
                Some("user-scheduler"),
                "2024-04-01T00:00:00Z",
            ),
            pod(
                "mybinder-image-cleaner-8k2lq",
                Some("image-cleaner"),
                "2024-04-01T00:00:00Z",
            ),
            pod(
                "build-repo-abc-0a1",
                Some("binderhub-build"),
                "2024-05-21T10:00:00Z",
            ),
            pod("hub-unlabelled", None, "2024-04-01T00:00:00Z"),
            pod(
                "jupyter-old-user",
                Some(USER_POD_COMPONENT),
                "2024-05-21T05:00:00Z",
            ),
            pod(
                "jupyter-new-user",
                Some(USER_POD_COMPONENT),
                "2024-05-21T09:50:00Z",
            ),
            pod(
                "hub-like-user-pod",
                Some(USER_POD_COMPONENT),
                "2024-05-21T05:00:00Z",
            ),
            pod("stray-pod", None, "2024-05-21T05:00:00Z"),
        ]
    }

    fn names(selection: &Selection) -> Vec<&str> {
        selection.selected.iter().map(Pod::name).collect()
    }

    fn criteria(prefix: &str, older_than: Option<u64>, include_protected: bool) -> Criteria {
        Criteria {
            prefix: prefix.into(),
            older_than: older_than.map(Duration::from_secs),
            include_protected,
            now: NOW,
        }
    }

    #[test]
    fn empty_prefix_never_selects_the_deployment() {
        let selection = select(&cluster(), &criteria("", None, false));
        assert_eq!(
            names(&selection),
            vec![
                "jupyter-old-user",
                "jupyter-new-user",
                "hub-like-user-pod",
                "stray-pod"
            ]
        );
        let kept: Vec<&str> = selection
            .protected
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(kept.len(), 7);
        assert!(kept.contains(&"hub-unlabelled"));
        assert!(kept.contains(&"mybinder-image-cleaner-8k2lq"));
    }

    #[test]
    fn protection_uses_labels_and_names() {
        let pods = cluster();
        let find = |n: &str| pods.iter().find(|p| p.name() == n).unwrap().protection();
        assert_eq!(
            find("hub-6d4f9c7b8-x2k9p").as_deref(),
            Some("component=hub")
        );
        assert_eq!(
            find("build-repo-abc-0a1").as_deref(),
            Some("component=binderhub-build")
        );
        assert_eq!(
            find("hub-unlabelled").as_deref(),
            Some("name starts with hub-")
        );
        assert_eq!(find("hub-like-user-pod"), None);
        assert_eq!(find("stray-pod"), None);
    }

    #[test]
    fn prefix_h_keeps_the_hub_but_takes_labelled_user_pods() {
        let selection = select(&cluster(), &criteria("h", None, false));
        assert_eq!(names(&selection), vec!["hub-like-user-pod"]);
        let forced = select(&cluster(), &criteria("h", None, true));
        assert_eq!(
            names(&forced),
            vec!["hub-6d4f9c7b8-x2k9p", "hub-unlabelled", "hub-like-user-pod"]
        );
        assert!(forced.protected.is_empty());
    }

    #[test]
    fn older_than_compares_creation_time() {
        let selection = select(&cluster(), &criteria("jupyter-", Some(2 * 3600), false));
        assert_eq!(names(&selection), vec!["jupyter-old-user"]);
        let selection = select(&cluster(), &criteria("jupyter-", Some(60), false));
        assert_eq!(
            names(&selection),
            vec!["jupyter-old-user", "jupyter-new-user"]
        );
        let mut unknown = pod("jupyter-no-time", Some(USER_POD_COMPONENT), "x");
        unknown.metadata.creation_timestamp = None;
        assert!(select(&[unknown.clone()], &criteria("", Some(1), false))
            .selected
            .is_empty());
        assert_eq!(
            select(&[unknown], &criteria("", None, false))
                .selected
                .len(),
            1
        );
    }

    #[test]
    fn purge_plan_batches_names() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        let names: Vec<String> = (1..=5).map(|i| format!("jupyter-u{i}")).collect();
        let plan = purge_plan(&tools, "binder", &names, 2);
        assert_eq!(
            plan.render(),
            "microk8s kubectl delete pod -n binder --ignore-not-found --wait=false -o name jupyter-u1 jupyter-u2\n\
             microk8s kubectl delete pod -n binder --ignore-not-found --wait=false -o name jupyter-u3 jupyter-u4\n\
             microk8s kubectl delete pod -n binder --ignore-not-found --wait=false -o name jupyter-u5\n"
        );
        assert_eq!(
            plan.steps[2].description.as_deref(),
            Some("Deleting pods 5-5 of 5")
        );
        assert_eq!(purge_plan(&tools, "binder", &names, 0).len(), 5);
        assert!(purge_plan(&tools, "binder", &[], 50).is_empty());
        let plain = purge_plan(&Tools::new(ToolFlavor::Plain), "my ns", &names[..1], 50);
        assert_eq!(
            plain.render(),
            "kubectl delete pod -n 'my ns' --ignore-not-found --wait=false -o name jupyter-u1\n"
        );
    }

    #[test]
    fn list_command_passes_the_selector_to_kubectl() {
        let tools = Tools::new(ToolFlavor::Plain);
        assert_eq!(
            list_command(&tools, "binder", None).to_string(),
            "kubectl get pods -n binder -o json"
        );
        assert_eq!(
            list_command(&tools, "binder", Some("component=singleuser-server")).to_string(),
            "kubectl get pods -n binder -o json -l component=singleuser-server"
        );
    }

    #[test]
    fn counts_deleted_pods_from_kubectl_output() {
        assert_eq!(deleted_names("pod/a\npod/b\n"), vec!["a", "b"]);
        assert!(deleted_names("").is_empty());
    }

    #[test]
    fn pod_table_shows_status_and_age() {
        let json = r#"{"items": [{"metadata": {"name": "jupyter-a", "creationTimestamp": "2024-05-21T05:02:11Z"},
            "spec": {"nodeName": "node1.example"},
            "status": {"phase": "Pending", "containerStatuses": [{"ready": false, "restartCount": 2,
                "state": {"waiting": {"reason": "ContainerCreating"}}}]}},
            {"metadata": {"name": "jupyter-b", "deletionTimestamp": "2024-05-21T10:00:00Z"}, "status": {"phase": "Running"}}]}"#;
        let list: PodList = serde_json::from_str(json).unwrap();
        let table = format_pods(&list.items, NOW, false);
        assert_eq!(
            table,
            "NAME        READY   STATUS              AGE\n\
             jupyter-a   0/1     ContainerCreating   5h\n\
             jupyter-b   0/0     Terminating         ?\n"
        );
        let wide = TableStyle {
            wide: true,
            headers: true,
        };
        assert_eq!(
            format_pods_styled(&list.items, NOW, false, wide),
            "NAME        READY   STATUS              AGE   RESTARTS   NODE\n\
             jupyter-a   0/1     ContainerCreating   5h    2          node1.example\n\
             jupyter-b   0/0     Terminating         ?     0          <none>\n"
        );
        let record = PodRecord::new(&list.items[0], NOW);
        assert_eq!(record.age_seconds, Some(5 * 3600));
        assert_eq!(record.node.as_deref(), Some("node1.example"));
        assert_eq!(record.status, "ContainerCreating");
        assert!(!record.protected);
    }
}
