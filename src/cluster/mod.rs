//! Cluster: the external tools and their flavours, plans (lists of commands),
//! the one runner that prints or executes them, confirmation, durations,
//! manifest checks, the kubelet arguments editor and the checks of names
//! handed to the tools. Plans, durations, manifests, kubelet edits and names
//! are pure; only `runner` and `confirm` do I/O.

pub mod confirm;
pub mod duration;
pub mod kubelet_args;
pub mod manifest;
pub mod names;
pub mod plan;
pub mod runner;
pub mod tools;
