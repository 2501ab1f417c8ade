//! A real DNS server on 127.0.0.1, over UDP and (on the same port) TCP,
//! the second for the names whose UDP answers it truncates.
//!
//! It runs on its own thread with its own tokio runtime, so it keeps serving
//! while a test blocks on a child process, and it stops when dropped.
//!
//! ```ignore
//! let server = DnsServer::start(
//!     Zone::new()
//!         .a("github.test", ["192.0.2.10"])
//!         .aaaa("github.test", ["2001:db8::10"])
//!         .nxdomain("gone.test")
//!         .servfail("broken.test")
//!         .silent("void.test")
//!         .delay(Duration::from_millis(20)),
//! );
//! // server.addr is the nameserver to use.
//! ```
//!
//! Names not in the zone get NXDOMAIN. A name with only A records gets an
//! empty NOERROR answer (NODATA) for AAAA, and the other way round.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::server_thread::ServerThread;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;

/// What the server knows about one name.
#[derive(Debug, Clone, Default)]
struct Entry {
    /// The TTL of its address records (60 s unless set).
    ttl: Option<u32>,
    a: Vec<Ipv4Addr>,
    aaaa: Vec<Ipv6Addr>,
    cname: Option<String>,
    behaviour: Behaviour,
    /// Overrides `behaviour` for one record type.
    type_behaviour: HashMap<RecordType, Behaviour>,
    /// Drop the first N queries of each type for this name, then answer.
    drop_first: usize,
    /// A records for other names, added to every answer for this one (a
    /// hostile or broken server's extra records).
    foreign_a: Vec<(String, Ipv4Addr)>,
    /// Over UDP, answer with TC set and no records; TCP gets the answer.
    truncate: bool,
    /// Before the real answer, send forged replies carrying this address:
    /// one with another id, one with the right id but another question.
    forged_a: Option<Ipv4Addr>,
    /// Answer with the right id and question, but an answer section that
    /// announces a record and carries none.
    unreadable: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Behaviour {
    #[default]
    Answer,
    NxDomain,
    ServFail,
    Refused,
    /// Never answer.
    Silent,
}

impl Entry {
    fn behaviour_for(&self, record_type: RecordType) -> Behaviour {
        self.type_behaviour
            .get(&record_type)
            .copied()
            .unwrap_or(self.behaviour)
    }
}

/// The names a [`DnsServer`] serves and how.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    entries: HashMap<String, Entry>,
    delay: Duration,
}

/// Lowercase, without the trailing dot.
fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, name: &str) -> &mut Entry {
        self.entries.entry(key(name)).or_default()
    }

    /// A records for `name` (panics on a bad address: test data).
    pub fn a<'a>(mut self, name: &str, addrs: impl IntoIterator<Item = &'a str>) -> Self {
        let parsed: Vec<Ipv4Addr> = addrs.into_iter().map(|a| a.parse().unwrap()).collect();
        self.entry(name).a.extend(parsed);
        self
    }

    /// AAAA records for `name`.
    pub fn aaaa<'a>(mut self, name: &str, addrs: impl IntoIterator<Item = &'a str>) -> Self {
        let parsed: Vec<Ipv6Addr> = addrs.into_iter().map(|a| a.parse().unwrap()).collect();
        self.entry(name).aaaa.extend(parsed);
        self
    }

    /// The TTL of `name`'s address records (seconds; 60 unless set).
    pub fn ttl(mut self, name: &str, seconds: u32) -> Self {
        self.entry(name).ttl = Some(seconds);
        self
    }

    /// `alias` is a CNAME for `target`; the answer carries the CNAME and the
    /// target's records, as a recursive server would send.
    pub fn cname(mut self, alias: &str, target: &str) -> Self {
        self.entry(alias).cname = Some(key(target));
        self
    }

    /// Add to every answer for `name` an A record of `other` with `addr`,
    /// as a hostile server might.
    pub fn foreign_a(mut self, name: &str, other: &str, addr: &str) -> Self {
        let addr = addr.parse().unwrap();
        self.entry(name).foreign_a.push((key(other), addr));
        self
    }

    /// Answer NXDOMAIN for `name` (also the default for unknown names).
    pub fn nxdomain(mut self, name: &str) -> Self {
        self.entry(name).behaviour = Behaviour::NxDomain;
        self
    }

    pub fn servfail(mut self, name: &str) -> Self {
        self.entry(name).behaviour = Behaviour::ServFail;
        self
    }

    pub fn refused(mut self, name: &str) -> Self {
        self.entry(name).behaviour = Behaviour::Refused;
        self
    }

    /// Never answer queries for `name`.
    pub fn silent(mut self, name: &str) -> Self {
        self.entry(name).behaviour = Behaviour::Silent;
        self
    }

    /// `name` exists but has no address records (NOERROR, empty answer).
    pub fn no_addresses(mut self, name: &str) -> Self {
        self.entry(name);
        self
    }

    /// SERVFAIL for one record type of `name` only.
    pub fn servfail_type(mut self, name: &str, record_type: RecordType) -> Self {
        self.entry(name)
            .type_behaviour
            .insert(record_type, Behaviour::ServFail);
        self
    }

    /// Never answer one record type of `name`.
    pub fn silent_type(mut self, name: &str, record_type: RecordType) -> Self {
        self.entry(name)
            .type_behaviour
            .insert(record_type, Behaviour::Silent);
        self
    }

    /// Ignore the first `count` queries of each type for `name`, then answer
    /// normally (to exercise retries).
    pub fn drop_first(mut self, name: &str, count: usize) -> Self {
        self.entry(name).drop_first = count;
        self
    }

    /// Over UDP, answer `name` truncated (TC, no records), so that only a
    /// query over TCP gets its records.
    pub fn truncated(mut self, name: &str) -> Self {
        self.entry(name).truncate = true;
        self
    }

    /// Before each real answer for `name`, send two forged replies with an
    /// A record of `addr`: one with another id, one for another question.
    pub fn forged(mut self, name: &str, addr: &str) -> Self {
        self.entry(name).forged_a = Some(addr.parse().unwrap());
        self
    }

    /// Answer `name` with a reply that cannot be read (an answer announced,
    /// none sent).
    pub fn unreadable(mut self, name: &str) -> Self {
        self.entry(name).unreadable = true;
        self
    }

    /// Wait this long before sending every answer.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Debug, Default)]
struct Stats {
    /// Every query received, by (name, type), including dropped ones.
    queries: HashMap<(String, RecordType), usize>,
    total: usize,
    /// Distinct questions received and not yet answered.
    pending: HashMap<(String, RecordType), usize>,
    max_in_flight: usize,
    answered: usize,
    /// Queries received over TCP, by (name, type).
    tcp_queries: HashMap<(String, RecordType), usize>,
}

/// A running DNS server; stops when dropped.
pub struct DnsServer {
    /// The address to give the resolver.
    pub addr: SocketAddr,
    stats: Arc<Mutex<Stats>>,
    _server: ServerThread,
}

impl DnsServer {
    pub fn start(zone: Zone) -> DnsServer {
        let stats = Arc::new(Mutex::new(Stats::default()));
        let thread_stats = Arc::clone(&stats);
        let (addr, server) =
            ServerThread::start("DNS test server", move |addr_tx, shutdown_rx| async move {
                let (socket, listener) = bind_udp_and_tcp().await;
                addr_tx
                    .send(socket.local_addr().expect("DNS test server address"))
                    .expect("report DNS test server address");
                let zone = Arc::new(zone);
                tokio::spawn(serve_tcp(
                    listener,
                    Arc::clone(&zone),
                    Arc::clone(&thread_stats),
                ));
                serve(Arc::new(socket), zone, thread_stats, shutdown_rx).await;
            });
        DnsServer {
            addr,
            stats,
            _server: server,
        }
    }

    /// All queries received so far (every name and type, dropped ones too).
    pub fn query_count(&self) -> usize {
        self.stats.lock().unwrap().total
    }

    /// Queries received for one name and type.
    pub fn queries_for(&self, name: &str, record_type: RecordType) -> usize {
        count_for(&self.stats.lock().unwrap().queries, name, record_type)
    }

    /// Queries received for one name, any type.
    pub fn queries_for_name(&self, name: &str) -> usize {
        let wanted = key(name);
        let stats = self.stats.lock().unwrap();
        stats
            .queries
            .iter()
            .filter(|((name, _), _)| *name == wanted)
            .map(|(_, count)| count)
            .sum()
    }

    /// The most distinct questions (name, type) that were waiting for their
    /// answer at the same time. With a delay on every answer, this equals
    /// the number of questions exactly when all of them arrived before the
    /// first answer left.
    pub fn max_in_flight(&self) -> usize {
        self.stats.lock().unwrap().max_in_flight
    }

    /// Answers sent so far.
    pub fn answered(&self) -> usize {
        self.stats.lock().unwrap().answered
    }

    /// Queries received over TCP for one name and type.
    pub fn tcp_queries_for(&self, name: &str, record_type: RecordType) -> usize {
        count_for(&self.stats.lock().unwrap().tcp_queries, name, record_type)
    }
}

/// A query message and its first question (name as a zone key, type).
fn read_request(bytes: &[u8]) -> Option<(Message, (String, RecordType))> {
    let request = Message::from_vec(bytes).ok()?;
    let query = request.queries.first()?;
    let question = (key(&query.name().to_string()), query.query_type());
    Some((request, question))
}

/// The count for one name and type in a map of counts.
fn count_for(
    counts: &HashMap<(String, RecordType), usize>,
    name: &str,
    record_type: RecordType,
) -> usize {
    counts.get(&(key(name), record_type)).copied().unwrap_or(0)
}

/// A UDP socket and a TCP listener on the same loopback port.
async fn bind_udp_and_tcp() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind DNS test server (TCP)");
        let addr = listener.local_addr().expect("DNS test server address");
        if let Ok(socket) = UdpSocket::bind(addr).await {
            return (socket, listener);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// Answer queries over TCP (two length bytes before each message), never
/// truncated; a connection carries as many queries as the client sends
/// (RFC 7766: a resolver may send several on one connection).
async fn serve_tcp(listener: TcpListener, zone: Arc<Zone>, stats: Arc<Mutex<Stats>>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let (zone, stats) = (Arc::clone(&zone), Arc::clone(&stats));
        tokio::spawn(async move {
            loop {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut bytes = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut bytes).await.is_err() {
                    return;
                }
                let Some((request, question)) = read_request(&bytes) else {
                    return;
                };
                *stats
                    .lock()
                    .unwrap()
                    .tcp_queries
                    .entry(question)
                    .or_insert(0) += 1;
                if let Some(reply) = build_response(&zone, &request) {
                    let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                    framed.extend(reply);
                    if stream.write_all(&framed).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

/// The forged replies sent before the real answer for a `forged` name.
fn forgeries(request: &Message, addr: Ipv4Addr) -> Vec<Vec<u8>> {
    let Some(query) = request.queries.first() else {
        return Vec::new();
    };
    let forged = |id: u16, name: Name| {
        let mut message = Message::response(id, request.metadata.op_code);
        message.metadata.message_type = MessageType::Response;
        message.metadata.recursion_available = true;
        message.add_query(hickory_proto::op::Query::query(
            name.clone(),
            query.query_type(),
        ));
        message.add_answer(Record::from_rdata(name, 60, RData::A(A(addr))));
        message.to_vec().ok()
    };
    let other = Name::from_ascii("forged.test.").expect("name");
    [
        forged(request.metadata.id.wrapping_add(1), query.name().clone()),
        forged(request.metadata.id, other),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `reply` with TC set and its records left out (over UDP, for a
/// `truncated` name), or made unreadable (for an `unreadable` one).
fn spoil(reply: Vec<u8>, entry: Option<&Entry>) -> Vec<u8> {
    let Some(entry) = entry else {
        return reply;
    };
    let mut reply = reply;
    if entry.truncate || entry.unreadable {
        let Ok(mut message) = Message::from_vec(&reply) else {
            return reply;
        };
        message.answers.clear();
        message.metadata.truncation = entry.truncate;
        reply = message.to_vec().unwrap_or(reply);
    }
    if entry.unreadable && reply.len() >= 8 {
        reply[7] = 1; // one answer announced, none sent
    }
    reply
}

async fn serve(
    socket: Arc<UdpSocket>,
    zone: Arc<Zone>,
    stats: Arc<Mutex<Stats>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (len, peer) = tokio::select! {
            _ = &mut shutdown => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(_) => continue,
            },
        };
        let Some((request, question)) = buf.get(..len).and_then(read_request) else {
            continue;
        };
        let entry = zone.entries.get(&question.0);

        let seen_before = {
            let mut stats = stats.lock().unwrap();
            stats.total += 1;
            let count = stats.queries.entry(question.clone()).or_insert(0);
            *count += 1;
            *count - 1
        };
        let dropped = entry.is_some_and(|e| seen_before < e.drop_first);
        let silent = entry.is_some_and(|e| e.behaviour_for(question.1) == Behaviour::Silent);
        if dropped || silent {
            continue;
        }

        {
            let mut stats = stats.lock().unwrap();
            *stats.pending.entry(question.clone()).or_insert(0) += 1;
            let in_flight = stats.pending.len();
            stats.max_in_flight = stats.max_in_flight.max(in_flight);
        }

        let response = build_response(&zone, &request).map(|r| spoil(r, entry));
        let forged = entry
            .and_then(|e| e.forged_a)
            .map(|addr| forgeries(&request, addr))
            .unwrap_or_default();
        for bytes in forged {
            let _ = socket.send_to(&bytes, peer).await;
        }
        let socket = Arc::clone(&socket);
        let stats = Arc::clone(&stats);
        let delay = zone.delay;
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            {
                let mut stats = stats.lock().unwrap();
                if let Some(count) = stats.pending.get_mut(&question) {
                    *count -= 1;
                    if *count == 0 {
                        stats.pending.remove(&question);
                    }
                }
                stats.answered += 1;
            }
            if let Some(bytes) = response {
                let _ = socket.send_to(&bytes, peer).await;
            }
        });
    }
}

fn build_response(zone: &Zone, request: &Message) -> Option<Vec<u8>> {
    let query = request.queries.first()?;
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.message_type = MessageType::Response;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.authoritative = true;
    response.queries = request.queries.clone();

    let mut name = key(&query.name().to_string());
    let mut owner = query.name().clone();
    // Follow CNAMEs (a few hops at most) like a recursive server.
    for _ in 0..8 {
        let Some(entry) = zone.entries.get(&name) else {
            response.metadata.response_code = ResponseCode::NXDomain;
            break;
        };
        let behaviour = entry.behaviour_for(query.query_type());
        match behaviour {
            Behaviour::NxDomain => response.metadata.response_code = ResponseCode::NXDomain,
            Behaviour::ServFail => response.metadata.response_code = ResponseCode::ServFail,
            Behaviour::Refused => response.metadata.response_code = ResponseCode::Refused,
            Behaviour::Silent => return None,
            Behaviour::Answer => {}
        }
        if behaviour != Behaviour::Answer {
            break;
        }
        for (other, ip) in &entry.foreign_a {
            let other = Name::from_ascii(format!("{other}.")).ok()?;
            response
                .answers
                .push(Record::from_rdata(other, 60, RData::A(A(*ip))));
        }
        if let Some(target) = &entry.cname {
            let target_name = Name::from_ascii(format!("{target}.")).ok()?;
            response.answers.push(Record::from_rdata(
                owner.clone(),
                60,
                RData::CNAME(CNAME(target_name.clone())),
            ));
            owner = target_name;
            name = target.clone();
            continue;
        }
        match query.query_type() {
            RecordType::A => {
                for ip in &entry.a {
                    response.answers.push(Record::from_rdata(
                        owner.clone(),
                        entry.ttl.unwrap_or(60),
                        RData::A(A(*ip)),
                    ));
                }
            }
            RecordType::AAAA => {
                for ip in &entry.aaaa {
                    response.answers.push(Record::from_rdata(
                        owner.clone(),
                        entry.ttl.unwrap_or(60),
                        RData::AAAA(AAAA(*ip)),
                    ));
                }
            }
            _ => {}
        }
        break;
    }
    response.to_vec().ok()
}
