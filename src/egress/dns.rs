//! DNS lookups of the whitelisted hosts (A and AAAA) through hickory-resolver.
//!
//! One resolver is built per run and every host is looked up for both
//! families at once: up to [`MAX_HOSTS_IN_FLIGHT`] hosts are in flight
//! together, so a run costs about one round trip for the usual few dozen
//! hosts, and thousands of hosts never need thousands of sockets at once.
//!
//! How hickory is configured, and why:
//! - Names are made absolute (a trailing dot is added), so the search domains
//!   of `/etc/resolv.conf` never apply: `github.com` is never tried as
//!   `github.com.corp.example`.
//! - `/etc/hosts` is never consulted (`ResolveHosts::Never`), with explicit
//!   nameservers or with the system configuration. The addresses end up in
//!   the egress policy of pods in the cluster, and those pods resolve through
//!   DNS, not through the operator's hosts file; an override there must not
//!   leak into the policy.
//! - With the system configuration, hickory reads `/etc/resolv.conf` and
//!   binderctl takes its servers only (every `nameserver` line; a file
//!   without one, or no file, is an error): its search domains and options
//!   do not apply, the timeout and retry count are always ours. With
//!   several servers hickory asks two at once and prefers the one that has
//!   answered fastest.
//! - No answer cache (`cache_size = 0`): every name is asked once per run.
//! - Queries go over UDP; TCP is used only when an answer comes back
//!   truncated (hickory's own behaviour). Within one attempt hickory sends a
//!   UDP query again when no answer came within 333 ms (or 1.2 times the
//!   server's measured round trip, if longer).
//! - A literal IP address given as a host resolves to itself, without a query.
//! - Only address records owned by the queried name, or by a name its CNAME
//!   chain (in the same answer) leads to, are taken: a server that adds an
//!   A record for another name cannot put that address into the policy.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record};
use hickory_resolver::{Resolver, TokioResolver};

/// `--nameserver cluster`: the servers CoreDNS forwards to.
pub const NAMESERVER_CLUSTER: &str = "cluster";
/// `--nameserver host`: the system's resolver configuration.
pub const NAMESERVER_HOST: &str = "host";

/// How many hosts are looked up at the same time (each one sends an A and
/// an AAAA query, each on its own socket).
pub const MAX_HOSTS_IN_FLIGHT: usize = 64;

/// How to reach DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsOptions {
    /// Servers to query; empty means the system configuration (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// How long to wait for one answer.
    pub timeout: Duration,
    /// Extra attempts after a query failed for a passing reason (timeout,
    /// SERVFAIL, REFUSED). Negative answers (NXDOMAIN, no records) are final.
    pub retries: u32,
}

/// Parse a `--nameserver` value: `IP` or `IP:PORT`, IPv6 in brackets when a
/// port is given (`[2001:db8::53]:5353`). The port defaults to 53.
pub fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    let trimmed = text.trim();
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    if let Ok(addr) = trimmed.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(format!(
                "nameserver `{text}`: port 0 is not a valid DNS port (leave the port out for 53)"
            ));
        }
        return Ok(addr);
    }
    // `[2001:db8::53]` without a port.
    if let Some(inner) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        if let Ok(ip) = inner.parse::<std::net::Ipv6Addr>() {
            return Ok(SocketAddr::new(IpAddr::V6(ip), 53));
        }
    }
    Err(format!(
        "nameserver `{text}` is not an IP address or IP:PORT \
         (examples: 192.0.2.53, 192.0.2.53:5353, 2001:db8::53, [2001:db8::53]:5353)"
    ))
}

/// Why a host gave no usable addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsFailure {
    /// The name does not exist (NXDOMAIN for both A and AAAA).
    NxDomain,
    /// The name exists but has neither A nor AAAA records.
    NoAddresses,
    /// The server answered SERVFAIL (after all retries).
    ServFail,
    /// The server refused the query (after all retries).
    Refused,
    /// No answer within the timeout, on every attempt.
    Timeout {
        /// How many times the query was sent (1 + retries).
        attempts: u32,
    },
    /// Anything else: an invalid name, a network error, an odd response code.
    Other(String),
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsFailure::NxDomain => f.write_str("does not exist (NXDOMAIN)"),
            DnsFailure::NoAddresses => f.write_str("has no A or AAAA records"),
            DnsFailure::ServFail => f.write_str("server failure (SERVFAIL)"),
            DnsFailure::Refused => f.write_str("the DNS server refused the query (REFUSED)"),
            DnsFailure::Timeout { attempts } => {
                let plural = if *attempts == 1 { "" } else { "s" };
                write!(
                    f,
                    "timed out after {attempts} attempt{plural} \
                     (no reply; a closed port looks the same: check the nameserver, \
                     or raise --timeout or --retries)"
                )
            }
            DnsFailure::Other(text) => f.write_str(text),
        }
    }
}

/// The outcome for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLookup {
    pub host: String,
    /// Sorted, without duplicates, never empty when `Ok`.
    pub result: Result<Vec<IpAddr>, DnsFailure>,
    /// The shortest TTL (seconds) of the address records taken, when any
    /// were (a literal address has none).
    pub ttl: Option<u32>,
}

/// Resolve every host (A and AAAA) concurrently. Results come back in the
/// order of `hosts`. The outer error means the lookups could not start at
/// all (for instance an unreadable `/etc/resolv.conf`).
pub async fn resolve_all(hosts: &[String], opts: &DnsOptions) -> Result<Vec<HostLookup>, String> {
    check_open_files_limit(hosts.len())?;
    let (resolver, servers) = build_resolver(opts)?;
    let attempts = opts.retries.saturating_add(1);
    // `buffered` keeps at most MAX_HOSTS_IN_FLIGHT lookups (with their
    // sockets and buffers) alive, starts the next as one finishes, and
    // hands the results back in the order of `hosts`.
    let lookups = stream::iter(hosts)
        .map(|host| {
            let (resolver, servers) = (&resolver, servers.as_str());
            async move {
                let (result, ttl) = resolve_host(resolver, servers, host, attempts).await;
                HostLookup {
                    host: host.clone(),
                    result,
                    ttl,
                }
            }
        })
        .buffered(MAX_HOSTS_IN_FLIGHT)
        .collect()
        .await;
    Ok(lookups)
}

/// Files binderctl holds open besides the lookups' sockets (standard
/// streams, the runtime, the HTTP connections, the files it reads).
const OTHER_OPEN_FILES: u64 = 32;

/// Refuse up front, with the numbers, when the system's limit of open files
/// is too low for the lookups in flight: the resolver would otherwise fail
/// host after host with a vague "no connections available".
fn check_open_files_limit(hosts: usize) -> Result<(), String> {
    let in_flight = u64::try_from(hosts.min(MAX_HOSTS_IN_FLIGHT)).unwrap_or(u64::MAX);
    let needed = 2 * in_flight + OTHER_OPEN_FILES;
    match open_files_limit() {
        Some(limit) if limit < needed => Err(format!(
            "the system's limit of open files is {limit}, but looking up {hosts} hosts needs \
             about {needed} (up to {MAX_HOSTS_IN_FLIGHT} hosts at once, A and AAAA each on \
             its own socket); raise it (`ulimit -n {needed}`, or LimitNOFILE= in a systemd unit)"
        )),
        _ => Ok(()),
    }
}

/// The soft RLIMIT_NOFILE, if the system says.
fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        if ok && limit.rlim_cur != libc::RLIM_INFINITY {
            #[allow(clippy::useless_conversion)] // rlim_t is not u64 everywhere
            return u64::try_from(limit.rlim_cur).ok();
        }
    }
    None
}

/// The run's one resolver, and the servers it asks (for messages).
fn build_resolver(opts: &DnsOptions) -> Result<(TokioResolver, String), String> {
    let provider = TokioRuntimeProvider::default();
    let config = if opts.nameservers.is_empty() {
        system_servers(hickory_resolver::system_conf::read_system_conf())?
    } else {
        let servers = opts.nameservers.iter().map(|addr| {
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut server.connections {
                connection.port = addr.port();
            }
            server
        });
        ResolverConfig::from_parts(None, Vec::new(), servers.collect())
    };
    let servers = describe_servers(&config);
    let mut options = ResolverOpts::default();
    configure(&mut options, opts);
    let mut builder = Resolver::builder_with_config(config, provider);
    *builder.options_mut() = options;
    let resolver = builder
        .build()
        .map_err(|err| format!("could not set up the DNS resolver: {err}"))?;
    Ok((resolver, servers))
}

/// The servers of the system configuration, and nothing else of it: search
/// domains would not apply to absolute names anyway, and its options
/// (timeout, attempts, ndots, edns0) are not read, so a run asks the same
/// way whichever the source of its servers.
fn system_servers(
    read: Result<(ResolverConfig, ResolverOpts), NetError>,
) -> Result<ResolverConfig, String> {
    let (system, _options) = read.map_err(|err| {
        format!(
            "could not read the system DNS configuration (/etc/resolv.conf): {err}; \
             fix it or name a DNS server with --nameserver"
        )
    })?;
    let (_domain, _search, servers) = system.into_parts();
    Ok(ResolverConfig::from_parts(None, Vec::new(), servers))
}

/// `192.0.2.53:53`, or `192.0.2.53:53, [2001:db8::53]:53`.
fn describe_servers(config: &ResolverConfig) -> String {
    let mut addresses: Vec<String> = Vec::new();
    for server in config.name_servers() {
        for connection in &server.connections {
            let address = SocketAddr::new(server.ip, connection.port).to_string();
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
    }
    addresses.join(", ")
}

fn configure(options: &mut ResolverOpts, opts: &DnsOptions) {
    options.timeout = opts.timeout;
    options.attempts = usize::try_from(opts.retries).unwrap_or(usize::MAX);
    options.use_hosts_file = ResolveHosts::Never;
    // Every name is asked once per resolver (one per run): a cache would
    // only hold every answer of a long list in memory until exit.
    options.cache_size = 0;
    // hickory retries immediately on "busy" (more in flight than one TCP
    // connection allows); give it room for every query we send at once.
    options.max_active_requests = options.max_active_requests.max(1024);
}

/// The answer for one family.
enum Family {
    Addresses(Vec<IpAddr>),
    NxDomain,
    NoRecords,
    Failed(DnsFailure),
}

async fn resolve_host(
    resolver: &TokioResolver,
    servers: &str,
    host: &str,
    attempts: u32,
) -> (Result<Vec<IpAddr>, DnsFailure>, Option<u32>) {
    if let Ok(ip) = host.trim().parse::<IpAddr>() {
        return (Ok(vec![ip]), None);
    }
    let name = match absolute_name(host) {
        Ok(name) => name,
        Err(failure) => return (Err(failure), None),
    };
    let (v4, v6) = tokio::join!(
        resolver.ipv4_lookup(name.clone()),
        resolver.ipv6_lookup(name.clone())
    );
    let ttl = [&v4, &v6]
        .into_iter()
        .filter_map(|answer| answer.as_ref().ok())
        .flat_map(|lookup| lookup.answers())
        .filter(|record| matches!(record.data, RData::A(_) | RData::AAAA(_)))
        .map(|record| record.ttl)
        .min();
    let v4 = classify(&name, v4, servers, attempts);
    let v6 = classify(&name, v6, servers, attempts);
    (combine(v4, v6), ttl)
}

fn absolute_name(host: &str) -> Result<Name, DnsFailure> {
    let trimmed = host.trim();
    if trimmed.is_empty() || trimmed == "." {
        return Err(DnsFailure::Other("is an empty host name".to_string()));
    }
    let absolute = if trimmed.ends_with('.') {
        trimmed.to_string()
    } else {
        format!("{trimmed}.")
    };
    let parsed = if absolute.is_ascii() {
        Name::from_ascii(&absolute)
    } else {
        Name::from_utf8(&absolute)
    };
    parsed.map_err(|err| DnsFailure::Other(format!("is not a valid DNS name: {err}")))
}

/// How many CNAME links are followed from a queried name (resolvers stop
/// at 8 to 16).
const MAX_CNAME_LINKS: usize = 16;

/// The addresses in `answers` that belong to `name`: owned by it or by a
/// name its CNAME chain leads to. Anything else a server added is ignored.
fn owned_addresses(name: &Name, answers: &[Record]) -> Vec<IpAddr> {
    let mut chain = vec![name.clone()];
    // Each pass adds one link. Real chains are a few links long; the bound
    // keeps a hostile answer of thousands of records from costing time
    // quadratic in its size (a loop ends by itself: a name joins once).
    for _ in 0..answers.len().min(MAX_CNAME_LINKS) {
        let next = answers.iter().find_map(|record| match &record.data {
            RData::CNAME(target) if chain.contains(&record.name) && !chain.contains(&target.0) => {
                Some(target.0.clone())
            }
            _ => None,
        });
        match next {
            Some(target) => chain.push(target),
            None => break,
        }
    }
    answers
        .iter()
        .filter(|record| chain.contains(&record.name))
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

fn classify(
    name: &Name,
    answer: Result<hickory_resolver::lookup::Lookup, NetError>,
    servers: &str,
    attempts: u32,
) -> Family {
    match answer {
        Ok(lookup) => {
            let addresses = owned_addresses(name, lookup.answers());
            if addresses.is_empty() {
                Family::NoRecords
            } else {
                Family::Addresses(addresses)
            }
        }
        Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => {
            if no_records.response_code == ResponseCode::NXDomain {
                Family::NxDomain
            } else {
                Family::NoRecords
            }
        }
        Err(NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail))) => {
            Family::Failed(DnsFailure::ServFail)
        }
        Err(NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused))) => {
            Family::Failed(DnsFailure::Refused)
        }
        Err(NetError::Dns(DnsError::ResponseCode(code))) => Family::Failed(DnsFailure::Other(
            format!("the DNS server ({servers}) answered with error code {code}"),
        )),
        Err(NetError::Timeout) => Family::Failed(DnsFailure::Timeout { attempts }),
        // A reply arrived but is not a DNS message hickory can read: a
        // broken server is not a silent one.
        Err(err @ NetError::Proto(_)) => Family::Failed(DnsFailure::Other(format!(
            "the DNS server ({servers}) sent a reply that cannot be read: {err}"
        ))),
        Err(err) => Family::Failed(DnsFailure::Other(lookup_failed(&err))),
    }
}

/// The message for a failed lookup; says so plainly when the system's limit
/// of open files (EMFILE) is the cause, which no retry would cure.
fn lookup_failed(err: &NetError) -> String {
    let text = err.to_string();
    if is_too_many_open_files(err) {
        format!("lookup failed: {text}: {TOO_MANY_OPEN_FILES}")
    } else if matches!(err, NetError::NoConnections) {
        format!(
            "lookup failed: {text} (no socket to the nameserver could be opened: is it \
             reachable, and is the system's limit of open files, `ulimit -n`, high enough?)"
        )
    } else {
        format!("lookup failed: {text}")
    }
}

/// What to do when the open-files limit stops a lookup or a download.
pub const TOO_MANY_OPEN_FILES: &str = "the system's limit of open files (EMFILE) was reached; \
     raise it (`ulimit -n`, or LimitNOFILE= in a systemd unit) or list fewer hosts";

/// Whether an error, or any error it wraps, is EMFILE / ENFILE.
pub fn is_too_many_open_files(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(io.raw_os_error(), Some(23 | 24)) {
                return true;
            }
        }
        // Some layers keep only the text of the I/O error.
        let text = e.to_string();
        if text.contains("os error 24") || text.contains("Too many open files") {
            return true;
        }
        current = e.source();
    }
    false
}

/// Merge the A and AAAA outcomes. A failure of either query wins: returning
/// only the other family would silently drop addresses from the policy.
fn combine(v4: Family, v6: Family) -> Result<Vec<IpAddr>, DnsFailure> {
    match (v4, v6) {
        (Family::Failed(failure), _) | (_, Family::Failed(failure)) => Err(failure),
        (Family::NxDomain, Family::NxDomain) => Err(DnsFailure::NxDomain),
        (v4, v6) => {
            let mut addresses: Vec<IpAddr> = [v4, v6]
                .into_iter()
                .flat_map(|family| match family {
                    Family::Addresses(list) => list,
                    _ => Vec::new(),
                })
                .collect();
            addresses.sort();
            addresses.dedup();
            if addresses.is_empty() {
                Err(DnsFailure::NoAddresses)
            } else {
                Ok(addresses)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_defaults_to_port_53() {
        assert_eq!(
            parse_nameserver("192.0.2.53").unwrap(),
            "192.0.2.53:53".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_nameserver("2001:db8::53").unwrap(),
            "[2001:db8::53]:53".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_nameserver("[2001:db8::53]").unwrap(),
            "[2001:db8::53]:53".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn nameserver_keeps_an_explicit_port() {
        assert_eq!(
            parse_nameserver("192.0.2.53:5353").unwrap(),
            "192.0.2.53:5353".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_nameserver(" [2001:db8::53]:5353 ").unwrap(),
            "[2001:db8::53]:5353".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn bad_nameservers_are_named_in_the_error() {
        for bad in [
            "",
            "ns.example",
            "192.0.2.256",
            "192.0.2.53:",
            "192.0.2.53:70000",
            "2001:db8::53:5353:zz",
            "[2001:db8::53",
        ] {
            let err = parse_nameserver(bad).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
        let err = parse_nameserver("192.0.2.53:0").unwrap_err();
        assert!(err.contains("port 0"), "{err}");
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn combine_merges_sorts_and_dedups() {
        let v4 = Family::Addresses(ips(&["192.0.2.20", "192.0.2.10", "192.0.2.20"]));
        let v6 = Family::Addresses(ips(&["2001:db8::1"]));
        assert_eq!(
            combine(v4, v6).unwrap(),
            ips(&["192.0.2.10", "192.0.2.20", "2001:db8::1"])
        );
    }

    #[test]
    fn one_family_is_enough() {
        let only_v6 = combine(Family::NoRecords, Family::Addresses(ips(&["2001:db8::1"])));
        assert_eq!(only_v6.unwrap(), ips(&["2001:db8::1"]));
        let only_v4 = combine(Family::Addresses(ips(&["192.0.2.1"])), Family::NoRecords);
        assert_eq!(only_v4.unwrap(), ips(&["192.0.2.1"]));
    }

    #[test]
    fn a_failed_family_is_never_dropped_silently() {
        let result = combine(
            Family::Addresses(ips(&["192.0.2.1"])),
            Family::Failed(DnsFailure::ServFail),
        );
        assert_eq!(result, Err(DnsFailure::ServFail));
        let result = combine(
            Family::Failed(DnsFailure::Timeout { attempts: 2 }),
            Family::Addresses(ips(&["2001:db8::1"])),
        );
        assert_eq!(result, Err(DnsFailure::Timeout { attempts: 2 }));
    }

    #[test]
    fn negative_answers() {
        assert_eq!(
            combine(Family::NxDomain, Family::NxDomain),
            Err(DnsFailure::NxDomain)
        );
        assert_eq!(
            combine(Family::NoRecords, Family::NoRecords),
            Err(DnsFailure::NoAddresses)
        );
        assert_eq!(
            combine(Family::NxDomain, Family::NoRecords),
            Err(DnsFailure::NoAddresses)
        );
    }

    #[test]
    fn failures_read_well() {
        assert_eq!(
            DnsFailure::NxDomain.to_string(),
            "does not exist (NXDOMAIN)"
        );
        assert_eq!(
            DnsFailure::NoAddresses.to_string(),
            "has no A or AAAA records"
        );
        assert_eq!(
            DnsFailure::ServFail.to_string(),
            "server failure (SERVFAIL)"
        );
        let timeout = DnsFailure::Timeout { attempts: 3 }.to_string();
        assert!(
            timeout.starts_with("timed out after 3 attempts"),
            "{timeout}"
        );
        let once = DnsFailure::Timeout { attempts: 1 }.to_string();
        assert!(once.starts_with("timed out after 1 attempt "), "{once}");
    }

    #[tokio::test]
    async fn literal_addresses_resolve_to_themselves() {
        let opts = DnsOptions {
            // Never contacted: literals need no query.
            nameservers: vec!["127.0.0.1:9".parse().unwrap()],
            timeout: Duration::from_millis(100),
            retries: 0,
        };
        let hosts = vec!["192.0.2.7".to_string(), "2001:db8::7".to_string()];
        let lookups = resolve_all(&hosts, &opts).await.unwrap();
        assert_eq!(lookups[0].result, Ok(ips(&["192.0.2.7"])));
        assert_eq!(lookups[1].result, Ok(ips(&["2001:db8::7"])));
    }

    fn record(owner: &str, data: RData) -> Record {
        Record::from_rdata(absolute_name(owner).unwrap(), 300, data)
    }

    fn a(ip: &str) -> RData {
        RData::A(hickory_resolver::proto::rr::rdata::A(ip.parse().unwrap()))
    }

    fn cname(target: &str) -> RData {
        RData::CNAME(hickory_resolver::proto::rr::rdata::CNAME(
            absolute_name(target).unwrap(),
        ))
    }

    #[test]
    fn only_records_of_the_name_and_its_cname_chain_count() {
        let name = absolute_name("www.example.").unwrap();
        let answers = [
            record("www.example.", cname("cdn.test.")),
            record("evil.test.", a("203.0.113.66")),
            record("CDN.test.", cname("edge.cdn.test.")),
            record("edge.cdn.test.", a("192.0.2.80")),
            // A CNAME of a name outside the chain leads nowhere.
            record("evil.test.", cname("more.test.")),
            record("more.test.", a("203.0.113.67")),
        ];
        assert_eq!(owned_addresses(&name, &answers), ips(&["192.0.2.80"]));
        let looped = [
            record("www.example.", cname("loop.test.")),
            record("loop.test.", cname("www.example.")),
        ];
        assert!(owned_addresses(&name, &looped).is_empty());
        // A chain longer than MAX_CNAME_LINKS is not followed to its end.
        let mut long: Vec<Record> = (0..40)
            .map(|i| record(&format!("c{i}.test"), cname(&format!("c{}.test", i + 1))))
            .collect();
        long.push(record("c40.test", a("192.0.2.90")));
        let start = absolute_name("c0.test").unwrap();
        assert!(owned_addresses(&start, &long).is_empty());
        let near = absolute_name("c30.test").unwrap();
        assert_eq!(owned_addresses(&near, &long), ips(&["192.0.2.90"]));
    }

    #[test]
    fn names_are_made_absolute() {
        assert!(absolute_name("files.example").unwrap().is_fqdn());
        assert_eq!(
            absolute_name("files.example").unwrap(),
            absolute_name("files.example.").unwrap()
        );
        assert!(absolute_name("").is_err());
        assert!(absolute_name(".").is_err());
        assert!(absolute_name(&("a".repeat(64) + ".test")).is_err());
    }

    #[test]
    fn only_the_nameservers_of_resolv_conf_are_taken() {
        use hickory_resolver::system_conf::parse_resolv_conf;
        let text = "search corp.example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n\
                    options timeout:9 attempts:5 ndots:4\n";
        let config = system_servers(parse_resolv_conf(text)).unwrap();
        assert!(config.search().is_empty());
        assert_eq!(config.domain(), None);
        assert_eq!(
            describe_servers(&config),
            "192.0.2.53:53, [2001:db8::53]:53"
        );
        // Every nameserver line counts, not only the first three.
        let four = "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n\
                    nameserver 192.0.2.4\n";
        let config = system_servers(parse_resolv_conf(four)).unwrap();
        assert_eq!(config.name_servers().len(), 4);
        // No fall back to 127.0.0.1: the file is named, and the way out.
        let err = system_servers(parse_resolv_conf("search corp.example\n")).unwrap_err();
        assert!(err.contains("/etc/resolv.conf"), "{err}");
        assert!(err.contains("--nameserver"), "{err}");
    }

    #[test]
    fn the_resolver_is_configured_as_the_readme_promises() {
        let mut options = ResolverOpts::default();
        configure(
            &mut options,
            &DnsOptions {
                nameservers: Vec::new(),
                timeout: Duration::from_millis(700),
                retries: 4,
            },
        );
        assert_eq!(options.timeout, Duration::from_millis(700));
        // hickory's `attempts` counts the tries after the first.
        assert_eq!(options.attempts, 4);
        assert_eq!(options.use_hosts_file, ResolveHosts::Never);
        assert_eq!(options.cache_size, 0);
        assert!(options.preserve_intermediates, "CNAME records are needed");
    }

    #[test]
    fn too_many_open_files_is_recognised_through_the_chain() {
        let io = std::io::Error::from_raw_os_error(24);
        assert!(is_too_many_open_files(&io));
        let wrapped = anyhow::Error::new(io).context("binding a socket");
        assert!(is_too_many_open_files(wrapped.as_ref()));
        assert!(!is_too_many_open_files(&std::io::Error::from_raw_os_error(
            111
        )));
    }
}
