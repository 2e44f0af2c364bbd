//! Flags of `svcprobe hairpin`. Like the rest of `cli`: tokens in, validated arguments out,
//! no I/O.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::flags::{Default, Flag, Matches};
use super::{
    one_operand, parse_bounded, parse_count, parse_duration, parse_namespace, parse_port, path_or,
    ArgError, Spec, ValueError, DEFAULT_RESOLV_CONF, RESOLV_CONF,
};
use crate::hairpin::{DEFAULT_COUNT, DEFAULT_DEADLINE, DEFAULT_TIMEOUT, MAX_COUNT};
use crate::service_name::{self, Namespace, ServiceName};

const NAMESPACE: Flag = super::NAMESPACE.default(Default::Note(
    "the search list's, as this pod's applications",
));
/// `--attempts` was its name before every command counted attempts with `--count`.
const COUNT: Flag = Flag::value("--count", "N", "connections to make, 1 to 1000")
    .aliases(&["--attempts"])
    .default(Default::Number(DEFAULT_COUNT as u64));
const TIMEOUT: Flag = Flag::value("--timeout", "D", "deadline of each connect")
    .default(Default::Duration(DEFAULT_TIMEOUT));
const DEADLINE: Flag = Flag::value("--deadline", "D", "deadline of the whole probe")
    .default(Default::Duration(DEFAULT_DEADLINE));
const PORT: Flag = Flag::value("--port", "PORT", "the Service port, instead of :PORT")
    .default(Default::Number(DEFAULT_PORT as u64));
const TARGET_PORT: Flag = Flag::value(
    "--target-port",
    "PORT",
    "the Service's targetPort: only a server on it counts as this pod",
);
/// `--endpoints` was its name; in `diagnose` that flag is a list of addresses.
const ENDPOINT_COUNT: Flag = Flag::value(
    "--endpoint-count",
    "N",
    "how many endpoints the Service has (for the odds of landing here)",
)
.aliases(&["--endpoints"]);

pub const SPEC: Spec = Spec {
    name: "hairpin",
    operands: "SERVICE[:PORT]|VIP[:PORT]",
    summary: "from a backend pod: can it reach itself through its Service IP?",
    about: "\
Run in a pod that backs the Service: connects to the Service IP again and again
and shows whether the connections kube-proxy sends back to this very pod succeed
(the guide's \"a Pod fails to reach itself via the Service IP\"). Each
connection's SYN carries a distinct MSS tag, so the pod's own socket table shows
which ones this pod accepted, without help from the application. A dropped
hairpin SYN shows as a timeout, or as a connect that took about a second (the
kernel's retransmit, which kube-proxy may send to another endpoint).

SERVICE is NAME, NAME.NS, NAME.NS.svc or NAME.NS.svc.DOMAIN (a trailing dot is
fine), or service/NAME or svc/NAME; its full name is resolved through
resolv.conf's nameservers, the namespace and cluster domain it leaves out taken
from the search list.",
    flags: &[&[
        NAMESPACE,
        COUNT,
        TIMEOUT,
        DEADLINE,
        PORT,
        TARGET_PORT,
        ENDPOINT_COUNT,
        RESOLV_CONF,
    ]],
    footer: "\
Verdict: pass (this pod reached itself), fail (connections to it are dropped, or
none succeeded), inconclusive (none landed here, with the odds; or this pod is
not an endpoint). Exit 0 only for pass, 1 otherwise.",
};

const DEFAULT_PORT: u16 = 80;
const MAX_ENDPOINTS: u32 = 100_000;

/// The Service as given: an address, or a name for the resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceHost {
    Ip(IpAddr),
    Name(ServiceName),
}

#[derive(Debug, PartialEq, Eq)]
pub struct HairpinArgs {
    /// As given on the command line.
    pub target: String,
    pub host: ServiceHost,
    /// From the name or `-n` (they agree); None: the search list's.
    pub namespace: Option<Namespace>,
    pub port: u16,
    pub count: u32,
    pub timeout: Duration,
    pub deadline: Duration,
    pub target_port: Option<u16>,
    pub endpoints: Option<u32>,
    pub resolv_conf: PathBuf,
}

pub fn parse_hairpin(m: &Matches) -> Result<HairpinArgs, ArgError> {
    let target = one_operand(m, "a SERVICE or VIP:PORT")?;
    let (host, port) = parse_service(target)?;
    let flag_namespace = m.get(&NAMESPACE, parse_namespace)?;
    let namespace = match &host {
        ServiceHost::Name(name) => name.namespace_with(flag_namespace.as_deref())?,
        ServiceHost::Ip(_) if flag_namespace.is_some() => {
            return Err(ArgError::AddressWithNamespace(target.to_string()))
        }
        ServiceHost::Ip(_) => None,
    };
    let port = match (port, m.get(&PORT, parse_port)?) {
        (Some(a), Some(b)) if a != b => {
            return Err(ArgError::PortsDiffer {
                target: target.to_string(),
                port: b,
            })
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => m.get_or_default(&PORT, parse_port)?,
    };
    Ok(HairpinArgs {
        target: target.to_string(),
        host,
        namespace,
        port,
        count: m.get_or_default(&COUNT, |t| parse_count(t, MAX_COUNT))?,
        timeout: m.get_or_default(&TIMEOUT, parse_duration)?,
        deadline: m.get_or_default(&DEADLINE, parse_duration)?,
        target_port: m.get(&TARGET_PORT, parse_port)?,
        endpoints: m.get(&ENDPOINT_COUNT, parse_endpoint_count)?,
        resolv_conf: path_or(m, &RESOLV_CONF, DEFAULT_RESOLV_CONF),
    })
}

/// `hostnames`, `hostnames.default:8080`, `svc/hostnames`, `10.0.1.175`, `10.0.1.175:80`,
/// `fd00::1`, `[fd00::1]:80`.
pub fn parse_service(text: &str) -> Result<(ServiceHost, Option<u16>), ValueError> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((ServiceHost::Ip(ip), None));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, port) = rest
            .split_once(']')
            .ok_or_else(|| ValueError::Unclosed(text.to_string()))?;
        let ip = ip
            .parse::<IpAddr>()
            .map_err(|_| ValueError::BracketedNotIp {
                text: text.to_string(),
                ip: ip.to_string(),
            })?;
        let port = match port {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| ValueError::NoPortAfterBracket(text.to_string()))
                    .and_then(parse_port)?,
            ),
        };
        return Ok((ServiceHost::Ip(ip), port));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (text, None),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((ServiceHost::Ip(ip), port));
    }
    let name = service_name::parse(host)?;
    Ok((ServiceHost::Name(name), port))
}

fn parse_endpoint_count(text: &str) -> Result<u32, ValueError> {
    parse_bounded(text, "an endpoint count", 1, MAX_ENDPOINTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::scan_line;
    use crate::report::Origin;

    fn parse(line: &str) -> Result<HairpinArgs, ArgError> {
        parse_hairpin(&scan_line(&SPEC, line)?)
    }

    #[test]
    fn services() {
        let ip = |s: &str| ServiceHost::Ip(s.parse().unwrap());
        let name = |s: &str| ServiceHost::Name(service_name::parse(s).unwrap());
        let table: [(&str, ServiceHost, Option<u16>); 9] = [
            ("10.0.1.175", ip("10.0.1.175"), None),
            ("10.0.1.175:8080", ip("10.0.1.175"), Some(8080)),
            ("fd00::1", ip("fd00::1"), None),
            ("[fd00::1]:443", ip("fd00::1"), Some(443)),
            ("[fd00::1]", ip("fd00::1"), None),
            ("hostnames", name("hostnames"), None),
            ("hostnames.default", name("hostnames.default"), None),
            ("svc/hostnames", name("svc/hostnames"), None),
            (
                "hostnames.default.svc.cluster.local.",
                name("hostnames.default.svc.cluster.local."),
                None,
            ),
        ];
        for (text, host, port) in table {
            assert_eq!(parse_service(text), Ok((host, port)), "{text}");
        }
        let (host, port) = parse_service("hostnames.default:80").unwrap();
        assert_eq!(host, name("hostnames.default"));
        assert_eq!(port, Some(80));
        for bad in [
            "",
            ":80",
            "a:0",
            "a:x",
            "[fd00::1",
            "[nope]:80",
            "[::1]80",
            "a b",
            "a/b:1",
            "my_svc",
            "a.b.c",
        ] {
            assert!(parse_service(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse("hostnames").unwrap();
        assert_eq!((a.port, a.count), (80, DEFAULT_COUNT));
        assert_eq!((a.timeout, a.deadline), (DEFAULT_TIMEOUT, DEFAULT_DEADLINE));
        assert_eq!(
            (a.target_port, a.endpoints, a.namespace),
            (None, None, None)
        );
        let a = parse(
            "--count 40 --timeout 1s --deadline 3s --target-port 9376 --endpoint-count 3 \
             --resolv-conf /tmp/r 10.0.1.175:80",
        )
        .unwrap();
        assert_eq!(
            (a.count, a.target_port, a.endpoints),
            (40, Some(9376), Some(3))
        );
        assert_eq!(a.host, ServiceHost::Ip("10.0.1.175".parse().unwrap()));
        assert_eq!(a.resolv_conf, PathBuf::from("/tmp/r"));
        assert_eq!(parse("--port 8080 hostnames").unwrap().port, 8080);
        assert_eq!(parse("--port 80 hostnames:80").unwrap().port, 80);
        let old = parse("--attempts 7 --endpoints 2 hostnames").unwrap();
        assert_eq!(
            (old.count, old.endpoints),
            (7, Some(2)),
            "the old spellings"
        );
        let a = parse("-n prod hostnames").unwrap();
        assert_eq!(a.namespace.unwrap().origin, Origin::Flag);
    }

    #[test]
    fn usage_errors() {
        for line in [
            "",
            "--count 0 a",
            "--count 1001 a",
            "--endpoint-count 0 a",
            "--timeout 0 a",
            "--timeout 500 a",
            "--port 81 a:80",
            "--port http a",
            "--target-port 0 a",
            "--bogus a",
            "a b",
            "-n prod 10.0.1.175",
            "-n prod hostnames.default",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
    }
}
