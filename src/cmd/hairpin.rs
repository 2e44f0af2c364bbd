//! `svcprobe hairpin`: resolves the Service the way the pod's applications would, then runs
//! the hairpin probe (`crate::hairpin`, which `diagnose` uses too) against its address.

use std::net::SocketAddr;
use std::time::Instant;

use crate::cli::hairpin::{HairpinArgs, ServiceHost};
use crate::dns::millis;
use crate::dns::resolve::resolve;
use crate::error::Error;
use crate::hairpin::{self, Config};
use crate::report::{Envelope, HairpinReport, HairpinStatus, HairpinVerdict, SCHEMA_VERSION};

pub fn run(args: &HairpinArgs) -> Result<Envelope<HairpinReport>, Error> {
    let start = Instant::now();
    let (ip, resolution) = match &args.host {
        ServiceHost::Ip(ip) => (Some(*ip), None),
        ServiceHost::Name(name) => {
            // DNS shares the deadline; a Service name has one A record (its ClusterIP).
            let resolved = resolve(name, &args.resolv_conf, args.deadline)?;
            let first_v4 = resolved.addresses.iter().find(|ip| ip.is_ipv4());
            let ip = first_v4.or(resolved.addresses.first()).copied();
            (ip, Some(resolved.report))
        }
    };
    let mut report = match ip {
        Some(ip) => {
            let config = Config {
                service: SocketAddr::new(ip, args.port),
                count: args.count,
                timeout: args.timeout,
                deadline: args.deadline.saturating_sub(start.elapsed()),
                target_port: args.target_port,
                endpoints: args.endpoints,
            };
            let mut report = hairpin::probe(&config)?;
            report.target = args.target.clone();
            report.resolution = resolution;
            report.deadline_ms = args.deadline.as_millis() as u64;
            report
        }
        None => not_resolved(args, resolution),
    };
    report.duration_ms = millis(start.elapsed());
    Ok(Envelope {
        schema_version: SCHEMA_VERSION,
        command: "hairpin",
        ok: report.verdict.status == HairpinStatus::Pass,
        report,
    })
}

fn not_resolved(
    args: &HairpinArgs,
    resolution: Option<crate::report::Resolution>,
) -> HairpinReport {
    let how = resolution
        .as_ref()
        .map(|r| format!("{}: {}", r.status, r.reason))
        .unwrap_or_default();
    HairpinReport {
        target: args.target.clone(),
        service: None,
        resolution,
        pod_ip: None,
        listening_ports: Vec::new(),
        target_port: args.target_port,
        endpoints: args.endpoints,
        count: args.count,
        timeout_ms: args.timeout.as_millis() as u64,
        deadline_ms: args.deadline.as_millis() as u64,
        max_parallel: 0,
        attempts: Vec::new(),
        summary: hairpin::summarize(&[]),
        verdict: HairpinVerdict {
            status: HairpinStatus::Inconclusive,
            reason: "not-resolved",
            summary: format!(
                "{} did not resolve ({how}): nothing to connect to",
                args.target
            ),
            hint: Some(format!(
                "run `svcprobe nslookup {}` to see every query, or give the ClusterIP",
                args.target
            )),
            p_self_if_healthy: None,
            max_endpoints_99: None,
        },
        recheck: None,
        deadline_exceeded: false,
        duration_ms: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn an_unresolvable_name_is_inconclusive_not_an_error() {
        let dir = std::env::temp_dir().join(format!("svcprobe-hairpin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("resolv.conf");
        // a name that is not valid DNS never reaches a server
        std::fs::write(&conf, "nameserver 192.0.2.1\n").unwrap();
        let args = HairpinArgs {
            target: "bad..name".into(),
            host: ServiceHost::Name("bad..name".into()),
            port: 80,
            count: 1,
            timeout: Duration::from_millis(50),
            deadline: Duration::from_millis(200),
            target_port: None,
            endpoints: None,
            resolv_conf: PathBuf::from(&conf),
        };
        let envelope = run(&args).unwrap();
        assert!(!envelope.ok);
        assert_eq!(envelope.report.verdict.reason, "not-resolved");
        assert_eq!(envelope.report.summary, hairpin::summarize(&[]));
        let _ = std::fs::remove_dir_all(dir);
    }
}
