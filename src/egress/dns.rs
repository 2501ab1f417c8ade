//! DNS lookups of the whitelisted hosts (A and AAAA): binderctl's own stub
//! resolver over the wire format of `dns_wire`.
//!
//! Every host is looked up for both families at once: up to
//! [`MAX_HOSTS_IN_FLIGHT`] hosts are in flight together, so a run costs
//! about one round trip for the usual few dozen hosts, and thousands of
//! hosts never need thousands of sockets at once. The first queries leave
//! in the first poll, before anything else the render starts.
//!
//! Behaviour worth knowing:
//! - Names are made absolute (a trailing dot is added), so the search domains
//!   of `/etc/resolv.conf` never apply: `github.com` is never tried as
//!   `github.com.corp.example`.
//! - `/etc/hosts` is never consulted, with explicit nameservers or with the
//!   system configuration. The addresses end up in the egress policy of pods
//!   in the cluster, and those pods resolve through DNS, not through the
//!   operator's hosts file; an override there must not leak into the policy.
//! - With the system configuration, the nameservers come from the
//!   `nameserver` lines of `/etc/resolv.conf` (the first three, as the C
//!   library takes them; none, or no file, means 127.0.0.1 as there). Its
//!   options are not read: the timeout and retry count are always ours.
//! - Each query goes out on a UDP socket of its own, connected to the
//!   server (the kernel drops datagrams from anyone else) from a port the
//!   kernel picks at random, with a random id; a reply counts only when its
//!   id and its question match. Attempt N goes to the Nth nameserver in
//!   turn. TCP is used only when an answer comes back truncated, never as
//!   a fallback on timeout.
//! - A literal IP address given as a host resolves to itself, without a query.
//! - Only address records owned by the queried name, or by a name its CNAME
//!   chain (in the same answer) leads to, are taken: a server that adds an
//!   A record for another name cannot put that address into the policy.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::dns_wire::{self as wire, AnswerData, Name, NotAReply, Reply};

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
                     (check the nameserver, or raise --timeout or --retries)"
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
}

/// Resolve every host (A and AAAA) concurrently. Results come back in the
/// order of `hosts`. The outer error means the lookups could not start at
/// all (for instance an unreadable `/etc/resolv.conf`).
pub async fn resolve_all(hosts: &[String], opts: &DnsOptions) -> Result<Vec<HostLookup>, String> {
    check_open_files_limit(hosts.len())?;
    let servers = if opts.nameservers.is_empty() {
        system_nameservers()?
    } else {
        opts.nameservers.clone()
    };
    let ask = Asker {
        servers,
        timeout: opts.timeout,
        attempts: opts.retries.saturating_add(1),
        ids: QueryIds::default(),
    };
    // `buffered` keeps at most MAX_HOSTS_IN_FLIGHT lookups (with their
    // sockets and buffers) alive, starts the next as one finishes, and
    // hands the results back in the order of `hosts`.
    let lookups = stream::iter(hosts)
        .map(|host| {
            let ask = &ask;
            async move {
                HostLookup {
                    host: host.clone(),
                    result: ask.host(host).await,
                }
            }
        })
        .buffered(MAX_HOSTS_IN_FLIGHT)
        .collect()
        .await;
    Ok(lookups)
}

/// Where `/etc/resolv.conf` names no server, the C library asks this one.
const DEFAULT_NAMESERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// resolv.conf is a few lines; more than this is not one.
const RESOLV_CONF_LIMIT: u64 = 1 << 20;

fn system_nameservers() -> Result<Vec<SocketAddr>, String> {
    let unreadable = |err: &dyn fmt::Display| {
        format!(
            "could not read the system DNS configuration ({RESOLV_CONF}): {err}; \
             fix it or name a DNS server with --nameserver"
        )
    };
    let text = match std::fs::File::open(RESOLV_CONF) {
        Ok(file) => {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut std::io::Read::take(file, RESOLV_CONF_LIMIT),
                &mut text,
            )
            .map_err(|e| unreadable(&e))?;
            text
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(unreadable(&err)),
    };
    let servers = parse_resolv_conf(&text);
    Ok(if servers.is_empty() {
        vec![DEFAULT_NAMESERVER]
    } else {
        servers
    })
}

/// The nameservers of a resolv.conf: the first three `nameserver` lines
/// whose address parses (IPv6 with a numeric `%zone`), as the C library.
fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        .filter_map(|address| {
            let (ip, zone) = address.split_once('%').unwrap_or((address, ""));
            match ip.parse::<IpAddr>().ok()? {
                IpAddr::V4(v4) if zone.is_empty() => Some(SocketAddr::from((v4, 53))),
                IpAddr::V4(_) => None,
                IpAddr::V6(v6) => {
                    let scope = if zone.is_empty() {
                        0
                    } else {
                        zone.parse().ok()?
                    };
                    Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                        v6, 53, 0, scope,
                    )))
                }
            }
        })
        .take(3)
        .collect()
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

/// How every query of a run is asked.
struct Asker {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    attempts: u32,
    ids: QueryIds,
}

/// The answer for one family.
enum Family {
    Addresses(Vec<IpAddr>),
    NxDomain,
    NoRecords,
    Failed(DnsFailure),
}

/// Why one attempt brought no reply.
enum Missed {
    Timeout,
    /// The server's reply could not be read (kept for the message: a
    /// broken server is not a silent one).
    Unreadable(String),
    Network(String),
}

impl Asker {
    async fn host(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        if let Ok(ip) = host.trim().parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let name = Name::from_host(host).map_err(DnsFailure::Other)?;
        let (v4, v6) = tokio::join!(
            self.family(&name, wire::TYPE_A),
            self.family(&name, wire::TYPE_AAAA)
        );
        combine(v4, v6)
    }

    /// Ask for one record type, attempt after attempt while the failure is
    /// a passing one (timeout, SERVFAIL, REFUSED, a network error).
    async fn family(&self, name: &Name, record_type: u16) -> Family {
        // The last failure that was not a timeout: a timeout is reported
        // only when every attempt timed out.
        let mut other_failure = None;
        for attempt in 0..self.attempts {
            let server = self.servers[attempt as usize % self.servers.len()];
            let failure = match self.exchange(server, name, record_type).await {
                Ok(reply) => match reply.rcode {
                    wire::NOERROR => {
                        let addresses = owned_addresses(name, &reply.answers);
                        return if addresses.is_empty() {
                            Family::NoRecords
                        } else {
                            Family::Addresses(addresses)
                        };
                    }
                    wire::NXDOMAIN => return Family::NxDomain,
                    wire::SERVFAIL => DnsFailure::ServFail,
                    wire::REFUSED => DnsFailure::Refused,
                    code => {
                        return Family::Failed(DnsFailure::Other(format!(
                            "the DNS server {server} answered with error code {}",
                            wire::rcode_name(code)
                        )))
                    }
                },
                Err(Missed::Timeout) => continue,
                Err(Missed::Unreadable(why)) => DnsFailure::Other(format!(
                    "the DNS server {server} sent a reply that cannot be read: {why}"
                )),
                Err(Missed::Network(why)) => DnsFailure::Other(why),
            };
            other_failure = Some(failure);
        }
        Family::Failed(other_failure.unwrap_or(DnsFailure::Timeout {
            attempts: self.attempts,
        }))
    }

    /// One attempt: the query over UDP, and over TCP if the reply came
    /// back truncated.
    async fn exchange(
        &self,
        server: SocketAddr,
        name: &Name,
        record_type: u16,
    ) -> Result<Reply, Missed> {
        let id = self
            .ids
            .next()
            .map_err(|e| Missed::Network(network_failure(server, &e)))?;
        let query = wire::query(id, name, record_type);
        let reply = self.over_udp(server, &query, id, name, record_type).await?;
        if !reply.truncated {
            return Ok(reply);
        }
        let deadline = Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, over_tcp(server, &query)).await {
            Err(_) => Err(Missed::Timeout),
            Ok(Err(err)) => Err(Missed::Network(network_failure(server, &err))),
            Ok(Ok(bytes)) => match wire::parse_reply(&bytes, id, name, record_type) {
                Ok(reply) => Ok(reply),
                Err(NotAReply::NotOurs) => Err(Missed::Unreadable(
                    "its TCP reply is for another question".to_string(),
                )),
                Err(NotAReply::Malformed(why)) => Err(Missed::Unreadable(why)),
            },
        }
    }

    async fn over_udp(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
        name: &Name,
        record_type: u16,
    ) -> Result<Reply, Missed> {
        let network = |err: std::io::Error| Missed::Network(network_failure(server, &err));
        let (socket, sent) = udp_query_socket(server, query).map_err(network)?;
        if !sent {
            socket.send(query).await.map_err(network)?;
        }
        let deadline = Instant::now() + self.timeout;
        let mut unreadable = None;
        loop {
            let ready = tokio::time::timeout_at(deadline, socket.ready(READABLE_OR_ERROR)).await;
            let ready = match ready {
                Err(_) => return Err(unreadable.map_or(Missed::Timeout, Missed::Unreadable)),
                Ok(Err(err)) => return Err(network(err)),
                Ok(Ok(ready)) => ready,
            };
            if ready.is_error() {
                // "Port unreachable" from the server, as ECONNREFUSED.
                let err = socket
                    .take_error()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| std::io::Error::other("the socket reported an error"));
                return Err(network(err));
            }
            // The buffer exists only once a datagram waits, so the 128
            // lookups in flight do not each fault in 4 KiB while they wait.
            // Room for any datagram: a server that ignores EDNS may send
            // more than it was offered, and a cut one would not parse.
            let mut buffer = vec![0u8; 4096];
            let len = match socket.try_recv(&mut buffer) {
                Ok(len) => len,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(network(err)),
            };
            match wire::parse_reply(&buffer[..len], id, name, record_type) {
                Ok(reply) => return Ok(reply),
                // A late answer to an earlier query, or a forgery: wait on.
                Err(NotAReply::NotOurs) => {}
                Err(NotAReply::Malformed(why)) => unreadable = Some(why),
            }
        }
    }
}

/// What wakes a query's wait: an answer, or an error (a connected UDP
/// socket reports the server's "port unreachable" as one).
const READABLE_OR_ERROR: tokio::io::Interest =
    tokio::io::Interest::READABLE.add(tokio::io::Interest::ERROR);

/// A UDP socket connected to `server` (the kernel binds it to a random
/// port as it connects), with `query` sent unless the socket's buffer is
/// full (the flag says). Made with one `socket` call (non-blocking from the
/// start) and sent before tokio takes it: tokio would first wait a turn of
/// its event loop to learn that a new socket is writable. A lookup of 50
/// hosts makes 100 of these, one after another, before the first answer.
fn udp_query_socket(
    server: SocketAddr,
    query: &[u8],
) -> std::io::Result<(tokio::net::UdpSocket, bool)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let family = match server {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket() takes no pointers; a non-negative result is a new
    // descriptor that nothing else owns.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is open and owned by no one else (see above).
    let socket = std::net::UdpSocket::from(unsafe { OwnedFd::from_raw_fd(fd) });
    socket.connect(server)?;
    let sent = match socket.send(query) {
        Ok(_) => true,
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(err) => return Err(err),
    };
    Ok((tokio::net::UdpSocket::from_std(socket)?, sent))
}

/// The query over TCP (two length bytes before each message); the reply's bytes.
async fn over_tcp(server: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(server).await?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend(u16::try_from(query.len()).unwrap_or(u16::MAX).to_be_bytes());
    framed.extend(query);
    stream.write_all(&framed).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}

/// Unpredictable query ids (with the random port, what keeps a forger who
/// cannot see the queries from guessing a reply), drawn from the kernel a
/// batch at a time rather than with a system call per query.
#[derive(Default)]
struct QueryIds(std::sync::Mutex<Vec<u16>>);

impl QueryIds {
    const BATCH: usize = 128;

    fn next(&self) -> std::io::Result<u16> {
        let mut ids = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ids.is_empty() {
            let mut bytes = [0u8; 2 * Self::BATCH];
            let mut filled = 0;
            while filled < bytes.len() {
                let rest = &mut bytes[filled..];
                // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`.
                let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
                if n < 0 {
                    let err = std::io::Error::last_os_error();
                    if err.kind() != std::io::ErrorKind::Interrupted {
                        return Err(err);
                    }
                    continue;
                }
                filled += n as usize;
            }
            ids.extend(
                bytes
                    .chunks_exact(2)
                    .map(|b| u16::from_ne_bytes([b[0], b[1]])),
            );
        }
        Ok(ids.pop().unwrap_or_default())
    }
}

/// The message for a failed exchange; says so plainly when the system's
/// limit of open files (EMFILE) is the cause, which no retry would cure.
fn network_failure(server: SocketAddr, err: &std::io::Error) -> String {
    if is_too_many_open_files(err) {
        format!("lookup failed: {err}: {TOO_MANY_OPEN_FILES}")
    } else if err.kind() == std::io::ErrorKind::ConnectionRefused {
        format!("lookup failed: no DNS server answers at {server} (connection refused)")
    } else {
        format!("lookup failed: {server}: {err}")
    }
}

/// How many CNAME links are followed from a queried name (resolvers stop
/// at 8 to 16).
const MAX_CNAME_LINKS: usize = 16;

/// The addresses in `answers` that belong to `name`: owned by it or by a
/// name its CNAME chain leads to. Anything else a server added is ignored.
fn owned_addresses(name: &Name, answers: &[wire::Answer]) -> Vec<IpAddr> {
    let mut chain = vec![name.clone()];
    // Each pass adds one link. Real chains are a few links long; the bound
    // keeps a hostile answer of thousands of records from costing time
    // quadratic in its size (a loop ends by itself: a name joins once).
    for _ in 0..answers.len().min(MAX_CNAME_LINKS) {
        let next = answers.iter().find_map(|answer| match &answer.data {
            AnswerData::Alias(target)
                if chain.contains(&answer.owner) && !chain.contains(target) =>
            {
                Some(target.clone())
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
        .filter(|answer| chain.contains(&answer.owner))
        .filter_map(|answer| match answer.data {
            AnswerData::Address(ip) => Some(ip),
            AnswerData::Alias(_) => None,
        })
        .collect()
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

    fn answer(owner: &str, data: AnswerData) -> wire::Answer {
        wire::Answer {
            owner: Name::from_host(owner).unwrap(),
            data,
        }
    }

    fn a(ip: &str) -> AnswerData {
        AnswerData::Address(ip.parse().unwrap())
    }

    fn cname(target: &str) -> AnswerData {
        AnswerData::Alias(Name::from_host(target).unwrap())
    }

    #[test]
    fn only_records_of_the_name_and_its_cname_chain_count() {
        let name = Name::from_host("www.example.").unwrap();
        let answers = [
            answer("www.example.", cname("cdn.test.")),
            answer("evil.test.", a("203.0.113.66")),
            answer("CDN.test.", cname("edge.cdn.test.")),
            answer("edge.cdn.test.", a("192.0.2.80")),
            // A CNAME of a name outside the chain leads nowhere.
            answer("evil.test.", cname("more.test.")),
            answer("more.test.", a("203.0.113.67")),
        ];
        assert_eq!(owned_addresses(&name, &answers), ips(&["192.0.2.80"]));
        let looped = [
            answer("www.example.", cname("loop.test.")),
            answer("loop.test.", cname("www.example.")),
        ];
        assert!(owned_addresses(&name, &looped).is_empty());
        // A chain longer than MAX_CNAME_LINKS is not followed to its end.
        let mut long: Vec<wire::Answer> = (0..40)
            .map(|i| answer(&format!("c{i}.test"), cname(&format!("c{}.test", i + 1))))
            .collect();
        long.push(answer("c40.test", a("192.0.2.90")));
        let start = Name::from_host("c0.test").unwrap();
        assert!(owned_addresses(&start, &long).is_empty());
        let near = Name::from_host("c30.test").unwrap();
        assert_eq!(owned_addresses(&near, &long), ips(&["192.0.2.90"]));
    }

    #[test]
    fn resolv_conf_gives_the_first_three_nameservers() {
        let text = "# generated\nsearch corp.example\nnameserver 192.0.2.53\n\
                    nameserver   2001:db8::53 # comment\nnameserver fe80::1%2\n\
                    nameserver 198.51.100.53\nnameserver not-an-ip\noptions timeout:9\n";
        assert_eq!(
            parse_resolv_conf(text),
            [
                "192.0.2.53:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::53]:53".parse().unwrap(),
                "[fe80::1%2]:53".parse().unwrap(),
            ]
        );
        let skipped = "nameserver fe80::1%eth0\nnameserver bogus\nnameserver 192.0.2.1\n";
        assert_eq!(
            parse_resolv_conf(skipped),
            ["192.0.2.1:53".parse::<SocketAddr>().unwrap()]
        );
        assert!(parse_resolv_conf("search corp.example\n").is_empty());
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
