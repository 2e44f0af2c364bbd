//! `svcprobe nslookup`: the guide's `nslookup hostnames`, showing every query the pod's
//! C library would send and what each C library ends up with.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use hickory_proto::rr::RecordType;

use crate::cli::NslookupArgs;
use crate::dns::search::{self, Lookup, SearchConfig};
use crate::dns::{millis, server_answered, wire, Querier, QuerySettings};
use crate::error::{Error, Usage};
use crate::report::{
    Envelope, Finding, FindingCode, Libc, LibcAnswer, LookupStatus, NslookupReport, QueryRecord,
    Rcode, Severity, SCHEMA_VERSION,
};
use crate::resolvconf::{self, Effective, FALLBACK_NAMESERVER};

pub fn run(args: &NslookupArgs) -> Result<Envelope<NslookupReport>, Error> {
    let start = Instant::now();
    let (conf, config_source) = read_config(args, start + args.deadline)?;
    let glibc = conf.effective(Libc::Glibc);
    let musl = conf.effective(Libc::Musl);
    let servers = servers(args, &glibc);

    let ip = args.name.parse::<IpAddr>().ok();
    let name = match ip {
        Some(ip) => wire::reverse_name(ip),
        None => {
            wire::absolute_name(&args.name).map_err(|error| {
                Error::Usage(Usage::Name {
                    name: args.name.clone(),
                    error,
                })
            })?;
            args.name.clone()
        }
    };
    let types = match (&args.types[..], ip) {
        ([], Some(_)) => vec![RecordType::PTR],
        ([], None) => vec![RecordType::A, RecordType::AAAA],
        (given, _) => given.to_vec(),
    };
    let lookup = Lookup {
        name: &name,
        types: &types,
        use_search: !args.no_search && ip.is_none(),
    };
    let glibc_search = SearchConfig::of(&glibc, Libc::Glibc);
    let musl_search = SearchConfig::of(&musl, Libc::Musl);
    let mut querier = Querier::new(QuerySettings {
        servers: servers.clone(),
        timeout: args.timeout,
        deadline: start + args.deadline,
        tcp: args.tcp || glibc.has_flag("use-vc"),
        edns: glibc.has_flag("edns0"),
    });
    // The chosen library walks first, so the query log starts with exactly its queries.
    let (answer, other_libc) = match args.libc {
        Libc::Glibc => {
            let g = search::walk_glibc(&lookup, &glibc_search, &mut querier);
            let m = search::walk_musl(&lookup, &musl_search, &mut querier);
            (g, m)
        }
        Libc::Musl => {
            let m = search::walk_musl(&lookup, &musl_search, &mut querier);
            let g = search::walk_glibc(&lookup, &glibc_search, &mut querier);
            (m, g)
        }
    };
    let queries = querier.into_log();
    let timed_out = names_with(&queries, Rcode::Timeout);
    let deadline_exceeded = [&answer, &other_libc].iter().any(|a| {
        a.status == LookupStatus::Deadline
            || a.candidates
                .iter()
                .any(|c| c.outcome == Some(LookupStatus::Deadline))
    });
    let libc_disagreement = disagreement(&answer, &other_libc);
    let mut findings = findings(&queries, &answer, &conf, args.servers.is_empty());
    if let Some(why) = &libc_disagreement {
        findings.push(disagreement_finding(
            why,
            &answer,
            &other_libc,
            search::is_address_lookup(&types),
        ));
    }
    Ok(Envelope {
        schema_version: SCHEMA_VERSION,
        command: "nslookup",
        ok: answer.status == LookupStatus::Resolved,
        report: NslookupReport {
            name: args.name.clone(),
            types: types.iter().map(RecordType::to_string).collect(),
            libc: args.libc,
            config_source,
            nameservers: servers.iter().map(SocketAddr::to_string).collect(),
            search: if lookup.use_search {
                glibc.search.clone()
            } else {
                Vec::new()
            },
            ndots: glibc.ndots,
            timeout_ms: args.timeout.as_millis() as u64,
            deadline_ms: args.deadline.as_millis() as u64,
            libc_disagreement,
            queries,
            answer,
            other_libc,
            timed_out,
            deadline_exceeded,
            duration_ms: millis(start.elapsed()),
            findings,
        },
    })
}

/// resolv.conf, or an empty configuration when `--server` makes the file optional.
fn read_config(
    args: &NslookupArgs,
    deadline: Instant,
) -> Result<(resolvconf::ResolvConf, String), Error> {
    let path = args.resolv_conf.display().to_string();
    match crate::input::read_text(&args.resolv_conf, deadline) {
        Ok(text) => Ok((resolvconf::parse(&text), path)),
        Err(e) if !args.servers.is_empty() => {
            Ok((resolvconf::parse(""), format!("--server ({e})")))
        }
        Err(e) => Err(e),
    }
}

fn servers(args: &NslookupArgs, glibc: &Effective) -> Vec<SocketAddr> {
    if args.servers.is_empty() {
        glibc.servers()
    } else {
        args.servers.clone()
    }
}

fn names_with(queries: &[QueryRecord], rcode: Rcode) -> Vec<String> {
    let mut seen = BTreeSet::new();
    queries
        .iter()
        .filter(|q| q.rcode == rcode && seen.insert(q.name.clone()))
        .map(|q| q.name.clone())
        .collect()
}

/// The distinct items, sorted, in a vector sorted in place. Not a `BTreeSet`: its nodes are
/// a block size nothing else here allocates (a page that musl's allocator maps for them and
/// unmaps again), and `collect` into one runs std's stable sort, whose 4 KiB scratch buffer
/// on the stack is a fresh stack page.
fn sorted_distinct<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut distinct: Vec<T> = items.collect();
    distinct.sort_unstable();
    distinct.dedup();
    distinct
}

/// One sentence when the two C libraries end differently, else `None`.
fn disagreement(a: &LibcAnswer, b: &LibcAnswer) -> Option<String> {
    fn data(x: &LibcAnswer) -> Vec<&str> {
        sorted_distinct(x.records.iter().map(|r| r.data.as_str()))
    }
    if a.status == b.status && data(a) == data(b) {
        return None;
    }
    let describe = |x: &LibcAnswer| match x.status {
        LookupStatus::Resolved => format!(
            "{} resolves it via {} ({})",
            x.libc.name(),
            x.final_name.as_deref().unwrap_or("?"),
            data(x).join(", ")
        ),
        status => format!("{} gets {status}: {}", x.libc.name(), x.reason),
    };
    Some(format!("{}; {}", describe(a), describe(b)))
}

/// The disagreement as a finding, with the usual cause spelled out when it is the
/// ndots rule: musl never searches a name with `ndots` or more dots.
fn disagreement_finding(
    why: &str,
    a: &LibcAnswer,
    b: &LibcAnswer,
    address_lookup: bool,
) -> Finding {
    let (glibc, musl) = if a.libc == Libc::Glibc {
        (a, b)
    } else {
        (b, a)
    };
    let musl_asked_only_the_name = musl.candidates.len() == 1 && glibc.candidates.len() > 1;
    let hint = match (musl_asked_only_the_name, address_lookup) {
        (true, true) => {
            " musl searches only names with fewer dots than ndots: use the fully qualified \
             name (with a trailing dot) or ndots:5 in the pod's dnsConfig."
        }
        (true, false) => {
            " musl's res_search does not search at all (only getaddrinfo does): programs \
             linked against musl must ask for the fully qualified name (with a trailing dot)."
        }
        (false, _) => "",
    };
    Finding {
        severity: Severity::Warning,
        code: FindingCode::LibcDisagreement,
        message: format!("glibc and musl programs get different answers: {why}.{hint}"),
        line: None,
    }
}

fn findings(
    queries: &[QueryRecord],
    answer: &LibcAnswer,
    conf: &resolvconf::ResolvConf,
    from_file: bool,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut push = |severity, code, message| findings.push(Finding::new(severity, code, message));
    if from_file && conf.nameservers.is_empty() {
        push(
            Severity::Error,
            FindingCode::NoNameserver,
            format!("resolv.conf names no nameserver; the C library falls back to {FALLBACK_NAMESERVER}"),
        );
    }
    let answered = queries.iter().any(|q| server_answered(q.rcode));
    if !answered && !queries.is_empty() {
        let servers = sorted_distinct(queries.iter().map(|q| q.server.as_str()));
        let has = |rcode| queries.iter().any(|q| q.rcode == rcode);
        let why = if has(Rcode::Unreachable) {
            "the network refused the packets (ICMP unreachable: nothing listens on port 53, or a REJECT rule)"
        } else if has(Rcode::BadResponse) {
            "what came back was not an answer to the question, which both C libraries discard"
        } else {
            "no reply within the deadline (the server is down or packets are dropped)"
        };
        push(
            Severity::Error,
            FindingCode::DnsUnreachable,
            format!("no DNS server answered ({}): {why}", servers.join(", ")),
        );
    }
    if queries.iter().any(|q| q.truncated) {
        push(
            Severity::Info,
            FindingCode::TruncatedAnswer,
            "an answer did not fit in UDP: glibc and musl 1.2.4+ retry over TCP, musl before 1.2.4 \
             uses the truncated answer as it is"
                .into(),
        );
    }
    if matches!(
        answer.status,
        LookupStatus::ServFail | LookupStatus::Refused
    ) {
        push(
            Severity::Error,
            FindingCode::DnsServerError,
            format!(
                "the DNS server answered {} instead of a result: check the DNS pods' logs",
                answer.status.as_str().to_uppercase()
            ),
        );
    }
    findings
}
