//! THE report schema: every JSON document svcprobe prints is built from the types here.
//!
//! Scripts parse this output, so field names are a contract: `snake_case`, units in the
//! name (`duration_ms`), and a `schema_version` that changes when a field changes meaning
//! or disappears. README.md shows an example of each report.

use serde::Serialize;

/// Bumped when a field is removed or changes meaning; adding fields keeps the version.
pub const SCHEMA_VERSION: u32 = 1;

/// Declares a closed vocabulary: an enum whose every variant is spelled once, here, with the
/// string that the JSON (and the text views) use for it. It serializes as that string and
/// lists its values in `ALL`, so tables and tests can cover every one.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling the JSON and the text views use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

/// What every command prints: the envelope that scripts can check first.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    pub schema_version: u32,
    /// The subcommand that produced this report (`nslookup`, `resolvconf`, ...).
    pub command: &'static str,
    /// False when the probe found a problem; the exit code is then 1.
    pub ok: bool,
    #[serde(flatten)]
    pub report: T,
}

/// Printed on stdout when a command could not run at all (exit code 3), so that a
/// caller asking for JSON always gets JSON.
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    /// Stable kind: `usage`, `read`, `io`.
    pub kind: &'static str,
    pub message: String,
}

/// How bad a finding is. `error` makes the report fail (`ok: false`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

vocabulary! {
    /// What a finding is about: a stable code that scripts and the README rely on. The
    /// `resolvconf` lint's codes come first (diagnose's `resolv-conf` check shows them too),
    /// then `nslookup`'s, then those of the connectivity probes (`tcp`, `http`).
    pub enum FindingCode {
        NoNameserver = "no-nameserver",
        InvalidNameserver = "invalid-nameserver",
        TooManyNameservers = "too-many-nameservers",
        NoSearch = "no-search",
        EmptySearch = "empty-search",
        InvalidSearchDomain = "invalid-search-domain",
        SearchOverridden = "search-overridden",
        SearchLineTooLongForMusl = "search-line-too-long-for-musl",
        SearchTooLongForOldResolvers = "search-too-long-for-old-resolvers",
        NotKubernetesSearch = "not-kubernetes-search",
        SearchMissingNamespaceDomain = "search-missing-namespace-domain",
        SearchMissingSvcDomain = "search-missing-svc-domain",
        SearchMissingClusterDomain = "search-missing-cluster-domain",
        SearchOrder = "search-order",
        NdotsLow = "ndots-low",
        NdotsClamped = "ndots-clamped",
        IndentedLine = "indented-line",
        UnknownKeyword = "unknown-keyword",
        UnknownOption = "unknown-option",
        MalformedOption = "malformed-option",
        OptionIgnoredByMusl = "option-ignored-by-musl",
        /// No DNS server answered any query (refused, dropped, or not an answer).
        DnsUnreachable = "dns-unreachable",
        /// The server answered SERVFAIL or REFUSED.
        DnsServerError = "dns-server-error",
        TruncatedAnswer = "truncated-answer",
        /// glibc and musl programs get different answers for the name.
        LibcDisagreement = "libc-disagreement",
        /// `--source` is of the other IP family than every address of a target.
        SourceFamilyMismatch = "source-family-mismatch",
        NameNotResolved = "name-not-resolved",
        /// Some attempts to an address got through and some did not.
        SomeAttemptsFailed = "some-attempts-failed",
        /// Attempts that failed this way, named after their outcome ([`TcpOutcome`],
        /// [`HttpOutcome`]).
        Refused = "refused",
        Rejected = "rejected",
        Timeout = "timeout",
        NoRoute = "no-route",
        Tls = "tls",
        Protocol = "protocol",
        Closed = "closed",
        /// A response with a status of 400 or more.
        ErrorStatus = "error-status",
        DistinctResponses = "distinct-responses",
        TlsNotVerified = "tls-not-verified",
        /// Fewer probe threads could start than asked for: the rest ran later or not at all.
        ThreadsLimited = "threads-limited",
    }
}

/// One thing worth telling the user, with a code that scripts and docs can rely on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier, e.g. `ndots-low`, `unknown-option`.
    pub code: FindingCode,
    pub message: String,
    /// 1-based line of the input the finding is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Finding {
    /// A finding about the whole input, not one line of it.
    pub fn new(severity: Severity, code: FindingCode, message: String) -> Finding {
        Finding {
            severity,
            code,
            message,
            line: None,
        }
    }
}

/// The C library whose resolver behaviour is being modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    /// GNU libc (Debian, Ubuntu, distroless/base, most images).
    Glibc,
    /// musl (Alpine, many static binaries).
    Musl,
}

impl Libc {
    pub fn name(self) -> &'static str {
        match self {
            Libc::Glibc => "glibc",
            Libc::Musl => "musl",
        }
    }
}

// ---------------------------------------------------------------------------------------
// resolvconf
// ---------------------------------------------------------------------------------------

/// `svcprobe resolvconf`: what the file says, what each C library makes of it, findings.
#[derive(Debug, Serialize)]
pub struct ResolvConfReport {
    /// The file that was read.
    pub file: String,
    /// Every well-formed `nameserver` line, in file order.
    pub nameservers: Vec<NameserverEntry>,
    /// The search list as written on the line that counts (the last `search`/`domain`).
    pub search: Vec<String>,
    /// Every `options` setting, in file order.
    pub options: Vec<OptionEntry>,
    /// What glibc actually uses.
    pub glibc: EffectiveConfig,
    /// What musl actually uses.
    pub musl: EffectiveConfig,
    /// Namespace and cluster domain inferred from the search list, when it looks like a
    /// Kubernetes pod's (`<ns>.svc.<domain> svc.<domain> <domain>`).
    pub kubernetes: Option<KubernetesContext>,
    pub findings: Vec<Finding>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NameserverEntry {
    pub address: String,
    pub line: usize,
    /// Both libraries use only the first three nameservers (MAXNS).
    pub used_by_glibc: bool,
    pub used_by_musl: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OptionEntry {
    /// The option name, e.g. `ndots`, `single-request-reopen`.
    pub name: String,
    /// The numeric value for `ndots:`, `timeout:`, `attempts:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<u32>,
    pub line: usize,
    pub known_to_glibc: bool,
    pub known_to_musl: bool,
}

/// The resolver settings one C library ends up with after reading the file
/// (clamped, truncated and defaulted the way that library does it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EffectiveConfig {
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub ndots: u32,
    pub timeout_s: u32,
    pub attempts: u32,
    /// Boolean options in effect for this library (`rotate`, `single-request`, `use-vc`, ...).
    pub flags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KubernetesContext {
    /// The pod's namespace, from the first `<ns>.svc.<domain>` search entry.
    pub namespace: Option<String>,
    /// The cluster domain, usually `cluster.local`.
    pub cluster_domain: String,
}

// ---------------------------------------------------------------------------------------
// nslookup
// ---------------------------------------------------------------------------------------

/// `svcprobe nslookup`: every query sent, and what an application would get.
#[derive(Debug, Serialize)]
pub struct NslookupReport {
    /// The name as the user gave it.
    pub name: String,
    /// Record types asked for each candidate (A and AAAA by default, like getaddrinfo).
    pub types: Vec<String>,
    /// The C library whose behaviour decides `answer`.
    pub libc: Libc,
    /// Where the resolver settings came from (a file path, or `--server`).
    pub config_source: String,
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub ndots: u32,
    pub timeout_ms: u64,
    pub deadline_ms: u64,
    /// Every DNS query sent, in order.
    pub queries: Vec<QueryRecord>,
    /// What an application linked against `libc` gets.
    pub answer: LibcAnswer,
    /// What an application linked against the other C library gets, from the same server.
    pub other_libc: LibcAnswer,
    /// Set when the two libraries end with different results: why, in one sentence.
    pub libc_disagreement: Option<String>,
    /// Candidate names whose queries timed out.
    pub timed_out: Vec<String>,
    /// True when the whole-command deadline cut the walk short.
    pub deadline_exceeded: bool,
    pub duration_ms: f64,
    pub findings: Vec<Finding>,
}

/// One question sent to one server, and what came back.
#[derive(Clone, Debug, Serialize)]
pub struct QueryRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    /// `ip:port` of the server asked.
    pub server: String,
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// The response code, or what happened instead of a response.
    pub rcode: Rcode,
    pub answers: Vec<AnswerRecord>,
    /// The TC bit was set: the UDP answer did not fit.
    pub truncated: bool,
    pub authoritative: bool,
    pub duration_ms: f64,
    /// Extra detail for failures (an OS error, a parse error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What one query got: a DNS response code as dig prints it (`NOERROR`, `NXDOMAIN`, ...,
/// `RCODE11` for codes without a name), or what happened instead of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
    /// Any other response code, by number.
    Other(u16),
    /// `TIMEOUT`: no reply in time.
    Timeout,
    /// `UNREACHABLE`: the network said no (ICMP unreachable, no route, connection refused).
    Unreachable,
    /// `BAD_RESPONSE`: something came back that is not a valid answer to the question;
    /// both C libraries discard such a reply.
    BadResponse,
    /// `NOT_SENT`: the whole-command deadline had passed.
    NotSent,
}

impl Rcode {
    pub fn as_str(self) -> std::borrow::Cow<'static, str> {
        let name = match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
            Rcode::Other(code) => return format!("RCODE{code}").into(),
            Rcode::Timeout => "TIMEOUT",
            Rcode::Unreachable => "UNREACHABLE",
            Rcode::BadResponse => "BAD_RESPONSE",
            Rcode::NotSent => "NOT_SENT",
        };
        name.into()
    }
}

impl std::fmt::Display for Rcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.as_str())
    }
}

impl Serialize for Rcode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnswerRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub ttl: u32,
    /// The record data in presentation format (`10.0.1.175`, `0 100 80 target.`).
    pub data: String,
}

/// How a lookup, or one candidate name of it, ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LookupStatus {
    Resolved,
    /// The name exists but has no record of the asked types.
    NoData,
    NxDomain,
    /// A reply that was not a usable answer, or a response code neither library acts on.
    Error,
    Refused,
    ServFail,
    /// The network refused the query (ICMP unreachable).
    Unreachable,
    Timeout,
    /// The whole command's deadline passed before the query could be sent.
    Deadline,
    /// The name cannot be sent at all (`Resolution` of a probe target only).
    Invalid,
}

impl LookupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LookupStatus::Resolved => "resolved",
            LookupStatus::NoData => "nodata",
            LookupStatus::NxDomain => "nxdomain",
            LookupStatus::Error => "error",
            LookupStatus::Refused => "refused",
            LookupStatus::ServFail => "servfail",
            LookupStatus::Unreachable => "unreachable",
            LookupStatus::Timeout => "timeout",
            LookupStatus::Deadline => "deadline",
            LookupStatus::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for LookupStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One C library's walk through the candidate names, and where it ended.
#[derive(Clone, Debug, Serialize)]
pub struct LibcAnswer {
    pub libc: Libc,
    /// Candidate names in the order this library tries them, each with its outcome.
    pub candidates: Vec<CandidateOutcome>,
    /// `resolved`, `nxdomain`, `nodata`, `servfail`, `refused`, `timeout`, `unreachable`,
    /// `error`, or `deadline`.
    pub status: LookupStatus,
    /// The candidate that produced the final result.
    pub final_name: Option<String>,
    /// The records an application gets (addresses for A/AAAA, the data otherwise).
    pub records: Vec<AnswerRecord>,
    /// Why the walk stopped where it did, in words.
    pub reason: String,
    /// How long an application linked against this library waits for this walk, with
    /// the resolv.conf's `timeout` and `attempts` (default 5 s and 2): the timeouts it
    /// sits out, round trips not counted. svcprobe's own run is bounded by `--timeout`.
    pub app_wait_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CandidateOutcome {
    pub name: String,
    /// Same vocabulary as `LibcAnswer::status`, for this candidate alone;
    /// `not-tried` when the library would stop before reaching it.
    #[serde(serialize_with = "tried_or_not")]
    pub outcome: Option<LookupStatus>,
}

fn tried_or_not<S: serde::Serializer>(
    outcome: &Option<LookupStatus>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(outcome.map_or("not-tried", LookupStatus::as_str))
}

// ---------------------------------------------------------------------------------------
// tcp, http, serve (connectivity probes)
// ---------------------------------------------------------------------------------------

vocabulary! {
    /// How one TCP connect ended (`tcp`, `hairpin`, and the connect of each `http` attempt).
    /// Declared in alphabetical order, so that maps keyed by it list keys as the JSON did.
    pub enum TcpOutcome {
        /// The three-way handshake completed.
        Connected = "connected",
        /// Anything else (a bad `--source`, out of file descriptors, ...).
        Error = "error",
        /// This host has no route (or no neighbour) for the destination.
        NoRoute = "no-route",
        /// The destination answered the SYN with a RST: nothing listens on that port.
        Refused = "refused",
        /// A host on the way (or the destination's firewall) answered with ICMP unreachable.
        Rejected = "rejected",
        /// No answer before the deadline: packets dropped somewhere.
        Timeout = "timeout",
    }
}

vocabulary! {
    /// How one `http` attempt ended: a response, or why there was none (the connect's
    /// failures as for `tcp`, then TLS and HTTP's own). Alphabetical, as [`TcpOutcome`].
    pub enum HttpOutcome {
        /// The peer closed or reset the connection before the response was complete.
        Closed = "closed",
        Error = "error",
        NoRoute = "no-route",
        /// The peer did not speak HTTP (or sent a header over the limit).
        Protocol = "protocol",
        Refused = "refused",
        Rejected = "rejected",
        /// A whole response: status, headers and the body as far as it was read.
        Response = "response",
        /// A deadline passed; `timeout_phase` says which.
        Timeout = "timeout",
        /// The TLS handshake failed (certificate not trusted, wrong name, no key exchange or cipher
        /// in common: svcprobe offers P-256, P-384 and AES-GCM; not TLS).
        Tls = "tls",
    }
}

impl HttpOutcome {
    /// The attempt's outcome when its connect failed this way.
    pub fn from_connect(outcome: TcpOutcome) -> HttpOutcome {
        match outcome {
            TcpOutcome::Refused => HttpOutcome::Refused,
            TcpOutcome::Rejected => HttpOutcome::Rejected,
            TcpOutcome::Timeout => HttpOutcome::Timeout,
            TcpOutcome::NoRoute => HttpOutcome::NoRoute,
            TcpOutcome::Connected | TcpOutcome::Error => HttpOutcome::Error,
        }
    }
}

vocabulary! {
    /// How one of diagnose's connections (a ClusterIP sample, an endpoint probed directly)
    /// ended: `ok`, a [`TcpOutcome`] or [`HttpOutcome`] failure, or `deadline` when the
    /// command's deadline left it no time. Alphabetical, as [`TcpOutcome`].
    pub enum SampleOutcome {
        Closed = "closed",
        /// The command's deadline had passed: the connection was never tried.
        Deadline = "deadline",
        Error = "error",
        NoRoute = "no-route",
        /// Connected (TCP), or a whole HTTP response of any status.
        Ok = "ok",
        Protocol = "protocol",
        Refused = "refused",
        Rejected = "rejected",
        Timeout = "timeout",
        Tls = "tls",
    }
}

impl From<TcpOutcome> for SampleOutcome {
    fn from(outcome: TcpOutcome) -> SampleOutcome {
        match outcome {
            TcpOutcome::Connected => SampleOutcome::Ok,
            TcpOutcome::Error => SampleOutcome::Error,
            TcpOutcome::NoRoute => SampleOutcome::NoRoute,
            TcpOutcome::Refused => SampleOutcome::Refused,
            TcpOutcome::Rejected => SampleOutcome::Rejected,
            TcpOutcome::Timeout => SampleOutcome::Timeout,
        }
    }
}

impl From<HttpOutcome> for SampleOutcome {
    fn from(outcome: HttpOutcome) -> SampleOutcome {
        match outcome {
            HttpOutcome::Response => SampleOutcome::Ok,
            HttpOutcome::Closed => SampleOutcome::Closed,
            HttpOutcome::Error => SampleOutcome::Error,
            HttpOutcome::NoRoute => SampleOutcome::NoRoute,
            HttpOutcome::Protocol => SampleOutcome::Protocol,
            HttpOutcome::Refused => SampleOutcome::Refused,
            HttpOutcome::Rejected => SampleOutcome::Rejected,
            HttpOutcome::Timeout => SampleOutcome::Timeout,
            HttpOutcome::Tls => SampleOutcome::Tls,
        }
    }
}

vocabulary! {
    /// Which deadline an `http` attempt ran out of.
    pub enum TimeoutPhase {
        /// The TCP or TLS handshake.
        Connect = "connect",
        /// Waiting for the response head.
        Response = "response",
        /// Reading the body: the server stalled mid-body.
        Body = "body",
        /// The whole request's deadline, in no phase more precise than that.
        Request = "request",
    }
}

/// How a probe's host name became addresses: glibc's search walk, as `nslookup` shows it.
/// The time it took is the probe's DNS phase.
#[derive(Debug, Serialize)]
pub struct Resolution {
    /// The name as given.
    pub name: String,
    /// `resolved`, or how glibc's walk ended (vocabulary of `LibcAnswer::status`), or
    /// `invalid` for a string that cannot be a DNS name.
    pub status: LookupStatus,
    /// The candidate name that answered.
    pub final_name: Option<String>,
    /// A addresses first, then AAAA, in answer order.
    pub addresses: Vec<String>,
    /// Why the walk ended where it did, in words.
    pub reason: String,
    /// The resolv.conf that was read.
    pub config_source: String,
    /// Every DNS query sent, in order.
    pub queries: Vec<QueryRecord>,
    pub duration_ms: f64,
}

/// An ICMP error the network sent back instead of a TCP answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IcmpReport {
    /// The host that sent it: for kube-proxy's REJECT of a Service without endpoints, the
    /// node (its address on the pod bridge), not the Service IP.
    pub from: String,
    /// ICMP (or ICMPv6) type and code, e.g. 3/3 for port unreachable.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    pub code: u8,
    /// `port-unreachable`, `host-unreachable`, `admin-prohibited`, `net-unreachable`, ...
    pub description: &'static str,
}

/// Min, median, 90th percentile and max of a set of durations, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyStats {
    pub min_ms: f64,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub max_ms: f64,
}

/// What a series of attempts added up to; `O` is the outcome vocabulary ([`TcpOutcome`] or
/// [`HttpOutcome`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProbeSummary<O: Ord + Serialize> {
    pub attempts: u32,
    /// How many attempts ended with each outcome (only outcomes that occurred).
    pub outcomes: std::collections::BTreeMap<O, u32>,
    /// Successful attempts / attempts (`connected` for tcp; a response for http).
    pub success_ratio: f64,
    /// Durations of the successful attempts (the connect for tcp, the whole request for
    /// http); absent when none succeeded.
    pub latency: Option<LatencyStats>,
}

/// `svcprobe tcp`: every connect attempt to every target, classified.
#[derive(Debug, Serialize)]
pub struct TcpReport {
    pub count: u32,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// `--source`, when given.
    pub source: Option<String>,
    pub targets: Vec<TcpTarget>,
    pub duration_ms: f64,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct TcpTarget {
    /// As given on the command line (`host:port`).
    pub target: String,
    pub host: String,
    pub port: u16,
    /// How the name resolved; absent when the host is an IP address.
    pub resolution: Option<Resolution>,
    /// One entry per address probed: every address the name resolved to, or the literal.
    pub addresses: Vec<TcpAddressProbe>,
}

#[derive(Debug, Serialize)]
pub struct TcpAddressProbe {
    /// `ip:port`.
    pub address: String,
    pub attempts: Vec<TcpAttempt>,
    pub summary: ProbeSummary<TcpOutcome>,
}

/// One connect.
#[derive(Debug, Serialize)]
pub struct TcpAttempt {
    /// 1-based attempt number.
    pub seq: u32,
    /// `connected`; `refused` (TCP RST from the destination); `rejected` (ICMP
    /// unreachable, see `icmp`); `timeout`; `no-route` (this host has no route or no
    /// neighbour for it); `error`.
    pub outcome: TcpOutcome,
    /// From the SYN to the handshake, the RST, the ICMP or the deadline.
    pub duration_ms: f64,
    /// The local `ip:port` the attempt used.
    pub local: Option<String>,
    /// The ICMP error behind `rejected` (or a locally generated one behind `no-route`).
    pub icmp: Option<IcmpReport>,
    /// The OS error of a failed attempt.
    pub detail: Option<String>,
}

/// `svcprobe http`: each request over a new connection, and what the answers add up to.
#[derive(Debug, Serialize)]
pub struct HttpReport {
    pub url: String,
    /// Always `GET`.
    pub method: &'static str,
    pub count: u32,
    /// Deadline of each whole attempt, body included.
    pub timeout_ms: u64,
    /// Deadline of the TCP and TLS handshakes.
    pub connect_timeout_ms: u64,
    /// Bodies are read up to this many bytes; the rest is not read.
    pub max_body_bytes: u64,
    /// Present for `https` URLs.
    pub tls: Option<TlsSettings>,
    /// How the URL's host resolved (once, before the attempts); absent for an IP address.
    pub resolution: Option<Resolution>,
    pub attempts: Vec<HttpAttempt>,
    pub summary: ProbeSummary<HttpOutcome>,
    /// Distinct responses (status and body), most frequent first: for a Service whose pods
    /// answer with their name (serve_hostname), which backends answered and how often.
    pub responses: Vec<DistinctResponse>,
    /// How many attempts got each status code.
    pub status_codes: std::collections::BTreeMap<u16, u32>,
    pub duration_ms: f64,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct TlsSettings {
    /// False only with `--insecure`: the server's certificate was not checked at all.
    pub verify: bool,
    /// The CA file trusted (`--cacert`, or the system bundle found); absent with
    /// `--insecure`.
    pub ca_file: Option<String>,
    /// Certificates read from `ca_file`.
    pub ca_certificates: usize,
}

/// One request.
#[derive(Debug, Serialize)]
pub struct HttpAttempt {
    /// 1-based attempt number.
    pub seq: u32,
    /// `response` (any status), or why there was none: `refused`, `rejected`, `timeout`,
    /// `no-route` (as for tcp), `tls` (handshake or certificate), `protocol` (the peer
    /// did not speak HTTP), `closed` (the peer closed before the response was complete),
    /// `error`.
    pub outcome: HttpOutcome,
    /// For `timeout`: the deadline that passed (`connect`, `response`, `body`, `request`).
    pub timeout_phase: Option<TimeoutPhase>,
    /// The `ip:port` connected to.
    pub peer: Option<String>,
    /// The local `ip:port` of the connection.
    pub local: Option<String>,
    pub status: Option<u16>,
    pub timing: HttpTiming,
    /// Body bytes read (at most `max_body_bytes`).
    pub body_bytes: u64,
    /// The body was longer than `max_body_bytes` (or did not end before the deadline).
    pub body_truncated: bool,
    /// The start of the body, as text (invalid UTF-8 replaced), at most 200 bytes.
    pub body_excerpt: Option<String>,
    /// For `rejected`: the ICMP error and who sent it.
    pub icmp: Option<IcmpReport>,
    /// The error behind a failed attempt, in words.
    pub detail: Option<String>,
}

/// Where the time of one request went, each phase measured from the attempt's start.
#[derive(Debug, Default, Serialize)]
pub struct HttpTiming {
    /// TCP handshake duration.
    pub connect_ms: Option<f64>,
    /// TLS handshake duration (https only).
    pub tls_ms: Option<f64>,
    /// From the attempt's start to the first byte of the response.
    pub first_byte_ms: Option<f64>,
    /// The whole attempt, body included.
    pub total_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct DistinctResponse {
    pub status: u16,
    /// The start of the body (for serve_hostname: the pod's name).
    pub body_excerpt: String,
    pub count: u32,
    /// count / attempts.
    pub share: f64,
}

/// `svcprobe serve`, printed when it stops.
#[derive(Debug, Serialize)]
pub struct ServeReport {
    /// The address it listened on.
    pub listen: String,
    /// What `GET /` answered.
    pub hostname: String,
    /// Connections served at once, at most.
    pub max_connections: u32,
    pub connections: u64,
    pub requests: u64,
    /// Requests answered with 4xx/5xx (bad request, not found, too large, too slow).
    pub error_responses: u64,
    /// `SIGTERM` or `SIGINT`.
    pub stopped_by: String,
    pub duration_ms: f64,
}

/// The JSON body of `serve`'s `GET /echo`: what the server saw of the connection.
#[derive(Debug, Serialize)]
pub struct EchoBody {
    /// The client `ip:port` as the server saw it: after SNAT/masquerade, the node's.
    pub client: String,
    /// The local `ip:port` the connection reached (the pod, after the Service's DNAT).
    pub server: String,
    pub hostname: String,
    pub method: String,
    pub path: String,
    /// The Host header, if any.
    pub host_header: Option<String>,
}

// ---------------------------------------------------------------------------------------
// exporter
// ---------------------------------------------------------------------------------------

/// `svcprobe exporter`, printed when it stops.
#[derive(Debug, Serialize)]
pub struct ExporterReport {
    /// The address it listened on.
    pub listen: String,
    /// The ranges and domains `/probe` targets had to be in (`--allow`, the config, or
    /// the cluster's own as this pod sees it).
    pub allow: Vec<String>,
    /// Where `allow` came from: `flag`, `config` or `default`.
    pub allow_source: &'static str,
    /// Module names `/probe?module=` took.
    pub modules: Vec<String>,
    /// The scheduled `MODULE:TARGET`s.
    pub targets: Vec<String>,
    pub every_ms: u64,
    pub max_probes: u32,
    /// Probes run (on `/probe` and scheduled).
    pub probes: u64,
    /// Probes whose command could not run.
    pub probe_errors: u64,
    /// `/probe` requests answered 503 (too many probes running).
    pub probes_dropped: u64,
    /// `/probe` requests answered 403 (target not allowed).
    pub targets_refused: u64,
    /// HTTP requests answered.
    pub requests: u64,
    pub stopped_by: String,
    pub duration_ms: f64,
}

/// One line on stdout each time a scheduled target's result changes.
#[derive(Debug, Serialize)]
pub struct CauseChange<'a> {
    /// UTC, RFC 3339.
    pub time: String,
    pub module: &'a str,
    pub target: &'a str,
    /// The previous result (`null` for the first): for `service` the cause, else the
    /// module's own vocabulary (README: `svcprobe exporter`).
    pub old_cause: Option<&'a str>,
    pub new_cause: &'a str,
    pub summary: &'a str,
    /// `NODE_NAME` and `POD_NAME` from the downward API, when set.
    pub node: Option<&'a str>,
    pub pod: Option<&'a str>,
}

// ---------------------------------------------------------------------------------------
// hairpin
// ---------------------------------------------------------------------------------------

/// `svcprobe hairpin`: can this pod reach itself through its own Service's IP?
#[derive(Debug, Serialize)]
pub struct HairpinReport {
    /// As given (`hostnames`, `10.0.1.175:80`).
    pub target: String,
    /// The Service a name settled on (absent when the target is an address).
    pub service_ref: Option<ServiceRef>,
    /// The Service `ip:port` connected to; absent when the name did not resolve.
    pub service: Option<String>,
    /// How the name resolved; absent when the target is an address.
    pub resolution: Option<Resolution>,
    /// This pod's address toward the Service (the source of every attempt).
    pub pod_ip: Option<String>,
    /// TCP ports this pod's network namespace listens on, loopback-only ones left out.
    pub listening_ports: Vec<u16>,
    /// `--target-port`: the Service's targetPort, when known.
    pub target_port: Option<u16>,
    /// `--endpoint-count`: how many endpoints the Service has, when known.
    pub endpoints: Option<u32>,
    /// Attempts asked for.
    pub count: u32,
    /// Deadline of each connect.
    pub timeout_ms: u64,
    /// Deadline of the whole probe.
    pub deadline_ms: u64,
    /// Most attempts in flight at once (attempts run one after another while they are fast).
    pub max_parallel: u32,
    pub attempts: Vec<HairpinAttempt>,
    pub summary: HairpinSummary,
    pub verdict: HairpinVerdict,
    /// The second round, 5 ms apart, made when the first (back to back) had drops but never
    /// reached this pod: drops only in the burst are an endpoint that accepts slowly (its
    /// accept queue overflowed), drops in both are the hairpin. Its attempts are in
    /// `attempts` (with `recheck: true`) and in `summary` too.
    pub recheck: Option<HairpinSummary>,
    /// True when the deadline left attempts unmade.
    pub deadline_exceeded: bool,
    pub duration_ms: f64,
}

/// One connect to the Service IP.
#[derive(Debug, Serialize)]
pub struct HairpinAttempt {
    /// 1-based attempt number.
    pub seq: u32,
    /// As for `tcp`: `connected`, `refused`, `rejected`, `timeout`, `no-route`, `error`.
    pub outcome: TcpOutcome,
    /// For a connected attempt, which endpoint accepted it; absent for a failed one (where a
    /// SYN went cannot be seen from here).
    pub landed: Option<Landed>,
    /// From the SYN to the handshake, the RST, the ICMP or the deadline.
    pub duration_ms: f64,
    /// Connected after 900 ms or more: the first SYN was dropped and a retransmit, which
    /// kube-proxy may send to another endpoint, got through.
    pub slow: bool,
    /// The local `ip:port` of the attempt.
    pub local: Option<String>,
    /// For `self`: the client `ip:port` this pod's server saw (after masquerade, the
    /// node's address).
    pub seen_as: Option<String>,
    /// The MSS this attempt's SYN announced: the tag that identifies it on the server side.
    pub mss_tag: u32,
    /// The ICMP error behind `rejected`.
    pub icmp: Option<IcmpReport>,
    /// The OS error of a failed attempt.
    pub detail: Option<String>,
    /// Made in the spaced-out second round (see `HairpinReport::recheck`).
    pub recheck: bool,
}

vocabulary! {
    /// Where a connected `hairpin` attempt landed, as this pod's socket table shows it.
    pub enum Landed {
        /// This pod accepted it: the hairpin path works for this connection.
        ThisPod = "self",
        /// Another endpoint accepted it.
        OtherPod = "other",
    }
}

/// What the attempts add up to.
#[derive(Debug, PartialEq, Serialize)]
pub struct HairpinSummary {
    /// Attempts made (fewer than `count` when the deadline came first).
    pub attempts: u32,
    pub connected: u32,
    /// Connected attempts this pod accepted itself.
    pub reached_self: u32,
    /// Connected attempts another endpoint accepted.
    pub reached_other: u32,
    pub failed: u32,
    /// Connected attempts that took 900 ms or more (a dropped SYN, retransmitted).
    pub slow: u32,
    /// How many attempts ended with each outcome (only outcomes that occurred).
    pub outcomes: std::collections::BTreeMap<TcpOutcome, u32>,
    /// Connect times of the attempts that reached this pod.
    pub latency_self: Option<LatencyStats>,
    /// Connect times of the attempts that reached another endpoint.
    pub latency_other: Option<LatencyStats>,
}

vocabulary! {
    /// `pass`: this pod reached itself; `fail`: connections that should reach it do not;
    /// `inconclusive`: no attempt landed on this pod (or it is not an endpoint). The status
    /// a [`HairpinReason`] carries.
    pub enum HairpinStatus {
        Pass = "pass",
        Fail = "fail",
        Inconclusive = "inconclusive",
    }
}

vocabulary! {
    /// Why a `hairpin` verdict is what it is: the stable code beside its status (the
    /// command's own vocabulary; `diagnose` names its check and its cause `hairpin` too, but
    /// those are [`CheckId::Hairpin`] and [`Cause::Hairpin`]).
    pub enum HairpinReason {
        /// Pass: a connection landed on this pod and succeeded.
        SelfReached = "self-reached",
        /// Fail: connections that should land on this pod are dropped.
        HairpinDropped = "hairpin-dropped",
        /// Fail: no connection succeeded at all.
        NoConnection = "no-connection",
        /// Inconclusive: none landed here, and nothing says they were dropped.
        SelfNotSeen = "self-not-seen",
        /// Inconclusive: this pod does not back the Service.
        NotAnEndpoint = "not-an-endpoint",
        /// Inconclusive: the Service name did not resolve.
        NotResolved = "not-resolved",
        /// Inconclusive: the deadline left no time for an attempt.
        NoAttempts = "no-attempts",
    }
}

impl HairpinReason {
    /// The status each reason carries: the reason decides it, nothing else.
    pub fn status(self) -> HairpinStatus {
        match self {
            HairpinReason::SelfReached => HairpinStatus::Pass,
            HairpinReason::HairpinDropped | HairpinReason::NoConnection => HairpinStatus::Fail,
            HairpinReason::SelfNotSeen
            | HairpinReason::NotAnEndpoint
            | HairpinReason::NotResolved
            | HairpinReason::NoAttempts => HairpinStatus::Inconclusive,
        }
    }
}

#[derive(Debug, PartialEq, Serialize)]
pub struct HairpinVerdict {
    /// Follows from `reason` ([`HairpinReason::status`]).
    pub status: HairpinStatus,
    pub reason: HairpinReason,
    /// One or two sentences for people.
    pub summary: String,
    /// What to check next, when something is wrong or unknown.
    pub hint: Option<String>,
    /// With k endpoints and n attempts made, 1 − (1 − 1/k)^n: how likely a working hairpin
    /// would have shown itself at least once. Absent when k is unknown.
    pub p_self_if_healthy: Option<f64>,
    /// When k is unknown: the largest k for which n attempts land on this pod at least once
    /// with 99% probability.
    pub max_endpoints_99: Option<u32>,
}

// ---------------------------------------------------------------------------------------
// diagnose
// ---------------------------------------------------------------------------------------

/// `svcprobe diagnose`: the guide's walk as a checklist, and a verdict.
#[derive(Debug, Serialize)]
pub struct DiagnoseReport {
    pub service: String,
    pub namespace: String,
    /// The Service as typed, what the walk settled on, and where each part came from.
    pub service_ref: ServiceRef,
    /// The Service port probed, and where that number came from.
    pub port: u16,
    pub port_source: &'static str,
    pub context: ProbeContext,
    /// In the guide's order; ids are stable.
    pub checks: Vec<Check>,
    pub verdict: Verdict,
    pub duration_ms: f64,
    pub deadline_ms: u64,
}

/// Where the probe itself runs: the guide's first question is "from where?". Also the
/// `context` check's evidence.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeContext {
    pub hostname: Option<String>,
    /// The address this pod uses towards the cluster DNS server.
    pub pod_ip: Option<String>,
    pub namespace: String,
    pub namespace_source: Origin,
}

/// A Service as typed (`hostnames.default`, `svc/hostnames`) and the one a command settled on:
/// what the name leaves out comes from `-n` or the pod's context, and the report says which.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceRef {
    pub as_given: String,
    pub service: String,
    pub namespace: String,
    pub namespace_source: Origin,
    pub cluster_domain: String,
    pub cluster_domain_source: Origin,
    /// `SERVICE.NAMESPACE.svc.DOMAIN.`, the name the DNS checks end with.
    pub fqdn: String,
}

/// Where a namespace or cluster domain came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Origin {
    /// Written in the Service name (`hostnames.default`).
    #[serde(rename = "name")]
    Name,
    /// `-n`/`--namespace`.
    #[serde(rename = "flag")]
    Flag,
    /// The pod's service account namespace file.
    #[serde(rename = "serviceaccount")]
    ServiceAccount,
    #[serde(rename = "POD_NAMESPACE")]
    PodNamespace,
    /// The pod's resolv.conf search list (`<ns>.svc.<domain>`).
    #[serde(rename = "search-list")]
    SearchList,
    /// Nothing said otherwise: `default`, `cluster.local`.
    #[serde(rename = "default")]
    Default,
}

impl Origin {
    /// The JSON spelling, for the text view.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Name => "name",
            Origin::Flag => "flag",
            Origin::ServiceAccount => "serviceaccount",
            Origin::PodNamespace => "POD_NAMESPACE",
            Origin::SearchList => "search-list",
            Origin::Default => "default",
        }
    }
}

vocabulary! {
    /// The checks of `diagnose`, in the guide's order (the order of `checks`). Each has one
    /// function named after it in src/diagnose.
    pub enum CheckId {
        /// Where the probe runs: hostname, pod IP, namespace.
        Context = "context",
        /// The lint of the pod's resolv.conf.
        ResolvConf = "resolv-conf",
        /// Does a nameserver answer at all.
        DnsServer = "dns-server",
        /// Does any Service resolve (`kubernetes.default`, through the search list).
        DnsKubernetesDefault = "dns-kubernetes-default",
        /// The Service's short name, through the search list.
        DnsShort = "dns-short",
        /// `SERVICE.NS`, through the search list.
        DnsNamespaced = "dns-namespaced",
        /// `SERVICE.NS.svc.<domain>.`
        DnsFqdn = "dns-fqdn",
        /// The DNS Service `kube-system/kube-dns`: its ClusterIP and endpoints.
        DnsService = "dns-service",
        /// One name over UDP and TCP through the resolv.conf nameserver, the DNS ClusterIP
        /// and each DNS endpoint directly.
        DnsPaths = "dns-paths",
        /// A name outside the cluster, through the nameserver: do the forwarders answer.
        DnsUpstream = "dns-upstream",
        /// A bounded burst of lookups, glibc's way and single-request-reopen's: loss,
        /// latency and the conntrack race's signature.
        DnsBurst = "dns-burst",
        /// What the search list costs an external name and a short Service name, per library.
        DnsSearchCost = "dns-search-cost",
        /// The objects read from the API server.
        Api = "api",
        /// The Service's spec against its pods.
        ServiceDefinition = "service-definition",
        /// Ready and not-ready endpoints.
        Endpoints = "endpoints",
        /// Connections to the ClusterIP.
        ClusterIp = "cluster-ip",
        /// Each endpoint on its targetPort, directly.
        EndpointsDirect = "endpoints-direct",
        /// This pod through its own Service IP, when it is an endpoint.
        Hairpin = "hairpin",
        /// Node-side; always a skip from a pod.
        KubeProxy = "kube-proxy",
    }
}

/// One check of a walk: `diagnose`'s (the default parameters) or `node`'s, each with its
/// own closed vocabulary of ids and its own evidence shapes.
#[derive(Debug, Serialize)]
pub struct Check<Id = CheckId, Ev = Evidence> {
    /// Stable identifier, e.g. `dns-fqdn`, `cluster-ip`.
    pub id: Id,
    pub status: CheckStatus,
    /// One line for the checklist.
    pub summary: String,
    /// What was observed, structured (queries, samples, objects): one shape per check.
    pub evidence: Ev,
    /// What to do or look at next, from the guide; absent when there is nothing to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub duration_ms: f64,
}

impl<Id, Ev> Check<Id, Ev> {
    /// A check of `diagnose` or `node` that took `duration_ms`.
    pub fn new(
        id: Id,
        status: CheckStatus,
        summary: String,
        evidence: Ev,
        hint: Option<String>,
        duration_ms: f64,
    ) -> Self {
        Check {
            id,
            status,
            summary,
            evidence,
            hint,
            duration_ms,
        }
    }

    /// Why a skipped check did not run, without the remedy: its summary up to the first
    /// `: ` or `; `.
    pub fn skip_reason(&self) -> &str {
        let end = [": ", "; "]
            .iter()
            .filter_map(|sep| self.summary.find(sep))
            .min()
            .unwrap_or(self.summary.len());
        &self.summary[..end]
    }
}

vocabulary! {
    /// How a `diagnose` check ended.
    pub enum CheckStatus {
        Pass = "pass",
        Warn = "warn",
        Fail = "fail",
        /// The check could not run; `summary` says why and how to make it run.
        Skip = "skip",
    }
}

vocabulary! {
    /// Why an API request, or the read of one resource, failed (the `api` check's evidence).
    pub enum ApiErrorKind {
        /// 401: the token is not accepted.
        Unauthorized = "unauthorized",
        /// 403: RBAC does not allow the read.
        Forbidden = "forbidden",
        /// 404 of the object, or of the whole API group.
        NotFound = "not-found",
        /// Any other HTTP status.
        HttpStatus = "http-status",
        Timeout = "timeout",
        /// Refused, rejected (ICMP), no route, a name that does not resolve.
        Unreachable = "unreachable",
        /// The certificate does not verify, or the handshake failed.
        Tls = "tls",
        /// Over the 8 MiB cap of one response.
        TooLarge = "too-large",
        /// Not JSON, or objects without their kind's shape.
        BadResponse = "bad-response",
        /// The token or CA file cannot be used.
        Config = "config",
    }
}

vocabulary! {
    /// What `diagnose` reads from the API server, in the order it reads them.
    pub enum ApiResource {
        Services = "services",
        EndpointSlices = "endpointslices",
        /// v1 Endpoints, read when EndpointSlices cannot be.
        Endpoints = "endpoints",
        Pods = "pods",
    }
}

vocabulary! {
    /// Where the API read's configuration came from.
    pub enum ApiConfigSource {
        /// The pod's environment and mounted service account (client-go's in-cluster config).
        InCluster = "in-cluster",
        /// `--api-server`, `--token-file`, `--cacert`.
        Flags = "flags",
    }
}

/// What one check observed. Each check has its own shape (the variant named after it);
/// a check that did not run, or that has nothing to show, has `{}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Evidence {
    Context(ProbeContext),
    ResolvConf(ResolvConfEvidence),
    DnsServer(DnsServerEvidence),
    /// `dns-kubernetes-default`, `dns-short`, `dns-namespaced`, `dns-fqdn`.
    DnsName(DnsNameEvidence),
    Api(ApiEvidence),
    ServiceDefinition(Box<ServiceDefinitionEvidence>),
    /// `service-definition` when the objects hold no such Service.
    ServiceMissing(ServiceMissingEvidence),
    Endpoints(EndpointsEvidence),
    ClusterIp(ClusterIpEvidence),
    EndpointsDirect(EndpointsDirectEvidence),
    Hairpin(HairpinEvidence),
    DnsService(DnsServiceEvidence),
    DnsPaths(DnsPathsEvidence),
    DnsUpstream(DnsUpstreamEvidence),
    DnsBurst(DnsBurstEvidence),
    DnsSearchCost(DnsSearchCostEvidence),
    /// `cluster-ip` of a UDP port svcprobe cannot speak to.
    Udp(UdpEvidence),
    /// `endpoints-direct` of such a port.
    UdpEndpoints(UdpEndpointsEvidence),
    Nothing(NoEvidence),
}

/// `{}`: the check did not run, or has nothing to show beyond its summary.
#[derive(Debug, Serialize)]
pub struct NoEvidence {}

/// `resolv-conf`: the file, what glibc makes of it and the lint's findings (absent when
/// the file could not be read).
#[derive(Debug, Serialize)]
pub struct ResolvConfEvidence {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glibc: Option<EffectiveConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<Finding>>,
}

/// `dns-server`: the query sent to each nameserver directly, without the search list.
#[derive(Debug, Serialize)]
pub struct DnsServerEvidence {
    pub queries: Vec<QueryRecord>,
}

/// One name looked up through the pod's search list, as glibc and as musl would.
#[derive(Debug, Serialize)]
pub struct DnsNameEvidence {
    /// The name as looked up (`kubernetes.default`, `hostnames.default`, ...).
    pub name: String,
    pub glibc: LibcAnswer,
    pub musl: LibcAnswer,
    /// Every query sent for both walks, in order.
    pub queries: Vec<QueryRecord>,
}

/// `service-definition` when the objects hold no such Service: the Services they hold.
#[derive(Debug, Serialize)]
pub struct ServiceMissingEvidence {
    /// `namespace/name` of each Service in the objects.
    pub services: Vec<String>,
}

/// `service-definition`: the spec fields that explain symptoms, and what the rules found.
#[derive(Debug, Serialize)]
pub struct ServiceDefinitionEvidence {
    #[serde(rename = "type")]
    pub service_type: Option<String>,
    pub cluster_ip: Option<String>,
    pub cluster_ips: Vec<String>,
    pub ip_families: Vec<String>,
    pub ip_family_policy: Option<String>,
    pub session_affinity: Option<String>,
    pub internal_traffic_policy: Option<String>,
    pub publish_not_ready_addresses: bool,
    pub external_name: Option<String>,
    /// Each port as `name port/protocol -> targetPort`.
    pub ports: Vec<String>,
    pub selector: Option<std::collections::BTreeMap<String, String>>,
    pub selected_pods: Vec<String>,
    /// When the selector matches no pod: the labels the namespace's pods do have, each
    /// distinct set with the pods that carry it.
    pub pod_labels: Vec<PodLabels>,
    /// What breaks the Service (status `fail`).
    pub problems: Vec<String>,
    /// What may break it for some clients (status `warn`).
    pub warnings: Vec<String>,
    /// What explains a behaviour without being wrong.
    pub notes: Vec<String>,
}

/// One distinct set of labels among a namespace's pods.
#[derive(Debug, Serialize)]
pub struct PodLabels {
    pub labels: std::collections::BTreeMap<String, String>,
    pub pods: Vec<String>,
}

/// `endpoints`: each endpoint address of the Service's port, with its pod's state.
#[derive(Debug, Serialize)]
pub struct EndpointsEvidence {
    /// The first [`MAX_LISTED`] endpoints.
    pub endpoints: Vec<EndpointEvidence>,
    /// Endpoints past the first [`MAX_LISTED`], counted, not listed.
    pub not_listed: usize,
}

/// Evidence lists of endpoints stop here and count the rest: a Service of 40,000 endpoints
/// must not turn a report into megabytes printed after the deadline.
pub const MAX_LISTED: usize = 1000;

/// The first [`MAX_LISTED`] of `items`, and how many are left out.
pub fn listed<T>(items: impl ExactSizeIterator<Item = T>) -> (Vec<T>, usize) {
    let left_out = items.len().saturating_sub(MAX_LISTED);
    (items.take(MAX_LISTED).collect(), left_out)
}

#[derive(Debug, Serialize)]
pub struct EndpointEvidence {
    /// `ip:port`.
    pub address: String,
    pub ready: bool,
    pub pod: Option<String>,
    /// The pod's phase (`Running`, `Pending`, ...), when the pod is in the objects.
    pub phase: Option<String>,
    /// Every container of the pod is ready.
    pub pod_ready: Option<bool>,
    pub restarts: Option<u32>,
    /// A waiting container's reason (`CrashLoopBackOff`, `ImagePullBackOff`, ...).
    pub waiting: Option<String>,
    pub node: Option<String>,
}

vocabulary! {
    /// What `diagnose` speaks on its connections.
    pub enum ProbeProtocol {
        /// A GET / on each connection, to learn which backend answered.
        Http = "http",
        /// The TCP handshake only.
        Tcp = "tcp",
        /// A DNS question over UDP (a UDP Service port 53): any response is an answer.
        Dns = "dns",
    }
}

/// `cluster-ip` and each endpoint of `endpoints-direct` for a UDP port without a protocol
/// svcprobe speaks: one empty datagram, and the ICMP error it drew, if any.
#[derive(Debug, Serialize)]
pub struct UdpEvidence {
    /// `ip:port`.
    pub address: String,
    /// `icmp`, `reply`, `nothing` or `not-sent`.
    pub heard: &'static str,
    pub icmp: Option<IcmpReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `endpoints-direct` for such a port.
#[derive(Debug, Serialize)]
pub struct UdpEndpointsEvidence {
    pub endpoints: Vec<UdpEvidence>,
}

/// `cluster-ip`: the samples sent to the Service IP and what answered.
#[derive(Debug, Serialize)]
pub struct ClusterIpEvidence {
    /// `ip:port`.
    pub address: String,
    pub protocol: ProbeProtocol,
    pub samples: usize,
    /// How many samples ended with each outcome (only outcomes that occurred).
    pub outcomes: std::collections::BTreeMap<SampleOutcome, usize>,
    /// Which backend answered (the body's first line), how often.
    pub backends: std::collections::BTreeMap<String, usize>,
    pub status_codes: std::collections::BTreeMap<u16, usize>,
    /// Hosts that sent ICMP errors back.
    pub rejected_by: Vec<String>,
    pub latency_ms: Option<LatencyStats>,
}

/// `endpoints-direct`: one connection to each endpoint on its targetPort.
#[derive(Debug, Serialize)]
pub struct EndpointsDirectEvidence {
    pub protocol: ProbeProtocol,
    pub endpoints: Vec<DirectEndpoint>,
    /// Endpoints not probed before the deadline (the first [`MAX_LISTED`]): nothing is
    /// claimed of them.
    pub not_probed: Vec<String>,
    /// Endpoints not probed past the first [`MAX_LISTED`], counted, not listed.
    pub not_probed_not_listed: usize,
    /// Why a worker thread could not be started (a pids limit), when one could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DirectEndpoint {
    /// `ip:port`.
    pub address: String,
    pub pod: Option<String>,
    /// It answered.
    pub ok: bool,
    pub refused: usize,
    pub timeout: usize,
    pub rejected: usize,
}

/// `hairpin`: the hairpin probe's summary and verdict (as `svcprobe hairpin` reports them).
#[derive(Debug, Serialize)]
pub struct HairpinEvidence {
    pub summary: HairpinSummary,
    pub verdict: HairpinVerdict,
}

/// The `api` check's evidence: where the objects were read from and how each request went.
/// The token is never part of it, only the file it was read from.
#[derive(Debug, Serialize)]
pub struct ApiEvidence {
    /// `https://HOST:PORT`.
    pub server: String,
    pub source: ApiConfigSource,
    pub token_file: String,
    pub ca_file: String,
    /// Objects read, by resource; absent when the Service itself could not be read.
    pub read: Option<ApiCounts>,
    pub requests: Vec<ApiRequest>,
    /// What could not be read, in the order it was tried.
    pub failures: Vec<ApiFailure>,
    /// Lists cut short at the page bound (4 pages of 500): what they hold is incomplete.
    pub truncated: Vec<ApiResource>,
    /// The selector matched no pod, so one page of the namespace's pods was read for the
    /// near misses.
    pub namespace_pods_listed: bool,
    /// After a 403: the Role and RoleBinding that allow the read, as YAML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rbac_yaml: Option<String>,
}

/// How many objects of each kind the API read returned.
#[derive(Debug, Serialize)]
pub struct ApiCounts {
    pub services: usize,
    pub endpointslices: usize,
    pub endpoints: usize,
    pub pods: usize,
}

/// One resource that could not be read.
#[derive(Debug, Serialize)]
pub struct ApiFailure {
    pub resource: ApiResource,
    pub kind: ApiErrorKind,
    /// For people: the server's own message when it gave one.
    pub message: String,
}

/// One request `diagnose` made to the API server (the `api` check's evidence). The token
/// is never part of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiRequest {
    /// Path and query, e.g. `/api/v1/namespaces/default/pods?limit=500&labelSelector=app%3Dweb`.
    pub path: String,
    /// The HTTP status, absent when no response came.
    pub status: Option<u16>,
    /// Items in a list response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<usize>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiErrorKind>,
    pub duration_ms: f64,
}

vocabulary! {
    /// The broken layer a `diagnose` verdict names: the contract scripts rely on (README,
    /// "The verdict is a contract").
    pub enum Cause {
        /// The names resolve and every connection answered.
        Healthy = "healthy",
        /// The fully qualified name is NXDOMAIN, or the objects hold no such Service.
        ServiceNotFound = "service-not-found",
        /// No DNS server answers, it fails on this name, or it knows no Service at all.
        DnsUnreachable = "dns-unreachable",
        /// The fully qualified name resolves but the short or namespaced one does not.
        DnsConfig = "dns-config",
        /// No ready endpoints, or the node rejects the ClusterIP with ICMP.
        NoEndpoints = "no-endpoints",
        /// Every backend refuses the target port.
        TargetPortMismatch = "target-port-mismatch",
        /// Some endpoints do not answer.
        BackendDown = "backend-down",
        /// Connections time out: a NetworkPolicy or firewall drops them.
        TrafficBlocked = "traffic-blocked",
        /// This pod is an endpoint and cannot reach itself through the Service IP.
        Hairpin = "hairpin",
        /// The endpoints answer directly but the ClusterIP does not.
        Proxy = "proxy",
        /// No DNS endpoint is ready, or every one refuses port 53.
        DnsPodsDown = "dns-pods-down",
        /// The DNS endpoints answer directly, the DNS ClusterIP does not (kube-proxy).
        DnsServiceBroken = "dns-service-broken",
        /// The DNS endpoints are ready but nothing answers from this pod over UDP or TCP.
        DnsBlocked = "dns-blocked",
        /// DNS answers over TCP but not over UDP.
        DnsUdpOnlyBroken = "dns-udp-only-broken",
        /// DNS answers over UDP but not over TCP.
        DnsTcpOnlyBroken = "dns-tcp-only-broken",
        /// Cluster names resolve, names outside the cluster fail (the forwarders).
        DnsUpstream = "dns-upstream",
        /// A share of DNS queries is lost.
        DnsIntermittent = "dns-intermittent",
        /// The node-local DNS cache does not answer but the DNS Service does.
        NodelocalDnsDown = "nodelocal-dns-down",
        /// The checks do not add up to a known cause.
        Unknown = "unknown",
    }
}

/// The contract scripts rely on: `cause` is one of a fixed list (README, "Verdict"):
/// `diagnose`'s [`Cause`] (the default) or `node`'s [`NodeCause`].
#[derive(Debug, Serialize)]
pub struct Verdict<C = Cause> {
    pub cause: C,
    pub summary: String,
    pub next_steps: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// node
// ---------------------------------------------------------------------------------------

/// `svcprobe node`: the guide's kube-proxy half, from a node debug pod.
#[derive(Debug, Serialize)]
pub struct NodeReport {
    /// The Service looked at; absent when only the node-wide checks ran.
    pub service: Option<NodeService>,
    /// What this process may read: the profile it appears to run under.
    pub privileges: Privileges,
    /// In the guide's order; ids are stable.
    pub checks: Vec<Check<NodeCheckId, NodeEvidence>>,
    pub verdict: Verdict<NodeCause>,
    pub duration_ms: f64,
    pub deadline_ms: u64,
}

/// The Service `node` looks at, as far as the objects told.
#[derive(Clone, Debug, Serialize)]
pub struct NodeService {
    pub name: String,
    pub namespace: String,
    /// The Service port; from `--port`, else the Service's first port.
    pub port: Option<u16>,
    /// `TCP`, `UDP` or `SCTP`, from the Service's port.
    pub protocol: Option<String>,
    /// From the objects; absent when they were not read or the Service has none.
    pub cluster_ip: Option<String>,
}

/// What `node` may read, from its own credentials: which checks can run follows from it.
#[derive(Clone, Debug, Serialize)]
pub struct Privileges {
    pub uid: Option<u32>,
    /// Effective capabilities that matter here (`CAP_NET_ADMIN`, `CAP_NET_RAW`,
    /// `CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`).
    pub capabilities: Vec<&'static str>,
    /// `--host-root`, and whether it holds a root file system (`/host` under
    /// `--profile=sysadmin`).
    pub host_root: String,
    pub host_root_present: bool,
    /// The `kubectl debug node --profile` these credentials look like: `sysadmin`,
    /// `netadmin`, or `general` (neither).
    pub profile: DebugProfile,
}

vocabulary! {
    /// The checks of `node`, in the guide's order. Each has one function named after it in
    /// src/node.
    pub enum NodeCheckId {
        /// The kube-proxy process and its flags (and other Service proxies).
        KubeProxyProcess = "kube-proxy-process",
        /// kube-proxy's `/healthz` and `/livez`.
        KubeProxyHealth = "kube-proxy-health",
        /// kube-proxy's `/proxyMode`.
        KubeProxyMode = "kube-proxy-mode",
        /// kube-proxy's `/metrics`: last sync against last queued change, failure counters.
        KubeProxySync = "kube-proxy-sync",
        /// `net.ipv4.ip_forward`.
        IpForward = "ip-forward",
        /// br_netfilter and `bridge-nf-call-iptables`/`-ip6tables`.
        BridgeNetfilter = "bridge-netfilter",
        /// Each bridge's ports' `hairpin_mode`, its PROMISC flag, kubelet's `--hairpin-mode`.
        Hairpin = "hairpin",
        /// The conntrack table: fill and drops.
        Conntrack = "conntrack",
        /// The Service and the ready endpoints of its EndpointSlices.
        EndpointSlices = "endpoint-slices",
        /// What the node programs for the ClusterIP and port, against those endpoints.
        ServiceRules = "service-rules",
        /// Connections to ClusterIP:port from the node.
        ClusterIp = "cluster-ip",
    }
}

vocabulary! {
    /// The part of the node's Service machinery a `node` verdict names (README, "node").
    pub enum NodeCause {
        /// Every check that ran passed.
        Healthy = "healthy",
        /// No kube-proxy process and nothing on its health port.
        KubeProxyDown = "kube-proxy-down",
        /// kube-proxy's rule syncs are failing: its failure counters count, health 503.
        KubeProxyUnhealthy = "kube-proxy-unhealthy",
        /// No failures, but changes queued well after the last successful sync: hung.
        KubeProxyStale = "kube-proxy-stale",
        /// The Service exists but the node has no rule for its ClusterIP and port.
        ServiceNotProgrammed = "service-not-programmed",
        /// The rules send the ClusterIP to other endpoints than the ready ones.
        EndpointsMismatch = "endpoints-mismatch",
        /// A bridge port has `hairpin_mode` off, or the masquerade rule for self-traffic is
        /// missing.
        HairpinConfig = "hairpin-config",
        /// Pods on a Linux bridge, and bridged traffic skips iptables.
        BridgeNetfilterOff = "bridge-netfilter-off",
        /// The conntrack table is at its limit, or it drops entries.
        ConntrackFull = "conntrack-full",
        /// No kube-proxy: another Service implementation runs.
        OtherProxy = "other-proxy",
        /// The checks do not add up to a known cause.
        Unknown = "unknown",
    }
}

/// What one `node` check observed; each check has its own shape, `{}` when it did not run.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum NodeEvidence {
    Processes(ProcessEvidence),
    Health(HealthEvidence),
    Mode(ModeEvidence),
    Sync(Box<SyncEvidence>),
    IpForward(IpForwardEvidence),
    BridgeNetfilter(BridgeNetfilterEvidence),
    Hairpin(HairpinConfigEvidence),
    Conntrack(ConntrackEvidence),
    EndpointSlices(SliceEndpointsEvidence),
    ServiceRules(Box<ServiceRulesEvidence>),
    ClusterIp(NodeClusterIpEvidence),
    Nothing(NoEvidence),
}

/// `kube-proxy-process`: the processes of the host PID namespace that matter here.
#[derive(Debug, Default, Serialize)]
pub struct ProcessEvidence {
    pub kube_proxy: Vec<ProcessInfo>,
    pub kubelet: Vec<ProcessInfo>,
    /// Other Service implementations (Cilium's kube-proxy replacement, kube-router, ...).
    pub other_proxies: Vec<OtherProxy>,
    /// Processes whose command line was read.
    pub scanned: usize,
    /// The scan stopped early (the deadline, or the cap on processes).
    pub truncated: bool,
}

/// One process, as `/proc/PID/cmdline` shows it (arguments over 256 bytes cut).
#[derive(Debug, Serialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub argv: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct OtherProxy {
    pub pid: u32,
    /// The program, e.g. `cilium-agent`.
    pub program: String,
    /// What it is and what to run instead of `iptables-save`.
    pub note: &'static str,
}

/// One GET of kube-proxy's own HTTP endpoints.
#[derive(Debug, Serialize)]
pub struct EndpointGet {
    pub url: String,
    pub outcome: HttpOutcome,
    pub status: Option<u16>,
    /// The body's first 200 bytes, as text.
    pub body_excerpt: Option<String>,
    pub detail: Option<String>,
    pub duration_ms: f64,
}

/// `kube-proxy-health`: `/healthz` and `/livez`, and what their JSON says.
#[derive(Debug, Serialize)]
pub struct HealthEvidence {
    pub healthz: EndpointGet,
    pub livez: Option<EndpointGet>,
    /// `lastUpdated` as kube-proxy wrote it (Go's `time.String()`).
    pub last_updated: Option<String>,
    pub current_time: Option<String>,
    /// `currentTime - lastUpdated`: on a 503, how long the rules have waited for a sync.
    pub last_updated_age_s: Option<f64>,
    /// False when the node is being deleted (or tainted for deletion): /healthz is then 503
    /// whatever the rules.
    pub node_eligible: Option<bool>,
}

/// `kube-proxy-mode`: `/proxyMode`.
#[derive(Debug, Serialize)]
pub struct ModeEvidence {
    pub get: EndpointGet,
    pub mode: Option<ProxyMode>,
}

/// `kube-proxy-sync`: the metrics that tell a hung kube-proxy from a failing one.
#[derive(Debug, Serialize)]
pub struct SyncEvidence {
    pub get: EndpointGet,
    /// One entry per `ip_family` label (one without a family on older kube-proxy).
    pub families: Vec<SyncFamily>,
    pub iptables_restore_failures_total: Option<f64>,
    pub nftables_sync_failures_total: Option<f64>,
    /// kube-proxy's time of a hung sync: more than this between the last successful sync
    /// and a change queued after it (kube-proxy's health timeout, 2 × its default 30 s
    /// sync period).
    pub stale_after_s: f64,
}

#[derive(Debug, Serialize)]
pub struct SyncFamily {
    /// `IPv4`, `IPv6`, or absent on a kube-proxy without the label.
    pub ip_family: Option<String>,
    pub last_sync_timestamp_s: Option<f64>,
    pub last_queued_timestamp_s: Option<f64>,
    /// Now minus the last successful sync.
    pub since_last_sync_s: Option<f64>,
    /// A change was queued after the last successful sync.
    pub pending: bool,
}

/// `ip-forward`.
#[derive(Debug, Serialize)]
pub struct IpForwardEvidence {
    pub ipv4: Option<bool>,
    pub ipv6: Option<bool>,
}

/// `bridge-netfilter`.
#[derive(Debug, Serialize)]
pub struct BridgeNetfilterEvidence {
    /// `/proc/sys/net/bridge` exists (br_netfilter is loaded, or built in).
    pub br_netfilter: bool,
    pub call_iptables: Option<bool>,
    pub call_ip6tables: Option<bool>,
    /// Linux bridges with ports: where pods sit behind a bridge.
    pub bridges_with_ports: Vec<String>,
}

/// `hairpin`: the guide's two hairpin modes, as the kernel has them.
#[derive(Debug, Serialize)]
pub struct HairpinConfigEvidence {
    pub bridges: Vec<BridgeInfo>,
    /// kubelet's `--hairpin-mode` (or `hairpinMode` of its config file), when visible.
    pub kubelet_hairpin_mode: Option<String>,
    /// Where that came from: `flag`, the config file's path, or `default`.
    pub kubelet_hairpin_mode_source: Option<String>,
    /// Endpoints whose rules lack the masquerade mark for self-traffic.
    pub masquerade_missing: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BridgeInfo {
    pub name: String,
    pub promisc: bool,
    pub ports: Vec<BridgePort>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BridgePort {
    pub name: String,
    pub hairpin_mode: Option<bool>,
}

/// `conntrack`: fill, and the drop counters of `/proc/net/stat/nf_conntrack` summed over
/// CPUs, sampled twice.
#[derive(Debug, Serialize)]
pub struct ConntrackEvidence {
    pub count: Option<u64>,
    pub max: Option<u64>,
    pub cpus: usize,
    pub insert_failed: u64,
    pub drop: u64,
    pub early_drop: u64,
    /// Per second between the two samples.
    pub insert_failed_per_s: Option<f64>,
    pub drop_per_s: Option<f64>,
    pub early_drop_per_s: Option<f64>,
    pub interval_ms: Option<f64>,
}

/// `endpoint-slices`: the Service's ready endpoints for its port, from the objects.
#[derive(Debug, Serialize)]
pub struct SliceEndpointsEvidence {
    /// `objects` or `api`.
    pub source: &'static str,
    pub cluster_ip: Option<String>,
    pub target_port: Option<String>,
    pub ready: Vec<SliceAddress>,
    pub not_ready: Vec<SliceAddress>,
}

#[derive(Debug, Serialize)]
pub struct SliceAddress {
    /// `ip:port` as kube-proxy programs it.
    pub address: String,
    pub node_name: Option<String>,
    pub pod: Option<String>,
}

/// `service-rules`: what the node programs for the Service port, against its ready endpoints.
#[derive(Debug, Serialize)]
pub struct ServiceRulesEvidence {
    /// What the rules hold; absent when they could not be read (`skip`).
    pub programming: Option<ServiceProgramming>,
    /// Why they could not be read, and the profile that would allow it.
    pub skip: Option<RulesSkip>,
    /// Ready endpoints the rules do not send to (`ip:port`).
    pub missing: Vec<String>,
    /// Endpoints the rules send to that are not ready endpoints of the Service.
    pub extra: Vec<String>,
}

/// `cluster-ip`: connections to ClusterIP:port from the node's network namespace.
#[derive(Debug, Serialize)]
pub struct NodeClusterIpEvidence {
    pub address: String,
    pub attempts: Vec<TcpAttempt>,
}

#[cfg(test)]
mod tests {
    use super::{
        Cause, CheckId, FindingCode, HttpOutcome, NodeCause, NodeCheckId, ProxyMode, SampleOutcome,
        TcpOutcome, TimeoutPhase,
    };

    #[test]
    fn vocabularies_serialize_as_their_spelling_and_spell_each_value_once() {
        fn check<T: serde::Serialize + std::fmt::Display>(all: &[T]) {
            let mut seen = std::collections::BTreeSet::new();
            for value in all {
                let json = serde_json::to_value(value).unwrap();
                assert_eq!(json, value.to_string());
                assert!(seen.insert(value.to_string()), "{value} twice");
            }
        }
        check(CheckId::ALL);
        check(Cause::ALL);
        check(NodeCheckId::ALL);
        check(NodeCause::ALL);
        check(ProxyMode::ALL);
        check(TcpOutcome::ALL);
        check(HttpOutcome::ALL);
        check(TimeoutPhase::ALL);
        check(FindingCode::ALL);
        check(SampleOutcome::ALL);
        // Maps keyed by outcomes list them in the order the JSON always had.
        for all in [
            TcpOutcome::ALL
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>(),
            HttpOutcome::ALL.iter().map(|o| o.as_str()).collect(),
            SampleOutcome::ALL.iter().map(|o| o.as_str()).collect(),
        ] {
            assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
        }
        assert_eq!(format!("{:<12}|", CheckId::ClusterIp), "cluster-ip  |");
    }

    /// Finding codes were string literals at each finding until they became an enum: the
    /// JSON must still say exactly what it said (README's finding tables, scripts).
    #[test]
    fn finding_codes_are_the_strings_they_always_were() {
        let json: Vec<String> = FindingCode::ALL
            .iter()
            .map(|c| {
                serde_json::to_value(c)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut json: Vec<&str> = json.iter().map(String::as_str).collect();
        json.sort_unstable();
        let mut before = vec![
            "no-nameserver",
            "invalid-nameserver",
            "too-many-nameservers",
            "no-search",
            "empty-search",
            "invalid-search-domain",
            "search-overridden",
            "search-line-too-long-for-musl",
            "search-too-long-for-old-resolvers",
            "not-kubernetes-search",
            "search-missing-namespace-domain",
            "search-missing-svc-domain",
            "search-missing-cluster-domain",
            "search-order",
            "ndots-low",
            "ndots-clamped",
            "indented-line",
            "unknown-keyword",
            "unknown-option",
            "malformed-option",
            "option-ignored-by-musl",
            "dns-unreachable",
            "dns-server-error",
            "truncated-answer",
            "libc-disagreement",
            "source-family-mismatch",
            "name-not-resolved",
            "some-attempts-failed",
            "refused",
            "rejected",
            "timeout",
            "no-route",
            "tls",
            "protocol",
            "closed",
            "error-status",
            "distinct-responses",
            "tls-not-verified",
            "threads-limited",
        ];
        before.sort_unstable();
        assert_eq!(json, before);
    }
}

// ---------------------------------------------------------------------------------------
// node: the Service's programming in the node's kernel (src/node/rules)
// ---------------------------------------------------------------------------------------

vocabulary! {
    /// kube-proxy's mode, as its `/proxyMode` endpoint spells it.
    pub enum ProxyMode {
        Iptables = "iptables",
        Nftables = "nftables",
        Ipvs = "ipvs",
    }
}

vocabulary! {
    /// A Service port's protocol, as kube-proxy's rules match it.
    pub enum L4Protocol {
        Tcp = "tcp",
        Udp = "udp",
        Sctp = "sctp",
    }
}

impl L4Protocol {
    /// The IP protocol number (`meta l4proto`, `ipt_ip.proto`).
    pub fn number(self) -> u8 {
        match self {
            L4Protocol::Tcp => 6,
            L4Protocol::Udp => 17,
            L4Protocol::Sctp => 132,
        }
    }

    /// From a Service port's `protocol` (`TCP`, `UDP`, `SCTP`, any case).
    pub fn from_k8s(protocol: &str) -> Option<L4Protocol> {
        L4Protocol::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(protocol))
    }
}

vocabulary! {
    /// Where the rules were read from.
    pub enum RuleSource {
        /// iptables rules kept by the kernel's nf_tables (`iptables-nft`), read over netlink.
        IptablesNft = "iptables-nft",
        /// The kernel's legacy x_tables (`iptables-legacy`), read with `IPT_SO_GET_ENTRIES`.
        IptablesLegacy = "iptables-legacy",
        /// kube-proxy's nftables mode (table `kube-proxy`), read over netlink.
        Nftables = "nftables",
        /// `/proc/net/ip_vs`.
        Ipvs = "ipvs",
        /// The node's own `iptables-save`, run from the host root.
        IptablesSave = "iptables-save",
    }
}

vocabulary! {
    /// What the node does with a new connection to a Service that has no endpoints.
    pub enum NoEndpointsRule {
        /// ICMP port unreachable (kube-proxy's REJECT, nftables `goto reject-chain`).
        Reject = "reject",
        /// Silently dropped (nftables mode, a Local policy without local endpoints).
        Drop = "drop",
    }
}

/// What the node's kernel holds for one Service port (ClusterIP, protocol, port).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceProgramming {
    pub source: RuleSource,
    /// The mode these rules belong to (`iptables-save` and both iptables backends: iptables).
    pub mode: ProxyMode,
    /// A rule (or map element, or IPVS virtual service) for this ClusterIP, protocol and port
    /// that sends its traffic to the Service's endpoints.
    pub service_rule: bool,
    /// The chain it leads to (`KUBE-SVC-...`, `service-...`), when there is one.
    pub service_chain: Option<String>,
    /// The endpoints the rules send new connections to, in rule order.
    pub endpoints: Vec<ProgrammedEndpoint>,
    /// A rule for this ClusterIP and port that rejects or drops it (no endpoints).
    pub no_endpoints_rule: Option<NoEndpointsRule>,
    /// The rules read, as text (iptables-save or nft syntax), and notes on what was skipped.
    pub evidence: Vec<String>,
}

/// One endpoint of a programmed Service.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProgrammedEndpoint {
    /// `ip:port` the connection is DNATed (or, in IPVS, forwarded) to.
    pub addr: std::net::SocketAddr,
    /// The share of new connections the rules give it (0 to 1): iptables' `statistic`
    /// probabilities taken in rule order, nftables' `numgen` slots, IPVS weights.
    pub probability: Option<f64>,
    /// The `-s podIP -j KUBE-MARK-MASQ` (nftables: `ip saddr podIP jump mark-for-masquerade`)
    /// rule that lets a pod reach itself through its Service; `None` in IPVS mode, which has
    /// no per-endpoint rule.
    pub masquerade_rule: Option<bool>,
    /// The endpoint's chain (`KUBE-SEP-...`, `endpoint-...`), when it has one.
    pub chain: Option<String>,
}

vocabulary! {
    /// Why the node's rules could not be read.
    pub enum RulesSkipReason {
        /// The kernel refused the read (no `CAP_NET_ADMIN`).
        NotPermitted = "not-permitted",
        /// No kube-proxy rules of any mode exist on this node.
        NoRules = "no-rules",
        /// The kernel or the rules hold something this reader does not decode.
        Unsupported = "unsupported",
        /// The rules are larger than the reader's bound.
        TooLarge = "too-large",
        /// The deadline passed before the read finished.
        Deadline = "deadline",
        /// The read failed otherwise.
        ReadFailed = "read-failed",
    }
}

vocabulary! {
    /// A `kubectl debug node/...` profile.
    pub enum DebugProfile {
        /// Host namespaces and `/host`, no capabilities (kubectl's default from 1.36).
        General = "general",
        /// Host network and PID namespaces, `NET_ADMIN` and `NET_RAW`, no host filesystem.
        Netadmin = "netadmin",
        /// Privileged, the host's root at `/host`.
        Sysadmin = "sysadmin",
    }
}

/// Why the Service's rules were not read, and which profile would allow it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RulesSkip {
    pub reason: RulesSkipReason,
    /// One line: what failed, and how.
    pub detail: String,
    /// The `kubectl debug` profile under which the read would work, when one would.
    pub profile: Option<DebugProfile>,
}

// ---------------------------------------------------------------------------------------
// cluster DNS: `svcprobe dns`, and diagnose when DNS fails or is slow
// ---------------------------------------------------------------------------------------

/// `svcprobe dns`: the guide's "debug the DNS Service instead", as a checklist and a verdict.
#[derive(Debug, Serialize)]
pub struct DnsReport {
    pub context: ProbeContext,
    /// resolv.conf's nameservers as glibc uses them.
    pub nameservers: Vec<String>,
    pub checks: Vec<Check>,
    pub verdict: Verdict,
    pub duration_ms: f64,
    pub deadline_ms: u64,
}

vocabulary! {
    /// What a DNS server probed by `dns-paths` is to this pod.
    pub enum DnsRole {
        /// A resolv.conf nameserver not known to be the DNS Service's ClusterIP (no objects).
        Nameserver = "nameserver",
        /// A resolv.conf nameserver at NodeLocal DNSCache's address (169.254.20.10).
        NodeLocal = "nodelocal",
        /// The ClusterIP of `kube-system/kube-dns`.
        ClusterIp = "cluster-ip",
        /// A DNS pod, directly.
        Endpoint = "endpoint",
    }
}

vocabulary! {
    /// Where the DNS Service's ClusterIP and endpoints came from.
    pub enum DnsSource {
        /// `--objects`.
        Objects = "objects",
        /// The API server, read with the pod's service account.
        Api = "api",
        /// `--dns-endpoints` (taken as ready).
        Flag = "flag",
    }
}

vocabulary! {
    /// How a DNS server treated one question over one protocol.
    pub enum DnsReply {
        /// A response that answers the question (NOERROR or NXDOMAIN).
        Answered = "answered",
        /// A response with an error code (SERVFAIL, REFUSED, ...): the server is reachable.
        Error = "error",
        /// ICMP unreachable or TCP RST: nothing listens, or a REJECT.
        Refused = "refused",
        /// No reply in time: dropped.
        Timeout = "timeout",
        /// Not sent: the command's deadline had passed.
        NotSent = "not-sent",
    }
}

/// `dns-service`: `kube-system/kube-dns` as the objects, the API server or the flag show it.
#[derive(Debug, Serialize)]
pub struct DnsServiceEvidence {
    pub source: Option<DnsSource>,
    pub cluster_ip: Option<String>,
    pub endpoints: Vec<DnsEndpointEvidence>,
    /// The API requests made for it (kube-system), when the API was read.
    pub requests: Vec<ApiRequest>,
    /// After a 403: the Role and RoleBinding that allow the read, as YAML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rbac_yaml: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DnsEndpointEvidence {
    /// The DNS pod's IP.
    pub address: String,
    pub ready: bool,
    pub pod: Option<String>,
}

/// `dns-paths`: the same question over UDP and TCP to each server on the pod's DNS path.
#[derive(Debug, Serialize)]
pub struct DnsPathsEvidence {
    /// The question asked (A of `kubernetes.default.svc.<domain>.`).
    pub name: String,
    pub servers: Vec<DnsPathProbe>,
}

#[derive(Debug, Serialize)]
pub struct DnsPathProbe {
    /// `ip:port`.
    pub server: String,
    pub role: DnsRole,
    /// The pod's resolv.conf names this server.
    pub in_resolv_conf: bool,
    /// The DNS pod, for an endpoint.
    pub pod: Option<String>,
    pub udp: DnsExchange,
    pub tcp: DnsExchange,
}

#[derive(Clone, Debug, Serialize)]
pub struct DnsExchange {
    /// The exchange's end: the last try's.
    pub reply: DnsReply,
    pub rcode: Rcode,
    /// All tries together.
    pub duration_ms: f64,
    /// Each query sent, in order, and what its wait ended with. UDP resends a query that
    /// drew nothing, as glibc does before it gives a server up (the pod's `attempts`, 2 by
    /// default; the same datagram, so a late reply to an earlier try counts for the try it
    /// arrives in); TCP is one try, as in glibc. Empty when nothing was sent.
    pub tries: Vec<DnsReply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `dns-upstream`: a name outside the cluster, through the first nameserver.
#[derive(Debug, Serialize)]
pub struct DnsUpstreamEvidence {
    pub name: String,
    pub queries: Vec<QueryRecord>,
}

vocabulary! {
    /// How a burst's lookups are sent.
    pub enum BurstStyle {
        /// A and AAAA at once from one socket, as glibc's getaddrinfo sends them.
        Parallel = "a-aaaa-parallel",
        /// A, then AAAA from a new socket: `options single-request-reopen`.
        SingleRequestReopen = "single-request-reopen",
    }
}

/// `dns-burst`: the same lookups sent both ways, to the first nameserver.
#[derive(Debug, Serialize)]
pub struct DnsBurstEvidence {
    pub server: String,
    pub name: String,
    pub timeout_ms: u64,
    pub styles: Vec<BurstStyleEvidence>,
    /// One of the pair lost far more often when sent together than when sent apart.
    pub race_signature: bool,
}

#[derive(Debug, Serialize)]
pub struct BurstStyleEvidence {
    pub style: BurstStyle,
    /// Lookups (A + AAAA each).
    pub lookups: u32,
    pub queries: u32,
    pub lost: u32,
    pub lost_a: u32,
    pub lost_aaaa: u32,
    /// Lookups that lost exactly one of A and AAAA.
    pub lost_one_of_pair: u32,
    pub loss_ratio: f64,
    /// Of the answered queries.
    pub latency_ms: Option<LatencyStats>,
}

/// `dns-search-cost`: the queries an application's lookup sends under this resolv.conf.
#[derive(Debug, Serialize)]
pub struct DnsSearchCostEvidence {
    pub ndots: u32,
    pub search: Vec<String>,
    pub names: Vec<SearchCost>,
}

#[derive(Debug, Serialize)]
pub struct SearchCost {
    /// The name as an application would write it.
    pub name: String,
    pub libc: Libc,
    /// Queries sent (A and AAAA count one each).
    pub queries: u32,
    /// Candidate names tried.
    pub names_tried: u32,
    pub status: LookupStatus,
    pub final_name: Option<String>,
    /// svcprobe's own time for the walk.
    pub duration_ms: f64,
    /// The change that sends fewer queries, and how many it sends; absent when none does.
    pub cheaper: Option<CheaperLookup>,
}

#[derive(Debug, Serialize)]
pub struct CheaperLookup {
    pub change: String,
    pub queries: u32,
}
