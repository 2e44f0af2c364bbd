//! One HTTP GET per new connection, over svcprobe's own sockets and rustls, with a record of
//! where each request's time went.
//!
//! The addresses come from our resolver (resolved once by the caller, so the DNS phase is
//! measured apart); connects go through [`connect::connect`] (so a failed connect is
//! classified exactly as `tcp` classifies it, ICMP sender included); TLS is a rustls client
//! connection on that socket; the request and response are http1.rs's. Every socket read
//! and write is bounded by the time left: the TCP and TLS handshakes by `connect_timeout`,
//! everything by `timeout`, so a peer that trickles a byte at a time still ends at the
//! deadline.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::probe::connect::{self, Icmp};
use crate::probe::http1::{self, Framing, ReadError, Wire};
use crate::probe::tls::{self, Trust};
use crate::probe::url::HttpUrl;
use crate::report::{TcpOutcome, TimeoutPhase};

/// At most this many resolved addresses are tried.
const MAX_ADDRESSES: usize = 16;

/// What the agent needs to know besides the URL.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the URL's host resolved to, in the order to try.
    pub addresses: Vec<SocketAddr>,
    pub source: Option<IpAddr>,
    pub connect_timeout: Duration,
    /// The whole request, body included.
    pub timeout: Duration,
    pub trust: Trust,
}

impl Settings {
    /// Plain HTTP to one address, nothing to verify: a backend, kube-proxy's endpoints.
    pub fn plain(addr: SocketAddr, timeout: Duration) -> Settings {
        Settings {
            addresses: vec![addr],
            source: None,
            connect_timeout: timeout,
            timeout,
            trust: Trust::Nothing,
        }
    }
}

/// What happened on the connection of the latest request.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub connect: Option<Duration>,
    pub connected_at: Option<Instant>,
    pub tls_done_at: Option<Instant>,
    pub first_byte_at: Option<Instant>,
    /// Set when no address could be connected to: how the last one failed.
    pub connect_failure: Option<ConnectFailure>,
}

#[derive(Clone, Debug)]
pub struct ConnectFailure {
    pub outcome: TcpOutcome,
    pub icmp: Option<Icmp>,
    pub detail: String,
}

/// Why a request got no (complete) response.
#[derive(Debug)]
pub enum HttpError {
    /// No address to connect to.
    NoAddress,
    /// No address could be connected to: the trace's `connect_failure` says how.
    Connect,
    /// A deadline passed in this phase.
    Timeout(TimeoutPhase),
    /// The TLS handshake failed: rustls's error (an alert, the certificate), or the
    /// connection ended during it.
    Tls(io::Error),
    /// The response is not HTTP/1.x, or its head is over the limit.
    Protocol(ReadError),
    /// The peer closed or reset the connection before the response was complete.
    Closed(ReadError),
    Io(io::Error),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::NoAddress => f.write_str("host not found"),
            HttpError::Connect => f.write_str("connection failed"),
            HttpError::Timeout(phase) => write!(f, "timeout: {}", phase_words(*phase)),
            HttpError::Tls(e) | HttpError::Io(e) => write!(f, "{e}"),
            HttpError::Protocol(e) | HttpError::Closed(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HttpError {}

fn phase_words(phase: TimeoutPhase) -> &'static str {
    match phase {
        TimeoutPhase::Connect => "connect",
        TimeoutPhase::Response => "receive response",
        TimeoutPhase::Body => "receive body",
        TimeoutPhase::Request => "request",
    }
}

type SharedTrace = Arc<Mutex<Trace>>;

fn lock(trace: &SharedTrace) -> MutexGuard<'_, Trace> {
    // A poisoned trace only means a panic elsewhere; its data is still the best we have.
    trace.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes a new connection for every request, and keeps the trace of the latest.
pub struct Prober {
    settings: Settings,
    /// Built on the first HTTPS request, for all of them (plain HTTP never needs it).
    tls: OnceLock<Result<Arc<ClientConfig>, rustls::Error>>,
    trace: SharedTrace,
}

impl Prober {
    pub fn new(settings: &Settings) -> Prober {
        Prober {
            settings: settings.clone(),
            tls: OnceLock::new(),
            trace: SharedTrace::default(),
        }
    }

    /// Starts a new trace and sends GET `url`.
    pub fn get(&self, url: &HttpUrl) -> Result<Response, HttpError> {
        self.request(url, None)
    }

    /// GET `url` with `Authorization: Bearer TOKEN` and `Accept: application/json`, for the
    /// API server. The token goes into that header only.
    pub fn get_authorized(&self, url: &HttpUrl, token: &str) -> Result<Response, HttpError> {
        self.request(url, Some(token))
    }

    /// The trace of the latest request so far.
    pub fn trace(&self) -> Trace {
        lock(&self.trace).clone()
    }

    fn request(&self, url: &HttpUrl, bearer: Option<&str>) -> Result<Response, HttpError> {
        *lock(&self.trace) = Trace::default();
        let start = Instant::now();
        let deadline = start + self.settings.timeout;
        let connect_deadline = deadline.min(start + self.settings.connect_timeout);
        let stream = self.connect(connect_deadline)?;
        let sock = Sock {
            stream,
            deadline: connect_deadline,
        };
        let conn = if url.https {
            let tls = self.handshake(url, sock)?;
            lock(&self.trace).tls_done_at = Some(Instant::now());
            tls
        } else {
            Conn::Plain(sock)
        };
        let mut wire = Wire::new(Timed {
            conn,
            first_byte_at: None,
        });
        wire.source_mut().conn.sock_mut().deadline = deadline;
        let sent = send(wire.source_mut(), &http1::request(url, bearer));
        let head = sent
            .map_err(|e| io_error(e, TimeoutPhase::Response))
            .and_then(|()| {
                let head = wire.head();
                lock(&self.trace).first_byte_at = wire.source_mut().first_byte_at;
                head.map_err(|e| read_error(e, TimeoutPhase::Response))
            })?;
        Ok(Response {
            status: head.status,
            framing: head.framing,
            wire,
        })
    }

    /// A TCP connection to the first address that takes one, noted in the trace.
    fn connect(&self, deadline: Instant) -> Result<TcpStream, HttpError> {
        if self.settings.addresses.is_empty() {
            return Err(HttpError::NoAddress);
        }
        for addr in self.settings.addresses.iter().take(MAX_ADDRESSES) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match connect::connect(*addr, self.settings.source, left) {
                Ok(connected) => {
                    // As curl and Go do: TLS's Finished and the request are two small writes,
                    // and Nagle would hold the second for the server's delayed ACK (~40 ms).
                    let _ = connected.stream.set_nodelay(true);
                    let mut trace = lock(&self.trace);
                    trace.peer = Some(*addr);
                    trace.local = connected.local;
                    trace.connect = Some(connected.elapsed);
                    trace.connected_at = Some(Instant::now());
                    trace.connect_failure = None;
                    return Ok(connected.stream);
                }
                Err(f) => {
                    let timed_out = f.outcome == TcpOutcome::Timeout;
                    let mut trace = lock(&self.trace);
                    trace.peer = Some(*addr);
                    trace.local = f.local;
                    trace.connect_failure = Some(ConnectFailure {
                        outcome: f.outcome,
                        icmp: f.icmp,
                        detail: f.error.to_string(),
                    });
                    if timed_out {
                        break;
                    }
                }
            }
        }
        if lock(&self.trace).connect_failure.is_some() {
            Err(HttpError::Connect)
        } else {
            Err(HttpError::Timeout(TimeoutPhase::Connect))
        }
    }

    /// The TLS handshake on `sock`, within the connect deadline: the server named by the
    /// URL's host (a DNS name for SNI and the certificate check, or an IP address).
    fn handshake(&self, url: &HttpUrl, mut sock: Sock) -> Result<Conn, HttpError> {
        let config = self
            .tls
            .get_or_init(|| tls::client_config(&self.settings.trust))
            .clone()
            .map_err(tls_error)?;
        let host = url.bare_host();
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_string())
                .map_err(|e| HttpError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?,
        };
        let mut conn = ClientConnection::new(config, name).map_err(tls_error)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)
                .map_err(|e| match timed_out(&e) {
                    true => HttpError::Timeout(TimeoutPhase::Connect),
                    false => HttpError::Tls(e),
                })?;
        }
        Ok(Conn::Tls(Box::new(StreamOwned::new(conn, sock))))
    }
}

fn tls_error(e: rustls::Error) -> HttpError {
    HttpError::Tls(io::Error::new(io::ErrorKind::InvalidData, e))
}

fn send(timed: &mut Timed, request: &[u8]) -> io::Result<()> {
    timed.conn.write_all(request)?;
    timed.conn.flush()
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The peer went away (reset, or end of stream where more was due).
fn closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// How a socket or TLS error in `phase` is reported. A TLS stream that ends without
/// close_notify (rustls: UnexpectedEof) is `closed`, as it was with ureq: it can only happen
/// while more was due, the head or a body that ends with the connection (neither length nor
/// chunks), and such a body could have been cut by anyone on the path. A body framed by
/// Content-Length or chunks ends before the connection does, and nothing is read after it,
/// so a server that then closes without close_notify is fine (as curl takes it).
fn io_error(e: io::Error, phase: TimeoutPhase) -> HttpError {
    if timed_out(&e) {
        HttpError::Timeout(phase)
    } else if closed(&e) {
        HttpError::Closed(ReadError::Io(e))
    } else if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        HttpError::Tls(e)
    } else {
        HttpError::Io(e)
    }
}

fn read_error(e: ReadError, phase: TimeoutPhase) -> HttpError {
    match e {
        ReadError::Io(e) => io_error(e, phase),
        ReadError::Wire(_) | ReadError::HeadTooLarge => HttpError::Protocol(e),
        ReadError::EndInHead | ReadError::EndInBody => HttpError::Closed(e),
    }
}

/// A response whose head has arrived; the body is read with [`Response::read`].
pub struct Response {
    pub status: u16,
    framing: Framing,
    wire: Wire<Timed>,
}

impl Response {
    /// The body length the server declared (not for chunked or close-delimited bodies).
    pub fn declared_length(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(n) => Some(n),
            _ => None,
        }
    }

    /// Reads body bytes into `out`: 0 at its end.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, HttpError> {
        self.wire
            .body(out)
            .map_err(|e| read_error(e, TimeoutPhase::Body))
    }

    /// The body's first `max` bytes at most (its end may lie beyond them), and the error
    /// (a deadline, a cut, a reset) that ended it before its end or `max`, if one did.
    pub fn read_capped(&mut self, max: u64) -> (Vec<u8>, Option<HttpError>) {
        let mut body = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        while (body.len() as u64) < max {
            let want = chunk.len().min((max - body.len() as u64) as usize);
            match self.read(chunk.get_mut(..want).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) => return (body, Some(e)),
            }
        }
        (body, None)
    }
}

/// The TCP socket under its current deadline: every read and write waits at most the time
/// left, and none starts once it has passed.
struct Sock {
    stream: TcpStream,
    deadline: Instant,
}

impl Sock {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(left)
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        self.stream.read(buf)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Plain or TLS.
enum Conn {
    Plain(Sock),
    Tls(Box<StreamOwned<ClientConnection, Sock>>),
}

impl Conn {
    fn sock_mut(&mut self) -> &mut Sock {
        match self {
            Conn::Plain(sock) => sock,
            Conn::Tls(tls) => &mut tls.sock,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(sock) => sock.read(buf),
            Conn::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(sock) => sock.write(buf),
            Conn::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(sock) => sock.flush(),
            Conn::Tls(tls) => tls.flush(),
        }
    }
}

/// The connection, noting when the first response byte (after TLS: plaintext) arrived.
struct Timed {
    conn: Conn,
    first_byte_at: Option<Instant>,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.conn.read(buf)?;
        if n > 0 && self.first_byte_at.is_none() {
            self.first_byte_at = Some(Instant::now());
        }
        Ok(n)
    }
}
