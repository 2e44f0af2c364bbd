//! Who `/probe` may make this pod connect to. Whoever reaches the exporter's port can ask
//! for a probe, so targets are limited to address ranges and DNS domains: given with
//! `--allow` (or the config's `allow`), else the cluster's own, as far as a pod can see it
//! (see [`defaults`]). Pure: the defaults are computed from what the caller read.

use std::fmt;
use std::net::IpAddr;

/// One `--allow` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `10.0.0.0/16`, `fd00::/64`, or one address (`10.0.0.10`, a /32 or /128).
    Net { base: IpAddr, prefix: u8 },
    /// A DNS domain: the name itself and every name under it (`cluster.local`).
    Domain(String),
}

/// Why an `--allow` entry (or one of the config's `allow`) cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryError {
    /// `10.0.0/8`: what comes before the `/` is not an address.
    NotAnAddress { text: String, ip: String },
    /// `10.0.0.0/33`: longer than the address.
    Prefix { text: String, max: u8 },
    /// Neither a network nor a domain.
    Neither { text: String },
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::NotAnAddress { text, ip } => {
                write!(f, "`{text}`: `{ip}` is not an IP address")
            }
            EntryError::Prefix { text, max } => {
                write!(f, "`{text}`: the prefix length is 0 to {max}")
            }
            EntryError::Neither { text } => {
                write!(f, "`{text}` is not a CIDR, an IP address or a domain")
            }
        }
    }
}

impl std::error::Error for EntryError {}

impl Entry {
    /// `CIDR`, `IP` or a domain name; a trailing dot is ignored, case too.
    pub fn parse(text: &str) -> Result<Entry, EntryError> {
        let text = text.trim();
        if let Some((ip, prefix)) = text.split_once('/') {
            let base: IpAddr = ip.parse().map_err(|_| EntryError::NotAnAddress {
                text: text.to_string(),
                ip: ip.to_string(),
            })?;
            let max = if base.is_ipv4() { 32 } else { 128 };
            return match prefix.parse::<u8>() {
                Ok(p) if p <= max => Ok(Entry::Net { base, prefix: p }),
                _ => Err(EntryError::Prefix {
                    text: text.to_string(),
                    max,
                }),
            };
        }
        if let Ok(base) = text.parse::<IpAddr>() {
            let prefix = if base.is_ipv4() { 32 } else { 128 };
            return Ok(Entry::Net { base, prefix });
        }
        let domain = text.trim_end_matches('.').to_ascii_lowercase();
        let valid = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if valid {
            Ok(Entry::Domain(domain))
        } else {
            Err(EntryError::Neither {
                text: text.to_string(),
            })
        }
    }

    /// How `--help`, logs and the stop report show it.
    pub fn text(&self) -> String {
        match self {
            Entry::Net { base, prefix } => format!("{base}/{prefix}"),
            Entry::Domain(domain) => domain.clone(),
        }
    }
}

/// What a target is, for the allow check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    Ip(IpAddr),
    /// A name the probe resolves through the pod's search list.
    Name(&'a str),
    /// A Service name, with the cluster domain the target gives. Without one it resolves
    /// in the pod's own cluster domain, whatever the list says about other names; with one,
    /// that domain must be allowed.
    Service(Option<&'a str>),
    /// A name (or address, for its PTR record) only looked up, through the pod's own
    /// nameservers, as any program in the pod may: nothing connects to it.
    LookupOnly,
}

/// The allowed entries, and the pod's first search domain (a single-label name is tried
/// there first, and is allowed when that domain is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    pub entries: Vec<Entry>,
    pub first_search_domain: Option<String>,
}

impl AllowList {
    pub fn allows(&self, host: &Host) -> bool {
        match host {
            Host::Ip(ip) => self.entries.iter().any(|e| match e {
                Entry::Net { base, prefix } => in_net(*ip, *base, *prefix),
                Entry::Domain(_) => false,
            }),
            Host::Service(None) | Host::LookupOnly => true,
            Host::Service(Some(domain)) => {
                let domain = domain.trim_end_matches('.').to_ascii_lowercase();
                self.entries.iter().any(|e| match e {
                    Entry::Domain(allowed) => in_domain(&domain, allowed),
                    Entry::Net { .. } => false,
                })
            }
            Host::Name(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let relative_single_label = !name.contains('.') && !name.is_empty();
                let checked = match (&self.first_search_domain, relative_single_label) {
                    (Some(first), true) => format!("{name}.{first}"),
                    _ => name,
                };
                self.entries.iter().any(|e| match e {
                    Entry::Domain(domain) => in_domain(&checked, domain),
                    Entry::Net { .. } => false,
                })
            }
        }
    }
}

fn in_domain(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

fn in_net(ip: IpAddr, base: IpAddr, prefix: u8) -> bool {
    match (ip, base) {
        (IpAddr::V4(ip), IpAddr::V4(base)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(base) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(base)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(base) & mask
        }
        _ => false,
    }
}

/// Prefix lengths of the ranges guessed around an address: a cluster's Service and pod
/// ranges are rarely smaller than this (kubeadm's Service range is a /12, kubenet's and
/// flannel's pod range a /16; IPv6 ranges sit in a /64).
const GUESSED_V4_PREFIX: u8 = 16;
const GUESSED_V6_PREFIX: u8 = 64;

/// What a pod sees of its cluster: the cluster DNS Service's address (the first nameserver,
/// inside the Service range), the pod's own address (inside the pod range) and the cluster
/// domain of its search list.
pub struct PodView {
    pub nameserver: Option<IpAddr>,
    pub pod_ip: Option<IpAddr>,
    pub cluster_domain: String,
    pub first_search_domain: Option<String>,
}

/// The default list: the /16 (IPv6: /64) around the cluster DNS address and around the pod's
/// address, each only when it is a private address (a nameserver on the internet is no
/// cluster's), and the cluster domain.
pub fn defaults(view: &PodView) -> AllowList {
    let mut entries = Vec::new();
    for ip in [view.nameserver, view.pod_ip].into_iter().flatten() {
        if !is_private(ip) {
            continue;
        }
        let prefix = if ip.is_ipv4() {
            GUESSED_V4_PREFIX
        } else {
            GUESSED_V6_PREFIX
        };
        let entry = Entry::Net {
            base: network(ip, prefix),
            prefix,
        };
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    entries.push(Entry::Domain(view.cluster_domain.clone()));
    AllowList {
        entries,
        first_search_domain: view.first_search_domain.clone(),
    }
}

fn network(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// RFC 1918, the shared range of RFC 6598 (some clouds' pod ranges) and IPv6 ULAs.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || in_net(ip, IpAddr::V4([100, 64, 0, 0].into()), 10),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn test_bed_view() -> AllowList {
        defaults(&PodView {
            nameserver: Some(ip("10.0.0.10")),
            pod_ip: Some(ip("10.244.0.3")),
            cluster_domain: "cluster.local".into(),
            first_search_domain: Some("default.svc.cluster.local".into()),
        })
    }

    #[test]
    fn entries() {
        assert_eq!(
            Entry::parse("10.0.0.0/16"),
            Ok(Entry::Net {
                base: ip("10.0.0.0"),
                prefix: 16
            })
        );
        assert_eq!(
            Entry::parse("fd00::1"),
            Ok(Entry::Net {
                base: ip("fd00::1"),
                prefix: 128
            })
        );
        assert_eq!(
            Entry::parse("Cluster.Local."),
            Ok(Entry::Domain("cluster.local".into()))
        );
        for bad in ["10.0.0.0/33", "x/8", "", "a..b", "a b", "fd00::/129", "."] {
            assert!(Entry::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_test_beds_defaults() {
        let list = test_bed_view();
        let texts: Vec<String> = list.entries.iter().map(Entry::text).collect();
        assert_eq!(texts, ["10.0.0.0/16", "10.244.0.0/16", "cluster.local"]);
        for allowed in [
            Host::Ip(ip("10.0.1.175")),
            Host::Ip(ip("10.244.0.5")),
            Host::Name("hostnames.default.svc.cluster.local."),
            Host::Name("hostnames"),
            Host::Service(None),
            Host::Service(Some("cluster.local.")),
        ] {
            assert!(list.allows(&allowed), "{allowed:?}");
        }
        for refused in [
            Host::Ip(ip("10.1.0.1")),
            Host::Ip(ip("127.0.0.1")),
            Host::Ip(ip("169.254.169.254")),
            Host::Ip(ip("fd00::1")),
            Host::Name("example.com"),
            Host::Name("hostnames.default"),
            Host::Name("evilcluster.local"),
            Host::Name("cluster.local.example.com"),
            Host::Service(Some("example.com")),
            Host::Service(Some("local")),
        ] {
            assert!(!list.allows(&refused), "{refused:?}");
        }
    }

    #[test]
    fn public_addresses_are_not_guessed_into_ranges() {
        let list = defaults(&PodView {
            nameserver: Some(ip("8.8.8.8")),
            pod_ip: Some(ip("fd00:10:244::3")),
            cluster_domain: "cluster.local".into(),
            first_search_domain: None,
        });
        let texts: Vec<String> = list.entries.iter().map(Entry::text).collect();
        assert_eq!(texts, ["fd00:10:244::/64", "cluster.local"]);
        assert!(!list.allows(&Host::Name("hostnames")), "no search list");
    }

    #[test]
    fn nets() {
        assert!(in_net(ip("10.0.255.1"), ip("10.0.0.0"), 16));
        assert!(!in_net(ip("10.1.0.1"), ip("10.0.0.0"), 16));
        assert!(in_net(ip("1.2.3.4"), ip("0.0.0.0"), 0));
        assert!(in_net(ip("::1"), ip("::"), 0));
        assert!(!in_net(ip("::ffff:10.0.0.1"), ip("10.0.0.0"), 8));
    }
}
