//! `dns-burst`: intermittent loss and the conntrack race. The same lookups are sent two
//! ways: A and AAAA at once from one socket (glibc's getaddrinfo), and A then AAAA from a
//! new socket each (what glibc 2.36 sends with `options single-request-reopen`, measured: the
//! AAAA query after the A answer, from a new socket). Both go through the same conntrack
//! and the same DNS pods; only the first can lose one of a pair to the insert race of
//! kubernetes#56903, so a pair style that loses far more than the apart style is its
//! signature. Bounded: a fixed number of lookups, all at once, each query within the
//! per-query timeout. Single-shot, unlike `dns-paths`: a lost query is not sent again,
//! since the share lost is what the burst measures.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::decimal::shortest;
use crate::diagnose::dns_rules::Burst;
use crate::dns::transport::{self, Outcome, Sent};
use crate::dns::wire::Question;
use crate::dns::{millis, server_answered};
use crate::probe::{pool, stats};
use crate::report::{
    BurstStyle, BurstStyleEvidence, Check, CheckId, CheckStatus, DnsBurstEvidence, Evidence,
};

/// Lookups per style in `diagnose` (`svcprobe dns --count` chooses).
pub const DEFAULT_LOOKUPS: u32 = 16;

/// One query of the burst: its type, and how long its answer took (`None`: lost).
struct Got {
    aaaa: bool,
    answered_ms: Option<f64>,
}

/// One lookup sent one way: its queries, or `None` when the deadline came first.
fn lookup(server: SocketAddr, name: &str, style: BurstStyle, timeout: Duration) -> Vec<Got> {
    let question = |record_type| Question {
        name: name.to_string(),
        record_type,
    };
    let (a, aaaa) = (question(RecordType::A), question(RecordType::AAAA));
    let sent: Vec<Sent> = match style {
        BurstStyle::Parallel => transport::udp(server, &[a, aaaa], false, timeout),
        BurstStyle::SingleRequestReopen => {
            let mut sent = transport::udp(server, &[a], false, timeout);
            sent.extend(transport::udp(server, &[aaaa], false, timeout));
            sent
        }
    };
    sent.iter()
        .map(|s| Got {
            aaaa: s.question.record_type == RecordType::AAAA,
            answered_ms: matches!(&s.outcome, Outcome::Answered(r) if server_answered(r.rcode))
                .then(|| millis(s.elapsed)),
        })
        .collect()
}

/// What the burst found: the check and the verdict's view of it.
pub struct BurstResult {
    pub check: Check,
    pub facts: Option<Burst>,
}

/// Sends `lookups` lookups each way to `server`, all at once.
pub fn run(
    server: SocketAddr,
    name: &str,
    lookups: u32,
    timeout: Duration,
    deadline: Instant,
) -> BurstResult {
    let start = Instant::now();
    let jobs: Vec<BurstStyle> = [BurstStyle::Parallel, BurstStyle::SingleRequestReopen]
        .into_iter()
        .flat_map(|style| (0..lookups).map(move |_| style))
        .collect();
    // A lookup started must end by the deadline: the apart style takes two timeouts.
    let timeout = deadline
        .checked_duration_since(Instant::now())
        .map_or(Duration::ZERO, |left| (left / 2).min(timeout));
    let done = pool::map(
        &jobs,
        jobs.len().min(pool::MAX_WORKERS),
        Some(deadline),
        |style| (!timeout.is_zero()).then(|| lookup(server, name, *style, timeout)),
    );
    let mut by_style: Vec<(BurstStyle, Vec<Vec<Got>>)> = vec![
        (BurstStyle::Parallel, Vec::new()),
        (BurstStyle::SingleRequestReopen, Vec::new()),
    ];
    for (style, got) in jobs.iter().zip(done.results) {
        if let (Some(Some(got)), Some((_, lookups))) =
            (got, by_style.iter_mut().find(|(s, _)| s == style))
        {
            lookups.push(got);
        }
    }
    let styles: Vec<BurstStyleEvidence> = by_style
        .into_iter()
        .map(|(style, lookups)| summarize(style, &lookups))
        .collect();
    let evidence = DnsBurstEvidence {
        server: server.to_string(),
        name: name.to_string(),
        timeout_ms: timeout.as_millis() as u64,
        race_signature: race(&styles),
        styles,
    };
    check(evidence, millis(start.elapsed()))
}

fn summarize(style: BurstStyle, lookups: &[Vec<Got>]) -> BurstStyleEvidence {
    let all = || lookups.iter().flatten();
    let lost = |aaaa: bool| {
        all()
            .filter(|g| g.aaaa == aaaa && g.answered_ms.is_none())
            .count() as u32
    };
    let queries = all().count() as u32;
    let (lost_a, lost_aaaa) = (lost(false), lost(true));
    let mut latencies: Vec<f64> = all().filter_map(|g| g.answered_ms).collect();
    BurstStyleEvidence {
        style,
        lookups: lookups.len() as u32,
        queries,
        lost: lost_a + lost_aaaa,
        lost_a,
        lost_aaaa,
        lost_one_of_pair: lookups
            .iter()
            .filter(|l| l.iter().filter(|g| g.answered_ms.is_none()).count() == 1)
            .count() as u32,
        loss_ratio: ratio(lost_a + lost_aaaa, queries),
        latency_ms: stats::latency_stats(&mut latencies),
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// The race's signature: pairs sent together lose one of the two in at least two lookups,
/// and lose at least three times the share (and 5 points more) that queries sent apart do.
fn race(styles: &[BurstStyleEvidence]) -> bool {
    let of = |s: BurstStyle| styles.iter().find(|e| e.style == s);
    match (
        of(BurstStyle::Parallel),
        of(BurstStyle::SingleRequestReopen),
    ) {
        (Some(pair), Some(apart)) => {
            pair.lost_one_of_pair >= 2
                && pair.loss_ratio >= 3.0 * apart.loss_ratio
                && pair.loss_ratio >= apart.loss_ratio + 0.05
        }
        _ => false,
    }
}

fn check(evidence: DnsBurstEvidence, duration_ms: f64) -> BurstResult {
    let queries: u32 = evidence.styles.iter().map(|s| s.queries).sum();
    let lost: u32 = evidence.styles.iter().map(|s| s.lost).sum();
    let pct = |s: &BurstStyleEvidence| (s.loss_ratio * 100.0).round() as u32;
    let row = |s: &BurstStyleEvidence| {
        let p90 = s
            .latency_ms
            .as_ref()
            .map(|l| format!(", p90 {} ms", shortest(l.p90_ms)))
            .unwrap_or_default();
        format!("{} {} of {} lost{p90}", s.style, s.lost, s.queries)
    };
    let rows: Vec<String> = evidence.styles.iter().map(row).collect();
    let facts = Burst {
        queries,
        lost,
        parallel_loss_pct: evidence.styles.first().map(pct).unwrap_or_default(),
        reopen_loss_pct: evidence.styles.get(1).map(pct).unwrap_or_default(),
        race: evidence.race_signature,
    };
    let (status, hint) = if queries == 0 {
        (CheckStatus::Skip, None)
    } else if evidence.race_signature {
        (CheckStatus::Fail, Some("the conntrack insert race (kubernetes#56903): `options single-request-reopen` (glibc) in the pod's dnsConfig, `use-vc`, or NodeLocal DNSCache".to_string()))
    } else if lost == 0 {
        (CheckStatus::Pass, None)
    } else if lost == queries {
        (CheckStatus::Fail, None)
    } else {
        (CheckStatus::Warn, Some("a share of DNS queries is lost: look at the DNS pods' load and restarts, and the node's conntrack table (conntrack -S)".to_string()))
    };
    let summary = if queries == 0 {
        "no lookup started before the deadline".to_string()
    } else if lost == queries {
        format!("{queries} queries to {}: every one lost", evidence.server)
    } else {
        format!(
            "{queries} queries to {}: {}",
            evidence.server,
            rows.join("; ")
        )
    };
    BurstResult {
        facts: (queries > 0).then_some(facts),
        check: Check {
            id: CheckId::DnsBurst,
            status,
            summary,
            evidence: Evidence::DnsBurst(evidence),
            hint,
            duration_ms,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(style: BurstStyle, pairs: &[(bool, bool)]) -> BurstStyleEvidence {
        let lookups: Vec<Vec<Got>> = pairs
            .iter()
            .map(|(a, aaaa)| {
                vec![
                    Got {
                        aaaa: false,
                        answered_ms: a.then_some(1.0),
                    },
                    Got {
                        aaaa: true,
                        answered_ms: aaaa.then_some(2.0),
                    },
                ]
            })
            .collect();
        summarize(style, &lookups)
    }

    #[test]
    fn the_race_is_pairs_losing_one_far_more_than_queries_apart() {
        let mut pairs = vec![(true, true); 16];
        pairs[0] = (true, false);
        pairs[1] = (true, false);
        pairs[2] = (false, true);
        let racing = style(BurstStyle::Parallel, &pairs);
        assert_eq!(
            (racing.lost_a, racing.lost_aaaa, racing.lost_one_of_pair),
            (1, 2, 3)
        );
        let clean = style(BurstStyle::SingleRequestReopen, &[(true, true); 16]);
        assert!(race(&[racing, clean]));
        // The same loss both ways is loss, not the race.
        let lossy_pairs = style(BurstStyle::Parallel, &pairs);
        let lossy_apart = style(BurstStyle::SingleRequestReopen, &pairs);
        assert!(!race(&[lossy_pairs, lossy_apart]));
        // Whole pairs lost (a dead server) are not the race either.
        let dead = style(BurstStyle::Parallel, &[(false, false); 16]);
        assert!(!race(&[
            dead,
            style(BurstStyle::SingleRequestReopen, &[(true, true); 16])
        ]));
    }

    #[test]
    fn the_check_says_loss_per_style() {
        let styles = vec![
            style(BurstStyle::Parallel, &[(true, true), (false, true)]),
            style(
                BurstStyle::SingleRequestReopen,
                &[(true, true), (true, true)],
            ),
        ];
        let result = check(
            DnsBurstEvidence {
                server: "10.0.0.10:53".into(),
                name: "kubernetes.default.svc.cluster.local.".into(),
                timeout_ms: 1000,
                race_signature: race(&styles),
                styles,
            },
            1.0,
        );
        assert_eq!(result.check.status, CheckStatus::Warn);
        let facts = result.facts.unwrap();
        assert_eq!(
            (facts.queries, facts.lost, facts.parallel_loss_pct),
            (8, 1, 25)
        );
        assert!(
            result.check.summary.contains("a-aaaa-parallel 1 of 4 lost"),
            "{}",
            result.check.summary
        );
    }
}
