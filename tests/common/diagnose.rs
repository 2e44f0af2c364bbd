//! Reading `svcprobe diagnose` reports in tests, with the contract every run must keep: the
//! output is JSON of the documented shape (mirror structs with `deny_unknown_fields`), the
//! exit code matches the verdict, and the walk ends by its deadline.

use std::collections::BTreeMap;
use std::process::Output;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::schema::{Latency, ServiceRef};
use super::testbed::describe;

/// The report in `out`, after checking the exit code and the deadline.
pub fn report(out: &Output) -> Value {
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(out)));
    typed(&report);
    let healthy = report["verdict"]["cause"] == "healthy";
    assert_eq!(
        out.status.code(),
        Some(if healthy { 0 } else { 1 }),
        "{}",
        describe(out)
    );
    let deadline = report["deadline_ms"].as_f64().unwrap_or_default();
    let took = report["duration_ms"].as_f64().unwrap_or(f64::MAX);
    let durations: Vec<String> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}: {} ms", c["id"], c["duration_ms"]))
        .collect();
    assert!(
        took < deadline + 500.0,
        "took {took} ms, deadline {deadline} ms: {durations:?}"
    );
    report
}

pub fn cause(report: &Value) -> &str {
    report["verdict"]["cause"].as_str().unwrap_or_default()
}

pub fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id}: {report:#}"))
}

/// The ids of the report's checks, in order.
pub fn check_ids(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .collect()
}

// The mirror of `report::DiagnoseReport`: every field pinned, so schema drift fails every
// suite that reads a diagnose report. Evidence is decoded by check id, one shape per check;
// the types other suites pin (queries, libc answers, resolver settings, findings, the
// hairpin summary and verdict) stay `Value` here.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    pub command: String,
    pub ok: bool,
    pub service: String,
    pub namespace: String,
    pub service_ref: ServiceRef,
    pub port: u16,
    pub port_source: String,
    pub context: Context,
    pub checks: Vec<Check>,
    pub verdict: Verdict,
    pub duration_ms: f64,
    pub deadline_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub hostname: Option<String>,
    pub pod_ip: Option<String>,
    pub namespace: String,
    pub namespace_source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub id: CheckId,
    pub status: Status,
    pub summary: String,
    pub evidence: Value,
    pub hint: Option<String>,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    Context,
    ResolvConf,
    DnsServer,
    DnsKubernetesDefault,
    DnsShort,
    DnsNamespaced,
    DnsFqdn,
    DnsService,
    DnsPaths,
    DnsUpstream,
    DnsBurst,
    DnsSearchCost,
    Api,
    ServiceDefinition,
    Endpoints,
    ClusterIp,
    EndpointsDirect,
    Hairpin,
    KubeProxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub cause: Cause,
    pub summary: String,
    pub next_steps: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    Healthy,
    ServiceNotFound,
    DnsUnreachable,
    DnsConfig,
    NoEndpoints,
    TargetPortMismatch,
    BackendDown,
    TrafficBlocked,
    Hairpin,
    Proxy,
    DnsPodsDown,
    DnsServiceBroken,
    DnsBlocked,
    DnsUdpOnlyBroken,
    DnsTcpOnlyBroken,
    DnsUpstream,
    DnsIntermittent,
    NodelocalDnsDown,
    Unknown,
}

/// `{}`: a check that did not run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nothing {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvConfEvidence {
    pub file: String,
    #[serde(default)]
    pub glibc: Option<Value>,
    #[serde(default)]
    pub findings: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsServerEvidence {
    pub queries: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsNameEvidence {
    pub name: String,
    pub glibc: Value,
    pub musl: Value,
    pub queries: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiEvidence {
    pub server: String,
    pub source: String,
    pub token_file: String,
    pub ca_file: String,
    pub read: Option<ApiCounts>,
    pub requests: Vec<ApiRequest>,
    pub failures: Vec<ApiFailure>,
    pub truncated: Vec<String>,
    pub namespace_pods_listed: bool,
    #[serde(default)]
    pub rbac_yaml: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiCounts {
    pub services: usize,
    pub endpointslices: usize,
    pub endpoints: usize,
    pub pods: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRequest {
    pub path: String,
    pub status: Option<u16>,
    #[serde(default)]
    pub items: Option<usize>,
    #[serde(default)]
    pub error: Option<String>,
    pub duration_ms: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFailure {
    pub resource: String,
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceMissingEvidence {
    pub services: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDefinitionEvidence {
    #[serde(rename = "type")]
    pub service_type: Option<String>,
    pub cluster_ip: Option<String>,
    pub cluster_ips: Vec<String>,
    pub ip_families: Vec<String>,
    pub ip_family_policy: Option<String>,
    pub session_affinity: Option<String>,
    pub internal_traffic_policy: Option<String>,
    pub publish_not_ready_addresses: bool,
    pub external_name: Option<String>,
    pub ports: Vec<String>,
    pub selector: Option<BTreeMap<String, String>>,
    pub selected_pods: Vec<String>,
    pub pod_labels: Vec<PodLabels>,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodLabels {
    pub labels: BTreeMap<String, String>,
    pub pods: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointsEvidence {
    pub endpoints: Vec<Endpoint>,
    pub not_listed: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub address: String,
    pub ready: bool,
    pub pod: Option<String>,
    pub phase: Option<String>,
    pub pod_ready: Option<bool>,
    pub restarts: Option<u32>,
    pub waiting: Option<String>,
    pub node: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Tcp,
    Dns,
}

/// `cluster-ip` (and each endpoint) of a UDP port svcprobe speaks no protocol to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpEvidence {
    pub address: String,
    pub heard: String,
    pub icmp: Option<Value>,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpEndpointsEvidence {
    pub endpoints: Vec<UdpEvidence>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterIpEvidence {
    pub address: String,
    pub protocol: Protocol,
    pub samples: usize,
    pub outcomes: BTreeMap<String, usize>,
    pub backends: BTreeMap<String, usize>,
    pub status_codes: BTreeMap<u16, usize>,
    pub rejected_by: Vec<String>,
    pub latency_ms: Option<Latency>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointsDirectEvidence {
    pub protocol: Protocol,
    pub endpoints: Vec<DirectEndpoint>,
    pub not_probed: Vec<String>,
    pub not_probed_not_listed: usize,
    #[serde(default)]
    pub thread_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectEndpoint {
    pub address: String,
    pub pod: Option<String>,
    pub ok: bool,
    pub refused: usize,
    pub timeout: usize,
    pub rejected: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HairpinEvidence {
    pub summary: Value,
    pub verdict: Value,
}

// The DNS Service's checks (diagnose when DNS fails, and `svcprobe dns`).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsServiceEvidence {
    pub source: Option<DnsSource>,
    pub cluster_ip: Option<String>,
    pub endpoints: Vec<DnsEndpoint>,
    pub requests: Vec<ApiRequest>,
    #[serde(default)]
    pub rbac_yaml: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsSource {
    Objects,
    Api,
    Flag,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsEndpoint {
    pub address: String,
    pub ready: bool,
    pub pod: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsPathsEvidence {
    pub name: String,
    pub servers: Vec<DnsPathProbe>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsRole {
    Nameserver,
    Nodelocal,
    ClusterIp,
    Endpoint,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsPathProbe {
    pub server: String,
    pub role: DnsRole,
    pub in_resolv_conf: bool,
    pub pod: Option<String>,
    pub udp: DnsExchange,
    pub tcp: DnsExchange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsReply {
    Answered,
    Error,
    Refused,
    Timeout,
    NotSent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsExchange {
    pub reply: DnsReply,
    pub rcode: String,
    pub duration_ms: f64,
    pub tries: Vec<DnsReply>,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsUpstreamEvidence {
    pub name: String,
    pub queries: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsBurstEvidence {
    pub server: String,
    pub name: String,
    pub timeout_ms: u64,
    pub styles: Vec<BurstStyle>,
    pub race_signature: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstStyle {
    pub style: String,
    pub lookups: u32,
    pub queries: u32,
    pub lost: u32,
    pub lost_a: u32,
    pub lost_aaaa: u32,
    pub lost_one_of_pair: u32,
    pub loss_ratio: f64,
    pub latency_ms: Option<Latency>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSearchCostEvidence {
    pub ndots: u32,
    pub search: Vec<String>,
    pub names: Vec<SearchCost>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchCost {
    pub name: String,
    pub libc: String,
    pub queries: u32,
    pub names_tried: u32,
    pub status: String,
    pub final_name: Option<String>,
    pub duration_ms: f64,
    pub cheaper: Option<CheaperLookup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheaperLookup {
    pub change: String,
    pub queries: u32,
}

fn fits<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    T::deserialize(value).map(|_| ()).map_err(|e| e.to_string())
}

/// Whether a check's evidence has its check's shape (`{}` when it did not run).
fn evidence_fits(check: &Check) -> Result<(), String> {
    let e = &check.evidence;
    if matches!(check.status, Status::Skip | Status::Fail) && fits::<Nothing>(e).is_ok() {
        return Ok(());
    }
    match check.id {
        CheckId::Context => fits::<Context>(e),
        CheckId::ResolvConf => fits::<ResolvConfEvidence>(e),
        CheckId::DnsServer => fits::<DnsServerEvidence>(e),
        CheckId::DnsKubernetesDefault
        | CheckId::DnsShort
        | CheckId::DnsNamespaced
        | CheckId::DnsFqdn => fits::<DnsNameEvidence>(e),
        CheckId::Api => fits::<ApiEvidence>(e),
        CheckId::ServiceDefinition => {
            fits::<ServiceDefinitionEvidence>(e).or_else(|_| fits::<ServiceMissingEvidence>(e))
        }
        CheckId::Endpoints => fits::<EndpointsEvidence>(e),
        CheckId::ClusterIp => fits::<ClusterIpEvidence>(e).or_else(|_| fits::<UdpEvidence>(e)),
        CheckId::EndpointsDirect => {
            fits::<EndpointsDirectEvidence>(e).or_else(|_| fits::<UdpEndpointsEvidence>(e))
        }
        CheckId::Hairpin => fits::<HairpinEvidence>(e),
        CheckId::KubeProxy => fits::<Nothing>(e),
        CheckId::DnsService => fits::<DnsServiceEvidence>(e),
        CheckId::DnsPaths => fits::<DnsPathsEvidence>(e).and_then(|_| tries_add_up(e)),
        CheckId::DnsUpstream => fits::<DnsUpstreamEvidence>(e),
        CheckId::DnsBurst => fits::<DnsBurstEvidence>(e),
        CheckId::DnsSearchCost => fits::<DnsSearchCostEvidence>(e),
    }
}

/// `dns-paths`' tries: UDP resends only after silence and ends with the exchange's reply;
/// TCP is one try; nothing sent, no try.
fn tries_add_up(e: &Value) -> Result<(), String> {
    let paths = DnsPathsEvidence::deserialize(e).map_err(|e| e.to_string())?;
    for server in &paths.servers {
        for (exchange, most) in [(&server.udp, 5), (&server.tcp, 1)] {
            let ok = match exchange.tries.split_last() {
                None => exchange.reply == DnsReply::NotSent,
                Some((last, before)) => {
                    *last == exchange.reply
                        && before.iter().all(|t| *t == DnsReply::Timeout)
                        && exchange.tries.len() <= most
                }
            };
            if !ok {
                return Err(format!("{}: tries {exchange:?}", server.server));
            }
        }
    }
    Ok(())
}

/// Whether a check's evidence has its check's shape (for reports other than diagnose's
/// that carry the same checks: `svcprobe dns`).
pub fn check_fits(check: &Check) -> Result<(), String> {
    evidence_fits(check)
}

/// `report` decoded into the mirror: panics, naming the field, on any drift.
pub fn typed(report: &Value) -> Report {
    let typed: Report = Report::deserialize(report)
        .unwrap_or_else(|e| panic!("diagnose report drifted from its mirror: {e}: {report:#}"));
    for check in &typed.checks {
        if let Err(e) = evidence_fits(check) {
            panic!(
                "{:?} evidence drifted from its mirror: {e}: {:#}",
                check.id, check.evidence
            );
        }
    }
    typed
}
