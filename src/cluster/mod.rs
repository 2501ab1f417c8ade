//! Cluster: the external tools and their flavours, plans (lists of commands),
//! the one runner that prints or executes them, confirmation, durations,
//! manifest checks and the kubelet arguments editor. Plans, durations,
//! manifests and kubelet edits are pure; only `runner` and `confirm` do I/O.

pub mod confirm;
pub mod duration;
pub mod kubelet_args;
pub mod manifest;
pub mod names;
pub mod plan;
pub mod runner;
pub mod tools;
