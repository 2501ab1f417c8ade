//! A loopback DNS server for the render benchmark that is not itself the
//! bottleneck: every reply is built before the first query arrives, a query
//! is matched by its raw question bytes (no parsing beyond walking the
//! name's labels), and delayed replies wait in a queue that a second thread
//! sends when due (the delay is fixed, so arrival order is due order).

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

pub struct FastDns {
    pub addr: SocketAddr,
}

type Pending = Arc<(Mutex<VecDeque<(Instant, Vec<u8>, SocketAddr)>>, Condvar)>;

impl FastDns {
    /// Serve A and AAAA for each (name, v4, v6), every reply sent `delay`
    /// after its query arrived. Runs until the process ends.
    pub fn start(hosts: &[(String, Ipv4Addr, Ipv6Addr)], delay: Duration) -> FastDns {
        let mut replies = HashMap::new();
        for (name, v4, v6) in hosts {
            for (kind, data) in [
                (RecordType::A, RData::A(A(*v4))),
                (RecordType::AAAA, RData::AAAA(AAAA(*v6))),
            ] {
                let (question, reply) = precompute(name, kind, data);
                replies.insert(question, reply);
            }
        }
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind fast DNS");
        let addr = socket.local_addr().expect("fast DNS address");
        let sender = socket.try_clone().expect("fast DNS socket");
        let pending: Pending = Arc::new((Mutex::new(VecDeque::new()), Condvar::new()));
        let queue = pending.clone();
        std::thread::spawn(move || send_when_due(&sender, &queue));
        std::thread::spawn(move || receive(&socket, &replies, &pending, delay));
        FastDns { addr }
    }
}

/// The question section's bytes (lower-cased) and the whole reply.
fn precompute(name: &str, kind: RecordType, data: RData) -> (Vec<u8>, Vec<u8>) {
    let name = Name::from_ascii(format!("{name}.")).expect("bench name");
    let mut message = Message::new(0, MessageType::Response, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.metadata.recursion_available = true;
    message.metadata.authoritative = true;
    message.metadata.response_code = ResponseCode::NoError;
    message.add_query(Query::query(name.clone(), kind));
    message.add_answer(Record::from_rdata(name, 300, data));
    let bytes = message.to_vec().expect("encode reply");
    let end = question_end(&bytes).expect("reply question");
    (bytes[12..end].to_ascii_lowercase(), bytes)
}

/// Where the (single) question ends: past the name's labels, type, class.
fn question_end(packet: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let length = usize::from(*packet.get(at)?);
        at += 1;
        if length == 0 {
            break;
        }
        at += length;
    }
    let end = at + 4;
    (end <= packet.len()).then_some(end)
}

fn receive(
    socket: &UdpSocket,
    replies: &HashMap<Vec<u8>, Vec<u8>>,
    pending: &Pending,
    delay: Duration,
) {
    let mut buffer = [0u8; 512];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let query = &buffer[..n];
        let Some(end) = question_end(query) else {
            continue;
        };
        let question = &query[12..end];
        let Some(template) = replies.get(&question.to_ascii_lowercase()) else {
            continue;
        };
        let mut reply = template.clone();
        // The query's id and its question as sent (the case of its letters).
        reply[..2].copy_from_slice(&query[..2]);
        reply[12..end].copy_from_slice(question);
        let (queue, ready) = &**pending;
        queue
            .lock()
            .expect("queue")
            .push_back((Instant::now() + delay, reply, from));
        ready.notify_one();
    }
}

fn send_when_due(socket: &UdpSocket, pending: &Pending) {
    let (queue, ready) = &**pending;
    loop {
        let (due, reply, to) = {
            let mut queue = queue.lock().expect("queue");
            loop {
                if let Some(next) = queue.pop_front() {
                    break next;
                }
                queue = ready.wait(queue).expect("queue");
            }
        };
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let _ = socket.send_to(&reply, to);
    }
}
