//! The guide's edge case "a Pod fails to reach itself via the Service IP", as a probe that
//! `svcprobe hairpin` and `diagnose` share.
//!
//! Three things are named `hairpin`; this module is the probe under all of them. The command
//! `svcprobe hairpin` is [`crate::cmd::hairpin`] (its report's verdict is a
//! [`crate::report::HairpinReason`], worked out in [`mod@verdict`]); in `diagnose`, the check
//! [`crate::report::CheckId::Hairpin`] runs the probe from a backend pod
//! (`crate::diagnose::reach`), and the cause [`crate::report::Cause::Hairpin`] is the verdict
//! rule that names a failed hairpin as the Service's problem.
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
//! bytes when timestamps are on). So while a connection is still open, a socket in this
//! network namespace whose local port is one we listen on and whose `tcpi_snd_mss` falls in
//! the attempt's tag window `[tag - 12, tag]` was created by this attempt's SYN: the
//! connection landed on this pod. Nothing else matches by accident: other clients' SYNs
//! carry their path MSS (1200 and more in practice), the tags of the attempts in play are
//! distinct and 16 apart, and a matched connection is closed before its tag comes round
//! again (our FIN takes its server side out of the states looked for). The sockets come from `sock_diag` (see [`crate::sockdiag`]), which, unlike
//! `/proc/net/tcp`, has the MSS. Limits: a listener that sets its own smaller
//! `TCP_MAXSEG`, or `net.ipv4.tcp_min_snd_mss` raised above 560, would hide self-landings,
//! which can only turn a `pass` into `inconclusive`, never fake one.
//!
//! Attempts run one after another while they are fast (a healthy run of 20 takes a few
//! milliseconds, and one socket listing matches them all); one that is still in flight after
//! 25 ms lets the next start, up to 8 at once, so dropped SYNs cannot stretch the probe past
//! its deadline.
//!
//! # Telling a hairpin from a slow endpoint
//! Back-to-back connects can overflow the accept queue of an endpoint that accepts slowly
//! (busybox httpd: backlog 9 and a fork per connection), and those SYNs are dropped too. So
//! when a first round has drops but never reached this pod, a second round spaces its
//! attempts 5 ms apart: a hairpin drops one in k of them again, a drained queue none.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::dns::millis;
use crate::error::{Error, Usage};
use crate::probe::connect;
use crate::probe::stats::latency_stats;
use crate::probe::tcp::icmp_report;
use crate::report::TcpOutcome;
use crate::report::{HairpinAttempt, HairpinReport, HairpinSummary, HairpinVerdict, Landed};
use crate::sockdiag::{self, Families, ESTABLISHED, LISTEN, NEW_SYN_RECV, SYN_RECV};
use verdict::{dropped, not_an_endpoint, verdict};

pub mod verdict;

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
/// Spacing of the second round, made when the first (back to back) saw drops but never
/// this pod: an endpoint whose application accepts slowly (a small backlog, a fork per
/// connection) drops SYNs of a burst too, and a spaced-out round lets its queue drain.
const RECHECK_PACE: Duration = Duration::from_millis(5);

const MSS_BASE: u32 = 560;
const MSS_STEP: u32 = 16;
const MSS_SLOTS: u32 = 40;
/// Bytes of TCP options (timestamps) the server side's send MSS leaves out.
const MSS_OPTIONS: u32 = 12;
/// How often to look again for the server side while its handshake is still finishing.
const LOOKUPS: u32 = 4;

/// How hard to probe (the Service's address is [`probe`]'s own argument).
#[derive(Clone, Debug)]
pub struct Config {
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
pub fn probe(service: SocketAddr, config: &Config) -> Result<HairpinReport, Error> {
    let start = Instant::now();
    if is_local(service.ip()) {
        return Err(Error::Usage(Usage::OwnAddress(service.ip())));
    }
    let listeners = sockdiag::dump(Families::BOTH, 1 << LISTEN).map_err(|source| Error::Io {
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
    let watched: Vec<&sockdiag::TcpSocket> = listeners
        .iter()
        .filter(|s| s.state == LISTEN && !s.local.ip().is_loopback())
        .filter(|s| config.target_port.is_none_or(|p| p == s.local.port()))
        .collect();
    let watch = Watch {
        ports: watched.iter().map(|s| s.local.port()).collect(),
        families: Families {
            ipv4: watched.iter().any(|s| !s.ipv6),
            ipv6: watched.iter().any(|s| s.ipv6),
        },
    };
    let mut report = untried(Some(service), config, not_an_endpoint(config.target_port));
    report.pod_ip = source_address(service).map(|ip| ip.to_string());
    report.listening_ports = listening_ports;
    if !watch.ports.is_empty() {
        let deadline = start + config.deadline;
        let first = Plan {
            first_seq: 1,
            count: config.count,
            pace: Duration::ZERO,
        };
        let mut run = run_attempts(service, config, &watch, first, deadline);
        let fast = summarize(&run.attempts);
        let left = deadline.saturating_duration_since(Instant::now());
        let ambiguous = fast.reached_self == 0
            && fast.connected > 0
            && dropped(&fast) > 0
            && config.endpoints != Some(1);
        let mut recheck = None;
        if ambiguous && left >= config.timeout {
            let paced = Plan {
                first_seq: config.count + 1,
                count: config.count,
                pace: RECHECK_PACE,
            };
            let mut second = run_attempts(service, config, &watch, paced, deadline);
            for a in &mut second.attempts {
                a.recheck = true;
            }
            recheck = Some(summarize(&second.attempts));
            run.attempts.append(&mut second.attempts);
            run.max_parallel = run.max_parallel.max(second.max_parallel);
            run.unmade += second.unmade;
        }
        report.summary = summarize(&run.attempts);
        report.verdict = verdict(
            &report.summary,
            recheck.as_ref(),
            config.endpoints,
            &service.to_string(),
        );
        report.recheck = recheck;
        report.attempts = run.attempts;
        report.max_parallel = run.max_parallel;
        report.deadline_exceeded = run.unmade > 0;
    }
    report.duration_ms = millis(start.elapsed());
    Ok(report)
}

/// A report of no attempt, with `verdict` saying why: [`probe`] starts from it, and
/// `svcprobe hairpin` prints it when the name gave no address to probe (`service` None).
pub fn untried(
    service: Option<SocketAddr>,
    config: &Config,
    verdict: HairpinVerdict,
) -> HairpinReport {
    let service = service.map(|s| s.to_string());
    HairpinReport {
        target: service.clone().unwrap_or_default(),
        service_ref: None,
        service,
        resolution: None,
        pod_ip: None,
        listening_ports: Vec::new(),
        target_port: config.target_port,
        endpoints: config.endpoints,
        count: config.count,
        timeout_ms: config.timeout.as_millis() as u64,
        deadline_ms: config.deadline.as_millis() as u64,
        max_parallel: 0,
        attempts: Vec::new(),
        summary: summarize(&[]),
        verdict,
        recheck: None,
        deadline_exceeded: false,
        duration_ms: 0.0,
    }
}

/// True when `ip` is an address of this network namespace (binding to it works).
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// The source address the kernel picks toward `to` (a UDP "connect" sends nothing). The
/// wildcard is an address, not the text `"0.0.0.0:0"`: binding to text links musl's
/// `getaddrinfo` and its resolver (about 15 KB) for a name that is never looked up.
fn source_address(to: SocketAddr) -> Option<IpAddr> {
    let any = if to.is_ipv4() {
        IpAddr::from(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::from(Ipv6Addr::UNSPECIFIED)
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
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

/// Where the server side of our connections can be: the listening sockets on the watched
/// ports, and the families to list (a `[::]` listener's connections are IPv6 sockets).
struct Watch {
    ports: Vec<u16>,
    families: Families,
}

/// Which attempts a run makes.
#[derive(Clone, Copy)]
struct Plan {
    first_seq: u32,
    count: u32,
    /// Least time between two attempt starts.
    pace: Duration,
}

struct Run {
    attempts: Vec<HairpinAttempt>,
    max_parallel: u32,
    /// Attempts the deadline left unmade.
    unmade: u32,
}

/// A connected attempt whose landing is not known yet; its stream stays open until then,
/// so the server side is still there to be found.
struct Unresolved {
    index: usize,
    tag: u32,
    /// Held open until resolved; dropping it closes the connection.
    _stream: TcpStream,
}

/// Makes up to `config.count` attempts: one after another while each finishes within
/// [`STAGGER`], more at once (up to [`MAX_PARALLEL`]) while some hang; none starts unless
/// its whole timeout fits before `deadline` (except the first, which gets what is left).
///
/// Connected attempts stay open and are matched against the socket table in batches (each
/// listing walks the kernel's whole socket hash, so one listing for twenty attempts rather
/// than twenty): when the run is over, while it waits for hanging attempts, and whenever the
/// attempts not yet matched or in flight would otherwise span more than [`MSS_SLOTS`]
/// sequence numbers, which keeps every tag in play distinct.
fn run_attempts(
    service: SocketAddr,
    config: &Config,
    watch: &Watch,
    plan: Plan,
    deadline: Instant,
) -> Run {
    let (tx, rx) = mpsc::channel();
    let (job_tx, job_rx) = mpsc::channel::<(u32, Duration)>();
    let job_rx = Mutex::new(job_rx);
    let mut workers = 0usize;
    let mut attempts: Vec<HairpinAttempt> = Vec::new();
    let mut unresolved: Vec<Unresolved> = Vec::new();
    let mut in_flight: BTreeSet<u32> = BTreeSet::new();
    let end = plan.first_seq.saturating_add(plan.count);
    let mut next = plan.first_seq;
    let mut max_parallel = 0usize;
    let mut last_start: Option<Instant> = None;
    thread::scope(|scope| {
        loop {
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            let fits = left >= config.timeout || (next == 1 && !left.is_zero());
            let may_start = next < end && fits && in_flight.len() < MAX_PARALLEL;
            let gap = if in_flight.is_empty() {
                plan.pace
            } else {
                STAGGER.max(plan.pace)
            };
            let start_at = last_start.map_or(now, |t| t + gap);
            let oldest = in_flight
                .iter()
                .copied()
                .chain(
                    unresolved
                        .iter()
                        .filter_map(|u| attempts.get(u.index).map(|a| a.seq)),
                )
                .min()
                .unwrap_or(next);
            if may_start && next - oldest >= MSS_SLOTS {
                if unresolved.is_empty() {
                    // only hanging attempts hold the window: wait for one of them
                    if let Ok((done, stream)) = rx.recv() {
                        accept(&mut attempts, &mut unresolved, &mut in_flight, done, stream);
                    }
                } else {
                    resolve(&mut attempts, &mut unresolved, watch);
                }
                continue;
            }
            if may_start && now >= start_at {
                let (seq, timeout) = (next, config.timeout.min(left));
                next += 1;
                last_start = Some(now);
                // one worker per attempt in flight, started when every worker is busy
                if workers <= in_flight.len() {
                    let (tx, jobs, service) = (tx.clone(), &job_rx, service);
                    let spawned = thread::Builder::new()
                        .spawn_scoped(scope, move || worker(jobs, &tx, service));
                    match spawned {
                        Ok(_) => workers += 1,
                        Err(e) => {
                            attempts.push(not_started(seq, &e));
                            continue;
                        }
                    }
                }
                if job_tx.send((seq, timeout)).is_ok() {
                    in_flight.insert(seq);
                    max_parallel = max_parallel.max(in_flight.len());
                }
                continue;
            }
            if in_flight.is_empty() {
                if !may_start {
                    break;
                }
                thread::sleep(start_at.saturating_duration_since(now));
                continue;
            }
            let received = if may_start {
                match rx.recv_timeout(start_at.saturating_duration_since(now)) {
                    Ok(done) => Some(done),
                    Err(_) => {
                        // some attempt hangs: a good moment to match the connected ones
                        resolve(&mut attempts, &mut unresolved, watch);
                        None
                    }
                }
            } else {
                resolve(&mut attempts, &mut unresolved, watch);
                rx.recv().ok()
            };
            if let Some((done, stream)) = received {
                accept(&mut attempts, &mut unresolved, &mut in_flight, done, stream);
            }
        }
        // no more jobs: the workers return, and the scope can end
        drop(job_tx);
    });
    resolve(&mut attempts, &mut unresolved, watch);
    attempts.sort_by_key(|a| a.seq);
    Run {
        attempts,
        max_parallel: max_parallel as u32,
        unmade: end - next,
    }
}

type Done = (HairpinAttempt, Option<TcpStream>);

/// Runs attempts from `jobs` until the job channel closes.
fn worker(jobs: &Mutex<Receiver<(u32, Duration)>>, results: &Sender<Done>, service: SocketAddr) {
    loop {
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok((seq, timeout)) = job else { return };
        if results.send(attempt(seq, service, timeout)).is_err() {
            return;
        }
    }
}

/// Files a finished attempt; a connected one waits, open, for the next [`resolve`].
fn accept(
    attempts: &mut Vec<HairpinAttempt>,
    unresolved: &mut Vec<Unresolved>,
    in_flight: &mut BTreeSet<u32>,
    done: HairpinAttempt,
    stream: Option<TcpStream>,
) {
    in_flight.remove(&done.seq);
    if let Some(stream) = stream {
        unresolved.push(Unresolved {
            index: attempts.len(),
            tag: done.mss_tag,
            _stream: stream,
        });
    }
    attempts.push(done);
}

/// Finds the server side of every unresolved connection in this namespace's socket table,
/// sets `landed` and `seen_as`, and closes the connections (our FIN moves each server side
/// out of the states looked for, so a later attempt with the same tag cannot match it).
/// connect() returns when the SYN-ACK arrives, so our last ACK may still be on its way and
/// the server side only a request socket (no MSS yet): then it looks again, briefly.
fn resolve(attempts: &mut [HairpinAttempt], unresolved: &mut Vec<Unresolved>, watch: &Watch) {
    if unresolved.is_empty() {
        return;
    }
    // ESTABLISHED, SYN_RECV (and request sockets), FIN_WAIT1/2 (the application closed first)
    let states = 1 << ESTABLISHED | 1 << SYN_RECV | 1 << 4 | 1 << 5;
    let ours = |port: u16| watch.ports.contains(&port);
    for lookup in 1..=LOOKUPS {
        let sockets = match sockdiag::dump(watch.families, states) {
            Ok(sockets) => sockets,
            Err(e) => {
                for u in unresolved.drain(..) {
                    if let Some(a) = attempts.get_mut(u.index) {
                        a.detail = Some(format!("cannot list this pod's sockets: {e}"));
                    }
                }
                return;
            }
        };
        unresolved.retain(|u| {
            let found = sockets
                .iter()
                .find(|s| ours(s.local.port()) && s.snd_mss.is_some_and(|m| tag_matches(u.tag, m)));
            match (found, attempts.get_mut(u.index)) {
                (Some(server), Some(a)) => {
                    a.landed = Some(Landed::ThisPod);
                    a.seen_as = Some(server.remote.to_string());
                    false
                }
                _ => true,
            }
        });
        let pending = sockets
            .iter()
            .any(|s| ours(s.local.port()) && matches!(s.state, SYN_RECV | NEW_SYN_RECV));
        if unresolved.is_empty() || !pending || lookup == LOOKUPS {
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    for u in unresolved.drain(..) {
        if let Some(a) = attempts.get_mut(u.index) {
            a.landed = Some(Landed::OtherPod);
        }
    }
}

/// One tagged connect; a connected one comes back with its stream, `landed` not yet known.
fn attempt(seq: u32, service: SocketAddr, timeout: Duration) -> Done {
    let tag = mss_tag(seq);
    match connect::connect_with(service, None, timeout, |s| s.set_tcp_mss(tag)) {
        Ok(connected) => (
            HairpinAttempt {
                seq,
                outcome: TcpOutcome::Connected,
                landed: None,
                duration_ms: millis(connected.elapsed),
                slow: connected.elapsed >= SLOW,
                local: connected.local.map(|l| l.to_string()),
                seen_as: None,
                mss_tag: tag,
                icmp: None,
                detail: None,
                recheck: false,
            },
            Some(connected.stream),
        ),
        Err(failure) => (
            HairpinAttempt {
                seq,
                outcome: failure.outcome,
                landed: None,
                duration_ms: millis(failure.elapsed),
                slow: false,
                local: failure.local.map(|l| l.to_string()),
                seen_as: None,
                mss_tag: tag,
                icmp: failure.icmp.as_ref().map(icmp_report),
                detail: Some(failure.error.to_string()),
                recheck: false,
            },
            None,
        ),
    }
}

fn not_started(seq: u32, error: &std::io::Error) -> HairpinAttempt {
    HairpinAttempt {
        seq,
        outcome: TcpOutcome::Error,
        landed: None,
        duration_ms: 0.0,
        slow: false,
        local: None,
        seen_as: None,
        mss_tag: mss_tag(seq),
        icmp: None,
        detail: Some(format!("cannot start a thread: {error}")),
        recheck: false,
    }
}

/// Counts and latencies (pure).
pub fn summarize(attempts: &[HairpinAttempt]) -> HairpinSummary {
    let mut outcomes: BTreeMap<TcpOutcome, u32> = BTreeMap::new();
    let (mut self_ms, mut other_ms) = (Vec::new(), Vec::new());
    let mut slow = 0;
    for a in attempts {
        *outcomes.entry(a.outcome).or_default() += 1;
        match a.landed {
            Some(Landed::ThisPod) => self_ms.push(a.duration_ms),
            Some(Landed::OtherPod) => other_ms.push(a.duration_ms),
            None => {}
        }
        slow += u32::from(a.slow);
    }
    let connected = outcomes.get(&TcpOutcome::Connected).copied().unwrap_or(0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::HairpinReason;

    fn attempt(seq: u32, outcome: TcpOutcome, landed: Option<Landed>, ms: f64) -> HairpinAttempt {
        HairpinAttempt {
            seq,
            outcome,
            landed,
            duration_ms: ms,
            slow: ms >= 900.0 && outcome == TcpOutcome::Connected,
            local: None,
            seen_as: None,
            mss_tag: mss_tag(seq),
            icmp: None,
            detail: None,
            recheck: false,
        }
    }

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
        use TcpOutcome::*;
        let s = summarize(&[
            attempt(1, Connected, Some(Landed::ThisPod), 0.2),
            attempt(2, Connected, Some(Landed::OtherPod), 0.3),
            attempt(3, Connected, Some(Landed::OtherPod), 1010.0),
            attempt(4, Timeout, None, 1500.0),
            attempt(5, Refused, None, 0.3),
        ]);
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
        assert_eq!(s.outcomes.get(&Timeout), Some(&1));
        assert_eq!(s.latency_self.as_ref().map(|l| l.max_ms), Some(0.2));
        assert_eq!(s.latency_other.as_ref().map(|l| l.max_ms), Some(1010.0));
    }

    #[test]
    fn local_addresses_are_refused() {
        let config = Config {
            count: 1,
            timeout: Duration::from_millis(100),
            deadline: Duration::from_millis(100),
            target_port: None,
            endpoints: None,
        };
        let local = "127.0.0.1:80".parse().unwrap();
        assert!(matches!(probe(local, &config), Err(Error::Usage(_))));
    }

    #[test]
    fn a_loopback_listener_is_not_an_endpoint_port() {
        // connect through a non-loopback path is not available in unit tests; the listener
        // list must at least leave loopback-only listeners out.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = Config {
            count: 1,
            timeout: Duration::from_millis(50),
            deadline: Duration::from_millis(50),
            target_port: Some(port),
            endpoints: None,
        };
        let report = probe("192.0.2.1:80".parse().unwrap(), &config).unwrap();
        assert!(!report.listening_ports.contains(&port));
        assert_eq!(report.verdict.reason, HairpinReason::NotAnEndpoint);
        assert!(report.attempts.is_empty());
    }
}
