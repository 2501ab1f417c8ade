//! binderctl: render and operate a self-hosted BinderHub.
//!
//! The pure core (values transformation, CIDR handling, YAML writing,
//! kubelet arguments) does no I/O; the edges (address sources, the command
//! runner, the subcommands) are thin and each lives in its own module.

pub mod cidr;
pub mod cli;
pub mod commands;
pub mod confirm;
pub mod duration;
pub mod egress;
pub mod error;
pub mod fsutil;
pub mod kubelet_args;
pub mod plan;
pub mod render;
pub mod runner;
pub mod settings;
pub mod sources;
pub mod tools;
pub mod transform;
pub mod yaml_in;
pub mod yaml_out;
