//! One thin file per subcommand: read the CLI arguments, turn them into the
//! operation's plain configuration (`config` for the shared groups), call
//! the operation in `ops/`, and return its outcome. No command imports
//! another; `run` builds the async runtime and dispatches.

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::error::Outcome;

pub mod check;
pub mod completion;
pub mod config;
pub mod dashboard;
pub mod deploy;
pub mod diff;
pub mod doctor;
pub mod egress;
pub mod forward;
pub mod history;
pub mod images;
pub mod init;
pub mod logs;
pub mod man;
pub mod nodes;
pub mod pods;
pub mod quota;
pub mod rbac;
pub mod registry;
pub mod render;
pub mod status;
pub mod storage;
pub mod uninstall;
pub mod versions;
pub mod volumes;
pub mod whitelist;

/// Run the parsed command line to completion.
pub fn run(cli: Cli) -> Result<Outcome> {
    // render waits on sockets, not on the CPU: one thread answers them
    // all without waking (and starting) a worker per core; blocking work
    // such as loading the TLS roots still gets a thread of its own.
    let mut builder = match cli.command {
        Command::Render(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        // First of all: from here on a signal is recorded, never fatal.
        crate::cluster::runner::watch_signals();
        dispatch(cli).await
    })
}

async fn dispatch(cli: Cli) -> Result<Outcome> {
    let global = &cli.global;
    match &cli.command {
        Command::Render(cmd) => render::run(global, cmd).await,
        Command::Deploy(cmd) => deploy::run(global, cmd).await,
        Command::Versions(cmd) => versions::run(global, cmd).await,
        Command::Pods(cmd) => pods::run(global, cmd).await,
        Command::Images(cmd) => images::run(global, cmd).await,
        Command::Quota(cmd) => quota::run(global, cmd).await,
        Command::Storage(cmd) => storage::run(global, cmd).await,
        Command::Dashboard(cmd) => dashboard::run(global, cmd).await,
        Command::Nodes(cmd) => nodes::run(global, cmd).await,
        Command::Status(cmd) => status::run(global, cmd).await,
        Command::Rbac(cmd) => rbac::run(global, cmd),
        Command::Uninstall(cmd) => uninstall::run(global, cmd).await,
        Command::Completion(cmd) => completion::run(global, cmd).await,
        Command::Man(cmd) => man::run(global, cmd).await,
        Command::Egress(cmd) => egress::run(global, cmd).await,
        Command::Whitelist(cmd) => whitelist::run(global, cmd).await,
        Command::Doctor(cmd) => doctor::run(global, cmd).await,
        Command::Logs(cmd) => logs::run(global, cmd).await,
        Command::History(cmd) => history::history(global, cmd).await,
        Command::Rollback(cmd) => history::rollback(global, cmd).await,
        Command::Diff(cmd) => diff::run(global, cmd).await,
        Command::Volumes(cmd) => volumes::run(global, cmd).await,
        Command::Forward(cmd) => forward::run(global, cmd).await,
        Command::Init(cmd) => init::run(global, cmd).await,
        Command::Check(cmd) => check::run(global, cmd).await,
        Command::Registry(cmd) => registry::run(global, cmd).await,
    }
}
