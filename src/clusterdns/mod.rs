//! "If kubernetes.default does not resolve, start over, but debug the DNS Service instead":
//! the guide's walk applied to cluster DNS. Finds the DNS path this pod really uses (its
//! nameserver, a NodeLocal DNSCache, the DNS Service's ClusterIP and pods), asks each over
//! UDP and TCP, asks a name outside the cluster, and hands the checks and the facts to the
//! verdict (`diagnose::dns_rules`). Used by `diagnose` when DNS fails or is slow, and by
//! `svcprobe dns` always.

pub mod api;
pub mod burst;
pub mod paths;
pub mod search_cost;
pub mod service;
pub mod upstream;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::diagnose::dns_rules::ClusterDns;
use crate::dns::{millis, QuerySettings};
use crate::k8s::Objects;
use crate::kubeapi::{rbac, ApiConfig, ApiError};
use crate::probe::pool;
use crate::report::{
    ApiRequest, Check, CheckId, CheckStatus, DnsReply, DnsRole, DnsServiceEvidence, DnsSource,
    Evidence,
};
use crate::resolvconf::Effective;
use service::DnsService;

/// What the cluster DNS checks need.
pub struct Inputs<'a> {
    /// glibc's nameservers from resolv.conf, in order.
    pub nameservers: &'a [SocketAddr],
    /// resolv.conf as each library reads it (search list, ndots), for the search's cost.
    pub glibc: &'a Effective,
    pub musl: &'a Effective,
    /// A Service name as an application in this pod writes it (short in its namespace).
    pub service_name: &'a str,
    pub cluster_domain: &'a str,
    /// The probing pod's namespace.
    pub pod_namespace: &'a str,
    /// `--objects` (they may hold `kube-system/kube-dns`).
    pub objects: Option<&'a Objects>,
    /// `--dns-endpoints`.
    pub dns_endpoints: &'a [IpAddr],
    /// Where to read kube-system/kube-dns from when neither of those says.
    pub api: Option<&'a ApiConfig>,
    /// For the API server's host name, if it is one.
    pub resolv_conf: &'a Path,
    /// A name outside the cluster, for the forwarders.
    pub external_name: &'a str,
    /// Lookups per style in the burst.
    pub burst: u32,
    /// Per exchange.
    pub timeout: Duration,
    pub deadline: Instant,
    /// `svcprobe dns`: every cause counts.
    pub whole_cluster: bool,
}

/// The checks, in order, and what the verdict reads of them.
pub struct ClusterDnsResult {
    pub checks: Vec<Check>,
    pub facts: ClusterDns,
}

pub fn run(inputs: &Inputs) -> ClusterDnsResult {
    let start = Instant::now();
    let (service, service_check) = dns_service(inputs);
    let targets = service::targets(inputs.nameservers, &service);
    let name = paths::control_name(inputs.cluster_domain);
    let first = inputs.nameservers.first().copied();
    let ((probes, asked, _), burst, _) = pool::join(
        || {
            pool::join(
                || {
                    let tries = inputs.glibc.attempts;
                    paths::probe(&targets, &name, tries, inputs.timeout, inputs.deadline)
                },
                || {
                    first.map(|server| {
                        upstream::ask(
                            server,
                            inputs.external_name,
                            inputs.timeout,
                            inputs.deadline,
                        )
                    })
                },
            )
        },
        || {
            first.map(|server| {
                burst::run(server, &name, inputs.burst, inputs.timeout, inputs.deadline)
            })
        },
    );
    let servers: Vec<_> = probes.iter().map(paths::server_facts).collect();
    let nameserver = servers.first().filter(|_| first.is_some()).cloned();
    let cluster_answers = nameserver.as_ref().is_some_and(|s| {
        s.replies.udp == DnsReply::Answered || s.replies.tcp == DnsReply::Answered
    });
    let mut checks = vec![service_check];
    checks.push(paths::dns_paths(&name, probes, millis(start.elapsed())));
    let mut upstream_facts = None;
    // A nameserver that answers nothing says nothing of its forwarders: no check then.
    let responds = nameserver.as_ref().is_some_and(|s| !s.replies.dead());
    if let Some(asked) = asked.filter(|_| responds) {
        let (check, facts) = upstream::dns_upstream(asked, cluster_answers);
        checks.push(check);
        upstream_facts = facts;
    }
    let burst_facts = burst.and_then(|b| {
        checks.push(b.check);
        b.facts
    });
    // What the search list costs, where the nameserver answers at all.
    if nameserver
        .as_ref()
        .is_some_and(|s| s.replies.udp == DnsReply::Answered)
    {
        checks.push(search_cost::run(&search_cost::Plan {
            glibc: inputs.glibc,
            musl: inputs.musl,
            settings: QuerySettings {
                servers: inputs.nameservers.to_vec(),
                timeout: inputs.timeout,
                deadline: inputs.deadline,
                tcp: false,
                edns: false,
            },
            names: [
                inputs.external_name.trim_end_matches('.').to_string(),
                inputs.service_name.to_string(),
            ],
            cluster_domain: inputs.cluster_domain,
        }));
    }
    let facts = ClusterDns {
        examined: true,
        whole_cluster: inputs.whole_cluster,
        pod_namespace: inputs.pod_namespace.to_string(),
        nameserver,
        cluster_ip: servers
            .iter()
            .zip(&targets)
            .find(|(_, t)| t.role == DnsRole::ClusterIp && !t.in_resolv_conf)
            .map(|(s, _)| s.clone()),
        ready_endpoints: service.ready(),
        endpoints: servers
            .iter()
            .filter(|s| s.role == DnsRole::Endpoint)
            .cloned()
            .collect(),
        burst: burst_facts,
        upstream: upstream_facts,
    };
    ClusterDnsResult { checks, facts }
}

/// The DNS Service from the objects, the flag or the API server, and its `dns-service`
/// check.
fn dns_service(inputs: &Inputs) -> (DnsService, Check) {
    let from_objects = inputs
        .objects
        .and_then(|o| DnsService::from_objects(o, DnsSource::Objects));
    let (service, requests) = match (from_objects, inputs.dns_endpoints, inputs.api) {
        (Some(objects), [], _) => (objects, Vec::new()),
        (objects, [_, ..], _) => (
            DnsService {
                cluster_ip: objects.and_then(|o| o.cluster_ip),
                ..DnsService::from_flag(inputs.dns_endpoints)
            },
            Vec::new(),
        ),
        (None, [], Some(config)) if inputs.objects.is_none() => {
            // The API read gets at most 2 s of the deadline: DNS is what is being debugged.
            let until = inputs.deadline.min(Instant::now() + API_TIME);
            let read = api::read(config, inputs.resolv_conf, until);
            match read.service {
                Ok(service) => (service, read.requests),
                Err(error) => {
                    return (
                        DnsService::default(),
                        api_failed(inputs, error, read.requests),
                    )
                }
            }
        }
        (None, [], _) => {
            let why = if inputs.objects.is_some() {
                "no kube-system/kube-dns in the objects"
            } else {
                "DNS Service endpoints unknown"
            };
            let summary = format!("{why}: give `kubectl get service,endpointslices -n kube-system -l k8s-app=kube-dns -o json` in --objects, or --dns-endpoints IP,...");
            return (
                DnsService::default(),
                dns_service_check(
                    &DnsService::default(),
                    CheckStatus::Skip,
                    summary,
                    Vec::new(),
                ),
            );
        }
    };
    let ready = service.ready().unwrap_or_default();
    let total = service.endpoints.as_ref().map_or(0, Vec::len);
    let vip = service
        .cluster_ip
        .map(|ip| format!("ClusterIP {ip}, "))
        .unwrap_or_default();
    let source = service.source.map(|s| s.as_str()).unwrap_or("?");
    let status = if ready == 0 {
        CheckStatus::Fail
    } else {
        CheckStatus::Pass
    };
    let summary =
        format!("kube-system/kube-dns: {vip}{ready} of {total} endpoint(s) ready (from {source})");
    let check = dns_service_check(&service, status, summary, requests);
    (service, check)
}

/// The time the read of kube-system/kube-dns may take at most.
const API_TIME: Duration = Duration::from_secs(2);

/// `dns-service` when the API read failed: a skip; after a 403, with the Role to grant.
fn api_failed(inputs: &Inputs, error: ApiError, requests: Vec<ApiRequest>) -> Check {
    let mut check = dns_service_check(
        &DnsService::default(),
        CheckStatus::Skip,
        format!("kube-system/kube-dns not read from the API server: {error}"),
        requests,
    );
    if let ApiError::Forbidden { user, .. } = &error {
        let user = user.as_deref();
        check.hint = Some(format!(
            "RBAC does not let this pod read kube-system/kube-dns; allow it with: {} (or apply deploy/rbac.yaml's kube-system Role; it is in this check's evidence.rbac_yaml)",
            rbac::dns_rbac_commands(inputs.pod_namespace, user)
        ));
        if let Evidence::DnsService(evidence) = &mut check.evidence {
            evidence.rbac_yaml = Some(rbac::dns_rbac_yaml(inputs.pod_namespace, user));
        }
    }
    check
}

fn dns_service_check(
    service: &DnsService,
    status: CheckStatus,
    summary: String,
    requests: Vec<ApiRequest>,
) -> Check {
    let hint = match status {
        CheckStatus::Fail => Some("kubectl get pods -n kube-system -l k8s-app=kube-dns -o wide: are the DNS pods running and ready?".to_string()),
        _ => None,
    };
    Check {
        id: CheckId::DnsService,
        status,
        summary,
        evidence: Evidence::DnsService(DnsServiceEvidence {
            source: service.source,
            cluster_ip: service.cluster_ip.map(|ip| ip.to_string()),
            endpoints: service.evidence(),
            requests,
            rbac_yaml: None,
        }),
        hint,
        duration_ms: 0.0,
    }
}
