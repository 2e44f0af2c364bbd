//! `dns-upstream`: a name outside the cluster through the pod's first nameserver. Cluster
//! names are the DNS server's own; every other name goes to its forwarders, so a server that
//! answers `kubernetes.default` but not `example.com` has lost its upstream.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::diagnose::dns_rules::Upstream;
use crate::dns::{millis, Querier, QuerySettings, Timers};
use crate::report::{
    Check, CheckId, CheckStatus, DnsUpstreamEvidence, Evidence, Libc, LookupStatus, QueryRecord,
};

/// The default name outside the cluster: IANA's, so it exists everywhere and means nothing.
pub const EXTERNAL_NAME: &str = "example.com.";

/// What asking for the external name gave.
pub struct Asked {
    pub name: String,
    pub status: LookupStatus,
    pub queries: Vec<QueryRecord>,
    pub duration_ms: f64,
}

/// Asks `server` for `name` (A) over UDP, and over TCP too when UDP got no response.
pub fn ask(server: SocketAddr, name: &str, timeout: Duration, deadline: Instant) -> Asked {
    let start = Instant::now();
    let name = format!("{}.", name.trim_end_matches('.'));
    let timers = Timers {
        timeout_s: 1,
        attempts: 1,
    };
    let mut queries = Vec::new();
    let mut status = LookupStatus::Deadline;
    for tcp in [false, true] {
        let mut querier = Querier::new(QuerySettings {
            servers: vec![server],
            timeout,
            deadline,
            tcp,
            edns: false,
        });
        status = querier
            .lookup(&name, &[RecordType::A], Libc::Glibc, timers)
            .status;
        queries.extend(querier.into_log());
        if !matches!(
            status,
            LookupStatus::Timeout | LookupStatus::Unreachable | LookupStatus::Error
        ) {
            break;
        }
    }
    Asked {
        name,
        status,
        queries,
        duration_ms: millis(start.elapsed()),
    }
}

/// The check, given whether the same server answered the cluster's control name.
pub fn dns_upstream(asked: Asked, cluster_answers: bool) -> (Check, Option<Upstream>) {
    let answered = matches!(
        asked.status,
        LookupStatus::Resolved | LookupStatus::NxDomain | LookupStatus::NoData
    );
    let server = asked
        .queries
        .first()
        .map(|q| q.server.clone())
        .unwrap_or_default();
    let (status, summary, hint) = if answered {
        (
            CheckStatus::Pass,
            format!(
                "{} through {server}: {} (the forwarders answer)",
                asked.name, asked.status
            ),
            None,
        )
    } else if cluster_answers {
        (
            CheckStatus::Fail,
            format!("{} through {server}: {}, though cluster names answer", asked.name, asked.status),
            Some("the DNS server's forwarders fail: check the Corefile's forward plugin and the upstream resolvers".to_string()),
        )
    } else {
        (
            CheckStatus::Skip,
            format!("{} through {server}: {}; the server does not answer cluster names either, so this says nothing of its forwarders", asked.name, asked.status),
            None,
        )
    };
    let facts = (status != CheckStatus::Skip).then(|| Upstream {
        name: asked.name.clone(),
        status: asked.status,
    });
    let check = Check {
        id: CheckId::DnsUpstream,
        status,
        summary,
        evidence: Evidence::DnsUpstream(DnsUpstreamEvidence {
            name: asked.name,
            queries: asked.queries,
        }),
        hint,
        duration_ms: asked.duration_ms,
    };
    (check, facts)
}
