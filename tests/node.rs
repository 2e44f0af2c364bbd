//! `svcprobe node` in the test bed's node: its own PID namespace and `/proc` (so the
//! process scan sees this bed only), kube-proxy's stand-in (tests/common/kubeproxy.rs, the
//! one allowed for this command) and a host root made of the bed's files. The healthy bed
//! is `healthy`, again and again, as root and with only CAP_NET_ADMIN/CAP_NET_RAW; each
//! failure switch yields its cause. Asserts on the parsed JSON (mirror structs with
//! `deny_unknown_fields`) and exit codes. Needs root; each test has its own bed.
// The mirror structs pin every field of the schema; not every field is asserted on.
#![allow(dead_code)]

mod common;

use common::diagnose::Status;
use common::kubeproxy::{go_float, go_time, Health, KubeProxy, NodeHost};
use common::schema::TcpAttempt;
use common::testbed::{describe, Testbed, HOSTNAMES_VIP};
use serde::Deserialize;
use serde_json::Value;

const OBJECTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/objects/hostnames.json"
);

type Envelope = common::schema::Envelope<Report>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
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

/// A check with its evidence decoded by its id (`{}` when it did not run): see
/// [`RawCheck`].
#[derive(Debug, Deserialize)]
#[serde(try_from = "RawCheck")]
struct Check {
    id: Id,
    status: Status,
    summary: String,
    evidence: Evidence,
    hint: Option<String>,
    duration_ms: f64,
}

/// A check as the JSON has it: the evidence's shape depends on the id, so it is decoded
/// in a second step, and a shape that does not fit its id fails the decode.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: Id,
    status: Status,
    summary: String,
    evidence: Value,
    hint: Option<String>,
    duration_ms: f64,
}

impl TryFrom<RawCheck> for Check {
    type Error = String;

    fn try_from(raw: RawCheck) -> Result<Check, String> {
        let evidence = Evidence::decode(raw.id, raw.status, raw.evidence)
            .map_err(|e| format!("{:?} evidence drifted from its mirror: {e}", raw.id))?;
        Ok(Check {
            id: raw.id,
            status: raw.status,
            summary: raw.summary,
            evidence,
            hint: raw.hint,
            duration_ms: raw.duration_ms,
        })
    }
}

/// `report::NodeCheckId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Id {
    KubeProxyProcess,
    KubeProxyHealth,
    KubeProxyMode,
    KubeProxySync,
    IpForward,
    BridgeNetfilter,
    Hairpin,
    Conntrack,
    EndpointSlices,
    ServiceRules,
    ClusterIp,
}

/// `report::NodeEvidence`, one shape per check id.
#[derive(Debug)]
enum Evidence {
    Processes(ProcessEvidence),
    Health(HealthEvidence),
    Mode(ModeEvidence),
    Sync(SyncEvidence),
    IpForward(IpForwardEvidence),
    BridgeNetfilter(BridgeNetfilterEvidence),
    Hairpin(HairpinEvidence),
    Conntrack(ConntrackEvidence),
    EndpointSlices(SliceEndpointsEvidence),
    ServiceRules(ServiceRulesEvidence),
    ClusterIp(ClusterIpEvidence),
    /// `{}`: a check that did not run (or failed before it observed anything).
    Nothing,
}

/// `{}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Nothing {}

impl Evidence {
    fn decode(id: Id, status: Status, value: Value) -> Result<Evidence, serde_json::Error> {
        if matches!(status, Status::Skip | Status::Fail) && Nothing::deserialize(&value).is_ok() {
            return Ok(Evidence::Nothing);
        }
        let v = value;
        Ok(match id {
            Id::KubeProxyProcess => Evidence::Processes(serde_json::from_value(v)?),
            Id::KubeProxyHealth => Evidence::Health(serde_json::from_value(v)?),
            Id::KubeProxyMode => Evidence::Mode(serde_json::from_value(v)?),
            Id::KubeProxySync => Evidence::Sync(serde_json::from_value(v)?),
            Id::IpForward => Evidence::IpForward(serde_json::from_value(v)?),
            Id::BridgeNetfilter => Evidence::BridgeNetfilter(serde_json::from_value(v)?),
            Id::Hairpin => Evidence::Hairpin(serde_json::from_value(v)?),
            Id::Conntrack => Evidence::Conntrack(serde_json::from_value(v)?),
            Id::EndpointSlices => Evidence::EndpointSlices(serde_json::from_value(v)?),
            Id::ServiceRules => Evidence::ServiceRules(serde_json::from_value(v)?),
            Id::ClusterIp => Evidence::ClusterIp(serde_json::from_value(v)?),
        })
    }

    fn processes(&self) -> &ProcessEvidence {
        match self {
            Evidence::Processes(e) => e,
            other => panic!("no process evidence: {other:?}"),
        }
    }

    fn mode(&self) -> &ModeEvidence {
        match self {
            Evidence::Mode(e) => e,
            other => panic!("no mode evidence: {other:?}"),
        }
    }

    fn hairpin(&self) -> &HairpinEvidence {
        match self {
            Evidence::Hairpin(e) => e,
            other => panic!("no hairpin evidence: {other:?}"),
        }
    }

    fn endpoint_slices(&self) -> &SliceEndpointsEvidence {
        match self {
            Evidence::EndpointSlices(e) => e,
            other => panic!("no endpoint-slices evidence: {other:?}"),
        }
    }

    fn programming(&self) -> &Programming {
        match self {
            Evidence::ServiceRules(ServiceRulesEvidence {
                programming: Some(p),
                ..
            }) => p,
            other => panic!("no rules read: {other:?}"),
        }
    }
}

/// `kube-proxy-process`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessEvidence {
    kube_proxy: Vec<ProcessInfo>,
    kubelet: Vec<ProcessInfo>,
    other_proxies: Vec<OtherProxy>,
    scanned: usize,
    truncated: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessInfo {
    pid: u32,
    argv: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtherProxy {
    pid: u32,
    program: String,
    note: String,
}

/// One GET of kube-proxy's own HTTP endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointGet {
    url: String,
    outcome: String,
    status: Option<u16>,
    body_excerpt: Option<String>,
    detail: Option<String>,
    duration_ms: f64,
}

/// `kube-proxy-health`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthEvidence {
    healthz: EndpointGet,
    livez: Option<EndpointGet>,
    last_updated: Option<String>,
    current_time: Option<String>,
    last_updated_age_s: Option<f64>,
    node_eligible: Option<bool>,
}

/// `kube-proxy-mode`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeEvidence {
    get: EndpointGet,
    mode: Option<String>,
}

/// `kube-proxy-sync`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncEvidence {
    get: EndpointGet,
    families: Vec<SyncFamily>,
    iptables_restore_failures_total: Option<f64>,
    nftables_sync_failures_total: Option<f64>,
    stale_after_s: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncFamily {
    ip_family: Option<String>,
    last_sync_timestamp_s: Option<f64>,
    last_queued_timestamp_s: Option<f64>,
    since_last_sync_s: Option<f64>,
    pending: bool,
}

/// `ip-forward`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IpForwardEvidence {
    ipv4: Option<bool>,
    ipv6: Option<bool>,
}

/// `bridge-netfilter`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BridgeNetfilterEvidence {
    br_netfilter: bool,
    call_iptables: Option<bool>,
    call_ip6tables: Option<bool>,
    bridges_with_ports: Vec<String>,
}

/// `hairpin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HairpinEvidence {
    bridges: Vec<Bridge>,
    kubelet_hairpin_mode: Option<String>,
    kubelet_hairpin_mode_source: Option<String>,
    masquerade_missing: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bridge {
    name: String,
    promisc: bool,
    ports: Vec<BridgePort>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BridgePort {
    name: String,
    hairpin_mode: Option<bool>,
}

/// `conntrack`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConntrackEvidence {
    count: Option<u64>,
    max: Option<u64>,
    cpus: usize,
    insert_failed: u64,
    drop: u64,
    early_drop: u64,
    insert_failed_per_s: Option<f64>,
    drop_per_s: Option<f64>,
    early_drop_per_s: Option<f64>,
    interval_ms: Option<f64>,
}

/// `endpoint-slices`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SliceEndpointsEvidence {
    source: String,
    cluster_ip: Option<String>,
    target_port: Option<String>,
    ready: Vec<SliceAddress>,
    not_ready: Vec<SliceAddress>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SliceAddress {
    address: String,
    node_name: Option<String>,
    pod: Option<String>,
}

/// `service-rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceRulesEvidence {
    programming: Option<Programming>,
    skip: Option<RulesSkip>,
    missing: Vec<String>,
    extra: Vec<String>,
}

/// `report::ServiceProgramming`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Programming {
    source: String,
    mode: String,
    service_rule: bool,
    service_chain: Option<String>,
    endpoints: Vec<ProgrammedEndpoint>,
    no_endpoints_rule: Option<String>,
    evidence: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgrammedEndpoint {
    addr: String,
    probability: Option<f64>,
    masquerade_rule: Option<bool>,
    chain: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesSkip {
    reason: String,
    detail: String,
    profile: Option<String>,
}

/// `cluster-ip`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterIpEvidence {
    address: String,
    attempts: Vec<TcpAttempt>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    cause: String,
    summary: String,
    next_steps: Vec<String>,
}

impl Report {
    fn check(&self, id: Id) -> &Check {
        self.checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id:?} in {:?}", self.checks))
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
        let process = r.check(Id::KubeProxyProcess);
        assert_eq!(process.status, Status::Pass, "{process:?}");
        let argv = &process.evidence.processes().kube_proxy[0].argv;
        assert_eq!(
            argv[1], "--config=/var/lib/kube-proxy/config.conf",
            "{argv:?}"
        );
        assert_eq!(r.check(Id::KubeProxyHealth).status, Status::Pass);
        let mode = r.check(Id::KubeProxyMode).evidence.mode();
        assert_eq!(mode.mode.as_deref(), Some("iptables"));
        assert_eq!(r.check(Id::KubeProxySync).status, Status::Pass);
        let hairpin = r.check(Id::Hairpin).evidence.hairpin();
        assert_eq!(
            hairpin.kubelet_hairpin_mode.as_deref(),
            Some("hairpin-veth"),
            "{hairpin:?}"
        );
        assert_eq!(
            hairpin.kubelet_hairpin_mode_source.as_deref(),
            Some("/var/lib/kubelet/config.yaml")
        );
        assert_eq!(r.check(Id::ClusterIp).status, Status::Pass);
        let slices = r.check(Id::EndpointSlices).evidence.endpoint_slices();
        assert_eq!(slices.ready.len(), 3, "{slices:?}");
        let service = r.service.as_ref().expect("service");
        assert_eq!(service.cluster_ip.as_deref(), Some(HOSTNAMES_VIP));
        let rules = r.check(Id::ServiceRules);
        assert_eq!(rules.status, Status::Pass, "{rules:?}");
        assert_eq!(rules.evidence.programming().source, "iptables-nft");
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
    let hairpin = r.check(Id::Hairpin).evidence.hairpin();
    assert_eq!(hairpin.kubelet_hairpin_mode, None, "{hairpin:?}");
    // A netadmin pod left as the image's user holds none of the profile's capabilities: the
    // rules are not read, and the skip says that root is what is missing, not the profile.
    let objects = std::fs::read(OBJECTS).expect("objects fixture");
    let args = ["node", "hostnames", "-n", "default", "--objects", "-"];
    let out = node.host.svcprobe_as_user(65534, &args, Some(objects));
    let r: Envelope = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a node report ({e}): {}", describe(&out)));
    assert_eq!(
        (r.privileges.uid, r.privileges.profile.as_str()),
        (Some(65534), "general")
    );
    let rules = r.check(Id::ServiceRules);
    assert_eq!(rules.status, Status::Skip, "{rules:?}");
    assert!(
        rules.summary.ends_with(
            "(--profile=netadmin run as root allows it: `svcprobe node --help` shows how)"
        ),
        "{rules:?}"
    );
}

#[test]
fn kube_proxy_hung_failing_stopped_and_replaced() {
    let mut node = Node::up("nftables");
    node.kube_proxy.set(Health::Hung);
    let r = node.expect("kube-proxy-stale", true);
    assert_eq!(r.check(Id::KubeProxyHealth).status, Status::Fail);
    assert_eq!(r.check(Id::KubeProxySync).status, Status::Fail);
    node.kube_proxy.set(Health::Failing);
    let r = node.expect("kube-proxy-unhealthy", false);
    assert!(
        r.verdict.summary.contains("nftables_sync_failures_total"),
        "{}",
        r.verdict.summary
    );
    node.kube_proxy.stop(&mut node.host);
    let r = node.expect("kube-proxy-down", true);
    assert_eq!(r.check(Id::KubeProxyProcess).status, Status::Fail);
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
    assert_eq!(r.check(Id::BridgeNetfilter).status, Status::Fail);
    node.bed.fix("bridge-nf-off");
    node.bed.break_("hairpin-off");
    let r = node.expect("hairpin-config", true);
    // every pod of the bed has its port on cbr0, whatever the number of pods
    let hairpin = r.check(Id::Hairpin);
    let ports = hairpin.evidence.hairpin().bridges[0].ports.len();
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
        r.check(Id::Hairpin).summary.contains("cbr0 is PROMISC"),
        "{:?}",
        r.check(Id::Hairpin)
    );
    node.bed.fix("hairpin-off");
    let r = node.expect("healthy", false);
    assert!(r.check(Id::Hairpin).evidence.hairpin().bridges[0].promisc);
}

#[test]
fn rules_that_missed_a_sync_and_healthy_in_every_mode() {
    let node = Node::up_with(&[("TESTBED_PROXY_MODE", "nftables")], "nftables");
    let r = node.expect("healthy", true);
    assert_eq!(
        r.check(Id::ServiceRules).evidence.programming().source,
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
        assert_eq!(
            r.check(Id::ServiceRules).status,
            Status::Fail,
            "{switch}: {r:#?}"
        );
        node.bed.fix(switch);
    }
    let stale = &node.expect("healthy", false);
    assert_eq!(stale.check(Id::ServiceRules).status, Status::Pass);
    // a Service without endpoints, rejected by the node as kube-proxy does, is no fault here
    node.bed.break_("no-endpoints");
    let no_endpoints = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/objects/no-endpoints.json"
    );
    let r = node.run_with(true, no_endpoints);
    assert_eq!(r.verdict.cause, "healthy", "{r:#?}");
    assert!(
        r.check(Id::ServiceRules).summary.contains("rejects"),
        "{:?}",
        r.check(Id::ServiceRules)
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
        r.check(Id::ServiceRules).evidence.programming().source,
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
    assert_eq!(r.check(Id::KubeProxyProcess).status, Status::Skip);
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
