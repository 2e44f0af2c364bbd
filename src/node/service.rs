//! The checks of one Service on this node: the ready endpoints of its EndpointSlices (from
//! `--objects` or the API), what the node's rules do with its ClusterIP and port (read by
//! [`rules`](super::rules)) compared with them, and the guide's `curl ClusterIP:port` from
//! the node.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::rules::RulesQuery;
use super::verdict::{Facts, RulesFact, ServiceFact};
use super::{check, skip, NodeCheck, Options, CLUSTER_IP_ATTEMPTS};
use crate::k8s::{Backend, Objects};
use crate::kubeapi::{self, Failure, NotInCluster, Plan, SkipReason};
use crate::report::{
    CheckStatus, DebugProfile, L4Protocol, NoEvidence, NodeCheckId, NodeClusterIpEvidence,
    NodeEvidence, NodeService, Privileges, ServiceProgramming, ServiceRulesEvidence, SliceAddress,
    SliceEndpointsEvidence, TcpOutcome,
};
use crate::service_name::ServiceName;

/// The checks of one Service: its endpoints, its rules, its ClusterIP from the node.
pub fn checks(
    options: &Options,
    privileges: &Privileges,
    name: &ServiceName,
    until: Instant,
    facts: &mut Facts,
    checks: &mut Vec<NodeCheck>,
) -> NodeService {
    let namespace = options.namespace.name.clone();
    let mut service = NodeService {
        name: name.name.clone(),
        namespace: namespace.clone(),
        port: options.port,
        protocol: None,
        cluster_ip: None,
    };
    let started = Instant::now();
    let (objects, source) = match objects(options, &namespace, &name.name, until) {
        Ok(found) => found,
        Err(why) => {
            checks.push(skip(
                NodeCheckId::EndpointSlices,
                why.to_string(),
                facts,
                started,
            ));
            checks.push(no_rules(
                "no ClusterIP known: the objects were not read",
                facts,
            ));
            checks.push(cluster_ip(None, until, facts));
            return service;
        }
    };
    let Some(svc) = objects.service(&namespace, &name.name) else {
        facts.service = Some(ServiceFact {
            exists: false,
            ..ServiceFact::default()
        });
        checks.push(check(
            NodeCheckId::EndpointSlices,
            CheckStatus::Fail,
            format!("no Service {namespace}/{} in the {source}", name.name),
            NodeEvidence::Nothing(NoEvidence {}),
            None,
            started,
        ));
        checks.push(no_rules("no such Service", facts));
        checks.push(cluster_ip(None, until, facts));
        return service;
    };
    let port = match options.port {
        Some(p) => svc.spec.ports.iter().find(|sp| sp.port == p),
        None => svc.spec.ports.first(),
    };
    service.port = options.port.or(port.map(|p| p.port));
    service.protocol = port.map(|p| p.protocol.clone().unwrap_or_else(|| "TCP".into()));
    service.cluster_ip = svc
        .spec
        .cluster_ip
        .clone()
        .filter(|ip| ip.parse::<IpAddr>().is_ok());
    let backends = port
        .and_then(|p| objects.backends(svc, p))
        .unwrap_or_default();
    // An address that is not an IP is no endpoint kube-proxy could program.
    let address = |b: &Backend| {
        let ip: IpAddr = b.ip.parse().ok()?;
        Some(SliceAddress {
            address: SocketAddr::new(ip, b.port).to_string(),
            node_name: b.node.clone(),
            pod: b.pod.clone(),
        })
    };
    let ready: Vec<SliceAddress> = backends
        .iter()
        .filter(|b| b.ready)
        .filter_map(address)
        .collect();
    let not_ready: Vec<SliceAddress> = backends
        .iter()
        .filter(|b| !b.ready)
        .filter_map(address)
        .collect();
    facts.service = Some(ServiceFact {
        exists: true,
        cluster_ip: service.cluster_ip.clone(),
        ready: ready.iter().map(|a| a.address.clone()).collect(),
        port_known: port.is_some(),
    });
    let (status, summary) = match (port, service.cluster_ip.as_deref()) {
        (None, _) => (
            CheckStatus::Fail,
            format!(
                "Service {namespace}/{} has no port {}",
                name.name,
                options.port.map(|p| p.to_string()).unwrap_or_default()
            ),
        ),
        (Some(_), None) => (
            CheckStatus::Warn,
            format!(
                "Service {namespace}/{} has no ClusterIP (headless or ExternalName): kube-proxy programs nothing for it",
                name.name
            ),
        ),
        (Some(p), Some(ip)) => (
            if ready.is_empty() {
                CheckStatus::Warn
            } else {
                CheckStatus::Pass
            },
            format!(
                "{ip} port {}: {} ready, {} not ready (from the {source})",
                p.describe(),
                ready.len(),
                not_ready.len()
            ),
        ),
    };
    checks.push(check(
        NodeCheckId::EndpointSlices,
        status,
        summary,
        NodeEvidence::EndpointSlices(SliceEndpointsEvidence {
            source,
            cluster_ip: service.cluster_ip.clone(),
            target_port: port.map(|p| p.describe()),
            ready,
            not_ready,
        }),
        None,
        started,
    ));
    let protocol = service.protocol.as_deref().and_then(L4Protocol::from_k8s);
    let vip = service.cluster_ip.as_deref().and_then(|ip| ip.parse().ok());
    checks.push(match (vip, service.port, protocol) {
        (Some(vip), Some(port), Some(protocol)) => {
            rules(options, privileges, vip, port, protocol, until, facts)
        }
        _ => no_rules("no ClusterIP, port and protocol to look up", facts),
    });
    let target = match (
        service.cluster_ip.as_deref(),
        service.port,
        service.protocol.as_deref(),
    ) {
        (Some(ip), Some(port), Some("TCP")) => ip.parse().ok().map(|ip| SocketAddr::new(ip, port)),
        _ => None,
    };
    checks.push(cluster_ip(target, until, facts));
    service
}

/// Why the Service's objects are not there: the endpoints check's skip reason.
enum NoObjects {
    /// The API is not read; `namespace` is the one `--objects` would need.
    Skipped {
        why: SkipReason,
        namespace: String,
    },
    Unavailable(NotInCluster),
    ReadFailed(Failure),
    NothingRead,
}

impl fmt::Display for NoObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoObjects::Skipped { why, namespace } => write!(
                f,
                "no objects: {why}; give --objects (kubectl get service,endpointslices -n \
                 {namespace} -o json) or --api-server with --token-file"
            ),
            NoObjects::Unavailable(why) => write!(f, "no objects: {why}"),
            NoObjects::ReadFailed(failure) => write!(
                f,
                "the API read failed: {}: {}",
                failure.resource, failure.error
            ),
            NoObjects::NothingRead => write!(f, "the API read returned nothing"),
        }
    }
}

/// The Service's objects: `--objects`, else the API read.
fn objects(
    options: &Options,
    namespace: &str,
    name: &str,
    until: Instant,
) -> Result<(Objects, &'static str), NoObjects> {
    if let Some(objects) = &options.objects {
        return Ok((objects.clone(), "objects"));
    }
    let config = match &options.api {
        Plan::Read(config) => config,
        Plan::Skip(why) => {
            return Err(NoObjects::Skipped {
                why: why.clone(),
                namespace: namespace.to_string(),
            })
        }
        Plan::Unavailable(why) => return Err(NoObjects::Unavailable(why.clone())),
    };
    // The API read gets 40% of what is left, as in diagnose.
    let api_until = Instant::now() + until.saturating_duration_since(Instant::now()) * 2 / 5;
    let result = kubeapi::read(
        config,
        namespace,
        name,
        Path::new(crate::cli::DEFAULT_RESOLV_CONF),
        api_until,
    );
    match (result.objects, result.failures.into_iter().next()) {
        (Some(objects), _) => Ok((objects, "api")),
        (None, Some(failure)) => Err(NoObjects::ReadFailed(failure)),
        (None, None) => Err(NoObjects::NothingRead),
    }
}

fn no_rules(why: &str, facts: &mut Facts) -> NodeCheck {
    skip(
        NodeCheckId::ServiceRules,
        why.to_string(),
        facts,
        Instant::now(),
    )
}

/// What would let a read that was refused run. A profile's capabilities are effective only
/// for root: the image's user 65534 holds none of them under netadmin or sysadmin either.
fn allowed_by(profile: DebugProfile, privileges: &Privileges) -> String {
    if privileges.uid == Some(0) {
        format!("--profile={profile} allows it")
    } else {
        format!("--profile={profile} run as root allows it: `svcprobe node --help` shows how")
    }
}

/// The guide's `iptables-save | grep hostnames` (or `nft list table ip kube-proxy`,
/// `ipvsadm -ln`), read from the kernel by [`rules`](super::rules), against the ready
/// endpoints of the EndpointSlices.
fn rules(
    options: &Options,
    privileges: &Privileges,
    vip: IpAddr,
    port: u16,
    protocol: L4Protocol,
    until: Instant,
    facts: &mut Facts,
) -> NodeCheck {
    let started = Instant::now();
    // The connections to the ClusterIP after this need their share of the time.
    let deadline = started + until.saturating_duration_since(started) * 3 / 5;
    let query = RulesQuery {
        host_root: &options.host_root,
        cluster_ip: vip,
        port,
        protocol,
        mode: facts.mode,
        deadline,
    };
    let target = format!("{vip}:{port}/{protocol}");
    let programming = match super::rules::read_service(&query) {
        Ok(p) => p,
        Err(skip) => {
            let why = match skip.profile {
                Some(profile) => format!("{} ({})", skip.detail, allowed_by(profile, privileges)),
                None => skip.detail.clone(),
            };
            facts.skipped.insert(NodeCheckId::ServiceRules, why.clone());
            return check(
                NodeCheckId::ServiceRules,
                CheckStatus::Skip,
                why,
                NodeEvidence::ServiceRules(Box::new(ServiceRulesEvidence {
                    programming: None,
                    skip: Some(skip),
                    missing: Vec::new(),
                    extra: Vec::new(),
                })),
                None,
                started,
            );
        }
    };
    let ready: Vec<String> = facts
        .service
        .as_ref()
        .map(|s| s.ready.clone())
        .unwrap_or_default();
    let fact = compare(&programming, &ready);
    let (status, summary, hint) = rules_summary(&fact, &programming, &target, ready.len());
    let evidence = ServiceRulesEvidence {
        missing: fact.missing.clone(),
        extra: fact.extra.clone(),
        programming: Some(programming),
        skip: None,
    };
    facts.rules = Some(fact);
    check(
        NodeCheckId::ServiceRules,
        status,
        summary,
        NodeEvidence::ServiceRules(Box::new(evidence)),
        hint,
        started,
    )
}

/// The rules against the ready endpoints (`ip:port`).
pub fn compare(p: &ServiceProgramming, ready: &[String]) -> RulesFact {
    let programmed: Vec<String> = p.endpoints.iter().map(|e| e.addr.to_string()).collect();
    let missing = ready
        .iter()
        .filter(|r| !programmed.contains(r))
        .cloned()
        .collect();
    let extra = programmed
        .iter()
        .filter(|e| !ready.contains(e))
        .cloned()
        .collect();
    RulesFact {
        service_rule: p.service_rule,
        rejects: p.no_endpoints_rule.is_some(),
        missing,
        extra,
        masquerade_missing: p
            .endpoints
            .iter()
            .filter(|e| e.masquerade_rule == Some(false))
            .map(|e| e.addr.to_string())
            .collect(),
    }
}

fn rules_summary(
    f: &RulesFact,
    p: &ServiceProgramming,
    target: &str,
    ready: usize,
) -> (CheckStatus, String, Option<String>) {
    let from = format!("{} rules ({} mode)", p.source, p.mode);
    let sync_hint = Some(
        "kube-proxy missed a change: its logs say why (kubectl -n kube-system logs -l k8s-app=kube-proxy); restarting it resyncs every rule".to_string(),
    );
    if !f.service_rule && !f.rejects {
        return (
            CheckStatus::Fail,
            format!("{from}: nothing for {target}: the node does not know this Service"),
            sync_hint,
        );
    }
    if f.rejects && ready > 0 {
        return (
            CheckStatus::Fail,
            format!(
                "{from}: {target} is rejected as a Service without endpoints, yet it has {ready} ready"
            ),
            sync_hint,
        );
    }
    if !f.missing.is_empty() || !f.extra.is_empty() {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        return (
            CheckStatus::Fail,
            format!(
                "{from}: {target} goes to {} endpoints; ready but not in the rules: {}; in the rules but not ready: {}",
                p.endpoints.len(),
                list(&f.missing),
                list(&f.extra)
            ),
            sync_hint,
        );
    }
    if !f.masquerade_missing.is_empty() {
        return (
            CheckStatus::Fail,
            format!(
                "{from}: {target} goes to its {ready} ready endpoints, but {} lack the masquerade rule for traffic from the pod itself (-s podIP -j KUBE-MARK-MASQ)",
                f.masquerade_missing.join(", ")
            ),
            Some("kube-proxy writes that rule for every endpoint; missing, a pod cannot reach itself through its Service: resync kube-proxy (restart it)".to_string()),
        );
    }
    if f.rejects {
        return (
            CheckStatus::Pass,
            format!(
                "{from}: {target} has no endpoints and the node rejects it, as kube-proxy does"
            ),
            None,
        );
    }
    (
        CheckStatus::Pass,
        format!("{from}: {target} goes to exactly its {ready} ready endpoints"),
        None,
    )
}

/// The guide's `curl ClusterIP:port` from the node, as TCP connects.
fn cluster_ip(target: Option<SocketAddr>, until: Instant, facts: &mut Facts) -> NodeCheck {
    let started = Instant::now();
    let Some(target) = target else {
        return skip(
            NodeCheckId::ClusterIp,
            "no TCP ClusterIP and port known (from the objects)".into(),
            facts,
            started,
        );
    };
    let mut attempts = Vec::new();
    for seq in 1..=CLUSTER_IP_ATTEMPTS {
        let left = until.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(10) {
            break;
        }
        let timeout = (left / (CLUSTER_IP_ATTEMPTS + 1 - seq)).min(Duration::from_secs(1));
        attempts.push(crate::probe::tcp::attempt(seq, target, None, timeout));
    }
    let ok = attempts
        .iter()
        .filter(|a| a.outcome == TcpOutcome::Connected)
        .count();
    facts.cluster_ip = Some((attempts.len(), ok));
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    let (status, summary) = if attempts.is_empty() {
        (
            CheckStatus::Skip,
            format!("{target}: no time left before the deadline"),
        )
    } else if ok == attempts.len() {
        (
            CheckStatus::Pass,
            format!("{target}: all {} connections from the node connected", ok),
        )
    } else {
        (
            if ok == 0 {
                CheckStatus::Fail
            } else {
                CheckStatus::Warn
            },
            format!(
                "{target}: {} connected ({})",
                crate::text::of(ok, attempts.len()),
                outcomes.join(", ")
            ),
        )
    };
    if status == CheckStatus::Skip {
        facts
            .skipped
            .insert(NodeCheckId::ClusterIp, summary.clone());
    }
    check(
        NodeCheckId::ClusterIp,
        status,
        summary,
        NodeEvidence::ClusterIp(NodeClusterIpEvidence {
            address: target.to_string(),
            attempts,
        }),
        None,
        started,
    )
}
