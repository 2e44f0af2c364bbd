//! The guide's edge case "a Pod fails to reach itself via the Service IP", as a probe that
//! `svcprobe hairpin` and `diagnose` share.
//!
//! From a pod that backs a Service, connect to the Service IP many times. kube-proxy sends
//! each connection to a random endpoint, so about one in k lands on this very pod: the
//! packet leaves through the pod's veth and must come back through the same bridge port
//! (the bridge's `hairpin_mode`), masqueraded so that the reply returns through the node
//! (kube-proxy's `-s podIP -j KUBE-MARK-MASQ`). When either is missing, the SYN is dropped:
//! the connect times out, or the kernel retransmits it after about a second and kube-proxy
//! may then pick another endpoint, so the connect is merely slow.
//!
//! # Seeing "landed on this pod" without the application's help
//! Every attempt's SYN carries a *tag* in its MSS option (`TCP_MAXSEG` before `connect`):
//! a value from 560 to 1184 in steps of 16, distinct among the attempts in flight and
//! below any real path's MSS, so nothing lowers it on the way. DNAT and masquerade rewrite
//! addresses and ports (with `--random-fully`, the source port is random, so the accepted
//! socket's peer says nothing about which connection it is) but never TCP options. The
//! server side of a connection derives its send MSS from the SYN's MSS option (minus 12
//! bytes when timestamps are on). So right after a connect succeeds, a socket in this
//! network namespace whose local port is one we listen on and whose `tcpi_snd_mss` falls in
//! the attempt's tag window `[tag - 12, tag]` was created by this attempt's SYN: the
//! connection landed on this pod. Nothing else matches by accident: other clients' SYNs
//! carry their path MSS (1200 and more in practice), and tags of attempts in flight are 16
//! apart. The sockets come from `sock_diag` (see [`crate::sockdiag`]), which, unlike
//! `/proc/net/tcp`, has the MSS. Limits: a listener that sets its own smaller
//! `TCP_MAXSEG`, or `net.ipv4.tcp_min_snd_mss` raised above 560, would hide self-landings,
//! which can only turn a `pass` into `inconclusive`, never fake one.
//!
//! Attempts run one after another while they are fast (so a healthy run takes a few
//! milliseconds); one that is still in flight after 25 ms lets the next start, up to 8 at
//! once, so dropped SYNs cannot stretch the probe past its deadline.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::cmd::tcp::{icmp_report, latency_stats};
use crate::dns::millis;
use crate::error::Error;
use crate::net::{self, Outcome};
use crate::report::{HairpinAttempt, HairpinReport, HairpinStatus, HairpinSummary, HairpinVerdict};
use crate::sockdiag::{self, ESTABLISHED, LISTEN, NEW_SYN_RECV, SYN_RECV};

pub const DEFAULT_COUNT: u32 = 20;
/// Longer than the kernel's first SYN retransmit (1 s), so a dropped-then-retransmitted SYN
/// shows as a slow connect rather than a timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);
pub const MAX_COUNT: u32 = 1000;
/// Most attempts in flight at once.
pub const MAX_PARALLEL: usize = 8;
/// An attempt still in flight after this long lets the next one start.
const STAGGER: Duration = Duration::from_millis(25);
/// A connect this slow waited for a SYN retransmit (the first comes after 1 s).
pub const SLOW: Duration = Duration::from_millis(900);

const MSS_BASE: u32 = 560;
const MSS_STEP: u32 = 16;
const MSS_SLOTS: u32 = 40;
/// Bytes of TCP options (timestamps) the server side's send MSS leaves out.
const MSS_OPTIONS: u32 = 12;
/// How often to look again for the server side while its handshake is still finishing.
const LOOKUPS: u32 = 4;

/// What to probe and how hard.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Service's ClusterIP and port.
    pub service: SocketAddr,
    pub count: u32,
    /// Deadline of each connect.
    pub timeout: Duration,
    /// Deadline of the whole probe.
    pub deadline: Duration,
    /// The Service's targetPort, when known: only it counts as "this pod's server".
    pub target_port: Option<u16>,
    /// How many endpoints the Service has, when known.
    pub endpoints: Option<u32>,
}

/// Runs the probe. Errors only when it cannot run at all (the service address is this
/// pod's own, or the socket table cannot be read); every network outcome is in the report.
pub fn probe(config: &Config) -> Result<HairpinReport, Error> {
    let start = Instant::now();
    let service = config.service;
    if is_local(service.ip()) {
        return Err(Error::Usage(format!(
            "{} is an address of this pod: give the Service's ClusterIP",
            service.ip()
        )));
    }
    let listeners = sockdiag::dump(1 << LISTEN).map_err(|source| Error::Io {
        what: "list this pod's TCP sockets (sock_diag netlink)".into(),
        source,
    })?;
    let mut listening_ports: Vec<u16> = listeners
        .iter()
        .filter(|s| s.state == LISTEN && !s.local.ip().is_loopback())
        .map(|s| s.local.port())
        .collect();
    listening_ports.sort_unstable();
    listening_ports.dedup();
    let watched: Vec<u16> = match config.target_port {
        Some(port) => listening_ports
            .iter()
            .copied()
            .filter(|p| *p == port)
            .collect(),
        None => listening_ports.clone(),
    };
    let mut report = HairpinReport {
        target: service.to_string(),
        service: Some(service.to_string()),
        resolution: None,
        pod_ip: source_address(service).map(|ip| ip.to_string()),
        listening_ports,
        target_port: config.target_port,
        endpoints: config.endpoints,
        count: config.count,
        timeout_ms: config.timeout.as_millis() as u64,
        deadline_ms: config.deadline.as_millis() as u64,
        max_parallel: 0,
        attempts: Vec::new(),
        summary: summarize(&[]),
        verdict: not_an_endpoint(config.target_port),
        deadline_exceeded: false,
        duration_ms: 0.0,
    };
    if !watched.is_empty() {
        let run = run_attempts(config, &watched, start + config.deadline);
        report.summary = summarize(&run.attempts);
        report.verdict = verdict(&report.summary, config.endpoints, &service.to_string());
        report.attempts = run.attempts;
        report.max_parallel = run.max_parallel;
        report.deadline_exceeded = run.unmade > 0;
    }
    report.duration_ms = millis(start.elapsed());
    Ok(report)
}

/// The verdict for a pod where nothing listens (on the targetPort, when given).
fn not_an_endpoint(target_port: Option<u16>) -> HairpinVerdict {
    let summary = match target_port {
        Some(port) => format!(
            "nothing in this pod listens on TCP port {port} (the targetPort): it is not an \
             endpoint of the Service, so there is no hairpin to test"
        ),
        None => "this pod listens on no TCP port (loopback aside): it cannot be an endpoint \
                 of a Service, so there is no hairpin to test"
            .to_string(),
    };
    HairpinVerdict {
        status: HairpinStatus::Inconclusive,
        reason: "not-an-endpoint",
        summary,
        hint: Some(
            "run `svcprobe hairpin` in a pod that backs the Service (e.g. with `kubectl \
             debug --target` into one of its pods)"
                .into(),
        ),
        p_self_if_healthy: None,
        max_endpoints_99: None,
    }
}

/// True when `ip` is an address of this network namespace (binding to it works).
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// The source address the kernel picks toward `to` (a UDP "connect" sends nothing).
fn source_address(to: SocketAddr) -> Option<IpAddr> {
    let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(to).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// The MSS tag of attempt `seq` (1-based).
pub fn mss_tag(seq: u32) -> u32 {
    MSS_BASE + MSS_STEP * (seq.saturating_sub(1) % MSS_SLOTS)
}

/// Whether a server-side send MSS comes from a SYN tagged `tag`.
pub fn tag_matches(tag: u32, snd_mss: u32) -> bool {
    snd_mss <= tag && tag - snd_mss <= MSS_OPTIONS
}

struct Run {
    attempts: Vec<HairpinAttempt>,
    max_parallel: u32,
    /// Attempts the deadline left unmade.
    unmade: u32,
}

/// Makes up to `config.count` attempts: one after another while each finishes within
/// [`STAGGER`], more at once (up to [`MAX_PARALLEL`]) while some hang; none starts unless
/// its whole timeout fits before `deadline` (except the first, which gets what is left).
fn run_attempts(config: &Config, watched: &[u16], deadline: Instant) -> Run {
    let (tx, rx) = mpsc::channel();
    let mut attempts = Vec::new();
    let mut next = 1u32;
    let mut in_flight = 0usize;
    let mut max_parallel = 0usize;
    let mut last_start = Instant::now();
    thread::scope(|scope| loop {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        let fits = left >= config.timeout || (next == 1 && !left.is_zero());
        let may_start = next <= config.count && fits && in_flight < MAX_PARALLEL;
        if may_start && (in_flight == 0 || now >= last_start + STAGGER) {
            let (seq, timeout, tx) = (next, config.timeout.min(left), tx.clone());
            let service = config.service;
            let spawned = thread::Builder::new().spawn_scoped(scope, move || {
                let _ = tx.send(attempt(seq, service, timeout, watched));
            });
            next += 1;
            last_start = now;
            match spawned {
                Ok(_) => {
                    in_flight += 1;
                    max_parallel = max_parallel.max(in_flight);
                }
                Err(e) => attempts.push(not_started(seq, &e)),
            }
            continue;
        }
        if in_flight == 0 {
            break;
        }
        let received = if may_start {
            rx.recv_timeout((last_start + STAGGER).saturating_duration_since(now))
                .ok()
        } else {
            rx.recv().ok()
        };
        if let Some(done) = received {
            attempts.push(done);
            in_flight -= 1;
        }
    });
    attempts.sort_by_key(|a| a.seq);
    Run {
        attempts,
        max_parallel: max_parallel as u32,
        unmade: config.count.saturating_sub(next - 1),
    }
}

/// One tagged connect, and where it landed.
fn attempt(seq: u32, service: SocketAddr, timeout: Duration, watched: &[u16]) -> HairpinAttempt {
    let tag = mss_tag(seq);
    match net::connect_with(service, None, timeout, |s| s.set_tcp_mss(tag)) {
        Ok(connected) => {
            let found = server_side(tag, watched);
            // Closing sends our FIN; the server side leaves the states we look for.
            drop(connected.stream);
            let (landed, seen_as, detail) = match found {
                Ok(Some(peer)) => (Some("self"), Some(peer.to_string()), None),
                Ok(None) => (Some("other"), None, None),
                Err(e) => (None, None, Some(format!("cannot list sockets: {e}"))),
            };
            HairpinAttempt {
                seq,
                outcome: Outcome::Connected.as_str(),
                landed,
                duration_ms: millis(connected.elapsed),
                slow: connected.elapsed >= SLOW,
                local: connected.local.map(|l| l.to_string()),
                seen_as,
                mss_tag: tag,
                icmp: None,
                detail,
            }
        }
        Err(failure) => HairpinAttempt {
            seq,
            outcome: failure.outcome.as_str(),
            landed: None,
            duration_ms: millis(failure.elapsed),
            slow: false,
            local: failure.local.map(|l| l.to_string()),
            seen_as: None,
            mss_tag: tag,
            icmp: failure.icmp.as_ref().map(icmp_report),
            detail: Some(failure.error.to_string()),
        },
    }
}

fn not_started(seq: u32, error: &std::io::Error) -> HairpinAttempt {
    HairpinAttempt {
        seq,
        outcome: Outcome::Error.as_str(),
        landed: None,
        duration_ms: 0.0,
        slow: false,
        local: None,
        seen_as: None,
        mss_tag: mss_tag(seq),
        icmp: None,
        detail: Some(format!("cannot start a thread: {error}")),
    }
}

/// The peer address of the server-side socket our tagged SYN created, if it is in this
/// namespace. connect() returns when the SYN-ACK arrives; our ACK may still be on its way
/// to the server side (then only a request socket, without MSS, is there): look again.
fn server_side(tag: u32, watched: &[u16]) -> std::io::Result<Option<SocketAddr>> {
    let states = 1 << ESTABLISHED | 1 << SYN_RECV | 1 << 4 | 1 << 5; // and FIN_WAIT1/2
    for _ in 0..LOOKUPS {
        let sockets = sockdiag::dump(states)?;
        let ours = |port: u16| watched.contains(&port);
        if let Some(found) = sockets
            .iter()
            .find(|s| ours(s.local.port()) && s.snd_mss.is_some_and(|m| tag_matches(tag, m)))
        {
            return Ok(Some(found.remote));
        }
        let pending = sockets
            .iter()
            .any(|s| ours(s.local.port()) && matches!(s.state, SYN_RECV | NEW_SYN_RECV));
        if !pending {
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    Ok(None)
}

/// Counts and latencies (pure).
pub fn summarize(attempts: &[HairpinAttempt]) -> HairpinSummary {
    let mut outcomes: BTreeMap<&'static str, u32> = BTreeMap::new();
    let (mut self_ms, mut other_ms) = (Vec::new(), Vec::new());
    let mut slow = 0;
    for a in attempts {
        *outcomes.entry(a.outcome).or_default() += 1;
        match a.landed {
            Some("self") => self_ms.push(a.duration_ms),
            Some(_) => other_ms.push(a.duration_ms),
            None => {}
        }
        slow += u32::from(a.slow);
    }
    let connected = outcomes
        .get(Outcome::Connected.as_str())
        .copied()
        .unwrap_or(0);
    HairpinSummary {
        attempts: attempts.len() as u32,
        connected,
        reached_self: self_ms.len() as u32,
        reached_other: other_ms.len() as u32,
        failed: attempts.len() as u32 - connected,
        slow,
        outcomes,
        latency_self: latency_stats(&mut self_ms),
        latency_other: latency_stats(&mut other_ms),
    }
}

/// 1 − (1 − 1/k)^n: the chance that n attempts land on this pod at least once.
pub fn p_self(endpoints: u32, attempts: u32) -> f64 {
    if endpoints == 0 {
        return 0.0;
    }
    1.0 - (1.0 - 1.0 / f64::from(endpoints)).powf(f64::from(attempts))
}

/// The largest k for which n attempts land on this pod at least once with 99% probability.
pub fn max_endpoints_99(attempts: u32) -> u32 {
    let mut k = 1;
    while k < 100_000 && p_self(k + 1, attempts) >= 0.99 {
        k += 1;
    }
    k
}

const HAIRPIN_HINT: &str = "a pod reaching itself through its Service needs the bridge port's \
    hairpin mode (kubelet --hairpin-mode=hairpin-veth or promiscuous-bridge; on the node, \
    /sys/class/net/<bridge>/brif/*/hairpin_mode should be 1) and kube-proxy's masquerade of \
    hairpin traffic (`-s <podIP> -j KUBE-MARK-MASQ` in each KUBE-SEP chain)";

/// The verdict from the counts (pure). `service` is only for the wording.
pub fn verdict(s: &HairpinSummary, endpoints: Option<u32>, service: &str) -> HairpinVerdict {
    let n = s.attempts;
    let p_self_if_healthy = endpoints.map(|k| p_self(k, n));
    let max_endpoints_99 = match endpoints {
        None if n > 0 => Some(max_endpoints_99(n)),
        _ => None,
    };
    let timeouts = s.outcomes.get("timeout").copied().unwrap_or(0);
    let fast_other = s.reached_other.saturating_sub(s.slow);
    let outcome_words = || {
        let words: Vec<String> = s
            .outcomes
            .iter()
            .filter(|(k, _)| **k != "connected")
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        words.join(", ")
    };
    let v = |status, reason, summary: String, hint: Option<String>| HairpinVerdict {
        status,
        reason,
        summary,
        hint,
        p_self_if_healthy,
        max_endpoints_99,
    };
    if s.reached_self > 0 {
        let others = (s.failed > 0 || s.slow > 0).then(|| {
            format!(
                "{} attempts failed and {} were slow, but not on the way to this pod: check \
                 the other endpoints directly (`svcprobe tcp POD_IP:PORT`)",
                s.failed, s.slow
            )
        });
        return v(
            HairpinStatus::Pass,
            "self-reached",
            format!(
                "hairpin works: {} of {n} connections to {service} landed on this pod and \
                 succeeded",
                s.reached_self
            ),
            others,
        );
    }
    if n == 0 {
        return v(
            HairpinStatus::Inconclusive,
            "no-attempts",
            "the deadline left no time for an attempt".into(),
            Some("give a --deadline longer than --timeout".into()),
        );
    }
    if s.connected == 0 {
        if endpoints == Some(1) {
            return v(
                HairpinStatus::Fail,
                "hairpin-dropped",
                format!(
                    "this pod cannot reach itself through its Service: every connection to \
                     {service}, whose only endpoint is this pod, failed ({})",
                    outcome_words()
                ),
                Some(HAIRPIN_HINT.into()),
            );
        }
        return v(
            HairpinStatus::Fail,
            "no-connection",
            format!(
                "no connection to {service} succeeded ({}): if this pod is the Service's only \
                 endpoint, that is a broken hairpin; otherwise the Service does not answer at all",
                outcome_words()
            ),
            Some(format!(
                "run `svcprobe tcp {service}` from another pod: if it connects there, the \
                 hairpin is broken here ({HAIRPIN_HINT}); pass --endpoints N when the count \
                 of endpoints is known"
            )),
        );
    }
    if timeouts + s.slow > 0 {
        return v(
            HairpinStatus::Fail,
            "hairpin-dropped",
            format!(
                "connections that land on this pod are dropped: none of {n} connections to \
                 {service} reached this pod, {timeouts} timed out and {} were slow (a dropped \
                 SYN retransmitted after about 1 s, then sent elsewhere), while {fast_other} \
                 reached other endpoints at once",
                s.slow
            ),
            Some(HAIRPIN_HINT.into()),
        );
    }
    if endpoints == Some(1) {
        return v(
            HairpinStatus::Inconclusive,
            "not-an-endpoint",
            format!(
                "all {n} connections to {service} reached a server in another pod, and the \
                 Service has one endpoint: it is not this pod"
            ),
            Some(
                "compare the Service's selector and targetPort with this pod's labels and \
                 ports"
                    .into(),
            ),
        );
    }
    let odds = match (p_self_if_healthy, max_endpoints_99) {
        (Some(p), _) => format!(
            "with {} endpoints a working hairpin would have shown itself with probability \
             {p:.4}",
            endpoints.unwrap_or(0)
        ),
        (None, Some(k)) => format!(
            "the number of endpoints is unknown; with at most {k} a working hairpin would have \
             shown itself with 99% probability"
        ),
        (None, None) => String::new(),
    };
    v(
        HairpinStatus::Inconclusive,
        "self-not-seen",
        format!(
            "none of {n} connections to {service} landed on this pod, and none was dropped; \
             {odds}"
        ),
        Some(
            "make more attempts (--attempts), or check that this pod is one of the Service's \
             endpoints (--target-port, --endpoints)"
                .into(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(
        seq: u32,
        outcome: &'static str,
        landed: Option<&'static str>,
        ms: f64,
    ) -> HairpinAttempt {
        HairpinAttempt {
            seq,
            outcome,
            landed,
            duration_ms: ms,
            slow: ms >= 900.0 && outcome == "connected",
            local: None,
            seen_as: None,
            mss_tag: mss_tag(seq),
            icmp: None,
            detail: None,
        }
    }

    fn summary(list: &[(&'static str, Option<&'static str>, f64)]) -> HairpinSummary {
        let attempts: Vec<_> = list
            .iter()
            .enumerate()
            .map(|(i, (o, l, ms))| attempt(i as u32 + 1, o, *l, *ms))
            .collect();
        summarize(&attempts)
    }

    const SELF: (&str, Option<&str>, f64) = ("connected", Some("self"), 0.2);
    const OTHER: (&str, Option<&str>, f64) = ("connected", Some("other"), 0.3);
    const SLOW_OTHER: (&str, Option<&str>, f64) = ("connected", Some("other"), 1010.0);
    const TIMEOUT: (&str, Option<&str>, f64) = ("timeout", None, 1500.0);
    const REFUSED: (&str, Option<&str>, f64) = ("refused", None, 0.3);

    #[test]
    fn tags_are_distinct_windows_and_match_with_or_without_timestamps() {
        assert_eq!(mss_tag(1), 560);
        assert_eq!(mss_tag(40), 560 + 39 * 16);
        assert_eq!(mss_tag(41), 560);
        for seq in 1..=MSS_SLOTS {
            let tag = mss_tag(seq);
            assert!(tag_matches(tag, tag) && tag_matches(tag, tag - 12));
            assert!(!tag_matches(tag, tag + 1) && !tag_matches(tag, tag - 13));
            for other in 1..=MSS_SLOTS {
                if other != seq {
                    let o = mss_tag(other);
                    assert!(
                        !tag_matches(o, tag) && !tag_matches(o, tag - 12),
                        "{seq} {other}"
                    );
                }
            }
        }
        // in-flight attempts (at most MAX_PARALLEL apart) never share a tag
        assert!(MSS_SLOTS as usize > MAX_PARALLEL);
        // a typical path MSS (1448 with timestamps) is not a tag
        assert!((1..=MSS_SLOTS).all(|s| !tag_matches(mss_tag(s), 1448)));
    }

    #[test]
    fn summary_counts() {
        let s = summary(&[SELF, OTHER, SLOW_OTHER, TIMEOUT, REFUSED]);
        assert_eq!(
            (
                s.attempts,
                s.connected,
                s.reached_self,
                s.reached_other,
                s.failed,
                s.slow
            ),
            (5, 3, 1, 2, 2, 1)
        );
        assert_eq!(s.outcomes.get("timeout"), Some(&1));
        assert_eq!(s.latency_self.as_ref().map(|l| l.max_ms), Some(0.2));
        assert_eq!(s.latency_other.as_ref().map(|l| l.max_ms), Some(1010.0));
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

    fn decide(
        list: &[(&'static str, Option<&'static str>, f64)],
        k: Option<u32>,
    ) -> HairpinVerdict {
        verdict(&summary(list), k, "10.0.1.175:80")
    }

    #[test]
    fn verdicts() {
        use HairpinStatus::*;
        let cases: Vec<(Vec<_>, Option<u32>, HairpinStatus, &str)> = vec![
            (vec![SELF, OTHER, OTHER], Some(3), Pass, "self-reached"),
            (vec![SELF, TIMEOUT, REFUSED], None, Pass, "self-reached"),
            (
                vec![OTHER, SLOW_OTHER, OTHER],
                Some(3),
                Fail,
                "hairpin-dropped",
            ),
            (vec![OTHER, TIMEOUT, OTHER], None, Fail, "hairpin-dropped"),
            (vec![TIMEOUT, TIMEOUT], Some(1), Fail, "hairpin-dropped"),
            (vec![TIMEOUT, TIMEOUT], None, Fail, "no-connection"),
            (vec![REFUSED, REFUSED], Some(3), Fail, "no-connection"),
            (vec![OTHER, OTHER], Some(1), Inconclusive, "not-an-endpoint"),
            (
                vec![OTHER, OTHER, REFUSED],
                Some(3),
                Inconclusive,
                "self-not-seen",
            ),
            (vec![OTHER; 20], None, Inconclusive, "self-not-seen"),
            (vec![], None, Inconclusive, "no-attempts"),
        ];
        for (list, k, status, reason) in cases {
            let v = decide(&list, k);
            assert_eq!(
                (v.status, v.reason),
                (status, reason),
                "{list:?} k={k:?}: {v:?}"
            );
        }
        let v = decide(&[OTHER; 20], Some(3));
        assert!(v.p_self_if_healthy.is_some_and(|p| p > 0.999), "{v:?}");
        assert!(v.summary.contains("0.9997"), "{}", v.summary);
        let v = decide(&[OTHER; 20], None);
        assert_eq!((v.p_self_if_healthy, v.max_endpoints_99), (None, Some(4)));
    }

    #[test]
    fn not_an_endpoint_wording() {
        let v = not_an_endpoint(Some(9376));
        assert_eq!(
            (v.status, v.reason),
            (HairpinStatus::Inconclusive, "not-an-endpoint")
        );
        assert!(v.summary.contains("9376"));
        assert!(not_an_endpoint(None).summary.contains("no TCP port"));
    }

    #[test]
    fn local_addresses_are_refused() {
        let config = Config {
            service: "127.0.0.1:80".parse().unwrap(),
            count: 1,
            timeout: Duration::from_millis(100),
            deadline: Duration::from_millis(100),
            target_port: None,
            endpoints: None,
        };
        assert!(matches!(probe(&config), Err(Error::Usage(_))));
    }

    #[test]
    fn a_loopback_listener_is_not_an_endpoint_port() {
        // connect through a non-loopback path is not available in unit tests; the listener
        // list must at least leave loopback-only listeners out.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = Config {
            service: "192.0.2.1:80".parse().unwrap(),
            count: 1,
            timeout: Duration::from_millis(50),
            deadline: Duration::from_millis(50),
            target_port: Some(port),
            endpoints: None,
        };
        let report = probe(&config).unwrap();
        assert!(!report.listening_ports.contains(&port));
        assert_eq!(report.verdict.reason, "not-an-endpoint");
        assert!(report.attempts.is_empty());
    }
}
