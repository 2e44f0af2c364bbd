//! `svcprobe nslookup` inside the test bed, against a real BIND server.
//!
//! The central claim, that svcprobe sends exactly the queries the pod's glibc sends, is
//! checked against glibc itself: `getent ahosts NAME` and `svcprobe nslookup NAME` run in
//! the same pod with the same resolv.conf, and BIND's query log must show the same
//! sequence for both.

mod common;

use std::path::PathBuf;

use common::bin;
use common::schema::Nslookup;
use common::testbed::{describe, Testbed, CLIENT, CLIENT_IP, HOSTNAMES_VIP};

const KUBELET: &str = "nameserver 10.0.0.10\n\
                       search default.svc.cluster.local svc.cluster.local cluster.local\n\
                       options ndots:5\n";

/// Runs `args` in the client pod with `resolv_conf` bind-mounted over /etc/resolv.conf
/// (inside the private mount namespace `ip netns exec` gives each command).
fn in_client(bed: &Testbed, resolv_conf: &str, args: &[&str]) -> std::process::Output {
    let file = write_resolv_conf(bed, resolv_conf);
    let mut command = vec![
        "sh",
        "-c",
        "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
        file.to_str().expect("utf-8 path"),
    ];
    command.extend_from_slice(args);
    bed.exec(CLIENT, &command)
}

fn write_resolv_conf(bed: &Testbed, text: &str) -> PathBuf {
    let dir = bed.scratch_dir();
    let path = dir.join(format!("{:x}.conf", fnv(text)));
    std::fs::write(&path, text).expect("write resolv.conf");
    path
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// Queries from the client pod in BIND's log, grouped by name: `[(name, [types])]` in the
/// order the names were first asked. Types are sorted, since A and AAAA go out together.
fn logged_sequence(bed: &Testbed) -> Vec<(String, Vec<String>)> {
    let mut sequence: Vec<(String, Vec<String>)> = Vec::new();
    for line in bed.query_log().lines() {
        if !line.contains(&format!(" {CLIENT_IP}#")) {
            continue;
        }
        let Some(query) = line.split("query: ").nth(1) else {
            continue;
        };
        let fields: Vec<&str> = query.split_whitespace().collect();
        let (Some(name), Some(rtype)) = (fields.first(), fields.get(2)) else {
            continue;
        };
        let name = format!("{}.", name.trim_end_matches('.')).to_ascii_lowercase();
        match sequence.last_mut() {
            Some((last, types)) if *last == name => types.push(rtype.to_string()),
            _ => sequence.push((name, vec![rtype.to_string()])),
        }
    }
    for (_, types) in &mut sequence {
        types.sort();
    }
    sequence
}

/// `nslookup ARGS -o text` in the client pod: every line must fit 80 columns (issue 11),
/// whatever the names, answers and failures.
fn text_fits(bed: &Testbed, args: &[&str]) {
    let mut command = vec![bin::svcprobe(), "-o", "text", "nslookup"];
    command.extend_from_slice(args);
    let out = in_client(bed, KUBELET, &command);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("queries ("), "{args:?}: {}", describe(&out));
    let wide: Vec<&str> = text.lines().filter(|l| l.chars().count() > 80).collect();
    assert!(wide.is_empty(), "{args:?}: {wide:?} in\n{text}");
}

/// Three labels of 63 characters: with each search domain appended, the longest names a
/// query row can hold.
fn long_name() -> String {
    ["a", "b", "c"].map(|c| c.repeat(63)).join(".")
}

/// The report, decoded into the mirror: any field added, renamed or retyped fails here.
fn json(out: &std::process::Output) -> Nslookup {
    let report: Nslookup = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not an nslookup report ({e}): {}", describe(out)));
    assert_eq!(
        (report.schema_version, report.command.as_str()),
        (1, "nslookup")
    );
    report
}

/// For each resolv.conf variant and name: glibc's sequence (from getent) is what svcprobe
/// sends first, and what its report lists as glibc's candidates.
#[test]
fn svcprobe_sends_what_glibc_sends() {
    let bed = Testbed::up();
    let six = "nameserver 10.0.0.10\n\
               search default.svc.cluster.local svc.cluster.local cluster.local \
               corp.example.com example.com lab.example\n\
               options ndots:5\n";
    let variants = [
        ("kubelet", KUBELET.to_string()),
        ("ndots:1", KUBELET.replace("ndots:5", "ndots:1")),
        (
            "no search line",
            "nameserver 10.0.0.10\noptions ndots:5\n".to_string(),
        ),
        ("six search domains", six.to_string()),
    ];
    let names = [
        "hostnames",
        "hostnames.default",
        "kubernetes.default",
        "no-such-service",
        "hostnames.default.svc.cluster.local.",
        "hostnames.default.svc",
    ];
    for (variant, conf) in &variants {
        for name in names {
            bed.clear_query_log();
            let glibc = in_client(&bed, conf, &["getent", "ahosts", name]);
            let expected = logged_sequence(&bed);
            assert!(
                !expected.is_empty(),
                "{variant} {name}: getent sent nothing: {}",
                describe(&glibc)
            );

            bed.clear_query_log();
            let out = in_client(&bed, conf, &[bin::svcprobe(), "nslookup", name]);
            let sent = logged_sequence(&bed);
            assert_eq!(
                &sent[..expected.len().min(sent.len())],
                &expected[..],
                "{variant} {name}: BIND saw svcprobe ask {sent:?}, glibc asked {expected:?}"
            );
            let report = json(&out);
            let tried: Vec<(String, Vec<String>)> = report
                .answer
                .tried()
                .into_iter()
                .map(|name| (name, vec!["A".into(), "AAAA".into()]))
                .collect();
            assert_eq!(tried, expected, "{variant} {name}: report's glibc walk");
            let resolved = glibc.status.success();
            assert_eq!(
                out.status.code(),
                Some(if resolved { 0 } else { 1 }),
                "{variant} {name}: {}",
                describe(&out)
            );
        }
    }
}

#[test]
fn answers_types_ttls_and_the_musl_view() {
    let bed = Testbed::up();
    let out = in_client(&bed, KUBELET, &[bin::svcprobe(), "nslookup", "hostnames"]);
    let report = json(&out);
    assert!(report.ok);
    assert_eq!(report.answer.records[0].data, HOSTNAMES_VIP);
    assert_eq!(report.answer.records[0].ttl, 30);
    assert_eq!(report.queries[0].rcode, "NOERROR");
    assert_eq!(report.queries[0].server, "10.0.0.10:53");
    assert_eq!(report.other_libc.status, "resolved");
    assert!(report.libc_disagreement.is_none());

    let srv = in_client(
        &bed,
        KUBELET,
        &[
            bin::svcprobe(),
            "nslookup",
            "--type",
            "SRV",
            "_http._tcp.hostnames",
        ],
    );
    let report = json(&srv);
    assert_eq!(
        report.answer.records[0].data,
        "0 100 80 hostnames.default.svc.cluster.local."
    );
    // musl's res_search does not search: the short SRV name fails for Alpine programs.
    assert_eq!(report.other_libc.status, "nxdomain");
    let finding = report
        .findings
        .iter()
        .find(|f| f.code == "libc-disagreement")
        .expect("libc-disagreement finding");
    assert!(
        finding
            .message
            .contains("res_search does not search at all")
            && !finding.message.contains("ndots"),
        "{}",
        finding.message
    );

    let ptr = in_client(&bed, KUBELET, &[bin::svcprobe(), "nslookup", HOSTNAMES_VIP]);
    let report = json(&ptr);
    assert_eq!(report.types, ["PTR"]);
    assert_eq!(
        report.answer.records[0].data,
        "hostnames.default.svc.cluster.local."
    );

    let tcp = in_client(
        &bed,
        KUBELET,
        &[bin::svcprobe(), "nslookup", "--tcp", "hostnames"],
    );
    let report = json(&tcp);
    assert_eq!(report.queries[0].transport, "tcp");
    assert_eq!(report.answer.records[0].data, HOSTNAMES_VIP);
}

/// Names no C library would send as typed are usage errors (exit 2) that say why, before
/// anything is sent; names with `_` are sent as both libraries send them.
#[test]
fn names_are_checked_before_anything_is_sent() {
    let bed = Testbed::up();
    let cases = [
        ("", "empty"),
        ("héllo.example.", "IDNA form"),
        ("a b", "not a letter"),
        ("a..b", "empty label"),
    ];
    for (name, says) in cases {
        bed.clear_query_log();
        let out = in_client(&bed, KUBELET, &[bin::svcprobe(), "nslookup", name]);
        assert_eq!(out.status.code(), Some(2), "{name:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{name:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name:?}: {stderr}");
        assert!(logged_sequence(&bed).is_empty(), "{name:?} was sent");
    }
    let out = in_client(&bed, KUBELET, &[bin::svcprobe(), "nslookup", "my_svc"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(json(&out).answer.status, "nxdomain");
}

#[test]
fn musl_and_glibc_disagree_on_dotted_names_with_low_ndots() {
    let bed = Testbed::up();
    let conf = KUBELET.replace("ndots:5", "ndots:1");
    let out = in_client(
        &bed,
        &conf,
        &[bin::svcprobe(), "nslookup", "hostnames.default"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = json(&out);
    assert_eq!(report.other_libc.status, "nxdomain");
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.contains(&"libc-disagreement"), "{codes:?}");

    let musl = in_client(
        &bed,
        &conf,
        &[
            bin::svcprobe(),
            "nslookup",
            "--libc",
            "musl",
            "hostnames.default",
        ],
    );
    assert_eq!(musl.status.code(), Some(1), "{}", describe(&musl));
    assert_eq!(json(&musl).answer.libc, "musl");
}

#[test]
fn failures_are_classified_and_bounded() {
    let bed = Testbed::up();
    let long = long_name();
    text_fits(&bed, &["hostnames"]);
    text_fits(&bed, &[&long]);
    text_fits(&bed, &["--type", "SRV", "_http._tcp.hostnames"]);

    bed.break_("service-missing");
    let out = in_client(&bed, KUBELET, &[bin::svcprobe(), "nslookup", "hostnames"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out).answer.status, "nxdomain");
    text_fits(&bed, &["hostnames"]);
    bed.fix("service-missing");

    bed.break_("dns-down");
    let out = in_client(&bed, KUBELET, &[bin::svcprobe(), "nslookup", "hostnames"]);
    let report = json(&out);
    assert_eq!(report.answer.status, "unreachable", "{}", describe(&out));
    assert_eq!(report.findings[0].code, "dns-unreachable");
    assert!(report.duration_ms < 1000.0, "ICMP should fail fast");
    // glibc stops at the refused query; musl never sees the ICMP error and waits.
    assert_eq!(report.answer.tried().len(), 1, "{:?}", report.answer);
    assert_eq!(report.other_libc.status, "timeout");
    text_fits(&bed, &[&long]);
    bed.fix("dns-down");

    bed.break_("dns-drop");
    let out = in_client(
        &bed,
        KUBELET,
        &[
            bin::svcprobe(),
            "nslookup",
            "--timeout",
            "300ms",
            "--deadline",
            "2s",
            "hostnames",
        ],
    );
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report.answer.status, "timeout");
    assert_eq!(report.timed_out[0], "hostnames.default.svc.cluster.local.");
    // With the pod's default timeout:5 attempts:2, glibc sits out two timed-out names
    // (10 s each), musl one (5 s): what the application feels, next to svcprobe's run.
    assert_eq!(report.answer.app_wait_ms, 20_000, "{:?}", report.answer);
    assert_eq!(
        report.other_libc.app_wait_ms, 5_000,
        "{:?}",
        report.other_libc
    );
    // glibc ends its search at the first timeout, then tries the bare name: two exchanges.
    let ms = report.duration_ms;
    assert!((550.0..1500.0).contains(&ms), "took {ms} ms");

    let out = in_client(
        &bed,
        KUBELET,
        &[
            bin::svcprobe(),
            "nslookup",
            "--timeout",
            "1s",
            "--deadline",
            "400ms",
            "hostnames",
        ],
    );
    let report = json(&out);
    assert!(report.deadline_exceeded, "{}", describe(&out));
    assert!(report.duration_ms < 600.0);
    text_fits(&bed, &["--timeout", "300ms", "--deadline", "2s", &long]);
    bed.fix("dns-drop");
}
