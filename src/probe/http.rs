//! One HTTP GET on a new connection, classified: the status and body excerpt when it
//! answered, and otherwise how it failed, in the `tcp` vocabulary plus `tls`, `protocol`,
//! `closed`, and which deadline passed.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{self, Read};
use std::time::Instant;

use crate::dns::millis;
use crate::probe::agent::{Prober, Trace};
use crate::probe::tcp::icmp_report;
use crate::report::{HttpAttempt, HttpOutcome, HttpTiming, TcpOutcome, TimeoutPhase};

/// Bytes of each body shown in the report.
const EXCERPT_BYTES: usize = 200;

/// Identifies a body without keeping it: the responses of many attempts are compared.
pub type BodyKey = Option<(u16, u64)>;

/// One GET of `url` on a new connection, classified; `diagnose` samples with it too.
pub fn attempt(
    seq: u32,
    prober: &Prober,
    url: &str,
    max_body: u64,
    https: bool,
) -> (HttpAttempt, BodyKey) {
    let (attempt, body) = fetch(seq, prober, url, max_body, https);
    let key = body.map(|body| {
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        (attempt.status.unwrap_or_default(), hasher.finish())
    });
    (attempt, key)
}

/// [`attempt`], keeping the body (at most `max_body` bytes) when the whole of it arrived:
/// for callers that parse it (`node` reads kube-proxy's `/metrics`).
pub fn fetch(
    seq: u32,
    prober: &Prober,
    url: &str,
    max_body: u64,
    https: bool,
) -> (HttpAttempt, Option<Vec<u8>>) {
    let start = Instant::now();
    let result = prober.get(url);
    let mut attempt = HttpAttempt {
        seq,
        outcome: HttpOutcome::Response,
        timeout_phase: None,
        peer: None,
        local: None,
        status: None,
        timing: HttpTiming::default(),
        body_bytes: 0,
        body_truncated: false,
        body_excerpt: None,
        icmp: None,
        detail: None,
    };
    let mut kept = None;
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            attempt.status = Some(status);
            let mut reader = response.body_mut().as_reader();
            let (body, error) = read_capped(&mut reader, max_body);
            attempt.body_bytes = body.len() as u64;
            attempt.body_truncated = error.is_some()
                || body.len() as u64 >= max_body && {
                    // One byte more tells a body of exactly max_body from a longer one.
                    let mut probe = [0u8; 1];
                    matches!(reader.read(&mut probe), Ok(1))
                };
            attempt.body_excerpt = Some(excerpt(&body));
            match error {
                // A body cut short is no response: the backend failed mid-answer.
                Some(e) => {
                    (attempt.outcome, attempt.timeout_phase) = body_failure(&e);
                    attempt.detail = Some(format!("reading the body: {e}"));
                }
                None => kept = Some(body),
            }
        }
        Err(error) => classify_error(&mut attempt, &error, &prober.trace(), https),
    }
    let trace = prober.trace();
    fill_from_trace(&mut attempt, &trace, start);
    attempt.timing.total_ms = millis(start.elapsed());
    (attempt, kept)
}

/// Reads at most `max` bytes; an error (a deadline, a reset) ends the body early.
fn read_capped(reader: &mut impl Read, max: u64) -> (Vec<u8>, Option<io::Error>) {
    let mut body = Vec::new();
    let mut chunk = [0u8; 8192];
    while (body.len() as u64) < max {
        let want = chunk.len().min((max - body.len() as u64) as usize);
        match reader.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (body, Some(e)),
        }
    }
    (body, None)
}

fn excerpt(body: &[u8]) -> String {
    let cut = body.get(..EXCERPT_BYTES).unwrap_or(body);
    String::from_utf8_lossy(cut).trim().to_string()
}

fn fill_from_trace(attempt: &mut HttpAttempt, trace: &Trace, start: Instant) {
    attempt.peer = trace.peer.map(|p| p.to_string());
    attempt.local = trace.local.map(|l| l.to_string());
    attempt.timing.connect_ms = trace.connect.map(millis);
    if let (Some(connected), Some(tls)) = (trace.connected_at, trace.tls_done_at) {
        attempt.timing.tls_ms = Some(millis(tls.saturating_duration_since(connected)));
    }
    attempt.timing.first_byte_ms = trace
        .first_byte_at
        .map(|t| millis(t.saturating_duration_since(start)));
}

fn classify_error(attempt: &mut HttpAttempt, error: &ureq::Error, trace: &Trace, https: bool) {
    attempt.detail = Some(error.to_string());
    if let Some(failure) = &trace.connect_failure {
        attempt.outcome = HttpOutcome::from_connect(failure.outcome);
        attempt.icmp = failure.icmp.as_ref().map(icmp_report);
        attempt.detail = Some(failure.detail.clone());
        if failure.outcome == TcpOutcome::Timeout {
            attempt.timeout_phase = Some(TimeoutPhase::Connect);
        }
        return;
    }
    let handshaking = trace.connected_at.is_some() && https && trace.tls_done_at.is_none();
    let timeout = |t| {
        (
            HttpOutcome::Timeout,
            Some(timeout_phase(t, trace, handshaking)),
        )
    };
    (attempt.outcome, attempt.timeout_phase) = match error {
        ureq::Error::Timeout(t) => timeout(*t),
        ureq::Error::Io(e) if e.kind() == io::ErrorKind::TimedOut => timeout(ureq::Timeout::Global),
        _ if handshaking => (HttpOutcome::Tls, None),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => (HttpOutcome::Tls, None),
        ureq::Error::LargeResponseHeader(_, limit) => {
            attempt.detail = Some(format!("header too large (limit {limit} bytes)"));
            (HttpOutcome::Protocol, None)
        }
        ureq::Error::Protocol(_) => (HttpOutcome::Protocol, None),
        ureq::Error::Io(e) if closed(e) => (HttpOutcome::Closed, None),
        _ => (HttpOutcome::Error, None),
    };
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

/// How reading a body failed: a stall past the deadline, or a connection closed or reset
/// before the body was complete (ureq wraps its own errors in the `io::Error` of the reader).
fn body_failure(e: &io::Error) -> (HttpOutcome, Option<TimeoutPhase>) {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>());
    match inner {
        Some(ureq::Error::Timeout(_)) => (HttpOutcome::Timeout, Some(TimeoutPhase::Body)),
        Some(ureq::Error::Io(io)) if closed(io) => (HttpOutcome::Closed, None),
        Some(ureq::Error::Protocol(_)) => (HttpOutcome::Protocol, None),
        _ if matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ) =>
        {
            (HttpOutcome::Timeout, Some(TimeoutPhase::Body))
        }
        _ if closed(e) => (HttpOutcome::Closed, None),
        _ => (HttpOutcome::Error, None),
    }
}

fn timeout_phase(timeout: ureq::Timeout, trace: &Trace, handshaking: bool) -> TimeoutPhase {
    match timeout {
        ureq::Timeout::Connect | ureq::Timeout::Resolve => TimeoutPhase::Connect,
        ureq::Timeout::RecvBody => TimeoutPhase::Body,
        ureq::Timeout::SendRequest | ureq::Timeout::RecvResponse => TimeoutPhase::Response,
        _ if trace.connected_at.is_none() || handshaking => TimeoutPhase::Connect,
        _ if trace.first_byte_at.is_none() => TimeoutPhase::Response,
        _ => TimeoutPhase::Request,
    }
}
