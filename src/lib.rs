//! binderctl: render and operate a self-hosted BinderHub.
//!
//! The tree shows the parts: `values/` and `egress/` are the core (pure,
//! except the async address sources in `egress`), `cluster/` drives the
//! external tools, `ops/` composes them for several commands, `output/`
//! formats what is printed, `commands/` has one file per subcommand and may
//! use everything; nothing below `commands/` uses it.

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod egress;
pub mod error;
pub mod fsutil;
pub mod health;
pub mod ops;
pub mod output;
pub mod registry;
pub mod samples;
pub mod secret;
pub mod values;
