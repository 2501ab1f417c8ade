//! The address sources against real loopback servers.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use binderctl::egress::dns::{self, resolve_all, DnsFailure, DnsOptions, HostLookup};
use binderctl::egress::published::{
    fetch_all, http_client, ListFailure, ListKind, ListRequest, ListResult,
};
use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use support::dns_server::{DnsServer, Zone};
use support::http_server::{FastlyList, GitHubMeta, HttpServer, Reply, Routes};

// ---------------------------------------------------------------- DNS

fn dns_options(server: &DnsServer, timeout_ms: u64, retries: u32) -> DnsOptions {
    options_for(vec![server.addr], timeout_ms, retries)
}

fn options_for(nameservers: Vec<SocketAddr>, timeout_ms: u64, retries: u32) -> DnsOptions {
    DnsOptions {
        nameservers,
        timeout: Duration::from_millis(timeout_ms),
        retries,
    }
}

fn hosts(names: &[&str]) -> Vec<String> {
    names.iter().map(|h| h.to_string()).collect()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

async fn resolve(
    server: &DnsServer,
    names: &[&str],
    timeout_ms: u64,
    retries: u32,
) -> Vec<HostLookup> {
    resolve_all(&hosts(names), &dns_options(server, timeout_ms, retries))
        .await
        .expect("resolver set up")
}

#[tokio::test]
async fn dns_returns_a_and_aaaa_sorted_and_deduplicated() {
    let server = DnsServer::start(
        Zone::new()
            .a("github.test", ["192.0.2.11", "192.0.2.10", "192.0.2.11"])
            .aaaa("github.test", ["2001:db8::10"])
            .a("v4only.test", ["198.51.100.7"])
            .aaaa("v6only.test", ["2001:db8::7"]),
    );
    let lookups = resolve(
        &server,
        &["v6only.test", "github.test", "v4only.test"],
        2000,
        0,
    )
    .await;

    let names: Vec<&str> = lookups.iter().map(|l| l.host.as_str()).collect();
    assert_eq!(names, ["v6only.test", "github.test", "v4only.test"]);
    assert_eq!(lookups[0].result, Ok(ips(&["2001:db8::7"])));
    assert_eq!(
        lookups[1].result,
        Ok(ips(&["192.0.2.10", "192.0.2.11", "2001:db8::10"]))
    );
    assert_eq!(lookups[2].result, Ok(ips(&["198.51.100.7"])));
    // Each host was asked for both families.
    assert_eq!(server.queries_for("github.test", RecordType::A), 1);
    assert_eq!(server.queries_for("github.test", RecordType::AAAA), 1);
}

#[tokio::test]
async fn dns_names_are_absolute_and_trailing_dots_are_accepted() {
    let server = DnsServer::start(Zone::new().a("packages.test", ["203.0.113.5"]));
    let lookups = resolve(&server, &["packages.test."], 2000, 0).await;
    assert_eq!(lookups[0].host, "packages.test.");
    assert_eq!(lookups[0].result, Ok(ips(&["203.0.113.5"])));
    // Only the name itself was asked: no search-domain variants.
    assert_eq!(server.query_count(), 2);
}

#[tokio::test]
async fn dns_special_use_names_are_answered_without_a_query() {
    // hickory follows RFC 6761: `localhost` is the loopback addresses (which
    // the allow-list's safety rules then refuse), `.invalid` and `.onion`
    // names do not exist; none of them reaches the DNS server.
    let server = DnsServer::start(
        Zone::new()
            .a("localhost", ["192.0.2.1"])
            .a("files.invalid", ["192.0.2.2"])
            .a("hidden.onion", ["192.0.2.3"]),
    );
    let lookups = resolve(
        &server,
        &[
            "localhost",
            "api.localhost",
            "files.invalid",
            "hidden.onion",
        ],
        2000,
        0,
    )
    .await;
    assert_eq!(lookups[0].result, Ok(ips(&["127.0.0.1", "::1"])));
    assert_eq!(lookups[1].result, Ok(ips(&["127.0.0.1", "::1"])));
    assert_eq!(lookups[2].result, Err(DnsFailure::NxDomain));
    assert_eq!(lookups[3].result, Err(DnsFailure::NxDomain));
    assert_eq!(server.query_count(), 0);
}

#[tokio::test]
async fn dns_follows_cnames_to_the_addresses() {
    let server = DnsServer::start(
        Zone::new()
            .cname("www.example", "edge.example")
            .a("edge.example", ["203.0.113.20"])
            .aaaa("edge.example", ["2001:db8::20"]),
    );
    let lookups = resolve(&server, &["www.example"], 2000, 0).await;
    assert_eq!(
        lookups[0].result,
        Ok(ips(&["203.0.113.20", "2001:db8::20"]))
    );
}

#[tokio::test]
async fn dns_reports_nxdomain_and_names_without_addresses() {
    let server = DnsServer::start(
        Zone::new()
            .nxdomain("gone.test")
            .no_addresses("empty.test")
            .a("ok.test", ["192.0.2.1"]),
    );
    let lookups = resolve(
        &server,
        &["gone.test", "unknown.test", "empty.test", "ok.test"],
        2000,
        3,
    )
    .await;
    assert_eq!(lookups[0].result, Err(DnsFailure::NxDomain));
    assert_eq!(lookups[1].result, Err(DnsFailure::NxDomain));
    assert_eq!(lookups[2].result, Err(DnsFailure::NoAddresses));
    assert_eq!(lookups[3].result, Ok(ips(&["192.0.2.1"])));
    // Negative answers are final: never retried.
    assert_eq!(server.queries_for("gone.test", RecordType::A), 1);
    assert_eq!(server.queries_for("empty.test", RecordType::AAAA), 1);
}

#[tokio::test]
async fn dns_servfail_and_refused_are_retried_then_reported() {
    let server = DnsServer::start(Zone::new().servfail("broken.test").refused("private.test"));
    let lookups = resolve(&server, &["broken.test", "private.test"], 2000, 1).await;
    assert_eq!(lookups[0].result, Err(DnsFailure::ServFail));
    assert_eq!(lookups[1].result, Err(DnsFailure::Refused));
    assert_eq!(server.queries_for("broken.test", RecordType::A), 2);
    assert_eq!(server.queries_for("private.test", RecordType::AAAA), 2);
}

#[tokio::test]
async fn dns_failure_of_one_family_is_not_hidden_by_the_other() {
    let server = DnsServer::start(
        Zone::new()
            .a("half.test", ["192.0.2.30"])
            .aaaa("half.test", ["2001:db8::30"])
            .servfail_type("half.test", RecordType::AAAA)
            .a("mute6.test", ["192.0.2.31"])
            .silent_type("mute6.test", RecordType::AAAA),
    );
    let lookups = resolve(&server, &["half.test", "mute6.test"], 200, 0).await;
    assert_eq!(lookups[0].result, Err(DnsFailure::ServFail));
    assert_eq!(lookups[1].result, Err(DnsFailure::Timeout { attempts: 1 }));
}

#[tokio::test]
async fn dns_silent_server_times_out_after_every_attempt() {
    let server = DnsServer::start(Zone::new().silent("void.test"));
    let lookups = resolve(&server, &["void.test"], 200, 1).await;
    assert_eq!(lookups[0].result, Err(DnsFailure::Timeout { attempts: 2 }));
    let message = format!(
        "{}: {}",
        lookups[0].host,
        lookups[0].result.clone().unwrap_err()
    );
    assert!(
        message.contains("void.test: timed out after 2 attempts"),
        "{message}"
    );
    // The retry really went out.
    assert!(server.queries_for("void.test", RecordType::A) >= 2);
}

#[tokio::test]
async fn dns_retry_recovers_from_a_lost_answer() {
    let server = DnsServer::start(
        Zone::new()
            .a("flaky.test", ["192.0.2.40"])
            .drop_first("flaky.test", 1),
    );
    let lookups = resolve(&server, &["flaky.test"], 200, 1).await;
    assert_eq!(lookups[0].result, Ok(ips(&["192.0.2.40"])));
    assert_eq!(server.queries_for("flaky.test", RecordType::A), 2);

    // Without retries the same loss is a timeout.
    let server = DnsServer::start(
        Zone::new()
            .a("flaky.test", ["192.0.2.40"])
            .drop_first("flaky.test", 1),
    );
    let lookups = resolve(&server, &["flaky.test"], 200, 0).await;
    assert_eq!(lookups[0].result, Err(DnsFailure::Timeout { attempts: 1 }));
}

#[tokio::test]
async fn dns_a_lost_udp_query_is_sent_again_within_one_attempt() {
    // hickory sends a UDP query again once 333 ms (or 1.2 times the
    // server's measured round trip, if longer) pass without an answer,
    // within the same attempt: a lost datagram costs a fraction of
    // --timeout, not all of it.
    let server = DnsServer::start(
        Zone::new()
            .a("lossy.test", ["192.0.2.41"])
            .drop_first("lossy.test", 1),
    );
    let started = std::time::Instant::now();
    let lookups = resolve(&server, &["lossy.test"], 5000, 0).await;
    assert_eq!(lookups[0].result, Ok(ips(&["192.0.2.41"])));
    assert_eq!(server.queries_for("lossy.test", RecordType::A), 2);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn dns_sends_every_query_before_any_answer_arrives() {
    let names: Vec<String> = (0..20).map(|i| format!("host{i}.test")).collect();
    let mut zone = Zone::new().delay(Duration::from_millis(200));
    for (i, name) in names.iter().enumerate() {
        let v4 = format!("192.0.2.{}", 100 + i);
        let v6 = format!("2001:db8::{:x}", 0x100 + i);
        zone = zone.a(name, [v4.as_str()]).aaaa(name, [v6.as_str()]);
    }
    let server = DnsServer::start(zone);

    let lookups = resolve_all(&names, &dns_options(&server, 5000, 0))
        .await
        .unwrap();

    for (i, lookup) in lookups.iter().enumerate() {
        assert_eq!(lookup.host, names[i]);
        let v4: IpAddr = format!("192.0.2.{}", 100 + i).parse().unwrap();
        let v6: IpAddr = format!("2001:db8::{:x}", 0x100 + i).parse().unwrap();
        assert_eq!(lookup.result, Ok(vec![v4, v6]), "{}", lookup.host);
    }
    // 20 hosts x (A + AAAA) all waiting at the server at the same moment.
    assert_eq!(server.max_in_flight(), 40);
}

#[tokio::test]
async fn dns_keeps_only_records_of_the_queried_name_and_its_cname_chain() {
    let server = DnsServer::start(
        Zone::new()
            .a("files.example", ["192.0.2.20"])
            .foreign_a("files.example", "metadata.test", "203.0.113.99")
            .cname("www.example", "edge.test")
            .a("edge.test", ["192.0.2.30"])
            .foreign_a("edge.test", "other.test", "203.0.113.98"),
    );
    let lookups = resolve(&server, &["files.example", "www.example"], 1000, 0).await;
    assert_eq!(lookups[0].result, Ok(ips(&["192.0.2.20"])));
    assert_eq!(lookups[1].result, Ok(ips(&["192.0.2.30"])));
}

#[tokio::test]
async fn dns_bounds_the_lookups_in_flight() {
    let names: Vec<String> = (0..200).map(|i| format!("many{i}.test")).collect();
    let mut zone = Zone::new().delay(Duration::from_millis(100));
    for name in &names {
        zone = zone.a(name, ["192.0.2.1"]);
    }
    let server = DnsServer::start(zone);
    let lookups = resolve_all(&names, &dns_options(&server, 5000, 0))
        .await
        .unwrap();
    assert!(lookups.iter().all(|l| l.result.is_ok()));
    // A and AAAA of MAX_HOSTS_IN_FLIGHT hosts, never more.
    assert_eq!(server.max_in_flight(), 2 * dns::MAX_HOSTS_IN_FLIGHT);
}

#[tokio::test]
async fn dns_asks_again_over_tcp_when_the_udp_answer_is_truncated() {
    let server = DnsServer::start(
        Zone::new()
            .a("big.test", ["192.0.2.50", "192.0.2.51"])
            .aaaa("big.test", ["2001:db8::50"])
            .truncated("big.test")
            .a("small.test", ["192.0.2.52"]),
    );
    let lookups = resolve(&server, &["big.test", "small.test"], 2000, 0).await;
    assert_eq!(
        lookups[0].result,
        Ok(ips(&["192.0.2.50", "192.0.2.51", "2001:db8::50"]))
    );
    assert_eq!(lookups[1].result, Ok(ips(&["192.0.2.52"])));
    assert_eq!(server.tcp_queries_for("big.test", RecordType::A), 1);
    assert_eq!(server.tcp_queries_for("big.test", RecordType::AAAA), 1);
    // An answer that was not cut short never goes to TCP.
    assert_eq!(server.tcp_queries_for("small.test", RecordType::A), 0);
}

#[tokio::test]
async fn dns_ignores_replies_with_another_id_or_question() {
    let server = DnsServer::start(
        Zone::new()
            .a("real.test", ["192.0.2.60"])
            .forged("real.test", "203.0.113.66")
            .delay(Duration::from_millis(50)),
    );
    let lookups = resolve(&server, &["real.test"], 2000, 0).await;
    // The forgeries arrived first; only the real answer counts.
    assert_eq!(lookups[0].result, Ok(ips(&["192.0.2.60"])));
}

#[tokio::test]
async fn dns_an_unreadable_reply_is_named_not_called_a_timeout() {
    let server = DnsServer::start(
        Zone::new()
            .a("broken.test", ["192.0.2.70"])
            .unreadable("broken.test"),
    );
    let lookups = resolve(&server, &["broken.test"], 300, 0).await;
    match &lookups[0].result {
        Err(DnsFailure::Other(text)) => {
            assert!(text.contains("cannot be read"), "{text}");
            assert!(text.contains(&server.addr.to_string()), "{text}");
        }
        other => panic!("expected an unreadable reply, got {other:?}"),
    }
}

#[tokio::test]
async fn dns_a_closed_port_is_reported_as_a_timeout() {
    // Bind then release a port so nothing listens on it. hickory's UDP
    // sockets are not connected, so the kernel's "port unreachable" never
    // reaches it: a closed port looks like a silent server (docs/render-and-values.md, DNS).
    let addr: SocketAddr = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    let options = options_for(vec![addr], 200, 1);
    let lookups = resolve_all(&hosts(&["any.test"]), &options).await.unwrap();
    assert_eq!(lookups[0].result, Err(DnsFailure::Timeout { attempts: 2 }));
}

#[tokio::test]
async fn dns_a_silent_nameserver_does_not_hide_an_answering_one() {
    // hickory asks two servers at once (its default), so the answering one
    // is heard within the first attempt; each was asked once.
    let silent = DnsServer::start(Zone::new().silent("turn.test"));
    let answering = DnsServer::start(Zone::new().a("turn.test", ["192.0.2.80"]));
    let options = options_for(vec![silent.addr, answering.addr], 200, 1);
    let lookups = resolve_all(&hosts(&["turn.test"]), &options).await.unwrap();
    assert_eq!(lookups[0].result, Ok(ips(&["192.0.2.80"])));
    assert_eq!(silent.queries_for("turn.test", RecordType::A), 1);
    assert_eq!(answering.queries_for("turn.test", RecordType::A), 1);
}

#[tokio::test]
async fn dns_invalid_names_fail_alone() {
    let server = DnsServer::start(Zone::new().a("ok.test", ["192.0.2.1"]));
    let too_long = "a".repeat(64) + ".test";
    let lookups = resolve(&server, &[&too_long, "ok.test", ""], 2000, 0).await;
    assert!(matches!(lookups[0].result, Err(DnsFailure::Other(_))));
    assert_eq!(lookups[1].result, Ok(ips(&["192.0.2.1"])));
    assert!(matches!(lookups[2].result, Err(DnsFailure::Other(_))));
}

// ---------------------------------------------------------------- published lists

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| k.to_string()).collect()
}

fn request(kind: ListKind, url: String, list: &[&str]) -> ListRequest {
    ListRequest {
        kind,
        url,
        keys: keys(list),
    }
}

fn tagged(key: &str, cidrs: &[String]) -> Vec<(String, IpNet)> {
    cidrs
        .iter()
        .map(|c| (key.to_string(), c.parse().unwrap()))
        .collect()
}

async fn fetch_one(url: String, list: &[&str], retries: u32, timeout_ms: u64) -> ListResult {
    let client = http_client(Duration::from_millis(timeout_ms), false).unwrap();
    let mut results = fetch_all(
        &client,
        vec![request(ListKind::GitHubMeta, url, list)],
        retries,
    )
    .await;
    assert_eq!(results.len(), 1);
    results.remove(0)
}

#[tokio::test]
async fn lists_are_downloaded_and_parsed_in_request_order() {
    let meta = GitHubMeta::sample();
    let fastly = FastlyList::sample();
    let server = HttpServer::start(
        Routes::new()
            .json("/meta", meta.to_json())
            .json("/public-ip-list", fastly.to_json()),
    );
    let client = http_client(Duration::from_secs(5), false).unwrap();
    let requests = vec![
        request(
            ListKind::Fastly,
            server.url("/public-ip-list"),
            &["addresses", "ipv6_addresses"],
        ),
        request(
            ListKind::GitHubMeta,
            server.url("/meta"),
            &["git", "web", "api"],
        ),
    ];
    let results = fetch_all(&client, requests.clone(), 0).await;

    assert_eq!(results.len(), 2);
    assert_eq!(results[0].request, requests[0]);
    assert_eq!(results[1].request, requests[1]);
    let mut expected_fastly = tagged("addresses", &fastly.addresses);
    expected_fastly.extend(tagged("ipv6_addresses", &fastly.ipv6_addresses));
    assert_eq!(results[0].result, Ok(expected_fastly));
    let mut expected_meta = tagged("git", &meta.git);
    expected_meta.extend(tagged("web", &meta.web));
    expected_meta.extend(tagged("api", &meta.api));
    assert_eq!(results[1].result, Ok(expected_meta));

    // GitHub's API refuses requests without a user agent.
    for seen in server.seen() {
        let agent = seen.user_agent.unwrap_or_default();
        assert!(agent.starts_with("binderctl/"), "user agent {agent:?}");
        assert_eq!(seen.method, "GET");
    }
    assert_eq!(server.requests("/meta"), 1);
    assert_eq!(server.requests("/public-ip-list"), 1);
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let server = HttpServer::start(Routes::new().sequence(
        "/meta",
        [
            Reply::status(500),
            Reply::status(503),
            Reply::json(GitHubMeta::sample().to_json()),
        ],
    ));
    let result = fetch_one(server.url("/meta"), &["hooks"], 2, 5000).await;
    assert_eq!(
        result.result,
        Ok(tagged("hooks", &GitHubMeta::sample().hooks))
    );
    assert_eq!(server.requests("/meta"), 3);
}

#[tokio::test]
async fn persistent_server_error_gives_up_after_the_retries() {
    let server = HttpServer::start(Routes::new().route("/meta", Reply::status(500)));
    let result = fetch_one(server.url("/meta"), &["git"], 2, 5000).await;
    assert_eq!(result.result, Err(ListFailure::HttpStatus(500)));
    assert_eq!(server.requests("/meta"), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = HttpServer::start(
        Routes::new()
            .route("/gone", Reply::status(404))
            .route("/limited", Reply::status(429)),
    );
    let result = fetch_one(server.url("/gone"), &["git"], 3, 5000).await;
    assert_eq!(result.result, Err(ListFailure::HttpStatus(404)));
    assert_eq!(server.requests("/gone"), 1);
    let result = fetch_one(server.url("/limited"), &["git"], 3, 5000).await;
    assert_eq!(result.result, Err(ListFailure::HttpStatus(429)));
    assert_eq!(server.requests("/limited"), 1);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_reported_and_not_retried() {
    let server = HttpServer::start(Routes::new().route(
        "/meta",
        Reply::new(200, "text/html", "<html><body>captive portal</body></html>"),
    ));
    let result = fetch_one(server.url("/meta"), &["git"], 3, 5000).await;
    assert!(
        matches!(result.result, Err(ListFailure::NotJson(_))),
        "{:?}",
        result.result
    );
    assert_eq!(server.requests("/meta"), 1);
}

#[tokio::test]
async fn missing_key_not_a_list_and_invalid_cidr_are_reported() {
    let fastly_without_v6 = r#"{"addresses": ["198.51.100.0/24"]}"#;
    let not_a_list = r#"{"addresses": "198.51.100.0/24", "ipv6_addresses": []}"#;
    let bad_cidr = r#"{"addresses": ["198.51.100.0/24", "203.0.113.7/24"], "ipv6_addresses": ["2001:db8::/32"]}"#;
    let server = HttpServer::start(
        Routes::new()
            .json("/missing", fastly_without_v6)
            .json("/not-a-list", not_a_list)
            .json("/bad-cidr", bad_cidr),
    );
    let fastly_keys = ["addresses", "ipv6_addresses"];

    let result = fetch_one(server.url("/missing"), &fastly_keys, 2, 5000).await;
    assert_eq!(
        result.result,
        Err(ListFailure::MissingKey("ipv6_addresses".into()))
    );
    let result = fetch_one(server.url("/not-a-list"), &fastly_keys, 2, 5000).await;
    assert_eq!(
        result.result,
        Err(ListFailure::NotAList("addresses".into()))
    );
    let result = fetch_one(server.url("/bad-cidr"), &fastly_keys, 2, 5000).await;
    match result.result {
        Err(ListFailure::InvalidCidr { key, value, .. }) => {
            assert_eq!(key, "addresses");
            assert_eq!(value, "203.0.113.7/24");
        }
        other => panic!("expected InvalidCidr, got {other:?}"),
    }
    // Parse failures are final.
    assert_eq!(server.requests("/missing"), 1);
    assert_eq!(server.requests("/not-a-list"), 1);
    assert_eq!(server.requests("/bad-cidr"), 1);
}

#[tokio::test]
async fn a_slow_server_times_out_after_every_attempt() {
    let server = HttpServer::start(Routes::new().route(
        "/meta",
        Reply::json(GitHubMeta::sample().to_json()).delayed(Duration::from_secs(10)),
    ));
    let result = fetch_one(server.url("/meta"), &["git"], 1, 200).await;
    assert_eq!(result.result, Err(ListFailure::Timeout));
    assert_eq!(server.requests("/meta"), 2);
}

#[tokio::test]
async fn a_closed_port_is_a_transport_failure() {
    // Bind then release a port so nothing listens on it.
    let addr: SocketAddr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let result = fetch_one(format!("http://{addr}/meta"), &["git"], 1, 2000).await;
    match result.result {
        Err(ListFailure::Transport(text)) => {
            // The cause reaches the operator, not just "error sending request".
            assert!(text.to_lowercase().contains("refused"), "{text}")
        }
        other => panic!("expected a transport failure, got {other:?}"),
    }
}

#[tokio::test]
async fn an_endless_body_is_cut_off_at_the_size_limit() {
    let server = HttpServer::start(Routes::new().route("/endless", Reply::endless_json()));
    let started = std::time::Instant::now();
    let result = fetch_one(server.url("/endless"), &["addresses"], 2, 20_000).await;
    assert_eq!(result.result, Err(ListFailure::TooLarge));
    // Refused at once, not retried, long before the timeout.
    assert_eq!(server.requests("/endless"), 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    let message = ListFailure::TooLarge.to_string();
    assert!(message.contains("larger than 4 MiB"), "{message}");
}

#[tokio::test]
async fn an_announced_oversized_body_is_refused_before_reading() {
    let big = format!(
        "{{\"addresses\": [{}\"192.0.2.0/24\"]}}",
        " ".repeat(5 << 20)
    );
    let server = HttpServer::start(Routes::new().json("/big", big));
    let result = fetch_one(server.url("/big"), &["addresses"], 0, 20_000).await;
    assert_eq!(result.result, Err(ListFailure::TooLarge));
}

#[tokio::test]
async fn redirects_to_another_host_are_refused_and_same_host_ones_followed() {
    let server = HttpServer::start(
        Routes::new()
            .json("/meta", GitHubMeta::sample().to_json())
            .route("/moved", Reply::redirect(301, "/meta"))
            .route(
                "/elsewhere",
                Reply::redirect(302, "http://localhost.test/meta"),
            )
            .route("/secure", Reply::redirect(301, "https://127.0.0.1/meta")),
    );
    // Only http:// lists: no TLS roots were loaded, so an upgrade to HTTPS
    // is refused with what to write instead (not an unknown-issuer error).
    let secure = fetch_one(server.url("/secure"), &["git"], 0, 5000).await;
    match secure.result {
        Err(ListFailure::Redirect(text)) => {
            assert!(
                text.contains("put the https:// URL in the configuration"),
                "{text}"
            )
        }
        other => panic!("expected a refused redirect, got {other:?}"),
    }
    let moved = fetch_one(server.url("/moved"), &["git"], 0, 5000).await;
    assert!(moved.result.is_ok(), "{:?}", moved.result);
    let elsewhere = fetch_one(server.url("/elsewhere"), &["git"], 2, 5000).await;
    match elsewhere.result {
        Err(ListFailure::Redirect(text)) => {
            assert!(text.contains("another host (localhost.test)"), "{text}")
        }
        other => panic!("expected a refused redirect, got {other:?}"),
    }
    // Final: not retried.
    assert_eq!(server.requests("/elsewhere"), 1);
    assert_eq!(server.requests("/meta"), 1);
}
