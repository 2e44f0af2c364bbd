//! The node-wide settings the guide's kube-proxy half leans on, read from `/proc` and
//! `/sys` of the node's network namespace (readable without privileges): `ip_forward`;
//! br_netfilter and `bridge-nf-call-iptables`/`-ip6tables`; each Linux bridge's ports'
//! `hairpin_mode` and the bridge's PROMISC flag (the guide's `hairpin-veth` and
//! `promiscuous-bridge`); the conntrack table's fill and drop counters.
//!
//! Measured in the test bed (kernel 6.18, br_netfilter on): a pod's connection to its own
//! Service IP that kube-proxy sends back to it is dropped when its bridge port's
//! `hairpin_mode` is 0, whether or not the bridge is PROMISC; with
//! `bridge-nf-call-iptables` 0 it is routed instead of bridged and succeeds either way
//! (but then a pod's connection through a Service to another pod on the bridge fails). So
//! the hairpin verdict follows `hairpin_mode`, and PROMISC is reported, not trusted.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::report::{
    BridgeInfo, BridgeNetfilterEvidence, BridgePort, ConntrackEvidence, IpForwardEvidence,
};

/// Bytes read of one `/proc` or `/sys` file.
const MAX_FILE: u64 = 64 * 1024;
/// Bridges and ports looked at: a node with thousands of pods stays bounded.
const MAX_LINKS: usize = 4096;
/// `IFF_PROMISC` in `/sys/class/net/DEV/flags`.
const IFF_PROMISC: u64 = 0x100;

fn read_trimmed(path: &Path) -> Option<String> {
    let bytes = super::read_capped(path, MAX_FILE).ok()?;
    Some(String::from_utf8_lossy(&bytes).trim().to_string())
}

fn read_bool(path: &Path) -> Option<bool> {
    match read_trimmed(path)?.as_str() {
        "0" => Some(false),
        "" => None,
        text => text.parse::<u64>().ok().map(|v| v != 0),
    }
}

/// `net.ipv4.ip_forward` and `net.ipv6.conf.all.forwarding`.
pub fn ip_forward(proc: &Path) -> IpForwardEvidence {
    IpForwardEvidence {
        ipv4: read_bool(&proc.join("sys/net/ipv4/ip_forward")),
        ipv6: read_bool(&proc.join("sys/net/ipv6/conf/all/forwarding")),
    }
}

/// br_netfilter's sysctls (they exist once the module is loaded) and the bridges with
/// ports.
pub fn bridge_netfilter(proc: &Path, bridges: &[BridgeInfo]) -> BridgeNetfilterEvidence {
    let dir = proc.join("sys/net/bridge");
    BridgeNetfilterEvidence {
        br_netfilter: dir.is_dir(),
        call_iptables: read_bool(&dir.join("bridge-nf-call-iptables")),
        call_ip6tables: read_bool(&dir.join("bridge-nf-call-ip6tables")),
        bridges_with_ports: bridges
            .iter()
            .filter(|b| !b.ports.is_empty())
            .map(|b| b.name.clone())
            .collect(),
    }
}

/// Every Linux bridge of this network namespace (`/sys/class/net/*/bridge`), its PROMISC
/// flag and its ports' `hairpin_mode`, sorted by name.
pub fn bridges(sys: &Path) -> std::io::Result<Vec<BridgeInfo>> {
    let net = sys.join("class/net");
    let mut bridges = Vec::new();
    for entry in std::fs::read_dir(&net)?.take(MAX_LINKS).flatten() {
        let dir = entry.path();
        if !dir.join("bridge").is_dir() {
            continue;
        }
        let flags = read_trimmed(&dir.join("flags"))
            .and_then(|f| u64::from_str_radix(f.trim_start_matches("0x"), 16).ok())
            .unwrap_or(0);
        let mut ports: Vec<BridgePort> = std::fs::read_dir(dir.join("brif"))
            .map(|ports| {
                ports
                    .take(MAX_LINKS)
                    .flatten()
                    .map(|port| BridgePort {
                        name: port.file_name().to_string_lossy().into_owned(),
                        hairpin_mode: read_bool(&port.path().join("hairpin_mode")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        ports.sort_by(|a, b| a.name.cmp(&b.name));
        bridges.push(BridgeInfo {
            name: entry.file_name().to_string_lossy().into_owned(),
            promisc: flags & IFF_PROMISC != 0,
            ports,
        });
    }
    bridges.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(bridges)
}

/// The bridges' ports whose `hairpin_mode` is off, as `bridge/port`.
pub fn hairpin_off(bridges: &[BridgeInfo]) -> Vec<String> {
    bridges
        .iter()
        .flat_map(|b| {
            b.ports
                .iter()
                .filter(|p| p.hairpin_mode == Some(false))
                .map(move |p| format!("{}/{}", b.name, p.name))
        })
        .collect()
}

/// kubelet's `hairpinMode` from its config file (`hairpinMode: hairpin-veth`): a line of
/// YAML at the top level, which is all kubelet's config has for it.
pub fn hairpin_mode_in_config(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix("hairpinMode:")?.trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// The counters of `/proc/net/stat/nf_conntrack` that matter here, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ConntrackStat {
    pub cpus: usize,
    pub insert_failed: u64,
    pub drop: u64,
    pub early_drop: u64,
}

/// `/proc/net/stat/nf_conntrack`: a header of column names, then one row of hex numbers
/// per CPU. Columns are found by name (kernels add and rename some); `None` when the
/// header lacks the ones read here.
pub fn parse_conntrack_stat(text: &str) -> Option<ConntrackStat> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (insert_failed, drop, early_drop) = (
        column("insert_failed")?,
        column("drop")?,
        column("early_drop")?,
    );
    let mut stat = ConntrackStat::default();
    for line in lines {
        let values: Vec<u64> = line
            .split_whitespace()
            .map(|v| u64::from_str_radix(v, 16))
            .collect::<Result<_, _>>()
            .ok()?;
        if values.len() != header.len() {
            return None;
        }
        stat.cpus += 1;
        stat.insert_failed = stat.insert_failed.saturating_add(values[insert_failed]);
        stat.drop = stat.drop.saturating_add(values[drop]);
        stat.early_drop = stat.early_drop.saturating_add(values[early_drop]);
    }
    Some(stat)
}

/// Why conntrack could not be read.
#[derive(Debug)]
pub enum ConntrackSkip {
    /// No conntrack in this network namespace: nothing uses NAT yet (no kube-proxy rules).
    NotLoaded,
    Unreadable(String),
}

/// Fill and drops, sampling the counters twice `interval` apart (less when `until` is
/// near), so that the report shows rates rather than totals since boot.
pub fn conntrack(
    proc: &Path,
    interval: Duration,
    until: Instant,
) -> Result<ConntrackEvidence, ConntrackSkip> {
    let stat_path = proc.join("net/stat/nf_conntrack");
    let count_path = proc.join("sys/net/netfilter/nf_conntrack_count");
    if !count_path.exists() && !stat_path.exists() {
        return Err(ConntrackSkip::NotLoaded);
    }
    let sample = || -> Result<ConntrackStat, ConntrackSkip> {
        let text = read_trimmed(&stat_path).ok_or_else(|| {
            ConntrackSkip::Unreadable(format!("{} unreadable", stat_path.display()))
        })?;
        parse_conntrack_stat(&text).ok_or_else(|| {
            ConntrackSkip::Unreadable(format!("{}: unknown format", stat_path.display()))
        })
    };
    let first = sample()?;
    let started = Instant::now();
    let wait = interval.min(until.saturating_duration_since(started));
    std::thread::sleep(wait);
    let second = if wait.is_zero() { None } else { sample().ok() };
    let elapsed = started.elapsed().as_secs_f64();
    let last = second.unwrap_or(first);
    let rate = |a: u64, b: u64| second.map(|_| round3(b.saturating_sub(a) as f64 / elapsed));
    let number = |p: &Path| read_trimmed(p).and_then(|t| t.parse::<u64>().ok());
    Ok(ConntrackEvidence {
        count: number(&count_path),
        max: number(&proc.join("sys/net/netfilter/nf_conntrack_max")),
        cpus: last.cpus,
        insert_failed: last.insert_failed,
        drop: last.drop,
        early_drop: last.early_drop,
        insert_failed_per_s: rate(first.insert_failed, last.insert_failed),
        drop_per_s: rate(first.drop, last.drop),
        early_drop_per_s: rate(first.early_drop, last.early_drop),
        interval_ms: second.map(|_| round3(elapsed * 1000.0)),
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The table is full (new connections are dropped), or it drops entries right now.
pub fn conntrack_full(e: &ConntrackEvidence) -> bool {
    let full = matches!((e.count, e.max), (Some(c), Some(m)) if m > 0 && c >= m);
    let dropping =
        e.drop_per_s.is_some_and(|r| r > 0.0) || e.early_drop_per_s.is_some_and(|r| r > 0.0);
    full || dropping
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from this machine's kernel (6.18), four CPUs, with two made-up drops.
    const STAT: &str = "\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000010  00000000 00000000 00000000 00000005 00000000 00000000 00000000 00000000 00000001 00000002 00000000 00000000  00000000 00000000 00000000 00000000
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 0000000a 00000003 00000000  00000000 00000000 00000000 00000000
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
";

    #[test]
    fn conntrack_stat_summed_over_cpus() {
        let s = parse_conntrack_stat(STAT).unwrap();
        assert_eq!(
            s,
            ConntrackStat {
                cpus: 4,
                insert_failed: 1,
                drop: 12,
                early_drop: 3
            }
        );
        assert_eq!(parse_conntrack_stat("entries drop\n1 2\n"), None);
        assert_eq!(parse_conntrack_stat(""), None);
        let ragged = STAT.replace(" 00000003 ", " ");
        assert_eq!(parse_conntrack_stat(&ragged), None);
        assert_eq!(parse_conntrack_stat(&STAT.replace("0000000a", "zz")), None);
    }

    #[test]
    fn full_or_dropping() {
        let mut e = ConntrackEvidence {
            count: Some(100),
            max: Some(262_144),
            cpus: 2,
            insert_failed: 5,
            drop: 7,
            early_drop: 0,
            insert_failed_per_s: Some(3.0),
            drop_per_s: Some(0.0),
            early_drop_per_s: Some(0.0),
            interval_ms: Some(200.0),
        };
        // drops since boot, and clashes (insert_failed), are not a full table
        assert!(!conntrack_full(&e));
        e.count = Some(262_144);
        assert!(conntrack_full(&e));
        e.count = Some(1);
        e.early_drop_per_s = Some(5.0);
        assert!(conntrack_full(&e));
    }

    /// A namespace may not lower `nf_conntrack_max` on this kernel, so a full table is
    /// recorded `/proc` text here rather than the machine's own table filled up.
    #[test]
    fn a_full_table_read_from_recorded_proc() {
        let proc = std::env::temp_dir().join(format!("svcprobe-conntrack-{}", std::process::id()));
        let netfilter = proc.join("sys/net/netfilter");
        std::fs::create_dir_all(&netfilter).unwrap();
        std::fs::create_dir_all(proc.join("net/stat")).unwrap();
        std::fs::write(proc.join("net/stat/nf_conntrack"), STAT).unwrap();
        std::fs::write(netfilter.join("nf_conntrack_count"), "65536\n").unwrap();
        std::fs::write(netfilter.join("nf_conntrack_max"), "65536\n").unwrap();
        let until = Instant::now() + Duration::from_secs(1);
        let e = conntrack(&proc, Duration::from_millis(20), until);
        let missing = conntrack(&proc.join("absent"), Duration::from_millis(1), until);
        std::fs::remove_dir_all(&proc).unwrap();
        let e = e.unwrap();
        assert_eq!(
            (e.count, e.max, e.cpus, e.drop),
            (Some(65536), Some(65536), 4, 12)
        );
        assert_eq!(e.drop_per_s, Some(0.0));
        assert!(e.interval_ms.is_some_and(|ms| ms >= 20.0));
        assert!(conntrack_full(&e));
        assert!(matches!(missing, Err(ConntrackSkip::NotLoaded)));
    }

    #[test]
    fn kubelet_config() {
        let yaml = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nhairpinMode: \"hairpin-veth\"\n";
        assert_eq!(
            hairpin_mode_in_config(yaml).as_deref(),
            Some("hairpin-veth")
        );
        assert_eq!(hairpin_mode_in_config("  hairpinMode: none\n"), None);
        assert_eq!(hairpin_mode_in_config("hairpinMode:\n"), None);
    }
}
