//! The Prometheus text format (version 0.0.4), and what each probe's report becomes in it.
//!
//! Where a blackbox_exporter metric means the same thing, it has blackbox_exporter's name,
//! type and HELP text (0.23, as Debian ships it; `tests/exporter.rs` runs both on the same
//! targets and compares), so dashboards and alerts written for it keep working. svcprobe's
//! own metrics start with `svcprobe_`; every label value that names a cause, check or status
//! comes from report.rs's vocabularies.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::decimal::shortest;
use crate::report::{
    DiagnoseReport, Evidence, HairpinReport, HttpReport, LookupStatus, NslookupReport, Resolution,
    TcpReport,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// One metric family: its name, HELP text and TYPE.
#[derive(Debug, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

const fn gauge(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        kind: Kind::Gauge,
    }
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        kind: Kind::Counter,
    }
}

// blackbox_exporter's, with its HELP texts.
pub const PROBE_SUCCESS: Family = gauge(
    "probe_success",
    "Displays whether or not the probe was a success",
);
pub const PROBE_DURATION: Family = gauge(
    "probe_duration_seconds",
    "Returns how long the probe took to complete in seconds",
);
pub const PROBE_DNS_LOOKUP_TIME: Family = gauge(
    "probe_dns_lookup_time_seconds",
    "Returns the time taken for probe dns lookup in seconds",
);
pub const PROBE_IP_PROTOCOL: Family = gauge(
    "probe_ip_protocol",
    "Specifies whether probe ip protocol is IP4 or IP6",
);
pub const PROBE_IP_ADDR_HASH: Family = gauge(
    "probe_ip_addr_hash",
    "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
);
pub const PROBE_HTTP_STATUS_CODE: Family =
    gauge("probe_http_status_code", "Response HTTP status code");
pub const PROBE_HTTP_DURATION: Family = gauge(
    "probe_http_duration_seconds",
    "Duration of http request by phase, summed over all redirects",
);
pub const PROBE_HTTP_SSL: Family = gauge(
    "probe_http_ssl",
    "Indicates if SSL was used for the final redirect",
);
pub const PROBE_HTTP_BODY_LENGTH: Family = gauge(
    "probe_http_uncompressed_body_length",
    "Length of uncompressed response body",
);
pub const PROBE_DNS_ANSWER_RRS: Family = gauge(
    "probe_dns_answer_rrs",
    "Returns number of entries in the answer resource record list",
);

// svcprobe's own.
pub const DIAGNOSE_CAUSE: Family = gauge(
    "svcprobe_diagnose_cause",
    "The cause diagnose names for the Service (README: the verdict is a contract): 1, one series",
);
pub const CHECK_STATUS: Family = gauge(
    "svcprobe_check_status",
    "1 for the status (pass, warn, fail, skip) of each diagnose check",
);
pub const DNS_QUERIES: Family = gauge(
    "svcprobe_dns_queries",
    "DNS queries the probe sent: the glibc and musl walks through the search list together",
);
pub const DNS_LIBC_DISAGREEMENT: Family = gauge(
    "svcprobe_dns_libc_disagreement",
    "1 when programs linked against glibc and against musl would get different answers",
);
pub const DNS_RESOLVED: Family = gauge(
    "svcprobe_dns_resolved",
    "1 when a program linked against this C library resolves the name",
);
pub const HAIRPIN_VERDICT: Family = gauge(
    "svcprobe_hairpin_verdict",
    "1 for the hairpin verdict's status and reason",
);
pub const PROBES: Family = counter(
    "svcprobe_probes_total",
    "Probes run, by module (on /probe and scheduled)",
);
pub const PROBE_ERRORS: Family = counter(
    "svcprobe_probe_errors_total",
    "Probes that could not run (a target the module cannot take, a file it cannot read)",
);
pub const PROBES_DROPPED: Family = counter(
    "svcprobe_probes_dropped_total",
    "Requests for /probe answered 503: the most probes allowed at once were running",
);
pub const TARGETS_REFUSED: Family = counter(
    "svcprobe_targets_refused_total",
    "Requests for /probe answered 403: the target is outside the allowed ranges and domains",
);
pub const PROBES_IN_FLIGHT: Family = gauge("svcprobe_probes_in_flight", "Probes running now");
pub const RESIDENT_MEMORY: Family = gauge(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
);
pub const CPU_SECONDS: Family = counter(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
);
pub const START_TIME: Family = gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
);

/// One sample: a family, its labels, its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub family: &'static Family,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Sample {
    pub fn new(family: &'static Family, value: f64) -> Sample {
        Sample {
            family,
            labels: Vec::new(),
            value,
        }
    }

    pub fn label(mut self, name: &'static str, value: impl Into<String>) -> Sample {
        self.labels.push((name, value.into()));
        self
    }
}

fn flag(on: bool) -> f64 {
    if on {
        1.0
    } else {
        0.0
    }
}

/// The text format: families sorted by name (as client_golang writes them), each with its
/// HELP and TYPE once, then its samples in the order given.
pub fn render(samples: &[Sample]) -> String {
    let mut sorted: Vec<&Sample> = samples.iter().collect();
    sorted.sort_by(|a, b| a.family.name.cmp(b.family.name));
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for sample in sorted {
        let family = sample.family;
        if current != Some(family.name) {
            current = Some(family.name);
            let kind = match family.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
            let _ = writeln!(out, "# TYPE {} {kind}", family.name);
        }
        out.push_str(family.name);
        if !sample.labels.is_empty() {
            out.push('{');
            for (index, (name, value)) in sample.labels.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{name}=\"{}\"", escape_label(value));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {}", number(sample.value));
    }
    out
}

/// Label values escape backslash, double quote and newline (and nothing else).
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        shortest(value)
    }
}

/// What blackbox_exporter's `probe_ip_addr_hash` is: FNV-1a (32 bits) of the address's
/// bytes (4 for IPv4, 16 for IPv6).
pub fn ip_hash(ip: IpAddr) -> f64 {
    let bytes = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    f64::from(hash)
}

fn seconds(ms: f64) -> f64 {
    ms / 1000.0
}

/// The address family and hash of the address probed, as blackbox_exporter reports them.
fn address_samples(address: Option<&str>) -> Vec<Sample> {
    let Some(ip) = address.and_then(|a| {
        a.parse::<std::net::SocketAddr>()
            .map(|s| s.ip())
            .or_else(|_| a.parse::<IpAddr>())
            .ok()
    }) else {
        return Vec::new();
    };
    vec![
        Sample::new(&PROBE_IP_PROTOCOL, if ip.is_ipv4() { 4.0 } else { 6.0 }),
        Sample::new(&PROBE_IP_ADDR_HASH, ip_hash(ip)),
    ]
}

/// The target name's resolution: its time (0 for an address, as nothing was looked up) and
/// how many queries it took.
fn resolution_samples(resolution: Option<&Resolution>) -> Vec<Sample> {
    let ms = resolution.map_or(0.0, |r| r.duration_ms);
    let mut samples = vec![Sample::new(&PROBE_DNS_LOOKUP_TIME, seconds(ms))];
    if let Some(r) = resolution {
        samples.push(Sample::new(&DNS_QUERIES, r.queries.len() as f64));
    }
    samples
}

/// `tcp`: one connect to the target (to its first address, for a name).
pub fn tcp(report: &TcpReport) -> Vec<Sample> {
    let target = report.targets.first();
    let mut samples = resolution_samples(target.and_then(|t| t.resolution.as_ref()));
    let address = target.and_then(|t| t.addresses.first());
    samples.extend(address_samples(address.map(|a| a.address.as_str())));
    samples
}

/// `http`: one GET, its status and phases as blackbox_exporter splits them.
pub fn http(report: &HttpReport) -> Vec<Sample> {
    let mut samples = resolution_samples(report.resolution.as_ref());
    let Some(attempt) = report.attempts.first() else {
        samples.push(Sample::new(&PROBE_HTTP_STATUS_CODE, 0.0));
        return samples;
    };
    samples.extend(address_samples(attempt.peer.as_deref()));
    samples.push(Sample::new(
        &PROBE_HTTP_STATUS_CODE,
        attempt.status.map_or(0.0, f64::from),
    ));
    let t = &attempt.timing;
    let connect = t.connect_ms.unwrap_or(0.0);
    let tls = t.tls_ms.unwrap_or(0.0);
    let (processing, transfer) = match t.first_byte_ms {
        Some(first) => ((first - connect - tls).max(0.0), t.total_ms - first),
        None => (0.0, 0.0),
    };
    let resolve = report.resolution.as_ref().map_or(0.0, |r| r.duration_ms);
    for (phase, ms) in [
        ("connect", connect),
        ("processing", processing),
        ("resolve", resolve),
        ("tls", tls),
        ("transfer", transfer),
    ] {
        samples.push(Sample::new(&PROBE_HTTP_DURATION, seconds(ms)).label("phase", phase));
    }
    if attempt.status.is_some() {
        let https = report.tls.is_some();
        samples.push(Sample::new(&PROBE_HTTP_SSL, flag(https)));
        if !attempt.body_truncated {
            samples.push(Sample::new(
                &PROBE_HTTP_BODY_LENGTH,
                attempt.body_bytes as f64,
            ));
        }
    }
    samples
}

/// `dns`: the name through the search list, glibc's answer and musl's.
pub fn dns(report: &NslookupReport) -> Vec<Sample> {
    let mut samples = vec![
        Sample::new(&DNS_QUERIES, report.queries.len() as f64),
        Sample::new(
            &DNS_LIBC_DISAGREEMENT,
            flag(report.libc_disagreement.is_some()),
        ),
        Sample::new(&PROBE_DNS_ANSWER_RRS, report.answer.records.len() as f64),
    ];
    for answer in [&report.answer, &report.other_libc] {
        samples.push(
            Sample::new(&DNS_RESOLVED, flag(answer.status == LookupStatus::Resolved))
                .label("libc", answer.libc.name()),
        );
    }
    samples
}

/// `service`: diagnose's verdict and every check's status.
pub fn service(report: &DiagnoseReport) -> Vec<Sample> {
    let mut samples =
        vec![Sample::new(&DIAGNOSE_CAUSE, 1.0).label("cause", report.verdict.cause.as_str())];
    for check in &report.checks {
        samples.push(
            Sample::new(&CHECK_STATUS, 1.0)
                .label("check", check.id.as_str())
                .label("status", check.status.as_str()),
        );
    }
    let mut queries = 0;
    let mut disagreement = false;
    for check in &report.checks {
        match &check.evidence {
            Evidence::DnsServer(e) => queries += e.queries.len(),
            Evidence::DnsName(e) => {
                queries += e.queries.len();
                disagreement |= e.glibc.status != e.musl.status;
            }
            _ => {}
        }
    }
    samples.push(Sample::new(&DNS_QUERIES, queries as f64));
    samples.push(Sample::new(&DNS_LIBC_DISAGREEMENT, flag(disagreement)));
    samples
}

/// `hairpin`: the verdict, and the address of the Service probed.
pub fn hairpin(report: &HairpinReport) -> Vec<Sample> {
    let mut samples = vec![Sample::new(&HAIRPIN_VERDICT, 1.0)
        .label("status", report.verdict.status.as_str())
        .label("reason", report.verdict.reason.as_str())];
    samples.extend(resolution_samples(report.resolution.as_ref()));
    samples.extend(address_samples(report.service.as_deref()));
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blackbox_exporters_hash_of_an_address() {
        // probe_ip_addr_hash of 127.0.0.1 as blackbox_exporter 0.23 printed it.
        assert_eq!(ip_hash("127.0.0.1".parse().unwrap()), 3.668918509e9);
    }

    #[test]
    fn text_format() {
        let samples = [
            Sample::new(&PROBE_SUCCESS, 1.0),
            Sample::new(&CHECK_STATUS, 1.0)
                .label("check", "dns-fqdn")
                .label("status", "pass"),
            Sample::new(&CHECK_STATUS, 1.0)
                .label("check", "a\"b\\c\nd")
                .label("status", "fail"),
            Sample::new(&PROBE_DURATION, 0.0125),
        ];
        assert_eq!(
            render(&samples),
            "# HELP probe_duration_seconds Returns how long the probe took to complete in seconds\n\
             # TYPE probe_duration_seconds gauge\n\
             probe_duration_seconds 0.0125\n\
             # HELP probe_success Displays whether or not the probe was a success\n\
             # TYPE probe_success gauge\n\
             probe_success 1\n\
             # HELP svcprobe_check_status 1 for the status (pass, warn, fail, skip) of each diagnose check\n\
             # TYPE svcprobe_check_status gauge\n\
             svcprobe_check_status{check=\"dns-fqdn\",status=\"pass\"} 1\n\
             svcprobe_check_status{check=\"a\\\"b\\\\c\\nd\",status=\"fail\"} 1\n"
        );
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(3.668918509e9), "3668918509");
    }
}
