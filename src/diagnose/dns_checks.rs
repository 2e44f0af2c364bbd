//! The guide's DNS steps: does the DNS server answer, does `kubernetes.default` resolve,
//! and do the Service's short, namespaced and fully qualified names resolve, each through
//! the pod's own search list, as glibc and as musl.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use super::verdict::Name;
use super::{Options, Resolver};
use crate::dns::search::{self, Lookup, SearchConfig};
use crate::dns::{millis, server_answered, Querier, QuerySettings, Timers};
use crate::probe::pool;
use crate::report::{
    Check, CheckId, CheckStatus, DnsNameEvidence, DnsServerEvidence, Evidence, Libc, LibcAnswer,
    LookupStatus, QueryRecord, Rcode,
};

/// Per-query deadline: a healthy cluster DNS answers in milliseconds, and each check may
/// send two exchanges in a row (glibc tries the bare name after a timeout).
pub const DNS_TIMEOUT: Duration = Duration::from_secs(1);

/// A query slower than this is a DNS problem worth following into the DNS Service: a
/// healthy cluster DNS answers in a few milliseconds.
const SLOW_MS: f64 = 250.0;

/// What the DNS checks contribute to the verdict and to the connectivity checks.
pub struct DnsResult {
    pub checks: Vec<Check>,
    pub server_answers: bool,
    pub server_refused: bool,
    pub kubernetes_default: Name,
    pub short: Name,
    pub namespaced: Name,
    pub fqdn: Name,
    /// The ClusterIP the fully qualified name resolved to.
    pub fqdn_address: Option<String>,
    /// DNS failed or was slow: some query got no answer, an error code, or took long.
    pub troubled: bool,
}

/// One name looked up as the pod's applications would.
struct Walk {
    glibc: LibcAnswer,
    musl: LibcAnswer,
    queries: Vec<QueryRecord>,
    duration_ms: f64,
}

pub fn run(
    options: &Options,
    resolver: &Resolver,
    ns: &str,
    pod_namespace: &str,
    cluster_domain: &str,
    deadline: Instant,
) -> DnsResult {
    let svc = &options.service.name;
    let names = [
        format!("kubernetes.default.svc.{cluster_domain}."),
        "kubernetes.default".to_string(),
        svc.clone(),
        format!("{svc}.{ns}"),
        format!("{svc}.{ns}.svc.{cluster_domain}."),
    ];
    let settings = QuerySettings {
        servers: resolver.servers.clone(),
        timeout: options.timeout.min(DNS_TIMEOUT),
        deadline,
        tcp: resolver.glibc.has_flag("use-vc"),
        edns: resolver.glibc.has_flag("edns0"),
    };
    let same_namespace = ns == pod_namespace;
    let walk_names = names.get(1..).unwrap_or_default();
    let (server, walks, _) = pool::join(
        || server_check(&names[0], &settings),
        || {
            pool::map(walk_names, walk_names.len(), None, |n| {
                walk(n, resolver, &settings)
            })
        },
    );
    let walks: Vec<Option<Walk>> = walks.results;
    // Every query counts: the kernel rate-limits ICMP errors, so of many queries to a
    // dead server only some come back UNREACHABLE and the rest time out.
    let all_queries = || {
        server
            .iter()
            .chain(walks.iter().flatten().flat_map(|w| w.queries.iter()))
    };
    let server_answers = all_queries().any(answered);
    let server_refused = !server_answers && all_queries().any(|q| q.rcode == Rcode::Unreachable);
    let troubled = all_queries()
        .any(|q| !matches!(q.rcode, Rcode::NoError | Rcode::NxDomain) || q.duration_ms > SLOW_MS);
    let mut walks = walks.into_iter();
    let mut next = || walks.next().flatten();
    let (kubernetes_default, short, namespaced, fqdn) = (next(), next(), next(), next());
    let short = short.filter(|_| same_namespace);
    let checks = vec![
        dns_server(&server),
        dns_kubernetes_default(&names[1], kubernetes_default.as_ref()),
        dns_short(&names[2], short.as_ref(), ns, pod_namespace),
        dns_namespaced(&names[3], namespaced.as_ref()),
        dns_fqdn(&names[4], fqdn.as_ref(), svc, ns),
    ];
    DnsResult {
        checks,
        server_answers,
        server_refused,
        kubernetes_default: name_outcome(kubernetes_default.as_ref()),
        short: name_outcome(short.as_ref()),
        namespaced: name_outcome(namespaced.as_ref()),
        fqdn: name_outcome(fqdn.as_ref()),
        fqdn_address: fqdn.and_then(|w| {
            w.glibc
                .records
                .into_iter()
                .find(|r| r.record_type == "A")
                .map(|r| r.data)
        }),
        troubled,
    }
}

/// `dns-kubernetes-default`: the guide's control name; when it fails too, DNS itself is
/// broken, not this Service.
fn dns_kubernetes_default(name: &str, walk: Option<&Walk>) -> Check {
    walk_check(CheckId::DnsKubernetesDefault, name, walk, || {
        "if kubernetes.default does not resolve either, DNS itself is broken, not this Service"
            .into()
    })
}

/// `dns-short`: the Service's bare name, which resolves only from its own namespace.
fn dns_short(name: &str, walk: Option<&Walk>, ns: &str, pod_namespace: &str) -> Check {
    if ns != pod_namespace {
        return super::skip(
            CheckId::DnsShort,
            format!(
                "`{name}` alone resolves only from namespace {ns}; this pod is in {pod_namespace}"
            ),
            None,
        );
    }
    walk_check(CheckId::DnsShort, name, walk, search_list_hint)
}

/// `dns-namespaced`: `SERVICE.NS`, through the search list.
fn dns_namespaced(name: &str, walk: Option<&Walk>) -> Check {
    walk_check(CheckId::DnsNamespaced, name, walk, search_list_hint)
}

/// `dns-fqdn`: the fully qualified name, the test of whether the Service exists in DNS.
fn dns_fqdn(name: &str, walk: Option<&Walk>, service: &str, ns: &str) -> Check {
    walk_check(CheckId::DnsFqdn, name, walk, || {
        format!("does the Service exist in this namespace? kubectl get service {service} -n {ns}")
    })
}

fn search_list_hint() -> String {
    "the fully qualified name is the test: if it resolves, fix the pod's search list or ndots (svcprobe resolvconf)".into()
}

fn walk(name: &str, resolver: &Resolver, settings: &QuerySettings) -> Walk {
    let start = Instant::now();
    let types = [RecordType::A, RecordType::AAAA];
    let lookup = Lookup {
        name,
        types: &types,
        use_search: true,
    };
    let glibc_config = SearchConfig::of(&resolver.glibc, Libc::Glibc);
    let musl_config = SearchConfig::of(&resolver.musl, Libc::Musl);
    let mut querier = Querier::new(settings.clone());
    let glibc = search::walk_glibc(&lookup, &glibc_config, &mut querier);
    let musl = search::walk_musl(&lookup, &musl_config, &mut querier);
    Walk {
        glibc,
        musl,
        queries: querier.into_log(),
        duration_ms: millis(start.elapsed()),
    }
}

/// Asks every nameserver directly, without the search list: does anything answer?
fn server_check(fqdn: &str, settings: &QuerySettings) -> Vec<QueryRecord> {
    settings
        .servers
        .iter()
        .flat_map(|server: &SocketAddr| {
            let mut querier = Querier::new(QuerySettings {
                servers: vec![*server],
                ..settings.clone()
            });
            let timers = Timers {
                timeout_s: 1,
                attempts: 1,
            };
            querier.lookup(fqdn, &[RecordType::A], Libc::Glibc, timers);
            querier.into_log()
        })
        .collect()
}

fn answered(query: &QueryRecord) -> bool {
    server_answered(query.rcode)
}

/// `dns-server`: does any nameserver answer at all (any response code).
fn dns_server(queries: &[QueryRecord]) -> Check {
    let answering: Vec<&str> = queries
        .iter()
        .filter(|q| answered(q))
        .map(|q| q.server.as_str())
        .collect();
    let (status, summary, hint) = if !answering.is_empty() {
        (
            CheckStatus::Pass,
            format!("DNS server {} answers", answering.join(", ")),
            None,
        )
    } else {
        let how = queries
            .first()
            .map(|q| q.rcode.as_str().to_lowercase())
            .unwrap_or_else(|| "nothing sent".into());
        (
            CheckStatus::Fail,
            format!("no DNS server answers ({how})"),
            Some("is the DNS pod running and does the kube-dns Service have endpoints? kubectl get pods,endpointslices -n kube-system -l k8s-app=kube-dns".into()),
        )
    };
    Check {
        id: CheckId::DnsServer,
        status,
        summary,
        evidence: Evidence::DnsServer(DnsServerEvidence {
            queries: queries.to_vec(),
        }),
        hint,
        duration_ms: queries.iter().map(|q| q.duration_ms).fold(0.0, f64::max),
    }
}

fn name_outcome(walk: Option<&Walk>) -> Name {
    let Some(walk) = walk else {
        return Name::Unchecked;
    };
    match walk.glibc.status {
        LookupStatus::Resolved => Name::Resolved,
        LookupStatus::NxDomain | LookupStatus::NoData => Name::NotFound,
        _ => Name::Failed,
    }
}

/// A name's check from its walk; `hint` says what to do when glibc cannot resolve it.
fn walk_check(id: CheckId, name: &str, walk: Option<&Walk>, hint: impl Fn() -> String) -> Check {
    let Some(walk) = walk else {
        return super::skip(id, format!("the lookup of {name} did not finish"), None);
    };
    let addresses: Vec<&str> = walk.glibc.records.iter().map(|r| r.data.as_str()).collect();
    let race = conntrack_race(&walk.queries);
    let (mut status, mut summary) = match walk.glibc.status {
        LookupStatus::Resolved => (
            CheckStatus::Pass,
            format!("{name} -> {}", addresses.join(" ")),
        ),
        status => (
            CheckStatus::Fail,
            format!("{name} does not resolve: {status} ({})", walk.glibc.reason),
        ),
    };
    let mut hint = (status != CheckStatus::Pass).then(hint);
    if status == CheckStatus::Pass && walk.musl.status != LookupStatus::Resolved {
        status = CheckStatus::Warn;
        summary = format!("{summary}, but musl (Alpine) gets {}", walk.musl.status);
        hint = Some(format!("musl: {}", walk.musl.reason));
    }
    if status == CheckStatus::Pass && race {
        status = CheckStatus::Warn;
        summary = format!("{summary}, but one of A/AAAA timed out");
        hint = Some("a lost A or AAAA reply, sent together from one socket, is the conntrack insert race (kubernetes#56903): use `options single-request-reopen` or NodeLocal DNSCache".into());
    }
    Check {
        id,
        status,
        summary,
        evidence: Evidence::DnsName(DnsNameEvidence {
            name: name.to_string(),
            glibc: walk.glibc.clone(),
            musl: walk.musl.clone(),
            queries: walk.queries.clone(),
        }),
        hint,
        duration_ms: walk.duration_ms,
    }
}

/// The signature of the conntrack race on parallel A/AAAA queries: for one name, one type
/// answered and the other timed out.
fn conntrack_race(queries: &[QueryRecord]) -> bool {
    queries.iter().any(|q| {
        q.rcode == Rcode::Timeout
            && queries.iter().any(|other| {
                other.name == q.name && other.record_type != q.record_type && answered(other)
            })
    })
}
