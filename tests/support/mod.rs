//! Loopback servers for the integration tests and the benchmark: a DNS
//! server and an HTTP server, each on 127.0.0.1 with its own thread and
//! tokio runtime. Include with `mod support;` (or, from benches,
//! `#[path = "../tests/support/mod.rs"] mod support;`).

#![allow(dead_code)]

pub mod dns_server;
pub mod http_server;
