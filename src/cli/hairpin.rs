//! Flags of `svcprobe hairpin`. Like the rest of `cli`: tokens in, validated arguments out,
//! no I/O.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{parse_count, parse_duration, parse_port, DEFAULT_RESOLV_CONF};
use crate::error::Error;
use crate::hairpin::{DEFAULT_COUNT, DEFAULT_DEADLINE, DEFAULT_TIMEOUT, MAX_COUNT};

pub const HAIRPIN_USAGE: &str = "\
Usage: svcprobe hairpin SERVICE[:PORT]|VIP[:PORT] [options]

Run in a pod that backs the Service: connects to the Service IP again and again and shows
whether the connections kube-proxy sends back to this very pod succeed (the guide's \"a Pod
fails to reach itself via the Service IP\"). Each connection's SYN carries a distinct MSS
tag, so the pod's own socket table shows which ones this pod accepted, without help from
the application. A dropped hairpin SYN shows as a timeout, or as a connect that took about
a second (the kernel's retransmit, which kube-proxy may send to another endpoint).
SERVICE resolves as glibc would (resolv.conf, search list); PORT defaults to 80.

Options:
  --attempts N        connections to make (default 20, at most 1000)
  --timeout D         deadline of each connect (default 1.5s)
  --deadline D        deadline of the whole probe (default 5s)
  --port PORT         the Service port, instead of :PORT
  --target-port PORT  the Service's targetPort: only a server on it counts as this pod
  --endpoints N       how many endpoints the Service has (for the odds of landing here)
  --resolv-conf PATH  read this file instead of /etc/resolv.conf
Verdict: pass (this pod reached itself), fail (connections to it are dropped, or none
succeeded), inconclusive (none landed here, with the odds; or this pod is not an endpoint).
Exit 0 only for pass, 1 otherwise.
";

const DEFAULT_PORT: u16 = 80;
const MAX_ENDPOINTS: u32 = 100_000;

/// The Service as given: an address, or a name for the resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceHost {
    Ip(IpAddr),
    Name(String),
}

#[derive(Debug, PartialEq, Eq)]
pub struct HairpinArgs {
    /// As given on the command line.
    pub target: String,
    pub host: ServiceHost,
    pub port: u16,
    pub count: u32,
    pub timeout: Duration,
    pub deadline: Duration,
    pub target_port: Option<u16>,
    pub endpoints: Option<u32>,
    pub resolv_conf: PathBuf,
}

pub fn parse_hairpin(args: &mut pico_args::Arguments) -> Result<HairpinArgs, Error> {
    let count = args.opt_value_from_fn("--attempts", |t| parse_count(t, MAX_COUNT))?;
    let timeout = args.opt_value_from_fn("--timeout", parse_duration)?;
    let deadline = args.opt_value_from_fn("--deadline", parse_duration)?;
    let port_flag = args.opt_value_from_fn("--port", parse_port)?;
    let target_port = args.opt_value_from_fn("--target-port", parse_port)?;
    let endpoints = args.opt_value_from_fn("--endpoints", parse_endpoints)?;
    let resolv_conf = args
        .opt_value_from_str("--resolv-conf")?
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RESOLV_CONF));
    let target: String = args
        .opt_free_from_str()?
        .ok_or_else(|| Error::Usage("hairpin needs a SERVICE or VIP:PORT".into()))?;
    if target.starts_with('-') {
        return Err(Error::Usage(format!("unknown option `{target}`")));
    }
    let (host, port) = parse_service(&target).map_err(Error::Usage)?;
    let port = match (port, port_flag) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::Usage(format!(
                "`{target}` and --port {b} name different ports"
            )))
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => DEFAULT_PORT,
    };
    Ok(HairpinArgs {
        target,
        host,
        port,
        count: count.unwrap_or(DEFAULT_COUNT),
        timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        deadline: deadline.unwrap_or(DEFAULT_DEADLINE),
        target_port,
        endpoints,
        resolv_conf,
    })
}

/// `hostnames`, `hostnames.default:8080`, `10.0.1.175`, `10.0.1.175:80`, `fd00::1`,
/// `[fd00::1]:80`.
pub fn parse_service(text: &str) -> Result<(ServiceHost, Option<u16>), String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((ServiceHost::Ip(ip), None));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, port) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{text}`: unclosed ["))?;
        let ip = ip
            .parse::<IpAddr>()
            .map_err(|_| format!("`{text}`: `{ip}` is not an IP address"))?;
        let port = match port {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("`{text}`: expected :PORT after ]"))
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
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok((ServiceHost::Name(host.to_string()), port))
    } else {
        Err(format!("`{text}` is not a Service name or IP[:PORT]"))
    }
}

fn parse_endpoints(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_ENDPOINTS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not an endpoint count from 1 to {MAX_ENDPOINTS}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn parse(line: &str) -> Result<HairpinArgs, Error> {
        let mut args =
            pico_args::Arguments::from_vec(line.split_whitespace().map(OsString::from).collect());
        let parsed = parse_hairpin(&mut args)?;
        match args.finish().first() {
            Some(extra) => Err(Error::Usage(format!("extra {extra:?}"))),
            None => Ok(parsed),
        }
    }

    #[test]
    fn services() {
        let ip = |s: &str| ServiceHost::Ip(s.parse().unwrap());
        let name = |s: &str| ServiceHost::Name(s.into());
        let table: [(&str, ServiceHost, Option<u16>); 7] = [
            ("10.0.1.175", ip("10.0.1.175"), None),
            ("10.0.1.175:8080", ip("10.0.1.175"), Some(8080)),
            ("fd00::1", ip("fd00::1"), None),
            ("[fd00::1]:443", ip("fd00::1"), Some(443)),
            ("[fd00::1]", ip("fd00::1"), None),
            ("hostnames", name("hostnames"), None),
            ("hostnames.default:80", name("hostnames.default"), Some(80)),
        ];
        for (text, host, port) in table {
            assert_eq!(parse_service(text), Ok((host, port)), "{text}");
        }
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
        ] {
            assert!(parse_service(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse("hostnames").unwrap();
        assert_eq!((a.port, a.count), (80, DEFAULT_COUNT));
        assert_eq!((a.timeout, a.deadline), (DEFAULT_TIMEOUT, DEFAULT_DEADLINE));
        assert_eq!((a.target_port, a.endpoints), (None, None));
        let a = parse(
            "--attempts 40 --timeout 1s --deadline 3s --target-port 9376 --endpoints 3 \
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
    }

    #[test]
    fn usage_errors() {
        for line in [
            "",
            "--attempts 0 a",
            "--attempts 1001 a",
            "--endpoints 0 a",
            "--timeout 0 a",
            "--port 81 a:80",
            "--target-port 0 a",
            "--bogus a",
            "a b",
        ] {
            assert!(matches!(parse(line), Err(Error::Usage(_))), "{line}");
        }
    }
}
