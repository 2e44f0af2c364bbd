//! The Kubernetes-like test bed (`scripts/testbed.sh`) seen from Rust integration tests.
//!
//! `Testbed::up()` brings up a private bed under a unique prefix and `Drop` tears it down, so
//! tests can run in parallel. The bed needs root: without it every test using it fails (never
//! skips) with a message saying so.
//!
//! Topology, addresses and failure switches are documented at the top of `scripts/testbed.sh`
//! and in `scripts/testbed/README.md`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The guide's busybox-like pod: no server, runs the probes.
pub const CLIENT: &str = "client";
/// A client pod in a second namespace (`team-b`), for failures that hit one namespace only.
pub const CLIENT_B: &str = "client-b";
pub const CLIENT_B_IP: &str = "10.244.0.4";
/// Where the `nodelocal` switches put a NodeLocal DNSCache (in the node).
pub const NODELOCAL_IP: &str = "169.254.20.10";
/// The cluster DNS pod (BIND standing in for CoreDNS), namespace kube-system.
pub const DNS_POD: &str = "coredns-5d78c9869d-9x7kq";
/// The three `hostnames` backends, serving their own name on :9376.
pub const BACKENDS: [&str; 3] = [
    "hostnames-632524106-bbpiw",
    "hostnames-632524106-ly40y",
    "hostnames-632524106-tlaok",
];
/// The backend the `backend-down` switch stops.
pub const DOWN_BACKEND: &str = BACKENDS[0];

pub const HOSTNAMES_VIP: &str = "10.0.1.175";
pub const HOSTNAMES_FQDN: &str = "hostnames.default.svc.cluster.local";
pub const KUBERNETES_VIP: &str = "10.0.0.1";
pub const DNS_VIP: &str = "10.0.0.10";
pub const DNS_POD_IP: &str = "10.244.0.2";
pub const CLIENT_IP: &str = "10.244.0.3";
pub const BACKEND_IPS: [&str; 3] = ["10.244.0.5", "10.244.0.6", "10.244.0.7"];
pub const BACKEND_PORT: u16 = 9376;
/// `default/self`: a Service whose only endpoint is `SELF_BACKEND` (for hairpin tests).
pub const SELF_VIP: &str = "10.0.1.200";
pub const SELF_FQDN: &str = "self.default.svc.cluster.local";
pub const SELF_BACKEND: &str = BACKENDS[0];
/// The node's address on the pod bridge: the source masquerade gives hairpin traffic.
pub const NODE_BRIDGE_IP: &str = "10.244.0.1";

/// Every failure switch `scripts/testbed.sh break` accepts.
pub const SWITCHES: [&str; 25] = [
    "service-missing",
    "no-endpoints",
    "wrong-target-port",
    "backend-down",
    "dns-down",
    "dns-drop",
    "resolv-no-search",
    "resolv-low-ndots",
    "netpol-drop",
    "hairpin-off",
    "masq-mark-missing",
    "bridge-nf-off",
    "kube-proxy-down",
    "bridge-promisc",
    "rules-missing",
    "endpoint-stale",
    "endpoint-missing",
    "dns-vip-missing",
    "dns-udp-drop",
    "dns-tcp-drop",
    "dns-drop-team-b",
    "dns-upstream-fail",
    "dns-flaky",
    "nodelocal",
    "nodelocal-down",
];

/// Hard cap for the script's own commands (up, down, break, fix...).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default hard cap for `exec`.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Path of `scripts/testbed.sh` in this checkout.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed.sh")
}

/// Effective uid from /proc/self/status (std has no geteuid).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Panics (fails the test) unless running as root: the test bed creates network namespaces.
pub fn require_root() {
    match effective_uid() {
        Some(0) => {}
        Some(uid) => panic!(
            "the svcprobe test bed needs root (it creates network namespaces), but this test runs \
             as uid {uid}: run the integration tests as root, e.g. `sudo -E cargo test`"
        ),
        None => panic!("cannot read the effective uid from /proc/self/status"),
    }
}

/// A short prefix ([a-z0-9]{1,6}) unique among the beds of concurrently running test processes:
/// "t" + pid in base 36 (4 digits) + a per-process counter (1 digit).
fn unique_prefix() -> String {
    fn base36(mut n: u32, width: usize) -> String {
        const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut out = vec![b'0'; width];
        for slot in out.iter_mut().rev() {
            *slot = DIGITS[(n % 36) as usize];
            n /= 36;
        }
        String::from_utf8(out).expect("ascii")
    }
    let pid = std::process::id() % 36u32.pow(4);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 36;
    format!("t{}{}", base36(pid, 4), base36(n, 1))
}

/// Runs `command` with stdin closed and stdout/stderr captured, killing it after `timeout`.
/// A command killed this way has no exit code (`status.code()` is `None`).
pub fn run_with_timeout(command: Command, timeout: Duration) -> Output {
    run_with_input(command, None, timeout)
}

/// `run_with_timeout` with `input` written to the command's stdin (then closed), when given.
pub fn run_with_input(mut command: Command, input: Option<Vec<u8>>, timeout: Duration) -> Output {
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C");
    let mut child: Child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = reader(child.stdout.take().expect("piped stdout"));
    let stderr = reader(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                break child.wait().expect("wait for killed child");
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for {command:?}: {e}"),
        }
    };
    // Something the command started may still hold the pipes: do not wait for it for long.
    let grace = Duration::from_secs(2);
    Output {
        status,
        stdout: stdout.recv_timeout(grace).unwrap_or_default(),
        stderr: stderr.recv_timeout(grace).unwrap_or_default(),
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Describes an Output for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One running test bed; torn down (`down`) when dropped.
pub struct Testbed {
    prefix: String,
    /// The bed's scratch directory (see `scratch_dir`).
    scratch: PathBuf,
}

impl Testbed {
    /// Brings up a fresh bed under a unique prefix. Panics (fails the test) if not root or if
    /// the bed does not come up.
    pub fn up() -> Testbed {
        Testbed::up_with(&[])
    }

    /// `up` with environment variables for the script's `up` (`TESTBED_IPTABLES=legacy`,
    /// `TESTBED_PROXY_MODE=nftables`: the bed keeps them for its life).
    pub fn up_with(env: &[(&str, &str)]) -> Testbed {
        require_root();
        let prefix = unique_prefix();
        let bed = Testbed {
            scratch: std::env::temp_dir().join(format!("svcprobe-test-{prefix}")),
            prefix,
        };
        // a bed left behind by an earlier, killed run with the same pid would be reused: clear it
        bed.script_ok(&["down"]);
        let mut up = bed.command(&["up"]);
        up.envs(env.iter().copied());
        let out = run_with_timeout(up, SCRIPT_TIMEOUT);
        assert!(
            out.status.success(),
            "testbed up failed: {}",
            describe(&out)
        );
        bed
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A directory for the test's own files (objects, resolv.conf variants), removed with the
    /// bed, also when the test fails: a test run leaves nothing behind in /tmp.
    pub fn scratch_dir(&self) -> &Path {
        std::fs::create_dir_all(&self.scratch).expect("scratch dir");
        &self.scratch
    }

    /// Runs `scripts/testbed.sh -p PREFIX ARGS...` (hard timeout 30 s).
    pub fn script_cmd(&self, args: &[&str]) -> Output {
        run_with_timeout(self.command(args), SCRIPT_TIMEOUT)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(script()).arg("-p").arg(&self.prefix).args(args);
        // The backends are `svcprobe serve`, the binary under test (busybox httpd otherwise).
        cmd.env("SVCPROBE", super::bin::svcprobe());
        cmd
    }

    /// Like `script_cmd`, panicking unless it exits 0; returns stdout.
    pub fn script_ok(&self, args: &[&str]) -> String {
        let out = self.script_cmd(args);
        assert!(
            out.status.success(),
            "scripts/testbed.sh -p {} {} failed: {}",
            self.prefix,
            args.join(" "),
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `args` inside `pod` (its netns, resolv.conf, hosts and hostname), killed after
    /// `EXEC_TIMEOUT`. Exit status 125 means the test bed could not run it.
    pub fn exec(&self, pod: &str, args: &[&str]) -> Output {
        self.exec_timeout(pod, args, EXEC_TIMEOUT)
    }

    /// `exec` with an explicit hard timeout. When `args` run svcprobe itself, any exit outside
    /// 0-3 (a crash) fails the test.
    pub fn exec_timeout(&self, pod: &str, args: &[&str], timeout: Duration) -> Output {
        exec_in(&self.prefix, pod, args, None, timeout)
    }

    /// `exec_timeout` with `input` on the command's stdin (for `--objects -`).
    pub fn exec_input(
        &self,
        pod: &str,
        args: &[&str],
        input: Vec<u8>,
        timeout: Duration,
    ) -> Output {
        exec_in(&self.prefix, pod, args, Some(input), timeout)
    }

    /// Turns a failure switch on (see `SWITCHES`).
    pub fn break_(&self, switch: &str) {
        self.script_ok(&["break", switch]);
    }

    /// Turns a failure switch off; `"all"` turns every one off.
    pub fn fix(&self, switch: &str) {
        self.script_ok(&["fix", switch]);
    }

    pub fn pod_ip(&self, pod: &str) -> String {
        self.script_ok(&["ip", pod]).trim().to_string()
    }

    /// Name of the pod's network namespace (for `ip netns exec`).
    pub fn netns(&self, pod: &str) -> String {
        self.script_ok(&["ns", pod]).trim().to_string()
    }

    pub fn query_log_path(&self) -> PathBuf {
        PathBuf::from(self.script_ok(&["querylog"]).trim())
    }

    /// BIND's query log: one line per query, with time, client ip#port, name, class and type.
    pub fn query_log(&self) -> String {
        std::fs::read_to_string(self.query_log_path()).unwrap_or_default()
    }

    pub fn clear_query_log(&self) {
        self.script_ok(&["clear-querylog"]);
    }

    /// The node's iptables rules (iptables-save inside the node netns).
    pub fn rules(&self) -> String {
        self.script_ok(&["rules"])
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
        let out = self.script_cmd(&["down"]);
        if !out.status.success() && !thread::panicking() {
            panic!("testbed down failed: {}", describe(&out));
        }
    }
}

/// `Testbed::exec` for code that holds only the bed's prefix (a runner called from another
/// thread, which must not own the bed: the bed goes down when the test drops it).
pub fn exec_in(
    prefix: &str,
    pod: &str,
    args: &[&str],
    input: Option<Vec<u8>>,
    timeout: Duration,
) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(script())
        .arg("-p")
        .arg(prefix)
        .args(["exec", pod, "--"])
        .args(args)
        // A bed's pods are not in the cluster that may run these tests: without this,
        // `diagnose` there would try that cluster's API server (the bed drops it, slowly).
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT");
    let out = run_with_input(cmd, input, timeout);
    if args.first() == Some(&super::bin::svcprobe()) {
        super::bin::assert_documented_exit(out.status, &describe(&out));
    }
    out
}
