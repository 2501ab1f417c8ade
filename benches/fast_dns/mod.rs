//! A loopback DNS server for the render benchmark that is not itself the
//! bottleneck: every reply is built before the first query arrives, a query
//! is matched by its raw question bytes (no parsing beyond walking the
//! name's labels), each reply is due `delay` after the kernel's arrival
//! stamp of its query (not after this server's thread got to it), and a
//! second thread sends the replies due at once with one sendmmsg (the delay
//! is fixed, so arrival order is due order).

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
    enable_arrival_stamps(socket);
    let mut buffer = [0u8; 512];
    loop {
        let Some((n, from, arrived)) = receive_stamped(socket, &mut buffer) else {
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
        let mut queue = queue.lock().expect("queue");
        let was_empty = queue.is_empty();
        queue.push_back((arrived + delay, reply, from));
        drop(queue);
        // The sender waits on the condition only when the queue is empty.
        if was_empty {
            ready.notify_one();
        }
    }
}

/// Ask the kernel to stamp each datagram with its arrival time, so that
/// a reply is due `delay` after its query arrived, not after this thread
/// got round to it (on 2 cores it lags behind a burst of 100 queries).
fn enable_arrival_stamps(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int from `on`.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(done, 0, "SO_TIMESTAMPNS");
}

/// One datagram: its length, sender and arrival (as an Instant).
fn receive_stamped(socket: &UdpSocket, buffer: &mut [u8]) -> Option<(usize, SocketAddr, Instant)> {
    use std::os::fd::AsRawFd;
    // SAFETY: zeroed sockaddr_in, msghdr and the control buffer are valid;
    // the msghdr points into locals that outlive the recvmsg call, and the
    // control message is read only where the kernel says it wrote one.
    unsafe {
        let mut from: libc::sockaddr_in = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: buffer.len(),
        };
        let mut control = [0u64; 16];
        let mut header: libc::msghdr = std::mem::zeroed();
        header.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
        header.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(socket.as_raw_fd(), &mut header, 0);
        if n < 0 {
            return None;
        }
        let (now, wall_now) = (Instant::now(), std::time::SystemTime::now());
        let mut arrived = now;
        let mut message = libc::CMSG_FIRSTHDR(&header);
        while !message.is_null() {
            if (*message).cmsg_level == libc::SOL_SOCKET
                && (*message).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let stamp =
                    std::ptr::read_unaligned(libc::CMSG_DATA(message) as *const libc::timespec);
                let wall_arrived = std::time::UNIX_EPOCH
                    + Duration::new(stamp.tv_sec as u64, stamp.tv_nsec as u32);
                let waited = wall_now.duration_since(wall_arrived).unwrap_or_default();
                arrived = now.checked_sub(waited).unwrap_or(now);
            }
            message = libc::CMSG_NXTHDR(&header, message);
        }
        let from = SocketAddr::from((
            std::net::Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr)),
            u16::from_be(from.sin_port),
        ));
        Some((n as usize, from, arrived))
    }
}

fn send_when_due(socket: &UdpSocket, pending: &Pending) {
    let (queue, ready) = &**pending;
    loop {
        let first_due = {
            let mut queue = queue.lock().expect("queue");
            loop {
                if let Some((due, _, _)) = queue.front() {
                    break *due;
                }
                queue = ready.wait(queue).expect("queue");
            }
        };
        if let Some(wait) = first_due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // Every reply due by now leaves in one sendmmsg call, as a server
        // with many threads would send them: one syscall per reply would
        // make the last of 100 replies late by the time of the other 99.
        let now = Instant::now();
        let due: Vec<(Vec<u8>, SocketAddr)> = {
            let mut queue = queue.lock().expect("queue");
            let ready = queue.iter().take_while(|(due, _, _)| *due <= now).count();
            queue
                .drain(..ready.max(1))
                .map(|(_, reply, to)| (reply, to))
                .collect()
        };
        for batch in due.chunks(64) {
            send_batch(socket, batch);
        }
    }
}

/// Send each (reply, address) of `batch` with one sendmmsg call (IPv4
/// loopback addresses only, as this server binds 127.0.0.1).
fn send_batch(socket: &UdpSocket, batch: &[(Vec<u8>, SocketAddr)]) {
    use std::os::fd::AsRawFd;
    let mut addresses: Vec<libc::sockaddr_in> = batch
        .iter()
        .map(|(_, to)| {
            let SocketAddr::V4(v4) = to else {
                panic!("fast DNS serves IPv4 loopback only");
            };
            libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            }
        })
        .collect();
    let mut buffers: Vec<libc::iovec> = batch
        .iter()
        .map(|(reply, _)| libc::iovec {
            iov_base: reply.as_ptr() as *mut libc::c_void,
            iov_len: reply.len(),
        })
        .collect();
    let mut messages: Vec<libc::mmsghdr> = buffers
        .iter_mut()
        .zip(addresses.iter_mut())
        .map(|(buffer, address)| {
            // SAFETY: an all-zero msghdr is valid; the fields set point
            // into `buffers` and `addresses`, which outlive the call.
            let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
            header.msg_name = (address as *mut libc::sockaddr_in).cast();
            header.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            header.msg_iov = buffer;
            header.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: header,
                msg_len: 0,
            }
        })
        .collect();
    let mut sent = 0;
    while sent < messages.len() {
        // SAFETY: `messages[sent..]` are valid mmsghdr entries (see above).
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                messages[sent..].as_mut_ptr(),
                (messages.len() - sent) as libc::c_uint,
                0,
            )
        };
        if n <= 0 {
            return;
        }
        sent += n as usize;
    }
}
