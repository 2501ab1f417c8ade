//! `binderctl logs`: the logs of a BinderHub component or a pod; and the
//! failure report `deploy` and `rollback` print when a rollout fails: the
//! pods that are not ready, with their last events and log lines, fetched
//! at once.

use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::pods::{self, Pod, PodList};
use crate::cluster::duration::{format_go, parse_duration};
use crate::cluster::names::validate_object_name;
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::{Captured, Runner};
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{Interrupted, Outcome};
use crate::output;

/// What `logs` is asked to do.
#[derive(Debug, Clone)]
pub struct LogsOptions {
    pub target: String,
    pub follow: bool,
    pub previous: bool,
    pub since: Option<String>,
    pub tail: Option<u32>,
    pub container: Option<String>,
}

/// The components `logs` knows by name (their pods' `component` label).
pub const COMPONENTS: [&str; 4] = ["hub", "binder", "proxy", "user-scheduler"];

/// How many failing pods the report covers, how many events and log lines
/// each, and how many calls run at once.
pub const REPORT_PODS: usize = 5;
pub const REPORT_EVENTS: usize = 5;
pub const REPORT_LOG_LINES: u32 = 20;
pub const REPORT_CONCURRENCY: usize = 8;

/// `kubectl logs` for `cmd`: a component by its label (every replica, each
/// line prefixed with its pod), or one pod by name.
pub fn logs_command(
    tools: &Tools,
    namespace: &str,
    release: &str,
    options: &LogsOptions,
) -> Result<CommandLine> {
    let mut args = vec!["logs".to_string(), "-n".to_string(), namespace.to_string()];
    let component = COMPONENTS.contains(&options.target.as_str());
    if component {
        args.push(format!(
            "--selector=component={},release={release}",
            options.target
        ));
        args.push("--prefix".into());
    } else {
        validate_object_name("pod", &options.target)?;
        args.push(options.target.clone());
    }
    match &options.container {
        Some(container) => {
            validate_object_name("container", container)?;
            args.push(format!("--container={container}"));
        }
        None => args.push("--all-containers".into()),
    }
    // With a selector kubectl shows 10 lines per pod; without, all: say
    // which, so a component and a pod behave alike.
    let tail = options.tail.map_or(-1, i64::from);
    args.push(format!("--tail={tail}"));
    if let Some(since) = &options.since {
        let since = parse_duration(since).context("--since")?;
        args.push(format!("--since={}", format_go(since)));
    }
    if options.follow {
        args.push("--follow".into());
    }
    if options.previous {
        args.push("--previous".into());
    }
    Ok(tools.kubectl(args))
}

pub async fn run(target: &Target, options: &LogsOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let command = logs_command(&tools, &target.namespace, &target.release, options)?;
    let mut plan = Plan::new();
    plan.push(Step::new(command));
    match Runner::new(false).execute(&plan).await {
        Ok(_) => Ok(Outcome::Success),
        // Ctrl-C is how following ends.
        Err(e) if options.follow && e.downcast_ref::<Interrupted>().is_some() => {
            Ok(Outcome::Success)
        }
        Err(e) => Err(e),
    }
}

/// Sample plans for the conformance registry: each option that changes
/// the argv, for a component and a pod, in both flavours; and the failure
/// report's reads.
pub fn sample_plans() -> Vec<Plan> {
    let variants = [
        LogsOptions::sample("hub"),
        LogsOptions {
            follow: true,
            previous: true,
            since: Some("1h".into()),
            tail: Some(50),
            ..LogsOptions::sample("user-scheduler")
        },
        LogsOptions {
            container: Some("notebook".into()),
            ..LogsOptions::sample("jupyter-alice-2dx1")
        },
    ];
    let mut plans = Vec::new();
    for flavor in [
        crate::cluster::tools::ToolFlavor::Microk8s,
        crate::cluster::tools::ToolFlavor::Plain,
    ] {
        let tools = Tools::new(flavor);
        let mut plan = Plan::new();
        for cmd in &variants {
            if let Ok(command) = logs_command(&tools, "binder", "binder", cmd) {
                plan.push_command(command);
            }
        }
        plan.push_command(pods::list_command(&tools, "binder", None));
        plan.push_command(events_command(&tools, "binder", "hub-6d4f9c7b8-x2k9p"));
        plan.push_command(report_logs_command(&tools, "binder", "hub-6d4f9c7b8-x2k9p"));
        plans.push(plan);
    }
    plans
}

impl LogsOptions {
    /// `binderctl logs TARGET` with no options (for samples and tests).
    pub fn sample(target: &str) -> Self {
        LogsOptions {
            target: target.to_string(),
            follow: false,
            previous: false,
            since: None,
            tail: None,
            container: None,
        }
    }
}

// ---- the failure report ----

/// `kubectl get events -n NS --field-selector involvedObject.name=POD -o json`.
pub fn events_command(tools: &Tools, namespace: &str, pod: &str) -> CommandLine {
    tools.kubectl([
        "get".to_string(),
        "events".to_string(),
        "-n".to_string(),
        namespace.to_string(),
        format!("--field-selector=involvedObject.name={pod}"),
        "-o".to_string(),
        "json".to_string(),
    ])
}

/// `kubectl logs -n NS POD --all-containers --tail=20`.
pub fn report_logs_command(tools: &Tools, namespace: &str, pod: &str) -> CommandLine {
    tools.kubectl([
        "logs".to_string(),
        "-n".to_string(),
        namespace.to_string(),
        pod.to_string(),
        "--all-containers".to_string(),
        format!("--tail={REPORT_LOG_LINES}"),
    ])
}

#[derive(Debug, Default, Deserialize)]
struct EventList {
    #[serde(default)]
    items: Vec<Event>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    reason: String,
    message: String,
    count: Option<u64>,
    last_timestamp: Option<String>,
    event_time: Option<String>,
}

impl Event {
    fn when(&self) -> &str {
        self.last_timestamp
            .as_deref()
            .or(self.event_time.as_deref())
            .unwrap_or("")
    }
}

/// The pods a failed rollout leaves to look at: not ready, not finished,
/// not going away; at most [`REPORT_PODS`].
pub fn failing_pods(pods: &[Pod]) -> Vec<&Pod> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.phase.as_deref() != Some("Succeeded"))
        .filter(|p| {
            let statuses = &p.status.container_statuses;
            statuses.is_empty() || statuses.iter().any(|c| !c.ready)
        })
        .take(REPORT_PODS)
        .collect()
}

/// The last [`REPORT_EVENTS`] events, oldest first, one line each.
fn event_lines(json: &str) -> Vec<String> {
    let mut events = serde_json::from_str::<EventList>(json)
        .map(|l| l.items)
        .unwrap_or_default();
    events.sort_by(|a, b| a.when().cmp(b.when()));
    let skip = events.len().saturating_sub(REPORT_EVENTS);
    events
        .iter()
        .skip(skip)
        .map(|e| {
            let count = e
                .count
                .filter(|c| *c > 1)
                .map(|c| format!(" (x{c})"))
                .unwrap_or_default();
            format!("{} {}: {}{count}", e.kind, e.reason, e.message.trim())
        })
        .collect()
}

/// Run `commands` at most `limit` at a time; the answers in the same order.
pub async fn probe_all(
    runner: Runner,
    commands: Vec<CommandLine>,
    limit: usize,
) -> Vec<Result<Captured>> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, command) in commands.into_iter().enumerate() {
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, runner.probe(&command).await)
        });
    }
    let mut answers: Vec<Option<Result<Captured>>> = Vec::new();
    answers.resize_with(tasks.len(), || None);
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, answer)) = joined {
            if let Some(slot) = answers.get_mut(index) {
                *slot = Some(answer);
            }
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(anyhow::anyhow!("the query did not finish"))))
        .collect()
}

/// The report on the pods that are not ready, as text for stderr.
pub async fn failure_report(runner: &Runner, tools: &Tools, namespace: &str) -> String {
    let list = pods::list_command(tools, namespace, None);
    let pods: Vec<Pod> = match runner.probe(&list).await {
        Ok(c) if c.success() => serde_json::from_str::<PodList>(&c.stdout)
            .map(|l| l.items)
            .unwrap_or_default(),
        _ => return format!("binderctl: cannot list the pods to say why (`{list}` failed)\n"),
    };
    let failing = failing_pods(&pods);
    if failing.is_empty() {
        return "binderctl: every pod is ready now; the rollout may just need more time \
                (--wait-timeout)\n"
            .to_string();
    }
    let commands: Vec<CommandLine> = failing
        .iter()
        .flat_map(|p| {
            [
                events_command(tools, namespace, p.name()),
                report_logs_command(tools, namespace, p.name()),
            ]
        })
        .collect();
    let answers = probe_all(*runner, commands, REPORT_CONCURRENCY).await;
    let mut text = format!(
        "binderctl: the rollout did not finish; {} not ready:\n",
        output::plural(failing.len(), "pod is", "pods are")
    );
    for (pod, answers) in failing.iter().zip(answers.chunks(2)) {
        text.push_str(&format!(
            "pod {}: {} (ready {}, restarts {})\n",
            pod.name(),
            pod.display_status(),
            pod.ready(),
            pod.restarts()
        ));
        let stdout = |i: usize| match answers.get(i) {
            Some(Ok(c)) if c.success() => Some(c.stdout.clone()),
            _ => None,
        };
        let events = stdout(0).map(|j| event_lines(&j)).unwrap_or_default();
        if !events.is_empty() {
            text.push_str("  last events:\n");
            for line in events {
                text.push_str(&format!("    {line}\n"));
            }
        }
        if let Some(logs) = stdout(1).filter(|l| !l.trim().is_empty()) {
            text.push_str("  last log lines:\n");
            for line in logs.lines() {
                text.push_str(&format!("    {line}\n"));
            }
        }
    }
    text.push_str(&format!(
        "More: binderctl logs POD -n {namespace} (--previous for a restarted container)\n"
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    #[test]
    fn a_component_by_label_and_a_pod_by_name() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        let cmd = LogsOptions::sample("hub");
        assert_eq!(
            logs_command(&tools, "binder", "bh", &cmd)
                .unwrap()
                .to_string(),
            "microk8s kubectl logs -n binder --selector=component=hub,release=bh --prefix \
             --all-containers --tail=-1"
        );
        let cmd = LogsOptions {
            follow: true,
            previous: true,
            since: Some("90m".into()),
            tail: Some(20),
            container: Some("notebook".into()),
            ..LogsOptions::sample("jupyter-alice")
        };
        assert_eq!(
            logs_command(&Tools::new(ToolFlavor::Plain), "staging", "binder", &cmd)
                .unwrap()
                .to_string(),
            "kubectl logs -n staging jupyter-alice --container=notebook --tail=20 \
             --since=1h30m --follow --previous"
        );
        for bad in ["--all", "Hub", "a b"] {
            assert!(logs_command(&tools, "binder", "binder", &LogsOptions::sample(bad)).is_err());
        }
        let cmd = LogsOptions {
            since: Some("soon".into()),
            ..LogsOptions::sample("hub")
        };
        let err = logs_command(&tools, "binder", "binder", &cmd).unwrap_err();
        assert!(format!("{err:#}").starts_with("--since"), "{err:#}");
    }

    #[test]
    fn failing_pods_are_those_not_ready() {
        let list: PodList = serde_json::from_str(
            r#"{"items":[
              {"metadata":{"name":"hub-1"},"status":{"phase":"Running","containerStatuses":[{"ready":false,"restartCount":4}]}},
              {"metadata":{"name":"proxy-1"},"status":{"phase":"Running","containerStatuses":[{"ready":true}]}},
              {"metadata":{"name":"binder-1"},"status":{"phase":"Pending"}},
              {"metadata":{"name":"job-1"},"status":{"phase":"Succeeded","containerStatuses":[{"ready":false}]}},
              {"metadata":{"name":"old-1","deletionTimestamp":"2024-05-21T10:00:00Z"},"status":{"phase":"Running","containerStatuses":[{"ready":false}]}}]}"#,
        )
        .unwrap();
        let names: Vec<&str> = failing_pods(&list.items).iter().map(|p| p.name()).collect();
        assert_eq!(names, ["hub-1", "binder-1"]);
    }

    #[test]
    fn events_newest_last_and_bounded() {
        let items: Vec<String> = (0..8)
            .map(|i| {
                format!(
                    r#"{{"type":"Warning","reason":"R{i}","message":"m{i}\n","count":{c},"lastTimestamp":"2024-05-21T10:0{i}:00Z"}}"#,
                    c = if i == 7 { 3 } else { 1 }
                )
            })
            .rev()
            .collect();
        let lines = event_lines(&format!(r#"{{"items":[{}]}}"#, items.join(",")));
        assert_eq!(lines.len(), REPORT_EVENTS);
        assert_eq!(lines[0], "Warning R3: m3");
        assert_eq!(lines[4], "Warning R7: m7 (x3)");
        assert!(event_lines("not json").is_empty());
    }

    #[tokio::test]
    async fn probe_all_keeps_the_order() {
        let commands: Vec<CommandLine> = (0..12)
            .map(|i| {
                CommandLine::new("sh").args(["-c", &format!("sleep 0.0{}; echo {i}", 9 - i % 10)])
            })
            .collect();
        let answers = probe_all(Runner::new(false), commands, 4).await;
        let outputs: Vec<String> = answers
            .into_iter()
            .map(|a| a.unwrap().stdout.trim().to_string())
            .collect();
        let expected: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        assert_eq!(outputs, expected);
    }

    #[test]
    fn samples_cover_every_option() {
        let plans = sample_plans();
        assert_eq!(plans.len(), 2);
        let text = plans[0].render();
        for needle in [
            "--follow",
            "--previous",
            "--since=1h",
            "--tail=50",
            "--container=notebook",
            "--field-selector=involvedObject.name=hub-6d4f9c7b8-x2k9p",
            "--tail=20",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
    }
}
