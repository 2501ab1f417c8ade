//! `doctor`: what is wrong with this node, the cluster and the inputs, one
//! line per check. May depend on `cluster/`, `values/`, `output/` and the
//! operations whose reads it shares (`nodes`, `status`, `storage`,
//! `preflight`, `egress`).

pub mod checks;
