//! Flags of the connectivity commands (`tcp`, `http`, `serve`). Like the rest of `cli`:
//! tokens in, validated arguments out, no I/O.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::flags::{Default, Flag, Matches};
use super::{
    operands, parse_bounded, parse_count, parse_duration, parse_port, path_or, ArgError, Spec,
    ValueError, DEFAULT_RESOLV_CONF, RESOLV_CONF,
};
use crate::probe::url::{self, HttpUrl};

const DEFAULT_COUNT: u32 = 1;
const MAX_COUNT: u32 = 10_000;
const MAX_TARGETS: usize = 64;
const DEFAULT_MAX_BODY: u64 = 64 * 1024;
/// A body cap is a memory cap too: every attempt holds its body until it is summed up.
const MAX_MAX_BODY: u64 = 16 * 1024 * 1024;

const COUNT: Flag = Flag::value("--count", "N", "attempts per address, 1 to 10000")
    .default(Default::Number(DEFAULT_COUNT as u64));
const INTERVAL: Flag = Flag::value("--interval", "D", "pause between attempts")
    .default(Default::Duration(Duration::from_millis(100)));
const TCP_TIMEOUT: Flag = Flag::value(
    "--timeout",
    "D",
    "deadline of each connect; also bounds DNS",
)
.default(Default::Duration(Duration::from_secs(2)));
const SOURCE: Flag = Flag::value("--source", "IP", "connect from this local address");

pub const TCP: Spec = Spec {
    name: "tcp",
    operands: "TARGET...",
    summary: "connect to host:port targets and classify each attempt",
    about: "\
Connects to each TARGET (host:port, [v6]:port, or name:port; names resolve as
glibc would, through resolv.conf) and classifies every attempt: connected;
refused (TCP RST from the destination: nothing listens there); rejected (ICMP
unreachable, with the host that sent it: kube-proxy rejects a Service without
endpoints from the node); timeout (packets dropped); no-route. A name probes
every address it resolves to. Targets are probed at the same time; the attempts
of one target one after another.",
    flags: &[&[COUNT, INTERVAL, TCP_TIMEOUT, SOURCE, RESOLV_CONF]],
    footer: "Exit 1 unless every attempt connected.",
};

const HTTP_COUNT: Flag = Flag::value("--count", "N", "attempts, 1 to 10000")
    .default(Default::Number(DEFAULT_COUNT as u64));
const HTTP_TIMEOUT: Flag = Flag::value(
    "--timeout",
    "D",
    "deadline of each whole attempt, body included",
)
.default(Default::Duration(Duration::from_secs(5)));
const CONNECT_TIMEOUT: Flag = Flag::value(
    "--connect-timeout",
    "D",
    "deadline of the TCP (and TLS) handshake, at most --timeout",
)
.default(Default::Duration(Duration::from_secs(2)));
const MAX_BODY: Flag = Flag::value("--max-body", "BYTES", "read at most this much of each body")
    .default(Default::Number(DEFAULT_MAX_BODY));
const CACERT: Flag = Flag::value(
    "--cacert",
    "FILE",
    "trust these PEM certificates instead of the system's",
);
const INSECURE: Flag = Flag::switch(
    "--insecure",
    "do not verify the server's certificate (reported)",
);

pub const HTTP: Spec = Spec {
    name: "http",
    operands: "URL",
    summary: "GET a URL over new connections: status, timing, which backends answered",
    about: "\
GETs URL (http or https; the host resolves as glibc would) over a new connection
per attempt and reports status, peer address, timing phases (connect, TLS, first
byte, total), a body excerpt, and with --count the distinct responses and how
often each came back: for a Service whose pods answer with their name, which
backends answered. Redirects are reported, not followed.",
    flags: &[&[
        HTTP_COUNT,
        HTTP_TIMEOUT,
        CONNECT_TIMEOUT,
        MAX_BODY,
        CACERT,
        INSECURE,
        SOURCE,
        RESOLV_CONF,
    ]],
    footer: "Exit 1 unless every attempt got a response with a status below 400.",
};

const LISTEN: Flag = Flag::value("--listen", "ADDR", "IP:PORT or :PORT to listen on")
    .default(Default::Text("0.0.0.0:9376"));
const BODY: Flag = Flag::value("--body", "TEXT", "answer TEXT on / instead of the hostname");

pub const SERVE: Spec = Spec {
    name: "serve",
    operands: "",
    summary: "serve the hostname over HTTP (like serve_hostname)",
    about: "\
A small HTTP server, a drop-in for registry.k8s.io/serve_hostname:
  GET /         the hostname (or --body TEXT), newline-terminated
  GET /echo     JSON: the client address and port the server saw (SNAT shows
                here), the server address the connection reached, the hostname
  GET /healthz  ok
It closes every connection after one response, limits headers to 8 KiB and a
request to 5 s, serves at most 32 connections at once (more wait in the
kernel's backlog), writes nothing to disk, and stops cleanly on SIGTERM or
SIGINT, then prints a report.",
    flags: &[&[LISTEN, BODY]],
    footer: "Exit 0 when it stopped cleanly.",
};

/// A host as the user wrote it: an address, or a name for the resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    fn parse(text: &str) -> Result<Host, ValueError> {
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        let valid = !text.is_empty()
            && text.len() <= 253
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if valid {
            Ok(Host::Name(text.to_string()))
        } else {
            Err(ValueError::NotAHost(text.to_string()))
        }
    }
}

/// One `tcp` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// As given on the command line.
    pub text: String,
    pub host: Host,
    pub port: u16,
}

#[derive(Debug, PartialEq, Eq)]
pub struct TcpArgs {
    pub targets: Vec<Target>,
    pub count: u32,
    pub interval: Duration,
    pub timeout: Duration,
    pub source: Option<IpAddr>,
    pub resolv_conf: PathBuf,
}

#[derive(Debug, PartialEq, Eq)]
pub struct HttpArgs {
    /// As given, for the report.
    pub url: String,
    /// The URL's host, for the resolver.
    pub host: Host,
    /// The URL as the client fetches it (the port defaulted by the scheme).
    pub target: HttpUrl,
    pub count: u32,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_body: u64,
    pub cacert: Option<PathBuf>,
    pub insecure: bool,
    pub source: Option<IpAddr>,
    pub resolv_conf: PathBuf,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ServeArgs {
    pub listen: SocketAddr,
    pub body: Option<String>,
}

/// `host:port`, `[v6]:port`, `name:port`.
pub fn parse_target(text: &str) -> Result<Target, ValueError> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(ValueError::NoPort(text.to_string()));
    };
    if host.contains(':') && !host.starts_with('[') {
        return Err(ValueError::BareIpv6(text.to_string()));
    }
    let port = parse_port(port).map_err(|e| ValueError::TargetPort {
        text: text.to_string(),
        source: Box::new(e),
    })?;
    Ok(Target {
        text: text.to_string(),
        host: Host::parse(host)?,
        port,
    })
}

fn parse_ip(text: &str) -> Result<IpAddr, ValueError> {
    text.parse()
        .map_err(|_| ValueError::NotAnIp(text.to_string()))
}

/// `IP:PORT`, `[v6]:PORT` or `:PORT` (all IPv4 addresses).
pub fn parse_listen(text: &str) -> Result<SocketAddr, ValueError> {
    if let Some(port) = text.strip_prefix(':') {
        return parse_port(port).map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| ValueError::NotListen(text.to_string()))
}

fn parse_max_body(text: &str) -> Result<u64, ValueError> {
    parse_bounded(text, "a byte count", 0, MAX_MAX_BODY)
}

pub fn parse_tcp(m: &Matches) -> Result<TcpArgs, ArgError> {
    let targets = operands(m)?
        .into_iter()
        .map(parse_target)
        .collect::<Result<Vec<_>, _>>()?;
    if targets.is_empty() {
        return Err(ArgError::NoTargets);
    }
    if targets.len() > MAX_TARGETS {
        return Err(ArgError::TooManyTargets(MAX_TARGETS));
    }
    Ok(TcpArgs {
        targets,
        count: m.get_or_default(&COUNT, |t| parse_count(t, MAX_COUNT))?,
        interval: m.get_or_default(&INTERVAL, parse_duration)?,
        timeout: m.get_or_default(&TCP_TIMEOUT, parse_duration)?,
        source: m.get(&SOURCE, parse_ip)?,
        resolv_conf: path_or(m, &RESOLV_CONF, DEFAULT_RESOLV_CONF),
    })
}

pub fn parse_http(m: &Matches) -> Result<HttpArgs, ArgError> {
    let url = super::one_operand(m, "a URL")?.to_string();
    let (host, target) = parse_url(&url)?;
    let timeout = m.get_or_default(&HTTP_TIMEOUT, parse_duration)?;
    let cacert = m.os(&CACERT).map(PathBuf::from);
    let insecure = m.given(&INSECURE);
    if cacert.is_some() && insecure {
        return Err(ArgError::CacertAndInsecure);
    }
    Ok(HttpArgs {
        url,
        host,
        target,
        count: m.get_or_default(&HTTP_COUNT, |t| parse_count(t, MAX_COUNT))?,
        timeout,
        connect_timeout: m
            .get_or_default(&CONNECT_TIMEOUT, parse_duration)?
            .min(timeout),
        max_body: m.get_or_default(&MAX_BODY, parse_max_body)?,
        cacert,
        insecure,
        source: m.get(&SOURCE, parse_ip)?,
        resolv_conf: path_or(m, &RESOLV_CONF, DEFAULT_RESOLV_CONF),
    })
}

/// The URL of `http`, and its host as the resolver takes it.
pub fn parse_url(text: &str) -> Result<(Host, HttpUrl), ValueError> {
    let parsed = url::parse(text).map_err(|error| ValueError::Url {
        url: text.to_string(),
        error,
    })?;
    Ok((Host::parse(&parsed.host)?, parsed))
}

pub fn parse_serve(m: &Matches) -> Result<ServeArgs, ArgError> {
    super::no_operands(m)?;
    Ok(ServeArgs {
        listen: m.get_or_default(&LISTEN, parse_listen)?,
        body: m.get(&BODY, |t| Ok::<_, ValueError>(t.to_string()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::scan_line as args;

    #[test]
    fn targets() {
        let t = parse_target("10.0.1.175:80").unwrap();
        assert_eq!(
            (t.host, t.port),
            (Host::Ip("10.0.1.175".parse().unwrap()), 80)
        );
        let t = parse_target("[fd00::1]:443").unwrap();
        assert_eq!(t.host, Host::Ip("fd00::1".parse().unwrap()));
        let t = parse_target("hostnames.default:80").unwrap();
        assert_eq!(t.host, Host::Name("hostnames.default".into()));
        for bad in [
            "hostnames",
            "fd00::1:80",
            "a:0",
            "a:65536",
            ":80",
            "a b:80",
            "x:",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tcp_flags() {
        let a = args(
            &TCP,
            "--count 5 --interval 1s --timeout 300ms --source 10.244.0.3 a:1 10.0.0.1:2",
        )
        .and_then(|m| parse_tcp(&m))
        .unwrap();
        assert_eq!(a.targets.len(), 2);
        assert_eq!(a.count, 5);
        assert_eq!(a.interval, Duration::from_secs(1));
        assert_eq!(a.timeout, Duration::from_millis(300));
        assert_eq!(a.source, Some("10.244.0.3".parse().unwrap()));
        let d = args(&TCP, "a:1").and_then(|m| parse_tcp(&m)).unwrap();
        assert_eq!((d.count, d.timeout), (1, Duration::from_secs(2)));
        for bad in [
            "",
            "--count 0 a:1",
            "--count x a:1",
            "--source nope a:1",
            "--bogus a:1",
        ] {
            assert!(
                args(&TCP, bad).and_then(|m| parse_tcp(&m)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn urls() {
        let port_and_tls = |text| parse_url(text).map(|(host, u)| (host, u.port, u.https));
        assert_eq!(
            port_and_tls("http://10.0.1.175").unwrap(),
            (Host::Ip("10.0.1.175".parse().unwrap()), 80, false)
        );
        assert_eq!(
            port_and_tls("https://hostnames.default:8443/x?y").unwrap(),
            (Host::Name("hostnames.default".into()), 8443, true)
        );
        assert_eq!(
            port_and_tls("http://[fd00::1]:8080/").unwrap(),
            (Host::Ip("fd00::1".parse().unwrap()), 8080, false)
        );
        let refused = [
            (
                "10.0.1.175",
                "`10.0.1.175` needs a scheme: http://10.0.1.175",
            ),
            ("ftp://x/", "`ftp` URLs are not supported (http, https)"),
            ("http://", "`http://` is not a URL: empty string"),
            ("http://:80/", "`http://:80/` has no host"),
            ("http://a:0/", "`http://a:0/`: port 0"),
            (
                "http://a:99999/",
                "`http://a:99999/` is not a URL: invalid port",
            ),
            ("http://[x]/", "`[x]` is not an IP address or a host name"),
        ];
        for (bad, line) in refused {
            assert_eq!(
                parse_url(bad).map_err(|e| e.to_string()),
                Err(line.into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn http_flags() {
        let a = args(
            &HTTP,
            "--count 3 --timeout 1s --connect-timeout 5s --max-body 10 --insecure https://x/",
        )
        .and_then(|m| parse_http(&m))
        .unwrap();
        assert_eq!(
            (a.count, a.max_body, a.insecure, a.target.https),
            (3, 10, true, true)
        );
        assert_eq!(
            a.connect_timeout,
            Duration::from_secs(1),
            "capped by --timeout"
        );
        for bad in [
            "",
            "http://a/ http://b/",
            "--insecure --cacert f https://x/",
            "--max-body -1 http://a/",
            "--max-body 99999999999 http://a/",
        ] {
            assert!(
                args(&HTTP, bad).and_then(|m| parse_http(&m)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn listen() {
        assert_eq!(
            parse_listen(":8080").unwrap(),
            "0.0.0.0:8080".parse().unwrap()
        );
        assert_eq!(parse_listen("[::1]:1").unwrap(), "[::1]:1".parse().unwrap());
        assert!(parse_listen("8080").is_err());
        let s = args(&SERVE, "--body hi")
            .and_then(|m| parse_serve(&m))
            .unwrap();
        assert_eq!(
            (s.listen, s.body),
            ("0.0.0.0:9376".parse().unwrap(), Some("hi".into()))
        );
    }
}
