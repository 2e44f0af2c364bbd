//! One TCP connect as the reports show it: outcome, timing, local address, and the ICMP
//! error (with its sender) when one came back.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::dns::millis;
use crate::probe::connect;
use crate::report::TcpOutcome;
use crate::report::{IcmpReport, TcpAttempt};

/// One connect to `addr` (from `source`, if given), classified as `tcp` reports it.
pub fn attempt(
    seq: u32,
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
) -> TcpAttempt {
    match connect::connect(addr, source, timeout) {
        Ok(c) => TcpAttempt {
            seq,
            outcome: TcpOutcome::Connected,
            duration_ms: millis(c.elapsed),
            local: c.local.map(|l| l.to_string()),
            icmp: None,
            detail: None,
        },
        Err(f) => TcpAttempt {
            seq,
            outcome: f.outcome,
            duration_ms: millis(f.elapsed),
            local: f.local.map(|l| l.to_string()),
            icmp: f.icmp.as_ref().map(icmp_report),
            detail: Some(f.error.to_string()),
        },
    }
}

/// The report's view of an ICMP error: who sent it and what it said.
pub fn icmp_report(icmp: &connect::Icmp) -> IcmpReport {
    IcmpReport {
        from: icmp.from.to_string(),
        icmp_type: icmp.icmp_type,
        code: icmp.code,
        description: icmp.describe(),
    }
}
