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

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::cli::probes::ServeArgs;
use crate::dns::millis;
use crate::error::Error;
use crate::httpd::{
    block_termination_signals, linger, name_this_thread, parse_head, read_head, refuse, response,
    shut_listener, wait_for_signal, Refusal, Request,
};
use crate::report::{EchoBody, Envelope, ServeReport, SCHEMA_VERSION};

/// Connections served at once (one worker thread each).
pub const MAX_CONNECTIONS: usize = 32;
/// Request line and headers, at most; more is answered 431.
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// From accept to the end of the request's headers; slower clients get 408.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
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
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, {
                    let shared = &shared;
                    move || {
                        name_this_thread(&format!("serve-{index}"));
                        worker(shared)
                    }
                })
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
    shut_listener(&shared.listener);
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
