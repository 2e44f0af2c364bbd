//! DNS lookups the way a pod's C library does them, with every query on the record.
//!
//! [`wire`] encodes and decodes, [`transport`] sends under deadlines, [`search`] decides
//! which names glibc and musl try and when they stop. [`Querier`] ties them together:
//! it sends what a walk asks for, keeps each query for the report, and remembers answers
//! so that walking the second C library's view costs no extra traffic when the answers
//! are already known.

mod message;
pub mod resolve;
pub mod search;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod walk_tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::report::{AnswerRecord, Libc, LookupStatus, QueryRecord, Rcode};
use transport::{Network, Outcome, Sent, Transport};
use wire::Question;

/// Did a DNS server answer this query? Any response code counts (NXDOMAIN and SERVFAIL
/// are answers too); a timeout, an ICMP error, a query never sent, and a reply that does
/// not answer the question (which both C libraries discard and keep waiting) do not.
pub fn server_answered(rcode: Rcode) -> bool {
    !matches!(
        rcode,
        Rcode::Timeout | Rcode::Unreachable | Rcode::NotSent | Rcode::BadResponse
    )
}

/// Transport settings shared by every query of one command.
#[derive(Clone, Debug)]
pub struct QuerySettings {
    pub servers: Vec<SocketAddr>,
    /// Per-exchange deadline.
    pub timeout: Duration,
    /// The whole command's deadline: nothing is sent after it.
    pub deadline: Instant,
    /// Query over TCP from the start (`options use-vc`, `--tcp`).
    pub tcp: bool,
    /// Send an EDNS OPT record (`options edns0`).
    pub edns: bool,
}

/// What one candidate name yielded, for all its record types together, as one C library
/// sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateResult {
    pub status: LookupStatus,
    /// Records of the asked types that answer the name (CNAME chains followed).
    pub records: Vec<AnswerRecord>,
    /// A UDP answer came back truncated.
    pub truncated: bool,
    /// Every server refused the query with an ICMP error: glibc's `ECONNREFUSED`,
    /// which ends its whole lookup.
    pub network_refused: bool,
    /// How long the library sits out timeouts for this candidate (see [`Timers`]).
    pub wait: Duration,
}

/// A C library's `timeout` and `attempts` from resolv.conf: what its timeouts cost an
/// application, which is not what svcprobe's own bounded queries cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    pub timeout_s: u32,
    pub attempts: u32,
}

impl Timers {
    /// glibc's send_dg: server 0 gets `timeout` seconds, server i>0 gets
    /// `(timeout << i) / nscount`, at least 1; each attempt goes through every server.
    fn glibc_server_wait(self, index: usize, servers: usize) -> Duration {
        let base = u64::from(self.timeout_s);
        let seconds = match index {
            0 => base,
            i => (base << i.min(8)) / (servers.max(1) as u64),
        };
        Duration::from_secs(seconds.max(1))
    }
}

/// One server's reply to one question: the first exchange (UDP, or TCP for `use-vc`),
/// and glibc's TCP retry when that UDP answer was truncated.
#[derive(Clone, Debug)]
struct Asked {
    first: Sent,
    tcp_retry: Option<Sent>,
}

impl Asked {
    /// What glibc acts on: the TCP retry when there is one.
    fn glibc(&self) -> &Sent {
        self.tcp_retry.as_ref().unwrap_or(&self.first)
    }
}

/// Sends queries for the walks, records them, and answers repeats from memory, so that
/// the second library's walk costs no traffic where the first already asked.
pub struct Querier<T: Transport = Network> {
    settings: QuerySettings,
    transport: T,
    log: Vec<QueryRecord>,
    /// glibc's server-by-server exchanges per question (musl with one server reads the
    /// first of them its own way). Ordered maps: a handful of entries, and no hash keys
    /// to draw from getrandom at start.
    sequential: BTreeMap<Question, Vec<Asked>>,
    /// musl's all-servers-at-once exchange per question, with several servers.
    parallel: BTreeMap<Question, Sent>,
}

impl Querier<Network> {
    pub fn new(settings: QuerySettings) -> Self {
        Querier::with_transport(settings, Network)
    }
}

impl<T: Transport> Querier<T> {
    pub fn with_transport(settings: QuerySettings, transport: T) -> Self {
        Querier {
            settings,
            transport,
            log: Vec::new(),
            sequential: BTreeMap::new(),
            parallel: BTreeMap::new(),
        }
    }

    /// Every query sent so far, in order.
    pub fn into_log(self) -> Vec<QueryRecord> {
        self.log
    }

    /// Looks `name` up for every type in `types` at once (A and AAAA together, like
    /// getaddrinfo), as `libc` would, and sums the answers up as one candidate result.
    pub fn lookup(
        &mut self,
        name: &str,
        types: &[RecordType],
        libc: Libc,
        timers: Timers,
    ) -> CandidateResult {
        let questions: Vec<Question> = types
            .iter()
            .map(|t| Question {
                name: name.to_string(),
                record_type: *t,
            })
            .collect();
        let views: Vec<View> = match libc {
            Libc::Glibc => {
                self.glibc_exchanges(&questions);
                questions
                    .iter()
                    .map(|q| self.glibc_view(q, timers))
                    .collect()
            }
            Libc::Musl if self.settings.servers.len() > 1 => {
                self.parallel_exchanges(&questions);
                questions
                    .iter()
                    .map(|q| musl_view(q, self.parallel.get(q), timers))
                    .collect()
            }
            Libc::Musl => {
                self.first_server_exchanges(&questions);
                questions
                    .iter()
                    .map(|q| {
                        let first = self.sequential.get(q).and_then(|a| a.first());
                        musl_view(q, first.map(|a| &a.first), timers)
                    })
                    .collect()
            }
        };
        combine(views)
    }

    /// glibc's res_send: each question moves on to the next server only while the
    /// previous one failed it; a truncated UDP answer is asked again over TCP.
    fn glibc_exchanges(&mut self, questions: &[Question]) {
        let servers = self.settings.servers.clone();
        let mut pending: Vec<Question> = questions.to_vec();
        for (index, server) in servers.iter().enumerate() {
            let unasked: Vec<Question> = pending
                .iter()
                .filter(|q| self.asked(q) <= index)
                .cloned()
                .collect();
            if !unasked.is_empty() {
                for sent in self.exchange(*server, &unasked) {
                    self.sequential
                        .entry(sent.question.clone())
                        .or_default()
                        .push(Asked {
                            first: sent,
                            tcp_retry: None,
                        });
                }
            }
            for question in &pending {
                self.retry_truncated(question, index, *server);
            }
            let last = index + 1 == servers.len();
            pending.retain(|q| {
                !last
                    && self
                        .sequential
                        .get(q)
                        .and_then(|a| a.get(index))
                        .is_some_and(|a| glibc_moves_on(&a.glibc().outcome))
            });
        }
    }

    fn asked(&self, question: &Question) -> usize {
        self.sequential.get(question).map_or(0, Vec::len)
    }

    /// The first server's exchange, all musl needs when there is only one server.
    fn first_server_exchanges(&mut self, questions: &[Question]) {
        let Some(server) = self.settings.servers.first().copied() else {
            return;
        };
        let unasked: Vec<Question> = questions
            .iter()
            .filter(|q| self.asked(q) == 0)
            .cloned()
            .collect();
        if unasked.is_empty() {
            return;
        }
        for sent in self.exchange(server, &unasked) {
            self.sequential
                .entry(sent.question.clone())
                .or_default()
                .push(Asked {
                    first: sent,
                    tcp_retry: None,
                });
        }
    }

    fn retry_truncated(&mut self, question: &Question, index: usize, server: SocketAddr) {
        let needs_retry = self
            .sequential
            .get(question)
            .and_then(|a| a.get(index))
            .is_some_and(|a| {
                a.tcp_retry.is_none()
                    && matches!(&a.first.outcome, Outcome::Answered(r) if r.truncated)
                    && !a.first.tcp
            });
        if !needs_retry {
            return;
        }
        let retry = match self.budget() {
            Some(timeout) => {
                let sent = self
                    .transport
                    .tcp(server, question, self.settings.edns, timeout);
                self.record(&sent);
                sent
            }
            None => self.not_sent(question, server),
        };
        if let Some(asked) = self
            .sequential
            .get_mut(question)
            .and_then(|a| a.get_mut(index))
        {
            asked.tcp_retry = Some(retry);
        }
    }

    /// One server, every question: UDP (TCP with `use-vc`), recorded.
    fn exchange(&mut self, server: SocketAddr, questions: &[Question]) -> Vec<Sent> {
        let Some(timeout) = self.budget() else {
            return questions.iter().map(|q| self.not_sent(q, server)).collect();
        };
        let sent: Vec<Sent> = if self.settings.tcp {
            questions
                .iter()
                .map(|q| self.transport.tcp(server, q, self.settings.edns, timeout))
                .collect()
        } else {
            self.transport
                .udp(server, questions, self.settings.edns, timeout)
        };
        for s in &sent {
            self.record(s);
        }
        sent
    }

    fn parallel_exchanges(&mut self, questions: &[Question]) {
        let unasked: Vec<Question> = questions
            .iter()
            .filter(|q| !self.parallel.contains_key(*q))
            .cloned()
            .collect();
        if unasked.is_empty() {
            return;
        }
        let servers = self.settings.servers.clone();
        let sent: Vec<Sent> = match self.budget() {
            Some(timeout) => self.transport.udp_parallel(&servers, &unasked, timeout),
            None => {
                let server = servers.first().copied().unwrap_or(FALLBACK);
                unasked.iter().map(|q| self.not_sent(q, server)).collect()
            }
        };
        for s in sent {
            if !matches!(s.outcome, Outcome::Deadline) {
                self.record(&s);
            }
            self.parallel.insert(s.question.clone(), s);
        }
    }

    /// glibc's reading of one question: the last server it asked decides.
    fn glibc_view(&self, question: &Question, timers: Timers) -> View {
        let asked = self
            .sequential
            .get(question)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(last) = asked.last() else {
            return View::nothing();
        };
        let servers = self.settings.servers.len();
        let silent = |a: &Asked| matches!(a.glibc().outcome, Outcome::Timeout);
        let waits = asked
            .iter()
            .enumerate()
            .filter(|(_, a)| silent(a))
            .map(|(i, _)| timers.glibc_server_wait(i, servers));
        let wait: Duration = if asked.iter().all(silent) {
            // no answer at all: every attempt goes round every server
            waits.sum::<Duration>() * timers.attempts.max(1)
        } else {
            waits.sum()
        };
        let network_refused = asked.len() == servers
            && asked
                .iter()
                .all(|a| matches!(a.glibc().outcome, Outcome::Unreachable(_)));
        let sent = last.glibc();
        View {
            status: status_of(&sent.outcome, question),
            records: answer_records(&sent.outcome, question),
            truncated: asked.iter().any(|a| truncated(&a.first.outcome)),
            network_refused,
            wait,
        }
    }

    /// The time one exchange may take: the per-query timeout, cut to what is left of
    /// the command's deadline. `None` once the deadline has passed.
    fn budget(&self) -> Option<Duration> {
        let left = self
            .settings
            .deadline
            .checked_duration_since(Instant::now())?;
        (!left.is_zero()).then(|| left.min(self.settings.timeout))
    }

    fn not_sent(&mut self, question: &Question, server: SocketAddr) -> Sent {
        let sent = Sent {
            question: question.clone(),
            server,
            tcp: false,
            outcome: Outcome::Deadline,
            elapsed: Duration::ZERO,
        };
        self.record(&sent);
        sent
    }

    fn record(&mut self, sent: &Sent) {
        let (answers, truncated, authoritative, detail) = match &sent.outcome {
            Outcome::Answered(r) => (r.answers.clone(), r.truncated, r.authoritative, None),
            Outcome::Timeout => (Vec::new(), false, false, None),
            Outcome::Unreachable(e) | Outcome::BadResponse(e) => {
                (Vec::new(), false, false, Some(e.clone()))
            }
            Outcome::Deadline => (
                Vec::new(),
                false,
                false,
                Some("the command's deadline had passed".to_string()),
            ),
        };
        self.log.push(QueryRecord {
            name: sent.question.name.clone(),
            record_type: sent.question.record_type.to_string(),
            server: sent.server.to_string(),
            transport: if sent.tcp { "tcp" } else { "udp" },
            rcode: sent.outcome.rcode(),
            answers,
            truncated,
            authoritative,
            duration_ms: millis(sent.elapsed),
            detail,
        });
    }
}

/// Where queries go when there is no server at all (never, once resolv.conf is read:
/// both libraries fall back to 127.0.0.1).
const FALLBACK: SocketAddr = crate::resolvconf::FALLBACK_NAMESERVER;

/// One question as one library reads its reply.
struct View {
    status: LookupStatus,
    records: Vec<AnswerRecord>,
    truncated: bool,
    network_refused: bool,
    wait: Duration,
}

impl View {
    fn nothing() -> View {
        View {
            status: LookupStatus::Unreachable,
            records: Vec::new(),
            truncated: false,
            network_refused: false,
            wait: Duration::ZERO,
        }
    }
}

/// musl 1.2.3's reading of its reply: its unconnected socket never sees an ICMP error
/// (a refused server is a timeout), a truncated answer is used as it is (no TCP before
/// 1.2.4), and SERVFAIL, REFUSED or no reply cost the whole `timeout` (it retries
/// SERVFAIL and ignores the others until then).
fn musl_view(question: &Question, sent: Option<&Sent>, timers: Timers) -> View {
    let Some(sent) = sent else {
        return View::nothing();
    };
    let status = match &sent.outcome {
        Outcome::Unreachable(_) => LookupStatus::Timeout,
        outcome => status_of(outcome, question),
    };
    let waits = matches!(
        status,
        LookupStatus::Timeout
            | LookupStatus::ServFail
            | LookupStatus::Refused
            | LookupStatus::Error
    );
    View {
        status,
        records: answer_records(&sent.outcome, question),
        truncated: truncated(&sent.outcome),
        network_refused: false,
        wait: if waits {
            Duration::from_secs(u64::from(timers.timeout_s))
        } else {
            Duration::ZERO
        },
    }
}

fn truncated(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Answered(r) if r.truncated)
}

/// glibc asks the next server after a timeout, an ICMP error, SERVFAIL, REFUSED, NOTIMP,
/// or a reply it cannot use.
fn glibc_moves_on(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Answered(r) => !matches!(r.rcode, Rcode::NoError | Rcode::NxDomain),
        Outcome::Deadline => false,
        Outcome::Timeout | Outcome::Unreachable(_) | Outcome::BadResponse(_) => true,
    }
}

/// The status one reply stands for, on its own.
fn status_of(outcome: &Outcome, question: &Question) -> LookupStatus {
    match outcome {
        Outcome::Answered(r) => match r.rcode {
            Rcode::NoError if !wire::usable_records(&r.answers, question).is_empty() => {
                LookupStatus::Resolved
            }
            Rcode::NoError => LookupStatus::NoData,
            Rcode::NxDomain => LookupStatus::NxDomain,
            Rcode::ServFail => LookupStatus::ServFail,
            Rcode::Refused => LookupStatus::Refused,
            _ => LookupStatus::Error,
        },
        Outcome::Timeout => LookupStatus::Timeout,
        Outcome::Unreachable(_) => LookupStatus::Unreachable,
        Outcome::BadResponse(_) => LookupStatus::Error,
        Outcome::Deadline => LookupStatus::Deadline,
    }
}

fn answer_records(outcome: &Outcome, question: &Question) -> Vec<AnswerRecord> {
    match outcome {
        Outcome::Answered(r) => wire::usable_records(&r.answers, question),
        _ => Vec::new(),
    }
}

/// One result for several record types of one name: any answer wins; otherwise the
/// failure that says most about the server (a timeout over an NXDOMAIN), since both C
/// libraries give up on the candidate for the worst of the replies. The types are asked
/// together, so the candidate waits as long as its slowest type.
fn combine(views: Vec<View>) -> CandidateResult {
    let statuses: Vec<LookupStatus> = views.iter().map(|v| v.status).collect();
    CandidateResult {
        status: combine_statuses(&statuses),
        records: views
            .iter()
            .flat_map(|v| v.records.iter().cloned())
            .collect(),
        truncated: views.iter().any(|v| v.truncated),
        network_refused: !views.is_empty() && views.iter().all(|v| v.network_refused),
        wait: views.iter().map(|v| v.wait).max().unwrap_or_default(),
    }
}

fn combine_statuses(statuses: &[LookupStatus]) -> LookupStatus {
    if statuses.contains(&LookupStatus::Resolved) {
        return LookupStatus::Resolved;
    }
    statuses
        .iter()
        .copied()
        .max()
        .unwrap_or(LookupStatus::Error)
}

/// Milliseconds with microsecond precision, for reports.
pub fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::LookupStatus as Status;

    #[test]
    fn any_answer_wins_and_otherwise_the_worst_failure_speaks() {
        assert_eq!(
            combine_statuses(&[Status::Resolved, Status::NoData]),
            Status::Resolved
        );
        assert_eq!(
            combine_statuses(&[Status::NoData, Status::Resolved]),
            Status::Resolved
        );
        assert_eq!(
            combine_statuses(&[Status::NxDomain, Status::NxDomain]),
            Status::NxDomain
        );
        assert_eq!(
            combine_statuses(&[Status::NoData, Status::NxDomain]),
            Status::NxDomain
        );
        assert_eq!(
            combine_statuses(&[Status::NxDomain, Status::Timeout]),
            Status::Timeout
        );
        assert_eq!(combine_statuses(&[]), Status::Error);
    }
}
