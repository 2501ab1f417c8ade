//! Benchmark: `binderctl render` with 50 hosts against a loopback DNS server
//! that delays every answer by 20 ms, plus both published lists from a
//! loopback HTTP server. Measures whole-process wall time of the release
//! binary. Target: under 50 ms (every lookup in flight at once; done one
//! after another, 100 queries would take at least 2 s).
//!
//! Run: `cargo bench --bench render`

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::dns_server::{DnsServer, Zone};
use support::http_server::{FastlyList, GitHubMeta, HttpServer, Routes};

const HOSTS: usize = 50;
const DNS_DELAY: Duration = Duration::from_millis(20);
const RUNS: usize = 20;

fn main() {
    let mut zone = Zone::new().delay(DNS_DELAY);
    let mut hosts = String::new();
    for i in 0..HOSTS {
        let name = format!("host{i}.bench.example");
        let v4 = format!("198.51.100.{}", i + 1);
        let v6 = format!("2001:db8:b::{:x}", i + 1);
        zone = zone.a(&name, [v4.as_str()]).aaaa(&name, [v6.as_str()]);
        hosts.push_str(&format!("        - {name}\n"));
    }
    let dns = DnsServer::start(zone);
    let http = HttpServer::start(
        Routes::new()
            .json(
                "/meta",
                GitHubMeta::sample().with_many_actions(200).to_json(),
            )
            .json("/fastly", FastlyList::sample().to_json()),
    );

    let dir = tempfile::tempdir().expect("temporary folder");
    let binder_yaml = format!(
        "config:\n  GitHubRepoProvider:\n    whitelist_enabled: true\n    whitelist: [lab-a, lab-b]\n    banned_specs: ['^(?!()\\/).*$']\n\
         jupyterhub:\n  singleuser:\n    networkPolicy:\n      enabled: true\n      egressAllowRules:\n        nonPrivateIPs: false\n      \
         published_ip_lists:\n        github: [git, actions]\n      domain_whitelist:\n{hosts}"
    );
    std::fs::write(dir.path().join("binder.yaml"), binder_yaml).expect("binder.yaml");

    let run = || {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_binderctl"))
            .current_dir(dir.path())
            .args(["render", "--nameserver", &dns.addr.to_string()])
            .args([
                "--github-meta-url",
                &http.url("/meta"),
                "--fastly-url",
                &http.url("/fastly"),
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run binderctl");
        let elapsed = started.elapsed();
        assert!(
            out.status.success(),
            "render failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        elapsed
    };

    run(); // warm-up: page cache, first connections
    let mut times: Vec<Duration> = (0..RUNS).map(|_| run()).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "render, {HOSTS} hosts (A+AAAA), DNS answers delayed {} ms, both lists: \
         median {:.1} ms, min {:.1} ms, max {:.1} ms over {RUNS} runs (whole process)",
        DNS_DELAY.as_millis(),
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1]),
    );
}
