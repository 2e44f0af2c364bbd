//! `svcprobe dns`: the DNS Service's checks alone, with their verdict.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::cli::dns::DnsArgs;
use crate::clusterdns::{self, Inputs};
use crate::diagnose::verdict::{self, Facts};
use crate::diagnose::{probe_context, read_resolver};
use crate::dns::millis;
use crate::error::Error;
use crate::kubeapi::Plan;
use crate::report::{Cause, CheckStatus, DnsReport, Envelope, SCHEMA_VERSION};

pub fn run(args: &DnsArgs) -> Result<Envelope<DnsReport>, Error> {
    let start = Instant::now();
    let deadline = start + args.deadline;
    let (objects, api) = super::objects_and_plan(args.objects.as_deref(), &args.api, deadline)?;
    let resolver = read_resolver(&args.resolv_conf, deadline);
    let (context, (cluster_domain, _)) = probe_context(&resolver);
    // kubernetes.default as an application in this pod would write it
    let service_name = if context.namespace == "default" {
        "kubernetes"
    } else {
        "kubernetes.default"
    };
    let result = clusterdns::run(&Inputs {
        nameservers: &resolver.servers,
        glibc: &resolver.glibc,
        musl: &resolver.musl,
        service_name,
        cluster_domain: &cluster_domain,
        pod_namespace: &context.namespace,
        objects: objects.as_ref(),
        dns_endpoints: &args.dns_endpoints,
        api: match &api {
            Plan::Read(config) => Some(config),
            _ => None,
        },
        resolv_conf: &args.resolv_conf,
        external_name: &args.external_name,
        burst: args.count,
        timeout: args.timeout,
        deadline,
        whole_cluster: true,
    });
    let skipped: BTreeMap<_, _> = result
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Skip)
        .map(|c| (c.id, c.skip_reason().to_string()))
        .collect();
    let facts = Facts::dns_only(context.namespace.clone(), result.facts, skipped);
    let report = DnsReport {
        nameservers: resolver.servers.iter().map(|s| s.to_string()).collect(),
        context,
        checks: result.checks,
        verdict: verdict::decide_dns(&facts),
        duration_ms: millis(start.elapsed()),
        deadline_ms: args.deadline.as_millis() as u64,
    };
    Ok(Envelope {
        schema_version: SCHEMA_VERSION,
        command: "dns",
        ok: report.verdict.cause == Cause::Healthy,
        report,
    })
}
