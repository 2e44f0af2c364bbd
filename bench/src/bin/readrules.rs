//! scripts/bench-rules.sh's reader: `readrules IP PORT tcp|udp|sctp [iptables|nftables|ipvs]`
//! runs svcprobe's `read_service` once (deadline 5 s, host root `/`) in this network
//! namespace and prints one TSV line: milliseconds inside the call, source, whether the
//! Service rule was found, endpoints, and the skip reason if any. Exit 0 when a rule was read.
//!
//! A benchmark tool run by a script: bad arguments panic with a message.

use std::path::Path;
use std::time::{Duration, Instant};

use svcprobe::node::rules::{read_service, RulesQuery};
use svcprobe::report::{L4Protocol, ProxyMode};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ip = args.first().and_then(|a| a.parse().ok()).expect("IP");
    let port = args.get(1).and_then(|a| a.parse().ok()).expect("PORT");
    let protocol = args
        .get(2)
        .and_then(|a| L4Protocol::from_k8s(a))
        .expect("tcp|udp|sctp");
    let mode = args.get(3).map(|m| {
        *ProxyMode::ALL
            .iter()
            .find(|p| p.as_str() == m)
            .expect("iptables|nftables|ipvs")
    });
    let start = Instant::now();
    let result = read_service(&RulesQuery {
        host_root: Path::new("/"),
        cluster_ip: ip,
        port,
        protocol,
        mode,
        deadline: start + Duration::from_secs(5),
    });
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(p) => {
            println!(
                "{ms:.3}\t{}\t{}\t{}\t-",
                p.source,
                p.service_rule,
                p.endpoints.len()
            );
            std::process::exit(if p.service_rule { 0 } else { 1 })
        }
        Err(skip) => {
            println!("{ms:.3}\t-\tfalse\t0\t{}: {}", skip.reason, skip.detail);
            std::process::exit(1)
        }
    }
}
