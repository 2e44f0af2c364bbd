//! resolv.conf as glibc and musl read it, and what is wrong with it for a Kubernetes pod.
//!
//! Pure: text in, [`ResolvConf`] out, no I/O, so every rule is tested on fixture text.
//! The two C libraries disagree in ways that cause real outages (musl ignores over-long
//! lines and most options; glibc before 2.26 truncated long search lists), so the parser
//! keeps every directive with its line number and each library's view is derived from it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::report::{
    EffectiveConfig, Finding, FindingCode, KubernetesContext, Libc, NameserverEntry, OptionEntry,
    Severity,
};

/// Both C libraries use at most this many nameservers (MAXNS in resolv.h and in musl).
pub const MAX_NAMESERVERS: usize = 3;
/// musl reads resolv.conf with a 256-byte line buffer and skips any line that does not
/// fit, newline included, so a line of 255 characters or more is ignored.
const MUSL_MAX_LINE: usize = 254;
/// glibc before 2.26 (and the kubelet before 1.28) kept at most 6 search domains...
const OLD_MAX_SEARCH_DOMAINS: usize = 6;
/// ...and at most 256 characters of search list.
const OLD_MAX_SEARCH_CHARS: usize = 256;
/// RES_MAXNDOTS in glibc; musl clamps to the same value.
const MAX_NDOTS: u32 = 15;
/// Kubernetes' ClusterFirst pods get `ndots:5`; below it, names with dots skip the search list.
const KUBERNETES_NDOTS: u32 = 5;

/// The boolean options glibc 2.36 knows, in the order res_init.c tries them: it compares
/// only the first `len` characters (`strncmp`), so `rotate:1` is `rotate` and `use-vc-x`
/// is `use-vc`. Each maps to the name the report uses (`no_tld_query` is `no-tld-query`).
/// Anything else, glibc silently ignores.
const GLIBC_FLAGS: &[(&str, &str)] = &[
    ("rotate", "rotate"),
    ("edns0", "edns0"),
    ("single-request-reopen", "single-request-reopen"),
    ("single-request", "single-request"),
    ("no_tld_query", "no-tld-query"),
    ("no-tld-query", "no-tld-query"),
    ("no-reload", "no-reload"),
    ("use-vc", "use-vc"),
    ("trust-ad", "trust-ad"),
    ("no-aaaa", "no-aaaa"),
];
/// Options that take a `:N` value; the only ones musl understands at all.
const VALUED_OPTIONS: &[&str] = &["ndots", "timeout", "attempts"];

/// A parsed resolv.conf: what each line said, and the findings made while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<Nameserver>,
    /// Every `search`/`domain` line, in order; the last one is the one that counts.
    pub search_lines: Vec<SearchLine>,
    pub options: Vec<OptionEntry>,
    /// The text after `options` on each options line: musl looks for `ndots:`,
    /// `timeout:` and `attempts:` anywhere in it (`strstr`), not token by token.
    pub options_text: Vec<String>,
    /// Findings about the syntax, in line order (lints come from [`ResolvConf::lint`]).
    pub syntax_findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    pub addr: IpAddr,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchLine {
    /// The search list as glibc reads the line (a `domain` line: its first word).
    pub domains: Vec<String>,
    /// The search list as musl reads it: everything after the keyword, for both keywords.
    pub musl_domains: Vec<String>,
    pub line: usize,
    /// Length of the whole line in bytes: musl ignores long lines.
    pub line_len: usize,
    /// True for a `domain` line (a single-entry search list).
    pub is_domain: bool,
}

/// The resolver settings one library ends up with, in a form the DNS walk can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub ndots: u32,
    pub timeout_s: u32,
    pub attempts: u32,
    pub flags: Vec<String>,
}

/// Where both C libraries send queries when resolv.conf names no nameserver.
pub const FALLBACK_NAMESERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);

impl Effective {
    /// The servers queries go to: the nameservers on port 53, or the libraries' fallback.
    pub fn servers(&self) -> Vec<SocketAddr> {
        if self.nameservers.is_empty() {
            return vec![FALLBACK_NAMESERVER];
        }
        self.nameservers
            .iter()
            .map(|ip| SocketAddr::new(*ip, 53))
            .collect()
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub fn to_report(&self) -> EffectiveConfig {
        EffectiveConfig {
            nameservers: self.nameservers.iter().map(IpAddr::to_string).collect(),
            search: self.search.clone(),
            ndots: self.ndots,
            timeout_s: self.timeout_s,
            attempts: self.attempts,
            flags: self.flags.clone(),
        }
    }
}

/// Parses resolv.conf text. Never fails: what cannot be understood becomes a finding.
pub fn parse(text: &str) -> ResolvConf {
    let mut conf = ResolvConf {
        nameservers: Vec::new(),
        search_lines: Vec::new(),
        options: Vec::new(),
        options_text: Vec::new(),
        syntax_findings: Vec::new(),
    };
    for (index, raw) in text.lines().enumerate() {
        parse_line(&mut conf, index + 1, raw);
    }
    conf
}

fn parse_line(conf: &mut ResolvConf, line: usize, raw: &str) {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
        return;
    }
    let finding = |severity, code, message: String| Finding {
        severity,
        code,
        message,
        line: Some(line),
    };
    // Both libraries compare keywords at the very start of the line (glibc's MATCH, musl's
    // strncmp): an indented line matches nothing.
    if raw.starts_with(char::is_whitespace) {
        let keyword = trimmed.split_ascii_whitespace().next().unwrap_or_default();
        let why = match keyword {
            "nameserver" => "this nameserver is not used",
            "search" | "domain" => "this search list is not used",
            "options" => "these options are not used",
            _ => "the line is not used",
        };
        conf.syntax_findings.push(finding(
            Severity::Warning,
            FindingCode::IndentedLine,
            format!(
                "the line starts with whitespace, and glibc and musl read keywords only at the \
                 start of a line: {why}"
            ),
        ));
        return;
    }
    let mut words = trimmed.split_ascii_whitespace();
    let keyword = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    match keyword {
        "nameserver" => match args.first().map(|a| parse_nameserver(a)) {
            Some(Some(addr)) => conf.nameservers.push(Nameserver { addr, line }),
            Some(None) => conf.syntax_findings.push(finding(
                Severity::Error,
                FindingCode::InvalidNameserver,
                format!("`{}` is not an IP address; the line is ignored", args[0]),
            )),
            None => conf.syntax_findings.push(finding(
                Severity::Error,
                FindingCode::InvalidNameserver,
                "`nameserver` without an address; the line is ignored".into(),
            )),
        },
        "search" | "domain" => {
            let is_domain = keyword == "domain";
            let all: Vec<String> = args.iter().map(|d| d.to_string()).collect();
            let domains: Vec<String> = if is_domain {
                all.iter().take(1).cloned().collect()
            } else {
                all.clone()
            };
            if domains.is_empty() {
                conf.syntax_findings.push(finding(
                    Severity::Warning,
                    FindingCode::EmptySearch,
                    format!(
                        "`{keyword}` without a domain: glibc skips the line (an earlier search \
                         line still counts), musl clears its search list"
                    ),
                ));
            }
            for d in &all {
                if let Err(why) = check_domain(d) {
                    conf.syntax_findings.push(finding(
                        Severity::Warning,
                        FindingCode::InvalidSearchDomain,
                        format!("search domain `{d}` {why}"),
                    ));
                }
            }
            conf.search_lines.push(SearchLine {
                domains,
                musl_domains: all,
                line,
                line_len: raw.len(),
                is_domain,
            });
        }
        "options" => {
            conf.options_text.push(args.join(" "));
            for token in args {
                parse_option(conf, line, token);
            }
        }
        "sortlist" => {}
        other => conf.syntax_findings.push(finding(
            Severity::Warning,
            FindingCode::UnknownKeyword,
            format!("unknown keyword `{other}`; both C libraries ignore this line"),
        )),
    }
}

/// Accepts what glibc's inet_pton accepts, plus an IPv6 `%scope` suffix, which is dropped.
fn parse_nameserver(text: &str) -> Option<IpAddr> {
    let address = text.split('%').next().unwrap_or(text);
    address.parse().ok()
}

/// How glibc's res_setoptions reads one option token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GlibcOption {
    Ndots(u32),
    Timeout(u32),
    Attempts(u32),
    Flag(&'static str),
    Ignored,
}

fn glibc_option(token: &str) -> GlibcOption {
    if let Some(rest) = token.strip_prefix("ndots:") {
        // atoi, then `if (i <= RES_MAXNDOTS) ndots = i else RES_MAXNDOTS` into a 4-bit
        // field: a negative (or wrapped) number keeps its low four bits.
        let i = atoi(rest);
        return GlibcOption::Ndots(if i > 15 { MAX_NDOTS } else { (i as u32) & 0xf });
    }
    if let Some(rest) = token.strip_prefix("timeout:") {
        return GlibcOption::Timeout(atoi(rest).clamp(1, 30) as u32);
    }
    if let Some(rest) = token.strip_prefix("attempts:") {
        return GlibcOption::Attempts(atoi(rest).clamp(1, 5) as u32);
    }
    GLIBC_FLAGS
        .iter()
        .find(|(prefix, _)| token.starts_with(prefix))
        .map_or(GlibcOption::Ignored, |(_, name)| GlibcOption::Flag(name))
}

/// C's `atoi` as glibc has it: `(int) strtol(s, NULL, 10)`, so leading blanks and a sign,
/// digits up to the first non-digit (0 when there are none), saturated to 64 bits and
/// then cut to the low 32.
fn atoi(text: &str) -> i32 {
    let text = text.trim_start();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    let value = if negative { -magnitude } else { magnitude };
    value as i32
}

/// musl's reading of `name:` in an options line: the first occurrence anywhere in the
/// line (`strstr`), used only when a digit follows (`strtoul`, saturating).
fn musl_value(text: &str, name: &str) -> Option<u64> {
    let at = text.find(name)? + name.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.is_empty() {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

fn parse_option(conf: &mut ResolvConf, line: usize, token: &str) {
    let (written, value) = match token.split_once(':') {
        Some((name, value)) => (name, Some(value)),
        None => (token, None),
    };
    let glibc = glibc_option(token);
    let musl_reads = VALUED_OPTIONS
        .iter()
        .find(|name| musl_value(token, &format!("{name}:")).is_some());
    let mut push_finding = |code, message: String| {
        conf.syntax_findings.push(Finding {
            severity: Severity::Warning,
            code,
            message,
            line: Some(line),
        })
    };
    let name = match glibc {
        GlibcOption::Ndots(_) => "ndots",
        GlibcOption::Timeout(_) => "timeout",
        GlibcOption::Attempts(_) => "attempts",
        GlibcOption::Flag(flag) => flag,
        GlibcOption::Ignored => written,
    };
    if glibc == GlibcOption::Ignored && musl_reads.is_none() {
        let why = if VALUED_OPTIONS.contains(&written) {
            format!("`{token}` has no number after the colon; both C libraries ignore it")
        } else {
            format!("unknown option `{token}`; both C libraries ignore it")
        };
        push_finding(FindingCode::UnknownOption, why);
        return;
    }
    let number = value.map(|v| {
        v.bytes().take_while(u8::is_ascii_digit).fold(0u32, |n, d| {
            n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        })
    });
    let valued = VALUED_OPTIONS.contains(&name);
    let digits: String = value
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let as_written = if valued {
        format!("{name}:{digits}")
    } else {
        name.to_string()
    };
    let spelled_as_known = GLIBC_FLAGS.iter().any(|(prefix, _)| *prefix == token);
    if (token != as_written || (valued && digits.is_empty())) && !spelled_as_known {
        let glibc_reads = match glibc {
            GlibcOption::Ndots(n) => format!("ndots:{n}"),
            GlibcOption::Timeout(n) => format!("timeout:{n}"),
            GlibcOption::Attempts(n) => format!("attempts:{n}"),
            GlibcOption::Flag(flag) => format!("`{flag}`"),
            GlibcOption::Ignored => "nothing".into(),
        };
        let musl_reads = match musl_reads {
            Some(name) => format!(
                "{name}:{}",
                musl_value(token, &format!("{name}:")).unwrap_or_default()
            ),
            None => "nothing".into(),
        };
        push_finding(
            FindingCode::MalformedOption,
            format!(
                "`{token}`: glibc reads {glibc_reads} (it matches options by prefix and reads \
                 numbers with atoi), musl reads {musl_reads} (strtoul)"
            ),
        );
    }
    conf.options.push(OptionEntry {
        name: name.to_string(),
        value: if valued { number } else { None },
        line,
        known_to_glibc: glibc != GlibcOption::Ignored,
        known_to_musl: musl_reads.is_some(),
    });
}

/// How a search domain breaks RFC 1035's limits; it reads after the domain in a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DomainProblem {
    Root,
    TooLong,
    EmptyLabel,
    LongLabel,
    BadCharacters,
}

impl fmt::Display for DomainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DomainProblem::Root => "is the root domain",
            DomainProblem::TooLong => "is longer than 253 characters",
            DomainProblem::EmptyLabel => "has an empty label",
            DomainProblem::LongLabel => "has a label longer than 63 characters",
            DomainProblem::BadCharacters => {
                "has characters that are not letters, digits, '-' or '_'"
            }
        })
    }
}

/// RFC 1035 limits a resolver cares about; the search walk appends these to names.
fn check_domain(domain: &str) -> Result<(), DomainProblem> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.is_empty() {
        return Err(DomainProblem::Root);
    }
    if name.len() > 253 {
        return Err(DomainProblem::TooLong);
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(DomainProblem::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(DomainProblem::LongLabel);
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(DomainProblem::BadCharacters);
        }
    }
    Ok(())
}

impl ResolvConf {
    /// The settings `libc` ends up with, after its own limits and defaults.
    pub fn effective(&self, libc: Libc) -> Effective {
        let mut nameservers: Vec<IpAddr> = self.nameservers.iter().map(|n| n.addr).collect();
        nameservers.truncate(MAX_NAMESERVERS);
        let search = match libc {
            // glibc skips a search line without domains; the last other one counts.
            Libc::Glibc => self
                .search_lines
                .iter()
                .rev()
                .find(|s| !s.domains.is_empty())
                .map(|s| s.domains.clone()),
            // musl takes the last line it could read whole, empty or not.
            Libc::Musl => self
                .search_lines
                .iter()
                .rev()
                .find(|s| s.line_len <= MUSL_MAX_LINE)
                .map(|s| s.musl_domains.clone()),
        };
        let mut effective = Effective {
            nameservers,
            search: search.unwrap_or_default(),
            ndots: 1,
            timeout_s: 5,
            attempts: 2,
            flags: Vec::new(),
        };
        match libc {
            Libc::Glibc => self.apply_glibc_options(&mut effective),
            Libc::Musl => self.apply_musl_options(&mut effective),
        }
        effective
    }

    fn apply_glibc_options(&self, effective: &mut Effective) {
        let tokens = self
            .options_text
            .iter()
            .flat_map(|text| text.split_ascii_whitespace());
        for token in tokens {
            match glibc_option(token) {
                GlibcOption::Ndots(n) => effective.ndots = n,
                GlibcOption::Timeout(n) => effective.timeout_s = n,
                GlibcOption::Attempts(n) => effective.attempts = n,
                GlibcOption::Flag(flag) if !effective.has_flag(flag) => {
                    effective.flags.push(flag.into())
                }
                GlibcOption::Flag(_) | GlibcOption::Ignored => {}
            }
        }
    }

    fn apply_musl_options(&self, effective: &mut Effective) {
        let clamp = |v: u64, max: u32| u32::try_from(v.min(u64::from(max))).unwrap_or(max);
        for text in &self.options_text {
            if let Some(n) = musl_value(text, "ndots:") {
                effective.ndots = clamp(n, MAX_NDOTS);
            }
            if let Some(n) = musl_value(text, "timeout:") {
                effective.timeout_s = clamp(n, 60).max(1);
            }
            if let Some(n) = musl_value(text, "attempts:") {
                effective.attempts = clamp(n, 10).max(1);
            }
        }
    }

    /// The namespace and cluster domain a Kubernetes pod's search list encodes.
    pub fn kubernetes_context(&self) -> Option<KubernetesContext> {
        let search = self.effective(Libc::Glibc).search;
        if let Some((namespace, domain)) = search.iter().find_map(|d| split_namespace_domain(d)) {
            return Some(KubernetesContext {
                namespace: Some(namespace.to_string()),
                cluster_domain: domain.to_string(),
            });
        }
        search.iter().find_map(|d| {
            d.strip_prefix("svc.").map(|domain| KubernetesContext {
                namespace: None,
                cluster_domain: domain.trim_end_matches('.').to_string(),
            })
        })
    }

    /// Every finding: syntax problems first, then what the settings mean for a pod.
    pub fn lint(&self) -> Vec<Finding> {
        let mut findings = self.syntax_findings.clone();
        self.lint_nameservers(&mut findings);
        self.lint_search(&mut findings);
        self.lint_options(&mut findings);
        findings
    }

    pub fn nameserver_entries(&self) -> Vec<NameserverEntry> {
        self.nameservers
            .iter()
            .enumerate()
            .map(|(i, n)| NameserverEntry {
                address: n.addr.to_string(),
                line: n.line,
                used_by_glibc: i < MAX_NAMESERVERS,
                used_by_musl: i < MAX_NAMESERVERS,
            })
            .collect()
    }

    fn lint_nameservers(&self, findings: &mut Vec<Finding>) {
        if self.nameservers.is_empty() {
            findings.push(Finding {
                severity: Severity::Error,
                code: FindingCode::NoNameserver,
                message: "no usable `nameserver` line: both C libraries fall back to 127.0.0.1, \
                          where a pod has no DNS server"
                    .into(),
                line: None,
            });
        }
        for extra in self.nameservers.iter().skip(MAX_NAMESERVERS) {
            findings.push(Finding {
                severity: Severity::Warning,
                code: FindingCode::TooManyNameservers,
                message: format!(
                    "nameserver {} is ignored: glibc and musl use only the first {MAX_NAMESERVERS}",
                    extra.addr
                ),
                line: Some(extra.line),
            });
        }
    }

    fn lint_search(&self, findings: &mut Vec<Finding>) {
        let Some(last) = self.search_lines.last() else {
            findings.push(Finding {
                severity: Severity::Warning,
                code: FindingCode::NoSearch,
                message: "no `search` line: short Service names such as `hostnames` or \
                          `hostnames.default` will not resolve, only fully qualified ones"
                    .into(),
                line: None,
            });
            return;
        };
        for earlier in &self.search_lines[..self.search_lines.len() - 1] {
            findings.push(Finding {
                severity: Severity::Warning,
                code: FindingCode::SearchOverridden,
                message: "only the last `search`/`domain` line counts; this one is ignored".into(),
                line: Some(earlier.line),
            });
        }
        if last.line_len > MUSL_MAX_LINE {
            let musl_search = self.effective(Libc::Musl).search;
            findings.push(Finding {
                severity: Severity::Warning,
                code: FindingCode::SearchLineTooLongForMusl,
                message: format!(
                    "this line is {} characters long; musl (Alpine) skips lines longer than \
                     {MUSL_MAX_LINE}, so musl programs use {}",
                    last.line_len,
                    describe_search(&musl_search)
                ),
                line: Some(last.line),
            });
        }
        let chars: usize = last.domains.iter().map(|d| d.len() + 1).sum();
        if last.domains.len() > OLD_MAX_SEARCH_DOMAINS || chars > OLD_MAX_SEARCH_CHARS {
            findings.push(Finding {
                severity: Severity::Warning,
                code: FindingCode::SearchTooLongForOldResolvers,
                message: format!(
                    "{} search domains, {chars} characters: glibc before 2.26 keeps only \
                     {OLD_MAX_SEARCH_DOMAINS} domains and {OLD_MAX_SEARCH_CHARS} characters",
                    last.domains.len()
                ),
                line: Some(last.line),
            });
        }
        self.lint_kubernetes_search(last, findings);
    }

    fn lint_kubernetes_search(&self, last: &SearchLine, findings: &mut Vec<Finding>) {
        let Some(context) = self.kubernetes_context() else {
            findings.push(Finding {
                severity: Severity::Info,
                code: FindingCode::NotKubernetesSearch,
                message: "the search list has no `svc.<cluster-domain>` entry: this does not \
                          look like a ClusterFirst pod's resolv.conf"
                    .into(),
                line: Some(last.line),
            });
            return;
        };
        let domain = &context.cluster_domain;
        let mut expected = Vec::new();
        if let Some(ns) = &context.namespace {
            expected.push((
                format!("{ns}.svc.{domain}"),
                FindingCode::SearchMissingNamespaceDomain,
            ));
        } else {
            findings.push(Finding {
                severity: Severity::Warning,
                code: FindingCode::SearchMissingNamespaceDomain,
                message: format!(
                    "no `<namespace>.svc.{domain}` entry: `hostnames` alone will not find a \
                     Service in the pod's own namespace"
                ),
                line: Some(last.line),
            });
        }
        expected.push((format!("svc.{domain}"), FindingCode::SearchMissingSvcDomain));
        expected.push((domain.clone(), FindingCode::SearchMissingClusterDomain));
        let normalized: Vec<&str> = last
            .domains
            .iter()
            .map(|d| d.trim_end_matches('.'))
            .collect();
        for (want, code) in &expected {
            if !normalized.contains(&want.as_str()) {
                findings.push(Finding {
                    severity: Severity::Warning,
                    code: *code,
                    message: format!("the search list lacks `{want}`, which kubelet always writes"),
                    line: Some(last.line),
                });
            }
        }
        let positions: Vec<usize> = expected
            .iter()
            .filter_map(|(want, _)| normalized.iter().position(|d| d == want))
            .collect();
        if positions.windows(2).any(|w| w[0] > w[1]) {
            findings.push(Finding {
                severity: Severity::Warning,
                code: FindingCode::SearchOrder,
                message: "the cluster entries are out of kubelet's order \
                          (`<ns>.svc.<domain> svc.<domain> <domain>`): names resolve to a \
                          different Service than in other pods"
                    .into(),
                line: Some(last.line),
            });
        }
    }

    fn lint_options(&self, findings: &mut Vec<Finding>) {
        let in_cluster = self.kubernetes_context().is_some();
        for option in &self.options {
            let line = Some(option.line);
            match (option.name.as_str(), option.value) {
                ("ndots", Some(n)) if n > MAX_NDOTS => findings.push(Finding {
                    severity: Severity::Warning,
                    code: FindingCode::NdotsClamped,
                    message: format!("ndots above {MAX_NDOTS} is used as {MAX_NDOTS} by both libraries"),
                    line,
                }),
                ("ndots", Some(n)) if in_cluster && n < KUBERNETES_NDOTS => findings.push(Finding {
                    severity: Severity::Warning,
                    code: FindingCode::NdotsLow,
                    message: format!(
                        "ndots:{n} (kubelet writes ndots:{KUBERNETES_NDOTS}): a name with {n} or more dots, \
                         like `hostnames.default`, is tried as-is first by glibc and never \
                         searched by musl, so it fails in Alpine images"
                    ),
                    line,
                }),
                ("timeout", Some(n)) | ("attempts", Some(n)) if n == 0 => findings.push(Finding {
                    severity: Severity::Warning,
                    code: FindingCode::MalformedOption,
                    message: format!("{}:0 is raised to 1 by both libraries", option.name),
                    line,
                }),
                (name, None) if !option.known_to_musl && musl_ignores_meaningfully(name) => {
                    findings.push(Finding {
                        severity: Severity::Info,
                        code: FindingCode::OptionIgnoredByMusl,
                        message: format!(
                            "musl ignores `{name}`: Alpine-based pods do not get its effect"
                        ),
                        line,
                    })
                }
                _ => {}
            }
        }
        if in_cluster && !self.options.iter().any(|o| o.name == "ndots") {
            findings.push(Finding {
                severity: Severity::Warning,
                code: FindingCode::NdotsLow,
                message: format!(
                    "no ndots option, so ndots is 1 (kubelet writes ndots:{KUBERNETES_NDOTS}): \
                     `hostnames.default` is never searched by musl"
                ),
                line: None,
            });
        }
    }
}

/// The options people add on purpose to a pod's dnsConfig, whose loss under musl matters.
fn musl_ignores_meaningfully(name: &str) -> bool {
    matches!(
        name,
        "single-request" | "single-request-reopen" | "use-vc" | "rotate" | "edns0" | "no-aaaa"
    )
}

/// `("default", "cluster.local")` for `default.svc.cluster.local`.
fn split_namespace_domain(domain: &str) -> Option<(&str, &str)> {
    let domain = domain.trim_end_matches('.');
    let (namespace, rest) = domain.split_once(".svc.")?;
    (!namespace.is_empty() && !namespace.contains('.') && !rest.is_empty())
        .then_some((namespace, rest))
}

fn describe_search(search: &[String]) -> String {
    if search.is_empty() {
        "no search list at all".into()
    } else {
        format!("an earlier search line ({})", search.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "nameserver 10.0.0.10\n\
                       search default.svc.cluster.local svc.cluster.local cluster.local\n\
                       options ndots:5\n";

    fn codes(text: &str) -> Vec<&'static str> {
        parse(text)
            .lint()
            .into_iter()
            .map(|f| f.code.as_str())
            .collect()
    }

    #[test]
    fn a_kubelet_written_file_is_clean() {
        let conf = parse(POD);
        assert_eq!(conf.lint(), vec![]);
        let glibc = conf.effective(Libc::Glibc);
        assert_eq!(
            glibc.nameservers,
            vec!["10.0.0.10".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(glibc.search.len(), 3);
        assert_eq!((glibc.ndots, glibc.timeout_s, glibc.attempts), (5, 5, 2));
        assert_eq!(conf.effective(Libc::Musl), glibc);
        assert_eq!(
            conf.kubernetes_context(),
            Some(KubernetesContext {
                namespace: Some("default".into()),
                cluster_domain: "cluster.local".into()
            })
        );
    }

    #[test]
    fn fixtures_parse_without_panicking_and_report_line_numbers() {
        let cases: &[(&str, &[&str])] = &[
            (include_str!("../tests/fixtures/resolv/gke.conf"), &[]),
            (
                include_str!("../tests/fixtures/resolv/malformed.conf"),
                &[
                    "invalid-nameserver",
                    "unknown-keyword",
                    "malformed-option",
                    "unknown-option",
                    "malformed-option",
                    "ndots-low",
                    "option-ignored-by-musl",
                ],
            ),
            (
                include_str!("../tests/fixtures/resolv/odd.conf"),
                &[
                    "indented-line",
                    "too-many-nameservers",
                    "option-ignored-by-musl",
                    "option-ignored-by-musl",
                ],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&codes(text), expected, "fixture:\n{text}");
        }
        let malformed = parse(include_str!("../tests/fixtures/resolv/malformed.conf"));
        let lines: Vec<Option<usize>> = malformed.lint().iter().map(|f| f.line).collect();
        assert_eq!(
            lines,
            vec![
                Some(2),
                Some(4),
                Some(5),
                Some(5),
                Some(5),
                Some(5),
                Some(5)
            ]
        );
    }

    #[test]
    fn empty_and_binary_input_are_findings_not_panics() {
        assert_eq!(codes(""), vec!["no-nameserver", "no-search"]);
        let garbage = String::from_utf8_lossy(&[0xff, 0xfe, b'\n', 0, b':', b'\n']).into_owned();
        assert!(codes(&garbage).contains(&"unknown-keyword"));
        assert_eq!(codes("options ndots:\nnameserver 1.1.1.1"), {
            let mut v = vec!["malformed-option"];
            v.push("no-search");
            v
        });
    }

    #[test]
    fn the_last_search_or_domain_line_wins() {
        let conf = parse("nameserver 10.0.0.10\nsearch a.svc.x svc.x x\ndomain example.com\n");
        assert_eq!(conf.effective(Libc::Glibc).search, vec!["example.com"]);
        let codes: Vec<_> = conf.lint().into_iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, vec!["search-overridden", "not-kubernetes-search"]);
    }

    #[test]
    fn musl_skips_a_search_line_it_cannot_fit() {
        let long: Vec<String> = (0..30).map(|i| format!("domain{i}.example.com")).collect();
        let text = format!(
            "nameserver 10.0.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local {}\noptions ndots:5\n",
            long.join(" ")
        );
        let conf = parse(&text);
        assert_eq!(conf.effective(Libc::Glibc).search.len(), 33);
        assert_eq!(conf.effective(Libc::Musl).search, Vec::<String>::new());
        let codes: Vec<_> = conf.lint().into_iter().map(|f| f.code.as_str()).collect();
        assert_eq!(
            codes,
            vec![
                "search-line-too-long-for-musl",
                "search-too-long-for-old-resolvers"
            ]
        );
    }

    #[test]
    fn six_short_domains_are_fine_seven_are_not_for_old_glibc() {
        let six = "nameserver 10.0.0.10\nsearch a.svc.c svc.c c d e f\noptions ndots:5\n";
        assert_eq!(codes(six), Vec::<&str>::new());
        let seven = "nameserver 10.0.0.10\nsearch a.svc.c svc.c c d e f g\noptions ndots:5\n";
        assert_eq!(codes(seven), vec!["search-too-long-for-old-resolvers"]);
    }

    #[test]
    fn cluster_entries_missing_or_out_of_order() {
        let text = "nameserver 10.0.0.10\nsearch svc.cluster.local\noptions ndots:5\n";
        assert_eq!(
            codes(text),
            vec![
                "search-missing-namespace-domain",
                "search-missing-cluster-domain"
            ]
        );
        let text = "nameserver 10.0.0.10\nsearch cluster.local prod.svc.cluster.local svc.cluster.local\noptions ndots:5\n";
        assert_eq!(codes(text), vec!["search-order"]);
    }

    #[test]
    fn low_ndots_in_a_cluster_is_flagged_and_clamping_is_modelled() {
        let text = POD.replace("ndots:5", "ndots:1");
        assert_eq!(codes(&text), vec!["ndots-low"]);
        let no_option = POD.replace("options ndots:5\n", "");
        assert_eq!(codes(&no_option), vec!["ndots-low"]);
        let conf = parse(&POD.replace("ndots:5", "ndots:40 timeout:99 attempts:0"));
        let glibc = conf.effective(Libc::Glibc);
        let musl = conf.effective(Libc::Musl);
        assert_eq!((glibc.ndots, glibc.timeout_s, glibc.attempts), (15, 30, 1));
        assert_eq!((musl.ndots, musl.timeout_s, musl.attempts), (15, 60, 1));
    }

    #[test]
    fn musl_sees_only_the_numeric_options() {
        let conf = parse(&POD.replace("ndots:5", "ndots:5 single-request-reopen use-vc"));
        assert_eq!(
            conf.effective(Libc::Glibc).flags,
            vec!["single-request-reopen", "use-vc"]
        );
        assert!(conf.effective(Libc::Musl).flags.is_empty());
    }

    #[test]
    fn nameserver_forms() {
        let conf = parse("nameserver fe80::1%eth0\nnameserver 10.0.0.10 # comment\nnameserver\n");
        let addrs: Vec<String> = conf
            .nameservers
            .iter()
            .map(|n| n.addr.to_string())
            .collect();
        assert_eq!(addrs, vec!["fe80::1", "10.0.0.10"]);
        assert_eq!(conf.syntax_findings.len(), 1);
        let five =
            "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n";
        assert!(codes(five).contains(&"too-many-nameservers"));
    }

    #[test]
    fn keywords_count_only_at_the_start_of_a_line() {
        let conf = parse("  nameserver 10.0.0.10\nsearch a.example\n\toptions ndots:5\n");
        assert!(conf.nameservers.is_empty());
        assert_eq!(
            conf.effective(Libc::Glibc).servers(),
            vec![FALLBACK_NAMESERVER]
        );
        assert_eq!(conf.effective(Libc::Musl).ndots, 1);
        let codes: Vec<&str> = conf.lint().iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes[..2], ["indented-line", "indented-line"]);
        assert!(codes.contains(&"no-nameserver"));
    }

    #[test]
    fn numbers_are_read_with_atoi_by_glibc_and_strtoul_by_musl() {
        let read = |options: &str| {
            let conf = parse(&format!("nameserver 10.0.0.10\noptions {options}\n"));
            let (g, m) = (conf.effective(Libc::Glibc), conf.effective(Libc::Musl));
            ((g.ndots, g.timeout_s), (m.ndots, m.timeout_s))
        };
        assert_eq!(read("ndots:999999999999"), ((15, 5), (15, 5)));
        assert_eq!(read("ndots:5abc"), ((5, 5), (5, 5)));
        assert_eq!(read("ndots:abc"), ((0, 5), (1, 5)));
        assert_eq!(read("ndots:-1"), ((15, 5), (1, 5)));
        // musl finds `timeout:` anywhere in the line; glibc only at a token's start
        assert_eq!(read("x-timeout:2"), ((1, 5), (1, 2)));
    }

    #[test]
    fn glibc_matches_options_by_prefix_and_skips_an_empty_search_line() {
        let conf = parse(
            "nameserver 10.0.0.10\nsearch a.example b.example\nsearch\n\
             options rotate:1 use-vc-x no_tld_query single-request-reopen\n",
        );
        let glibc = conf.effective(Libc::Glibc);
        assert_eq!(
            glibc.flags,
            ["rotate", "use-vc", "no-tld-query", "single-request-reopen"]
        );
        assert_eq!(glibc.search, ["a.example", "b.example"]);
        let musl = conf.effective(Libc::Musl);
        assert!(musl.search.is_empty() && musl.flags.is_empty());
        let malformed: Vec<String> = conf
            .lint()
            .into_iter()
            .filter(|f| f.code == FindingCode::MalformedOption)
            .map(|f| f.message)
            .collect();
        assert_eq!(malformed.len(), 2, "{malformed:?}");
        assert!(malformed[1].contains("`use-vc`"), "{malformed:?}");
    }
}
