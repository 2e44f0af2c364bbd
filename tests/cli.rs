//! Whole-command tests that need no network but loopback: exit codes, usage errors, `--help`,
//! error documents, and the JSON schema of `resolvconf`, decoded into mirror structs that
//! reject unknown fields so any drift in the report fails here first. Every run is in a
//! network namespace of its own with only `lo` (`unshare --net`), never the machine's.

mod common;

use std::process::{Command, Output};

use common::bin;
use serde::Deserialize;

/// Runs the binary under test; any exit outside 0-3 fails the test.
fn svcprobe(args: &[&str]) -> Output {
    let out = Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(bin::svcprobe())
        .args(args)
        .output()
        .expect("run svcprobe under unshare --net");
    bin::assert_documented_exit(out.status, &format!("{args:?}: {out:?}"));
    out
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/resolv/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ResolvConfDoc {
    schema_version: u32,
    command: String,
    ok: bool,
    file: String,
    nameservers: Vec<NameserverDoc>,
    search: Vec<String>,
    options: Vec<OptionDoc>,
    glibc: EffectiveDoc,
    musl: EffectiveDoc,
    kubernetes: Option<KubernetesDoc>,
    findings: Vec<FindingDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NameserverDoc {
    address: String,
    line: usize,
    used_by_glibc: bool,
    used_by_musl: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OptionDoc {
    name: String,
    value: Option<u32>,
    line: usize,
    known_to_glibc: bool,
    known_to_musl: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EffectiveDoc {
    nameservers: Vec<String>,
    search: Vec<String>,
    ndots: u32,
    timeout_s: u32,
    attempts: u32,
    flags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct KubernetesDoc {
    namespace: Option<String>,
    cluster_domain: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FindingDoc {
    severity: String,
    code: String,
    message: String,
    line: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ErrorDoc {
    schema_version: u32,
    command: String,
    ok: bool,
    error: ErrorDetailDoc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ErrorDetailDoc {
    kind: String,
    message: String,
}

#[test]
fn resolvconf_report_matches_the_schema() {
    let out = svcprobe(&["resolvconf", "--resolv-conf", &fixture("gke.conf")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: ResolvConfDoc = serde_json::from_slice(&out.stdout).expect("schema");
    assert_eq!(
        (doc.schema_version, doc.command.as_str(), doc.ok),
        (1, "resolvconf", true)
    );
    assert_eq!(doc.search.len(), 6);
    assert_eq!(doc.glibc.ndots, 5);
    let k = doc.kubernetes.expect("kubernetes context");
    assert_eq!(
        (k.namespace.as_deref(), k.cluster_domain.as_str()),
        (Some("prod"), "cluster.local")
    );
    assert!(doc.findings.is_empty());
}

#[test]
fn a_malformed_file_is_findings_with_line_numbers() {
    // `--file`, the old spelling, still works.
    let out = svcprobe(&["resolvconf", "--file", &fixture("malformed.conf")]);
    // An invalid nameserver is an error finding: the probe found a problem.
    assert_eq!(out.status.code(), Some(1));
    let doc: ResolvConfDoc = serde_json::from_slice(&out.stdout).expect("schema");
    let first = &doc.findings[0];
    assert_eq!(
        (first.code.as_str(), first.line),
        ("invalid-nameserver", Some(2))
    );
    assert_eq!(first.severity, "error");
}

#[test]
fn unreadable_file_is_exit_3_with_a_json_error_and_one_stderr_line() {
    let out = svcprobe(&["resolvconf", "--resolv-conf", "/nonexistent/resolv.conf"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: ErrorDoc = serde_json::from_slice(&out.stdout).expect("error schema");
    assert_eq!((doc.ok, doc.error.kind.as_str()), (false, "read"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/resolv.conf"));
}

#[test]
fn usage_errors_exit_2_with_a_clear_line() {
    for args in [
        &["nslookup"][..],
        &["nslookup", "--timeout", "0", "x"],
        &["nslookup", "--server", "not-an-ip", "x"],
        &["nslookup", "--server", "127.0.0.1", "a..b"],
        &["bogus"],
        &["-o", "yaml", "resolvconf"],
    ] {
        let out = svcprobe(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("svcprobe: "), "{args:?}: {stderr}");
    }
}

/// Each usage error names its culprit and the command's own help, on one line.
#[test]
fn usage_errors_blame_the_culprit_and_point_to_the_commands_help() {
    for (args, says) in [
        (
            &["diagnose", "--bogus", "hostnames"][..],
            "unknown option `--bogus`",
        ),
        (&["diagnose", "--timeout", "500", "x"], "`500` has no unit"),
        (&["hairpin", "--timeout", "500", "x"], "`500` has no unit"),
        (
            &["diagnose", "--port", "http", "x"],
            "`http` is a port name",
        ),
        (&["hairpin", "--port", "http", "x"], "`http` is a port name"),
        (&["nslookup", "--timeout", "1e300", "x"], "1ms to 10m"),
        (
            &["tcp", "--interval", "18446744073709551616", "127.0.0.1:1"],
            "1ms to 10m",
        ),
        (&["diagnose", "--deadline", "2e19", "x"], "1ms to 10m"),
        (&["tcp", "--timeout", "-1s", "127.0.0.1:1"], "1ms to 10m"),
        (
            &["http", "--timeout", "NaNs", "http://127.0.0.1:1/"],
            "1ms to 10m",
        ),
        (&["nslookup", "--deadline", "2e19s", "x"], "1ms to 10m"),
        (
            &["tcp", "--count", "1", "--count", "2", "127.0.0.1:1"],
            "more than once",
        ),
    ] {
        let out = svcprobe(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        let help = format!("see 'svcprobe {} --help'", args[0]);
        assert!(stderr.contains(&help), "{args:?}: {stderr}");
    }
}

#[test]
fn no_arguments_is_the_usage_on_stderr_and_exit_2() {
    let out = svcprobe(&[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Commands:") && stderr.contains("diagnose"),
        "{stderr}"
    );
}

#[test]
fn the_equals_form_is_accepted_everywhere() {
    // A refused DNS server on loopback: the probe ran (exit 1), the flags were understood.
    let out = svcprobe(&[
        "nslookup",
        "--server=127.0.0.1:9",
        "--timeout=200ms",
        "--deadline=1s",
        "--no-search",
        "--output=json",
        "hostnames",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = svcprobe(&[
        "tcp",
        "--count=2",
        "--interval=1ms",
        "--timeout=1s",
        "127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["count"], 2);
}

#[test]
fn every_help_fits_80_columns() {
    let mut texts = vec![svcprobe(&["--help"])];
    for command in [
        "diagnose",
        "dns",
        "resolvconf",
        "nslookup",
        "tcp",
        "http",
        "serve",
        "hairpin",
    ] {
        texts.push(svcprobe(&[command, "--help"]));
        texts.push(svcprobe(&["help", command]));
    }
    for out in texts {
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{text}");
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "too wide: {line}");
        }
    }
}

#[test]
fn help_and_text_views() {
    let out = svcprobe(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
    let out = svcprobe(&[
        "-o",
        "text",
        "resolvconf",
        "--resolv-conf",
        &fixture("odd.conf"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("10.0.0.14 (ignored)"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 160), "{text}");
}

#[test]
fn a_dead_server_on_loopback_is_a_report_not_a_hang() {
    // Port 9 (discard) on loopback: nothing listens, the kernel answers ICMP unreachable.
    let out = svcprobe(&[
        "nslookup",
        "--server",
        "127.0.0.1:9",
        "--no-search",
        "hostnames",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["answer"]["status"], "unreachable");
    assert_eq!(doc["findings"][0]["code"], "dns-unreachable");
}

/// The exit check every test relies on must catch what a panic in the shipped binary looks like:
/// SIGILL when run directly, 132 through a shell; and let the documented codes through.
#[test]
fn a_crash_is_never_a_documented_exit() {
    let status = |script: &str| {
        Command::new("sh")
            .args(["-c", script])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run sh")
    };
    let direct = status("kill -ILL $$");
    let shell = status("sh -c 'kill -ILL $$'");
    assert_eq!(shell.code(), Some(132));
    for crash in [direct, shell, status("exit 101")] {
        let caught = std::panic::catch_unwind(|| bin::assert_documented_exit(crash, "test"));
        assert!(caught.is_err(), "{crash} passed as a documented exit");
    }
    for code in 0..=3 {
        bin::assert_documented_exit(status(&format!("exit {code}")), "test");
    }
}
