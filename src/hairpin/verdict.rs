//! What the hairpin attempts add up to, as rules over their counts. Pure: no sockets, no
//! clock, so every rule is covered by a table test. The first rule that applies decides the
//! [`HairpinReason`]; the reason decides the status ([`HairpinReason::status`]).

use crate::decimal::fixed;
use crate::report::{HairpinReason, HairpinSummary, HairpinVerdict, TcpOutcome};

/// What a broken hairpin needs on the node, for the hints.
const HAIRPIN_HINT: &str = "a pod reaching itself through its Service needs the bridge port's \
    hairpin mode (kubelet --hairpin-mode=hairpin-veth or promiscuous-bridge; on the node, \
    /sys/class/net/<bridge>/brif/*/hairpin_mode should be 1) and kube-proxy's masquerade of \
    hairpin traffic (`-s <podIP> -j KUBE-MARK-MASQ` in each KUBE-SEP chain)";

const MORE_ATTEMPTS_HINT: &str = "make more attempts (--attempts), or check that this pod is \
    one of the Service's endpoints (--target-port, --endpoints)";

/// 1 − (1 − 1/k)^n: the chance that n attempts land on this pod at least once. An integer
/// power by repeated squaring (`powi`): `powf` linked musl's `pow` and its tables (8 KB of
/// the binary) for this one line.
pub fn p_self(endpoints: u32, attempts: u32) -> f64 {
    if endpoints == 0 {
        return 0.0;
    }
    let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
    1.0 - (1.0 - 1.0 / f64::from(endpoints)).powi(attempts)
}

/// The largest k for which n attempts land on this pod at least once with 99% probability.
pub fn max_endpoints_99(attempts: u32) -> u32 {
    let mut k = 1;
    while k < 100_000 && p_self(k + 1, attempts) >= 0.99 {
        k += 1;
    }
    k
}

/// Attempts whose SYN was dropped at least once: timeouts, and slow connects.
pub fn dropped(s: &HairpinSummary) -> u32 {
    s.outcomes.get(&TcpOutcome::Timeout).copied().unwrap_or(0) + s.slow
}

/// What the rules look at.
struct Facts<'a> {
    /// Every attempt, both rounds.
    all: &'a HairpinSummary,
    /// The spaced-out second round, when there was one.
    recheck: Option<&'a HairpinSummary>,
    /// How many endpoints the Service has, when known.
    endpoints: Option<u32>,
    /// `ip:port`, for the wording.
    service: &'a str,
}

/// A rule's conclusion: the reason, one or two sentences, and what to check next.
struct Finding {
    reason: HairpinReason,
    summary: String,
    hint: Option<String>,
}

type Rule = fn(&Facts) -> Option<Finding>;

/// In order: the first that applies decides. [`self_not_seen`] is what is left.
const RULES: &[Rule] = &[
    self_reached,
    no_attempts,
    nothing_connected,
    only_endpoint_is_another_pod,
    drops_only_in_the_burst,
    drops_on_the_way_here,
];

/// The verdict from the counts: `s` covers every attempt, `recheck` the spaced-out second
/// round when there was one. `service` is only for the wording.
pub fn verdict(
    s: &HairpinSummary,
    recheck: Option<&HairpinSummary>,
    endpoints: Option<u32>,
    service: &str,
) -> HairpinVerdict {
    let facts = Facts {
        all: s,
        recheck,
        endpoints,
        service,
    };
    let finding = RULES
        .iter()
        .find_map(|rule| rule(&facts))
        .unwrap_or_else(|| self_not_seen(&facts));
    HairpinVerdict {
        status: finding.reason.status(),
        reason: finding.reason,
        summary: finding.summary,
        hint: finding.hint,
        p_self_if_healthy: endpoints.map(|k| p_self(k, s.attempts)),
        max_endpoints_99: match endpoints {
            None if s.attempts > 0 => Some(max_endpoints_99(s.attempts)),
            _ => None,
        },
    }
}

fn self_reached(f: &Facts) -> Option<Finding> {
    let s = f.all;
    (s.reached_self > 0).then(|| Finding {
        reason: HairpinReason::SelfReached,
        summary: format!(
            "hairpin works: {} of {} connections to {} landed on this pod and succeeded",
            s.reached_self, s.attempts, f.service
        ),
        hint: (s.failed > 0 || s.slow > 0).then(|| {
            format!(
                "{} attempts failed and {} were slow, but not on the way to this pod: check \
                 the other endpoints directly (`svcprobe tcp POD_IP:PORT`)",
                s.failed, s.slow
            )
        }),
    })
}

fn no_attempts(f: &Facts) -> Option<Finding> {
    (f.all.attempts == 0).then(|| Finding {
        reason: HairpinReason::NoAttempts,
        summary: "the deadline left no time for an attempt".into(),
        hint: Some("give a --deadline longer than --timeout".into()),
    })
}

/// Every attempt failed: a broken hairpin when this pod is the only endpoint, else the
/// Service answers no one.
fn nothing_connected(f: &Facts) -> Option<Finding> {
    let (s, service) = (f.all, f.service);
    if s.connected > 0 {
        return None;
    }
    let failures = failure_words(s);
    Some(if f.endpoints == Some(1) {
        Finding {
            reason: HairpinReason::HairpinDropped,
            summary: format!(
                "this pod cannot reach itself through its Service: every connection to \
                 {service}, whose only endpoint is this pod, failed ({failures})"
            ),
            hint: Some(HAIRPIN_HINT.into()),
        }
    } else {
        Finding {
            reason: HairpinReason::NoConnection,
            summary: format!(
                "no connection to {service} succeeded ({failures}): if this pod is the \
                 Service's only endpoint, that is a broken hairpin; otherwise the Service does \
                 not answer at all"
            ),
            hint: Some(format!(
                "run `svcprobe tcp {service}` from another pod: if it connects there, the \
                 hairpin is broken here ({HAIRPIN_HINT}); pass --endpoints N when the count \
                 of endpoints is known"
            )),
        }
    })
}

/// Connections got through, and the Service's one endpoint is not this pod.
fn only_endpoint_is_another_pod(f: &Facts) -> Option<Finding> {
    (f.endpoints == Some(1)).then(|| Finding {
        reason: HairpinReason::NotAnEndpoint,
        summary: format!(
            "{} of {} connections to {} reached a server in another pod, and the Service has \
             one endpoint: it is not this pod",
            f.all.connected, f.all.attempts, f.service
        ),
        hint: Some(
            "compare the Service's selector and targetPort with this pod's labels and ports".into(),
        ),
    })
}

/// Drops in the back-to-back round that did not recur when spaced out: an endpoint whose
/// accept queue overflowed, not a hairpin.
fn drops_only_in_the_burst(f: &Facts) -> Option<Finding> {
    let calm = f.recheck.filter(|r| dropped(r) == 0 && r.attempts > 0)?;
    (dropped(f.all) > 0).then(|| Finding {
        reason: HairpinReason::SelfNotSeen,
        summary: format!(
            "none of {} connections to {} landed on this pod; {} SYNs dropped while attempts \
             came back to back did not recur in {} spaced-out attempts: an endpoint that \
             accepts slowly, not a hairpin",
            f.all.attempts,
            f.service,
            dropped(f.all),
            calm.attempts
        ),
        hint: Some(MORE_ATTEMPTS_HINT.into()),
    })
}

/// None landed here, some were dropped, the rest reached other endpoints at once: the
/// dropped ones are those that came back to this pod.
fn drops_on_the_way_here(f: &Facts) -> Option<Finding> {
    let s = f.all;
    if dropped(s) == 0 {
        return None;
    }
    let timeouts = s.outcomes.get(&TcpOutcome::Timeout).copied().unwrap_or(0);
    let fast_other = s.reached_other.saturating_sub(s.slow);
    let again = match f.recheck {
        Some(r) => format!(
            " (and again when spaced out: {} of {})",
            dropped(r),
            r.attempts
        ),
        None => String::new(),
    };
    Some(Finding {
        reason: HairpinReason::HairpinDropped,
        summary: format!(
            "connections that land on this pod are dropped: none of {} connections to {} \
             reached this pod, {timeouts} timed out and {} were slow (a dropped SYN \
             retransmitted after about 1 s, then sent elsewhere){again}, while {fast_other} \
             reached other endpoints at once",
            s.attempts, f.service, s.slow
        ),
        hint: Some(format!(
            "{HAIRPIN_HINT}; an endpoint that silently drops this pod's traffic looks the \
             same from here, so check each endpoint directly (`svcprobe tcp POD_IP:PORT`)"
        )),
    })
}

/// Nothing dropped and nothing landed here: how likely that is with a working hairpin.
fn self_not_seen(f: &Facts) -> Finding {
    let n = f.all.attempts;
    let odds = match f.endpoints {
        Some(k) => format!(
            "with {k} endpoints a working hairpin would have shown itself with probability \
             {}",
            fixed(p_self(k, n), 4)
        ),
        None => format!(
            "the number of endpoints is unknown; with at most {} a working hairpin would have \
             shown itself with 99% probability",
            max_endpoints_99(n)
        ),
    };
    Finding {
        reason: HairpinReason::SelfNotSeen,
        summary: format!(
            "none of {n} connections to {} landed on this pod, and none was dropped; {odds}",
            f.service
        ),
        hint: Some(MORE_ATTEMPTS_HINT.into()),
    }
}

/// `2 timeout, 1 refused`: the failures among the attempts.
fn failure_words(s: &HairpinSummary) -> String {
    let words: Vec<String> = s
        .outcomes
        .iter()
        .filter(|(k, _)| **k != TcpOutcome::Connected)
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    words.join(", ")
}

/// For a pod where nothing listens (on the targetPort, when given).
pub fn not_an_endpoint(target_port: Option<u16>) -> HairpinVerdict {
    let summary = match target_port {
        Some(port) => format!(
            "nothing in this pod listens on TCP port {port} (the targetPort): it is not an \
             endpoint of the Service, so there is no hairpin to test"
        ),
        None => "this pod listens on no TCP port (loopback aside): it cannot be an endpoint \
                 of a Service, so there is no hairpin to test"
            .to_string(),
    };
    unprobed(
        HairpinReason::NotAnEndpoint,
        summary,
        "run `svcprobe hairpin` in a pod that backs the Service (e.g. with `kubectl debug \
         --target` into one of its pods)"
            .into(),
    )
}

/// For a Service name that did not resolve (`how`: the lookup's status and reason).
pub fn not_resolved(target: &str, how: &str) -> HairpinVerdict {
    unprobed(
        HairpinReason::NotResolved,
        format!("{target} did not resolve ({how}): nothing to connect to"),
        format!("run `svcprobe nslookup {target}` to see every query, or give the ClusterIP"),
    )
}

/// A verdict reached before any attempt.
fn unprobed(reason: HairpinReason, summary: String, hint: String) -> HairpinVerdict {
    HairpinVerdict {
        status: reason.status(),
        reason,
        summary,
        hint: Some(hint),
        p_self_if_healthy: None,
        max_endpoints_99: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::hairpin::summarize;
    use crate::report::{HairpinAttempt, HairpinStatus, Landed};
    use HairpinReason::{NoAttempts, SelfReached};

    /// An attempt as the table writes it: outcome, where it landed, connect time.
    type Row = (TcpOutcome, Option<Landed>, f64);

    const SELF: Row = (TcpOutcome::Connected, Some(Landed::ThisPod), 0.2);
    const OTHER: Row = (TcpOutcome::Connected, Some(Landed::OtherPod), 0.3);
    const SLOW_OTHER: Row = (TcpOutcome::Connected, Some(Landed::OtherPod), 1010.0);
    const TIMEOUT: Row = (TcpOutcome::Timeout, None, 1500.0);
    const REFUSED: Row = (TcpOutcome::Refused, None, 0.3);
    const REJECTED: Row = (TcpOutcome::Rejected, None, 0.1);

    fn summary(rows: &[Row]) -> HairpinSummary {
        let attempts: Vec<HairpinAttempt> = rows
            .iter()
            .zip(1..)
            .map(|((outcome, landed, ms), seq)| HairpinAttempt {
                seq,
                outcome: *outcome,
                landed: *landed,
                duration_ms: *ms,
                slow: *ms >= 900.0 && *outcome == TcpOutcome::Connected,
                local: None,
                seen_as: None,
                mss_tag: 560,
                icmp: None,
                detail: None,
                recheck: false,
            })
            .collect();
        summarize(&attempts)
    }

    /// Attempts, the spaced-out round (if any), endpoints known: reason (and so status).
    type Case = (Vec<Row>, Option<Vec<Row>>, Option<u32>, HairpinReason);

    fn cases() -> Vec<Case> {
        use HairpinReason::*;
        vec![
            (vec![SELF, OTHER, OTHER], None, Some(3), SelfReached),
            (vec![SELF, TIMEOUT, REFUSED], None, None, SelfReached),
            (vec![SELF; 2], None, Some(1), SelfReached),
            (vec![], None, Some(3), NoAttempts),
            (vec![], None, None, NoAttempts),
            (vec![TIMEOUT, TIMEOUT], None, Some(1), HairpinDropped),
            (vec![TIMEOUT, TIMEOUT], None, None, NoConnection),
            (vec![REFUSED, REFUSED], None, Some(3), NoConnection),
            (vec![REJECTED], None, None, NoConnection),
            (vec![OTHER, OTHER], None, Some(1), NotAnEndpoint),
            (vec![OTHER, SLOW_OTHER], None, Some(1), NotAnEndpoint),
            (
                vec![OTHER, SLOW_OTHER, OTHER],
                None,
                Some(3),
                HairpinDropped,
            ),
            (vec![OTHER, TIMEOUT, OTHER], None, None, HairpinDropped),
            (
                vec![OTHER, SLOW_OTHER, OTHER, OTHER],
                Some(vec![OTHER, TIMEOUT]),
                Some(3),
                HairpinDropped,
            ),
            (
                vec![OTHER, SLOW_OTHER, OTHER, OTHER],
                Some(vec![OTHER, OTHER]),
                Some(3),
                SelfNotSeen,
            ),
            // A spaced-out round that made no attempt says nothing.
            (vec![OTHER, TIMEOUT], Some(vec![]), None, HairpinDropped),
            (vec![OTHER, OTHER, REFUSED], None, Some(3), SelfNotSeen),
            (vec![OTHER; 20], None, None, SelfNotSeen),
        ]
    }

    #[test]
    fn the_rules_in_order() {
        for (rows, recheck, k, reason) in cases() {
            let all: Vec<Row> = rows
                .iter()
                .chain(recheck.iter().flatten())
                .copied()
                .collect();
            let recheck = recheck.map(|r| summary(&r));
            let v = verdict(&summary(&all), recheck.as_ref(), k, "10.0.1.175:80");
            assert_eq!(v.reason, reason, "{rows:?} k={k:?}: {v:?}");
            assert_eq!(v.status, reason.status());
            assert!(v.summary.contains("10.0.1.175:80") || reason == NoAttempts);
            assert!(v.hint.is_some() || reason == SelfReached, "{v:?}");
        }
    }

    #[test]
    fn every_reason_has_a_rule_or_a_maker_and_its_status() {
        let mut seen: BTreeSet<HairpinReason> = cases().into_iter().map(|c| c.3).collect();
        seen.insert(not_an_endpoint(None).reason);
        seen.insert(not_resolved("web", "nxdomain").reason);
        assert_eq!(seen.len(), HairpinReason::ALL.len(), "{seen:?}");
        let pass: Vec<_> = HairpinReason::ALL
            .iter()
            .filter(|r| r.status() == HairpinStatus::Pass)
            .collect();
        assert_eq!(pass, [&HairpinReason::SelfReached]);
    }

    #[test]
    fn the_wording_carries_the_numbers() {
        let v = verdict(&summary(&[OTHER; 20]), None, Some(3), "s");
        assert!(v.p_self_if_healthy.is_some_and(|p| p > 0.999), "{v:?}");
        assert!(v.summary.contains("0.9997"), "{}", v.summary);
        let v = verdict(&summary(&[OTHER; 20]), None, None, "s");
        assert_eq!((v.p_self_if_healthy, v.max_endpoints_99), (None, Some(4)));
        let burst = summary(&[OTHER, SLOW_OTHER, OTHER]);
        let v = verdict(&burst, Some(&summary(&[OTHER, OTHER])), Some(3), "s");
        assert!(v.summary.contains("accepts slowly"), "{}", v.summary);
        let v = verdict(&burst, Some(&summary(&[OTHER, TIMEOUT])), Some(3), "s");
        assert!(v.summary.contains("again when spaced out"), "{}", v.summary);
        let v = verdict(&summary(&[TIMEOUT, REFUSED]), None, None, "s");
        assert!(v.summary.contains("1 refused, 1 timeout"), "{}", v.summary);
        assert!(not_an_endpoint(Some(9376)).summary.contains("9376"));
        assert!(not_an_endpoint(None).summary.contains("no TCP port"));
    }

    #[test]
    fn probability_of_seeing_self() {
        assert!((p_self(3, 20) - (1.0 - (2.0f64 / 3.0).powi(20))).abs() < 1e-12);
        assert_eq!(p_self(1, 1), 1.0);
        assert_eq!(p_self(0, 5), 0.0);
        assert_eq!(max_endpoints_99(20), 4);
        assert_eq!(max_endpoints_99(1), 1);
        assert!(p_self(3, 40) > 1.0 - 1e-6);
    }
}
