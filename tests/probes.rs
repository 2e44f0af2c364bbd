//! `tcp`, `http` and `serve` in the test bed: run from the client pod against the guide's
//! `hostnames` Service, healthy and with each failure switch, asserting on the parsed JSON
//! (mirror structs with `deny_unknown_fields`, so schema drift fails here) and exit codes.
//! Needs root (network namespaces); every test has its own bed, so they run in parallel.
// The mirror structs pin every field of the schema; not every field is asserted on.
#![allow(dead_code)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use common::bin;
use common::schema::{Envelope, Finding, Icmp, Latency, Resolution, TcpAttempt};
use common::testbed::{
    self, Testbed, BACKENDS, BACKEND_IPS, BACKEND_PORT, CLIENT, CLIENT_IP, DOWN_BACKEND,
    HOSTNAMES_FQDN, HOSTNAMES_VIP,
};
use serde::Deserialize;

/// The node's address on the pod bridge: where kube-proxy's REJECT comes from.
const NODE_BRIDGE_IP: &str = "10.244.0.1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Summary {
    attempts: u32,
    outcomes: BTreeMap<String, u32>,
    success_ratio: f64,
    latency: Option<Latency>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpReport {
    count: u32,
    interval_ms: u64,
    timeout_ms: u64,
    source: Option<String>,
    targets: Vec<TcpTarget>,
    duration_ms: f64,
    findings: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpTarget {
    target: String,
    host: String,
    port: u16,
    resolution: Option<Resolution>,
    addresses: Vec<TcpAddress>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpAddress {
    address: String,
    attempts: Vec<TcpAttempt>,
    summary: Summary,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpReport {
    url: String,
    method: String,
    count: u32,
    timeout_ms: u64,
    connect_timeout_ms: u64,
    max_body_bytes: u64,
    tls: Option<serde_json::Value>,
    resolution: Option<Resolution>,
    attempts: Vec<HttpAttempt>,
    summary: Summary,
    responses: Vec<DistinctResponse>,
    status_codes: BTreeMap<String, u32>,
    duration_ms: f64,
    findings: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpAttempt {
    seq: u32,
    outcome: String,
    timeout_phase: Option<String>,
    peer: Option<String>,
    local: Option<String>,
    status: Option<u16>,
    timing: Timing,
    body_bytes: u64,
    body_truncated: bool,
    body_excerpt: Option<String>,
    icmp: Option<Icmp>,
    detail: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timing {
    connect_ms: Option<f64>,
    tls_ms: Option<f64>,
    first_byte_ms: Option<f64>,
    total_ms: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DistinctResponse {
    status: u16,
    body_excerpt: String,
    count: u32,
    share: f64,
}

fn parse<T: for<'de> Deserialize<'de>>(out: &Output) -> Envelope<T> {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report does not match the schema ({e}): {}",
            testbed::describe(out)
        )
    })
}

fn tcp(bed: &Testbed, args: &[&str]) -> (Output, Envelope<TcpReport>) {
    let mut full = vec![bin::svcprobe(), "tcp"];
    full.extend_from_slice(args);
    let out = bed.exec(CLIENT, &full);
    let report = parse(&out);
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.command, "tcp");
    (out, report)
}

fn http(bed: &Testbed, pod: &str, args: &[&str]) -> (Output, Envelope<HttpReport>) {
    let mut full = vec![bin::svcprobe(), "http"];
    full.extend_from_slice(args);
    let out = bed.exec(pod, &full);
    let report = parse(&out);
    assert_eq!(report.command, "http");
    (out, report)
}

fn outcomes(address: &TcpAddress) -> Vec<&str> {
    address
        .attempts
        .iter()
        .map(|a| a.outcome.as_str())
        .collect()
}

fn codes(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn the_cluster_ip_spreads_over_all_three_backends() {
    let bed = Testbed::up();
    let (out, report) = http(&bed, CLIENT, &["http://hostnames/", "--count", "60"]);
    assert_eq!(out.status.code(), Some(0), "{}", testbed::describe(&out));
    assert!(report.ok);
    let r = &report.report;
    let resolution = r.resolution.as_ref().expect("a name was resolved");
    assert_eq!(
        resolution.final_name.as_deref(),
        Some("hostnames.default.svc.cluster.local.")
    );
    assert_eq!(resolution.addresses, vec![HOSTNAMES_VIP]);
    let seen: BTreeSet<&str> = r
        .responses
        .iter()
        .map(|x| x.body_excerpt.as_str())
        .collect();
    let all: BTreeSet<&str> = BACKENDS.into_iter().collect();
    assert_eq!(seen, all, "{}", testbed::describe(&out));
    assert_eq!(r.responses.iter().map(|x| x.count).sum::<u32>(), 60);
    assert_eq!(r.status_codes.get("200"), Some(&60));
    for a in &r.attempts {
        assert_eq!(a.peer.as_deref(), Some("10.0.1.175:80"));
        assert!(a.local.as_deref().is_some_and(|l| l.starts_with(CLIENT_IP)));
        let t = &a.timing;
        let (connect, first) = (
            t.connect_ms.expect("connect"),
            t.first_byte_ms.expect("1st"),
        );
        assert!(connect <= first && first <= t.total_ms, "{t:?}");
        assert!(!a.body_truncated);
    }

    // tcp: the VIP by name and by address, and each pod on its targetPort, at once.
    let pods: Vec<String> = BACKEND_IPS
        .iter()
        .map(|ip| format!("{ip}:{BACKEND_PORT}"))
        .collect();
    let mut args = vec![
        "hostnames:80",
        "10.0.1.175:80",
        "--count",
        "3",
        "--interval",
        "10ms",
    ];
    args.extend(pods.iter().map(String::as_str));
    let (out, report) = tcp(&bed, &args);
    assert_eq!(out.status.code(), Some(0), "{}", testbed::describe(&out));
    assert_eq!(report.report.targets.len(), 5);
    for t in &report.report.targets {
        assert_eq!(t.addresses.len(), 1, "{t:?}");
        assert_eq!(outcomes(&t.addresses[0]), ["connected"; 3]);
        assert!(t.addresses[0].summary.latency.is_some());
    }
    assert_eq!(
        report.report.targets[0]
            .resolution
            .as_ref()
            .map(|r| r.name.as_str()),
        Some("hostnames")
    );
    assert!(report.report.findings.is_empty());
}

#[test]
fn no_endpoints_is_rejected_by_the_node_not_refused() {
    let bed = Testbed::up();
    bed.break_("no-endpoints");
    let (out, report) = tcp(
        &bed,
        &["10.0.1.175:80", "--count", "3", "--interval", "10ms"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", testbed::describe(&out));
    let address = &report.report.targets[0].addresses[0];
    assert_eq!(outcomes(address), ["rejected"; 3]);
    for a in &address.attempts {
        let icmp = a.icmp.as_ref().expect("the ICMP behind the rejection");
        assert_eq!(icmp.from, NODE_BRIDGE_IP, "sent by the node, not the VIP");
        assert_eq!((icmp.icmp_type, icmp.code), (3, 3));
        assert_eq!(icmp.description, "port-unreachable");
        assert!(a.duration_ms < 100.0, "immediate: {a:?}");
    }
    assert_eq!(codes(&report.report.findings), ["rejected"]);

    let (out, report) = http(&bed, CLIENT, &["http://10.0.1.175/"]);
    assert_eq!(out.status.code(), Some(1));
    let a = &report.report.attempts[0];
    assert_eq!(a.outcome, "rejected");
    assert_eq!(
        a.icmp.as_ref().map(|i| i.from.as_str()),
        Some(NODE_BRIDGE_IP)
    );
}

#[test]
fn a_wrong_target_port_is_refused_by_the_pod() {
    let bed = Testbed::up();
    bed.break_("wrong-target-port");
    let (out, report) = tcp(
        &bed,
        &["10.0.1.175:80", "--count", "3", "--interval", "10ms"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", testbed::describe(&out));
    let address = &report.report.targets[0].addresses[0];
    assert_eq!(outcomes(address), ["refused"; 3]);
    assert!(address.attempts.iter().all(|a| a.icmp.is_none()));
    assert_eq!(codes(&report.report.findings), ["refused"]);
}

#[test]
fn a_down_backend_refuses_about_a_third() {
    let bed = Testbed::up();
    bed.break_("backend-down");
    let (out, report) = tcp(
        &bed,
        &["10.0.1.175:80", "--count", "45", "--interval", "5ms"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", testbed::describe(&out));
    let summary = &report.report.targets[0].addresses[0].summary;
    let refused = summary.outcomes.get("refused").copied().unwrap_or(0);
    let connected = summary.outcomes.get("connected").copied().unwrap_or(0);
    assert_eq!(refused + connected, 45, "{summary:?}");
    // Binomial(45, 1/3): mean 15, sd 3.2; these bounds fail about once in a million runs.
    assert!((4..=28).contains(&refused), "{summary:?}");
    assert_eq!(codes(&report.report.findings), ["some-attempts-failed"]);

    let (_, report) = http(&bed, CLIENT, &["http://10.0.1.175/", "--count", "30"]);
    let seen: BTreeSet<&str> = report
        .report
        .responses
        .iter()
        .map(|r| r.body_excerpt.as_str())
        .collect();
    assert!(!seen.contains(DOWN_BACKEND), "{seen:?}");
    let refused = report
        .report
        .attempts
        .iter()
        .filter(|a| a.outcome == "refused")
        .count();
    assert!((1..=22).contains(&refused), "{refused} refused of 30");
}

#[test]
fn a_dropping_network_policy_times_out_within_the_deadline() {
    let bed = Testbed::up();
    bed.break_("netpol-drop");
    let start = Instant::now();
    let (out, report) = tcp(
        &bed,
        &[
            "10.0.1.175:80",
            "10.244.0.5:9376",
            "--count",
            "2",
            "--timeout",
            "400ms",
            "--interval",
            "10ms",
        ],
    );
    let wall = start.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", testbed::describe(&out));
    for t in &report.report.targets {
        let address = &t.addresses[0];
        assert_eq!(outcomes(address), ["timeout"; 2]);
        for a in &address.attempts {
            assert!((400.0..600.0).contains(&a.duration_ms), "{a:?}");
        }
    }
    // Two targets at once, two attempts each: about 0.8 s, not 1.6 s.
    assert!(wall < Duration::from_millis(1500), "{wall:?}");
    assert_eq!(codes(&report.report.findings), ["timeout", "timeout"]);

    let (_, report) = http(
        &bed,
        CLIENT,
        &["http://10.0.1.175/", "--connect-timeout", "300ms"],
    );
    let a = &report.report.attempts[0];
    assert_eq!(
        (a.outcome.as_str(), a.timeout_phase.as_deref()),
        ("timeout", Some("connect"))
    );
    assert!(a.timing.total_ms < 600.0, "{a:?}");
}

#[test]
fn a_name_that_does_not_resolve_is_reported_with_its_queries() {
    let bed = Testbed::up();
    bed.break_("service-missing");
    let (out, report) = tcp(&bed, &["hostnames:80"]);
    assert_eq!(out.status.code(), Some(1), "{}", testbed::describe(&out));
    let t = &report.report.targets[0];
    assert!(t.addresses.is_empty());
    let r = t.resolution.as_ref().expect("resolution");
    assert_eq!(r.status, "nxdomain");
    assert!(r.queries.len() >= 4, "the whole search walk: {r:?}");
    assert_eq!(codes(&report.report.findings), ["name-not-resolved"]);
}

#[test]
fn source_address_is_used_and_a_foreign_one_is_an_error() {
    let bed = Testbed::up();
    let target = format!("{HOSTNAMES_FQDN}:80");
    let (out, report) = tcp(&bed, &[&target, "--source", CLIENT_IP]);
    assert_eq!(out.status.code(), Some(0), "{}", testbed::describe(&out));
    let a = &report.report.targets[0].addresses[0].attempts[0];
    assert!(
        a.local.as_deref().is_some_and(|l| l.starts_with(CLIENT_IP)),
        "{a:?}"
    );
    assert_eq!(report.report.source.as_deref(), Some(CLIENT_IP));

    let (out, report) = tcp(&bed, &["10.0.1.175:80", "--source", "192.0.2.1"]);
    assert_eq!(out.status.code(), Some(1), "{}", testbed::describe(&out));
    assert_eq!(outcomes(&report.report.targets[0].addresses[0]), ["error"]);
}

#[test]
fn serve_in_a_pod_echoes_the_client_address_and_stops_on_sigterm() {
    let bed = Testbed::up();
    thread::scope(|scope| {
        let server = scope.spawn(|| {
            bed.exec_timeout(
                CLIENT,
                &[
                    "timeout",
                    "-s",
                    "TERM",
                    "3",
                    bin::svcprobe(),
                    "serve",
                    "--listen",
                    ":8080",
                ],
                Duration::from_secs(10),
            )
        });
        let url = format!("http://{CLIENT_IP}:8080/echo");
        let mut answered = None;
        for _ in 0..100 {
            let (_, report) = http(&bed, BACKENDS[1], &[&url, "--timeout", "1s"]);
            if report.ok {
                answered = Some(report);
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let report = answered.expect("serve answered within 2 s");
        let a = &report.report.attempts[0];
        let echo: serde_json::Value =
            serde_json::from_str(a.body_excerpt.as_deref().unwrap_or("")).expect("echo JSON");
        // Pod to pod on the same bridge: no SNAT, the server sees the backend's own address.
        assert_eq!(echo["client"].as_str(), a.local.as_deref());
        assert!(echo["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("10.244.0.6:")));
        assert_eq!(echo["server"], format!("{CLIENT_IP}:8080"));
        assert_eq!(echo["hostname"], CLIENT);

        let out = server.join().expect("server thread");
        // timeout(1) exits 124 after its TERM; serve itself printed its report and exited 0.
        assert_eq!(out.status.code(), Some(124), "{}", testbed::describe(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("serve report");
        assert_eq!(report["stopped_by"], "SIGTERM");
        assert!(report["requests"].as_u64().unwrap_or(0) >= 1);
    });
}

/// The backends are `svcprobe serve` (the test bed runs the binary under test): its
/// `/echo` shows the guide's hairpin mechanics. From the client, the backend sees the
/// client's own address (no SNAT between pods); from a backend reaching itself through the
/// Service IP, it sees the node's bridge address (kube-proxy's masquerade mark at work).
#[test]
fn echo_through_the_service_shows_masquerade_only_on_self_connections() {
    let bed = Testbed::up();
    let url = format!("http://{HOSTNAMES_VIP}/echo");
    let (_, report) = http(&bed, CLIENT, &[&url, "--count", "6"]);
    for attempt in &report.report.attempts {
        let body = attempt.body_excerpt.as_deref().unwrap_or_default();
        assert!(
            body.contains(&format!("\"client\":\"{CLIENT_IP}:")),
            "{body}"
        );
    }
    let (_, report) = http(&bed, BACKENDS[1], &[&url, "--count", "30"]);
    let own = format!("\"server\":\"{}:{BACKEND_PORT}\"", BACKEND_IPS[1]);
    let selves: Vec<&str> = report
        .report
        .attempts
        .iter()
        .filter_map(|a| a.body_excerpt.as_deref())
        .filter(|b| b.contains(&own))
        .collect();
    // 30 tries at 1 in 3: missing self every time has odds (2/3)^30, about 5e-6.
    assert!(
        !selves.is_empty(),
        "no connection landed on the backend itself"
    );
    for body in selves {
        assert!(
            body.contains(&format!("\"client\":\"{NODE_BRIDGE_IP}:")),
            "{body}"
        );
    }
}
