//! Benchmark: the cluster commands against stand-in tools that answer after
//! a fixed latency (300 ms, about what one `microk8s kubectl` call costs on
//! a busy node) and record when each call started and ended. For each read
//! command, and the planning part (`--dry-run`) of each mutating one, it
//! reports the calls made, the longest chain of calls that ran one after
//! another, and the wall time (median of the runs); and `pods purge`
//! against 2,000 user pods, `images rm` against 1,000 matching references.
//!
//! Target: the chain is what the data dependencies need (1 for a read, 2
//! for read-then-delete) and wall <= 1.2 x chain x latency + process start
//! (`binderctl --version`, measured in the same run).
//!
//! Run: `cargo bench --bench cluster` (`BINDERCTL_BENCH_LATENCY_MS` sets the
//! latency, `BINDERCTL_BENCH_RUNS` the runs per command).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::dns_server::{DnsServer, Zone};
use support::fake_tools::{ctr_table, default_pods, FakeCluster, FakePod, Timing, HOUR};
use support::http_server::{FastlyList, GitHubMeta, HttpServer, Routes};

const NODES_JSON: &str = r#"{"apiVersion":"v1","kind":"List","items":[{"metadata":{"name":"u24master","creationTimestamp":"2024-03-11T09:14:02Z","labels":{"node.kubernetes.io/microk8s-controlplane":"microk8s-controlplane"}},"status":{"addresses":[{"address":"192.0.2.10","type":"InternalIP"}],"conditions":[{"type":"Ready","status":"True"}],"nodeInfo":{"kubeletVersion":"v1.28.15"}}}]}"#;

/// `kubectl delete pod ... NAME...` for thousands of names: one awk
/// instead of a grep per name (the stand-in must not be the bottleneck).
const FAST_DELETE_POD: &str = r#"
printf '%s\n' "$@" | awk 'NR==FNR { e[$0]=1; next } ($0 in e) { print "pod/" $0 }' "$FAKE_DIR/existing-pods" -
"#;

/// `ctr images rm REF...` likewise.
const FAST_CTR_RM: &str = r#"
printf '%s\n' "$@" | awk 'NR==FNR { e[$0]=1; next } ($0 in e) { print $0 }' "$FAKE_DIR/existing-images" -
"#;

const BINDER_YAML: &str = "config:\n  BinderHub:\n    use_registry: true\n    hub_url: http://192.0.2.100\n\
jupyterhub:\n  singleuser:\n    networkPolicy:\n      enabled: true\n      egressAllowRules:\n        nonPrivateIPs: false\n      domain_whitelist: [files.example]\n";

struct Row {
    name: String,
    calls: usize,
    chain: usize,
    needed: usize,
    wall: Duration,
}

fn main() {
    let latency = Duration::from_millis(env_number("BINDERCTL_BENCH_LATENCY_MS", 300));
    let runs = env_number("BINDERCTL_BENCH_RUNS", 3).max(1) as usize;
    let dns = DnsServer::start(Zone::new().a("files.example", ["192.0.2.20"]));
    let http = HttpServer::start(
        Routes::new()
            .json("/meta", GitHubMeta::sample().to_json())
            .json("/fastly", FastlyList::sample().to_json()),
    );
    let fake = small_cluster(latency);
    let start = process_start(&fake, runs.max(5));
    let (ns, meta, fastly) = (dns.addr.to_string(), http.url("/meta"), http.url("/fastly"));
    let sources = [
        "--nameserver",
        ns.as_str(),
        "--github-meta-url",
        meta.as_str(),
        "--fastly-url",
        fastly.as_str(),
    ];
    let deploy: Vec<&str> = ["deploy", "--dry-run"]
        .iter()
        .chain(&sources)
        .copied()
        .collect();
    let check: Vec<&str> = ["egress", "check"]
        .iter()
        .chain(&sources)
        .copied()
        .collect();
    let diff: Vec<&str> = ["diff"].iter().chain(&sources).copied().collect();
    let reads: [(&[&str], usize); 16] = [
        (&["status"], 1),
        (&["versions"], 1),
        (&["pods", "ls"], 1),
        (&["images", "ls"], 1),
        (&["nodes", "ls"], 1),
        (&["quota", "show"], 1),
        (&["storage", "ls"], 1),
        (&["egress", "show"], 1),
        (&check, 1),
        (&["pods", "purge", "jupyter-", "--dry-run"], 1),
        (&["images", "rm", "teaching", "--dry-run"], 1),
        (&deploy, 1),
        // The toolbox: doctor and nodes disk read each node's stats summary
        // once the node list is known.
        (&["doctor"], 2),
        (&["nodes", "disk"], 2),
        (&["history"], 1),
        (&diff, 1),
    ];
    let mut rows = Vec::new();
    for (args, needed) in reads {
        rows.push(measure(&fake, args, needed, runs));
    }
    let big = big_cluster(latency);
    for (args, needed) in [
        (&["pods", "purge", "jupyter-", "--yes"][..], 2),
        (
            // 40 batches, 4 at a time: ten rounds after the read.
            &["pods", "purge", "jupyter-", "--yes", "--batch-size", "50"][..],
            11,
        ),
        (&["images", "rm", "bench", "--yes"][..], 2),
        (
            &["images", "rm", "bench", "--yes", "--batch-size", "50"][..],
            6,
        ),
    ] {
        rows.push(measure(&big, args, needed, runs));
    }
    print_table(&rows, latency, start, runs);
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn small_cluster(latency: Duration) -> FakeCluster {
    let mut fake = FakeCluster::new();
    fake.respond_doctor_defaults();
    fake.respond_history_defaults();
    fake.respond(&["kubectl", "get", "nodes"], NODES_JSON, 0);
    fake.set_node_stats(
        "u24master",
        &support::fake_tools::stats_summary_json(100 << 30, 50 << 30, 100 << 30, 50 << 30),
    );
    fake.respond(
        &["helm", "repo", "list"],
        r#"[{"name":"jupyterhub","url":"https://charts.example/helm-chart/"}]"#,
        0,
    );
    fake.respond(&["helm", "get", "values"], "{}\n", 0);
    fake.write_file("binder.yaml", BINDER_YAML);
    let secret = fake.write_file(
        "secret.yaml",
        "registry:\n  username: lab\n  password: bench-token\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    fake.set_latency(latency);
    fake
}

/// 2,000 user pods (besides the deployment's) and 1,000 matching refs.
fn big_cluster(latency: Duration) -> FakeCluster {
    let mut fake = FakeCluster::new();
    let mut pods = default_pods();
    pods.retain(|p| !p.name.starts_with("jupyter-"));
    pods.extend((0..2_000).map(|i| FakePod::user(&format!("jupyter-bench-2duser-{i:05}"), HOUR)));
    fake.set_pods(&pods);
    // Besides the deployment's own images, which do not match.
    let mut images = support::fake_tools::default_images();
    images.extend((0..1_000u32).map(|i| {
        (
            format!("registry.example/lab/binder-bench-{i:04}:0a1b2c3d"),
            format!("sha256:{:064x}", 0xbe_0000 + u64::from(i)),
            "1.2 GiB".to_string(),
        )
    }));
    fake.set_images(&images);
    assert!(ctr_table(&images).lines().count() > 1_000);
    fake.respond_script(&["kubectl", "delete", "pod"], FAST_DELETE_POD);
    fake.respond_script(
        &["ctr", "--namespace", "k8s.io", "images", "rm"],
        FAST_CTR_RM,
    );
    fake.set_latency(latency);
    fake
}

/// `binderctl --version`'s wall time, median.
fn process_start(fake: &FakeCluster, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let out = fake
                .command(&["--version"])
                .output()
                .expect("run binderctl");
            assert!(out.status.success());
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn measure(fake: &FakeCluster, args: &[&str], needed: usize, runs: usize) -> Row {
    let mut walls = Vec::new();
    let mut timings = Vec::new();
    for _ in 0..runs {
        fake.clear_timings();
        let started = Instant::now();
        let out = fake
            .command(args)
            .stdout(Stdio::null())
            .output()
            .expect("run binderctl");
        walls.push(started.elapsed());
        // `egress check` and `diff` exit 1 for "would change", doctor for
        // a failed check (the bench machine is no MicroK8s node).
        let changed = (args.starts_with(&["egress", "check"])
            || args.starts_with(&["diff"])
            || args.starts_with(&["doctor"]))
            && out.status.code() == Some(1);
        assert!(
            out.status.success() || changed,
            "binderctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        timings = fake.timings();
    }
    walls.sort();
    Row {
        name: shown_args(args),
        calls: timings.len(),
        chain: longest_chain(&timings),
        needed,
        wall: walls[walls.len() / 2],
    }
}

/// The command as the table shows it, without the loopback source flags.
fn shown_args(args: &[&str]) -> String {
    let mut shown = Vec::new();
    let mut skip = false;
    for arg in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if matches!(*arg, "--nameserver" | "--github-meta-url" | "--fastly-url") {
            skip = true;
            continue;
        }
        shown.push(*arg);
    }
    shown.join(" ")
}

/// The most calls of which each started only after the one before ended.
fn longest_chain(timings: &[Timing]) -> usize {
    let mut chain = vec![0usize; timings.len()];
    for (i, call) in timings.iter().enumerate() {
        let before = timings[..i]
            .iter()
            .zip(&chain)
            .filter(|(earlier, _)| earlier.ended_ns <= call.started_ns)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        chain[i] = before + 1;
    }
    chain.into_iter().max().unwrap_or(0)
}

fn print_table(rows: &[Row], latency: Duration, start: Duration, runs: usize) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "cluster commands, stand-ins answering after {} ms; process start (binderctl --version) \
         {:.1} ms; wall = median of {runs} runs\n",
        latency.as_millis(),
        ms(start)
    );
    println!("| command | calls | chain (needed) | wall | target | |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        let target = latency.mul_f64(1.2 * row.chain.max(row.needed) as f64) + start;
        let ok = row.chain <= row.needed && row.wall <= target;
        println!(
            "| `{}` | {} | {} ({}) | {:.0} ms | {:.0} ms | {} |",
            row.name,
            row.calls,
            row.chain,
            row.needed,
            ms(row.wall),
            ms(target),
            if ok { "ok" } else { "MISSED" }
        );
    }
}
