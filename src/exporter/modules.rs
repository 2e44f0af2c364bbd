//! Modules: what a `/probe?module=M` (or a scheduled `M:TARGET`) runs. Each is one of
//! svcprobe's commands (its prober) with extra flags from the config; the exporter builds
//! that command's line with the target as its operand and the probe's time budget as its
//! deadline, parses it with the command's own parser, and runs the command's library
//! function. So a module does exactly what the command does, and a target the command would
//! refuse is refused the same way.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::allow::Host;
use super::metrics::{self, Sample};
use crate::cli::hairpin::ServiceHost;
use crate::cli::{self, probes, Command};
use crate::cmd;
use crate::error::{Error, Usage};
use crate::report::{
    DiagnoseReport, Envelope, HairpinReport, HttpOutcome, HttpReport, LookupStatus, NslookupReport,
    Resolution, TcpOutcome, TcpReport,
};

/// The command a module runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prober {
    /// `diagnose TARGET`: the whole walk, a cause.
    Service,
    /// `nslookup TARGET`: the name through the search list, glibc's and musl's answers.
    Dns,
    /// `tcp TARGET`: one connect.
    Tcp,
    /// `http TARGET`: one GET.
    Http,
    /// `hairpin TARGET`: from a pod that backs the Service.
    Hairpin,
}

impl Prober {
    fn command(self) -> &'static str {
        match self {
            Prober::Service => "diagnose",
            Prober::Dns => "nslookup",
            Prober::Tcp => "tcp",
            Prober::Http => "http",
            Prober::Hairpin => "hairpin",
        }
    }

    /// A target the command takes, to check a module's flags when the config is read.
    fn example_target(self) -> &'static str {
        match self {
            Prober::Service | Prober::Dns | Prober::Hairpin => "hostnames",
            Prober::Tcp => "hostnames:80",
            Prober::Http => "http://hostnames/",
        }
    }

    /// The flags that carry the probe's time budget (the exporter sets them), in the
    /// command's own terms.
    fn budget_flags(self, budget: Duration) -> Vec<(&'static str, Duration)> {
        let cap = |d: Duration| d.min(budget);
        match self {
            Prober::Service => vec![
                ("--deadline", budget),
                ("--timeout", cap(Duration::from_secs(2))),
            ],
            Prober::Dns => vec![
                ("--deadline", budget),
                ("--timeout", cap(Duration::from_secs(1))),
            ],
            Prober::Hairpin => vec![
                ("--deadline", budget),
                ("--timeout", cap(Duration::from_millis(1500))),
            ],
            // Resolving the name and the connect (or request) each get their own deadline
            // of --timeout: half the budget each.
            Prober::Tcp => vec![("--timeout", budget / 2)],
            Prober::Http => vec![
                ("--timeout", budget / 2),
                ("--connect-timeout", cap(Duration::from_secs(2)) / 2),
            ],
        }
    }
}

/// The built-in modules' time budget: `diagnose`'s default deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub prober: Prober,
    /// The longest a probe may take; a shorter scrape timeout shortens it.
    pub timeout: Duration,
    /// Flags of the prober's command (`--count 3`, `--no-api`, `-n web`, ...).
    pub args: Vec<String>,
}

/// Every module by name: the built-in ones, blackbox_exporter's two common names for the
/// same probes (`http_2xx`, `tcp_connect`, so that scrape configs written for it work), and
/// the config's.
pub fn builtin() -> BTreeMap<String, Module> {
    let module = |prober| Module {
        prober,
        timeout: DEFAULT_TIMEOUT,
        args: Vec::new(),
    };
    [
        ("service", module(Prober::Service)),
        ("dns", module(Prober::Dns)),
        ("tcp", module(Prober::Tcp)),
        ("http", module(Prober::Http)),
        ("hairpin", module(Prober::Hairpin)),
        ("http_2xx", module(Prober::Http)),
        ("tcp_connect", module(Prober::Tcp)),
    ]
    .into_iter()
    .map(|(name, m)| (name.to_string(), m))
    .collect()
}

/// Flags a module may not carry: the exporter sets the time budget and the output, and a
/// server has no standard input to read objects from.
const RESERVED: [&str; 6] = [
    "--deadline",
    "--timeout",
    "--connect-timeout",
    "--output",
    "-o",
    "--help",
];

/// Why a module's flags cannot be used.
#[derive(Debug)]
pub enum ModuleError {
    /// A flag the exporter sets itself.
    Reserved { module: String, flag: String },
    /// `--objects -`.
    ReadsStdin { module: String },
    /// The command's own parser refused the flags.
    Refused { module: String, source: Box<Error> },
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleError::Reserved { module, flag } => write!(
                f,
                "module `{module}`: `{flag}` is set by the exporter (use the module's timeout)"
            ),
            ModuleError::ReadsStdin { module } => write!(
                f,
                "module `{module}`: `--objects -` reads standard input, which a server does \
                 not have"
            ),
            ModuleError::Refused { module, source } => write!(f, "module `{module}`: {source}"),
        }
    }
}

impl std::error::Error for ModuleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ModuleError::Refused { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Checks a module's flags against its command's parser, with an example target.
pub fn validate(name: &str, module: &Module) -> Result<(), ModuleError> {
    for arg in &module.args {
        let flag = arg.split('=').next().unwrap_or_default();
        if RESERVED.contains(&flag) {
            return Err(ModuleError::Reserved {
                module: name.to_string(),
                flag: flag.to_string(),
            });
        }
    }
    if module
        .args
        .windows(2)
        .any(|w| w[0] == "--objects" && w[1] == "-")
        || module.args.iter().any(|a| a == "--objects=-")
    {
        return Err(ModuleError::ReadsStdin {
            module: name.to_string(),
        });
    }
    parse(module, module.prober.example_target(), module.timeout)
        .map(|_| ())
        .map_err(|source| ModuleError::Refused {
            module: name.to_string(),
            source: Box::new(source),
        })
}

/// The command line of one probe (without the program name).
fn command_line(module: &Module, target: &str, budget: Duration) -> Vec<OsString> {
    let mut line: Vec<OsString> = vec![module.prober.command().into()];
    line.extend(module.args.iter().map(OsString::from));
    for (flag, duration) in module.prober.budget_flags(budget) {
        let ms = duration.as_millis().max(1);
        line.push(format!("{flag}={ms}ms").into());
    }
    // blackbox_exporter's http prober takes `host:port` and adds the scheme.
    let target = match module.prober {
        Prober::Http if !target.contains("://") => format!("http://{target}"),
        _ => target.to_string(),
    };
    // After `--`, a target that starts with `-` is an operand, never a flag.
    line.push("--".into());
    line.push(target.into());
    line
}

/// The probe as its command, parsed by the command's own parser.
pub fn parse(module: &Module, target: &str, budget: Duration) -> Result<Command, Error> {
    cli::parse(command_line(module, target, budget)).map(|cli| cli.command)
}

/// What a parsed probe would connect to, for the allow list.
pub fn host(command: &Command) -> Host<'_> {
    match command {
        Command::Tcp(args) => args
            .targets
            .first()
            .map_or(Host::Service(None), |t| probe_host(&t.host)),
        Command::Http(args) => probe_host(&args.host),
        Command::Nslookup(_) => Host::LookupOnly,
        Command::Diagnose(args) => Host::Service(args.service.cluster_domain.as_deref()),
        Command::Hairpin(args) => match &args.host {
            ServiceHost::Ip(ip) => Host::Ip(*ip),
            ServiceHost::Name(name) => Host::Service(name.cluster_domain.as_deref()),
        },
        // Not a probe: `parse` of a module never yields these, and nothing connects.
        _ => Host::Service(None),
    }
}

fn probe_host(host: &probes::Host) -> Host<'_> {
    match host {
        probes::Host::Ip(ip) => Host::Ip(*ip),
        probes::Host::Name(name) => Host::Name(name),
    }
}

/// What one probe came to.
pub struct Outcome {
    /// The command ran and found everything healthy (its report's `ok`).
    pub success: bool,
    /// False when the command could not run at all (its `error` document).
    pub ran: bool,
    /// The prober's own metrics (not `probe_success` and `probe_duration_seconds`).
    pub samples: Vec<Sample>,
    /// The report (or `error` document) as JSON, when asked for.
    pub json: Option<String>,
    /// Where the probe ended, in its command's vocabulary: the cause for `service`, the
    /// lookup status for `dns`, the attempt's outcome for `tcp` and `http`, the verdict's
    /// reason for `hairpin`, the error kind when it could not run.
    pub state: &'static str,
    /// One sentence: why.
    pub summary: String,
}

impl Outcome {
    /// Every sample of the probe: the prober's, `probe_success` and
    /// `probe_duration_seconds` (the probe took `elapsed`).
    pub fn take_samples(&mut self, elapsed: Duration) -> Vec<Sample> {
        let mut samples = std::mem::take(&mut self.samples);
        samples.push(Sample::new(
            &metrics::PROBE_SUCCESS,
            f64::from(u8::from(self.success)),
        ));
        samples.push(Sample::new(&metrics::PROBE_DURATION, elapsed.as_secs_f64()));
        samples
    }
}

/// Runs a parsed probe through its command's library function.
pub fn run(command: Command, want_json: bool) -> Outcome {
    match command {
        Command::Diagnose(args) => SERVICE.finish(cmd::diagnose::run(&args), want_json),
        Command::Nslookup(args) => DNS.finish(cmd::nslookup::run(&args), want_json),
        Command::Tcp(args) => TCP.finish(cmd::tcp::run(&args), want_json),
        Command::Http(args) => HTTP.finish(cmd::http::run(&args), want_json),
        Command::Hairpin(args) => HAIRPIN.finish(cmd::hairpin::run(&args), want_json),
        _ => could_not_run("exporter", &Error::Usage(Usage::NotAProbe), want_json),
    }
}

/// How the exporter reads one command's report: the command (for its `error` document),
/// its metrics, and where the probe ended ([`Outcome::state`]) with why.
struct Reading<R> {
    command: &'static str,
    samples: fn(&R) -> Vec<Sample>,
    state: fn(&R) -> (&'static str, String),
}

const SERVICE: Reading<DiagnoseReport> = Reading {
    command: "diagnose",
    samples: metrics::service,
    state: |r| (r.verdict.cause.as_str(), r.verdict.summary.clone()),
};
const DNS: Reading<NslookupReport> = Reading {
    command: "nslookup",
    samples: metrics::dns,
    state: |r| (r.answer.status.as_str(), r.answer.reason.clone()),
};
const TCP: Reading<TcpReport> = Reading {
    command: "tcp",
    samples: metrics::tcp,
    state: tcp_state,
};
const HTTP: Reading<HttpReport> = Reading {
    command: "http",
    samples: metrics::http,
    state: http_state,
};
const HAIRPIN: Reading<HairpinReport> = Reading {
    command: "hairpin",
    samples: metrics::hairpin,
    state: |r| (r.verdict.reason.as_str(), r.verdict.summary.clone()),
};

impl<R: Serialize> Reading<R> {
    fn finish(&self, result: Result<Envelope<R>, Error>, want_json: bool) -> Outcome {
        match result {
            Ok(envelope) => {
                let (state, summary) = (self.state)(&envelope.report);
                Outcome {
                    success: envelope.ok,
                    ran: true,
                    samples: (self.samples)(&envelope.report),
                    json: want_json.then(|| pretty(&envelope)),
                    state,
                    summary,
                }
            }
            Err(error) => could_not_run(self.command, &error, want_json),
        }
    }
}

/// A probe whose command could not run: `probe_success 0` and its error.
pub fn could_not_run(command: &'static str, error: &Error, want_json: bool) -> Outcome {
    Outcome {
        success: false,
        ran: false,
        samples: Vec::new(),
        json: want_json.then(|| pretty(&crate::output::error_envelope(command, error))),
        state: error.kind(),
        summary: error.to_string(),
    }
}

fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

fn tcp_state(report: &TcpReport) -> (&'static str, String) {
    let target = report.targets.first();
    let attempt = target
        .and_then(|t| t.addresses.first())
        .and_then(|a| a.attempts.first().map(|at| (a, at)));
    let attempt = attempt.map(|(address, attempt)| {
        let summary = match attempt.outcome {
            TcpOutcome::Connected => format!("{}: connected", address.address),
            outcome => failed(&address.address, outcome, attempt.detail.as_deref()),
        };
        (attempt.outcome.as_str(), summary)
    });
    first_attempt_state(attempt, target.and_then(|t| t.resolution.as_ref()))
}

fn http_state(report: &HttpReport) -> (&'static str, String) {
    let attempt = report.attempts.first().map(|attempt| {
        let summary = match (attempt.outcome, attempt.status) {
            (HttpOutcome::Response, Some(status)) => format!("{}: {status}", report.url),
            (outcome, _) => failed(&report.url, outcome, attempt.detail.as_deref()),
        };
        (attempt.outcome.as_str(), summary)
    });
    first_attempt_state(attempt, report.resolution.as_ref())
}

/// `10.0.0.1:80: refused (detail)`.
fn failed(what: &str, outcome: impl fmt::Display, detail: Option<&str>) -> String {
    let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
    format!("{what}: {outcome}{detail}")
}

/// Where a `tcp` or `http` probe ended: its first attempt's state, else its name's lookup.
fn first_attempt_state(
    attempt: Option<(&'static str, String)>,
    resolution: Option<&Resolution>,
) -> (&'static str, String) {
    match (attempt, resolution) {
        (Some(state), _) => state,
        (None, Some(resolution)) => (resolution.status.as_str(), resolution.reason.clone()),
        (None, None) => (LookupStatus::Error.as_str(), "nothing to connect to".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        let modules = builtin();
        let line = |module: &str, target: &str| {
            command_line(&modules[module], target, Duration::from_millis(4500))
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            line("service", "hostnames.default"),
            "diagnose --deadline=4500ms --timeout=2000ms -- hostnames.default"
        );
        assert_eq!(
            line("http_2xx", "10.0.1.175:80"),
            "http --timeout=2250ms --connect-timeout=1000ms -- http://10.0.1.175:80"
        );
        assert_eq!(line("tcp", "--help"), "tcp --timeout=2250ms -- --help");
        assert!(parse(&modules["tcp"], "--help", DEFAULT_TIMEOUT).is_err());
    }

    #[test]
    fn every_builtin_module_takes_its_example_target() {
        for (name, module) in builtin() {
            validate(&name, &module).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn module_flags_are_checked() {
        let module = |args: &[&str]| Module {
            prober: Prober::Service,
            timeout: DEFAULT_TIMEOUT,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        assert!(validate("m", &module(&["--count", "3", "--no-api"])).is_ok());
        for bad in [
            &["--deadline", "1s"][..],
            &["--timeout=1s"],
            &["--objects", "-"],
            &["--bogus"],
            &["--count", "0"],
        ] {
            assert!(validate("m", &module(bad)).is_err(), "{bad:?}");
        }
    }
}
