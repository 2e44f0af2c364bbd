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

pub mod ipvs;
pub mod kube;
pub mod legacy;
pub mod model;
pub mod netlink;
pub mod nft;
pub mod save;
pub mod spawn;

use std::collections::HashMap;
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
        Some(ProxyMode::Nftables) => nftables(target, &mut budget).map(Some),
        Some(ProxyMode::Iptables) => iptables(q, target, &mut budget),
        Some(ProxyMode::Ipvs) => ipvs(q, target).map(Some),
        None => detect(q, target, &mut budget),
    }
    .map_err(skip)?;
    match reading {
        Some(r) => Ok(r.programming),
        None => Err(RulesSkip {
            reason: RulesSkipReason::NoRules,
            detail: format!(
                "no kube-proxy rules in this network namespace ({})",
                q.mode.map_or("looked for every mode", |m| m.as_str())
            ),
            profile: None,
        }),
    }
}

/// The mode from what exists: kube-proxy's nftables table first (kube-proxy removes the
/// other modes' rules when it starts), then the iptables backends, then IPVS.
fn detect(q: &RulesQuery, t: Target, budget: &mut Budget) -> Result<Option<Reading>, ReadError> {
    let mut nf = Netfilter::open()?;
    if nft_tables(&mut nf, family(t), budget)?
        .iter()
        .any(|n| n == "kube-proxy")
    {
        return nftables(t, budget).map(Some);
    }
    if let Some(reading) = iptables(q, t, budget)? {
        return Ok(Some(reading));
    }
    match std::fs::metadata(IPVS_TABLE) {
        Ok(_) => ipvs(q, t).map(|r| r.programming.service_rule.then_some(r)),
        Err(_) => Ok(None),
    }
}

fn nftables(t: Target, budget: &mut Budget) -> Result<Reading, ReadError> {
    let mut reader = NftReader {
        nf: Netfilter::open()?,
        family: family(t),
        budget,
    };
    kube::nftables(&mut reader, t)
}

/// iptables mode, from whichever backend holds kube-proxy's `KUBE-SERVICES`: nf_tables
/// (`iptables-nft`, the default of current distributions) or the legacy x_tables. When the
/// kernel's encoding held something this reader does not decode and the host root has the
/// backend's own `iptables-save`, that reads it instead.
fn iptables(q: &RulesQuery, t: Target, budget: &mut Budget) -> Result<Option<Reading>, ReadError> {
    let nft = {
        let mut reader = NftReader {
            nf: Netfilter::open()?,
            family: family(t),
            budget: &mut *budget,
        };
        kube::iptables(&mut reader, RuleSource::IptablesNft, t)?
    };
    let listed = legacy::table_names(if t.ip.is_ipv4() {
        legacy::IPV4_TABLES
    } else {
        legacy::IPV6_TABLES
    });
    let legacy_names = match (listed, &nft) {
        (Ok(names), _) => names,
        // iptables-nft holds kube-proxy's rules: what legacy holds does not change the reading
        (Err(ReadError::NeedsRoot(_)), Some(_)) => Vec::new(),
        (Err(e), _) => return Err(e),
    };
    let legacy = if !legacy_names.iter().any(|n| n == "nat") {
        None
    } else if t.ip.is_ipv4() {
        let mut reader = LegacyReader {
            names: legacy_names,
            tables: HashMap::new(),
            budget: &mut *budget,
        };
        kube::iptables(&mut reader, RuleSource::IptablesLegacy, t)?
    } else {
        // ip6tables-legacy is not decoded here: only its own save can read it
        saved(q, "ip6tables-legacy-save", t)?
    };
    let mut chosen = match (nft, legacy) {
        (Some(n), Some(l)) => {
            let (mut keep, other) = if l.programming.service_rule && !n.programming.service_rule {
                (l, n)
            } else {
                (n, l)
            };
            keep.programming.evidence.push(format!(
                "both iptables backends hold KUBE-SERVICES: read {}, not {}",
                keep.programming.source, other.programming.source
            ));
            keep
        }
        (Some(r), None) | (None, Some(r)) => r,
        (None, None) => return Ok(None),
    };
    if chosen.undecoded {
        let save = match (chosen.programming.source, t.ip.is_ipv4()) {
            (RuleSource::IptablesLegacy, _) => "iptables-legacy-save",
            (_, true) => "iptables-nft-save",
            (_, false) => "ip6tables-nft-save",
        };
        if let Some(better) = saved(q, save, t)? {
            let from = chosen.programming.source;
            chosen = better;
            chosen.programming.evidence.push(format!(
                "the {from} rules held what the kernel reader does not decode: read with the node's {save}"
            ));
        }
    }
    Ok(Some(chosen))
}

/// The query read with the node's own `program` (`iptables-nft-save`,
/// `iptables-legacy-save`, ...) run inside `q.host_root`; `None` when the host root does not
/// have it or its rules have no `KUBE-SERVICES`. The fallback of [`read_service`], and the
/// tests' oracle for the kernel readers.
pub fn read_with_save(
    q: &RulesQuery,
    program: &str,
) -> Result<Option<ServiceProgramming>, RulesSkip> {
    let t = Target {
        ip: q.cluster_ip,
        l4proto: q.protocol.number(),
        port: q.port,
    };
    saved(q, program, t)
        .map(|r| r.map(|r| r.programming))
        .map_err(skip)
}

fn saved(q: &RulesQuery, program: &str, t: Target) -> Result<Option<Reading>, ReadError> {
    let Some(path) = save::find(q.host_root, program) else {
        return Ok(None);
    };
    let mut saved = save::run(q.host_root, &path, q.deadline)?;
    kube::iptables(&mut saved, RuleSource::IptablesSave, t).map(|r| {
        r.map(|mut r| {
            r.programming.evidence.push(format!(
                "read with {} under {}",
                path.display(),
                q.host_root.display()
            ));
            r
        })
    })
}

/// `/proc/net/ip_vs` of the calling thread's network namespace (`/proc/net` is the main
/// thread's).
const IPVS_TABLE: &str = "/proc/thread-self/net/ip_vs";

fn ipvs(q: &RulesQuery, t: Target) -> Result<Reading, ReadError> {
    use std::io::Read;
    if Instant::now() >= q.deadline {
        return Err(ReadError::Deadline);
    }
    let mut text = String::new();
    std::fs::File::open(IPVS_TABLE)
        .and_then(|f| f.take(ipvs::MAX_BYTES).read_to_string(&mut text))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::Io(std::io::Error::new(
                e.kind(),
                format!("{IPVS_TABLE}: this kernel has no IPVS"),
            )),
            _ => ReadError::Io(e),
        })?;
    let protocol = q.protocol.as_str().to_ascii_uppercase();
    Ok(Reading {
        programming: ipvs::programming(&text, &protocol, std::net::SocketAddr::new(t.ip, t.port)),
        undecoded: false,
    })
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
        ReadError::NeedsRoot(what) => (
            RulesSkipReason::NotPermitted,
            Some(DebugProfile::Sysadmin),
            format!("{what}: run as root"),
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

/// iptables-legacy through its socket options, one table blob per table asked for.
struct LegacyReader<'b> {
    names: Vec<String>,
    tables: HashMap<String, legacy::Table>,
    budget: &'b mut Budget,
}

impl Reader for LegacyReader<'_> {
    fn rules(
        &mut self,
        table: &str,
        chain: &str,
        keep: &dyn Fn(&Rule) -> bool,
    ) -> Result<Option<Vec<Rule>>, ReadError> {
        if !self.names.iter().any(|n| n == table) {
            return Ok(None);
        }
        if !self.tables.contains_key(table) {
            if Instant::now() >= self.budget.deadline {
                return Err(ReadError::Deadline);
            }
            let read = legacy::read_table(table)?;
            self.budget.bytes_left = self
                .budget
                .bytes_left
                .checked_sub(read.bytes())
                .ok_or(ReadError::TooLarge)?;
            self.tables.insert(table.to_string(), read);
        }
        Ok(self
            .tables
            .get(table)
            .and_then(|t| t.rules(chain))
            .map(|rules| rules.into_iter().filter(|r| keep(r)).collect()))
    }
}
