//! A host name to addresses, the way an application linked against glibc gets them, for
//! the probes that connect (`tcp`, `http`).
//!
//! Same walk as `nslookup` (resolv.conf, ndots, search list, A and AAAA together), never
//! getaddrinfo: a probe must fail on the same name the pod's application fails on, and
//! the report can then show the queries that led to the addresses it connected to.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::dns::search::{self, Lookup, SearchConfig};
use crate::dns::{millis, wire, Querier, QuerySettings};
use crate::error::Error;
use crate::report::{Libc, LookupStatus, Resolution};
use crate::resolvconf;

/// Per-query deadline: a probe should say "DNS timed out" long before glibc's 5 s × 2.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// What a lookup produced: the report's view and the addresses to connect to.
#[derive(Debug)]
pub struct Resolved {
    pub report: Resolution,
    /// A records first, then AAAA, in answer order, without duplicates.
    pub addresses: Vec<IpAddr>,
}

/// Resolves `name` as glibc would with the resolv.conf at `resolv_conf`, sending nothing
/// after `deadline`. An unreadable resolv.conf is an error (the probe cannot run); a name
/// that does not resolve is a report with no addresses.
pub fn resolve(name: &str, resolv_conf: &Path, deadline: Duration) -> Result<Resolved, Error> {
    let start = Instant::now();
    let text = crate::input::read_text(resolv_conf, start + deadline)?;
    let glibc = resolvconf::parse(&text).effective(Libc::Glibc);
    let servers = glibc.servers();
    let types = [RecordType::A, RecordType::AAAA];
    let lookup = Lookup {
        name,
        types: &types,
        use_search: true,
    };
    let config = SearchConfig::of(&glibc, Libc::Glibc);
    let mut querier = Querier::new(QuerySettings {
        servers,
        timeout: QUERY_TIMEOUT.min(deadline),
        deadline: start + deadline,
        tcp: glibc.has_flag("use-vc"),
        edns: glibc.has_flag("edns0"),
    });
    let answer = if wire::absolute_name(name).is_ok() {
        search::walk_glibc(&lookup, &config, &mut querier)
    } else {
        return Ok(Resolved {
            report: Resolution {
                name: name.to_string(),
                status: LookupStatus::Invalid,
                final_name: None,
                addresses: Vec::new(),
                reason: "not a valid DNS name".into(),
                config_source: resolv_conf.display().to_string(),
                queries: Vec::new(),
                duration_ms: millis(start.elapsed()),
            },
            addresses: Vec::new(),
        });
    };
    let mut addresses: Vec<IpAddr> = Vec::new();
    for wanted in ["A", "AAAA"] {
        for record in answer.records.iter().filter(|r| r.record_type == wanted) {
            if let Ok(ip) = record.data.parse::<IpAddr>() {
                if !addresses.contains(&ip) {
                    addresses.push(ip);
                }
            }
        }
    }
    Ok(Resolved {
        report: Resolution {
            name: name.to_string(),
            status: answer.status,
            final_name: answer.final_name,
            addresses: addresses.iter().map(IpAddr::to_string).collect(),
            reason: answer.reason,
            config_source: resolv_conf.display().to_string(),
            queries: querier.into_log(),
            duration_ms: millis(start.elapsed()),
        },
        addresses,
    })
}
