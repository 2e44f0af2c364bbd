//! Why a command line cannot be used, as types: [`ValueError`] for one value (a port, a
//! duration, a URL, ...) and [`ArgError`] for the command line around it (which flag,
//! which operand, which flags contradict each other). Each prints the one line a user
//! sees on stderr, so the messages are written here once and the parsers only choose.

use std::fmt;

use crate::exporter::allow::EntryError;
use crate::kubeapi::config::UrlError as ApiUrlError;
use crate::probe::url::UrlError;
use crate::service_name::{NameError, NamespaceConflict};

/// Why one value, of a flag or an operand, is not what it should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// `0` as a port.
    PortZero,
    /// `http` as a port: a name from the Service, not its number.
    PortName(String),
    NotAPort(String),
    /// A number outside what the flag takes; `what` is `a count`, `a byte count`, ...
    OutOfRange {
        text: String,
        what: &'static str,
        min: u64,
        max: u64,
    },
    /// `500`: a duration without its unit.
    NoUnit(String),
    NotADuration(String),
    /// A word outside a closed list (`--libc bionic`); `choices` when the list is short.
    Unknown {
        what: &'static str,
        text: String,
        choices: Option<&'static str>,
    },
    /// `--server dns.local`: DNS cannot be used to find DNS.
    NotAServer(String),
    NotAnIp(String),
    /// One of `--dns-endpoints`: addresses only.
    NotADnsIp(String),
    /// One of `--endpoints`.
    NotAnEndpoint(String),
    /// `--listen`.
    NotListen(String),
    /// kube-proxy's `--metrics`/`--healthz`.
    NotHttpBase {
        url: String,
        example: &'static str,
    },
    /// `--external-name`.
    NotExternalName(String),
    /// `--target MODULE:TARGET`.
    NotScheduled(String),
    NotAHost(String),
    /// A `tcp` target without `:PORT`.
    NoPort(String),
    /// `fd00::1:80`: the port cannot be told from the address.
    BareIpv6(String),
    /// The port of a `tcp` target.
    TargetPort {
        text: String,
        source: Box<ValueError>,
    },
    /// The URL of `http`.
    Url {
        url: String,
        error: UrlError,
    },
    /// `[fd00::1:80`.
    Unclosed(String),
    BracketedNotIp {
        text: String,
        ip: String,
    },
    /// `[fd00::1]80`.
    NoPortAfterBracket(String),
    /// A Service name or a namespace.
    Name(NameError),
    ApiServer(ApiUrlError),
    Allow(EntryError),
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ValueError::*;
        match self {
            PortZero => write!(f, "port 0 is not a port (1-65535)"),
            PortName(text) => write!(
                f,
                "`{text}` is a port name; give its number (1-65535), e.g. from \
                 `kubectl get service NAME -o wide`"
            ),
            NotAPort(text) => write!(f, "`{text}` is not a port (1-65535)"),
            OutOfRange {
                text,
                what,
                min,
                max,
            } => write!(f, "`{text}` is not {what} from {min} to {max}"),
            NoUnit(text) => write!(
                f,
                "`{text}` has no unit: a duration is 1ms to 10m, e.g. 500ms or 2s"
            ),
            NotADuration(text) => write!(
                f,
                "`{text}` is not a duration from 1ms to 10m (e.g. 500ms, 2s)"
            ),
            Unknown {
                what,
                text,
                choices,
            } => {
                write!(f, "unknown {what} `{text}`")?;
                match choices {
                    Some(choices) => write!(f, " (use {choices})"),
                    None => Ok(()),
                }
            }
            NotAServer(text) => write!(
                f,
                "`{text}` is not IP or IP:PORT (a name would need DNS to find DNS)"
            ),
            NotAnIp(text) => write!(f, "`{text}` is not an IP address"),
            NotADnsIp(text) => write!(f, "`{text}` is not an IP address (the port is 53)"),
            NotAnEndpoint(text) => write!(f, "`{text}` is not IP:PORT"),
            NotListen(text) => write!(f, "`{text}` is not IP:PORT or :PORT"),
            NotHttpBase { url, example } => {
                write!(f, "`{url}` is not http://IP:PORT (e.g. {example})")
            }
            NotExternalName(text) => write!(
                f,
                "`{text}` is not a DNS name with a dot (e.g. example.com)"
            ),
            NotScheduled(text) => {
                write!(f, "`{text}` is not MODULE:TARGET (e.g. service:hostnames)")
            }
            NotAHost(text) => write!(f, "`{text}` is not an IP address or a host name"),
            NoPort(text) => write!(f, "`{text}` has no port (use host:port)"),
            BareIpv6(text) => write!(f, "`{text}`: write an IPv6 address as [addr]:port"),
            TargetPort { text, source } => write!(f, "`{text}`: {source}"),
            Url { url, error } => match error {
                UrlError::Syntax(reason) => write!(f, "`{url}` is not a URL: {reason}"),
                UrlError::Scheme(scheme) => {
                    write!(f, "`{scheme}` URLs are not supported (http, https)")
                }
                UrlError::NoScheme => write!(f, "`{url}` needs a scheme: http://{url}"),
                UrlError::NoHost => write!(f, "`{url}` has no host"),
                UrlError::PortZero => write!(f, "`{url}`: port 0"),
                UrlError::Credentials => write!(
                    f,
                    "`{url}`: credentials in a URL are not supported (the report shows the URL)"
                ),
            },
            Unclosed(text) => write!(f, "`{text}`: unclosed ["),
            BracketedNotIp { text, ip } => write!(f, "`{text}`: `{ip}` is not an IP address"),
            NoPortAfterBracket(text) => write!(f, "`{text}`: expected :PORT after ]"),
            Name(e) => write!(f, "{e}"),
            ApiServer(e) => write!(f, "{e}"),
            Allow(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ValueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ValueError::TargetPort { source, .. } => Some(source.as_ref()),
            ValueError::Name(e) => Some(e),
            ValueError::ApiServer(e) => Some(e),
            ValueError::Allow(e) => Some(e),
            _ => None,
        }
    }
}

impl From<NameError> for ValueError {
    fn from(e: NameError) -> Self {
        ValueError::Name(e)
    }
}

/// Why a command line cannot be used: the flag or operand at fault, with its value's
/// error, or the flags that cannot go together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgError {
    UnknownCommand(String),
    UnknownOption(String),
    /// A flag that is not repeatable, twice (named as declared).
    Repeated(&'static str),
    /// `--tcp=yes`.
    TakesNoValue(&'static str),
    NeedsValue {
        flag: &'static str,
        placeholder: &'static str,
    },
    ValueNotUtf8(&'static str),
    /// The value of `flag` is wrong.
    Value {
        flag: &'static str,
        source: ValueError,
    },
    /// A flag asked for its default has none (a bug in a flag table, not in the input).
    NoDefault(&'static str),
    /// A declared default that its own parser refuses (a bug in a flag table).
    Default {
        flag: &'static str,
        source: ValueError,
    },
    OperandNotUtf8(String),
    /// `what` is the operand the command needs: `a SERVICE name`, `a URL`, ...
    MissingOperand(&'static str),
    Unexpected(String),
    /// The operand is wrong.
    Operand(ValueError),
    Namespace(NamespaceConflict),
    /// `hairpin 10.0.0.1 -n prod`.
    AddressWithNamespace(String),
    /// `hairpin web:80 --port 81`.
    PortsDiffer {
        target: String,
        port: u16,
    },
    NoTargets,
    TooManyTargets(usize),
    CacertAndInsecure,
    NoApiExcludes,
    ObjectsReplaceApi,
    /// `node --port 80` without a Service.
    NeedsService,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ArgError::*;
        match self {
            UnknownCommand(name) => write!(f, "unknown command `{name}`"),
            UnknownOption(spelled) => write!(f, "unknown option `{spelled}`"),
            Repeated(flag) => write!(f, "`{flag}` is given more than once"),
            TakesNoValue(flag) => write!(f, "`{flag}` takes no value"),
            NeedsValue { flag, placeholder } => {
                write!(f, "`{flag}` needs a value ({placeholder})")
            }
            ValueNotUtf8(flag) => write!(f, "`{flag}`: the value is not valid UTF-8"),
            Value { flag, source } => write!(f, "`{flag}`: {source}"),
            NoDefault(flag) => write!(f, "`{flag}` has no default"),
            Default { flag, source } => write!(f, "the default of `{flag}`: {source}"),
            OperandNotUtf8(text) => write!(f, "argument `{text}` is not valid UTF-8"),
            MissingOperand(what) => write!(f, "needs {what}"),
            Unexpected(text) => write!(f, "unexpected argument `{text}`"),
            Operand(e) => write!(f, "{e}"),
            Namespace(e) => write!(f, "{e}"),
            AddressWithNamespace(target) => {
                write!(f, "`{target}` is an address: -n applies to a Service name")
            }
            PortsDiffer { target, port } => {
                write!(f, "`{target}` and --port {port} name different ports")
            }
            NoTargets => write!(f, "needs at least one TARGET (host:port)"),
            TooManyTargets(max) => write!(f, "at most {max} targets"),
            CacertAndInsecure => write!(f, "--cacert and --insecure contradict each other"),
            NoApiExcludes => write!(
                f,
                "--no-api excludes --api, --api-server, --token-file and --cacert"
            ),
            ObjectsReplaceApi => write!(
                f,
                "--objects replaces the API read: drop --api, --api-server, --token-file, \
                 --cacert"
            ),
            NeedsService => write!(f, "--port and --objects need a SERVICE"),
        }
    }
}

impl std::error::Error for ArgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ArgError::Value { source, .. } | ArgError::Default { source, .. } => Some(source),
            ArgError::Operand(e) => Some(e),
            ArgError::Namespace(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ValueError> for ArgError {
    fn from(e: ValueError) -> Self {
        ArgError::Operand(e)
    }
}

impl From<NamespaceConflict> for ArgError {
    fn from(e: NamespaceConflict) -> Self {
        ArgError::Namespace(e)
    }
}
