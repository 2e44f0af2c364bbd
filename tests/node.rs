//! `svcprobe node` in the test bed's node: its own PID namespace and `/proc` (so the
//! process scan sees this bed only), kube-proxy's stand-in (tests/common/kubeproxy.rs, the
//! one allowed for this command) and a host root made of the bed's files. The healthy bed
//! is `healthy`, again and again, as root and with only CAP_NET_ADMIN/CAP_NET_RAW; each
//! failure switch yields its cause. Asserts on the parsed JSON (mirror structs with
//! `deny_unknown_fields`) and exit codes. Needs root; each test has its own bed.
// The mirror structs pin every field of the schema; not every field is asserted on.
#![allow(dead_code)]

mod common;

use common::kubeproxy::{go_float, go_time, Health, KubeProxy, NodeHost};
use common::testbed::{describe, Testbed, HOSTNAMES_VIP};
use serde::Deserialize;

const OBJECTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/objects/hostnames.json"
);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    schema_version: u32,
    command: String,
    ok: bool,
    service: Option<Service>,
    privileges: Privileges,
    checks: Vec<Check>,
    verdict: Verdict,
    duration_ms: f64,
    deadline_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    name: String,
    namespace: String,
    port: Option<u16>,
    protocol: Option<String>,
    cluster_ip: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Privileges {
    uid: Option<u32>,
    capabilities: Vec<String>,
    host_root: String,
    host_root_present: bool,
    profile: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    id: String,
    status: String,
    summary: String,
    evidence: serde_json::Value,
    hint: Option<String>,
    duration_ms: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    cause: String,
    summary: String,
    next_steps: Vec<String>,
}

impl Envelope {
    fn check(&self, id: &str) -> &Check {
        self.checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id} in {:?}", self.checks))
    }
}

/// A bed, its node as a host, and kube-proxy's stand-in running in `mode`.
struct Node {
    kube_proxy: KubeProxy,
    host: NodeHost,
    bed: Testbed,
}

impl Node {
    fn up(mode: &'static str) -> Node {
        Node::up_with(&[], mode)
    }

    /// A bed brought up with `env` (`TESTBED_IPTABLES`, `TESTBED_PROXY_MODE`).
    fn up_with(env: &[(&str, &str)], mode: &'static str) -> Node {
        let bed = Testbed::up_with(env);
        let mut host = NodeHost::start(&bed);
        let kube_proxy = KubeProxy::start(&mut host, &bed, mode);
        Node {
            kube_proxy,
            host,
            bed,
        }
    }

    /// `svcprobe node hostnames` with the objects and the host root; `netadmin` runs it
    /// with only CAP_NET_ADMIN/CAP_NET_RAW and no host root, as that profile has.
    fn run(&self, netadmin: bool) -> Envelope {
        self.run_with(netadmin, OBJECTS)
    }

    fn run_with(&self, netadmin: bool, objects: &str) -> Envelope {
        let host_root = if netadmin {
            self.bed.scratch_dir().join("no-host-root")
        } else {
            self.host.host_root().to_path_buf()
        };
        let host_root = host_root.to_string_lossy().into_owned();
        let out = self.host.svcprobe(
            netadmin,
            &[
                "node",
                "hostnames",
                "-n",
                "default",
                "--objects",
                objects,
                "--host-root",
                &host_root,
            ],
        );
        let report: Envelope = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not a node report ({e}): {}", describe(&out)));
        let healthy = report.verdict.cause == "healthy";
        assert_eq!(
            out.status.code(),
            Some(if healthy { 0 } else { 1 }),
            "{}",
            describe(&out)
        );
        assert_eq!(report.ok, healthy);
        assert_eq!(
            (report.schema_version, report.command.as_str()),
            (1, "node")
        );
        report
    }

    fn expect(&self, cause: &str, netadmin: bool) -> Envelope {
        let report = self.run(netadmin);
        assert_eq!(report.verdict.cause, cause, "{report:#?}");
        report
    }
}

#[test]
fn healthy_bed_is_healthy_every_time_as_root_and_as_netadmin() {
    let node = Node::up("iptables");
    for _ in 0..3 {
        let r = node.expect("healthy", false);
        assert_eq!(r.privileges.profile, "sysadmin");
        let process = r.check("kube-proxy-process");
        assert_eq!(process.status, "pass", "{process:?}");
        let argv = &process.evidence["kube_proxy"][0]["argv"];
        assert_eq!(
            argv[1], "--config=/var/lib/kube-proxy/config.conf",
            "{argv}"
        );
        assert_eq!(r.check("kube-proxy-health").status, "pass");
        assert_eq!(r.check("kube-proxy-mode").evidence["mode"], "iptables");
        assert_eq!(r.check("kube-proxy-sync").status, "pass");
        let hairpin = &r.check("hairpin").evidence;
        assert_eq!(hairpin["kubelet_hairpin_mode"], "hairpin-veth", "{hairpin}");
        assert_eq!(
            hairpin["kubelet_hairpin_mode_source"],
            "/var/lib/kubelet/config.yaml"
        );
        assert_eq!(r.check("cluster-ip").status, "pass");
        assert_eq!(
            r.check("endpoint-slices").evidence["ready"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        let service = r.service.as_ref().expect("service");
        assert_eq!(service.cluster_ip.as_deref(), Some(HOSTNAMES_VIP));
        let rules = r.check("service-rules");
        assert_eq!(rules.status, "pass", "{rules:?}");
        assert_eq!(rules.evidence["programming"]["source"], "iptables-nft");
        assert!(
            !r.verdict.summary.contains("not checked"),
            "{}",
            r.verdict.summary
        );
    }
    let r = node.expect("healthy", true);
    assert_eq!(r.privileges.profile, "netadmin");
    assert_eq!(
        r.privileges.capabilities,
        vec!["CAP_NET_ADMIN", "CAP_NET_RAW"]
    );
    assert!(!r.privileges.host_root_present);
    let hairpin = &r.check("hairpin").evidence;
    assert_eq!(
        hairpin["kubelet_hairpin_mode"],
        serde_json::Value::Null,
        "{hairpin}"
    );
}

#[test]
fn kube_proxy_hung_failing_stopped_and_replaced() {
    let mut node = Node::up("nftables");
    node.kube_proxy.set(Health::Hung);
    let r = node.expect("kube-proxy-stale", true);
    assert_eq!(r.check("kube-proxy-health").status, "fail");
    assert_eq!(r.check("kube-proxy-sync").status, "fail");
    node.kube_proxy.set(Health::Failing);
    let r = node.expect("kube-proxy-unhealthy", false);
    assert!(
        r.verdict.summary.contains("nftables_sync_failures_total"),
        "{}",
        r.verdict.summary
    );
    node.kube_proxy.stop(&mut node.host);
    let r = node.expect("kube-proxy-down", true);
    assert_eq!(r.check("kube-proxy-process").status, "fail");
    node.host
        .spawn("cilium-agent", &["--config-dir=/tmp/cilium/config-map"]);
    let r = node.expect("other-proxy", false);
    assert!(
        r.verdict.next_steps[0].contains("cilium"),
        "{:?}",
        r.verdict
    );
}

#[test]
fn node_switches_yield_their_causes() {
    let node = Node::up("iptables");
    node.bed.break_("bridge-nf-off");
    let r = node.expect("bridge-netfilter-off", true);
    assert_eq!(r.check("bridge-netfilter").status, "fail");
    node.bed.fix("bridge-nf-off");
    node.bed.break_("hairpin-off");
    let r = node.expect("hairpin-config", true);
    // every pod of the bed has its port on cbr0, whatever the number of pods
    let hairpin = r.check("hairpin");
    let ports = hairpin.evidence["bridges"][0]["ports"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        ports >= 5
            && hairpin
                .summary
                .contains(&format!("on all {ports} bridge ports")),
        "{hairpin:?}"
    );
    // the guide's other mode: measured, a PROMISC bridge does not make up for it
    node.bed.break_("bridge-promisc");
    let r = node.expect("hairpin-config", false);
    assert!(
        r.check("hairpin").summary.contains("cbr0 is PROMISC"),
        "{:?}",
        r.check("hairpin")
    );
    node.bed.fix("hairpin-off");
    let r = node.expect("healthy", false);
    assert_eq!(r.check("hairpin").evidence["bridges"][0]["promisc"], true);
}

#[test]
fn rules_that_missed_a_sync_and_healthy_in_every_mode() {
    let node = Node::up_with(&[("TESTBED_PROXY_MODE", "nftables")], "nftables");
    let r = node.expect("healthy", true);
    assert_eq!(
        r.check("service-rules").evidence["programming"]["source"],
        "nftables"
    );
    for (switch, cause, netadmin) in [
        ("rules-missing", "service-not-programmed", true),
        ("endpoint-stale", "endpoints-mismatch", false),
        ("endpoint-missing", "endpoints-mismatch", true),
        ("masq-mark-missing", "hairpin-config", true),
    ] {
        node.bed.break_(switch);
        let r = node.expect(cause, netadmin);
        assert_eq!(r.check("service-rules").status, "fail", "{switch}: {r:#?}");
        node.bed.fix(switch);
    }
    let stale = &node.expect("healthy", false);
    assert_eq!(stale.check("service-rules").status, "pass");
    // a Service without endpoints, rejected by the node as kube-proxy does, is no fault here
    node.bed.break_("no-endpoints");
    let no_endpoints = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/objects/no-endpoints.json"
    );
    let r = node.run_with(true, no_endpoints);
    assert_eq!(r.verdict.cause, "healthy", "{r:#?}");
    assert!(
        r.check("service-rules").summary.contains("rejects"),
        "{:?}",
        r.check("service-rules")
    );
    // the objects say 3 ready endpoints, the node rejects: a missed sync
    let r = node.expect("endpoints-mismatch", true);
    assert!(
        r.verdict.summary.contains("rejects"),
        "{}",
        r.verdict.summary
    );
    drop(node);
    let legacy = Node::up_with(&[("TESTBED_IPTABLES", "legacy")], "iptables");
    let r = legacy.expect("healthy", true);
    assert_eq!(
        r.check("service-rules").evidence["programming"]["source"],
        "iptables-legacy"
    );
    legacy.bed.break_("endpoint-stale");
    legacy.expect("endpoints-mismatch", false);
}

#[test]
fn without_a_service_only_the_node_wide_checks_run() {
    let node = Node::up("iptables");
    let out = node
        .host
        .svcprobe(true, &["-o", "text", "node", "--deadline", "2s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(text.contains("node-wide checks only"), "{text}");
    assert!(text.contains("verdict: healthy"), "{text}");
    assert!(!text.contains("cluster-ip"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
    // From a pod (no kubelet in its PID namespace, nothing on 10256 in its netns), "no
    // kube-proxy" would be a confident wrong verdict: it says what it could not see.
    // (its own PID namespace, as a pod without hostPID has).
    let out = node.bed.exec(
        common::testbed::CLIENT,
        &[
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            common::bin::svcprobe(),
            "node",
            "--deadline",
            "2s",
        ],
    );
    common::bin::assert_documented_exit(out.status, &describe(&out));
    let r: Envelope =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    assert_eq!(r.verdict.cause, "unknown", "{r:#?}");
    assert_eq!(r.check("kube-proxy-process").status, "skip");
    assert!(
        r.verdict
            .summary
            .contains("not checked: kube-proxy-process (no kubelet in sight"),
        "{}",
        r.verdict.summary
    );
}

#[test]
fn the_stand_in_writes_go_formats() {
    assert_eq!(go_float(0.0), "0");
    assert_eq!(go_float(5.0), "5");
    assert_eq!(go_float(0.5), "0.5");
    assert_eq!(go_float(1e6), "1e+06");
    assert_eq!(go_float(123456.5), "123456.5");
    assert_eq!(go_float(1.7960030601234567e9), "1.7960030601234567e+09");
    assert_eq!(go_float(0.00001), "1e-05");
    let t = go_time(1_796_003_060.5);
    assert!(t.starts_with("2026-11-30 01:44:20.5 +0000 UTC m=+"), "{t}");
    assert!(go_time(0.0).starts_with("1970-01-01 00:00:00 +0000 UTC m=+"));
}
