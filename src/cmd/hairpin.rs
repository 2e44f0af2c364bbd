//! `svcprobe hairpin`: resolves the Service's full name through the pod's resolv.conf (what
//! the name leaves out comes from its search list, as for the pod's applications), then runs
//! the hairpin probe (`crate::hairpin`, which `diagnose` uses too) against its address.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use crate::cli::hairpin::{HairpinArgs, ServiceHost};
use crate::dns::millis;
use crate::dns::resolve::resolve;
use crate::error::Error;
use crate::hairpin::{self, Config};
use crate::report::{Envelope, HairpinReport, HairpinStatus, Origin, ServiceRef, SCHEMA_VERSION};
use crate::resolvconf;
use crate::service_name::{Namespace, ServiceName};

pub fn run(args: &HairpinArgs) -> Result<Envelope<HairpinReport>, Error> {
    let start = Instant::now();
    let (ip, resolution, service_ref) = match &args.host {
        ServiceHost::Ip(ip) => (Some(*ip), None, None),
        ServiceHost::Name(name) => {
            let service_ref = settle(name, args.namespace.as_ref(), &args.resolv_conf);
            // DNS shares the deadline; a Service name has one A record (its ClusterIP).
            let resolved = resolve(&service_ref.fqdn, &args.resolv_conf, args.deadline)?;
            let first_v4 = resolved.addresses.iter().find(|ip| ip.is_ipv4());
            let ip = first_v4.or(resolved.addresses.first()).copied();
            (ip, Some(resolved.report), Some(service_ref))
        }
    };
    let config = Config {
        count: args.count,
        timeout: args.timeout,
        deadline: args.deadline.saturating_sub(start.elapsed()),
        target_port: args.target_port,
        endpoints: args.endpoints,
    };
    let mut report = match ip {
        Some(ip) => hairpin::probe(SocketAddr::new(ip, args.port), &config)?,
        None => {
            let how = resolution
                .as_ref()
                .map(|r| format!("{}: {}", r.status, r.reason))
                .unwrap_or_default();
            let verdict = hairpin::verdict::not_resolved(&args.target, &how);
            hairpin::untried(None, &config, verdict)
        }
    };
    report.target = args.target.clone();
    report.service_ref = service_ref;
    report.resolution = resolution;
    report.deadline_ms = args.deadline.as_millis() as u64;
    report.duration_ms = millis(start.elapsed());
    Ok(Envelope {
        schema_version: SCHEMA_VERSION,
        command: "hairpin",
        ok: report.verdict.status == HairpinStatus::Pass,
        report,
    })
}

/// The namespace and cluster domain the name leaves out, from the search list the pod's
/// applications use (an unreadable file is reported by the lookup that follows).
fn settle(name: &ServiceName, given: Option<&Namespace>, resolv_conf: &Path) -> ServiceRef {
    let context = crate::input::read_text(resolv_conf, Instant::now() + crate::input::READ_TIME)
        .ok()
        .and_then(|text| resolvconf::parse(&text).kubernetes_context());
    let (namespace, domain) = match context {
        Some(k) => (
            k.namespace
                .map_or(("default".into(), Origin::Default), |ns| {
                    (ns, Origin::SearchList)
                }),
            (k.cluster_domain, Origin::SearchList),
        ),
        None => (
            ("default".to_string(), Origin::Default),
            ("cluster.local".to_string(), Origin::Default),
        ),
    };
    name.settle(given, (&namespace.0, namespace.1), (&domain.0, domain.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service_name::parse;

    #[test]
    fn what_the_name_leaves_out_comes_from_the_search_list() {
        let dir = std::env::temp_dir().join(format!("svcprobe-hairpin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("resolv.conf");
        std::fs::write(
            &conf,
            "nameserver 10.0.0.10\nsearch team.svc.corp svc.corp corp\noptions ndots:5\n",
        )
        .unwrap();
        let bare = settle(&parse("hostnames").unwrap(), None, &conf);
        assert_eq!(bare.fqdn, "hostnames.team.svc.corp.");
        assert_eq!(
            (bare.namespace_source, bare.cluster_domain_source),
            (Origin::SearchList, Origin::SearchList)
        );
        let named = parse("hostnames.default").unwrap();
        let given = named.namespace_with(None).unwrap();
        let r = settle(&named, given.as_ref(), &conf);
        assert_eq!(
            (r.fqdn.as_str(), r.namespace_source),
            ("hostnames.default.svc.corp.", Origin::Name)
        );
        let missing = settle(&parse("web").unwrap(), None, &dir.join("none"));
        assert_eq!(missing.fqdn, "web.default.svc.cluster.local.");
        assert_eq!(missing.namespace_source, Origin::Default);
        let _ = std::fs::remove_dir_all(dir);
    }
}
