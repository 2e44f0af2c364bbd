//! `svcprobe hairpin` in the test bed: from a backend pod, the healthy bed passes and the two
//! hairpin failure switches fail (deterministically through `default/self`, whose only
//! endpoint is that pod, and statistically through `hostnames`); from the client pod it is
//! "not an endpoint"; with every packet dropped it ends by its deadline. Asserts on the parsed
//! JSON (mirror structs with `deny_unknown_fields`: schema drift fails here) and exit codes.
//! Needs root (network namespaces); every test has its own bed, so they run in parallel.
// The mirror structs pin every field of the schema; not every field is asserted on.
#![allow(dead_code)]

mod common;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use common::bin;
use common::schema::{Latency, Resolution, ServiceRef};
use common::testbed::{
    self, Testbed, BACKENDS, BACKEND_IPS, BACKEND_PORT, CLIENT, HOSTNAMES_FQDN, HOSTNAMES_VIP,
    NODE_BRIDGE_IP, SELF_BACKEND, SELF_FQDN, SELF_VIP,
};
use serde::Deserialize;

/// With 3 endpoints, the chance that 40 attempts never land on the probing pod is
/// (2/3)^40 ≈ 9e-8: the statistical assertions below fail falsely less than once in 10^7 runs.
const ATTEMPTS_3: &str = "40";

type Envelope = common::schema::Envelope<Report>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    target: String,
    service_ref: Option<ServiceRef>,
    service: Option<String>,
    resolution: Option<Resolution>,
    pod_ip: Option<String>,
    listening_ports: Vec<u16>,
    target_port: Option<u16>,
    endpoints: Option<u32>,
    count: u32,
    timeout_ms: u64,
    deadline_ms: u64,
    max_parallel: u32,
    attempts: Vec<Attempt>,
    summary: Summary,
    verdict: Verdict,
    recheck: Option<Summary>,
    deadline_exceeded: bool,
    duration_ms: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Attempt {
    seq: u32,
    outcome: String,
    landed: Option<Landed>,
    duration_ms: f64,
    slow: bool,
    local: Option<String>,
    seen_as: Option<String>,
    mss_tag: u32,
    icmp: Option<serde_json::Value>,
    detail: Option<String>,
    recheck: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Summary {
    attempts: u32,
    connected: u32,
    reached_self: u32,
    reached_other: u32,
    failed: u32,
    slow: u32,
    outcomes: BTreeMap<String, u32>,
    latency_self: Option<Latency>,
    latency_other: Option<Latency>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    status: Status,
    reason: Reason,
    summary: String,
    hint: Option<String>,
    p_self_if_healthy: Option<f64>,
    max_endpoints_99: Option<u32>,
}

/// The closed vocabularies of the report: a value the mirror does not know fails decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
enum Landed {
    #[serde(rename = "self")]
    ThisPod,
    #[serde(rename = "other")]
    OtherPod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pass,
    Fail,
    Inconclusive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Reason {
    SelfReached,
    HairpinDropped,
    NoConnection,
    SelfNotSeen,
    NotAnEndpoint,
    NotResolved,
    NoAttempts,
}

/// Runs `svcprobe hairpin ARGS` in `pod`; returns the parsed report and the exit code.
fn hairpin(bed: &Testbed, pod: &str, args: &[&str]) -> (Envelope, i32) {
    let out = run(bed, pod, &[&["hairpin"], args].concat());
    let doc: Envelope = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a hairpin report ({e}): {}", testbed::describe(&out)));
    assert_eq!((doc.schema_version, doc.command.as_str()), (1, "hairpin"));
    let code = out.status.code().unwrap_or(-1);
    assert_eq!(doc.ok, code == 0, "ok and exit code disagree: {doc:?}");
    assert_eq!(doc.ok, doc.verdict.status == Status::Pass, "{doc:?}");
    check_consistent(&doc);
    (doc, code)
}

fn run(bed: &Testbed, pod: &str, args: &[&str]) -> Output {
    let mut full = vec![bin::svcprobe()];
    full.extend_from_slice(args);
    bed.exec_timeout(pod, &full, Duration::from_secs(20))
}

/// Invariants every report keeps, whatever the network did.
fn check_consistent(doc: &Envelope) {
    let s = &doc.summary;
    assert_eq!(s.attempts as usize, doc.attempts.len());
    assert_eq!(s.connected + s.failed, s.attempts);
    assert_eq!(s.reached_self + s.reached_other, s.connected, "{s:?}");
    for (i, a) in doc.attempts.iter().enumerate() {
        assert_eq!(a.seq as usize, i + 1);
        assert_eq!(a.landed.is_some(), a.outcome == "connected", "{a:?}");
        assert_eq!(
            a.seen_as.is_some(),
            a.landed == Some(Landed::ThisPod),
            "{a:?}"
        );
        assert!(
            a.duration_ms <= doc.timeout_ms as f64 + 100.0,
            "attempt beyond its timeout: {a:?}"
        );
    }
    assert!(doc.max_parallel as usize <= 8);
}

fn assert_fails_with_hairpin_evidence(doc: &Envelope) {
    assert_eq!(doc.verdict.status, Status::Fail, "{doc:#?}");
    assert_eq!(doc.verdict.reason, Reason::HairpinDropped, "{doc:#?}");
    assert_eq!(doc.summary.reached_self, 0);
    let timeouts = doc.summary.outcomes.get("timeout").copied().unwrap_or(0);
    assert!(timeouts + doc.summary.slow >= 1, "{doc:#?}");
    assert!(doc
        .verdict
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("hairpin"));
}

#[test]
fn healthy_backend_reaches_itself() {
    let bed = Testbed::up();
    // the guide's Service, three endpoints: some attempts land on this pod
    let (doc, code) = hairpin(
        &bed,
        SELF_BACKEND,
        &[
            &format!("{HOSTNAMES_VIP}:80"),
            "--attempts",
            ATTEMPTS_3,
            "--endpoints",
            "3",
        ],
    );
    assert_eq!((code, doc.verdict.status), (0, Status::Pass), "{doc:#?}");
    assert_eq!(doc.verdict.reason, Reason::SelfReached);
    assert_eq!(doc.summary.attempts, 40);
    assert_eq!(doc.summary.connected, 40, "{doc:#?}");
    assert!(doc.summary.reached_self >= 1 && doc.summary.reached_other >= 1);
    assert_eq!(doc.pod_ip.as_deref(), Some(BACKEND_IPS[0]));
    assert_eq!(doc.listening_ports, vec![BACKEND_PORT]);
    assert_eq!(doc.service.as_deref(), Some("10.0.1.175:80"));
    for a in doc
        .attempts
        .iter()
        .filter(|a| a.landed == Some(Landed::ThisPod))
    {
        // masquerade: this pod's server saw the node's bridge address, not its own
        let seen = a.seen_as.as_deref().unwrap_or("");
        // (no assertion on `slow`: busybox httpd's backlog of 9 can overflow when attempts
        // land on it faster than it forks, and the kernel then retransmits the SYN)
        assert!(seen.starts_with(&format!("{NODE_BRIDGE_IP}:")), "{a:?}");
    }
    let tags: std::collections::BTreeSet<u32> = doc.attempts.iter().map(|a| a.mss_tag).collect();
    assert!(
        tags.len() >= 8,
        "tags of neighbouring attempts differ: {tags:?}"
    );
    // attempts run one after another while they are fast: quick, even on a loaded machine
    assert!(doc.duration_ms < 3000.0, "{doc:#?}");

    // by name, resolved through the pod's resolv.conf
    let (doc, code) = hairpin(&bed, SELF_BACKEND, &["hostnames", "--attempts", ATTEMPTS_3]);
    assert_eq!(code, 0, "{doc:#?}");
    let r = doc.resolution.as_ref().expect("a resolution for a name");
    assert_eq!(
        r.final_name.as_deref(),
        Some(&*format!("{HOSTNAMES_FQDN}."))
    );
    assert_eq!(r.addresses, vec![HOSTNAMES_VIP.to_string()]);

    // the Service whose only endpoint is this pod: every attempt lands here
    let (doc, code) = hairpin(
        &bed,
        SELF_BACKEND,
        &["self", "--attempts", "5", "--target-port", "9376"],
    );
    assert_eq!(code, 0, "{doc:#?}");
    assert_eq!(doc.summary.reached_self, 5, "{doc:#?}");
    assert_eq!(doc.target_port, Some(BACKEND_PORT));

    // the text view says so
    let out = run(
        &bed,
        SELF_BACKEND,
        &["-o", "text", "hairpin", "self", "--attempts", "3"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", testbed::describe(&out));
    assert!(
        text.contains("PASS") && text.contains("3 reached this pod"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
}

/// Both hairpin switches, each seen deterministically (`default/self`) and through the guide's
/// Service (one in three attempts comes back to the pod and is dropped).
fn broken_hairpin_fails(switch: &str) {
    let bed = Testbed::up();
    bed.break_(switch);
    let (doc, code) = hairpin(
        &bed,
        SELF_BACKEND,
        &[
            SELF_FQDN,
            "--endpoints",
            "1",
            "--attempts",
            "4",
            "--deadline",
            "3s",
        ],
    );
    assert_eq!(code, 1, "{doc:#?}");
    assert_fails_with_hairpin_evidence(&doc);
    assert_eq!(doc.summary.connected, 0, "{doc:#?}");
    // without the endpoint count the same evidence is worded as "no connection"
    let (doc, code) = hairpin(
        &bed,
        SELF_BACKEND,
        &[SELF_VIP, "--attempts", "2", "--deadline", "2s"],
    );
    assert_eq!((code, doc.verdict.status), (1, Status::Fail));
    assert_eq!(doc.verdict.reason, Reason::NoConnection, "{doc:#?}");

    let (doc, code) = hairpin(
        &bed,
        SELF_BACKEND,
        &[
            HOSTNAMES_VIP,
            "--attempts",
            ATTEMPTS_3,
            "--endpoints",
            "3",
            "--deadline",
            "15s",
        ],
    );
    assert_eq!(code, 1, "{doc:#?}");
    assert_fails_with_hairpin_evidence(&doc);
    assert!(
        doc.summary.reached_other >= 1,
        "other endpoints still answer: {doc:#?}"
    );
    assert!(doc.verdict.p_self_if_healthy.is_some_and(|p| p > 0.999_999));
    // the drops recur when attempts are spaced out: not an endpoint's full accept queue
    let recheck = doc.recheck.as_ref().expect("a second round");
    assert!(recheck.outcomes.get("timeout").copied().unwrap_or(0) + recheck.slow >= 1);
    assert!(doc.attempts.iter().filter(|a| a.recheck).count() == recheck.attempts as usize);
    // the other backends are unaffected: from them the Service works (no hairpin involved)
    let (doc, _) = hairpin(&bed, BACKENDS[1], &[SELF_VIP, "--attempts", "3"]);
    assert_eq!(doc.summary.reached_other, 3, "{doc:#?}");
}

#[test]
fn hairpin_off_fails() {
    broken_hairpin_fails("hairpin-off");
}

#[test]
fn masq_mark_missing_fails() {
    broken_hairpin_fails("masq-mark-missing");
}

#[test]
fn client_pod_is_not_an_endpoint() {
    let bed = Testbed::up();
    let (doc, code) = hairpin(&bed, CLIENT, &["hostnames"]);
    assert_eq!(code, 1, "{doc:#?}");
    assert_eq!(doc.verdict.status, Status::Inconclusive);
    assert_eq!(doc.verdict.reason, Reason::NotAnEndpoint);
    assert!(doc.attempts.is_empty() && doc.listening_ports.is_empty());
    assert!(
        doc.verdict.summary.contains("listens on no TCP port"),
        "{doc:#?}"
    );
    let out = run(&bed, CLIENT, &["-o", "text", "hairpin", "hostnames"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("INCONCLUSIVE") && text.contains("cannot be an endpoint"),
        "{text}"
    );

    // a backend of hostnames is not an endpoint of `self`: every attempt lands elsewhere
    let (doc, code) = hairpin(
        &bed,
        BACKENDS[1],
        &[SELF_VIP, "--endpoints", "1", "--attempts", "3"],
    );
    assert_eq!(code, 1);
    assert_eq!(doc.verdict.reason, Reason::NotAnEndpoint, "{doc:#?}");
    assert_eq!(doc.summary.reached_other, 3);
    // nothing listens on the targetPort given
    let (doc, _) = hairpin(&bed, SELF_BACKEND, &[SELF_VIP, "--target-port", "9377"]);
    assert_eq!(doc.verdict.reason, Reason::NotAnEndpoint, "{doc:#?}");
    assert!(doc.verdict.summary.contains("9377"));
    // unknown endpoint count: inconclusive, with the odds. Twenty connections back to back to
    // one busybox httpd (backlog 9, a fork per connection) may overflow its accept queue: the
    // spaced-out second round then tells that from a hairpin.
    let (doc, _) = hairpin(&bed, BACKENDS[1], &[SELF_VIP, "--attempts", "20"]);
    assert_eq!(doc.verdict.reason, Reason::SelfNotSeen, "{doc:#?}");
    let k = if doc.recheck.is_some() { 9 } else { 4 };
    assert_eq!(doc.verdict.max_endpoints_99, Some(k), "{doc:#?}");
}

#[test]
fn everything_dropped_ends_by_the_deadline() {
    let bed = Testbed::up();
    bed.break_("kube-proxy-down");
    let started = Instant::now();
    let (doc, code) = hairpin(&bed, SELF_BACKEND, &[HOSTNAMES_VIP, "--deadline", "2s"]);
    let wall = started.elapsed();
    assert_eq!(code, 1);
    assert_eq!(doc.verdict.reason, Reason::NoConnection, "{doc:#?}");
    assert_eq!(
        doc.summary.outcomes.get("timeout"),
        Some(&doc.summary.attempts)
    );
    assert!(doc.duration_ms <= 2100.0, "{doc:#?}");
    assert!(wall < Duration::from_millis(2600), "took {wall:?}");
    assert!(
        doc.deadline_exceeded,
        "20 attempts of 1.5 s do not fit in 2 s"
    );
    assert!(
        doc.max_parallel > 1,
        "hanging attempts run in parallel: {doc:#?}"
    );

    // the default deadline (5 s) holds too
    let started = Instant::now();
    let (doc, _) = hairpin(&bed, SELF_BACKEND, &[HOSTNAMES_VIP]);
    assert!(doc.duration_ms <= 5100.0, "{doc:#?}");
    assert!(started.elapsed() < Duration::from_millis(5600));
    assert_eq!(doc.verdict.status, Status::Fail);
}
