//! `binderctl nodes`: list, add and remove nodes; reserve resources for
//! system daemons in MicroK8s' kubelet arguments file.

use anyhow::{Context, Result};

use crate::cluster::confirm::confirm;
use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::Tools;
use crate::error::{NotConfirmed, Outcome};
use crate::ops::nodes::inventory::*;
use crate::output;
use crate::output::format;
use crate::output::format::OutputOptions;

/// `nodes remove`'s options.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    pub name: String,
    pub yes: bool,
    pub force: bool,
    pub dry_run: bool,
}

/// `microk8s add-node` (MicroK8s only).
pub fn add_command(tools: &Tools) -> Result<CommandLine> {
    tools.microk8s(["add-node"])
}

/// `microk8s remove-node NAME [--force]` (MicroK8s only).
pub fn remove_command(tools: &Tools, name: &str, force: bool) -> Result<CommandLine> {
    let mut args = vec!["remove-node", name];
    if force {
        args.push("--force");
    }
    tools.microk8s(args)
}

/// `nodes ls`: `kubectl get nodes -o json` as a table.
/// `nodes ls`: the cluster's nodes.
pub async fn list(target: &Target, output: &OutputOptions) -> Result<Outcome> {
    let tools = &Tools::for_target(target);
    let command = list_command(tools);
    let json = Runner::new(false).query(&command).await?;
    let rows = parse_node_list(&json)
        .with_context(|| format!("`{command}` printed something other than a node list"))?;
    if rows.is_empty() && format::is_table(output) {
        output::info("The cluster has no nodes.");
    } else {
        let records: Vec<NodeRecord> = rows.iter().map(NodeRecord::new).collect();
        let names = || rows.iter().map(|r| format!("node/{}", r.name)).collect();
        format::print(output, &records, names, |style| {
            node_table_styled(&rows, style)
        })?;
    }
    Ok(Outcome::Success)
}

/// `nodes add`: `microk8s add-node`, then only the join commands.
/// `nodes add [--worker]`: MicroK8s' join command for a new node.
pub async fn add(target: &Target, worker: bool) -> Result<Outcome> {
    let tools = &Tools::for_target(target);
    let command = add_command(tools)?;
    let runner = Runner::new(false);
    let captured = runner.probe(&command).await?;
    if !captured.success() {
        // MicroK8s explains a refusal (a worker node) on stdout: keep its
        // words, then say what to do.
        output::tool_stderr(&captured.stdout);
        let err = crate::cluster::runner::failed(&command, &captured);
        return Err(
            match crate::cluster::microk8s::own_command_hint(&captured.stdout) {
                Some(hint) => err.context(hint),
                None => err,
            },
        );
    }
    let output = captured.stdout;
    let commands = parse_join_commands(&output);
    if commands.is_empty() {
        anyhow::bail!(
            "`{command}` printed no `microk8s join` command; its output was:\n{}",
            output.trim_end()
        );
    }
    output::data(&join_instructions(&commands, worker));
    Ok(Outcome::Success)
}

/// `nodes remove NAME`: check the node exists and is not this one, remind
/// about `microk8s leave`, confirm, then `microk8s remove-node NAME`.
/// `nodes remove NAME`: drain, then `microk8s remove-node`.
pub async fn remove(target: &Target, options: &RemoveOptions) -> Result<Outcome> {
    let tools = &Tools::for_target(target);
    let RemoveOptions {
        name,
        yes,
        force,
        dry_run,
    } = options;
    let (yes, force, dry_run) = (*yes, *force, *dry_run);
    // Refuses plain tools before anything runs.
    let remove_command = remove_command(tools, name, force)?;
    check_node_name(name)?;

    let runner = Runner::new(dry_run);
    let get = get_command(tools, name);
    let answer = runner.probe(&get).await?;
    if !answer.success() {
        if answer.says_not_found() {
            anyhow::bail!(
                "there is no node named {name:?} in the cluster; `binderctl nodes ls` lists them"
            );
        }
        return Err(crate::cluster::runner::failed(&get, &answer));
    }
    let node = parse_node(&answer.stdout)
        .with_context(|| format!("`{get}` printed something other than a node"))?;

    if let Some(hostname) = local_hostname() {
        if is_this_host(&node, &hostname) {
            anyhow::bail!(
                "{name} is the node binderctl runs on (hostname {hostname}); to take it out of \
                 the cluster, run `microk8s leave` on it, then `microk8s remove-node {name}` on \
                 another node"
            );
        }
    }

    if node.status.starts_with("Ready") {
        output::info(&format!(
            "{name} is still Ready: run `microk8s leave` on {name} first, so that it stops \
             cleanly (or pass --force if it cannot be reached)."
        ));
    } else {
        output::info(&format!(
            "{name} is {}: it has left (`microk8s leave`) or cannot be reached; if it cannot, \
             pass --force.",
            node.status
        ));
    }

    let mut plan = Plan::new();
    plan.push_command(remove_command);
    if !dry_run && !confirm(&format!("Remove node {name} from the cluster?"), yes).await? {
        return Err(NotConfirmed("nothing removed".into()).into());
    }
    runner.execute(&plan).await?;
    if !dry_run {
        output::info(&format!(
            "Removed {name}. Check with `binderctl nodes ls`; redeploy BinderHub if its pods ran there."
        ));
    }
    Ok(Outcome::Success)
}

/// Node names are DNS subdomain names; anything else (in particular a name
/// starting with `-`, which the tools would read as an option) is refused.
fn check_node_name(name: &str) -> Result<()> {
    crate::cluster::names::node(name)
        .map(drop)
        .map_err(anyhow::Error::msg)
}

/// The join commands in the output of `microk8s add-node`, without any
/// `--worker` flag, in order, each once: the first is the one for the
/// default interface, the others are alternatives for other interfaces.
pub fn parse_join_commands(add_node_output: &str) -> Vec<String> {
    let mut commands: Vec<String> = Vec::new();
    for line in add_node_output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 || words.first() != Some(&"microk8s") || words.get(1) != Some(&"join") {
            continue;
        }
        let command = words
            .iter()
            .filter(|w| **w != "--worker")
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if !commands.contains(&command) {
            commands.push(command);
        }
    }
    commands
}

/// What `nodes add` prints: the join command to run on the new node, the
/// alternatives, and the firewall reminder.
pub fn join_instructions(commands: &[String], worker: bool) -> String {
    let suffix = if worker { " --worker" } else { "" };
    let Some((first, others)) = commands.split_first() else {
        return String::new();
    };
    let role = if worker {
        "as a worker (no control plane)"
    } else {
        "as a control-plane node"
    };
    let mut out = format!(
        "On the new node, run this to join it to the cluster {role}:\n\n  {first}{suffix}\n\n"
    );
    if !others.is_empty() {
        out.push_str(
            "If the new node cannot reach this one through its default interface, use one of:\n",
        );
        for other in others {
            out.push_str(&format!("  {other}{suffix}\n"));
        }
        out.push('\n');
    }
    out.push_str(
        "Each join command works once and expires: run `binderctl nodes add` again for every new \
         node. Install the same MicroK8s version on both \
         nodes and join before enabling add-ons.\n\
         The nodes must reach each other through the firewall: 25000/tcp (joining), 16443/tcp \
         (API server), 10250/tcp (kubelet), 19001/tcp (dqlite) and 4789/udp (Calico VXLAN); see \
         https://microk8s.io/docs/services-and-ports\n\
         Then check with `binderctl nodes ls` and redeploy BinderHub (`binderctl deploy`).\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD_NODE_OUTPUT: &str = "From the node you wish to join to this cluster, run the following:
microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05

Use the '--worker' flag to join a node as a worker not running the control plane, eg:
microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05 --worker

If the node you are adding is not reachable through the default interface you can use one of the following:
microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05
microk8s join 198.51.100.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05
microk8s join 203.0.113.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05
";

    #[test]
    fn join_commands_are_found_once_each_in_order() {
        let commands = parse_join_commands(ADD_NODE_OUTPUT);
        assert_eq!(
            commands,
            vec![
                "microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05",
                "microk8s join 198.51.100.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05",
                "microk8s join 203.0.113.1:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05",
            ]
        );
        assert!(
            parse_join_commands("Error: cluster agent not running\nmicrok8s join\n").is_empty()
        );
    }

    #[test]
    fn join_instructions_append_worker_only_when_asked() {
        let commands = parse_join_commands(ADD_NODE_OUTPUT);
        let worker = join_instructions(&commands, true);
        assert!(worker.contains("\n  microk8s join 192.0.2.10:25000/92b2db237428470dc4fcfc4ebbd9dc81/2c0cb3284b05 --worker\n"));
        assert_eq!(worker.matches("--worker").count(), 3, "{worker}");
        let control = join_instructions(&commands, false);
        assert!(!control.contains("--worker"), "{control}");
        assert!(control.contains("  microk8s join 203.0.113.1:25000/"));
        assert!(control.contains("25000/tcp"));
        assert_eq!(join_instructions(&[], false), "");
    }

    #[test]
    fn node_names_must_be_dns_names() {
        for good in ["u24worker", "node1.example", "a", "worker-2"] {
            assert!(check_node_name(good).is_ok(), "{good}");
        }
        for bad in ["", "--force", "-a", "a-", "Node1", "a b", "a/b", "a_b"] {
            let err = check_node_name(bad).unwrap_err();
            assert!(err.to_string().contains("not a node name"), "{bad}: {err}");
        }
    }

    #[test]
    fn this_host_is_recognised_by_name_or_label() {
        let mut node = parse_node(r#"{"metadata": {"name": "u24master"}}"#).unwrap();
        assert!(is_this_host(&node, "u24master"));
        assert!(is_this_host(&node, "U24Master"));
        assert!(!is_this_host(&node, "u24worker"));
        node.name = "other".into();
        node.hostname = "u24master".into();
        assert!(is_this_host(&node, "u24master"));
    }
}
