//! One HTTP GET on a new connection, classified: the status and body excerpt when it
//! answered, and otherwise how it failed, in the `tcp` vocabulary plus `tls`, `protocol`,
//! `closed`, and which deadline passed.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Instant;

use crate::dns::millis;
use crate::probe::agent::{HttpError, Prober, Trace};
use crate::probe::tcp::icmp_report;
use crate::probe::url::HttpUrl;
use crate::report::{HttpAttempt, HttpOutcome, HttpTiming, TcpOutcome, TimeoutPhase};

/// Bytes of each body shown in the report.
const EXCERPT_BYTES: usize = 200;

/// Identifies a body without keeping it: the responses of many attempts are compared.
pub type BodyKey = Option<(u16, u64)>;

/// One GET of `url` on a new connection, classified; `diagnose` samples with it too.
pub fn attempt(seq: u32, prober: &Prober, url: &HttpUrl, max_body: u64) -> (HttpAttempt, BodyKey) {
    let (attempt, body) = get(seq, prober, url, max_body);
    let key = body.map(|body| {
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        (attempt.status.unwrap_or_default(), hasher.finish())
    });
    (attempt, key)
}

/// [`attempt`], keeping the body when the whole of it arrived within `max_body` bytes: for
/// callers that parse it (`node` reads kube-proxy's `/metrics`), to whom a body cut at the
/// cap could say something else (a number cut short).
pub fn fetch(
    seq: u32,
    prober: &Prober,
    url: &HttpUrl,
    max_body: u64,
) -> (HttpAttempt, Option<Vec<u8>>) {
    let (attempt, body) = get(seq, prober, url, max_body);
    let whole = body.filter(|_| !attempt.body_truncated);
    (attempt, whole)
}

/// One GET, classified, and the body's first `max_body` bytes when it was not cut short
/// (more may have been due past them: `body_truncated`).
fn get(seq: u32, prober: &Prober, url: &HttpUrl, max_body: u64) -> (HttpAttempt, Option<Vec<u8>>) {
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
            attempt.status = Some(response.status);
            let (body, error) = response.read_capped(max_body);
            attempt.body_bytes = body.len() as u64;
            attempt.body_truncated = error.is_some()
                || body.len() as u64 >= max_body && {
                    // One read more tells a body of exactly max_body (its end follows) from
                    // a longer one: a byte, or a cut, reset or deadline before the end.
                    let mut probe = [0u8; 1];
                    !matches!(response.read(&mut probe), Ok(0))
                };
            attempt.body_excerpt = Some(excerpt(&body));
            match error {
                // A body cut short is no response: the backend failed mid-answer.
                Some(e) => {
                    (attempt.outcome, attempt.timeout_phase) = outcome(&e);
                    attempt.detail = Some(format!("reading the body: {e}"));
                }
                None => kept = Some(body),
            }
        }
        Err(error) => classify_error(&mut attempt, &error, &prober.trace()),
    }
    let trace = prober.trace();
    fill_from_trace(&mut attempt, &trace, start);
    attempt.timing.total_ms = millis(start.elapsed());
    (attempt, kept)
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

fn classify_error(attempt: &mut HttpAttempt, error: &HttpError, trace: &Trace) {
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
    (attempt.outcome, attempt.timeout_phase) = outcome(error);
}

/// The outcome of a request that failed after its connect.
fn outcome(error: &HttpError) -> (HttpOutcome, Option<TimeoutPhase>) {
    match error {
        HttpError::Timeout(phase) => (HttpOutcome::Timeout, Some(*phase)),
        HttpError::Tls(_) => (HttpOutcome::Tls, None),
        HttpError::Protocol(_) => (HttpOutcome::Protocol, None),
        HttpError::Closed(_) => (HttpOutcome::Closed, None),
        HttpError::NoAddress | HttpError::Connect | HttpError::Io(_) => (HttpOutcome::Error, None),
    }
}
