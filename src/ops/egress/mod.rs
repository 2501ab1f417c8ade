//! The egress operations on a cluster: the NetworkPolicies' apply, check,
//! show and status, and their hooks around a deploy (`policies`); proving
//! them from a probe pod (`verify`); and keeping them true as DNS changes
//! (`schedule`, a systemd timer). May depend on `egress/` (the pure policy
//! and allow-list), `cluster/`, `values/`, `output/` and the other
//! operations (`render`, `nameservers`, `pods`).

pub mod policies;
pub mod schedule;
pub mod verify;
