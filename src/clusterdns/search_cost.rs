//! `dns-search-cost`: what the search list costs an application. With kubelet's `ndots:5`
//! a name outside the cluster goes through every search domain before it is tried as
//! written, and a `NAME.NS` Service name through one domain that cannot exist: each a pair
//! of queries (A and AAAA) to the DNS Service. The walks are glibc's and musl's
//! (`dns::search`, checked against both libraries by tests/libc_oracle.rs); the same
//! answers serve every view, so the comparison costs no extra traffic beyond the first walk.

use std::time::Instant;

use hickory_proto::rr::RecordType;

use crate::dns::search::{self, Lookup, SearchConfig};
use crate::dns::{millis, Querier, QuerySettings};
use crate::report::{
    CheaperLookup, Check, CheckId, CheckStatus, DnsSearchCostEvidence, Evidence, Libc, LibcAnswer,
    SearchCost,
};
use crate::resolvconf::Effective;

/// Address lookups, as getaddrinfo sends them: A and AAAA for each name tried.
const TYPES: [RecordType; 2] = [RecordType::A, RecordType::AAAA];

/// What the walks need.
pub struct Plan<'a> {
    pub glibc: &'a Effective,
    pub musl: &'a Effective,
    pub settings: QuerySettings,
    /// The names as an application writes them: one outside the cluster, one Service.
    pub names: [String; 2],
    pub cluster_domain: &'a str,
}

pub fn run(plan: &Plan) -> Check {
    let start = Instant::now();
    let mut querier = Querier::new(plan.settings.clone());
    let mut costs = Vec::new();
    for name in &plan.names {
        for (libc, effective) in [(Libc::Glibc, plan.glibc), (Libc::Musl, plan.musl)] {
            let walk_start = Instant::now();
            let answer = walk(name, libc, effective, effective.ndots, &mut querier);
            let duration_ms = millis(walk_start.elapsed());
            let cheaper = cheaper(name, libc, effective, &answer, plan, &mut querier);
            costs.push(cost(name, &answer, duration_ms, cheaper));
        }
    }
    check(plan, costs, millis(start.elapsed()))
}

fn walk<T: crate::dns::transport::Transport>(
    name: &str,
    libc: Libc,
    effective: &Effective,
    ndots: u32,
    querier: &mut Querier<T>,
) -> LibcAnswer {
    let lookup = Lookup {
        name,
        types: &TYPES,
        use_search: true,
    };
    let mut config = SearchConfig::of(effective, libc);
    config.ndots = ndots;
    match libc {
        Libc::Glibc => search::walk_glibc(&lookup, &config, querier),
        Libc::Musl => search::walk_musl(&lookup, &config, querier),
    }
}

/// Names a walk sent: every candidate it tried.
fn names_tried(answer: &LibcAnswer) -> u32 {
    answer
        .candidates
        .iter()
        .filter(|c| c.outcome.is_some())
        .count() as u32
}

fn cost(
    name: &str,
    answer: &LibcAnswer,
    duration_ms: f64,
    cheaper: Option<CheaperLookup>,
) -> SearchCost {
    let names_tried = names_tried(answer);
    SearchCost {
        name: name.to_string(),
        libc: answer.libc,
        queries: names_tried * TYPES.len() as u32,
        names_tried,
        status: answer.status,
        final_name: answer.final_name.clone(),
        duration_ms,
        cheaper,
    }
}

/// The change that gets the same answer with fewer queries: the name written absolute
/// (what it resolved as, with a trailing dot), or the `ndots` that tries it as written
/// first. `None` when neither sends fewer.
fn cheaper<T: crate::dns::transport::Transport>(
    name: &str,
    libc: Libc,
    effective: &Effective,
    answer: &LibcAnswer,
    plan: &Plan,
    querier: &mut Querier<T>,
) -> Option<CheaperLookup> {
    let now = names_tried(answer);
    let same =
        |other: &LibcAnswer| other.status == answer.status && other.final_name == answer.final_name;
    let mut options = Vec::new();
    let absolute = answer
        .final_name
        .clone()
        .filter(|_| answer.status == crate::report::LookupStatus::Resolved)
        .unwrap_or_else(|| format!("{}.", name.trim_end_matches('.')));
    let dotted = walk(&absolute, libc, effective, effective.ndots, querier);
    if same(&dotted) {
        options.push((
            format!("write it as {absolute} (absolute: no search list)"),
            names_tried(&dotted),
        ));
    }
    let dots = name.trim_end_matches('.').matches('.').count() as u32;
    if dots > 0 && dots < effective.ndots && !name.ends_with(&format!(".{}", plan.cluster_domain)) {
        let lowered = walk(name, libc, effective, dots, querier);
        if same(&lowered) {
            options.push((
                format!(
                    "options ndots:{dots} in the pod's dnsConfig (it is tried as written first)"
                ),
                names_tried(&lowered),
            ));
        }
    }
    options
        .into_iter()
        .filter(|(_, names)| *names < now)
        .min_by_key(|(_, names)| *names)
        .map(|(change, names)| CheaperLookup {
            change,
            queries: names * TYPES.len() as u32,
        })
}

fn check(plan: &Plan, costs: Vec<SearchCost>, duration_ms: f64) -> Check {
    let row = |c: &SearchCost| {
        let saving = c
            .cheaper
            .as_ref()
            .map(|s| format!(" ({} with: {})", s.queries, s.change))
            .unwrap_or_default();
        format!(
            "{} {}: {} queries{saving}",
            c.name,
            c.libc.name(),
            c.queries
        )
    };
    let glibc: Vec<String> = costs
        .iter()
        .filter(|c| c.libc == Libc::Glibc)
        .map(row)
        .collect();
    let worst = costs.iter().map(|c| c.queries).max().unwrap_or_default();
    let hint = costs
        .iter()
        .find_map(|c| c.cheaper.as_ref())
        .map(|c| format!("fewer queries per lookup: {}", c.change));
    Check {
        id: CheckId::DnsSearchCost,
        status: CheckStatus::Pass,
        summary: format!("{}; at most {worst} queries per lookup", glibc.join("; ")),
        evidence: Evidence::DnsSearchCost(DnsSearchCostEvidence {
            ndots: plan.glibc.ndots,
            search: plan.glibc.search.clone(),
            names: costs,
        }),
        hint,
        duration_ms,
    }
}
