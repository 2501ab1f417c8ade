//! The cluster's nodes: listing, adding and removing them (`inventory`,
//! `list`), their disks (`disk`), the kubelet's reserved resources
//! (`reserve`), and the mechanism that reaches other nodes without SSH:
//! one short-lived helper pod per node (`helper_pods`, always deleted, also
//! on failure and Ctrl-C) run a few nodes at once (`fanout`). May depend on
//! `cluster/` and `output/`.

pub mod disk;
pub mod fanout;
pub mod helper_pods;
pub mod inventory;
pub mod list;
pub mod reserve;
