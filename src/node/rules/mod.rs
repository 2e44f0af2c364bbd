//! The Service's programming: what kube-proxy's rules in this node's kernel do with one
//! ClusterIP, protocol and port, read from the kernel itself (no iptables, nft or ipvsadm
//! binary in the image): nf_tables over netlink (`iptables-nft` and kube-proxy's nftables
//! mode), the legacy x_tables socket options (`iptables-legacy`), `/proc/net/ip_vs`, and,
//! where the kernel's encoding is beyond this reader and the host root allows it, the
//! node's own `iptables-save`.
//!
//! `read_service` is the one entry point `svcprobe node` calls. Every read is bounded in
//! bytes and by the query's deadline; a read the kernel refuses (no `CAP_NET_ADMIN`)
//! becomes a [`RulesSkip`] naming the profile that allows it.

pub mod kube;
pub mod model;
pub mod netlink;
pub mod nft;

use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use kube::{Reader, Reading, Target};
use model::Rule;
use netlink::{
    Budget, Netfilter, ReadError, NFT_MSG_GETRULE, NFT_MSG_GETSETELEM, NFT_MSG_GETTABLE,
};
use nft::Element;

use crate::report::{
    DebugProfile, L4Protocol, ProxyMode, RuleSource, RulesSkip, RulesSkipReason, ServiceProgramming,
};

/// All kernel reads of one query together may take this many bytes.
pub const MAX_READ_BYTES: usize = 256 << 20;

/// nf_tables families (`NFPROTO_IPV4`, `NFPROTO_IPV6`).
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// One Service port to look up.
#[derive(Clone, Debug)]
pub struct RulesQuery<'a> {
    /// The node's root filesystem (`--host-root`), for the `iptables-save` fallback.
    pub host_root: &'a Path,
    pub cluster_ip: IpAddr,
    pub port: u16,
    pub protocol: L4Protocol,
    /// kube-proxy's mode when known (its `/proxyMode`); else detected from what exists.
    pub mode: Option<ProxyMode>,
    pub deadline: Instant,
}

/// What the node's kernel does with the query's ClusterIP, protocol and port.
pub fn read_service(q: &RulesQuery) -> Result<ServiceProgramming, RulesSkip> {
    let target = Target {
        ip: q.cluster_ip,
        l4proto: q.protocol.number(),
        port: q.port,
    };
    let mut budget = Budget {
        bytes_left: MAX_READ_BYTES,
        deadline: q.deadline,
    };
    let reading = match q.mode {
        Some(ProxyMode::Nftables) => nftables(target, &mut budget),
        Some(ProxyMode::Iptables) => iptables(target, &mut budget),
        Some(ProxyMode::Ipvs) => return Err(unsupported("IPVS")),
        None => detect(target, &mut budget),
    }
    .map_err(skip)?;
    match reading {
        Some(r) => Ok(r.programming),
        None => Err(RulesSkip {
            reason: RulesSkipReason::NoRules,
            detail: format!(
                "no kube-proxy rules in this network namespace ({})",
                q.mode.map_or("no mode given", |m| m.as_str())
            ),
            profile: None,
        }),
    }
}

fn unsupported(what: &str) -> RulesSkip {
    RulesSkip {
        reason: RulesSkipReason::Unsupported,
        detail: format!("{what} rules are not read yet"),
        profile: None,
    }
}

/// The mode from what exists: kube-proxy's nftables table first (kube-proxy removes the
/// other mode's rules when it starts), then the iptables backends.
fn detect(t: Target, budget: &mut Budget) -> Result<Option<Reading>, ReadError> {
    let mut nf = Netfilter::open()?;
    if nft_tables(&mut nf, family(t), budget)?
        .iter()
        .any(|n| n == "kube-proxy")
    {
        return nftables(t, budget);
    }
    iptables(t, budget)
}

fn nftables(t: Target, budget: &mut Budget) -> Result<Option<Reading>, ReadError> {
    let mut reader = NftReader {
        nf: Netfilter::open()?,
        family: family(t),
        budget,
    };
    kube::nftables(&mut reader, t).map(Some)
}

/// iptables mode: the nf_tables backend (`iptables-nft`, the default of current
/// distributions) when its nat table has `KUBE-SERVICES`.
fn iptables(t: Target, budget: &mut Budget) -> Result<Option<Reading>, ReadError> {
    let mut reader = NftReader {
        nf: Netfilter::open()?,
        family: family(t),
        budget,
    };
    kube::iptables(&mut reader, RuleSource::IptablesNft, t)
}

fn family(t: Target) -> u8 {
    if t.ip.is_ipv4() {
        NFPROTO_IPV4
    } else {
        NFPROTO_IPV6
    }
}

fn skip(e: ReadError) -> RulesSkip {
    let (reason, profile, detail) = match e {
        ReadError::NotPermitted(what) => (
            RulesSkipReason::NotPermitted,
            Some(DebugProfile::Netadmin),
            format!("{what}: not permitted (reading the node's rules needs CAP_NET_ADMIN)"),
        ),
        ReadError::NotFound => (RulesSkipReason::ReadFailed, None, "not found".into()),
        ReadError::TooLarge => (
            RulesSkipReason::TooLarge,
            None,
            format!("the rules read exceed {} MiB", MAX_READ_BYTES >> 20),
        ),
        ReadError::Deadline => (
            RulesSkipReason::Deadline,
            None,
            "the deadline passed while reading the rules".into(),
        ),
        ReadError::Malformed(what) => (
            RulesSkipReason::Unsupported,
            None,
            format!("the kernel's answer does not parse: {what}"),
        ),
        ReadError::Io(e) => (RulesSkipReason::ReadFailed, None, e.to_string()),
    };
    RulesSkip {
        reason,
        detail,
        profile,
    }
}

/// The names of the nf_tables tables of `family`.
fn nft_tables(
    nf: &mut Netfilter,
    family: u8,
    budget: &mut Budget,
) -> Result<Vec<String>, ReadError> {
    let mut names = Vec::new();
    nf.dump(NFT_MSG_GETTABLE, family, &[], budget, &mut |m| {
        names.extend(nft::table_name(m));
        Ok(())
    })?;
    Ok(names)
}

/// nf_tables over netlink, one dump per chain or set asked for.
struct NftReader<'b> {
    nf: Netfilter,
    family: u8,
    budget: &'b mut Budget,
}

impl Reader for NftReader<'_> {
    fn rules(
        &mut self,
        table: &str,
        chain: &str,
        keep: &dyn Fn(&Rule) -> bool,
    ) -> Result<Option<Vec<Rule>>, ReadError> {
        let (t, c) = (netlink::c_string(table), netlink::c_string(chain));
        let mut rules = Vec::new();
        let mut seen = 0usize;
        let dumped = self.nf.dump(
            NFT_MSG_GETRULE,
            self.family,
            &[(1, &t), (2, &c)],
            self.budget,
            &mut |m| {
                if let Some(r) = nft::decode_rule(m) {
                    // the kernel filters by table and chain; check anyway
                    if r.table == table && r.chain == chain {
                        seen += 1;
                        if keep(&r.rule) {
                            rules.push(r.rule);
                        }
                    }
                }
                Ok(())
            },
        );
        match dumped {
            Ok(()) => Ok((seen > 0).then_some(rules)),
            Err(ReadError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn elements(
        &mut self,
        table: &str,
        set: &str,
        keep: &dyn Fn(&Element) -> bool,
    ) -> Result<Vec<Element>, ReadError> {
        let (t, s) = (netlink::c_string(table), netlink::c_string(set));
        let mut elements = Vec::new();
        let dumped = self.nf.dump(
            NFT_MSG_GETSETELEM,
            self.family,
            &[(1, &t), (2, &s)],
            self.budget,
            &mut |m| {
                nft::decode_elements(m, &mut |e| {
                    if keep(&e) {
                        elements.push(e);
                    }
                });
                Ok(())
            },
        );
        match dumped {
            Ok(()) => Ok(elements),
            Err(ReadError::NotFound) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}
