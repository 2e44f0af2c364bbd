//! The probe layer: connects, HTTP attempts, ICMP classification and latency statistics,
//! shared by every command (`tcp`, `http`, `hairpin`, `diagnose`). Commands compose these;
//! none of them calls another command's module.

pub mod agent;
pub mod connect;
pub mod http;
pub mod http1;
pub mod pool;
pub mod stats;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod url;
