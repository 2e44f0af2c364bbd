//! The test bed's node as a host, and kube-proxy's stand-in in it: the one stand-in allowed
//! for `svcprobe node` (issue 16), because kube-proxy cannot run here.
//!
//! [`NodeHost`] gives the bed's node netns a PID namespace and a `/proc` of its own (and
//! the `/sys` of its netns), as a real node has: `svcprobe node` runs there (with all
//! capabilities, or only `CAP_NET_ADMIN`/`CAP_NET_RAW` as `--profile=netadmin` gives) and
//! its process scan sees this bed's processes only, whatever runs beside it. Processes
//! named `kube-proxy`, `kubelet` or `cilium-agent` are copies of `idle.c` (built with cc),
//! started with those programs' flags, which they ignore.
//!
//! [`KubeProxy`] serves what kube-proxy serves, in its formats (kubernetes/kubernetes
//! pkg/proxy/healthcheck, pkg/proxy/metrics, cmd/kube-proxy/app/server.go), from this test
//! process on sockets inside the node netns: `/healthz` and `/livez` on `0.0.0.0:10256`
//! (200 or 503; `{"lastUpdated": %q,"currentTime": %q, "nodeEligible": %v}` with Go's
//! `time.Time.String()`), `/proxyMode` and `/metrics` (Prometheus text, values as Go's
//! `strconv.FormatFloat(v, 'g', -1, 64)`) on `127.0.0.1:10249`. [`Health`] switches between
//! syncing, hung and failing; [`KubeProxy::stop`] stops it, process and ports.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::testbed::{describe, run_with_input, run_with_timeout, Testbed};

/// How long a command run inside the node may take at most.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// The bed's node netns with a PID namespace and `/proc` of its own.
pub struct NodeHost {
    /// `unshare`, whose child is the namespace's init.
    init: Child,
    init_pid: u32,
    bin: PathBuf,
    host_root: PathBuf,
    processes: Vec<Child>,
}

impl NodeHost {
    /// Builds `idle`, starts the node's init in a new PID namespace inside the node netns,
    /// and makes a host root with kubelet's config (`hairpinMode: hairpin-veth`).
    pub fn start(bed: &Testbed) -> NodeHost {
        let scratch = bed.scratch_dir();
        let bin = scratch.join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/idle.c");
        let idle = bin.join("idle");
        let out = run_with_timeout(
            {
                let mut cc = Command::new("cc");
                cc.arg("-O").arg("-o").arg(&idle).arg(&source);
                cc
            },
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "cc idle.c: {}", describe(&out));
        for name in ["kube-proxy", "kubelet", "cilium-agent"] {
            std::fs::copy(&idle, bin.join(name)).expect("copy idle");
        }
        let host_root = scratch.join("host");
        std::fs::create_dir_all(host_root.join("etc")).expect("host root");
        std::fs::create_dir_all(host_root.join("var/lib/kubelet")).expect("kubelet dir");
        std::fs::write(
            host_root.join("var/lib/kubelet/config.yaml"),
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
             hairpinMode: hairpin-veth\nclusterDNS:\n- 10.0.0.10\n",
        )
        .expect("kubelet config");
        let init = Command::new("ip")
            .args(["netns", "exec", &bed.netns("node")])
            .args(["unshare", "--pid", "--kill-child", "--mount-proc", "--"])
            .arg(&idle)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the node's init");
        let init_pid = child_of(init.id()).expect("the node's init did not start");
        let mut host = NodeHost {
            init,
            init_pid,
            bin,
            host_root,
            processes: Vec::new(),
        };
        host.spawn(
            "kubelet",
            &[
                "--config=/var/lib/kubelet/config.yaml",
                "--kubeconfig=/etc/kubernetes/kubelet.conf",
                "--v=2",
            ],
        );
        host
    }

    /// The host root made of the bed's files (`--host-root`).
    pub fn host_root(&self) -> &Path {
        &self.host_root
    }

    /// `nsenter` into the node: its PID, mount and network namespaces.
    fn enter(&self) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg("-t")
            .arg(self.init_pid.to_string())
            .args(["--pid", "--mount", "--net", "--"]);
        command
    }

    /// Starts the idle program as `name` with `args` inside the node; it lives until
    /// [`NodeHost::kill`] or the end of the test.
    pub fn spawn(&mut self, name: &str, args: &[&str]) -> u32 {
        let child = self
            .enter()
            .arg(self.bin.join(name))
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let pid = child.id();
        child_of(pid).unwrap_or_else(|| panic!("{name} did not start"));
        self.processes.push(child);
        pid
    }

    /// Stops a process [`NodeHost::spawn`] started (its `nsenter`, whose death ends it).
    pub fn kill(&mut self, pid: u32) {
        if let Some(at) = self.processes.iter().position(|c| c.id() == pid) {
            let mut child = self.processes.remove(at);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs svcprobe inside the node, as root with every capability or (`netadmin`) with
    /// only `CAP_NET_ADMIN` and `CAP_NET_RAW`, as `kubectl debug --profile=netadmin` gives.
    pub fn svcprobe(&self, netadmin: bool, args: &[&str]) -> Output {
        self.svcprobe_input(netadmin, args, None)
    }

    /// [`NodeHost::svcprobe`] with `input` on its stdin (`--objects -`, as `kubectl svcprobe
    /// --node` gives it).
    pub fn svcprobe_input(&self, netadmin: bool, args: &[&str], input: Option<Vec<u8>>) -> Output {
        let mut command = self.enter();
        if netadmin {
            command.args([
                "setpriv",
                "--inh-caps=-all,+net_admin,+net_raw",
                "--ambient-caps=-all,+net_admin,+net_raw",
                "--bounding-set=-all,+net_admin,+net_raw",
                "--",
            ]);
        }
        command.arg(super::bin::svcprobe()).args(args);
        let out = run_with_input(command, input, RUN_TIMEOUT);
        super::bin::assert_documented_exit(out.status, &describe(&out));
        out
    }

    /// [`NodeHost::svcprobe_input`] as a container of the netadmin profile that runs as the
    /// non-root user `uid`: NET_ADMIN and NET_RAW in its bounding set only, none effective
    /// (the runtime gives a non-root process no inheritable or ambient capabilities).
    pub fn svcprobe_as_user(&self, uid: u32, args: &[&str], input: Option<Vec<u8>>) -> Output {
        let mut command = self.enter();
        let id = uid.to_string();
        command.args([
            "setpriv",
            "--reuid",
            &id,
            "--regid",
            &id,
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all,+net_admin,+net_raw",
            "--",
        ]);
        command.arg(super::bin::svcprobe()).args(args);
        let out = run_with_input(command, input, RUN_TIMEOUT);
        super::bin::assert_documented_exit(out.status, &describe(&out));
        out
    }
}

impl Drop for NodeHost {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
        // unshare --kill-child takes the namespace's init, and with it everything inside.
        let _ = self.init.kill();
        let _ = self.init.wait();
    }
}

/// The first child of `pid`, once it has one (bounded wait).
fn child_of(pid: u32) -> Option<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(child) = text.split_whitespace().next().and_then(|c| c.parse().ok()) {
                return Some(child);
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    None
}

/// What the stand-in's syncs do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Syncs as changes come: `/healthz` 200.
    Syncing,
    /// Changes are queued, none is synced since two minutes, no sync failed: 503.
    Hung,
    /// Every sync fails (the restore failure counter counts): 503.
    Failing,
}

struct State {
    mode: &'static str,
    health: Health,
    /// When the current `health` began (Unix seconds).
    since: f64,
    failures: u64,
}

/// kube-proxy's HTTP endpoints and its process.
pub struct KubeProxy {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
    pid: Option<u32>,
}

impl KubeProxy {
    /// Starts the process and both servers in `mode` (`iptables`, `nftables`, `ipvs`).
    pub fn start(host: &mut NodeHost, bed: &Testbed, mode: &'static str) -> KubeProxy {
        let pid = host.spawn(
            "kube-proxy",
            &[
                "--config=/var/lib/kube-proxy/config.conf",
                "--hostname-override=node",
                &format!("--proxy-mode={mode}"),
            ],
        );
        let state = Arc::new(Mutex::new(State {
            mode,
            health: Health::Syncing,
            since: unix_now(),
            failures: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let netns = PathBuf::from("/run/netns").join(bed.netns("node"));
        let servers = ["127.0.0.1:10249", "0.0.0.0:10256"]
            .into_iter()
            .map(|addr| serve(&netns, addr, state.clone(), stop.clone()))
            .collect();
        KubeProxy {
            state,
            stop,
            servers,
            pid: Some(pid),
        }
    }

    pub fn set(&self, health: Health) {
        let mut state = self.state.lock().unwrap();
        state.health = health;
        state.since = unix_now();
    }

    /// Stops serving and ends the process, as a kube-proxy that exited.
    pub fn stop(&mut self, host: &mut NodeHost) {
        self.stop.store(true, Ordering::Relaxed);
        for server in self.servers.drain(..) {
            let _ = server.join();
        }
        if let Some(pid) = self.pid.take() {
            host.kill(pid);
        }
    }
}

impl Drop for KubeProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for server in self.servers.drain(..) {
            let _ = server.join();
        }
    }
}

/// Binds `addr` inside the netns at `netns` and serves it until `stop`.
fn serve(
    netns: &Path,
    addr: &str,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    let netns = File::open(netns).expect("open the node netns");
    let addr = addr.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        // SAFETY: joins only this thread to the node's network namespace.
        let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let listener = TcpListener::bind(&addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        listener.set_nonblocking(true).expect("nonblocking");
        ready_tx.send(()).expect("ready");
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => answer(stream, &state),
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the stand-in listens");
    handle
}

/// One request, one response, as Go's net/http writes a small one.
fn answer(mut stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (status, content_type, body) = respond(&path, &mut state.lock().unwrap());
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Service Unavailable",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn respond(path: &str, state: &mut State) -> (u16, &'static str, String) {
    let now = unix_now();
    // A sync that stopped two minutes before the switch: past the 60 s health timeout.
    let (last_sync, queued, healthy) = match state.health {
        Health::Syncing => (now - 1.0, now - 1.5, true),
        Health::Hung | Health::Failing => (state.since - 120.0, now - 1.0, false),
    };
    if state.health == Health::Failing {
        state.failures += 1;
    }
    match path {
        "/healthz" | "/livez" => {
            let last = if healthy { now } else { last_sync };
            let mut body = format!(
                "{{\"lastUpdated\": {:?},\"currentTime\": {:?}",
                go_time(last),
                go_time(now)
            );
            if path == "/healthz" {
                body.push_str(", \"nodeEligible\": true");
            }
            body.push('}');
            (if healthy { 200 } else { 503 }, "application/json", body)
        }
        "/proxyMode" => (200, "text/plain; charset=utf-8", state.mode.to_string()),
        "/metrics" => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics(state, last_sync, queued),
        ),
        _ => (
            404,
            "text/plain; charset=utf-8",
            "404 page not found\n".into(),
        ),
    }
}

/// What kube-proxy's `/metrics` holds of the families `node` reads, with `# HELP` and
/// `# TYPE` as the registry writes them, and one histogram as it writes those.
fn metrics(state: &State, last_sync: f64, queued: f64) -> String {
    let failures_family = if state.mode == "nftables" {
        (
            "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
            "Cumulative proxy nftables sync failures",
        )
    } else {
        (
            "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
            "Cumulative proxy iptables restore failures",
        )
    };
    let mut out = String::new();
    let mut family = |name: &str, help: &str, kind: &str, value: f64| {
        out.push_str(&format!(
            "# HELP {name} [ALPHA] {help}\n# TYPE {name} {kind}\n{name}{{ip_family=\"IPv4\"}} {}\n",
            go_float(value)
        ));
    };
    family(
        failures_family.0,
        failures_family.1,
        "counter",
        state.failures as f64,
    );
    family(
        "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
        "The last time a sync of proxy rules was queued",
        "gauge",
        queued,
    );
    family(
        "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
        "The last time proxy rules were successfully synced",
        "gauge",
        last_sync,
    );
    out.push_str(
        "# HELP kubeproxy_sync_proxy_rules_duration_seconds [ALPHA] SyncProxyRules latency in seconds\n\
         # TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram\n",
    );
    for (le, count) in [("0.001", 0), ("0.002", 3), ("0.004", 9), ("+Inf", 10)] {
        out.push_str(&format!(
            "kubeproxy_sync_proxy_rules_duration_seconds_bucket{{ip_family=\"IPv4\",le=\"{le}\"}} {count}\n"
        ));
    }
    out.push_str("kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family=\"IPv4\"} 0.0281\n");
    out.push_str("kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"} 10\n");
    out
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`, as Prometheus' client writes values: the
/// shortest digits, in exponent form when the exponent is below -4 or at least 6.
pub fn go_float(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("exponent");
    let exponent: i32 = exponent.parse().expect("exponent digits");
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{v}")
    }
}

/// Go's `time.Time.String()` of a UTC time read from the wall clock (`time.Now()`, so with
/// its monotonic reading): `2026-11-30 01:44:20.123456789 +0000 UTC m=+12.345678901`.
pub fn go_time(unix: f64) -> String {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    let seconds = unix.floor() as i64;
    let nanos = ((unix - unix.floor()) * 1e9).round().min(999_999_999.0) as u32;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let fraction = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    let mono = start.elapsed();
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}{fraction} +0000 UTC m=+{}.{:09}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        mono.as_secs(),
        mono.subsec_nanos()
    )
}

/// A day count since 1970-01-01 as a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
