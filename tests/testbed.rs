//! Tests of the test bed itself (`scripts/testbed.sh`): the healthy bed answers like a cluster,
//! the failure switches break what they say and `fix` restores it, and the root network namespace
//! is left exactly as it was. Needs root; fails (never skips) without it.

mod common;

use common::testbed::{self, Testbed, BACKENDS, CLIENT, DNS_POD, HOSTNAMES_FQDN, HOSTNAMES_VIP};
use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `dig +short NAME` against the kube-dns ClusterIP from `pod` (1 s, one try).
fn dig(bed: &Testbed, pod: &str, extra: &[&str], name: &str) -> Output {
    let mut args = vec!["dig", "+time=1", "+tries=1", "@10.0.0.10"];
    args.extend_from_slice(extra);
    args.push(name);
    bed.exec(pod, &args)
}

fn dig_short(bed: &Testbed, pod: &str, name: &str) -> String {
    stdout(&dig(bed, pod, &["+short"], name)).trim().to_string()
}

/// One HTTP GET with busybox wget (its -T segfaults: bounded by `timeout` instead).
fn wget(bed: &Testbed, pod: &str, url: &str, secs: u32) -> Output {
    let t = secs.to_string();
    bed.exec(pod, &["timeout", &t, "busybox", "wget", "-qO-", url])
}

/// GETs the Service until all three backends answered (at most 60 tries); returns who answered.
fn backends_seen(bed: &Testbed, pod: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..60 {
        let out = wget(bed, pod, "http://10.0.1.175/", 3);
        assert!(
            out.status.success(),
            "GET via the VIP failed: {}",
            testbed::describe(&out)
        );
        seen.insert(stdout(&out).trim().to_string());
        if seen.len() == BACKENDS.len() {
            break;
        }
    }
    seen
}

fn all_backends() -> BTreeSet<String> {
    BACKENDS.iter().map(|s| s.to_string()).collect()
}

#[test]
fn healthy_bed_answers_dns_glibc_and_http() {
    let bed = Testbed::up();

    // DNS over UDP and TCP through the kube-dns ClusterIP
    assert_eq!(dig_short(&bed, CLIENT, HOSTNAMES_FQDN), HOSTNAMES_VIP);
    let tcp = stdout(&dig(&bed, CLIENT, &["+short", "+tcp"], HOSTNAMES_FQDN));
    assert_eq!(tcp.trim(), HOSTNAMES_VIP);
    assert_eq!(
        dig_short(&bed, CLIENT, "kubernetes.default.svc.cluster.local"),
        "10.0.0.1"
    );
    assert_eq!(
        dig_short(&bed, CLIENT, "kube-dns.kube-system.svc.cluster.local"),
        "10.0.0.10"
    );
    let srv = dig(
        &bed,
        CLIENT,
        &["+short", "SRV"],
        "_http._tcp.hostnames.default.svc.cluster.local",
    );
    assert_eq!(
        stdout(&srv).trim(),
        "0 100 80 hostnames.default.svc.cluster.local."
    );
    let ptr = dig(&bed, CLIENT, &["+short", "-x"], "10.0.1.175");
    assert_eq!(stdout(&ptr).trim(), "hostnames.default.svc.cluster.local.");
    assert_eq!(
        dig_short(&bed, CLIENT, "10-244-0-5.default.pod.cluster.local"),
        "10.244.0.5"
    );
    let nx = stdout(&dig(&bed, CLIENT, &[], "no-such-name.example.com"));
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");

    // glibc through the pod's resolv.conf (search list, ndots:5), seen in the query log
    bed.clear_query_log();
    let getent = bed.exec(CLIENT, &["getent", "ahosts", "hostnames"]);
    assert!(getent.status.success(), "{}", testbed::describe(&getent));
    assert!(
        stdout(&getent).contains("10.0.1.175"),
        "{}",
        stdout(&getent)
    );
    let log = bed.query_log();
    assert!(
        log.lines().any(|l| l.contains("10.244.0.3#")
            && l.contains("query: hostnames.default.svc.cluster.local IN A")),
        "query log lacks glibc's query:\n{log}"
    );

    // the pod's own view: hostname, resolv.conf
    let host = bed.exec(CLIENT, &["hostname"]);
    assert_eq!(stdout(&host).trim(), "client");
    let resolv = stdout(&bed.exec(CLIENT, &["cat", "/etc/resolv.conf"]));
    assert!(resolv.contains("nameserver 10.0.0.10"), "{resolv}");
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    assert!(resolv.contains("options ndots:5"), "{resolv}");

    // HTTP through the VIP reaches all three backends; each backend directly
    assert_eq!(backends_seen(&bed, CLIENT), all_backends());
    for (pod, ip) in BACKENDS.iter().zip(testbed::BACKEND_IPS) {
        assert_eq!(bed.pod_ip(pod), ip);
        let out = wget(&bed, CLIENT, &format!("http://{ip}:9376/"), 3);
        assert_eq!(stdout(&out).trim(), *pod, "{}", testbed::describe(&out));
    }

    // default/self: one endpoint, hostnames-632524106-bbpiw, with its DNS records
    assert_eq!(
        dig_short(&bed, CLIENT, testbed::SELF_FQDN),
        testbed::SELF_VIP
    );
    let ptr = dig(&bed, CLIENT, &["+short", "-x"], testbed::SELF_VIP);
    assert_eq!(stdout(&ptr).trim(), "self.default.svc.cluster.local.");
    for _ in 0..3 {
        let out = wget(&bed, CLIENT, "http://10.0.1.200/", 3);
        assert_eq!(
            stdout(&out).trim(),
            testbed::SELF_BACKEND,
            "{}",
            testbed::describe(&out)
        );
    }

    // exit status passes through
    let seven = bed.exec(CLIENT, &["sh", "-c", "exit 7"]);
    assert_eq!(seven.status.code(), Some(7));
}

#[test]
fn no_endpoints_rejects_at_once_and_fix_restores() {
    let bed = Testbed::up();
    bed.break_("no-endpoints");
    bed.break_("no-endpoints"); // idempotent
    let rules = bed.rules();
    assert!(
        rules.contains("default/hostnames:http has no endpoints")
            && rules.contains("-j REJECT --reject-with icmp-port-unreachable"),
        "{rules}"
    );
    assert!(
        !rules.contains("default/hostnames:http cluster IP"),
        "{rules}"
    );
    let start = Instant::now();
    let out = wget(&bed, CLIENT, "http://10.0.1.175/", 3);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        testbed::describe(&out)
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "REJECT should be immediate"
    );
    // DNS still answers: the Service exists
    assert_eq!(dig_short(&bed, CLIENT, HOSTNAMES_FQDN), HOSTNAMES_VIP);

    bed.fix("no-endpoints");
    bed.fix("no-endpoints"); // idempotent
    assert_eq!(backends_seen(&bed, CLIENT), all_backends());
}

#[test]
fn dns_down_refuses_and_fix_restores() {
    let bed = Testbed::up();
    bed.break_("dns-down");
    let out = dig(&bed, CLIENT, &[], HOSTNAMES_FQDN);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("connection refused"),
        "{}",
        testbed::describe(&out)
    );
    let getent = bed.exec(CLIENT, &["getent", "ahosts", "hostnames"]);
    assert_eq!(
        getent.status.code(),
        Some(2),
        "{}",
        testbed::describe(&getent)
    );
    // the Service by IP still works
    assert!(wget(&bed, CLIENT, "http://10.0.1.175/", 3).status.success());

    bed.fix("dns-down");
    assert_eq!(dig_short(&bed, CLIENT, HOSTNAMES_FQDN), HOSTNAMES_VIP);
}

#[test]
fn service_missing_is_nxdomain_and_fix_restores() {
    let bed = Testbed::up();
    bed.break_("service-missing");
    let out = stdout(&dig(&bed, CLIENT, &[], HOSTNAMES_FQDN));
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    let getent = bed.exec(CLIENT, &["getent", "ahosts", "hostnames"]);
    assert_eq!(
        getent.status.code(),
        Some(2),
        "{}",
        testbed::describe(&getent)
    );
    assert!(!bed.rules().contains("default/hostnames"));
    // other Services are untouched
    assert_eq!(
        dig_short(&bed, CLIENT, "kubernetes.default.svc.cluster.local"),
        "10.0.0.1"
    );

    bed.fix("service-missing");
    assert_eq!(dig_short(&bed, CLIENT, HOSTNAMES_FQDN), HOSTNAMES_VIP);
    let getent = bed.exec(CLIENT, &["getent", "ahosts", "hostnames"]);
    assert!(getent.status.success(), "{}", testbed::describe(&getent));
}

#[test]
fn wrong_target_port_and_backend_down() {
    let bed = Testbed::up();

    // wrong targetPort: DNAT to :9377, refused
    bed.break_("wrong-target-port");
    let out = wget(&bed, CLIENT, "http://10.0.1.175/", 3);
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        testbed::describe(&out)
    );
    assert!(bed.rules().contains("--to-destination 10.244.0.5:9377"));
    bed.fix("wrong-target-port");
    assert!(wget(&bed, CLIENT, "http://10.0.1.175/", 3).status.success());

    // one backend down: it refuses directly, the others answer
    bed.break_("backend-down");
    let out = wget(&bed, CLIENT, "http://10.244.0.5:9376/", 3);
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        testbed::describe(&out)
    );
    let out = wget(&bed, CLIENT, "http://10.244.0.6:9376/", 3);
    assert!(out.status.success(), "{}", testbed::describe(&out));
    bed.fix("backend-down");
    let out = wget(&bed, CLIENT, "http://10.244.0.5:9376/", 3);
    assert_eq!(stdout(&out).trim(), testbed::DOWN_BACKEND);
}

#[test]
fn dns_drop_times_out_and_fix_restores() {
    let bed = Testbed::up();
    bed.break_("dns-drop");
    let out = stdout(&dig(&bed, CLIENT, &[], HOSTNAMES_FQDN));
    assert!(out.contains("timed out"), "{out}");
    // the Service by IP still works
    assert!(wget(&bed, CLIENT, "http://10.0.1.175/", 3).status.success());
    bed.fix("dns-drop");
    assert_eq!(dig_short(&bed, CLIENT, HOSTNAMES_FQDN), HOSTNAMES_VIP);
}

#[test]
fn resolv_conf_switches() {
    let bed = Testbed::up();

    // no search line: the short name no longer resolves, the FQDN does
    bed.break_("resolv-no-search");
    let resolv = stdout(&bed.exec(CLIENT, &["cat", "/etc/resolv.conf"]));
    assert!(!resolv.contains("search"), "{resolv}");
    let out = bed.exec(CLIENT, &["getent", "ahosts", "hostnames"]);
    assert_eq!(out.status.code(), Some(2), "{}", testbed::describe(&out));
    let out = bed.exec(CLIENT, &["getent", "ahosts", HOSTNAMES_FQDN]);
    assert!(out.status.success(), "{}", testbed::describe(&out));
    bed.fix("resolv-no-search");

    // ndots:1: "hostnames.default" is tried as-is first (seen in the query log)
    bed.break_("resolv-low-ndots");
    bed.clear_query_log();
    let out = bed.exec(CLIENT, &["getent", "ahosts", "hostnames.default"]);
    assert!(out.status.success(), "{}", testbed::describe(&out));
    let log = bed.query_log();
    let first = log.lines().next().unwrap_or_default();
    assert!(first.contains("query: hostnames.default IN"), "{log}");
    bed.fix("resolv-low-ndots");

    let resolv = stdout(&bed.exec(CLIENT, &["cat", "/etc/resolv.conf"]));
    assert!(
        resolv.contains("ndots:5") && resolv.contains("search "),
        "{resolv}"
    );
    let out = bed.exec(CLIENT, &["getent", "ahosts", "hostnames"]);
    assert!(out.status.success(), "{}", testbed::describe(&out));
}

#[test]
fn hairpin_and_masquerade_switches_break_self_connections() {
    let bed = Testbed::up();
    // the DNS pod is the only endpoint of kube-dns: reaching its own Service is a hairpin, always
    let own = "kube-dns.kube-system.svc.cluster.local";
    assert_eq!(dig_short(&bed, DNS_POD, own), "10.0.0.10");
    for switch in ["hairpin-off", "masq-mark-missing"] {
        bed.break_(switch);
        let out = stdout(&dig(&bed, DNS_POD, &[], own));
        assert!(out.contains("timed out"), "{switch}: {out}");
        // other pods are not affected
        assert_eq!(dig_short(&bed, CLIENT, own), "10.0.0.10", "{switch}");
        // nor is a backend reaching `self` from outside; the pod behind it cannot
        let via_self = wget(&bed, BACKENDS[1], "http://10.0.1.200/", 3);
        assert!(
            via_self.status.success(),
            "{switch}: {}",
            testbed::describe(&via_self)
        );
        let own_self = wget(&bed, testbed::SELF_BACKEND, "http://10.0.1.200/", 2);
        assert!(
            !own_self.status.success(),
            "{switch}: {}",
            testbed::describe(&own_self)
        );
        bed.fix(switch);
        assert_eq!(dig_short(&bed, DNS_POD, own), "10.0.0.10", "{switch}");
    }
}

#[test]
fn netpol_bridge_nf_and_kube_proxy_switches() {
    let bed = Testbed::up();

    // NetworkPolicy-like drop: backends unreachable directly and via the VIP, DNS fine
    bed.break_("netpol-drop");
    let out = wget(&bed, CLIENT, "http://10.244.0.6:9376/", 1);
    assert_eq!(out.status.code(), Some(124), "{}", testbed::describe(&out));
    assert_eq!(dig_short(&bed, CLIENT, HOSTNAMES_FQDN), HOSTNAMES_VIP);
    bed.fix("netpol-drop");
    assert!(wget(&bed, CLIENT, "http://10.244.0.6:9376/", 3)
        .status
        .success());

    // bridge-nf-call-iptables=0: pod -> VIP -> pod on the same bridge fails, pod -> pod works
    bed.break_("bridge-nf-off");
    let out = wget(&bed, CLIENT, "http://10.0.1.175/", 1);
    assert!(!out.status.success(), "{}", testbed::describe(&out));
    assert!(wget(&bed, CLIENT, "http://10.244.0.6:9376/", 3)
        .status
        .success());
    bed.fix("bridge-nf-off");
    assert!(wget(&bed, CLIENT, "http://10.0.1.175/", 3).status.success());

    // kube-proxy's rules gone: ClusterIPs time out, pods still answer
    bed.break_("kube-proxy-down");
    assert!(!bed.rules().contains("KUBE-"));
    let out = wget(&bed, CLIENT, "http://10.0.1.175/", 1);
    assert_eq!(out.status.code(), Some(124), "{}", testbed::describe(&out));
    assert!(wget(&bed, CLIENT, "http://10.244.0.6:9376/", 3)
        .status
        .success());
    bed.fix("kube-proxy-down");
    assert!(wget(&bed, CLIENT, "http://10.0.1.175/", 3).status.success());
}

#[test]
fn every_switch_on_then_fix_all() {
    let bed = Testbed::up();
    let mut args = vec!["break"];
    args.extend(testbed::SWITCHES);
    bed.script_ok(&args);
    let listed = bed.script_ok(&["switches"]);
    assert_eq!(
        listed.matches(" on\n").count(),
        testbed::SWITCHES.len(),
        "{listed}"
    );
    bed.fix("all");
    let listed = bed.script_ok(&["switches"]);
    assert!(!listed.contains(" on"), "{listed}");
    assert_eq!(dig_short(&bed, CLIENT, HOSTNAMES_FQDN), HOSTNAMES_VIP);
    assert_eq!(backends_seen(&bed, CLIENT), all_backends());
}

/// What the root network namespace looks like, minus counters and timers that move by themselves.
fn root_netns_snapshot() -> String {
    let commands: &[&[&str]] = &[
        &["ip", "-d", "link"],
        &["ip", "addr"],
        &["ip", "route"],
        &["ip", "-6", "route"],
        &["ip", "rule"],
        &["ip", "-6", "rule"],
        &["iptables-save"],
        &["iptables-legacy-save"],
        &["ip6tables-save"],
        &["nft", "list", "ruleset"],
    ];
    let mut snap = String::new();
    for argv in commands {
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        let out = testbed::run_with_timeout(cmd, Duration::from_secs(10));
        snap.push_str(&format!("### {}\n", argv.join(" ")));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.starts_with('#') {
                continue; // iptables-save's "Generated by ... on <date>"
            }
            snap.push_str(&normalize(line));
            snap.push('\n');
        }
    }
    snap
}

/// Drops `[packets:bytes]`, `packets N bytes M`, `*_timer N.NN`, `expires Nsec`, address lifetimes.
fn normalize(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if w.starts_with('[') && w.ends_with(']') && w.contains(':') {
            i += 1;
        } else if w.ends_with("_timer")
            || matches!(
                w,
                "packets" | "bytes" | "expires" | "used" | "valid_lft" | "preferred_lft"
            )
        {
            i += 2;
        } else {
            out.push(w);
            i += 1;
        }
    }
    out.join(" ")
}

#[test]
fn root_namespace_untouched_and_up_down_idempotent() {
    testbed::require_root();
    let before = root_netns_snapshot();
    let bed = Testbed::up();
    let prefix = bed.prefix().to_string();
    let during = root_netns_snapshot();
    bed.script_ok(&["up"]); // up twice
    assert!(bed.exec(CLIENT, &["true"]).status.success());
    bed.script_ok(&["down"]);
    bed.script_ok(&["down"]); // down twice
    drop(bed); // and a third time
    let after = root_netns_snapshot();
    assert_eq!(
        before, during,
        "the root network namespace changed while the bed was up"
    );
    assert_eq!(
        before, after,
        "the root network namespace changed after up/down"
    );

    // nothing of this bed is left
    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let listed = String::from_utf8_lossy(&netns.stdout);
    assert!(
        !listed.lines().any(|l| l.starts_with(&format!("{prefix}-"))),
        "namespaces left behind:\n{listed}"
    );
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(&format!("{prefix}-")),
                "/etc/netns/{name} left behind"
            );
        }
    }
    let state = std::env::var("TESTBED_STATE").unwrap_or_else(|_| "/tmp/svcprobe-testbed".into());
    assert!(
        !std::path::Path::new(&state).join(&prefix).exists(),
        "state dir left behind"
    );
}

#[test]
fn refuses_without_root() {
    testbed::require_root();
    // nobody may not be able to read the checkout (e.g. under /root): run a world-readable copy
    let copy =
        std::env::temp_dir().join(format!("svcprobe-testbed-noroot-{}.sh", std::process::id()));
    std::fs::copy(testbed::script(), &copy).expect("copy scripts/testbed.sh");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash"])
        .arg(&copy)
        .args(["-p", "tnoro", "up"])
        .current_dir("/");
    let out = testbed::run_with_timeout(cmd, Duration::from_secs(10));
    let _ = std::fs::remove_file(&copy);
    assert_eq!(out.status.code(), Some(2), "{}", testbed::describe(&out));
    let err = stderr(&out);
    assert!(err.contains("must run as root"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}
