//! The glibc and musl stop rules against a scripted server: each case of
//! `tests/fixtures/dns_failures.rs` (the table the real-library oracle checks too) gives
//! every candidate name a server behaviour; the walks must send exactly the candidates
//! the real library sends, end with its status, and count the timeouts it sits out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use super::search::{self, Lookup, SearchConfig};
use super::transport::{Outcome, Sent, Transport};
use super::wire::{Question, Response};
use super::{Querier, QuerySettings, Timers};
use crate::report::{AnswerRecord, LibcAnswer, Rcode};

include!("../../tests/fixtures/dns_failures.rs");

/// A server that answers each name as the case says, and remembers what it was asked.
struct Scripted {
    replies: HashMap<String, Reply>,
    /// (name, over TCP) of every question, in order.
    asked: Vec<(String, bool)>,
}

impl Scripted {
    fn new(case: &Case) -> Scripted {
        let replies = candidates(case.label)
            .into_iter()
            .zip(case.replies)
            .collect();
        Scripted {
            replies,
            asked: Vec::new(),
        }
    }

    fn reply(&mut self, server: SocketAddr, q: &Question, tcp: bool, connected: bool) -> Sent {
        self.asked.push((q.name.clone(), tcp));
        let reply = self
            .replies
            .get(&q.name)
            .copied()
            .unwrap_or(Reply::NxDomain);
        let a = |n: u8| AnswerRecord {
            name: q.name.clone(),
            record_type: "A".into(),
            ttl: 30,
            data: format!("10.0.0.{n}"),
        };
        let answered = |rcode, answers: Vec<AnswerRecord>, truncated| {
            Outcome::Answered(Response {
                rcode,
                truncated,
                authoritative: true,
                answers,
            })
        };
        let is_a = q.record_type == RecordType::A;
        let outcome = match reply {
            Reply::Answer if is_a => answered(Rcode::NoError, vec![a(1)], false),
            Reply::Truncated if is_a && tcp => answered(Rcode::NoError, vec![a(1), a(2)], false),
            Reply::Truncated if is_a => answered(Rcode::NoError, vec![a(1)], true),
            Reply::Answer | Reply::Truncated | Reply::NoData => {
                answered(Rcode::NoError, Vec::new(), false)
            }
            Reply::NxDomain => answered(Rcode::NxDomain, Vec::new(), false),
            Reply::ServFail => answered(Rcode::ServFail, Vec::new(), false),
            Reply::Refused => answered(Rcode::Refused, Vec::new(), false),
            Reply::Icmp if connected => Outcome::Unreachable("Connection refused".into()),
            Reply::Icmp | Reply::Silence => Outcome::Timeout,
        };
        Sent {
            question: q.clone(),
            server,
            tcp,
            outcome,
            elapsed: Duration::ZERO,
        }
    }
}

impl Transport for &mut Scripted {
    fn udp(&mut self, server: SocketAddr, qs: &[Question], _: bool, _: Duration) -> Vec<Sent> {
        qs.iter()
            .map(|q| self.reply(server, q, false, true))
            .collect()
    }

    fn udp_parallel(&mut self, servers: &[SocketAddr], qs: &[Question], _: Duration) -> Vec<Sent> {
        let server = servers[0];
        qs.iter()
            .map(|q| self.reply(server, q, false, false))
            .collect()
    }

    fn tcp(&mut self, server: SocketAddr, q: &Question, _: bool, _: Duration) -> Sent {
        self.reply(server, q, true, true)
    }
}

fn candidates(label: &str) -> Vec<String> {
    SEARCH
        .iter()
        .map(|d| format!("{label}.{d}."))
        .chain([format!("{label}.")])
        .collect()
}

fn settings(servers: usize) -> QuerySettings {
    QuerySettings {
        servers: (0..servers)
            .map(|i| SocketAddr::from(([10, 0, 0, 10 + i as u8], 53)))
            .collect(),
        timeout: Duration::from_secs(1),
        deadline: Instant::now() + Duration::from_secs(60),
        tcp: false,
        edns: false,
    }
}

/// One library's walk of `case` alone, and the names the server was asked, in order.
fn run_walk(
    case: &Case,
    glibc: bool,
    timers: Timers,
    servers: usize,
) -> (LibcAnswer, Vec<(String, bool)>) {
    let mut server = Scripted::new(case);
    let search: Vec<String> = SEARCH.iter().map(|d| d.to_string()).collect();
    let config = SearchConfig {
        search: &search,
        ndots: 5,
        no_tld_query: false,
        timers,
    };
    let lookup = Lookup {
        name: case.label,
        types: &[RecordType::A, RecordType::AAAA],
        use_search: true,
    };
    let mut querier = Querier::with_transport(settings(servers), &mut server);
    let answer = if glibc {
        search::walk_glibc(&lookup, &config, &mut querier)
    } else {
        search::walk_musl(&lookup, &config, &mut querier)
    };
    drop(querier);
    (answer, server.asked)
}

fn tried(answer: &LibcAnswer, case: &Case) -> Vec<usize> {
    let names = candidates(case.label);
    answer
        .candidates
        .iter()
        .filter(|c| c.outcome.is_some())
        .filter_map(|c| names.iter().position(|n| *n == c.name))
        .collect()
}

fn distinct_names(asked: &[(String, bool)]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (name, _) in asked {
        if names.last() != Some(name) {
            names.push(name.clone());
        }
    }
    names
}

const ONE_SECOND_ONE_ATTEMPT: Timers = Timers {
    timeout_s: 1,
    attempts: 1,
};
const DEFAULTS: Timers = Timers {
    timeout_s: 5,
    attempts: 2,
};

#[test]
fn each_library_sends_what_it_really_sends_and_ends_as_it_really_ends() {
    for case in CASES {
        for (glibc, expected) in [(true, &case.glibc), (false, &case.musl)] {
            let who = format!("{} {}", case.label, if glibc { "glibc" } else { "musl" });
            let (answer, asked) = run_walk(case, glibc, ONE_SECOND_ONE_ATTEMPT, 1);
            assert_eq!(
                tried(&answer, case),
                expected.sent,
                "{who}: candidates tried"
            );
            assert_eq!(
                answer.status.as_str(),
                expected.status,
                "{who}: {}",
                answer.reason
            );
            let claimed: Vec<String> = answer
                .candidates
                .iter()
                .filter(|c| c.outcome.is_some())
                .map(|c| c.name.clone())
                .collect();
            assert_eq!(
                distinct_names(&asked),
                claimed,
                "{who}: what the server saw"
            );
            if !glibc {
                assert!(
                    asked.iter().all(|(_, tcp)| !tcp),
                    "{who}: musl 1.2.3 never uses TCP"
                );
            }
            assert_eq!(
                answer.app_wait_ms,
                u64::from(expected.timeouts) * 1000,
                "{who}: the application's wait with timeout:1 attempts:1"
            );
        }
    }
}

#[test]
fn with_the_default_timers_glibc_waits_timeout_times_attempts_and_musl_timeout() {
    for case in CASES {
        let (glibc, _) = run_walk(case, true, DEFAULTS, 1);
        assert_eq!(
            glibc.app_wait_ms,
            u64::from(case.glibc.timeouts) * 10_000,
            "{}",
            case.label
        );
        let (musl, _) = run_walk(case, false, DEFAULTS, 1);
        assert_eq!(
            musl.app_wait_ms,
            u64::from(case.musl.timeouts) * 5_000,
            "{}",
            case.label
        );
    }
}

#[test]
fn truncated_answers_give_glibc_every_record_and_musl_those_that_fit() {
    let case = CASES.iter().find(|c| c.label == "truncated").expect("case");
    let (glibc, asked) = run_walk(case, true, DEFAULTS, 1);
    assert_eq!(glibc.records.len(), 2);
    assert!(asked.iter().any(|(_, tcp)| *tcp));
    let (musl, _) = run_walk(case, false, DEFAULTS, 1);
    assert_eq!(musl.records.len(), 1);
    assert!(musl.reason.contains("truncated"), "{}", musl.reason);
}

#[test]
fn with_several_servers_musl_asks_them_all_at_once_and_never_sees_icmp() {
    let case = CASES.iter().find(|c| c.label == "icmp").expect("case");
    let (musl, _) = run_walk(case, false, ONE_SECOND_ONE_ATTEMPT, 2);
    assert_eq!(musl.status.as_str(), "timeout");
    // glibc moves on from a refusing server to the next, which refuses too.
    let (glibc, asked) = run_walk(case, true, ONE_SECOND_ONE_ATTEMPT, 2);
    assert_eq!(glibc.status.as_str(), "unreachable");
    assert_eq!(asked.len(), 4, "A and AAAA to each server: {asked:?}");
}
