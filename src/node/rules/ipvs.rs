//! IPVS mode: `/proc/net/ip_vs`, the kernel's table of virtual services and their real
//! servers in hex (the format strings of net/netfilter/ipvs/ip_vs_ctl.c), parsed (pure,
//! fuzzed) for one virtual service.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::report::{ProgrammedEndpoint, ProxyMode, RuleSource, ServiceProgramming};

/// At most this much of `/proc/net/ip_vs` is read.
pub const MAX_BYTES: u64 = 64 << 20;

/// One real server of a virtual service.
#[derive(Debug, PartialEq)]
pub struct RealServer {
    pub addr: SocketAddr,
    pub forward: String,
    pub weight: u32,
}

/// The real servers of virtual service `protocol` (`TCP`, `UDP`, `SCTP`) `vip`, or `None`
/// when the table has no such service.
pub fn find_service(text: &str, protocol: &str, vip: SocketAddr) -> Option<Vec<RealServer>> {
    let mut lines = text.lines();
    let mut found: Option<Vec<RealServer>> = None;
    for line in lines.by_ref() {
        let mut words = line.split_whitespace();
        if let Some(rest) = line.trim_start().strip_prefix("->") {
            let servers = match found.as_mut() {
                Some(s) => s,
                None => continue,
            };
            let mut w = rest.split_whitespace();
            let (Some(addr), Some(forward), Some(weight)) =
                (w.next().and_then(hex_endpoint), w.next(), w.next())
            else {
                continue;
            };
            servers.push(RealServer {
                addr,
                forward: forward.to_string(),
                weight: weight.parse().unwrap_or(0),
            });
            continue;
        }
        if found.is_some() {
            break; // the next virtual service
        }
        let (Some(proto), Some(addr)) = (words.next(), words.next()) else {
            continue;
        };
        if proto == protocol && hex_endpoint(addr) == Some(vip) {
            found = Some(Vec::new());
        }
    }
    found
}

/// `0A0001AF:0050` or `[2001:0db8:...:0001]:0050`.
fn hex_endpoint(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.rsplit_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = if let Some(v6) = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?)
    } else {
        if addr.len() != 8 {
            return None;
        }
        IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?))
    };
    Some(SocketAddr::new(ip, port))
}

/// The programming the table shows for `vip`: its real servers, each with its share of the
/// weights (kube-proxy gives every endpoint weight 1 and round-robin).
pub fn programming(text: &str, protocol: &str, vip: SocketAddr) -> ServiceProgramming {
    let servers = find_service(text, protocol, vip);
    // Not a u32 sum: three real servers of the kernel's largest weight (an `int`) overflow it.
    // The shares are fractions anyway; f64 keeps them to 16 digits for any table we read.
    let total: f64 = servers.iter().flatten().map(|s| f64::from(s.weight)).sum();
    let mut evidence = vec![match &servers {
        Some(_) => format!("{protocol}  {vip} in /proc/net/ip_vs"),
        None => format!("no virtual service {protocol} {vip} in /proc/net/ip_vs"),
    }];
    evidence.extend(
        servers
            .iter()
            .flatten()
            .map(|s| format!("  -> {} {} weight {}", s.addr, s.forward, s.weight)),
    );
    evidence.push("the kube-ipvs0 address of the ClusterIP is not checked".into());
    ServiceProgramming {
        source: RuleSource::Ipvs,
        mode: ProxyMode::Ipvs,
        service_rule: servers.is_some(),
        service_chain: None,
        endpoints: servers
            .into_iter()
            .flatten()
            .map(|s| ProgrammedEndpoint {
                addr: s.addr,
                probability: (total > 0.0).then(|| f64::from(s.weight) / total),
                masquerade_rule: None,
                chain: None,
            })
            .collect(),
        no_endpoints_rule: None,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This kernel has no IPVS (`CONFIG_IP_VS` unset): the table below is written in the
    /// kernel's exact format (ip_vs_ctl.c's `ip_vs_info_seq_show` format strings) for what
    /// kube-proxy's IPVS mode programs: a round-robin virtual service per ClusterIP and
    /// port, each endpoint a masquerading real server of weight 1.
    const TABLE: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A0001AF:0050 rr 
  -> 0AF40005:24A0      Masq    1      0          0         
  -> 0AF40006:24A0      Masq    1      0          0         
  -> 0AF40007:24A0      Masq    1      2          0         
UDP  0A00000A:0035 rr 
  -> 0AF40002:0035      Masq    1      0          0         
TCP  0A0001B0:0050 rr persistent 10800 FFFFFFFF
TCP  [fd00:0010:0096:0000:0000:0000:0000:0001]:01BB rr 
  -> [fd00:0010:0244:0000:0000:0000:0000:0005]:1A0B      Masq    2      0          0         
";

    #[test]
    fn reads_a_service_and_its_real_servers() {
        let p = programming(TABLE, "TCP", "10.0.1.175:80".parse().unwrap());
        assert!(p.service_rule);
        let addrs: Vec<String> = p.endpoints.iter().map(|e| e.addr.to_string()).collect();
        assert_eq!(
            addrs,
            ["10.244.0.5:9376", "10.244.0.6:9376", "10.244.0.7:9376"]
        );
        assert!(p
            .endpoints
            .iter()
            .all(|e| (e.probability.unwrap() - 1.0 / 3.0).abs() < 1e-9));
        assert_eq!(p.endpoints[0].masquerade_rule, None);
        let dns = find_service(TABLE, "UDP", "10.0.0.10:53".parse().unwrap()).unwrap();
        assert_eq!(
            dns,
            [RealServer {
                addr: "10.244.0.2:53".parse().unwrap(),
                forward: "Masq".into(),
                weight: 1
            }]
        );
        // a service without real servers, and one that is not there
        assert_eq!(
            find_service(TABLE, "TCP", "10.0.1.176:80".parse().unwrap()),
            Some(vec![])
        );
        assert_eq!(
            find_service(TABLE, "UDP", "10.0.1.175:80".parse().unwrap()),
            None
        );
        let v6 = find_service(TABLE, "TCP", "[fd00:10:96::1]:443".parse().unwrap()).unwrap();
        assert_eq!(v6[0].addr, "[fd00:10:244::5]:6667".parse().unwrap());
    }

    /// The kernel keeps a weight in an `int` (`%-6d` in the table): three real servers of
    /// weight 2^31 - 1 overflowed the u32 sum of the weights (a panic in debug builds, wrong
    /// shares in release; found by fuzzing, `fuzz/regressions/ip_vs`).
    #[test]
    fn the_largest_weights_share_without_overflow() {
        let servers =
            "  -> 0AF40005:24A0      Masq    2147483647 0          0         \n".repeat(3);
        let table = format!("TCP  0A0001AF:0050 rr  \n{servers}");
        let p = programming(&table, "TCP", "10.0.1.175:80".parse().unwrap());
        assert_eq!(p.endpoints.len(), 3);
        assert!(p
            .endpoints
            .iter()
            .all(|e| (e.probability.unwrap() - 1.0 / 3.0).abs() < 1e-9));
        // not a kernel value, but a u32 all the same
        let table = format!(
            "TCP  0A0001AF:0050 rr\n{}",
            "  -> 0AF40005:24A0 Masq 4294967295\n".repeat(2)
        );
        let p = programming(&table, "TCP", "10.0.1.175:80".parse().unwrap());
        assert_eq!(p.endpoints[1].probability, Some(0.5));
    }

    #[test]
    fn garbage_is_no_service() {
        for text in [
            "",
            "TCP",
            "TCP  zz:0050 rr",
            "  -> 0AF40005:24A0",
            "TCP  0A0001AF:0050\n  -> 0AF4:",
            "TCP  [::1:0050",
        ] {
            let _ = programming(text, "TCP", "10.0.1.175:80".parse().unwrap());
        }
    }
}
