//! From what `node`'s checks saw to one cause. Pure, so every rule is table-tested.
//!
//! The rules run in order, from kube-proxy itself (is it there, does it sync) through the
//! Service's rules to the node's own plumbing, and the first that holds names the cause. A
//! rule holds only on facts a check established: a check that did not run leaves its fact
//! empty, no rule reads an empty fact as good or bad, and the summary of a verdict that
//! could have depended on one names it (`not checked: ID (why)`).

use std::collections::BTreeMap;

use crate::decimal::fixed;
use crate::report::{NodeCause, NodeCheckId, ProxyMode, Verdict};

/// `/healthz` (and `/livez`) as the health check saw them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthFact {
    /// Something answered HTTP on the health port.
    pub answered: bool,
    pub status: Option<u16>,
    pub node_eligible: Option<bool>,
    /// `currentTime - lastUpdated` of the body.
    pub age_s: Option<f64>,
    pub livez_status: Option<u16>,
}

/// `/metrics` as the sync check read it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncFact {
    /// Restore (iptables, ipvs) and sync (nftables) failures since kube-proxy started.
    pub failures: f64,
    /// A change was queued after the last successful sync.
    pub pending: bool,
    /// IP families whose queued change has waited past the health timeout.
    pub hung: Vec<String>,
    /// The sync timestamps were there at all.
    pub seen: bool,
}

/// The Service as the objects described it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceFact {
    pub exists: bool,
    pub cluster_ip: Option<String>,
    /// Ready endpoints as `ip:port`.
    pub ready: Vec<String>,
    /// The Service has the port asked for.
    pub port_known: bool,
}

/// What the node's rules hold for the Service, against its ready endpoints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RulesFact {
    /// A rule sends the ClusterIP and port to endpoints.
    pub service_rule: bool,
    /// A rule rejects or drops it as a Service without endpoints.
    pub rejects: bool,
    /// Ready endpoints the rules do not send to.
    pub missing: Vec<String>,
    /// Endpoints the rules send to that are not ready.
    pub extra: Vec<String>,
    /// Endpoints without the masquerade rule for traffic from the pod itself.
    pub masquerade_missing: Vec<String>,
}

/// Everything the rules look at; a check that did not run leaves its fact `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// kube-proxy processes found by the scan.
    pub kube_proxy_processes: Option<usize>,
    /// Other Service implementations found: their program and what to run instead.
    pub other_proxies: Vec<(String, &'static str)>,
    pub health: Option<HealthFact>,
    pub mode: Option<ProxyMode>,
    pub sync: Option<SyncFact>,
    pub ip_forward: Option<bool>,
    /// Some Linux bridge has ports.
    pub bridged: Option<bool>,
    pub bridge_nf_on: Option<bool>,
    /// Bridge ports (`bridge/port`) with `hairpin_mode` off.
    pub hairpin_off: Option<Vec<String>>,
    pub conntrack_full: Option<bool>,
    pub service: Option<ServiceFact>,
    pub rules: Option<RulesFact>,
    /// Connections to the ClusterIP from the node: attempts and how many connected.
    pub cluster_ip: Option<(usize, usize)>,
    /// Why each check that did not run was skipped.
    pub skipped: BTreeMap<NodeCheckId, String>,
}

struct Found {
    cause: NodeCause,
    summary: String,
    next_steps: Vec<String>,
    /// Checks whose absence could change this verdict.
    rests_on: &'static [NodeCheckId],
}

const LOGS: &str = "kubectl -n kube-system logs -l k8s-app=kube-proxy --tail=100 (or journalctl -u kube-proxy on the node)";

pub fn decide(f: &Facts) -> Verdict<NodeCause> {
    let found = [
        proxy_missing,
        unhealthy,
        stale,
        service_not_programmed,
        endpoints_mismatch,
        health_unexplained,
        conntrack_full,
        bridge_netfilter_off,
        hairpin_config,
        ip_forward_off,
        cluster_ip_fails,
    ]
    .iter()
    .find_map(|rule| rule(f))
    .unwrap_or_else(|| healthy(f));
    let mut summary = found.summary;
    let missing: Vec<String> = found
        .rests_on
        .iter()
        .filter_map(|id| f.skipped.get(id).map(|why| format!("{id} ({why})")))
        .collect();
    if !missing.is_empty() {
        summary.push_str("; not checked: ");
        summary.push_str(&missing.join(", "));
    }
    Verdict {
        cause: found.cause,
        summary,
        next_steps: found.next_steps,
    }
}

fn health_answered(f: &Facts) -> Option<bool> {
    f.health.as_ref().map(|h| h.answered)
}

/// No kube-proxy process and nothing on its health port: another proxy, or none at all.
fn proxy_missing(f: &Facts) -> Option<Found> {
    if f.kube_proxy_processes != Some(0) || health_answered(f) != Some(false) {
        return None;
    }
    if let Some((program, note)) = f.other_proxies.first() {
        return Some(Found {
            cause: NodeCause::OtherProxy,
            summary: format!(
                "no kube-proxy on this node and nothing on its health port; {program} runs: Services are implemented by it, so kube-proxy's rules and this command's rule checks do not apply"
            ),
            next_steps: vec![note.to_string()],
            rests_on: &[],
        });
    }
    Some(Found {
        cause: NodeCause::KubeProxyDown,
        summary: "no kube-proxy process on this node and nothing answers on its health port: nothing updates the Service rules".into(),
        next_steps: vec![
            "kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide --field-selector spec.nodeName=$(hostname) (or systemctl status kube-proxy)".into(),
            LOGS.into(),
        ],
        rests_on: &[],
    })
}

fn failing_syncs(f: &Facts) -> Option<f64> {
    f.sync.as_ref().map(|s| s.failures).filter(|n| *n > 0.0)
}

/// Health 503 (or a change waiting) while the failure counters count.
fn unhealthy(f: &Facts) -> Option<Found> {
    let failures = failing_syncs(f)?;
    let sync = f.sync.as_ref()?;
    let health_503 = f
        .health
        .as_ref()
        .is_some_and(|h| h.status == Some(503) && h.node_eligible != Some(false));
    if !health_503 && !sync.pending {
        return None;
    }
    let counter = match f.mode {
        Some(ProxyMode::Nftables) => "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
        _ => "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
    };
    Some(Found {
        cause: NodeCause::KubeProxyUnhealthy,
        summary: format!(
            "kube-proxy's rule syncs fail ({counter} is {}){}: the node's rules lag behind the cluster",
            fixed(failures, 0),
            if health_503 { " and /healthz answers 503" } else { " and a change is waiting" }
        ),
        next_steps: vec![
            format!("{LOGS}: look for `Failed to execute iptables-restore` or `nftables sync failed`"),
            "a rule another program holds (iptables -w lock, an nftables table of the same name) is the usual reason".into(),
        ],
        rests_on: &[],
    })
}

/// No failures, yet a change has waited past kube-proxy's health timeout: hung.
fn stale(f: &Facts) -> Option<Found> {
    let sync = f.sync.as_ref()?;
    if sync.hung.is_empty() || sync.failures > 0.0 {
        return None;
    }
    let health = match f.health.as_ref().and_then(|h| h.status) {
        Some(503) => " (/healthz answers 503)",
        _ => "",
    };
    Some(Found {
        cause: NodeCause::KubeProxyStale,
        summary: format!(
            "kube-proxy has not synced a change queued after its last successful sync, for longer than its health timeout, and no sync failed ({}){health}: it is hung, and the rules are stale",
            sync.hung.join(", ")
        ),
        next_steps: vec![
            LOGS.into(),
            "restart it: kubectl -n kube-system delete pod -l k8s-app=kube-proxy --field-selector spec.nodeName=$(hostname)".into(),
        ],
        rests_on: &[],
    })
}

/// The Service exists, and the node has no rule at all for its ClusterIP and port.
fn service_not_programmed(f: &Facts) -> Option<Found> {
    let rules = f.rules.as_ref()?;
    if rules.service_rule || rules.rejects || !f.service.as_ref()?.exists {
        return None;
    }
    Some(Found {
        cause: NodeCause::ServiceNotProgrammed,
        summary: format!(
            "the Service exists but the node's rules have nothing for {}: kube-proxy has not programmed it{}",
            f.service.as_ref()?.cluster_ip.as_deref().unwrap_or("its ClusterIP"),
            pending_note(f)
        ),
        next_steps: vec![
            format!("{LOGS}: look for the Service's name"),
            "restart kube-proxy to resync every rule".into(),
        ],
        rests_on: &[],
    })
}

/// The rules send the ClusterIP elsewhere than the ready endpoints.
fn endpoints_mismatch(f: &Facts) -> Option<Found> {
    let rules = f.rules.as_ref()?;
    let ready = f.service.as_ref()?.ready.len();
    let summary = if rules.rejects && ready > 0 {
        format!("the node rejects the ClusterIP as a Service without endpoints, yet the EndpointSlices list {ready} ready")
    } else if !rules.missing.is_empty() || !rules.extra.is_empty() {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        format!(
            "the node's rules send the ClusterIP to other endpoints than the ready ones: not in the rules: {}; in the rules but not ready: {}",
            list(&rules.missing),
            list(&rules.extra)
        )
    } else {
        return None;
    };
    Some(Found {
        cause: NodeCause::EndpointsMismatch,
        summary: format!("{summary}: kube-proxy missed a change{}", pending_note(f)),
        next_steps: vec![
            LOGS.into(),
            "restart kube-proxy to resync every rule".into(),
        ],
        rests_on: &[],
    })
}

/// Says when kube-proxy has a change queued that it has not synced yet (not for long).
fn pending_note(f: &Facts) -> &'static str {
    if f.sync.as_ref().is_some_and(|s| s.pending) {
        " (a change is queued and not synced yet: run this again in a few seconds)"
    } else {
        ""
    }
}

/// A 503 (node eligible) or a silent health port beside a running process, that the
/// metrics do not explain.
fn health_unexplained(f: &Facts) -> Option<Found> {
    let h = f.health.as_ref()?;
    if h.answered && (h.status != Some(503) || h.node_eligible == Some(false)) {
        return None;
    }
    let summary = if h.answered {
        "kube-proxy's /healthz answers 503 (a change waits for a sync), but its metrics show neither failed nor hung syncs".to_string()
    } else if f.kube_proxy_processes.is_some_and(|n| n > 0) {
        "a kube-proxy process runs, but nothing answers on its health port (another --healthz-bind-address? give --kube-proxy-healthz)".to_string()
    } else {
        "nothing answers on kube-proxy's health port".to_string()
    };
    Some(Found {
        cause: NodeCause::Unknown,
        summary,
        next_steps: vec![LOGS.into()],
        rests_on: &[NodeCheckId::KubeProxyProcess, NodeCheckId::KubeProxySync],
    })
}

fn conntrack_full(f: &Facts) -> Option<Found> {
    (f.conntrack_full == Some(true)).then(|| Found {
        cause: NodeCause::ConntrackFull,
        summary: "the conntrack table is full or dropping entries: new connections, Services' included, are dropped".into(),
        next_steps: vec![
            "raise net.netfilter.nf_conntrack_max (kube-proxy --conntrack-max-per-core sets it)".into(),
            "dmesg | grep 'nf_conntrack: table full'".into(),
        ],
        rests_on: &[],
    })
}

fn bridge_netfilter_off(f: &Facts) -> Option<Found> {
    (f.bridged == Some(true) && f.bridge_nf_on == Some(false)).then(|| Found {
        cause: NodeCause::BridgeNetfilterOff,
        summary: "pods sit on a Linux bridge and bridged traffic skips iptables (br_netfilter not loaded, or bridge-nf-call-iptables 0): a pod's connection through a Service to a pod on the same bridge fails".into(),
        next_steps: vec![
            "modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1 (persist both)".into(),
        ],
        rests_on: &[],
    })
}

fn hairpin_config(f: &Facts) -> Option<Found> {
    let masquerade = f
        .rules
        .as_ref()
        .map(|r| r.masquerade_missing.clone())
        .unwrap_or_default();
    if !masquerade.is_empty() {
        return Some(Found {
            cause: NodeCause::HairpinConfig,
            summary: format!(
                "the rules lack the masquerade rule for traffic from the pod itself for {}: such a pod cannot reach itself through its Service",
                masquerade.join(", ")
            ),
            next_steps: vec![
                "kube-proxy writes `-s podIP -j KUBE-MARK-MASQ` for every endpoint: restart it to resync".into(),
            ],
            rests_on: &[],
        });
    }
    let off = f.hairpin_off.as_ref().filter(|off| !off.is_empty())?;
    Some(Found {
        cause: NodeCause::HairpinConfig,
        summary: format!(
            "hairpin_mode is off on {} bridge port(s) ({}): a pod whose Service sends it back to itself cannot connect",
            off.len(),
            off.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ),
        next_steps: vec![
            "kubelet --hairpin-mode=hairpin-veth (or hairpinMode: true in the CNI bridge plugin's config)".into(),
            "a PROMISC bridge does not make up for it on current kernels: set hairpin_mode on the ports".into(),
        ],
        rests_on: &[],
    })
}

fn ip_forward_off(f: &Facts) -> Option<Found> {
    (f.ip_forward == Some(false)).then(|| Found {
        cause: NodeCause::Unknown,
        summary: "net.ipv4.ip_forward is 0: the node does not route pods' traffic (not one of kube-proxy's causes, but it breaks Services too)".into(),
        next_steps: vec!["sysctl -w net.ipv4.ip_forward=1 (and persist it)".into()],
        rests_on: &[],
    })
}

/// A Service without ready endpoints that the node rejects: refused connections are what
/// kube-proxy is meant to give it.
fn rejected_as_meant(f: &Facts) -> bool {
    f.rules
        .as_ref()
        .is_some_and(|r| r.rejects && !r.service_rule)
        && f.service.as_ref().is_some_and(|s| s.ready.is_empty())
}

fn cluster_ip_fails(f: &Facts) -> Option<Found> {
    if rejected_as_meant(f) {
        return None;
    }
    let (attempts, ok) = f.cluster_ip?;
    (attempts > 0 && ok < attempts).then(|| Found {
        cause: NodeCause::Unknown,
        summary: format!(
            "{ok} of {attempts} connections to the ClusterIP from the node connected, and nothing checked here explains why"
        ),
        next_steps: vec![LOGS.into()],
        rests_on: &[NodeCheckId::ServiceRules, NodeCheckId::EndpointSlices],
    })
}

fn healthy(f: &Facts) -> Found {
    // A node being deleted answers 503 on /healthz whatever the rules; /livez still says
    // whether kube-proxy keeps up.
    let kube_proxy_ok = f.health.as_ref().is_some_and(|h| {
        h.status == Some(200) || (h.node_eligible == Some(false) && h.livez_status == Some(200))
    });
    if !kube_proxy_ok {
        return Found {
            cause: NodeCause::Unknown,
            summary: "kube-proxy's health could not be established".into(),
            next_steps: vec![LOGS.into()],
            rests_on: &[NodeCheckId::KubeProxyHealth, NodeCheckId::KubeProxySync],
        };
    }
    let what = if rejected_as_meant(f) {
        "kube-proxy is healthy and syncing, and the node's settings are sound; the Service has no ready endpoints, and the node rejects its ClusterIP as kube-proxy should (why it has none is the cluster's matter: svcprobe diagnose)"
    } else if f.service.is_some() {
        "kube-proxy is healthy and syncing, the node's bridge, hairpin and conntrack settings are sound, and the ClusterIP answers from the node"
    } else {
        "kube-proxy is healthy and syncing, and the node's bridge, hairpin and conntrack settings are sound"
    };
    Found {
        cause: NodeCause::Healthy,
        summary: what.into(),
        next_steps: Vec::new(),
        rests_on: &[
            NodeCheckId::KubeProxyProcess,
            NodeCheckId::KubeProxySync,
            NodeCheckId::BridgeNetfilter,
            NodeCheckId::Hairpin,
            NodeCheckId::Conntrack,
            NodeCheckId::EndpointSlices,
            NodeCheckId::ServiceRules,
            NodeCheckId::ClusterIp,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy_facts() -> Facts {
        Facts {
            kube_proxy_processes: Some(1),
            health: Some(HealthFact {
                answered: true,
                status: Some(200),
                node_eligible: Some(true),
                age_s: Some(0.0),
                livez_status: Some(200),
            }),
            mode: Some(ProxyMode::Iptables),
            sync: Some(SyncFact {
                failures: 0.0,
                pending: false,
                hung: Vec::new(),
                seen: true,
            }),
            ip_forward: Some(true),
            bridged: Some(true),
            bridge_nf_on: Some(true),
            hairpin_off: Some(Vec::new()),
            conntrack_full: Some(false),
            service: Some(ServiceFact {
                exists: true,
                cluster_ip: Some("10.0.1.175".into()),
                ready: vec!["10.244.0.5:9376".into()],
                port_known: true,
            }),
            rules: Some(RulesFact {
                service_rule: true,
                ..RulesFact::default()
            }),
            cluster_ip: Some((3, 3)),
            other_proxies: Vec::new(),
            skipped: BTreeMap::new(),
        }
    }

    #[test]
    fn each_rule_names_its_cause() {
        type Change = fn(&mut Facts);
        let table: Vec<(NodeCause, Change)> = vec![
            (NodeCause::Healthy, |_| {}),
            (NodeCause::KubeProxyDown, |f| {
                f.kube_proxy_processes = Some(0);
                f.health.as_mut().unwrap().answered = false;
            }),
            (NodeCause::OtherProxy, |f| {
                f.kube_proxy_processes = Some(0);
                f.health.as_mut().unwrap().answered = false;
                f.other_proxies = vec![("cilium-agent".into(), "cilium")];
            }),
            (NodeCause::KubeProxyUnhealthy, |f| {
                f.health.as_mut().unwrap().status = Some(503);
                f.sync.as_mut().unwrap().failures = 3.0;
            }),
            (NodeCause::KubeProxyStale, |f| {
                f.health.as_mut().unwrap().status = Some(503);
                let s = f.sync.as_mut().unwrap();
                s.pending = true;
                s.hung = vec!["IPv4".into()];
            }),
            (NodeCause::Unknown, |f| {
                // 503 that the metrics do not explain: no guess between hung and failing
                f.health.as_mut().unwrap().status = Some(503);
                f.sync = None;
                f.skipped
                    .insert(NodeCheckId::KubeProxySync, "no answer".into());
            }),
            (NodeCause::ConntrackFull, |f| f.conntrack_full = Some(true)),
            (NodeCause::BridgeNetfilterOff, |f| {
                f.bridge_nf_on = Some(false)
            }),
            (NodeCause::HairpinConfig, |f| {
                f.hairpin_off = Some(vec!["cbr0/veth1".into()])
            }),
            (NodeCause::HairpinConfig, |f| {
                f.rules.as_mut().unwrap().masquerade_missing = vec!["10.244.0.5:9376".into()]
            }),
            (NodeCause::ServiceNotProgrammed, |f| {
                f.rules.as_mut().unwrap().service_rule = false
            }),
            (NodeCause::EndpointsMismatch, |f| {
                f.rules.as_mut().unwrap().extra = vec!["10.244.0.8:9376".into()]
            }),
            (NodeCause::EndpointsMismatch, |f| {
                let r = f.rules.as_mut().unwrap();
                r.service_rule = false;
                r.rejects = true;
            }),
            (NodeCause::Unknown, |f| f.cluster_ip = Some((3, 0))),
            (NodeCause::Healthy, |f| {
                // no endpoints, rejected as kube-proxy means to: refused is right
                f.cluster_ip = Some((3, 0));
                f.service.as_mut().unwrap().ready.clear();
                let r = f.rules.as_mut().unwrap();
                r.service_rule = false;
                r.rejects = true;
            }),
        ];
        for (cause, change) in table {
            let mut f = healthy_facts();
            change(&mut f);
            let v = decide(&f);
            assert_eq!(v.cause, cause, "{}", v.summary);
            assert_eq!(
                v.next_steps.is_empty(),
                cause == NodeCause::Healthy,
                "{v:?}"
            );
        }
    }

    #[test]
    fn a_node_being_deleted_is_not_an_unhealthy_proxy() {
        let mut f = healthy_facts();
        let h = f.health.as_mut().unwrap();
        h.status = Some(503);
        h.node_eligible = Some(false);
        assert_eq!(decide(&f).cause, NodeCause::Healthy);
    }

    #[test]
    fn past_failures_with_nothing_waiting_are_healthy() {
        let mut f = healthy_facts();
        f.sync.as_mut().unwrap().failures = 2.0;
        assert_eq!(decide(&f).cause, NodeCause::Healthy);
    }

    #[test]
    fn down_needs_both_the_scan_and_the_port() {
        let mut f = healthy_facts();
        f.health.as_mut().unwrap().answered = false;
        f.kube_proxy_processes = None;
        f.skipped
            .insert(NodeCheckId::KubeProxyProcess, "scan failed".into());
        let v = decide(&f);
        assert_eq!(v.cause, NodeCause::Unknown);
        assert!(
            v.summary
                .contains("not checked: kube-proxy-process (scan failed)"),
            "{}",
            v.summary
        );
        // a process without a health port is not "down" either
        f.kube_proxy_processes = Some(1);
        assert_eq!(decide(&f).cause, NodeCause::Unknown);
    }

    #[test]
    fn healthy_names_what_it_did_not_check() {
        let mut f = healthy_facts();
        f.skipped
            .insert(NodeCheckId::ServiceRules, "rules not read".into());
        let v = decide(&f);
        assert_eq!(v.cause, NodeCause::Healthy);
        assert!(
            v.summary
                .ends_with("not checked: service-rules (rules not read)"),
            "{}",
            v.summary
        );
    }
}
