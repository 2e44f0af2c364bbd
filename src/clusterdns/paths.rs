//! The guide's method applied to DNS: the same question through the resolv.conf nameserver,
//! the DNS Service's ClusterIP and each DNS pod directly, each over UDP and over TCP. Where
//! the answers differ is where DNS is broken. A UDP query that draws nothing is sent again
//! as glibc resends it (the pod's `attempts`), so that one lost datagram does not make a
//! path look silent and the verdict `dns-blocked` or `dns-udp-only-broken`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use super::service::Target;
use crate::diagnose::dns_rules::{Replies, Server};
use crate::dns::millis;
use crate::dns::transport::{self, Outcome};
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

/// Asks every target over UDP and TCP at once, UDP in up to `tries` tries (glibc's
/// `attempts`); an exchange not started before `deadline` is `not-sent`.
pub fn probe(
    targets: &[Target],
    name: &str,
    tries: u32,
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
        |(server, tcp)| exchange(*server, &question, *tcp, tries, timeout, deadline),
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

/// One question to one server over one protocol: TCP once, UDP in up to `tries` tries
/// (resent while it draws nothing), each try within the per-query `timeout` and all of them
/// within `deadline`.
pub fn exchange(
    server: SocketAddr,
    question: &Question,
    tcp: bool,
    tries: u32,
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
    let (sent, each) = if tcp {
        let sent = transport::tcp(server, question, false, budget);
        let each = vec![sent.outcome.clone()];
        (sent, each)
    } else {
        transport::udp_retransmit(server, question, false, tries, timeout, deadline)
    };
    DnsExchange {
        reply: reply_of(&sent.outcome),
        rcode: sent.outcome.rcode(),
        duration_ms: millis(sent.elapsed),
        tries: each.iter().map(reply_of).collect(),
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
        tries: Vec::new(),
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

/// A UDP exchange's reply, and on which try when a resend drew the response: `answered on
/// try 2` is a datagram lost (or slow). A timeout, or an ICMP error after silence (the
/// kernel rate-limits them), stays one word (the evidence lists the tries), so that the row
/// of a dead server fits the text view's last screen.
fn udp_words(udp: &DnsExchange) -> String {
    let responded = matches!(udp.reply, DnsReply::Answered | DnsReply::Error);
    match udp.tries.len() {
        n if n > 1 && responded => format!("{} on try {n}", udp.reply),
        _ => udp.reply.to_string(),
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
                udp_words(&p.udp),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::thread;

    type Datagrams = Vec<(SocketAddr, Vec<u8>)>;

    /// A loopback server that reads up to `reads` datagrams (each within 5 s) and answers
    /// the one numbered `answer` (0-based) by echoing it as a response: the datagrams it
    /// got, with their sources.
    fn server(reads: usize, answer: Option<usize>) -> (SocketAddr, thread::JoinHandle<Datagrams>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let got = thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while got.len() < reads {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    break;
                };
                let mut datagram = buf[..len].to_vec();
                if answer == Some(got.len()) {
                    datagram[2] |= 0x80; // QR: the query, turned into its (empty) response
                    socket.send_to(&datagram, from).unwrap();
                }
                got.push((from, buf[..len].to_vec()));
            }
            got
        });
        (addr, got)
    }

    fn question() -> Question {
        Question {
            name: control_name("cluster.local"),
            record_type: RecordType::A,
        }
    }

    #[test]
    fn a_lost_datagram_is_sent_again_from_the_same_socket() {
        let (addr, got) = server(2, Some(1));
        let deadline = Instant::now() + Duration::from_secs(10);
        let udp = exchange(
            addr,
            &question(),
            false,
            2,
            Duration::from_secs(1),
            deadline,
        );
        assert_eq!(udp.reply, DnsReply::Answered, "{udp:?}");
        assert_eq!(udp.tries, [DnsReply::Timeout, DnsReply::Answered]);
        // glibc's retransmit: the same bytes (and ID), from the same port.
        let got = got.join().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], got[1]);
        assert_eq!(udp_words(&udp), "answered on try 2");
    }

    #[test]
    fn a_silent_path_gets_every_try_within_the_deadline() {
        let (addr, got) = server(3, None);
        // Three tries of 10 s would not fit: each gets a third of what is left.
        let deadline = Instant::now() + Duration::from_millis(600);
        let udp = exchange(
            addr,
            &question(),
            false,
            3,
            Duration::from_secs(10),
            deadline,
        );
        assert!(Instant::now() < deadline + Duration::from_secs(1));
        assert_eq!(udp.tries, [DnsReply::Timeout; 3]);
        assert_eq!(got.join().unwrap().len(), 3);
        assert_eq!(udp_words(&udp), "timeout");
        // An answer ends the tries; TCP is one try.
        let (addr, got) = server(1, Some(0));
        let udp = exchange(
            addr,
            &question(),
            false,
            3,
            Duration::from_secs(5),
            deadline + Duration::from_secs(10),
        );
        assert_eq!(udp.tries, [DnsReply::Answered]);
        assert_eq!(got.join().unwrap().len(), 1);
    }
}
