//! Mirrors of report types that several test suites decode. `deny_unknown_fields` makes
//! any drift of the JSON schema fail the tests that read it.

use serde::Deserialize;

/// `report::Envelope`: what every report starts with, then the command's own fields (`T`,
/// with `deny_unknown_fields` too: a flattened struct that denies them still fails on an
/// unknown field). Derefs to the report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    pub schema_version: u32,
    pub command: String,
    pub ok: bool,
    #[serde(flatten)]
    pub report: T,
}

impl<T> std::ops::Deref for Envelope<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.report
    }
}

/// `report::Resolution`: how a probe's target name resolved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    pub name: String,
    pub status: String,
    pub final_name: Option<String>,
    pub addresses: Vec<String>,
    pub reason: String,
    pub config_source: String,
    pub queries: Vec<serde_json::Value>,
    pub duration_ms: f64,
}

/// `report::ServiceRef`: a Service as typed and the one a command settled on.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceRef {
    pub as_given: String,
    pub service: String,
    pub namespace: String,
    pub namespace_source: String,
    pub cluster_domain: String,
    pub cluster_domain_source: String,
    pub fqdn: String,
}

/// `report::LatencyStats`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub min_ms: f64,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub max_ms: f64,
}

/// `report::IcmpReport`: the ICMP error behind an attempt.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Icmp {
    pub from: String,
    #[serde(rename = "type")]
    pub icmp_type: u8,
    pub code: u8,
    pub description: String,
}

/// `report::TcpAttempt`: one connect.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpAttempt {
    pub seq: u32,
    pub outcome: String,
    pub duration_ms: f64,
    pub local: Option<String>,
    pub icmp: Option<Icmp>,
    pub detail: Option<String>,
}

/// `report::Finding`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub severity: String,
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub line: Option<usize>,
}

/// The `nslookup` report (`report::NslookupReport` in its envelope).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nslookup {
    pub schema_version: u32,
    pub command: String,
    pub ok: bool,
    pub name: String,
    pub types: Vec<String>,
    pub libc: String,
    pub config_source: String,
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub ndots: u32,
    pub timeout_ms: u64,
    pub deadline_ms: u64,
    pub queries: Vec<Query>,
    pub answer: LibcAnswer,
    pub other_libc: LibcAnswer,
    pub libc_disagreement: Option<String>,
    pub timed_out: Vec<String>,
    pub deadline_exceeded: bool,
    pub duration_ms: f64,
    pub findings: Vec<Finding>,
}

/// `report::QueryRecord`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub server: String,
    pub transport: String,
    pub rcode: String,
    pub answers: Vec<Record>,
    pub truncated: bool,
    pub authoritative: bool,
    pub duration_ms: f64,
    #[serde(default)]
    pub detail: Option<String>,
}

/// `report::AnswerRecord`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub ttl: u32,
    pub data: String,
}

/// `report::LibcAnswer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibcAnswer {
    pub libc: String,
    pub candidates: Vec<Candidate>,
    pub status: String,
    pub final_name: Option<String>,
    pub records: Vec<Record>,
    pub reason: String,
    pub app_wait_ms: u64,
}

impl LibcAnswer {
    /// The candidate names this library sends, in order.
    pub fn tried(&self) -> Vec<String> {
        self.candidates
            .iter()
            .filter(|c| c.outcome != "not-tried")
            .map(|c| c.name.clone())
            .collect()
    }
}

/// `report::CandidateOutcome`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub name: String,
    pub outcome: String,
}
