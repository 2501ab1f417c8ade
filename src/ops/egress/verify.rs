//! `binderctl egress verify`: proof that the cluster enforces the
//! allow-list. A probe pod with the user pods' labels (both generations)
//! runs in the release's namespace, its output is read, and it is deleted on
//! every way out (failure, Ctrl-C); its deadline ends it anyway.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cluster::duration::unix_now;
use crate::cluster::node_helper::{self, PodState};
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::{self, Runner};
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::egress::cidr;
use crate::egress::policy::{self, Held};
use crate::egress::probe::{self, ProbePod};
use crate::error::{Interrupted, Outcome};
use crate::ops::render;
use crate::output;

use std::path::PathBuf;

/// What `egressverify` is asked to do.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub input: PathBuf,
    pub blocked_address: std::net::IpAddr,
    pub host: Option<String>,
    pub image: String,
    pub dry_run: bool,
}

const POLL_INTERVAL: Duration = Duration::from_secs(1);
const DELETE_LIMIT: Duration = Duration::from_secs(30);
/// The hub's service in zero-to-jupyterhub.
pub const HUB_SERVICE: &str = "hub";

/// `kubectl create -f - -n NS -o name` (the manifest on stdin).
pub fn create_command(tools: &Tools, pod: &ProbePod) -> CommandLine {
    tools.kubectl(["create", "-f", "-", "-n", &pod.namespace, "-o", "name"])
}

/// `kubectl get pod NAME -n NS -o json`.
pub fn status_command(tools: &Tools, pod: &ProbePod) -> CommandLine {
    tools.kubectl(["get", "pod", &pod.name, "-n", &pod.namespace, "-o", "json"])
}

/// `kubectl logs NAME -n NS -c probe`.
pub fn logs_command(tools: &Tools, pod: &ProbePod) -> CommandLine {
    tools.kubectl([
        "logs",
        &pod.name,
        "-n",
        &pod.namespace,
        "-c",
        probe::CONTAINER,
    ])
}

/// `kubectl delete pod NAME -n NS --ignore-not-found --wait=false`.
pub fn delete_command(tools: &Tools, pod: &ProbePod) -> CommandLine {
    tools.kubectl([
        "delete",
        "pod",
        &pod.name,
        "-n",
        &pod.namespace,
        "--ignore-not-found",
        "--wait=false",
    ])
}

fn sample_pod() -> ProbePod {
    ProbePod {
        name: "binderctl-egress-probe-0a1b2c3d".into(),
        namespace: "binder".into(),
        release: "binder".into(),
        image: probe::DEFAULT_IMAGE.into(),
        run_id: "0a1b2c3d".into(),
        host: "files.example".into(),
        blocked: "203.0.113.10".into(),
        hub: HUB_SERVICE.into(),
    }
}

/// Every command line of `egress verify`, both flavours, for the real-tool
/// conformance replay (the create step carries the manifest on stdin).
pub fn sample_plans() -> Vec<Plan> {
    let pod = sample_pod();
    [
        crate::cluster::tools::ToolFlavor::Microk8s,
        crate::cluster::tools::ToolFlavor::Plain,
    ]
    .into_iter()
    .map(|flavor| {
        let tools = Tools::new(flavor);
        Plan::from(vec![
            Step::new(create_command(&tools, &pod)).with_stdin(pod.manifest_text()),
            Step::new(status_command(&tools, &pod)),
            Step::new(logs_command(&tools, &pod)),
            Step::new(delete_command(&tools, &pod)),
        ])
    })
    .collect()
}

/// A host name as DNS spells it (letters, digits, '-', '.').
fn check_host(host: &str) -> Result<()> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !host.starts_with(['-', '.']);
    if !ok {
        bail!("--host {host:?} is not a host name");
    }
    Ok(())
}

/// `egress verify`: probe from a pod the policies select. Exit 1 means "a
/// probe failed": a tool's own exit 1 must not look like it.
pub async fn run(target: &Target, options: &VerifyOptions) -> Result<Outcome> {
    probe(target, options)
        .await
        .map_err(super::policies::tool_failure_is_an_error)
}

async fn probe(target: &Target, options: &VerifyOptions) -> Result<Outcome> {
    super::policies::check_namespace(&target.namespace)?;
    let tools = Tools::for_target(target);
    let ns = &target.namespace;
    let input = render::read_input_file(&options.input)?;
    let host = match &options.host {
        Some(host) => host.clone(),
        None => input.hosts().first().cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "{}: domain_whitelist lists no host to probe; pass --host with one the \
                 allow-list holds",
                options.input.display()
            )
        })?,
    };
    check_host(&host)?;
    let held = super::policies::read_policies(&Runner::new(false), &tools, ns).await?;
    check_blocked(options.blocked_address, &held)?;
    let now = u64::try_from(unix_now()).unwrap_or(0);
    let run_id = node_helper::run_id(now, std::process::id());
    let pod = ProbePod {
        name: format!("binderctl-egress-probe-{run_id}"),
        namespace: ns.clone(),
        release: target.release.clone(),
        image: options.image.clone(),
        run_id,
        host,
        blocked: options.blocked_address.to_string(),
        hub: HUB_SERVICE.into(),
    };
    policy::check_label_value("release", &pod.release).map_err(anyhow::Error::msg)?;
    if options.dry_run {
        output::info("binderctl: dry run: nothing created; the probe pod and the commands:");
        let mut text = pod.manifest_text();
        for command in [
            create_command(&tools, &pod),
            status_command(&tools, &pod),
            logs_command(&tools, &pod),
            delete_command(&tools, &pod),
        ] {
            text.push_str(&format!("{command}\n"));
        }
        output::data(&text);
        return Ok(Outcome::Success);
    }
    let log = run_probe(&tools, &pod).await?;
    let results = probe::parse_results(&log).map_err(|e| anyhow::anyhow!("{}: {e}", pod.name))?;
    let labels = pod.labels();
    let selected = held.is_empty()
        || held
            .policies
            .values()
            .any(|p| policy::selects(&p.selector, &labels).unwrap_or(false));
    let context = probe::Context {
        non_private_ips: input.allows_public(),
        probe_selected: selected,
    };
    let mut text = String::new();
    for r in &results {
        let verdict = if r.pass { "pass" } else { "FAIL" };
        let what = match r.probe.as_str() {
            "dns" => "resolve the listed host",
            "allowed" => "reach the listed host",
            "blocked" => "be refused an address outside the list",
            _ => "reach the hub",
        };
        text.push_str(&format!("{verdict:<4}  {what:<40} {}\n", r.detail));
    }
    output::data(&text);
    let causes = probe::causes(&results, context);
    if causes.is_empty() {
        output::info(&format!(
            "binderctl: the egress allow-list is enforced for user pods in namespace {ns}"
        ));
        return Ok(Outcome::Success);
    }
    for cause in &causes {
        output::error(cause);
    }
    Ok(Outcome::Changed)
}

/// The blocked address must be outside what the policies allow, or the
/// probe proves nothing.
fn check_blocked(address: IpAddr, held: &Held) -> Result<()> {
    let net = cidr::host(address);
    if held
        .ranges()
        .iter()
        .any(|range| cidr::diff(&[*range], &[net]).0.is_empty())
    {
        bail!(
            "--blocked-address {address} is inside the allow-list the policies enforce; pick a \
             public address outside every list that answers on 443"
        );
    }
    Ok(())
}

/// Create the probe pod, wait for it, read its output, and delete it on
/// every way out.
async fn run_probe(tools: &Tools, pod: &ProbePod) -> Result<String> {
    let result = drive(tools, pod).await;
    let delete = delete_command(tools, pod);
    match Runner::new(false)
        .probe_after_interrupt(&delete, DELETE_LIMIT)
        .await
    {
        Ok(answer) if answer.success() => {}
        Ok(answer) => output::error(&format!(
            "cannot delete the probe pod {} ({}); delete it with `{delete}` (its deadline ends \
             it within {} s anyway)",
            pod.name,
            answer.stderr.trim(),
            probe::DEADLINE_SECONDS
        )),
        Err(err) => output::error(&format!(
            "cannot delete the probe pod {} ({err:#}); delete it with `{delete}`",
            pod.name
        )),
    }
    result
}

async fn drive(tools: &Tools, pod: &ProbePod) -> Result<String> {
    let runner = Runner::new(false);
    let create = create_command(tools, pod);
    let answer = runner
        .probe_with_stdin(&create, &pod.manifest_text())
        .await?;
    if !answer.success() {
        bail!(
            "cannot create the probe pod (`{create}`): {}",
            answer.stderr.trim()
        );
    }
    let status = status_command(tools, pod);
    let give_up = Instant::now() + Duration::from_secs(probe::DEADLINE_SECONDS + 30);
    loop {
        let json = runner.query(&status).await?;
        let state = node_helper::pod_state(&json)
            .with_context(|| format!("`{status}` printed something other than a pod"))?;
        match state {
            PodState::Succeeded => break,
            PodState::Failed(why) => bail!("the probe pod {} failed: {why}", pod.name),
            PodState::ImageUnavailable(detail) => bail!(
                "the probe pod cannot pull its image {} ({detail}); it needs a small image with \
                 sh, nslookup and nc (busybox): make it reachable, or pass --image with one your \
                 nodes can pull",
                pod.image
            ),
            PodState::Running if Instant::now() > give_up => bail!(
                "the probe pod {} did not finish within {} s",
                pod.name,
                probe::DEADLINE_SECONDS
            ),
            PodState::Running => {}
        }
        tokio::select! {
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            () = runner::interrupted() => return Err(Interrupted.into()),
        }
    }
    runner.query(&logs_command(tools, pod)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_address_inside_the_list_is_refused() {
        let seen = policy::merge_with_grace(
            &policy::Seen::new(),
            &[crate::egress::allow_list::Source {
                label: "cidr_whitelist".into(),
                nets: vec![cidr::parse("198.51.100.0/24").unwrap()],
                explicit: true,
            }],
            0,
            0,
        )
        .seen;
        let m = policy::manifest(policy::Target::SingleUser, "binder", "binder", &seen, 0).unwrap();
        let held = Held {
            policies: [(
                policy::Target::SingleUser,
                policy::parse_policy(&m).unwrap(),
            )]
            .into(),
        };
        let err = check_blocked("198.51.100.7".parse().unwrap(), &held).unwrap_err();
        assert!(err.to_string().contains("inside the allow-list"), "{err}");
        assert!(check_blocked("203.0.113.10".parse().unwrap(), &held).is_ok());
        assert!(check_host("files.example").is_ok());
        assert!(check_host("-x").is_err() && check_host("a b").is_err());
    }
}
