//! The command line: arguments in, a [`Cli`] out. No I/O here, so every rule is
//! table-tested and the whole of it can be fuzzed. Each command declares its flags once
//! (`flags::Flag`: name, default, help) and its `--help` is generated from them.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::error::{Error, Usage};
use crate::report::Libc;

pub mod api;
pub mod diagnose;
pub mod dns;
pub mod error;
pub mod exporter;
pub mod flags;
pub mod hairpin;
pub mod node;
pub mod probes;
pub use error::{ArgError, ValueError};
use flags::{Default, Flag, Matches};
use probes::{HttpArgs, ServeArgs, TcpArgs};

/// A subcommand: its synopsis, its prose, its flags, and what its exit codes mean.
pub struct Spec {
    pub name: &'static str,
    /// What follows the name: `SERVICE`, `TARGET...`.
    pub operands: &'static str,
    /// One line for `svcprobe --help`.
    pub summary: &'static str,
    /// Paragraphs, wrapped by hand to 80 columns.
    pub about: &'static str,
    /// In the order `--help` shows them, in groups: a group may be shared
    /// ([`api::FLAGS`]).
    pub flags: &'static [&'static [Flag]],
    pub footer: &'static str,
}

const OUTPUT: Flag = Flag::value(
    "--output",
    "json|text",
    "JSON for scripts, or a short view for people",
)
.short("-o")
.default(Default::Text("json"));
const HELP: Flag = Flag::switch("--help", "this text, or a command's options").short("-h");
const VERSION: Flag = Flag::switch("--version", "the version").short("-V");
/// Accepted before and after the command.
pub const GLOBAL: &[Flag] = &[OUTPUT, HELP, VERSION];

pub const DEFAULT_RESOLV_CONF: &str = "/etc/resolv.conf";

/// `--resolv-conf`, shared by every command that resolves names.
pub const RESOLV_CONF: Flag = Flag::value(
    "--resolv-conf",
    "PATH",
    "read this file instead of /etc/resolv.conf",
);

/// `-n`: the namespace of a Service whose name has none; the default says where it comes from.
pub const NAMESPACE: Flag = Flag::value(
    "--namespace",
    "NS",
    "the Service's namespace, when its name has none",
)
.short("-n");

/// A namespace as `-n` takes it.
pub fn parse_namespace(text: &str) -> Result<String, ValueError> {
    crate::service_name::check_namespace(text)?;
    Ok(text.to_string())
}

/// `--file` was its name; every other command calls this file `--resolv-conf`.
const FILE: Flag = Flag::value("--resolv-conf", "PATH", "the file to read")
    .aliases(&["--file"])
    .default(Default::Text(DEFAULT_RESOLV_CONF));

const RESOLVCONF: Spec = Spec {
    name: "resolvconf",
    operands: "",
    summary: "read and lint resolv.conf the way glibc and musl read it",
    about: "\
Parses resolv.conf and reports the nameservers, search list and options, what
glibc and musl each make of them, the namespace and cluster domain the search
list implies, and findings with a severity and a stable code.",
    flags: &[&[FILE]],
    footer: "Exit 1 if a finding has severity `error`.",
};

const NS_SERVER: Flag = Flag::value(
    "--server",
    "IP[:PORT]",
    "ask this server instead of resolv.conf's (repeatable)",
)
.repeatable();
const NS_TYPE: Flag = Flag::value(
    "--type",
    "T",
    "record type: A, AAAA, SRV, PTR, CNAME, TXT, MX, NS, SOA, ... (repeatable)",
)
.repeatable()
.default(Default::Note("A and AAAA, like getaddrinfo"));
const NS_NO_SEARCH: Flag = Flag::switch(
    "--no-search",
    "do not use the search list: NAME is absolute",
);
const NS_LIBC: Flag = Flag::value("--libc", "glibc|musl", "whose behaviour decides the answer")
    .default(Default::Text("glibc"));
const NS_TCP: Flag = Flag::switch("--tcp", "query over TCP (as `options use-vc` does)");
const NS_TIMEOUT: Flag = Flag::value("--timeout", "D", "per-query deadline, e.g. 500ms, 2s")
    .default(Default::Duration(Duration::from_secs(1)));
const NS_DEADLINE: Flag = Flag::value("--deadline", "D", "whole-command deadline")
    .default(Default::Duration(Duration::from_secs(5)));

const NSLOOKUP: Spec = Spec {
    name: "nslookup",
    operands: "NAME",
    summary: "resolve NAME exactly as the pod's C library would, showing every query",
    about: "\
Tries the candidate names in the order the pod's C library would (ndots, search
list, trailing dot) and shows every query: name, type, response code, answers
with TTLs, server, time. Then the answer an application gets, for glibc and for
musl. An IP address as NAME looks up its PTR record.",
    flags: &[&[
        NS_SERVER,
        NS_TYPE,
        NS_NO_SEARCH,
        NS_LIBC,
        NS_TCP,
        NS_TIMEOUT,
        NS_DEADLINE,
        RESOLV_CONF,
    ]],
    footer: "Exit 1 if the name does not resolve for the chosen C library.",
};

/// Every command, in the order `svcprobe --help` lists them.
pub const COMMANDS: [&Spec; 10] = [
    &diagnose::SPEC,
    &dns::SPEC,
    &RESOLVCONF,
    &NSLOOKUP,
    &probes::TCP,
    &probes::HTTP,
    &probes::SERVE,
    &hairpin::SPEC,
    &exporter::SPEC,
    &node::SPEC,
];

/// `svcprobe --help`.
pub fn usage() -> String {
    let commands = flags::rows(COMMANDS.iter().map(|spec| {
        let left = format!("{} {}", spec.name, spec.operands);
        (left.trim_end().to_string(), spec.summary.to_string())
    }));
    let help_row = flags::rows([(
        "help COMMAND".to_string(),
        "a command's options (or: svcprobe COMMAND --help)".to_string(),
    )]);
    format!(
        "svcprobe: debug a Kubernetes Service from inside a pod\n\n\
         Usage: svcprobe [-o json|text] COMMAND [options]\n\n\
         Commands:\n{commands}{help_row}\n\
         Global options (before or after the command):\n{}\n\
         Durations take a unit: 500ms, 2s, 1m.\n\
         Exit codes: 0 ok, 1 the probe found a problem, 2 usage error, 3 could not run.\n",
        flags::options_text(GLOBAL)
    )
}

/// `svcprobe COMMAND --help`.
pub fn command_usage(spec: &Spec) -> String {
    let operands = match spec.operands {
        "" => String::new(),
        o => format!(" {o}"),
    };
    format!(
        "Usage: svcprobe {}{operands} [options]\n\n{}\n\nOptions:\n{}\n\
         Global options: -o, --output json|text; -h, --help.\n\
         Durations take a unit: 500ms, 2s, 1m.\n{}\n",
        spec.name,
        spec.about,
        flags::options_text(&spec.flags.concat()),
        spec.footer
    )
}

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
    Dns(dns::DnsArgs),
    Hairpin(hairpin::HairpinArgs),
    Exporter(exporter::ExporterArgs),
    Node(node::NodeArgs),
    /// Print this usage text and exit 0.
    Help(String),
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

/// The shortest duration a flag takes, in milliseconds.
const MIN_DURATION_MS: f64 = 1.0;
/// No probe needs longer; a typo like `--timeout 5000s` should not hang a shell.
const MAX_DURATION_MS: f64 = 600_000.0;

/// Parses the arguments after the program name.
pub fn parse(mut args: Vec<OsString>) -> Result<Cli, Error> {
    let Some(at) = command_position(&args) else {
        let globals = flags::scan(&[GLOBAL], args).map_err(top_level)?;
        let format = format_of(&globals, &Matches::default()).map_err(top_level)?;
        let command = if globals.given(&VERSION) {
            Command::Version
        } else if globals.given(&HELP) {
            Command::Help(usage())
        } else {
            return Err(Error::Usage(Usage::NoCommand));
        };
        return Ok(Cli { format, command });
    };
    let after = args.split_off(at + 1);
    let name = args.pop().unwrap_or_default();
    let before = flags::scan(&[GLOBAL], args).map_err(top_level)?;
    let name = name.to_string_lossy();
    if name == "help" {
        return help_command(after, &before);
    }
    let spec = spec_of(&name).map_err(top_level)?;
    let for_command = |error: ArgError| {
        Error::Usage(Usage::Command {
            command: spec.name,
            error,
        })
    };
    let asks_help = after
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-h" || a == "--help");
    if asks_help || before.given(&HELP) {
        let format = format_of(&before, &Matches::default()).map_err(for_command)?;
        return Ok(Cli {
            format,
            command: Command::Help(command_usage(spec)),
        });
    }
    let tables = [spec.flags, &[GLOBAL]].concat();
    let matches = flags::scan(&tables, after).map_err(for_command)?;
    let format = format_of(&before, &matches).map_err(for_command)?;
    if before.given(&VERSION) || matches.given(&VERSION) {
        return Ok(Cli {
            format,
            command: Command::Version,
        });
    }
    let command = command_of(spec, &matches).map_err(for_command)?;
    Ok(Cli { format, command })
}

/// `line` split at spaces and scanned against `spec`'s flags: where every parser's table
/// tests start.
#[cfg(test)]
pub fn scan_line(spec: &Spec, line: &str) -> Result<Matches, ArgError> {
    flags::scan(
        spec.flags,
        line.split_whitespace().map(OsString::from).collect(),
    )
}

/// Where the command name is: the first argument that is neither a global flag nor the
/// value of `-o`.
fn command_position(args: &[OsString]) -> Option<usize> {
    let mut skip_value = false;
    for (index, arg) in args.iter().enumerate() {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        match arg.to_str() {
            Some("-o" | "--output") => skip_value = true,
            Some(t) if t.len() > 1 && t.starts_with('-') => {}
            _ => return Some(index),
        }
    }
    None
}

fn top_level(e: ArgError) -> Error {
    Error::Usage(Usage::Global(e))
}

fn spec_of(name: &str) -> Result<&'static Spec, ArgError> {
    COMMANDS
        .into_iter()
        .find(|spec| spec.name == name)
        .ok_or_else(|| ArgError::UnknownCommand(name.to_string()))
}

/// `svcprobe help [COMMAND]`; an unknown command is a usage error, so that exit 0 means
/// the command exists.
fn help_command(after: Vec<OsString>, before: &Matches) -> Result<Cli, Error> {
    let matches = flags::scan(&[GLOBAL], after).map_err(top_level)?;
    let format = format_of(before, &matches).map_err(top_level)?;
    let text = match matches.operands.as_slice() {
        [] => usage(),
        [name] => command_usage(spec_of(&name.to_string_lossy()).map_err(top_level)?),
        [_, extra, ..] => {
            return Err(top_level(ArgError::Unexpected(
                extra.to_string_lossy().into_owned(),
            )))
        }
    };
    Ok(Cli {
        format,
        command: Command::Help(text),
    })
}

fn format_of(before: &Matches, after: &Matches) -> Result<Format, ArgError> {
    let parse = |text: &str| match text {
        "json" => Ok(Format::Json),
        "text" => Ok(Format::Text),
        other => Err(ValueError::Unknown {
            what: "output format",
            text: other.to_string(),
            choices: Some("json or text"),
        }),
    };
    match (before.get(&OUTPUT, parse)?, after.get(&OUTPUT, parse)?) {
        (Some(_), Some(_)) => Err(ArgError::Repeated(OUTPUT.name)),
        (first, second) => Ok(first.or(second).unwrap_or(Format::Json)),
    }
}

fn command_of(spec: &Spec, m: &Matches) -> Result<Command, ArgError> {
    Ok(match spec.name {
        "resolvconf" => {
            no_operands(m)?;
            Command::Resolvconf(ResolvconfArgs {
                file: path_or(m, &FILE, DEFAULT_RESOLV_CONF),
            })
        }
        "nslookup" => Command::Nslookup(parse_nslookup(m)?),
        "tcp" => Command::Tcp(probes::parse_tcp(m)?),
        "http" => Command::Http(probes::parse_http(m)?),
        "serve" => Command::Serve(probes::parse_serve(m)?),
        "diagnose" => Command::Diagnose(diagnose::parse_diagnose(m)?),
        "dns" => Command::Dns(dns::parse_dns(m)?),
        "exporter" => Command::Exporter(exporter::parse_exporter(m)?),
        "node" => Command::Node(node::parse_node(m)?),
        _ => Command::Hairpin(hairpin::parse_hairpin(m)?),
    })
}

/// A path flag's value (any bytes), or `default`.
pub fn path_or(m: &Matches, flag: &Flag, default: &str) -> PathBuf {
    m.os(flag)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The operands as text.
pub fn operands(m: &Matches) -> Result<Vec<&str>, ArgError> {
    m.operands
        .iter()
        .map(|o| {
            o.to_str()
                .ok_or_else(|| ArgError::OperandNotUtf8(o.to_string_lossy().into_owned()))
        })
        .collect()
}

/// Exactly one operand, called `what` in the error.
pub fn one_operand<'a>(m: &'a Matches, what: &'static str) -> Result<&'a str, ArgError> {
    match operands(m)?.as_slice() {
        [] => Err(ArgError::MissingOperand(what)),
        [one] => Ok(one),
        [_, extra, ..] => Err(ArgError::Unexpected(extra.to_string())),
    }
}

pub fn no_operands(m: &Matches) -> Result<(), ArgError> {
    match m.operands.first() {
        Some(extra) => Err(ArgError::Unexpected(extra.to_string_lossy().into_owned())),
        None => Ok(()),
    }
}

fn parse_nslookup(m: &Matches) -> Result<NslookupArgs, ArgError> {
    let libc = m.get_or_default(&NS_LIBC, |text| match text {
        "glibc" => Ok(Libc::Glibc),
        "musl" => Ok(Libc::Musl),
        other => Err(ValueError::Unknown {
            what: "libc",
            text: other.to_string(),
            choices: Some("glibc or musl"),
        }),
    })?;
    Ok(NslookupArgs {
        name: one_operand(m, "a NAME")?.to_string(),
        servers: m.all(&NS_SERVER, parse_server)?,
        types: m.all(&NS_TYPE, parse_type)?,
        no_search: m.given(&NS_NO_SEARCH),
        libc,
        tcp: m.given(&NS_TCP),
        timeout: m.get_or_default(&NS_TIMEOUT, parse_duration)?,
        deadline: m.get_or_default(&NS_DEADLINE, parse_duration)?,
        resolv_conf: path_or(m, &RESOLV_CONF, DEFAULT_RESOLV_CONF),
    })
}

/// `10.0.0.10`, `10.0.0.10:5353`, `fd00::10`, `[fd00::10]:53`.
pub fn parse_server(text: &str) -> Result<SocketAddr, ValueError> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| ValueError::NotAServer(text.to_string()))
}

fn parse_type(text: &str) -> Result<RecordType, ValueError> {
    let upper = text.to_ascii_uppercase();
    match upper.parse::<RecordType>() {
        Ok(RecordType::Unknown(_)) | Err(_) => Err(ValueError::Unknown {
            what: "record type",
            text: text.to_string(),
            choices: None,
        }),
        Ok(t) => Ok(t),
    }
}

/// A TCP or UDP port: 1 to 65535. A name (`http`) is not a number this command can use.
pub fn parse_port(text: &str) -> Result<u16, ValueError> {
    match text.parse::<u16>() {
        Ok(0) => Err(ValueError::PortZero),
        Ok(p) => Ok(p),
        Err(_) if text.starts_with(|c: char| c.is_ascii_alphabetic()) => {
            Err(ValueError::PortName(text.to_string()))
        }
        Err(_) => Err(ValueError::NotAPort(text.to_string())),
    }
}

/// A count of attempts from 1 to `max`: every loop over it stays bounded.
pub fn parse_count(text: &str, max: u32) -> Result<u32, ValueError> {
    parse_bounded(text, "a count", 1, max)
}

/// A whole number from `min` to `max`; `what` names it in the error (`a count`).
pub fn parse_bounded<T>(text: &str, what: &'static str, min: T, max: T) -> Result<T, ValueError>
where
    T: std::str::FromStr + PartialOrd + Into<u64> + Copy,
{
    match text.parse::<T>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ValueError::OutOfRange {
            text: text.to_string(),
            what,
            min: min.into(),
            max: max.into(),
        }),
    }
}

/// `500ms`, `1s`, `1.5s`, `2m`: a number and a unit, from 1ms to 10m. A bare number is
/// refused: `--timeout 500` meant milliseconds as often as seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000.0)
    } else if is_decimal(text) {
        return Err(ValueError::NoUnit(text.to_string()));
    } else {
        (text, 0.0)
    };
    let out_of_range = || ValueError::NotADuration(text.to_string());
    if !is_decimal(number) {
        return Err(out_of_range());
    }
    // Checked before any conversion: 1e300 or 2^64 seconds must not reach `Duration`.
    let millis = crate::decimal::parse_f64(number).ok_or_else(out_of_range)? * unit_ms;
    if !(MIN_DURATION_MS..=MAX_DURATION_MS).contains(&millis) {
        return Err(out_of_range());
    }
    Ok(Duration::from_micros((millis * 1000.0).round() as u64))
}

/// Digits with at most one decimal point: no sign, exponent, `inf` or `NaN`.
fn is_decimal(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Cli, Error> {
        parse(line.split_whitespace().map(OsString::from).collect())
    }

    fn usage_error(line: &str) -> String {
        match parse_str(line) {
            Err(Error::Usage(usage)) => usage.to_string(),
            other => panic!("{line}: {other:?}"),
        }
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
            (Duration::from_secs(1), Duration::from_secs(5))
        );
        assert_eq!(args.libc, Libc::Glibc);
        assert_eq!(args.resolv_conf, PathBuf::from(DEFAULT_RESOLV_CONF));

        let cli = parse_str(
            "-o text nslookup --server 10.0.0.10 --server=[fd00::a]:5353 --type srv --no-search \
             --libc=musl --tcp --timeout 250ms --deadline 2s _http._tcp.hostnames",
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
        let cli = parse_str("nslookup x --output=text").unwrap();
        assert_eq!(cli.format, Format::Text);
    }

    #[test]
    fn usage_errors_are_errors_not_panics() {
        for line in [
            "",
            "nslookup",
            "nslookup a b",
            "nslookup --server dns.local a",
            "nslookup --type BOGUS a",
            "nslookup --timeout 0 a",
            "nslookup --timeout 0ms a",
            "nslookup --timeout -1s a",
            "nslookup --timeout 1h a",
            "nslookup --timeout NaNs a",
            "nslookup --timeout 500 a",
            "nslookup --libc bionic a",
            "nslookup --timeout 1s --timeout 2s a",
            "-o yaml resolvconf",
            "-o json resolvconf -o text",
            "frobnicate",
            "resolvconf --bogus",
            "resolvconf --file",
            "resolvconf extra",
            "frobnicate --help",
            "help frobnicate",
            "help diagnose extra",
            "--bogus",
            "--bogus diagnose x",
        ] {
            let result = parse_str(line);
            assert!(matches!(result, Err(Error::Usage(_))), "{line}: {result:?}");
        }
    }

    #[test]
    fn usage_errors_name_the_culprit_and_the_commands_help() {
        let error = usage_error("diagnose --bogus hostnames");
        assert_eq!(
            error,
            "diagnose: unknown option `--bogus`; see 'svcprobe diagnose --help'"
        );
        assert!(usage_error("frobnicate").ends_with("see 'svcprobe --help'"));
        let error = usage_error("");
        assert!(error.starts_with("no command given\n\n"), "{error}");
        assert!(error.contains("Commands:"), "the usage follows: {error}");
        assert!(usage_error("tcp --timeout 500 a:1").contains("has no unit"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_str("--help").unwrap().command, Command::Help(usage()));
        assert_eq!(parse_str("-h").unwrap().command, Command::Help(usage()));
        assert_eq!(parse_str("help").unwrap().command, Command::Help(usage()));
        for line in [
            "nslookup --help",
            "nslookup -h",
            "--help nslookup",
            "help nslookup",
            "nslookup --bogus --help",
        ] {
            assert_eq!(
                parse_str(line).unwrap().command,
                Command::Help(command_usage(&NSLOOKUP)),
                "{line}"
            );
        }
        assert_eq!(parse_str("-V").unwrap().command, Command::Version);
        assert_eq!(parse_str("tcp -V").unwrap().command, Command::Version);
    }

    #[test]
    fn every_help_fits_80_columns_and_shows_the_defaults_the_code_uses() {
        let mut texts = vec![usage()];
        texts.extend(COMMANDS.iter().map(|spec| command_usage(spec)));
        for text in &texts {
            for line in text.lines() {
                assert!(line.chars().count() <= flags::WIDTH, "too wide: {line}");
            }
        }
        let nslookup = command_usage(&NSLOOKUP);
        assert!(nslookup.contains("per-query deadline, e.g. 500ms, 2s (default 1s)"));
        for spec in COMMANDS {
            assert!(usage().contains(spec.summary.split(' ').next().unwrap()));
        }
    }

    #[test]
    fn every_default_parses() {
        // A default that its own parser refused would be a usage error nobody typed.
        for line in [
            "resolvconf",
            "nslookup x",
            "tcp x:1",
            "http http://x/",
            "serve",
            "diagnose x",
            "hairpin x",
            "exporter",
            "node",
            "node x",
        ] {
            assert!(parse_str(line).is_ok(), "{line}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        assert!(parse_duration("0.5ms").is_err());
        for bad in [
            "",
            "ms",
            "3",
            "500",
            "1e300s",
            "1e300",
            "18446744073709551616s",
            "18446744073709551616",
            "2e19s",
            "-1s",
            "+1s",
            "NaNs",
            "infs",
            "1.s",
            ".5s",
            "10.1m",
            "1h",
            "1 s",
            "0s",
        ] {
            let error = parse_duration(bad).unwrap_err().to_string();
            assert!(
                error.contains("1ms") && error.contains("10m"),
                "{bad}: {error}"
            );
        }
    }
}
