//! This network namespace's TCP sockets, as the kernel's `sock_diag` netlink interface lists
//! them (what `ss` uses), with the bit of `tcp_info` that `hairpin` needs.
//!
//! Why not `/proc/net/tcp`: it lacks `tcp_info` (the MSS `hairpin` matches on), and every
//! read walks the kernel's whole established-socket hash, which pod namespaces share with
//! the node (262144 buckets here): 3.4 ms per file and read, against about 0.3 ms for a
//! netlink dump of the same table. Parsing is pure and tested on byte arrays; `dump` is the
//! only I/O.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Kernel ABI constants (linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h): the libc
/// crate does not export all of them.
const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const INET_DIAG_INFO: u16 = 2;
const NLMSG_HEADER_LEN: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, then the 48-byte sockid.
const REQUEST_LEN: usize = 56;
/// `struct inet_diag_msg`: family, state, timer, retrans, sockid (48), expires, rqueue,
/// wqueue, uid, inode.
const DIAG_MSG_LEN: usize = 72;
/// Offset of `tcpi_snd_mss` in `struct tcp_info`.
const TCPI_SND_MSS_OFFSET: usize = 16;
/// A dump answer that takes longer than this means something is wrong with the kernel side.
const RECV_TIMEOUT: Duration = Duration::from_secs(1);

/// TCP states (include/net/tcp_states.h) that `hairpin` asks for.
pub const ESTABLISHED: u8 = 1;
pub const SYN_RECV: u8 = 3;
pub const LISTEN: u8 = 10;
/// A request socket: SYN received, handshake not finished (`ss` shows it as SYN-RECV).
pub const NEW_SYN_RECV: u8 = 12;

/// One socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSocket {
    pub state: u8,
    /// An `AF_INET6` socket (a `[::]` listener and the connections it accepts, IPv4 ones
    /// included).
    pub ipv6: bool,
    /// IPv4-mapped IPv6 addresses (a v4 peer of a `[::]` listener) are given as IPv4.
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The MSS this socket sends with (`tcpi_snd_mss`), when the kernel reported `tcp_info`
    /// (full sockets only: not request or time-wait sockets).
    pub snd_mss: Option<u32>,
}

/// Which socket families to list. Each one costs a walk of the kernel's socket hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Families {
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Families {
    pub const BOTH: Families = Families {
        ipv4: true,
        ipv6: true,
    };
}

/// Lists this network namespace's TCP sockets of `families` in the states whose bits are
/// set in `states` (`1 << LISTEN | 1 << ESTABLISHED`, ...).
pub fn dump(families: Families, states: u32) -> io::Result<Vec<TcpSocket>> {
    let mut sockets = Vec::new();
    if families.ipv4 {
        sockets = dump_family(libc::AF_INET as u8, states)?;
    }
    if families.ipv6 {
        match dump_family(libc::AF_INET6 as u8, states) {
            Ok(v6) => sockets.extend(v6),
            // A kernel without IPv6 has no inet6 diag handler.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EAFNOSUPPORT)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sockets)
}

fn dump_family(family: u8, states: u32) -> io::Result<Vec<TcpSocket>> {
    let socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::DGRAM.cloexec(),
        Some(Protocol::from(NETLINK_SOCK_DIAG)),
    )?;
    socket.set_read_timeout(Some(RECV_TIMEOUT))?;
    (&socket).write_all(&request(family, states))?;
    let mut sockets = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = (&socket).read(&mut buffer)?;
        let chunk = buffer.get(..n).unwrap_or_default();
        if parse_chunk(chunk, &mut sockets)? {
            return Ok(sockets);
        }
    }
}

/// The dump request: `nlmsghdr` + `inet_diag_req_v2` asking for `tcp_info` too.
fn request(family: u8, states: u32) -> Vec<u8> {
    let len = (NLMSG_HEADER_LEN + REQUEST_LEN) as u32;
    let mut message = Vec::with_capacity(len as usize);
    message.extend_from_slice(&len.to_ne_bytes());
    message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    message.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    message.push(family);
    message.push(libc::IPPROTO_TCP as u8);
    message.push(1 << (INET_DIAG_INFO - 1)); // idiag_ext: tcp_info
    message.push(0);
    message.extend_from_slice(&states.to_ne_bytes());
    message.resize(len as usize, 0); // sockid: all zero, no filter
    message
}

/// Parses one datagram of a dump into `out`; true when it held the end of the dump.
pub(crate) fn parse_chunk(mut chunk: &[u8], out: &mut Vec<TcpSocket>) -> io::Result<bool> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag answer");
    while chunk.len() >= NLMSG_HEADER_LEN {
        let len = u32_at(chunk, 0).ok_or_else(bad)? as usize;
        let kind = u16::from_ne_bytes([chunk[4], chunk[5]]);
        let message = chunk.get(NLMSG_HEADER_LEN..len).ok_or_else(bad)?;
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                // `nlmsgerr.error` is a negated errno; i32::MIN has no positive (found by fuzzing).
                let errno = (u32_at(message, 0).ok_or_else(bad)? as i32).checked_neg();
                return Err(errno.map_or_else(bad, io::Error::from_raw_os_error));
            }
            SOCK_DIAG_BY_FAMILY => out.extend(parse_socket(message)),
            _ => {}
        }
        chunk = chunk.get(align4(len)..).unwrap_or_default();
    }
    Ok(false)
}

/// Parses an `inet_diag_msg` and its attributes; `None` if it is cut short.
pub fn parse_socket(message: &[u8]) -> Option<TcpSocket> {
    if message.len() < DIAG_MSG_LEN {
        return None;
    }
    let family = *message.first()?;
    let state = *message.get(1)?;
    let id = message.get(4..52)?;
    let sport = u16::from_be_bytes([id[0], id[1]]);
    let dport = u16::from_be_bytes([id[2], id[3]]);
    let address = |bytes: &[u8]| -> Option<IpAddr> {
        if i32::from(family) == libc::AF_INET {
            let octets: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(octets)))
        } else {
            let octets: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
            let v6 = Ipv6Addr::from(octets);
            Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
        }
    };
    let local = SocketAddr::new(address(&id[4..20])?, sport);
    let remote = SocketAddr::new(address(&id[20..36])?, dport);
    let mut snd_mss = None;
    let mut attributes = message.get(DIAG_MSG_LEN..).unwrap_or_default();
    while attributes.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attributes[0], attributes[1]]));
        let kind = u16::from_ne_bytes([attributes[2], attributes[3]]);
        if len < 4 {
            break;
        }
        if kind == INET_DIAG_INFO {
            let info = attributes.get(4..len)?;
            snd_mss = u32_at(info, TCPI_SND_MSS_OFFSET);
        }
        attributes = attributes.get(align4(len)..).unwrap_or_default();
    }
    Some(TcpSocket {
        state,
        ipv6: i32::from(family) == libc::AF_INET6,
        local,
        remote,
        snd_mss,
    })
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(offset..offset + 4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(word))
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `inet_diag_msg` as the kernel sends it, with an optional `tcp_info` attribute.
    fn diag_msg(v6: bool, state: u8, local: ([u8; 16], u16), remote: ([u8; 16], u16)) -> Vec<u8> {
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
        let mut m = vec![family, state, 0, 0];
        m.extend_from_slice(&local.1.to_be_bytes());
        m.extend_from_slice(&remote.1.to_be_bytes());
        m.extend_from_slice(&local.0);
        m.extend_from_slice(&remote.0);
        m.extend_from_slice(&[0; 12]); // interface, cookie
        m.extend_from_slice(&[0; 20]); // expires, rqueue, wqueue, uid, inode
        m
    }

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut b = [0; 16];
        b[..4].copy_from_slice(&a);
        b
    }

    fn with_info(mut m: Vec<u8>, snd_mss: u32) -> Vec<u8> {
        let mut info = vec![0u8; 104];
        info[16..20].copy_from_slice(&snd_mss.to_ne_bytes());
        m.extend_from_slice(&((4 + info.len()) as u16).to_ne_bytes());
        m.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        m.extend_from_slice(&info);
        m
    }

    #[test]
    fn parses_a_v4_socket_and_its_mss() {
        let m = with_info(
            diag_msg(
                false,
                ESTABLISHED,
                (v4([10, 244, 0, 5]), 9376),
                (v4([10, 244, 0, 1]), 53707),
            ),
            994,
        );
        let s = parse_socket(&m).unwrap();
        assert_eq!(s.state, ESTABLISHED);
        assert_eq!(s.local, "10.244.0.5:9376".parse().unwrap());
        assert_eq!(s.remote, "10.244.0.1:53707".parse().unwrap());
        assert_eq!(s.snd_mss, Some(994));
    }

    #[test]
    fn maps_v4_mapped_v6_to_v4_and_keeps_real_v6() {
        let mapped = Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0x0af4, 0x0005]).octets();
        let m = diag_msg(true, LISTEN, (mapped, 80), ([0; 16], 0));
        let s = parse_socket(&m).unwrap();
        assert_eq!(s.local, "10.244.0.5:80".parse().unwrap());
        assert_eq!(s.snd_mss, None);
        let real = "fd00::5".parse::<Ipv6Addr>().unwrap().octets();
        let s = parse_socket(&diag_msg(true, LISTEN, (real, 80), ([0; 16], 0))).unwrap();
        assert_eq!(s.local, "[fd00::5]:80".parse().unwrap());
    }

    #[test]
    fn short_or_garbled_input_is_none_or_an_error_never_a_panic() {
        let m = diag_msg(
            false,
            ESTABLISHED,
            (v4([1, 2, 3, 4]), 1),
            (v4([5, 6, 7, 8]), 2),
        );
        for cut in 0..m.len() {
            let _ = parse_socket(&m[..cut]);
        }
        assert!(parse_socket(&m[..40]).is_none());
        assert!(parse_socket(&m[..71]).is_none());
        let mut out = Vec::new();
        // a header claiming more bytes than there are
        let mut chunk = 100u32.to_ne_bytes().to_vec();
        chunk.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        chunk.extend_from_slice(&[0; 10]);
        assert!(parse_chunk(&chunk, &mut out).is_err());
        // an attribute with length 0 ends the walk
        let mut m = m.clone();
        m.extend_from_slice(&[0, 0, 2, 0]);
        assert_eq!(parse_socket(&m).unwrap().snd_mss, None);
    }

    #[test]
    fn done_and_error_messages() {
        let header = |kind: u16, extra: &[u8]| {
            let mut h = ((16 + extra.len()) as u32).to_ne_bytes().to_vec();
            h.extend_from_slice(&kind.to_ne_bytes());
            h.extend_from_slice(&[0; 10]);
            h.extend_from_slice(extra);
            h
        };
        let mut out = Vec::new();
        assert!(parse_chunk(&header(NLMSG_DONE, &[0; 4]), &mut out).unwrap());
        let err = parse_chunk(
            &header(NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes()),
            &mut out,
        );
        assert_eq!(err.unwrap_err().raw_os_error(), Some(libc::EPERM));
        let err = parse_chunk(&header(NLMSG_ERROR, &i32::MIN.to_ne_bytes()), &mut out);
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn request_is_well_formed() {
        let r = request(libc::AF_INET as u8, 1 << LISTEN);
        assert_eq!(r.len(), 72);
        assert_eq!(u32_at(&r, 0), Some(72));
        assert_eq!((r[16], r[17], r[18]), (libc::AF_INET as u8, 6, 2));
        assert_eq!(u32_at(&r, 20), Some(1 << LISTEN));
    }

    #[test]
    fn dumps_a_loopback_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sockets = dump(Families::BOTH, 1 << LISTEN).unwrap();
        assert!(
            sockets
                .iter()
                .any(|s| s.local.port() == port && s.state == LISTEN),
            "{sockets:?}"
        );
    }
}
