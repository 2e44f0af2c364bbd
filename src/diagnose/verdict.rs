//! From what the checks saw to one cause: the layer that is broken, why we think so, and
//! what to do next. Pure, so every rule is table-tested.
//!
//! The rules are a table (`RULES`), in the guide's order: a layer is blamed only when the
//! layers below it (DNS before Service definition before endpoints before kube-proxy) look
//! sound, so that the verdict names the first thing to fix, not a symptom of it. A verdict
//! claims only what a check that ran has shown: each rule's sentences carry the checks they
//! rest on, and the checks a rule reads but that did not run are named in the summary
//! ("not checked: ...") with, where one exists, the way to make them run.

use std::collections::BTreeMap;

use super::dns_rules::{self, ClusterDns};
use crate::report::{Cause, CheckId, Verdict};

/// How a set of connection attempts to one destination went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub attempts: usize,
    pub ok: usize,
    /// TCP RST from the destination (or an HTTP-level failure after connecting).
    pub refused: usize,
    /// ICMP unreachable; the senders are in `rejected_by`.
    pub rejected: usize,
    pub rejected_by: Vec<String>,
    pub timeout: usize,
    pub other: usize,
}

impl Tally {
    pub fn all_ok(&self) -> bool {
        self.attempts > 0 && self.ok == self.attempts
    }

    pub fn none_ok(&self) -> bool {
        self.attempts > 0 && self.ok == 0
    }
}

/// What the DNS checks found for one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    Resolved,
    NotFound,
    /// Timeout, unreachable server, SERVFAIL, ...
    Failed,
    /// Not checked (e.g. the short name from another namespace).
    Unchecked,
}

impl Name {
    fn failed(self) -> bool {
        matches!(self, Name::NotFound | Name::Failed)
    }
}

/// One endpoint's direct probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Direct {
    pub address: String,
    pub pod: Option<String>,
    pub tally: Tally,
}

/// Everything the verdict rules look at. A check that did not run leaves its fact empty
/// (`None`, `Name::Unchecked`); `skipped` says why, in a few words, for the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub service: String,
    pub namespace: String,
    /// Some server answered anything at all.
    pub dns_answers: bool,
    /// The DNS server was refused (ICMP) rather than silent, when it did not answer.
    pub dns_refused: bool,
    pub kubernetes_default: Name,
    pub short: Name,
    pub namespaced: Name,
    pub fqdn: Name,
    /// From objects: `Some(false)` when the objects were given and lack the Service; `None`
    /// without objects.
    pub service_in_objects: Option<bool>,
    /// From objects: the Service's targetPort is not a port the selected pods declare.
    pub target_port_undeclared: Option<String>,
    /// From objects or `--endpoints`: the number of ready endpoint addresses.
    pub ready_endpoints: Option<usize>,
    pub cluster_ip: Option<Tally>,
    /// Each endpoint probed directly; `None` when `endpoints-direct` did not run.
    pub direct: Option<Vec<Direct>>,
    /// Endpoints known but not probed directly before the deadline: what `direct` shows
    /// holds for the probed ones only.
    pub direct_not_probed: usize,
    /// `Some(false)` when this pod is an endpoint and cannot reach itself via the VIP.
    pub hairpin_ok: Option<bool>,
    /// The nodes of the Service's endpoints, from their EndpointSlices' `nodeName`, each
    /// once: where `svcprobe node` should look at a proxy fault.
    pub endpoint_nodes: Vec<String>,
    /// This pod's node, when it is an endpoint whose EndpointSlice names it.
    pub self_node: Option<String>,
    /// Why each check that did not run was skipped.
    pub skipped: BTreeMap<CheckId, String>,
    /// What the DNS Service's own checks saw (they run when DNS fails or is slow).
    pub cluster_dns: ClusterDns,
}

impl Facts {
    /// `svcprobe dns`: no Service, only what the DNS Service's checks saw.
    pub fn dns_only(
        namespace: String,
        cluster_dns: ClusterDns,
        skipped: BTreeMap<CheckId, String>,
    ) -> Facts {
        let replies = cluster_dns.nameserver.as_ref().map(|s| s.replies);
        Facts {
            service: String::new(),
            namespace,
            dns_answers: replies.is_some_and(|r| !r.dead()),
            dns_refused: replies.is_some_and(|r| r.refuses()),
            kubernetes_default: Name::Unchecked,
            short: Name::Unchecked,
            namespaced: Name::Unchecked,
            fqdn: Name::Unchecked,
            service_in_objects: None,
            target_port_undeclared: None,
            ready_endpoints: None,
            cluster_ip: None,
            direct: None,
            direct_not_probed: 0,
            hairpin_ok: None,
            endpoint_nodes: Vec::new(),
            self_node: None,
            skipped,
            cluster_dns,
        }
    }

    /// Whether check `id` ran, so that a verdict may state its result.
    pub fn ran(&self, id: CheckId) -> bool {
        match id {
            CheckId::DnsKubernetesDefault => self.kubernetes_default != Name::Unchecked,
            CheckId::DnsShort => self.short != Name::Unchecked,
            CheckId::DnsNamespaced => self.namespaced != Name::Unchecked,
            CheckId::DnsFqdn => self.fqdn != Name::Unchecked,
            CheckId::ServiceDefinition => self.service_in_objects.is_some(),
            CheckId::Endpoints => self.ready_endpoints.is_some(),
            CheckId::ClusterIp => self.cluster_ip.is_some(),
            CheckId::EndpointsDirect => self.direct.is_some(),
            _ => !self.skipped.contains_key(&id),
        }
    }

    fn svc(&self) -> String {
        format!("{}.{}", self.service, self.namespace)
    }

    fn vip(&self) -> Tally {
        self.cluster_ip.clone().unwrap_or_default()
    }

    fn direct(&self) -> &[Direct] {
        self.direct.as_deref().unwrap_or_default()
    }

    fn direct_ok(&self) -> usize {
        self.direct().iter().filter(|d| d.tally.ok > 0).count()
    }

    /// The endpoints were probed and every one answered.
    fn every_endpoint_answers(&self) -> bool {
        !self.direct().is_empty() && self.direct_ok() == self.direct().len()
    }

    fn direct_failing(&self, how: impl Fn(&Tally) -> bool) -> usize {
        self.direct()
            .iter()
            .filter(|d| d.tally.ok == 0 && how(&d.tally))
            .count()
    }

    fn every_endpoint_refuses(&self) -> bool {
        !self.direct().is_empty() && self.direct_failing(|t| t.refused > 0) == self.direct().len()
    }
}

/// One sentence of a verdict and what it stands on: the checks whose results it states
/// (they must have run) and the checks it tells how to run (they must not have).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub rests_on: Vec<CheckId>,
    pub would_run: Vec<CheckId>,
}

pub(super) fn line(text: impl Into<String>, rests_on: &[CheckId]) -> Line {
    Line {
        text: text.into(),
        rests_on: rests_on.to_vec(),
        would_run: Vec::new(),
    }
}

/// What a rule says when it matches: the summary's claim and the next steps.
pub struct Said {
    pub claim: Line,
    pub steps: Vec<Line>,
}

/// One row of the verdict table.
pub struct Rule {
    pub cause: Cause,
    /// The checks the rule reads: those that did not run are named in the summary.
    pub reads: &'static [CheckId],
    /// When this row is the verdict (the first matching row wins).
    pub when: fn(&Facts) -> bool,
    /// The summary's claim and the next steps, each resting on checks that ran.
    pub says: fn(&Facts) -> Said,
}

use CheckId::{
    ClusterIp, DnsFqdn, DnsKubernetesDefault, DnsNamespaced, DnsPaths, DnsServer, DnsShort,
    Endpoints, EndpointsDirect, Hairpin, ServiceDefinition,
};

/// The verdict table, in the order the rules are tried.
pub const RULES: &[Rule] = &[
    Rule {
        cause: Cause::Proxy,
        reads: &[DnsServer, ClusterIp, EndpointsDirect],
        when: service_ips_fail,
        says: service_ips_fail_says,
    },
    dns_rules::PODS_DOWN,
    dns_rules::SERVICE_BROKEN,
    dns_rules::NODELOCAL_DOWN,
    dns_rules::BLOCKED,
    dns_rules::UDP_ONLY_BROKEN,
    dns_rules::TCP_ONLY_BROKEN,
    dns_rules::INTERMITTENT,
    DNS_SILENT,
    Rule {
        cause: Cause::DnsUnreachable,
        reads: &[DnsFqdn, DnsKubernetesDefault],
        when: dns_knows_no_service,
        says: dns_knows_no_service_says,
    },
    Rule {
        cause: Cause::ServiceNotFound,
        reads: &[DnsFqdn, ServiceDefinition],
        when: |f| f.fqdn == Name::NotFound || f.service_in_objects == Some(false),
        says: service_not_found_says,
    },
    Rule {
        cause: Cause::DnsConfig,
        reads: &[DnsFqdn, DnsShort, DnsNamespaced],
        when: |f| f.fqdn == Name::Resolved && (f.short.failed() || f.namespaced.failed()),
        says: dns_config_says,
    },
    Rule {
        cause: Cause::DnsUnreachable,
        reads: &[DnsFqdn],
        when: |f| f.fqdn == Name::Failed,
        says: dns_fails_on_name_says,
    },
    Rule {
        cause: Cause::NoEndpoints,
        reads: &[Endpoints],
        when: |f| f.ready_endpoints == Some(0),
        says: no_ready_endpoints_says,
    },
    Rule {
        cause: Cause::NoEndpoints,
        reads: &[ClusterIp, Endpoints],
        // One ICMP reject with no success is proof enough: the kernel rate-limits ICMP
        // errors, so the other attempts of a burst often just time out.
        when: |f| f.vip().rejected > 0 && f.vip().ok == 0,
        says: cluster_ip_rejected_says,
    },
    Rule {
        cause: Cause::TargetPortMismatch,
        reads: &[ServiceDefinition, EndpointsDirect, ClusterIp],
        when: undeclared_port_refused,
        says: undeclared_port_refused_says,
    },
    Rule {
        cause: Cause::TargetPortMismatch,
        reads: &[EndpointsDirect, ClusterIp],
        when: target_port_refused,
        says: target_port_refused_says,
    },
    Rule {
        cause: Cause::BackendDown,
        reads: &[EndpointsDirect],
        when: |f| {
            f.direct_failing(|t| t.refused > 0) > 0
                || (f.direct_failing(|t| t.timeout > 0) > 0 && f.direct_ok() > 0)
        },
        says: endpoints_down_says,
    },
    Rule {
        cause: Cause::BackendDown,
        reads: &[ClusterIp, EndpointsDirect],
        when: |f| f.direct.is_none() && f.vip().ok > 0 && f.vip().refused > 0,
        says: cluster_ip_partly_refused_says,
    },
    Rule {
        cause: Cause::TrafficBlocked,
        reads: &[ClusterIp, EndpointsDirect],
        when: traffic_dropped,
        says: traffic_dropped_says,
    },
    Rule {
        cause: Cause::Hairpin,
        reads: &[Hairpin],
        when: |f| f.hairpin_ok == Some(false),
        says: hairpin_says,
    },
    Rule {
        cause: Cause::Proxy,
        reads: &[EndpointsDirect, ClusterIp],
        when: |f| f.every_endpoint_answers() && f.vip().attempts > 0 && !f.vip().all_ok(),
        says: cluster_ip_fails_says,
    },
    Rule {
        cause: Cause::Healthy,
        reads: &[DnsFqdn, ClusterIp, EndpointsDirect],
        when: |f| {
            f.vip().all_ok()
                && (f.direct.is_none() || f.direct_ok() == f.direct().len())
                && f.hairpin_ok != Some(false)
        },
        says: healthy_says,
    },
];

/// No DNS server answered, and the DNS Service's checks could not say why.
const DNS_SILENT: Rule = Rule {
    cause: Cause::DnsUnreachable,
    reads: &[DnsServer, DnsPaths],
    when: |f| !f.dns_answers,
    says: dns_silent_says,
};

/// `svcprobe dns`: the DNS Service's rules alone, with every cause in play.
pub const DNS_RULES: &[Rule] = &[
    dns_rules::PODS_DOWN,
    dns_rules::SERVICE_BROKEN,
    dns_rules::NODELOCAL_DOWN,
    dns_rules::BLOCKED,
    dns_rules::UDP_ONLY_BROKEN,
    dns_rules::TCP_ONLY_BROKEN,
    dns_rules::INTERMITTENT,
    dns_rules::UPSTREAM,
    dns_rules::HEALTHY,
    DNS_SILENT,
];

/// When no row matches.
pub const UNKNOWN: Rule = Rule {
    cause: Cause::Unknown,
    reads: &[
        DnsFqdn,
        ServiceDefinition,
        Endpoints,
        ClusterIp,
        EndpointsDirect,
    ],
    when: |_| true,
    says: |_| Said {
        claim: line(
            "the checks do not add up to a known cause; read the checklist",
            &[],
        ),
        steps: vec![line(
            "each failing check's hint says what to look at next",
            &[],
        )],
    },
};

/// A verdict with what each of its sentences stands on (for the tests).
pub struct Explained {
    pub cause: Cause,
    pub claim: Line,
    /// The checks the rule reads that did not run.
    pub unchecked: Vec<CheckId>,
    pub steps: Vec<Line>,
}

/// The first matching rule's verdict, with what it stands on.
pub fn explain(facts: &Facts) -> Explained {
    explain_by(RULES, facts)
}

fn explain_by(rules: &[Rule], facts: &Facts) -> Explained {
    let rule = rules.iter().find(|r| (r.when)(facts)).unwrap_or(&UNKNOWN);
    let said = (rule.says)(facts);
    let unchecked: Vec<CheckId> = rule
        .reads
        .iter()
        .copied()
        .filter(|id| !facts.ran(*id))
        .collect();
    let mut steps = said.steps;
    steps.extend(how_to_run(facts, &unchecked));
    Explained {
        cause: rule.cause,
        claim: said.claim,
        unchecked,
        steps,
    }
}

/// The verdict for `facts`.
pub fn decide(facts: &Facts) -> Verdict {
    decide_by(RULES, facts)
}

/// The verdict of `svcprobe dns`: the DNS Service's rules alone.
pub fn decide_dns(facts: &Facts) -> Verdict {
    decide_by(DNS_RULES, facts)
}

fn decide_by(rules: &[Rule], facts: &Facts) -> Verdict {
    let explained = explain_by(rules, facts);
    let mut summary = explained.claim.text;
    if !explained.unchecked.is_empty() {
        let gaps: Vec<String> = explained
            .unchecked
            .iter()
            .map(|id| match facts.skipped.get(id) {
                Some(why) => format!("{id} ({why})"),
                None => id.to_string(),
            })
            .collect();
        summary.push_str("; not checked: ");
        summary.push_str(&gaps.join(", "));
    }
    if facts.direct_not_probed > 0 && explained.claim.rests_on.contains(&EndpointsDirect) {
        summary.push_str(&format!(
            "; endpoints-direct covers {} of {} endpoints ({} not probed before the deadline)",
            facts.direct().len(),
            facts.direct().len() + facts.direct_not_probed,
            facts.direct_not_probed
        ));
    }
    Verdict {
        cause: explained.cause,
        summary,
        next_steps: explained.steps.into_iter().map(|l| l.text).collect(),
    }
}

/// How to make the checks in `unchecked` run, where the user can do something about it.
fn how_to_run(facts: &Facts, unchecked: &[CheckId]) -> Vec<Line> {
    let ns = &facts.namespace;
    let svc = &facts.service;
    let mut steps = Vec::new();
    let missing = |ids: &[CheckId]| -> Vec<CheckId> {
        ids.iter()
            .copied()
            .filter(|id| unchecked.contains(id))
            .collect()
    };
    let from_objects = missing(&[ServiceDefinition, Endpoints, EndpointsDirect]);
    if facts.service_in_objects.is_none() && !from_objects.is_empty() {
        let names: Vec<&str> = from_objects.iter().map(|id| id.as_str()).collect();
        steps.push(Line {
            text: format!(
                "to run {}: let svcprobe read the API server (RBAC: deploy/rbac.yaml), or pipe `kubectl get service,endpointslices,pods -n {ns} -o json` into --objects -, or give --endpoints IP:PORT,...",
                names.join(", ")
            ),
            rests_on: Vec::new(),
            would_run: from_objects,
        });
    } else if facts.service_in_objects == Some(true) {
        let endpoints = missing(&[Endpoints, EndpointsDirect]);
        if !endpoints.is_empty() {
            let names: Vec<&str> = endpoints.iter().map(|id| id.as_str()).collect();
            steps.push(Line {
                text: format!(
                    "to run {}: the objects hold no endpoints of the Service; add them (kubectl get endpointslices -n {ns} -l kubernetes.io/service-name={svc} -o json) or give --endpoints IP:PORT,...",
                    names.join(", ")
                ),
                rests_on: Vec::new(),
                would_run: endpoints,
            });
        }
    }
    if unchecked.contains(&DnsShort) {
        steps.push(Line {
            text: format!(
                "to check the short name `{svc}`, run svcprobe from a pod in namespace {ns}"
            ),
            rests_on: Vec::new(),
            would_run: vec![DnsShort],
        });
    }
    steps
}

/// "none of 20", "13 of 20".
fn of(part: usize, whole: usize) -> String {
    if part == 0 {
        format!("none of {whole}")
    } else {
        format!("{part} of {whole}")
    }
}

// Self-connections may still work through the VIP (they never leave the node's bridge
// port), so "not every sample answered" is the signal, not "none did".
fn service_ips_fail(f: &Facts) -> bool {
    !f.dns_answers && f.every_endpoint_answers() && f.vip().attempts > 0 && !f.vip().all_ok()
}

fn service_ips_fail_says(f: &Facts) -> Said {
    let on = [DnsServer, ClusterIp, EndpointsDirect];
    let mut steps = node_steps(f, &f.endpoint_nodes, &on);
    steps.extend([
        line("on the node: is kube-proxy running? iptables-save | grep KUBE-SERVICES; check its logs", &on),
        line("check net.bridge.bridge-nf-call-iptables=1 and that br_netfilter is loaded", &on),
    ]);
    Said {
        claim: line("the Service IPs fail (the DNS server's, and this Service's for at least some connections), yet every endpoint answers directly: kube-proxy or the node's bridge is at fault", &on),
        steps,
    }
}

fn dns_silent_says(f: &Facts) -> Said {
    let how = if f.dns_refused {
        "refused (ICMP port unreachable: nothing listens on port 53)"
    } else {
        "silently dropped"
    };
    let on = [DnsServer];
    let policy = line(
        format!(
            "look for a NetworkPolicy or firewall dropping UDP/TCP 53 from namespace {}",
            if f.cluster_dns.examined {
                &f.cluster_dns.pod_namespace
            } else {
                &f.namespace
            }
        ),
        &on,
    );
    if let Some(why) = dns_rules::why_unreachable(&f.cluster_dns) {
        return Said {
            claim: line(format!("no DNS server answered: queries were {how}; {why}"), &on),
            steps: vec![
                line("kubectl get pods,endpointslices -n kube-system -l k8s-app=kube-dns -o wide, then run again with --dns-endpoints POD_IP,...", &on),
                policy,
            ],
        };
    }
    Said {
        claim: line(format!("no DNS server answered: queries were {how}"), &on),
        steps: vec![
            line("check that the DNS pods run: kubectl get pods -n kube-system -l k8s-app=kube-dns", &on),
            line("check that the kube-dns Service has endpoints: kubectl get endpointslices -n kube-system -l kubernetes.io/service-name=kube-dns", &on),
            policy,
        ],
    }
}

// The guide's control: when not even kubernetes.default resolves, the DNS server knows no
// Service at all, and this one's NXDOMAIN says nothing about it.
fn dns_knows_no_service(f: &Facts) -> bool {
    f.fqdn == Name::NotFound && f.kubernetes_default.failed() && f.service_in_objects != Some(false)
}

fn dns_knows_no_service_says(_: &Facts) -> Said {
    let on = [DnsFqdn, DnsKubernetesDefault];
    Said {
        claim: line("the DNS server answers, but not even kubernetes.default resolves: cluster DNS is broken, not this Service", &on),
        steps: vec![
            line("check the DNS pods' logs (can they reach the API server?): kubectl logs -n kube-system -l k8s-app=kube-dns", &on),
            line("check the DNS server's configuration (the kubernetes plugin and its cluster domain)", &on),
        ],
    }
}

fn service_not_found_says(f: &Facts) -> Said {
    let svc = f.svc();
    let claim = match (f.fqdn, f.service_in_objects) {
        (Name::NotFound, Some(true)) => line(
            format!("DNS has no record of Service {svc} (its fully qualified name is NXDOMAIN), though the cluster objects show it: is the DNS server watching the API?"),
            &[DnsFqdn, ServiceDefinition],
        ),
        (Name::NotFound, Some(false)) => line(
            format!("Service {svc} does not exist: the cluster objects hold no such Service and its fully qualified name is NXDOMAIN"),
            &[DnsFqdn, ServiceDefinition],
        ),
        (_, Some(false)) => line(
            format!("Service {svc} does not exist: the cluster objects hold no such Service"),
            &[ServiceDefinition],
        ),
        _ => line(
            format!("Service {svc} does not exist: its fully qualified name is NXDOMAIN"),
            &[DnsFqdn],
        ),
    };
    let on = claim.rests_on.clone();
    Said {
        claim,
        steps: vec![
            line(format!("kubectl get service {} -n {}", f.service, f.namespace), &on),
            line("check the name and the namespace (a Service in another namespace needs name.namespace)", &on),
        ],
    }
}

fn dns_config_says(f: &Facts) -> Said {
    let (which, on) = if f.namespaced.failed() {
        ("the namespaced name", [DnsFqdn, DnsNamespaced])
    } else {
        ("the short name", [DnsFqdn, DnsShort])
    };
    Said {
        claim: line(format!("the fully qualified name resolves but {which} does not: the pod's search list or ndots is wrong"), &on),
        steps: vec![
            line("run svcprobe resolvconf and fix what it reports (search <ns>.svc.<domain> svc.<domain> <domain>, ndots:5)", &on),
            line("check the pod's dnsPolicy and dnsConfig", &on),
        ],
    }
}

fn dns_fails_on_name_says(_: &Facts) -> Said {
    let on = [DnsFqdn];
    Said {
        claim: line("the DNS server answers some queries but failed on this Service's name (timeout or SERVFAIL)", &on),
        steps: vec![line("check the DNS pods' logs: kubectl logs -n kube-system -l k8s-app=kube-dns", &on)],
    }
}

fn no_ready_endpoints_says(f: &Facts) -> Said {
    let on = [Endpoints];
    Said {
        claim: line(format!("Service {} has no ready endpoints", f.svc()), &on),
        steps: vec![
            line(format!("check that the Service's selector matches the pods' labels: kubectl get pods -n {} --show-labels", f.namespace), &on),
            line(format!("check that the pods are Running and Ready (readiness probes): kubectl get pods -n {} -o wide", f.namespace), &on),
        ],
    }
}

fn cluster_ip_rejected_says(f: &Facts) -> Said {
    let on = [ClusterIp];
    Said {
        claim: line(
            format!(
                "connections to the ClusterIP are rejected by {} (ICMP unreachable) and none succeeds: kube-proxy's REJECT for a Service without endpoints",
                f.vip().rejected_by.join(", ")
            ),
            &on,
        ),
        steps: vec![
            line(format!("kubectl get endpointslices -n {} -l kubernetes.io/service-name={}", f.namespace, f.service), &on),
            line("check the selector and the pods' readiness", &on),
        ],
    }
}

fn undeclared_port_refused(f: &Facts) -> bool {
    f.target_port_undeclared.is_some()
        && (f.every_endpoint_refuses() || (f.vip().none_ok() && f.vip().refused > 0))
}

fn undeclared_port_refused_says(f: &Facts) -> Said {
    let port = f.target_port_undeclared.as_deref().unwrap_or_default();
    let (how, on) = if f.every_endpoint_refuses() {
        (
            "every endpoint refuses it directly",
            [ServiceDefinition, EndpointsDirect],
        )
    } else {
        (
            "connections to the ClusterIP are refused",
            [ServiceDefinition, ClusterIp],
        )
    };
    Said {
        claim: line(format!("the Service's targetPort {port} is not a port the pods declare, and {how}"), &on),
        steps: vec![
            line(format!("compare the Service's targetPort with the pods' containerPort: kubectl get service,pods -n {} -o yaml", f.namespace), &on),
            line("check the port the application actually listens on", &on),
        ],
    }
}

fn target_port_refused(f: &Facts) -> bool {
    let vip = f.vip();
    f.every_endpoint_refuses()
        || (f.direct.is_none() && vip.none_ok() && vip.refused == vip.attempts)
}

fn target_port_refused_says(f: &Facts) -> Said {
    let claim = if f.every_endpoint_refuses() {
        line("every endpoint refuses connections on the target port directly: the Service's targetPort does not match the port the application listens on (or the application listens on localhost only)", &[EndpointsDirect])
    } else {
        let vip = f.vip();
        line(format!("all {} connections to the ClusterIP were refused: the backends do not listen on the target port (a targetPort that does not match the application's port, or an application that listens on localhost only)", vip.attempts), &[ClusterIp])
    };
    let on = claim.rests_on.clone();
    Said {
        claim,
        steps: vec![line("compare the Service's targetPort with the container's port and the port the process listens on", &on)],
    }
}

fn endpoints_down_says(f: &Facts) -> Said {
    let down: Vec<String> = f
        .direct()
        .iter()
        .filter(|d| d.tally.ok == 0)
        .map(|d| match &d.pod {
            Some(pod) => format!("{pod} ({})", d.address),
            None => d.address.clone(),
        })
        .collect();
    let on = [EndpointsDirect];
    Said {
        claim: line(
            format!(
                "{} endpoints do not answer: {}",
                of(down.len(), f.direct().len()),
                down.join(", ")
            ),
            &on,
        ),
        steps: vec![
            line(
                format!(
                    "kubectl describe pod -n {} on each one; check its logs and readiness probe",
                    f.namespace
                ),
                &on,
            ),
            line(
                "a pod that is Ready but does not answer has a broken readiness probe",
                &on,
            ),
        ],
    }
}

fn cluster_ip_partly_refused_says(f: &Facts) -> Said {
    let vip = f.vip();
    let on = [ClusterIp];
    Said {
        claim: line(
            format!(
                "{} connections to the ClusterIP were refused: some backends are down",
                of(vip.refused, vip.attempts)
            ),
            &on,
        ),
        steps: vec![line(
            format!(
                "kubectl get pods -n {} -o wide; kubectl logs on each backend",
                f.namespace
            ),
            &on,
        )],
    }
}

fn traffic_dropped(f: &Facts) -> bool {
    let vip = f.vip();
    let silent = vip.attempts > 0 && vip.timeout == vip.attempts;
    silent
        && match &f.direct {
            None => true,
            Some(direct) => f.direct_failing(|t| t.timeout > 0) == direct.len(),
        }
}

fn traffic_dropped_says(f: &Facts) -> Said {
    let claim = if f.direct.is_some() {
        line("connections time out both to the ClusterIP and to the endpoints directly: packets are silently dropped (a NetworkPolicy or a firewall)", &[ClusterIp, EndpointsDirect])
    } else {
        line("every connection to the ClusterIP timed out: packets are silently dropped (a NetworkPolicy or a firewall, or no kube-proxy rule for the Service)", &[ClusterIp])
    };
    let on = claim.rests_on.clone();
    Said {
        claim,
        steps: vec![
            line(format!("kubectl get networkpolicy -n {}: does one select the backends without allowing this pod?", f.namespace), &on),
            line("check node firewalls and security groups between nodes", &on),
        ],
    }
}

fn hairpin_says(f: &Facts) -> Said {
    let on = [Hairpin];
    let nodes: Vec<String> = f.self_node.iter().cloned().collect();
    let mut steps = node_steps(f, &nodes, &on);
    steps.extend([
        line("on the node: check the bridge port's hairpin_mode (kubelet --hairpin-mode) and the KUBE-MARK-MASQ rules for the pod's KUBE-SEP chain", &on),
        line("kube-proxy --masquerade-all also works around it", &on),
    ]);
    Said {
        claim: line(
            "this pod is an endpoint of the Service and cannot reach itself through the Service IP",
            &on,
        ),
        steps,
    }
}

/// `svcprobe node` on `node` by hand: a netadmin node debug pod, as root (`--custom`), since
/// the image's user (65534) holds none of netadmin's capabilities effective.
pub fn node_debug_command(node: &str, service: &str, namespace: &str) -> String {
    format!(
        "kubectl debug node/{node} -it --image=<svcprobe image> --profile=netadmin --custom <(echo '{{\"securityContext\":{{\"runAsUser\":0,\"runAsNonRoot\":false}}}}') -- /svcprobe node {service} -n {namespace}"
    )
}

/// Nodes named in next steps at most: a Service spread over many nodes gets a few.
const MAX_NODE_STEPS: usize = 3;

/// `svcprobe node` on each of `nodes` (from a node debug pod), or on the node to find with
/// kubectl when the EndpointSlices did not name one.
fn node_steps(f: &Facts, nodes: &[String], on: &[CheckId]) -> Vec<Line> {
    let command = |node: &str| node_debug_command(node, &f.service, &f.namespace);
    if nodes.is_empty() {
        return vec![line(
            format!(
                "{} (the node: kubectl get endpointslices -n {} -l kubernetes.io/service-name={} -o wide)",
                command("<node>"),
                f.namespace,
                f.service
            ),
            on,
        )];
    }
    nodes
        .iter()
        .take(MAX_NODE_STEPS)
        .map(|node| line(command(node), on))
        .collect()
}

fn cluster_ip_fails_says(f: &Facts) -> Said {
    let vip = f.vip();
    let on = [EndpointsDirect, ClusterIp];
    Said {
        claim: line(
            format!(
                "every endpoint answers directly but {} connections to the ClusterIP succeed: kube-proxy or the node's bridge is at fault",
                if vip.ok == 0 { of(0, vip.attempts) } else { format!("only {}", of(vip.ok, vip.attempts)) }
            ),
            &on,
        ),
        steps: node_steps(f, &f.endpoint_nodes, &on)
            .into_iter()
            .chain([
                line(format!("on the node: iptables-save | grep {}/{} (KUBE-SVC / KUBE-SEP chains); check kube-proxy's logs", f.namespace, f.service), &on),
                line("check net.bridge.bridge-nf-call-iptables=1 and that br_netfilter is loaded", &on),
            ])
            .collect(),
    }
}

fn healthy_says(f: &Facts) -> Said {
    let svc = f.svc();
    let claim = if f.fqdn == Name::Resolved {
        line(
            format!("Service {svc} resolves and every connection answered"),
            &[DnsFqdn, ClusterIp],
        )
    } else {
        line(
            format!("every connection to Service {svc} answered"),
            &[ClusterIp],
        )
    };
    Said {
        claim,
        steps: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::dns_rules::{Burst, Replies, Server, Upstream};
    use crate::report::{DnsReply, DnsRole, LookupStatus};

    fn replies(udp: DnsReply, tcp: DnsReply) -> Replies {
        Replies { udp, tcp }
    }

    fn server(address: &str, role: DnsRole, replies: Replies) -> Server {
        Server {
            address: address.into(),
            role,
            replies,
        }
    }

    /// DNS fails; the DNS Service's checks ran and saw the nameserver answer `ns`.
    fn dns_examined(f: &mut Facts, role: DnsRole, ns: Replies) {
        f.dns_answers = ns.answers();
        f.dns_refused = ns.refuses();
        if !ns.answers() {
            f.kubernetes_default = Name::Failed;
            f.short = Name::Failed;
            f.namespaced = Name::Failed;
            f.fqdn = Name::Failed;
        }
        f.cluster_dns = ClusterDns {
            examined: true,
            nameserver: Some(server("10.0.0.10:53", role, ns)),
            ..ClusterDns::default()
        };
    }

    fn dns_endpoint(f: &mut Facts, replies: Replies) {
        f.cluster_dns.ready_endpoints = Some(1);
        f.cluster_dns.endpoints = vec![server("10.244.0.2:53", DnsRole::Endpoint, replies)];
    }

    const TIMEOUT: DnsReply = DnsReply::Timeout;
    const REFUSED: DnsReply = DnsReply::Refused;
    const ANSWERED: DnsReply = DnsReply::Answered;

    fn burst(queries: u32, lost: u32) -> Option<Burst> {
        Some(Burst {
            queries,
            lost,
            parallel_loss_pct: 0,
            reopen_loss_pct: 0,
            race: false,
        })
    }

    fn ok(n: usize) -> Tally {
        Tally {
            attempts: n,
            ok: n,
            ..Tally::default()
        }
    }

    fn each(n: usize, outcome: fn(&mut Tally)) -> Tally {
        let mut t = Tally {
            attempts: n,
            ..Tally::default()
        };
        outcome(&mut t);
        t
    }

    fn healthy() -> Facts {
        Facts {
            service: "hostnames".into(),
            namespace: "default".into(),
            dns_answers: true,
            dns_refused: false,
            kubernetes_default: Name::Resolved,
            short: Name::Resolved,
            namespaced: Name::Resolved,
            fqdn: Name::Resolved,
            service_in_objects: Some(true),
            target_port_undeclared: None,
            ready_endpoints: Some(3),
            cluster_ip: Some(ok(20)),
            direct: Some(
                (5..8)
                    .map(|i| Direct {
                        address: format!("10.244.0.{i}:9376"),
                        pod: None,
                        tally: ok(1),
                    })
                    .collect(),
            ),
            direct_not_probed: 0,
            hairpin_ok: None,
            endpoint_nodes: vec!["node-a".into(), "node-b".into()],
            self_node: None,
            skipped: BTreeMap::new(),
            cluster_dns: ClusterDns::default(),
        }
    }

    fn set_direct(f: &mut Facts, tally: Tally) {
        for d in f.direct.iter_mut().flatten() {
            d.tally = tally.clone();
        }
    }

    type Change = fn(&mut Facts);

    /// One situation per row of the table (and a few more), each with the cause it gets
    /// when every check runs.
    const SITUATIONS: &[(Cause, Change)] = &[
        (Cause::Healthy, |_| {}),
        (Cause::DnsUnreachable, |f| f.dns_answers = false),
        (Cause::ServiceNotFound, |f| f.fqdn = Name::NotFound),
        (Cause::DnsUnreachable, |f| {
            f.fqdn = Name::NotFound;
            f.kubernetes_default = Name::NotFound;
        }),
        (Cause::ServiceNotFound, |f| {
            f.service_in_objects = Some(false)
        }),
        (Cause::ServiceNotFound, |f| {
            f.service_in_objects = Some(false);
            f.fqdn = Name::NotFound;
        }),
        (Cause::DnsConfig, |f| f.short = Name::NotFound),
        (Cause::DnsConfig, |f| f.namespaced = Name::NotFound),
        (Cause::DnsUnreachable, |f| f.fqdn = Name::Failed),
        (Cause::NoEndpoints, |f| f.ready_endpoints = Some(0)),
        (Cause::NoEndpoints, |f| {
            skip(f, Endpoints);
            skip(f, EndpointsDirect);
            f.cluster_ip = Some(each(20, |t| {
                t.rejected = 20;
                t.rejected_by = vec!["10.244.0.1".into()];
            }));
        }),
        (Cause::TargetPortMismatch, |f| {
            f.target_port_undeclared = Some("9377".into());
            f.cluster_ip = Some(each(20, |t| t.refused = 20));
            set_direct(f, each(1, |t| t.refused = 1));
        }),
        (Cause::TargetPortMismatch, |f| {
            f.cluster_ip = Some(each(20, |t| t.refused = 20));
            set_direct(f, each(1, |t| t.refused = 1));
        }),
        (Cause::BackendDown, |f| {
            if let Some(d) = f.direct.as_mut().and_then(|d| d.first_mut()) {
                d.tally = each(1, |t| t.refused = 1);
            }
            f.cluster_ip = Some(each(20, |t| {
                t.ok = 13;
                t.refused = 7;
            }));
        }),
        (Cause::BackendDown, |f| {
            skip(f, EndpointsDirect);
            f.cluster_ip = Some(each(20, |t| {
                t.ok = 13;
                t.refused = 7;
            }));
        }),
        (Cause::TrafficBlocked, |f| {
            f.cluster_ip = Some(each(20, |t| t.timeout = 20));
            set_direct(f, each(1, |t| t.timeout = 1));
        }),
        (Cause::Proxy, |f| {
            f.dns_answers = false;
            f.cluster_ip = Some(each(20, |t| t.timeout = 20));
        }),
        (Cause::DnsUnreachable, |f| {
            f.dns_answers = false;
            skip(f, ClusterIp);
            skip(f, EndpointsDirect);
        }),
        (Cause::Proxy, |f| {
            f.cluster_ip = Some(each(20, |t| t.timeout = 20))
        }),
        (Cause::Hairpin, |f| f.hairpin_ok = Some(false)),
        (Cause::Unknown, |f| {
            skip(f, EndpointsDirect);
            f.cluster_ip = Some(each(20, |t| t.other = 20));
        }),
        (Cause::DnsPodsDown, |f| {
            dns_examined(f, DnsRole::Nameserver, replies(REFUSED, REFUSED))
        }),
        (Cause::DnsPodsDown, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(TIMEOUT, TIMEOUT));
            dns_endpoint(f, replies(TIMEOUT, TIMEOUT));
            f.cluster_dns.ready_endpoints = Some(0);
        }),
        (Cause::DnsPodsDown, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(REFUSED, REFUSED));
            dns_endpoint(f, replies(REFUSED, REFUSED));
        }),
        (Cause::DnsServiceBroken, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(TIMEOUT, TIMEOUT));
            dns_endpoint(f, replies(ANSWERED, ANSWERED));
        }),
        (Cause::NodelocalDnsDown, |f| {
            dns_examined(f, DnsRole::NodeLocal, replies(REFUSED, REFUSED));
            f.cluster_dns.cluster_ip = Some(server(
                "10.0.0.10:53",
                DnsRole::ClusterIp,
                replies(ANSWERED, ANSWERED),
            ));
        }),
        (Cause::DnsBlocked, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(TIMEOUT, TIMEOUT));
            dns_endpoint(f, replies(TIMEOUT, TIMEOUT));
        }),
        (Cause::DnsUdpOnlyBroken, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(TIMEOUT, ANSWERED));
            f.dns_answers = false;
            f.cluster_dns.burst = burst(32, 32);
        }),
        (Cause::DnsTcpOnlyBroken, |f| {
            // a pod with `options use-vc`: its lookups go over TCP
            dns_examined(f, DnsRole::ClusterIp, replies(ANSWERED, TIMEOUT));
            f.dns_answers = false;
            f.fqdn = Name::Failed;
        }),
        (Cause::DnsIntermittent, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(TIMEOUT, ANSWERED));
            f.cluster_dns.burst = burst(64, 12);
        }),
        (Cause::DnsUnreachable, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(TIMEOUT, TIMEOUT))
        }),
    ];

    /// `svcprobe dns`: the DNS Service's rules alone; every cause from them has a situation.
    const DNS_SITUATIONS: &[(Cause, Change)] = &[
        (Cause::Healthy, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(ANSWERED, ANSWERED))
        }),
        (Cause::DnsUpstream, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(ANSWERED, ANSWERED));
            f.cluster_dns.upstream = Some(Upstream {
                name: "example.com.".into(),
                status: LookupStatus::ServFail,
            });
        }),
        (Cause::DnsTcpOnlyBroken, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(ANSWERED, TIMEOUT))
        }),
        (Cause::DnsUnreachable, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(TIMEOUT, TIMEOUT))
        }),
        (Cause::DnsIntermittent, |f| {
            dns_examined(f, DnsRole::ClusterIp, replies(ANSWERED, ANSWERED));
            f.cluster_dns.burst = burst(32, 4);
        }),
    ];

    #[test]
    fn the_dns_command_reads_the_dns_rules_alone() {
        for (cause, change) in DNS_SITUATIONS {
            let mut facts = healthy();
            change(&mut facts);
            facts.cluster_dns.whole_cluster = true;
            let only = Facts::dns_only(
                facts.namespace.clone(),
                facts.cluster_dns.clone(),
                BTreeMap::new(),
            );
            let v = decide_dns(&only);
            assert_eq!(v.cause, *cause, "{}", v.summary);
        }
        for (i, rule) in DNS_RULES.iter().enumerate() {
            let reached = SITUATIONS.iter().chain(DNS_SITUATIONS).any(|(_, change)| {
                let mut facts = healthy();
                change(&mut facts);
                facts.cluster_dns.whole_cluster = true;
                let only = Facts::dns_only(String::new(), facts.cluster_dns, BTreeMap::new());
                DNS_RULES.iter().position(|r| (r.when)(&only)) == Some(i)
            });
            assert!(
                reached,
                "no situation reaches DNS rule {i} ({})",
                rule.cause
            );
        }
        // In diagnose, a broken TCP or upstream alone is not the Service's cause.
        for (_, change) in &DNS_SITUATIONS[..3] {
            let mut facts = healthy();
            change(&mut facts);
            facts.dns_answers = true;
            facts.fqdn = Name::Resolved;
            facts.kubernetes_default = Name::Resolved;
            assert_eq!(decide(&facts).cause, Cause::Healthy);
        }
    }

    /// With nothing but a silent nameserver, the verdict says why it cannot narrow it down.
    #[test]
    fn dns_unreachable_says_what_would_tell_the_causes_apart() {
        let mut facts = healthy();
        dns_examined(&mut facts, DnsRole::ClusterIp, replies(TIMEOUT, TIMEOUT));
        let v = decide(&facts);
        assert_eq!(v.cause, Cause::DnsUnreachable);
        assert!(v.summary.contains("--dns-endpoints"), "{}", v.summary);
        assert!(
            v.next_steps[0].contains("--dns-endpoints"),
            "{:?}",
            v.next_steps
        );
    }

    /// The checks whose facts a skip empties, and the phrases a summary may use only when
    /// that check ran.
    const SKIPPABLE: &[(CheckId, &[&str])] = &[
        (DnsKubernetesDefault, &["kubernetes.default"]),
        (DnsShort, &["short name"]),
        (DnsNamespaced, &["namespaced name"]),
        (DnsFqdn, &["resolves", "NXDOMAIN", "DNS has no record"]),
        (
            ServiceDefinition,
            &["objects", "not a port the pods declare"],
        ),
        (Endpoints, &["ready endpoints"]),
        (ClusterIp, &["ClusterIP"]),
        (EndpointsDirect, &["directly", "endpoints do not answer"]),
        (Hairpin, &["reach itself"]),
    ];

    fn skip(f: &mut Facts, id: CheckId) {
        match id {
            DnsKubernetesDefault => f.kubernetes_default = Name::Unchecked,
            DnsShort => f.short = Name::Unchecked,
            DnsNamespaced => f.namespaced = Name::Unchecked,
            DnsFqdn => f.fqdn = Name::Unchecked,
            ServiceDefinition => {
                f.service_in_objects = None;
                f.target_port_undeclared = None;
            }
            Endpoints => f.ready_endpoints = None,
            ClusterIp => f.cluster_ip = None,
            EndpointsDirect => f.direct = None,
            _ => f.hairpin_ok = None,
        }
        f.skipped.insert(id, format!("why {id} did not run"));
    }

    #[test]
    fn each_broken_layer_gets_its_cause() {
        for (cause, change) in SITUATIONS {
            let mut facts = healthy();
            change(&mut facts);
            let v = decide(&facts);
            assert_eq!(v.cause, *cause, "{}", v.summary);
            assert_eq!(v.next_steps.is_empty(), *cause == Cause::Healthy);
        }
        // dns-upstream is `svcprobe dns`'s alone (the_dns_command_reads_the_dns_rules_alone).
        for cause in Cause::ALL.iter().filter(|c| **c != Cause::DnsUpstream) {
            assert!(
                SITUATIONS.iter().any(|(c, _)| c == cause),
                "no situation gets {cause}"
            );
        }
        for (i, rule) in RULES.iter().enumerate() {
            let reached = SITUATIONS.iter().any(|(_, change)| {
                let mut facts = healthy();
                change(&mut facts);
                RULES.iter().position(|r| (r.when)(&facts)) == Some(i)
            });
            assert!(reached, "no situation reaches rule {i} ({})", rule.cause);
        }
    }

    /// Every situation under every combination of skipped checks: each sentence rests on
    /// checks that ran, each skipped check the rule reads is named, and a step that says
    /// how to run a check appears only when that check did not run.
    #[test]
    fn a_verdict_claims_only_what_ran_under_every_combination_of_skips() {
        for (situation, (cause, change)) in SITUATIONS.iter().enumerate() {
            for mask in 0u32..(1 << SKIPPABLE.len()) {
                let mut facts = healthy();
                change(&mut facts);
                let skipped: Vec<CheckId> = SKIPPABLE
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| mask & (1 << bit) != 0)
                    .map(|(_, (id, _))| *id)
                    .collect();
                for id in &skipped {
                    skip(&mut facts, *id);
                }
                let context = format!("situation {situation} ({cause}), skipped {skipped:?}");
                let explained = explain(&facts);
                let verdict = decide(&facts);
                assert_eq!(verdict.cause, explained.cause);
                for l in std::iter::once(&explained.claim).chain(&explained.steps) {
                    for id in &l.rests_on {
                        assert!(facts.ran(*id), "{context}: `{}` rests on {id}", l.text);
                    }
                    for id in &l.would_run {
                        assert!(!facts.ran(*id), "{context}: `{}` runs {id}", l.text);
                    }
                }
                let claim = &explained.claim.text;
                for (id, phrases) in SKIPPABLE.iter().filter(|(id, _)| skipped.contains(id)) {
                    for phrase in *phrases {
                        assert!(
                            !claim.contains(phrase),
                            "{context}: `{claim}` says {phrase}, though {id} did not run"
                        );
                    }
                }
                let rule = RULES.iter().find(|r| (r.when)(&facts)).unwrap_or(&UNKNOWN);
                for id in rule.reads {
                    let named = verdict.summary.contains(&format!("{id} (why {id}"));
                    assert_eq!(named, !facts.ran(*id), "{context}: {}", verdict.summary);
                }
                assert!(
                    verdict.cause == Cause::Healthy || !verdict.next_steps.is_empty(),
                    "{context}"
                );
            }
        }
    }

    /// Issue 9: traffic dropped to the backends, no objects: the verdict said connections
    /// "time out both to the ClusterIP and to the endpoints directly".
    #[test]
    fn dropped_traffic_without_endpoints_does_not_claim_them() {
        let mut facts = healthy();
        facts.cluster_ip = Some(each(20, |t| t.timeout = 20));
        for id in [ServiceDefinition, Endpoints, EndpointsDirect] {
            skip(&mut facts, id);
        }
        let v = decide(&facts);
        assert_eq!(v.cause, Cause::TrafficBlocked);
        assert!(!v.summary.contains("directly"), "{}", v.summary);
        assert!(
            v.summary.contains("not checked: endpoints-direct"),
            "{}",
            v.summary
        );
        assert!(
            v.next_steps.iter().any(|s| s.contains("--objects")),
            "{:?}",
            v.next_steps
        );
        // With the objects given, the way on is not "give --objects".
        facts.service_in_objects = Some(true);
        let v = decide(&facts);
        assert!(
            v.next_steps.iter().all(|s| !s.contains("--objects")),
            "{:?}",
            v.next_steps
        );
    }

    /// A proxy or hairpin verdict names `svcprobe node` for the nodes that matter.
    #[test]
    fn proxy_and_hairpin_name_the_node_command() {
        let mut facts = healthy();
        facts.cluster_ip = Some(each(20, |t| t.timeout = 20));
        let v = decide(&facts);
        assert_eq!(v.cause, Cause::Proxy);
        let cmd = r#"kubectl debug node/node-a -it --image=<svcprobe image> --profile=netadmin --custom <(echo '{"securityContext":{"runAsUser":0,"runAsNonRoot":false}}') -- /svcprobe node hostnames -n default"#;
        assert_eq!(v.next_steps[0], cmd, "{v:?}");
        assert!(v.next_steps[1].contains("node/node-b"), "{v:?}");
        facts.cluster_ip = Some(ok(20));
        facts.hairpin_ok = Some(false);
        facts.self_node = Some("node-b".into());
        let v = decide(&facts);
        assert_eq!(v.cause, Cause::Hairpin);
        assert!(
            v.next_steps[0].starts_with("kubectl debug node/node-b "),
            "{v:?}"
        );
        facts.self_node = None;
        let v = decide(&facts);
        assert!(
            v.next_steps[0].starts_with("kubectl debug node/<node> "),
            "{v:?}"
        );
        assert!(v.next_steps[0].contains("kubectl get endpointslices -n default -l kubernetes.io/service-name=hostnames -o wide"), "{v:?}");
    }

    /// Endpoints the deadline left unprobed: "every endpoint answers directly" holds only
    /// for the probed ones, and the summary says how many that was.
    #[test]
    fn endpoints_left_unprobed_are_counted_in_the_claim() {
        let mut facts = healthy();
        facts.cluster_ip = Some(each(20, |t| t.timeout = 20));
        facts.direct_not_probed = 5;
        let v = decide(&facts);
        assert_eq!(v.cause, Cause::Proxy);
        assert!(
            v.summary
                .contains("covers 3 of 8 endpoints (5 not probed before the deadline)"),
            "{}",
            v.summary
        );
        facts.direct_not_probed = 0;
        assert!(!decide(&facts).summary.contains("not probed"));
    }
}
