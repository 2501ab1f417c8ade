//! `check`: is BinderHub healthy, and does it build? The probes over HTTP
//! (`probe`: BinderHub's /health and /versions, the hub's health, a launch
//! through the build event stream and the server's shutdown) and the
//! operation that finds the addresses and reports (`command`). May depend
//! on `health/` (the pure formats), `cluster/`, `output/` and `ops::status`.

pub mod command;
pub mod probe;
