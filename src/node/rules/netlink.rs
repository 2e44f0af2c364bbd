//! nfnetlink for nf_tables: dump requests over a `NETLINK_NETFILTER` socket, read under a
//! deadline and a byte budget, and the netlink framing and attribute walk (pure, fuzzed).
//!
//! Every nf_tables read needs `CAP_NET_ADMIN` (nfnetlink checks it for each message), so a
//! pod without it gets `EPERM` in the dump's first answer.

use std::io;
use std::mem::MaybeUninit;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_HEADER_LEN: usize = 16;
/// `NLA_F_NESTED | NLA_F_NET_BYTEORDER`: flags in an attribute's type.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// The kernel sends dump datagrams of at most 32 KiB; more room costs nothing.
const RECV_BUFFER: usize = 64 * 1024;

/// nf_tables message types (linux/netfilter/nf_tables.h, `enum nft_msg_types`).
pub const NFT_MSG_GETTABLE: u16 = 1;
pub const NFT_MSG_GETRULE: u16 = 7;
pub const NFT_MSG_GETSETELEM: u16 = 13;

/// Why a kernel read failed.
#[derive(Debug)]
pub enum ReadError {
    /// `EPERM`: no `CAP_NET_ADMIN`.
    NotPermitted(&'static str),
    /// A file only root may read (what, and why it matters).
    NeedsRoot(&'static str),
    /// `ENOENT`: the table, chain or set does not exist.
    NotFound,
    /// More bytes than the reader's budget.
    TooLarge,
    Deadline,
    /// The kernel's answer does not parse.
    Malformed(&'static str),
    Io(io::Error),
}

impl ReadError {
    fn from_errno(errno: i32, what: &'static str) -> ReadError {
        match errno {
            libc::EPERM | libc::EACCES => ReadError::NotPermitted(what),
            libc::ENOENT => ReadError::NotFound,
            e => ReadError::Io(io::Error::from_raw_os_error(e)),
        }
    }
}

/// What all the dumps of one read may take, in bytes: 10,000 Services and 50,000
/// endpoints stay far below it (BENCHMARKS.md), a runaway kernel answer does not.
pub struct Budget {
    pub bytes_left: usize,
    pub deadline: Instant,
}

/// An nfnetlink socket for nf_tables dumps.
pub struct Netfilter {
    socket: Socket,
    seq: u32,
}

impl Netfilter {
    pub fn open() -> Result<Netfilter, ReadError> {
        let socket = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::RAW.cloexec(),
            Some(Protocol::from(NETLINK_NETFILTER)),
        )
        .map_err(|e| match e.raw_os_error() {
            Some(errno) => ReadError::from_errno(errno, "netlink socket"),
            None => ReadError::Io(e),
        })?;
        Ok(Netfilter { socket, seq: 0 })
    }

    /// Sends one dump request (`msg`, nf_tables `family`, `attrs` as (type, payload)) and
    /// hands each answer message's payload (from the `nfgenmsg` on) to `on_message`.
    pub fn dump(
        &mut self,
        msg: u16,
        family: u8,
        attrs: &[(u16, &[u8])],
        budget: &mut Budget,
        on_message: &mut dyn FnMut(&[u8]) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        self.seq = self.seq.wrapping_add(1);
        let request = request(msg, family, self.seq, attrs);
        self.socket.send(&request).map_err(ReadError::Io)?;
        let mut buffer = vec![MaybeUninit::<u8>::uninit(); RECV_BUFFER];
        loop {
            let left = budget
                .deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(ReadError::Deadline)?;
            self.socket
                .set_read_timeout(Some(left))
                .map_err(ReadError::Io)?;
            let n = match self.socket.recv_with_flags(&mut buffer, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(ReadError::Deadline),
                Err(e) => return Err(ReadError::Io(e)),
            };
            if n > buffer.len() {
                return Err(ReadError::Malformed(
                    "netlink datagram larger than the buffer",
                ));
            }
            budget.bytes_left = budget
                .bytes_left
                .checked_sub(n)
                .ok_or(ReadError::TooLarge)?;
            // SAFETY: recv initialized the first n bytes.
            let chunk: &[u8] = unsafe { std::slice::from_raw_parts(buffer.as_ptr().cast(), n) };
            if parse_datagram(chunk, self.seq, on_message)? {
                return Ok(());
            }
        }
    }
}

/// A dump request: `nlmsghdr`, `nfgenmsg` (family, version 0, resource id 0), attributes.
pub fn request(msg: u16, family: u8, seq: u32, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = vec![0u8; NLMSG_HEADER_LEN];
    m.extend_from_slice(&[family, 0, 0, 0]);
    for (kind, payload) in attrs {
        let len = 4 + payload.len();
        m.extend_from_slice(&(len as u16).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize(align4(m.len()), 0);
    }
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m[4..6].copy_from_slice(&(NFNL_SUBSYS_NFTABLES << 8 | msg).to_ne_bytes());
    m[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m
}

/// A NUL-terminated string attribute payload, as the kernel wants names.
pub fn c_string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Walks one datagram of a dump answer; true when it held the end of the dump. Messages of
/// another sequence number (a late answer to an earlier request) are skipped.
pub fn parse_datagram(
    mut chunk: &[u8],
    seq: u32,
    on_message: &mut dyn FnMut(&[u8]) -> Result<(), ReadError>,
) -> Result<bool, ReadError> {
    let bad = ReadError::Malformed;
    while chunk.len() >= NLMSG_HEADER_LEN {
        let len = u32_ne(chunk, 0).ok_or(bad("netlink header"))? as usize;
        let kind = u16::from_ne_bytes([chunk[4], chunk[5]]);
        let message_seq = u32_ne(chunk, 8).ok_or(bad("netlink header"))?;
        let payload = chunk
            .get(NLMSG_HEADER_LEN..len)
            .ok_or(bad("netlink message length"))?;
        if message_seq == seq {
            match kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let errno = u32_ne(payload, 0).ok_or(bad("netlink error"))? as i32;
                    if errno == 0 {
                        return Ok(true);
                    }
                    let errno = errno.checked_neg().ok_or(bad("netlink error"))?;
                    return Err(ReadError::from_errno(errno, "nf_tables dump"));
                }
                k if k >> 8 == NFNL_SUBSYS_NFTABLES => on_message(payload)?,
                _ => {}
            }
        }
        chunk = chunk.get(align4(len)..).unwrap_or_default();
    }
    Ok(false)
}

/// The attributes of a netlink payload: (type without flags, payload). Stops at the first
/// one that does not fit.
pub fn attrs(bytes: &[u8]) -> Attrs<'_> {
    Attrs { rest: bytes }
}

pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let header = self.rest.get(..4)?;
        let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let kind = u16::from_ne_bytes([header[2], header[3]]) & NLA_TYPE_MASK;
        let payload = self.rest.get(4..len.max(4));
        self.rest = self.rest.get(align4(len.max(4))..).unwrap_or_default();
        match payload {
            Some(p) if len >= 4 => Some((kind, p)),
            _ => {
                self.rest = &[];
                None
            }
        }
    }
}

/// The payload of the first attribute of type `kind`.
pub fn find(bytes: &[u8], kind: u16) -> Option<&[u8]> {
    attrs(bytes).find(|(k, _)| *k == kind).map(|(_, p)| p)
}

/// A big-endian u32 attribute (nf_tables sends its numbers in network order).
pub fn be32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// A NUL-terminated (or unterminated) string attribute.
pub fn string(bytes: &[u8]) -> String {
    let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

fn u32_ne(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(payload);
        m.resize(align4(m.len()), 0);
        m
    }

    #[test]
    fn request_layout() {
        let r = request(
            NFT_MSG_GETRULE,
            2,
            7,
            &[(1, b"nat\0"), (2, b"KUBE-SERVICES\0")],
        );
        assert_eq!(u32_ne(&r, 0), Some(r.len() as u32));
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), 10 << 8 | 7);
        assert_eq!(r[16], 2);
        let attrs: Vec<_> = attrs(&r[20..]).collect();
        assert_eq!(attrs, [(1, &b"nat\0"[..]), (2, &b"KUBE-SERVICES\0"[..])]);
    }

    #[test]
    fn datagram_messages_done_and_errors() {
        let mut seen = Vec::new();
        let mut chunk = message(10 << 8 | 6, 5, &[2, 0, 0, 0, 9]);
        chunk.extend(message(10 << 8 | 6, 4, &[1])); // another request's answer
        chunk.extend(message(NLMSG_DONE, 5, &[0; 4]));
        let done = parse_datagram(&chunk, 5, &mut |m| {
            seen.push(m.to_vec());
            Ok(())
        })
        .unwrap();
        assert!(done);
        assert_eq!(seen, [vec![2, 0, 0, 0, 9]]);
        let eperm = message(NLMSG_ERROR, 5, &(-libc::EPERM).to_ne_bytes());
        assert!(matches!(
            parse_datagram(&eperm, 5, &mut |_| Ok(())),
            Err(ReadError::NotPermitted(_))
        ));
        let min = message(NLMSG_ERROR, 5, &i32::MIN.to_ne_bytes());
        assert!(matches!(
            parse_datagram(&min, 5, &mut |_| Ok(())),
            Err(ReadError::Malformed(_))
        ));
        let mut cut = message(10 << 8 | 6, 5, &[0; 8]);
        cut[0] = 200;
        assert!(parse_datagram(&cut, 5, &mut |_| Ok(())).is_err());
    }

    #[test]
    fn attribute_walk_stops_at_bad_lengths() {
        let bytes = [8, 0, 1, 0x80, 1, 2, 3, 4, 2, 0, 2, 0];
        let got: Vec<_> = attrs(&bytes).collect();
        assert_eq!(got, [(1, &[1, 2, 3, 4][..])]);
        assert_eq!(attrs(&[200, 0, 1, 0, 1]).count(), 0);
        assert_eq!(string(b"nat\0junk"), "nat");
        assert_eq!(be32(&[0, 0, 1, 0]), Some(256));
    }

    #[test]
    fn dumps_the_tables_of_a_fresh_namespace_or_is_refused() {
        // Runs in the test process's namespace: only reads, and only table names.
        let mut nf = Netfilter::open().unwrap();
        let mut budget = Budget {
            bytes_left: 1 << 20,
            deadline: Instant::now() + std::time::Duration::from_secs(2),
        };
        let r = nf.dump(NFT_MSG_GETTABLE, 0, &[], &mut budget, &mut |_| Ok(()));
        assert!(
            matches!(r, Ok(()) | Err(ReadError::NotPermitted(_))),
            "{r:?}"
        );
    }
}
