//! `svcprobe exporter` in the test bed, next to its real peers: Debian's blackbox_exporter
//! probing the same targets from the same pod (the metrics both have must have the same
//! type, HELP and meaning), and Debian's Prometheus scraping it with the README's scrape
//! configuration while failure switches flip. Needs root (network namespaces).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
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
        Daemon::start_with(bed, pod, args, &[])
    }

    /// `start` with environment variables.
    fn start_with(bed: &Testbed, pod: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new("bash");
        cmd.arg(testbed::script())
            .arg("-p")
            .arg(bed.prefix())
            .args(["exec", pod, "--"])
            .args(args)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .envs(env.iter().copied())
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

    // One probe slot: 8 requests at once (one curl, each on its own connection at once, so they
    // arrive within milliseconds) for a silent address, whose probe holds the slot for its
    // 2.5 s: one runs, the others get 503.
    let slow_url = svcprobe_url("10.0.200.1:80", "tcp");
    let mut args = vec![
        "curl",
        "-s",
        "-m",
        "20",
        "--parallel",
        "--parallel-immediate",
        "--parallel-max",
        "8",
    ];
    for _ in 0..8 {
        args.extend(["-o", "/dev/null", "-w", "%{http_code}\n", slow_url.as_str()]);
    }
    let out = bed.exec_timeout(CLIENT, &args, Duration::from_secs(30));
    let codes = String::from_utf8_lossy(&out.stdout).into_owned();
    let count = |code: &str| codes.lines().filter(|l| *l == code).count();
    assert_eq!(
        (
            count("200") >= 1,
            count("503") >= 1,
            count("200") + count("503")
        ),
        (true, true, 8),
        "{codes}"
    );
    let dropped = count("503") as f64;
    let metrics_url = format!("http://{listen}/metrics");
    let metrics = parse_metrics(&get(&bed, CLIENT, &metrics_url, &[]).1);
    assert_eq!(
        value(&metrics, "svcprobe_probes_dropped_total", ""),
        Some(dropped)
    );
    assert_eq!(
        value(&metrics, "svcprobe_targets_refused_total", ""),
        Some(4.0)
    );
    assert!(value(&metrics, "process_resident_memory_bytes", "") > Some(0.0));

    let report = exporter.stop();
    let report: serde_json::Value = serde_json::from_str(&report).expect("stop report");
    assert_eq!(report["probes_dropped"].as_f64(), Some(dropped));
    assert_eq!(report["targets_refused"], 4);
    assert_eq!(report["allow"][0], "10.0.0.0/16");
    assert_eq!(report["allow_source"], "default");
}

/// deploy/: `promtool check config` and `check rules` pass, `promtool test rules` shows the
/// ServiceUnhealthy alert naming its cause and nodes, and every workload runs as non-root on
/// a read-only root filesystem with all capabilities dropped.
#[test]
fn deploy_manifests_check() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for args in [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "svcprobe-rules.yml"],
        ["test", "rules", "svcprobe-rules.test.yml"],
    ] {
        let out = testbed::run_with_timeout(
            {
                let mut cmd = Command::new("promtool");
                cmd.args(args).current_dir(&deploy);
                cmd
            },
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "promtool {}: {}",
            args.join(" "),
            testbed::describe(&out)
        );
    }
    for file in ["exporter-daemonset.yaml", "exporter-sidecar.yaml"] {
        let text = std::fs::read_to_string(deploy.join(file)).unwrap();
        let count = |needle: &str| text.matches(needle).count();
        let containers = count("image:");
        assert!(containers > 0, "{file}");
        assert_eq!(count("runAsNonRoot: true"), count("template:"), "{file}");
        for needle in [
            "readOnlyRootFilesystem: true",
            "allowPrivilegeEscalation: false",
            "drop: [\"ALL\"]",
        ] {
            assert_eq!(count(needle), containers, "{file}: {needle}");
        }
    }
}

/// One query to Prometheus's HTTP API from inside `pod`: each series' labels and value.
fn query(bed: &Testbed, pod: &str, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let out = bed.exec_timeout(
        pod,
        &[
            "curl",
            "-s",
            "-m",
            "10",
            "http://127.0.0.1:9090/api/v1/query",
            "--data-urlencode",
            &format!("query={promql}"),
        ],
        Duration::from_secs(15),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let results = json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    results
        .iter()
        .map(|r| {
            let labels = r["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let value = r["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            (labels, value)
        })
        .collect()
}

/// Waits (at most `PROMETHEUS_WAIT`) until `promql` returns exactly one series with `value`
/// and these labels.
fn wait_for(bed: &Testbed, promql: &str, labels: &[(&str, &str)], value: f64) {
    let until = Instant::now() + PROMETHEUS_WAIT;
    loop {
        let results = query(bed, CLIENT, promql);
        if let [(got, v)] = results.as_slice() {
            if *v == value
                && labels
                    .iter()
                    .all(|(k, want)| got.get(*k).map(String::as_str) == Some(*want))
            {
                return;
            }
        }
        assert!(
            Instant::now() < until,
            "{promql}: wanted {labels:?} = {value}, Prometheus has {results:?}"
        );
        thread::sleep(Duration::from_millis(250));
    }
}

/// How long Prometheus gets to start, or to see a change (scrapes every 2 s).
const PROMETHEUS_WAIT: Duration = Duration::from_secs(40);

/// Debian's Prometheus in the test bed, with deploy/prometheus.yml (the exporter's address
/// and the intervals changed for the bed): the blackbox-style job's probe_success and
/// svcprobe_diagnose_cause, and the scheduled job's cause with its node label, follow the
/// no-endpoints switch; the scheduled mode prints one line per change.
#[test]
fn prometheus_sees_causes_change() {
    let bed = Testbed::up();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let scratch = bed.scratch_dir();
    let original = std::fs::read_to_string(deploy.join("prometheus.yml")).unwrap();
    let config = [
        ("svcprobe.monitoring.svc:9115", "127.0.0.1:9115"),
        (
            "dns_sd_configs:\n      - names: [svcprobe.monitoring.svc.cluster.local]\n        \
             type: A\n        port: 9115",
            "static_configs:\n      - targets: ['127.0.0.1:9115']",
        ),
        ("scrape_interval: 30s", "scrape_interval: 2s"),
        ("scrape_timeout: 10s", "scrape_timeout: 2s"),
    ]
    .iter()
    .fold(original.clone(), |text, (from, to)| {
        assert!(text.contains(from), "deploy/prometheus.yml lost `{from}`");
        text.replace(from, to)
    });
    std::fs::write(scratch.join("prometheus.yml"), config).unwrap();
    std::fs::copy(
        deploy.join("svcprobe-rules.yml"),
        scratch.join("svcprobe-rules.yml"),
    )
    .unwrap();
    let exporter = Daemon::start_with(
        &bed,
        CLIENT,
        &[
            bin::svcprobe(),
            "exporter",
            "--listen",
            "127.0.0.1:9115",
            "--target",
            "service:hostnames",
            "--every",
            "1s",
        ],
        &[("NODE_NAME", "node-a"), ("POD_NAME", "client")],
    );
    let config_flag = format!("--config.file={}", scratch.join("prometheus.yml").display());
    let storage_flag = format!("--storage.tsdb.path={}", scratch.join("data").display());
    let _prometheus = Daemon::start(
        &bed,
        CLIENT,
        &[
            "prometheus",
            &config_flag,
            &storage_flag,
            "--web.listen-address=127.0.0.1:9090",
        ],
    );
    let probed = "{job=\"svcprobe-service\",instance=\"hostnames.default\"}";
    let success = format!("probe_success{probed}");
    let cause = format!("svcprobe_diagnose_cause{probed}");
    let scheduled = "svcprobe_diagnose_cause{job=\"svcprobe-nodes\",target=\"hostnames\"}";
    let node = [("node", "node-a"), ("pod", "client"), ("module", "service")];
    let expect = |cause_value: &str, success_value: f64| {
        wait_for(&bed, &success, &[], success_value);
        wait_for(&bed, &cause, &[("cause", cause_value)], 1.0);
        let mut labels = node.to_vec();
        labels.push(("cause", cause_value));
        wait_for(&bed, scheduled, &labels, 1.0);
    };
    expect("healthy", 1.0);
    bed.break_("no-endpoints");
    expect("no-endpoints", 0.0);
    bed.fix("no-endpoints");
    expect("healthy", 1.0);

    let lines: Vec<serde_json::Value> = exporter
        .stop()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("new_cause").is_some())
        .collect();
    // Each line's old cause is the previous line's new one; the probes made while the switch
    // was being applied may add a step between (kube-proxy's rules are rewritten in steps).
    let causes: Vec<&str> = lines
        .iter()
        .map(|l| l["new_cause"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(lines[0]["old_cause"], serde_json::Value::Null, "{lines:?}");
    for pair in lines.windows(2) {
        assert_eq!(pair[1]["old_cause"], pair[0]["new_cause"], "{lines:?}");
    }
    let broken = causes.iter().position(|c| *c == "no-endpoints");
    assert!(
        causes.first() == Some(&"healthy") && causes.last() == Some(&"healthy") && broken.is_some(),
        "{causes:?}"
    );
    let broken = &lines[broken.unwrap_or_default()];
    assert_eq!(
        (&broken["node"], &broken["pod"], &broken["target"]),
        (&"node-a".into(), &"client".into(), &"hostnames".into())
    );
}
