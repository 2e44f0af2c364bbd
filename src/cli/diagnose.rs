//! Flags of `diagnose`. Tokens in, validated arguments out, no I/O: reading `--objects`
//! happens in the command.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::flags::{Default, Flag, Matches};
use super::{
    one_operand, parse_count, parse_duration, parse_namespace, parse_port, path_or, ArgError, Spec,
    ValueError, DEFAULT_RESOLV_CONF, RESOLV_CONF,
};
use crate::kubeapi::ApiArgs;
use crate::service_name::{self, Namespace, ServiceName};

const NAMESPACE: Flag = super::NAMESPACE.default(Default::Note("this pod's"));
const PORT: Flag = Flag::value("--port", "PORT", "the Service port number")
    .default(Default::Note("its first port, else 80"));
pub const OBJECTS: Flag = Flag::value(
    "--objects",
    "FILE|-",
    "`kubectl get service,endpointslices,pods -o json` output (instead of reading \
     the API server)",
);
const ENDPOINTS: Flag = Flag::value(
    "--endpoints",
    "IP:PORT,...",
    "endpoint addresses to probe directly, without objects",
);
/// `--samples` was its name before every command counted attempts with `--count`.
const COUNT: Flag = Flag::value("--count", "N", "connections to the ClusterIP, 1 to 1000")
    .aliases(&["--samples"])
    .default(Default::Number(20));
const TIMEOUT: Flag = Flag::value(
    "--timeout",
    "D",
    "per connection attempt: longer than the kernel's first SYN retransmit (1s), as \
     ICMP errors the kernel rate-limits may come only with it; DNS queries get at \
     most 1s each",
)
.default(Default::Duration(Duration::from_secs(2)));
const DEADLINE: Flag = Flag::value("--deadline", "D", "the whole command")
    .default(Default::Duration(Duration::from_secs(5)));
const MAX_SAMPLES: u32 = 1000;

pub const SPEC: Spec = Spec {
    name: "diagnose",
    operands: "SERVICE",
    summary: "the whole Debug Services walk, with a verdict",
    about: "\
The whole Debug Services walk from this pod, in the guide's order: the probe's
context, resolv.conf, the DNS server, kubernetes.default, the Service's short,
namespaced and full names, the Service definition and its endpoints (read from
the API server with the pod's service account, or from --objects), the ClusterIP
sampled (which backends answer), each endpoint directly, hairpin; then a verdict
naming the broken layer, the evidence and the next steps.

SERVICE is NAME, NAME.NS, NAME.NS.svc or NAME.NS.svc.DOMAIN (a trailing dot is
fine), or service/NAME or svc/NAME as kubectl writes it.",
    flags: &[
        &[NAMESPACE, PORT, OBJECTS],
        super::api::FLAGS,
        &[
            ENDPOINTS,
            super::dns::DNS_ENDPOINTS,
            COUNT,
            TIMEOUT,
            DEADLINE,
            RESOLV_CONF,
        ],
    ],
    footer: "Exit 0 when the verdict is `healthy`, 1 for any other cause.",
};

#[derive(Debug, PartialEq, Eq)]
pub struct DiagnoseArgs {
    pub service: ServiceName,
    /// From the name or `-n` (they agree); None: this pod's.
    pub namespace: Option<Namespace>,
    pub port: Option<u16>,
    /// `-` is standard input.
    pub objects: Option<PathBuf>,
    pub api: ApiArgs,
    pub endpoints: Vec<SocketAddr>,
    /// `--dns-endpoints`: the DNS pods, asked directly when DNS fails.
    pub dns_endpoints: Vec<IpAddr>,
    pub samples: usize,
    pub timeout: Duration,
    pub deadline: Duration,
    pub resolv_conf: PathBuf,
}

pub fn parse_diagnose(m: &Matches) -> Result<DiagnoseArgs, ArgError> {
    let text = one_operand(m, "a SERVICE name")?;
    let service = service_name::parse(text).map_err(ValueError::Name)?;
    let flag_namespace = m.get(&NAMESPACE, parse_namespace)?;
    let namespace = service.namespace_with(flag_namespace.as_deref())?;
    let objects = m.os(&OBJECTS).map(PathBuf::from);
    Ok(DiagnoseArgs {
        namespace,
        port: m.get(&PORT, parse_port)?,
        api: super::api::parse(m, objects.is_some())?,
        objects,
        endpoints: m.get(&ENDPOINTS, parse_endpoints)?.unwrap_or_default(),
        dns_endpoints: m
            .get(&super::dns::DNS_ENDPOINTS, super::dns::parse_ips)?
            .unwrap_or_default(),
        samples: m.get_or_default(&COUNT, |t| parse_count(t, MAX_SAMPLES))? as usize,
        timeout: m.get_or_default(&TIMEOUT, parse_duration)?,
        deadline: m.get_or_default(&DEADLINE, parse_duration)?,
        resolv_conf: path_or(m, &RESOLV_CONF, DEFAULT_RESOLV_CONF),
        service,
    })
}

fn parse_endpoints(text: &str) -> Result<Vec<SocketAddr>, ValueError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SocketAddr>()
                .map_err(|_| ValueError::NotAnEndpoint(s.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::scan_line;
    use crate::kubeapi::Mode;
    use crate::report::Origin;

    fn parse(line: &str) -> Result<DiagnoseArgs, ArgError> {
        parse_diagnose(&scan_line(&SPEC, line)?)
    }

    #[test]
    fn flags() {
        let a = parse("hostnames").unwrap();
        assert_eq!(
            (a.service.name.as_str(), a.samples, a.port, a.namespace),
            ("hostnames", 20, None, None)
        );
        assert_eq!(a.timeout, Duration::from_secs(2));
        let a = parse(
            "-n prod --port 8080 --objects - --endpoints 10.0.0.1:80,[fd00::1]:81 --count 5 web",
        )
        .unwrap();
        let ns = a.namespace.unwrap();
        assert_eq!((ns.name.as_str(), ns.origin), ("prod", Origin::Flag));
        assert_eq!(a.objects, Some(PathBuf::from("-")));
        assert_eq!((a.endpoints.len(), a.samples), (2, 5));
        assert_eq!(a.api.mode, Mode::Auto);
        assert_eq!(
            parse("--samples 7 web").unwrap().samples,
            7,
            "the old spelling"
        );
        let a =
            parse("--api-server https://10.0.0.1:6443 --token-file /t --cacert /c web").unwrap();
        assert_eq!(a.api.mode, Mode::Force);
        assert_eq!(a.api.server.unwrap().port, 6443);
        assert_eq!(a.api.token_file, Some(PathBuf::from("/t")));
        assert_eq!(parse("--no-api web").unwrap().api.mode, Mode::Off);
        assert_eq!(parse("--api web").unwrap().api.mode, Mode::Force);
    }

    #[test]
    fn the_service_as_people_type_it() {
        for (line, name, ns, origin) in [
            ("hostnames.default", "hostnames", "default", Origin::Name),
            (
                "kube-dns.kube-system",
                "kube-dns",
                "kube-system",
                Origin::Name,
            ),
            ("svc/hostnames -n prod", "hostnames", "prod", Origin::Flag),
            ("hostnames.prod. -n prod", "hostnames", "prod", Origin::Name),
        ] {
            let a = parse(line).unwrap();
            let given = a.namespace.unwrap();
            assert_eq!(
                (a.service.name.as_str(), given.name.as_str(), given.origin),
                (name, ns, origin),
                "{line}"
            );
        }
        let a = parse("hostnames.default.svc.cluster.local.").unwrap();
        assert_eq!(a.service.cluster_domain.as_deref(), Some("cluster.local"));
        let error = parse("hostnames.default -n prod").unwrap_err().to_string();
        assert!(error.contains("-n says prod"), "{error}");
    }

    #[test]
    fn usage_errors() {
        for bad in [
            "--api --no-api x",
            "--no-api --cacert /c x",
            "--objects - --api x",
            "--objects - --api-server https://10.0.0.1 x",
            "--api-server http://10.0.0.1 x",
            "",
            "a b",
            "--count 0 x",
            "--count 1001 x",
            "--port 0 x",
            "--port 70000 x",
            "--port http x",
            "--endpoints 10.0.0.1 x",
            "--timeout 0 x",
            "--timeout 500 x",
            "--deadline 2e19 x",
            "-n Prod x",
            "-n a.b x",
            "web.default.pod",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let error = parse("--port http x").unwrap_err().to_string();
        assert!(error.contains("port name"), "{error}");
    }
}
