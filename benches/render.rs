//! Benchmark: `binderctl render` at the one-round-trip limit. A loopback DNS
//! server that is not itself the bottleneck (replies precomputed, delayed
//! answers queued, see `fast_dns`) delays every answer by 20 ms. Measured in
//! the same run:
//!
//! - the limit: one answer's delay plus `binderctl --version`'s process time;
//! - 50 hosts (A and AAAA) with both published lists from a loopback HTTP
//!   server: target within 1.5 x the limit (hickory-resolver, issue 22);
//! - 2,000 hosts: target within 1.25 x (hosts / hosts in flight) x delay +
//!   process start (binderctl resolves at most 64 hosts at once), and peak
//!   memory (the child's max RSS from wait4) under 20 MiB.
//!
//! Run: `cargo bench --bench render` (`BINDERCTL_BENCH_RUNS` sets the runs
//! per case, 15 by default; `BINDERCTL_BENCH_DNS_DELAY_MS` the delay).
//! `BINDERCTL_BENCH_SERVE=SECONDS` first prints the 50-host command line and
//! keeps the servers up that long, to profile one render (`perf stat -r`).

#[path = "../tests/support/mod.rs"]
mod support;

mod fast_dns;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::http_server::{FastlyList, GitHubMeta, HttpServer, Routes};

/// `MAX_HOSTS_IN_FLIGHT` in src/egress/dns.rs.
const HOSTS_IN_FLIGHT: usize = 64;
const MEMORY_LIMIT_KIB: i64 = 20 * 1024;

fn main() {
    let delay_ms = std::env::var("BINDERCTL_BENCH_DNS_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dns_delay = Duration::from_millis(delay_ms);
    let runs = std::env::var("BINDERCTL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15usize)
        .max(1);
    let hosts: Vec<(String, Ipv4Addr, Ipv6Addr)> = (0..2_000u32)
        .map(|i| {
            let [_, _, hi, lo] = i.to_be_bytes();
            (
                format!("host{i}.bench.example"),
                Ipv4Addr::new(198, 51, hi.wrapping_add(100), lo),
                Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, i as u16 + 1),
            )
        })
        .collect();
    let dns = fast_dns::FastDns::start(&hosts, dns_delay);
    let http = HttpServer::start(
        Routes::new()
            .json(
                "/meta",
                GitHubMeta::sample().with_many_actions(200).to_json(),
            )
            .json("/fastly", FastlyList::sample().to_json()),
    );
    let small = tempfile::tempdir().expect("temporary folder");
    write_binder_yaml(small.path(), &hosts[..50], true);
    let big = tempfile::tempdir().expect("temporary folder");
    write_binder_yaml(big.path(), &hosts, false);

    let nameserver = dns.addr.to_string();
    let (meta, fastly) = (http.url("/meta"), http.url("/fastly"));
    let render: Vec<&str> = vec![
        "render",
        "--nameserver",
        &nameserver,
        "--github-meta-url",
        &meta,
        "--fastly-url",
        &fastly,
    ];
    if let Ok(seconds) = std::env::var("BINDERCTL_BENCH_SERVE") {
        println!(
            "cd {} && binderctl {}",
            small.path().display(),
            render.join(" ")
        );
        std::thread::sleep(Duration::from_secs(seconds.parse().unwrap_or(600)));
    }
    // Warm-up: page cache, first connections.
    run(small.path(), &render);
    run(big.path(), &render);

    let start = median(runs, || run(small.path(), &["--version"]).0);
    let small_times = median(runs, || run(small.path(), &render).0);
    let mut peak_kib = 0;
    let big_times = median(runs.min(5), || {
        let (elapsed, kib) = run(big.path(), &render);
        peak_kib = peak_kib.max(kib);
        elapsed
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let limit = dns_delay + start;
    let small_target = limit.mul_f64(1.5);
    let rounds = hosts.len().div_ceil(HOSTS_IN_FLIGHT);
    let big_target = dns_delay.mul_f64(1.25 * rounds as f64) + start;
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "render, DNS answers delayed {} ms (fast loopback server), median of {runs} runs \
         (2,000 hosts: of {})\n",
        dns_delay.as_millis(),
        runs.min(5)
    );
    println!("| case | measured | target | |");
    println!("|---|---|---|---|");
    println!(
        "| limit: one answer ({} ms) + `binderctl --version` ({:.1} ms) | {:.1} ms | | |",
        dns_delay.as_millis(),
        ms(start),
        ms(limit)
    );
    println!(
        "| 50 hosts (A+AAAA), both lists | {:.1} ms | {:.1} ms (1.5 x limit) | {} |",
        ms(small_times),
        ms(small_target),
        verdict(small_times <= small_target)
    );
    println!(
        "| 2,000 hosts (A+AAAA) | {:.1} ms | {:.1} ms (1.25 x {rounds} x {} ms + start) | {} |",
        ms(big_times),
        ms(big_target),
        dns_delay.as_millis(),
        verdict(big_times <= big_target)
    );
    println!(
        "| 2,000 hosts, peak memory (max RSS) | {:.1} MiB | 20 MiB | {} |",
        peak_kib as f64 / 1024.0,
        verdict(peak_kib < MEMORY_LIMIT_KIB)
    );
}

fn write_binder_yaml(dir: &Path, hosts: &[(String, Ipv4Addr, Ipv6Addr)], lists: bool) {
    let names: String = hosts
        .iter()
        .map(|(name, _, _)| format!("        - {name}\n"))
        .collect();
    let lists = if lists {
        "      published_ip_lists:\n        github: [git, actions]\n"
    } else {
        ""
    };
    let text = format!(
        "config:\n  GitHubRepoProvider:\n    whitelist_enabled: true\n    whitelist: [lab-a, lab-b]\n    banned_specs: ['^(?!()\\/).*$']\n\
         jupyterhub:\n  singleuser:\n    networkPolicy:\n      enabled: true\n      egressAllowRules:\n        nonPrivateIPs: false\n\
         {lists}      domain_whitelist:\n{names}"
    );
    std::fs::write(dir.join("binder.yaml"), text).expect("binder.yaml");
}

fn median(runs: usize, mut one: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| one()).collect();
    times.sort();
    times[times.len() / 2]
}

/// Run binderctl in `dir`; its wall time and peak memory (KiB, from wait4).
fn run(dir: &Path, args: &[&str]) -> (Duration, i64) {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run binderctl");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value; wait4 fills it and reaps the
    // child, which std's Child handle then never waits for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(reaped, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "binderctl {} failed in {} (status {status})",
        args.join(" "),
        dir.display()
    );
    drop(child);
    // Linux reports ru_maxrss in KiB.
    (elapsed, usage.ru_maxrss)
}
