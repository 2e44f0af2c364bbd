//! One UDP datagram, and the ICMP error it may draw. Without an application protocol a
//! UDP port that stays silent may be open or dropped: only an ICMP error (port unreachable
//! from the pod, or kube-proxy's REJECT from the node) says something, and the socket's
//! error queue (`IP_RECVERR`) says who sent it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::connect::{read_error_queue, set_recverr, Icmp};

/// What sending one empty datagram to `addr` drew within `wait`.
#[derive(Debug)]
pub enum Heard {
    /// An ICMP error, from the host that sent it.
    Icmp(Icmp),
    /// Some datagram came back: something listens and answered.
    Reply,
    /// Nothing: open and silent, or dropped; UDP cannot tell.
    Nothing,
    /// The datagram could not be sent.
    NotSent(String),
}

pub fn send_one(addr: SocketAddr, wait: Duration) -> Heard {
    match try_send_one(addr, wait) {
        Ok(heard) => heard,
        Err(e) => Heard::NotSent(e.to_string()),
    }
}

fn try_send_one(addr: SocketAddr, wait: Duration) -> std::io::Result<Heard> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    set_recverr(&socket, addr, true)?;
    socket.connect(&SockAddr::from(addr))?;
    socket.send(&[])?;
    let deadline = Instant::now() + wait;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 512];
    // Bounded: each turn waits for what is left of `wait`.
    for _ in 0..8 {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            break;
        };
        socket.set_read_timeout(Some(left))?;
        match socket.recv(&mut buf) {
            Ok(_) => return Ok(Heard::Reply),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(_) => {
                if let Some(icmp) = read_error_queue(&socket) {
                    return Ok(Heard::Icmp(icmp));
                }
            }
        }
    }
    Ok(read_error_queue(&socket).map_or(Heard::Nothing, Heard::Icmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_loopback_port_draws_port_unreachable() {
        // Bound and dropped: the port is free now, and loopback answers with ICMP.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .unwrap();
        match send_one(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(500),
        ) {
            Heard::Icmp(icmp) => assert_eq!(icmp.describe(), "port-unreachable"),
            other => panic!("{other:?}"),
        }
    }
}
