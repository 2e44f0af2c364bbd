//! `node`'s reading of the Service's programming (src/node/rules), against rules loaded into
//! a test bed's node namespace with the real tools: `iptables-nft-restore`,
//! `iptables-legacy-restore` and, in kube-proxy's nftables shape, `nft -f`
//! (`scripts/testbed.sh`, `TESTBED_IPTABLES` and `TESTBED_PROXY_MODE`). Each reading is
//! compared with what the bed loaded, through its failure switches (a deleted Service, no
//! endpoints, a stale target port, missing masquerade rules, kube-proxy down), and with
//! the reader's capabilities cut to `CAP_NET_ADMIN` + `CAP_NET_RAW` (the `netadmin`
//! profile) and to none.
//!
//! The reads run on a thread of this test process that joined the node's namespace and,
//! for the capability cases, dropped its own capabilities (Linux keeps them per thread,
//! and the kernel checks the ones of the thread that opens the socket).

mod common;

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use common::testbed::{Testbed, BACKEND_IPS, BACKEND_PORT, DNS_POD_IP, DNS_VIP, HOSTNAMES_VIP};
use svcprobe::node::rules::{read_service, read_with_save, RulesQuery};
use svcprobe::report::{
    DebugProfile, L4Protocol, NoEndpointsRule, ProxyMode, RuleSource, RulesSkip, RulesSkipReason,
    ServiceProgramming,
};

/// The capabilities the reading thread keeps.
#[derive(Clone, Copy)]
enum Caps {
    All,
    /// `kubectl debug --profile=netadmin`: NET_ADMIN and NET_RAW.
    NetAdmin,
    /// The same as uid 65534 (the image's user): root-only files are closed to it.
    NetAdminNobody,
    None,
}

/// Reads `ip:port/protocol` inside netns `ns`, with `caps`.
fn read_in(
    ns: &str,
    caps: Caps,
    ip: &str,
    port: u16,
    protocol: L4Protocol,
    mode: Option<ProxyMode>,
) -> Result<ServiceProgramming, RulesSkip> {
    in_netns(
        ns,
        caps,
        |q| read_service(&RulesQuery { mode, ..q }),
        ip,
        port,
        protocol,
    )
}

/// Runs `read` on a thread in netns `ns` with `caps`, given the query for `ip:port/protocol`
/// (host root `/`: this machine's own iptables-save stands for the node's).
fn in_netns<T: Send>(
    ns: &str,
    caps: Caps,
    read: impl FnOnce(RulesQuery) -> T + Send,
    ip: &str,
    port: u16,
    protocol: L4Protocol,
) -> T {
    let netns = File::open(format!("/run/netns/{ns}")).expect("open the node's namespace");
    let ip: IpAddr = ip.parse().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: joins this thread alone to the namespace.
            let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            keep_caps(caps);
            read(RulesQuery {
                host_root: Path::new("/"),
                cluster_ip: ip,
                port,
                protocol,
                mode: None,
                deadline: Instant::now() + Duration::from_secs(5),
            })
        })
        .join()
        .expect("reading thread")
    })
}

/// The kernel reading of every Service port of the bed equals what the backend's own
/// `iptables-save` shows (chains, endpoints, shares, masquerade rules, rejects).
fn assert_same_as_save(node: &str, save: &str) {
    for (ip, port, protocol) in [
        (HOSTNAMES_VIP, 80, L4Protocol::Tcp),
        (DNS_VIP, 53, L4Protocol::Udp),
        (DNS_VIP, 53, L4Protocol::Tcp),
        (HOSTNAMES_VIP, 81, L4Protocol::Tcp),
    ] {
        let kernel = read_in(node, Caps::All, ip, port, protocol, None).unwrap();
        let saved = in_netns(
            node,
            Caps::All,
            |q| read_with_save(&q, save),
            ip,
            port,
            protocol,
        )
        .unwrap()
        .unwrap();
        assert_eq!(saved.source, RuleSource::IptablesSave);
        let why = format!("{ip}:{port}/{protocol}: {kernel:#?} {saved:#?}");
        assert_eq!(
            (
                kernel.service_rule,
                &kernel.service_chain,
                kernel.no_endpoints_rule
            ),
            (
                saved.service_rule,
                &saved.service_chain,
                saved.no_endpoints_rule
            ),
            "{why}"
        );
        assert_eq!(kernel.endpoints.len(), saved.endpoints.len(), "{why}");
        for (k, s) in kernel.endpoints.iter().zip(&saved.endpoints) {
            assert_eq!(
                (k.addr, k.masquerade_rule, &k.chain),
                (s.addr, s.masquerade_rule, &s.chain),
                "{why}"
            );
            // the kernel keeps a probability in 31 bits, iptables-save prints 11 digits
            assert!(
                (k.probability.unwrap() - s.probability.unwrap()).abs() < 1e-8,
                "{why}"
            );
        }
    }
}

/// Cuts this thread's capabilities (capset(2) with `_LINUX_CAPABILITY_VERSION_3`).
fn keep_caps(caps: Caps) {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_NET_RAW: u32 = 13;
    let bits = match caps {
        Caps::All => return,
        Caps::NetAdmin | Caps::NetAdminNobody => (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW),
        Caps::None => 0,
    };
    if let Caps::NetAdminNobody = caps {
        // Raw syscalls change this thread's credentials only; keep the permitted set across
        // the uid change, capset below raises the effective one again.
        // SAFETY: plain syscalls on this thread's credentials.
        unsafe {
            assert_eq!(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0), 0);
            assert_eq!(libc::syscall(libc::SYS_setresgid, 65534, 65534, 65534), 0);
            assert_eq!(libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534), 0);
        }
    }
    let header = [0x2008_0522u32, 0]; // version, pid 0: this thread
                                      // effective, permitted, inheritable, for capabilities 0-31 then 32-63
    let data = [bits, bits, 0u32, 0, 0, 0];
    // SAFETY: both arrays outlive the call and have the layout capset expects.
    let rc = unsafe { libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

fn backends(port: u16) -> Vec<SocketAddr> {
    BACKEND_IPS
        .iter()
        .map(|ip| SocketAddr::new(ip.parse().unwrap(), port))
        .collect()
}

fn addrs(p: &ServiceProgramming) -> Vec<SocketAddr> {
    p.endpoints.iter().map(|e| e.addr).collect()
}

/// The healthy bed: hostnames' three endpoints, a third of the connections each, each with
/// its masquerade rule, no reject; kube-dns over UDP too. Every chain named is in the
/// rules the bed loaded.
fn assert_healthy(bed: &Testbed, node: &str, source: RuleSource, mode: Option<ProxyMode>) {
    let p = read_in(node, Caps::All, HOSTNAMES_VIP, 80, L4Protocol::Tcp, mode).unwrap();
    assert_eq!(p.source, source, "{p:#?}");
    assert!(p.service_rule, "{p:#?}");
    assert_eq!(addrs(&p), backends(BACKEND_PORT), "{p:#?}");
    let loaded = bed.rules();
    for e in &p.endpoints {
        let share = e.probability.unwrap();
        assert!((share - 1.0 / 3.0).abs() < 1e-6, "{p:#?}");
        assert_eq!(e.masquerade_rule, Some(true), "{p:#?}");
        assert!(loaded.contains(e.chain.as_deref().unwrap()), "{loaded}");
    }
    assert!(loaded.contains(p.service_chain.as_deref().unwrap()));
    assert_eq!(p.no_endpoints_rule, None);
    let dns = read_in(node, Caps::All, DNS_VIP, 53, L4Protocol::Udp, mode).unwrap();
    assert_eq!(addrs(&dns), [format!("{DNS_POD_IP}:53").parse().unwrap()]);
    assert_eq!(dns.endpoints[0].probability, Some(1.0));
    // a port the Service does not have
    let other = read_in(node, Caps::All, HOSTNAMES_VIP, 81, L4Protocol::Tcp, mode).unwrap();
    assert!(
        !other.service_rule && other.endpoints.is_empty(),
        "{other:#?}"
    );
}

/// The failure switches that change hostnames' rules, each read back.
fn assert_switches(bed: &Testbed, node: &str, mode: Option<ProxyMode>) {
    let read = || read_in(node, Caps::All, HOSTNAMES_VIP, 80, L4Protocol::Tcp, mode);

    bed.break_("wrong-target-port");
    assert_eq!(addrs(&read().unwrap()), backends(9377), "stale target port");
    bed.fix("wrong-target-port");

    bed.break_("masq-mark-missing");
    let p = read().unwrap();
    assert_eq!(addrs(&p), backends(BACKEND_PORT));
    assert!(
        p.endpoints.iter().all(|e| e.masquerade_rule == Some(false)),
        "{p:#?}"
    );
    bed.fix("masq-mark-missing");

    bed.break_("no-endpoints");
    let p = read().unwrap();
    assert!(!p.service_rule && p.endpoints.is_empty(), "{p:#?}");
    assert_eq!(p.no_endpoints_rule, Some(NoEndpointsRule::Reject), "{p:#?}");
    bed.fix("no-endpoints");

    bed.break_("service-missing");
    let p = read().unwrap();
    assert!(!p.service_rule && p.endpoints.is_empty(), "{p:#?}");
    assert_eq!(p.no_endpoints_rule, None, "{p:#?}");
    bed.fix("service-missing");

    bed.break_("kube-proxy-down");
    let skip = read().unwrap_err();
    assert_eq!(skip.reason, RulesSkipReason::NoRules, "{skip:?}");
    bed.fix("kube-proxy-down");
}

/// Only NET_ADMIN + NET_RAW reads as root does; no capability is a skip naming netadmin.
fn assert_capabilities(node: &str, mode: Option<ProxyMode>) {
    let all = read_in(node, Caps::All, HOSTNAMES_VIP, 80, L4Protocol::Tcp, mode).unwrap();
    let netadmin = read_in(
        node,
        Caps::NetAdmin,
        HOSTNAMES_VIP,
        80,
        L4Protocol::Tcp,
        mode,
    );
    assert_eq!(netadmin.unwrap(), all);
    let nobody = read_in(
        node,
        Caps::NetAdminNobody,
        HOSTNAMES_VIP,
        80,
        L4Protocol::Tcp,
        mode,
    );
    if all.source == RuleSource::IptablesLegacy {
        // /proc/net/ip_tables_names is root's: not knowing the legacy tables is said, not guessed
        let skip = nobody.unwrap_err();
        assert_eq!(skip.reason, RulesSkipReason::NotPermitted, "{skip:?}");
        assert_eq!(skip.profile, Some(DebugProfile::Sysadmin), "{skip:?}");
    } else {
        assert_eq!(nobody.unwrap(), all);
    }
    let none = read_in(node, Caps::None, HOSTNAMES_VIP, 80, L4Protocol::Tcp, mode).unwrap_err();
    assert_eq!(none.reason, RulesSkipReason::NotPermitted, "{none:?}");
    assert_eq!(none.profile, Some(DebugProfile::Netadmin));
}

#[test]
fn iptables_nft_rules_read_back_over_netlink() {
    let bed = Testbed::up_with(&[("TESTBED_IPTABLES", "nft")]);
    let node = bed.netns("node");
    assert_healthy(&bed, &node, RuleSource::IptablesNft, None);
    assert_healthy(
        &bed,
        &node,
        RuleSource::IptablesNft,
        Some(ProxyMode::Iptables),
    );
    assert_same_as_save(&node, "iptables-nft-save");
    bed.break_("no-endpoints");
    assert_same_as_save(&node, "iptables-nft-save");
    bed.fix("no-endpoints");
    assert_switches(&bed, &node, None);
    assert_capabilities(&node, None);
}

#[test]
fn iptables_legacy_rules_read_back_through_socket_options() {
    let bed = Testbed::up_with(&[("TESTBED_IPTABLES", "legacy")]);
    let node = bed.netns("node");
    assert_healthy(&bed, &node, RuleSource::IptablesLegacy, None);
    assert_same_as_save(&node, "iptables-legacy-save");
    bed.break_("no-endpoints");
    assert_same_as_save(&node, "iptables-legacy-save");
    bed.fix("no-endpoints");
    assert_switches(&bed, &node, Some(ProxyMode::Iptables));
    assert_capabilities(&node, None);
}

#[test]
fn nftables_mode_rules_read_back_over_netlink() {
    let bed = Testbed::up_with(&[("TESTBED_PROXY_MODE", "nftables")]);
    let node = bed.netns("node");
    assert_healthy(&bed, &node, RuleSource::Nftables, None);
    assert_healthy(&bed, &node, RuleSource::Nftables, Some(ProxyMode::Nftables));
    assert_switches(&bed, &node, None);
    assert_capabilities(&node, Some(ProxyMode::Nftables));
}
