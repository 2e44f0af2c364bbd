//! Which names glibc and musl try for a lookup, in which order, and when they give up.
//!
//! This is the part of name resolution that breaks Kubernetes Services most often and is
//! hardest to see: `ndots`, the search list and the stop rules decide whether
//! `hostnames.default` reaches CoreDNS as the right name. Each walk asks a [`Querier`] for
//! answers and records the outcome of every candidate, so the report can show both C
//! libraries' paths side by side.

use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::dns::transport::Transport;
use crate::dns::{CandidateResult, Querier, Timers};
use crate::report::{CandidateOutcome, Libc, LibcAnswer, LookupStatus as Status};
use crate::resolvconf::Effective;

/// What is being looked up, independent of which C library looks it up.
#[derive(Clone, Debug)]
pub struct Lookup<'a> {
    /// The name as given (a trailing dot makes it absolute).
    pub name: &'a str,
    pub types: &'a [RecordType],
    /// Search the list at all (`--no-search` turns it off).
    pub use_search: bool,
}

/// The search settings of one C library, from its reading of resolv.conf.
#[derive(Clone, Debug)]
pub struct SearchConfig<'a> {
    pub search: &'a [String],
    pub ndots: u32,
    /// glibc's `no-tld-query`: never send a single-label name as-is.
    pub no_tld_query: bool,
    /// The library's `timeout` and `attempts`, for what its walk costs an application.
    pub timers: Timers,
}

impl<'a> SearchConfig<'a> {
    /// `libc`'s search settings from its reading of resolv.conf.
    pub fn of(effective: &'a Effective, libc: Libc) -> Self {
        SearchConfig {
            search: &effective.search,
            ndots: effective.ndots,
            no_tld_query: libc == Libc::Glibc && effective.has_flag("no-tld-query"),
            timers: Timers {
                timeout_s: effective.timeout_s,
                attempts: effective.attempts,
            },
        }
    }
}

/// A name to try, and whether it came from the search list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidate {
    AsIs(String),
    Searched(String),
}

impl Candidate {
    pub fn name(&self) -> &str {
        match self {
            Candidate::AsIs(n) | Candidate::Searched(n) => n,
        }
    }
}

/// Whether the lookup is an address lookup (getaddrinfo) rather than res_search.
pub fn is_address_lookup(types: &[RecordType]) -> bool {
    types
        .iter()
        .all(|t| matches!(t, RecordType::A | RecordType::AAAA))
}

fn dots(name: &str) -> u32 {
    u32::try_from(name.matches('.').count()).unwrap_or(u32::MAX)
}

fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn joined(name: &str, domain: &str) -> String {
    format!("{name}.{}.", domain.trim_end_matches('.'))
}

/// glibc's res_nsearch order: as-is first when the name has at least `ndots` dots, then
/// each search domain, then as-is if not tried yet (unless `no-tld-query` forbids it for
/// a single label). A trailing dot means the name and nothing else.
pub fn glibc_candidates(lookup: &Lookup, config: &SearchConfig) -> Vec<Candidate> {
    let name = lookup.name;
    if name.ends_with('.') || !lookup.use_search {
        return vec![Candidate::AsIs(absolute(name))];
    }
    let dots = dots(name);
    let as_is_first = dots >= config.ndots;
    let mut candidates = Vec::new();
    if as_is_first {
        candidates.push(Candidate::AsIs(absolute(name)));
    }
    candidates.extend(
        config
            .search
            .iter()
            .map(|d| Candidate::Searched(joined(name, d))),
    );
    let searched = !config.search.is_empty();
    let tld_allowed = dots > 0 || !searched || !config.no_tld_query;
    if !as_is_first && tld_allowed {
        candidates.push(Candidate::AsIs(absolute(name)));
    }
    candidates
}

/// musl's order. getaddrinfo searches only names with fewer than `ndots` dots, domains
/// first, then as-is; musl's res_search is res_query, so other types never search.
/// Candidates longer than a DNS name can be are skipped, as musl skips them.
pub fn musl_candidates(lookup: &Lookup, config: &SearchConfig) -> Vec<Candidate> {
    let name = lookup.name;
    let as_is = vec![Candidate::AsIs(absolute(name))];
    if name.ends_with('.') || !lookup.use_search || !is_address_lookup(lookup.types) {
        return as_is;
    }
    if dots(name) >= config.ndots {
        return as_is;
    }
    config
        .search
        .iter()
        .filter(|d| name.len() + 1 + d.trim_end_matches('.').len() < 256)
        .map(|d| Candidate::Searched(joined(name, d)))
        .chain(as_is)
        .collect()
}

/// Walks glibc's candidates (res_nsearch): a search candidate that ends in NXDOMAIN,
/// NODATA or SERVFAIL lets the walk go on; any other failure (a timeout, REFUSED) ends the
/// search, though the name is still tried as-is; a query every server refused with an
/// ICMP error (`ECONNREFUSED`) ends the whole lookup there, as-is try included. The final
/// error follows res_nsearch: the as-is error if it was tried first, else NODATA if any
/// candidate had the name, else SERVFAIL if seen, else the last one.
pub fn walk_glibc<T: Transport>(
    lookup: &Lookup,
    config: &SearchConfig,
    querier: &mut Querier<T>,
) -> LibcAnswer {
    let candidates = glibc_candidates(lookup, config);
    let mut outcomes: Vec<CandidateOutcome> = Vec::new();
    let mut results: Vec<(usize, CandidateResult)> = Vec::new();
    let mut search_ended = false;
    let mut lookup_ended = false;
    for (index, candidate) in candidates.iter().enumerate() {
        let stop_walk = lookup_ended
            || results
                .last()
                .is_some_and(|(_, r)| r.status == Status::Resolved || r.status == Status::Deadline);
        if stop_walk || (search_ended && matches!(candidate, Candidate::Searched(_))) {
            outcomes.push(not_tried(candidate));
            continue;
        }
        let result = querier.lookup(candidate.name(), lookup.types, Libc::Glibc, config.timers);
        outcomes.push(tried(candidate, &result));
        if let Candidate::Searched(_) = candidate {
            lookup_ended = result.network_refused;
            search_ended |= !matches!(
                result.status,
                Status::NxDomain | Status::NoData | Status::ServFail
            );
        }
        results.push((index, result));
    }
    let as_is_first =
        matches!(candidates.first(), Some(Candidate::AsIs(_))) && candidates.len() > 1;
    let resolved = results.iter().find(|(_, r)| r.status == Status::Resolved);
    let chosen = resolved.or_else(|| {
        if lookup_ended {
            results.last()
        } else if as_is_first {
            results.first()
        } else if let Some(nodata) = results.iter().find(|(_, r)| r.status == Status::NoData) {
            Some(nodata)
        } else if let Some(servfail) = results.iter().find(|(_, r)| r.status == Status::ServFail) {
            Some(servfail)
        } else {
            results.last()
        }
    });
    let ended = if lookup_ended {
        Ended::Lookup
    } else if search_ended {
        Ended::Search
    } else {
        Ended::No
    };
    let reason = reason(Libc::Glibc, &candidates, results.len(), chosen, ended);
    answer(Libc::Glibc, outcomes, &candidates, &results, chosen, reason)
}

/// Walks musl's candidates: only NXDOMAIN moves on. NODATA, SERVFAIL, a timeout or any
/// other error ends the lookup there, which is how a search domain that answers "no
/// such record" hides the real Service from Alpine pods.
pub fn walk_musl<T: Transport>(
    lookup: &Lookup,
    config: &SearchConfig,
    querier: &mut Querier<T>,
) -> LibcAnswer {
    let candidates = musl_candidates(lookup, config);
    let mut outcomes = Vec::new();
    let mut results: Vec<(usize, CandidateResult)> = Vec::new();
    for (index, candidate) in candidates.iter().enumerate() {
        if results
            .last()
            .is_some_and(|(_, r)| r.status != Status::NxDomain)
        {
            outcomes.push(not_tried(candidate));
            continue;
        }
        let result = querier.lookup(candidate.name(), lookup.types, Libc::Musl, config.timers);
        outcomes.push(tried(candidate, &result));
        results.push((index, result));
    }
    let chosen = results.last();
    let reason = reason(Libc::Musl, &candidates, results.len(), chosen, Ended::No);
    answer(Libc::Musl, outcomes, &candidates, &results, chosen, reason)
}

/// Whether glibc's walk was cut short, and how much of it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    No,
    /// A timeout or an error other than NXDOMAIN/NODATA/SERVFAIL: no more search
    /// domains, the name as-is still tried.
    Search,
    /// Every server refused with ICMP: nothing more is tried.
    Lookup,
}

fn tried(candidate: &Candidate, result: &CandidateResult) -> CandidateOutcome {
    CandidateOutcome {
        name: candidate.name().to_string(),
        outcome: Some(result.status),
    }
}

fn not_tried(candidate: &Candidate) -> CandidateOutcome {
    CandidateOutcome {
        name: candidate.name().to_string(),
        outcome: None,
    }
}

fn answer(
    libc: Libc,
    candidates: Vec<CandidateOutcome>,
    names: &[Candidate],
    results: &[(usize, CandidateResult)],
    chosen: Option<&(usize, CandidateResult)>,
    reason: String,
) -> LibcAnswer {
    let (status, final_name, records) = match chosen {
        Some((index, result)) => (
            result.status,
            names.get(*index).map(|c| c.name().to_string()),
            if result.status == Status::Resolved {
                result.records.clone()
            } else {
                Vec::new()
            },
        ),
        None => (Status::Error, None, Vec::new()),
    };
    let wait: Duration = results.iter().map(|(_, r)| r.wait).sum();
    LibcAnswer {
        libc,
        candidates,
        status,
        final_name,
        records,
        reason,
        app_wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
    }
}

fn position(candidates: &[Candidate], index: usize) -> String {
    match candidates.get(index) {
        Some(Candidate::AsIs(_)) => "the name as-is".into(),
        Some(Candidate::Searched(_)) => {
            let n = candidates[..=index]
                .iter()
                .filter(|c| matches!(c, Candidate::Searched(_)))
                .count();
            let total = candidates
                .iter()
                .filter(|c| matches!(c, Candidate::Searched(_)))
                .count();
            format!("search domain {n} of {total}")
        }
        None => "no candidate".into(),
    }
}

/// Why a walk ended where it did, in words a person acts on.
fn reason(
    libc: Libc,
    candidates: &[Candidate],
    tried: usize,
    chosen: Option<&(usize, CandidateResult)>,
    ended: Ended,
) -> String {
    let Some((index, result)) = chosen else {
        return "no candidate to try".into();
    };
    let name = candidates.get(*index).map(Candidate::name).unwrap_or("?");
    let at = position(candidates, *index);
    let mut why = match result.status {
        Status::Resolved if result.truncated && libc == Libc::Musl => {
            return format!(
                "{name} answered ({at}), truncated: musl before 1.2.4 uses the records that \
                 fit in UDP, without a TCP retry"
            )
        }
        Status::Resolved => return format!("{name} answered ({at})"),
        Status::Deadline => {
            return "the command's deadline passed before every candidate was tried".into()
        }
        Status::NxDomain => format!(
            "no candidate exists ({tried} of {} tried)",
            candidates.len()
        ),
        Status::NoData => format!("{name} exists but has no record of the asked type ({at})"),
        Status::Timeout if libc == Libc::Musl => format!(
            "no usable answer for {name} in time ({at}); musl's unconnected socket never \
             sees ICMP errors, so a refused server is a timeout to it"
        ),
        Status::Timeout => format!("no answer for {name} in time ({at})"),
        Status::Unreachable => format!("the DNS server is unreachable ({name}, {at})"),
        Status::ServFail | Status::Refused | Status::Error | Status::Invalid => format!(
            "the DNS server answered {} for {name} ({at})",
            result.status.as_str().to_uppercase()
        ),
    };
    let stopped_early = tried < candidates.len();
    match (libc, ended) {
        (Libc::Musl, _) if stopped_early => {
            why.push_str("; musl stops at anything but NXDOMAIN");
        }
        (Libc::Glibc, Ended::Lookup) => {
            why.push_str("; the server refused the query (ICMP), which ends glibc's lookup: no other candidate is tried");
        }
        (Libc::Glibc, Ended::Search) => {
            why.push_str("; a timeout or an error other than NXDOMAIN/NODATA/SERVFAIL ends glibc's search list");
        }
        _ => {}
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAAA_A: &[RecordType] = &[RecordType::A, RecordType::AAAA];
    const TIMERS: Timers = Timers {
        timeout_s: 5,
        attempts: 2,
    };

    fn search3() -> Vec<String> {
        [
            "default.svc.cluster.local",
            "svc.cluster.local",
            "cluster.local",
        ]
        .map(String::from)
        .to_vec()
    }

    fn names(candidates: Vec<Candidate>) -> Vec<String> {
        candidates.iter().map(|c| c.name().to_string()).collect()
    }

    fn both(name: &str, search: &[String], ndots: u32) -> (Vec<String>, Vec<String>) {
        let lookup = Lookup {
            name,
            types: AAAA_A,
            use_search: true,
        };
        let config = SearchConfig {
            search,
            ndots,
            no_tld_query: false,
            timers: TIMERS,
        };
        (
            names(glibc_candidates(&lookup, &config)),
            names(musl_candidates(&lookup, &config)),
        )
    }

    #[test]
    fn short_name_with_ndots_5_searches_first() {
        let (glibc, musl) = both("hostnames", &search3(), 5);
        let expected = vec![
            "hostnames.default.svc.cluster.local.",
            "hostnames.svc.cluster.local.",
            "hostnames.cluster.local.",
            "hostnames.",
        ];
        assert_eq!(glibc, expected);
        assert_eq!(musl, expected);
    }

    #[test]
    fn ndots_1_tries_dotted_names_as_is_first_and_musl_never_searches_them() {
        let (glibc, musl) = both("hostnames.default", &search3(), 1);
        assert_eq!(
            glibc,
            vec![
                "hostnames.default.",
                "hostnames.default.default.svc.cluster.local.",
                "hostnames.default.svc.cluster.local.",
                "hostnames.default.cluster.local.",
            ]
        );
        assert_eq!(musl, vec!["hostnames.default."]);
    }

    #[test]
    fn trailing_dot_and_no_search() {
        let (glibc, musl) = both("hostnames.default.svc.cluster.local.", &search3(), 5);
        assert_eq!(glibc, vec!["hostnames.default.svc.cluster.local."]);
        assert_eq!(musl, glibc);
        let lookup = Lookup {
            name: "hostnames",
            types: AAAA_A,
            use_search: false,
        };
        let config = SearchConfig {
            search: &search3(),
            ndots: 5,
            no_tld_query: false,
            timers: TIMERS,
        };
        assert_eq!(
            names(glibc_candidates(&lookup, &config)),
            vec!["hostnames."]
        );
        let (glibc, _) = both("hostnames", &[], 5);
        assert_eq!(glibc, vec!["hostnames."]);
    }

    #[test]
    fn no_tld_query_drops_the_bare_single_label() {
        let lookup = Lookup {
            name: "hostnames",
            types: AAAA_A,
            use_search: true,
        };
        let config = SearchConfig {
            search: &search3(),
            ndots: 5,
            no_tld_query: true,
            timers: TIMERS,
        };
        assert_eq!(glibc_candidates(&lookup, &config).len(), 3);
    }

    #[test]
    fn musl_res_search_does_not_search_other_types() {
        let lookup = Lookup {
            name: "_http._tcp.hostnames",
            types: &[RecordType::SRV],
            use_search: true,
        };
        let config = SearchConfig {
            search: &search3(),
            ndots: 5,
            no_tld_query: false,
            timers: TIMERS,
        };
        assert_eq!(
            names(musl_candidates(&lookup, &config)),
            vec!["_http._tcp.hostnames."]
        );
        assert_eq!(glibc_candidates(&lookup, &config).len(), 4);
    }

    #[test]
    fn musl_skips_candidates_too_long_for_dns() {
        let long_domain = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(60)
        );
        let search = vec![long_domain, "cluster.local".into()];
        let (_, musl) = both("hostnames", &search, 5);
        assert_eq!(musl, vec!["hostnames.cluster.local.", "hostnames."]);
    }
}
