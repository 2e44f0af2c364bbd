//! The verdict rules for the DNS Service itself: what the `dns-*` cluster checks saw, and
//! the cause they name. The guide's method (the Service IP against the pod IPs) applied to
//! DNS, and the protocol compared: UDP against TCP. Pure, table-tested with the rest of
//! the verdict in `verdict.rs`.
//!
//! In `diagnose` these rows run only when the Service's own DNS checks failed or were
//! slow (`ClusterDns::examined`), and a cause that leaves the Service's names resolving
//! (TCP alone broken, the forwarders) is not its verdict; `svcprobe dns` reads them all.

use super::verdict::{line, Facts, Name, Rule, Said};
use crate::report::CheckId::{DnsBurst, DnsPaths, DnsService, DnsUpstream};
use crate::report::{Cause, DnsReply, DnsRole, LookupStatus};

/// How one server answered the same question over UDP and over TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replies {
    pub udp: DnsReply,
    pub tcp: DnsReply,
}

impl Replies {
    /// A proper answer over either protocol.
    pub fn answers(self) -> bool {
        self.udp == DnsReply::Answered || self.tcp == DnsReply::Answered
    }

    /// No response at all over either protocol (an error code is a response).
    pub fn dead(self) -> bool {
        no_response(self.udp) && no_response(self.tcp)
    }

    /// Dead, and refused (ICMP, RST) rather than only silent.
    pub fn refuses(self) -> bool {
        self.dead() && (self.udp == DnsReply::Refused || self.tcp == DnsReply::Refused)
    }

    /// Dead, and silent both ways: dropped.
    fn silent(self) -> bool {
        self.udp == DnsReply::Timeout && self.tcp == DnsReply::Timeout
    }

    fn words(self) -> String {
        format!("udp {}, tcp {}", self.udp, self.tcp)
    }
}

fn no_response(reply: DnsReply) -> bool {
    matches!(reply, DnsReply::Refused | DnsReply::Timeout)
}

/// One server on the pod's DNS path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub address: String,
    pub role: DnsRole,
    pub replies: Replies,
}

/// What the burst of lookups lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Burst {
    pub queries: u32,
    pub lost: u32,
    /// Percent of queries lost sent as a pair from one socket, and sent apart.
    pub parallel_loss_pct: u32,
    pub reopen_loss_pct: u32,
    /// One of the pair lost far more often together than apart.
    pub race: bool,
}

impl Burst {
    /// A share worth naming: at least two queries and 5% lost, but not every one.
    fn intermittent(&self) -> bool {
        self.lost >= 2 && self.lost < self.queries && self.lost * 20 >= self.queries
    }
}

/// A name outside the cluster through the first nameserver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub name: String,
    pub status: LookupStatus,
}

impl Upstream {
    fn failed(&self) -> bool {
        !matches!(
            self.status,
            LookupStatus::Resolved | LookupStatus::NxDomain | LookupStatus::NoData
        )
    }
}

/// What the cluster DNS checks saw. Empty (`examined: false`) when they did not run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterDns {
    pub examined: bool,
    /// `svcprobe dns`: every cause is the verdict's, not only those that break names.
    pub whole_cluster: bool,
    /// The probing pod's namespace: an egress policy that drops DNS would be there.
    pub pod_namespace: String,
    /// The first resolv.conf nameserver: what the pod's applications ask first.
    pub nameserver: Option<Server>,
    /// The DNS ClusterIP, when the pod's nameserver is something else (a NodeLocal cache).
    pub cluster_ip: Option<Server>,
    /// Ready DNS endpoints, when known (objects, API, `--dns-endpoints`).
    pub ready_endpoints: Option<usize>,
    pub endpoints: Vec<Server>,
    pub burst: Option<Burst>,
    pub upstream: Option<Upstream>,
}

impl ClusterDns {
    fn nameserver_answers(&self) -> bool {
        self.nameserver
            .as_ref()
            .is_some_and(|s| s.replies.answers())
    }

    fn nameserver_is(&self, how: impl Fn(&Server) -> bool) -> bool {
        self.nameserver.as_ref().is_some_and(how)
    }

    /// The DNS Service's address as probed: the ClusterIP beside a NodeLocal cache, else
    /// the nameserver (the ClusterIP, or a nameserver not known to be anything else).
    fn service_ip(&self) -> Option<&Server> {
        self.cluster_ip.as_ref().or(self
            .nameserver
            .as_ref()
            .filter(|s| s.role != DnsRole::NodeLocal))
    }

    fn answering_endpoints(&self) -> Vec<&str> {
        self.endpoints
            .iter()
            .filter(|e| e.replies.answers())
            .map(|e| e.address.as_str())
            .collect()
    }

    fn every_endpoint(&self, how: impl Fn(Replies) -> bool) -> bool {
        !self.endpoints.is_empty() && self.endpoints.iter().all(|e| how(e.replies))
    }
}

fn dns(f: &Facts) -> &ClusterDns {
    &f.cluster_dns
}

/// In `diagnose`, a cause that leaves names resolving is not the Service's.
fn names_fail(f: &Facts) -> bool {
    dns(f).whole_cluster
        || !f.dns_answers
        || f.fqdn == Name::Failed
        || f.kubernetes_default == Name::Failed
}

fn nameserver(d: &ClusterDns) -> String {
    d.nameserver
        .as_ref()
        .map(|s| format!("{} ({})", s.address, s.role))
        .unwrap_or_else(|| "the nameserver".into())
}

const DNS_PODS: &str =
    "kubectl get pods,endpointslices -n kube-system -l k8s-app=kube-dns -o wide; kubectl logs -n kube-system -l k8s-app=kube-dns";

pub const PODS_DOWN: Rule = Rule {
    cause: Cause::DnsPodsDown,
    reads: &[DnsPaths],
    when: |f| {
        let d = dns(f);
        d.examined
            && !d.nameserver_answers()
            && (d.ready_endpoints == Some(0)
                || d.every_endpoint(Replies::refuses)
                || (d.endpoints.is_empty()
                    && d.ready_endpoints.is_none()
                    && d.nameserver_is(|s| s.role != DnsRole::NodeLocal && s.replies.refuses())))
    },
    says: |f| {
        let d = dns(f);
        let claim = if d.ready_endpoints == Some(0) {
            line(
                "the DNS Service kube-system/kube-dns has no ready endpoint: no DNS pod is ready",
                &[DnsService],
            )
        } else if d.every_endpoint(Replies::refuses) {
            line(format!("every DNS pod refuses port 53 at its own address ({} of them: ICMP port unreachable or TCP reset): the DNS pods run, but no DNS server listens in them", d.endpoints.len()), &[DnsPaths])
        } else {
            line(format!("{} refuses port 53 over UDP and TCP: no DNS server listens behind it (no ready DNS pod, or DNS pods whose server is down; rarely, a firewall that rejects)", nameserver(d)), &[DnsPaths])
        };
        let on = claim.rests_on.clone();
        Said {
            claim,
            steps: vec![
                line(DNS_PODS, &on),
                line("kubectl describe pods -n kube-system -l k8s-app=kube-dns: readiness, restarts, OOMKilled", &on),
            ],
        }
    },
};

pub const SERVICE_BROKEN: Rule = Rule {
    cause: Cause::DnsServiceBroken,
    reads: &[DnsPaths],
    when: |f| {
        let d = dns(f);
        d.examined
            && d.service_ip().is_some_and(|s| s.replies.dead())
            && !d.answering_endpoints().is_empty()
    },
    says: |f| {
        let d = dns(f);
        let service = d.service_ip().map(|s| s.address.as_str()).unwrap_or("?");
        let on = [DnsPaths];
        Said {
            claim: line(
                format!(
                    "the DNS pods answer at their own addresses ({}) but the DNS Service's address {service} does not: kube-proxy's rules for kube-system/kube-dns (or the node's bridge) are at fault",
                    d.answering_endpoints().join(", ")
                ),
                &on,
            ),
            steps: vec![
                line("on the node: iptables-save | grep kube-system/kube-dns (KUBE-SVC / KUBE-SEP chains for ports dns and dns-tcp); check kube-proxy's logs", &on),
                line("check net.bridge.bridge-nf-call-iptables=1 and that br_netfilter is loaded", &on),
            ],
        }
    },
};

pub const NODELOCAL_DOWN: Rule = Rule {
    cause: Cause::NodelocalDnsDown,
    reads: &[DnsPaths],
    when: |f| {
        let d = dns(f);
        let behind = match &d.cluster_ip {
            Some(vip) => vip.replies.answers(),
            None => !d.answering_endpoints().is_empty(),
        };
        d.examined
            && d.nameserver_is(|s| s.role == DnsRole::NodeLocal && s.replies.dead())
            && behind
    },
    says: |f| {
        let d = dns(f);
        let behind = match &d.cluster_ip {
            Some(vip) => format!("the DNS Service's address {} does", vip.address),
            None => format!(
                "the DNS pods do, at their own addresses ({})",
                d.answering_endpoints().join(", ")
            ),
        };
        let on = [DnsPaths];
        Said {
            claim: line(format!("the NodeLocal DNSCache {} does not answer ({}), but {behind}: the node-local cache on this pod's node is down", nameserver(d), d.nameserver.as_ref().map(|s| s.replies.words()).unwrap_or_default()), &on),
            steps: vec![
                line("kubectl get pods -n kube-system -l k8s-app=node-local-dns -o wide (the one on this pod's node); kubectl logs it", &on),
                line("check its readiness and that its iptables rules and the nodelocaldns interface exist on the node", &on),
            ],
        }
    },
};

pub const BLOCKED: Rule = Rule {
    cause: Cause::DnsBlocked,
    reads: &[DnsService, DnsPaths],
    when: |f| {
        let d = dns(f);
        d.examined
            && d.ready_endpoints.is_some_and(|n| n > 0)
            && d.nameserver_is(|s| s.replies.silent())
            && d.every_endpoint(Replies::silent)
    },
    says: |f| {
        let d = dns(f);
        let on = [DnsService, DnsPaths];
        Said {
            claim: line(format!("the DNS Service has {} ready endpoint(s), but nothing answers from this pod over UDP or TCP, neither through {} nor at the DNS pods' own addresses: port 53 is dropped on the way (an egress NetworkPolicy of namespace {}, or a firewall)", d.ready_endpoints.unwrap_or_default(), nameserver(d), d.pod_namespace), &on),
            steps: vec![
                line(format!("kubectl get networkpolicy -n {} -o yaml: an egress policy must allow UDP and TCP 53 to kube-system (k8s-app=kube-dns)", d.pod_namespace), &on),
                line("check node and cloud firewalls between this node and the DNS pods' nodes", &on),
            ],
        }
    },
};

fn one_protocol_broken(
    f: &Facts,
    broken: fn(&Replies) -> DnsReply,
    works: fn(&Replies) -> DnsReply,
) -> bool {
    let d = dns(f);
    d.examined
        && names_fail(f)
        && d.nameserver_is(|s| {
            no_response(broken(&s.replies)) && works(&s.replies) == DnsReply::Answered
        })
}

fn one_protocol_says(f: &Facts, broken: &str, works: &str, why: &str) -> Said {
    let d = dns(f);
    let on = [DnsPaths];
    Said {
        claim: line(format!("DNS answers over {works} but not over {broken} ({}: {}): {broken} port 53 is dropped or rejected on the way, {why}", nameserver(d), d.nameserver.as_ref().map(|s| s.replies.words()).unwrap_or_default()), &on),
        steps: vec![
            line(format!("a NetworkPolicy or firewall rule for DNS must allow port 53 over both UDP and TCP; look for one that lists only {works}"), &on),
            line("on the node: iptables-save | grep kube-dns (kube-proxy has one chain per protocol: dns and dns-tcp)", &on),
        ],
    }
}

pub const UDP_ONLY_BROKEN: Rule = Rule {
    cause: Cause::DnsUdpOnlyBroken,
    reads: &[DnsPaths, DnsBurst],
    when: |f| {
        one_protocol_broken(f, |r| r.udp, |r| r.tcp)
            && dns(f).burst.as_ref().is_none_or(|b| b.lost == b.queries)
    },
    says: |f| {
        one_protocol_says(
            f,
            "UDP",
            "TCP",
            "and applications ask over UDP first, so their lookups time out",
        )
    },
};

pub const TCP_ONLY_BROKEN: Rule = Rule {
    cause: Cause::DnsTcpOnlyBroken,
    reads: &[DnsPaths],
    when: |f| one_protocol_broken(f, |r| r.tcp, |r| r.udp),
    says: |f| {
        one_protocol_says(
            f,
            "TCP",
            "UDP",
            "so answers too large for UDP (truncated) and pods with `options use-vc` fail",
        )
    },
};

pub const INTERMITTENT: Rule = Rule {
    cause: Cause::DnsIntermittent,
    reads: &[DnsBurst],
    when: |f| dns(f).examined && dns(f).burst.as_ref().is_some_and(Burst::intermittent),
    says: |f| {
        let burst = dns(f).burst.clone().unwrap_or(Burst {
            queries: 0,
            lost: 0,
            parallel_loss_pct: 0,
            reopen_loss_pct: 0,
            race: false,
        });
        let on = [DnsBurst];
        let mut claim = format!(
            "{} of {} DNS queries in a burst got no answer in time (A+AAAA together from one socket: {}% lost; single-request-reopen: {}%)",
            burst.lost, burst.queries, burst.parallel_loss_pct, burst.reopen_loss_pct
        );
        let mut steps = Vec::new();
        if burst.race {
            claim.push_str(": one of each A/AAAA pair is lost far more often than queries sent apart, the conntrack insert race (kubernetes#56903)");
            steps.push(line("add `options single-request-reopen` (glibc) to the pod's dnsConfig, or `use-vc` (TCP); musl (Alpine) honours neither", &on));
            steps.push(line("NodeLocal DNSCache avoids the race (no conntrack entry per query to the DNS Service)", &on));
        } else {
            claim.push_str(": packets to or from the DNS pods are lost (overloaded DNS pods, a full conntrack table, or a lossy network)");
            steps.push(line(
                format!("{DNS_PODS}; look for restarts and CPU throttling"),
                &on,
            ));
            steps.push(line("on the node: conntrack -S (insert_failed, drop) and dmesg for 'nf_conntrack: table full'", &on));
        }
        Said {
            claim: line(claim, &on),
            steps,
        }
    },
};

pub const UPSTREAM: Rule = Rule {
    cause: Cause::DnsUpstream,
    reads: &[DnsPaths, DnsUpstream],
    when: |f| {
        let d = dns(f);
        d.examined && d.nameserver_answers() && d.upstream.as_ref().is_some_and(Upstream::failed)
    },
    says: |f| {
        let d = dns(f);
        let (name, status) = d
            .upstream
            .as_ref()
            .map(|u| (u.name.as_str(), u.status.as_str()))
            .unwrap_or_default();
        let on = [DnsPaths, DnsUpstream];
        Said {
            claim: line(format!("cluster names resolve through {}, but {name} fails ({status}): the DNS server's upstream (its forwarders) does not answer", nameserver(d)), &on),
            steps: vec![
                line("check the CoreDNS Corefile's forward plugin (kubectl get configmap coredns -n kube-system -o yaml) and the nodes' /etc/resolv.conf it forwards to", &on),
                line("kubectl logs -n kube-system -l k8s-app=kube-dns: look for i/o timeouts to the upstream, or the loop plugin", &on),
            ],
        }
    },
};

/// `svcprobe dns` when nothing is broken.
pub const HEALTHY: Rule = Rule {
    cause: Cause::Healthy,
    reads: &[DnsPaths],
    when: |f| dns(f).nameserver_is(|s| s.replies.udp == DnsReply::Answered),
    says: |f| Said {
        claim: line(
            format!(
                "DNS answers through {} ({})",
                nameserver(dns(f)),
                dns(f)
                    .nameserver
                    .as_ref()
                    .map(|s| s.replies.words())
                    .unwrap_or_default()
            ),
            &[DnsPaths],
        ),
        steps: Vec::new(),
    },
};

/// Why the finer causes could not be told apart, for `dns-unreachable`.
pub fn why_unreachable(d: &ClusterDns) -> Option<String> {
    if !d.examined {
        return None;
    }
    let why = if d.ready_endpoints.is_none() {
        "without the DNS pods' IPs (--dns-endpoints, the API or a file), a dropped port 53 looks like missing kube-proxy rules for the DNS Service"
    } else if d.endpoints.is_empty() {
        "no DNS pod could be asked at its own address before the deadline"
    } else {
        "the DNS endpoints and the DNS Service's address fail in ways that match no single cause"
    };
    Some(why.to_string())
}
