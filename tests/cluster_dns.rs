//! When DNS is the problem: `svcprobe dns`, and `diagnose` following a DNS failure into the
//! DNS Service. Every DNS switch of the test bed must yield its own cause, from the client
//! pod (namespace default) and from `client-b` (namespace team-b), with the DNS Service's
//! objects (`--objects`: the kube-dns fixture, plus hostnames' for diagnose), with
//! `--dns-endpoints` instead, and with neither: then a cause that needs the DNS pods'
//! addresses is `dns-unreachable`, which must say why.
//!
//! The runs of one switch go at once (they wait on timeouts, not on the CPU), and the
//! switches are split over three beds that run in parallel.

mod common;

use std::path::PathBuf;
use std::thread;

use common::bin;
use common::diagnose::{cause, check, check_fits, Check};
use common::kubeapi::{FakeApiServer, FIXTURES};
use common::testbed::{describe, Testbed, CLIENT, CLIENT_B, DNS_POD, DNS_POD_IP, NODELOCAL_IP};
use serde::Deserialize;
use serde_json::Value;

const KUBE_DNS: &str = include_str!("fixtures/objects/kube-dns.json");
const HOSTNAMES: &str = include_str!("fixtures/objects/hostnames.json");
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.svcprobe-test-token-never-printed.c2ln";

/// The `svcprobe dns` report: every field pinned, its checks' evidence by id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DnsReport {
    schema_version: u32,
    command: String,
    ok: bool,
    context: common::diagnose::Context,
    nameservers: Vec<String>,
    checks: Vec<Check>,
    verdict: common::diagnose::Verdict,
    duration_ms: f64,
    deadline_ms: u64,
}

/// The objects files: kube-dns alone (for `dns`), and with hostnames (for `diagnose`).
struct Objects {
    dns: PathBuf,
    all: PathBuf,
}

fn objects(bed: &Testbed) -> Objects {
    let dns: Value = serde_json::from_str(KUBE_DNS).expect("kube-dns fixture");
    let mut all: Value = serde_json::from_str(HOSTNAMES).expect("hostnames fixture");
    if let (Some(items), Some(more)) = (all["items"].as_array_mut(), dns["items"].as_array()) {
        items.extend(more.iter().cloned());
    }
    let dir = bed.scratch_dir();
    let files = Objects {
        dns: dir.join("kube-dns.json"),
        all: dir.join("all.json"),
    };
    std::fs::write(&files.dns, dns.to_string()).expect("write");
    std::fs::write(&files.all, all.to_string()).expect("write");
    files
}

/// Runs svcprobe in `pod`; the report, after the exit code and the deadline are checked.
fn run(bed: &Testbed, pod: &str, args: &[&str]) -> Value {
    let mut line = vec![bin::svcprobe()];
    line.extend(args);
    let out = bed.exec(pod, &line);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&out)));
    let healthy = cause(&report) == "healthy";
    assert_eq!(
        out.status.code(),
        Some(if healthy { 0 } else { 1 }),
        "{}",
        describe(&out)
    );
    let took = report["duration_ms"].as_f64().unwrap_or(f64::MAX);
    let deadline = report["deadline_ms"].as_f64().unwrap_or_default();
    assert!(took < deadline + 500.0, "took {took} ms: {report:#}");
    if args.first() == Some(&"dns") {
        let typed = DnsReport::deserialize(&report)
            .unwrap_or_else(|e| panic!("dns report drifted from its mirror: {e}: {report:#}"));
        for check in &typed.checks {
            check_fits(check).unwrap_or_else(|e| panic!("{:?}: {e}: {report:#}", check.id));
        }
    } else {
        common::diagnose::typed(&report);
    }
    report
}

/// The ways of running, in the order of a case's expected causes.
const WAYS: [&str; 5] = [
    "dns",
    "dns --objects",
    "dns --dns-endpoints",
    "diagnose",
    "diagnose --objects",
];

/// Every way from each of `pods`, all at once: the reports, by pod then way. The burst's
/// queries get 2 s (`dns --timeout`), so that a loaded machine is not mistaken for loss.
fn every_way(bed: &Testbed, pods: [&str; 2], files: &Objects) -> Vec<Vec<Value>> {
    let lines = way_lines(files);
    thread::scope(|scope| {
        let runs: Vec<Vec<_>> = pods
            .iter()
            .map(|pod| {
                lines
                    .iter()
                    .map(|line| scope.spawn(move || run_line(bed, pod, line)))
                    .collect()
            })
            .collect();
        runs.into_iter()
            .map(|pod| {
                pod.into_iter()
                    .map(|r| r.join().expect("a run panicked"))
                    .collect()
            })
            .collect()
    })
}

/// The command line of each of `WAYS`, in its order.
fn way_lines(files: &Objects) -> [Vec<String>; 5] {
    let dns_objects = files.dns.display().to_string();
    let all_objects = files.all.display().to_string();
    let owned = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    [
        owned(&["dns", "--timeout", "2s"]),
        owned(&["dns", "--timeout", "2s", "--objects", &dns_objects]),
        owned(&["dns", "--timeout", "2s", "--dns-endpoints", DNS_POD_IP]),
        owned(&["diagnose", "hostnames.default"]),
        owned(&["diagnose", "hostnames.default", "--objects", &all_objects]),
    ]
}

fn run_line(bed: &Testbed, pod: &str, line: &[String]) -> Value {
    let args: Vec<&str> = line.iter().map(String::as_str).collect();
    run(bed, pod, &args)
}

/// One switch: the causes expected from each pod, one per way.
struct Case {
    switch: &'static str,
    client: [&'static str; 5],
    client_b: [&'static str; 5],
}

const fn same(switch: &'static str, causes: [&'static str; 5]) -> Case {
    Case {
        switch,
        client: causes,
        client_b: causes,
    }
}

const ALL_HEALTHY: [&str; 5] = ["healthy"; 5];

/// Runs each case on `bed` and checks every cause; returns the reports by (switch, pod).
fn check_cases(bed: &Testbed, cases: &[Case]) -> Vec<(&'static str, &'static str, Vec<Value>)> {
    let files = objects(bed);
    let mut seen = Vec::new();
    for case in cases {
        if case.switch != "healthy" {
            bed.break_(case.switch);
        }
        let pods = [CLIENT, CLIENT_B];
        let all = every_way(bed, pods, &files);
        for ((pod, want), mut reports) in
            pods.into_iter().zip([case.client, case.client_b]).zip(all)
        {
            // Random loss: a diagnose whose walk happened to lose nothing has no DNS trouble
            // to follow (P ~ 0.3%); its next run will.
            for (i, report) in reports.iter_mut().enumerate() {
                for _ in 0..2 {
                    if case.switch == "dns-flaky" && cause(report) == "healthy" {
                        let objects = files.all.display().to_string();
                        let mut line = vec!["diagnose", "hostnames.default"];
                        if i == 4 {
                            line.extend(["--objects", &objects]);
                        }
                        *report = run(bed, pod, &line);
                    }
                }
            }
            // Ten runs at once against one BIND on a loaded 2-core machine. dns-paths resends a
            // silent UDP query as glibc does (a_lost_datagram_is_sent_again), which ended the
            // misreads of a single late query (dns-tcp-drop once read as dns-blocked): four whole
            // runs at load 10 needed no second run. The burst is single-shot by design, though,
            // and two test binaries at once (load 14) made one healthy `dns` lose 5% of its 64
            // queries past their 2 s: dns-intermittent. A way whose cause disagrees runs once
            // more, alone; the second answer must be right.
            if case.switch != "dns-flaky" {
                let lines = way_lines(&files);
                for ((report, want), line) in reports.iter_mut().zip(want.iter()).zip(&lines) {
                    if cause(report) != *want {
                        *report = run_line(bed, pod, line);
                    }
                }
            }
            let got: Vec<&str> = reports.iter().map(cause).collect();
            for ((way, got), (want, report)) in WAYS.iter().zip(&got).zip(want.iter().zip(&reports))
            {
                assert_eq!(got, want, "{} from {pod}, {way}: {:#}", case.switch, report);
            }
            seen.push((case.switch, pod, reports));
        }
        if case.switch != "healthy" {
            bed.fix(case.switch);
        }
    }
    seen
}

fn reports<'a>(seen: &'a [(&str, &str, Vec<Value>)], switch: &str, pod: &str) -> &'a [Value] {
    seen.iter()
        .find(|(s, p, _)| *s == switch && *p == pod)
        .map(|(_, _, r)| r.as_slice())
        .unwrap_or_else(|| panic!("no run of {switch} from {pod}"))
}

fn summary(report: &Value) -> &str {
    report["verdict"]["summary"].as_str().unwrap_or_default()
}

/// The servers `dns-paths` asked, as (server, role, udp reply, tcp reply).
fn paths(report: &Value) -> Vec<(String, String, String, String)> {
    check(report, "dns-paths")["evidence"]["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&s["server"]),
                text(&s["role"]),
                text(&s["udp"]["reply"]),
                text(&s["tcp"]["reply"]),
            )
        })
        .collect()
}

fn row(server: &str, role: &str, udp: &str, tcp: &str) -> (String, String, String, String) {
    (server.into(), role.into(), udp.into(), tcp.into())
}

const UNREACHABLE_WITHOUT_PODS: [&str; 5] = ["dns-unreachable", "", "", "dns-unreachable", ""];

const fn without_pods_addresses(cause: &'static str) -> [&'static str; 5] {
    let mut causes = UNREACHABLE_WITHOUT_PODS;
    causes[1] = cause;
    causes[2] = cause;
    causes[4] = cause;
    causes
}

/// The DNS pods are down, or their port 53 is dropped: told apart by refusal.
#[test]
fn dns_pods_down_and_dns_blocked() {
    let bed = Testbed::up();
    let seen = check_cases(
        &bed,
        &[
            same("healthy", ALL_HEALTHY),
            same("dns-down", ["dns-pods-down"; 5]),
            same("dns-drop", without_pods_addresses("dns-blocked")),
            Case {
                switch: "dns-drop-team-b",
                client: ALL_HEALTHY,
                client_b: without_pods_addresses("dns-blocked"),
            },
        ],
    );
    let healthy = reports(&seen, "healthy", CLIENT);
    assert_eq!(
        paths(&healthy[1]),
        [
            row("10.0.0.10:53", "cluster-ip", "answered", "answered"),
            row(
                &format!("{DNS_POD_IP}:53"),
                "endpoint",
                "answered",
                "answered"
            ),
        ]
    );
    // kubelet's ndots:5 sends example.com through 3 search domains first: 8 queries, where
    // example.com. sends 2; `kubernetes` resolves on the first domain.
    let costs = &check(&healthy[0], "dns-search-cost")["evidence"]["names"];
    let cost = |name: &str| {
        costs
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name && c["libc"] == "glibc")
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {costs:#}"))
    };
    assert_eq!(cost("example.com")["queries"], 8, "{costs:#}");
    assert_eq!(cost("example.com")["cheaper"]["queries"], 2, "{costs:#}");
    assert_eq!(cost("kubernetes")["queries"], 2, "{costs:#}");
    assert_eq!(cost("kubernetes")["cheaper"], Value::Null, "{costs:#}");
    // The bed's ClusterIP is real kernel DNAT, so on a loaded machine a pair sent from one
    // socket can really lose a query to conntrack (CI saw 1 of 64 once): healthy means below
    // the share the verdict calls dns-intermittent (5%) and no race signature, not zero.
    let burst = &check(&healthy[0], "dns-burst")["evidence"];
    let mut lost = 0;
    for style in burst["styles"].as_array().expect("styles") {
        assert_eq!(style["queries"], 32, "{burst:#}");
        lost += style["lost"].as_u64().expect("lost");
    }
    assert!(lost * 20 < 64, "{burst:#}");
    assert_eq!(burst["race_signature"], false, "{burst:#}");
    assert_eq!(
        check(&healthy[1], "dns-service")["evidence"]["endpoints"][0]["pod"],
        DNS_POD
    );
    // TCP is reset; UDP's ICMP errors are rate-limited by the kernel (the burst draws many),
    // so a UDP query may see none.
    let down = reports(&seen, "dns-down", CLIENT_B);
    let (_, role, udp, tcp) = &paths(&down[1])[1];
    assert_eq!((role.as_str(), tcp.as_str()), ("endpoint", "refused"));
    assert!(udp == "refused" || udp == "timeout", "{udp}");
    // Without the DNS pods' addresses, the verdict says what would narrow it down.
    let dropped = reports(&seen, "dns-drop-team-b", CLIENT_B);
    for unnarrowed in [&dropped[0], &dropped[3]] {
        assert!(
            summary(unnarrowed).contains("--dns-endpoints"),
            "{unnarrowed:#}"
        );
    }
    assert!(summary(&dropped[4]).contains("team-b"), "{:#}", dropped[4]);
}

/// kube-proxy's rules for the DNS Service, and one protocol dropped.
#[test]
fn dns_service_and_protocols() {
    let bed = Testbed::up();
    let seen = check_cases(
        &bed,
        &[
            same(
                "dns-vip-missing",
                without_pods_addresses("dns-service-broken"),
            ),
            same("dns-udp-drop", ["dns-udp-only-broken"; 5]),
            // The Service's names resolve over UDP, and its port is TCP: not its cause.
            same(
                "dns-tcp-drop",
                [
                    "dns-tcp-only-broken",
                    "dns-tcp-only-broken",
                    "dns-tcp-only-broken",
                    "healthy",
                    "healthy",
                ],
            ),
        ],
    );
    let broken = reports(&seen, "dns-vip-missing", CLIENT);
    assert_eq!(
        paths(&broken[1]),
        [
            row("10.0.0.10:53", "cluster-ip", "timeout", "timeout"),
            row(
                &format!("{DNS_POD_IP}:53"),
                "endpoint",
                "answered",
                "answered"
            ),
        ]
    );
    let udp = reports(&seen, "dns-udp-drop", CLIENT_B);
    assert_eq!(
        paths(&udp[0]),
        [row("10.0.0.10:53", "nameserver", "timeout", "answered")]
    );
}

/// The forwarders, and random loss.
#[test]
fn dns_upstream_and_intermittent_loss() {
    let bed = Testbed::up();
    let seen = check_cases(
        &bed,
        &[
            same(
                "dns-upstream-fail",
                [
                    "dns-upstream",
                    "dns-upstream",
                    "dns-upstream",
                    "healthy",
                    "healthy",
                ],
            ),
            same("dns-flaky", ["dns-intermittent"; 5]),
        ],
    );
    let upstream = reports(&seen, "dns-upstream-fail", CLIENT);
    let asked = &check(&upstream[0], "dns-upstream")["evidence"];
    assert_eq!(asked["name"], "example.com.");
    assert_eq!(asked["queries"][0]["rcode"], "SERVFAIL", "{asked:#}");
    let flaky = reports(&seen, "dns-flaky", CLIENT);
    let burst = &check(&flaky[0], "dns-burst")["evidence"];
    let lost: u64 = burst["styles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["lost"].as_u64())
        .sum();
    assert!(lost >= 2, "{burst:#}");
}

/// One lost datagram is not a silent path. With kube-dns's rules gone and TCP to the DNS pod
/// dropped, only UDP at the DNS pod's own address answers, and the DNS pod drops the first
/// datagram it gets (iptables `statistic --mode nth` in its namespace): the resend, glibc's
/// (`attempts`, 2 by default), gets the answer, so the DNS pod is seen answering
/// (`dns-service-broken`). With `attempts:1` there is one try, and the same loss reads as
/// `dns-blocked`: the confident wrong verdict the resend is there to prevent.
#[test]
fn a_lost_datagram_is_sent_again() {
    let bed = Testbed::up();
    bed.break_("dns-vip-missing");
    bed.break_("dns-tcp-drop");
    let one_try = bed.scratch_dir().join("resolv-one-try.conf");
    std::fs::write(
        &one_try,
        "nameserver 10.0.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 attempts:1\n",
    )
    .expect("write");
    let one_try = one_try.display().to_string();
    let endpoints = ["dns", "--dns-endpoints", DNS_POD_IP];
    for (extra, tries, want) in [
        (&[][..], &["timeout", "answered"][..], "dns-service-broken"),
        (
            &["--resolv-conf", &one_try][..],
            &["timeout"][..],
            "dns-blocked",
        ),
    ] {
        drop_first_dns_datagram(&bed);
        let args: Vec<&str> = endpoints.iter().chain(extra).copied().collect();
        let report = run(&bed, CLIENT, &args);
        assert_eq!(first_dns_datagram_dropped(&bed), 1, "{report:#}");
        let servers = &check(&report, "dns-paths")["evidence"]["servers"];
        let pod = &servers[1];
        assert_eq!(pod["server"], format!("{DNS_POD_IP}:53"), "{servers:#}");
        assert_eq!(pod["udp"]["tries"], serde_json::json!(tries), "{servers:#}");
        assert_eq!(
            pod["tcp"]["tries"],
            serde_json::json!(["timeout"]),
            "{servers:#}"
        );
        assert_eq!(cause(&report), want, "{report:#}");
    }
}

/// (Re)inserts the DNS pod's rule that drops the first DNS datagram it gets from now on.
fn drop_first_dns_datagram(bed: &Testbed) {
    let ok = |args: &[&str]| {
        let out = bed.exec(DNS_POD, args);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
    };
    ok(&["iptables", "-F", "INPUT"]);
    ok(&[
        "iptables",
        "-A",
        "INPUT",
        "-p",
        "udp",
        "--dport",
        "53",
        "-m",
        "statistic",
        "--mode",
        "nth",
        "--every",
        "1000000",
        "--packet",
        "0",
        "-j",
        "DROP",
    ]);
}

/// How many datagrams that rule dropped.
fn first_dns_datagram_dropped(bed: &Testbed) -> u64 {
    let out = bed.exec(DNS_POD, &["iptables", "-L", "INPUT", "-v", "-x", "-n"]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("statistic"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rule: {text}"))
}

/// A NodeLocal DNSCache in front of the DNS Service, running and stopped; the text view.
#[test]
fn nodelocal_cache() {
    let bed = Testbed::up();
    let seen = check_cases(
        &bed,
        &[
            same("nodelocal", ALL_HEALTHY),
            same(
                "nodelocal-down",
                without_pods_addresses("nodelocal-dns-down"),
            ),
        ],
    );
    let cached = reports(&seen, "nodelocal", CLIENT);
    assert_eq!(
        paths(&cached[1]),
        [
            row(
                &format!("{NODELOCAL_IP}:53"),
                "nodelocal",
                "answered",
                "answered"
            ),
            row("10.0.0.10:53", "cluster-ip", "answered", "answered"),
            row(
                &format!("{DNS_POD_IP}:53"),
                "endpoint",
                "answered",
                "answered"
            ),
        ]
    );
    let down = reports(&seen, "nodelocal-down", CLIENT_B);
    let (server, role, udp, tcp) = &paths(&down[1])[0];
    assert_eq!(
        (server.as_str(), role.as_str(), tcp.as_str()),
        (
            format!("{NODELOCAL_IP}:53").as_str(),
            "nodelocal",
            "refused"
        )
    );
    assert!(udp == "refused" || udp == "timeout", "{udp}");
    // `svcprobe dns -o text` fits 80 columns and ends with the verdict.
    let out = bed.exec(CLIENT, &[bin::svcprobe(), "-o", "text", "dns"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    assert!(text.contains("[ ok ] dns-paths"), "{text}");
    assert!(text.contains("verdict: healthy"), "{text}");
}

/// A UDP Service port: DNS on 53 (`diagnose kube-dns -n kube-system` works end to end),
/// and for any other UDP port an honest skip with the ICMP errors one datagram drew.
#[test]
fn udp_service_ports() {
    let bed = Testbed::up();
    let files = objects(&bed);
    let dns_objects = files.dns.display().to_string();
    let report = run(
        &bed,
        CLIENT,
        &[
            "diagnose",
            "kube-dns",
            "-n",
            "kube-system",
            "--objects",
            &dns_objects,
        ],
    );
    assert_eq!(cause(&report), "healthy", "{report:#}");
    let samples = &check(&report, "cluster-ip")["evidence"];
    assert_eq!(samples["protocol"], "dns", "{samples:#}");
    assert_eq!(samples["outcomes"]["ok"], samples["samples"], "{samples:#}");
    let direct = &check(&report, "endpoints-direct")["evidence"]["endpoints"][0];
    assert_eq!(direct["address"], format!("{DNS_POD_IP}:53"));
    assert_eq!(direct["ok"], true, "{direct:#}");

    // The same Service on a UDP port nothing listens on, and no kube-proxy rule covers.
    let mut moved: Value = serde_json::from_str(KUBE_DNS).expect("fixture");
    for item in moved["items"].as_array_mut().into_iter().flatten() {
        if item["kind"] == "Service" {
            item["spec"]["ports"] = serde_json::json!([
                { "name": "syslog", "port": 5514, "protocol": "UDP", "targetPort": 5514 }
            ]);
        }
        if item["kind"] == "EndpointSlice" {
            item["ports"] =
                serde_json::json!([{ "name": "syslog", "port": 5514, "protocol": "UDP" }]);
        }
    }
    let path = bed.scratch_dir().join("syslog.json");
    std::fs::write(&path, moved.to_string()).expect("write");
    let path = path.display().to_string();
    let report = run(
        &bed,
        CLIENT,
        &[
            "diagnose",
            "kube-dns",
            "-n",
            "kube-system",
            "--objects",
            &path,
        ],
    );
    let vip = check(&report, "cluster-ip");
    assert_eq!(vip["status"], "skip", "{vip:#}");
    assert!(
        vip["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot confirm"),
        "{vip:#}"
    );
    // No rule for 10.0.0.10:5514: the node routes it out and it is lost, silently.
    assert_eq!(vip["evidence"]["heard"], "nothing", "{vip:#}");
    let direct = &check(&report, "endpoints-direct")["evidence"]["endpoints"][0];
    assert_eq!(direct["heard"], "icmp", "{direct:#}");
    assert_eq!(direct["icmp"]["from"], DNS_POD_IP, "{direct:#}");
    assert_eq!(
        direct["icmp"]["description"], "port-unreachable",
        "{direct:#}"
    );
    assert_ne!(cause(&report), "healthy", "{report:#}");
}

/// The DNS Service read from the API server (the stand-in of tests/common/kubeapi.rs, in the
/// client pod), and a 403 in kube-system: a skip naming the exact Role to grant.
#[test]
fn the_dns_service_from_the_api_and_rbac() {
    let bed = Testbed::up();
    let server = FakeApiServer::start("127.0.0.1:0", Some(&bed.netns(CLIENT)), TOKEN);
    server.set(|b| b.also = Some(KUBE_DNS));
    let token = bed.scratch_dir().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token");
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let token = token.display().to_string();
    let ca = format!("{FIXTURES}/ca.pem");
    let api = [
        "dns",
        "--timeout",
        "2s",
        "--api-server",
        &url,
        "--token-file",
        &token,
        "--cacert",
        &ca,
    ];
    bed.break_("dns-vip-missing");
    let report = run(&bed, CLIENT, &api);
    assert_eq!(cause(&report), "dns-service-broken", "{report:#}");
    let service = &check(&report, "dns-service")["evidence"];
    assert_eq!(service["source"], "api", "{service:#}");
    assert_eq!(service["endpoints"][0]["pod"], DNS_POD, "{service:#}");
    let listed = service["requests"][1]["path"].as_str().unwrap_or_default();
    assert!(
        listed.starts_with("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?")
            && listed.contains("kube-dns"),
        "{service:#}"
    );

    server.set(|b| b.forbidden_namespaces = vec!["kube-system"]);
    let report = run(&bed, CLIENT, &api);
    assert_eq!(cause(&report), "dns-unreachable", "{report:#}");
    let service = check(&report, "dns-service");
    assert_eq!(service["status"], "skip", "{service:#}");
    assert_eq!(
        service["evidence"]["requests"][0]["status"], 403,
        "{service:#}"
    );
    let hint = service["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("kubectl create role svcprobe-dns-read -n kube-system --verb=get,list --resource=services,endpointslices.discovery.k8s.io")
            && hint.contains("--serviceaccount=default:default"),
        "{hint}"
    );
    let yaml = service["evidence"]["rbac_yaml"]
        .as_str()
        .unwrap_or_default();
    assert!(
        yaml.contains("  name: svcprobe-dns-read\n  namespace: kube-system\n"),
        "{yaml}"
    );
    // The Role deploy/rbac.yaml ships is the one printed.
    assert!(include_str!("../deploy/rbac.yaml").contains(yaml), "{yaml}");
}
