//! scripts/bench.sh's process runner. It runs inside the test bed's client pod, so every measured
//! command is a direct child of one process in the pod's namespaces: no shell and no
//! `ip netns exec` per run. Wall time is spawn to reap; peak RSS is the child's `ru_maxrss` from
//! wait4(2), which `std::process::Child::wait` cannot report.
//!
//! ```text
//! benchrun ROUNDS WARMUP 'label|cmd arg...'...
//! ```
//! Interleaved runs (each round runs every command once, starting at a rotating position, so drift
//! in the machine's load hits all commands alike), one TSV line per command: label, exit codes
//! seen, wall median/min/p90 of a run in milliseconds, peak RSS median/max in KiB, median wall of
//! one spawn in milliseconds. A command written '@N cmd arg...' is spawned N times in sequence per
//! run (a shell loop without the shell): the run's wall time is the sum, its RSS the largest. With
//! BENCHRUN_OUT=DIR, the stdout of the last run of the i-th command (from 0) is kept in DIR/i.out.
//!
//! ```text
//! benchrun load ROUNDS DIR 'label|HOST:PORT|server cmd...'... -- load cmd...
//! ```
//! Starts every server as a child, waits (up to 5 s) until it accepts connections, then runs the
//! load command ROUNDS times per server, interleaved, with "{url}" replaced by http://HOST:PORT/
//! and its output in DIR/S.R.txt (server S, round R, from 0); the servers' output goes to
//! DIR/S.server.txt. Meanwhile it samples every server's VmRSS each 20 ms. Then it reads each
//! server's VmHWM, stops it by PID with SIGTERM (SIGKILL after 5 s) and reaps it. One TSV line per
//! server: label, VmHWM KiB, largest sampled VmRSS KiB, ru_maxrss KiB (the server's and its reaped
//! children's), exit code, the load's exit codes.
//!
//! A benchmark tool run by a script: bad arguments panic with a message.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A child process: its pid until reaped.
type Pid = libc::pid_t;

/// How a reaped child ended: exit code (128 + signal when killed, as a shell says) and its peak
/// RSS in KiB.
#[derive(Clone, Copy)]
struct Reaped {
    code: i32,
    max_rss_kib: i64,
}

fn command(argv: &[String], stdout: Stdio, stderr: Stdio) -> Command {
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // A pre_exec hook makes std fork instead of posix_spawn: with vfork's shared memory the kernel
    // records this process's RSS as the child's peak when the child execs.
    // SAFETY: the hook does nothing, so it is async-signal-safe.
    unsafe { command.pre_exec(|| Ok(())) };
    command
}

/// Starts `command`; the child is reaped by `reap` (wait4), not by `Child::wait`, which cannot
/// report rusage.
#[allow(clippy::zombie_processes)]
fn spawn(mut command: Command, name: &str) -> Pid {
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    Pid::try_from(child.id()).expect("pid fits pid_t")
}

/// Reaps `pid`; None if it has not exited yet (with `libc::WNOHANG` in `options`).
fn reap(pid: Pid, options: i32) -> Option<Reaped> {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with pointers to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, options, &mut usage) };
    assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
    if r == 0 {
        return None;
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Some(Reaped {
        code,
        max_rss_kib: usage.ru_maxrss,
    })
}

/// Sends `signal` to our own child `pid`, not reaped yet (so the pid is not another process's).
fn signal(pid: Pid, signal: i32) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid, signal) };
}

fn ms(us: u128) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// The element at `fraction` of a sorted, non-empty slice (0.5: the median).
fn pick<T: Copy + Ord>(sorted: &[T], fraction: f64) -> T {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

/// One command of a `rounds` run.
struct Spec {
    label: String,
    repeat: usize,
    argv: Vec<String>,
}

impl Spec {
    /// 'label|cmd arg...' or 'label|@N cmd arg...'.
    fn parse(text: &str) -> Spec {
        let (label, cmd) = text.split_once('|').expect("label|cmd");
        let mut argv: Vec<String> = cmd.split_whitespace().map(String::from).collect();
        let mut repeat = 1;
        if let Some(n) = argv.first().and_then(|a| a.strip_prefix('@')) {
            repeat = n.parse().expect("@N");
            argv.remove(0);
        }
        assert!(!argv.is_empty(), "no command in {text:?}");
        Spec {
            label: label.to_string(),
            repeat,
            argv,
        }
    }
}

/// One run of a spec.
struct Run {
    codes: Vec<i32>,
    wall_us: u128,
    max_rss_kib: i64,
    spawns_us: Vec<u128>,
}

fn run(spec: &Spec, out: Option<&str>) -> Run {
    let file = out.map(|path| File::create(path).expect("create output file"));
    let mut codes = Vec::new();
    let mut peak = 0;
    let mut spawns_us = Vec::with_capacity(spec.repeat);
    let begin = Instant::now();
    for _ in 0..spec.repeat {
        let stdout = match &file {
            Some(f) => Stdio::from(f.try_clone().expect("dup")),
            None => Stdio::null(),
        };
        let command = command(&spec.argv, stdout, Stdio::null());
        let start = Instant::now();
        let pid = spawn(command, &spec.argv[0]);
        let reaped = reap(pid, 0).expect("blocking wait4");
        spawns_us.push(start.elapsed().as_micros());
        codes.push(reaped.code);
        peak = peak.max(reaped.max_rss_kib);
    }
    let wall_us = if spec.repeat == 1 {
        spawns_us[0]
    } else {
        begin.elapsed().as_micros()
    };
    Run {
        codes,
        wall_us,
        max_rss_kib: peak,
        spawns_us,
    }
}

fn sorted<T: Ord>(mut values: Vec<T>) -> Vec<T> {
    values.sort();
    values
}

fn rounds(args: &[String]) {
    let rounds: usize = args[0].parse().expect("ROUNDS");
    let warmup: usize = args[1].parse().expect("WARMUP");
    assert!(rounds > 0, "ROUNDS must be at least 1");
    let out_dir = std::env::var("BENCHRUN_OUT").ok();
    let specs: Vec<Spec> = args[2..].iter().map(|s| Spec::parse(s)).collect();
    let n = specs.len();
    let mut results: Vec<Vec<Run>> = (0..n).map(|_| Vec::new()).collect();
    for round in 0..warmup + rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let out = out_dir.as_ref().map(|d| format!("{d}/{i}.out"));
            let r = run(&specs[i], out.as_deref());
            if round >= warmup {
                results[i].push(r);
            }
        }
    }
    for (spec, runs) in specs.iter().zip(&results) {
        let mut codes = sorted(runs.iter().flat_map(|r| r.codes.iter().copied()).collect());
        codes.dedup();
        let wall = sorted(runs.iter().map(|r| r.wall_us).collect());
        let rss = sorted(runs.iter().map(|r| r.max_rss_kib).collect());
        let spawns = sorted(
            runs.iter()
                .flat_map(|r| r.spawns_us.iter().copied())
                .collect(),
        );
        let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            spec.label,
            codes.join(","),
            ms(pick(&wall, 0.5)),
            ms(wall[0]),
            ms(pick(&wall, 0.9)),
            pick(&rss, 0.5),
            rss[rss.len() - 1],
            ms(pick(&spawns, 0.5))
        );
    }
}

/// A value in KiB from /proc/PID/status ("VmRSS:", "VmHWM:").
fn status_kib(pid: Pid, key: &str) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The servers this process started; whatever has not been stopped is stopped on drop (also on
/// a panic).
struct Servers {
    pids: Vec<Pid>,
    done: Vec<Option<Reaped>>,
}

impl Servers {
    fn stop(&mut self, i: usize) -> Reaped {
        if let Some(r) = self.done[i] {
            return r;
        }
        let pid = self.pids[i];
        signal(pid, libc::SIGTERM);
        for _ in 0..500 {
            if let Some(r) = reap(pid, libc::WNOHANG) {
                self.done[i] = Some(r);
                return r;
            }
            thread::sleep(Duration::from_millis(10));
        }
        signal(pid, libc::SIGKILL);
        let r = reap(pid, 0).expect("blocking wait4");
        self.done[i] = Some(r);
        r
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for i in 0..self.pids.len() {
            self.stop(i);
        }
    }
}

/// One server of a `load` run: 'label|HOST:PORT|cmd...'.
struct Server {
    label: String,
    addr: SocketAddr,
    argv: Vec<String>,
}

impl Server {
    fn parse(text: &str) -> Server {
        let mut parts = text.splitn(3, '|');
        let label = parts.next().expect("label").to_string();
        let addr = parts.next().expect("HOST:PORT").parse().expect("HOST:PORT");
        let argv = parts
            .next()
            .expect("cmd")
            .split_whitespace()
            .map(String::from)
            .collect();
        Server { label, addr, argv }
    }
}

/// Waits (up to about 5 s) until the i-th server accepts connections; panics if it exits first.
fn wait_listening(started: &mut Servers, i: usize, server: &Server) {
    for _ in 0..50 {
        if let Some(r) = reap(started.pids[i], libc::WNOHANG) {
            started.done[i] = Some(r);
            panic!("{} exited with {} before it listened", server.label, r.code);
        }
        if TcpStream::connect_timeout(&server.addr, Duration::from_millis(100)).is_ok() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("{} does not listen on {}", server.label, server.addr);
}

/// Samples every pid's VmRSS each 20 ms until `sampling` is cleared; returns the largest seen.
fn sample_rss(pids: Vec<Pid>, sampling: Arc<AtomicBool>) -> thread::JoinHandle<Vec<i64>> {
    let peaks = Arc::new(Mutex::new(vec![0i64; pids.len()]));
    thread::spawn(move || {
        while sampling.load(Ordering::SeqCst) {
            for (i, &pid) in pids.iter().enumerate() {
                if let Some(kib) = status_kib(pid, "VmRSS:") {
                    let mut peaks = peaks.lock().expect("peaks");
                    peaks[i] = peaks[i].max(kib);
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        let peaks = peaks.lock().expect("peaks").clone();
        peaks
    })
}

fn load(args: &[String]) {
    let rounds: usize = args[0].parse().expect("ROUNDS");
    let dir = &args[1];
    let sep = args
        .iter()
        .position(|a| a == "--")
        .expect("-- before the load command");
    let servers: Vec<Server> = args[2..sep].iter().map(|s| Server::parse(s)).collect();
    let load_argv = &args[sep + 1..];
    let n = servers.len();
    let mut started = Servers {
        pids: Vec::new(),
        done: Vec::new(),
    };
    for (i, server) in servers.iter().enumerate() {
        let log = File::create(format!("{dir}/{i}.server.txt")).expect("create server log");
        let err = log.try_clone().expect("dup");
        let command = command(&server.argv, Stdio::from(log), Stdio::from(err));
        started.pids.push(spawn(command, &server.label));
        started.done.push(None);
    }
    for (i, server) in servers.iter().enumerate() {
        wait_listening(&mut started, i, server);
    }
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = sample_rss(started.pids.clone(), sampling.clone());
    let mut load_codes: Vec<Vec<i32>> = vec![Vec::new(); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let url = format!("http://{}/", servers[i].addr);
            let argv: Vec<String> = load_argv.iter().map(|a| a.replace("{url}", &url)).collect();
            let out = File::create(format!("{dir}/{i}.{round}.txt")).expect("create load output");
            let err = out.try_clone().expect("dup");
            let pid = spawn(command(&argv, Stdio::from(out), Stdio::from(err)), &argv[0]);
            load_codes[i].push(reap(pid, 0).expect("blocking wait4").code);
        }
    }
    let hwm: Vec<i64> = started
        .pids
        .iter()
        .map(|&pid| status_kib(pid, "VmHWM:").unwrap_or(-1))
        .collect();
    sampling.store(false, Ordering::SeqCst);
    let peaks = sampler.join().expect("sampler");
    for (i, server) in servers.iter().enumerate() {
        let r = started.stop(i);
        let codes: Vec<String> = load_codes[i].iter().map(|c| c.to_string()).collect();
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            server.label,
            hwm[i],
            peaks[i],
            r.max_rss_kib,
            r.code,
            codes.join(",")
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("load") {
        load(&args[1..]);
    } else {
        rounds(&args);
    }
}
