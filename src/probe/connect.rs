//! TCP connects under a deadline, and what exactly happened when one fails.
//!
//! "Connection refused" hides two different stories in a cluster: a TCP RST from the pod
//! (nothing listens on the targetPort) and an ICMP port-unreachable from the node
//! (kube-proxy's REJECT for a Service without endpoints). The socket API reports both as
//! ECONNREFUSED; only the socket's error queue (`IP_RECVERR`) tells them apart and names
//! the host that sent the ICMP. So every connect here enables `IP_RECVERR` and, when it
//! fails, reads the queue with `recvmsg(MSG_ERRQUEUE)`.

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::report::TcpOutcome;

/// An ICMP error read from the socket's error queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Icmp {
    /// The host that sent the ICMP message (the "offender").
    pub from: IpAddr,
    pub icmp_type: u8,
    pub code: u8,
    /// The errno the kernel derived from it.
    pub errno: i32,
}

impl Icmp {
    /// `port-unreachable`, `host-unreachable`, `admin-prohibited`, ...
    pub fn describe(&self) -> &'static str {
        match (self.from.is_ipv4(), self.icmp_type, self.code) {
            (true, 3, 0) => "net-unreachable",
            (true, 3, 1) => "host-unreachable",
            (true, 3, 2) => "protocol-unreachable",
            (true, 3, 3) => "port-unreachable",
            (true, 3, 4) => "fragmentation-needed",
            (true, 3, 6 | 7) => "destination-unknown",
            (true, 3, 9) => "net-prohibited",
            (true, 3, 10) => "host-prohibited",
            (true, 3, 13) => "admin-prohibited",
            (true, 3, _) => "unreachable",
            (true, 11, _) => "time-exceeded",
            (false, 1, 0) => "no-route",
            (false, 1, 1) => "admin-prohibited",
            (false, 1, 3) => "address-unreachable",
            (false, 1, 4) => "port-unreachable",
            (false, 1, 5 | 6) => "policy-reject",
            (false, 1, _) => "unreachable",
            (false, 3, _) => "time-exceeded",
            _ => "other",
        }
    }
}

/// How a failed connect failed.
#[derive(Debug)]
pub struct Failure {
    pub outcome: TcpOutcome,
    pub elapsed: Duration,
    /// The local address the attempt used, when the kernel had picked one.
    pub local: Option<SocketAddr>,
    /// Set for [`TcpOutcome::Rejected`] (and for a locally generated unreachable).
    pub icmp: Option<Icmp>,
    pub error: io::Error,
}

/// A connected stream and how long the handshake took.
#[derive(Debug)]
pub struct Connected {
    pub stream: TcpStream,
    pub elapsed: Duration,
    pub local: Option<SocketAddr>,
}

/// Connects to `addr` (from `source` if given) within `timeout`, classifying failures.
/// The returned stream is blocking and has `IP_RECVERR` turned off again, so that it
/// behaves like any other TCP stream (soft ICMP errors do not abort a connection).
pub fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
) -> Result<Connected, Failure> {
    connect_with(addr, source, timeout, |_| Ok(()))
}

/// [`connect`], with `configure` applied to the socket before the SYN is sent (socket
/// options such as `hairpin`'s MSS tag).
pub fn connect_with(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
    configure: impl FnOnce(&Socket) -> io::Result<()>,
) -> Result<Connected, Failure> {
    let start = Instant::now();
    let fail = |outcome, local, error| Failure {
        outcome,
        elapsed: start.elapsed(),
        local,
        icmp: None,
        error,
    };
    let socket = match open(addr, source).and_then(|s| configure(&s).map(|()| s)) {
        Ok(s) => s,
        Err(e) => return Err(fail(TcpOutcome::Error, None, e)),
    };
    let result =
        socket
            .set_nonblocking(true)
            .and_then(|()| match socket.connect(&SockAddr::from(addr)) {
                Ok(()) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(()),
                Err(e) => Err(e),
            });
    // Read while the connect is in flight: a failed socket may lose its bound address.
    let local = socket.local_addr().ok().and_then(|a| a.as_socket());
    let result = result.and_then(|()| wait_connected(&socket, start + timeout));
    match result {
        Ok(()) => {
            let elapsed = start.elapsed();
            let done = socket
                .set_nonblocking(false)
                .and_then(|()| set_recverr(&socket, addr, false));
            match done {
                Ok(()) => Ok(Connected {
                    stream: socket.into(),
                    elapsed,
                    local,
                }),
                Err(e) => Err(fail(TcpOutcome::Error, local, e)),
            }
        }
        Err(error) => {
            let icmp = read_error_queue(&socket);
            Err(classify(error, icmp, local, start.elapsed()))
        }
    }
}

fn open(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    set_recverr(&socket, addr, true)?;
    if let Some(ip) = source {
        socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    Ok(socket)
}

/// Waits for a non-blocking connect to finish; `TimedOut` when `deadline` passes first.
fn wait_connected(socket: &Socket, deadline: Instant) -> io::Result<()> {
    let mut pollfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd, count 1.
        let n = unsafe { libc::poll(&mut pollfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            continue;
        }
        return match socket.take_error()? {
            Some(e) => Err(e),
            None if pollfd.revents & (libc::POLLERR | libc::POLLHUP) != 0 => {
                Err(io::Error::other("connection failed without an error code"))
            }
            None => Ok(()),
        };
    }
}

fn classify(
    error: io::Error,
    icmp: Option<Icmp>,
    local: Option<SocketAddr>,
    elapsed: Duration,
) -> Failure {
    let errno = error.raw_os_error();
    // An ICMP this host sent itself (a failed neighbour lookup) is not a remote rejection.
    let remote_icmp = icmp
        .as_ref()
        .is_some_and(|i| local.is_none_or(|l| l.ip() != i.from));
    let outcome = if error.kind() == io::ErrorKind::TimedOut {
        TcpOutcome::Timeout
    } else if remote_icmp {
        TcpOutcome::Rejected
    } else {
        match errno {
            Some(libc::ECONNREFUSED) => TcpOutcome::Refused,
            Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ENETDOWN) => TcpOutcome::NoRoute,
            Some(libc::ETIMEDOUT) => TcpOutcome::Timeout,
            _ => TcpOutcome::Error,
        }
    };
    Failure {
        outcome,
        elapsed,
        local,
        icmp,
        error,
    }
}

pub(crate) fn set_recverr(socket: &Socket, addr: SocketAddr, on: bool) -> io::Result<()> {
    let (level, name) = match addr {
        SocketAddr::V4(_) => (libc::SOL_IP, libc::IP_RECVERR),
        SocketAddr::V6(_) => (libc::SOL_IPV6, libc::IPV6_RECVERR),
    };
    let value: libc::c_int = on.into();
    // SAFETY: a valid fd and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Drains the socket's error queue and returns the last ICMP error in it, if any.
pub(crate) fn read_error_queue(socket: &Socket) -> Option<Icmp> {
    let mut found = None;
    // A SYN's retransmits can each draw an ICMP; the queue is short, but stay bounded.
    for _ in 0..8 {
        let mut data = [0u8; 64];
        let mut control = [0u64; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control) as _;
        // SAFETY: msg points at live buffers of the sizes it states.
        let n = unsafe {
            libc::recvmsg(
                socket.as_raw_fd(),
                &mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            break;
        }
        // SAFETY: the CMSG_* macros walk the control buffer the kernel just filled and
        // never past msg_controllen.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let header = &*cmsg;
                let is_recverr = (header.cmsg_level == libc::SOL_IP
                    && header.cmsg_type == libc::IP_RECVERR)
                    || (header.cmsg_level == libc::SOL_IPV6
                        && header.cmsg_type == libc::IPV6_RECVERR);
                if is_recverr {
                    let start = libc::CMSG_DATA(cmsg);
                    let len = (header.cmsg_len as usize)
                        .saturating_sub(start.offset_from(cmsg.cast::<u8>()) as usize);
                    let bytes = std::slice::from_raw_parts(start, len);
                    if let Some(icmp) = parse_extended_err(bytes) {
                        found = Some(icmp);
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
    found
}

const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;
/// `struct sock_extended_err`: errno u32, origin u8, type u8, code u8, pad u8, info u32,
/// data u32; the offender's sockaddr follows it.
const EXTENDED_ERR_LEN: usize = 16;

/// Parses a `sock_extended_err` and the offender address after it (pure, for tests).
pub fn parse_extended_err(bytes: &[u8]) -> Option<Icmp> {
    let errno = u32::from_ne_bytes(bytes.get(0..4)?.try_into().ok()?);
    let origin = *bytes.get(4)?;
    if origin != SO_EE_ORIGIN_ICMP && origin != SO_EE_ORIGIN_ICMP6 {
        return None;
    }
    let icmp_type = *bytes.get(5)?;
    let code = *bytes.get(6)?;
    let offender = bytes.get(EXTENDED_ERR_LEN..)?;
    let family = i32::from(u16::from_ne_bytes(offender.get(0..2)?.try_into().ok()?));
    let from = match family {
        libc::AF_INET => {
            let octets: [u8; 4] = offender.get(4..8)?.try_into().ok()?;
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        libc::AF_INET6 => {
            let octets: [u8; 16] = offender.get(8..24)?.try_into().ok()?;
            let v6 = Ipv6Addr::from(octets);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(Icmp {
        from,
        icmp_type,
        code,
        errno: i32::try_from(errno).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn extended_err_v4(origin: u8, icmp_type: u8, code: u8, from: [u8; 4]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(libc::ECONNREFUSED as u32).to_ne_bytes());
        bytes.extend_from_slice(&[origin, icmp_type, code, 0]);
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&from);
        bytes.extend_from_slice(&[0; 8]);
        bytes
    }

    #[test]
    fn parses_an_icmp_port_unreachable_and_its_sender() {
        let icmp = parse_extended_err(&extended_err_v4(2, 3, 3, [10, 244, 0, 1])).unwrap();
        assert_eq!(icmp.from, IpAddr::from([10, 244, 0, 1]));
        assert_eq!(icmp.describe(), "port-unreachable");
        assert_eq!(icmp.errno, libc::ECONNREFUSED);
    }

    #[test]
    fn ignores_local_errors_and_short_input() {
        assert_eq!(parse_extended_err(&extended_err_v4(1, 0, 0, [0; 4])), None);
        assert_eq!(parse_extended_err(&[0; 10]), None);
        assert_eq!(parse_extended_err(&[]), None);
    }

    #[test]
    fn remote_icmp_is_rejected_and_a_local_one_is_no_route() {
        let local: SocketAddr = "10.244.0.3:40000".parse().unwrap();
        let icmp = |from: [u8; 4]| Icmp {
            from: IpAddr::from(from),
            icmp_type: 3,
            code: 1,
            errno: libc::EHOSTUNREACH,
        };
        let unreachable = || io::Error::from_raw_os_error(libc::EHOSTUNREACH);
        let remote = classify(
            unreachable(),
            Some(icmp([10, 244, 0, 1])),
            Some(local),
            Duration::ZERO,
        );
        assert_eq!(remote.outcome, TcpOutcome::Rejected);
        let own = classify(
            unreachable(),
            Some(icmp([10, 244, 0, 3])),
            Some(local),
            Duration::ZERO,
        );
        assert_eq!(own.outcome, TcpOutcome::NoRoute);
        let rst = classify(
            io::Error::from_raw_os_error(libc::ECONNREFUSED),
            None,
            Some(local),
            Duration::ZERO,
        );
        assert_eq!(rst.outcome, TcpOutcome::Refused);
    }

    #[test]
    fn loopback_connected_and_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ok = connect(addr, None, Duration::from_secs(2)).unwrap();
        assert_eq!(ok.local.map(|l| l.ip()), Some(IpAddr::from([127, 0, 0, 1])));
        drop(listener);
        let refused = connect(addr, None, Duration::from_secs(2)).unwrap_err();
        assert_eq!(refused.outcome, TcpOutcome::Refused, "{:?}", refused.error);
        assert_eq!(refused.icmp, None);
    }
}
