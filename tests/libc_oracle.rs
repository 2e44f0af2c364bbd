//! The real C libraries are the oracle for svcprobe's glibc and musl walks.
//!
//! A network namespace of the test's own holds BIND (on 10.53.0.1), iptables rules that
//! refuse (ICMP) or drop the queries for chosen names, and tcpdump on its loopback. In it,
//! `tests/oracle/getaddrinfo.c` linked against glibc and against musl 1.2.3 (Debian's
//! musl-gcc, built by this test) looks names up as an application does, and svcprobe
//! looks the same names up and says what each library would send and get. The capture
//! shows what each really sent; for every case of `tests/fixtures/dns_failures.rs` (the
//! table the walks' unit tests use too) both must match the table, and svcprobe's claims
//! must match both, time an application waits included. Every case runs at once, with
//! `options timeout:1 attempts:1`, so the whole test takes a few seconds.

mod common;

#[allow(dead_code)]
mod table {
    include!("fixtures/dns_failures.rs");
}

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::bin;
use common::schema::Nslookup;
use common::testbed::{describe, require_root, run_with_timeout};
use table::{Case, Reply, CASES, SEARCH};

/// The lab's DNS server. Not 127.0.0.1: that is where the libraries fall back to.
const SERVER: &str = "10.53.0.1";
/// A second address of the same server, for resolv.conf files with two nameservers (and
/// for the readiness check, since a case may drop everything sent to the first).
const SECOND_SERVER: &str = "10.53.0.2";
const OPTIONS: &str = "options ndots:5 timeout:1 attempts:1";
/// Hard cap for one program's run in the lab.
const RUN_TIMEOUT: Duration = Duration::from_secs(15);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `getaddrinfo.c` built against glibc (gcc) and musl (musl-gcc -static), once per run.
fn programs() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/getaddrinfo.c");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libc-oracle");
        fs::create_dir_all(&dir).expect("oracle build dir");
        let build = |compiler: &str, extra: &[&str], out: &str| {
            let path = dir.join(out);
            let status = Command::new(compiler)
                .args(extra)
                .arg("-O2")
                .arg("-o")
                .arg(&path)
                .arg(&source)
                .status()
                .unwrap_or_else(|e| {
                    panic!("cannot run {compiler} ({e}): install build-essential and musl-tools (scripts/deps.sh)")
                });
            assert!(status.success(), "{compiler} failed on {}", source.display());
            path
        };
        (
            build("gcc", &[], "getaddrinfo-glibc"),
            build("musl-gcc", &["-static"], "getaddrinfo-musl"),
        )
    })
}

/// A network namespace with BIND, the case's iptables rules and a capture; removed on drop.
struct Lab {
    netns: String,
    dir: PathBuf,
    named: Child,
    capture: Option<Child>,
}

impl Lab {
    fn up(
        cluster_zone: &str,
        root_zone: &str,
        subzones: &[(String, bool)],
        rules: &[String],
    ) -> Lab {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let netns = format!("svcprobe-oracle-{}-{n}", std::process::id());
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&netns);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("lab dir");
        let _ = Command::new("ip").args(["netns", "del", &netns]).output();
        ip(&["netns", "add", &netns]);
        let lab_netns = netns.clone();
        let in_lab = |args: &[&str]| ip(&[&["netns", "exec", &lab_netns][..], args].concat());
        in_lab(&["ip", "link", "set", "lo", "up"]);
        in_lab(&["ip", "addr", "add", &format!("{SERVER}/32"), "dev", "lo"]);
        in_lab(&[
            "ip",
            "addr",
            "add",
            &format!("{SECOND_SERVER}/32"),
            "dev",
            "lo",
        ]);
        for rule in rules {
            let args: Vec<&str> = rule.split(' ').collect();
            in_lab(&[&["iptables"][..], &args].concat());
        }
        fs::write(dir.join("cluster.zone"), cluster_zone).expect("zone");
        fs::write(dir.join("root.zone"), root_zone).expect("zone");
        fs::write(dir.join("broken.zone"), "this is not a zone file\n").expect("zone");
        fs::write(
            dir.join("closed.zone"),
            "$TTL 30\n@ IN SOA ns. h. 1 1800 900 604800 5\n@ IN NS ns.\n",
        )
        .expect("zone");
        fs::write(dir.join("named.conf"), named_conf(&dir, subzones)).expect("named.conf");
        let named = Command::new("ip")
            .args(["netns", "exec", &netns, "named", "-f", "-n", "1", "-c"])
            .arg(dir.join("named.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start named (bind9)");
        let mut lab = Lab {
            netns,
            dir,
            named,
            capture: None,
        };
        lab.wait_for_named();
        lab.start_capture();
        lab
    }

    fn wait_for_named(&mut self) {
        for _ in 0..100 {
            let out = self.exec(
                &[
                    "dig",
                    "+short",
                    "+time=1",
                    "+tries=1",
                    &format!("@{SECOND_SERVER}"),
                    "ready.cluster.local",
                    "A",
                ],
                Duration::from_secs(3),
            );
            if String::from_utf8_lossy(&out.stdout).trim() == "10.53.9.9" {
                return;
            }
            if let Ok(Some(status)) = self.named.try_wait() {
                panic!(
                    "named exited ({status}): {}",
                    fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("named did not answer in the lab within 5 s");
    }

    /// tcpdump on the lab's loopback, every DNS packet, one line each.
    fn start_capture(&mut self) {
        let out = fs::File::create(self.dir.join("capture.txt")).expect("capture file");
        let err = fs::File::create(self.dir.join("tcpdump.err")).expect("capture log");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "tcpdump",
                "-l",
                "-n",
                "-i",
                "lo",
                "port 53",
            ])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start tcpdump (scripts/deps.sh installs it)");
        self.capture = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let log = fs::read_to_string(self.dir.join("tcpdump.err")).unwrap_or_default();
            if log.contains("listening on") {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("tcpdump did not start in the lab");
    }

    /// Stops the capture and returns each query sent, in order.
    fn queries(&mut self) -> Vec<Sent> {
        thread::sleep(Duration::from_millis(200)); // the last lines reach the file
        if let Some(mut child) = self.capture.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let text = fs::read_to_string(self.dir.join("capture.txt")).unwrap_or_default();
        text.lines().filter_map(query_of).collect()
    }

    /// The queries BIND received, from its query log: tcpdump cannot read a TCP segment
    /// that carries two queries (glibc sends A and AAAA together), BIND can.
    fn query_log(&self) -> Vec<Sent> {
        let text = fs::read_to_string(self.dir.join("query.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let query = line.split("query: ").nth(1)?;
                let words: Vec<&str> = query.split_whitespace().collect();
                Some(Sent {
                    server: SERVER.to_string(),
                    name: format!("{}.", words.first()?.trim_end_matches('.')).to_ascii_lowercase(),
                    tcp: words.get(3)?.contains('T'),
                })
            })
            .collect()
    }

    fn exec(&self, args: &[&str], timeout: Duration) -> Output {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns]).args(args);
        run_with_timeout(command, timeout)
    }

    /// Runs `args` in the lab with `resolv_conf` bind-mounted over /etc/resolv.conf
    /// (`ip netns exec` gives each command a private mount namespace).
    fn run(&self, name: &str, resolv_conf: &str, args: &[&str]) -> Output {
        let file = self.dir.join(format!("resolv-{name}.conf"));
        fs::write(&file, resolv_conf).expect("resolv.conf");
        let mut command = vec![
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
            file.to_str().expect("utf-8 path"),
        ];
        command.extend_from_slice(args);
        let out = self.exec(&command, RUN_TIMEOUT);
        if args.first() == Some(&bin::svcprobe()) {
            bin::assert_documented_exit(out.status, &describe(&out));
        }
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.capture.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.named.kill();
        let _ = self.named.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn named_conf(dir: &Path, subzones: &[(String, bool)]) -> String {
    let d = dir.display();
    let mut conf = format!(
        "options {{ directory \"{d}\"; pid-file none; session-keyfile none; managed-keys-directory \"{d}\";\n\
         listen-on port 53 {{ {SERVER}; {SECOND_SERVER}; }}; listen-on-v6 {{ none; }}; recursion no; allow-query {{ any; }};\n\
         dnssec-validation no; notify no; minimal-responses yes; empty-zones-enable no; check-names primary ignore; querylog yes; }};\n\
         controls {{ }};\n\
         logging {{ channel g {{ file \"{d}/named.log\"; severity info; }}; category default {{ g; }};\n\
         channel q {{ file \"{d}/query.log\"; severity info; }}; category queries {{ q; }}; }};\n\
         zone \".\" {{ type primary; file \"root.zone\"; }};\n\
         zone \"cluster.local\" {{ type primary; file \"cluster.zone\"; }};\n"
    );
    for (zone, broken) in subzones {
        let zone = zone.trim_end_matches('.');
        conf.push_str(&if *broken {
            format!("zone \"{zone}\" {{ type primary; file \"broken.zone\"; }};\n")
        } else {
            format!("zone \"{zone}\" {{ type primary; file \"closed.zone\"; allow-query {{ none; }}; }};\n")
        });
    }
    conf
}

/// One query in the capture.
#[derive(Debug)]
struct Sent {
    server: String,
    name: String,
    tcp: bool,
}

/// `IP 10.53.0.1.40993 > 10.53.0.1.53: 23973+ A? name. (46)`, or the same after a TCP
/// segment's `Flags [P.], ... length 46`.
fn query_of(line: &str) -> Option<Sent> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let arrow = words.iter().position(|w| *w == ">")?;
    let server = words.get(arrow + 1)?.strip_suffix(".53:")?;
    let asked = words.iter().position(|w| w.ends_with('?'))?;
    let name = words.get(asked + 1)?;
    Some(Sent {
        server: server.to_string(),
        name: name.to_ascii_lowercase(),
        tcp: line.contains("Flags ["),
    })
}

/// The query name in wire format, as iptables' string match sees it in the packet.
fn wire_hex(name: &str) -> String {
    let mut hex = String::from("|");
    for label in name.trim_end_matches('.').split('.') {
        hex.push_str(&format!("{:02x}", label.len()));
        for b in label.bytes() {
            hex.push_str(&format!("{b:02x}"));
        }
    }
    hex.push_str("00|");
    hex
}

fn candidates(label: &str) -> Vec<String> {
    SEARCH
        .iter()
        .map(|d| format!("{label}.{d}."))
        .chain([format!("{label}.")])
        .collect()
}

/// Who looks the case's name up: each gets its own copy of the names, so that all run at
/// once and the capture still tells them apart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Asker {
    Glibc,
    Musl,
    Svcprobe,
}

impl Asker {
    const ALL: [Asker; 3] = [Asker::Glibc, Asker::Musl, Asker::Svcprobe];

    fn label(self, case: &Case) -> String {
        let suffix = match self {
            Asker::Glibc => "g",
            Asker::Musl => "m",
            Asker::Svcprobe => "s",
        };
        format!("{}-{suffix}", case.label)
    }
}

/// Zones, subzones and iptables rules that make the server behave as the table says.
fn lab_for(cases: &[Case]) -> Lab {
    lab_with_rules(cases, Vec::new())
}

fn lab_with_rules(cases: &[Case], mut rules: Vec<String>) -> Lab {
    let mut cluster = String::from(
        "$TTL 30\n@ 5 IN SOA ns. h. 1 1800 900 604800 5\n@ IN NS ns.\nready IN A 10.53.9.9\n",
    );
    let mut root = String::from(
        "$TTL 30\n. 5 IN SOA ns. h. 1 1800 900 604800 5\n. IN NS ns.\nns. IN A 10.53.0.1\n",
    );
    let mut subzones = Vec::new();
    for case in cases {
        for asker in Asker::ALL {
            for (name, reply) in candidates(&asker.label(case)).into_iter().zip(case.replies) {
                let zone = if name.ends_with(".cluster.local.") {
                    &mut cluster
                } else {
                    &mut root
                };
                match reply {
                    Reply::Answer => zone.push_str(&format!("{name} IN A 10.53.1.1\n")),
                    Reply::NoData => zone.push_str(&format!("{name} IN TXT \"no address\"\n")),
                    Reply::Truncated => {
                        for i in 1..=60 {
                            zone.push_str(&format!("{name} IN A 10.53.2.{i}\n"));
                        }
                    }
                    Reply::NxDomain => {}
                    Reply::ServFail => subzones.push((name, true)),
                    Reply::Refused => subzones.push((name, false)),
                    Reply::Icmp | Reply::Silence => {
                        let target = if reply == Reply::Icmp {
                            "REJECT --reject-with icmp-port-unreachable"
                        } else {
                            "DROP"
                        };
                        rules.push(format!(
                            "-A INPUT -p udp --dport 53 -m string --algo bm --hex-string {} -j {target}",
                            wire_hex(&name)
                        ));
                    }
                }
            }
        }
    }
    Lab::up(&cluster, &root, &subzones, &rules)
}

fn kubelet_conf() -> String {
    format!(
        "nameserver {SERVER}\nsearch {}\n{OPTIONS}\n",
        SEARCH.join(" ")
    )
}

/// What the program printed: `ok ADDR... MS` or `error EAI_X MS`.
struct Gai {
    result: String,
    addresses: usize,
    ms: f64,
}

fn gai(out: &Output) -> Gai {
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    let ms = words
        .last()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no time: {}", describe(out)));
    match words.first() {
        Some(&"ok") => Gai {
            result: "ok".into(),
            addresses: words.len() - 2,
            ms,
        },
        Some(&"error") => Gai {
            result: words.get(1).unwrap_or(&"?").to_string(),
            addresses: 0,
            ms,
        },
        _ => panic!("unexpected output: {}", describe(out)),
    }
}

/// The getaddrinfo result each of the report's statuses stands for, per library.
fn expected_gai(status: &str, musl: bool) -> &'static str {
    match status {
        "resolved" => "ok",
        "nxdomain" => "EAI_NONAME",
        "nodata" if musl => "EAI_NONAME",
        "nodata" => "EAI_NODATA",
        "servfail" | "refused" | "timeout" | "unreachable" => "EAI_AGAIN",
        other => panic!("no getaddrinfo result for {other}"),
    }
}

/// The candidates (indices) of `label` that were sent, in order, repeats folded.
fn sent(queries: &[Sent], label: &str) -> Vec<usize> {
    let names = candidates(label);
    let mut order: Vec<usize> = Vec::new();
    for query in queries {
        if let Some(i) = names.iter().position(|n| *n == query.name) {
            if order.last() != Some(&i) {
                order.push(i);
            }
        }
    }
    order
}

fn indices(tried: &[String], label: &str) -> Vec<usize> {
    let names = candidates(label);
    tried
        .iter()
        .map(|t| names.iter().position(|n| n == t).unwrap_or(usize::MAX))
        .collect()
}

#[test]
fn svcprobe_walks_as_glibc_and_musl_really_walk_when_the_server_fails() {
    let (glibc_program, musl_program) = programs().clone();
    let mut lab = lab_for(CASES);
    let conf = kubelet_conf();
    let started = Instant::now();
    let outputs: Vec<[Output; 3]> = thread::scope(|scope| {
        let handles: Vec<_> = CASES
            .iter()
            .map(|case| {
                let (lab, conf) = (&lab, &conf);
                let (g, m) = (
                    glibc_program.to_str().expect("path"),
                    musl_program.to_str().expect("path"),
                );
                scope.spawn(move || {
                    let glibc = Asker::Glibc.label(case);
                    let musl = Asker::Musl.label(case);
                    let ours = Asker::Svcprobe.label(case);
                    [
                        lab.run(&glibc, conf, &[g, &glibc]),
                        lab.run(&musl, conf, &[m, &musl]),
                        lab.run(
                            &ours,
                            conf,
                            &[
                                bin::svcprobe(),
                                "nslookup",
                                "--timeout",
                                "1s",
                                "--deadline",
                                "8s",
                                &ours,
                            ],
                        ),
                    ]
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("case thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    let queries = lab.queries();
    for (case, [glibc_out, musl_out, ours_out]) in CASES.iter().zip(&outputs) {
        let label = case.label;
        // The real libraries do what the table says.
        let glibc = gai(glibc_out);
        let musl = gai(musl_out);
        assert_eq!(
            sent(&queries, &Asker::Glibc.label(case)),
            case.glibc.sent,
            "{label}: what glibc sent"
        );
        assert_eq!(
            sent(&queries, &Asker::Musl.label(case)),
            case.musl.sent,
            "{label}: what musl sent"
        );
        assert_eq!(
            glibc.result,
            expected_gai(case.glibc.status, false),
            "{label}: glibc's getaddrinfo"
        );
        assert_eq!(
            musl.result,
            expected_gai(case.musl.status, true),
            "{label}: musl's getaddrinfo"
        );
        for (who, real, timeouts) in [
            ("glibc", &glibc, case.glibc.timeouts),
            ("musl", &musl, case.musl.timeouts),
        ] {
            let expected = f64::from(timeouts) * 1000.0;
            assert!(
                (expected - 50.0..expected + 600.0).contains(&real.ms),
                "{label}: {who} took {} ms, the table says {timeouts} timeout(s) of 1 s",
                real.ms
            );
        }
        // svcprobe claims the same for each library, and sends the glibc walk's queries.
        let report: Nslookup = serde_json::from_slice(&ours_out.stdout).unwrap_or_else(|e| {
            panic!(
                "{label}: not an nslookup report ({e}): {}",
                describe(ours_out)
            )
        });
        let ours = Asker::Svcprobe.label(case);
        let (claim_glibc, claim_musl) = (&report.answer, &report.other_libc);
        assert_eq!(
            indices(&claim_glibc.tried(), &ours),
            case.glibc.sent,
            "{label}: svcprobe's glibc walk"
        );
        assert_eq!(
            indices(&claim_musl.tried(), &ours),
            case.musl.sent,
            "{label}: svcprobe's musl walk"
        );
        assert_eq!(
            claim_glibc.status, case.glibc.status,
            "{label}: {}",
            claim_glibc.reason
        );
        assert_eq!(
            claim_musl.status, case.musl.status,
            "{label}: {}",
            claim_musl.reason
        );
        assert_eq!(
            claim_glibc.app_wait_ms,
            u64::from(case.glibc.timeouts) * 1000,
            "{label}: glibc's wait"
        );
        assert_eq!(
            claim_musl.app_wait_ms,
            u64::from(case.musl.timeouts) * 1000,
            "{label}: musl's wait"
        );
        let ours_sent = sent(&queries, &ours);
        assert_eq!(
            &ours_sent[..case.glibc.sent.len().min(ours_sent.len())],
            case.glibc.sent,
            "{label}: what svcprobe sent"
        );
        if case.label == "truncated" {
            assert_eq!(glibc.addresses, 60, "glibc asks again over TCP");
            assert!(
                (1..60).contains(&musl.addresses),
                "musl 1.2.3 keeps what fit: {}",
                musl.addresses
            );
            assert_eq!(claim_glibc.records.len(), 60);
            assert_eq!(
                claim_musl.records.len(),
                musl.addresses,
                "svcprobe's musl view keeps what fit"
            );
        }
    }
    assert!(
        elapsed < Duration::from_secs(10),
        "the cases run at once: {elapsed:?}"
    );
}

/// The names of `label`'s lookup that were sent, in order, repeats folded.
fn names_sent<'q>(queries: &'q [Sent], label: &str) -> Vec<&'q Sent> {
    let mut seen: Vec<&Sent> = Vec::new();
    for query in queries
        .iter()
        .filter(|q| q.name.starts_with(&format!("{label}.")))
    {
        if seen.last().map(|s| &s.name) != Some(&query.name) {
            seen.push(query);
        }
    }
    seen
}

/// A resolv.conf variant: its label, the file, and the name each asker looks up (from
/// its own label).
type Variant = (&'static str, String, fn(&str) -> String);

/// resolv.conf as the libraries really read it: each variant is looked up by glibc, musl
/// and svcprobe at once, and the capture shows what the libraries made of the file.
#[test]
fn resolv_conf_is_read_as_glibc_and_musl_read_it() {
    let (glibc_program, musl_program) = programs().clone();
    let mut lab = lab_for(&[]);
    let search = SEARCH.join(" ");
    let variants: Vec<Variant> = vec![
        (
            "indented",
            format!("  nameserver {SERVER}\nsearch {search}\n{OPTIONS}\n"),
            |l| l.to_string(),
        ),
        (
            "ndotsbig",
            format!("nameserver {SERVER}\nsearch {search}\noptions ndots:999999999999 timeout:1 attempts:1\n"),
            |l| format!("{l}.a.b.c.d.e"),
        ),
        (
            "ndotsabc",
            format!("nameserver {SERVER}\nsearch {search}\noptions ndots:5abc timeout:1 attempts:1\n"),
            |l| format!("{l}.a"),
        ),
        (
            "usevc",
            format!("nameserver {SERVER}\nsearch {search}\n{OPTIONS} use-vc-x\n"),
            |l| format!("{l}."),
        ),
        (
            "notld",
            format!("nameserver {SERVER}\nsearch {search}\n{OPTIONS} no_tld_query\n"),
            |l| l.to_string(),
        ),
        (
            "emptysearch",
            format!("nameserver {SERVER}\nsearch {search}\nsearch \n{OPTIONS}\n"),
            |l| l.to_string(),
        ),
    ];
    let reports: Vec<(Output, Output, Output)> = thread::scope(|scope| {
        let handles: Vec<_> = variants
            .iter()
            .map(|(label, conf, name)| {
                let lab = &lab;
                let (g, m) = (
                    glibc_program.to_str().expect("path"),
                    musl_program.to_str().expect("path"),
                );
                scope.spawn(move || {
                    let (gn, mn, sn) = (
                        name(&format!("{label}-g")),
                        name(&format!("{label}-m")),
                        name(&format!("{label}-s")),
                    );
                    (
                        lab.run(&gn, conf, &[g, &gn]),
                        lab.run(&mn, conf, &[m, &mn]),
                        lab.run(
                            &sn,
                            conf,
                            &[
                                bin::svcprobe(),
                                "nslookup",
                                "--timeout",
                                "1s",
                                "--deadline",
                                "8s",
                                &sn,
                            ],
                        ),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("variant thread"))
            .collect()
    });
    let captured = lab.queries();
    let logged = lab.query_log();
    for ((label, _, _), (glibc_out, musl_out, ours_out)) in variants.iter().zip(&reports) {
        let queries = if *label == "usevc" {
            &logged
        } else {
            &captured
        };
        let glibc = names_sent(queries, &format!("{label}-g"));
        let musl = names_sent(queries, &format!("{label}-m"));
        let ours_sent = names_sent(queries, &format!("{label}-s"));
        let report: Nslookup = serde_json::from_slice(&ours_out.stdout).unwrap_or_else(|e| {
            panic!(
                "{label}: not an nslookup report ({e}): {}",
                describe(ours_out)
            )
        });
        let strip = |names: Vec<String>, asker: &str| -> Vec<String> {
            names
                .into_iter()
                .map(|n| n.replacen(&format!("{label}-{asker}"), "NAME", 1))
                .collect()
        };
        let real = |sent: &[&Sent], asker: &str| {
            strip(sent.iter().map(|s| s.name.clone()).collect(), asker)
        };
        let (real_glibc, real_musl) = (real(&glibc, "g"), real(&musl, "m"));
        let claim_glibc = strip(report.answer.tried(), "s");
        let claim_musl = strip(report.other_libc.tried(), "s");
        let context = format!(
            "{label}: glibc sent {real_glibc:?}, musl sent {real_musl:?}; svcprobe claims {claim_glibc:?} and {claim_musl:?}\n{}{}",
            describe(glibc_out),
            describe(musl_out)
        );
        assert_eq!(claim_glibc, real_glibc, "{context}");
        assert_eq!(claim_musl, real_musl, "{context}");
        assert!(!real_glibc.is_empty() && !real_musl.is_empty(), "{context}");
        let ours_servers: Vec<&str> = ours_sent.iter().map(|s| s.server.as_str()).collect();
        match *label {
            "indented" => {
                // No nameserver line counts: every library falls back to 127.0.0.1.
                assert!(
                    glibc.iter().chain(&musl).all(|s| s.server == "127.0.0.1"),
                    "{context}"
                );
                assert_eq!(report.nameservers, ["127.0.0.1:53"], "{context}");
                assert!(
                    ours_servers.iter().all(|s| *s == "127.0.0.1"),
                    "{ours_servers:?}"
                );
                assert!(
                    report.findings.iter().any(|f| f.code == "no-nameserver"),
                    "{context}"
                );
            }
            "ndotsbig" => {
                // 999999999999 is read as 15 by both: five dots are fewer, so the search list comes first.
                assert!(
                    real_glibc[0].ends_with(".default.svc.cluster.local."),
                    "{context}"
                );
                assert_eq!(report.ndots, 15);
            }
            "ndotsabc" => {
                // ndots:5abc is ndots:5 for both: one dot is fewer, so the search list comes first.
                assert!(
                    real_glibc[0].ends_with(".default.svc.cluster.local."),
                    "{context}"
                );
                assert_eq!(report.ndots, 5);
            }
            "usevc" => {
                // glibc reads use-vc-x as use-vc (prefix match) and asks over TCP; musl ignores it.
                assert!(glibc.iter().all(|s| s.tcp), "{context}");
                assert!(musl.iter().all(|s| !s.tcp), "{context}");
                assert!(
                    report.queries.iter().all(|q| q.transport == "tcp"),
                    "{context}"
                );
            }
            "notld" => {
                // glibc never sends the bare single label; musl ignores the option.
                assert_eq!(real_glibc.len(), 3, "{context}");
                assert_eq!(
                    real_musl.last().map(String::as_str),
                    Some("NAME."),
                    "{context}"
                );
            }
            "emptysearch" => {
                // glibc skips the empty line and keeps the search list; musl's is now empty.
                assert_eq!(real_glibc.len(), 4, "{context}");
                assert_eq!(real_musl, ["NAME."], "{context}");
            }
            other => panic!("no check for {other}"),
        }
    }
}

/// The names `svcprobe nslookup` checks before sending, against what each library does
/// with them: a non-ASCII name is refused by glibc without a query (no IDNA unless the
/// program asks for AI_IDN) and sent as raw UTF-8 by musl, so svcprobe refuses it and says
/// to look up the IDNA form; `_` is sent by both, and by svcprobe.
#[test]
fn names_are_refused_only_where_the_libraries_would_not_send_them_as_typed() {
    let (glibc_program, musl_program) = programs().clone();
    let mut lab = lab_for(&[]);
    let conf = kubelet_conf();
    let run =
        |program: &Path, name: &str| lab.run(name, &conf, &[program.to_str().expect("path"), name]);
    let glibc_utf8 = run(&glibc_program, "héllo-g.example.");
    let musl_utf8 = run(&musl_program, "héllo-m.example.");
    let ours_utf8 = lab.run(
        "utf8-s",
        &conf,
        &[bin::svcprobe(), "nslookup", "héllo-s.example."],
    );
    let glibc_underscore = run(&glibc_program, "my_svc-g");
    let musl_underscore = run(&musl_program, "my_svc-m");
    let ours_underscore = lab.run(
        "underscore-s",
        &conf,
        &[bin::svcprobe(), "nslookup", "--timeout", "1s", "my_svc-s"],
    );
    let queries = lab.queries();
    let sent = |fragment: &str| queries.iter().any(|q| q.name.contains(fragment));

    assert_eq!(
        gai(&glibc_utf8).result,
        "EAI_NONAME",
        "{}",
        describe(&glibc_utf8)
    );
    assert!(!sent("llo-g.example."), "glibc sends nothing: {queries:?}");
    assert_eq!(
        gai(&musl_utf8).result,
        "EAI_NONAME",
        "{}",
        describe(&musl_utf8)
    );
    assert!(
        sent("llo-m.example."),
        "musl sends the UTF-8 bytes as they are: {queries:?}"
    );
    assert_eq!(ours_utf8.status.code(), Some(2), "{}", describe(&ours_utf8));
    assert!(
        String::from_utf8_lossy(&ours_utf8.stderr).contains("IDNA form"),
        "{}",
        describe(&ours_utf8)
    );
    assert!(!sent("llo-s"), "svcprobe sends nothing: {queries:?}");

    for (label, out) in [
        ("my_svc-g", &glibc_underscore),
        ("my_svc-m", &musl_underscore),
    ] {
        assert_eq!(gai(out).result, "EAI_NONAME", "{label}: {}", describe(out));
        assert!(
            sent(&format!("{label}.default.svc.cluster.local.")),
            "{label} is sent: {queries:?}"
        );
    }
    assert_eq!(
        ours_underscore.status.code(),
        Some(1),
        "{}",
        describe(&ours_underscore)
    );
    assert!(
        sent("my_svc-s.default.svc.cluster.local."),
        "svcprobe sends it too: {queries:?}"
    );
}

/// Two nameservers, the first one silent: glibc waits its timeout on the first, then asks
/// the second; musl asks both at once and waits for nothing. svcprobe's `app_wait_ms`
/// says so, and the real libraries take that long.
#[test]
fn with_a_silent_first_server_glibc_waits_and_musl_does_not() {
    let (glibc_program, musl_program) = programs().clone();
    let drop_first = format!("-A INPUT -p udp -d {SERVER} --dport 53 -j DROP");
    let answer = CASES.iter().find(|c| c.label == "answer").expect("case");
    let mut lab = lab_with_rules(std::slice::from_ref(answer), vec![drop_first]);
    let conf = format!(
        "nameserver {SERVER}\nnameserver {SECOND_SERVER}\nsearch {}\n{OPTIONS}\n",
        SEARCH.join(" ")
    );
    let (g, m, s) = (
        Asker::Glibc.label(answer),
        Asker::Musl.label(answer),
        Asker::Svcprobe.label(answer),
    );
    let (glibc, musl, ours) = thread::scope(|scope| {
        let glibc =
            scope.spawn(|| lab.run(&g, &conf, &[glibc_program.to_str().expect("path"), &g]));
        let musl = scope.spawn(|| lab.run(&m, &conf, &[musl_program.to_str().expect("path"), &m]));
        let ours = scope.spawn(|| {
            lab.run(
                &s,
                &conf,
                &[bin::svcprobe(), "nslookup", "--timeout", "1s", &s],
            )
        });
        (
            glibc.join().expect("glibc"),
            musl.join().expect("musl"),
            ours.join().expect("svcprobe"),
        )
    });
    let queries = lab.queries();
    let (glibc, musl) = (gai(&glibc), gai(&musl));
    assert_eq!((glibc.result.as_str(), musl.result.as_str()), ("ok", "ok"));
    assert!(
        (950.0..1600.0).contains(&glibc.ms),
        "glibc took {} ms",
        glibc.ms
    );
    assert!(musl.ms < 300.0, "musl took {} ms", musl.ms);
    let to_second = |label: &str| {
        queries
            .iter()
            .any(|q| q.name.starts_with(&format!("{label}.")) && q.server == SECOND_SERVER)
    };
    assert!(to_second(&g) && to_second(&m), "{queries:?}");
    let report: Nslookup = serde_json::from_slice(&ours.stdout)
        .unwrap_or_else(|e| panic!("not an nslookup report ({e}): {}", describe(&ours)));
    assert_eq!(report.answer.status, "resolved");
    assert_eq!(report.other_libc.status, "resolved");
    assert_eq!(report.answer.app_wait_ms, 1000, "{:?}", report.answer);
    assert_eq!(report.other_libc.app_wait_ms, 0, "{:?}", report.other_libc);
}

/// `svcprobe dns`'s `dns-search-cost`: the queries it says each library sends for a name
/// outside the cluster and for a short Service name, under kubelet's resolv.conf, are the
/// queries glibc and musl really send (BIND's query log), and so is the cheaper lookup it
/// names (the name written absolute).
#[test]
fn the_search_lists_cost_is_what_the_libraries_send() {
    let (glibc_program, musl_program) = programs().clone();
    let mut cluster = String::from(
        "$TTL 30\n@ 5 IN SOA ns. h. 1 1800 900 604800 5\n@ IN NS ns.\nready IN A 10.53.9.9\n",
    );
    for service in ["svc-g", "svc-m", "kubernetes"] {
        cluster.push_str(&format!("{service}.default.svc IN A 10.53.1.1\n"));
    }
    let root = "$TTL 30\n. 5 IN SOA ns. h. 1 1800 900 604800 5\n. IN NS ns.\nns. IN A 10.53.0.1\n";
    let lab = Lab::up(&cluster, root, &[], &[]);
    let conf = kubelet_conf();
    let program = |path: &PathBuf| path.to_str().expect("path").to_string();
    let (glibc, musl) = (program(&glibc_program), program(&musl_program));
    // One at a time, so that the query log tells each lookup's queries apart.
    for (who, program, name) in [
        ("g", &glibc, "ext-g.test"),
        ("g", &glibc, "svc-g"),
        ("g", &glibc, "ext-abs-g.test."),
        ("m", &musl, "ext-m.test"),
        ("m", &musl, "svc-m"),
    ] {
        let out = lab.run(who, &conf, &[program, name]);
        assert!(out.status.code().is_some(), "{}", describe(&out));
    }
    let ours = lab.run(
        "s",
        &conf,
        &[bin::svcprobe(), "dns", "--external-name", "ext-s.test"],
    );
    let report: serde_json::Value = serde_json::from_slice(&ours.stdout)
        .unwrap_or_else(|e| panic!("not a dns report ({e}): {}", describe(&ours)));
    let log = lab.query_log();
    let sent = |label: &str| {
        log.iter()
            .filter(|q| q.name.starts_with(&format!("{label}.")))
            .count() as u64
    };
    let costs = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == "dns-search-cost")
        .map(|c| c["evidence"]["names"].clone())
        .unwrap_or_else(|| panic!("no dns-search-cost: {report:#}"));
    let claim = |name: &str, libc: &str| {
        costs
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name && c["libc"] == libc)
            .cloned()
            .unwrap_or_else(|| panic!("no cost of {name} for {libc}: {costs:#}"))
    };
    for (libc, external, service) in [
        ("glibc", "ext-g.test", "svc-g"),
        ("musl", "ext-m.test", "svc-m"),
    ] {
        assert_eq!(
            claim("ext-s.test", libc)["queries"].as_u64(),
            Some(sent(external)),
            "{libc}, a name outside the cluster: {log:?}"
        );
        assert_eq!(
            claim("kubernetes", libc)["queries"].as_u64(),
            Some(sent(service)),
            "{libc}, a short Service name: {log:?}"
        );
    }
    // The name as written costs 8 queries (3 search domains, then as-is), absolute 2.
    assert_eq!(sent("ext-g.test"), 8, "{log:?}");
    let cheaper = &claim("ext-s.test", "glibc")["cheaper"];
    assert_eq!(
        cheaper["queries"].as_u64(),
        Some(sent("ext-abs-g.test")),
        "{cheaper:#}"
    );
    assert!(
        cheaper["change"]
            .as_str()
            .unwrap_or_default()
            .contains("ext-s.test."),
        "{cheaper:#}"
    );
}
