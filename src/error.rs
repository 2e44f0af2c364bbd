//! The error kinds svcprobe can end with, and the exit codes they map to.
//!
//! A probe that *ran* and found a problem is not an error: it is a report with `ok: false`
//! and exit code 1. The types here are for the two other ways a command ends: the user
//! asked for something we cannot parse (usage, exit 2), or the command could not run at
//! all, e.g. an unreadable file (exit 3).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::cli::ArgError;
use crate::dns::wire::NameError;

/// Process exit codes, documented in README.md ("Exit codes"). Scripts rely on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// The probe ran and everything it checked is healthy (warnings allowed).
    Ok = 0,
    /// The probe ran and found a problem; the report says which.
    Problem = 1,
    /// The command line could not be understood.
    Usage = 2,
    /// The probe could not run (unreadable file, no usable nameserver, ...).
    CouldNotRun = 3,
}

/// Everything that stops a command before it can produce its report.
#[derive(Debug)]
pub enum Error {
    /// A flag, argument or value on the command line is wrong.
    Usage(Usage),
    /// A file the command needs could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file the command needs was read but does not hold what it should (e.g.
    /// `--objects` that are not Kubernetes objects).
    Invalid {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// HTTPS cannot be verified: no CA certificates to verify against.
    Trust(crate::probe::tls::TrustError),
    /// The system refused something the command needs (binding a port, a thread, ...).
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::Read { .. } => ExitCode::CouldNotRun,
            Error::Invalid { .. } => ExitCode::CouldNotRun,
            Error::Trust(_) => ExitCode::CouldNotRun,
            Error::Io { .. } => ExitCode::CouldNotRun,
        }
    }

    /// The stable, machine-readable kind, as it appears in the JSON `error.kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::Read { .. } => "read",
            Error::Invalid { .. } => "invalid-input",
            Error::Trust(_) => "read",
            Error::Io { .. } => "io",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(usage) => write!(f, "{usage}"),
            Error::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Error::Invalid { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Trust(e) => write!(
                f,
                "{e}: give the server's CA with --cacert FILE (for the cluster's API server, the \
                 service account's {}/ca.crt), or --insecure to skip verification",
                crate::kubeapi::SERVICE_ACCOUNT_DIR
            ),
            Error::Io { what, source } => write!(f, "cannot {what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } | Error::Io { source, .. } => Some(source),
            Error::Invalid { source, .. } => Some(source.as_ref()),
            Error::Trust(e) => Some(e),
            Error::Usage(usage) => Some(usage),
        }
    }
}

/// What is wrong with what the user asked for; each says what to do instead.
#[derive(Debug)]
pub enum Usage {
    /// No command: the usage text follows.
    NoCommand,
    /// Before the command name, or `help`'s arguments.
    Global(ArgError),
    /// A command's own arguments: points to its `--help`.
    Command {
        command: &'static str,
        error: ArgError,
    },
    /// `hairpin`'s Service address is this pod's own.
    OwnAddress(IpAddr),
    /// `nslookup`'s NAME cannot be looked up.
    Name { name: String, error: NameError },
    /// A scheduled exporter target whose module does not exist.
    UnknownModule {
        module: String,
        target: String,
        known: Vec<String>,
    },
    /// A scheduled exporter target that its module's command refuses.
    Target {
        module: String,
        target: String,
        error: Box<Error>,
    },
    /// The exporter asked to run a command that is not a probe (a bug, not input).
    NotAProbe,
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Usage::NoCommand => write!(f, "no command given\n\n{}", crate::cli::usage().trim_end()),
            Usage::Global(e) => write!(f, "{e}; see 'svcprobe --help'"),
            Usage::Command { command, error } => {
                write!(f, "{command}: {error}; see 'svcprobe {command} --help'")
            }
            Usage::OwnAddress(ip) => write!(
                f,
                "{ip} is an address of this pod: give the Service's ClusterIP"
            ),
            Usage::Name { name, error } => write!(f, "nslookup `{name}`: {error}"),
            Usage::UnknownModule {
                module,
                target,
                known,
            } => write!(
                f,
                "exporter: target `{module}:{target}`: unknown module `{module}` (modules: {})",
                known.join(", ")
            ),
            Usage::Target {
                module,
                target,
                error,
            } => write!(f, "exporter: target `{module}:{target}`: {error}"),
            Usage::NotAProbe => write!(f, "not a probe"),
        }
    }
}

impl std::error::Error for Usage {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Usage::Global(e) | Usage::Command { error: e, .. } => Some(e),
            Usage::Target { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}
