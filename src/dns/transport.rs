//! Sending questions to nameservers over UDP and TCP, each exchange under a hard deadline.
//!
//! Blocking sockets with read timeouts recomputed from one deadline: no runtime, no
//! threads, and nothing can wait longer than the caller allows. UDP sockets are
//! connected so that an ICMP port-unreachable from a dead server surfaces at once as
//! `ECONNREFUSED` (glibc connects its sockets too and moves on to the next server).
//!
//! [`Transport`] is the seam between the C libraries' walks and the network: the walks
//! are unit-tested against a scripted server behind the same trait.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crate::dns::wire::{self, Question, Response};
use crate::report::Rcode;

/// How questions reach nameservers: [`Network`] in svcprobe, a scripted server in tests.
pub trait Transport {
    /// Every question to one server from one connected UDP socket (glibc's way).
    fn udp(
        &mut self,
        server: SocketAddr,
        questions: &[Question],
        edns: bool,
        timeout: Duration,
    ) -> Vec<Sent>;
    /// Every question to every server from one unconnected socket (musl's way).
    fn udp_parallel(
        &mut self,
        servers: &[SocketAddr],
        questions: &[Question],
        timeout: Duration,
    ) -> Vec<Sent>;
    /// One question over TCP.
    fn tcp(
        &mut self,
        server: SocketAddr,
        question: &Question,
        edns: bool,
        timeout: Duration,
    ) -> Sent;
}

/// The real network, through the functions below.
#[derive(Clone, Copy, Debug, Default)]
pub struct Network;

impl Transport for Network {
    fn udp(
        &mut self,
        server: SocketAddr,
        questions: &[Question],
        edns: bool,
        timeout: Duration,
    ) -> Vec<Sent> {
        udp(server, questions, edns, timeout)
    }

    fn udp_parallel(
        &mut self,
        servers: &[SocketAddr],
        questions: &[Question],
        timeout: Duration,
    ) -> Vec<Sent> {
        udp_parallel(servers, questions, timeout)
    }

    fn tcp(
        &mut self,
        server: SocketAddr,
        question: &Question,
        edns: bool,
        timeout: Duration,
    ) -> Sent {
        tcp(server, question, edns, timeout)
    }
}

/// How one question fared against one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Answered(Response),
    /// No reply before the deadline.
    Timeout,
    /// The network said no: ICMP unreachable, no route, connection refused.
    Unreachable(String),
    /// Something came back that is not a valid answer to this question.
    BadResponse(String),
    /// Not sent: the whole command's deadline had passed.
    Deadline,
}

impl Outcome {
    /// The report's name for it: the response code, or what happened instead.
    pub fn rcode(&self) -> Rcode {
        match self {
            Outcome::Answered(r) => r.rcode,
            Outcome::Timeout => Rcode::Timeout,
            Outcome::Unreachable(_) => Rcode::Unreachable,
            Outcome::BadResponse(_) => Rcode::BadResponse,
            Outcome::Deadline => Rcode::NotSent,
        }
    }
}

/// The record of one question sent to one server.
#[derive(Clone, Debug)]
pub struct Sent {
    pub question: Question,
    pub server: SocketAddr,
    pub tcp: bool,
    pub outcome: Outcome,
    pub elapsed: Duration,
}

/// Largest UDP answer we accept; EDNS answers are at most 1232 bytes as we ask, but a
/// misbehaving server may send more and we still want to read it whole.
const MAX_UDP: usize = 65_535;

/// The process's receive buffer. A fresh 64 KiB buffer per exchange was a 69,632-byte
/// `mmap`, a page fault and a `munmap` each time (musl's allocator maps a block that large
/// on its own and returns it at once); this one is zero-initialised, so it lives in `.bss`:
/// no syscall, and a page is faulted in only when a datagram first reaches it.
static SHARED_BUFFER: Mutex<[u8; MAX_UDP]> = Mutex::new([0; MAX_UDP]);

/// Room for one whole datagram: the shared buffer, or a buffer of its own while another
/// thread (the exporter's probes, diagnose's pool) holds the shared one.
enum ReceiveBuffer {
    Shared(MutexGuard<'static, [u8; MAX_UDP]>),
    Own(Vec<u8>),
}

impl ReceiveBuffer {
    fn take() -> ReceiveBuffer {
        match SHARED_BUFFER.try_lock() {
            Ok(shared) => ReceiveBuffer::Shared(shared),
            // Scratch bytes: a panic elsewhere while they were held leaves nothing to repair.
            Err(TryLockError::Poisoned(poisoned)) => ReceiveBuffer::Shared(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => ReceiveBuffer::Own(vec![0; MAX_UDP]),
        }
    }
}

impl Deref for ReceiveBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ReceiveBuffer::Shared(shared) => &shared[..],
            ReceiveBuffer::Own(own) => own,
        }
    }
}

impl DerefMut for ReceiveBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            ReceiveBuffer::Shared(shared) => &mut shared[..],
            ReceiveBuffer::Own(own) => own,
        }
    }
}

/// Sends every question at once over one UDP socket, the way glibc sends A and AAAA
/// together, and waits until each has its answer or `timeout` has passed.
pub fn udp(server: SocketAddr, questions: &[Question], edns: bool, timeout: Duration) -> Vec<Sent> {
    let start = Instant::now();
    let finish = |question: &Question, outcome| Sent {
        question: question.clone(),
        server,
        tcp: false,
        outcome,
        elapsed: start.elapsed(),
    };
    let socket = match connected_udp(server) {
        Ok(s) => s,
        Err(e) => {
            return questions
                .iter()
                .map(|q| finish(q, Outcome::Unreachable(e.to_string())))
                .collect()
        }
    };
    let mut pending: Vec<(u16, &Question)> = Vec::with_capacity(questions.len());
    let mut done: Vec<Sent> = Vec::with_capacity(questions.len());
    for (question, id) in questions.iter().zip(fresh_ids(questions.len())) {
        match wire::encode_query(id, question, edns) {
            Ok(bytes) => match socket.send(&bytes) {
                Ok(_) => pending.push((id, question)),
                // An error on send is the ICMP error of an earlier datagram to the same
                // server: the server is unreachable for every question, not just this one.
                Err(e) => {
                    let outcome = io_outcome(&e);
                    return questions
                        .iter()
                        .map(|q| finish(q, outcome.clone()))
                        .collect();
                }
            },
            Err(e) => done.push(finish(question, Outcome::BadResponse(e.0))),
        }
    }
    let deadline = start + timeout;
    let mut buf = ReceiveBuffer::take();
    while !pending.is_empty() {
        let Ok(remaining) = remaining(deadline) else {
            break;
        };
        if socket.set_read_timeout(Some(remaining)).is_err() {
            break;
        }
        let len = match socket.recv(&mut buf) {
            Ok(len) => len,
            Err(e) if is_timeout(&e) => break,
            Err(e) => {
                let outcome = io_outcome(&e);
                done.extend(pending.drain(..).map(|(_, q)| finish(q, outcome.clone())));
                break;
            }
        };
        let datagram = &buf[..len];
        let Some(index) =
            wire::message_id(datagram).and_then(|id| pending.iter().position(|(p, _)| *p == id))
        else {
            continue; // a late or stray datagram: not ours to judge
        };
        let (id, question) = pending.swap_remove(index);
        let outcome = match wire::decode_response(datagram, id, question) {
            Ok(response) => Outcome::Answered(response),
            Err(e) => Outcome::BadResponse(e.0),
        };
        done.push(finish(question, outcome));
    }
    done.extend(
        pending
            .into_iter()
            .map(|(_, q)| finish(q, Outcome::Timeout)),
    );
    order_like(questions, done)
}

/// One question over UDP, retransmitted the way glibc's `res_send` does to one server
/// before it calls the server silent: up to `tries` datagrams from one connected socket,
/// the same bytes (and ID) each time, the next sent only when a try's wait ends without a
/// response. Each try waits `timeout`, shortened so that the tries left still fit before
/// `deadline`. A response (any code) or an ICMP error ends the tries. Returns the final
/// record and each try's outcome, in order; a late reply to an earlier try (same ID) counts
/// for the try it arrives in.
pub fn udp_retransmit(
    server: SocketAddr,
    question: &Question,
    edns: bool,
    tries: u32,
    timeout: Duration,
    deadline: Instant,
) -> (Sent, Vec<Outcome>) {
    let start = Instant::now();
    let finish = |outcome| Sent {
        question: question.clone(),
        server,
        tcp: false,
        outcome,
        elapsed: start.elapsed(),
    };
    let id = wire::random_id();
    let bytes = match wire::encode_query(id, question, edns) {
        Ok(bytes) => bytes,
        Err(e) => return (finish(Outcome::BadResponse(e.0)), Vec::new()),
    };
    let socket = match connected_udp(server) {
        Ok(s) => s,
        Err(e) => {
            let outcome = Outcome::Unreachable(e.to_string());
            return (finish(outcome.clone()), vec![outcome]);
        }
    };
    let mut buf = ReceiveBuffer::take();
    let mut each: Vec<Outcome> = Vec::new();
    for left in (1..=tries.max(1)).rev() {
        let Some(wait) = remaining(deadline).ok().map(|d| timeout.min(d / left)) else {
            break;
        };
        let outcome = match socket.send(&bytes) {
            Ok(_) => await_reply(&socket, &mut buf, id, question, Instant::now() + wait),
            Err(e) => io_outcome(&e),
        };
        let silent = outcome == Outcome::Timeout;
        each.push(outcome);
        if !silent {
            break;
        }
    }
    let last = each.last().cloned().unwrap_or(Outcome::Deadline);
    (finish(last), each)
}

/// Waits on a connected socket until the response to query `id` arrives or `until`.
fn await_reply(
    socket: &UdpSocket,
    buf: &mut [u8],
    id: u16,
    question: &Question,
    until: Instant,
) -> Outcome {
    // Bounded by time, and in count against a flood of stray datagrams.
    for _ in 0..64 {
        let Ok(wait) = remaining(until) else {
            break;
        };
        if socket.set_read_timeout(Some(wait)).is_err() {
            break;
        }
        let len = match socket.recv(buf) {
            Ok(len) => len,
            Err(e) => return io_outcome(&e),
        };
        let Some(datagram) = buf.get(..len).filter(|d| wire::message_id(d) == Some(id)) else {
            continue; // a stray datagram: not ours to judge
        };
        return match wire::decode_response(datagram, id, question) {
            Ok(response) => Outcome::Answered(response),
            Err(e) => Outcome::BadResponse(e.0),
        };
    }
    Outcome::Timeout
}

/// Sends each question to every server from one unconnected socket and keeps the first
/// usable answer per question: musl's `__res_msend`. A SERVFAIL is kept only if nothing
/// better arrives. ICMP errors are invisible on an unconnected socket, as they are to musl.
pub fn udp_parallel(
    servers: &[SocketAddr],
    questions: &[Question],
    timeout: Duration,
) -> Vec<Sent> {
    let start = Instant::now();
    let wildcard: SocketAddr = if servers.iter().all(SocketAddr::is_ipv4) {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let mut results: Vec<Option<Sent>> = vec![None; questions.len()];
    let socket = match UdpSocket::bind(wildcard) {
        Ok(s) => s,
        Err(e) => {
            return questions
                .iter()
                .map(|q| Sent {
                    question: q.clone(),
                    server: servers.first().copied().unwrap_or(wildcard),
                    tcp: false,
                    outcome: Outcome::Unreachable(e.to_string()),
                    elapsed: start.elapsed(),
                })
                .collect();
        }
    };
    let ids = fresh_ids(questions.len());
    for (question, &id) in questions.iter().zip(&ids) {
        if let Ok(bytes) = wire::encode_query(id, question, false) {
            for server in servers {
                let _ = socket.send_to(&bytes, server);
            }
        }
    }
    let deadline = start + timeout;
    let mut buf = ReceiveBuffer::take();
    let settled = |results: &[Option<Sent>]| {
        results
            .iter()
            .all(|r| matches!(r, Some(s) if !is_servfail(&s.outcome)))
    };
    while !settled(&results) {
        let Ok(remaining) = remaining(deadline) else {
            break;
        };
        if socket.set_read_timeout(Some(remaining)).is_err() {
            break;
        }
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(_) => break,
        };
        if !servers.contains(&from) {
            continue;
        }
        let datagram = &buf[..len];
        let Some(index) =
            wire::message_id(datagram).and_then(|id| ids.iter().position(|i| *i == id))
        else {
            continue;
        };
        let outcome = match wire::decode_response(datagram, ids[index], &questions[index]) {
            Ok(response) => Outcome::Answered(response),
            Err(e) => Outcome::BadResponse(e.0),
        };
        let better = match &results[index] {
            None => true,
            Some(previous) => is_servfail(&previous.outcome) && !is_servfail(&outcome),
        };
        if better {
            results[index] = Some(Sent {
                question: questions[index].clone(),
                server: from,
                tcp: false,
                outcome,
                elapsed: start.elapsed(),
            });
        }
    }
    questions
        .iter()
        .zip(results)
        .map(|(q, r)| {
            r.unwrap_or_else(|| Sent {
                question: q.clone(),
                server: servers.first().copied().unwrap_or(wildcard),
                tcp: false,
                outcome: Outcome::Timeout,
                elapsed: start.elapsed(),
            })
        })
        .collect()
}

/// One question over TCP: used for `use-vc`, `--tcp`, and glibc's retry of a truncated answer.
pub fn tcp(server: SocketAddr, question: &Question, edns: bool, timeout: Duration) -> Sent {
    let start = Instant::now();
    let outcome =
        tcp_exchange(server, question, edns, start + timeout).unwrap_or_else(|e| io_outcome(&e));
    Sent {
        question: question.clone(),
        server,
        tcp: true,
        outcome,
        elapsed: start.elapsed(),
    }
}

fn tcp_exchange(
    server: SocketAddr,
    question: &Question,
    edns: bool,
    deadline: Instant,
) -> io::Result<Outcome> {
    let id = wire::random_id();
    let query = match wire::encode_query(id, question, edns) {
        Ok(q) => q,
        Err(e) => return Ok(Outcome::BadResponse(e.0)),
    };
    let mut stream = TcpStream::connect_timeout(&server, remaining(deadline)?)?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    let len = u16::try_from(query.len()).map_err(|_| io::Error::other("query too long"))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed)?;
    let mut len_buf = [0u8; 2];
    read_exact_by(&mut stream, &mut len_buf, deadline)?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len_buf))];
    read_exact_by(&mut stream, &mut body, deadline)?;
    Ok(match wire::decode_response(&body, id, question) {
        Ok(response) => Outcome::Answered(response),
        Err(e) => Outcome::BadResponse(e.0),
    })
}

/// `read_exact` that gives up at `deadline` even if the peer trickles bytes.
fn read_exact_by(stream: &mut TcpStream, mut buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    while !buf.is_empty() {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        match stream.read(buf)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ))
            }
            n => buf = &mut buf[n..],
        }
    }
    Ok(())
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
}

fn connected_udp(server: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(server)?;
    Ok(socket)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn io_outcome(e: &io::Error) -> Outcome {
    if is_timeout(e) {
        Outcome::Timeout
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        Outcome::BadResponse(e.to_string())
    } else {
        Outcome::Unreachable(e.to_string())
    }
}

fn is_servfail(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Answered(r) if r.rcode == Rcode::ServFail)
}

/// Distinct random query IDs, one per question, drawn with one getrandom call:
/// unpredictable IDs are what keeps off-path spoofing out, and distinct ones let
/// concurrent answers be matched.
fn fresh_ids(count: usize) -> Vec<u16> {
    let mut ids: Vec<u16> = Vec::with_capacity(count);
    for id in wire::random_ids(count) {
        let id = if ids.contains(&id) {
            fresh_id_from(&ids)
        } else {
            id
        };
        ids.push(id);
    }
    ids
}

fn fresh_id_from(taken: &[u16]) -> u16 {
    // Bounded: at most a handful of IDs are ever in flight, so a clash is rare.
    (0..16)
        .map(|_| wire::random_id())
        .find(|id| !taken.contains(id))
        .unwrap_or_else(|| taken.iter().copied().max().unwrap_or(0).wrapping_add(1))
}

/// Results in the order the questions were given, so reports read the same every run.
/// Stable, in place and without a sort: std's stable sort (built for size) puts a 4 KiB
/// scratch buffer in the caller's frame, a fresh stack page for every lookup.
fn order_like(questions: &[Question], mut done: Vec<Sent>) -> Vec<Sent> {
    let mut placed = 0;
    for question in questions {
        while let Some(rest) = done.get_mut(placed..) {
            let Some(offset) = rest.iter().position(|s| s.question == *question) else {
                break;
            };
            if let Some(moved) = rest.get_mut(..=offset) {
                moved.rotate_right(1);
            }
            placed += 1;
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::RecordType;

    fn sent(name: &str, record_type: RecordType, outcome: Outcome) -> Sent {
        Sent {
            question: Question {
                name: name.into(),
                record_type,
            },
            server: ([10, 0, 0, 10], 53).into(),
            tcp: false,
            outcome,
            elapsed: Duration::ZERO,
        }
    }

    /// order_like is the stable sort by the question's first position it replaced: a
    /// repeated question keeps its records in arrival order, an unknown one goes last.
    #[test]
    fn results_take_the_order_of_the_questions_stably() {
        use RecordType::{A, AAAA, MX, TXT};
        let questions: Vec<Question> = [A, AAAA, A, TXT]
            .into_iter()
            .map(|record_type| sent("n.", record_type, Outcome::Timeout).question)
            .collect();
        let arrived = vec![
            sent("n.", TXT, Outcome::Timeout),
            sent("other.", A, Outcome::Timeout),
            sent("n.", A, Outcome::Deadline),
            sent("n.", AAAA, Outcome::Timeout),
            sent("n.", MX, Outcome::Timeout),
            sent("n.", A, Outcome::Timeout),
        ];
        let mut expected = arrived.clone();
        expected.sort_by_key(|s| {
            questions
                .iter()
                .position(|q| *q == s.question)
                .unwrap_or(usize::MAX)
        });
        let ordered = order_like(&questions, arrived);
        let show = |v: &[Sent]| format!("{v:?}");
        assert_eq!(show(&ordered), show(&expected));
        assert_eq!(ordered[0].outcome, Outcome::Deadline, "arrival order kept");
    }
}
