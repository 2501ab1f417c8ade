//! `binderctl nodes ls|disk|add|remove|reserve|gc` (ops::nodes).

use anyhow::Result;

use super::config;
use crate::cli::{GlobalArgs, NodesCmd};
use crate::error::Outcome;
use crate::ops::nodes::{disk, gc, list, reserve};

pub async fn run(global: &GlobalArgs, cmd: &NodesCmd) -> Result<Outcome> {
    let target = config::target(global);
    match cmd {
        NodesCmd::Ls { output } => list::list(&target, &config::output_options(output)).await,
        NodesCmd::Disk { output } => disk::run(&target, &config::output_options(output)).await,
        NodesCmd::Add { worker } => list::add(&target, *worker).await,
        NodesCmd::Remove {
            name,
            yes,
            force,
            dry_run,
        } => {
            let options = list::RemoveOptions {
                name: name.clone(),
                yes: *yes,
                force: *force,
                dry_run: *dry_run,
            };
            list::remove(&target, &options).await
        }
        NodesCmd::Reserve {
            cpu,
            memory,
            ephemeral_storage,
            kubelet_args,
            dry_run,
            targets,
            ready_timeout,
            yes,
        } => {
            let options = reserve::ReserveOptions {
                cpu: cpu.clone(),
                memory: memory.clone(),
                ephemeral_storage: ephemeral_storage.clone(),
                kubelet_args: kubelet_args.clone(),
                dry_run: *dry_run,
                targets: config::node_targets(targets),
                ready_timeout: ready_timeout.clone(),
                yes: *yes,
            };
            reserve::run(&target, &options).await
        }
        NodesCmd::Gc {
            high,
            low,
            max_age,
            kubelet_args,
            dry_run,
            targets,
            ready_timeout,
            yes,
        } => {
            let options = gc::GcOptions {
                high: *high,
                low: *low,
                max_age: max_age.clone(),
                kubelet_args: kubelet_args.clone(),
                dry_run: *dry_run,
                targets: config::node_targets(targets),
                ready_timeout: ready_timeout.clone(),
                yes: *yes,
            };
            gc::run(&target, &options).await
        }
    }
}
