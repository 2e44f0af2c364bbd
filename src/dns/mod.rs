//! DNS lookups the way a pod's C library does them, with every query on the record.
//!
//! [`wire`] encodes and decodes, [`transport`] sends under deadlines, [`search`] decides
//! which names glibc and musl try and when they stop. [`Querier`] ties them together:
//! it sends what a walk asks for, keeps each query for the report, and remembers answers
//! so that walking the second C library's view costs no extra traffic when the answers
//! are already known.

pub mod resolve;
pub mod search;
pub mod transport;
pub mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::report::{AnswerRecord, QueryRecord};
use transport::{Outcome, Sent};
use wire::Question;

/// How a C library spreads its queries over the configured nameservers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerStrategy {
    /// glibc: one server after another, next on timeout, SERVFAIL, REFUSED or NOTIMP;
    /// a truncated UDP answer is retried over TCP.
    Sequential,
    /// musl: every server at once, first usable answer wins, no TCP retry (before 1.2.4).
    Parallel,
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

/// What one candidate name yielded for all its record types together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateResult {
    pub status: Status,
    /// Records of the asked types (CNAMEs followed by the server are included as-is).
    pub records: Vec<AnswerRecord>,
    /// A UDP answer came back truncated (musl before 1.2.4 would use it as it is).
    pub truncated: bool,
}

/// The fixed vocabulary of how a lookup ended; the report prints [`Status::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Resolved,
    NoData,
    NxDomain,
    Error,
    Refused,
    ServFail,
    Unreachable,
    Timeout,
    /// The whole-command deadline passed before the query could be sent.
    Deadline,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Resolved => "resolved",
            Status::NoData => "nodata",
            Status::NxDomain => "nxdomain",
            Status::Error => "error",
            Status::Refused => "refused",
            Status::ServFail => "servfail",
            Status::Unreachable => "unreachable",
            Status::Timeout => "timeout",
            Status::Deadline => "deadline",
        }
    }

    /// The status one query's outcome stands for, on its own.
    fn of(outcome: &Outcome, record_type: RecordType) -> Status {
        match outcome {
            Outcome::Answered(r) => match r.rcode.as_str() {
                "NOERROR" if has_type(&r.answers, record_type) => Status::Resolved,
                "NOERROR" => Status::NoData,
                "NXDOMAIN" => Status::NxDomain,
                "SERVFAIL" => Status::ServFail,
                "REFUSED" => Status::Refused,
                _ => Status::Error,
            },
            Outcome::Timeout => Status::Timeout,
            Outcome::Unreachable(_) => Status::Unreachable,
            Outcome::BadResponse(_) => Status::Error,
        }
    }
}

fn has_type(answers: &[AnswerRecord], record_type: RecordType) -> bool {
    let wanted = record_type.to_string();
    answers.iter().any(|a| a.record_type == wanted)
}

/// Sends queries for the walks, records them, and answers repeats from memory.
pub struct Querier {
    settings: QuerySettings,
    log: Vec<QueryRecord>,
    cache: HashMap<(Question, ServerStrategy), (Status, Vec<AnswerRecord>, bool)>,
}

impl Querier {
    pub fn new(settings: QuerySettings) -> Self {
        Querier {
            settings,
            log: Vec::new(),
            cache: HashMap::new(),
        }
    }

    /// Every query sent so far, in order.
    pub fn into_log(self) -> Vec<QueryRecord> {
        self.log
    }

    /// Looks `name` up for every type in `types` at once (A and AAAA together, like
    /// getaddrinfo) and sums the answers up as one candidate result.
    pub fn lookup(
        &mut self,
        name: &str,
        types: &[RecordType],
        strategy: ServerStrategy,
    ) -> CandidateResult {
        let questions: Vec<Question> = types
            .iter()
            .map(|t| Question {
                name: name.to_string(),
                record_type: *t,
            })
            .collect();
        let missing: Vec<Question> = questions
            .iter()
            .filter(|q| !self.cache.contains_key(&((*q).clone(), strategy)))
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.resolve(&missing, strategy);
        }
        let mut statuses = Vec::with_capacity(questions.len());
        let mut records = Vec::new();
        let mut truncated = false;
        for q in questions {
            if let Some((status, answers, trunc)) = self.cache.get(&(q, strategy)) {
                statuses.push(*status);
                records.extend(answers.iter().cloned());
                truncated |= trunc;
            }
        }
        CandidateResult {
            status: combine(&statuses),
            records,
            truncated,
        }
    }

    fn resolve(&mut self, questions: &[Question], strategy: ServerStrategy) {
        let finals = match strategy {
            ServerStrategy::Sequential => self.sequential(questions),
            ServerStrategy::Parallel => self.parallel(questions),
        };
        for (question, status, answers, truncated) in finals {
            self.cache
                .insert((question, strategy), (status, answers, truncated));
        }
    }

    /// glibc's res_send: each question moves on to the next server only while the
    /// previous one failed it.
    fn sequential(
        &mut self,
        questions: &[Question],
    ) -> Vec<(Question, Status, Vec<AnswerRecord>, bool)> {
        let mut pending: Vec<Question> = questions.to_vec();
        let mut finals = Vec::new();
        let servers = self.settings.servers.clone();
        for (index, server) in servers.iter().enumerate() {
            if pending.is_empty() {
                break;
            }
            let last_server = index + 1 == servers.len();
            let mut sent = self.exchange(*server, &pending);
            pending.clear();
            for s in sent.drain(..) {
                let status = Status::of(&s.outcome, s.question.record_type);
                let move_on = matches!(
                    status,
                    Status::Timeout
                        | Status::Unreachable
                        | Status::ServFail
                        | Status::Refused
                        | Status::Error
                ) && status != Status::Deadline;
                if move_on && !last_server {
                    pending.push(s.question.clone());
                } else {
                    finals.push(final_of(&s, status));
                }
            }
        }
        if servers.is_empty() {
            finals.extend(
                questions
                    .iter()
                    .map(|q| (q.clone(), Status::Unreachable, Vec::new(), false)),
            );
        }
        finals
    }

    /// UDP to `server`, then TCP for any answer that came back truncated.
    fn exchange(&mut self, server: SocketAddr, questions: &[Question]) -> Vec<Sent> {
        let Some(timeout) = self.budget() else {
            return questions.iter().map(|q| self.not_sent(q, server)).collect();
        };
        if self.settings.tcp {
            return questions
                .iter()
                .map(|q| {
                    let sent = transport::tcp(server, q, self.settings.edns, timeout);
                    self.record(&sent);
                    sent
                })
                .collect();
        }
        let sent = transport::udp(server, questions, self.settings.edns, timeout);
        sent.into_iter()
            .map(|s| {
                self.record(&s);
                match &s.outcome {
                    Outcome::Answered(r) if r.truncated => match self.budget() {
                        Some(timeout) => {
                            let retry =
                                transport::tcp(server, &s.question, self.settings.edns, timeout);
                            self.record(&retry);
                            retry
                        }
                        None => s,
                    },
                    _ => s,
                }
            })
            .collect()
    }

    fn parallel(
        &mut self,
        questions: &[Question],
    ) -> Vec<(Question, Status, Vec<AnswerRecord>, bool)> {
        let first_server = self.settings.servers.first().copied();
        let Some(timeout) = self.budget() else {
            return questions
                .iter()
                .map(|q| {
                    if let Some(server) = first_server {
                        self.not_sent(q, server);
                    }
                    (q.clone(), Status::Deadline, Vec::new(), false)
                })
                .collect();
        };
        let servers = self.settings.servers.clone();
        transport::udp_parallel(&servers, questions, timeout)
            .into_iter()
            .map(|s| {
                self.record(&s);
                let status = Status::of(&s.outcome, s.question.record_type);
                final_of(&s, status)
            })
            .collect()
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
        self.log.push(QueryRecord {
            name: question.name.clone(),
            record_type: question.record_type.to_string(),
            server: server.to_string(),
            transport: "udp",
            rcode: "NOT_SENT".into(),
            answers: Vec::new(),
            truncated: false,
            authoritative: false,
            duration_ms: 0.0,
            detail: Some("the command's deadline had passed".into()),
        });
        Sent {
            question: question.clone(),
            server,
            tcp: false,
            outcome: Outcome::Unreachable("deadline".into()),
            elapsed: Duration::ZERO,
        }
    }

    fn record(&mut self, sent: &Sent) {
        let (rcode, answers, truncated, authoritative, detail) = match &sent.outcome {
            Outcome::Answered(r) => (
                r.rcode.clone(),
                r.answers.clone(),
                r.truncated,
                r.authoritative,
                None,
            ),
            Outcome::Timeout => ("TIMEOUT".into(), Vec::new(), false, false, None),
            Outcome::Unreachable(e) => (
                "UNREACHABLE".into(),
                Vec::new(),
                false,
                false,
                Some(e.clone()),
            ),
            Outcome::BadResponse(e) => (
                "BAD_RESPONSE".into(),
                Vec::new(),
                false,
                false,
                Some(e.clone()),
            ),
        };
        self.log.push(QueryRecord {
            name: sent.question.name.clone(),
            record_type: sent.question.record_type.to_string(),
            server: sent.server.to_string(),
            transport: if sent.tcp { "tcp" } else { "udp" },
            rcode,
            answers,
            truncated,
            authoritative,
            duration_ms: millis(sent.elapsed),
            detail,
        });
    }
}

fn final_of(sent: &Sent, status: Status) -> (Question, Status, Vec<AnswerRecord>, bool) {
    let status = match (&sent.outcome, status) {
        (Outcome::Unreachable(e), _) if e == "deadline" => Status::Deadline,
        (_, s) => s,
    };
    match &sent.outcome {
        Outcome::Answered(r) => {
            let wanted = sent.question.record_type.to_string();
            let records = r
                .answers
                .iter()
                .filter(|a| a.record_type == wanted)
                .cloned()
                .collect();
            (sent.question.clone(), status, records, r.truncated)
        }
        _ => (sent.question.clone(), status, Vec::new(), false),
    }
}

/// One status for several record types of one name: any answer wins; otherwise the
/// failure that says most about the server (a timeout over an NXDOMAIN), since both C
/// libraries give up on the candidate for the worst of the replies.
fn combine(statuses: &[Status]) -> Status {
    if statuses.contains(&Status::Resolved) {
        return Status::Resolved;
    }
    statuses.iter().copied().max().unwrap_or(Status::Error)
}

/// Milliseconds with microsecond precision, for reports.
pub fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_answer_wins_and_otherwise_the_worst_failure_speaks() {
        assert_eq!(
            combine(&[Status::Resolved, Status::NoData]),
            Status::Resolved
        );
        assert_eq!(
            combine(&[Status::NoData, Status::Resolved]),
            Status::Resolved
        );
        assert_eq!(
            combine(&[Status::NxDomain, Status::NxDomain]),
            Status::NxDomain
        );
        assert_eq!(
            combine(&[Status::NoData, Status::NxDomain]),
            Status::NxDomain
        );
        assert_eq!(
            combine(&[Status::NxDomain, Status::Timeout]),
            Status::Timeout
        );
        assert_eq!(combine(&[]), Status::Error);
    }
}
