//! The command line: flags in, a [`Cli`] out. No I/O here, so every rule is table-tested.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::error::Error;
use crate::report::Libc;

pub mod diagnose;
pub mod hairpin;
pub mod probes;
use probes::{HttpArgs, ServeArgs, TcpArgs};

pub const USAGE: &str = "\
svcprobe: debug a Kubernetes Service from inside a pod

Usage: svcprobe [-o json|text] <command> [options]

Commands:
  diagnose SERVICE [options]       the whole Debug Services walk, with a verdict
  resolvconf [--file PATH]         read and lint resolv.conf the way glibc and musl read it
  nslookup NAME [options]          resolve NAME exactly as the pod's C library would,
                                   showing every query
  tcp TARGET... [options]          connect to host:port targets; classify each attempt
                                   (connected, refused, rejected + ICMP sender, timeout)
  http URL [options]               GET a URL over new connections: status, timing,
                                   which backends answered
  serve [--listen ADDR]            serve the hostname over HTTP (like serve_hostname)
  hairpin SERVICE|VIP:PORT         from a backend pod: can it reach itself through its
                                   Service IP? (the guide's hairpin edge case)
  help [COMMAND]                   this text, or a command's options

Global options:
  -o, --output json|text           JSON (default) or a short human view
  -h, --help                       help
  -V, --version                    version

Exit codes: 0 ok, 1 the probe found a problem, 2 usage error, 3 could not run.
";

pub const RESOLVCONF_USAGE: &str = "\
Usage: svcprobe resolvconf [--file PATH] [-o json|text]

Parses resolv.conf (default /etc/resolv.conf) and reports the nameservers, search list
and options, what glibc and musl each make of them, the namespace and cluster domain the
search list implies, and findings with a severity and a stable code.
Exit 1 if a finding has severity `error`.
";

pub const NSLOOKUP_USAGE: &str = "\
Usage: svcprobe nslookup NAME [options]

Tries the candidate names in the order the pod's C library would (ndots, search list,
trailing dot) and shows every query: name, type, response code, answers with TTLs,
server, time. Then the answer an application gets, for glibc and for musl.
An IP address as NAME looks up its PTR record.

Options:
  --server IP[:PORT]     ask this server instead of resolv.conf's (repeatable)
  --type T               record type: A, AAAA, SRV, PTR, CNAME, TXT, MX, NS, SOA, ...
                         (repeatable; default A and AAAA, like getaddrinfo)
  --no-search            do not use the search list: NAME is absolute
  --libc glibc|musl      whose behaviour decides the answer (default glibc)
  --tcp                  query over TCP (as `options use-vc` does)
  --timeout D            per-query deadline (default 1s; e.g. 500ms, 2s)
  --deadline D           whole-command deadline (default 5s)
  --resolv-conf PATH     read this file instead of /etc/resolv.conf
Exit 1 if the name does not resolve for the chosen C library.
";

/// Output format for every report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Cli {
    pub format: Format,
    pub command: Command,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Resolvconf(ResolvconfArgs),
    Nslookup(NslookupArgs),
    Tcp(TcpArgs),
    Http(HttpArgs),
    Serve(ServeArgs),
    Diagnose(diagnose::DiagnoseArgs),
    Hairpin(hairpin::HairpinArgs),
    /// Print this usage text and exit 0.
    Help(&'static str),
    Version,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ResolvconfArgs {
    pub file: PathBuf,
}

#[derive(Debug, PartialEq, Eq)]
pub struct NslookupArgs {
    pub name: String,
    pub servers: Vec<SocketAddr>,
    /// Empty means the default: A and AAAA for a name, PTR for an IP address.
    pub types: Vec<RecordType>,
    pub no_search: bool,
    pub libc: Libc,
    pub tcp: bool,
    pub timeout: Duration,
    pub deadline: Duration,
    pub resolv_conf: PathBuf,
}

pub const DEFAULT_RESOLV_CONF: &str = "/etc/resolv.conf";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);
/// No probe needs longer; a typo like `--timeout 5000` (seconds) should not hang a shell.
const MAX_DURATION: Duration = Duration::from_secs(600);

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Cli, Error> {
    let mut args = pico_args::Arguments::from_vec(args);
    let format = match args.opt_value_from_str::<_, String>(["-o", "--output"])? {
        None => Format::Json,
        Some(f) if f == "json" => Format::Json,
        Some(f) if f == "text" => Format::Text,
        Some(other) => {
            return Err(Error::Usage(format!(
                "unknown output format `{other}` (use json or text)"
            )))
        }
    };
    let help = args.contains(["-h", "--help"]);
    if args.contains(["-V", "--version"]) {
        return Ok(Cli {
            format,
            command: Command::Version,
        });
    }
    let subcommand = args.subcommand()?;
    let command = match subcommand.as_deref() {
        None => Command::Help(USAGE),
        Some("help") => match args.opt_free_from_str::<String>()? {
            None => Command::Help(USAGE),
            Some(name) => Command::Help(usage_of(&name)?),
        },
        Some(name) if help => Command::Help(usage_of(name)?),
        Some("resolvconf") => Command::Resolvconf(ResolvconfArgs {
            file: args
                .opt_value_from_str("--file")?
                .unwrap_or_else(|| PathBuf::from(DEFAULT_RESOLV_CONF)),
        }),
        Some("nslookup") => Command::Nslookup(parse_nslookup(&mut args)?),
        Some("tcp") => Command::Tcp(probes::parse_tcp(&mut args)?),
        Some("http") => Command::Http(probes::parse_http(&mut args)?),
        Some("serve") => Command::Serve(probes::parse_serve(&mut args)?),
        Some("diagnose") => Command::Diagnose(diagnose::parse_diagnose(&mut args)?),
        Some("hairpin") => Command::Hairpin(hairpin::parse_hairpin(&mut args)?),
        Some(other) => return Err(Error::Usage(format!("unknown command `{other}`"))),
    };
    let rest = args.finish();
    if let Some(extra) = rest.first() {
        return Err(Error::Usage(format!(
            "unexpected argument `{}`",
            extra.to_string_lossy()
        )));
    }
    Ok(Cli { format, command })
}

/// The usage text of a command; an unknown command is a usage error even with `--help`,
/// so that `svcprobe X --help` exiting 0 means X exists.
fn usage_of(command: &str) -> Result<&'static str, Error> {
    match command {
        "resolvconf" => Ok(RESOLVCONF_USAGE),
        "nslookup" => Ok(NSLOOKUP_USAGE),
        "tcp" => Ok(probes::TCP_USAGE),
        "http" => Ok(probes::HTTP_USAGE),
        "serve" => Ok(probes::SERVE_USAGE),
        "diagnose" => Ok(diagnose::DIAGNOSE_USAGE),
        "hairpin" => Ok(hairpin::HAIRPIN_USAGE),
        other => Err(Error::Usage(format!("unknown command `{other}`"))),
    }
}

fn parse_nslookup(args: &mut pico_args::Arguments) -> Result<NslookupArgs, Error> {
    let servers = args.values_from_fn("--server", parse_server)?;
    let types = args.values_from_fn("--type", parse_type)?;
    let libc = match args.opt_value_from_str::<_, String>("--libc")?.as_deref() {
        None | Some("glibc") => Libc::Glibc,
        Some("musl") => Libc::Musl,
        Some(other) => {
            return Err(Error::Usage(format!(
                "unknown libc `{other}` (use glibc or musl)"
            )))
        }
    };
    let parsed = NslookupArgs {
        servers,
        types,
        no_search: args.contains("--no-search"),
        libc,
        tcp: args.contains("--tcp"),
        timeout: args
            .opt_value_from_fn("--timeout", parse_duration)?
            .unwrap_or(DEFAULT_TIMEOUT),
        deadline: args
            .opt_value_from_fn("--deadline", parse_duration)?
            .unwrap_or(DEFAULT_DEADLINE),
        resolv_conf: args
            .opt_value_from_str("--resolv-conf")?
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RESOLV_CONF)),
        name: args
            .opt_free_from_str::<String>()?
            .ok_or_else(|| Error::Usage("nslookup needs a NAME".into()))?,
    };
    Ok(parsed)
}

/// `10.0.0.10`, `10.0.0.10:5353`, `fd00::10`, `[fd00::10]:53`.
pub fn parse_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| format!("`{text}` is not IP or IP:PORT (a name would need DNS to find DNS)"))
}

fn parse_type(text: &str) -> Result<RecordType, String> {
    let upper = text.to_ascii_uppercase();
    match upper.parse::<RecordType>() {
        Ok(RecordType::Unknown(_)) | Err(_) => Err(format!("unknown record type `{text}`")),
        Ok(t) => Ok(t),
    }
}

/// A TCP or UDP port: 1 to 65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("`{text}` is not a port (1-65535)")),
        Ok(p) => Ok(p),
    }
}

/// A count of attempts from 1 to `max`: every loop over it stays bounded.
pub fn parse_count(text: &str, max: u32) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a count from 1 to {max}")),
    }
}

/// `500ms`, `1s`, `1.5s`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (text, 1000.0)
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 500ms, 2s, 1m)"))?;
    let millis = value * unit_ms;
    if !millis.is_finite() || millis < 1.0 {
        return Err(format!("`{text}` is too short: at least 1ms"));
    }
    let duration = Duration::from_secs_f64(millis / 1000.0);
    if duration > MAX_DURATION {
        return Err(format!(
            "`{text}` is too long: at most {}s",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Cli, Error> {
        parse(line.split_whitespace().map(OsString::from).collect())
    }

    #[test]
    fn nslookup_defaults_and_flags() {
        let cli = parse_str("nslookup hostnames").unwrap();
        let Command::Nslookup(args) = cli.command else {
            panic!("not nslookup")
        };
        assert_eq!(args.name, "hostnames");
        assert_eq!(args.types, vec![]);
        assert_eq!(
            (args.timeout, args.deadline),
            (DEFAULT_TIMEOUT, DEFAULT_DEADLINE)
        );
        assert_eq!(args.libc, Libc::Glibc);

        let cli = parse_str(
            "-o text nslookup --server 10.0.0.10 --server [fd00::a]:5353 --type srv --no-search \
             --libc musl --tcp --timeout 250ms --deadline 2 _http._tcp.hostnames",
        )
        .unwrap();
        assert_eq!(cli.format, Format::Text);
        let Command::Nslookup(args) = cli.command else {
            panic!("not nslookup")
        };
        assert_eq!(
            args.servers,
            vec![
                "10.0.0.10:53".parse().unwrap(),
                "[fd00::a]:5353".parse().unwrap()
            ]
        );
        assert_eq!(args.types, vec![RecordType::SRV]);
        assert!(args.no_search && args.tcp);
        assert_eq!(args.libc, Libc::Musl);
        assert_eq!(args.timeout, Duration::from_millis(250));
        assert_eq!(args.deadline, Duration::from_secs(2));
    }

    #[test]
    fn usage_errors_are_errors_not_panics() {
        for line in [
            "nslookup",
            "nslookup a b",
            "nslookup --server dns.local a",
            "nslookup --type BOGUS a",
            "nslookup --timeout 0 a",
            "nslookup --timeout -1s a",
            "nslookup --timeout 1h a",
            "nslookup --timeout NaNs a",
            "nslookup --libc bionic a",
            "-o yaml resolvconf",
            "frobnicate",
            "resolvconf --bogus",
            "resolvconf --file",
            "frobnicate --help",
            "help frobnicate",
        ] {
            let result = parse_str(line);
            assert!(matches!(result, Err(Error::Usage(_))), "{line}: {result:?}");
        }
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_str("").unwrap().command, Command::Help(USAGE));
        assert_eq!(parse_str("--help").unwrap().command, Command::Help(USAGE));
        assert_eq!(
            parse_str("nslookup --help").unwrap().command,
            Command::Help(NSLOOKUP_USAGE)
        );
        assert_eq!(
            parse_str("help resolvconf").unwrap().command,
            Command::Help(RESOLVCONF_USAGE)
        );
        assert_eq!(parse_str("-V").unwrap().command, Command::Version);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("ms").is_err());
    }
}
