#!/usr/bin/env bash
# svcprobe's benchmark, in one run, from the test bed's client pod:
#   1. the size of the static binary next to busybox-static's;
#   2. wall time and peak RSS of `svcprobe nslookup` against `busybox nslookup` and `dig` asking the same
#      server (BIND in the test bed, 10.0.0.10);
#   3. 100 sequential HTTP GETs of the hostnames ClusterIP (http://10.0.1.175/, a new connection each) by
#      `svcprobe http --count 100` in one process, by curl with 100 URLs in one process and by a loop of
#      `busybox wget` (issue 4);
#   4. `svcprobe serve` against `busybox httpd` under `wrk` load, on 127.0.0.1 inside the client pod's
#      network namespace: requests/s, latency, and the server's peak RSS (issue 4);
#   5. `svcprobe diagnose hostnames`, healthy (with and without --objects) and black-holed (switch
#      kube-proxy-down), wall time (issue 5).
# Results go in BENCHMARKS.md by hand.
#
# USAGE
#   scripts/bench.sh            builds the release musl binary, brings up a test bed (prefix "bench") whose
#                               backends run `svcprobe serve`, measures, prints one table per section, and
#                               takes the bed down again (about a minute after the build)
#   Environment: BENCH_RUNS (default 100 rounds of nslookups), BENCH_WARMUP (default 5), BENCH_HTTP_RUNS
#   (default 30 rounds of 100 HTTP probes), BENCH_DIAG_RUNS (default 30 rounds of diagnose),
#   BENCH_WRK_ROUNDS (default 3 wrk runs per server), BENCH_WRK_ARGS (default "-t2 -c64 -d5s"),
#   BENCH_PREFIX (default bench), SVCPROBE (a binary to measure instead of building one).
#
# HOW IT MEASURES
#   A small helper (Rust, std only, compiled here with rustc from the source below) runs inside the pod, so
#   every command is a direct child of one process in the pod's namespaces: no shell and no `ip netns exec`
#   per run. Rounds are interleaved (each round runs every command once, starting at a rotating position), so
#   drift in the machine's load hits all commands alike. Wall time is spawn to reap; peak RSS is the child's
#   ru_maxrss from wait4(2). The helper forks (not vfork/posix_spawn, whose shared memory the kernel would
#   count as the child's peak) and is itself a static musl binary, so the floor under every RSS figure is a
#   few hundred KiB: the row "empty static program" shows it. Each command's DNS queries per run are counted from BIND's query log beforehand,
#   because the tools do not send the same queries for the same name (see BENCHMARKS.md).
#   A loop ("@100 cmd") is run by the helper too, so a loop of busybox wget costs no shell. For the load
#   test the helper starts both servers as its children, runs wrk against each in turn, samples the
#   servers' VmRSS while they work, then stops them by PID (SIGTERM) and reaps them.
#   Every helper run is bounded by `timeout`, every probe by its own timeout; whatever is left in the bed's
#   namespaces is stopped by `testbed.sh down` on exit.
#   Needs root and the packages of scripts/deps.sh.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export PATH="$HOME/.cargo/bin:$PATH"
runs=${BENCH_RUNS:-100}
warmup=${BENCH_WARMUP:-5}
http_runs=${BENCH_HTTP_RUNS:-30}
diag_runs=${BENCH_DIAG_RUNS:-30}
wrk_rounds=${BENCH_WRK_ROUNDS:-3}
wrk_args=${BENCH_WRK_ARGS:--t2 -c64 -d5s}
prefix=${BENCH_PREFIX:-bench}
target=x86_64-unknown-linux-musl
busybox=/bin/busybox

die() {
    echo "bench.sh: $*" >&2
    exit 1
}
[[ $(id -u) == 0 ]] || die "must run as root (the test bed uses network namespaces)"
[[ -x $busybox ]] || die "$busybox missing (package busybox-static; run scripts/deps.sh)"
for tool in curl wrk timeout dig; do
    command -v "$tool" >/dev/null || die "$tool missing (run scripts/deps.sh)"
done

if [[ -z ${SVCPROBE:-} ]]; then
    cargo build --quiet --locked --release --target "$target"
    SVCPROBE=$repo/target/$target/release/svcprobe
    origin="commit $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')"
else
    origin=$SVCPROBE
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/svcprobe-bench.XXXXXX")
testbed() { "$repo/scripts/testbed.sh" -p "$prefix" "$@"; }
# inpod SECONDS CMD...: CMD in the client pod, killed after SECONDS.
inpod() { timeout "$1" "$repo/scripts/testbed.sh" -p "$prefix" exec client -- "${@:2}"; }
cleanup() {
    testbed down >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# The measured binary is copied and stripped again, so the size is the stripped size whatever the profile.
cp "$SVCPROBE" "$work/svcprobe"
strip "$work/svcprobe"
svcprobe=$work/svcprobe

cat >"$work/benchrun.rs" <<'RUST'
// benchrun ROUNDS WARMUP 'label|cmd arg...'...
//   Interleaved runs, one TSV line per command: label, exit codes seen, wall median/min/p90 of a run in
//   milliseconds, peak RSS median/max in KiB, median wall of one spawn in milliseconds. A command written
//   '@N cmd arg...' is spawned N times in sequence per run (a shell loop without the shell): the run's wall
//   time is the sum, its RSS the largest. With BENCHRUN_OUT=DIR, the stdout of the last run of the i-th
//   command (from 0) is kept in DIR/i.out.
// benchrun load ROUNDS DIR 'label|HOST:PORT|server cmd...'... -- load cmd...
//   Starts every server as a child, waits (up to 5 s) until it accepts connections, then runs the load
//   command ROUNDS times per server, interleaved, with "{url}" replaced by http://HOST:PORT/ and its output
//   in DIR/S.R.txt (server S, round R, from 0); the servers' output goes to DIR/S.server.txt. Meanwhile it
//   samples every server's VmRSS each 20 ms. Then it reads each server's VmHWM, stops it by PID with
//   SIGTERM (SIGKILL after 5 s) and reaps it. One TSV line per server: label, VmHWM KiB, largest sampled
//   VmRSS KiB, ru_maxrss KiB (the server's and its reaped children's), exit code, the load's exit codes.
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[repr(C)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
}
const WNOHANG: i32 = 1;
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

fn command(argv: &[String], stdout: Stdio, stderr: Stdio) -> Command {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    // A pre_exec hook makes std fork instead of posix_spawn: with vfork's shared memory the kernel
    // records this process's RSS as the child's peak when the child execs.
    unsafe { command.pre_exec(|| Ok(())) };
    command
}

fn spawn(mut command: Command, name: &str) -> i32 {
    let child = command.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    // Reaped by wait4 below rather than by Child::wait, which cannot report rusage.
    child.id() as i32
}

/// Reaps pid: (exit code or 128+signal, ru_maxrss KiB); None if it has not exited (WNOHANG).
fn reap(pid: i32, options: i32) -> Option<(i32, i64)> {
    let mut status = 0;
    let mut usage = Rusage { utime: [0; 2], stime: [0; 2], maxrss: 0, rest: [0; 13] };
    let r = unsafe { wait4(pid, &mut status, options, &mut usage) };
    assert!(r >= 0, "wait4 failed");
    if r == 0 {
        return None;
    }
    let code = if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) };
    Some((code, usage.maxrss))
}

fn ms(us: u128) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn pick<T: Copy + Ord>(sorted: &[T], fraction: f64) -> T {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

struct Spec {
    label: String,
    repeat: usize,
    argv: Vec<String>,
}

/// One run of a spec: (exit codes, wall microseconds, peak RSS KiB, wall of each spawn).
fn run(spec: &Spec, out: Option<&str>) -> (Vec<i32>, u128, i64, Vec<u128>) {
    let file = out.map(|path| File::create(path).expect("create output file"));
    let mut codes = Vec::new();
    let mut peak = 0;
    let mut spawns = Vec::with_capacity(spec.repeat);
    let begin = Instant::now();
    for _ in 0..spec.repeat {
        let stdout = match &file {
            Some(f) => Stdio::from(f.try_clone().expect("dup")),
            None => Stdio::null(),
        };
        let command = command(&spec.argv, stdout, Stdio::null());
        let start = Instant::now();
        let pid = spawn(command, &spec.argv[0]);
        let (code, maxrss) = reap(pid, 0).expect("blocking wait4");
        spawns.push(start.elapsed().as_micros());
        codes.push(code);
        peak = peak.max(maxrss);
    }
    let wall = if spec.repeat == 1 { spawns[0] } else { begin.elapsed().as_micros() };
    (codes, wall, peak, spawns)
}

fn rounds(args: &[String]) {
    let rounds: usize = args[0].parse().expect("ROUNDS");
    let warmup: usize = args[1].parse().expect("WARMUP");
    let out_dir = std::env::var("BENCHRUN_OUT").ok();
    let specs: Vec<Spec> = args[2..]
        .iter()
        .map(|s| {
            let (label, cmd) = s.split_once('|').expect("label|cmd");
            let mut argv: Vec<String> = cmd.split_whitespace().map(String::from).collect();
            let mut repeat = 1;
            if let Some(n) = argv[0].strip_prefix('@') {
                repeat = n.parse().expect("@N");
                argv.remove(0);
            }
            Spec { label: label.to_string(), repeat, argv }
        })
        .collect();
    let n = specs.len();
    let mut results: Vec<Vec<(Vec<i32>, u128, i64, Vec<u128>)>> = (0..n).map(|_| Vec::new()).collect();
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
    for (i, spec) in specs.iter().enumerate() {
        let mut codes: Vec<i32> = results[i].iter().flat_map(|r| r.0.iter().copied()).collect();
        codes.sort();
        codes.dedup();
        let mut wall: Vec<u128> = results[i].iter().map(|r| r.1).collect();
        wall.sort();
        let mut rss: Vec<i64> = results[i].iter().map(|r| r.2).collect();
        rss.sort();
        let mut spawns: Vec<u128> = results[i].iter().flat_map(|r| r.3.iter().copied()).collect();
        spawns.sort();
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
fn status_kib(pid: i32, key: &str) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// The servers this process started; whatever has not been stopped is stopped on drop (also on a panic).
struct Servers {
    pids: Vec<i32>,
    done: Vec<Option<(i32, i64)>>,
}

impl Servers {
    fn stop(&mut self, i: usize) -> (i32, i64) {
        if let Some(r) = self.done[i] {
            return r;
        }
        // Our own child, not reaped yet: the pid cannot belong to another process.
        unsafe { kill(self.pids[i], SIGTERM) };
        for _ in 0..500 {
            if let Some(r) = reap(self.pids[i], WNOHANG) {
                self.done[i] = Some(r);
                return r;
            }
            thread::sleep(Duration::from_millis(10));
        }
        unsafe { kill(self.pids[i], SIGKILL) };
        let r = reap(self.pids[i], 0).expect("blocking wait4");
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

fn load(args: &[String]) {
    let rounds: usize = args[0].parse().expect("ROUNDS");
    let dir = &args[1];
    let sep = args.iter().position(|a| a == "--").expect("-- before the load command");
    let servers: Vec<(String, SocketAddr, Vec<String>)> = args[2..sep]
        .iter()
        .map(|s| {
            let mut parts = s.splitn(3, '|');
            let label = parts.next().expect("label").to_string();
            let addr = parts.next().expect("HOST:PORT").parse().expect("HOST:PORT");
            let argv = parts.next().expect("cmd").split_whitespace().map(String::from).collect();
            (label, addr, argv)
        })
        .collect();
    let load_argv = &args[sep + 1..];
    let n = servers.len();
    let mut started = Servers { pids: Vec::new(), done: Vec::new() };
    for (i, (label, _, argv)) in servers.iter().enumerate() {
        let log = File::create(format!("{dir}/{i}.server.txt")).expect("create server log");
        let err = log.try_clone().expect("dup");
        started.pids.push(spawn(command(argv, Stdio::from(log), Stdio::from(err)), label));
        started.done.push(None);
    }
    for (i, (label, addr, _)) in servers.iter().enumerate() {
        let mut up = false;
        for _ in 0..50 {
            if let Some(r) = reap(started.pids[i], WNOHANG) {
                started.done[i] = Some(r);
                panic!("{label} exited with {} before it listened", r.0);
            }
            if TcpStream::connect_timeout(addr, Duration::from_millis(100)).is_ok() {
                up = true;
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        assert!(up, "{label} does not listen on {addr}");
    }
    let sampling = Arc::new(AtomicBool::new(true));
    let peaks = Arc::new(Mutex::new(vec![0i64; n]));
    let sampler = {
        let (sampling, peaks, pids) = (sampling.clone(), peaks.clone(), started.pids.clone());
        thread::spawn(move || {
            while sampling.load(Ordering::SeqCst) {
                for (i, &pid) in pids.iter().enumerate() {
                    if let Some(kib) = status_kib(pid, "VmRSS:") {
                        let mut peaks = peaks.lock().unwrap();
                        peaks[i] = peaks[i].max(kib);
                    }
                }
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut load_codes: Vec<Vec<i32>> = vec![Vec::new(); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let url = format!("http://{}/", servers[i].1);
            let argv: Vec<String> = load_argv.iter().map(|a| a.replace("{url}", &url)).collect();
            let out = File::create(format!("{dir}/{i}.{round}.txt")).expect("create load output");
            let err = out.try_clone().expect("dup");
            let pid = spawn(command(&argv, Stdio::from(out), Stdio::from(err)), &argv[0]);
            load_codes[i].push(reap(pid, 0).expect("blocking wait4").0);
        }
    }
    let hwm: Vec<i64> = started.pids.iter().map(|&pid| status_kib(pid, "VmHWM:").unwrap_or(-1)).collect();
    sampling.store(false, Ordering::SeqCst);
    sampler.join().expect("sampler");
    let peaks = peaks.lock().unwrap().clone();
    for (i, (label, _, _)) in servers.iter().enumerate() {
        let (code, maxrss) = started.stop(i);
        let codes: Vec<String> = load_codes[i].iter().map(|c| c.to_string()).collect();
        println!("{label}\t{}\t{}\t{maxrss}\t{code}\t{}", hwm[i], peaks[i], codes.join(","));
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
RUST
static=(--target "$target" -C relocation-model=static -C opt-level=2)
rustc --edition 2021 "${static[@]}" -o "$work/benchrun" "$work/benchrun.rs"
echo 'fn main() {}' >"$work/empty.rs"
rustc --edition 2021 "${static[@]}" -C panic=abort -o "$work/empty" "$work/empty.rs"

# The backends run the measured binary's `serve` (the shipped serve_hostname drop-in), whatever the caller's
# environment says.
SVCPROBE=$svcprobe testbed up >/dev/null

# ------------------------------------------------------------------ DNS lookups
fqdn=hostnames.default.svc.cluster.local
# label|command; the label is what the table shows.
specs=(
    "svcprobe nslookup NAME|$svcprobe nslookup $fqdn"
    "busybox nslookup NAME|$busybox nslookup $fqdn"
    "dig NAME|dig $fqdn"
    "svcprobe nslookup NAME.|$svcprobe nslookup $fqdn."
    "busybox nslookup NAME.|$busybox nslookup $fqdn."
    "dig NAME A NAME AAAA|dig $fqdn A $fqdn AAAA"
    "svcprobe nslookup hostnames|$svcprobe nslookup hostnames"
    "busybox nslookup hostnames|$busybox nslookup hostnames"
    "dig +search hostnames|dig +search hostnames"
    "svcprobe --version (start-up)|$svcprobe --version"
    "busybox true (start-up)|$busybox true"
    "empty static program (measurement floor)|$work/empty"
)

# Queries each command sends, from the server's log; also checks that each one gets the Service's address.
querylog=$(testbed querylog)
declare -A queries
for spec in "${specs[@]}"; do
    label=${spec%%|*}
    read -ra argv <<<"${spec#*|}"
    testbed clear-querylog
    out=$(inpod 30 "${argv[@]}" 2>&1) || true
    queries[$label]=$(grep -c 'query:' "$querylog" || true)
    if [[ $label != *start-up* && $label != *floor* && $out != *10.0.1.175* ]]; then
        die "'$label' did not resolve to 10.0.1.175:"$'\n'"$out"
    fi
done

inpod 900 "$work/benchrun" "$runs" "$warmup" "${specs[@]}" >"$work/results.tsv"

# ------------------------------------------------------------------ HTTP probes of the ClusterIP
url=http://10.0.1.175/
probes=100
# curl 7.88 has no option that forbids connection reuse (libcurl's CURLOPT_FRESH_CONNECT/FORBID_REUSE are
# not exposed; --no-keepalive only turns off TCP keepalive probes): "Connection: close" in the request makes
# the server close after each response, so curl opens a new connection for the next URL. Checked below with
# %{num_connects} (1 per transfer when it connected anew). `svcprobe serve` closes after one response anyway.
curl_args="curl -s --max-time 5 -H Connection:close"
curl_urls=""
for _ in $(seq "$probes"); do curl_urls+=" -o /dev/null $url"; done
http_specs=(
    "svcprobe http --count $probes (1 process)|$svcprobe http --count $probes $url"
    "curl, $probes URLs (1 process)|$curl_args$curl_urls"
    "svcprobe http --count 1|$svcprobe http --count 1 $url"
    "curl, 1 URL|$curl_args -o /dev/null $url"
    "busybox wget -q, loop of $probes|@$probes timeout 5 $busybox wget -q -O /dev/null $url"
    "timeout 5 busybox true, loop of $probes (floor)|@$probes timeout 5 $busybox true"
)

# One run of each first, with its output, to check it and for the tools' own per-request times.
inpod 60 "$svcprobe" http --count "$probes" "$url" >"$work/http-svcprobe.json" ||
    die "svcprobe http failed: $(head -c 2000 "$work/http-svcprobe.json")"
grep -q "\"200\": $probes" "$work/http-svcprobe.json" || die "svcprobe http: not $probes answers with 200"
svcprobe_backends=$(grep -c '"share":' "$work/http-svcprobe.json" || true)
# shellcheck disable=SC2086 # curl_urls is meant to be split
inpod 60 $curl_args -w '%{http_code} %{num_connects} %{time_total}\n' $curl_urls >"$work/http-curl.txt" ||
    die "curl failed"
curl_ok=$(grep -c '^200 1 ' "$work/http-curl.txt" || true)
[[ $curl_ok == "$probes" ]] ||
    die "curl: $curl_ok of $probes transfers answered 200 on a new connection:"$'\n'"$(sort "$work/http-curl.txt" | uniq -c | head)"
wget_body=$(inpod 10 timeout 5 "$busybox" wget -q -O - "$url") || die "busybox wget failed"
[[ $wget_body == hostnames-* ]] || die "busybox wget got '$wget_body'"

# median of the numbers on stdin (the same element pick() takes), times $1
median() { sort -g | awk -v f="${1:-1}" '{ v[NR] = $1 } END { if (NR) printf "%.3f", v[int((NR - 1) / 2 + 0.5) + 1] * f }'; }
svcprobe_req=$(grep -o '"total_ms": [0-9.]*' "$work/http-svcprobe.json" | cut -d' ' -f2 | median)
curl_req=$(cut -d' ' -f3 "$work/http-curl.txt" | median 1000)

inpod 900 "$work/benchrun" "$http_runs" 3 "${http_specs[@]}" >"$work/http.tsv"

# ------------------------------------------------------------------ diagnose, healthy
cp "$repo/tests/fixtures/objects/hostnames.json" "$work/objects.json"
diag_specs=(
    "svcprobe diagnose hostnames --objects FILE|$svcprobe diagnose hostnames --objects $work/objects.json"
    "svcprobe diagnose hostnames|$svcprobe diagnose hostnames"
)
declare -A diag_verdict diag_own diag_samples
for spec in "${diag_specs[@]}"; do
    label=${spec%%|*}
    read -ra argv <<<"${spec#*|}"
    out=$(inpod 30 "${argv[@]}") || die "'$label' is not healthy:"$'\n'"$out"
    diag_verdict[$label]=$(grep -o '"cause": "[a-z-]*"' <<<"$out" | cut -d'"' -f4)
    diag_own[$label]=$(grep '^  "duration_ms"' <<<"$out" | grep -oE '[0-9.]+' || true)
    diag_samples[$label]=$(grep -oE '"summary": "10\.0\.1\.175:80: [0-9]+/[0-9]+ answered' <<<"$out" | grep -oE '[0-9]+/[0-9]+' || true)
done
inpod 900 "$work/benchrun" "$diag_runs" 3 "${diag_specs[@]}" >"$work/diag.tsv"

# ------------------------------------------------------------------ serve under load
mkdir -p "$work/www" "$work/load"
body=svcprobe-bench
echo "$body" >"$work/www/index.html" # busybox httpd serves the same 15 bytes as `serve --body`
servers=(
    "svcprobe serve|127.0.0.1:18080|$svcprobe serve --listen 127.0.0.1:18080 --body $body"
    "busybox httpd -f|127.0.0.1:18081|$busybox httpd -f -p 127.0.0.1:18081 -h $work/www"
)
# shellcheck disable=SC2086 # wrk_args is meant to be split
inpod 900 "$work/benchrun" load "$wrk_rounds" "$work/load" "${servers[@]}" -- \
    timeout 60 wrk $wrk_args --latency '{url}' >"$work/load.tsv"

# ------------------------------------------------------------------ diagnose, black-holed
testbed break kube-proxy-down >/dev/null
mkdir -p "$work/blackhole"
BENCHRUN_OUT=$work/blackhole inpod 120 "$work/benchrun" 1 0 "${diag_specs[@]}" >"$work/blackhole.tsv"
testbed fix kube-proxy-down >/dev/null

# ------------------------------------------------------------------ report
size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
echo "# svcprobe benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo "versions: $("$svcprobe" --version) ($origin), $(rustc --version | cut -d' ' -f1-2)," \
    "$("$busybox" | head -1 | cut -d' ' -f1-2), $(dig -v 2>&1 | cut -d' ' -f1-2), $(/usr/sbin/named -v | cut -d' ' -f1-2)," \
    "$(curl --version | head -1 | cut -d' ' -f1-2), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo
echo "## Binary size (stripped)"
printf '%-34s %12s %14s\n' binary bytes "gzip -9 bytes"
printf '%-34s %12s %14s\n' "svcprobe (musl, static)" "$(size "$svcprobe")" "$(gz "$svcprobe")"
printf '%-34s %12s %14s\n' "busybox-static ($busybox)" "$(size "$busybox")" "$(gz "$busybox")"
echo
echo "## DNS lookups from the client pod to BIND at 10.0.0.10 ($runs interleaved rounds, $warmup warm-up)"
echo "NAME = $fqdn; resolv.conf: search default.svc.cluster.local svc.cluster.local cluster.local, ndots:5"
printf '%-42s %7s %5s %9s %9s %9s %9s %9s\n' command queries exit "med ms" "min ms" "p90 ms" "med KiB" "max KiB"
while IFS=$'\t' read -r label codes med min p90 rss_med rss_max _; do
    printf '%-42s %7s %5s %9s %9s %9s %9s %9s\n' "$label" "${queries[$label]}" "$codes" \
        "$med" "$min" "$p90" "$rss_med" "$rss_max"
done <"$work/results.tsv"
echo
echo "## HTTP probes from the client pod: $probes sequential GETs of $url, a new connection each" \
    "($http_runs interleaved rounds, 3 warm-up)"
echo "backends: svcprobe serve in 3 pods; svcprobe saw $svcprobe_backends distinct backends;" \
    "curl: $curl_ok/$probes transfers answered 200 on a new connection (%{num_connects})"
echo "total = one run of $probes probes, spawn to reap; per probe = total med / $probes;" \
    "req med = median of one request: svcprobe's total_ms and curl's time_total (one extra run each), else one spawn"
printf '%-42s %5s %9s %9s %9s %9s %9s %9s\n' command exit "total ms" "min ms" "p90 ms" "per probe" "req med" "max KiB"
declare -A one all
while IFS=$'\t' read -r label codes med min p90 _ rss_max spawn; do
    case $label in
    *" 1") one[svcprobe]=$med ;;
    *" 1 URL") one[curl]=$med ;;
    *"(1 process)") all[${label%%[ ,]*}]=$med ;;
    esac
    case $label in
    *"(1 process)") [[ $label == svcprobe* ]] && req=$svcprobe_req || req=$curl_req ;;
    *" 1" | *" 1 URL") req=- ;;
    *) req=$spawn ;;
    esac
    [[ $label == *" $probes"* ]] && n=$probes || n=1
    per=$(awk -v t="$med" -v n="$n" 'BEGIN { printf "%.3f", t / n }')
    printf '%-42s %5s %9s %9s %9s %9s %9s %9s\n' "$label" "$codes" "$med" "$min" "$p90" "$per" "$req" "$rss_max"
done <"$work/http.tsv"
for tool in svcprobe curl; do
    awk -v t="$tool" -v a="${all[$tool]}" -v o="${one[$tool]}" -v n="$probes" \
        'BEGIN { printf "%s: marginal cost of one probe (total of %d - total of 1) / %d = %.3f ms\n", t, n, n - 1, (a - o) / (n - 1) }'
done
echo
echo "## serve under load: wrk $wrk_args --latency on 127.0.0.1 in the client pod's netns," \
    "$wrk_rounds interleaved runs per server; body \"$body\\n\" from both"
echo "req/s and latencies: median of the runs (wrk's avg, 50% and 99% latency); errors: socket errors + non-2xx, all runs;"
echo "RSS of the server process: VmHWM after the load, largest VmRSS sampled every 20 ms, ru_maxrss at SIGTERM (incl. reaped children)"
printf '%-20s %9s %9s %9s %8s %8s %8s %9s %6s %7s %7s %9s %4s\n' server "req/s" "min" "max" "avg ms" \
    "p50 ms" "p99 ms" requests errors "VmHWM" "VmRSS" "ru_maxrss" exit
i=0
while IFS=$'\t' read -r label hwm peak maxrss code load_codes; do
    [[ $load_codes =~ ^0(,0)*$ ]] || die "wrk against $label exited with $load_codes: $(cat "$work/load/$i.0.txt")"
    for round in $(seq 0 $((wrk_rounds - 1))); do
        awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
            $1 == "Latency" && $2 ~ /^[0-9]/ { avg = ms($2) } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
            $2 == "requests" && $3 == "in" { n = $1 } $1 == "Requests/sec:" { rps = $2 }
            /Socket errors/ { gsub(",", ""); err += $4 + $6 + $8 + $10 } /Non-2xx/ { err += $5 }
            END { print rps, avg, p50, p99, n, err + 0 }' "$work/load/$i.$round.txt"
    done >"$work/load/$i.parsed"
    col() { awk -v c="$1" '{ print $c }' "$work/load/$i.parsed"; }
    printf '%-20s %9.0f %9.0f %9.0f %8s %8s %8s %9s %6s %7s %7s %9s %4s\n' "$label" "$(col 1 | median)" \
        "$(col 1 | sort -g | head -1)" "$(col 1 | sort -g | tail -1)" "$(col 2 | median)" "$(col 3 | median)" \
        "$(col 4 | median)" "$(col 5 | awk '{ s += $1 } END { print s }')" "$(col 6 | awk '{ s += $1 } END { print s }')" \
        "$hwm" "$peak" "$maxrss" "$code"
    i=$((i + 1))
done <"$work/load.tsv"
serve_report=$(tr -d ' \n' <"$work/load/0.server.txt" | grep -oE '"connections":[0-9]+,"requests":[0-9]+,"error_responses":[0-9]+' || true)
echo "svcprobe serve's own report: ${serve_report:-none}"
echo
echo "## diagnose from the client pod, healthy bed ($diag_runs interleaved rounds, 3 warm-up; FILE = tests/fixtures/objects/hostnames.json)"
echo "own ms = the report's duration_ms, samples = its cluster-ip check, from one extra run"
printf '%-42s %5s %9s %9s %9s %9s %9s %8s %8s\n' command exit "med ms" "min ms" "p90 ms" "max KiB" "own ms" samples verdict
while IFS=$'\t' read -r label codes med min p90 _ rss_max _; do
    printf '%-42s %5s %9s %9s %9s %9s %9s %8s %8s\n' "$label" "$codes" "$med" "$min" "$p90" "$rss_max" \
        "${diag_own[$label]}" "${diag_samples[$label]}" "${diag_verdict[$label]}"
done <"$work/diag.tsv"
echo
echo "## diagnose from the client pod, black-holed (switch kube-proxy-down: no ClusterIP answers, DNS included), one run each"
printf '%-42s %5s %9s %9s %11s  %s\n' command exit "wall ms" "own ms" "deadline ms" verdict
i=0
while IFS=$'\t' read -r label codes med _; do
    out=$work/blackhole/$i.out
    printf '%-42s %5s %9s %9s %11s  %s\n' "$label" "$codes" "$med" \
        "$(grep '^  "duration_ms"' "$out" | grep -oE '[0-9.]+' || echo '?')" \
        "$(grep -o '"deadline_ms": [0-9]*' "$out" | tail -1 | grep -o '[0-9]*$' || echo '?')" \
        "$(grep -o '"cause": "[a-z-]*"' "$out" | cut -d'"' -f4 || echo '?')"
    i=$((i + 1))
done <"$work/blackhole.tsv"
