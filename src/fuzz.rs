//! How outside bytes reach each parser: one function per fuzz target.
//!
//! `fuzz/` (cargo fuzz, nightly) feeds these functions random bytes, and
//! `tests/fuzz_corpora.rs` replays the kept corpora through the same functions on stable,
//! so an input that once broke a parser fails the normal test run if it breaks it again.
//! Each function takes the bytes the way the real code path does (a file read lossily as
//! UTF-8, a datagram, an argument vector) and drives what that path then does with them,
//! without I/O. Results go to `black_box`, so that the optimizer cannot drop a pure parse
//! whose result is unused; a finding is a panic, a hang or unbounded memory.

use std::ffi::OsString;
use std::hint::black_box;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::diagnose::{object_checks, Options};
use crate::dns::wire::{self, Question};
use crate::node::rules::{ipvs, kube, legacy, netlink, nft, save};
use crate::output::Text;
use crate::probe::{connect, http1};
use crate::report::Origin;
use crate::report::RuleSource;
use crate::service_name::{self, Namespace};
use crate::{cli, cmd, httpd, k8s, kubeapi, sockdiag};

/// `svcprobe resolvconf --file F`: the whole report, JSON and text, as the command prints it.
pub fn resolv_conf(data: &[u8]) {
    let envelope = cmd::resolvconf::report("fuzz", &String::from_utf8_lossy(data));
    black_box((
        serde_json::to_string(&envelope).ok(),
        envelope.report.text(),
    ));
}

/// One DNS reply (UDP datagram or TCP message body) to a query for a Service name. The ID is
/// taken from the reply so that decoding goes past the ID check.
pub fn dns_message(data: &[u8]) {
    let question = Question {
        name: "hostnames.default.svc.cluster.local.".into(),
        record_type: RecordType::A,
    };
    let id = wire::message_id(data).unwrap_or_default();
    black_box(wire::decode_response(data, id, &question).ok());
}

/// What `serve` and `exporter` read from a client before they answer: the head up to the
/// blank line, and the query string `exporter` decodes.
pub fn http_request_head(data: &[u8]) {
    let head = httpd::find_blank_line(data, 0)
        .and_then(|end| data.get(..end))
        .unwrap_or(data);
    if let Ok(request) = httpd::parse_head(head) {
        black_box(request.query.and_then(httpd::query_pairs));
    }
}

/// What a server sends the HTTP client: the first byte is how many bytes each read gets
/// (1 to 256, as segments arrive), the rest is the response, interim heads, chunks and
/// trailers included, read by `probe::http1::Wire` as the client reads it (body cap 64 KiB).
pub fn http_response(data: &[u8]) {
    let (step, response) = data.split_first().unwrap_or((&0, data));
    black_box(http1::read_all(response, usize::from(*step) + 1, 64 * 1024).ok());
}

/// `exporter --config F`: the config file, modules checked against their commands' parsers.
pub fn exporter_config(data: &[u8]) {
    black_box(crate::exporter::config::parse(&String::from_utf8_lossy(data)).ok());
}

/// `diagnose --objects F`: the parse, then the Service-definition and endpoint checks for
/// every Service in it.
pub fn k8s_objects(data: &[u8]) {
    let Ok(objects) = k8s::parse(&String::from_utf8_lossy(data)) else {
        return;
    };
    for service in &objects.services {
        // As the user would name it; a name no one can type is never looked up.
        let Ok(name) = service_name::parse(&service.metadata.name) else {
            continue;
        };
        let options = Options {
            service: name,
            namespace: Some(Namespace {
                name: service.metadata.namespace.clone(),
                origin: Origin::Flag,
            }),
            port: None,
            objects: None,
            api: kubeapi::Plan::Skip(kubeapi::SkipReason::ObjectsGiven),
            endpoints: Vec::new(),
            dns_endpoints: Vec::new(),
            samples: 1,
            timeout: Duration::from_secs(1),
            deadline: Duration::from_secs(5),
            resolv_conf: PathBuf::new(),
        };
        let source = object_checks::Source {
            objects: Some("--objects"),
            namespace: &service.metadata.namespace,
            pod: None,
        };
        black_box(object_checks::run(&options, Some(&objects), &source));
    }
}

/// One `IP_RECVERR` control message's data: `sock_extended_err` and the offender address.
pub fn icmp_error(data: &[u8]) {
    black_box(connect::parse_extended_err(data));
}

/// One datagram of a `sock_diag` dump.
pub fn sock_diag(data: &[u8]) {
    let mut sockets = Vec::new();
    black_box((sockdiag::parse_chunk(data, &mut sockets).ok(), sockets));
}

/// The command line: NUL separates the arguments (any other byte, invalid UTF-8 included,
/// can be in one). Errors are formatted as `main` prints them.
pub fn command_line(data: &[u8]) {
    let args = data
        .split(|&b| b == 0)
        .map(|arg| OsString::from_vec(arg.to_vec()))
        .collect();
    match cli::parse(args) {
        Ok(parsed) => drop(black_box(parsed)),
        Err(error) => drop(black_box((error.to_string(), error.exit_code()))),
    }
}

/// One datagram of an nf_tables dump (rules, set elements or tables): the framing, then
/// each message decoded as a rule (and rendered as evidence), as set elements and as a
/// table. The sequence number is taken from the first message, so that messages are not
/// skipped as another request's.
pub fn nf_tables_dump(data: &[u8]) {
    let seq = data
        .get(8..12)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let mut decoded = Vec::new();
    let framing = netlink::parse_datagram(data, seq, &mut |message| {
        if let Some(r) = nft::decode_rule(message) {
            decoded.push((r.rule.render_iptables(&r.chain), r.rule.render_nft()));
        }
        nft::decode_elements(message, &mut |e| {
            decoded.push((format!("{e:?}"), String::new()))
        });
        decoded.extend(nft::table_name(message).map(|t| (t, String::new())));
        Ok(())
    });
    black_box((framing.is_ok(), decoded));
}

/// A legacy table blob as `IPT_SO_GET_ENTRIES` returns it (PREROUTING's first entry at 0,
/// as in the nat table): the index, then every chain's rules decoded and rendered.
pub fn ipt_entries(data: &[u8]) {
    let table = legacy::Table::index(data.to_vec(), &[(0, "PREROUTING")]);
    let rendered: Vec<String> = table
        .chain_names()
        .flat_map(|c| {
            let rules = table.rules(c).unwrap_or_default();
            rules.into_iter().map(move |r| r.render_iptables(c))
        })
        .collect();
    black_box(rendered);
}

/// `iptables-save` output (read lossily as UTF-8): the parse, then kube-proxy's iptables
/// shape interpreted for the test bed's Service, as the fallback does.
pub fn iptables_save(data: &[u8]) {
    let mut saved = save::parse(&String::from_utf8_lossy(data));
    let target = kube::Target {
        ip: std::net::Ipv4Addr::new(10, 0, 1, 175).into(),
        l4proto: 6,
        port: 80,
    };
    let reading = kube::iptables(&mut saved, RuleSource::IptablesSave, target);
    black_box(reading.ok().flatten().map(|r| r.programming));
}

/// `/proc/net/ip_vs` (read lossily as UTF-8), for the test bed's Service.
pub fn ip_vs(data: &[u8]) {
    let vip = std::net::SocketAddr::from(([10, 0, 1, 175], 80));
    black_box(ipvs::programming(
        &String::from_utf8_lossy(data),
        "TCP",
        vip,
    ));
}
