//! `svcprobe exporter` in the test bed, next to its real peers: Debian's blackbox_exporter
//! probing the same targets from the same pod (the metrics both have must have the same
//! type, HELP and meaning), and Debian's Prometheus scraping it with the README's scrape
//! configuration while failure switches flip. Needs root (network namespaces).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::bin;
use common::testbed::{self, Testbed, BACKEND_IPS, CLIENT, HOSTNAMES_FQDN, HOSTNAMES_VIP};

/// Where the exporters listen inside the client pod.
const SVCPROBE_PORT: u16 = 9115;
const BLACKBOX_PORT: u16 = 9116;
/// How long a started server gets to answer its first request.
const START_WAIT: Duration = Duration::from_secs(10);

/// A server started inside a pod of the bed; killed when dropped (and by the bed's `down`,
/// which stops every process in its namespaces).
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(bed: &Testbed, pod: &str, args: &[&str]) -> Daemon {
        let mut cmd = Command::new("bash");
        cmd.arg(testbed::script())
            .arg("-p")
            .arg(bed.prefix())
            .args(["exec", pod, "--"])
            .args(args)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Daemon {
            child: cmd.spawn().expect("start a daemon in the bed"),
        }
    }

    /// Stops it with SIGTERM (`exec` replaces itself with the command, so the child is the
    /// server) and returns what it printed on stdout.
    fn stop(mut self) -> String {
        // SAFETY: a signal to our own child, not reaped yet.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < until {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `url` from inside `pod` with curl: status and body.
fn get(bed: &Testbed, pod: &str, url: &str, headers: &[&str]) -> (u16, String) {
    let mut args = vec!["curl", "-s", "-m", "20", "-w", "\n%{http_code}"];
    for h in headers {
        args.extend(["-H", h]);
    }
    args.push(url);
    let out = bed.exec_timeout(pod, &args, Duration::from_secs(25));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

/// Waits until `url` answers 200 from inside `pod`.
fn wait_ready(bed: &Testbed, pod: &str, url: &str) {
    let until = Instant::now() + START_WAIT;
    loop {
        if get(bed, pod, url, &[]).0 == 200 {
            return;
        }
        assert!(Instant::now() < until, "{url} did not come up");
        thread::sleep(Duration::from_millis(100));
    }
}

/// One metric family in the text format.
#[derive(Debug, Default)]
struct Family {
    help: String,
    kind: String,
    /// Labels as written (`{phase="connect"}` or empty) -> value.
    samples: BTreeMap<String, f64>,
}

/// Parses the Prometheus text format (what both exporters write: HELP, TYPE, samples).
fn parse_metrics(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.into()).or_default().help = help.into();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            families.entry(name.into()).or_default().kind = kind.into();
        } else if !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let (name, labels) = match series.find('{') {
                Some(at) => series.split_at(at),
                None => (series, ""),
            };
            let value: f64 = value.parse().expect("sample value");
            let family = families.get_mut(name).expect("sample after its TYPE");
            family.samples.insert(labels.into(), value);
        }
    }
    families
}

fn value(families: &BTreeMap<String, Family>, name: &str, labels: &str) -> Option<f64> {
    families.get(name)?.samples.get(labels).copied()
}

fn svcprobe_url(target: &str, module: &str) -> String {
    format!("http://127.0.0.1:{SVCPROBE_PORT}/probe?target={target}&module={module}")
}

/// The same tcp and http targets, probed by blackbox_exporter and by svcprobe from the
/// client pod: every metric both write has the same TYPE and HELP, and the values that mean
/// the same (success, status code, address family and hash) are equal.
#[test]
fn shared_metrics_agree_with_blackbox_exporter() {
    let bed = Testbed::up();
    let config = bed.scratch_dir().join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  http_2xx:\n    prober: http\n  tcp_connect:\n    prober: tcp\n",
    )
    .unwrap();
    let listen = format!("127.0.0.1:{BLACKBOX_PORT}");
    let config_flag = format!("--config.file={}", config.display());
    let listen_flag = format!("--web.listen-address={listen}");
    let _blackbox = Daemon::start(
        &bed,
        CLIENT,
        &["prometheus-blackbox-exporter", &config_flag, &listen_flag],
    );
    let svcprobe_listen = format!("127.0.0.1:{SVCPROBE_PORT}");
    let exporter = Daemon::start(
        &bed,
        CLIENT,
        &[bin::svcprobe(), "exporter", "--listen", &svcprobe_listen],
    );
    wait_ready(&bed, CLIENT, &format!("http://{listen}/-/healthy"));
    wait_ready(&bed, CLIENT, &format!("http://{svcprobe_listen}/healthz"));

    let backend = format!("{}:9376", BACKEND_IPS[0]);
    let refused = format!("{}:9377", BACKEND_IPS[0]);
    let by_name = format!("{HOSTNAMES_FQDN}:80");
    let cases: [(&str, String, f64, Option<f64>); 6] = [
        ("tcp_connect", format!("{HOSTNAMES_VIP}:80"), 1.0, None),
        ("tcp_connect", by_name, 1.0, None),
        ("tcp_connect", refused, 0.0, None),
        (
            "http_2xx",
            format!("http://{HOSTNAMES_VIP}/"),
            1.0,
            Some(200.0),
        ),
        ("http_2xx", backend, 1.0, Some(200.0)),
        (
            "http_2xx",
            format!("http://{HOSTNAMES_VIP}/nope"),
            0.0,
            Some(404.0),
        ),
    ];
    for (module, target, success, status) in cases {
        let header = ["X-Prometheus-Scrape-Timeout-Seconds: 5"];
        let url = format!("http://{listen}/probe?target={target}&module={module}");
        let (code, theirs) = get(&bed, CLIENT, &url, &header);
        assert_eq!(code, 200, "blackbox_exporter {target}: {theirs}");
        let (code, ours) = get(&bed, CLIENT, &svcprobe_url(&target, module), &header);
        assert_eq!(code, 200, "svcprobe {target}: {ours}");
        let (theirs, ours) = (parse_metrics(&theirs), parse_metrics(&ours));
        let shared: Vec<&String> = ours.keys().filter(|k| theirs.contains_key(*k)).collect();
        let mut expected = vec![
            "probe_duration_seconds",
            "probe_success",
            "probe_ip_protocol",
            "probe_ip_addr_hash",
            "probe_dns_lookup_time_seconds",
        ];
        if status.is_some() {
            expected.extend([
                "probe_http_status_code",
                "probe_http_duration_seconds",
                "probe_http_ssl",
                "probe_http_uncompressed_body_length",
            ]);
        }
        for name in &expected {
            assert!(
                shared.iter().any(|s| s == name),
                "{module} {target}: {name} not in both: {shared:?}"
            );
        }
        for name in shared {
            let (a, b) = (&ours[name], &theirs[name]);
            assert_eq!(
                (&a.kind, &a.help),
                (&b.kind, &b.help),
                "{name}: TYPE and HELP"
            );
            let labels = |f: &Family| f.samples.keys().cloned().collect::<Vec<_>>();
            assert_eq!(labels(a), labels(b), "{name}: label sets");
        }
        for name in [
            "probe_success",
            "probe_ip_protocol",
            "probe_ip_addr_hash",
            "probe_http_status_code",
            "probe_http_ssl",
            "probe_http_uncompressed_body_length",
        ] {
            assert_eq!(
                value(&ours, name, ""),
                value(&theirs, name, ""),
                "{module} {target}: {name}"
            );
        }
        assert_eq!(value(&ours, "probe_success", ""), Some(success), "{target}");
        assert_eq!(value(&ours, "probe_http_status_code", ""), status);
    }
    let report = exporter.stop();
    assert!(report.contains("\"probes\": 6"), "{report}");
}

/// blackbox_exporter's protocol around the probe (400 for a missing target or an unknown
/// module, the scrape timeout header, `debug=true`), the allow list (403), the probe slots
/// (503), and the service and dns modules' own metrics as failure switches flip.
#[test]
fn probe_protocol_limits_and_causes() {
    let bed = Testbed::up();
    let listen = format!("127.0.0.1:{SVCPROBE_PORT}");
    let exporter = Daemon::start(
        &bed,
        CLIENT,
        &[
            bin::svcprobe(),
            "exporter",
            "--listen",
            &listen,
            "--max-probes",
            "1",
        ],
    );
    wait_ready(&bed, CLIENT, &format!("http://{listen}/healthz"));
    let probe = |target: &str, module: &str| get(&bed, CLIENT, &svcprobe_url(target, module), &[]);

    let (code, body) = get(
        &bed,
        CLIENT,
        &format!("http://{listen}/probe?module=tcp"),
        &[],
    );
    assert_eq!(
        (code, body.as_str()),
        (400, "Target parameter is missing\n")
    );
    assert_eq!(
        probe("hostnames", "nope"),
        (400, "Unknown module \"nope\"\n".into())
    );
    let (code, _) = get(
        &bed,
        CLIENT,
        &svcprobe_url("hostnames", "service"),
        &["X-Prometheus-Scrape-Timeout-Seconds: soon"],
    );
    assert_eq!(code, 500);
    // Outside the default allow list: the /16 around 10.0.0.10 and around 10.244.0.3, and
    // cluster.local.
    for (target, module) in [
        ("192.168.1.1:80", "tcp"),
        ("http://169.254.169.254/", "http"),
        ("example.com:80", "tcp"),
        ("hostnames.default.svc.example.com", "service"),
    ] {
        let (code, body) = probe(target, module);
        assert_eq!(code, 403, "{target}: {body}");
    }

    // The service module: diagnose's verdict as one series, every check's status.
    let (code, body) = probe("hostnames", "service");
    assert_eq!(code, 200, "{body}");
    let metrics = parse_metrics(&body);
    let cause = |m: &BTreeMap<String, Family>| {
        m["svcprobe_diagnose_cause"]
            .samples
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(cause(&metrics), ["{cause=\"healthy\"}"]);
    assert_eq!(value(&metrics, "probe_success", ""), Some(1.0));
    assert_eq!(
        value(
            &metrics,
            "svcprobe_check_status",
            "{check=\"dns-fqdn\",status=\"pass\"}"
        ),
        Some(1.0)
    );
    for family in metrics.values() {
        assert!(!family.help.is_empty() && !family.kind.is_empty());
    }
    bed.break_("no-endpoints");
    let (_, body) = probe("hostnames.default", "service");
    let metrics = parse_metrics(&body);
    assert_eq!(cause(&metrics), ["{cause=\"no-endpoints\"}"]);
    assert_eq!(value(&metrics, "probe_success", ""), Some(0.0));
    bed.fix("no-endpoints");

    // The dns module: the name through the search list; both libraries agree here.
    let (_, body) = probe("hostnames", "dns");
    let metrics = parse_metrics(&body);
    assert_eq!(value(&metrics, "probe_success", ""), Some(1.0), "{body}");
    assert_eq!(
        value(&metrics, "svcprobe_dns_libc_disagreement", ""),
        Some(0.0)
    );
    assert_eq!(value(&metrics, "probe_dns_answer_rrs", ""), Some(1.0));
    assert!(value(&metrics, "svcprobe_dns_queries", "") >= Some(2.0));
    // ndots:1 makes `hostnames.default` a name musl never searches.
    bed.break_("resolv-low-ndots");
    let (_, body) = probe("hostnames.default", "dns");
    let metrics = parse_metrics(&body);
    assert_eq!(
        value(&metrics, "svcprobe_dns_libc_disagreement", ""),
        Some(1.0),
        "{body}"
    );
    bed.fix("resolv-low-ndots");

    // debug=true: the probe's JSON report, as the command prints it.
    let (code, body) = get(
        &bed,
        CLIENT,
        &format!("{}&debug=true", svcprobe_url(HOSTNAMES_VIP, "hairpin")),
        &[],
    );
    assert_eq!(code, 200);
    let json: serde_json::Value = serde_json::from_str(&body).expect("debug JSON");
    assert_eq!(json["command"], "hairpin");
    assert_eq!(json["verdict"]["reason"], "not-an-endpoint", "{body}");

    // One probe slot: a probe to a silent address holds it; the next request gets 503.
    let slow_url = svcprobe_url("10.0.200.1:80", "tcp");
    let mut slow = Command::new("bash");
    slow.arg(testbed::script())
        .arg("-p")
        .arg(bed.prefix())
        .args(["exec", CLIENT, "--", "curl", "-s", "-m", "20", &slow_url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let slow = slow.spawn().expect("slow probe");
    let metrics_url = format!("http://{listen}/metrics");
    let until = Instant::now() + Duration::from_secs(10);
    while !get(&bed, CLIENT, &metrics_url, &[])
        .1
        .contains("svcprobe_probes_in_flight 1")
    {
        assert!(Instant::now() < until, "the slow probe never ran");
        thread::sleep(Duration::from_millis(20));
    }
    let (code, body) = probe(&format!("{HOSTNAMES_VIP}:80"), "tcp");
    assert_eq!(code, 503, "{body}");
    let slow = slow.wait_with_output().expect("slow probe output");
    let slow = parse_metrics(&String::from_utf8_lossy(&slow.stdout));
    assert_eq!(value(&slow, "probe_success", ""), Some(0.0));
    let metrics = parse_metrics(&get(&bed, CLIENT, &metrics_url, &[]).1);
    assert_eq!(
        value(&metrics, "svcprobe_probes_dropped_total", ""),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "svcprobe_targets_refused_total", ""),
        Some(4.0)
    );
    assert!(value(&metrics, "process_resident_memory_bytes", "") > Some(0.0));

    let report = exporter.stop();
    let report: serde_json::Value = serde_json::from_str(&report).expect("stop report");
    assert_eq!(report["probes_dropped"], 1);
    assert_eq!(report["targets_refused"], 4);
    assert_eq!(report["allow"][0], "10.0.0.0/16");
    assert_eq!(report["allow_source"], "default");
}
