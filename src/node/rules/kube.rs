//! kube-proxy's rule shapes, interpreted (pure over a [`Reader`]): which rules send a
//! ClusterIP, protocol and port to which endpoints, in iptables mode (`KUBE-SERVICES` →
//! `KUBE-SVC-*` → `KUBE-SEP-*`, whichever backend) and in nftables mode (`service-ips` →
//! `service-*` → `numgen` vmap → `endpoint-*`). Shapes from kubernetes/kubernetes
//! pkg/proxy/iptables/proxier.go and pkg/proxy/nftables/proxier.go.

use std::net::{IpAddr, SocketAddr};

use super::model::{Action, Rule};
use super::netlink::ReadError;
use super::nft::{Element, Verdict};
use crate::report::{
    NoEndpointsRule, ProgrammedEndpoint, ProxyMode, RuleSource, ServiceProgramming,
};

/// At most this many endpoint chains are followed for one Service (kube-proxy has no
/// limit; a Service this large is read partly and says so).
pub const MAX_ENDPOINTS: usize = 5000;

/// What the interpretation needs from a rule source.
pub trait Reader {
    /// The rules of `table`'s `chain`, in order, keeping those `keep` accepts; `None` when
    /// the chain does not exist (or holds no rule).
    fn rules(
        &mut self,
        table: &str,
        chain: &str,
        keep: &dyn Fn(&Rule) -> bool,
    ) -> Result<Option<Vec<Rule>>, ReadError>;

    /// The elements of `table`'s set `set` that `keep` accepts: nftables only, iptables has
    /// no sets (ipset is not read).
    fn elements(
        &mut self,
        _table: &str,
        _set: &str,
        _keep: &dyn Fn(&Element) -> bool,
    ) -> Result<Vec<Element>, ReadError> {
        Ok(Vec::new())
    }
}

/// The Service port to look for.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub ip: IpAddr,
    pub l4proto: u8,
    pub port: u16,
}

/// A reading, and whether it met rules it could not fully decode.
pub struct Reading {
    pub programming: ServiceProgramming,
    /// Some rule on the Service's path held something not decoded (an unknown match, a
    /// DNAT without an address): another source may read it better.
    pub undecoded: bool,
}

fn programming(source: RuleSource, mode: ProxyMode) -> ServiceProgramming {
    ServiceProgramming {
        source,
        mode,
        service_rule: false,
        service_chain: None,
        endpoints: Vec::new(),
        no_endpoints_rule: None,
        evidence: Vec::new(),
    }
}

/// iptables mode. `None` when the nat table has no `KUBE-SERVICES` chain at all.
pub fn iptables(
    reader: &mut dyn Reader,
    source: RuleSource,
    t: Target,
) -> Result<Option<Reading>, ReadError> {
    let mut p = programming(source, ProxyMode::Iptables);
    let mut undecoded = false;
    let services = reader.rules("nat", "KUBE-SERVICES", &|r| {
        r.matches_service(t.ip, t.l4proto, t.port)
    })?;
    let Some(services) = services else {
        return Ok(None);
    };
    let service_chain = services.iter().find_map(|r| match &r.action {
        Action::Jump(c) | Action::Goto(c) => {
            p.evidence.push(r.render_iptables("KUBE-SERVICES"));
            Some(c.clone())
        }
        _ => None,
    });
    if let Some(chain) = &service_chain {
        p.service_rule = true;
        p.service_chain = Some(chain.clone());
        let rules = reader.rules("nat", chain, &|_| true)?.unwrap_or_default();
        let mut remaining = 1.0f64;
        for rule in &rules {
            p.evidence.push(rule.render_iptables(chain));
            let Action::Jump(sep) = &rule.action else {
                continue;
            };
            if !sep.starts_with("KUBE-SEP-") {
                continue;
            }
            if !rule.other.is_empty() {
                // session affinity (`-m recent`) and anything else conditional: not part
                // of the random choice
                continue;
            }
            let share = remaining * rule.probability.unwrap_or(1.0);
            remaining -= share;
            if p.endpoints.len() >= MAX_ENDPOINTS {
                p.evidence
                    .push(format!("endpoints past {MAX_ENDPOINTS} not read"));
                break;
            }
            let found = endpoint_chain(
                reader,
                "nat",
                sep,
                "KUBE-MARK-MASQ",
                &mut p.evidence,
                |r, c| r.render_iptables(c),
            )?;
            match found {
                Some((addr, masq)) => p.endpoints.push(ProgrammedEndpoint {
                    addr,
                    probability: Some(share),
                    masquerade_rule: Some(masq),
                    chain: Some(sep.clone()),
                }),
                None => undecoded = true,
            }
        }
    }
    for chain in ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"] {
        let rejects = reader.rules("filter", chain, &|r| {
            r.matches_service(t.ip, t.l4proto, t.port)
        })?;
        for rule in rejects.unwrap_or_default() {
            p.evidence.push(rule.render_iptables(chain));
            let verdict = match rule.action {
                Action::Reject => Some(NoEndpointsRule::Reject),
                Action::Drop => Some(NoEndpointsRule::Drop),
                _ => None,
            };
            p.no_endpoints_rule = p.no_endpoints_rule.or(verdict);
        }
    }
    Ok(Some(Reading {
        programming: p,
        undecoded,
    }))
}

/// An endpoint chain's DNAT destination and whether it marks the pod's own traffic for
/// masquerade (`masq_chain`: `KUBE-MARK-MASQ`, `mark-for-masquerade`). `None` (with a note)
/// when it has no decodable DNAT.
fn endpoint_chain(
    reader: &mut dyn Reader,
    table: &str,
    chain: &str,
    masq_chain: &str,
    evidence: &mut Vec<String>,
    render: fn(&Rule, &str) -> String,
) -> Result<Option<(SocketAddr, bool)>, ReadError> {
    let rules = reader.rules(table, chain, &|_| true)?.unwrap_or_default();
    let dnat = rules.iter().find_map(|r| match r.action {
        Action::Dnat {
            addr,
            port: Some(port),
        } => Some(SocketAddr::new(addr, port)),
        _ => None,
    });
    for rule in &rules {
        evidence.push(render(rule, chain));
    }
    let Some(addr) = dnat else {
        evidence.push(format!("{chain}: no DNAT to an address and port"));
        return Ok(None);
    };
    let masq = rules.iter().any(|r| {
        r.saddr.is_some_and(|s| s.is_host(addr.ip()))
            && r.action == Action::Jump(masq_chain.to_string())
    });
    Ok(Some((addr, masq)))
}

/// The key of a `service-ips` / `no-endpoint-services` element: address, protocol and
/// port, each padded to 4 bytes (nftables concatenations).
pub fn service_key(t: Target) -> Vec<u8> {
    let mut key = match t.ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    key.extend_from_slice(&[t.l4proto, 0, 0, 0]);
    key.extend_from_slice(&t.port.to_be_bytes());
    key.extend_from_slice(&[0, 0]);
    key
}

/// nftables mode, in table `kube-proxy` of the target's family.
pub fn nftables(reader: &mut dyn Reader, t: Target) -> Result<Reading, ReadError> {
    const TABLE: &str = "kube-proxy";
    let mut p = programming(RuleSource::Nftables, ProxyMode::Nftables);
    let mut undecoded = false;
    let key = service_key(t);
    let family = if t.ip.is_ipv4() { "ip" } else { "ip6" };
    let cluster_ip_key = key
        .get(..if t.ip.is_ipv4() { 4 } else { 16 })
        .unwrap_or_default()
        .to_vec();
    let in_cluster_ips = !reader
        .elements(TABLE, "cluster-ips", &|e| e.key == cluster_ip_key)?
        .is_empty();
    p.evidence.push(format!(
        "set cluster-ips {} {}",
        if in_cluster_ips {
            "holds"
        } else {
            "does not hold"
        },
        t.ip
    ));
    let element_text = |e: &Element, map: &str| {
        let verdict = match &e.verdict {
            Some(Verdict::Goto(c)) => format!("goto {c}"),
            Some(Verdict::Jump(c)) => format!("jump {c}"),
            Some(v) => format!("{v:?}").to_lowercase(),
            None => "no verdict".into(),
        };
        format!(
            "element {family} {TABLE} {map} {{ {} . {} . {} : {verdict} }}",
            t.ip,
            super::model::proto_name(t.l4proto),
            t.port
        )
    };
    let services = reader.elements(TABLE, "service-ips", &|e| e.key == key)?;
    let service_chain = services.iter().find_map(|e| {
        p.evidence.push(element_text(e, "service-ips"));
        match &e.verdict {
            Some(Verdict::Goto(c) | Verdict::Jump(c)) => Some(c.clone()),
            _ => None,
        }
    });
    if let Some(chain) = &service_chain {
        p.service_rule = true;
        p.service_chain = Some(chain.clone());
        let rules = reader.rules(TABLE, chain, &|_| true)?.unwrap_or_default();
        for rule in &rules {
            p.evidence.push(format!("{chain}: {}", rule.render_nft()));
        }
        if let Some((modulus, set)) = rules.iter().find_map(|r| match &r.action {
            Action::NumgenVmap { modulus, set } => Some((*modulus, set.clone())),
            _ => None,
        }) {
            let mut slots: Vec<(u32, String)> = reader
                .elements(TABLE, &set, &|_| true)?
                .into_iter()
                .filter_map(|e| {
                    let slot = u32::from_ne_bytes(e.key.get(..4)?.try_into().ok()?);
                    match e.verdict? {
                        Verdict::Goto(c) | Verdict::Jump(c) => Some((slot, c)),
                        _ => None,
                    }
                })
                .collect();
            slots.sort();
            let mut chains: Vec<(String, u32)> = Vec::new();
            for (_, c) in slots.into_iter().filter(|(slot, _)| *slot < modulus) {
                match chains.iter_mut().find(|(name, _)| *name == c) {
                    Some((_, n)) => *n += 1,
                    None => chains.push((c, 1)),
                }
            }
            for (c, count) in chains.into_iter().take(MAX_ENDPOINTS) {
                let found = endpoint_chain(
                    reader,
                    TABLE,
                    &c,
                    "mark-for-masquerade",
                    &mut p.evidence,
                    |r, c| format!("{c}: {}", r.render_nft()),
                )?;
                match found {
                    Some((addr, masq)) => p.endpoints.push(ProgrammedEndpoint {
                        addr,
                        probability: Some(f64::from(count) / f64::from(modulus.max(1))),
                        masquerade_rule: Some(masq),
                        chain: Some(c),
                    }),
                    None => undecoded = true,
                }
            }
        }
    }
    for e in reader.elements(TABLE, "no-endpoint-services", &|e| e.key == key)? {
        p.evidence.push(element_text(&e, "no-endpoint-services"));
        p.no_endpoints_rule = match e.verdict {
            Some(Verdict::Goto(c) | Verdict::Jump(c)) if c == "reject-chain" => {
                Some(NoEndpointsRule::Reject)
            }
            Some(Verdict::Drop) => Some(NoEndpointsRule::Drop),
            _ => p.no_endpoints_rule,
        };
    }
    Ok(Reading {
        programming: p,
        undecoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::rules::save;

    fn target(ip: &str, port: u16) -> Target {
        Target {
            ip: ip.parse().unwrap(),
            l4proto: 6,
            port,
        }
    }

    /// kube-proxy's shape with session affinity (`-m recent` rules before the random
    /// choice), an endpoint chain without its masquerade rule, one without a DNAT, and a
    /// Service with no endpoints rejected in KUBE-EXTERNAL-SERVICES.
    const RULES: &str = r#"*nat
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-X - [0:0]
:KUBE-SVC-Z - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
:KUBE-SEP-C - [0:0]
:KUBE-SEP-Z - [0:0]
-A KUBE-SERVICES -d 10.0.1.175/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X
-A KUBE-SERVICES -d 10.0.1.177/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-Z
-A KUBE-SVC-X ! -s 10.244.0.0/16 -d 10.0.1.175/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-X -m recent --name KUBE-SEP-A --rcheck --seconds 10800 --reap -j KUBE-SEP-A
-A KUBE-SVC-X -m statistic --mode random --probability 0.25000000000 -j KUBE-SEP-A
-A KUBE-SVC-X -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-B
-A KUBE-SVC-X -j KUBE-SEP-C
-A KUBE-SEP-A -s 10.244.0.5/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.244.0.5:9376
-A KUBE-SEP-B -p tcp -m tcp -j DNAT --to-destination 10.244.0.6:9376
-A KUBE-SEP-C -s 10.244.0.7/32 -j KUBE-MARK-MASQ
-A KUBE-SVC-Z -j KUBE-SEP-Z
-A KUBE-SEP-Z -p tcp -j MARK --set-mark 1
COMMIT
*filter
:KUBE-EXTERNAL-SERVICES - [0:0]
-A KUBE-EXTERNAL-SERVICES -d 10.0.1.176/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
"#;

    #[test]
    fn shares_masquerade_rules_and_what_is_not_decoded() {
        let mut saved = save::parse(RULES);
        let r = iptables(
            &mut saved,
            RuleSource::IptablesSave,
            target("10.0.1.175", 80),
        )
        .unwrap()
        .unwrap();
        let p = r.programming;
        assert!(p.service_rule);
        assert_eq!(p.service_chain.as_deref(), Some("KUBE-SVC-X"));
        let got: Vec<(String, f64, Option<bool>)> = p
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.addr.to_string(),
                    e.probability.unwrap(),
                    e.masquerade_rule,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("10.244.0.5:9376".into(), 0.25, Some(true)),
                ("10.244.0.6:9376".into(), 0.375, Some(false)),
            ]
        );
        // KUBE-SEP-C has no DNAT: not an endpoint, and the reading says it met it
        assert!(r.undecoded);
        assert!(p
            .evidence
            .iter()
            .any(|e| e == "KUBE-SEP-C: no DNAT to an address and port"));
        assert_eq!(p.no_endpoints_rule, None);
    }

    #[test]
    fn rejects_and_absent_services() {
        let mut saved = save::parse(RULES);
        let p = iptables(
            &mut saved,
            RuleSource::IptablesSave,
            target("10.0.1.176", 80),
        )
        .unwrap()
        .unwrap()
        .programming;
        assert!(!p.service_rule && p.endpoints.is_empty());
        assert_eq!(p.no_endpoints_rule, Some(NoEndpointsRule::Reject));
        let mut empty = save::parse("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n");
        assert!(iptables(
            &mut empty,
            RuleSource::IptablesSave,
            target("10.0.1.175", 80)
        )
        .unwrap()
        .is_none());
    }

    #[test]
    fn service_keys_pad_each_part_to_four_bytes() {
        assert_eq!(
            service_key(target("10.0.1.175", 80)),
            [10, 0, 1, 175, 6, 0, 0, 0, 0, 80, 0, 0]
        );
        let v6 = service_key(Target {
            ip: "fd00::1".parse().unwrap(),
            l4proto: 17,
            port: 53,
        });
        assert_eq!(v6.len(), 24);
        assert_eq!(&v6[16..], [17, 0, 0, 0, 0, 53, 0, 0]);
    }
}
