//! From what the checks saw to one cause: the layer that is broken, why we think so, and
//! what to do next. Pure, so every rule is table-tested.
//!
//! The rules follow the guide's order: a layer is blamed only when the layers below it
//! (DNS before Service definition before endpoints before kube-proxy) look sound, so that
//! the verdict names the first thing to fix, not a symptom of it.

use crate::report::{Cause, Verdict};

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

/// One endpoint's direct probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Direct {
    pub address: String,
    pub pod: Option<String>,
    pub tally: Tally,
}

/// Everything the verdict rules look at.
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
    /// From objects: `Some(false)` when the objects were given and lack the Service.
    pub service_in_objects: Option<bool>,
    /// From objects: the Service's targetPort is not a port the selected pods declare.
    pub target_port_undeclared: Option<String>,
    /// From objects or `--endpoints`: the number of ready endpoint addresses.
    pub ready_endpoints: Option<usize>,
    pub cluster_ip: Option<Tally>,
    pub direct: Vec<Direct>,
    /// `Some(false)` when this pod is an endpoint and cannot reach itself via the VIP.
    pub hairpin_ok: Option<bool>,
}

/// The verdict for `facts`.
pub fn decide(facts: &Facts) -> Verdict {
    let svc = format!("{}.{}", facts.service, facts.namespace);
    let vip = facts.cluster_ip.clone().unwrap_or_default();
    let direct_ok = facts.direct.iter().filter(|d| d.tally.ok > 0).count();
    let every_endpoint_answers = !facts.direct.is_empty() && direct_ok == facts.direct.len();
    // Self-connections may still work through the VIP (they never leave the node's
    // bridge port), so "not every sample answered" is the signal, not "none did".
    if !facts.dns_answers && every_endpoint_answers && vip.attempts > 0 && !vip.all_ok() {
        return verdict(
            Cause::Proxy,
            "the Service IPs fail (the DNS server's, and this Service's for at least some connections), yet every endpoint answers directly: kube-proxy or the node's bridge is at fault".into(),
            &[
                "on the node: is kube-proxy running? iptables-save | grep KUBE-SERVICES; check its logs",
                "check net.bridge.bridge-nf-call-iptables=1 and that br_netfilter is loaded",
            ],
        );
    }
    if !facts.dns_answers {
        let how = if facts.dns_refused {
            "refused (ICMP port unreachable: nothing listens on port 53)"
        } else {
            "silently dropped"
        };
        return verdict(
            Cause::DnsUnreachable,
            format!("no DNS server answered: queries were {how}"),
            &[
                "check that the DNS pods run: kubectl get pods -n kube-system -l k8s-app=kube-dns",
                "check that the kube-dns Service has endpoints: kubectl get endpointslices -n kube-system -l kubernetes.io/service-name=kube-dns",
                "look for a NetworkPolicy or firewall dropping UDP/TCP 53 from this namespace",
            ],
        );
    }
    // The guide's control: when not even kubernetes.default resolves, the DNS server knows
    // no Service at all, and this one's NXDOMAIN says nothing about it.
    if facts.fqdn == Name::NotFound
        && facts.kubernetes_default != Name::Resolved
        && facts.service_in_objects != Some(false)
    {
        return verdict(
            Cause::DnsUnreachable,
            "the DNS server answers, but not even kubernetes.default resolves: cluster DNS is broken, not this Service".into(),
            &[
                "check the DNS pods' logs (can they reach the API server?): kubectl logs -n kube-system -l k8s-app=kube-dns",
                "check the DNS server's configuration (the kubernetes plugin and its cluster domain)",
            ],
        );
    }
    if facts.fqdn == Name::NotFound || facts.service_in_objects == Some(false) {
        let evidence = match (facts.fqdn, facts.service_in_objects) {
            (Name::NotFound, Some(true)) => "the objects show the Service, but DNS has no record of it (is the DNS server watching the API?)",
            (_, Some(false)) => "the cluster objects (from the API server or --objects) hold no such Service",
            _ => "its fully qualified name is NXDOMAIN",
        };
        return verdict(
            Cause::ServiceNotFound,
            format!("Service {svc} does not exist: {evidence}"),
            &[
                &format!("kubectl get service {} -n {}", facts.service, facts.namespace),
                "check the name and the namespace (a Service in another namespace needs name.namespace)",
            ],
        );
    }
    if facts.fqdn == Name::Resolved
        && (facts.short == Name::NotFound
            || facts.short == Name::Failed
            || facts.namespaced != Name::Resolved)
    {
        let which = if facts.namespaced != Name::Resolved {
            "the namespaced name"
        } else {
            "the short name"
        };
        return verdict(
            Cause::DnsConfig,
            format!("the fully qualified name resolves but {which} does not: the pod's search list or ndots is wrong"),
            &[
                "run svcprobe resolvconf and fix what it reports (search <ns>.svc.<domain> svc.<domain> <domain>, ndots:5)",
                "check the pod's dnsPolicy and dnsConfig",
            ],
        );
    }
    if facts.fqdn == Name::Failed {
        return verdict(
            Cause::DnsUnreachable,
            "the DNS server answers some queries but failed on this Service's name (timeout or SERVFAIL)".into(),
            &["check the DNS pods' logs: kubectl logs -n kube-system -l k8s-app=kube-dns"],
        );
    }
    if facts.ready_endpoints == Some(0) {
        return verdict(
            Cause::NoEndpoints,
            format!("Service {svc} has no ready endpoints"),
            &[
                "check that the Service's selector matches the pods' labels: kubectl get pods --show-labels",
                "check that the pods are Running and Ready (readiness probes): kubectl get pods -o wide",
            ],
        );
    }
    // One ICMP reject with no success is proof enough: the kernel rate-limits ICMP errors,
    // so the other attempts of a burst often just time out.
    if vip.rejected > 0 && vip.ok == 0 {
        return verdict(
            Cause::NoEndpoints,
            format!(
                "connections to the ClusterIP are rejected by {} (ICMP unreachable) and none succeeds: kube-proxy's REJECT for a Service without endpoints",
                vip.rejected_by.join(", ")
            ),
            &[&format!("kubectl get endpointslices -n {} -l kubernetes.io/service-name={}", facts.namespace, facts.service), "check the selector and the pods' readiness"],
        );
    }
    let direct_refused = facts
        .direct
        .iter()
        .filter(|d| d.tally.ok == 0 && d.tally.refused > 0)
        .count();
    let direct_timeout = facts
        .direct
        .iter()
        .filter(|d| d.tally.ok == 0 && d.tally.timeout > 0)
        .count();
    let all_direct_refused = !facts.direct.is_empty() && direct_refused == facts.direct.len();
    if let Some(port) = &facts.target_port_undeclared {
        if all_direct_refused || (vip.none_ok() && vip.refused > 0) {
            return verdict(
                Cause::TargetPortMismatch,
                format!("the Service's targetPort {port} is not a port the pods declare, and connections to it are refused"),
                &["compare the Service's targetPort with the pods' containerPort: kubectl get service,pods -o yaml", "check the port the application actually listens on"],
            );
        }
    }
    if all_direct_refused
        || (facts.direct.is_empty() && vip.none_ok() && vip.refused == vip.attempts)
    {
        return verdict(
            Cause::TargetPortMismatch,
            "every backend refuses connections on the target port: the Service's targetPort does not match the port the application listens on (or the application listens on localhost only)".into(),
            &["compare the Service's targetPort with the container's port and the port the process listens on"],
        );
    }
    if direct_refused > 0 || (direct_timeout > 0 && direct_ok > 0) {
        let down: Vec<String> = facts
            .direct
            .iter()
            .filter(|d| d.tally.ok == 0)
            .map(|d| {
                d.pod
                    .clone()
                    .map(|p| format!("{p} ({})", d.address))
                    .unwrap_or_else(|| d.address.clone())
            })
            .collect();
        return verdict(
            Cause::BackendDown,
            format!(
                "{} of {} endpoints do not answer: {}",
                down.len(),
                facts.direct.len(),
                down.join(", ")
            ),
            &[
                "kubectl describe pod on each one; check its logs and readiness probe",
                "a pod that is Ready but does not answer has a broken readiness probe",
            ],
        );
    }
    if facts.direct.is_empty() && vip.ok > 0 && vip.refused > 0 {
        return verdict(
            Cause::BackendDown,
            format!(
                "{} of {} connections to the ClusterIP were refused: some backends are down",
                vip.refused, vip.attempts
            ),
            &[
                "supply the endpoints (--objects or --endpoints) to name them",
                "kubectl get pods -o wide; kubectl logs on each backend",
            ],
        );
    }
    let everything_silent = vip.attempts > 0 && vip.timeout == vip.attempts;
    if everything_silent && (facts.direct.is_empty() || direct_timeout == facts.direct.len()) {
        return verdict(
            Cause::TrafficBlocked,
            "connections time out both to the ClusterIP and to the endpoints directly: packets are silently dropped (a NetworkPolicy or a firewall)".into(),
            &["kubectl get networkpolicy -n <backend namespace>: does one select the backends without allowing this pod?", "check node firewalls and security groups between nodes"],
        );
    }
    if facts.hairpin_ok == Some(false) {
        return verdict(
            Cause::Hairpin,
            "this pod is an endpoint of the Service and cannot reach itself through the Service IP".into(),
            &["on the node: check the bridge port's hairpin_mode (kubelet --hairpin-mode) and the KUBE-MARK-MASQ rules for the pod's KUBE-SEP chain", "kube-proxy --masquerade-all also works around it"],
        );
    }
    if every_endpoint_answers && vip.attempts > 0 && !vip.all_ok() {
        return verdict(
            Cause::Proxy,
            format!("every endpoint answers directly but only {} of {} connections to the ClusterIP succeed: kube-proxy or the node's bridge is at fault", vip.ok, vip.attempts),
            &[
                "on the node: iptables-save | grep KUBE-SVC / KUBE-SEP for this Service; check kube-proxy's logs",
                "check net.bridge.bridge-nf-call-iptables=1 and that br_netfilter is loaded",
            ],
        );
    }
    if vip.all_ok()
        && (facts.direct.is_empty() || direct_ok == facts.direct.len())
        && facts.hairpin_ok != Some(false)
    {
        return verdict(
            Cause::Healthy,
            format!("Service {svc} resolves and every connection answered"),
            &[],
        );
    }
    verdict(
        Cause::Unknown,
        "the checks do not add up to a known cause; read the checklist".into(),
        &["supply --objects (kubectl get service,endpointslices,pods -o json) so more checks can run"],
    )
}

fn verdict(cause: Cause, summary: String, next_steps: &[&str]) -> Verdict {
    Verdict {
        cause,
        summary,
        next_steps: next_steps.iter().map(|s| s.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(n: usize) -> Tally {
        Tally {
            attempts: n,
            ok: n,
            ..Tally::default()
        }
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
            direct: (5..8)
                .map(|i| Direct {
                    address: format!("10.244.0.{i}:9376"),
                    pod: None,
                    tally: ok(1),
                })
                .collect(),
            hairpin_ok: None,
        }
    }

    #[test]
    fn each_broken_layer_gets_its_cause() {
        type Change = Box<dyn Fn(&mut Facts)>;
        let cases: Vec<(Cause, Change)> = vec![
            (Cause::Healthy, Box::new(|_| {})),
            (Cause::DnsUnreachable, Box::new(|f| f.dns_answers = false)),
            (
                Cause::ServiceNotFound,
                Box::new(|f| f.fqdn = Name::NotFound),
            ),
            (
                Cause::DnsUnreachable,
                Box::new(|f| {
                    f.fqdn = Name::NotFound;
                    f.kubernetes_default = Name::NotFound;
                }),
            ),
            (
                Cause::ServiceNotFound,
                Box::new(|f| f.service_in_objects = Some(false)),
            ),
            (Cause::DnsConfig, Box::new(|f| f.short = Name::NotFound)),
            (
                Cause::DnsConfig,
                Box::new(|f| f.namespaced = Name::NotFound),
            ),
            (
                Cause::NoEndpoints,
                Box::new(|f| f.ready_endpoints = Some(0)),
            ),
            (
                Cause::NoEndpoints,
                Box::new(|f| {
                    f.ready_endpoints = None;
                    f.direct.clear();
                    f.cluster_ip = Some(Tally {
                        attempts: 20,
                        rejected: 20,
                        rejected_by: vec!["10.244.0.1".into()],
                        ..Tally::default()
                    });
                }),
            ),
            (
                Cause::TargetPortMismatch,
                Box::new(|f| {
                    f.target_port_undeclared = Some("9377".into());
                    f.cluster_ip = Some(Tally {
                        attempts: 20,
                        refused: 20,
                        ..Tally::default()
                    });
                    for d in &mut f.direct {
                        d.tally = Tally {
                            attempts: 1,
                            refused: 1,
                            ..Tally::default()
                        }
                    }
                }),
            ),
            (
                Cause::BackendDown,
                Box::new(|f| {
                    f.direct[0].tally = Tally {
                        attempts: 1,
                        refused: 1,
                        ..Tally::default()
                    };
                    f.cluster_ip = Some(Tally {
                        attempts: 20,
                        ok: 13,
                        refused: 7,
                        ..Tally::default()
                    });
                }),
            ),
            (
                Cause::BackendDown,
                Box::new(|f| {
                    f.direct.clear();
                    f.cluster_ip = Some(Tally {
                        attempts: 20,
                        ok: 13,
                        refused: 7,
                        ..Tally::default()
                    });
                }),
            ),
            (
                Cause::TrafficBlocked,
                Box::new(|f| {
                    f.cluster_ip = Some(Tally {
                        attempts: 20,
                        timeout: 20,
                        ..Tally::default()
                    });
                    for d in &mut f.direct {
                        d.tally = Tally {
                            attempts: 1,
                            timeout: 1,
                            ..Tally::default()
                        }
                    }
                }),
            ),
            (
                Cause::Proxy,
                Box::new(|f| {
                    f.dns_answers = false;
                    f.cluster_ip = Some(Tally {
                        attempts: 20,
                        timeout: 20,
                        ..Tally::default()
                    });
                }),
            ),
            (
                Cause::DnsUnreachable,
                Box::new(|f| {
                    f.dns_answers = false;
                    f.cluster_ip = None;
                    f.direct.clear();
                }),
            ),
            (
                Cause::Proxy,
                Box::new(|f| {
                    f.cluster_ip = Some(Tally {
                        attempts: 20,
                        timeout: 20,
                        ..Tally::default()
                    })
                }),
            ),
            (Cause::Hairpin, Box::new(|f| f.hairpin_ok = Some(false))),
        ];
        for (cause, change) in cases {
            let mut facts = healthy();
            change(&mut facts);
            let v = decide(&facts);
            assert_eq!(v.cause, cause, "{}", v.summary);
            assert_eq!(v.next_steps.is_empty(), cause == Cause::Healthy);
        }
    }
}
