//! The guide's connectivity steps: "wget the ClusterIP a few times and see which pods
//! answer", and "wget each pod IP directly on its targetPort". Attempts run concurrently
//! (a few threads, each with its own connections), every one under the per-attempt
//! timeout cut to what is left of the command's deadline.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::verdict::{Direct, Tally};
use crate::dns::millis;
use crate::dns::transport::Outcome;
use crate::hairpin;
use crate::k8s::Backend;
use crate::probe::agent::{Prober, Settings};
use crate::probe::connect;
use crate::probe::pool::{self, SpawnError};
use crate::probe::stats::latency_stats;
use crate::probe::udp::{self, Heard};
use crate::probe::url::HttpUrl;
use crate::report::{
    listed, Check, CheckId, CheckStatus, ClusterIpEvidence, DirectEndpoint,
    EndpointsDirectEvidence, Evidence, HairpinEvidence, HairpinStatus, ProbeProtocol,
    SampleOutcome, UdpEndpointsEvidence, UdpEvidence,
};
use crate::text::{count, of};

/// Threads used for the ClusterIP samples: enough to finish 20 samples in one round trip
/// or two, few enough not to look like a flood.
const MAX_PARALLEL: usize = 10;
/// Bytes of a response body kept as the backend's identity (serve_hostname's hostname).
const IDENTITY_BYTES: u64 = 256;

pub struct Plan {
    pub vip: Option<String>,
    pub port: u16,
    /// Send GET / on each connection to learn which backend answered.
    pub http: bool,
    /// The Service port is UDP: a DNS question when it is port 53 (`Some(name)`), else
    /// nothing to speak (`Some(None)`): one datagram for the ICMP it may draw.
    pub udp: Option<Option<String>>,
    pub backends: Vec<Backend>,
    /// Why `backends` is empty, when it is: the skip reason of `endpoints-direct`.
    pub no_backends: String,
    pub pod_ip: Option<String>,
    pub samples: usize,
    pub timeout: Duration,
    pub deadline: Instant,
}

pub struct ReachResult {
    pub checks: Vec<Check>,
    pub cluster_ip: Option<Tally>,
    pub direct: Vec<Direct>,
    /// Endpoints known but not probed directly before the deadline.
    pub not_probed: usize,
    pub hairpin_ok: Option<bool>,
}

/// One connection attempt, reduced to what the checks compare.
#[derive(Clone, Debug)]
struct Attempt {
    outcome: SampleOutcome,
    /// The host that sent an ICMP error.
    icmp_from: Option<String>,
    /// The first line of the HTTP body: which backend answered.
    identity: Option<String>,
    status: Option<u16>,
    ms: f64,
}

pub fn run(plan: &Plan) -> ReachResult {
    if let Some(None) = &plan.udp {
        return udp_unspoken(plan);
    }
    let vip = plan
        .vip
        .as_deref()
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, plan.port));
    // This pod's own endpoint is not probed directly: from inside the pod that is a local
    // connection, which says nothing about the network (the hairpin check covers it).
    let direct_targets: Vec<(SocketAddr, Option<String>)> = plan
        .backends
        .iter()
        .filter(|b| plan.pod_ip.as_ref() != Some(&b.ip))
        .filter_map(|b| {
            b.ip.parse::<IpAddr>()
                .ok()
                .map(|ip| (SocketAddr::new(ip, b.port), b.pod.clone()))
        })
        .collect();
    // This pod's own endpoint (its port is the targetPort), when it is one.
    let own = plan
        .pod_ip
        .as_ref()
        .and_then(|ip| plan.backends.iter().find(|b| &b.ip == ip));
    // Three fan-outs at once: the hairpin probe, the ClusterIP samples, every endpoint.
    let hairpin_job = || match (vip, own) {
        (Some(addr), Some(own)) => Some(hairpin(addr, own, plan)),
        _ => None,
    };
    let samples_job = || vip.map(|addr| samples(addr, plan));
    let direct_job = || {
        pool::map(
            &direct_targets,
            pool::MAX_WORKERS,
            Some(plan.deadline),
            |(addr, _)| one(*addr, plan),
        )
    };
    let (hairpin, (samples, direct, spawn_b), spawn_a) =
        pool::join(hairpin_job, || pool::join(samples_job, direct_job));
    let samples_spawn = samples.as_ref().and_then(|s| s.1.as_ref());
    let thread_error = [
        spawn_a.as_ref(),
        spawn_b.as_ref(),
        direct.spawn_error.as_ref(),
    ]
    .into_iter()
    .chain([samples_spawn])
    .flatten()
    .map(ToString::to_string)
    .next();
    let mut checks = Vec::new();
    let cluster_ip = match (vip, samples) {
        // Nothing is claimed of a ClusterIP that no attempt reached before the deadline.
        (Some(addr), Some((samples, _))) if samples.is_empty() => {
            checks.push(skip(
                CheckId::ClusterIp,
                format!("{addr}: no connection could start before the deadline"),
            ));
            None
        }
        (Some(addr), Some((samples, _))) => {
            let (check, tally) = cluster_ip(addr, wire(plan), &samples);
            checks.push(check);
            Some(tally)
        }
        _ => {
            checks.push(skip(
                CheckId::ClusterIp,
                "no ClusterIP to probe: the name did not resolve and no objects give it (or the Service is headless)".into(),
            ));
            None
        }
    };
    // Endpoints not started before the deadline are listed apart: nothing is claimed of them.
    let mut not_probed = Vec::new();
    let mut probed = Vec::new();
    for ((addr, pod), attempt) in direct_targets.iter().zip(direct.results) {
        match attempt {
            Some(attempt) => probed.push(Direct {
                address: addr.to_string(),
                pod: pod.clone(),
                tally: tally(std::slice::from_ref(&attempt)),
            }),
            None => not_probed.push(addr.to_string()),
        }
    }
    checks.push(endpoints_direct(&probed, &not_probed, plan, thread_error));
    let direct = probed;
    let (hairpin, hairpin_ok) = match hairpin {
        Some((check, ok)) => (check, ok),
        None if plan.backends.is_empty() => (
            skip(
                CheckId::Hairpin,
                format!(
                    "no endpoint to compare this pod with; {}",
                    plan.no_backends
                ),
            ),
            None,
        ),
        None if own.is_some() => (
            skip(
                CheckId::Hairpin,
                "no ClusterIP to reach this pod through".into(),
            ),
            None,
        ),
        None => (
            skip(CheckId::Hairpin, "this pod is not an endpoint of the Service: hairpin only matters from a backend pod".into()),
            None,
        ),
    };
    checks.push(hairpin);
    ReachResult {
        checks,
        cluster_ip,
        direct,
        not_probed: not_probed.len(),
        hairpin_ok,
    }
}

/// `plan.samples` attempts at `addr`, a few at a time. After a slow failure (timeout, ICMP
/// reject) no new one starts: a dead address needs no more samples, and the deadline is
/// better spent elsewhere.
fn samples(addr: SocketAddr, plan: &Plan) -> (Vec<Attempt>, Option<SpawnError>) {
    let slow_failure = AtomicBool::new(false);
    let indexes: Vec<usize> = (0..plan.samples).collect();
    let pooled = pool::map(&indexes, MAX_PARALLEL, Some(plan.deadline), |_| {
        if slow_failure.load(Ordering::Relaxed) {
            return None;
        }
        let attempt = one(addr, plan);
        if matches!(
            attempt.outcome,
            SampleOutcome::Timeout | SampleOutcome::Rejected | SampleOutcome::Deadline
        ) {
            slow_failure.store(true, Ordering::Relaxed);
        }
        Some(attempt)
    });
    let attempts = pooled.results.into_iter().flatten().flatten().collect();
    (attempts, pooled.spawn_error)
}

/// One connection (and, for HTTP, one GET on it), under the per-attempt timeout cut to
/// what is left of the command's deadline.
fn one(addr: SocketAddr, plan: &Plan) -> Attempt {
    let Some(left) = plan
        .deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
    else {
        return Attempt {
            outcome: SampleOutcome::Deadline,
            icmp_from: None,
            identity: None,
            status: None,
            ms: 0.0,
        };
    };
    let timeout = left.min(plan.timeout);
    if let Some(Some(name)) = &plan.udp {
        return dns_attempt(addr, name, timeout);
    }
    if plan.http {
        let prober = Prober::new(&Settings::plain(addr, timeout));
        let url = HttpUrl::http(addr, "/");
        let (attempt, _) = crate::probe::http::attempt(0, &prober, &url, IDENTITY_BYTES);
        return Attempt {
            outcome: attempt.outcome.into(),
            icmp_from: attempt.icmp.map(|i| i.from),
            identity: attempt
                .body_excerpt
                .map(|b| b.lines().next().unwrap_or_default().trim().to_string()),
            status: attempt.status,
            ms: attempt.timing.total_ms,
        };
    }
    match connect::connect(addr, None, timeout) {
        Ok(connected) => Attempt {
            outcome: SampleOutcome::Ok,
            icmp_from: None,
            identity: None,
            status: None,
            ms: millis(connected.elapsed),
        },
        Err(failure) => Attempt {
            outcome: failure.outcome.into(),
            icmp_from: failure.icmp.map(|i| i.from.to_string()),
            identity: None,
            status: None,
            ms: millis(failure.elapsed),
        },
    }
}

/// `hairpin`: the hairpin probe from this pod, which backs the Service through `own`.
fn hairpin(vip: SocketAddr, own: &Backend, plan: &Plan) -> (Check, Option<bool>) {
    let left = plan.deadline.saturating_duration_since(Instant::now());
    let config = hairpin::Config {
        count: hairpin::DEFAULT_COUNT,
        timeout: hairpin::DEFAULT_TIMEOUT.min(left),
        deadline: left,
        target_port: Some(own.port),
        endpoints: u32::try_from(plan.backends.iter().filter(|b| b.ready).count())
            .ok()
            .filter(|n| *n > 0),
    };
    let report = match hairpin::probe(vip, &config) {
        Ok(report) => report,
        Err(e) => {
            return (
                skip(
                    CheckId::Hairpin,
                    format!("the hairpin probe could not run: {e}"),
                ),
                None,
            )
        }
    };
    let (status, ok) = match report.verdict.status {
        HairpinStatus::Pass => (CheckStatus::Pass, Some(true)),
        HairpinStatus::Fail => (CheckStatus::Fail, Some(false)),
        HairpinStatus::Inconclusive => (CheckStatus::Warn, None),
    };
    let check = Check {
        id: CheckId::Hairpin,
        status,
        summary: report.verdict.summary.clone(),
        hint: report.verdict.hint.clone(),
        duration_ms: report.duration_ms,
        evidence: Evidence::Hairpin(HairpinEvidence {
            summary: report.summary,
            verdict: report.verdict,
        }),
    };
    (check, ok)
}

fn tally(attempts: &[Attempt]) -> Tally {
    let mut t = Tally {
        attempts: attempts.len(),
        ..Tally::default()
    };
    for a in attempts {
        match a.outcome {
            SampleOutcome::Ok => t.ok += 1,
            SampleOutcome::Refused | SampleOutcome::Closed => t.refused += 1,
            SampleOutcome::Rejected => {
                t.rejected += 1;
                if let Some(from) = &a.icmp_from {
                    if !t.rejected_by.contains(from) {
                        t.rejected_by.push(from.clone());
                    }
                }
            }
            SampleOutcome::Timeout | SampleOutcome::Deadline => t.timeout += 1,
            SampleOutcome::Error
            | SampleOutcome::NoRoute
            | SampleOutcome::Protocol
            | SampleOutcome::Tls => t.other += 1,
        }
    }
    t
}

fn outcome_counts(attempts: &[Attempt]) -> BTreeMap<SampleOutcome, usize> {
    let mut counts = BTreeMap::new();
    for a in attempts {
        *counts.entry(a.outcome).or_default() += 1;
    }
    counts
}

/// `cluster-ip`: the samples sent to the Service IP, which backends answered, how fast.
fn cluster_ip(addr: SocketAddr, wire: Wire, samples: &[Attempt]) -> (Check, Tally) {
    let t = tally(samples);
    let mut backends: BTreeMap<String, usize> = BTreeMap::new();
    for identity in samples.iter().filter_map(|a| a.identity.clone()) {
        *backends.entry(identity).or_default() += 1;
    }
    let mut latencies: Vec<f64> = samples
        .iter()
        .filter(|a| a.outcome == SampleOutcome::Ok)
        .map(|a| a.ms)
        .collect();
    let seen = if backends.is_empty() {
        String::new()
    } else {
        format!(
            ", {}",
            count(backends.len(), "distinct backend", "distinct backends")
        )
    };
    let (status, summary, hint) = if t.all_ok() {
        (
            CheckStatus::Pass,
            format!("{addr}: {} answered{seen}", of(t.ok, t.attempts)),
            None,
        )
    } else if t.ok > 0 {
        (
            CheckStatus::Warn,
            format!(
                "{addr}: {} answered{seen}; {}",
                of(t.ok, t.attempts),
                describe_failures(samples)
            ),
            Some(format!(
                "some backends fail: see {}",
                CheckId::EndpointsDirect
            )),
        )
    } else if t.rejected == t.attempts {
        (CheckStatus::Fail, format!("{addr}: every attempt rejected by {} (ICMP): no endpoints behind the Service", t.rejected_by.join(", ")), Some("kube-proxy REJECTs connections to a Service without endpoints: check the selector and the pods' readiness".into()))
    } else {
        (
            CheckStatus::Fail,
            format!("{addr}: nothing answered; {}", describe_failures(samples)),
            Some(format!(
                "compare with {}: if the pods answer directly, kube-proxy is at fault",
                CheckId::EndpointsDirect
            )),
        )
    };
    let evidence = Evidence::ClusterIp(ClusterIpEvidence {
        address: addr.to_string(),
        protocol: protocol(wire),
        samples: t.attempts,
        outcomes: outcome_counts(samples),
        backends,
        status_codes: status_codes(samples),
        rejected_by: t.rejected_by.clone(),
        latency_ms: latency_stats(&mut latencies),
    });
    (
        Check {
            id: CheckId::ClusterIp,
            status,
            summary,
            evidence,
            hint,
            duration_ms: samples.iter().map(|a| a.ms).fold(0.0, f64::max),
        },
        t,
    )
}

/// How often each HTTP status came back.
fn status_codes(attempts: &[Attempt]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for status in attempts.iter().filter_map(|a| a.status) {
        *counts.entry(status).or_default() += 1;
    }
    counts
}

fn describe_failures(attempts: &[Attempt]) -> String {
    outcome_counts(attempts)
        .into_iter()
        .filter(|(o, _)| *o != SampleOutcome::Ok)
        .map(|(o, n)| format!("{n} {o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Failing endpoints named in a summary; the evidence lists every one.
const NAMED_IN_SUMMARY: usize = 5;

/// `items` joined, the first [`NAMED_IN_SUMMARY`] of them, and how many more there are.
fn first_few(items: &[String]) -> String {
    let shown = items.get(..NAMED_IN_SUMMARY).unwrap_or(items).join(", ");
    match items.len().saturating_sub(NAMED_IN_SUMMARY) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

fn protocol(wire: Wire) -> ProbeProtocol {
    match wire {
        Wire::Http => ProbeProtocol::Http,
        Wire::Tcp => ProbeProtocol::Tcp,
        Wire::Dns => ProbeProtocol::Dns,
    }
}

/// What the attempts speak.
#[derive(Clone, Copy)]
enum Wire {
    Http,
    Tcp,
    Dns,
}

fn wire(plan: &Plan) -> Wire {
    match (&plan.udp, plan.http) {
        (Some(_), _) => Wire::Dns,
        (None, true) => Wire::Http,
        (None, false) => Wire::Tcp,
    }
}

/// One DNS question over UDP: any response (NXDOMAIN, SERVFAIL too) is the server
/// answering; a refusal is the ICMP port unreachable of a closed port.
fn dns_attempt(addr: SocketAddr, name: &str, timeout: Duration) -> Attempt {
    let question = crate::dns::wire::Question {
        name: name.to_string(),
        record_type: hickory_proto::rr::RecordType::A,
    };
    let sent = crate::dns::transport::udp(addr, std::slice::from_ref(&question), false, timeout);
    let (outcome, ms) = match sent.first() {
        Some(s) => (
            match &s.outcome {
                Outcome::Answered(_) => SampleOutcome::Ok,
                Outcome::Timeout => SampleOutcome::Timeout,
                Outcome::Unreachable(_) => SampleOutcome::Refused,
                Outcome::BadResponse(_) => SampleOutcome::Protocol,
                Outcome::Deadline => SampleOutcome::Deadline,
            },
            millis(s.elapsed),
        ),
        None => (SampleOutcome::Error, 0.0),
    };
    Attempt {
        outcome,
        icmp_from: None,
        identity: None,
        status: None,
        ms,
    }
}

/// A UDP port svcprobe speaks no protocol to: no reply can be expected, so nothing is
/// claimed of reachability; one datagram to the ClusterIP and to each endpoint shows the
/// ICMP errors it draws (nothing listening, kube-proxy's REJECT), which is evidence.
fn udp_unspoken(plan: &Plan) -> ReachResult {
    let wait = plan
        .deadline
        .saturating_duration_since(Instant::now())
        .min(plan.timeout)
        .min(Duration::from_secs(1));
    let why = format!(
        "UDP port {}: without an application reply svcprobe cannot confirm UDP reachability (it speaks DNS on port 53 only)",
        plan.port
    );
    let vip = plan
        .vip
        .as_deref()
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, plan.port));
    let targets: Vec<SocketAddr> = plan
        .backends
        .iter()
        .filter_map(|b| {
            b.ip.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, b.port))
        })
        .collect();
    let (vip_heard, endpoints, _) = pool::join(
        || vip.map(|addr| udp_evidence(addr, wait)),
        || {
            pool::map(&targets, pool::MAX_WORKERS, Some(plan.deadline), |a| {
                udp_evidence(*a, wait)
            })
        },
    );
    let unspoken = |id, evidence| Check {
        id,
        status: CheckStatus::Skip,
        summary: why.clone(),
        evidence,
        hint: None,
        duration_ms: millis(wait),
    };
    let cluster_ip = match vip_heard {
        Some(heard) => unspoken(CheckId::ClusterIp, Evidence::Udp(heard)),
        None => skip(CheckId::ClusterIp, "no ClusterIP to probe".into()),
    };
    let direct = unspoken(
        CheckId::EndpointsDirect,
        Evidence::UdpEndpoints(UdpEndpointsEvidence {
            endpoints: endpoints.results.into_iter().flatten().collect(),
        }),
    );
    ReachResult {
        checks: vec![
            cluster_ip,
            direct,
            skip(
                CheckId::Hairpin,
                format!("UDP port {}: the hairpin probe speaks TCP", plan.port),
            ),
        ],
        cluster_ip: None,
        direct: Vec::new(),
        not_probed: 0,
        hairpin_ok: None,
    }
}

fn udp_evidence(addr: SocketAddr, wait: Duration) -> UdpEvidence {
    let (heard, icmp, detail) = match udp::send_one(addr, wait) {
        Heard::Icmp(icmp) => ("icmp", Some(crate::probe::tcp::icmp_report(&icmp)), None),
        Heard::Reply => ("reply", None, None),
        Heard::Nothing => ("nothing", None, None),
        Heard::NotSent(e) => ("not-sent", None, Some(e)),
    };
    UdpEvidence {
        address: addr.to_string(),
        heard,
        icmp,
        detail,
    }
}

/// `endpoints-direct`: each endpoint on its targetPort, bypassing the Service.
fn endpoints_direct(
    direct: &[Direct],
    not_probed: &[String],
    plan: &Plan,
    thread_error: Option<String>,
) -> Check {
    if direct.is_empty() && not_probed.is_empty() {
        let why = if plan.backends.is_empty() {
            plan.no_backends.clone()
        } else {
            "the only endpoint is this pod, reached through the Service by the hairpin check".into()
        };
        return skip(CheckId::EndpointsDirect, why);
    }
    let answering = direct.iter().filter(|d| d.tally.ok > 0).count();
    let failing: Vec<String> = direct
        .iter()
        .filter(|d| d.tally.ok == 0)
        .map(|d| {
            let how = if d.tally.refused > 0 {
                SampleOutcome::Refused
            } else if d.tally.timeout > 0 {
                SampleOutcome::Timeout
            } else if d.tally.rejected > 0 {
                SampleOutcome::Rejected
            } else {
                SampleOutcome::Error
            };
            format!(
                "{} {how}",
                d.pod.clone().unwrap_or_else(|| d.address.clone())
            )
        })
        .collect();
    let (status, summary, hint) = if direct.is_empty() {
        (
            CheckStatus::Skip,
            "no endpoint could be probed before the deadline".to_string(),
            Some("give a longer --deadline".into()),
        )
    } else if failing.is_empty() && not_probed.is_empty() {
        (
            CheckStatus::Pass,
            match answering {
                1 => "the endpoint answers directly".to_string(),
                n => format!("all {n} endpoints answer directly"),
            },
            None,
        )
    } else if failing.is_empty() {
        (
            CheckStatus::Warn,
            format!("all {answering} probed endpoints answer directly"),
            None,
        )
    } else if answering > 0 {
        (
            CheckStatus::Fail,
            format!(
                "{answering} of {} endpoints answer; {}",
                direct.len(),
                first_few(&failing)
            ),
            Some("kubectl logs and describe the failing pods".into()),
        )
    } else {
        (CheckStatus::Fail, format!("no endpoint answers directly: {}", first_few(&failing)), Some("refused: nothing listens on the targetPort; timeout: packets to the pods are dropped".into()))
    };
    let summary = match not_probed.len() {
        0 => summary,
        n => format!(
            "{summary}; {n} of {} not probed before the deadline",
            direct.len() + n
        ),
    };
    let listed = listed(not_probed.iter().cloned());
    let evidence = Evidence::EndpointsDirect(EndpointsDirectEvidence {
        protocol: protocol(wire(plan)),
        endpoints: direct
            .iter()
            .map(|d| DirectEndpoint {
                address: d.address.clone(),
                pod: d.pod.clone(),
                ok: d.tally.ok > 0,
                refused: d.tally.refused,
                timeout: d.tally.timeout,
                rejected: d.tally.rejected,
            })
            .collect(),
        not_probed: listed.0,
        not_probed_not_listed: listed.1,
        thread_error,
    });
    Check {
        id: CheckId::EndpointsDirect,
        status,
        summary,
        evidence,
        hint,
        duration_ms: 0.0,
    }
}

fn skip(id: CheckId, why: String) -> Check {
    super::skip(id, why, None)
}
