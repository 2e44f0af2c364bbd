//! iptables-legacy: the kernel's x_tables, read with the `IPT_SO_GET_INFO` and
//! `IPT_SO_GET_ENTRIES` socket options (what `iptables-legacy-save` does), and the table
//! blob decoded (pure, fuzzed): `ipt_entry`, its `xt_entry_match`es and its
//! `xt_entry_target`, laid out as linux/netfilter_ipv4/ip_tables.h says for this ABI.
//!
//! Only tables listed in `/proc/net/ip_tables_names` are asked for: asking for another one
//! would make the kernel create it, empty, in the node's namespace. IPv4 only.

use std::collections::HashMap;
use std::io;

use super::model::{self, Action, AddrMatch, Rule};
use super::netlink::ReadError;

const IPT_SO_GET_INFO: i32 = 64;
const IPT_SO_GET_ENTRIES: i32 = 65;
/// `struct ipt_getinfo`: name[32], valid_hooks, hook_entry[5], underflow[5], num_entries, size.
const GETINFO_LEN: usize = 84;
/// `struct ipt_get_entries` up to its entry table (aligned for the entries' u64 counters).
const GET_ENTRIES_HEADER: usize = 40;
/// `struct ipt_entry` before its matches.
const ENTRY_LEN: usize = 112;
/// `struct xt_entry_match` / `xt_entry_target` headers: size u16, name[29], revision.
const XT_HEADER: usize = 32;
const IPT_F_GOTO: u8 = 0x02;
const IPT_INV_SRCIP: u8 = 0x08;
const IPT_INV_DSTIP: u8 = 0x10;
const HOOKS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];
/// A legacy table larger than this is not read (kube-proxy's nat table with 50,000
/// endpoints is about 60 MiB: BENCHMARKS.md).
pub const MAX_TABLE_BYTES: usize = 192 << 20;

/// Where the kernel lists the legacy tables of this namespace, IPv4 and IPv6.
pub const IPV4_TABLES: &str = "/proc/thread-self/net/ip_tables_names";
pub const IPV6_TABLES: &str = "/proc/thread-self/net/ip6_tables_names";

/// The tables listed in `list` (none when the x_tables module is not loaded). The list is
/// readable by root only (0440): a non-root reader, whatever its capabilities, cannot tell
/// whether legacy tables exist, and is told so rather than shown none.
pub fn table_names(list: &str) -> Result<Vec<String>, ReadError> {
    match std::fs::read_to_string(list) {
        Ok(s) => Ok(s.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(ReadError::NeedsRoot(
            "the iptables-legacy table list (/proc/net/ip_tables_names) is readable by root only",
        )),
        Err(e) => Err(ReadError::Io(e)),
    }
}

/// Reads table `name`'s blob and the offsets of its built-in chains' first entries.
pub fn read_table(name: &str) -> Result<Table, ReadError> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM.cloexec(), None)
        .map_err(ReadError::Io)?;
    let mut info = [0u8; GETINFO_LEN];
    info[..name.len().min(31)].copy_from_slice(&name.as_bytes()[..name.len().min(31)]);
    // The table may change between the two calls (EAGAIN): try again, a few times.
    for _ in 0..3 {
        getsockopt(&socket, IPT_SO_GET_INFO, &mut info)?;
        let size = model::u32_ne(&info, 80).unwrap_or(0) as usize;
        if size > MAX_TABLE_BYTES {
            return Err(ReadError::TooLarge);
        }
        let hooks: Vec<(usize, &str)> = (0..5)
            .filter(|h| model::u32_ne(&info, 32).unwrap_or(0) & (1 << h) != 0)
            .filter_map(|h| Some((model::u32_ne(&info, 36 + 4 * h)? as usize, HOOKS[h])))
            .collect();
        let mut buffer = vec![0u8; GET_ENTRIES_HEADER + size];
        buffer[..32].copy_from_slice(&info[..32]);
        buffer[32..36].copy_from_slice(&(size as u32).to_ne_bytes());
        match getsockopt(&socket, IPT_SO_GET_ENTRIES, &mut buffer) {
            Err(ReadError::Io(e)) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
            r => r?,
        }
        buffer.drain(..GET_ENTRIES_HEADER);
        return Ok(Table::index(buffer, &hooks));
    }
    Err(ReadError::Io(io::Error::from_raw_os_error(libc::EAGAIN)))
}

fn getsockopt(socket: &socket2::Socket, option: i32, buffer: &mut [u8]) -> Result<(), ReadError> {
    use std::os::fd::AsRawFd;
    let mut len = buffer.len() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `buffer`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            option,
            buffer.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    Err(match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => ReadError::NotPermitted("iptables-legacy getsockopt"),
        Some(libc::ENOENT | libc::ENOPROTOOPT) => ReadError::NotFound,
        _ => ReadError::Io(e),
    })
}

/// A legacy table: its blob, and where each chain's entries are.
pub struct Table {
    blob: Vec<u8>,
    chains: HashMap<String, Vec<usize>>,
    /// The chain that starts at each offset (jump targets are offsets).
    starts: HashMap<usize, String>,
}

impl Table {
    /// The blob's size in bytes.
    pub fn bytes(&self) -> usize {
        self.blob.len()
    }

    /// Indexes `blob` (the entries as `IPT_SO_GET_ENTRIES` returns them); `hooks` are the
    /// built-in chains' first entries. User chains start after an `ERROR` entry naming them.
    pub fn index(blob: Vec<u8>, hooks: &[(usize, &str)]) -> Table {
        let mut starts: HashMap<usize, String> =
            hooks.iter().map(|(o, n)| (*o, n.to_string())).collect();
        let mut offsets = Vec::new();
        let mut at = 0usize;
        while let Some((target_offset, next)) = entry_bounds(&blob, at) {
            let target = blob.get(at + target_offset..at + next).unwrap_or_default();
            if xt_name(target) == "ERROR" {
                let name = model_string(target.get(XT_HEADER..).unwrap_or_default());
                if name != "ERROR" {
                    starts.insert(at + next, name);
                }
            } else {
                offsets.push(at);
            }
            at += next;
        }
        let mut chains: HashMap<String, Vec<usize>> = HashMap::new();
        let mut current: Option<String> = None;
        for o in offsets {
            if let Some(name) = starts.get(&o) {
                current = Some(name.clone());
            }
            if let Some(c) = &current {
                chains.entry(c.clone()).or_default().push(o);
            }
        }
        Table {
            blob,
            chains,
            starts,
        }
    }

    /// The names of its chains that hold rules.
    pub fn chain_names(&self) -> impl Iterator<Item = &str> {
        self.chains.keys().map(String::as_str)
    }

    /// The rules of `chain`, decoded; `None` when the table has no such chain.
    pub fn rules(&self, chain: &str) -> Option<Vec<Rule>> {
        let offsets = self.chains.get(chain)?;
        Some(
            offsets
                .iter()
                .filter_map(|&o| self.rule_at(o))
                // a user chain's closing, unconditional RETURN (iptables-save does not show it)
                .filter(|r| {
                    !(r.action == Action::Return
                        && *r
                            == Rule {
                                action: Action::Return,
                                ..Rule::default()
                            })
                })
                .collect(),
        )
    }

    fn rule_at(&self, at: usize) -> Option<Rule> {
        let (target_offset, next) = entry_bounds(&self.blob, at)?;
        let entry = self.blob.get(at..at + next)?;
        let mut rule = Rule::default();
        let inv = *entry.get(83)?;
        let flags = *entry.get(82)?;
        let addr = |a: usize, m: usize, negated: bool| -> Option<AddrMatch> {
            let mask = entry.get(m..m + 4)?;
            if mask.iter().all(|&b| b == 0) {
                return None;
            }
            Some(AddrMatch {
                addr: model::addr_from(entry.get(a..a + 4)?, false)?,
                prefix: model::mask_prefix(mask)?,
                negated,
            })
        };
        rule.saddr = addr(0, 8, inv & IPT_INV_SRCIP != 0);
        rule.daddr = addr(4, 12, inv & IPT_INV_DSTIP != 0);
        if entry.get(16..48).is_some_and(|i| i.iter().any(|&b| b != 0)) {
            rule.other.push("interface".into());
        }
        match model::u16_ne(entry, 80)? {
            0 => {}
            p if inv & 0x40 == 0 => rule.l4proto = u8::try_from(p).ok(),
            _ => rule.other.push("! -p".into()),
        }
        let mut m = ENTRY_LEN;
        while m + XT_HEADER <= target_offset {
            let size = usize::from(model::u16_ne(entry, m)?);
            let xt = entry.get(m..m + size.max(XT_HEADER))?;
            model::apply_match(
                &mut rule,
                &xt_name(xt),
                xt.get(XT_HEADER..).unwrap_or_default(),
            );
            if size < XT_HEADER {
                break;
            }
            m += size;
        }
        let target = entry.get(target_offset..)?;
        let name = xt_name(target);
        let data = target.get(XT_HEADER..).unwrap_or_default();
        rule.action = if name.is_empty() {
            self.standard(model::u32_ne(data, 0)? as i32, flags & IPT_F_GOTO != 0)
        } else {
            model::target_action(&name, *target.get(31)?, data, false)
        };
        Some(rule)
    }

    /// A standard target's verdict: a negative netfilter verdict, or the offset of the
    /// chain to jump to.
    fn standard(&self, verdict: i32, goto: bool) -> Action {
        match verdict {
            -1 => Action::Drop,
            -2 => Action::Accept,
            -5 => Action::Return,
            v if v >= 0 => match self.starts.get(&(v as usize)) {
                Some(c) if goto => Action::Goto(c.clone()),
                Some(c) => Action::Jump(c.clone()),
                None => Action::Other(format!("jump to offset {v}")),
            },
            v => Action::Other(format!("verdict {v}")),
        }
    }
}

/// An entry's (target_offset, next_offset), when they are sane.
fn entry_bounds(blob: &[u8], at: usize) -> Option<(usize, usize)> {
    let target_offset = usize::from(model::u16_ne(blob, at + 88)?);
    let next = usize::from(model::u16_ne(blob, at + 90)?);
    (target_offset >= ENTRY_LEN && next >= target_offset + XT_HEADER && at + next <= blob.len())
        .then_some((target_offset, next))
}

fn xt_name(xt: &[u8]) -> String {
    model_string(xt.get(2..31).unwrap_or_default())
}

fn model_string(bytes: &[u8]) -> String {
    let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an `ipt_entry` with `matches` (name, data) and a target (name, revision, data).
    pub fn entry(
        src: ([u8; 4], u8, bool),
        dst: ([u8; 4], u8, bool),
        proto: u16,
        matches: &[(&str, Vec<u8>)],
        target: (&str, u8, Vec<u8>),
        goto: bool,
    ) -> Vec<u8> {
        let mask = |p: u8| (u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0)).to_be_bytes();
        let mut e = vec![0u8; ENTRY_LEN];
        e[0..4].copy_from_slice(&src.0);
        e[4..8].copy_from_slice(&dst.0);
        e[8..12].copy_from_slice(&mask(src.1));
        e[12..16].copy_from_slice(&mask(dst.1));
        e[80..82].copy_from_slice(&proto.to_ne_bytes());
        e[82] = if goto { IPT_F_GOTO } else { 0 };
        e[83] = if src.2 { IPT_INV_SRCIP } else { 0 } | if dst.2 { IPT_INV_DSTIP } else { 0 };
        let xt = |name: &str, rev: u8, data: &[u8]| {
            let size = (XT_HEADER + data.len() + 7) & !7;
            let mut x = vec![0u8; size];
            x[0..2].copy_from_slice(&(size as u16).to_ne_bytes());
            x[2..2 + name.len()].copy_from_slice(name.as_bytes());
            x[31] = rev;
            x[XT_HEADER..XT_HEADER + data.len()].copy_from_slice(data);
            x
        };
        for (name, data) in matches {
            e.extend(xt(name, 0, data));
        }
        let target_offset = e.len() as u16;
        e.extend(xt(target.0, target.1, &target.2));
        let next = e.len() as u16;
        e[88..90].copy_from_slice(&target_offset.to_ne_bytes());
        e[90..92].copy_from_slice(&next.to_ne_bytes());
        e
    }

    const ANY: ([u8; 4], u8, bool) = ([0; 4], 0, false);

    pub fn error_entry(chain: &str) -> Vec<u8> {
        let mut name = chain.as_bytes().to_vec();
        name.resize(32, 0);
        entry(ANY, ANY, 0, &[], ("ERROR", 0, name), false)
    }

    pub fn standard(verdict: i32, goto: bool) -> Vec<u8> {
        entry(
            ANY,
            ANY,
            0,
            &[],
            ("", 0, verdict.to_ne_bytes().to_vec()),
            goto,
        )
    }

    #[test]
    fn a_kube_proxy_nat_table() {
        // PREROUTING: -j KUBE-SERVICES; policy ACCEPT. KUBE-SERVICES: -d VIP -p tcp --dport 80
        // -j KUBE-SVC-X; RETURN. KUBE-SVC-X: statistic 0.5 -j KUBE-SEP-A ... built by offsets.
        let mut tcp = vec![0u8; 12];
        tcp[0..4].copy_from_slice(&[0, 0, 0xff, 0xff]);
        tcp[4..6].copy_from_slice(&80u16.to_ne_bytes());
        tcp[6..8].copy_from_slice(&80u16.to_ne_bytes());
        let mut stat = vec![0u8; 24];
        stat[4..8].copy_from_slice(&0x4000_0000u32.to_ne_bytes());
        let mut dnat = vec![0u8; 44];
        dnat[0..4].copy_from_slice(&3u32.to_ne_bytes());
        dnat[4..8].copy_from_slice(&[10, 244, 0, 5]);
        dnat[36..38].copy_from_slice(&9376u16.to_be_bytes());

        let jump_placeholder = standard(0, false);
        let mut blob = Vec::new();
        let prerouting_jump = blob.len();
        blob.extend(&jump_placeholder); // -> KUBE-SERVICES (patched below)
        blob.extend(standard(-2, false)); // policy ACCEPT
        blob.extend(error_entry("KUBE-SERVICES"));
        let services = blob.len();
        let svc_jump = blob.len();
        blob.extend(entry(
            ANY,
            ([10, 0, 1, 175], 32, false),
            6,
            &[("tcp", tcp)],
            ("", 0, vec![0; 4]),
            false,
        ));
        blob.extend(standard(-5, false));
        blob.extend(error_entry("KUBE-SVC-X"));
        let svc = blob.len();
        blob.extend(entry(
            ANY,
            ANY,
            0,
            &[("statistic", stat)],
            ("", 0, vec![0; 4]),
            true,
        ));
        let stat_jump = svc;
        blob.extend(standard(-5, false));
        blob.extend(error_entry("KUBE-SEP-A"));
        let sep = blob.len();
        blob.extend(entry(
            ([10, 244, 0, 5], 32, false),
            ANY,
            0,
            &[],
            ("MARK", 2, vec![0; 8]),
            false,
        ));
        blob.extend(entry(ANY, ANY, 6, &[], ("DNAT", 2, dnat), false));
        blob.extend(standard(-5, false));
        blob.extend(error_entry("ERROR"));
        let patch = |blob: &mut Vec<u8>, at: usize, to: usize| {
            let t = usize::from(model::u16_ne(blob, at + 88).unwrap());
            blob[at + t + XT_HEADER..at + t + XT_HEADER + 4]
                .copy_from_slice(&(to as i32).to_ne_bytes());
        };
        patch(&mut blob, prerouting_jump, services);
        patch(&mut blob, svc_jump, svc);
        patch(&mut blob, stat_jump, sep);

        let table = Table::index(blob.clone(), &[(0, "PREROUTING")]);
        let pre = table.rules("PREROUTING").unwrap();
        assert_eq!(pre[0].action, Action::Jump("KUBE-SERVICES".into()));
        assert_eq!(pre[1].action, Action::Accept);
        let s = table.rules("KUBE-SERVICES").unwrap();
        assert_eq!(s.len(), 1, "the closing RETURN is left out: {s:?}");
        assert!(s[0].matches_service("10.0.1.175".parse().unwrap(), 6, 80));
        assert_eq!(s[0].action, Action::Jump("KUBE-SVC-X".into()));
        let v = table.rules("KUBE-SVC-X").unwrap();
        assert_eq!(
            (v[0].probability, &v[0].action),
            (Some(0.5), &Action::Goto("KUBE-SEP-A".into()))
        );
        let e = table.rules("KUBE-SEP-A").unwrap();
        assert!(e[0].saddr.unwrap().is_host("10.244.0.5".parse().unwrap()));
        assert_eq!(
            e[1].action,
            Action::Dnat {
                addr: "10.244.0.5".parse().unwrap(),
                port: Some(9376)
            }
        );
        assert!(table.rules("KUBE-NOPE").is_none());
        // any cut of the blob indexes and decodes without a panic
        for cut in (0..blob.len()).step_by(7) {
            let t = Table::index(blob[..cut].to_vec(), &[(0, "PREROUTING")]);
            for c in ["PREROUTING", "KUBE-SERVICES", "KUBE-SVC-X", "KUBE-SEP-A"] {
                let _ = t.rules(c);
            }
        }
    }
}
