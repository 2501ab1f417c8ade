//! Cluster: the external tools and their flavours, plans (lists of commands),
//! the one runner that prints or executes them, confirmation, durations,
//! manifest checks, the kubelet arguments and configuration editors and the
//! settings they write (`kubelet_settings`), the checks of names
//! handed to the tools, Helm's shared command lines (`helm`), MicroK8s'
//! wrapper checks (`microk8s`), the helper pods that reach other nodes
//! (`node_helper`) and the permissions binderctl needs (`rbac`). Plans,
//! durations, manifests, kubelet edits, names, helper pods and `rbac` are
//! pure; `target` is the plain configuration the
//! commands build from the global options; `runner` and `confirm` do I/O, `helm` through the runner,
//! `microk8s` reads a few state files.

pub mod confirm;
pub mod duration;
pub mod helm;
pub mod kubelet_args;
pub mod kubelet_config;
pub mod kubelet_settings;
pub mod manifest;
pub mod microk8s;
pub mod names;
pub mod node_helper;
pub mod plan;
pub mod rbac;
pub mod runner;
pub mod systemd;
pub mod target;
pub mod tools;
