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
#      kube-proxy-down), wall time (issue 5);
#   6. `svcprobe exporter` against Debian's blackbox_exporter under `wrk` load on `/probe` (module
#      tcp_connect, target the hostnames ClusterIP), inside the client pod: within the exporter's probe
#      slots (8 connections) and as a scrape storm (64): requests/s, latency, 503s, peak RSS (issue 14).
# Results go in BENCHMARKS.md by hand.
#
# USAGE
#   scripts/bench.sh            builds the shipped binary (scripts/build.sh), brings up a test bed (prefix "bench") whose
#                               backends run `svcprobe serve`, measures, prints one table per section, and
#                               takes the bed down again (about a minute after the build)
#   Environment: BENCH_RUNS (default 100 rounds of nslookups), BENCH_WARMUP (default 5), BENCH_HTTP_RUNS
#   (default 30 rounds of 100 HTTP probes), BENCH_DIAG_RUNS (default 30 rounds of diagnose),
#   BENCH_WRK_ROUNDS (default 3 wrk runs per server), BENCH_WRK_ARGS (default "-t2 -c64 -d5s"),
#   BENCH_PREFIX (default bench), SVCPROBE (a binary to measure instead of building one).
#
# HOW IT MEASURES
#   A small helper (bench/, the workspace member `benchrun`) runs inside the pod, so every command is a
#   direct child of one process in the pod's namespaces: no shell and no `ip netns exec` per run. Rounds are interleaved (each round runs every command once, starting at a rotating position), so
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
for tool in curl wrk timeout dig prometheus-blackbox-exporter; do
    command -v "$tool" >/dev/null || die "$tool missing (run scripts/deps.sh)"
done

if [[ -z ${SVCPROBE:-} ]]; then
    SVCPROBE=$("$repo/scripts/build.sh")
    origin="commit $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'), scripts/build.sh"
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

# The runner (bench/, a workspace member) and the empty program of the floor row: static musl, stable.
cargo build --quiet --locked --release --target "$target" -p benchrun
cp "$repo/target/$target/release/benchrun" "$repo/target/$target/release/empty" "$work/"

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
body="svcprobe-bench"
echo "$body" >"$work/www/index.html" # busybox httpd serves the same 15 bytes as `serve --body`
servers=(
    "svcprobe serve|127.0.0.1:18080|$svcprobe serve --listen 127.0.0.1:18080 --body $body"
    "busybox httpd -f|127.0.0.1:18081|$busybox httpd -f -p 127.0.0.1:18081 -h $work/www"
)
# shellcheck disable=SC2086 # wrk_args is meant to be split
inpod 900 "$work/benchrun" load "$wrk_rounds" "$work/load" "${servers[@]}" -- \
    timeout 60 wrk $wrk_args --latency '{url}' >"$work/load.tsv"

# ------------------------------------------------------------------ exporter /probe under load
printf 'modules:\n  tcp_connect:\n    prober: tcp\n' >"$work/blackbox.yml"
probe_path="probe?target=10.0.1.175:80&module=tcp_connect"
exporters=(
    "svcprobe exporter|127.0.0.1:19115|$svcprobe exporter --listen 127.0.0.1:19115"
    "blackbox_exporter|127.0.0.1:19116|$(command -v prometheus-blackbox-exporter) --config.file=$work/blackbox.yml --web.listen-address=127.0.0.1:19116"
)
exporter_conns=(8 64)
for conns in "${exporter_conns[@]}"; do
    mkdir -p "$work/exporter$conns"
    inpod 900 "$work/benchrun" load "$wrk_rounds" "$work/exporter$conns" "${exporters[@]}" -- \
        timeout 60 wrk -t2 -c"$conns" -d5s --latency "{url}$probe_path" >"$work/exporter$conns.tsv"
done

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
echo "versions: $("$svcprobe" --version) ($origin), $(cd "$repo/ship" && rustc --version | cut -d' ' -f1-2)," \
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
    "$wrk_rounds interleaved runs per server; body \"$body\" and a newline from both"
echo "req/s and latencies: median of the runs (wrk's avg, 50% and 99% latency); errors: socket errors + non-2xx, all runs;"
echo "RSS of the server process: VmHWM after the load, largest VmRSS sampled every 20 ms, ru_maxrss at SIGTERM (incl. reaped children)"
# load_table DIR TSV: one row per server of a `benchrun load` run.
load_table() {
printf '%-20s %9s %9s %9s %8s %8s %8s %9s %6s %7s %7s %9s %4s\n' server "req/s" "min" "max" "avg ms" \
    "p50 ms" "p99 ms" requests errors "VmHWM" "VmRSS" "ru_maxrss" exit
local i=0 dir=$1
while IFS=$'\t' read -r label hwm peak maxrss code load_codes; do
    [[ $load_codes =~ ^0(,0)*$ ]] || die "wrk against $label exited with $load_codes: $(cat "$dir/$i.0.txt")"
    for round in $(seq 0 $((wrk_rounds - 1))); do
        awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
            $1 == "Latency" && $2 ~ /^[0-9]/ { avg = ms($2) } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
            $2 == "requests" && $3 == "in" { n = $1 } $1 == "Requests/sec:" { rps = $2 }
            /Socket errors/ { gsub(",", ""); err += $4 + $6 + $8 + $10 } /Non-2xx/ { err += $5 }
            END { print rps, avg, p50, p99, n, err + 0 }' "$dir/$i.$round.txt"
    done >"$dir/$i.parsed"
    col() { awk -v c="$1" '{ print $c }' "$dir/$i.parsed"; }
    printf '%-20s %9.0f %9.0f %9.0f %8s %8s %8s %9s %6s %7s %7s %9s %4s\n' "$label" "$(col 1 | median)" \
        "$(col 1 | sort -g | head -1)" "$(col 1 | sort -g | tail -1)" "$(col 2 | median)" "$(col 3 | median)" \
        "$(col 4 | median)" "$(col 5 | awk '{ s += $1 } END { print s }')" "$(col 6 | awk '{ s += $1 } END { print s }')" \
        "$hwm" "$peak" "$maxrss" "$code"
    i=$((i + 1))
done <"$2"
}
load_table "$work/load" "$work/load.tsv"
serve_report=$(tr -d ' \n' <"$work/load/0.server.txt" | grep -oE '"connections":[0-9]+,"requests":[0-9]+,"error_responses":[0-9]+' || true)
echo "svcprobe serve's own report: ${serve_report:-none}"
for conns in "${exporter_conns[@]}"; do
    echo
    echo "## exporter /probe under load: wrk -t2 -c$conns -d5s --latency on http://127.0.0.1:PORT/$probe_path" \
        "in the client pod's netns, $wrk_rounds interleaved runs per exporter; each request is one TCP connect" \
        "to the ClusterIP (through kube-proxy's rules to the 3 backends)"
    echo "errors: socket errors + non-2xx (svcprobe: 503 past its 8 probe slots; blackbox_exporter has no limit)"
    load_table "$work/exporter$conns" "$work/exporter$conns.tsv"
    exporter_report=$(tr -d ' \n' <"$work/exporter$conns/0.server.txt" |
        grep -oE '"probes":[0-9]+,"probe_errors":[0-9]+,"probes_dropped":[0-9]+' || true)
    echo "svcprobe exporter's own report: ${exporter_report:-none}"
done
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
