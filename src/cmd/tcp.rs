//! `svcprobe tcp`: the guide's "can I connect to the ClusterIP / the pod IP?", with every
//! failed attempt saying *how* it failed (RST from the pod, ICMP from the node, silence).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use crate::cli::probes::{Host, Target, TcpArgs};
use crate::dns::millis;
use crate::dns::resolve::{self, Resolved};
use crate::error::Error;
use crate::net::{self, Outcome};
use crate::report::{
    Envelope, Finding, IcmpReport, LatencyStats, ProbeSummary, Severity, TcpAddressProbe,
    TcpAttempt, TcpReport, TcpTarget, SCHEMA_VERSION,
};

/// Probes running at once; each is one socket and one small thread.
const MAX_PARALLEL: usize = 16;
/// A name with more addresses (a big headless Service) is probed on the first ones only.
const MAX_ADDRESSES_PER_NAME: usize = 16;

pub fn run(args: &TcpArgs) -> Result<Envelope<TcpReport>, Error> {
    let start = Instant::now();
    let resolutions = parallel(&args.targets, |t| resolve_target(t, args))?;
    let jobs: Vec<(usize, SocketAddr)> = resolutions
        .iter()
        .enumerate()
        .flat_map(|(i, (_, addrs))| addrs.iter().map(move |a| (i, *a)))
        .collect();
    let probes = parallel(&jobs, |(_, addr)| Ok(probe_address(*addr, args)))?;
    let mut targets: Vec<TcpTarget> = args
        .targets
        .iter()
        .zip(resolutions)
        .map(|(t, (resolution, _))| TcpTarget {
            target: t.text.clone(),
            host: match &t.host {
                Host::Ip(ip) => ip.to_string(),
                Host::Name(n) => n.clone(),
            },
            port: t.port,
            resolution,
            addresses: Vec::new(),
        })
        .collect();
    for ((index, _), probe) in jobs.iter().zip(probes) {
        if let Some(target) = targets.get_mut(*index) {
            target.addresses.push(probe);
        }
    }
    let ok = targets.iter().all(|t| {
        !t.addresses.is_empty() && t.addresses.iter().all(|a| a.summary.success_ratio >= 1.0)
    });
    let findings = findings(&targets);
    Ok(Envelope {
        schema_version: SCHEMA_VERSION,
        command: "tcp",
        ok,
        report: TcpReport {
            count: args.count,
            interval_ms: args.interval.as_millis() as u64,
            timeout_ms: args.timeout.as_millis() as u64,
            source: args.source.map(|s| s.to_string()),
            targets,
            duration_ms: millis(start.elapsed()),
            findings,
        },
    })
}

type TargetAddrs = (Option<crate::report::Resolution>, Vec<SocketAddr>);

fn resolve_target(target: &Target, args: &TcpArgs) -> Result<TargetAddrs, Error> {
    match &target.host {
        Host::Ip(ip) => Ok((None, vec![SocketAddr::new(*ip, target.port)])),
        Host::Name(name) => {
            let Resolved { report, addresses } =
                resolve::resolve(name, &args.resolv_conf, args.timeout)?;
            let addrs = addresses
                .iter()
                .filter(|ip| family_matches(**ip, args.source))
                .take(MAX_ADDRESSES_PER_NAME)
                .map(|ip| SocketAddr::new(*ip, target.port))
                .collect();
            Ok((Some(report), addrs))
        }
    }
}

/// With `--source`, only addresses of the same family can be reached from it.
fn family_matches(ip: IpAddr, source: Option<IpAddr>) -> bool {
    source.is_none_or(|s| s.is_ipv4() == ip.is_ipv4())
}

fn probe_address(addr: SocketAddr, args: &TcpArgs) -> TcpAddressProbe {
    let mut attempts = Vec::with_capacity(args.count as usize);
    for seq in 1..=args.count {
        if seq > 1 {
            thread::sleep(args.interval);
        }
        attempts.push(attempt(seq, addr, args));
    }
    let summary = summarize(
        attempts.iter().map(|a| (a.outcome, a.duration_ms)),
        Outcome::Connected.as_str(),
    );
    TcpAddressProbe {
        address: addr.to_string(),
        attempts,
        summary,
    }
}

fn attempt(seq: u32, addr: SocketAddr, args: &TcpArgs) -> TcpAttempt {
    match net::connect(addr, args.source, args.timeout) {
        Ok(c) => TcpAttempt {
            seq,
            outcome: Outcome::Connected.as_str(),
            duration_ms: millis(c.elapsed),
            local: c.local.map(|l| l.to_string()),
            icmp: None,
            detail: None,
        },
        Err(f) => TcpAttempt {
            seq,
            outcome: f.outcome.as_str(),
            duration_ms: millis(f.elapsed),
            local: f.local.map(|l| l.to_string()),
            icmp: f.icmp.as_ref().map(icmp_report),
            detail: Some(f.error.to_string()),
        },
    }
}

pub fn icmp_report(icmp: &net::Icmp) -> IcmpReport {
    IcmpReport {
        from: icmp.from.to_string(),
        icmp_type: icmp.icmp_type,
        code: icmp.code,
        description: icmp.describe(),
    }
}

/// Outcome counts, success ratio and latency stats of the successful attempts.
pub fn summarize<'a>(
    attempts: impl Iterator<Item = (&'a str, f64)>,
    success: &str,
) -> ProbeSummary {
    let mut outcomes: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut total = 0u32;
    for (outcome, ms) in attempts {
        total += 1;
        *outcomes.entry(static_outcome(outcome)).or_default() += 1;
        if outcome == success {
            latencies.push(ms);
        }
    }
    ProbeSummary {
        attempts: total,
        outcomes,
        success_ratio: if total == 0 {
            0.0
        } else {
            f64::from(latencies.len() as u32) / f64::from(total)
        },
        latency: latency_stats(&mut latencies),
    }
}

/// The outcome vocabularies are fixed; anything else (never expected) counts as `error`.
fn static_outcome(outcome: &str) -> &'static str {
    const KNOWN: [&str; 11] = [
        "connected",
        "refused",
        "rejected",
        "timeout",
        "no-route",
        "error",
        "response",
        "tls",
        "protocol",
        "closed",
        "invalid",
    ];
    KNOWN.into_iter().find(|k| *k == outcome).unwrap_or("error")
}

/// Nearest-rank percentiles: every value reported is one that was measured.
pub fn latency_stats(values: &mut [f64]) -> Option<LatencyStats> {
    values.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let n = values.len();
        let index = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        values.get(index).copied()
    };
    Some(LatencyStats {
        min_ms: *values.first()?,
        median_ms: rank(0.5)?,
        p90_ms: rank(0.9)?,
        max_ms: *values.last()?,
    })
}

/// Runs `f` on every item with at most [`MAX_PARALLEL`] threads; results keep input order.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, Error> + Sync,
) -> Result<Vec<R>, Error> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R, Error>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    let workers = items.len().clamp(1, MAX_PARALLEL);
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else { break };
                let result = f(item);
                if let Ok(mut slots) = results.lock() {
                    if let Some(slot) = slots.get_mut(index) {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Error::Io {
                    what: "run a probe".into(),
                    source: std::io::Error::other("its thread ended without a result"),
                })
            })
        })
        .collect()
}

fn findings(targets: &[TcpTarget]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut push = |severity, code, message| findings.push(Finding::new(severity, code, message));
    for target in targets {
        if let Some(r) = &target.resolution {
            if target.addresses.is_empty() {
                push(
                    Severity::Error,
                    "name-not-resolved",
                    format!("{} did not resolve ({}): {}", r.name, r.status, r.reason),
                );
            }
        }
        for probe in &target.addresses {
            let s = &probe.summary;
            let count = |o: &str| s.outcomes.get(o).copied().unwrap_or(0);
            let partial = s.success_ratio > 0.0 && s.success_ratio < 1.0;
            if partial {
                push(
                    Severity::Error,
                    "some-attempts-failed",
                    format!(
                        "{}: {} of {} attempts connected; the others {}: if this is a Service \
                         IP, one of its endpoints is probably not serving",
                        probe.address,
                        count("connected"),
                        s.attempts,
                        failure_words(s)
                    ),
                );
                continue;
            }
            if count("rejected") > 0 {
                let from: Vec<String> = probe
                    .attempts
                    .iter()
                    .filter_map(|a| a.icmp.as_ref())
                    .map(|i| format!("{} from {}", i.description, i.from))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let dest_ip = probe.address.rsplit_once(':').map(|(ip, _)| ip);
                let by_other = probe
                    .attempts
                    .iter()
                    .filter_map(|a| a.icmp.as_ref())
                    .any(|i| Some(i.from.as_str()) != dest_ip.map(|d| d.trim_matches(['[', ']'])));
                let why = if by_other {
                    "another host rejected the connection (ICMP): kube-proxy answers this way \
                     for a Service that has no ready endpoints; check the Service's selector \
                     and its EndpointSlices"
                } else {
                    "the destination's firewall rejected the connection (ICMP)"
                };
                push(
                    Severity::Error,
                    "rejected",
                    format!("{}: {} ({})", probe.address, why, from.join(", ")),
                );
            }
            if count("refused") > 0 && !partial {
                push(
                    Severity::Error,
                    "refused",
                    format!(
                        "{}: the destination answered with a TCP reset: nothing listens on that \
                         port (for a Service: is targetPort the port the pods listen on?)",
                        probe.address
                    ),
                );
            }
            if count("timeout") > 0 && !partial {
                push(
                    Severity::Error,
                    "timeout",
                    format!(
                        "{}: no answer within the deadline: packets are dropped (a \
                         NetworkPolicy, a firewall, missing kube-proxy rules, a dead node)",
                        probe.address
                    ),
                );
            }
            if count("no-route") > 0 && !partial {
                push(
                    Severity::Error,
                    "no-route",
                    format!(
                        "{}: this pod has no route (or no neighbour) for the address",
                        probe.address
                    ),
                );
            }
        }
    }
    findings
}

fn failure_words(s: &ProbeSummary) -> String {
    s.outcomes
        .iter()
        .filter(|(o, _)| **o != "connected" && **o != "response")
        .map(|(o, n)| format!("{n} {o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=10).map(f64::from).collect();
        v.reverse();
        let s = latency_stats(&mut v).unwrap();
        assert_eq!(
            (s.min_ms, s.median_ms, s.p90_ms, s.max_ms),
            (1.0, 5.0, 9.0, 10.0)
        );
        let s = latency_stats(&mut [7.0]).unwrap();
        assert_eq!(
            (s.min_ms, s.median_ms, s.p90_ms, s.max_ms),
            (7.0, 7.0, 7.0, 7.0)
        );
        assert_eq!(latency_stats(&mut []), None);
    }

    #[test]
    fn summary_counts_outcomes() {
        let s = summarize(
            [("connected", 1.0), ("refused", 0.1), ("connected", 3.0)].into_iter(),
            "connected",
        );
        assert_eq!(s.attempts, 3);
        assert_eq!(s.outcomes.get("refused"), Some(&1));
        assert!((s.success_ratio - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.latency.unwrap().max_ms, 3.0);
    }
}
