//! The guide's method applied to DNS: the same question through the resolv.conf nameserver,
//! the DNS Service's ClusterIP and each DNS pod directly, each over UDP and over TCP. Where
//! the answers differ is where DNS is broken.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use super::service::Target;
use crate::diagnose::dns_rules::{Replies, Server};
use crate::dns::millis;
use crate::dns::transport::{self, Outcome, Sent};
use crate::dns::wire::Question;
use crate::probe::pool;
use crate::report::{
    Check, CheckId, CheckStatus, DnsExchange, DnsPathProbe, DnsPathsEvidence, DnsReply, Evidence,
    Rcode,
};

/// The question every server gets: the control name the guide uses, absolute.
pub fn control_name(cluster_domain: &str) -> String {
    format!("kubernetes.default.svc.{cluster_domain}.")
}

/// Asks every target over UDP and TCP at once; an exchange not started before `deadline`
/// is `not-sent`.
pub fn probe(
    targets: &[Target],
    name: &str,
    timeout: Duration,
    deadline: Instant,
) -> Vec<DnsPathProbe> {
    let question = Question {
        name: name.to_string(),
        record_type: RecordType::A,
    };
    let jobs: Vec<(SocketAddr, bool)> = targets
        .iter()
        .flat_map(|t| [(t.server, false), (t.server, true)])
        .collect();
    let done = pool::map(
        &jobs,
        jobs.len().min(pool::MAX_WORKERS),
        Some(deadline),
        |(server, tcp)| exchange(*server, &question, *tcp, timeout, deadline),
    );
    let mut results = done.results.into_iter();
    targets
        .iter()
        .map(|t| {
            let mut next = || results.next().flatten().unwrap_or_else(not_sent);
            let (udp, tcp) = (next(), next());
            DnsPathProbe {
                server: t.server.to_string(),
                role: t.role,
                in_resolv_conf: t.in_resolv_conf,
                pod: t.pod.clone(),
                udp,
                tcp,
            }
        })
        .collect()
}

/// One question to one server over one protocol, within the per-query `timeout` and what is
/// left of `deadline`.
pub fn exchange(
    server: SocketAddr,
    question: &Question,
    tcp: bool,
    timeout: Duration,
    deadline: Instant,
) -> DnsExchange {
    let Some(budget) = deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
        .map(|left| left.min(timeout))
    else {
        return not_sent();
    };
    let sent = if tcp {
        transport::tcp(server, question, false, budget)
    } else {
        transport::udp(server, std::slice::from_ref(question), false, budget)
            .into_iter()
            .next()
            .unwrap_or(Sent {
                question: question.clone(),
                server,
                tcp: false,
                outcome: Outcome::Timeout,
                elapsed: budget,
            })
    };
    DnsExchange {
        reply: reply_of(&sent.outcome),
        rcode: sent.outcome.rcode(),
        duration_ms: millis(sent.elapsed),
        detail: match &sent.outcome {
            Outcome::Unreachable(e) | Outcome::BadResponse(e) => Some(e.clone()),
            _ => None,
        },
    }
}

fn not_sent() -> DnsExchange {
    DnsExchange {
        reply: DnsReply::NotSent,
        rcode: Rcode::NotSent,
        duration_ms: 0.0,
        detail: Some("the command's deadline had passed".into()),
    }
}

/// A response to the control name is an answer when it says yes or no (NOERROR, NXDOMAIN);
/// any other code still shows the server is reachable.
pub fn reply_of(outcome: &Outcome) -> DnsReply {
    match outcome {
        Outcome::Answered(r) if matches!(r.rcode, Rcode::NoError | Rcode::NxDomain) => {
            DnsReply::Answered
        }
        Outcome::Answered(_) | Outcome::BadResponse(_) => DnsReply::Error,
        Outcome::Unreachable(_) => DnsReply::Refused,
        Outcome::Timeout => DnsReply::Timeout,
        Outcome::Deadline => DnsReply::NotSent,
    }
}

/// The verdict's view of one probed server.
pub fn server_facts(probe: &DnsPathProbe) -> Server {
    Server {
        address: probe.server.clone(),
        role: probe.role,
        replies: Replies {
            udp: probe.udp.reply,
            tcp: probe.tcp.reply,
        },
    }
}

/// `dns-paths`: which servers answer over which protocol. It fails when the pod's first
/// nameserver misses a protocol, and warns when only servers behind it do.
pub fn dns_paths(name: &str, probes: Vec<DnsPathProbe>, duration_ms: f64) -> Check {
    let answers =
        |p: &DnsPathProbe| p.udp.reply == DnsReply::Answered && p.tcp.reply == DnsReply::Answered;
    let rows: Vec<String> = probes
        .iter()
        .map(|p| {
            format!(
                "{} ({}) udp {}, tcp {}",
                p.server.trim_end_matches(":53"),
                p.role,
                p.udp.reply,
                p.tcp.reply
            )
        })
        .collect();
    let first_ok = probes.first().is_some_and(answers);
    let status = if probes.iter().all(answers) {
        CheckStatus::Pass
    } else if first_ok {
        CheckStatus::Warn
    } else {
        CheckStatus::Fail
    };
    Check {
        id: CheckId::DnsPaths,
        status,
        summary: rows.join("; "),
        evidence: Evidence::DnsPaths(DnsPathsEvidence {
            name: name.to_string(),
            servers: probes,
        }),
        // The rows are the comparison; the verdict says what they add up to.
        hint: None,
        duration_ms,
    }
}
