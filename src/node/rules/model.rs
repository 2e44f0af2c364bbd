//! One firewall rule reduced to what kube-proxy's rules test and do, whichever way it was
//! read (nf_tables expressions, a legacy `ipt_entry`, an `iptables-save` line), and the
//! x_tables payloads (`statistic`, `tcp`, `DNAT`, ...) that both kernel encodings carry.
//!
//! Everything here is pure: the readers decode into it, `kube` interprets it.

use crate::decimal::fixed;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A rule: its conditions and what it does when they hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rule {
    pub daddr: Option<AddrMatch>,
    pub saddr: Option<AddrMatch>,
    /// IP protocol number (`-p tcp`, `meta l4proto tcp`).
    pub l4proto: Option<u8>,
    pub dport: Option<u16>,
    /// `-m statistic --mode random --probability P`.
    pub probability: Option<f64>,
    pub comment: Option<String>,
    /// Conditions this reader does not decode (match or expression names): the rule may
    /// match fewer packets than its decoded conditions say.
    pub other: Vec<String>,
    pub action: Action,
}

/// `[!] -s/-d addr/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrMatch {
    pub addr: IpAddr,
    pub prefix: u8,
    pub negated: bool,
}

impl AddrMatch {
    /// True when this is exactly `addr` (a host match, not negated).
    pub fn is_host(&self, addr: IpAddr) -> bool {
        !self.negated && self.addr == addr && u32::from(self.prefix) == host_prefix(addr)
    }
}

fn host_prefix(addr: IpAddr) -> u32 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// What a rule does.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Action {
    /// No verdict (a counter, a match-only rule).
    #[default]
    None,
    Jump(String),
    Goto(String),
    Accept,
    Drop,
    Return,
    /// ICMP unreachable (`REJECT`, nft `reject`).
    Reject,
    /// DNAT to an address and, when given, a port.
    Dnat {
        addr: IpAddr,
        port: Option<u16>,
    },
    /// nftables `numgen random mod N vmap @set`: the set maps each slot to a chain.
    NumgenVmap {
        modulus: u32,
        set: String,
    },
    /// A target or verdict this reader does not interpret (`MARK`, `MASQUERADE`, ...).
    Other(String),
}

impl Rule {
    /// True when the rule matches exactly this destination (address, protocol and port).
    pub fn matches_service(&self, ip: IpAddr, l4proto: u8, port: u16) -> bool {
        self.daddr.is_some_and(|d| d.is_host(ip))
            && self.l4proto == Some(l4proto)
            && self.dport == Some(port)
    }

    /// The rule in `iptables-save` syntax (`-A CHAIN ...`), for evidence.
    pub fn render_iptables(&self, chain: &str) -> String {
        let mut out = format!("-A {chain}");
        let addr = |out: &mut String, flag: &str, m: &AddrMatch| {
            let not = if m.negated { "! " } else { "" };
            let _ = write!(out, " {not}{flag} {}/{}", m.addr, m.prefix);
        };
        if let Some(m) = &self.saddr {
            addr(&mut out, "-s", m);
        }
        if let Some(m) = &self.daddr {
            addr(&mut out, "-d", m);
        }
        if let Some(p) = self.l4proto {
            let _ = write!(out, " -p {}", proto_name(p));
        }
        if let Some(c) = &self.comment {
            let _ = write!(out, " -m comment --comment {c:?}");
        }
        if let Some(port) = self.dport {
            let _ = write!(out, " --dport {port}");
        }
        if let Some(p) = self.probability {
            let p = fixed(p, 10);
            let _ = write!(out, " -m statistic --mode random --probability {p}");
        }
        for other in &self.other {
            let _ = write!(out, " -m {other}");
        }
        let _ = match &self.action {
            Action::None => Ok(()),
            Action::Jump(c) => write!(out, " -j {c}"),
            Action::Goto(c) => write!(out, " -g {c}"),
            Action::Accept => write!(out, " -j ACCEPT"),
            Action::Drop => write!(out, " -j DROP"),
            Action::Return => write!(out, " -j RETURN"),
            Action::Reject => write!(out, " -j REJECT"),
            Action::Dnat { addr, port } => {
                write!(out, " -j DNAT --to-destination {}", endpoint(*addr, *port))
            }
            Action::NumgenVmap { modulus, set } => {
                write!(out, " numgen random mod {modulus} vmap @{set}")
            }
            Action::Other(t) => write!(out, " -j {t}"),
        };
        out
    }

    /// The rule in `nft` syntax, for evidence.
    pub fn render_nft(&self) -> String {
        let mut parts = Vec::new();
        let family = |a: &IpAddr| if a.is_ipv4() { "ip" } else { "ip6" };
        for (name, m) in [("saddr", &self.saddr), ("daddr", &self.daddr)] {
            if let Some(m) = m {
                let not = if m.negated { "!= " } else { "" };
                let host = u32::from(m.prefix) == host_prefix(m.addr);
                let addr = if host {
                    m.addr.to_string()
                } else {
                    format!("{}/{}", m.addr, m.prefix)
                };
                parts.push(format!("{} {name} {not}{addr}", family(&m.addr)));
            }
        }
        if let Some(p) = self.l4proto {
            parts.push(format!("meta l4proto {}", proto_name(p)));
        }
        if let Some(port) = self.dport {
            parts.push(format!("th dport {port}"));
        }
        parts.extend(self.other.iter().cloned());
        parts.push(match &self.action {
            Action::None => String::new(),
            Action::Jump(c) => format!("jump {c}"),
            Action::Goto(c) => format!("goto {c}"),
            Action::Accept => "accept".into(),
            Action::Drop => "drop".into(),
            Action::Return => "return".into(),
            Action::Reject => "reject".into(),
            Action::Dnat { addr, port } => format!("dnat to {}", endpoint(*addr, *port)),
            Action::NumgenVmap { modulus, set } => {
                format!("numgen random mod {modulus} vmap @{set}")
            }
            Action::Other(t) => t.clone(),
        });
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }
}

fn endpoint(addr: IpAddr, port: Option<u16>) -> String {
    match (addr, port) {
        (IpAddr::V4(a), Some(p)) => format!("{a}:{p}"),
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, None) => a.to_string(),
    }
}

/// `tcp`, `udp`, `sctp`, else the number.
pub fn proto_name(number: u8) -> String {
    match number {
        6 => "tcp".into(),
        17 => "udp".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

/// An address from `bytes` (4 for IPv4, 16 for IPv6), zero-padded when shorter (a prefix
/// load of its first bytes).
pub fn addr_from(bytes: &[u8], ipv6: bool) -> Option<IpAddr> {
    if ipv6 {
        let mut octets = [0u8; 16];
        octets.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(IpAddr::V6(Ipv6Addr::from(octets)))
    } else {
        let mut octets = [0u8; 4];
        octets.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(IpAddr::V4(Ipv4Addr::from(octets)))
    }
}

/// The prefix length of a netmask (leading one bits), `None` if it is not contiguous.
pub fn mask_prefix(mask: &[u8]) -> Option<u8> {
    let ones: u32 = mask.iter().map(|b| b.count_ones()).sum();
    let leading = mask
        .iter()
        .position(|&b| b != 0xff)
        .map_or(mask.len() as u32 * 8, |i| {
            i as u32 * 8 + mask.get(i).map_or(0, |b| b.leading_ones())
        });
    (ones == leading).then(|| u8::try_from(ones).ok()).flatten()
}

// ---------------------------------------------------------------- x_tables payloads

/// `XT_STATISTIC_MODE_RANDOM`, `XT_STATISTIC_INVERT` (linux/netfilter/xt_statistic.h).
const STATISTIC_MODE_RANDOM: u16 = 0;
const STATISTIC_INVERT: u16 = 1;

/// Applies one x_tables match (`name`, its `info` as the kernel holds it) to `rule`.
pub fn apply_match(rule: &mut Rule, name: &str, info: &[u8]) {
    match name {
        "comment" => {
            let text = info.split(|&b| b == 0).next().unwrap_or_default();
            rule.comment = Some(String::from_utf8_lossy(text).into_owned());
        }
        // struct xt_statistic_info: u16 mode, u16 flags, u32 probability (of 2^31).
        "statistic" => {
            let mode = u16_ne(info, 0);
            let flags = u16_ne(info, 2);
            match (mode, flags, u32_ne(info, 4)) {
                (Some(STATISTIC_MODE_RANDOM), Some(f), Some(p)) if f & STATISTIC_INVERT == 0 => {
                    rule.probability = Some(f64::from(p) / f64::from(0x8000_0000u32));
                }
                _ => rule.other.push("statistic (not random)".into()),
            }
        }
        // struct xt_tcp / xt_udp: u16 spts[2], u16 dpts[2], ...; xt_sctp_info: dpts first.
        "tcp" | "udp" | "sctp" => {
            let at = if name == "sctp" { 0 } else { 4 };
            match (u16_ne(info, at), u16_ne(info, at + 2)) {
                (Some(lo), Some(hi)) if lo == hi => rule.dport = Some(lo),
                (Some(0), Some(0xffff)) => {}
                _ => rule.other.push(format!("{name} (port range)")),
            }
        }
        other => rule.other.push(other.to_string()),
    }
}

/// The action of one x_tables target (`name`, `revision`, its `info`); `ipv6` for
/// ip6tables. `DNAT` carries `nf_nat_ipv4_multi_range_compat` (revision 0) or
/// `nf_nat_range`/`nf_nat_range2` (1, 2); the port is taken only when the range says so.
pub fn target_action(name: &str, revision: u8, info: &[u8], ipv6: bool) -> Action {
    const NF_NAT_RANGE_MAP_IPS: u32 = 1;
    const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 2;
    match name {
        "DNAT" => {
            // (flags, address, port) offsets of each revision's layout
            let (flags_at, addr_at, port_at) = if revision == 0 && !ipv6 {
                (4, 8, 16)
            } else {
                (0, 4, 36)
            };
            let len = if ipv6 { 16 } else { 4 };
            let flags = u32_ne(info, flags_at).unwrap_or(0);
            let addr = info
                .get(addr_at..addr_at + len)
                .and_then(|b| addr_from(b, ipv6));
            let port = info
                .get(port_at..port_at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .filter(|_| flags & NF_NAT_RANGE_PROTO_SPECIFIED != 0);
            match addr {
                Some(addr) if flags & NF_NAT_RANGE_MAP_IPS != 0 => Action::Dnat { addr, port },
                _ => Action::Other("DNAT (no address)".into()),
            }
        }
        "REJECT" => Action::Reject,
        "DROP" => Action::Drop,
        "ACCEPT" => Action::Accept,
        "RETURN" => Action::Return,
        other => Action::Other(other.to_string()),
    }
}

pub fn u16_ne(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

pub fn u32_ne(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_prefixes() {
        assert_eq!(mask_prefix(&[255, 255, 0, 0]), Some(16));
        assert_eq!(mask_prefix(&[255, 255, 255, 255]), Some(32));
        assert_eq!(mask_prefix(&[255, 240, 0, 0]), Some(12));
        assert_eq!(mask_prefix(&[255, 0, 255, 0]), None);
        assert_eq!(mask_prefix(&[]), Some(0));
    }

    #[test]
    fn statistic_probability_is_of_two_to_the_31() {
        let mut rule = Rule::default();
        let mut info = vec![0u8; 24];
        info[4..8].copy_from_slice(&0x4000_0000u32.to_ne_bytes());
        apply_match(&mut rule, "statistic", &info);
        assert_eq!(rule.probability, Some(0.5));
        info[2] = 1; // inverted
        let mut rule = Rule::default();
        apply_match(&mut rule, "statistic", &info);
        assert_eq!(rule.probability, None);
        assert_eq!(rule.other, ["statistic (not random)"]);
    }

    #[test]
    fn dnat_revisions() {
        // nf_nat_range2: flags MAP_IPS|PROTO_SPECIFIED, min 10.244.0.5, port 9376
        let mut r2 = vec![0u8; 44];
        r2[0..4].copy_from_slice(&3u32.to_ne_bytes());
        r2[4..8].copy_from_slice(&[10, 244, 0, 5]);
        r2[36..38].copy_from_slice(&9376u16.to_be_bytes());
        let want = Action::Dnat {
            addr: "10.244.0.5".parse().unwrap(),
            port: Some(9376),
        };
        assert_eq!(target_action("DNAT", 2, &r2, false), want);
        // nf_nat_ipv4_multi_range_compat: rangesize, flags, min_ip, max_ip, min, max
        let mut r0 = vec![0u8; 24];
        r0[0..4].copy_from_slice(&1u32.to_ne_bytes());
        r0[4..8].copy_from_slice(&3u32.to_ne_bytes());
        r0[8..12].copy_from_slice(&[10, 244, 0, 5]);
        r0[16..18].copy_from_slice(&9376u16.to_be_bytes());
        assert_eq!(target_action("DNAT", 0, &r0, false), want);
        // cut short: no address, said so
        assert_eq!(
            target_action("DNAT", 2, &r2[..6], false),
            Action::Other("DNAT (no address)".into())
        );
    }

    #[test]
    fn renders_both_syntaxes() {
        let rule = Rule {
            daddr: Some(AddrMatch {
                addr: "10.0.1.175".parse().unwrap(),
                prefix: 32,
                negated: false,
            }),
            l4proto: Some(6),
            dport: Some(80),
            action: Action::Jump("KUBE-SVC-X".into()),
            ..Rule::default()
        };
        assert_eq!(
            rule.render_iptables("KUBE-SERVICES"),
            "-A KUBE-SERVICES -d 10.0.1.175/32 -p tcp --dport 80 -j KUBE-SVC-X"
        );
        assert_eq!(
            rule.render_nft(),
            "ip daddr 10.0.1.175 meta l4proto tcp th dport 80 jump KUBE-SVC-X"
        );
        assert!(rule.matches_service("10.0.1.175".parse().unwrap(), 6, 80));
        assert!(!rule.matches_service("10.0.1.175".parse().unwrap(), 17, 80));
    }
}
