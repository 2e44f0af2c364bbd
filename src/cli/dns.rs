//! Flags of `dns`, and `--dns-endpoints`, which `diagnose` takes too. Tokens in, validated
//! arguments out, no I/O.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::flags::{Default, Flag, Matches};
use super::{
    no_operands, parse_count, parse_duration, path_or, ArgError, Spec, ValueError,
    DEFAULT_RESOLV_CONF, RESOLV_CONF,
};
use crate::kubeapi::ApiArgs;

/// `--dns-endpoints`: the DNS pods' addresses, when no objects or API read say.
pub const DNS_ENDPOINTS: Flag = Flag::value(
    "--dns-endpoints",
    "IP,...",
    "the DNS pods' IPs (kube-system/kube-dns's endpoints), to ask directly when no \
     objects say",
);
const OBJECTS: Flag = Flag::value(
    "--objects",
    "FILE|-",
    "`kubectl get service,endpointslices -n kube-system -l k8s-app=kube-dns -o json`",
);
const EXTERNAL_NAME: Flag = Flag::value(
    "--external-name",
    "NAME",
    "a name outside the cluster, for the forwarders and the search list's cost",
)
.default(Default::Text("example.com"));
const COUNT: Flag = Flag::value(
    "--count",
    "N",
    "lookups per style in the burst (A+AAAA together, and apart), 1 to 256",
)
.default(Default::Number(16));
const MAX_COUNT: u32 = 256;
const TIMEOUT: Flag = Flag::value("--timeout", "D", "per DNS query")
    .default(Default::Duration(Duration::from_secs(1)));
const DEADLINE: Flag = Flag::value("--deadline", "D", "the whole command")
    .default(Default::Duration(Duration::from_secs(5)));

pub const SPEC: Spec = Spec {
    name: "dns",
    operands: "",
    summary: "debug the cluster's DNS Service itself: the DNS path, UDP and TCP, forwarders",
    about: "\
The guide's \"debug the DNS Service instead\": finds the DNS path this pod uses
(its nameserver, a NodeLocal DNSCache at 169.254.20.10, the ClusterIP of
kube-system/kube-dns and its pods, from the API server, --objects or
--dns-endpoints), asks each over UDP (a query that draws nothing is sent again,
as glibc does) and over TCP, asks a name outside the cluster, sends a burst
of lookups glibc's way (A+AAAA from one socket) and single-request-reopen's
(A, then AAAA from a new socket), counts the queries the search list costs,
and names the broken part: dns-pods-down, dns-service-broken,
nodelocal-dns-down, dns-blocked, dns-udp-only-broken, dns-tcp-only-broken,
dns-intermittent, dns-upstream, or dns-unreachable when they cannot be told
apart. diagnose runs the same checks when DNS fails or is slow.",
    flags: &[
        &[OBJECTS],
        super::api::FLAGS,
        &[
            DNS_ENDPOINTS,
            EXTERNAL_NAME,
            COUNT,
            TIMEOUT,
            DEADLINE,
            RESOLV_CONF,
        ],
    ],
    footer: "Exit 0 when the verdict is `healthy`, 1 for any other cause.",
};

#[derive(Debug, PartialEq, Eq)]
pub struct DnsArgs {
    /// `-` is standard input.
    pub objects: Option<PathBuf>,
    /// Whether and how to read kube-system/kube-dns from the API server.
    pub api: ApiArgs,
    pub dns_endpoints: Vec<IpAddr>,
    pub external_name: String,
    pub count: u32,
    pub timeout: Duration,
    pub deadline: Duration,
    pub resolv_conf: PathBuf,
}

pub fn parse_dns(m: &Matches) -> Result<DnsArgs, ArgError> {
    no_operands(m)?;
    let objects = m.os(&OBJECTS).map(PathBuf::from);
    Ok(DnsArgs {
        api: super::api::parse(m, objects.is_some())?,
        objects,
        dns_endpoints: m.get(&DNS_ENDPOINTS, parse_ips)?.unwrap_or_default(),
        external_name: m
            .get(&EXTERNAL_NAME, parse_external_name)?
            .unwrap_or_else(|| "example.com".into()),
        count: m.get_or_default(&COUNT, |t| parse_count(t, MAX_COUNT))?,
        timeout: m.get_or_default(&TIMEOUT, parse_duration)?,
        deadline: m.get_or_default(&DEADLINE, parse_duration)?,
        resolv_conf: path_or(m, &RESOLV_CONF, DEFAULT_RESOLV_CONF),
    })
}

/// `10.244.0.2,10.244.0.3`: addresses only, the port is 53.
pub fn parse_ips(text: &str) -> Result<Vec<IpAddr>, ValueError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpAddr>()
                .map_err(|_| ValueError::NotADnsIp(s.to_string()))
        })
        .collect()
}

/// A DNS name of letters, digits, `-`, `_` and dots, with a dot in it (outside the cluster).
fn parse_external_name(text: &str) -> Result<String, ValueError> {
    let name = text.trim_end_matches('.');
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if name.contains('.') && name.len() < 254 && labels_ok {
        Ok(name.to_string())
    } else {
        Err(ValueError::NotExternalName(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::scan_line;

    fn parse(line: &str) -> Result<DnsArgs, ArgError> {
        parse_dns(&scan_line(&SPEC, line)?)
    }

    #[test]
    fn flags() {
        let a = parse("").unwrap();
        assert_eq!(
            (a.external_name.as_str(), a.timeout, a.dns_endpoints.len()),
            ("example.com", Duration::from_secs(1), 0)
        );
        let a =
            parse("--dns-endpoints 10.244.0.2,fd00::2 --external-name kubernetes.io. --objects -")
                .unwrap();
        assert_eq!(a.dns_endpoints.len(), 2);
        assert_eq!(a.external_name, "kubernetes.io");
        assert_eq!(a.objects, Some(PathBuf::from("-")));
        for bad in [
            "x",
            "--dns-endpoints 10.244.0.2:53",
            "--external-name localhost",
            "--external-name a..b",
            "--timeout 0",
            "--count 0",
            "--count 257",
            "--objects - --api",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
