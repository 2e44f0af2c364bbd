//! `svcprobe tcp`: the guide's "can I connect to the ClusterIP / the pod IP?", with every
//! failed attempt saying *how* it failed (RST from the pod, ICMP from the node, silence).

use std::net::{IpAddr, SocketAddr};
use std::thread;
use std::time::Instant;

use crate::cli::probes::{Host, Target, TcpArgs};
use crate::dns::millis;
use crate::dns::resolve::{self, Resolved};
use crate::error::Error;
use crate::probe::pool::{self, SpawnError};
use crate::probe::stats::summarize;
use crate::probe::tcp::attempt;
use crate::report::TcpOutcome;
use crate::report::{
    Envelope, Finding, FindingCode, ProbeSummary, Severity, TcpAddressProbe, TcpReport, TcpTarget,
    SCHEMA_VERSION,
};

/// Probes running at once; each is one socket and one small thread.
const MAX_PARALLEL: usize = 16;
/// A name with more addresses (a big headless Service) is probed on the first ones only.
const MAX_ADDRESSES_PER_NAME: usize = 16;

pub fn run(args: &TcpArgs) -> Result<Envelope<TcpReport>, Error> {
    let start = Instant::now();
    let (resolutions, spawn_a) = parallel(&args.targets, |t| resolve_target(t, args));
    let resolutions = resolutions?;
    let jobs: Vec<(usize, SocketAddr)> = resolutions
        .iter()
        .enumerate()
        .flat_map(|(i, (_, addrs))| addrs.iter().map(move |a| (i, *a)))
        .collect();
    let (probes, spawn_b) = parallel(&jobs, |(_, addr)| Ok(probe_address(*addr, args)));
    let probes = probes?;
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
    let mut findings = findings(&targets, args.source);
    if let Some(e) = spawn_a.or(spawn_b) {
        findings.push(Finding::new(
            Severity::Warning,
            FindingCode::ThreadsLimited,
            e.to_string(),
        ));
    }
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
        attempts.push(attempt(seq, addr, args.source, args.timeout));
    }
    let summary = summarize(
        attempts.iter().map(|a| (a.outcome, a.duration_ms)),
        TcpOutcome::Connected,
    );
    TcpAddressProbe {
        address: addr.to_string(),
        attempts,
        summary,
    }
}

/// Runs `f` on every item with at most [`MAX_PARALLEL`] threads; results keep input order.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, Error> + Sync,
) -> (Result<Vec<R>, Error>, Option<SpawnError>) {
    // No deadline here (each probe has its own bound), so every item runs.
    let pooled = pool::map(items, MAX_PARALLEL, None, f);
    let results = pooled
        .results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Error::Io {
                    what: "run a probe".into(),
                    source: std::io::Error::other("it was never started"),
                })
            })
        })
        .collect();
    (results, pooled.spawn_error)
}

fn findings(targets: &[TcpTarget], source: Option<IpAddr>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut push = |severity, code, message| findings.push(Finding::new(severity, code, message));
    for target in targets {
        if let Some(why) = family_mismatch(target, source) {
            push(Severity::Error, FindingCode::SourceFamilyMismatch, why);
            continue;
        }
        if let Some(r) = &target.resolution {
            if target.addresses.is_empty() {
                push(
                    Severity::Error,
                    FindingCode::NameNotResolved,
                    format!("{} did not resolve ({}): {}", r.name, r.status, r.reason),
                );
            }
        }
        for probe in &target.addresses {
            let s = &probe.summary;
            let count = |o: TcpOutcome| s.outcomes.get(&o).copied().unwrap_or(0);
            let partial = s.success_ratio > 0.0 && s.success_ratio < 1.0;
            if partial {
                push(
                    Severity::Error,
                    FindingCode::SomeAttemptsFailed,
                    format!(
                        "{}: {} of {} attempts connected; the others {}: if this is a Service \
                         IP, one of its endpoints is probably not serving",
                        probe.address,
                        count(TcpOutcome::Connected),
                        s.attempts,
                        failure_words(s)
                    ),
                );
                continue;
            }
            if count(TcpOutcome::Rejected) > 0 {
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
                    FindingCode::Rejected,
                    format!("{}: {} ({})", probe.address, why, from.join(", ")),
                );
            }
            if count(TcpOutcome::Refused) > 0 && !partial {
                push(
                    Severity::Error,
                    FindingCode::Refused,
                    format!(
                        "{}: the destination answered with a TCP reset: nothing listens on that \
                         port (for a Service: is targetPort the port the pods listen on?)",
                        probe.address
                    ),
                );
            }
            if count(TcpOutcome::Timeout) > 0 && !partial {
                push(
                    Severity::Error,
                    FindingCode::Timeout,
                    format!(
                        "{}: no answer within the deadline: packets are dropped (a \
                         NetworkPolicy, a firewall, missing kube-proxy rules, a dead node)",
                        probe.address
                    ),
                );
            }
            if count(TcpOutcome::NoRoute) > 0 && !partial {
                push(
                    Severity::Error,
                    FindingCode::NoRoute,
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

/// `--source` of one IP family and a target only of the other: no connection can be made.
fn family_mismatch(target: &TcpTarget, source: Option<IpAddr>) -> Option<String> {
    let source = source?;
    let family = |v4: bool| if v4 { "IPv4" } else { "IPv6" };
    let (theirs, what) = match &target.resolution {
        None => (vec![target.host.parse::<IpAddr>().ok()?], "is"),
        Some(r) => (
            r.addresses.iter().filter_map(|a| a.parse().ok()).collect(),
            "resolves only to",
        ),
    };
    let all_other = !theirs.is_empty() && theirs.iter().all(|ip| ip.is_ipv4() != source.is_ipv4());
    all_other.then(|| {
        format!(
            "{} {what} {} and --source {source} is {}: a connection cannot cross IP families; \
             give an {} --source, or none",
            target.target,
            family(!source.is_ipv4()),
            family(source.is_ipv4()),
            family(!source.is_ipv4()),
        )
    })
}

fn failure_words(s: &ProbeSummary<TcpOutcome>) -> String {
    s.outcomes
        .iter()
        .filter(|(o, _)| **o != TcpOutcome::Connected)
        .map(|(o, n)| format!("{n} {o}"))
        .collect::<Vec<_>>()
        .join(", ")
}
