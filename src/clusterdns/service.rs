//! Where this pod's DNS really goes: the resolv.conf nameservers, the DNS Service
//! (`kube-system/kube-dns`) and its endpoints, from `--objects`, the API server or
//! `--dns-endpoints`. Pure: the read of the API lives in `api.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::k8s::Objects;
use crate::report::{DnsEndpointEvidence, DnsRole, DnsSource};

/// NodeLocal DNSCache's conventional link-local address (the add-on's `__PILLAR__LOCAL__DNS__`).
pub const NODELOCAL_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 20, 10));

/// The DNS Service's namespace and name, as every cluster DNS add-on names it.
pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "kube-dns";

/// Endpoints probed directly at most: a DNS Deployment rarely has more than a few pods.
pub const MAX_ENDPOINTS: usize = 16;

/// A DNS pod as the objects (or the flag) show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub ready: bool,
    pub pod: Option<String>,
}

/// The DNS Service as far as it is known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsService {
    pub source: Option<DnsSource>,
    pub cluster_ip: Option<IpAddr>,
    /// `None`: not known (no objects, no flag).
    pub endpoints: Option<Vec<Endpoint>>,
}

impl DnsService {
    /// From objects that hold `kube-system/kube-dns`: its ClusterIP and the endpoints of its
    /// DNS port (UDP 53 when it has one, else its first port). `None` when they do not.
    pub fn from_objects(objects: &Objects, source: DnsSource) -> Option<DnsService> {
        let service = objects.service(NAMESPACE, NAME)?;
        let port = service
            .spec
            .ports
            .iter()
            .find(|p| p.port == 53 && p.protocol.as_deref().unwrap_or("TCP") == "UDP")
            .or_else(|| service.spec.ports.first());
        let endpoints = port.and_then(|p| objects.backends(service, p)).map(|b| {
            b.into_iter()
                .filter_map(|b| {
                    Some(Endpoint {
                        ip: b.ip.parse().ok()?,
                        ready: b.ready,
                        pod: b.pod,
                    })
                })
                .collect()
        });
        Some(DnsService {
            source: Some(source),
            cluster_ip: service
                .spec
                .cluster_ip
                .as_deref()
                .and_then(|ip| ip.parse().ok()),
            endpoints,
        })
    }

    /// From `--dns-endpoints`: addresses the user vouches for, taken as ready.
    pub fn from_flag(ips: &[IpAddr]) -> DnsService {
        DnsService {
            source: Some(DnsSource::Flag),
            cluster_ip: None,
            endpoints: Some(
                ips.iter()
                    .map(|ip| Endpoint {
                        ip: *ip,
                        ready: true,
                        pod: None,
                    })
                    .collect(),
            ),
        }
    }

    pub fn ready(&self) -> Option<usize> {
        self.endpoints
            .as_ref()
            .map(|e| e.iter().filter(|e| e.ready).count())
    }

    pub fn evidence(&self) -> Vec<DnsEndpointEvidence> {
        self.endpoints
            .iter()
            .flatten()
            .map(|e| DnsEndpointEvidence {
                address: e.ip.to_string(),
                ready: e.ready,
                pod: e.pod.clone(),
            })
            .collect()
    }
}

/// One server on the pod's DNS path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub server: SocketAddr,
    pub role: DnsRole,
    pub in_resolv_conf: bool,
    pub pod: Option<String>,
}

/// Every server to ask: the resolv.conf nameservers (what they are to this pod), the DNS
/// ClusterIP when the pod does not name it (NodeLocal DNSCache in between), and each DNS
/// endpoint, once each.
pub fn targets(nameservers: &[SocketAddr], service: &DnsService) -> Vec<Target> {
    let mut targets: Vec<Target> = nameservers
        .iter()
        .map(|server| Target {
            server: *server,
            role: if server.ip() == NODELOCAL_IP {
                DnsRole::NodeLocal
            } else if Some(server.ip()) == service.cluster_ip {
                DnsRole::ClusterIp
            } else {
                DnsRole::Nameserver
            },
            in_resolv_conf: true,
            pod: None,
        })
        .collect();
    let known = |targets: &[Target], ip: IpAddr| targets.iter().any(|t| t.server.ip() == ip);
    if let Some(ip) = service.cluster_ip.filter(|ip| !known(&targets, *ip)) {
        targets.push(Target {
            server: SocketAddr::new(ip, 53),
            role: DnsRole::ClusterIp,
            in_resolv_conf: false,
            pod: None,
        });
    }
    for endpoint in service.endpoints.iter().flatten().take(MAX_ENDPOINTS) {
        if !known(&targets, endpoint.ip) {
            targets.push(Target {
                server: SocketAddr::new(endpoint.ip, 53),
                role: DnsRole::Endpoint,
                in_resolv_conf: false,
                pod: endpoint.pod.clone(),
            });
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBE_DNS: &str = r#"{"kind":"List","items":[
      {"kind":"Service","metadata":{"name":"kube-dns","namespace":"kube-system"},
       "spec":{"clusterIP":"10.0.0.10","ports":[{"name":"dns-tcp","port":53,"protocol":"TCP"},
                                               {"name":"dns","port":53,"protocol":"UDP"}]}},
      {"kind":"EndpointSlice","metadata":{"name":"kube-dns-x","namespace":"kube-system",
        "labels":{"kubernetes.io/service-name":"kube-dns"}},"addressType":"IPv4",
       "endpoints":[{"addresses":["10.244.0.2"],"conditions":{"ready":true},
                     "targetRef":{"kind":"Pod","name":"coredns-a","namespace":"kube-system"}},
                    {"addresses":["10.244.0.9"],"conditions":{"ready":false}}],
       "ports":[{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53,"protocol":"TCP"}]}]}"#;

    fn server(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 53)
    }

    #[test]
    fn the_dns_service_from_objects() {
        let objects = crate::k8s::parse(KUBE_DNS).unwrap();
        let service = DnsService::from_objects(&objects, DnsSource::Objects).unwrap();
        assert_eq!(service.cluster_ip, Some("10.0.0.10".parse().unwrap()));
        assert_eq!(service.ready(), Some(1));
        assert_eq!(
            service.endpoints.as_ref().map(|e| e.len()),
            Some(2),
            "{service:?}"
        );
        assert!(DnsService::from_objects(&Objects::default(), DnsSource::Objects).is_none());
    }

    #[test]
    fn each_server_once_with_its_role() {
        let objects = crate::k8s::parse(KUBE_DNS).unwrap();
        let service = DnsService::from_objects(&objects, DnsSource::Objects).unwrap();
        let direct = targets(&[server("10.0.0.10")], &service);
        let roles: Vec<(String, DnsRole, bool)> = direct
            .iter()
            .map(|t| (t.server.to_string(), t.role, t.in_resolv_conf))
            .collect();
        assert_eq!(
            roles,
            [
                ("10.0.0.10:53".into(), DnsRole::ClusterIp, true),
                ("10.244.0.2:53".into(), DnsRole::Endpoint, false),
                ("10.244.0.9:53".into(), DnsRole::Endpoint, false),
            ]
        );
        let cached = targets(&[server("169.254.20.10")], &service);
        assert_eq!(cached[0].role, DnsRole::NodeLocal);
        assert_eq!(cached[1].role, DnsRole::ClusterIp);
        assert!(!cached[1].in_resolv_conf);
        let unknown = targets(&[server("10.96.0.10")], &DnsService::default());
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].role, DnsRole::Nameserver);
        let flagged = DnsService::from_flag(&["10.244.0.2".parse().unwrap()]);
        assert_eq!(targets(&[server("10.0.0.10")], &flagged).len(), 2);
        assert_eq!(flagged.ready(), Some(1));
    }
}
