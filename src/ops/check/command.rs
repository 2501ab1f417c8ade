//! `check`'s operation: where BinderHub and the hub answer, the probes
//! (`probe`), and the report: one line per check (or `-o json|yaml|name`);
//! exit 1 when a check fails. Without `--url`/`--hub-url`, the addresses
//! are the external ones of the services `binder` and `proxy-public` (one
//! `kubectl get services`). A launch shows its phases on a terminal, and
//! nothing until the results in a pipe.

use std::sync::Mutex;

use anyhow::{anyhow, bail, Result};
use reqwest::Url;

use super::probe::{self as check, format_elapsed, CheckResult, Config, LaunchProgress, Status};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{without_controls, Outcome, ToolFailed};
use crate::health::clip;
use crate::health::spec::RepoSpec;
use crate::health::urls::service_url;
use crate::ops::status::{services_command, ServiceList};
use crate::output::format::OutputOptions;
use crate::output::{self, format};

/// The chart's service in front of BinderHub.
pub const BINDERHUB_SERVICE: &str = "binder";
/// The chart's service in front of JupyterHub (its proxy).
pub const HUB_SERVICE: &str = "proxy-public";

/// What `check` is asked: the addresses (unset: the services'), a
/// repository to launch, the time limit, and the output format.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub url: Option<Url>,
    pub hub_url: Option<Url>,
    pub launch: Option<RepoSpec>,
    pub timeout: std::time::Duration,
    pub output: OutputOptions,
}

/// `check`: exit 1 when a check fails.
pub async fn run(target: &Target, cmd: &CheckOptions) -> Result<Outcome> {
    let (binderhub, hub) = addresses(target, cmd).await?;
    let config = Config {
        binderhub,
        hub,
        launch: cmd.launch.clone(),
        timeout: cmd.timeout,
    };
    let ticker = Ticker::new(output::show_progress());
    let results = check::run(&config, &|progress| ticker.show(progress)).await;
    ticker.clear();
    let results = results?;
    format::print(
        &cmd.output,
        &results,
        || results.iter().map(|r| r.name.clone()).collect(),
        |_| report(&results),
    )?;
    let failed = results.iter().filter(|r| r.status == Status::Fail).count();
    if failed > 0 {
        output::info(&format!(
            "binderctl: check: {} failed",
            output::plural(failed, "check", "checks")
        ));
        return Ok(Outcome::Changed);
    }
    Ok(Outcome::Success)
}

/// BinderHub's and the hub's addresses: the options, else the services'.
async fn addresses(target: &Target, cmd: &CheckOptions) -> Result<(Url, Url)> {
    if let (Some(binderhub), Some(hub)) = (&cmd.url, &cmd.hub_url) {
        return Ok((binderhub.clone(), hub.clone()));
    }
    let services = read_services(&Tools::for_target(target), &target.namespace).await?;
    let binderhub = match &cmd.url {
        Some(url) => url.clone(),
        None => service_address(&services, BINDERHUB_SERVICE, &target.namespace, "--url")?,
    };
    let hub = match &cmd.hub_url {
        Some(url) => url.clone(),
        None => service_address(&services, HUB_SERVICE, &target.namespace, "--hub-url")?,
    };
    Ok((binderhub, hub))
}

/// `kubectl get services -n NS -o json`. A failed kubectl is an ordinary
/// error (exit 2): exit 1 means a check failed.
pub async fn read_services(tools: &Tools, namespace: &str) -> Result<ServiceList> {
    Runner::new(false)
        .query_json::<ServiceList>(&services_command(tools, namespace))
        .await
        .map_err(|err| {
            if err.downcast_ref::<ToolFailed>().is_some() {
                anyhow!("{err:#}")
            } else {
                err
            }
        })
}

/// The URL of the service `name`, from its external address (load
/// balancer, else external IP) and its ports; `option` is the option that
/// gives it instead.
pub fn service_address(
    services: &ServiceList,
    name: &str,
    namespace: &str,
    option: &str,
) -> Result<Url> {
    let Some(service) = services.items.iter().find(|s| s.metadata.name == name) else {
        bail!(
            "no service {name} in namespace {namespace} (is BinderHub deployed there? \
             `binderctl status` shows what is); or give its address with {option} URL"
        );
    };
    let address = service
        .status
        .load_balancer
        .ingress
        .iter()
        .find_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
        .or_else(|| service.spec.external_ips.first().cloned());
    let Some(address) = address else {
        bail!(
            "the service {name} in namespace {namespace} has no external address ({}); give \
             the address with {option} URL, or forward it: `binderctl forward {name} --port \
             8585` and {option} http://127.0.0.1:8585/",
            service.external_addresses().trim_matches(['<', '>'])
        );
    };
    let ports: Vec<u32> = service.spec.ports.iter().map(|p| p.port).collect();
    service_url(&address, &ports).map_err(|e| anyhow!("the service {name}: {e}"))
}

/// The report: one line per check (`STATUS  NAME  MESSAGE`, as `doctor`),
/// a failed launch followed by the build log's last lines.
pub fn report(results: &[CheckResult]) -> String {
    let width = results.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for result in results {
        out.push_str(&format!(
            "{:<4}  {:<width$}  {}\n",
            result.status.label(),
            without_controls(&result.name, ""),
            without_controls(&result.message, ""),
        ));
        if !result.log.is_empty() {
            out.push_str(&format!(
                "      build log, last {}:\n",
                output::plural(result.log.len(), "line", "lines")
            ));
            for line in &result.log {
                out.push_str(&format!("      | {}\n", without_controls(line, "")));
            }
        }
    }
    out
}

/// The progress of a launch on a terminal: a line per new phase, and the
/// current phase, time and last log message redrawn in place. Draws
/// nothing when disabled (a pipe, `-q`).
struct Ticker {
    enabled: bool,
    drawn: Mutex<bool>,
}

/// The widest ticker line (it must not wrap, or redrawing breaks).
const TICKER_CHARS: usize = 78;

impl Ticker {
    fn new(enabled: bool) -> Self {
        Ticker {
            enabled,
            drawn: Mutex::new(false),
        }
    }

    fn show(&self, progress: &LaunchProgress) {
        if !self.enabled {
            return;
        }
        let mut drawn = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        if progress.new_phase {
            if let Some(phase) = progress.phase {
                output::progress_clear();
                output::info(&format!(
                    "launch {}: {phase} ({})",
                    progress.spec,
                    format_elapsed(progress.elapsed)
                ));
            }
        }
        output::progress_tick(&ticker_line(progress));
        *drawn = true;
    }

    fn clear(&self) {
        let drawn = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        if *drawn {
            output::progress_clear();
        }
    }
}

/// `launch gh/a/b/HEAD: building 1m12s  Step 3/10 : RUN pip install`, at
/// most [`TICKER_CHARS`] characters, the server's text escaped.
fn ticker_line(progress: &LaunchProgress) -> String {
    let secs = progress.elapsed.as_secs();
    let mut line = format!(
        "launch {}: {} {}m{:02}s",
        progress.spec,
        progress.phase.unwrap_or("requested"),
        secs / 60,
        secs % 60
    );
    if let Some(message) = progress.message {
        line.push_str("  ");
        line.push_str(&without_controls(message, ""));
    }
    if line.chars().count() > TICKER_CHARS {
        line = clip(&line, TICKER_CHARS - 3);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::spec::RepoSpec;
    use std::time::Duration;

    fn services(json: &str) -> ServiceList {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn addresses_come_from_the_services() {
        let list = services(
            r#"{"items": [
            {"metadata": {"name": "binder"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
             "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.101"}]}}},
            {"metadata": {"name": "proxy-public"}, "spec": {"type": "LoadBalancer", "externalIPs": ["192.0.2.7"],
              "ports": [{"port": 443}]}, "status": {"loadBalancer": {}}},
            {"metadata": {"name": "pending"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
             "status": {"loadBalancer": {}}}]}"#,
        );
        assert_eq!(
            service_address(&list, "binder", "binder", "--url")
                .unwrap()
                .as_str(),
            "http://192.0.2.101/"
        );
        assert_eq!(
            service_address(&list, "proxy-public", "binder", "--hub-url")
                .unwrap()
                .as_str(),
            "https://192.0.2.7/"
        );
        let err = service_address(&list, "pending", "lab", "--url")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no external address (pending)"), "{err}");
        assert!(err.contains("--url"), "{err}");
        let err = service_address(&list, "missing", "lab", "--hub-url")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no service missing in namespace lab"), "{err}");
    }

    #[test]
    fn the_report_aligns_names_escapes_text_and_shows_the_log() {
        let result = |name: &str, status, message: &str| CheckResult {
            name: name.into(),
            status,
            message: message.into(),
            url: None,
            http_status: None,
            seconds: None,
            phases: Vec::new(),
            log: Vec::new(),
        };
        let mut failed = result("launch", Status::Fail, "gh/a/b/HEAD: the build failed");
        failed.log = vec!["Step 2/2".into(), "error\x1b[31m red".into()];
        let text = report(&[
            result("binderhub", Status::Ok, "healthy"),
            result("binderhub/pod-quota", Status::Warn, "Pod quota: not ok"),
            failed,
        ]);
        assert_eq!(
            text,
            "ok    binderhub            healthy\n\
             warn  binderhub/pod-quota  Pod quota: not ok\n\
             fail  launch               gh/a/b/HEAD: the build failed\n      \
             build log, last 2 lines:\n      \
             | Step 2/2\n      \
             | error\\x1b[31m red\n"
        );
    }

    #[test]
    fn the_ticker_line_fits_and_escapes() {
        let spec = RepoSpec::parse("binder-examples/requirements").unwrap();
        let long = format!("Step 3/10 : RUN pip install \x1b[2J{}", "x".repeat(200));
        let progress = LaunchProgress {
            spec: &spec,
            phase: Some("building"),
            message: Some(&long),
            elapsed: Duration::from_secs(72),
            new_phase: false,
        };
        let line = ticker_line(&progress);
        assert!(line
            .starts_with("launch gh/binder-examples/requirements/HEAD: building 1m12s  Step 3/10"));
        assert!(line.chars().count() <= TICKER_CHARS, "{line}");
        assert!(!line.contains('\x1b'), "{line}");
        let quiet = LaunchProgress {
            message: None,
            phase: None,
            ..progress
        };
        assert_eq!(
            ticker_line(&quiet),
            "launch gh/binder-examples/requirements/HEAD: requested 1m12s"
        );
    }
}
