//! `binderctl dashboard token|forward`: log in to the Kubernetes Dashboard.

use anyhow::{Context, Result};

use crate::cli::{DashboardCmd, GlobalArgs};
use crate::cluster::duration::{format_go, parse_duration};
use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::tools::Tools;
use crate::error::{Interrupted, Outcome};
use crate::output;

/// The Dashboard's service, as the MicroK8s add-on installs it.
pub const DASHBOARD_SERVICE: &str = "service/kubernetes-dashboard";

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

/// `kubectl port-forward -n NS service/kubernetes-dashboard PORT:443 --address IP`.
pub fn forward_command(tools: &Tools, namespace: &str, port: u16, address: &str) -> CommandLine {
    tools.kubectl([
        "port-forward".to_string(),
        "-n".to_string(),
        namespace.to_string(),
        DASHBOARD_SERVICE.to_string(),
        format!("{port}:443"),
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

pub async fn run(global: &GlobalArgs, cmd: &DashboardCmd) -> Result<Outcome> {
    let tools = Tools::from_global(global);
    match cmd {
        DashboardCmd::Token {
            duration,
            service_account,
            account_namespace,
        } => {
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
        DashboardCmd::Forward {
            port,
            address,
            dashboard_namespace,
        } => {
            let command = forward_command(&tools, dashboard_namespace, *port, address);
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
            match Runner::new(false).execute(&plan).await {
                Ok(_) => Ok(Outcome::Success),
                // Ctrl-C is how forwarding is meant to end.
                Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
                    output::info("Stopped forwarding.");
                    Ok(Outcome::Success)
                }
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ToolFlavor;

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
            forward_command(&tools, "kube-system", 10024, "127.0.0.1").to_string(),
            "kubectl port-forward -n kube-system service/kubernetes-dashboard 10024:443 --address 127.0.0.1"
        );
        assert_eq!(browser_url("0.0.0.0", 10024), "https://127.0.0.1:10024/");
        assert_eq!(browser_url("192.0.2.5", 8443), "https://192.0.2.5:8443/");
        assert_eq!(browser_url("::1", 8443), "https://[::1]:8443/");
    }
}
