//! Which programs binderctl drives: `microk8s kubectl|helm|ctr` (the
//! default) or plain `kubectl`, `helm`, `ctr` from PATH (k3s, managed
//! clusters). Pure: this only builds command lines.

use std::time::Duration;

use anyhow::Result;

use crate::cluster::duration::format_go;
use crate::cluster::plan::CommandLine;
pub use crate::cluster::target::{Target, ToolFlavor};

/// The containerd namespace MicroK8s' `microk8s ctr` wrapper always passes
/// (`--namespace k8s.io`, from `$SNAP_DATA/args/ctr`): Kubernetes' images.
pub const MICROK8S_CTR_NAMESPACE: &str = "k8s.io";

/// An external tool binderctl knows how to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Kubectl,
    Helm,
    Ctr,
    /// MicroK8s' own commands (add-node, remove-node, ...): MicroK8s only.
    Microk8s,
}

impl Tool {
    /// The tool's own name (`kubectl`, `helm`, `ctr`, `microk8s`).
    pub fn name(self) -> &'static str {
        match self {
            Tool::Kubectl => "kubectl",
            Tool::Helm => "helm",
            Tool::Ctr => "ctr",
            Tool::Microk8s => "microk8s",
        }
    }
}

/// Builds command lines for the chosen tool flavor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    flavor: ToolFlavor,
    cluster: Cluster,
    /// kubectl's `--request-timeout` for single requests ([`waits`]).
    request_timeout: Option<Duration>,
}

/// Which cluster kubectl and Helm talk to (`--kubeconfig`, `--context`);
/// unset, the tools choose as they always do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
}

impl Cluster {
    /// The options in `tool`'s own spelling: kubectl `--kubeconfig=F
    /// --context=C`, Helm `--kubeconfig=F --kube-context=C`.
    fn flags(&self, tool: Tool) -> Vec<String> {
        let context_flag = match tool {
            Tool::Kubectl => "--context",
            Tool::Helm => "--kube-context",
            Tool::Ctr | Tool::Microk8s => return Vec::new(),
        };
        let mut flags = Vec::new();
        if let Some(file) = &self.kubeconfig {
            flags.push(format!("--kubeconfig={file}"));
        }
        if let Some(context) = &self.context {
            flags.push(format!("{context_flag}={context}"));
        }
        flags
    }
}

impl Tools {
    pub fn new(flavor: ToolFlavor) -> Self {
        Tools {
            flavor,
            cluster: Cluster::default(),
            request_timeout: None,
        }
    }

    /// The tools `target` names: flavor, kubeconfig, context.
    pub fn for_target(target: &Target) -> Self {
        Tools {
            flavor: target.tools,
            cluster: Cluster {
                kubeconfig: target
                    .kubeconfig
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
                context: target.context.clone(),
            },
            request_timeout: target.request_timeout,
        }
    }

    pub fn flavor(&self) -> ToolFlavor {
        self.flavor
    }

    /// The command line running `tool` with `args`: `microk8s kubectl ARGS`
    /// with MicroK8s, `kubectl ARGS` with plain tools. `Tool::Microk8s`
    /// always gives `microk8s ARGS`; callers that need it should go through
    /// [`Tools::microk8s`], which refuses in plain mode.
    pub fn command<I, S>(&self, tool: Tool, args: I) -> CommandLine
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let command = match (self.flavor, tool) {
            (_, Tool::Microk8s) => CommandLine::new("microk8s").args(args),
            (ToolFlavor::Microk8s, _) => CommandLine::new("microk8s").arg(tool.name()).args(args),
            (ToolFlavor::Plain, _) => CommandLine::new(tool.name()).args(args),
        };
        // After the operation's own arguments: both tools take their global
        // flags anywhere.
        let command = command.args(self.cluster.flags(tool));
        match self.request_timeout {
            Some(limit) if tool == Tool::Kubectl && !waits(&command.args) => {
                command.arg(format!("--request-timeout={}", format_go(limit)))
            }
            _ => command,
        }
    }

    /// `kubectl ARGS` in the chosen flavor.
    pub fn kubectl<I, S>(&self, args: I) -> CommandLine
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command(Tool::Kubectl, args)
    }

    /// `helm ARGS` in the chosen flavor.
    pub fn helm<I, S>(&self, args: I) -> CommandLine
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command(Tool::Helm, args)
    }

    /// `ctr` in containerd namespace `namespace` with `args`. Plain:
    /// `ctr --namespace NS ARGS`. MicroK8s' wrapper already runs `ctr
    /// --address=… --namespace k8s.io "$@"`, and ctr refuses `-n` next to
    /// `--namespace` ("Cannot use two forms of the same flag"): so no flag
    /// for `k8s.io`, and the same long form (the last one wins) otherwise.
    pub fn ctr<I, S>(&self, namespace: &str, args: I) -> CommandLine
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let namespace_flag = match self.flavor {
            ToolFlavor::Microk8s if namespace == MICROK8S_CTR_NAMESPACE => vec![],
            _ => vec!["--namespace".to_string(), namespace.to_string()],
        };
        self.command(Tool::Ctr, namespace_flag)
            .args(args.into_iter().map(Into::into))
    }

    /// A MicroK8s-only command (`microk8s add-node`, `microk8s remove-node
    /// NAME`). With plain tools this is an error that names the operation.
    pub fn microk8s<I, S>(&self, args: I) -> Result<CommandLine>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let command = CommandLine::new("microk8s").args(args);
        self.require_microk8s(&command.to_string())?;
        Ok(command)
    }

    /// Fail clearly when `operation` needs MicroK8s but plain tools were chosen.
    pub fn require_microk8s(&self, operation: &str) -> Result<()> {
        match self.flavor {
            ToolFlavor::Microk8s => Ok(()),
            ToolFlavor::Plain => anyhow::bail!(
                "`{operation}` works only on MicroK8s, but --tools plain (or BINDERCTL_TOOLS=plain) \
                 was chosen; drop it to use MicroK8s, or do this the way your Kubernetes \
                 distribution does it"
            ),
        }
    }
}

/// Whether the kubectl command `args` (after `microk8s kubectl`'s own
/// `kubectl`, if any) waits or streams for as long as it takes, with a limit
/// of its own or none: a rollout's status, `wait`, a `delete` without
/// `--wait=false`, `logs -f`, a watch, port forwarding, a proxy, a session
/// in a container. kubectl's
/// `--request-timeout` bounds a whole request, a watch's or a stream's too,
/// so these must not get it; every other call is a few single requests.
pub fn waits(args: &[String]) -> bool {
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .skip_while(|w| *w == "kubectl")
        .collect();
    // binderctl's builders put the verb first.
    let verb = words.first().copied();
    let flag = |names: &[&str]| {
        words.iter().any(|w| {
            names.iter().any(|n| {
                *w == *n
                    || (w.starts_with(n) && w[n.len()..].starts_with('=') && !w.ends_with("=false"))
            })
        })
    };
    match verb {
        Some("wait" | "port-forward" | "proxy" | "attach" | "exec" | "run" | "cp" | "debug") => {
            true
        }
        Some("rollout") => words.contains(&"status"),
        // Waits until the object is gone (a namespace: its contents first)
        // unless told not to.
        Some("delete") => !words.contains(&"--wait=false"),
        Some("logs") => flag(&["-f", "--follow"]),
        _ => flag(&["-w", "--watch", "--watch-only"]),
    }
}

/// The error for a program that is not on PATH: names it and says how to
/// get it, or how to switch to the other tool flavor.
pub fn missing_program_message(program: &str) -> String {
    match program {
        "microk8s" => "`microk8s` is not installed or not on PATH: install MicroK8s with \
             `sudo snap install microk8s --classic` (then log in again after \
             `sudo usermod -a -G microk8s $USER`), or pass --tools plain \
             (BINDERCTL_TOOLS=plain) to use kubectl, helm and ctr from PATH"
            .to_string(),
        "kubectl" | "helm" | "ctr" => format!(
            "`{program}` is not installed or not on PATH: install {program} (see {}), or, on a \
             MicroK8s node, drop --tools plain (BINDERCTL_TOOLS=plain) to use `microk8s {program}`",
            install_hint(program)
        ),
        other => format!("`{other}` is not installed or not on PATH"),
    }
}

fn install_hint(program: &str) -> &'static str {
    match program {
        "kubectl" => "https://kubernetes.io/docs/tasks/tools/",
        "helm" => "https://helm.sh/docs/intro/install/",
        // ctr ships with containerd; k3s has it as `k3s ctr`.
        _ => "https://containerd.io/downloads/ ; on k3s, `k3s ctr` is the same tool",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microk8s_flavor_prefixes_the_tool() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        let cmd = tools.command(Tool::Kubectl, ["get", "pods"]);
        assert_eq!(cmd.program, "microk8s");
        assert_eq!(cmd.args, vec!["kubectl", "get", "pods"]);
        assert_eq!(tools.helm(["list"]).to_string(), "microk8s helm list");
        // The wrapper passes --namespace k8s.io itself.
        assert_eq!(
            tools.ctr("k8s.io", ["images", "ls"]).to_string(),
            "microk8s ctr images ls"
        );
        assert_eq!(
            tools.ctr("default", ["images", "ls"]).to_string(),
            "microk8s ctr --namespace default images ls"
        );
    }

    #[test]
    fn plain_flavor_runs_the_tool_itself() {
        let tools = Tools::new(ToolFlavor::Plain);
        let cmd = tools.command(Tool::Kubectl, ["get", "pods"]);
        assert_eq!(cmd.program, "kubectl");
        assert_eq!(cmd.args, vec!["get", "pods"]);
        assert_eq!(tools.helm(["list"]).to_string(), "helm list");
        assert_eq!(
            tools.ctr("k8s.io", ["images", "ls"]).to_string(),
            "ctr --namespace k8s.io images ls"
        );
    }

    #[test]
    fn kubeconfig_and_context_in_each_tools_spelling() {
        let tools = Tools {
            flavor: ToolFlavor::Microk8s,
            cluster: Cluster {
                kubeconfig: Some("/etc/lab.kubeconfig".into()),
                context: Some("lab".into()),
            },
            request_timeout: None,
        };
        assert_eq!(
            tools.kubectl(["get", "pods"]).to_string(),
            "microk8s kubectl get pods --kubeconfig=/etc/lab.kubeconfig --context=lab"
        );
        assert_eq!(
            tools.helm(["list"]).to_string(),
            "microk8s helm list --kubeconfig=/etc/lab.kubeconfig --kube-context=lab"
        );
        assert_eq!(
            tools.ctr("k8s.io", ["images", "ls"]).to_string(),
            "microk8s ctr images ls"
        );
        assert_eq!(
            Tools::new(ToolFlavor::Plain).kubectl(["get"]).to_string(),
            "kubectl get"
        );
    }

    #[test]
    fn single_requests_get_the_request_timeout_and_waits_do_not() {
        let tools = Tools {
            flavor: ToolFlavor::Plain,
            cluster: Cluster {
                kubeconfig: Some("/etc/lab.kubeconfig".into()),
                context: None,
            },
            request_timeout: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            tools
                .kubectl(["delete", "pod", "-n", "binder", "--wait=false"])
                .to_string(),
            "kubectl delete pod -n binder --wait=false --kubeconfig=/etc/lab.kubeconfig \
             --request-timeout=30s"
        );
        assert_eq!(
            Tools {
                request_timeout: Some(Duration::from_secs(90)),
                ..Tools::new(ToolFlavor::Microk8s)
            }
            .kubectl(["get", "pods"])
            .to_string(),
            "microk8s kubectl get pods --request-timeout=1m30s"
        );
        // Helm and ctr have no such flag.
        assert_eq!(
            tools.helm(["list"]).to_string(),
            "helm list --kubeconfig=/etc/lab.kubeconfig"
        );
        assert_eq!(
            tools.ctr("k8s.io", ["images", "ls"]).to_string(),
            "ctr --namespace k8s.io images ls"
        );
        for waiting in [
            &["rollout", "status", "deployment/hub", "--timeout=10m"][..],
            &["logs", "-n", "binder", "hub-1", "-f"],
            &["logs", "--follow=true", "hub-1"],
            &[
                "port-forward",
                "-n",
                "binder",
                "svc/proxy-public",
                "8000:80",
            ],
            &["wait", "--for=condition=Ready", "pod/x", "-n", "binder"],
            &["get", "pods", "-w"],
            &["get", "pods", "--watch=true"],
            &["exec", "-it", "x", "--", "sh"],
            &["delete", "namespace", "binder"],
        ] {
            let line = tools.kubectl(waiting.iter().copied());
            assert!(!line.to_string().contains("--request-timeout"), "{line}");
        }
        for single in [
            &["rollout", "restart", "deployment/hub"][..],
            &["logs", "-n", "binder", "hub-1", "--tail=20"],
            &["logs", "--follow=false", "hub-1"],
            &["get", "pods", "--watch=false"],
            &["auth", "can-i", "create", "secrets"],
            &["apply", "-f", "-"],
            &[
                "delete",
                "pod",
                "-n",
                "binder",
                "--wait=false",
                "-o",
                "name",
                "x",
            ],
        ] {
            let line = tools.kubectl(single.iter().copied());
            assert!(
                line.to_string().ends_with(" --request-timeout=30s"),
                "{line}"
            );
        }
    }

    #[test]
    fn microk8s_only_operations_refuse_plain_tools() {
        let cmd = Tools::new(ToolFlavor::Microk8s)
            .microk8s(["add-node"])
            .unwrap();
        assert_eq!(cmd.to_string(), "microk8s add-node");
        let err = Tools::new(ToolFlavor::Plain)
            .microk8s(["remove-node", "n1"])
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("microk8s remove-node n1"), "{msg}");
        assert!(msg.contains("--tools plain"), "{msg}");
    }

    #[test]
    fn missing_program_messages_say_how_to_install() {
        let m = missing_program_message("microk8s");
        assert!(m.contains("sudo snap install microk8s --classic"), "{m}");
        assert!(m.contains("--tools plain"), "{m}");
        let m = missing_program_message("helm");
        assert!(m.starts_with("`helm` is not installed"), "{m}");
        assert!(m.contains("microk8s helm"), "{m}");
    }
}
