//! `svcprobe serve`: a drop-in for `registry.k8s.io/serve_hostname`, so the guide's backends
//! (and svcprobe's own tests) need nothing but this binary.
//!
//! `GET /` answers the hostname, `/echo` what the server saw of the connection (the client
//! address reveals SNAT), `/healthz` ok. It has to hold up as a backend under load and
//! against bad clients, with little memory: a fixed pool of workers on small stacks, each
//! accepting on the shared listener (so the number of connections served at once is
//! capped and the rest wait in the kernel's backlog), one request per connection, a cap on
//! header bytes and a deadline per request. SIGTERM and SIGINT are blocked in every thread
//! and taken with `sigwait` by the main thread, which then shuts the listener down (waking
//! every `accept`) and waits for the requests in flight.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::cli::probes::ServeArgs;
use crate::dns::millis;
use crate::error::Error;
use crate::report::{EchoBody, Envelope, ServeReport, SCHEMA_VERSION};

/// Connections served at once (one worker thread each).
pub const MAX_CONNECTIONS: usize = 32;
/// Request line and headers, at most; more is answered 431.
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// From accept to the end of the request's headers; slower clients get 408.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// After the response, how long to wait for the client to close (so that unread request
/// bytes do not turn our close into a RST that destroys the response).
const LINGER: Duration = Duration::from_millis(500);
/// Workers only parse a request line and format a short answer.
const WORKER_STACK: usize = 128 * 1024;

#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    requests: AtomicU64,
    error_responses: AtomicU64,
}

/// What every worker needs.
struct Shared {
    listener: TcpListener,
    hostname: String,
    root_body: String,
    stopping: AtomicBool,
    stats: Stats,
}

pub fn run(args: &ServeArgs) -> Result<Envelope<ServeReport>, Error> {
    let start = Instant::now();
    // Before any thread exists, so that every thread inherits the mask.
    let signals = block_termination_signals().map_err(|source| Error::Io {
        what: "block SIGTERM and SIGINT".into(),
        source,
    })?;
    let listener = TcpListener::bind(args.listen).map_err(|source| Error::Io {
        what: format!("listen on {}", args.listen),
        source,
    })?;
    let listen = listener.local_addr().unwrap_or(args.listen);
    let hostname = hostname();
    let shared = Shared {
        listener,
        root_body: format!("{}\n", args.body.as_deref().unwrap_or(&hostname)),
        hostname,
        stopping: AtomicBool::new(false),
        stats: Stats::default(),
    };
    eprintln!("svcprobe serve: listening on {listen}");
    let stopped_by = thread::scope(|scope| -> Result<String, Error> {
        for index in 0..MAX_CONNECTIONS {
            thread::Builder::new()
                .name(format!("serve-{index}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, || worker(&shared))
                .map_err(|source| {
                    stop(&shared);
                    Error::Io {
                        what: "start a worker thread".into(),
                        source,
                    }
                })?;
        }
        let signal = wait_for_signal(&signals);
        stop(&shared);
        Ok(signal)
    })?;
    let stats = &shared.stats;
    Ok(Envelope {
        schema_version: SCHEMA_VERSION,
        command: "serve",
        ok: true,
        report: ServeReport {
            listen: listen.to_string(),
            hostname: shared.hostname.clone(),
            max_connections: MAX_CONNECTIONS as u32,
            connections: stats.connections.load(Ordering::Relaxed),
            requests: stats.requests.load(Ordering::Relaxed),
            error_responses: stats.error_responses.load(Ordering::Relaxed),
            stopped_by,
            duration_ms: millis(start.elapsed()),
        },
    })
}

/// Wakes every worker blocked in `accept` (shutdown of a listening socket makes it fail).
fn stop(shared: &Shared) {
    shared.stopping.store(true, Ordering::SeqCst);
    // SAFETY: shutdown on a socket we own; errors only mean it is already shut.
    unsafe {
        libc::shutdown(shared.listener.as_raw_fd(), libc::SHUT_RDWR);
    }
}

fn worker(shared: &Shared) {
    while !shared.stopping.load(Ordering::SeqCst) {
        match shared.listener.accept() {
            Ok((stream, peer)) => {
                shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                serve_connection(shared, stream, peer);
            }
            Err(_) if shared.stopping.load(Ordering::SeqCst) => break,
            // EMFILE, ENOBUFS, ECONNABORTED: do not spin, try again shortly.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// What the request asked for, as far as we care.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request<'a> {
    method: &'a str,
    path: &'a str,
    host: Option<&'a str>,
}

/// Why a request could not be answered normally.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    BadRequest,
    HeadersTooLarge,
    TooSlow,
}

fn serve_connection(shared: &Shared, mut stream: TcpStream, peer: SocketAddr) {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let _ = stream.set_write_timeout(Some(REQUEST_DEADLINE));
    let mut buffer = [0u8; MAX_HEADER_BYTES];
    let response = match read_head(&mut stream, &mut buffer, deadline) {
        Ok(None) => return, // closed without a request
        Ok(Some(len)) => match buffer.get(..len).map(parse_head) {
            Some(Ok(request)) => {
                shared.stats.requests.fetch_add(1, Ordering::Relaxed);
                respond(shared, &request, &stream, peer)
            }
            _ => refuse(Refusal::BadRequest),
        },
        Err(refusal) => refuse(refusal),
    };
    if response.starts_with(b"HTTP/1.1 4") || response.starts_with(b"HTTP/1.1 5") {
        shared.stats.error_responses.fetch_add(1, Ordering::Relaxed);
    }
    if stream.write_all(&response).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    linger(&mut stream);
}

/// Reads until the end of the headers; `Ok(None)` when the client closed before sending
/// anything, `Ok(Some(n))` with the length of the head (up to and without the blank line).
fn read_head(
    stream: &mut TcpStream,
    buffer: &mut [u8],
    deadline: Instant,
) -> Result<Option<usize>, Refusal> {
    let mut filled = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(Refusal::TooSlow);
        }
        let Some(space) = buffer.get_mut(filled..).filter(|s| !s.is_empty()) else {
            return Err(Refusal::HeadersTooLarge);
        };
        match stream.read(space) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(Refusal::BadRequest),
            Ok(n) => {
                let searched_from = filled.saturating_sub(3);
                filled += n;
                let head = buffer.get(..filled).unwrap_or_default();
                if let Some(end) = find_blank_line(head, searched_from) {
                    return Ok(Some(end));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Refusal::TooSlow)
            }
            Err(_) if filled == 0 => return Ok(None),
            Err(_) => return Err(Refusal::BadRequest),
        }
    }
}

/// Position of the first `\r\n\r\n` (or bare `\n\n`) at or after `from`.
pub(crate) fn find_blank_line(bytes: &[u8], from: usize) -> Option<usize> {
    let tail = bytes.get(from..)?;
    let crlf = tail.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = tail.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(from + a.min(b)),
        (a, b) => a.or(b).map(|p| from + p),
    }
}

/// Parses the request line and the Host header (pure, for tests).
pub(crate) fn parse_head(head: &[u8]) -> Result<Request<'_>, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest)?;
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let request_line = lines.next().ok_or(Refusal::BadRequest)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !method_ok || !version.starts_with("HTTP/1.") {
        return Err(Refusal::BadRequest);
    }
    let (target, authority) = split_target(target).ok_or(Refusal::BadRequest)?;
    let path = match target.split(['?', '#']).next() {
        Some(path) if !path.is_empty() => path,
        _ => "/",
    };
    // RFC 9112 3.2.2: with an absolute-form target, the target's authority is the host and
    // any Host header is ignored.
    let host = authority.or_else(|| {
        lines.find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("host").then(|| value.trim())
        })
    });
    Ok(Request { method, path, host })
}

/// The origin-form target (`/path?query`) as it is, or an absolute-form one
/// (`http://authority/path?query`, RFC 9112 3.2.2: servers must accept it) split into its
/// path and query and its authority; `None` for anything else.
fn split_target(target: &str) -> Option<(&str, Option<&str>)> {
    if target.starts_with('/') {
        return Some((target, None));
    }
    let (scheme, rest) = target.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    (!authority.is_empty()).then_some((path, Some(authority)))
}

fn respond(shared: &Shared, request: &Request, stream: &TcpStream, peer: SocketAddr) -> Vec<u8> {
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        return response(405, "text/plain", "method not allowed\n", false);
    }
    match request.path {
        "/" => response(200, "text/plain", &shared.root_body, head_only),
        "/healthz" => response(200, "text/plain", "ok\n", head_only),
        "/echo" => {
            let body = EchoBody {
                client: peer.to_string(),
                server: stream
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                hostname: shared.hostname.clone(),
                method: request.method.to_string(),
                path: request.path.to_string(),
                host_header: request.host.map(str::to_string),
            };
            let json = serde_json::to_string(&body).unwrap_or_default() + "\n";
            response(200, "application/json", &json, head_only)
        }
        _ => response(404, "text/plain", "not found\n", head_only),
    }
}

fn refuse(refusal: Refusal) -> Vec<u8> {
    match refusal {
        Refusal::BadRequest => response(400, "text/plain", "bad request\n", false),
        Refusal::HeadersTooLarge => response(431, "text/plain", "headers too large\n", false),
        Refusal::TooSlow => response(408, "text/plain", "request timeout\n", false),
    }
}

fn response(status: u16, content_type: &str, body: &str, head_only: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Reads (and drops) what the client still sends until it closes, briefly and boundedly.
fn linger(stream: &mut TcpStream) {
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 1024];
    for _ in 0..64 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The kernel's hostname (the pod name in Kubernetes): /proc first, so that a read-only
/// or empty /etc does not matter, then uname.
fn hostname() -> String {
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let name = name.trim();
        if !name.is_empty() {
            return name.to_string();
        }
    }
    // SAFETY: utsname is plain data; uname fills it with NUL-terminated strings.
    unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut uts) == 0 {
            let bytes: Vec<u8> = uts
                .nodename
                .iter()
                .take_while(|c| **c != 0)
                .map(|c| *c as u8)
                .collect();
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    "unknown".into()
}

fn block_termination_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the mask call only
    // changes this thread's mask (inherited by the threads it spawns).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

/// Blocks until SIGTERM or SIGINT is pending, and names it.
fn wait_for_signal(set: &libc::sigset_t) -> String {
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: a valid, initialised set and an out-parameter.
        if unsafe { libc::sigwait(set, &mut signal) } == 0 {
            return match signal {
                libc::SIGTERM => "SIGTERM".into(),
                libc::SIGINT => "SIGINT".into(),
                other => format!("signal {other}"),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = parse_head(b"GET /echo?x=1 HTTP/1.1\r\nHost: 10.0.1.175\r\nA: b").unwrap();
        assert_eq!(
            r,
            Request {
                method: "GET",
                path: "/echo",
                host: Some("10.0.1.175")
            }
        );
        assert_eq!(parse_head(b"GET / HTTP/1.0").unwrap().host, None);
        let absolute =
            parse_head(b"GET http://10.0.1.175:80/echo?x HTTP/1.1\r\nHost: other").unwrap();
        assert_eq!(
            (absolute.path, absolute.host),
            ("/echo", Some("10.0.1.175:80"))
        );
        let bare = parse_head(b"GET HTTP://hostnames HTTP/1.1").unwrap();
        assert_eq!((bare.path, bare.host), ("/", Some("hostnames")));
        for bad in [
            &b""[..],
            b"GET /",
            b"get / HTTP/1.1",
            b"GET x HTTP/1.1",
            b"GET ftp://host/ HTTP/1.1",
            b"GET http:///path HTTP/1.1",
            b"GET / SPDY/3",
            b"GET  / HTTP/1.1",
            b"\xff\xfe / HTTP/1.1",
        ] {
            assert_eq!(parse_head(bad), Err(Refusal::BadRequest), "{bad:?}");
        }
    }

    #[test]
    fn blank_line() {
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\n\r\n", 0), Some(14));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\n\nxx", 0), Some(14));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\n", 0), None);
    }

    #[test]
    fn responses_have_length_and_close() {
        let r = String::from_utf8(response(200, "text/plain", "pod-a\n", false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 6\r\n") && r.contains("Connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\npod-a\n"));
        let head = String::from_utf8(response(200, "text/plain", "pod-a\n", true)).unwrap();
        assert!(head.ends_with("\r\n\r\n"));
    }
}
