//! `svcprobe http`: the guide's "wget the ClusterIP a few times and see which pods answer",
//! with a new connection per attempt, timing phases, and every failure classified.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use crate::cli::probes::{Host, HttpArgs};
use crate::dns::millis;
use crate::dns::resolve;
use crate::error::Error;
use crate::probe::agent::{Prober, Settings};
use crate::probe::http::{attempt, BodyKey};
use crate::probe::stats::summarize;
use crate::probe::tls::Trust;
use crate::report::{
    DistinctResponse, Envelope, Finding, FindingCode, HttpAttempt, HttpOutcome, HttpReport,
    Resolution, Severity, TlsSettings, SCHEMA_VERSION,
};
use crate::text;

pub fn run(args: &HttpArgs) -> Result<Envelope<HttpReport>, Error> {
    let start = Instant::now();
    let trust = if !args.target.https {
        None
    } else if args.insecure {
        Some(Trust::Nothing)
    } else {
        Some(Trust::load(args.cacert.as_deref()).map_err(Error::Trust)?)
    };
    let (resolution, addresses) = addresses(args)?;
    let mut attempts = Vec::new();
    if !addresses.is_empty() {
        let prober = Prober::new(&Settings {
            addresses,
            source: args.source,
            connect_timeout: args.connect_timeout,
            timeout: args.timeout,
            trust: trust.clone().unwrap_or(Trust::Nothing),
        });
        let mut bodies = Vec::new();
        for seq in 1..=args.count {
            let (attempt, body_key) = attempt(seq, &prober, &args.target, args.max_body);
            attempts.push(attempt);
            bodies.push(body_key);
        }
        return Ok(report(args, start, trust, resolution, attempts, &bodies));
    }
    Ok(report(args, start, trust, resolution, attempts, &[]))
}

fn addresses(args: &HttpArgs) -> Result<(Option<Resolution>, Vec<SocketAddr>), Error> {
    match &args.host {
        Host::Ip(ip) => Ok((None, vec![SocketAddr::new(*ip, args.target.port)])),
        Host::Name(name) => {
            let resolved = resolve::resolve(name, &args.resolv_conf, args.timeout)?;
            let addrs = resolved
                .addresses
                .iter()
                .filter(|ip| args.source.is_none_or(|s| s.is_ipv4() == ip.is_ipv4()))
                .map(|ip| SocketAddr::new(*ip, args.target.port))
                .collect();
            Ok((Some(resolved.report), addrs))
        }
    }
}

fn report(
    args: &HttpArgs,
    start: Instant,
    trust: Option<Trust>,
    resolution: Option<Resolution>,
    attempts: Vec<HttpAttempt>,
    bodies: &[BodyKey],
) -> Envelope<HttpReport> {
    let summary = summarize(
        attempts.iter().map(|a| (a.outcome, a.timing.total_ms)),
        HttpOutcome::Response,
    );
    let mut status_codes: BTreeMap<u16, u32> = BTreeMap::new();
    for status in attempts.iter().filter_map(|a| a.status) {
        *status_codes.entry(status).or_default() += 1;
    }
    let responses = distinct_responses(&attempts, bodies);
    let ok = !attempts.is_empty()
        && attempts
            .iter()
            .all(|a| a.status.is_some_and(|s| s < 400) && a.outcome == HttpOutcome::Response);
    let tls = trust.map(|t| match t {
        Trust::Nothing => TlsSettings {
            verify: false,
            ca_file: None,
            ca_certificates: 0,
        },
        Trust::Roots { file, certificates } => TlsSettings {
            verify: true,
            ca_file: Some(file),
            ca_certificates: certificates.len(),
        },
    });
    let findings = findings(args, &resolution, &attempts, &responses, tls.as_ref());
    Envelope {
        schema_version: SCHEMA_VERSION,
        command: "http",
        ok,
        report: HttpReport {
            url: args.url.clone(),
            method: "GET",
            count: args.count,
            timeout_ms: args.timeout.as_millis() as u64,
            connect_timeout_ms: args.connect_timeout.as_millis() as u64,
            max_body_bytes: args.max_body,
            tls,
            resolution,
            attempts,
            summary,
            responses,
            status_codes,
            duration_ms: millis(start.elapsed()),
            findings,
        },
    }
}

fn distinct_responses(attempts: &[HttpAttempt], bodies: &[BodyKey]) -> Vec<DistinctResponse> {
    let mut seen: HashMap<(u16, u64), usize> = HashMap::new();
    let mut responses: Vec<DistinctResponse> = Vec::new();
    for (attempt, key) in attempts.iter().zip(bodies) {
        let Some(key) = key else { continue };
        match seen.get(key) {
            Some(&i) => {
                if let Some(r) = responses.get_mut(i) {
                    r.count += 1;
                }
            }
            None => {
                seen.insert(*key, responses.len());
                responses.push(DistinctResponse {
                    status: key.0,
                    body_excerpt: attempt.body_excerpt.clone().unwrap_or_default(),
                    count: 1,
                    share: 0.0,
                });
            }
        }
    }
    let total = attempts.len().max(1) as f64;
    for r in &mut responses {
        r.share = f64::from(r.count) / total;
    }
    // Most frequent first; ties in order of first appearance (the sort is stable).
    responses.sort_by_key(|r| std::cmp::Reverse(r.count));
    responses
}

fn findings(
    args: &HttpArgs,
    resolution: &Option<Resolution>,
    attempts: &[HttpAttempt],
    responses: &[DistinctResponse],
    tls: Option<&TlsSettings>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut push = |severity, code, message| findings.push(Finding::new(severity, code, message));
    if let Some(r) = resolution {
        if r.addresses.is_empty() {
            push(
                Severity::Error,
                FindingCode::NameNotResolved,
                format!("{} did not resolve ({}): {}", r.name, r.status, r.reason),
            );
        }
    }
    if tls.is_some_and(|t| !t.verify) {
        push(
            Severity::Warning,
            FindingCode::TlsNotVerified,
            "--insecure: the server's certificate was not checked".into(),
        );
    }
    let count = |outcome: HttpOutcome| attempts.iter().filter(|a| a.outcome == outcome).count();
    let failed = attempts.len() - count(HttpOutcome::Response);
    if failed > 0 && failed < attempts.len() {
        push(
            Severity::Error,
            FindingCode::SomeAttemptsFailed,
            format!(
                "{failed} of {} attempts got no response: if this is a Service, one of its \
                 endpoints is probably not serving",
                attempts.len()
            ),
        );
    }
    let why: &[(HttpOutcome, FindingCode, &str)] = &[
        (
            HttpOutcome::Refused,
            FindingCode::Refused,
            "the destination answered with a TCP reset: nothing listens on that port",
        ),
        (
            HttpOutcome::Rejected,
            FindingCode::Rejected,
            "a host on the way rejected the connection with ICMP (kube-proxy does this for a \
             Service without ready endpoints)",
        ),
        (
            HttpOutcome::Timeout,
            FindingCode::Timeout,
            "deadlines passed: packets dropped, or a server that does not answer (or stalls \
             mid-body)",
        ),
        (
            HttpOutcome::NoRoute,
            FindingCode::NoRoute,
            "this pod has no route to the address",
        ),
        (
            HttpOutcome::Tls,
            FindingCode::Tls,
            "the TLS handshake failed (certificate not trusted, wrong name, no key exchange or \
             cipher in common, not TLS; see the attempts' detail)",
        ),
        (
            HttpOutcome::Protocol,
            FindingCode::Protocol,
            "the server did not answer in HTTP (or sent a header too large)",
        ),
        (
            HttpOutcome::Closed,
            FindingCode::Closed,
            "the server closed or reset the connection before the whole response arrived",
        ),
    ];
    for (outcome, code, words) in why {
        let n = count(*outcome);
        if n > 0 {
            push(
                Severity::Error,
                *code,
                format!("{n} of {} attempts {outcome}: {words}", attempts.len()),
            );
        }
    }
    let server_errors = attempts
        .iter()
        .filter(|a| a.status.is_some_and(|s| s >= 400))
        .count();
    if server_errors > 0 {
        push(
            Severity::Error,
            FindingCode::ErrorStatus,
            format!(
                "{server_errors} of {} responses had a status of 400 or more",
                attempts.len()
            ),
        );
    }
    let answered = responses.iter().map(|r| r.count).sum::<u32>();
    if args.count > 1 && answered > 1 {
        push(
            Severity::Info,
            FindingCode::DistinctResponses,
            format!(
                "{} in {answered} answers (for a serve_hostname-like backend: that many \
                 pods answered)",
                text::count(responses.len(), "distinct response", "distinct responses")
            ),
        );
    }
    findings
}
