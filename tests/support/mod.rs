//! Helpers shared by the integration tests and the benchmark: loopback DNS
//! and HTTP servers (each on 127.0.0.1 with its own thread and tokio
//! runtime) and a fake cluster of recording `microk8s`/`kubectl`/`helm`/`ctr`
//! executables. Include with `mod support;` (from benches,
//! `#[path = "../tests/support/mod.rs"] mod support;`). Each includer uses
//! only some of them, hence the allowance for unused code.

#![allow(dead_code)]

pub mod cluster;
pub mod containerd;
pub mod dns_server;
pub mod fake_tools;
pub mod http_server;
pub mod real_tools;
pub mod release;
pub mod server_thread;
pub mod wrapper;

use std::process::Output;

/// Run a binderctl command prepared by the fake cluster and collect its output.
pub fn run(fake: &fake_tools::FakeCluster, args: &[&str]) -> Output {
    fake.command(args).output().expect("run binderctl")
}

/// What a finished command printed on stdout, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a finished command printed on stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
