//! `binderctl forward [proxy-public|binder]`: the port forward the tutorial
//! uses to reach the hub (or BinderHub itself) from a laptop, with the
//! matching `ssh -L` line. Runs until interrupted.

use anyhow::Result;

use crate::cluster::plan::{CommandLine, Plan, Step};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::cluster::tools::Tools;
use crate::error::{Interrupted, Outcome};
use crate::output;

/// What `forward` is asked to do.
#[derive(Debug, Clone)]
pub struct ForwardOptions {
    pub target: ForwardTarget,
    pub port: u16,
    pub address: String,
}

/// The services `forward` reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardTarget {
    /// The hub, as users reach it (JupyterHub's proxy).
    ProxyPublic,
    /// BinderHub's own page.
    Binder,
}

impl ForwardTarget {
    /// The service and the port it serves HTTP on (both charts use 80).
    pub fn service(self) -> (&'static str, u16) {
        match self {
            ForwardTarget::ProxyPublic => ("proxy-public", 80),
            ForwardTarget::Binder => ("binder", 80),
        }
    }
}

/// `kubectl port-forward -n NS service/NAME PORT:80 --address IP`.
pub fn forward_command(
    tools: &Tools,
    namespace: &str,
    target: ForwardTarget,
    port: u16,
    address: &str,
) -> CommandLine {
    let (service, remote) = target.service();
    tools.kubectl([
        "port-forward".to_string(),
        "-n".to_string(),
        namespace.to_string(),
        format!("service/{service}"),
        format!("{port}:{remote}"),
        "--address".to_string(),
        address.to_string(),
    ])
}

/// Sample plans for the conformance registry.
pub fn sample_plans() -> Vec<Plan> {
    [ToolFlavor::Microk8s, ToolFlavor::Plain]
        .into_iter()
        .map(|flavor| {
            let tools = Tools::new(flavor);
            let mut plan = Plan::new();
            plan.push_command(forward_command(
                &tools,
                "binder",
                ForwardTarget::ProxyPublic,
                8080,
                "127.0.0.1",
            ));
            plan.push_command(forward_command(
                &tools,
                "binder",
                ForwardTarget::Binder,
                8585,
                "0.0.0.0",
            ));
            plan
        })
        .collect()
}

/// This machine's host name, for the ssh line.
fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length; gethostname
    // writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    match (rc, std::str::from_utf8(&buffer[..end])) {
        (0, Ok(name)) if !name.is_empty() => name.to_string(),
        _ => "THIS-HOST".to_string(),
    }
}

/// The `ssh -L` line that brings the forward to a laptop.
pub fn ssh_line(user: &str, host: &str, port: u16) -> String {
    format!("ssh -N -L {port}:127.0.0.1:{port} {user}@{host}")
}

pub async fn run(target: &Target, options: &ForwardOptions) -> Result<Outcome> {
    if options.address != "localhost" && options.address.parse::<std::net::IpAddr>().is_err() {
        anyhow::bail!(
            "--address {:?} is not an IP address (e.g. 127.0.0.1, 0.0.0.0)",
            options.address
        );
    }
    let tools = Tools::for_target(target);
    let command = forward_command(
        &tools,
        &target.namespace,
        options.target,
        options.port,
        &options.address,
    );
    let (service, _) = options.target.service();
    if !matches!(options.address.as_str(), "127.0.0.1" | "localhost" | "::1") {
        output::warn(&format!(
            "listening on {} exposes {service} to the network",
            options.address
        ));
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "USER".into());
    output::info(&format!(
        "{service} at http://127.0.0.1:{port}/ on this machine; from a laptop run\n  {}\nand open \
         http://127.0.0.1:{port}/ there. Ctrl-C stops forwarding.",
        ssh_line(&user, &host_name(), options.port),
        port = options.port
    ));
    let mut plan = Plan::new();
    plan.push(Step::new(command));
    match Runner::new(false).execute(&plan).await {
        Ok(_) => Ok(Outcome::Success),
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

    #[test]
    fn forward_and_ssh_lines() {
        let plans = sample_plans();
        assert_eq!(
            plans[0].render(),
            "microk8s kubectl port-forward -n binder service/proxy-public 8080:80 --address 127.0.0.1\n\
             microk8s kubectl port-forward -n binder service/binder 8585:80 --address 0.0.0.0\n"
        );
        assert_eq!(
            ssh_line("lab", "u24control", 8080),
            "ssh -N -L 8080:127.0.0.1:8080 lab@u24control"
        );
        assert!(!host_name().is_empty());
    }
}
