#!/usr/bin/env bash
# svcprobe's benchmark, in one run: the size of the static binary next to busybox-static's, and the wall
# time and peak RSS of `svcprobe nslookup` against `busybox nslookup` and `dig` asking the same server (BIND
# in the test bed, 10.0.0.10) from the test bed's client pod. Results go in BENCHMARKS.md by hand.
#
# USAGE
#   scripts/bench.sh            builds the release musl binary, brings up a test bed (prefix "bench"),
#                               measures, prints a table, and takes the bed down again
#   Environment: BENCH_RUNS (default 100 rounds), BENCH_WARMUP (default 5), BENCH_PREFIX (default bench),
#   SVCPROBE (a binary to measure instead of building one).
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
#   Needs root and the packages of scripts/deps.sh.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export PATH="$HOME/.cargo/bin:$PATH"
runs=${BENCH_RUNS:-100}
warmup=${BENCH_WARMUP:-5}
prefix=${BENCH_PREFIX:-bench}
target=x86_64-unknown-linux-musl
busybox=/bin/busybox

die() {
    echo "bench.sh: $*" >&2
    exit 1
}
[[ $(id -u) == 0 ]] || die "must run as root (the test bed uses network namespaces)"
[[ -x $busybox ]] || die "$busybox missing (package busybox-static; run scripts/deps.sh)"

if [[ -z ${SVCPROBE:-} ]]; then
    cargo build --quiet --locked --release --target "$target"
    SVCPROBE=$repo/target/$target/release/svcprobe
    origin="commit $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')"
else
    origin=$SVCPROBE
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/svcprobe-bench.XXXXXX")
testbed() { "$repo/scripts/testbed.sh" -p "$prefix" "$@"; }
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
// benchrun ROUNDS WARMUP 'label|cmd arg...'...: interleaved runs, one TSV line per command:
// label, exit codes seen, wall median/min/p90 in milliseconds, peak RSS median/max in KiB.
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

#[repr(C)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

/// Runs argv once; returns (exit code or 128+signal, wall microseconds, peak RSS KiB).
fn once(argv: &[String]) -> (i32, u128, i64) {
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // A pre_exec hook makes std fork instead of posix_spawn: with vfork's shared memory the kernel
    // records this process's RSS as the child's peak when the child execs.
    unsafe { command.pre_exec(|| Ok(())) };
    let start = Instant::now();
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", argv[0]));
    let mut status = 0;
    let mut usage = Rusage { utime: [0; 2], stime: [0; 2], maxrss: 0, rest: [0; 13] };
    // Reaped here rather than by Child::wait, which cannot report rusage.
    let pid = unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_micros();
    assert!(pid > 0, "wait4 failed");
    let code = if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) };
    (code, wall, usage.maxrss)
}

fn ms(us: u128) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn pick<T: Copy + Ord>(sorted: &[T], fraction: f64) -> T {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args[0].parse().expect("ROUNDS");
    let warmup: usize = args[1].parse().expect("WARMUP");
    let specs: Vec<(String, Vec<String>)> = args[2..]
        .iter()
        .map(|s| {
            let (label, cmd) = s.split_once('|').expect("label|cmd");
            (label.to_string(), cmd.split_whitespace().map(String::from).collect())
        })
        .collect();
    let n = specs.len();
    let mut results: Vec<Vec<(i32, u128, i64)>> = vec![Vec::new(); n];
    for round in 0..warmup + rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let r = once(&specs[i].1);
            if round >= warmup {
                results[i].push(r);
            }
        }
    }
    for (i, (label, _)) in specs.iter().enumerate() {
        let mut codes: Vec<i32> = results[i].iter().map(|r| r.0).collect();
        codes.sort();
        codes.dedup();
        let mut wall: Vec<u128> = results[i].iter().map(|r| r.1).collect();
        wall.sort();
        let mut rss: Vec<i64> = results[i].iter().map(|r| r.2).collect();
        rss.sort();
        let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
        println!(
            "{label}\t{}\t{}\t{}\t{}\t{}\t{}",
            codes.join(","),
            ms(pick(&wall, 0.5)),
            ms(wall[0]),
            ms(pick(&wall, 0.9)),
            pick(&rss, 0.5),
            rss[rss.len() - 1]
        );
    }
}
RUST
static=(--target "$target" -C relocation-model=static -C opt-level=2)
rustc --edition 2021 "${static[@]}" -o "$work/benchrun" "$work/benchrun.rs"
echo 'fn main() {}' >"$work/empty.rs"
rustc --edition 2021 "${static[@]}" -C panic=abort -o "$work/empty" "$work/empty.rs"

testbed up >/dev/null

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
    out=$(testbed exec client -- "${argv[@]}" 2>&1) || true
    queries[$label]=$(grep -c 'query:' "$querylog" || true)
    if [[ $label != *start-up* && $label != *floor* && $out != *10.0.1.175* ]]; then
        die "'$label' did not resolve to 10.0.1.175:"$'\n'"$out"
    fi
done

testbed exec client -- "$work/benchrun" "$runs" "$warmup" "${specs[@]}" >"$work/results.tsv"

size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
echo "# svcprobe benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo "versions: $("$svcprobe" --version) ($origin), $(rustc --version | cut -d' ' -f1-2)," \
    "$("$busybox" | head -1 | cut -d' ' -f1-2), $(dig -v 2>&1 | cut -d' ' -f1-2), $(/usr/sbin/named -v | cut -d' ' -f1-2)"
echo
echo "## Binary size (stripped)"
printf '%-34s %12s %14s\n' binary bytes "gzip -9 bytes"
printf '%-34s %12s %14s\n' "svcprobe (musl, static)" "$(size "$svcprobe")" "$(gz "$svcprobe")"
printf '%-34s %12s %14s\n' "busybox-static ($busybox)" "$(size "$busybox")" "$(gz "$busybox")"
echo
echo "## DNS lookups from the client pod to BIND at 10.0.0.10 ($runs interleaved rounds, $warmup warm-up)"
echo "NAME = $fqdn; resolv.conf: search default.svc.cluster.local svc.cluster.local cluster.local, ndots:5"
printf '%-42s %7s %5s %9s %9s %9s %9s %9s\n' command queries exit "med ms" "min ms" "p90 ms" "med KiB" "max KiB"
while IFS=$'\t' read -r label codes med min p90 rss_med rss_max; do
    printf '%-42s %7s %5s %9s %9s %9s %9s %9s\n' "$label" "${queries[$label]}" "$codes" \
        "$med" "$min" "$p90" "$rss_med" "$rss_max"
done <"$work/results.tsv"
