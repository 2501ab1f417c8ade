//! `binderctl dashboard token|forward`: log in to the Kubernetes Dashboard.
//! `forward` finds the MicroK8s add-on in either of its layouts.

use anyhow::{bail, Context, Result};

use crate::cluster::duration::{format_go, parse_duration};
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{Interrupted, Outcome};
use crate::output;

/// Where a MicroK8s dashboard add-on puts the service to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashboardLayout {
    pub namespace: &'static str,
    pub service: &'static str,
    pub port: u16,
    /// The MicroK8s versions whose add-on looks like this.
    pub microk8s: &'static str,
}

/// The add-on's layouts, newest first: since MicroK8s 1.33 the Dashboard is
/// a Helm chart reached through its Kong proxy.
pub const LAYOUTS: [DashboardLayout; 2] = [
    DashboardLayout {
        namespace: "kubernetes-dashboard",
        service: "kubernetes-dashboard-kong-proxy",
        port: 443,
        microk8s: "MicroK8s 1.33 and later",
    },
    DashboardLayout {
        namespace: "kube-system",
        service: "kubernetes-dashboard",
        port: 443,
        microk8s: "MicroK8s 1.28 to 1.32",
    },
];

/// The layouts to look for: both, or both service names in the namespace
/// the operator named.
pub fn candidate_layouts(namespace: Option<&str>) -> Vec<(String, DashboardLayout)> {
    LAYOUTS
        .iter()
        .map(|l| (namespace.unwrap_or(l.namespace).to_string(), *l))
        .collect()
}

/// `kubectl get service NAME -n NS -o name`: does the service exist?
pub fn service_probe(tools: &Tools, namespace: &str, service: &str) -> CommandLine {
    tools.kubectl(["get", "service", service, "-n", namespace, "-o", "name"])
}

/// The first candidate whose service exists, or an error naming every
/// service looked for. A failure other than "not found" is the tool's.
async fn find_dashboard(
    runner: &Runner,
    tools: &Tools,
    namespace: Option<&str>,
) -> Result<(String, DashboardLayout)> {
    let candidates = candidate_layouts(namespace);
    for (namespace, layout) in &candidates {
        let probe = service_probe(tools, namespace, layout.service);
        let answer = runner.probe(&probe).await?;
        if answer.success() && !answer.stdout.trim().is_empty() {
            return Ok((namespace.clone(), *layout));
        }
        if !answer.success() && !answer.says_not_found() {
            return Err(crate::cluster::runner::failed(&probe, &answer));
        }
    }
    let looked: Vec<String> = candidates
        .iter()
        .map(|(ns, l)| format!("service/{} in namespace {ns} ({})", l.service, l.microk8s))
        .collect();
    bail!(
        "no Kubernetes Dashboard found: neither {} exists; enable the add-on with \
         `microk8s enable dashboard` (or pass --dashboard-namespace)",
        looked.join(" nor ")
    )
}

/// `kubectl create token ACCOUNT -n NS --duration=D` (D in Go's notation).
pub fn token_command(
    tools: &Tools,
    account: &str,
    namespace: &str,
    duration: &str,
) -> Result<CommandLine> {
    let valid_for = parse_duration(duration).context("--duration")?;
    Ok(tools.kubectl([
        "create".to_string(),
        "token".to_string(),
        account.to_string(),
        "-n".to_string(),
        namespace.to_string(),
        format!("--duration={}", format_go(valid_for)),
    ]))
}

/// `kubectl port-forward -n NS service/NAME LOCAL:PORT --address IP`.
pub fn forward_command(
    tools: &Tools,
    namespace: &str,
    layout: &DashboardLayout,
    local_port: u16,
    address: &str,
) -> CommandLine {
    tools.kubectl([
        "port-forward".to_string(),
        "-n".to_string(),
        namespace.to_string(),
        format!("service/{}", layout.service),
        format!("{local_port}:{}", layout.port),
        "--address".to_string(),
        address.to_string(),
    ])
}

/// The address to open in a browser for a forward listening on `address`.
pub fn browser_url(address: &str, port: u16) -> String {
    let host = match address {
        "0.0.0.0" | "::" => "127.0.0.1",
        other => other,
    };
    if host.contains(':') {
        format!("https://[{host}]:{port}/")
    } else {
        format!("https://{host}:{port}/")
    }
}

/// `dashboard token`'s options.
#[derive(Debug, Clone)]
pub struct TokenOptions {
    pub duration: String,
    pub service_account: String,
    pub account_namespace: String,
}
/// `dashboard forward`'s options.
#[derive(Debug, Clone)]
pub struct ForwardOptions {
    pub port: u16,
    pub address: String,
    pub dashboard_namespace: Option<String>,
}

pub async fn token(target: &Target, options: &TokenOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let TokenOptions {
        duration,
        service_account,
        account_namespace,
    } = options;

    let command = token_command(&tools, service_account, account_namespace, duration)?;
    let token = Runner::new(false).query(&command).await?;
    // The token is what the operator asked for; it goes to stdout alone
    // so that it can be piped, and nowhere else.
    output::data_line(token.trim());
    output::info(&format!(
        "Paste this token into the Dashboard's login page; it is valid for {duration}."
    ));
    Ok(Outcome::Success)
}

pub async fn forward(target: &Target, options: &ForwardOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let ForwardOptions {
        port,
        address,
        dashboard_namespace,
    } = options;

    let runner = Runner::new(false);
    let (namespace, layout) =
        find_dashboard(&runner, &tools, dashboard_namespace.as_deref()).await?;
    let command = forward_command(&tools, &namespace, &layout, *port, address);
    if address != "127.0.0.1" && address != "localhost" && address != "::1" {
        output::info(&format!(
            "Warning: listening on {address} exposes the Dashboard to the network."
        ));
    }
    output::info(&format!(
        "Dashboard at {} (HTTPS, self-signed certificate); Ctrl-C stops forwarding.",
        browser_url(address, *port)
    ));
    let mut plan = Plan::new();
    plan.push(Step::new(command));
    match runner.execute(&plan).await {
        Ok(_) => Ok(Outcome::Success),
        // Ctrl-C is how forwarding is meant to end.
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
            output::info("Stopped forwarding.");
            Ok(Outcome::Success)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    #[test]
    fn token_duration_is_checked_and_written_for_kubectl() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        let cmd = token_command(&tools, "default", "default", "2000h").unwrap();
        assert_eq!(
            cmd.to_string(),
            "microk8s kubectl create token default -n default --duration=2000h"
        );
        let cmd = token_command(&tools, "admin", "kube-system", "1d").unwrap();
        assert_eq!(
            cmd.to_string(),
            "microk8s kubectl create token admin -n kube-system --duration=24h"
        );
        let err = token_command(&tools, "default", "default", "forever").unwrap_err();
        assert!(
            format!("{err:#}").contains("--duration: duration \"forever\""),
            "{err:#}"
        );
    }

    #[test]
    fn forward_command_and_url() {
        let tools = Tools::new(ToolFlavor::Plain);
        assert_eq!(
            forward_command(&tools, "kube-system", &LAYOUTS[1], 10024, "127.0.0.1").to_string(),
            "kubectl port-forward -n kube-system service/kubernetes-dashboard 10024:443 --address 127.0.0.1"
        );
        assert_eq!(
            forward_command(&tools, "kubernetes-dashboard", &LAYOUTS[0], 8443, "::1").to_string(),
            "kubectl port-forward -n kubernetes-dashboard service/kubernetes-dashboard-kong-proxy 8443:443 --address ::1"
        );
        assert_eq!(browser_url("0.0.0.0", 10024), "https://127.0.0.1:10024/");
        assert_eq!(browser_url("192.0.2.5", 8443), "https://192.0.2.5:8443/");
        assert_eq!(browser_url("::1", 8443), "https://[::1]:8443/");
    }

    #[test]
    fn both_layouts_are_looked_for_newest_first() {
        let found: Vec<(String, &str)> = candidate_layouts(None)
            .into_iter()
            .map(|(ns, l)| (ns, l.service))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "kubernetes-dashboard".to_string(),
                    "kubernetes-dashboard-kong-proxy"
                ),
                ("kube-system".to_string(), "kubernetes-dashboard"),
            ]
        );
        assert!(candidate_layouts(Some("dash"))
            .iter()
            .all(|(ns, _)| ns == "dash"));
        assert_eq!(
            service_probe(
                &Tools::new(ToolFlavor::Microk8s),
                "kube-system",
                "kubernetes-dashboard"
            )
            .to_string(),
            "microk8s kubectl get service kubernetes-dashboard -n kube-system -o name"
        );
    }
}
