//! Operations: the work the commands do (as cargo's `ops`). Each takes a
//! plain configuration (`cluster::target::Target` and its own options
//! struct, never clap's types), composes the pure core (`values`, `egress`)
//! with the edges (`cluster`'s runner and helper pods), and reports through
//! `output`. May depend on everything except `commands/` and `cli.rs`; one
//! command reuses another's work only through here. Read commands return
//! through `output::format::print`; work commands build plans the one
//! runner prints (`--dry-run`) or executes.

pub mod check;
pub mod dashboard;
pub mod deploy;
pub mod diff;
pub mod doctor;
pub mod egress;
pub mod forward;
pub mod history;
pub mod images;
pub mod init;
pub mod input;
pub mod latest;
pub mod logs;
pub mod nameservers;
pub mod nodes;
pub mod permissions;
pub mod pods;
pub mod preflight;
pub mod quota;
pub mod registry;
pub mod render;
pub mod render_file;
pub mod rollout;
pub mod status;
pub mod storage;
pub mod uninstall;
pub mod versions;
pub mod volumes;
pub mod whitelist;
