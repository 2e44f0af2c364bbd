//! `svcprobe node`: the guide's kube-proxy half, run from a node debug pod. One function
//! per check id, in the guide's order: is kube-proxy running (the process, its health,
//! its mode, its syncs), the node's own settings (ip_forward, br_netfilter, hairpin,
//! conntrack), and with a Service: its ready endpoints, what the node programs for it,
//! and connections to its ClusterIP from the node. The checks leave [`verdict::Facts`];
//! [`verdict`] names the cause.
//!
//! Everything is read from the kernel and kube-proxy's own endpoints: no tool of the
//! node is run. Each read is bounded in size and by the command's deadline; a check
//! that cannot run says `skip`, why, and which `kubectl debug --profile` would let it.

pub mod kernel;
pub mod kubeproxy;
pub mod process;
pub mod rules;
pub mod service;
pub mod verdict;

use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::decimal::{fixed, shortest};
use crate::dns::millis;
use crate::k8s::Objects;
use crate::kubeapi::Plan;
use crate::probe::pool;
use crate::report::{
    Check, CheckStatus, DebugProfile, HairpinConfigEvidence, HealthEvidence, HttpOutcome,
    ModeEvidence, NoEvidence, NodeCheckId, NodeEvidence, NodeReport, Privileges, SyncEvidence,
};
use crate::service_name::{Namespace, ServiceName};
use verdict::{Facts, HealthFact, SyncFact};

/// Connections to the ClusterIP from the node.
pub(crate) const CLUSTER_IP_ATTEMPTS: u32 = 3;
/// Each GET of kube-proxy's endpoints (on this host: an answer takes a millisecond).
const GET_TIMEOUT: Duration = Duration::from_secs(1);
/// Between the two samples of the conntrack counters.
const CONNTRACK_INTERVAL: Duration = Duration::from_millis(250);

/// What `node` was asked to look at.
#[derive(Debug)]
pub struct Options {
    pub service: Option<ServiceName>,
    pub namespace: Namespace,
    pub port: Option<u16>,
    pub host_root: PathBuf,
    /// From `--objects`.
    pub objects: Option<Objects>,
    pub api: Plan,
    pub metrics: SocketAddr,
    pub healthz: SocketAddr,
    pub deadline: Duration,
    /// The host's `/proc` and `/sys` (this process's: host PID and network namespaces).
    pub proc: PathBuf,
    pub sys: PathBuf,
}

/// Reads at most `limit` bytes of a `/proc` or `/sys` file (these are never FIFOs).
pub fn read_capped(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The node walk: every check in order, then the verdict.
pub fn run(options: &Options, start: Instant) -> NodeReport {
    let until = start + options.deadline;
    let privileges = privileges(&options.proc, &options.host_root);
    let mut facts = Facts::default();
    let mut checks = Vec::new();
    let kubelet = kube_proxy_process(options, until, &mut facts, &mut checks);
    let gets = kube_proxy_gets(options, until);
    checks.push(kube_proxy_health(gets.healthz, gets.livez, &mut facts));
    checks.push(kube_proxy_mode(gets.mode, &mut facts));
    checks.push(kube_proxy_sync(gets.metrics, &mut facts));
    checks.push(ip_forward(options, &mut facts));
    let bridges = kernel::bridges(&options.sys);
    checks.push(bridge_netfilter(
        options,
        bridges.as_deref().ok(),
        &mut facts,
    ));
    checks.push(hairpin(
        options,
        bridges.as_deref(),
        kubelet.as_ref(),
        &privileges,
        until,
        &mut facts,
    ));
    checks.push(conntrack(options, until, &mut facts));
    let service = options
        .service
        .as_ref()
        .map(|name| service::checks(options, &privileges, name, until, &mut facts, &mut checks));
    let verdict = verdict::decide(&facts);
    NodeReport {
        service,
        privileges,
        checks,
        verdict,
        duration_ms: millis(start.elapsed()),
        deadline_ms: options.deadline.as_millis() as u64,
    }
}

/// Effective capabilities from `/proc/self/status`, and whether the host root is there.
fn privileges(proc: &Path, host_root: &Path) -> Privileges {
    let status = read_capped(&proc.join("self/status"), 64 * 1024)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let uid = field("Uid:").and_then(|u| u.split_whitespace().nth(1)?.parse().ok());
    let cap_eff = field("CapEff:")
        .and_then(|c| u64::from_str_radix(c, 16).ok())
        .unwrap_or(0);
    let named = [
        (12, "CAP_NET_ADMIN"),
        (13, "CAP_NET_RAW"),
        (19, "CAP_SYS_PTRACE"),
        (21, "CAP_SYS_ADMIN"),
    ];
    let capabilities: Vec<&'static str> = named
        .iter()
        .filter(|(bit, _)| cap_eff & (1u64 << bit) != 0)
        .map(|(_, name)| *name)
        .collect();
    let host_root_present = host_root.join("etc").is_dir() || host_root.join("usr").is_dir();
    let profile = if host_root_present && capabilities.contains(&"CAP_SYS_ADMIN") {
        DebugProfile::Sysadmin
    } else if capabilities.contains(&"CAP_NET_ADMIN") {
        DebugProfile::Netadmin
    } else {
        DebugProfile::General
    };
    Privileges {
        uid,
        capabilities,
        host_root: host_root.display().to_string(),
        host_root_present,
        profile,
    }
}

pub(crate) type NodeCheck = Check<NodeCheckId, NodeEvidence>;

pub(crate) fn check(
    id: NodeCheckId,
    status: CheckStatus,
    summary: String,
    evidence: NodeEvidence,
    hint: Option<String>,
    started: Instant,
) -> NodeCheck {
    Check::new(
        id,
        status,
        summary,
        evidence,
        hint,
        millis(started.elapsed()),
    )
}

pub(crate) fn skip(id: NodeCheckId, why: String, facts: &mut Facts, started: Instant) -> NodeCheck {
    facts.skipped.insert(id, why.clone());
    check(
        id,
        CheckStatus::Skip,
        why,
        NodeEvidence::Nothing(NoEvidence {}),
        None,
        started,
    )
}

/// The kubelet's command line, when the scan found one.
struct Kubelet(Vec<String>);

/// The guide's `ps auxw | grep kube-proxy`, on a thread: a read of `/proc/PID/cmdline`
/// can block on a process stuck in the kernel, and the deadline must hold all the same.
fn kube_proxy_process(
    options: &Options,
    until: Instant,
    facts: &mut Facts,
    checks: &mut Vec<NodeCheck>,
) -> Option<Kubelet> {
    let started = Instant::now();
    let id = NodeCheckId::KubeProxyProcess;
    // The scan gets a third of the time: the HTTP checks and the rules need the rest.
    let scan_until = started + until.saturating_duration_since(started) / 3;
    let proc = options.proc.clone();
    // The scan stops itself at `scan_until`; the grace covers one read that blocks.
    let result = pool::before(scan_until + Duration::from_millis(50), move || {
        process::scan(&proc, scan_until)
    })
    .ok_or_else(|| "the process scan did not finish in time".to_string())
    .and_then(|r| r.map_err(|e| format!("cannot list {}: {e}", options.proc.display())));
    let evidence = match result {
        Ok(evidence) => evidence,
        Err(why) => {
            checks.push(skip(id, why, facts, started));
            return None;
        }
    };
    // Every node runs kubelet in its PID namespace: without it in sight, this is a pod's
    // own PID namespace, and "no kube-proxy here" says nothing about the node.
    let node_view = !evidence.kubelet.is_empty() || !evidence.kube_proxy.is_empty();
    if node_view {
        facts.kube_proxy_processes = Some(evidence.kube_proxy.len());
    } else {
        facts.skipped.insert(
            id,
            "no kubelet in sight: not the node's PID namespace".into(),
        );
    }
    facts.other_proxies = evidence
        .other_proxies
        .iter()
        .map(|o| (o.program.clone(), o.note))
        .collect();
    let (status, summary, hint) = match (evidence.kube_proxy.as_slice(), evidence.other_proxies.first()) {
        ([one], _) => (
            CheckStatus::Pass,
            format!("kube-proxy runs (pid {}): {}", one.pid, one.argv.join(" ")),
            None,
        ),
        ([], Some(other)) => (
            CheckStatus::Warn,
            format!(
                "no kube-proxy process; {} runs (pid {})",
                other.program, other.pid
            ),
            Some(other.note.to_string()),
        ),
        ([], None) if !node_view => (
            CheckStatus::Skip,
            format!(
                "no kubelet in sight: not the node's PID namespace ({} seen); run from kubectl debug node/NODE (any profile: it shares the host's PID namespace)",
                crate::text::count(evidence.scanned, "process", "processes")
            ),
            None,
        ),
        ([], None) => (
            CheckStatus::Fail,
            format!(
                "no kube-proxy process among {} (host PID namespace: kubectl debug node \
                 shares it)",
                crate::text::count(evidence.scanned, "process", "processes")
            ),
            Some("kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide; its logs say why it is not running".into()),
        ),
        (many, _) => (
            CheckStatus::Warn,
            format!(
                "{} kube-proxy processes (pids {}): two proxies fight over the rules",
                many.len(),
                many.iter().map(|p| p.pid.to_string()).collect::<Vec<_>>().join(", ")
            ),
            None,
        ),
    };
    let summary = if evidence.truncated {
        format!("{summary} (scan stopped early: not every process was read)")
    } else {
        summary
    };
    let kubelet = evidence.kubelet.first().map(|p| p.argv.clone());
    checks.push(check(
        id,
        status,
        summary,
        NodeEvidence::Processes(evidence),
        hint,
        started,
    ));
    kubelet.map(Kubelet)
}

/// The four GETs of kube-proxy's endpoints, at once.
struct Gets {
    healthz: Fetched,
    livez: Fetched,
    mode: Fetched,
    metrics: Fetched,
}

type Fetched = (crate::report::EndpointGet, Option<Vec<u8>>);

fn kube_proxy_gets(options: &Options, until: Instant) -> Gets {
    let timeout = GET_TIMEOUT
        .min(until.saturating_duration_since(Instant::now()) / 3)
        .max(Duration::from_millis(1));
    let jobs = [
        (options.healthz, "/healthz", kubeproxy::MAX_SMALL_BYTES),
        (options.healthz, "/livez", kubeproxy::MAX_SMALL_BYTES),
        (options.metrics, "/proxyMode", kubeproxy::MAX_SMALL_BYTES),
        (options.metrics, "/metrics", kubeproxy::MAX_METRICS_BYTES),
    ];
    let pooled = pool::map(&jobs, jobs.len(), None, |(addr, path, max)| {
        kubeproxy::get(*addr, path, timeout, *max)
    });
    let mut results = pooled.results.into_iter();
    let mut next = || results.next().flatten().unwrap_or_else(not_started);
    Gets {
        healthz: next(),
        livez: next(),
        mode: next(),
        metrics: next(),
    }
}

/// A GET the pool did not start (it starts every one: no deadline is given to it).
fn not_started() -> Fetched {
    (
        crate::report::EndpointGet {
            url: String::new(),
            outcome: HttpOutcome::Error,
            status: None,
            body_excerpt: None,
            detail: Some("not started".into()),
            duration_ms: 0.0,
        },
        None,
    )
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How a GET that got no answer failed, for a summary.
fn no_answer(get: &crate::report::EndpointGet) -> String {
    format!(
        "{}: {}",
        get.url,
        get.detail.as_deref().unwrap_or(get.outcome.as_str())
    )
}

/// `/healthz` and `/livez`: 200, or 503 with how long the rules have waited.
fn kube_proxy_health(healthz: Fetched, livez: Fetched, facts: &mut Facts) -> NodeCheck {
    let started = Instant::now();
    let (healthz, body) = healthz;
    let parsed = body.as_deref().and_then(kubeproxy::parse_health);
    let time = |t: &Option<String>| t.as_deref().and_then(kubeproxy::parse_go_time);
    let age = parsed.as_ref().and_then(|h| {
        Some(((time(&h.current_time)? - time(&h.last_updated)?) * 1000.0).round() / 1000.0)
    });
    let node_eligible = parsed.as_ref().and_then(|h| h.node_eligible);
    let answered = kubeproxy::answered(&healthz);
    let livez_status = livez.0.status;
    facts.health = Some(HealthFact {
        answered,
        status: healthz.status,
        node_eligible,
        age_s: age,
        livez_status,
    });
    let (status, summary, hint) = match healthz.status {
        _ if !answered => (
            CheckStatus::Fail,
            format!("nothing answers: {}", no_answer(&healthz)),
            Some("kube-proxy serves /healthz on --healthz-bind-address (default 0.0.0.0:10256); give --kube-proxy-healthz if it was moved".into()),
        ),
        Some(200) => (CheckStatus::Pass, format!("{}: 200", healthz.url), None),
        Some(503) if node_eligible == Some(false) => (
            CheckStatus::Warn,
            format!(
                "{}: 503 because the node is being deleted (nodeEligible false); /livez {}",
                healthz.url,
                livez_status.map_or("did not answer".to_string(), |s| s.to_string())
            ),
            None,
        ),
        Some(503) => (
            CheckStatus::Fail,
            format!(
                "{}: 503: a change has waited for a rule sync longer than kube-proxy's health timeout{}",
                healthz.url,
                age.map(|a| format!(" (last sync {} s ago)", fixed(a, 0))).unwrap_or_default()
            ),
            Some("kube-proxy's logs say why its syncs fail or hang: kubectl -n kube-system logs -l k8s-app=kube-proxy".into()),
        ),
        other => (
            CheckStatus::Warn,
            format!(
                "{}: {}, not kube-proxy's 200 or 503",
                healthz.url,
                other.map_or("no status".to_string(), |s| s.to_string())
            ),
            None,
        ),
    };
    let evidence = HealthEvidence {
        last_updated: parsed.as_ref().and_then(|h| h.last_updated.clone()),
        current_time: parsed.as_ref().and_then(|h| h.current_time.clone()),
        last_updated_age_s: age,
        node_eligible,
        healthz,
        livez: Some(livez.0),
    };
    check(
        NodeCheckId::KubeProxyHealth,
        status,
        summary,
        NodeEvidence::Health(evidence),
        hint,
        started,
    )
}

/// `/proxyMode`.
fn kube_proxy_mode(fetched: Fetched, facts: &mut Facts) -> NodeCheck {
    let started = Instant::now();
    let (get, body) = fetched;
    let mode = body.as_deref().and_then(kubeproxy::parse_mode);
    facts.mode = mode;
    let (status, summary) = match (mode, get.status) {
        (Some(mode), _) => (CheckStatus::Pass, format!("kube-proxy runs in {mode} mode")),
        (None, Some(status)) => (
            CheckStatus::Warn,
            format!(
                "{}: {status}, no mode in {:?}",
                get.url,
                get.body_excerpt.as_deref().unwrap_or_default()
            ),
        ),
        (None, None) => (CheckStatus::Warn, format!("no answer: {}", no_answer(&get))),
    };
    check(
        NodeCheckId::KubeProxyMode,
        status,
        summary,
        NodeEvidence::Mode(ModeEvidence { get, mode }),
        None,
        started,
    )
}

/// `/metrics`: a hung kube-proxy against a failing one.
fn kube_proxy_sync(fetched: Fetched, facts: &mut Facts) -> NodeCheck {
    let started = Instant::now();
    let (get, body) = fetched;
    let Some(body) = body.filter(|_| get.status == Some(200)) else {
        let why = match (get.status, &get.detail) {
            (Some(status), Some(detail)) => format!("{}: {status}, {detail}", get.url),
            (Some(status), None) => format!("{}: {status}", get.url),
            (None, _) => format!("no answer: {}", no_answer(&get)),
        };
        facts
            .skipped
            .insert(NodeCheckId::KubeProxySync, why.clone());
        return check(
            NodeCheckId::KubeProxySync,
            CheckStatus::Skip,
            why,
            NodeEvidence::Sync(Box::new(SyncEvidence {
                get,
                families: Vec::new(),
                iptables_restore_failures_total: None,
                nftables_sync_failures_total: None,
                stale_after_s: kubeproxy::HEALTH_TIMEOUT_S,
            })),
            Some("kube-proxy serves /metrics on --metrics-bind-address (default 127.0.0.1:10249): give --kube-proxy-metrics if it was moved".into()),
            started,
        );
    };
    let text = String::from_utf8_lossy(&body);
    let samples = kubeproxy::parse_metrics(
        &text,
        &[
            kubeproxy::LAST_SYNC,
            kubeproxy::LAST_QUEUED,
            kubeproxy::RESTORE_FAILURES,
            kubeproxy::NFT_FAILURES,
        ],
    );
    let families = kubeproxy::families(&samples, now_unix());
    let restore = kubeproxy::total(&samples, kubeproxy::RESTORE_FAILURES);
    let nft = kubeproxy::total(&samples, kubeproxy::NFT_FAILURES);
    let failures = restore.unwrap_or(0.0) + nft.unwrap_or(0.0);
    let hung: Vec<String> = families
        .iter()
        .filter(|f| kubeproxy::hung(f))
        .map(|f| f.ip_family.clone().unwrap_or_else(|| "rules".into()))
        .collect();
    facts.sync = Some(SyncFact {
        failures,
        pending: families.iter().any(|f| f.pending),
        hung: hung.clone(),
        seen: !families.is_empty(),
    });
    let last = families
        .iter()
        .filter_map(|f| f.since_last_sync_s)
        .fold(None::<f64>, |a, s| Some(a.map_or(s, |a| a.max(s))));
    let (status, summary) = if families.is_empty() {
        (
            CheckStatus::Warn,
            format!(
                "{} has no {}: not kube-proxy's metrics?",
                get.url,
                kubeproxy::LAST_SYNC
            ),
        )
    } else if !hung.is_empty() {
        (
            CheckStatus::Fail,
            format!(
                "changes queued after the last successful sync ({} ago) are still waiting ({}){}",
                last.map(|s| format!("{} s", fixed(s, 0)))
                    .unwrap_or_else(|| "never".into()),
                hung.join(", "),
                failures_text(failures)
            ),
        )
    } else if failures > 0.0 {
        (
            CheckStatus::Warn,
            format!(
                "last sync {} ago{}",
                last.map(|s| format!("{} s", fixed(s, 0)))
                    .unwrap_or_else(|| "never".into()),
                failures_text(failures)
            ),
        )
    } else {
        (
            CheckStatus::Pass,
            format!(
                "last sync {} ago, nothing waiting, no failed syncs",
                last.map(|s| format!("{} s", fixed(s, 1)))
                    .unwrap_or_else(|| "never".into())
            ),
        )
    };
    check(
        NodeCheckId::KubeProxySync,
        status,
        summary,
        NodeEvidence::Sync(Box::new(SyncEvidence {
            get,
            families,
            iptables_restore_failures_total: restore,
            nftables_sync_failures_total: nft,
            stale_after_s: kubeproxy::HEALTH_TIMEOUT_S,
        })),
        None,
        started,
    )
}

fn failures_text(failures: f64) -> String {
    if failures > 0.0 {
        format!(
            "; {} failed syncs since kube-proxy started",
            fixed(failures, 0)
        )
    } else {
        String::new()
    }
}

fn ip_forward(options: &Options, facts: &mut Facts) -> NodeCheck {
    let started = Instant::now();
    let e = kernel::ip_forward(&options.proc);
    facts.ip_forward = e.ipv4;
    let (status, summary) = match e.ipv4 {
        Some(true) => (CheckStatus::Pass, "net.ipv4.ip_forward = 1".to_string()),
        Some(false) => (
            CheckStatus::Fail,
            "net.ipv4.ip_forward = 0: the node does not route pods' packets".to_string(),
        ),
        None => {
            return skip(
                NodeCheckId::IpForward,
                format!(
                    "{}/sys/net/ipv4/ip_forward unreadable",
                    options.proc.display()
                ),
                facts,
                started,
            )
        }
    };
    check(
        NodeCheckId::IpForward,
        status,
        summary,
        NodeEvidence::IpForward(e),
        None,
        started,
    )
}

fn bridge_netfilter(
    options: &Options,
    bridges: Option<&[crate::report::BridgeInfo]>,
    facts: &mut Facts,
) -> NodeCheck {
    let started = Instant::now();
    let Some(bridges) = bridges else {
        return skip(
            NodeCheckId::BridgeNetfilter,
            format!("{}/class/net unreadable", options.sys.display()),
            facts,
            started,
        );
    };
    let e = kernel::bridge_netfilter(&options.proc, bridges);
    let bridged = !e.bridges_with_ports.is_empty();
    let on = e.br_netfilter && e.call_iptables == Some(true);
    facts.bridged = Some(bridged);
    facts.bridge_nf_on = Some(on);
    let names = e.bridges_with_ports.join(", ");
    let (status, summary, hint) = if !bridged {
        (
            CheckStatus::Pass,
            "no Linux bridge with ports: pods are not bridged here".to_string(),
            None,
        )
    } else if !e.br_netfilter {
        (
            CheckStatus::Fail,
            format!("pods sit on bridge {names} and br_netfilter is not loaded: bridged traffic skips kube-proxy's rules"),
            Some("modprobe br_netfilter; echo br_netfilter > /etc/modules-load.d/k8s.conf".to_string()),
        )
    } else if !on {
        (
            CheckStatus::Fail,
            format!("pods sit on bridge {names} and net.bridge.bridge-nf-call-iptables is 0: a pod's connection through a Service to a pod on the same bridge fails"),
            Some("sysctl -w net.bridge.bridge-nf-call-iptables=1 (and persist it in /etc/sysctl.d)".to_string()),
        )
    } else if e.call_ip6tables == Some(false) {
        (
            CheckStatus::Warn,
            format!("bridge-nf-call-iptables is 1 for {names}; bridge-nf-call-ip6tables is 0 (IPv6 Services would fail the same way)"),
            None,
        )
    } else {
        (
            CheckStatus::Pass,
            format!("br_netfilter loaded, bridge-nf-call-iptables 1 for {names}"),
            None,
        )
    };
    check(
        NodeCheckId::BridgeNetfilter,
        status,
        summary,
        NodeEvidence::BridgeNetfilter(e),
        hint,
        started,
    )
}

/// The guide's two hairpin modes as the kernel has them, and kubelet's flag.
fn hairpin(
    options: &Options,
    bridges: Result<&[crate::report::BridgeInfo], &std::io::Error>,
    kubelet: Option<&Kubelet>,
    privileges: &Privileges,
    until: Instant,
    facts: &mut Facts,
) -> NodeCheck {
    let started = Instant::now();
    let bridges = match bridges {
        Ok(b) => b,
        Err(e) => {
            return skip(
                NodeCheckId::Hairpin,
                format!("{}/class/net unreadable: {e}", options.sys.display()),
                facts,
                started,
            )
        }
    };
    let (mode, source) = kubelet_hairpin_mode(options, kubelet, privileges, until);
    let off = kernel::hairpin_off(bridges);
    facts.hairpin_off = Some(off.clone());
    let promisc: Vec<&str> = bridges
        .iter()
        .filter(|b| b.promisc)
        .map(|b| b.name.as_str())
        .collect();
    let ports: usize = bridges.iter().map(|b| b.ports.len()).sum();
    let kubelet = match (&mode, &source) {
        (Some(m), Some(s)) => format!("; kubelet hairpin mode {m} ({s})"),
        _ => String::new(),
    };
    let (status, summary, hint) = if ports == 0 {
        (
            CheckStatus::Pass,
            format!("no bridge ports: hairpin does not apply{kubelet}"),
            None,
        )
    } else if off.is_empty() {
        (
            CheckStatus::Pass,
            format!("hairpin_mode on for all {} bridge ports{kubelet}", ports),
            None,
        )
    } else {
        let promisc_note = if promisc.is_empty() {
            String::new()
        } else {
            format!(
                "; {} is PROMISC, which does not make up for it (measured: the pod's own SYN is still dropped at the bridge)",
                promisc.join(", ")
            )
        };
        (
            CheckStatus::Fail,
            format!(
                "hairpin_mode off on {} bridge ports ({}): a pod behind them cannot reach itself through its Service{promisc_note}{kubelet}",
                crate::text::of(off.len(), ports),
                clip_list(&off, 4)
            ),
            Some("kubelet --hairpin-mode=hairpin-veth (or the CNI bridge plugin's hairpinMode: true); to test now: for p in /sys/class/net/*/brif/*/hairpin_mode; do echo 1 > $p; done".into()),
        )
    };
    check(
        NodeCheckId::Hairpin,
        status,
        summary,
        NodeEvidence::Hairpin(HairpinConfigEvidence {
            bridges: bridges.to_vec(),
            kubelet_hairpin_mode: mode,
            kubelet_hairpin_mode_source: source,
            masquerade_missing: Vec::new(),
        }),
        hint,
        started,
    )
}

fn clip_list(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    match items.len().saturating_sub(max) {
        0 => shown.join(", "),
        more => format!("{}, and {more} more", shown.join(", ")),
    }
}

/// kubelet's `--hairpin-mode`, else `hairpinMode` in its `--config` file read under the
/// host root, else kubelet's default.
fn kubelet_hairpin_mode(
    options: &Options,
    kubelet: Option<&Kubelet>,
    privileges: &Privileges,
    until: Instant,
) -> (Option<String>, Option<String>) {
    let Some(Kubelet(argv)) = kubelet else {
        return (None, None);
    };
    if let Some(mode) = process::flag_value(argv, "hairpin-mode") {
        return (Some(mode.to_string()), Some("flag".into()));
    }
    if let Some(config) = process::flag_value(argv, "config") {
        let path = options.host_root.join(config.trim_start_matches('/'));
        if !privileges.host_root_present {
            return (
                None,
                Some(format!(
                    "{config}: not readable without the host root (--profile=sysadmin)"
                )),
            );
        }
        if let Ok(text) = crate::input::read_text(&path, until) {
            if let Some(mode) = kernel::hairpin_mode_in_config(&text) {
                return (Some(mode), Some(config.to_string()));
            }
        }
    }
    // kubelet's default (pkg/kubelet/apis/config: HairpinMode promiscuous-bridge).
    (Some("promiscuous-bridge".into()), Some("default".into()))
}

fn conntrack(options: &Options, until: Instant, facts: &mut Facts) -> NodeCheck {
    let started = Instant::now();
    let interval = CONNTRACK_INTERVAL.min(until.saturating_duration_since(started) / 10);
    let e = match kernel::conntrack(&options.proc, interval, until) {
        Ok(e) => e,
        Err(kernel::ConntrackSkip::NotLoaded) => {
            return skip(
                NodeCheckId::Conntrack,
                "no conntrack table in this network namespace (nf_conntrack not in use: no NAT rules yet)".into(),
                facts,
                started,
            )
        }
        Err(kernel::ConntrackSkip::Unreadable(why)) => {
            return skip(NodeCheckId::Conntrack, why, facts, started)
        }
    };
    let full = kernel::conntrack_full(&e);
    facts.conntrack_full = Some(full);
    let fill = match (e.count, e.max) {
        (Some(c), Some(m)) => format!("{c} of {m} entries"),
        (Some(c), None) => format!("{c} entries"),
        _ => "fill unknown".into(),
    };
    let rates = match (e.drop_per_s, e.early_drop_per_s, e.insert_failed_per_s) {
        (Some(d), Some(ed), Some(i)) => format!(
            "; drop {}/s, early_drop {}/s, insert_failed {}/s over {} ms",
            shortest(d),
            shortest(ed),
            shortest(i),
            shortest(e.interval_ms.unwrap_or_default().round())
        ),
        _ => String::new(),
    };
    let (status, hint) = if full {
        (
            CheckStatus::Fail,
            Some("raise net.netfilter.nf_conntrack_max (kube-proxy --conntrack-max-per-core), or find what opens so many connections: conntrack -L | sort".to_string()),
        )
    } else if e.insert_failed_per_s.is_some_and(|r| r > 0.0) {
        (CheckStatus::Warn, Some("insert_failed counts races of concurrent connections (the DNS race of kubernetes#56903), not a full table".to_string()))
    } else {
        (CheckStatus::Pass, None)
    };
    check(
        NodeCheckId::Conntrack,
        status,
        format!("{fill}{rates}"),
        NodeEvidence::Conntrack(e),
        hint,
        started,
    )
}
