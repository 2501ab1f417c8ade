//! The cluster's nodes: listing, adding and removing them (`inventory`,
//! `list`), their disks (`disk`), the kubelet's settings: reserved
//! resources (`reserve`) and image garbage collection (`gc`), both written
//! here or node after node by `kubelet_rollout`, and the mechanism that
//! reaches other nodes without SSH:
//! one short-lived helper pod per node (`helper_pods`, always deleted, also
//! on failure and Ctrl-C) run a few nodes at once (`fanout`). May depend on
//! `cluster/` and `output/`.

pub mod disk;
pub mod fanout;
pub mod gc;
pub mod helper_pods;
pub mod inventory;
pub mod kubelet_rollout;
pub mod list;
pub mod reserve;
