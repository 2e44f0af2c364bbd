//! ureq with svcprobe's own name resolution and sockets plugged in, and a record of where
//! each request's time went.
//!
//! ureq does HTTP/1.1 and TLS; everything below it is ours: the addresses come from our
//! resolver (resolved once by the caller, so the DNS phase is measured apart), connects go
//! through [`connect::connect`] (so a failed connect is classified exactly as `tcp` classifies
//! it, ICMP sender included), and a last link in the connector chain notes when TLS finished
//! and when the first response byte arrived. These traits live in
//! `ureq::unversioned`, outside ureq's semver: Cargo.toml pins ureq's minor version.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, RustlsConnector, Transport,
};
use ureq::{Agent, Timeout};

use crate::probe::connect::{self, Icmp};
use crate::probe::tls::{self, Trust};
use crate::report::TcpOutcome;

/// ureq's buffer sizes; a response header larger than the input buffer is an error.
const INPUT_BUFFER: usize = 64 * 1024;
const OUTPUT_BUFFER: usize = 16 * 1024;
/// ureq keeps at most this many resolved addresses.
const MAX_RESOLVED: usize = 16;

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

/// What happened on the connection of the latest request, filled in by the connector
/// chain and the transport while ureq runs.
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

type SharedTrace = Arc<Mutex<Trace>>;

fn lock(trace: &SharedTrace) -> MutexGuard<'_, Trace> {
    // A poisoned trace only means a panic elsewhere; its data is still the best we have.
    trace.lock().unwrap_or_else(|e| e.into_inner())
}

/// An agent that makes a new connection for every request, and the trace it fills.
pub struct Prober {
    agent: Agent,
    trace: SharedTrace,
}

impl Prober {
    pub fn new(settings: &Settings) -> Prober {
        let trace = SharedTrace::default();
        let builder = TlsConfig::builder().unversioned_rustls_crypto_provider(tls::provider());
        let tls = match &settings.trust {
            Trust::Nothing => builder.disable_verification(true).build(),
            Trust::Roots { certificates, .. } => builder
                .root_certs(RootCerts::Specific(certificates.clone()))
                .build(),
        };
        let config = Config::builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .user_agent(concat!("svcprobe/", env!("CARGO_PKG_VERSION")))
            .timeout_global(Some(settings.timeout))
            .timeout_connect(Some(settings.connect_timeout))
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER)
            .max_response_header_size(INPUT_BUFFER)
            .tls_config(tls)
            .build();
        let connector = SocketConnector {
            source: settings.source,
            connect_timeout: settings.connect_timeout,
            trace: trace.clone(),
        }
        .chain(RustlsConnector::default())
        .chain(Finish {
            trace: trace.clone(),
        });
        let resolver = FixedResolver {
            addresses: settings.addresses.clone(),
        };
        Prober {
            agent: Agent::with_parts(config, connector, resolver),
            trace,
        }
    }

    /// Starts a new trace and sends GET `url`.
    pub fn get(&self, url: &str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        *lock(&self.trace) = Trace::default();
        self.agent.get(url).call()
    }

    /// GET `url` with `Authorization: Bearer TOKEN`, for the API server. The token goes
    /// into that header only.
    pub fn get_authorized(
        &self,
        url: &str,
        token: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        *lock(&self.trace) = Trace::default();
        self.agent
            .get(url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/json")
            .call()
    }

    /// The trace of the latest request so far.
    pub fn trace(&self) -> Trace {
        lock(&self.trace).clone()
    }
}

/// Hands ureq the addresses our resolver found.
#[derive(Debug)]
struct FixedResolver {
    addresses: Vec<SocketAddr>,
}

impl Resolver for FixedResolver {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut resolved = self.empty();
        for addr in self.addresses.iter().take(MAX_RESOLVED) {
            resolved.push(*addr);
        }
        if resolved.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(resolved)
    }
}

/// The first link: a TCP connection made by [`connect::connect`].
#[derive(Debug)]
struct SocketConnector {
    source: Option<IpAddr>,
    connect_timeout: Duration,
    trace: SharedTrace,
}

impl Connector for SocketConnector {
    type Out = SocketTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<SocketTransport>, ureq::Error> {
        let deadline = Instant::now()
            + details
                .timeout
                .not_zero()
                .map_or(self.connect_timeout, |d| *d);
        let mut failure = None;
        for addr in details.addrs.iter() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match connect::connect(*addr, self.source, left) {
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
                    return Ok(Some(SocketTransport {
                        stream: connected.stream,
                        buffers: LazyBuffers::new(INPUT_BUFFER, OUTPUT_BUFFER),
                        read_timeout: None,
                        write_timeout: None,
                    }));
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
                    failure = Some(if timed_out {
                        ureq::Error::Timeout(Timeout::Connect)
                    } else {
                        ureq::Error::Io(f.error)
                    });
                    if timed_out {
                        break;
                    }
                }
            }
        }
        Err(failure.unwrap_or(ureq::Error::Timeout(Timeout::Connect)))
    }
}

/// A blocking TCP stream under ureq's deadlines.
#[derive(Debug)]
struct SocketTransport {
    stream: TcpStream,
    buffers: LazyBuffers,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// The time left for one read or write; ureq's own error when none is left.
fn io_timeout(timeout: NextTimeout) -> Result<Duration, ureq::Error> {
    if timeout.after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    // `NotHappening` cannot occur (the agent always has a global deadline), but stay finite.
    Ok((*timeout.after).min(Duration::from_secs(3600)))
}

fn timeout_error(e: io::Error, reason: Timeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ureq::Error::Timeout(reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for SocketTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let left = io_timeout(timeout)?;
        if self.write_timeout != Some(left) {
            self.stream.set_write_timeout(Some(left))?;
            self.write_timeout = Some(left);
        }
        let output =
            self.buffers.output().get(..amount).ok_or_else(|| {
                ureq::Error::Io(io::Error::other("output larger than its buffer"))
            })?;
        (&self.stream)
            .write_all(output)
            .map_err(|e| timeout_error(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let left = io_timeout(timeout)?;
        if self.read_timeout != Some(left) {
            self.stream.set_read_timeout(Some(left))?;
            self.read_timeout = Some(left);
        }
        let buffer = self.buffers.input_append_buf();
        if buffer.is_empty() {
            // The whole input buffer holds an unfinished response head: that is the peer's
            // header over the limit, not the peer closing (a read into no room returns 0).
            return Err(ureq::Error::LargeResponseHeader(INPUT_BUFFER, INPUT_BUFFER));
        }
        let amount = loop {
            match (&self.stream).read(self.buffers.input_append_buf()) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.map_err(|e| timeout_error(e, timeout.reason))?,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // Never pooled (max_idle_connections 0): every request gets a new connection.
        false
    }
}

/// The last link: marks the end of connection set-up (TCP, then TLS if any) and wraps
/// the transport so that the first response byte is timed.
#[derive(Debug)]
struct Finish {
    trace: SharedTrace,
}

impl<In: Transport> Connector<In> for Finish {
    type Out = Timed<In>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Timed<In>>, ureq::Error> {
        let Some(inner) = chained else {
            return Ok(None);
        };
        if details.needs_tls() {
            lock(&self.trace).tls_done_at = Some(Instant::now());
        }
        Ok(Some(Timed {
            inner,
            trace: self.trace.clone(),
            seen_input: false,
        }))
    }
}

#[derive(Debug)]
struct Timed<T> {
    inner: T,
    trace: SharedTrace,
    seen_input: bool,
}

impl<T: Transport> Transport for Timed<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let progress = self.inner.await_input(timeout)?;
        if progress && !self.seen_input {
            self.seen_input = true;
            lock(&self.trace).first_byte_at = Some(Instant::now());
        }
        Ok(progress)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
