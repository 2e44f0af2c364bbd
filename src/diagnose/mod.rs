//! `svcprobe diagnose`: the whole "Debug Services" walk, in the guide's order, and a verdict.
//!
//! Checks are grouped by what they need: the pod's own context and resolv.conf (local),
//! DNS (the cluster DNS server), the Service definition and endpoints (cluster objects,
//! when given), and connectivity (the ClusterIP and each endpoint). Independent checks run
//! concurrently; every network operation has a deadline cut from the command's deadline,
//! so the walk ends on time with a verdict even when everything is black-holed.

mod api_checks;
mod dns_checks;
pub mod dns_rules;
pub(crate) mod object_checks;
mod reach;
pub mod verdict;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::clusterdns;
use crate::dns::millis;
use crate::k8s::Objects;
use crate::kubeapi;
use crate::probe::pool;
use crate::report::{
    Check, CheckId, CheckStatus, DiagnoseReport, Evidence, Libc, NoEvidence, Origin, ProbeContext,
    ResolvConfEvidence, Severity,
};
use crate::resolvconf::{self, Effective, ResolvConf};
use crate::service_name::{Namespace, ServiceName};
use verdict::Facts;

/// Where a pod's service account namespace is mounted.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The part of the deadline the API read may use at most.
const API_SHARE: f64 = 0.4;

/// What the user asked for.
#[derive(Debug)]
pub struct Options {
    pub service: ServiceName,
    /// The namespace given in the name or with `-n`; else the pod's own.
    pub namespace: Option<Namespace>,
    pub port: Option<u16>,
    pub objects: Option<Objects>,
    /// Whether and how to read the objects from the API server instead.
    pub api: kubeapi::Plan,
    pub endpoints: Vec<SocketAddr>,
    /// `--dns-endpoints`: the DNS pods' addresses, when no objects say.
    pub dns_endpoints: Vec<IpAddr>,
    pub samples: usize,
    pub timeout: Duration,
    pub deadline: Duration,
    pub resolv_conf: PathBuf,
}

/// The pod's resolver settings, read once and shared by every DNS check.
pub struct Resolver {
    pub conf: Option<ResolvConf>,
    pub glibc: Effective,
    pub musl: Effective,
    pub servers: Vec<SocketAddr>,
    pub read_error: Option<String>,
}

/// Runs every check and decides the verdict, within `options.deadline` of `start` (the
/// command's start: reading `--objects` came first and spent some of it).
pub fn run(options: &Options, start: Instant) -> DiagnoseReport {
    let deadline = start + options.deadline;
    let resolver = read_resolver(&options.resolv_conf, deadline);
    let (context, conf_domain) = probe_context(&resolver);
    let service_ref = options.service.settle(
        options.namespace.as_ref(),
        (&context.namespace, context.namespace_source),
        (&conf_domain.0, conf_domain.1),
    );
    let namespace = service_ref.namespace.clone();
    let cluster_domain = service_ref.cluster_domain.clone();
    let mut checks = vec![self::context(&context), resolv_conf(&resolver, options)];

    // The API read runs while the DNS checks wait for answers; it gets a share of the
    // deadline so that the connectivity checks keep theirs when the API server hangs.
    let api_deadline = start + options.deadline.mul_f64(API_SHARE);
    // Without a thread to spare (a pids limit), the two run one after the other.
    let (api, dns, _) = pool::join(
        || {
            api_checks::run(
                &options.api,
                &namespace,
                &options.service.name,
                &options.resolv_conf,
                api_deadline,
            )
        },
        || {
            dns_checks::run(
                options,
                &resolver,
                &namespace,
                &context.namespace,
                &cluster_domain,
                deadline,
            )
        },
    );
    let (objects, source) = match (&options.objects, &api.objects) {
        (Some(given), _) => (Some(given), Some("--objects")),
        (None, Some(read)) => (Some(read), Some("the API server")),
        (None, None) => (None, None),
    };
    let objects = object_checks::run(
        options,
        objects,
        &object_checks::Source {
            objects: source,
            namespace: &namespace,
            pod: context.hostname.as_deref(),
        },
    );
    let port = options.port.or(objects.port).unwrap_or(80);
    let port_source = match (options.port, objects.port) {
        (Some(_), _) => "flag",
        (None, Some(_)) => "objects",
        (None, None) => "default",
    };
    let vip = objects
        .cluster_ip
        .clone()
        .or_else(|| dns.fqdn_address.clone());
    // The Service as an application in this pod would write it.
    let service_name = if namespace == context.namespace {
        options.service.name.clone()
    } else {
        format!("{}.{namespace}", options.service.name)
    };
    let plan = reach::Plan {
        vip,
        port,
        http: objects.http.unwrap_or(matches!(port, 80 | 8080)),
        udp: objects
            .udp
            .then(|| (port == 53).then(|| clusterdns::paths::control_name(&cluster_domain))),
        backends: objects.backends.clone(),
        no_backends: objects.no_backends.clone(),
        pod_ip: context.pod_ip.clone(),
        samples: options.samples,
        timeout: options.timeout,
        deadline,
    };
    // When DNS failed or was slow, the DNS Service is examined while the Service is probed.
    let (reach, cluster_dns, _) = pool::join(
        || reach::run(&plan),
        || {
            dns.troubled.then(|| {
                clusterdns::run(&clusterdns::Inputs {
                    nameservers: &resolver.servers,
                    glibc: &resolver.glibc,
                    musl: &resolver.musl,
                    service_name: &service_name,
                    cluster_domain: &cluster_domain,
                    pod_namespace: &context.namespace,
                    objects: options.objects.as_ref(),
                    dns_endpoints: &options.dns_endpoints,
                    api: match &options.api {
                        kubeapi::Plan::Read(config) => Some(config),
                        _ => None,
                    },
                    resolv_conf: &options.resolv_conf,
                    external_name: clusterdns::upstream::EXTERNAL_NAME,
                    burst: clusterdns::burst::DEFAULT_LOOKUPS,
                    timeout: options.timeout.min(dns_checks::DNS_TIMEOUT),
                    deadline,
                    whole_cluster: false,
                })
            })
        },
    );
    let mut facts = Facts {
        service: options.service.name.clone(),
        namespace: namespace.clone(),
        dns_answers: dns.server_answers,
        dns_refused: dns.server_refused,
        kubernetes_default: dns.kubernetes_default,
        short: dns.short,
        namespaced: dns.namespaced,
        fqdn: dns.fqdn,
        service_in_objects: objects.service_found,
        target_port_undeclared: objects.target_port_undeclared.clone(),
        ready_endpoints: objects.ready_endpoints,
        cluster_ip: reach.cluster_ip.clone(),
        direct: (!reach.direct.is_empty()).then(|| reach.direct.clone()),
        direct_not_probed: reach.not_probed,
        hairpin_ok: reach.hairpin_ok,
        endpoint_nodes: endpoint_nodes(&objects.backends),
        self_node: objects
            .backends
            .iter()
            .find(|b| Some(&b.ip) == context.pod_ip.as_ref())
            .and_then(|b| b.node.clone()),
        skipped: BTreeMap::new(),
        cluster_dns: Default::default(),
    };
    checks.extend(dns.checks);
    if let Some(cluster_dns) = cluster_dns {
        checks.extend(cluster_dns.checks);
        facts.cluster_dns = cluster_dns.facts;
    }
    checks.push(api.check);
    checks.extend(objects.checks);
    checks.extend(reach.checks);
    checks.push(kube_proxy(&options.service.name, &namespace));
    facts.skipped = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Skip)
        .map(|c| (c.id, c.skip_reason().to_string()))
        .collect();
    DiagnoseReport {
        service: options.service.name.clone(),
        namespace,
        service_ref,
        port,
        port_source,
        context,
        checks,
        verdict: verdict::decide(&facts),
        duration_ms: millis(start.elapsed()),
        deadline_ms: options.deadline.as_millis() as u64,
    }
}

/// The pod's resolv.conf as both C libraries read it (an unreadable file reads as empty,
/// and the error is kept for the report).
pub fn read_resolver(path: &std::path::Path, deadline: Instant) -> Resolver {
    let (conf, read_error) = match crate::input::read_text(path, deadline) {
        Ok(text) => (Some(resolvconf::parse(&text)), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let empty = resolvconf::parse("");
    let source = conf.as_ref().unwrap_or(&empty);
    let glibc = source.effective(Libc::Glibc);
    let musl = source.effective(Libc::Musl);
    let servers = glibc.servers();
    Resolver {
        conf,
        glibc,
        musl,
        servers,
        read_error,
    }
}

/// The probe's own identity (its namespace too: the short-name check depends on it), and
/// the cluster domain its search list implies.
pub fn probe_context(resolver: &Resolver) -> (ProbeContext, (String, Origin)) {
    let kube = resolver
        .conf
        .as_ref()
        .and_then(ResolvConf::kubernetes_context);
    let cluster_domain = kube
        .as_ref()
        .map(|k| (k.cluster_domain.clone(), Origin::SearchList))
        .unwrap_or_else(|| ("cluster.local".into(), Origin::Default));
    let from_file = std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let from_env = std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|s| !s.is_empty());
    let from_search = kube.and_then(|k| k.namespace);
    let (namespace, namespace_source) = if let Some(ns) = from_file {
        (ns, Origin::ServiceAccount)
    } else if let Some(ns) = from_env {
        (ns, Origin::PodNamespace)
    } else if let Some(ns) = from_search {
        (ns, Origin::SearchList)
    } else {
        ("default".into(), Origin::Default)
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string());
    let pod_ip = resolver
        .servers
        .first()
        .and_then(|s| local_address_towards(*s))
        .map(|ip| ip.to_string());
    (
        ProbeContext {
            hostname,
            pod_ip,
            namespace,
            namespace_source,
        },
        cluster_domain,
    )
}

/// The source address the kernel picks towards `peer`: connecting a UDP socket sends nothing.
pub fn local_address_towards(peer: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(peer).ok()?;
    socket
        .local_addr()
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified())
}

/// `context`: where the probe runs.
fn context(context: &ProbeContext) -> Check {
    let summary = format!(
        "probing from {} ({}), namespace {} (from {})",
        context.hostname.as_deref().unwrap_or("unknown host"),
        context
            .pod_ip
            .as_deref()
            .unwrap_or("no route to the DNS server"),
        context.namespace,
        context.namespace_source.name()
    );
    check(
        CheckId::Context,
        CheckStatus::Pass,
        summary,
        Evidence::Context(context.clone()),
        None,
    )
}

/// `resolv-conf`: the `resolvconf` lint of the pod's resolv.conf.
fn resolv_conf(resolver: &Resolver, options: &Options) -> Check {
    let file = options.resolv_conf.display().to_string();
    let Some(conf) = &resolver.conf else {
        return check(
            CheckId::ResolvConf,
            CheckStatus::Skip,
            resolver.read_error.clone().unwrap_or_default(),
            Evidence::ResolvConf(ResolvConfEvidence {
                file,
                glibc: None,
                findings: None,
            }),
            Some(
                "run svcprobe in the pod whose DNS you are debugging (kubectl debug --target)"
                    .into(),
            ),
        );
    };
    let findings = conf.lint();
    // The most severe finding speaks for the file: its message is what to fix first.
    let worst = findings.iter().max_by_key(|f| f.severity);
    let (status, summary) = match worst {
        Some(f) if f.severity == Severity::Error => {
            (CheckStatus::Fail, format!("{}: {}", f.code, f.message))
        }
        Some(f) if f.severity == Severity::Warning => {
            (CheckStatus::Warn, format!("{}: {}", f.code, f.message))
        }
        _ => {
            let servers: Vec<String> = resolver
                .glibc
                .nameservers
                .iter()
                .map(IpAddr::to_string)
                .collect();
            let search = resolver.glibc.search.join(" ");
            (
                CheckStatus::Pass,
                format!(
                    "nameserver {}, search {search}, ndots:{}",
                    servers.join(" "),
                    resolver.glibc.ndots
                ),
            )
        }
    };
    let hint = (status != CheckStatus::Pass).then(|| "run `svcprobe resolvconf -o text` for details; kubelet writes `search <ns>.svc.<domain> svc.<domain> <domain>` and `options ndots:5`".into());
    check(
        CheckId::ResolvConf,
        status,
        summary,
        Evidence::ResolvConf(ResolvConfEvidence {
            file,
            glibc: Some(resolver.glibc.to_report()),
            findings: Some(findings),
        }),
        hint,
    )
}

/// The ready endpoints' nodes, each once, in the order the EndpointSlices list them.
fn endpoint_nodes(backends: &[crate::k8s::Backend]) -> Vec<String> {
    let mut nodes: Vec<String> = Vec::new();
    for node in backends
        .iter()
        .filter(|b| b.ready)
        .filter_map(|b| b.node.as_ref())
    {
        if !nodes.contains(node) {
            nodes.push(node.clone());
        }
    }
    nodes
}

/// `kube-proxy`: node-side, so always a skip from a pod, with how to look from the node.
fn kube_proxy(service: &str, namespace: &str) -> Check {
    skip(
        CheckId::KubeProxy,
        "kube-proxy's rules live on the node; this check runs from a node debug pod".into(),
        Some(format!(
            "{} (svcprobe node: kube-proxy, its rules for this Service, the node's bridge and hairpin settings)",
            verdict::node_debug_command("<node>", service, namespace)
        )),
    )
}

/// A check that ran in no measurable time (what it read was already at hand).
fn check(
    id: CheckId,
    status: CheckStatus,
    summary: String,
    evidence: Evidence,
    hint: Option<String>,
) -> Check {
    Check::new(id, status, summary, evidence, hint, 0.0)
}

/// A check that could not run: `why` says why (and how to make it run).
fn skip(id: CheckId, why: String, hint: Option<String>) -> Check {
    check(
        id,
        CheckStatus::Skip,
        why,
        Evidence::Nothing(NoEvidence {}),
        hint,
    )
}
